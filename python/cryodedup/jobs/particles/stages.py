"""The stages of the particle job that what runs it chooses: how it decides, and how it writes.

The job (``job.py``'s ``run``) reads, checks, decides, writes, summarises and draws in one
order, whoever runs it. A plain run decides on the rows read and writes the set's outputs
(``job.PlainParticleStages``); an ``--update`` round (``update.ParticleRound``, run by ``update.run_round``) decides
against the particles kept by earlier rounds and writes its round files, for the store to
commit once the job is done. The job calls the stages it is given, and knows no more of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    import numpy as np

    from ...particle_set import Log, ParticleSet, Warn
    from .decide import ParticleDecision
    from .plan import Deciding, ParticlePlan
    from .record import RecordFile
    from .regions import Regions

__all__ = ["ParticleStages", "Written"]


class Written(NamedTuple):
    """What the writing stage wrote: the outputs by subset, the seconds it took, the record of rejections."""

    outputs: dict[str, list[str]]
    seconds: float
    #: The record of every rejection (``--decisions``): :func:`.record.table`'s columns, or the file the core
    #: wrote while it scanned (:func:`.record.columns_of` reads it); None without it.
    record: dict | RecordFile | None = None


class ParticleStages(Protocol):
    """How a run decides which rows to keep, and writes what it decided."""

    def decide(self, particles: ParticleSet, rule: Deciding, log: Log, regions: Regions | None) -> ParticleDecision:
        """The decision on the rows read, by the plan's ``rule`` (resolved for them: ``ParticlePlan.for_rows``).

        ``regions``: the rows ``--mask`` and ``--edge`` drop (None: neither).
        """

    def write(
        self,
        particles: ParticleSet,
        decision: ParticleDecision,
        job: ParticlePlan,
        halves: np.ndarray | None,
        warn: Warn,
    ) -> Written:
        """The decision's outputs written as the plan says (``halves``: the half-sets by micrograph, or None)."""
