"""A pair's shift is shown as the screen found it: signed, never the correlation map's raw peak index.

A peak under ``pearson_min_z`` is not resolved among its aliases by the core: its position is
known modulo the map's size, and was shown as the index where it wrapped around ("56, 494 px"
for a shift of about (56, -18)). The oracles: the shift the synthetic re-exposures were written
with, and an independent numpy phase correlation of a real re-exposed pair.
"""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest
from click.testing import CliRunner
from test_micrograph_pattern import LATER, SHIFT, write_session
from test_micrograph_trusted import plan_at

from cryodedup.cli import main
from cryodedup.jobs.micrographs.decide import _fft_shape
from cryodedup.jobs.micrographs.score import score_shard
from helpers import shared_file


def test_a_peak_below_the_pearson_threshold_is_folded_into_a_signed_shift(tmp_path):
    # The planted re-exposures (b[y, x] shows a[y + 12, x - 20]) scored with no peak resolved by
    # Pearson: the shift is still (12, -20), not the map's index of -20 (on main: 236 of 256).
    write_session(tmp_path, level=0.0)
    plan = plan_at(1, 10.0)
    plan = dataclasses.replace(
        plan,
        paths=[str(p) for p in sorted(tmp_path.glob("*.mrc"))],
        positions=np.arange(20),
        shape=(160, 224),
        band=(40.0, 250.0),
        pearson_min_z=1e9,
    )
    scores = score_shard(plan, 1, 1).scores
    assert np.isnan(scores.pearson).all()  # (none resolved: the case under test)
    planted = [int(np.flatnonzero((scores.pairs[:, 0] == k) & (scores.pairs[:, 1] == k + LATER))[0]) for k in range(4)]
    for p in planted:
        assert (int(scores.dy[p]), int(scores.dx[p])) == SHIFT
    height, width = _fft_shape(plan)
    assert (scores.dy >= -height // 2).all() and (scores.dy < height // 2).all()
    assert (scores.dx >= -width // 2).all() and (scores.dx < width // 2).all()


def phase_correlation_shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(dy, dx) with b[y, x] showing a[y + dy, x + dx]: numpy's own phase correlation, folded by hand."""
    product = np.fft.fft2(a - a.mean()) * np.conj(np.fft.fft2(b - b.mean()))
    peak = np.fft.ifft2(product / (np.abs(product) + 1e-12)).real
    iy, ix = np.unravel_index(np.argmax(peak), peak.shape)
    (ny, nx) = peak.shape
    return (int(iy) if iy < ny // 2 else int(iy) - ny), (int(ix) if ix < nx // 2 else int(ix) - nx)


@pytest.mark.real_data
def test_real_pairs_csv_shows_signed_shifts_within_half_the_map(tmp_path):
    import mrcfile

    folder = shared_file("micrographs")
    paths = sorted(folder.glob("*.mrc"))
    oracle = phase_correlation_shift(mrcfile.read(paths[0]).astype(float), mrcfile.read(paths[36]).astype(float))
    assert abs(oracle[0] + 18) <= 1 and abs(oracle[1] - 57) <= 1  # (PROVENANCE.md: about (+57, -18))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["micrographs", str(folder / "*.mrc"), "--target-psize", "20", "-o", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    with open(out / "pairs.csv") as f:
        rows = list(csv.DictReader(f))
    binning = 2  # (10.96 Å to 21.92 Å; the map: 256 x 384 binned px)
    for row in rows:
        x, y = int(row["shift_x_px"]), int(row["shift_y_px"])
        if row["pearson"] == "nan":  # (on main: the raw index, e.g. 761, 428)
            assert -384 // 2 * binning <= x < 384 // 2 * binning and -256 // 2 * binning <= y < 256 // 2 * binning
    (pair,) = [r for r in rows if (r["index_a"], r["index_b"]) == ("0", "36")]
    assert abs(int(pair["shift_x_px"]) - oracle[1]) <= binning and abs(int(pair["shift_y_px"]) - oracle[0]) <= binning
