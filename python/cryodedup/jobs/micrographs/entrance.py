"""The micrograph job's entrance: the API's function, and the runner the command line and the API choose.

:func:`find_duplicate_micrographs` and the command line take the options; the runner they
choose (:func:`job_for`) is the plain run (``job.run_plain``, its pairs scored here or on
Dask) or an ``--update`` round around the same job (``update_round.run_round``). The plain
path (``job.py`` and the stages it calls) knows no runner: only this module, the door, names them.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from typing import Callable

from ...options import MicrographOptions, MicrographRun
from ...options.keywords import said_in_python
from ...paths import StrPath, path_list
from .job import run_plain
from .plan import micrograph_plan
from .score import ProgressBar, ShardScorer, run_in_process
from .summary import MicrographSummary

# --update's store (update.py, with its checks and zip reader) is imported by an update only:
# 25 M instructions, about 3 % of a 4-micrograph screen's.

__all__ = ["find_duplicate_micrographs", "job_for"]


@said_in_python()  # (a caller who wrote Python is told keywords, not flags)
def find_duplicate_micrographs(
    inputs: Sequence[StrPath],
    outdir: StrPath,
    options: MicrographOptions | None = None,
    *,
    particles: StrPath | None = None,
    match_micrographs: str = "auto",
    force: bool = False,
    update: bool = False,
    ready: Collection[str] | None = None,
    log: Callable[[str, str], None] = lambda message, level: None,
    progress_factory: Callable[[int], ProgressBar] | None = None,
    scorer: ShardScorer = run_in_process,
) -> MicrographSummary:
    """Finds micrographs that image the same area twice and writes the results to ``outdir``.

    Parameters
    ----------
    inputs : list of path
        One micrographs STAR, one CryoSPARC exposures ``.cs``/``.csg``, or MRC files/globs.
    outdir : path
        Receives pairs.csv, duplicates.csv, micrographs_kept.* and micrographs_rejected.*.
    options : MicrographOptions
    particles : path, optional
        A particle STAR or ``.cs`` to split into the particles of kept and rejected micrographs.
    match_micrographs : str
        How the particles' micrographs are found among the inputs: ``auto``, ``path`` or
        ``name`` (as the particle job's option of that name; uids first for CryoSPARC).
    scorer : callable
        Scores the pairs: here as one shard (default), or in shards elsewhere (``dask.dask_scorer``).
    update : bool
        Read only the micrographs an earlier ``update`` run into ``outdir`` has not seen, and replace its
        outputs by those of a fresh run of the whole set (update.py). With ``force``, a full run that starts
        the store anew. A new MRC file still being written is left for a later run (``update.leave_for_later``).
    ready : collection of str, optional
        With ``update``: the absolute paths of the new files that may be read (``--watch`` passes those
        unchanged since its previous look); by default every one whose header's image is all there.

    Returns
    -------
    MicrographSummary
        The summary, typed (:class:`~cryodedup.jobs.micrographs.summary.MicrographSummary`: ``summary.kept``,
        ``summary.verdict.trusted``, ...); its ``to_json()`` is the document ``--json`` prints.
    """
    inputs = path_list(inputs)
    options = options or MicrographOptions()
    options.check()
    MicrographRun(update=update, particles=particles is not None, in_process=scorer is run_in_process).check(options)
    job = micrograph_plan(options)  # (the options resolved once: no stage sees them)
    return job_for(update, scorer, ready)(
        inputs, outdir, job, particles=particles, match_micrographs=match_micrographs, force=force, log=log,
        progress_factory=progress_factory,
    )  # fmt: skip


def job_for(
    update: bool, scorer: ShardScorer = run_in_process, ready: Collection[str] | None = None
) -> Callable[..., MicrographSummary]:
    """The job the command line and the API run: ``job.run_plain``, scored by ``scorer``, or ``update_round.run_round``.

    ``ready``: a round's new files that may be read (``update_round.run_round``).
    """
    if update:
        from .update_round import run_round  # (the store's modules loaded for a round only)

        return functools.partial(run_round, ready=ready)
    return functools.partial(run_plain, scorer=scorer)
