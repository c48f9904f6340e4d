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
from fixtures.store_damage import DAMAGES as ALL_DAMAGES
from fixtures.store_damage import DROP, edit_marker
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


OUTPUTS = ("pairs.csv", "duplicates.csv", "micrographs_kept.txt", "micrographs_rejected.txt")


@pytest.fixture
def store(planted, tmp_path):
    """A store of two rounds (images-1.npy: 4 images, images-2.npy: 2) and the fresh run's outputs of the same 6."""
    mics = tmp_path / "mics"
    mics.mkdir()
    out = tmp_path / "out"
    for first, count in ((0, 4), (4, 6)):
        for path in planted[first:count]:
            shutil.copy(path, mics)
        find_duplicate_micrographs([str(mics / "*.mrc")], out, MicrographOptions(bin=1), update=True)
    find_duplicate_micrographs([str(mics / "*.mrc")], tmp_path / "whole", MicrographOptions(bin=1))
    return mics, out


#: Every damage but the 3 GB seen.json (this test reads the output folder whole before and after).
DAMAGES = {name: damage for name, damage in ALL_DAMAGES.items() if "3 GB" not in name}


def assert_one_error_line(result, *words):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("name", list(DAMAGES))
def test_a_damaged_store_is_one_line_and_force_rebuilds_it(store, tmp_path, name):
    mics, out = store
    seen = out / STORE
    DAMAGES[name](seen)
    inputs, before = contents(mics), contents(out)
    result = run_cli(mics / "*.mrc", "-o", out, "--update")
    assert_one_error_line(result, "--update --force rebuilds it")
    assert contents(mics) == inputs and contents(out) == before  # nothing used, nothing written
    theirs = {k: v for k, v in before.items() if "user's" in k}
    result = run_cli(mics / "*.mrc", "-o", out, "--update", "--force")
    assert result.exit_code == 0, result.output
    for output in OUTPUTS:
        assert (out / output).read_bytes() == (tmp_path / "whole" / output).read_bytes(), output
    after = contents(out)
    # A user's file stays, moved aside at most (a folder named seen.json goes to seen.json.aside-1).
    for key, data in theirs.items():
        assert after.get(key, after.get(key.replace(MARKER, MARKER + ".aside-1"))) == data, key
    assert run_cli(mics / "*.mrc", "-o", out, "--update").exit_code == 0  # the rebuilt store is whole


@pytest.mark.parametrize("how", ["a file", "a dangling link", "a link to a file"])
def test_seen_not_a_folder_is_one_line_and_force_moves_it_aside(store, tmp_path, how):
    mics, out = store
    seen = out / STORE
    shutil.rmtree(seen)
    if how == "a file":
        seen.write_text("a user's notes")
    elif how == "a dangling link":
        seen.symlink_to(tmp_path / "nowhere")
    else:
        (tmp_path / "target.txt").write_text("a user's")
        seen.symlink_to(tmp_path / "target.txt")
    assert_one_error_line(run_cli(mics / "*.mrc", "-o", out, "--update"), "not a folder", "--update --force")
    result = run_cli(mics / "*.mrc", "-o", out, "--update", "--force")
    assert result.exit_code == 0, result.output
    aside = out / f"{STORE}.aside-1"
    assert os.path.lexists(aside) and (out / STORE / MARKER).is_file()
    if how == "a file":
        assert aside.read_text() == "a user's notes"
    else:
        assert aside.is_symlink()
    assert "moved aside" in result.output


def test_a_users_folders_in_the_store_stay(store, tmp_path):
    mics, out = store
    (out / STORE / "mine").mkdir()
    (out / STORE / "mine" / "notes.txt").write_text("kept")
    shutil.copy(mics / "mic_1.mrc", tmp_path / "x.mrc")
    for flags in ((), ("--force",)):
        result = run_cli(mics / "*.mrc", "-o", out, "--update", *flags)
        assert result.exit_code == 0, result.output
        assert (out / STORE / "mine" / "notes.txt").read_text() == "kept"


def test_an_earlier_releases_store_without_its_list_is_used(store, tmp_path):
    """A store written before ``written`` existed: read, and only the files it uses are its own."""
    mics, out = store
    edit_marker(written=DROP)(out / STORE)
    (out / STORE / "images-1.npy.bak").write_bytes(b"mine")
    summary = find_duplicate_micrographs([str(mics / "*.mrc")], out, MicrographOptions(bin=1), update=True)
    assert summary["images_read"] == 0
    assert (out / STORE / "images-1.npy.bak").read_bytes() == b"mine"


def read_only(folder):
    """``folder`` made read-only for this process: a read-only bind mount (root), else its mode; None if neither."""
    import subprocess

    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    mount = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], check=False, capture_output=True)
    if mount.returncode != 0:
        return None
    remount = subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=False, capture_output=True)

    def undo():
        def mounted():  # (os.path.ismount cannot tell a bind mount on the same file system)
            with open("/proc/mounts") as f:
                return any(line.split()[1] == str(folder) for line in f)

        while mounted():
            subprocess.run(["umount", str(folder)], check=True)

    if remount.returncode != 0 or os.access(folder, os.W_OK):
        undo()
        return None
    return undo


def test_a_read_only_store_is_one_line(store, planted):
    """Item 4: seen/ on a read-only mount, the output folder writable."""
    mics, out = store
    shutil.copy(planted[6], mics)  # a new micrograph: the round must write the store
    undo = read_only(out / STORE)
    if undo is None:
        pytest.skip("no read-only mount here")
    try:
        before = contents(out)
        for flags in ((), ("--force",)):
            result = run_cli(mics / "*.mrc", "-o", out, "--update", *flags)
            assert_one_error_line(result, "cannot write the --update store")
            assert contents(out) == before
    finally:
        undo()


@pytest.mark.parametrize("writer", ["numpy.lib.format.write_array_header_1_0", "numpy.savez", "json.dumps"])
def test_a_stop_while_the_store_is_written_leaves_no_temporary_file(store, planted, monkeypatch, writer):
    """A SIGINT as the round writes its images, its pairs or seen.json: the store stays the previous round's.

    Found by the barrage's signal sweep over an ``--update`` round (``seen/.seen.json.PID.tmp`` left).
    """
    import importlib
    import signal

    from cryodedup.signals import Stopped

    mics, out = store
    shutil.copy(planted[6], mics)  # a new micrograph: the round writes the store
    before = contents(out)
    module, name = writer.rsplit(".", 1)
    original = getattr(importlib.import_module(module), name)

    def stopped(*args, **kwargs):
        if writer == "json.dumps" and not (isinstance(args[0], dict) and "pairs_file" in args[0]):
            return original(*args, **kwargs)  # JSON other than seen.json's
        raise Stopped(signal.SIGINT)

    monkeypatch.setattr(importlib.import_module(module), name, stopped)
    result = run_cli(mics / "*.mrc", "-o", out, "--update")
    assert result.exit_code == 128 + signal.SIGINT, result.output
    assert not [p.name for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert contents(out) == before
