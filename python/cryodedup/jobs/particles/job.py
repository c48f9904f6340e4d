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
from dataclasses import dataclass, replace
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
from ...paths import StrPath
from ...report.sections.run import Outputs
from .decide import Decision, decide, warn_not_confirmable
from .plan import ParticlePlan, plan
from .read import Files, Held, Source, warn_unused_options
from .stages import Stages, Written
from .summary import ParticleSummary, summarize, timings, verdict_of
from .write import start_record, write_particles, write_record

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ...formats.star.tomograms import Tomograms
    from ...report.sections import MovedInputs, Registration
    from .plan import Deciding, OutputPlan, ReadPlan
    from .record import RecordFile
    from .regions import Regions

__all__ = ["Outcome", "job_for", "remove_duplicate_particles", "run"]


def _registered(
    particles: ParticleSet,
    job: ParticlePlan,
    warn: Callable[[str], None],
    shift_aware: Callable[[], ParticleSet] | None = None,
) -> tuple[Registration | None, MovedInputs | None]:
    """The inputs' registration checked and ``--transform`` applied: the summary's ``registration`` and ``transforms``.

    Neither applies to one input without ``--transform``: the registration's modules are loaded
    only for several inputs (or to refuse a ``--transform`` of one), not at every start-up.
    """
    check, transforms = job.registration, list(job.registration.transforms)
    if len(particles.inputs) < 2 and not transforms:
        return None, None
    from ..registration import check_registration, move_inputs, refuse_transform_into_combined_output, write_moved

    refuse_transform_into_combined_output(particles, transforms, check.audit)
    moved = move_inputs(particles, transforms)
    registration = check_registration(particles, check, job.distances, moved, warn, shift_aware)
    return registration, write_moved(particles, check.audit, moved)


def _shift_aware(source: Source, folder: Path | None, read: ReadPlan, held: Held) -> Callable[[], ParticleSet]:
    """The inputs read again with their origins subtracted (for ``--shift-key none``: called only where needed)."""
    aware = read.shift_aware()
    return lambda: source.read(folder, aware, _silent_warning, _silent, held)


def _silent(message: str, level: str) -> None:
    pass


def _silent_warning(message: str) -> None:
    pass


@said_in_python()  # (a caller who wrote Python is told keywords, not flags)
@all_outputs_at_once
def remove_duplicate_particles(
    inputs: Iterable[StrPath],
    outdir: StrPath | None,
    options: ParticleOptions | None = None,
    *,
    force: bool = False,
    log: Log = _silent,
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
    return job_for(options.update)(Files.of(inputs), outdir, options, force=force, log=log).summary


@dataclass(frozen=True)
class Outcome:
    """What a run of the particle job gives back: its summary, the rows read and the decision."""

    summary: ParticleSummary
    particles: ParticleSet
    decision: Decision
    #: The record of every rejection (``--decisions``): :func:`.record.table`'s columns, or the file the core
    #: wrote while it scanned (:func:`.record.columns_of` reads it); None without it.
    decisions: dict | RecordFile | None = None


def run(
    source: Source,
    outdir: StrPath | None,
    options: ParticleOptions | None = None,
    *,
    force: bool = False,
    log: Log = _silent,
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
    warnings: list[str] = []
    checked = False

    def warn(message: str) -> None:
        warnings.append(message)
        if checked:
            log(message, "warning")

    held = source.held_by_prefer(job.read, warn)  # (--prefer parsed once, before anything is read where it can be)
    particles = source.read(folder, job.read, warn, log, held)
    warn_unused_options(particles, job.read, job.deciding, warn)
    job = job.for_rows(particles)  # (each species' distance, once)
    rule = job.deciding
    registration, transforms = _registered(particles, job, warn, _shift_aware(source, folder, job.read, held))
    if job.output.reassign_halves:
        check_halfsets(particles)
    read_at = time.perf_counter()
    tomograms = _tomograms(particles, job)
    regions = _regions(particles, rule, tomograms)  # (read before deciding: the decision reads no file)
    decision = stages.decide(particles, rule, log, held, regions)
    checked = True
    for message in warnings:
        log(message, "warning")
    warn_not_confirmable(particles, decision, rule.min_support, rule.uncovered, warn)
    for message in decision.regions.warnings if decision.regions is not None else ():
        warn(message)
    decided_at = time.perf_counter()
    # (--plot: drawn on a thread from here, while the summary is counted and the outputs written)
    plotted = _drawing(particles, decision, job, source, folder, force, tomograms) if job.output.plot else None
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
        min_dist_A=job.distances.used()[0],
        min_dist_z_A=job.distances.used()[1],
        mode=_mode(rule.remove_entirely, rule.select),
        warnings=warnings,
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
    log: Log = _silent,
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

    def decide(self, particles: ParticleSet, rule: Deciding, log: Log, held: Held, regions: Regions | None) -> Decision:
        """As :class:`.stages.Stages` says."""
        return decide(particles, rule, log, held, regions)

    def write(
        self,
        particles: ParticleSet,
        decision: Decision,
        job: ParticlePlan,
        halves: np.ndarray | None,
        warn: Callable[[str], None],
    ) -> Written:
        """As :class:`.stages.Stages` says: the kept and rejected rows, and the record (``--decisions``).

        The core writes the record on a thread of its own while the rows are written, where it
        can (:func:`.write.start_record`); else it is made once they are.
        """
        output, force = job.output, self.force
        started = start_record(particles, decision, job.deciding, self.folder) if output.decisions else None
        try:
            outputs, seconds = write_particles(particles, decision.keep, halves, output, force, self.source, warn)
        except BaseException:
            if started is not None:  # (its thread ended before the batch removes its file)
                with contextlib.suppress(OSError):
                    started.finish()
            raise
        if not output.decisions:
            return Written(outputs, seconds)
        record, outputs = write_record(particles, decision, job.deciding, self.folder, force, outputs, started)
        return Written(outputs, seconds, record)


def _drawing(
    particles: ParticleSet,
    decision: Decision,
    job: ParticlePlan,
    source: Source,
    folder: Path | None,
    force: bool,
    tomograms: Tomograms | None,
) -> Callable[[ParticleSummary], ParticleSummary]:
    """The pictures and the page of every micrograph (``--plot``) drawn on a thread from now on: what writes them.

    It writes them and report.html once the drawing is done (raising its error there), and
    gives the summary naming them.
    """
    from .pictures import picture_details, plot_particles, start_drawing  # (Pillow and the pictures': --plot alone)

    assert folder is not None, "the source refuses --plot without an output folder"
    details = picture_details(particles, decision, job.deciding, job.output.registration)
    images = source.images(job.output.project_dir, folder)
    drawn = start_drawing(details, job.output, job.deciding, images, decision, tomograms)
    return lambda summary: plot_particles(drawn(), folder, job.output, images, force, summary)


def _tomograms(particles: ParticleSet, job: ParticlePlan) -> Tomograms | None:
    """``--micrographs``' tomograms STAR, read once a run for the mask and the edge and the page's tomograms.

    None where neither takes it (no ``--mask``/``--edge``, no ``--plot`` of tomograms) or it is none.
    """
    if job.deciding.regions is None and not (job.output.plot and particles.centres.shape[1] == 3):
        return None
    from .regions import tomograms_of  # (reads MRC headers and tomograms STAR: loaded when asked for)

    return tomograms_of(job.output.micrographs)


def _regions(particles: ParticleSet, rule: Deciding, tomograms: Tomograms | None) -> Regions | None:
    """The rows ``--mask`` and ``--edge`` drop, found before deciding (None: neither asked)."""
    if rule.regions is None:
        return None
    from .regions import regions_of

    return regions_of(particles, rule.regions, tomograms)


def _warn_earlier_files(folder: StrPath | None, output: OutputPlan, warn: Callable[[str], None]) -> None:
    """An earlier run's report or record left in the output folder, that this run does not write again."""
    if folder is None:
        return
    if not output.plot and not output.audit:
        warn_earlier_report(folder, warn)
    if not output.decisions and (Path(folder) / "decisions.csv").is_file():
        warn(f"{Path(folder) / 'decisions.csv'} is an earlier run's: this run recorded none (--decisions does)")


#: The summary's mode for each ``--select`` (greedy: the default's words).
_MODES = {"most-particles": "keep the most picks of each group", "best-score": "keep the best score sum of each group"}


def _mode(remove_entirely: bool, select: str) -> str:
    """The summary's mode: which picks of a group of duplicates stay."""
    if remove_entirely:
        return "remove entirely"
    return _MODES.get(select, "keep best of each group")
