"""Exclusion in each particle's own frame (``--min-dist-ellipsoid``): the core against a brute force.

The oracle is written from the conventions, not from the core: RELION's ``Euler_angles2matrix``
is ``A = Rz(psi) Ry(tilt) Rz(rot)`` of the frame rotations ``Rz(a) = [[cos a, sin a, 0], [-sin a,
cos a, 0], [0, 0, 1]]`` and ``Ry(a) = [[cos a, 0, -sin a], [0, 1, 0], [sin a, 0, cos a]]``
(checked here against scipy: the transpose of ``from_euler("ZYZ", [rot, tilt, psi])``). A point
``r`` of a particle lies at ``centre + A r`` in the tomogram (RELION's ``getMatrix4x4``), so
an offset ``d`` is ``A^T d`` in the particle's frame, inside its ellipsoid when
``sum((A^T d / semi_axes)**2) <= 1``. Two picks conflict when either centre lies inside the
other's ellipsoid; the greedy walk is the usual one (score first, then row order).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cryodedup.algo.dedup import DuplicateRule, Ellipsoid, Ranking, dedup, dedup_and_support_masks

AXES = (20.0, 30.0, 70.0)


def frame_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def frame_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])


def relion_matrix(rot: float, tilt: float, psi: float) -> np.ndarray:
    """RELION's A of (rot, tilt, psi) in degrees, as its Euler_angles2matrix defines it."""
    rot, tilt, psi = np.radians([rot, tilt, psi])
    return frame_z(psi) @ frame_y(tilt) @ frame_z(rot)


def inside(angles: np.ndarray, axes, centre: np.ndarray, other: np.ndarray) -> bool:
    """Whether ``other`` lies inside (or on) the ellipsoid of the particle at ``centre`` with ``angles``."""
    r = relion_matrix(*angles).T @ (other - centre)
    return float(((r / np.asarray(axes)) ** 2).sum()) <= 1.0


def conflicts(groups, coords, angles, axes) -> np.ndarray:
    """The conflict matrix: same tomogram, either centre inside the other's ellipsoid."""
    n = len(coords)
    out = np.zeros((n, n), dtype=bool)
    for i in range(n):
        for j in range(i + 1, n):
            if groups[i] == groups[j] and (
                inside(angles[i], axes, coords[i], coords[j]) or inside(angles[j], axes, coords[j], coords[i])
            ):
                out[i, j] = out[j, i] = True
    return out


def greedy(scores: np.ndarray, conflict: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best score first (ties: row order); a kept pick rejects the kept picks it conflicts with."""
    keep = np.ones(len(scores), dtype=bool)
    by = np.full(len(scores), -1)
    for i in sorted(range(len(scores)), key=lambda k: (-scores[k], k)):
        if keep[i]:
            rejected = conflict[i] & keep
            keep[rejected] = False
            by[rejected] = i
    return keep, by


def random_picks(seed: int, n: int = 240, tomograms: int = 3):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, tomograms, n)
    coords = rng.uniform(0, 260, (n, 3))
    angles = np.column_stack([rng.uniform(-180, 180, n), rng.uniform(0, 180, n), rng.uniform(-180, 180, n)])
    return groups, coords, angles, rng.uniform(0, 1, n)


def test_the_oracle_matrix_is_relions():
    rng = np.random.default_rng(0)
    for rot, tilt, psi in rng.uniform(-180, 180, (20, 3)):
        expected = Rotation.from_euler("ZYZ", [rot, tilt, psi], degrees=True).as_matrix().T
        assert np.allclose(relion_matrix(rot, tilt, psi), expected, atol=1e-12)
    # RELION's worked case (docs/developers/decisions/tomography.md): rot 90 gives [[0, 1, 0], [-1, 0, 0], [0, 0, 1]].
    assert np.allclose(relion_matrix(90, 0, 0), [[0, 1, 0], [-1, 0, 0], [0, 0, 1]], atol=1e-15)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_greedy_agrees_with_brute_force_on_random_poses(seed):
    groups, coords, angles, scores = random_picks(seed)
    conflict = conflicts(groups, coords, angles, AXES)
    keep, by = greedy(scores, conflict)
    result = dedup(groups, coords, scores, min_dist=20.0, poses=angles, semi_axes=AXES)
    assert np.array_equal(result.keep, keep)
    assert np.array_equal(result.suppressed_by, by)
    # Both outcomes happen: pairs within the largest semi-axis that do and do not conflict.
    distance = np.linalg.norm(coords[:, None] - coords[None], axis=2)
    near = (distance <= max(AXES)) & (groups[:, None] == groups[None]) & ~np.eye(len(coords), dtype=bool)
    assert conflict.sum() > 20 and (near & ~conflict).sum() > 20
    # "Either": some conflicts hold in one particle's frame only.
    one_way = [
        (i, j)
        for i, j in zip(*np.nonzero(np.triu(conflict)))
        if inside(angles[i], AXES, coords[i], coords[j]) != inside(angles[j], AXES, coords[j], coords[i])
    ]
    assert len(one_way) > 5


def test_remove_entirely_and_consensus_masks_follow_the_ellipsoids():
    groups, coords, angles, scores = random_picks(4, n=180)
    conflict = conflicts(groups, coords, angles, AXES)
    result = dedup(groups, coords, scores, min_dist=1.0, poses=angles, semi_axes=AXES, remove_entirely=True)
    assert np.array_equal(result.keep, ~conflict.any(axis=1))
    distance = np.linalg.norm(coords[:, None] - coords[None], axis=2)
    for i in np.flatnonzero(~result.keep):  # each names its nearest conflicting pick
        partners = np.flatnonzero(conflict[i])
        assert result.suppressed_by[i] == partners[np.argmin(distance[i, partners])]
    inputs = np.random.default_rng(5).integers(0, 3, len(coords)).astype(np.uint32)
    rule = DuplicateRule(1.0, ellipsoid=Ellipsoid(angles, AXES))
    found, masks = dedup_and_support_masks(groups, coords, inputs, rule, Ranking(scores))
    expected = np.array(
        [
            (1 << int(inputs[i])) | np.bitwise_or.reduce(1 << inputs[conflict[i]].astype(np.int64), initial=0)
            for i in range(len(coords))
        ]
    )
    assert np.array_equal(masks.astype(np.int64), expected)
    assert np.array_equal(found.keep, greedy(scores, conflict)[0])


def test_a_pick_along_the_long_axis_goes_and_one_as_far_across_stays():
    # By hand: a rod 20 x 20 x 60 Å (semi-axes), lying along the tomogram's x (tilt 90: the
    # particle's z is the tomogram's -x). Tomogram 0: a second pick 50 Å along x, on the rod's
    # axis: inside (50 < 60), rejected. Tomogram 1: a second pick 50 Å along y, across the rod:
    # outside (50 > 20), kept. A sphere of 50 Å would take both.
    coords = np.array([[0, 0, 0], [50, 0, 0], [0, 0, 0], [0, 50, 0]], dtype=float)
    angles = np.tile([0.0, 90.0, 0.0], (4, 1))
    groups, scores = np.array([0, 0, 1, 1]), np.array([2.0, 1.0, 2.0, 1.0])
    rod = dedup(groups, coords, scores, min_dist=50.0, poses=angles, semi_axes=(20, 20, 60))
    assert rod.keep.tolist() == [True, False, True, True]
    assert rod.suppressed_by.tolist() == [-1, 0, -1, -1]
    sphere = dedup(groups, coords, scores, min_dist=50.0)
    assert sphere.keep.tolist() == [True, False, True, False]
    # Upright (tilt 0: the rod along z), the same two picks are both across it: both kept.
    upright = dedup(groups, coords, scores, min_dist=50.0, poses=np.zeros((4, 3)), semi_axes=(20, 20, 60))
    assert upright.keep.all()


def test_either_centre_inside_the_other_decides_whatever_the_ranking():
    # By hand: pick 0 upright (its long axis along z), pick 1 lying along x, 50 Å apart along x.
    # Pick 1's centre is across pick 0's rod (outside), pick 0's lies on pick 1's axis (inside):
    # a conflict, whichever ranks first (STOPGAP and cryoCAT test only the kept one's shape).
    coords = np.array([[0, 0, 0], [50, 0, 0]], dtype=float)
    angles = np.array([[0, 0, 0], [0, 90, 0]], dtype=float)
    for scores, kept in (([2.0, 1.0], [True, False]), ([1.0, 2.0], [False, True])):
        result = dedup(np.zeros(2, int), coords, np.array(scores), min_dist=1.0, poses=angles, semi_axes=(20, 20, 60))
        assert result.keep.tolist() == kept


def test_a_sphere_is_min_dist():
    groups, coords, angles, scores = random_picks(6)
    sphere = dedup(groups, coords, scores, min_dist=45.0)
    ellipsoid = dedup(groups, coords, scores, min_dist=1.0, poses=angles, semi_axes=(45.0, 45.0, 45.0))
    assert np.array_equal(sphere.keep, ellipsoid.keep)
    assert np.array_equal(sphere.suppressed_by, ellipsoid.suppressed_by)


def test_bad_input_is_refused():
    coords, angles = np.zeros((2, 3)), np.zeros((2, 3))
    with pytest.raises(ValueError, match="semi-axes"):
        dedup(np.zeros(2, int), coords, min_dist=1.0, poses=angles, semi_axes=(0.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="poses"):
        dedup(np.zeros(2, int), coords, min_dist=1.0, semi_axes=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="3-D"):
        dedup(np.zeros(2, int), np.zeros((2, 2)), min_dist=1.0, poses=angles, semi_axes=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="NaN"):
        dedup(np.zeros(2, int), coords, min_dist=1.0, poses=[[0, np.nan, 0], [0, 0, 0]], semi_axes=(1, 1, 1))
