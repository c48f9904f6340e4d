"""The type of a path as users give one (a ``str`` or an ``os.PathLike``), which readers and writers alike take.

On the ground floor: a reader takes paths without standing on the output machinery (``outputs.py``).
"""

from __future__ import annotations

import os
from typing import Union

__all__ = ["StrPath"]

#: A path as users give one.
StrPath = Union[str, "os.PathLike[str]"]
