"""The micrograph job's shards as Dask tasks (``cryodedup micrographs ... --dask ADDRESS``).

Each task gets the plan (file paths, order, binning: no image), reads the images of its shard
on its worker and returns only the scored pairs and what reading cost. Dask is an optional
dependency (``pip install "cryodedup[dask]"``), imported only here and only when asked for.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

from ...errors import CryodedupError
from .plan import ScoringPlan
from .score import ProgressBar, ShardRunner, ShardScores, images_to_read, score_shard

__all__ = ["INSTALL", "client_of", "dask_runner"]

INSTALL = 'pip install "cryodedup[dask]"'


def dask_runner(scheduler: Any, shards: int | None = None) -> ShardRunner:
    """A runner that scores the shards on a Dask cluster.

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
        ``runner(plan, progress_factory)`` for ``find_duplicate_micrographs(runner=...)``.
    """
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        raise CryodedupError(f"--dask needs Dask's distributed scheduler: {INSTALL}") from None

    def run(plan: ScoringPlan, progress_factory: Callable[[int], ProgressBar] | None) -> list[ShardScores]:
        with client_of(scheduler) as client:
            client.wait_for_workers(1)
            # More shards than micrographs would score nothing more: one task per micrograph at most.
            count = min(shards or len(client.scheduler_info()["workers"]), len(plan.positions))
            return _run_shards(client, plan, count, progress_factory)

    return run


@contextmanager
def client_of(scheduler: Any) -> Iterator[Any]:
    """A client of the cluster ``scheduler`` names, closed after (with its LocalCluster); the particle job's too."""
    from dask.distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler != "local" and Path(scheduler).is_file():
        _scheduler_address(Path(scheduler))  # (distributed asserts on a file that is no scheduler's: named here)
    try:
        if scheduler == "local":
            _quiet_cluster_exit()
            cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, dashboard_address=None)
            client = Client(cluster)
        elif Path(scheduler).is_file():
            cluster, client = None, Client(scheduler_file=scheduler, timeout="30s")
        else:
            cluster, client = None, Client(scheduler, timeout="30s")
    except (OSError, TimeoutError, ValueError) as err:
        raise CryodedupError(f"--dask {scheduler}: cannot reach the Dask scheduler ({err})") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _quiet_cluster_exit() -> None:
    """Replaces distributed's exit handler (``close_clusters``) by :func:`_close_clusters_quietly`, once.

    It closes every cluster left at exit; one stopped while it started (Ctrl-C during ``--dask local``'s start)
    raises there, and Python printed its tracebacks after cryodedup's own line (issue 99).
    """
    import atexit

    atexit.unregister(_spec().close_clusters)
    atexit.unregister(_close_clusters_quietly)  # (once, however many clusters the process starts)
    atexit.register(_close_clusters_quietly)


def _spec() -> Any:
    """The module of distributed's clusters (``distributed.deploy.spec``), through dask's extra that installs it."""
    import sys

    from dask.distributed import SpecCluster

    return sys.modules[SpecCluster.__module__]


def _close_clusters_quietly() -> None:
    """Closes the clusters left at exit (distributed's ``close_clusters``), its errors unsaid: the run said its line."""
    import contextlib
    import logging

    spec = _spec()
    for name in ("distributed", "asyncio", "tornado"):  # (asyncio: its tasks' errors left unread, at exit)
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    with contextlib.suppress(Exception):  # (a half-started cluster's error adds nothing to the run's line)
        spec.close_clusters()


#: The key of a scheduler file that names the scheduler (a foreign document's field, not an option).
_ADDRESS = "address"
#: The most of a scheduler file read: ``dask scheduler --scheduler-file`` writes a few hundred bytes.
_SCHEDULER_FILE_BYTES = 1 << 20


def _scheduler_address(path: Path) -> str:
    """The address in a Dask scheduler file (a JSON object with ``address``); else one line naming the file."""
    expected = "expected the JSON object with an address that `dask scheduler --scheduler-file` writes"
    try:
        with path.open("rb") as file:
            data = file.read(_SCHEDULER_FILE_BYTES + 1)
    except OSError as err:
        raise CryodedupError(f"--dask {path}: cannot read the scheduler file ({err.strerror})") from None
    try:
        document = json.loads(data) if len(data) <= _SCHEDULER_FILE_BYTES else None
    except (ValueError, RecursionError):
        document = None
    address = document.get(_ADDRESS) if isinstance(document, dict) else None
    if not isinstance(address, str) or not address:
        raise CryodedupError(f"--dask {path}: not a Dask scheduler file ({expected})")
    return address


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
