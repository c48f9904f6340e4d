"""What a command prints on the terminal: logs, the summary's table, errors, a progress bar, JSON.

rich is imported where it is first used: --quiet or --json runs print nothing through it
(start-up is a fixed cost of every run; benches/RESULTS.md, issue 29).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from rich.console import Console


class Reporter:
    """Logs and the summary on stderr; info lines only on a terminal; nothing with --quiet."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.chatty = not quiet and sys.stderr.isatty()
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        """The console on stderr, made when first needed."""
        if self._console is None:
            self._console = stderr_console()
        return self._console

    def log(self, message: str, level: str) -> None:
        """Print a message: warnings unless quiet, other levels only on a terminal."""
        if level == "warning" and not self.quiet:
            self.console.print(f"[bold yellow]Warning:[/] {escape(message)}", soft_wrap=True)
        elif self.chatty:
            self.console.print(f"[dim]{escape(message)}[/]", soft_wrap=True)

    def table(self, title: str, rows: list[tuple[str, str]]) -> None:
        """Print ``rows`` (label, value) as a table, unless quiet."""
        if self.quiet:
            return
        from rich.measure import Measurement
        from rich.table import Table

        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for key, value in rows:
            table.add_row(escape(key), escape(value))
        # As wide as the longest path needs, even on a narrow terminal or a pipe (80 columns):
        # a path cut or folded by the table cannot be pasted back.
        width = Measurement.get(self.console, self.console.options.update_width(100_000), table).maximum
        wide = stderr_console(width=max(width, self.console.width))
        wide.print(table, crop=False)


def stderr_console(width: int | None = None) -> Console:
    """A rich console on stderr that highlights nothing but its markup."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, width=width)


def escape(text: str) -> str:
    """``text`` with rich's markup characters escaped."""
    from rich.markup import escape

    return escape(text)


def fail(message: str) -> NoReturn:
    """Print ``message`` as an error on stderr and exit with status 1."""
    stderr_console().print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=True)
    sys.exit(1)


def print_json(summary: dict) -> None:
    """The summary on stdout as one line of JSON.

    One line, not indented: Python's indenting encoder is pure Python, 0.1 s for the
    40,000 per-micrograph values of a 10M-pick consensus (``jq`` indents it for reading).
    """
    print(json.dumps(summary))


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
