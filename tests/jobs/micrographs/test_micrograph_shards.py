"""Micrograph shards (--shard K/N) and their merge: the same outputs as one run, restartable shards.

The set (helpers.write_planted_micrographs): 40 synthetic micrographs with re-exposures
planted across the shard boundaries of N = 3 and N = 7."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cryodedup import MicrographOptions, find_duplicate_micrographs
from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.jobs.micrographs.plan import micrograph_plan
from cryodedup.jobs.micrographs.shards import (
    MARKER,
    PAIRS,
    merge_micrograph_shards,
    parse_shard,
    run_micrograph_shard,
)
from cryodedup.jobs.shard_json import shard_folder
from helpers import PLANTED_COUNT as COUNT
from helpers import PLANTED_MICROGRAPHS as PLANTED
from helpers import PLANTED_SHAPE as SHAPE
from helpers import planted_original, write_planted_micrographs

OUTPUTS = ("pairs.csv", "duplicates.csv", "micrographs_kept.txt", "micrographs_rejected.txt")
WINDOW = MicrographOptions(bin=1, candidates="window", window=8)
ALL = MicrographOptions(bin=1)  # 40 micrographs: every pair


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return write_planted_micrographs(tmp_path_factory.mktemp("planted"))


def options(base):
    return MicrographOptions(**vars(base))  # a fresh copy: the job may fill in fields


def plan(base):
    """The options resolved, as the command line hands them to a shard."""
    return micrograph_plan(options(base))


def single_run(files, outdir, base):
    return find_duplicate_micrographs(files, outdir, options(base)).to_json()


def sharded_run(files, outdir, base, n):
    for k in range(1, n + 1):
        run_micrograph_shard(files, outdir / "shards", plan(base), k, n)
    return merge_micrograph_shards([outdir / "shards"], outdir / "merged").to_json()


def assert_same_outputs(a, b):
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.slow
@pytest.mark.parametrize("base", [WINDOW, ALL], ids=["window8", "all"])
@pytest.mark.parametrize("n", [1, 3, 7])
def test_sharded_runs_write_the_outputs_of_one_run(planted, tmp_path, base, n):
    single = single_run(planted, tmp_path / "single", base)
    merged = sharded_run(planted, tmp_path, base, n)
    assert_same_outputs(tmp_path / "single", tmp_path / "merged")
    # The oracle: each re-exposure named with the first acquisition of its area, in acquisition order.
    expected = "Original,Duplicate\r\n" + "".join(
        f"{planted[planted_original(k) - 1]},{planted[k - 1]}\r\n" for k in sorted(PLANTED)
    )
    assert (tmp_path / "merged" / "duplicates.csv").read_bytes().decode() == expected
    ignore = {
        "timings",
        "workers",
        "shards",
        "outputs",
        "inputs",
        "images_read",
    }  # shards read overlapping images
    assert without_paths(merged, ignore, tmp_path / "merged") == without_paths(single, ignore, tmp_path / "single")
    assert merged["shards"] == n and single["shards"] == 1

    # The same files by subset, in the merge's folder; a merge scores nothing (no scoring time, no rate).
    def named(outputs: dict, folder: str) -> dict:
        return {subset: [Path(f).relative_to(tmp_path / folder) for f in files] for subset, files in outputs.items()}

    assert named(merged["outputs"], "merged") == named(single["outputs"], "single")
    assert merged["timings"]["scoring_seconds"] is None and single["timings"]["scoring_seconds"] is not None


def without_paths(summary: dict, ignore: set, outdir) -> dict:
    """The summary but ``ignore``'s keys, the output folder in its verdict line named OUT."""
    kept = {k: v for k, v in summary.items() if k not in ignore}
    kept["verdict"] = {**kept["verdict"], "line": kept["verdict"]["line"].replace(str(outdir), "OUT")}
    return kept


def test_each_shard_reads_its_chunk_and_the_window_past_it(planted, tmp_path):
    # Window 8, 3 shards of 13, 13 and 14 images: a shard reads its own and the next 8.
    for k in (1, 2, 3):
        s = run_micrograph_shard(planted, tmp_path, plan(WINDOW), k, 3)
        lo, hi = (k - 1) * COUNT // 3, k * COUNT // 3
        assert s.images_read == min(COUNT, hi + 8) - lo
        assert s.megabytes_read == round(s.images_read * SHAPE[0] * SHAPE[1] * 4 / 1e6, 1)
    merged = merge_micrograph_shards([tmp_path], tmp_path / "out").to_json()
    assert sum(w["images_read"] for w in merged["workers"]) == 21 + 21 + 14
    assert merged["pairs_scored"] == sum(min(8, COUNT - 1 - i) for i in range(COUNT))


def test_a_complete_shard_is_not_redone_and_an_incomplete_one_is(planted, tmp_path):
    single_run(planted, tmp_path / "single", WINDOW)
    for k in (1, 2, 3):
        run_micrograph_shard(planted, tmp_path / "shards", plan(WINDOW), k, 3)
    second, third = shard_folder(tmp_path / "shards", 2, 3), shard_folder(tmp_path / "shards", 3, 3)
    assert second.name == "shard-2-of-3"
    written = (second / PAIRS).stat().st_mtime_ns
    again = run_micrograph_shard(planted, tmp_path / "shards", plan(WINDOW), 2, 3)
    assert again.already_complete and (second / PAIRS).stat().st_mtime_ns == written

    # Killed before its marker was written, and killed while its pairs were rewritten.
    (second / MARKER).unlink()
    with open(third / PAIRS, "r+b") as f:
        f.truncate(100)
    with pytest.raises(CryodedupError, match=r"shard-2-of-3: shard incomplete \(no shard.json"):
        merge_micrograph_shards([tmp_path / "shards"], tmp_path / "merged")
    (second / MARKER).write_text("{}")  # no: an earlier run's marker
    with pytest.raises(CryodedupError, match="shard-2-of-3: shard incomplete"):
        merge_micrograph_shards([tmp_path / "shards"], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()
    for k in (2, 3):
        s = run_micrograph_shard(planted, tmp_path / "shards", plan(WINDOW), k, 3)
        assert not s.already_complete
    merge_micrograph_shards(sorted((tmp_path / "shards").iterdir()), tmp_path / "merged")
    assert_same_outputs(tmp_path / "single", tmp_path / "merged")


KILL_AFTER_FIRST_BATCH = """
import os, signal, sys
from cryodedup.jobs.micrographs import shards as micrograph_shards
from cryodedup.cli import main

def score_then_die(plan, shard, shards, progress=None):
    # Killed by SIGKILL once the first images are read: no cleanup runs, as on a node that dies.
    return scoring(plan, shard, shards, lambda k: os.kill(os.getpid(), signal.SIGKILL))

scoring, micrograph_shards.score_shard = micrograph_shards.score_shard, score_then_die
sys.argv[0] = "cryodedup"
main()
"""


@pytest.mark.slow
def test_a_shard_killed_by_sigkill_is_run_again(planted, tmp_path):
    single_run(planted, tmp_path / "single", WINDOW)
    args = ["micrographs", *map(str, planted), "-o", str(tmp_path / "shards")]
    args += ["--bin", "1", "--candidates", "window", "--window", "8", "--quiet"]
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_FIRST_BATCH, *args, "--shard", "1/2"],
        check=False,
        capture_output=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr
    assert (tmp_path / "shards" / "shard-1-of-2").is_dir()
    assert not (tmp_path / "shards" / "shard-1-of-2" / MARKER).exists()
    for k in (1, 2):
        subprocess.run([sys.executable, "-m", "cryodedup.cli", *args, "--shard", f"{k}/2"], check=True, timeout=300)
    result = CliRunner().invoke(
        main, ["micrographs-merge", str(tmp_path / "shards"), "-o", str(tmp_path / "merged"), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert_same_outputs(tmp_path / "single", tmp_path / "merged")
    assert json.loads(result.stdout)["shards"] == 2


def test_the_merge_refuses_shards_that_do_not_make_one_run(planted, tmp_path):
    run_micrograph_shard(planted, tmp_path / "a", plan(WINDOW), 1, 3)
    run_micrograph_shard(planted, tmp_path / "a", plan(WINDOW), 3, 3)
    with pytest.raises(CryodedupError, match=r"^shard 2 of 3 missing \(found 2 in .*a\)$"):
        merge_micrograph_shards([tmp_path / "a"], tmp_path / "out")
    run_micrograph_shard(
        planted, tmp_path / "b", micrograph_plan(MicrographOptions(bin=1, candidates="window", window=9)), 2, 3
    )
    with pytest.raises(CryodedupError, match=r"shard-2-of-3: a shard of another run than .*\(--window 9 against 8\)"):
        merge_micrograph_shards([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    run_micrograph_shard(planted[:-1], tmp_path / "c", plan(WINDOW), 2, 3)
    with pytest.raises(CryodedupError, match=r"a shard of another run than .*\(other inputs\)"):
        merge_micrograph_shards([tmp_path / "a", tmp_path / "c"], tmp_path / "out")
    run_micrograph_shard(planted, tmp_path / "d", plan(WINDOW), 2, 4)
    with pytest.raises(CryodedupError, match=r"shard-2-of-4: shard 2 of 4, but .*shard-1-of-3 is one of 3"):
        merge_micrograph_shards([tmp_path / "a", tmp_path / "d"], tmp_path / "out")
    first = shard_folder(tmp_path / "a", 1, 3)
    with pytest.raises(CryodedupError, match=r"shard 1/3 given twice"):
        merge_micrograph_shards([first, first], tmp_path / "out")
    with pytest.raises(CryodedupError, match=r"nowhere: no such folder"):
        merge_micrograph_shards([tmp_path / "nowhere"], tmp_path / "out")
    # A complete shard of another run in the folder is not replaced without --force.
    with pytest.raises(CryodedupError, match=r"shard-2-of-3: holds a shard of another run \(--window 9 against 8\)"):
        run_micrograph_shard(planted, tmp_path / "b", plan(WINDOW), 2, 3)
    s = run_micrograph_shard(planted, tmp_path / "b", plan(WINDOW), 2, 3, force=True)
    assert not s.already_complete
    merge_micrograph_shards([tmp_path / "a", tmp_path / "b"], tmp_path / "out")


@pytest.mark.parametrize("text", ["0/3", "4/3", "2", "a/b", "1/0"])
def test_shard_must_be_k_of_n_from_one(text):
    with pytest.raises(CryodedupError, match=r"expected K/N with 1 <= K <= N"):
        parse_shard(text)
    assert parse_shard("7/7") == (7, 7) and parse_shard(" 1 / 2 ") == (1, 2)


def test_cli_shards_and_merge_with_particles(planted, tmp_path):
    runner = CliRunner()
    args = ["micrographs", *map(str, planted), "--bin", "1", "-o"]
    for k in (1, 2):
        result = runner.invoke(main, [*args, str(tmp_path / "shards"), "--shard", f"{k}/2", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["folder"] == str(tmp_path / "shards" / f"shard-{k}-of-2")
    result = runner.invoke(main, [*args, str(tmp_path / "shards"), "--shard", "3/2"])
    assert result.exit_code == 2 and "expected K/N" in result.stderr  # (usage errors: 2)
    result = runner.invoke(main, [*args, str(tmp_path / "x"), "--shard", "1/2", "--particles", str(planted[0])])
    assert result.exit_code == 2 and "give --particles to micrographs-merge" in result.stderr
    result = runner.invoke(main, ["micrographs-merge", str(tmp_path / "shards"), "-o", str(tmp_path / "merged")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["micrographs-merge", str(tmp_path / "shards"), "-o", str(tmp_path / "merged")])
    assert result.exit_code == 1 and "already exists; use --force" in result.stderr
    single = runner.invoke(main, [*args, str(tmp_path / "single")])
    assert single.exit_code == 0, single.output
    assert_same_outputs(tmp_path / "single", tmp_path / "merged")


def test_the_default_path_imports_no_dask(planted, tmp_path):
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from cryodedup.cli import main\n"
        f"files = {[str(p) for p in planted[:4]]!r}\n"
        f"r = CliRunner().invoke(main, ['micrographs', *files, '--bin', '1', '-o', {str(tmp_path / 'out')!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_dask_without_dask_installed_says_how_to_install_it(planted, tmp_path):
    code = (
        "import sys\n"
        "sys.modules['dask'] = None  # as if not installed: importing it raises ImportError\n"
        "from cryodedup.cli import main\n"
        f"sys.argv = ['cryodedup', 'micrographs', *{[str(p) for p in planted[:4]]!r}, '--dask', 'local', "
        f"'-o', {str(tmp_path / 'out')!r}]\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        'Error: --dask needs Dask\'s distributed scheduler: pip install "cryodedup[dask]"'
    ]


def test_an_image_changed_between_the_shards_is_named_and_its_shards_run_again(planted, tmp_path):
    # Issue 90 (a user's trial): the merge took shards that read an image before and after it changed.
    images = tmp_path / "images"
    images.mkdir()
    files = [images / p.name for p in planted]
    for source, copy in zip(planted, files):
        copy.write_bytes(source.read_bytes())
    run_micrograph_shard(files, tmp_path / "shards", plan(WINDOW), 1, 2)
    changed = files[len(files) // 2]
    data = bytearray(changed.read_bytes())
    data[-4:] = bytes(4)  # (the last pixel zeroed: the same size)
    changed.write_bytes(bytes(data))
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    run_micrograph_shard(files, tmp_path / "shards", plan(WINDOW), 2, 2)
    with pytest.raises(
        CryodedupError, match=rf"{changed.name} \(modified: the same size, another time\); run the"
    ) as no:
        merge_micrograph_shards([tmp_path / "shards"], tmp_path / "merged")
    assert "\n" not in str(no.value) and not (tmp_path / "merged").exists()
    said = []
    again = run_micrograph_shard(files, tmp_path / "shards", plan(WINDOW), 1, 2, log=lambda m, level: said.append(m))
    assert not again.already_complete and any(changed.name in m and "changed" in m for m in said)
    assert run_micrograph_shard(files, tmp_path / "shards", plan(WINDOW), 2, 2).already_complete
    merge_micrograph_shards([tmp_path / "shards"], tmp_path / "merged")
    single_run(files, tmp_path / "single", WINDOW)
    assert_same_outputs(tmp_path / "single", tmp_path / "merged")


def test_a_shards_document_has_a_verdict_and_its_stages_time_as_the_particle_shards_has(planted, tmp_path):
    # Issue 92: the micrograph shard's --json had "verdict": null and its timings the seconds alone.
    scored = run_micrograph_shard(planted, tmp_path / "shards", plan(WINDOW), 1, 2).to_json()
    folder = shard_folder(tmp_path / "shards", 1, 2)
    pairs = scored["pairs_scored"]
    assert list(scored)[:3] == ["verdict", "outputs", "timings"] and "seconds" not in scored
    assert (scored["verdict"]["word"], scored["verdict"]["kind"]) == ("Shard 1 of 2", "good")
    assert scored["verdict"]["line"] == f"Shard 1 of 2 scored: {pairs:,} pairs of {COUNT} micrographs -> {folder}"
    assert list(scored["timings"]) == ["read", "decide", "write", "summarise", "seconds"]
    again = run_micrograph_shard(planted, tmp_path / "shards", plan(WINDOW), 1, 2).to_json()  # (complete)
    assert again["verdict"]["line"].startswith("Shard 1 of 2 already complete, not redone: ")
    assert list(again["timings"]) == ["read", "summarise", "seconds"]  # (this run's: nothing scored again)
    assert again["timings"]["read"] + again["timings"]["summarise"] <= again["timings"]["seconds"] + 0.002  # (rounded)
