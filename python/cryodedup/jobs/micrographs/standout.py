"""The pairs standing out over the run's null: what a run that cannot be trusted saw, named.

A screen blind at its scale (``power.py``) used to refuse with no pair named, though its own
strongest pairs were the answer: the real 52 micrographs with noise of twice each image's SD at
11 Å, seed 1, 04700/04736 and 04701/04737 at z 6.46 and 6.25 (8.2 and 7.2 robust SD over the
null's median 4.64, robust SD 0.222), both at (56-57, -18) px, the next unrelated pair 7.4 robust
SD at a shift of its own. A pair stands out where its peak is ``EVIDENCE_SIGMAS`` robust SD over
the null's median, away from zero shift (the camera's pattern); pairs standing out at one shift
(each as the earlier image to the later, within ``ONE_SHIFT`` binned px, at the map's nearest
wrap-around alias) are named first: re-exposures of one hole share it.

A run of fewer than ``decide.NULL_PAIRS`` pairs has no null to set a threshold with, but the
median and robust SD of its own pairs still say which stands out (the real set, 5 images with
one re-exposure at twice the noise: 04700/04736 5.6 robust SD over its 9 others); under
``FEWEST`` pairs nothing is named.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .decide import EVIDENCE_SIGMAS, PATTERN_SHIFT, MicrographDecision, _circular_distance, _fft_shape
from .decide import _in_acquisition_order as in_acquisition_order
from .plan import ScoringPlan
from .score import ScoredPairs

__all__ = ["StandingOut", "standing_out"]

#: Shifts within this many binned pixels (the larger component) are one shift.
ONE_SHIFT = 2.0

#: Fewer pairs than this name none: their median and spread say nothing.
FEWEST = 6

#: How a pair standing out at one shift with another is said.
AGREEING = ", at one shift with another"

#: At most this many pairs are named on the terminal (``--json`` lists up to ``LISTED``).
NAMED = 4
LISTED = 20


@dataclass(frozen=True)
class Pair:
    """One pair standing out: its names and indices, z, robust SD over the null, Pearson, shift, how many agree."""

    name_a: str
    name_b: str
    index_a: int
    index_b: int
    z: float
    robust_sd_over_null: float
    pearson: float | None
    shift_x_px: int
    shift_y_px: int
    agreeing: int

    def said(self) -> str:
        """The pair as the refusal names it."""
        return (
            f"{self.name_a}/{self.name_b} z {self.z:.2f} ({self.robust_sd_over_null:.1f} robust SD, shift x "
            f"{self.shift_x_px}, y {self.shift_y_px} px{AGREEING if self.agreeing else ''})"
        )


@dataclass(frozen=True)
class StandingOut:
    """The pairs standing out over the null (indices into the run's scored pairs), strongest first, and the null."""

    pairs: np.ndarray
    median: float
    robust_sd: float
    #: The first ``LISTED`` of them, as ``--json`` lists them.
    rows: list[Pair]

    def said(self) -> str:
        """One sentence naming the strongest (those at one shift first), for the refusal's line."""
        null = f"the null's median z {self.median:.2f} + {EVIDENCE_SIGMAS:g} robust SD ({self.robust_sd:.3f})"
        if not len(self.pairs):
            return f"No pair stands out over {null}"
        named = "; ".join(pair.said() for pair in self.rows[:NAMED])
        more = f" and {len(self.pairs) - NAMED} more (--json: standing_out)" if len(self.pairs) > NAMED else ""
        return f"Pairs standing out over {null}, to check: {named}{more}"

    def to_json(self) -> list[dict[str, Any]]:
        """The pairs named, up to ``LISTED``: names, z, robust SD over the null, shift in micrograph px, agreeing."""
        return [asdict(pair) for pair in self.rows]


def standing_out(
    names: list[str], scores: ScoredPairs, decision: MicrographDecision, plan: ScoringPlan
) -> StandingOut | None:
    """The pairs whose peak stands ``EVIDENCE_SIGMAS`` robust SD over the null, away from zero shift; None: too few.

    The null is the run's (its pairs whose images do not agree) where it has one, else its pairs' own.
    """
    z = scores.z
    finite = z[np.isfinite(z)]
    if len(finite) < FEWEST:
        return None
    median, sd = decision.null.median, decision.null.robust_sd
    if median is None or sd is None:
        median = float(np.median(finite))
        sd = 1.4826 * float(np.median(np.abs(finite - median)))
    _, _, _, sign = in_acquisition_order(plan, scores.pairs)
    shift = np.stack([scores.dy * sign, scores.dx * sign], axis=1)
    period = np.array(_fft_shape(plan), dtype=float)
    with np.errstate(invalid="ignore"):
        away = _circular_distance(shift, period) > PATTERN_SHIFT
        found = np.flatnonzero((z >= median + EVIDENCE_SIGMAS * sd) & away & ~decision.duplicate & (sd > 0))
    near = _circular_distance(shift[found, None] - shift[None, found], period) <= ONE_SHIFT
    agreeing = near.sum(axis=1) - 1
    order = np.lexsort((-z[found], (agreeing == 0).astype(int)))  # (at one shift first, then by z)
    found, agreeing = found[order], agreeing[order]
    rows = [_row(names, scores, plan, int(k), median, sd, int(n)) for k, n in zip(found[:LISTED], agreeing)]
    return StandingOut(found, round(median, 2), round(sd, 3), rows)


def _row(
    names: list[str], scores: ScoredPairs, plan: ScoringPlan, k: int, median: float, sd: float, agreeing: int
) -> Pair:
    """One pair as ``--json`` lists it: as pairs.csv's shift (micrograph px, the core's sign, toward zero)."""
    a, b = (int(m) for m in scores.pairs[k])
    pearson = float(scores.pearson[k])
    return Pair(
        Path(names[a]).name, Path(names[b]).name, a, b,
        z=round(float(scores.z[k]), 2),
        robust_sd_over_null=round((float(scores.z[k]) - median) / sd, 1),
        pearson=round(pearson, 4) if np.isfinite(pearson) else None,
        shift_x_px=int(scores.dx[k]) * plan.binning,
        shift_y_px=int(scores.dy[k]) * plan.binning,
        agreeing=agreeing,
    )  # fmt: skip
