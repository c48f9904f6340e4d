"""Issue 54 item 7: ``--max-angle`` on RELION 5 subtomograms compares the poses in the tomogram.

RELION's ``ParticleSet::getMatrix3x3`` is ``A_subtomo @ A_particle``. Oracle: the matrices
composed here with scipy (RELION's ``A`` is the inverse of scipy's intrinsic "ZYZ" rotation,
docs/design.md section 9), never with cryodedup's own matrices.
"""

from __future__ import annotations

import numpy as np
import pytest
import starfile
from scipy.spatial.transform import Rotation

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from cryodedup.api import remove_duplicates
from helpers import write_star

ANGLES = ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
SUBTOMO = ["rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt", "rlnTomoSubtomogramPsi"]
LABELS = ["rlnTomoName", *[f"rlnCenteredCoordinate{a}Angst" for a in "XYZ"], *SUBTOMO, *ANGLES]
LABELS += [f"rlnOrigin{a}Angst" for a in "XYZ"] + ["rlnMaxValueProbDistribution", "rlnTomoParticleName"]


def relion_a(angles) -> Rotation:
    """RELION's matrix A of Euler angles (degrees) as a scipy rotation: the inverse of intrinsic ZYZ."""
    return Rotation.from_euler("ZYZ", angles, degrees=True).inv()


def relion_angles(a: Rotation) -> np.ndarray:
    """RELION's Euler angles of the matrix A."""
    return a.inv().as_euler("ZYZ", degrees=True)


def pose_in_tomogram(subtomo, angles) -> Rotation:
    return relion_a(subtomo) * relion_a(angles)


def pairs_file(tmp_path, pairs) -> object:
    """One pair per 5,000 Å along x, both at one centre; ``pairs``: (subtomo, angles) of each."""
    rows = []
    for k, pair in enumerate(pairs):
        for j, (subtomo, angles) in enumerate(pair):
            rows.append(["t1", 5000.0 * k, 0, 0, *subtomo, *angles, 0, 0, 0, 0.9 - 0.1 * j, f"p{k}_{j}"])
    return write_star(
        tmp_path / "p.star", LABELS, [[f"{v:.10f}" if isinstance(v, float) else v for v in r] for r in rows]
    )


def rejected_pairs(tmp_path, path, max_angle=20.0) -> list[int]:
    summary = remove_duplicate_particles([path], tmp_path / "out", ParticleOptions(min_dist=50.0, max_angle=max_angle))
    names = starfile.read(tmp_path / "out/particles_rejected.star", always_dict=True).get("particles")
    rejected = [] if names is None or summary.rejected == 0 else names["rlnTomoParticleName"].tolist()
    return sorted(int(n[1:].split("_")[0]) for n in rejected)


def test_equal_particle_angles_in_frames_90_degrees_apart_are_two_particles(tmp_path):
    rng = np.random.default_rng(54)
    pairs = []
    for _ in range(10):
        angles = rng.uniform(-180, 180, 3) * [1, 0.5, 1] + [0, 90, 0]
        subtomo = rng.uniform(-180, 180, 3) * [1, 0.5, 1] + [0, 90, 0]
        turned = relion_angles(Rotation.from_euler("x", 90, degrees=True) * relion_a(subtomo))
        pairs.append([(subtomo, angles), (turned, angles)])
        gap = (pose_in_tomogram(subtomo, angles).inv() * pose_in_tomogram(turned, angles)).magnitude()
        assert np.isclose(np.degrees(gap), 90)  # the oracle's own check of the case
    assert rejected_pairs(tmp_path, pairs_file(tmp_path, pairs)) == []


def test_one_pose_in_the_tomogram_with_different_particle_angles_is_one_particle(tmp_path):
    rng = np.random.default_rng(7)
    pairs = []
    for _ in range(10):
        subtomo, other = rng.uniform(-180, 180, (2, 3)) * [1, 0.5, 1] + [0, 90, 0]
        angles = rng.uniform(-180, 180, 3) * [1, 0.5, 1] + [0, 90, 0]
        # The second particle's angles: A_other^-1 A_subtomo A_angles, the same pose in the tomogram.
        same = relion_angles(relion_a(other).inv() * pose_in_tomogram(subtomo, angles))
        assert np.linalg.norm(relion_a(angles).as_rotvec() - relion_a(same).as_rotvec()) > 0.1
        pairs.append([(subtomo, angles), (other, same)])
    assert rejected_pairs(tmp_path, pairs_file(tmp_path, pairs)) == list(range(10))


def test_random_pairs_follow_the_angle_between_the_poses_in_the_tomogram(tmp_path):
    # Pairs whose poses in the tomogram differ by 0 to 40°: a pair is one particle iff its
    # angle (scipy) is at most 20°.
    rng = np.random.default_rng(3)
    pairs, expected = [], []
    for k in range(40):
        subtomo, other = rng.uniform(-180, 180, (2, 3)) * [1, 0.5, 1] + [0, 90, 0]
        angles = rng.uniform(-180, 180, 3) * [1, 0.5, 1] + [0, 90, 0]
        turn = Rotation.from_rotvec(rng.normal(size=3)).as_rotvec()
        turn = Rotation.from_rotvec(turn / np.linalg.norm(turn) * np.radians(rng.uniform(0, 40)))
        target = pose_in_tomogram(subtomo, angles) * turn
        second = relion_angles(relion_a(other).inv() * target)
        pairs.append([(subtomo, angles), (other, second)])
        gap = np.degrees((pose_in_tomogram(subtomo, angles).inv() * pose_in_tomogram(other, second)).magnitude())
        if abs(gap - 20) > 1e-3:
            expected.append(k) if gap <= 20 else None
        else:
            pairs.pop()
    got = rejected_pairs(tmp_path, pairs_file(tmp_path, pairs))
    assert got == expected and 0 < len(expected) < len(pairs)


def test_a_table_in_memory_compares_the_poses_in_the_tomogram(tmp_path):
    # The first case again, read from a DataFrame: the two frames 90° apart keep both.
    subtomo, angles = np.array([10.0, 70.0, -30.0]), np.array([40.0, 100.0, 5.0])
    turned = relion_angles(Rotation.from_euler("x", 90, degrees=True) * relion_a(subtomo))
    table = starfile.read(pairs_file(tmp_path, [[(subtomo, angles), (turned, angles)]]))
    kept, rejected = remove_duplicates(table, min_dist=50.0, max_angle=20.0)
    assert (len(kept), len(rejected)) == (2, 0)
    table[SUBTOMO] = [subtomo, subtomo]  # one frame: one particle
    kept, rejected = remove_duplicates(table, min_dist=50.0, max_angle=20.0)
    assert (len(kept), len(rejected)) == (1, 1)


def test_a_nan_particle_angle_is_refused_not_read_as_no_rotation(tmp_path):
    # Composed with the subtomogram matrix, a NaN angle must stay NaN (the job refuses it), not become the identity.
    rows = [
        ["t1", 0.0, 0, 0, 10, 0, 0, "nan", 20, 30, 0, 0, 0, 0.9, "a"],
        ["t1", 1.0, 0, 0, 0, 0, 0, 10, 20, 30, 0, 0, 0, 0.5, "b"],
    ]
    path = write_star(tmp_path / "p.star", LABELS, rows)
    with pytest.raises(CryodedupError, match="NaN or infinite"):
        remove_duplicate_particles([path], tmp_path / "out", ParticleOptions(min_dist=50.0, max_angle=20.0))
