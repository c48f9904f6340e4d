"""The particle job's ``--update`` store: the kept centres by micrograph, and the running kept file's state.

``OUTDIR/kept_store/`` holds, for every particle kept by an earlier round, its centre in Å
and its ranking score: ``kept-R.npy`` (float64, one row per particle: x y [z] score) for
round R, its rows sorted by micrograph; the index, a few files ``index-R.npy`` (one row per
micrograph and segment, sorted by micrograph name: the name, the segment, the first and the
end row), each round's entries in a file of its own, merged with the one before while that one
is not more than twice its size (so there are about log2(rounds) of them, and a round rewrites
the entries of earlier rounds only when they are few); and ``store.json``, the round's
completion marker: the decision's options, the score column and order, the segments (their
rows and file sizes), the index's files (rows, sizes, CRC-32), and what the running kept file
(``OUTDIR/particles_kept.star``, or ``particles_kept.cs`` for CryoSPARC batches: ``record.kind``)
held when the round ended: its size, where its rows end (the text after them, ``suffix``,
written again after each append), the SHA-256 of its header and of its last bytes (of a .cs:
its first and last 4 KB). A round finds its micrographs in each index file by bisection and reads only
their rows: beyond the index files' CRC-32 (0.4 ms for 10 million kept particles), its time
and memory grow with the batch, not with the store.

What a round checks before it uses the store: ``store.json``'s schema, each index file's size
and CRC-32 (an edited or truncated index is refused), and the index entries, segments and
headers it reads (each segment's size against ``store.json`` and its ``.npy`` header): a segment
no round reads again is not looked at. A round appends to the running file in
place (a numpy .cs: its records, then its header's row count; a .cs whose records do not fit
its fields is written anew, the old one moved aside until the commit); before it does,
``store.json`` records the round as ``pending``. A round stopped between
that and its commit leaves the file half-appended: the next round finds ``pending``, checks that
the file still begins as the store left it, truncates it there and writes the suffix back
(rolled back), then removes the stopped round's files. A running file the store does not
recognise (its size, end or header changed) is refused in one line, as is a damaged or edited
store. Safe against a stopped process (a kill, a signal, an error); no file is synced to disk,
as in the micrograph store, so a power cut is not covered.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..._core import __version__
from ...errors import CryodedupError
from ...outputs import process_alive
from ..store_files import (
    BadStore,
    changed_option,
    check_npy,
    expect,
    is_int,
    is_number,
    read_npy_header,
    read_state,
    regular,
    remove_file,
    save_atomic,
)

__all__ = [
    "MARKER",
    "RUNNING",
    "RUNNING_FILES",
    "STORE",
    "TAIL_BYTES",
    "CsAppend",
    "CsRewrite",
    "KeptRows",
    "KeptStore",
    "Running",
    "StarAppend",
    "commit_round",
    "decision_record",
    "index_dtype",
    "open_store",
    "sha256_bytes",
]

STORE = "kept_store"
MARKER = "store.json"
RUNNING = "particles_kept.star"
#: The running kept file of each kind of input (store.json's ``record.kind``): RELION STAR, CryoSPARC .cs.
RUNNING_FILES = {"star": RUNNING, "cs": "particles_kept.cs"}
KINDS = {"star": "RELION particle STAR", "cs": "CryoSPARC .cs"}
#: A .cs round's new running file before it is renamed into place, and the one it replaced until the commit.
CS_NEW, CS_BEFORE = "running-new.cs", "running-before.cs"
FORMAT = "cryodedup particle update store 2"
KEYS = ("format", "version", "round", "record", "segments", "index", "kept", "running", "pending")
RUNNING_KEYS = ("size", "rows_end", "suffix", "header_bytes", "header_sha256", "tail_sha256")
#: The options that decide which particles are duplicates: a round given others is refused.
DECISION_OPTIONS = (
    "min_dist",
    "min_dist_z",
    "mic_psize",
    "shift_key",
    "score",
    "score_order",
    "seed",
    "same_image",
    "match_micrographs",
)
#: The running file's last bytes whose SHA-256 the store keeps: what recognises the file at a glance.
TAIL_BYTES = 4096
MAX_ROUND = 10**12
OWN_FILE = re.compile(r"(kept|index)-([0-9]+)\.npy")
OWN_TEMPORARY = re.compile(r"\.((kept|index)-[0-9]+\.npy|store\.json)\.([0-9]+)\.tmp")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def decision_record(options: Any, score_label: str | None, higher: bool, dims: int, kind: str) -> dict[str, Any]:
    """What the store's decisions depend on, and its files' kind (``star``, ``cs``), as ``store.json`` keeps it."""
    record = {
        "options": {name: getattr(options, name) for name in DECISION_OPTIONS},
        "score": score_label,
        "higher_is_better": higher,
        "dims": dims,
        "kind": kind,
    }
    return json.loads(json.dumps(record))


def sha256_bytes(data: bytes) -> str:
    """The SHA-256 of ``data``, in hex."""
    return hashlib.sha256(data).hexdigest()


def file_tail(path: Path, size: int) -> bytes:
    """The last bytes (at most :data:`TAIL_BYTES`) of the first ``size`` bytes of ``path``."""
    start = max(0, size - TAIL_BYTES)
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(size - start)


@dataclass
class RunningFile:
    """What the running kept file holds when the store is committed: size, rows' end, suffix, header, tail."""

    size: int
    rows_end: int
    suffix: bytes
    header_bytes: int
    header_sha256: str
    tail_sha256: str

    def as_json(self) -> dict[str, Any]:
        """As ``store.json`` keeps it (the suffix as text)."""
        return {
            "size": self.size,
            "rows_end": self.rows_end,
            "suffix": self.suffix.decode("utf-8", errors="surrogateescape"),
            "header_bytes": self.header_bytes,
            "header_sha256": self.header_sha256,
            "tail_sha256": self.tail_sha256,
        }

    @classmethod
    def of(cls, entry: dict[str, Any]) -> RunningFile:
        """From ``store.json``'s entry (checked by :func:`check_state`)."""
        return cls(
            entry["size"],
            entry["rows_end"],
            entry["suffix"].encode("utf-8", errors="surrogateescape"),
            entry["header_bytes"],
            entry["header_sha256"],
            entry["tail_sha256"],
        )

    def after(self, rows_tail: bytes, added: int) -> RunningFile:
        """The file once ``added`` bytes of rows (ending in ``rows_tail``) are appended, and the suffix after them."""
        tail = (rows_tail + self.suffix)[-TAIL_BYTES:]
        size = self.rows_end + added + len(self.suffix)
        return RunningFile(
            size, self.rows_end + added, self.suffix, self.header_bytes, self.header_sha256, sha256_bytes(tail)
        )

    def recognised(self, path: Path) -> str | None:
        """None when ``path`` holds what this record says, else what differs (a phrase)."""
        try:
            size = os.stat(path).st_size
            if size != self.size:
                return f"{size:,} bytes where the store's last round left {self.size:,}"
            if sha256_bytes(file_tail(path, size)) != self.tail_sha256:
                return "its last bytes are not those the store's last round wrote"
            with open(path, "rb") as f:
                header = f.read(self.header_bytes)
        except OSError as err:
            return f"cannot be read ({err.strerror})"
        if sha256_bytes(header) != self.header_sha256:
            return "its header is not the one the store's rounds wrote"
        return None


#: The index's fields besides the name (bytes, as wide as the longest): the segment and its rows.
INDEX_FIELDS = (("segment", "<i8"), ("start", "<i8"), ("stop", "<i8"))


def index_dtype(width: int) -> np.dtype:
    """The index's rows: a micrograph's name (UTF-8) and one range of a segment's rows."""
    return np.dtype([("name", f"S{max(width, 1)}"), *INDEX_FIELDS])


#: store.json's entry of an index file.
INDEX_KEYS = ["bytes", "crc32", "round", "rows"]


@dataclass
class IndexFile:
    """One file of the index (``index-R.npy``, written by round R): its entries, sorted by name, and its size."""

    round: int
    entries: np.ndarray
    bytes: int = 0
    crc32: int = 0

    def as_json(self) -> dict[str, int]:
        """As ``store.json`` keeps it."""
        return {"round": self.round, "rows": len(self.entries), "bytes": self.bytes, "crc32": self.crc32}

    def find(self, names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The entries of ``names`` (UTF-8, as objects), found by bisection: which name each is of, and the entries."""
        keys = self.entries["name"]
        fits = np.array([len(name) <= keys.dtype.itemsize for name in names], dtype=bool)  # (a longer name: none)
        asked = np.where(fits, names, b"").astype(keys.dtype)
        lo, hi = np.searchsorted(keys, asked, "left"), np.searchsorted(keys, asked, "right")
        counts = np.where(fits, hi - lo, 0)
        # Each name's rows lo to hi, one after the other: a running count shifted to each name's lo.
        rows = np.arange(counts.sum()) + np.repeat(lo - np.cumsum(counts) + counts, counts)
        return np.repeat(np.arange(len(names)), counts), self.entries[rows]

    @staticmethod
    def merged(earlier: IndexFile, later: IndexFile) -> IndexFile:
        """Both files' entries in one, sorted by name (a micrograph's earlier segments first); ``later``'s round."""
        width = max(earlier.entries.dtype["name"].itemsize, later.entries.dtype["name"].itemsize)
        both = np.concatenate([earlier.entries.astype(index_dtype(width)), later.entries.astype(index_dtype(width))])
        return IndexFile(later.round, both[np.argsort(both["name"], kind="stable")])


class SegmentFile:
    """A segment's ``.npy`` file of float64 rows, its rows read where asked (``pread``: nothing else is read).

    Checked once opened: its size against ``store.json``'s (``size``), then its header: the
    bytes ``np.save`` writes for that shape, else (written some other way) numpy's own reading
    of it, which names what is wrong. :meth:`close` it.
    """

    def __init__(self, path: Path, width: int, rows: int, size: int) -> None:
        self.path, self.width = path, width
        expected = _npy_header((rows, width))
        self.start = len(expected)
        self.mapped: np.ndarray | None = None
        try:
            self.fd = os.open(path, os.O_RDONLY)
            info = os.fstat(self.fd)
        except OSError as err:
            raise BadStore(f"cannot be read ({err.strerror})", path.name) from None
        found = info.st_size if stat.S_ISREG(info.st_mode) else -1
        if found != size:
            self.close()
            raise BadStore(f"expected a file of {size:,} bytes (store.json's), not {found:,}", path.name)
        if os.pread(self.fd, len(expected), 0) != expected:
            self.close()
            check_npy(path, "<f8", (width,), rows, exact=True)  # (refuses it, saying what is wrong)
            self.mapped = np.load(path, mmap_mode="r")

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop``."""
        if self.mapped is not None:
            return np.array(self.mapped[start:stop])
        size = 8 * (stop - start) * self.width
        data = os.pread(self.fd, size, self.start + 8 * start * self.width)
        if len(data) != size:
            raise BadStore("shorter than its header says", self.path.name)
        return np.frombuffer(data, dtype="<f8").reshape(stop - start, self.width)

    def close(self) -> None:
        """Closes the file (once)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@lru_cache(maxsize=256)
def _npy_header(shape: tuple[int, ...]) -> bytes:
    """The header ``np.save`` writes for float64 rows of ``shape``."""
    return _npy_header_of(np.dtype("<f8"), shape)


def _npy_header_of(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """The header ``np.save`` writes for an array of ``dtype`` and ``shape`` (format 1.0)."""
    header = io.BytesIO()
    descr = np.lib.format.dtype_to_descr(dtype)
    np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
    return header.getvalue()


@dataclass
class KeptRows:
    """A round's kept particles: each one's micrograph (``groups`` into ``mic_names``), centre (Å) and score."""

    groups: np.ndarray
    mic_names: list[str]
    centres: np.ndarray
    scores: np.ndarray


@dataclass
class KeptStore:
    """The kept particles of earlier rounds, by micrograph (``kept_store/``), and the running file's state."""

    folder: Path
    round: int
    record: dict[str, Any] | None
    segments: list[dict[str, Any]]
    #: The index's files, oldest first (their sizes and CRC-32 checked when loaded).
    index: list[IndexFile]
    kept: int
    running: RunningFile | None
    #: Whether the store was read from its store.json (else none was there): what a commit expects to find.
    marker_read: bool = False
    #: The kind of its rounds' files: "star" (rows appended to the running file) or "cs" (it is rewritten).
    kind: str = "star"

    @property
    def running_path(self) -> Path:
        """The running kept file, beside the store."""
        return self.folder.parent / RUNNING_FILES[self.kind]

    def segment_file(self, round_: int) -> Path:
        """The centres (Å) and ranking scores of the particles round ``round_`` kept."""
        return self.folder / f"kept-{round_}.npy"

    def index_file(self, round_: int) -> Path:
        """The index written by round ``round_``."""
        return self.folder / f"index-{round_}.npy"

    def check_record(self, record: dict[str, Any]) -> None:
        """Refuses a round whose decision options, score or dimensions differ from the store's, naming the option."""
        stored = self.record
        if stored is None:
            return
        changed = changed_option(DECISION_OPTIONS, record, stored)
        if changed:
            flag, now, was = (v if v is not None else "default" for v in changed)
            raise CryodedupError(
                f"{self.folder / MARKER}: {flag} {now} here, {was} in the store's rounds: an --update round decides "
                f"as the earlier ones did; give {flag} {was}, or another output folder for a new set"
            )
        for key, what in (("score", "ranked by"), ("higher_is_better", "higher scores first"), ("dims", "dimensions")):
            if stored[key] != record[key]:
                raise CryodedupError(
                    f"{self.folder / MARKER}: these particles have {what} {record[key]}, the store's rounds "
                    f"{stored[key]}: an --update round ranks as the earlier ones did"
                )

    def rows_on(self, names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The kept particles on the micrographs ``names``: (index into ``names``, centres, scores).

        The micrographs are found in each index file by bisection; only their entries are
        checked, and only their rows read (each segment's size and header checked first).
        """
        dims = 2 if self.record is None else int(self.record["dims"])
        none = np.zeros(0, np.int64), np.zeros((0, dims)), np.zeros(0)
        if not self.index or not names:
            return none
        wanted = np.array([name.encode("utf-8", errors="surrogateescape") for name in names], dtype=object)
        found = []
        try:
            for file in self.index:
                which, entries = file.find(wanted)
                self._check_entries(file, entries)
                found.append((which, entries["segment"], entries["start"], entries["stop"]))
            which, segment, start, stop = (np.concatenate(column) for column in zip(*found))
            order = np.lexsort((segment, which))  # (by micrograph, its earlier segments first)
            return self._read_rows(which[order], segment[order], start[order], stop[order], dims)
        except BadStore as err:
            raise damaged(self.folder / (err.file or MARKER), str(err)) from None

    def _check_entries(self, file: IndexFile, entries: np.ndarray) -> None:
        """The index entries a round reads each name a segment and a range inside it.

        (The order by name that bisection relies on is the file's as written: its CRC-32 checked.)
        """
        name = self.index_file(file.round).name
        rows = np.array([s["rows"] for s in self.segments], dtype=np.int64)
        segment, start, stop = entries["segment"], entries["start"], entries["stop"]
        expect(bool(((segment >= 0) & (segment < len(rows))).all()), "", f"segments 0 to {len(rows) - 1}", name)
        inside = (start >= 0) & (start < stop) & (stop <= rows[np.clip(segment, 0, len(rows) - 1)])
        expect(bool(inside.all()), "", "ranges inside segments", name)

    def _read_rows(
        self, which: np.ndarray, segment: np.ndarray, start: np.ndarray, stop: np.ndarray, dims: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows of the entries (each segment opened once), with the micrograph each belongs to."""
        if not len(which):
            return np.zeros(0, np.int64), np.zeros((0, dims)), np.zeros(0)
        opened: dict[int, SegmentFile] = {}
        found = []
        try:
            for s, a, b in zip(segment.tolist(), start.tolist(), stop.tolist()):
                if s not in opened:
                    entry = self.segments[s]
                    opened[s] = SegmentFile(self.segment_file(entry["round"]), dims + 1, entry["rows"], entry["bytes"])
                found.append(opened[s].rows(a, b))
        finally:
            for segment_file in opened.values():
                segment_file.close()
        rows_found = np.concatenate(found)
        return np.repeat(which, stop - start), rows_found[:, :dims], rows_found[:, dims]

    # --- writing a round ---

    def next_round(self) -> int:
        """The number of the round to write: past the store's and every numbered file in its folder."""
        numbers = [int(m[2]) for p in self._listing() if (m := OWN_FILE.fullmatch(p))]
        return max([self.round, *numbers]) + 1

    def _listing(self) -> list[str]:
        try:
            return os.listdir(self.folder)
        except OSError:
            return []

    def save_segment(self, round_: int, kept: KeptRows) -> tuple[dict[str, Any], list[IndexFile]]:
        """Writes round ``round_``'s kept rows (sorted by micrograph) and its index file.

        Returns the segment's entry in ``store.json`` and the index's files once the round's is
        added: merged with the last ones while each is not more than twice its size (then written
        as this round's file; the files merged are left for the commit to remove).
        """
        used = np.unique(kept.groups)
        encoded = np.array([kept.mic_names[g].encode("utf-8", errors="surrogateescape") for g in used], dtype=object)
        by_name = np.argsort(encoded, kind="stable") if len(used) else np.zeros(0, np.int64)
        rank = np.zeros(max(len(kept.mic_names), 1), dtype=np.int64)
        rank[used[by_name]] = np.arange(len(used))
        order = np.argsort(rank[kept.groups], kind="stable")
        rows = np.empty((len(order), kept.centres.shape[1] + 1), dtype="<f8")
        rows[:, :-1], rows[:, -1] = kept.centres[order], kept.scores[order]
        _write_new(self.segment_file(round_), _npy_bytes(rows))
        bounds = np.r_[0, np.cumsum(np.bincount(rank[kept.groups], minlength=len(used)))]
        names = encoded[by_name]
        added = np.zeros(len(names), index_dtype(max(map(len, names), default=1)))
        added["name"], added["segment"] = names, len(self.segments)
        added["start"], added["stop"] = bounds[:-1], bounds[1:]
        files = [*self.index, IndexFile(round_, added)]
        while len(files) > 1 and len(files[-2].entries) <= 2 * len(files[-1].entries):
            files[-2:] = [IndexFile.merged(files[-2], files[-1])]
        last = files[-1]
        data = _npy_bytes(last.entries)
        _write_new(self.index_file(round_), data)
        last.bytes, last.crc32 = len(data), zlib.crc32(data)
        size = os.stat(self.segment_file(round_)).st_size
        return {"round": round_, "rows": len(kept.groups), "bytes": size}, files

    def state(self, round_: int, pending: dict[str, Any] | None) -> dict[str, Any]:
        """``store.json`` of this store at round ``round_``, with a round ``pending`` (or None)."""
        return {
            "format": FORMAT,
            "version": __version__,
            "round": round_,
            "record": self.record,
            "segments": self.segments,
            "index": [file.as_json() for file in self.index],
            "kept": self.kept,
            "running": None if self.running is None else self.running.as_json(),
            "pending": pending,
        }

    def save_state(self, state: dict[str, Any]) -> None:
        """Writes ``store.json`` whole (renamed into place)."""
        save_atomic(self.folder / MARKER, lambda f: f.write(json.dumps(state).encode()))


def load_store(folder: Path, kind: str = "star") -> KeptStore | None:
    """The store in ``folder`` checked, a round stopped halfway rolled back; None when there is none.

    A store of another ``kind`` of files (RELION STAR, CryoSPARC .cs) is refused in one line.
    """
    marker = folder / MARKER
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise damaged(folder, "not a folder")
    if not os.path.lexists(marker):
        return None
    remove_own_leftovers(folder)
    try:
        state = read_state(marker)
        _refuse_earlier_format(marker, state)
        check_state(state)
        index = [load_index_file(folder, entry) for entry in state["index"]]
    except BadStore as err:
        raise damaged(folder / err.file if err.file else marker, str(err)) from None
    stored = state["record"]["kind"] if state["record"] else kind
    if stored != kind:
        raise CryodedupError(
            f"{folder.parent}: its running kept set is {KINDS[stored]} ({RUNNING_FILES[stored]}), this batch "
            f"{KINDS[kind]}: an --update round adds particles of the kind the earlier rounds had; give another "
            "output folder"
        )
    store = KeptStore(
        folder,
        state["round"],
        state["record"],
        state["segments"],
        index,
        state["kept"],
        None if state["running"] is None else RunningFile.of(state["running"]),
        marker_read=True,
        kind=kind,
    )
    if state["pending"] is not None:
        roll_back(store, state["pending"])
    if store.running is not None and (why := store.running.recognised(store.running_path)):
        raise CryodedupError(
            f"{store.running_path}: {why}: changed since the last --update round, so rows cannot be appended to it; "
            "restore it, or start anew with --update --force"
        )
    return store


def roll_back(store: KeptStore, pending: dict[str, Any]) -> None:
    """Undoes a round stopped between its ``pending`` mark and its commit (the file truncated, its segments removed).

    A .cs round's: the file it replaced put back (it was moved aside), its new file removed.
    """
    path, before = store.running_path, store.running
    aside = store.folder / CS_BEFORE
    if store.kind == "cs" and os.path.lexists(aside):
        if before is None or before.recognised(aside) is not None:
            raise damaged(aside, "a round stopped while replacing the running file left one the store does not know")
        os.replace(aside, path)
    elif store.kind == "cs" and before is not None:  # (appended to in place, or stopped before it was replaced)
        if before.recognised(path) is not None:
            _roll_back_cs_append(path, before, pending)
    elif before is None:  # (the round was the first: the file, made whole and renamed, is the round's or absent)
        if os.path.lexists(path):
            if RunningFile.of(pending["after"]).recognised(path) is not None:
                raise damaged(path, "a first round stopped before its end left a file the store does not recognise")
            remove_file(path)
    else:
        try:
            size = os.stat(path).st_size
            tail = file_tail(path, before.rows_end) if size >= before.rows_end else b""
            ok = size >= before.rows_end and sha256_bytes(tail) == pending["rows_tail_sha256"]
        except OSError:
            ok = False
        if not ok:
            raise damaged(path, "a round stopped while appending to it, and it no longer begins as the store left it")
        with open(path, "r+b") as f:
            f.truncate(before.rows_end)
            f.seek(before.rows_end)
            f.write(before.suffix)
    for kind in ("kept", "index"):
        remove_file(store.folder / f"{kind}-{pending['round']}.npy")
    remove_file(store.folder / CS_NEW)
    store.save_state(store.state(store.round, None))


def remove_own_leftovers(folder: Path) -> None:
    """Removes the temporary files of rounds whose process is gone (killed while writing)."""
    for name in os.listdir(folder):
        match = OWN_TEMPORARY.fullmatch(name)
        if match and int(match[3]) != os.getpid() and not process_alive(int(match[3])):
            remove_file(folder / name)


def damaged(where: Path, what: str) -> CryodedupError:
    """The one line of a damaged store: what is wrong, and that --update --force starts anew."""
    return CryodedupError(
        f"{where}: {what}; the particle --update store is damaged: --update --force starts the running kept "
        "set anew from this batch (files the store did not write are kept)"
    )


def open_store(outdir: Path, force: bool, log: Any, kind: str = "star") -> KeptStore:
    """The store of ``outdir`` for rounds of ``kind``'s files, checked (empty for a first round, or with ``force``).

    A running file that no store records is refused (``force`` replaces it).
    """
    folder = outdir / STORE
    if force and os.path.lexists(folder / MARKER):
        _remove_store(folder)
        log(f"--update --force: {folder} started anew; the running kept set is this batch's", "warning")
    store = None if force else load_store(folder, kind)
    if store is None:
        store = KeptStore(folder, 0, None, [], [], 0, None, kind=kind)
    running = store.running_path
    if store.running is None and os.path.lexists(running) and not force:
        raise CryodedupError(
            f"{running}: not written by an --update round (no {STORE}/{MARKER} records it), so rows cannot be "
            "appended to it; give another output folder, or --force to replace it"
        )
    return store


def _remove_store(folder: Path) -> None:
    """Removes the store's own files (its segments and marker); nothing else in the folder."""
    if not os.path.isdir(folder):
        raise damaged(folder, "not a folder")
    for name in os.listdir(folder):
        if OWN_FILE.fullmatch(name) or name in (MARKER, CS_NEW, CS_BEFORE):
            remove_file(folder / name)


def commit_round(store: KeptStore, round_: int, record: dict[str, Any], kept: KeptRows, running: Running) -> None:
    """Adds round ``round_``'s kept particles to the store and to the running file.

    ``round_`` is :meth:`KeptStore.next_round`; ``running`` changes the running file
    (:class:`StarAppend`, :class:`CsRewrite`). The segments are written, then ``store.json``
    marks the round ``pending`` with what the running file will be, the file is changed, then
    ``store.json`` is committed.
    """
    _refuse_another_round(store)
    store.folder.mkdir(parents=True, exist_ok=True)
    remove_own_leftovers(store.folder)
    store.record = store.record or record
    segment, index = store.save_segment(round_, kept)
    after, earlier = running.prepare(store)
    pending = {"round": round_, "after": after.as_json(), "rows_tail_sha256": sha256_bytes(earlier)}
    store.save_state(store.state(store.round, pending))
    running.apply(store)
    store.segments.append(segment)
    store.kept += len(kept.groups)
    store.running, store.round, store.index = after, round_, index
    store.save_state(store.state(round_, None))
    store.marker_read = True
    running.done(store)
    _remove_merged_index_files(store)


class Running:
    """How a round changes the running kept file: prepared, applied between ``pending`` and the commit, done."""

    def prepare(self, store: KeptStore) -> tuple[RunningFile, bytes]:
        """What the file will be, and the last bytes of what it holds now that the round keeps."""
        raise NotImplementedError

    def apply(self, store: KeptStore) -> None:
        """Changes the file (a stop here is rolled back by the next round: :func:`roll_back`)."""
        raise NotImplementedError

    def done(self, store: KeptStore) -> None:
        """After the commit: what the change left aside, removed."""


@dataclass
class StarAppend(Running):
    """A STAR round's kept rows appended to the running file (the first round's file written whole and renamed).

    ``round_file``: the round's kept STAR file (``header``'s prefix, its rows, the suffix).
    """

    round_file: Path
    header: tuple[bytes, bytes]

    def prepare(self, store: KeptStore) -> tuple[RunningFile, bytes]:
        """The file once the rows are appended (from the round file's last rows)."""
        prefix, suffix = self.header
        rows_start, rows_end = len(prefix), os.stat(self.round_file).st_size - len(suffix)
        self.rows = rows_start, rows_end
        before = store.running
        if before is None:
            empty = prefix + suffix
            before = RunningFile(
                len(empty), len(prefix), suffix, len(prefix), sha256_bytes(prefix), sha256_bytes(empty)
            )
            earlier = prefix[-TAIL_BYTES:]
        else:
            earlier = file_tail(store.running_path, before.rows_end)
        last_rows = _bytes_of(self.round_file, max(rows_start, rows_end - TAIL_BYTES), rows_end)
        return before.after(earlier + last_rows, rows_end - rows_start), earlier

    def apply(self, store: KeptStore) -> None:
        """The rows appended after the file's rows, the suffix after them."""
        path, before = store.running_path, store.running
        if before is None:
            save_atomic(path, lambda f: _copy(self.round_file, 0, os.stat(self.round_file).st_size, f))
            return
        with open(path, "r+b") as f:
            f.truncate(before.rows_end)
            f.seek(before.rows_end)
            _copy(self.round_file, *self.rows, f)
            f.write(before.suffix)


@dataclass
class CsRewrite(Running):
    """A .cs round's running file written anew (the earlier kept rows and the round's), renamed into place.

    The first round's, and a round whose records do not fit the file's types (a longer text
    than its field holds, a CSDAT file): its time grows with the running set. ``write(path)``
    writes the new file; the file it replaces is moved aside (``kept_store/running-before.cs``)
    until the commit, for a stopped round to be rolled back.
    """

    write: Callable[[Path], None]

    def prepare(self, store: KeptStore) -> tuple[RunningFile, bytes]:
        """The new file written beside the store (unnamed by store.json), and what it will be."""
        new = store.folder / CS_NEW
        remove_file(store.folder / CS_BEFORE)  # (a round stopped after its commit left it)
        _write_new_with(new, self.write)
        before = store.running
        earlier = b"" if before is None else file_tail(store.running_path, before.rows_end)
        return whole_file(new), earlier

    def apply(self, store: KeptStore) -> None:
        """The file moved aside, the new one renamed into its place."""
        if store.running is not None:
            os.replace(store.running_path, store.folder / CS_BEFORE)
        os.replace(store.folder / CS_NEW, store.running_path)

    def done(self, store: KeptStore) -> None:
        """The file moved aside, removed."""
        remove_file(store.folder / CS_BEFORE)


@dataclass
class CsAppend(Running):
    """A numpy .cs round's kept records appended to the running file in place, its header's row count rewritten.

    numpy leaves room in a header for the count to grow in the same length (``header``: the new
    one; ``rows``: the records' bytes, of the file's type). A stop between the two is rolled
    back by the next round (:func:`roll_back`: the file cut back, the count written back).
    """

    header: bytes
    rows: bytes

    def prepare(self, store: KeptStore) -> tuple[RunningFile, bytes]:
        """The file once the rows are appended and its header rewritten."""
        before, path = store.running, store.running_path
        assert before is not None, "a first round writes the file whole"
        earlier = file_tail(path, before.size)
        head = _bytes_of(path, len(self.header), min(before.size, TAIL_BYTES))
        head = (self.header + head + self.rows)[:TAIL_BYTES]
        size = before.size + len(self.rows)
        tail = (earlier + self.rows)[-TAIL_BYTES:]
        return RunningFile(size, size, b"", len(head), sha256_bytes(head), sha256_bytes(tail)), earlier

    def apply(self, store: KeptStore) -> None:
        """The rows appended, then the header's count."""
        assert store.running is not None
        with open(store.running_path, "r+b") as f:
            f.truncate(store.running.size)
            f.seek(store.running.size)
            f.write(self.rows)
            f.seek(0)
            f.write(self.header)


def _roll_back_cs_append(path: Path, before: RunningFile, pending: dict[str, Any]) -> None:
    """A .cs stopped while appending to it in place: cut back to its rows before, their count written back."""
    try:
        size = os.stat(path).st_size
        begins = size >= before.size and sha256_bytes(file_tail(path, before.size)) == pending["rows_tail_sha256"]
        if begins:
            with open(path, "r+b") as f:
                _, dtype, start = read_npy_header(f, path.name)
                header = _npy_header_of(dtype, ((before.size - start) // max(dtype.itemsize, 1),))
                if len(header) == start:
                    f.truncate(before.size)
                    f.seek(0)
                    f.write(header)
    except (OSError, BadStore):
        pass
    if before.recognised(path) is not None:
        raise damaged(path, "a round stopped while appending to it, and it is no longer the file the store knows")


def whole_file(path: Path) -> RunningFile:
    """A running file written whole (a .cs): its size, its first and last bytes' SHA-256 (no suffix)."""
    size = os.stat(path).st_size
    head = _bytes_of(path, 0, min(size, TAIL_BYTES))
    return RunningFile(size, size, b"", len(head), sha256_bytes(head), sha256_bytes(file_tail(path, size)))


def _remove_merged_index_files(store: KeptStore) -> None:
    """Removes the index files ``store.json`` no longer names (merged into a later one), also a stopped round's."""
    named = {store.index_file(file.round).name for file in store.index}
    for name in store._listing():
        match = OWN_FILE.fullmatch(name)
        if match and match[1] == "index" and name not in named and int(match[2]) <= store.round:
            remove_file(store.folder / name)


def _refuse_another_round(store: KeptStore) -> None:
    """Refuses to commit when another round committed into the folder since this one loaded the store.

    The outputs' lock is held from the round's outputs on (``AtomicOutputs``): a round started
    meanwhile commits before it or waits; this one's decision was made without its kept particles.
    """
    marker = store.folder / MARKER
    try:
        state = json.loads(marker.read_bytes()) if os.path.lexists(marker) else None
    except (OSError, ValueError):
        state = {}
    now = (state.get("round"), state.get("pending")) if isinstance(state, dict) else None
    if now != ((store.round, None) if store.marker_read else None):
        raise CryodedupError(
            f"{marker}: another --update round into {store.folder.parent} ended while this one ran, so this batch "
            "was decided without its kept particles; nothing was added: run this batch again"
        )


def _write_new_with(path: Path, write: Callable[[Path], None]) -> None:
    """Writes a store file in place by ``write(path)`` (see :func:`_write_new`); removed if the writing fails."""
    try:
        write(path)
    except BaseException:
        remove_file(path)
        raise


def _write_new(path: Path, data: bytes) -> None:
    """Writes a round's own store file in place (no temporary name, no rename: 2 of a round's 6 renames).

    ``store.json`` names it only once it is whole (the round's commit); a round stopped before
    leaves it unnamed, and the next round's number is past it (:meth:`KeptStore.next_round`).
    """
    with open(path, "wb") as f:
        f.write(data)


def _bytes_of(path: Path, start: int, stop: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(stop - start)


def _copy(path: Path, start: int, stop: int, out: Any) -> None:
    """Bytes ``start`` to ``stop`` of ``path`` written to ``out``, a block at a time."""
    with open(path, "rb") as f:
        f.seek(start)
        left = stop - start
        while left > 0:
            block = f.read(min(left, 1 << 22))
            if not block:
                raise OSError(f"{path} ended early")
            out.write(block)
            left -= len(block)


# --- the schema, checked whole ---


def _refuse_earlier_format(marker: Path, state: Any) -> None:
    """One line for a store an earlier cryodedup wrote (its format is not damage: say so)."""
    found = state.get("format") if isinstance(state, dict) else None
    if isinstance(found, str) and found.startswith(FORMAT[:-1]) and found != FORMAT:
        raise CryodedupError(
            f"{marker}: format: {found!r}, written by an earlier cryodedup ({state.get('version', '?')}); this one "
            f"reads {FORMAT!r}: --update --force starts the running kept set anew from this batch (files the store "
            "did not write are kept)"
        )


def check_state(state: Any) -> None:
    """Raises :class:`BadStore` unless ``state`` is a whole store (its files not looked at)."""
    expect(isinstance(state, dict), "", "a JSON object")
    missing = [key for key in KEYS if key not in state]
    expect(not missing, missing[0] if missing else "", "present")
    expect(state["format"] == FORMAT, "format", repr(FORMAT))
    expect(isinstance(state["version"], str), "version", "text")
    round_, pending = state["round"], state["pending"]
    expect(is_int(round_) and 0 <= round_ <= MAX_ROUND, "round", f"a whole number from 0 to {MAX_ROUND}")
    _check_pending(pending, round_)
    _check_record(state["record"], round_)
    segments = state["segments"]
    expect(isinstance(segments, list), "segments", "a list")
    for k, segment in enumerate(segments):
        good = isinstance(segment, dict) and sorted(segment) == ["bytes", "round", "rows"]
        good = good and is_int(segment["round"]) and 1 <= segment["round"] <= round_
        good = good and is_int(segment["rows"]) and segment["rows"] >= 0
        good = good and is_int(segment["bytes"]) and segment["bytes"] > 0
        what = f'{{"round": 1 to {round_}, "rows": a whole number >= 0, "bytes": the file size}}'
        expect(good, f"segments[{k}]", what)
    rounds = [s["round"] for s in segments]
    expect(rounds == sorted(set(rounds)), "segments", "rounds in increasing order, each once")
    kept = state["kept"]
    expect(is_int(kept) and kept == sum(s["rows"] for s in segments), "kept", "the segments' rows in all")
    index = state["index"]
    expect(isinstance(index, list) and (round_ == 0) == (not index), "index", "a list, empty before the first round")
    for k, entry in enumerate(index):
        good = isinstance(entry, dict) and sorted(entry) == INDEX_KEYS and all(is_int(entry[n]) for n in INDEX_KEYS)
        good = good and 1 <= entry["round"] <= round_ and entry["rows"] >= 0 and entry["bytes"] > 0
        expect(good and 0 <= entry["crc32"] < 1 << 32, f"index[{k}]", f"{{round 1 to {round_}, rows, bytes, crc32}}")
    index_rounds = [entry["round"] for entry in index]
    expect(index_rounds == sorted(set(index_rounds)), "index", "rounds in increasing order, each once")
    running = state["running"]
    if round_ == 0:
        expect(running is None and not segments, "running", "null before the first round")
    else:
        _check_running(running, "running")


def _check_pending(pending: Any, round_: int) -> None:
    if pending is None:
        return
    expect(isinstance(pending, dict), "pending", "null or an object")
    expect(is_int(pending.get("round")) and pending["round"] > round_, "pending.round", f"a round after {round_}")
    _check_running(pending.get("after"), "pending.after")
    sha = pending.get("rows_tail_sha256")
    expect(round_ == 0 or (isinstance(sha, str) and bool(_SHA256.fullmatch(sha))), "pending.rows_tail_sha256", "64 hex")


def _check_record(record: Any, round_: int) -> None:
    if record is None:
        expect(round_ == 0, "record", "an object")
        return
    expect(isinstance(record, dict), "record", "an object")
    options = record.get("options")
    good = isinstance(options, dict) and sorted(options) == sorted(DECISION_OPTIONS)
    expect(good and all(_is_scalar(v) for v in options.values()), "record.options", "the decision's options")
    expect(isinstance(record.get("score"), str), "record.score", "the score column")
    expect(isinstance(record.get("higher_is_better"), bool), "record.higher_is_better", "true or false")
    expect(record.get("dims") in (2, 3), "record.dims", "2 or 3")
    expect(record.get("kind") in RUNNING_FILES, "record.kind", " or ".join(map(repr, RUNNING_FILES)))


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool)) or is_number(value)


def _check_running(entry: Any, key: str) -> None:
    expect(isinstance(entry, dict) and sorted(entry) == sorted(RUNNING_KEYS), key, f"an object of {RUNNING_KEYS}")
    sizes = [entry[k] for k in ("size", "rows_end", "header_bytes")]
    expect(all(is_int(v) and v >= 0 for v in sizes), key, "sizes as whole numbers >= 0")
    expect(isinstance(entry["suffix"], str), f"{key}.suffix", "text")
    suffix = len(entry["suffix"].encode("utf-8", errors="surrogateescape"))
    good = entry["header_bytes"] <= entry["rows_end"] and entry["rows_end"] + suffix == entry["size"]
    expect(good, key, "header <= rows' end, rows' end + suffix = size")
    for name in ("header_sha256", "tail_sha256"):
        expect(isinstance(entry[name], str) and bool(_SHA256.fullmatch(entry[name])), f"{key}.{name}", "64 hex digits")


def load_index_file(folder: Path, entry: dict[str, int]) -> IndexFile:
    """An index file, read whole: of ``store.json``'s size and CRC-32 (else refused), its header an index's."""
    path = folder / f"index-{entry['round']}.npy"
    name = path.name
    info = regular(path)
    expect(
        info.st_size == entry["bytes"],
        "",
        f"a file of {entry['bytes']:,} bytes (store.json's), not {info.st_size:,}",
        name,
    )
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BadStore(f"cannot be read ({err.strerror})", name) from None
    expect(zlib.crc32(data) == entry["crc32"], "", "the CRC-32 store.json records (the file was changed)", name)
    shape, dtype, data_start = read_npy_header(io.BytesIO(data), name)
    fields = dtype.names or ()
    good = fields == ("name", *(f for f, _ in INDEX_FIELDS)) and dtype["name"].kind == "S"
    good = good and all(dtype[f] == np.dtype(t) for f, t in INDEX_FIELDS)
    expect(good, "", "an index of (name, segment, start, stop)", name)
    expect(shape == (entry["rows"],), "", f"{entry['rows']} rows (store.json's)", name)
    entries = np.frombuffer(data, dtype, count=entry["rows"], offset=data_start)
    return IndexFile(entry["round"], entries, entry["bytes"], entry["crc32"])


def _npy_bytes(array: np.ndarray) -> bytes:
    """``array`` as ``np.save`` writes it (in one piece: written, then its CRC-32 taken)."""
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()
