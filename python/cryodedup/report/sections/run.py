"""The run's own: its time (:class:`Timings`), its files (:class:`Outputs`), its top-level values (:class:`Overview`).

(:class:`Overview` is no section: the document holds its values as keys of its own.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from .base import Row, Section
from .readers import ReadersFound

__all__ = ["Outputs", "Overview", "Timings"]


@dataclass(frozen=True)
class Timings(Section):
    """Where the time went, in seconds (3 places); decided and written while read (``one_pass``): ``read`` holds all."""

    key: ClassVar[str] = "timings"

    read: float
    decide: float
    write: float
    one_pass: bool

    def rows(self, unit: str) -> list[Row]:
        """None of its own: the run's time row says it, with the run's seconds (``report.summary.particle_time``)."""
        return []


@dataclass(frozen=True)
class Outputs(Section):
    """The files written, by subset (``kept``, ``rejected`` ...), in the writer's order; none with ``--audit``."""

    key: ClassVar[str] = "outputs"

    by_subset: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def of(cls, written: dict[str, list[str]]) -> Outputs:
        """The section of the files a writer gives back, by subset."""
        return cls(tuple((subset, tuple(files)) for subset, files in written.items()))

    def files(self, subset: str) -> tuple[str, ...]:
        """The files of ``subset``; none when it was not written."""
        return next((files for name, files in self.by_subset if name == subset), ())

    def rows(self, unit: str) -> list[Row]:
        """None of its own: the files rows say them with a copick project's writing (``report.summary.output_rows``)."""
        return []

    def to_json(self) -> dict[str, list[str]]:
        """The files by subset: ``{"kept": [...], "rejected": [...]}``."""
        return {subset: list(files) for subset, files in self.by_subset}


class Overview(NamedTuple):
    """The run's top-level values as the report says them: its counts, its distance and mode, its time, what was read.

    Not a section (the document holds them as keys of its own): the summary gives it
    (:meth:`~cryodedup.jobs.particles.summary.ParticleSummary.overview`), built from its fields.
    """

    particles: int
    kept: int
    rejected: int
    micrographs: int
    tomography: bool = False
    min_dist_A: float | None = None
    min_dist_z_A: float | None = None
    mode: str | None = None
    orientations: str | None = None
    seconds: float = 0.0
    micrograph_images: str | None = None
    read: ReadersFound = ReadersFound()

    @property
    def unit(self) -> str:
        """What the micrographs are: tomograms where the centres are 3-D."""
        return "tomogram" if self.tomography else "micrograph"
