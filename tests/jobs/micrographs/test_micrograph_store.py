"""The --update store (``seen/``): it removes only files it wrote, and a damaged store is one clear line.

The oracle for what a store may remove is the list of files the test put there itself; for a
damaged store, the error line (never a traceback) and that ``--update --force`` then rebuilds
it, leaving every file it did not write as it was.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from cryodedup import MicrographOptions, find_duplicate_micrographs
from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.jobs.micrographs.update import MARKER, STORE
from helpers import write_planted_micrographs


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return write_planted_micrographs(tmp_path_factory.mktemp("planted"), 8, {6: 2})


def contents(folder):
    """{name: bytes} of every file below ``folder``."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def run_cli(*args):
    result = CliRunner().invoke(main, ["micrographs", *map(str, args), "--bin", "1"])
    assert "Traceback" not in result.output, result.output
    return result


def test_inputs_inside_the_store_are_refused_and_kept(planted, tmp_path):
    """The reported loss: micrographs in out/seen/ given as inputs to --update were deleted by the clean-up."""
    out = tmp_path / "out"
    (out / STORE).mkdir(parents=True)
    for path in planted[:4]:
        shutil.copy(path, out / STORE)
    before = contents(out)
    result = run_cli(out / STORE / "*.mrc", "-o", out, "--update")
    assert result.exit_code == 1
    assert "an input inside the output folder" in result.output and len(result.output.strip().splitlines()) == 1
    assert contents(out) == before
    # In the output folder itself too, and through a link to it.
    for path in planted[:4]:
        shutil.copy(path, out)
    (tmp_path / "link").symlink_to(out)
    result = run_cli(tmp_path / "link" / "mic_1.mrc", "-o", out, "--update")
    assert result.exit_code == 1 and "an input inside the output folder" in result.output
    with pytest.raises(CryodedupError, match="inside the output folder"):
        find_duplicate_micrographs([str(out / "*.mrc")], out, MicrographOptions(bin=1), update=True, force=True)


def test_the_store_removes_only_files_it_wrote(planted, tmp_path):
    mics = tmp_path / "mics"
    mics.mkdir()
    out = tmp_path / "out"
    seen = out / STORE
    seen.mkdir(parents=True)
    # A user's files, some named as the store names its own, a folder and a link.
    theirs = {"notes.txt": b"mine", "images-1.npy": b"not a store file", "pairs-2.npz": b"nor this"}
    for name, data in theirs.items():
        (seen / name).write_bytes(data)
    (seen / "sub").mkdir()
    (seen / "sub" / "images-3.npy").write_bytes(b"deep")
    (seen / "images-4.npy").symlink_to(planted[0])
    for k in range(2, 5):
        for path in planted[:k]:
            shutil.copy(path, mics)
        find_duplicate_micrographs([str(mics / "*.mrc")], out, MicrographOptions(bin=1), update=True)
    state = json.loads((seen / MARKER).read_text())
    assert all(name not in theirs for name in state["written"])
    for name, data in theirs.items():
        assert (seen / name).read_bytes() == data
    assert (seen / "sub" / "images-3.npy").read_bytes() == b"deep" and (seen / "images-4.npy").is_symlink()
    # The store's own files of earlier rounds are gone: what is left is the user's and the marker's.
    mine = set(os.listdir(seen)) - set(theirs) - {"sub", "images-4.npy"}
    assert mine == {MARKER, state["pairs_file"]["name"], *{f"images-{r}.npy" for r, _ in state["images"]}}
    # --force rebuilds: the old store's files go, the user's stay.
    find_duplicate_micrographs([str(mics / "*.mrc")], out, MicrographOptions(bin=1), update=True, force=True)
    new = json.loads((seen / MARKER).read_text())
    assert not set(state["written"]) & set(os.listdir(seen)) - set(new["written"])
    for name, data in theirs.items():
        assert (seen / name).read_bytes() == data


def test_a_killed_rounds_temporary_files_go_and_only_those(planted, tmp_path):
    mics = tmp_path / "mics"
    mics.mkdir()
    shutil.copy(planted[0], mics)
    shutil.copy(planted[1], mics)
    out = tmp_path / "out"
    find_duplicate_micrographs([str(mics / "*.mrc")], out, MicrographOptions(bin=1), update=True)
    seen = out / STORE
    dead = 2**22 + 12345  # above pid_max's default: no such process
    stale = [seen / f".images-9.npy.{dead}.tmp", seen / f".seen.json.{dead}.tmp"]
    kept = [seen / f".other.{dead}.tmp", seen / f".images-9.npy.{os.getppid()}.tmp"]  # not ours / alive
    for path in stale + kept:
        path.write_bytes(b"x")
    shutil.copy(planted[2], mics)
    find_duplicate_micrographs([str(mics / "*.mrc")], out, MicrographOptions(bin=1), update=True)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
