"""What the screen can see: the z a re-exposure of the run's images would score, from the images alone.

TRUSTED says re-exposures would have been seen. Noise can leave every re-exposure under the
thresholds with nothing in the scores to point at them (the real set with noise of twice each
image's SD at 30 Å, seeds 4 and 7: all 4 missed, no pair at their shift, and the verdict said
TRUSTED). So the screen asks of its own images how high a re-exposure of them would stand.

An image is split into two halves of its pixels, a checkerboard (each half the mean of one
diagonal of every 2 x 2 block): the specimen is shared, the shot noise is not, as between two
exposures of one area. Their agreement per ring of the screen's band (Fourier ring correlation
of the halves binned, tapered and band-passed as the screen's images are) gives the specimen's
signal-to-noise ratio; the whole image's is twice it where the halves see the specimen as the
screen does (Rosenthal and Henderson's half-set correction), corrected for the transfers of the
halves' diagonal means and binnings against the screen's block mean (:func:`_whole_over_halves`:
at bin 1 the halves' grid is the coarser). With a re-exposure's partial overlap (``OVERLAP``),
each coefficient of the screen's whitened cross-power spectrum has the mean (pi / 4) rho 2F1(1/2,
1/2; 2; rho^2) (the phase difference of two complex Gaussians of correlation rho), so the phase
correlation map peaks at the band's weights times that, summed, over its standard deviation
(Parseval: the root of the sum of the weights squared): the z.

Measured on the real 52 (the estimates of 04700..04703's own images, then in brackets their
re-exposures' z at their shift): clean 102-113 / 66-74 / 44-50 / 37-42 at 12 / 20 / 30 / 40 Å
(92-127, 62-82, 45-61, 30-44); noise of each image's SD at 40 Å 12.3, 10.2, 13.6, 5.2 (9.6, 12.8,
13.6, 5.0: 3 found, the fourth left to check); of twice it at 20 Å 4.2, 2.8, 4.5, 2.5 (5.7, 5.6,
3.9, 2.1: none found). It errs high where the halves share more than the specimen: a camera's
pattern, or noise that motion correction's interpolation spread over neighbouring pixels (a
pattern the screen removed is still in the halves); low where the specimen's detail lies near the
band's finest at bin 1 (generated images, detail at 40-250 Å at 10 Å: 6.7 where their
re-exposures scored 9.2-11.6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import cryodedup._core as _core

from .directed import _band_weights
from .plan import ScoringPlan
from .score import _read_image

__all__ = ["Power", "screen_power"]

#: How many images are split, at most (evenly spread in acquisition order): the estimate is their median.
#: Every image of a smaller session. Eight sampled images moved the median of one 10-image session
#: by 4.1-11.3 (issue 97); each image's own estimate spreads widely (the real 52 with noise of twice
#: each image's SD at 11 Å: 1.4-24.8, median 7.4), so the median's spread is said with it.
SAMPLE = 64

#: Bootstrap resamples of the images' estimates, for the median's interval.
RESAMPLES = 2000

#: The median's interval: its 5th and 95th percentile over the resamples.
INTERVAL = (5.0, 95.0)

#: Fewer images than this are not judged blind: one image has no pair. Sessions of 2-4 are judged as
#: larger ones (the real set with noise of twice each image's SD: 2, 3 and 4 images with a re-exposure
#: scoring under the threshold were TRUSTED while this was 5).
FEWEST_IMAGES = 2

#: A re-exposure's overlap with its first exposure (the real set's 4: 89 %, a beam shift of 57 x 18 px).
OVERLAP = 0.89

#: Rings of the band over which the halves' agreement (FRC) is taken for the correction.
RINGS = 8


@dataclass(frozen=True)
class Power:
    """The z a re-exposure of the run's images would score: the median of ``images`` images' estimates.

    ``low`` and ``high``: the median's 90 % interval (the images' estimates resampled); ``estimates``:
    each image's, in acquisition order of those read.
    """

    z: float
    images: int
    low: float = float("nan")
    high: float = float("nan")
    estimates: tuple[float, ...] = field(default=(), repr=False)

    def blind(self, min_z: float, binned_psize: float) -> str | None:
        """Why the screen cannot see re-exposures under the z threshold ``min_z``, or None where it can.

        Blind where the median's interval reaches under ``min_z``: TRUSTED only where a re-exposure
        of a typical image of the session would have passed, whichever images were read. Not judged
        from fewer than ``FEWEST_IMAGES`` images.
        """
        if self.images < FEWEST_IMAGES or min(self.z, self.low if np.isfinite(self.low) else self.z) >= min_z:
            return None
        passing = sum(z >= min_z for z in self.estimates)
        # (the median under the threshold: a typical re-exposure missed; else only its interval's low end is)
        under = (
            f"under the z threshold {min_z:.2f}: re-exposures here would be missed"
            if self.z < min_z
            else f"over the z threshold {min_z:.2f}, but the interval's low end {self.low:.1f} is under it: "
            "re-exposures here could be missed"
        )
        return (
            f"blind at {binned_psize:.3g} Å per pixel: a re-exposure of these images would score z {self.z:.1f} "
            f"(90 % interval {self.low:.1f}-{self.high:.1f}; the median of {self.images} images' estimates, each "
            f"from two halves of its pixels that share the specimen, not the noise; {passing} of the {self.images} "
            f"over the threshold), {under}"
        )

    def to_json(self) -> dict[str, Any]:
        """The estimate as numbers: ``z`` (the median), ``low`` and ``high`` (its interval), ``images`` read."""
        return {"z": self.z, "low": self.low, "high": self.high, "images": self.images}


def screen_power(plan: ScoringPlan) -> Power:
    """The z a re-exposure of the plan's images would score: :func:`split_z` of up to ``SAMPLE`` of them, the median.

    The median's interval is the 5th to 95th percentile of the medians of the estimates
    resampled with replacement (a fixed seed: a run's result never depends on luck).
    """
    count = len(plan.positions)
    if not count:
        return Power(float("nan"), 0)
    sample = np.unique(np.linspace(0, count - 1, min(count, SAMPLE)).round().astype(int))
    rings: _Rings | None = None
    estimates = []
    for q in sample:  # (one image's halves at a time: a session's images are not all held)
        a, b = _halves(_read_image(plan, int(q)))
        rings = rings or _Rings(plan, a.shape)
        estimates.append(rings.z(a, b))
    z = np.array(estimates)
    rng = np.random.default_rng(0)
    medians = np.median(z[rng.integers(0, len(z), (RESAMPLES, len(z)))], axis=1)
    low, high = np.percentile(medians, INTERVAL)
    return Power(
        round(float(np.median(z)), 2), len(z), round(float(low), 2), round(float(high), 2),
        tuple(round(float(v), 2) for v in z),
    )  # fmt: skip


def split_z(plan: ScoringPlan, raw: np.ndarray) -> float:
    """The z a re-exposure of ``raw`` would score, from its two checkerboard halves' agreement per ring of the band."""
    a, b = _halves(raw)
    return _Rings(plan, a.shape).z(a, b)


class _Rings:
    """The band's rings on the halves' grid, with each ring's weight in the screen's map: what every estimate shares.

    The halves are binned, tapered (the core's Tukey edges, 8 % of each side) and band-passed
    from the Pearson band's coarsest detail as the screen's images are (the core's bank), here in
    numpy and without padding (a ring's FRC does not need it; the map's weights, taken on the
    core's padded grid, do).
    """

    def __init__(self, plan: ScoringPlan, shape: tuple[int, int]):
        self.binning = max(1, plan.binning // 2)
        psize = 2 * plan.binned_psize / plan.binning * self.binning  # (the halves' binned pixel)
        lowpass, highpass = plan.band
        geometry = _core.SpectrumBank(*shape, self.binning, psize / highpass, psize / lowpass).geometry
        padded = (geometry.fft_height, geometry.fft_width)
        weights = _band_weights(padded, psize / highpass, psize / lowpass)
        self.spread = float(np.sqrt(np.sum(weights**2)))
        fy, fx = np.fft.fftfreq(padded[0])[:, None], np.fft.rfftfreq(padded[1])[None, :]
        frequency = np.broadcast_to(np.hypot(fy, fx), weights.shape)
        band = weights > 0
        edges = np.linspace(frequency[band].min(), frequency[band].max(), RINGS + 1) if band.any() else np.zeros(2)
        label = np.where(band, np.searchsorted(edges[1:-1], frequency, side="right"), RINGS).ravel()
        gain = _whole_over_halves(fy / (2 * self.binning), fx / (2 * self.binning), plan.binning, self.binning)
        self.weight = np.bincount(label, weights.ravel(), RINGS + 1)[:RINGS]
        weighted_gain = np.bincount(label, (weights * gain).ravel(), RINGS + 1)[:RINGS]
        self.gain = np.divide(weighted_gain, self.weight, out=np.zeros(RINGS), where=self.weight > 0)
        # The rings on the binned halves' own grid (no padding), less what the Pearson band leaves out
        # (its ramp starts 1.5 x under its coarsest detail's frequency: ``directed._band_weights``).
        ny, nx = shape[0] // self.binning, shape[1] // self.binning
        fy, fx = np.fft.fftfreq(ny)[:, None], np.fft.rfftfreq(nx)[None, :]
        frequency = np.hypot(fy, fx)
        kept = (frequency >= edges[0]) & (frequency <= edges[-1]) & (frequency > psize / plan.pearson_highpass / 1.5)
        self.kept = np.flatnonzero(kept)
        self.label = np.searchsorted(edges[1:-1], frequency.ravel()[self.kept], side="right")
        self.taper = np.outer(_tukey(ny), _tukey(nx))

    def z(self, a: np.ndarray, b: np.ndarray) -> float:
        """The z a re-exposure of the image whose halves are ``a`` and ``b`` would score."""
        if self.spread <= 0:
            return 0.0
        binned = _core.bin_images([a, b], self.binning) if self.binning > 1 else [a, b]
        first, second = (np.fft.rfft2((x - x.mean(dtype=np.float64)) * self.taper) for x in binned)

        first, second = first.ravel()[self.kept], second.ravel()[self.kept]

        def per_ring(values: np.ndarray) -> np.ndarray:
            return np.bincount(self.label, values, RINGS)

        cross = per_ring((first * np.conj(second)).real)
        power = np.sqrt(per_ring(np.abs(first) ** 2) * per_ring(np.abs(second) ** 2))
        frc = np.clip(np.divide(cross, power, out=np.zeros(RINGS), where=power > 0), 0.0, 0.999)
        snr = frc / (1 - frc) * self.gain  # (the whole image's; 0 for a blank image: nothing to see)
        return float(np.sum(self.weight * _phase_agreement(OVERLAP * snr / (1 + snr)))) / self.spread


def _tukey(n: int) -> np.ndarray:
    """The core's taper (``plan.rs`` ``tukey``): a raised cosine over 8 % of the side at each end."""
    edge = max(n * 0.08, 1.0)
    d = np.minimum(np.arange(n) + 0.5, n - np.arange(n) - 0.5)
    return np.where(d >= edge, 1.0, 0.5 - 0.5 * np.cos(np.pi * d / edge))


def _whole_over_halves(fy: np.ndarray, fx: np.ndarray, binning: int, half_binning: int) -> np.ndarray:
    """The whole image's signal-to-noise ratio over the halves', per frequency (``fy``, ``fx``: cycles per raw pixel).

    Each half holds twice the noise (per area) of the whole image, and sees the specimen through
    its own mean: one diagonal of each 2 x 2 block (cos pi(fx + fy), cos pi(fx - fy)), then its
    ``half_binning``; the screen's image sees it through its block mean of ``binning``. So the
    ratio is 2 x the screen's transfer squared over the halves' (Rosenthal and Henderson's 2 where
    the transfers agree: low frequencies; more at bin 1, where the halves' grid is the coarser).
    """

    def block(n: int, f: np.ndarray) -> np.ndarray:  # (the mean of n samples a unit apart, f cycles per unit)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.sin(np.pi * n * f) / (n * np.sin(np.pi * f))
        return np.where(np.abs(np.sin(np.pi * f)) < 1e-12, 1.0, t)

    screen = (block(binning, fy) * block(binning, fx)) ** 2
    halves = (
        np.cos(np.pi * (fx + fy))
        * np.cos(np.pi * (fx - fy))
        * (block(half_binning, 2 * fy) * block(half_binning, 2 * fx)) ** 2
    )
    return 2 * screen / np.maximum(halves, 0.05)


def _halves(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image's two checkerboard halves, each the mean of one diagonal of every 2 x 2 block."""
    ny, nx = raw.shape[0] // 2 * 2, raw.shape[1] // 2 * 2
    x = np.asarray(raw[:ny, :nx], dtype=np.float32)
    return (x[0::2, 0::2] + x[1::2, 1::2]) * np.float32(0.5), (x[0::2, 1::2] + x[1::2, 0::2]) * np.float32(0.5)


def _phase_agreement(rho: np.ndarray) -> np.ndarray:
    """The mean cosine of the phase difference of two complex Gaussians of correlation ``rho``.

    (pi / 4) rho 2F1(1/2, 1/2; 2; rho^2): rho pi / 4 for weak signal, 1 at rho = 1 (rho at most 0.89 here).
    """
    k = np.arange(1, 200)
    terms = np.cumprod((k - 0.5) ** 2 / (k * (k + 1)))  # (the series' coefficients, each over the last's)
    x = np.asarray(rho, dtype=float)[..., None] ** 2
    return np.pi / 4 * np.asarray(rho) * (1 + np.sum(terms * x**k, axis=-1))
