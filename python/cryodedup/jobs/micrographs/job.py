"""The micrograph job: find micrographs that image the same area twice.

Each micrograph is read once (memory-mapped), binned to a target pixel size while read,
and turned into a whitened band-limited spectrum by the Rust core; a candidate pair costs
one product and one inverse FFT. A pair is a duplicate when its phase-correlation peak
(z, in standard deviations of the correlation map) and the Pearson coefficient of the two
images over their overlap at the found shift both pass their thresholds. Duplicates are
grouped (union-find) and the earliest acquisition of each group is kept: the later exposure
hit pre-irradiated ice.

The job has the one shape of every job (``jobs/shape.py``): ``entrance.py``'s
``find_duplicate_micrographs`` resolves the options once (``plan.py``) into its plan
(:class:`MicrographJob`), and a runner runs its stages (:class:`MicrographStages`): ``read``
(the inputs listed, the outputs prepared, the metadata's placement), ``decide`` (the pairs
planned and scored by the stages' scorer, here or on Dask; ``decide.decide_run``; a pattern
common to the images removed and the pairs scored again; ``decide.judge_power``), ``write``
(``write.write_results``), ``summarise`` and ``report`` (the verdict line, the pictures and
report.html). :func:`run_plain` runs them with the plain runner.

The runners around the same stages (an ``--update`` round, ``update_round.py``; a merge of
shards, ``shards.py``) derive from :class:`MicrographStages` and override its hooks
(:meth:`~MicrographStages.prepare`, :meth:`~MicrographStages.layouts_known`,
:meth:`~MicrographStages.score`, :meth:`~MicrographStages.write_pairs`): this module imports
no runner's, and knows nothing of a round or a shard.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar

import numpy as np

from ...formats.micrograph_lists import Micrographs, load_inputs
from ...formats.mrc import MrcLayout
from ...outputs import all_outputs_at_once
from ...paths import StrPath
from ...report.micrograph_sections import MicrographTimings, ParticleSplit, revisit_rows
from ...report.sections.run import Outputs
from ...resolve.micrograph_names import check_match_mode
from .. import shape
from .decide import COMMON_CAUSES, MicrographOutcome, decide_run, judge_power
from .neighbours import look_at_hole_neighbours
from .pattern import scored_without_pattern
from .placement import Placement, place
from .plan import MetadataSources, MicrographPlan, ScoringPlan, plan_scoring
from .score import NonFiniteMicrograph, ProgressBar, ShardScorer, ShardScores, decide_without_images, run_in_process
from .summary import MicrographSummary
from .turned import look_at_turns
from .write import (
    PairRows,
    PreparedOutputs,
    collecting,
    prepare_outputs,
    summarised,
    verdict_line,
    write_pairs_whole,
    write_results,
)

if TYPE_CHECKING:
    from .overrides import PairsOverridden

__all__ = [
    "MicrographJob",
    "MicrographRead",
    "MicrographScored",
    "MicrographStages",
    "Say",
    "run_plain",
]

#: A message and its level (``info``, ``warning``): said, and (warnings) kept for the summary.
Say = Callable[[str, str], None]


@dataclass(frozen=True)
class MicrographJob:
    """The micrograph job's plan: the micrographs as given, where the outputs go, the options resolved (``plan``).

    ``particles``: a particle file to split by its micrographs' fate; ``match_micrographs``: how
    their micrographs are found among the inputs (``auto``, ``path``, ``name``).
    """

    inputs: Sequence[StrPath]
    outdir: Path
    plan: MicrographPlan
    particles: StrPath | None = None
    match_micrographs: str = "auto"


@dataclass
class MicrographRead:
    """What ``read`` gives: the micrographs screened, the outputs prepared, where each was taken, what was said.

    ``warned``: the warnings said so far (the summary's and the report's, in order), ``said`` says
    a message and keeps a warning there.
    """

    mics: Micrographs
    outputs: PreparedOutputs
    placement: Placement | None
    warned: list[str]
    said: Say


@dataclass(frozen=True)
class MicrographScored:
    """The scores of the plan's pairs (by shard) and the seconds reading and scoring took (None: scored elsewhere)."""

    plan: ScoringPlan
    shards: list[ShardScores]
    seconds: float | None


@dataclass(frozen=True)
class _Decided:
    """What ``decide`` gives: the outcome (decided, its power judged), and the scoring's seconds."""

    outcome: MicrographOutcome
    scoring: float | None
    #: ``--overrides``: the pairs it marked (None: no pair line).
    overridden: PairsOverridden | None = None


@dataclass(frozen=True)
class _Written:
    """What ``write`` gives: the particles split's counts, and (``--plot``) what the pictures are drawn from."""

    split: ParticleSplit | None
    #: ``--plot``: the micrographs read and the outcome, drawn by ``report`` once the summary is counted (else None).
    drawn_from: tuple[MicrographRead, MicrographOutcome] | None = None


@dataclass
class MicrographStages:
    """The micrograph job's stages (``shape.Stages``): a plain run screens every micrograph, scores every pair.

    ``force``: outputs in the way replaced; ``scorer``: scores the pairs (here as one shard, or on
    Dask); ``log`` and ``progress_factory``: how the run speaks. A runner around the same stages
    derives from this class and overrides its hooks: which micrographs it screens (:meth:`prepare`),
    the headers it knows (:meth:`layouts_known`), how it scores (:meth:`score`, :meth:`scored`) and
    writes pairs.csv (:meth:`write_pairs`). ``report`` draws from what ``write`` gave (:class:`_Written`).
    """

    #: A pattern common to the images is removed and the pairs scored again (all of them at hand: a plain run).
    REMOVES_PATTERN: ClassVar[bool] = True

    force: bool = False
    scorer: ShardScorer = run_in_process
    log: Say = lambda message, level: None
    progress_factory: Callable[[int], ProgressBar] | None = None

    def read(self, job: MicrographJob) -> MicrographRead:
        """The inputs listed, those screened (:meth:`prepare`) and their outputs prepared, the metadata's placement."""
        check_match_mode(job.match_micrographs)
        mics = load_inputs(list(job.inputs), job.plan.psize, job.plan.project_dir)
        warned: list[str] = []  # the warnings said before the writing (a round's), in the summary too
        said = collecting(self.log, warned)
        mics, outputs = self.prepare(mics, job.outdir, job.inputs, job.particles, said)
        placement = _placement(mics, job.plan.metadata)
        if placement is not None:  # (named now, before any image is read: the images to look at first)
            _say_revisits(placement, self.log, said)
        return MicrographRead(mics, outputs, placement, warned, said)

    def decide(self, job: MicrographJob, read: MicrographRead) -> _Decided:
        """The pairs planned and scored (:meth:`scored`), decided; a common pattern removed and scored again."""
        mics, placement, said = read.mics, read.placement, read.said
        scored = self.scored(job, read)
        plan, shards, scoring = scored.plan, scored.shards, scored.seconds
        outcome = decide_run(len(mics.names), plan, shards, job.plan.decision, placement)
        if outcome.decision.pattern and self.REMOVES_PATTERN:
            group = outcome.decision.pattern_images
            said(_pattern_removed(outcome.decision.pattern, _named(mics.names, group)), "warning")
            again = time.perf_counter()
            plan, shards = scored_without_pattern(plan, self.progress_factory, shards, group)
            if scoring is not None:  # (its reads are counted with the first scoring's)
                scoring += time.perf_counter() - again
            outcome = decide_run(len(mics.names), plan, shards, job.plan.decision, placement)
        looked: list[str | None] = []
        if not job.plan.by_position:  # (a hole's re-exposures its noise weakened; those turned by a few degrees)
            per_hole = job.plan.decision.images_per_hole  # (the neighbours first: the turns look at what is left)
            looked = [look_at_hole_neighbours(mics.names, outcome, per_hole), look_at_turns(mics.names, outcome)]
        judge_power(outcome, job.plan.decision)
        overrides = job.plan.decision.overrides
        used = None
        if overrides is not None and overrides.pairs:
            from .overrides import overridden  # (--overrides alone)

            outcome, used = overridden(outcome, overrides, mics.names)
            for line in used.nothing:
                said(f"{used.file}: {line} names nothing in the inputs (not applied)", "warning")
        decision = outcome.decision
        for seen, marked in zip(looked, (decision.shared, decision.turned)):
            if seen and marked is not None and (marked & decision.uncertain).any():  # (not all decided by --overrides)
                said(seen, "warning")
        return _Decided(outcome, scoring, used)

    def write(self, job: MicrographJob, read: MicrographRead, decided: _Decided) -> _Written:
        """The outputs (``write.write_results``) under temporary names; the particles split's counts; what to draw."""
        split = write_results(
            read.mics, job.plan.output, job.plan.scoring.candidates, decided.outcome, read.outputs,
            log=read.said, match_micrographs=job.match_micrographs, placement=read.placement,
            write_pairs=self.write_pairs,
        )  # fmt: skip
        return _Written(split, (read, decided.outcome) if job.plan.output.plot else None)

    def summarise(
        self, job: MicrographJob, read: MicrographRead, decided: _Decided, written: _Written
    ) -> MicrographSummary:
        """The summary, typed: what was read, compared, decided and written; the scoring's time and rate."""
        summary = summarised(
            read.mics, job.plan.scoring.candidates, decided.outcome, read.outputs, read.warned, read.placement,
            written.split,
        )  # fmt: skip
        rated = decided.scoring is not None and not job.plan.by_position
        scoring = decided.scoring if rated else None
        timings = MicrographTimings.scored(summary.images_read if rated else 0, scoring)
        if decided.scoring is not None and job.plan.by_position:  # (nothing read: no rate)
            timings = MicrographTimings(0.0, scoring_seconds=round(decided.scoring, 3))
        if decided.overridden is not None:
            summary = replace(summary, overrides=decided.overridden)
        return replace(summary, timings=timings)

    def report(self, job: MicrographJob, summary: MicrographSummary, written: _Written) -> MicrographSummary:
        """The line the summary opens with (every warning said); with ``--plot``, the pictures and report.html."""
        verdict = summary.judged.with_line(verdict_line(summary), checks=bool(summary.warnings))
        summary = replace(summary, verdict=verdict)
        if written.drawn_from is None:
            return summary
        from .pictures import plot

        read, outcome = written.drawn_from
        outputs = read.outputs
        drawn = plot(
            read.mics, job.plan.output, outcome.scores, outcome.decision, outcome.rank, outputs.outdir,
            outputs.force, summary, read.placement, outcome.plan.pattern,
        )  # fmt: skip
        assert summary.outputs is not None, "summarised with its outputs"
        return replace(summary, outputs=Outputs((*summary.outputs.by_subset, ("plots", tuple(drawn)))))

    # --- the hooks a runner around the stages overrides ---------------------------------------

    def prepare(
        self, mics: Micrographs, outdir: Path, inputs: Sequence[StrPath], particles: StrPath | None, said: Say
    ) -> tuple[Micrographs, PreparedOutputs]:
        """The micrographs it screens, of those listed (``mics``), and its outputs prepared (refused if in the way)."""
        return mics, prepare_outputs(mics, outdir, inputs, particles, self.force)

    def layouts_known(self, paths: Collection[StrPath]) -> dict[str, MrcLayout] | None:
        """Where the images of ``paths`` already known lie (their headers not read again), by path; None: none."""
        return None

    def scored(self, job: MicrographJob, read: MicrographRead) -> MicrographScored:
        """The plan and the scores of its pairs, and the seconds they took: by position alone, or by :meth:`score`."""
        started = time.perf_counter()
        plan, shards = _score(read.mics, job.plan, read.placement, self, read.said)
        return MicrographScored(plan, shards, time.perf_counter() - started)

    def score(self, plan: ScoringPlan, said: Say) -> list[ShardScores]:
        """The scores of the plan's pairs: by the scorer, here or elsewhere (Dask)."""
        return self.scorer(plan, self.progress_factory)

    def write_pairs(self, paths: tuple[Path, Path], rows: PairRows, binning: int, psize: float) -> None:
        """pairs.csv at ``paths`` (final, temporary): written whole."""
        write_pairs_whole(paths, rows, binning, psize)


@all_outputs_at_once
def run_plain(
    inputs: Sequence[StrPath],
    outdir: StrPath,
    job: MicrographPlan,
    *,
    particles: StrPath | None = None,
    match_micrographs: str = "auto",
    force: bool = False,
    log: Say = lambda message, level: None,
    progress_factory: Callable[[int], ProgressBar] | None = None,
    scorer: ShardScorer = run_in_process,
) -> MicrographSummary:
    """A plain run: :class:`MicrographStages` run by the plain runner, its outputs appearing together or not at all.

    ``scorer``: scores the pairs (here, or on Dask: ``dask.dask_scorer``).
    """
    plan = MicrographJob(inputs, Path(outdir), job, particles, match_micrographs)
    stages: shape.Stages[MicrographJob, MicrographRead, _Decided, _Written, MicrographSummary] = MicrographStages(
        force, scorer, log, progress_factory
    )
    return shape.run(plan, stages)


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
    said: Say,
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
            return plan, stages.score(plan, said)
        except NonFiniteMicrograph as err:
            if not job.scoring.skip_unreadable:
                raise
            said(f"{err.path}: {err.cause}; left out (--skip-unreadable), the rest scored", "warning")
            left_out.append(err.path)
