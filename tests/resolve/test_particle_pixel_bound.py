"""A typed --mic-psize above the particles' own pixel size (a new user's trial): refused unless insisted on.

Particles are extracted at their micrographs' pixel or binned (a larger pixel), so where a file
states the particles' pixel size (RELION's ``rlnImagePixelSize``, RELION 3.0's
``rlnDetectorPixelSize`` / ``rlnMagnification``, CryoSPARC's ``blob/psize_A``) and no micrograph
pixel size, the micrographs' is at most it, within 5 % (docs/developers/decisions/centres-and-pixel-sizes.md).
Hand-worked: particles of 1.7 Å; 0.85 (binned 2x at extraction) and 1.7 (unbinned) pass,
1.785 is 5 % above (passes), 3.4 is refused.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import recfunctions

from cryodedup.errors import PixelSizeError
from cryodedup.particle_set import Evidence, StatedPixelSizes, TypedPixelSize
from cryodedup.resolve.given_psize import agrees, check_given_psize, judge_typed_psize
from fixtures.synthetic import cs_particles, write_cs
from helpers import one_error_line, shared_file, write_star

BOUND = Evidence(1.7, "rlnImagePixelSize", "of optics group 1 in p.star", ceiling=True)
ROWS = [
    [100.0, 100.0, 0.0, 0.0, "m1.mrc", 1],
    [110.0, 100.0, 0.0, 0.0, "m1.mrc", 1],
    [1000.0, 1000.0, 0.0, 0.0, "m1.mrc", 1],
]
LABELS = [
    "rlnCoordinateX",
    "rlnCoordinateY",
    "rlnOriginXAngst",
    "rlnOriginYAngst",
    "rlnMicrographName",
    "rlnOpticsGroup",
]


def _cli(*args: object) -> tuple[int, str, str]:
    """The command line in a subprocess, as a user runs it: (status, stdout, stderr)."""
    run = subprocess.run(
        [sys.executable, "-m", "cryodedup.cli", *map(str, args)], capture_output=True, text=True, check=False
    )
    return run.returncode, run.stdout, run.stderr


def _summary(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def _optics_star(tmp_path: Path, labels: list[str], values: list[object]) -> Path:
    """Particles of one optics group whose optics table holds ``labels`` (the hand-worked rows)."""
    optics = [[1, "opticsGroup1", *values]]
    path = tmp_path / "particles.star"
    return write_star(
        path, LABELS, ROWS, optics=optics, optics_labels=["rlnOpticsGroup", "rlnOpticsGroupName", *labels]
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [(0.85, True), (1.7, True), (1.78, True), (1.785, True), (1.79, False), (3.4, False), (17.0, False)],
)
def test_the_particles_pixel_bounds_the_micrographs(given, expected):
    # 1.7 x 1.05 = 1.785: within the tolerance of every pixel size; 1.79 is 5.3 % above.
    assert agrees(given, BOUND) is expected


def test_the_bound_refuses_in_one_line_and_names_what_to_give():
    with pytest.raises(PixelSizeError) as refused:
        check_given_psize("--mic-psize", 3.4, [BOUND], False, "give the micrographs' pixel size")
    assert str(refused.value) == (
        "--mic-psize 3.4 Å contradicts rlnImagePixelSize 1.7 Å of optics group 1 in p.star, the particles' pixel: "
        "a micrograph pixel is at most the particles' (extraction keeps it or bins it to a larger one); give the "
        "micrographs' pixel size, at most 1.7 Å (--mic-psize 1.7 if the particles were extracted without "
        "rescaling), or --insist-psize to use 3.4"
    )
    # A decimal slip is said as for the other evidence.
    with pytest.raises(PixelSizeError, match=r"a decimal slip\? \(17 is 10 x 1\.7\)"):
        check_given_psize("--mic-psize", 17.0, [BOUND], False, "give it")
    insisted = check_given_psize("--mic-psize", 3.4, [BOUND], True, "give it")
    assert insisted is not None and insisted.source.startswith(
        "--mic-psize, insisted on (--insist-psize) though it contradicts rlnImagePixelSize 1.7 Å of optics group 1"
    )


def test_a_micrograph_pixel_stated_or_agreeing_lifts_the_bound():
    # Upsampled at extraction (rare): the micrographs STAR given with --micrographs states 3.4 Å; 3.4 agrees with it.
    listed = Evidence(3.4, "rlnMicrographPixelSize", "in micrographs_ctf.star")
    assert check_given_psize("--mic-psize", 3.4, [BOUND, listed], False, "give it") is None
    # A detector pixel stated beside it and larger than the particles' (upsampled, as the file says): no bound.
    beside = Evidence(1.7, "rlnImagePixelSize", "of optics group 1 in p.star", trap_beside=2.0, ceiling=True)
    assert check_given_psize("--mic-psize", 2.0, [beside], False, "give it") is None
    # A micrograph pixel contradicted is named before the bound.
    with pytest.raises(PixelSizeError, match=r"^--mic-psize 5 Å contradicts rlnMicrographPixelSize 1\.06 Å in m\.star"):
        check_given_psize(
            "--mic-psize", 5.0, [BOUND, Evidence(1.06, "rlnMicrographPixelSize", "in m.star")], False, "g"
        )
    # A list that states the particles' pixel and no micrograph pixel (CryoSPARC's blob/psize_A alone): the smallest.
    own = StatedPixelSizes("in p.cs", (), "location/micrograph_psize_A", traps=(2.0, 1.7), traps_field="blob/psize_A")
    with pytest.raises(PixelSizeError, match=r"contradicts blob/psize_A 1\.7 Å in p\.cs, the particles' pixel"):
        judge_typed_psize(TypedPixelSize(1.9, False, lists=(own,)), warn=print)


def test_relion_optics_table_with_only_the_particles_pixel(tmp_path):
    star = _optics_star(tmp_path, ["rlnImagePixelSize"], [1.7])
    common = ["particles", star, "--min-dist", "10", "--score", "none", "--json"]
    # Hand-worked: rows 1 and 2 are 10 px apart: 8.5 Å at 0.85 Å/px (one a duplicate), 17 Å at 1.7.
    for given, kept in (("0.85", 2), ("1.7", 3), ("1.75", 3)):
        status, out, err = _cli(*common, "--mic-psize", given, "-o", tmp_path / given)
        assert status == 0, err
        summary = _summary(out)
        assert summary["kept"] == kept and summary["pixel_sizes"][0]["source"] == "--mic-psize", summary
    status, _, err = _cli(*common, "--mic-psize", "3.4", "-o", tmp_path / "refused")
    line = one_error_line(err)
    assert "Traceback" not in err and not (tmp_path / "refused" / "particles_kept.star").exists()
    for said in (f"rlnImagePixelSize 1.7 Å of optics group 1 in {star}", "--mic-psize 3.4 Å", "at most 1.7 Å"):
        assert said in line, line
    status, out, err = _cli(*common, "--mic-psize", "3.4", "--insist-psize", "-o", tmp_path / "insisted")
    assert status == 0, err
    summary = _summary(out)
    against = f"contradicts rlnImagePixelSize 1.7 Å of optics group 1 in {star}, the particles' pixel"
    assert any(f"--mic-psize 3.4 Å insisted on (--insist-psize); it {against}" in w for w in summary["warnings"])
    assert summary["pixel_sizes"][0]["source"].startswith(
        f"--mic-psize, insisted on (--insist-psize) though it {against}"
    )
    _advice_runs_as_printed(line, common, "3.4", tmp_path)


def _advice_runs_as_printed(line: str, common: list, given: str, tmp_path: Path) -> None:
    """Each option the refusal suggests, pasted into the command line, runs (tests/cli/test_advice.py's rule)."""
    suggested = [
        re.search(r"\((--mic-psize [0-9.]+) if the particles", line),
        re.search(r"or (--insist-psize) to", line),
    ]
    for k, match in enumerate(suggested):
        assert match, line
        option = shlex.split(match.group(1))
        args = (
            [*common, "--mic-psize", option[1]]
            if option[0] == "--mic-psize"
            else [*common, "--mic-psize", given, *option]
        )
        status, _, err = _cli(*args, "-o", tmp_path / f"advice{k}")
        assert status == 0, (option, err)


def test_a_detector_pixel_binned_beyond_the_particles_pixel(tmp_path):
    # Detector 0.85 Å, particles 1.7 Å (no micrograph pixel): 3.4 is a binning of the detector (4x) that the
    # particles' pixel excludes; before, only 1.7 (the particles' own) was refused.
    star = _optics_star(tmp_path, ["rlnMicrographOriginalPixelSize", "rlnImagePixelSize"], [0.85, 1.7])
    status, _, err = _cli("particles", star, "--mic-psize", "3.4", "-o", tmp_path / "a")
    assert status == 1 and "contradicts rlnImagePixelSize 1.7 Å of optics group 1" in one_error_line(err), err
    assert _cli("particles", star, "--mic-psize", "0.85", "-o", tmp_path / "b", "-q")[0] == 0
    # Where the group states its micrograph pixel, that is the evidence: 3.4 Å stated is taken (upsampled).
    star = _optics_star(tmp_path, ["rlnMicrographPixelSize", "rlnImagePixelSize"], [3.4, 1.7])
    assert _cli("particles", star, "--mic-psize", "3.4", "-o", tmp_path / "c", "-q")[0] == 0


@pytest.mark.parametrize(
    ("labels", "values", "field"),
    [
        (["rlnDetectorPixelSize", "rlnMagnification"], [3.4, 20000.0], "1e4 × rlnDetectorPixelSize / rlnMagnification"),
        (["rlnImagePixelSize"], [1.7], "rlnImagePixelSize"),
    ],
)
def test_relion30_rows_state_the_particles_pixel(tmp_path, labels, values, field):
    # RELION 3.0: no optics table; the rows give the particles' pixel (1e4 x 3.4 / 20000 = 1.7 Å).
    rows = [[*row[:5], *values] for row in ROWS]
    star = write_star(tmp_path / "p30.star", [*LABELS[:5], *labels], rows)
    status, _, err = _cli("particles", star, "--mic-psize", "3.4", "-o", tmp_path / "a")
    assert status == 1, err
    assert f"contradicts {field} 1.7 Å of the first particle row in {star}" in one_error_line(err)
    for given in ("0.85", "1.7"):
        assert _cli("particles", star, "--mic-psize", given, "-o", tmp_path / given, "-q")[0] == 0


def _cs_without_micrograph_pixel(tmp_path: Path) -> Path:
    """CryoSPARC particles of 1.7 Å (blob/psize_A) whose location slot states no micrograph pixel size."""
    records = cs_particles(np.random.default_rng(3), 400, psize_mic=0.85, psize_align=1.7)
    path = tmp_path / "J9_particles.cs"
    write_cs(path, recfunctions.drop_fields(records, "location/micrograph_psize_A", usemask=False))
    return path


def test_cryosparc_blob_pixel_bounds_a_typed_one(tmp_path):
    cs = _cs_without_micrograph_pixel(tmp_path)
    common = ["particles", cs, "--min-dist", "50", "--json"]
    for given in ("0.85", "1.7", "1.75"):
        status, out, err = _cli(*common, "--mic-psize", given, "-o", tmp_path / given)
        assert status == 0 and _summary(out)["pixel_sizes"][0]["source"] == "--mic-psize", err
    status, _, err = _cli(*common, "--mic-psize", "3.4", "-o", tmp_path / "refused")
    line = one_error_line(err)
    assert status == 1 and f"--mic-psize 3.4 Å contradicts blob/psize_A 1.7 Å in {cs}, the particles' pixel" in line
    status, out, err = _cli(*common, "--mic-psize", "3.4", "--insist-psize", "-o", tmp_path / "insisted")
    assert status == 0, err
    source = _summary(out)["pixel_sizes"][0]["source"]
    assert source.startswith("--mic-psize, insisted on (--insist-psize) though it contradicts blob/psize_A 1.7 Å")
    _advice_runs_as_printed(line, common, "3.4", tmp_path)


@pytest.mark.real_data
def test_real_relion31_binned_at_extraction(tmp_path):
    # cryodrgn's RELION 3.1 file: detector 1.403 Å, particles 2.806 Å (binned 2x at extraction), no micrograph
    # pixel. 5.612 (the detector binned 4x) passed before; the particles' pixel excludes it. 1.403 passes.
    star = shared_file("star/cryodrgn__relion31.star")
    status, _, err = _cli("particles", star, "--mic-psize", "5.612", "-o", tmp_path / "a")
    assert status == 1 and "contradicts rlnImagePixelSize 2.806 Å of optics group 1" in one_error_line(err), err
    assert _cli("particles", star, "--mic-psize", "1.403", "-o", tmp_path / "b", "-q")[0] == 0
    # RELION 3.0 (PfCRT): 1e4 x 1.035 / 10000 = 1.035 Å per row; 2.07 (binned 2x typed) is refused.
    pfcrt = shared_file("star/cryodrgn__FinalRefinement-OriginalParticles-PfCRT.star")
    status, _, err = _cli("particles", pfcrt, "--mic-psize", "2.07", "-o", tmp_path / "c")
    assert status == 1 and "1.035 Å of the first particle row" in one_error_line(err), err
