"""The best selection (``--select best-score`` or ``most-particles``, issue 69): what it did, and what it refuses.

Greedy (the default) walks the picks from the best ranked: one not yet suppressed is kept and
suppresses its duplicates. The best selection keeps, on each micrograph, the set of largest
total score (or the most picks) with no two duplicates: a maximum-weight independent set of
the graph whose edges join duplicates, solved on each of its connected components in the Rust
core (``rust/core/src/algo/best.rs``): exactly by branch and bound on a component of at most
:data:`EXACT_LIMIT` picks, else by the bounded method (the greedy set improved by local swaps,
never below the greedy set; a clique cover bounds how far below the best it can be), which
:mod:`cryodedup.algo.selection_solver` then hands to HiGHS where installed. A micrograph of more
than :data:`MAX_PAIRS` pairs of duplicates is walked greedily (memory linear in the pairs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import cryodedup._core as _core

from ..errors import CryodedupError

__all__ = [
    "EXACT_LIMIT",
    "FAILING",
    "MAX_PAIRS",
    "NOT_INSTALLED",
    "SelectionCounts",
    "added_selection",
    "failing",
    "refuse_negative_scores",
    "unscored_in_sum",
]

#: The selections ``--select`` names; greedy first (the default).
#: The largest conflict component the core solves exactly (bits of one 128-bit set).
EXACT_LIMIT = 128
#: The most pairs of duplicates a micrograph's conflict graph may hold (16 bytes each while
#: built): a micrograph with more is walked greedily (rust/core/src/algo/best.rs MAX_PAIRS).
MAX_PAIRS = _core.BEST_MAX_PAIRS


@dataclass(frozen=True)
class SelectionCounts:
    """What a best selection did, summed over micrographs.

    ``components``: groups of duplicates joined by the distance (two picks or more);
    ``exact`` of them solved exactly by the core's branch and bound, ``proven`` by HiGHS (proved
    optimal), ``bounded`` by the bounded method (HiGHS out of time, or not installed: ``solver``
    names what was tried on them, "" where none was needed); ``largest`` the picks of the
    largest. ``walked``: groups (micrographs) of more than the core's ``MAX_PAIRS`` pairs of
    duplicates, walked greedily in bounded memory, and ``walked_picks`` their picks.
    ``greedy_kept``/``greedy_score`` the picks the greedy walk keeps and their scores' sum
    (finite scores), ``kept``/``score`` the best selection's. In the
    bounded components: the picks kept and at most how many could be (``bounded_kept_bound``),
    the scores' sum kept and at most how much (``bounded_score_bound``).
    """

    selection: str
    components: int
    exact: int
    bounded: int
    largest: int
    greedy_kept: int
    greedy_score: float
    kept: int
    score: float
    bounded_kept: int = 0
    bounded_kept_bound: int = 0
    bounded_score: float = 0.0
    bounded_score_bound: float = 0.0
    proven: int = 0
    walked: int = 0
    walked_picks: int = 0
    solver: str = ""

    @classmethod
    def from_core(cls, selection: str, counts: _core.BestCounts) -> SelectionCounts:
        """The core's counts, named by ``selection``."""
        assert counts.exact_limit == EXACT_LIMIT, "the core's exact limit is the one the summary states"
        return cls(
            selection,
            int(counts.components),
            int(counts.exact),
            int(counts.bounded),
            int(counts.largest),
            int(counts.greedy_kept),
            float(counts.greedy_score),
            int(counts.kept),
            float(counts.score),
            int(counts.bounded_kept),
            int(counts.bounded_kept_bound),
            float(counts.bounded_score),
            float(counts.bounded_score_bound),
            walked=int(counts.walked),
            walked_picks=int(counts.walked_picks),
        )

    def __add__(self, other: SelectionCounts) -> SelectionCounts:
        """Two decisions' counts (two species') as one."""
        return SelectionCounts(
            self.selection,
            self.components + other.components,
            self.exact + other.exact,
            self.bounded + other.bounded,
            max(self.largest, other.largest),
            self.greedy_kept + other.greedy_kept,
            self.greedy_score + other.greedy_score,
            self.kept + other.kept,
            self.score + other.score,
            self.bounded_kept + other.bounded_kept,
            self.bounded_kept_bound + other.bounded_kept_bound,
            self.bounded_score + other.bounded_score,
            self.bounded_score_bound + other.bounded_score_bound,
            self.proven + other.proven,
            self.walked + other.walked,
            self.walked_picks + other.walked_picks,
            self.solver or other.solver,
        )


def added_selection(first: SelectionCounts | None, then: SelectionCounts | None) -> SelectionCounts | None:
    """The counts of two decisions (e.g. two species') as one."""
    if first is None or then is None:
        return then if first is None else first
    return first + then


#: The solver's name where ``highspy`` is not installed (the summary advises installing it).
NOT_INSTALLED = "none (highspy not installed)"
#: The start of the solver's name where ``highspy`` is installed but fails (:func:`failing`).
FAILING = "none (highspy fails: "


def failing(err: Exception) -> str:
    """The solver's name where highspy is installed but fails: none, and its error in one line."""
    said = " ".join(str(err).split())[:200] or "no message"
    return f"{FAILING}{type(err).__name__}: {said})"


def unscored_in_sum(scores: np.ndarray | None, column: str | None) -> str | None:
    """The warning of picks whose score is NaN or infinite under ``--select best-score``; None without any.

    Such a score is no score, as everywhere in cryodedup (the greedy walk ranks it last): in a sum
    it weighs 0, so a scored duplicate is kept before it, and an infinite score is not "the best".
    """
    if scores is None:
        return None
    unscored = int(scores.size - np.count_nonzero(np.isfinite(scores)))
    if not unscored:
        return None
    picks = f"{unscored:,} pick{'s' * (unscored != 1)}"
    return (
        f"--select best-score: {picks} of {len(scores):,} {'has' if unscored == 1 else 'have'} no score in "
        f"{column or 'the score'} (NaN or infinite), each weighing 0 in the score sum: a duplicate with a score is "
        "kept before it; give every pick a finite score, or --select most-particles to keep the most picks"
    )


def refuse_negative_scores(scores: np.ndarray | None, higher_is_better: bool, column: str | None) -> None:
    """``--select best-score`` needs scores to sum: present, higher better, none below 0.

    A sum of other scores means nothing (a pick below 0 would count against itself); scores that
    are not finite are no score and weigh 0.
    """
    name = column or "a score"
    if scores is None:
        raise CryodedupError(
            "--select best-score sums the picks' scores, and these have none: give --select most-particles"
        )
    if not higher_is_better:
        raise CryodedupError(
            f"--select best-score sums scores where higher is better; {name} ranks lower first: "
            "give --score-normalize rank (percentiles, higher better) or --select most-particles"
        )
    finite = scores[np.isfinite(scores)]
    if finite.size and finite.min() < 0:
        raise CryodedupError(
            f"--select best-score sums scores, and {name} has values below 0 (lowest {finite.min():g}), which a sum "
            "would count against a pick: give --score-normalize rank (percentiles above 0) or --select most-particles"
        )
