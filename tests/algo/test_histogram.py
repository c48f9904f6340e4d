"""The pictures' counts made in the core, against numpy's own (an independent implementation)."""

from __future__ import annotations

import numpy as np
import pytest

from cryodedup.algo.histogram import clipped_histogram, counts_per_group, percentiles


@pytest.mark.parametrize(("lo", "hi", "bins"), [(0.0, 200.0, 100), (-3.7, 11.3, 60), (0.1, 0.3, 7), (2.5, 3.5, 1)])
def test_histograms_bin_every_value_as_numpy_does(lo: float, hi: float, bins: int) -> None:
    rng = np.random.default_rng(7)
    edges = np.linspace(lo, hi, bins + 1)
    # On every edge and a float either side of it (where scaling a value rounds across an
    # edge), spread, beyond both ends, and not finite.
    values = np.concatenate(
        [
            edges,
            np.nextafter(edges, -np.inf),
            np.nextafter(edges, np.inf),
            rng.uniform(lo - 2 * (hi - lo), hi + 2 * (hi - lo), 20_000),
            [np.nan, np.inf, -np.inf],
        ]
    )
    sides = rng.random(values.size) < 0.3
    finite = values[np.isfinite(values)]
    for split in (None, sides):
        counts, got_edges, beyond = clipped_histogram(values, lo, hi, bins, split)
        assert np.array_equal(got_edges, np.histogram(finite, bins=bins, range=(lo, hi))[1])
        assert beyond == np.count_nonzero((finite < lo) | (finite > hi)) > 0
        masks = [np.ones(values.size, bool), np.zeros(values.size, bool)] if split is None else [~split, split]
        for row, mask in zip(counts, masks):
            chosen = values[mask & np.isfinite(values)]
            want, _ = np.histogram(np.clip(chosen, lo, hi), bins=bins, range=(lo, hi))
            assert row.tolist() == want.tolist()
        assert counts.sum() == finite.size


def test_histogram_refuses_edges_out_of_order() -> None:
    with pytest.raises(ValueError, match="ascending"):
        clipped_histogram(np.zeros(3), 1.0, 1.0, 5)
    with pytest.raises(ValueError, match="sides"):
        clipped_histogram(np.zeros(3), 0.0, 1.0, 5, np.zeros(2, bool))


@pytest.mark.parametrize("dtype", [np.uint32, np.int64, np.int32])
def test_counts_per_group_are_bincounts(dtype: type) -> None:
    rng = np.random.default_rng(3)
    groups = rng.integers(0, 50, 10_000).astype(dtype)
    marked = rng.random(10_000) < 0.2
    rows, marks = counts_per_group(groups, marked, 60)  # (groups 50..59 hold no row)
    assert rows.tolist() == np.bincount(groups, minlength=60).tolist()
    assert marks.tolist() == np.bincount(groups[marked], minlength=60).tolist()
    assert groups.max() == 49
    with pytest.raises(ValueError, match=r"its group is not in 0\.\.49"):
        counts_per_group(groups, marked, 49)
    if np.issubdtype(dtype, np.signedinteger):
        with pytest.raises(ValueError, match=r"row 1: its group is not in 0\.\.60"):
            counts_per_group(np.array([0, -1], dtype=dtype), np.zeros(2, bool), 60)


def test_percentiles_are_numpys():
    # Ties, one to a few values, spreads from tiny to huge, the ends (0 and 100) and the
    # middle: numpy's own np.percentile is the oracle, to the last bit.
    rng = np.random.default_rng(4)
    for trial in range(3000):
        n = int(rng.integers(1, 300)) if trial % 10 else int(rng.integers(1, 5))
        kind = trial % 4
        if kind == 0:
            v = rng.normal(size=n)
        elif kind == 1:
            v = rng.integers(-3, 4, n).astype(float)
        elif kind == 2:
            v = rng.uniform(0, 1, n) * 10.0 ** rng.integers(-5, 8)
        else:
            v = np.concatenate([rng.normal(size=n), [1e300, -1e300]])
        q = [(1.0, 99.0), (0.0, 100.0), (50.0,), (25.0, 75.0, 12.5)][trial % 4]
        assert percentiles(v, q) == [float(x) for x in np.percentile(v, q)], (n, q)


def test_percentiles_of_many_values_are_numpys():
    # Enough values that the core counts them into buckets (above 16,384): spread, tied,
    # one far outlier (every other value in one bucket), infinities at the ends.
    rng = np.random.default_rng(5)
    n = 100_001
    cases = [
        rng.normal(size=n),
        rng.integers(-3, 4, n).astype(float),
        np.r_[rng.uniform(0, 1e-6, n), 1e300],
        np.r_[rng.normal(size=n), np.inf, -np.inf],
        rng.exponential(size=n) ** 8,
    ]
    for v in cases:
        for q in [(1.0, 99.0), (0.0, 100.0), (50.0,), (0.1, 99.9, 33.3)]:
            # (numpy's interpolation between two infinities is NaN: NaN counts as equal here)
            with np.errstate(invalid="ignore"):
                want = np.percentile(v, q)
            assert np.array_equal(percentiles(v, q), want, equal_nan=True), q
