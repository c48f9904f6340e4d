"""``--prefer`` levels ranked each by a score of its own (issue 89 item 2).

Hand picks (no score) preferred over pytom-match-pick's picks, scored by ``rlnLCCmax`` (its
local cross-correlation peak, higher is better: SBC-Utrecht/pytom-match-pick/docs/Developers.md lists the
columns it writes). Each true particle has a template-matching side peak a few pixels away with a
lower LCC. On main the whole job fell back to a seeded random order (no score every input has),
so about half the groups kept the side peak, and ``--score rlnLCCmax`` was refused. The oracle is
a greedy walk written here: the levels in order, each level's rows by their own score (none last,
in file order), a row rejected within MIN_DIST Å of a row kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_import_lists_relion_imports import tomograms_star
from test_particles_import_lists import import_list, relion_table, write

from cryodedup.cli import main
from helpers import write_star

PSIZE, MIN_DIST = 10.0, 80.0
HAND = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]
PYTOM = [*HAND, "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnLCCmax", "rlnCutOff", "rlnSearchStd"]


def picks(seed: int = 89) -> tuple[list[list], list[list]]:
    """35 particles on a grid 30 pixels apart: a true peak (LCC 0.5-0.9) and a side peak 2-5 pixels off
    (LCC 0.1-0.2) each; 15 of them also picked by hand, two of those twice (1 pixel apart)."""
    rng = np.random.default_rng(seed)
    hand, pytom = [], []
    for k in range(35):
        centre = np.array([50 + 30 * (k % 7), 50 + 30 * (k // 7), 100.0]) + rng.uniform(-1, 1, 3)
        side = centre + rng.choice([-1, 1], 3) * rng.uniform(1.2, 2.9, 3)
        peaks = [(side, rng.uniform(0.1, 0.2)), (centre, rng.uniform(0.5, 0.9))]
        for at, lcc in peaks[:: rng.choice([-1, 1])]:  # (the side peak first in the file or second)
            pytom.append(["TS_01", *np.round(at, 2), 0.0, 0.0, 0.0, round(lcc, 4), 0.1, 0.02])
        if k < 15:
            hand.append(["TS_01", *np.round(centre + rng.uniform(-1, 1, 3), 2)])
        if k < 2:
            hand.append(["TS_01", *np.round(centre + np.array([1.0, 0, 0]), 2)])
    return hand, pytom


def oracle(
    levels: list[list[list]], score_at: list[int | None], psize: float = PSIZE, min_dist: float = MIN_DIST
) -> list[list[bool]]:
    """Each level's keep: levels in order, rows by their level's score (none last, file order), greedy."""
    kept_centres: list[np.ndarray] = []
    keeps = []
    for rows, at in zip(levels, score_at):
        keep = [False] * len(rows)
        order = sorted(range(len(rows)), key=lambda i: (0.0 if at is None else -rows[i][at], i))
        for i in order:
            centre = np.array(rows[i][1:4], dtype=float) * psize
            if all(np.linalg.norm(centre - c) > min_dist for c in kept_centres):
                keep[i] = True
                kept_centres.append(centre)
        keeps.append(keep)
    return keeps


def kept_rows(path: Path, width: int) -> list[list[str]]:
    return [line.split()[:width] for line in path.read_text().splitlines() if line.startswith("TS_01")]


def run(tmp_path: Path, *flags: str) -> tuple[dict, list[list], list[list]]:
    hand, pytom = picks()
    a = write_star(tmp_path / "hand.star", HAND, hand)
    b = write_star(tmp_path / "pytom.star", PYTOM, pytom)
    args = ["particles", str(a), str(b), "--prefer", str(a), "--min-dist", str(MIN_DIST), "--mic-psize", str(PSIZE)]
    result = CliRunner().invoke(main, [*args, *flags, "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), hand, pytom


@pytest.mark.parametrize("flags", [(), ("--score", "rlnLCCmax")])
def test_hand_picks_preferred_over_pytom_picks_keep_each_true_peak(tmp_path, flags):
    # On main: --score auto ranked everything at random (12 of the 20 pytom groups kept the side peak here),
    # and --score rlnLCCmax was refused ("score columns present in every input: none").
    summary, hand, pytom = run(tmp_path, *flags)
    keep_hand, keep_pytom = oracle([hand, pytom], [None, 7])
    out = tmp_path / "out"
    as_text = [[str(v) for v in row] for row in pytom]
    assert kept_rows(out / "particles_kept_pytom.star", len(PYTOM)) == [r for r, k in zip(as_text, keep_pytom) if k]
    assert len(kept_rows(out / "particles_kept_hand.star", 4)) == sum(keep_hand) == 15
    kept_lcc = [row[7] for row, k in zip(pytom, keep_pytom) if k]
    assert len(kept_lcc) == 20 and min(kept_lcc) >= 0.5  # (no side peak kept)
    assert summary["score"]["column"] == "no score, file order (hand.star); rlnLCCmax (pytom.star)"
    assert summary["score"]["per_level"] is True
    priority = summary["priority"]
    assert priority["within_levels"].startswith("each level's own score") and "against_score" not in priority
    assert not any("random" in w for w in summary["warnings"])


def test_no_score_says_the_random_order_decided_what_priority_did_not(tmp_path):
    # On main the summary said "20 by score" beside "Score: random (seed 0)".
    summary, _, _ = run(tmp_path, "--score", "none")
    assert summary["score"]["order"] == "random (seed 0)"
    assert summary["priority"]["within_levels"] == "the random order (seed 0)"


def test_a_named_score_some_inputs_of_one_level_lack_is_refused(tmp_path):
    hand, pytom = picks()
    a = write_star(tmp_path / "hand.star", HAND, hand)
    b = write_star(tmp_path / "pytom.star", PYTOM, pytom)
    c = write_star(tmp_path / "more.star", HAND, hand)
    args = ["particles", str(a), str(b), str(c), "--prefer", str(a), "--score", "rlnLCCmax", "--mic-psize", "10"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "out")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    said = " ".join(result.output.split())
    assert "--score rlnLCCmax: more.star lacks it, and --prefer ranks it with pytom.star" in said


def test_a_named_score_no_input_has_is_refused_with_prefer(tmp_path):
    # (a misspelt column must not fall back to each level's own score without a word)
    hand, pytom = picks()
    a = write_star(tmp_path / "hand.star", HAND, hand)
    b = write_star(tmp_path / "pytom.star", PYTOM, pytom)
    args = ["particles", str(a), str(b), "--prefer", str(a), "--score", "rlnLCCmaxx", "--mic-psize", "10"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "out")])
    assert result.exit_code != 0 and "unknown score column 'rlnLCCmaxx'" in " ".join(result.output.split())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_hand_picked_import_list_preferred_over_a_template_matchers(project):
    # The tomography guide's lists: a template matcher's STAR files (rlnLCCmax) and hand picks (text files).
    # On main --score auto ranked the template matcher's picks at random.
    hand, pytom = picks()
    corner = HAND[1:]
    write(project / "tm/TS_01.star", relion_table([*corner, "rlnLCCmax"], [[*r[1:4], r[7]] for r in pytom]))
    write(project / "hand/TS_01.coords", "".join(f"{x} {y} {z}\n" for _, x, y, z in hand))
    tm = import_list(project / "tm/list.star", [("TS_01", "tm/TS_01.star")])
    by_hand = import_list(project / "hand/list.star", [("TS_01", "hand/TS_01.coords")])
    tomograms = tomograms_star(project / "tomograms.star")  # (a tilt-series pixel of 1.35 Å)
    psize = 1.35
    args = [str(by_hand), str(tm), "--micrographs", str(tomograms), "--prefer", "1", "--min-dist", str(8 * psize)]
    result = CliRunner().invoke(main, ["particles", *args, "-o", "D", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    keep_hand, keep_pytom = oracle([hand, pytom], [None, 7], psize, 8 * psize)
    assert [i["kept"] for i in summary["inputs"]] == [sum(keep_hand), sum(keep_pytom)]
    kept_tm = (project / "D").glob("kept_coordinates/**/*.star")
    rows = [line.split() for path in kept_tm for line in path.read_text().splitlines()]
    lcc = [float(words[3]) for words in rows if len(words) == 4 and not words[0].startswith("_")]
    assert sorted(lcc) == sorted(row[7] for row, k in zip(pytom, keep_pytom) if k)
    assert min(lcc) >= 0.5
    assert "rlnLCCmax (list.star" in summary["score"]["column"] or "rlnLCCmax (tm" in summary["score"]["column"]
