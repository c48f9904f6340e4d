"""A directed look: the phase correlation of a few pairs read again, at one given shift each.

The screen scores a pair by its correlation map's highest peak. A re-exposure its noise
weakened can lose that peak to chance (or to zero shift, where the camera's pattern lies) yet
still stand out at the shift its hole pattern's confirmed re-exposures share: there the map
is looked at once, not searched, so a value a search would lose among ~1e5 cells is evidence.
``group.look_at_confirmed_shift`` chooses the pairs (a duplicate's neighbours in its hole) and
their shifts; this module reads their images as the screen does and gives each a z.
"""

from __future__ import annotations

import numpy as np

from .plan import ScoringPlan
from .score import _read_image, images_for_spectra, spectrum_bank

__all__ = ["_band_weights", "z_at_shift"]


def z_at_shift(plan: ScoringPlan, rank: np.ndarray, pairs: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """The phase correlation of each pair at its shift, in standard deviations of its map.

    Parameters
    ----------
    plan : ScoringPlan
        The run's plan: the images are binned, tapered and band-passed as the screen's core does
        (its Pearson band), then whitened and weighted by the phase correlation's band.
    rank : ndarray
        Each micrograph's acquisition position (``plan.positions``' inverse).
    pairs : ndarray
        (n, 2) micrograph indices (a, b).
    shifts : ndarray
        (n, 2) shifts (dy, dx) in binned pixels, the core's convention: b[y, x] shows a[y + dy, x + dx].

    Returns
    -------
    ndarray
        z per pair: (map at the shift - the map's mean) / the map's standard deviation.
    """
    if not len(pairs):
        return np.zeros(0)
    lowpass, highpass = plan.band
    psize = plan.binned_psize
    bank = spectrum_bank(plan)
    size = (bank.geometry.fft_height, bank.geometry.fft_width)
    # The phase correlation's band (the image holds the Pearson band's: at a coarse binning, less
    # of the ice and illumination; whitening leaves those frequencies it lacks at zero).
    weights = _band_weights(size, psize / highpass, psize / lowpass)
    spectra: dict[int, np.ndarray] = {}
    for m in np.unique(pairs):
        bank.add([int(m)], images_for_spectra(plan, [_read_image(plan, int(rank[m]))]))
        spectrum = np.fft.rfft2(bank.image(int(m)), size)
        magnitude = np.abs(spectrum)
        spectra[int(m)] = np.where(magnitude > 0, weights * spectrum / np.where(magnitude > 0, magnitude, 1), 0)
        bank.discard([int(m)])
    z = np.empty(len(pairs))
    for k, ((a, b), (dy, dx)) in enumerate(zip(pairs.tolist(), shifts.tolist())):
        # b[y] = a[y + s] makes A conj(B) a wave whose inverse peaks at +s (checked against the core's peaks).
        cmap = np.fft.irfft2(spectra[a] * np.conj(spectra[b]), size)
        sd = cmap.std()  # (0 for a blank image: no evidence, as in the core)
        z[k] = (cmap[round(dy) % size[0], round(dx) % size[1]] - cmap.mean()) / sd if sd > 0 else 0.0
    return z


def _band_weights(size: tuple[int, int], highpass: float, lowpass: float) -> np.ndarray:
    """The core's band weights (``Band::weight``) on the half spectrum of ``size``: cycles per binned pixel."""
    fy = np.fft.fftfreq(size[0])[:, None]
    fx = np.fft.rfftfreq(size[1])[None, :]
    f = np.hypot(fy, fx)

    def ramp(t: np.ndarray) -> np.ndarray:
        return 0.5 - 0.5 * np.cos(np.pi * np.clip(t, 0.0, 1.0))

    low = np.where(f >= highpass, 1.0, ramp((f - highpass / 1.5) / (highpass - highpass / 1.5)))
    high = np.where(f <= lowpass, 1.0, ramp((lowpass * 1.5 - f) / (lowpass * 1.5 - lowpass)))
    return low * high
