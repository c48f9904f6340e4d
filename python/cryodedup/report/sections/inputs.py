"""What the inputs hold and how they were taken: the inputs ``--transform`` moved, the filaments' tubes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

from .base import Row, Section

__all__ = ["Filaments", "MovedInput", "MovedInputs"]


@dataclass(frozen=True)
class MovedInput:
    """One input ``--transform`` moved: the transform, and what its rows in the outputs hold."""

    input: str
    transform: str
    written: str


@dataclass(frozen=True)
class MovedInputs(Section):
    """The inputs ``--transform`` moved, in the inputs' order."""

    key: ClassVar[str] = "transforms"

    moved: tuple[MovedInput, ...]

    def rows(self, unit: str) -> list[Row]:
        """One row: each input moved, one a line."""
        return [("Moved", "\n".join(f"{m.input}: --transform {m.transform}; {m.written}" for m in self.moved))]

    def to_json(self) -> list[dict[str, str]]:
        """A list, one entry per input moved (``input``, ``transform``, ``written``)."""
        return [asdict(m) for m in self.moved]


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
