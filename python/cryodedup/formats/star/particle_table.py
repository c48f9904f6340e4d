"""RELION's particle tables: which columns locate, score and group the particles.

A particle STAR input (:class:`ParticleStar`) or a table in memory (``particles.read_frame``)
is seen through :class:`ParticleTable`: its labels, its optics table and the
:class:`Columns` chosen from them (coordinates and their units, origins, optics group,
subtomogram angles). The score column and the merged output's columns are chosen here for
all inputs at once; :class:`Needs` gathers what the user must supply into one message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ...algo.priority import scores_without_none
from ...errors import CryodedupError, InputFileError
from ...particle_set import Warn
from ...paths import StrPath
from ...resolve.score import (
    NO_AUTO_SCORE,
    UNDECIDED_BY_PREFER,
    UNKNOWN_COLUMN,
    UNKNOWN_ORDER,
    resolve_score,
    score_direction,
)
from .file import Block, StarFile, Table
from .micrographs import block_naming_micrographs
from .tomography import SUBTOMOGRAM_ANGLES, origin_assumptions

if TYPE_CHECKING:
    from ..read_request import ScoreRead

__all__ = [
    "ANGLES",
    "HALF_TEXTS",
    "IMAGE_NAME",
    "MICROGRAPH_NAME",
    "RANDOM_SUBSET",
    "RELION_TUBE",
    "BlocksFollowParticles",
    "Merged",
    "Needs",
    "ParticleStar",
    "ParticleTable",
    "check_angle_ranges",
    "choose_columns",
    "level_scores",
    "merged_columns",
    "score_column",
    "score_columns",
    "shared_score_columns",
]

#: The score columns ``--score auto`` looks for, in order.
AUTO_SCORES = ("rlnAutopickFigureOfMerit", "rlnMaxValueProbDistribution", "rlnLogLikeliContribution")

#: RELION's half-set column and how it writes the two halves.
RANDOM_SUBSET, HALF_TEXTS = "rlnRandomSubset", ("1", "2")
#: RELION's orientation of a particle: Euler angles (ZYZ) in degrees.
ANGLES = ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
#: 180 / π: degrees multiplied by it once too often (taken for radians) are this many times too large.
DEGREES_PER_RADIAN = 180 / np.pi


#: From this many particles on, every angle within ±π is radians written as degrees by the look of it:
#: rot and psi span ±180° in any refinement (RELION writes them so), and π° is 1/57 of that span.
RADIAN_ROWS = 100


def check_angle_ranges(
    angles: np.ndarray, labels: Sequence[str], where: str, warn: Warn, insisted: bool = False, package: str = "RELION"
) -> None:
    """Refuses Euler angles beyond ±360° or, unless ``insisted``, all within ±π; warns of a tilt outside 0-180°.

    RELION writes rot and psi within ±180° and tilt within 0-180°. An angle beyond ±360° is
    no angle a program writes: degrees multiplied by 180/π once too often, or another quantity
    (cryoCAT's WarpTools file: rot up to 7,090, tilt up to 2,398, each 57.3 times the
    search grid's value); compared as written, ``--max-angle`` would decide on noise.
    A tilt outside 0-180° within ±360° is a rotation all the same (another program's
    convention), so it is only said. ``angles`` is (n, 3), rows numbered from 1 in messages.
    Radians written as degrees within ±π pass that test: over :data:`RADIAN_ROWS` particles or
    more, every angle within ±π (and not all 0) is refused unless ``insisted`` (``--insist-angles``),
    and said then (``--max-angle 10`` would take nearly every pair for one orientation). ``package``:
    whose angles they are (Dynamo's tdrot, tilt, narot keep the same ranges), as the warning names it.
    """
    _check_radians(angles, labels, where, warn, insisted)
    with np.errstate(invalid="ignore"):
        beyond = np.abs(angles) > 360
    if beyond.any():
        row, column = (int(k) for k in np.argwhere(beyond)[0])
        value, largest = float(angles[row, column]), float(np.nanmax(np.abs(angles)))
        cause = (
            f"degrees multiplied by 180/π once too often? ({value:g} / {DEGREES_PER_RADIAN:.5f} = "
            f"{value / DEGREES_PER_RADIAN:.4g}°, and every angle divided so lies within ±360°)"
            if largest / DEGREES_PER_RADIAN <= 360
            else "not an angle in degrees"
        )
        raise InputFileError(
            f"{where}: particle {row + 1} has {labels[column]} {value:g}°, beyond ±360° "
            f"({int(beyond.any(axis=1).sum()):,} such particles, up to {largest:g}°): {cause}; --max-angle compares "
            "orientations: fix the angles first"
        )
    with np.errstate(invalid="ignore"):
        tilted = (angles[:, 1] < 0) | (angles[:, 1] > 180)
    if tilted.any():
        row = int(np.flatnonzero(tilted)[0])
        warn(
            f"{where}: {int(tilted.sum()):,} particles have {labels[1]} outside 0-180° (particle {row + 1}: "
            f"{angles[row, 1]:g}°), as {package} never writes it: another program's convention, or a sign flipped? "
            "They are compared as the rotations they write"
        )


def _check_radians(angles: np.ndarray, labels: Sequence[str], where: str, warn: Warn, insisted: bool) -> None:
    """Refuses (or, insisted, warns of) orientations that are radians written as degrees by the look of them."""
    finite = np.abs(angles[np.isfinite(angles).all(axis=1)])
    if len(finite) < RADIAN_ROWS or not 0.5 < finite.max() <= np.pi + 1e-4:
        return
    said = (
        f"{where}: all {len(finite):,} particles' angles lie within ±π ({'/'.join(labels)}, up to "
        f"{finite.max():.4g}°): radians written as degrees?"
    )
    if insisted:
        warn(f"{said} Compared as written, as --insist-angles asks")
        return
    raise CryodedupError(
        f"{said} --max-angle would compare them as degrees and take nearly every pair for one orientation "
        "(--min-dist-ellipsoid would turn each ellipsoid by them as degrees): "
        f"convert them to degrees (x {DEGREES_PER_RADIAN:.5f}), or give --insist-angles to compare them as written"
    )


#: The column that expanded copies share (relion_particle_symmetry_expand keeps each image).
IMAGE_NAME = "rlnImageName"

#: The column that names a particle's micrograph.
MICROGRAPH_NAME = "rlnMicrographName"

#: RELION's helical tube column (docs/design.md section 8): tubes are numbered per micrograph.
RELION_TUBE = "rlnHelicalTubeID"


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
    #: What was assumed of absent origin or subtomogram-angle columns, as RELION assumes it.
    assumed: list[str] = field(default_factory=list)

    def numbers(self, score: str | None) -> list[str]:
        """The numeric columns to scan: coordinates, origins, optics group, and ``score``."""
        extra = ["rlnDetectorPixelSize", "rlnMagnification"] if self.origins_in_pixels else []
        extra += self.subtomogram_angles
        group = [self.optics_group] if self.optics_group else []
        return list(dict.fromkeys(self.coords + self.origins + group + extra + ([score] if score else [])))


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

    def first_row(self) -> dict[str, str]:
        """The first particle row's fields by label, as text (empty without a row)."""
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
        #: The coordinates written for this input's rows when they are carried into another frame (Å).
        self.rewritten: np.ndarray | None = None
        #: How far ``--transform`` moves each row's coordinates (its own units, by axis of its
        #: coordinate columns), written so into a combined output; None: as read.
        self.moved_by: np.ndarray | None = None
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

    def first_row(self) -> dict[str, str]:
        """The first particle row's fields by label, as text (empty without a row)."""
        return self.star.first_row(self.block)

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
                raise InputFileError(
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
        raise InputFileError(
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
            raise InputFileError(
                f"{where}: no {' or '.join(missing)} column; the particles cannot be located "
                f"on their micrographs (columns present: {', '.join(labels)})"
            )
        axes = ["X", "Y"] + (["Z"] if "rlnCoordinateZ" in present else [])
        coords, in_angstrom = [f"rlnCoordinate{a}" for a in axes], False
    key = next((k for k in ("rlnMicrographName", "rlnTomoName") if k in present), None)
    if key is None:
        raise InputFileError(
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
                    raise InputFileError(
                        f"{where}: rlnOriginX is in particle pixels but there is no {needed} "
                        "column to give their size; use --shift-key none to ignore the origins"
                    )
    if len(coords) == 3 and columns.origins and not columns.origins_in_pixels:
        # RELION's particle set: origins rotated where rlnTomoSubtomogramRot is (an absent axis or angle read as 0)
        if SUBTOMOGRAM_ANGLES[0] in present:
            columns.subtomogram_angles = [label for label in SUBTOMOGRAM_ANGLES if label in present]
        columns.assumed = origin_assumptions(present)
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
        raise InputFileError(
            f"{where}: subtomograms ({', '.join(marks)}) with no {z} column: their centres are 3-D, and in 2-D "
            f"particles above one another would be taken for duplicates; add the {z} column"
        )


def score_column(
    parts: Sequence[ParticleTable], score_read: ScoreRead, warn: Warn, needs: Needs
) -> tuple[str | None, bool]:
    """The score label (None: random ranking) and whether higher is better.

    The score must be a column of every input; ``auto`` takes the first known score they all
    have, and falls back to the seeded random ranking (as ``none``) with a warning when there
    is none. An unknown column or order is added to ``needs`` (and None returned).
    """
    given = score_read.score
    score = given if given in ("auto", "none") else given.lstrip("_")  # _rlnX names rlnX
    chosen = resolve_score(
        score, score_read.score_order, AUTO_SCORES, lambda label: all(label in p.labels for p in parts)
    )
    label = chosen.label
    if chosen.problem == NO_AUTO_SCORE:
        which = "every input" if len(parts) > 1 else parts[0].label
        warn(
            f"--score auto: none of {', '.join(AUTO_SCORES)} is in {which}, so each group of duplicates "
            f"{UNDECIDED_BY_PREFER if score_read.preferred_first else ''}keeps a seeded random particle "
            f"(seed {score_read.seed}), as with --score none; {_ranking_advice(parts, score_read)}"
        )
    elif chosen.problem == UNKNOWN_COLUMN:
        lacking = [p for p in parts if label not in p.labels]
        numeric = [lab for lab in lacking[0].numeric_labels() if all(lab in p.labels for p in parts)]
        scores = [lab for lab in numeric if score_like(lab)]
        own = (
            "; or --score auto with --prefer: each input's duplicates ranked by its own score, the inputs by --prefer"
            if len(parts) > 1
            else ""
        )
        needs.add(
            f"{lacking[0].where()}: unknown score column {label!r}; score columns present"
            f"{' in every input' if len(parts) > 1 else ''}: {', '.join(scores) or 'none'}{own}"
        )
        return None, True
    elif chosen.problem == UNKNOWN_ORDER:
        needs.add(
            f"--score {label}: it is not known whether higher or lower is better; "
            "add --score-order max or --score-order min"
        )
    return label, chosen.higher_is_better


#: Columns that say where a particle is, how it is turned, what it was imaged with or which it is: never a score.
_NOT_SCORES = re.compile(
    r"Coordinate|Origin|Angle|Shift|Defocus|Ctf(?!FigureOfMerit)|PixelSize|Size|Voltage|Spherical|Amplitude|"
    r"Group|Subset|ClassNumber|Id$|Index|Number|Binning|Dimensionality|Magnification|Beam|Tilt|Hand|Dose|"
    r"Helical|Tube|Frame|Visible|Psi|Rot$|Phase|Detector|Image|Micrograph|Name",
)


def score_like(label: str) -> bool:
    """Whether a numeric column may rank particles: a known score, or one that places, turns or names none."""
    return score_direction(label) is not None or not _NOT_SCORES.search(label)


def shared_score_columns(parts: Sequence[ParticleTable]) -> list[str]:
    """The numeric columns every input has that may rank particles (:func:`score_like`), in the first's order."""
    return [lab for lab in parts[0].numeric_labels() if all(lab in p.labels for p in parts) and score_like(lab)]


def _ranking_advice(parts: Sequence[ParticleTable], score_read: ScoreRead) -> str:
    """What ranks the duplicates instead of chance: a score column every input has, named; else ``--prefer``.

    "--score COLUMN" alone was advised where no column of theirs is a score (a re-extraction beside its
    source), advice no one could follow.
    """
    shared = shared_score_columns(parts)
    if shared:
        return f"rank by a column with --score COLUMN (of theirs: {', '.join(shared[:4])})"
    if len(parts) > 1 and not score_read.preferred_first:
        return "no column of theirs is a score: --prefer INPUT keeps one input's particles first"
    return "no column of theirs is a score"


#: The scores a ``--prefer`` level may rank its own duplicates by, in order: :data:`AUTO_SCORES`, then
#: pytom-match-pick's template-matching peak (``rlnLCCmax``, its local cross-correlation: higher is better).
LEVEL_SCORES = (*AUTO_SCORES, "rlnLCCmax")


def _prefer_levels(prefer_held: Sequence[Sequence[int]], n_inputs: int) -> list[list[int]]:
    """The inputs of each ``--prefer`` level, most preferred first; the inputs it names none of last."""
    named = {k for level in prefer_held for k in level}
    rest = [k for k in range(n_inputs) if k not in named]
    return [list(level) for level in prefer_held] + ([rest] if rest else [])


def _own_scores(parts: Sequence[ParticleTable], score_read: ScoreRead, needs: Needs) -> list[str | None] | None:
    """Each input's score where ``--prefer`` orders the inputs and no one score ranks them all.

    Scores of inputs at different ``--prefer`` levels are never compared, so each level ranks
    its own duplicates by a score its inputs all have: the column ``--score`` names, else the
    first of :data:`LEVEL_SCORES` (refined particles' ``rlnMaxValueProbDistribution`` beside a
    picker's figure of merit or pytom-match-pick's ``rlnLCCmax``). A level with none (hand
    picks) has None: its duplicates keep the first in file order. None (one column for all,
    :func:`score_column`) where ``--prefer`` is not given, ``--score none``, a score every
    input has exists, or no level has one. A named column some but not all of a level's
    inputs have is added to ``needs``: its inputs could not be compared.
    """
    given = score_read.score
    if score_read.prefer_held is None or given == "none":
        return None
    named = None if given == "auto" else given.lstrip("_")
    if named is None and score_read.score_order != "auto":
        return None  # (an order for no named column: score_column words it)
    shared = [named] if named else list(AUTO_SCORES)
    if any(all(label in p.labels for p in parts) for label in shared):
        return None
    if named and not any(named in p.labels for p in parts):
        return None  # (a column no input has: score_column refuses it, naming those they have)
    higher = True if named is None else score_direction(named, score_read.score_order)
    own: list[str | None] = [None] * len(parts)
    for level in _prefer_levels(score_read.prefer_held, len(parts)):
        having = [k for k in level if named in parts[k].labels] if named else []
        if having and len(having) < len(level):
            lacking = next(k for k in level if k not in having)
            needs.add(
                f"--score {named}: {parts[lacking].label} lacks it, and --prefer ranks it with "
                f"{parts[having[0]].label}, which has it: their scores cannot be compared; give them "
                "--prefer levels of their own"
            )
            return None
        # A level without the named column ranks by its own known score, where higher is better too.
        label = (
            named
            if having
            else next((c for c in LEVEL_SCORES if higher and all(c in parts[k].labels for k in level)), None)
        )
        for k in level:
            own[k] = label
    if not any(own):
        return None
    if higher is None:
        needs.add(
            f"--score {named}: it is not known whether higher or lower is better; "
            "add --score-order max or --score-order min"
        )
    return own


def score_columns(
    parts: Sequence[ParticleTable], score_read: ScoreRead, warn: Warn, needs: Needs
) -> tuple[str | None, bool, list[str | None]]:
    """The score label, whether higher is better, and the column each input is ranked by.

    One column for all (:func:`score_column`), or, for inputs ordered by ``--prefer`` with no
    score in common, each ``--prefer`` level its own (:func:`_own_scores`; None: file order).
    """
    own = _own_scores(parts, score_read, needs)
    if own:
        named = score_read.score not in ("auto", "none")
        higher = score_direction(score_read.score.lstrip("_"), score_read.score_order) if named else True
        return _own_label(parts, own), higher is not False, list(own)
    label, higher = score_column(parts, score_read, warn, needs)
    return label, higher, [label] * len(parts)


def level_scores(scores: np.ndarray | None, n: int, own: str | None, score_label: str | None) -> np.ndarray | None:
    """An input's ``n`` scores as the job ranks them, read from its own column ``own`` (:func:`score_columns`).

    RELION's -999 (no score) of its own column made NaN, as the job does for the set's one column;
    a ``--prefer`` level with no score all NaN (its duplicates in file order, after any scored one).
    """
    if own != score_label and scores is not None:
        return scores_without_none(scores, own)
    if score_label and own is None:
        return np.full(n, np.nan)
    return scores


#: How the summary names a ``--prefer`` level ranked by no score: its duplicates keep the first in file order.
NO_LEVEL_SCORE = "no score, file order"


def _own_label(parts: Sequence[ParticleTable], own: list[str | None]) -> str:
    """The score label of inputs each ranked by its own column: each column with the inputs it ranks."""
    by_label: dict[str, list[str]] = {}
    for part, label in zip(parts, own):
        by_label.setdefault(label or NO_LEVEL_SCORE, []).append(part.label)
    return "; ".join(f"{label} ({', '.join(names)})" for label, names in by_label.items())


@dataclass(frozen=True)
class Merged:
    """How several particle STAR inputs are written: the combined file's columns, and which files are written.

    ``labels``: the columns every input has, in the first input's order (the combined file's).
    ``combined``: whether the combined file is written (no input loses a column or an optics
    table in it). ``own_files``: whether each input's kept and rejected rows are written to
    files of their own, under the input's own header (its rows byte for byte): where the
    combined file would lose columns, or rewrites an input's coordinates.
    """

    labels: list[str]
    combined: bool = True
    own_files: bool = False


def merged_columns(parts: list[ParticleStar], warn: Warn, rewritten: Sequence[int] = ()) -> Merged:
    """The particle columns of the merged output, and whether it is written (:class:`Merged`).

    The inputs ``rewritten`` (by position) get the first input's coordinate columns, their own
    coordinates carried into its frame (``tomograms.corner_inputs``); any other input whose
    coordinates differ from the others' is refused: their centres could not be compared.
    Inputs whose columns or optics tables differ (refined particles and a picking job's
    coordinates) are written each to files of its own, every column as read; a warning names
    what differs.
    """
    first = parts[0]

    def kept(label: str) -> bool:
        return all(label in p.labels or (k in rewritten and label in first.columns.coords) for k, p in enumerate(parts))

    common = [lab for lab in first.labels if kept(lab)]
    for k, part in enumerate(parts):
        lost = [lab for lab in part.columns.coords if lab not in common]
        if lost and k not in rewritten:
            others = [p for p in parts if not set(lost) <= set(p.labels)]
            raise InputFileError(
                f"{part.where()}: its coordinates ({', '.join(lost)}) are not in {others[0].label} "
                f"(whose are {', '.join(others[0].columns.coords)}): their centres cannot be compared (the merged "
                "output would have no coordinates); deduplicate each file on its own"
            )
    if len(parts) == 1:
        return Merged(common)
    dropped: dict[str, list[str]] = {}
    for k, part in enumerate(parts):
        for label in part.labels:
            if label not in common and not (k in rewritten and label in part.columns.coords):
                dropped.setdefault(label, []).append(part.label)
    differences = [f"{label} (only in {', '.join(labels)})" for label, labels in dropped.items()]
    differences += _optics_differences(parts)
    if differences:
        shown = "; ".join(differences[:6]) + (f"; and {len(differences) - 6} more" if len(differences) > 6 else "")
        warn(
            f"the inputs' particle columns differ, so each input's kept and rejected rows are written to files of "
            f"their own (particles_kept_<input>.star), every column as read, and no combined file, which would "
            f"lose them: {shown}"
        )
    return Merged(common, combined=not differences, own_files=bool(differences) or bool(rewritten))


def _optics_differences(parts: list[ParticleStar]) -> list[str]:
    """What keeps the inputs' optics tables from one merged table: one missing, or other columns."""
    first = parts[0]
    for other in parts[1:]:
        if first.optics is None and other.optics is None:
            continue
        if first.optics is None or other.optics is None:
            with_optics, without = (first, other) if other.optics is None else (other, first)
            return [f"a data_optics block (in {with_optics.label}, not in {without.label})"]
        if set(first.optics.labels) != set(other.optics.labels):
            a, b = first.optics.labels, other.optics.labels
            return [
                f"optics column {label} (only in {p.label})"
                for p, only in ((first, [x for x in a if x not in b]), (other, [x for x in b if x not in a]))
                for label in only
            ]
    return []
