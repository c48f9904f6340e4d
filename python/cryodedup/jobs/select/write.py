"""Where ``select`` writes: the particle job's writers, named ``particles_selected*`` and ``particles_deselected*``.

The original's writer (its format's, as the particle job writes kept and rejected rows) is
pointed at the selection's names before it writes: a STAR writer's two files (and each input's
own, named after them), a CryoSPARC writer's stems (its ``.cs``, passthrough files and ``.csg``,
which names them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import CryodedupError
from ...formats.indices import checked_indices
from ...particle_set import KindsWriter, ParticleSet, SubsetWriter

__all__ = ["named_outputs", "tilt_rows"]

SELECTED, DESELECTED = "particles_selected", "particles_deselected"


def named_outputs(particles: ParticleSet, outdir: Path) -> SubsetWriter:
    """The set's writer, its outputs named as the selection's in ``outdir``."""
    writer = particles.writer
    assert writer is not None, "every reader of files gives the set a writer"
    parts = writer.parts if isinstance(writer, KindsWriter) else [(writer, None)]
    for part, _ in parts:
        _rename(part, Path(outdir))
    return writer


def _rename(writer: SubsetWriter | None, outdir: Path) -> None:
    from ...formats.cryosparc.particles import CsWriter
    from ...formats.star.particle_writer import StarWriter

    if isinstance(writer, StarWriter):
        writer.kept_path, writer.rejected_path = outdir / f"{SELECTED}.star", outdir / f"{DESELECTED}.star"
        writer.outputs = [writer.kept_path, writer.rejected_path]
    elif isinstance(writer, CsWriter):
        writer.stems = (SELECTED, DESELECTED)
        writer.paths = {stem: [outdir / n for n in writer.group.output_names(stem)] for stem in writer.stems}
        writer.outputs = writer.paths[SELECTED] + writer.paths[DESELECTED]
    else:
        raise CryodedupError(
            f"select writes RELION STAR and CryoSPARC .cs originals; this original's rows are written by "
            f"{type(writer).__name__}: give the particles as a STAR or .cs file"
        )


def tilt_rows(path: Path, index_file: Path, particles: np.ndarray, rows: int, by_name: bool = False) -> np.ndarray:
    """Particle indices (``index_file``'s, of ``path``) as their tilts' rows, in the file's order.

    The particles numbered as cryoDRGN-ET numbers them, or with ``by_name`` as recovar does (``tilt_groups``).
    """
    from ...formats.star.tilt_groups import tilt_groups

    of_row, count = tilt_groups(path, by_name)
    if len(of_row) != rows:
        raise CryodedupError(f"{path}: {len(of_row):,} rows in its group column, {rows:,} read: not one table")
    chosen = checked_indices(index_file, particles, count, f"{path}'s {count:,} particles (tilt groups)")
    return np.flatnonzero(np.isin(of_row, chosen))
