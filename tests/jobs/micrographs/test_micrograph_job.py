"""cryodedup.micrographs on synthetic micrographs: a specimen field, windows cut from it with
known shifts, independent shot noise, gain and defocus. The truth is known by construction."""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import shlex
import time

import mrcfile
import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup import MicrographOptions, find_duplicate_micrographs
from cryodedup.cli import main
from cryodedup.jobs.micrographs.job import run_plain
from cryodedup.jobs.micrographs.plan import acquisition_order, candidate_offsets, candidate_pairs, micrograph_plan
from cryodedup.jobs.micrographs.score import run_in_process
from cryodedup.jobs.micrographs.summary import micrograph_rows
from cryodedup.options.micrographs import ALL_PAIRS_UPTO
from fixtures.synthetic import exposure, specimen_field, write_mrc
from helpers import star_text, write_planted_micrographs

PSIZE, H, W, BIN = 6.0, 582, 818, 2  # binned: 291 x 409 pixels of 12 Å, like a K3 at 12 Å


def read_pairs(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def csv_rows(path):
    with open(path) as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def overlapping(tmp_path_factory):
    """Micrograph 0 and windows overlapping it by 100 % to 30 % along x, y and diagonals."""
    folder = tmp_path_factory.mktemp("overlap")
    rng = np.random.default_rng(7)
    field = specimen_field(rng, 1300, 1800, PSIZE)
    truth = {}
    write_mrc(folder / "mic_000.mrc", exposure(rng, field, 60, 60, H, W, PSIZE), PSIZE)
    k = 1
    for frac in (1.0, 0.8, 0.6, 0.45, 0.3):
        for axis in ("x", "y", "d"):
            s = 1 - frac if axis != "d" else 1 - np.sqrt(frac)
            dy, dx = int(H * s) * (axis != "x"), int(W * s) * (axis != "y")
            image = exposure(
                rng, field, 60 + dy, 60 + dx, H, W, PSIZE, defocus=rng.uniform(8000, 30000), gain=rng.uniform(0.8, 1.2)
            )
            write_mrc(folder / f"mic_{k:03d}.mrc", image, PSIZE)
            truth[k] = (frac, dy, dx)
            k += 1
    return folder, truth


@pytest.mark.slow
def test_overlaps_from_30_to_100_percent_are_found_with_their_shift(overlapping, tmp_path):
    folder, truth = overlapping
    summary = find_duplicate_micrographs(
        sorted(folder.glob("*.mrc")), tmp_path / "out", MicrographOptions(bin=BIN, candidates="all")
    ).to_json()
    rows = [r for r in read_pairs(tmp_path / "out" / "pairs.csv") if r["index_a"] == "0"]
    assert len(rows) == len(truth)
    for r in rows:
        frac, dy, dx = truth[int(r["index_b"])]
        assert r["duplicate"] == "1", (frac, r)
        assert abs(int(r["shift_y_px"]) - dy) <= BIN and abs(int(r["shift_x_px"]) - dx) <= BIN, (frac, r)
        assert abs(float(r["overlap"]) - frac) < 0.02
    # All of them show one area: one group, the first acquisition kept.
    assert (summary["kept"], summary["rejected"]) == (1, len(truth))
    kept = (tmp_path / "out" / "micrographs_kept.txt").read_text().split()
    assert kept == [str(folder / "mic_000.mrc")]
    duplicates = csv_rows(tmp_path / "out" / "duplicates.csv")
    assert duplicates[0] == ["Original", "Duplicate"] and len(duplicates) == 1 + len(truth)
    assert all(row[0] == str(folder / "mic_000.mrc") for row in duplicates[1:])


@pytest.mark.slow
def test_no_false_duplicates_over_2000_unrelated_pairs(tmp_path):
    # Binned images synthesised directly (12 Å pixels, the dose of 2 x 2 pixels each).
    rng = np.random.default_rng(11)
    for k in range(70):
        field = specimen_field(rng, 291, 409, 2 * PSIZE)
        write_mrc(
            tmp_path / f"m{k:02d}.mrc",
            exposure(rng, field, 0, 0, 291, 409, 2 * PSIZE, dose=120, defocus=rng.uniform(8000, 30000)),
            2 * PSIZE,
        )
    summary = find_duplicate_micrographs(
        sorted(tmp_path.glob("*.mrc")), tmp_path / "out", MicrographOptions(bin=1, candidates="all")
    ).to_json()
    assert summary["pairs_scored"] == 70 * 69 // 2 >= 2000
    assert summary["duplicate_pairs"] == 0 and summary["rejected"] == 0
    z = [float(r["z"]) for r in read_pairs(tmp_path / "out" / "pairs.csv")]
    assert max(z) < MicrographOptions.min_z


def candidates_of(options: MicrographOptions):
    """The pairs ``options`` compare, as the job resolves them."""
    return micrograph_plan(options).scoring.candidates


def test_pattern_mode_compares_the_scripts_pairs():
    # Independent listing of microduplicate_screener's rule: j = i + m + k*h while k*h < S.
    for n, m, h, s in [(100, 16, 4, 48), (60, 16, 4, 34), (30, 3, 2, 7), (10, 16, 4, 48)]:
        expected = set()
        for i in range(n):
            for k in itertools.count():
                if k * h >= s or i + m + k * h >= n:
                    break
                expected.add((i, i + m + k * h))
        options = MicrographOptions(candidates="pattern", images_per_move=m, images_per_hole=h, scan_range=s)
        got = {tuple(p) for p in candidate_pairs(n, candidate_offsets(candidates_of(options), n)).tolist()}
        assert got == expected


def test_window_and_all_pairs():
    window = {
        tuple(p)
        for p in candidate_pairs(
            20, candidate_offsets(candidates_of(MicrographOptions(candidates="window", window=3)), 20)
        ).tolist()
    }
    assert window == {(i, j) for i in range(20) for j in range(i + 1, min(20, i + 4))}
    everything = candidate_pairs(12, None).tolist()
    assert sorted(map(tuple, everything)) == list(itertools.combinations(range(12), 2))


def test_acquisition_order_prefers_epu_time_stamps(tmp_path):
    names = [
        "FoilHole_9_Data_1_2_20240101_120005_fractions.mrc",
        "FoilHole_10_Data_1_2_20240101_115959_fractions.mrc",
        "FoilHole_2_Data_1_2_20240101_120001_fractions.mrc",
    ]
    order, rule = acquisition_order(names, [tmp_path / n for n in names], "auto")
    assert order.tolist() == [1, 2, 0] and rule == "EPU time stamps"
    order, rule = acquisition_order(["mic10.mrc", "mic9.mrc", "mic100.mrc"], [tmp_path / "x"] * 3, "auto")
    assert order.tolist() == [1, 0, 2] and rule == "numbers in the names (natural sort)"
    # File times count only when asked: here they say mic100, mic10, mic9.
    paths = [tmp_path / n for n in ("mic10.mrc", "mic9.mrc", "mic100.mrc")]
    for path, t in zip(paths, (2e9, 3e9, 1e9)):
        path.write_bytes(b"")
        os.utime(path, (t, t))
    assert acquisition_order([p.name for p in paths], paths, "auto")[0].tolist() == [1, 0, 2]
    order, rule = acquisition_order([p.name for p in paths], paths, "mtime")
    assert order.tolist() == [2, 0, 1] and rule == "file times"


@pytest.mark.parametrize(
    "dtype, big_endian", [(np.float16, False), (np.int16, False), (np.uint16, False), (np.float32, True)]
)
def test_mrc_modes_and_byte_order(overlapping, tmp_path, dtype, big_endian):
    import mrcfile

    folder, truth = overlapping
    for name in ("mic_000.mrc", "mic_004.mrc"):  # mic_004: 80 % overlap along x
        with mrcfile.open(folder / name) as mrc:
            write_mrc(tmp_path / name, mrc.data, PSIZE, dtype=dtype, big_endian=big_endian)
    find_duplicate_micrographs(sorted(tmp_path.glob("*.mrc")), tmp_path / "out", MicrographOptions(bin=BIN))
    (row,) = read_pairs(tmp_path / "out" / "pairs.csv")
    assert row["duplicate"] == "1" and abs(int(row["shift_x_px"]) - truth[4][2]) <= BIN


def test_star_input_keeps_rows_and_splits_particles(overlapping, tmp_path):
    folder, _ = overlapping
    names = [f"Micrographs/mic_{k:03d}.mrc" for k in (0, 1, 2)]
    (tmp_path / "Micrographs").mkdir()
    for n in names:
        (tmp_path / n).write_bytes((folder / n.split("/")[1]).read_bytes())
    star = tmp_path / "CtfFind" / "job003" / "micrographs_ctf.star"
    star.parent.mkdir(parents=True)
    star.write_text(
        star_text(
            ["rlnMicrographName", "rlnOpticsGroup", "rlnCtfMaxResolution"],
            [[n, 1, 4.5] for n in names],
            block="micrographs",
            optics=[[1, "og1", PSIZE]],
            optics_labels=["rlnOpticsGroup", "rlnOpticsGroupName", "rlnMicrographPixelSize"],
        )
    )
    particles = tmp_path / "particles.star"
    particles.write_text(
        star_text(
            ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName"], [[10 * i, 20, names[i % 3]] for i in range(9)]
        )
    )
    # Run from elsewhere: the relative paths are found from the folders above the STAR file.
    summary = find_duplicate_micrographs(
        [star], tmp_path / "out", MicrographOptions(bin=BIN), particles=particles
    ).to_json()
    assert summary["root"] == str(tmp_path) and (summary["kept"], summary["rejected"]) == (1, 2)
    kept = (tmp_path / "out" / "micrographs_kept.star").read_text()
    assert names[0] in kept and names[1] not in kept and f"{names[0]} 1 4.5\n" in kept
    on_rejected = (tmp_path / "out" / "particles_on_rejected_micrographs.star").read_text()
    assert on_rejected.count("Micrographs/mic_00") == 6


def cli_error(args, message, tmp_path):
    result = CliRunner().invoke(main, ["micrographs", *map(str, args), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert re.search(message, result.stderr), result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    return result


def test_every_missing_micrograph_file_is_counted(tmp_path):
    # A micrographs STAR whose 24 paths start from another project folder: all 24 are
    # counted, not only the first (which is named).
    names = [f"MotionCorr/job002/Movies/mic_{k:02d}.mrc" for k in range(24)]
    (tmp_path / "micrographs_ctf.star").write_text(star_text(["rlnMicrographName"], [[n] for n in names]))
    result = cli_error([tmp_path / "micrographs_ctf.star"], r"mic_00.mrc: micrograph file not found", tmp_path)
    message = " ".join(result.stderr.split())
    assert "(24 of 24 micrograph files not found" in message and "--project-dir" in message
    assert "--skip-unreadable" not in message  # it would leave no micrograph


def test_bad_micrograph_inputs(overlapping, tmp_path):
    folder, _ = overlapping
    a, b = folder / "mic_000.mrc", folder / "mic_001.mrc"
    cli_error(
        [a, tmp_path / "gone.mrc"],
        r"gone.mrc: micrograph file not found \(1 of 2 micrograph files not found\); use --skip-unreadable",
        tmp_path,
    )
    cli_error([a], r"1 readable micrograph\(s\): at least two are needed", tmp_path)
    write_mrc(tmp_path / "small.mrc", np.zeros((100, 120), np.float32), PSIZE)
    cli_error([a, tmp_path / "small.mrc"], r"small.mrc: 120 x 100 pixels, but .*mic_000.mrc is 818 x 582", tmp_path)
    write_mrc(tmp_path / "nopsize_a.mrc", np.random.default_rng(0).normal(size=(300, 300)), 0.0)
    write_mrc(tmp_path / "nopsize_b.mrc", np.random.default_rng(1).normal(size=(300, 300)), 0.0)
    cli_error([tmp_path / "nopsize_a.mrc", tmp_path / "nopsize_b.mrc"], r"no micrograph pixel size .*--psize", tmp_path)
    (tmp_path / "m.star").write_text(star_text(["rlnImageName"], [["a.mrc"]]))
    cli_error([tmp_path / "m.star"], r"m.star: no rlnMicrographName column", tmp_path)
    (tmp_path / "junk.mrc").write_text("not an mrc")
    result = CliRunner().invoke(
        main,
        [
            "micrographs",
            str(a),
            str(b),
            str(tmp_path / "junk.mrc"),
            "--skip-unreadable",
            "-o",
            str(tmp_path / "out2"),
            "--json",
            "--bin",
            str(BIN),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "skipped unreadable" in result.stderr and "junk.mrc" in result.stdout


def test_pixel_sizes_must_agree(overlapping, tmp_path):
    import mrcfile

    folder, _ = overlapping
    with mrcfile.open(folder / "mic_001.mrc") as mrc:
        write_mrc(tmp_path / "other.mrc", mrc.data, 2 * PSIZE)
    cli_error(
        [folder / "mic_000.mrc", tmp_path / "other.mrc"],
        r"other.mrc: pixel size 12 Å in its header, but "
        r".*mic_000.mrc has 6 Å",
        tmp_path,
    )


def test_cryosparc_exposures_in_and_out(overlapping, tmp_path):
    from fixtures.synthetic import write_cs

    folder, _ = overlapping
    exposures = np.zeros(
        3,
        dtype=[
            ("uid", "<u8"),
            ("micrograph_blob/path", "S40"),
            ("micrograph_blob/psize_A", "<f4"),
            ("ctf/df1_A", "<f4"),
        ],
    )
    exposures["uid"] = [11, 12, 13]
    exposures["micrograph_blob/path"] = [f"S1/motioncorrected/mic_{k:03d}.mrc".encode() for k in (0, 1, 2)]
    exposures["micrograph_blob/psize_A"] = PSIZE
    exposures["ctf/df1_A"] = [1e4, 2e4, 3e4]
    (tmp_path / "S1" / "motioncorrected").mkdir(parents=True)
    for k in (0, 1, 2):
        (tmp_path / "S1" / "motioncorrected" / f"mic_{k:03d}.mrc").write_bytes(
            (folder / f"mic_{k:03d}.mrc").read_bytes()
        )
    write_cs(tmp_path / "J3_exposures.cs", exposures)
    particles = np.zeros(6, dtype=[("uid", "<u8"), ("location/micrograph_uid", "<u8")])
    particles["uid"] = np.arange(6)
    particles["location/micrograph_uid"] = [11, 12, 13, 11, 12, 13]
    write_cs(tmp_path / "particles.cs", particles)
    summary = find_duplicate_micrographs(
        [tmp_path / "J3_exposures.cs"],
        tmp_path / "out",
        MicrographOptions(bin=BIN, project_dir=tmp_path),
        particles=tmp_path / "particles.cs",
    ).to_json()
    assert (summary["kept"], summary["rejected"]) == (1, 2)
    kept = np.load(tmp_path / "out" / "micrographs_kept.cs")
    assert kept.dtype == exposures.dtype and np.array_equal(kept, exposures[:1])
    on_rejected = np.load(tmp_path / "out" / "particles_on_rejected_micrographs.cs")
    assert sorted(on_rejected["uid"].tolist()) == [1, 2, 4, 5]


def test_cryosparc_exposure_group_with_passthrough(overlapping, tmp_path):
    from fixtures.synthetic import write_cs

    folder, _ = overlapping
    blobs = np.zeros(3, dtype=[("uid", "<u8"), ("micrograph_blob/path", "S200"), ("micrograph_blob/psize_A", "<f4")])
    blobs["uid"] = [21, 22, 23]
    blobs["micrograph_blob/path"] = [str(folder / f"mic_{k:03d}.mrc").encode() for k in (2, 0, 1)]
    blobs["micrograph_blob/psize_A"] = PSIZE
    ctf = np.zeros(3, dtype=[("uid", "<u8"), ("ctf/df1_A", "<f4")])
    ctf["uid"] = [23, 21, 22]  # another row order: joined on uid
    ctf["ctf/df1_A"] = [3e4, 1e4, 2e4]
    write_cs(tmp_path / "J4_exposures.cs", blobs)
    write_cs(tmp_path / "J4_passthrough_exposures.cs", ctf)
    (tmp_path / "J4.csg").write_text(
        "results:\n"
        "  micrograph_blob: {metafile: '>J4_exposures.cs', num_items: 3, type: exposure.micrograph_blob}\n"
        "  ctf: {metafile: '>J4_passthrough_exposures.cs', num_items: 3, type: exposure.ctf}\n"
    )
    summary = find_duplicate_micrographs(
        [tmp_path / "J4.csg"], tmp_path / "out", MicrographOptions(bin=BIN, order="input")
    ).to_json()
    assert (summary["kept"], summary["rejected"]) == (1, 2)
    out = tmp_path / "out"
    assert np.load(out / "micrographs_kept.cs")["uid"].tolist() == [21]
    assert sorted(np.load(out / "micrographs_rejected_passthrough_1.cs")["uid"].tolist()) == [22, 23]
    import yaml

    group = yaml.safe_load((out / "micrographs_kept.csg").read_text())
    assert group["results"]["ctf"]["metafile"] == ">micrographs_kept_passthrough_1.cs"
    assert group["results"]["micrograph_blob"]["num_items"] == 1


# --- acquisition order and reach (issue 8, items 5 and 6) ---------------------------------

N_SET, SET_SHAPE = 130, (200, 280)  # binned images of 12 Å, synthesised directly
PLANTED = {46: 10, 110: 20, 70: 50}  # re-exposure number: original number (36, 90 and 20 apart)


def write_numbered_set(folder, order_written, mtimes):
    """Micrographs mic_1 ... mic_130 (unpadded numbers, as SerialEM writes them) in
    ``folder/Movies``, written in ``order_written`` with the given file times; the
    re-exposures in PLANTED show their original's area shifted by 20-40 %."""
    rng = np.random.default_rng(3)
    fields, images = {}, {}
    for k in range(1, N_SET + 1):
        if k in PLANTED:
            field, (y0, x0) = fields[PLANTED[k]], (int(rng.integers(40, 80)), int(rng.integers(60, 110)))
        else:
            fields[k] = field = specimen_field(rng, SET_SHAPE[0] + 80, SET_SHAPE[1] + 110, 12.0)
            y0, x0 = 0, 0
        images[k] = exposure(rng, field, y0, x0, *SET_SHAPE, 12.0, dose=120, defocus=rng.uniform(8000, 30000))
    (folder / "Movies").mkdir(parents=True)
    for k in order_written:
        path = folder / "Movies" / f"mic_{k}.mrc"
        write_mrc(path, images[k], 12.0)
        os.utime(path, (mtimes[k], mtimes[k]))


@pytest.fixture(scope="module")
def numbered_copies(tmp_path_factory):
    """The same set twice: file times in acquisition order, and copied in shuffled order
    with shuffled file times (a parallel transfer)."""
    numbers = list(range(1, N_SET + 1))
    ordered = tmp_path_factory.mktemp("ordered")
    write_numbered_set(ordered, numbers, {k: 1.7e9 + 60 * k for k in numbers})
    shuffled = tmp_path_factory.mktemp("shuffled")
    order = np.random.default_rng(8).permutation(numbers).tolist()
    write_numbered_set(shuffled, order, {k: 1.7e9 + 7 * i for i, k in enumerate(order)})
    return ordered, shuffled


def run_in(folder, *args):
    """``cryodedup micrographs 'Movies/*.mrc'`` run inside ``folder`` (relative names, so that
    the outputs of two copies can be compared byte for byte): the summary and stderr."""
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(main, ["micrographs", "Movies/*.mrc", *args, "--json"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("mode", [[], ["--candidates", "pattern"]], ids=["default", "pattern"])
def test_shuffled_copy_gives_identical_outputs(numbered_copies, mode):
    ordered, shuffled = numbered_copies
    summaries = [run_in(folder, *mode, "-o", f"out{len(mode)}")[0] for folder in (ordered, shuffled)]
    assert all(s["order"] == "numbers in the names (natural sort)" for s in summaries)
    for name in ("duplicates.csv", "pairs.csv"):
        assert (ordered / f"out{len(mode)}" / name).read_bytes() == (shuffled / f"out{len(mode)}" / name).read_bytes()
    # The oracle: the planted re-exposures the mode can reach, each against its original.
    reachable = {b: a for b, a in PLANTED.items() if mode == [] or b - a in range(16, 61, 4)}
    expected = [["Original", "Duplicate"]] + [
        [f"Movies/mic_{reachable[b]}.mrc", f"Movies/mic_{b}.mrc"] for b in sorted(reachable)
    ]
    assert csv_rows(ordered / f"out{len(mode)}" / "duplicates.csv") == expected


def test_default_finds_re_exposures_36_and_90_images_later_and_says_how_far_it_looked(numbered_copies):
    ordered, _ = numbered_copies
    s, _ = run_in(ordered, "-o", "out_default")
    rows = csv_rows(ordered / "out_default" / "duplicates.csv")[1:]
    assert sorted(rows) == sorted([f"Movies/mic_{a}.mrc", f"Movies/mic_{b}.mrc"] for b, a in PLANTED.items())
    # 130 images: every pair, 129 apart at most.
    assert s["pairs_scored"] == N_SET * (N_SET - 1) // 2
    assert s["candidates"] == "all" and s["reach"] == N_SET - 1


def test_auto_candidates_beyond_the_all_pairs_limit_use_a_window_of_100():
    n = ALL_PAIRS_UPTO + 1
    offsets = candidate_offsets(candidates_of(MicrographOptions()), n)
    assert offsets.tolist() == list(range(1, 101))
    assert candidate_offsets(candidates_of(MicrographOptions()), ALL_PAIRS_UPTO) is None


def test_duplicate_near_the_window_edge_is_warned_about(numbered_copies):
    ordered, _ = numbered_copies
    s, stderr = run_in(ordered, "--candidates", "window", "--window", "40", "-o", "out_w40")
    assert s["reach"] == 40 and s["candidates"] == "window"
    # mic_46 is 36 images after mic_10: found, near the edge of the 40 compared.
    assert re.search(r"36 images apart.*--window", stderr, re.S), stderr
    assert s["rejected"] == 2  # mic_46 and mic_70; mic_110 (90 after) is beyond reach
    # Each option it gives, run as printed: --window 80 compares pairs up to 80 apart (by hand: 36 and 20 are, 90 is
    # not, and 36 is no longer near the edge: no warning); --candidates all every pair (all three found).
    said = " ".join(stderr.split())
    advised = re.search(r"give (--window \d+) \(twice this one\) or (--candidates all) \(every pair\)", said)
    assert advised, said
    wider, wider_said = run_in(ordered, *shlex.split(advised.group(1)), "--candidates", "window", "-o", "out_w80")
    assert (wider["reach"], wider["rejected"]) == (80, 2) and "near the" not in wider_said, wider_said
    every, every_said = run_in(ordered, *shlex.split(advised.group(2)), "-o", "out_all")
    assert every["rejected"] == len(PLANTED) and "near the" not in every_said, every_said
    rows = csv_rows(ordered / "out_all" / "duplicates.csv")[1:]
    assert sorted(rows) == sorted([f"Movies/mic_{a}.mrc", f"Movies/mic_{b}.mrc"] for b, a in PLANTED.items())


def test_duplicate_near_the_edge_of_the_pattern_names_the_scan_range(numbered_copies):
    ordered, _ = numbered_copies
    # Pattern offsets 16 + 4k below 16 + 24: 16 to 36, so mic_46 (36 after mic_10) is at the edge;
    # the pattern's reach is the --scan-range, not the --window it does not use.
    s, stderr = run_in(ordered, "--candidates", "pattern", "--scan-range", "24", "-o", "out_p24")
    assert s["reach"] == 36 and s["candidates"] == "pattern"
    warning = " ".join(stderr.split())
    assert "36 images apart" in warning and "give --scan-range 48 (twice this one)" in warning
    assert "--window" not in warning
    # Run as printed, the pattern scans twice as far: by hand, offsets 16 to 60 in steps of 4 reach mic_46 (36 after
    # mic_10) and mic_70 (20 after mic_50), not mic_110 (90 after mic_20).
    wider, _ = run_in(
        ordered, "--candidates", "pattern", *shlex.split(warning.split("give ")[1].split(" (")[0]), "-o", "p48"
    )
    assert wider["rejected"] == 2


def test_images_per_second_counts_the_images_read(numbered_copies, tmp_path):
    # Pattern pairs 100 + 4k images apart among 130: images 30 to 99 are in no pair and are
    # never read. The rate is over the 60 read, in the time the scoring took (timed here).
    ordered, _ = numbered_copies
    timed = []

    def runner(plan, progress):
        start = time.perf_counter()
        shards = run_in_process(plan, progress)
        time.sleep(0.5)  # a time long enough to measure
        timed.append(time.perf_counter() - start)
        return shards

    options = MicrographOptions(candidates="pattern", images_per_move=100)
    movies = sorted((ordered / "Movies").glob("*.mrc"))
    typed = run_plain(movies, tmp_path / "o", micrograph_plan(options), scorer=runner)
    s = typed.to_json()
    assert s["workers"][0]["images_read"] == 60
    # The rate is the 60 read (not the 130 listed) over the scoring's time, which holds the
    # runner's (no bound on the clock itself: a loaded machine stretches the job's other steps).
    timings = s["timings"]
    assert timings["scoring_seconds"] >= timed[0] - 0.001
    assert timings["images_per_second"] == pytest.approx(60 / timings["scoring_seconds"], rel=0.01)
    rows = dict(micrograph_rows(typed))  # one run: no host:process, no shard
    assert rows["Read"].startswith("60 images, ") and "shard" not in rows["Read"]


def test_summary_and_help_say_only_what_is_true(numbered_copies):
    ordered, _ = numbered_copies
    _, stderr = run_in(ordered, "--candidates", "pattern", "-o", "out_summary")
    # MRC files named on the command line are not looked up under any folder.
    assert "Files found under" not in stderr and "Acquisition order" in stderr
    help_text = " ".join(CliRunner().invoke(main, ["micrographs", "--help"], terminal_width=200).output.split())
    assert re.search(r"--project-dir .*the current folder, then the folders above the input", help_text)


def test_the_job_parses_each_header_once(tmp_path, monkeypatch):
    files = write_planted_micrographs(tmp_path)[:6]
    opened = []
    real_mmap = mrcfile.mmap
    monkeypatch.setattr(mrcfile, "mmap", lambda path, *a, **kw: opened.append(path) or real_mmap(path, *a, **kw))
    find_duplicate_micrographs(files, tmp_path / "out", MicrographOptions(bin=1))
    assert sorted(map(str, opened)) == sorted(map(str, files))


def test_images_are_read_ahead_on_their_own_thread_with_the_same_scores(tmp_path, monkeypatch):
    """Batches of 3 images, 14 images, every pair: the reads happen on the reading thread, and
    the scores equal those of one batch holding every image (nothing read ahead, nothing dropped)."""
    import threading

    import cryodedup.jobs.micrographs.score as score

    files = write_planted_micrographs(tmp_path)[:14]
    threads = []
    read_image = score._read_image
    monkeypatch.setattr(
        score,
        "_read_image",
        lambda plan, q: threads.append(threading.current_thread().name) or read_image(plan, q),
    )
    summaries = [
        find_duplicate_micrographs(files, tmp_path / f"out{batch}", MicrographOptions(bin=1, batch=batch)).to_json()
        for batch in (3, 100)
    ]
    assert len(threads) == 28 and all(name.startswith("cryodedup-read") for name in threads)
    pairs = [(tmp_path / f"out{batch}" / "pairs.csv").read_text() for batch in (3, 100)]
    assert pairs[0] == pairs[1] and len(pairs[0].splitlines()) == 1 + 14 * 13 // 2
    assert summaries[0]["rejected"] == summaries[1]["rejected"] > 0


@pytest.mark.parametrize("n", [0, 1, 2, 9, 40])
def test_candidate_pairs_come_sorted_by_the_later_image(n):
    """Against brute force: every owned pair at an offset, in order of (later, earlier), shard by shard."""
    rng = np.random.default_rng(n)
    for offsets in (np.arange(1, 4), np.array([2, 5, 11]), np.array([7]), np.arange(1, 60), np.zeros(0, np.int64)):
        for lo, hi in [(0, n), (0, n // 2), (n // 3, n), (n // 2, n // 2)]:
            expected = sorted(((p, p + o) for p in range(lo, hi) for o in offsets if p + o < n), key=lambda x: x[::-1])
            got = candidate_pairs(n, rng.permutation(offsets), (lo, hi))
            assert got.shape == (len(expected), 2) and got.dtype == np.int64
            assert list(map(tuple, got.tolist())) == expected
