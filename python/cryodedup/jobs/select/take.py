"""``--take``: the selected rows take values from their subset rows, converted into the original's frame.

Written as the particle job writes its kept rows, under temporary names (``write_into``), then
the selected file's fields set from the subset: a STAR file's row texts (the other fields' bytes
as they are: ``formats/star/row_fields.py``), a CryoSPARC file's fields. ``shifts`` are made
anew, not copied: each selected row's origin becomes the one that puts its centre (coordinate
minus origin, in Å through its file's pixel size) on its subset row's centre, through both
files' pixel sizes, whatever the recentring or binning between them. Across packages (a STAR
original and a ``.cs`` subset, or the reverse) ``angles`` and ``shifts`` are carried: RELION's
Euler angles and CryoSPARC's ``alignments3D/pose`` converted (``poses.py``), the origin or
``alignments3D/shift`` (in the original's alignment pixels) made from the centres; the other
groups are refused there, not guessed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import CryodedupError
from ...outputs import AtomicOutputs
from ...particle_set import KindsWriter, ParticleSet, SubsetWriter

if TYPE_CHECKING:
    from .match import Matched

__all__ = ["write_taken"]

#: Each group's RELION labels (those the subset has are taken; ``shifts`` are made from the centres).
_ORIGINS = ("rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst")
RELION_GROUPS = {
    "angles": ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"),
    "shifts": _ORIGINS,
    "class": ("rlnClassNumber",),
    "halfset": ("rlnRandomSubset",),
    "ctf": ("rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnCtfBfactor", "rlnCtfScalefactor", "rlnPhaseShift"),
}
#: Each group's CryoSPARC fields (``shifts``: scaled by the two files' alignment pixel sizes).
CRYOSPARC_GROUPS = {
    "angles": ("alignments3D/pose",),
    "shifts": ("alignments3D/shift",),
    "class": ("alignments3D/class", "alignments2D/class"),
    "halfset": ("alignments3D/split",),
    "ctf": ("ctf/df1_A", "ctf/df2_A", "ctf/df_angle_rad", "ctf/phase_shift_rad", "ctf/bfactor", "ctf/scale"),
}
_ALIGN_PSIZE = "alignments3D/psize_A"


def write_taken(
    writer: SubsetWriter,
    keep: np.ndarray,
    original: ParticleSet,
    subset: ParticleSet,
    matched: Matched,
    which: np.ndarray | None,
    groups: tuple[str, ...],
    force: bool,
) -> dict[str, list[str]]:
    """The selected and deselected rows written, the selected taking ``groups`` from their subset rows."""
    from ...formats.cryosparc.particles import CsWriter
    from ...formats.sniff import is_cryosparc
    from ...formats.star.particle_writer import StarWriter

    if isinstance(writer, KindsWriter) or len(original.inputs) != 1 or len(subset.inputs) != 1:
        raise CryodedupError("--take takes values from one subset file into one original file: give one of each")
    source = _subset_row_of(keep, matched, which)
    subset_path = Path(subset.inputs[0])
    if isinstance(writer, StarWriter):
        if is_cryosparc(subset_path):
            return _into_star_from_cs(writer, keep, original, subset, subset_path, source, groups, force)
        if subset_path.suffix.lower() != ".star":
            raise CryodedupError(f"--take into a STAR file takes from a STAR or .cs subset; {subset_path} is neither")
        return _into_star(writer, keep, original, subset, subset_path, source, groups, force)
    if isinstance(writer, CsWriter):
        if subset_path.suffix.lower() == ".star":
            return _into_cs_from_star(writer, keep, original, subset, subset_path, source, groups, force)
        if not is_cryosparc(subset_path):
            raise CryodedupError(
                f"--take into a CryoSPARC file takes from a .cs or STAR subset; {subset_path} is neither"
            )
        return _into_cs(writer, keep, subset_path, source, groups, force)
    raise CryodedupError(f"--take writes into RELION STAR or CryoSPARC originals, not {type(writer).__name__}'s")


def _subset_row_of(keep: np.ndarray, matched: Matched, which: np.ndarray | None) -> np.ndarray:
    """Each selected row's subset row (in the subset file's numbering), in the original's order."""
    found = np.full(len(keep), -1, dtype=np.int64)
    rows = np.flatnonzero(matched.partner >= 0)
    found[matched.partner[rows]] = rows if which is None else which[rows]
    return found[keep]


def _labels(groups: tuple[str, ...], table: dict[str, tuple[str, ...]]) -> list[str]:
    return [label for g in groups for label in table.get(g, (g,))]


def _into_star(
    writer: SubsetWriter,
    keep: np.ndarray,
    original: ParticleSet,
    subset: ParticleSet,
    subset_path: Path,
    source: np.ndarray,
    groups: tuple[str, ...],
    force: bool,
) -> dict[str, list[str]]:
    from ...formats.star.row_fields import particle_labels, read_fields

    theirs, mine = set(particle_labels(subset_path)), particle_labels(Path(original.inputs[0]))
    copied = [
        label
        for label in _labels(tuple(g for g in groups if g != "shifts"), RELION_GROUPS)
        if label in theirs or label not in sum(RELION_GROUPS.values(), ())
    ]
    shifts = list(_ORIGINS[: original.centres.shape[1]]) if "shifts" in groups else []
    for label in [*copied, *shifts]:
        if label not in mine:
            raise CryodedupError(f"--take: {original.inputs[0]} has no column {label} to take it into")
    texts = read_fields(subset_path, copied)
    values: dict[str, list[str | None]] = {label: [texts[label][s] for s in source] for label in copied}
    return _write_star(writer, keep, original, subset, source, values, shifts, force)


def _write_star(
    writer: SubsetWriter,
    keep: np.ndarray,
    original: ParticleSet,
    subset: ParticleSet,
    source: np.ndarray,
    values: dict[str, list[str | None]],
    shifts: list[str],
    force: bool,
) -> dict[str, list[str]]:
    """The selected and deselected STAR files written, the selected rows' ``values`` set and origins ``shifts`` made.

    Each origin is the original's plus the centres' difference: the row's centre moved onto its subset row's.
    """
    from ...formats.star.row_fields import read_fields, set_fields

    outputs = writer.outputs  # type: ignore[attr-defined]
    with AtomicOutputs(outputs, force=force, inputs=original.read_files) as tmp:
        writer.write_into(keep, tmp)  # type: ignore[attr-defined]
        selected = tmp[outputs[0]]
        if shifts:
            old = read_fields(selected, shifts)
            delta = np.asarray(original.centres)[keep] - np.asarray(subset.centres)[source]
            for axis, label in enumerate(shifts):
                values[label] = [f"{float(o) + d:.6f}" for o, d in zip(old[label], delta[:, axis])]
        set_fields(selected, values)
    return {"selected": [str(outputs[0])], "deselected": [str(outputs[1])]}


#: The groups ``--take`` carries from one package's file into the other's.
_ACROSS = ("angles", "shifts")


def _across(groups: tuple[str, ...], subset_path: Path) -> None:
    """Refuses the groups not carried across packages, in one line."""
    other = [g for g in groups if g not in _ACROSS]
    if other:
        raise CryodedupError(
            f"--take {other[0]}: from {subset_path} (the other package's file) only angles and shifts are "
            "carried, converted; take the others from a subset of the original's package"
        )


def _into_star_from_cs(
    writer: SubsetWriter,
    keep: np.ndarray,
    original: ParticleSet,
    subset: ParticleSet,
    subset_path: Path,
    source: np.ndarray,
    groups: tuple[str, ...],
    force: bool,
) -> dict[str, list[str]]:
    """A STAR original's selected rows given a ``.cs`` subset's poses (as RELION angles) and centres (as origins)."""
    from ...formats.cryosparc.dataset import CsGroup
    from ...formats.star.row_fields import particle_labels
    from .poses import rotvec_to_relion

    _across(groups, subset_path)
    mine = particle_labels(Path(original.inputs[0]))
    angles = list(RELION_GROUPS["angles"]) if "angles" in groups else []
    shifts = list(_ORIGINS[: original.centres.shape[1]]) if "shifts" in groups else []
    for label in [*angles, *shifts]:
        if label not in mine:
            raise CryodedupError(f"--take: {original.inputs[0]} has no column {label} to take it into")
    values: dict[str, list[str | None]] = {}
    if angles:
        theirs = CsGroup.load(subset_path)
        if not theirs.has("alignments3D/pose"):
            raise CryodedupError(f"--take angles: {subset_path} has no field alignments3D/pose")
        euler = rotvec_to_relion(np.asarray(theirs.column("alignments3D/pose"), dtype=np.float64)[source])
        values = {label: [f"{v:.6f}" for v in euler[:, k]] for k, label in enumerate(angles)}
    return _write_star(writer, keep, original, subset, source, values, shifts, force)


def _into_cs_from_star(
    writer: SubsetWriter,
    keep: np.ndarray,
    original: ParticleSet,
    subset: ParticleSet,
    subset_path: Path,
    source: np.ndarray,
    groups: tuple[str, ...],
    force: bool,
) -> dict[str, list[str]]:
    """A ``.cs`` original's selected rows given a STAR subset's angles (as poses) and centres (as shifts).

    The shift moves each selected row's centre (``center_frac * shape * psize_mic - shift *
    psize_align``) onto its subset row's: the old shift plus the centres' difference in the
    original's alignment pixels.
    """
    from ...formats.star.row_fields import read_fields
    from .poses import relion_to_rotvec

    _across(groups, subset_path)
    group = writer.group  # type: ignore[attr-defined]
    taken: dict[str, np.ndarray] = {}
    for name in (CRYOSPARC_GROUPS[g][0] for g in groups):
        if not group.has(name):
            raise CryodedupError(f"--take: the original has no field {name} to take it into")
    if "angles" in groups:
        texts = read_fields(subset_path, list(RELION_GROUPS["angles"]))
        euler = np.array([[float(texts[label][s]) for label in RELION_GROUPS["angles"]] for s in source])
        poses = np.array(group.column("alignments3D/pose"), copy=True)
        poses[keep] = relion_to_rotvec(euler.reshape(-1, 3))
        taken["alignments3D/pose"] = poses
    if "shifts" in groups:
        psize_key = _ALIGN_PSIZE if group.has(_ALIGN_PSIZE) else "blob/psize_A"
        shift = np.array(group.column("alignments3D/shift"), copy=True)
        delta = np.asarray(original.centres)[keep] - np.asarray(subset.centres)[source]
        psize = np.asarray(group.column(psize_key), dtype=np.float64)[keep]
        shift[keep] = shift[keep] + delta[:, :2] / psize[:, None]
        taken["alignments3D/shift"] = shift
    writer.taken = taken  # type: ignore[attr-defined]
    written = writer.write(keep, force)
    return {{"kept": "selected", "rejected": "deselected"}[k]: [str(p) for p in v] for k, v in written.items()}


def _into_cs(
    writer: SubsetWriter, keep: np.ndarray, subset_path: Path, source: np.ndarray, groups: tuple[str, ...], force: bool
) -> dict[str, list[str]]:
    from ...formats.cryosparc.dataset import CsGroup

    theirs = CsGroup.load(subset_path)
    group = writer.group  # type: ignore[attr-defined]
    taken: dict[str, np.ndarray] = {}
    for name in _labels(groups, CRYOSPARC_GROUPS):
        if not theirs.has(name) or (name not in sum(CRYOSPARC_GROUPS.values(), ()) and not group.has(name)):
            if name in sum(CRYOSPARC_GROUPS.values(), ()):
                continue
            raise CryodedupError(f"--take: {subset_path} or the original has no field {name}")
        if not group.has(name):
            raise CryodedupError(f"--take: the original has no field {name} to take it into")
        values = np.array(group.column(name), copy=True)
        new = np.asarray(theirs.column(name))[source]
        if name == "alignments3D/shift" and theirs.has(_ALIGN_PSIZE) and group.has(_ALIGN_PSIZE):
            scale = np.asarray(theirs.column(_ALIGN_PSIZE))[source] / np.asarray(group.column(_ALIGN_PSIZE))[keep]
            new = new * scale[:, None]
        values[keep] = new
        taken[name] = values
    writer.taken = taken  # type: ignore[attr-defined]
    written = writer.write(keep, force)
    return {{"kept": "selected", "rejected": "deselected"}[k]: [str(p) for p in v] for k, v in written.items()}
