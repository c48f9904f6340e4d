"""``cryodedup micrographs --metadata`` with a SerialEM Navigator (``.nav``): the acquisitions at a
SamePosId an earlier item had, named in the log (before any image is read), the summary, ``--json``
and the report; a Navigator no ``.mdoc`` names is one warning, the run goes on (issue 57, item 2).

The session is tests/fixtures/serialem_nav.py's refill session; what is named is worked out by hand there.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup import MicrographOptions, find_duplicate_micrographs
from cryodedup.cli import main
from cryodedup.jobs.micrographs.score import run_in_process
from fixtures.serialem_nav import (
    CALIBRATION,
    refill_navigator,
    refill_shots,
    write_nav,
    write_shot_mdoc,
)
from fixtures.synthetic import write_mrc

#: Shots 4 and 5 (item 14) at item 6's SamePosId, by hand: as the summary and the report say them.
NAMED = [
    "grid1_00004 at 2024-03-05 10:30:00 (item 14) in area 1: same Navigator position (SamePosId 1414141414) "
    "as grid1_00000 at 2024-03-05 09:00:00 (item 6, map 5-A), 0.6 µm apart",
    "grid1_00005 at 2024-03-05 10:30:20 (item 14) in area 1: same Navigator position (SamePosId 1414141414) "
    "as grid1_00001 at 2024-03-05 09:00:20 (item 6, map 5-A), 0.6 µm apart",
]


@pytest.fixture
def session(tmp_path):
    """The refill session: grid1.nav, one .mdoc per movie in Mdoc/, and a small micrograph per movie in Mics/."""
    write_nav(tmp_path / "grid1.nav", refill_navigator())
    (tmp_path / "Mdoc").mkdir()
    (tmp_path / "Mics").mkdir()
    rng = np.random.default_rng(3)
    for shot in refill_shots():
        write_shot_mdoc(tmp_path / "Mdoc", shot)
        write_mrc(tmp_path / "Mics" / shot.movie.replace(".tif", "_fractions.mrc"), rng.normal(size=(32, 32)), 8.0)
    return tmp_path


def arguments(folder, *more: str, images: bool = False) -> list[str]:
    """The run on ``folder``'s session; from the positions alone unless ``images`` (an update reads them)."""
    return [
        "micrographs",
        str(folder / "Mics" / "*.mrc"),
        "--metadata",
        str(folder / "grid1.nav"),
        "--metadata",
        str(folder / "Mdoc"),
        "--shift-calibration",
        str(CALIBRATION),
        "--beam-diameter",
        "0.65",
        *([] if images else ["--no-images"]),
        "-o",
        str(folder / "out"),
        *more,
    ]


def test_json_names_the_acquisitions_at_the_same_navigator_position(session):
    result = CliRunner().invoke(main, arguments(session, "--json", "-q"))
    assert result.exit_code == 0, result.output
    metadata = json.loads(result.stdout)["metadata"]
    named = metadata["same_navigator_position"]
    assert [(r["earlier"], r["later"], r["earlier_item"], r["later_item"]) for r in named] == [
        ("grid1_00000", "grid1_00004", "6", "14"),
        ("grid1_00001", "grid1_00005", "6", "14"),
    ]
    assert [(r["earlier_time"], r["later_time"]) for r in named] == [
        ("2024-03-05 09:00:00", "2024-03-05 10:30:00"),
        ("2024-03-05 09:00:20", "2024-03-05 10:30:20"),
    ]
    assert metadata["navigator"] == {"files": 1, "items": 7, "acquisitions_linked": 8}
    # item 7 imaged again (no SamePosId): named by its position only
    assert [(r["earlier"], r["later"]) for r in metadata["exposed_again"]] == [("grid1_00002", "grid1_00007")]
    assert metadata["files"] == 9  # the .nav and 8 .mdoc


def test_the_summary_and_the_report_name_them(session):
    result = CliRunner().invoke(main, arguments(session, "--plot"))
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "Same Navigator position" in said and all(line in said for line in NAMED)
    report = " ".join((session / "out" / "report.html").read_text().split())
    assert all(line in report for line in NAMED)


def test_they_are_logged_before_any_image_is_read(session):
    events: list[str] = []

    def runner(plan, progress):
        events.append("scoring starts")
        return run_in_process(plan, progress)

    # (accepted: 8 pairs, no null, and the images' specimen too faint for a re-exposure of them to pass: blind)
    options = MicrographOptions(
        metadata=[session / "grid1.nav", session / "Mdoc"],
        shift_calibration=CALIBRATION,
        beam_diameter=0.65,
        accept_untrusted=True,
    )
    mics = sorted(str(p) for p in (session / "Mics").glob("*.mrc"))
    find_duplicate_micrographs(mics, session / "out", options, log=lambda m, _level: events.append(m), scorer=runner)
    said = [k for k, m in enumerate(events) if NAMED[0] in " ".join(m.split())]
    assert said and said[0] < events.index("scoring starts")


def test_a_navigator_no_mdoc_names_is_one_warning_and_the_run_goes_on(session):
    for shot in refill_shots():  # the movies' .mdoc without NavigatorLabel (not acquired at items)
        write_shot_mdoc(session / "Mdoc", dataclasses.replace(shot, label=None))
    result = CliRunner().invoke(main, arguments(session, "--json", "-q"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["metadata"]["same_navigator_position"] == []
    warning = (
        "--metadata: 0 of 8 acquisitions linked to a Navigator item (7 items in 1 .nav file(s)); not linked: "
        "8 acquisition(s) with no NavigatorLabel in their .mdoc (SerialEM writes it while Acquire at Items runs); "
        "SamePosId is read for the linked ones only"
    )
    assert summary["warnings"].count(warning) == 1


def test_update_rounds_name_them_once_the_refill_s_acquisitions_have_come(tmp_path):
    """Round 1 has the four shots before the refill (nothing at a position already exposed); round 2 all eight."""
    write_nav(tmp_path / "grid1.nav", refill_navigator())
    (tmp_path / "Mdoc").mkdir()
    (tmp_path / "Mics").mkdir()
    rng = np.random.default_rng(4)

    def collected(shots) -> dict:
        for shot in shots:
            write_shot_mdoc(tmp_path / "Mdoc", shot)
            write_mrc(tmp_path / "Mics" / shot.movie.replace(".tif", "_fractions.mrc"), rng.normal(size=(32, 32)), 8.0)
        # (white noise: blind, accepted; the Navigator's names are what is looked at)
        args = arguments(tmp_path, "--update", "--json", "-q", "--accept-untrusted", images=True)
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["metadata"]

    shots = refill_shots()
    first = collected(shots[:4])
    assert first["same_navigator_position"] == [] and first["navigator"]["acquisitions_linked"] == 4
    second = collected(shots[4:])
    assert [(r["earlier"], r["later"]) for r in second["same_navigator_position"]] == [
        ("grid1_00000", "grid1_00004"),
        ("grid1_00001", "grid1_00005"),
    ]
