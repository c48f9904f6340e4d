"""The particle job: remove duplicate particles (or picks), whatever their format.

:func:`remove_duplicate_particles` runs it in order: ``read.py`` hands the inputs to their
format's module, which reads them into one :class:`~cryodedup.particle_set.ParticleSet`
(or, asked by ``decide.one_pass``, decides and writes while it scans); ``decide.py`` decides
which rows to keep from that structure alone; the set's writer writes them; ``summarise.py``
counts what was decided and ``draw.py`` draws it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...algo.audit import (
    check_halfsets,
    halfsets_by_micrograph,
)
from ...options import ParticleOptions
from ...outputs import StrPath, all_outputs_at_once, warn_earlier_report
from ...particle_set import Log, ParticleSet
from ..registration import apply_transforms, check_registration, refuse_transform_into_combined_output
from .decide import decide, warn_not_confirmable
from .draw import picture_details, plot_particles
from .read import check_prefer, check_request, read_checked, warn_unused_options
from .summarise import summarize, timings

if TYPE_CHECKING:
    from collections.abc import Iterable


def _silent(message: str, level: str) -> None:
    pass


@all_outputs_at_once
def remove_duplicate_particles(
    inputs: Iterable[StrPath],
    outdir: StrPath | None,
    options: ParticleOptions | None = None,
    *,
    force: bool = False,
    log: Log = _silent,
    decided: list | None = None,
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
    decided : list, optional
        Receives the particles read and the decision, as ``(ParticleSet, Decision)``: for
        callers that return the rows (the Python API on a copick project, which writes no file).

    Returns
    -------
    dict
        The summary: counts, pixel sizes, shift and score used, outputs, time.
    """
    start = time.perf_counter()
    options = options or ParticleOptions()
    options.check()
    paths = [Path(p) for p in inputs]
    copick, into_project = check_request(paths, outdir, options)
    # Without one (an audit) the readers' writers get the current folder, and are never called.
    outdir = Path(outdir if outdir is not None else ".")
    warnings: list[str] = []
    # Warnings are said once the checks that can stop the run have passed: none before an error.
    checked = False

    def warn(message: str) -> None:
        warnings.append(message)
        if checked:
            log(message, "warning")

    held = check_prefer(paths, copick, options, warn)  # (--prefer parsed once, before anything is read)
    particles = read_checked(paths, None if into_project else outdir, options, warn, log)
    warn_unused_options(particles, options, warn)
    refuse_transform_into_combined_output(particles, options)
    applied = apply_transforms(particles, options)
    registration = check_registration(particles, options, applied, warn)
    reassign = check_halfsets(particles, options.halfsets) is not None
    read_at = time.perf_counter()
    decision = decide(particles, options, log, held)
    checked = True
    for message in warnings:
        log(message, "warning")
    warn_not_confirmable(particles, decision, options, warn)
    if decided is not None:
        decided.append((particles, decision))
    decided_at = time.perf_counter()
    halves = halfsets_by_micrograph(particles.groups, decision.keep) if reassign else None
    details = picture_details(particles, decision, options) if options.plot else None
    # Counted before the outputs are written: a one-pass scan's writer may still be busy.
    summary = summarize(particles, decision, options, halves)
    if registration is not None:
        summary["registration"] = registration
    outputs, write_seconds = _write(particles, decision.keep, halves, options, force)
    if same_image := summary.get("same_image", {}).get("message"):
        warn(same_image)
    names = summary.get("particle_names")
    if names and not names["extracted"]:  # (before extraction: what RELION will do with them)
        warn(names["message"])
    summary["timings"] = timings(particles, read_at - start, decided_at - read_at, write_seconds)
    summary["outputs"] = {subset: [str(p) for p in files] for subset, files in outputs.items()}
    summary["min_dist_A"] = options.min_dist
    if options.min_dist_z is not None:
        summary["min_dist_z_A"] = options.min_dist_z
    summary["mode"] = "remove entirely" if options.remove_entirely else "keep best of each group"
    summary["warnings"] = warnings
    summary["seconds"] = round(time.perf_counter() - start, 3)
    if details is not None:
        summary["plots"] = plot_particles(details, outdir, options, paths[0], force, summary)
    elif not options.audit:
        warn_earlier_report(outdir, warn)
    return summary


def _write(
    particles: ParticleSet, keep: np.ndarray, halves: np.ndarray | None, options: ParticleOptions, force: bool
) -> tuple[dict[str, list[Path]], float]:
    """The kept and rejected rows written (none with ``--audit``): the outputs by subset, and the seconds it took."""
    if options.audit:
        return {"kept": [], "rejected": []}, 0.0
    return _timed_write(particles, keep, force, halves)


def _timed_write(
    particles: ParticleSet, keep: np.ndarray, force: bool, halves: np.ndarray | None
) -> tuple[dict[str, list[Path]], float]:
    """The set's writer's outputs, and the seconds it took."""
    assert particles.writer is not None, "every reader of files gives the set a writer"
    if particles.species is not None and hasattr(particles.writer, "species"):  # (STAR: a file per species too)
        particles.writer.species = (particles.species, particles.species_names)
    start = time.perf_counter()
    outputs = particles.writer.write(keep, force, halves)
    return outputs, time.perf_counter() - start
