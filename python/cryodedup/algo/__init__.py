"""The decisions made on arrays: duplicates, consensus between pickers, filaments, the half-set audit.

Nothing here reads or writes a file: the jobs (:mod:`cryodedup.jobs`) hand these modules arrays
taken from a :class:`~cryodedup.particle_set.ParticleSet`.
"""

import numpy as np

__all__ = ["MAX_CENTRE", "SELECTIONS", "core_group_ids"]

#: Centres and distances beyond this many Å are refused (the core's MAX_COORDINATE): their squares overflow.
MAX_CENTRE = 1e150
#: The sets ``--select`` keeps (:mod:`.selection`): here, as the rule and the options check them on every run.
SELECTIONS = ("greedy", "best-score", "most-particles")


def core_group_ids(groups: np.ndarray) -> np.ndarray:
    """Each row's micrograph (group) id as the core takes it: uint32 as it is, else int64; contiguous."""
    return np.ascontiguousarray(groups if groups.dtype == np.uint32 else groups.astype(np.int64, copy=False))
