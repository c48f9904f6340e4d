"""Issue 58, items 7-9 and 11-14: paths that lead out of the output folder, names that act on a
terminal, a FIFO among --update's arrivals, huge fields, the last tracebacks, the API's bad input.

Each test builds its own hostile fixture; what must happen is worked out by hand (no output of
cryodedup's is the oracle). The copick items (10, and 13's copick cases) are in
tests/formats/test_copick_hostile.py.
"""

from __future__ import annotations

import datetime
import os
import resource
import subprocess
import sys

import numpy as np
import pytest
from test_hostile_files import two_particles

import cryodedup
from cryodedup.errors import CryodedupError
from fixtures.synthetic import cs_particles, write_cs, write_mrc
from helpers import one_error_line, run_briefly

ESCAPES = "\x1b]0;PWNED\x07\x1b[2J\x1b[31m"


# Item 7: a link named like the lock had the lock made (and left) wherever it pointed.


def test_a_link_named_like_the_lock_is_refused_and_nothing_is_made_where_it_points(tmp_path):
    star = two_particles(tmp_path / "p.star")
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / ".cryodedup.lock").symlink_to(outside / "lockfile")
    status, err = run_briefly("particles", star, "-o", out)
    assert status == 1
    assert "is a symbolic link" in one_error_line(err)
    assert list(outside.iterdir()) == []
    assert os.readlink(out / ".cryodedup.lock") == str(outside / "lockfile")  # the user's link left as it was
    assert sorted(p.name for p in out.iterdir()) == [".cryodedup.lock"]


# Item 8: a picker job's OUTDIR/kept, a link to a folder outside, had the outputs written there.


@pytest.mark.parametrize("links", [("kept",), ("kept", "rejected")])
def test_a_link_inside_the_output_folder_is_never_written_through(tmp_path, links):
    picks = tmp_path / "picks"
    picks.mkdir()
    (picks / "m1.box").write_text("10 10 100 100\n12 10 100 100\n300 300 100 100\n")
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    for name in links:
        (out / name).symlink_to(outside)
    status, err = run_briefly("particles", picks, "--mic-psize", "1", "-o", out, "--force")
    assert status == 1
    assert f"{out / 'kept'}: is a symbolic link inside the output folder" in one_error_line(err)
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in out.iterdir()) == sorted(links)


def test_an_output_folder_given_as_a_link_is_the_users_choice_and_written_into(tmp_path):
    star = two_particles(tmp_path / "p.star")
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    status, err = run_briefly("particles", star, "-o", tmp_path / "link")
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["particles_kept.star", "particles_rejected.star"]


# Item 9: names holding terminal escape sequences reached the terminal raw.


def test_printable_escapes_what_a_terminal_acts_on_and_keeps_the_rest():
    from cryodedup.errors import printable

    text = f"a{ESCAPES}b\n\tc\udcff\u202e\x9b\x7f é ミ"
    expected = "a\\x1b]0;PWNED\\x07\\x1b[2J\\x1b[31mb\n\tc\\xff\\u202e\\x9b\\x7f é ミ"
    assert printable(text) == expected


def test_an_input_name_with_escape_sequences_is_printed_escaped(tmp_path):
    name = f"gone{ESCAPES}.star"
    status, err = run_briefly("particles", tmp_path / name, "-o", tmp_path / "out")
    line = one_error_line(err)
    assert status == 1 and "\x1b" not in err and "\x07" not in err
    assert "gone\\x1b]0;PWNED\\x07\\x1b[2J\\x1b[31m.star" in line


def test_file_names_with_escape_sequences_are_escaped_in_warnings_the_summary_and_the_report(tmp_path):
    # (a STAR cannot hold an escape byte, binary to its reader: the file system's names can)
    picks = tmp_path / f"picks{ESCAPES}"
    picks.mkdir()
    (picks / f"m{ESCAPES}.box").write_text("10 10 100 100\n12 10 100 100\n300 300 100 100\n")
    out = tmp_path / f"out{ESCAPES}"
    status, err = run_briefly("particles", picks, "--mic-psize", "1", "-o", out, "--plot", quiet=False)
    assert status == 0, err
    assert "Warning: " in err and "out\\x1b]0;PWNED" in err  # a warning and the summary's output folder
    assert "\x1b" not in err and "\x07" not in err
    report = (out / "report.html").read_text()
    assert "m\\x1b]0;PWNED" in report or "out\\x1b]0;PWNED" in report
    assert "\x1b" not in report and "\x07" not in report


# Item 11: a FIFO named like a micrograph among --update's arrivals blocked the run for ever.


@pytest.mark.parametrize("skip", [False, True])
def test_a_fifo_arriving_during_update_is_refused_or_skipped_at_once(tmp_path, skip):
    rng = np.random.default_rng(0)
    (tmp_path / "m").mkdir()
    for k in range(3):
        write_mrc(tmp_path / "m" / f"mic_{k}.mrc", rng.normal(size=(64, 64)).astype(np.float32), 4.0)
    pattern, out = str(tmp_path / "m" / "*.mrc"), tmp_path / "out"
    # (white noise: a screen of it is blind and refused; the FIFO is what is tested)
    given = ("--bin", "1", "--update", "--accept-untrusted", "-o", out)
    assert run_briefly("micrographs", pattern, *given)[0] == 0
    os.mkfifo(tmp_path / "m" / "mic_9.mrc")
    args = ["micrographs", pattern, *given, *(["--skip-unreadable"] if skip else [])]
    status, err = run_briefly(*args, timeout=30)
    if skip:
        assert status == 0, err
    else:
        assert status == 1 and "mic_9.mrc: is a named pipe (FIFO)" in one_error_line(err)


# Item 12: a gigabyte-long name or label under a 4 GB address-space limit aborted the core.

STAR_HEAD = "data_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnMicrographName\n"


def _capped(gigabytes: float):
    def limit() -> None:
        size = int(gigabytes * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return limit


@pytest.mark.slow
@pytest.mark.parametrize("where", ["name", "label"])
def test_a_name_or_label_of_200_mb_is_refused_in_one_line_within_a_memory_cap(tmp_path, where):
    star = tmp_path / "p.star"
    huge = "a" * 200_000_000
    if where == "name":
        star.write_text(STAR_HEAD + "10 10 m.mrc\n" + f"12 10 {huge}\n")
    else:
        star.write_text(STAR_HEAD.replace("_rlnMicrographName\n", f"_rlnMicrographName\n_{huge}\n") + "1 2 m 3\n")
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "cryodedup", "particles", str(star), "--mic-psize", "1", "-o", str(out), "-q"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_capped(2),
    )
    line = one_error_line(run.stderr)
    assert run.returncode == 1
    assert "bytes, at most 1048576 expected" in line and ("line 7" if where == "name" else "line 6") in line
    assert not out.exists() or list(out.iterdir()) == []  # no lock, no scratch file left


# Item 13: the tracebacks left, each now one line.


def test_prefer_given_a_number_of_5000_digits_is_no_input(tmp_path):
    status, err = run_briefly(
        "particles", two_particles(tmp_path / "p.star"), "--prefer", "9" * 5000, "-o", tmp_path / "o"
    )
    assert status == 1 and "not one of the inputs" in one_error_line(err)


@pytest.mark.slow
def test_a_csg_nested_50000_deep_or_with_no_result_is_refused(tmp_path):
    write_cs(tmp_path / "p.cs", cs_particles(np.random.default_rng(0), 20))
    (tmp_path / "deep.csg").write_text("results:\n  blob: " + "[" * 50_000 + "]" * 50_000 + "\n")
    (tmp_path / "empty.csg").write_text("results: {}\n")
    status, err = run_briefly("particles", tmp_path / "deep.csg", "-o", tmp_path / "o1")
    assert status == 1 and "nested too deeply" in one_error_line(err)
    status, err = run_briefly("particles", tmp_path / "empty.csg", "-o", tmp_path / "o2")
    assert status == 1 and "names no .cs file" in one_error_line(err)


def test_a_cs_micrograph_path_not_utf8_is_refused_naming_the_field(tmp_path):
    records = cs_particles(np.random.default_rng(0), 20)
    records["location/micrograph_path"][:] = b"J1/mic_\xff\xfe.mrc"
    write_cs(tmp_path / "p.cs", records)
    status, err = run_briefly("particles", tmp_path / "p.cs", "-o", tmp_path / "out")
    line = one_error_line(err)
    assert status == 1 and "location/micrograph_path" in line and "not UTF-8" in line


def test_paths_longer_than_the_system_takes_are_one_line(tmp_path):
    long_input = "/" + "x/" * 3000 + "p.star"
    status, err = run_briefly("particles", long_input, "-o", tmp_path / "o1")
    line = one_error_line(err)
    assert status == 1 and "(6,007 characters)" in line and "too long" in line
    mics = tmp_path / "mics.star"
    mics.write_text("data_micrographs\nloop_\n_rlnMicrographName\n" + "a" * 5000 + ".mrc\n")
    status, err = run_briefly("micrographs", mics, "--psize", "4", "-o", tmp_path / "o2")
    assert status == 1 and "too long" in one_error_line(err)


def test_plot_draws_a_micrograph_of_one_pixel_by_5000_from_its_picks(tmp_path):
    rng = np.random.default_rng(0)
    write_mrc(tmp_path / "m.mrc", rng.normal(size=(1, 5000)).astype(np.float32), 1.0)
    star = tmp_path / "p.star"
    star.write_text(STAR_HEAD + "10 0 m.mrc\n12 0 m.mrc\n3000 0 m.mrc\n")
    status, err = run_briefly("particles", star, "--mic-psize", "1", "--plot", "-o", tmp_path / "out", cwd=tmp_path)
    assert status == 0, err
    assert (tmp_path / "out" / "example_micrograph_1.png").is_file()


def test_min_dist_z_that_scales_z_beyond_the_cores_bound_is_one_line(tmp_path):
    star = tmp_path / "tomo.star"
    star.write_text(
        "data_particles\nloop_\n_rlnTomoName\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnCoordinateZ\n"
        "t1 100 100 50\nt1 102 100 51\n"
    )
    status, err = run_briefly("particles", star, "--mic-psize", "10", "--min-dist-z", "1e-300", "-o", tmp_path / "o")
    line = one_error_line(err)
    assert status == 1 and line.startswith("Error: --min-dist-z 1e-300:") and "give a larger --min-dist-z" in line


# Item 14: the Python API's bad input.

G2, C2 = np.zeros(2, np.int64), np.array([[0.0, 0.0], [1.0, 0.0]])


def test_remove_duplicates_of_a_dict_without_particles_is_a_type_error():
    with pytest.raises(TypeError, match=r"data\['particles'\] is a NoneType"):
        cryodedup.remove_duplicates({"particles": None})


@pytest.mark.parametrize("images", [[-1, 0], [2**64, 0], [1.2, 1.7], [np.nan, 0]], ids=str)
def test_dedup_refuses_image_ids_a_cast_would_change(images):
    # 1.2 and 1.7 truncated to one image made the two centres 1 Å apart one image's (both kept).
    with pytest.raises(ValueError, match="images must be whole numbers"):
        cryodedup.dedup(G2, C2, min_dist=5, images=images)


def test_dedup_takes_whole_image_ids_as_given():
    # Floats that are whole numbers are the ids they spell: the decision of the same ids as uint64.
    for images in ([1.0, 2.0], [3.0, 3.0]):
        given = cryodedup.dedup(G2, C2, min_dist=5, images=images).keep
        as_ids = cryodedup.dedup(G2, C2, min_dist=5, images=np.array(images, np.uint64)).keep
        assert given.tolist() == as_ids.tolist()


@pytest.mark.parametrize("inputs", [2**70, 1.5, [0, 1.5], [0, 2**70], [0, -1]], ids=str)
def test_remove_duplicate_centres_refuses_inputs_that_are_not_whole_numbers(inputs):
    with pytest.raises(ValueError, match="inputs must"):
        cryodedup.remove_duplicate_centres(["a", "a"], C2, inputs=inputs, min_dist=5)


COMPLEX = C2 + 1j
DATES = [[datetime.datetime(2020, 1, 1)] * 2] * 2


@pytest.mark.parametrize(
    "centres", [COMPLEX, DATES, np.zeros((2, 2), "datetime64[s]")], ids=["complex", "datetime", "dt64"]
)
def test_coordinates_that_are_not_real_numbers_are_refused_by_every_entry(centres):
    with pytest.raises(TypeError, match="must be real numbers"):
        cryodedup.dedup(G2, centres, min_dist=5)
    with pytest.raises(TypeError, match="must be real numbers"):
        cryodedup.remove_duplicate_centres(["a", "a"], centres, min_dist=5)


@pytest.mark.parametrize("value", [1 + 1j, datetime.datetime(2020, 1, 1)], ids=["complex", "datetime"])
def test_a_frame_of_complex_or_date_coordinates_is_refused(value):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {"rlnCoordinateX": [value, value], "rlnCoordinateY": [value, value], "rlnMicrographName": ["m", "m"]}
    )
    with pytest.raises(CryodedupError, match="rlnCoordinateX of the particle table is not numeric"):
        cryodedup.remove_duplicates(frame, min_dist=5, mic_psize=1)


def test_species_given_as_a_text_is_not_read_letter_by_letter():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"rlnCoordinateX": [1.0, 2.0], "rlnCoordinateY": [0.0, 0.0], "rlnMicrographName": ["m", "m"]})
    with pytest.raises(TypeError, match=r"species is a list .*give \['ab'\]"):
        cryodedup.remove_duplicates(frame, min_dist=5, mic_psize=1, species="ab")
