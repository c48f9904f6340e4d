"""An ``--update`` round wraps the plain particle job: the job knows no round, and the round is committed after it.

The plain job's stages (``job.PlainParticleStages``) know no runner; the round's runner
(``update.round_runner``) opens the store, runs them as the round's (``update.ParticleRoundStages``),
and commits. A job stopped once the round's files are
written and before the commit adds nothing to the store and leaves no file: the same command
again ends as the uninterrupted series does, byte for byte.
"""

from __future__ import annotations

import ast
import inspect
import sqlite3
import textwrap
from pathlib import Path

import pytest
from update_batches import run_round, three_batches

from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles import job, update
from cryodedup.jobs.particles.store import STORE
from cryodedup.jobs.store_db import DATABASE


def _names_used(function: object) -> set[str]:
    """Every name and attribute a function's body uses."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))  # type: ignore[arg-type]
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
    }


def test_the_plain_job_names_nothing_of_the_round() -> None:
    # (the round's module, its functions and classes, and any name of a round: none in the orchestration)
    tree = ast.parse(Path(update.__file__).read_text())
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    used = _names_used(job.run) | _names_used(job.PlainParticleStages)
    assert used & (defined | {"update"}) == set()
    assert [name for name in used if "round" in name.lower() and name != "round"] == []  # (the builtin: seconds)


def _series(folder: Path, batches: list[Path]) -> dict[str, bytes]:
    """The output folder's files (store aside) after a round of each batch, by name."""
    out = folder / "out"
    for batch in batches:
        run_round([batch], out, decisions=True)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def _rounds(out: Path) -> int:
    db = sqlite3.connect(out / STORE / DATABASE)
    try:
        return db.execute("SELECT count(*) FROM rounds").fetchone()[0]
    finally:
        db.close()


def test_a_round_stopped_after_its_files_are_written_adds_nothing_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = three_batches(tmp_path)
    expected = _series(tmp_path / "uninterrupted", batches)
    out = tmp_path / "stopped" / "out"
    run_round([batches[0]], out, decisions=True)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def stop(*args: object) -> str:  # (the verdict is made after the round's files are written)
        raise CryodedupError("stopped after the round's files were written")

    with monkeypatch.context() as patched:
        patched.setattr(job, "verdict_of", stop)
        with pytest.raises(CryodedupError, match="stopped after"):
            run_round([batches[1]], out, decisions=True)
    assert _rounds(out) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # (no round file, no .tmp)
    for batch in batches[1:]:
        run_round([batch], out, decisions=True)
    assert {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()} == expected
