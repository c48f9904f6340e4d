"""The particles of a tilt-series STAR (each one's tilt images), numbered as cryoDRGN-ET or recovar numbers them.

cryoDRGN-ET trains on one row per tilt image and numbers particles, not rows: the rows that share
``rlnGroupName`` (else ``rlnGroupNumber``) are one particle's tilts, the particles numbered in the
order their first row appears (cryodrgn/dataset.py, ``TiltSeriesData.parse_particle_tilt``, at
ml-struct-bio/cryodrgn 5b18c4a). Its ``ind.pkl`` then counts those particles. recovar's
tilt-series analysis numbers the same particles in the sorted order of their ``rlnGroupName``
(``sorted(unique(rlnGroupName))``: recovar/data_io/relion5_cluster_export.py, "original physical
index -> sorted unique flat rlnGroupName", at ma-gilles/recovar 1e66664).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import InputFileError
from .file import StarFile

__all__ = ["tilt_groups"]

#: The columns cryoDRGN-ET groups a particle's tilts by, in its order of preference.
GROUP_LABELS = ("rlnGroupName", "rlnGroupNumber")


def tilt_groups(path: Path, by_name: bool = False) -> tuple[np.ndarray, int]:
    """Each row's particle (0-based) and the number of particles; refused without the column.

    Numbered by first appearance (cryoDRGN-ET's), or with ``by_name`` in the sorted order of the
    ``rlnGroupName`` texts (recovar's, which reads that column alone).
    """
    star = StarFile(path)
    labels = GROUP_LABELS[:1] if by_name else GROUP_LABELS
    block = next((b for b in star.blocks if b.labels is not None and set(labels) & set(b.labels)), None)
    if block is None:
        asked = (
            "recovar's particle indices (--index-of particles-sorted)"
            if by_name
            else ("cryoDRGN-ET's particle indices (--index-of particles)")
        )
        raise InputFileError(
            f"{path}: no {' or '.join(labels)} column: {asked} count the particles these name, one per group of "
            "tilt rows"
        )
    label = next(label for label in labels if label in (block.labels or ()))
    names = star.table(block).column(label)
    _, first, inverse = np.unique(np.asarray(names, dtype=object), return_index=True, return_inverse=True)
    if by_name:  # (numpy's unique sorts the texts as Python's sorted does: by code point)
        return inverse.reshape(-1).astype(np.int64), len(first)
    order = np.argsort(np.argsort(first, kind="stable"), kind="stable")  # (numbered by first appearance)
    return order[inverse.reshape(-1)].astype(np.int64), len(first)
