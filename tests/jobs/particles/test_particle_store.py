"""The particle --update store (SQLite): damage found and named in one line, a round stopped anywhere finished
by the next run, --force starting anew whatever lies in the way.

The oracle of a stopped series: the same batches run without a stop into another folder; every
output file (round files and the running file) compared byte for byte.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import recfunctions
from update_batches import MIN_DIST, make_cs_batch, oracle_rounds, run_round, three_batches

from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles import store as store_module
from cryodedup.jobs.particles import update as update_module
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions
from fixtures.synthetic import write_cs

DB = Path("out/kept_store/store.sqlite")


@pytest.fixture
def batches(tmp_path: Path) -> list[Path]:
    """Three batches on overlapping micrographs."""
    return three_batches(tmp_path)


def rounds(tmp_path: Path, paths: list[Path], out: str = "out") -> bytes:
    for path in paths:
        run_round([path], tmp_path / out)
    running = tmp_path / out / "particles_kept.star"
    return running.read_bytes() if running.exists() else b""


def outputs(folder: Path) -> dict[str, bytes]:
    """The output folder's files but the store's, by name."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def sql(tmp_path: Path, statement: str, *args) -> list[tuple]:
    with sqlite3.connect(tmp_path / DB) as db:
        return db.execute(statement, args).fetchall()


# --- damage ---


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("UPDATE kept SET rows = zeroblob(length(rows)) WHERE round = 1", "round 1 on a micrograph are damaged"),
        ("UPDATE kept SET crc = crc + 1 WHERE round = 2", "round 2 on a micrograph are damaged"),
        ("UPDATE micrographs SET pieces = pieces + 1", "a micrograph's row is damaged"),
        ("DELETE FROM kept WHERE round = 1", "rounds found of"),
        ("UPDATE meta SET value = 'something else' WHERE key = 'format'", "format 'something else'"),
        ("DROP TABLE meta", "not a particle --update store"),
        ("DELETE FROM running", "change of the running file is missing"),
    ],
)
def test_a_damaged_store_is_refused_in_one_line(tmp_path: Path, batches: list[Path], damage: str, message) -> None:
    rounds(tmp_path, batches[:2])
    sql(tmp_path, damage)
    with pytest.raises(CryodedupError, match=rf"store\.sqlite: .*{message}.*--update --force starts the running"):
        run_round([batches[2]], tmp_path / "out")


def test_a_flipped_bit_in_a_kept_row_is_found(tmp_path: Path, batches: list[Path]) -> None:
    """One bit of a centre flipped in the database file itself (not through SQLite): refused, never decided on."""
    rounds(tmp_path, batches[:2])
    (rows,) = sql(tmp_path, "SELECT rows FROM kept WHERE round = 1 LIMIT 1")[0]
    data = bytearray((tmp_path / DB).read_bytes())
    at = data.find(rows)
    assert at > 0
    data[at + 13] ^= 0x04
    (tmp_path / DB).write_bytes(bytes(data))
    with pytest.raises(CryodedupError, match=r"store\.sqlite: the kept particles of round 1 .* damaged \(CRC-32\)"):
        run_round([batches[2]], tmp_path / "out")


@pytest.mark.parametrize("step", [1, 3])
def test_no_flipped_byte_anywhere_in_the_store_gives_a_wrong_decision(
    tmp_path: Path, batches: list[Path], step: int
) -> None:
    """A byte of the database flipped at each of many places: the round is refused in one line, or its outputs are
    those of the undamaged series (a byte SQLite does not read, or one it reads around)."""
    expected = outputs_after(tmp_path, batches, "whole")
    rounds(tmp_path, batches[:2])
    pristine = (tmp_path / DB).read_bytes()
    saved = dict(outputs(tmp_path / "out"))
    refused = accepted = 0
    for at in range(step * 7, len(pristine), 997 * step):
        damaged = bytearray(pristine)
        damaged[at] ^= 0xFF
        (tmp_path / DB).write_bytes(bytes(damaged))
        Path(f"{tmp_path / DB}-journal").unlink(missing_ok=True)
        for name in list(outputs(tmp_path / "out")):
            if name not in saved:
                (tmp_path / "out" / name).unlink()
        for name, data in saved.items():
            (tmp_path / "out" / name).write_bytes(data)
        try:
            run_round([batches[2]], tmp_path / "out")
        except CryodedupError as err:
            assert "\n" not in str(err)
            refused += 1
            continue
        except sqlite3.Error as err:  # pragma: no cover - what the test is for
            raise AssertionError(f"byte {at}: {err!r}") from None
        assert outputs(tmp_path / "out") == expected, f"byte {at}: a wrong decision, exit 0"
        accepted += 1
    assert refused > 0 and accepted > 0


def outputs_after(tmp_path: Path, batches: list[Path], out: str) -> dict[str, bytes]:
    rounds(tmp_path, batches, out)
    return outputs(tmp_path / out)


@pytest.mark.parametrize("damage", ["truncated", "edited", "appended"])
def test_a_running_file_changed_since_the_last_round_is_refused(
    tmp_path: Path, batches: list[Path], damage: str
) -> None:
    rounds(tmp_path, batches[:2])
    path = tmp_path / "out" / "particles_kept.star"
    data = path.read_bytes()
    changed = {"truncated": data[:-40], "edited": data[:-30] + b"X" + data[-29:], "appended": data + b"more\n"}
    path.write_bytes(changed[damage])
    with pytest.raises(CryodedupError, match=r"particles_kept\.star: .*changed since the last --update round"):
        run_round([batches[2]], tmp_path / "out")
    assert path.read_bytes() == changed[damage]  # (refused, not repaired)


def test_a_store_an_earlier_cryodedup_wrote_is_refused_naming_force(tmp_path: Path, batches: list[Path]) -> None:
    (tmp_path / "out" / "kept_store").mkdir(parents=True)
    (tmp_path / "out" / "kept_store" / "store.json").write_text('{"format": "cryodedup particle update store 2"}')
    (tmp_path / "out" / "kept_store" / "kept-1.npy").write_bytes(b"old")
    with pytest.raises(CryodedupError, match=r"store\.json: a store written by an earlier cryodedup.*--update --force"):
        run_round([batches[0]], tmp_path / "out")
    opts = ParticleOptions(min_dist=20.0, mic_psize=1.0, update=True)
    (tmp_path / "out" / "particles_kept.star").write_text("old")
    remove_duplicate_particles([batches[0]], tmp_path / "out", opts, force=True)
    assert sorted(p.name for p in (tmp_path / "out" / "kept_store").iterdir()) == [
        "store.sqlite",
        "store.sqlite-journal",
    ]
    assert (tmp_path / "out" / "particles_kept.star").read_bytes() == rounds(tmp_path, batches[:1], "alone")


# --- --force, whatever lies in the way ---


def _fifo(path: Path) -> None:
    os.mkfifo(path)


@pytest.mark.parametrize(
    "in_the_way",
    [
        lambda out: (out / "kept_store" / "store.sqlite").unlink() or (out / "kept_store" / "store.sqlite").mkdir(),
        lambda out: (out / "kept_store" / "store.sqlite").unlink() or _fifo(out / "kept_store" / "store.sqlite"),
        lambda out: (
            (out / "kept_store" / "store.sqlite").unlink()
            or (out / "kept_store" / "store.sqlite").symlink_to("/etc/passwd")
        ),
        lambda out: (out / "kept_store" / "store.json").mkdir(),
        lambda out: _fifo(out / "kept_store" / "store.json"),
        lambda out: (out / "kept_store" / "store.json").symlink_to("/etc/passwd"),
        lambda out: shutil.rmtree(out / "kept_store") or (out / "kept_store").write_text("a file"),
    ],
    ids=["db-folder", "db-fifo", "db-link", "json-folder", "json-fifo", "json-link", "store-a-file"],
)
def test_force_starts_anew_whatever_is_in_the_way(tmp_path: Path, batches: list[Path], in_the_way) -> None:
    """Refused in one line without --force; with it, the round is the first of a new set (a fresh run's files)."""
    rounds(tmp_path, batches[:2])
    in_the_way(tmp_path / "out")
    with pytest.raises(CryodedupError, match="--update --force"):
        run_round([batches[2]], tmp_path / "out")
    opts = ParticleOptions(min_dist=20.0, mic_psize=1.0, update=True)
    remove_duplicate_particles([batches[2]], tmp_path / "out", opts, force=True)
    assert (tmp_path / "out" / "particles_kept.star").read_bytes() == rounds(tmp_path, batches[2:], "alone")
    assert Path("/etc/passwd").stat().st_size > 0


@pytest.mark.parametrize("force", [False, True])
def test_a_folder_named_like_the_running_file_is_refused_in_one_line(
    tmp_path: Path, batches: list[Path], force: bool
) -> None:
    rounds(tmp_path, batches[:1])
    (tmp_path / "out" / "particles_kept.star").unlink()
    (tmp_path / "out" / "particles_kept.star").mkdir()
    opts = ParticleOptions(min_dist=20.0, mic_psize=1.0, update=True)
    with pytest.raises(CryodedupError, match=r"particles_kept\.star: is a folder; an output file cannot replace it"):
        remove_duplicate_particles([batches[1]], tmp_path / "out", opts, force=force)


def test_a_store_that_is_a_file_is_refused(tmp_path: Path, batches: list[Path]) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "kept_store").write_text("not mine")
    with pytest.raises(CryodedupError, match=r"kept_store: not a folder"):
        run_round([batches[0]], tmp_path / "out")


# --- a round stopped anywhere ---


class Stop(BaseException):
    """A stop in the middle of a round (as a kill would leave it: nothing after it runs)."""


def stop_at(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Makes the next round stop at ``where``."""
    if where == "before the commit":
        monkeypatch.setattr(store_module, "transaction", _failing(Stop))
    elif where == "the disk full at the commit":
        monkeypatch.setattr(store_module, "transaction", _failing(OSError(errno.ENOSPC, "No space left on device")))
    elif where == "halfway through the append":
        real_apply = store_module.KeptStore.apply

        def apply(self, change, source=None):
            if not change.whole:
                with open(self.running_path, "r+b") as f:
                    f.seek(change.cut)
                    f.write(change.data[: len(change.data) // 2])
                raise Stop
            real_apply(self, change, source)
            raise Stop

        monkeypatch.setattr(store_module.KeptStore, "apply", apply)
    elif where == "before the renames":
        monkeypatch.setattr(update_module, "put_in_place", _failing(Stop))
    elif where == "an error at the renames":
        monkeypatch.setattr(update_module, "put_in_place", _failing(OSError(errno.EIO, "Input/output error")))
    elif where == "between two renames":
        monkeypatch.setattr(update_module, "put_in_place", _placing_one_then(Stop))
    else:
        monkeypatch.setattr(store_module.KeptStore, "mark_placed", _failing(Stop))


def _placing_one_then(error: BaseException):
    """put_in_place renaming the first file only, then stopped (as a kill between two renames leaves them)."""

    def place(renames):
        os.replace(*renames[0])
        raise error

    return place


def _failing(error: BaseException):
    def fail(*args, **kwargs):
        raise error

    return fail


WHERE = [
    "before the commit",
    "the disk full at the commit",
    "halfway through the append",
    "before the renames",
    "an error at the renames",
    "between two renames",
    "before it is marked placed",
]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("stopped", [1, 2])
def test_a_round_stopped_anywhere_ends_as_if_it_never_was(
    tmp_path: Path, batches: list[Path], monkeypatch: pytest.MonkeyPatch, where: str, stopped: int
) -> None:
    """Round ``stopped`` stops; the same batch again, then the rest: every output file as an uninterrupted series."""
    expected = outputs_after(tmp_path, batches, "whole")
    rounds(tmp_path, batches[: stopped - 1])
    stop_at(monkeypatch, where)
    with pytest.raises((Stop, CryodedupError)) as caught:
        run_round([batches[stopped - 1]], tmp_path / "out")
    if isinstance(caught.value, CryodedupError):
        assert "\n" not in str(caught.value)
    monkeypatch.undo()
    out = tmp_path / "out"  # (a first round stopped before its commit leaves no folder: nothing of it is left)
    assert not [p.name for p in (out.iterdir() if out.exists() else []) if p.name.endswith(".tmp")]
    rounds(tmp_path, batches[stopped - 1 :])
    assert outputs(tmp_path / "out") == expected


def test_a_round_whose_files_a_kill_left_out_is_finished_by_the_next_batch(
    tmp_path: Path, batches: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped after its commit, round 2's files are put in place by round 3 (another batch) before it runs."""
    expected = outputs_after(tmp_path, batches, "whole")
    rounds(tmp_path, batches[:1])
    stop_at(monkeypatch, "before the renames")
    with pytest.raises(Stop):
        run_round([batches[1]], tmp_path / "out")
    monkeypatch.undo()
    assert not (tmp_path / "out" / "round_0002_kept.star").exists()
    run_round([batches[2]], tmp_path / "out")
    assert outputs(tmp_path / "out") == expected


def test_the_same_batch_again_adds_no_round(tmp_path: Path, batches: list[Path]) -> None:
    """A batch given twice in a row is one round (a pipeline's retry): the second run puts back a file removed."""
    expected = outputs_after(tmp_path, batches[:2], "whole")
    rounds(tmp_path, batches[:2])
    (tmp_path / "out" / "round_0002_rejected.star").unlink()
    summary = run_round([batches[1]], tmp_path / "out")
    assert summary.to_json()["update"]["round"] == 2
    assert outputs(tmp_path / "out") == expected


@pytest.mark.parametrize("where", ["halfway through the append", "before the renames"])
@pytest.mark.parametrize("how", ["append", "rewrite"])
def test_a_cs_round_stopped_after_its_commit_ends_as_if_it_never_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, how: str
) -> None:
    """.cs rounds (appended in place; written anew: longer texts), stopped after the commit: byte for byte."""
    rng = np.random.default_rng(9)
    paths = [tmp_path / f"b{k}.cs" for k in range(3)]
    for k, (path, mics) in enumerate(zip(paths, [[1, 2], [2, 3], [3, 1]])):
        make_cs_batch(path, rng, mics, 20, "J5/extract_longer" if how == "rewrite" and k == 1 else "J5/extract")
    for path in paths:
        run_round([path], tmp_path / "whole")
    run_round([paths[0]], tmp_path / "out")
    stop_at(monkeypatch, where)
    with pytest.raises(Stop):
        run_round([paths[1]], tmp_path / "out")
    monkeypatch.undo()
    for path in paths[1:]:
        run_round([path], tmp_path / "out")
    assert outputs(tmp_path / "out") == outputs(tmp_path / "whole")


#: A .cs of few fields (about 100 bytes a particle): a running file of a few KB after a few small rounds.
FEW_FIELDS = [
    "uid",
    "location/micrograph_uid",
    "location/micrograph_path",
    "location/micrograph_shape",
    "location/center_x_frac",
    "location/center_y_frac",
    "location/micrograph_psize_A",
    "pick_stats/ncc_score",
]


@pytest.mark.parametrize("seed", [1, 3])
def test_small_cs_batches_append_round_after_round(tmp_path: Path, seed: int) -> None:
    """Batches of 20-45 particles of few fields on one micrograph: every round appends, each keeps the oracle's
    particles (issue 65 item 5: round 3 was refused, its running file's last bytes held its header)."""
    rng = np.random.default_rng(seed)
    batches = []
    for k in range(5):
        path = tmp_path / f"b{k}.cs"
        batches.append(make_cs_batch(path, rng, [1], int(rng.integers(20, 46))))
        write_cs(path, recfunctions.repack_fields(np.load(path)[FEW_FIELDS]))
    running = []
    for k, (rows, (keep, _)) in enumerate(zip(batches, oracle_rounds(batches))):
        run_round([tmp_path / f"b{k}.cs"], tmp_path / "out")
        running += [row[4] for row, take in zip(rows, keep) if take]
        assert [int(u) for u in np.load(tmp_path / "out" / "particles_kept.cs")["uid"]] == running


@pytest.mark.parametrize("earlier", [0, 1])
def test_a_round_that_another_round_overtook_adds_nothing(
    tmp_path: Path, batches: list[Path], monkeypatch: pytest.MonkeyPatch, earlier: int
) -> None:
    """Two rounds into one folder at once: the one that commits second was decided without the other's kept set."""
    if earlier:
        rounds(tmp_path, batches[:earlier])
    real = update_module.blocked_by_kept
    overtaken = []

    def decide_while_another_round_runs(*args):
        if not overtaken:  # (in this process: the folder's lock is this process's already)
            overtaken.append(True)
            run_round([batches[2]], tmp_path / "out")  # (the other round, from start to end)
        return real(*args)

    monkeypatch.setattr(update_module, "blocked_by_kept", decide_while_another_round_runs)
    running = tmp_path / "out" / "particles_kept.star"
    # (its round's files are the other round's by now: refused for them, or at the commit)
    with pytest.raises(CryodedupError, match=r"ended while this one ran|round_000[12]_kept\.star: already exists"):
        run_round([batches[1]], tmp_path / "out")
    monkeypatch.undo()
    assert running.read_bytes() == rounds(tmp_path, [*batches[:earlier], batches[2]], out="alone")


def test_a_series_started_anew_with_force_runs_its_rounds_and_keeps_the_earlier_files(
    tmp_path: Path, batches: list[Path]
) -> None:
    # A user's trial (stop 63): after --update --force, round 2 of the new series was refused for good
    # ("round_0002_kept.star: already exists; use --force"), and --force restarted the series again.
    # Oracle: the same series run into a fresh folder; the earlier series' files kept, as they were.
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    for batch in batches[:2]:
        run_round([batch], out)
    earlier = {p.name: p.read_bytes() for p in out.glob("round_*")}
    assert sorted(earlier) == [f"round_000{k}_{s}.star" for k in (1, 2) for s in ("kept", "rejected")]
    opts = ParticleOptions(min_dist=MIN_DIST, mic_psize=1.0, update=True)
    remove_duplicate_particles([batches[2]], out, opts, force=True)
    run_round([batches[0]], out)
    run_round([batches[1]], out)
    for batch in (batches[2], batches[0], batches[1]):
        run_round([batch], fresh)
    for path in fresh.glob("*.star"):
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name
    aside = out / "rounds_before_force_1"
    assert {p.name: p.read_bytes() for p in aside.iterdir()} == earlier
