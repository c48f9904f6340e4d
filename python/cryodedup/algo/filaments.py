"""Filament (helical) segments: which tube each particle belongs to, and the rule the job applies.

Segments along one tube lie closer than any sensible minimum distance by design, so they
are never duplicates of each other; two tubes tracing one filament are (docs/design.md
section 8). A reader gives each particle a tube id with :func:`tube_ids`; the core then
never pairs segments of one tube, and ``--filament-mode`` chooses between removing
duplicate segments (``segment``) and whole tubes (``tube``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MODES", "RULES", "tube_count", "tube_ids"]

MODES = ("segment", "tube")
RULES = {
    "segment": (
        "segments of one tube on one micrograph are never duplicates of each other; a segment is a duplicate "
        "of a better-ranked kept segment of another tube within the minimum distance"
    ),
    "tube": (
        "tubes are ranked by the mean score of their segments; a tube is rejected whole when more than half "
        "of its segments lie within the minimum distance of a segment of a better-ranked kept tube, else kept whole"
    ),
}


def tube_ids(input_of: np.ndarray, groups: np.ndarray, tubes: np.ndarray) -> np.ndarray:
    """One id per (input, micrograph, tube value), from 1; 0 for rows with no tube (NaN).

    RELION numbers tubes per micrograph (tube 1 exists on every micrograph), so the tube
    value alone does not identify a tube; nor does it across inputs.

    Parameters
    ----------
    input_of, groups : numpy.ndarray of int, shape (n,)
        Input and micrograph of each row.
    tubes : numpy.ndarray of float, shape (n,)
        The tube column's value of each row; NaN for a particle of no tube (an input without the column).

    Returns
    -------
    numpy.ndarray of uint32, shape (n,)
    """
    tubes = np.asarray(tubes, dtype=np.float64)
    has_tube = ~np.isnan(tubes)
    keys = np.stack([np.asarray(input_of, dtype=np.float64), np.asarray(groups, dtype=np.float64), tubes], axis=1)
    ids = np.zeros(len(keys), dtype=np.uint32)
    if has_tube.any():
        inverse = np.unique(keys[has_tube], axis=0, return_inverse=True)[1]
        ids[has_tube] = np.asarray(inverse).ravel() + 1
    return ids


def tube_count(ids: np.ndarray) -> int:
    """The tubes among tube ids (:func:`tube_ids`; 0, no tube, is none)."""
    return int(np.unique(ids[ids > 0]).size)
