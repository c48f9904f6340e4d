"""``--select`` exact beyond the core's own branch and bound, and bounded in memory (issues 77 and 80).

The oracle of the crowded cases is an integer program written here, apart from the package: the
pairs within the distance found by scipy's k-d tree (not the core's grid), each pair a row
``x_a + x_b <= 1``, solved by ``scipy.optimize.milp`` for the most picks or the largest score sum.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cryodedup.algo import selection_solver
from cryodedup.algo.dedup import dedup
from cryodedup.algo.selection import EXACT_LIMIT
from cryodedup.report.sections.selection import BestSelection

scipy_optimize = pytest.importorskip("scipy.optimize")
scipy_spatial = pytest.importorskip("scipy.spatial")
pytest.importorskip("highspy")


def _milp_optimum(points: np.ndarray, weights: np.ndarray, min_dist: float) -> float:
    """The largest weight sum of picks no two within ``min_dist`` (scipy's MILP, proved optimal)."""
    pairs = scipy_spatial.cKDTree(points).query_pairs(min_dist, output_type="ndarray")
    rows = np.repeat(np.arange(len(pairs)), 2)
    from scipy.sparse import csr_matrix

    a = csr_matrix((np.ones(2 * len(pairs)), (rows, pairs.ravel())), shape=(len(pairs), len(points)))
    done = scipy_optimize.milp(
        -weights,
        constraints=scipy_optimize.LinearConstraint(a, -np.inf, 1),
        integrality=np.ones(len(points)),
        bounds=scipy_optimize.Bounds(0, 1),
        options={"mip_rel_gap": 0.0},
    )
    assert done.status == 0, done.message
    return float(weights @ np.round(done.x))


def _crowded(seed: int, n: int, dim: int, neighbours: float) -> tuple[np.ndarray, np.ndarray, float]:
    """``n`` picks in a cube (square) with about ``neighbours`` within the distance each, scores in (0, 1]."""
    rng = np.random.default_rng(seed)
    side = 1000.0
    ball = np.pi if dim == 2 else 4 / 3 * np.pi
    min_dist = float((neighbours * side**dim / n / ball) ** (1 / dim))
    return rng.uniform(0, side, (n, dim)), rng.uniform(0.001, 1.0, n).round(4), min_dist


@pytest.mark.parametrize(("seed", "n", "dim"), [(1, 700, 2), (2, 1200, 3)])
def test_crowded_micrographs_equal_an_independent_milp_optimum(seed, n, dim):
    points, scores, min_dist = _crowded(seed, n, dim, 6.0)
    groups = np.zeros(n, np.int64)
    most = dedup(groups, points, scores, min_dist=min_dist, select="most-particles")
    best = dedup(groups, points, scores, min_dist=min_dist, select="best-score")
    assert most.selection.largest > EXACT_LIMIT  # (beyond the core's own exact search)
    assert most.n_kept == round(_milp_optimum(points, np.ones(n), min_dist))
    assert scores[best.keep].sum() == pytest.approx(_milp_optimum(points, scores, min_dist), abs=1e-6)
    for result in (most, best):
        c = result.selection
        assert c.bounded == 0 and c.proven >= 1 and c.solver.startswith("HiGHS")
        assert c.kept == result.n_kept and c.score == pytest.approx(scores[result.keep].sum())
        kept = points[result.keep]
        assert scipy_spatial.cKDTree(kept).query_pairs(min_dist) == set()
        rejected = np.flatnonzero(~result.keep)
        partner = result.suppressed_by[rejected]
        assert result.keep[partner].all()
        assert (np.linalg.norm(points[rejected] - points[partner], axis=1) <= min_dist).all()


def test_without_highs_the_bounded_sets_stand_and_the_run_says_so(monkeypatch):
    points, scores, min_dist = _crowded(3, 600, 2, 6.0)
    monkeypatch.setattr(selection_solver, "_highs", lambda: selection_solver.NOT_INSTALLED)
    result = dedup(np.zeros(600, np.int64), points, scores, min_dist=min_dist, select="best-score")
    c = result.selection
    assert c.bounded >= 1 and c.proven == 0 and c.solver.startswith("none")
    assert c.bounded_score <= c.bounded_score_bound
    text = BestSelection(**vars(c)).rows("")[0][1]
    assert "HiGHS not installed" in text


def test_a_time_budget_out_keeps_the_bounded_set_or_better(monkeypatch):
    points, scores, min_dist = _crowded(4, 3000, 3, 6.0)
    groups = np.zeros(3000, np.int64)
    monkeypatch.setattr(selection_solver, "_highs", lambda: selection_solver.NOT_INSTALLED)
    bounded = dedup(groups, points, scores, min_dist=min_dist, select="best-score")
    monkeypatch.undo()
    monkeypatch.setattr(selection_solver, "COMPONENT_SECONDS", 0.01)
    timed_out = dedup(groups, points, scores, min_dist=min_dist, select="best-score")
    c = timed_out.selection
    assert c.proven + c.bounded == bounded.selection.bounded
    assert scores[timed_out.keep].sum() >= scores[bounded.keep].sum() - 1e-9
    assert c.bounded_score <= c.bounded_score_bound + 1e-9


def test_100k_picks_within_one_distance_finish_under_a_3_gb_cap():
    # Today's main aborts (memory allocation of 4294967296 bytes failed, SIGABRT): the group's
    # 5e9 pairs. Now it is walked greedily (one pick kept) and the counts say so.
    script = textwrap.dedent(
        """
        import numpy as np
        from cryodedup.algo.dedup import dedup
        n = 100_000
        rng = np.random.default_rng(1)
        centres = rng.uniform(0, 10, (n, 2))
        result = dedup(np.zeros(n, np.int64), centres, rng.uniform(0.001, 1, n), min_dist=20.0, select="best-score")
        c = result.selection
        print(result.n_kept, c.walked, c.walked_picks, c.components)
        """
    )
    done = subprocess.run(
        ["bash", "-c", f'ulimit -v 3000000 && exec "{sys.executable}" -c "$0"', script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "1", "100000", "0"]
