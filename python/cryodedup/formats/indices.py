"""Index files: the 0-based rows of a particle file that a downstream tool chose.

cryoDRGN, drgnai, recovar and cryostar hand back a subset as a pickled integer numpy array or
list (``ind.pkl``); numpy's ``.npy`` and a text file with one integer a line hold the same.
A pickle is a program: it is loaded here by :class:`_IntegersOnly`, an unpickler that rebuilds
numpy arrays, their dtypes and scalars, and lists, and refuses every other global before it is
called, so a pickle that would run a command is refused and never runs (docs/developers/subsets.md).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from ..errors import InputFileError

__all__ = ["checked_indices", "is_index_file", "read_indices"]

#: The file endings read as index files (any other subset is a particle file).
INDEX_SUFFIXES = (".pkl", ".pickle", ".npy", ".txt", ".ind", ".csv")

#: The globals a pickle of integers may name: numpy's array and scalar reconstruction, its dtype, list.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    # (protocol 5, pickle.dump(array, f, protocol=5): numpy rebuilds an array from its bytes by this one)
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("builtins", "list"),
    # (protocols 0-2, numpy's ndarray.dump and pickle.dump(array, f, protocol=2): the array's bytes are a latin-1
    # string turned back into bytes by this one; encoding a string runs nothing)
    ("_codecs", "encode"),
}


class _Refused(pickle.UnpicklingError):
    """A global the pickle names that :class:`_IntegersOnly` does not rebuild (the pickle is not run)."""


class _IntegersOnly(pickle.Unpickler):
    """An unpickler that finds numpy's array reconstruction and ``list`` alone: any other global is refused."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED:
            raise _Refused(f"{module}.{name}")
        return super().find_class(module, name)


def is_index_file(path: Path) -> bool:
    """Whether ``path`` is read as an index file (by its ending)."""
    return path.suffix.lower() in INDEX_SUFFIXES


def read_indices(path: Path) -> np.ndarray:
    """The integers ``path`` holds (int64, as given: unchecked against any file), or a one-line refusal."""
    suffix = path.suffix.lower()
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputFileError(f"{path}: cannot be read ({err.strerror or err})") from None
    if suffix in (".pkl", ".pickle"):
        value = _unpickled(path, data)
    elif suffix == ".npy":
        try:
            value = np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as err:
            raise InputFileError(f"{path}: not a numpy array of integers ({err})") from None
    else:
        return _text_indices(path, data)
    return _integers(path, value)


def _unpickled(path: Path, data: bytes) -> object:
    """The pickle's value, loaded by :class:`_IntegersOnly`: what would call anything else is refused, never run."""
    try:
        return _IntegersOnly(io.BytesIO(data)).load()
    except _Refused as err:
        raise InputFileError(
            f"{path}: refused: this pickle calls {err}, not only numpy's integer arrays or a list (an index pickle "
            "holds nothing else; it was not run)"
        ) from None
    except Exception as err:  # (a damaged pickle: any error of the loader, said in one line)
        raise InputFileError(
            f"{path}: not a readable pickle of integers ({err}); expected cryoDRGN's ind.pkl"
        ) from None


def _integers(path: Path, value: object) -> np.ndarray:
    """``value`` as a 1-D int64 array, or a refusal naming the first value that is no integer."""
    if isinstance(value, list) and not all(_is_integer(v) for v in value):
        bad = next(k for k, v in enumerate(value) if not _is_integer(v))
        raise InputFileError(f"{path}: item {bad} is {value[bad]!r}, not an integer (0-based row indices expected)")
    array = np.asarray(value)
    if array.ndim != 1:
        raise InputFileError(f"{path}: holds an array of shape {array.shape}, not a list of row indices")
    if array.size and array.dtype.kind == "f":
        whole = np.isfinite(array) & (array == np.round(array))
        if not whole.all():
            bad = int(np.flatnonzero(~whole)[0])
            raise InputFileError(
                f"{path}: item {bad} is {float(array[bad])!r}, not an integer (0-based row indices expected)"
            )
    elif array.size and array.dtype.kind not in "iu":
        raise InputFileError(f"{path}: holds {array.dtype} values, not integers (0-based row indices expected)")
    return array.astype(np.int64)


def _is_integer(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _text_indices(path: Path, data: bytes) -> np.ndarray:
    """One integer a line (blank lines and ``#`` comments skipped)."""
    found = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        text = line.split("#", 1)[0].strip().rstrip(",")
        if not text:
            continue
        try:
            found.append(int(text))
        except ValueError:
            raise InputFileError(f"{path}: line {number}: {text!r} is not an integer (one row index a line)") from None
    return np.asarray(found, dtype=np.int64)


def checked_indices(path: Path, indices: np.ndarray, rows: int, of: str) -> np.ndarray:
    """``indices`` refused where one is negative, at or past ``rows`` (the rows of ``of``) or repeated."""
    if indices.size and indices.min() < 0:
        bad = int(np.flatnonzero(indices < 0)[0])
        raise InputFileError(f"{path}: item {bad} is {int(indices[bad])}, negative (0-based row indices of {of})")
    if indices.size and indices.max() >= rows:
        bad = int(np.flatnonzero(indices >= rows)[0])
        raise InputFileError(
            f"{path}: item {bad} is {int(indices[bad])}, out of range: {of} has {rows:,} rows (0 to {rows - 1:,})"
        )
    ordered = np.sort(indices)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if repeated.size:
        raise InputFileError(
            f"{path}: row {int(repeated[0])} is given {int(np.count_nonzero(indices == repeated[0]))} times "
            f"({np.unique(repeated).size:,} rows repeated): each row of {of} once"
        )
    return indices
