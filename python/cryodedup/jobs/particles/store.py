"""The particle job's ``--update`` store: the kept particles by micrograph, and every file the rounds wrote.

``OUTDIR/kept_store/store.sqlite`` (``store_db.py``: SQLite, a rollback journal, one
transaction a round) holds, for each round: the centres (Å) and scores of the particles it
kept, a row per micrograph (``kept``; ``micrographs`` names them, each with how many rounds
kept particles there); the round's files, compressed, with their sizes and SHA-256
(``files``); how the round changed the running kept file (``running``: the file cut at
``cut`` and ``data`` written there, a numpy header written over its start, or the file
written whole; its size and digests after); the batch's digest and whether its files were all
put in place (``rounds``: a second, small transaction marks it). The decision's options,
score, kind and (of STAR) the running file's header are in ``meta``.

A round writes its files under temporary names, commits the round in one transaction, changes
the running file and renames its files. A stop or an error before the commit leaves the store
as it was (the temporary files go); after it, the next run puts the last round's files in
place from the store where they are missing or differ (:meth:`KeptStore.finish_round`), byte
for byte; the same batch given again adds no round (``update.py``).

What a round checks: SQLite's ``quick_check`` of the small tables (every table while the
store is small), a CRC-32 in each micrograph's and kept row it reads (and that a micrograph's
rows are all there), the running file's size, its last change's bytes and its header against
the store, and its middle by its stamp as the last round left it (``meta``'s ``running_stamp``;
a file of another stamp is compared whole with the store's rounds). A running file changed by
hand is refused in one line, as is a damaged store: both name ``--update --force``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..._core import __version__
from ...errors import CryodedupError, OutputError
from ..store_db import (
    DAMAGE,
    DATABASE,
    Stamp,
    StoreError,
    busy,
    connect,
    copy_tail,
    file_digest,
    first_changed,
    is_busy,
    pack,
    pack_bytes,
    place_file,
    quick_check,
    reason,
    refuse,
    remove_unborn,
    same_bytes,
    same_file,
    settled_stamp,
    sha256_bytes,
    stat_stamp,
    transaction,
    typed,
    unpack,
)
from .plan import DECISION_OPTIONS  # (the options a round's record names: the plan's)

__all__ = [
    "CHECK_WHOLE_BYTES",
    "DATABASE",
    "EARLIER",
    "EARLIER_PATTERNS",
    "FORMAT",
    "KINDS",
    "RUNNING",
    "RUNNING_FILES",
    "SMALL_TABLES",
    "STORE",
    "DecisionRecord",
    "KeptRows",
    "KeptStore",
    "RunningChange",
    "RunningState",
    "StarHeader",
    "changed_running",
    "decision_record",
    "kept_crc",
    "mic_crc",
    "refuse_folder",
]

STORE = "kept_store"
RUNNING = "particles_kept.star"
#: The running kept file of each kind of input (the store's ``kind``): RELION STAR, CryoSPARC .cs.
RUNNING_FILES = {"star": RUNNING, "cs": "particles_kept.cs"}
KINDS = {"star": "RELION particle STAR", "cs": "CryoSPARC .cs"}
FORMAT = "cryodedup particle update store 3"
#: What an earlier cryodedup's store left in the folder (format 2): refused, removed by --force.
EARLIER = ("store.json",)
EARLIER_PATTERNS = ("kept-*.npy", "index-*.npy", "running-*.cs", ".*.tmp")
#: The bytes before a cut whose SHA-256 the store keeps: a running file cut there is one it knows.
CUT_BYTES = 4096
#: A store up to this size is checked whole by SQLite each round (a larger one: its small tables).
CHECK_WHOLE_BYTES = 4 << 20
#: Names looked up in one query (SQLite's limit on a statement's parameters is higher).
CHUNK = 500
#: The ``meta`` key of the ``--overrides`` file a round used (JSON: ``file``, ``sha256``, ``applied``), by round.
OVERRIDES_KEY = "overrides_round_{:04d}"

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE rounds(round INTEGER PRIMARY KEY, batch TEXT NOT NULL, kept INTEGER NOT NULL, placed INTEGER NOT NULL);
CREATE TABLE micrographs(id INTEGER PRIMARY KEY, name BLOB NOT NULL UNIQUE, pieces INTEGER NOT NULL,
    crc INTEGER NOT NULL);
CREATE TABLE kept(mic INTEGER NOT NULL, round INTEGER NOT NULL, rows BLOB NOT NULL, crc INTEGER NOT NULL,
    PRIMARY KEY(mic, round)) WITHOUT ROWID;
CREATE TABLE files(round INTEGER NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
    data BLOB NOT NULL, PRIMARY KEY(round, name));
CREATE TABLE running(round INTEGER PRIMARY KEY, whole INTEGER NOT NULL, cut INTEGER NOT NULL,
    cut_sha256 TEXT NOT NULL, head BLOB NOT NULL, data BLOB NOT NULL, source TEXT, source_start INTEGER,
    size INTEGER NOT NULL, piece_sha256 TEXT NOT NULL, head_bytes INTEGER NOT NULL, head_sha256 TEXT NOT NULL);
"""
#: The small tables SQLite checks each round (the others' rows carry a CRC-32, or their files' digests).
SMALL_TABLES = ("meta", "rounds", "micrographs")


@dataclass(frozen=True)
class DecisionRecord:
    """What a store's decisions depend on (``meta``'s ``record``), and its files' kind (``star``, ``cs``)."""

    #: The decision's options (:data:`DECISION_OPTIONS`) by name, as JSON holds them.
    options: dict[str, Any]
    score: str | None
    higher_is_better: bool
    dims: int
    kind: str

    def to_json(self) -> str:
        """As the store keeps it: a JSON object of the fields, in their order."""
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_json(cls, text: str | None) -> DecisionRecord:
        """The record a store kept (:class:`StoreError` when it is not one this cryodedup wrote)."""
        record = typed(cls, json.loads(text)) if text is not None else None
        if record is None or not _known_options(record.options) or record.kind not in RUNNING_FILES:
            raise StoreError("its meta table is damaged (the decision's record)")
        return record


def _known_options(options: object) -> bool:
    """Whether a stored record's options are the decision's (as JSON read them: of any type until checked)."""
    # (--select greedy is left out of a record: stores made before --select read as greedy)
    known = (set(DECISION_OPTIONS), set(DECISION_OPTIONS) - {"select"})
    return isinstance(options, dict) and set(options) in known


@dataclass(frozen=True)
class StarHeader:
    """A STAR store's running file: its header's SHA-256 and the text after its rows (hex), as ``meta`` keeps them."""

    prefix_sha256: str
    suffix: str

    def to_json(self) -> str:
        """As the store keeps it: a JSON object of the fields, in their order."""
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_json(cls, text: str | None) -> StarHeader | None:
        """The header a store kept (None: a .cs store's); :class:`StoreError` when it is not one."""
        document = json.loads(text) if text is not None else {}
        header = typed(cls, document) if document is not None else None
        if document is not None and header is None:
            raise StoreError("its meta table is damaged (the decision's record)")
        return header


def decision_record(
    decided_by: dict[str, Any], score_label: str | None, higher: bool, dims: int, kind: str
) -> DecisionRecord:
    """What the store's decisions depend on, and its files' kind (``star``, ``cs``).

    ``decided_by``: the values of the options of :data:`DECISION_OPTIONS`, by name (the plan's
    ``RoundPlan.decided_by``).
    """
    # (--select greedy, the default, is left out: the stores made before --select existed read as greedy)
    chosen = {name: value for name, value in decided_by.items() if (name, value) != ("select", "greedy")}
    # (the options as JSON reads them back: a stored record and this one compare alike)
    return DecisionRecord(json.loads(json.dumps(chosen)), score_label, bool(higher), int(dims), kind)


@dataclass
class KeptRows:
    """A round's kept particles: each one's micrograph (``groups`` into ``mic_names``), centre (Å) and score."""

    groups: np.ndarray
    mic_names: list[str]
    centres: np.ndarray
    scores: np.ndarray


@dataclass
class RunningChange:
    """How a round changes the running file: cut at ``cut``, ``data`` written there, ``head`` over its start.

    ``whole``: the file written anew (``data`` is all of it). ``source`` (a round file's name and
    a start): the data are that file's bytes from there on (a STAR round's kept rows and the text
    after them), not kept twice. ``head_bytes`` and ``head_sha256``: the file's first bytes after.
    """

    whole: bool
    cut: int
    data: bytes
    head: bytes = b""
    head_bytes: int = 0
    head_sha256: str = ""
    source: tuple[str, int] | None = None


@dataclass
class RunningState:
    """What the running file is once a round changed it: its size, the last change's digests, its header's."""

    round: int
    cut: int
    cut_sha256: str
    size: int
    piece_sha256: str
    head_bytes: int
    head_sha256: str

    def problem(self, path: Path) -> str | None:
        """None when ``path`` is the file this state says, else what differs (a phrase)."""
        try:
            info = os.lstat(path)
        except OSError as err:
            return f"cannot be read ({err.strerror})"
        if not stat.S_ISREG(info.st_mode):
            return "not a file"
        if info.st_size != self.size:
            return f"{info.st_size:,} bytes where the store's last round left {self.size:,}"
        if file_digest(path, self.cut, self.size) != self.piece_sha256:
            return "its last bytes are not those the store's last round wrote"
        if file_digest(path, 0, self.head_bytes) != self.head_sha256:
            return "its header is not the one the store's rounds wrote"
        return None

    def cut_here(self, path: Path) -> bool:
        """Whether ``path`` still holds, before this state's cut, what the round before left there."""
        if not self.cut_sha256:  # (a file written whole: no cut)
            return False
        start = max(self.head_bytes, self.cut - CUT_BYTES)
        try:
            info = os.lstat(path)
        except OSError:
            return False
        if info.st_size < self.cut or not stat.S_ISREG(info.st_mode):
            return False
        return file_digest(path, start, self.cut) == self.cut_sha256


@dataclass
class KeptStore:
    """The kept particles of earlier rounds, by micrograph (``kept_store/store.sqlite``), and their files."""

    folder: Path
    kind: str = "star"
    db: sqlite3.Connection | None = None
    record: DecisionRecord | None = None
    #: The running STAR file's header's SHA-256 and the text after its rows (a .cs: None).
    star_header: StarHeader | None = None
    round: int = 0
    kept: int = 0
    running: RunningState | None = None
    #: The last round's batch digest, and whether its files were all put in place.
    last_batch: str = ""
    last_placed: bool = True
    #: The running file's stamp once a round left it (None: unknown).
    running_stamp: Stamp | None = None

    @property
    def outdir(self) -> Path:
        """The output folder the store is in."""
        return self.folder.parent

    @property
    def running_path(self) -> Path:
        """The running kept file, beside the store."""
        return self.outdir / RUNNING_FILES[self.kind]

    def check_record(self, record: DecisionRecord) -> None:
        """Refuses a round whose decision options, score or dimensions differ from the store's, naming the option."""
        stored = self.record
        if stored is None:
            return
        changed = first_changed(DECISION_OPTIONS, record.options, stored.options)
        if changed:
            flag, now, was = (v if v is not None else "default" for v in changed)
            raise CryodedupError(
                f"{self.folder / DATABASE}: {flag} {now} here, {was} in the store's rounds: an --update round decides "
                f"as the earlier ones did; give {flag} {was}, or another output folder for a new set"
            )
        ranked = (
            ("ranked by", record.score, stored.score),
            ("higher scores first", record.higher_is_better, stored.higher_is_better),
            ("dimensions", record.dims, stored.dims),
        )
        for what, now, was in ranked:
            if now != was:
                raise CryodedupError(
                    f"{self.folder / DATABASE}: these particles have {what} {now}, the store's rounds "
                    f"{was}: an --update round ranks as the earlier ones did"
                )

    # --- reading ---

    def rows_on(self, names: list[str], skip: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The kept particles on the micrographs ``names``: (index into ``names``, centres, scores).

        Not those round ``skip`` kept (a round done again). Each row's CRC-32 is checked, and
        that every round a micrograph has rows of is found.
        """
        dims = 2 if self.record is None else int(self.record.dims)
        none = np.zeros(0, np.int64), np.zeros((0, dims)), np.zeros(0)
        if self.db is None or not names:
            return none
        try:
            found = list(self._kept_rows(names, dims, skip))
        except (StoreError, *DAMAGE) as err:
            raise self.damaged(err) from None
        if not found:
            return none
        found.sort(key=lambda item: (item[0], item[1]))
        rows = np.concatenate([item[2] for item in found])
        which = np.repeat([item[0] for item in found], [len(item[2]) for item in found]).astype(np.int64)
        return which, rows[:, :dims], rows[:, dims]

    def _kept_rows(self, names: list[str], dims: int, skip: int) -> Iterator[tuple[int, int, np.ndarray]]:
        """(the name's index, the round, its rows) of each round's kept particles on ``names``."""
        assert self.db is not None
        position = {_encoded(name): k for k, name in enumerate(names)}
        mics = self._micrographs(list(position), self.db)
        ids = {mic_id: (position[name], pieces) for name, (mic_id, pieces) in mics.items()}
        seen = dict.fromkeys(ids, 0)
        for chunk in _chunks(list(ids)):
            query = f"SELECT mic, round, rows, crc FROM kept WHERE mic IN ({','.join('?' * len(chunk))})"
            for mic, round_, data, crc in self.db.execute(query, chunk):
                if kept_crc(mic, round_, data) != crc or len(data) % (8 * (dims + 1)):
                    raise StoreError(f"the kept particles of round {round_} on a micrograph are damaged (CRC-32)")
                seen[mic] += 1
                if round_ != skip:
                    yield ids[mic][0], round_, np.frombuffer(data, "<f8").reshape(-1, dims + 1)
        for mic, count in seen.items():
            if count != ids[mic][1]:
                raise StoreError(f"a micrograph's kept particles: {count} rounds found of {ids[mic][1]} (damaged)")

    def _micrographs(self, names: list[bytes], db: sqlite3.Connection) -> dict[bytes, tuple[int, int]]:
        """{name: (id, rounds with kept particles there)} of the ``names`` the store holds (CRC-32 checked)."""
        found = {}
        for chunk in _chunks(names):
            query = f"SELECT id, name, pieces, crc FROM micrographs WHERE name IN ({','.join('?' * len(chunk))})"
            for mic_id, name, pieces, crc in db.execute(query, chunk):
                if not isinstance(name, bytes) or mic_crc(mic_id, name, pieces) != crc:
                    raise StoreError("a micrograph's row is damaged (CRC-32)")
                found[name] = (mic_id, pieces)
        return found

    def damaged(self, what: str | BaseException) -> CryodedupError:
        """The one line of this store damaged (``what``; an error: :func:`.store_db.refuse`'s)."""
        return refuse(self.folder / DATABASE, what)

    # --- writing a round ---

    def next_round(self) -> int:
        """The number of the round to write."""
        return self.round + 1

    def round_kept(self) -> int:
        """How many particles the last round kept."""
        assert self.db is not None
        return int(self.db.execute("SELECT kept FROM rounds WHERE round = ?", (self.round,)).fetchone()[0])

    def overrides_of(self, round_: int) -> dict[str, Any] | None:
        """The ``--overrides`` file round ``round_`` used (``file``, ``sha256``, ``applied``); None: none."""
        if self.db is None:
            return None
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (OVERRIDES_KEY.format(round_),)).fetchone()
        return None if row is None else json.loads(row[0])

    def commit(
        self,
        round_: int,
        batch: str,
        record: DecisionRecord,
        kept: KeptRows,
        files: dict[str, Path],
        change: RunningChange,
        star_header: StarHeader | None,
        overrides: str | None = None,
    ) -> None:
        """Adds round ``round_`` to the store in one transaction.

        Its kept rows, its ``files`` (written, by name in the output folder) and the running
        file's ``change``; ``overrides``: the ``--overrides`` file the round used, as JSON (its
        ``meta`` key :data:`OVERRIDES_KEY`). Refuses a round another one overtook.
        """
        state = self._state_after(round_, change)
        try:
            packed = {name: pack(path) for name, path in files.items()}
            self.folder.mkdir(exist_ok=True)
            db = self.db or connect(self.folder / DATABASE, create=True)
            with self._unmade_if_refused(db), transaction(db):
                self._refuse_another_round(db)
                if self.db is None:
                    for statement in SCHEMA.split(";"):
                        db.execute(statement)
                    meta = {"format": FORMAT, "version": __version__, "record": record.to_json(), "kind": self.kind}
                    meta["star_header"] = star_header.to_json() if star_header is not None else "null"
                    db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
                db.execute("INSERT INTO rounds VALUES (?, ?, ?, 0)", (round_, batch, len(kept.groups)))
                if overrides is not None:
                    db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (OVERRIDES_KEY.format(round_), overrides))
                db.executemany(
                    "INSERT INTO files VALUES (?, ?, ?, ?, ?)",
                    [(round_, name, size, sha, blob) for name, (blob, size, sha) in packed.items()],
                )
                self._insert_change(db, round_, change, state)
                self._insert_kept(db, round_, kept)
        except (OSError, sqlite3.Error, StoreError) as err:
            if is_busy(err):
                raise busy(self.folder / DATABASE) from None
            raise OutputError(
                f"{self.folder / DATABASE}: cannot write the --update store ({reason(err)}); nothing was added, the "
                "earlier rounds are as they were"
            ) from None
        self.db, self.record, self.round, self.kept = db, self.record or record, round_, self.kept + len(kept.groups)
        self.star_header = self.star_header or star_header
        self.running, self.last_batch, self.last_placed = state, batch, False

    @contextlib.contextmanager
    def _unmade_if_refused(self, db: sqlite3.Connection) -> Iterator[None]:
        """A first round's store removed when its transaction is refused: a refused run leaves no file behind.

        (Rolled back, the database it made holds nothing: before, a 0-byte store and its journal stayed.)
        """
        try:
            yield
        except BaseException:
            if self.db is None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
                remove_unborn(self.folder)
            raise

    def _refuse_another_round(self, db: sqlite3.Connection) -> None:
        """Refuses to commit when another round committed into the folder since this one read the store."""
        tables = db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'rounds'").fetchone()[0]
        last = db.execute("SELECT coalesce(max(round), 0) FROM rounds").fetchone()[0] if tables else 0
        if last != self.round or (self.db is None) == bool(tables):
            raise CryodedupError(
                f"{self.folder / DATABASE}: another --update round into {self.outdir} ended while this one ran, so "
                "this batch was decided without its kept particles; nothing was added: run this batch again"
            )

    def _state_after(self, round_: int, change: RunningChange) -> RunningState:
        """What the running file is once ``change`` is made (the digests of what it keeps before the cut)."""
        path = self.running_path
        if change.whole:
            head = change.data[:CUT_BYTES]
            size, piece, cut_sha = len(change.data), sha256_bytes(change.data), ""
            return RunningState(round_, 0, cut_sha, size, piece, len(head), sha256_bytes(head))
        size = change.cut + len(change.data)
        start = max(change.head_bytes, change.cut - CUT_BYTES)
        cut_sha = file_digest(path, start, change.cut) or ""
        return RunningState(
            round_, change.cut, cut_sha, size, sha256_bytes(change.data), change.head_bytes, change.head_sha256
        )

    def _insert_change(self, db: sqlite3.Connection, round_: int, change: RunningChange, state: RunningState) -> None:
        data = b"" if change.source else pack_bytes(change.data)
        source, start = change.source or (None, None)
        db.execute(
            "INSERT INTO running VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                round_,
                int(change.whole),
                state.cut,
                state.cut_sha256,
                change.head,
                data,
                source,
                start,
                state.size,
                state.piece_sha256,
                state.head_bytes,
                state.head_sha256,
            ),
        )

    def _insert_kept(self, db: sqlite3.Connection, round_: int, kept: KeptRows) -> None:
        """The round's kept rows, one row of the table per micrograph; the micrographs' rows added or counted up."""
        order = np.argsort(kept.groups, kind="stable")
        groups = kept.groups[order]
        rows = np.empty((len(order), kept.centres.shape[1] + 1), dtype="<f8")
        rows[:, :-1], rows[:, -1] = kept.centres[order], kept.scores[order]
        used, starts = np.unique(groups, return_index=True)
        names = [_encoded(kept.mic_names[g]) for g in used.tolist()]
        known = self._micrographs(names, db)
        next_id = db.execute("SELECT coalesce(max(id), 0) FROM micrographs").fetchone()[0] + 1
        mics, counted, added = [], [], []
        for name in names:
            if name in known:
                mic_id, pieces = known[name]
                counted.append((pieces + 1, mic_crc(mic_id, name, pieces + 1), mic_id))
            else:
                mic_id, next_id = next_id, next_id + 1
                added.append((mic_id, name, 1, mic_crc(mic_id, name, 1)))
            mics.append(mic_id)
        db.executemany("UPDATE micrographs SET pieces = ?, crc = ? WHERE id = ?", counted)
        db.executemany("INSERT INTO micrographs VALUES (?, ?, ?, ?)", added)
        bounds = [*starts.tolist(), len(groups)]
        blobs = [rows[a:b].tobytes() for a, b in zip(bounds[:-1], bounds[1:])]
        db.executemany(
            "INSERT INTO kept VALUES (?, ?, ?, ?)",
            [(mic, round_, data, kept_crc(mic, round_, data)) for mic, data in zip(mics, blobs)],
        )

    def apply(self, change: RunningChange, source: Path | None = None) -> None:
        """Makes the running file the one the last round committed.

        ``change`` is made where the file is still the one the round before left (else it is
        written whole from the store). ``source``: the file ``change.source`` names, when
        ``change.data`` is not at hand.
        """
        assert self.running is not None
        path = self.running_path
        if change.whole:
            place_file(path, change.data)
            return
        if not self.running.cut_here(path):
            self._rebuild_running()
            return
        with open(path, "r+b") as f:
            f.truncate(change.cut)
            f.seek(change.cut)
            if source is not None and change.source is not None:
                copy_tail(source, change.source[1], f)
            else:
                f.write(change.data)
            if change.head:  # (not synced: after a power cut the next run finds it short, and finishes it)
                f.seek(0)
                f.write(change.head)

    # --- putting a committed round's files in place again ---

    def mark_placed(self) -> None:
        """The last round's files are all in place (a small transaction).

        A round a stop left unmarked is finished by the next run; one marked is checked only for
        its running file (a change there is refused, not undone).
        """
        assert self.db is not None
        with transaction(self.db):
            self.db.execute("UPDATE rounds SET placed = 1 WHERE round = ?", (self.round,))
            self._remember_running(self.db)
        self.last_placed = True

    # --- the running file's middle: its stamp, or compared whole ---

    def untouched(self) -> bool:
        """Whether the running file has the stamp the last round recorded (not written since: its middle unchanged)."""
        known = self.running_stamp
        return known is not None and known.round == self.round and stat_stamp(self.running_path) == known.stamp

    def _remember_running(self, db: sqlite3.Connection) -> None:
        """Records the running file's stamp, as the store's rounds wrote it, in the open transaction (unless it is)."""
        if self.untouched():
            return
        self.running_stamp = Stamp(self.round, settled_stamp(self.running_path))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('running_stamp', ?)", (self.running_stamp.to_json(),))

    def check_running_whole(self) -> None:
        """Unless :meth:`untouched`: the running file compared whole with the store's rounds, refused if it differs.

        (Written aside from the store, as --repair does: a file copied or its times set, the same
        bytes, passes and its stamp is recorded; an edit in its middle is refused.)
        """
        assert self.db is not None
        if self.untouched():
            return
        path = self.running_path
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            try:
                self._write_from_store(tmp, sync=False)
                same = same_bytes(tmp, path)
            except (StoreError, *DAMAGE) as err:
                raise self.damaged(err) from None
            finally:
                _unlink(tmp)
            if not same:
                raise changed_running(path, "its bytes are not those the store's rounds wrote (compared whole)")
            with transaction(self.db):
                self._remember_running(self.db)
        except (OSError, sqlite3.Error) as err:
            if is_busy(err):
                raise busy(self.folder / DATABASE) from None
            raise OutputError(
                f"{path}: cannot compare it with the --update store's rounds ({reason(err)}), so rows cannot be "
                "appended to it; run again once the folder can be written"
            ) from None

    def finish_round(self) -> list[str]:
        """Writes the last round's files from the store where they are missing or differ.

        The running file too, where a stop left it (appended to in part, or not yet replaced);
        one changed otherwise is refused. Returns the files written again (their names in the output folder).
        """
        assert self.db is not None and self.running is not None
        if why := self._running_changed():
            raise changed_running(self.running_path, why)
        try:
            written = [name for name, _ in self._write_stored_files("round = ?", (self.round,))]
            if self.running.problem(self.running_path) is not None:
                refuse_folder(self.running_path)
                change, source = self._stored_change(self.round)
                self.apply(change, source)
                written.append(self.running_path.name)
        except CryodedupError:
            raise
        except (StoreError, *DAMAGE) as err:
            raise self.damaged(err) from None
        if why := self.running.problem(self.running_path):
            raise self.damaged(f"{self.running_path.name} written again from the store: {why}")
        self.check_running_whole()  # (its middle: a change before the stop is not the store's to undo)
        return written

    def repair(self) -> list[tuple[str, str]]:
        """Writes every round's files and the running file from the store where they are missing or differ.

        The whole store checked by SQLite first. Returns (name in the output folder, what was
        wrong) of each file written again; a file as the store records it is not touched.
        """
        assert self.db is not None and self.running is not None
        try:
            quick_check(self.db)
            written = self._write_stored_files("1", ())
            # (its middle is known by its stamp alone: it is written from the store and compared whole)
            refuse_folder(self.running_path)
            was = "missing" if not os.path.lexists(self.running_path) else "stale"
            if self._rebuild_running(if_different=True):
                written.append((self.running_path.name, was))
        except CryodedupError:
            raise
        except (StoreError, *DAMAGE) as err:
            raise self.damaged(err) from None
        if why := self.running.problem(self.running_path):
            raise self.damaged(f"{self.running_path.name} written again from the store: {why}")
        with transaction(self.db):  # (the file as the rounds wrote it: its stamp, so the next round need not compare)
            self._remember_running(self.db)
        if not self.last_placed:
            self.mark_placed()
        return written

    def _write_stored_files(self, rounds: str, arguments: tuple) -> list[tuple[str, str]]:
        """The round files of ``rounds`` (an SQL condition) written from the store where missing or different.

        Returns (name in the output folder, ``missing`` or ``stale``) of each; a file's data is
        read from the store only when it is written.
        """
        assert self.db is not None
        written = []
        query = f"SELECT round, name, size, sha256 FROM files WHERE {rounds} ORDER BY round, name"
        for round_, name, size, sha in self.db.execute(query, arguments).fetchall():
            path = self.outdir / name
            if same_file(path, size, sha):
                continue
            refuse_folder(path)
            (blob,) = self.db.execute("SELECT data FROM files WHERE round = ? AND name = ?", (round_, name)).fetchone()
            written.append((name, "stale" if os.path.lexists(path) else "missing"))
            place_file(path, unpack(blob, size, sha, name))
        return written

    def _running_changed(self) -> str | None:
        """What differs in the running file from the last round's, unless a stop of that round explains it."""
        assert self.db is not None and self.running is not None
        why = self.running.problem(self.running_path)
        if why is None or self.running.cut_here(self.running_path):
            return None  # (as the round left it, or appended to in part: finished from the store)
        whole = self.db.execute("SELECT whole FROM running WHERE round = ?", (self.round,)).fetchone()
        if not whole or not whole[0]:
            return why
        if self.round == 1:  # (a first round stopped before its file was renamed into place)
            return None if not os.path.lexists(self.running_path) else why
        row = self.db.execute(
            "SELECT round, cut, cut_sha256, size, piece_sha256, head_bytes, head_sha256 FROM running WHERE round = ?",
            (self.round - 1,),
        ).fetchone()
        before = RunningState(*row) if row else None
        return None if before is not None and before.problem(self.running_path) is None else why

    def _stored_change(self, round_: int) -> tuple[RunningChange, Path | None]:
        """Round ``round_``'s change of the running file, from the store (its source file: the round file placed)."""
        assert self.db is not None
        row = self.db.execute(
            "SELECT whole, cut, head, data, source, source_start, size, piece_sha256 FROM running WHERE round = ?",
            (round_,),
        ).fetchone()
        if row is None:
            raise StoreError(f"round {round_}'s change of the running file is missing")
        whole, cut, head, data, source, start, size, sha = row
        if source is not None:
            return RunningChange(bool(whole), cut, b"", head, source=(source, start)), self.outdir / source
        return RunningChange(bool(whole), cut, unpack(data, size - cut, sha, self.running_path.name), head), None

    def _rebuild_running(self, if_different: bool = False) -> bool:
        """The running file written whole from the store: the last round that wrote it whole, and the changes since.

        ``if_different``: not replaced when it holds those bytes already. Returns whether it was replaced.
        """
        path = self.running_path
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self._write_from_store(tmp, sync=True)
            if if_different and same_bytes(tmp, path):
                _unlink(tmp)
                return False
            os.replace(tmp, path)
        except BaseException:
            _unlink(tmp)
            raise
        return True

    def _write_from_store(self, tmp: Path, sync: bool) -> None:
        """The running file as the store's rounds wrote it, written as ``tmp`` (``sync``: and synced)."""
        assert self.db is not None
        first = self.db.execute("SELECT coalesce(max(round), 1) FROM running WHERE whole = 1").fetchone()[0]
        with open(tmp, "w+b") as f:
            for (round_,) in self.db.execute("SELECT round FROM running WHERE round >= ?", (first,)).fetchall():
                change, source = self._stored_change(round_)
                if source is not None:
                    source = self._round_file(round_, change.source)  # type: ignore[arg-type]
                f.truncate(change.cut)
                f.seek(change.cut)
                if source is not None:
                    copy_tail(source, change.source[1], f)  # type: ignore[index]
                    os.unlink(source)
                else:
                    f.write(change.data)
                f.seek(0)
                f.write(change.head)
            if sync:
                f.flush()
                os.fsync(f.fileno())

    def _round_file(self, round_: int, source: tuple[str, int]) -> Path:
        """A round's file, from the store, in a temporary file of its own (removed by the caller)."""
        assert self.db is not None
        size, sha, blob = self.db.execute(
            "SELECT size, sha256, data FROM files WHERE round = ? AND name = ?", (round_, source[0])
        ).fetchone() or (0, "", b"")
        path = self.outdir / f".{source[0]}.rebuild.{os.getpid()}.tmp"  # (not the round's own temporary name)
        path.write_bytes(unpack(blob, size, sha, source[0]))
        return path


def changed_running(path: Path, why: str) -> CryodedupError:
    """The one line of a running file changed since the last round (``why``), naming --repair and --force."""
    return CryodedupError(
        f"{path}: {why}: changed since the last --update round, so rows cannot be appended to it; --update --repair "
        "writes it again from the store, or --update --force starts anew"
    )


def _encoded(name: str) -> bytes:
    return name.encode("utf-8", errors="surrogateescape")


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for k in range(0, len(items), CHUNK):
        yield items[k : k + CHUNK]


def mic_crc(mic_id: int, name: bytes, pieces: int) -> int:
    """A micrograph row's CRC-32: of its id, rounds and name."""
    return zlib.crc32(name, zlib.crc32(b"%d:%d:" % (mic_id, pieces)))


def kept_crc(mic: int, round_: int, data: bytes) -> int:
    """A kept row's CRC-32: of its micrograph, round and rows."""
    return zlib.crc32(data, zlib.crc32(b"%d:%d:" % (mic, round_)))


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def refuse_folder(path: Path) -> None:
    """A folder where an output file goes is refused (never removed)."""
    if os.path.isdir(path) and not os.path.islink(path):
        raise CryodedupError(f"{path}: is a folder; an output file cannot replace it (remove it or choose another)")
