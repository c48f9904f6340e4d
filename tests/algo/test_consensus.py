"""cryodedup.algo.consensus: popcount and the Jaccard agreement, by hand."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from cryodedup.algo.consensus import (
    OUTCOMES,
    consensus_report,
    jaccard,
    jaccard_matrices,
    mean_agreement,
    pick_outcomes,
)
from cryodedup.algo.dedup import popcount
from helpers import bare_particle_set


def test_popcount():
    masks = np.array([0, 1, 0b1011, 2**63 + 1, 2**64 - 1], dtype=np.uint64)
    assert popcount(masks).tolist() == [0, 1, 3, 2, 64]


def test_jaccard_by_hand():
    # Picker 0: picks p, q; picker 1: picks r, s, t. p is within reach of r; q, s, t alone.
    # m(0,1) = 1 (p), m(1,0) = 1 (r): shared 1, union 2 + 3 - 1 = 4, J = 0.25.
    masks = np.array([0b11, 0b01, 0b11, 0b10, 0b10], dtype=np.uint64)
    input_of = np.array([0, 0, 1, 1, 1])
    assert jaccard(masks, input_of, 2) == [[1.0, 0.25], [0.25, 1.0]]
    assert jaccard(masks[:0], input_of[:0], 2) == [[None, None], [None, None]]


def test_jaccard_per_micrograph_by_hand():
    # Micrograph 0: the case above (J 0.25). Micrograph 1: picker 0 alone with one pick: J(0,1)
    # = 0 / (1 + 0 - 0) = 0, J(1,1) undefined. Micrograph 2: nothing, all undefined.
    masks = np.array([0b11, 0b01, 0b11, 0b10, 0b10, 0b01], dtype=np.uint64)
    input_of = np.array([0, 0, 1, 1, 1, 0])
    groups = np.array([0, 0, 0, 0, 0, 1])
    m = jaccard_matrices(masks, input_of, groups, 3, 2)
    np.testing.assert_allclose(m[0], [[1, 0.25], [0.25, 1]])
    np.testing.assert_allclose(m[1], [[1, 0], [0, np.nan]])
    assert np.isnan(m[2]).all()
    np.testing.assert_allclose(mean_agreement(m), [0.25, 0.0, np.nan])


def test_popcount_without_bitwise_count_counts_the_same(monkeypatch):
    # numpy < 2 has no bitwise_count: the byte table must give what bin() counts.
    masks = np.random.default_rng(3).integers(0, 2**63, 500, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    masks = np.concatenate([masks, np.array([0, 2**64 - 1], dtype=np.uint64)])
    expected = [bin(int(m)).count("1") for m in masks]
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    assert popcount(masks).tolist() == expected


def test_consensus_report_counts_match_brute_force():
    # Random masks (own input's bit set) and decisions over 3 inputs on 5 micrographs: the per-input
    # counts and per-micrograph Jaccard of the report against counts made pick by pick in Python.
    rng = np.random.default_rng(7)
    n, n_inputs, n_mics = 400, 3, 5
    input_of = rng.integers(0, n_inputs, n).astype(np.uint32)
    groups = rng.integers(0, n_mics, n).astype(np.uint32)
    masks = (rng.integers(0, 2**n_inputs, n) | (1 << input_of.astype(np.int64))).astype(np.uint64)
    keep = rng.random(n) < 0.6
    particles = bare_particle_set(["a", "b", "c"], input_of, groups, [f"m{g}" for g in range(n_mics)])
    report = consensus_report(particles, keep, masks, 2)
    for k, entry in enumerate(report.per_input):
        mine = [i for i in range(n) if input_of[i] == k]
        confirmed = [i for i in mine if bin(int(masks[i])).count("1") >= 2]
        assert entry.confirmed == len(confirmed)
        assert entry.kept_confirmed == sum(bool(keep[i]) for i in confirmed)
        assert entry.kept_alone == sum(bool(keep[i]) for i in mine) - entry.kept_confirmed
    for g in range(n_mics):
        for a in range(n_inputs):
            for b in range(n_inputs):
                size_a = sum(1 for i in range(n) if groups[i] == g and input_of[i] == a)
                size_b = sum(1 for i in range(n) if groups[i] == g and input_of[i] == b)
                m_ab = sum(1 for i in range(n) if groups[i] == g and input_of[i] == a and int(masks[i]) >> b & 1)
                m_ba = sum(1 for i in range(n) if groups[i] == g and input_of[i] == b and int(masks[i]) >> a & 1)
                shared = (m_ab + m_ba) / 2
                want = round(shared / (size_a + size_b - shared), 4) if size_a + size_b - shared > 0 else None
                assert report.jaccard_per_micrograph[f"m{g}"][a][b] == want


def test_rounded_lists_are_pythons_round_and_none_for_nan():
    from cryodedup.algo.consensus import _each_as_lists

    rng = np.random.default_rng(11)
    values = rng.random((300, 3, 3))
    values[0, 0] = [0.00005, 0.12345, 0.28745]  # halves at the fifth decimal (binary near-ties)
    values[1, 1] = [np.nan, 1.0, 0.0]
    values[2:100] = np.round(rng.random((98, 3, 3)), 5)  # many near-halves, where rint(x * 1e4) errs
    expected = [[[None if v != v else round(v, 4) for v in row] for row in m] for m in values.tolist()]
    assert _each_as_lists(values) == expected


def _fate_worked_out(kept: bool, inputs_confirming: int, too_few: bool, short: bool) -> int:
    """A pick's fate as :func:`pick_outcomes`' docstring words it, one pick at a time (an index into OUTCOMES)."""
    if short:
        return OUTCOMES.index("kept_not_confirmable" if kept else "rejected_not_confirmable")
    if kept:
        return OUTCOMES.index("kept_alone" if inputs_confirming < 2 else "kept_confirmed")
    return OUTCOMES.index("rejected_unconfirmed" if too_few else "rejected_duplicate")


@pytest.mark.parametrize("masks", ["both", "unconfirmed", "not_confirmable", "neither"])
def test_pick_outcomes_are_worked_out_pick_by_pick_in_a_byte_each(masks):
    """Each pick's fate as worked out one pick at a time; and at 1M picks no step wider than a byte a pick
    (the int64 steps took over 24 bytes a pick at once: 300 MB at 10M, beside the summary's own)."""
    rng = np.random.default_rng(len(masks))
    n = 1_000_000
    keep = rng.random(n) < 0.7
    confirmed_by = rng.integers(0, 16, n).astype(np.uint64)
    unconfirmed = (rng.random(n) < 0.2) & ~keep if masks in ("both", "unconfirmed") else None
    not_confirmable = rng.random(n) < 0.05 if masks in ("both", "not_confirmable") else None
    tracemalloc.start()
    try:
        outcomes = pick_outcomes(keep, confirmed_by, unconfirmed, not_confirmable)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * n, f"{peak / n:.1f} bytes a pick"
    assert outcomes.dtype == np.uint8
    for row in rng.choice(n, 3000, replace=False).tolist():
        worked = _fate_worked_out(
            bool(keep[row]),
            bin(int(confirmed_by[row])).count("1"),
            bool(unconfirmed[row]) if unconfirmed is not None else False,
            bool(not_confirmable[row]) if not_confirmable is not None else False,
        )
        assert outcomes[row] == worked, row
