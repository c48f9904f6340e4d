"""The best selection (``--select best-score`` / ``most-particles``, issue 69 item 5) against an exhaustive search.

The oracle enumerates every subset of a micrograph's picks, keeps those with no two within the
distance, and takes the largest score sum (or the most picks); it shares nothing with the core
(no components, no branch and bound, no search structure).
"""

from __future__ import annotations

import csv
import itertools
import json

import numpy as np
import pytest

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.algo.dedup import dedup
from cryodedup.algo.selection import EXACT_LIMIT
from cryodedup.errors import CryodedupError
from helpers import shared_file


def _independent(points: np.ndarray, subset: tuple[int, ...], min_dist: float) -> bool:
    return all(np.sum((points[a] - points[b]) ** 2) > min_dist**2 for a, b in itertools.combinations(subset, 2))


def _oracle_best(points: np.ndarray, scores: np.ndarray, min_dist: float, most: bool) -> tuple[int, float]:
    """The best (picks, score sum) of any subset with no two picks within ``min_dist``: by score sum, or most picks."""
    best = (0, 0.0)
    n = len(points)
    for size in range(n + 1):
        for subset in itertools.combinations(range(n), size):
            if not _independent(points, subset, min_dist):
                continue
            value = (size, float(scores[list(subset)].sum()))
            better = value > best if most else (value[1], value[0]) > (best[1], best[0])
            best = value if better else best
    return best


def _check_valid(groups, points, keep, partners, min_dist):
    """No two kept picks of one micrograph within the distance; each rejected pick names a kept one within it."""
    for g in np.unique(groups):
        rows = np.flatnonzero((groups == g) & keep)
        assert _independent(points, tuple(rows), min_dist)
    for row in np.flatnonzero(~keep):
        partner = partners[row]
        assert keep[partner] and groups[partner] == groups[row]
        assert np.sum((points[row] - points[partner]) ** 2) <= min_dist**2


@pytest.mark.parametrize("select", ["best-score", "most-particles"])
def test_equals_an_exhaustive_search_on_random_small_micrographs(select):
    rng = np.random.default_rng(69)
    for trial in range(60):
        n = int(rng.integers(2, 13))
        groups = rng.integers(0, 2, n)
        points = rng.uniform(0, 30 + 40 * rng.random(), (n, 2))
        scores = np.round(rng.uniform(0, 5, n), 1)
        result = dedup(groups, points, scores, min_dist=20.0, select=select)
        _check_valid(groups, points, result.keep, result.suppressed_by, 20.0)
        for g in np.unique(groups):
            rows = np.flatnonzero(groups == g)
            want = _oracle_best(points[rows], scores[rows], 20.0, select == "most-particles")
            kept = rows[result.keep[rows]]
            got = (len(kept), float(scores[kept].sum()))
            if select == "most-particles":
                assert got[0] == want[0], f"trial {trial}"
            else:
                assert got[1] == pytest.approx(want[1], abs=1e-9), f"trial {trial}"


def test_a_chain_by_hand():
    # 0, 15 and 30 Å at 20 Å, the middle one best (3 against 1 and 1): greedy keeps the middle
    # one; the most particles are both ends; the best score sum is the middle one (3 > 2).
    points = np.array([[0.0, 0.0], [15.0, 0.0], [30.0, 0.0]])
    scores = np.array([1.0, 3.0, 1.0])
    greedy = dedup(np.zeros(3, int), points, scores, min_dist=20.0)
    most = dedup(np.zeros(3, int), points, scores, min_dist=20.0, select="most-particles")
    best = dedup(np.zeros(3, int), points, scores, min_dist=20.0, select="best-score")
    assert greedy.keep.tolist() == [False, True, False] and greedy.selection is None
    assert most.keep.tolist() == [True, False, True] and most.suppressed_by.tolist() == [-1, 0, -1]
    assert best.keep.tolist() == [False, True, False]
    counts = most.selection
    assert most.selection.selection == "most-particles" and EXACT_LIMIT == 128
    assert (counts.greedy_kept, counts.kept, counts.greedy_score, counts.score) == (1, 2, 3.0, 2.0)
    assert (counts.components, counts.exact, counts.bounded, counts.largest) == (1, 1, 0, 3)


def test_large_components_stay_valid_and_no_worse_than_greedy():
    # A crowded micrograph: one component of hundreds of picks, beyond the exact limit.
    rng = np.random.default_rng(5)
    points = rng.uniform(0, 300, (600, 2))
    scores = rng.uniform(0, 1, 600)
    groups = np.zeros(600, int)
    greedy = dedup(groups, points, scores, min_dist=20.0)
    for select in ("best-score", "most-particles"):
        result = dedup(groups, points, scores, min_dist=20.0, select=select)
        _check_valid(groups, points, result.keep, result.suppressed_by, 20.0)
        c = result.selection
        assert c.bounded + c.proven > 0 and c.largest > EXACT_LIMIT
        assert c.greedy_kept == greedy.n_kept  # (the core's greedy count is the greedy run's)
        assert c.greedy_score == pytest.approx(scores[greedy.keep].sum())
        if select == "best-score":
            assert scores[result.keep].sum() >= scores[greedy.keep].sum() - 1e-9
            assert c.bounded_score <= c.bounded_score_bound
        else:
            assert result.n_kept >= greedy.n_kept and c.bounded_kept <= c.bounded_kept_bound


def test_refusals_in_one_line(tmp_path):
    with pytest.raises(ValueError, match="select must be one of"):
        dedup([0], [[0.0, 0.0]], min_dist=1.0, select="best")
    with pytest.raises(ValueError, match="not with remove_entirely"):
        dedup([0], [[0.0, 0.0]], min_dist=1.0, select="most-particles", remove_entirely=True)
    with pytest.raises(CryodedupError, match="--select most-particles and --prefer exclude each other"):
        ParticleOptions(select="most-particles", prefer=["a.star"]).check()
    with pytest.raises(CryodedupError, match="--select best-score and --remove-entirely exclude each other"):
        ParticleOptions(select="best-score", remove_entirely=True).check()


def _star(path, rows):
    lines = ["data_particles", "loop_", "_rlnMicrographName", "_rlnCoordinateX", "_rlnCoordinateY"]
    lines += ["_rlnAutopickFigureOfMerit"]
    path.write_text("\n".join(lines + [" ".join(map(str, row)) for row in rows]) + "\n")


def test_negative_scores_are_refused_for_a_score_sum(tmp_path):
    _star(tmp_path / "p.star", [["m.mrc", 0, 0, -1.0], ["m.mrc", 5, 0, 2.0]])
    options = ParticleOptions(min_dist=10.0, mic_psize=1.0, select="best-score")
    with pytest.raises(CryodedupError, match="values below 0 .*--score-normalize rank"):
        remove_duplicate_particles([tmp_path / "p.star"], tmp_path / "out", options)


def test_the_record_names_a_kept_duplicate_and_the_rule(tmp_path):
    # The chain by hand through the job: the middle pick is rejected, naming a kept end (row 1) 15 Å away.
    _star(tmp_path / "p.star", [["m.mrc", 0, 0, 1.0], ["m.mrc", 15, 0, 3.0], ["m.mrc", 30, 0, 1.0]])
    options = ParticleOptions(min_dist=20.0, mic_psize=1.0, select="most-particles", decisions=True)
    summary = remove_duplicate_particles([tmp_path / "p.star"], tmp_path / "out", options)
    assert (summary.kept, summary.to_json()["selection"]["greedy_kept"]) == (2, 1)
    with open(tmp_path / "out" / "decisions.csv", newline="") as f:
        record = list(csv.DictReader(f))
    assert len(record) == 1 and record[0]["rule"] == "best selection"
    assert float(record[0]["distance_A"]) == 15.0


TUTORIAL = "picks/relion31-tutorial"


@pytest.mark.real_data
@pytest.mark.parametrize("min_dist", [100.0, 150.0])
def test_the_tutorial_merge_against_greedy(tmp_path, min_dist):
    # The RELION 3.1 tutorial's template (job011) and LoG (job006) pickers on their 5 shared
    # micrographs: the best selection keeps a valid set at least as good as greedy's, and its
    # greedy counts are those of a greedy run of the same picks (benches/RESULTS.md has the numbers).
    folders = [shared_file(f"{TUTORIAL}/AutoPick/{job}/Movies") for job in ("job011", "job006")]
    micrographs = shared_file(f"{TUTORIAL}/CtfFind/job003/micrographs_ctf.star")
    runs = {}
    for select in ("greedy", "best-score", "most-particles"):
        options = ParticleOptions(micrographs=micrographs, min_dist=min_dist, select=select, decisions=True)
        runs[select] = remove_duplicate_particles(folders, tmp_path / select, options)
    greedy = runs["greedy"]
    kept_scores = {}
    for select in ("best-score", "most-particles"):
        chosen = runs[select].to_json()["selection"]
        assert chosen["greedy_kept"] == greedy.kept and runs[select].kept == chosen["kept"]
        with open(tmp_path / select / "decisions.csv", newline="") as f:
            record = list(csv.DictReader(f))
        assert len(record) == runs[select].rejected
        assert all(r["rule"] == "best selection" and float(r["distance_A"]) <= min_dist for r in record)
        kept_scores[select] = (chosen["kept"], chosen["score"], chosen["greedy_score"])
    assert kept_scores["most-particles"][0] >= greedy.kept
    assert kept_scores["best-score"][1] >= kept_scores["best-score"][2] - 1e-6
    json.dumps({select: run.to_json() for select, run in runs.items()})  # (their documents are JSON)


def test_update_rounds_keep_the_earlier_set_and_select_among_the_rest(tmp_path):
    # Round 1, a chain by hand (0, 15, 30 Å at 20 Å, the middle best): the most picks are the ends.
    # Round 2: a pick at 45 Å (score 9) lies 15 Å from the kept end at 30: the earlier round's
    # particle stays and rejects it, whatever its score; a new chain at 100, 115, 130 keeps its ends.
    # A round that changes --select is refused, naming it.
    _star(tmp_path / "a.star", [["m.mrc", 0, 0, 1.0], ["m.mrc", 15, 0, 3.0], ["m.mrc", 30, 0, 1.0]])
    _star(
        tmp_path / "b.star",
        [["m.mrc", 45, 0, 9.0], ["m.mrc", 100, 0, 1.0], ["m.mrc", 115, 0, 3.0], ["m.mrc", 130, 0, 1.0]],
    )
    options = ParticleOptions(min_dist=20.0, mic_psize=1.0, select="most-particles", update=True, decisions=True)
    first = remove_duplicate_particles([tmp_path / "a.star"], tmp_path / "out", options)
    second = remove_duplicate_particles([tmp_path / "b.star"], tmp_path / "out", options)
    assert (first.kept, second.kept, second.to_json()["update"]["rejected_by_kept"]) == (2, 2, 1)
    with open(tmp_path / "out" / "round_0002_decisions.csv", newline="") as f:
        rules = [row["rule"] for row in csv.DictReader(f)]
    assert rules == ["earlier round", "best selection"]
    _star(tmp_path / "c.star", [["m.mrc", 500, 0, 1.0]])
    with pytest.raises(CryodedupError, match="--select default here, most-particles in the store.s rounds"):
        greedy = ParticleOptions(min_dist=20.0, mic_psize=1.0, update=True)
        remove_duplicate_particles([tmp_path / "c.star"], tmp_path / "out", greedy)


def test_rows_of_one_image_elsewhere_are_duplicates_under_the_best_selection():
    # --same-image reject's rule joins the graph: rows 0 and 2 share an image 500 Å apart. The chain
    # 0, 15, 30 Å alone would keep both ends (most picks); with row 2 a copy of row 0's image, the
    # best set is {row 1, row 3} or {row 0, ...}: by hand, the most picks are 2 either way, and no
    # kept pair is within 20 Å or of one image.
    points = np.array([[0.0, 0.0], [15.0, 0.0], [30.0, 0.0], [500.0, 0.0]])
    images = np.array([7, 0, 0, 7], dtype=np.uint64)
    result = dedup(
        np.zeros(4, int), points, [1.0, 3.0, 1.0, 1.0], min_dist=20.0, images=images, select="most-particles"
    )
    kept = np.flatnonzero(result.keep)
    assert len(kept) == 2 and not (result.keep[0] and result.keep[3])
    assert all(np.abs(points[a] - points[b]).sum() > 20 for a, b in itertools.combinations(kept, 2))
    assert result.selection.components == 1 and result.selection.largest == 4


def test_each_species_is_selected_on_its_own_and_the_counts_add_up(tmp_path):
    # Two species' chains by hand (0, 15, 30 Å; the middle best), each at its own distance: each
    # keeps its two ends; the summary's counts are both species' (greedy would keep 1 + 1).
    for name in ("a", "b"):
        _star(tmp_path / f"{name}.star", [["m.mrc", 0, 0, 1.0], ["m.mrc", 15, 0, 3.0], ["m.mrc", 30, 0, 1.0]])
    options = ParticleOptions(
        min_dist=20.0,
        mic_psize=1.0,
        select="most-particles",
        species=["a", "b"],
        species_min_dist={"a": 20.0, "b": 20.0},
    )
    summary = remove_duplicate_particles([tmp_path / "a.star", tmp_path / "b.star"], tmp_path / "out", options)
    chosen = summary.to_json()["selection"]
    assert (summary.kept, chosen["kept"], chosen["greedy_kept"], chosen["components"]) == (4, 4, 2, 2)


def test_the_summary_section_says_the_difference_both_ways():
    from cryodedup.report.sections import SECTIONS, BestSelection

    section = BestSelection("most-particles", 3, 2, 1, 200, 10, 8.5, 13, 7.25, 11, 12, 6.0, 9.5)
    [(label, text)] = section.rows("micrograph")
    assert label == "Selection" and ("BestSelection", "selection") in SECTIONS
    assert text.startswith("most-particles: 13 picks kept (+3 against greedy's 10); score sum 7.25 (-1.25 against")
    assert (
        "3 groups of duplicates, largest 200 picks: 2 solved exactly (up to 128 picks, branch and bound), 1 by" in text
    )
    assert "11 picks were kept of at most 12 and a score sum of 6 of at most 9.5" in text
    assert section.to_json()["exact_limit"] == 128 and section.to_json()["greedy_kept"] == 10


def _crowded():
    """One micrograph of 600 picks whose group of duplicates is beyond the exact limit (HiGHS's)."""
    rng = np.random.default_rng(5)
    return np.zeros(600, int), rng.uniform(0, 300, (600, 2)), rng.uniform(0, 1, 600)


@pytest.mark.parametrize("how", ["import raises OSError", "import raises AttributeError", "Highs() raises OSError"])
def test_a_broken_highspy_leaves_the_bounded_sets_and_says_why(tmp_path, monkeypatch, how):
    # An install that imports but fails (its library missing, another build's): on main a traceback.
    # Now the bounded sets stand, as without HiGHS, and the summary says highspy fails and why.
    import sys

    fake = tmp_path / "fake" / "highspy"
    fake.mkdir(parents=True)
    if how.startswith("import"):
        error = how.rpartition(" ")[2]
        body = f"raise {error}('libhighs.so: cannot open shared object file')\n"
    else:
        raising = "raise OSError('libhighs.so: cannot open shared object file')"
        body = f"class Highs:\n    def __init__(self):\n        {raising}\n"
    (fake / "__init__.py").write_text(body)
    monkeypatch.syspath_prepend(str(fake.parent))
    monkeypatch.delitem(sys.modules, "highspy", raising=False)
    groups, points, scores = _crowded()
    result = dedup(groups, points, scores, min_dist=20.0, select="best-score")
    _check_valid(groups, points, result.keep, result.suppressed_by, 20.0)
    c = result.selection
    assert c.proven == 0 and c.bounded > 0 and c.largest > EXACT_LIMIT
    error = "AttributeError" if "AttributeError" in how else "OSError"
    assert c.solver == f"none (highspy fails: {error}: libhighs.so: cannot open shared object file)"
    # Through the job: no traceback, the row says it.
    rows = [["m.mrc", x, y, s] for (x, y), s in zip(points.tolist(), scores.tolist())]
    _star(tmp_path / "p.star", rows)
    options = ParticleOptions(min_dist=20.0, mic_psize=1.0, select="best-score")
    summary = remove_duplicate_particles([tmp_path / "p.star"], tmp_path / "out", options)
    (row,) = summary.selection.rows("micrograph")
    assert f"highspy is installed but fails, {error}: libhighs.so: cannot open shared object file" in row[1]


def test_scores_that_are_not_finite_are_said_to_weigh_nothing_in_a_score_sum(tmp_path):
    # NaN, inf and -inf are no score (as the greedy walk ranks them last): by hand, 3 of 5 picks.
    _star(
        tmp_path / "p.star",
        [["m.mrc", 0, 0, "nan"], ["m.mrc", 15, 0, "inf"], ["m.mrc", 30, 0, 1.0], ["m.mrc", 100, 0, 2.0],
         ["m.mrc", 110, 0, "-inf"]],
    )  # fmt: skip
    warnings = []
    options = ParticleOptions(min_dist=20.0, mic_psize=1.0, select="best-score")
    summary = remove_duplicate_particles(
        [tmp_path / "p.star"],
        tmp_path / "out",
        options,
        log=lambda m, level: warnings.append(m) if level == "warning" else None,
    )
    (said,) = [w for w in warnings if "--select best-score" in w]
    assert said.startswith("--select best-score: 3 picks of 5 have no score in rlnAutopickFigureOfMerit (NaN or")
    assert "each weighing 0 in the score sum" in said
    (row,) = summary.score.rows("micrograph")
    assert "3 picks without a score (NaN or infinite): weigh 0 in the score sum" in row[1]
    # The greedy walk's words stay: ranked last.
    greedy = remove_duplicate_particles(
        [tmp_path / "p.star"], tmp_path / "g", ParticleOptions(min_dist=20.0, mic_psize=1.0)
    )
    assert "3 picks without a score: ranked last" in greedy.score.rows("micrograph")[0][1]


def test_a_group_too_large_for_highs_keeps_the_swaps_set_at_once():
    # 20,000 picks in one 800 Å square at 20 Å: one group of 383,968 pairs (counted here by brute
    # force over a grid). HiGHS's presolve alone outlasted its 30 s there and found no set (55-125 s
    # on main); beyond 200,000 pairs the group is not handed to it: the swaps' set, at once.
    import time

    rng = np.random.default_rng(1)
    points = rng.uniform(0, 800, (20_000, 2))
    scores = rng.uniform(0.01, 1, 20_000)
    cells = {}
    for k, cell in enumerate(map(tuple, (points // 20).astype(int).tolist())):
        cells.setdefault(cell, []).append(k)
    pairs = 0
    for (cx, cy), members in cells.items():
        near = [j for dx in (-1, 0, 1) for dy in (-1, 0, 1) for j in cells.get((cx + dx, cy + dy), [])]
        d2 = ((points[members][:, None, :] - points[near][None, :, :]) ** 2).sum(axis=2)
        pairs += int(((d2 <= 400) & (d2 > 0)).sum())
    assert pairs // 2 == 383_968
    started = time.perf_counter()
    result = dedup(np.zeros(20_000, int), points, scores, min_dist=20.0, select="best-score")
    assert time.perf_counter() - started < 20
    c = result.selection
    assert (c.components, c.bounded, c.proven, c.largest, c.solver) == (1, 1, 0, 20_000, "")
    assert c.score >= c.greedy_score and c.bounded_score <= c.bounded_score_bound
    from scipy.spatial import cKDTree

    keep, partner = result.keep, result.suppressed_by
    assert not cKDTree(points[keep]).query_pairs(20.0)  # (no two kept within the distance)
    rejected = np.flatnonzero(~keep)
    assert keep[partner[rejected]].all()
    assert (((points[rejected] - points[partner[rejected]]) ** 2).sum(axis=1) <= 400).all()
