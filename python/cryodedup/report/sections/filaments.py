"""The filaments' section: the tubes the particles lie on (``--filament-mode``).

Its own module: only runs on helical segments make it (each section's class costs start-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Row, Section

__all__ = ["Filaments"]


@dataclass(frozen=True)
class Filaments(Section):
    """The tubes the particles lie on (``--filament-mode``): the column naming them, how many, the mode and its rule."""

    key: ClassVar[str] = "filaments"

    column: str
    tubes: int
    mode: str
    rule: str

    def rows(self, unit: str) -> list[Row]:
        """One row: the tubes, their column, the mode and its rule."""
        tubes = f"{self.tubes:,} tube{'' if self.tubes == 1 else 's'}"
        return [("Filaments", f"{tubes} ({self.column}), mode {self.mode}: {self.rule}")]
