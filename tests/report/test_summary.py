"""The summaries' rows: names shortened for the terminal and the report."""

from __future__ import annotations

from dataclasses import replace

from cryodedup.jobs.micrographs.summary import MicrographSummary, margin_rows
from cryodedup.report.micrograph_sections import Margin
from cryodedup.report.summary import NAME_WIDTH, short_name

LONG_NAME = "MotionCorr/job002/Movies/GridSquare_29306837/Data/FoilHole_{}_Data_29308236_29308238_20221104_061329.mrc"


def test_short_names_are_cut_at_the_front():
    name = LONG_NAME.format(1) + "_" * 40
    assert short_name(name) == "…" + name[-79:] and len(short_name(name)) == NAME_WIDTH
    assert short_name("mic.mrc") == "mic.mrc"


def test_pixel_size_rows_name_each_inputs_groups_in_runs():
    # Found by a new user (2026-11-26): two inputs of six optics groups listed
    # "a.star group 1, a.star group 3, ..." in a 300-column row. Hand-worked.
    from cryodedup.report.sections.pixel_sizes import PixelSizes, group_list

    def entry(name, group, psize):
        return {"input": name, "optics_group": group, "psize": psize, "source": "rlnMicrographPixelSize"}

    sizes = {"1": 1.25, "2": 1.24, "3": 1.25, "4": 1.25, "5": 1.24, "6": 1.035}
    both = [entry(name, g, p) for name in ("a.star", "b.star") for g, p in sizes.items()]
    assert PixelSizes.of(both, several_inputs=True).rows("micrograph") == [
        ("Micrograph pixel size", "1.25 Å from rlnMicrographPixelSize (a.star groups 1, 3-4; b.star groups 1, 3-4)"),
        ("", "1.24 Å from rlnMicrographPixelSize (a.star groups 2, 5; b.star groups 2, 5)"),
        ("", "1.035 Å from rlnMicrographPixelSize (a.star group 6; b.star group 6)"),
    ]
    one = [entry("a.star", g, 1.0) for g in map(str, range(1, 200))]  # one size: no groups named
    alone = PixelSizes.of(one, several_inputs=False)
    assert alone.rows("micrograph") == [("Micrograph pixel size", "1 Å from rlnMicrographPixelSize")]
    assert alone.rows("tomogram") == [("Coordinate pixel size", "1 Å from rlnMicrographPixelSize")]
    # Its document piece: the entries as the readers gave them, in order.
    assert alone.to_json() == one
    assert group_list([str(g) for g in (1, 3, 5, 7, 9, 11, 13)]) == "7 groups"  # past six runs
    assert group_list(["9", "10", "11", "2"]) == "groups 2, 9-11"
    assert group_list(["opticsGroupA", "B"]) == "groups opticsGroupA, B"


def test_a_margin_decided_by_distance_is_said_in_micrometres():
    # --no-images: the joint score is the beam's radius over the distance, floored at 1e-9 µm:
    # two exposures at one place printed "weakest duplicate 3.25e+08" (a new user).
    radius = 0.325
    at_one_place = Margin(round(radius / 1e-9, 3), round(radius / 2.6, 3), 1, radius_um=radius)
    (row,) = at_one_place.rows("micrograph")
    assert row == (
        "Margin",
        "farthest duplicate 0.000 µm apart, nearest other pair 2.600 µm apart; "
        "duplicates lie within the beam's radius, 0.325 µm",
    )
    far = Margin(None, 0.0, None, radius_um=radius)  # 0.0: rounded from 1e-5
    assert far.rows("micrograph")[0][1].startswith("no duplicate, nearest other pair far apart;")
    # From the images, the joint score as it was.
    images = MicrographSummary(margin=Margin(2.5, 0.5, 5))
    assert (
        margin_rows(images)[0][1] == "weakest duplicate 2.5, strongest other 0.5 (x5); joint score, 1 is the boundary"
    )
    # Other pairs scored whose peaks were too low for the Pearson test have no joint score:
    # "no other pair" said there were none (a trial: 186 of them).
    low = replace(images, margin=Margin(6.17, None, None, others=186))
    said = margin_rows(low)[0][1]
    assert said.startswith("weakest duplicate 6.17, no other pair reached the Pearson test (186 others"), said
