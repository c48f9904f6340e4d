"""The particle job: remove duplicate particles (or picks), whatever their format.

:func:`run` runs it in order (``entrance.py``'s :func:`~.entrance.remove_duplicate_particles`
chooses it, or a round around it): ``plan.py`` resolves the options once into
the typed values each stage takes; ``read.py`` hands the inputs to their
format's module, which reads them into one :class:`~cryodedup.particle_set.ParticleSet`
(or, asked by ``decide.one_pass``, decides and writes while it scans); ``decide.py`` decides
which rows to keep from that structure alone; the set's writer writes them; ``summary.py``
counts what was decided and ``pictures.py`` draws it.

An ``--update`` round (``update.run_round``) wraps the same job: it opens the store, runs
:func:`run` with the round's stages (``update.ParticleRound``: decided against the kept set,
written as the round's files), and commits the round; a shard (``shards.py``) runs it with its
own stages alike. :func:`run` calls its stages (``stages.py``) without knowing which it was
given, and this module imports no runner's.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...algo.audit import (
    check_halfsets,
    halfsets_by_micrograph,
)
from ...outputs import warn_earlier_report
from ...particle_set import Log, ParticleSet
from ...paths import StrPath
from ...report.sections.run import Outputs
from .decide import ParticleDecision, decide, warn_not_confirmable
from .plan import ParticlePlan
from .read import Source, silent, silent_warning, warn_unused_options
from .stages import ParticleStages, Written
from .summary import ParticleSummary, summarize, timings, verdict_of
from .write import start_record, write_particles, write_record

if TYPE_CHECKING:
    from collections.abc import Callable

    from .plan import Deciding, ParticleOutputPlan
    from .record import RecordFile
    from .regions import Regions

__all__ = ["ParticleOutcome", "PlainParticleStages", "run"]


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


def run(
    source: Source,
    outdir: StrPath | None,
    job: ParticlePlan,
    *,
    force: bool = False,
    log: Log = silent,
    stages: ParticleStages | None = None,
) -> ParticleOutcome:
    """The particle job, the one orchestration of files and of data in memory alike.

    Read (the source's reader), check, decide, write (the set's writer; data in memory: none),
    summarise, draw (``--plot``). Warnings are said once the checks that can stop the run have
    passed: none before an error. ``job``: the options checked and resolved once by the caller
    (``plan.plan``): no stage sees them. ``stages``: how it decides and writes (a plain run's,
    :class:`PlainParticleStages`, unless given: an ``--update`` round's, by ``update.run_round``).
    """
    start = time.perf_counter()
    folder = source.check(outdir, job.read)
    stages = stages or PlainParticleStages(source, folder, force)
    warn = _Warnings(log)
    held = source.held_by_prefer(job.read, warn)  # (--prefer parsed once, before anything is read where it can be)
    particles = source.read(folder, job.read, warn, log, held)
    warn_unused_options(particles, job.read, job.deciding, warn)
    job = job.for_rows(particles, held)  # (what the rows say of the options, once: each species' distance ...)
    rule = job.deciding
    registration = transforms = None
    if len(particles.inputs) > 1 or job.registration.transforms:  # (its modules loaded for these alone)
        from ..registration import registered

        # (--shift-key none: the inputs read again with their origins subtracted, where the check needs them)
        aware = partial(source.read, folder, job.read.shift_aware(), silent_warning, silent, held)
        registration, transforms = registered(particles, job.registration, job.distances, warn, aware)
    if job.output.reassign_halves:
        check_halfsets(particles)
    read_at = time.perf_counter()
    tomograms = regions = None  # (the mask and the edge read before deciding: the decision reads no file)
    if rule.regions is not None or (job.output.plot and particles.centres.shape[1] == 3):
        from .regions import tomograms_and_regions  # (MRC headers and the tomograms STAR: loaded when asked for)

        tomograms, regions = tomograms_and_regions(particles, rule.regions, job.output.micrographs)
    decision = stages.decide(particles, rule, log, regions)
    warn.checks_passed()
    warn_not_confirmable(particles, decision, rule.min_support, rule.uncovered, warn)
    for message in decision.regions.warnings if decision.regions is not None else ():
        warn(message)
    decided_at = time.perf_counter()
    # (--plot: drawn on a thread from here, while the summary is counted and the outputs written)
    plotted = None
    if job.output.plot:
        from .pictures import drawing  # (Pillow and the pictures': --plot alone)

        plotted = drawing(particles, decision, job, source, folder, force, tomograms)
    halves = halfsets_by_micrograph(particles.groups, decision.keep) if job.output.reassign_halves else None
    # Counted before the outputs are written: a one-pass scan's writer may still be busy.
    summary = replace(summarize(particles, decision, rule, halves), registration=registration, transforms=transforms)
    written = stages.write(particles, decision, job, halves, warn)
    if summary.same_image is not None and summary.same_image.message is not None:
        warn(summary.same_image.message)
    names = summary.particle_names
    if names is not None and not names.extracted:  # (before extraction: what RELION will do with them)
        warn(names.message)
    summary = replace(
        summary,
        timings=timings(particles, read_at - start, decided_at - read_at, written.seconds),
        outputs=Outputs.of(written.outputs),
        warnings=warn.said,
        seconds=round(time.perf_counter() - start, 3),
    )
    _warn_earlier_files(folder, job.output, warn)
    summary = replace(summary, verdict=verdict_of(summary))  # (once every warning is said: the report opens with it)
    if plotted is not None:
        summary = plotted(summary)
    return ParticleOutcome(summary, particles, decision, written.record)


@dataclass(frozen=True)
class PlainParticleStages:
    """A plain run's stages: :func:`.decide.decide` on the rows read; the set's writer, and ``--decisions``' record."""

    source: Source
    folder: Path | None
    force: bool

    def decide(self, particles: ParticleSet, rule: Deciding, log: Log, regions: Regions | None) -> ParticleDecision:
        """As :class:`.stages.ParticleStages` says."""
        return decide(particles, rule, log, regions)

    def write(
        self,
        particles: ParticleSet,
        decision: ParticleDecision,
        job: ParticlePlan,
        halves: np.ndarray | None,
        warn: Callable[[str], None],
    ) -> Written:
        """As :class:`.stages.ParticleStages` says: the kept and rejected rows, and the record (``--decisions``).

        The record is made once before the rows are written (:func:`.write.start_record`); the
        core writes it on a thread of its own meanwhile where it can, else it is written once they are.
        """
        output, force = job.output, self.force
        started = start_record(particles, decision, job.deciding, self.folder) if output.decisions else None
        try:
            outputs, seconds = write_particles(particles, decision.keep, halves, output, force, self.source, warn)
        except BaseException:
            if started is not None and started.core is not None:  # (its thread ended before the batch removes its file)
                with contextlib.suppress(OSError):
                    started.core.finish()
            raise
        if started is None:
            return Written(outputs, seconds)
        record, outputs = write_record(particles, started, self.folder, force, outputs)
        return Written(outputs, seconds, record)


def _warn_earlier_files(folder: StrPath | None, output: ParticleOutputPlan, warn: Callable[[str], None]) -> None:
    """An earlier run's report or record left in the output folder, that this run does not write again."""
    if folder is None:
        return
    if not output.plot and not output.audit:
        warn_earlier_report(folder, warn)
    if not output.decisions and (Path(folder) / "decisions.csv").is_file():
        warn(f"{Path(folder) / 'decisions.csv'} is an earlier run's: this run recorded none (--decisions does)")
