"""--metadata: the values EPU XML and SerialEM .mdoc hold, checked by one rule for both readers (issue 38).

Times that are no date (item 5); a position, shift, size or pixel size that is no finite
number (item 6); beam diameters and pixel sizes of 0 (not recorded: the next source is
used, and the summary says so) or below 0 (refused) (item 7). Each bad value is one line
naming the file, the section (SerialEM) or element (EPU), the field and the value.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tracemalloc
from datetime import datetime, timezone

import pytest

from cryodedup.errors import CryodedupError
from cryodedup.formats.microscope import metadata_files, read_epu, read_mdoc
from cryodedup.jobs.micrographs.placement import beam_diameter, place
from cryodedup.jobs.micrographs.plan import placed_pairs
from fixtures.synthetic import EPU_XML, write_line_mdoc

GOOD = {"psize_m": "0.83e-10", "nx": "5760", "ny": "4092", "beam_m": "0.65e-6"} | {
    "bx": "0.1",
    "by": "0.2",
    "x_m": "1e-5",
    "y_m": "2e-5",
}
WHEN = "2022-11-04T06:13:35.250000+00:00"


class Text(str):
    """A value written as is (the template formats numbers with ``!r``)."""

    def __repr__(self) -> str:
        return str(self)


def epu(tmp_path, name="FoilHole_1_Data_2_3_20221104_061329.xml", when=WHEN, **values):
    """An EPU data image's XML with the given values (text, as EPU would write them)."""
    path = tmp_path / name
    path.write_text(EPU_XML.format(when=when, **{k: Text(v) for k, v in {**GOOD, **values}.items()}))
    return path


def mdoc(tmp_path, *lines, header="PixelSpacing = 1.0"):
    """A SerialEM .mdoc of two [ZValue] sections; ``lines`` go into the second (line 8 on)."""
    path = tmp_path / "stack.mdoc"
    text = f"T = SerialEM\n{header}\n\n[ZValue = 0]\nStagePosition = 1 2\n\n[ZValue = 1]\nStagePosition = 3 4\n"
    path.write_text(text + "".join(line + "\n" for line in lines))
    return path


def refused(read, path, *parts):
    with pytest.raises(CryodedupError) as err:
        read(path)
    message = str(err.value)
    assert "\n" not in message
    for part in (str(path), *parts):
        assert part in message, (part, message)
    return message


# --- item 5: acquisitionDateTime -------------------------------------------------------------


def utc(*fields, micro=0):
    return datetime(*fields, tzinfo=timezone.utc).timestamp() + micro


@pytest.mark.parametrize(
    "text,seconds",
    [
        # seven decimals, as EPU 1.x writes them; the offset subtracted by hand
        ("2018-08-27T18:15:57.2721016+02:00", utc(2018, 8, 27, 16, 15, 57, micro=0.2721016)),
        ("2022-11-04T06:13:35.537803-05:00", utc(2022, 11, 4, 11, 13, 35, micro=0.537803)),
        ("2022-11-04T06:13:35Z", utc(2022, 11, 4, 6, 13, 35)),
        ("2022-11-04T06:13:35", utc(2022, 11, 4, 6, 13, 35)),  # no zone: UTC, as SerialEM's times
        ("2022-11-04T06:13:35.1234567891234+00:00", utc(2022, 11, 4, 6, 13, 35, micro=0.1234567891234)),
        ("  2024-02-29T23:59:59.5Z \n", utc(2024, 2, 29, 23, 59, 59, micro=0.5)),  # a leap day
        ("", None),  # empty: no time
    ],
)
def test_epu_times_that_are_dates_are_read(tmp_path, text, seconds):
    a = read_epu(epu(tmp_path, when=text))
    assert a.time == (pytest.approx(seconds, abs=1e-6) if seconds is not None else None)


@pytest.mark.parametrize(
    "text",
    [
        "2022-13-45T99:99:99",
        "2022-02-30T10:00:00Z",
        "2023-02-29T10:00:00Z",  # not a leap year
        "2022-11-04T24:00:00Z",
        "2022-11-04T06:13:35+25:00",
        "2022-11-04T06:13:35+05:75",
        "0000-01-01T00:00:00Z",
        "2022-11-04 06:13:35",
        "04/11/2022 06:13",
        "2022-11-04T06:13:35.Z",
        "２０２２-11-04T06:13:35Z",  # full-width digits
        "nan",
    ],
)
def test_epu_times_that_are_no_dates_are_one_line_naming_the_file_and_value(tmp_path, text):
    refused(read_epu, epu(tmp_path, when=text), "<acquisitionDateTime>", repr(text))


@pytest.mark.parametrize("text", ["08-Oct-21 25:39:08", "31-Feb-21  07:39:08", "yesterday", "2021-10-08T07:39:08"])
def test_mdoc_times_that_are_no_dates_are_refused_the_same_way(tmp_path, text):
    refused(read_mdoc, mdoc(tmp_path, f"DateTime = {text}"), "[ZValue = 1] at line 7", "DateTime", repr(text))


def test_bad_time_through_the_command_line_is_one_error_line(tmp_path):
    path = epu(tmp_path, name="mic_1_Data_1.xml", when="2022-13-45T99:99:99")
    (tmp_path / "mic_1.mrc").write_bytes(b"")
    stderr = cli(tmp_path, path)
    assert stderr.startswith("Error: ") and "mic_1_Data_1.xml" in stderr and "'2022-13-45T99:99:99'" in stderr


def cli(tmp_path, metadata):
    """stderr of ``micrographs --no-images --metadata`` in a subprocess (-q: a warning would still show)."""
    command = [sys.executable, "-m", "cryodedup", "micrographs", str(tmp_path / "*.mrc"), "--metadata", str(metadata)]
    run = subprocess.run(
        [*command, "--no-images", "-q", "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr  # no traceback, no RuntimeWarning
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    return run.stderr.strip()


# --- item 6: non-finite positions, shifts, sizes and pixel sizes ---------------------------------

NOT_FINITE = ["nan", "inf", "-inf", "1e400", "-1e400", "NaN", "Infinity"]


@pytest.mark.parametrize("value", NOT_FINITE)
@pytest.mark.parametrize(
    "line,field",
    [
        ("StagePosition = {v} 0", "StagePosition"),
        ("StagePosition = 0 {v}", "StagePosition"),
        ("ImageShift = {v} {v}", "ImageShift"),
        ("UncroppedSize = {v} 512", "UncroppedSize"),
        ("PixelSpacing = {v}", "PixelSpacing"),
    ],
)
def test_mdoc_non_finite_values_are_refused_with_file_section_and_field(tmp_path, line, field, value):
    path = mdoc(tmp_path, line.format(v=value))
    if field == "StagePosition":  # the section's own position comes later, replacing the first
        path.write_text(path.read_text().replace("StagePosition = 3 4\n", ""))
    refused(read_mdoc, path, "[ZValue = 1] at line 7", field, repr(value))


@pytest.mark.parametrize("value", NOT_FINITE)
@pytest.mark.parametrize(
    "key,element",
    [
        ("x_m", "stage <Position> <X>"),
        ("y_m", "stage <Position> <Y>"),
        ("bx", "<BeamShift> _x"),
        ("by", "<BeamShift> _y"),
        ("nx", "<ReadoutArea>"),
        ("psize_m", "pixel size"),
        ("beam_m", "<BeamDiameter>"),
    ],
)
def test_epu_non_finite_values_are_refused_with_file_element_and_value(tmp_path, key, element, value):
    refused(read_epu, epu(tmp_path, **{key: value}), element, repr(value))


def test_mdoc_header_pixel_size_is_named_as_the_header(tmp_path):
    refused(read_mdoc, mdoc(tmp_path, header="PixelSpacing = nan"), "PixelSpacing (before the sections)", "'nan'")


@pytest.mark.parametrize("key,value", [("x_m", "2"), ("bx", "1e7")])
def test_positions_and_shifts_beyond_any_stage_are_refused(tmp_path, key, value):
    # 2 m of stage travel, 1e7 shift units: no microscope's, and sums of such values could overflow
    unit = " m (EPU's unit)" if key == "x_m" else ""  # (a shift is in the microscope's own units)
    refused(
        read_epu, epu(tmp_path, **{key: value}), repr(value), f"expected a number within ±{1 if unit else 1e6:g}{unit}"
    )


@pytest.mark.parametrize("size,message", [("512.5 512", "whole numbers"), ("2e6 512", "within")])
def test_mdoc_sizes_must_be_whole_camera_read_outs(tmp_path, size, message):
    refused(read_mdoc, mdoc(tmp_path, f"UncroppedSize = {size}"), "UncroppedSize", message)


def test_non_finite_position_through_the_command_line_prints_no_warning(tmp_path):
    path = mdoc(tmp_path, "ImageShift = nan nan", "SubFramePath = X:\\f\\mic_1.tif")
    (tmp_path / "mic_1.mrc").write_bytes(b"")
    stderr = cli(tmp_path, path)
    assert "stack.mdoc: section [ZValue = 1] at line 7: ImageShift is 'nan'" in stderr


# --- item 7: beam diameters and pixel sizes of 0 or below ----------------------------------------


@pytest.mark.parametrize("value", ["-0.65e-6", "-1", "-0"])
def test_epu_negative_beam_diameter_is_refused(tmp_path, value):
    if value == "-0":  # -0 is 0: not recorded
        assert read_epu(epu(tmp_path, beam_m=value)).beam_diameter_um is None
        return
    refused(read_epu, epu(tmp_path, beam_m=value), "<BeamDiameter>", repr(value), "expected a positive number")


@pytest.mark.parametrize("reader", ["epu", "mdoc"])
def test_negative_pixel_size_is_refused_in_both_readers(tmp_path, reader):
    if reader == "epu":
        refused(read_epu, epu(tmp_path, psize_m="-1e-10"), "pixel size", "'-1e-10'", "expected a positive number")
    else:
        refused(read_mdoc, mdoc(tmp_path, "PixelSpacing = -1"), "PixelSpacing", "'-1'", "expected a positive number")


def test_zero_pixel_size_falls_back_the_same_way_in_both_readers(tmp_path):
    a = read_epu(epu(tmp_path, psize_m="0", beam_m="0"))
    _, b = read_mdoc(mdoc(tmp_path, "PixelSpacing = 0", "UncroppedSize = -5760 -4092"))
    assert a.psize_A is None and b.psize_A is None and a.beam_diameter_um is None
    assert a.field_px == b.field_px == (5760, 4092)  # SerialEM's negative size is its magnitude
    diameter, how = beam_diameter([a, b], None)
    assert diameter == 1.0
    assert "BeamDiameter 0 (not recorded) in 1 of 2 acquisitions" in how
    assert "pixel size 0 (not recorded) in 2 of 2 acquisitions" in how and str(a.source) in how


def test_zero_beam_diameter_falls_back_to_the_field_and_says_so(tmp_path):
    zero = read_epu(epu(tmp_path, name="a_Data_1.xml", beam_m="0"))
    other = read_epu(epu(tmp_path, name="b_Data_2.xml", beam_m="0"))
    diameter, how = beam_diameter([zero, other], None)
    # hand-worked: hypot(5760, 4092) px x 0.83 Å = 7065.6 x 0.83 Å = 0.58645 µm
    assert diameter == pytest.approx(0.58645, abs=1e-4)
    assert how.startswith("the camera field's diagonal (no BeamDiameter in the metadata)")
    assert "; BeamDiameter 0 (not recorded) in 2 of 2 acquisitions, e.g. " in how
    with_one = read_epu(epu(tmp_path, name="c_Data_3.xml", beam_m="1.5e-6"))
    diameter, how = beam_diameter([zero, other, with_one], None)
    assert diameter == pytest.approx(1.5) and "BeamDiameter 0 (not recorded) in 2 of 3" in how


def test_valid_session_says_nothing_more(tmp_path):
    a = read_epu(epu(tmp_path))
    assert beam_diameter([a], None) == (pytest.approx(0.65), "the metadata's BeamDiameter")


# --- item 8: the pair search of crowded positions ---------------------------------------------------


def test_crowded_mdoc_costs_a_few_pairs_per_section_and_says_it_capped(tmp_path):
    """20,000 sections 10 nm apart on one line: before issue 38, grouping them listed every pair
    within 10 µm (20M pairs, 320 MB); now the search holds a few pairs per section."""
    n = 20_000
    write_line_mdoc(tmp_path, n, 0.01)
    names = [f"line_{k}.mrc" for k in range(n)]
    placement = place(names, [tmp_path / "line.mdoc"], None, None)  # read first: its text is not the search's
    tracemalloc.start()
    try:
        pairs = placed_pairs(placement, list(range(n)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert placement.beam_diameter == 1.0  # no field size: 1 µm, so 100 sections within reach of each
    # each section with its 8 nearest (4 on each side, the ends reaching further: 10 more pairs at each)
    assert len(pairs) == 4 * n - 10 + 20
    assert peak < 300 * n, f"{peak / n:.0f} bytes per section"
    metadata = placement.summary().to_json()
    assert metadata["crowded_micrographs"] == n and metadata["most_neighbours"] == 8
    assert "20,000 micrographs have more than 8 others within the beam diameter (1 µm)" in str(placement.crowding())


@pytest.mark.slow
def test_stage_stops_and_squares_of_a_crowded_mdoc_are_bounded_too(tmp_path):
    n = 20_000
    with open(tmp_path / "line.mdoc", "w") as f:
        f.write("T = SerialEM\nPixelSpacing = 1.0\n\n")
        f.writelines(f"[ZValue = {k}]\nStagePosition = {k * 0.01:.4f} 0\nImageShift = {k % 3} 0\n\n" for k in range(n))
    tracemalloc.start()
    try:
        with pytest.raises(CryodedupError, match="cannot infer the shift calibration"):
            place([f"line_{k}.mrc" for k in range(n)], [tmp_path / "line.mdoc"], None, None)  # one stop
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3000 * n, f"{peak / n:.0f} bytes per section"  # the reading's dicts and objects included


# --- the barrage's findings (issue 38) ---------------------------------------------------------------


def test_a_folder_named_like_a_metadata_file_is_passed_over(tmp_path):
    epu(tmp_path / "Data" if (tmp_path / "Data").mkdir() is None else tmp_path)
    (tmp_path / "Data" / "x_Data_1.xml").mkdir()
    (tmp_path / "Data" / "other.mdoc").mkdir()
    assert [p.name for p in metadata_files([tmp_path / "Data"])] == ["FoilHole_1_Data_2_3_20221104_061329.xml"]


def test_two_sections_naming_one_image_are_refused(tmp_path):
    path = mdoc(tmp_path, "[ZValue = 0]", "StagePosition = 5 6")
    refused(read_mdoc, path, "the section at line 9 describes image stack_0, as the section at line 4 does")
    frames = mdoc(
        tmp_path, "SubFramePath = X:\\f\\a.tif", "[ZValue = 2]", "StagePosition = 5 6", "SubFramePath = D:\\a.tif"
    )
    refused(read_mdoc, frames, "the section at line 10 describes image a, as the section at line 7 does")


@pytest.mark.parametrize("encoding", ["utfm16", "rot13", "shift_jis", "idna", "utf-7"])
def test_xml_declaring_an_encoding_python_or_expat_cannot_take_is_one_line(tmp_path, encoding):
    # found by the epu_xml fuzz target: LookupError, then ValueError and UnicodeError, escaped read_epu
    path = epu(tmp_path)
    path.write_bytes(f'<?xml version="1.0" encoding="{encoding}"?>'.encode() + path.read_bytes())
    refused(read_epu, path, "not an XML file")


# --- found by the barrage (2026-11-26): values read as 0, a third number or a second line --------


def test_epu_xml_without_either_shift_is_refused(tmp_path):
    # With neither <BeamShift> nor <ImageShift>, the image was placed at the hole's centre:
    # a false duplicate of the shot taken there.
    path = epu(tmp_path)
    text = path.read_text()
    for element in ("BeamShift", "ImageShift"):
        text = re.sub(rf"<{element}[ >].*?</{element}>", "", text, flags=re.S)
    assert "Shift" not in text
    path.write_text(text)
    refused(read_epu, path, "no <BeamShift> or <ImageShift>")
    # One of them nil (EPU moves the beam with the other): read as 0, as before.
    path.write_text(re.sub(r"<ImageShift[ >].*?</ImageShift>", '<ImageShift i:nil="true"/>', epu(tmp_path).read_text()))
    assert read_epu(path).shift == read_epu(epu(tmp_path, name="b_Data_1.xml")).shift


@pytest.mark.parametrize(
    "lines,message",
    [
        (["ImageShift = 1 2 3"], "ImageShift = '1 2 3', expected two numbers"),
        (["ImageShift = 1 2", "ImageShift = 0 0"], "line 10: ImageShift given twice in one section"),
        (["PixelSpacing = 1.1", "PixelSpacing = 2.2"], "line 10: PixelSpacing given twice in one section"),
    ],
)
def test_mdoc_values_that_say_two_things_are_refused(tmp_path, lines, message):
    refused(read_mdoc, mdoc(tmp_path, *lines), message)


def test_a_beam_diameter_or_pixel_size_beyond_a_metre_is_refused(tmp_path):
    # Before: <BeamDiameter>6.5E307</BeamDiameter> (metres, finite) became an infinite diameter in µm, accepted
    # (a fuzz finding); the pixel size alike in Å.
    for key, element, value in (
        ("beam_m", "<BeamDiameter>", "6.5E307"),
        ("beam_m", "<BeamDiameter>", "2"),
        ("psize_m", "<pixelSize> <x>", "6.5E307"),
    ):
        path = epu(tmp_path, **{key: value})
        refused(read_epu, path, f"{element} is '{value}', expected a number within ±1 m")
