"""The micrograph job: find micrographs that image the same area twice.

Each micrograph is read once (memory-mapped), binned to a target pixel size while read,
and turned into a whitened band-limited spectrum by the Rust core; a candidate pair costs
one product and one inverse FFT. A pair is a duplicate when its phase-correlation peak
(z, in standard deviations of the correlation map) and the Pearson coefficient of the two
images over their overlap at the found shift both pass their thresholds. Duplicates are
grouped (union-find) and the earliest acquisition of each group is kept: the later exposure
hit pre-irradiated ice.

:func:`find_duplicate_micrographs` resolves the options once (``plan.py``); :func:`run` reads,
plans and scores the pairs (``score.py``), decides (``decide.decide_run``) and writes
(``write.write_results``), in that order; a merge of shards (``shards.py``) decides and writes alike.

An ``--update`` round (:func:`run_round`) wraps the same job: it runs :func:`run` with the
round's stages (``update_round.Round``: the store opened, only its unseen micrographs read,
only the pairs it has no score for scored), and commits the round to the store; :func:`run`
calls its stages (``stages.py``) without knowing which it was given.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ...formats.micrograph_lists import Micrographs, load_inputs
from ...options import MicrographOptions, MicrographRun
from ...options.keywords import said_in_python
from ...outputs import all_outputs_at_once
from ...paths import StrPath, path_list
from ...report.micrograph_sections import Timing, revisit_rows
from ...resolve.micrograph_names import check_match_mode
from .decide import COMMON_CAUSES, decide_run, judge_power
from .pattern import scored_without_pattern
from .placement import Placement, place
from .plan import MetadataSources, MicrographPlan, ScoringPlan, micrograph_plan, plan_scoring
from .score import ProgressBar, ShardRunner, ShardScores, decide_without_images, run_in_process
from .stages import Say, Stages
from .summary import MicrographSummary
from .write import PreparedOutputs, collecting, prepare_outputs, write_results

# --update's store (update.py, with its checks and zip reader) is imported by an update only:
# 25 M instructions, about 3 % of a 4-micrograph screen's.

__all__ = ["find_duplicate_micrographs", "job_for", "run_round"]


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
    runner: ShardRunner = run_in_process,
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
    runner : callable
        Scores the pairs: here as one shard (default), or in shards elsewhere (``dask.dask_runner``).
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
    start = time.perf_counter()
    inputs = path_list(inputs)
    options = options or MicrographOptions()
    options.check()
    MicrographRun(update=update, particles=particles is not None, in_process=runner is run_in_process).check(options)
    job = micrograph_plan(options)  # (the options resolved once: no stage sees them)
    return job_for(update, runner, ready)(
        inputs, outdir, job, particles=particles, match_micrographs=match_micrographs, force=force, log=log,
        progress_factory=progress_factory, start=start,
    )  # fmt: skip


def job_for(
    update: bool, runner: ShardRunner = run_in_process, ready: Collection[str] | None = None
) -> Callable[..., MicrographSummary]:
    """The job the command line and the API run: :func:`run_plain`, scored by ``runner``, or :func:`run_round`.

    ``ready``: a round's new files that may be read (:func:`run_round`).
    """
    if update:
        return functools.partial(run_round, ready=ready)
    return functools.partial(run_plain, runner=runner)


def run(
    inputs: Sequence[StrPath],
    outdir: StrPath,
    job: MicrographPlan,
    *,
    stages: Stages,
    particles: StrPath | None = None,
    match_micrographs: str = "auto",
    log: Callable[[str, str], None] = lambda message, level: None,
    progress_factory: Callable[[int], ProgressBar] | None = None,
    start: float | None = None,
) -> MicrographSummary:
    """The job, its options resolved (``job``) and checked: read, plan, score, decide, write; its summary typed.

    ``stages``: which micrographs it screens and how it scores them (:class:`Plain`, or an
    ``--update`` round's, by :func:`run_round`). Its outputs are written under temporary names,
    put in place by the output batch it runs in (:func:`run_plain`, :func:`run_round`).
    ``start``: when the run began (its time is the summary's), by default now.
    """
    start = time.perf_counter() if start is None else start
    check_match_mode(match_micrographs)
    mics = load_inputs(list(inputs), job.psize, job.project_dir)
    warned: list[str] = []  # the warnings said before the writing (a round's), in the summary too: --json says them
    said = collecting(log, warned)
    mics, outputs = stages.prepare(mics, Path(outdir), inputs, particles, said)
    placement = _placement(mics, job.metadata)
    if placement is not None:  # (named now, before any image is read: the images to look at first)
        _say_revisits(placement, log, said)
    scoring_started = time.perf_counter()
    plan, shards = _score(mics, job, placement, stages, said, progress_factory)
    scoring = time.perf_counter() - scoring_started
    outcome = decide_run(len(mics.names), plan, shards, job.decision, placement)
    if outcome.decision.pattern and isinstance(stages, Plain):  # (a round's store and a merge's shards: refused)
        said(_pattern_removed(outcome.decision.pattern), "warning")
        plan, shards = scored_without_pattern(plan, progress_factory)
        outcome = decide_run(len(mics.names), plan, shards, job.decision, placement)
    judge_power(outcome, job.decision)
    summary = write_results(
        mics,
        job.output,
        job.scoring.candidates,
        outcome,
        outputs,
        log=log,
        match_micrographs=match_micrographs,
        warned=warned,
        placement=placement,
        pairs_csv=stages.pairs_csv,
    )
    return _timed(summary, time.perf_counter() - start, scoring, job.by_position)


@all_outputs_at_once
def run_plain(
    inputs: Sequence[StrPath],
    outdir: StrPath,
    job: MicrographPlan,
    *,
    particles: StrPath | None = None,
    match_micrographs: str = "auto",
    force: bool = False,
    log: Callable[[str, str], None] = lambda message, level: None,
    progress_factory: Callable[[int], ProgressBar] | None = None,
    runner: ShardRunner = run_in_process,
    start: float | None = None,
) -> MicrographSummary:
    """A plain run: :func:`run` with :class:`Plain`'s stages, its outputs appearing together or not at all."""
    return run(
        inputs, outdir, job, stages=Plain(force, runner), particles=particles, match_micrographs=match_micrographs,
        log=log, progress_factory=progress_factory, start=start,
    )  # fmt: skip


@all_outputs_at_once
def run_round(
    inputs: Sequence[StrPath],
    outdir: StrPath,
    job: MicrographPlan,
    *,
    particles: StrPath | None = None,
    match_micrographs: str = "auto",
    force: bool = False,
    ready: Collection[str] | None = None,
    log: Callable[[str, str], None] = lambda message, level: None,
    progress_factory: Callable[[int], ProgressBar] | None = None,
    start: float | None = None,
) -> MicrographSummary:
    """An ``--update`` round (``--watch`` runs one a look): :func:`run` with the round's stages, then its commit.

    The round (``update_round.Round``) opens the store once the inputs are listed and saves its
    new micrographs and pairs as it scores (``ready``: the new files that may be read, by default
    those whose image is all there); once the job has written its outputs under temporary names,
    the round is committed, and the output batch puts them in place after it. A round stopped
    before its commit is rolled back: the store and the outputs stay the previous round's.
    """
    from .update_round import Round  # (the store's modules loaded for a round only)

    round_ = Round(job.recorded, force, ready)
    try:
        try:
            summary = run(
                inputs, outdir, job, stages=round_, particles=particles, match_micrographs=match_micrographs,
                log=log, progress_factory=progress_factory, start=start,
            )  # fmt: skip
        except BaseException as error:
            round_.abandon(error)
        round_.commit()
    finally:
        round_.close()
    return summary


@dataclass(frozen=True)
class Plain:
    """A plain run's stages (:class:`.stages.Stages`): every micrograph listed, every pair scored by ``runner``."""

    force: bool
    runner: ShardRunner = run_in_process
    pairs_csv: None = None  # (pairs.csv written whole)

    def prepare(
        self, mics: Micrographs, outdir: Path, inputs: Sequence[StrPath], particles: StrPath | None, said: Say
    ) -> tuple[Micrographs, PreparedOutputs]:
        """As :class:`.stages.Stages` says: the micrographs listed; outputs that exist refused (unless ``force``)."""
        return mics, prepare_outputs(mics, outdir, inputs, particles, self.force)

    def layouts_known(self, paths: Collection[StrPath]) -> None:
        """As :class:`.stages.Stages` says: none (every header is read)."""
        return None

    def score(
        self, plan: ScoringPlan, said: Say, progress_factory: Callable[[int], ProgressBar] | None
    ) -> list[ShardScores]:
        """As :class:`.stages.Stages` says: by the runner, here or elsewhere (Dask)."""
        return self.runner(plan, progress_factory)


def _say_revisits(placement: Placement, log: Callable[[str, str], None], said: Callable[[str, str], None]) -> None:
    """The areas imaged twice that the metadata names (--metadata), and a navigator's warning."""
    for title, text in revisit_rows(placement.revisits):
        log(f"--metadata: {title.lower()}: {text}", "info")
    if placement.navigator_warning:
        said(placement.navigator_warning, "warning")


def _pattern_removed(pattern: str) -> str:
    """The warning of a run that found a pattern common to its images (``decide.common_pattern``) and removes it."""
    return (
        f"a pattern common to the images ({COMMON_CAUSES}): {pattern}; removed (the mean of the normalised "
        "binned images, each image's share fitted) and every pair scored again. Check the gain reference "
        "motion correction applied"
    )


def _timed(summary: MicrographSummary, seconds: float, scoring: float, no_images: bool) -> MicrographSummary:
    """The summary with the run's time, the scoring's, and the images scored per second of it."""
    # Over the images read (a pattern of candidates may leave some unread), not those listed
    read = not no_images and scoring > 0
    rate = round(summary.images_read / scoring, 1) if read else None
    # (the scoring's time is the rate's: the report and writing are not in it)
    return replace(summary, timing=Timing(round(seconds, 3), round(scoring, 3), rate))


def _placement(mics: Micrographs, metadata: MetadataSources) -> Placement | None:
    """Where and when each micrograph was taken (``--metadata``), or None without it."""
    if not metadata.files:
        return None
    return place(mics.names, list(metadata.files), metadata.shift_calibration, metadata.beam_diameter)


def _score(
    mics: Micrographs,
    job: MicrographPlan,
    placement: Placement | None,
    stages: Stages,
    said: Callable[[str, str], None],
    progress_factory: Callable[[int], ProgressBar] | None,
) -> tuple[ScoringPlan, list[ShardScores]]:
    """The plan and the scores of its pairs: from the positions alone, or by the stages (all, or a round's new ones)."""
    if job.by_position and placement is not None:
        plan, scores = decide_without_images(mics, job.scoring, placement)
        if plan.psize_note:
            said(plan.psize_note, "warning")
        return plan, scores
    plan = plan_scoring(mics, job.scoring, placement, stages.layouts_known(mics.paths))
    if plan.psize_note:
        said(plan.psize_note, "warning")
    return plan, stages.score(plan, said, progress_factory)
