"""Positions near each other (algo/neighbours.py): groups and capped pairs against brute force (issue 38, item 8).

The brute force looks at every pair with ``math.hypot``; the grid must give the same groups
and the same pairs, with ties (points on a lattice, points at one spot) broken by index, and
with batches cut small enough that every path of the batching is taken.
"""

from __future__ import annotations

import itertools
import math
import resource
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

from cryodedup.algo import neighbours
from cryodedup.algo.neighbours import linked_groups, nearest_pairs, neighbour_pairs
from fixtures.synthetic import write_line_mdoc


def brute_groups(xy, reach):
    """Groups numbered by their first point: union of every pair within reach."""
    label = list(range(len(xy)))
    for i, j in itertools.combinations(range(len(xy)), 2):
        if math.hypot(*(xy[i] - xy[j])) <= reach:
            old, new = max(label[i], label[j]), min(label[i], label[j])
            label = [new if x == old else x for x in label]
    return np.unique(label, return_inverse=True)[1].reshape(-1)


def brute_nearest(xy, reach, most):
    """Every point's ``most`` nearest within reach (nearer, then lower index), as unordered pairs; the crowded count."""
    pairs, crowded = set(), 0
    for i in range(len(xy)):
        near = sorted((math.hypot(*(xy[i] - xy[j])), j) for j in range(len(xy)) if j != i)
        near = [j for d, j in near if d <= reach]
        if most is not None and len(near) > most:
            crowded += 1
            near = near[:most]
        pairs |= {(min(i, j), max(i, j)) for j in near}
    return pairs, crowded


def layouts(rng):
    yield "uniform", rng.uniform(0, 5, (120, 2))
    yield "lattice (ties)", rng.integers(0, 6, (120, 2)).astype(float) * 0.5
    yield "stacks of ten at one spot", np.repeat(rng.uniform(0, 3, (12, 2)), 10, axis=0)
    yield "a line 10 nm apart", np.stack([np.arange(150) * 0.01, np.zeros(150)], axis=1)
    yield "far apart, tiny reach", rng.normal(0, 1e3, (60, 2))
    # (distances apart by less than 2**-40 of the reach: the prefilter's rounding ties them, the index decides)
    yield "ties finer than a key's rounding", np.stack([0.25 + rng.permutation(40) * 1e-15, np.zeros(40)], axis=1)
    yield "a few (every pair measured)", rng.uniform(0, 2, (neighbours.FEW_POINTS, 2))
    yield "one more than a few", rng.uniform(0, 2, (neighbours.FEW_POINTS + 1, 2))
    yield "one point", np.zeros((1, 2))
    yield "none", np.zeros((0, 2))


@pytest.mark.slow
@pytest.mark.parametrize("block", [7, neighbours.BLOCK])
@pytest.mark.parametrize("reach", [0.3, 1.0, 1e-12])
def test_groups_and_pairs_agree_with_brute_force(monkeypatch, block, reach):
    monkeypatch.setattr(neighbours, "BLOCK", block)  # 7: every batch small, every crowded cell split
    for name, xy in layouts(np.random.default_rng(3)):
        assert linked_groups(xy, reach).tolist() == brute_groups(xy, reach).tolist(), name
        for most in (None, 1, 3, 8):
            pairs, crowded = nearest_pairs(xy, reach, most)
            expected, expected_crowded = brute_nearest(xy, reach, most)
            assert {tuple(p) for p in pairs.tolist()} == expected, (name, most)
            assert crowded == (expected_crowded if most is not None else 0), (name, most)
            assert (np.lexsort((pairs[:, 1], pairs[:, 0])) == np.arange(len(pairs))).all()  # sorted


def test_no_reach_leaves_each_point_alone():
    xy = np.zeros((5, 2))
    assert linked_groups(xy, 0.0).tolist() == [0, 1, 2, 3, 4]
    assert len(neighbour_pairs(xy, 0.0)) == 0


def test_memory_of_a_crowded_line_is_a_few_pairs_per_point():
    """20,000 points 10 nm apart: before issue 38 the grouping listed every pair within 10 µm (20M)."""
    n = 20_000
    xy = np.stack([np.arange(n) * 0.01, np.zeros(n)], axis=1)
    tracemalloc.start()
    try:
        groups = linked_groups(xy, 10.0)
        stops = linked_groups(xy, 0.3)
        pairs, crowded = nearest_pairs(xy, 1.0, 8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert groups.max() == 0 and stops.max() == 0  # one chain
    # hand-worked: the 8 nearest of a point inside the line are the 4 on each side (4n - 10 pairs up
    # to 4 apart); the first four points reach 4, 3, 2 and 1 further to the right, the last four to the left
    assert crowded == n and len(pairs) == 4 * n - 10 + 2 * (4 + 3 + 2 + 1)
    assert peak < 400 * n + 10 * 2**20, f"{peak / n:.0f} bytes per point"


def test_a_crowded_line_orders_a_few_pairs_per_point_exactly(monkeypatch):
    """20,000 points 10 nm apart, each within reach of 200: only a few pairs a point go through the exact order.

    The exact order (distance, then index: a lexsort of three keys) was most of the search's time
    there, over all 200 (the barrage's 100,000 sections went past its 10 s). Counted, not timed:
    the elements lexsorted, against the hand-worked pairs (each point's 4 nearest on either side).
    """
    n = 20_000
    xy = np.stack([np.arange(n) * 0.01, np.zeros(n)], axis=1)
    sorted_rows = []
    lexsort = np.lexsort
    monkeypatch.setattr(np, "lexsort", lambda keys: sorted_rows.append(len(keys[0])) or lexsort(keys))
    pairs, crowded = nearest_pairs(xy, 1.0, 8)
    assert crowded == n and len(pairs) == 4 * n - 10 + 2 * (4 + 3 + 2 + 1)
    assert sum(sorted_rows) <= 12 * n, f"{sum(sorted_rows) / n:.0f} pairs a point ordered exactly"


@pytest.mark.slow
def test_100k_sections_on_one_line_run_under_a_4_gb_address_space(tmp_path):
    """The issue's case end to end: a .mdoc of 100,000 sections 10 nm apart, --no-images, RLIMIT_AS 4 GB."""
    write_line_mdoc(tmp_path, 100_000, 0.01)
    script = textwrap.dedent(
        """
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        from cryodedup.entry import main
        sys.argv = ["cryodedup", *sys.argv[1:]]
        main()
        """
    )
    command = [sys.executable, "-c", script, "micrographs", str(tmp_path / "mics.star"), "--no-images"]
    command += ["--metadata", str(tmp_path / "line.mdoc"), "-o", str(tmp_path / "out"), "--json"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    assert "100,000 micrographs have more than 8 others within the beam diameter" in run.stderr
    assert '"crowded_micrographs": 100000, "most_neighbours": 8' in run.stdout
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 2 << 20  # kB: under 2 GB resident
