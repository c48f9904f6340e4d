"""``--score-normalize zscore``: robust z-scores per input's micrograph, against a plain loop of numpy medians."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cryodedup.algo.normalisation import labels, normalisation, robust_zscores, zscore_counts
from cryodedup.api import remove_duplicate_centres
from cryodedup.cli import main


def _brute(scores: np.ndarray, by: np.ndarray) -> np.ndarray:
    """The published recipe, group by group: (s - median) / (1.4826 MAD); MAD 0: 1.2533 x mean |s - median|."""
    out = np.full(scores.shape, np.nan)
    for g in np.unique(by):
        rows = np.flatnonzero((by == g) & np.isfinite(scores))
        if rows.size == 0:
            continue
        s = scores[rows]
        med = np.median(s)
        scale = 1.4826 * np.median(np.abs(s - med))
        if scale == 0:
            scale = 1.2533 * np.mean(np.abs(s - med))
        out[rows] = 0.0 if scale == 0 else (s - med) / scale
    return out


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("groups", [3, 300])  # (few groups of many rows, many of few: two ways to the medians)
def test_zscores_equal_a_group_by_group_loop(seed, groups):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    by = rng.integers(0, int(rng.integers(1, groups)), n) * 3  # (labels with gaps, as an input's micrographs)
    # Some groups with many equal scores (MAD 0) and some all equal; some NaN (no score).
    scores = np.round(rng.normal(rng.normal(0, 5), rng.uniform(0.1, 10), n), int(rng.integers(0, 3)))
    scores[rng.random(n) < 0.05] = np.nan
    scores[by == 0] = 7.0
    found = robust_zscores(scores, by)
    np.testing.assert_allclose(found.z, _brute(scores, by), rtol=1e-12, atol=1e-12)
    assert found.constant >= int(np.isfinite(scores[by == 0]).any())
    assert zscore_counts(found.z, by) == (found.groups, found.mean_ad, found.constant)


def test_by_hand():
    # Group a: 1 2 3 4 100: median 3, |dev| 2 1 0 1 97, MAD 1 -> z = (s - 3) / 1.4826.
    # Group b: 5 5 5 7: MAD 0, mean |dev| 0.5 -> scale 0.62665, 7 -> 3.1916. Group c: 3 3: all 0.
    s = np.array([1.0, 2, 3, 4, 100, 5, 5, 5, 7, 3, 3, np.nan])
    by = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    found = robust_zscores(s, by)
    np.testing.assert_allclose(found.z[:5], (s[:5] - 3) / 1.4826)
    np.testing.assert_allclose(found.z[5:11], [0, 0, 0, 2 / (0.5 * 1.2533), 0, 0])
    assert np.isnan(found.z[11]) and (found.groups, found.mean_ad, found.constant) == (3, 1, 1)


def test_lower_better_scores_turn_round():
    zscore = normalisation("zscore")
    assert zscore.apply is not None
    z, higher = zscore.apply(np.array([1.0, 2.0, 3.0]), np.zeros(3, np.int64), False)
    assert higher and z[0] > z[2]  # (the lowest score, the best, has the highest z)


def test_labels_are_each_inputs_micrograph():
    zscore = normalisation("zscore")
    got = labels(zscore, np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]))
    assert len(set(got.tolist())) == 4
    assert labels(normalisation("rank"), np.array([0, 1]), np.array([5, 5])).tolist() == [0, 1]


def test_zscore_decides_a_merge_of_two_scales():
    # Picker A scores ~0.5 +- 0.1 and picker B ~50 +- 10 on one micrograph; one duplicate pair.
    # As read B always wins; as z-scores A's pick (median 0.5, MAD 0.1: z = 0.3 / 0.14826 = 2.02)
    # beats B's (its micrograph's median, z = 0).
    mics = ["m"] * 10
    centres = [[0.0, 0.0], [3.0, 0.0]] + [[100.0 * k, 500.0] for k in range(1, 9)]
    inputs = [0, 1, 0, 0, 0, 0, 1, 1, 1, 1]
    scores = [0.8, 50.0, 0.4, 0.5, 0.5, 0.6, 40.0, 50.0, 60.0, 50.0]
    as_read = remove_duplicate_centres(mics, centres, scores, inputs=inputs, min_dist=10.0)
    zscored = remove_duplicate_centres(mics, centres, scores, inputs=inputs, min_dist=10.0, score_normalize="zscore")
    assert as_read.keep[:2].tolist() == [False, True]
    assert zscored.keep[:2].tolist() == [True, False]


def test_the_summary_says_it(tmp_path, capsys):
    star = tmp_path / "p.star"
    lines = ["data_particles", "loop_", "_rlnCoordinateX", "_rlnCoordinateY", "_rlnMicrographName"]
    lines += ["_rlnAutopickFigureOfMerit", "100 100 a.mrc 1.0", "101 100 a.mrc 2.0", "500 500 a.mrc 3.0"]
    lines += ["100 100 b.mrc 5.0", "900 900 b.mrc 5.0"]
    star.write_text("\n".join(lines) + "\n")
    args = ["particles", str(star), "-o", str(tmp_path / "out"), "--mic-psize", "1", "--min-dist", "10"]
    main([*args, "--score-normalize", "zscore", "--json", "-q"], standalone_mode=False)
    summary = json.loads(capsys.readouterr().out)
    assert summary["score"]["normalized"].startswith("zscore")
    assert summary["score_normalization"] == {"method": "zscore", "groups": 2, "mean_ad": 0, "constant": 1}
    assert summary["kept"] == 4


def _picks(folder):
    """(micrograph, x, y, figure of merit) of a RELION 3.1 AutoPick job's per-micrograph files, in file order."""
    rows = []
    for path in sorted(folder.glob("*_autopick.star")):
        lines = path.read_text().splitlines()
        labels = [line.split()[0] for line in lines if line.startswith("_rln")]
        x, y, s = (labels.index(c) for c in ("_rlnCoordinateX", "_rlnCoordinateY", "_rlnAutopickFigureOfMerit"))
        for line in lines:
            f = line.split()
            if len(f) == len(labels) and not line.startswith(("_", "data_", "loop_", "#")):
                rows.append((path.name, float(f[x]), float(f[y]), float(f[s])))
    return rows


@pytest.mark.real_data
def test_real_pickers_merged_by_zscores_as_a_brute_force_merges_them(tmp_path, capsys):
    # The RELION 3.1 tutorial's LoG (job006) and template (job011) pickers on 5 micrographs: as read, the
    # template's larger numbers win almost every group; as z-scores per picker and micrograph (median and
    # MAD worked out here), a greedy walk from the best z (ties: the earlier input, then row) at 100 Å.
    from helpers import shared_file

    jobs = [shared_file(f"picks/relion31-tutorial/AutoPick/{job}/Movies") for job in ("job006", "job011")]
    picks = [(k, *row) for k, job in enumerate(jobs) for row in _picks(job)]
    inputs = np.array([p[0] for p in picks])
    mics = np.array([p[1] for p in picks])
    xy = np.array([[p[2], p[3]] for p in picks]) * 0.885
    z = _brute(
        np.array([p[4] for p in picks]), np.unique(np.char.add(inputs.astype(str), mics), return_inverse=True)[1]
    )
    order = sorted(range(len(picks)), key=lambda i: (-z[i], inputs[i], i))
    keep = np.zeros(len(picks), bool)
    for i in order:
        kept = np.flatnonzero(keep & (mics == mics[i]))
        keep[i] = not (((xy[kept] - xy[i]) ** 2).sum(axis=1) <= 100.0**2).any()
    args = ["particles", str(jobs[0]), str(jobs[1]), "--mic-psize", "0.885", "--min-dist", "100"]
    main([*args, "--score-normalize", "zscore", "-o", str(tmp_path / "z"), "--json", "-q"], standalone_mode=False)
    summary = json.loads(capsys.readouterr().out)
    assert [i["kept"] for i in summary["inputs"]] == [int(keep[inputs == k].sum()) for k in (0, 1)]
    assert summary["inputs"][0]["kept"] > 100  # (as read, the LoG picker keeps 18 of 1,158)


def test_no_score_to_normalise_is_refused_in_one_line(tmp_path, capsys):
    # --score none ranks at random: a normalisation of no score would quietly do nothing.
    star = tmp_path / "p.star"
    star.write_text("data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnMicrographName\n1 1 m.mrc\n")
    for how in ("zscore", "rank"):
        args = ["particles", str(star), "-o", str(tmp_path / "out"), "--mic-psize", "1", "--min-dist", "5"]
        with pytest.raises(SystemExit) as stop:
            main([*args, "--score", "none", "--score-normalize", how], standalone_mode=False)
        said = " ".join(capsys.readouterr().err.split())
        assert stop.value.code == 2 and "Traceback" not in said  # (a usage error)
        assert said == f"Error: --score-normalize {how} normalises the scores, and --score none ranks by none: drop one"
        assert not (tmp_path / "out").exists()
