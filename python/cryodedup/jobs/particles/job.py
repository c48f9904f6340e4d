"""The particle job: remove duplicate particles (or picks), whatever their format.

:func:`remove_duplicate_particles` runs it in order: ``plan.py`` resolves the options once into
the typed values each stage takes; ``read.py`` hands the inputs to their
format's module, which reads them into one :class:`~cryodedup.particle_set.ParticleSet`
(or, asked by ``decide.one_pass``, decides and writes while it scans); ``decide.py`` decides
which rows to keep from that structure alone; the set's writer writes them; ``summary.py``
counts what was decided and ``pictures.py`` draws it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

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
from .summary import ParticleSummary, summarize, timings, verdict_of
from .write import write_particles, write_record

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ...report.sections import MovedInputs, Registration
    from .plan import OutputPlan, ReadPlan
    from .update import Round

__all__ = ["Outcome", "remove_duplicate_particles", "run"]


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
) -> dict:
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
    dict
        The summary (:class:`~cryodedup.jobs.particles.summary.ParticleSummary`, as ``--json``
        prints it): counts, pixel sizes, shift and score used, outputs, time.
    """
    return run(Files.of(inputs), outdir, options, force=force, log=log).summary.to_json()


@dataclass(frozen=True)
class Outcome:
    """What a run of the particle job gives back: its summary, the rows read and the decision."""

    summary: ParticleSummary
    particles: ParticleSet
    decision: Decision
    #: The record of every rejection (``--decisions``): :func:`.record.table`'s columns; None without it.
    decisions: dict | None = None


def run(
    source: Source,
    outdir: StrPath | None,
    options: ParticleOptions | None = None,
    *,
    force: bool = False,
    log: Log = _silent,
) -> Outcome:
    """The particle job, the one orchestration of files and of data in memory alike.

    Read (the source's reader), check, decide, write (the set's writer; data in memory: none),
    summarise, draw (``--plot``). Warnings are said once the checks that can stop the run have
    passed: none before an error.
    """
    start = time.perf_counter()
    options = options or ParticleOptions()
    options.check()
    job = plan(options)  # (the options resolved once: no stage sees them)
    folder = source.check(outdir, job.read)
    update = _update_module() if job.update else None  # (its store's modules loaded only for a round)
    round_ = update.start_round(source, outdir, options, force, log) if update else None
    warnings: list[str] = []
    checked = False

    def warn(message: str) -> None:
        warnings.append(message)
        if checked:
            log(message, "warning")

    record = None
    held = source.held_by_prefer(job.read, warn)  # (--prefer parsed once, before anything is read where it can be)
    particles = source.read(folder, job.read, warn, log, held)
    job = job.for_rows(particles)  # (each species' distance, once)
    rule = job.deciding
    warn_unused_options(particles, job.read, rule, warn)
    registration, transforms = _registered(particles, job, warn, _shift_aware(source, folder, job.read, held))
    reassign = check_halfsets(particles, job.output.halfsets) is not None
    read_at = time.perf_counter()
    if update and round_:
        decision = update.decide_round(round_, particles, options, log, held, rule)
    else:
        decision = decide(particles, rule, log, held)
    checked = True
    for message in warnings:
        log(message, "warning")
    warn_not_confirmable(particles, decision, rule.min_support, rule.uncovered, warn)
    for message in decision.regions.warnings if decision.regions is not None else ():
        warn(message)
    decided_at = time.perf_counter()
    halves = halfsets_by_micrograph(particles.groups, decision.keep) if reassign else None
    # Counted before the outputs are written: a one-pass scan's writer may still be busy.
    summary = replace(summarize(particles, decision, rule, halves), registration=registration, transforms=transforms)
    if update and round_:
        record = _round_record(round_, particles, decision, job)
        outputs, write_seconds = update.write_round(round_, particles, decision.keep)
        summary = replace(summary, update=update.round_summary(round_, summary.kept, summary.particles))
    else:
        outputs, write_seconds = write_particles(particles, decision.keep, halves, job.output, force, source, warn)
    if job.output.decisions and not (update and round_):
        record, outputs = write_record(particles, decision, rule, folder, force, outputs)
    if summary.same_image is not None and summary.same_image.message is not None:
        warn(summary.same_image.message)
    names = summary.particle_names
    if names is not None and not names.extracted:  # (before extraction: what RELION will do with them)
        warn(names.message)
    summary = replace(
        summary,
        timings=timings(particles, read_at - start, decided_at - read_at, write_seconds),
        outputs=Outputs.of(outputs),
        min_dist_A=job.distances.used()[0],
        min_dist_z_A=job.distances.used()[1],
        mode=_mode(rule.remove_entirely, rule.select),
        warnings=warnings,
        seconds=round(time.perf_counter() - start, 3),
    )
    _warn_earlier_files(folder, job.output, warn)
    summary = replace(summary, verdict=verdict_of(summary))  # (once every warning is said: the report opens with it)
    if job.output.plot:
        summary = _plotted(particles, decision, job, source, folder, force, summary)
    return Outcome(summary, particles, decision, record)


def _plotted(
    particles: ParticleSet,
    decision: Decision,
    job: ParticlePlan,
    source: Source,
    folder: Path | None,
    force: bool,
    summary: ParticleSummary,
) -> ParticleSummary:
    """The pictures, report.html and the page of every micrograph (``--plot``): the summary naming them."""
    from .pictures import picture_details, plot_particles  # (Pillow and the pictures' modules: for --plot alone)

    assert folder is not None, "the source refuses --plot without an output folder"
    details = picture_details(particles, decision, job.deciding, job.output.registration)
    images = source.images(job.output.project_dir, folder)
    return plot_particles(details, folder, job.output, job.deciding, images, force, summary, decision)


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


def _update_module() -> ModuleType:
    """:mod:`.update`, imported for an ``--update`` round only (its store's modules are a plain run's cost)."""
    from . import update

    return update


def _round_record(round_: Round, particles: ParticleSet, decision: Decision, job: ParticlePlan) -> dict | None:
    """``--decisions`` in an ``--update`` round: its columns, written among the round's files (stored, put back)."""
    if not job.output.decisions:
        return None
    from .record import rejections, table, write_decisions  # (loaded for --decisions only)

    columns = table(particles, rejections(particles, decision, job.deciding))
    round_.write_record = lambda path: write_decisions(path, columns)
    return columns
