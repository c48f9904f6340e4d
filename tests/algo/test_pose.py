"""Pose-aware duplicates (--max-angle, --sym): the core's angle test against a brute force
with scipy's Rotation and point groups, the inclusive limit, and the job on RELION and
CryoSPARC files.

Conventions (docs/design.md section 9): RELION's matrix A of (rot, tilt, psi) is the
inverse of scipy's intrinsic ``from_euler("ZYZ", [rot, tilt, psi])``; the core's ``"rotvec"``
A is the rotation of its rotation vector (CryoSPARC's pose negated, as its reader hands it over:
A is the transpose of the pose's rotation, as pyem converts it; tests/formats/cryosparc/
test_cryosparc_poses.py). A and A S are one orientation for every operator S of the group, so
the angle is min over g of |g Q1 Q2^-1| (RELION, Q = scipy's rotation) or |g A1^-1 A2| (rotvec).
The CryoSPARC job test below turns about z alone, where the two readings agree.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from cryodedup.algo.dedup import dedup
from fixtures.synthetic import write_cs
from helpers import located_records, write_star

GROUPS = ["C1", "C4", "D7", "T", "O", "I"]
#: The core's names of scipy's settings: its T has two-folds on x, y, z (T222), its I is RELION's I1
#: (RELION's own T and I, the core's T and I for RELION's poses: test_particles_symmetry_settings.py).
CORE_NAME = {"T": "T222", "I": "I1"}


def group(sym: str) -> Rotation:
    return Rotation.identity(1) if sym == "C1" else Rotation.create_group(sym)


def oracle_angle(first: Rotation, second: Rotation, sym: str) -> float:
    """The smallest angle (degrees) between two orientations in RELION's sense (A = rotation)."""
    return float(np.degrees((group(sym) * (first.inv() * second)).magnitude().min()))


def random_pairs(sym: str, n: int, seed: int) -> tuple[Rotation, Rotation]:
    """Pairs (A1, A2) with A2 = A1 g D: g a random operator, D a random turn of 0-40°."""
    rng = np.random.default_rng(seed)
    first = Rotation.random(n, random_state=rng)
    ops = group(sym)
    g = ops[rng.integers(0, len(ops), n)]
    axes = rng.normal(size=(n, 3))
    turn = Rotation.from_rotvec(
        axes / np.linalg.norm(axes, axis=1, keepdims=True) * np.radians(rng.uniform(0, 40, (n, 1)))
    )
    return first, first * g * turn


def duplicates_found(poses: np.ndarray, kind: str, max_angle: float, sym: str) -> np.ndarray:
    """For pairs (rows 2k, 2k + 1) at one place, each pair its own micrograph: whether one was rejected."""
    n = len(poses) // 2
    result = dedup(
        np.repeat(np.arange(n), 2),
        np.zeros((2 * n, 2)),
        np.tile([1.0, 0.0], n),
        min_dist=10.0,
        poses=poses,
        pose_kind=kind,
        max_angle=max_angle,
        sym=CORE_NAME.get(sym, sym),
    )
    return ~result.keep[1::2]


@pytest.mark.parametrize("sym", GROUPS)
def test_relion_angles_agree_with_scipy(sym):
    first, second = random_pairs(sym, 300, seed=GROUPS.index(sym))
    # RELION's angles of A: the ZYZ angles of scipy's inverse rotation.
    angles = np.empty((600, 3))
    angles[0::2] = first.inv().as_euler("ZYZ", degrees=True)
    angles[1::2] = second.inv().as_euler("ZYZ", degrees=True)
    expected = np.array([oracle_angle(a, b, sym) for a, b in zip(first, second)]) <= 20.0
    assert 50 < expected.sum() < 250  # both outcomes are tested
    assert np.array_equal(duplicates_found(angles, "relion", 20.0, sym), expected)


@pytest.mark.parametrize("sym", GROUPS)
def test_cryosparc_rotation_vectors_agree_with_scipy(sym):
    first, second = random_pairs(sym, 300, seed=10 + GROUPS.index(sym))
    poses = np.empty((600, 3))
    poses[0::2] = first.as_rotvec()
    poses[1::2] = second.as_rotvec()
    expected = np.array([oracle_angle(a, b, sym) for a, b in zip(first, second)]) <= 20.0
    assert 50 < expected.sum() < 250
    assert np.array_equal(duplicates_found(poses, "rotvec", 20.0, sym), expected)


def test_the_limit_is_inclusive():
    # rot 0 and rot 30 (tilt and psi 0) are 30° apart: duplicates at 30°, not at 29.999°.
    angles = np.array([[0.0, 0.0, 0.0], [30.0, 0.0, 0.0]])
    assert duplicates_found(angles, "relion", 30.0, "C1").tolist() == [True]
    assert duplicates_found(angles, "relion", 29.999, "C1").tolist() == [False]
    # rot 100 is 10° from rot 0 under C4 (its copy at 90°), 100° under C1.
    angles = np.array([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0]])
    assert duplicates_found(angles, "relion", 10.0, "C4").tolist() == [True]
    assert duplicates_found(angles, "relion", 9.999, "C4").tolist() == [False]
    assert duplicates_found(angles, "relion", 99.0, "C1").tolist() == [False]


def test_unknown_symmetry_is_refused(tmp_path):
    path = write_star(tmp_path / "p.star", ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName"], [[1, 2, "a"]])
    with pytest.raises(CryodedupError, match="--sym is C1, Cn, Dn"):
        remove_duplicate_particles([path], tmp_path / "o", ParticleOptions(mic_psize=1.0, max_angle=5, sym="X3"))
    with pytest.raises(CryodedupError, match="no rlnAngleRot"):
        remove_duplicate_particles([path], tmp_path / "o", ParticleOptions(mic_psize=1.0, max_angle=5))
    with pytest.raises(CryodedupError, match="give the angle with --max-angle"):
        remove_duplicate_particles([path], tmp_path / "o", ParticleOptions(mic_psize=1.0, sym="C4"))


ANGLE_LABELS = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]


def test_star_job_compares_orientations(tmp_path):
    # Two particles 5 Å apart at rot 0 and 100: different molecules in C1 at 10°, copies in C4.
    rows = [[100, 100, "a.mrc", 0, 0, 0], [105, 100, "a.mrc", 100, 0, 0]]
    path = write_star(tmp_path / "p.star", ANGLE_LABELS, rows)

    def rejected(**options):
        opts = ParticleOptions(mic_psize=1.0, min_dist=20, score="none", **options)
        return remove_duplicate_particles([path], tmp_path / "o", opts, force=True).rejected

    assert rejected() == 1
    assert rejected(max_angle=10) == 0
    assert rejected(max_angle=10, sym="C4") == 1


def test_cryosparc_job_compares_orientations(tmp_path):
    # Two particles 5 Å apart, turned 0 and 95° about z (float32 poses: not at the limit).
    r = located_records(7, [100.0, 105.0], [100.0, 100.0], [("alignments3D/pose", "<f4", (3,))])
    r["alignments3D/pose"] = [[0, 0, 0], [0, 0, np.radians(95)]]
    write_cs(tmp_path / "p.cs", r)

    def rejected(**options):
        opts = ParticleOptions(min_dist=20, score="none", **options)
        return remove_duplicate_particles([tmp_path / "p.cs"], tmp_path / "o", opts, force=True).rejected

    assert rejected(max_angle=10) == 0
    assert rejected(max_angle=10, sym="C4") == 1


def test_tables_in_memory_compare_orientations():
    import pandas as pd

    from cryodedup import remove_duplicates

    frame = pd.DataFrame(
        {
            "rlnCoordinateX": [100.0, 105.0],
            "rlnCoordinateY": [100.0, 100.0],
            "rlnMicrographName": ["a.mrc", "a.mrc"],
            "rlnAngleRot": [0.0, 100.0],
            "rlnAngleTilt": [0.0, 0.0],
            "rlnAnglePsi": [0.0, 0.0],
        }
    )
    kept, _ = remove_duplicates(frame, mic_psize=1.0, min_dist=20, score="none", max_angle=10)
    assert len(kept) == 2
    kept, _ = remove_duplicates(frame, mic_psize=1.0, min_dist=20, score="none", max_angle=10, sym="C4")
    assert len(kept) == 1
