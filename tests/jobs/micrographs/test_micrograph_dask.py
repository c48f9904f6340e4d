"""Micrograph shards as Dask tasks: a LocalCluster of 2 workers writes the outputs of one run."""

from __future__ import annotations

import threading
from typing import ClassVar

import pytest

from cryodedup import MicrographOptions, find_duplicate_micrographs
from cryodedup.formats.micrograph_lists import load_inputs
from cryodedup.jobs.micrographs.plan import micrograph_plan, plan_scoring
from cryodedup.jobs.micrographs.score import images_to_read
from helpers import write_planted_micrographs

distributed = pytest.importorskip("dask.distributed")

OUTPUTS = ("pairs.csv", "duplicates.csv", "micrographs_kept.txt", "micrographs_rejected.txt")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return write_planted_micrographs(tmp_path_factory.mktemp("planted"))


@pytest.fixture(scope="module")
def client():
    # Threads, not processes: starting worker processes would cost more than the test.
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


class CountingBar:
    """A progress bar that records what it was told."""

    made: ClassVar[list[CountingBar]] = []

    def __init__(self, total):
        self.total, self.advanced, self.closed = total, 0, False
        self.lock = threading.Lock()
        CountingBar.made.append(self)

    def advance(self, k):
        with self.lock:
            self.advanced += k

    def close(self):
        self.closed = True


@pytest.mark.slow
@pytest.mark.parametrize("shards", [None, 3, 7])
def test_dask_local_cluster_writes_the_outputs_of_one_run(planted, tmp_path, client, shards):
    from cryodedup.jobs.micrographs.dask import dask_scorer

    options = {"bin": 1, "candidates": "window", "window": 8}
    single = find_duplicate_micrographs(planted, tmp_path / "single", MicrographOptions(**options)).to_json()
    CountingBar.made = []
    on_dask = find_duplicate_micrographs(
        planted,
        tmp_path / "dask",
        MicrographOptions(**options),
        scorer=dask_scorer(client, shards),
        progress_factory=CountingBar,
    ).to_json()
    for name in OUTPUTS:
        assert (tmp_path / "single" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes(), name
    count = shards or 2  # one shard per worker by default
    assert on_dask["shards"] == count and on_dask["kept"] == single["kept"]
    # Each worker named with what it read; together, every shard's chunk and the window past it.
    plan = plan_scoring(load_inputs(planted), micrograph_plan(MicrographOptions(**options)).scoring)
    total = sum(images_to_read(plan, k, count) for k in range(1, count + 1))
    assert sum(w["images_read"] for w in on_dask["workers"]) == total
    assert {w["worker"] for w in on_dask["workers"]} <= set(client.scheduler_info()["workers"])
    assert sorted(k for w in on_dask["workers"] for k in w["shards"]) == list(range(1, count + 1))
    # One bar over all shards, full at the end.
    (bar,) = CountingBar.made
    assert (bar.total, bar.advanced, bar.closed) == (total, total, True)
