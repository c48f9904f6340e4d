"""The score normalisations (``--score-normalize``): one record each, the one table of them.

A normalisation turns the scores the rows were read with into the scores duplicates are
ranked by, input by input. Adding one is adding a record to :data:`NORMALISATIONS` here: the
option's choices and help, the particle job's ranking, the one-pass policy, the summary and
the pickers' scale checks read it from this table (docs/developers/index.md, "A score normalisation").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .species import percentiles_within

__all__ = [
    "NORMALISATIONS",
    "Normalisation",
    "labels",
    "normalisation",
    "option_help",
    "robust_zscores",
    "zscore_counts",
]

#: ``(scores, by, higher_is_better) -> (scores ranked by, higher_is_better)``; ``by``: each row's
#: input (or its input and micrograph, as :attr:`Normalisation.per_micrograph` asks).
Normalise = Callable[[np.ndarray, np.ndarray, bool], tuple[np.ndarray, bool]]

#: The robust SD of a normal distribution's sample is its MAD times this (1 / Phi^-1(3/4)).
MAD_TO_SD = 1.4826
#: ... and its mean absolute deviation times this (sqrt(pi / 2)): the scale where the MAD is 0.
MEAN_AD_TO_SD = 1.2533


@dataclass(frozen=True)
class Normalisation:
    """One value of ``--score-normalize``.

    ``apply`` gives the scores ranked by (None: the scores as read, no second look at the
    rows, so a plain STAR file may be decided in one pass); ``help`` is the option's words for
    it (None: nothing to say); ``summary`` the summary's ``score.normalized`` (None: not said).
    ``one_scale``: whether the inputs' scores are compared on one scale afterwards, so that
    inputs scored in opposite directions or on different scales are no longer refused or warned of.
    ``per_micrograph``: ``apply`` is given each row's input and micrograph as one label (each
    input's picks on each micrograph or tomogram normalised on their own), not its input alone.
    """

    name: str
    apply: Normalise | None = None
    help: str | None = None
    summary: str | None = None
    one_scale: bool = False
    per_micrograph: bool = False


def _percentiles(scores: np.ndarray, input_of: np.ndarray, higher_is_better: bool) -> tuple[np.ndarray, bool]:
    """Each score as its percentile within its own input, in (0, 1], higher first (NaN stays NaN)."""
    return percentiles_within(scores, input_of, higher_is_better), True


def _zscores(scores: np.ndarray, by: np.ndarray, higher_is_better: bool) -> tuple[np.ndarray, bool]:
    """Each score as a robust z-score within its ``by`` (an input's micrograph), better higher (NaN stays NaN)."""
    z = robust_zscores(scores, by).z
    return (z if higher_is_better else -z), True


@dataclass(frozen=True)
class ZScores:
    """Robust z-scores and how their groups were scaled.

    ``z``: (score - median) / (MAD x :data:`MAD_TO_SD`) within each group, NaN where the
    score is not finite; ``groups``: the groups with a finite score; ``mean_ad``: those whose
    MAD is 0 (more than half their scores equal), scaled by their mean absolute deviation x
    :data:`MEAN_AD_TO_SD` instead; ``constant``: those whose scores are all equal, every z 0.
    """

    z: np.ndarray
    groups: int
    mean_ad: int
    constant: int


def robust_zscores(scores: np.ndarray, by: np.ndarray) -> ZScores:
    """Scores shifted to median 0 and scaled to robust SD 1 within each label of ``by`` (:class:`ZScores`).

    Scores that are not finite (no score: RELION's -999 read as NaN) are left out of their
    group's median and spread, and stay NaN (ranked last). The finite scores are put in the
    order of their groups once, for the medians and the absolute deviations' medians alike.
    """
    scores = np.asarray(scores, dtype=np.float64)
    z = np.full(scores.shape, np.nan)
    rows = np.flatnonzero(np.isfinite(scores))
    if rows.size == 0:
        return ZScores(z, 0, 0, 0)
    group = _dense(np.asarray(by)[rows])
    # (fewer than 65,536 groups, most often: numpy sorts 16-bit whole numbers by radix, 8x faster)
    key = group.astype(np.uint16) if int(group.max()) < 2**16 else group
    by_group = np.argsort(key, kind="stable")
    rows, group = rows[by_group], group[by_group]
    values = scores[rows]
    centre = _medians(values, group)
    deviation = np.abs(values - centre[group])
    mad = _medians(deviation, group) * MAD_TO_SD
    n = np.bincount(group)
    mean_ad = np.bincount(group, weights=deviation) / n * MEAN_AD_TO_SD
    scale = np.where(mad > 0, mad, mean_ad)
    constant = scale == 0
    z[rows] = (values - centre[group]) / np.where(constant, 1.0, scale)[group]
    return ZScores(z, int(n.size), int(((mad == 0) & ~constant).sum()), int(constant.sum()))


def zscore_counts(z: np.ndarray, by: np.ndarray) -> tuple[int, int, int]:
    """:class:`ZScores`' counts (groups, mean_ad, constant) told from the z-scores alone, with no sort.

    A group's MAD is 0 exactly when more than half its deviations are 0, which is when at least
    n // 2 + 1 of its z-scores are 0 (a score at the median: z exactly 0); all of them: constant.
    """
    rows = np.flatnonzero(np.isfinite(z))
    if rows.size == 0:
        return 0, 0, 0
    group = _dense(np.asarray(by)[rows])
    n = np.bincount(group)
    zeros = np.bincount(group, weights=z[rows] == 0).astype(np.int64)
    constant = zeros == n
    return int(n.size), int(((zeros >= n // 2 + 1) & ~constant).sum()), int(constant.sum())


def _dense(labels: np.ndarray) -> np.ndarray:
    """``labels`` renumbered 0, 1, ... in their order (by a table where they are few: no sort)."""
    top = int(labels.max())
    if labels.min() < 0 or top > 4 * labels.size:
        return np.unique(labels, return_inverse=True)[1]
    present = np.bincount(labels, minlength=top + 1) > 0
    return (np.cumsum(present) - 1)[labels]


def _medians(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """The median of ``values`` within each group ``0 .. group.max()`` (every group holds a value).

    ``group`` ascending (the rows in the order of their groups). Groups of 20 rows or more on
    average (an input's picks on a micrograph, most often): each group's median found by a
    partial sort of its slice. Many small groups: one sort of a key of whole numbers (group x n
    + the value's rank), the loop over groups being then dearer than a sort of the values.
    """
    n = np.bincount(group)
    start = np.cumsum(n) - n
    if n.size * 20 <= values.size:
        return np.array([np.median(values[a : a + k]) for a, k in zip(start.tolist(), n.tolist())])
    n_rows = values.size
    rank = np.empty(n_rows, dtype=np.int64)
    rank[np.argsort(values)] = np.arange(n_rows)
    ordered = values[np.argsort(group.astype(np.int64) * n_rows + rank)]
    return (ordered[start + (n - 1) // 2] + ordered[start + n // 2]) / 2


#: The normalisations by name, the option's default first.
NORMALISATIONS: dict[str, Normalisation] = {
    n.name: n
    for n in (
        Normalisation("none"),
        Normalisation(
            "rank",
            _percentiles,
            "compare each input's scores as percentiles within that input (pickers' scores are not on one scale; "
            "a copick pick set's, each copick object apart).",
            "rank: each input's scores as percentiles (1 best)",
            one_scale=True,
        ),
        Normalisation(
            "zscore",
            _zscores,
            "each input's scores on each micrograph or tomogram shifted to median 0 and scaled to robust SD 1 "
            "(MAD x 1.4826, as WarpTools normalises template-matching scores), the better higher; where more than "
            "half a micrograph's scores are equal, its mean absolute deviation x 1.2533 scales them, and equal "
            "scores all become 0 (a copick pick set's, each copick object apart).",
            "zscore: robust z-scores within each input's micrograph (higher best)",
            one_scale=True,
            per_micrograph=True,
        ),
    )
}


def normalisation(name: str) -> Normalisation:
    """The normalisation named ``name`` (the options' check refused any other name already)."""
    return NORMALISATIONS[name]


def labels(
    entry: Normalisation, input_of: np.ndarray, groups: np.ndarray, species: np.ndarray | None = None
) -> np.ndarray:
    """What ``entry.apply`` normalises within: each row's input, or its input and micrograph as one number.

    ``species``: each row's, where the rows of several species are labelled at once (each species is
    decided on its own, so its rows are normalised among themselves).
    """
    if not entry.per_micrograph:
        return input_of
    label = np.asarray(input_of, dtype=np.int64) * (int(groups.max(initial=0)) + 1) + groups
    if species is not None:
        label = label * (int(species.max(initial=0)) + 1) + species
    return label


def option_help() -> str:
    """The option's help: each normalisation that says something, as ``name: words``."""
    return " ".join(f"{n.name}: {n.help}" for n in NORMALISATIONS.values() if n.help)
