"""Decide which scored pairs are duplicates, and group them: the first acquisition of a group is kept.

:func:`decide_run` is the job's decision, for one run and for a merge of shards alike: the
shards' scores combined in acquisition order, each pair decided (:func:`decide`), and each
micrograph's group (:func:`group_duplicates`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import cryodedup._core as _core

from ...report.micrograph_sections import Margin, MicrographVerdict, NullRule, Thresholds
from .directed import z_at_shift
from .pattern import shared_shift_group
from .placement import Placement, linked_roots
from .plan import DecisionRules, ScoringPlan
from .power import Power, screen_power
from .score import ScoredPairs, ShardScores, combine_shards

__all__ = [
    "COMMON_CAUSES",
    "EVIDENCE_SIGMAS",
    "NULL_SIGMAS",
    "PATTERN_SHIFT",
    "UNCERTAIN",
    "MicrographDecision",
    "MicrographOutcome",
    "_circular_distance",
    "_fft_shape",
    "_in_acquisition_order",
    "_pattern_neighbours",
    "decide_run",
    "group_duplicates",
    "judge_power",
    "near_the_edge",
    "verdict",
]

#: The z threshold is this many robust standard deviations above the run's typical pair.
NULL_SIGMAS = 8.0

#: Below this many scored pairs the run's own null is not estimated: --min-z alone.
NULL_PAIRS = 30


#: A pair whose joint score lies within this factor of 1 (either side) is "uncertain".
UNCERTAIN = 1.25

#: A z this many times the run's z threshold stands far above its null: no chance peak, no
#: shared pattern away from zero shift reaches it (docs/developers/decisions/micrograph-screen.md).
FAR = 1.5

#: A peak within this many binned pixels of zero shift is where a camera's pattern or a shared
#: illumination puts the peak of unrelated images.
PATTERN_SHIFT = 2


#: An overlap holding fewer than this many cells of the band's coarsest detail (highpass²) is
#: too small for its Pearson coefficient to say anything (unrelated pairs reach 0.3 there).
THIN_CELLS = 4


#: A run is not trusted when its margin is under UNCERTAIN, at least UNTRUSTED_UNCERTAIN pairs
#: are uncertain and its duplicate and uncertain pairs together are at least UNTRUSTED_SHARE of
#: the pairs scored: re-exposures are a few pairs standing apart, not a continuum.
UNTRUSTED_UNCERTAIN = 10
UNTRUSTED_SHARE = 0.01


#: A peak this many robust SD of the run's null above its median is evidence of its own: the
#: null's peaks, maxima of ~1e5 values, pass it in about 0.5 % of unrelated pairs.
EVIDENCE_SIGMAS = 4.0


#: How far (binned pixels) a peak that is no evidence of its own may lie from a confirmed
#: re-exposure's shift and be taken as at it (its rounding, a pixel).
WEAK_SHIFT = 1.0


#: Pairs under the thresholds whose peaks, each evidence of its own, agree on one shift within
#: ``WEAK_SHIFT`` with no confirmed pair there: at least this many make a pattern (the real set
#: with noise of twice each image's SD: 3 re-exposures at one shift, none found; the unrelated
#: pairs of the real set, clean and noisy, gather at most 1 away from zero shift, 2 beside it).
AGREEING_PAIRS = 3


#: As many images apart (a hole imaged again in order), this many agreeing make a pattern.
AGREEING_APART = 2


#: More are asked for where the run's evidence peaks are so many that chance would gather
#: ``AGREEING_PAIRS`` at one shift (peaks spread evenly over the map) in this share of runs,
#: and none as many images apart where chance would put ``AGREEING_APART`` there so often.
AGREEING_CHANCE = 0.01


#: At least this share of the pairs peaking at one shift (within ``WEAK_SHIFT``) is a pattern common to
#: the images, not re-exposures: re-exposures are a few pairs (the real set: 4 of 1,326; within a pixel of
#: any one shift at most 0.3 % of its pairs at 12-20 Å, 7 % at 40 Å), and a pattern that lifts most pairs
#: over the thresholds leaves no null to set them. Most pairs agreeing at shifts of their own is not one:
#: windows of one area overlapping each other (tests/jobs/micrographs/test_micrograph_job.py).
COMMON = 0.5


#: What a pattern common to every image is, as the refusal and the warning name it.
COMMON_CAUSES = (
    "a gain reference missing or wrong, fixed-pattern noise, a carbon edge or ice gradient every image shares"
)


@dataclass(frozen=True)
class DecisionSummary:
    """What the summary says of the decision: the thresholds, the pairs left to check, the margin, the verdict.

    ``reconsidered``: how many pairs each rule of every binning changed (None: decided by the positions).
    """

    thresholds: Thresholds
    uncertain_pairs: int
    margin: Margin
    reconsidered: dict[str, int] | None
    verdict: MicrographVerdict


@dataclass
class MicrographDecision:
    """What was decided about each scored pair, and why."""

    duplicate: np.ndarray  # bool per pair
    uncertain: np.ndarray  # bool per pair: within UNCERTAIN of the boundary
    joint: np.ndarray  # min(z / z threshold, Pearson / Pearson threshold); >= 1 is a duplicate
    min_z: float  # the z threshold the run used
    min_pearson: float
    null: NullRule  # how the z threshold was found
    #: The run's verdict: None when trusted, else why the decision cannot be trusted.
    untrusted: str | None = None
    #: How many pairs each rule of every binning changed: pattern, thin overlap, far above the null.
    rules: dict[str, int] | None = None
    undecided: np.ndarray | None = None  # (far above the null, away from zero shift, no duplicate: ``undecided``)
    #: The pairs at the shift of confirmed re-exposures as many images apart (:func:`at_confirmed_shift`).
    at_shift: np.ndarray | None = None
    #: The pairs under the thresholds agreeing on one shift with no confirmed pair (:func:`at_one_shift`).
    one_shift: np.ndarray | None = None
    #: What says a pattern common to the images, not re-exposures, lies under the scores (:func:`common_pattern`).
    pattern: str | None = None
    #: The input indices of the images holding it, when only a group of them does (:func:`group_pattern`).
    pattern_images: np.ndarray | None = None
    #: Why a re-exposure of these images would score under the thresholds (``power.Power.blind``), or None.
    blind: str | None = None
    power: Power | None = None  # (what a re-exposure of these images would score, where estimated)
    turned: np.ndarray | None = None  # (the pairs a turn of one image lifts: ``turned.look_at_turns``)
    shared: np.ndarray | None = None  # (far above the null at its hole neighbours' shift: ``neighbours``)
    screened: np.ndarray | None = None  # (the screen's own duplicate, where --overrides changed some: the margin's)

    def summary(self) -> DecisionSummary:
        """The summary's fields of the decision: thresholds, uncertain count, margin, rules' changes, verdict."""
        uncertain = int(self.uncertain.sum())
        return DecisionSummary(
            thresholds=self.thresholds(),
            uncertain_pairs=uncertain,
            margin=self.margin(),
            reconsidered=self.rules,
            verdict=MicrographVerdict.judged(self.untrusted is None, self.untrusted, check=uncertain),
        )

    def thresholds(self) -> Thresholds:
        """The z and Pearson thresholds (and, with every binning's rules, the z far above the null), or the distance."""
        if self.null.radius_um is not None:  # (--no-images: decided by the positions)
            return Thresholds(self.null, distance_um=self.null.radius_um)
        z_far = round(self.min_z * FAR, 2) if self.rules is not None else None
        return Thresholds(self.null, round(self.min_z, 2), self.min_pearson, z_far)

    def margin(self) -> Margin:
        """The weakest duplicate and the strongest other pair, joint scores, and their ratio.

        The strongest other pair is said to be uncertain where it is: a margin measured against a
        pair left to check is no gap between re-exposures and the rest. The screen's (``screened``): a
        pair the user marked duplicate is none it found, one marked distinct still one.
        """
        dup = self.joint[duplicate := self.duplicate if self.screened is None else self.screened]
        others = int((~duplicate).sum())
        other = np.where(~duplicate & np.isfinite(self.joint), self.joint, -np.inf)
        weakest = float(dup.min()) if len(dup) else None
        strongest = float(other.max()) if np.isfinite(other).any() else None
        strongest_uncertain = strongest is not None and bool(self.uncertain[int(np.argmax(other))])
        ratio = weakest / strongest if weakest is not None and strongest is not None and strongest > 0 else None
        return Margin(
            weakest_duplicate=None if weakest is None else round(weakest, 3),
            strongest_other=None if strongest is None else round(strongest, 3),
            ratio=None if ratio is None else round(ratio, 2),
            others=others,
            radius_um=self.null.radius_um,
            strongest_uncertain=strongest_uncertain,
        )


@dataclass
class MicrographOutcome:
    """A run decided: how it was scored, the scores of every pair, each pair's decision, each micrograph's group."""

    plan: ScoringPlan
    #: The shards the pairs were scored in (one, or those a merge reads), with what reading cost.
    shards: list[ShardScores]
    scores: ScoredPairs
    decision: MicrographDecision
    #: Each micrograph's place in acquisition order (the number of micrographs where it was not read).
    rank: np.ndarray
    #: The micrograph of each one's group that was acquired first: itself where it is kept.
    root: np.ndarray

    @property
    def keep(self) -> np.ndarray:
        """Whether each micrograph is kept (the first acquisition of its group)."""
        return self.root == np.arange(len(self.root))


def decide_run(
    n_mics: int,
    plan: ScoringPlan,
    shards: list[ShardScores],
    rules: DecisionRules,
    placement: Placement | None,
) -> MicrographOutcome:
    """The decision of a run scored in ``shards`` (one, or those a merge reads): pairs, then groups.

    With images, a duplicate's neighbours in its hole are read again (:func:`look_at_confirmed_shift`).
    """
    scores = combine_shards(plan, shards)
    positions = plan.positions
    rank = np.full(n_mics, n_mics)
    rank[positions] = np.arange(len(positions))
    decision = decide(scores, rules, placement, plan)
    if not rules.by_position:
        looked = look_at_confirmed_shift(decision, scores, plan, rules.images_per_hole)
        if looked.any():
            decision.at_shift = looked | (decision.at_shift if decision.at_shift is not None else False)
            decision.uncertain |= looked
            decision.untrusted = why_untrusted(decision, scores, plan)
        beside = look_beside_strong_peaks(decision, scores, plan, rules.images_per_hole)
        if beside.any():
            decision.one_shift = beside | (decision.one_shift if decision.one_shift is not None else False)
            decision.uncertain |= beside
            decision.untrusted = why_untrusted(decision, scores, plan)
    root = group_duplicates(n_mics, scores.pairs, decision.duplicate, rank)
    return MicrographOutcome(plan, shards, scores, decision, rank, root)


def judge_power(outcome: MicrographOutcome, rules: DecisionRules) -> None:
    """Where the scores leave the run trusted, whether a re-exposure of its images would have passed the thresholds.

    Up to ``power.SAMPLE`` images read again: blind where a re-exposure scores under the threshold (not if one passed).
    """
    decision, plan = outcome.decision, outcome.plan
    if rules.by_position or decision.untrusted is not None:
        return
    decision.blind = blank_images(outcome.scores, plan)  # (blind to what such an image holds)
    decision.untrusted = decision.blind
    if decision.untrusted is not None or decision.duplicate.any():
        return
    decision.power = screen_power(plan)
    decision.blind = decision.power.blind(decision.min_z, plan.binned_psize)
    decision.untrusted = decision.blind


def blank_images(scores: ScoredPairs, plan: ScoringPlan) -> str | None:
    """The micrographs no pair could compare (a constant image: every map of theirs flat, z 0), said; or None.

    A re-exposure of such an image would be missed, so the run cannot be TRUSTED about it.
    """
    z = np.r_[scores.z, scores.z]
    ends = np.r_[scores.pairs[:, 0], scores.pairs[:, 1]]
    if not len(ends):
        return None
    compared = np.zeros(int(ends.max()) + 1, dtype=bool)
    np.logical_or.at(compared, ends, z != 0)
    blank = np.setdiff1d(np.flatnonzero(~compared), np.setdiff1d(np.arange(len(compared)), ends))
    if not len(blank):
        return None
    names = ", ".join(Path(plan.paths[int(m)]).name for m in blank[:3]) + (", ..." if len(blank) > 3 else "")
    return (
        f"{len(blank):,} micrograph{'s hold' if len(blank) > 1 else ' holds'} a constant image ({names}): compared "
        "with nothing (every map flat, z 0), a re-exposure of it would be missed; remove it from the input"
    )


def decide(
    scores: ScoredPairs,
    rules: DecisionRules,
    placement: Placement | None,
    plan: ScoringPlan | None = None,
) -> MicrographDecision:
    """Which scored pairs are duplicates, which are near the boundary, and the run's margin.

    From the images: the joint score min(z / T_z, Pearson / T_p) is at least 1. T_z is --min-z
    or, when higher, the median z plus ``NULL_SIGMAS`` robust standard deviations (1.4826 x
    MAD) of the run's pairs whose images do not agree (Pearson under T_p): their z is the run's
    own null, which a camera's fixed pattern or aligned filaments lift above any fixed
    threshold. T_p is --min-pearson: it rejects a high peak that is not an overlap (a fixed
    pattern correlates unrelated images at zero shift with a Pearson coefficient near 0).
    At a coarse binning the Pearson coefficient stops telling (:func:`every_binning`): a pair
    far above the null is a duplicate whatever its Pearson coefficient, and one at zero shift
    or over a thin overlap must be far above it. The run's verdict (:func:`verdict`) says
    when the decision as a whole cannot be trusted.
    From the metadata alone (--no-images): positions at most half the beam diameter apart
    (the later exposure's centre lay in the earlier one's beam); the joint score is then half
    the beam diameter over the distance.
    """
    if rules.by_position and placement is not None:
        radius = placement.beam_diameter / 2
        distance = placement.distance(scores.pairs)
        joint = radius / np.maximum(distance, 1e-9)
        return _decision(joint, float("nan"), float("nan"), NullRule("distance", radius_um=round(radius, 4)))
    z, pearson = scores.z, scores.pearson
    # The null is taken from the pairs whose images do not agree at the found shift (Pearson under
    # its threshold, or not computed): a set made mostly of re-exposures does not lift it.
    unrelated = ~(pearson >= rules.min_pearson)
    threshold, null = z_threshold(z[unrelated], rules.min_z)
    with np.errstate(invalid="ignore", divide="ignore"):
        joint = np.minimum(z / threshold, np.where(np.isfinite(pearson), pearson, -np.inf) / rules.min_pearson)
    changed = None
    if plan is not None:
        joint, changed = every_binning(joint, scores, plan, threshold, rules.min_pearson)
    decision = _decision(joint, threshold, rules.min_pearson, null)
    decision.rules = changed
    if plan is not None:
        decision.undecided = undecided(decision, scores)
        decision.at_shift = at_confirmed_shift(decision, scores, plan, rules.images_per_hole)
        decision.one_shift = at_one_shift(decision, scores, plan)
        decision.uncertain |= decision.undecided | decision.at_shift | decision.one_shift
        decision.pattern = common_pattern(scores, plan)
        if decision.pattern is None:
            decision.pattern, decision.pattern_images = group_pattern(scores, decision.duplicate)
        residue = _pattern_residue(decision, scores, plan)
        decision.duplicate &= ~residue
        decision.uncertain |= residue
    decision.untrusted = why_untrusted(decision, scores, plan)
    return decision


def why_untrusted(decision: MicrographDecision, scores: ScoredPairs, plan: ScoringPlan | None) -> str | None:
    """Why the decision cannot be trusted: a pattern common to the images, the bulk cut, pairs undecided; or None."""
    if decision.pattern is not None:
        removed = plan is not None and plan.pattern is not None
        stays = "; it stays after the mean of the normalised binned images was removed" if removed else ""
        return f"{decision.pattern}: a pattern common to the images ({COMMON_CAUSES}), not re-exposures{stays}"
    return verdict(decision) or undecided_verdict(decision, scores)


def common_pattern(scores: ScoredPairs, plan: ScoringPlan) -> str | None:
    """What says the scores are a pattern common to the images, not re-exposures; or None.

    Re-exposures are a few pairs standing apart from a null of unrelated ones. A picture every
    image holds (a gain reference's pattern, an ice gradient) makes every pair agree at one
    shift, zero for a camera's (the real set with a smoothed field of 0.1-0.3 of each image's
    SD added: all 1,326 pairs at (0, 0), z 13-130): ``COMMON`` of the pairs at one shift is
    such a pattern. Under ``NULL_PAIRS`` pairs the run is too small to tell.
    """
    pairs = len(scores)
    if pairs < NULL_PAIRS:
        return None
    shared, (dy, dx) = _most_at_one_shift(scores, _fft_shape(plan))
    if shared >= COMMON * pairs:
        return f"{shared:,} of the {pairs:,} pairs peak at one shift (x {dx}, y {dy} binned px)"
    return None


def group_pattern(scores: ScoredPairs, duplicate: np.ndarray) -> tuple[str | None, np.ndarray | None]:
    """What says a group of the images shares a pattern (``pattern.shared_shift_group``), and the group; or None twice.

    The real set with a field of 0.2-0.3 of each image's SD added to 3, 5 or 26 of its 52
    micrographs: every pattern pair (3, 10, 325) at (0, 0), the 4 re-exposures, two images each,
    at (57, -18). Under ``NULL_PAIRS`` pairs the run is too small to tell it from a hole imaged again.
    """
    if len(scores) < NULL_PAIRS:  # (too small to tell, as common_pattern)
        return None, None
    found = shared_shift_group(
        scores.pairs[duplicate], np.stack([scores.dy, scores.dx], axis=1)[duplicate], scores.pearson[duplicate]
    )
    if found is None:
        return None, None
    images, (dy, dx), pairs = found
    return (
        f"{len(images)} micrographs are all duplicates of each other at one shift (x {dx}, y {dy} binned px; "
        f"{pairs} pairs)"
    ), images


def _pattern_residue(decision: MicrographDecision, scores: ScoredPairs, plan: ScoringPlan) -> np.ndarray:
    """The duplicate pairs of two images of a group whose pattern was removed: left to check, not rejected.

    The pattern of a few images, estimated from them, holds some of their own content: its
    removal can leave a pair of them over the thresholds (the real set, a field on 3 images at
    12 Å: one pair at (0, -3), z 23.6, Pearson 0.08), which the scores no longer tell from a re-exposure.
    """
    images = getattr(plan.pattern, "images", None)
    if images is None:
        return np.zeros(len(decision.duplicate), dtype=bool)
    return decision.duplicate & np.isin(scores.pairs, images).all(axis=1)


def every_binning(
    joint: np.ndarray, scores: ScoredPairs, plan: ScoringPlan, min_z: float, min_pearson: float
) -> tuple[np.ndarray, dict[str, int]]:
    """The joint score refined where a coarse binning makes the Pearson coefficient mislead.

    At 40-55 Å per pixel the band holds the ice, the illumination and the camera's pattern more
    than the specimen: a true re-exposure's Pearson coefficient falls under --min-pearson
    (0.0997 at 44 Å for z 30, every other pair's z at most 7.6), unrelated images agree at
    zero shift (Pearson 0.83) and over a thin overlap (0.30 over 11 %). So, with
    T_far = ``FAR`` x the z threshold:

    - a pair at zero shift (within ``PATTERN_SHIFT`` binned pixels) or over a thin overlap
      (fewer than ``THIN_CELLS`` cells of the band's coarsest detail) is a duplicate only if
      its z also passes T_far (and, at zero shift, its Pearson coefficient T_p);
    - any other pair whose z passes T_far with a positive Pearson coefficient is one.

    The first rule reconsiders only the pairs the joint score puts at or above the uncertain
    band, the second only those under its top whose far score reaches the band: every other
    pair (every pair of a clear run) keeps its joint score. Returns the joint scores and how
    many pairs each rule changed.
    """
    z, pearson, overlap = scores.z, scores.pearson, scores.overlap
    far = min_z * FAR
    positive = np.isfinite(pearson) & (pearson > 0)
    with np.errstate(invalid="ignore"):
        pattern = np.maximum(np.abs(scores.dy), np.abs(scores.dx)) <= PATTERN_SHIFT
        ny, nx = plan.shape[0] // plan.binning, plan.shape[1] // plan.binning
        cell = (plan.band[1] / plan.binned_psize) ** 2
        thin = overlap * ny * nx < THIN_CELLS * cell  # (NaN overlap: no Pearson, not thin)
        far_score = np.where(positive, z / far, -np.inf)
        far_score = np.where(pattern, np.minimum(far_score, pearson / min_pearson), far_score)
        doubtful = (pattern | thin) & (joint >= 1 / UNCERTAIN)
        refined = np.where(doubtful, np.minimum(joint, far_score), joint)
        lifted = ~pattern & (far_score >= 1 / UNCERTAIN) & (far_score > refined) & (refined < UNCERTAIN)
        refined = np.where(lifted, far_score, refined)
    changed = refined != joint
    rules = {
        "zero_shift": int((changed & pattern).sum()),
        "thin_overlap": int((changed & thin & ~pattern & ~lifted).sum()),
        "far_above_null": int((changed & lifted).sum()),
    }
    return refined, rules


def undecided(decision: MicrographDecision, scores: ScoredPairs) -> np.ndarray:
    """The pairs far above the null and away from zero shift that are not duplicates.

    Their peak reaches ``FAR`` x the z threshold, which no chance peak reaches and, away from
    zero shift, no camera pattern, but their images do not agree at the found shift: their
    scores do not decide them, and they are named (uncertain) rather than dropped.
    """
    with np.errstate(invalid="ignore"):
        pattern = np.maximum(np.abs(scores.dy), np.abs(scores.dx)) <= PATTERN_SHIFT
        return (scores.z >= decision.min_z * FAR) & ~pattern & ~decision.duplicate


def at_confirmed_shift(
    decision: MicrographDecision, scores: ScoredPairs, plan: ScoringPlan, per_hole: int
) -> np.ndarray:
    """The pairs as many images apart as a duplicate pair whose peak lies at its shift.

    A multi-hole session that returns to a hole images it again in the same order: its
    re-exposures are as many images apart and at one shift (the real set: 4 pairs 36 apart at
    (57, -18) px). A pair as many images apart as a duplicate whose peak lands at its shift, as
    the core placed it or at a wrap-around alias of it (a peak too weak for the Pearson test is
    not unwrapped), is a re-exposure its noise weakened more likely than chance:

    - anywhere in the run, within the band's finest detail (its lowpass, in binned pixels), if
      its peak is evidence of its own (``EVIDENCE_SIGMAS`` above the null's median, a positive
      Pearson coefficient);
    - in the duplicate's hole (starting within ``per_hole`` - 1 images of it), whatever its
      peak, within ``WEAK_SHIFT`` pixel (the real set with noise: z 4.2-4.9 at 30-44 Å, the
      null's median 4.1, yet at the shift or a pixel off; an unrelated pair's peak lands there
      in about 9 of 128 x 192 cells at 44 Å, and a duplicate has at most 6 such neighbours).

    Such a pair is left for the user to check (uncertain), not cleared under a TRUSTED verdict.
    Not at zero shift, where the camera's pattern puts the peaks of unrelated images.
    """
    pairs, duplicate = scores.pairs, decision.duplicate
    found = np.zeros(len(duplicate), dtype=bool)
    if not duplicate.any():
        return found
    rank, lo, hi, sign = _in_acquisition_order(plan, pairs)
    shift = np.stack([scores.dy * sign, scores.dx * sign], axis=1)
    with np.errstate(invalid="ignore"):
        evidence = (scores.z >= _evidence_floor(decision, plan.pearson_min_z)) & (scores.pearson > 0)
    duplicates = np.flatnonzero(duplicate)
    weak_ref, weak = _pattern_neighbours(duplicates, lo, hi, len(rank), per_hole)
    strong_ref, strong = _same_offset(duplicates, np.flatnonzero(evidence & ~duplicate), hi - lo)
    lowpass = max(plan.band[0] / plan.binned_psize, WEAK_SHIFT)
    reference, candidate = np.r_[weak_ref, strong_ref], np.r_[weak, strong]
    tolerance = np.r_[np.where(evidence[weak], lowpass, WEAK_SHIFT), np.full(len(strong), lowpass)]
    period = np.array(_fft_shape(plan), dtype=float)
    with np.errstate(invalid="ignore"):
        apart = _circular_distance(shift[candidate] - shift[reference], period)
        at_zero = _circular_distance(shift[candidate], period) <= PATTERN_SHIFT
        near = (apart <= tolerance) & ~at_zero & ~duplicate[candidate] & np.isfinite(scores.z[candidate])
    found[candidate[near]] = True
    return found


def at_one_shift(decision: MicrographDecision, scores: ScoredPairs, plan: ScoringPlan) -> np.ndarray:
    """The pairs under the thresholds whose peaks, each evidence of its own, agree on one shift.

    Noise can push every re-exposure of a hole under the thresholds, leaving no confirmed pair
    for :func:`at_confirmed_shift` to start from (the real set with noise of twice each image's
    SD: none of its 4 found, 3 at (57, -18) px with z 5.4-7.2, 4.6-11 robust SD above the
    null's median, Pearson 0.05-0.08). Their peaks still agree. Among the non-duplicate pairs
    whose peaks are evidence of their own (``EVIDENCE_SIGMAS`` above the null's median, a
    positive Pearson coefficient), shifts taken as the earlier image to the later at the map's
    nearest wrap-around alias, these are left to check:

    - ``AGREEING_PAIRS`` or more within ``WEAK_SHIFT`` of one of them (more where the run's
      evidence peaks are so many that chance would gather that many: :func:`_agreeing_needed`);
    - ``AGREEING_APART`` as many images apart within ``WEAK_SHIFT`` of each other, where so few
      of the run's evidence peaks share an offset that chance would put two at one shift in
      under ``AGREEING_CHANCE`` of runs (:func:`_agreeing_apart`).

    Not within the band's finest detail of zero shift, where the camera's pattern and shared
    illumination gather the peaks of unrelated images (the clean real set at 40 Å: two
    unrelated pairs at (-1, 4) and (0, 3) binned px).
    """
    found = np.zeros(len(decision.duplicate), dtype=bool)
    period = _fft_shape(plan)
    _, lo, hi, sign = _in_acquisition_order(plan, scores.pairs)
    shift = np.stack([scores.dy * sign, scores.dx * sign], axis=1)
    zero = max(plan.band[0] / plan.binned_psize, PATTERN_SHIFT)
    with np.errstate(invalid="ignore"):
        evidence = (scores.z >= _evidence_floor(decision, plan.pearson_min_z)) & (scores.pearson > 0)
        away = _circular_distance(shift, np.array(period, dtype=float)) > zero
    candidates = np.flatnonzero(evidence & away & ~decision.duplicate)
    if len(candidates) < AGREEING_APART:
        return found
    cells = np.remainder(np.rint(shift[candidates]).astype(np.int64), period)
    free = period[0] * period[1] - (2 * zero + 1) ** 2  # (the map's cells away from zero shift)
    peaks = np.zeros(period, dtype=np.int64)
    np.add.at(peaks, (cells[:, 0], cells[:, 1]), 1)
    around = _within_a_pixel(peaks)  # (the candidates within WEAK_SHIFT of each cell)
    centres = (peaks > 0) & (around >= _agreeing_needed(len(candidates), free))
    found[candidates[_within_a_pixel(centres.astype(np.int64))[cells[:, 0], cells[:, 1]] > 0]] = True
    found[candidates[_agreeing_apart(cells, (hi - lo)[candidates], period, free)]] = True
    return found


def _agreeing_apart(cells: np.ndarray, offset: np.ndarray, period: tuple[int, int], free: float) -> np.ndarray:
    """Which of the peaks at ``cells`` have another as many images apart (``offset``) within ``WEAK_SHIFT``.

    None where chance would give a run two: the peaks sharing an offset, spread evenly over the
    map's ``free`` cells, expect two within ``WEAK_SHIFT`` more than ``AGREEING_CHANCE`` of the
    time (the real set, clean and with noise: 0.0000-0.0011; no two unrelated pairs so).
    """
    agree = np.zeros(len(cells), dtype=bool)
    _, group, counts = np.unique(offset, return_inverse=True, return_counts=True)
    window = (2 * int(WEAK_SHIFT) + 1) ** 2
    if (counts * (counts - 1) / 2).sum() * window / max(free, window) > AGREEING_CHANCE:
        return agree
    for shared in np.flatnonzero(counts >= AGREEING_APART):
        members = np.flatnonzero(group == shared)
        near = _circular_distance(cells[members, None] - cells[None, members], np.array(period)) <= WEAK_SHIFT
        agree[members[near.sum(axis=1) >= AGREEING_APART]] = True  # (each is near itself)
    return agree


def _most_at_one_shift(scores: ScoredPairs, period: tuple[int, int]) -> tuple[int, tuple[int, int]]:
    """How many pairs peak within ``WEAK_SHIFT`` of one shift (wrapping around the map), at most; and that shift.

    Looked for around the most crowded cells alone, as many as can hold a ninth of ``COMMON``
    of the pairs each: a window of 3 x 3 cells holding ``COMMON`` of them has such a cell (the
    map is not drawn: the run's peaks' cells are sorted once).
    """
    with np.errstate(invalid="ignore"):
        found = np.isfinite(scores.dy) & np.isfinite(scores.dx)
    cells = np.remainder(np.rint(np.c_[scores.dy, scores.dx][found]).astype(np.int64), period)
    if not len(cells):
        return 0, (0, 0)
    unique, counts = np.unique(cells, axis=0, return_counts=True)
    most = int(np.ceil((2 * int(WEAK_SHIFT) + 1) ** 2 / COMMON))
    crowded = unique[np.argsort(-counts, kind="stable")[:most]]
    near = [int((_circular_distance(cells - cell, np.array(period)) <= WEAK_SHIFT).sum()) for cell in crowded]
    best = crowded[int(np.argmax(near))]  # (of equal windows, the more crowded cell)
    dy, dx = (int(c) - p if c > p // 2 else int(c) for c, p in zip(best, period))
    return max(near), (dy, dx)


def _within_a_pixel(counts: np.ndarray) -> np.ndarray:
    """Each cell's sum over the cells within ``WEAK_SHIFT`` of it, wrapping around the map's edges."""
    reach = int(WEAK_SHIFT)
    steps = range(-reach, reach + 1)
    return np.sum([np.roll(counts, (dy, dx), axis=(0, 1)) for dy in steps for dx in steps], axis=0)


def _agreeing_needed(candidates: int, free: float) -> int:
    """How many evidence peaks agreeing on one shift make a pattern: ``AGREEING_PAIRS`` or more.

    With the ``candidates`` peaks spread evenly over the map's ``free`` cells (those away from
    zero shift), each has a Poisson count of others within ``WEAK_SHIFT`` of it; the count
    needed is the least whose chance, over every candidate, is under ``AGREEING_CHANCE`` (the
    real set: 3-16 such peaks over 24,576-393,216 cells, 3 needed; 600 over 24,576: 6).
    """
    window = (2 * int(WEAK_SHIFT) + 1) ** 2
    rate = (candidates - 1) * window / max(free, window)
    needed, term, below = AGREEING_PAIRS, np.exp(-rate), 0.0
    for others in range(needed - 1):  # P(fewer than needed - 1 others)
        below += term
        term *= rate / (others + 1)
    while candidates * (1.0 - below) > AGREEING_CHANCE:
        below += term
        term *= rate / needed
        needed += 1
    return needed


def _in_acquisition_order(
    plan: ScoringPlan, pairs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each image's acquisition rank, each pair's earlier and later image by it, and each shift's sign.

    The sign turns a pair's shift into one from its earlier image to its later.
    """
    rank = _acquisition_rank(plan, pairs)
    a, b = rank[pairs[:, 0]], rank[pairs[:, 1]]
    return rank, np.minimum(a, b), np.maximum(a, b), np.where(a > b, -1.0, 1.0)


def look_at_confirmed_shift(
    decision: MicrographDecision, scores: ScoredPairs, plan: ScoringPlan, per_hole: int
) -> np.ndarray:
    """The duplicates' neighbours in their hole whose images agree at the duplicate's shift, read again.

    :func:`at_confirmed_shift` looks where a pair's peak lies; a re-exposure its noise weakened
    can lose its peak to a chance cell or to zero shift (the real set with noise, seed 3, at
    44 Å: 04703/04739's peak at (127, 0) binned px, the shared shift (-4, 14)). Each pair as
    many images apart as a duplicate and starting within ``per_hole`` - 1 images of it, neither
    a duplicate nor uncertain already, is read again and its phase correlation taken at the
    duplicate's shift alone (:func:`~.directed.z_at_shift`): at most 2 (``per_hole`` - 1) pairs a
    duplicate, 6 with the default 4. One cell looked at, not the highest of a map searched, so
    its null is the map's own cells: median 0, SD 1 (the map's z). It is evidence at
    ``EVIDENCE_SIGMAS`` above (the real set with noise: 4.2 for 04703/04739; the 1,322
    unrelated pairs at that shift at most 3.6). Not at zero shift (the camera's pattern).
    """
    found = np.zeros(len(decision.duplicate), dtype=bool)
    if decision.duplicate.any():
        _, neighbours = _agreeing_neighbours(np.flatnonzero(decision.duplicate), decision, scores, plan, per_hole)
        found[neighbours] = True
    return found


def look_beside_strong_peaks(
    decision: MicrographDecision, scores: ScoredPairs, plan: ScoringPlan, per_hole: int
) -> np.ndarray:
    """The pairs under the thresholds whose peak the run's own null calls no chance, and their hole's agreeing pairs.

    Noise can leave one re-exposure of a hole peaking at its shift and push the others to the
    null, where no rule of the searched peaks finds them (the real set with noise of twice each
    image's SD, seed 3, at 20 Å: 04701/04737 at z 6.43, 8.6 robust SD above the null's median,
    Pearson 0.048; the other three's peaks elsewhere, and the verdict said TRUSTED). An anchor is
    a pair under the thresholds, away from zero shift, with a positive Pearson coefficient; its
    neighbours in its hole (as many images apart, starting within ``per_hole`` - 1 images of it)
    agree with it, and anchor and neighbours are left to check, where:

    - the anchor's peak reaches the null's median + ``NULL_SIGMAS`` robust SD (the z threshold
      the run's own null gives) and a neighbour's map, read again at the anchor's shift as a
      duplicate's neighbours are (:func:`look_at_confirmed_shift`), reaches ``EVIDENCE_SIGMAS``
      there (seed 3: 04700/04736 z 5.0 and 04702/04738 4.4);
    - the anchor's peak is evidence of its own (``EVIDENCE_SIGMAS`` robust SD above the null's
      median) and a neighbour's own peak, however low, lies within ``WEAK_SHIFT`` of the
      anchor's shift, as the core placed it or at a wrap-around alias (:func:`_peaks_at_anchor_shift`).
      Seed 1 at 20 Å: 04701/04737 rank 1 of 1,326, 11.4 robust SD, at (29, -8) binned px;
      04700/04736 and 04702/04738 peak at (28, 247) and (28, 248), the alias of (28, -9) and
      (28, -8) in a map 256 high, and the verdict said TRUSTED.

    A strong peak with no neighbour agreeing (the clean real set: 04744/04745 at 14.7 robust SD,
    its neighbours at most -0.45 there; at most 1.6 beside any such pair of the clean set at
    12-40 Å) is no pattern and changes nothing.
    """
    found = np.zeros(len(decision.duplicate), dtype=bool)
    null = decision.null
    if null.median is None or null.robust_sd is None:  # (too few pairs for a null)
        return found
    with np.errstate(invalid="ignore"):
        pattern = np.maximum(np.abs(scores.dy), np.abs(scores.dx)) <= PATTERN_SHIFT
        open_ = (scores.pearson > 0) & ~pattern & ~decision.duplicate & ~decision.uncertain
        strong = open_ & (scores.z >= null.median + NULL_SIGMAS * null.robust_sd)
        evidence = open_ & (scores.z >= null.median + EVIDENCE_SIGMAS * null.robust_sd)
    for anchors, look in ((strong, _agreeing_neighbours), (evidence, _peaks_at_anchor_shift)):
        if anchors.any():
            agreeing, neighbours = look(np.flatnonzero(anchors), decision, scores, plan, per_hole)
            found[agreeing] = True
            found[neighbours] = True
    return found


def _peaks_at_anchor_shift(
    anchors: np.ndarray, decision: MicrographDecision, scores: ScoredPairs, plan: ScoringPlan, per_hole: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``anchors``' neighbours in their hole whose own peak lies at the anchor's shift: (anchor, neighbour) indices.

    At the shift within ``WEAK_SHIFT``, each taken from the earlier image to the later, at the
    map's nearest wrap-around alias (a peak too weak for the Pearson test is not unwrapped);
    neither a duplicate nor uncertain already. Not within the band's finest detail of zero shift,
    where the camera's pattern and shared illumination gather the peaks of unrelated images (as
    :func:`at_one_shift`: the clean real set at 40 Å, 04701/04705 at (-1, 3) binned px, 6.3 robust
    SD, and 04700/04704 at (-1, 2)). Nothing is read again: an unrelated neighbour's
    peak lands within a pixel of a given shift in 9 of the map's cells (at 40 Å, 9 of 24,576),
    and an anchor has at most 2 (``per_hole`` - 1) neighbours.
    """
    rank, lo, hi, sign = _in_acquisition_order(plan, scores.pairs)
    reference, candidate = _pattern_neighbours(anchors, lo, hi, len(rank), per_hole)
    period = np.array(_fft_shape(plan), dtype=float)
    shift = np.stack([scores.dy * sign, scores.dx * sign], axis=1)
    zero = max(plan.band[0] / plan.binned_psize, PATTERN_SHIFT)
    with np.errstate(invalid="ignore"):
        near = _circular_distance(shift[candidate] - shift[reference], period) <= WEAK_SHIFT
        near &= _circular_distance(shift[reference], period) > zero
    near &= ~decision.duplicate[candidate] & ~decision.uncertain[candidate]
    return reference[near], candidate[near]


def _agreeing_neighbours(
    anchors: np.ndarray, decision: MicrographDecision, scores: ScoredPairs, plan: ScoringPlan, per_hole: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``anchors``' neighbours in their hole read again at the anchor's shift: (anchor, neighbour) indices agreeing.

    A neighbour is as many images apart as its anchor and starts within ``per_hole`` - 1 images
    of it, is neither a duplicate nor uncertain already, and its map at the anchor's shift (not
    at zero shift) reaches ``EVIDENCE_SIGMAS`` (:func:`look_at_confirmed_shift`).
    """
    pairs, duplicate = scores.pairs, decision.duplicate
    rank, lo, hi, sign = _in_acquisition_order(plan, pairs)
    reference, candidate = _pattern_neighbours(anchors, lo, hi, len(rank), per_hole)
    period = np.array(_fft_shape(plan), dtype=float)
    shift = (
        np.stack([scores.dy[reference], scores.dx[reference]], axis=1) * (sign[reference] * sign[candidate])[:, None]
    )
    looked = (
        ~duplicate[candidate] & ~decision.uncertain[candidate] & (_circular_distance(shift, period) > PATTERN_SHIFT)
    )
    reference, candidate, shift = reference[looked], candidate[looked], shift[looked]
    # (a pair neighbouring several anchors at one shift is looked at once)
    unique, back = np.unique(np.c_[candidate, shift], axis=0, return_inverse=True)
    z = z_at_shift(plan, rank, pairs[unique[:, 0].astype(np.int64)], unique[:, 1:])
    agree = z[back.ravel()] >= EVIDENCE_SIGMAS
    return reference[agree], candidate[agree]


def _same_offset(duplicates: np.ndarray, others: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each of ``others`` paired with each duplicate as many images apart: (duplicate, other) pair indices."""
    order = np.argsort(offset[duplicates], kind="stable")
    ordered = offset[duplicates][order]
    left = np.searchsorted(ordered, offset[others], "left")
    counts = np.searchsorted(ordered, offset[others], "right") - left
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return duplicates[order[np.repeat(left, counts) + within]], np.repeat(others, counts)


def _evidence_floor(decision: MicrographDecision, pearson_min_z: float) -> float:
    """The z of a peak that is evidence of its own: the null's median + ``EVIDENCE_SIGMAS`` robust SD.

    ``pearson_min_z`` where the run has too few pairs for a null.
    """
    null = decision.null
    if null.median is None or null.robust_sd is None:  # (too few pairs for a null)
        return pearson_min_z
    return null.median + EVIDENCE_SIGMAS * null.robust_sd


def _acquisition_rank(plan: ScoringPlan, pairs: np.ndarray) -> np.ndarray:
    """Each micrograph's place in acquisition order (the input order where the plan has none)."""
    if not len(plan.positions):
        return np.arange(int(pairs.max()) + 1 if len(pairs) else 0)
    rank = np.zeros(len(plan.paths), dtype=np.int64)
    rank[plan.positions] = np.arange(len(plan.positions))
    return rank


def _pattern_neighbours(
    duplicates: np.ndarray, lo: np.ndarray, hi: np.ndarray, n: int, per_hole: int
) -> tuple[np.ndarray, np.ndarray]:
    """The scored pairs as many images apart as each duplicate, starting within ``per_hole`` - 1 of it.

    Returns (duplicate, neighbour) pair indices, one entry per neighbour that was scored.
    """
    key = lo * n + hi  # (earlier, later) as one number: one pair per key
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    steps = np.array([j for j in range(1 - per_hole, per_hole) if j != 0], dtype=np.int64)
    first, second = lo[duplicates, None] + steps, hi[duplicates, None] + steps
    wanted = first * n + second
    at = np.minimum(np.searchsorted(ordered, wanted), max(len(ordered) - 1, 0))
    scored = (first >= 0) & (second < n) & (ordered[at] == wanted) if len(ordered) else np.zeros_like(wanted, bool)
    reference = np.broadcast_to(duplicates[:, None], wanted.shape)[scored]
    return reference, order[at[scored]]


def _circular_distance(delta: np.ndarray, period: np.ndarray) -> np.ndarray:
    """The largest of a shift's two components, each taken at its nearest wrap-around alias."""
    wrapped = np.abs(np.remainder(delta, period))
    return np.minimum(wrapped, period - wrapped).max(axis=-1)


def _fft_shape(plan: ScoringPlan) -> tuple[int, int]:
    """The size of the core's correlation map: a peak's position is known modulo it."""
    lowpass, highpass = plan.band
    psize = plan.binned_psize
    geometry = _core.SpectrumBank(*plan.shape, plan.binning, psize / highpass, psize / lowpass).geometry
    return geometry.fft_height, geometry.fft_width


def undecided_verdict(decision: MicrographDecision, scores: ScoredPairs) -> str | None:
    """Why a run with undecided pairs (:func:`undecided`) cannot be trusted, or None."""
    if decision.undecided is None or not decision.undecided.any():
        return None
    count, strongest = int(decision.undecided.sum()), int(np.argmax(np.where(decision.undecided, scores.z, -np.inf)))
    z, pearson = float(scores.z[strongest]), float(scores.pearson[strongest])
    return (
        f"{count:,} pair{'' if count == 1 else 's'} far above the null undecided (the strongest: z {z:.1f}, "
        f"{z / decision.min_z:.1f}x the z threshold, away from zero shift, but Pearson {pearson:.3f} at that shift): "
        "marked uncertain in pairs.csv; look at them, or screen at a finer binning"
    )


def verdict(decision: MicrographDecision) -> str | None:
    """Why the run's decision cannot be trusted, or None.

    A decision whose weakest duplicate is within ``UNCERTAIN`` of its strongest other pair, with at least
    ``UNTRUSTED_UNCERTAIN`` uncertain pairs, duplicates and uncertain pairs making up at least ``UNTRUSTED_SHARE`` of
    the pairs scored, draws its boundary through the bulk of the pairs, not in a gap between them (a wrong pixel size, a
    binning too coarse for the images): re-exposures are a few pairs standing far apart from the rest.
    """
    joint, duplicate = decision.joint, decision.duplicate
    if not duplicate.any():
        return None
    others = joint[~duplicate & np.isfinite(joint)]
    if not len(others):
        return None
    weakest, strongest = float(joint[duplicate].min()), float(others.max())
    flagged, uncertain = int((duplicate | decision.uncertain).sum()), int(decision.uncertain.sum())
    if strongest <= 0 or weakest / strongest >= UNCERTAIN or uncertain < UNTRUSTED_UNCERTAIN:
        return None
    if flagged < UNTRUSTED_SHARE * len(joint):
        return None
    return (
        f"{int(duplicate.sum()):,} duplicate and {uncertain:,} uncertain pairs of "
        f"{len(joint):,} scored ({flagged / len(joint):.0%}) with a margin of x{weakest / strongest:.2f}: "
        "the thresholds cut through the bulk of the pairs, not a gap between re-exposures and the rest"
    )


def _decision(joint: np.ndarray, min_z: float, min_pearson: float, null: NullRule) -> MicrographDecision:
    duplicate = joint >= 1
    uncertain = (joint >= 1 / UNCERTAIN) & (joint < UNCERTAIN)
    return MicrographDecision(duplicate, uncertain, joint, min_z, min_pearson, null)


def z_threshold(z: np.ndarray, floor: float) -> tuple[float, NullRule]:
    """The run's z threshold: ``floor``, or the null's median + ``NULL_SIGMAS`` robust deviations when higher."""
    finite = z[np.isfinite(z)]
    if len(finite) < NULL_PAIRS:
        return floor, NullRule(f"--min-z (fewer than {NULL_PAIRS} pairs for the run's own null)")
    median = float(np.median(finite))
    sigma = 1.4826 * float(np.median(np.abs(finite - median)))
    lifted = median + NULL_SIGMAS * sigma
    null = {"median": round(median, 2), "robust_sd": round(sigma, 3)}
    if lifted > floor:
        return lifted, NullRule(f"null median + {NULL_SIGMAS:g} robust SD", **null)
    return floor, NullRule("--min-z (higher than the null's median + 8 robust SD)", **null)


def group_duplicates(n: int, pairs: np.ndarray, is_duplicate: np.ndarray, acquisition_rank: np.ndarray) -> np.ndarray:
    """For each micrograph, the micrograph of its group that was acquired first (union-find)."""
    return linked_roots(n, pairs[is_duplicate], acquisition_rank)


def near_the_edge(
    duplicates: np.ndarray, rank: np.ndarray, farthest: int, n: int, option: str, value: int
) -> str | None:
    """A warning when a duplicate pair lies in the last quarter of the reach.

    Pairs farther apart were never compared, and a re-exposure pattern that reaches this far may reach farther.
    ``option`` sets the reach, at ``value``: ``--window``, or ``--scan-range`` for the pattern mode. The warning names
    it doubled, whole, as a user pastes it (where that reaches past the set, every pair: ``--candidates all``).
    """
    if farthest >= n - 1 or not len(duplicates):  # every pair was compared
        return None
    apart = np.abs(rank[duplicates[:, 1]] - rank[duplicates[:, 0]])
    if apart.max() < 0.75 * farthest:
        return None
    every = "--candidates all (every pair)"
    wider = (
        every if option == "--window" and 2 * value >= n - 1 else f"{option} {2 * value} (twice this one) or {every}"
    )
    return (
        f"a duplicate pair {apart.max()} images apart, near the {farthest} images apart compared at most: "
        f"farther duplicates would be missed; give {wider}"
    )
