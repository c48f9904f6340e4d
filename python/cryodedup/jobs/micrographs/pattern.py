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
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

import cryodedup._core as _core

from .plan import ScoringPlan
from .score import ProgressBar, ShardScores, _read_image, run_in_process

__all__ = ["scored_without_pattern"]


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

    def remove(self, binned: np.ndarray) -> np.ndarray:
        """A binned image less its share of the pattern (weighted least squares: its amplitude differs by image)."""
        centred = binned - binned.mean(dtype=np.float64)
        spectrum = np.fft.rfft2(centred)
        share = np.sum((spectrum * np.conj(self.spectrum)).real * self.weights) / max(
            float(np.sum(np.abs(self.spectrum) ** 2 * self.weights)), 1e-300
        )
        return np.fft.irfft2(spectrum - share * self.spectrum, self.shape).astype(np.float32)


def estimate_pattern(plan: ScoringPlan) -> CommonPattern:
    """The pattern common to the plan's images, binned as the screen bins them: one pass over them."""
    shape = (plan.shape[0] // plan.binning, plan.shape[1] // plan.binning)
    band = _band(shape, plan.binned_psize, plan.band)
    count = len(plan.positions)
    normalised, power = np.zeros(band.shape, dtype=complex), np.zeros(band.shape)
    for first in range(0, count, plan.batch):
        raw = [_read_image(plan, q) for q in range(first, min(first + plan.batch, count))]
        for binned in _core.bin_images(raw, plan.binning):
            spectrum = np.fft.rfft2(binned - binned.mean(dtype=np.float64))
            each = np.abs(spectrum) ** 2
            in_band = float(np.sqrt(np.sum(each * band)))
            normalised += spectrum / in_band if in_band > 0 else 0.0  # (a blank image holds no pattern)
            power += each
    power /= max(count, 1)
    weights = np.where(power > 0, band / np.where(power > 0, power, 1.0), 0.0)
    return CommonPattern(shape, normalised / max(count, 1), weights)


def scored_without_pattern(
    plan: ScoringPlan, progress_factory: Callable[[int], ProgressBar] | None, first: list[ShardScores]
) -> tuple[ScoringPlan, list[ShardScores]]:
    """The plan with the images' common pattern (:func:`estimate_pattern`), and its pairs scored again here.

    What was read is counted in all: the first scoring's reads (its shards, ``first``), the
    estimate's pass over every image and the second scoring's, each image as its file holds it.
    """
    started = time.perf_counter()
    without = replace(plan, pattern=estimate_pattern(plan))
    estimating = time.perf_counter() - started
    count = len(plan.positions)
    estimate_bytes = sum(_read_image(plan, q).nbytes for q in range(count))  # (mapped, not read again)
    again = run_in_process(without, progress_factory)
    before = again[0]
    again[0] = replace(
        before,
        images_read=before.images_read + count + sum(s.images_read for s in first),
        bytes_read=before.bytes_read + estimate_bytes + sum(s.bytes_read for s in first),
        read_seconds=before.read_seconds + estimating + sum(s.read_seconds for s in first),
    )
    return without, again


def _band(shape: tuple[int, int], psize: float, band: tuple[float, float]) -> np.ndarray:
    """1 where an ``rfft2`` coefficient of a binned image lies in the screen's band (lowpass, highpass Å), else 0."""
    lowpass, highpass = band
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    frequency = np.hypot(fy, fx) / psize  # (cycles per Å)
    return ((frequency >= 1 / highpass) & (frequency <= 1 / lowpass)).astype(float)
