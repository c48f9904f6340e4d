"""cryodedup.formats.star.tomography and the tomography layouts of particle STAR files.

RELION 5 subtomogram orientation, RELION 4 tilt-series pixels, Warp/WarpTools tomogram
pixels. Oracles: rotation matrices built from elementary rotations in the test, centres
computed with starfile and numpy, and the brute-force greedy rule of tests/oracle.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import starfile
from click.testing import CliRunner

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from cryodedup.cli import main
from cryodedup.formats.star.tomography import subtomogram_matrices
from helpers import shared_file, write_star
from oracle import oracle_by_group

R5 = [
    "rlnTomoName",
    "rlnTomoSubtomogramRot",
    "rlnTomoSubtomogramTilt",
    "rlnTomoSubtomogramPsi",
    "rlnOriginXAngst",
    "rlnOriginYAngst",
    "rlnOriginZAngst",
    "rlnCenteredCoordinateXAngst",
    "rlnCenteredCoordinateYAngst",
    "rlnCenteredCoordinateZAngst",
    "rlnMaxValueProbDistribution",
    "rlnTomoParticleName",
]


def run(tmp_path, inputs, **options):
    return remove_duplicate_particles(inputs, tmp_path / "out", ParticleOptions(**options))


def names_in(path) -> list[str]:
    return starfile.read(path, always_dict=True)["particles"]["rlnTomoParticleName"].tolist()


def rz(degrees):
    """RELION's rotation about z (a frame rotation: [[c, s, 0], [-s, c, 0], [0, 0, 1]])."""
    a = np.radians(degrees)
    return np.array([[np.cos(a), np.sin(a), 0], [-np.sin(a), np.cos(a), 0], [0, 0, 1]])


def ry(degrees):
    a = np.radians(degrees)
    return np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])


def relion_matrix(rot, tilt, psi):
    """RELION's Euler_angles2matrix as the product psi-about-z . tilt-about-y . rot-about-z."""
    return rz(psi) @ ry(tilt) @ rz(rot)


# --- RELION 5: the origin is rotated by the subtomogram orientation --------------------------


def test_matrix_is_relions_zyz_product():
    rng = np.random.default_rng(3)
    angles = rng.uniform(-180, 180, size=(50, 3))
    got = subtomogram_matrices(angles[:, 0], angles[:, 1], angles[:, 2])
    for a, m in zip(angles, got):
        np.testing.assert_allclose(m, relion_matrix(*a), atol=1e-12)


def test_hand_worked_90_degrees():
    # rot = 90, tilt = psi = 0: cos(rot) = 0, sin(rot) = 1, so A = [[0, 1, 0], [-1, 0, 0], [0, 0, 1]].
    # An origin (10, 0, 0) Å becomes A @ o = (0, -10, 0); centre (100, 200, 300) - (0, -10, 0) = (100, 210, 300).
    np.testing.assert_allclose(subtomogram_matrices([90], [0], [0])[0], [[0, 1, 0], [-1, 0, 0], [0, 0, 1]], atol=1e-15)
    # tilt = 90, rot = psi = 0: A = [[0, 0, -1], [0, 1, 0], [1, 0, 0]]; origin (0, 0, 10) -> (-10, 0, 0).
    np.testing.assert_allclose(subtomogram_matrices([0], [90], [0])[0], [[0, 0, -1], [0, 1, 0], [1, 0, 0]], atol=1e-15)


def test_hand_worked_case_in_a_file(tmp_path):
    # "a": centred (100, 200, 300) Å, origin (10, 0, 0) Å, subtomogram rot 90: at (100, 210, 300).
    # "b" sits at (100, 210, 300) with no origin: the same place, a duplicate at any distance >= 0.
    # "c" sits at (90, 200, 300), where an unrotated origin would put "a": 14.1 Å from "a".
    rows = [
        ["t1", 90, 0, 0, 10, 0, 0, 100, 200, 300, 0.9, "a"],
        ["t1", 0, 0, 0, 0, 0, 0, 100, 210, 300, 0.5, "b"],
        ["t1", 0, 0, 0, 0, 0, 0, 90, 200, 300, 0.4, "c"],
    ]
    path = write_star(tmp_path / "p.star", R5, rows)
    summary = run(tmp_path, [path], min_dist=1.0)
    assert names_in(tmp_path / "out/particles_kept.star") == ["a", "c"]
    assert names_in(tmp_path / "out/particles_rejected.star") == ["b"]
    assert summary.to_json()["score"]["column"] == "rlnMaxValueProbDistribution"


@pytest.mark.parametrize("extra", [[], ["rlnHelicalTubeID"]], ids=["subtomograms", "subtomograms with tubes"])
def test_subtomograms_are_read_in_one_pass(tmp_path, monkeypatch, extra):
    # The origins, the subtomogram angles (and a tube column) come with the particle scan:
    # no second scan of the loop. Oracle: the hand-worked case above ("a" rotated onto "b").
    from cryodedup.formats.star.file import StarFile

    def second_scan(*args, **kwargs):
        raise AssertionError("the particle loop was scanned a second time")

    monkeypatch.setattr(StarFile, "scan", second_scan)
    rows = [
        ["t1", 90, 0, 0, 10, 0, 0, 100, 200, 300, 0.9, "a"],
        ["t1", 0, 0, 0, 0, 0, 0, 100, 210, 300, 0.5, "b"],
        ["t1", 0, 0, 0, 0, 0, 0, 90, 200, 300, 0.4, "c"],
    ]
    path = write_star(tmp_path / "p.star", R5 + extra, [row + [k + 1] * len(extra) for k, row in enumerate(rows)])
    run(tmp_path, [path], min_dist=1.0)
    assert names_in(tmp_path / "out/particles_rejected.star") == ["b"]


def test_same_positions_with_different_angles_coincide(tmp_path):
    # 40 physical positions, each written three times with a random subtomogram orientation
    # and a random origin, the centred coordinate chosen so that RELION places the particle
    # at the same position: centred = position + A @ origin.
    rng = np.random.default_rng(11)
    positions = rng.uniform(-2000, 2000, size=(40, 3))
    rows = []
    for k, p in enumerate(positions):
        for copy in range(3):
            angles = rng.uniform(-180, 180, size=3)
            origin = rng.uniform(-30, 30, size=3)
            centred = p + relion_matrix(*angles) @ origin
            rows.append(["t1", *angles, *origin, *centred, rng.uniform(), f"p{k}_{copy}"])
    path = write_star(tmp_path / "p.star", R5, [[f"{v:.9f}" if isinstance(v, float) else v for v in r] for r in rows])
    summary = run(tmp_path, [path], min_dist=0.01)
    kept = names_in(tmp_path / "out/particles_kept.star")
    assert summary.kept == 40 and sorted({n.split("_")[0] for n in kept}) == sorted(f"p{k}" for k in range(40))


@pytest.mark.real_data
def test_relion5_select_job_centres(tmp_path):
    path = shared_file("tomo/cets-relion__Select_job077_particles_removed.star")
    table = starfile.read(path)
    angles = table[["rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt", "rlnTomoSubtomogramPsi"]].to_numpy(float)
    origin = table[[f"rlnOrigin{a}Angst" for a in "XYZ"]].to_numpy(float)
    centres = table[[f"rlnCenteredCoordinate{a}Angst" for a in "XYZ"]].to_numpy(float)
    centres -= np.stack([relion_matrix(*a) @ o for a, o in zip(angles, origin)])
    groups = np.unique(table["rlnTomoName"], return_inverse=True)[1]
    scores = table["rlnMaxValueProbDistribution"].to_numpy(float)
    expected = oracle_by_group(groups, centres, scores, 600.0)
    summary = run(tmp_path, [path], min_dist=600.0)
    kept = starfile.read(tmp_path / "out/particles_kept.star")
    assert 0 < summary.rejected < 15
    assert kept.equals(table[expected].reset_index(drop=True))


# --- RELION 4: coordinates in tilt-series pixels ----------------------------------------------

R4_OPTICS = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnTomoTiltSeriesPixelSize", "rlnImagePixelSize"]
R4 = [
    "rlnCoordinateX",
    "rlnCoordinateY",
    "rlnCoordinateZ",
    "rlnTomoName",
    "rlnOpticsGroup",
    "rlnOriginXAngst",
    "rlnOriginYAngst",
    "rlnOriginZAngst",
    "rlnMaxValueProbDistribution",
    "rlnTomoParticleName",
]


def test_relion4_uses_the_tilt_series_pixel_size(tmp_path):
    # Tilt-series pixel 2 Å, subtomograms binned 4x (8 Å): "a" and "b" are 10 px apart, 20 Å
    # with the tilt-series pixel (duplicates at 25 Å), 80 Å with the image pixel.
    rows = [[100, 100, 50, "t1", 1, 0, 0, 0, 0.9, "a"], [110, 100, 50, "t1", 1, 0, 0, 0, 0.5, "b"]]
    path = write_star(tmp_path / "p.star", R4, rows, optics=[[1, "og1", 2.0, 8.0]], optics_labels=R4_OPTICS)
    summary = run(tmp_path, [path], min_dist=25.0)
    assert names_in(tmp_path / "out/particles_kept.star") == ["a"]
    assert summary.to_json()["pixel_sizes"][0]["psize"] == 2.0
    assert summary.to_json()["pixel_sizes"][0]["source"] == "rlnTomoTiltSeriesPixelSize"


@pytest.mark.real_data
def test_relion4_round_trip(tmp_path):
    path = shared_file("tomo/cryoCAT__relion_4.0.star")
    data = starfile.read(path, always_dict=True)
    table, psize = data["particles"], float(data["optics"]["rlnTomoTiltSeriesPixelSize"][0])
    centres = table[[f"rlnCoordinate{a}" for a in "XYZ"]].to_numpy(float) * psize
    centres -= table[[f"rlnOrigin{a}Angst" for a in "XYZ"]].to_numpy(float)
    groups = np.unique(table["rlnTomoName"], return_inverse=True)[1]
    expected = oracle_by_group(groups, centres, table["rlnMaxValueProbDistribution"].to_numpy(float), 100.0)
    summary = run(tmp_path, [path], min_dist=100.0)
    out = starfile.read(tmp_path / "out/particles_kept.star", always_dict=True)
    rejected = starfile.read(tmp_path / "out/particles_rejected.star", always_dict=True)["particles"]
    assert 0 < summary.rejected == int((~expected).sum())
    assert out["particles"].equals(table[expected].reset_index(drop=True))
    assert rejected.equals(table[~expected].reset_index(drop=True))
    assert out["optics"].equals(data["optics"])


# --- Warp / WarpTools: coordinates in pixels of the exported tomogram -------------------------

WARP = "tomo/tomodrgn__warptools_test_4-tomos_10-ptcls_box-32_angpix-12.star"


@pytest.mark.real_data
def test_warptools_needs_the_pixel_size(tmp_path):
    with pytest.raises(CryodedupError, match=r"Warp/WarpTools .*'Unt_083.tomostar'.*--mic-psize"):
        run(tmp_path, [shared_file(WARP)], min_dist=100.0)


@pytest.mark.real_data
def test_warptools_round_trip(tmp_path):
    path = shared_file(WARP)
    data = starfile.read(path, always_dict=True)
    table = data["particles"]
    centres = table[[f"rlnCoordinate{a}" for a in "XYZ"]].to_numpy(float) * 12.0
    centres -= table[[f"rlnOrigin{a}Angst" for a in "XYZ"]].to_numpy(float)
    groups = np.unique(table["rlnTomoName"], return_inverse=True)[1]
    ids = table["rlnTomoParticleId"].to_numpy(float)
    expected = oracle_by_group(groups, centres, ids, 1000.0, higher_is_better=False)
    summary = run(tmp_path, [path], min_dist=1000.0, mic_psize=12.0, score="rlnTomoParticleId", score_order="min")
    kept = starfile.read(tmp_path / "out/particles_kept.star", always_dict=True)["particles"]
    assert 0 < summary.rejected < 40
    assert kept.equals(table[expected].reset_index(drop=True))


@pytest.mark.real_data
def test_warptools_refusal_is_one_line_in_the_cli(tmp_path):
    result = CliRunner().invoke(
        main, ["particles", str(shared_file(WARP)), "--score", "none", "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "--mic-psize" in result.stderr


# --- RELION 5 Picks annotation files: rlnTomoName and coordinates in tomogram pixels -----------


def test_a_tomogram_annotation_file_is_not_called_a_relion_3_file(tmp_path):
    labels = ["rlnTomoName", "rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]
    path = write_star(tmp_path / "TS_54_particles.star", labels, [["TS_54", 10, 10, 5], ["TS_54", 11, 10, 5]], block="")
    with pytest.raises(CryodedupError) as err:
        run(tmp_path, [path], min_dist=20.0)
    message = str(err.value)
    assert "RELION 3.0" not in message and "tomogram coordinates in pixels" in message
    assert "Picks job's annotation file" in message and "--mic-psize" in message
    # With the tomogram's pixel size (10 Å): the two picks 10 Å apart are one particle.
    summary = run(tmp_path, [path], min_dist=20.0, mic_psize=10.0)
    assert (summary.kept, summary.rejected, summary.tomography) == (1, 1, True)


@pytest.mark.real_data
def test_real_picks_annotation_file_needs_the_tomogram_pixel_size(tmp_path):
    path = shared_file("tomo/cets-relion__Picks_job019_TS_54_particles.star")
    result = CliRunner().invoke(main, ["particles", str(path), "-o", str(tmp_path / "o"), "--score", "none"])
    assert result.exit_code == 1 and "RELION 3.0" not in result.stderr
    assert "tomogram coordinates in pixels" in " ".join(result.stderr.split())


def test_a_pytom_candidates_file_names_its_voxel_size_and_the_advice_works(tmp_path):
    # pytom-match-pick's pytom_extract_candidates.py writes (through starfile) voxel coordinates of
    # the matched tomogram, its voxel size in rlnDetectorPixelSize (no rlnMagnification) and the
    # tomogram's file in rlnMicrographName (SBC-Utrecht/pytom-match-pick/docs/Developers.md).
    rng = np.random.default_rng(4)
    voxels = rng.uniform(20, 400, size=(40, 3))
    voxels[20:] = voxels[:20] + rng.normal(scale=1.5, size=(20, 3))  # the same 20 particles again, ~2.6 voxels off
    table = {
        "rlnCoordinateX": voxels[:, 0],
        "rlnCoordinateY": voxels[:, 1],
        "rlnCoordinateZ": voxels[:, 2],
        "rlnAngleRot": np.zeros(40),
        "rlnAngleTilt": np.zeros(40),
        "rlnAnglePsi": np.zeros(40),
        "rlnLCCmax": rng.uniform(0.1, 0.4, size=40),
        "rlnCutOff": np.full(40, 0.09),
        "rlnSearchStd": np.full(40, 0.02),
        "rlnDetectorPixelSize": np.full(40, 13.79),
        "rlnMicrographName": ["TS_01.mrc"] * 40,
    }
    path = tmp_path / "TS_01_particles.star"
    starfile.write(pd.DataFrame(table), path)
    out = str(tmp_path / "o")
    refused = CliRunner().invoke(main, ["particles", str(path), "--score", "rlnLCCmax", "--min-dist", "60", "-o", out])
    message = " ".join(refused.stderr.split())
    assert refused.exit_code == 1 and "rlnDetectorPixelSize" in message, message
    advice = message.split("so ")[-1].split(")")[0].split()  # as printed: "--mic-psize 13.79"
    assert advice == ["--mic-psize", "13.79"], message
    # The advice as printed: 13.79 Å voxels, duplicates within 60 Å (4.35 voxels).
    result = CliRunner().invoke(
        main, ["particles", str(path), "--score", "rlnLCCmax", "--min-dist", "60", "-o", out, *advice]
    )
    assert result.exit_code == 0, result.stderr
    expected = oracle_by_group(np.zeros(40), voxels * 13.79, table["rlnLCCmax"], 60.0)
    kept = starfile.read(tmp_path / "o/particles_kept.star")
    assert np.allclose(kept["rlnLCCmax"], table["rlnLCCmax"][expected], atol=1e-6) and 15 <= expected.sum() < 40


# --- issue 27 item 9: --min-dist-z -----------------------------------------------------------------


def test_min_dist_z_stretches_the_duplicate_test_along_z(tmp_path):
    # Pairs on one tomogram 200 Å apart from each other: a copy 45 Å off in z is a duplicate
    # with --min-dist 30 --min-dist-z 60 (45/60 < 1) and not without; one 45 Å off in x is
    # not (45/30 > 1); one off by (20, 0, 40) Å: 4/9 + 4/9 <= 1, a duplicate.
    offsets = {"z": (0, 0, 45), "x": (45, 0, 0), "xz": (20, 0, 40)}
    rows = []
    for k, (name, offset) in enumerate(offsets.items()):
        centre = np.array([200.0 * k, 0.0, 0.0])
        for copy, shift in enumerate([(0, 0, 0), offset]):
            rows.append(["t1", 0, 0, 0, 0, 0, 0, *(centre + shift), 1.0 - copy / 10, f"{name}_{copy}"])
    path = write_star(tmp_path / "p.star", R5, rows)
    summary = run(tmp_path, [path], min_dist=30.0, min_dist_z=60.0)
    assert sorted(names_in(tmp_path / "out/particles_rejected.star")) == ["xz_1", "z_1"]
    assert summary.min_dist_z_A == 60.0
    isotropic = remove_duplicate_particles([path], tmp_path / "iso", ParticleOptions(min_dist=30.0))
    assert isotropic.rejected == 0 and "min_dist_z_A" not in isotropic.to_json()


def test_min_dist_z_is_refused_for_2d_particles(tmp_path):
    rows = [[1000, 1000, "m.mrc", 1, "a"], [1010, 1000, "m.mrc", 1, "b"]]
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup", "rlnImageName"]
    path = write_star(tmp_path / "p.star", labels, rows, optics=[[1, "og1", 1.0, 1.0]])
    with pytest.raises(CryodedupError, match=r"^--min-dist-z: these particles are 2-D") as err:
        run(tmp_path, [path], min_dist=30.0, min_dist_z=60.0)
    assert "\n" not in str(err.value)
    with pytest.raises(CryodedupError, match="--min-dist-z needs --min-dist > 0"):
        run(tmp_path, [path], min_dist=0.0, min_dist_z=60.0)
    args = ["particles", str(path), "-o", str(tmp_path / "cli"), "--min-dist", "30", "--min-dist-z", "60"]
    args += ["--score", "none"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "2-D" in result.stderr
