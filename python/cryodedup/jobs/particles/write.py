"""The particle job's outputs written: the kept and rejected particles, the next optimisation set, the record.

Each in the job's output batch (under a temporary name, put in place with the other outputs);
with ``--audit`` none. The set's writer (its format's) writes the rows; what becomes of a set
without one (data in memory) its source says.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...formats.sniff import is_optimisation_set
from ...outputs import AtomicOutputs, scratch_files
from ...particle_set import ParticleSet, Warn
from ...report.sections.run import Outputs
from .decide import Decision
from .read import Files, Source

if TYPE_CHECKING:
    from .plan import Deciding, OutputPlan
    from .record import CoreRecord, RecordFile

__all__ = ["start_record", "write_particles", "write_record"]


def write_particles(
    particles: ParticleSet,
    keep: np.ndarray,
    halves: np.ndarray | None,
    output: OutputPlan,
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
    outputs = next_optimisation_set(source, outputs, output.project_dir, force, warn)
    return outputs, time.perf_counter() - start


def start_record(particles: ParticleSet, decision: Decision, rule: Deciding, folder: Path | None) -> CoreRecord | None:
    """The record of every rejection (``--decisions``) started by the core, on its own thread; or None.

    Written while the kept and rejected rows are (a job decided in two passes: several inputs).
    None where the scan wrote it already (one STAR file in one pass), without an output folder,
    or where the core does not name the rows (:func:`.record.start_core_record`):
    :func:`write_record` makes it then.
    """
    if folder is None or particles.decided_record is not None:
        return None
    from .record import DECISIONS_FILE, rejections, start_core_record  # (for --decisions only)

    scratch = scratch_files([Path(folder) / DECISIONS_FILE])
    if scratch is None:
        return None
    return start_core_record(particles, rejections(particles, decision, rule), next(iter(scratch.values())))


def write_record(
    particles: ParticleSet,
    decision: Decision,
    rule: Deciding,
    folder: Path | None,
    force: bool,
    outputs: dict[str, list[str]],
    started: CoreRecord | None = None,
) -> tuple[dict | RecordFile, dict[str, list[str]]]:
    """The record of every rejection (``--decisions``): its columns, written to ``decisions.csv`` in ``folder``.

    Written in the job's output batch (under a temporary name, put in place with the other
    outputs); where the core wrote it (one STAR file in one pass, as it scanned the rows; or
    ``started``, by :func:`start_record`, as the rows were written), its file put in place.
    Returns the columns (or that file), and ``outputs`` with the record's path as ``decisions``.
    """
    from .record import DECISIONS_FILE, RecordFile, rejections, table, write_decisions  # (for --decisions only)

    if started is not None:
        written: Path | None = started.finish()
    else:
        written = particles.decided_record() if particles.decided_record is not None else None
    if written is not None and folder is not None:  # (the core wrote it: put in place)
        path = Path(folder) / DECISIONS_FILE
        with AtomicOutputs([path], force=force, inputs=particles.read_files) as tmp:
            os.replace(written, tmp[path])
        return RecordFile(path), {**outputs, "decisions": [str(path)]}
    columns = table(particles, rejections(particles, decision, rule))
    if folder is not None:
        path = Path(folder) / DECISIONS_FILE
        with AtomicOutputs([path], force=force, inputs=particles.read_files) as tmp:
            write_decisions(tmp[path], columns)
        outputs = {**outputs, "decisions": [str(path)]}
    return columns, outputs


def next_optimisation_set(
    source: Source, outputs: dict[str, list[str]], project_dir: Path | None, force: bool, warn: Warn
) -> dict[str, list[str]]:
    """The outputs with ``optimisation_set.star`` where the inputs were RELION 5 optimisation sets.

    It names the kept particles file and the input's other files (tomograms, trajectories,
    reference maps ...), so that RELION's next job takes it as it is. Written where every
    input is an optimisation set naming the same other files, and the kept particles are one
    STAR file; else said, not written (the other files would not fit every particle kept).
    """
    inputs = source.paths if isinstance(source, Files) else []
    kept_files = Outputs.of(outputs).files("kept")
    if not kept_files or not any(is_optimisation_set(path) for path in inputs):
        return outputs  # (none written: --audit, or data in memory)
    from ...formats.star.optimisation_set import read_optimisation_set, write_optimisation_set

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
        else:
            written = write_optimisation_set(sets[0], kept[0], kept[0].parent, force)
            return {**outputs, "optimisation_set": [str(written)]}
    warn(f"no optimisation_set.star written for the kept particles: {why}; write one naming them to continue")
    return outputs
