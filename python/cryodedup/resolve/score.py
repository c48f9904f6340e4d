"""The score a job ranks duplicates by: ``--score`` and ``--score-order`` for every format.

``--score none``, ``auto`` (the first score the format knows that every input has) or a
named column, and whether higher is better (``--score-order``, else what is known of the
column). Each format says what it has and words the outcome for its files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "NO_AUTO_SCORE",
    "UNDECIDED_BY_PREFER",
    "UNKNOWN_COLUMN",
    "UNKNOWN_ORDER",
    "Score",
    "resolve_score",
    "score_direction",
]

#: Score columns whose higher values mean a better particle (RELION and CryoSPARC names).
HIGHER_IS_BETTER = (
    "rlnAutopickFigureOfMerit",
    "rlnMaxValueProbDistribution",
    "rlnLogLikeliContribution",
    "rlnLCCmax",  # pytom-match-pick's template-matching score (its local cross-correlation peak)
    "pick_stats/ncc_score",
)
#: Score columns whose lower values mean a better particle.
LOWER_IS_BETTER = ("alignments2D/error", "alignments3D/error", "alignments2D/error_min", "alignments3D/error_min")

#: What :func:`resolve_score` could not settle (``Score.problem``).
NO_AUTO_SCORE, UNKNOWN_COLUMN, UNKNOWN_ORDER = "no auto score", "unknown column", "unknown order"
#: The words of the random-ranking warning with --prefer: the groups it decides keep the preferred particle.
UNDECIDED_BY_PREFER = "that --prefer leaves undecided "


def score_direction(label: str, score_order: str = "auto") -> bool | None:
    """Whether higher scores are better.

    ``score_order`` ``max`` or ``min`` when given, else what is known of the column
    ``label``; None when it is not known.
    """
    if score_order != "auto":
        return score_order == "max"
    if label in HIGHER_IS_BETTER:
        return True
    if label in LOWER_IS_BETTER:
        return False
    return None


@dataclass(frozen=True)
class Score:
    """The score a job ranks duplicates by, as :func:`resolve_score` chose it.

    ``label`` None ranks by a seeded random order. ``problem`` (one of ``NO_AUTO_SCORE``,
    ``UNKNOWN_COLUMN``, ``UNKNOWN_ORDER``) says what the user must be told; the format words
    it, naming its own files, and decides whether it is a warning or an error.
    """

    label: str | None
    higher_is_better: bool = True
    problem: str | None = None


def resolve_score(
    score: str,
    score_order: str,
    auto: Sequence[str],
    has: Callable[[str], bool],
    known: Mapping[str, bool] | None = None,
) -> Score:
    """The one resolution of ``--score`` and ``--score-order`` for every format.

    ``auto`` lists the format's scores in order of preference, ``has`` says whether every
    input has a column, and ``known`` gives the format's own directions (Dynamo's
    cross-correlations, a picker's own score), used when ``--score-order`` is ``auto``.
    """
    if score == "none":
        return Score(None)
    if score == "auto":
        label = next((column for column in auto if has(column)), None)
        if label is None:
            return Score(None, problem=NO_AUTO_SCORE)
    else:
        label = score
        if not has(label):
            return Score(label, problem=UNKNOWN_COLUMN)
    own = (known or {}).get(label) if score_order == "auto" else None
    higher = own if own is not None else score_direction(label, score_order)
    if higher is None:
        return Score(label, problem=UNKNOWN_ORDER)
    return Score(label, higher)
