"""CryoSPARC's ``alignments3D/pose`` read as RELION reads the same particles converted by pyem.

pyem's ``csparc2star`` (pyem/metadata/cryosparc2.py: ``rot2euler(expmap(pose))``; pyem/geom/convert.py)
builds ``expmap``'s ``k`` as the negative of the usual cross-product matrix: RELION's matrix ``A`` of a
pose ``v`` is the TRANSPOSE of the rotation by ``v`` (cryoDRGN's ``parse_cs_alignments`` transposes too).
Without symmetry the angle between two poses is the same either way; under a point group it is not:
``A`` and ``A S`` are one orientation, and read the other way round the copies fall on the wrong side.

The oracle, written here apart from the code: pyem's conversion from its definition (scipy's rotation by
``v``, transposed, then RELION's ``Euler_matrix2angles``) and a brute force over the group's operators
(RELION's D2, from the axes ``src/symmetries.cpp`` lists: checked against ``relion_particle_symmetry_expand``
in tests/jobs/particles/test_particles_symmetry_settings.py; C4: four quarter-turns about z). The .cs and
the STAR of the same particles must reach the brute force's decisions.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cryodedup import ParticleOptions, remove_duplicate_particles
from fixtures.relion_symmetry import relion_group
from fixtures.synthetic import write_cs
from helpers import located_records, write_star

MAX_ANGLE, PAIRS = 5.0, 60  # pairs of each kind below
LABELS = [
    "rlnCoordinateX",
    "rlnCoordinateY",
    "rlnMicrographName",
    "rlnAngleRot",
    "rlnAngleTilt",
    "rlnAnglePsi",
    "rlnImageName",
]


def operators(sym: str) -> np.ndarray:
    """RELION's operators (k, 3, 3) of ``sym``."""
    if sym == "C4":
        return Rotation.from_rotvec([[0.0, 0.0, k * np.pi / 2] for k in range(4)]).as_matrix()
    return relion_group(sym)


def pyem_matrix(v: np.ndarray) -> np.ndarray:
    """RELION's ``A`` (n, 3, 3) of CryoSPARC poses ``v`` as pyem converts them: ``expmap(v)``, R(v) transposed."""
    return np.transpose(Rotation.from_rotvec(v).as_matrix(), (0, 2, 1))


def euler_matrix2angles(a: np.ndarray) -> np.ndarray:
    """RELION's ``Euler_matrix2angles`` (src/euler.cpp), its general branch: rot, tilt, psi in degrees."""
    abs_sb = np.hypot(a[:, 0, 2], a[:, 1, 2])
    assert (abs_sb > 1e-6).all()  # (random poses: never tilt 0 or 180)
    gamma = np.arctan2(a[:, 1, 2], -a[:, 0, 2])
    alpha = np.arctan2(a[:, 2, 1], a[:, 2, 0])
    sign = np.where(np.sin(gamma) > 0, np.sign(a[:, 1, 2]), -np.sign(a[:, 1, 2]))
    small = np.abs(np.sin(gamma)) < np.finfo(np.float32).eps
    sign = np.where(small, np.sign(-a[:, 0, 2] / np.cos(gamma)), sign)
    beta = np.arctan2(sign * abs_sb, a[:, 2, 2])
    return np.degrees(np.stack([alpha, beta, gamma], axis=1))


def brute_force_angle(a1: np.ndarray, a2: np.ndarray, group: np.ndarray) -> float:
    """min over S of the geodesic angle (degrees) between ``a1`` and ``a2 S``."""
    cosines = [(np.trace(a1.T @ a2 @ s) - 1) / 2 for s in group]
    return float(np.degrees(np.arccos(np.clip(max(cosines), -1, 1))))


def _turns(rng: np.random.Generator, n: int, most: float) -> np.ndarray:
    """``n`` rotations (n, 3, 3) by random angles up to ``most`` degrees about random axes."""
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    return Rotation.from_rotvec(axes * np.radians(rng.uniform(0, most, (n, 1)))).as_matrix()


def pair_poses(sym: str, seed: int) -> np.ndarray:
    """CryoSPARC poses (2n, 3) of pairs (rows 2k, 2k + 1): symmetry mates in RELION's sense (A2 = A1 S D),
    mates on the other side (R(v2) = R(v1) S D, what reading the pose as A itself took for mates), and random pairs.
    D turns by up to twice the maximum angle. float32, as CryoSPARC writes them.
    """
    rng = np.random.default_rng(seed)
    group = operators(sym)
    first = Rotation.random(3 * PAIRS, random_state=rng).as_matrix()
    s = group[rng.integers(1, len(group), 3 * PAIRS)]
    d = _turns(rng, 3 * PAIRS, 2 * MAX_ANGLE)
    second = np.empty_like(first)
    a1 = np.transpose(first[:PAIRS], (0, 2, 1))  # RELION's A of the first: R(v1)^T
    second[:PAIRS] = np.transpose(a1 @ s[:PAIRS] @ d[:PAIRS], (0, 2, 1))  # R(v2) = A2^T
    second[PAIRS : 2 * PAIRS] = first[PAIRS : 2 * PAIRS] @ s[PAIRS : 2 * PAIRS] @ d[PAIRS : 2 * PAIRS]
    second[2 * PAIRS :] = Rotation.random(PAIRS, random_state=rng).as_matrix()
    poses = np.empty((6 * PAIRS, 3))
    poses[0::2], poses[1::2] = Rotation.from_matrix(first).as_rotvec(), Rotation.from_matrix(second).as_rotvec()
    return poses.astype(np.float32)


def _centres(n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pair 3 Å apart, pairs 200 Å apart (one micrograph, 1 Å pixels)."""
    k = np.repeat(np.arange(n_pairs), 2)
    x = 100.0 + 200.0 * (k % 19) + 3.0 * (np.arange(2 * n_pairs) % 2)
    return x, 100.0 + 200.0 * (k // 19)


def rejected_cs(tmp_path, poses: np.ndarray, sym: str) -> set[int]:
    x, y = _centres(len(poses) // 2)
    records = located_records(7, x, y, [("alignments3D/pose", "<f4", (3,))])
    records["alignments3D/pose"] = poses
    write_cs(tmp_path / "p.cs", records)
    options = ParticleOptions(min_dist=10, max_angle=MAX_ANGLE, sym=sym, score="none")
    out = tmp_path / f"cs_{sym}"
    remove_duplicate_particles([tmp_path / "p.cs"], out, options, force=True)
    written = np.load(out / "particles_kept.cs")
    kept = written["uid"] - 5000
    assert np.array_equal(written["alignments3D/pose"], poses[kept])  # (the file's own poses, not the core's)
    return set(range(len(poses))) - set(kept.tolist())


def rejected_star(tmp_path, poses: np.ndarray, sym: str) -> set[int]:
    x, y = _centres(len(poses) // 2)
    angles = euler_matrix2angles(pyem_matrix(poses.astype(np.float64)))
    rows = [
        [f"{x[k]:.3f}", f"{y[k]:.3f}", "a.mrc", *(f"{t:.8f}" for t in angles[k]), f"{k + 1}@stack.mrcs"]
        for k in range(len(poses))
    ]
    star = write_star(tmp_path / "p.star", LABELS, rows)
    options = ParticleOptions(mic_psize=1.0, min_dist=10, max_angle=MAX_ANGLE, sym=sym, score="none")
    out = tmp_path / f"star_{sym}"
    remove_duplicate_particles([star], out, options, force=True)
    (kept,) = [p for p in out.glob("*.star") if "kept" in p.name]
    images = [line.split()[-1] for line in kept.read_text().splitlines() if "@stack.mrcs" in line]
    return set(range(len(poses))) - {int(name.split("@")[0]) - 1 for name in images}


def pairs_of(rejected: set[int]) -> list[int]:
    """The pairs (rows 2k, 2k + 1) a row of which was rejected, each at most once."""
    pairs = sorted(k // 2 for k in rejected)
    assert len(set(pairs)) == len(pairs)
    return pairs


@pytest.mark.parametrize("sym", ["D2", "C4"])
def test_cryosparc_poses_under_a_point_group_are_read_as_pyem_converts_them(tmp_path, sym):
    poses = pair_poses(sym, seed=len(sym) + ord(sym[0]))
    a = pyem_matrix(poses.astype(np.float64))
    group = operators(sym)
    angles = np.array([brute_force_angle(a[2 * k], a[2 * k + 1], group) for k in range(len(poses) // 2)])
    assert np.abs(angles - MAX_ANGLE).min() > 1e-3  # (no pair at the limit: float32 poses, printed angles)
    duplicates = angles <= MAX_ANGLE
    assert 20 < duplicates[:PAIRS].sum() < PAIRS - 10  # RELION's mates: both outcomes
    expected = np.flatnonzero(duplicates).tolist()  # the pairs one of which is rejected
    assert pairs_of(rejected_star(tmp_path, poses, sym)) == expected
    assert pairs_of(rejected_cs(tmp_path, poses, sym)) == expected
