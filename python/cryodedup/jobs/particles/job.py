"""The particle job: remove duplicate particles (or picks), whatever their format.

:func:`remove_duplicate_particles` runs it in order: ``read.py`` hands the inputs to their
format's module, which reads them into one :class:`~cryodedup.particle_set.ParticleSet`
(or, asked by ``decide.one_pass``, decides and writes while it scans); ``decide.py`` decides
which rows to keep from that structure alone; the set's writer writes them; ``summarise.py``
counts what was decided and ``draw.py`` draws it.

An ``--update`` round (:func:`run_round`) wraps the same job: it opens the store, runs
:func:`run` with the round's stages (``update.Round``: decided against the kept set, written as
the round's files), and commits the round; :func:`run` calls its stages (``stages.py``) without
knowing which it was given.
"""

from __future__ import annotations

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
from ...outputs import AtomicOutputs, all_outputs_at_once, warn_earlier_report
from ...particle_set import Log, ParticleSet
from ...paths import StrPath
from ...report.sections.run import Outputs
from ..species import distances_used
from .decide import Decision, decide, warn_not_confirmable
from .draw import picture_details, plot_particles
from .read import Files, Held, Source, next_optimisation_set, warn_unused_options
from .stages import Stages, Written
from .summarise import ParticleSummary, summarize, timings, verdict_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ...report.sections import MovedInputs, Registration

__all__ = ["Outcome", "job_for", "remove_duplicate_particles", "run"]


def _registered(
    particles: ParticleSet,
    options: ParticleOptions,
    warn: Callable[[str], None],
    shift_aware: Callable[[], ParticleSet] | None = None,
) -> tuple[Registration | None, MovedInputs | None]:
    """The inputs' registration checked and ``--transform`` applied: the summary's ``registration`` and ``transforms``.

    Neither applies to one input without ``--transform``: the registration's modules are loaded
    only for several inputs (or to refuse a ``--transform`` of one), not at every start-up.
    """
    if len(particles.inputs) < 2 and not options.transform:
        return None, None
    from ..registration import check_registration, move_inputs, refuse_transform_into_combined_output, write_moved

    refuse_transform_into_combined_output(particles, options.transform, options.audit)
    moved = move_inputs(particles, options.transform)
    applied = [{"input": particles.inputs[m.input], "transform": m.ops} for m in moved]
    registration = check_registration(particles, options, applied, warn, shift_aware)
    return registration, write_moved(particles, options.audit, moved)


def _shift_aware(
    source: Source, folder: Path | None, options: ParticleOptions, held: Held
) -> Callable[[], ParticleSet]:
    """The inputs read again with their origins subtracted (for ``--shift-key none``: called only where needed)."""
    aware = replace(options, shift_key="auto", transform=[])
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
        The summary (:class:`~cryodedup.jobs.particles.summarise.ParticleSummary`, as ``--json``
        prints it): counts, pixel sizes, shift and score used, outputs, time.
    """
    options = options or ParticleOptions()
    return job_for(options.update)(Files.of(inputs), outdir, options, force=force, log=log).summary.to_json()


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
    folder = source.check(outdir, options)
    stages = stages or Plain(source, folder, options, force)
    warnings: list[str] = []
    checked = False

    def warn(message: str) -> None:
        warnings.append(message)
        if checked:
            log(message, "warning")

    held = source.held_by_prefer(options, warn)  # (--prefer parsed once, before anything is read where it can be)
    particles = source.read(folder, options, warn, log, held)
    warn_unused_options(particles, options, warn)
    registration, transforms = _registered(particles, options, warn, _shift_aware(source, folder, options, held))
    reassign = check_halfsets(particles, options.halfsets) is not None
    read_at = time.perf_counter()
    decision = stages.decide(particles, log, held)
    checked = True
    for message in warnings:
        log(message, "warning")
    warn_not_confirmable(particles, decision, options.min_support, options.uncovered, warn)
    for message in decision.regions.warnings if decision.regions is not None else ():
        warn(message)
    decided_at = time.perf_counter()
    halves = halfsets_by_micrograph(particles.groups, decision.keep) if reassign else None
    # Counted before the outputs are written: a one-pass scan's writer may still be busy.
    summary = replace(summarize(particles, decision, options, halves), registration=registration, transforms=transforms)
    written = stages.write(particles, decision, halves, warn)
    if summary.same_image is not None and summary.same_image.message is not None:
        warn(summary.same_image.message)
    names = summary.particle_names
    if names is not None and not names.extracted:  # (before extraction: what RELION will do with them)
        warn(names.message)
    used = distances_used(particles, options)
    summary = replace(
        summary,
        timings=timings(particles, read_at - start, decided_at - read_at, written.seconds),
        outputs=Outputs.of(written.outputs),
        min_dist_A=used[0],
        min_dist_z_A=used[1],
        mode=_mode(options.remove_entirely, options.select),
        warnings=warnings,
        seconds=round(time.perf_counter() - start, 3),
    )
    _warn_earlier_files(folder, options, warn)
    summary = replace(summary, verdict=verdict_of(summary))  # (once every warning is said: the report opens with it)
    if options.plot:
        assert folder is not None, "the source refuses --plot without an output folder"
        details = picture_details(particles, decision, options)
        summary = plot_particles(details, folder, options, source.images(options, folder), force, summary, decision)
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
    (:func:`.update.open_round`: its options, the output folder locked, the store checked). The
    round's files are written by the job under temporary names and put in place once the store
    has the round; a job stopped before removes them. The summary gets the round's section.
    """
    from .update import open_round  # (its store's modules loaded for a round only)

    options.check()
    source.check(outdir, options)
    round_ = open_round(source, outdir, options, force, log)
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
    options: ParticleOptions
    force: bool

    def decide(self, particles: ParticleSet, log: Log, held: Held) -> Decision:
        """As :class:`.stages.Stages` says."""
        return decide(particles, self.options, log, held)

    def write(
        self, particles: ParticleSet, decision: Decision, halves: np.ndarray | None, warn: Callable[[str], None]
    ) -> Written:
        """As :class:`.stages.Stages` says: the kept and rejected rows, then the record (``--decisions``)."""
        options, force = self.options, self.force
        outputs, seconds = _write(particles, decision.keep, halves, options, force, self.source, warn)
        if not options.decisions:
            return Written(outputs, seconds)
        record, outputs = _record(particles, decision, options, self.folder, force, outputs)
        return Written(outputs, seconds, record)


def _warn_earlier_files(folder: StrPath | None, options: ParticleOptions, warn: Callable[[str], None]) -> None:
    """An earlier run's report or record left in the output folder, that this run does not write again."""
    if folder is None:
        return
    if not options.plot and not options.audit:
        warn_earlier_report(folder, warn)
    if not options.decisions and (Path(folder) / "decisions.csv").is_file():
        warn(f"{Path(folder) / 'decisions.csv'} is an earlier run's: this run recorded none (--decisions does)")


#: The summary's mode for each ``--select`` (greedy: the default's words).
_MODES = {"most-particles": "keep the most picks of each group", "best-score": "keep the best score sum of each group"}


def _mode(remove_entirely: bool, select: str) -> str:
    """The summary's mode: which picks of a group of duplicates stay."""
    if remove_entirely:
        return "remove entirely"
    return _MODES.get(select, "keep best of each group")


def _record(
    particles: ParticleSet,
    decision: Decision,
    options: ParticleOptions,
    folder: Path | None,
    force: bool,
    outputs: dict[str, list[str]],
) -> tuple[dict, dict[str, list[str]]]:
    """The record of every rejection (``--decisions``): its columns, written to ``decisions.csv`` in ``folder``.

    Written in the job's output batch (under a temporary name, put in place with the other
    outputs). Returns the columns, and ``outputs``
    with the record's path as ``decisions``.
    """
    from .record import DECISIONS_FILE, rejections, table, write_decisions  # (loaded for --decisions only)

    columns = table(particles, rejections(particles, decision, options))
    if folder is not None:
        path = Path(folder) / DECISIONS_FILE
        with AtomicOutputs([path], force=force, inputs=particles.read_files) as tmp:
            write_decisions(tmp[path], columns)
        outputs = {**outputs, "decisions": [str(path)]}
    return columns, outputs


def _write(
    particles: ParticleSet,
    keep: np.ndarray,
    halves: np.ndarray | None,
    options: ParticleOptions,
    force: bool,
    source: Source,
    warn: Callable[[str], None],
) -> tuple[dict[str, list[str]], float]:
    """The kept and rejected rows written (none with ``--audit``): the outputs by subset, and the seconds it took.

    A set without a writer (data in memory) has the outputs its source names. Optimisation sets
    in: the next one written beside the kept particles (:func:`.read.next_optimisation_set`).
    """
    named = source.outputs()
    if named is not None:
        return named, 0.0
    if options.audit:
        return {"kept": [], "rejected": []}, 0.0
    assert particles.writer is not None, "every reader of files gives the set a writer"
    if particles.species is not None and hasattr(particles.writer, "apart"):  # (STAR: a file per species too)
        from ...formats.star.particle_writer import Apart  # (the STAR writer's: loaded with it)

        particles.writer.apart = Apart(np.asarray(particles.species), particles.species_names, "species")
    start = time.perf_counter()
    outputs = {subset: [str(p) for p in files] for subset, files in particles.writer.write(keep, force, halves).items()}
    outputs = next_optimisation_set(source, outputs, options.project_dir, force, warn)
    return outputs, time.perf_counter() - start
