"""What the inputs hold and how they were taken: each input's counts, those ``--transform`` moved, the tubes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from ...labels import input_labels
from .base import Row, Section

__all__ = ["InputCounts", "Inputs", "Shift"]


@dataclass(frozen=True)
class InputCounts:
    """One input: its file (or a copick project's pick set), its particles, those kept and rejected."""

    file: str
    particles: int
    kept: int

    @property
    def rejected(self) -> int:
        """Its particles not kept."""
        return self.particles - self.kept


@dataclass(frozen=True)
class Inputs(Section):
    """Each input's particles, kept and rejected, in the inputs' order (every document holds them)."""

    key: ClassVar[str] = "inputs"

    each: tuple[InputCounts, ...]

    @property
    def several(self) -> bool:
        """Whether the run joined several inputs (each then named where its numbers differ)."""
        return len(self.each) > 1

    def rows(self, unit: str) -> list[Row]:
        """One row per input, labelled by what tells it apart, when there are several; none for one."""
        if not self.several:
            return []
        labels = input_labels([i.file for i in self.each])
        return [
            (f"  {label}", f"{i.particles:,} in, {i.kept:,} kept, {i.rejected:,} rejected")
            for label, i in zip(labels, self.each)
        ]

    def to_json(self) -> list[dict[str, Any]]:
        """A list, one entry per input: ``file``, ``particles``, ``kept``, ``rejected``."""
        return [{**asdict(i), "rejected": i.rejected} for i in self.each]


@dataclass(frozen=True)
class Shift(Section):
    """The shift subtracted from the coordinates, as the reader says it (origins, CryoSPARC's slots, none)."""

    key: ClassVar[str] = "shift"

    subtracted: str

    def rows(self, unit: str) -> list[Row]:
        """One row: the shift."""
        return [("Shift", self.subtracted)]

    def to_json(self) -> str:
        """The words, as a string."""
        return self.subtracted
