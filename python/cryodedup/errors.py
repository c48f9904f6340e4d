"""The one exception type for mistakes in a user's input or options.

The CLI prints its message and exits with status 1, without a traceback; anything else
that escapes is a bug in cryodedup and keeps its traceback.
"""

from __future__ import annotations

# Not typing's TYPE_CHECKING, nor the imports at run time: the package's __init__ imports this
# module before the command's signal handlers are in place, and typing with collections.abc
# cost 10-40 ms of that window (tests/test_signals.py checks; cryodedup.entry).
TYPE_CHECKING = False
if TYPE_CHECKING:
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
