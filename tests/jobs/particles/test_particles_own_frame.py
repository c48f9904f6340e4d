"""``--min-dist-ellipsoid`` in the particle job: per species, the summary's section, the record, and what is refused.

The oracle of the rule itself (random poses, a brute force from RELION's Euler matrix) is
``tests/algo/test_ellipsoid.py``; here the hand-worked rods of the tomography guide, decided
through files and options.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import starfile
from click.testing import CliRunner
from scipy.spatial.transform import Rotation

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from cryodedup.cli import main
from cryodedup.options.species import parse_ellipsoids
from helpers import shared_file, write_star

LABELS = [
    "rlnTomoName",
    "rlnCenteredCoordinateXAngst",
    "rlnCenteredCoordinateYAngst",
    "rlnCenteredCoordinateZAngst",
    "rlnAngleRot",
    "rlnAngleTilt",
    "rlnAnglePsi",
    "rlnLCCmax",
]
# By hand: rods with semi-axes 20, 20, 60 Å (long along their z). Tilt 90 lays a rod along the
# tomogram's x. Rows 1-2: one lying rod twice, 45 Å along its axis (inside: 45 < 60). Rows 3-4:
# two lying rods 45 Å apart across their axes (outside: 45 > 20). Rows 5-6: an upright rod twice,
# 45 Å along z (inside).
RODS = [
    ["TS_07", 0, 0, 0, 0, 90, 0, 0.9],
    ["TS_07", 45, 0, 0, 0, 90, 0, 0.5],
    ["TS_07", 0, 400, 0, 0, 90, 0, 0.8],
    ["TS_07", 0, 445, 0, 0, 90, 0, 0.7],
    ["TS_07", 400, 0, 0, 0, 0, 0, 0.9],
    ["TS_07", 400, 0, 45, 0, 0, 0, 0.6],
]


def run(tmp_path, rows=RODS, labels=LABELS, **options):
    path = write_star(tmp_path / "rods.star", labels, rows)
    opts = ParticleOptions(score="rlnLCCmax", **options)
    return remove_duplicate_particles([path], tmp_path / "out", opts, force=True)


def test_the_rods_along_their_axes_go_and_those_side_by_side_stay(tmp_path):
    summary = run(tmp_path, min_dist_ellipsoid=(20, 20, 60), decisions=True)
    assert (summary.particles, summary.kept) == (6, 4)
    section = summary.to_json()["own_frame_exclusion"]
    assert section["ellipsoids"] == ({"species": None, "semi_axes_A": (20.0, 20.0, 60.0)},) and section["every_species"]
    assert "min_dist_A" not in summary.to_json()  # (no sphere decided)
    with open(tmp_path / "out" / "decisions.csv") as record:
        lost = [(row["row"], row["kept_row"], float(row["distance_A"])) for row in csv.DictReader(record)]
    assert lost == [("2", "1", 45.0), ("6", "5", 45.0)]
    assert run(tmp_path, min_dist=45).kept == 3  # a sphere takes the rods side by side too


def test_the_half_set_audit_names_the_ellipsoid(tmp_path):
    # Half-sets 1, 2, 1, 2, 1, 2: both pairs the ellipsoid found (rows 1-2, 5-6) straddle; rows 3-4 are no pair.
    rows = [[*row, 1 + k % 2] for k, row in enumerate(RODS)]
    summary = run(tmp_path, rows, [*LABELS, "rlnRandomSubset"], min_dist_ellipsoid=(20, 20, 60))
    audit = summary.to_json()["halfset_audit"]
    assert audit["duplicate_pairs"] == 2 and audit["straddling_pairs"] == 2
    assert audit["message"].startswith("2 duplicate pairs within an exclusion ellipsoid in a particle's own frame")


def test_each_species_its_own_ellipsoid_and_the_others_a_sphere(tmp_path):
    # Rows 1-4 are rods (their ellipsoid); rows 5-6 a species with a sphere of 50 Å (45 Å apart: one goes).
    labels = [*LABELS, "rlnClassNumber"]
    rows = [[*row, 1] for row in RODS[:4]] + [[*row, 2] for row in RODS[4:]]
    summary = run(tmp_path, rows, labels, species_column="rlnClassNumber", min_dist_ellipsoid="1=20,20,60", min_dist=50)
    assert summary.kept == 4
    assert summary.to_json()["own_frame_exclusion"]["ellipsoids"] == (
        {"species": "1", "semi_axes_A": (20.0, 20.0, 60.0)},
    )
    assert not summary.to_json()["own_frame_exclusion"]["every_species"]
    per_species = {entry["species"]: entry for entry in summary.to_json()["species"]["per_species"]}
    assert per_species["1"]["ellipsoid_A"] == [20, 20, 60] and "ellipsoid_A" not in per_species["2"]
    flags = ["--score", "rlnLCCmax", "--species-column", "rlnClassNumber", "--min-dist-ellipsoid", "1=20,20,60"]
    said = CliRunner().invoke(
        main, ["particles", str(tmp_path / "rods.star"), *flags, "--min-dist", "50", "-o", str(tmp_path / "cli")]
    )
    assert "1: 4 in, 3 kept (ellipsoid 20 x 20 x 60 Å in its own frame)" in said.output, said.output
    assert "2: 2 in, 1 kept (min dist 50 Å)" in said.output
    both = run(tmp_path, rows, labels, species_column="rlnClassNumber", min_dist_ellipsoid="1=20,20,60,2=10,10,10")
    assert both.kept == 5  # species 2's small sphere (10 Å) keeps both of its picks 45 Å apart


def test_the_option_parses_as_a_relion_user_writes_it():
    parsed = parse_ellipsoids("150,60,60,ribosome=200, 80, 80,rod=20,20,60")
    assert parsed.default == (150, 60, 60) and parsed.by_species == {"ribosome": (200, 80, 80), "rod": (20, 20, 60)}
    for bad, says in (
        ("20,20", "is not three"),
        ("rod=20,20,60,rod=1,1,1", "given twice"),
        ("1,1,1,2,2,2", "two ellipsoids"),
        ("a,b,c", "takes A,B,C"),
        ("=1,2,3", "names no species"),
    ):
        with pytest.raises(ValueError, match=says):
            parse_ellipsoids(bad)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"min_dist_ellipsoid": (20, 0, 60)}, "three semi-axes in Å above 0"),
        ({"min_dist_ellipsoid": (20, 20, 60), "min_dist": 30}, "replaces --min-dist"),
        ({"min_dist_ellipsoid": (20, 20, 60), "min_dist_z": 30}, "exclude each other"),
        ({"min_dist_ellipsoid": (20, 20, 60), "update": True}, "--update cannot be given with --min-dist-ellipsoid"),
        ({"min_dist_ellipsoid": "1=20,20,60"}, "no species"),
        ({"min_dist_ellipsoid": (20, 20, 60), "plot": True}, "drop --plot"),
    ],
)
def test_what_is_refused_says_why(tmp_path, options, says):
    with pytest.raises(CryodedupError, match=says):
        run(tmp_path, **options)


def test_refused_without_poses_or_z(tmp_path):
    with pytest.raises(
        CryodedupError, match="--min-dist-ellipsoid needs the orientations, and there is no rlnAngleRot"
    ):
        run(tmp_path, [[*row[:4], row[7]] for row in RODS], [*LABELS[:4], "rlnLCCmax"], min_dist_ellipsoid=(20, 20, 60))
    flat = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
    path = write_star(tmp_path / "flat.star", flat, [["m", 1, 2, 0, 0, 0], ["m", 5, 2, 0, 0, 0]])
    with pytest.raises(CryodedupError, match="2-D"):
        opts = ParticleOptions(mic_psize=1.0, score="none", min_dist_ellipsoid=(20, 20, 60))
        remove_duplicate_particles([path], tmp_path / "o2", opts)


def test_the_command_line_says_a_bad_value_in_one_line(tmp_path):
    path = write_star(tmp_path / "rods.star", LABELS, RODS)
    result = CliRunner().invoke(
        main, ["particles", str(path), "--min-dist-ellipsoid", "20,20", "-o", str(tmp_path / "o")]
    )
    assert result.exit_code != 0 and "is not three" in result.output and "Traceback" not in result.output


@pytest.mark.real_data
def test_real_relion4_subtomograms_removed_entirely_as_a_brute_force_says(tmp_path):
    # cryoCAT's RELION 4 refinement (1,746 subtomograms, 13 tomograms, real poses): with
    # --remove-entirely (no ranking: an oracle needs none) every pick with a conflict goes, naming
    # its nearest conflicting pick. The oracle reads the file with starfile, centres as RELION 4's
    # (tilt-series pixels x 1.971 Å minus the origin, docs/design.md section 7) and A as the
    # transpose of scipy's ZYZ rotation (RELION's Euler_angles2matrix).
    real = shared_file("tomo/cryoCAT__relion_4.0.star")
    table = starfile.read(real)["particles"]
    axes = np.array([60.0, 60.0, 180.0])
    centres = table[[f"rlnCoordinate{a}" for a in "XYZ"]].to_numpy() * 1.971
    centres -= table[[f"rlnOrigin{a}Angst" for a in "XYZ"]].to_numpy()
    angles = table[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy()
    turns = Rotation.from_euler("ZYZ", angles, degrees=True).as_matrix().transpose(0, 2, 1)  # RELION's A
    tomograms = table["rlnTomoName"].to_numpy()
    expected: dict[int, int] = {}  # rejected row (from 1) -> its nearest conflicting row
    for tomogram in np.unique(tomograms):
        rows = np.flatnonzero(tomograms == tomogram)
        offsets = centres[rows][None, :, :] - centres[rows][:, None, :]  # [i, j]: centre j - centre i
        own = np.einsum("ikm,ijk->ijm", turns[rows], offsets)  # A_i^T d in particle i's frame
        inside = ((own / axes) ** 2).sum(axis=2) <= 1
        conflict = (inside | inside.T) & ~np.eye(len(rows), dtype=bool)
        distance = np.linalg.norm(offsets, axis=2)
        for i in np.flatnonzero(conflict.any(axis=1)):
            partners = np.flatnonzero(conflict[i])
            expected[int(rows[i]) + 1] = int(rows[partners[np.argmin(distance[i, partners])]]) + 1
    assert 50 < len(expected) < 200
    opts = ParticleOptions(min_dist_ellipsoid=tuple(axes), remove_entirely=True, score="none", decisions=True)
    summary = remove_duplicate_particles([real], tmp_path / "out", opts)
    assert summary.rejected == len(expected)
    with open(tmp_path / "out" / "decisions.csv") as record:
        found = {int(row["row"]): int(row["kept_row"]) for row in csv.DictReader(record)}
    assert found == expected


def test_angles_that_look_like_radians_are_refused_unless_insisted(tmp_path):
    # 120 picks whose angles all lie within ±π: radians written as degrees, by the look of them.
    rng = np.random.default_rng(7)
    rows = [["TS_07", 200.0 * k, 0, 0, *rng.uniform(-3.1, 3.1, 3).round(3), 0.5] for k in range(120)]
    with pytest.raises(CryodedupError, match="--min-dist-ellipsoid would turn each ellipsoid by them as degrees"):
        run(tmp_path, rows, min_dist_ellipsoid=(20, 20, 60))
    summary = run(tmp_path, rows, min_dist_ellipsoid=(20, 20, 60), insist_angles=True)
    assert summary.kept == 120
    assert not any("--insist-angles was not used" in w for w in summary.warnings)


def test_the_record_tells_the_ellipsoid_from_the_same_image(tmp_path):
    # By hand, rods lying along x (semi-axes 20, 20, 60): rows 1-2 two images 45 Å apart along the
    # axis (inside: lost by score); rows 3-4 one image at two centres 45 Å apart across the axis
    # (outside the ellipsoid: lost as the same image).
    labels = [*LABELS, "rlnImageName"]
    rows = [[*RODS[k], image] for k, image in enumerate(["1@a.mrcs", "2@a.mrcs", "3@a.mrcs", "3@a.mrcs"])]
    summary = run(tmp_path, rows, labels, min_dist_ellipsoid=(20, 20, 60), same_image="reject", decisions=True)
    assert summary.kept == 2
    with open(tmp_path / "out" / "decisions.csv") as record:
        rules = {row["row"]: row["rule"] for row in csv.DictReader(record)}
    assert rules == {"2": "score", "4": "same image"}
