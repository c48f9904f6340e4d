"""The CZII challenge's metric (algo/czii.py) against the published description, written here by brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cryodedup.algo.czii import (
    CHALLENGE_RADII,
    CHALLENGE_WEIGHTS,
    class_hits,
    class_scores,
    threshold_sweep,
    weighted_score,
)
from czii_oracle import described_counts, described_metric, described_sweep, random_project


def computed(reference, candidate, threshold, scores=None):
    """algo/czii's hits of rows (tomogram, centre)."""

    def arrays(rows):
        centres = np.array([c for _, c in rows], float).reshape(-1, 3)
        return centres, np.array([t for t, _ in rows], np.int64)

    (ref, gr), (cand, gc) = arrays(reference), arrays(candidate)
    return class_hits(ref, gr, cand, gc, threshold, None if scores is None else np.asarray(scores, float))


# --- hand-made cases ---------------------------------------------------------------------------------------------


def test_two_hits_on_one_reference_pick_count_one_true_and_one_false_positive():
    reference = [(0, (100, 100, 100)), (0, (500, 100, 100))]
    candidate = [(0, (110, 100, 100)), (0, (90, 100, 100)), (0, (900, 900, 100))]
    hits = computed(reference, candidate, 30.0)
    assert (hits.tp, hits.fp, hits.fn) == (1, 2, 1) == described_counts(reference, candidate, 30.0)


def test_a_hit_at_exactly_the_threshold_counts_and_a_hair_beyond_does_not():
    # Apo-ferritin's radius 60 Å x 0.5: 30 Å, inclusive (KDTree.query_ball_tree's distance <= r).
    threshold = CHALLENGE_RADII["apo-ferritin"] * 0.5
    reference = [(0, (1000.0, 1000.0, 500.0)), (1, (1000.0, 1000.0, 500.0))]
    candidate = [(0, (1030.0, 1000.0, 500.0)), (1, (1000.0, 1000.0, 530.0 + 1e-9))]
    hits = computed(reference, candidate, threshold)
    assert hits.hit.tolist() == [True, False]
    assert (hits.tp, hits.fp, hits.fn) == (1, 1, 1) == described_counts(reference, candidate, threshold)


def test_a_tomogram_is_its_own_space_a_pick_of_another_hits_nothing():
    hits = computed([(0, (100, 100, 100))], [(1, (100, 100, 100))], 30.0)
    assert (hits.tp, hits.fp, hits.fn) == (0, 1, 1)


def test_no_candidates_of_a_class_scores_zero_and_no_references_leaves_all_false():
    none = computed([(0, (100, 100, 100))], [], 30.0)
    assert (none.tp, none.fp, none.fn) == (0, 0, 1)
    scored = class_scores(0, 0, 1, 4)
    assert (scored.precision, scored.recall, scored.f_beta) == (0.0, 0.0, 0.0)
    alone = computed([], [(0, (1, 2, 3)), (0, (4, 5, 6))], 30.0)
    assert (alone.tp, alone.fp, alone.fn) == (0, 2, 0)


def test_one_candidate_between_two_reference_picks_hits_both_as_the_challenge_counts():
    # (the challenge's own code counts each reference pick hit: its false positives fall to -1)
    reference = [(0, (100, 100, 100)), (0, (140, 100, 100))]
    hits = computed(reference, [(0, (120, 100, 100))], 30.0)
    assert (hits.tp, hits.fp, hits.fn) == (2, -1, 0) == described_counts(reference, [(0, (120, 100, 100))], 30.0)


def test_the_weighted_score_uses_the_challenges_weights_beta_amylase_not_counted():
    f = {"apo-ferritin": 0.9, "beta-amylase": 0.1, "ribosome": 0.5, "thyroglobulin": 0.3}
    expected = (0.9 * 1 + 0.1 * 0 + 0.5 * 1 + 0.3 * 2) / (1 + 0 + 1 + 2)
    assert weighted_score(f, CHALLENGE_WEIGHTS) == pytest.approx(expected)
    assert weighted_score({"beta-amylase": 0.5}, CHALLENGE_WEIGHTS) is None


def test_the_sweep_of_a_hand_made_class():
    # Reference A hit by candidates of score 0.9 and 0.3 (a duplicate), B by 0.5, C by none; one stray of 0.7.
    reference = [(0, (0, 0, 0)), (0, (1000, 0, 0)), (0, (2000, 0, 0))]
    candidate = [(0, (5, 0, 0)), (0, (0, 5, 0)), (0, (1005, 0, 0)), (0, (5000, 0, 0))]
    scores = [0.9, 0.3, 0.5, 0.7]
    hits = computed(reference, candidate, 30.0, scores)
    sweep = threshold_sweep(hits, np.array(scores), 1.0)
    # t=0.9: 1/1, 1/3; t=0.7: 1/2, 1/3; t=0.5: 2/3, 2/3; t=0.3: 2/4, 2/3.
    assert sweep.thresholds.tolist() == [0.9, 0.7, 0.5, 0.3]
    assert sweep.precision == pytest.approx([1, 0.5, 2 / 3, 0.5])
    assert sweep.recall == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3])
    assert sweep.average_precision == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3)
    assert sweep.best_threshold == 0.5 and sweep.best_f_beta == pytest.approx(2 / 3)
    assert hits.nearest[hits.hit] == pytest.approx([5, 5])


# --- random copick-like projects: several tomograms and classes ---------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_random_projects_score_as_the_published_description(seed):
    reference, candidate = random_project(seed)
    multiplier = [0.5, 0.5, 1.0, 0.25][seed % 4]
    expected, expected_score = described_metric(
        reference, [r[:3] for r in candidate], CHALLENGE_RADII, CHALLENGE_WEIGHTS, multiplier
    )
    tomograms = {t for t, _, _ in reference}
    f_betas = {}
    for name, (tp, fp, fn, precision, recall, f) in expected.items():
        refs = [(t, c) for t, k, c in reference if k == name]
        cands = [(t, c) for t, k, c, _ in candidate if k == name and t in tomograms]
        hits = computed(refs, cands, CHALLENGE_RADII[name] * multiplier)
        assert (hits.tp, hits.fp, hits.fn) == (tp, fp, fn), name
        scored = class_scores(hits.tp, hits.fp, hits.fn, 4.0)
        assert (scored.precision, scored.recall, scored.f_beta) == pytest.approx((precision, recall, f))
        f_betas[name] = scored.f_beta
    score = weighted_score(f_betas, CHALLENGE_WEIGHTS)
    assert score == pytest.approx(expected_score) if expected_score is not None else score is None


@pytest.mark.parametrize("seed", range(12))
def test_random_sweeps_equal_the_brute_force_sweep(seed):
    reference, candidate = random_project(seed)
    name = reference[0][1]
    threshold = CHALLENGE_RADII[name] * 0.5
    tomograms = {t for t, _, _ in reference}
    refs = [(t, c) for t, k, c in reference if k == name]
    rows = [(t, c, s) for t, k, c, s in candidate if k == name and t in tomograms]  # (as compare leaves them)
    points, area, best = described_sweep(refs, rows, threshold, tomograms, beta=4.0)
    scores = np.array([s for _, _, s in rows])
    hits = computed(refs, [(t, c) for t, c, _ in rows], threshold, scores)
    sweep = threshold_sweep(hits, scores, 4.0)
    assert sweep.thresholds.tolist() == [p[0] for p in points]
    assert sweep.precision == pytest.approx([p[1] for p in points])
    assert sweep.recall == pytest.approx([p[2] for p in points])
    assert sweep.f_beta == pytest.approx([p[3] for p in points])
    assert sweep.average_precision == pytest.approx(area)
    assert sweep.best_threshold == best[0] and sweep.best_f_beta == pytest.approx(best[3])


@pytest.mark.parametrize("seed", range(6))
def test_the_localisation_error_is_each_hit_reference_picks_nearest_hitter(seed):
    reference, candidate = random_project(seed)
    name = reference[0][1]
    threshold = CHALLENGE_RADII[name] * 0.5
    refs = [(t, c) for t, k, c in reference if k == name]
    cands = [(t, c) for t, k, c, _ in candidate if k == name]
    expected = [
        min(math.dist(c, r) for g, c in cands if g == t and math.dist(c, r) <= threshold)
        for t, r in refs
        if any(g == t and math.dist(c, r) <= threshold for g, c in cands)
    ]
    hits = computed(refs, cands, threshold)
    assert hits.nearest[hits.hit] == pytest.approx(expected)
