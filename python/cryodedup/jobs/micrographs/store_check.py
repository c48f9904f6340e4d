"""Checks an ``--update`` store (``seen/``) whole before any of it is used.

A facility leaves ``--watch`` running for days, and a store edited by hand, damaged by a full
disk or half copied must end a round in one line, never with a traceback halfway through. So
``seen.json`` is checked against its schema (every key, type, range and length, and that the
lists agree with one another), then the files it names: the pairs file (its hash and its
arrays) and each images file (a plain file whose ``.npy`` header gives float32 images of the
stored size, and as many bytes as the header describes, enough rows for every image named).
Only the headers are read: a store of 100,000 images is checked in milliseconds.

:func:`check_state` is pure (the fuzz target's); :func:`check_files` looks at the disk.
"""

from __future__ import annotations

import itertools
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..store_files import BadStore, check_npy, sha256_of
from ..store_files import expect as _expect
from ..store_files import is_int as _is_int
from ..store_files import is_number as _is_number
from ..store_files import regular as _regular

__all__ = ["OWN_FILE", "check_files", "check_state", "pairs_csv_record"]

#: The keys of ``seen.json`` and what each holds (``layouts`` may be null; ``written``, ``pairs_added`` and
#: ``pairs_csv`` absent).
KEYS = ("format", "version", "round", "record", "files", "images", "layouts", "stamps", "pairs_file")
RECORD_KEYS = ("shape", "binning", "binned_psize", "band", "pearson_min_z", "options")
#: Rounds past this are not a store's: a name images-ROUND.npy must stay a short file name.
MAX_ROUND = 10**12
PAIR_ARRAYS = ("a", "b", "z", "dy", "dx", "pearson", "overlap")
OWN_FILE = re.compile(r"(images-[0-9]+\.npy|pairs-[0-9]+\.npz)")
_DTYPE = re.compile(r"[<>|=][iufc](1|2|4|8|16)")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_state(state: Any, fmt: str) -> None:
    """Raises :class:`BadStore` unless ``state`` is a whole store of format ``fmt`` (its files not looked at)."""
    if not isinstance(state, dict):
        raise BadStore("is not a JSON object")
    missing = [key for key in KEYS if key not in state]
    if missing:
        raise BadStore(f"has no {missing[0]!r}")
    if state["format"] != fmt:
        raise BadStore(f"format {str(state['format'])[:60]!r}, not {fmt!r}")
    _expect(isinstance(state["version"], str), "version", "text")
    round_ = state["round"]
    _expect(_is_int(round_) and 1 <= round_ <= MAX_ROUND, "round", f"a whole number from 1 to {MAX_ROUND}")
    _check_record(state["record"])
    files = state["files"]
    _expect(isinstance(files, list), "files", "a list")
    if not _all_absolute(files):
        for k, path in enumerate(files):
            _expect(_is_absolute(path), f"files[{k}]", "an absolute path")
    _expect(len(set(files)) == len(files), "files", "each micrograph once")
    n = len(files)
    images, layouts, stamps = state["images"], state["layouts"], state["stamps"]
    what = f"[round 1..{round_}, row >= 0]"
    _check_rows(images, n, "images", lambda at: _is_place(at, round_), what, _all_places(images, round_))
    if layouts is not None:
        what = "[offset >= 0, pixel type, pixel size > 0 or null]"
        _check_rows(layouts, n, "layouts", _is_layout, what, _all_layouts(layouts))
    what = "null or [size, time, inode] (whole numbers >= 0)"
    _check_rows(stamps, n, "stamps", _is_stamp, what, _all_stamps(stamps))
    _check_pairs_entry(state["pairs_file"], "pairs_file")
    added = state.get("pairs_added", [])
    _expect(isinstance(added, list), "pairs_added", "a list")
    for k, entry in enumerate(added):
        _check_pairs_entry(entry, f"pairs_added[{k}]")
    names = [entry["name"] for entry in (state["pairs_file"], *added)]
    _expect(len(set(names)) == len(names), "pairs_added", "files other than pairs_file and one another")
    written = state.get("written", [])
    _expect(isinstance(written, list), "written", "a list")
    for k, name in enumerate(written):
        _expect(
            isinstance(name, str) and bool(OWN_FILE.fullmatch(name)), f"written[{k}]", "images-N.npy or pairs-N.npz"
        )


def pairs_csv_record(record: Any) -> dict[str, Any] | None:
    """``seen.json``'s ``pairs_csv`` (what the last round's pairs.csv holds), None unless whole.

    Not refused when damaged: without it a round writes pairs.csv whole, as a fresh run does.
    """
    if not isinstance(record, dict) or not _is_stamp(record.get("stamp")) or record.get("stamp") is None:
        return None
    counts = [record.get("rows"), record.get("names")]
    digest = record.get("sha256")
    if not all(isinstance(v, int) and _is_int(v) and v >= 0 for v in counts):
        return None
    return record if isinstance(digest, str) and _SHA256.fullmatch(digest) else None


def _check_pairs_entry(entry: Any, key: str) -> None:
    """A pairs file as seen.json names it: ``{"name": "pairs-N.npz", "sha256": 64 hex digits}``."""
    _expect(isinstance(entry, dict), key, "an object")
    name, digest = entry.get("name"), entry.get("sha256")
    _expect(
        isinstance(name, str) and name.startswith("pairs-") and bool(OWN_FILE.fullmatch(name)),
        f"{key}.name",
        "pairs-N.npz",
    )
    _expect(isinstance(digest, str) and bool(_SHA256.fullmatch(digest)), f"{key}.sha256", "64 hex digits")


def _check_record(record: Any) -> None:
    _expect(isinstance(record, dict), "record", "an object")
    missing = [key for key in RECORD_KEYS if key not in record]
    _expect(not missing, f"record.{missing[0] if missing else ''}", "present")
    shape = record["shape"]
    _expect(
        isinstance(shape, list) and len(shape) == 2 and all(_is_int(v) and v >= 1 for v in shape),
        "record.shape",
        "[height, width], whole numbers >= 1",
    )
    binning = record["binning"]
    _expect(
        _is_int(binning) and 1 <= binning <= min(shape), "record.binning", "a whole number from 1 to the image size"
    )
    _expect(_is_number(record["binned_psize"]) and record["binned_psize"] > 0, "record.binned_psize", "a number > 0")
    band = record["band"]
    _expect(
        isinstance(band, list) and len(band) == 2 and all(_is_number(v) for v in band), "record.band", "two numbers"
    )
    _expect(_is_number(record["pearson_min_z"]), "record.pearson_min_z", "a number")
    options = record["options"]
    _expect(
        isinstance(options, dict) and all(_is_scalar(v) for v in options.values()),
        "record.options",
        "an object of numbers, text or null",
    )


def _check_rows(rows: Any, n: int, key: str, good: Any, what: str, all_good: bool = False) -> None:
    """Each of the ``n`` rows ``good``; ``all_good``: known already (one row at a time only to name a bad one)."""
    _expect(isinstance(rows, list), key, "a list")
    _expect(len(rows) == n, key, f"one entry per micrograph ({n}), not {len(rows)}")
    if all_good:
        return
    for k, row in enumerate(rows):
        _expect(good(row), f"{key}[{k}]", what)


# Whole lists at once (a store of 5,000 micrographs: 15,000 rows, checked one by one in 9 ms; issue 43).
# Each says True only when every row passes its one-row check; False sends the rows to that check,
# which names the first bad one.


def _is_absolute(path: Any) -> bool:
    return isinstance(path, str) and os.path.isabs(path) and "\0" not in path


def _all_absolute(files: list[Any]) -> bool:
    return set(map(type, files)) <= {str} and all(map(os.path.isabs, files)) and "\0" not in "".join(files)


def _whole_numbers(values: list[Any], columns: int) -> np.ndarray | None:
    """``values`` (every row a list of ``columns`` items) as int64 columns; None unless all are plain ints."""
    if not (set(map(type, values)) <= {list} and set(map(len, values)) <= {columns}):
        return None
    flat = list(itertools.chain.from_iterable(values))
    if not set(map(type, flat)) <= {int}:
        return None
    try:
        return np.array(flat, dtype=np.int64).reshape(-1, columns)
    except OverflowError:
        return None


def _all_places(rows: Any, round_: int) -> bool:
    places = _whole_numbers(rows, 2) if isinstance(rows, list) else None
    return places is not None and bool(((places[:, 0] >= 1) & (places[:, 0] <= round_) & (places[:, 1] >= 0)).all())


def _all_stamps(rows: Any) -> bool:
    stamps = _whole_numbers([s for s in rows if s is not None], 3) if isinstance(rows, list) else None
    return stamps is not None and bool((stamps >= 0).all())


def _all_layouts(rows: Any) -> bool:
    if not (isinstance(rows, list) and set(map(type, rows)) <= {list} and set(map(len, rows)) <= {3}):
        return False
    offsets, dtypes, psizes = zip(*rows) if rows else ((), (), ())
    if not (set(map(type, offsets)) <= {int} and set(map(type, dtypes)) <= {str}):
        return False
    if not all(_DTYPE.fullmatch(d) for d in set(dtypes)) or not set(map(type, psizes)) <= {int, float, type(None)}:
        return False
    try:
        numbers = np.array([offsets, [1 if p is None else p for p in psizes]], dtype=np.float64)
    except OverflowError:
        return False
    return bool(np.isfinite(numbers).all() and (numbers[0] >= 0).all() and (numbers[1] > 0).all())


def _is_place(at: Any, round_: int) -> bool:
    return isinstance(at, list) and len(at) == 2 and all(map(_is_int, at)) and 1 <= at[0] <= round_ and at[1] >= 0


def _is_layout(layout: Any) -> bool:
    if not (isinstance(layout, list) and len(layout) == 3):
        return False
    offset, dtype, psize = layout
    good_psize = psize is None or (_is_number(psize) and psize > 0)
    return _is_int(offset) and offset >= 0 and isinstance(dtype, str) and bool(_DTYPE.fullmatch(dtype)) and good_psize


def _is_stamp(stamp: Any) -> bool:
    return stamp is None or (isinstance(stamp, list) and len(stamp) == 3 and all(_is_int(v) and v >= 0 for v in stamp))


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str) or _is_number(value) or isinstance(value, bool)


def check_files(folder: Path, state: dict[str, Any]) -> dict[str, np.ndarray]:
    """Checks the files ``state`` names in ``folder``; returns the pairs (``check_state`` passed first).

    Raises :class:`BadStore` naming the file and what is wrong with it.
    """
    n = len(state["files"])
    parts = [
        _check_pairs(folder / e["name"], e["sha256"], n) for e in (state["pairs_file"], *state.get("pairs_added", []))
    ]
    pairs = parts[0] if len(parts) == 1 else {k: np.concatenate([part[k] for part in parts]) for k in PAIR_ARRAYS}
    ny, nx = state["record"]["shape"]
    binning = state["record"]["binning"]
    rows: dict[int, int] = {}
    for r, row in state["images"]:
        rows[r] = max(rows.get(r, 0), row + 1)
    for r, needed in sorted(rows.items()):
        _check_images(folder / f"images-{r}.npy", (ny // binning, nx // binning), needed)
    return pairs


def _check_pairs(path: Path, digest: str, n: int) -> dict[str, np.ndarray]:
    _regular(path)
    try:
        same = sha256_of(path) == digest
    except OSError as err:
        raise BadStore(f"cannot be read ({err.strerror})", path.name) from None
    if not same:
        raise BadStore("changed since seen.json was written (its SHA-256 differs)", path.name)
    if not zipfile.is_zipfile(path):
        raise BadStore("not a .npz file (no zip archive)", path.name)
    try:
        # The file opened here: numpy leaves the file it opens unclosed when it is no zip.
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as f:
            pairs = {k: f[k] for k in f.files}
    except Exception as err:  # a damaged file fails in zipfile, zlib or numpy's format, each with errors of its own
        raise BadStore(f"cannot be read ({str(err)[:80] or type(err).__name__})", path.name) from None
    _expect(sorted(pairs) == sorted(PAIR_ARRAYS), "", f"the arrays {', '.join(PAIR_ARRAYS)}", path.name)
    _expect(all(isinstance(v, np.ndarray) for v in pairs.values()), "", "numpy arrays (.npy)", path.name)
    length = len(pairs["a"]) if pairs["a"].ndim == 1 else -1
    _expect(all(v.ndim == 1 and len(v) == length for v in pairs.values()), "", "arrays of one length", path.name)
    _expect(all(pairs[k].dtype.kind in "iu" for k in "ab"), "a, b", "whole numbers", path.name)
    _expect(all(v.dtype.kind == "f" for k, v in pairs.items() if k not in "ab"), "", "scores as numbers", path.name)
    inside = all(((pairs[k] >= 0) & (pairs[k] < n)).all() for k in "ab")
    _expect(bool(inside), "a, b", f"micrographs 0 to {n - 1}", path.name)
    return pairs


def _check_images(path: Path, shape: tuple[int, int], rows: int) -> None:
    check_npy(path, "<f4", shape, rows)
