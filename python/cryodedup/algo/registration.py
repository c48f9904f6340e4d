"""How the picks of two inputs register: the frame transform that brings one set onto the other.

Two pickers' files of one dataset should share a frame. A conversion that got it wrong
(a constant offset, x and y swapped, an axis mirrored, coordinates of binned micrographs
labelled with the unbinned pixel size) leaves picks that no distance rule can match, and a
merge of them silently keeps both sets. :func:`measure` finds, from the picks alone, the
transform T with T(b) ~ a for the picks a, b of two inputs on the micrographs they share:

- the linear part is tried as every signed permutation of x and y (identity, swap, the
  mirrors; z mirrored too in tomograms), and as a scale about the origin, found by a vote
  over log(|a| / |b|) of every pair whose directions from the origin agree;
- the translation of each linear part is the mode of the displacements a - L(b) of every
  pair of picks on one micrograph (a generous window: the whole micrograph), in bins of
  the radius, refined as the mean of the displacements within the radius of the peak;
  robust to the picks that only one picker made, which spread over every bin;
- each candidate is scored by the agreement (Jaccard at the radius, counted by the core's
  support masks, the consensus's own pairing) of a and T(b).

A transform *fires* (:func:`fires`) only when it explains the pairs far better than the
identity and far beyond chance (docs/design.md section 2, "Inputs in two frames").
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .dedup import DuplicateRule, dedup_and_support_masks

__all__ = [
    "TRANSFORM_OPS",
    "Displacements",
    "Measurement",
    "Transform",
    "apply_steps",
    "fires",
    "measure",
    "parse_steps",
    "support_masks",
    "vote_pairs",
]

#: Pairs of picks whose displacements vote, about: picks of the first input drawn at random, each with
#: every pick of the second on its micrograph, until this many (a pick co-picked in 1 of 10 still
#: stands out of the chance displacements spread over the micrograph's bins).
VOTE_PAIRS = 8_000
#: The fullest bins of displacements refined: a peak may straddle up to four.
PEAKS = 4
#: The fire rule (docs/design.md section 2, "Inputs in two frames"): the transform's agreement is
#: at least this many times the identity's ...
FIRE_RATIO = 2.0
#: ... and at least this much above it (Jaccard) ...
FIRE_GAIN = 0.15
#: ... and the picks it pairs stand this many standard deviations (Poisson) above the pairs that
#: chance makes at any one offset, and at least :data:`FIRE_MIN_PAIRS`.
FIRE_SIGMAS = 6.0
FIRE_MIN_PAIRS = 10
#: Scales closer to 1 than this are the identity's (a few % of the extent is within any radius
#: near the origin); scales beyond 1/32 and 32 are not searched.
SCALE_MIN = 1.08
SCALE_MAX = 32.0
#: Offsets below this many pixels are left out of a transform's wording: noise of the picks' mean.
SHIFT_NOISE = 0.5


@dataclass
class Transform:
    """b -> mirror(scale x permute(b)) + shift, in Å: ``swap`` exchanges x and y first.

    ``mirrored[k]``: axis k is negated after the scale; the shift of a mirrored axis is the
    mirror's width (x -> W - x).
    """

    swap: bool
    mirrored: tuple[bool, ...]
    scale: float
    shift: np.ndarray

    @classmethod
    def identity(cls, dims: int) -> Transform:
        """The transform that moves nothing."""
        return cls(False, (False,) * dims, 1.0, np.zeros(dims))

    @property
    def linear_only(self) -> np.ndarray:
        """The linear part as a matrix (dims x dims)."""
        dims = len(self.mirrored)
        matrix = np.eye(dims)
        if self.swap:
            matrix[[0, 1]] = matrix[[1, 0]]
        return np.diag([-1.0 if m else 1.0 for m in self.mirrored]) @ matrix * self.scale

    def apply(self, centres: np.ndarray) -> np.ndarray:
        """The centres (n, dims) in Å moved by the transform."""
        return centres @ self.linear_only.T + self.shift

    def kind(self, psize: float) -> str:
        """In words: identity, translation, swap, mirror-x, scale ... joined by ``+`` (as :meth:`spec` writes it)."""
        words = [op.split(":")[0] for op in self.spec(psize).split("+")]
        return "+".join("translation" if w == "shift" else w for w in words)

    def spec(self, psize: float) -> str:
        """The transform as ``--transform INPUT=SPEC`` takes it, lengths in pixels of ``psize`` Å."""
        ops = ["swap"] * self.swap
        if abs(self.scale - 1) > 1e-9:
            ops.append(f"scale:{_number(self.scale, 4)}")
        for k, m in enumerate(self.mirrored):
            if m:
                ops.append(f"mirror-{'xyz'[k]}:{_number(self.shift[k] / psize, 1)}")
        offsets = [0.0 if m else s / psize for s, m in zip(self.shift, self.mirrored)]
        if any(abs(o) >= SHIFT_NOISE for o in offsets):
            ops.append("shift:" + ",".join(_number(o, 1) for o in offsets))
        return "+".join(ops) or "identity"


def _number(value: float, digits: int) -> str:
    """A number as short as it reads: 64, -128, 2, 0.5, 1.3333."""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass
class Candidate:
    """A transform tried and how well it registers the picks: Jaccard, and the picks it pairs."""

    transform: Transform
    jaccard: float
    shared: float


@dataclass
class Measurement:
    """The registration of two inputs' picks on the micrographs measured.

    ``identity`` and ``best`` (the best transform other than the identity; None when no pick
    pairs under any), ``chance``: the picks that chance pairs at one offset (Poisson mean),
    ``picks``: the picks of each input measured.
    """

    identity: Candidate
    best: Candidate | None
    chance: float
    picks: tuple[int, int]
    micrographs: int


def fires(m: Measurement) -> bool:
    """Whether the best transform explains the pairs far better than the identity and far beyond chance."""
    if m.best is None:
        return False
    beyond_chance = m.chance + FIRE_SIGMAS * math.sqrt(m.chance) + FIRE_MIN_PAIRS
    return (
        m.best.jaccard >= FIRE_RATIO * m.identity.jaccard
        and m.best.jaccard - m.identity.jaccard >= FIRE_GAIN
        and m.best.shared >= beyond_chance
    )


def agreement(groups: np.ndarray, a: np.ndarray, ga: np.ndarray, b: np.ndarray, radius: float) -> tuple[float, float]:
    """Jaccard of picks ``a`` and ``b`` (their micrographs ``ga``, ``groups``) at ``radius``, and the picks shared.

    With m(a, b) the picks of a with a pick of b within the radius (the consensus's pairing,
    ``algo.consensus``), shared = min(m(a, b), m(b, a)) and J = shared / (|a| + |b| - shared).
    The smaller of the two, not their mean as the consensus reports: a transform that crowds
    one set onto a few picks of the other (a scale towards 0) pairs many of one set and few
    of the other, and must gain nothing by it.
    """
    if not len(a) or not len(b):
        return 0.0, 0.0
    masks = support_masks(np.concatenate([ga, groups]), np.concatenate([a, b]), len(a), radius)
    shared = min(np.count_nonzero(masks[: len(a)] & 2), np.count_nonzero(masks[len(a) :] & 1))
    return shared / (len(a) + len(b) - shared), float(shared)


def support_masks(groups: np.ndarray, centres: np.ndarray, n_first: int, radius: float) -> np.ndarray:
    """Per pick of two sets end to end (the first ``n_first``), bit 0/1 set when set 0/1 has a pick within ``radius``.

    The consensus's pairing (the core's support masks), so that registration and consensus agree.
    """
    inputs = (np.arange(len(centres)) >= n_first).astype(np.uint32)
    _, masks = dedup_and_support_masks(
        groups.astype(np.int64), centres, inputs, DuplicateRule(radius), want_suppressed_by=False
    )
    return masks


def measure(
    a: np.ndarray,
    ga: np.ndarray,
    b: np.ndarray,
    gb: np.ndarray,
    radius: float,
    areas: np.ndarray,
    seed: int = 0,
) -> Measurement:
    """The transform T that best brings picks ``b`` onto picks ``a`` (Å; micrograph ids ``ga``, ``gb`` from 0).

    ``areas``: each micrograph's area in Å² (volume in Å³ for tomograms), for the pairs that
    chance makes. Every linear part is tried with its voted translation (module docstring).
    """
    dims = a.shape[1]
    identity = Candidate(Transform.identity(dims), *agreement(gb, a, ga, b, radius))
    chance = _chance_pairs(ga, gb, areas, radius, dims)
    if FIRE_RATIO * identity.jaccard > min(len(a), len(b)) / max(len(a), len(b), 1):
        # No transform can fire: its Jaccard is at most |smaller| / |larger| (all of the smaller set paired).
        return Measurement(identity, None, chance, (len(a), len(b)), len(areas))
    pairs_i, pairs_j = vote_pairs(ga, gb, len(areas), seed)
    voted: tuple[int, Transform] | None = None  # the linear part whose voted translation gathers most pairs
    for transform in _linear_parts(dims, a, b, pairs_i, pairs_j, radius):
        moved = b @ transform.linear_only.T
        found = _voted_shift(a[pairs_i] - moved[pairs_j], radius)
        if found is None:
            continue
        transform.shift, count = found
        if transform.kind(1.0) == "identity" or (
            transform.kind(1.0) == "translation" and _within(transform.shift[None], np.zeros(dims), radius).all()
        ):
            continue  # within the radius of the identity: the identity's own
        if voted is None or count > voted[0]:
            voted = (count, transform)
    best = None
    if voted is not None:
        transform = voted[1]
        if transform.scale != 1:
            transform = _refined_scale(transform, a, ga, b, gb, radius)
        best = Candidate(transform, *agreement(gb, a, ga, transform.apply(b), radius))
    return Measurement(identity, best, chance, (len(a), len(b)), len(areas))


def vote_pairs(ga: np.ndarray, gb: np.ndarray, n_micrographs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (i, j) of picks of a and b on one micrograph whose displacements vote: about :data:`VOTE_PAIRS`.

    Picks of a drawn at random (``seed``), each with every pick of b on its micrograph.
    """
    drawn = np.random.default_rng(seed).permutation(len(ga))
    each = np.bincount(gb, minlength=n_micrographs)[ga[drawn]]  # the pairs each drawn pick makes
    voters = np.sort(drawn[: int(np.searchsorted(np.cumsum(each), VOTE_PAIRS)) + 1])
    pairs_i, pairs_j = _pairs_by_micrograph(ga[voters], gb)
    return voters[pairs_i], pairs_j


@dataclass
class Displacements:
    """What the registration picture of a pair of inputs draws: the voters' displacements a - b, in Å.

    ``moved``: the displacements a - L(b) after the best transform's linear part when that is
    not the identity (a swap, a mirror, a scale), else None; ``shift``: the best transform's
    translation when it fired, else None.
    """

    label: str
    radius: float
    as_read: np.ndarray
    moved: np.ndarray | None
    shift: np.ndarray | None
    best: str


def _pairs_by_micrograph(ga: np.ndarray, gb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i, j) of picks of a and b on one micrograph (indices into ``ga`` and ``gb``)."""
    order_b = np.argsort(gb, kind="stable")
    starts = np.searchsorted(gb[order_b], ga, side="left")
    ends = np.searchsorted(gb[order_b], ga, side="right")
    counts = ends - starts
    i = np.repeat(np.arange(len(ga)), counts)
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    j = order_b[np.repeat(starts, counts) + offsets]
    return i, j


def _linear_parts(
    dims: int, a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray, radius: float
) -> list[Transform]:
    """The linear parts tried: every signed permutation of x and y (and z mirrored in 3-D), and a voted scale."""
    z_mirrors = (False, True) if dims == 3 else ()
    parts = []
    for swap, mx, my in itertools.product((False, True), repeat=3):
        for mz in z_mirrors or (None,):
            mirrored = (mx, my) if mz is None else (mx, my, mz)
            parts.append(Transform(swap, mirrored, 1.0, np.zeros(dims)))
    scale = _voted_scale(a, b, i, j, radius)
    if scale is not None:
        parts.append(Transform(False, (False,) * dims, scale, np.zeros(dims)))
    return parts


def _voted_scale(a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray, radius: float) -> float | None:
    """The scale s about the origin with a ~ s b for most pairs, or None when none stands out from 1.

    Each pair whose directions from the origin agree within the radius votes for |a| / |b|,
    in bins of log-scale as wide as the radius is at the pair's distance; the picks one
    picker alone made spread their votes over every bin.
    """
    va, vb = a[i, :2], b[j, :2]
    na, nb = np.hypot(*va.T), np.hypot(*vb.T)
    far = (na > 10 * radius) & (nb > 0)
    va, vb, na, nb = va[far], vb[far], na[far], nb[far]
    s = na / nb
    cross = np.abs(va[:, 0] * vb[:, 1] - va[:, 1] * vb[:, 0]) / nb  # a's distance from the line through b
    along = (va * vb).sum(axis=1) > 0
    agree = along & (cross <= radius) & (s > 1 / SCALE_MAX) & (s < SCALE_MAX)
    log_s = np.log(s[agree])
    if len(log_s) < FIRE_MIN_PAIRS:
        return None
    width = max(float(np.median(radius / na[agree])), 1e-4)
    bins = np.floor(log_s / width).astype(np.int64)
    values, counts = np.unique(bins, return_counts=True)
    # a peak split between two bins: the pair of neighbouring bins with the most votes
    paired = counts + np.where(np.diff(values, append=values[-1]) == 1, np.r_[counts[1:], 0], 0)
    top = int(np.argmax(paired))
    near = (bins == values[top]) | (bins == values[top] + 1)
    scale = float(np.exp(np.median(log_s[near])))
    if max(scale, 1 / scale) < SCALE_MIN:
        return None
    return scale


def _voted_shift(displacements: np.ndarray, radius: float) -> tuple[np.ndarray, int] | None:
    """The mode of the displacements in bins of the radius, refined to the mean of those within it of the peak.

    Returned with the displacements within half the radius of it. The :data:`PEAKS` fullest
    bins are refined (a peak may straddle bins), each from the displacements within 1.5 bins
    of its centre: the one that gathers most within half the radius wins.
    """
    if not len(displacements):
        return None
    # By axis (column-major): numpy reduces the rows of a 2-column array an element at a time.
    scaled = np.ascontiguousarray(displacements.T) / radius
    low = np.floor(scaled.min(axis=1))
    bins = (scaled - low[:, None]).astype(np.int64)  # (non-negative: truncation is the floor)
    span = tuple(int(x) + 1 for x in bins.max(axis=1))
    if math.prod(span) >= 2**62:
        return None
    keys = np.ravel_multi_index(bins, span)
    # (sorted, not counted in an array of every bin: a micrograph holds ~10^5 bins of its radius, mostly empty)
    values, counts = np.unique(keys, return_counts=True)
    fullest = values[np.argsort(counts, kind="stable")[-PEAKS:]]
    best: tuple[np.ndarray, int] | None = None
    for key in fullest:
        centre = (np.array(np.unravel_index(int(key), span)) + low + 0.5) * radius
        around = displacements[_in_box(displacements, centre, 1.5 * radius)]
        shift = centre
        for _ in range(3):  # the peak's centre: the median of the displacements near it (a chance one moves it not)
            near = _within(around, shift, radius)
            if not near.any():
                break
            moved, shift = shift, _median_by_axis(around[near])
            if np.array_equal(moved, shift):
                break  # (the next round would find the same points and the same median)
        count = int(np.count_nonzero(_within(around, shift, radius / 2)))
        if best is None or count > best[1]:
            best = (shift, count)
    return best


def _median_by_axis(points: np.ndarray) -> np.ndarray:
    """``np.median(points, axis=0)``, the same bits, without its overhead (~0.1 ms a call on a few points).

    numpy's median of an even count is the mean of the two middle values, (a + b) / 2: so here.
    """
    ordered = np.sort(points, axis=0)
    n = len(ordered)
    if n % 2:
        return ordered[n // 2].copy()
    return (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def _within(points: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """Which points lie within ``radius`` of ``centre`` (einsum: a sum along rows of 2 is numpy's slowest reduction)."""
    d = points - centre
    return np.einsum("ij,ij->i", d, d) <= radius * radius


def _in_box(points: np.ndarray, centre: np.ndarray, half: float) -> np.ndarray:
    """Which points lie within ``half`` of ``centre`` along every axis."""
    inside = np.abs(points[:, 0] - centre[0]) <= half
    for k in range(1, points.shape[1]):
        inside &= np.abs(points[:, k] - centre[k]) <= half
    return inside


def _refined_scale(
    transform: Transform, a: np.ndarray, ga: np.ndarray, b: np.ndarray, gb: np.ndarray, radius: float
) -> Transform:
    """The scale and shift fitted (least squares) to the pairs the voted ones bring within the radius."""
    for _ in range(2):
        moved = transform.apply(b)
        i, j = _pairs_by_micrograph(ga, gb)
        close = _within(a[i] - moved[j], np.zeros(a.shape[1]), radius)
        if np.count_nonzero(close) < 3:
            break
        pa = a[i[close]]
        pb = b[j[close]] @ (transform.linear_only / transform.scale).T
        ca, cb = pa - pa.mean(axis=0), pb - pb.mean(axis=0)
        spread = float((cb * cb).sum())
        scale = float((ca * cb).sum()) / spread if spread > 0 else 0.0
        if not scale > 0:  # pairs at one point: no scale to fit; the voted one stays
            break
        transform = Transform(transform.swap, transform.mirrored, scale, pa.mean(axis=0) - scale * pb.mean(axis=0))
    return transform


def _chance_pairs(ga: np.ndarray, gb: np.ndarray, areas: np.ndarray, radius: float, dims: int) -> float:
    """The picks that chance pairs at any one offset, counted as :func:`agreement` counts them (at most).

    On a micrograph of area S, a pick of a has a pick of b within the radius with probability
    1 - exp(-n_b v / S), v the radius's area (volume): picks at random, edges ignored (which
    overstates chance, never understates it).
    """
    n = len(areas)
    na, nb = np.bincount(ga, minlength=n), np.bincount(gb, minlength=n)
    reach = math.pi * radius**2 if dims == 2 else 4 / 3 * math.pi * radius**3
    density = np.where(areas > 0, reach / np.where(areas > 0, areas, 1), np.inf)
    with np.errstate(invalid="ignore"):
        m_ab = na * -np.expm1(-nb * density)
        m_ba = nb * -np.expm1(-na * density)
    return float(np.nan_to_num(np.minimum(m_ab, m_ba)).sum())


# --- transforms a user gives (--transform INPUT=OPS) ----------------------------------------------------

#: The operations of ``--transform``, as its help and errors name them.
TRANSFORM_OPS = "swap, mirror-x[:W], mirror-y[:H], mirror-z[:D], scale:S, shift:DX,DY[,DZ]"


@dataclass(frozen=True)
class Step:
    """One operation of a user's transform: ``op`` (swap, mirror, scale, shift), its axis and values (pixels)."""

    op: str
    axis: int = 0
    values: tuple[float, ...] = ()


def parse_steps(text: str) -> list[Step]:
    """The operations of ``OP+OP+...`` in order; a ValueError names the first that is none of :data:`TRANSFORM_OPS`."""
    steps = []
    for word in text.split("+"):
        name, _, args = word.strip().partition(":")
        try:
            values = tuple(float(v) for v in args.split(",")) if args.strip() else ()
        except ValueError:
            raise ValueError(f"{word!r}: the values after ':' must be numbers") from None
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{word!r}: the values must be finite numbers")
        if name == "swap" and not values:
            steps.append(Step("swap"))
        elif name in ("mirror-x", "mirror-y", "mirror-z") and len(values) <= 1:
            steps.append(Step("mirror", "xyz".index(name[-1]), values))
        elif name == "scale" and len(values) == 1 and values[0] > 0:
            steps.append(Step("scale", 0, values))
        elif name == "shift" and len(values) in (2, 3):
            steps.append(Step("shift", 0, values))
        else:
            raise ValueError(f"{word!r} is none of {TRANSFORM_OPS} (S > 0)")
    return steps


def apply_steps(steps: list[Step], pixels: np.ndarray, sizes: np.ndarray | None) -> np.ndarray:
    """Centres in pixels (n, dims) moved by ``steps`` in order; ``sizes`` (n, dims): each row's micrograph size.

    A mirror without its width takes the micrograph's (x -> nx - x); ``sizes`` must then be given.
    """
    out = np.array(pixels, dtype=np.float64)
    dims = out.shape[1]
    for step in steps:
        if step.op == "swap":
            out[:, [0, 1]] = out[:, [1, 0]]
        elif step.op == "scale":
            out *= step.values[0]
        elif step.op == "shift":
            if len(step.values) > dims:
                raise ValueError(f"shift of {len(step.values)} values on {dims}-D coordinates")
            out[:, : len(step.values)] += step.values
        elif step.axis >= dims:
            raise ValueError(f"mirror-{'xyz'[step.axis]} on {dims}-D coordinates")
        else:
            assert step.values or sizes is not None, "apply_steps: a mirror's width is needed"
            width = step.values[0] if step.values else sizes[:, step.axis]  # type: ignore[index]
            out[:, step.axis] = width - out[:, step.axis]
    return out
