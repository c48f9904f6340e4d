"""``--update``: screen only the micrographs not seen before, into the same output folder.

The output folder keeps, in ``seen/store.sqlite`` (``store_db.py``: SQLite, a rollback
journal, one transaction a round), what the comparison needs: each seen micrograph in the
order first seen (``micrographs``: its absolute path, its size, modification time and inode
when read, where its image lies in its file), its image binned as the core bins it
(``images``, each with a CRC-32 of its id and bytes, checked when a round reads it), every
pair scored so far (``pairs``: a part a round, the shard's columns with the pairs named by
seen micrograph, and each part's SHA-256), and what the scores depend on (``meta``:
the image size, binning, pixel size, band and the Pearson floor, and the options they come
from; and what the last round's pairs.csv holds, so that the next round can append to it). A
round reads only the micrographs it has not seen, scores the candidate pairs it has no score
for (a binned image gives the same spectrum as the raw one, bit for bit, so old images are not
read again), and writes the outputs of a fresh run of the whole set.

A round wraps the plain job (``update_round.run_round``, with ``update_round.MicrographRound`` as the job's stages).
Its transaction is opened once its pairs are scored (:meth:`SeenStore.save`) and committed once
the job has written its outputs under their temporary names (:meth:`SeenStore.commit`), which are
renamed after it: a stop before the commit
leaves the store as the round before left it, one after it leaves outputs the next round
writes again from the store, byte for byte (a round writes every output of the whole set). A
file replaced in place (same name, new content: another size, time or inode) is read again,
and what the store held of it is dropped; the pairs are then written as one part, as they are
when they lie in ``MAX_PAIR_PARTS`` parts.

A new MRC file whose header describes more bytes than the file holds is still being written:
it is left for a later round (``leave_for_later``). ``--watch`` (watch.py) repeats rounds as new
micrographs appear (a STAR file that grows, a glob that matches more); ``update_inputs.Arrivals``
makes it wait, too, for a file that changed since its previous look (a writer that makes the
file whole first and fills it after).
"""

from __future__ import annotations

import errno
import json
import os
import re
import sqlite3
import stat
import zlib
from collections.abc import Collection, Mapping
from contextlib import suppress
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, NoReturn

import numpy as np

import cryodedup._core as _core

from ..._core import __version__
from ...errors import CryodedupError, DamagedStoreError
from ...formats.micrograph_lists import Micrographs
from ...formats.mrc import MrcLayout
from ...options.fields import SCORES, marked_options
from ...options.micrographs import MicrographOptions
from ...outputs import StrPath
from ..store_db import (
    DAMAGE,
    DATABASE,
    StoreError,
    busy,
    busy_timeout,
    connect,
    first_changed,
    is_busy,
    quick_check,
    reason,
    remove_unborn,
    sha256_bytes,
)
from .plan import ScoringPlan
from .score import SCORE_FIELDS, ProgressBar, ScoredPairs, ShardScores, _read_image, score_shard, shard_pairs
from .update_inputs import file_stamp, real_paths, unfinished
from .update_pairs import PairsCsvRecord

__all__ = [
    "DATABASE",
    "FORMAT",
    "PAGE_BYTES",
    "SCHEMA",
    "STORE",
    "SeenStore",
    "image_crc",
    "leave_for_later",
    "open_store",
    "pack_pairs",
    "refuse_inputs_inside",
    "score_record",
    "score_update",
]

STORE = "seen"
FORMAT = "cryodedup micrograph update store 4"
#: The marker of an earlier cryodedup's store (format 2: seen.json, images-N.npy, pairs-N.npz): refused.
#: --force removes that store's files, named so, when its marker is there.
EARLIER = "seen.json"
EARLIER_FILE = re.compile(r"(seen\.json|images-[0-9]+\.npy|pairs-[0-9]+\.npz)")
#: The options that change a pair's scores (marked in their declarations): any change means a full run.
SCORE_OPTIONS = marked_options(MicrographOptions, SCORES)
#: A pair as the store keeps it: the two seen micrographs (a acquired first) and the shard's scores
#: (:class:`.score.ScoredPairs`, whose ``pairs`` are the store's ids of the micrographs).
ID = np.dtype("<i8")
PAIR = np.dtype([("a", ID), ("b", ID), *((k, "<f8") for k in SCORE_FIELDS)])
IMAGE = np.dtype("<f4")
#: More pairs parts than this and the round writes every pair as one (a round adds one of its new pairs).
MAX_PAIR_PARTS = 32
#: The store's pages: its images and pairs are read whole, 4 times faster than from SQLite's default 4 KiB pages.
PAGE_BYTES = 16384
#: A store up to this size is checked whole by SQLite (a larger one: its small tables).
CHECK_WHOLE_BYTES = 64 << 20
RECORD_KEYS = ["band", "binned_psize", "binning", "options", "pearson_min_z", "shape"]
#: The pixel types a layout may name (numpy's ``dtype.str``).
DTYPES = tuple(f"{order}{kind}{size}" for order in "<>|=" for kind in "iufc" for size in (1, 2, 4, 8, 16))
#: A row of the micrographs table as a round writes it (SQLite's types: a damaged row may hold any).
GOOD_MICROGRAPH = f"""typeof(path) = 'text' AND substr(path, 1, 1) = '/' AND instr(path, char(0)) = 0
    AND ((size IS NULL AND mtime IS NULL AND inode IS NULL) OR (typeof(size) = 'integer' AND size >= 0
        AND typeof(mtime) = 'integer' AND mtime >= 0 AND typeof(inode) = 'integer' AND inode >= 0))
    AND (dtype IS NULL OR (typeof(offset) = 'integer' AND offset >= 0 AND dtype IN ({",".join("?" * len(DTYPES))})
        AND (psize IS NULL OR (typeof(psize) = 'real' AND psize > 0 AND psize < 1e300))))"""
_SHA256 = re.compile(r"[0-9a-f]{64}")

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE micrographs(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, size INTEGER, mtime INTEGER,
    inode INTEGER, offset INTEGER, dtype TEXT, psize REAL);
CREATE TABLE images(id INTEGER PRIMARY KEY, crc INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE pairs(part INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, data BLOB NOT NULL);
"""
#: The tables SQLite checks each round in a large store (images: their sizes checked; pairs: their digests).
SMALL_TABLES = ("meta", "micrographs")


@dataclass(frozen=True)
class ScoreRecord:
    """What the scores of a pair depend on, as the store keeps it (its meta table's ``record``).

    ``options``: the values of the options that change a pair's scores (``SCORE_OPTIONS``), by name.
    """

    shape: tuple[int, int]
    binning: int
    binned_psize: float
    band: tuple[float, float]
    pearson_min_z: float
    options: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The record as the store keeps it (JSON), its keys in the order of the fields."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    @classmethod
    def read(cls, document: Any) -> ScoreRecord:
        """The record the store keeps (JSON read back), checked: a damaged one is refused (:class:`StoreError`)."""
        damaged = StoreError("its meta table is damaged (what the scores depend on)")
        if not isinstance(document, dict) or sorted(document) != RECORD_KEYS:
            raise damaged
        shape, binning, binned_psize, band, pearson_min_z, options = (document[f.name] for f in fields(cls))
        numbers = [binned_psize, pearson_min_z, *(band if isinstance(band, list) and len(band) == 2 else [None])]
        if not (_good_shape(shape, binning) and isinstance(options, dict) and all(map(_is_number, numbers))):
            raise damaged
        return cls((shape[0], shape[1]), binning, binned_psize, (band[0], band[1]), pearson_min_z, options)


def score_record(plan: ScoringPlan, recorded: Mapping[str, Any]) -> ScoreRecord:
    """What the scores of a pair depend on, as the store would read it back (``recorded``: the options' values)."""
    record = ScoreRecord(
        plan.shape,
        plan.binning,
        plan.binned_psize,
        plan.band,
        plan.pearson_min_z,
        {name: recorded[name] for name in SCORE_OPTIONS},
    )
    return ScoreRecord.read(json.loads(json.dumps(record.to_json())))


def _what_changed(stored: ScoreRecord, now: ScoreRecord) -> str:
    changed = first_changed(SCORE_OPTIONS, stored.options, now.options)
    if changed:
        flag, was, now_ = (v if v is not None else "default" for v in changed)
        return f"{flag} {now_} (was {was})"
    for key, what in (("shape", "image size"), ("binning", "binning"), ("binned_psize", "pixel size")):
        if getattr(stored, key) != getattr(now, key):
            return f"{what} {_as_stored(getattr(now, key))} (was {_as_stored(getattr(stored, key))})"
    return "how the images are compared"


def _as_stored(value: Any) -> Any:
    """A record's value as the store's JSON has it (a shape as a list), for the words of a change."""
    return list(value) if isinstance(value, tuple) else value


@dataclass
class SeenStore:
    """The micrographs seen by earlier rounds (``seen/store.sqlite``), their binned images and their scored pairs."""

    folder: Path
    db: sqlite3.Connection | None = None
    record: ScoreRecord | None = None  # None: nothing seen yet
    files: list[str] = field(default_factory=list)  # absolute paths, in the order first seen
    ids: list[int] = field(default_factory=list)  # each seen micrograph's id in the store
    pairs: ScoredPairs = field(default_factory=ScoredPairs.none)  # (``pairs``: the store's ids)
    # Where each seen micrograph's image lies in its file (offset, dtype, psize; None: unknown): no header read again.
    layouts: list[tuple[int, str, float | None] | None] = field(default_factory=list)
    # Each seen file's size, modification time (ns) and inode when it was read (file_stamp).
    stamps: list[list[int] | None] = field(default_factory=list)
    loaded: bool = False  # read from a store: the outputs of its rounds are there to replace
    # What the last round's pairs.csv holds (update_pairs.PairsCsv), None when unknown: a round appends to it.
    pairs_csv: PairsCsvRecord | None = None
    # The parts of the pairs table that hold ``pairs``; 0 when they do not (the round writes every pair as one).
    pair_parts: int = 0
    # The store's micrographs this round drops (replaced files; all of them: the scores' options changed).
    dropped: list[int] = field(default_factory=list)
    # This round's inputs, each path as listed -> its absolute path: made once a round (issue 43: 5,100
    # inputs were made absolute four times, their files stat'ed three times).
    absolute_paths: dict[str, str] = field(default_factory=dict)
    # The seen files found in place by :meth:`replaced` this round: planning reads neither their headers nor stats.
    present: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, folder: Path) -> SeenStore | None:
        """The store in ``folder``, None when there is none; checked first (SQLite's checks, and every row read).

        Refused in one line (a store of another version, or damaged: what is wrong and that
        ``--update --force`` rebuilds it).
        """
        _check_folder(folder)
        if os.path.lexists(folder / EARLIER):
            raise CryodedupError(
                f"{folder / EARLIER}: a store written by an earlier cryodedup (this one keeps its store in "
                f"{DATABASE}) that --update cannot read; use --force for a full run"
            )
        path = folder / DATABASE
        if not os.path.lexists(path) or (os.path.isfile(path) and os.path.getsize(path) == 0):
            return None  # (none yet, or made by a first round stopped before its commit)
        store = cls(folder, loaded=True)
        try:
            if not store.open().execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                store.close()  # (a first round killed in its transaction: its journal rolled back, nothing left)
                if os.path.getsize(
                    path
                ):  # (the rollback leaves the file as it was: empty; pages without a table are damage)
                    raise StoreError("holds pages but no table")
                return None
            _read(store, store.open())
        except (StoreError, *DAMAGE) as err:
            raise damaged(path, err) from None
        finally:
            store.close()  # (opened again to read an image or write the round: not held by a round refused meanwhile)
        return store

    def open(self) -> sqlite3.Connection:
        """The store's database, opened if it is not (made if there is none)."""
        if self.db is None:
            self.db = connect(self.folder / DATABASE, create=not self.loaded)
        return self.db

    def close(self) -> None:
        """Closes the database (a transaction still open is rolled back)."""
        if self.db is not None:
            self.db.close()
            self.db = None

    def start_anew(self) -> None:
        """Forgets every seen micrograph (the scores' options changed): the round is a full run."""
        self.dropped += self.ids
        self.record, self.files, self.ids, self.pairs = None, [], [], ScoredPairs.none()
        self.layouts, self.stamps, self.pairs_csv, self.pair_parts = [], [], None, 0

    def absolute(self, path: StrPath) -> str:
        """``os.path.abspath`` of an input as listed, made once a round."""
        text = os.fspath(path)
        found = self.absolute_paths.get(text)
        if found is None:
            found = self.absolute_paths[text] = os.path.abspath(text)
        return found

    def replaced(self, listed: dict[str, os.stat_result | None]) -> list[str]:
        """The seen files whose size, modification time or inode changed since they were read.

        ``listed``: the inputs' stats taken as they were listed (by absolute path; None: none taken,
        the file is stat'ed here). Those unchanged are noted as :attr:`present`.
        """
        changed = []
        for path, stamp in zip(self.files, self.stamps):
            st = listed.get(path)
            now = file_stamp(path) if st is None else [st.st_size, st.st_mtime_ns, st.st_ino]
            if now is None:
                continue  # (a missing file is planning's to report)
            if now != stamp:
                changed.append(path)
            else:
                self.present.add(path)
        return changed

    def forget(self, gone: Collection[str]) -> None:
        """Drops the seen files ``gone``, with their images and pairs: a round reads them as new."""
        keep = np.array([f not in gone for f in self.files], dtype=bool)
        if keep.all():
            return
        new_id = np.cumsum(keep) - 1
        ids = self.pairs.pairs
        both = keep[ids[:, 0]] & keep[ids[:, 1]]
        self.pairs = replace(self.pairs.take(both), pairs=new_id[ids[both]])
        self.pair_parts = 0  # they hold the pairs dropped, and the old ids: the round writes every pair anew
        self.dropped += [i for i, k in zip(self.ids, keep) if not k]
        kept = np.flatnonzero(keep).tolist()
        self.files, self.ids = [self.files[i] for i in kept], [self.ids[i] for i in kept]
        self.stamps, self.layouts = [self.stamps[i] for i in kept], [self.layouts[i] for i in kept]

    def known_layouts(self, paths: Collection[StrPath]) -> dict[str, MrcLayout]:
        """{input as listed: its image's layout} of the seen micrographs found in place, for ``plan_scoring``.

        ``paths``: the inputs (``Micrographs.paths``); planning reads neither the headers nor the stats of these.
        """
        if self.record is None:
            return {}
        shape = self.record.shape
        here = self.present
        seen = {
            f: MrcLayout(shape, at[1], at[0], at[2])
            for f, at in zip(self.files, self.layouts)
            if at is not None and f in here
        }
        return {os.fspath(path): seen[full] for path in paths if (full := self.absolute(path)) in seen}

    def image(self, seen: int, shape: tuple[int, int]) -> np.ndarray:
        """The binned image of seen micrograph ``seen``, from the store (refused in one line if damaged)."""
        try:
            row = self.open().execute("SELECT crc, data FROM images WHERE id = ?", (self.ids[seen],)).fetchone()
            if row is None or not isinstance(row[1], bytes) or len(row[1]) != IMAGE.itemsize * shape[0] * shape[1]:
                raise StoreError(f"the image of {self.files[seen]} is missing or not {shape[0]}x{shape[1]}")
            if image_crc(self.ids[seen], row[1]) != row[0]:
                raise StoreError(f"the image of {self.files[seen]} is not the one its round stored (CRC-32)")
        except (StoreError, *DAMAGE) as err:
            raise damaged(self.folder / DATABASE, err) from None
        return np.frombuffer(row[1], IMAGE).reshape(shape)

    def save(
        self,
        record: ScoreRecord,
        new_files: list[str],
        new_images: list[np.ndarray],
        scored: ScoredPairs,
        new_layouts: list[MrcLayout] | None,
        new_stamps: list[list[int] | None],
    ) -> None:
        """Opens the round's transaction and writes into it: its micrographs, their images and pairs.

        :meth:`commit` commits it once the round's outputs are written.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            db = self.open()
            if not self.loaded:
                db.execute(f"PRAGMA page_size={PAGE_BYTES}")  # (before any table: then the store's own)
            db.execute("BEGIN IMMEDIATE")
            if not self.loaded:
                for statement in SCHEMA.split(";"):
                    db.execute(statement)
            db.executemany("DELETE FROM micrographs WHERE id = ?", [(i,) for i in self.dropped])
            db.executemany("DELETE FROM images WHERE id = ?", [(i,) for i in self.dropped])
            first = db.execute("SELECT coalesce(max(id), 0) + 1 FROM micrographs").fetchone()[0]
            ids = range(first, first + len(new_files))
            places: list[Any] = [(m.offset, m.dtype, m.psize) for m in new_layouts or ()] or [(None,) * 3] * len(ids)
            stamps: list[Any] = [s or [None] * 3 for s in new_stamps]
            rows = [(i, f, *s, *at) for i, f, s, at in zip(ids, new_files, stamps, places)]
            db.executemany("INSERT INTO micrographs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            blobs = ((i, np.ascontiguousarray(image, IMAGE).tobytes()) for i, image in zip(ids, new_images))
            db.executemany("INSERT INTO images VALUES (?, ?, ?)", ((i, image_crc(i, b), b) for i, b in blobs))
            self._save_pairs(db, scored)
            meta = {"format": FORMAT, "version": __version__, "record": json.dumps(record.to_json())}
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())
            db.execute("DELETE FROM meta WHERE key = 'pairs_csv'")
        except BaseException as err:
            self._failed(err)

    def _save_pairs(self, db: sqlite3.Connection, scored: ScoredPairs) -> None:
        """The round's pairs as a part of their own, or every pair as one part (none holds them, or too many do)."""
        whole = not self.pair_parts or self.pair_parts >= MAX_PAIR_PARTS
        if not whole and not len(scored):
            return
        pairs = ScoredPairs.joined([self.pairs, scored]) if whole else scored
        if whole:
            db.execute("DELETE FROM pairs")
        data = pack_pairs(pairs)
        db.execute("INSERT INTO pairs(sha256, data) VALUES (?, ?)", (sha256_bytes(data), data))

    def commit(self, written: PairsCsvRecord | None) -> None:
        """Commits the transaction :meth:`save` opened, once the round's outputs are written (under temporary names).

        With what this round's pairs.csv holds (``written``). When the commit fails, the
        transaction is rolled back (the previous round stays whole).
        """
        try:
            if self.db is not None and self.db.in_transaction:  # (a round scored from the metadata alone saves none)
                if written is not None:
                    self.db.execute("INSERT INTO meta VALUES ('pairs_csv', ?)", (json.dumps(written.to_json()),))
                self.db.execute("COMMIT")
        except BaseException as err:
            self._failed(err)
        self.close()

    def abandon(self, err: BaseException) -> NoReturn:
        """A round stopped: the transaction of :meth:`save` (if any) rolled back, the store closed; raises ``err``.

        Stopped in its transaction, a write refused is said in one line (:func:`store_write_error`).
        """
        if self.db is not None and self.db.in_transaction:
            self._failed(err)
        with suppress(sqlite3.Error):
            self.close()
        self._unmake()
        raise err

    def _failed(self, err: BaseException) -> Any:
        """Rolls back the round's transaction and closes the store; raises ``err`` (a write refused: one line)."""
        if self.db is not None and self.db.in_transaction:
            with suppress(sqlite3.Error):  # (else the journal rolls it back when the store is next opened)
                self.db.execute("ROLLBACK")
        with suppress(sqlite3.Error):
            self.close()
        self._unmake()
        if isinstance(err, (OSError, sqlite3.Error)):
            raise store_write_error(self.folder, err) from None
        raise err

    def _unmake(self) -> None:
        """A first round's store removed once its transaction is rolled back: a refused run leaves no file behind.

        (Before, a refused first round left a 0-byte store and journal in ``seen``.)
        """
        if not self.loaded and self.db is None:
            remove_unborn(self.folder)


def _read(store: SeenStore, db: sqlite3.Connection) -> None:
    """The store's state from its database, checked by SQLite (whole while it is small) and row by row."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"meta", "micrographs", "images", "pairs"} <= tables:
        raise StoreError("not a micrograph --update store (its tables are missing)")
    meta = StoreMeta.read(db)
    if meta.format != FORMAT:
        raise StoreError(f"format {str(meta.format)[:60]!r}, this cryodedup reads {FORMAT!r}")
    if os.path.getsize(store.folder / DATABASE) <= CHECK_WHOLE_BYTES:
        quick_check(db, ("",))
    else:
        quick_check(db, SMALL_TABLES)
    try:
        document = json.loads(meta.record or "null")
    except ValueError:
        document = None
    store.record = record = ScoreRecord.read(document)
    if meta.version == __version__ and meta.pairs_csv is not None:
        with suppress(ValueError, TypeError):
            store.pairs_csv = pairs_csv_record(json.loads(meta.pairs_csv))
    bad = db.execute(f"SELECT id, path FROM micrographs WHERE NOT ({GOOD_MICROGRAPH}) LIMIT 1", DTYPES).fetchone()
    if bad is not None:
        raise StoreError(f"its micrograph row {bad[0]} is damaged ({str(bad[1])[:80]})")
    rows = db.execute("SELECT * FROM micrographs ORDER BY id").fetchall()
    store.ids = [row[0] for row in rows]
    store.files = [row[1] for row in rows]
    store.stamps = [None if row[2] is None else list(row[2:5]) for row in rows]
    store.layouts = [None if row[6] is None else (row[5], row[6], row[7]) for row in rows]
    size = IMAGE.itemsize * (record.shape[0] // record.binning) * (record.shape[1] // record.binning)
    query = (
        "SELECT count(*), count(micrographs.id), count(CASE WHEN typeof(data) = 'blob' AND length(data) = ? THEN 1 END)"
    )
    images = db.execute(f"{query} FROM images LEFT JOIN micrographs USING (id)", (size,)).fetchone()
    if images != (len(rows),) * 3:
        raise StoreError(f"its images are not one of {size:,} bytes for each of its {len(rows)} micrographs")
    store.pairs, store.pair_parts = _read_pairs(db, len(rows))


def image_crc(seen_id: int, data: bytes) -> int:
    """An image row's CRC-32: of its id and bytes (checked when the image is read; CRC-32 is twice SHA-256's speed)."""
    return zlib.crc32(data, zlib.crc32(b"%d:" % seen_id))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _good_shape(shape: Any, binning: Any) -> bool:
    whole = isinstance(shape, list) and len(shape) == 2 and all(type(v) is int and 1 <= v <= 1 << 20 for v in shape)
    return whole and type(binning) is int and 1 <= binning <= min(shape)


def _read_pairs(db: sqlite3.Connection, n: int) -> tuple[ScoredPairs, int]:
    """Every pair the store holds, each part checked against its SHA-256, and their number of parts."""
    parts = []
    for part, digest, data in db.execute("SELECT part, sha256, data FROM pairs ORDER BY part"):
        if not isinstance(data, bytes) or len(data) % PAIR.itemsize or sha256_bytes(data) != digest:
            raise StoreError(f"its pairs (part {part}) are not those the round wrote (SHA-256)")
        parts.append(unpack_pairs(data))
    pairs = ScoredPairs.none() if not parts else parts[0]
    if len(parts) > 1:
        pairs = ScoredPairs.joined(parts)
    if not ((pairs.pairs >= 0) & (pairs.pairs < n)).all():
        raise StoreError(f"its pairs name micrographs other than its {n}")
    return pairs, len(parts)


def pack_pairs(pairs: ScoredPairs) -> bytes:
    """Pairs as the store keeps them: each column of ``PAIR`` after the other (read back without a copy)."""
    ids = pairs.pairs.reshape(-1, 2)
    columns = [ids[:, 0], ids[:, 1], *(getattr(pairs, k) for k in SCORE_FIELDS)]
    return b"".join(np.ascontiguousarray(column, PAIR[k]).tobytes() for column, k in zip(columns, PAIR.names or ()))


def unpack_pairs(data: bytes) -> ScoredPairs:
    """The columns of a pairs part (:func:`pack_pairs`), views of ``data`` (the ids' two columns as one)."""
    n = len(data) // PAIR.itemsize
    ids = np.frombuffer(data, ID, 2 * n).reshape(2, n).T
    scores = (np.frombuffer(data, PAIR[k], n, n * 8 * (2 + i)) for i, k in enumerate(SCORE_FIELDS))
    return ScoredPairs(ids, *scores)


@dataclass(frozen=True)
class StoreMeta:
    """The store's meta table: its format, the version that wrote it, the score record and pairs.csv's (JSON)."""

    format: str | None = None
    version: str | None = None
    record: str | None = None
    pairs_csv: str | None = None

    @classmethod
    def read(cls, db: sqlite3.Connection) -> StoreMeta:
        """The meta table's known keys (another key is left: a later format's, refused by its format)."""
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in db.execute("SELECT key, value FROM meta") if key in names})


def pairs_csv_record(record: Any) -> PairsCsvRecord | None:
    """What the last round's pairs.csv holds, as the store keeps it, None unless whole.

    Not refused when damaged: without it a round writes pairs.csv whole, as a fresh run does.
    """
    if not isinstance(record, dict):
        return None
    values: list[Any] = [record.get(f.name) for f in fields(PairsCsvRecord)]  # (JSON read back: checked here)
    stamp, rows, names, digest = values
    good = isinstance(stamp, list) and len(stamp) == 3 and all(type(v) is int and v >= 0 for v in stamp)
    good = good and all(type(v) is int and v >= 0 for v in (rows, names))
    if not (good and isinstance(digest, str) and _SHA256.fullmatch(digest)):
        return None
    return PairsCsvRecord((stamp[0], stamp[1], stamp[2]), rows, names, digest)


def refuse_inputs_inside(outdir: Path, inputs: Collection[StrPath]) -> None:
    """Refuses an input inside the output folder (its store included): --update rewrites that folder each round."""
    inside = os.path.realpath(outdir).rstrip(os.sep) + os.sep
    for path, real in zip(inputs, real_paths(inputs)):
        if real.startswith(inside):
            raise CryodedupError(
                f"{path}: an input inside the output folder {outdir}, which --update keeps for its outputs and "
                f"its store ({STORE}/); move the input out or choose another output folder"
            )


def open_store(outdir: Path, mics: Micrographs, force: bool, log: Callable[[str, str], None]) -> SeenStore:
    """The store of ``outdir`` (empty for a first or a forced full run), checked against the inputs."""
    busy_timeout()  # (a wait the environment sets wrong refused before the store is read or removed)
    folder = outdir / STORE
    if force:
        make_way(folder, log)
        if _remove_store(folder):
            log(f"--update --force: {folder} replaced by a full run", "warning")
        _check_writable(folder)
        return SeenStore(folder)
    store = SeenStore.load(folder)
    _check_writable(folder)
    if store is None:
        return SeenStore(folder)
    # Each input's stat when it was listed (MRC files), else None: the seen files are not stat'ed twice.
    stats = mics.stats or {}
    now = {store.absolute(path): stats.get(name) for path, name in zip(mics.paths, mics.names)}
    lost = [f for f in store.files if f not in now]
    if lost:
        raise CryodedupError(
            f"--update: {len(lost)} micrograph(s) screened before are no longer in the inputs (e.g. {lost[0]}); "
            "give them again, or use --force for a full run"
        )
    replaced = store.replaced(now)
    if replaced:
        log(
            f"--update: {len(replaced)} micrograph(s) replaced since they were screened, read again "
            f"(e.g. {replaced[0]})",
            "warning",
        )
        store.forget(replaced)
    return store


def _remove_store(folder: Path) -> bool:
    """Removes the store's own files (its database and journal, an earlier cryodedup's files); whether there were any.

    Only plain files of the store's names: never a user's folder or link.
    """
    names = [DATABASE, f"{DATABASE}-journal"]
    if os.path.isfile(folder / EARLIER) and not os.path.islink(folder / EARLIER):
        names += [name for name in os.listdir(folder) if EARLIER_FILE.fullmatch(name)]
    found = False
    for name in names:
        with suppress(OSError):
            if stat.S_ISREG(os.lstat(folder / name).st_mode):
                os.unlink(folder / name)
                found = True
    return found


def damaged(where: Path, what: str | BaseException) -> CryodedupError:
    """The one line of a damaged store: what is wrong, and that --update --force rebuilds it.

    ``what`` an error: its reason, or the store busy when it is SQLite's busy (locked by another process).
    """
    if isinstance(what, BaseException):
        if is_busy(what):
            return busy(where)
        what = reason(what)
    return DamagedStoreError(
        f"{where}: {what}; the --update store is damaged: --update --force rebuilds it "
        "(a full run; files the store did not write are kept)"
    )


def _check_folder(folder: Path) -> None:
    """Refuses a ``seen`` that is not a folder (a file, a dangling link): plain --update cannot use it."""
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise damaged(folder, "not a folder")


def make_way(folder: Path, log: Callable[[str, str], None]) -> None:
    """Moves aside what stands where --update --force writes the store: ``seen`` not a folder, its database not a file.

    Moved, never removed: neither was written by a store (it writes a folder and a file).
    """
    database = folder / DATABASE
    for path, is_right in (
        (folder, lambda: os.path.isdir(folder)),
        (database, lambda: stat.S_ISREG(os.lstat(database).st_mode)),
    ):
        if not os.path.lexists(path) or is_right():
            continue
        aside = next(p for k in range(1, 10**6) if not os.path.lexists(p := path.with_name(f"{path.name}.aside-{k}")))
        try:
            os.rename(path, aside)
        except OSError as err:
            raise CryodedupError(
                f"{path}: in the way of the store and cannot be moved aside ({err.strerror})"
            ) from None
        log(f"--update --force: {path} was not the store's; moved aside to {aside}", "warning")


def _check_writable(folder: Path) -> None:
    """Refuses a store folder this run cannot write in (a read-only mount) before any work.

    Asked of the system (``access``), not by a probe file: a run stopped between making a
    probe and removing it would leave it.
    """
    if os.path.isdir(folder) and not os.access(folder, os.W_OK):  # (a folder not there yet: made by the round)
        raise store_write_error(folder, PermissionError(errno.EACCES, "the folder is not writable"))


def store_write_error(folder: Path, err: BaseException) -> CryodedupError:
    """The one line of a store that cannot be written (or is busy: another process holds it locked)."""
    if is_busy(err):
        return busy(folder / DATABASE)
    return CryodedupError(
        f"{folder}: cannot write the --update store ({reason(err)}); make it writable, or choose another output folder"
    )


def leave_for_later(
    mics: Micrographs, store: SeenStore, ready: Collection[str] | None, log: Callable[[str, str], None]
) -> Micrographs:
    """The micrographs of this round: those not seen before and still being written are left for a later one.

    Still being written: an MRC file whose header describes more bytes than it holds, or, with
    ``ready`` (--watch: the files whole and unchanged since its previous look, or unchanged for
    a few looks: ``Arrivals``), a file not in it. Only a list of MRC files can be screened
    without some of its micrographs; for a STAR or a .cs the round is refused until they are
    complete.
    """
    seen = set(store.files)
    late: dict[int, str] = {}
    for k, path in enumerate(mics.paths):
        absolute = store.absolute(path)
        if absolute in seen:
            continue
        if ready is None:
            why = unfinished(path)
        else:  # (a file in ready is read as it is: whole, or unchanged too long to wait for)
            why = None if absolute in ready else unfinished(path) or "new or changed since the last look"
        if why:
            late[k] = why
    if not late:
        return mics
    first = next(iter(late))
    if mics.kind != "mrc":
        raise CryodedupError(
            f"{mics.paths[first]}: still being written ({late[first]}); run --update again once it is complete"
        )
    log(
        f"--update: {len(late)} micrograph(s) still being written, left for a later round "
        f"(e.g. {mics.paths[first]}: {late[first]})",
        "warning",
    )
    keep = [k for k in range(len(mics.paths)) if k not in late]
    return replace(mics, names=[mics.names[k] for k in keep], paths=[mics.paths[k] for k in keep])


def score_update(
    plan: ScoringPlan,
    recorded: Mapping[str, Any],
    store: SeenStore,
    log: Callable[[str, str], None],
    progress_factory: Callable[[int], ProgressBar] | None = None,
) -> ShardScores:
    """Scores the plan's pairs, reading only the micrographs the store has not seen, and saves the round."""
    record = score_record(plan, recorded)
    if store.record is not None and store.record != record:
        log(f"--update: {_what_changed(store.record, record)} changes the scores: full run", "warning")
        store.start_anew()
    seen_id = {f: k for k, f in enumerate(store.files)}
    files = [store.absolute(plan.paths[i]) for i in plan.positions]
    ids = np.array([seen_id.get(f, -1) for f in files], dtype=np.int64)
    pairs = shard_pairs(plan, 1, 1)
    known = _stored_rows(store, ids[pairs[:, 0]], ids[pairs[:, 1]])
    found = known >= 0
    rows = known[found]
    # A round of micrographs acquired after the seen ones finds the stored pairs first and in order: views, no copies.
    take = slice(0, len(rows)) if np.array_equal(rows, np.arange(len(rows))) else rows
    reused = replace(store.pairs.take(take), pairs=plan.positions[pairs[found]].reshape(-1, 2))
    todo = pairs[~found]

    new_images: dict[int, np.ndarray] = {}
    read_bytes = [0]  # (added to by ``read``, on the reading thread)

    def read(_plan: ScoringPlan, batch: np.ndarray) -> list[np.ndarray]:
        unseen = [int(q) for q in batch if ids[q] < 0]
        raw = [_read_image(plan, q) for q in unseen]
        read_bytes[0] += sum(image.nbytes for image in raw)
        # The core's own binning, the images in parallel: a spectrum at bin 1 of a binned image is the
        # raw image's at plan.binning, bit for bit.
        new_images.update(zip(unseen, _core.bin_images(raw, plan.binning)))
        return [new_images[q] if ids[q] < 0 else store.image(int(ids[q]), binned_plan.shape) for q in batch]

    binned_plan = replace(
        plan,
        shape=(plan.shape[0] // plan.binning, plan.shape[1] // plan.binning),
        binning=1,
        layouts=None,
        pairs=todo.reshape(-1, 2),
    )
    unseen_positions = np.setdiff1d(np.unique(todo), np.flatnonzero(ids >= 0))
    unseen = len(unseen_positions)
    # Before reading: a file changed while or after it is read is then read again next round.
    stamps = {int(q): file_stamp(files[q]) for q in unseen_positions}
    bar = progress_factory(unseen) if progress_factory else None
    try:
        fresh = score_shard(binned_plan, 1, 1, bar.advance if bar else None, read=read)
    except BaseException:
        store.close()  # (the images read from it: not held by a round that failed)
        raise
    finally:
        if bar:
            bar.close()
    order = sorted(new_images)
    todo_ids = _ids_after(store, ids, order, len(store.files))
    new = fresh.scores
    scored = replace(new, pairs=todo_ids[todo].reshape(-1, 2))
    layouts = None if plan.layouts is None else [plan.layouts[q] for q in order]
    store.save(
        record, [files[q] for q in order], [new_images[q] for q in order], scored, layouts, [stamps[q] for q in order]
    )
    scores = ScoredPairs.joined([reused, fresh.scores])
    return replace(fresh, scores=scores, images_read=len(new_images), bytes_read=read_bytes[0])


def _ids_after(store: SeenStore, ids: np.ndarray, new: list[int], first: int) -> np.ndarray:
    """Each acquisition position's seen id once this round's new images are added."""
    after = ids.copy()
    after[np.asarray(new, dtype=np.int64)] = np.arange(first, first + len(new))
    return after


def _stored_rows(store: SeenStore, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The store's row of each pair (a acquired first), -1 where it was not scored in this orientation."""
    rows = np.full(len(a), -1, dtype=np.int64)
    if not len(store.pairs) or not len(a):
        return rows
    width = max(len(store.files), 1)
    # The later micrograph first: rounds store their pairs in that order, so the keys are most often sorted already.
    stored = store.pairs.pairs[:, 1].astype(np.int64) * width + store.pairs.pairs[:, 0].astype(np.int64)
    wanted = b * width + a
    count = len(stored)
    seen = slice(0, count)
    if len(a) >= count and (a[seen] >= 0).all() and (b[seen] >= 0).all() and np.array_equal(wanted[seen], stored):
        # Every stored pair first, in order (new micrographs acquired after the seen ones): no search. The
        # stored pairs are distinct, so none of the pairs after them is stored.
        rows[seen] = np.arange(count)
        return rows
    ordered = bool((stored[1:] > stored[:-1]).all())
    order = np.arange(len(stored)) if ordered else np.argsort(stored, kind="stable")
    keys = stored if ordered else stored[order]
    at = np.clip(np.searchsorted(keys, wanted), 0, len(stored) - 1)
    hit = (a >= 0) & (b >= 0) & (keys[at] == wanted)
    rows[hit] = order[at[hit]]
    return rows
