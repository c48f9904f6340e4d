"""RELION's micrographs STAR (``corrected_micrographs.star``, ``micrographs_ctf.star``): names and pixel sizes.

The micrographs table is ``data_micrographs``, else the first loop with ``rlnMicrographName``;
a micrograph's pixel size is its optics group's ``rlnMicrographPixelSize`` (RELION 3.1 and
later), else ``rlnDetectorPixelSize`` / ``rlnMagnification`` of its row (3.0). The particle
job's ``--micrographs``, the pickers' RELION jobs and the micrograph job's STAR input all
read it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import CryodedupError, InputFileError
from ...particle_set import StatedPixelSizes
from ...paths import StrPath
from .file import Block, StarFile, Table, is_number

__all__ = [
    "PIXEL_SIZE_FIELD",
    "MicrographsStar",
    "block_naming_micrographs",
    "micrograph_names",
    "micrograph_pixel_sizes",
]

#: The column a RELION 3.1+ micrographs STAR gives the pixel size in (data_optics).
PIXEL_SIZE_FIELD = "rlnMicrographPixelSize"
#: The detector pixel size in data_optics (the micrographs' before any binning at motion correction).
ORIGINAL_PIXEL_SIZE = "rlnMicrographOriginalPixelSize"
#: The error for a STAR without a micrographs table.
NOT_MICROGRAPHS_STAR = "no rlnMicrographName column (is this a micrographs STAR?)"


def block_naming_micrographs(star: StarFile, name: str, missing: str) -> Block:
    """The block ``data_<name>`` if it has ``rlnMicrographName``, else the first loop that has it.

    Raises ``missing`` (prefixed with the file) when neither has that column.
    """
    named = star.block(name)
    if named is not None and named.labels is not None and "rlnMicrographName" in named.labels:
        return named
    block = next((b for b in star.blocks if b.labels and "rlnMicrographName" in b.labels), None)
    if block is None or block.labels is None:
        raise InputFileError(f"{star.path}: {missing}")
    return block


#: Columns of a particle table that no micrographs table has: a particles STAR given for a micrographs STAR.
PARTICLE_COLUMNS = ("rlnCoordinateX", "rlnImageName")


def _refuse_particles(star: StarFile, block: Block) -> None:
    """Refuses a particles STAR where a micrographs STAR is expected (its micrograph names repeat per particle)."""
    found = [label for label in PARTICLE_COLUMNS if label in (block.labels or [])]
    if found:
        raise InputFileError(
            f"{star.path}: a particles STAR (data_{block.name}: {', '.join(found)}), not a micrographs STAR; "
            "give the micrographs STAR of the motion correction or CTF job (corrected_micrographs.star, "
            "micrographs_ctf.star)"
        )


@dataclass
class MicrographsStar:
    """A micrographs STAR: the file, its micrographs table, and the micrographs' names (one a row)."""

    star: StarFile
    block: Block
    table: Table
    names: list[str]

    @classmethod
    def read(cls, path: StrPath) -> MicrographsStar:
        """The file's micrographs table, refused when it has none."""
        star = StarFile(path)
        block = block_naming_micrographs(star, "micrographs", NOT_MICROGRAPHS_STAR)
        _refuse_particles(star, block)
        table = star.table(block)
        return cls(star, block, table, table.column("rlnMicrographName"))

    def stated_pixel_sizes(self) -> StatedPixelSizes:
        """The pixel sizes the file states, to check a typed one against (``resolve.given_psize``).

        Its micrographs' (``rlnMicrographPixelSize``, or 3.0's detector and magnification) and
        data_optics' detector pixel (``rlnMicrographOriginalPixelSize``), where it has them.
        """
        try:
            values = tuple(self.pixel_sizes().values())
        except CryodedupError:  # no micrograph pixel size in it: nothing to check against
            values = ()
        optics = self.star.block("optics")
        original: tuple[float, ...] = ()
        if optics is not None and ORIGINAL_PIXEL_SIZE in (optics.labels or []):
            original = tuple(float(v) for v in self.star.table(optics).column(ORIGINAL_PIXEL_SIZE) if is_number(v))
        return StatedPixelSizes(f"in {self.star.path}", values, PIXEL_SIZE_FIELD, original, ORIGINAL_PIXEL_SIZE)

    def pixel_sizes(self) -> dict[str, float]:
        """Micrograph name -> pixel size in Å: data_optics (RELION 3.1+), or the detector and magnification (3.0)."""
        path, table = self.star.path, self.table
        optics = self.star.block("optics")
        try:
            if optics is not None and "rlnOpticsGroup" in table.labels:
                otable = self.star.table(optics)
                if PIXEL_SIZE_FIELD not in otable.labels:
                    raise InputFileError(f"{path}: data_optics has no {PIXEL_SIZE_FIELD} column")
                by_group = dict(zip(otable.column("rlnOpticsGroup"), map(float, otable.column(PIXEL_SIZE_FIELD))))
                return {n: by_group[g] for n, g in zip(self.names, table.column("rlnOpticsGroup"))}
            if {"rlnDetectorPixelSize", "rlnMagnification"} <= set(table.labels):
                det, mag = table.column("rlnDetectorPixelSize"), table.column("rlnMagnification")
                return {n: 1e4 * float(d) / float(m) for n, d, m in zip(self.names, det, mag)}
        except (KeyError, ValueError) as err:
            raise InputFileError(f"{path}: inconsistent optics groups or pixel sizes ({err})") from None
        raise InputFileError(f"{path}: no micrograph pixel size in it ({PIXEL_SIZE_FIELD} in data_optics)")


def micrograph_names(path: StrPath) -> list[str]:
    """The ``rlnMicrographName`` column of a micrographs STAR, one name a row (unquoted)."""
    return MicrographsStar.read(path).names


def micrograph_pixel_sizes(path: Path) -> dict[str, float]:
    """Micrograph name -> pixel size in Å, from a micrographs STAR (any RELION version)."""
    return MicrographsStar.read(path).pixel_sizes()
