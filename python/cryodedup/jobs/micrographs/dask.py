"""The micrograph job's scorer on Dask (``cryodedup micrographs ... --dask ADDRESS``): its shards as tasks.

Each task gets the plan (file paths, order, binning: no image), reads the images of its shard
on its worker and returns only the scored pairs and what reading cost; the client is
``jobs/dask_client.py``'s, as the particle job's. Dask is an optional dependency, imported only
when asked for.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, Callable

from ...errors import CryodedupError
from ..dask_client import INSTALL, client_of, workers_of
from .plan import ScoringPlan
from .score import ProgressBar, ShardScorer, ShardScores, images_to_read, score_shard

__all__ = ["dask_scorer"]


def dask_scorer(scheduler: Any, shards: int | None = None) -> ShardScorer:
    """A scorer that scores the shards on a Dask cluster.

    Parameters
    ----------
    scheduler : str or distributed.Client
        ``local`` (a LocalCluster on this machine, one worker process per core), a scheduler
        address (``tcp://node:8786``), a scheduler file (``dask scheduler --scheduler-file``),
        or a connected ``distributed.Client``.
    shards : int, optional
        How many shards [default: one per worker].

    Returns
    -------
    callable
        ``scorer(plan, progress_factory)`` for ``find_duplicate_micrographs(scorer=...)``.
    """
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        raise CryodedupError(f"--dask needs Dask's distributed scheduler: {INSTALL}") from None

    def run(plan: ScoringPlan, progress_factory: Callable[[int], ProgressBar] | None) -> list[ShardScores]:
        with client_of(scheduler) as client:
            client.wait_for_workers(1)
            # More shards than micrographs would score nothing more: one task per micrograph at most.
            count = min(shards or workers_of(client), len(plan.positions))
            return _run_shards(client, plan, count, progress_factory)

    return run


def _run_shards(
    client: Any, plan: ScoringPlan, count: int, progress_factory: Callable[[int], ProgressBar] | None
) -> list[ShardScores]:
    """Submits one task per shard; one progress bar counts the images all of them read."""
    from dask.distributed import as_completed

    shards = range(1, count + 1)
    bar = progress_factory(sum(images_to_read(plan, k, count) for k in shards)) if progress_factory else None
    progress = _ShardProgress(bar)
    topic = f"cryodedup-progress-{uuid.uuid4().hex}"  # this run's events only
    client.subscribe_topic(topic, progress.event)
    try:
        [shared_plan] = client.scatter([plan], broadcast=True)
        futures = [client.submit(score_on_worker, shared_plan, k, count, topic, pure=False) for k in shards]
        results = []
        for future in as_completed(futures):
            result = future.result()
            progress.done(result.shard, result.images_read)
            results.append(result)
        return results
    finally:
        client.unsubscribe_topic(topic)
        if bar is not None:
            bar.close()


class _ShardProgress:
    """Advances one bar from the shards' events; a finished shard counts in full, whatever events are late."""

    def __init__(self, bar: ProgressBar | None):
        self.bar = bar
        self.counted: dict[int, int] = {}
        self.finished: set[int] = set()
        self.lock = threading.Lock()

    def _advance(self, shard: int, images: int) -> None:
        if self.bar is not None and shard not in self.finished:
            self.counted[shard] = self.counted.get(shard, 0) + images
            self.bar.advance(images)

    def event(self, event: tuple[float, tuple[int, int]]) -> None:
        """A worker's event (time, (shard, images read))."""
        with self.lock:
            self._advance(*event[1])

    def done(self, shard: int, images_read: int) -> None:
        """The shard's result arrived: count what its events have not."""
        with self.lock:
            self._advance(shard, images_read - self.counted.get(shard, 0))
            self.finished.add(shard)


def score_on_worker(plan: ScoringPlan, shard: int, shards: int, topic: str) -> ShardScores:
    """The task: one shard scored on a worker, its progress sent to the client as events."""
    from dask.distributed import get_worker

    worker = get_worker()
    result = score_shard(plan, shard, shards, lambda k: worker.log_event(topic, (shard, k)))
    result.worker = str(worker.address)
    return result
