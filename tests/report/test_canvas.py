"""The canvas's own helpers, against numpy's (the oracle)."""

import numpy as np

from cryodedup.report.canvas import SCALE, _distinct


def test_distinct_positions_are_numpys_unique_rows():
    rng = np.random.default_rng(1)
    for trial in range(200):
        n = int(rng.integers(1, 300))
        xy = rng.integers(-5, 20, (n, 2)) / SCALE * rng.choice([1.0, 0.5, 1.3])
        if trial % 5 == 0:
            xy[0] = [-0.0, 0.0]  # signed zeros are one position, as for np.unique
            xy[-1] = [0.0, -0.0]
        expected = np.unique(np.round(xy * SCALE), axis=0)
        got = _distinct(xy)
        assert got.shape == expected.shape
        assert np.array_equal(got, expected)


def test_no_positions():
    assert _distinct(np.zeros((0, 2))).shape == (0, 2)
