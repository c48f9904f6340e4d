"""One particle name given to two particles of two inputs (issue 54, section 4).

RELION names each subtomogram by ``rlnTomoParticleName`` (``TS_03/141``: the tomogram and a
number), and its extraction writes a particle's files under that name
(``Subtomograms/TS_03/141_stack2d.mrcs``). Two pick sets numbered apart and then joined can give
two different particles one name: extraction then writes both to one file (RELION issue 1069),
and the two rows afterwards hold one image at two centres. Kept rows of two inputs with one
name at different places are named here, before extraction as a warning of what RELION will
do, after it as the cause of the image kept twice.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..particle_set import ParticleNames
from .dedup import SAME_CENTRE_A

__all__ = ["Collisions", "collision_cause", "name_collisions"]

#: Names listed in a warning and in the summary; the count says how many more.
NAMED = 5


def colliding_rows(
    ids: np.ndarray, input_of: np.ndarray, groups: np.ndarray, centres: np.ndarray, keep: np.ndarray
) -> np.ndarray:
    """The kept rows whose name (``ids``, -1: none) a kept row of another input holds at another place.

    Another place: another micrograph (tomogram), or a centre more than :data:`SAME_CENTRE_A`
    away. Rows are returned by name, then row.
    """
    rows = np.flatnonzero(keep & (ids >= 0))
    rows = rows[np.argsort(ids[rows], kind="stable")]
    if rows.size < 2:
        return np.zeros(0, dtype=np.int64)
    names = ids[rows]
    starts = np.flatnonzero(np.concatenate([[True], names[1:] != names[:-1]]))
    ends = np.append(starts[1:], rows.size)
    inputs = input_of[rows]
    lowest, highest = np.minimum.reduceat(inputs, starts), np.maximum.reduceat(inputs, starts)
    found = []
    for start, end in zip(starts[lowest != highest], ends[lowest != highest]):  # (names in several inputs: few)
        mine = rows[start:end]
        if _apart_across_inputs(mine, input_of, groups, centres):
            found.append(mine)
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _apart_across_inputs(rows: np.ndarray, input_of: np.ndarray, groups: np.ndarray, centres: np.ndarray) -> bool:
    """Whether two of ``rows`` (one name's) are of two inputs and at two places."""
    other_input = input_of[rows][:, None] != input_of[rows][None, :]
    other_group = groups[rows][:, None] != groups[rows][None, :]
    gaps = np.linalg.norm(centres[rows][:, None, :] - centres[rows][None, :, :], axis=2)
    return bool((other_input & (other_group | (gaps > SAME_CENTRE_A))).any())


class Collisions(NamedTuple):
    """Particle names kept for different particles of different inputs (:func:`name_collisions`)."""

    names: int  # the names kept twice
    rows: np.ndarray  # their kept rows
    named: list[str]  # the first :data:`NAMED` of them, in the inputs' order
    example_inputs: list[str]  # the inputs of the first one


def name_collisions(
    names: ParticleNames,
    inputs: list[str],
    input_of: np.ndarray,
    groups: np.ndarray,
    centres: np.ndarray,
    keep: np.ndarray,
) -> Collisions | None:
    """The names kept for two particles of two inputs, and their rows; None if none."""
    ids, texts = names.read()
    rows = colliding_rows(ids, input_of, groups, centres, keep)
    if rows.size == 0:
        return None
    firsts = rows[np.flatnonzero(np.concatenate([[True], ids[rows][1:] != ids[rows][:-1]]))]
    shown = [texts[ids[row]] for row in np.sort(firsts)[:NAMED]]
    example = rows[ids[rows] == ids[np.sort(firsts)[0]]]
    where = sorted({inputs[input_of[row]] for row in example})
    return Collisions(int(firsts.size), rows, shown, where)


def collision_cause(column: str) -> str:
    """The cause of an image kept twice when its rows' particle names (``column``) collide across inputs."""
    return (
        f"one {column} given to two particles of two inputs, so RELION's extraction wrote both to "
        "one file (RELION issue 1069)"
    )
