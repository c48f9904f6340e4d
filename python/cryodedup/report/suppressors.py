"""Which kept pick each rejected pick of a micrograph was rejected for, when the job kept no pairs.

A plain job on one STAR file decides and writes its rows in one pass of the scan, which
keeps no pairs (docs/design.md section 5); the pictures need them only for the few example
micrographs, whose lines join each rejected pick to the pick kept instead. The walk compares
only picks of one micrograph, so one micrograph's rows decided again, ranked as the job
ranked them (by score, ties by row; or by the seeded random key of each row's index in the
file), give the same decision and the pairs behind it: a few hundred rows instead of the
two passes over a million (issue 43).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

import cryodedup._core as _core

from ..algo.dedup import dedup

if TYPE_CHECKING:
    from .particle_base import ParticleDetails

__all__ = ["every_suppressor", "suppressors"]


def suppressors(details: ParticleDetails, rows: np.ndarray) -> np.ndarray:
    """For ``rows`` (one micrograph's, ascending), the row each was rejected for (-1: kept, or none)."""
    if details.suppressed_by is not None:
        return details.suppressed_by[rows]
    return _decided_again(details, rows, np.zeros(len(rows), dtype=np.uint32))


def every_suppressor(details: ParticleDetails) -> np.ndarray:
    """For every row, the row it was rejected for (-1: kept, or none): every micrograph decided again at once.

    For the page of every micrograph (``micrographs.html``) after a one-pass decision: one
    walk of the core over the whole set, as the job's own.
    """
    if details.suppressed_by is not None:
        return details.suppressed_by
    rows = np.arange(len(details.keep))
    return _decided_again(details, rows, np.asarray(details.groups, dtype=np.uint32))


def _decided_again(details: ParticleDetails, rows: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``rows`` (ascending) decided again by micrograph (``groups``), as the job ranked them: each one's suppressor."""
    scores, higher = details.particles.scores, details.particles.higher_is_better
    if scores is None:
        # The job's random ranking, as a score: rank k of the micrograph's rows scores -k.
        ranked = np.empty(len(rows), dtype=np.float64)
        keys = _core.random_keys(details.seed, np.asarray(rows, dtype=np.uint64))  # the core's, as it ranked
        ranked[np.argsort(keys, kind="stable")] = -np.arange(len(rows), dtype=np.float64)
        scores, higher = ranked, True
    else:
        scores = scores[rows]  # (ties by row: the rows keep their order)
    again = dedup(
        groups,
        details.centres[rows],
        scores,
        min_dist=details.min_dist,
        min_dist_z=details.min_dist_z,
        higher_is_better=higher,
        remove_entirely=details.remove_entirely,
        seed=details.seed,
    )
    if not np.array_equal(again.keep, details.keep[rows]):
        raise RuntimeError("a micrograph decided again differs from the job's decision: report this as a bug")
    assert again.suppressed_by is not None, "dedup keeps the pairs unless told not to"
    return np.where(again.suppressed_by >= 0, rows[np.maximum(again.suppressed_by, 0)], -1)
