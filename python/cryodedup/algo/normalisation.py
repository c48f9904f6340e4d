"""The score normalisations (``--score-normalize``): one record each, the one table of them.

A normalisation turns the scores the rows were read with into the scores duplicates are
ranked by, input by input. Adding one is adding a record to :data:`NORMALISATIONS` here: the
option's choices and help, the particle job's ranking, the one-pass policy, the summary and
the pickers' scale checks read it from this table (docs/developers/index.md, "Adding a score normalisation").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .species import percentiles_within

__all__ = ["NORMALISATIONS", "normalisation", "option_help"]

#: ``(scores, input_of, higher_is_better) -> (scores ranked by, higher_is_better)``.
Normalise = Callable[[np.ndarray, np.ndarray, bool], tuple[np.ndarray, bool]]


@dataclass(frozen=True)
class Normalisation:
    """One value of ``--score-normalize``.

    ``apply`` gives the scores ranked by (None: the scores as read, no second look at the
    rows, so a plain STAR file may be decided in one pass); ``help`` is the option's words for
    it (None: nothing to say); ``summary`` the summary's ``score.normalized`` (None: not said).
    ``one_scale``: whether the inputs' scores are compared on one scale afterwards, so that
    inputs scored in opposite directions or on different scales are no longer refused or warned of.
    """

    name: str
    apply: Normalise | None = None
    help: str | None = None
    summary: str | None = None
    one_scale: bool = False


def _percentiles(scores: np.ndarray, input_of: np.ndarray, higher_is_better: bool) -> tuple[np.ndarray, bool]:
    """Each score as its percentile within its own input, in (0, 1], higher first (NaN stays NaN)."""
    return percentiles_within(scores, input_of, higher_is_better), True


#: The normalisations by name, the option's default first.
NORMALISATIONS: dict[str, Normalisation] = {
    n.name: n
    for n in (
        Normalisation("none"),
        Normalisation(
            "rank",
            _percentiles,
            "compare each input's scores as percentiles within that input (pickers' scores are not on one scale).",
            "rank: each input's scores as percentiles (1 best)",
            one_scale=True,
        ),
    )
}


def normalisation(name: str) -> Normalisation:
    """The normalisation named ``name`` (the options' check refused any other name already)."""
    return NORMALISATIONS[name]


def option_help() -> str:
    """The option's help: each normalisation that says something, as ``name: words``."""
    return " ".join(f"{n.name}: {n.help}" for n in NORMALISATIONS.values() if n.help)
