"""pairs.csv is written by the core: the same bytes as Python's csv module and f-strings wrote.

The oracle is the Python writer the job used before (kept here, unchanged): one csv.writer
row per pair, the numbers formatted with f-strings.
"""

from __future__ import annotations

import csv
from types import SimpleNamespace

import numpy as np
import pytest

from cryodedup.jobs.micrographs.group import Decision
from cryodedup.jobs.micrographs.write import _write_pairs


def python_writer(path, names, pairs, scores, decision, binning, binned_psize, distance=None):
    psize = binned_psize / binning
    header = ["index_a", "index_b", "name_a", "name_b", "z", "pearson", "overlap"]
    header += ["shift_x_px", "shift_y_px", "shift_x_A", "shift_y_A", "duplicate", "uncertain", "joint"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header + (["distance_um"] if distance is not None else []))
        for k, (a, b) in enumerate(pairs.tolist()):
            row = [a, b, names[a], names[b]]
            if np.isfinite(scores["dx"][k]):
                dx, dy = int(scores["dx"][k]) * binning, int(scores["dy"][k]) * binning
                row += [f"{scores['z'][k]:.2f}", f"{scores['pearson'][k]:.4f}", f"{scores['overlap'][k]:.3f}"]
                row += [dx, dy, f"{dx * psize:.1f}", f"{dy * psize:.1f}"]
            else:
                row += [""] * 7
            row += [int(decision.duplicate[k]), int(decision.uncertain[k]), f"{decision.joint[k]:.3f}"]
            if distance is not None:
                row.append(f"{distance[k]:.4f}" if np.isfinite(distance[k]) else "")
            w.writerow(row)


NAMES = [
    "Movies/mic_1.mrc",
    "with,comma.mrc",
    'with"quote.mrc',
    "with\nnewline.mrc",
    "with\rreturn.mrc",
    " leading space.mrc",
    "Ångström_é.mrc",
    "",
    "tab\there.mrc",
]


def hard_values(rng, n, scale):
    """Random values with the cases formatting gets wrong: ties (0.125), -0.0, NaN, infinities, tiny negatives."""
    values = rng.normal(0, scale, n)
    specials = np.array([0.125, 0.375, 2.5, 1.005, -0.0, -0.0004, np.nan, np.inf, -np.inf, 1e-300, 0.00005, 12.345])
    at = rng.choice(n, n // 4, replace=False)
    values[at] = rng.choice(specials, len(at))
    return values


@pytest.mark.parametrize("with_distance", [False, True])
@pytest.mark.parametrize("score_dtype", [np.float64, np.float32])
def test_core_writer_gives_the_python_writers_bytes(tmp_path, with_distance, score_dtype):
    rng = np.random.default_rng(7)
    n = 5000
    pairs = rng.integers(0, len(NAMES), (n, 2))
    dx = rng.integers(-300, 300, n).astype(np.float64)
    dx[rng.choice(n, 200, replace=False)] = np.nan  # rows without image scores (--no-images)
    scores = {
        "z": hard_values(rng, n, 20).astype(score_dtype),
        "pearson": hard_values(rng, n, 0.3).astype(score_dtype),
        "overlap": hard_values(rng, n, 0.5),
        "dx": dx,
        "dy": rng.integers(-300, 300, n).astype(np.int64),
    }
    joint = hard_values(rng, n, 1.0)
    decision = Decision(joint >= 1, np.abs(joint - 1) < 0.25, joint, 8.0, 0.3, {})
    distance = hard_values(rng, n, 0.4) if with_distance else None
    mics = SimpleNamespace(names=NAMES)
    for binning, binned_psize in ((1, 1.0), (14, 11.62), (8, 10.96)):
        python_writer(tmp_path / "oracle.csv", NAMES, pairs, scores, decision, binning, binned_psize, distance)
        _write_pairs(tmp_path / "core.csv", mics, pairs, scores, decision, binning, binned_psize, distance)
        oracle, core = (tmp_path / "oracle.csv").read_bytes(), (tmp_path / "core.csv").read_bytes()
        assert core == oracle, next(k for k, (x, y) in enumerate(zip(core, oracle)) if x != y)


def test_no_pairs_gives_the_header_alone(tmp_path):
    empty = {k: np.zeros(0) for k in ("z", "pearson", "overlap", "dx", "dy")}
    decision = Decision(np.zeros(0, bool), np.zeros(0, bool), np.zeros(0), 8.0, 0.3, {})
    pairs = np.zeros((0, 2), dtype=np.int64)
    python_writer(tmp_path / "oracle.csv", NAMES, pairs, empty, decision, 2, 2.0)
    _write_pairs(tmp_path / "core.csv", SimpleNamespace(names=NAMES), pairs, empty, decision, 2, 2.0)
    assert (tmp_path / "core.csv").read_bytes() == (tmp_path / "oracle.csv").read_bytes()
