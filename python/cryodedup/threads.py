"""Work on threads for the particle pictures: ``concurrent.futures`` under the names they use.

The work here runs in the core or in Pillow, which let go of Python's lock. (Only the
particle pictures use this module; ``concurrent.futures`` is imported when work is started,
so that a run without pictures does not load it.)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

T = TypeVar("T")
R = TypeVar("R")


class Background(Generic[T]):
    """``work(*args)`` started on a thread of its own; :meth:`result` waits for it."""

    def __init__(self, work: Callable[..., T], *args: Any, name: str = "cryodedup-background") -> None:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._future: Future[T] = pool.submit(work, *args)
        pool.shutdown(wait=False)  # its thread ends with the work

    def wait(self) -> None:
        """Returns when the work is done."""
        from concurrent.futures import wait

        wait([self._future])

    def result(self) -> T:
        """What the work returned, once it is done; what it raised is raised here."""
        return self._future.result()


def mapped(work: Callable[[T], R], items: Sequence[T], threads: int, name: str = "cryodedup-worker") -> list[R]:
    """``[work(item) for item in items]`` on ``threads`` threads; every one ended before any error is raised."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, threads), thread_name_prefix=name) as pool:
        return list(pool.map(work, items))


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
