"""A pattern common to the images removed: estimated from the normalised binned images, the pairs scored again.

A gain reference missing or wrong, a camera's fixed-pattern noise, a carbon edge or an ice
gradient every image shares add one picture to every micrograph: every pair then agrees at
one shift and the run's own null is gone (``decide.common_pattern`` says so from the scored
pairs). Re-exposures are a few pairs, so the mean of the binned images, each normalised, is
the pattern and little else; each image's share of it is fitted and removed as its spectrum is
made (:meth:`CommonPattern.remove`), and every pair is scored again.

Both the mean and the fit are taken over the screen's band, weighted as the screen weighs
each frequency (whitened: by the images' mean power there). Fitted over the whole image
instead, the ice and illumination rule the fit: the real set with a field of 0.2 of each
image's SD kept 26 % of it on average after the removal (70 % at worst), and 70 pairs
stayed duplicates at zero shift; weighted, 3 % (9 % at worst).

A pattern in part of the session (a gain reference that broke mid-way) lifts too few pairs for
that test, but it leaves a mark no re-exposure leaves: three or more micrographs that are all
duplicates of each other at one shift (:func:`shared_shift_group`). A beam-shift re-exposure
pairs two images, and a hole imaged three times gives shifts that differ (A to C is A to B plus
B to C). The pattern is then estimated from that group's images alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

import cryodedup._core as _core

from .plan import ScoringPlan
from .score import ProgressBar, ShardScores, _read_image, run_in_process

__all__ = ["scored_without_pattern", "shared_shift_group"]

#: Shifts within this many binned pixels (each axis) are one shift.
ONE_SHIFT = 1

#: Pairs at least this correlated are copies of one image (a byte-identical copy: 1.0), not a pattern
#: (the real set with a field of 0.2-0.3 of each image's SD on part of it: Pearson 0.29-0.87).
COPIES = 0.99


@dataclass(frozen=True)
class CommonPattern:
    """A pattern common to the binned images: its spectrum, and the weight of each frequency in a fit.

    ``spectrum``: the mean of the images' spectra (``numpy.fft.rfft2`` of each binned image
    less its mean), each normalised by its power in the band; ``weights``: the band over the
    images' mean power, per coefficient (zero outside the band).
    """

    shape: tuple[int, int]  # the binned images'
    spectrum: np.ndarray
    weights: np.ndarray
    images: np.ndarray | None = None  # the input indices of the group it was estimated from (None: every image)

    def remove(self, binned: np.ndarray) -> np.ndarray:
        """A binned image less its share of the pattern (weighted least squares: its amplitude differs by image)."""
        centred = binned - binned.mean(dtype=np.float64)
        spectrum = np.fft.rfft2(centred)
        share = np.sum((spectrum * np.conj(self.spectrum)).real * self.weights) / max(
            float(np.sum(np.abs(self.spectrum) ** 2 * self.weights)), 1e-300
        )
        return np.fft.irfft2(spectrum - share * self.spectrum, self.shape).astype(np.float32)


def estimate_pattern(plan: ScoringPlan, images: np.ndarray | None = None) -> CommonPattern:
    """The pattern common to the plan's images (or to those of input indices ``images``), binned as the screen bins."""
    shape = (plan.shape[0] // plan.binning, plan.shape[1] // plan.binning)
    band = _band(shape, plan.binned_psize, plan.band)
    chosen = _chosen(plan, images)
    count = len(chosen)
    normalised, power = np.zeros(band.shape, dtype=complex), np.zeros(band.shape)
    for first in range(0, count, plan.batch):
        raw = [_read_image(plan, int(q)) for q in chosen[first : first + plan.batch]]
        for binned in _core.bin_images(raw, plan.binning):
            spectrum = np.fft.rfft2(binned - binned.mean(dtype=np.float64))
            each = np.abs(spectrum) ** 2
            in_band = float(np.sqrt(np.sum(each * band)))
            normalised += spectrum / in_band if in_band > 0 else 0.0  # (a blank image holds no pattern)
            power += each
    power /= max(count, 1)
    weights = np.where(power > 0, band / np.where(power > 0, power, 1.0), 0.0)
    return CommonPattern(shape, normalised / max(count, 1), weights, images)


def _chosen(plan: ScoringPlan, images: np.ndarray | None) -> np.ndarray:
    """The plan's indices of input indices ``images`` (every image where None)."""
    return np.arange(len(plan.positions)) if images is None else np.flatnonzero(np.isin(plan.positions, images))


def scored_without_pattern(
    plan: ScoringPlan,
    progress_factory: Callable[[int], ProgressBar] | None,
    first: list[ShardScores],
    images: np.ndarray | None = None,
) -> tuple[ScoringPlan, list[ShardScores]]:
    """The plan with the common pattern of its images or of ``images`` (:func:`estimate_pattern`), scored again here.

    What was read is counted in all: the first scoring's reads (its shards, ``first``), the
    estimate's pass over its images and the second scoring's, each image as its file holds it.
    """
    started = time.perf_counter()
    without = replace(plan, pattern=estimate_pattern(plan, images))
    estimating = time.perf_counter() - started
    chosen = _chosen(plan, images)
    estimate_bytes = sum(_read_image(plan, int(q)).nbytes for q in chosen)  # (mapped, not read again)
    again = run_in_process(without, progress_factory)
    before = again[0]
    again[0] = replace(
        before,
        images_read=before.images_read + len(chosen) + sum(s.images_read for s in first),
        bytes_read=before.bytes_read + estimate_bytes + sum(s.bytes_read for s in first),
        read_seconds=before.read_seconds + estimating + sum(s.read_seconds for s in first),
    )
    return without, again


def shared_shift_group(
    pairs: np.ndarray, shifts: np.ndarray, pearson: np.ndarray
) -> tuple[np.ndarray, tuple[int, int], int] | None:
    """The micrographs of the largest group all duplicates of each other at one shift, the shift, its pairs; or None.

    ``pairs`` (input indices), ``shifts`` (dy, dx binned px) and ``pearson``: the duplicate pairs'.
    A group: the images of every triangle of duplicate pairs whose three shifts lie within
    ``ONE_SHIFT`` of each other, joined where triangles share a pair; triangles of copies of
    one image (every Pearson coefficient ``COPIES`` or more) are no pattern, nor a group three of
    whose images duplicate one image outside it at one shift (:func:`_one_area`).
    """
    edge = {(int(a), int(b)): k for k, (a, b) in enumerate(np.sort(pairs, axis=1))}
    around: dict[int, set[int]] = {}
    for a, b in edge:
        around.setdefault(a, set()).add(b)
        around.setdefault(b, set()).add(a)
    parent = list(range(len(pairs)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    in_triangle = np.zeros(len(pairs), dtype=bool)
    for (a, b), ab in edge.items():
        for c in around[a] & around[b]:
            ac, bc = edge[(min(a, c), max(a, c))], edge[(min(b, c), max(b, c))]
            three = [ab, ac, bc]
            spread = np.ptp(shifts[three], axis=0).max()
            if spread > ONE_SHIFT or bool(np.all(pearson[three] >= COPIES)):
                continue
            in_triangle[three] = True
            for k in (ac, bc):
                parent[root(k)] = root(ab)
    members = np.flatnonzero(in_triangle)
    roots = np.array([root(int(k)) for k in members], dtype=int)
    groups = [members[roots == r] for r in np.unique(roots)]
    groups = [g for g in groups if not _one_area(np.unique(pairs[g]), edge, shifts)]
    if not groups:
        return None
    group = max(groups, key=len)
    dy, dx = np.median(shifts[group], axis=0).round().astype(int)
    return np.unique(pairs[group]), (int(dy), int(dx)), len(group)


def _one_area(images: np.ndarray, edge: dict[tuple[int, int], int], shifts: np.ndarray) -> bool:
    """Whether three or more of ``images`` duplicate one image outside them at one shift: one area imaged again.

    A pattern makes its images agree with each other only; windows of one area (a hole imaged
    again at one place) agree with a fourth window of it too, each at the same shift.
    """
    inside = set(images.tolist())
    seen: dict[int, list[np.ndarray]] = {}
    for (a, b), k in edge.items():
        if (a in inside) != (b in inside):
            outside, sign = (b, 1) if a in inside else (a, -1)
            seen.setdefault(outside, []).append(sign * shifts[k])
    for found in seen.values():
        if len(found) >= 3:
            found_ = np.array(found)
            close = np.abs(found_[:, None, :] - found_[None, :, :]).max(axis=2) <= ONE_SHIFT
            if close.sum(axis=1).max() >= 3:
                return True
    return False


def _band(shape: tuple[int, int], psize: float, band: tuple[float, float]) -> np.ndarray:
    """1 where an ``rfft2`` coefficient of a binned image lies in the screen's band (lowpass, highpass Å), else 0."""
    lowpass, highpass = band
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    frequency = np.hypot(fy, fx) / psize  # (cycles per Å)
    return ((frequency >= 1 / highpass) & (frequency <= 1 / lowpass)).astype(float)
