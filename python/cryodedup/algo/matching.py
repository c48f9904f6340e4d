"""One-to-one matching of two pick sets within a radius: precision, recall and F-beta against a reference.

A pick of the set scored is a true positive when it is matched to a pick of the reference on
its micrograph within the radius, each pick matched at most once, with as many matches as
there can be (a maximum bipartite matching, Hopcroft and Karp): the way the CZ Imaging
Institute's cryo-ET challenge and copick's evaluation score picks.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .neighbours import neighbour_pairs

__all__ = ["f_beta", "maximum_matching", "pairs_within"]


def pairs_within(a: np.ndarray, ga: np.ndarray, b: np.ndarray, gb: np.ndarray, radius: float) -> np.ndarray:
    """Every pair (i, j) of a pick of ``a`` and one of ``b`` on one micrograph at most ``radius`` apart, (k, 2).

    The micrographs are laid side by side in x, more than the radius apart, and the pairs found
    on x and y by :func:`~cryodedup.algo.neighbours.neighbour_pairs`; a third axis (tomograms)
    is then checked.
    """
    if not len(a) or not len(b) or not radius > 0:
        return np.zeros((0, 2), dtype=np.int64)
    both = np.concatenate([a, b])
    groups = np.concatenate([ga, gb]).astype(np.int64)
    low, high = both[:, 0].min(), both[:, 0].max()
    xy = both[:, :2].copy()
    xy[:, 0] = (xy[:, 0] - low) + groups * ((high - low) + 3 * radius)
    pairs = neighbour_pairs(xy, radius)
    first, second = pairs[:, 0], pairs[:, 1]
    across = (first < len(a)) & (second >= len(a))  # (i < j: a pick of a comes first)
    i, j = first[across], second[across] - len(a)
    if a.shape[1] > 2:
        i, j = _within_radius(a, b, i, j, radius)
    same = np.asarray(ga)[i] == np.asarray(gb)[j]  # (never otherwise: the gap is wider than the radius)
    return np.stack([i[same], j[same]], axis=1)


def _within_radius(a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray, radius: float) -> tuple:
    keep = ((a[i] - b[j]) ** 2).sum(axis=1) <= radius * radius
    return i[keep], j[keep]


def maximum_matching(n_a: int, n_b: int, pairs: np.ndarray) -> np.ndarray:
    """A maximum matching of the bipartite graph of edges ``pairs`` (i of a, j of b): each i's partner, -1 if none.

    Pairs whose two picks have no other pair are matched at once (most of them); Hopcroft and
    Karp's algorithm matches the rest.
    """
    partner_a = np.full(n_a, -1, dtype=np.int64)
    if not len(pairs):
        return partner_a
    i, j = pairs[:, 0], pairs[:, 1]
    alone = (np.bincount(i, minlength=n_a)[i] == 1) & (np.bincount(j, minlength=n_b)[j] == 1)
    partner_a[i[alone]] = j[alone]
    rest_i, rest_j = i[~alone], j[~alone]
    if len(rest_i):
        _hopcroft_karp(rest_i, rest_j, partner_a, n_b)
    return partner_a


def _hopcroft_karp(i: np.ndarray, j: np.ndarray, partner_a: np.ndarray, n_b: int) -> None:
    """Hopcroft and Karp's maximum matching of the edges (i, j), into ``partner_a`` (other picks untouched)."""
    order = np.argsort(i, kind="stable")
    left = np.unique(i)
    adjacency: dict[int, list[int]] = {int(u): [] for u in left}
    for u, v in zip(i[order].tolist(), j[order].tolist()):
        adjacency[u].append(v)
    match_a: dict[int, int] = {}
    match_b: dict[int, int] = {}
    infinity = len(left) + 1
    while True:
        # Breadth first from every free pick of a: the layers of shortest alternating paths.
        layer = {}
        queue: deque[int] = deque()
        for u in adjacency:
            if u not in match_a:
                layer[u] = 0
                queue.append(u)
        found = infinity
        while queue:
            u = queue.popleft()
            if layer[u] >= found:
                continue
            for v in adjacency[u]:
                w = match_b.get(v)
                if w is None:
                    found = min(found, layer[u] + 1)
                elif w not in layer:
                    layer[w] = layer[u] + 1
                    queue.append(w)
        if found == infinity:
            break
        # Depth first along the layers from each free pick: vertex-disjoint augmenting paths.
        for root in [u for u in adjacency if u not in match_a]:
            _augment(root, adjacency, layer, match_a, match_b, found)
    for u, v in match_a.items():
        partner_a[u] = v


def _augment(
    root: int,
    adjacency: dict[int, list[int]],
    layer: dict[int, int],
    match_a: dict[int, int],
    match_b: dict[int, int],
    found: int,
) -> bool:
    """One augmenting path from ``root`` along the layers, flipped into the matching (iterative depth first)."""
    stack = [(root, iter(adjacency[root]))]
    path: list[tuple[int, int]] = []
    while stack:
        u, edges = stack[-1]
        advanced = False
        for v in edges:
            w = match_b.get(v)
            if w is None and layer[u] + 1 == found:
                path.append((u, v))
                for pu, pv in path:  # flip the path: each pick of a takes its next partner
                    match_a[pu] = pv
                    match_b[pv] = pu
                return True
            if w is not None and layer.get(w) == layer[u] + 1:
                path.append((u, v))
                stack.append((w, iter(adjacency[w])))
                advanced = True
                break
        if not advanced:
            layer[u] = -1  # a dead end: never entered again in this phase
            stack.pop()
            if path:
                path.pop()
    return False


def f_beta(precision: float, recall: float, beta: float) -> float:
    """(1 + beta^2) P R / (beta^2 P + R); 0 when both are 0."""
    denominator = beta * beta * precision + recall
    return (1 + beta * beta) * precision * recall / denominator if denominator > 0 else 0.0
