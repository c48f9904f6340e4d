"""The decisions made on arrays: duplicates, consensus between pickers, filaments, the half-set audit.

Nothing here reads or writes a file: the jobs (:mod:`cryodedup.jobs`) hand these modules arrays
taken from a :class:`~cryodedup.particle_set.ParticleSet`.
"""

__all__ = ["MAX_CENTRE", "SELECTIONS"]

#: Centres and distances beyond this many Å are refused (the core's MAX_COORDINATE): their squares overflow.
MAX_CENTRE = 1e150
#: The sets ``--select`` keeps (:mod:`.selection`): here, as the rule and the options check them on every run.
SELECTIONS = ("greedy", "best-score", "most-particles")
