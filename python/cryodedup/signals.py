"""What SIGINT and SIGTERM do at each moment of a command, so that its status and message tell the truth.

The contract (docs/design.md section 12):

- starting (importing, reading the options; no output written yet): the process ends at once,
  status 128 + the signal's number, "before the run began: no output was written" (the
  demo's example input is copied whole first);
- running the job, before its outputs are put in place: :class:`Stopped` is raised, the
  temporary files go, the previous outputs stay; same status, "previous outputs unchanged";
- putting the outputs in place (the renames): the signal waits until every output is
  renamed, then acts as above, and the message says the outputs are the new complete set;
- ending (the summary, ``--json``): the signal waits until the command has printed
  everything, then the command exits 128 + the number saying the outputs are complete.

The command line installs :func:`dispatch` as the handler for the process's whole life
(``cryodedup.entry``); a job run in-process (click's test runner) gets it from ``run_job``
while the job runs. Only the standard library here: it is imported before anything else.
"""

from __future__ import annotations

import os
import sys

__all__ = [
    "DEFERRED",
    "ENDING",
    "NAMES",
    "RUNNING",
    "STARTING",
    "Stopped",
    "deferred",
    "end_of_command",
    "handed_over",
    "install",
    "message",
    "outputs_placed",
    "pause_for_tests",
    "state",
    "unraisable",
]

# Only modules already loaded when Python starts: this module is imported before the handlers
# are in place, and each millisecond of imports is a moment a signal finds Python's default
# handlers. The C module, not ``signal``: that one imports enum (2 ms idle, 20 ms on a busy
# machine) for its ``Signals`` names. (``__import__``: typeshed has no stub for ``_signal``.)
_signal = __import__("_signal")

STARTING, RUNNING, DEFERRED, ENDING = "starting", "running", "deferred", "ending"
#: A signal stops the job: the first one's :class:`Stopped` is removing the temporary files, later ones wait.
STOPPING = "stopping"

HANDLED = (_signal.SIGINT, _signal.SIGTERM)
NAMES = {_signal.SIGINT: "SIGINT", _signal.SIGTERM: "SIGTERM"}


class Stopped(KeyboardInterrupt):
    """A signal (SIGINT, SIGTERM) that ends the run: raised so that every output's temporary files go."""

    def __init__(self, signum: int) -> None:
        super().__init__(NAMES[signum])
        self.signum = signum


class _State:
    """The moment of the run, and what the signals found it doing."""

    def __init__(self) -> None:
        self.phase: str | None = None  # None: dispatch is not installed
        self.received: list[int] = []  # the signals received, in order
        self.outputs_placed = False  # some output of this run was renamed into place
        self.announced = False  # the stop's message was printed


state = _State()


def dispatch(signum: int, frame: object) -> None:
    """The handler of SIGINT and SIGTERM: what the signal does depends on the moment."""
    state.received.append(signum)
    if state.phase == RUNNING:
        _stop_running(signum)
    if state.phase == STARTING:
        exit_now(signum)
    # DEFERRED, STOPPING and ENDING: acted on when the renames, the stop, or the command end.


def _stop_running(signum: int) -> None:
    """Raises :class:`Stopped`; a signal after it waits.

    A second signal (SIGINT to a process group, then SIGTERM from a parent: a queue's
    ``scancel`` under RELION) would break off the removal of the temporary files the first one
    set going (the barrage found them left, issue 56).
    """
    state.phase = STOPPING
    raise Stopped(signum)


def install(phase: str) -> dict[int, object]:
    """Installs :func:`dispatch` for SIGINT and SIGTERM in ``phase``; returns the previous handlers."""
    previous: dict[int, object] = {s: _signal.getsignal(s) for s in HANDLED}
    state.phase = phase
    for s in HANDLED:
        _signal.signal(s, dispatch)
    return previous


def handed_over() -> list[int]:
    """For a program that has put its own handlers in place of :func:`dispatch`: the signals dispatch received.

    From here on :class:`deferred` installs :func:`dispatch` for its block, as it does outside
    the command line, and hands a signal to the program's handler when the block ends.
    """
    received = list(state.received)
    state.phase = None
    del state.received[:]
    return received


def message(signum: int) -> str:
    """The one line a stop prints: what the signal left on disk."""
    name = NAMES[signum]
    if state.outputs_placed:
        return f"Stopped by {name} after the outputs were put in place: they are this run's new, complete set"
    if state.phase == STARTING:
        return f"Stopped by {name} before the run began: no output was written"
    return f"Stopped by {name}: temporary files removed, the previous outputs (if any) are unchanged"


def exit_now(signum: int) -> None:
    """Prints the stop's message and ends the process, from a signal handler (nothing left to clean)."""
    os.write(2, (message(signum) + "\n").encode())
    os._exit(128 + signum)


class deferred:
    """SIGINT and SIGTERM wait until the block ends, then act (in the main thread; elsewhere nothing changes).

    A signal handler that raised in the middle of the renames would leave half of the new
    outputs and half of the old ones; the signal acts once they are all in place. A context
    manager (a class, not contextlib's: see the imports).
    """

    def __enter__(self) -> None:
        import threading

        self.active = threading.current_thread() is threading.main_thread()
        if not self.active:
            return
        self.previous = install(DEFERRED) if state.phase is None else None  # outside the command line
        self.phase, state.phase, self.before = state.phase, DEFERRED, len(state.received)

    def __exit__(self, *exc: object) -> None:
        if not self.active:
            return
        if self.previous is not None:  # a job run outside the command line: its own handlers act
            _restore(self.previous)
            _act_as(self.previous, state.received[self.before :])
            return
        state.phase = self.phase
        late = state.received[self.before :]
        if late and self.phase == RUNNING:
            _stop_running(late[0])
        if late and self.phase == STARTING:
            exit_now(late[0])


def _restore(previous: dict[int, object]) -> None:
    state.phase = None
    for s, handler in previous.items():
        if handler is not None:
            _signal.signal(s, handler)


def _act_as(previous: dict[int, object], received: list[int]) -> None:
    """Hands a signal received while deferred to the handler that was in place before."""
    if not received:
        return
    signum = received[0]
    del state.received[:]
    handler = previous[signum]
    if callable(handler):
        handler(signum, None)
    elif handler != _signal.SIG_IGN:
        raise KeyboardInterrupt


def outputs_placed() -> None:
    """Called once outputs of this run are renamed into place: a stop from now on says so."""
    state.outputs_placed = True


#: The points paused at already: each pauses once.
_paused: set[str] = set()


def pause_for_tests(point: str) -> None:
    """With ``CRYODEDUP_TEST_PAUSE=point`` in the environment, waits there for a signal (at most 60 s).

    The signal tests send their signal at a named moment of a real run (``starting``, ``reading``, ``written``,
    ``locked``, ``renames``, ``ending``) instead of guessing it from the clock. Says on stderr that it waits.
    """
    if os.environ.get("CRYODEDUP_TEST_PAUSE") != point or point in _paused:
        return
    _paused.add(point)
    import time

    count = len(state.received)
    os.write(2, f"cryodedup: paused at {point}\n".encode())
    deadline = time.monotonic() + 60
    while len(state.received) == count and time.monotonic() < deadline:
        time.sleep(0.005)  # a RUNNING signal raises out of here; a deferred one ends the wait


def unraisable(hook: object = sys.unraisablehook) -> object:
    """A ``sys.unraisablehook`` that says nothing of a :class:`Stopped` raised where it cannot propagate.

    A signal that lands in a finaliser (``__del__``) cannot stop the run there; the command
    sees the signal received when the job returns and stops then, with its one line.
    """

    def quiet_for_stops(unraisable: object) -> None:
        if isinstance(getattr(unraisable, "exc_value", None), Stopped):
            return
        hook(unraisable)  # type: ignore[operator]

    return quiet_for_stops


def end_of_command() -> int | None:
    """At the command's end: the status a signal received so far gives (None: none was), its line printed.

    SIGINT and SIGTERM are ignored from here: one arriving later is too late to change anything
    (everything was written and printed). Ignored, not blocked: the extension's threads would
    take a blocked signal, and once Python has put its default handlers back as it exits, die of it.
    ``signal.signal`` runs a handler still pending before it changes anything: none is lost.
    """
    for s in HANDLED:
        _signal.signal(s, _signal.SIG_IGN)
    if not state.received:
        return None
    if not state.announced:
        sys.stdout.flush()
        print(message(state.received[0]), file=sys.stderr, flush=True)
        state.announced = True
    return 128 + state.received[0]
