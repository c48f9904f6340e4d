"""What the particle job's stages hand on (``job.PlainParticleStages``, the job's ``shape.Stages``).

The job's five stages (``jobs/shape.py``) each take the plan and what the stages before gave:
``read`` gives a :class:`ParticleRead` (the rows, the plan resolved for them, what the registration
and the regions found, the output folder), ``decide`` a :class:`ParticleDecided`, ``write`` a
:class:`ParticleWritten` (what it wrote, where, and ``--plot``'s drawing, joined by ``report``);
``summarise`` counts the summary from them. A runner that decides or writes
otherwise (an ``--update`` round, a shard, the shards' merge) runs a subclass of the plain stages
that overrides how the rows are decided and written (``decide_rows``, ``write_rows``), which give
a decision and a :class:`Written`; the stages around them are the plain run's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import numpy as np

    from ...formats.star.tomograms import Tomograms
    from ...particle_set import ParticleSet
    from ...report.sections.registration import MovedInputs, Registration
    from .decide import ParticleDecision
    from .overrides import Forced
    from .plan import ParticlePlan
    from .record import RecordFile
    from .regions import Regions
    from .summary import ParticleSummary

__all__ = ["ParticleDecided", "ParticleRead", "ParticleWritten", "Written"]


class ParticleRead(NamedTuple):
    """What the reading stage gives: the rows, the plan resolved for them, and what was read beside them."""

    particles: ParticleSet
    #: The plan resolved for the rows read (``ParticlePlan.for_rows``: each species' distance ...).
    job: ParticlePlan
    registration: Registration | None = None
    transforms: MovedInputs | None = None
    #: The tomograms STAR and the rows ``--mask`` and ``--edge`` drop, read before deciding (no file read there).
    tomograms: Tomograms | None = None
    regions: Regions | None = None
    #: ``--overrides``' file matched to the rows (None: not given).
    forced: Forced | None = None
    #: The output folder, checked (None: data in memory, or no folder given).
    folder: Path | None = None


class ParticleDecided(NamedTuple):
    """What the deciding stage gives: the decision, and the half-sets by micrograph (``--halfsets micrograph``)."""

    decision: ParticleDecision
    halves: np.ndarray | None = None


class Written(NamedTuple):
    """What the rows' writing wrote: the outputs by subset, and the record of rejections."""

    outputs: dict[str, list[str]]
    #: The record of every rejection (``--decisions``): :func:`.record.table`'s columns, or the file the core
    #: wrote while it scanned (:func:`.record.columns_of` reads it); None without it.
    record: dict | RecordFile | None = None


class ParticleWritten(NamedTuple):
    """What the writing stage gives: what it wrote and where, and ``--plot``'s drawing (on a thread until joined)."""

    written: Written
    folder: Path | None = None
    #: ``--plot``: joins the drawing, giving the summary naming the pictures (None: nothing drawn).
    plotted: Callable[[ParticleSummary], ParticleSummary] | None = None
