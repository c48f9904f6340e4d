"""The one exception type for mistakes in a user's input or options.

The CLI prints its message and exits with status 1, without a traceback; anything else
that escapes is a bug in cryodedup and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class CryodedupError(ValueError):
    """Bad input or options: the message names the file, line or field and what was expected.

    A ``ValueError``, so that callers of the Python API catch a bad value as they would
    any other (``except ValueError``).
    """


def alternatives(values: Sequence[Any]) -> str:
    """The values an option takes, as an error names them: ``a, b or c``."""
    words = [str(v) for v in values]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
