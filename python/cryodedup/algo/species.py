"""Several species in one tomogram: ranks comparable across species, overlaps between them, the table of who won.

Within a species, duplicates are removed as for one species. Between species, two picks whose
spheres overlap (centre distance < ``(r_a + r_b) * overlap``) cannot both be right: the better
ranked is kept (docs/design.md section 13). Scores of two templates or two pickers are not on
one scale, so each pick is ranked by its percentile within its own species.
"""

from __future__ import annotations

import numpy as np

import cryodedup._core as _core

from . import core_group_ids

__all__ = ["cross_species_ranks", "percentiles_within", "suppress_overlaps", "won_table"]


def percentiles_within(scores: np.ndarray, by: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Each score as its percentile among the scores of its own ``by`` (input, species), in (0, 1], 1 best.

    The percentile is (number of worse scores + half the number of other equal scores + 1/2)
    / count, so that ties share a value. A score that is not finite (NaN, ±inf) is no score,
    as in the dedup: its percentile is NaN (ranked last), and it is not counted. In the core:
    each group sorted on its own, groups in parallel.
    """
    return _core.percentiles_within(
        np.ascontiguousarray(scores, dtype=np.float64),
        np.ascontiguousarray(by, dtype=np.uint32),
        bool(higher_is_better),
    )


def cross_species_ranks(
    scores: np.ndarray | None,
    species: np.ndarray,
    higher_is_better: bool,
    seed: int,
    priority: np.ndarray | None = None,
) -> np.ndarray:
    """One number per pick that ranks picks of all species together, higher first.

    The percentile of the pick's score within its species (:func:`percentiles_within`); without
    scores, a seeded random order. ``priority`` (``--prefer``: 0 first) goes before any score:
    a level is worth more than any percentile, which lies in (0, 1]; within a level, a pick
    without a score (NaN: a hand pick's -999) ranks last, as in the dedup, but before every
    pick of a later level.
    """
    if scores is None:
        ranks = np.random.default_rng(seed).random(species.size)
    else:
        ranks = percentiles_within(np.asarray(scores, dtype=np.float64), species, higher_is_better)
    if priority is not None and priority.size:
        ranks = np.nan_to_num(ranks, nan=0.0) + (int(priority.max()) - priority.astype(np.float64)) * 2.0
    return ranks


def suppress_overlaps(
    groups: np.ndarray,
    centres: np.ndarray,
    species: np.ndarray,
    ranks: np.ndarray,
    active: np.ndarray,
    radii: np.ndarray,
    overlap: float,
) -> np.ndarray:
    """For each pick, the kept pick of another species that displaced it, or -1.

    Walking the ``active`` picks of each micrograph (tomogram) from the highest ``ranks`` down
    (ties by index, NaN last), a pick not yet displaced is kept and displaces every active
    pick of another species closer than ``(radii[a] + radii[b]) * overlap``; a displaced pick
    displaces nothing. In the core, micrographs in parallel.
    """
    return _core.suppress_overlaps(
        core_group_ids(groups),
        np.ascontiguousarray(centres, dtype=np.float64),
        np.ascontiguousarray(species, dtype=np.uint32),
        np.ascontiguousarray(ranks, dtype=np.float64),
        np.ascontiguousarray(active, dtype=bool),
        np.ascontiguousarray(radii, dtype=np.float64),
        float(overlap),
    )


def won_table(species: np.ndarray, displaced_by: np.ndarray, n_species: int) -> np.ndarray:
    """``won[a, b]``: picks of species b displaced by a kept pick of species a (each displaced pick counted once)."""
    lost = np.flatnonzero(displaced_by >= 0)
    pairs = species[displaced_by[lost]].astype(np.int64) * n_species + species[lost]
    return np.bincount(pairs, minlength=n_species * n_species).reshape(n_species, n_species)
