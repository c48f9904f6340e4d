"""RELION 5's optimisation set (``optimisation_set.star``): the files a tomography job takes, named in one place.

RELION 5's tomography jobs (Refine3D, Class3D, CtfRefine, Polish, Reconstruct) take an
optimisation set and write one: a block of label-value pairs naming the particles STAR
(``rlnTomoParticlesFile``), the tomograms STAR (``rlnTomoTomogramsFile``) and others
(trajectories, manifolds, reference maps), by paths relative to the RELION project. It holds
no particles itself: cryodedup reads the particles file it names, the tomograms file as
``--micrographs`` would give it (told by ``sniff.is_optimisation_set``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import InputFileError
from ..files import project_root
from .file import StarFile

__all__ = ["read_optimisation_set"]

PARTICLES_LABEL = "rlnTomoParticlesFile"
TOMOGRAMS_LABEL = "rlnTomoTomogramsFile"


@dataclass(frozen=True)
class OptimisationSet:
    """An optimisation set's particles file and tomograms file (None when it names none), as paths found."""

    path: Path
    particles: Path
    tomograms: Path | None


def read_optimisation_set(path: Path, project_dir: Path | None) -> OptimisationSet:
    """The files ``path`` names, found from the project folder (``project_dir``, the current one, or above ``path``)."""
    star = StarFile(path)
    pairs = {label: value for block in star.blocks for label, value in block.pairs}
    named = pairs.get(PARTICLES_LABEL, "").strip()
    if not named:
        raise InputFileError(
            f"{path}: a RELION 5 optimisation set naming no particles file ({PARTICLES_LABEL} empty); "
            "give the particles STAR itself"
        )
    root = project_root(named, path, project_dir)
    tomograms = pairs.get(TOMOGRAMS_LABEL, "").strip()
    if tomograms and not (root / tomograms).exists():
        raise InputFileError(
            f"{path}: {TOMOGRAMS_LABEL} names {tomograms}, not found in {root} (where its particles file is)"
        )
    return OptimisationSet(path, root / named, root / tomograms if tomograms else None)
