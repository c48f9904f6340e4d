"""The one exception type for mistakes in a user's input or options.

The CLI prints its message and exits with status 1, without a traceback; anything else
that escapes is a bug in cryodedup and keeps its traceback.
"""


class CryodedupError(ValueError):
    """Bad input or options: the message names the file, line or field and what was expected.

    A ``ValueError``, so that callers of the Python API catch a bad value as they would
    any other (``except ValueError``).
    """
