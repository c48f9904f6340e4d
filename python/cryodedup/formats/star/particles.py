"""RELION particle STAR files (3.0 to 5) read into a ParticleSet.

Kept and rejected particles are written back as byte copies of the input rows. Centres
are computed in Å as docs/design.md section 2 defines them (the origin is subtracted;
RELION 3.0 origins are in particle pixels), with the micrograph pixel size taken per optics
group and never from ``rlnImagePixelSize``. Several inputs are written as one kept and one
rejected file; their optics groups are merged (clashing numbers renumbered).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ... import _core
from ...algo.audit import read_halves
from ...algo.filaments import RELION_TUBE, tube_ids
from ...errors import CryodedupError
from ...labels import distinct_labels
from ...model import AskOnePass, HalfSets, Images, Log, ParticleSet, PlacedSubsetWriter, ReaderOptions, StarFacts, Warn
from ...outputs import AtomicOutputs, StrPath, scratch_files, write_error
from ...resolve import (
    MIC_PSIZE,
    NO_AUTO_SCORE,
    UNKNOWN_COLUMN,
    UNKNOWN_ORDER,
    ListedPixelSizes,
    pixel_size_of_rows,
    resolve_pixel_size,
    resolve_score,
)
from .file import Block, StarFile, Table, is_number, split_fields, unquote
from .micrographs import PIXEL_SIZE_FIELD, block_naming_micrographs, micrograph_pixel_sizes
from .tomography import SUBTOMOGRAM_ANGLES, TILT_SERIES_PSIZE, rotate_origins, warp_tomograms

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


#: A pandas DataFrame. pandas is not a dependency (only users with tables in memory have
#: it), so it is not imported, even for type checking.
DataFrame = Any

#: The score columns ``--score auto`` looks for, in order.
AUTO_SCORES = ("rlnAutopickFigureOfMerit", "rlnMaxValueProbDistribution", "rlnLogLikeliContribution")

#: RELION's half-set column and how it writes the two halves.
RANDOM_SUBSET, HALF_TEXTS = "rlnRandomSubset", ("1", "2")
#: RELION's orientation of a particle: Euler angles (ZYZ) in degrees.
ANGLES = ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
#: The column that expanded copies share (relion_particle_symmetry_expand keeps each image).
IMAGE_NAME = "rlnImageName"

#: The column that names a particle's micrograph.
MICROGRAPH_NAME = "rlnMicrographName"

KEPT_NAME = "particles_kept.star"
REJECTED_NAME = "particles_rejected.star"


@dataclass
class Columns:
    """Which columns of a particle block the job reads, and in which units."""

    key: str
    coords: list[str]
    coords_in_angstrom: bool
    origins: list[str] = field(default_factory=list)
    origins_in_pixels: bool = False
    optics_group: str | None = None
    #: RELION 5 subtomogram angles that rotate the origins (docs/design.md section 7); empty: none.
    subtomogram_angles: list[str] = field(default_factory=list)

    def numbers(self, score: str | None) -> list[str]:
        """The numeric columns to scan: coordinates, origins, optics group, and ``score``."""
        extra = ["rlnDetectorPixelSize", "rlnMagnification"] if self.origins_in_pixels else []
        extra += self.subtomogram_angles
        group = [self.optics_group] if self.optics_group else []
        return list(dict.fromkeys(self.coords + self.origins + group + extra + ([score] if score else [])))


@dataclass
class PixelSize:
    """The micrograph pixel size used for one optics group of one input."""

    input: str
    optics_group: str
    psize: float | None
    source: str


#: The pixel sizes used for one input: as the summary says them, and by optics group (when read from data_optics).
UsedPixelSizes = tuple[list[PixelSize], dict[float, float]]


class Needs:
    """What the user must supply (an option, a pixel size), gathered over all inputs.

    One message then names everything at once instead of one thing per run.
    """

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        """Records one need (once, however often it is added)."""
        if message not in self.messages:
            self.messages.append(message)

    def check(self) -> None:
        """Raises one CryodedupError naming every need, if there are any."""
        if len(self.messages) == 1:
            raise CryodedupError(self.messages[0])
        if self.messages:
            numbered = " ".join(f"({k}) {m}" for k, m in enumerate(self.messages, 1))
            raise CryodedupError(f"{len(self.messages)} things are missing: {numbered}")


class ParticleTable(Protocol):
    """A particle table as the reader sees it: a STAR input, or a table in memory."""

    path: Path
    #: The input as the summary and warnings name it: its shortest distinct path among the inputs.
    label: str
    labels: list[str]
    optics: Table | None
    columns: Columns

    def where(self) -> str:
        """Where the table came from, to start an error message with."""
        ...

    def numeric_labels(self) -> list[str]:
        """The labels of numeric columns."""
        ...


class BlocksFollowParticles(Exception):
    """A deferred read found blocks after the particle rows that change what was read."""


def _index(block: Block | None) -> int | None:
    return None if block is None else block.index


class ParticleStar:
    """One particle STAR input: its particle and optics blocks and the columns to read."""

    def __init__(self, path: StrPath, shift_key: str = "auto", defer: bool = True, names_only: bool = False) -> None:
        """Opens ``path``; ``names_only`` reads the particles for their micrograph names alone.

        Names only: no coordinate is needed and the optics table is not read; the table is
        ``data_particles`` if it names micrographs, else the first loop that does.
        """
        # Indexed up to the particle rows: the rest is indexed while they are scanned (one
        # read of the file for the decision; confirm_blocks checks what followed them).
        self.star = StarFile(path, defer_rows_of="particles" if defer and not names_only else None)
        self._deferred = self.star.deferred
        self.path = self.star.path
        self.label = self.path.name  # made distinct among the inputs by the reader
        self.block = (
            block_naming_micrographs(self.star, "particles", "no particle table with rlnMicrographName")
            if names_only
            else self._particle_block()
        )
        self.labels = list(self.block.labels or ())  # never empty: both choices return a loop
        optics = None if names_only else self.star.block("optics")
        self.optics_block: Block | None = optics
        self.optics: Table | None = self.star.table(optics) if optics else None
        self.columns = (
            Columns(MICROGRAPH_NAME, [], False)
            if names_only
            else choose_columns(self.labels, self.optics is not None, self.where(), shift_key)
        )

    def where(self) -> str:
        """The file and block, to start an error message with."""
        return f"{self.path}: data_{self.block.name} (line {self.block.line})"

    def numeric_labels(self) -> list[str]:
        """The labels whose values in the first row are numbers."""
        return self.star.numeric_labels(self.block)

    def confirm_blocks(self) -> None:
        """After the particle rows are scanned: the whole index, and the blocks chosen again.

        Raises BlocksFollowParticles if what follows the rows changes the choice of the particle
        or optics block (a file laid out unlike RELION's: read it again, not deferred). A file
        indexed whole from the start has nothing to confirm.
        """
        if not self._deferred:
            return
        self._deferred = False
        self.star.refresh_blocks()
        block, optics = self._particle_block(), self.star.block("optics")
        if block.index != self.block.index or _index(optics) != _index(self.optics_block):
            raise BlocksFollowParticles(str(self.path))
        self.block, self.optics_block = block, optics

    def _particle_block(self) -> Block:
        found = self.star.block("particles")
        if found:
            twice = [b for b in self.star.blocks if b.name == "particles" and b.labels is not None]
            if len(twice) > 1:
                raise CryodedupError(
                    f"{self.path}: {len(twice)} data_particles blocks (lines "
                    f"{', '.join(str(b.line) for b in twice)}); one file holds one particle table: split the file"
                )
            return found
        loops = [b for b in self.star.blocks if b.labels is not None and b.name != "optics"]
        located = [b for b in loops if {"rlnCoordinateX", "rlnCenteredCoordinateXAngst"} & set(b.labels or ())]
        if len(loops) == 1:
            return loops[0]
        if len(located) == 1:
            return located[0]
        names = ", ".join(f"data_{b.name}" for b in self.star.blocks) or "none"
        raise CryodedupError(
            f"{self.path}: no particle block found (expected data_particles, or one loop with "
            f"rlnCoordinateX/Y); blocks present: {names}"
        )


def choose_columns(labels: list[str], has_optics: bool, where: str, shift_key: str) -> Columns:
    """The columns that locate the particles of a table with these labels, and their units."""
    present = set(labels)  # looked up often
    if "rlnCenteredCoordinateXAngst" in present:  # RELION 5 tomography: centres in Å
        axes = [a for a in "XYZ" if f"rlnCenteredCoordinate{a}Angst" in present]
        coords, in_angstrom = [f"rlnCenteredCoordinate{a}Angst" for a in axes], True
    else:
        missing = [lab for lab in ("rlnCoordinateX", "rlnCoordinateY") if lab not in present]
        if missing:
            raise CryodedupError(
                f"{where}: no {' or '.join(missing)} column; the particles cannot be located "
                f"on their micrographs (columns present: {', '.join(labels)})"
            )
        axes = ["X", "Y"] + (["Z"] if "rlnCoordinateZ" in present else [])
        coords, in_angstrom = [f"rlnCoordinate{a}" for a in axes], False
    key = next((k for k in ("rlnMicrographName", "rlnTomoName") if k in present), None)
    if key is None:
        raise CryodedupError(
            f"{where}: no rlnMicrographName column; particles are only compared with "
            "particles of the same micrograph, so each needs one"
        )
    _refuse_flat_subtomograms(present, key, axes, in_angstrom, where)
    columns = Columns(key=key, coords=coords, coords_in_angstrom=in_angstrom)
    if has_optics and "rlnOpticsGroup" in present:
        columns.optics_group = "rlnOpticsGroup"
    if shift_key == "auto":
        if f"rlnOrigin{axes[0]}Angst" in present:
            columns.origins = [f"rlnOrigin{a}Angst" for a in axes if f"rlnOrigin{a}Angst" in present]
        elif "rlnOriginX" in present and not in_angstrom:
            columns.origins = [f"rlnOrigin{a}" for a in axes if f"rlnOrigin{a}" in present]
            columns.origins_in_pixels = True
            for needed in ("rlnDetectorPixelSize", "rlnMagnification"):
                if needed not in present:
                    raise CryodedupError(
                        f"{where}: rlnOriginX is in particle pixels but there is no {needed} "
                        "column to give their size; use --shift-key none to ignore the origins"
                    )
    if len(columns.origins) == 3 and not columns.origins_in_pixels and set(SUBTOMOGRAM_ANGLES) <= present:
        columns.subtomogram_angles = list(SUBTOMOGRAM_ANGLES)
    return columns


def _refuse_flat_subtomograms(present: set[str], key: str, axes: list[str], in_angstrom: bool, where: str) -> None:
    """Refuses subtomograms (a tomogram name or a Z origin) that have no Z coordinate.

    They would be compared in 2-D, so particles above one another in the tomogram would be
    taken for duplicates without a word.
    """
    if "Z" in axes:
        return
    marks = [lab for lab in ("rlnTomoName", "rlnOriginZAngst", "rlnOriginZ") if lab in present]
    if key == "rlnTomoName" or marks:
        z = "rlnCenteredCoordinateZAngst" if in_angstrom else "rlnCoordinateZ"
        raise CryodedupError(
            f"{where}: subtomograms ({', '.join(marks)}) with no {z} column: their centres are 3-D, and in 2-D "
            f"particles above one another would be taken for duplicates; add the {z} column"
        )


def score_column(
    parts: Sequence[ParticleTable], options: ReaderOptions, warn: Warn, needs: Needs
) -> tuple[str | None, bool]:
    """The score label (None: random ranking) and whether higher is better.

    The score must be a column of every input; ``auto`` takes the first known score they all
    have, and falls back to the seeded random ranking (as ``none``) with a warning when there
    is none. An unknown column or order is added to ``needs`` (and None returned).
    """
    score = options.score if options.score in ("auto", "none") else options.score.lstrip("_")  # _rlnX names rlnX
    chosen = resolve_score(score, options.score_order, AUTO_SCORES, lambda label: all(label in p.labels for p in parts))
    label = chosen.label
    if chosen.problem == NO_AUTO_SCORE:
        which = "every input" if len(parts) > 1 else parts[0].label
        warn(
            f"--score auto: none of {', '.join(AUTO_SCORES)} is in {which}, so each group of duplicates "
            f"keeps a seeded random particle (seed {options.seed}), as with --score none; "
            "rank by a column with --score COLUMN"
        )
    elif chosen.problem == UNKNOWN_COLUMN:
        lacking = [p for p in parts if label not in p.labels]
        numeric = [lab for lab in lacking[0].numeric_labels() if all(lab in p.labels for p in parts)]
        needs.add(
            f"{lacking[0].where()}: unknown score column {label!r}; numeric columns present"
            f"{' in every input' if len(parts) > 1 else ''}: {', '.join(numeric) or 'none'}"
        )
        return None, True
    elif chosen.problem == UNKNOWN_ORDER:
        needs.add(
            f"--score {label}: it is not known whether higher or lower is better; "
            "add --score-order max or --score-order min"
        )
    return label, chosen.higher_is_better


def merged_columns(parts: list[ParticleStar], warn: Warn) -> list[str]:
    """The particle columns of the merged output: those all inputs have, in the first input's order.

    Each dropped column is named in a warning with the inputs it came from. The optics tables
    must have the same columns (in any order).
    """
    first = parts[0]
    common = [lab for lab in first.labels if all(lab in p.labels for p in parts[1:])]
    dropped: dict[str, list[str]] = {}
    for part in parts:
        for label in part.labels:
            if label not in common:
                dropped.setdefault(label, []).append(str(part.path))
    if dropped:
        named = "; ".join(f"{label} (from {', '.join(paths)})" for label, paths in dropped.items())
        warn(f"particle columns not in every input are left out of the outputs: {named}")
    for other in parts[1:]:
        if first.optics is None and other.optics is None:
            continue
        if first.optics is None or other.optics is None:
            raise CryodedupError(
                f"{first.path} and {other.path}: one has a data_optics block and the other not "
                "(RELION 3.1+ and 3.0 files cannot be merged)"
            )
        if set(first.optics.labels) != set(other.optics.labels):
            a, b = first.optics.labels, other.optics.labels
            detail = "; ".join(
                f"only in {p}: {', '.join(only)}"
                for p, only in ((first.path, [x for x in a if x not in b]), (other.path, [x for x in b if x not in a]))
                if only
            )
            raise CryodedupError(
                f"{first.path} and {other.path} have different optics columns, so their optics groups "
                f"cannot be merged ({detail})"
            )
    return common


def _optics_value(table: Table, label: str) -> dict[str, float]:
    if label not in table.labels:
        return {}
    return {g: float(v) for g, v in zip(table.column("rlnOpticsGroup"), table.column(label))}


def _group_label(group: float) -> str:
    """An optics group number as its label in data_optics (``1``, not ``1.0``)."""
    return str(int(group)) if float(group).is_integer() else str(group)


def _mic_psize_label(part: ParticleTable) -> str:
    """The optics column giving the pixel size of the coordinates.

    RELION 4 tomography writes them in tilt-series pixels (docs/design.md section 7),
    everything else in micrograph pixels.
    """
    assert part.optics is not None
    if len(part.columns.coords) == 3 and TILT_SERIES_PSIZE in part.optics.labels:
        return TILT_SERIES_PSIZE
    return PIXEL_SIZE_FIELD


def _optics_pixel_sizes(part: ParticleTable) -> dict[str, float]:
    """Coordinate pixel size by optics group label: that of :func:`_mic_psize_label`, else the original one."""
    assert part.optics is not None
    return {
        **_optics_value(part.optics, "rlnMicrographOriginalPixelSize"),
        **_optics_value(part.optics, _mic_psize_label(part)),
    }


def pixel_size_plan(
    part: ParticleTable, options: ReaderOptions, mic_psizes: dict[str, float] | None
) -> _core.PixelSizes:
    """Where the scan takes each row's micrograph pixel size from (see ``StarFile.scan_particles``).

    Rows whose pixel size is unknown get NaN; :func:`pixel_sizes_used` then names what is missing.
    """
    if part.columns.coords_in_angstrom:
        return _core.PixelSizes.angstrom()
    return resolve_pixel_size(
        options.mic_psize,
        given=_core.PixelSizes.constant,
        listed=None if mic_psizes is None else lambda: _core.PixelSizes.by_micrograph(mic_psizes),
        own=lambda: _optics_plan(part),
    )


def _optics_plan(part: ParticleTable) -> _core.PixelSizes:
    """The scan's pixel size by optics group from data_optics (NaN for rows without one)."""
    if part.optics is None or part.columns.optics_group is None:
        return _core.PixelSizes.constant(float("nan"))
    by_group = []
    for label, value in _optics_pixel_sizes(part).items():
        # A row's group number matches the label it prints as (so "01" matches no row).
        if is_number(label) and _group_label(float(label)) == label:
            by_group.append((float(label), value))
    return _core.PixelSizes.by_optics_group(part.columns.optics_group, by_group)


def tomogram_pixels_need(part: ParticleTable) -> str:
    """What to give for tomogram coordinates in pixels of a file that does not say their size.

    A RELION 5 Picks job's annotation files (``annotations/TS_01_particles.star``) hold
    ``rlnTomoName`` and ``rlnCoordinateX/Y/Z`` in pixels of the reconstructed (binned)
    tomogram, and no optics table; the job's ``particles.star`` holds the same picks in Å.
    """
    where = f"{part.where()}: tomogram coordinates in pixels ({', '.join(part.columns.coords)}"
    if part.columns.key != "rlnTomoName":  # a RELION 3 subtomogram file names its tomogram's .mrc
        return f"{where}) and no pixel size for them; give the tomograms' pixel size with --mic-psize"
    return (
        f"{where}, as in a RELION 5 Picks job's annotation file: pixels of the reconstructed tomogram) and no "
        "pixel size for them; give it with --mic-psize (rlnTomoTiltSeriesPixelSize × rlnTomoTomogramBinning "
        "of the tomograms STAR), or give the Picks job's particles.star, whose centres are in Å"
    )


def _micrographs_list(options: ReaderOptions, mic_psizes: dict[str, float]) -> ListedPixelSizes:
    """The pixel sizes of the micrographs STAR ``--micrographs`` gives, looked up as ``--match-micrographs`` says."""
    return ListedPixelSizes(options.micrographs, mic_psizes, options.match_micrographs, PIXEL_SIZE_FIELD)


def pixel_sizes_used(
    part: ParticleTable,
    groups_met: Iterable[float],
    names: list[str],
    options: ReaderOptions,
    mic_psizes: dict[str, float] | None,
    warn: Warn,
    needs: Needs,
) -> UsedPixelSizes:
    """What micrograph pixel size was used for the rows of one input, and by optics group.

    ``groups_met`` are the distinct optics group numbers of the rows, ``names`` their
    micrographs. A pixel size the user must give is added to ``needs``; the warnings name
    the groups that fall back to ``rlnMicrographOriginalPixelSize``.
    """
    if part.columns.coords_in_angstrom:
        return [PixelSize(part.label, "all", None, "not needed: coordinates are in Å")], {}
    listed = None if mic_psizes is None else (lambda: _listed_used(part, names, options, mic_psizes))
    return resolve_pixel_size(
        options.mic_psize,
        given=lambda value: ([PixelSize(part.label, "all", value, MIC_PSIZE)], {}),
        listed=None if listed is None else _unless_warp(part, names, needs, listed),
        own=_unless_warp(part, names, needs, lambda: _optics_used(part, groups_met, warn, needs)),
    )


def _unless_warp(
    part: ParticleTable, names: list[str], needs: Needs, read: Callable[[], UsedPixelSizes]
) -> Callable[[], UsedPixelSizes]:
    """``read``, unless the particles are Warp's, whose file does not say the pixel size of its coordinates.

    Neither its columns nor a micrographs list give it (docs/design.md section 7): the user
    must give it with ``--mic-psize``, added to ``needs``.
    """

    def read_unless_warp() -> UsedPixelSizes:
        warp = warp_tomograms(names)
        if not warp:
            return read()
        needs.add(
            f"{part.where()}: a Warp/WarpTools particle file (tomogram {warp[0]!r}): rlnCoordinateX/Y/Z are in "
            "pixels of the exported tomograms (ts_export_particles --output_angpix), a size the file does not "
            "record; give it with --mic-psize"
        )
        return [], {}

    return read_unless_warp


def _listed_used(
    part: ParticleTable, names: list[str], options: ReaderOptions, mic_psizes: dict[str, float]
) -> UsedPixelSizes:
    """The pixel sizes the micrographs STAR gives the micrographs ``names`` of one input."""
    micrographs = _micrographs_list(options, mic_psizes)
    values, by_name = micrographs.sizes(part.where(), names)
    used = []
    for value in np.unique(values):
        with_value = [name for name, psize in zip(names, values) if psize == value]
        source = micrographs.source(len(with_value), len(by_name.intersection(with_value)))
        used.append(PixelSize(part.label, "all", float(value), source))
    return used, {}


def _optics_used(part: ParticleTable, groups_met: Iterable[float], warn: Warn, needs: Needs) -> UsedPixelSizes:
    """The pixel sizes data_optics gives the optics groups ``groups_met`` (by group, and as the summary says)."""
    hint = "give the micrograph pixel size with --mic-psize, or a micrographs STAR with --micrographs"
    if part.optics is None and len(part.columns.coords) == 3:
        needs.add(tomogram_pixels_need(part))
        return [], {}
    if part.optics is None:
        needs.add(
            f"{part.where()}: no micrograph pixel size (a RELION 3.0 file has only the particle pixel size, "
            f"which differs from the micrograph's when particles were rescaled); {hint}"
        )
        return [], {}
    if part.columns.optics_group is None:
        needs.add(f"{part.where()}: no rlnOpticsGroup column to find each particle's pixel size; {hint}")
        return [], {}
    mic_label = _mic_psize_label(part)
    mic = _optics_value(part.optics, mic_label)
    original = _optics_value(part.optics, "rlnMicrographOriginalPixelSize")
    used, by_group = [], {}
    # (return_index: numpy's plain unique imports numpy.ma, 5-15 ms of the STAR job's start)
    for g in np.unique(np.asarray(list(groups_met), dtype=np.float64), return_index=True)[0]:
        label = _group_label(g)
        if label in mic:
            value, source = mic[label], mic_label
        elif label in original:
            value, source = original[label], "rlnMicrographOriginalPixelSize (assumes no binning at motion correction)"
            warn(
                f"{part.label}: optics group {label} has no rlnMicrographPixelSize; using "
                f"rlnMicrographOriginalPixelSize {value} Å, which is only right if the movies were not "
                f"binned in motion correction ({hint} to be sure)"
            )
        elif label in _optics_value(part.optics, "rlnImagePixelSize") or not part.optics.rows:
            needs.add(
                f"{part.where()}: optics group {label} has no micrograph pixel size "
                f"(rlnImagePixelSize is the extracted particles' and is not used); {hint}"
            )
            continue
        else:
            raise CryodedupError(f"{part.where()}: particles refer to optics group {label}, absent from data_optics")
        if not value > 0:
            needs.add(f"{part.where()}: optics group {label} has pixel size {value}, expected > 0; {hint}")
            continue
        by_group[float(g)] = value
        used.append(PixelSize(part.label, label, value, source))
    return used, by_group


def row_pixel_sizes(
    part: ParticleTable,
    numbers: dict[str, np.ndarray],
    keys: np.ndarray,
    names: list[str],
    options: ReaderOptions,
    mic_psizes: dict[str, float] | None,
    warn: Warn,
    needs: Needs,
) -> tuple[np.ndarray, list[PixelSize]]:
    """The micrograph pixel size of every row of a table in memory, and what was used per group.

    A pixel size the user must give is added to ``needs`` (NaN for those rows).
    """
    n = keys.size
    group_label = part.columns.optics_group
    groups = numbers[group_label] if group_label and part.optics is not None else np.zeros(0)
    used, by_group = pixel_sizes_used(part, np.unique(groups), names, options, mic_psizes, warn, needs)
    if part.columns.coords_in_angstrom:
        return np.ones(n), used
    psize = resolve_pixel_size(
        options.mic_psize,
        given=lambda value: np.full(n, value),
        listed=None if mic_psizes is None else lambda: _listed_rows(part, names, keys, options, mic_psizes),
        own=lambda: _rows_by_group(n, groups, by_group),
    )
    return psize, used


def _listed_rows(
    part: ParticleTable, names: list[str], keys: np.ndarray, options: ReaderOptions, mic_psizes: dict[str, float]
) -> np.ndarray:
    """Each row's pixel size from the micrographs STAR (``keys`` index ``names``)."""
    return _micrographs_list(options, mic_psizes).sizes(part.where(), names)[0][keys]


def _rows_by_group(n: int, groups: np.ndarray, by_group: dict[float, float]) -> np.ndarray:
    """Each of ``n`` rows' pixel size from its optics group's, NaN where there is none."""
    psize = np.full(n, np.nan)
    for g, value in by_group.items():
        psize[groups == g] = value
    return psize


def centres_in_angstrom(part: ParticleTable, numbers: dict[str, np.ndarray], psize: np.ndarray) -> np.ndarray:
    """Particle centres in Å: coordinate x micrograph pixel size - origin (origin subtracted).

    With RELION's subtomogram angles the origin is first rotated into the tomogram frame
    (docs/design.md section 7).
    """
    cols = part.columns
    centres = np.empty((psize.size, len(cols.coords)))
    origins = np.zeros_like(centres)
    origin_by_axis = {lab[-1] if not lab.endswith("Angst") else lab[-6]: lab for lab in cols.origins}
    image_psize: np.ndarray | None = None
    if cols.origins_in_pixels:
        image_psize = 1e4 * numbers["rlnDetectorPixelSize"] / numbers["rlnMagnification"]
    for j, label in enumerate(cols.coords):
        axis = label[-6] if label.endswith("Angst") else label[-1]
        with np.errstate(over="ignore", invalid="ignore"):  # a centre that overflows is refused by the job
            c = numbers[label] if cols.coords_in_angstrom else numbers[label] * psize
            origin = origin_by_axis.get(axis)
            if origin is not None:
                origins[:, j] = numbers[origin] * image_psize if image_psize is not None else numbers[origin]
        centres[:, j] = c
    if cols.subtomogram_angles:
        origins = rotate_origins(origins, *(numbers[label] for label in cols.subtomogram_angles))
    with np.errstate(over="ignore", invalid="ignore"):
        return centres - origins


@dataclass
class _Merge:
    """The header of the merged output and the optics-group renumbering of each input."""

    prefix: bytes
    suffix: bytes
    rewrites: list[dict[str, str] | None]


def _replace_fields(line: str, replacements: dict[int, str]) -> str:
    spans = split_fields(line)
    for j in sorted(replacements, reverse=True):
        start, end, _ = spans[j]
        line = line[:start] + replacements[j] + line[end:]
    return line


def _particle_header(part: ParticleStar, labels: list[str]) -> bytes:
    """The particle block of ``part`` from its ``data_`` line to its first row.

    Only ``labels`` (a subset of its own, in its order) are listed, renumbered ``#1``..``#k``.
    """
    header = part.star.read_bytes(part.block.start, part.block.rows_start)
    if labels == part.labels:
        return header
    wanted, lines, k = set(labels), [], 0
    for line in header.decode("utf-8", errors="surrogateescape").splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("_"):  # in a loop's header, every _ line is a label
            if stripped.split()[0][1:] not in wanted:
                continue
            k += 1
            line = re.sub(r"#\d+", f"#{k}", line, count=1)
        lines.append(line)
    return "".join(lines).encode("utf-8", errors="surrogateescape")


def _header(part: ParticleStar, labels: list[str]) -> bytes:
    """The output of one input up to its first particle row: its blocks before the particles, as they are."""
    return part.star.read_bytes(0, part.block.start) + _particle_header(part, labels)


def _merge_optics(parts: list[ParticleStar], labels: list[str]) -> _Merge:
    """The merged output's header and footer.

    The header holds the optics groups of all inputs in one table, and the particle loop
    listing ``labels``. An optics group identical in every value but its number maps onto
    the existing one; a different group gets its own number (its old one if free) and, if
    its name is taken, a new name. Only clashing numbers are rewritten. Optics columns in
    another order are matched by name.
    """
    base = parts[0]
    suffix = base.star.read_bytes(base.block.rows_end, base.star.size)
    if base.optics is None or len(parts) == 1:
        return _Merge(_header(base, labels), suffix, [None] * len(parts))
    particle_header = _particle_header(base, labels)
    optics_labels = base.optics.labels
    g_col = optics_labels.index("rlnOpticsGroup")
    n_col = optics_labels.index("rlnOpticsGroupName") if "rlnOpticsGroupName" in optics_labels else None

    def identity(row: list[str]) -> tuple[str, ...]:
        return tuple(unquote(v) for j, v in enumerate(row) if j != g_col)

    known = {identity(row): int(row[g_col]) for row in base.optics.rows}
    names = {unquote(row[n_col]) for row in base.optics.rows} if n_col is not None else set()
    new_lines: list[str] = []
    rewrites: list[dict[str, str] | None] = [None]
    for part in parts[1:]:
        optics = part.optics
        assert optics is not None, "merged_columns let through inputs with and without data_optics"
        order = [optics.labels.index(lab) for lab in optics_labels]
        mapping: dict[int, int] = {}
        for row, line in zip(optics.rows, optics.lines):
            row = [row[j] for j in order]
            number = int(row[g_col])
            if identity(row) in known:
                mapping[number] = known[identity(row)]
                continue
            taken = set(known.values())
            new = number if number not in taken else max(taken) + 1
            replace = {g_col: str(new)}
            if n_col is not None and unquote(row[n_col]) in names:
                replace[n_col] = f"opticsGroup{new}"
            new_row = [replace.get(j, v) for j, v in enumerate(row)]
            known[identity(new_row)] = new
            names.add(unquote(new_row[n_col]) if n_col is not None else "")
            in_order = order == list(range(len(order)))
            new_lines.append(_replace_fields(line, replace) if in_order else " ".join(new_row))
            mapping[number] = new
        changed = {old: new for old, new in mapping.items() if old != new}
        if changed and part.columns.optics_group is None:
            raise CryodedupError(
                f"{part.where()}: optics group {next(iter(changed))} is renumbered {next(iter(changed.values()))} "
                f"to merge with {base.path}, but the particles have no rlnOpticsGroup column to follow it; "
                "add the column, or give the inputs distinct optics groups"
            )
        rewrites.append({k: str(new) for old, new in changed.items() for k in (str(old), f"{old:.6f}")} or None)
    assert base.optics_block is not None, "ParticleStar sets optics and optics_block together"
    optics_end = base.optics_block.rows_end
    head = base.star.read_bytes(0, optics_end)
    newline = "\r\n" if head.endswith(b"\r\n") else "\n"
    if head and not head.endswith(b"\n"):
        head += newline.encode()
    added = "".join(line + newline for line in new_lines).encode()
    prefix = head + added + base.star.read_bytes(optics_end, base.block.start) + particle_header
    return _Merge(prefix, suffix, rewrites)


class StarWriter:
    """Writes kept and rejected rows of the particle STAR inputs as two files.

    Their rows are byte copies of the input rows (under the merged header).
    """

    def __init__(
        self,
        parts: list[ParticleStar],
        labels: list[str],
        counts: list[int],
        outdir: Path,
        split: Split | None = None,
        names: tuple[str, str] = (KEPT_NAME, REJECTED_NAME),
    ):
        self.parts, self.labels, self.counts = parts, labels, counts
        self.kept_path, self.rejected_path = outdir / names[0], outdir / names[1]
        self.outputs = [self.kept_path, self.rejected_path]
        #: The rows already written while they were scanned, and the decision they follow.
        self.split = split

    def write_into(self, keep: np.ndarray, targets: dict[Path, Path]) -> None:
        """Writes kept and rejected rows to ``targets[output]``, the temporary names of a caller's outputs."""
        self._write(keep, targets, None)

    def write(self, keep: np.ndarray, force: bool, halves: np.ndarray | None = None) -> dict[str, list[Path]]:
        """Writes the rows where ``keep`` is True to the kept file and the others to the rejected file.

        ``halves`` (0 or 1 per row), where given, sets the kept rows' rlnRandomSubset (1 or 2).
        """
        paths = [self.kept_path, self.rejected_path]
        with AtomicOutputs(paths, force=force, inputs=[p.path for p in self.parts]) as tmp:
            split = self.split
            if split is not None and halves is None and keep is split.keep:
                self._finish_split(split, tmp)
            else:
                self._write(keep, tmp, halves)
        return {"kept": [self.kept_path], "rejected": [self.rejected_path]}

    def _finish_split(self, split: Split, tmp: dict[Path, Path]) -> None:
        """Ends the files the scan wrote (what follows the rows) and makes them the outputs."""
        suffix = _merge_optics(self.parts, self.labels).suffix
        for path, scratch in split.files.items():
            with open(scratch, "ab") as f:
                f.write(suffix)
            os.replace(scratch, tmp[path])

    def _write(self, keep: np.ndarray, tmp: dict[Path, Path], halves: np.ndarray | None) -> None:
        merge = _merge_optics(self.parts, self.labels)
        bounds = np.cumsum([0, *self.counts])
        # Text k - 1 for choice k; 0 leaves a row's text (rejected rows keep their half-set).
        choice = None if halves is None else np.where(keep, np.asarray(halves) + 1, 0).astype(np.uint8)
        for path in (self.kept_path, self.rejected_path):
            tmp[path].write_bytes(merge.prefix)
        for part, lo, hi, rewrite in zip(self.parts, bounds[:-1], bounds[1:], merge.rewrites):
            group = part.columns.optics_group  # never None with a rewrite: _merge_optics checks
            rw = (group, rewrite) if rewrite and group else None  # (a names-only part: one input, no rewrite)
            columns = None if part.labels == self.labels else self.labels  # rows in order already: byte copies
            values = None if choice is None else (RANDOM_SUBSET, choice[lo:hi], HALF_TEXTS)
            kept, rejected = tmp[self.kept_path], tmp[self.rejected_path]
            part.star.append_split(part.block, keep[lo:hi], kept, rejected, rw, columns, values)
        for path in (self.kept_path, self.rejected_path):
            with open(tmp[path], "ab") as f:
                f.write(merge.suffix)


@dataclass
class Split:
    """Output files written while the particle rows were scanned (docs/design.md section 5).

    ``files`` maps each output to its scratch file: the header, then the rows; ``rule`` is
    how the scan decides (min_dist, higher_is_better, remove_entirely, seed); ``keep`` is
    the decision the rows follow (None until the scan has made it).
    """

    files: dict[Path, Path]
    rule: _core.DedupRule
    keep: np.ndarray | None = None

    def scan_arguments(self) -> _core.SplitRule:
        """The ``split`` argument of :meth:`StarFile.scan_particles`."""
        scratch = {output.name: path for output, path in self.files.items()}
        return _core.SplitRule(self.rule, kept=scratch[KEPT_NAME], rejected=scratch[REJECTED_NAME])


def _start_split(
    parts: list[ParticleStar], labels: list[str], ask: AskOnePass | None, higher: bool, outdir: Path
) -> Split | None:
    """Scratch outputs, their headers written, for a scan that decides and writes as it goes.

    Only where the job, told what the inputs' headers say (:class:`StarFacts`), gives the
    rule (``ask``). None otherwise.
    """
    facts = StarFacts(
        inputs=len(parts),
        halfsets=any(RANDOM_SUBSET in part.labels for part in parts),
        filaments=any(RELION_TUBE in part.labels for part in parts),
        subtomograms=any(part.columns.subtomogram_angles for part in parts),
    )
    one_pass = ask(facts) if ask is not None else None
    if one_pass is None:
        return None
    part = parts[0]
    files = scratch_files([outdir / KEPT_NAME, outdir / REJECTED_NAME])
    if files is None:
        return None
    _write_headers(files, part, labels)
    rule = _core.DedupRule(
        min_dist=one_pass.min_dist,
        higher_is_better=higher,
        remove_entirely=one_pass.remove_entirely,
        seed=one_pass.seed,
    )
    return Split(files, rule)


def _write_headers(files: dict[Path, Path], part: ParticleStar, labels: list[str]) -> None:
    """Each scratch output of a split holding the header alone (what a scan appends its rows to)."""
    header = _header(part, labels)
    try:
        for scratch in files.values():
            Path(scratch).write_bytes(header)
    except OSError as err:
        raise write_error(err, files) from None


def _scan_input(
    part: ParticleStar,
    score_label: str | None,
    options: ReaderOptions,
    mic_psizes: dict[str, float] | None,
    wanted: list[str],
    split: Split | None,
    labels: list[str],
    log: Log,
) -> tuple[ParticleScan, set[str]]:
    """One input's rows scanned with their pixel sizes, and the micrographs found by file name.

    The scan (:func:`scan_particles`) looks a micrograph up in the micrographs STAR by exact
    path. When the STAR lists the input's micrographs under another folder and every one is
    then found by file name (``ListedPixelSizes.lookup``), the file is scanned again with those
    pixel sizes: a second read only for such files (the first one's split, if any, gave up on
    the unknown pixel sizes and starts over from the headers).
    """
    plan = pixel_size_plan(part, options, mic_psizes)
    images = options.same_image != "ignore" and IMAGE_NAME in part.labels
    scan = scan_particles(part, score_label, plan, wanted, split, images)
    if plan.source != "micrograph" or mic_psizes is None:
        return scan, set()
    listed, by_name = _micrographs_list(options, mic_psizes).lookup(part.where(), scan.key_names)
    if not by_name or len(listed) < len(scan.key_names):  # nothing found by name, or some not at all (refused later)
        return scan, set()
    log(
        f"{part.path}: {len(by_name):,} micrographs are listed in {options.micrographs} under another folder; "
        "reading the file again with their pixel sizes found by file name",
        "info",
    )
    if split is not None:
        _write_headers(split.files, part, labels)
    return scan_particles(part, score_label, _core.PixelSizes.by_micrograph(listed), wanted, split, images), by_name


def read_micrograph_names(
    part: ParticleStar, outdir: Path, names: tuple[str, str]
) -> tuple[ParticleSet, PlacedSubsetWriter]:
    """The rows of ``part`` (opened ``names_only``) by micrograph name, and their subsets' writer.

    The writer writes the kept and the rejected rows as ``names`` in ``outdir``, byte copies
    under the file's own header, like the particle job's outputs of one input.
    """
    _, keys, mic_names = part.star.scan(part.block, [], MICROGRAPH_NAME)
    writer = StarWriter([part], part.labels, [len(keys)], outdir, names=names)
    return ParticleSet.names_only(part.path, list(mic_names), keys, writer, None), writer


def read_star_files(
    inputs: list[Path],
    outdir: StrPath,
    options: ReaderOptions,
    warn: Warn,
    log: Log,
    one_pass: AskOnePass | None = None,
) -> ParticleSet:
    """Reads RELION particle STAR files into one ParticleSet.

    Its writer writes ``OUTDIR/particles_kept.star`` and ``particles_rejected.star``.
    Everything the user must supply (a pixel size, a score order) is gathered over all
    inputs and raised as one CryodedupError. ``one_pass`` is the job's decision, asked with
    what the headers say (:class:`~cryodedup.model.StarFacts`); where it gives a
    :class:`~cryodedup.model.OnePass`, the input is decided and written while it is
    scanned: the set comes back ``decided``.

    Each file is indexed up to its particle rows, and the rest while the rows are scanned
    (one read of the file); a file whose particle rows are followed by blocks that change
    the reading (an optics table after them) is read again with the whole index first.
    """
    if options.shift_key not in ("auto", "none"):
        raise CryodedupError(f"--shift-key for STAR files is auto or none, got {options.shift_key!r}")
    try:
        return _read_star_files(inputs, outdir, options, warn, log, one_pass, defer=True)
    except BlocksFollowParticles as err:
        log(f"{err}: blocks follow the particle rows; reading the files again with their whole index", "info")
        return _read_star_files(inputs, outdir, options, warn, log, one_pass, defer=False)


def _read_star_files(
    inputs: list[Path],
    outdir: StrPath,
    options: ReaderOptions,
    warn: Warn,
    log: Log,
    one_pass: AskOnePass | None,
    defer: bool,
) -> ParticleSet:
    parts = [ParticleStar(p, options.shift_key, defer) for p in inputs]
    for part, label in zip(parts, distinct_labels(inputs)):
        part.label = label  # never two "particles.star" in a summary or a warning
    labels = merged_columns(parts, warn)
    needs = Needs()
    score_label, higher = score_column(parts, options, warn, needs)
    mic_psizes = (
        micrograph_pixel_sizes(options.micrographs) if options.micrographs and options.mic_psize is None else None
    )
    group_ids: dict[str, int] = {}
    scans: list[ParticleScan] = []
    pixel_sizes: list[dict] = []
    with_halves = all(RANDOM_SUBSET in p.labels for p in parts)
    halves: list[np.ndarray] = []
    with_angles = options.max_angle is not None
    for part in parts if with_angles else []:
        lacking = [label for label in ANGLES if label not in part.labels]
        if lacking:
            raise CryodedupError(f"{part.where()}: --max-angle needs the orientations, and there is no {lacking[0]}")
    angles: list[np.ndarray] = []
    species_label = _species_column(parts, options.species_column)
    species_values: list[np.ndarray] = []
    split = _start_split(parts, labels, one_pass, bool(higher), Path(outdir))
    psizes_by_name: set[str] = set()  # micrographs whose pixel size --micrographs gave by file name
    for part in parts:
        log(f"reading {part.path} ({part.star.size / 1e6:.1f} MB)", "info")
        wanted = ([RANDOM_SUBSET] if with_halves else []) + (ANGLES if with_angles else [])
        wanted += [species_label] if species_label and species_label not in wanted else []
        scan, found_by_name = _scan_input(part, score_label, options, mic_psizes, wanted, split, labels, log)
        psizes_by_name.update(found_by_name)
        if split is not None:
            split.keep = scan.keep
            if scan.keep is None:
                log(f"{part.path}: deciding and writing in a second pass: {scan.split_note}", "info")
                for scratch in split.files.values():
                    scratch.unlink(missing_ok=True)  # (the disk space, for the second pass's outputs)
        if with_angles:
            angles.append(np.stack([scan.extra[label] for label in ANGLES], axis=1))
        if species_label:
            species_values.append(scan.extra[species_label])
        if with_halves:
            half, problem = read_halves(scan.extra[RANDOM_SUBSET], HALF_TEXTS, RANDOM_SUBSET, part.where())
            if half is None:
                warn(problem)
                with_halves = False
            halves.append(half if half is not None else np.zeros(0, dtype=np.int8))
        scan.extra = {}
        used, _ = pixel_sizes_used(part, scan.optics_groups, scan.key_names, options, mic_psizes, warn, needs)
        pixel_sizes.extend(vars(p) for p in used)
        scan.mic_ids = [group_ids.setdefault(name, len(group_ids)) for name in scan.key_names]
        if scan.mic_ids != list(range(len(scan.mic_ids))):  # not the first input's ids: renumber
            scan.groups = np.asarray(scan.mic_ids, dtype=np.uint32)[scan.groups]
        scans.append(scan)
        comments = part.star.comment_lines.get(part.block.index, 0)
        if comments:
            warn(
                f"{part.where()}: {comments} comment line(s) among the particle rows are not copied to the outputs "
                "(a row is either kept or rejected; a comment belongs to neither)"
            )
    needs.check()
    dim = max(s.centres.shape[1] for s in scans)
    if any(s.centres.shape[1] != dim for s in scans):
        raise CryodedupError("inputs mix 2D and 3D coordinates")
    counts = [len(s.groups) for s in scans]
    mic_psize = np.full(len(group_ids), np.nan)
    for scan in scans[::-1]:  # the first input that has a micrograph gives its pixel size
        mic_psize[scan.mic_ids] = scan.key_psizes
    input_of = input_numbers(counts)
    groups = _joined([s.groups for s in scans])
    filament = any(s.tubes is not None for s in scans)
    tubes = None
    if filament:
        tube_values = [s.tubes if s.tubes is not None else np.full(len(s.groups), np.nan) for s in scans]
        tubes = tube_ids(input_of, groups, np.concatenate(tube_values))
    species, species_names = species_of_rows(species_values, parts, species_label)
    return ParticleSet(
        inputs=[str(p.path) for p in parts],
        input_of=input_of,
        species=species,
        species_names=species_names,
        mic_names=list(group_ids),
        groups=groups,
        centres=_joined([s.centres for s in scans]),
        psize=pixel_size_of_rows(
            mic_psize, sum(len(s.groups) for s in scans), lambda: _joined([s.groups for s in scans])
        ),
        pixel_sizes=pixel_sizes,
        scores=_joined([s.scores for s in scans]) if score_label else None,
        score_label=score_label,
        higher_is_better=higher,
        shift=", ".join(parts[0].columns.origins) or "none",
        read_files=[p.path for p in parts],
        writer=StarWriter(parts, labels, counts, Path(outdir), split if split and split.keep is not None else None),
        decided=split.keep if split else None,
        tubes=tubes,
        tube_column=RELION_TUBE if filament else None,
        halfsets=HalfSets(RANDOM_SUBSET, np.concatenate(halves), HALF_TEXTS) if with_halves else None,
        sources=_expanded_copies(parts) if options.audit or options.min_dist == 0 else None,
        images=_images(parts, scans),
        sources_label=IMAGE_NAME,
        poses=np.concatenate(angles) if with_angles else None,
        pose_label="rlnAngleRot/Tilt/Psi",
        summary={"micrograph_matching": {"pixel_sizes_by_file_name": len(psizes_by_name)}} if psizes_by_name else {},
    )


def _images(parts: list[ParticleStar], scans: list[ParticleScan]) -> Images | None:
    """Each row's image, from ``rlnImageName`` (every input must have it), or None."""
    if any(s.images is None or s.image_runs is None for s in scans):
        return None

    def names(rows: np.ndarray) -> list[str]:  # a second read of the column, for a warning only
        found: list[str] = []
        starts = np.cumsum([0] + [len(s.groups) for s in scans])
        for k, part in enumerate(parts):
            mine = rows[(rows >= starts[k]) & (rows < starts[k + 1])] - starts[k]
            if mine.size:
                _, keys, texts = part.star.scan(part.block, [], IMAGE_NAME)
                found += [texts[i] for i in keys[mine]]
        return found

    keys = _joined([s.images for s in scans])
    runs = np.concatenate([s.image_runs for s in scans])
    return Images(keys, runs, IMAGE_NAME, names)


def _species_column(parts: list[ParticleStar], label: str | None) -> str | None:
    """``--species-column`` as the files name it (a leading underscore dropped); every input must have it."""
    if label is None:
        return None
    label = label.lstrip("_")
    for part in parts:
        if label not in part.labels:
            raise CryodedupError(f"{part.where()}: --species-column {label}: no such column")
    return label


def species_of_rows(
    values: list[np.ndarray], parts: list[ParticleStar], label: str | None
) -> tuple[np.ndarray | None, list[str]]:
    """Each row's species (an index) and the species' names, from the species column's numbers."""
    if label is None:
        return None, []
    joined = np.concatenate(values) if values else np.zeros(0)
    bad = np.flatnonzero(~np.isfinite(joined))
    if bad.size:
        counts = np.cumsum([len(v) for v in values])
        k = int(np.searchsorted(counts, bad[0], "right"))
        row = int(bad[0] - (counts[k - 1] if k else 0))
        raise CryodedupError(f"{parts[k].where()}: particle {row + 1} has no number in {label}, the species column")
    small = joined.size and (joined == np.trunc(joined)).all() and joined.min() >= 0 and joined.max() < 1 << 16
    if small:  # class numbers: counted, not sorted
        whole = joined.astype(np.int64)
        present = np.flatnonzero(np.bincount(whole))
        lookup = np.zeros(int(present[-1]) + 1, dtype=np.uint32)
        lookup[present] = np.arange(len(present), dtype=np.uint32)
        numbers, inverse = present.astype(np.float64), lookup[whole]
    else:
        numbers, unique_inverse = np.unique(joined, return_inverse=True)
        inverse = unique_inverse.astype(np.uint32).reshape(-1)
    names = [f"{number:g}" for number in numbers]  # (--min-dist 1=150,2=60)
    return inverse, names


@dataclass
class ParticleScan:
    """What the job keeps of one input's rows: micrograph ids (uint32), centres, scores.

    ``key_names`` are the input's micrographs (by the scan's ids), ``key_psizes`` their
    pixel sizes, ``mic_ids`` their ids among all inputs' micrographs.
    """

    groups: np.ndarray
    centres: np.ndarray
    scores: np.ndarray | None
    key_names: list[str]
    key_psizes: np.ndarray
    optics_groups: list[float]
    mic_ids: list[int] = field(default_factory=list)
    #: The tube column's value of each row (docs/design.md section 8); None without one.
    tubes: np.ndarray | None = None
    #: Further columns asked for (half-sets, orientations), by label.
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    #: Whether each row was kept, when the rows were split as they were scanned.
    keep: np.ndarray | None = None
    #: Why a split asked for was given up.
    split_note: str | None = None
    #: Each row's image key (uint64) and the runs of the image column; None without one.
    images: np.ndarray | None = None
    image_runs: np.ndarray | None = None


def scan_particles(
    part: ParticleStar,
    score_label: str | None,
    psize_plan: _core.PixelSizes,
    extra: list[str] | None = None,
    split: Split | None = None,
    images: bool = False,
) -> ParticleScan:
    """One input's rows, scanned one window of the file at a time: 28 bytes per 2D particle.

    ``extra`` columns, and those filaments and RELION 5 subtomograms need, are kept whole
    by the same pass, only when asked for or present. With ``split``, the rows are also
    decided and appended to its files as the scan goes (see :class:`Split`). ``images``:
    each row's image key from ``rlnImageName`` too.
    """
    cols = part.columns
    origin_by_axis = {lab[-1] if not lab.endswith("Angst") else lab[-6]: lab for lab in cols.origins}
    axes = [lab[-6] if lab.endswith("Angst") else lab[-1] for lab in cols.coords]
    origin_pixels = ("rlnDetectorPixelSize", "rlnMagnification") if cols.origins_in_pixels else None
    wanted = list(extra or []) + ([RELION_TUBE] if RELION_TUBE in part.labels else [])
    wanted += cols.origins + cols.subtomogram_angles if cols.subtomogram_angles else []
    wanted = list(dict.fromkeys(wanted))
    try:
        raw = part.star.scan_particles(
            part.block,
            cols.key,
            cols.coords,
            [origin_by_axis.get(axis) for axis in axes],
            origin_pixels,
            psize_plan,
            score_label,
            None if split is None else split.scan_arguments(),
            extra=wanted,
            image=IMAGE_NAME if images else None,
        )
    except OSError as err:  # writing the split's files (reading errors are CryodedupErrors)
        raise write_error(err, split.files if split else {}) from None
    part.confirm_blocks()
    numbers = dict(zip(wanted, raw.extra))
    centres = raw.centres.reshape(-1, len(cols.coords))
    if cols.subtomogram_angles:  # the scan subtracted the origins unrotated: rotate them (section 7)
        origins = np.stack([numbers[label] for label in cols.origins], axis=1)
        angles = (numbers[label] for label in cols.subtomogram_angles)
        centres += origins - rotate_origins(origins, *angles)
    return ParticleScan(
        raw.keys,
        centres,
        raw.scores,
        raw.key_names,
        raw.key_psizes,
        raw.optics_groups,
        tubes=numbers.get(RELION_TUBE),
        extra={label: numbers[label] for label in extra or []},
        keep=raw.keep,
        split_note=raw.split_note,
        images=raw.images,
        image_runs=raw.image_runs,
    )


def input_numbers(counts: list[int]) -> np.ndarray:
    """The input of each row, rows input by input: one byte per row (no memory for one input)."""
    if len(counts) == 1:
        return np.broadcast_to(np.uint8(0), (counts[0],))
    dtype = np.uint8 if len(counts) <= 256 else np.int64
    return np.repeat(np.arange(len(counts), dtype=dtype), counts)


def _joined(arrays: list) -> np.ndarray:
    """The arrays of all inputs as one (the only one as it is: no copy of a big input)."""
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _expanded_copies(parts: list[ParticleStar]) -> np.ndarray | None:
    """The image id of each row when some rows share an image (symmetry-expanded copies), else None.

    Reading every image name costs several times the job's own scan (measured: 9 s for 1M
    rows against 1 s), so the job asks only with ``--min-dist 0`` (undoing an expansion)
    or ``--audit``.
    """
    if not all(IMAGE_NAME in p.labels for p in parts):
        return None
    image_ids: dict[str, int] = {}
    ids = []
    for part in parts:
        _, keys, names = part.star.scan(part.block, [], IMAGE_NAME)
        remap = np.array([image_ids.setdefault(name, len(image_ids)) for name in names], dtype=np.int64)
        ids.append(remap[keys] if keys.size else np.zeros(0, dtype=np.int64))
    rows = sum(len(i) for i in ids)
    return np.concatenate(ids) if len(image_ids) < rows else None


class _FrameParticles:
    """A RELION particle table in memory, seen as the reader sees a file."""

    def __init__(self, particles: DataFrame, optics: DataFrame | None, shift_key: str) -> None:
        self.path = Path("<DataFrame>")
        self.label = self.path.name
        self.frame = particles
        self.labels = [str(c) for c in particles.columns]
        self.optics: Table | None = None
        if optics is not None:
            rows = [[_text(v) for v in row] for row in optics.itertuples(index=False)]
            self.optics = Table([str(c) for c in optics.columns], rows, [])
        self.columns = choose_columns(self.labels, self.optics is not None, self.where(), shift_key)

    def where(self) -> str:
        """The table, to start an error message with."""
        return "the particle table"

    def numeric_labels(self) -> list[str]:
        """The labels of the columns of numbers."""
        return [c for c in self.labels if self.frame[c].dtype.kind in "iuf"]


def _text(value: object) -> str:
    """A table value as RELION writes it (integers without a decimal point)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _micrograph_names(particles: DataFrame, key: str) -> np.ndarray:
    """The column ``key`` as strings; a missing name (NaN, None) is refused, not read as "nan"."""
    missing = particles[key].isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise CryodedupError(
            f"row {row + 1} of the particle table has no {key} (a missing value): every particle needs its "
            f"micrograph; {int(missing.sum())} such rows"
        )
    return np.asarray([str(name) for name in particles[key].to_numpy()], dtype=object)


def read_frame(particles: DataFrame, optics: DataFrame | None, options: ReaderOptions, warn: Warn) -> ParticleSet:
    """A RELION particle table in memory read into a ParticleSet without a writer.

    ``particles`` is a pandas DataFrame with RELION's labels and ``optics`` the optics table
    or None, as ``starfile.read`` gives them. The caller selects the rows itself.
    """
    part = _FrameParticles(particles, optics, options.shift_key)
    needs = Needs()
    score, higher = score_column([part], options, warn, needs)
    needs.check()
    numbers: dict[str, np.ndarray] = {}
    for label in part.columns.numbers(score):
        try:
            numbers[label] = particles[label].to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise CryodedupError(f"column {label} of the particle table is not numeric") from None
    names, keys = np.unique(_micrograph_names(particles, part.columns.key), return_inverse=True)
    mic_psizes = micrograph_pixel_sizes(options.micrographs) if options.micrographs else None
    psize, used = row_pixel_sizes(part, numbers, keys, list(names), options, mic_psizes, warn, needs)
    needs.check()
    filament = RELION_TUBE in part.labels
    groups = keys.astype(np.int64).ravel()
    return ParticleSet(
        inputs=[str(part.path)],
        input_of=np.zeros(keys.size, dtype=np.int64),
        mic_names=[str(n) for n in names],
        groups=groups,
        centres=centres_in_angstrom(part, numbers, psize),
        psize=np.broadcast_to(np.asarray(psize, dtype=np.float64), keys.shape),
        pixel_sizes=[vars(p) for p in used],
        scores=numbers[score] if score else None,
        score_label=score,
        higher_is_better=higher,
        shift=", ".join(part.columns.origins) or "none",
        tubes=tube_ids(np.zeros_like(groups), groups, particles[RELION_TUBE].to_numpy(float)) if filament else None,
        tube_column=RELION_TUBE if filament else None,
        poses=_frame_angles(particles) if options.max_angle is not None else None,
        pose_label="rlnAngleRot/Tilt/Psi",
    )


def _frame_angles(particles: DataFrame) -> np.ndarray:
    """RELION's Euler angles of a table in memory, for ``max_angle``."""
    lacking = [label for label in ANGLES if label not in particles.columns]
    if lacking:
        raise CryodedupError(f"the particle table: max_angle needs the orientations, and there is no {lacking[0]}")
    return particles[ANGLES].to_numpy(dtype=np.float64)
