"""Orientations written beside coordinates: RELION 5 import lists' files and Dynamo tables, for ``--max-angle``
and ``--min-dist-ellipsoid``.

The oracle converts each file's angles to a rotation matrix with scipy, from each program's own
convention, never through cryodedup:

- RELION (pytom-match-pick's STAR files, ``rlnAngleRot/Tilt/Psi``): ``Euler_angles2matrix`` is the
  transpose of scipy's intrinsic ``"ZYZ"`` (tests/algo/test_ellipsoid.py checks it); RELION 5's
  ``ParticleSet`` composes ``A_subtomo @ A_particle``; a text file's ``x y z rot tilt psi`` are
  the subtomogram angles and the import sets the particle's to 0, 90, 0 (``readCoordinateFile``,
  tests/relion_import.py).
- Dynamo (``tdrot tilt narot``, columns 7-9): its wiki's "Euler angles convention" (ZXZ) and
  ``dynamo_euler2matrix``, ``R = Rz(narot) Rx(tilt) Rz(tdrot)``, scipy's extrinsic ``"zxz"``;
  like RELION's ``Rz(rot) Ry(tilt) Rz(psi)`` it carries tomogram offsets into the template's
  frame, so the pose (template axes into the tomogram) is ``R`` transposed, and RELION's angles
  of it ``narot - 90, tilt, tdrot + 90`` (the conversion Dynamo's users apply).

Each case is pairs of picks far from every other pair: the first pick's pose random, the second's
turned from it and moved by random amounts about the limits, so the brute force decides each pair
(duplicates or not) and cryodedup must reject one pick of exactly those pairs.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.spatial.transform import Rotation

from cryodedup.cli import main

MAX_ANGLE, MIN_DIST, SEMI_AXES = 20.0, 40.0, (15.0, 15.0, 60.0)
PSIZE = 2.0  # Dynamo's tomogram pixel, Å
PAIRS = 60


def relion_pose(rot, tilt, psi) -> np.ndarray:
    """RELION's A (template axes into the tomogram) of angles in degrees."""
    return Rotation.from_euler("ZYZ", [rot, tilt, psi], degrees=True).as_matrix().T


def dynamo_pose(tdrot, tilt, narot) -> np.ndarray:
    """The transpose of ``dynamo_euler2matrix([tdrot, tilt, narot])``."""
    return Rotation.from_euler("zxz", [tdrot, tilt, narot], degrees=True).as_matrix().T


def test_the_oracles_conventions_agree_with_the_published_formulas():
    rng = np.random.default_rng(7)
    for td, ti, na in rng.uniform(-180, 180, (5, 3)):
        # dynamo_euler2matrix, as Dynamo's source writes its entries (third row: sin td sin ti, cos td sin ti, cos ti)
        r = dynamo_pose(td, ti, na).T
        a, b, c = np.radians([td, ti, na])
        assert np.allclose(r[2], [np.sin(a) * np.sin(b), np.cos(a) * np.sin(b), np.cos(b)])
        assert np.allclose(r[:, 2], [np.sin(c) * np.sin(b), -np.cos(c) * np.sin(b), np.cos(b)])
        # and Dynamo's triplet as RELION's angles: rot = narot - 90, psi = tdrot + 90
        assert np.allclose(dynamo_pose(td, ti, na), relion_pose(na - 90, ti, td + 90))


def angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1))))


def inside(pose: np.ndarray, offset: np.ndarray) -> bool:
    return float(np.sum((pose.T @ offset / np.array(SEMI_AXES)) ** 2)) <= 1


def duplicates(rule: str, poses: list[np.ndarray], offset: np.ndarray) -> bool:
    """Whether a pair is one particle, by brute force: the rule on the two poses and the offset between them."""
    if rule == "max-angle":
        return float(np.linalg.norm(offset)) <= MIN_DIST and angle(*poses) <= MAX_ANGLE
    return inside(poses[0], offset) or inside(poses[1], -offset)


def pairs(rule: str, pose) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pair's first angles (degrees), the second's, and the offset between them (Å).

    For the ellipsoid the offset is drawn in the first pick's own frame (about its ellipsoid's
    surface) and turned by its ``pose``: a random direction would seldom fall in a thin ellipsoid.
    """
    rng = np.random.default_rng(78 if rule == "max-angle" else 79)
    first = np.column_stack(
        [rng.uniform(-180, 180, PAIRS), rng.uniform(30, 150, PAIRS), rng.uniform(-180, 180, PAIRS)]
    ).round(2)
    second = (first + rng.uniform(-25, 25, (PAIRS, 3))).round(2)
    direction = rng.normal(size=(PAIRS, 3))
    direction /= np.linalg.norm(direction, axis=1)[:, None]
    scale = rng.uniform(0.5, 1.4, PAIRS)[:, None]
    if rule == "max-angle":
        return first, second, (direction * scale * MIN_DIST).round(1)
    own = direction * scale * np.array(SEMI_AXES)
    return first, second, np.array([pose(*first[k]) @ own[k] for k in range(PAIRS)]).round(1)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["particles", *args])
    return result.exit_code, result.output


def rejected_rows(outdir: Path) -> set[int]:
    with open(outdir / "decisions.csv") as record:
        return {int(row["row"]) for row in csv.DictReader(record)}


def rule_options(rule: str) -> list[str]:
    if rule == "max-angle":
        return ["--min-dist", str(MIN_DIST), "--max-angle", str(MAX_ANGLE)]
    return ["--min-dist-ellipsoid", ",".join(map(str, SEMI_AXES))]


def star_list(project: Path, first: np.ndarray, second: np.ndarray, offsets: np.ndarray) -> Path:
    """pytom-match-pick's files: centred Å and the particle's angles, one file per tomogram."""
    labels = ["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst"]
    labels += ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
    head = "\n# version 50001\n\ndata_\n\nloop_ \n" + "".join(f"_{lab} #{k} \n" for k, lab in enumerate(labels, 1))
    rows = []
    for k in range(PAIRS):
        centre = np.array([-1500.0 + 500 * (k % 7), -1500.0 + 500 * (k // 7), 0.0])
        rows.append(" ".join(f"{v:g}" for v in [*centre, *first[k]]))
        rows.append(" ".join(f"{v:g}" for v in [*(centre + offsets[k]), *second[k]]))
    (project / "tm").mkdir()
    (project / "tm/TS_01.star").write_text(head + "\n".join(rows) + "\n")
    listed = project / "tm/list.star"
    listed.write_text("\ndata_\n\nloop_ \n_rlnTomoName #1 \n_rlnTomoImportParticleFile #2 \nTS_01 tm/TS_01.star\n")
    return listed


def text_list(project: Path, first: np.ndarray, second: np.ndarray, offsets: np.ndarray) -> Path:
    """Six numbers a line (x y z rot tilt psi), read with --import-centered: Å from the centre."""
    lines = []
    for k in range(PAIRS):
        centre = np.array([-1500.0 + 500 * (k % 7), -1500.0 + 500 * (k // 7), 0.0])
        lines.append(" ".join(f"{v:g}" for v in [*centre, *first[k]]))
        lines.append(" ".join(f"{v:g}" for v in [*(centre + offsets[k]), *second[k]]))
    (project / "hand").mkdir()
    (project / "hand/TS_01.coords").write_text("\n".join(lines) + "\n")
    listed = project / "hand/list.star"
    listed.write_text("\ndata_\n\nloop_ \n_rlnTomoName #1 \n_rlnTomoImportParticleFile #2 \nTS_01 hand/TS_01.coords\n")
    return listed


def dynamo_table(project: Path, first: np.ndarray, second: np.ndarray, offsets: np.ndarray) -> Path:
    """A Dynamo table: tag, tdrot tilt narot (7-9), tomo (20), x y z (24-26) in pixels of PSIZE Å."""
    lines = []
    for k in range(PAIRS):
        centre = np.array([1000.0 + 250 * (k % 7), 1000.0 + 250 * (k // 7), 500.0])
        for tag, (position, angles) in enumerate(((centre, first[k]), (centre + offsets[k] / PSIZE, second[k]))):
            values = ["0"] * 35
            values[0], values[19] = str(2 * k + tag + 1), "1"
            values[6:9] = [f"{v:g}" for v in angles]
            values[23:26] = [f"{v:g}" for v in position]
            lines.append(" ".join(values))
    path = project / "particles.tbl"
    path.write_text("\n".join(lines) + "\n")
    return path


KINDS = {
    # name: (writer, extra options, each pick's pose from its angles)
    "import list of STAR files": (star_list, [], relion_pose),
    "import list of text files": (
        text_list,
        ["--import-centered"],
        lambda rot, tilt, psi: relion_pose(rot, tilt, psi) @ relion_pose(0, 90, 0),
    ),
    "Dynamo table": (dynamo_table, ["--mic-psize", str(PSIZE)], dynamo_pose),
}


@pytest.mark.parametrize("rule", ["max-angle", "ellipsoid"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_angles_beside_coordinates_decide_as_the_brute_force_with_each_convention(tmp_path, monkeypatch, kind, rule):
    # On main: refused, "the particles carry no orientations".
    monkeypatch.chdir(tmp_path)
    write, options, pose = KINDS[kind]
    first, second, offsets = pairs(rule, pose)
    path = write(tmp_path, first, second, offsets)
    code, out = run(str(path), *rule_options(rule), *options, "--score", "none", "--decisions", "-o", "D/")
    assert code == 0, out
    expected = [duplicates(rule, [pose(*first[k]), pose(*second[k])], offsets[k]) for k in range(PAIRS)]
    assert 10 < sum(expected) < PAIRS - 10  # (both answers well represented)
    # the wrong convention (the matrix not transposed; RELION's angles read as Dynamo's) decides otherwise
    if rule == "ellipsoid":
        wrong = [duplicates(rule, [pose(*first[k]).T, pose(*second[k]).T], offsets[k]) for k in range(PAIRS)]
        assert wrong != expected
    rejected = rejected_rows(tmp_path / "D")
    assert len(rejected) == sum(expected)
    assert {(row - 1) // 2 for row in rejected} == {k for k in range(PAIRS) if expected[k]}


def test_a_list_without_angles_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "TS_01.coords").write_text("0 0 0\n10 0 0\n")
    listed = tmp_path / "list.star"
    listed.write_text("\ndata_\n\nloop_ \n_rlnTomoName #1 \n_rlnTomoImportParticleFile #2 \nTS_01 TS_01.coords\n")
    code, out = run(str(listed), "--import-centered", "--min-dist", "20", "--max-angle", "10", "-o", "D/")
    assert code != 0 and "Traceback" not in out
    assert "list.star" in out and "rlnAngleRot/Tilt/Psi" in out and "x y z rot tilt psi" in " ".join(out.split())


def test_a_list_with_angles_and_relion_5_particles_compare_their_poses(tmp_path, monkeypatch):
    # One place in a RELION 5 particle file (a refined particle, subtomogram angles and its own) and in a
    # pytom-match-pick list: one orientation in the tomogram 10° apart, or 60° apart.
    monkeypatch.chdir(tmp_path)
    subtomo, own = (30.0, 70.0, -40.0), (10.0, 80.0, 20.0)
    tomogram_pose = relion_pose(*subtomo) @ relion_pose(*own)
    labels = ["rlnTomoName", "rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst"]
    labels += ["rlnCenteredCoordinateZAngst", "rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt"]
    labels += ["rlnTomoSubtomogramPsi", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
    head = "\ndata_particles\n\nloop_ \n" + "".join(f"_{lab} #{k} \n" for k, lab in enumerate(labels, 1))
    (tmp_path / "particles.star").write_text(head + f"TS_01 0 0 0 {' '.join(map(str, subtomo + own))}\n")
    for turned, kept in ((10.0, 1), (60.0, 2)):
        pose = tomogram_pose @ Rotation.from_euler("z", turned, degrees=True).as_matrix()
        rot, tilt, psi = Rotation.from_matrix(pose.T).as_euler("ZYZ", degrees=True)
        (tmp_path / "TS_01.star").write_text(
            "\ndata_\n\nloop_ \n_rlnCenteredCoordinateXAngst #1 \n_rlnCenteredCoordinateYAngst #2 \n"
            f"_rlnCenteredCoordinateZAngst #3 \n_rlnAngleRot #4 \n_rlnAngleTilt #5 \n_rlnAnglePsi #6 \n"
            f"5 0 0 {rot:.4f} {tilt:.4f} {psi:.4f}\n"
        )
        listed = tmp_path / "list.star"
        listed.write_text("\ndata_\n\nloop_ \n_rlnTomoName #1 \n_rlnTomoImportParticleFile #2 \nTS_01 TS_01.star\n")
        args = ["particles.star", "list.star", "--min-dist", "20", "--max-angle", "20", "--score", "none"]
        code, out = run(*args, "-o", f"D{turned:g}/", "--json")
        assert code == 0, out
        assert f'"kept": {kept},' in out, out
