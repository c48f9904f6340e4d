"""The pairs of one micrograph decided again (a job decided in one pass keeps none) against the whole decision's."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cryodedup.algo.dedup import dedup
from cryodedup.report.particle_base import ParticleDetails
from cryodedup.report.suppressors import every_suppressor, suppressors


def crowded(rng: np.random.Generator, n: int, n_mics: int) -> tuple[np.ndarray, np.ndarray]:
    """Micrograph ids and centres (Å) of picks close enough for chains of duplicates."""
    groups = np.sort(rng.integers(0, n_mics, n)).astype(np.uint32)
    return groups, rng.random((n, 2)) * 400


@pytest.mark.parametrize("scores_kind", ["scores", "ties and none", "random"])
@pytest.mark.parametrize("remove_entirely", [False, True])
def test_each_micrograph_decided_again_gives_the_whole_decisions_pairs(scores_kind, remove_entirely):
    rng = np.random.default_rng(3)
    n, n_mics, min_dist, seed = 3000, 12, 20.0, 12345
    groups, centres = crowded(rng, n, n_mics)
    scores: np.ndarray | None = rng.random(n)
    if scores_kind == "ties and none":
        scores = np.round(rng.random(n) * 4) / 4  # many ties: broken by row
        scores[rng.random(n) < 0.2] = np.nan  # no score: ranks last
    elif scores_kind == "random":
        scores = None  # ranked by the seeded random key of each row's index
    whole = dedup(groups, centres, scores, min_dist=min_dist, remove_entirely=remove_entirely, seed=seed)
    particles = SimpleNamespace(
        groups=groups, centres=centres, scores=scores, higher_is_better=True, mic_names=[str(m) for m in range(n_mics)]
    )
    details = ParticleDetails(
        particles,  # type: ignore[arg-type]  # (the fields a micrograph is decided again from)
        whole.keep,
        None,  # decided in one pass: no pairs kept
        min_dist,
        seed=seed,
        remove_entirely=remove_entirely,
    )
    assert whole.suppressed_by is not None
    paired = 0
    for mic in range(n_mics):
        rows = np.flatnonzero(groups == mic)
        again = suppressors(details, rows)
        assert again.tolist() == whole.suppressed_by[rows].tolist(), mic
        paired += int((again >= 0).sum())
    assert paired > n // 10  # (crowded enough to compare many pairs)
    # Every micrograph at once (the page of every micrograph): the same pairs.
    assert every_suppressor(details).tolist() == whole.suppressed_by.tolist()


def test_a_decision_that_differs_is_refused():
    rng = np.random.default_rng(5)
    groups, centres = crowded(rng, 200, 1)
    whole = dedup(groups, centres, rng.random(200), min_dist=20.0)
    particles = SimpleNamespace(groups=groups, centres=centres, scores=rng.random(200), higher_is_better=True)
    details = ParticleDetails(particles, whole.keep, None, 20.0)  # type: ignore[arg-type]  # (other scores)
    with pytest.raises(RuntimeError, match="differs"):
        suppressors(details, np.arange(200))
