"""The --update store (``seen/store.sqlite``): it removes only files it wrote, and a damaged store is one clear line.

The oracle for what a store may remove is the list of files the test put there itself; for a
damaged store, the error line (never a traceback) and that ``--update --force`` then rebuilds
it, leaving every file it did not write as it was.
"""

from __future__ import annotations

import os
import shutil
import sqlite3

import pytest
from click.testing import CliRunner

from cryodedup import MicrographOptions, find_duplicate_micrographs
from cryodedup.cli import main
from cryodedup.errors import CryodedupError, DamagedStoreError
from cryodedup.jobs.micrographs.update import DATABASE, STORE
from fixtures.store_damage import DAMAGES
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
    # A user's files, some named as an earlier cryodedup named its store's, a folder and a link.
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
    # --force rebuilds: the user's files stay.
    find_duplicate_micrographs([str(mics / "*.mrc")], out, MicrographOptions(bin=1), update=True, force=True)
    for name, data in theirs.items():
        assert (seen / name).read_bytes() == data
    assert (seen / "sub" / "images-3.npy").read_bytes() == b"deep" and (seen / "images-4.npy").is_symlink()
    # The store is its database (and its journal, emptied at each commit): nothing else was written there.
    assert set(os.listdir(seen)) - set(theirs) - {"sub", "images-4.npy"} == {DATABASE, f"{DATABASE}-journal"}


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
    assert_one_error_line(result, "the --update store is damaged: --update --force rebuilds it")
    with pytest.raises(DamagedStoreError):  # (the API's kind: a caller tells damage from a bad input)
        find_duplicate_micrographs([str(mics / "*.mrc")], out, MicrographOptions(bin=1), update=True)
    assert contents(mics) == inputs and contents(out) == before  # nothing used, nothing written
    theirs = {k: v for k, v in before.items() if "user's" in k}
    result = run_cli(mics / "*.mrc", "-o", out, "--update", "--force")
    assert result.exit_code == 0, result.output
    for output in OUTPUTS:
        assert (out / output).read_bytes() == (tmp_path / "whole" / output).read_bytes(), output
    after = contents(out)
    # A user's file stays, moved aside at most (a folder named store.sqlite goes to store.sqlite.aside-1).
    for key, data in theirs.items():
        assert after.get(key, after.get(key.replace(DATABASE, DATABASE + ".aside-1"))) == data, key
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
    assert os.path.lexists(aside) and (out / STORE / DATABASE).is_file()
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


def test_a_store_of_the_earlier_format_is_one_line_naming_force(store, tmp_path):
    """A store written by the cryodedup before (seen.json, images-N.npy, pairs-N.npz): refused; --force replaces it.

    --force removes that store's files (named as it named them, beside its seen.json) and no other.
    """
    mics, out = store
    seen = out / STORE
    os.unlink(seen / DATABASE)
    earlier = {
        "seen.json": b'{"format": "cryodedup micrograph update store 2"}',
        "images-1.npy": b"x",
        "pairs-2.npz": b"y",
    }
    for name, data in earlier.items():
        (seen / name).write_bytes(data)
    (seen / "notes.txt").write_text("a user's")
    before = contents(out)
    result = run_cli(mics / "*.mrc", "-o", out, "--update")
    assert_one_error_line(result, "seen.json: a store written by an earlier cryodedup", "use --force")
    assert contents(out) == before
    assert run_cli(mics / "*.mrc", "-o", out, "--update", "--force").exit_code == 0
    assert not set(earlier) & set(os.listdir(seen)) and (seen / "notes.txt").read_text() == "a user's"
    for output in OUTPUTS:
        assert (out / output).read_bytes() == (tmp_path / "whole" / output).read_bytes(), output


def _flip_image_byte(seen, mic_id):
    """One bit flipped in the bytes of seen micrograph ``mic_id``'s image where they lie in the database file."""
    with sqlite3.connect(seen / DATABASE) as db:
        (data,) = db.execute("SELECT data FROM images WHERE id = ?", (mic_id,)).fetchone()
    raw = bytearray((seen / DATABASE).read_bytes())
    where = raw.index(data[len(data) // 2 : len(data) // 2 + 64])  # (the page's bytes: what a disk does)
    raw[where] ^= 0x10
    (seen / DATABASE).write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", ["a bit flipped", "the bytes replaced, the row's CRC-32 not"])
def test_a_damaged_image_is_one_line_when_a_round_reads_it(store, planted, tmp_path, damage):
    """Issue 65 (a user's trial): a stored image changed gave exit 0 and other pairs.csv values than a fresh run.

    The oracle: the fresh run of the 8 micrographs (pairs.csv); a round that reads the damaged
    image refuses in one line naming --update --force, which then gives the fresh run's outputs.
    """
    mics, out = store
    seen = out / STORE
    if damage == "a bit flipped":
        for mic_id in range(1, 7):
            _flip_image_byte(seen, mic_id)
    else:
        with sqlite3.connect(seen / DATABASE) as db:
            db.execute("UPDATE images SET data = zeroblob(length(data))")
    for path in planted[6:8]:
        shutil.copy(path, mics)  # new micrographs: the round scores pairs with the seen ones' stored images
    find_duplicate_micrographs([str(mics / "*.mrc")], tmp_path / "fresh", MicrographOptions(bin=1))
    before = contents(out)
    result = run_cli(mics / "*.mrc", "-o", out, "--update")
    assert_one_error_line(result, "is not the one its round stored", "--update --force rebuilds it")
    assert contents(out) == before
    assert run_cli(mics / "*.mrc", "-o", out, "--update", "--force").exit_code == 0
    for output in OUTPUTS:
        assert (out / output).read_bytes() == (tmp_path / "fresh" / output).read_bytes(), output


def test_a_store_written_before_the_images_digests_is_one_line_naming_force(store, tmp_path):
    """A store of format 3 (today's main before issue 65's image digests): refused in one line; --force rebuilds."""
    mics, out = store
    with sqlite3.connect(out / STORE / DATABASE) as db:
        db.execute("UPDATE meta SET value = 'cryodedup micrograph update store 3' WHERE key = 'format'")
    result = run_cli(mics / "*.mrc", "-o", out, "--update")
    assert_one_error_line(result, "format 'cryodedup micrograph update store 3'", "--update --force rebuilds it")
    assert run_cli(mics / "*.mrc", "-o", out, "--update", "--force").exit_code == 0
    for output in OUTPUTS:
        assert (out / output).read_bytes() == (tmp_path / "whole" / output).read_bytes(), output


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


@pytest.mark.parametrize("where", ["as the pairs are saved", "as the outputs are written", "at the commit"])
def test_a_stop_before_the_commit_leaves_the_previous_store(store, planted, monkeypatch, where):
    """A SIGINT in the round's transaction (its rows written, its outputs under temporary names): rolled back.

    The store and the outputs stay byte for byte the previous round's, no temporary file is left,
    and the next round is the one the stopped round would have been.
    """
    import signal

    from cryodedup.jobs.micrographs import job, update
    from cryodedup.signals import Stopped

    mics, out = store
    shutil.copy(planted[6], mics)  # a new micrograph: the round writes the store
    before = contents(out)
    module, name = {
        "as the pairs are saved": (update, "sha256_bytes"),
        "as the outputs are written": (job, "write_results"),
        "at the commit": (update.json, "dumps"),
    }[where]
    original = getattr(module, name)

    def stopped(*args, **kwargs):
        if where == "at the commit" and not (isinstance(args[0], dict) and "stamp" in args[0]):
            return original(*args, **kwargs)  # JSON other than the pairs.csv record the commit writes
        raise Stopped(signal.SIGINT)

    monkeypatch.setattr(module, name, stopped)
    result = run_cli(mics / "*.mrc", "-o", out, "--update")
    assert result.exit_code == 128 + signal.SIGINT, result.output
    assert not [p.name for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert contents(out) == before
    monkeypatch.setattr(module, name, original)
    find_duplicate_micrographs([str(mics / "*.mrc")], tmp_path := out.parent / "whole7", MicrographOptions(bin=1))
    summary = find_duplicate_micrographs([str(mics / "*.mrc")], out, MicrographOptions(bin=1), update=True).to_json()
    assert summary["images_read"] == 1
    for output in OUTPUTS:
        assert (out / output).read_bytes() == (tmp_path / output).read_bytes(), output


KILLED_IN_THE_TRANSACTION = """
import os, signal, sys
from cryodedup import MicrographOptions, find_duplicate_micrographs
from cryodedup.jobs.micrographs import job, update

def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # the round's rows written, not committed

def connect(*args, **kwargs):  # a cache of one page: the round's pages spill into the database before its commit
    db = original(*args, **kwargs)
    db.execute("PRAGMA cache_size=1")
    return db

original, update.connect, job.write_results = update.connect, connect, killed
find_duplicate_micrographs([sys.argv[1]], sys.argv[2], MicrographOptions(bin=1), update=True)
"""


@pytest.mark.parametrize("first", [True, False], ids=["the first round", "a later round"])
def test_a_round_killed_in_its_transaction_is_rolled_back_by_the_next(planted, tmp_path, first):
    """SIGKILL with the round's rows in the database and its journal hot: the next run rolls it back, runs it again.

    The first round too: its database is empty once rolled back, which is no store (not a damaged one).
    """
    import subprocess
    import sys

    mics = tmp_path / "mics"
    mics.mkdir()
    out = tmp_path / "out"
    for path in planted[:4]:
        shutil.copy(path, mics)
    if not first:
        find_duplicate_micrographs([str(mics / "*.mrc")], out, MicrographOptions(bin=1), update=True)
        for path in planted[4:7]:
            shutil.copy(path, mics)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_IN_THE_TRANSACTION, str(mics / "*.mrc"), str(out)],
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr
    assert os.path.getsize(out / STORE / f"{DATABASE}-journal") > 0  # (a hot journal)
    assert os.path.getsize(out / STORE / DATABASE) > 0  # (the round's pages in it)
    summary = find_duplicate_micrographs([str(mics / "*.mrc")], out, MicrographOptions(bin=1), update=True).to_json()
    assert summary["images_read"] == (4 if first else 3)
    find_duplicate_micrographs([str(mics / "*.mrc")], tmp_path / "whole", MicrographOptions(bin=1))
    for output in OUTPUTS:
        assert (out / output).read_bytes() == (tmp_path / "whole" / output).read_bytes(), output


def test_a_stop_after_the_commit_leaves_outputs_the_next_run_writes_from_the_store(store, planted, monkeypatch):
    """SIGINT once the round is committed, before its outputs are renamed: the outputs stay the previous round's.

    The next run reads no image (the store holds the round) and writes the outputs of the whole set,
    byte for byte a fresh run's.
    """
    import signal

    from cryodedup.jobs.micrographs.update import SeenStore
    from cryodedup.signals import Stopped

    mics, out = store
    shutil.copy(planted[6], mics)
    before = {name: (out / name).read_bytes() for name in OUTPUTS}
    commit = SeenStore.commit

    def stopped(self, written):
        commit(self, written)
        raise Stopped(signal.SIGINT)  # (committed: the output batch removes the outputs' temporary files)

    monkeypatch.setattr(SeenStore, "commit", stopped)
    result = run_cli(mics / "*.mrc", "-o", out, "--update")
    assert result.exit_code == 128 + signal.SIGINT, result.output
    assert {name: (out / name).read_bytes() for name in OUTPUTS} == before
    monkeypatch.setattr(SeenStore, "commit", commit)
    summary = find_duplicate_micrographs([str(mics / "*.mrc")], out, MicrographOptions(bin=1), update=True).to_json()
    assert summary["images_read"] == 0
    whole = out.parent / "whole7"
    find_duplicate_micrographs([str(mics / "*.mrc")], whole, MicrographOptions(bin=1))
    for output in OUTPUTS:
        assert (out / output).read_bytes() == (whole / output).read_bytes(), output


def test_a_store_another_run_holds_is_refused_as_busy_before_it_is_read(store):
    # Another run holds the folder's lock (as a round committing): this round must say so, not read
    # the store meanwhile; read between that round's writes, a whole store looked damaged.
    import fcntl

    from cryodedup.outputs import LOCK_NAME

    mics, out = store
    DAMAGES[next(iter(DAMAGES))](out / STORE)  # (read now, it would be "damaged")
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    before = contents(out)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_cli(mics / "*.mrc", "-o", out, "--update")
    finally:
        os.close(fd)
    assert_one_error_line(result, "another cryodedup run is writing to this output folder")
    assert contents(out) == before


def test_the_stores_pairs_are_the_scored_pairs_column_after_column():
    # The store's pairs part, written by hand: ids a, then b (int64), then z, dy, dx, pearson, overlap
    # (float64), one column after the other; read back as scored pairs whose pairs are the ids, as views.
    import numpy as np

    from cryodedup.jobs.micrographs.score import ScoredPairs
    from cryodedup.jobs.micrographs.update import pack_pairs, unpack_pairs

    a, b = np.array([0, 0, 2]), np.array([1, 3, 3])
    scores = [np.array([9.5, 1.0, 30.25]) + k for k in range(5)]
    by_hand = (
        a.astype("<i8").tobytes() + b.astype("<i8").tobytes() + b"".join(s.astype("<f8").tobytes() for s in scores)
    )
    pairs = ScoredPairs(np.stack([a, b], axis=1), *scores)
    assert pack_pairs(pairs) == by_hand
    back = unpack_pairs(by_hand)
    assert back.pairs.tolist() == [[0, 1], [0, 3], [2, 3]]
    assert [s.tolist() for s in (back.z, back.dy, back.dx, back.pearson, back.overlap)] == [s.tolist() for s in scores]
    assert back.pairs.base is not None and not back.pairs.flags.owndata  # (a view of the bytes read: no copy)
    assert pack_pairs(back.take(slice(1, 3))) == pack_pairs(ScoredPairs(pairs.pairs[1:], *(s[1:] for s in scores)))
