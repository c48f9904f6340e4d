"""``cryodedup particles --update --repair -o OUT``: every file the store records written again where missing or
stale, nothing else touched, no round added.

The oracle: the same batches run as an uninterrupted series into a folder of the same name
elsewhere; every output file compared byte for byte (STAR and .cs alike).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from update_batches import make_cs_batch, run_round, three_batches

from cryodedup.cli import main


def series(root: Path, batches: list[Path]) -> Path:
    """The batches run as ``--update`` rounds into ``root/out``, uninterrupted."""
    for batch in batches:
        run_round([batch], root / "out")
    return root / "out"


def files(folder: Path) -> dict[str, bytes]:
    """Every file of the output folder but the store's, by name."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def repair(out: Path, *more: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["particles", "--update", "--repair", "-o", str(out), *more])
    return result.exit_code, [line for line in result.output.splitlines() if line.strip()]


def damage(out: Path, running: str) -> dict[str, str]:
    """A round file deleted, one truncated, one changed at the same size, the running file changed in its middle.

    (The store keeps the running file's size and the digests of its ends only: a change in its
    middle is found by writing it from the store and comparing.)

    Returns what --repair must say of each: missing or stale.
    """
    names = sorted(p.name for p in out.iterdir() if p.name.startswith("round_"))
    deleted, truncated, flipped = names[2], names[-1], names[0]
    os.unlink(out / deleted)
    with open(out / truncated, "r+b") as f:
        f.truncate(10)
    for name in (flipped, running):
        data = bytearray((out / name).read_bytes())
        data[len(data) // 2] ^= 0x20
        (out / name).write_bytes(bytes(data))
    return {deleted: "missing", truncated: "stale", flipped: "stale", running: "stale"}


def cs_batches(tmp_path: Path, last_stacks: str = "J5/extract") -> list[Path]:
    """Three .cs batches: the running .cs appended to in place, or (longer paths) written whole by the last round."""
    rng = np.random.default_rng(7)
    paths = [tmp_path / f"b{k}.cs" for k in range(3)]
    for path, mics, stacks in zip(paths, [[1, 2], [2, 3], [3, 1]], ["J5/extract", "J5/extract", last_stacks]):
        make_cs_batch(path, rng, mics, 25, stacks)
    return paths


@pytest.mark.parametrize(
    ("make", "running"),
    [
        (three_batches, "particles_kept.star"),
        (cs_batches, "particles_kept.cs"),
        (functools.partial(cs_batches, last_stacks="J77/extract_long"), "particles_kept.cs"),
    ],
)
def test_damaged_files_are_written_again_as_an_uninterrupted_series_wrote_them(
    tmp_path: Path, make, running: str
) -> None:
    batches = make(tmp_path)
    want = files(series(tmp_path / "uninterrupted", batches))
    out = series(tmp_path / "damaged", batches)
    said = damage(out, running)
    rounds_before = _rounds(out)
    code, lines = repair(out)
    assert code == 0, lines
    assert sorted(lines) == sorted(
        f"{out / name}: {why}, written again from the --update store" for name, why in said.items()
    )
    assert files(out) == want
    assert _rounds(out) == rounds_before  # (no round added)
    result = CliRunner().invoke(main, ["particles", "--update", "--repair", "-o", str(out), "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == {"repaired": []}, result.output
    assert repair(out) == (0, [f"{out}: nothing to repair (every file is as the --update store records it)"])


def test_a_deleted_running_file_is_written_again(tmp_path: Path) -> None:
    batches = three_batches(tmp_path)
    want = files(series(tmp_path / "uninterrupted", batches))
    out = series(tmp_path / "damaged", batches)
    os.unlink(out / "particles_kept.star")
    assert repair(out) == (0, [f"{out / 'particles_kept.star'}: missing, written again from the --update store"])
    assert files(out) == want


def test_a_round_stopped_after_its_commit_is_finished(tmp_path: Path) -> None:
    """Stopped after the commit, before the running file changed and the round files were renamed."""
    batches = three_batches(tmp_path)
    want = files(series(tmp_path / "uninterrupted", batches))
    out = series(tmp_path / "stopped", batches[:2])
    shutil.copy(out / "particles_kept.star", tmp_path / "round2.star")
    run_round([batches[2]], out)
    shutil.copy(tmp_path / "round2.star", out / "particles_kept.star")
    for name in ("round_0003_kept.star", "round_0003_rejected.star"):
        os.unlink(out / name)
    with sqlite3.connect(out / "kept_store" / "store.sqlite") as db:
        db.execute("UPDATE rounds SET placed = 0 WHERE round = 3")
    code, lines = repair(out)
    assert code == 0 and [line.split(": ")[1].split(",")[0] for line in lines] == ["missing", "missing", "stale"], lines
    assert files(out) == want
    with sqlite3.connect(out / "kept_store" / "store.sqlite") as db:
        assert db.execute("SELECT placed FROM rounds WHERE round = 3").fetchone() == (1,)


def test_a_running_file_cut_short_is_written_again(tmp_path: Path) -> None:
    batches = three_batches(tmp_path)
    want = files(series(tmp_path / "uninterrupted", batches))
    out = series(tmp_path / "damaged", batches)
    with open(out / "particles_kept.star", "r+b") as f:
        f.truncate(1000)
    assert repair(out) == (0, [f"{out / 'particles_kept.star'}: stale, written again from the --update store"])
    assert files(out) == want


def test_a_folder_in_a_round_file_s_place_is_refused(tmp_path: Path) -> None:
    out = series(tmp_path, three_batches(tmp_path))
    os.unlink(out / "round_0002_kept.star")
    (out / "round_0002_kept.star").mkdir()
    code, lines = repair(out)
    assert code == 1 and len(lines) == 1 and "round_0002_kept.star: is a folder" in lines[0], lines


def test_an_intact_folder_is_not_touched(tmp_path: Path) -> None:
    out = series(tmp_path, three_batches(tmp_path))
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    assert repair(out) == (0, [f"{out}: nothing to repair (every file is as the --update store records it)"])
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()} == before


def test_the_next_round_after_a_repair_is_the_uninterrupted_one(tmp_path: Path) -> None:
    batches = three_batches(tmp_path)
    want = files(series(tmp_path / "uninterrupted", batches))
    out = series(tmp_path / "damaged", batches[:2])
    damage(out, "particles_kept.star")
    assert repair(out)[0] == 0
    run_round([batches[2]], out)
    assert files(out) == want


def test_a_folder_without_a_store_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    code, lines = repair(tmp_path / "out")
    assert code == 1 and len(lines) == 1 and "no --update store (kept_store/store.sqlite)" in lines[0], lines
    code, lines = repair(tmp_path / "none")
    assert code == 1 and len(lines) == 1 and "none: no such folder" in lines[0], lines
    assert not (tmp_path / "none").exists()


def test_a_damaged_store_is_refused_in_one_line_naming_force(tmp_path: Path) -> None:
    out = series(tmp_path, three_batches(tmp_path))
    os.unlink(out / "round_0002_kept.star")
    with sqlite3.connect(out / "kept_store" / "store.sqlite") as db:
        db.execute("UPDATE files SET data = zeroblob(length(data)) WHERE round = 2")
    code, lines = repair(out)
    assert code == 1 and len(lines) == 1, lines
    assert "store.sqlite: round_0002_kept.star: its copy in the store does not decompress" in lines[0]
    assert "--update --force starts the running kept set anew" in lines[0]
    assert not (out / "round_0002_kept.star").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["particles", "--repair", "-o", "OUT"], "--repair rewrites the files of --update rounds: give --update too"),
        (["particles", "--update", "--repair", "-o", "OUT", "BATCH"], "b1.star: --repair reads no batch"),
        (["particles", "--update", "--repair", "-o", "OUT", "--force"], "--force starts the store anew"),
        (["particles", "--update", "--repair"], "--repair needs the output folder (-o)"),
        (["particles", "-o", "OUT"], "Missing argument 'INPUTS...'"),
    ],
)
def test_what_repair_refuses(tmp_path: Path, args: list[str], message: str) -> None:
    out = series(tmp_path, three_batches(tmp_path)[:1])
    given = [str(out) if a == "OUT" else str(tmp_path / "b1.star") if a == "BATCH" else a for a in args]
    before = files(out)
    result = CliRunner().invoke(main, given)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0 and len(lines) == 1 and message in lines[0], result.output
    assert files(out) == before


def _rounds(out: Path) -> list[tuple]:
    with sqlite3.connect(out / "kept_store" / "store.sqlite") as db:
        return db.execute("SELECT round, kept FROM rounds").fetchall()


def test_the_public_api_repairs_as_the_command_does(tmp_path: Path) -> None:
    # A new user's trial: --update --repair had no public Python function (only
    # cryodedup.jobs.particles.update.repair, internal). The oracle: the uninterrupted series.
    import cryodedup
    from cryodedup.options import ParticleOptions

    assert "repair_particle_update" in cryodedup.__all__
    batches = three_batches(tmp_path)
    want = files(series(tmp_path / "uninterrupted", batches))
    out = series(tmp_path / "damaged", batches)
    said = damage(out, "particles_kept.star")
    written = cryodedup.repair_particle_update(out)
    assert sorted(written) == sorted((out / name, why) for name, why in said.items())
    assert files(out) == want
    assert cryodedup.repair_particle_update(out) == []
    # update and repair as options of a run name the function (no batch is read).
    with pytest.raises(cryodedup.CryodedupError, match=r"cryodedup\.repair_particle_update\(outdir\)"):
        cryodedup.remove_duplicate_particles(batches[:1], out, ParticleOptions(update=True, repair=True))
