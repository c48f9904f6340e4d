"""The micrograph job: find micrographs that image the same area twice.

Each micrograph is read once (memory-mapped), binned to a target pixel size while read,
and turned into a whitened band-limited spectrum by the Rust core; a candidate pair costs
one product and one inverse FFT. A pair is a duplicate when its phase-correlation peak
(z, in standard deviations of the correlation map) and the Pearson coefficient of the two
images over their overlap at the found shift both pass their thresholds. Duplicates are
grouped (union-find) and the earliest acquisition of each group is kept: the later exposure
hit pre-irradiated ice.

``entrance.py``'s ``find_duplicate_micrographs`` resolves the options once (``plan.py``) and
chooses the runner; :func:`run` reads,
plans and scores the pairs (``score.py``), decides (``decide.decide_run``) and writes
(``write.write_results``), in that order; a merge of shards (``shards.py``) decides and writes alike.

An ``--update`` round (``update_round.run_round``) wraps the same job: it runs :func:`run` with
the round's stages (``update_round.MicrographRound``: the store opened, only its unseen
micrographs read, only the pairs it has no score for scored), and commits the round to the
store; :func:`run` calls its stages (``stages.py``) without knowing which it was given, and
this module imports no runner's.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ...formats.micrograph_lists import Micrographs, load_inputs
from ...outputs import all_outputs_at_once
from ...paths import StrPath
from ...report.micrograph_sections import Timing, revisit_rows
from ...resolve.micrograph_names import check_match_mode
from .decide import COMMON_CAUSES, decide_run, judge_power
from .pattern import scored_without_pattern
from .placement import Placement, place
from .plan import MetadataSources, MicrographPlan, ScoringPlan, plan_scoring
from .score import NonFiniteMicrograph, ProgressBar, ShardRunner, ShardScores, decide_without_images, run_in_process
from .stages import MicrographStages, Say
from .summary import MicrographSummary
from .write import PreparedOutputs, collecting, prepare_outputs, write_results

__all__ = ["run", "run_plain"]


def run(
    inputs: Sequence[StrPath],
    outdir: StrPath,
    job: MicrographPlan,
    *,
    stages: MicrographStages,
    particles: StrPath | None = None,
    match_micrographs: str = "auto",
    log: Callable[[str, str], None] = lambda message, level: None,
    progress_factory: Callable[[int], ProgressBar] | None = None,
    start: float | None = None,
) -> MicrographSummary:
    """The job, its options resolved (``job``) and checked: read, plan, score, decide, write; its summary typed.

    ``stages``: which micrographs it screens and how it scores them (:class:`PlainMicrographStages`, or an
    ``--update`` round's, by ``update_round.run_round``). Its outputs are written under temporary names,
    put in place by the output batch it runs in (:func:`run_plain`, ``update_round.run_round``).
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
    # (a round's store and a merge's shards: refused)
    if outcome.decision.pattern and isinstance(stages, PlainMicrographStages):
        group = outcome.decision.pattern_images
        said(_pattern_removed(outcome.decision.pattern, _named(mics.names, group)), "warning")
        again = time.perf_counter()
        plan, shards = scored_without_pattern(plan, progress_factory, shards, group)
        scoring += time.perf_counter() - again  # (its reads are counted with the first scoring's)
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
    """A plain run: :func:`run` with :class:`PlainMicrographStages`, its outputs appearing together or not at all."""
    return run(
        inputs, outdir, job, stages=PlainMicrographStages(force, runner), particles=particles,
        match_micrographs=match_micrographs, log=log, progress_factory=progress_factory, start=start,
    )  # fmt: skip


@dataclass(frozen=True)
class PlainMicrographStages:
    """A plain run's stages (:class:`.stages.MicrographStages`): every micrograph listed, every pair scored."""

    force: bool
    runner: ShardRunner = run_in_process
    pairs_csv: None = None  # (pairs.csv written whole)

    def prepare(
        self, mics: Micrographs, outdir: Path, inputs: Sequence[StrPath], particles: StrPath | None, said: Say
    ) -> tuple[Micrographs, PreparedOutputs]:
        """As :class:`.stages.MicrographStages` says: the micrographs listed; outputs in the way refused."""
        return mics, prepare_outputs(mics, outdir, inputs, particles, self.force)

    def layouts_known(self, paths: Collection[StrPath]) -> None:
        """As :class:`.stages.MicrographStages` says: none (every header is read)."""
        return None

    def score(
        self, plan: ScoringPlan, said: Say, progress_factory: Callable[[int], ProgressBar] | None
    ) -> list[ShardScores]:
        """As :class:`.stages.MicrographStages` says: by the runner, here or elsewhere (Dask)."""
        return self.runner(plan, progress_factory)


def _say_revisits(placement: Placement, log: Callable[[str, str], None], said: Callable[[str, str], None]) -> None:
    """The areas imaged twice that the metadata names (--metadata), and a navigator's warning."""
    for title, text in revisit_rows(placement.revisits):
        log(f"--metadata: {title.lower()}: {text}", "info")
    if placement.navigator_warning:
        said(placement.navigator_warning, "warning")


def _pattern_removed(pattern: str, group: str) -> str:
    """The warning of a run that found a pattern common to its images (``decide.common_pattern``) and removes it."""
    return (
        f"a pattern common to the images ({COMMON_CAUSES}): {pattern}{group}; removed (the mean of the normalised "
        "binned images, each image's share fitted) and every pair scored again (the images read twice more, to "
        "estimate it and to score them again: Read counts every pass). Check the gain reference "
        "motion correction applied"
    )


def _named(names: Sequence[str], group: np.ndarray | None) -> str:
    """The images of a group holding a pattern, as the warning names them ('' for every image)."""
    if group is None:
        return ""
    shown = [Path(names[int(k)]).name for k in group[:4]]
    more = f" and {len(group) - 4} more" if len(group) > 4 else ""
    return f" ({', '.join(shown)}{more})"


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
    stages: MicrographStages,
    said: Callable[[str, str], None],
    progress_factory: Callable[[int], ProgressBar] | None,
) -> tuple[ScoringPlan, list[ShardScores]]:
    """The plan and the scores of its pairs: from the positions alone, or by the stages (all, or a round's new ones)."""
    if job.by_position and placement is not None:
        plan, scores = decide_without_images(mics, job.scoring, placement)
        if plan.psize_note:
            said(plan.psize_note, "warning")
        return plan, scores
    left_out: list[str] = []
    while True:  # (--skip-unreadable: an image found to hold NaN or infinities left out, the rest planned anew)
        plan = plan_scoring(mics, job.scoring, placement, stages.layouts_known(mics.paths), left_out)
        if plan.psize_note and not left_out:
            said(plan.psize_note, "warning")
        try:
            return plan, stages.score(plan, said, progress_factory)
        except NonFiniteMicrograph as err:
            if not job.scoring.skip_unreadable:
                raise
            said(f"{err.path}: holds NaN or infinite pixels; left out (--skip-unreadable), the rest scored", "warning")
            left_out.append(err.path)
