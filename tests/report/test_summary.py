"""The summaries' rows: names shortened for the terminal and the report."""

from __future__ import annotations

from cryodedup.report.summary import NAME_WIDTH, short_name

LONG_NAME = "MotionCorr/job002/Movies/GridSquare_29306837/Data/FoilHole_{}_Data_29308236_29308238_20221104_061329.mrc"


def test_short_names_are_cut_at_the_front():
    name = LONG_NAME.format(1) + "_" * 40
    assert short_name(name) == "…" + name[-79:] and len(short_name(name)) == NAME_WIDTH
    assert short_name("mic.mrc") == "mic.mrc"
