"""cryodedup.micrographs on synthetic micrographs: a specimen field, windows cut from it with
known shifts, independent shot noise, gain and defocus. The truth is known by construction."""

from __future__ import annotations

import csv
import itertools
import re

import numpy as np
import pytest
from click.testing import CliRunner

from helpers import star_text
from cryodedup import MicrographOptions, find_duplicate_micrographs
from cryodedup.cli import main
from cryodedup.micrographs import acquisition_order, candidate_offsets, candidate_pairs
from cryodedup.synthetic import exposure, specimen_field, write_mrc

PSIZE, H, W, BIN = 6.0, 582, 818, 2  # binned: 291 x 409 pixels of 12 Å, like a K3 at 12 Å


def read_pairs(path):
    with open(path) as f:
        return list(csv.DictReader(f))


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


def test_overlaps_from_30_to_100_percent_are_found_with_their_shift(overlapping, tmp_path):
    folder, truth = overlapping
    summary = find_duplicate_micrographs(
        sorted(folder.glob("*.mrc")), tmp_path / "out", MicrographOptions(bin=BIN, candidates="all")
    )
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
    duplicates = list(csv.reader(open(tmp_path / "out" / "duplicates.csv")))
    assert duplicates[0] == ["Original", "Duplicate"] and len(duplicates) == 1 + len(truth)
    assert all(row[0] == str(folder / "mic_000.mrc") for row in duplicates[1:])


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
    )
    assert summary["pairs_scored"] == 70 * 69 // 2 >= 2000
    assert summary["duplicate_pairs"] == 0 and summary["rejected"] == 0
    z = [float(r["z"]) for r in read_pairs(tmp_path / "out" / "pairs.csv")]
    assert max(z) < MicrographOptions.min_z


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
        got = {tuple(p) for p in candidate_pairs(n, candidate_offsets(options, n)).tolist()}
        assert got == expected


def test_window_and_all_pairs():
    window = {tuple(p) for p in candidate_pairs(20, candidate_offsets(MicrographOptions(window=3), 20)).tolist()}
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
    assert order.tolist() == [1, 0, 2] and rule == "natural sort of names"


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
    summary = find_duplicate_micrographs([star], tmp_path / "out", MicrographOptions(bin=BIN), particles=particles)
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


def test_bad_micrograph_inputs(overlapping, tmp_path):
    folder, _ = overlapping
    a, b = folder / "mic_000.mrc", folder / "mic_001.mrc"
    cli_error([a, tmp_path / "gone.mrc"], r"gone.mrc: micrograph file not found .*--skip-unreadable", tmp_path)
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
    from cryodedup.synthetic import write_cs

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
    )
    assert (summary["kept"], summary["rejected"]) == (1, 2)
    kept = np.load(tmp_path / "out" / "micrographs_kept.cs")
    assert kept.dtype == exposures.dtype and np.array_equal(kept, exposures[:1])
    on_rejected = np.load(tmp_path / "out" / "particles_on_rejected_micrographs.cs")
    assert sorted(on_rejected["uid"].tolist()) == [1, 2, 4, 5]


def test_cryosparc_exposure_group_with_passthrough(overlapping, tmp_path):
    from cryodedup.synthetic import write_cs

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
    )
    assert (summary["kept"], summary["rejected"]) == (1, 2)
    out = tmp_path / "out"
    assert np.load(out / "micrographs_kept.cs")["uid"].tolist() == [21]
    assert sorted(np.load(out / "micrographs_rejected_passthrough_1.cs")["uid"].tolist()) == [22, 23]
    import yaml

    group = yaml.safe_load((out / "micrographs_kept.csg").read_text())
    assert group["results"]["ctf"]["metafile"] == ">micrographs_kept_passthrough_1.cs"
    assert group["results"]["micrograph_blob"]["num_items"] == 1
