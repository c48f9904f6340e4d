"""--metadata: EPU and SerialEM readers, positions, calibration, and the micrograph job placed by them.

Real files from ../shared/data (values read by hand from the files, see PROVENANCE.md) and
generated sessions whose true positions and re-exposures are known by construction.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.algo.neighbours import neighbour_pairs
from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.formats.microscope import (
    Acquisition,
    image_key,
    match_to_micrographs,
    read_epu,
    read_mdoc,
    read_metadata,
)
from cryodedup.jobs.micrographs.placement import specimen_positions
from cryodedup.jobs.micrographs.plan import acquisition_order
from fixtures.synthetic import (
    multihole_session,
    write_epu_session,
    write_mdoc,
    write_session_micrographs,
)
from helpers import shared_file


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


# --- readers on the real files -------------------------------------------------------------


@pytest.mark.real_data
def test_real_epu_xml_krios_k3():
    a = read_epu(shared_file("epu/3dem__FoilHole_5850127_Data_5798426_5798428_20221104_061329.xml"))
    assert a.name == "3dem__FoilHole_5850127_Data_5798426_5798428_20221104_061329"
    assert a.stage_um == pytest.approx((-831.55677090, -155.12062400))
    assert a.shift == pytest.approx((0.247715026140213, -0.037177756428718567))  # BeamShift; ImageShift 0 0
    assert a.psize_A == pytest.approx(1.2851950059733497)
    assert a.beam_diameter_um == pytest.approx(0.65)
    assert a.field_px == (2880, 2046)
    # 2022-11-04T06:13:35.537803-05:00 = 11:13:35.537803 UTC
    assert a.time == pytest.approx(1667560415.537803)


@pytest.mark.real_data
def test_real_epu_xml_talos_falcon_seven_decimals():
    a = read_epu(shared_file("epu/transphire__FoilHole_983503_Data_984274_984275_20171201_1435.xml"))
    assert a.stage_um == pytest.approx((75.28752, -28.958802))
    assert a.shift == pytest.approx((0.014924436807632446, -0.0010031891288235784))
    assert a.psize_A == pytest.approx(1.237386165753307)
    assert a.field_px == (4096, 4096)
    # 2018-08-27T18:15:57.2721016+02:00 (seven decimals) = 16:15:57.2721016 UTC
    assert a.time == pytest.approx(1535386557.2721016)


@pytest.mark.real_data
def test_real_serialem_mdoc_crlf():
    (a,) = read_mdoc(shared_file("serialem/mdocfile__frame_set_single.mdoc"))
    assert a.name == "s_mmm_00993_33.0_Oct08_07.39.05"  # SubFramePath's file, the dots kept
    assert a.stage_um == (-142.82, -457.442)
    assert a.shift == (2.69654, -0.304661)
    assert a.psize_A == 1.2827
    assert a.field_px == (2880, 2046)
    assert a.time == 1633678748.0  # 08-Oct-21  07:39:08 (the microscope's clock)


# --- generated files ----------------------------------------------------------------------


@pytest.mark.parametrize("per_hole", [1, 2, 4])
def test_generated_epu_session_positions_and_inferred_calibration(tmp_path, per_hole):
    session = multihole_session(np.random.default_rng(per_hole), per_hole=per_hole, calibration=23.0)
    write_epu_session(tmp_path, session)
    acquisitions = read_metadata([tmp_path])
    assert len(acquisitions) == len(session)
    positions = specimen_positions(acquisitions, None)
    assert positions.calibration == pytest.approx(23.0, rel=0.01)
    assert positions.square_names == ["GridSquare_1000", "GridSquare_1001"]
    index = match_to_micrographs([e.name + "_fractions.mrc" for e in session], acquisitions)
    truth = np.array([e.position_um for e in session])
    assert np.abs(positions.xy[index] - truth).max() < 0.01  # µm


def four_stops(step_of_last: float = 2.0, extra: tuple = ()) -> list[Acquisition]:
    """A line of four stage stops 2 µm apart (the last ``step_of_last`` from the third), each
    with a 2x2 shift template at ±1 unit, 0.5 µm per unit (worked by hand: the template's
    columns span 2 units and continue with a 2-unit gap, so 2 µm / 4 units = 0.5), plus ``extra``
    acquisitions (stage x, shift x, shift y)."""
    stops = [0.0, 2.0, 4.0, 4.0 + step_of_last]
    rows = [(x, ix, iy) for x in stops for ix in (-1, 1) for iy in (-1, 1)] + list(extra)
    return [Acquisition(Path(f"m{k}.mdoc"), f"m{k}", (x, 0.0), (ix, iy)) for k, (x, ix, iy) in enumerate(rows)]


def test_a_lone_re_exposure_stop_does_not_pull_the_inferred_calibration():
    # Issue 38's new-user trial: a re-exposure 1.2 µm from a stop is a stop of one target; as
    # the nearest neighbour of two template stops it made their estimates 1.2/4 and 0.8/4, and
    # the median of four stops fell to 0.396: a re-exposure 0.2 µm from its original was missed.
    acquisitions = four_stops(extra=[(2.0 + 0.15, 1, 1), (4.0 + 1.2, -1, -1)])
    positions = specimen_positions(acquisitions, None)
    assert positions.calibration == pytest.approx(0.5, rel=0.02)
    assert positions.calibration_warning is None
    original, copy = positions.xy[8], positions.xy[-1]  # the stop at 4 µm, shift (-1, -1)
    assert np.hypot(*(copy - original)) == pytest.approx(1.2, abs=0.03)


def test_stops_that_disagree_on_the_calibration_are_warned_of():
    # The last stop 2.5 µm on: its estimate is 2.5 / 4 = 0.625; the other three say 0.5.
    positions = specimen_positions(four_stops(step_of_last=2.5), None)
    assert positions.calibration == pytest.approx(0.5)
    assert positions.calibration_warning is not None
    assert "from 3 of 4 stage stops" in positions.calibration_warning
    assert "the other 1 gave 0.625 to 0.625" in positions.calibration_warning
    assert "--shift-calibration" in positions.calibration_warning


def test_given_calibration_is_used(tmp_path):
    session = multihole_session(np.random.default_rng(0), calibration=23.0)
    write_epu_session(tmp_path, session)
    positions = specimen_positions(read_metadata([tmp_path]), 10.0)
    e = session[5]
    k = [a.name for a in read_metadata([tmp_path])].index(e.name)
    assert positions.xy[k] == pytest.approx(np.add(e.stage_um, np.multiply(10.0, e.shift)), abs=1e-6)


def test_generated_mdoc_reads_back(tmp_path):
    e = multihole_session(np.random.default_rng(0))[7]
    write_mdoc(tmp_path / "movie_0007.tif.mdoc", e, "movie_0007.tif")
    (a,) = read_mdoc(tmp_path / "movie_0007.tif.mdoc")
    assert a.name == "movie_0007"
    assert a.stage_um == pytest.approx(e.stage_um, abs=1e-4)
    assert a.shift == pytest.approx(e.shift, abs=1e-6)
    assert a.time == int(e.time)


def test_mdoc_with_several_frame_sets(tmp_path):
    text = (
        "T = SerialEM\nPixelSpacing = 1.1\n\n[FrameSet = 0]\nStagePosition = 1 2\nImageShift = 0.5 0\n"
        "SubFramePath = D:\\f\\a_001.tif\nDateTime = 01-Feb-24  10:00:00\n\n"
        "[FrameSet = 1]\nStagePosition = 1 2\nImageShift = -0.5 0\nSubFramePath = D:\\f\\a_002.tif\n"
        "DateTime = 01-Feb-2024  10:00:09\n"
    )
    (tmp_path / "a.mdoc").write_text(text)
    a, b = read_mdoc(tmp_path / "a.mdoc")
    assert (a.name, b.name) == ("a_001", "a_002")
    assert (a.shift, b.shift) == ((0.5, 0.0), (-0.5, 0.0))
    assert a.psize_A == 1.1  # from the header
    assert b.time - a.time == 9  # two- and four-digit years


@pytest.mark.parametrize(
    "name,text,message",
    [
        ("x.xml", "not xml <", "x.xml: not an XML file"),
        ("x.xml", "<Other/>", "root element <Other>, expected EPU's <MicroscopeImage>"),
        ("x.xml", "<MicroscopeImage><microscopeData/></MicroscopeImage>", "no stage <Position> <X>"),
        ("x.mdoc", "T = SerialEM\n[FrameSet = 0]\nImageShift = 1 2\n", "[FrameSet = 0] at line 2 has no StagePosition"),
        ("x.mdoc", "T = SerialEM\n[FrameSet = 0]\nStagePosition = 1\n", "StagePosition = '1', expected two numbers"),
        ("x.mdoc", "Voltage = 300\n", "no [FrameSet = N] or [ZValue = N] section"),
    ],
)
def test_bad_metadata_is_one_line_naming_the_file(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(CryodedupError, match=None) as err:
        read_metadata([tmp_path / name])
    assert message in str(err.value)
    assert name in str(err.value)


def test_matching_strips_what_the_tools_add():
    acquisitions = [
        type("A", (), {"name": n})()
        for n in ("FoilHole_1_Data_2_3_20221104_061329", "mic_1", "s_00993_33.0_Oct08_07.39.05")
    ]
    names = [
        "J12/motioncorrected/003164745126225829418_FoilHole_1_Data_2_3_20221104_061329_fractions_patch_aligned_doseweighted.mrc",
        "MotionCorr/job002/Movies/FoilHole_1_Data_2_3_20221104_061329_Fractions.mrc",
        "Movies/mic_10.mrc",  # not mic_1
        "Movies/mic_1.mrc",
        "Movies/s_00993_33.0_Oct08_07.39.05.mrc",
    ]
    assert match_to_micrographs(names, acquisitions).tolist() == [0, 0, -1, 1, 2]
    assert image_key("X:\\frames\\s_00993_33.0_Oct08_07.39.05.tif.mdoc") == "s_00993_33.0_Oct08_07.39.05"


def test_neighbour_pairs_agree_with_brute_force():
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 20, (400, 2))
    brute = {(i, j) for i, j in itertools.combinations(range(400), 2) if math.dist(xy[i], xy[j]) <= 0.9}
    assert {tuple(p) for p in neighbour_pairs(xy, 0.9).tolist()} == brute


def test_order_from_metadata_times():
    names = ["b_2", "a_1", "c_3"]
    order, rule = acquisition_order(names, [], "auto", np.array([30.0, 20.0, 10.0]))
    assert order.tolist() == [2, 1, 0] and rule == "acquisition times (metadata)"
    order, rule = acquisition_order(names, [], "auto", np.array([30.0, np.nan, 10.0]))
    assert rule.startswith("numbers in the names")


# --- the micrograph job placed by metadata ----------------------------------------------------


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A 2-square EPU session (166 exposures, 3 x 3 holes per stop) with 5 re-exposures 0.05-0.1 µm off."""
    folder = tmp_path_factory.mktemp("session")
    rng = np.random.default_rng(11)
    exposures = multihole_session(rng, reexposures=5)
    write_epu_session(folder / "EPU", exposures)
    write_session_micrographs(folder / "Mics", exposures, rng)
    truth = {(exposures[e.original].name, e.name) for e in exposures if e.original >= 0}
    return folder, exposures, truth


def run(folder, outdir, metadata, *args, as_json=True):
    """The micrograph job on the session's micrographs with ``--metadata metadata`` (under ``folder``)."""
    command = ["micrographs", str(folder / "Mics" / "*.mrc"), "--metadata", str(folder / metadata), "-o", str(outdir)]
    return CliRunner().invoke(main, command + list(args) + (["--json", "-q"] if as_json else []))


def found(outdir):
    stem = lambda p: p.rsplit("/", 1)[-1].removesuffix("_fractions.mrc")  # noqa: E731
    return {(stem(r["Original"]), stem(r["Duplicate"])) for r in rows(outdir / "duplicates.csv")}


@pytest.mark.slow
def test_candidates_metadata_finds_every_reexposure_comparing_few_pairs(session, tmp_path):
    folder, exposures, truth = session
    result = run(folder, tmp_path / "out", "EPU", "--candidates", "metadata")
    assert result.exit_code == 0, result.output
    s = json.loads(result.stdout)
    assert found(tmp_path / "out") == truth
    assert s["pairs_scored"] <= 3 * len(exposures)  # at most a few per micrograph
    assert s["images_read"] == 2 * len(truth)  # only the micrographs with a neighbour
    assert s["metadata"]["micrographs_matched"] == len(exposures)
    assert s["metadata"]["shift_calibration_um_per_unit"] == pytest.approx(20.0, rel=0.01)
    assert s["order"] == "acquisition times (metadata)"
    assert s["confirmed_by_images"] is True


def test_no_images_decides_from_the_metadata_and_says_so(session, tmp_path):
    folder, _exposures, truth = session
    result = run(folder, tmp_path / "out", "EPU/**/*.xml", "--no-images", as_json=False)
    assert result.exit_code == 0, result.output
    assert "NOT confirmed by images" in result.output
    assert "no pair was confirmed by its images" in result.output
    assert found(tmp_path / "out") == truth
    pairs = rows(tmp_path / "out" / "pairs.csv")
    assert all(r["z"] == "" and 0.04 < float(r["distance_um"]) < 0.11 for r in pairs if r["duplicate"] == "1")
    # The margin in µm, as pairs.csv's distances give it (it was a joint score: 3.25e+08 for two
    # exposures at one place). Only pairs within the beam are scored here: no other pair.
    farthest = max(float(r["distance_um"]) for r in pairs)
    said = re.search(r"farthest duplicate ([\d.]+) µm apart, no other pair; .* radius, 0.325 µm", result.output)
    assert said, result.output
    assert float(said[1]) == pytest.approx(farthest, abs=0.002)


def test_unmatched_micrographs_are_counted_and_named(session, tmp_path):
    folder, exposures, _truth = session
    result = run(folder, tmp_path / "out", "EPU/Images-Disc1/GridSquare_1000", "--no-images")
    s = json.loads(result.stdout)
    in_first = sum(e.square == 0 for e in exposures)
    assert s["metadata"]["micrographs_matched"] == in_first
    assert s["metadata"]["micrographs_unmatched"] == len(exposures) - in_first


@pytest.mark.parametrize(
    "args,message",
    [
        (["--no-images"], "--no-images needs --metadata"),
        (["--candidates", "metadata"], "--candidates metadata needs --metadata"),
        (["--metadata", "nowhere/*.xml"], "--metadata nowhere/*.xml: no file matches"),
        (["--metadata", "EPU", "--beam-diameter", "-1"], "--beam-diameter must be a finite number of µm > 0"),
    ],
)
def test_metadata_option_mistakes(session, tmp_path, args, message, monkeypatch):
    folder, _, _ = session
    monkeypatch.chdir(folder)
    result = CliRunner().invoke(main, ["micrographs", "Mics/*.mrc", *args, "-o", str(tmp_path / "out")])
    assert result.exit_code == (1 if "no file matches" in message else 2)  # (an option refused: a usage error)
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_metadata_with_dask_gives_the_outputs_of_one_process(session, tmp_path):
    pytest.importorskip("dask.distributed")
    folder, _exposures, truth = session
    one = run(folder, tmp_path / "one", "EPU", "--candidates", "metadata")
    assert one.exit_code == 0, one.output
    sharded = run(folder, tmp_path / "dask", "EPU", "--candidates", "metadata", "--dask", "local", "--shards", "3")
    assert sharded.exit_code == 0, sharded.output
    assert json.loads(sharded.stdout)["shards"] == 3
    for name in ("pairs.csv", "duplicates.csv", "micrographs_kept.txt", "micrographs_rejected.txt"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    assert found(tmp_path / "dask") == truth


def test_metadata_with_shard_is_refused_with_the_reason(session, tmp_path):
    folder, _, _ = session
    result = run(folder, tmp_path / "out", "EPU", "--shard", "1/2", as_json=False)
    assert result.exit_code == 2
    assert "--metadata cannot be given with --shard: micrographs-merge does not read the metadata" in result.output
    assert "use --dask" in result.output and "Traceback" not in result.output


def test_no_images_report_lists_the_uncertain_pairs_by_distance(session, tmp_path):
    # A beam of 0.18 µm: duplicates at most 0.09 µm apart; the re-exposures lie 0.05-0.1 µm
    # from their first, so some are within 1.25x of that on either side.
    pytest.importorskip("PIL")
    folder, _exposures, _truth = session
    out = tmp_path / "out"
    result = run(folder, out, "EPU", "--no-images", "--beam-diameter", "0.18", "--plot")
    assert result.exit_code == 0, result.output
    expected = {}
    for r in rows(out / "pairs.csv"):
        joint = 0.09 / float(r["distance_um"])
        if 0.8 <= joint < 1.25:
            stem = lambda p: p.rsplit("/", 1)[-1]  # noqa: E731
            expected[(stem(r["name_a"]), stem(r["name_b"]))] = "duplicate" if joint >= 1 else "not a duplicate"
    assert expected and json.loads(result.stdout)["uncertain_pairs"] == len(expected)
    report = (out / "report.html").read_text()
    table = report.split("<h2>Uncertain pairs", 1)[1].split("</table>", 1)[0]
    listed = {}
    for row in table.split("<tr>")[2:]:
        cells = [c.split("</td>")[0].replace("<wbr>", "") for c in re.split("<td[^>]*>", row)[1:]]
        listed[(cells[0], cells[1])] = cells[-1]
        assert 0.072 <= float(cells[2]) <= 0.1125 + 1e-3  # the distance (µm) that makes it uncertain
    assert listed == expected


def test_metadata_of_other_micrographs_is_named_before_the_calibration_is_inferred(session, tmp_path, monkeypatch):
    # Found by a new user (2026-11-26): one XML of another session first asked for
    # --shift-calibration, which would not have helped; the names it compares come first.
    folder, _, _ = session
    monkeypatch.chdir(folder)
    other = tmp_path / "other"
    other.mkdir()
    xml = next((folder / "EPU").rglob("*_Data_*.xml"))
    (other / "FoilHole_9_Data_9_9_20221104_000000.xml").write_text(xml.read_text())
    result = CliRunner().invoke(
        main, ["micrographs", "Mics/*.mrc", "--metadata", str(other), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert re.search(
        r"--metadata: none of the 1 acquisitions matches a micrograph by file name \(micrograph \S+\.mrc; "
        r"acquisition FoilHole_9_Data_9_9_20221104_000000, of \S+FoilHole_9_Data_9_9_20221104_000000\.xml\)",
        " ".join(result.output.split()),
    ), result.output
