"""The particle job's shards as Dask tasks (``cryodedup particles ... --dask SCHEDULER``): a runner of its stages.

:func:`dask_runner` runs the job's stages on a cluster: each task runs one shard
(:func:`.shards.run_particle_shard`) on its worker, into a scratch folder beside the output folder
that every worker reaches at the same path (a cluster's shared file system, where the inputs are
too); the client then runs the stages as the shards' merge (:func:`.shards.merged`: the outputs of
one run, byte for byte) and removes the scratch folder. Dask is an optional dependency (``pip
install "cryodedup[dask]"``), imported only here and only when asked for.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import CryodedupError, OutputError
from ...outputs import all_outputs_at_once
from ...paths import StrPath, path_list
from ...report.sections.run import RunTimings
from .. import shape
from ..dask_client import INSTALL, client_of, workers_of
from .job import PlainParticleStages, run
from .read import Files, silent
from .shards import WholeRead, merged, run_particle_shard, shards_of_one_run

if TYPE_CHECKING:
    from ...particle_set import Log
    from .job import ParticleRunner
    from .plan import ParticlePlan
    from .summary import ParticleSummary

__all__ = ["run_on_dask"]


@all_outputs_at_once  # a failure leaves no output folder it made, no lock, no temporary file
def run_on_dask(
    inputs: Sequence[StrPath],
    outdir: StrPath,
    planned: ParticlePlan,
    scheduler: Any,
    shards: int | None = None,
    *,
    force: bool = False,
    log: Log = silent,
) -> ParticleSummary:
    """The particle job in ``shards`` shards on a Dask cluster, merged into ``outdir`` as one run writes it.

    Parameters
    ----------
    planned : ParticlePlan
        The job's plan, ``plan(options)`` of its checked options.
    scheduler : str or distributed.Client
        ``local`` (a LocalCluster on this machine, one worker process per core), a scheduler
        address (``tcp://node:8786``), a scheduler file, or a connected ``distributed.Client``.
    shards : int, optional
        How many shards [default: one per worker].
    """
    paths = path_list(inputs)
    runner = dask_runner(paths, scheduler, shards)
    return run(WholeRead(Files.of(paths)), outdir, planned, force=force, log=log, runner=runner).summary


def dask_runner(paths: Sequence[StrPath], scheduler: Any, shards: int | None) -> ParticleRunner:
    """The runner of the job's stages on a Dask cluster: shards of ``paths`` on its workers, merged here."""
    try:
        from dask.distributed import as_completed
    except ImportError:
        raise CryodedupError(f"--dask needs Dask's distributed scheduler: {INSTALL}") from None

    def on_dask(plan: ParticlePlan, stages: PlainParticleStages) -> shape.Ran[Any, Any, Any, ParticleSummary]:
        assert stages.outdir is not None, "the command and the API give the output folder"
        out, log = Path(stages.outdir).absolute(), stages.log
        began = time.perf_counter()
        try:
            scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.shards-", dir=out.parent))
        except OSError as err:
            raise OutputError(f"{out.parent}: cannot hold the shards' scratch folder ({err.strerror})") from None
        try:
            shard_plan = _without_pictures(plan)  # (the pictures are the merge's)
            with client_of(scheduler) as client:
                client.wait_for_workers(1)
                count = shards or workers_of(client)
                tasks = [
                    client.submit(run_particle_shard, paths, scratch, shard_plan, k, count, pure=False)
                    for k in range(1, count + 1)
                ]
                for task in as_completed(tasks):
                    done = task.result()
                    log(f"shard {done.shard}/{done.shards} on {done.worker}: {done.rows:,} particles decided", "info")
            on_cluster = time.perf_counter() - began
            ran = merged(shards_of_one_run([scratch]))(plan, stages)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return replace(ran, summary=_whole_run_timed(ran.summary, on_cluster, time.perf_counter() - began))

    return on_dask


def _without_pictures(plan: ParticlePlan) -> ParticlePlan:
    """The plan the shards of a run on Dask take: no pictures, those are the merge's (``--plot`` off)."""
    output = replace(plan.output, plot=False, parameters=None)
    return replace(plan, output=output, given={**plan.given, "plot": False})


def _whole_run_timed(summary: ParticleSummary, on_cluster: float, seconds: float) -> ParticleSummary:
    """The merge's summary with the whole run's time: ``seconds`` the whole run's (not the merge's alone).

    The shards' time on the cluster is counted in ``decide``, as the micrograph job's scoring on Dask is.
    """
    timings = summary.timings
    if timings is None:
        return summary
    stages = {stage: s + (on_cluster if stage == "decide" else 0.0) for stage, s in timings.stages}
    whole = RunTimings.of(stages, seconds)
    return replace(summary, timings=replace(timings, seconds=whole.seconds, stages=whole.stages))
