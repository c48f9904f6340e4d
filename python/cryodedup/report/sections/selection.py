"""The best selection's section (``--select best-score``, ``most-particles``): how it solved, how it differs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...algo.selection import EXACT_LIMIT, SelectionCounts
from ...labels import counted
from .base import Row, Section

__all__ = ["BestSelection"]


@dataclass(frozen=True)
class BestSelection(SelectionCounts, Section):
    """What ``--select`` kept, beside what the greedy default keeps on the same picks.

    The fields of :class:`~cryodedup.algo.selection.SelectionCounts` (``kept``/``score``
    against ``greedy_kept``/``greedy_score``; the groups of duplicates, ``components``, solved
    ``exact``ly or ``bounded``, and in the bounded ones what was kept and at most what could be),
    and ``exact_limit``: the most picks a group solved exactly may have.
    """

    key: ClassVar[str] = "selection"

    exact_limit: int = EXACT_LIMIT

    def rows(self, unit: str) -> list[Row]:
        """One row: the selection against greedy (picks and score sum), then how its components were solved."""
        against = f"{self.kept - self.greedy_kept:+,} against greedy's {self.greedy_kept:,}"
        picks = f"{counted(self.kept, 'pick')} kept ({against})"
        gain = self.score - self.greedy_score
        score = f"score sum {self.score:,.6g} ({gain:+,.6g} against greedy's {self.greedy_score:,.6g})"
        solved = (
            f"{counted(self.components, 'group')} of duplicates, largest {self.largest:,} picks: "
            f"{self.exact:,} solved exactly (up to {self.exact_limit} picks)"
        )
        if self.bounded:
            solved += (
                f", {self.bounded:,} by greedy then local swaps, where {counted(self.bounded_kept, 'pick')} were kept "
                "of at most "
                f"{self.bounded_kept_bound:,} and a score sum of {self.bounded_score:,.6g} of at most "
                f"{self.bounded_score_bound:,.6g}"
            )
        return [("Selection", f"{self.selection}: {picks}; {score}\n{solved}")]
