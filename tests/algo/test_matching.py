"""algo/matching.py's pairs by a grid of cells (``pairs_near``) against every distance computed (brute force)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cryodedup.algo.matching import pairs_near


def _brute(a, ga, b, gb, radius) -> set[tuple[int, int]]:
    close = (np.linalg.norm(a[:, None] - b[None], axis=2) <= radius) & (ga[:, None] == gb[None])
    return set(zip(*(k.tolist() for k in np.nonzero(close))))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 200), st.integers(0, 200), st.sampled_from([2, 3]), st.floats(0.01, 80.0), st.integers(0, 2**31))
def test_pairs_near_are_every_pair_on_one_micrograph_within_the_radius(n, m, axes, radius, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-300, 300, (n, axes)), rng.uniform(-300, 300, (m, axes))
    if n and m:  # (some on the radius itself, to the rounding: inclusive)
        b[: min(n, m) // 2] = a[: min(n, m) // 2] + radius * 0.999 / np.sqrt(axes)
    ga, gb = rng.integers(0, 4, n), rng.integers(0, 4, m)
    found = pairs_near(a, ga, b, gb, radius)
    assert set(map(tuple, found.tolist())) == _brute(a, ga, b, gb, radius)
    assert len(found) == len(set(map(tuple, found.tolist())))  # (each pair once)


def test_a_huge_spread_falls_back_and_still_finds_the_pairs():
    a = np.array([[0.0, 0.0], [1e12, 1e12]])
    b = np.array([[0.5, 0.0], [1e12 + 0.5, 1e12]])
    groups = np.array([0, 3_000_000])
    assert set(map(tuple, pairs_near(a, groups, b, groups, 1.0).tolist())) == {(0, 0), (1, 1)}
