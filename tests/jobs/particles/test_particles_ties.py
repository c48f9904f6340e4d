"""Groups of duplicates that tie on the score: decided by the order of the inputs, and said so
(issue 54, section 5). Hand-worked cases, and a brute force over random sets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryodedup.algo.dedup import DuplicateRule, Ranking, dedup_and_support_masks
from cryodedup.algo.priority import tied_groups
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.jobs.particles.job import run
from cryodedup.jobs.particles.plan import plan
from cryodedup.jobs.particles.read import Files
from cryodedup.options import ParticleOptions
from cryodedup.report.summary import particle_rows
from helpers import write_star
from oracle import oracle

LABELS = [
    "rlnMicrographName",
    "rlnCoordinateX",
    "rlnCoordinateY",
    "rlnAutopickFigureOfMerit",
    "rlnImageName",
    "rlnOpticsGroup",
]
OPTICS = [[1, "og", 1.0, 1.0]]


def source_and_reextraction(tmp_path, n=6, better=()):
    """A particle set and its re-extraction: the same centres and scores, other image names.

    The re-extracted particles numbered in ``better`` score 0.5 higher than their source.
    """
    rows = [
        [f"mic_{k % 2}.mrc", 100 + 50 * k, 200, 0.1 * k, f"{k + 1:06d}@Extract/job010/mic.mrcs", 1] for k in range(n)
    ]
    again = [
        [r[0], r[1], r[2], r[3] + (0.5 if k in better else 0), f"{k + 1:06d}@Extract/job099/mic.mrcs", 1]
        for k, r in enumerate(rows)
    ]
    source = write_star(tmp_path / "source.star", LABELS, rows, optics=OPTICS)
    reextracted = write_star(tmp_path / "reextracted.star", LABELS, again, optics=OPTICS)
    return source, reextracted


def test_merging_a_reextraction_with_its_source_says_input_order_decided(tmp_path):
    source, again = source_and_reextraction(tmp_path)
    typed = run(Files.of([source, again]), tmp_path / "out", plan(ParticleOptions(min_dist=0))).summary
    summary = typed.to_json()
    assert [i["kept"] for i in summary["inputs"]] == [6, 0]  # every copy of the second input lost a tie
    ties = summary["score"]["ties"]
    assert ties["groups"] == 6 and ties["decided_by"] == "input order"
    score_row = dict(particle_rows(typed.overview(), typed.sections()))["Score"]
    assert "6 groups tied on the score: decided by input order; --prefer chooses" in score_row


def test_only_the_groups_that_tie_are_counted(tmp_path):
    # Re-extracted particles 1 and 4 score higher than their source: the score decides those two.
    source, again = source_and_reextraction(tmp_path, better=(1, 4))
    summary = remove_duplicate_particles([source, again], tmp_path / "out", ParticleOptions(min_dist=0))
    assert [i["kept"] for i in summary.to_json()["inputs"]] == [4, 2]
    assert summary.to_json()["score"]["ties"]["groups"] == 4


def test_no_ties_no_line(tmp_path):
    source, again = source_and_reextraction(tmp_path, better=range(6))
    typed = run(Files.of([source, again]), tmp_path / "out", plan(ParticleOptions(min_dist=0))).summary
    assert "ties" not in typed.to_json()["score"]
    assert "tied" not in dict(particle_rows(typed.overview(), typed.sections()))["Score"]


def test_prefer_over_a_tie_is_not_against_the_score(tmp_path):
    source, again = source_and_reextraction(tmp_path, better=(1,))
    options = ParticleOptions(min_dist=0, prefer=[str(again)])
    typed = run(Files.of([source, again]), tmp_path / "out", plan(options)).summary
    summary = typed.to_json()
    assert [i["kept"] for i in summary["inputs"]] == [0, 6]
    priority = summary["priority"]
    # The five ties were --prefer's to decide; the score would have given none of the six to the source.
    assert (priority["by_priority"], priority["against_score"], priority["tied_on_score"]) == (6, 0, 5)
    assert "ties" not in summary["score"]  # none was left to the input order
    text = dict(particle_rows(typed.overview(), typed.sections()))["Priority"]
    assert "0 that the score would have given to another pick; 5 tied on the score" in text


def test_prefer_against_a_better_score_is_counted(tmp_path):
    # The source preferred although its copies 1 and 4 score higher: against the score twice.
    source, again = source_and_reextraction(tmp_path, better=(1, 4))
    options = ParticleOptions(min_dist=0, prefer=[str(source)])
    summary = remove_duplicate_particles([source, again], tmp_path / "out", options)
    priority = summary.to_json()["priority"]
    assert (priority["against_score"], priority.get("tied_on_score", 0)) == (2, 4)


def brute_force_ties(keep, by, scores, inputs, levels):
    """Groups whose kept row and a suppressed row of another input tie on the score (both no score
    counts as a tie), split into those of one level and those a lower level won."""
    same_level, preferred = set(), set()
    for row, kept in enumerate(by):
        if keep[row] or kept < 0 or inputs[row] == inputs[kept]:
            continue
        a, b = scores[row], scores[kept]
        if a == b or (not math.isfinite(a) and not math.isfinite(b)):
            (preferred if levels[inputs[kept]] < levels[inputs[row]] else same_level).add(kept)
    return len(same_level), len(preferred)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 12), st.integers(0, 3), st.sampled_from([0.0, 0.5, 1.0, math.nan])),
        max_size=30,
    ),
    st.lists(st.integers(0, 1), min_size=3, max_size=3),
    st.sampled_from([0.0, 3.0]),
)
def test_tied_groups_agree_with_a_brute_force(rows, levels, min_dist):
    groups = np.array([r[0] for r in rows], np.int64)
    coords = np.array([[float(r[1]), 0.0] for r in rows]).reshape(-1, 2)
    inputs = np.array([r[2] % 3 for r in rows], np.int64)
    scores = np.array([r[3] for r in rows])
    result, _ = dedup_and_support_masks(
        groups, coords, inputs, DuplicateRule(min_dist), Ranking(scores, input_priorities=levels)
    )
    keep, by = oracle(
        groups.tolist(), coords.tolist(), scores.tolist(), min_dist, True, levels=[levels[k] for k in inputs]
    )
    assert result.keep.tolist() == keep
    got = tied_groups(result.suppressed_by, scores, inputs, np.array(levels))
    assert (got.by_input_order, got.by_priority) == brute_force_ties(keep, by, scores.tolist(), inputs.tolist(), levels)
