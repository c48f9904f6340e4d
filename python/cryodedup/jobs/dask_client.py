"""The Dask client both jobs' ``--dask`` use: a cluster named by the user, reached, and closed quietly.

``--dask SCHEDULER`` names ``local`` (a LocalCluster on this machine), a scheduler's address or its
scheduler file, or (in Python) a connected ``distributed.Client``: :func:`client_of` gives a client
of it. The micrograph job scores its shards there (``micrographs/dask.py``), the particle job runs
its shards there (``particles/dask.py``). Dask is an optional dependency (``pip install
"cryodedup[dask]"``), imported only when asked for.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import CryodedupError

__all__ = ["INSTALL", "client_of", "workers_of"]

#: How Dask is installed with cryodedup (said where ``--dask`` is given without it).
INSTALL = 'pip install "cryodedup[dask]"'


def workers_of(client: Any) -> int:
    """How many workers the cluster has (a run's default count of shards: one per worker)."""
    return len(client.scheduler_info()["workers"])


@contextmanager
def client_of(scheduler: Any) -> Iterator[Any]:
    """A client of the cluster ``scheduler`` names, closed after (with its LocalCluster)."""
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
