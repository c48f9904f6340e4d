"""The ``cryodedup`` command's first lines: SIGINT and SIGTERM are handled before anything heavy loads.

Importing the command (click, numpy, the Rust extension) takes a few tenths of a second; a
signal then ended in a ``KeyboardInterrupt`` traceback, a Rust panic, or (SIGTERM) no word at
all. From here on, what a signal does is :mod:`cryodedup.signals`' contract.
"""

from __future__ import annotations

import gc
import os
import sys

from . import signals


def main() -> None:
    """The ``cryodedup`` command: its status is the signal's (128 + its number) if one came."""
    signals.install(signals.STARTING)
    signals.pause_for_tests("starting")
    _lean_start()
    from .cli_run import run_command

    run_command(command)


def _lean_start() -> None:
    """One thread for numpy's OpenBLAS, unless the user chose otherwise; no cycle collection (issue 43).

    At its import OpenBLAS starts a thread per core, which spins a while: on two cores it
    took the job's CPU (15-20 ms of a small STAR job's 170 ms). No job does linear algebra
    large enough to share; the core's own threads do the work.

    The imports (click, numpy, the job's modules) set off about 60 collections of the cycle
    collector, which walk every object alive: 3 % of the instructions of a 20,000-particle
    job. They make almost no cycles, and the job runs with the collector paused anyway
    (:func:`cryodedup.cli_run.cyclic_gc_paused`, which leaves it as it found it): the command
    runs without it from here to its end.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    gc.disable()


def command() -> None:
    """The command line's commands, declared with plain click unless help could be shown (:mod:`.cli_style`)."""
    from . import cli_style  # (after the signals' handler: it loads typing)

    args = sys.argv[1:]
    if not cli_style.help_possible(args, os.environ):
        cli_style.plain = True
        from .cli import main as plain_command

        cli_style.run_plain(plain_command, args)  # ends the command, unless click has something to say
        cli_style.plain = False
        del sys.modules["cryodedup.cli"]  # declared again with rich-click, which says it
    from .cli import main as rich_command

    rich_command()


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
