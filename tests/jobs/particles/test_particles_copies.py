"""Rows sharing an image, labelled by what they are (a new user's trial): a set with 10 % of the tutorial's
Refine3D/job029 rows joined twice (same image, halves flipped) was said "Symmetry copies" by ``particles --audit``.

Oracles: the rows planted here at their own pose, and RELION 3.1's ``relion_particle_symmetry_expand``, which writes
an expansion's copies at the other poses of the point group.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from fixtures.tutorial_files import tutorial_project
from helpers import missing_program

BIN = Path(sys.executable).parent
R29 = "Refine3D/job029/run_data.star"


def _audit(path: Path, out: Path) -> tuple[dict, str]:
    words = [str(BIN / "cryodedup"), "particles", str(path), "--audit", "-o", str(out)]
    document = subprocess.run([*words, "--json", "-q"], capture_output=True, text=True, check=True).stdout
    said = subprocess.run(
        words, capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "300"}
    ).stderr
    return json.loads(document)["symmetry_expansion"], " ".join(said.split())


def _joined_twice(source: Path, path: Path, share: float = 0.1) -> int:
    """``source``'s rows and a copy of ``share`` of them, each copy's rlnRandomSubset flipped; the copies' count."""
    lines = source.read_text().splitlines(keepends=True)
    start = max(k for k, line in enumerate(lines) if line.startswith("data_particles"))
    labels = [line.split()[0] for line in lines[start:] if line.startswith("_rln")]
    first = next(k for k in range(start, len(lines)) if lines[k].strip() and lines[k][0] not in "_dl#")
    rows = [line for line in lines[first:] if line.strip()]
    half = labels.index("_rlnRandomSubset")
    copies = []
    for k in sorted(np.random.default_rng(5).choice(len(rows), int(len(rows) * share), replace=False)):
        words = rows[k].split()
        words[half] = "2" if words[half] == "1" else "1"
        copies.append(" ".join(words) + "\n")
    path.write_text("".join(lines[:first]) + "".join(rows) + "".join(copies))
    return len(copies)


def test_rows_joined_twice_are_exact_copies_not_symmetry_copies(tmp_path):
    source = tutorial_project() / R29
    copies = _joined_twice(source, tmp_path / "joined.star")
    document, said = _audit(tmp_path / "joined.star", tmp_path / "out")
    assert copies == 450 and document["copies_in"] == 4501 + copies and document["copies_at_pose"] == copies
    assert "Exact copies │ 4,951 copies of 4,501 particles, 450 at the pose of another row of their image" in said
    assert "Symmetry copies" not in said


def test_a_relion_symmetry_expansion_is_symmetry_copies(tmp_path):
    source = tutorial_project() / R29
    if shutil.which("relion_particle_symmetry_expand") is None:
        missing_program("relion_particle_symmetry_expand is not installed", required_by="CRYODEDUP_REQUIRE_RELION")
    expanded = tmp_path / "expanded.star"
    subprocess.run(
        ["relion_particle_symmetry_expand", "--i", str(source), "--o", str(expanded), "--sym", "C2"],
        capture_output=True,
        check=True,
    )
    document, said = _audit(expanded, tmp_path / "out")
    assert document["copies_in"] == 2 * 4501 and document["copies_at_pose"] == 0
    assert "Symmetry copies │ 9,002 copies of 4,501 particles; 4,501 with 1 kept" in said
    # Both in one set: the row names each kind.
    _joined_twice(expanded, tmp_path / "both.star", share=0.05)
    document, said = _audit(tmp_path / "both.star", tmp_path / "both")
    assert document["copies_at_pose"] == 450
    assert (
        "Copies of one image │ 9,452 copies of 4,501 particles: 4,501 at other poses (a symmetry expansion), 450"
        in said
    )
