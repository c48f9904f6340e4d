"""Readers and writers of the file formats cryodedup reads and writes, one module a format.

A particle format's module reads its files into a :class:`~cryodedup.particle_set.ParticleSet` and
writes subsets back; nothing here decides which rows to keep: that is the jobs' part
(:mod:`cryodedup.jobs`).
"""

__all__: list[str] = []
