"""Poses carried across packages (``jobs/select/poses.py``, ``select --take angles,shifts``), scipy the oracle.

pyem's ``csparc2star`` reads a CryoSPARC pose ``v`` as RELION's matrix ``A = expmap(v)``, the
transpose of the rotation by ``v`` (pyem/geom/convert.py at asarnow/pyem 286ef2b: its ``k`` is
the transposed cross-product matrix), and RELION's ``A(rot, tilt, psi)`` is the transpose of
scipy's intrinsic ``ZYZ`` rotation of those angles: so scipy's ``Rotation.from_rotvec(v)`` and
``Rotation.from_euler("ZYZ", (rot, tilt, psi), degrees=True)`` are one rotation.
"""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from scipy.spatial.transform import Rotation

from cryodedup.cli import main
from cryodedup.jobs.select.poses import relion_to_rotvec, rotvec_to_relion
from helpers import star_text

#: Each particle (micrograph, x, y) in Å: micrographs of 2,000 Å (1 Å pixels), particles 300 Å apart.
SITES = [(m, 300.0 * (k % 5) + 150.0, 300.0 * (k // 5) + 150.0) for m in range(2) for k in range(10)]
ANGLES = ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")
LABELS = [
    "rlnCoordinateX",
    "rlnCoordinateY",
    "rlnOriginXAngst",
    "rlnOriginYAngst",
    "rlnImageName",
    "rlnMicrographName",
    "rlnOpticsGroup",
    "rlnAngleRot",
    "rlnAngleTilt",
    "rlnAnglePsi",
    "rlnClassNumber",
]
OPTICS_LABELS = [
    "rlnOpticsGroupName",
    "rlnOpticsGroup",
    "rlnMicrographPixelSize",
    "rlnImagePixelSize",
    "rlnImageSize",
    "rlnImageDimensionality",
]
OPTICS = [["opticsGroup1", 1, 1.0, 1.0, 64, 2]]
CS_FIELDS = [
    ("uid", "<u8"), ("location/micrograph_uid", "<u8"), ("location/micrograph_path", "S40"),
    ("location/micrograph_shape", "<u4", (2,)), ("location/center_x_frac", "<f4"),
    ("location/center_y_frac", "<f4"), ("location/micrograph_psize_A", "<f4"), ("blob/path", "S40"),
    ("blob/idx", "<u4"), ("alignments3D/pose", "<f4", (3,)), ("alignments3D/shift", "<f4", (2,)),
    ("alignments3D/psize_A", "<f4"),
]  # fmt: skip


def _same_rotation(rotvecs, angles, atol=1e-6):
    """Whether each pose and each (rot, tilt, psi) are one rotation, by scipy."""
    by_pose = Rotation.from_rotvec(np.asarray(rotvecs, dtype=np.float64)).as_matrix()
    by_angles = Rotation.from_euler("ZYZ", np.asarray(angles, dtype=np.float64), degrees=True).as_matrix()
    return np.allclose(by_pose, by_angles, atol=atol)


def test_a_hand_worked_pose_a_quarter_turn_about_z():
    # RELION's A(90, 0, 0) = [[0, 1, 0], [-1, 0, 0], [0, 0, 1]], whose transpose turns x onto y: +90° about z.
    assert np.allclose(relion_to_rotvec([[90.0, 0.0, 0.0]]), [[0.0, 0.0, np.pi / 2]])
    assert np.allclose(rotvec_to_relion([[0.0, 0.0, np.pi / 2]]), [[0.0, 0.0, 90.0]])  # (tilt 0: psi takes the turn)


def test_conversions_agree_with_scipy_and_go_round():
    rng = np.random.default_rng(7)
    poses = Rotation.random(500, random_state=3).as_rotvec()
    angles = rotvec_to_relion(poses)
    assert _same_rotation(poses, angles, atol=1e-9)
    assert ((angles[:, 1] >= 0) & (angles[:, 1] <= 180)).all()  # (RELION's tilt)
    euler = np.column_stack([rng.uniform(-180, 180, 500), rng.uniform(0, 180, 500), rng.uniform(-180, 180, 500)])
    assert _same_rotation(relion_to_rotvec(euler), euler)
    back = relion_to_rotvec(angles)
    turned = np.linalg.norm(poses, axis=1) < np.radians(179)  # (at 180° v and -v are one rotation)
    assert np.allclose(back[turned], poses[turned], atol=1e-9)
    assert _same_rotation(back, angles)


def _star(path, rows):
    """A RELION 3.1 file of rows (x px, y px, ox Å, oy Å, image, micrograph, rot, tilt, psi, class)."""
    lines = [
        f"{x:.6f} {y:.6f} {ox:.6f} {oy:.6f} {image} {mic} 1 {a:.6f} {b:.6f} {c:.6f} {cls}"
        for x, y, ox, oy, image, mic, a, b, c, cls in rows
    ]
    path.write_text(star_text(LABELS, [[line] for line in lines], optics=OPTICS, optics_labels=OPTICS_LABELS))
    return lines


def _cs(path, sites, poses, shifts, stack):
    """A CryoSPARC .cs of particles at ``sites`` (their centre, in Å, after the shift), 2 Å alignment pixels."""
    data = np.zeros(len(sites), dtype=CS_FIELDS)
    data["uid"] = 5000 + np.arange(len(sites))
    data["location/micrograph_uid"] = [m for m, _, _ in sites]
    data["location/micrograph_path"] = [f"MotionCorr/job002/m{m}.mrc".encode() for m, _, _ in sites]
    data["location/micrograph_shape"] = 2000
    data["location/micrograph_psize_A"] = 1.0
    data["alignments3D/psize_A"] = 2.0
    data["alignments3D/pose"] = poses
    data["alignments3D/shift"] = shifts
    data["location/center_x_frac"] = [(x + 2.0 * s[0]) / 2000 for (_, x, _), s in zip(sites, shifts)]
    data["location/center_y_frac"] = [(y + 2.0 * s[1]) / 2000 for (_, _, y), s in zip(sites, shifts)]
    data["blob/path"] = [stack.encode()] * len(sites)
    data["blob/idx"] = np.arange(len(sites))
    with open(path, "wb") as f:
        np.save(f, data)
    return data


def _cs_centres(data):
    """Each row's centre in Å as CryoSPARC's fields give it (frac * shape * psize - shift * alignment psize)."""
    shape = data["location/micrograph_shape"].astype(np.float64)
    psize = data["location/micrograph_psize_A"].astype(np.float64)
    shift = data["alignments3D/shift"].astype(np.float64) * data["alignments3D/psize_A"].astype(np.float64)[:, None]
    x = data["location/center_x_frac"].astype(np.float64) * shape[:, 1] * psize - shift[:, 0]
    y = data["location/center_y_frac"].astype(np.float64) * shape[:, 0] * psize - shift[:, 1]
    return np.stack([x, y], axis=1)


def _select(original, subset, out, *args):
    return CliRunner().invoke(
        main, ["select", str(original), "--subset", str(subset), "-o", str(out), "--json", "-q", *args]
    )


def _star_rows(path):
    text = path.read_text().splitlines()
    last = max(k for k, line in enumerate(text) if line.startswith("_rln"))
    return [line.split() for line in text[last + 1 :] if line.strip()]


def test_a_cryosparc_subsets_poses_and_centres_go_onto_a_relion_original_and_back(tmp_path):
    rng = np.random.default_rng(11)
    original_rows = [
        (x, y, 0.0, 0.0, f"{k + 1:06d}@Extract/job007/Movies/m{m}.mrcs", f"MotionCorr/job002/m{m}.mrc", 0, 0, 0, 1)
        for k, (m, x, y) in enumerate(SITES)
    ]
    original_lines = _star(tmp_path / "original.star", original_rows)
    chosen = [13, 2, 17, 8, 5]  # (reordered, each refined 1-4 Å off the original's centre)
    moved = [(SITES[k][0], SITES[k][1] + rng.uniform(-3, 3), SITES[k][2] + rng.uniform(-3, 3)) for k in chosen]
    poses = Rotation.random(len(chosen), random_state=5).as_rotvec().astype(np.float32)
    shifts = rng.uniform(-4, 4, (len(chosen), 2)).astype(np.float32)
    cs = _cs(tmp_path / "refined.cs", moved, poses, shifts, "J20/extract/refined.mrc")
    result = _select(tmp_path / "original.star", tmp_path / "refined.cs", tmp_path / "out", "--take", "angles,shifts")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["matched"]["position"] == len(chosen)
    written = _star_rows(tmp_path / "out/particles_selected.star")
    order = np.argsort(chosen)  # (the selection in the original's order)
    assert _same_rotation(poses[order], [[float(row[7]), float(row[8]), float(row[9])] for row in written], atol=1e-5)
    centres = np.array([[float(row[0]) - float(row[2]), float(row[1]) - float(row[3])] for row in written])
    assert np.allclose(centres, _cs_centres(cs)[order], atol=1e-3)  # (1 Å pixels: within 0.001 px)
    for row, k in zip(written, sorted(chosen)):  # (every other field the original's)
        kept = original_lines[k].split()
        assert [row[j] for j in (0, 1, 4, 5, 6, 10)] == [kept[j] for j in (0, 1, 4, 5, 6, 10)]
    refused = _select(tmp_path / "original.star", tmp_path / "refined.cs", tmp_path / "o2", "--take", "class")
    assert refused.exit_code == 1 and "only angles and shifts" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    # Back: the RELION file just written is the subset of a CryoSPARC original (the same sites, other poses).
    sites = [(m, x, y) for m, x, y in SITES]
    _cs(tmp_path / "extracted.cs", sites, np.zeros((len(sites), 3)), np.zeros((len(sites), 2)), "J10/extract/e.mrc")
    result = _select(
        tmp_path / "extracted.cs", tmp_path / "out/particles_selected.star", tmp_path / "back", "--take",
        "angles,shifts",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    back = np.load(next((tmp_path / "back").glob("particles_selected*.cs")))
    assert _same_rotation(back["alignments3D/pose"], [[float(v) for v in row[7:10]] for row in written], atol=1e-5)
    turned = Rotation.from_rotvec(back["alignments3D/pose"].astype(np.float64)).as_matrix()
    assert np.allclose(turned, Rotation.from_rotvec(poses[order].astype(np.float64)).as_matrix(), atol=1e-5)  # (round)
    assert np.allclose(_cs_centres(back), _cs_centres(cs)[order], atol=1e-3)
