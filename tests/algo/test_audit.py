"""The half-set audit, --halfsets micrograph and the symmetry-expansion check (audit.py),
on RELION STAR and CryoSPARC sets with planted duplicates, against the brute-force oracle."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from cryodedup.algo.audit import halfsets_by_micrograph
from cryodedup.cli import main
from fixtures.synthetic import write_cs
from helpers import located_records, write_star
from oracle import oracle

LABELS = [
    "rlnCoordinateX",
    "rlnCoordinateY",
    "rlnMicrographName",
    "rlnOpticsGroup",
    "rlnRandomSubset",
    "rlnImageName",
    "rlnMaxValueProbDistribution",
]
OPTICS = [[1, "opticsGroup1", 1.0, 1.0]]
MIN_DIST = 20.0


def run(tmp_path, inputs, **options):
    force = options.pop("force", False)
    return remove_duplicate_particles(inputs, tmp_path / "out", ParticleOptions(**options), force=force)


def planted(seed: int, n_mics: int = 7, per_mic: int = 40):
    """Particles on a 200 Å grid, some with copies 0-14 Å away (duplicates at 20 Å) and
    some with a neighbour 25-40 Å away (not duplicates); random half-sets and scores.

    Returns groups, coordinates (Å, 1 Å pixels), halves (1 or 2), scores.
    """
    rng = np.random.default_rng(seed)
    groups, coords = [], []
    for mic in range(n_mics):
        count = rng.integers(per_mic // 4, per_mic)  # micrographs of different sizes
        grid = np.stack(np.meshgrid(np.arange(10), np.arange(10)), -1).reshape(-1, 2)[:count] * 200.0 + 300
        for centre in grid:
            copies = rng.choice([0, 0, 1, 2, 3])
            far = rng.random() < 0.2
            points = [centre] + [centre + rng.uniform(-10, 10, 2) for _ in range(copies)]
            points += [centre + np.array([rng.uniform(25, 40), 0.0])] if far else []
            coords += points
            groups += [mic] * len(points)
    n = len(groups)
    return np.array(groups), np.array(coords), rng.integers(1, 3, n), rng.random(n)


def oracle_pairs(groups, coords, scores):
    """The duplicate pairs by brute force: every two rows of one group (a kept particle and those it suppressed).

    Issue 97: the audit counted each rejected particle with its suppressor only (k - 1 pairs a group of k), which left
    two copies across the halves uncounted when neither was kept; every pair of a group counts now.
    """
    keep, by = oracle(list(groups), [tuple(c) for c in coords], list(scores), MIN_DIST)
    root = {j: by[j] if by[j] >= 0 else j for j in range(len(by))}
    members: dict[int, list[int]] = {}
    for j in range(len(by)):
        members.setdefault(root[j], []).append(j)
    pairs = [(a, b) for rows in members.values() for i, a in enumerate(rows) for b in rows[i + 1 :]]
    return np.array(keep), pairs


def write_planted(path, groups, coords, halves, scores, image_names=None):
    images = image_names or [f"{k + 1:06d}@Extract/particles.mrcs" for k in range(len(groups))]
    rows = [
        [f"{x:.3f}", f"{y:.3f}", f"mic_{g:02d}.mrc", 1, h, images[k], f"{s:.6f}"]
        for k, ((x, y), g, h, s) in enumerate(zip(coords, groups, halves, scores))
    ]
    return write_star(path, LABELS, rows, optics=OPTICS)


def test_hand_worked_audit(tmp_path):
    # Micrograph A: p0 (half 1, best), p1 5 Å away (half 2), p2 10 Å away (half 1): p0 is
    # kept and suppresses p1 and p2, one group of three split 2 + 1: pairs p0-p1 and p1-p2
    # across the halves, p0-p2 within half 1 (issue 97: p1-p2 was not counted before, the count
    # 1 straddling of 3 pairs, 40 %). Micrograph B: p3, p4 3 Å apart, both half 2 (within).
    # 4 pairs, 2 straddling; their 3 particles are 3 of 5 = 60 %.
    coords = np.array([[100.0, 100], [105, 100], [110, 100], [100, 100], [103, 100]])
    path = write_planted(tmp_path / "p.star", [0, 0, 0, 1, 1], coords, [1, 2, 1, 2, 2], [0.9, 0.5, 0.1, 0.9, 0.5])
    audit = run(tmp_path, [path], min_dist=MIN_DIST, audit=True).to_json()["halfset_audit"]
    assert audit["duplicate_pairs"] == 4
    assert audit["straddling_pairs"] == 2
    assert audit["within_half_pairs"] == 2
    assert audit["particles_straddling"] == 3
    assert audit["fraction"] == pytest.approx(0.6)
    assert audit["top_micrographs"] == [{"micrograph": "mic_00.mrc", "straddling_pairs": 2, "particles": 3}]
    assert audit["message"].startswith("2 duplicate pairs within 20 Å straddle the half-sets (60.0 % of particles)")
    assert not (tmp_path / "out" / "particles_kept.star").exists()  # --audit writes no particle files


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_star_audit_counts_equal_brute_force(tmp_path, seed):
    groups, coords, halves, scores = planted(seed)
    path = write_planted(tmp_path / "p.star", groups, coords, halves, scores)
    _, pairs = oracle_pairs(groups, coords, scores)
    across = [(a, b) for a, b in pairs if halves[a] != halves[b]]
    assert across and len(across) < len(pairs)  # both kinds planted
    audit = run(tmp_path, [path], min_dist=MIN_DIST).to_json()["halfset_audit"]
    assert audit["duplicate_pairs"] == len(pairs)
    assert audit["straddling_pairs"] == len(across)
    assert audit["within_half_pairs"] == len(pairs) - len(across)
    involved = {i for pair in across for i in pair}
    assert audit["particles_straddling"] == len(involved)
    assert audit["fraction"] == pytest.approx(len(involved) / len(groups), abs=1e-6)
    per_mic = np.bincount([groups[a] for a, _ in across], minlength=groups.max() + 1)
    top = audit["top_micrographs"]
    assert [t["straddling_pairs"] for t in top] == sorted(per_mic[per_mic > 0].tolist(), reverse=True)[:10]
    assert sum(t["straddling_pairs"] for t in top) == len(across)  # 7 micrographs: all listed


def test_remove_entirely_counts_each_pair_once(tmp_path):
    # Two particles 5 Å apart name each other in remove-entirely mode: one pair, not two.
    path = write_planted(tmp_path / "p.star", [0, 0], np.array([[100.0, 100], [105, 100]]), [1, 2], [0.9, 0.5])
    audit = run(tmp_path, [path], min_dist=MIN_DIST, remove_entirely=True, audit=True).to_json()["halfset_audit"]
    assert (audit["duplicate_pairs"], audit["straddling_pairs"]) == (1, 1)


def split_star_rows(path):
    """Data rows of the particle loop, split into fields (the file of write_planted)."""
    lines = path.read_text().splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("_rln")) + 1
    return [line.split() for line in lines[start:] if line.strip()]


@pytest.mark.parametrize("seed", [4, 5])
def test_star_halfsets_by_micrograph(tmp_path, seed):
    groups, coords, halves, scores = planted(seed)
    path = write_planted(tmp_path / "p.star", groups, coords, halves, scores)
    keep, _ = oracle_pairs(groups, coords, scores)
    summary = run(tmp_path, [path], min_dist=MIN_DIST, halfsets="micrograph")
    kept_rows = split_star_rows(tmp_path / "out" / "particles_kept.star")
    rejected_rows = split_star_rows(tmp_path / "out" / "particles_rejected.star")
    input_rows = split_star_rows(path)
    assert len(kept_rows) == keep.sum()
    subset = LABELS.index("rlnRandomSubset")
    by_mic: dict[str, set[str]] = {}
    for row in kept_rows:
        by_mic.setdefault(row[LABELS.index("rlnMicrographName")], set()).add(row[subset])
    assert all(len(v) == 1 for v in by_mic.values())  # no micrograph split across the halves
    sizes = [sum(r[subset] == h for r in kept_rows) for h in ("1", "2")]
    largest = np.bincount(groups[keep]).max()
    assert abs(sizes[0] - sizes[1]) <= largest
    assert summary.to_json()["halfsets"]["sizes"] == sizes
    # Every other field's text unchanged; rejected rows entirely unchanged.
    originals = [r for r, k in zip(input_rows, keep) if k]
    for new, old in zip(kept_rows, originals):
        assert new[:subset] + new[subset + 1 :] == old[:subset] + old[subset + 1 :]
    assert rejected_rows == [r for r, k in zip(input_rows, keep) if not k]


def test_star_halfsets_keep_spacing(tmp_path):
    # Only the field's bytes change: the white space and the other fields stay as written.
    text = (
        "data_optics\nloop_\n_rlnOpticsGroup\n_rlnMicrographPixelSize\n1 1.0\n\ndata_particles\nloop_\n"
        "_rlnCoordinateX\n_rlnCoordinateY\n_rlnMicrographName\n_rlnOpticsGroup\n_rlnRandomSubset\n"
        "  100.0   200.0  a.mrc   1      2  \n  900.0   200.0  a.mrc   1      1  \n  500.0   200.0  b.mrc   1  1\n"
    )
    path = tmp_path / "p.star"
    path.write_text(text)
    run(tmp_path, [path], min_dist=MIN_DIST, halfsets="micrograph", score="none")
    # a.mrc (2 kept) goes to half 1 first, b.mrc (1) to half 2.
    assert (tmp_path / "out" / "particles_kept.star").read_text() == text.replace(
        "   1      2  \n", "   1      1  \n"
    ).replace("  1  1\n", "  1  2\n")


def test_halfsets_greedy_rule():
    # Kept counts per micrograph 5, 4, 3, 3, 1, each into the smaller half (ties: half 0):
    # 5 -> 0 (0, 0), 4 -> 1 (5, 0), 3 -> 1 (5, 4), 3 -> 0 (5, 7), 1 -> 1 (8, 7): 8 and 8.
    # Micrograph 5 has its rows rejected: it takes no place (half 0, left unwritten).
    groups = np.repeat(np.arange(6), [5, 4, 3, 3, 1, 2])
    halves = halfsets_by_micrograph(groups, groups < 5)
    assert [int(halves[groups == m][0]) for m in range(6)] == [0, 1, 1, 0, 1, 0]
    assert np.bincount(halves[groups < 5]).tolist() == [8, 8]


def test_halfsets_refused_without_column(tmp_path):
    path = write_star(tmp_path / "p.star", ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName"], [[1, 2, "a"]])
    with pytest.raises(CryodedupError, match="no half-set column"):
        run(tmp_path, [path], mic_psize=1.0, halfsets="micrograph")


def test_invalid_halves_warn_and_skip_the_audit(tmp_path):
    coords = np.array([[100.0, 100], [105, 100]])
    path = write_planted(tmp_path / "p.star", [0, 0], coords, [0, 2], [0.9, 0.5])
    summary = run(tmp_path, [path], min_dist=MIN_DIST)
    assert "halfset_audit" not in summary.to_json()
    assert any("rlnRandomSubset is 0 for particle 1, expected 1 or 2" in w for w in summary.warnings)


def test_relion_expanded_copies_are_reported(tmp_path):
    # Three sources expanded 4 times (C4): copies share rlnImageName and their centre (shifts
    # were not applied); at min-dist 0 one copy of each is kept.
    coords = np.repeat(np.array([[100.0, 100], [500, 100], [900, 100]]), 4, axis=0)
    names = [f"{k // 4 + 1:06d}@Extract/particles.mrcs" for k in range(12)]
    path = write_planted(tmp_path / "p.star", [0] * 12, coords, [1] * 12, np.linspace(1, 0, 12), names)
    sym = run(tmp_path, [path], min_dist=0.0).to_json()["symmetry_expansion"]
    assert sym == {"column": "rlnImageName", "sources": 3, "copies_in": 12, "sources_by_copies_kept": {1: 3}}


def test_unexpanded_relion_file_reports_no_copies(tmp_path):
    groups, coords, halves, scores = planted(1, n_mics=2)
    path = write_planted(tmp_path / "p.star", groups, coords, halves, scores)
    assert "symmetry_expansion" not in run(tmp_path, [path], min_dist=0.0).to_json()


def test_relion_copies_are_looked_for_only_at_zero_distance_or_in_an_audit(tmp_path):
    coords = np.repeat(np.array([[100.0, 100], [500, 100]]), 2, axis=0)
    names = [f"{k // 2 + 1:06d}@Extract/particles.mrcs" for k in range(4)]
    path = write_planted(tmp_path / "p.star", [0] * 4, coords, [1] * 4, np.linspace(1, 0, 4), names)
    assert "symmetry_expansion" not in run(tmp_path, [path], min_dist=MIN_DIST).to_json()
    sym = run(tmp_path, [path], min_dist=MIN_DIST, audit=True).to_json()["symmetry_expansion"]
    assert sym["sources_by_copies_kept"] == {1: 2}


def cs_records(groups, coords, halves, scores, sources=None):
    fields = [("alignments3D/split", "<u4"), ("alignments3D/error", "<f4"), ("blob/path", "S32")]
    fields += [("sym_expand/src_uid", "<u8")] if sources is not None else []
    r = located_records(np.asarray(groups) + 100, coords[:, 0], coords[:, 1], fields)
    r["alignments3D/split"] = np.asarray(halves) - 1
    r["alignments3D/error"] = -np.asarray(scores)  # lower is better
    r["blob/path"] = [f"J3/p{k}.mrc".encode() for k in range(len(groups))]
    if sources is not None:
        r["sym_expand/src_uid"] = sources
    return r


@pytest.mark.parametrize("encoding", ["numpy", "csdat"])
def test_cryosparc_audit_and_halfsets(tmp_path, encoding):
    from cryosparc.dataset import CSDAT_FORMAT, Dataset

    groups, coords, halves, scores = planted(6)
    records = cs_records(groups, coords, halves, scores)
    path = tmp_path / "p.cs"
    if encoding == "numpy":
        write_cs(path, records)
    else:
        Dataset(records).save(path, format=CSDAT_FORMAT)
    keep, pairs = oracle_pairs(groups, coords, scores)
    across = [(a, b) for a, b in pairs if halves[a] != halves[b]]
    summary = run(tmp_path, [path], min_dist=MIN_DIST, halfsets="micrograph")
    audit = summary.to_json()["halfset_audit"]
    assert (audit["column"], audit["duplicate_pairs"], audit["straddling_pairs"]) == (
        "alignments3D/split",
        len(pairs),
        len(across),
    )
    kept = Dataset.load(tmp_path / "out" / "particles_kept.cs")
    assert kept["uid"].tolist() == records["uid"][keep].tolist()
    split = np.asarray(kept["alignments3D/split"])
    mic = np.asarray(kept["location/micrograph_uid"])
    assert all(np.unique(split[mic == m]).size == 1 for m in np.unique(mic))
    assert abs(int((split == 0).sum()) - int((split == 1).sum())) <= np.bincount(groups[keep]).max()
    expected = Dataset(records[keep])  # strings read back as cryosparc-tools gives them
    for name in records.dtype.names:
        if name != "alignments3D/split":
            assert np.array_equal(np.asarray(kept[name]), np.asarray(expected[name])), name
    rejected = Dataset.load(tmp_path / "out" / "particles_rejected.cs")
    assert np.array_equal(np.asarray(rejected["alignments3D/split"]), records["alignments3D/split"][~keep])
    assert np.array_equal(np.asarray(Dataset.load(path)["alignments3D/split"]), records["alignments3D/split"])


def test_cryosparc_symmetry_copies(tmp_path):
    coords = np.repeat(np.array([[100.0, 100], [500, 100]]), 3, axis=0)
    records = cs_records([0] * 6, coords, [1] * 6, np.linspace(1, 0, 6), sources=np.repeat([11, 12], 3))
    write_cs(tmp_path / "p.cs", records)
    sym = run(tmp_path, [tmp_path / "p.cs"], min_dist=0.0).to_json()["symmetry_expansion"]
    assert sym == {"column": "sym_expand/src_uid", "sources": 2, "copies_in": 6, "sources_by_copies_kept": {1: 2}}


def test_cli_audit_table_and_json(tmp_path):
    coords = np.array([[100.0, 100], [105, 100], [110, 100], [100, 100], [103, 100]])
    path = write_planted(tmp_path / "p.star", [0, 0, 0, 1, 1], coords, [1, 2, 1, 2, 2], [0.9, 0.5, 0.1, 0.9, 0.5])
    result = CliRunner().invoke(main, ["particles", str(path), "--outdir", str(tmp_path / "o"), "--audit", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    # (test_hand_worked_audit's set: p0-p1 and p1-p2 of its group of three straddle, issue 97; 1 before)
    assert summary["halfset_audit"]["straddling_pairs"] == 2
    assert "2 duplicate pairs within 20 Å straddle the half-sets" in result.stderr
    assert "none written (--audit)" in result.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_cli_audit_needs_no_outdir(tmp_path, monkeypatch):
    # The README's example: no -o. Two particles 5 Å apart in one half-set: none straddles,
    # and the verdict says what was looked for, not that the FSC is fine.
    path = write_planted(tmp_path / "run_data.star", [0, 0], np.array([[100.0, 100], [105, 100]]), [1, 1], [0.9, 0.5])
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["particles", "run_data.star", "--min-dist", "20", "--audit", "--json"])
    assert result.exit_code == 0, result.output
    message = json.loads(result.stdout)["halfset_audit"]["message"]
    assert message == "no duplicate pairs within 20 Å straddle the half-sets"
    assert "no duplicate pairs within 20 Å straddle the half-sets" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # nothing written
    for needs_a_folder in (["--audit", "--plot"], []):
        result = CliRunner().invoke(main, ["particles", "run_data.star", *needs_a_folder])
        assert result.exit_code == 2 and "Missing option '-o' / '--outdir'" in result.stderr
    with pytest.raises(CryodedupError, match="outdir: an output folder is needed"):
        remove_duplicate_particles([path], None, ParticleOptions())


def test_cli_refuses_audit_with_halfsets(tmp_path):
    path = write_planted(tmp_path / "p.star", [0], np.array([[100.0, 100]]), [1], [0.9])
    result = CliRunner().invoke(
        main, ["particles", str(path), "--outdir", str(tmp_path / "o"), "--audit", "--halfsets", "micrograph"]
    )
    assert result.exit_code == 2  # (options that do not go together: a usage error)
    assert "--audit writes no particle files" in result.stderr
