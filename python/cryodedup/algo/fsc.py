"""What duplicates across the half-sets did to a refinement's FSC: the shared fraction and the FSC without them.

Two half-maps that share k particle images (n1 and n2 images in the halves) share those images'
noise. Where the signal is weak, their FSC gains the shared fraction f = k / sqrt(n1 n2); for
duplicate groups of a_g rows in one half and b_g in the other, f = sum a_g b_g / sqrt(sum a_g^2
sum b_g^2) (copies in one half add their noise coherently: :func:`pairs_estimate`); to first order
(equal weights, white noise, docs/developers/fsc-poses.md)

    FSC_with = f + (1 - f) FSC_without,   so   FSC_without = (FSC_with - f) / (1 - f).

A pair of boxes of one particle picked a few Å apart shares only the part of the two boxes that
overlaps once both are aligned on the particle: each pair counts by that overlap (two squares, or
cubes for subtomograms, of the box's side offset by the pair's offset); one image in both
half-sets counts whole. The resolution is where the FSC first falls below 0.143, interpolated
between the two shells around it.

One image at two poses (a symmetry expansion's copies, refined in C1 as local refinement runs them) lands on two
central sections of the half-maps: their noise is shared only where one pixel of it falls on one voxel of both,
nothing past a few shells (RELION 3.1.3: the FSC where the map has no signal +0.003 +- 0.008; docs/developers/
fsc-poses.md). A pair counts whole where its poses are one pose under the point group the refinement imposed
(under that group the copies are one view: RELION's D2 reconstruction of them shares 0.61 of their noise), else
by :func:`section_share` at the crossing's shell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import cryodedup._core as _core

from ..errors import CryodedupError
from ..particle_set import ParticleSet
from .audit import connected, distance_pairs
from .dedup import symmetry_setting

__all__ = [
    "FIRST_ORDER_LIMIT",
    "FscEstimate",
    "crossing",
    "group_pairs",
    "half_sizes",
    "pairs_estimate",
    "straddling_turns",
]

#: A pair's side (:func:`group_pairs`) when its rows are in different half-sets.
ACROSS = 2
#: The FSC at which a map's resolution is read (Rosenthal and Henderson 2003: half-maps' 0.143).
THRESHOLD = 0.143


def box_overlap(offsets_A: np.ndarray, box_A: float) -> np.ndarray:
    """The share of a box that two boxes of side ``box_A`` offset by each row of ``offsets_A`` (Å) have in common.

    Squares for (n, 2) offsets, cubes for (n, 3): the product over the axes of 1 - |offset| / side, 0 past a side.
    """
    offsets = np.abs(np.asarray(offsets_A, dtype=np.float64).reshape(len(offsets_A), -1))
    return np.prod(np.clip(1.0 - offsets / box_A, 0.0, 1.0), axis=1)


def group_pairs(particles: ParticleSet, suppressed_by: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (first, second row) within a duplicate group and where it lies: 0, 1 within that half-set, 2 across.

    The pairs of :func:`cryodedup.algo.audit.distance_pairs` (those of one image at two centres are counted
    whole apart).
    """
    assert particles.halfsets is not None
    a, b = distance_pairs(particles, suppressed_by)
    half = particles.halfsets.half
    return a, b, np.where(half[a] != half[b], ACROSS, half[a]).astype(np.int8)


def half_sizes(particles: ParticleSet) -> tuple[int, int]:
    """The rows in each half-set (n1, n2)."""
    assert particles.halfsets is not None
    counts = np.bincount(particles.halfsets.half.astype(np.int64), minlength=2)
    return int(counts[0]), int(counts[1])


def shared_fraction(shared_images: float, n1: float, n2: float) -> float:
    """The shared fraction f = k / sqrt(n1 n2): the half-maps' noise they share (0 for an empty half).

    ``n1``, ``n2``: each half-map's noise in images' worth (its images, plus twice the weight of each pair of copies
    within it: copies in one half add coherently).
    """
    return float(shared_images / np.sqrt(n1 * n2)) if n1 and n2 else 0.0


def without_duplicates(fsc: np.ndarray, f: float) -> np.ndarray:
    """The FSC the half-maps would have without the images they share: (FSC - f) / (1 - f)."""
    return (np.asarray(fsc, dtype=np.float64) - f) / (1.0 - f) if f < 1.0 else np.zeros(len(fsc))


def halves_without(fsc: np.ndarray, halves: tuple[int, int], shared: float, removed: int) -> np.ndarray:
    """The FSC of the half-sets without the duplicates, from equal images' signal and noise (past first order).

    Half-maps of n1 and n2 equal images whose noise shares ``shared`` images' worth (k) have, at a shell where one
    image's signal-to-noise ratio is s, FSC = (n1 n2 s + k) / sqrt((n1^2 s + n1)(n2^2 s + n2)): the copies add
    their signal as well as their shared noise. Solved for s shell by shell (the root of a quadratic; 0 where the
    curve is at or under the shared noise alone, k / sqrt(n1 n2)), then the FSC of the halves less the ``removed``
    rows (one of each pair, half from each half-set on average). To first order in k this is
    (FSC - f) / (1 - f); measured against RELION 3.1.3 it holds where first order fails (FIRST_ORDER_LIMIT).
    """
    n1, n2 = float(halves[0]), float(halves[1])
    c = np.clip(np.asarray(fsc, dtype=np.float64), -1.0, 1.0 - 1e-9)
    c2 = c * c
    a = n1 * n1 * n2 * n2 * (c2 - 1.0)  # (negative: the quadratic's top)
    b = c2 * n1 * n2 * (n1 + n2) - 2.0 * n1 * n2 * shared
    free = c2 * n1 * n2 - shared * shared
    root = (-b - np.sqrt(np.maximum(b * b - 4.0 * a * free, 0.0))) / (2.0 * a)
    s = np.where(c <= shared / np.sqrt(n1 * n2), 0.0, np.maximum(root, 0.0))
    m1, m2 = max(n1 - removed / 2.0, 1.0), max(n2 - removed / 2.0, 1.0)
    return m1 * m2 * s / np.sqrt((m1 * m1 * s + m1) * (m2 * m2 * s + m2))


def crossing(frequency: np.ndarray, fsc: np.ndarray, threshold: float = THRESHOLD) -> tuple[float, int] | None:
    """Where the FSC first falls below ``threshold`` past the origin: (resolution in Å, index of the last shell above).

    ``frequency`` in 1/Å, shell by shell from the origin. Interpolated linearly in frequency between the last
    shell above and the first below; a curve that never falls below (its last shell above) crosses at its last
    shell; None when its first shell past the origin is already below.
    """
    below = np.flatnonzero(np.asarray(fsc[1:]) < threshold) + 1
    if below.size == 0:
        last = len(fsc) - 1
        return (1.0 / frequency[last], last) if last > 0 and frequency[last] > 0 else None
    first = int(below[0])
    if first == 1:
        return None
    s0, s1, c0, c1 = frequency[first - 1], frequency[first], fsc[first - 1], fsc[first]
    s = s0 + (c0 - threshold) / (c0 - c1) * (s1 - s0)
    return float(1.0 / s), first - 1


#: Two poses within this many degrees of each other under the refinement's point group are one pose: the image's
#: noise falls on one central section of both half-maps (the audit's --max-angle default, within which it calls
#: two poses one).
SAME_POSE_DEG = 15.0
#: The shared fraction from which the first-order correction is not trusted. Measured with RELION 3.1.3 (exact
#: copies of 4,000 particles in a 48-pixel box, docs/developers/fsc-poses.md): f 0.095 within 0.07 shell of
#: RELION's reconstruction without the copies; f 0.26, 0.41 and 0.60 from 0.15 beyond to 0.71 short (the change
#: under-stated in 5 of 6 curves): a lower bound from here on.
FIRST_ORDER_LIMIT = 0.25
#: The grid :func:`section_share` averages over: the turn's axis out of the image's plane, and the pixel's angle.
_AXIS_STEPS, _RING_STEPS = 64, 128


def section_share(turns_deg: np.ndarray, shell: float) -> np.ndarray:
    """The share of an image's noise at Fourier shell ``shell`` that two poses ``turns_deg`` apart put on one voxel.

    A pixel p of the image's central section lands, at the second pose, |Q p - p| = 2 |p| sin(turn / 2) |p x axis|
    voxels from where it landed at the first (Q: the turn about its axis); two landings share the pixel's noise by
    the overlap of their one-voxel kernels, 1 - that distance. Averaged over the ring of the shell and over the
    axis's directions (the pairs of a set turn about every axis): 1 at no turn, under 0.01 for 180 degrees past shell
    10 (the two sections meet on a line).
    """
    turns = np.asarray(turns_deg, dtype=np.float64)
    z = (np.arange(_AXIS_STEPS) + 0.5) / _AXIS_STEPS  # (the axis's cosine to the view: uniform on the sphere)
    phi = (np.arange(_RING_STEPS) + 0.5) / _RING_STEPS * np.pi
    across = np.sqrt(z[:, None] ** 2 + (1 - z[:, None] ** 2) * np.sin(phi[None, :]) ** 2)  # (|p x axis| / |p|)
    unique, back = np.unique(np.round(np.nan_to_num(turns, nan=0.0), 1), return_inverse=True)
    reach = 2.0 * float(shell) * np.sin(np.radians(unique) / 2.0)
    share = np.clip(1.0 - reach[:, None, None] * across[None], 0.0, 1.0).mean(axis=(1, 2))
    return share[back.ravel()].reshape(turns.shape)


def pose_weights(turns_deg: np.ndarray | None, shell: float, same_pose_deg: float = SAME_POSE_DEG) -> np.ndarray | None:
    """Each pair's share of its image by its poses' turn (degrees, NaN: unknown): whole within ``same_pose_deg``."""
    if turns_deg is None:
        return None
    turns = np.asarray(turns_deg, dtype=np.float64)
    one = ~(turns > same_pose_deg)  # (NaN, a pose not read: counted whole)
    return np.where(one, 1.0, section_share(turns, shell))


def pose_turns(first: np.ndarray, second: np.ndarray, kind: str, sym: str, convention: str) -> np.ndarray:
    """The angle (degrees) between each pair's poses (rows of ``first`` and ``second``) under the point group ``sym``.

    ``kind``: how the poses are written (``"relion"`` rot, tilt, psi; ``"rotvec"``); ``sym`` in the setting of
    ``convention`` (the package that refined them). Raises :class:`~cryodedup.errors.CryodedupError` for a point group
    the core does not know.
    """
    symmetry_setting(sym, convention)  # (refused in one line, naming the group, before the core sees it)
    n = len(first)
    if n == 0:
        return np.zeros(0)
    poses = np.ascontiguousarray(np.concatenate([first, second]), dtype=np.float64)
    rule = _core.PoseRule(poses, kind, 180.0, sym.upper(), convention)
    rows = np.arange(n, dtype=np.uint32)
    return np.asarray(_core.pose_angles(rule, rows, rows + np.uint32(n)), dtype=np.float64)


def straddling_turns(
    poses: tuple[np.ndarray, np.ndarray] | None, kind: str, sym: str, convention: str
) -> tuple[np.ndarray | None, str]:
    """The angle between each straddling pair's poses under ``sym`` and what it was taken under (None: not known).

    A point group the core does not know: None (the pairs counted whole), and the words say so.
    """
    if poses is None:
        return None, ""
    try:
        return pose_turns(*poses, kind, sym, convention), sym.upper()
    except CryodedupError as err:
        return None, f"{err}: pairs counted whole"


@dataclass(frozen=True)
class FscEstimate:
    """One refinement's FSC as read, its shared fraction, and the resolution predicted without the duplicates.

    ``frequency`` (1/Å) and ``fsc`` shell by shell; ``resolution_A``: the 0.143 crossing as refined (where the curve
    never falls below 0.143: its last shell, ``crosses`` False, the resolution as refined better than that);
    ``resolution_without_A``: the crossing of (FSC - f) / (1 - f); ``shell_A``: the width of one Fourier shell at
    the crossing as refined (Å); ``pairs``: the straddling pairs (and images in both halves) behind f; ``turned``:
    those counted by their poses' central sections (poses apart under the refinement's point group), ``turned_by``
    what was compared (the point group, or why none could be).
    """

    source: str
    shared_fraction: float
    frequency: tuple[float, ...]
    fsc: tuple[float, ...]
    resolution_A: float | None
    resolution_without_A: float | None
    shell_A: float | None
    pairs: int
    crosses: bool = True
    turned: int = 0
    turned_by: str = ""
    #: The images in each half-set and the rows the duplicates' removal takes out (None: first order alone).
    halves: tuple[int, int] | None = None
    removed: int = 0
    #: The point group the poses were compared under, and where it was read ('': not said).
    point_group: str = ""
    point_group_from: str = ""
    #: The refinement the FSC is of, said where the particles lie in no refinement's folder ('': not said).
    refinement: str = ""

    @property
    def fsc_without(self) -> np.ndarray:
        """The FSC predicted without the duplicates, shell by shell (:func:`corrected`)."""
        return corrected(np.asarray(self.fsc), self.shared_fraction, self.halves, self.removed)

    @property
    def box_A(self) -> float:
        """The box's side (Å) the shells are of: shell k at k / side (RELION's shell 0 at 0.001: spaced past it)."""
        return box_of(np.asarray(self.frequency))

    @property
    def first_order(self) -> bool:
        """Whether f is small enough for the first-order correction (measured: below :data:`FIRST_ORDER_LIMIT`)."""
        return self.shared_fraction < FIRST_ORDER_LIMIT

    @property
    def change_A(self) -> float | None:
        """How much worse (Å, positive) the resolution is predicted without the duplicates; None when unknown."""
        if self.resolution_A is None or self.resolution_without_A is None:
            return None
        return self.resolution_without_A - self.resolution_A

    @property
    def change_shells(self) -> float | None:
        """The change in Fourier shells: how many shells lie between the two crossings (counted in frequency)."""
        if self.resolution_A is None or self.resolution_without_A is None or not np.isfinite(self.box_A):
            return None
        return (1.0 / self.resolution_A - 1.0 / self.resolution_without_A) * self.box_A

    @property
    def lower_bound(self) -> bool:
        """Whether the change is a lower bound: the curve never crosses as refined (its crossing beyond the curve)."""
        return not self.crosses

    @property
    def turned_words(self) -> str:
        """What the words say of pairs counted by their poses' sections, or why poses were not compared ('' none)."""
        if self.turned:
            return (
                f"; {self.turned:,} of the pairs at poses over {SAME_POSE_DEG:g}° apart under {self.turned_by} (the "
                "refinement's point group): one image on two central sections, counted by what those share"
            )
        return f"; {self.turned_by}" if " " in self.turned_by else ""

    @property
    def point_group_words(self) -> str:
        """Which point group the poses were compared under and where it was read ('' where not said)."""
        said = f"; point group {self.point_group} ({self.point_group_from})" if self.point_group else ""
        return said + (f"; the FSC of {self.refinement}" if self.refinement else "")

    @property
    def why(self) -> str:
        """Why no resolution (as refined, or without the duplicates) is given; '' where both are."""
        if self.resolution_A is None:
            return "the curve is under 0.143 from its first shell past the origin"
        if self.resolution_without_A is None and (self.fsc_without[1:] < THRESHOLD).any():
            return "the curve without the duplicates is under 0.143 from its first shell past the origin"
        if self.resolution_without_A is None:
            return (
                f"the curve without the duplicates stays above {THRESHOLD} to its last shell "
                f"({1 / self.frequency[-1]:.2f} Å): the change is not known"
            )
        return ""

    @property
    def bound_words(self) -> str:
        """What the words add where the change is a lower bound: why ('' where it is the estimate)."""
        if not self.crosses:
            return f"at least: the curve as refined stays above {THRESHOLD} to its last shell, its crossing beyond"
        return ""

    @property
    def caveats(self) -> str:
        """The words' caveats: a lower bound, f past first order ('' where none)."""
        return "; ".join(words for words in (self.bound_words, self.order_words) if words)

    @property
    def order_words(self) -> str:
        """What the words add where f is past first order ('' where it is not)."""
        if self.first_order:
            return ""
        return (
            f"f over {FIRST_ORDER_LIMIT:g}: past first order, estimated from the halves' images (measured within "
            "0.33 shell of RELION's)"
        )

    def to_json(self) -> dict:
        """As ``--json`` prints it (the names pipelines read)."""
        without = self.fsc_without
        return {
            "source": self.source,
            "shared_fraction": round(self.shared_fraction, 6),
            "resolution_A": _rounded(self.resolution_A),
            "crosses": self.crosses,
            "resolution_without_duplicates_A": _rounded(self.resolution_without_A),
            "change_A": _rounded(self.change_A),
            "change_shells": _rounded(self.change_shells),
            "first_order": self.first_order,
            "halves": list(self.halves) if self.halves is not None else None,
            "rows_removed": self.removed,
            "change_is_lower_bound": self.lower_bound,
            "shell_A": _rounded(self.shell_A),
            "pairs": self.pairs,
            "pairs_turned": self.turned,
            "turned_under": self.turned_by or None,
            "point_group": {"name": self.point_group, "from": self.point_group_from} if self.point_group else None,
            "refinement": self.refinement or None,
            "why": self.why or None,
            "shells": [
                {
                    "resolution_A": _rounded(1.0 / s) if s > 0 else None,
                    "fsc": round(float(c), 6),
                    "fsc_without_duplicates": round(float(w), 6),
                }
                for s, c, w in zip(self.frequency, self.fsc, without)
            ],
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def box_of(frequency: np.ndarray) -> float:
    """The box's side (Å) of shells at ``frequency`` (1/Å): shell k at k / side; RELION's shell 0 at 0.001 skipped."""
    return 1.0 / float(np.median(np.diff(frequency[1:]))) if frequency.size > 2 else np.inf


def corrected(fsc: np.ndarray, f: float, halves: tuple[int, int] | None, removed: int) -> np.ndarray:
    """The curve without the duplicates: :func:`halves_without` where the halves are known, else first order."""
    if halves is None or not (halves[0] and halves[1]):
        return without_duplicates(fsc, f)
    return halves_without(fsc, halves, f * float(np.sqrt(halves[0] * halves[1])), removed)


def estimate(
    source: str,
    frequency: np.ndarray,
    fsc: np.ndarray,
    f: float,
    pairs: int,
    turned: tuple[int, str] = (0, ""),
    halves: tuple[tuple[int, int], int] | None = None,
) -> FscEstimate:
    """The estimate for a curve (``frequency`` in 1/Å, ``fsc``, shell by shell from the origin) and its shared ``f``.

    ``turned``: the pairs counted by their poses' sections, and under which point group; ``halves``: the images in
    each half-set and the rows removed with the duplicates (None: the first-order correction alone).
    """
    frequency = np.asarray(frequency, dtype=np.float64)
    fsc = np.asarray(fsc, dtype=np.float64)
    refined = crossing(frequency, fsc)
    crosses = bool((fsc[1:] < THRESHOLD).any())
    sizes, removed = halves if halves is not None else (None, 0)
    curve = corrected(fsc, f, sizes, removed)
    # (a corrected curve above 0.143 to its last shell: its crossing lies beyond the curve, the change not known)
    without = crossing(frequency, curve) if (curve[1:] < THRESHOLD).any() else None
    shell = None
    if refined is not None and refined[1] + 1 < len(frequency):
        k = refined[1]
        shell = float(1.0 / frequency[k] - 1.0 / frequency[k + 1]) if frequency[k] > 0 else None
    return FscEstimate(
        source,
        float(f),
        tuple(float(v) for v in frequency),
        tuple(float(v) for v in fsc),
        None if refined is None else refined[0],
        None if without is None else without[0],
        shell,
        pairs,
        crosses,
        *turned,
        sizes,
        removed,
    )


def pairs_estimate(
    source: str,
    frequency: np.ndarray,
    fsc: np.ndarray,
    offsets_A: np.ndarray | None,
    same_image: int,
    halves: tuple[int, int],
    turns_deg: np.ndarray | None = None,
    turned_by: str = "",
    sides: np.ndarray | None = None,
    pair_rows: tuple[np.ndarray, np.ndarray] | None = None,
) -> FscEstimate:
    """The estimate for a curve from the duplicate groups' pairs' box offsets (Å) and images in both halves.

    Each pair weighs the overlap of its two boxes, times its poses' share (:func:`pose_weights` of ``turns_deg``,
    the angle between them under the refinement's point group ``turned_by``; None: not known, whole); each image in
    both halves 1; ``halves``: the images in each half-set. ``sides``: each pair's half-set, or :data:`ACROSS`
    (None: every pair across). The half-maps share the noise of the pairs across, sum w_ij, out of each one's noise:
    its images plus twice the weight of its pairs within (copies in one half add coherently), so

        f = sum_across w_ij / sqrt((n1 + 2 sum_within1 w_ij) (n2 + 2 sum_within2 w_ij)),

    for groups of a_g rows in half 1 and b_g in half 2 counted whole sum a_g b_g / sqrt(sum a_g^2 sum b_g^2), and
    k / sqrt(n1 n2) for k pairs. ``pair_rows``: the pairs' rows, whose groups across give the rows the removal
    takes out (all but one of each; None: one of each pair). The box's side (Å) is the curve's (:func:`box_of`).
    """
    frequency = np.asarray(frequency, dtype=np.float64)
    box_A = box_of(frequency)
    weights = box_overlap(offsets_A, box_A) if offsets_A is not None and len(offsets_A) else np.zeros(0)
    if turns_deg is not None and weights.size:
        refined = crossing(frequency, np.asarray(fsc, dtype=np.float64))
        shell = box_A / refined[0] if refined is not None and np.isfinite(box_A) else 1.0
        shares = pose_weights(turns_deg, shell)
        assert shares is not None
        weights = weights * shares
    side = np.full(weights.size, ACROSS, dtype=np.int8) if sides is None or not weights.size else np.asarray(sides)
    across = side == ACROSS
    within = [2.0 * float(weights[side == h].sum()) for h in (0, 1)]
    f = shared_fraction(float(weights[across].sum()) + same_image, halves[0] + within[0], halves[1] + within[1])
    turned = 0 if turns_deg is None else int(np.count_nonzero(np.asarray(turns_deg)[across] > SAME_POSE_DEG))
    n_across = int(np.count_nonzero(across))
    # (rows the removal takes out: all but one of each group across, at one pose; copies at poses apart share nothing
    # to remove)
    removed = n_across - turned
    if pair_rows is not None and n_across:
        rows, group = connected(pair_rows[0][across], pair_rows[1][across])
        removed = round((rows.size - np.unique(group).size) * (1.0 - turned / n_across))
    return estimate(
        source, frequency, fsc, f, n_across + same_image, (turned, turned_by), (halves, removed + same_image)
    )
