"""The audit's verdicts follow particle edges only (issue 76 item 1): the RELION 3.1 tutorial's chain of refinements
(Refine3D/job019 -> CtfRefine -> Refine3D/job025 -> Polish -> Refine3D/job029, each refinement's reference an earlier
one's map), copies planted across the half-sets of each refinement in turn. Oracles: the fixture's plain numpy
all-pairs search of the rows as written, the planted copies themselves, and the printed command run as printed."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fixtures.relion_project import MIC_PSIZE, brute_force, pipeline_text
from fixtures.relion_tutorial import JOBS, copied_rows, plant, write_tutorial

CRYODEDUP = str(Path(sys.executable).parent / "cryodedup")
_R19, _R25, _R29 = "Refine3D/job019", "Refine3D/job025", "Refine3D/job029"
_SHINY = "Polish/job028/shiny.star"
_COPIES = 20  # 40 of ~560 particles in a straddling pair: 7 %, far above the 1 % negligible share


def _audit(root: Path, *extra: str) -> tuple[int, dict, str]:
    done = subprocess.run(
        [CRYODEDUP, "audit", str(root), "--json", *extra], capture_output=True, text=True, check=False
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def _star_rows(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The data_particles rows of a STAR file (micrograph index, centre in Å), read by hand."""
    block = path.read_text().split("data_particles")[-1]
    labels = re.findall(r"^_(\w+)", block, re.M)
    rows = [
        line.split() for line in block.splitlines() if line.strip() and not line.lstrip().startswith(("_", "loop_"))
    ]
    column = {label: k for k, label in enumerate(labels)}
    mic = np.array([int(r[column["rlnMicrographName"]].split("_")[-2]) for r in rows])
    x = np.array([float(r[column["rlnCoordinateX"]]) * MIC_PSIZE - float(r[column["rlnOriginXAngst"]]) for r in rows])
    y = np.array([float(r[column["rlnCoordinateY"]]) * MIC_PSIZE - float(r[column["rlnOriginYAngst"]]) for r in rows])
    return mic, np.stack([x, y], axis=1).reshape(-1, 2)


def _pairs_within(mic: np.ndarray, centres: np.ndarray, distance: float) -> int:
    pairs = 0
    for m in np.unique(mic):
        on = centres[mic == m]
        d = np.linalg.norm(on[:, None] - on[None], axis=2)
        pairs += int(np.count_nonzero(np.triu(d <= distance, k=1)))
    return pairs


def _run_as_printed(line: str, stderr: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """The command a redo line ends with, run as printed (the one printed under the table the same)."""
    command = line[line.index(": cryodedup particles ") + 2 :]
    assert f"\n  {command}\n" in stderr  # (printed whole under the table, to be copied)
    words = shlex.split(command)
    assert words[:2] == ["cryodedup", "particles"]
    return subprocess.run([CRYODEDUP, *words[1:]], capture_output=True, text=True, check=False, cwd=tmp_path)


@pytest.mark.parametrize("layout", ["3.1", "4/5"])
def test_the_tutorial_unplanted_has_no_pairs_and_its_lineage_follows_particles(tmp_path, layout):
    root = tmp_path / "tutorial"
    root.mkdir()
    files = write_tutorial(root, layout=layout)
    assert all(brute_force(rows, 50) == (0, 0) for rows in files.values())
    status, audit, _ = _audit(root)
    assert status == 0
    jobs = {j["job"]: j for j in audit["jobs"]}
    assert all(s["duplicate_pairs"] == 0 for j in audit["jobs"] for s in j["sets"])
    assert audit["verdict"]["line"] == f"No duplicates in the {len(files)} particle sets audited"
    # Every input is a parent; only the particle inputs are the particles' lineage (the pipeline's edges by type).
    assert jobs[_R29]["inputs"] == ["Polish/job028", _R25] and jobs[_R29]["particle_inputs"] == ["Polish/job028"]
    assert jobs[_R25]["particle_inputs"] == ["CtfRefine/job024"] and _R19 in jobs[_R25]["inputs"]
    assert jobs["Polish/job028"]["particle_inputs"] == [
        _R25
    ]  # (not Polish/job027's parameters nor the post-processing)
    assert jobs["Select/job013"]["particle_inputs"] == ["Class2D/job012"]  # (through the classification's model.star)
    assert jobs["Class3D/job016"]["particle_inputs"] == ["Select/job013"]  # (not InitialModel/job015's map)
    assert jobs["PostProcess/job030"]["particle_inputs"] == []


def _planted(tmp_path: Path, paths: list[str], count: int = _COPIES):
    root = tmp_path / "tutorial"
    root.mkdir()
    files = plant(root, write_tutorial(root), paths, count)
    for path in paths:  # (the oracle: the copies, and nothing else, within 50 Å; each across the half-sets)
        assert brute_force(files[path], 50) == (count, count)
    return root, files


def _check_redo(tmp_path: Path, line: str, stderr: str, audited: dict, root: Path) -> None:
    """The printed command, run as printed, rejects one row of each counted pair, and the kept set holds none."""
    out = Path(shlex.split(line[line.index(": cryodedup particles ") + 2 :])[-1])
    assert not out.resolve().is_relative_to(root.resolve())  # (a folder outside the project)
    done = _run_as_printed(line, stderr, tmp_path)
    assert done.returncode == 0, done.stderr
    kept_mic, kept = _star_rows(out / "particles_kept.star")
    rejected_mic, _ = _star_rows(out / "particles_rejected.star")
    assert rejected_mic.size == audited["duplicate_pairs"] == _COPIES
    assert kept_mic.size == audited["particles"] - _COPIES and _pairs_within(kept_mic, kept, 50) == 0


def test_copies_across_the_final_refinements_half_sets_ask_to_redo_it(tmp_path):
    # Before: "superseded by Refine3D/job025 (...); nothing to redo", exit 0: job025, its reference, is its ancestor.
    root, _ = _planted(tmp_path, [f"{_R29}/run_data.star"])
    status, audit, stderr = _audit(root)
    jobs = {j["job"]: j for j in audit["jobs"]}
    assert status == 1 and audit["verdict"]["line"] == f"1 refinement to redo: {_R29}"
    assert jobs[_R29]["verdict"] == "redo" and "superseded" not in jobs[_R29]["line"]
    assert jobs[_R29]["entered_at"] == [_R29] and "; duplicates entered here; refine again" in jobs[_R29]["line"]
    assert jobs[_R25]["verdict"] == jobs[_R19]["verdict"] == "clean"
    (audited,) = jobs[_R29]["sets"]
    assert audited["straddling_pairs"] == _COPIES and f"without its {_COPIES} duplicate pairs: " in jobs[_R29]["line"]
    assert jobs[_R29]["line"].endswith(jobs[_R29]["command"])
    _check_redo(tmp_path, jobs[_R29]["line"], stderr, audited, root)


def test_copies_in_the_polished_set_and_the_final_refinement_are_traced_to_polish(tmp_path):
    root, _ = _planted(tmp_path, [_SHINY, f"{_R29}/run_data.star"])
    status, audit, stderr = _audit(root)
    jobs = {j["job"]: j for j in audit["jobs"]}
    assert status == 1 and audit["verdict"]["line"] == f"1 refinement to redo: {_R29}"
    assert jobs["Polish/job028"]["verdict"] == "entered"
    assert (
        jobs[_R29]["verdict"] == "redo" and "; duplicates entered at Polish/job028; refine again" in jobs[_R29]["line"]
    )
    assert jobs[_R25]["verdict"] == "clean"
    _check_redo(tmp_path, jobs[_R29]["line"], stderr, jobs[_R29]["sets"][0], root)


@pytest.mark.parametrize(("planted", "later"), [(_R19, _R25), (_R25, _R29)])
def test_an_earlier_refinement_is_superseded_by_its_later_clean_descendant(tmp_path, planted, later):
    # Before: job025 was "superseded by Refine3D/job019", its reference's refinement (an ancestor); now by job029.
    root, _ = _planted(tmp_path, [f"{planted}/run_data.star"])
    status, audit, _ = _audit(root)
    jobs = {j["job"]: j for j in audit["jobs"]}
    assert status == 0 and jobs[later]["verdict"] == "clean"
    assert jobs[planted]["verdict"] == "superseded"
    assert f": superseded by {later} (a later refinement of a descendant of its particles" in jobs[planted]["line"]
    assert (
        audit["verdict"]["line"]
        == "No refinement to redo; refinements with pairs across the half-sets: 1 superseded by a later one"
    )


def test_copies_carried_down_the_chain_ask_to_redo_the_last_refinement_only(tmp_path):
    # The copies in job025 carried through Polish into job029: no later refinement is clean, none supersedes; redoing
    # job029 (a later refinement of job025's particles) clears job025 too, so job029 alone is to redo.
    root, _ = _planted(tmp_path, [f"{_R25}/run_data.star", _SHINY, f"{_R29}/run_data.star"])
    status, audit, _ = _audit(root)
    jobs = {j["job"]: j for j in audit["jobs"]}
    assert status == 1 and jobs[_R29]["verdict"] == "redo" and jobs[_R25]["verdict"] == "carried"
    assert jobs[_R19]["verdict"] == "clean"
    assert audit["verdict"]["line"] == f"1 refinement to redo: {_R29}; redoing it clears {_R25}"
    assert "entered at Refine3D/job025" in jobs[_R29]["line"]


def test_a_few_copies_in_the_final_refinement_are_negligible(tmp_path):
    root, files = _planted(tmp_path, [f"{_R29}/run_data.star"], count=2)
    assert 100 * 4 / len(files[f"{_R29}/run_data.star"]) < 1
    status, audit, _ = _audit(root)
    jobs = {j["job"]: j for j in audit["jobs"]}
    assert status == 0 and jobs[_R29]["verdict"] == "negligible"
    assert (
        audit["verdict"]["line"] == "No refinement to redo; refinements with pairs across the half-sets: 1 negligible"
    )


@pytest.mark.parametrize("status_code", ["0", "1"])
def test_the_final_refinement_running_or_not_run_after_a_refinement_with_copies(tmp_path, status_code):
    # Copies in job025, carried into Polish/job028's shiny.star; job029 running (0) or scheduled (1), nothing written.
    # Before: job025 "superseded by Refine3D/job019" (its reference's refinement), and job029 said to run on
    # job025's set (its reference map read as particles).
    root, _ = _planted(tmp_path, [f"{_R25}/run_data.star", _SHINY])
    (root / f"{_R29}/run_data.star").unlink()
    pipeline = pipeline_text("3.1", JOBS)
    pipeline, found = re.subn(rf"({_R29}/\s+None\s+10)\s+2 ", rf"\1 {status_code} ", pipeline)
    assert found == 1
    (root / "default_pipeline.star").write_text(pipeline)
    status, audit, _ = _audit(root)
    jobs = {j["job"]: j for j in audit["jobs"]}
    assert status == 1 and jobs[_R25]["verdict"] == "redo" and jobs["Polish/job028"]["verdict"] == "inherited"
    if status_code == "0":  # (running)
        assert jobs[_R29]["verdict"] == "running"
        held = f"running on a set that holds duplicates: Polish/job028 ({_COPIES} duplicate pairs within 50 Å); its"
        assert held in jobs[_R29]["line"]
        assert audit["verdict"]["line"] == f"1 refinement to redo: {_R25}; running on duplicates: {_R29}"
    else:  # (scheduled)
        assert jobs[_R29]["verdict"] == "not run"
        assert audit["verdict"]["line"] == f"1 refinement to redo: {_R25}"


@pytest.mark.parametrize("option", ["--min-dist", "--max-angle", "--negligible"])
def test_nan_is_refused_in_one_line(tmp_path, option):
    root = tmp_path / "tutorial"
    root.mkdir()
    write_tutorial(root)
    done = subprocess.run([CRYODEDUP, "audit", str(root), option, "nan"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith(f"Error: Invalid value for '{option}': 'nan' is not a number")


def test_copies_of_one_image_at_another_centre_ask_to_redo_with_a_command_that_rejects_them(tmp_path):
    # Each copy names its original's particle image (one image refined to two centres 12 Å apart, in both halves).
    root, files = _planted(tmp_path, [f"{_R29}/run_data.star"])
    path = root / f"{_R29}/run_data.star"
    rows = files[f"{_R29}/run_data.star"]
    originals = copied_rows(len(rows) - _COPIES, _COPIES)
    assert originals.size == _COPIES
    text = path.read_text()
    for k, original in enumerate(originals):
        text = text.replace(f"{900000 + k:06d}@Refine3D/copies.mrcs", rows.image[original])
    path.write_text(text)
    status, audit, stderr = _audit(root)
    job = {j["job"]: j for j in audit["jobs"]}[_R29]
    assert status == 1 and job["verdict"] == "redo" and "--same-image reject" in job["command"]
    out = Path(shlex.split(job["command"])[-1])
    done = _run_as_printed(job["line"], stderr, tmp_path)
    assert done.returncode == 0, done.stderr
    kept_mic, kept = _star_rows(out / "particles_kept.star")
    assert kept_mic.size == len(rows) - _COPIES and _pairs_within(kept_mic, kept, 50) == 0
    images = re.findall(r"\d{6}@\S+", (out / "particles_kept.star").read_text())
    assert len(images) == len(set(images)) == len(rows) - _COPIES


@pytest.mark.parametrize("record", ["job.star", "note.txt"])
def test_a_damaged_record_beside_the_final_refinements_copies_is_named_and_the_redo_kept(tmp_path, record):
    # Before: the job's verdict was "damaged" alone, its 20 pairs across the half-sets unsaid, exit 0, the headline
    # "No duplicates in the 13 particle sets audited" (a new user's trial: a FIFO job.star or note.txt in job029).
    root, _ = _planted(tmp_path, [f"{_R29}/run_data.star"])
    path = root / _R29 / record
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    status, audit, stderr = _audit(root)
    jobs = {j["job"]: j for j in audit["jobs"]}
    assert status == 1 and audit["verdict"]["line"] == f"1 refinement to redo: {_R29}; 1 damaged (named below)"
    line = jobs[_R29]["line"]
    assert jobs[_R29]["verdict"] == "redo" and f"{record}: is a named pipe (FIFO)" in line
    assert "(its particles audited all the same)" in line and line.endswith(jobs[_R29]["command"])
    assert jobs[_R29]["sets"][0]["straddling_pairs"] == _COPIES
    _check_redo(tmp_path, line, stderr, jobs[_R29]["sets"][0], root)


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_pipeline_that_is_no_regular_file_is_named_as_such(tmp_path, kind):
    # Before: "no default_pipeline.star (RELION) and no J*/job.json (CryoSPARC)", while the file is there (a trial).
    root = tmp_path / "tutorial"
    root.mkdir()
    write_tutorial(root)
    pipeline = root / "default_pipeline.star"
    pipeline.unlink()
    if kind == "fifo":
        os.mkfifo(pipeline)
    else:
        pipeline.symlink_to("/dev/zero")
    done = subprocess.run([CRYODEDUP, "audit", str(root)], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.strip()]
    said = "is a named pipe (FIFO)" if kind == "fifo" else "is a device"
    assert "default_pipeline.star" in line and said in line and "no default_pipeline.star" not in line
