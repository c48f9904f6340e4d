"""Counts over a million rows, each in one pass in the core.

The ``--plot`` pictures' histograms and per-micrograph counts, and the summary's picks and
duplicates per micrograph (``np.bincount`` would copy the ids to int64 first).

numpy makes one histogram in about ten passes over its values (the finite ones picked
out, clipped, the bins found and corrected against the edges, counted) and a micrograph's
rejections by a mask and a ``bincount``: a quarter of what the pictures of a 1M-particle job
cost in numpy (issue 43). The core bins each value as ``numpy.histogram`` does, so the
pictures are the same.
"""

from __future__ import annotations

import math

import numpy as np

import cryodedup._core as _core

from . import core_group_ids

__all__ = ["clipped_histogram", "counts_per_group", "percentiles"]


def clipped_histogram(
    values: np.ndarray, lo: float, hi: float, bins: int, sides: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """The histogram of the finite ``values`` clipped into ``[lo, hi]`` (``lo < hi``), in ``bins`` equal bins.

    The counts of ``numpy.histogram(np.clip(v[np.isfinite(v)], lo, hi), bins, range=(lo, hi))``.

    Returns
    -------
    counts : (2, bins) int64
        Row 0 counts the rows whose ``sides`` is False (every row without ``sides``), row 1
        those whose side is True (zeros without ``sides``).
    edges : (bins + 1,) float64
        The bins' edges, as ``numpy.histogram`` gives them.
    beyond : int
        How many finite values lay outside ``[lo, hi]`` (counted in the end bins).
    """
    edges = np.linspace(lo, hi, bins + 1)
    side = None if sides is None else np.ascontiguousarray(sides, dtype=bool)
    counts, beyond = _core.histogram(np.ascontiguousarray(values, dtype=np.float64), edges, side)
    return counts, edges, int(beyond)


def counts_per_group(groups: np.ndarray, marked: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of each group ``0..n_groups - 1`` and how many of them are ``marked``, int64 each."""
    return _core.counts_per_group(core_group_ids(groups), np.ascontiguousarray(marked, dtype=bool), n_groups)


def percentiles(values: np.ndarray, q: tuple[float, ...]) -> list[float]:
    """``np.percentile(values, q)`` (its "linear" method) of float64 ``values`` without NaN, one or more.

    The same numbers: the order statistics on both sides of each quantile's place, found by
    the core (a count into buckets, then a search of the buckets that hold them: 12 ms of
    numpy's partition of 1M scores became 2-3 ms), and numpy's interpolation between them
    step by step. ``np.percentile`` finds its partition's places with ``np.unique``, whose
    first call imports ``numpy.ma`` (45 M instructions of a ``--plot`` run).
    """
    n = len(values)
    places = [(n - 1) * (p / 100) for p in q]  # numpy's virtual indexes, in float64 as numpy makes them
    below = [math.floor(v) if v < n - 1 else n - 1 for v in places]  # (past the last: the last value, as numpy)
    ranks = sorted({k for b in below for k in (b, min(b + 1, n - 1))})
    at = dict(zip(ranks, _core.order_statistics(np.ascontiguousarray(values, dtype=np.float64), ranks)))
    found = []
    for place, b in zip(places, below):
        a, c = at[b], at[min(b + 1, n - 1)]
        t = place - b if place < n - 1 else place + 1  # numpy's gamma (its index -1 past the last)
        d = c - a
        found.append(c - d * (1 - t) if t >= 0.5 else a + d * t)  # numpy's _lerp
    return found
