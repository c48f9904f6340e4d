"""SerialEM's Navigator (``.nav``): its items read as SerialEM writes them, linked to acquisitions by
the ``.mdoc``'s NavigatorLabel, and the acquisitions at a SamePosId an earlier item had (issue 57, item 2).

The files are written as SerialEM writes them (tests/fixtures/serialem_nav.py: its keys, order and
CRLF line ends); what each test expects is worked out by hand from the items and shots it makes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from cryodedup.algo.revisits import same_position
from cryodedup.errors import CryodedupError
from cryodedup.formats.microscope import read_mdoc
from cryodedup.formats.navigator import Navigator, NavItem, link, map_labels, read_nav
from cryodedup.jobs.micrographs.placement import place
from fixtures.serialem_nav import (
    CALIBRATION,
    SAME_POS_ID,
    NavPoint,
    Shot,
    refill_navigator,
    refill_shots,
    write_nav,
    write_shot_mdoc,
    write_xml_nav,
)

#: The refill Navigator's items by hand: (label, SamePosId, MapID, DrawnID, a map).
REFILL_ITEMS = [
    ("5-A", 0, 1290001001, 0, True),
    ("6", SAME_POS_ID, 611111111, 1290001001, False),
    ("7", 0, 711111111, 1290001001, False),
    ("8", 0, 811111111, 1290001001, False),
    ("11-A", 0, 1290002002, 0, True),
    ("14", SAME_POS_ID, SAME_POS_ID, 0, False),
    ("15", 0, 1515151515, 1290002002, False),
]


def described(nav: Navigator) -> list[tuple]:
    return [(i.label, i.same_pos_id, i.map_id, i.drawn_id, i.is_map) for i in nav.items]


def test_an_autodoc_navigator_as_serialem_writes_it(tmp_path):
    write_nav(tmp_path / "grid1.nav", refill_navigator())
    assert b"\r\n[Item = 6]\r\n" in (tmp_path / "grid1.nav").read_bytes()  # (CRLF, as SerialEM writes)
    nav = read_nav(tmp_path / "grid1.nav")
    assert described(nav) == REFILL_ITEMS
    assert nav.items[1].where == f"{tmp_path / 'grid1.nav'}: line 42"  # [Item = 6]: 3 globals, a blank, 5-A's 37 lines
    assert map_labels([nav]) == {1290001001: "5-A", 1290002002: "11-A"}


def test_an_xml_navigator_reads_as_its_autodoc(tmp_path):
    write_xml_nav(tmp_path / "grid1.nav", refill_navigator())
    assert described(read_nav(tmp_path / "grid1.nav")) == REFILL_ITEMS


def test_the_mdoc_names_its_navigator_item(tmp_path):
    shot = Shot("grid1_00004.tif", (120.0, -44.4), (0.0, 0.0), 0.0, "14")
    (acquisition,) = read_mdoc(write_shot_mdoc(tmp_path, shot))
    assert (acquisition.name, acquisition.nav_label) == ("grid1_00004", "14")
    (manual,) = read_mdoc(write_shot_mdoc(tmp_path, dataclasses.replace(shot, movie="m.tif", label=None)))
    assert manual.nav_label is None


GOOD = "AdocVersion = 2.00\r\nLastSavedAs = X:\\g.nav\r\n\r\n[Item = 6]\r\nColor = 0\r\nSamePosId = 12\r\nMapID = 7\r\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("SamePosId = 12", "SamePosId = twelve"),
            "line 6: SamePosId of item 6 is 'twelve', expected a whole number",
        ),
        (
            GOOD.replace("SamePosId = 12", "SamePosId = 1.5"),
            "line 6: SamePosId of item 6 is '1.5', expected a whole number",
        ),
        (
            GOOD.replace("SamePosId = 12", "SamePosId = 1_2"),
            "line 6: SamePosId of item 6 is '1_2', expected a whole number",
        ),
        (
            GOOD.replace("MapID = 7", "MapID = 4294967296"),
            "line 7: MapID of item 6 is '4294967296', expected a whole number within ±2147483647",
        ),
        (GOOD + "SamePosId = 13\r\n", "line 8: SamePosId given twice in [Item = 6] (first at line 6)"),
        (
            GOOD.replace("AdocVersion = 2.00\r\n", ""),
            "line 1: LastSavedAs before AdocVersion, expected a SerialEM Navigator file",
        ),
        ("[Item = 6]\r\nColor = 0\r\n", "line 1: a section before AdocVersion, expected a SerialEM Navigator file"),
        (GOOD.replace("2.00", "two"), "line 1: AdocVersion is 'two', expected a number (2.00)"),
        (GOOD.replace("Color = 0", "Color 0"), "line 5: 'Color 0', expected 'key = value' or '[Item = LABEL]'"),
        ("Version\t1.80\r\n1\t0\t12.5\r\n", "line 1: a tab-delimited Navigator file (SerialEM before 3.6)"),
        ("", "no AdocVersion line, expected a SerialEM Navigator file"),
        (
            '<?xml version="1.0"?>\r\n<navigator><Item><SamePosId>1</SamePosId></Item></navigator>',
            "an <Item> without a name attribute",
        ),
        (
            '<navigator><Item name="6"><SamePosId>x</SamePosId></Item></navigator>',
            "<Item name=\"6\">: <SamePosId>: SamePosId of item 6 is 'x', expected a whole number",
        ),
        ("<navigator><Item", "not an XML file"),
        (
            "<MicroscopeImage><Item name='6'/></MicroscopeImage>",
            "root element <MicroscopeImage>, expected SerialEM's <navigator>",
        ),
    ],
)
def test_a_bad_navigator_is_one_line_naming_the_file_line_and_key(tmp_path, text, message):
    path = tmp_path / "g.nav"
    path.write_bytes(text.encode())
    with pytest.raises(CryodedupError) as error:
        read_nav(path)
    said = str(error.value)
    assert said.startswith(str(path)) and message in said and "\n" not in said


def test_binary_and_folders_are_refused(tmp_path):
    (tmp_path / "b.nav").write_bytes(b"AdocVersion = 2.00\0\0\0")
    with pytest.raises(CryodedupError, match="binary content, expected a SerialEM Navigator"):
        read_nav(tmp_path / "b.nav")
    (tmp_path / "d.nav").mkdir()
    with pytest.raises(CryodedupError, match="is a folder, expected a SerialEM Navigator"):
        read_nav(tmp_path / "d.nav")


def items(*labels: str) -> Navigator:
    return Navigator(Path("g.nav"), [NavItem(label, f"g.nav: line {k}") for k, label in enumerate(labels)])


def test_labels_link_acquisitions_and_say_what_they_could_not():
    """Acquisition 0 links to item 6; 1 has no label; 2 names an item no .nav has; 3 a label two .navs have."""
    found = link(["6", None, "99", "7"], [items("6", "7"), items("7")])
    assert [None if i is None else i.label for i in found.items] == ["6", None, None, None]
    assert found.summary() == {"files": 2, "items": 3, "acquisitions_linked": 1}
    assert found.warning() == (
        "--metadata: 1 of 4 acquisitions linked to a Navigator item (3 items in 2 .nav file(s)); not linked: "
        "1 acquisition(s) with no NavigatorLabel in their .mdoc (SerialEM writes it while Acquire at Items runs); "
        "1 NavigatorLabel(s) no .nav has, e.g. '99'; 1 label(s) two items have, e.g. '7'; "
        "SamePosId is read for the linked ones only"
    )
    assert link(["6", "6"], [items("6")]).warning() is None


def test_same_position_names_each_later_acquisition_against_the_nearest_earlier_of_another_item():
    """Items a, b share SamePosId 5; c has 9; d has none. By hand, in time order:
    a0 (0, 0) t0 and a1 (1, 0) t1, two shots of item a; d0 at a0's place t2 (no SamePosId: not named);
    b0 (1.1, 0) t3: nearest earlier of another item at SamePosId 5 is a1 (0.1 µm); b1 (0, 0) t4: a0 (0 µm);
    c0 t5 alone at SamePosId 9; a2 (0.5, 0) t6, item a again: b0 and b1 are another item's, b1 (0.5 µm) and
    a0... a0 is its own item's: against b1 (0.5 µm; b0 0.6 µm); e0 untimed: passed over."""
    xy = np.array([[0, 0], [1, 0], [0, 0], [1.1, 0], [0, 0], [50, 0], [0.5, 0], [0, 0]], dtype=np.float64)
    times = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, None]
    ids = [5, 5, 0, 5, 5, 9, 5, 5]
    labels = ["a", "a", "d", "b", "b", "c", "a", "e"]
    found = same_position(times, xy, ids, labels)
    assert [(r.earlier, r.later, r.same_pos_id) for r in found] == [(1, 3, 5), (0, 4, 5), (4, 6, 5)]
    assert [r.distance_um for r in found] == pytest.approx([0.1, 0.0, 0.5])


def test_same_position_equally_near_names_the_earliest():
    xy = np.array([[0, 0], [2, 0], [1, 0]], dtype=np.float64)
    found = same_position([0.0, 1.0, 2.0], xy, [3, 3, 3], ["a", "b", "c"])
    assert [(r.earlier, r.later) for r in found] == [(0, 1), (0, 2)]


@pytest.fixture
def refill(tmp_path):
    write_nav(tmp_path / "grid1.nav", refill_navigator())
    mdocs = [write_shot_mdoc(tmp_path, shot) for shot in refill_shots()]
    return tmp_path, mdocs


def test_a_session_revisited_after_a_refill_names_the_same_navigator_position(refill):
    """By hand (fixtures.serialem_nav): shots 4 and 5 at item 14 (SamePosId 1414141414, as item 6's), 90
    minutes after shots 0 and 1 at item 6, each 0.6 µm from its earlier shot (stage 0.6 µm off in y); item 7
    imaged again (shot 7: no SamePosId, the same item) is not, nor is anything at items 8 and 15."""
    folder, mdocs = refill
    names = [f"grid1_{k:05d}_fractions.mrc" for k in range(8)]
    placement = place(names, [folder / "grid1.nav", *mdocs], CALIBRATION, 0.65)
    entry = {
        "square": "area 1",
        "same_pos_id": SAME_POS_ID,
        "reason": "same Navigator position (SamePosId 1414141414)",
        "earlier_item": "6",
        "earlier_map": "5-A",
        "later_item": "14",
        "later_map": None,
        "distance_um": 0.6,
    }
    assert placement.revisits["same_navigator_position"] == [
        {
            **entry,
            "earlier": "grid1_00000",
            "earlier_time": "2024-03-05 09:00:00",
            "later": "grid1_00004",
            "later_time": "2024-03-05 10:30:00",
        },
        {
            **entry,
            "earlier": "grid1_00001",
            "earlier_time": "2024-03-05 09:00:20",
            "later": "grid1_00005",
            "later_time": "2024-03-05 10:30:20",
        },
    ]
    assert placement.revisits["navigator"] == {"files": 1, "items": 7, "acquisitions_linked": 8}
    assert placement.navigator_warning is None
    assert placement.revisit_pairs.tolist() == [[0, 4], [1, 5], [2, 7]]  # (shot 7: exposed again, by position)


def test_a_navigator_whose_labels_no_mdoc_names_warns_in_one_line(refill):
    folder, _ = refill
    unlabelled = [write_shot_mdoc(folder, dataclasses.replace(s, label=None)) for s in refill_shots()[:3]]
    placement = place([f"grid1_{k:05d}.mrc" for k in range(3)], [folder / "grid1.nav", *unlabelled], CALIBRATION, 0.65)
    assert placement.revisits["same_navigator_position"] == []
    assert placement.navigator_warning == (
        "--metadata: 0 of 3 acquisitions linked to a Navigator item (7 items in 1 .nav file(s)); not linked: "
        "3 acquisition(s) with no NavigatorLabel in their .mdoc (SerialEM writes it while Acquire at Items runs); "
        "SamePosId is read for the linked ones only"
    )


def test_a_navigator_alone_places_nothing_and_says_so(refill):
    folder, _ = refill
    with pytest.raises(CryodedupError, match=r"no acquisition in the files given \(a Navigator \.nav places no image"):
        place(["grid1_00000.mrc"], [folder / "grid1.nav"], CALIBRATION, 0.65)


def test_without_a_navigator_the_summary_is_as_before(refill):
    _, mdocs = refill
    placement = place([f"grid1_{k:05d}.mrc" for k in range(8)], mdocs, CALIBRATION, 0.65)
    assert "navigator" not in placement.revisits and "same_navigator_position" not in placement.revisits


def test_items_without_same_pos_id_name_nothing(tmp_path):
    """Every item's SamePosId removed: the refill session names no acquisition at the same Navigator position."""
    plain = [dataclasses.replace(i, same_pos_id=0) if isinstance(i, NavPoint) else i for i in refill_navigator()]
    write_nav(tmp_path / "grid1.nav", plain)
    assert b"SamePosId" not in (tmp_path / "grid1.nav").read_bytes()
    mdocs = [write_shot_mdoc(tmp_path, shot) for shot in refill_shots()]
    placement = place([f"grid1_{k:05d}.mrc" for k in range(8)], [tmp_path / "grid1.nav", *mdocs], CALIBRATION, 0.65)
    assert placement.revisits["same_navigator_position"] == []
    assert placement.revisits["navigator"]["acquisitions_linked"] == 8
