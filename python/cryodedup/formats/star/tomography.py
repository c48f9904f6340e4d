"""Tomography conventions shared by the particle readers (docs/design.md section 7).

RELION 5 rotates a particle's origin by its subtomogram orientation before subtracting it
(``rlnTomoSubtomogramRot/Tilt/Psi``); RELION 4 writes coordinates in tilt-series pixels
(``rlnTomoTiltSeriesPixelSize``); Warp and WarpTools write them in pixels of the exported
tomogram, a size their files do not record. This module holds those rules; the readers
(``formats.star.particles``) decide when they apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

__all__ = [
    "SUBTOMOGRAM_ANGLES",
    "TILT_SERIES_PSIZE",
    "origin_assumptions",
    "origin_vectors",
    "rotation_vectors",
    "subtomogram_matrices",
    "subtomogram_rotated",
    "tomogram_poses",
    "warp_tomograms",
]

#: RELION's subtomogram orientation columns, in the order of Euler::anglesToMatrix3's arguments.
SUBTOMOGRAM_ANGLES = ("rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt", "rlnTomoSubtomogramPsi")
#: RELION 4 and 5: the pixel size of the tilt series, in the optics table.
TILT_SERIES_PSIZE = "rlnTomoTiltSeriesPixelSize"
#: Warp and WarpTools name each particle's tomogram by its ``.tomostar`` file.
WARP_SUFFIX = ".tomostar"


def subtomogram_matrices(rot: np.ndarray, tilt: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """RELION's ZYZ Euler matrices of angles in degrees, shape (n, 3, 3).

    The matrix of RELION's ``Euler::anglesToMatrix3(phi, theta, psi)``
    (src/jaz/math/Euler_angles_relion.h), the same as ``Euler_angles2matrix`` of
    src/euler.cpp: rows ``(cψcθcφ - sψsφ, cψcθsφ + sψcφ, -cψsθ)``,
    ``(-sψcθcφ - cψsφ, -sψcθsφ + cψcφ, sψsθ)``, ``(sθcφ, sθsφ, cθ)``.
    """
    phi, theta, chi = (np.radians(np.asarray(a, dtype=np.float64)) for a in (rot, tilt, psi))
    sp, cp, st, ct, sc, cc = np.sin(phi), np.cos(phi), np.sin(theta), np.cos(theta), np.sin(chi), np.cos(chi)
    rows = [
        [cc * ct * cp - sc * sp, cc * ct * sp + sc * cp, -cc * st],
        [-sc * ct * cp - cc * sp, -sc * ct * sp + cc * cp, sc * st],
        [st * cp, st * sp, ct],
    ]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def rotate_origins(origins: np.ndarray, rot: np.ndarray, tilt: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """Origins (n, 3) in Å carried into the tomogram frame: ``A_subtomo @ origin`` per particle.

    RELION's ``ParticleSet::getPosition`` (src/jaz/tomography/particle_set.cpp) places a
    particle at ``centre - A_subtomo @ origin`` with ``A_subtomo`` from
    ``getSubtomogramMatrix`` (the matrix of the three subtomogram angles, identity without
    them); the caller subtracts what this returns.
    """
    return np.einsum("nij,nj->ni", subtomogram_matrices(rot, tilt, psi), origins)


#: The origins in Å of RELION's particle set, by axis (``ParticleSet::getParticleOffset``).
ORIGINS = ("rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst")


def subtomogram_rotated(origins: np.ndarray, numbers: Mapping[str, np.ndarray]) -> np.ndarray:
    """Origins (n, 3) in Å rotated as RELION rotates them: by the subtomogram angles of ``numbers``.

    ``ParticleSet::getSubtomogramMatrix`` rotates where ``rlnTomoSubtomogramRot`` is present,
    reading an absent tilt or psi as 0 (``MetaDataTable::getValue`` leaves its 0); the caller
    gives ``numbers`` only where Rot is present (``Columns.subtomogram_angles``).
    """
    rot, tilt, psi = (numbers.get(label, np.zeros(len(origins))) for label in SUBTOMOGRAM_ANGLES)
    return rotate_origins(origins, rot, tilt, psi)


def origin_vectors(numbers: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Each particle's origin (n, 3) in Å as ``ParticleSet::getParticleOffset`` reads it: an absent axis is 0."""
    return np.stack([numbers.get(label, np.zeros(n)) for label in ORIGINS], axis=1).reshape(n, 3)


def origin_assumptions(present: Iterable[str]) -> list[str]:
    """What RELION's particle set assumes of a 3-D table's origins and subtomogram angles, where columns are absent.

    An absent origin axis is 0 (``getParticleOffset``) and the others are still rotated; an
    absent subtomogram tilt or psi beside ``rlnTomoSubtomogramRot`` is 0; without Rot the
    origins are not rotated at all, whatever else is there (``getSubtomogramMatrix``).
    """
    present = set(present)
    if not present & set(ORIGINS):
        return []
    notes = []
    rot, others = SUBTOMOGRAM_ANGLES[0], SUBTOMOGRAM_ANGLES[1:]
    rotated = " and the origins still rotated by the subtomogram angles" if rot in present else ""
    for label in ORIGINS:
        if label not in present:
            notes.append(f"{label} absent: taken as 0{rotated}, as RELION's getParticleOffset reads it")
    if rot in present:
        notes += [
            f"{label} absent: taken as 0°, as RELION's getSubtomogramMatrix reads it"
            for label in others
            if label not in present
        ]
    elif present & set(others):
        given = "/".join(label for label in others if label in present)
        notes.append(
            f"{given} without {rot}: the origins not rotated, as RELION's getSubtomogramMatrix, which looks for {rot}"
        )
    return notes


def warp_tomograms(names: Iterable[str]) -> list[str]:
    """The tomogram names that are Warp/WarpTools ``.tomostar`` files."""
    return [name for name in names if name.endswith(WARP_SUFFIX)]


def rotation_vectors(matrices: np.ndarray) -> np.ndarray:
    """The rotation vectors (axis times angle, radians) of rotation matrices (n, 3, 3)."""
    cos = np.clip((np.trace(matrices, axis1=1, axis2=2) - 1) / 2, -1.0, 1.0)
    angle = np.arccos(cos)
    skew = np.stack(
        [
            matrices[:, 2, 1] - matrices[:, 1, 2],
            matrices[:, 0, 2] - matrices[:, 2, 0],
            matrices[:, 1, 0] - matrices[:, 0, 1],
        ],
        axis=1,
    )
    sin = np.sin(angle)
    out = np.zeros((len(matrices), 3))
    general = sin > 1e-6
    out[general] = skew[general] * (angle[general] / (2 * sin[general]))[:, None]
    for k in np.flatnonzero(~general & (angle > 1)):  # near 180°: the axis from the diagonal
        m = matrices[k]
        axis = np.sqrt(np.clip((np.diag(m) + 1) / 2, 0, None))
        big = int(np.argmax(axis))
        for j in range(3):
            if j != big:
                axis[j] = np.copysign(axis[j], m[big, j] + m[j, big])
        out[k] = axis / np.linalg.norm(axis) * angle[k]
    return out


def tomogram_poses(angles: np.ndarray, subtomogram_angles: np.ndarray | None) -> np.ndarray:
    """Each particle's pose in the tomogram as a rotation vector, from (n, 3) Euler angles in degrees.

    RELION's ``ParticleSet::getMatrix3x3`` composes ``A_subtomo @ A_particle``: the subtomogram
    matrix (the one that rotates the origins, :func:`subtomogram_matrices`) times the matrix of
    ``rlnAngleRot/Tilt/Psi``. Without subtomogram angles (a file or a row without them) the
    particle's own matrix is the pose.
    """
    pose = subtomogram_matrices(angles[:, 0], angles[:, 1], angles[:, 2])
    if subtomogram_angles is not None:
        subtomo = subtomogram_angles
        pose = subtomogram_matrices(subtomo[:, 0], subtomo[:, 1], subtomo[:, 2]) @ pose
    poses = rotation_vectors(pose)
    unknown = ~np.isfinite(angles).all(axis=1)
    if subtomogram_angles is not None:
        unknown |= ~np.isfinite(subtomogram_angles).all(axis=1)
    poses[unknown] = np.nan  # refused by the job, as a NaN angle is
    return poses
