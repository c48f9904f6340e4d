"""A refined set deduplicated with new picks: each input's own score, the inputs ordered by ``--prefer``.

Refined particles carry ``rlnMaxValueProbDistribution``, new picks ``rlnAutopickFigureOfMerit``:
no score both have. ``--prefer`` orders the inputs, and each input's own duplicates are ranked by
its own score (main: at random). The oracle is a greedy walk written here: the preferred input's
rows first, each input's rows by its own score, a row rejected within MIN_DIST Å of a row kept.
"""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from cryodedup.cli import main
from helpers import write_star

MIN_DIST = 30.0
LABELS = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnImageName", "rlnClassNumber"]


def inputs(tmp_path):
    """Ten pairs of refined particles 10 Å apart (the more probable one second), each also picked anew nearby."""
    rng = np.random.default_rng(78)
    refined, picks = [], []
    for k in range(10):
        x, y = 100.0 + 200 * k, 500.0
        probabilities = sorted(rng.uniform(0.1, 0.9, 2))
        for j, (dx, p) in enumerate(((0.0, probabilities[0]), (10.0, probabilities[1]))):
            refined.append(["mic_1.mrc", x + dx, y, f"{2 * k + j + 1}@stack.mrcs", 2 * k + j + 1, round(p, 4)])
        picks.append(["mic_1.mrc", x + 5, y + 3, f"{k + 1}@picks.mrcs", 100 + k, round(rng.uniform(0, 3), 3)])
    a = write_star(tmp_path / "refined.star", [*LABELS, "rlnMaxValueProbDistribution"], refined)
    b = write_star(tmp_path / "picks.star", [*LABELS, "rlnAutopickFigureOfMerit"], picks)
    return a, b, refined, picks


def oracle(levels: list[list[list]]) -> set[int]:
    """The rlnClassNumber of every row kept: levels in order, each level's rows by their own score (last column)."""
    kept: list[list] = []
    for rows in levels:
        for row in sorted(rows, key=lambda r: -r[-1]):
            if all(np.hypot(row[1] - k[1], row[2] - k[2]) > MIN_DIST for k in kept):
                kept.append(row)
    return {row[4] for row in kept}


def kept_numbers(outdir) -> set[int]:
    """The rlnClassNumber of every kept row (each input's kept file: their columns differ)."""
    paths = [outdir / "particles_kept_refined.star", outdir / "particles_kept_picks.star"]
    lines = [line.split() for path in paths for line in path.read_text().splitlines() if line.startswith("mic_")]
    return {int(words[4]) for words in lines}


def test_the_refined_sets_own_duplicates_are_ranked_by_its_own_score(tmp_path):
    # On main: --score auto finds no score in both, and the refined set's ten pairs keep a random particle each.
    a, b, refined, picks = inputs(tmp_path)
    args = ["particles", str(a), str(b), "--prefer", str(a), "--min-dist", str(MIN_DIST), "--mic-psize", "1"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert kept_numbers(tmp_path / "out") == oracle([refined, picks])
    said = " ".join(result.output.split())
    assert "rlnMaxValueProbDistribution (refined.star)" in said and "rlnAutopickFigureOfMerit (picks.star)" in said
    assert "keeps a seeded random particle" not in said


def test_a_score_one_input_lacks_is_refused_with_score_columns_only(tmp_path):
    # On main the columns suggested were every numeric one both have: rlnCoordinateX, rlnCoordinateY, rlnClassNumber.
    a, b, _, _ = inputs(tmp_path)
    args = ["particles", str(a), str(b), "--score", "rlnMaxValueProbDistribution", "--mic-psize", "1"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "out")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    said = " ".join(result.output.split())
    assert "unknown score column 'rlnMaxValueProbDistribution'" in said
    assert "score columns present in every input: none" in said
    for column in ("rlnCoordinateX", "rlnCoordinateY", "rlnClassNumber"):
        assert column not in said
    assert "--score auto with --prefer" in said
    # and the advice, run as printed: --score auto with --prefer ranks each input by its own score
    advice = ["particles", str(a), str(b), "--score", "auto", "--prefer", str(a), "--mic-psize", "1"]
    advised = CliRunner().invoke(main, [*advice, "-o", str(tmp_path / "ad")])
    assert advised.exit_code == 0, advised.output
    assert "rlnMaxValueProbDistribution (refined.star)" in " ".join(advised.output.split())
