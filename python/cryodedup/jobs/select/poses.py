"""Poses carried between packages by ``--take angles``: RELION's Euler angles and CryoSPARC's rotation vectors.

RELION writes ``rlnAngleRot``, ``rlnAngleTilt``, ``rlnAnglePsi`` in degrees, the matrix
``A = Euler_angles2matrix(rot, tilt, psi)`` (src/euler.cpp; ``subtomogram_matrices`` here);
CryoSPARC writes ``alignments3D/pose``, a rotation vector in radians. pyem's ``csparc2star``
(pyem/metadata/cryosparc2.py, ``rot2euler(expmap(pose))``, and pyem/geom/convert.py at
asarnow/pyem 286ef2b) reads a pose as ``A = expmap(pose)``, whose ``k`` is the transposed
cross-product matrix: ``A`` is the transpose of the rotation by the vector. So a pose is the
rotation vector of ``A``'s transpose, and the angles are RELION's decomposition
(``Euler_matrix2angles``) of the transpose of the vector's rotation.
"""

from __future__ import annotations

import numpy as np

from ...formats.star.tomography import rotation_vectors, subtomogram_matrices

__all__ = ["relion_to_rotvec", "rotvec_to_relion"]

#: RELION's ``Euler_matrix2angles`` takes sin(tilt) as 0 below this (16 machine epsilons, as there).
_SMALL = 16 * np.finfo(np.float64).eps


def relion_to_rotvec(angles: np.ndarray) -> np.ndarray:
    """CryoSPARC's poses (n, 3 radians) of RELION's (rot, tilt, psi) in degrees (n, 3)."""
    angles = np.asarray(angles, dtype=np.float64).reshape(-1, 3)
    a = subtomogram_matrices(angles[:, 0], angles[:, 1], angles[:, 2])
    return rotation_vectors(np.transpose(a, (0, 2, 1)))


def rotvec_to_relion(poses: np.ndarray) -> np.ndarray:
    """RELION's (rot, tilt, psi) in degrees (n, 3) of CryoSPARC's poses (n, 3 radians), as ``Euler_matrix2angles``."""
    a = np.transpose(_rotations(np.asarray(poses, dtype=np.float64).reshape(-1, 3)), (0, 2, 1))
    abs_sb = np.hypot(a[:, 0, 2], a[:, 1, 2])
    general = abs_sb > _SMALL
    gamma = np.arctan2(a[:, 1, 2], -a[:, 0, 2])
    alpha = np.arctan2(a[:, 2, 1], a[:, 2, 0])
    # (the sign of sin(tilt), which the third column's two entries fix where psi's sine or cosine is not 0)
    sin_g, cos_g = np.sin(gamma), np.cos(gamma)
    sign = np.where(
        np.abs(sin_g) < np.finfo(np.float64).eps,
        np.sign(-a[:, 0, 2] * cos_g),
        np.where(sin_g > 0, np.sign(a[:, 1, 2]), -np.sign(a[:, 1, 2])),
    )
    beta = np.arctan2(sign * abs_sb, a[:, 2, 2])
    up = a[:, 2, 2] > 0  # (tilt 0 or 180°: rot is 0 and psi takes the whole turn about z)
    alpha = np.where(general, alpha, 0.0)
    beta = np.where(general, beta, np.where(up, 0.0, np.pi))
    gamma = np.where(
        general, gamma, np.where(up, np.arctan2(-a[:, 1, 0], a[:, 0, 0]), np.arctan2(a[:, 1, 0], -a[:, 0, 0]))
    )
    return np.degrees(np.stack([alpha, beta, gamma], axis=1))


def _rotations(vectors: np.ndarray) -> np.ndarray:
    """The rotations (n, 3, 3) by rotation vectors (n, 3), by Rodrigues' formula (identity for a zero vector)."""
    angle = np.linalg.norm(vectors, axis=1)
    axis = np.divide(vectors, angle[:, None], out=np.zeros_like(vectors), where=angle[:, None] > 0)
    x, y, z = axis[:, 0], axis[:, 1], axis[:, 2]
    zero = np.zeros_like(x)
    k = np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1), np.stack([-y, x, zero], -1)], -2)
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)
