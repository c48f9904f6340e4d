"""Particle shards as Dask tasks (``particles --dask``): a LocalCluster's shards merged are one run, byte for byte."""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys

import pytest
from test_particle_shards import tutorial_pickers
from test_particles_job import reextracted_pair

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.jobs.particles.plan import plan

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def client():
    # Threads, not processes: starting worker processes would cost more than the test.
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.mark.parametrize("shards", [None, 3])
def test_a_local_cluster_writes_the_outputs_of_one_run(tmp_path, client, shards):
    from cryodedup.jobs.particles.dask import run_on_dask

    inputs = list(reextracted_pair(tmp_path, n_per_mic=150))
    options = {"min_dist": 30.0, "score_normalize": "rank", "decisions": True}
    one = remove_duplicate_particles(inputs, tmp_path / "one", ParticleOptions(**options))
    on_dask = run_on_dask(inputs, tmp_path / "dask", plan(ParticleOptions(**options)), client, shards)
    for name in ("particles_kept.star", "particles_rejected.star", "decisions.csv"):
        assert filecmp.cmp(tmp_path / "one" / name, tmp_path / "dask" / name, shallow=False), name
    assert (on_dask.kept, on_dask.rejected) == (one.kept, one.rejected)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # (the scratch folder removed)


@pytest.mark.real_data
@pytest.mark.parametrize("ranking", [{"score_normalize": "rank"}, {"select": "best-score"}])
def test_the_tutorial_pickers_on_a_local_cluster(tmp_path, monkeypatch, client, ranking):
    from cryodedup.jobs.particles.dask import run_on_dask

    folders, micrographs = tutorial_pickers()
    options = {"micrographs": micrographs, "min_dist": 100.0, "decisions": True, **ranking}
    for name in ("one", "dask"):  # (a picker job's kept files name their folder: each run in its own, as Dedup)
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / "one")
    one = remove_duplicate_particles(folders, "Dedup", ParticleOptions(**options))
    monkeypatch.chdir(tmp_path / "dask")
    on_dask = run_on_dask(folders, "Dedup", plan(ParticleOptions(**options)), client, 4)
    written = sorted(p.relative_to(tmp_path / "one").as_posix() for p in (tmp_path / "one").rglob("*") if p.is_file())
    for name in written:
        assert filecmp.cmp(tmp_path / "one" / name, tmp_path / "dask" / name, shallow=False), name
    assert (on_dask.kept, on_dask.rejected) == (one.kept, one.rejected)


@pytest.mark.slow
def test_the_command_line_on_a_local_cluster(tmp_path):
    inputs = [str(p) for p in reextracted_pair(tmp_path, n_per_mic=40)]
    command = [sys.executable, "-m", "cryodedup", "particles", *inputs, "--min-dist", "30", "--json", "--quiet"]
    one = subprocess.run([*command, "-o", str(tmp_path / "one")], capture_output=True, text=True, check=True)
    done = subprocess.run(
        [*command, "-o", str(tmp_path / "dask"), "--dask", "local", "--shards", "3"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["kept"] == json.loads(one.stdout)["kept"]
    assert filecmp.cmp(tmp_path / "one" / "particles_kept.star", tmp_path / "dask" / "particles_kept.star")


def test_the_runs_seconds_are_the_whole_runs_not_the_merges(tmp_path, client, monkeypatch):
    # Issue 92: --dask reported the merge's seconds as the run's (0.16 s of a 5 s run). Each shard here
    # takes at least 1 s on the cluster (slowed by hand): the run's seconds hold them, within the wall time.
    import time

    from cryodedup.jobs.particles import dask

    shard = dask.run_particle_shard

    def slow_shard(*args, **kwargs):
        time.sleep(1.0)
        return shard(*args, **kwargs)

    monkeypatch.setattr(dask, "run_particle_shard", slow_shard)
    inputs = list(reextracted_pair(tmp_path, n_per_mic=20))
    began = time.perf_counter()
    summary = dask.run_on_dask(inputs, tmp_path / "dask", plan(ParticleOptions(min_dist=30.0)), client, 2)
    wall = time.perf_counter() - began
    assert summary.timings is not None
    assert 1.0 <= summary.timings.seconds <= wall + 0.001
    assert summary.timings.stage("decide") >= 1.0  # (the shards decided on the cluster)


@pytest.mark.parametrize("content", ["not json at all\n", "[1, 2]", '{"address": 5}', ""])
def test_a_scheduler_file_that_is_no_schedulers_is_one_line_and_one_json_document(tmp_path, content):
    # Issue 99: distributed's AssertionError (a traceback), and --json printed nothing.
    inputs = [str(p) for p in reextracted_pair(tmp_path, n_per_mic=4)]
    scheduler = tmp_path / "scheduler.json"
    scheduler.write_text(content)
    command = [sys.executable, "-m", "cryodedup", "particles", *inputs, "--min-dist", "30", "-o", str(tmp_path / "o")]
    done = subprocess.run([*command, "--dask", str(scheduler), "--json"], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert json.loads(done.stdout)["error"] == (
        f"--dask {scheduler}: not a Dask scheduler file (expected the JSON object with an address that "
        "`dask scheduler --scheduler-file` writes)"
    )
    plain = subprocess.run([*command, "--dask", str(scheduler)], capture_output=True, text=True, check=False)
    assert plain.returncode == 1 and len(plain.stderr.strip().splitlines()) == 1, plain.stderr


def test_the_clusters_closed_at_exit_say_nothing_of_their_errors(monkeypatch, capsys):
    # Issue 99: Ctrl-C during --dask local's start: distributed's atexit close_clusters raised on the half-started
    # cluster ("Nanny failed to start"), its tracebacks printed after cryodedup's "Stopped by SIGINT" line.
    import logging

    from cryodedup.jobs import dask_client as dask

    spec = dask._spec()

    def failing() -> None:
        logging.getLogger("distributed.nanny").error("Nanny failed to start")
        raise RuntimeError("Nanny failed to start.")

    monkeypatch.setattr(spec, "close_clusters", failing)
    levels = {name: logging.getLogger(name).level for name in ("distributed", "asyncio", "tornado")}
    try:
        dask._close_clusters_quietly()  # (no exception, nothing said)
        assert capsys.readouterr().err == ""
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
