"""Input priority (``--prefer``), scores that mean "none", and the same image twice, at the
array level: hand-worked cases and the brute-force oracle (docs/design.md section 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryodedup import dedup
from cryodedup.algo.dedup import DuplicateRule, Ranking, dedup_and_support_masks
from cryodedup.algo.priority import (
    PriorityCounts,
    combine_levels,
    count_without_score,
    input_levels,
    preference,
    preferred_inputs,
    preferred_pick_sets,
    scores_without_none,
)
from cryodedup.errors import CryodedupError
from cryodedup.formats.sniff import is_glob
from oracle import oracle, oracle_priority

# One micrograph, four picks within 10 Å of each other: a hand pick (level 0, no score), two
# LoG picks (level 1, scores 0.3 and 0.9) and a third input's pick (level 2, score 5).
COORDS = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [2.0, 2.0]])
SCORES = np.array([np.nan, 0.3, 0.9, 5.0])


def test_a_preferred_pick_wins_whatever_the_scores():
    got = dedup(np.zeros(4, np.int64), COORDS, SCORES, min_dist=10, priorities=[0, 1, 1, 2])
    assert got.keep.tolist() == [True, False, False, False]
    assert got.suppressed_by.tolist() == [-1, 0, 0, 0]


def test_the_score_decides_within_a_level():
    # The hand pick's input not preferred: levels 1, 0, 0, 1. Within level 0, 0.9 beats 0.3.
    got = dedup(np.zeros(4, np.int64), COORDS, SCORES, min_dist=10, priorities=[1, 0, 0, 1])
    assert got.keep.tolist() == [False, False, True, False]
    # Lower is better (an error): 0.3 wins level 0.
    got = dedup(np.zeros(4, np.int64), COORDS, SCORES, min_dist=10, priorities=[1, 0, 0, 1], higher_is_better=False)
    assert got.keep.tolist() == [False, True, False, False]


def test_across_levels_a_chain_is_walked_by_level():
    # 0 Å (level 1, score 9), 15 Å (level 0, score 1), 30 Å (level 1, score 5), min_dist 20:
    # the level-0 pick in the middle is kept first and suppresses both ends.
    coords = np.array([[0.0, 0.0], [15.0, 0.0], [30.0, 0.0]])
    got = dedup(np.zeros(3, np.int64), coords, [9.0, 1.0, 5.0], min_dist=20, priorities=[1, 0, 1])
    assert got.keep.tolist() == [False, True, False]
    # Without levels the best score (9) is kept first and the far end survives.
    assert dedup(np.zeros(3, np.int64), coords, [9.0, 1.0, 5.0], min_dist=20).keep.tolist() == [True, False, True]


def test_scores_that_are_not_finite_rank_below_every_real_score():
    groups = np.zeros(4, np.int64)
    for higher in (True, False):
        scores = [np.inf, -np.inf, np.nan, -1e300]
        got = dedup(groups, COORDS, scores, min_dist=10, higher_is_better=higher)
        assert got.keep.tolist() == [False, False, False, True], higher
    # Only "none" scores: the first row (ties by row).
    got = dedup(groups, COORDS, [np.nan, np.inf, np.nan, -np.inf], min_dist=10)
    assert got.keep.tolist() == [True, False, False, False]


def test_relion_minus_999_is_no_score_for_the_figure_of_merit_only():
    scores = np.array([-999.0, 0.2, -999.5])
    cleaned = scores_without_none(scores, "rlnAutopickFigureOfMerit")
    assert np.isnan(cleaned[0]) and cleaned[1:].tolist() == [0.2, -999.5]
    assert scores[0] == -999.0, "the input array is left alone"
    assert scores_without_none(scores, "rlnMaxValueProbDistribution") is scores
    assert count_without_score(np.array([np.nan, 1.0, np.inf, -np.inf])) == 3
    assert count_without_score(None) == 0


def test_preferred_inputs_by_path_or_position(tmp_path):
    a, b, c = (tmp_path / n for n in ("a.star", "b.star", "c.star"))
    for p in (a, b, c):
        p.write_text("")
    inputs = [a, b, c]
    assert preferred_inputs([str(c), "1"], inputs) == [[2], [0]]
    assert preferred_inputs([c], inputs) == [[2]]
    assert preferred_inputs([str(tmp_path / "." / "b.star")], inputs) == [[1]]  # the same file by another path
    assert input_levels([[2], [0]], 3).tolist() == [1, 2, 0]
    with pytest.raises(CryodedupError, match=r"--prefer 4: not one of the inputs; .*\(1: .*a.star, 2: "):
        preferred_inputs(["4"], inputs)
    with pytest.raises(CryodedupError, match="preferred twice"):
        preferred_inputs(["1", str(a)], inputs)
    with pytest.raises(CryodedupError, match="--prefer 0: not one of the inputs"):
        preferred_inputs(["0"], inputs)


def test_a_folder_prefers_the_inputs_beneath_it_and_a_file_its_input_folder(tmp_path, monkeypatch):
    # Trial 3: --prefer ManualPick/job004 was refused for the input ManualPick/job004/manualpick.star,
    # and --prefer ManualPick/job004/manualpick.star for the input folder ManualPick/job004.
    monkeypatch.chdir(tmp_path)
    for job in ("ManualPick/job004", "ManualPick/job005", "AutoPick/job010"):
        (tmp_path / job).mkdir(parents=True)
        (tmp_path / job / "coords.star").write_text("")
    files = [
        Path("AutoPick/job010/coords.star"),
        Path("ManualPick/job004/coords.star"),
        Path("ManualPick/job005/coords.star"),
    ]
    assert preferred_inputs(["ManualPick/job004"], files) == [[1]]
    assert preferred_inputs(["ManualPick/job004/"], files) == [[1]]  # (a trailing slash, as a shell completes it)
    assert preferred_inputs(["ManualPick", "AutoPick"], files) == [[1, 2], [0]]  # both jobs at one level
    assert preference(["ManualPick/", "1"], [str(f) for f in files]) == [
        ("ManualPick/", [1, 2]),
        ("AutoPick/job010/coords.star", [0]),
    ]
    folders = [Path("AutoPick/job010"), Path("ManualPick/job004")]
    assert preferred_inputs(["ManualPick/job004/coords.star"], folders) == [[1]]
    (tmp_path / "AutoPick/job010/Movies").mkdir()
    (tmp_path / "AutoPick/job010/Movies/m1.star").write_text("")
    assert preferred_inputs([str(tmp_path / "AutoPick/job010/Movies/m1.star")], folders) == [[0]]  # by its path
    assert preferred_inputs(["AutoPick"], [Path("AutoPick/job010/Movies/*.star")]) == [[0]]  # a pattern beneath
    with pytest.raises(CryodedupError, match=r"--prefer ManualPick/job004: .*job004/coords.star is preferred twice"):
        preferred_inputs(["ManualPick", "ManualPick/job004"], files)
    with pytest.raises(CryodedupError, match=r"--prefer Extract: not one of the inputs \(no such file or folder\); "):
        preferred_inputs(["Extract"], files)


def test_an_empty_a_missing_or_an_every_input_prefer_is_refused_and_a_pattern_matches(tmp_path, monkeypatch):
    # Trial 4: --prefer "" and --prefer . took every input at one level (deciding nothing), and a
    # file that does not exist in an input folder named that input (a typo passed unnoticed);
    # a file that an input pattern matches was refused.
    monkeypatch.chdir(tmp_path)
    for job in ("ManualPick/job004/Movies", "AutoPick/job010/Movies"):
        (tmp_path / job).mkdir(parents=True)
        (tmp_path / job / "m1_pick.star").write_text("")
    inputs = [Path("ManualPick/job004/Movies/*_pick.star"), Path("AutoPick/job010")]
    for value in ("", " "):
        with pytest.raises(CryodedupError, match=r"an empty value names no input"):
            preferred_inputs([value], inputs)
    with pytest.raises(CryodedupError, match=r"--prefer \.: holds every input \(2\), which puts them all at one"):
        preferred_inputs(["."], inputs)
    with pytest.raises(CryodedupError, match=r"job010/nonexist.star: not one of the inputs \(no such file or folder\)"):
        preferred_inputs(["AutoPick/job010/nonexist.star"], inputs)
    assert preferred_inputs(["AutoPick/job010/Movies/m1_pick.star"], inputs) == [[1]]
    assert preferred_inputs(["ManualPick/job004/Movies/m1_pick.star"], inputs, is_glob) == [[0]]  # the pattern's
    assert preferred_inputs(["1"], [Path("only.star")]) == [[0]]  # one input: its own level, as before


def test_a_user_and_a_slash_is_refused_not_guessed():
    # Trial 3: --prefer alice/ was silently read as all of alice's sessions.
    labels = ["alice/1", "alice/2", "bob/1"]
    with pytest.raises(
        CryodedupError, match=r"--prefer alice/: no session after the slash; give alice/1 or alice/2, or alice for all"
    ):
        preferred_pick_sets(["alice/"], labels)
    assert preferred_pick_sets(["alice"], labels) == [("alice", [0, 1])]
    with pytest.raises(CryodedupError, match="--prefer carol/: not one of the copick pick sets read"):
        preferred_pick_sets(["carol/"], labels)


def test_preferred_pick_sets_by_label_user_or_position():
    # copick pick sets: a user/session, a user alone (all its sessions, one level), a position; a
    # user called "2" is that user, not the second pick set.
    labels = ["2/0", "alice/1", "alice/2", "bob/1"]
    assert preferred_pick_sets(["bob/1", "alice"], labels) == [("bob/1", [3]), ("alice", [1, 2])]
    assert preferred_pick_sets(["3", 2], labels) == [("alice/2", [2]), ("2", [0])]
    assert preferred_pick_sets([2], labels[1:]) == [("alice/2", [1])]
    assert input_levels([[3], [1, 2]], 4).tolist() == [2, 1, 1, 0]
    with pytest.raises(CryodedupError, match=r"--prefer 5: not one of the copick pick sets read; .*\(1: 2/0, 2: ali"):
        preferred_pick_sets(["5"], labels)
    with pytest.raises(CryodedupError, match=r"--prefer alice: alice/2 is preferred twice \(--prefer 3 too\)"):
        preferred_pick_sets(["3", "alice"], labels)


def test_combined_levels_rank_by_the_first_then_the_second():
    first = np.array([0, 0, 1, 1], np.uint32)
    then = np.array([2, 0, 0, 2], np.uint32)
    assert combine_levels(first, then).tolist() == [2, 0, 3, 5]
    assert combine_levels(None, then) is then and combine_levels(first, None) is first


def test_groups_decided_by_priority_and_by_score():
    # Row 0 (level 0, score 1) is kept over rows 1 (level 1, score 2) and 2 (level 0, 0.5)
    # within 20 Å: priority decided its group, against the score (row 1's is better). Row 3
    # (level 1, score 1) is kept over row 4 (level 1, 0.5): the score decided. Row 5 is alone.
    coords = [[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [100.0, 0.0], [105.0, 0.0], [300.0, 0.0]]
    scores = [1.0, 2.0, 0.5, 1.0, 0.5, 1.0]
    levels = [0, 1, 0, 1, 1, 0]
    mics = np.zeros(6, np.int64)
    got = dedup(mics, coords, scores, min_dist=20, priorities=levels)
    assert got.keep.tolist() == [True, False, False, True, False, True]
    assert got.priority == PriorityCounts(2, [1], 1)
    # Level by input (inputs 0, 1 at levels 1, 0): the same decision, the same counts.
    inputs = np.array([1, 0, 1, 0, 0, 1])
    by_input, _ = dedup_and_support_masks(
        mics, coords, inputs, DuplicateRule(20), Ranking(scores, input_priorities=[1, 0])
    )
    assert by_input.keep.tolist() == got.keep.tolist() and by_input.priority == got.priority
    # Lower scores better: row 2 (0.5) is kept over rows 0 and 1 (levels 0 and 1; row 1's 2
    # is worse): priority agreed with the score. Removing entirely counts nothing.
    lower = dedup(mics, coords, scores, min_dist=20, priorities=levels, higher_is_better=False)
    assert lower.keep.tolist() == [False, False, True, False, True, True] and lower.priority == PriorityCounts(
        2, [1], 0
    )
    assert dedup(mics, coords, scores, min_dist=20, priorities=levels, remove_entirely=True).priority is None
    assert dedup(mics, coords, scores, min_dist=20).priority is None
    with pytest.raises(ValueError, match="input_priorities needs inputs"):
        dedup_and_support_masks(
            mics, coords, inputs, DuplicateRule(20), Ranking(scores, priorities=levels, input_priorities=[1, 0])
        )


def test_rows_of_one_image_at_other_centres_are_duplicates():
    # Image 5 at 0 and at 300 Å (one particle refined apart in two selections); image 6 twice
    # at 100 Å (symmetry copies: one centre); image 0 is none.
    coords = np.array([[0.0, 0.0], [300.0, 0.0], [100.0, 0.0], [100.0, 0.0], [500.0, 0.0], [700.0, 0.0]])
    images = np.array([5, 5, 6, 6, 0, 0], np.uint64)
    scores = [1.0, 2.0, 1.0, 3.0, 1.0, 1.0]
    got = dedup(np.zeros(6, np.int64), coords, scores, min_dist=20, images=images)
    assert got.keep.tolist() == [False, True, False, True, True, True]
    assert got.suppressed_by.tolist() == [1, -1, 3, -1, -1, -1]
    # The preferred copy of an image wins over the better score.
    got = dedup(np.zeros(6, np.int64), coords, scores, min_dist=20, images=images, priorities=[0, 1, 0, 0, 0, 0])
    assert got.keep.tolist()[:2] == [True, False]
    # Symmetry copies kept apart by orientation stay: one centre is not "the same image twice".
    poses = np.zeros((6, 3))
    poses[3] = [0.0, 0.0, 90.0]
    got = dedup(np.zeros(6, np.int64), coords, scores, min_dist=20, images=images, poses=poses, max_angle=10)
    assert got.keep.tolist() == [False, True, True, True, True, True]
    with pytest.raises(ValueError, match="whole_tubes does not compare images"):
        dedup(np.zeros(6, np.int64), coords, scores, min_dist=20, images=images, tubes=np.ones(6), whole_tubes=True)


@st.composite
def ranked_cases(draw):
    n = draw(st.integers(0, 24))
    coord = st.integers(0, 30).map(float)
    coords = [[draw(coord), draw(coord)] for _ in range(n)]
    groups = [draw(st.sampled_from([0, 1])) for _ in range(n)]
    score = st.one_of(
        st.sampled_from([0.0, 1.0, float("nan"), float("inf"), float("-inf")]), st.floats(-5, 5, allow_nan=False)
    )
    scores = [draw(score) for _ in range(n)]
    levels = [draw(st.integers(0, 2)) for _ in range(n)]
    images = [draw(st.sampled_from([0, 0, 1, 2, 3, 2**63 + 5])) for _ in range(n)]
    return groups, coords, scores, levels, images, draw(st.sampled_from([0.0, 2.0, 7.5])), draw(st.booleans())


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(ranked_cases(), st.booleans(), st.sampled_from(["rows", "masks", "inputs"]))
def test_priorities_none_scores_and_images_agree_with_the_oracle(case, entirely, levels_by):
    groups, coords, scores, levels, images, min_dist, higher = case
    arrays = (np.array(groups, np.int64), np.array(coords, float).reshape(-1, 2), np.array(scores))
    rules = {"min_dist": min_dist, "higher_is_better": higher, "remove_entirely": entirely}
    images_here = np.array(images, np.uint64)
    rule = DuplicateRule(min_dist, remove_entirely=entirely, images=images_here)
    if levels_by == "masks":  # the pass that also finds the consensus masks decides alike
        ranking = Ranking(arrays[2], higher, priorities=levels)
        got, _ = dedup_and_support_masks(*arrays[:2], np.array(levels) % 2, rule, ranking)
    elif levels_by == "inputs":  # each input's level (input k at level 2 - k), looked up through the rows' inputs
        inputs = 2 - np.array(levels, np.int64)
        got, _ = dedup_and_support_masks(
            *arrays[:2], inputs, rule, Ranking(arrays[2], higher, input_priorities=[2, 1, 0])
        )
    else:
        got = dedup(*arrays, images=images_here, priorities=levels, **rules)
    keep, by = oracle(groups, coords, scores, min_dist, higher, entirely, levels=levels, images=images)
    assert got.keep.tolist() == keep
    if entirely:
        assert got.priority is None
        return
    assert got.suppressed_by.tolist() == by
    decided = oracle_priority(levels, keep, by, scores, higher)
    assert (got.priority.groups, sum(got.priority.by_priority), got.priority.against_score) == decided
