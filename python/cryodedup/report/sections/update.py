"""An ``--update`` round's section: the running kept set, and what the particles kept before decided."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Row, Section

__all__ = ["UpdateRound"]


@dataclass(frozen=True)
class UpdateRound(Section):
    """An ``--update`` round: its number, the running kept set, and what the particles kept before decided."""

    key: ClassVar[str] = "update"

    round: int
    running_file: str
    store: str
    kept_before: int
    kept_before_on_these_micrographs: int
    running_kept: int
    rejected_by_kept: int
    would_have_won: int
    message: str

    def rows(self, unit: str) -> list[Row]:
        """One row: the round's message."""
        return [("Update", self.message)]
