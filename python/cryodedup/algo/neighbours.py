"""Points on the specimen (µm) near each other, in memory that does not grow with their density.

Two questions the metadata screen asks of thousands of image positions: which points are
linked by chains of neighbours (stage stops, grid squares: :func:`linked_groups`) and which
pairs lie within a distance (the candidates: :func:`nearest_pairs`). Both sort the points
into a grid of square cells and compute distances between neighbouring cells in batches of at
most ``BLOCK`` point pairs, so that 100,000 positions 10 nm apart (each within reach of
hundreds of others) cost a few bytes per point beyond the answer, never the list of every
close pair (docs/developers/decisions/micrograph-metadata.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["linked_groups", "linked_groups_of_pairs", "nearest_pairs", "neighbour_pairs"]

#: Point pairs whose distance is computed at once (a few MB of temporaries).
BLOCK = 1 << 15
#: Cells wider by this fraction than asked: a point that rounding puts in the next cell is
#: still within the neighbourhood searched.
MARGIN = 1e-9
#: Cell numbers along an axis stay below this (their keys fit int64): far points and a tiny
#: reach get wider cells, which costs more distances, never a wrong answer.
MAX_CELLS_ALONG = 2.0**30
#: Up to this many points, groups are linked from every pair's distance: the grid's dozens of
#: small numpy steps cost more (the shift calibration groups the targets of 5,000 stops, ~10 each).
FEW_POINTS = 32


@dataclass
class Grid:
    """Points sorted into square cells: ``members[start[c]:start[c] + count[c]]`` are cell ``c``'s."""

    xy: np.ndarray
    width: float
    keys: np.ndarray  # per cell, ascending: column * stride + row
    stride: int
    members: np.ndarray  # point indices, cell by cell, ascending within a cell
    start: np.ndarray
    count: np.ndarray

    def neighbour(self, dx: int, dy: int, cells: np.ndarray | None = None) -> np.ndarray:
        """Per cell (of ``cells``, default all), the cell ``dx`` columns and ``dy`` rows away (-1: empty)."""
        wanted = (self.keys if cells is None else self.keys[cells]) + dx * self.stride + dy
        found = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        return np.where(self.keys[found] == wanted, found, -1)

    def cell_of_points(self) -> np.ndarray:
        """The cell of every point."""
        out = np.empty(len(self.xy), dtype=np.int64)
        out[self.members] = np.repeat(np.arange(len(self.keys)), self.count)
        return out


def make_grid(xy: np.ndarray, width: float) -> Grid:
    """The grid of cells at least ``width`` wide (wider when the points span more than 2**30 cells)."""
    low = xy.min(axis=0)
    span = float((xy.max(axis=0) - low).max())
    width = max(width * (1 + MARGIN), span / MAX_CELLS_ALONG, np.finfo(np.float64).tiny)
    cells = np.floor((xy - low) / width).astype(np.int64) + 2  # room for offsets of -2
    stride = int(cells[:, 1].max()) + 3
    keys = cells[:, 0] * stride + cells[:, 1]
    members = np.lexsort((np.arange(len(xy)), keys))
    ordered = keys[members]
    start = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    count = np.diff(np.r_[start, len(members)])
    return Grid(xy, width, ordered[start], stride, members, start, count)


def _ragged(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``starts[k] + 0, 1, ..., lengths[k] - 1`` for every k, end to end."""
    total = int(lengths.sum())
    return np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)


def _batches(cost: np.ndarray) -> Iterator[np.ndarray]:
    """Consecutive runs of items whose summed cost stays near ``BLOCK`` (an item over it alone)."""
    if not len(cost):
        return
    end = np.cumsum(cost)
    group = (end - cost) // BLOCK
    bounds = np.flatnonzero(np.r_[True, group[1:] != group[:-1], True])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        yield np.arange(lo, hi)


def _distance(xy: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return np.hypot(xy[i, 0] - xy[j, 0], xy[i, 1] - xy[j, 1])


# --- linked groups ----------------------------------------------------------------------------


def linked_groups(xy: np.ndarray, reach: float) -> np.ndarray:
    """Groups of points linked by chains of neighbours at most ``reach`` apart.

    Numbered from 0 in the order of their first point; each point alone when ``reach`` is not
    above 0. Cells are half the reach wide, so the points of one cell are linked (their
    distance is below 0.71 reach); two cells up to two apart are joined when any of their
    points are within reach. Nothing is kept per pair: a label per cell, one batch of distances.
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    n = len(xy)
    if n == 0 or not reach > 0:
        return np.arange(n, dtype=np.int64)
    if n <= FEW_POINTS:
        i, j = np.triu_indices(n, 1)
        close = _distance(xy, i, j) <= reach
        return linked_groups_of_pairs(n, np.stack([i[close], j[close]], axis=1))
    grid = make_grid(xy, reach / 2)
    if grid.width > reach / 2 * (1 + 2 * MARGIN):  # a reach below 2**-29 of the span: a cell is no group
        return linked_groups_of_pairs(n, neighbour_pairs(xy, reach))
    label = np.arange(len(grid.keys))
    for dx, dy in [(dx, dy) for dx in range(3) for dy in range(-2, 3) if (dx, dy) > (0, 0)]:  # each pair once
        other = grid.neighbour(dx, dy)
        cells = np.flatnonzero(other >= 0)
        a, b = cells, other[cells]
        for batch in _batches(grid.count[a] * grid.count[b]):
            a_, b_ = a[batch], b[batch]
            differ = label[a_] != label[b_]  # already one group: nothing to compute
            _join(label, *_linking(grid, a_[differ], b_[differ], reach))
    group = label[grid.cell_of_points()]
    first = np.full(len(label), n, dtype=np.int64)
    np.minimum.at(first, group, np.arange(n))
    return np.unique(first[group], return_inverse=True)[1].reshape(-1).astype(np.int64)


def _linking(grid: Grid, a: np.ndarray, b: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """Of the cell pairs (a, b), those with a point of each within ``reach``."""
    if not len(a):
        return a, b
    size = grid.count[a] * grid.count[b]
    if len(a) == 1 and size[0] > BLOCK:  # two crowded cells: their points compared in slices
        i_all, j = (
            grid.members[_ragged(grid.start[a], grid.count[a])],
            grid.members[_ragged(grid.start[b], grid.count[b])],
        )
        for lo in range(0, len(i_all), max(1, BLOCK // len(j))):
            i = i_all[lo : lo + max(1, BLOCK // len(j))]
            if (_distance(grid.xy, np.repeat(i, len(j)), np.tile(j, len(i))) <= reach).any():
                return a, b
        return a[:0], b[:0]
    pair = np.repeat(np.arange(len(a)), size)
    k = _ragged(np.zeros(len(a), dtype=np.int64), size)  # k-th combination of its cell pair
    i = grid.members[grid.start[a][pair] + k // grid.count[b][pair]]
    j = grid.members[grid.start[b][pair] + k % grid.count[b][pair]]
    close = np.unique(pair[_distance(grid.xy, i, j) <= reach])
    return a[close], b[close]


def _join(label: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Merges the groups of cells ``a`` and ``b`` pairwise (labels are each group's lowest cell)."""
    while len(a):
        la, lb = label[a], label[b]
        differ = la != lb
        if not differ.any():
            return
        np.minimum.at(label, np.maximum(la, lb)[differ], np.minimum(la, lb)[differ])  # a root hooks lower
        while True:  # pointer jumping: every label a root again
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label[:] = jumped


def linked_groups_of_pairs(n: int, pairs: np.ndarray) -> np.ndarray:
    """Groups (numbered from 0 in the order of their first point) of ``n`` points joined by ``pairs``."""
    label = np.arange(n)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    _join(label, pairs[:, 0], pairs[:, 1])
    return np.unique(label, return_inverse=True)[1].reshape(-1).astype(np.int64)


# --- pairs within reach -----------------------------------------------------------------------

#: A cell and its eight neighbours.
AROUND = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]


def neighbour_pairs(xy: np.ndarray, reach: float) -> np.ndarray:
    """Every pair (i, j), i < j, of points at most ``reach`` apart, sorted (no cap: as many as there are)."""
    return nearest_pairs(xy, reach, None)[0]


def nearest_pairs(xy: np.ndarray, reach: float, most: int | None) -> tuple[np.ndarray, int]:
    """Pairs (i, j), i < j, sorted, at most ``reach`` apart, one among the ``most`` nearest of the other.

    Nearest means nearer first, then the lower index. Also returned: how many points had more
    than ``most`` within reach. ``most`` None: every pair within reach.

    Memory: the pairs kept (at most ``most`` per point before the mutual ones are merged) and
    one batch of distances.
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    n = len(xy)
    if n < 2 or not reach > 0:
        return np.zeros((0, 2), dtype=np.int64), 0
    grid = make_grid(xy, reach)
    cost = _candidates(grid)[grid.cell_of_points()]  # per point: the points of its 3 x 3 cells
    found: list[np.ndarray] = []
    crowded = 0
    done = np.zeros(n, dtype=bool)
    dense = np.flatnonzero(cost > DENSE * (most + 1)) if most is not None else cost[:0]
    if most is not None and len(dense):
        crowded = _dense_pairs(xy, reach / FINER, most, dense, done, found)
    cell = np.repeat(np.arange(len(grid.keys)), grid.count)  # of each point, in cell order
    for batch in _batches(np.maximum(cost[grid.members], len(AROUND))):
        batch = batch[~done[grid.members[batch]]]
        if not len(batch):
            continue
        keys, over = _pairs_of(grid, grid.members[batch], cell[batch], reach, most)
        if len(keys):
            found.append(np.unique(keys))  # the mutual choices met in one batch, once already
        crowded += over
    keys = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    found.clear()
    keys.sort()  # in place, then a mutual choice met in two batches kept once: no copy beyond the mask
    keys = keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys
    pairs = np.empty((len(keys), 2), dtype=np.int64)
    np.floor_divide(keys, n, out=pairs[:, 0])
    np.remainder(keys, n, out=pairs[:, 1])
    return pairs, crowded


#: Points with more than this many times ``most + 1`` points in their 3 x 3 cells are searched first
#: within a reach :data:`FINER` times smaller (:func:`_dense_pairs`).
DENSE = 4
FINER = 8


def _candidates(grid: Grid) -> np.ndarray:
    """Per cell, the points of its 3 x 3 cells."""
    candidates = np.zeros(len(grid.keys), dtype=np.int64)
    for dx, dy in AROUND:
        other = grid.neighbour(dx, dy)
        candidates += np.where(other >= 0, grid.count[other], 0)
    return candidates


def _dense_pairs(
    xy: np.ndarray, near: float, most: int, points: np.ndarray, done: np.ndarray, found: list[np.ndarray]
) -> int:
    """The chosen pairs of the ``points`` with more than ``most`` others within ``near``; how many there were.

    Their ``most`` nearest lie within ``near`` (of the reach, a fraction), so a grid that fine
    finds them all among a few candidates each (100,000 sections 10 nm apart: 40, not 300). Those
    points are marked in ``done`` and their pairs (keys) appended to ``found``; the others are
    left to the search within the whole reach.
    """
    n = len(xy)
    grid = make_grid(xy, near)
    cells = grid.cell_of_points()
    cost = _candidates(grid)[cells[points]]
    crowded = 0
    for batch in _batches(np.maximum(cost, len(AROUND))):
        i, j, d = _within(grid, points[batch], cells[points[batch]], near)
        _, length = _runs(i)
        full = np.repeat(length > most, length)  # (more than ``most`` within ``near``: their nearest are here)
        i, j, d = i[full], j[full], d[full]
        if not len(i):
            continue
        i, j, over = _nearest_of(i, j, d, near, most)
        crowded += over
        done[i] = True
        found.append(np.unique(np.minimum(i, j) * n + np.maximum(i, j)))
    return crowded


def _within(
    grid: Grid, points: np.ndarray, cells: np.ndarray, reach: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each of ``points`` (in cells ``cells``) with every other point within ``reach``: (i, j, distance), i in runs."""
    near = np.stack([grid.neighbour(dx, dy, cells) for dx, dy in AROUND], axis=1)  # (points, 9) cells
    valid = near >= 0
    owner = np.repeat(points, valid.sum(axis=1))
    segment = near[valid]
    size = grid.count[segment]
    i = np.repeat(owner, size)
    j = grid.members[_ragged(grid.start[segment], size)]
    d = _distance(grid.xy, i, j)
    keep = (d <= reach) & (i != j)
    return i[keep], j[keep], d[keep]


def _nearest_of(
    i: np.ndarray, j: np.ndarray, d: np.ndarray, reach: float, most: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Of each point's pairs (``i`` in runs), its ``most`` nearest (nearer, then the lower index); how many had more."""
    first, length = _runs(i)
    over = int((length > most).sum())
    i, j, d = _near_enough(i, j, d, reach, most, first, length)
    order = np.lexsort((j, d, i))  # per point, nearer first, then the lower index
    i, j = i[order], j[order]
    first, length = _runs(i)
    keep = np.arange(len(i)) - np.repeat(first, length) < most
    return i[keep], j[keep], over


def _pairs_of(
    grid: Grid, points: np.ndarray, cells: np.ndarray, reach: float, most: int | None
) -> tuple[np.ndarray, int]:
    """The chosen pairs of ``points`` (in cells ``cells``) as keys min * n + max; how many had more than ``most``."""
    n = len(grid.xy)
    i, j, d = _within(grid, points, cells, reach)
    over = 0
    if most is None:
        keep = i < j  # each pair is met from both of its points: kept from the lower
        i, j = i[keep], j[keep]
    else:
        i, j, over = _nearest_of(i, j, d, reach, most)
    return np.minimum(i, j) * n + np.maximum(i, j), over


#: Bits of the distance in :func:`_near_enough`'s one integer key (the point's run above them).
DISTANCE_BITS = 40


def _runs(i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of equal values of ``i`` starts, and its length."""
    first = np.flatnonzero(np.r_[True, i[1:] != i[:-1]]) if len(i) else np.zeros(0, dtype=np.int64)
    return first, np.diff(np.r_[first, len(i)])


def _near_enough(
    i: np.ndarray, j: np.ndarray, d: np.ndarray, reach: float, most: int, first: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs of each point that can be among its ``most`` nearest (``i`` in runs ``first``, ``length``).

    Each point's ``most``-th smallest distance, rounded down to 2**-40 of the reach, found by one
    sort of one integer key (the run, then the rounded distance), and the pairs at or below it
    kept: every pair nearer than the ``most``-th is kept, ties and near ties too, so that the
    exact order (lexsort by distance, then index) of the few left decides as it would of all.
    In crowded places (hundreds within reach of each point) it leaves a few per point, and the
    lexsort of three keys, most of the search's time there, sorts those only.
    """
    if not (length > most).any() or len(first) >= 1 << (62 - DISTANCE_BITS):  # (the key's bits: runs of a batch)
        return i, j, d
    run = np.repeat(np.arange(len(first), dtype=np.int64), length)
    scale = float(1 << DISTANCE_BITS)
    rounded = np.minimum(d / reach * scale, scale - 1).astype(np.int64)  # (0 <= d <= reach: 0 to 2**40 - 1)
    key = (run << DISTANCE_BITS) | rounded
    ordered = np.sort(key, kind="stable")  # (timsort: the key ascends run by run, and in stretches within one)
    long = np.flatnonzero(length > most)
    bound = np.full(len(first), np.iinfo(np.int64).max)
    bound[long] = ordered[first[long] + most - 1]
    keep = key <= bound[run]
    return i[keep], j[keep], d[keep]
