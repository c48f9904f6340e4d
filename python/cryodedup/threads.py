"""Work on threads, without ``concurrent.futures``.

Importing it (and its ``logging``) cost a ``--plot`` run 31 M instructions, a tenth of what
its pictures' Python costs (issue 43). The work here runs in the core or in Pillow, which
let go of Python's lock.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Background(Generic[T]):
    """``work(*args)`` started on a thread of its own; :meth:`result` waits for it."""

    def __init__(self, work: Callable[..., T], *args: Any, name: str = "cryodedup-background") -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work, args), name=name, daemon=True)
        self._thread.start()

    def _run(self, work: Callable[..., T], args: tuple[Any, ...]) -> None:
        try:
            self._value = work(*args)
        except BaseException as error:  # handed to the caller by result(), as a Future does
            self._error = error

    def wait(self) -> None:
        """Returns when the work is done."""
        self._thread.join()

    def result(self) -> T:
        """What the work returned, once it is done; what it raised is raised here."""
        self.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # (set when no error was)


def mapped(work: Callable[[T], R], items: Sequence[T], threads: int, name: str = "cryodedup-worker") -> list[R]:
    """``[work(item) for item in items]``, the items shared out to ``threads`` threads as each is free."""
    results: list[Any] = [None] * len(items)
    run = _taker(work, items, range(len(items)), results)
    workers = [Background(run, name=name) for _ in range(max(1, min(threads, len(items))))]
    for worker in workers:  # every one ended before any error is raised
        worker.wait()
    for worker in workers:
        worker.result()
    return results


def in_two_lanes(
    work: Callable[[T], R], items: Sequence[T], here: Sequence[bool], name: str = "cryodedup-lane"
) -> list[R]:
    """``[work(item) for item in items]``: the items marked in ``here`` in turn on this thread, the rest on another.

    For work that should follow itself on one thread (pictures of one size: the second
    reuses the first's memory) while the rest runs beside it. Once through the marked items
    this thread takes unmarked ones too, so that neither waits while work is left.
    """
    results: list[Any] = [None] * len(items)
    run_rest = _taker(work, items, [k for k in range(len(items)) if not here[k]], results)
    other = Background(run_rest, name=name)
    try:
        for k in range(len(items)):
            if here[k]:
                results[k] = work(items[k])
        run_rest()
    finally:
        other.wait()  # ended before an error of either lane is raised
    other.result()
    return results


def _taker(work: Callable[[T], R], items: Sequence[T], order: Sequence[int], results: list[Any]) -> Callable[[], None]:
    """What each thread sharing ``order`` runs: takes the next index of it until none is left, and does its item."""
    taken = itertools.count()  # (next() on it is atomic under Python's lock)

    def run() -> None:
        while (i := next(taken)) < len(order):
            results[order[i]] = work(items[order[i]])

    return run
