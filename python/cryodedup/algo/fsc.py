"""What duplicates across the half-sets did to a refinement's FSC: the shared fraction and the FSC without them.

Two half-maps that share k particle images (n1 and n2 images in the halves) share those images'
noise. Where the signal is weak, their FSC gains the shared fraction f = k / sqrt(n1 n2); to
first order (equal weights, white noise, docs/design.md section 9)

    FSC_with = f + (1 - f) FSC_without,   so   FSC_without = (FSC_with - f) / (1 - f).

A pair of boxes of one particle picked a few Å apart shares only the part of the two boxes that
overlaps once both are aligned on the particle: each pair counts by that overlap (two squares, or
cubes for subtomograms, of the box's side offset by the pair's offset); one image in both
half-sets counts whole. The resolution is where the FSC first falls below 0.143, interpolated
between the two shells around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..particle_set import ParticleSet
from .audit import distance_pairs

__all__ = ["FscEstimate", "half_sizes", "pairs_estimate", "straddling_pairs"]

#: The FSC at which a map's resolution is read (Rosenthal and Henderson 2003: half-maps' 0.143).
THRESHOLD = 0.143


def box_overlap(offsets_A: np.ndarray, box_A: float) -> np.ndarray:
    """The share of a box that two boxes of side ``box_A`` offset by each row of ``offsets_A`` (Å) have in common.

    Squares for (n, 2) offsets, cubes for (n, 3): the product over the axes of 1 - |offset| / side, 0 past a side.
    """
    offsets = np.abs(np.asarray(offsets_A, dtype=np.float64).reshape(len(offsets_A), -1))
    return np.prod(np.clip(1.0 - offsets / box_A, 0.0, 1.0), axis=1)


def straddling_pairs(particles: ParticleSet, suppressed_by: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows (first, second) of each duplicate pair whose particles sit in different half-sets.

    The pairs of :func:`cryodedup.algo.audit.distance_pairs` (those of one image at two centres are counted
    whole apart).
    """
    assert particles.halfsets is not None
    a, b = distance_pairs(particles, suppressed_by)
    half = particles.halfsets.half
    across = half[a] != half[b]
    return a[across], b[across]


def half_sizes(particles: ParticleSet) -> tuple[int, int]:
    """The rows in each half-set (n1, n2)."""
    assert particles.halfsets is not None
    counts = np.bincount(particles.halfsets.half.astype(np.int64), minlength=2)
    return int(counts[0]), int(counts[1])


def shared_fraction(shared_images: float, n1: int, n2: int) -> float:
    """The shared fraction f = k / sqrt(n1 n2): the half-maps' noise they share (0 for an empty half)."""
    return float(shared_images / np.sqrt(n1 * n2)) if n1 and n2 else 0.0


def without_duplicates(fsc: np.ndarray, f: float) -> np.ndarray:
    """The FSC the half-maps would have without the images they share: (FSC - f) / (1 - f)."""
    return (np.asarray(fsc, dtype=np.float64) - f) / (1.0 - f) if f < 1.0 else np.zeros(len(fsc))


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


@dataclass(frozen=True)
class FscEstimate:
    """One refinement's FSC as read, its shared fraction, and the resolution predicted without the duplicates.

    ``frequency`` (1/Å) and ``fsc`` shell by shell; ``resolution_A``: the 0.143 crossing as refined;
    ``resolution_without_A``: the crossing of (FSC - f) / (1 - f); ``shell_A``: the width of one Fourier shell
    at the crossing as refined (Å), the unit the verdict counts the change in; ``pairs``: the straddling pairs
    (and images in both halves) behind f.
    """

    source: str
    shared_fraction: float
    frequency: tuple[float, ...]
    fsc: tuple[float, ...]
    resolution_A: float | None
    resolution_without_A: float | None
    shell_A: float | None
    pairs: int

    @property
    def fsc_without(self) -> np.ndarray:
        """The FSC predicted without the duplicates, shell by shell."""
        return without_duplicates(np.asarray(self.fsc), self.shared_fraction)

    @property
    def change_A(self) -> float | None:
        """How much worse (Å, positive) the resolution is predicted without the duplicates; None when unknown."""
        if self.resolution_A is None or self.resolution_without_A is None:
            return None
        return self.resolution_without_A - self.resolution_A

    @property
    def change_shells(self) -> float | None:
        """The change in Fourier shells at the crossing (its size for the verdict)."""
        change = self.change_A
        if change is None or not self.shell_A:
            return None
        return change / self.shell_A

    def to_json(self) -> dict:
        """As ``--json`` prints it (the names pipelines read)."""
        without = self.fsc_without
        return {
            "source": self.source,
            "shared_fraction": round(self.shared_fraction, 6),
            "resolution_A": _rounded(self.resolution_A),
            "resolution_without_duplicates_A": _rounded(self.resolution_without_A),
            "change_A": _rounded(self.change_A),
            "shell_A": _rounded(self.shell_A),
            "pairs": self.pairs,
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


def estimate(source: str, frequency: np.ndarray, fsc: np.ndarray, f: float, pairs: int) -> FscEstimate:
    """The estimate for a curve (``frequency`` in 1/Å, ``fsc``, shell by shell from the origin) and its shared ``f``."""
    frequency = np.asarray(frequency, dtype=np.float64)
    fsc = np.asarray(fsc, dtype=np.float64)
    refined = crossing(frequency, fsc)
    without = crossing(frequency, without_duplicates(fsc, f))
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
    )


def pairs_estimate(
    source: str,
    frequency: np.ndarray,
    fsc: np.ndarray,
    offsets_A: np.ndarray | None,
    same_image: int,
    halves: tuple[int, int],
) -> FscEstimate:
    """The estimate for a curve from the straddling pairs' box offsets (Å) and images in both halves.

    Each pair weighs the overlap of its two boxes, each image in both halves 1; ``halves``: the images in each
    half-set. The box's side (Å) is the curve's: shell k lies at k / side (RELION writes shell 0 at 0.001, so
    the spacing is taken past it).
    """
    frequency = np.asarray(frequency, dtype=np.float64)
    box_A = 1.0 / float(np.median(np.diff(frequency[1:]))) if frequency.size > 2 else np.inf
    weight = float(box_overlap(offsets_A, box_A).sum()) if offsets_A is not None and len(offsets_A) else 0.0
    f = shared_fraction(weight + same_image, *halves)
    pairs = (0 if offsets_A is None else len(offsets_A)) + same_image
    return estimate(source, frequency, fsc, f, pairs)
