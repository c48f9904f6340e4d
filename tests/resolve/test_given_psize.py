"""Issue 54 item 1: what counts as a typed pixel size agreeing with the files (resolve/given_psize.py).

Hand-worked cases of docs/developers/decisions/centres-and-pixel-sizes.md: equal within 5 %, a detector pixel
binned 1 to 8 times at motion correction, never the particles' pixel size where extraction binned.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from cryodedup.errors import CryodedupError, PixelSizeError
from cryodedup.particle_set import Evidence, PicksReach, StatedPixelSizes, TypedPixelSize
from cryodedup.resolve.given_psize import (
    agrees,
    check_given_psize,
    extent_contradiction,
    judge_typed_psize,
    listed_evidence,
)
from helpers import shared_file

MIC = Evidence(0.885, "rlnMicrographPixelSize", "of optics group 1 in p.star")
DETECTOR = Evidence(0.885, "rlnMicrographOriginalPixelSize", "of optics group 1 in p.star", binned=True)
TRAPPED = Evidence(
    0.885,
    "rlnMicrographOriginalPixelSize",
    "of optics group 1 in p.star",
    binned=True,
    trap=(3.54, "that group's rlnImagePixelSize (particles binned at extraction)"),
)


@pytest.mark.parametrize(
    ("given", "evidence", "expected"),
    [
        (0.885, MIC, True),
        (0.89, MIC, True),  # rounded to two digits: 0.6 %
        (0.929, MIC, True),  # 4.97 % above
        (0.93, MIC, False),  # 5.08 % above
        (0.843, MIC, True),  # 0.885 is 4.98 % above it
        (0.842, MIC, False),
        (1.77, MIC, False),  # a micrograph pixel is equal, never binned
        (0.885, DETECTOR, True),  # no binning at motion correction
        (1.77, DETECTOR, True),  # binned 2x (super-resolution)
        (1.3275, DETECTOR, True),  # binned 1.5x (Fourier cropping)
        (7.08, DETECTOR, True),  # binned 8x
        (7.4, DETECTOR, True),  # 8.36x: within 5 % of 8x
        (7.5, DETECTOR, False),  # 8.47x
        (0.5, DETECTOR, False),  # smaller than the detector pixel
        (0.85, DETECTOR, True),  # 4 % below: a recalibration
        (3.54, DETECTOR, True),  # 4x the detector pixel: motion correction may have binned 4x ...
        (3.54, TRAPPED, False),  # ... but not where 3.54 is the particles' pixel of a binned extraction
        (3.6, TRAPPED, False),
        (1.77, TRAPPED, True),
    ],
)
def test_what_agrees(given, evidence, expected):
    assert agrees(given, evidence) is expected


def test_agreeing_or_absent_values_pass_silently():
    assert check_given_psize("--mic-psize", 1.77, [MIC, DETECTOR][1:], False, "give it") is None
    assert check_given_psize("--mic-psize", None, [MIC], False, "give it") is None
    bad = Evidence(float("nan"), "rlnMicrographPixelSize", "in x")  # a file's NaN or 0 witnesses nothing
    assert check_given_psize("--mic-psize", 1.0, [bad, Evidence(0.0, "x", "in y")], False, "give it") is None


def test_the_trap_is_refused_in_one_line_naming_both_values_and_sources():
    with pytest.raises(CryodedupError) as err:
        check_given_psize("--mic-psize", 3.54, [TRAPPED], False, "give the micrograph pixel size")
    message = str(err.value)
    assert message == (
        "--mic-psize 3.54 Å contradicts rlnMicrographOriginalPixelSize 0.885 Å (the detector pixel) of optics "
        "group 1 in p.star: 3.54 is that group's rlnImagePixelSize (particles binned at extraction); were the "
        "movies binned 4x at motion correction instead, the micrographs STAR given with --micrographs shows it; "
        "give the micrograph pixel size, or --insist-psize to use 3.54"
    )


@pytest.mark.parametrize(
    ("given", "hint"),
    [
        (1.37, "10.96 is 8 x 1.37 (is 1.37 the detector pixel of micrographs binned 8x?)"),
        (1.096, "a decimal slip? (10.96 is 10 x 1.096)"),
        (109.6, "a decimal slip? (109.6 is 10 x 10.96)"),
        (3.0, "contradicts the MRC header's pixel size 10.96 Å of m.mrc;"),  # 3.65x: no hint
    ],
)
def test_a_header_contradicted_says_what_the_value_looks_like(given, hint):
    header = Evidence(10.96, "the MRC header's pixel size", "of m.mrc")
    with pytest.raises(CryodedupError, match="or --insist-psize") as err:
        check_given_psize("--psize", given, [header], False, "give the micrographs' pixel size")
    assert hint in str(err.value)
    assert "\n" not in str(err.value)


def test_a_micrograph_pixel_size_that_agrees_lifts_the_trap():
    # Motion correction binned 4x and extraction kept the pixel: the micrographs STAR says 3.54 Å.
    listed = Evidence(3.54, "rlnMicrographPixelSize", "in micrographs_ctf.star")
    assert check_given_psize("--mic-psize", 3.54, [TRAPPED, listed], False, "give it") is None
    with pytest.raises(CryodedupError, match="contradicts rlnMicrographPixelSize 3.54 Å in micrographs_ctf.star"):
        check_given_psize("--mic-psize", 0.885, [TRAPPED, listed], False, "give it")


def test_insisting_returns_what_was_contradicted():
    insisted = check_given_psize("--mic-psize", 3.54, [MIC, TRAPPED], True, "give it")
    assert insisted is not None
    assert insisted.note.startswith("--mic-psize 3.54 Å insisted on (--insist-psize); it contradicts rlnMicrographPix")
    assert insisted.source.startswith("--mic-psize, insisted on (--insist-psize) though it contradicts")


def test_a_list_of_several_sizes_is_agreed_with_by_one_of_them():
    # Two optics groups of micrographs, 0.885 and 1.06 Å: either value agrees; 1.37 agrees with neither.
    values = [0.885, 0.885, 1.06, 0.0]
    assert listed_evidence(1.06, values, "rlnMicrographPixelSize", "in m.star")[0].value == 1.06
    assert listed_evidence(0.9, values, "rlnMicrographPixelSize", "in m.star")[0].value == 0.885
    assert listed_evidence(None, values, "rlnMicrographPixelSize", "in m.star") == []
    evidence = listed_evidence(1.37, values, "rlnMicrographPixelSize", "in m.star")
    with pytest.raises(CryodedupError, match="contradicts rlnMicrographPixelSize 1.06 Å in m.star"):
        check_given_psize("--mic-psize", 1.37, evidence, False, "give it")


@pytest.mark.parametrize(
    ("reach", "picks", "expected"),
    [
        ((0.97, 0.93), 1000, None),  # picks over the whole micrograph
        ((1.4, 0.9), 1000, None),  # within 1.5x: boxes at the edge
        ((4.0, 3.9), 1000, "the picks reach 4.0 times their width or height"),  # picked on a 4x finer grid
        ((0.5, 0.49), 1000, "all 1,000 picks lie within 50% of their width and height"),  # binned 2x
        ((0.5, 0.49), 19, None),  # too few picks to say
        ((0.0, 0.0), 0, None),  # no micrograph of known size
    ],
)
def test_the_extent_of_picks(reach, picks, expected):
    found = extent_contradiction(reach, picks, "micrograph_blob/shape in e.cs")
    assert found is None if expected is None else expected in found


def test_every_contradicted_place_is_named():
    groups = [
        Evidence(p, "rlnMicrographPixelSize", f"of optics group {g} in p.star")
        for g, p in enumerate((1, 1.6, 1.6, 1.6, 1.6), 1)
    ]
    with pytest.raises(CryodedupError) as err:
        check_given_psize("--mic-psize", 1.0, groups[:2], False, "give it")
    assert "1.6 Å of optics group 2 in p.star; give it" in str(err.value)
    with pytest.raises(CryodedupError) as err:
        check_given_psize("--mic-psize", 1.6, groups[:2] + groups[:1], False, "give it")
    assert "1 Å of optics group 1 in p.star; give it" in str(err.value)  # one place, named once
    with pytest.raises(CryodedupError) as err:
        check_given_psize("--mic-psize", 1.0, groups, False, "give it")
    assert str(err.value).startswith(
        "--mic-psize 1 Å contradicts rlnMicrographPixelSize 1.6 Å of optics group 2 in p.star, and 3 more "
        "(of optics group 3 in p.star, of optics group 4 in p.star, of optics group 5 in p.star); give it"
    )
    with pytest.raises(CryodedupError, match=r"and 4 more \(of optics group 3 in p.star, .*5 in p.star, \.\.\.\); "):
        check_given_psize("--mic-psize", 1.0, [*groups, Evidence(1.6, "x", "of optics group 6 in p.star")], False, "g")


def test_a_micrographs_star_states_its_pixel_sizes_and_resolve_judges_a_typed_one(tmp_path):
    # Hand-worked: micrographs at 1.06 and 0.885 Å (two optics groups), detector pixel 0.53 Å.
    # A typed 1.0 is judged against the nearest micrograph size (|ln 1.06| < |ln 0.885|) and,
    # as a binning, against the detector pixel; the reader itself states and judges nothing.
    from cryodedup.formats.micrograph_lists import stated_pixel_sizes
    from cryodedup.particle_set import Evidence, StatedPixelSizes
    from cryodedup.resolve.given_psize import stated_evidence

    path = tmp_path / "micrographs_ctf.star"
    path.write_text(
        "data_optics\nloop_\n_rlnOpticsGroup\n_rlnMicrographPixelSize\n_rlnMicrographOriginalPixelSize\n"
        "1 1.06 0.53\n2 0.885 0.53\n\ndata_micrographs\nloop_\n_rlnMicrographName\n_rlnOpticsGroup\n"
        "a.mrc 1\nb.mrc 2\n"
    )
    stated = stated_pixel_sizes(path, 1.0)
    place = f"in {path}"
    fields = ("rlnMicrographPixelSize", "rlnMicrographOriginalPixelSize")
    assert stated == StatedPixelSizes(place, (1.06, 0.885), fields[0], (0.53, 0.53), fields[1])
    assert stated_evidence(1.0, stated) == [Evidence(1.06, fields[0], place), Evidence(0.53, fields[1], place, True)]
    assert stated_pixel_sizes(path, None) is None  # (read only when a typed size is to be checked)
    assert stated_evidence(None, stated) == stated_evidence(1.0, None) == []


# --- issue 66 item 3: the readers state, resolve/ judges (judge_typed_psize, which the job hands them) ---

LISTED = StatedPixelSizes("in mics.star", (1.0,), "rlnMicrographPixelSize")
HINT_TAIL = "give the pixel size of the micrographs the coordinates were picked on, or --insist-psize to use 2"


def test_a_trap_stated_beside_an_equal_micrograph_pixel_is_no_trap():
    # RELION's rlnImagePixelSize equals the micrograph pixel where particles were not binned at
    # extraction: the reader states it with the micrograph pixel beside it, resolve/ drops it.
    beside = Evidence(1.77, "rlnMicrographPixelSize", "of optics group 1 in p.star", trap=(1.78, "x"), trap_beside=1.77)
    assert check_given_psize("--mic-psize", 1.77, [beside], False, "give it") is None
    apart = Evidence(1.77, "rlnMicrographPixelSize", "of optics group 1 in p.star", trap=(3.54, "x"), trap_beside=1.77)
    with pytest.raises(
        PixelSizeError, match=r"^--mic-psize 3\.54 Å contradicts rlnMicrographPixelSize 1\.77 Å .*: 3\.54 is x;"
    ):
        check_given_psize("--mic-psize", 3.54, [apart], False, "give it")


def test_the_judge_refuses_or_warns_in_the_readers_words():
    typed = TypedPixelSize(2.0, False, "p.star: ", lists=(LISTED,))
    with pytest.raises(PixelSizeError) as refused:
        judge_typed_psize(typed, warn=lambda message: None)
    assert str(refused.value) == f"--mic-psize 2 Å contradicts rlnMicrographPixelSize 1 Å in mics.star; {HINT_TAIL}"
    warned = []
    source = judge_typed_psize(replace(typed, insist=True), warned.append)
    assert warned == [
        "p.star: --mic-psize 2 Å insisted on (--insist-psize); it contradicts rlnMicrographPixelSize 1 Å in mics.star"
    ]
    assert (
        source
        == "--mic-psize, insisted on (--insist-psize) though it contradicts rlnMicrographPixelSize 1 Å in mics.star"
    )
    assert judge_typed_psize(TypedPixelSize(1.02, False, lists=(LISTED,)), warned.append) == "--mic-psize"


def test_the_judge_reads_a_lists_traps_and_the_picks_reach():
    # CryoSPARC: location/micrograph_psize_A 0.885, blob/psize_A 3.54 (binned 4x at extraction): 3.54 is a trap.
    own = StatedPixelSizes("in p.cs", (0.885,), "location/micrograph_psize_A", traps=(3.54, 0.885), trap_reason="R")
    with pytest.raises(
        PixelSizeError,
        match=r"^--mic-psize 3\.54 Å contradicts location/micrograph_psize_A 0\.885 Å in p\.cs: 3\.54 is R;",
    ):
        judge_typed_psize(TypedPixelSize(3.54, False, lists=(own,)), warn=print)
    # Picks reaching 1.8 times their micrographs' width: picked in smaller pixels than typed.
    far = TypedPixelSize(2.0, False, reach=PicksReach((1.8, 0.5), 30, "micrograph_blob/shape in e.cs"))
    with pytest.raises(PixelSizeError, match=r"the picks reach 1\.8 times their width or height"):
        judge_typed_psize(far, warn=print)
    assert judge_typed_psize(replace(far, reach=PicksReach((0.9, 0.95), 30, "here")), warn=print) == "--mic-psize"


def test_optics_groups_of_several_sizes_are_not_told_to_give_one_size():
    # Before: "give the pixel size of the micrographs ...", which no one value can follow: 1.25 is refused by the
    # group of 1.035 and back (a new user's trial, cryodrgn's 6 optics groups). Each group's own is used without it.
    groups = tuple(
        Evidence(p, "rlnMicrographPixelSize", f"of optics group {g} in p.star") for g, p in enumerate((1.25, 1.035), 1)
    )
    with pytest.raises(PixelSizeError) as refused:
        judge_typed_psize(TypedPixelSize(1.25, False, "p.star: ", stated=groups), warn=lambda message: None)
    assert str(refused.value).endswith(
        "; the file states 2 micrograph pixel sizes (1.035 to 1.25 Å, by optics group): leave --mic-psize out and "
        "each group's own is used, or --insist-psize to use 1.25"
    )
    # One size in every group: the usual advice.
    with pytest.raises(PixelSizeError, match="give the pixel size of the micrographs the coordinates were picked on"):
        judge_typed_psize(TypedPixelSize(2.5, False, stated=groups[:1] * 2), warn=lambda message: None)


@pytest.mark.real_data
def test_the_advice_for_six_optics_groups_runs_as_printed(tmp_path):
    star = shared_file("star/cryodrgn__relion31.6opticsgroups.star")
    cryodedup = str(Path(sys.executable).parent / "cryodedup")

    def run_cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([cryodedup, *args], capture_output=True, text=True, check=False)

    refused = run_cli("particles", str(star), "--mic-psize", "5", "-o", str(tmp_path / "a"))
    assert refused.returncode == 1 and "leave --mic-psize out and each group's own is used" in refused.stderr
    # As printed: the same command without --mic-psize.
    done = run_cli("particles", str(star), "-o", str(tmp_path / "a"))
    assert done.returncode == 0, done.stderr
