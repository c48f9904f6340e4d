"""The same particle image twice in one set (``--same-image``, docs/developers/decisions/same-image.md).

Joined selections (RELION JoinStar, overlapping CryoSPARC exports) can hold one particle
image twice; refined apart, its two rows have different origins, so the distance rule may
keep both, and a refinement then holds one image twice: if the two fall in different
half-sets, a perfect correlation across them. Selections of two motion-correction jobs put
one image's rows on two micrographs, where no distance joins them. Rows of one image at one
centre of one micrograph are symmetry-expanded copies (RELION's relion_particle_symmetry_expand keeps the origins and
changes the angles; CryoSPARC's copies carry ``sym_expand/idx``, part of their key): they
are not this case and are left to the distance rule.

- ``warn`` (default): the images kept more than once at different centres are counted and
  named (summary, ``--json`` ``same_image``, report, a warning);
- ``reject``: the core makes such rows duplicates whatever their distance; the best by the
  usual rule (priority, score) is kept;
- ``ignore``: nothing is read or checked.

Every image being distinct is proved from the runs of rows of one stack and their indices
(none kept for a run whose indices are consecutive, as Extract writes them), without a sort
of the rows (``cryodedup_core::images``): the check costs next to nothing when there is
nothing to find. When there is something, the kept rows that may share an image are found
from the runs by stack (each stack's kept indices marked in a bitmap as long as its index
range: no key made, nothing kept a row), and those few are told apart exactly by their
stacks' names and their indices (:meth:`~cryodedup.particle_set.Images.exact`), so two
stacks whose hashes collide are never taken for one.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

import cryodedup._core as _core

from ..particle_set import Images
from .dedup import SAME_CENTRE_A, group_ids

__all__ = [
    "all_distinct",
    "images_for_the_core",
    "kept_twice",
    "rows_rejected_as_a_kept_image",
    "same_image_pairs",
    "support_of_images",
]

#: Images named in a warning and in the summary; the count says how many more.
NAMED_IMAGES = 5


def all_distinct(images: Images) -> bool:
    """Whether every row's image differs from every other row's (proved from the runs and indices)."""
    return _core.images_distinct(images.runs, images.indices)


def images_for_the_core(images: Images | None, mode: str) -> np.ndarray | None:
    """The image keys the core's rule takes (``--same-image reject``), None when there is nothing to reject."""
    if mode != "reject" or images is None or all_distinct(images):
        return None
    return images.keys


def rows_kept_twice(
    images: Images, groups: np.ndarray, centres: np.ndarray, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The kept rows whose image is kept more than once at different centres or micrographs, by image then row.

    Returns the rows (uint32) and their images' ids (:meth:`~cryodedup.particle_set.Images.exact`).
    """
    none = np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int64)
    if all_distinct(images):
        return none
    keep = np.ascontiguousarray(keep, dtype=bool)
    rows = _core.images_shared(images.runs, images.indices, keep, images.key_bits)
    if rows.size == 0:
        return none
    exact = images.exact(rows)
    twice = _core.images_kept_twice(
        (exact + 1).astype(np.uint64),
        group_ids(np.asarray(groups)[rows]),
        np.ascontiguousarray(np.asarray(centres)[rows], dtype=np.float64),
        np.ones(rows.size, dtype=bool),
    )
    return rows[twice], exact[twice]


class KeptTwice(NamedTuple):
    """The images kept more than once at different centres or on different micrographs (:func:`kept_twice`)."""

    images: int  # the images kept twice
    rows: int  # their kept rows
    named: list[str]  # the first :data:`NAMED_IMAGES` of them, in the inputs' order
    among: bool  # whether some of their rows are among those given (a cause's rows)


def kept_twice(
    images: Images, groups: np.ndarray, centres: np.ndarray, keep: np.ndarray, among: np.ndarray | None = None
) -> KeptTwice:
    """What the check found, for the summary's ``same_image`` (made in the particle job).

    ``among``: the rows of a cause (particle names that collide across inputs,
    :mod:`cryodedup.algo.particle_names`): whether images kept twice are among those rows.
    """
    rows, image = rows_kept_twice(images, groups, centres, keep)
    if rows.size == 0:
        return KeptTwice(0, 0, [], False)
    firsts = rows[_starts(image)]
    named = images.names(np.sort(firsts)[:NAMED_IMAGES])  # the first images in the inputs' order
    caused = among is not None and bool(np.isin(rows, among).any())
    return KeptTwice(int(firsts.size), int(rows.size), named, caused)


def _starts(image: np.ndarray) -> np.ndarray:
    """Where each image's rows start in rows grouped by image."""
    return np.flatnonzero(np.concatenate([[True], image[1:] != image[:-1]]))


def rows_rejected_as_a_kept_image(images: Images, groups: np.ndarray, centres: np.ndarray, keep: np.ndarray) -> int:
    """The rejected rows whose image a kept row holds at another centre or on another micrograph.

    What ``--same-image reject`` removed that the distance rule alone need not have (the
    rows of such an image at the kept row's own centre are counted too: one image, one row kept).
    """
    rows, image = rows_kept_twice(images, groups, centres, np.ones(images.size, dtype=bool))
    if rows.size == 0:
        return 0
    kept_images = np.unique(image[keep[rows]])
    return int(np.count_nonzero(~keep[rows] & np.isin(image, kept_images)))


def support_of_images(images: ArrayLike | None, masks: np.ndarray) -> np.ndarray:
    """Each row's consensus mask joined with the masks of its image's other rows.

    With ``--same-image reject`` rows of one image are one particle: every input that holds
    the image confirms it, wherever refinement moved its rows (two refined selections of one
    extraction, ``--min-support 2``). ``images``: the keys the core's rule took
    (:func:`images_for_the_core`), None when there is nothing to join.
    """
    if images is None:
        return masks
    keys = np.asarray(images)  # (the rule's keys, as the core took them: an array already)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    joined = np.bitwise_or.reduceat(masks[order], starts)
    out = np.empty_like(masks)
    out[order] = np.repeat(joined, np.diff(np.append(starts, keys.size)))
    return out


def same_image_pairs(images: Images, groups: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of rows of one image at different centres or micrographs: each with its image's first row.

    An image of k rows at different centres is k - 1 pairs, as a group of k duplicates is
    (the half-set audit's convention). Rows at the first row's own centre of its micrograph
    (symmetry copies) make no pair.
    """
    rows, image = rows_kept_twice(images, groups, centres, np.ones(images.size, dtype=bool))
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = _starts(image)
    first = np.repeat(rows[starts], np.diff(np.append(starts, rows.size))).astype(np.int64)
    second = rows.astype(np.int64)
    apart = (groups[first] != groups[second]) | (
        np.linalg.norm(centres[first] - centres[second], axis=1) > SAME_CENTRE_A
    )
    return first[apart], second[apart]
