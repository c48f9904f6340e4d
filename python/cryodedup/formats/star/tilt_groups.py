"""cryoDRGN-ET's particles of a tilt-series STAR: each one's tilt images, as ``cryodrgn filter_star --et`` counts them.

cryoDRGN-ET trains on one row per tilt image and numbers particles, not rows: the rows that share
``rlnGroupName`` (else ``rlnGroupNumber``) are one particle's tilts, the particles numbered in the
order their first row appears (cryodrgn/dataset.py, ``TiltSeriesData.parse_particle_tilt``, at
ml-struct-bio/cryodrgn 5b18c4a). Its ``ind.pkl`` then counts those particles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import InputFileError
from .file import StarFile

__all__ = ["tilt_groups"]

#: The columns cryoDRGN-ET groups a particle's tilts by, in its order of preference.
GROUP_LABELS = ("rlnGroupName", "rlnGroupNumber")


def tilt_groups(path: Path) -> tuple[np.ndarray, int]:
    """Each row's particle (0-based, by first appearance) and the number of particles; refused without the column."""
    star = StarFile(path)
    block = next((b for b in star.blocks if b.labels is not None and set(GROUP_LABELS) & set(b.labels)), None)
    if block is None:
        raise InputFileError(
            f"{path}: no rlnGroupName or rlnGroupNumber column: cryoDRGN-ET's particle indices (--index-of "
            "particles) count the particles these name, one per group of tilt rows"
        )
    label = next(label for label in GROUP_LABELS if label in (block.labels or ()))
    names = star.table(block).column(label)
    _, first, inverse = np.unique(np.asarray(names, dtype=object), return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first, kind="stable"), kind="stable")  # (numbered by first appearance)
    return order[inverse.reshape(-1)].astype(np.int64), len(first)
