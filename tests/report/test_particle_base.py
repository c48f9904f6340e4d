"""ParticleDetails' per-micrograph counts, which every picture shares, against counts made pick by pick."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cryodedup.report.particle_base import EXTENT_BLOCK, ParticleDetails, column_extent


@pytest.mark.parametrize("consensus", [False, True])
def test_counts_per_micrograph(consensus):
    rng = np.random.default_rng(7)
    n, n_mics = 4000, 40  # the last micrograph has no pick
    groups = rng.integers(0, n_mics - 1, n).astype(np.uint32)
    keep = rng.random(n) < 0.7
    unconfirmed = not_confirmable = None
    if consensus:  # (as the decision marks them: rejected rows that no duplicate displaced)
        unconfirmed = ~keep & (rng.random(n) < 0.3)
        not_confirmable = ~keep & ~unconfirmed & (rng.random(n) < 0.3)
    particles = SimpleNamespace(groups=groups, mic_names=[f"mic_{m}.mrc" for m in range(n_mics)], decided_counts=None)
    details = ParticleDetails(
        particles,  # type: ignore[arg-type]  # (only the groups and names are counted; no scan counted them)
        keep,
        np.full(n, -1),
        20.0,
        unconfirmed=unconfirmed,
        not_confirmable=not_confirmable,
    )
    picks, rejected, duplicates = np.zeros(n_mics, int), np.zeros(n_mics, int), np.zeros(n_mics, int)
    for row in range(n):
        mic = int(groups[row])
        picks[mic] += 1
        rejected[mic] += not keep[row]
        by_consensus = consensus and (unconfirmed[row] or not_confirmable[row])
        duplicates[mic] += not keep[row] and not by_consensus
    assert details.picks_per_micrograph.tolist() == picks.tolist()
    assert details.rejected_per_micrograph.tolist() == rejected.tolist()
    assert details.duplicates_per_micrograph.tolist() == duplicates.tolist()
    assert (duplicates < rejected).any() == consensus
    for counts in (details.picks_per_micrograph, details.rejected_per_micrograph, details.duplicates_per_micrograph):
        with pytest.raises(ValueError, match="read-only"):
            counts[0] += 1  # shared by every picture: none may change them


@pytest.mark.parametrize("rows", [1, 5, EXTENT_BLOCK - 1, EXTENT_BLOCK, EXTENT_BLOCK + 1, 3 * EXTENT_BLOCK + 7])
@pytest.mark.parametrize("columns", [2, 3])
def test_column_extent_is_numpys_min_and_max_of_each_column(rows, columns):
    values = np.random.default_rng(rows * columns).normal(size=(rows, columns)) * 1e3
    low, high = column_extent(values)
    assert (low == values.min(axis=0)).all() and (high == values.max(axis=0)).all()
    values[rows // 2, 1] = np.nan  # a NaN is the extent of its column, as numpy's is
    low, high = column_extent(values)
    assert np.isnan(low[1]) and np.isnan(high[1]) and low[0] == values[:, 0].min()
