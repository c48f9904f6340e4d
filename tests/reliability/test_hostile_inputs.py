"""Issue 30, "reliability, round two": each hostile case that was seen, as a test.

Each test builds its own fixture and checks the answer against a hand-worked case or brute
force, never against the code's own output.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from cryodedup import dedup, remove_duplicates
from cryodedup.algo.dedup import DuplicateRule, dedup_and_support_masks
from cryodedup.errors import CryodedupError
from helpers import one_error_line, write_star

OPTICS = [[1, "og1", 2.0, 1.0]]
LABELS = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup"]


def particles_star(folder, rows, name="p.star"):
    """A RELION 3.1 particle file at 1 Å per pixel, every row on micrograph m.mrc."""
    return write_star(folder / name, LABELS, [[x, y, "m.mrc", 1] for x, y in rows], optics=OPTICS)


def cryodedup(*args, timeout=120):
    """The CLI in a subprocess: (status, stdout, stderr)."""
    run = subprocess.run(
        [sys.executable, "-m", "cryodedup.cli", *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return run.returncode, run.stdout, run.stderr


# Item 8: spans of more grid cells than a usize holds panicked the core (grid.rs).


@pytest.mark.parametrize(
    ("far", "min_dist"), [("1e25", "20"), ("-1e22", "1"), ("5000", "1e-300"), ("1e140", "20")], ids=str
)
def test_a_far_corrupt_row_is_deduplicated_without_a_panic(tmp_path, far, min_dist):
    # Three picks on a line: the far one, and two 15 Å apart (duplicates at 20 Å, not at 1).
    star = particles_star(tmp_path, [(far, "0"), ("100", "0"), ("115", "0")])
    status, _, stderr = cryodedup("particles", star, "--min-dist", min_dist, "-o", tmp_path / "out")
    assert status == 0, stderr
    kept = (tmp_path / "out" / "particles_kept.star").read_text()
    # By hand: at 20 Å the pick at 115 is within 20 of the one at 100 (first ranked, random order
    # aside: one of the two goes); at 1 Å and below nothing is within reach.
    n_kept = sum(1 for line in kept.splitlines() if line.rstrip().endswith("m.mrc 1"))
    assert n_kept == (2 if float(min_dist) >= 15 else 3), kept


@pytest.mark.parametrize("far", [1e300, -1e200, 1e151])
def test_the_api_refuses_centres_too_far_to_square(far):
    groups, coords = [0, 0, 0], [[0.0, 0.0], [far, 0.0], [3.0, 0.0]]
    with pytest.raises(ValueError, match=r"particle 1 has a coordinate beyond ±1e150"):
        dedup(groups, coords, min_dist=20.0)


def test_the_api_with_a_collinear_set_far_apart_and_the_smallest_distance():
    # Points on one line (zero area) spanning 1e140 Å: at the smallest radius searched
    # (0.001 Å, the same centre) that is 1e143 cells. Only the copy 1e-300 Å away is a duplicate.
    coords = [[0.0, 0.0], [1e-300, 0.0], [0.5, 0.0], [1e140, 0.0]]
    result = dedup([0] * 4, coords, scores=[4.0, 3.0, 2.0, 1.0], min_dist=1e-300)
    assert result.keep.tolist() == [True, False, True, True]


# Item 5: squared distances overflowed, so any two far centres were "within" any distance.


def test_centres_whose_squared_distance_overflows_are_refused(tmp_path):
    star = particles_star(tmp_path, [("1.5e154", "0"), ("-1.5e154", "0")])
    status, _, stderr = cryodedup("particles", star, "--min-dist", "1e150", "-o", tmp_path / "out")
    assert status == 1
    line = one_error_line(stderr)
    assert re.search(r"p\.star: particle 1 has a centre beyond ±1e150 Å .*2 such particles", line), line
    assert not (tmp_path / "out").exists()


def test_a_centre_far_out_on_the_negative_side_alone_is_refused(tmp_path):
    # The extent is taken from the centres' max and min (no copy of their magnitudes): the
    # only far centre is the min's.
    star = particles_star(tmp_path, [("10", "0"), ("0", "-1.5e154")])
    status, _, stderr = cryodedup("particles", star, "-o", tmp_path / "out")
    assert status == 1
    assert re.search(r"p\.star: particle 2 has a centre beyond ±1e150 Å", one_error_line(stderr))


@pytest.mark.parametrize("min_dist", ["2e154", "inf", "-1"])
def test_a_min_dist_whose_square_is_not_finite_is_refused(tmp_path, min_dist):
    star = particles_star(tmp_path, [("0", "0"), ("3", "0")])
    status, _, stderr = cryodedup("particles", star, "--min-dist", min_dist, "-o", tmp_path / "out")
    assert status == 2  # (an option refused: a usage error)
    assert "--min-dist must be a distance in Å from 0 to 1e150" in one_error_line(stderr)


def test_the_core_refuses_min_dist_whose_square_overflows():
    with pytest.raises(ValueError, match="min_dist must be a number from 0 to 1e150"):
        dedup([0, 0], [[1.5e149, 0.0], [-1.5e149, 0.0]], min_dist=2e154)


# Item 6: tube ids were cast to uint32: 1.7 and 1.2 both became tube 1, NaN became "no tube".


@pytest.mark.parametrize(
    ("tubes", "message"),
    [([1.7, 1.2], r"tubes must be whole numbers; particle 0 has 1\.7"), ([np.nan, 2], "particle 0 has nan")],
)
def test_tube_ids_that_are_not_whole_numbers_are_refused(tubes, message):
    with pytest.raises(ValueError, match=message):
        dedup([0, 0], [[0.0, 0.0], [5.0, 0.0]], min_dist=20.0, tubes=tubes)


def test_whole_float_tube_and_input_ids_are_taken_as_they_are():
    # Two segments of tube 1 and one of tube 2, 5 Å apart: the tube-1 segments never
    # suppress each other; the tube-2 segment is within 20 Å of the best, so it goes.
    result = dedup([0, 0, 0], [[0.0, 0.0], [5.0, 0.0], [2.0, 0.0]], [3.0, 2.0, 1.0], min_dist=20.0, tubes=[1.0, 1, 2])
    assert result.keep.tolist() == [True, True, False]
    with pytest.raises(ValueError, match="inputs must be whole numbers; particle 1 has 0.5"):
        dedup_and_support_masks([0, 0], [[0.0, 0.0], [5.0, 0.0]], [0, 0.5], DuplicateRule(20.0))


# Item 17: the API's errors are ValueErrors, and its inputs are checked for their types.


def relion_frame(names):
    import pandas as pd

    n = len(names)
    return pd.DataFrame({"rlnCoordinateX": np.arange(n) * 100.0, "rlnCoordinateY": 0.0, "rlnMicrographName": names})


def test_the_api_errors_are_value_errors():
    assert issubclass(CryodedupError, ValueError)
    with pytest.raises(ValueError, match="mic_psize"):
        remove_duplicates(relion_frame(["a.mrc"]))  # no pixel size anywhere


@pytest.mark.parametrize(
    ("data", "options", "error", "message"),
    [
        ({"particles": [1, 2, 3]}, {}, TypeError, r"data\['particles'\] is a list; expected a pandas DataFrame"),
        ("frame with a NaN name", {}, ValueError, "row 2 of the particle table has no rlnMicrographName"),
        ("2-D structured array", {}, ValueError, r"one-dimensional, got shape \(2, 5\)"),
        ("frame", {"seed": 1.5}, ValueError, "seed= must be a whole number, got 1.5"),
        ("frame", {"min_dist": "5"}, ValueError, "min_dist= must be a number, got '5'"),
        ("frame", {"mic_psize": True}, ValueError, "mic_psize= must be a number, got True"),
        ("frame", {"score": None}, ValueError, "score= must be a column name, auto or none, got None"),  # (a trial's)
    ],
)
def test_the_api_refuses_data_and_options_of_the_wrong_type(data, options, error, message):
    from fixtures.synthetic import cs_particles

    data = (
        {
            "frame": relion_frame(["a.mrc", "a.mrc"]),
            "frame with a NaN name": relion_frame(["a.mrc", np.nan, "a.mrc"]),
            "2-D structured array": cs_particles(np.random.default_rng(0), 10).reshape(2, 5)
            if isinstance(data, str)
            else None,
        }.get(data, data)
        if isinstance(data, str)
        else data
    )
    with pytest.raises(error, match=message):
        remove_duplicates(data, **{"mic_psize": 1.0, **options})


# Item 2: a micrograph given twice was compared with itself, kept and rejected at once.


def three_micrographs(folder):
    from fixtures.synthetic import write_mrc

    rng = np.random.default_rng(2)
    for name in ("a.mrc", "c.mrc"):
        write_mrc(folder / name, rng.normal(size=(256, 256)), 1.0)
    (folder / "b.mrc").symlink_to(folder / "a.mrc")
    return folder


@pytest.mark.parametrize(
    "given", [["a.mrc", "a.mrc", "c.mrc"], ["a.mrc", "b.mrc", "c.mrc"], ["a.mrc", "[ab].mrc"]], ids=str
)
def test_a_micrograph_given_twice_is_refused(tmp_path, given):
    folder = three_micrographs(tmp_path)
    status, _, stderr = cryodedup("micrographs", *[folder / g for g in given], "-o", tmp_path / "out")
    assert status == 1
    line = one_error_line(stderr)
    assert re.search(r"[ab]\.mrc: the same file as the input .*a\.mrc; give each micrograph once", line), line
    assert not (tmp_path / "out").exists()


# Item 13 (one of its cases): the natural sort read "²" as a digit and int("²") failed.


def test_a_micrograph_name_with_a_superscript_digit_sorts(tmp_path):
    from cryodedup.jobs.micrographs.plan import natural_key

    names = ["m1²2.mrc", "m1_10.mrc", "m1_9.mrc"]
    assert sorted(names, key=natural_key) == ["m1_9.mrc", "m1_10.mrc", "m1²2.mrc"]  # "_" (0x5f) < "²" (0xb2)


# Item 3: a RELION 5 subtomogram table without its Z coordinate was deduplicated in 2-D.


@pytest.mark.parametrize(
    ("coordinates", "z"),
    [
        (["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst"], "rlnCenteredCoordinateZAngst"),
        (["rlnCoordinateX", "rlnCoordinateY"], "rlnCoordinateZ"),
    ],
)
def test_subtomograms_without_z_are_refused(tmp_path, coordinates, z):
    labels = ["rlnTomoName", *coordinates, "rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst", "rlnImageName"]
    # Two particles at the same (x, y), 50 Å apart in z: not duplicates at 20 Å.
    rows = [["t1", 100, 100, 0, 0, 0, "a"], ["t1", 100, 100, 0, 0, 50, "b"]]
    star = write_star(tmp_path / "p.star", labels, rows)
    status, _, stderr = cryodedup("particles", star, "--mic-psize", "1", "-o", tmp_path / "out")
    assert status == 1
    line = one_error_line(stderr)
    assert f"p.star: data_particles (line 2): subtomograms (rlnTomoName, rlnOriginZAngst) with no {z} column" in line


# Item 12: zero picks anywhere was a traceback; one empty picker is valid, all empty an error.


def test_an_empty_picker_is_valid_and_all_empty_is_one_line(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "m1.box").write_text("100 100 50 50\n300 300 50 50\n106 100 50 50\n")
    (tmp_path / "b" / "m1.box").write_text("")
    status, stdout, stderr = cryodedup(
        "particles", tmp_path / "a", tmp_path / "b", "--mic-psize", "1", "--json", "-o", tmp_path / "out"
    )
    assert status == 0, stderr
    assert "no picks in" in stderr
    summary = __import__("json").loads(stdout)
    # By hand: centres (125, 125), (325, 325), (131, 125): the first and third are 6 Å apart.
    assert [(i["particles"], i["kept"]) for i in summary["inputs"]] == [(3, 2), (0, 0)]
    status, _, stderr = cryodedup("particles", tmp_path / "b", "--mic-psize", "1", "-o", tmp_path / "out2")
    assert status == 1
    assert "no picks in the input" in one_error_line(stderr)


# Items 7 and 13: _info.json boxes of true/false were read as (1, 0); 10**400 and deep nesting
# were tracebacks.


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"boxes": [[true, false, "manual"]]}', r"boxes\[0\] is \[True, False, 'manual'\]; expected"),
        ('{"boxes": [[1' + "0" * 400 + ', 5, "manual"]]}', r"boxes\[0\] is \[1000"),
        ('{"boxes": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        # Found by fuzzing (fuzz/corpus/info_json/crash_int_over_4300_digits): json's ValueError.
        ('{"boxes": [[' + "9" * 5000 + ', 5, "manual"]]}', "an integer of more than 4300 digits"),
    ],
    ids=["booleans", "10**400", "nesting", "5000 digits"],
)
def test_bad_info_json_boxes_are_one_line(tmp_path, text, message):
    (tmp_path / "m1_info.json").write_text(text)
    status, _, stderr = cryodedup("particles", tmp_path / "m1_info.json", "--mic-psize", "1", "-o", tmp_path / "out")
    assert status == 1
    assert re.search(message, one_error_line(stderr))


# Items 13 and 16 (two cases each): NaN angles with --max-angle; --project-dir /nonexistent.


def test_nan_angles_with_max_angle_are_one_line(tmp_path):
    labels = [*LABELS, "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
    rows = [[0, 0, "m.mrc", 1, 0, 0, 0], [5, 0, "m.mrc", 1, "nan", 0, 0]]
    star = write_star(tmp_path / "p.star", labels, rows, optics=OPTICS)
    status, _, stderr = cryodedup("particles", star, "--max-angle", "10", "-o", tmp_path / "out")
    assert status == 1
    assert "p.star: particle 2 has an orientation that is NaN or infinite" in one_error_line(stderr)


def test_a_project_dir_that_does_not_exist_is_refused(tmp_path):
    star = particles_star(tmp_path, [("0", "0"), ("100", "0")])
    status, _, stderr = cryodedup("particles", star, "--project-dir", tmp_path / "nowhere", "-o", tmp_path / "out")
    assert status == 2  # (an option refused: a usage error)
    assert "--project-dir" in one_error_line(stderr) and "no such folder" in stderr


def test_65_inputs_say_the_limit_and_why(tmp_path):
    boxes = []
    for k in range(65):
        boxes.append(tmp_path / f"m{k}.box")
        boxes[-1].write_text("100 100 50 50\n")
    status, _, stderr = cryodedup("particles", *boxes, "--mic-psize", "1", "-o", tmp_path / "out")
    assert status == 1
    assert "65 inputs: at most 64, since each pick records which inputs confirm it" in one_error_line(stderr)


# --- item 16: messages ------------------------------------------------------------------------------------------


def _run_with_file_limit(args, limit_bytes, cwd):
    """The command with files limited to ``limit_bytes`` (a full disk as the writer sees it: EFBIG)."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    command = [sys.executable, "-m", "cryodedup", *map(str, args), "-q"]
    return subprocess.run(command, check=False, capture_output=True, text=True, preexec_fn=limit, cwd=cwd)


def _picker_job_with_one_big_file(root):
    from picker_files import relion3_job

    rng = np.random.default_rng(0)
    picks = {f"m{k}": [tuple(map(float, r)) for r in rng.uniform(0, 4000, (5, 3))] for k in range(3)}
    picks["m9"] = [tuple(map(float, r)) for r in rng.uniform(0, 4000, (3000, 3))]  # ~200 KB of rows
    job, _ = relion3_job(root, picks)
    return job


def test_a_full_disk_on_a_picker_job_names_the_output_and_says_write(tmp_path):
    # Before: ".../.rejected.PID.tmp/Movies/m0016_autopick.star: cannot read the file (...)".
    job = _picker_job_with_one_big_file(tmp_path)
    run = _run_with_file_limit(["particles", job, "-o", tmp_path / "out", "--min-dist", "1"], 100_000, tmp_path)
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'out' / 'kept' / 'Movies' / 'm9_autopick.star'}: the file size limit was reached "
        "(ulimit -f) while writing the outputs; no output was written"
    ]
    assert not (tmp_path / "out").exists()


def test_a_full_tmpfs_on_a_picker_job_names_the_output(tmp_path):
    # The real thing where a small tmpfs can be mounted (root, outside most CI containers).
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)]
    if subprocess.run(mount, capture_output=True, check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        job = _picker_job_with_one_big_file(tmp_path)
        run = _run_with_file_limit(["particles", job, "-o", disk / "out", "--min-dist", "1"], 2**40, tmp_path)
    finally:
        subprocess.run(["umount", str(disk)], check=False)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1, run.stderr
    assert re.fullmatch(
        rf"Error: {re.escape(str(disk / 'out'))}/(kept|rejected)/Movies/m\d_autopick\.star: the disk is full "
        "while writing the outputs; no output was written",
        lines[0],
    ), lines


def test_a_full_disk_with_plot_names_the_picture_or_report(tmp_path):
    # Before: "Error: the outputs: the file size limit was reached ..." (no file named).
    from fixtures.synthetic import write_example

    inputs = write_example(tmp_path / "in")
    star = next(p for p in inputs if p.name.startswith("particles_"))
    run = _run_with_file_limit(["particles", star, "-o", tmp_path / "out", "--plot"], 200_000, tmp_path)
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'out' / 'report.html'}: the file size limit was reached (ulimit -f) while writing "
        "the outputs; no output was written"
    ]


def test_topaz_coordinates_that_overflow_are_one_line_naming_the_file_and_line(tmp_path):
    # Before: numpy's "RuntimeWarning: overflow encountered in multiply" and its source line,
    # then "particle 1 has no finite centre".
    table = tmp_path / "picks.txt"
    table.write_text("image_name\tx_coord\ty_coord\tscore\nm1\t5\t6\t0.3\nm1\t1e300\t2\t0.5\n")
    code, _, stderr = cryodedup(
        "particles", table, "-o", tmp_path / "out", "--mic-psize", "1", "--topaz-scale", "1e300"
    )
    assert code == 1
    assert stderr.strip().splitlines() == [
        f"Error: {table}: line 3 has no finite centre ([inf, 2e+300] Å: a coordinate, origin or pixel size is "
        "NaN, infinite or too large); 1 such particle in all: fix or remove them"
    ]


def test_a_non_finite_pick_in_a_glob_names_its_file_and_line(tmp_path):
    # Before: "cb/*_autopick.star: particle 2 has no finite centre".
    (tmp_path / "picks").mkdir()
    (tmp_path / "picks" / "m1_autopick.star").write_text(
        "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10 10\n"
    )
    bad = tmp_path / "picks" / "m2_autopick.star"
    bad.write_text("data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10 10\ninf 300\n")
    glob = str(tmp_path / "picks" / "*_autopick.star")
    code, _, stderr = cryodedup("particles", glob, "-o", tmp_path / "out", "--mic-psize", "1", "-q")
    assert code == 1
    assert stderr.strip().splitlines()[-1].startswith(f"Error: {bad}: line 7 has no finite centre ([inf, 300.0] Å")


def test_a_project_dir_that_does_not_exist_is_refused_by_the_micrograph_job(tmp_path):
    from fixtures.synthetic import write_mrc

    for k in range(2):
        write_mrc(tmp_path / f"m{k}.mrc", np.zeros((64, 64), np.float32), 4.0)
    code, _, stderr = cryodedup(
        "micrographs", tmp_path / "m0.mrc", tmp_path / "m1.mrc", "-o", tmp_path / "out",
        "--project-dir", tmp_path / "nonexistent",
    )  # fmt: skip
    assert code == 2  # (an option refused: a usage error)
    assert stderr.strip().splitlines() == [f"Error: --project-dir {tmp_path / 'nonexistent'}: no such folder"]


# --- metadata through a glob: non-regular files --------------------------------------------------------------------


def test_a_metadata_glob_that_matches_a_fifo_refuses_it_by_name(tmp_path):
    import os

    from cryodedup.formats.microscope import metadata_files

    (tmp_path / "meta").mkdir()
    os.mkfifo(tmp_path / "meta" / "a_Data_1.xml")
    (tmp_path / "meta" / "b_Data_2.xml").mkdir()  # a folder: passed over
    with pytest.raises(CryodedupError, match=r"a_Data_1\.xml: is a named pipe \(FIFO\)"):
        metadata_files([str(tmp_path / "meta" / "*.xml")])
    with pytest.raises(CryodedupError, match=r"b\*: matches only folders"):
        metadata_files([str(tmp_path / "meta" / "b*")])
