"""How a command runs a job: signals stop it cleanly, the cycle collector waits, a user's mistake is one line."""

from __future__ import annotations

import gc
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from .errors import CryodedupError
from .report.terminal import fail, stopped


class Stopped(KeyboardInterrupt):
    """A signal (SIGINT, SIGTERM) that ends the run: raised so that every output's temporary files go."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def signals_stop_the_run() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Stopped` while the block runs; a file size limit is an error.

    Without this, SIGTERM kills the process at once and leaves its temporary files behind.
    SIGXFSZ (``ulimit -f``) is ignored, so that the write fails with EFBIG and is reported.
    """

    def stop(signum: int, frame: object) -> None:
        _signals_received.append(signum)
        raise Stopped(signum)

    handled = [signal.SIGINT, signal.SIGTERM, signal.SIGXFSZ]
    previous = {s: signal.getsignal(s) for s in handled}
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector held off while a job runs, then set back as it was.

    A job makes tens of thousands of small objects (a picker job's file names, headers,
    output paths), each few hundred of which set off a collection that walks everything
    alive; objects without cycles are freed at once as ever, and the few cycles a job
    makes are collected after it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: The signals received while a job ran: an exception that escapes after one is the signal's doing.
_signals_received: list[int] = []

Result = TypeVar("Result")


def run_job(job: Callable[[], Result]) -> Result:
    """Runs a job; a user's mistake ends the program with its message and status 1.

    A signal ends it with one line and status 128 + the signal's number (130 for SIGINT,
    143 for SIGTERM), after the outputs' temporary files are removed.
    """
    try:
        with signals_stop_the_run(), cyclic_gc_paused():
            return job()
    except CryodedupError as err:
        fail(str(err))
    except KeyboardInterrupt as err:
        stopped(err.signum if isinstance(err, Stopped) else signal.SIGINT)
    except BaseException as err:
        # A Rust panic (pyo3's PanicException) raised while the interpreter handles a signal
        # is the signal's doing: the user stopped the run and gets the one line, not a traceback.
        if _signals_received and type(err).__name__ == "PanicException":
            stopped(_signals_received[0])
        raise


def numpy_huge_pages(wanted: bool) -> bool:
    """Sets whether numpy asks the kernel for huge pages for large arrays; returns the previous setting.

    A run sets it off for its own process (``NUMPY_MADVISE_HUGEPAGE`` in the environment
    decides instead, when set): once reading GBs of inputs has filled the memory with page
    cache, the kernel compacts memory to find each huge page, which cost more system time
    than the arrays' work itself (10M picks: 0.7 s of 0.9 s for the centres in Å,
    benches/RESULTS.md).
    """
    import os

    import numpy as np

    core = getattr(np, "_core", None) or np.core  # numpy 2, numpy 1
    setter = getattr(core.multiarray, "_set_madvise_hugepage", None)
    if setter is None or "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return True
    return bool(setter(wanted))
