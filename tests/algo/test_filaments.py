"""Filament segments (cryodedup.algo.filaments and the readers' tube columns).

Oracle: tests/oracle.py's brute-force filament rules, on centres computed in the test.
"""

from __future__ import annotations

import numpy as np
import pytest
import starfile
from click.testing import CliRunner

from cryodedup import CryodedupError, ParticleOptions, dedup, remove_duplicate_particles, remove_duplicates
from cryodedup.cli import main
from fixtures.synthetic import cs_particles, write_cs
from helpers import shared_file, write_star
from oracle import oracle_filaments

HELICAL = [
    "rlnCoordinateX",
    "rlnCoordinateY",
    "rlnMicrographName",
    "rlnOpticsGroup",
    "rlnHelicalTubeID",
    "rlnAutopickFigureOfMerit",
    "rlnImageName",
]
OPTICS = [[1, "og1", 2.0, 1.0]]  # micrograph pixel 1 Å


def run(tmp_path, inputs, **options):
    return remove_duplicate_particles(inputs, tmp_path / "out", ParticleOptions(**options))


def image_names(path) -> list[str]:
    return starfile.read(path, always_dict=True)["particles"]["rlnImageName"].tolist()


def filament_rows(covered: int = 10) -> list[list]:
    """Two tubes tracing one filament and one distinct tube, segments 20 Å apart along x.

    Tube 1 (figure of merit 0.9) and tube 2 (0.5) trace the filament at y = 1000 and 1005 Å;
    the last ``10 - covered`` segments of tube 2 leave it for y = 1300. Tube 3 (0.1) runs at
    y = 2000.
    """
    rows = []
    for k in range(10):
        rows.append([100 + 20 * k, 1000, "m.mrc", 1, 1, 0.9, f"a{k}"])
        rows.append([100 + 20 * k, 1005 if k < covered else 1300, "m.mrc", 1, 2, 0.5, f"b{k}"])
        rows.append([100 + 20 * k, 2000, "m.mrc", 1, 3, 0.1, f"c{k}"])
    return rows


def expected_names(rows, min_dist, whole_tubes) -> list[str]:
    coords = [(r[0], r[1]) for r in rows]
    keep = oracle_filaments([0] * len(rows), [r[4] for r in rows], coords, [r[5] for r in rows], min_dist, whole_tubes)
    return [r[6] for r, k in zip(rows, keep) if k]


@pytest.mark.parametrize("mode", ["segment", "tube"])
def test_best_of_two_tubes_and_the_distinct_tube_are_kept(tmp_path, mode):
    # Segments of one tube are 20 Å apart, closer than the 30 Å minimum distance: without
    # the tube rule every other segment of every tube would go.
    rows = filament_rows()
    path = write_star(tmp_path / "p.star", HELICAL, rows, optics=OPTICS)
    summary = run(tmp_path, [path], min_dist=30.0, filament_mode=mode)
    kept = image_names(tmp_path / "out/particles_kept.star")
    assert kept == [f"{t}{k}" for k in range(10) for t in "ac"] == expected_names(rows, 30.0, mode == "tube")
    assert image_names(tmp_path / "out/particles_rejected.star") == [f"b{k}" for k in range(10)]
    assert (
        summary.to_json()["filaments"]["column"] == "rlnHelicalTubeID" and summary.to_json()["filaments"]["tubes"] == 3
    )
    assert summary.to_json()["filaments"]["mode"] == mode and "tube" in summary.to_json()["filaments"]["rule"]


def test_modes_differ_on_a_partly_covered_tube(tmp_path):
    # Tube 2 follows tube 1 for 6 of its 10 segments: segment mode rejects those 6, tube
    # mode rejects the whole tube (6 > 10 / 2). Covered for 5: tube mode keeps it whole.
    for covered, tube_rejects in [(6, 10), (5, 0)]:
        rows = filament_rows(covered)
        path = write_star(tmp_path / f"p{covered}.star", HELICAL, rows, optics=OPTICS)
        segment = remove_duplicate_particles([path], tmp_path / f"s{covered}", ParticleOptions(min_dist=30.0))
        tube = remove_duplicate_particles(
            [path], tmp_path / f"t{covered}", ParticleOptions(min_dist=30.0, filament_mode="tube")
        )
        assert segment.rejected == covered and tube.rejected == tube_rejects
        for mode, out in (("segment", "s"), ("tube", "t")):
            got = image_names(tmp_path / f"{out}{covered}/particles_kept.star")
            assert sorted(got) == sorted(expected_names(rows, 30.0, mode == "tube"))


@pytest.mark.parametrize("whole_tubes", [False, True])
def test_random_filaments_agree_with_brute_force(whole_tubes):
    rng = np.random.default_rng(5)
    groups, tubes, coords = [], [], []
    tube = 0
    for mic in range(4):
        for _ in range(6):  # tubes as straight runs of segments, some retracing others
            tube += 1
            start, step = rng.uniform(0, 300, size=2), rng.normal(size=2)
            step *= 15 / np.linalg.norm(step)
            for k in range(int(rng.integers(2, 9))):
                groups.append(mic)
                tubes.append(tube)
                coords.append(start + k * step)
        for _ in range(5):  # lone particles (tube 0)
            groups.append(mic)
            tubes.append(0)
            coords.append(rng.uniform(0, 300, size=2))
    coords = np.array(coords)
    scores = rng.uniform(size=len(groups)).round(3)
    for min_dist in (10.0, 40.0):
        got = dedup(groups, coords, scores, min_dist=min_dist, tubes=tubes, whole_tubes=whole_tubes)
        expected = oracle_filaments(groups, tubes, coords.tolist(), scores.tolist(), min_dist, whole_tubes)
        assert got.keep.tolist() == expected


def test_tube_mode_refuses_remove_entirely(tmp_path):
    path = write_star(tmp_path / "p.star", HELICAL, filament_rows(), optics=OPTICS)
    with pytest.raises(CryodedupError, match="--filament-mode tube and --remove-entirely"):
        run(tmp_path, [path], filament_mode="tube", remove_entirely=True)


def test_cryosparc_filament_uid(tmp_path):
    # The same filament as above in a .cs, tubes named by (large) filament_uid hashes.
    rows = filament_rows()
    base = cs_particles(np.random.default_rng(0), len(rows), per_mic=len(rows), duplicate_fraction=0.0)
    records = np.zeros(len(rows), dtype=[*base.dtype.descr, ("filament/filament_uid", "<u8")])
    for name in base.dtype.names or ():
        records[name] = base[name]
    records["uid"] = np.arange(len(rows)) + 1
    records["location/micrograph_uid"] = 42
    records["location/micrograph_shape"] = (4000, 4000)
    records["location/center_x_frac"] = [r[0] / 4000 for r in rows]
    records["location/center_y_frac"] = [r[1] / 4000 for r in rows]
    records["location/micrograph_psize_A"] = 1.0
    records["alignments2D/shift"] = 0.0
    records["pick_stats/ncc_score"] = [r[5] for r in rows]
    records["filament/filament_uid"] = [2**63 + r[4] for r in rows]  # beyond float64's exact integers
    write_cs(tmp_path / "p.cs", records)
    for mode in ("segment", "tube"):
        summary = remove_duplicate_particles(
            [tmp_path / "p.cs"], tmp_path / mode, ParticleOptions(min_dist=30.0, filament_mode=mode)
        )
        kept = np.load(tmp_path / mode / "particles_kept.cs")
        assert summary.to_json()["filaments"] == {
            **summary.to_json()["filaments"],
            "column": "filament/filament_uid",
            "tubes": 3,
        }
        assert sorted(kept["uid"].tolist()) == [i + 1 for i, r in enumerate(rows) if r[4] != 2]


def cbox_text(filaments: list[tuple[int, list[tuple[float, float]], float]]) -> str:
    """A crYOLO filament .cbox: (filament id, segment centres in pixels, confidence) per filament."""
    labels = "CoordinateX CoordinateY CoordinateZ Width Height Depth EstWidth EstHeight Confidence NumBoxes Angle"
    text = "\ndata_global\n\n_cbox_format_version 1.0\n\ndata_cryolo\n\nloop_\n"
    text += "".join(f"_{lab} #{k}\n" for k, lab in enumerate([*labels.split(), "filamentid"], 1))
    for fid, centres, conf in filaments:
        for x, y in centres:
            text += f"{x - 50} {y - 50} <NA> 100.0 100.0 1.0 <NA> <NA> {conf} <NA> <NA> {float(fid)}\n"
    return text


def test_cryolo_filament_cbox_joins_the_filament_path(tmp_path):
    # Filament 0 traced twice (filament 1 beside it, lower confidence), filament 2 elsewhere.
    line = [(100.0 + 20 * k, 500.0) for k in range(8)]
    beside = [(x, y + 3) for x, y in line]
    far = [(x, y + 600) for x, y in line]
    folder = tmp_path / "CBOX"
    folder.mkdir()
    (folder / "mic1.cbox").write_text(cbox_text([(0, line, 0.9), (1, beside, 0.6), (2, far, 0.8)]))
    summary = remove_duplicate_particles(
        [folder], tmp_path / "out", ParticleOptions(min_dist=30.0, mic_psize=1.0, filament_mode="tube")
    )
    assert (summary.kept, summary.rejected) == (16, 8)
    assert summary.to_json()["filaments"]["column"] == "_filamentid" and summary.to_json()["filaments"]["tubes"] == 3
    kept = (tmp_path / "out/kept/mic1.cbox").read_text().splitlines()
    ids = [row.split()[-1] for row in kept if row.endswith(("<NA> 0.0", "<NA> 1.0", "<NA> 2.0"))]
    assert ids == ["0.0"] * 8 + ["2.0"] * 8  # filament 1's rows all rejected


@pytest.mark.real_data
def test_real_cryolo_filament_is_kept_whole(tmp_path):
    # One filament of 16 segments about 30 px apart: at 100 Å (1 Å/px) none is a duplicate.
    path = shared_file("picks/napari-boxmanager__ActLifeact_03211.cbox")
    summary = remove_duplicate_particles([path], tmp_path / "out", ParticleOptions(min_dist=100.0, mic_psize=1.0))
    assert (summary.particles, summary.rejected, summary.to_json()["filaments"]["tubes"]) == (16, 0, 1)


@pytest.mark.real_data
def test_real_relion30_helical_round_trip(tmp_path):
    # Tube ids restart on each micrograph; segments of a tube never reject each other.
    path = shared_file("helical/mMiRP__example_relion30_helical.star")
    table = starfile.read(path)
    psize = 1.0
    coords = (table[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(float) * psize).tolist()
    groups = np.unique(table["rlnMicrographName"], return_inverse=True)[1].tolist()
    scores = table["rlnAutopickFigureOfMerit"].to_numpy(float).tolist()
    origins = table[["rlnOriginX", "rlnOriginY"]].to_numpy(float)
    assert np.abs(origins).max() < 0.05  # so the origins (in 5.5 Å particle pixels) move nothing past 0.3 Å
    for mode in ("segment", "tube"):
        expected = np.array(
            oracle_filaments(groups, table["rlnHelicalTubeID"].tolist(), coords, scores, 200.0, mode == "tube")
        )
        summary = remove_duplicate_particles(
            [path],
            tmp_path / mode,
            ParticleOptions(min_dist=200.0, mic_psize=psize, shift_key="none", filament_mode=mode),
        )
        kept = starfile.read(tmp_path / mode / "particles_kept.star")
        assert summary.rejected == int((~expected).sum())
        assert kept.equals(table[expected].reset_index(drop=True))


def test_tubes_of_a_table_in_memory(tmp_path):
    rows = filament_rows()
    path = write_star(tmp_path / "p.star", HELICAL, rows, optics=OPTICS)
    kept, rejected = remove_duplicates(starfile.read(path, always_dict=True), min_dist=30.0, filament_mode="tube")
    assert rejected["particles"]["rlnImageName"].tolist() == [f"b{k}" for k in range(10)]
    assert len(kept["particles"]) == 20


def test_filament_mode_through_the_cli(tmp_path):
    path = write_star(tmp_path / "p.star", HELICAL, filament_rows(6), optics=OPTICS)
    args = ["particles", str(path), "--min-dist", "30", "--filament-mode", "tube", "-o", str(tmp_path / "o")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "Filaments" in result.stderr and "rejected whole" in result.stderr
    result = CliRunner().invoke(main, [*args, "--force", "--filament-mode", "whole"])
    assert result.exit_code == 2  # click refuses the choice
