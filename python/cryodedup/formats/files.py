"""What readers check before they open a file: a regular file, not a folder or a pipe.

And where a RELION file's relative paths start (:func:`project_root`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import InputFileError
from ..paths import StrPath

__all__ = ["check_regular_file", "project_root"]


def check_regular_file(path: StrPath, expected: str = "a file") -> Path:
    """``path`` as a Path, if it names a regular file (through links); else one clear error.

    A FIFO or a device would block the reader or be read to no end, and a folder cannot be
    read: each is refused with what it is.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except OSError as err:
        raise InputFileError(f"{path}: cannot read the file ({err.strerror})") from None
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
    raise InputFileError(f"{path}: is {what}, expected {expected}")


def project_root(first: str, source: Path, project_dir: Path | None) -> Path:
    """The folder that relative paths in a RELION file start from.

    It is ``project_dir`` (default the current folder), else the first folder above ``source``
    where ``first`` exists.
    """
    roots = [project_dir or Path.cwd(), *list(source.resolve().parents)]
    for root in roots:
        try:
            if (root / first).exists():
                return root
        except OSError as err:  # e.g. a name longer than the system takes
            shown = first if len(first) <= 80 else first[:80] + f"... ({len(first)} characters)"
            raise InputFileError(f"{source}: names {shown}, which cannot be looked for ({err.strerror})") from None
    raise InputFileError(
        f"{source}: {first} is not found from {roots[0]} nor from the folders above {source}; "
        "run from the RELION project folder or give it with --project-dir"
    )
