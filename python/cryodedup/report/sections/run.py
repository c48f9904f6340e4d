"""The run's own sections: where its time went (:class:`Timings`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Row, Section

__all__ = ["Timings"]


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
