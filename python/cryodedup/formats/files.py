"""The check every reader makes before it opens a file: a regular file, not a folder or a pipe."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import CryodedupError
from ..outputs import StrPath

__all__ = ["check_regular_file"]


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
