"""A store another process holds locked is busy, not damaged: the round waits, then refuses in one line, never --force.

The lock is a real second process (``BEGIN EXCLUSIVE`` on its own connection, as a program
reading the store would take). The oracle: the outputs and the store byte for byte as they
were (nothing added), and the same command once the lock is gone ends as a round that never
met it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from update_batches import MIN_DIST, three_batches

from cryodedup.cli import main
from fixtures.synthetic import write_mrc

#: The wait for a busy store, in seconds (documented in docs/guides/particles.md).
BUSY_TIMEOUT_VARIABLE = "CRYODEDUP_STORE_BUSY_TIMEOUT"
#: The second process: opens the store, holds BEGIN EXCLUSIVE, says so, waits for its stdin to close.
_HOLDER = (
    "import sqlite3, sys\n"
    "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "db.execute('BEGIN EXCLUSIVE')\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
    "db.execute('ROLLBACK')\n"
)


@contextmanager
def locked(database: Path) -> Iterator[None]:
    """``database`` held under ``BEGIN EXCLUSIVE`` by another process for the block."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(database)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)


def files(folder: Path) -> dict[str, bytes]:
    """{path: bytes} of every file below ``folder`` (the store's too)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def run(args: list[str]):
    result = CliRunner().invoke(main, args)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _particle_rounds(tmp_path: Path) -> tuple[list[list[str]], Path]:
    out = tmp_path / "out"
    paths = three_batches(tmp_path)
    return [["particles", str(p), "--min-dist", str(MIN_DIST), "--update", "-q", "-o", str(out)] for p in paths], out


def _micrograph_rounds(tmp_path: Path) -> tuple[list[list[str]], Path]:
    import numpy as np

    out, rng = tmp_path / "out", np.random.default_rng(0)
    mics = []
    for k in range(4):
        mics.append(str(tmp_path / f"m{k}.mrc"))
        write_mrc(Path(mics[-1]), rng.normal(size=(64, 64)).astype(np.float32), 4.0)
    return [
        # (white noise holds no specimen: a screen of it is blind and refused; the store's locking is tested here)
        ["micrographs", *mics[: 2 * (k + 1)], "--bin", "1", "--update", "--accept-untrusted", "-q", "-o", str(out)]
        for k in range(2)
    ], out


STORES = {"particles": (_particle_rounds, "kept_store"), "micrographs": (_micrograph_rounds, "seen")}


@pytest.mark.parametrize("job", list(STORES))
def test_a_store_another_process_holds_locked_is_busy_and_nothing_is_added(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, job: str
) -> None:
    make, store = STORES[job]
    rounds, out = make(tmp_path)
    assert run(rounds[0]).exit_code == 0
    before = files(out)
    monkeypatch.setenv(BUSY_TIMEOUT_VARIABLE, "0.3")
    with locked(out / store / "store.sqlite"):
        result = run(rounds[1])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0] == (
        f"Error: {out / store / 'store.sqlite'}: the --update store is busy (locked by another process); nothing "
        "was added; try again when it finishes"
    )
    assert "--force" not in result.output and "damaged" not in result.output
    assert files(out) == before
    assert run(rounds[1]).exit_code == 0
    locked_then = files(out)
    # The advice as printed (above): the same command once the lock is gone ends as the round that met no lock.
    shutil.rmtree(out)
    assert run(rounds[0]).exit_code == 0 and run(rounds[1]).exit_code == 0
    uninterrupted = files(out)
    assert {k for k in uninterrupted if not k.startswith(store)} == {k for k in locked_then if not k.startswith(store)}
    assert all(locked_then[k] == v for k, v in uninterrupted.items() if not k.startswith(store))


def test_a_lock_released_within_the_wait_lets_the_round_go_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rounds, out = _particle_rounds(tmp_path)
    assert run(rounds[0]).exit_code == 0
    monkeypatch.setenv(BUSY_TIMEOUT_VARIABLE, "20")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _HOLDER.replace("sys.stdin.read()", "__import__('time').sleep(1)"),
            str(out / "kept_store" / "store.sqlite"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    result = run(rounds[1])
    holder.wait(10)
    assert result.exit_code == 0, result.output
    assert (out / "round_0002_kept.star").is_file()


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "1e9"])
def test_a_wait_that_is_not_seconds_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from cryodedup.errors import CryodedupError
    from cryodedup.jobs.store_db import busy_timeout

    monkeypatch.setenv(BUSY_TIMEOUT_VARIABLE, value)
    with pytest.raises(CryodedupError, match=f"{BUSY_TIMEOUT_VARIABLE}=.*expected a number of seconds"):
        busy_timeout()


@pytest.mark.parametrize("job", list(STORES))
@pytest.mark.parametrize("value", ["-1", "nan", "abc", "1e308", ""])
@pytest.mark.parametrize("force", [False, True])
def test_a_wait_set_wrong_is_a_configuration_error_and_the_store_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, job: str, value: str, force: bool
) -> None:
    """A wait that is no number of seconds: one line naming the variable, never "damaged" nor --force; the store whole.

    With --force too: the series is not discarded for a setting. The oracle: every file below
    the output folder byte for byte as before, and the next round without the variable ends.
    """
    make, _ = STORES[job]
    rounds, out = make(tmp_path)
    assert run(rounds[0]).exit_code == 0
    before = files(out)
    monkeypatch.setenv(BUSY_TIMEOUT_VARIABLE, value)
    result = run(rounds[1] + (["--force"] if force else []))
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert f"the environment variable {BUSY_TIMEOUT_VARIABLE}={value!r}: expected a number of seconds" in said
    assert "damaged" not in said and "--force" not in said
    assert files(out) == before
    monkeypatch.delenv(BUSY_TIMEOUT_VARIABLE)
    assert run(rounds[1]).exit_code == 0


def test_a_lock_taken_while_the_round_decides_is_busy_at_its_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store read unlocked, then locked by another process before the round commits: busy, nothing added."""
    from cryodedup.jobs.particles import store as store_module

    rounds, out = _particle_rounds(tmp_path)
    assert run(rounds[0]).exit_code == 0
    before = files(out)
    monkeypatch.setenv(BUSY_TIMEOUT_VARIABLE, "0.3")
    commit = store_module.KeptStore.commit

    def locked_commit(self, *args, **kwargs):
        with locked(out / "kept_store" / "store.sqlite"):
            return commit(self, *args, **kwargs)

    monkeypatch.setattr(store_module.KeptStore, "commit", locked_commit)
    result = run(rounds[1])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "the --update store is busy (locked by another process); nothing was added" in result.output
    assert "--force" not in result.output
    assert files(out) == before


def test_a_micrograph_store_locked_before_the_round_saves_is_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryodedup.jobs.micrographs.update import SeenStore

    rounds, out = _micrograph_rounds(tmp_path)
    assert run(rounds[0]).exit_code == 0
    before = files(out)
    monkeypatch.setenv(BUSY_TIMEOUT_VARIABLE, "0.3")
    save = SeenStore.save

    def locked_save(self, *args, **kwargs):
        with locked(out / "seen" / "store.sqlite"):
            return save(self, *args, **kwargs)

    monkeypatch.setattr(SeenStore, "save", locked_save)
    result = run(rounds[1])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "the --update store is busy (locked by another process); nothing was added" in result.output
    assert "--force" not in result.output
    assert files(out) == before
