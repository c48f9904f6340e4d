"""How the picks of two inputs register: the frame transform that brings one set onto the other, and the verdict.

Two pickers' files of one dataset should share a frame. A conversion that got it wrong
(a constant offset, two axes swapped, an axis mirrored, coordinates of binned micrographs
labelled with the unbinned pixel size) leaves picks that no distance rule can match, and a
merge of them silently keeps both sets. :func:`measure` finds, from the picks alone, the
transform T with T(b) ~ a for the picks a, b of two inputs on the micrographs they share:

- it measures at the radius given, or at a smaller one where picks are so dense that chance
  pairs many of them at that radius (:func:`~cryodedup.algo.registration_fit.fit_radius`);
- the linear part is tried as every signed permutation of the axes (the identity, swaps, the
  mirrors; in tomograms the swaps with z too), and as a scale about the origin, found by a
  vote over log(|a| / |b|) of every pair whose directions from the origin agree;
- the translation of each linear part is the mode of the displacements a - L(b) of every
  pair of picks on one micrograph (a generous window: the whole micrograph), in bins of
  the radius; the linear part that gathers most, and the identity's own translation, are
  then refined from the picks they pair one to one (:mod:`cryodedup.algo.registration_fit`),
  with their standard errors;
- each candidate is scored by the agreement of a and T(b) (:func:`agreement`: the picks with a
  partner within the radius, counted on the side with fewer, over the union; paired by the
  core's support masks, the consensus's own pairing), and so is chance: the same picks after
  random far moves.

The verdict (:func:`verdict`, docs/developers/decisions/registration.md): *one frame*
when the identity agrees far beyond chance and no offset of a quarter of the radius is
measured; *two* (another frame) when a transform agrees far beyond chance and beyond the
identity, or the measured offset is a quarter of the radius or more, well beyond its error;
*unrelated* when nothing agrees beyond chance and a frame shared by an eighth of the picks would
have shown (:func:`_shared_frame_would_show`), confirmed by a second, larger vote; *cannot tell*
when the picks could not show it (too few, or so dense that chance pairs most of them).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np

from .dedup import DuplicateRule, dedup_and_support_masks
from .registration_fit import Chance, boxes_of, chance_agreement, fit_radius, refine

__all__ = [
    "TRANSFORM_OPS",
    "Candidate",
    "Displacements",
    "Measurement",
    "Transform",
    "agreement",
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
#: Pairs that vote, about, before "unrelated" is said: a frame shared by a sixth of a few hundred picks a
#: micrograph can stay under chance's bins with :data:`VOTE_PAIRS` (its few votes split between bins).
THOROUGH_VOTE_PAIRS = 200_000
#: Picks that vote, at least, however many pairs they make: on micrographs of thousands of picks,
#: :data:`VOTE_PAIRS` would be a few picks' (the true displacements a few among chance's).
LEAST_VOTERS = 64
#: ... in tomograms (``dims`` 3), whose 48 linear parts each vote: fewer, and the centres of mass tried too.
LEAST_VOTERS_3D = 16
#: The fullest bins of displacements refined: a peak may straddle up to four.
PEAKS = 4
#: Beyond chance: the picks a candidate pairs exceed chance's mean by this many standard deviations
#: (the larger of the moves' and Poisson's), and its most, by :data:`FIRE_MIN_PAIRS` ...
FIRE_SIGMAS = 6.0
FIRE_MIN_PAIRS = 10
#: ... and another linear part beats the identity by as much.
#: An offset is another frame from this fraction of the radius given up, when it is this many
#: standard errors from 0; one frame needs it below that fraction by as many errors.
OFFSET_FRACTION = 0.25
OFFSET_ERRORS = 4.0
#: A transform found by the search (and refined: it gains a little more) pairs beyond this many times what
#: the search finds by chance, and :data:`FIRE_SIGMAS` of it, and :data:`FIRE_MIN_PAIRS`.
SEARCH_MARGIN = 2.0
#: The turns of the second set (degrees) that measure what the search pairs by chance: none a linear part tries.
SEARCH_TURNS = (37.0, 127.0 + 16.0)
#: Unrelated only when a transform that paired 1/this of the smaller set would have stood out of chance
#: (pickers of one dataset share a third of their picks or more; a scale's vote may miss on a few hundred).
UNRELATED_SHARE = 8.0
#: Chance pairs more than this fraction of the smaller set at the radius measured, or the search more
#: than :data:`DENSE_SEARCH` of it: too dense to tell (where too few to say "unrelated").
DENSE_CHANCE = 0.5
DENSE_SEARCH = 0.04
#: Scales closer to 1 than this are the identity's (a few % of the extent is within any radius
#: near the origin); scales beyond 1/32 and 32 are not searched.
SCALE_MIN = 1.08
SCALE_MAX = 32.0
#: Offsets below this many pixels are left out of a transform's wording: noise of the picks' mean.
SHIFT_NOISE = 0.5
#: A transform is another frame only when it pairs most of what one frame would: at least this share of
#: the picks it brings within :data:`WIDE_RADII` times the radius measured at (beyond chance, both).
#: Per-pick offsets (each copy moved by its own origin, ``--shift-key none``) leave a mode that pairs
#: a few more picks than the identity, and no transform undoes them: none is advised.
MATERIAL_SHARE = 0.5
WIDE_RADII = 4.0
#: The verdicts, as the summary says them.
VERDICTS = ("one", "two", "unrelated", "cannot tell")

#: ``--transform``'s swaps: the axes each exchanges.
SWAPS = {"swap": (0, 1), "swap-yz": (1, 2), "swap-xz": (0, 2)}


@dataclass
class Transform:
    """b -> mirror(scale x permute(b)) + shift, in Å: axis k of the permuted picks is axis ``order[k]`` of b.

    ``mirrored[k]``: axis k is negated after the scale; the shift of a mirrored axis is the
    mirror's width (x -> W - x).
    """

    order: tuple[int, ...]
    mirrored: tuple[bool, ...]
    scale: float
    shift: np.ndarray

    @classmethod
    def identity(cls, dims: int) -> Transform:
        """The transform that moves nothing."""
        return cls(tuple(range(dims)), (False,) * dims, 1.0, np.zeros(dims))

    @property
    def linear_only(self) -> np.ndarray:
        """The linear part as a matrix (dims x dims)."""
        dims = len(self.mirrored)
        matrix = np.eye(dims)[list(self.order)]
        return np.diag([-1.0 if m else 1.0 for m in self.mirrored]) @ matrix * self.scale

    def apply(self, centres: np.ndarray) -> np.ndarray:
        """The centres (n, dims) in Å moved by the transform."""
        return centres @ self.linear_only.T + self.shift

    def inverse(self) -> Transform:
        """The transform that moves the other way: a's picks onto b's, where this one moves b's onto a's."""
        matrix = np.linalg.inv(self.linear_only)  # (a scaled signed permutation: its inverse is one too)
        order = tuple(int(np.argmax(np.abs(row))) for row in matrix)
        mirrored = tuple(bool(row[k] < 0) for row, k in zip(matrix, order))
        return Transform(order, mirrored, 1.0 / self.scale, -matrix @ self.shift)

    def kind(self, psize: float) -> str:
        """In words: identity, translation, swap, mirror-x, scale ... joined by ``+`` (as :meth:`spec` writes it)."""
        words = [op.split(":")[0] for op in self.spec(psize).split("+")]
        return "+".join("translation" if w == "shift" else w for w in words)

    def spec(self, psize: float) -> str:
        """The transform as ``--transform INPUT=SPEC`` takes it, lengths in pixels of ``psize`` Å."""
        ops = _swaps_of(self.order)
        if abs(self.scale - 1) > 1e-9:
            ops.append(f"scale:{_number(self.scale, 4)}")
        for k, m in enumerate(self.mirrored):
            if m:
                ops.append(f"mirror-{'xyz'[k]}:{_number(self.shift[k] / psize, 1)}")
        offsets = [0.0 if m else s / psize for s, m in zip(self.shift, self.mirrored)]
        if any(abs(o) >= SHIFT_NOISE for o in offsets):
            ops.append("shift:" + ",".join(_number(o, 1) for o in offsets))
        return "+".join(ops) or "identity"


def _swaps_of(order: tuple[int, ...]) -> list[str]:
    """The fewest of ``--transform``'s swaps that, applied in turn, permute the axes to ``order``."""
    identity = tuple(range(len(order)))
    names = [name for name, axes in SWAPS.items() if max(axes) < len(order)]
    for count in range(len(order)):
        for words in itertools.product(names, repeat=count):
            axes = list(identity)
            for word in words:
                i, j = SWAPS[word]
                axes[i], axes[j] = axes[j], axes[i]
            if tuple(axes) == tuple(order):
                return list(words)
    raise AssertionError(f"no swaps make the order {order}")


def _number(value: float, digits: int) -> str:
    """A number as short as it reads: 64, -128, 2, 0.5, 1.3333."""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass
class Candidate:
    """A transform tried and how well it registers the picks: agreement (``jaccard``, :func:`agreement`), picks paired.

    ``error``: the standard error of its shift (Å, per axis), ``scale_error`` of its scale, from
    the ``pairs`` picks it paired one to one when refined (None: not refined).
    """

    transform: Transform
    jaccard: float
    shared: float
    error: np.ndarray | None = None
    scale_error: float = 0.0
    pairs: int = 0


@dataclass
class Measurement:
    """The registration of two inputs' picks on the micrographs measured, and its verdict.

    ``identity``: the picks as read; ``translation``: the identity's offset refined (None when
    no pick pairs); ``best``: the transform the verdict names (another frame), else the best
    tried other than the identity (None when none pairs a pick); ``chance``: the agreement of
    the picks moved far; ``radius``: the radius measured at (``given_radius``: the one asked);
    ``searched``: the picks the search pairs by chance (:func:`_searched_by_chance`);
    ``verdict``: one of :data:`VERDICTS`; ``reason``: why it cannot tell (``too few picks``,
    ``too dense``, ``offset uncertain``); ``picks``: the picks of each input measured.
    """

    identity: Candidate
    translation: Candidate | None
    best: Candidate | None
    chance: Chance
    radius: float
    verdict: str
    picks: tuple[int, int]
    micrographs: int
    given_radius: float = 0.0
    searched: float = 0.0
    reason: str = ""

    @property
    def beyond_chance(self) -> float:
        """The picks a candidate must pair to agree beyond chance (:data:`FIRE_SIGMAS`)."""
        return _beyond(self.chance)

    @property
    def beyond_search(self) -> float:
        """The picks a transform the search found must pair: beyond chance, and beyond what it finds by chance."""
        searched = SEARCH_MARGIN * self.searched
        return max(self.beyond_chance, searched + FIRE_SIGMAS * math.sqrt(searched) + FIRE_MIN_PAIRS)


def _beyond(chance: Chance) -> float:
    spread = max(chance.sd, math.sqrt(chance.shared))
    return max(chance.shared + FIRE_SIGMAS * spread, chance.most) + FIRE_MIN_PAIRS


def fires(m: Measurement) -> bool:
    """Whether the picks are in two frames: a transform explains them far better than the identity, beyond chance."""
    return m.verdict == "two"


def agreement(groups: np.ndarray, a: np.ndarray, ga: np.ndarray, b: np.ndarray, radius: float) -> tuple[float, float]:
    """The agreement of picks ``a`` and ``b`` (micrographs ``ga``, ``groups``) at ``radius``, and the picks shared.

    With m(a, b) the picks of a with a pick of b within the radius (the consensus's pairing,
    ``algo.consensus``), shared = min(m(a, b), m(b, a)) and the agreement is
    shared / (|a| + |b| - shared): Jaccard's form, but not a Jaccard index of one-to-one matches
    (``compare``'s, ``algo.matching``), and so named apart from it in what the user reads.
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
    least: float | None = None,
    voting: int = VOTE_PAIRS,
) -> Measurement:
    """The transform T that best brings picks ``b`` onto picks ``a`` (Å; micrograph ids ``ga``, ``gb`` from 0), judged.

    ``areas``: each micrograph's area in Å² (volume in Å³ for tomograms), for the radius fit for
    registration (never below ``least``, default an eighth of ``radius``). Every linear part is
    tried with its voted translation (module docstring), about ``voting`` pairs voting; "unrelated"
    is said only after a vote of :data:`THOROUGH_VOTE_PAIRS` found nothing either.
    """
    dims, n = a.shape[1], len(areas)
    rho = fit_radius(radius, radius / 8 if least is None else min(least, radius), a, ga, b, gb, areas)
    boxes = boxes_of(a, ga, b, gb, n)
    chance = chance_agreement(lambda moved: agreement(gb, a, ga, moved, rho), b, gb, boxes, seed)
    identity = Candidate(Transform.identity(dims), *agreement(gb, a, ga, b, rho))
    pairs_i, pairs_j = vote_pairs(ga, gb, n, seed, dims, voting)
    # Another linear part can only be said when it could beat the identity by the margin chance leaves.
    search = min(len(a), len(b)) - identity.shared >= _beyond(chance) - chance.shared
    offset = identity  # the identity's translation: the voted one, or none, whichever pairs more
    voted: Candidate | None = None  # the linear part (not the identity) whose voted translation pairs most
    # The shift that brings the centres of mass together is tried too: for the identity (an offset of
    # picks that crowd on a lattice, whose chance displacements outvote the true one) and a scale (its
    # vote's few pairs), and in tomograms (few voters: thousands of picks a tomogram) for every part.
    centroids = dims == 3
    tries: list[tuple[float, Transform]] = []  # each linear part with a translation, and its votes (inf: not voted)
    for part in _linear_parts(dims, a, b, pairs_i, pairs_j, rho, search):
        moved = b @ part.linear_only.T
        found = _voted_shift(a[pairs_i] - moved[pairs_j], rho)
        if found is not None:
            tries.append((found[1], replace(part, shift=found[0])))
        if centroids or part.kind(1.0) in ("identity", "scale"):
            tries.append((math.inf, replace(part, shift=_centroid_shift(a, ga, moved, gb, n))))
        if part.kind(1.0) == "scale":
            tries.append((math.inf, part))  # (binned coordinates: a scale about the origin, no shift)
    most = max((votes for votes, _ in tries if votes < math.inf), default=0)
    for votes, transform in tries:
        is_offset = transform.kind(1.0) in ("identity", "translation")
        if not (centroids or is_offset or 2 * votes >= most):
            continue  # (a part the vote leaves far behind: not worth scoring)
        # (scored on every pick, not by the vote's few: a dense vote's fullest bin may be chance's)
        tried = Candidate(transform, *agreement(gb, a, ga, transform.apply(b), rho))
        if is_offset:
            offset = tried if tried.shared > offset.shared else offset
        elif voted is None or tried.shared > voted.shared:
            voted = tried
    # Refined only if it pairs half the excess over chance it needs: a voted transform lies within
    # half the radius of its refinement, so it pairs most of what the refined one pairs.
    hopeful = chance.shared + (_beyond(chance) - chance.shared) / 2
    translation = _refined(offset.transform, a, ga, b, gb, rho) if offset.shared >= hopeful else None
    best = voted if voted is None or voted.shared < hopeful else _refined(voted.transform, a, ga, b, gb, rho)
    searched = _searched_by_chance(a, ga, b, gb, rho, boxes, pairs_i, pairs_j) if search else 0.0
    m = verdict(Measurement(identity, translation, best, chance, rho, "", (len(a), len(b)), n, radius, searched))
    if m.verdict == "two" and not _material(m, a, ga, b, gb, boxes, seed):
        return replace(m, verdict="cannot tell", reason="no one transform")
    if m.verdict == "unrelated" and voting < THOROUGH_VOTE_PAIRS and len(pairs_i) < _pairs_on_micrographs(ga, gb, n):
        return measure(a, ga, b, gb, radius, areas, seed, least, THOROUGH_VOTE_PAIRS)
    return m


def _material(
    m: Measurement,
    a: np.ndarray,
    ga: np.ndarray,
    b: np.ndarray,
    gb: np.ndarray,
    boxes: tuple[np.ndarray, np.ndarray],
    seed: int,
) -> bool:
    """Whether the transform found pairs most of the picks it brings near (:data:`MATERIAL_SHARE`), beyond chance.

    The picks within :data:`WIDE_RADII` radii of a partner once moved, less chance's there, are
    about the pairs a merge in one frame would have: a transform that pairs a few of them within
    the radius leaves the rest as far apart as before, and is no fix.
    """
    assert m.best is not None, "a verdict of two frames names its transform"
    moved = m.best.transform.apply(b)
    wide = WIDE_RADII * m.radius
    near = agreement(gb, a, ga, moved, wide)[1]
    chance = chance_agreement(lambda c: agreement(gb, a, ga, c, wide), b, gb, boxes, seed).shared
    return m.best.shared - m.chance.shared >= MATERIAL_SHARE * (near - chance)


def _pairs_on_micrographs(ga: np.ndarray, gb: np.ndarray, n: int) -> int:
    """Every pair of a pick of a and one of b on one micrograph: how many."""
    return int(np.dot(np.bincount(ga, minlength=n), np.bincount(gb, minlength=n)))


def _searched_by_chance(
    a: np.ndarray,
    ga: np.ndarray,
    b: np.ndarray,
    gb: np.ndarray,
    rho: float,
    boxes: tuple[np.ndarray, np.ndarray],
    pairs_i: np.ndarray,
    pairs_j: np.ndarray,
) -> float:
    """The picks the search pairs when the frames surely differ: b turned about each micrograph's centre.

        The search's vote finds the translation that pairs most; on picks that crowd (membranes, a
        slab of a tomogram, a picker's grid) that is well above a random move's agreement. Turned
        by angles no linear part tries (:data:`SEARCH_TURNS`), b keeps how its picks crowd and
        shares no frame with a: the most the search then pairs is chance's for a search. Turned picks
    are wrapped round into the micrograph's box, so that a long strip's stay on it.
    """
    low, extent = boxes
    centre = (low + extent / 2)[gb]
    low_b, extent_b = low[gb][:, :2], np.maximum(extent[gb][:, :2], 1e-9)
    most = 0.0
    for angle in SEARCH_TURNS:
        c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        turned = b.copy()
        offset = b[:, :2] - centre[:, :2]
        turned[:, 0] = centre[:, 0] + c * offset[:, 0] - s * offset[:, 1]
        turned[:, 1] = centre[:, 1] + s * offset[:, 0] + c * offset[:, 1]
        # (wrapped round into the micrograph's box, as chance's moves are: a turned strip would leave it)
        turned[:, :2] = low_b + np.mod(turned[:, :2] - low_b, extent_b)
        shifts = []
        found = _voted_shift(a[pairs_i] - turned[pairs_j], rho)
        if found is not None:
            shifts.append(found[0])
        shifts.append(_centroid_shift(a, ga, turned, gb, len(low)))
        for shift in shifts:
            most = max(most, agreement(gb, a, ga, turned + shift, rho)[1])
    return most


def _centroid_shift(a: np.ndarray, ga: np.ndarray, moved: np.ndarray, gb: np.ndarray, n: int) -> np.ndarray:
    """The shift that brings the picks' centres of mass together: the median over micrographs, per axis."""
    na, nb = np.bincount(ga, minlength=n), np.bincount(gb, minlength=n)
    both = (na > 0) & (nb > 0)
    centres = []
    for points, groups, count in ((a, ga, na), (moved, gb, nb)):
        sums = np.stack([np.bincount(groups, weights=points[:, k], minlength=n) for k in range(a.shape[1])], axis=1)
        centres.append(sums[both] / count[both, None])
    return np.median(centres[0] - centres[1], axis=0)


def _refined(
    transform: Transform, a: np.ndarray, ga: np.ndarray, b: np.ndarray, gb: np.ndarray, rho: float
) -> Candidate:
    """The transform refined from the picks it pairs one to one, scored at the radius measured at."""
    fitted = refine(transform.linear_only, transform.shift, transform.scale != 1, a, ga, b, gb, rho)
    scale = (
        transform.scale
        if transform.scale == 1
        else float(abs(np.linalg.det(fitted.linear)) ** (1 / len(fitted.linear)))
    )
    moved = replace(transform, scale=scale, shift=fitted.shift)
    return Candidate(moved, *agreement(gb, a, ga, moved.apply(b), rho), fitted.error, fitted.scale_error, fitted.pairs)


def verdict(m: Measurement) -> Measurement:
    """The measurement with its verdict and reason (module docstring): one frame, two, unrelated or cannot tell."""
    beyond, searched = m.beyond_chance, m.beyond_search
    best, offset = m.best, m.translation
    aligned = max(m.identity.shared, offset.shared if offset else 0.0)
    if best is not None and best.shared >= searched and best.shared - aligned >= beyond - m.chance.shared:
        return replace(m, verdict="two")
    size, error = _offset(offset)
    quarter = OFFSET_FRACTION * m.given_radius
    if offset is not None and offset.shared >= searched and size >= quarter and size >= OFFSET_ERRORS * error:
        return replace(m, verdict="two", best=offset)
    if max(m.identity.shared, offset.shared if offset is not None and size < quarter else 0.0) >= beyond:
        if size + OFFSET_ERRORS * error < quarter:
            return replace(m, verdict="one")
        return replace(m, verdict="cannot tell", reason="offset uncertain")
    if not _shared_frame_would_show(m):  # (a frame shared by a third of them might not have shown)
        dense = m.chance.shared > DENSE_CHANCE * min(m.picks) or m.searched > DENSE_SEARCH * min(m.picks)
        return replace(m, verdict="cannot tell", reason="too dense" if dense else "too few picks")
    return replace(m, verdict="unrelated")


def _shared_frame_would_show(m: Measurement) -> bool:
    """Whether a frame shared by 1/:data:`UNRELATED_SHARE` of the smaller set would have stood out of what was seen.

    As before: its share alone would have fired (beyond a searched transform's margin). Or:
    such a transform pairs, of its share, those within the radius measured at (all at the radius
    given; below it, the share of the disc (ball) it covers, as if the pick noise filled the
    radius given), and, of the picks left, what chance pairs (as every move does); that count,
    less :data:`FIRE_SIGMAS` of its spread, must exceed the most any transform tried paired (the
    identity, its offset, the search's best, chance's most, the search's chance).
    """
    smaller = min(m.picks)
    if smaller >= UNRELATED_SHARE * m.beyond_search:
        return True
    within = (m.radius / m.given_radius) ** len(m.identity.transform.shift) if m.given_radius > 0 else 1.0
    related = m.chance.shared + within * (smaller - m.chance.shared) / UNRELATED_SHARE
    tried = [m.identity, m.translation, m.best]
    seen = max([c.shared for c in tried if c is not None] + [float(m.chance.most), m.searched])
    return related - FIRE_SIGMAS * math.sqrt(related) > seen


def _offset(offset: Candidate | None) -> tuple[float, float]:
    """The refined offset's length and its standard error along it (Å); (0, inf) when none was refined."""
    if offset is None or offset.error is None:
        return 0.0, math.inf
    size = float(np.linalg.norm(offset.transform.shift))
    if size == 0:
        return 0.0, float(np.max(offset.error))
    along = offset.transform.shift / size
    return size, float(math.sqrt(float(np.sum((along * offset.error) ** 2))))


def vote_pairs(
    ga: np.ndarray, gb: np.ndarray, n_micrographs: int, seed: int = 0, dims: int = 2, voting: int = VOTE_PAIRS
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (i, j) of picks of a and b on one micrograph whose displacements vote: about ``voting``.

    Picks of a drawn at random (``seed``), each with every pick of b on its micrograph; at least
    :data:`LEAST_VOTERS` of them (:data:`LEAST_VOTERS_3D` in tomograms).
    """
    drawn = np.random.default_rng(seed).permutation(len(ga))
    each = np.bincount(gb, minlength=n_micrographs)[ga[drawn]]  # the pairs each drawn pick makes
    least = LEAST_VOTERS if dims == 2 else LEAST_VOTERS_3D
    voters = np.sort(drawn[: max(int(np.searchsorted(np.cumsum(each), voting)) + 1, least)])
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
    dims: int, a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray, radius: float, search: bool = True
) -> list[Transform]:
    """The linear parts tried: signed permutations of the axes and a voted scale (the identity alone: ``search`` off).

    In 2-D the identity, the swap and their mirrors (8); in 3-D every order of x, y, z with
    every mirror (48).
    """
    identity = Transform.identity(dims)
    if not search:
        return [identity]
    parts = []
    for order in itertools.permutations(range(dims)):
        for mirrored in itertools.product((False, True), repeat=dims):
            parts.append(Transform(order, mirrored, 1.0, np.zeros(dims)))
    scale = _voted_scale(a, b, i, j, radius)
    if scale is not None:
        parts.append(replace(identity, scale=scale))
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
    """The mode of the displacements in bins of the radius, refined to the median of those within it of the peak.

    Returned with the displacements within the radius of it. The :data:`PEAKS` fullest bins
    are refined (a peak may straddle bins), each from the displacements within 1.5 bins of its
    centre: the one that gathers most within the radius wins (not half of it: pickers whose
    picks lie on a grid of half the radius disagree by a step as often as not).
    """
    if not len(displacements):
        return None
    # By axis (column-major): numpy reduces the rows of a 2-column array an element at a time.
    scaled = np.ascontiguousarray(displacements.T) / radius
    low = np.floor(scaled.min(axis=1)) - 1  # (a bin spare on either side: a bin's neighbours never wrap round)
    bins = (scaled - low[:, None]).astype(np.int64)  # (non-negative: truncation is the floor)
    span = tuple(int(x) + 2 for x in bins.max(axis=1))
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
        count = int(np.count_nonzero(_within(around, shift, radius)))
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


# --- transforms a user gives (--transform INPUT=OPS) ----------------------------------------------------

#: The operations of ``--transform``, as its help and errors name them.
TRANSFORM_OPS = "swap, swap-yz, swap-xz, mirror-x[:W], mirror-y[:H], mirror-z[:D], scale:S, shift:DX,DY[,DZ]"


@dataclass(frozen=True)
class Step:
    """One operation of a user's transform: ``op`` (a swap of :data:`SWAPS`, mirror, scale, shift), axis, values (px).

    A swap's axis is the higher of the two it exchanges (the coordinates must have it).
    """

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
        if name in SWAPS and not values:
            steps.append(Step(name, max(SWAPS[name])))
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
        if step.op in SWAPS:
            if step.axis >= dims:
                raise ValueError(f"{step.op} on {dims}-D coordinates")
            i, j = SWAPS[step.op]
            out[:, [i, j]] = out[:, [j, i]]
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
