"""The type of a path as users give one (a ``str`` or an ``os.PathLike``), which readers and writers alike take.

On the ground floor: a reader takes paths without standing on the output machinery (``outputs.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Union

__all__ = ["StrPath", "path_list"]

#: A path as users give one.
StrPath = Union[str, "os.PathLike[str]"]


def path_list(inputs: Iterable[StrPath]) -> list[StrPath]:
    """``inputs`` as a list, refusing one path given where a list is expected.

    A ``str`` is iterable: read as a list, each of its characters would be a file ("p: file not found").
    """
    if isinstance(inputs, (str, bytes, os.PathLike)):
        raise TypeError(
            f"inputs= must be a list of paths, got one: {os.fspath(inputs)!r} (give [{os.fspath(inputs)!r}])"
        )
    return list(inputs)
