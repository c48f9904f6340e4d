"""The ranking's sections: the score the rows were ranked by, the inputs' priority."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ...labels import counted
from .base import Row, Section

__all__ = ["Score"]


@dataclass(frozen=True)
class Score(Section):
    """The ranking: the score column and its order (a random order without one), and how the scores were compared.

    ``normalized``: the normalisation's words (``--score-normalize``); ``scale``: the inputs'
    scores compared as read though on different scales; ``without_score``: picks without one
    (ranked last; weighing 0 where ``summed``, ``--select best-score``); ``ties_by_input_order``: the
    groups tied on the score that the inputs' order decided.
    """

    key: ClassVar[str] = "score"

    column: str | None
    order: str
    normalized: str | None = None
    scale: str | None = None
    without_score: int = 0
    ties_by_input_order: int = 0
    summed: bool = False

    @property
    def ties_message(self) -> str:
        """The groups the inputs' order decided, and what decides them instead."""
        return (
            f"{counted(self.ties_by_input_order, 'group')} tied on the score: decided by input order; --prefer chooses"
        )

    def rows(self, unit: str) -> list[Row]:
        """One row: the column and its order, its normalisation, the picks without one, the ties."""
        text = f"{self.column} ({self.order} first)" if self.column else self.order
        if self.normalized:
            text += f"; {self.normalized}"
        if self.scale:
            text += f"; {self.scale} (--score-normalize rank)"
        if self.without_score:
            fate = " (NaN or infinite): weigh 0 in the score sum" if self.summed else ": ranked last"
            text += f"\n{counted(self.without_score, 'pick')} without a score{fate}"
        if self.ties_by_input_order:
            text += f"\n{self.ties_message}"
        return [("Score", text)]

    def to_json(self) -> dict[str, Any]:
        """``column``, ``order``; ``normalized``, ``scale``, ``without_score`` and ``ties`` where they apply."""
        document: dict[str, Any] = {"column": self.column, "order": self.order}
        if self.normalized is not None:
            document["normalized"] = self.normalized
        if self.scale is not None:
            document["scale"] = self.scale
        if self.without_score:
            document["without_score"] = self.without_score
        if self.ties_by_input_order:
            document["ties"] = {
                "groups": self.ties_by_input_order,
                "decided_by": "input order",
                "message": self.ties_message,
            }
        return document
