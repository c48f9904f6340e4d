"""``cryodedup particles --update``: the rule over rounds against a brute-force oracle, a fresh run byte for byte,
and the combinations refused in one line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from update_batches import LABELS, OPTICS, make_batch, oracle_rounds, run_round, star_rows

from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions
from helpers import write_star


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rounds_follow_the_rule_on_overlapping_micrographs(tmp_path: Path, seed: int) -> None:
    """Each round keeps what the oracle keeps, counts what it counts, and the running file gains those rows."""
    rng = np.random.default_rng(seed)
    plan = [[1, 2], [2, 3], [1, 3, 4], [4, 2]]
    batches = [make_batch(tmp_path / f"b{k}.star", rng, mics, 30) for k, mics in enumerate(plan)]
    expected = oracle_rounds(batches)
    out = tmp_path / "out"
    running: list[tuple] = []
    for k, (rows, (keep, won)) in enumerate(zip(batches, expected)):
        summary = run_round([tmp_path / f"b{k}.star"], out)
        kept = [row for row, take in zip(rows, keep) if take]
        assert star_rows(out / f"round_{k + 1:04d}_kept.star") == kept
        assert star_rows(out / f"round_{k + 1:04d}_rejected.star") == [r for r, take in zip(rows, keep) if not take]
        running += kept
        assert star_rows(out / "particles_kept.star") == running
        update = summary.to_json()["update"]
        assert (update["round"], update["running_kept"], update["would_have_won"]) == (k + 1, len(running), won)
        assert summary.kept == len(kept)
    assert sum(won for _, won in expected) > 0  # (the case the count is for did occur)


def test_many_rounds_read_kept_particles_of_every_round(tmp_path: Path) -> None:
    """Twelve rounds on a few micrographs: the kept particles of every earlier round found (the oracle's decisions),
    the store one database file."""
    rng = np.random.default_rng(11)
    plan = [sorted(rng.choice(9, int(rng.integers(1, 4)), replace=False).tolist()) for _ in range(12)]
    batches = [make_batch(tmp_path / f"b{k}.star", rng, mics, 15) for k, mics in enumerate(plan)]
    expected = oracle_rounds(batches)
    out = tmp_path / "out"
    for k, (rows, (keep, won)) in enumerate(zip(batches, expected)):
        summary = run_round([tmp_path / f"b{k}.star"], out)
        assert star_rows(out / f"round_{k + 1:04d}_kept.star") == [r for r, take in zip(rows, keep) if take]
        assert summary.to_json()["update"]["would_have_won"] == won
    assert sorted(p.name for p in (out / "kept_store").iterdir()) == ["store.sqlite", "store.sqlite-journal"]


def test_batches_of_new_micrographs_equal_a_fresh_run_byte_for_byte(tmp_path: Path) -> None:
    """Batches that only add micrographs: the running file is a fresh run's on all batches as inputs."""
    rng = np.random.default_rng(7)
    paths = [tmp_path / f"b{k}.star" for k in range(4)]
    for k, path in enumerate(paths):
        make_batch(path, rng, [3 * k + 1, 3 * k + 2, 3 * k + 3], 25)
    for path in paths:
        run_round([path], tmp_path / "out")
    options = ParticleOptions(min_dist=20.0, mic_psize=1.0)
    remove_duplicate_particles(paths, tmp_path / "fresh", options)
    fresh = (tmp_path / "fresh" / "particles_kept.star").read_bytes()
    assert (tmp_path / "out" / "particles_kept.star").read_bytes() == fresh
    assert fresh.count(b"mics/mic") > 100  # (rows of every batch)


def test_a_batch_of_several_files_is_one_round(tmp_path: Path) -> None:
    """Two files given as one batch are decided together, as a plain run of both decides them."""
    rng = np.random.default_rng(3)
    first = make_batch(tmp_path / "a.star", rng, [1, 2], 20)
    second = make_batch(tmp_path / "b.star", rng, [2, 3], 20)
    keep, _ = oracle_rounds([first + second])[0]
    run_round([tmp_path / "a.star", tmp_path / "b.star"], tmp_path / "out")
    assert star_rows(tmp_path / "out" / "particles_kept.star") == [r for r, k in zip(first + second, keep) if k]


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        ({"min_support": 2}, "--min-support 2"),
        ({"remove_entirely": True}, "--remove-entirely"),
        ({"audit": True}, "--audit"),
        ({"score_normalize": "rank"}, "--score-normalize rank"),
        ({"score": "none"}, "--score none"),
        ({"species": ["a"]}, "--species"),
        ({"max_angle": 10.0}, "--max-angle"),
        ({"halfsets": "micrograph"}, "--halfsets micrograph"),
        ({"same_image": "reject"}, "--same-image reject"),
        ({"transform": ["1=swap"]}, "--transform"),
        ({"score_normalize": "zscore"}, "--score-normalize zscore"),
        ({"edge": 10.0}, "--edge"),
    ],
)
def test_combinations_not_supported_are_refused(tmp_path: Path, options: dict, flag: str) -> None:
    make_batch(tmp_path / "b.star", np.random.default_rng(0), [1], 5)
    with pytest.raises(CryodedupError, match=f"--update cannot be given with {flag}:"):
        run_round([tmp_path / "b.star"], tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


def test_refused_in_one_line_on_the_command_line(tmp_path: Path) -> None:
    make_batch(tmp_path / "b.star", np.random.default_rng(0), [1], 5)
    args = ["particles", str(tmp_path / "b.star"), "--update", "-o", str(tmp_path / "out"), "--remove-entirely"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--update cannot be given with --remove-entirely" in lines[0], result.output


def test_a_batch_whose_decision_options_differ_is_refused_naming_the_option(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    make_batch(tmp_path / "a.star", rng, [1], 5)
    make_batch(tmp_path / "b.star", rng, [2], 5)
    run_round([tmp_path / "a.star"], tmp_path / "out")
    opts = ParticleOptions(min_dist=30.0, mic_psize=1.0, update=True)
    with pytest.raises(CryodedupError, match=r"store\.sqlite: --min-dist 30\.0 here, 20\.0 in the store's rounds"):
        remove_duplicate_particles([tmp_path / "b.star"], tmp_path / "out", opts)


def test_a_batch_of_another_header_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    make_batch(tmp_path / "a.star", rng, [1], 5)
    make_batch(tmp_path / "b.star", rng, [2], 5, optics=[[1, "opticsGroup1", 1.0, 1.0], [2, "opticsGroup2", 1.0, 1.0]])
    run_round([tmp_path / "a.star"], tmp_path / "out")
    before = (tmp_path / "out" / "particles_kept.star").read_bytes()
    with pytest.raises(CryodedupError, match=r"b\.star: its header \(optics table and columns\) is not that of"):
        run_round([tmp_path / "b.star"], tmp_path / "out")
    assert (tmp_path / "out" / "particles_kept.star").read_bytes() == before


def test_a_kept_file_no_store_wrote_is_refused(tmp_path: Path) -> None:
    make_batch(tmp_path / "a.star", np.random.default_rng(0), [1], 5)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "particles_kept.star").write_text("someone's\n")
    with pytest.raises(CryodedupError, match=r"particles_kept\.star: not written by an --update round"):
        run_round([tmp_path / "a.star"], tmp_path / "out")
    assert (tmp_path / "out" / "particles_kept.star").read_text() == "someone's\n"


def test_no_score_is_refused(tmp_path: Path) -> None:
    labels = LABELS[:3]
    write_star(tmp_path / "a.star", labels, [["mics/mic1.mrc", 10, 10]], optics=[[1, "opticsGroup1", 1.0, 1.0]])
    # (its columns place the particles: none is named as one --score could take)
    with pytest.raises(CryodedupError, match="no score to rank by.*no column of theirs may rank them$"):
        run_round([tmp_path / "a.star"], tmp_path / "out")


def test_the_api_passes_the_option(tmp_path: Path) -> None:
    from cryodedup.api import remove_duplicates

    rng = np.random.default_rng(0)
    make_batch(tmp_path / "a.star", rng, [1], 10)
    make_batch(tmp_path / "b.star", rng, [1], 10)
    for name in ("a", "b"):
        kept, _ = remove_duplicates(tmp_path / f"{name}.star", tmp_path / "out", min_dist=20, mic_psize=1, update=True)
    assert [Path(p).name for p in kept] == ["round_0002_kept.star"]
    expected = oracle_rounds([star_rows(tmp_path / "a.star"), star_rows(tmp_path / "b.star")])
    n_kept = sum(sum(keep) for keep, _ in expected)
    assert len(star_rows(tmp_path / "out" / "particles_kept.star")) == n_kept


def test_the_api_refuses_update_on_data_in_memory() -> None:
    import pandas as pd

    from cryodedup.api import remove_duplicates

    frame = pd.DataFrame({"rlnMicrographName": ["m.mrc"], "rlnCoordinateX": [1.0], "rlnCoordinateY": [1.0]})
    with pytest.raises(
        CryodedupError,
        match="update=True takes particle files and an output folder; particles in memory have no kept set",
    ):
        remove_duplicates(frame, mic_psize=1.0, update=True)


def test_a_batch_with_half_sets_is_audited_within_itself(tmp_path: Path) -> None:
    # Found by trying --update on a real refined STAR (rlnRandomSubset): the half-set audit
    # asserted a suppressor for every rejected row and the round ended in a traceback.
    labels = [*LABELS, "rlnRandomSubset"]
    first = [["mics/mic1.mrc", "10.00", "10.00", "0.9", 1, 1], ["mics/mic2.mrc", "50.00", "50.00", "0.9", 1, 1]]
    second = [
        ["mics/mic1.mrc", "12.00", "10.00", "0.8", 1, 2],  # near the kept one of round 1: rejected, not paired
        ["mics/mic3.mrc", "80.00", "80.00", "0.9", 1, 1],
        ["mics/mic3.mrc", "82.00", "80.00", "0.5", 1, 2],  # a duplicate across the half-sets of this batch
    ]
    write_star(tmp_path / "b1.star", labels, first, optics=OPTICS)
    write_star(tmp_path / "b2.star", labels, second, optics=OPTICS)
    run_round([tmp_path / "b1.star"], tmp_path / "out")
    summary = run_round([tmp_path / "b2.star"], tmp_path / "out")
    assert (summary.kept, summary.rejected) == (1, 2)
    assert summary.to_json()["halfset_audit"]["straddling_pairs"] == 1


def test_a_mask_and_zscores_are_refused_in_their_words(tmp_path: Path) -> None:
    make_batch(tmp_path / "b.star", np.random.default_rng(0), [1], 5)
    (tmp_path / "mask.mrc").write_bytes(b"")  # (refused before any mask is read)
    with pytest.raises(CryodedupError, match="--update cannot be given with --mask: the store keeps no mask"):
        run_round([tmp_path / "b.star"], tmp_path / "out", mask=tmp_path / "mask.mrc")
    with pytest.raises(CryodedupError, match="zscore: the scores are normalised within the whole set"):
        run_round([tmp_path / "b.star"], tmp_path / "out", score_normalize="zscore")


def test_no_known_score_is_refused_naming_the_column_and_runs_as_advised(tmp_path: Path) -> None:
    """pytom's score column (rlnLCCmax, which --score auto does not take): the refusal names it (on main: "name the
    column with --score", no column named); COLUMN filled with the first it names, two rounds keep what the
    brute-force oracle of the rule keeps by that score."""
    rng = np.random.default_rng(3)
    batches, paths = [], [tmp_path / "b0.star", tmp_path / "b1.star"]
    labels = [*LABELS[:3], "rlnLCCmax", LABELS[4]]
    for path, mics in zip(paths, [[1, 2], [2, 1]]):
        rows = [
            (f"mics/mic{m}.mrc", round(rng.uniform(0, 150), 2), round(rng.uniform(0, 150), 2), round(rng.uniform(), 6))
            for m in mics
            for _ in range(20)
        ]
        write_star(path, labels, [[m, f"{x:.2f}", f"{y:.2f}", f"{s:.6f}", 1] for m, x, y, s in rows], optics=OPTICS)
        batches.append(rows)
    args = ["particles", "--update", "--min-dist", "20", "--mic-psize", "1", "-o", str(tmp_path / "out")]
    refused = CliRunner().invoke(main, [*args, str(paths[0])])
    assert refused.exit_code != 0 and "no score to rank by" in refused.output, refused.output
    match = re.search(r"name the column with (--score) COLUMN \(of theirs: ([^)]*)\)", " ".join(refused.output.split()))
    assert match, refused.output
    advised = shlex.split(f"{match.group(1)} {match.group(2).split(', ')[0]}")
    assert advised == ["--score", "rlnLCCmax"]  # (the only column of theirs that may rank: the rest place them)
    expected = oracle_rounds(batches)
    assert all(not all(keep) for keep, _ in expected)  # (each round rejects some: the score decides which)
    for k, (path, (keep, _)) in enumerate(zip(paths, expected)):
        done = CliRunner().invoke(main, [*args, *advised, str(path)])
        assert done.exit_code == 0, done.output
        assert star_rows(tmp_path / f"out/round_{k + 1:04d}_kept.star") == [
            r for r, take in zip(batches[k], keep) if take
        ]
