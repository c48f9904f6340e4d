"""Scipion's sets as the arrays cryodedup decides on: centres in Å, micrographs, scores.

Conventions of pwem (read in its sources, not guessed):

- ``Coordinate.getX/getY`` is the centre of the box, in pixels of the micrograph the
  coordinate refers to (pwem's ``ProtImportCoordinates`` turns corner formats into centres
  on import; extraction cuts a box around the position).
- A particle's coordinate is in pixels of the *particle* image: extraction with
  downsampling scales it (RELION's and Xmipp's extraction protocols multiply it by the box
  scale; pwem's ``ProtExtractCoords`` multiplies by ``particles sampling / micrographs
  sampling`` to go back to the micrograph).
- A particle's alignment shift is the translation of its ``Transform`` matrix, in pixels of
  the particle: ``M[:3, 3]`` for 2D alignment, ``-inv(M)[:3, 3]`` for projection alignment
  (pwem's ``ProtExtractCoords.getShifts``; the RELION plugin writes exactly this, times the
  pixel size, as ``rlnOriginXAngst``). The centre on the micrograph is the coordinate
  *minus* the shift, as RELION's ``rlnCoordinateX - rlnOriginX`` and cryodedup's CLI
  (docs/design.md section 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

#: Score attributes tried, in order, by ``auto``: on picks (RELION, crYOLO, topaz, Xmipp deep
#: consensus) and on particles (RELION 2D/3D classification).
PICK_SCORES = ("_rlnAutopickFigureOfMerit", "_cryoloScore", "_topazScore", "_xmipp_zScoreDeepLearning1")
PARTICLE_SCORES = ("_rlnMaxValueProbDistribution", "_rlnLogLikeliContribution", *PICK_SCORES)

ALIGN_NONE, ALIGN_2D, ALIGN_3D, ALIGN_PROJ = "None", "2D", "3D", "Projection"


class InputError(ValueError):
    """Input a protocol cannot take; its message is one line for the run log."""


@dataclass
class Items:
    """What is read of a set's items, in the set's order (enabled items only)."""

    ids: list[int] = field(default_factory=list)
    micrographs: list = field(default_factory=list)  # the micrograph's name, else its id
    xy: list[tuple[float, float]] = field(default_factory=list)  # pixels
    scores: list[float] = field(default_factory=list)
    matrices: list[np.ndarray] = field(default_factory=list)


def micrograph_key(coord) -> object:
    """A coordinate's micrograph: its name where it has one, else its id."""
    return coord.getMicName() or coord.getMicId()


def attribute_value(item, name: str) -> float:
    """The value of a score attribute on an item or on its coordinate; NaN where it is absent or unset."""
    holder = item if hasattr(item, name) else getattr(item, "getCoordinate", lambda: None)()
    value = getattr(holder, name, None) if holder is not None else None
    got = value.get() if value is not None and hasattr(value, "get") else None
    return float("nan") if got is None else float(got)


def has_attribute(item, name: str) -> bool:
    """Whether the item, or its coordinate, has the attribute ``name``."""
    coord = item.getCoordinate() if hasattr(item, "getCoordinate") else None
    return hasattr(item, name) or (coord is not None and hasattr(coord, name))


def score_attribute(first_item, choice: str, candidates: Sequence[str], what: str) -> str | None:
    """The score attribute ``choice`` names for a set whose first item is ``first_item``.

    ``auto``: the first of ``candidates`` the item has (None when it has none: a seeded
    random ranking); ``none``: None; otherwise the attribute itself, which must exist.
    """
    if choice == "none" or first_item is None:
        return None
    if choice == "auto":
        return next((name for name in candidates if has_attribute(first_item, name)), None)
    name = choice if choice.startswith("_") else f"_{choice}"
    if not has_attribute(first_item, name):
        raise InputError(f"{what} have no score attribute {name} (auto tries {', '.join(candidates)})")
    return name


def enabled(items: Iterable) -> Iterable:
    """The enabled items, as pwem's ``copyItems`` copies them (a disabled item is not part of the set)."""
    return (item for item in items if item.isEnabled())


def read_coordinates(coords: Iterable, score: str | None) -> Items:
    """Ids, micrographs, positions (pixels) and scores of a set of coordinates."""
    out = Items()
    for coord in enabled(coords):
        out.ids.append(coord.getObjId())
        out.micrographs.append(micrograph_key(coord))
        out.xy.append((float(coord.getX()), float(coord.getY())))
        out.scores.append(attribute_value(coord, score) if score else float("nan"))
    return out


def read_particles(particles: Iterable, score: str | None, with_shifts: bool) -> Items:
    """Ids, micrographs, coordinates (particle pixels), scores and alignment matrices of particles."""
    out = Items()
    for particle in enabled(particles):
        coord = particle.getCoordinate()
        if coord is None or coord.getX() is None:
            raise InputError(f"particle {particle.getObjId()} has no coordinate: its micrograph position is unknown")
        out.ids.append(particle.getObjId())
        key = coord.getMicName() or particle.getMicId()
        if key is None:
            raise InputError(f"particle {particle.getObjId()} names no micrograph (no micName, no micId)")
        out.micrographs.append(key)
        out.xy.append((float(coord.getX()), float(coord.getY())))
        out.scores.append(attribute_value(particle, score) if score else float("nan"))
        if with_shifts:
            transform = particle.getTransform()
            out.matrices.append(np.eye(4) if transform is None else np.asarray(transform.getMatrix(), dtype=float))
    return out


def shifts_in_pixels(matrices: np.ndarray, align_type: str) -> np.ndarray:
    """The (x, y) alignment shift of each particle in particle pixels, shape (n, 2).

    As pwem's ``ProtExtractCoords.getShifts``: the matrix's translation for 2D alignment,
    minus the inverse's translation for projection alignment; for 3D alignment, a mirrored
    matrix (negative determinant) mirrors x.
    """
    matrices = np.asarray(matrices, dtype=float).reshape(-1, 4, 4)
    if align_type == ALIGN_NONE or len(matrices) == 0:
        return np.zeros((len(matrices), 2))
    if align_type == ALIGN_PROJ:
        return -np.linalg.inv(matrices)[:, :2, 3]
    shifts = matrices[:, :2, 3].copy()
    if align_type == ALIGN_3D:
        mirrored = np.linalg.det(matrices[:, :3, :3]) < 0
        shifts[mirrored, 0] *= -1
    return shifts
