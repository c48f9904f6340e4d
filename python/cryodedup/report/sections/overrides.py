"""The overrides' section (``--overrides``): the corrections a run applied, and those naming nothing."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from ...labels import counted
from .base import Row, Section

__all__ = ["Overrides"]


@dataclass(frozen=True)
class Overrides(Section):
    """``--overrides``: the file, its particle lines applied, what they decided, and the lines naming nothing.

    ``applied``: the particle lines matched to a row; ``forced_kept`` and ``forced_rejected``: the
    rows they forced; ``rejected_by_forced``: the rows within the distance of a forced keep (rejected
    by it, rule ``override``); ``naming_nothing``: the lines naming nothing in the inputs (``line N:
    why``, a warning); ``pair_lines``: the lines of micrograph pairs (the micrograph job's).
    """

    key: ClassVar[str] = "overrides"

    file: str
    applied: int
    forced_kept: int
    forced_rejected: int
    rejected_by_forced: int
    naming_nothing: tuple[str, ...]
    pair_lines: int

    def rows(self, unit: str) -> list[Row]:
        """One row: what the file forced, and what it named that the inputs do not hold."""
        text = (
            f"{counted(self.applied, 'particle line')} of {self.file} applied: {self.forced_kept:,} forced kept, "
            f"{self.forced_rejected:,} forced rejected, {counted(self.rejected_by_forced, 'particle')} rejected "
            "within the distance of a forced keep"
        )
        if self.naming_nothing:
            text += f"\n{counted(len(self.naming_nothing), 'line')} naming nothing in the inputs"
        return [("Overrides", text)]

    def to_json(self) -> dict[str, Any]:
        """Its fields in order, the lines naming nothing as a list (as ``--json`` prints them)."""
        return {**asdict(self), "naming_nothing": list(self.naming_nothing)}
