"""Work on threads, without ``concurrent.futures``.

Importing it (and its ``logging``) cost a ``--plot`` run 31 M instructions, a tenth of what
its pictures' Python costs (issue 43). The work here runs in the core or in Pillow, which
let go of Python's lock.
"""

from __future__ import annotations

import threading
from collections import deque
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


class Workers(Generic[T, R]):
    """``work(item)`` on ``threads`` threads for each item :meth:`put`, begun as soon as a thread is free.

    For work handed out while the rest is still being made (each picture encoded as soon as
    it is drawn). Used as a context manager, the threads end with the block even when it raises.
    """

    def __init__(self, work: Callable[[T], R], threads: int, name: str = "cryodedup-worker") -> None:
        self._work = work
        # A deque's ends are safe to use from threads; the semaphore counts what it holds.
        self._items: deque[tuple[int, T] | None] = deque()
        self._held = threading.Semaphore(0)
        self._results: list[Any] = []
        self._ended = False
        self._threads = [Background(self._run, name=name) for _ in range(max(1, threads))]

    def put(self, item: T) -> None:
        """Hands ``item`` to the next free thread."""
        self._results.append(None)
        self._hand((len(self._results) - 1, item))

    def _hand(self, taken: tuple[int, T] | None) -> None:
        self._items.append(taken)
        self._held.release()

    def _next(self) -> tuple[int, T] | None:
        self._held.acquire()
        return self._items.popleft()

    def _run(self) -> None:
        while (taken := self._next()) is not None:
            k, item = taken
            self._results[k] = self._work(item)

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        for _ in self._threads:
            self._hand(None)  # one end for each thread
        for thread in self._threads:  # every one ended before any error is raised
            thread.wait()

    def results(self) -> list[R]:
        """What the work returned for each item in the order put, once all is done; an error of the work raised here."""
        self._end()
        for thread in self._threads:
            thread.result()
        return self._results

    def __enter__(self) -> Workers[T, R]:
        return self

    def __exit__(self, *raised: object) -> None:
        self._end()


def mapped(work: Callable[[T], R], items: Sequence[T], threads: int, name: str = "cryodedup-worker") -> list[R]:
    """``[work(item) for item in items]``, the items shared out to ``threads`` threads as each is free."""
    workers = Workers(work, min(threads, len(items)), name)
    for item in items:
        workers.put(item)
    return workers.results()
