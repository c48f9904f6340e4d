"""--score COLUMN as a user copies it from a file's header: with or without the leading underscore.

The kept particles are worked out by hand from a few rows; a missing column is one line naming
the file's columns.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from helpers import write_star
from picker_files import autopick_text, cbox_text

LABELS = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup"]
LABELS += ["rlnMaxValueProbDistribution", "rlnAutopickFigureOfMerit"]


def particle_star(path):
    # Pixel size 1 Å. On m1: row 1 (10, 10) and row 2 (15, 10) are 5 Å apart; row 1 has the
    # higher rlnMaxValueProbDistribution (0.9 > 0.2), row 2 the higher figure of merit.
    # Row 3 (500, 500) is alone.
    rows = [
        [10.0, 10.0, "m1.mrc", 1, 0.9, 0.1],
        [15.0, 10.0, "m1.mrc", 1, 0.2, 3.0],
        [500.0, 500.0, "m1.mrc", 1, 0.5, 1.0],
    ]
    return write_star(path, LABELS, rows, optics=[[1, "og1", 1.0, 1.0]])


@pytest.mark.parametrize("score", ["rlnMaxValueProbDistribution", "_rlnMaxValueProbDistribution"])
def test_particle_star_score_label_with_or_without_underscore(tmp_path, score):
    star = particle_star(tmp_path / "particles.star")
    args = ["particles", str(star), "--min-dist", "10", "--score", score, "-o", str(tmp_path / "out"), "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["score"]["column"] == "rlnMaxValueProbDistribution"
    kept = (tmp_path / "out/particles_kept.star").read_text()
    # By hand: row 1 beats row 2 (0.9 > 0.2); row 3 is kept alone.
    assert summary["kept"] == 2 and "\n10.0 10.0 m1.mrc" in kept and "15.0 10.0" not in kept


@pytest.mark.parametrize("score", ["Confidence", "_Confidence"])
def test_cryolo_confidence_with_or_without_underscore(tmp_path, score):
    folder = tmp_path / "cryolo"
    folder.mkdir()
    # Boxes 100 px wide, centres (150, 150) and (155, 150) 5 px apart: the second is more confident.
    (folder / "m1.cbox").write_text(cbox_text([(100, 100, 100, 100, 0.3), (105, 100, 100, 100, 0.8)]))
    args = ["particles", str(folder), "--mic-psize", "1", "--min-dist", "10", "--score", score]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["kept"], summary["score"]["column"]) == (1, "Confidence")
    assert "0.8" in (tmp_path / "out/kept/m1.cbox").read_text()


def test_a_score_column_one_picker_lacks_names_its_columns_and_the_way_out(tmp_path):
    relion, cryolo = tmp_path / "relion", tmp_path / "cryolo"
    relion.mkdir()
    cryolo.mkdir()
    (relion / "m1_autopick.star").write_text(autopick_text([(100.0, 100.0, 0.5)]))
    (cryolo / "m1.cbox").write_text(cbox_text([(50, 50, 100, 100, 0.8)]))
    args = ["particles", str(relion), str(cryolo), "--mic-psize", "1", "--score", "_Confidence"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "out")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert "m1_autopick.star: no column Confidence for --score _Confidence" in line
    assert "(its columns: rlnCoordinateX, rlnCoordinateY, rlnAutopickFigureOfMerit" in line
    assert "own score is rlnAutopickFigureOfMerit: --score auto" in line
    assert "--score-normalize rank or zscore" in line  # (both ways of putting pickers on one scale)


@pytest.mark.parametrize(
    ("score", "order", "kept_row"), [("rlnCoordinateX", "max", "15.0 10.0"), ("rlnOpticsGroup", "max", "10.0 10.0")]
)
def test_a_score_column_the_centres_read_too(tmp_path, score, order, kept_row):
    # A score that is a column the job reads for the centres anyway (a coordinate, the optics
    # group): it was a panic traceback (the column's second slot in the core's scan stayed
    # empty). By hand: rows 1 and 2 are 5 Å apart; by x (15 > 10) row 2 wins; both rows are in
    # optics group 1, a tie that the first row wins.
    star = particle_star(tmp_path / "particles.star")
    args = ["particles", str(star), "--min-dist", "10", "--score", score, "--score-order", order]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    kept = (tmp_path / "out/particles_kept.star").read_text()
    assert json.loads(result.stdout)["kept"] == 2 and f"\n{kept_row} m1.mrc" in kept


def test_pickers_scored_in_opposite_directions_are_offered_both_normalisations():
    # Two pickers, one better higher and one better lower: refused, offering rank and zscore alike.
    from types import SimpleNamespace

    from cryodedup.errors import CryodedupError
    from cryodedup.formats.picks.particles import _scores
    from cryodedup.formats.read_request import ScoreRead

    pickers = [
        SimpleNamespace(source=name, score=np.array([0.5]), score_name=name, higher_is_better=higher)
        for name, higher in (("a", True), ("b", False))
    ]
    with pytest.raises(CryodedupError) as refused:
        _scores(pickers, ScoreRead("auto", "auto", "none", 0, False), np.zeros(2, int), print)
    assert "opposite directions" in str(refused.value)
    assert "--score-normalize rank (each input's percentiles) or zscore" in str(refused.value)
