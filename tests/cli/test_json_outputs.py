"""Issue 92: the jobs' ``--json`` documents, read as a tester's parser reads them, against the files on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from helpers import write_star

P31 = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup", "rlnAutopickFigureOfMerit"]
OPTICS = [[1, "og1", 2.0, 1.0]]
ROWS = [[1000, 1000, "m.mrc", 1, 0.5], [1010, 1000, "m.mrc", 1, 0.7], [3000, 3000, "m.mrc", 1, 0.1]]


def _json(*args: object) -> dict:
    result = CliRunner().invoke(main, [str(a) for a in (*args, "--json", "--quiet")])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def star(tmp_path: Path) -> Path:
    return write_star(tmp_path / "in.star", P31, ROWS, optics=OPTICS)


def _files_under(folder: Path) -> set[str]:
    """The files in ``folder`` (a page's folder of scripts and thumbnails aside: its micrographs.html names them)."""
    return {str(p) for p in folder.iterdir() if p.is_file()}


def test_particles_plot_names_every_file_written_among_its_outputs(star, tmp_path):
    pytest.importorskip("PIL")
    out = tmp_path / "out"
    document = _json("particles", star, "-o", out, "--plot")
    named = {f for files in document["outputs"].values() for f in files}
    assert named == _files_under(out)  # (the files on disk: report.html, micrographs.html, the PNGs among them)
    assert {"report.html", "micrographs.html"} <= {Path(f).name for f in document["outputs"]["plots"]}
    assert "plots" not in document


def test_particles_audit_writes_nothing_and_says_so(star, tmp_path):
    document = _json("particles", star, "-o", tmp_path / "out", "--audit")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert document["outputs"] == {}


def test_compare_of_inputs_sharing_no_micrograph_says_nothing_was_compared(star, tmp_path):
    # Issue 92: it said "compared" (good) of 0 + 0 picks scored.
    other = write_star(tmp_path / "other.star", P31, [[1000, 1000, "n.mrc", 1, 0.5]], optics=OPTICS)
    document = _json("compare", star, other, "--radius", "20")
    assert (document["picks"], document["micrographs_shared"]) == ([3, 1], 0)  # (hand-counted: m.mrc, n.mrc)
    assert (document["verdict"]["word"], document["verdict"]["kind"]) == ("nothing compared", "warn")
    assert (
        document["verdict"]["line"]
        == f"Nothing compared: {star} and {other} share no micrograph (2 with picks, none covered by both)"
    )
    shared = write_star(tmp_path / "shared.star", P31, [[1000, 1000, "m.mrc", 1, 0.5]], optics=OPTICS)
    same = _json("compare", star, shared, "--radius", "20")  # (m.mrc shared: compared as before)
    assert (same["verdict"]["word"], same["verdict"]["kind"]) == ("compared", "good")
