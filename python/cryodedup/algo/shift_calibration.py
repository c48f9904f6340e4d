"""The beam or image shift's calibration (µm per shift unit), inferred from the metadata alone.

At each stage stop a multi-hole collection shifts the beam to the same template of targets;
the next stop is one template further on, so the templates tile the holes: the step between
two stops, in µm, spans the template's extent in shift units plus the gap that continues it
(docs/developers/decisions/micrograph-metadata.md). The metadata screen
(``jobs/micrographs/placement.py``) places each image at its stage position plus its shift times this.
"""

from __future__ import annotations

import numpy as np

from ..errors import CryodedupError
from .neighbours import linked_groups

__all__ = ["infer_calibration"]

#: Stage positions closer than this (µm) are one stage stop (stage read-out scatters by nanometres).
SAME_STOP_UM = 0.3
#: Stage stops whose targets estimate the calibration at most (spread evenly over a larger session).
MAX_ESTIMATES = 5000
#: Estimates of the shift calibration within this fraction of one another agree (one stop's from the next).
AGREE = 0.03
#: A stop whose targets fall in more columns than this is no multi-hole template: no estimate.
MAX_TARGETS = 1000


def stage_stops(stage: np.ndarray) -> np.ndarray:
    """A stop index per acquisition: stage positions within ``SAME_STOP_UM`` are one stop."""
    return linked_groups(stage, SAME_STOP_UM)


def members_of(groups: np.ndarray) -> list[np.ndarray]:
    """The members (ascending) of each group numbered 0, 1, ... (one sort, not a scan per group)."""
    order = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[order], np.arange(int(groups.max()) + 2 if len(groups) else 1))
    return [order[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


def infer_calibration(stage: np.ndarray, shift: np.ndarray, squares: np.ndarray) -> tuple[float, str, str | None]:
    """µm per shift unit, from how the multi-hole template repeats between stage stops.

    At each stage stop the microscope shifts the beam to the same template of targets; the
    next stop is one template further, so the templates tile the holes without overlap or gap.
    Along the step from a stop to its nearest neighbour (stage µm), the targets' shifts project
    onto columns; their gaps repeat with the template's period (one gap with one target per
    hole, the gaps within and between holes with several). The step then spans the columns'
    extent plus the gap that continues the period, in shift units: calibration = step /
    (extent + that gap). The shift's axes are taken as the stage's (as the microscope reports
    them). A session of more than ``MAX_ESTIMATES`` stops is estimated from that many, spread
    evenly over it.

    Each stop's own targets give one estimate. A stop holding fewer than half the usual number
    of targets (a re-exposure, a stop cut short) is neither measured nor taken as a neighbour:
    its short step would make the next stop's estimate a fraction of the truth. The value is
    the median of the largest set of estimates that agree within ``AGREE``; when some stops
    disagree, the third item returned is a warning that says so (else None).
    """
    if not len(shift) or np.abs(shift).max() == 0:
        return 0.0, "no beam or image shift in the metadata: positions are the stage positions", None
    stops = stage_stops(stage)
    members = members_of(stops)
    sizes = np.array([len(m) for m in members])
    template = np.flatnonzero(sizes >= 0.5 * np.median(sizes))
    centres = np.array([stage[m].mean(axis=0) for m in members])
    stop_square = np.array([squares[m[0]] for m in members])
    square_of_stop = np.unique(stop_square, return_inverse=True)[1].reshape(-1)
    in_square = [square[np.isin(square, template)] for square in members_of(square_of_stop)]
    span = float(np.ptp(shift, axis=0).max())
    estimates = []
    spread = np.linspace(0, len(template) - 1, min(len(template), MAX_ESTIMATES)).round().astype(np.int64)
    for s in template[np.unique(spread)]:
        square = in_square[square_of_stop[s]]
        others = square[square != s]
        if not len(others):
            continue
        distance = np.hypot(*(centres[others] - centres[s]).T)
        step = centres[others[np.argmin(distance)]] - centres[s]
        estimate = _calibration_along(step, _distinct(shift[members[s]], span))
        if estimate is not None:
            estimates.append(estimate)
    if not estimates:
        raise CryodedupError(
            "cannot infer the shift calibration: the metadata need at least two stage stops in a grid square, "
            "each with targets at different shifts along the step between them; give --shift-calibration UM_PER_UNIT"
        )
    ordered = np.sort(estimates)
    lo, hi = _agreeing(ordered)
    value = float(np.median(ordered[lo:hi]))
    how = f"inferred from {len(estimates)} stage stops (the shift template tiles the holes from one stop to the next)"
    others = np.r_[ordered[:lo], ordered[hi:]]
    if not len(others):
        return value, how, None
    return (
        value,
        how,
        (
            f"the shift calibration {value:g} µm per unit is inferred from {hi - lo} of {len(estimates)} stage stops "
            f"that agree within {AGREE:.0%}; the other {len(others)} gave {others.min():g} to {others.max():g}: "
            "if duplicates are missed or pairs look wrong, give --shift-calibration UM_PER_UNIT"
        ),
    )


def _agreeing(estimates: np.ndarray) -> tuple[int, int]:
    """The bounds [lo, hi) of the largest run of sorted ``estimates`` within ``AGREE`` of one of them."""
    low = np.searchsorted(estimates, estimates * (1 - AGREE), side="left")
    high = np.searchsorted(estimates, estimates * (1 + AGREE), side="right")
    counts = high - low
    best = np.flatnonzero(counts == counts.max())
    centre = best[len(best) // 2]  # ties: the middle one of the best
    return int(low[centre]), int(high[centre])


def _distinct(shift: np.ndarray, span: float) -> np.ndarray:
    """The distinct shift vectors (those within 1 % of the run's shift ``span`` are one)."""
    groups = linked_groups(shift, 0.01 * span) if span > 0 else np.zeros(len(shift), dtype=np.int64)
    return np.array([shift[m].mean(axis=0) for m in members_of(groups)])


def _calibration_along(step: np.ndarray, targets: np.ndarray) -> float | None:
    """Step length / (extent of the targets' columns along the step + the gap continuing their period)."""
    length = float(np.hypot(*step))
    along = np.sort(targets @ (step / length))
    gaps = np.diff(along)
    if not len(gaps) or gaps.max() <= 0:
        return None
    columns = np.r_[along[0], along[1:][gaps > 0.1 * gaps.max()]]
    gaps = np.diff(columns)
    if not len(gaps) or len(gaps) > MAX_TARGETS:  # (the period search below costs the square of the columns)
        return None
    period = next(
        m
        for m in range(1, len(gaps) + 1)
        if all(abs(gaps[i] - gaps[i + m]) <= 0.15 * max(gaps[i], gaps[i + m]) for i in range(len(gaps) - m))
    )
    continuing = gaps[len(gaps) - period] if period <= len(gaps) else gaps[-1]
    return length / (columns[-1] - columns[0] + continuing)
