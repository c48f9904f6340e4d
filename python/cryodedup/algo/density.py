"""Per-micrograph duplicate density: the micrographs whose fraction of duplicate picks stands out.

A picker that stacks many picks on one particle (topaz's extraction radius too small, a
template matching one particle at several offsets, topaz issue 266) does it on some
micrographs more than on others: those show as micrographs whose fraction of picks
rejected as duplicates lies far above the rest. The job names them (the summary, ``--json``
and the report), so that a user looks at them before trusting the picks there.

**The rule.** A micrograph's duplicate fraction is its picks rejected as duplicates (by the
distance rule: not those a consensus rejected) over its picks. Over the micrographs with at
least one pick, take the median and the robust standard deviation (1.4826 x the median
absolute deviation). A micrograph is an outlier when its fraction is above

    median + max(OUTLIER_SDS x robust SD, MIN_EXCESS)

and it has at least ``MIN_DUPLICATES`` duplicate picks. 3.5 robust SD is Iglewicz and
Hoaglin's cut for a modified z-score (a normal sample exceeds it 2.3 times in 10,000);
MIN_EXCESS keeps a set whose micrographs nearly all have the same fraction (often 0, so the
MAD is 0) from naming every micrograph a point above it; MIN_DUPLICATES keeps a micrograph
of a few picks (1 duplicate of 3 is 33 %) from standing out by chance.

**Among micrographs with the same inputs.** Merging two pickers makes duplicates wherever
both picked (that is what merging is for): on the micrographs both ran on, a third of the
picks or more are duplicates, on those only one ran on, a few. Compared all together, every
micrograph of both pickers would be an outlier. So the rule is applied within each cohort of
micrographs on which the same inputs have picks (``input_cohorts``); with one input, or
inputs that all picked every micrograph, the cohort is all the micrographs. A cohort of one
or two micrographs names none (nothing to compare them with).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .histogram import counts_per_group

__all__ = [
    "MIN_DUPLICATES",
    "MIN_EXCESS",
    "OUTLIER_SDS",
    "Density",
    "DensityOutlier",
    "duplicate_density",
    "input_cohorts",
    "outliers",
    "rejected_as_duplicates",
]

#: An outlier's fraction lies more than this many robust SD above the median.
OUTLIER_SDS = 3.5
#: ... and at least this much above it (a fraction: 0.10 is 10 percentage points).
MIN_EXCESS = 0.10
#: An outlier has at least this many duplicate picks.
MIN_DUPLICATES = 5

#: The rule, as the summary states it.
RULE = (
    f"duplicate fraction above the median + max({OUTLIER_SDS:g} robust SD, {MIN_EXCESS:g}), "
    f"with at least {MIN_DUPLICATES} duplicates"
)


def rejected_as_duplicates(
    keep: np.ndarray, unconfirmed: np.ndarray | None, not_confirmable: np.ndarray | None
) -> np.ndarray:
    """The rows the distance rule rejected: not kept, and not those the consensus (--min-support) rejected.

    Every row no duplicate displaced is kept, unconfirmed or not confirmable; the rest are duplicates.
    """
    kept_by_distance = keep.copy()
    for also in (unconfirmed, not_confirmable):
        if also is not None:
            kept_by_distance |= also
    return ~kept_by_distance


def outlier_threshold(fractions: np.ndarray) -> tuple[float, float, float]:
    """The median, robust SD and the threshold above which a fraction is an outlier (fractions not empty)."""
    median = _median(fractions)
    robust_sd = 1.4826 * _median(np.abs(fractions - median))
    return median, robust_sd, median + max(OUTLIER_SDS * robust_sd, MIN_EXCESS)


def _median(values: np.ndarray) -> float:
    """The median, as ``np.median`` gives it, without its import of ``numpy.ma`` (5-15 ms of every run)."""
    ordered = np.sort(values)
    n = len(ordered)
    return float((ordered[(n - 1) // 2] + ordered[n // 2]) / 2)


def input_cohorts(
    groups: np.ndarray, input_of: np.ndarray, n_inputs: int, n_groups: int
) -> tuple[np.ndarray, list[list[int]]] | None:
    """Each micrograph's cohort (one id for the micrographs where the same inputs have picks), each cohort's inputs.

    None when there is one input. Ids number the cohorts in order of their first micrograph.
    """
    if n_inputs < 2:
        return None
    has_picks = np.zeros((n_groups, n_inputs), dtype=bool)
    for k in range(n_inputs):  # one pass an input, without an array of 8 bytes a row
        has_picks[:, k] = counts_per_group(groups, input_of == k, n_groups)[1] > 0
    ids: dict[bytes, int] = {}
    inputs: list[list[int]] = []
    cohorts = np.zeros(n_groups, dtype=np.int64)
    for m, row in enumerate(np.packbits(has_picks, axis=1)):
        key = row.tobytes()
        if key not in ids:
            ids[key] = len(ids)
            inputs.append(np.flatnonzero(has_picks[m]).tolist())
        cohorts[m] = ids[key]
    return cohorts, inputs


def outliers(
    picks: np.ndarray, duplicates: np.ndarray, cohorts: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """The outlying micrographs (worst first: highest fraction, then most duplicates) and the rule's numbers.

    With ``cohorts`` (:func:`input_cohorts`), the rule is applied within each cohort; the numbers
    are those of the cohort with the most micrographs with picks, and when several cohorts have
    picks, ``cohorts`` lists each one's (``cohort``, ``micrographs``, ``median``, ``robust_sd``,
    ``threshold``), largest first, and ``thresholds`` each micrograph's threshold.
    """
    has = np.flatnonzero(picks > 0)
    if not len(has):
        return np.zeros(0, dtype=np.int64), {"median": None, "robust_sd": None, "threshold": None}
    fraction = np.zeros(len(picks))
    fraction[has] = duplicates[has] / picks[has]
    members = [has] if cohorts is None else _members(cohorts, has)
    threshold_of = np.full(len(picks), np.inf)
    found_cohorts: list[dict[str, Any]] = []
    for micrographs in members:
        median, robust_sd, threshold = outlier_threshold(fraction[micrographs])
        threshold_of[micrographs] = threshold
        spread = {"median": round(median, 4), "robust_sd": round(robust_sd, 4), "threshold": round(threshold, 4)}
        found_cohorts.append({"micrographs": len(micrographs), **spread})
        if cohorts is not None:
            found_cohorts[-1]["cohort"] = int(cohorts[micrographs[0]])
    found = has[(fraction[has] > threshold_of[has]) & (duplicates[has] >= MIN_DUPLICATES)]
    found = found[np.lexsort((found, -duplicates[found], -fraction[found]))]
    found_cohorts.sort(key=lambda c: -c["micrographs"])  # stable: ties in order of first micrograph
    numbers: dict[str, Any] = {key: found_cohorts[0][key] for key in ("median", "robust_sd", "threshold")}
    if len(found_cohorts) > 1:
        numbers |= {"cohorts": found_cohorts, "thresholds": threshold_of}
    return found, numbers


def _members(cohorts: np.ndarray, has: np.ndarray) -> list[np.ndarray]:
    """The micrographs of ``has`` in each cohort, cohorts in order of their first micrograph."""
    order = np.argsort(cohorts[has], kind="stable")
    ids = cohorts[has][order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    return [has[np.sort(part)] for part in np.split(order, starts[1:])]


@dataclass(frozen=True)
class DensityOutlier:
    """An outlying micrograph: its picks, duplicates, their fraction (4 places) and, among cohorts, its threshold."""

    micrograph: str
    picks: int
    duplicates: int
    fraction: float
    threshold: float | None = None


@dataclass(frozen=True)
class DensityCohort:
    """The micrographs picked by the same inputs: how many have picks, the rule's numbers there, the inputs."""

    micrographs: int
    median: float
    robust_sd: float
    threshold: float
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class Density:
    """The duplicate density (:func:`duplicate_density`): the rule, its numbers, each outlying micrograph.

    ``median``, ``robust_sd`` and ``threshold`` (None when no micrograph has a pick): those of
    the cohort with the most micrographs with picks; ``cohorts``: each one's, when several have
    picks (None else); the outliers worst first.
    """

    rule: str
    median: float | None
    robust_sd: float | None
    threshold: float | None
    micrographs_with_picks: int
    outliers: tuple[DensityOutlier, ...]
    cohorts: tuple[DensityCohort, ...] | None = None


def duplicate_density(
    groups: np.ndarray,
    duplicate: np.ndarray,
    mic_names: list[str],
    input_of: np.ndarray | None = None,
    inputs: list[str] | None = None,
) -> Density:
    """The summary's duplicate density: the rule, its numbers, and each outlying micrograph.

    ``duplicate`` marks the picks rejected as duplicates. With ``input_of`` and ``inputs``
    (several inputs), the rule is applied among the micrographs with the same inputs; when
    those differ, ``cohorts`` says each group's inputs and numbers, and each outlier its
    ``threshold``. No NaN (None when no micrograph has a pick).
    """
    # Counted in the core in one pass: np.bincount copies the ids to int64 first (8 bytes a particle,
    # the particle job's peak memory at 30M particles and beyond).
    picks, duplicates = counts_per_group(groups, duplicate, len(mic_names))
    names = inputs or []
    cohorts = None if input_of is None else input_cohorts(groups, input_of, len(names), len(mic_names))
    found, numbers = outliers(picks, duplicates, None if cohorts is None else cohorts[0])
    thresholds = numbers.get("thresholds")
    each = None
    if "cohorts" in numbers:
        each = tuple(
            DensityCohort(
                c["micrographs"],
                c["median"],
                c["robust_sd"],
                c["threshold"],
                tuple(names[k] for k in cohorts[1][c["cohort"]]) if cohorts else (),
            )
            for c in numbers["cohorts"]
        )
    return Density(
        rule=RULE + (", among the micrographs with the same inputs" if thresholds is not None else ""),
        median=numbers["median"],
        robust_sd=numbers["robust_sd"],
        threshold=numbers["threshold"],
        micrographs_with_picks=int(np.count_nonzero(picks)),
        outliers=tuple(
            DensityOutlier(
                mic_names[m],
                int(picks[m]),
                int(duplicates[m]),
                round(float(duplicates[m] / picks[m]), 4),
                None if thresholds is None else round(float(thresholds[m]), 4),
            )
            for m in found
        ),
        cohorts=each,
    )
