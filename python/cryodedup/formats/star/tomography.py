"""Tomography conventions shared by the particle readers (docs/design.md section 7).

RELION 5 rotates a particle's origin by its subtomogram orientation before subtracting it
(``rlnTomoSubtomogramRot/Tilt/Psi``); RELION 4 writes coordinates in tilt-series pixels
(``rlnTomoTiltSeriesPixelSize``); Warp and WarpTools write them in pixels of the exported
tomogram, a size their files do not record. This module holds those rules; the readers
(``formats.star.particles``) decide when they apply.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

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


def warp_tomograms(names: Iterable[str]) -> list[str]:
    """The tomogram names that are Warp/WarpTools ``.tomostar`` files."""
    return [name for name in names if name.endswith(WARP_SUFFIX)]
