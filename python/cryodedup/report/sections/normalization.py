"""The section of ``--score-normalize zscore`` (a module of its own: a run without it does not import it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...labels import counted
from .base import Row, Section

__all__ = ["ScoreNormalization"]


@dataclass(frozen=True)
class ScoreNormalization(Section):
    """``--score-normalize zscore``: the groups (an input's picks on one micrograph) scaled, and how.

    ``groups``: the groups with a score; ``mean_ad``: those whose MAD is 0 (more than half their
    scores equal), scaled by their mean absolute deviation x 1.2533; ``constant``: those whose
    scores are all equal, every z-score 0 (their duplicates decided as ties are: input, then row order).
    """

    key: ClassVar[str] = "score_normalization"

    method: str
    groups: int
    mean_ad: int = 0
    constant: int = 0

    def rows(self, unit: str) -> list[Row]:
        """One row: the groups scaled, those scaled by the mean absolute deviation, those all equal."""
        text = (
            f"robust z-scores (median 0, MAD x 1.4826 = 1) within each input's {unit}: "
            f"{counted(self.groups, 'input-' + unit + ' pair')}"
        )
        if self.mean_ad:
            text += (
                f"\n{counted(self.mean_ad, 'pair')} with more than half the scores equal: "
                "scaled by 1.2533 x mean absolute deviation"
            )
        if self.constant:
            text += f"\n{counted(self.constant, 'pair')} with every score equal: all 0 (ties: input, then row order)"
        return [("Score normalization", text)]
