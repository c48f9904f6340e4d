"""What readers check before they open a file: a regular file, not a folder or a pipe, and not too large.

A file handed in, or found in a project, is trusted neither for its kind nor for its size: a
FIFO would block the reader for ever, a link to ``/dev/zero`` would be read to no end, a file
of a format that is small by nature (a ``job.json``, a ``job.star``, a pipeline, an EPU
``.xml``, an ``.mdoc``) but of gigabytes is no such file, and JSON nested thousands deep
would exhaust Python's stack. :func:`read_foreign` reads such a file whole only when it is a
regular file within the format's cap; :func:`read_foreign_json` also bounds the nesting.

And where a RELION file's relative paths start (:func:`project_root`).
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

from ..errors import InputFileError
from ..paths import StrPath

__all__ = [
    "SMALL_FILE_CAP",
    "check_regular_file",
    "exists",
    "is_folder",
    "project_root",
    "read_foreign",
    "read_foreign_json",
]

#: The cap of a metadata file that a program writes for one job, image or tilt series (a
#: ``job.json``, ``job.star``, ``note.txt``, ``default_pipeline.star``, an EPU ``.xml``, an
#: ``.mdoc``, an EMAN2 ``_info.json``, a shard's ``shard.json``): the largest seen are a few MB.
SMALL_FILE_CAP = 64 * 10**6
#: The deepest nesting of JSON read (a CryoSPARC job.json nests 5 deep): far below the depth at
#: which Python's parser raises RecursionError (about 1,000, less the caller's own depth).
JSON_DEPTH = 100
#: A JSON string (its escapes included), whose brackets do not nest; one never closed runs to the end. Always
#: matched from its opening quote (never tried again from each quote inside it): linear in the text.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)


def check_regular_file(path: StrPath, expected: str = "a file", cap: int | None = None) -> Path:
    """``path`` as a Path, if it names a regular file (through links) of at most ``cap`` bytes; else one clear error.

    A FIFO or a device would block the reader or be read to no end, and a folder cannot be
    read: each is refused with what it is. ``cap`` (None: no bound) is the largest size the
    format can have, for a reader that reads the file itself (a STAR file, mapped).
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except OSError as err:
        raise InputFileError(f"{path}: cannot read the file ({err.strerror})") from None
    if not stat.S_ISREG(mode):
        raise InputFileError(f"{path}: is {_kind(mode)}, expected {expected}")
    if cap is not None and (size := os.stat(path).st_size) > cap:
        raise _too_large(path, size, expected, cap)
    return path


def exists(path: StrPath) -> bool:
    """Whether ``path`` exists; one that cannot be looked at (a folder on its path without permission) does.

    Its reader then names it and why in one line, where ``Path.exists`` raised PermissionError.
    """
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def is_folder(path: StrPath) -> bool:
    """Whether ``path`` is a folder; one that cannot be looked at is not (its reader says why)."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def read_foreign(path: StrPath, expected: str, cap: int | None = SMALL_FILE_CAP) -> bytes:
    """The bytes of ``path``, if it names a regular file (through links) of at most ``cap`` bytes; else one clear error.

    The file is opened without blocking and checked as opened (a FIFO opens at once and is
    refused, a file swapped after a check is not read unchecked), and no more than ``cap``
    bytes are read (a file growing while read is refused too).

    Parameters
    ----------
    path : str or Path
        The file.
    expected : str
        What it should be, with its article (``"a CryoSPARC job.json"``): the error says it.
    cap : int or None
        The largest size the format can have, in bytes (None: no bound).

    Raises
    ------
    InputFileError
        Missing, unreadable, not a regular file, or larger than ``cap``, in one line naming the file.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except OSError as err:
        raise InputFileError(f"{path}: cannot read the file ({err.strerror})") from None
    try:
        mode, size = (st := os.fstat(fd)).st_mode, st.st_size
        if not stat.S_ISREG(mode):
            raise InputFileError(f"{path}: is {_kind(mode)}, expected {expected}")
        if cap is not None and size > cap:
            raise _too_large(path, size, expected, cap)
        with open(fd, "rb", closefd=False) as f:
            data = f.read() if cap is None else _read_to_cap(f, size, cap)
    except OSError as err:
        raise InputFileError(f"{path}: cannot read the file ({err.strerror})") from None
    finally:
        os.close(fd)
    if cap is not None and len(data) > cap:
        raise _too_large(path, len(data), expected, cap)
    return data


def _read_to_cap(file: Any, size: int, cap: int) -> bytes:
    """At most ``cap + 1`` bytes of an open file ``size`` bytes long when looked at.

    Asked for its size and a byte more (``read(n)`` allocates n bytes first: ``cap + 1`` would take 64 MB for
    each 10 KB file); a file that grew meanwhile is read on, to the cap.
    """
    want = min(size, cap) + 1
    data = file.read(want)
    if len(data) == want and want <= cap:
        data += file.read(cap + 1 - want)
    return data


def read_foreign_json(path: StrPath, expected: str, cap: int | None = SMALL_FILE_CAP, depth: int = JSON_DEPTH) -> Any:
    """``path`` parsed as JSON (read by :func:`read_foreign`), nested at most ``depth`` deep; else one clear error."""
    data = read_foreign(path, expected, cap)
    if _json_depth(data) > depth:
        raise InputFileError(f"{path}: JSON nested too deeply to be {expected} (more than {depth} levels)")
    try:
        return json.loads(data.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as err:
        raise InputFileError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}), expected {expected}"
        ) from None
    except RecursionError:  # (not reached under the depth bound; kept as one line should the caller be deep)
        raise InputFileError(f"{path}: JSON nested too deeply to be {expected}") from None
    except ValueError:  # not a JSONDecodeError: an integer longer than Python converts (4,300 digits)
        raise InputFileError(
            f"{path}: holds an integer of more than {sys.get_int_max_str_digits()} digits; expected {expected}"
        ) from None


def _json_depth(data: bytes, chunk: int = 1 << 22) -> int:
    """The deepest nesting of brackets in JSON text, strings left out (in chunks: memory a few times ``chunk``).

    Linear in the text: a string never closed (only what comes before it nests) is found in one pass.
    """
    import numpy as np  # (this module is imported by every reader; numpy only when JSON is read)

    bare = _JSON_STRING.sub(b"", data) if b'"' in data else data  # (an unterminated string taken to the end)
    deepest = level = 0
    for start in range(0, len(bare), chunk):
        codes = np.frombuffer(bare, np.uint8, min(chunk, len(bare) - start), start)
        steps = ((codes == ord("[")) | (codes == ord("{"))).astype(np.int8)
        steps -= (codes == ord("]")) | (codes == ord("}"))
        levels = np.cumsum(steps, dtype=np.int64) + level
        if levels.size:
            deepest, level = max(deepest, int(levels.max())), int(levels[-1])
    return deepest


def _kind(mode: int) -> str:
    """What a file that is not a regular one is, as an error says it."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    return "a socket" if stat.S_ISSOCK(mode) else "a device"


def _too_large(path: Path, size: int, expected: str, cap: int) -> InputFileError:
    return InputFileError(f"{path}: is {_bytes_text(size)}, larger than {expected} can be (cap {_bytes_text(cap)})")


def _bytes_text(size: int) -> str:
    """A size as a reader says it: ``3.4 GB``, ``64 MB``, ``812 bytes`` (decimal units)."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size:,} bytes"


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
