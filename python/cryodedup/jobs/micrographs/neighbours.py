"""A pair far above the null at a shift its hole neighbours share: left to check, however weak each neighbour.

A multi-hole session that returns to a hole images it again in the same order, from one stage
position: its re-exposures are as many images apart and share one offset (the real set: 04700..04703
imaged again as 04736..04739, all at (57, -18) px). Noise can leave one of them far above the null
and the others too weak to stand out one by one: the real 52 with noise of twice each image's SD,
seed 4, at 33 Å, 04701/04737 at z 6.43, 8.1 robust SD over the null's median, Pearson 0.064, its
hole neighbours' maps read at its shift 1.6, 2.8 and 2.2 (and 1.2 for the next hole's 04704/04740),
none reaching ``decide.EVIDENCE_SIGMAS`` alone; the run was not even "check".

Their maps at the anchor's shift are looked at once each, not searched: each is the map's own z,
median 0 and SD 1 where the images are unrelated. So their sum over the root of their count
(Stouffer's combined z) is evidence for a pair whose own peak is already far above the null,
taken over the neighbours in the anchor's hole (the highest of the ``per_hole`` windows of
images holding it: where holes begin is not known). Measured on that run, every pair's neighbours
read at its own shift (7,319 maps): of the 1,312 unrelated pairs, 0.08 % reach ``SHARED_SIGMAS``,
the highest 3.72; 04701/04737 3.78. The unrelated pairs far above the null of the real set, clean
and with noise of 1-3 times each image's SD (04744/04745, 04717/04728, 04724/04726, 04707/04728,
04700/04734), stay under it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...labels import counted
from .decide import (
    NULL_SIGMAS,
    PATTERN_SHIFT,
    MicrographOutcome,
    _circular_distance,
    _fft_shape,
    _in_acquisition_order,
    _pattern_neighbours,
)
from .directed import z_at_shift

__all__ = ["look_at_hole_neighbours"]

#: The neighbours' combined z at the anchor's shift, in the anchor's hole, that says they share it.
SHARED_SIGMAS = 3.5

#: At most this many pairs far above the null are looked at (strongest first): each reads up to 2 (per hole - 1)
#: neighbours' images again.
ANCHORS = 8


def look_at_hole_neighbours(names: list[str], outcome: MicrographOutcome, per_hole: int) -> str | None:
    """The pairs far above the null whose hole neighbours, combined, share their shift: left to check; said, or None.

    A pair is far above the null where its peak reaches the null's median + ``decide.NULL_SIGMAS``
    robust SD, away from zero shift (the camera's pattern), with a positive Pearson coefficient,
    neither a duplicate nor left to check already. Its neighbours are the pairs as many images
    apart starting within ``per_hole`` - 1 images of it (``decide._pattern_neighbours``), each
    read again at its shift (``directed.z_at_shift``). Marks them uncertain (and ``decision.shared``).
    """
    decision, scores, plan = outcome.decision, outcome.scores, outcome.plan
    null = decision.null
    if null.median is None or null.robust_sd is None or not len(scores):  # (too few pairs for a null)
        return None
    rank, lo, hi, sign = _in_acquisition_order(plan, scores.pairs)
    period = np.array(_fft_shape(plan), dtype=float)
    shift = np.stack([scores.dy, scores.dx], axis=1)
    with np.errstate(invalid="ignore"):
        far = scores.z >= null.median + NULL_SIGMAS * null.robust_sd
        far &= (scores.pearson > 0) & (_circular_distance(shift, period) > PATTERN_SHIFT)
    far &= ~decision.duplicate & ~decision.uncertain
    anchors = np.flatnonzero(far)
    anchors = np.sort(anchors[np.argsort(-scores.z[anchors], kind="stable")][:ANCHORS])
    if not len(anchors):
        return None
    reference, neighbour = _pattern_neighbours(anchors, lo, hi, len(rank), per_hole)
    if not len(neighbour):
        return None
    at = shift[reference] * (sign[reference] * sign[neighbour])[:, None]  # (each from its earlier image)
    z = z_at_shift(plan, rank, scores.pairs[neighbour], at)
    of, step = np.searchsorted(anchors, reference), lo[neighbour] - lo[reference]
    combined, count = _in_their_hole(of, step, z, len(anchors), per_hole)
    shared = combined >= SHARED_SIGMAS
    if not shared.any():
        return None
    decision.shared = np.zeros(len(decision.joint), dtype=bool)
    decision.shared[anchors[shared]] = True
    decision.uncertain |= decision.shared
    named = [
        f"{Path(names[int(scores.pairs[k, 0])]).name}/{Path(names[int(scores.pairs[k, 1])]).name} z "
        f"{scores.z[k]:.2f} ({(scores.z[k] - null.median) / null.robust_sd:.1f} robust SD), its {int(n)} neighbours "
        f"{c:.1f} combined"
        for k, c, n in sorted(zip(anchors[shared], combined[shared], count[shared]), key=lambda t: -scores.z[t[0]])
    ]
    return (
        f"{counted(int(shared.sum()), 'pair')} far above the null at a shift its hole neighbours share (their maps "
        f"read at it, combined over {SHARED_SIGMAS:g}: {'; '.join(named)}): marked uncertain in pairs.csv; look at "
        "them, re-exposures of one hole their noise weakened"
    )


def _in_their_hole(
    of: np.ndarray, step: np.ndarray, z: np.ndarray, anchors: int, per_hole: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each anchor's neighbours combined in its hole: the highest Stouffer z of the windows holding it, and their count.

    The hole is one of the ``per_hole`` windows of ``per_hole`` images holding the anchor's earlier
    image (where holes begin is not known): each window's neighbours (``step`` images from the
    anchor, ``of`` it) combined as their z's sum over the root of their count, the highest taken.
    The next hole's pairs, unrelated, would dilute the hole's own (the generated session: 2.2, 2.4
    and 2.8 in the hole, 4.3 combined; 2.9 with the three pairs of the holes beside it).
    """
    best, count = np.full(anchors, -np.inf), np.zeros(anchors, dtype=np.int64)
    for start in range(1 - per_hole, 1):
        inside = (step >= start) & (step < start + per_hole)
        total, held = np.bincount(of[inside], z[inside], anchors), np.bincount(of[inside], minlength=anchors)
        combined = np.divide(total, np.sqrt(held), out=np.full(anchors, -np.inf), where=held > 0)
        count = np.where(combined > best, held, count)
        best = np.maximum(best, combined)
    return best, count
