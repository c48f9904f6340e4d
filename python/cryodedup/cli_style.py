"""Which click declares the commands: rich-click (help and click's errors drawn with rich) or plain click.

A job's run shows no help and, once its command line is read, no error of click's; rich-click
and the parts of rich it loads are then a fixed cost of every run (about 75 M instructions,
a tenth of a small STAR job's; benches/RESULTS.md). The command line (:mod:`cryodedup.entry`)
declares the commands with plain click when nothing on it asks for help, and runs them the
way rich-click's ``main`` would; if click has something to say (a usage error), the command
runs again declared with rich-click, which says it. click's exceptions come only from reading
the command line, before anything is read or written, so running again repeats nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import click

#: Set by the command line before it imports :mod:`cryodedup.cli`: declare its commands with plain click.
plain = False

HELP_FLAGS = ("--help", "--version")


def help_possible(args: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether click could print help, a version or completions for ``args`` (then rich-click must draw them).

    Careful rather than exact: any short-option cluster holding ``h`` (``-h``, ``-qh``) counts.
    """
    if not args or any(name.startswith("_") and name.endswith("_COMPLETE") for name in environ):
        return True  # a group without arguments shows its help; a shell asks for completions
    return any(arg in HELP_FLAGS or (arg.startswith("-") and not arg.startswith("--") and "h" in arg) for arg in args)


def run_plain(command: click.Command, args: Sequence[str]) -> bool:
    """Runs ``command`` (declared with plain click) as rich-click's ``main`` would: ends with SystemExit.

    Returns False, having run nothing, when click raised one of its errors: the caller runs the
    command again declared with rich-click, whose message it is.
    """
    import click
    from click.utils import _detect_program_name

    try:
        with command.make_context(_detect_program_name(), list(args)) as ctx:
            command.invoke(ctx)
    except click.exceptions.Exit as end:
        sys.exit(end.exit_code)
    except click.ClickException:
        return False
    except (EOFError, KeyboardInterrupt, click.exceptions.Abort, BrokenPipeError) as error:
        as_rich_click(error)
    sys.exit(0)


def as_rich_click(error: BaseException) -> NoReturn:
    """Ends the command as rich-click's ``main`` ends on ``error`` (an interruption, a closed pipe), words and all."""
    import rich_click

    def raise_it() -> None:
        raise error

    rich_click.RichCommand(name="cryodedup", callback=raise_it).main([], standalone_mode=True)
    sys.exit(1)  # (main always exits)
