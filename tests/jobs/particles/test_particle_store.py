"""The particle --update store: damage found whole and named in one line, a stopped round rolled back."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from update_batches import make_batch, run_round

from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles import store as store_module
from cryodedup.jobs.particles.job import remove_duplicate_particles
from cryodedup.options import ParticleOptions

STORE_JSON = Path("out/kept_store/store.json")


@pytest.fixture
def batches(tmp_path: Path) -> list[Path]:
    """Three batches on overlapping micrographs."""
    rng = np.random.default_rng(5)
    paths = [tmp_path / f"b{k}.star" for k in range(3)]
    for path, mics in zip(paths, [[1, 2], [2, 3], [3, 1]]):
        make_batch(path, rng, mics, 30)
    return paths


def rounds(tmp_path: Path, paths: list[Path], out: str = "out") -> bytes:
    for path in paths:
        run_round([path], tmp_path / out)
    return (tmp_path / out / "particles_kept.star").read_bytes()


def edit(tmp_path: Path, change) -> None:
    path = tmp_path / STORE_JSON
    state = json.loads(path.read_text())
    change(state)
    path.write_text(json.dumps(state))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(kept=s["kept"] + 1), r"store\.json: kept: expected the segments' rows in all"),
        (lambda s: s["segments"][0].update(rows=10**6), r"store\.json: kept: expected the segments' rows in all"),
        (lambda s: s.pop("running"), r"store\.json: running: expected present"),
        (lambda s: s["running"].update(size="big"), r"store\.json: running: expected sizes as whole numbers"),
        (lambda s: s["record"]["options"].pop("min_dist"), r"store\.json: record\.options: expected"),
        (
            lambda s: s["segments"][1].update(bytes=1),
            r"kept-2\.npy: expected a file of 1 bytes \(store\.json's\)",
        ),
        (lambda s: s["index"][0].update(rows=3), r"index-2\.npy: expected 3 rows \(store\.json's\)"),
        (lambda s: s["index"][0].update(bytes=5), r"index-2\.npy: expected a file of 5 bytes \(store\.json's\)"),
        (lambda s: s["index"][0].update(crc32=-1), r"store\.json: index\[0\]: expected \{round 1 to 2"),
        (lambda s: s.update(format="something else"), r"store\.json: format: expected"),
    ],
)
def test_an_edited_store_is_refused_naming_the_key(tmp_path: Path, batches: list[Path], change, message: str) -> None:
    rounds(tmp_path, batches[:2])
    edit(tmp_path, change)
    with pytest.raises(CryodedupError, match=message + r".*--update --force starts the running kept set anew"):
        run_round([batches[2]], tmp_path / "out")


def test_a_store_an_earlier_cryodedup_wrote_is_refused_as_such_not_as_damage(
    tmp_path: Path, batches: list[Path]
) -> None:
    rounds(tmp_path, batches[:1])
    edit(tmp_path, lambda s: s.update(format="cryodedup particle update store 1", version="0.9.0"))
    with pytest.raises(CryodedupError) as caught:
        run_round([batches[1]], tmp_path / "out")
    message = str(caught.value)
    assert "'cryodedup particle update store 1', written by an earlier cryodedup (0.9.0)" in message
    assert "damaged" not in message and "--update --force starts the running kept set anew" in message


def test_a_store_not_json_is_refused(tmp_path: Path, batches: list[Path]) -> None:
    rounds(tmp_path, batches[:1])
    (tmp_path / STORE_JSON).write_text('{"format": ')
    with pytest.raises(CryodedupError, match=r"store\.json: is not valid JSON"):
        run_round([batches[1]], tmp_path / "out")


@pytest.mark.parametrize("name", ["kept-1.npy", "kept-2.npy"])
def test_a_missing_segment_is_refused_naming_it(tmp_path: Path, batches: list[Path], name: str) -> None:
    rounds(tmp_path, batches[:2])
    (tmp_path / "out" / "kept_store" / name).unlink()
    with pytest.raises(CryodedupError, match=rf"kept_store/{name}: cannot be read"):
        run_round([batches[2]], tmp_path / "out")


def test_a_truncated_segment_is_refused(tmp_path: Path, batches: list[Path]) -> None:
    rounds(tmp_path, batches[:1])
    path = tmp_path / "out" / "kept_store" / "kept-1.npy"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(CryodedupError, match=r"kept-1\.npy: expected a file of [0-9,]+ bytes \(store\.json's\), not"):
        run_round([batches[1]], tmp_path / "out")


def test_a_segment_whose_header_was_edited_is_refused_when_read(tmp_path: Path, batches: list[Path]) -> None:
    """Of the same size, a segment of other values: its header is checked when a round reads it."""
    rounds(tmp_path, batches[:1])
    path = tmp_path / "out" / "kept_store" / "kept-1.npy"
    path.write_bytes(path.read_bytes().replace(b"'<f8'", b"'<i8'"))
    with pytest.raises(CryodedupError, match=r"kept-1\.npy: expected float64 values, not int64"):
        run_round([batches[1]], tmp_path / "out")


@pytest.mark.parametrize(
    ("change", "message", "crc_too"),
    [
        (lambda index: index.__setitem__("stop", index["stop"] + 1), "ranges inside segments", True),
        (lambda index: index.__setitem__("segment", 7), "segments 0 to 1", True),
        (lambda index: index.__setitem__("stop", index["stop"] + 1), None, False),
        (lambda index: index.__setitem__("name", index["name"][::-1]), None, False),
        (lambda index: index.__setitem__("segment", 7), None, False),
    ],
)
def test_an_edited_index_is_refused(tmp_path: Path, batches: list[Path], change, message, crc_too: bool) -> None:
    """Edited, the index differs from its CRC-32; its CRC-32 edited too, the entries a round reads are checked.

    (Names out of order with a CRC-32 to match are not found: a round checks only the entries it reads.)
    """
    rounds(tmp_path, batches[:2])
    path = tmp_path / "out" / "kept_store" / "index-2.npy"
    index = np.load(path)
    change(index)
    np.save(path, index)
    if crc_too:
        edit(tmp_path, lambda s: s["index"][0].update(crc32=zlib.crc32(path.read_bytes())))
    else:
        message = r"the CRC-32 store\.json records \(the file was changed\)"
    with pytest.raises(CryodedupError, match=rf"index-2\.npy: expected {message}"):
        run_round([batches[2]], tmp_path / "out")


def test_a_truncated_index_is_refused(tmp_path: Path, batches: list[Path]) -> None:
    rounds(tmp_path, batches[:2])
    path = tmp_path / "out" / "kept_store" / "index-2.npy"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(CryodedupError, match=r"index-2\.npy: expected a file of [0-9,]+ bytes \(store\.json's\), not"):
        run_round([batches[2]], tmp_path / "out")


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


def test_force_starts_anew(tmp_path: Path, batches: list[Path]) -> None:
    rounds(tmp_path, batches[:2])
    (tmp_path / "out" / "particles_kept.star").write_bytes(b"damaged")
    opts = ParticleOptions(min_dist=20.0, mic_psize=1.0, update=True)
    remove_duplicate_particles([batches[2]], tmp_path / "out", opts, force=True)
    alone = rounds(tmp_path, batches[2:], out="alone")
    assert (tmp_path / "out" / "particles_kept.star").read_bytes() == alone


class Stop(BaseException):
    """A stop in the middle of a round (as a kill would leave it: nothing after it runs)."""


@pytest.mark.parametrize("where", ["before the commit", "halfway through the append"])
@pytest.mark.parametrize("stopped", [1, 2])
def test_a_round_stopped_between_append_and_commit_is_rolled_back(
    tmp_path: Path, batches: list[Path], monkeypatch: pytest.MonkeyPatch, where: str, stopped: int
) -> None:
    """Round ``stopped`` stops; run again with the same batch, the rounds end as if it never had."""
    expected = rounds(tmp_path, batches, out="whole")
    rounds(tmp_path, batches[:stopped])
    if where == "before the commit":
        saves = []
        real = store_module.KeptStore.save_state

        def save_state(self, state):
            saves.append(state)
            if state["pending"] is None and len(saves) > 1:  # (the commit, after the pending mark)
                raise Stop
            real(self, state)

        monkeypatch.setattr(store_module.KeptStore, "save_state", save_state)
    else:
        real_copy = store_module._copy

        def copy(path, start, stop, out):
            real_copy(path, start, start + (stop - start) // 2, out)
            raise Stop

        monkeypatch.setattr(store_module, "_copy", copy)
    with pytest.raises(Stop):
        run_round([batches[stopped]], tmp_path / "out")
    monkeypatch.undo()
    running = tmp_path / "out" / "particles_kept.star"
    if stopped > 1 and where != "before the commit":
        assert running.stat().st_size > 0  # (half-appended rows are there until the next round)
    assert rounds(tmp_path, batches[stopped:]) == expected
    state = json.loads((tmp_path / STORE_JSON).read_text())
    assert state["pending"] is None and state["round"] == len(batches)


def test_a_store_that_is_a_file_is_refused(tmp_path: Path, batches: list[Path]) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "kept_store").write_text("not mine")
    with pytest.raises(CryodedupError, match=r"kept_store: not a folder"):
        run_round([batches[0]], tmp_path / "out")


@pytest.mark.parametrize("earlier", [0, 1])
def test_a_round_that_another_round_overtook_adds_nothing(
    tmp_path: Path, batches: list[Path], monkeypatch: pytest.MonkeyPatch, earlier: int
) -> None:
    """Two rounds into one folder at once: the one that commits second was decided without the other's kept set."""
    from cryodedup.jobs.particles import update

    if earlier:
        rounds(tmp_path, batches[:earlier])
    real = update.blocked_by_kept
    overtaken = []

    def decide_while_another_round_runs(*args):
        if not overtaken:
            overtaken.append(True)
            run_round([batches[2]], tmp_path / "out")  # (the other round, from start to end)
        return real(*args)

    monkeypatch.setattr(update, "blocked_by_kept", decide_while_another_round_runs)
    running = tmp_path / "out" / "particles_kept.star"
    with pytest.raises(CryodedupError, match="another --update round into .* ended while this one ran"):
        run_round([batches[1]], tmp_path / "out")
    monkeypatch.undo()
    assert running.read_bytes() == rounds(tmp_path, [*batches[:earlier], batches[2]], out="alone")
