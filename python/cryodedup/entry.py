"""The ``cryodedup`` command's first lines: SIGINT and SIGTERM are handled before anything heavy loads.

Importing the command (click, numpy, the Rust extension) takes a few tenths of a second; a
signal then ended in a ``KeyboardInterrupt`` traceback, a Rust panic, or (SIGTERM) no word at
all. From here on, what a signal does is :mod:`cryodedup.signals`' contract.
"""

from __future__ import annotations

import os

from . import signals

__all__ = ["main", "relion"]


def main() -> None:
    """The ``cryodedup`` command: its status is the signal's (128 + its number) if one came."""
    signals.install(signals.STARTING)
    signals.pause_for_tests("starting")
    # One thread for numpy's OpenBLAS unless the user chose otherwise: its threads spin after
    # each call, and took 1.8 G of a picker job's 4.7 G instructions (6,000 files; the core's
    # own threads do the work). Measured in issue 56, benches/RESULTS.md.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from .cli_run import run_command

    run_command(command)


def command() -> None:
    """The command line's commands (imported once the signals' handler is in place)."""
    from .cli import main as commands

    commands()


def relion() -> None:
    """The ``cryodedup-relion`` command (RELION's External job): a signal while it loads ends the job as aborted.

    Here the signal is only recorded; once the job's own handlers are in place it ends the job
    with ``RELION_JOB_EXIT_ABORTED``. (Killed while it loaded, the job left no exit file, and
    RELION waited for one for ever.)
    """
    signals.install(signals.DEFERRED)
    signals.pause_for_tests("starting")
    from .pipelines.relion_external import console_main

    console_main()
