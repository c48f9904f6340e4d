"""The exception for mistakes in a user's input or options, and its kinds.

:class:`CryodedupError` is every mistake; a caller that must tell them apart catches its kind
without reading the message: :class:`InputFileError` (an input file that cannot be read or
breaks its format), :class:`PixelSizeError` (a pixel size given that the files contradict),
:class:`FramesError` (inputs whose picks lie in two frames), :class:`OutputError` (an output
that cannot be written), :class:`DamagedStoreError` (an ``--update`` store found damaged),
:class:`RefusedRun` (a run refused after it looked, with what it saw for ``--json``) and
:class:`OptionError` (an option's value, or options together, refused: a usage error).
An error of the core (Rust) is raised as its kind by ``rust/python/src/errors.rs``, the one
mapping. The CLI prints the message without a traceback and exits with status 2 for an
:class:`OptionError` (click's status for a usage error, as for the values click itself
refuses), 1 for every other kind; anything else that escapes is a bug in cryodedup and keeps
its traceback.
"""

from __future__ import annotations

__all__ = [
    "CryodedupError",
    "DamagedStoreError",
    "FramesError",
    "InputFileError",
    "OptionError",
    "OutputError",
    "PixelSizeError",
    "RefusedRun",
    "alternatives",
    "as_option_errors",
    "one_line",
    "printable",
    "shell_command",
    "shortened",
]

# Not typing's TYPE_CHECKING, nor the imports at run time: the package's __init__ imports this
# module before the command's signal handlers are in place, and typing with collections.abc
# cost 10-40 ms of that window (tests/cli/test_signals.py checks; cryodedup.entry).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


class CryodedupError(ValueError):
    """Bad input or options: the message names the file, line or field and what was expected.

    A ``ValueError``, so that callers of the Python API catch a bad value as they would
    any other (``except ValueError``). Each kind of mistake is a subclass (this module's
    docstring); one that is none of them (an option's value out of range) is this class itself.
    """


class InputFileError(CryodedupError):
    """An input file that cannot be read, or that breaks its format: the message names it, and its line or field."""


class PixelSizeError(CryodedupError):
    """A pixel size given (``--mic-psize``, ``--psize``) that the files contradict: headers, optics, tomograms."""


class FramesError(CryodedupError):
    """Inputs whose picks lie in two frames (an offset, swapped or mirrored axes, a scale): not merged as given."""


class OutputError(CryodedupError):
    """An output that cannot be written (a full disk, a folder without write permission): none was changed."""


class DamagedStoreError(CryodedupError):
    """An ``--update`` store found damaged: ``--update --force`` starts anew.

    Raised by the stores' checks (``jobs/store_db.refuse``, the micrograph job's ``update.damaged``).
    """


class RefusedRun(CryodedupError):
    """A run refused after it looked (a decision that cannot be trusted): ``document`` is what it saw.

    ``--json``'s refusal document holds ``document``'s keys (a verdict's ``why`` and ``trusted``, the
    job's own numbers) and ``timings``, the seconds of the stages run until the refusal (set by the runner).
    """

    def __init__(self, message: str, document: dict[str, Any] | None = None):
        super().__init__(message)
        self.document = document or {}
        self.timings: dict[str, Any] | None = None


class OptionError(CryodedupError):
    """An option's value, or options given together, refused: a usage error (the command line's status 2)."""


def as_option_errors(check: Any) -> Any:
    """``check`` (an options' check) raising its plain :class:`CryodedupError` as an :class:`OptionError`.

    The other kinds (a file an option names that cannot be read) are kept.
    """

    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except CryodedupError as err:
            if type(err) is not CryodedupError:
                raise
            raise OptionError(str(err)) from None

    checked.__name__, checked.__qualname__, checked.__doc__ = check.__name__, check.__qualname__, check.__doc__
    checked.__wrapped__ = check  # type: ignore[attr-defined]
    return checked


#: {code point: how it is printed} of the characters a name may hold that a terminal would act
#: on or could not print: made when first needed (this module is imported at start-up).
_ESCAPES: dict[int, str] = {}


def printable(text: str) -> str:
    r"""``text`` as it may reach a terminal or a report: every character that could act escaped.

    A name read from a file or the file system may hold terminal escape sequences (``\x1b]0;``
    retitles the window, ``\x1b[2J`` clears the screen), other control characters, bidirectional
    overrides that show a name reversed, or bytes that are not UTF-8 (Python's surrogate escapes,
    which no terminal encoding takes), the line and paragraph separators U+2028 and U+2029 (a
    line break to some programs, and one no font lays out). Each is shown as ``\xNN`` or
    ``\uNNNN``; line breaks and tabs are kept (a message's own).
    """
    if not _ESCAPES:
        controls = [c for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in "\n\t"]
        _ESCAPES.update({c: f"\\x{c:02x}" for c in controls})
        _ESCAPES.update({c: f"\\u{c:04x}" for c in (*range(0x2028, 0x202F), *range(0x2066, 0x206A), 0xFEFF)})
        _ESCAPES.update({c: f"\\u{c:04x}" for c in range(0xD800, 0xE000)})
        _ESCAPES.update({c: f"\\x{c - 0xDC00:02x}" for c in range(0xDC80, 0xDD00)})  # a byte, as os.fsdecode took it
    return text.translate(_ESCAPES)


def shell_command(words: Sequence[str]) -> str:
    r"""``words`` as one command line a POSIX shell reads back as them, every character of it printable.

    The command a report prints to be copied: a word :func:`printable` would change (a terminal's escape
    sequence, ``\r``, a byte that is not UTF-8), or that holds a line break or a tab, is written in the shell's
    ``$'...'`` quoting (bash, zsh, ksh; POSIX.1-2024), each such character as the bytes of its name
    (``$'a\x1b]0;x\x07b'``), so that the command printed, pasted, names the file; any other word is
    ``shlex.quote``'s.
    """
    import shlex

    return " ".join(
        _shell_bytes(word) if printable(word) != word or "\n" in word or "\t" in word else shlex.quote(word)
        for word in words
    )


def _shell_bytes(word: str) -> str:
    r"""``word`` in ``$'...'``: its printable characters as they are (``\`` and ``'`` escaped), the others as bytes."""
    shown = []
    for char in word:
        if char in "\\'":
            shown.append("\\" + char)
        elif printable(char) == char and char not in "\n\t":
            shown.append(char)
        else:  # (a byte os.fsdecode took as a surrogate: that byte; else the character's UTF-8)
            raw = bytes([ord(char) - 0xDC00]) if 0xDC80 <= ord(char) < 0xDD00 else char.encode("utf-8", "surrogatepass")
            shown.append("".join(f"\\x{byte:02x}" for byte in raw))
    return "$'" + "".join(shown) + "'"


def one_line(value: str) -> str:
    r"""A value the user gave, as a one-line message quotes it: its line breaks shown as ``\n`` and ``\r``.

    And every other character that could act or break the line (:func:`printable`: U+2029 too).
    """
    return printable(value.replace("\r", "\\r").replace("\n", "\\n"))


def shortened(name: str, limit: int = 120) -> str:
    """``name`` for a message: one too long to print (a path beyond PATH_MAX) cut, with its length."""
    return name if len(name) <= limit else f"{name[:limit]}... ({len(name):,} characters)"


def alternatives(values: Sequence[Any]) -> str:
    """The values an option takes, as an error names them: ``a, b or c``."""
    words = [str(v) for v in values]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
