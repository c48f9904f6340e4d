"""The particle job's ``--update`` store: the kept centres by micrograph, and the running kept file's state.

``OUTDIR/kept_store/`` holds, for every particle kept by an earlier round, its centre in Å
and its ranking score: ``centres-R.npy`` (float64, one row per particle, x y [z]) and
``scores-R.npy`` (float64) for round R, its rows sorted by micrograph; and ``store.json``,
the round's completion marker: the decision's options, the score column and order, the
segments, an index ``micrographs`` {name: [[segment, start, stop], ...]} and what the running
kept file (``OUTDIR/particles_kept.star``) held when the round ended: its size, where its rows
end (the text after them, ``suffix``, written again after each append), the SHA-256 of its
header and of its last bytes. A round loads only the rows of its own micrographs, memory-mapped:
its time and memory grow with the batch, not with the store.

A round appends to the running file in place; before it does, ``store.json`` records the
round as ``pending``. A round stopped between that and its commit leaves the file
half-appended: the next round finds ``pending``, checks that the file still begins as the
store left it, truncates it there and writes the suffix back (rolled back), then removes
the stopped round's segments. A running file the store does not recognise (its size, end or
header changed) is refused in one line, as is a store damaged or edited (checked whole
first: ``store.json``'s schema, then each segment's header and size).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    read_state,
    remove_file,
    save_atomic,
)

STORE = "kept_store"
MARKER = "store.json"
RUNNING = "particles_kept.star"
FORMAT = "cryodedup particle update store 1"
KEYS = ("format", "version", "round", "record", "segments", "micrographs", "kept", "running", "pending")
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
OWN_FILE = re.compile(r"(centres|scores)-[0-9]+\.npy")
OWN_TEMPORARY = re.compile(r"\.((centres|scores)-[0-9]+\.npy|store\.json)\.([0-9]+)\.tmp")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def decision_record(options: Any, score_label: str | None, higher: bool, dims: int) -> dict[str, Any]:
    """What the store's decisions depend on, as ``store.json`` keeps it."""
    record = {
        "options": {name: getattr(options, name) for name in DECISION_OPTIONS},
        "score": score_label,
        "higher_is_better": higher,
        "dims": dims,
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


@dataclass
class KeptStore:
    """The kept particles of earlier rounds, by micrograph (``kept_store/``), and the running file's state."""

    folder: Path
    round: int
    record: dict[str, Any] | None
    segments: list[dict[str, int]]
    micrographs: dict[str, list[list[int]]]
    kept: int
    running: RunningFile | None

    @property
    def running_path(self) -> Path:
        """The running kept file, beside the store."""
        return self.folder.parent / RUNNING

    def centres_file(self, round_: int) -> Path:
        """The centres (Å) of the particles round ``round_`` kept."""
        return self.folder / f"centres-{round_}.npy"

    def scores_file(self, round_: int) -> Path:
        """The ranking scores of the particles round ``round_`` kept."""
        return self.folder / f"scores-{round_}.npy"

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

        Only their rows are read (segments memory-mapped).
        """
        dims = 2 if self.record is None else int(self.record["dims"])
        which: list[np.ndarray] = []
        centres: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        opened: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for k, name in enumerate(names):
            for segment, start, stop in self.micrographs.get(name, ()):
                if segment not in opened:
                    r = self.segments[segment]["round"]
                    opened[segment] = (
                        np.load(self.centres_file(r), mmap_mode="r"),
                        np.load(self.scores_file(r), mmap_mode="r"),
                    )
                c, s = opened[segment]
                centres.append(np.asarray(c[start:stop]))
                scores.append(np.asarray(s[start:stop]))
                which.append(np.full(stop - start, k, dtype=np.int64))
        if not which:
            return np.zeros(0, np.int64), np.zeros((0, dims)), np.zeros(0)
        return np.concatenate(which), np.concatenate(centres), np.concatenate(scores)

    # --- writing a round ---

    def next_round(self) -> int:
        """The number of the round to write: past the store's and every numbered file in its folder."""
        numbers = [int(m[0].split("-")[1].split(".")[0]) for p in self._listing() if (m := OWN_FILE.fullmatch(p))]
        return max([self.round, *numbers]) + 1

    def _listing(self) -> list[str]:
        try:
            return os.listdir(self.folder)
        except OSError:
            return []

    def save_segment(self, round_: int, names: list[str], centres: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
        """Writes round ``round_``'s kept rows (sorted by micrograph) and returns the index entries it adds."""
        order = np.argsort(np.asarray(names, dtype=object), kind="stable") if names else np.zeros(0, np.int64)
        sorted_names = [names[k] for k in order]
        _save_array(self.centres_file(round_), np.ascontiguousarray(centres[order], dtype="<f8"))
        _save_array(self.scores_file(round_), np.ascontiguousarray(scores[order], dtype="<f8"))
        ranges: dict[str, list[int]] = {}
        for k, name in enumerate(sorted_names):
            if name in ranges:
                ranges[name][1] = k + 1
            else:
                ranges[name] = [k, k + 1]
        return ranges

    def state(self, round_: int, pending: dict[str, Any] | None) -> dict[str, Any]:
        """``store.json`` of this store at round ``round_``, with a round ``pending`` (or None)."""
        return {
            "format": FORMAT,
            "version": __version__,
            "round": round_,
            "record": self.record,
            "segments": self.segments,
            "micrographs": self.micrographs,
            "kept": self.kept,
            "running": None if self.running is None else self.running.as_json(),
            "pending": pending,
        }

    def save_state(self, state: dict[str, Any]) -> None:
        """Writes ``store.json`` whole (renamed into place)."""
        save_atomic(self.folder / MARKER, lambda f: f.write(json.dumps(state).encode()))


def load_store(folder: Path) -> KeptStore | None:
    """The store in ``folder`` checked whole, a round stopped halfway rolled back; None when there is none."""
    marker = folder / MARKER
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise damaged(folder, "not a folder")
    if not os.path.lexists(marker):
        return None
    remove_own_leftovers(folder)
    try:
        state = read_state(marker)
        check_state(state)
        check_segments(folder, state)
    except BadStore as err:
        raise damaged(folder / err.file if err.file else marker, str(err)) from None
    store = KeptStore(
        folder,
        state["round"],
        state["record"],
        state["segments"],
        state["micrographs"],
        state["kept"],
        None if state["running"] is None else RunningFile.of(state["running"]),
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
    """Undoes a round stopped between its ``pending`` mark and its commit (the file truncated, its segments removed)."""
    path, before = store.running_path, store.running
    if before is None:  # (the round was the first: the file, made whole and renamed, is the round's or absent)
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
            f.flush()
            os.fsync(f.fileno())
    for name in (f"centres-{pending['round']}.npy", f"scores-{pending['round']}.npy"):
        remove_file(store.folder / name)
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


def open_store(outdir: Path, force: bool, log: Any) -> KeptStore:
    """The store of ``outdir``, checked (empty for a first round, or with ``force``).

    A running file that no store records is refused (``force`` replaces it).
    """
    folder = outdir / STORE
    if force and os.path.lexists(folder / MARKER):
        _remove_store(folder)
        log(f"--update --force: {folder} started anew; the running kept set is this batch's", "warning")
    store = None if force else load_store(folder)
    if store is None:
        store = KeptStore(folder, 0, None, [], {}, 0, None)
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
        if OWN_FILE.fullmatch(name) or name == MARKER:
            remove_file(folder / name)


def commit_round(
    store: KeptStore,
    record: dict[str, Any],
    kept: tuple[list[str], np.ndarray, np.ndarray],
    round_file: Path,
    header: tuple[bytes, bytes],
) -> int:
    """Adds a round's kept particles to the store and its rows to the running file; returns the round's number.

    ``kept``: the kept rows' micrograph names, centres and scores; ``round_file``: the round's
    kept STAR file (``header``'s prefix, its rows, the suffix). The segments are written, then
    ``store.json`` marks the round ``pending`` and the rows are appended (the first round's file
    written whole and renamed), then ``store.json`` is committed.
    """
    prefix, suffix = header
    store.folder.mkdir(parents=True, exist_ok=True)
    remove_own_leftovers(store.folder)
    round_ = store.next_round()
    store.record = store.record or record
    ranges = store.save_segment(round_, *kept)
    rows_start, rows_end = len(prefix), os.stat(round_file).st_size - len(suffix)
    path, before = store.running_path, store.running
    if before is None:
        empty = prefix + suffix
        before = RunningFile(len(empty), len(prefix), suffix, len(prefix), sha256_bytes(prefix), sha256_bytes(empty))
        earlier = prefix[-TAIL_BYTES:]
    else:
        earlier = file_tail(path, before.rows_end)
    last_rows = _bytes_of(round_file, max(rows_start, rows_end - TAIL_BYTES), rows_end)
    after = before.after(earlier + last_rows, rows_end - rows_start)
    pending = {"round": round_, "after": after.as_json(), "rows_tail_sha256": sha256_bytes(earlier)}
    store.save_state(store.state(store.round, pending))
    if store.running is None:
        save_atomic(path, lambda f: _copy(round_file, 0, os.stat(round_file).st_size, f))
    else:
        with open(path, "r+b") as f:
            f.truncate(before.rows_end)
            f.seek(before.rows_end)
            _copy(round_file, rows_start, rows_end, f)
            f.write(suffix)
            f.flush()
            os.fsync(f.fileno())
    index = len(store.segments)
    store.segments.append({"round": round_, "rows": len(kept[0])})
    for name, (start, stop) in ranges.items():
        store.micrographs.setdefault(name, []).append([index, start, stop])
    store.kept += len(kept[0])
    store.running, store.round = after, round_
    store.save_state(store.state(round_, None))
    return round_


def _save_array(path: Path, values: np.ndarray) -> None:
    save_atomic(path, lambda f: np.save(f, values))


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
        good = isinstance(segment, dict) and sorted(segment) == ["round", "rows"]
        good = good and is_int(segment["round"]) and 1 <= segment["round"] <= round_
        good = good and is_int(segment["rows"]) and segment["rows"] >= 0
        expect(good, f"segments[{k}]", f'{{"round": 1 to {round_}, "rows": a whole number >= 0}}')
    rounds = [s["round"] for s in segments]
    expect(rounds == sorted(set(rounds)), "segments", "rounds in increasing order, each once")
    kept = state["kept"]
    expect(is_int(kept) and kept == sum(s["rows"] for s in segments), "kept", "the segments' rows in all")
    _check_index(state["micrographs"], [s["rows"] for s in segments])
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


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool)) or is_number(value)


def _check_index(index: Any, rows: list[int]) -> None:
    """``micrographs``: {name: [[segment, start, stop], ...]} within the segments, covering each row once."""
    expect(isinstance(index, dict), "micrographs", "an object")
    covered = [0] * len(rows)
    for name, ranges in index.items():
        key = f"micrographs[{name[:60]!r}]"
        expect(isinstance(ranges, list) and bool(ranges), key, "a list of [segment, start, stop]")
        for entry in ranges:
            good = isinstance(entry, list) and len(entry) == 3 and all(map(is_int, entry))
            good = good and 0 <= entry[0] < len(rows) and 0 <= entry[1] < entry[2] <= rows[entry[0]]
            expect(good, key, "[segment, start, stop] within the segments")
            covered[entry[0]] += entry[2] - entry[1]
    expect(covered == rows, "micrographs", "ranges that cover each segment's rows once")


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


def check_segments(folder: Path, state: dict[str, Any]) -> None:
    """Each segment's files: float64 rows, as many as ``store.json`` says (only their headers are read)."""
    dims = 2 if state["record"] is None else state["record"]["dims"]
    for segment in state["segments"]:
        r, rows = segment["round"], segment["rows"]
        check_npy(folder / f"centres-{r}.npy", "<f8", (dims,), rows, exact=True)
        check_npy(folder / f"scores-{r}.npy", "<f8", (), rows, exact=True)
