"""The particle job's summary: one typed structure, which is the ``--json`` document and its reference."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.algo.density import Density
from cryodedup.jobs.particles.summary import ParticleSummary, _duplicate_criterion, reference_table
from cryodedup.report.sections import DuplicateDensity, Inputs, Score
from cryodedup.report.terminal import strict_json
from helpers import write_star

DOCS = Path(__file__).resolve().parents[3] / "docs" / "reference" / "outputs.md"


def test_the_docs_reference_is_the_structures_table():
    text = DOCS.read_text()
    made = re.search(r"<!-- particle summary: made by reference_table\(\) -->\n(.*?)<!-- end", text, re.S)
    assert made is not None
    assert made.group(1) == reference_table()
    # Every field in the table, in order (the table is not merely equal to itself).
    keys = re.findall(r"^\| `([a-z_A]+)` \|", made.group(1), re.M)
    assert keys == [f.name for f in fields(ParticleSummary) if f.name != "read"]


def test_to_json_keeps_the_fields_order_leaves_out_none_and_splices_the_readers_keys():
    summary = ParticleSummary(
        inputs=Inputs(()),
        particles=3,
        kept=2,
        rejected=1,
        score=Score(None, "random (seed 0)"),
        read={"formats": ["star"], "layouts": []},
        duplicate_density=DuplicateDensity(Density("a rule", None, None, None, 0, ())),
        mode="remove entirely",
    )
    # Worked by hand from the field order: every job's three keys first (null: none yet), the readers' after "score".
    assert list(summary.to_json()) == [
        "verdict",
        "outputs",
        "timings",
        "inputs",
        "particles",
        "kept",
        "rejected",
        "micrographs",
        "tomography",
        "pixel_sizes",
        "shift",
        "score",
        "formats",
        "layouts",
        "duplicate_density",
        "mode",
    ]
    # Those every document holds stay when null (a run's pixel sizes unknown); the others are left out.
    assert ParticleSummary(duplicate_density=None).to_json()["duplicate_density"] is None
    assert "priority" not in summary.to_json()


def test_the_command_lines_json_has_the_structures_keys_in_its_order(tmp_path):
    # A two-picker run: its keys are the structure's fields (the readers' between score and duplicate_density).
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnAutopickFigureOfMerit"]
    a = write_star(tmp_path / "a.star", labels, [[100, 100, "m.mrc", 0.5], [400, 400, "m.mrc", 0.2]])
    b = write_star(tmp_path / "b.star", labels, [[101, 100, "m.mrc", 0.9]])
    out = str(tmp_path / "out")
    args = ["particles", str(a), str(b), "-o", out, "--mic-psize", "1", "--min-dist", "10", "--json", "-q"]
    done = subprocess.run([sys.executable, "-m", "cryodedup", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    order = [f.name for f in fields(ParticleSummary)]
    typed = [key for key in document if key in order]
    assert typed == sorted(typed, key=order.index)
    assert document["kept"] == 2 and document["rejected"] == 1 and "consensus" in document
    assert document["outputs"]["kept"] == [str(tmp_path / "out" / "particles_kept.star")]


#: Keys whose values are times: not compared between two runs.
VOLATILE = {"seconds", "timings"}


def test_the_api_returns_the_summary_typed_its_document_the_command_lines(tmp_path):
    # The same run twice into one folder, by the command line (--json) and by the Python API.
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnAutopickFigureOfMerit"]
    a = write_star(tmp_path / "a.star", labels, [[100, 100, "m.mrc", 0.5], [400, 400, "m.mrc", 0.2]])
    b = write_star(tmp_path / "b.star", labels, [[101, 100, "m.mrc", 0.9]])
    out = tmp_path / "out"
    args = ["particles", str(a), str(b), "-o", str(out), "--mic-psize", "1", "--min-dist", "10", "--json", "-q"]
    done = subprocess.run([sys.executable, "-m", "cryodedup", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    options = ParticleOptions(mic_psize=1.0, min_dist=10.0)
    summary = remove_duplicate_particles([a, b], out, options, force=True)
    assert isinstance(summary, ParticleSummary)
    # Read by name: the pick at (101, 100) scores 0.9 and wins over (100, 100); (400, 400) stands alone.
    assert (summary.particles, summary.kept, summary.rejected, summary.micrographs) == (3, 2, 1, 1)
    assert summary.score is not None and summary.score.column == "rlnAutopickFigureOfMerit"
    assert summary.verdict is not None and summary.verdict.line.startswith("Kept 2 of 3")
    # Its document is the one --json printed, key for key and in order, but the times.
    document = json.loads(strict_json(summary.to_json()))
    assert list(document) == list(printed)
    assert {k: v for k, v in document.items() if k not in VOLATILE} == {
        k: v for k, v in printed.items() if k not in VOLATILE
    }


def test_the_half_set_audit_words_its_criterion():
    # (the summary's words for what made a duplicate pair: a distance, the same centre, along z, an angle)
    assert _duplicate_criterion(20, 10) == "within 20 Å and 10°"
    assert _duplicate_criterion(0) == "at the same centre (within 0.001 Å)"
    assert _duplicate_criterion(30, None, 60) == "within 30 Å (60 Å in z)"
