"""``--json`` on a refused run (stop 94's new-user trial: it printed nothing): one document on stdout, every command.

The document has the keys every job's document opens with (``verdict``: a RunVerdict with word ``refused``, kind
``bad`` and the error as its line; ``outputs`` {}; ``timings`` null) and then ``error`` and ``exit_status``; the run
still exits non-zero with its one line on stderr. Oracle: the stderr line and the process's own exit status.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cryodedup.cli import main

CRYODEDUP = str(Path(sys.executable).parent / "cryodedup")

#: A refusal of each command that takes --json: its words (``{d}``: an empty folder), and the status it exits with.
REFUSALS = {
    "particles": (["particles", "{d}/missing.star", "-o", "{d}/out"], 1),
    "compare": (["compare", "{d}/a.star", "{d}/b.star"], 1),
    "audit": (["audit", "{d}"], 2),
    "demo": (["demo", "{d}/a-file"], 2),
    "micrographs": (["micrographs", "{d}/missing.star", "-o", "{d}/out"], 1),
    "micrographs-merge": (["micrographs-merge", "{d}", "-o", "{d}/out"], 1),
    "particles-merge": (["particles-merge", "{d}", "-o", "{d}/out"], 1),
    "select": (["select", "{d}/missing.star", "--subset", "{d}/a-file", "-o", "{d}/out"], 1),
}


def test_every_command_taking_json_has_a_refusal_here():
    taking = {name for name, command in main.commands.items() if any(p.name == "as_json" for p in command.params)}
    assert taking == set(REFUSALS)


@pytest.mark.parametrize("where", ["last", "first"])
@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_a_refused_run_prints_one_document_and_still_fails(tmp_path, name, where):
    words, status = REFUSALS[name]
    (tmp_path / "a-file").write_text("")
    words = [w.format(d=tmp_path) for w in words]
    words = [*words, "--json"] if where == "last" else [words[0], "--json", *words[1:]]
    done = subprocess.run([CRYODEDUP, *words], capture_output=True, text=True, check=False)
    assert done.returncode == status, done.stderr
    (line,) = done.stderr.strip().splitlines()
    (document,) = [json.loads(text) for text in done.stdout.splitlines()]
    assert list(document) == ["verdict", "outputs", "timings", "error", "exit_status"]
    assert document["verdict"] == {"word": "refused", "kind": "bad", "line": document["error"], "why": None}
    assert document["outputs"] == {} and document["timings"] is None
    assert document["exit_status"] == status
    assert line.startswith(f"Error: {document['error']}")  # (a usage error's line adds where the help is)
    assert not (tmp_path / "out").exists()


def test_without_json_a_refusal_prints_nothing_on_stdout(tmp_path):
    done = subprocess.run(
        [CRYODEDUP, "particles", str(tmp_path / "missing.star"), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("Error: ")


def test_a_pixel_size_refusal_as_json_names_both_values(tmp_path):
    # The trial's case, in little: the micrograph job refuses before any image is read; the document says why.
    import numpy as np

    from fixtures.synthetic import write_mrc
    from helpers import write_star

    names = []
    for k in range(3):
        write_mrc(tmp_path / f"m{k}.mrc", np.zeros((64, 64), np.float32) + k, 4.0)
        names.append(str(tmp_path / f"m{k}.mrc"))
    star = write_star(
        tmp_path / "micrographs.star",
        ["rlnMicrographName", "rlnOpticsGroup"],
        [[name, 1] for name in names],
        optics=[[1, "og", 2.0]],
        optics_labels=["rlnOpticsGroup", "rlnOpticsGroupName", "rlnMicrographPixelSize"],
        block="micrographs",
    )
    done = subprocess.run(
        [CRYODEDUP, "micrographs", str(star), "-o", str(tmp_path / "out"), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    document = json.loads(done.stdout)
    assert done.returncode == 1 == document["exit_status"]
    assert "rlnMicrographPixelSize 2 Å" in document["error"] and "pixel size 4 Å" in document["error"]
