"""``select``'s matching (``jobs/select/match.py``: the core's ``match_keys``, ``match_positions``) by brute force.

Random sets, crowded enough that many rows have several partners within the distance: the
oracle is a search over every pair (Python loops, no grid), and the largest one-to-one matching
of those pairs by scipy's ``maximum_bipartite_matching``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

import cryodedup._core as _core
from cryodedup.jobs.select.match import WAYS, match_rows
from helpers import bare_particle_set


def _positions(rng, n, micrographs, side, axes):
    groups = rng.integers(0, micrographs, n)
    mics = [f"MotionCorr/job002/m{g}.mrc" for g in range(micrographs)]
    particles = bare_particle_set(["x.star"], np.zeros(n, dtype=np.int64), groups.astype(np.int64), mics)
    return replace(particles, centres=rng.uniform(0, side, (n, axes)))


def _near(subset, original, distance):
    """Every (subset row, original row) on one micrograph within ``distance``, by a loop over all pairs."""
    pairs = []
    for i in range(len(subset.groups)):
        for j in range(len(original.groups)):
            same = subset.groups[i] == original.groups[j]
            if same and ((subset.centres[i] - original.centres[j]) ** 2).sum() <= distance * distance:
                pairs.append((i, j))
    return pairs


@pytest.mark.parametrize("seed", range(12))
def test_positions_give_the_largest_one_to_one_matching_within_the_distance(seed):
    rng = np.random.default_rng(seed)
    axes = 3 if seed % 3 == 0 else 2
    original = _positions(rng, int(rng.integers(20, 120)), 3, 200.0, axes)
    subset = _positions(rng, int(rng.integers(10, 80)), 3, 200.0, axes)
    distance = float(rng.uniform(5.0, 30.0))
    matched = match_rows(original, subset, distance)
    pairs = _near(subset, original, distance)
    graph = csr_matrix(
        (np.ones(len(pairs)), ([i for i, _ in pairs], [j for _, j in pairs])),
        shape=(len(subset.groups), len(original.groups)),
    )
    largest = int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())
    found = [(i, int(j)) for i, j in enumerate(matched.partner) if j >= 0]
    assert len(found) == largest
    assert set(found) <= set(pairs)  # (each within the distance, on its micrograph)
    assert len({j for _, j in found}) == len(found)  # (one to one)
    assert set(np.flatnonzero(matched.way == WAYS.index("position"))) == {i for i, _ in found}
    per_subset = np.bincount([i for i, _ in pairs], minlength=len(subset.groups))
    per_original = np.bincount([j for _, j in pairs], minlength=len(original.groups))
    ambiguous = {i for i, j in pairs if per_subset[i] > 1 or per_original[j] > 1}
    assert set(matched.ambiguous.tolist()) == ambiguous


@pytest.mark.parametrize("seed", range(8))
def test_keys_are_matched_where_one_original_row_alone_holds_them_first_come_first_served(seed):
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 40, int(rng.integers(0, 60))).astype(np.uint64)
    wanted = rng.integers(0, 40, int(rng.integers(0, 60))).astype(np.uint64)
    taken = rng.random(len(keys)) < 0.2
    expected_taken = taken.copy()
    expected = []
    for key in wanted.tolist():
        rows = [r for r, k in enumerate(keys.tolist()) if k == key]
        if len(rows) == 1 and not expected_taken[rows[0]]:
            expected_taken[rows[0]] = True
            expected.append(rows[0])
        else:
            expected.append(-1)
    assert _core.match_keys(keys, wanted, taken).tolist() == expected
    assert taken.tolist() == expected_taken.tolist()
