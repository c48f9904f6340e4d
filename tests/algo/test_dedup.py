"""cryodedup.algo.dedup against a brute-force oracle written from docs/design.md section 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryodedup import dedup, remove_duplicate_centres
from cryodedup.algo.dedup import DuplicateRule, Ranking, dedup_and_support_masks, popcount
from oracle import oracle, oracle_support, radius


def support(groups, coords, inputs, *, min_dist):
    """The consensus count of each pick (distinct inputs within min_dist, its own included), as the job takes it."""
    _, masks = dedup_and_support_masks(groups, coords, inputs, DuplicateRule(min_dist))
    return popcount(masks)


@st.composite
def cases(draw):
    n = draw(st.integers(0, 30))
    dim = draw(st.sampled_from([2, 3]))
    grid = draw(st.booleans())  # integer grids make exact ties and exact boundary distances
    coord = st.integers(0, 40).map(float) if grid else st.floats(0, 100, allow_nan=False)
    coords = [[draw(coord) for _ in range(dim)] for _ in range(n)]
    labels = draw(st.sampled_from([[0], [0, 1, 2], [-5, 2**40, 7]]))
    groups = [draw(st.sampled_from(labels)) for _ in range(n)]
    score = st.one_of(st.sampled_from([0.0, 1.0, 2.0, float("nan")]), st.floats(-10, 10, allow_nan=False))
    scores = [draw(score) for _ in range(n)]
    min_dist = draw(st.sampled_from([0.0, 1.0, 5.0, 12.5, 20.0]))
    return groups, coords, scores, min_dist, draw(st.booleans()), draw(st.booleans())


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(cases())
def test_agrees_with_oracle(case):
    groups, coords, scores, min_dist, higher, entirely = case
    dim = len(coords[0]) if coords else 2
    got = dedup(
        np.array(groups, dtype=np.int64),
        np.array(coords, dtype=float).reshape(len(groups), dim),
        np.array(scores),
        min_dist=min_dist,
        higher_is_better=higher,
        remove_entirely=entirely,
    )
    keep, by = oracle(groups, coords, scores, min_dist, higher, entirely)
    assert got.keep.tolist() == keep
    assert got.suppressed_by.tolist() == by


def check_guarantees(groups, coords, result, min_dist, subset=None):
    """Kept centres are pairwise > min_dist apart; each rejected one is within min_dist of
    the kept particle named in suppressed_by, on the same micrograph. ``subset``: check
    only these particles (whole micrographs)."""
    subset = np.arange(len(groups)) if subset is None else subset
    kept = subset[result.keep[subset]]
    for a in kept:
        for b in kept:
            if a < b and groups[a] == groups[b]:
                assert np.sum((coords[a] - coords[b]) ** 2) > min_dist**2
    for i in subset[~result.keep[subset]]:
        j = result.suppressed_by[i]
        assert result.keep[j] and groups[i] == groups[j]
        assert np.sum((coords[i] - coords[j]) ** 2) <= min_dist**2
    assert np.all(result.suppressed_by[result.keep] == -1)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(0, 60))
def test_random_ranking_keeps_the_guarantees(seed, n):
    rng = np.random.default_rng(n)
    groups = rng.integers(0, 3, n)
    coords = rng.integers(0, 30, (n, 2)).astype(float)
    result = dedup(groups, coords, None, min_dist=6.0, seed=seed)
    check_guarantees(groups, coords, result, 6.0)
    again = dedup(groups, coords, None, min_dist=6.0, seed=seed)
    assert np.array_equal(result.keep, again.keep)


def test_random_ranking_depends_on_seed_not_row_order():
    # 500 exact pairs: with a random ranking each member wins about half the time.
    coords = np.repeat(np.arange(500.0)[:, None] * 100, 2, axis=0).repeat(2, axis=1)
    groups = np.zeros(1000, dtype=np.int64)
    a = dedup(groups, coords, None, min_dist=1.0, seed=1)
    b = dedup(groups, coords, None, min_dist=1.0, seed=2)
    assert a.n_kept == b.n_kept == 500
    assert not np.array_equal(a.keep, b.keep)
    assert 200 < a.keep[0::2].sum() < 300


def test_chain_keeps_both_ends():
    # docs/design.md section 2: centres at 0, 15 and 30 Å with 20 Å; RELION keeps one, we keep two.
    r = dedup([0, 0, 0], [[0, 0], [15, 0], [30, 0]], [1.0, 1.0, 1.0], min_dist=20)
    assert r.keep.tolist() == [True, False, True]
    assert r.suppressed_by.tolist() == [-1, 0, -1]


def test_distance_is_inclusive_and_3d():
    coords = [[0, 0, 0], [12, 16, 0], [0, 0, 20.0000001], [0, 12, 16]]
    r = dedup([1, 1, 1, 1], coords, [4.0, 3.0, 2.0, 1.0], min_dist=20)
    assert r.keep.tolist() == [True, False, True, False]


@pytest.mark.slow
def test_many_micrographs_match_the_oracle():
    rng = np.random.default_rng(5)
    n = 3000
    groups = rng.integers(0, 40, n)
    coords = rng.uniform(0, 400, (n, 2))
    scores = rng.integers(0, 5, n).astype(float)
    scores[rng.random(n) < 0.05] = np.nan
    for entirely in (False, True):
        got = dedup(groups, coords, scores, min_dist=15, remove_entirely=entirely)
        keep, by = oracle(groups.tolist(), coords.tolist(), scores.tolist(), 15, True, entirely)
        assert got.keep.tolist() == keep and got.suppressed_by.tolist() == by
        if not entirely:
            check_guarantees(groups, coords, got, 15)


def test_large_input_keeps_the_guarantees():
    rng = np.random.default_rng(11)
    n = 200_000
    groups = rng.integers(0, 1000, n)
    coords = rng.uniform(0, 1000, (n, 2))
    r = dedup(groups, coords, rng.random(n), min_dist=10)
    check_guarantees(groups, coords, r, 10, subset=np.flatnonzero(groups < 5))
    assert 0 < r.n_rejected < n


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"groups": [0], "coords": [[0.0]], "min_dist": 1}, "2 or 3 columns"),
        ({"groups": [0], "coords": [[0.0, 0.0]], "min_dist": -1}, "min_dist"),
        ({"groups": [0, 0], "coords": [[0.0, 0.0], [np.nan, 0]], "min_dist": 1}, "particle 1"),
        ({"groups": [0], "coords": [[0.0, 0.0]], "scores": [1.0, 2.0], "min_dist": 1}, "scores"),
    ],
)
def test_bad_arrays_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dedup(**kwargs)


@pytest.mark.parametrize("dim", [2, 3])
def test_big_clustered_micrographs_match_the_oracle(dim):
    # Thousands of particles per micrograph (deep trees), in clumps and on a line, on an
    # integer grid so that ties and exact boundary distances occur.
    from oracle import oracle_by_group

    rng = np.random.default_rng(dim)
    clumps = rng.normal(0, 30, (3000, dim)) + rng.integers(0, 5, (3000, 1)) * 200
    line = np.zeros((1500, dim))
    line[:, 1] = rng.integers(0, 3000, 1500)
    coords = np.round(np.vstack([clumps, line]))
    groups = np.repeat([3, 1], [3000, 1500])
    scores = rng.integers(0, 50, len(groups)).astype(float)
    result = dedup(groups, coords, scores, min_dist=10)
    assert np.array_equal(result.keep, oracle_by_group(groups, coords, scores, 10))
    check_guarantees(groups, coords, result, 10, subset=np.flatnonzero(groups == 1))


def test_zero_distance_means_the_same_centre_to_a_thousandth_of_an_angstrom():
    # 1e-213 and 9e-4 Å off, and -0.0: one centre with (0, 0); 1.1e-3 Å off: another.
    coords = [[0.0, 0.0], [0.0, 1e-213], [0.0, -0.0], [9e-4, 0.0], [0.0, 1.1e-3]]
    r = dedup([0] * 5, coords, [5.0, 4.0, 3.0, 2.0, 1.0], min_dist=0.0)
    assert r.keep.tolist() == [True, False, False, False, True]
    assert r.suppressed_by.tolist() == [-1, 0, 0, 0, -1]


# --- consensus support -------------------------------------------------------------------


@st.composite
def consensus_cases(draw):
    n_inputs = draw(st.sampled_from([1, 2, 3]))
    n = draw(st.integers(0, 40))
    dim = draw(st.sampled_from([2, 3]))
    grid = draw(st.booleans())  # integer grids make exact boundary distances
    coord = st.integers(0, 30).map(float) if grid else st.floats(0, 100, allow_nan=False)
    coords = [[draw(coord) for _ in range(dim)] for _ in range(n)]
    groups = [draw(st.sampled_from([0, 1, 2**40])) for _ in range(n)]
    inputs = [draw(st.integers(0, n_inputs - 1)) for _ in range(n)]
    min_dist = draw(st.sampled_from([0.0, 1.0, 5.0, 12.5]))
    return groups, np.array(coords, dtype=float).reshape(n, dim), inputs, min_dist


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(consensus_cases())
def test_support_agrees_with_oracle(case):
    groups, coords, inputs, min_dist = case
    got = support(groups, coords, inputs, min_dist=min_dist)
    np.testing.assert_array_equal(got, oracle_support(groups, coords, inputs, min_dist))


@pytest.mark.parametrize("n_inputs", [1, 2, 3])
def test_support_random_dense_micrographs(n_inputs):
    # Thousands of picks per micrograph: the k-d tree splits (leaves hold 256 points).
    rng = np.random.default_rng(n_inputs)
    n = 3000
    groups = rng.integers(0, 3, n)
    coords = rng.uniform(0, 2000, (n, 2)).round(0)
    inputs = rng.integers(0, n_inputs, n)
    got = support(groups, coords, inputs, min_dist=30.0)
    np.testing.assert_array_equal(got, oracle_support(groups, coords, inputs, 30.0))
    assert got.min() >= 1 and got.max() <= n_inputs


def test_support_min_support_rule_hand_worked():
    # Picker 0 at (0,0) and (100,0) Å, picker 1 at (3,4), picker 2 at (0,10), min_dist 6:
    # (0,0) is confirmed by (3,4) at 5 Å -> 2; (100,0) alone -> 1; (3,4) -> 2; (0,10) is
    # 10 Å and 6.7 Å away from the others -> 1. With K = 2 only the first and third stay.
    got = support([0] * 4, [[0, 0], [100, 0], [3, 4], [0, 10]], [0, 0, 1, 2], min_dist=6.0)
    assert got.tolist() == [2, 1, 2, 1]
    assert (got >= 2).tolist() == [True, False, True, False]


def test_support_refuses_bad_shapes():
    with pytest.raises(ValueError, match="inputs"):
        support([0, 0], [[0, 0], [1, 1]], [0], min_dist=1.0)
    with pytest.raises(ValueError, match="min_dist"):
        support([0], [[0, 0]], [0], min_dist=-1.0)


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(cases(), st.sampled_from([1, 2, 3]), st.data())
def test_one_pass_agrees_with_oracles(case, n_inputs, data):
    # dedup and the consensus masks in one pass: keep and suppressed_by as the dedup
    # oracle, and bit k of a pick's mask set exactly when input k has a pick within
    # min_dist on its micrograph (brute force, itself included).
    groups, coords, scores, min_dist, higher, entirely = case
    n = len(groups)
    inputs = [data.draw(st.integers(0, n_inputs - 1)) for _ in range(n)]
    centres = np.array(coords, dtype=float).reshape(n, len(coords[0]) if coords else 2)
    got, masks = dedup_and_support_masks(
        groups, centres, inputs, DuplicateRule(min_dist, remove_entirely=entirely), Ranking(np.array(scores), higher)
    )
    keep, by = oracle(groups, coords, scores, min_dist, higher, entirely)
    assert got.keep.tolist() == keep
    assert got.suppressed_by.tolist() == by
    expected = []
    for i in range(n):
        close = ((centres - centres[i]) ** 2).sum(axis=1) <= radius(min_dist) ** 2
        near = close & (np.array(groups) == groups[i])
        expected.append(sum(1 << k for k in set(np.array(inputs)[near].tolist())))
    assert masks.tolist() == expected


# --- issue 11 item 7: group ids are integers, exactly ---------------------------------------------------------


def test_float_group_ids_that_are_not_whole_numbers_are_refused():
    coords = np.zeros((2, 2))  # two picks at one spot: duplicates only if in one group
    with pytest.raises(ValueError, match=r"groups must be integer ids; got the float 0\.2"):
        dedup([0.2, 0.8], coords, min_dist=1.0)
    with pytest.raises(ValueError, match=r"not a whole number within int64"):
        dedup(np.array([2.0**63, 2.0**64]), coords, min_dist=1.0)  # float64 CryoSPARC uids
    with pytest.raises(ValueError, match=r"groups must be integer ids"):
        support([0.5, 1.5], coords, [0, 1], min_dist=1.0)


def test_whole_float_and_integer_group_ids_give_the_same_result():
    coords = np.array([[0.0, 0.0], [0.5, 0.0], [0.0, 0.0]])
    as_float = dedup([1.0, 1.0, 2.0], coords, min_dist=1.0, seed=3)
    as_int = dedup(np.array([1, 1, 2], dtype=np.uint64), coords, min_dist=1.0, seed=3)
    assert as_float.keep.tolist() == as_int.keep.tolist()
    assert as_float.n_kept == 2  # one of the first two, and the third on its own micrograph
    with pytest.raises(ValueError, match="fit in int64"):
        dedup(np.array([2**63, 1], dtype=np.uint64), coords[:2], min_dist=1.0)


def test_micrograph_names_are_taken_as_remove_duplicate_centres_takes_them():
    # One rule for both: names, numbered in order of first appearance. Two picks 0.5 Å apart on
    # "b.mrc" are duplicates; the pick at the same place on "a.mrc" is not (another micrograph).
    coords = np.array([[0.0, 0.0], [0.5, 0.0], [0.0, 0.0], [9.0, 9.0]])
    names = ["b.mrc", "b.mrc", "a.mrc", "b.mrc"]
    by_hand = dedup([0, 0, 1, 0], coords, min_dist=1.0, seed=3)
    for labels in (names, np.array(names), np.array(names, dtype=object), [Path(n) for n in names]):
        got = dedup(labels, coords, min_dist=1.0, seed=3)
        assert got.keep.tolist() == by_hand.keep.tolist()
    assert by_hand.n_kept == 3
    centres = remove_duplicate_centres(names, coords, min_dist=1.0, seed=3)
    assert centres.keep.tolist() == by_hand.keep.tolist()


# --- issue 27 item 9: an anisotropic distance for subtomograms ----------------------------------


def ellipsoid_oracle(groups, coords, scores, d, dz, inputs):
    """Greedy suppression and consensus masks, pair by pair, with the ellipsoid test written out."""
    n = len(groups)

    def close(i, j):
        dx, dy, dzz = (coords[i][k] - coords[j][k] for k in range(3))
        return groups[i] == groups[j] and (dx * dx + dy * dy) / (d * d) + dzz * dzz / (dz * dz) <= 1

    keep = [True] * n
    for i in sorted(range(n), key=lambda i: (-scores[i], i)):
        if keep[i]:
            for j in range(n):
                if j != i and keep[j] and close(i, j) and (-scores[j], j) > (-scores[i], i):
                    keep[j] = False
    masks = [sum(1 << k for k in {inputs[j] for j in range(n) if j == i or close(i, j)}) for i in range(n)]
    return keep, masks


@pytest.mark.parametrize("d, dz", [(20.0, 60.0), (30.0, 10.0), (25.0, 25.0)])
def test_min_dist_z_agrees_with_the_ellipsoid_written_out(d, dz):
    rng = np.random.default_rng(int(d + dz))
    n = 400
    groups = rng.integers(0, 3, n)
    coords = np.column_stack([rng.uniform(0, 300, n), rng.uniform(0, 300, n), rng.uniform(0, 120, n)])
    scores = rng.uniform(size=n)
    inputs = rng.integers(0, 2, n)
    keep, masks = ellipsoid_oracle(groups.tolist(), coords.tolist(), scores.tolist(), d, dz, inputs.tolist())
    assert dedup(groups, coords, scores, min_dist=d, min_dist_z=dz).keep.tolist() == keep
    got, got_masks = dedup_and_support_masks(groups, coords, inputs, DuplicateRule(d, dz), Ranking(scores))
    assert got.keep.tolist() == keep and got_masks.tolist() == masks
    assert 0 < keep.count(False) < n and coords[:, 2].tolist() == coords[:, 2].tolist()  # (input not changed)


def test_min_dist_z_needs_z_and_positive_distances():
    with pytest.raises(ValueError, match="x, y and z"):
        dedup([0, 0], [[0.0, 0.0], [1.0, 1.0]], min_dist=10.0, min_dist_z=20.0)
    with pytest.raises(ValueError, match="> 0"):
        dedup([0, 0], [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], min_dist=0.0, min_dist_z=20.0)
