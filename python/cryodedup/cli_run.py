"""How the command line runs a job: signals stop it cleanly, a user's mistake is one line."""

from __future__ import annotations

import errno
import io
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from . import signals
from .errors import CryodedupError, OptionError, RefusedRun, shortened
from .report.terminal import fail, print_json, stopped

__all__ = ["json_asked", "numpy_huge_pages", "refusal_document", "refused", "run_command", "run_job"]

Result = TypeVar("Result")


def run_command(command: Callable[[], object]) -> NoReturn:
    """Runs a click command (standalone: it ends with SystemExit) under the signals' contract.

    Its status is the signal's (128 + its number) when one came, whenever it came.
    """
    if signals.state.phase is None:  # ``python -m cryodedup.cli``: later than cryodedup.entry
        signals.install(signals.STARTING)
    sys.unraisablehook = signals.unraisable(sys.unraisablehook)  # type: ignore[assignment]
    sys.stdout, sys.stderr = _closed_pipe_dropped(sys.stdout), _closed_pipe_dropped(sys.stderr)
    _numpy_in_the_extension()
    status: object = 0
    try:
        command()
    except SystemExit as end:
        status = end.code
    stopped = signals.end_of_command()
    sys.exit(stopped if stopped is not None else status)  # type: ignore[arg-type]


class _DroppedWhenClosed(io.FileIO):
    """A stream's file descriptor whose reader may go (``| head -1``): what is written after is dropped.

    The usual convention of a command line: a pipe closed by its reader changes nothing of the run, which goes on
    to write its outputs and ends with its own status. Before, rich ended the run at the first line it could not
    print, status 1 (``micrographs ... 2>&1 | head -1``: 1, without ``head`` 0), and a plain print raised.
    """

    def write(self, data: Any) -> int:
        try:
            return super().write(data) or 0
        except BrokenPipeError:  # (the descriptor points to /dev/null from here: later writes, the exit's flush)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.fileno())
            os.close(devnull)
            return len(memoryview(data))


def _closed_pipe_dropped(stream: Any) -> Any:
    """``stream`` (sys.stdout, sys.stderr) written through :class:`_DroppedWhenClosed`; as is without a descriptor."""
    try:
        fd = stream.fileno()
        stream.flush()
    except (AttributeError, OSError, ValueError):  # (replaced by a test's runner, or closed: left alone)
        return stream
    return io.TextIOWrapper(
        io.BufferedWriter(_DroppedWhenClosed(fd, "w", closefd=False)),
        encoding=stream.encoding,
        errors=stream.errors,
        line_buffering=stream.line_buffering,
        write_through=getattr(stream, "write_through", False),
    )


def _numpy_in_the_extension() -> None:
    """The extension finds numpy's C API at its first array: here, where a signal ends the process at once.

    Found later, in a job, a Ctrl-C landing while it is looked up made the extension panic
    ("Failed to access NumPy array API capsule").
    """
    import numpy as np

    from ._core import nearest_distances

    nearest_distances(np.zeros(0, np.int64), np.zeros((0, 2)))


def run_job(job: Callable[[], Result], refusal: int = 1) -> Result:
    """Runs a job; a user's mistake ends the program with its message and status ``refusal`` (2: an option refused).

    A signal ends it with one line and status 128 + the signal's number (130 for SIGINT,
    143 for SIGTERM), after the outputs' temporary files are removed; the line says whether
    the outputs are the previous ones or this run's complete set (cryodedup.signals).
    """
    previous = _signals_stop_the_job()
    try:
        try:
            result = job()
        finally:
            _job_ended(previous)
    except OptionError as err:  # (a usage error: click's status for one)
        refused(str(err), 2)
    except RefusedRun as err:
        refused(str(err), refusal, {**err.document, "timings": err.timings})
    except CryodedupError as err:
        refused(str(err), refusal)
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EPERM):
            # A file in a folder the user may not read fails wherever it is first looked at
            # (pathlib's exists() and is_file() raise on EACCES): one line naming it.
            name = shortened(os.fsdecode(err.filename or ""))
            refused(f"{name}: {err.strerror} (no permission to it, or to a folder on its path)", refusal)
        if err.errno != errno.ENAMETOOLONG:
            raise
        # A path longer than the system takes (PATH_MAX, or a name beyond NAME_MAX read from a
        # file) fails wherever it is first looked up: one line, the name cut to its start.
        refused(
            f"{shortened(os.fsdecode(err.filename or ''))}: a file name too long for the system ({err.strerror})",
            refusal,
        )
    except KeyboardInterrupt as err:
        _stop(err.signum if isinstance(err, signals.Stopped) else signal.SIGINT)
    except BaseException as err:
        # A Rust panic (pyo3's PanicException) raised while the interpreter handles a signal
        # is the signal's doing: the user stopped the run and gets the one line, not a traceback.
        # So is an error caused by Stopped: Python 3.11 wraps an exception raised in a class's
        # __set_name__ in a RuntimeError, and a signal that lands while a module imported late
        # makes a dataclass raises there (the barrage's signal sweep over --shard found one).
        caused = isinstance(err.__cause__, signals.Stopped)
        if signals.state.received and (type(err).__name__ == "PanicException" or caused):
            _stop(signals.state.received[0])
        raise
    if signals.state.received:  # a signal that landed in a finaliser, or while the job ended
        _stop(signals.state.received[0])
    signals.pause_for_tests("ending")
    return result


def refused(message: str, status: int = 1, saw: dict[str, Any] | None = None) -> NoReturn:
    """A run refused: its one line on stderr and ``status``; with ``--json``, its document on stdout first.

    A script that reads ``--json`` gets a document on every run, refused or not
    (:func:`refusal_document`); ``saw``: what a run refused after it looked adds to it.
    """
    if json_asked():
        print_json(refusal_document(message, status, saw))
    fail(message, status)


def refusal_document(message: str, status: int, saw: dict[str, Any] | None = None) -> dict[str, Any]:
    """``--json``'s document of a refused run: every job's shared keys, then ``error`` and ``exit_status``.

    ``verdict``: word ``refused``, kind ``bad``, its line the error's; ``outputs``: none written
    (``{}``); ``timings``: null (the run did not end its stages). A run refused after it looked
    (``saw``, :class:`~.errors.RefusedRun`) adds its verdict's keys (``why``, ``trusted``), its
    ``timings`` until the refusal, and its own keys after ``exit_status``.
    """
    from .jobs.shape import JobSummary
    from .report.sections.run import RunVerdict

    shared = JobSummary(verdict=RunVerdict("refused", "bad", line=message)).shared_json()
    saw = dict(saw or {})
    shared["verdict"].update(saw.pop("verdict", {}))
    if saw.get("timings") is not None:
        shared["timings"] = saw.pop("timings")
    saw.pop("timings", None)
    return {**shared, "error": message, "exit_status": status, **saw}


def json_asked(ctx: Any = None, args: Sequence[str] = ()) -> bool:
    """Whether the command asked for ``--json``: its context's (or a parent's) flag, else ``--json`` among ``args``.

    ``ctx``: click's (the current one by default). ``args``: the command line, for an error click
    raised before the flag was read (options are read in the order given).
    """
    import click

    ctx = ctx if ctx is not None else click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("as_json"):
            return True
        ctx = ctx.parent
    return "--json" in list(args)[: list(args).index("--")] if "--" in args else "--json" in args


def _signals_stop_the_job() -> tuple[dict[int, object], bool]:
    """SIGINT and SIGTERM raise :class:`~cryodedup.signals.Stopped` from now; a file size limit is an error.

    Without this, SIGTERM kills the process at once and leaves its temporary files behind.
    SIGXFSZ (``ulimit -f``) is ignored, so that the write fails with EFBIG and is reported.
    Returns the handlers to put back, and whether the job installed the signals' handler
    (run in-process, by a test's runner) rather than the command for its whole life.
    """
    previous: dict[int, object] = {signal.SIGXFSZ: signal.signal(signal.SIGXFSZ, signal.SIG_IGN)}
    in_process = signals.state.phase is None
    if in_process:  # this job's signals only
        signals.state.received.clear()
        signals.state.outputs_placed = signals.state.announced = False
        previous.update(signals.install(signals.RUNNING))
    else:
        signals.state.phase = signals.RUNNING
    return previous, in_process


def _job_ended(previous: tuple[dict[int, object], bool]) -> None:
    """From here a signal waits for the command's end (in-process, the previous handlers are back)."""
    handlers, in_process = previous
    signals.state.phase = None if in_process else signals.ENDING
    for s, handler in handlers.items():
        signal.signal(s, handler)  # type: ignore[arg-type]


def _stop(signum: int) -> NoReturn:
    signals.state.announced = True
    stopped(signals.message(signum), 128 + signum)


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
