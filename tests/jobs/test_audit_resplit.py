"""The audit names a re-split (issue 98): a refinement whose particles carry another half-set than in the earlier
refinement whose poses or reference it continues from (jobs/audit/resplit.py).

Oracles: the particles the test moves to the other half itself (200 of them), counted again by the test's own
match of the two files (by micrograph and coordinates, which Polish keeps, or by row where it wrote both); the
real tutorial project, whose refinements keep their half-sets (RELION keeps rlnRandomSubset), re-splits none.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cryodedup.jobs.audit.project import relion_project
from cryodedup.jobs.audit.resplit import earlier_refinements
from fixtures.relion_project import Rows
from fixtures.relion_project import write_particles as write_rows
from fixtures.relion_tutorial import write_tutorial
from fixtures.tutorial_files import tutorial_project

R25, R29 = "Refine3D/job025", "Refine3D/job029"
PLANTED = 200


def _audit(root: Path) -> tuple[dict, str]:
    """``cryodedup audit ROOT --json``: its document and what it said on the terminal (stderr), wide."""
    done = subprocess.run(
        [sys.executable, "-m", "cryodedup", "audit", str(root), "--json"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "400"},
    )
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout), done.stderr


def _entries(document: dict) -> dict[str, dict]:
    return {job["job"]: job for job in document["jobs"]}


def _resplit_lines(said: str) -> list[str]:
    return [line for line in said.splitlines() if "Re-split" in line]


def test_the_lineage_names_the_refinement_continued_from(tmp_path):
    # The tutorial's chain (its pipeline as the synthetic tutorial writes it): job029 read Polish/job028's particles
    # (from job025's) and job025's map; job025 CtfRefine's (from job019's) and job019's map; job019 none.
    write_tutorial(tmp_path)
    continued = earlier_refinements(relion_project(tmp_path))
    assert continued(R29) == {R25: ("poses", "reference")}
    assert continued(R25) == {"Refine3D/job019": ("poses", "reference")}
    assert continued("Refine3D/job019") == {}
    assert continued("PostProcess/job030") == {R29: ("reference",)}  # (its half-maps)
    assert continued("Polish/job028") == {R25: ("poses",)}


@pytest.mark.parametrize("shape", ["4", "5"])
def test_cryosparc_volume_inputs_are_reference_edges(tmp_path, shape):
    # The chains of the CryoSPARC fixture (its docstring): J22 refines J21's re-extraction of J15's particles with J19's
    # volume; J20 J19's particles and volume; J18 J13's particles (a Select: no refinement above) with J15's volume.
    pytest.importorskip("cryosparc.models.job")
    from cryodedup.jobs.audit.project import cryosparc_project
    from fixtures.cryosparc_project import write_chains, write_project

    write_chains(tmp_path, write_project(tmp_path, shape=shape), shape)
    continued = earlier_refinements(cryosparc_project(tmp_path))
    assert continued("J20") == {"J19": ("poses", "reference")}
    assert continued("J22") == {"J15": ("poses",), "J19": ("reference",)}
    assert continued("J18") == {"J15": ("reference",)}


def _carried(files: dict[str, Rows], root: Path) -> dict[str, Rows]:
    """The synthetic tutorial with its half-sets carried as RELION carries them (the fixture draws each refinement's
    anew): every file after Refine3D/job019 takes job019's; Polish and job029 name their images as Polish does."""
    halves = files["Refine3D/job019/run_data.star"].subset
    carried = dict(files)
    chain = ["CtfRefine/job022/particles_ctf_refine.star", "CtfRefine/job023/particles_ctf_refine.star"]
    chain += ["CtfRefine/job024/particles_ctf_refine.star", f"{R25}/run_data.star", "Polish/job028/shiny.star"]
    for path in [*chain, f"{R29}/run_data.star"]:
        rows = files[path]
        images = rows.image
        if path.startswith(("Polish", R29)):
            images = [f"{k + 1}@Polish/job028/Movies/shiny_{m}.mrcs" for k, m in enumerate(rows.mic.tolist())]
        carried[path] = Rows(rows.mic, rows.x, rows.y, rows.ox, rows.oy, halves.copy(), images)
        write_rows(root / path, carried[path])
    return carried


def test_a_planted_resplit_in_the_synthetic_tutorial(tmp_path):
    files = _carried(write_tutorial(tmp_path), tmp_path)
    document, said = _audit(tmp_path)
    assert [j["job"] for j in document["jobs"] if j["resplit"] is not None] == []  # (carried: none re-split)
    assert _resplit_lines(said) == []
    rows = files[f"{R29}/run_data.star"]
    moved = np.sort(np.random.default_rng(3).choice(len(rows), PLANTED, replace=False))
    subset = rows.subset.copy()
    subset[moved] = 3 - subset[moved]
    write_rows(tmp_path / R29 / "run_data.star", Rows(rows.mic, rows.x, rows.y, rows.ox, rows.oy, subset, rows.image))
    # (the oracle: the rows are job025's, in its order: the planted ones differ, and no other)
    assert int(np.count_nonzero(subset != files[f"{R25}/run_data.star"].subset)) == PLANTED
    document, said = _audit(tmp_path)
    entries = _entries(document)
    found = entries[R29]["resplit"]
    assert {k: found[k] for k in ("from", "particles")} == {"from": R25, "particles": PLANTED}
    # (Polish named the images anew: every particle matched by position, none by name)
    assert (found["matched"], found["matched_by_name"], found["continues"]) == (len(rows), 0, ["poses", "reference"])
    assert [name for name, job in entries.items() if job["resplit"] is not None] == [R29]
    lines = _resplit_lines(said)
    assert len(lines) == 1 and f"{R29}: {PLANTED} of its particles carry another half-set than in {R25}" in lines[0]


def test_a_resplit_matched_by_image_name(tmp_path):
    # job025 against job019: CtfRefine keeps the image names, so every particle is matched by its name, even
    # where the refined centres are put apart (here all moved 400 Å: no position would match them).
    files = _carried(write_tutorial(tmp_path), tmp_path)
    rows = files[f"{R25}/run_data.star"]
    subset = rows.subset.copy()
    subset[:PLANTED] = 3 - subset[:PLANTED]
    moved = Rows(rows.mic, rows.x + 400 / 0.885, rows.y, rows.ox, rows.oy, subset, rows.image)
    write_rows(tmp_path / R25 / "run_data.star", moved)
    document, _ = _audit(tmp_path)
    found = _entries(document)[R25]["resplit"]
    assert (found["from"], found["particles"], found["matched_by_name"]) == ("Refine3D/job019", PLANTED, len(rows))


# --- the real tutorial ------------------------------------------------------------------------------------------

#: What the planted copy of the tutorial needs: the pipeline and the two refinements (with their diameters).
_COPIED = ["default_pipeline.star", *(f"{job}/{name}" for job in (R25, R29) for name in ("run_data.star", "job.star"))]


def _halves_by_position(path: Path) -> dict[tuple[str, str, str], str]:
    """Each particle's half-set by its micrograph and coordinates as written (the test's own reading of the loop)."""
    lines = path.read_text().splitlines()
    block = max(i for i, line in enumerate(lines) if line.startswith("data_particles"))
    labels = [line.split()[0] for line in lines[block:] if line.startswith("_rln")]
    at = {label: k for k, label in enumerate(labels)}
    first = block + next(i for i, line in enumerate(lines[block:]) if line.startswith("_rln")) + len(labels)
    rows = [line.split() for line in lines[first:] if line.strip()]
    keys = ("_rlnMicrographName", "_rlnCoordinateX", "_rlnCoordinateY")
    return {tuple(row[at[k]] for k in keys): row[at["_rlnRandomSubset"]] for row in rows}  # type: ignore[misc]


def _flip(path: Path, count: int, seed: int) -> None:
    """``count`` particles of the STAR file ``path`` put in the other half-set (rlnRandomSubset 1 <-> 2)."""
    lines = path.read_text().split("\n")
    column = int(next(line for line in lines if line.startswith("_rlnRandomSubset")).split("#")[1]) - 1
    rows = [k for k, line in enumerate(lines) if "@" in line and len(line.split()) > column]
    for k in np.random.default_rng(seed).choice(rows, count, replace=False).tolist():
        fields = lines[k].split()
        fields[column] = {"1": "2", "2": "1"}[fields[column]]
        lines[k] = " ".join(fields)
    path.write_text("\n".join(lines))


@pytest.mark.real_data
def test_the_tutorial_with_a_planted_resplit(tmp_path):
    source = tutorial_project()
    for name in _COPIED:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, tmp_path / name)
    _flip(tmp_path / R29 / "run_data.star", PLANTED, seed=98)
    earlier, later = (_halves_by_position(tmp_path / job / "run_data.star") for job in (R25, R29))
    assert earlier.keys() == later.keys()  # (Polish kept every coordinate: the oracle's match is exact)
    assert sum(earlier[key] != later[key] for key in later) == PLANTED
    document, said = _audit(tmp_path)
    found = _entries(document)[R29]["resplit"]
    assert {k: found[k] for k in ("from", "particles")} == {"from": R25, "particles": PLANTED}
    assert found["matched"] == len(later) == 4501
    lines = _resplit_lines(said)
    assert len(lines) == 1 and f"{R29}: {PLANTED} of its particles carry another half-set than in {R25}" in lines[0]


@pytest.mark.real_data
def test_the_real_tutorial_resplits_none(tmp_path):
    source = tutorial_project()
    earlier, later = (_halves_by_position(source / job / "run_data.star") for job in (R25, R29))
    assert earlier.keys() == later.keys() and all(earlier[key] == later[key] for key in later)
    document, said = _audit(source)
    assert [j["job"] for j in document["jobs"] if j["resplit"] is not None] == []
    assert _resplit_lines(said) == []
