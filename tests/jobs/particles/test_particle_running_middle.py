"""Issue 65, a user's trial: one digit changed in the middle of the running kept file went unnoticed by the next round.

The store checks the running file's size and the digests of its two ends each round; its
middle is known by its stamp (inode, size, modification and change times, the modification
time set 1 ns back when the round recorded it), and compared whole with the store's rounds
when the stamp differs. The oracle: the same batches as an uninterrupted series into another
folder, every output compared byte for byte; a changed file is refused in one line naming
``--update --repair`` and ``--update --force``, and after ``--repair`` the next round ends as
the uninterrupted series does.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from update_batches import MIN_DIST, make_cs_batch, run_round, three_batches

from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles import store as store_module


def cs_batches(folder: Path) -> list[Path]:
    """Three CryoSPARC .cs batches (the running particles_kept.cs appended to in place)."""
    rng = np.random.default_rng(7)
    paths = [folder / f"b{k}.cs" for k in range(3)]
    for path, mics in zip(paths, [[1, 2], [2, 3], [3, 1]]):
        make_cs_batch(path, rng, mics, 25, "J5/extract")
    return paths


KINDS = {"star": (three_batches, "particles_kept.star"), "cs": (cs_batches, "particles_kept.cs")}


def series(out: Path, batches: list[Path]) -> None:
    for batch in batches:
        run_round([batch], out)


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def cli_round(batch: Path, out: Path, *flags: str) -> tuple[int, list[str]]:
    args = ["particles", str(batch), "-o", str(out), "--update", "--min-dist", str(MIN_DIST), "--mic-psize", "1"]
    result = CliRunner().invoke(main, [*args, *flags] if batch else ["particles", "-o", str(out), "--update", *flags])
    return result.exit_code, [line for line in result.output.splitlines() if line.strip()]


def edit_star_digit(path: Path, how: str) -> None:
    """One digit of a coordinate in the middle row changed (the size kept), as the user's sed did, or in place."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    k = next(k for k in range(len(lines) // 2, len(lines)) if re.search(rb"\d\.\d\d", lines[k]))
    at = sum(len(line) + 1 for line in lines[:k]) + re.search(rb"\d\.\d\d", lines[k]).start()  # type: ignore[union-attr]
    edit_byte(path, at, b"7" if data[at : at + 1] != b"7" else b"3", how)


def edit_byte(path: Path, at: int, byte: bytes, how: str) -> None:
    """``path``'s byte ``at`` replaced: by a new file renamed over it (as sed -i does), in place, or in place with
    the times set back."""
    before = os.stat(path)
    if how == "sed -i":
        data = bytearray(path.read_bytes())
        data[at : at + 1] = byte
        tmp = path.with_name("sed.tmp")
        tmp.write_bytes(bytes(data))
        os.replace(tmp, path)
        return
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(byte)
    if how == "in place, times set back":
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.mark.parametrize("how", ["sed -i", "in place", "in place, times set back"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_an_edit_in_the_running_file_s_middle_is_refused(tmp_path: Path, kind: str, how: str) -> None:
    make, running = KINDS[kind]
    batches = make(tmp_path)
    series(tmp_path / "uninterrupted", batches)
    out = tmp_path / "out"
    series(out, batches[:2])
    path = out / running
    if kind == "star":
        edit_star_digit(path, how)
    else:
        size = path.stat().st_size
        edit_byte(path, size // 2, bytes([path.read_bytes()[size // 2] ^ 0x01]), how)
    edited = path.read_bytes()
    code, lines = cli_round(batches[2], out)
    assert code == 1 and len(lines) == 1, lines
    assert "changed since the last --update round" in lines[0] and "--update --repair" in lines[0], lines
    assert "--update --force" in lines[0] and lines[0].startswith(f"Error: {path}: "), lines
    assert path.read_bytes() == edited  # (refused, not repaired)
    assert cli_round(None, out, "--repair")[0] == 0  # type: ignore[arg-type]
    run_round([batches[2]], out)
    assert outputs(out) == outputs(tmp_path / "uninterrupted")


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_same_bytes_copied_or_touched_go_on(tmp_path: Path, kind: str) -> None:
    """A running file copied back (new inode, times kept) or touched: compared whole, the same, the round goes on."""
    make, running = KINDS[kind]
    batches = make(tmp_path)
    series(tmp_path / "uninterrupted", batches)
    out = tmp_path / "out"
    series(out, batches[:1])
    shutil.copy2(out / running, tmp_path / "copy")
    os.replace(tmp_path / "copy", out / running)
    run_round([batches[1]], out)
    os.utime(out / running)
    run_round([batches[2]], out)
    assert outputs(out) == outputs(tmp_path / "uninterrupted")


def test_a_store_without_the_stamp_compares_the_file_whole(tmp_path: Path) -> None:
    """A store written before the stamp (today's main): the next round compares the running file whole, once."""
    batches = three_batches(tmp_path)
    series(tmp_path / "uninterrupted", batches)
    out = tmp_path / "out"
    series(out, batches[:2])
    with sqlite3.connect(out / "kept_store" / "store.sqlite") as db:
        db.execute("DELETE FROM meta WHERE key = 'running_stamp'")
    shutil.copy(out / "particles_kept.star", tmp_path / "kept")
    edit_star_digit(out / "particles_kept.star", "in place")
    with pytest.raises(CryodedupError, match=r"not those the store's rounds wrote \(compared whole\).*--repair"):
        run_round([batches[2]], out)
    shutil.copy(tmp_path / "kept", out / "particles_kept.star")  # (the bytes as the rounds wrote them: they go on)
    run_round([batches[2]], out)
    assert outputs(out) == outputs(tmp_path / "uninterrupted")


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_ordinary_round_does_not_read_the_running_file_whole(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is cheap: rounds of an untouched series never write the file aside from the store to compare it."""
    make, _ = KINDS[kind]
    batches = make(tmp_path)
    series(tmp_path / "uninterrupted", batches)
    out = tmp_path / "out"
    series(out, batches[:1])

    def refused(self, tmp, sync):
        raise AssertionError("the running file compared whole in an ordinary round")

    monkeypatch.setattr(store_module.KeptStore, "_write_from_store", refused)
    series(out, batches[1:])
    assert outputs(out) == outputs(tmp_path / "uninterrupted")
