"""``particles --halfsets trim`` (issue 98): the larger half-set loses its worst kept particles until the halves
differ by at most one, none moving between halves; against an oracle of the test's own.

The oracle dedups by brute force (``oracle.oracle``), then trims in plain Python: the kept rows of the larger
half sorted worst first (lowest score, ties by the later row), the first ``larger - smaller - 1`` rejected.
The files are compared line for line with the input's, ``decisions.csv`` read with the csv module; a run's
shards merged, and Dask's, are the plain run byte for byte; ``--update`` refuses it in one line.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_particle_shards import shards_then_merge

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from cryodedup.cli import main
from fixtures.tutorial_files import tutorial_project
from helpers import write_star
from oracle import oracle

#: A refinement's columns (its half-set beside its coordinates, its score before its image), its one optics group.
LABELS = [
    "rlnCoordinateX",
    "rlnCoordinateY",
    "rlnRandomSubset",
    "rlnMicrographName",
    "rlnOpticsGroup",
    "rlnMaxValueProbDistribution",
    "rlnImageName",
]
OPTICS = [[1, "opticsGroup1", 1.0, 1.0]]
MIN_DIST = 20.0
SCORE = "rlnMaxValueProbDistribution"


def refinement(seed: int, first_half_share: float, copies: bool = True, n_mics: int = 8, per_mic: int = 30):
    """An imbalanced refinement's rows: particles on a 200 Å grid of 1 Å pixels, each half-set drawn with
    ``first_half_share`` for half 1; with ``copies``, a copy 3-12 Å from some particles (in either half).
    Scores of two decimals, so that some tie. Returns groups, centres (Å), halves (1, 2) and scores."""
    rng = np.random.default_rng(seed)
    groups, centres = [], []
    for mic in range(n_mics):
        grid = np.stack(np.meshgrid(np.arange(6), np.arange(6)), -1).reshape(-1, 2)[:per_mic] * 200.0 + 300.0
        for centre in grid:
            points = [centre]
            if copies and rng.random() < 0.25:
                points.append(centre + rng.uniform(3.0, 12.0) * np.array([1.0, 0.0]))
            centres += points
            groups += [mic] * len(points)
    n = len(groups)
    halves = np.where(rng.random(n) < first_half_share, 1, 2)
    scores = np.round(rng.random(n), 2)
    return np.array(groups), np.array(centres), halves, scores


def write_refinement(path: Path, groups, centres, halves, scores) -> Path:
    rows = [
        [f"{x:.3f}", f"{y:.3f}", h, f"mic_{g:02d}.mrc", 1, f"{s:.2f}", f"{k + 1:06d}@Refine3D/particles.mrcs"]
        for k, ((x, y), g, h, s) in enumerate(zip(centres, groups, halves, scores))
    ]
    return write_star(path, LABELS, rows, optics=OPTICS)


def trim_oracle(halves, keep, scores) -> set[int]:
    """The rows ``--halfsets trim`` rejects, worked out by hand: the larger half's kept rows, worst first."""
    kept = [i for i in range(len(keep)) if keep[i]]
    ones = sum(1 for i in kept if halves[i] == 1)
    twos = len(kept) - ones
    larger = 1 if ones > twos else 2
    excess = abs(ones - twos) - 1
    if excess <= 0:
        return set()

    def worst_first(i):  # (no score first; then the lowest; of a tie, the later row)
        s = float(scores[i]) if scores is not None else 0.0
        return (math.isfinite(s), s if math.isfinite(s) else 0.0, -i)

    return set(sorted((i for i in kept if halves[i] == larger), key=worst_first)[:excess])


def data_lines(path: Path) -> list[str]:
    """The particle loop's rows of a STAR file this test wrote (the last loop), as lines."""
    lines = path.read_text().splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("_rln")) + 1
    return [line for line in lines[start:] if line.strip()]


def trimmed_rows(decisions: Path) -> list[int]:
    """The rows (from 1) ``decisions.csv`` names with the rule ``halfset trim``; no partner for any of them."""
    with open(decisions, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["rule"] == "halfset trim"]
    assert all(r["kept_row"] == "" and r["distance_A"] == "" for r in rows)
    return [int(r["row"]) for r in rows]


@pytest.mark.parametrize(("seed", "share"), [(1, 0.62), (2, 0.35), (3, 0.5)])
def test_trim_equals_the_oracle(tmp_path, seed, share):
    groups, centres, halves, scores = refinement(seed, share)
    path = write_refinement(tmp_path / "run_data.star", groups, centres, halves, scores)
    keep, _ = oracle(list(groups), [tuple(c) for c in centres], list(scores), MIN_DIST)
    trim = trim_oracle(halves, keep, scores)
    if share != 0.5:
        assert len(trim) > 10  # (an imbalance worth trimming planted)
    summary = remove_duplicate_particles(
        [path], tmp_path / "out", ParticleOptions(min_dist=MIN_DIST, score=SCORE, halfsets="trim", decisions=True)
    )
    lines = data_lines(path)
    kept = [line for k, line in enumerate(lines) if keep[k] and k not in trim]
    assert data_lines(tmp_path / "out" / "particles_kept.star") == kept  # (every byte of a kept row as read)
    rejected = [line for k, line in enumerate(lines) if not (keep[k] and k not in trim)]
    assert data_lines(tmp_path / "out" / "particles_rejected.star") == rejected
    assert trimmed_rows(tmp_path / "out" / "decisions.csv") == sorted(k + 1 for k in trim)
    kept_halves = [halves[k] for k in range(len(lines)) if keep[k] and k not in trim]
    assert abs(kept_halves.count(1) - kept_halves.count(2)) <= 1
    document = summary.to_json()["halfset_trim"]
    assert (document["trimmed"], document["sizes"]) == (len(trim), [kept_halves.count(1), kept_halves.count(2)])
    assert summary.rejected == len(lines) - len(kept)
    assert f"{len(trim):,} trimmed to balance the half-sets" in summary.verdict.line or not trim


def test_a_lower_is_better_score_trims_the_highest(tmp_path):
    # Half 1 holds 5 kept rows, half 2 holds 1: 3 of half 1 go, the highest scores first (lower is better).
    centres = np.array([[300.0 + 200 * k, 300.0] for k in range(6)])
    halves, scores = [1, 1, 1, 2, 1, 1], [5.0, 1.0, 3.0, 9.0, 4.0, 2.0]
    path = write_refinement(tmp_path / "p.star", [0] * 6, centres, halves, scores)
    options = ParticleOptions(min_dist=MIN_DIST, score=SCORE, score_order="min", halfsets="trim", decisions=True)
    remove_duplicate_particles([path], tmp_path / "out", options)
    assert trimmed_rows(tmp_path / "out" / "decisions.csv") == [1, 3, 5]  # (scores 5, 3, 4)


def test_a_cryosparc_refinement_keeps_its_splits(tmp_path):
    # alignments3D/split 0 and 1; alignments3D/error, lower is better: the oracle ranks its negation.
    from fixtures.synthetic import write_cs
    from helpers import located_records

    groups, centres, halves, scores = refinement(8, 0.65)
    fields = [("alignments3D/split", "<u4"), ("alignments3D/error", "<f4")]
    records = located_records(groups + 100, centres[:, 0], centres[:, 1], fields)
    records["alignments3D/split"], records["alignments3D/error"] = halves - 1, scores
    write_cs(tmp_path / "p.cs", records)
    error = records["alignments3D/error"].astype(float)  # (as stored: float32)
    keep, _ = oracle(list(groups), [tuple(c) for c in centres], list(error), MIN_DIST, higher_is_better=False)
    trim = trim_oracle(halves, keep, -error)
    assert len(trim) > 10
    options = ParticleOptions(min_dist=MIN_DIST, score="alignments3D/error", score_order="min", halfsets="trim")
    remove_duplicate_particles([tmp_path / "p.cs"], tmp_path / "out", options)
    kept = np.load(tmp_path / "out" / "particles_kept.cs")
    expected = [k for k in range(len(groups)) if keep[k] and k not in trim]
    assert kept["uid"].tolist() == (np.array(expected) + 5000).tolist()
    assert kept["alignments3D/split"].tolist() == (halves[expected] - 1).tolist()  # (no row changed half)
    assert abs(int(kept["alignments3D/split"].sum()) * 2 - len(kept)) <= 1


def test_without_a_score_trims_at_random_by_the_seed(tmp_path):
    # No duplicates (no copies): every row is kept by the dedup, whatever its random order.
    groups, centres, halves, scores = refinement(4, 0.7, copies=False)
    path = write_refinement(tmp_path / "p.star", groups, centres, halves, scores)
    larger = np.flatnonzero(halves == 1)
    excess = larger.size - (halves == 2).sum() - 1
    chosen = []
    for seed in (0, 1):
        out = tmp_path / f"out{seed}"
        options = ParticleOptions(min_dist=MIN_DIST, score="none", seed=seed, halfsets="trim", decisions=True)
        remove_duplicate_particles([path], out, options)
        rows = trimmed_rows(out / "decisions.csv")
        # (the documented draw: the larger half's kept rows in row order, permuted by numpy's generator)
        expected = larger[np.random.default_rng(seed).permutation(larger.size)[:excess]]
        assert rows == sorted(int(k) + 1 for k in expected)
        chosen.append(rows)
    assert chosen[0] != chosen[1]


def test_balanced_halves_lose_nothing(tmp_path):
    centres = np.array([[300.0 + 200 * k, 300.0] for k in range(5)])
    path = write_refinement(tmp_path / "p.star", [0] * 5, centres, [1, 2, 1, 2, 1], [0.1, 0.2, 0.3, 0.4, 0.5])
    summary = remove_duplicate_particles([path], tmp_path / "out", ParticleOptions(min_dist=MIN_DIST, halfsets="trim"))
    assert summary.kept == 5
    assert summary.to_json()["halfset_trim"]["trimmed"] == 0


def test_refused_without_halfsets(tmp_path):
    path = write_star(tmp_path / "p.star", ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName"], [[1, 2, "a"]])
    with pytest.raises(CryodedupError, match=r"^--halfsets trim: the particles carry no half-set column"):
        remove_duplicate_particles([path], tmp_path / "out", ParticleOptions(mic_psize=1.0, halfsets="trim"))


def test_shards_merged_are_the_plain_run(tmp_path, monkeypatch):
    groups, centres, halves, scores = refinement(5, 0.6)
    path = write_refinement(tmp_path / "run_data.star", groups, centres, halves, scores)
    options = {"min_dist": MIN_DIST, "score": SCORE, "halfsets": "trim", "decisions": True}
    whole = shards_then_merge([path], options, tmp_path, monkeypatch, shards=3)
    assert whole.to_json()["halfset_trim"]["trimmed"] > 0


def test_dask_is_the_plain_run(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    from cryodedup.jobs.particles.dask import run_on_dask
    from cryodedup.jobs.particles.plan import plan

    groups, centres, halves, scores = refinement(6, 0.4)
    path = write_refinement(tmp_path / "run_data.star", groups, centres, halves, scores)
    options = {"min_dist": MIN_DIST, "score": SCORE, "halfsets": "trim", "decisions": True}
    remove_duplicate_particles([path], tmp_path / "one", ParticleOptions(**options))
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        run_on_dask([path], tmp_path / "dask", plan(ParticleOptions(**options)), client, 3)
    for name in ("particles_kept.star", "particles_rejected.star", "decisions.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes(), name


def test_update_refuses_trim_in_one_line(tmp_path):
    groups, centres, halves, scores = refinement(7, 0.6)
    path = write_refinement(tmp_path / "p.star", groups, centres, halves, scores)
    done = CliRunner().invoke(
        main, ["particles", str(path), "-o", str(tmp_path / "o"), "--update", "--halfsets", "trim"]
    )
    assert done.exit_code != 0
    said = [line for line in done.output.splitlines() if "--halfsets trim" in line]
    assert len(said) == 1 and said[0].startswith("Error: --update cannot be given with --halfsets trim: ")
    assert "Traceback" not in done.output


@pytest.mark.real_data
def test_the_tutorial_refinement(tmp_path):
    import starfile  # (the oracle's reader: not cryodedup's)

    path = tutorial_project() / "Refine3D" / "job029" / "run_data.star"
    table = starfile.read(path)["particles"]
    halves, scores = table["rlnRandomSubset"].to_numpy(), table[SCORE].to_numpy()
    centres = np.stack([table[f"rlnCoordinate{a}"] * 0.885 - table[f"rlnOrigin{a}Angst"] for a in "XY"], axis=1)
    mics = table["rlnMicrographName"].to_numpy()
    for mic in np.unique(mics):  # (no two particles within 20 Å: the dedup keeps every one)
        on = centres[mics == mic]
        d = np.linalg.norm(on[:, None] - on[None], axis=-1) + np.eye(len(on)) * 1e9
        assert d.min() > MIN_DIST
    trim = trim_oracle(halves, np.ones(len(halves), dtype=bool), scores)
    assert len(trim) == 16  # (2,259 - 2,242 - 1)
    options = ParticleOptions(min_dist=MIN_DIST, score=SCORE, halfsets="trim", decisions=True)
    summary = remove_duplicate_particles([path], tmp_path / "out", options)
    assert trimmed_rows(tmp_path / "out" / "decisions.csv") == sorted(k + 1 for k in trim)
    assert summary.to_json()["halfset_trim"]["sizes"] == [2242, 2243]
    lines = data_lines(path)
    assert data_lines(tmp_path / "out" / "particles_kept.star") == [s for k, s in enumerate(lines) if k not in trim]


def test_a_particle_forced_kept_by_overrides_is_never_trimmed(tmp_path):
    # (a new user's trial: the lowest-scored particle of the larger half, forced kept, was trimmed without a word)
    groups, centres, halves, scores = refinement(1, 0.62)
    path = write_refinement(tmp_path / "run_data.star", groups, centres, halves, scores)
    keep, _ = oracle(list(groups), [tuple(c) for c in centres], list(scores), MIN_DIST)
    worst = min(trim_oracle(halves, keep, scores), key=lambda i: (float(scores[i]), -i))  # (the first trimmed)
    (tmp_path / "ov.csv").write_text(
        "kind,input,row,name,partner,action\n"
        f"particle,{path},{worst + 1},{worst + 1:06d}@Refine3D/particles.mrcs,,keep\n"
    )
    remove_duplicate_particles(
        [path],
        tmp_path / "out",
        ParticleOptions(min_dist=MIN_DIST, score=SCORE, halfsets="trim", decisions=True, overrides=tmp_path / "ov.csv"),
    )
    # The oracle: the same excess, taken from the larger half's kept rows worst first, the forced row passed over.
    wanted = trim_oracle(halves, keep, scores)
    ranked = sorted(
        (k for k in range(len(keep)) if keep[k] and halves[k] == halves[worst]), key=lambda i: (float(scores[i]), -i)
    )
    expected = set([k for k in ranked if k != worst][: len(wanted)])
    trimmed = {k - 1 for k in trimmed_rows(tmp_path / "out" / "decisions.csv")}
    assert worst not in trimmed and trimmed == expected
    kept_lines = data_lines(tmp_path / "out" / "particles_kept.star")
    assert data_lines(path)[worst] in kept_lines
    kept_halves = [halves[k] for k in range(len(keep)) if keep[k] and k not in trimmed]
    assert abs(kept_halves.count(1) - kept_halves.count(2)) <= 1
