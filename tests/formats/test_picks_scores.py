"""The score each picker format is ranked by under --score auto, worked out by hand from the files' text.

The choice is resolve_score's (formats/picks own_score); these are the columns a crYOLO, topaz,
RELION or EMAN user expects to be ranked by, higher better, and none where the format has none.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cryodedup.formats.picks import read_picks
from picker_files import autopick_text, cbox_text, write_topaz


def chosen(picks):
    return picks.score_name, picks.higher_is_better, None if picks.score is None else picks.score.tolist()


def test_cryolo_cbox_ranks_by_its_confidence(tmp_path):
    (tmp_path / "a.cbox").write_text(cbox_text([(0, 0, 64, 64, 0.25), (100, 0, 64, 64, 0.75)]))
    assert chosen(read_picks(tmp_path / "a.cbox")) == ("Confidence", True, [0.25, 0.75])


def test_cryolo_cbox_without_confidence_in_one_file_ranks_its_picks_last(tmp_path):
    # One file lacks the column: the others' confidence is still the score, the lacking file's picks NaN.
    (tmp_path / "a.cbox").write_text(cbox_text([(0, 0, 64, 64, 0.5)]))
    (tmp_path / "b.cbox").write_text(
        cbox_text([(9, 9, 64, 64, 0.1)]).replace("_Confidence #9\n", "").replace(" 0.1 ", " ")
    )
    name, higher, score = chosen(read_picks(str(tmp_path / "*.cbox")))
    assert (name, higher, score[0]) == ("Confidence", True, 0.5) and np.isnan(score[1])


def test_topaz_ranks_by_its_score_and_without_one_at_random(tmp_path):
    path = tmp_path / "predicted.txt"
    write_topaz(path, [("micA", 10.0, 20.0, -1.5), ("micA", 300.0, 20.0, 2.0)])
    assert chosen(read_picks(path, topaz_scale=1)) == ("score", True, [-1.5, 2.0])
    path.write_text("image_name\tx_coord\ty_coord\nmicA\t10\t20\n")
    assert chosen(read_picks(path, topaz_scale=1)) == (None, True, None)


def test_topaz_table_with_a_score_column_and_no_pick_has_nothing_to_rank(tmp_path):
    path = tmp_path / "predicted.txt"
    path.write_text("image_name\tx_coord\ty_coord\tscore\n")
    assert chosen(read_picks(path, topaz_scale=1)) == (None, True, None)


def test_relion_autopick_star_ranks_by_the_figure_of_merit(tmp_path):
    (tmp_path / "mic_autopick.star").write_text(autopick_text([(10, 20, 0.4), (50, 60, 1.25)]))
    assert chosen(read_picks(tmp_path / "mic_autopick.star")) == ("rlnAutopickFigureOfMerit", True, [0.4, 1.25])


def test_relion_manual_picks_without_figure_of_merit_are_unscored(tmp_path):
    text = "data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10 20\n50 60\n"
    (tmp_path / "mic_manualpick.star").write_text(text)
    assert chosen(read_picks(tmp_path / "mic_manualpick.star")) == (None, True, None)


def test_eman_box_has_no_score(tmp_path):
    (tmp_path / "mic.box").write_text("10\t20\t100\t100\n500\t20\t100\t100\n")
    assert chosen(read_picks(tmp_path / "mic.box")) == (None, True, None)


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        ([[1, 2, "auto_local", 0.75], [50, 2, "auto_local", 0.5]], ("score", True, [0.75, 0.5])),
        # One box without its fourth number: the autoboxer's score is not every box's, so none.
        ([[1, 2, "auto_local", 0.75], [50, 2, "manual"]], (None, True, None)),
        ([], (None, True, None)),
    ],
)
def test_eman2_info_json_ranks_by_the_autoboxer_score_when_every_box_has_one(tmp_path, boxes, expected):
    (tmp_path / "mic_info.json").write_text(json.dumps({"boxes": boxes}))
    assert chosen(read_picks(tmp_path / "mic_info.json")) == expected
