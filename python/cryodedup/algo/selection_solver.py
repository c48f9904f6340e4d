"""The best selection's bounded components solved by a proven solver (HiGHS, the ``select`` extra).

The core (``rust/core/src/algo/best.rs``) solves a conflict component of at most
:data:`~cryodedup.algo.selection.EXACT_LIMIT` picks exactly by its own branch and bound; a larger
one (or one whose search runs out of branches) it leaves to the bounded method (the greedy set
improved by local swaps) and hands over here, with its pairs, weights and ranks. Each is then
given to HiGHS as an integer program (a pick in or out; the two picks of a pair not both in;
the weights' sum the most) for at most :data:`COMPONENT_SECONDS` (and :data:`TOTAL_SECONDS` a
run): a solution HiGHS proves optimal replaces the bounded set; one it could not prove still
replaces it where heavier, and the component stays bounded, now by HiGHS's own bound on the
best weight (at most the LP relaxation's) where that is tighter than the clique cover's.
Without HiGHS installed the bounded sets stand and the run says so.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from .selection import NOT_INSTALLED, failing

if TYPE_CHECKING:
    import cryodedup._core as _core

    from .selection import SelectionCounts

__all__ = ["solve_open"]

#: HiGHS's time for one component, and for all of a run's, in seconds.
COMPONENT_SECONDS = 30.0
TOTAL_SECONDS = 300.0


def _highs() -> ModuleType | str:
    """The ``highspy`` module, or why not: :data:`~.selection.NOT_INSTALLED`, or :func:`~.selection.failing`'s.

    HiGHS writes a banner to the process's standard output on its first solver made, whatever
    its options (it would break ``--json`` on stdout): that one is made with the output shut.
    An install that imports but fails (its library missing or of another build: an
    ``OSError``, an ``AttributeError``...) leaves the bounded sets, as none would, and says why.
    """
    try:
        import highspy
    except ImportError:
        return NOT_INSTALLED
    except Exception as err:  # (a broken install: whatever its import raises)
        return failing(err)
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs().version()
    except Exception as err:
        return failing(err)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return highspy


def _solve(
    highspy: ModuleType, n: int, pairs: np.ndarray, weights: np.ndarray, seconds: float
) -> tuple[np.ndarray | None, bool, float]:
    """The heaviest independent set of ``n`` picks by HiGHS within ``seconds``.

    Returns (the set or None, whether HiGHS proved it optimal, HiGHS's bound on the best weight).
    """
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)  # (most-particles' rank bonus is far below the default gap)
    h.setOptionValue("time_limit", max(float(seconds), 0.01))
    h.setOptionValue("threads", 1)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, len(pairs)
    lp.col_cost_ = -weights  # (HiGHS minimises)
    lp.col_lower_, lp.col_upper_ = np.zeros(n), np.ones(n)
    lp.row_lower_, lp.row_upper_ = np.full(len(pairs), -np.inf), np.ones(len(pairs))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.arange(0, 2 * len(pairs) + 1, 2, dtype=np.int32)
    lp.a_matrix_.index_ = pairs.ravel().astype(np.int32)
    lp.a_matrix_.value_ = np.ones(2 * len(pairs))
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    bound = -float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else np.inf
    if info.primal_solution_status != 2:  # (no feasible solution found in the time)
        return None, False, bound
    chosen = np.asarray(h.getSolution().col_value) > 0.5
    proven = status == highspy.HighsModelStatus.kOptimal
    return chosen, proven, bound


def _maximal_and_partners(n: int, pairs: np.ndarray, keep: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Makes ``keep`` maximal, and returns each rejected pick's best-ranked kept neighbour (-1 kept).

    Best-ranked first, a pick with no kept neighbour joins (one of weight 0 may be left out).
    """
    both = np.concatenate([pairs, pairs[:, ::-1]])
    order = np.argsort(both[:, 0], kind="stable")
    starts = np.searchsorted(both[order, 0], np.arange(n + 1))
    adjacent = both[order, 1]
    alone = ~keep & (np.bincount(both[keep[both[:, 1]], 0], minlength=n) == 0)
    for v in sorted(np.flatnonzero(alone), key=lambda v: position[v]):
        if not keep[adjacent[starts[v] : starts[v + 1]]].any():
            keep[v] = True
    partner = np.full(n, -1, np.int64)
    rejected_side = both[~keep[both[:, 0]] & keep[both[:, 1]]]
    if len(rejected_side):
        by_rank = rejected_side[np.lexsort((position[rejected_side[:, 1]], rejected_side[:, 0]))]
        first = np.unique(by_rank[:, 0], return_index=True)[1]
        partner[by_rank[first, 0]] = by_rank[first, 1]
    return partner


def solve_open(
    counts: SelectionCounts,
    open_components: _core.OpenComponents,
    keep: np.ndarray,
    suppressed_by: np.ndarray | None,
    scores: np.ndarray | None,
) -> SelectionCounts:
    """Solves the core's bounded components by HiGHS, in place in ``keep`` and ``suppressed_by``.

    Returns ``counts`` with the components HiGHS proved optimal moved from ``bounded`` to
    ``proven``, the picks kept and scores summed as now kept, and the bounds of those still
    bounded tightened by HiGHS's own; ``solver`` names what decided them.
    """
    member_starts = np.asarray(open_components.member_starts)
    if len(member_starts) < 2:
        return counts
    highspy = _highs()
    if isinstance(highspy, str):
        return replace(counts, solver=highspy)
    members, pair_starts = np.asarray(open_components.members), np.asarray(open_components.pair_starts)
    all_pairs = np.asarray(open_components.pairs).reshape(-1, 2)
    finite = np.zeros(len(keep)) if scores is None else np.where(np.isfinite(scores), scores, 0.0)
    deadline = time.monotonic() + TOTAL_SECONDS
    c = replace(counts, solver=f"HiGHS {highspy.Highs().version()}")
    for k in range(len(member_starts) - 1):
        seconds = min(COMPONENT_SECONDS, deadline - time.monotonic())
        if seconds <= 0:
            break
        lo, hi = int(member_starts[k]), int(member_starts[k + 1])
        rows, pairs = (
            members[lo:hi].astype(np.int64),
            all_pairs[int(pair_starts[k]) : int(pair_starts[k + 1])].astype(np.int64),
        )
        weights, position = np.asarray(open_components.weights)[lo:hi], np.asarray(open_components.position)[lo:hi]
        was = np.asarray(open_components.keep)[lo:hi]
        chosen, proven, bound = _solve(highspy, len(rows), pairs, weights, seconds)
        if chosen is None:  # (nothing found in the time)
            chosen = was
        independent = not (chosen[pairs[:, 0]] & chosen[pairs[:, 1]]).any()
        better = independent and weights[chosen].sum() > weights[was].sum() * (1 + 1e-12)
        now = chosen.copy() if better else was.copy()
        partner = _maximal_and_partners(len(rows), pairs, now, position)
        keep[rows] = now
        if suppressed_by is not None:
            suppressed_by[rows] = np.where(now, -1, rows[np.maximum(partner, 0)])
        kept_was, kept_now = int(was.sum()), int(now.sum())
        score_was, score_now = float(finite[rows[was]].sum()), float(finite[rows[now]].sum())
        c = replace(c, kept=c.kept + kept_now - kept_was, score=c.score + score_now - score_was)
        if proven and independent:
            c = replace(
                c,
                proven=c.proven + 1,
                bounded=c.bounded - 1,
                bounded_kept=c.bounded_kept - kept_was,
                bounded_kept_bound=c.bounded_kept_bound - int(open_components.kept_bound[k]),
                bounded_score=c.bounded_score - score_was,
                bounded_score_bound=c.bounded_score_bound - float(open_components.score_bound[k]),
            )
        else:
            c = _tightened(c, k, open_components, bound, weights, kept_was, kept_now, score_was, score_now)
    if c.bounded == 0:  # (the sums' rounding left by the subtractions)
        c = replace(c, bounded_kept=0, bounded_kept_bound=0, bounded_score=0.0, bounded_score_bound=0.0)
    return c


def _tightened(
    c: SelectionCounts,
    k: int,
    open_components: _core.OpenComponents,
    bound: float,
    weights: np.ndarray,
    kept_was: int,
    kept_now: int,
    score_was: float,
    score_now: float,
) -> SelectionCounts:
    """``c`` with component ``k`` still bounded: what it keeps now, and HiGHS's ``bound``.

    HiGHS's bound on the best weight is taken where tighter than the clique cover's (best-score:
    the weights are the scores; picks: at most the bound over the lightest pick's weight).
    """
    kept_bound, score_bound = int(open_components.kept_bound[k]), float(open_components.score_bound[k])
    lightest = float(weights.min())
    new_kept_bound = (
        min(kept_bound, int(bound / lightest + 1e-9)) if lightest > 0 and np.isfinite(bound) else kept_bound
    )
    new_score_bound = min(score_bound, bound) if c.selection == "best-score" else score_bound
    return replace(
        c,
        bounded_kept=c.bounded_kept + kept_now - kept_was,
        bounded_kept_bound=c.bounded_kept_bound - kept_bound + new_kept_bound,
        bounded_score=c.bounded_score + score_now - score_was,
        bounded_score_bound=c.bounded_score_bound - score_bound + new_score_bound,
    )
