"""``--mask`` and ``--edge`` (issue 69, item 3): the picks outside a mask or near an edge, against plain numpy.

The oracle maps each pick to a mask voxel by hand (pixel x pixel size / voxel size, floored; RELION 5's
centred Å first moved to the corner by (size / 2 - 1) tilt-series pixels) and looks the value up.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from cryodedup.cli import main


def _mrc(path, data, voxel):
    with mrcfile.new(path, data=data, overwrite=True) as mrc:
        mrc.voxel_size = voxel


def _run(args, capsys):
    code = main([*args, "--json", "-q"], standalone_mode=False)
    assert code in (0, None)
    return json.loads(capsys.readouterr().out)


def _rules(path):
    with open(path, newline="") as f:
        return {(r["micrograph"], int(r["row"])): r["rule"] for r in csv.DictReader(f)}


@pytest.mark.parametrize("seed", range(4))
def test_micrographs_masked_and_cut_at_the_edge_as_a_brute_force_does(tmp_path, capsys, seed):
    rng = np.random.default_rng(seed)
    psize, binning, edge = 1.5, int(rng.integers(1, 5)), float(rng.uniform(0, 300))
    ny, nx = 300, 400
    masks = tmp_path / "masks"
    masks.mkdir()
    names, rows, lines = ["mic_1", "mic_2", "mic_3"], [], []
    mask_of = {}
    for name in names:
        _mrc(tmp_path / f"{name}.mrc", np.zeros((ny, nx), np.float32), psize)  # (its header: the size)
        mask = rng.integers(0, 3, (ny // binning, nx // binning)).astype(np.int8)
        mask_of[name] = mask
        _mrc(masks / f"{name}_mask.mrc", mask.astype(np.int8), psize * binning)
    for k in range(300):  # (well apart: no duplicates at --min-dist 0)
        name = names[k % 3]
        x, y = rng.uniform(0, nx - 1), rng.uniform(0, ny - 1)
        rows.append((name, x, y))
        lines.append(f"{x:.6f} {y:.6f} {name}.mrc {rng.random():.6f}")
    star = tmp_path / "p.star"
    star.write_text(
        "data_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnMicrographName\n_rlnAutopickFigureOfMerit\n"
        + "\n".join(lines)
        + "\n"
    )
    label = int(rng.integers(1, 3)) if seed % 2 else None
    args = ["particles", str(star), "-o", str(tmp_path / "out"), "--mic-psize", str(psize), "--min-dist", "0"]
    args += ["--mask", str(masks), "--edge", str(edge), "--decisions", "--project-dir", str(tmp_path)]
    summary = _run([*args, *(["--mask-label", str(label)] if label else [])], capsys)
    expected = {}
    for k, (name, x, y) in enumerate(rows):
        mask = mask_of[name]
        i, j = int(np.floor(x * psize / (psize * binning))), int(np.floor(y * psize / (psize * binning)))
        value = mask[j, i] if j < mask.shape[0] and i < mask.shape[1] else 0
        inside = value == label if label else value > 0
        ax, ay = x * psize, y * psize
        near = min(ax, ay, nx * psize - ax, ny * psize - ay) < edge
        if not inside:
            expected[(f"{name}.mrc", k + 1)] = "outside the mask"
        elif near:
            expected[(f"{name}.mrc", k + 1)] = "at the edge"
    assert _rules(tmp_path / "out" / "decisions.csv") == expected
    section = summary["mask_and_edge"]
    assert section["outside_mask"] == sum(v == "outside the mask" for v in expected.values())
    assert section["at_edge"] == sum(v == "at the edge" for v in expected.values())
    assert summary["kept"] == 300 - len(expected) and len(section["masks"]) == 3


def test_tomograms_in_centred_angstrom_with_a_binned_mask(tmp_path, capsys):
    # RELION 5: centred Å; the tomograms STAR's sizes put the corner at (size / 2 - 1) tilt-series pixels.
    rng = np.random.default_rng(7)
    ts, size, binning = 1.35, (800, 600, 200), 8  # mask voxels of 10.8 Å
    (tmp_path / "tomograms.star").write_text(
        "data_global\nloop_\n_rlnTomoName\n_rlnTomoTiltSeriesPixelSize\n_rlnTomoTomogramBinning\n"
        "_rlnTomoSizeX\n_rlnTomoSizeY\n_rlnTomoSizeZ\n" + f"TS_01 {ts} 8 {size[0]} {size[1]} {size[2]}\n"
    )
    shape = (size[2] // binning, size[1] // binning, size[0] // binning)  # (nz, ny, nx)
    mask = (rng.random(shape) < 0.6).astype(np.float32)
    _mrc(tmp_path / "cell.mrc", mask, ts * binning)
    half = np.array([(s / 2 - 1) * ts for s in size])
    centred = rng.uniform(-half, np.array(size) * ts - half, (400, 3))
    lines = "".join(f"TS_01 {x:.4f} {y:.4f} {z:.4f} {rng.random():.5f}\n" for x, y, z in centred)
    (tmp_path / "p.star").write_text(
        "data_particles\nloop_\n_rlnTomoName\n_rlnCenteredCoordinateXAngst\n_rlnCenteredCoordinateYAngst\n"
        "_rlnCenteredCoordinateZAngst\n_rlnLCCmax\n" + lines
    )
    args = ["particles", str(tmp_path / "p.star"), "-o", str(tmp_path / "out"), "--min-dist", "0"]
    args += ["--score", "rlnLCCmax", "--micrographs", str(tmp_path / "tomograms.star"), "--edge", "100"]
    summary = _run([*args, "--mask", str(tmp_path / "cell.mrc"), "--decisions"], capsys)
    corner = np.asarray([[float(v) for v in line.split()[1:4]] for line in lines.splitlines()]) + half
    index = np.floor(corner / (ts * binning)).astype(int)
    within = ((index >= 0) & (index < np.array(shape[::-1]))).all(axis=1)
    inside = np.zeros(len(corner), bool)
    inside[within] = mask[index[within, 2], index[within, 1], index[within, 0]] > 0
    near = ((corner < 100) | (corner > np.array(size) * ts - 100)).any(axis=1)
    expected = {("TS_01", k + 1): "outside the mask" for k in np.flatnonzero(~inside)}
    expected |= {("TS_01", k + 1): "at the edge" for k in np.flatnonzero(inside & near)}
    assert _rules(tmp_path / "out" / "decisions.csv") == expected
    assert summary["kept"] == 400 - len(expected) and summary["mask_and_edge"]["sizes_from"].startswith("rlnTomoSize")


def _two_picks(tmp_path):
    # Two picks 3 px apart: the better one (0.9) outside the mask, the other inside.
    _mrc(tmp_path / "m.mrc", np.zeros((100, 100), np.float32), 1.0)
    mask = np.zeros((100, 100), np.int8)
    mask[:, 50:] = 1
    _mrc(tmp_path / "mask.mrc", mask, 1.0)
    star = tmp_path / "p.star"
    star.write_text(
        "data_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnMicrographName\n_rlnAutopickFigureOfMerit\n"
        "48 50 m.mrc 0.9\n51 50 m.mrc 0.5\n"
    )
    return ["particles", str(star), "--mic-psize", "1", "--min-dist", "10", "--project-dir", str(tmp_path)]


def test_a_pick_outside_the_mask_displaces_no_pick_inside(tmp_path, capsys):
    args = _two_picks(tmp_path)
    summary = _run([*args, "-o", str(tmp_path / "out"), "--mask", str(tmp_path / "mask.mrc")], capsys)
    assert summary["kept"] == 1 and summary["inputs"][0]["kept"] == 1
    kept = (tmp_path / "out" / "particles_kept.star").read_text()
    assert "51 50 m.mrc 0.5" in kept and summary["verdict"]["line"].startswith("Kept 1 of 2 (1 rejected)")


def _refused(args, capsys, status: int = 1) -> str:
    with pytest.raises(SystemExit) as stop:
        main(args, standalone_mode=False)
    said = capsys.readouterr().err.strip()
    assert stop.value.code == status and said.startswith("Error:") and "Traceback" not in said
    return " ".join(said.split())  # (the terminal may wrap it)


def test_refusals_in_one_line(tmp_path, capsys):
    args = [*_two_picks(tmp_path), "-o", str(tmp_path / "out")]
    _mrc(tmp_path / "wrong.mrc", np.ones((10, 10), np.int8), 1.0)  # (10 x 10 Å against a 100 x 100 Å micrograph)
    (tmp_path / "folder").mkdir()
    for extra, words, status in (
        (
            ["--mask", str(tmp_path / "wrong.mrc")],
            "voxels of 1 Å (its header) cover 10 x 10 Å, but m.mrc is 100 x 100",
            1,
        ),
        (["--mask", str(tmp_path / "folder")], "no MRC file named after it for m.mrc (looked for m.mrc or m_*.mrc)", 1),
        (["--mask-label", "2"], "--mask-label describes the mask: give --mask too", 2),  # (usage errors: 2)
        (["--edge", "-1"], "--edge must be a distance", 2),
    ):
        assert words in _refused([*args, *extra], capsys, status), extra
    (tmp_path / "m.mrc").unlink()
    assert "--edge: the size of m.mrc is unknown" in _refused([*args, "--edge", "5"], capsys)


def test_species_apart_and_across_with_a_mask(tmp_path, capsys):
    # Mask: inside where x >= 50 px. Species 1: rows 1 (0.9) and 2 (0.5, 2 px off: a duplicate), 5 outside.
    # Species 2: row 3 (0.9) outside, row 4 (0.4) inside, 4 px from row 3: kept within its species, as row 3
    # displaces nothing. Across species (radius 5 + 5 Å), row 4 overlaps row 1 (8 Å): row 1 ranks 0.75 in
    # its species (of the rows inside), row 4 0.5: row 4 is displaced by row 1. Partners named as rows of the whole.
    _mrc(tmp_path / "m.mrc", np.zeros((100, 100), np.float32), 1.0)
    mask = np.zeros((100, 100), np.int8)
    mask[:, 50:] = 1
    _mrc(tmp_path / "mask.mrc", mask, 1.0)
    star = tmp_path / "p.star"
    star.write_text(
        "data_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnMicrographName\n_rlnAutopickFigureOfMerit\n"
        "_rlnClassNumber\n60 50 m.mrc 0.9 1\n62 50 m.mrc 0.5 1\n48 50 m.mrc 0.9 2\n52 50 m.mrc 0.4 2\n"
        "20 20 m.mrc 0.8 1\n"
    )
    args = ["particles", str(star), "--mic-psize", "1", "--min-dist", "10", "--species-column", "rlnClassNumber"]
    args += ["--mask", str(tmp_path / "mask.mrc"), "--decisions"]
    apart = _run([*args, "-o", str(tmp_path / "apart")], capsys)
    with open(tmp_path / "apart" / "decisions.csv", newline="") as f:
        rows = [(r["row"], r["kept_row"], r["rule"]) for r in csv.DictReader(f)]
    assert rows == [("2", "1", "score"), ("3", "", "outside the mask"), ("5", "", "outside the mask")]
    assert apart["kept"] == 2
    across = _run([*args, "-o", str(tmp_path / "across"), "--cross-species", "--radius", "1=5,2=5"], capsys)
    with open(tmp_path / "across" / "decisions.csv", newline="") as f:
        rows = [(r["row"], r["kept_row"], r["rule"]) for r in csv.DictReader(f)]
    assert ("4", "1", "cross-species overlap") in rows and across["kept"] == 1


def test_tomogram_pixels_against_a_binned_tomogram_and_mask(tmp_path, capsys):
    # RELION 3 subtomograms: pixels of 1 Å from the corner (--mic-psize 1); the tomogram's MRC is binned 4
    # (50 x 50 x 25 voxels of 4 Å: 200 x 200 x 100 Å, its header's voxel size gives its size), the mask 8.
    rng = np.random.default_rng(3)
    _mrc(tmp_path / "tomo.mrc", np.zeros((25, 50, 50), np.float32), 4.0)
    mask = rng.integers(0, 2, (12, 25, 25)).astype(np.int8)
    _mrc(tmp_path / "tomo_mask.mrc", mask, 8.0)
    picks = rng.uniform(0, [200, 200, 100], (300, 3))
    (tmp_path / "p.star").write_text(
        "data_particles\nloop_\n_rlnMicrographName\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnCoordinateZ\n"
        + "".join(f"tomo.mrc {x:.3f} {y:.3f} {z:.3f}\n" for x, y, z in picks)
    )
    args = ["particles", str(tmp_path / "p.star"), "-o", str(tmp_path / "out"), "--mic-psize", "1"]
    args += ["--min-dist", "0", "--score", "none", "--project-dir", str(tmp_path), "--decisions", "--edge", "10"]
    assert "tomo.mrc is the tomo.mrc image itself" in _refused(
        [*args, "--mask", str(tmp_path)], capsys
    )  # (a folder of tomograms and masks: the tomogram is no mask of itself)
    (tmp_path / "masks").mkdir()
    (tmp_path / "tomo_mask.mrc").rename(tmp_path / "masks" / "tomo_mask.mrc")
    summary = _run([*args, "--mask", str(tmp_path / "masks")], capsys)  # (tomo_mask.mrc: tomo.mrc's)
    corner = np.round(picks, 3)
    index = np.floor(corner / 8).astype(int)
    within = ((index >= 0) & (index < [25, 25, 12])).all(axis=1)
    inside = np.zeros(len(picks), bool)
    inside[within] = mask[index[within, 2], index[within, 1], index[within, 0]] > 0
    near = ((corner < 10) | (corner > np.array([200, 200, 100]) - 10)).any(axis=1)
    expected = {("tomo.mrc", k + 1): "outside the mask" for k in np.flatnonzero(~inside)}
    expected |= {("tomo.mrc", k + 1): "at the edge" for k in np.flatnonzero(inside & near)}
    assert _rules(tmp_path / "out" / "decisions.csv") == expected
    assert summary["mask_and_edge"]["sizes_from"] == "the micrographs' MRC headers"


def test_cryosparc_micrograph_shape_gives_the_edge(tmp_path, capsys):
    from fixtures.synthetic import write_cs
    from helpers import located_records

    rng = np.random.default_rng(5)
    x, y = rng.uniform(0, 400, 500), rng.uniform(0, 300, 500)
    records = located_records(rng.integers(1, 4, 500), x, y, shape=(300, 400))
    write_cs(tmp_path / "p.cs", records)
    args = ["particles", str(tmp_path / "p.cs"), "-o", str(tmp_path / "out"), "--min-dist", "0", "--score", "none"]
    summary = _run([*args, "--edge", "25", "--decisions"], capsys)
    with open(tmp_path / "out" / "decisions.csv", newline="") as f:
        rows = {int(r["row"]): r["rule"] for r in csv.DictReader(f)}
    # The centres as the .cs holds them (fractions of the shape, float32 in the file as in CryoSPARC's).
    cx = records["location/center_x_frac"].astype(np.float64) * 400
    cy = records["location/center_y_frac"].astype(np.float64) * 300
    near = (np.minimum(cx, 400 - cx) < 25) | (np.minimum(cy, 300 - cy) < 25)
    assert rows == {k + 1: "at the edge" for k in np.flatnonzero(near)}
    assert summary["mask_and_edge"]["sizes_from"] == "the inputs' micrograph shapes"


@pytest.mark.real_data
def test_real_relion5_picks_at_the_edge_of_their_tomograms(tmp_path, capsys):
    # RELION 5's Picks job: 9,442 picks in centred Å on 5 tomograms of 4000 x 4000 x 2000 tilt-series
    # pixels of 1.35 Å; by hand, corner = centred + (size / 2 - 1) x 1.35, within 500 Å of a face.
    from helpers import shared_file

    picks = shared_file("tomo/cets-relion__Picks_job019_particles.star")
    tomograms = shared_file("tomo/cets-relion__Tomograms_job006_tomograms.star")
    args = ["particles", str(picks), "-o", str(tmp_path / "out"), "--micrographs", str(tomograms)]
    summary = _run([*args, "--min-dist", "0", "--score", "none", "--edge", "500"], capsys)
    rows = [line.split() for line in picks.read_text().splitlines() if line.startswith("TS_")]
    centred = np.array([[float(v) for v in row[1:4]] for row in rows])
    size = np.array([4000, 4000, 2000]) * 1.35
    corner = centred + (np.array([4000, 4000, 2000]) / 2 - 1) * 1.35
    near = ((corner < 500) | (corner > size - 500)).any(axis=1)
    assert summary["mask_and_edge"]["at_edge"] == int(near.sum()) > 0
    assert summary["kept"] == len(rows) - int(near.sum())


def test_the_example_micrograph_marks_the_masked_picks_apart(tmp_path):
    from cryodedup.jobs.particles.job import run
    from cryodedup.jobs.particles.pictures import picture_details
    from cryodedup.jobs.particles.plan import plan
    from cryodedup.jobs.particles.read import Files
    from cryodedup.options import ParticleOptions
    from cryodedup.report import picks_figures

    _two_picks(tmp_path)
    options = ParticleOptions(
        mic_psize=1.0, min_dist=10, mask=tmp_path / "mask.mrc", project_dir=tmp_path, decisions=True
    )
    outcome = run(Files.of([tmp_path / "p.star"]), tmp_path / "out", plan(options))
    rule = plan(options).for_rows(outcome.particles).deciding
    details = picture_details(outcome.particles, outcome.decision, rule, options.registration)
    picture = picks_figures.micrograph_picks(details, 0, None)
    rejected = picture.panels[1]
    assert np.allclose(rejected.marks["masked"], [[48.0, 50.0]]) and len(rejected.marks["rejected"]) == 0
    assert "outside the mask or at the edge" in " ".join(label for *_, label in picture.legend.entries)


def test_the_report_counts_no_masked_pick_as_a_duplicate(tmp_path):
    # The report's duplicates per micrograph (density picture, picks titles): the pick outside the
    # mask was rejected by the mask, not as a duplicate: 0 duplicates on m, 1 pick rejected.
    from cryodedup.jobs.particles.job import run
    from cryodedup.jobs.particles.pictures import picture_details
    from cryodedup.jobs.particles.plan import plan
    from cryodedup.jobs.particles.read import Files
    from cryodedup.options import ParticleOptions

    _two_picks(tmp_path)
    options = ParticleOptions(mic_psize=1.0, min_dist=10, mask=tmp_path / "mask.mrc", project_dir=tmp_path)
    outcome = run(Files.of([tmp_path / "p.star"]), tmp_path / "out", plan(options))
    rule = plan(options).for_rows(outcome.particles).deciding
    details = picture_details(outcome.particles, outcome.decision, rule, options.registration)
    assert details.duplicates_per_micrograph.tolist() == [0] and int((~details.keep).sum()) == 1


def test_an_input_masked_out_of_a_micrograph_still_ran_there(tmp_path, capsys):
    # --min-support 2: A's pick inside the mask, B's only pick on m outside it. B ran on m all the same, so
    # A's pick is unconfirmed (consensus support), not on a micrograph too few inputs ran on.
    _two_picks(tmp_path)
    header = "data_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnMicrographName\n_rlnAutopickFigureOfMerit\n"
    (tmp_path / "a.star").write_text(header + "60 50 m.mrc 0.9\n")
    (tmp_path / "b.star").write_text(header + "20 20 m.mrc 0.9\n")
    args = ["particles", str(tmp_path / "a.star"), str(tmp_path / "b.star"), "--mic-psize", "1", "--min-dist", "10"]
    args += ["--mask", str(tmp_path / "mask.mrc"), "--min-support", "2", "--uncovered", "reject", "--decisions"]
    _run([*args, "-o", str(tmp_path / "out"), "--project-dir", str(tmp_path)], capsys)
    with open(tmp_path / "out" / "decisions.csv", newline="") as f:
        rules = {r["input"].rsplit("/", 1)[-1]: r["rule"] for r in csv.DictReader(f)}
    assert rules == {"a.star": "consensus support", "b.star": "outside the mask"}


def test_the_tomograms_star_is_read_once_by_the_job_for_the_mask_the_edge_and_the_page(tmp_path, capsys, monkeypatch):
    # The reader reads --micrographs for its frames; the job reads it once more, before deciding, for the
    # mask and the edge and the page of every tomogram (not again inside the decision, nor twice by the page).
    from cryodedup.formats.star.file import StarFile

    (tmp_path / "tomograms.star").write_text(
        "data_global\nloop_\n_rlnTomoName\n_rlnTomoTiltSeriesPixelSize\n_rlnTomoTomogramBinning\n"
        "_rlnTomoSizeX\n_rlnTomoSizeY\n_rlnTomoSizeZ\n_rlnTomoReconstructedTomogram\n"
        "TS_01 1.35 8 800 600 200 TS_01.mrc\n"
    )
    _mrc(tmp_path / "cell.mrc", np.ones((25, 75, 100), np.float32), 10.8)
    (tmp_path / "p.star").write_text(
        "data_particles\nloop_\n_rlnTomoName\n_rlnCenteredCoordinateXAngst\n_rlnCenteredCoordinateYAngst\n"
        "_rlnCenteredCoordinateZAngst\nTS_01 0 0 0\nTS_01 5 0 0\nTS_01 300 100 20\n"
    )
    opened = []
    init = StarFile.__init__

    def counted(self, path, *args, **kwargs):
        opened.append(Path(path).name)
        init(self, path, *args, **kwargs)

    monkeypatch.setattr(StarFile, "__init__", counted)
    args = ["particles", str(tmp_path / "p.star"), "-o", str(tmp_path / "out"), "--min-dist", "10"]
    args += ["--micrographs", str(tmp_path / "tomograms.star"), "--edge", "50", "--mask", str(tmp_path / "cell.mrc")]
    summary = _run([*args, "--plot"], capsys)
    assert summary["kept"] == 2 and (tmp_path / "out" / "report.html").is_file()
    assert opened.count("tomograms.star") == 2  # (the reader's, and the job's)
