"""The best selection's section (``--select best-score``, ``most-particles``): how it solved, how it differs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...algo.selection import EXACT_LIMIT, FAILING, MAX_PAIRS, NOT_INSTALLED, SelectionCounts
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
            f"{self.exact:,} solved exactly (up to {self.exact_limit} picks, branch and bound)"
        )
        if self.proven:
            solved += f", {self.proven:,} by {self.solver} (proved optimal)"
        if self.bounded:
            solved += (
                f", {self.bounded:,} by greedy then local swaps{self._bounded_why()}, where "
                f"{counted(self.bounded_kept, 'pick')} were kept of at most {self.bounded_kept_bound:,} "
                f"and a score sum of {self.bounded_score:,.6g} of at most {self.bounded_score_bound:,.6g}"
            )
        if self.walked:
            solved += (
                f"; {counted(self.walked, 'micrograph')} of more than {MAX_PAIRS:,} pairs of duplicates "
                f"({self.walked_picks:,} picks) walked greedily, in bounded memory"
            )
        return [("Selection", f"{self.selection}: {picks}; {score}\n{solved}")]

    def _bounded_why(self) -> str:
        """Why the bounded components were not solved exactly, after "local swaps"."""
        if self.solver == NOT_INSTALLED:
            return " (HiGHS not installed: pip install 'cryodedup[select]' solves them exactly)"
        if self.solver.startswith(FAILING):  # (installed, but it fails: its error)
            error = self.solver[len(FAILING) : -1]
            return f" (highspy is installed but fails, {error}: reinstall 'cryodedup[select]' to solve them exactly)"
        if self.solver:
            return f" ({self.solver} out of time, its bound kept where tighter)"
        return " (too large for HiGHS)"
