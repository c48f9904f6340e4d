"""What a command prints on the terminal: logs, the summary's table, errors, a progress bar, JSON.

rich is imported where it is first used: --quiet or --json runs print nothing through it
(start-up is a fixed cost of every run; benches/RESULTS.md, issue 29).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar

from ..errors import one_line, printable

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["ProgressBar", "Reporter", "escape", "fail", "fitted_rows", "print_json", "stopped"]

T = TypeVar("T")


class Reporter:
    """Logs and the summary on stderr; info lines only on a terminal; nothing with --quiet."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.chatty = not quiet and sys.stderr.isatty()
        self._console: Console | None = None
        #: The warnings said while a job runs (:meth:`holding_warnings`), printed under its verdict.
        self.held: list[str] | None = None

    @property
    def console(self) -> Console:
        """The console on stderr, made when first needed."""
        if self._console is None:
            self._console = stderr_console()
        return self._console

    def log(self, message: str, level: str) -> None:
        """Print a message: warnings unless quiet (held while a job runs), other levels only on a terminal."""
        if level == "warning" and not self.quiet:
            if self.held is not None:
                self.held.append(message)
            else:
                self.warning(message)
        elif self.chatty:
            self.console.print(f"[dim]{escape(message)}[/]", soft_wrap=True)

    def warning(self, message: str) -> None:
        """Print a warning, in the warnings' style."""
        self.console.print(f"[bold yellow]Warning:[/] {escape(message)}", soft_wrap=True)

    def holding_warnings(self, job: Callable[[], T]) -> T:
        """``job()``, its warnings held for :meth:`summary` (under the verdict); said at once if the job fails."""
        self.held = []
        try:
            return job()
        except BaseException:
            self.release_warnings()  # (before the error's line: what was said before it stopped)
            raise

    def release_warnings(self) -> None:
        """Print the warnings held, and say the next ones as they come."""
        held, self.held = self.held or [], None
        for message in held:
            self.warning(message)

    def summary(self, title: str, verdict: str, rows: list[tuple[str, str]]) -> None:
        """A job's summary: its verdict line first, the warnings of the job right under it, then its table.

        The warnings held while the job ran (:meth:`holding_warnings`) are printed here; the
        next round of a job that shows several (``--watch``) holds its own.
        """
        if self.quiet:
            self.held = None if self.held is None else []
            return
        if drawn_without_styles(sys.stderr):  # (plain: rich is not loaded for it, as for the table)
            sys.stderr.write(f"{printable(verdict)}\n")
            sys.stderr.flush()
        else:
            self.console.print(f"[bold]{escape(verdict)}[/]", soft_wrap=True)
        holding = self.held is not None
        self.release_warnings()
        if holding:
            self.held = []
        self.table(title, rows)

    def table(self, title: str, rows: list[tuple[str, str]]) -> None:
        """Print ``rows`` (label, value) as a table, unless quiet."""
        if self.quiet:
            return
        text = plain_table(title, rows) if drawn_without_styles(sys.stderr) else None
        if text is not None:
            sys.stderr.write(text)
            sys.stderr.flush()
            return
        self.rich_table(title, rows)

    def rich_table(self, title: str, rows: list[tuple[str, str]]) -> None:
        """Print ``rows`` (label, value) as a table drawn by rich."""
        from rich.measure import Measurement
        from rich.table import Table

        table = Table(title=escape(title), show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for key, value in rows:
            table.add_row(escape(key), escape(value))
        # As wide as the longest path needs, even on a narrow terminal or a pipe (80 columns):
        # a path cut or folded by the table cannot be pasted back.
        width = Measurement.get(self.console, self.console.options.update_width(100_000), table).maximum
        wide = stderr_console(width=max(width, self.console.width))
        wide.print(table, crop=False)


#: The characters :func:`plain_table` draws: one terminal cell each, no markup or control meaning
#: (rich shows a backslash that ends a value doubled: left to it).
PLAIN_CHARACTERS = (frozenset(map(chr, range(0x20, 0x7F))) - {"\\"}) | frozenset("Åµ…×°\n")


def drawn_without_styles(stream: TextIO) -> bool:
    """Whether rich would write plain text to ``stream``: not a terminal, not told it is one, UTF-8.

    Careful rather than exact (rich's Console.is_terminal): anything else is left to rich.
    """
    if os.environ.get("TTY_COMPATIBLE") == "1" or os.environ.get("FORCE_COLOR") or "IPython" in sys.modules:
        return False
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower()
    isatty = getattr(stream, "isatty", None)
    try:
        return encoding.startswith("utf") and isatty is not None and not isatty()
    except ValueError:  # closed
        return False


def plain_table(title: str, rows: list[tuple[str, str]]) -> str | None:
    """The summary's table as rich draws it without styles (a pipe, a log file), or None where rich must draw it.

    rich's table (its modules and the drawing) is about 130 M instructions, a sixth of a small
    STAR job's (issue 29): a job run from a script or a cluster's batch system draws it here, in
    the same characters (tests/report/test_terminal.py compares the two). As in
    :meth:`Reporter.rich_table`, the table is as wide as its longest line, whatever the terminal.
    """
    cells = [(key.split("\n"), value.split("\n")) for key, value in rows]
    text = title + "".join(key + value for key, value in rows)
    if not rows or not set(text) <= PLAIN_CHARACTERS or any(cell.endswith("\n") for row in rows for cell in row):
        return None
    widths = [max(len(line) for cell in cells for line in cell[k]) for k in (0, 1)]
    table_width = widths[0] + widths[1] + 7  # 3 borders, a space each side of each cell
    if len(title) > table_width or "\n" in title:
        return None  # rich folds the title
    lines = [title.ljust(table_width)] if title else []
    lines.append(f"┌{'─' * (widths[0] + 2)}┬{'─' * (widths[1] + 2)}┐")
    for key, value in cells:
        for k in range(max(len(key), len(value))):
            left = key[k] if k < len(key) else ""
            right = value[k] if k < len(value) else ""
            lines.append(f"│ {left.ljust(widths[0])} │ {right.ljust(widths[1])} │")
    lines.append(f"└{'─' * (widths[0] + 2)}┴{'─' * (widths[1] + 2)}┘")
    return "\n".join(lines) + "\n"


def stderr_console(width: int | None = None) -> Console:
    """A rich console on stderr that highlights nothing but its markup.

    No emoji codes: a name holding ``:a:`` (a path, a column) is printed as it is, not as 🅰.
    """
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False, width=width)


def escape(text: str) -> str:
    """``text`` with rich's markup characters and what a terminal would act on escaped.

    Every message, warning and table cell goes through here: the one place where names read
    from files or the file system are made safe to print (:func:`cryodedup.errors.printable`).
    """
    from rich.markup import escape

    return escape(printable(text))


def fail(message: str, status: int = 1) -> NoReturn:
    r"""Print ``message`` as an error on stderr and exit with ``status`` (1; 2 for a usage error).

    One line whatever names it holds: a refusal's words are one line, so a line break in it is a name's (a
    file or folder named ``x\nError: ...``), shown as ``\n`` so that no name forges a line (issue 99).
    """
    stderr_console().print(f"[bold red]Error:[/] {escape(one_line(message))}", soft_wrap=True)
    sys.exit(status)


def print_json(summary: dict) -> None:
    """The summary on stdout as one line of JSON.

    One line, not indented: Python's indenting encoder is pure Python, 0.1 s for the
    40,000 per-micrograph values of a 10M-pick consensus (``jq`` indents it for reading).
    Strict JSON: a value that is not a finite number (NaN, infinity: a pixel size not given)
    is null, as jq and JavaScript read it (Python's ``NaN`` is not JSON).
    """
    print(strict_json(summary))


def strict_json(value: Any) -> str:
    """``value`` as one line of strict JSON: NaN and infinities become null."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:  # a non-finite number somewhere: the walk below only then (it costs)
        return json.dumps(_finite_or_null(value), allow_nan=False)


def _finite_or_null(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(v) for v in value]
    return value


def stopped(message: str, status: int) -> NoReturn:
    """Print that a signal stopped the run (``message``, "Stopped by ..."), and exit with ``status``."""
    head, _, rest = message.partition(" ")
    stderr_console().print(f"[bold red]{head}[/] {escape(rest)}", soft_wrap=True)
    sys.exit(status)


class ProgressBar:
    """Images read per second, on stderr, only on a terminal."""

    def __init__(self, console: Console, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("scoring micrographs"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.speed} images/s"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("micrographs", total=total)
        self.progress.start()

    def advance(self, k: int) -> None:
        """Count ``k`` more images read."""
        self.progress.advance(self.task, k)

    def close(self) -> None:
        """Remove the bar."""
        self.progress.stop()


def fitted_rows(rows: list[tuple[str, str]], columns: int) -> list[tuple[str, str]]:
    """The table's rows with their text folded between words to fit ``columns`` (a path or a name is never cut)."""
    import textwrap

    left = max((len(key) for key, _ in rows), default=0)
    room = max(columns - left - 7, 40)  # (3 borders, a space each side of each cell)
    return [
        (key, "\n".join(textwrap.wrap(value, room, break_long_words=False, break_on_hyphens=False)) or value)
        for key, value in rows
    ]
