"""The ``cryodedup`` command's first lines: SIGINT and SIGTERM are handled before anything heavy loads.

Importing the command (click, numpy, the Rust extension) takes a few tenths of a second; a
signal then ended in a ``KeyboardInterrupt`` traceback, a Rust panic, or (SIGTERM) no word at
all. From here on, what a signal does is :mod:`cryodedup.signals`' contract.
"""

from __future__ import annotations

from . import signals


def main() -> None:
    """The ``cryodedup`` command: its status is the signal's (128 + its number) if one came."""
    signals.install(signals.STARTING)
    signals.pause_for_tests("starting")
    from .cli import main as command
    from .runner import run_command

    run_command(command)
