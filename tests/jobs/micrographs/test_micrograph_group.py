"""Thresholds that hold: the run's own null for z, the joint score, uncertain pairs and the margin.

The real 52-micrograph set is not in the repository: ``write_reexposure_set`` makes a set like
it (true pairs whose Pearson coefficient falls under 0.3 at 30 Å, unrelated pairs lifted by a
camera's fixed pattern); the truth is known by construction.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from cryodedup.jobs.micrographs.decide import NULL_PAIRS, decide, z_threshold
from cryodedup.jobs.micrographs.plan import micrograph_plan
from cryodedup.jobs.micrographs.score import ScoredPairs
from cryodedup.options import MicrographOptions
from fixtures.synthetic import write_reexposure_set


def test_z_threshold_is_the_floor_or_the_runs_null():
    rng = np.random.default_rng(0)
    few = rng.normal(6, 1, NULL_PAIRS - 1)
    assert z_threshold(few, 8.0)[0] == 8.0
    many = np.r_[rng.normal(6, 1, 5000), [90.0, 100.0]]  # two duplicates do not move the null
    threshold, null = z_threshold(many, 8.0)
    median = np.median(many)
    sd = 1.4826 * np.median(np.abs(many - median))
    assert threshold == pytest.approx(median + 8 * sd)
    assert 13.5 < threshold < 14.5 and null.rule.startswith("null median")
    quiet = rng.normal(4.5, 0.2, 500)  # a clean run: the floor holds
    assert z_threshold(quiet, 8.0)[0] == 8.0


def test_joint_score_uncertain_band_and_margin():
    z = np.array([100.0, 9.0, 7.0, 40.0, 8.5, 4.0] + [4.5] * 40)
    pearson = np.array([0.5, 0.01, 0.2, 0.17, 0.16, np.nan] + [0.02] * 40)
    unknown = np.full(len(z), np.nan)  # (no plan: the shifts and overlaps are not read)
    scores = ScoredPairs(np.zeros((len(z), 2), dtype=np.int64), z, unknown, unknown, pearson, unknown)
    d = decide(scores, micrograph_plan(MicrographOptions()).decision, None)
    assert d.min_z == 8.0 and d.min_pearson == 0.15
    # joint = min(z / 8, Pearson / 0.15), computed by hand
    expected = [min(100 / 8, 0.5 / 0.15), 0.01 / 0.15, 7 / 8, 0.17 / 0.15, min(8.5 / 8, 0.16 / 0.15), -np.inf]
    assert d.joint[:6] == pytest.approx(expected)
    assert d.duplicate[:6].tolist() == [True, False, False, True, True, False]
    assert d.uncertain[:6].tolist() == [False, False, True, True, True, False]
    margin = d.margin()
    assert margin.weakest_duplicate == pytest.approx(min(8.5 / 8, 0.16 / 0.15), abs=1e-3)
    assert margin.strongest_other == pytest.approx(7 / 8, abs=1e-3)


@pytest.fixture(scope="module")
def real_like(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reexposures")
    truth = write_reexposure_set(folder, np.random.default_rng(5), count=20, pairs=2, apart=10)
    return folder, {tuple(p) for p in truth}


@pytest.mark.slow
@pytest.mark.parametrize("target", [12, 30])
def test_every_true_pair_and_no_false_one_at_12_and_30_angstrom(real_like, tmp_path, target):
    folder, truth = real_like
    result = CliRunner().invoke(
        main,
        ["micrographs", str(folder / "mic_*.mrc"), "-o", str(tmp_path), "--target-psize", str(target), "--json", "-q"],
    )
    assert result.exit_code == 0, result.output
    s = json.loads(result.stdout)
    with open(tmp_path / "pairs.csv") as f:
        pairs = list(csv.DictReader(f))
    found = {(int(p["index_a"]), int(p["index_b"])) for p in pairs if p["duplicate"] == "1"}
    assert found == truth
    assert s["margin"]["ratio"] > 1.5 and s["uncertain_pairs"] == 0
    true_pearson = [float(p["pearson"]) for p in pairs if (int(p["index_a"]), int(p["index_b"])) in truth]
    if target == 30:
        assert min(true_pearson) < 0.3  # what the old fixed threshold missed


def _brute_roots(n, pairs, rank):
    """Each item's group walked from it pair by pair (every pair looked at until none adds one), its lowest rank."""
    roots = []
    for item in range(n):
        group, grown = {item}, True
        while grown:
            grown = False
            for a, b in pairs:
                if (a in group) != (b in group):
                    group |= {a, b}
                    grown = True
        roots.append(min(group, key=lambda k: rank[k]))
    return roots


@pytest.mark.parametrize("seed", range(4))
def test_groups_keep_their_lowest_ranked_micrograph_as_brute_force_finds(seed):
    """Random pairs among 60 micrographs in a shuffled order: each one's root, against a walk of its group."""
    from cryodedup.jobs.micrographs.placement import linked_roots

    rng = np.random.default_rng(seed)
    n = 60
    pairs = rng.integers(0, n, (int(rng.integers(0, 80)), 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    rank = rng.permutation(n)
    assert linked_roots(n, pairs, rank).tolist() == _brute_roots(n, pairs.tolist(), rank)


def test_tied_ranks_keep_the_first_joined_root():
    """Micrographs outside the plan share one rank (n): at a tie the root met first takes the other (hand-worked)."""
    from cryodedup.jobs.micrographs.placement import linked_roots

    rank = np.array([5, 5, 5, 0])
    assert linked_roots(4, np.array([[1, 2], [2, 0]]), rank).tolist() == [1, 1, 1, 3]
    assert linked_roots(4, np.array([[1, 2], [0, 3]]), rank).tolist() == [3, 1, 1, 3]
