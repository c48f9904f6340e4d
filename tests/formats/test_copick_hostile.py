"""Issue 58, items 10 and 13: copick's write-back stopped or failing leaves the project as it was, and
hostile projects (huge radius, deep nesting, a huge description, an empty output user) are one line.

The projects are made with copick's own API (tests/formats/test_copick.py); what the project must
hold afterwards is read back with copick. Skipped when copick is not installed.
"""

from __future__ import annotations

import json

import pytest
from test_copick import make_project, read_back

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.errors import CryodedupError
from cryodedup.formats.copick import root_logger_kept
from helpers import one_error_line, run_briefly

with root_logger_kept():
    copick = pytest.importorskip("copick")
    from fsspec.implementations.local import LocalFileSystem


def _fail_on_the_second_set(monkeypatch, error):
    """Opening the second pick file written raises ``error`` (a signal landing there, or a refused write)."""
    real_open, opened = LocalFileSystem.open, []

    def open_(self, path, mode="rb", *args, **kwargs):
        if mode == "wb" and "/Picks/" in str(path) and "probe" not in str(path):
            opened.append(path)
            if len(opened) == 2:
                raise error
        return real_open(self, path, mode, *args, **kwargs)

    monkeypatch.setattr(LocalFileSystem, "open", open_)
    return opened


@pytest.mark.parametrize(
    "error", [KeyboardInterrupt(), PermissionError(13, "Permission denied")], ids=["signal", "denied"]
)
def test_a_write_back_stopped_or_refused_midway_leaves_no_pick_set_of_this_run(tmp_path, monkeypatch, error):
    config, _ = make_project(tmp_path)
    opened = _fail_on_the_second_set(monkeypatch, error)
    with pytest.raises(type(error) if isinstance(error, KeyboardInterrupt) else CryodedupError) as raised:
        remove_duplicate_particles([config], None, ParticleOptions())
    monkeypatch.undo()
    assert len(opened) == 2  # (the failure came after one set was written)
    assert read_back(config) == {}  # none of the 4 sets (2 runs x 2 objects) left in the project
    leftovers = [p for p in (tmp_path / "project").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    if not isinstance(error, KeyboardInterrupt):
        assert "the project is unchanged" in str(raised.value)


def test_a_forced_write_back_refused_midway_keeps_the_earlier_results(tmp_path, monkeypatch):
    config, _ = make_project(tmp_path)
    remove_duplicate_particles([config], None, ParticleOptions(min_dist=60.0))
    before = read_back(config)
    assert len(before) == 4
    _fail_on_the_second_set(monkeypatch, PermissionError(13, "Permission denied"))
    with pytest.raises(CryodedupError, match="the project is unchanged"):
        remove_duplicate_particles([config], None, ParticleOptions(min_dist=300.0), force=True)
    monkeypatch.undo()
    assert read_back(config) == before


def test_a_read_only_picks_folder_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    config, _ = make_project(tmp_path)
    real_open = LocalFileSystem.open

    def open_(self, path, mode="rb", *args, **kwargs):  # run 2's folder on a read-only mount (EROFS)
        if "w" in mode and "TS_002" in str(path):
            raise OSError(30, "Read-only file system", str(path))
        return real_open(self, path, mode, *args, **kwargs)

    monkeypatch.setattr(LocalFileSystem, "open", open_)
    with pytest.raises(CryodedupError, match="Read-only file system.*nothing was written"):
        remove_duplicate_particles([config], tmp_path / "star", ParticleOptions(copick_out_user="tool"))
    monkeypatch.undo()
    assert read_back(config, user="tool") == {}
    assert not (tmp_path / "star").exists() or list((tmp_path / "star").iterdir()) == []
    assert not (tmp_path / "project" / "overlay" / "cryodedup_outputs.json").exists()


def _config_with(tmp_path, **edit):
    config, _ = make_project(tmp_path)
    data = json.loads(config.read_text())
    for key, value in edit.items():
        data[key] = value(data) if callable(value) else value
    return config, data


def _radius(value):
    def edit(data):
        data["pickable_objects"][0]["radius"] = value
        return data["pickable_objects"]

    return edit


@pytest.mark.slow
def test_a_radius_of_1e308_is_refused_by_the_distance_bound(tmp_path):
    config, data = _config_with(tmp_path, pickable_objects=_radius(1e308))
    config.write_text(json.dumps(data))
    status, err = run_briefly("particles", config)
    line = one_error_line(err)
    assert status == 1 and "radius" in line and "1e+308" in line


@pytest.mark.slow
def test_a_config_nested_100000_deep_and_a_huge_description_are_one_line(tmp_path):
    config, data = _config_with(tmp_path)
    text = json.dumps(data)
    config.write_text(text[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}")
    status, err = run_briefly("particles", config)
    assert status == 1 and "copick" in one_error_line(err)
    # A description of 50 MB before the objects: still the project's config, read as such.
    config.write_text('{"description": "' + "x" * 50_000_000 + '", ' + text[1:])
    status, err = run_briefly("particles", config)
    assert status == 0, err[-2000:]
    assert read_back(config) != {}


@pytest.mark.slow
def test_a_pick_file_nested_100000_deep_is_one_line(tmp_path):
    config, _ = make_project(tmp_path)
    pick_file = next((tmp_path / "project" / "overlay").rglob("alice_1_apoferritin.json"))
    pick_file.write_text('{"points": ' + "[" * 100_000 + "]" * 100_000 + "}")
    status, err = run_briefly("particles", config)
    assert status == 1 and "alice" in one_error_line(err)


def test_an_empty_output_user_is_refused(tmp_path):
    config, _ = make_project(tmp_path)
    status, err = run_briefly("particles", config, "--copick-out-user", "")
    assert status in (1, 2) and "--copick-out-user" in one_error_line(err)
