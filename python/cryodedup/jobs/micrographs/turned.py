"""Re-exposures turned by a few degrees: the pairs standing out over the null, scored again with one image turned.

A grid reloaded and a square imaged again gives re-exposures turned by a few degrees: their
overlap no longer agrees at one shift (the shift between their images changes by 5 % of the
distance from the turn's centre at 3 degrees) and the phase correlation's peak falls (the real
52 micrographs with 04736..04739 turned by 3 degrees: 1 of the 4 found, the other three 7.9-9.9
robust SD over the null's median, ranks 3, 4 and 6 of 1,326, each at a shift of its own). Their
peaks still stand out, so the few that do (``standout.standing_out``, at most ``PAIRS`` of them,
strongest first) are scored again with the later image turned by each of ``ANGLES`` about its
centre, as the screen scores a pair (the same binning, taper, band and whitening: ``directed``'s
spectra): a pair whose peak at a turn reaches the run's z threshold, ``GAIN`` times its peak
unturned, is left to check (uncertain), with the turn said.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import cryodedup._core as _core

from ...labels import counted
from .decide import MicrographOutcome
from .directed import _band_weights
from .plan import ScoringPlan
from .score import _read_image
from .standout import standing_out

__all__ = ["look_at_turns"]

#: The turns tried (degrees): a turn of up to 5 degrees lies within 1 degree of one.
ANGLES = (-4.0, -2.0, 2.0, 4.0)

#: At most this many pairs standing out are scored again (each 4 maps, about 27 ms each at 720 x 512 px).
PAIRS = 6

#: A turn must lift the pair's peak this many times over its peak unturned (the real set's unrelated 04744/04745,
#: 14.9 robust SD over the null at 11 Å: z 8.92 unturned, 11.56 at -1.5 degrees, x1.3; its re-exposures
#: turned by 3 degrees: 7.0-10.4 unturned, 91-126 at 3 degrees).
GAIN = 1.5


def turned_z(plan: ScoringPlan, rank: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's peak z at its best turn of ``ANGLES``, and that turn (degrees).

    Unturned, the peak is the screen's own (the core's z: this map's, checked on the real set, 7.44 both).

    Parameters
    ----------
    plan : ScoringPlan
        The run's plan: its binning, band, Pearson band (the bank's), pattern removed where it was.
    rank : ndarray
        Each micrograph's acquisition position (``plan.positions``' inverse).
    pairs : ndarray
        (n, 2) micrograph indices (a, b): b is turned.
    """
    lowpass, highpass = plan.band
    psize = plan.binned_psize
    binned = {int(m): _binned(plan, int(rank[m])) for m in np.unique(pairs)}
    ny, nx = next(iter(binned.values())).shape if binned else (0, 0)
    bank = _core.SpectrumBank(ny, nx, 1, psize / highpass, psize / lowpass, psize / plan.pearson_highpass)
    size = (bank.geometry.fft_height, bank.geometry.fft_width)
    weights = _band_weights(size, psize / highpass, psize / lowpass)

    def spectrum(image: np.ndarray) -> np.ndarray:
        bank.add([0], [image])
        made = np.fft.rfft2(bank.image(0), size)
        bank.discard([0])
        magnitude = np.abs(made)
        return np.where(magnitude > 0, weights * made / np.where(magnitude > 0, magnitude, 1), 0)

    best, angle = np.zeros(len(pairs)), np.zeros(len(pairs))
    first: dict[int, np.ndarray] = {}
    for k, (a, b) in enumerate(pairs.tolist()):
        if a not in first:
            first[a] = spectrum(binned[a])
        z = [_peak_z(first[a], spectrum(_turned(binned[b], t)), size) for t in ANGLES]
        top = int(np.argmax(z))
        best[k], angle[k] = z[top], ANGLES[top]
    return best, angle


def _binned(plan: ScoringPlan, q: int) -> np.ndarray:
    """The image at acquisition position ``q``, binned as the screen bins it (its share of a pattern not removed)."""
    raw = _read_image(plan, q)
    return _core.bin_images([raw], plan.binning)[0] if plan.binning > 1 else np.asarray(raw, dtype=np.float32)


def _peak_z(first: np.ndarray, second: np.ndarray, size: tuple[int, int]) -> float:
    """The phase correlation map's highest value, in its standard deviations from its mean (the core's z)."""
    cmap = np.fft.irfft2(first * np.conj(second), size)
    sd = cmap.std()
    return float((cmap.max() - cmap.mean()) / sd) if sd > 0 else 0.0


def _turned(image: np.ndarray, degrees: float) -> np.ndarray:
    """``image`` turned by ``degrees`` about its centre (bilinear; outside the image, its mean)."""
    if degrees == 0:
        return image
    corners, weights, inside = _turn(image.shape, degrees)
    flat = image.ravel()
    value = sum(flat[c] * w for c, w in zip(corners, weights))
    return np.where(inside, value, image.mean()).astype(np.float32)


_TURNS: dict[tuple[tuple[int, int], float], tuple[list[np.ndarray], list[np.ndarray], np.ndarray]] = {}


def _turn(shape: tuple[int, int], degrees: float) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Where each pixel of an image of ``shape`` turned by ``degrees`` is read from: 4 corners, weights, inside.

    Made once a shape and turn (every pair of a run shares them).
    """
    key = (shape, degrees)
    if key not in _TURNS:
        if any(known != shape for known, _ in _TURNS):
            _TURNS.clear()  # (one run's shape at a time)
        ny, nx = shape
        t = np.deg2rad(degrees)
        y, x = np.mgrid[0:ny, 0:nx].astype(np.float32)
        cy, cx = (ny - 1) / 2, (nx - 1) / 2
        sy = cy + (y - cy) * np.cos(t) - (x - cx) * np.sin(t)
        sx = cx + (y - cy) * np.sin(t) + (x - cx) * np.cos(t)
        y0, x0 = np.floor(sy).astype(np.int64), np.floor(sx).astype(np.int64)
        fy, fx = (sy - y0).astype(np.float32), (sx - x0).astype(np.float32)
        inside = (y0 >= 0) & (x0 >= 0) & (y0 < ny - 1) & (x0 < nx - 1)
        at = np.clip(y0, 0, ny - 2) * nx + np.clip(x0, 0, nx - 2)
        corners = [at, at + nx, at + 1, at + nx + 1]
        weights = [(1 - fy) * (1 - fx), fy * (1 - fx), (1 - fy) * fx, fy * fx]
        _TURNS[key] = (corners, weights, inside)
    return _TURNS[key]


def look_at_turns(names: list[str], outcome: MicrographOutcome) -> str | None:
    """The pairs standing out over the null that a turn lifts to the z threshold, left to check: said, or None.

    Marks them uncertain (and ``decision.turned``); the pairs already left to check are not looked at.
    """
    decision, scores, plan = outcome.decision, outcome.scores, outcome.plan
    seen = standing_out(names, scores, decision, plan)
    if seen is None:
        return None
    candidates = np.array([k for k in seen.pairs if not decision.uncertain[k]][:PAIRS], dtype=np.int64)
    if not len(candidates):
        return None
    best, angle = turned_z(plan, outcome.rank, scores.pairs[candidates])
    unturned = scores.z[candidates]
    lifted = (best >= decision.min_z) & (best >= GAIN * np.maximum(unturned, 1e-9))
    if not lifted.any():
        return None
    decision.turned = np.zeros(len(decision.joint), dtype=bool)
    decision.turned[candidates[lifted]] = True
    decision.uncertain |= decision.turned
    named = [
        f"{Path(names[int(scores.pairs[k, 0])]).name}/{Path(names[int(scores.pairs[k, 1])]).name} z {u:.1f} -> "
        f"{b:.1f} turned {a:+g} degrees"
        for k, u, b, a in zip(candidates[lifted], unturned[lifted], best[lifted], angle[lifted])
    ]
    return (
        f"{counted(int(lifted.sum()), 'pair')} standing out over the null whose peak rises to the z threshold "
        f"{decision.min_z:.2f} with the later image turned ({'; '.join(named)}): marked uncertain in pairs.csv; "
        "look at them, re-exposures turned by a few degrees (a grid reloaded)"
    )
