"""Each subset row's row of the original: by uid, by image name, else by position, one to one.

CryoSPARC's ``uid`` names a particle in every file derived from it; an image name
(``rlnImageName``, ``blob/path`` + ``blob/idx``) names one extraction's image (the core's 64-bit
key of its stack and index, the same in any file: ``Images.keys``); a re-extraction, recentring,
binning or another picker's set keeps neither, and is matched by position: the centres
(coordinates minus origins, in Å through each file's own pixel sizes) of one micrograph within
the distance, one to one (a maximum matching, as ``compare`` matches picks; the core's
``match_positions``, which visits the pairs as ``algo.matching`` does). Each way is tried on
the rows the ways before it left.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

import cryodedup._core as _core

from ...particle_set import NumberedNames, ParticleSet

__all__ = ["WAYS", "Matched", "match_rows"]

#: How a subset row was matched, by code: 0 not at all.
WAYS = ("none", "uid", "image name", "position", "index")
_NONE, _UID, _NAME, _POSITION = 0, 1, 2, 3


@dataclass(frozen=True)
class Matched:
    """Each subset row's original row (-1: none), how it was matched, and the subset rows matched ambiguously.

    ``ambiguous``: subset rows with more than one original row within the distance, or whose
    original row is within the distance of another subset row (position alone).
    """

    partner: np.ndarray
    way: np.ndarray
    ambiguous: np.ndarray

    def counts(self) -> dict[str, int]:
        """How many subset rows each way matched (and ``none``)."""
        found = np.bincount(self.way, minlength=len(WAYS))
        return {name: int(found[k]) for k, name in enumerate(WAYS) if found[k] or k == 0}


def match_rows(original: ParticleSet, subset: ParticleSet, distance: float, which: np.ndarray | None = None) -> Matched:
    """Each row of ``subset`` (its rows ``which``, in that order) matched to a row of ``original``.

    By uid, by image name, then by position within ``distance`` Å, each way on the rows left.
    """
    which = np.arange(len(subset)) if which is None else np.asarray(which, dtype=np.int64)
    partner = np.full(len(which), -1, dtype=np.int64)
    way = np.zeros(len(which), dtype=np.int64)
    taken = np.zeros(len(original), dtype=bool)
    shared = _share_stacks(original, subset)
    for code, keys in ((_UID, _uid_keys), (_NAME, _image_keys if shared else _no_keys)):
        mine, theirs = keys(original), keys(subset)
        if mine is None or theirs is None or not len(which):
            continue
        _match_keys(mine, theirs[which], partner, way, taken, code)
    centres = np.asarray(subset.centres, dtype=np.float64)[which]
    groups = _micrographs_of(subset, original)[which]
    ambiguous = _match_positions(original, centres, groups, distance, partner, way, taken)
    return Matched(partner, way, ambiguous)


def _uid_keys(particles: ParticleSet) -> np.ndarray | None:
    """Each row's CryoSPARC uid (uint64), or None where the set's rows have none."""
    names = particles.row_names
    if not isinstance(names, NumberedNames) or not len(particles):
        return None
    prefixes, _, numbers = names.numbered(np.arange(len(particles)))
    return np.asarray(numbers, dtype=np.uint64) if list(prefixes) == ["uid "] else None


def _image_keys(particles: ParticleSet) -> np.ndarray | None:
    """Each row's image key (uint64: the stack's name hashed with the index; equal for one image in any file)."""
    images = particles.images
    if images is None or not len(particles):
        return None
    return np.asarray(_core.image_keys(images.runs, images.indices), dtype=np.uint64)


def _share_stacks(original: ParticleSet, subset: ParticleSet) -> bool:
    """Whether the two sets name an image stack in common (else no image name can match: not keyed)."""
    if original.images is None or subset.images is None:
        return False
    return bool(np.intersect1d(original.images.runs[:, 0], subset.images.runs[:, 0]).size)


def _no_keys(particles: ParticleSet) -> None:
    """No keys: the sets share no image stack."""
    return None


def _match_keys(
    mine: np.ndarray, theirs: np.ndarray, partner: np.ndarray, way: np.ndarray, taken: np.ndarray, code: int
) -> None:
    """The subset rows still free whose key one original row alone holds, matched to it (in place).

    A key two original rows hold names no one row, and a second subset row of a key finds its row
    taken: both are left to the position. (The core's hash join: a sort of the million keys took
    most of a run's matching.)
    """
    free = np.flatnonzero(way == _NONE)
    if not len(mine) or not len(free):
        return
    found = _core.match_keys(np.ascontiguousarray(mine, dtype=np.uint64), theirs[free].astype(np.uint64), taken)
    hit = found >= 0
    partner[free[hit]] = found[hit]
    way[free[hit]] = code


def _match_positions(
    original: ParticleSet,
    b: np.ndarray,
    groups: np.ndarray,
    distance: float,
    partner: np.ndarray,
    way: np.ndarray,
    taken: np.ndarray,
) -> np.ndarray:
    """The rows left matched by position, one to one (in place); the subset rows matched ambiguously.

    ``b``: the subset rows' centres (Å); ``groups``: their micrographs as the original numbers them (-1: none).
    """
    free_sub = np.flatnonzero(way == _NONE)
    if not len(free_sub) or taken.all() or original.centres.shape[1] != b.shape[1]:
        return np.zeros(0, dtype=np.int64)
    free_sub = free_sub[groups[free_sub] >= 0]
    a = np.ascontiguousarray(original.centres, dtype=np.float64)  # (the rows taken are passed over, not copied out)
    ga = np.asarray(original.groups, dtype=np.int64)
    radius = max(float(distance), 1e-9)  # (0: identical centres, to the rounding of the readers' arithmetic)
    chosen, several = _core.match_positions(np.ascontiguousarray(b[free_sub]), groups[free_sub], a, ga, taken, radius)
    matched = chosen >= 0
    partner[free_sub[matched]] = chosen[matched]
    way[free_sub[matched]] = _POSITION
    taken[chosen[matched]] = True
    return free_sub[several]


def _micrographs_of(subset: ParticleSet, original: ParticleSet) -> np.ndarray:
    """Each subset row's micrograph as the original numbers it (-1: not the original's).

    By the name as written; a name the original does not hold, by its file name without folders and
    extension where that names one of the original's micrographs alone (another job's folder).
    """
    exact = {name: g for g, name in enumerate(original.mic_names)}
    mapped = np.array([exact.get(name, -1) for name in subset.mic_names] or [0], dtype=np.int64)
    if (mapped < 0).any():  # (names of another job's folder: by their stems, made only then)
        stems: dict[str, int] = {}
        for g, name in enumerate(original.mic_names):
            stem = _stem(name)
            stems[stem] = -2 if stem in stems else g  # (-2: two micrographs of that stem, no match)
        mapped = np.array(
            [g if g >= 0 else max(stems.get(_stem(n), -1), -1) for g, n in zip(mapped, subset.mic_names)] or [0],
            dtype=np.int64,
        )
    return mapped[np.asarray(subset.groups, dtype=np.int64)] if len(subset) else np.zeros(0, dtype=np.int64)


def _stem(name: str) -> str:
    return os.path.splitext(os.path.basename(name))[0]
