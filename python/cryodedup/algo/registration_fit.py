"""The registration's measurements after its vote: picks paired one to one, a transform refined, and chance.

:mod:`cryodedup.algo.registration` votes a transform in bins of the radius; picks that lie on a
picker's grid (RELION's autopicking: steps of about 11 px) make that vote land a step off. Here
the voted transform is refined from the picks it pairs one to one (mutual nearest neighbours
within a window, on one micrograph): the median of their displacements (a scale: least squares),
again with a window shrunk to the pairs' spread, until it stands still; its standard error comes
from the pairs' residuals, divided by how far the centre found stays when the shift is moved
(1 - the slope of the refinement's map at its fixed point): a peak the window resolves holds
it (slope near 0), a floor of chance pairs wider than the window lets it wander (slope near 1,
the error the window itself). And the agreement that chance gives is measured on the same picks:
the second set moved far (a random fraction of each micrograph's extent, wrapped round, so that
its density stays) a few times (docs/developers/decisions/registration.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .dedup import nearest_neighbour_distances

__all__ = ["Chance", "boxes_of", "chance_agreement", "fit_radius", "refine"]

#: The radius measured at is at most the one at which a pick has a neighbour of the denser input
#: by chance with this probability (picks at random): beyond it chance pairs most picks, and an
#: agreement of frames no longer stands out (the issue's 400 picks a micrograph at 100 Å: 68 %).
CHANCE_MOST = 0.1
#: Random moves of the second set that measure chance.
CHANCE_MOVES = 10
#: Rounds of the refinement, at most (it stops once the window and the median stand still).
REFINE_ROUNDS = 10
#: The window of the next round: this many times the median distance of the pairs ...
SPREAD_WINDOW = 3.0
#: ... and at least this fraction of the radius measured at.
WINDOW_LEAST = 1 / 8
#: Candidate pairs compared at most in one pairing (a few tens of MB): more, and only some of
#: the second set's picks are paired (drawn at random, seeded).
MOST_CANDIDATES = 2_000_000
#: The centre of the displacements: the mean of those within this many robust SDs of their median ...
CENTRE_SDS = 3.0
#: ... unless more than this fraction equal the median (a picker's grid): the median.
TIED = 0.2
#: The slope of the refinement's map is measured by moving the shift this fraction of the window either way ...
SLOPE_STEP = 0.25
#: ... from this many pairs or more: each pair that enters or leaves the window moves the slope by about
#: 1/pairs, so fewer measure noise (a tomogram's 14 pairs spread in z: 0.76), and their standard error stands.
SLOPE_PAIRS = 30


def fit_radius(
    radius: float, least: float, a: np.ndarray, ga: np.ndarray, b: np.ndarray, gb: np.ndarray, areas: np.ndarray
) -> float:
    """The radius the registration is measured at: ``radius``, or less where picks are too dense for it.

    At most the radius at which chance gives a pick a neighbour of the denser input with
    probability :data:`CHANCE_MOST`, by two estimates of the density: its picks spread evenly
    over the median pick's micrograph, and the median distance between its neighbouring picks
    (picks that crowd on membranes or in a slab of a tomogram are denser where they lie than
    over the micrograph; those nearer than ``least``, an input's own duplicates, left out). Never
    below ``least`` (a few pixels), nor above ``radius``.
    """
    n, dims = len(areas), a.shape[1]
    ball = math.pi if dims == 2 else 4 * math.pi / 3  # the area (volume) within a radius of 1
    most = np.maximum(np.bincount(ga, minlength=n), np.bincount(gb, minlength=n))
    held = (most > 0) & (areas > 0)
    cap = radius
    if held.any():
        reach = -math.log1p(-CHANCE_MOST) * areas[held] / most[held]  # the area (volume) within the radius
        order = np.argsort(reach)
        weights = np.cumsum(most[held][order])
        typical = float(reach[order][np.searchsorted(weights, weights[-1] / 2)])
        cap = min(cap, (typical / ball) ** (1 / dims))
    # Picks at random: a pick's nearest neighbour lies within r with probability 1 - exp(-density x ball r^d).
    per_median = (math.log1p(-CHANCE_MOST) / math.log(0.5)) ** (1 / dims)
    for points, groups in ((a, ga), (b, gb)):
        distances = nearest_neighbour_distances(groups, points, radius / per_median)
        # (an input's own duplicates, a pick beside its copy, say nothing of the density: left out)
        distances = distances[distances > least]
        if len(distances) >= len(points) / 4:
            cap = min(cap, float(np.median(distances)) * per_median)
    return float(min(radius, max(cap, least)))


def one_to_one(
    a: np.ndarray, ga: np.ndarray, b: np.ndarray, gb: np.ndarray, window: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j) of a pick of ``a`` and one of ``b`` on one micrograph, each the other's nearest within ``window``.

    Each pick in at most one pair. The candidates: a's picks in columns of x as wide as the
    window, sorted by micrograph, column and y; each pick of b looks in its column and the two
    beside it, within the window along y. If there would be more than
    :data:`MOST_CANDIDATES`, some of b's picks are left out (drawn at random, seeded).
    """
    if not len(a) or not len(b) or not window > 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    low = np.minimum(a[:, :2].min(axis=0), b[:, :2].min(axis=0))
    span = np.maximum(a[:, :2].max(axis=0), b[:, :2].max(axis=0)) - low
    columns = int(span[0] // window) + 3  # (one spare either side: a column's neighbours are its micrograph's)
    height = float(span[1]) + 3 * window  # rows of one column, apart from the next column's

    def keys(points: np.ndarray, groups: np.ndarray, step: int) -> np.ndarray:
        column = np.floor((points[:, 0] - low[0]) / window).astype(np.int64) + 1 + step
        return (groups.astype(np.int64) * columns + column) * height + (points[:, 1] - low[1])

    key_a = keys(a, ga, 0)
    order = np.argsort(key_a, kind="stable")
    sorted_a = key_a[order]
    starts, counts = [], []
    for step in (-1, 0, 1):
        key_b = keys(b, gb, step)
        start = np.searchsorted(sorted_a, key_b - window, side="left")
        starts.append(start)
        counts.append(np.searchsorted(sorted_a, key_b + window, side="right") - start)
    start, count = np.concatenate(starts), np.concatenate(counts)
    js = np.tile(np.arange(len(b)), 3)
    if int(count.sum()) > MOST_CANDIDATES:
        drawn = np.random.default_rng(seed).permutation(len(b))
        chosen = np.zeros(len(b), dtype=bool)
        chosen[
            drawn[: max(int(np.searchsorted(np.cumsum(count.reshape(3, -1).sum(axis=0)[drawn]), MOST_CANDIDATES)), 1)]
        ] = True
        kept = np.tile(chosen, 3)
        start, count, js = start[kept], count[kept], js[kept]
    j = np.repeat(js, count)
    i = order[np.repeat(start - np.cumsum(count) + count, count) + np.arange(int(count.sum()))]
    d = a[i] - b[j]
    d2 = np.einsum("ij,ij->i", d, d)
    close = d2 <= window * window
    i, j, d2 = i[close], j[close], d2[close]
    nearest_of_j = _nearest(j, i, d2, len(b))
    nearest_of_i = _nearest(i, j, d2, len(a))
    mutual = (nearest_of_j[j] == i) & (nearest_of_i[i] == j)
    return i[mutual], j[mutual]


def _nearest(key: np.ndarray, other: np.ndarray, d2: np.ndarray, n: int) -> np.ndarray:
    """Per key in [0, n), the ``other`` of its smallest ``d2`` (the lower ``other`` on a tie); -1 where none."""
    out = np.full(n, -1, dtype=np.int64)
    if not len(key):
        return out
    order = np.lexsort((other, d2, key))
    first = np.r_[True, key[order][1:] != key[order][:-1]]
    out[key[order][first]] = other[order][first]
    return out


@dataclass
class Refined:
    """A transform refined: its linear part and shift, the standard error of the shift (per axis) and of the scale.

    ``pairs``: the picks paired one to one in the last round; ``window``: its window.
    """

    linear: np.ndarray
    shift: np.ndarray
    error: np.ndarray
    scale_error: float
    pairs: int
    window: float


def refine(
    linear: np.ndarray,
    shift: np.ndarray,
    fit_scale: bool,
    a: np.ndarray,
    ga: np.ndarray,
    b: np.ndarray,
    gb: np.ndarray,
    radius: float,
) -> Refined:
    """The transform x -> linear x + shift refined from the picks it pairs one to one (module docstring).

    ``fit_scale``: the linear part's scale is fitted too (least squares with the shift), else
    only the shift moves (the median of the pairs' displacements: a picker's grid and the picks
    one picker alone made move it not).
    """
    window, shift = radius, np.array(shift, dtype=np.float64)
    residuals = np.zeros((0, a.shape[1]))
    scale_error = 0.0
    for _ in range(REFINE_ROUNDS):
        moved = b @ linear.T + shift
        i, j = one_to_one(a, ga, moved, gb, window)
        if len(i) < 3:
            break
        if fit_scale:
            linear, shift, scale_error = _least_squares(linear, a[i], b[j])
            step = np.zeros_like(shift)
        else:
            step = _centre(a[i] - moved[j])
            shift = shift + step
        residuals = a[i] - (b[j] @ linear.T + shift)
        spread = float(np.median(np.sqrt(np.einsum("ij,ij->i", residuals, residuals))))
        narrower = min(window, max(SPREAD_WINDOW * spread, WINDOW_LEAST * radius))
        if narrower > 0.9 * window and float(np.abs(step).max()) <= 1e-3 * radius:
            break  # (the same pairs, or nearly: the next round would move the shift by less)
        window = narrower
    n = len(residuals)
    if n < 2:
        return Refined(linear, shift, np.full(a.shape[1], np.inf), math.inf if fit_scale else 0.0, n, window)
    error = residuals.std(axis=0, ddof=1) / math.sqrt(n)
    if not fit_scale and n >= SLOPE_PAIRS:
        held = 1 - _slope(b @ linear.T + shift, a, ga, gb, window)
        error = error / np.maximum(held, error / window)
    return Refined(linear, shift, error, scale_error, n, window)


def _slope(moved: np.ndarray, a: np.ndarray, ga: np.ndarray, gb: np.ndarray, window: float) -> np.ndarray:
    """Per axis, how far the centre of the pairs follows the shift moved (0: held by a peak; 1: no peak).

    The refinement's map t -> t + centre(pairs at t) at its fixed point, differentiated along
    each axis by moving the shift :data:`SLOPE_STEP` of the window either way. Dense picks with
    pick noise wider than the window leave a flat floor of chance pairs whose mean follows any
    move (slope 1): the shift found there is a wander, however many pairs.
    """
    step = SLOPE_STEP * window
    slopes = np.ones(a.shape[1])
    for k in range(a.shape[1]):
        centres = []
        for sign in (-1.0, 1.0):
            delta = np.zeros(a.shape[1])
            delta[k] = sign * step
            i, j = one_to_one(a, ga, moved + delta, gb, window)
            if len(i) < 3:
                break
            centres.append(delta[k] + _centre(a[i] - (moved[j] + delta))[k])
        if len(centres) == 2:
            slopes[k] = (centres[1] - centres[0]) / (2 * step)
    return slopes


def _centre(points: np.ndarray) -> np.ndarray:
    """The centre of the displacements along each axis: robust to chance pairs, and exact on a picker's grid.

    The mean of those within :data:`CENTRE_SDS` robust standard deviations of the median (1.48
    median absolute deviations; Gaussian pick noise: nearly the mean's precision); but where
    more than :data:`TIED` of them equal the median (picks on a grid: a step either side is
    not equally likely), the median itself.
    """
    ordered = np.sort(points, axis=0)
    n = len(ordered)
    median = ordered[n // 2].copy() if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    deviation = np.abs(points - median)
    spread = 1.4826 * np.median(deviation, axis=0)
    centre = median.copy()
    for k in range(points.shape[1]):
        if np.count_nonzero(deviation[:, k] <= 1e-9 * (1 + abs(median[k]))) > TIED * n or not spread[k] > 0:
            continue
        near = deviation[:, k] <= CENTRE_SDS * spread[k]
        centre[k] = points[near, k].mean()
    return centre


def _least_squares(linear: np.ndarray, pa: np.ndarray, pb: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The scale s and shift t of a ~ s R b + t (R: the linear part without its scale) by least squares; s's error."""
    scale = float(abs(np.linalg.det(linear)) ** (1 / len(linear)))
    rotation = linear / scale
    qb = pb @ rotation.T
    ca, cb = pa - pa.mean(axis=0), qb - qb.mean(axis=0)
    spread = float(np.einsum("ij,ij->", cb, cb))
    fitted = float(np.einsum("ij,ij->", ca, cb)) / spread if spread > 0 else 0.0
    if not fitted > 0:  # pairs at one point: no scale to fit; the one given stays
        fitted = scale
    shift = pa.mean(axis=0) - fitted * qb.mean(axis=0)
    residuals = pa - (fitted * qb + shift)
    dof = max(residuals.size - pa.shape[1] - 1, 1)
    error = math.sqrt(float(np.einsum("ij,ij->", residuals, residuals)) / dof / spread) if spread > 0 else math.inf
    return rotation * fitted, shift, error


@dataclass
class Chance:
    """The agreement after :data:`CHANCE_MOVES` far moves: its mean (``jaccard``), picks shared (mean, SD, most)."""

    jaccard: float
    shared: float
    sd: float
    most: float


def chance_agreement(
    agreement: Callable[[np.ndarray], tuple[float, float]],
    b: np.ndarray,
    gb: np.ndarray,
    boxes: tuple[np.ndarray, np.ndarray],
    seed: int = 0,
) -> Chance:
    """The agreement ``agreement(moved b)`` gives when b is moved far on each micrograph, :data:`CHANCE_MOVES` times.

    ``boxes``: each micrograph's lowest corner and extent (both sets' picks); each move is a
    random fraction (a quarter to three quarters) of the extent along x and y, wrapped round
    within it, so that the picks' density, and how they cluster, stay.
    """
    low, extent = boxes
    low_b, extent_b = low[gb], np.maximum(extent[gb], 1e-9)
    rng = np.random.default_rng(seed + 1)
    jaccards, shared = [], []
    for _ in range(CHANCE_MOVES):
        fraction = np.asarray(rng.uniform(0.25, 0.75, b.shape[1]))
        fraction[2:] = 0  # (a tomogram's picks stay at their depths: most lie in a slab of it, and chance keeps that)
        moved = low_b + np.mod(b - low_b + fraction * extent_b, extent_b)
        j, s = agreement(moved)
        jaccards.append(j)
        shared.append(s)
    values = np.array(shared)
    return Chance(float(np.mean(jaccards)), float(values.mean()), float(values.std(ddof=1)), float(values.max()))


def boxes_of(a: np.ndarray, ga: np.ndarray, b: np.ndarray, gb: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each micrograph's lowest corner and extent, over both sets' picks (zeros where it has none)."""
    both, groups = np.concatenate([a, b]), np.concatenate([ga, gb])
    order = np.argsort(groups, kind="stable")  # (reduceat by micrograph: ufunc.at costs ~1k instructions a pick)
    starts = np.searchsorted(groups[order], np.arange(n))
    held = starts < len(order)
    low, high = np.zeros((n, a.shape[1])), np.zeros((n, a.shape[1]))
    ordered = both[order]
    low[held] = np.minimum.reduceat(ordered, starts[held])
    high[held] = np.maximum.reduceat(ordered, starts[held])
    return low, high - low
