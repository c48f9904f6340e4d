"""Duplicate removal on arrays: the core algorithm, for callers that hold their own data."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

import cryodedup._core as _core

from ..errors import CryodedupError
from . import MAX_CENTRE, SELECTIONS, core_group_ids
from .priority import PriorityCounts

if TYPE_CHECKING:
    from .selection import SelectionCounts

__all__ = [
    "MAX_INPUTS",
    "SAME_CENTRE_A",
    "DedupResult",
    "DuplicateRule",
    "Ellipsoid",
    "Orientations",
    "Ranking",
    "agreement_counts",
    "dedup",
    "dedup_and_support_masks",
    "find_duplicates",
    "first_seen_ids",
    "group_ids",
    "nearest_neighbour_distances",
    "nearest_neighbour_histogram",
    "picks_per_group",
    "popcount",
    "real_numbers",
    "scales_differ",
    "small_ids",
    "stretched",
    "symmetry_setting",
]

#: Two inputs' scores are on different scales when the Kolmogorov-Smirnov distance between
#: their distributions (the largest gap between the fractions of each at or below a value)
#: exceeds this: then most of one input's scores lie above most of the other's, and the
#: input with the larger numbers wins most groups of duplicates. Copies of one picker's
#: particles (jobs on other micrographs, a re-extraction, a selected subset) stay far below
#: it: the two halves of 100 picks split at random are more than 0.38 apart once in 1,000
#: splits (none of 20,000 over 0.5); of 20 picks, 5 % of splits are over 0.5.
SCALE_DISTANCE = 0.5
#: Order statistics kept per input for the comparison: the distance is then exact to 1/2,000.
_SCALE_SAMPLE = 2_000
#: Scores sorted per input at most (every n-th row of a bigger input): a sort of millions
#: would cost more than the rest of a job's decision, and the distance, compared with 0.5,
#: moves by about 1/sqrt(100,000) (0.003).
_SCALE_ROWS = 100_000


def score_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Kolmogorov-Smirnov distance between two samples of scores (NaN left out); 0 when one is empty."""
    a, b = (_order_statistics(x) for x in (a, b))
    if not len(a) or not len(b):
        return 0.0
    values = np.concatenate([a, b])
    below_a = np.searchsorted(a, values, "right") / len(a)
    below_b = np.searchsorted(b, values, "right") / len(b)
    return float(np.abs(below_a - below_b).max())


def _order_statistics(scores: np.ndarray) -> np.ndarray:
    """The finite scores sorted, thinned to at most _SCALE_SAMPLE evenly spaced order statistics."""
    values = scores[:: max(1, len(scores) // _SCALE_ROWS)]
    values = np.sort(values[np.isfinite(values)])
    if len(values) <= _SCALE_SAMPLE:
        return values
    return values[np.linspace(0, len(values) - 1, _SCALE_SAMPLE).round().astype(np.int64)]


def _finite(scores: np.ndarray) -> np.ndarray:
    return scores[np.isfinite(scores)]


def scales_differ(per_input: list[np.ndarray], names: list[str], levels: np.ndarray | None = None) -> str | None:
    """How the inputs' scores differ, when two inputs' are on different scales, else None.

    The pair of inputs furthest apart (:func:`score_distance`) above :data:`SCALE_DISTANCE`,
    with their medians. ``levels``: each input's ``--prefer`` level; only inputs at one level
    are compared (between levels the priority decides, never the score).
    """
    worst, pair = 0.0, (0, 0)
    for a in range(len(per_input)):
        for b in range(a + 1, len(per_input)):
            if levels is not None and levels[a] != levels[b]:
                continue
            distance = score_distance(per_input[a], per_input[b])
            if distance > worst:
                worst, pair = distance, (a, b)
    if worst <= SCALE_DISTANCE:
        return None
    # (scores that are not finite are no scores: RELION's -999 is NaN by now)
    medians = [f"{names[k]}: median {float(np.median(_finite(per_input[k]))):.3g}" for k in pair]
    return f"{'; '.join(medians)}; Kolmogorov-Smirnov distance {worst:.2f}"


@dataclass(frozen=True)
class DedupResult:
    """What :func:`dedup` decided for each particle.

    Attributes
    ----------
    keep : numpy.ndarray of bool, shape (n,)
        True for the particles kept.
    suppressed_by : numpy.ndarray of int64, shape (n,), or None
        For a rejected particle, the index of a kept particle within ``min_dist`` that ranks
        above it (in remove-entirely mode, its nearest neighbour); -1 for kept particles.
        None when not asked for (``want_suppressed_by=False``: 8 bytes per particle saved).
    priority : PriorityCounts or None
        With priority levels (and not ``remove_entirely``), the groups each level decided,
        counted as the core walks (:class:`cryodedup.algo.priority.PriorityCounts`); None otherwise.
    selection : SelectionCounts or None
        With a best selection (``select``), its components and how it differs from the greedy
        walk (:class:`cryodedup.algo.selection.SelectionCounts`); None otherwise.
    """

    keep: np.ndarray
    suppressed_by: np.ndarray | None
    priority: PriorityCounts | None = None
    selection: SelectionCounts | None = None

    @property
    def n_kept(self) -> int:
        """The number of particles kept."""
        return int(np.count_nonzero(self.keep))

    @property
    def n_rejected(self) -> int:
        """The number of particles rejected."""
        return int(self.keep.size - np.count_nonzero(self.keep))


def dedup(
    groups: ArrayLike,
    coords: ArrayLike,
    scores: ArrayLike | None = None,
    *,
    min_dist: float,
    min_dist_z: float | None = None,
    higher_is_better: bool = True,
    remove_entirely: bool = False,
    seed: int = 0,
    want_suppressed_by: bool = True,
    tubes: ArrayLike | None = None,
    whole_tubes: bool = False,
    poses: ArrayLike | None = None,
    pose_kind: str = "relion",
    max_angle: float = 180.0,
    sym: str = "C1",
    priorities: ArrayLike | None = None,
    images: ArrayLike | None = None,
    semi_axes: Sequence[float] | None = None,
    select: str = "greedy",
) -> DedupResult:
    """Remove duplicate particles, micrograph by micrograph.

    Two particles of the same group are duplicates when their distance is at most
    ``min_dist`` (evaluated as ``sum((a - b)**2) <= min_dist**2``). Particles are ranked
    by priority level where given (lower first, whatever the scores), then by score (best
    first, ties by input order; a score that is not finite is no score and ranks last) or,
    without scores, by a random order drawn from ``seed``. Walking the ranking, a particle not yet suppressed is kept
    and suppresses every particle within ``min_dist``; a suppressed particle suppresses
    nothing. So kept particles are pairwise more than ``min_dist`` apart, and every
    rejected one lies within ``min_dist`` of a better-ranked kept one.

    Parameters
    ----------
    groups : array_like of int or of names, shape (n,)
        Micrograph of each particle; only particles of one group are compared. uint32 is
        used as it is (half the memory of int64); other integers are read as int64; names
        (``"mic_1.mrc"``) are numbered in order of first appearance.
    coords : array_like of float, shape (n, 2) or (n, 3)
        Particle centres, in Å.
    scores : array_like of float, shape (n,), optional
        Quality of each particle. None: seeded random ranking.
    min_dist : float
        Minimum separation in Å, >= 0. 0 removes exact copies (symmetry expansion,
        re-extraction): centres within 0.001 Å, below which distances count as 0.
    min_dist_z : float, optional
        For 3-D centres (subtomograms), the separation along z, > 0, with ``min_dist`` > 0:
        two particles are then duplicates when
        ``(dx**2 + dy**2) / min_dist**2 + dz**2 / min_dist_z**2 <= 1`` (an ellipsoid; the
        missing wedge makes z less precise than x and y).
    higher_is_better : bool
        Rank higher scores first (False: lower first, as for CryoSPARC's ``error``).
    remove_entirely : bool
        Reject every particle that has another particle within ``min_dist``.
    seed : int
        Seed of the random ranking used when ``scores`` is None.
    want_suppressed_by : bool
        Fill ``DedupResult.suppressed_by`` (else None).
    tubes : array_like of int, shape (n,), optional
        Filament tube of each particle, one id per tube and micrograph, 0 for none: particles
        with the same non-zero id are never duplicates of each other.
    whole_tubes : bool
        With ``tubes``: rank tubes by the mean score of their segments and reject a tube whole
        when more than half of its segments lie within ``min_dist`` of a better kept tube.
    poses : array_like of float, shape (n, 3), optional
        Orientation of each particle: RELION's rot, tilt, psi in degrees (``pose_kind``
        ``"relion"``) or the rotation vector of RELION's matrix in radians (``"rotvec"``; CryoSPARC's
        ``alignments3D/pose`` negated: RELION's matrix of a pose is its rotation's transpose, as pyem
        converts it). With poses,
        two particles within ``min_dist`` are duplicates only if their orientations differ by
        at most ``max_angle`` degrees, the smallest angle over the operators of ``sym``
        (C1, Cn, Dn, T, O, I).
    priorities : array_like of int, shape (n,), optional
        Priority level of each particle, in [0, 2**32): in a group of duplicates a particle of
        a lower level is kept over any of a higher level, whatever the scores; the score
        decides within a level (``--prefer``).
    images : array_like of int, shape (n,), optional
        The particle image of each row as a non-zero 64-bit key (0: not known): rows of one
        image at different centres (more than 0.001 Å apart) or on different micrographs are
        duplicates whatever their distance (``--same-image reject``); rows of one image at one
        centre of one micrograph are symmetry copies, left to the distance rule. Micrographs
        that share an image are ranked as one (distance still joins rows of one micrograph
        only). Not with ``whole_tubes``.
    semi_axes : sequence of 3 floats, optional
        With ``poses`` (which then serve the ellipsoid; ``max_angle`` still applies), 3-D
        centres: the semi-axes in Å, along each particle's own x, y and z, of an ellipsoid
        turned by its pose (``--min-dist-ellipsoid``). Two particles are then duplicates when
        either centre lies inside the other's ellipsoid; ``min_dist`` is not used.
    select : {"greedy", "best-score", "most-particles"}
        Which set of each micrograph is kept. ``greedy``: the walk above. ``best-score``: the
        set of largest total score (higher better; a score that is not finite weighs 0, one
        below 0 counts as 0) with no two duplicates; ``most-particles``: the set of most picks
        (of sets as large, the better ranked). Solved exactly on each group of duplicates
        joined by the distance of up to 128 picks, beyond by a bounded method
        (:mod:`cryodedup.algo.selection`); every rejected pick still lies within ``min_dist``
        of a kept one (``suppressed_by``), though not always a better-ranked one. Priority
        levels only break ties there. Not with ``remove_entirely`` or ``whole_tubes``.

    Returns
    -------
    DedupResult
    """
    ellipsoid, orientations = None, None
    if semi_axes is not None:
        if poses is None:
            raise ValueError("semi_axes turn with each particle's pose: give poses")
        ellipsoid = Ellipsoid(poses, tuple(semi_axes), pose_kind)
    if poses is not None and (semi_axes is None or max_angle < 180.0):
        orientations = Orientations(poses, pose_kind, max_angle, sym)
    rule = DuplicateRule(
        min_dist,
        min_dist_z,
        remove_entirely,
        seed,
        orientations,
        tubes,
        whole_tubes,
        images,
        ellipsoid,
        select,
    )
    return find_duplicates(groups, coords, rule, Ranking(scores, higher_is_better, priorities), want_suppressed_by)


@dataclass(frozen=True)
class Orientations:
    """Orientations two duplicates must also share, as the core's ``PoseRule`` takes them.

    ``poses`` (n, 3): RELION's rot, tilt, psi in degrees (``kind`` ``"relion"``) or
    the rotation vector of RELION's matrix in radians (``"rotvec"``: CryoSPARC's ``alignments3D/pose`` negated,
    as its reader hands it over); two rows are duplicates only within
    ``max_angle`` degrees, the smallest angle over the operators of ``sym`` in the setting
    ``convention`` (``"relion"``, ``"cryosparc"``: the package that wrote the poses) gives its name
    (:func:`symmetry_setting`).
    """

    poses: ArrayLike
    kind: str = "relion"
    max_angle: float = 180.0
    sym: str = "C1"
    convention: str = "relion"

    def for_core(self, n: int) -> _core.PoseRule:
        """The core's rule, the poses checked as (n, 3) float64."""
        array = np.ascontiguousarray(self.poses, dtype=np.float64)
        if array.shape != (n, 3):
            raise ValueError(f"poses must have shape ({n}, 3), got {array.shape}")
        return _core.PoseRule(array, self.kind, float(self.max_angle), self.sym, self.convention)


#: Whose settings a point group is read in, as the summary names them.
_PACKAGES = {"relion": "RELION's", "cryosparc": "CryoSPARC's"}
#: What the canonical names of settings that are not the package's own words say.
_SETTINGS = {"Tz3": "Tz3, three-fold on z", "T222": "T222, two-folds on x, y, z"}


def symmetry_setting(sym: str, convention: str) -> str:
    """The setting ``sym`` means in ``convention``, named for the summary.

    RELION's I is I2, its T has its three-fold on z, CryoSPARC's Dn its two-fold on y (docs/design.md
    section 9). ``"I (RELION's I2)"``; the name alone where it is the setting (``"C4"``, ``"I2"``). A name the
    package does not define, or whose setting its documents do not establish, is refused naming why.
    """
    try:
        setting = _core.symmetry_setting(sym, convention)
    except ValueError as err:
        raise CryodedupError(
            f"point group {sym} of {_PACKAGES[convention]} poses: {str(err).partition(': ')[2]}"
        ) from None
    if setting.upper() == sym.upper():
        return setting
    said = f"{setting}, two-fold on {setting[1]}" if setting[:2] in ("Dx", "Dy") else _SETTINGS.get(setting, setting)
    return f"{sym.upper()} ({_PACKAGES[convention]} {said})"


@dataclass(frozen=True)
class Ellipsoid:
    """Exclusion in each particle's own frame (``--min-dist-ellipsoid``), as the core's ``EllipsoidRule`` takes it.

    ``semi_axes``: Å along the particle's x, y and z; ``poses`` (n, 3) as :class:`Orientations`
    reads them. Two rows conflict when either centre lies inside the other's ellipsoid, turned
    by that row's pose (docs/developers/decisions/anisotropic-distances.md).
    """

    poses: ArrayLike
    semi_axes: tuple[float, ...]
    kind: str = "relion"

    def for_core(self, n: int) -> _core.EllipsoidRule:
        """The core's rule, the poses checked as (n, 3) float64 and three semi-axes."""
        array = np.ascontiguousarray(self.poses, dtype=np.float64)
        if array.shape != (n, 3):
            raise ValueError(f"poses must have shape ({n}, 3), got {array.shape}")
        if len(self.semi_axes) != 3:
            raise ValueError(f"semi_axes must be three lengths (x, y, z), got {self.semi_axes!r}")
        a, b, c = (float(v) for v in self.semi_axes)
        return _core.EllipsoidRule(array, a, b, c, self.kind)


@dataclass(frozen=True)
class DuplicateRule:
    """What makes two rows duplicates and what becomes of a group: the core's ``DedupRule`` (and ``PoseRule``).

    Rows of one micrograph within ``min_dist`` Å (with ``min_dist_z``, an ellipsoid: see
    :func:`dedup`), of the same orientation within ``orientations`` when given, not of one
    tube (``tubes``; ``whole_tubes``: tubes compared whole), or of one particle image
    (``images``, ``--same-image reject``) are duplicates; the best-ranked row of a group is kept,
    or none (``remove_entirely``); ``seed`` orders rows without scores. The particle job builds
    one from its options (``jobs/particles/decide.py``) for both the one-pass and the two-pass route.
    """

    min_dist: float
    min_dist_z: float | None = None
    remove_entirely: bool = False
    seed: int = 0
    orientations: Orientations | None = None
    tubes: ArrayLike | None = None
    whole_tubes: bool = False
    images: ArrayLike | None = None
    ellipsoid: Ellipsoid | None = None
    #: Which set is kept: ``greedy``, ``best-score`` or ``most-particles`` (``--select``).
    selection: str = "greedy"

    def for_core(self, higher_is_better: bool) -> _core.DedupRule:
        """The core's rule, with the ranking's direction (the scores' order is the ranking's, not the rule's)."""
        if not 0 <= self.seed < 2**64:
            raise ValueError(f"seed must be in [0, 2**64), got {self.seed}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"select must be one of {', '.join(SELECTIONS)}, got {self.selection!r}")
        if self.selection != "greedy" and (self.remove_entirely or self.whole_tubes):
            raise ValueError(
                f"select={self.selection!r} keeps a set of each group: not with remove_entirely or whole_tubes"
            )
        return _core.DedupRule(
            min_dist=float(self.min_dist),
            higher_is_better=bool(higher_is_better),
            remove_entirely=bool(self.remove_entirely),
            seed=int(self.seed),
            selection=self.selection,
        )


@dataclass(frozen=True)
class Ranking:
    """Which row of a group of duplicates ranks first.

    The priority level first (lower first: ``priorities`` per row, or ``input_priorities``
    per input, looked up through the rows' inputs), then the score (``higher_is_better``; not
    finite ranks last), then the rule's seeded random order when there are no scores.
    """

    scores: ArrayLike | None = None
    higher_is_better: bool = True
    priorities: ArrayLike | None = None
    input_priorities: ArrayLike | None = None


#: No scores, no priorities: the rule's seeded random order ranks.
UNSCORED = Ranking()


def find_duplicates(
    groups: ArrayLike,
    coords: ArrayLike,
    rule: DuplicateRule,
    ranking: Ranking = UNSCORED,
    want_suppressed_by: bool = True,
) -> DedupResult:
    """:func:`dedup` by a rule and a ranking given as values (``want_suppressed_by``: fill ``suppressed_by``)."""
    return _run_dedup(*_checked_points(groups, coords), None, rule, ranking, want_suppressed_by)[0]


def _checked_points(groups: ArrayLike, coords: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Micrograph ids and centres as the core takes them, their shapes checked."""
    groups = group_ids(groups)
    coords = real_numbers(coords, "coords")
    if groups.ndim != 1:
        raise ValueError(f"groups must be one-dimensional, got shape {groups.shape}")
    if coords.ndim != 2 or coords.shape[0] != groups.size:
        raise ValueError(f"coords must have shape ({groups.size}, 2) or ({groups.size}, 3), got {coords.shape}")
    return groups, coords


def stretched(coords: np.ndarray, min_dist: float, min_dist_z: float | None) -> np.ndarray:
    """``coords`` with z scaled by ``min_dist / min_dist_z`` (a copy), or as they are without ``min_dist_z``.

    ``(dx**2 + dy**2) / d**2 + dz**2 / dz_min**2 <= 1`` is ``dx**2 + dy**2 + (dz * d / dz_min)**2
    <= d**2``: in the scaled coordinates the ellipsoid is the sphere of ``min_dist``, so the
    core's searches, its ranking and its consensus masks are used as they are.
    """
    if min_dist_z is None:
        return coords
    if coords.shape[1] != 3:
        raise ValueError(f"min_dist_z needs coordinates with x, y and z, got shape {coords.shape}")
    if not (np.isfinite(min_dist_z) and min_dist_z > 0 and np.isfinite(min_dist) and min_dist > 0):
        raise ValueError(f"min_dist_z needs min_dist and min_dist_z > 0, got {min_dist} and {min_dist_z}")
    out = coords.copy()
    ratio = min_dist / min_dist_z
    out[:, 2] *= ratio
    # A tiny min_dist_z scales z beyond the core's bound on coordinates (or 0 by an infinite ratio to NaN).
    beyond = ~(np.abs(out[:, 2]) <= MAX_CENTRE) & np.isfinite(coords[:, 2])
    if beyond.any():
        k = int(np.argmax(beyond))
        raise CryodedupError(
            f"--min-dist-z {min_dist_z:g}: particle {k}'s z ({coords[k, 2]:g} Å) scaled by --min-dist / --min-dist-z "
            f"({ratio:g}) lies beyond ±{MAX_CENTRE:g}; give a larger --min-dist-z"
        )
    return out


def nearest_neighbour_distances(groups: np.ndarray, centres: np.ndarray, reach: float = np.inf) -> np.ndarray:
    """Distance (Å) from each particle to the nearest other particle of its micrograph.

    A particle alone on its micrograph gets inf; one whose nearest is farther than ``reach``
    gets ``reach``. In the core: within a bounded ``reach`` every pair of a micrograph's grid
    closer than it is measured once (crowded, or unbounded: one k-d tree search per particle).
    """
    coords = np.ascontiguousarray(centres, dtype=np.float64)
    return _core.nearest_distances(core_group_ids(groups), coords, reach)


def nearest_neighbour_histogram(
    groups: np.ndarray,
    centres: np.ndarray,
    reach: float,
    edges: np.ndarray,
    within: Sequence[float],
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The histogram of :func:`nearest_neighbour_distances` over ``edges``, without a distance per particle.

    One row of counts per label (``labels``: each particle's, below ``len(within)``; None:
    one row), binned as :func:`~cryodedup.algo.histogram.clipped_histogram` bins (particles
    alone on their micrograph left out), and how many particles of each label lie within
    ``within[label]`` (inclusive). In the core, on every core: at ten million particles the
    distances alone were 80 MB.
    """
    coords = np.ascontiguousarray(centres, dtype=np.float64)
    labelled = None if labels is None else np.ascontiguousarray(labels, dtype=np.uint32)
    bins = np.ascontiguousarray(edges, dtype=np.float64)
    reaches = [float(w) for w in within]
    return _core.nearest_histogram(core_group_ids(groups), coords, reach, bins, labelled, reaches)


def _run_dedup(
    groups: np.ndarray,
    coords: np.ndarray,
    inputs: np.ndarray | None,
    rule: DuplicateRule,
    ranking: Ranking,
    want_suppressed_by: bool = True,
) -> tuple[DedupResult, np.ndarray | None]:
    """The Rust core's dedup on checked ``groups``, ``coords`` and ``inputs`` (None: no masks)."""
    core_rule = rule.for_core(ranking.higher_is_better)
    coords = stretched(coords, rule.min_dist, rule.min_dist_z)
    scores, tubes, whole_tubes, images = ranking.scores, rule.tubes, rule.whole_tubes, rule.images
    priorities, input_priorities = ranking.priorities, ranking.input_priorities
    if scores is not None:
        scores = real_numbers(scores, "scores")
        if scores.shape != groups.shape:
            raise ValueError(f"scores must have shape {groups.shape}, got {scores.shape}")
    if tubes is not None:
        tubes = small_ids(tubes, "tubes", groups.shape, 2**32)
    elif whole_tubes:
        raise ValueError("whole_tubes needs tubes")
    if (rule.orientations is not None or rule.ellipsoid is not None) and whole_tubes:
        raise ValueError("whole_tubes does not compare orientations")
    if rule.ellipsoid is not None and (coords.shape[1] != 3 or rule.min_dist_z is not None):
        raise ValueError("an ellipsoid in each particle's frame needs 3-D centres, and no min_dist_z")
    if priorities is not None:
        priorities = small_ids(priorities, "priorities", groups.shape, 2**32)
    if input_priorities is not None:
        if priorities is not None or inputs is None:
            raise ValueError("input_priorities needs inputs, and no priorities")
        input_priorities = small_ids(input_priorities, "input_priorities", (np.size(input_priorities),), 2**32)
    if images is not None:
        if whole_tubes:
            raise ValueError("whole_tubes does not compare images")
        if isinstance(images, np.ndarray) and images.dtype == np.uint64:  # (the jobs' own: nothing to check)
            images = np.ascontiguousarray(images)
        else:  # a cast would truncate 1.2 and 1.7 into one image, wrap -1 to 2**64 - 1
            images = small_ids(images, "images", groups.shape, 2**64, np.uint64)
        if images.shape != groups.shape:
            raise ValueError(f"images must have shape {groups.shape}, got {images.shape}")
    decision = _core.dedup(
        groups,
        coords,
        scores,
        core_rule,
        inputs,
        bool(want_suppressed_by),
        tubes,
        bool(whole_tubes),
        None if rule.orientations is None else rule.orientations.for_core(groups.size),
        priorities,
        images,
        input_priorities,
        None if rule.ellipsoid is None else rule.ellipsoid.for_core(groups.size),
    )
    counted = decision.priority
    priority = None if counted is None else PriorityCounts(counted.groups, counted.by_priority, counted.against_score)
    best = None
    if decision.best is not None:  # (a best selection: its module loaded for it alone)
        from .selection import SelectionCounts
        from .selection_solver import solve_open

        best = SelectionCounts.from_core(rule.selection, decision.best)
        best = solve_open(best, decision.best.open, decision.keep, decision.suppressed_by, scores)
    result = DedupResult(decision.keep, decision.suppressed_by, priority, best)
    return result, decision.masks


#: Inputs (pickers) that consensus can tell apart: one bit each in a uint64.
MAX_INPUTS = 64

#: Centres closer than this (Å) are one centre; ``min_dist`` 0 means within it
#: (rust/core/src/algo/points.rs, docs/design.md section 2).
SAME_CENTRE_A: float = _core.SAME_CENTRE_A


def group_ids(groups: ArrayLike) -> np.ndarray:
    """Micrograph ids as the core takes them, exactly: uint32 as given (no copy), else int64.

    Names (strings, or other hashable objects that are not numbers) are numbered in order
    of first appearance, as :func:`cryodedup.remove_duplicate_centres` numbers its
    micrographs. Floats are taken only when every value is a whole number within int64: a
    cast would truncate 0.2 and 0.8 to one group, and a float64 CryoSPARC uid beyond 2**63
    to INT64_MIN; such ids are refused (map them to integers, e.g. with
    ``numpy.unique(ids, return_inverse=True)``).
    """
    if isinstance(groups, np.ndarray) and groups.dtype == np.uint32:
        return np.ascontiguousarray(groups)
    array = np.asarray(groups)
    if array.dtype.kind == "O" and array.size:  # Python ints (or floats) in an object array, or names
        numbers = np.asarray(array.tolist())
        array = numbers if numbers.dtype.kind in "iubf" else array
    if array.dtype.kind in "USO" and array.ndim == 1:
        return first_seen_ids(array.tolist())[1]
    if array.dtype.kind in "iub":
        if array.dtype == np.uint64 and array.size and array.max() > np.iinfo(np.int64).max:
            raise ValueError("groups must fit in int64; map large ids with numpy.unique(ids, return_inverse=True)")
        return np.ascontiguousarray(array, dtype=np.int64)
    if array.dtype.kind == "f":
        limit = float(2**63)
        whole = np.isfinite(array) & (np.trunc(array) == array) & (array >= -limit) & (array < limit)
        if not whole.all():
            bad = float(array.ravel()[np.flatnonzero(~whole.ravel())[0]])
            raise ValueError(
                f"groups must be integer ids; got the float {bad!r}, which is not a whole number within int64 "
                "(map any ids with numpy.unique(ids, return_inverse=True))"
            )
        return np.ascontiguousarray(array, dtype=np.int64)
    raise ValueError(
        f"groups must be integer ids, got an array of {array.dtype}; "
        "map them with numpy.unique(ids, return_inverse=True)"
    )


def first_seen_ids(labels: Sequence[Hashable]) -> tuple[list, np.ndarray]:
    """The distinct labels in order of first appearance, and each label's index among them (int64)."""
    ids: dict[Hashable, int] = {}
    groups = np.fromiter((ids.setdefault(label, len(ids)) for label in labels), dtype=np.int64, count=len(labels))
    return list(ids), groups


def _consensus_arrays(
    groups: ArrayLike, coords: ArrayLike, inputs: ArrayLike, max_input: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    groups, coords = _checked_points(groups, coords)
    return groups, coords, small_ids(inputs, "inputs", groups.shape, max_input)


def real_numbers(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as float64, refused unless real numbers (integers, floats).

    A cast would keep a complex number's real part, take a date for its count of
    microseconds, or read text: each is refused, naming the argument.
    """
    array = np.asarray(values)
    if array.dtype.kind == "O" and array.size:  # Python numbers (or dates) in an object array
        array = np.asarray(array.tolist())
    if array.dtype.kind not in "biuf" and array.size:
        raise TypeError(f"{name} must be real numbers, got an array of {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.float64)


def small_ids(
    values: ArrayLike, name: str, shape: tuple[int, ...], limit: int, dtype: type[np.unsignedinteger] = np.uint32
) -> np.ndarray:
    """Ids in [0, ``limit``) as ``dtype`` (uint32), one per particle; floats only when whole numbers.

    A cast would truncate tube ids 1.7 and 1.2 to one tube, and turn NaN into 0 ("no tube").
    """
    array = np.asarray(values)
    if array.dtype.kind == "O" and array.size:  # Python ints (or floats) in an object array
        array = np.asarray(array.tolist())
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if array.dtype.kind == "f":
        whole = np.isfinite(array) & (np.trunc(array) == array)
        if not whole.all():
            first = int(np.flatnonzero(~whole)[0])
            raise ValueError(f"{name} must be whole numbers; particle {first} has {float(array[first])!r}")
    elif array.dtype.kind not in "iub" and array.size:  # (object: a Python int beyond 2**64)
        raise ValueError(f"{name} must be whole numbers in [0, {limit}), got an array of {array.dtype}")
    if array.size and (array.min() < 0 or int(array.max()) >= limit):
        raise ValueError(f"{name} must be whole numbers in [0, {limit})")
    return np.ascontiguousarray(array, dtype=dtype)


def dedup_and_support_masks(
    groups: ArrayLike,
    coords: ArrayLike,
    inputs: ArrayLike,
    rule: DuplicateRule,
    ranking: Ranking = UNSCORED,
    want_suppressed_by: bool = True,
) -> tuple[DedupResult, np.ndarray]:
    """:func:`find_duplicates`, and which inputs confirm each pick, in one pass over each micrograph.

    The neighbours within ``min_dist`` that make duplicates are those that confirm a pick,
    so each micrograph's tree and pairs are built once. ``inputs``: the input (picker) of
    each pick, in [0, :data:`MAX_INPUTS`); the ranking may give each input's priority level
    (``input_priorities``, instead of each row's: the core looks a row's level up by its input).

    Returns
    -------
    DedupResult
    numpy.ndarray of uint64, shape (n,)
        For each pick, bit k set when input k has a pick within ``min_dist`` of it on the
        same micrograph (its own input's bit always is); :func:`popcount` gives the
        consensus count behind ``--min-support``.
    """
    groups, coords, inputs = _consensus_arrays(groups, coords, inputs, MAX_INPUTS)
    result, masks = _run_dedup(groups, coords, inputs, rule, ranking, want_suppressed_by)
    assert masks is not None  # the core returns masks whenever it is given inputs
    return result, masks


#: Number of set bits of each byte value (numpy < 2 has no bitwise_count).
_BYTE_BITS = np.array([bin(b).count("1") for b in range(256)], dtype=np.uint8)


def popcount(masks: np.ndarray) -> np.ndarray:
    """Number of set bits of each uint64."""
    masks = np.ascontiguousarray(masks, dtype="<u8")
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(masks).astype(np.int64)
    return _BYTE_BITS[masks.view(np.uint8).reshape(-1, 8)].sum(axis=1, dtype=np.int64)


def picks_per_group(input_of: ArrayLike, groups: ArrayLike, n_groups: int, n_inputs: int) -> np.ndarray:
    """The picks of each input on each group, shape (n_groups, n_inputs), in one pass of the core.

    Here, not in :mod:`.consensus`: reading and deciding count them for every run, and the
    consensus's records are loaded only when a consensus is reported (start-up, issue 66).
    """
    size, _, _ = agreement_counts(None, input_of, groups, None, n_groups, n_inputs)
    return size


def agreement_counts(
    confirmed_by: np.ndarray | None,
    input_of: ArrayLike,
    groups: ArrayLike,
    keep: np.ndarray | None,
    n_groups: int,
    n_inputs: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group, each input's picks and m(a, b); per input, its picks confirmed, kept alone and kept confirmed.

    Shapes (n_groups, n_inputs), (n_groups, n_inputs, n_inputs) and (n_inputs, 3).
    One pass of the core over the picks (``keep`` None: nothing counted as kept).
    """
    counts = _core.agreement_counts(
        np.ascontiguousarray(groups, dtype=np.uint32),
        np.ascontiguousarray(input_of, dtype=np.uint32),
        None if confirmed_by is None else np.ascontiguousarray(confirmed_by, dtype=np.uint64),
        None if keep is None else np.ascontiguousarray(keep, dtype=bool),
        n_groups,
        n_inputs,
    )
    return counts.size.astype(np.float64), counts.matched.astype(np.float64), counts.per_input
