"""The particle job: remove duplicate particles (or picks), whatever their format.

:func:`remove_duplicate_particles` runs it in order: ``plan.py`` resolves the options once into
the typed values each stage takes; ``read.py`` hands the inputs to their
format's module, which reads them into one :class:`~cryodedup.particle_set.ParticleSet`
(or, asked by ``decide.one_pass``, decides and writes while it scans); ``decide.py`` decides
which rows to keep from that structure alone; the set's writer writes them; ``summary.py``
counts what was decided and ``pictures.py`` draws it.

An ``--update`` round (:func:`run_round`) wraps the same job: it opens the store, runs
:func:`run` with the round's stages (``update.Round``: decided against the kept set, written as
the round's files), and commits the round; :func:`run` calls its stages (``stages.py``) without
knowing which it was given.
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
from ...options import ParticleOptions
from ...options.keywords import said_in_python
from ...outputs import all_outputs_at_once, warn_earlier_report
from ...particle_set import Log, ParticleSet
from ...paths import StrPath, path_list
from ...report.sections.run import Outputs
from .decide import Decision, decide, warn_not_confirmable
from .plan import ParticlePlan, plan
from .read import Files, Source, silent, silent_warning, warn_unused_options
from .stages import Stages, Written
from .summary import ParticleSummary, summarize, timings, verdict_of
from .write import start_record, write_particles, write_record

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .plan import Deciding, OutputPlan
    from .record import RecordFile
    from .regions import Regions

__all__ = ["Outcome", "Plain", "job_for", "remove_duplicate_particles", "run"]


@said_in_python()  # (a caller who wrote Python is told keywords, not flags)
@all_outputs_at_once
def remove_duplicate_particles(
    inputs: Iterable[StrPath],
    outdir: StrPath | None,
    options: ParticleOptions | None = None,
    *,
    force: bool = False,
    log: Log = silent,
) -> ParticleSummary:
    """Removes duplicate particles from RELION particle STAR files or CryoSPARC datasets.

    Parameters
    ----------
    inputs : list of path
        Particle STAR files (RELION 3.0 to 5, or files written by other tools in that
        format), or CryoSPARC ``.cs`` / ``.csg`` files. Several are deduplicated together.
    outdir : path or None
        Folder that receives ``particles_kept.star`` and ``particles_rejected.star``, or
        ``particles_kept.cs``, ``particles_rejected.cs`` (and ``.csg`` and passthrough
        files for a result group). None only with ``audit`` and without ``plot``, which
        write nothing.
    options : ParticleOptions
        Minimum distance, pixel size, shift, score and mode.
    force : bool
        Overwrite existing outputs.
    log : callable(message, level)
        Receives progress messages ("info") and warnings ("warning").

    Returns
    -------
    ParticleSummary
        The summary, typed (:class:`~cryodedup.jobs.particles.summary.ParticleSummary`:
        ``summary.kept``, ``summary.rejected``, ``summary.verdict``, its sections such as
        ``summary.score``); its ``to_json()`` is the document ``--json`` prints (counts, pixel
        sizes, shift and score used, outputs, time).
    """
    options = options or ParticleOptions()
    return job_for(options.update)(Files.of(path_list(inputs)), outdir, options, force=force, log=log).summary


@dataclass(frozen=True)
class Outcome:
    """What a run of the particle job gives back: its summary, the rows read and the decision."""

    summary: ParticleSummary
    particles: ParticleSet
    decision: Decision
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
    options: ParticleOptions | None = None,
    *,
    force: bool = False,
    log: Log = silent,
    stages: Stages | None = None,
) -> Outcome:
    """The particle job, the one orchestration of files and of data in memory alike.

    Read (the source's reader), check, decide, write (the set's writer; data in memory: none),
    summarise, draw (``--plot``). Warnings are said once the checks that can stop the run have
    passed: none before an error. ``stages``: how it decides and writes (a plain run's,
    :class:`Plain`, unless given: an ``--update`` round's, by :func:`run_round`).
    """
    start = time.perf_counter()
    options = options or ParticleOptions()
    options.check()
    job = plan(options)  # (the options resolved once: no stage sees them)
    folder = source.check(outdir, job.read)
    stages = stages or Plain(source, folder, force)
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
    return Outcome(summary, particles, decision, written.record)


def run_round(
    source: Source,
    outdir: StrPath | None,
    options: ParticleOptions,
    *,
    force: bool = False,
    log: Log = silent,
) -> Outcome:
    """An ``--update`` round: the store opened, :func:`run` with the round's stages, the round committed.

    The job's own refusals come first, as a plain run says them; then the round's
    (:func:`.update.open_round`: the options the plan's round refuses, the output folder locked,
    the store checked). The round's files are written by the job under temporary names and put
    in place once the store has the round; a job stopped before removes them. The summary gets
    the round's section.
    """
    from .update import open_round  # (its store's modules loaded for a round only)

    options.check()
    job = plan(options)
    assert job.round is not None, "a round is run for --update"
    source.check(outdir, job.read)
    round_ = open_round(source, outdir, job.round, force, log)
    try:
        outcome = run(source, outdir, options, force=force, log=log, stages=round_)
        round_.commit()
    finally:
        round_.discard()
    return replace(outcome, summary=replace(outcome.summary, update=round_.section(outcome.summary)))


def job_for(update: bool) -> Callable[..., Outcome]:
    """The job the command line, the API and the pipelines run: :func:`run`, or :func:`run_round` (``--update``)."""
    return run_round if update else run


@dataclass(frozen=True)
class Plain:
    """A plain run's stages: :func:`.decide.decide` on the rows read; the set's writer, and ``--decisions``' record."""

    source: Source
    folder: Path | None
    force: bool

    def decide(self, particles: ParticleSet, rule: Deciding, log: Log, regions: Regions | None) -> Decision:
        """As :class:`.stages.Stages` says."""
        return decide(particles, rule, log, regions)

    def write(
        self,
        particles: ParticleSet,
        decision: Decision,
        job: ParticlePlan,
        halves: np.ndarray | None,
        warn: Callable[[str], None],
    ) -> Written:
        """As :class:`.stages.Stages` says: the kept and rejected rows, and the record (``--decisions``).

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


def _warn_earlier_files(folder: StrPath | None, output: OutputPlan, warn: Callable[[str], None]) -> None:
    """An earlier run's report or record left in the output folder, that this run does not write again."""
    if folder is None:
        return
    if not output.plot and not output.audit:
        warn_earlier_report(folder, warn)
    if not output.decisions and (Path(folder) / "decisions.csv").is_file():
        warn(f"{Path(folder) / 'decisions.csv'} is an earlier run's: this run recorded none (--decisions does)")
