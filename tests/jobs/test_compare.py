"""``cryodedup compare`` against brute force: pairs within the radius by every distance, one-to-one
matching by scipy's maximum bipartite matching, the Jaccard by counting."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from cryodedup.algo.matching import maximum_matching
from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.jobs.compare import compare_picks
from cryodedup.options import CompareOptions, ParticleOptions

#: Fractions are given to 4 decimals, half to even (0.03125 -> 0.0312): half a unit, and a float's error.
ROUNDED = 5e-5 + 1e-12


def _write_topaz(path, mics, xy):
    lines = ["image_name\tx_coord\ty_coord"] + [f"mic{m}\t{x:.3f}\t{y:.3f}" for m, (x, y) in zip(mics, xy)]
    path.write_text("\n".join(lines) + "\n")


def _brute(a, ma, b, mb, radius, beta):
    """Per micrograph: matched one to one (scipy), Jaccard as the consensus counts it; and P, R, F of b against a."""
    out = {}
    for m in sorted(set(ma) | set(mb)):
        pa, pb = a[ma == m], b[mb == m]
        close = ((pa[:, None, :] - pb[None, :, :]) ** 2).sum(axis=2) <= radius * radius
        matched = (
            int((maximum_bipartite_matching(csr_matrix(close), perm_type="column") >= 0).sum()) if close.size else 0
        )
        shared = (close.any(axis=1).sum() + close.any(axis=0).sum()) / 2 if close.size else 0
        union = len(pa) + len(pb) - shared
        out[f"mic{m}"] = (matched, shared / union if union else None)
    total = sum(v[0] for v in out.values())
    precision, recall = total / len(b), total / len(a)
    score = (1 + beta**2) * precision * recall / (beta**2 * precision + recall) if total else 0.0
    return out, total, precision, recall, score


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), radius=st.floats(5, 80), beta=st.sampled_from([0.5, 1.0, 2.0]))
def test_compare_is_the_brute_force(tmp_path_factory, seed, radius, beta):
    tmp = tmp_path_factory.mktemp("compare")
    rng = np.random.default_rng(seed)
    n_a, n_b = rng.integers(1, 150, size=2)
    a, ma = rng.uniform(0, 800, (n_a, 2)), rng.integers(0, 3, n_a)
    b, mb = rng.uniform(0, 800, (n_b, 2)), rng.integers(0, 3, n_b)
    near = min(n_a, n_b) // 2  # half of b near picks of a: crowded clusters make ambiguous matchings
    b[:near], mb[:near] = a[:near] + rng.normal(0, radius / 2, (near, 2)), ma[:near]
    a, b = np.round(a, 3), np.round(b, 3)  # as the files hold them (a pair at the radius is on one side in both)
    _write_topaz(tmp / "a.txt", ma, a)
    _write_topaz(tmp / "b.txt", mb, b)
    reading = ParticleOptions(mic_psize=1.0, topaz_scale=1.0)
    s = compare_picks([tmp / "a.txt", tmp / "b.txt"], CompareOptions("1", radius, beta), reading)
    per_mic, total, precision, recall, score = _brute(a, ma, b, mb, radius, beta)
    assert s["matched"] == total
    assert s["unmatched"] == [n_a - total, n_b - total]
    assert s["reference"]["precision"] == pytest.approx(precision, abs=ROUNDED)
    assert s["reference"]["recall"] == pytest.approx(recall, abs=ROUNDED)
    assert s["reference"]["f_beta"] == pytest.approx(score, abs=ROUNDED)
    for row in s["per_micrograph"]:
        matched, jaccard = per_mic[row["micrograph"]]
        assert row["matched"] == matched
        assert row["unmatched"] == [row["picks"][0] - matched, row["picks"][1] - matched]
        assert row["jaccard"] == (None if jaccard is None else pytest.approx(jaccard, abs=ROUNDED))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 40), st.integers(1, 40), st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)), max_size=150)
)
def test_maximum_matching_is_scipys(n_a, n_b, edges):
    pairs = np.array(sorted({(i, j) for i, j in edges if i < n_a and j < n_b}), dtype=np.int64).reshape(-1, 2)
    partner = maximum_matching(n_a, n_b, pairs)
    taken = partner[partner >= 0]
    assert len(set(taken.tolist())) == len(taken)  # one to one
    assert all((i, int(j)) in set(map(tuple, pairs.tolist())) for i, j in enumerate(partner) if j >= 0)
    graph = csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n_a, n_b))
    assert len(taken) == int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())


def test_command_line_shows_the_transform_and_scores(tmp_path):
    rng = np.random.default_rng(5)
    a, ma = rng.uniform(200, 3000, (400, 2)), rng.integers(0, 4, 400)
    _write_topaz(tmp_path / "a.txt", ma, a)
    _write_topaz(tmp_path / "b.txt", ma, a + np.array([64, -128]))
    args = ["compare", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "--mic-psize", "1", "--topaz-scale", "1"]
    done = CliRunner().invoke(main, [*args, "--reference", "1", "--json", "-q"])
    assert done.exit_code == 0, done.output
    s = json.loads(done.stdout)
    assert s["registration"]["frames"] == "two"
    assert s["registration"]["best_transform"]["transform"] == "shift:-64,128"
    assert s["reference"]["recall"] < 0.05  # in two frames: only chance neighbours match
    assert s["warnings"] == []  # (compare ranks nothing: no word of a missing score)
    # Moved back by the transform it names, every pick of b lies on its pick of a: all matched.
    moved = CliRunner().invoke(
        main, [*args, "--reference", "1", "--transform", f"{tmp_path / 'b.txt'}=shift:-64,128", "--json", "-q"]
    )
    assert moved.exit_code == 0, moved.output
    s = json.loads(moved.stdout)
    assert s["registration"]["frames"] == "one"
    assert s["reference"]["recall"] == s["reference"]["precision"] == 1.0
    assert s["transforms_applied"] == [{"input": str(tmp_path / "b.txt"), "transform": "shift:-64,128"}]
    with pytest.raises(CryodedupError, match="two inputs"):
        compare_picks([tmp_path / "a.txt"], CompareOptions(), ParticleOptions(mic_psize=1.0, topaz_scale=1.0))
    with pytest.raises(CryodedupError, match="--radius"):
        compare_picks([tmp_path / "a.txt"] * 2, CompareOptions(radius=0), ParticleOptions(mic_psize=1.0))
