"""What the ``--update`` stores share: their marker read strictly, checks that name a key, files written whole.

The micrograph job's store (``micrographs/update.py``, ``micrographs/store_check.py``) and the
particle job's (``particles/store.py``) are checked whole before any of them is used, and each
of their files is written under a temporary name and renamed when complete: a damaged store
ends a round in one line naming the file and the key, a stopped round leaves the previous store.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = [
    "BadStore",
    "changed_option",
    "check_npy",
    "expect",
    "is_int",
    "is_number",
    "read_npy_header",
    "read_state",
    "regular",
    "remove_file",
    "save_atomic",
    "sha256_of",
    "temporary",
]

#: A marker past this size is not read (seen.json holds about 300 bytes a micrograph: 3 million micrographs).
MAX_MARKER_BYTES = 1 << 30


class BadStore(ValueError):
    """What is wrong with a store, as a phrase; ``file``: the store's file it is about (None: its marker)."""

    def __init__(self, what: str, file: str | None = None) -> None:
        super().__init__(what)
        self.file = file


def read_state(marker: Path) -> Any:
    """The marker as JSON, strictly (no NaN or Infinity, no nesting past Python's limit)."""
    try:
        info = os.stat(marker)
    except OSError as err:
        raise BadStore(f"cannot be read ({err.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise BadStore("is not a file")
    if info.st_size > MAX_MARKER_BYTES:
        raise BadStore(f"{info.st_size:,} bytes, more than a store's marker holds")
    try:
        text = marker.read_bytes().decode("utf-8")
        return json.loads(text, parse_constant=_no_constant)
    except OSError as err:
        raise BadStore(f"cannot be read ({err.strerror})") from None
    except (ValueError, RecursionError) as err:
        raise BadStore(f"is not valid JSON ({str(err)[:80] or type(err).__name__})") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def expect(ok: bool, key: str, what: str, file: str | None = None) -> None:
    """Raises :class:`BadStore` saying what ``key`` should hold, unless ``ok``."""
    if not ok:
        raise BadStore(f"{key}: expected {what}" if key else f"expected {what}", file)


def is_int(value: Any) -> bool:
    """A whole number as JSON gives one (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite number (a whole number past float's range is none: JSON holds any)."""
    if not (is_int(value) or isinstance(value, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def regular(path: Path) -> os.stat_result:
    """The stat of a store's plain file; :class:`BadStore` naming it when it is missing or not a file."""
    try:
        info = os.stat(path)
    except OSError as err:
        raise BadStore(f"cannot be read ({err.strerror})", path.name) from None
    if not stat.S_ISREG(info.st_mode):
        raise BadStore("not a file", path.name)
    return info


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int, int]:
    """A store's ``.npy`` file's shape, type, where its data starts and its size (only the header is read).

    Refuses (:class:`BadStore`) a file that is missing, not a file, not ``.npy`` or in Fortran order.
    """
    size = regular(path).st_size
    try:
        with open(path, "rb") as f:
            shape, dtype, data_start = read_npy_header(f, path.name)
    except OSError as err:
        raise BadStore(f"cannot be read ({err.strerror})", path.name) from None
    return shape, dtype, data_start, size


def read_npy_header(f: Any, name: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """The shape, type and data's start of the ``.npy`` file open as ``f`` (at its start), read from its header.

    Refuses (:class:`BadStore` naming ``name``) a file not ``.npy`` or in Fortran order.
    """
    try:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f".npy version {version}")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
    except Exception as err:  # numpy's header parser fails with errors of its own (tokenize's TokenError)
        raise BadStore(f"not a .npy file ({str(err)[:80] or type(err).__name__})", name) from None
    expect(not fortran, "", "an array in C order", name)
    return tuple(shape), dtype, f.tell()


def check_npy(path: Path, dtype: str, tail: tuple[int, ...], rows: int, exact: bool = False) -> None:
    """The ``.npy`` file holds ``dtype`` rows of shape ``tail``, at least (``exact``: exactly) ``rows`` of them.

    And as many bytes as its header describes (a truncated or padded file is refused).
    """
    shape, stored, data_start, size = npy_header(path)
    name = path.name
    item = np.dtype(dtype)
    described = "x".join(map(str, tail)) or "scalar"
    expect(stored == item, "", f"{item.name} values, not {stored.name}", name)
    expect(len(shape) == 1 + len(tail) and tuple(shape[1:]) == tail, "", f"rows of {described}, not {shape}", name)
    expect(shape[0] == rows if exact else shape[0] >= rows, "", f"{rows} rows (the store's), not {shape[0]}", name)
    expected = data_start + item.itemsize * int(np.prod(shape))
    expect(size == expected, "", f"{expected:,} bytes (its header's rows), not {size:,}", name)


def save_atomic(path: Path, write: Callable[[Any], None]) -> None:
    """Writes ``path`` by ``write(file)`` under a temporary name, renamed when complete."""
    with temporary(path) as tmp:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)


@contextmanager
def temporary(path: Path) -> Iterator[Path]:
    """The temporary name of a store file being written (``.NAME.PID.tmp``), removed if the block fails.

    A stop (SIGINT, SIGTERM: ``signals.Stopped``) or a write error in the block must not leave
    it behind; after the rename there is nothing to remove.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
    except BaseException:
        remove_file(tmp)
        raise


def remove_file(path: Path) -> None:
    """Removes ``path`` if it is a plain file (never a folder or a link's target); gone already is fine."""
    try:
        if stat.S_ISREG(os.lstat(path).st_mode):
            path.unlink()
    except FileNotFoundError:
        pass


def changed_option(names: Sequence[str], mine: dict[str, Any], other: dict[str, Any]) -> tuple[str, Any, Any] | None:
    """The first option of ``names`` whose values in two records' "options" differ: (flag, mine, other)."""
    for name in names:
        a, b = mine["options"].get(name), other["options"].get(name)
        if a != b:
            return f"--{name.replace('_', '-')}", a, b
    return None


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, in hex (a store's check that a file is the one its marker names)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
