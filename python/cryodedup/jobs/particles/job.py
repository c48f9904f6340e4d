"""The particle job: remove duplicate particles (or picks), whatever their format.

The job has the one shape of every job (``jobs/shape.py``): ``plan.py`` resolves the options
once into the plan, at the door; :class:`PlainParticleStages` are its five stages, which a
runner runs (:func:`run`: ``shape.plain`` unless given another). ``read``: ``read.py`` hands the
inputs to their format's module, which reads them into one
:class:`~cryodedup.particle_set.ParticleSet` (or, asked by ``decide.one_pass``, decides and
writes while it scans), checked; ``decide``: ``decide.py`` decides which rows to keep from that
structure alone; ``write``: the set's writer writes them; ``summarise``: ``summary.py`` counts
what was decided; ``report``: the verdict, and ``pictures.py``'s drawing (``--plot``).

An ``--update`` round (``update.round_runner``) runs the same stages as a subclass that decides
against the store's kept set and writes the round's files (``update.ParticleRoundStages``), then
commits the round; a shard and the shards' merge (``shards.py``) and Dask (``dask.py``) alike.
The stages know no runner, and this module imports no runner's.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from ...algo.audit import (
    check_halfsets,
    halfsets_by_micrograph,
)
from ...outputs import warn_earlier_report
from ...particle_set import Log, ParticleSet
from ...paths import StrPath
from ...report.sections.run import Outputs
from .. import shape
from .decide import ParticleDecision, decide, trimmed, warn_not_confirmable
from .plan import ParticlePlan
from .read import Source, silent, silent_warning, warn_unused_options
from .stages import ParticleDecided, ParticleRead, ParticleWritten, Written
from .summary import ParticleSummary, decision_warnings, kept_twice_warnings, one_pass_timings, summarize, verdict_of
from .write import start_record, write_particles, write_record

if TYPE_CHECKING:
    from collections.abc import Callable

    from .overrides import Forced
    from .plan import ParticleOutputPlan
    from .record import RecordFile

__all__ = ["ParticleOutcome", "ParticleRunner", "PlainParticleStages", "read_and_decide", "run"]

_StagesT = TypeVar("_StagesT", bound="PlainParticleStages")


@dataclass(frozen=True)
class ParticleOutcome:
    """What a run of the particle job gives back: its summary, the rows read and the decision."""

    summary: ParticleSummary
    particles: ParticleSet
    decision: ParticleDecision
    #: The record of every rejection (``--decisions``): :func:`.record.table`'s columns, or the file the core
    #: wrote while it scanned (:func:`.record.columns_of` reads it); None without it.
    decisions: dict | RecordFile | None = None


@dataclass
class _Warnings:
    """The run's warnings (what it calls ``warn``): kept for the summary, and logged once the checks have passed.

    Said once the checks that can stop the run have passed (none before an error), and as they
    come from then on.
    """

    log: Log
    said: list[str] = field(default_factory=list)
    checked: bool = False

    def __call__(self, message: str) -> None:
        self.said.append(message)
        if self.checked:
            self.log(message, "warning")

    def checks_passed(self) -> None:
        """The warnings so far logged, and those to come as they come."""
        self.checked = True
        for message in self.said:
            self.log(message, "warning")


#: What runs the particle job's stages: ``shape.plain``, or a round's, a shard's, the merge's (their own modules').
#: Given the job's own stages (their source, output folder, :meth:`~PlainParticleStages.around`): no downcast.
ParticleRunner = shape.Runner["PlainParticleStages", ParticleSummary]


def run(
    source: Source,
    outdir: StrPath | None,
    job: ParticlePlan,
    *,
    force: bool = False,
    log: Log = silent,
    runner: ParticleRunner | None = None,
) -> ParticleOutcome:
    """The particle job for the plan ``job`` on ``source``: its stages run by ``runner``; what they read, decided.

    ``job``: the options checked and resolved once by the caller (``plan.plan``): no stage sees
    them. ``runner``: ``shape.plain`` unless given (an ``--update`` round's, ``update.round_runner``;
    the shards' merge's). Files and data in memory alike.
    """
    stages = PlainParticleStages(source, outdir, force, log, _Warnings(log))
    ran = shape.plain(job, stages) if runner is None else runner(job, stages)
    read, decided, written = cast(
        "tuple[ParticleRead, ParticleDecided, ParticleWritten]", (ran.read, ran.decided, ran.written)
    )
    return ParticleOutcome(ran.summary, read.particles, decided.decision, written.written.record)


def read_and_decide(source: Source, job: ParticlePlan, log: Log = silent) -> tuple[ParticleSet, ParticleDecision]:
    """The read and decide stages alone, and the warnings the run's summary would say: an audit's count of a set.

    ``audit`` counts each set of a project from its rows and decision, writing nothing and summarising nothing: on a
    project of 100,000 small sets the summary and the verdict of each were a third of its time (issue 99). The
    warnings are the run's (``log``), in its order: the read's and the decision's, then the summary's.
    """
    stages = PlainParticleStages(source, None, False, log, _Warnings(log))
    read = stages.read(job)
    decision = stages.decide(job, read).decision
    for message in decision_warnings(read.particles, decision, read.job.deciding):
        stages.warnings(message)
    return read.particles, decision


@dataclass(frozen=True)
class PlainParticleStages:
    """The particle job's stages (``shape.Stages``) for one run: read, decide, write, summarise, report.

    A plain run decides on the rows read (:meth:`decide_rows`: :func:`.decide.decide`) and writes
    the set's outputs and ``--decisions``' record (:meth:`write_rows`); a round, a shard and the
    merge run a subclass that overrides those two (``update.py``, ``shards.py``), made by their
    runner from these (:meth:`around`). Each stage returns what the later ones need (the folder
    with the rows, the drawing with what was written); none keeps anything on the object. The
    warnings (``warnings``, made with the stages) are said once the checks that can stop the run
    have passed: none before an error. Frozen: a stage cannot keep anything on it
    (``tests/project/test_job_shape.py`` reads the methods for assignments to what they hold too).
    """

    source: Source
    outdir: StrPath | None
    force: bool = False
    log: Log = silent
    #: The run's warnings (a runner's subclass, :meth:`around`, says its plain stages').
    warnings: _Warnings = shape.required("warnings")
    #: Whether the decision is the whole set's, which ``--halfsets trim`` balances (a shard decides a part alone).
    trims: ClassVar[bool] = True

    def around(self, kind: type[_StagesT], **own: Any) -> _StagesT:
        """These stages as a runner's subclass ``kind`` (with its own fields ``own``), saying the same warnings."""
        return kind(self.source, self.outdir, self.force, self.log, self.warnings, **own)

    def read(self, plan: ParticlePlan) -> ParticleRead:
        """The inputs read into one set and checked; the plan resolved for the rows; the registration; the regions."""
        folder = self.source.check(self.outdir, plan.read)
        warn = self.warnings
        held = self.source.held_by_prefer(plan.read, warn)  # (--prefer parsed once, before anything is read)
        particles = self.source.read(folder, plan.read, warn, self.log, held)
        warn_unused_options(particles, plan.read, plan.deciding, warn)
        job = plan.for_rows(particles, held)  # (what the rows say of the options, once: each species' distance ...)
        registration = transforms = None
        if len(particles.inputs) > 1 or job.registration.transforms:  # (its modules loaded for these alone)
            from ..registration import registered

            # (--shift-key none: the inputs read again with their origins subtracted, where the check needs them)
            aware = partial(self.source.read, folder, job.read.shift_aware(), silent_warning, silent, held)
            registration, transforms = registered(particles, job.registration, job.distances, warn, aware)
        if job.output.reassign_halves or job.output.trim_halves:
            check_halfsets(particles, job.output.halfsets)
        tomograms = regions = None  # (the mask and the edge read before deciding: the decision reads no file)
        if job.deciding.regions is not None or (job.output.plot and particles.centres.shape[1] == 3):
            from .regions import tomograms_and_regions  # (MRC headers and the tomograms STAR: loaded when asked for)

            tomograms, regions = tomograms_and_regions(particles, job.deciding.regions, job.output.micrographs)
        forced = _forced_rows(particles, job)
        return ParticleRead(particles, job, registration, transforms, tomograms, regions, forced, folder)

    def decide(self, plan: ParticlePlan, read: ParticleRead) -> ParticleDecided:
        """The decision (:meth:`decide_rows`), then the warnings said: the checks that can stop the run have passed."""
        particles, job, warn = read.particles, read.job, self.warnings
        decision = self.decide_rows(read)
        if job.output.trim_halves and self.trims:  # (on the whole set's decision: a shard's part is not trimmed)
            decision = trimmed(particles, decision, job.deciding.seed)
        warn.checks_passed()
        warn_not_confirmable(particles, decision, job.deciding.min_support, job.deciding.uncovered, warn)
        for message in decision.regions.warnings if decision.regions is not None else ():
            warn(message)
        halves = halfsets_by_micrograph(particles.groups, decision.keep) if job.output.reassign_halves else None
        return ParticleDecided(decision, halves)

    def write(self, plan: ParticlePlan, read: ParticleRead, decided: ParticleDecided) -> ParticleWritten:
        """The outputs written (:meth:`write_rows`); ``--plot`` drawn on a thread meanwhile, joined by ``report``."""
        particles, job, decision = read.particles, read.job, decided.decision
        plotted = None
        if job.output.plot:  # (drawn on a thread from here, while the outputs are written and the summary counted)
            from .pictures import drawing  # (Pillow and the pictures': --plot alone)

            plotted = drawing(particles, decision, job, self.source, read.folder, self.force, read.tomograms)
        return ParticleWritten(self.write_rows(read, decided), read.folder, plotted)

    def summarise(
        self, plan: ParticlePlan, read: ParticleRead, decided: ParticleDecided, written: ParticleWritten
    ) -> ParticleSummary:
        """The summary counted, with the run's parts: the registration, the outputs, the warnings the counts raise."""
        warn = self.warnings
        summary = summarize(read.particles, decided.decision, read.job.deciding, decided.halves)
        summary = replace(summary, registration=read.registration, transforms=read.transforms)
        for message in kept_twice_warnings(summary.same_image, summary.particle_names):
            warn(message)
        outputs = Outputs.of(
            {subset: files for subset, files in written.written.outputs.items() if files}
        )  # (--audit: {})
        if read.forced is not None:
            from .overrides import applied

            summary = replace(summary, overrides=applied(read.forced, decided.decision.overridden))
            for line in read.forced.nothing:
                warn(f"{read.forced.file}: {line} names nothing in the inputs (not applied)")
        return replace(summary, outputs=outputs, timings=one_pass_timings(read.particles))

    def report(self, plan: ParticlePlan, summary: ParticleSummary, written: ParticleWritten) -> ParticleSummary:
        """The verdict, once every warning is said (earlier runs' files left); ``--plot``'s pictures joined."""
        _warn_earlier_files(written.folder, plan.output, self.warnings)
        summary = replace(summary, warnings=list(self.warnings.said))
        summary = replace(summary, verdict=verdict_of(summary, plan.output.audit))  # (the report opens with it)
        return summary if written.plotted is None else written.plotted(summary)

    def decide_rows(self, read: ParticleRead) -> ParticleDecision:
        """The decision on the rows read, by the plan's rule resolved for them (``ParticlePlan.for_rows``).

        ``read.regions``: the rows ``--mask`` and ``--edge`` drop (None: neither).
        """
        forced = None if read.forced is None else read.forced.rows
        return decide(read.particles, read.job.deciding, self.log, read.regions, forced)

    def write_rows(self, read: ParticleRead, decided: ParticleDecided) -> Written:
        """The kept and rejected rows, and the record (``--decisions``), as the plan says (the half-sets: or None).

        The record is made once before the rows are written (:func:`.write.start_record`); the
        core writes it on a thread of its own meanwhile where it can, else it is written once they are.
        """
        (particles, job), (decision, halves), warn = read[:2], decided, self.warnings
        output, force, folder = job.output, self.force, read.folder
        started = start_record(particles, decision, job.deciding, folder) if output.decisions else None
        try:
            outputs, _ = write_particles(particles, decision.keep, halves, output, force, self.source, warn)
        except BaseException:
            if started is not None and started.core is not None:  # (its thread ended before the batch removes its file)
                with contextlib.suppress(OSError):
                    started.core.finish()
            raise
        if started is None:
            return Written(outputs)
        record, outputs = write_record(particles, started, folder, force, outputs)
        return Written(outputs, record)


def _forced_rows(particles: ParticleSet, job: ParticlePlan) -> Forced | None:
    """``--overrides`` matched to the rows read, refused where stale (None: not given).

    In an ``--update`` round a line naming another input names nothing in this batch (one file serves every round).
    """
    if job.deciding.overrides is None:
        return None
    from .overrides import forced_rows

    return forced_rows(particles, job.deciding.overrides, other_inputs=job.deciding.batches)


def _warn_earlier_files(folder: StrPath | None, output: ParticleOutputPlan, warn: Callable[[str], None]) -> None:
    """An earlier run's report or record left in the output folder, that this run does not write again."""
    if folder is None:
        return
    if not output.plot and not output.audit:
        warn_earlier_report(folder, warn)
    if not output.decisions and (Path(folder) / "decisions.csv").is_file():
        warn(f"{Path(folder) / 'decisions.csv'} is an earlier run's: this run recorded none (--decisions does)")
