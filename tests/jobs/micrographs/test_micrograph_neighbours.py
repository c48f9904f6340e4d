"""A pair far above the null at a shift its hole neighbours share is at least "check" (neighbours.py, issue 97).

On main, the real 52 micrographs with noise of twice each image's SD (seed 4) at 33 Å: 04701/04737
at z 6.43, 8.1 robust SD over the null's median, its hole's other re-exposures too weak to stand
out alone, and the run not even "check" for it. The oracle: an independent screen written here
(numpy phase correlation, whitened, band-passed from 25 to 4 pixels, each map in its own SD), which
sees the anchor's peak far above its null and the neighbours' maps high at the anchor's shift.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from test_micrograph_trusted import write_noisy_copies

from cryodedup.cli import main
from fixtures.synthetic import band_noise, write_mrc
from helpers import shared_file

WARNING = "far above the null at a shift its hole neighbours share"


def screen(folder, out, *extra: str) -> tuple[dict, set[tuple[int, int]]]:
    args = ["micrographs", str(folder / "*.mrc"), "-o", str(out), "--json", "-q", "--accept-untrusted", *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    with open(out / "pairs.csv") as f:
        marked = {
            (int(r["index_a"]), int(r["index_b"])) for r in csv.DictReader(f) if "1" in (r["duplicate"], r["uncertain"])
        }
    return json.loads(result.stdout), marked


def independent_map(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The phase correlation map of two images in its own SD (numpy): tapered, padded twice, whitened, 25-4 px."""

    def spectrum(image: np.ndarray) -> np.ndarray:
        ny, nx = image.shape
        taper = np.outer(
            *(np.minimum(1, np.sin(np.pi * (np.arange(n) + 0.5) / n) / np.sin(np.pi * 0.08)) for n in (ny, nx))
        )
        return np.fft.rfft2((image - image.mean()) * taper, (2 * ny, 2 * nx))

    a, b = spectrum(first.astype(float)), spectrum(second.astype(float))
    size = (a.shape[0], 2 * first.shape[1])
    f = np.hypot(np.fft.fftfreq(size[0])[:, None], np.fft.rfftfreq(size[1])[None, :])
    cross = a * np.conj(b)
    cmap = np.fft.irfft2(np.where((f >= 1 / 25) & (f <= 1 / 4), cross / np.maximum(np.abs(cross), 1e-30), 0), size)
    return (cmap - cmap.mean()) / cmap.std()


def shared_by_neighbours(images: list[np.ndarray], anchor: tuple[int, int], neighbours: list[tuple[int, int]]):
    """The anchor's peak (independent map) and its neighbours' maps at the anchor's peak, combined (Stouffer)."""
    cmap = independent_map(images[anchor[0]], images[anchor[1]])
    at = np.unravel_index(np.argmax(cmap), cmap.shape)
    values = [float(independent_map(images[a], images[b])[at]) for a, b in neighbours]
    return float(cmap.max()), sum(values) / np.sqrt(len(values))


def binned(image: np.ndarray, n: int) -> np.ndarray:
    ny, nx = image.shape[0] // n * n, image.shape[1] // n * n
    return image[:ny, :nx].reshape(ny // n, n, nx // n, n).mean(axis=(1, 3))


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """The real 52 micrographs with noise of twice each image's SD (seed 4)."""
    folder = tmp_path_factory.mktemp("noisy4")
    write_noisy_copies(shared_file("micrographs"), folder, scale=2.0, seed=4)
    return folder


@pytest.mark.real_data
def test_a_real_reexposure_far_above_the_null_at_its_hole_neighbours_shift_is_left_to_check(noisy, tmp_path):
    import mrcfile

    summary, marked = screen(noisy, tmp_path / "out", "--target-psize", "30")
    assert marked == {(1, 37)}, marked  # (on main: none)
    (said,) = [w for w in summary["warnings"] if WARNING in w]
    assert "CU428_04701_4-2.mrc/CU428_04737_1-2.mrc z 6.43 (8.1 robust SD), its 3 neighbours 3.8 combined" in said
    assert summary["verdict"]["check"] == 1
    # The independent screen (at the run's bin 3): the anchor far above its null (pairs 1-2 images apart,
    # unrelated), and its hole's other re-exposures high at its peak; the next hole's pairs 36 apart not.
    images = [binned(mrcfile.read(p).astype(np.float32), 3) for p in sorted(noisy.glob("*.mrc"))]
    null = np.array([independent_map(images[n], images[n + d]).max() for n in range(4, 44, 3) for d in (1, 2)])
    median, sd = np.median(null), 1.4826 * np.median(np.abs(null - np.median(null)))
    peak, combined = shared_by_neighbours(images, (1, 37), [(0, 36), (2, 38), (3, 39)])
    assert (peak - median) / sd > 8 and combined > 3.5, (peak, median, sd, combined)
    _, unrelated = shared_by_neighbours(images, (5, 41), [(4, 40), (6, 42), (7, 43)])
    assert unrelated < 3.5, unrelated


@pytest.mark.real_data
def test_nothing_planted_nothing_marked(noisy, tmp_path):
    # The control: the same noisy set without the re-exposures (04736..04739 left out), and the clean
    # set, whose unrelated pair far above the null (04744/04745, 14.7 robust SD at 11 Å) has no neighbour
    # sharing its shift: the rule marks nothing; the clean set's 4 re-exposures found as before.
    without = tmp_path / "without"
    without.mkdir()
    for path in noisy.glob("*.mrc"):
        if path.name[6:11] not in ("04736", "04737", "04738", "04739"):
            (without / path.name).symlink_to(path)
    summary, marked = screen(without, tmp_path / "out", "--target-psize", "30")
    assert marked == set() and not any(WARNING in w for w in summary["warnings"]), summary["warnings"]
    summary, marked = screen(shared_file("micrographs"), tmp_path / "clean")
    assert {(0, 36), (1, 37), (2, 38)} <= marked <= {(0, 36), (1, 37), (2, 38), (3, 39)}, marked
    assert not any(WARNING in w for w in summary["warnings"])


#: The generated hole's re-exposures' shift (binned px; the later image's window moved by it).
SHIFT = (9, -14)


def write_hole_again(folder, planted: bool, seed: int) -> list[np.ndarray]:
    """24 images of 128 x 192 at 10 Å, holes of 4; the hole of images 4-7 imaged again as 16-19 at SHIFT.

    A band-limited specimen (40-250 Å) under noise of 5 x its SD, 9 x for images 4, 6, 7 and their
    re-exposures: the pair 5/17 stands far above the null, its neighbours each too weak to alone.
    """
    rng = np.random.default_rng(seed)
    fields, images = {}, []
    for k in range(24):
        original = k - 12 if planted and 16 <= k < 20 else None
        noise = 9.0 if (original if original is not None else k) in (4, 6, 7) else 5.0
        if original is None:
            fields[k] = band_noise(rng, 160, 240, 10.0, 40.0, 250.0)
            window = fields[k][0:128, 30:222]
        else:
            window = fields[original][SHIFT[0] : SHIFT[0] + 128, 30 + SHIFT[1] : 222 + SHIFT[1]]
        images.append(window + noise * rng.normal(size=(128, 192)).astype(np.float32))
        write_mrc(folder / f"m{k:02d}.mrc", images[-1], 10.0)
    return images


@pytest.mark.parametrize("seed", [1, 2])
def test_a_generated_hole_imaged_again_is_left_to_check_by_its_neighbours(tmp_path, seed):
    for planted in (True, False):
        folder = tmp_path / f"planted{planted}"
        folder.mkdir()
        images = write_hole_again(folder, planted, seed)
        summary, marked = screen(folder, tmp_path / f"out{planted}", "--target-psize", "10")
        _, combined = shared_by_neighbours(images, (5, 17), [(4, 16), (6, 18), (7, 19)])
        if not planted:  # (the control: nothing marked, and the independent screen sees nothing shared)
            assert marked == set() and summary["verdict"]["check"] == 0, summary["warnings"]
            assert combined < 3.5, combined
            continue
        assert marked == {(5, 17)}, marked
        assert any(WARNING in w and "m05.mrc/m17.mrc" in w for w in summary["warnings"]), summary["warnings"]
        assert combined > 3.5, combined  # (the independent screen: the neighbours share the anchor's peak)
