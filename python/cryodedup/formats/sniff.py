"""What kind of input a path is, and the checks every reader makes before it opens one.

A reader opens only a regular file, not a folder or a pipe. The predicates of the input
kinds live here, apart from their readers, so that the particle job imports only the reader
its inputs need.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import CryodedupError
from ..outputs import StrPath


def is_glob(path: StrPath) -> bool:
    """Whether ``path`` is a pattern (``*``, ``?``, ``[``) that names files, as picker inputs may be."""
    return any(c in os.fspath(path) for c in "*?[")


def check_regular_file(path: StrPath, expected: str = "a file") -> Path:
    """``path`` as a Path, if it names a regular file (through links); else one clear error.

    A FIFO or a device would block the reader or be read to no end, and a folder cannot be
    read: each is refused with what it is.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CryodedupError(f"{path}: file not found") from None
    except OSError as err:
        raise CryodedupError(f"{path}: cannot read the file ({err.strerror})") from None
    if stat.S_ISREG(mode):
        return path
    what = (
        "a folder"
        if stat.S_ISDIR(mode)
        else "a named pipe (FIFO)"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
    )
    raise CryodedupError(f"{path}: is {what}, expected {expected}")


def is_cryosparc(path: StrPath) -> bool:
    """True for a CryoSPARC dataset (``.cs``) or result group (``.csg``), by its suffix."""
    return Path(path).suffix in (".cs", ".csg")


def is_dynamo_table(path: StrPath) -> bool:
    """Whether ``path`` names a Dynamo table (by its ``.tbl`` extension)."""
    return Path(path).suffix.lower() == ".tbl"


#: The suffixes of picker coordinate files that are not STAR files.
PICK_SUFFIXES = (".box", ".cbox", ".txt", ".tsv", ".csv", ".json")


def is_picker_output(path: StrPath) -> bool:
    """True for a picker's output: a folder, a glob pattern or a coordinate file.

    A coordinate file is known by its name, or is a STAR whose first 64 KiB show a
    coordinate list or coordinates without micrograph names, nor a particle table's marks.
    A particle STAR or a CryoSPARC file is not a picker's output.
    """
    text = str(path)
    path = Path(text)
    if path.is_dir() or (is_glob(text) and not path.exists()):
        return True
    if path.suffix in PICK_SUFFIXES or path.name.startswith("coords_suffix_"):
        return True
    if path.name.endswith(("_autopick.star", "_manualpick.star")):
        return True
    if path.suffix != ".star" or not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(65536).decode("utf-8", errors="replace")
    if "data_coordinate_files" in head:
        return True
    particle_marks = ("_rlnMicrographName", "_rlnTomoName", "_rlnImageName", "data_particles", "data_optics")
    return "_rlnCoordinateX" in head and not any(mark in head for mark in particle_marks)
