"""cryodedup.outputs: outputs appear complete or not at all; existing files and inputs are refused."""

from __future__ import annotations

import importlib.util
import os

import pytest

from cryodedup import CryodedupError
from cryodedup.outputs import AtomicOutputs, check_plotting


def test_outputs_appear_only_when_the_block_succeeds(tmp_path):
    final = [tmp_path / "out" / "a.star", tmp_path / "out" / "b.star"]
    with AtomicOutputs(final) as temporary:
        assert set(temporary) == set(final)
        for path, tmp in temporary.items():
            assert tmp.parent == path.parent and tmp.name.startswith(".") and tmp != path
            tmp.write_text(path.name)
        assert not any(p.exists() for p in final)  # nothing under the final names until the end
    assert [p.read_text() for p in final] == ["a.star", "b.star"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.star", "b.star"]


def test_a_failure_leaves_nothing_behind(tmp_path):
    final = [tmp_path / "a.star", tmp_path / "b.star"]
    with pytest.raises(RuntimeError), AtomicOutputs(final) as temporary:
        temporary[final[0]].write_text("half")
        raise RuntimeError("the job failed")
    assert list(tmp_path.iterdir()) == []


def test_existing_outputs_are_refused_unless_force(tmp_path):
    existing = tmp_path / "kept.star"
    existing.write_text("old")
    with pytest.raises(CryodedupError, match=r"kept\.star: already exists; use --force"):
        AtomicOutputs([existing])
    assert existing.read_text() == "old"
    with AtomicOutputs([existing], force=True) as temporary:
        temporary[existing].write_text("new")
    assert existing.read_text() == "new"


def test_an_input_is_never_an_output_even_with_force(tmp_path):
    source = tmp_path / "particles.star"
    source.write_text("data")
    same_file = tmp_path / "sub" / ".." / "particles.star"
    with pytest.raises(CryodedupError, match="is also an input; choose another output folder"):
        AtomicOutputs([same_file], force=True, inputs=[source])
    assert source.read_text() == "data"


def test_an_output_folder_below_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    with (
        pytest.raises(CryodedupError, match=r"file/out: cannot create the output folder"),
        AtomicOutputs([tmp_path / "file" / "out" / "a.star"]),
    ):
        pass


def test_plotting_without_matplotlib_is_refused_before_any_work(monkeypatch):
    check_plotting(False)  # never asks without --plot
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "matplotlib" else real_find_spec(name)
    )
    check_plotting(False)
    with pytest.raises(CryodedupError, match=r"--plot needs matplotlib: pip install 'cryodedup\[plot\]'"):
        check_plotting(True)


def test_an_existing_output_among_many_new_ones_is_refused(tmp_path):
    # Outputs in folders that do not exist yet are not looked up one by one; one that exists still counts.
    existing = tmp_path / "old" / "kept.star"
    existing.parent.mkdir()
    existing.write_text("old")
    fresh = [tmp_path / "new" / "Movies" / f"m{k}.star" for k in range(50)]
    with pytest.raises(CryodedupError, match=r"old/kept\.star: already exists"):
        AtomicOutputs([*fresh, existing])
    with pytest.raises(CryodedupError, match="is also an input"):
        AtomicOutputs([*fresh, tmp_path / "new" / ".." / "old" / "kept.star"], force=True, inputs=[existing])


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_new_folder_of_outputs_appears_whole_by_one_rename(tmp_path):
    # A picker job writes thousands of per-micrograph files: they go into one temporary
    # folder, renamed into place at the end; until then no output folder appears.
    job = tmp_path / "job"
    files = [job / "kept" / "Movies" / f"m{k}_autopick.star" for k in range(3)] + [job / "autopick_kept.star"]
    with AtomicOutputs(files, folders=[job / "kept"]) as temporary:
        for path, tmp in temporary.items():
            tmp.write_text(path.name)
        assert not (job / "kept").exists() and not files[-1].exists()
        assert {tmp.parent.parent.name for tmp in list(temporary.values())[:3]} == {f".kept.{os.getpid()}.tmp"}
    assert _tree(job) == ["autopick_kept.star", "kept", "kept/Movies"] + [
        f"kept/Movies/m{k}_autopick.star" for k in range(3)
    ]
    assert [p.read_text() for p in files] == [p.name for p in files]


def test_a_failure_leaves_no_output_folder_behind(tmp_path):
    job = tmp_path / "job"
    files = [job / "kept" / "Movies" / "m0_autopick.star", job / "autopick_kept.star"]
    with pytest.raises(RuntimeError), AtomicOutputs(files, folders=[job / "kept"]) as temporary:
        temporary[files[0]].write_text("half")
        raise RuntimeError("the job failed")
    assert _tree(job) == []


def test_an_existing_output_folder_gets_its_files_one_by_one(tmp_path):
    # Rerun with --force: the folder stays, with its other files; the outputs are replaced.
    folder = tmp_path / "kept"
    (folder / "Movies").mkdir(parents=True)
    (folder / "Movies" / "other.star").write_text("not ours")
    (folder / "Movies" / "m0_autopick.star").write_text("old")
    target = folder / "Movies" / "m0_autopick.star"
    with AtomicOutputs([target], force=True, folders=[folder]) as temporary:
        assert temporary[target].parent == target.parent
        temporary[target].write_text("new")
    assert target.read_text() == "new" and (folder / "Movies" / "other.star").read_text() == "not ours"
