"""The shared particle set (cryodedup.particle_set)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import bare_particle_set


def particle_set(input_of: np.ndarray, n_inputs: int):
    groups = np.zeros(len(input_of), dtype=np.uint32)
    return bare_particle_set([f"in{k}" for k in range(n_inputs)], input_of, groups, ["m"])


@pytest.mark.parametrize("in_order", [True, False])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint32])
def test_counts_per_input_match_a_count_by_hand(in_order, dtype):
    rng = np.random.default_rng(5)
    input_of = rng.integers(0, 4, 1000).astype(dtype)  # input 3 may hold rows, input 4 none
    if in_order:
        input_of.sort()
    where = rng.random(1000) < 0.3
    particles = particle_set(input_of, 5)
    assert particles.counts().tolist() == [sum(1 for i in input_of if i == k) for k in range(5)]
    expected = [sum(1 for i, w in zip(input_of, where) if i == k and w) for k in range(5)]
    assert particles.counts(where).tolist() == expected


def test_counts_of_256_inputs_in_uint8():
    input_of = np.repeat(np.arange(256), 2).astype(np.uint8)
    assert particle_set(input_of, 256).counts().tolist() == [2] * 256
