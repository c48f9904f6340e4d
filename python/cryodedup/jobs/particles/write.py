"""The particle job's outputs written: the kept and rejected particles, the next optimisation set, the record.

Each in the job's output batch (under a temporary name, put in place with the other outputs);
with ``--audit`` none. The set's writer (its format's) writes the rows; what becomes of a set
without one (data in memory) its source says.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...formats.sniff import is_optimisation_set, may_be_import_list, may_be_tomograms_star
from ...outputs import AtomicOutputs, scratch_files
from ...particle_set import ParticleSet, Warn
from ...report.sections.run import Outputs
from .decide import ParticleDecision
from .read import Files, Source

if TYPE_CHECKING:
    from .plan import Deciding, ParticleOutputPlan
    from .record import CoreRecord, RecordFile, Rejections

__all__ = ["start_record", "write_particles", "write_record"]


def write_particles(
    particles: ParticleSet,
    keep: np.ndarray,
    halves: np.ndarray | None,
    output: ParticleOutputPlan,
    force: bool,
    source: Source,
    warn: Warn,
) -> tuple[dict[str, list[str]], float]:
    """The kept and rejected rows written (none with ``--audit``): the outputs by subset, and the seconds it took.

    A set without a writer (data in memory) has the outputs its source names. Optimisation sets
    in: the next one written beside the kept particles (:func:`next_optimisation_set`).
    """
    named = source.outputs()
    if named is not None:
        return named, 0.0
    if output.audit:
        return {"kept": [], "rejected": []}, 0.0
    assert particles.writer is not None, "every reader of files gives the set a writer"
    if particles.species is not None and hasattr(particles.writer, "apart"):  # (STAR: a file per species too)
        from ...formats.star.particle_writer import Apart  # (the STAR writer's: loaded with it)

        particles.writer.apart = Apart(np.asarray(particles.species), particles.species_names, "species")
    start = time.perf_counter()
    outputs = {subset: [str(p) for p in files] for subset, files in particles.writer.write(keep, force, halves).items()}
    outputs = next_optimisation_set(source, outputs, output, force, warn)
    return outputs, time.perf_counter() - start


@dataclass(frozen=True)
class Started:
    """The record of every rejection (``--decisions``) as :func:`start_record` began it, for :func:`write_record`.

    ``core``: the core writing it on a thread of its own (None where it does not);
    ``rejections``: the rows rejected and why, made once (None where the scan wrote the record).
    """

    core: CoreRecord | None
    rejections: Rejections | None


def start_record(particles: ParticleSet, decision: ParticleDecision, rule: Deciding, folder: Path | None) -> Started:
    """The record of every rejection (``--decisions``) made, and started by the core on its own thread where it can.

    Written while the kept and rejected rows are (a job decided in two passes: several inputs).
    Not made where the scan wrote it already (one STAR file in one pass, into ``folder``); not
    started by the core without an output folder or where the core does not name the rows
    (:func:`.record.start_core_record`): :func:`write_record` writes what was made then.
    """
    if folder is not None and particles.decided_record is not None:
        return Started(None, None)
    from .record import DECISIONS_FILE, rejections, start_core_record  # (for --decisions only)

    rejected = rejections(particles, decision, rule)
    scratch = None if folder is None else scratch_files([Path(folder) / DECISIONS_FILE])
    if scratch is None:
        return Started(None, rejected)
    core = start_core_record(particles, rejected, next(iter(scratch.values())))
    return Started(core, rejected)


def write_record(
    particles: ParticleSet,
    started: Started,
    folder: Path | None,
    force: bool,
    outputs: dict[str, list[str]],
) -> tuple[dict | RecordFile, dict[str, list[str]]]:
    """The record of every rejection (``--decisions``): its columns, written to ``decisions.csv`` in ``folder``.

    Written in the job's output batch (under a temporary name, put in place with the other
    outputs); where the core wrote it (one STAR file in one pass, as it scanned the rows; or
    ``started.core``, by :func:`start_record`, as the rows were written), its file put in place;
    else the columns of ``started.rejections``.
    Returns the columns (or that file), and ``outputs`` with the record's path as ``decisions``.
    """
    from .record import DECISIONS_FILE, RecordFile, table, write_decisions  # (for --decisions only)

    if started.core is not None:
        written: Path | None = started.core.finish()
    else:
        written = particles.decided_record() if particles.decided_record is not None else None
    if written is not None and folder is not None:  # (the core wrote it: put in place)
        path = Path(folder) / DECISIONS_FILE
        with AtomicOutputs([path], force=force, inputs=particles.read_files) as tmp:
            os.replace(written, tmp[path])
        return RecordFile(path), {**outputs, "decisions": [str(path)]}
    assert started.rejections is not None, "made by start_record wherever the core wrote no record"
    columns = table(particles, started.rejections)
    if folder is not None:
        path = Path(folder) / DECISIONS_FILE
        with AtomicOutputs([path], force=force, inputs=particles.read_files) as tmp:
            write_decisions(tmp[path], columns)
        outputs = {**outputs, "decisions": [str(path)]}
    return columns, outputs


def next_optimisation_set(
    source: Source, outputs: dict[str, list[str]], output: ParticleOutputPlan, force: bool, warn: Warn
) -> dict[str, list[str]]:
    """The outputs with ``optimisation_set.star`` where the inputs were RELION 5 optimisation sets.

    It names the kept particles file and the input's other files (tomograms, trajectories,
    reference maps ...), so that RELION's next job takes it as it is. Written where every
    input is an optimisation set naming the same other files, and the kept particles are one
    STAR file; else said, not written (the other files would not fit every particle kept).
    Particle STAR files read with a tomograms STAR (``--micrographs``) get one naming it
    (:func:`_tomograms_set`).
    """
    project_dir = output.project_dir
    inputs = source.paths if isinstance(source, Files) else []
    kept_files = Outputs.of(outputs).files("kept")
    if not kept_files or not inputs:
        return outputs  # (none written: --audit, or data in memory)
    if not any(is_optimisation_set(path) for path in inputs):
        return _tomograms_set(inputs, outputs, kept_files, output, force, warn)
    from ...formats.star.optimisation_set import read_optimisation_set, unlisted, write_optimisation_set

    why = ""
    if not all(is_optimisation_set(path) for path in inputs):
        why = "not every input is an optimisation set"
    else:
        sets = [read_optimisation_set(path, project_dir) for path in inputs]
        kept = [Path(p) for p in kept_files if str(p).endswith(".star")]
        if len({(s.root.resolve(), s.others()) for s in sets}) > 1:
            why = "the optimisation sets name different tomograms, trajectories or maps"
        elif len(kept) != 1:
            why = f"the kept particles are {len(kept)} files"
        elif not (why := unlisted(sets[0], kept[0])):
            written = write_optimisation_set(sets[0], kept[0], kept[0].parent, force)
            return {**outputs, "optimisation_set": [str(written)]}
    warn(f"no optimisation_set.star written for the kept particles: {why}; write one naming them to continue")
    return outputs


def _tomograms_set(
    inputs: list[Path],
    outputs: dict[str, list[str]],
    kept_files: Sequence[str],
    output: ParticleOutputPlan,
    force: bool,
    warn: Warn,
) -> dict[str, list[str]]:
    """``optimisation_set.star`` for particle STAR files read with a tomograms STAR: the two files it names.

    ``run_data.star`` with ``--micrographs tomograms.star``: the kept particles and that tomograms
    file, as RELION 5's next job takes them. Not for import lists (an Import job takes their kept
    list) nor other formats; said, not written, where the kept particles are several files (the
    inputs' columns differ).
    """
    micrographs = output.micrographs
    if micrographs is None or not all(p.suffix == ".star" and not may_be_import_list(p) for p in inputs):
        return outputs
    if not may_be_tomograms_star(micrographs):
        return outputs  # (a micrographs STAR: single particles, no optimisation set)
    from ...formats.star.optimisation_set import of_tomograms, write_optimisation_set

    kept = [Path(p) for p in kept_files if str(p).endswith(".star")]
    if len(kept) != 1:
        warn(
            f"no optimisation_set.star written for the kept particles: they are {len(kept)} files; write one "
            f"naming them and {micrographs} to continue"
        )
        return outputs
    written = write_optimisation_set(of_tomograms(micrographs, output.project_dir), kept[0], kept[0].parent, force)
    return {**outputs, "optimisation_set": [str(written)]}
