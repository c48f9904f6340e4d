"""RELION 5's optimisation set (``optimisation_set.star``): the files a tomography job takes, named in one place.

RELION 5's tomography jobs (Refine3D, Class3D, CtfRefine, Polish, Reconstruct) take an
optimisation set and write one: a block of label-value pairs naming the particles STAR
(``rlnTomoParticlesFile``), the tomograms STAR (``rlnTomoTomogramsFile``) and others
(trajectories, manifolds, reference maps), by paths relative to the RELION project. It holds
no particles itself: cryodedup reads the particles file it names, the tomograms file as
``--micrographs`` would give it (told by ``sniff.is_optimisation_set``), and writes the next
one (:func:`write_optimisation_set`): the kept particles file with the input's other files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import CryodedupError, InputFileError
from ...outputs import AtomicOutputs, write_bytes
from ..files import project_root
from .file import StarFile, unquote
from .import_lists import STAR_VERSION, listed_path, star_value

__all__ = ["OPTIMISATION_SET_NAME", "read_optimisation_set", "unlisted", "write_optimisation_set"]

#: The optimisation set the particle job writes beside the kept particles, as RELION's jobs name theirs.
OPTIMISATION_SET_NAME = "optimisation_set.star"

PARTICLES_LABEL = "rlnTomoParticlesFile"
TOMOGRAMS_LABEL = "rlnTomoTomogramsFile"


@dataclass(frozen=True)
class OptimisationSet:
    """An optimisation set's particles file and tomograms file (None when it names none), as paths found.

    ``root``: the project folder its paths start from; ``pairs``: every label and value of its
    first block (RELION's ``MetaDataTable::read`` reads that one), as written.
    """

    path: Path
    particles: Path
    tomograms: Path | None
    root: Path = Path()
    pairs: tuple[tuple[str, str], ...] = ()

    def others(self) -> tuple[tuple[str, str], ...]:
        """Its labels and values but the particles file's."""
        return tuple((label, value) for label, value in self.pairs if label != PARTICLES_LABEL)


def read_optimisation_set(path: Path, project_dir: Path | None) -> OptimisationSet:
    """The files ``path`` names, found from the project folder (``project_dir``, the current one, or above ``path``)."""
    star = StarFile(path)
    pairs = {label: value for block in star.blocks for label, value in block.pairs}
    first = tuple((label, unquote(value.strip())) for label, value in star.blocks[0].pairs) if star.blocks else ()
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
    return OptimisationSet(path, root / named, root / tomograms if tomograms else None, root, first)


def unlisted(read: OptimisationSet, particles: Path) -> str:
    """Why the next set cannot name ``particles`` and ``read``'s other files ('' where it can).

    A path no STAR value can hold (a line break: RELION reads each value within its line,
    quoted or not; an output folder named with one) is said, and no set written.
    """
    try:
        _text(read, particles)
    except CryodedupError as err:
        return str(err)
    return ""


def _text(read: OptimisationSet, particles: Path) -> str:
    """The text of :func:`write_optimisation_set`; a :class:`CryodedupError` where a path cannot be a STAR value."""
    pairs = [(PARTICLES_LABEL, listed_path(particles, read.root)), *read.others()]
    width = max(len(label) for label, _ in pairs) + 2
    return f"\n# version {STAR_VERSION}\n\ndata_\n\n" + "".join(
        f"_{label:<{width}}{star_value(value)}\n" for label, value in pairs
    )


def write_optimisation_set(read: OptimisationSet, particles: Path, outdir: Path, force: bool) -> Path:
    """``outdir/optimisation_set.star``: ``particles`` as its particles file, ``read``'s other files as they were.

    RELION opens every path of the set from the project folder it runs in: the particles file
    is named from ``read.root`` (absolute where outside it), the others as ``read`` names them
    (already from that folder). Laid out as RELION's ``OptimisationSet::write`` writes it.
    """
    target = outdir / OPTIMISATION_SET_NAME
    text = _text(read, particles)
    with AtomicOutputs([target], force=force, inputs=[read.path, particles]) as temporary:
        write_bytes(temporary[target], (text + " \n\n").encode(errors="surrogateescape"))
    return target
