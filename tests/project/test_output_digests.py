"""scripts/output_digests.py, the byte-identical check of a restructure, on a tiny subset of its corpus."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "output_digests.py"
TINY = "^(star31-default|cs-default)$"


@pytest.fixture(scope="module")
def digests_script():
    spec = importlib.util.spec_from_file_location("output_digests", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["output_digests"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules["output_digests"]


@pytest.fixture(scope="module")
def recorded(digests_script, tmp_path_factory):
    folder = tmp_path_factory.mktemp("digests")
    record = folder / "before.json"
    assert digests_script.main(["--record", str(record), "--only", TINY, "--shared", str(folder / "absent")]) == 0
    return record


def test_record_then_check_on_the_same_code_finds_no_difference(digests_script, recorded, tmp_path, capsys):
    digests = json.loads(recorded.read_text())
    # Each run: its exit status, its --json summary, and one digest per output file.
    assert digests["star31-default/:exit"] == "0" and digests["cs-default/:exit"] == "0"
    assert {"star31-default/particles_kept.star", "star31-default/:json", "cs-default/particles_kept.cs"} <= set(
        digests
    )
    absent = str(tmp_path / "absent")
    assert digests_script.main(["--check", str(recorded), "--only", TINY, "--shared", absent]) == 0
    assert capsys.readouterr().out == ""


def test_a_changed_output_is_detected_and_named(digests_script, recorded, tmp_path, capsys, monkeypatch):
    # The same run name with another distance: the particle files change, the run's name does not.
    changed = digests_script.table("star31-default relion/particles_a.star --min-dist 0", "particles")
    generators = [(write, runs) for write, runs in digests_script.GENERATORS]
    generators[0] = (generators[0][0], lambda: changed)
    monkeypatch.setattr(digests_script, "GENERATORS", generators)
    absent = str(tmp_path / "absent")
    assert digests_script.main(["--check", str(recorded), "--only", "^star31-default$", "--shared", absent]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "differs: star31-default/particles_kept.star" in out
    assert "differs: star31-default/particles_rejected.star" in out


def test_missing_and_new_outputs_are_listed(digests_script):
    recorded = {"a/:exit": "0", "a/kept.star": "1", "a/gone.star": "2"}
    current = {"a/:exit": "0", "a/kept.star": "3", "a/new.star": "4"}
    assert digests_script.differences(recorded, current) == [
        "missing: a/gone.star",
        "new: a/new.star",
        "differs: a/kept.star",
    ]


def test_times_hosts_and_machine_paths_do_not_count(digests_script):
    one = b'{"kept": 3, "seconds": 0.25, "root": "/tmp/x1/mics", "workers": [{"worker": "node1:77", "shards": [1]}]}'
    two = b'{"kept": 3, "seconds": 9.5, "root": "/tmp/x2/mics", "workers": [{"worker": "node2:12", "shards": [1]}]}'
    assert digests_script.normalised_json(one, {"/tmp/x1": "<CORPUS>"}) == digests_script.normalised_json(
        two, {"/tmp/x2": "<CORPUS>"}
    )
    assert digests_script.normalised_json(one, {}) != digests_script.normalised_json(one.replace(b"3", b"4"), {})
