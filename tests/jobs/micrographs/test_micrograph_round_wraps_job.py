"""An ``--update`` round wraps the plain micrograph job: the job knows no round, and the round is committed after it.

The plain job (``job.MicrographStages``) calls its hooks, whoever overrides them; the round
(``update_round.run_round``) runs the job with its stages (``update_round.MicrographRound``) and commits
the store once the job has ended. A job stopped after its outputs are written and before the commit
adds nothing to the store and leaves no file: the same command again reads the new micrograph and
ends as a fresh run of the whole set does, byte for byte.
"""

from __future__ import annotations

import ast
import inspect
import shutil
import sqlite3
import textwrap
from pathlib import Path

import pytest

from cryodedup import MicrographOptions, find_duplicate_micrographs
from cryodedup.errors import CryodedupError
from cryodedup.jobs.micrographs import job, update
from cryodedup.jobs.micrographs.update import DATABASE, STORE, SeenStore
from helpers import write_planted_micrographs

OUTPUTS = ("pairs.csv", "duplicates.csv", "micrographs_kept.txt", "micrographs_rejected.txt")


def _names_used(function: object) -> set[str]:
    """Every name and attribute a function's body uses."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))  # type: ignore[arg-type]
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
    }


def _round_names() -> set[str]:
    """The store's module's functions and classes, its store's methods, and the words of a round."""
    tree = ast.parse(Path(update.__file__).read_text())
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    methods = {name for name, _ in inspect.getmembers(SeenStore, inspect.isfunction)}
    return defined | methods | {"update", "store", "ready", "round_", "MicrographRound"}


STAGES = job.MicrographStages
PLAIN = [STAGES.read, STAGES.decide, STAGES.write, STAGES.summarise, STAGES.report, STAGES.scored, job._score]


@pytest.mark.parametrize("function", PLAIN, ids=["read", "decide", "write", "summarise", "report", "scored", "_score"])
def test_the_plain_job_names_nothing_of_the_round(function: object) -> None:
    # (on main: run took update= and ready=, opened the store and committed it; its scoring called score_update)
    used = _names_used(function)
    assert used & _round_names() == set()
    assert [name for name in used if "round" in name.lower() and name != "round"] == []  # (the builtin: seconds)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_planted_micrographs(tmp_path_factory.mktemp("planted"), 8, {6: 2})


def _seen(out: Path) -> int:
    db = sqlite3.connect(out / STORE / DATABASE)
    try:
        return db.execute("SELECT count(*) FROM micrographs").fetchone()[0]
    finally:
        db.close()


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _round(mics: Path, out: Path) -> int:
    summary = find_duplicate_micrographs([str(mics / "*.mrc")], out, MicrographOptions(bin=1), update=True)
    return summary.images_read


def test_a_round_stopped_after_its_outputs_are_written_adds_nothing_and_leaves_no_file(
    planted: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mics, out = tmp_path / "mics", tmp_path / "out"
    mics.mkdir()
    for path in planted[:6]:
        shutil.copy(path, mics)
    assert _round(mics, out) == 6
    before = _files(out)
    shutil.copy(planted[6], mics)  # (mic_7: a re-exposure of mic_3)

    def stop(*args: object) -> None:  # (the job's last step: its outputs written, under temporary names)
        raise CryodedupError("stopped after the round's outputs were written")

    with monkeypatch.context() as patched:
        patched.setattr(job.MicrographStages, "summarise", stop)
        with pytest.raises(CryodedupError, match="stopped after"):
            _round(mics, out)
    assert _seen(out) == 6  # (on main: 7, the store committed before the job ended)
    assert _files(out) == before  # (no output replaced, no temporary file, the store's bytes the round before's)
    assert _round(mics, out) == 1  # the new micrograph read again: the store did not have it
    find_duplicate_micrographs([str(mics / "*.mrc")], tmp_path / "fresh", MicrographOptions(bin=1))
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name
