"""Issue 54 item 1: a --psize that the MRC headers or the input list contradict is refused.

The seen cases: ``micrographs 'mics/*.mrc' --psize 1.37`` on bin-8 K3 micrographs whose
headers say 10.96 Å (1.37 Å is the detector pixel): 43 of 52 rejected where 4 are re-exposures;
``--psize 1.096`` (a decimal slip): 44 rejected.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from fixtures.synthetic import write_cs, write_mrc
from helpers import NO_SHARED_DATA, SHARED_DATA, write_star

REAL = SHARED_DATA / "micrographs"


@pytest.fixture(scope="module")
def micrographs(tmp_path_factory):
    """Four noise micrographs whose headers say 4 Å, and four whose headers say 1 Å (the placeholder)."""
    rng = np.random.default_rng(0)
    folders = {}
    for psize in (4.0, 1.0):
        folder = tmp_path_factory.mktemp(f"mics{psize:g}")
        for k in range(4):
            write_mrc(folder / f"m{k}.mrc", rng.normal(size=(128, 128)).astype(np.float32), psize)
        folders[psize] = sorted(map(str, folder.glob("*.mrc")))
    return folders


def run(inputs, out, *options):
    # (--accept-untrusted: white noise holds no specimen, so a re-exposure of it could not be told; the pixel
    # size is what these tests look at, not the verdict)
    args = ["micrographs", *map(str, inputs), "-o", str(out), "--bin", "1", "--accept-untrusted", *options]
    return CliRunner().invoke(main, args)


def one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


@pytest.mark.parametrize("psize", ["4", "4.19", "3.82"])
def test_a_value_within_5_percent_of_the_header_agrees(micrographs, tmp_path, psize):
    result = run(micrographs[4.0], tmp_path / "out", "--psize", psize, "--json")
    assert result.exit_code == 0, result.output
    assert "pixel_size_insisted" not in json.loads(result.output[result.output.index("{") :])


@pytest.mark.parametrize(
    ("psize", "hint"), [("2", "4 is 2 x 2"), ("0.4", "a decimal slip? (4 is 10 x 0.4)"), ("4.3", "")]
)
def test_a_value_the_headers_contradict_is_refused(micrographs, tmp_path, psize, hint):
    line = one_error_line(run(micrographs[4.0], tmp_path / "out", "--psize", psize))
    assert f"--psize {psize} Å contradicts the MRC header's pixel size 4 Å of {micrographs[4.0][0]}" in line
    assert hint in line and line.endswith(f"or --insist-psize to use {psize}")
    assert not (tmp_path / "out").exists()


def test_a_header_of_1_angstrom_is_no_evidence(micrographs, tmp_path):
    # Writers put 1 Å where they know no pixel size: the typed value is taken.
    assert run(micrographs[1.0], tmp_path / "out", "--psize", "4").exit_code == 0


def test_insisting_runs_and_the_summary_says_so(micrographs, tmp_path):
    result = run(micrographs[4.0], tmp_path / "out", "--psize", "2", "--insist-psize", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    assert summary["pixel_size_A"] == 2.0
    note = summary["pixel_size_insisted"]
    assert note.startswith("--psize 2 Å insisted on (--insist-psize); it contradicts the MRC header's pixel size 4 Å")
    assert note in summary["warnings"]
    shown = run(micrographs[4.0], tmp_path / "out2", "--psize", "2", "--insist-psize")
    assert "Pixel size" in shown.output and "insisted on" in shown.output


def test_a_micrographs_star_input_contradicts(micrographs, tmp_path):
    star = write_star(
        tmp_path / "micrographs.star",
        ["rlnMicrographName", "rlnOpticsGroup"],
        [[name, 1] for name in micrographs[1.0]],
        optics=[[1, "og", 3.0]],
        optics_labels=["rlnOpticsGroup", "rlnOpticsGroupName", "rlnMicrographPixelSize"],
        block="micrographs",
    )
    line = one_error_line(run([star], tmp_path / "out", "--psize", "6"))
    assert f"--psize 6 Å contradicts rlnMicrographPixelSize 3 Å in {star}" in line
    assert run([star], tmp_path / "ok", "--psize", "3").exit_code == 0


@pytest.mark.skipif(not REAL.is_dir(), reason=NO_SHARED_DATA)
@pytest.mark.parametrize(("psize", "hint"), [("1.37", "10.96 is 8 x 1.37"), ("1.096", "a decimal slip?")])
def test_real_bin8_micrographs_refuse_the_detector_pixel_and_a_decimal_slip(tmp_path, psize, hint):
    # Before: binning 9 instead of 1 and 43 (1.37) or 44 (1.096) of 52 micrographs rejected.
    mics = sorted(REAL.glob("*.mrc"))
    assert len(mics) == 52
    line = one_error_line(run(mics, tmp_path / "out", "--psize", psize, "--target-psize", "11"))
    assert f"--psize {psize} Å contradicts the MRC header's pixel size 10.96 Å of {mics[0]}" in line
    assert "(52 of 52 headers contradict it)" in line and hint in line


def exposures_of(path, names, psize):
    """CryoSPARC exposures of the micrographs ``names``, each stating ``psize`` Å."""
    exposures = np.zeros(
        len(names), dtype=[("uid", "<u8"), ("micrograph_blob/path", "S200"), ("micrograph_blob/psize_A", "<f4")]
    )
    exposures["uid"] = np.arange(11, 11 + len(names))
    exposures["micrograph_blob/path"] = [name.encode() for name in names]
    exposures["micrograph_blob/psize_A"] = psize
    write_cs(path, exposures)


def test_cryosparc_exposures_input_contradicts(micrographs, tmp_path):
    # Exposures of the 1 Å-header micrographs (no evidence there) saying 0.83 Å: --psize 1.66 is refused.
    exposures_of(tmp_path / "J3_exposures.cs", micrographs[1.0], 0.83)
    line = one_error_line(run([tmp_path / "J3_exposures.cs"], tmp_path / "out", "--psize", "1.66"))
    assert f"--psize 1.66 Å contradicts micrograph_blob/psize_A 0.83 Å in {tmp_path / 'J3_exposures.cs'}" in line
    assert run([tmp_path / "J3_exposures.cs"], tmp_path / "ok", "--psize", "0.83").exit_code == 0


@pytest.fixture(scope="module")
def mixed_headers(tmp_path_factory):
    """20 micrographs in acquisition order: the headers of the first 10 say 5.48 Å, of the last 10 10.96 Å."""
    rng = np.random.default_rng(1)
    folder = tmp_path_factory.mktemp("mixed")
    for k in range(20):
        write_mrc(folder / f"m{k:02d}.mrc", rng.normal(size=(128, 128)).astype(np.float32), 5.48 if k < 10 else 10.96)
    return sorted(map(str, folder.glob("*.mrc")))


@pytest.mark.parametrize(("psize", "first"), [("10.96", 0), ("5.48", 10)])
def test_every_header_read_is_checked_not_the_first_only(mixed_headers, tmp_path, psize, first):
    line = one_error_line(run(mixed_headers, tmp_path / "out", "--psize", psize))
    stated = "5.48" if first == 0 else "10.96"
    assert f"contradicts the MRC header's pixel size {stated} Å of {mixed_headers[first]}" in line
    assert "(10 of 20 headers contradict it)" in line
    assert not (tmp_path / "out").exists()


# --- Follow-up of the new user's trial (stop 94): a list's pixel size the MRC headers contradict ---------------
# Before: the run took the STAR's value unchecked (the real 52 at "12.3 Å": NOT TRUSTED, "check the pixel size
# against the MRC headers (--psize)"); --psize with the headers' value was refused ("give the pixel size of the
# micrographs as they are"), and only --insist-psize went on.


def printed_advice(line: str) -> list[str]:
    """Every ``--psize X`` the one-line refusal offers, in the order printed."""
    return re.findall(r"--psize ([0-9.]+) if", line)


def star_of(path, names, psize):
    return write_star(
        path,
        ["rlnMicrographName", "rlnOpticsGroup"],
        [[name, 1] for name in names],
        optics=[[1, "og", psize]],
        optics_labels=["rlnOpticsGroup", "rlnOpticsGroupName", "rlnMicrographPixelSize"],
        block="micrographs",
    )


def test_a_star_the_headers_contradict_is_refused_and_each_advice_runs_as_printed(micrographs, tmp_path):
    star = star_of(tmp_path / "micrographs.star", micrographs[4.0], 2.0)
    line = one_error_line(run([star], tmp_path / "out"))
    assert (
        f"rlnMicrographPixelSize 2 Å in {star} contradicts the MRC header's pixel size 4 Å of {micrographs[4.0][0]}"
        in line
    )
    assert "(4 of 4 headers contradict it)" in line and "RELION's jobs used 2 Å" in line
    assert printed_advice(line) == ["2", "4"]
    assert not (tmp_path / "out").exists()
    for k, psize in enumerate(printed_advice(line)):
        result = run([star], tmp_path / f"ok{k}", "--psize", psize, "--json")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output[result.output.index("{") :])
        assert summary["pixel_size_A"] == float(psize)
        other = "the MRC header's pixel size 4 Å" if psize == "2" else f"rlnMicrographPixelSize 2 Å in {star}"
        assert summary["pixel_size_insisted"].startswith(f"--psize {psize} Å chosen; it contradicts {other}")


def test_a_star_the_headers_agree_with_runs_as_before(micrographs, tmp_path):
    star = star_of(tmp_path / "micrographs.star", micrographs[4.0], 4.0)
    result = run([star], tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert "pixel_size_insisted" not in json.loads(result.output[result.output.index("{") :])


def test_a_value_both_sources_contradict_names_both_and_each_runs(micrographs, tmp_path):
    star = star_of(tmp_path / "micrographs.star", micrographs[4.0], 2.0)
    line = one_error_line(run([star], tmp_path / "out", "--psize", "7"))
    assert "give --psize 2 (rlnMicrographPixelSize) or --psize 4 (the MRC headers)" in line
    for psize in re.findall(r"--psize ([0-9.]+) \(", line):
        assert run([star], tmp_path / f"ok{psize}", "--psize", psize).exit_code == 0


def test_a_value_agreeing_sources_contradict_says_leave_it_out(micrographs, tmp_path):
    # Before: "give the pixel size of the micrographs as they are (binned)", what the user thought --psize 2 was.
    line = one_error_line(run(micrographs[4.0], tmp_path / "out", "--psize", "2"))
    assert "; leave --psize out to use 4 Å, or --insist-psize to use 2" in line
    result = run(micrographs[4.0], tmp_path / "ok", "--json")  # as printed: without --psize
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("{") :])["pixel_size_A"] == 4.0


def test_exposures_the_headers_contradict_are_refused(micrographs, tmp_path):
    exposures_of(tmp_path / "J3_exposures.cs", micrographs[4.0], 0.5)
    line = one_error_line(run([tmp_path / "J3_exposures.cs"], tmp_path / "out"))
    assert "micrograph_blob/psize_A 0.5 Å" in line and "the MRC header's pixel size 4 Å" in line
    assert "CryoSPARC's jobs used 0.5 Å" in line and printed_advice(line) == ["0.5", "4"]
    for psize in printed_advice(line):
        assert run([tmp_path / "J3_exposures.cs"], tmp_path / f"ok{psize}", "--psize", psize).exit_code == 0


@pytest.mark.skipif(not REAL.is_dir(), reason=NO_SHARED_DATA)
def test_real_star_stating_the_detector_pixel_is_refused_and_the_headers_value_finds_the_4(tmp_path):
    # The trial's case: a micrographs STAR stating 1.37 Å (the header's z spacing, the detector pixel) for the
    # bin-8 micrographs whose headers say 10.96 Å. PROVENANCE's truth: 04736..04739 re-expose 04700..04703.
    mics = sorted(REAL.glob("*.mrc"))
    star = star_of(tmp_path / "micrographs.star", mics, 1.37)
    line = one_error_line(run([star], tmp_path / "out", "--target-psize", "11"))
    assert "rlnMicrographPixelSize 1.37 Å" in line and "pixel size 10.96 Å" in line
    assert "(52 of 52 headers contradict it)" in line and printed_advice(line) == ["1.37", "10.96"]
    found = run([star], tmp_path / "headers", "--target-psize", "11", "--psize", "10.96", "--json")
    assert found.exit_code == 0, found.output
    rejected = (tmp_path / "headers" / "micrographs_rejected.star").read_text()
    assert sorted(re.findall(r"CU428_(\d+)_", rejected)) == ["04736", "04737", "04738", "04739"]
    # The STAR's value, as printed, goes past the pixel-size check to the screen's own verdict (at "11 Å" it bins
    # 10.96 Å pixels by 8: the screen cannot be trusted there and says so, with --psize as its advice).
    kept = run([star], tmp_path / "star", "--target-psize", "11", "--psize", "1.37")
    assert "chosen; it contradicts the MRC header's pixel size 10.96 Å" in kept.output
