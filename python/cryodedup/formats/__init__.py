"""The file formats: each module reads its files into a :class:`~cryodedup.model.ParticleSet` and writes subsets back.

Nothing here decides which rows to keep: that is the jobs' part (:mod:`cryodedup.jobs`).
"""
