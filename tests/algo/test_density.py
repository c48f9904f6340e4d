"""The duplicate-density outlier rule on hand-worked cases (algo/density.py).

Rule: a micrograph is an outlier when its duplicate fraction is above
median + max(3.5 x 1.4826 x MAD, 0.10) over the micrographs with picks, and it has at least 5
duplicates. Each case's numbers are worked out by hand in its comments.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cryodedup.algo.density import duplicate_density, outliers, rejected_as_duplicates
from cryodedup.report.sections import DuplicateDensity


def fates(picks_and_duplicates):
    """groups and duplicate mask of micrographs given as (picks, duplicates) each."""
    groups, duplicate = [], []
    for m, (n, d) in enumerate(picks_and_duplicates):
        groups += [m] * n
        duplicate += [True] * d + [False] * (n - d)
    return np.array(groups, dtype=np.int64), np.array(duplicate, dtype=bool)


def test_a_stacking_micrograph_among_even_ones():
    # Fractions 0.10, 0.10, 0.12, 0.08, 0.10, 0.60: median 0.10; deviations 0, 0, 0.02, 0.02,
    # 0, 0.50: MAD 0.01, robust SD 0.014826, 3.5 of them 0.0519 < 0.10, so the threshold is
    # 0.10 + 0.10 = 0.20. Only the last (30 of 50) is above it, with 30 >= 5 duplicates.
    groups, duplicate = fates([(50, 5), (50, 5), (50, 6), (50, 4), (50, 5), (50, 30)])
    names = [f"mic_{k}.mrc" for k in range(6)]
    d = duplicate_density(groups, duplicate, names)
    assert d.median == 0.1 and d.robust_sd == pytest.approx(0.0148, abs=1e-4)
    assert d.threshold == pytest.approx(0.2)
    assert DuplicateDensity(d).to_json()["outliers"] == [
        {"micrograph": "mic_5.mrc", "picks": 50, "duplicates": 30, "fraction": 0.6}
    ]
    assert d.micrographs_with_picks == 6


def test_the_robust_spread_sets_the_threshold_when_it_is_wide():
    # Fractions 0, 0.1, 0.2, 0.3, 0.4 (picks 100 each) and 0.95: median (0.2 + 0.3) / 2 = 0.25;
    # deviations 0.25, 0.15, 0.05, 0.05, 0.15, 0.70: MAD (0.15 + 0.15) / 2 = 0.15, robust SD
    # 0.22239, 3.5 of them 0.77837 > 0.10: threshold 1.0284; not even 0.95 is an outlier.
    counts = [(100, 0), (100, 10), (100, 20), (100, 30), (100, 40), (100, 95)]
    groups, duplicate = fates(counts)
    found, numbers = outliers(*np.array(counts).T)
    assert numbers["threshold"] == pytest.approx(1.0284, abs=1e-4) and len(found) == 0
    assert duplicate_density(groups, duplicate, list("abcdef")).outliers == ()


def test_a_few_picks_are_not_enough():
    # Ten micrographs with 0 duplicates (median 0, MAD 0: threshold 0.10); one with 4 of 5
    # picks duplicates (0.8: above, but 4 < 5 duplicates), one with 5 of 40 (0.125: above,
    # and 5 duplicates) and one with 6 of 100 (0.06: under). Micrographs without picks count
    # for nothing (their ids lie between).
    counts = [(20, 0)] * 10 + [(5, 4), (0, 0), (40, 5), (100, 6)]
    picks, duplicates = np.array(counts).T
    found, numbers = outliers(picks, duplicates)
    assert numbers == {"median": 0.0, "robust_sd": 0.0, "threshold": 0.1}
    assert found.tolist() == [12]


def test_the_worst_first_and_ties_by_duplicates_then_order():
    # Fractions: 0 x 8, then 0.5 (10 of 20), 0.9 (9 of 10), 0.5 (20 of 40), 0.5 (10 of 20):
    # median 0, threshold 0.10. Worst first: 0.9; then the 0.5s, most duplicates first (20),
    # then by their place (8 before 11).
    counts = [(30, 0)] * 8 + [(20, 10), (10, 9), (40, 20), (20, 10)]
    found, _ = outliers(*np.array(counts).T)
    assert found.tolist() == [9, 10, 8, 11]


def test_no_picks_gives_strict_json():
    d = duplicate_density(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), ["a", "b"])
    assert d.median is None and d.threshold is None and d.outliers == ()
    json.dumps(DuplicateDensity(d).to_json(), allow_nan=False)
    assert DuplicateDensity(d).rows("micrograph") == []


def test_rejected_as_duplicates_leaves_out_the_consensus_rejections():
    keep = np.array([True, False, False, False, True])
    unconfirmed = np.array([False, True, False, False, False])  # rejected: too few inputs picked it
    not_confirmable = np.array([False, False, True, False, False])  # rejected by --uncovered reject
    assert rejected_as_duplicates(keep, unconfirmed, not_confirmable).tolist() == [False, False, False, True, False]
    assert rejected_as_duplicates(keep, None, None).tolist() == [False, True, True, True, False]


def test_the_summary_row_names_the_outliers_and_the_rule():
    counts = [(50, 5)] * 4 + [(50, 40)] + [(20, 0)] * 10 + [(30, 20)] * 11
    groups, duplicate = fates(counts)
    names = [f"Micrographs/mic_{k:02d}.mrc" for k in range(len(counts))]
    d = duplicate_density(groups, duplicate, names)
    assert len(d.outliers) == 12
    ((label, text),) = DuplicateDensity(d).rows("micrograph")
    lines = text.split("\n")
    assert label == "Duplicate outliers"
    assert lines[0].startswith(f"12 of 26 micrographs with a duplicate fraction above {d.threshold:.2f}")
    assert "3.5 robust SD" in lines[1] and "at least 5 duplicates" in lines[1]
    assert lines[2] == "Micrographs/mic_04.mrc: 80% (40 of 50 picks)"  # the worst first
    assert len(lines) == 2 + 10 + 1 and lines[-1] == "and 2 more (all in --json: duplicate_density)"
