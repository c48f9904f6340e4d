"""The audit's CryoSPARC lineage by particle inputs (issue 76 item 1) and CryoSPARC 5's job documents (issue 78 item 8).

job.json written as CryoSPARC 4 writes it (cryosparc-tools 4's ``JobDocument``: ``input_slot_groups``) and as
CryoSPARC 5 does (cryosparc-tools 5's ``Job`` model, made and serialised by cryosparc-tools itself: ``spec``). The
chains CryoSPARC users run: homogeneous -> non-uniform -> local refinement, a refinement of a re-extraction, a
refinement whose initial volume came from ab initio or from another refinement. Oracles: the fixture's numpy all-pairs
search of the rows as written, and the printed command run as printed."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.cryosparc_project import brute_force, plant, write_chains, write_project

pytest.importorskip("cryosparc.models.job")
CRYODEDUP = str(Path(sys.executable).parent / "cryodedup")
SHAPES = {"4": "CryoSPARC 4 job.json", "5": "CryoSPARC 5 job.json (spec)"}
_COPIES = 15  # 30 of ~430 particles: 7 %, far above the 1 % negligible share


def _project(tmp_path: Path, shape: str) -> tuple[Path, dict]:
    root = tmp_path / "P1"
    sets = write_project(root, shape=shape)
    return root, sets | write_chains(root, sets, shape)


def _audit(root: Path) -> tuple[int, dict, dict, str]:
    done = subprocess.run([CRYODEDUP, "audit", str(root), "--json"], capture_output=True, text=True, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    audit = json.loads(done.stdout)
    return done.returncode, audit, {j["job"]: j for j in audit["jobs"]}, done.stderr


@pytest.mark.parametrize("shape", ["4", "5"])
def test_each_shape_is_read_and_said_and_the_lineage_follows_particle_inputs(tmp_path, shape):
    root, sets = _project(tmp_path, shape)
    status, audit, jobs, _ = _audit(root)
    assert audit["layout"] == f"CryoSPARC {shape}"
    assert {j["read_as"] for j in audit["jobs"]} == {SHAPES[shape]}
    for name, rows in sets.items():  # (every set found, counted as the brute force counts)
        (found,) = jobs[name.split("/")[0]]["sets"]
        assert found["file"] == name
        assert (found["particles"], found["duplicate_pairs"], found["straddling_pairs"]) == (
            len(rows),
            *brute_force(rows, 50),
        )
    assert jobs["J19"]["type"] == "nonuniform_refine_new" and jobs["J20"]["type"] == "new_local_refine"
    assert jobs["J17"]["inputs"] == ["J13", "J16"] and jobs["J17"]["particle_inputs"] == ["J13"]
    assert jobs["J22"]["inputs"] == ["J21", "J19"] and jobs["J22"]["particle_inputs"] == ["J21"]
    assert jobs["J21"]["particle_inputs"] == ["J15"]  # (not J3's micrographs)
    assert jobs["J10"]["particle_inputs"] == ["J8"]  # (its templates input names J8 too: one parent)
    # The clean chains, unplanted: no pairs anywhere in them.
    for uid in ("J15", "J16", "J19", "J20", "J21", "J22"):
        assert jobs[uid]["sets"][0]["duplicate_pairs"] == 0 and jobs[uid]["verdict"] == "clean"
    # J17 and J18 refine J13's set, duplicates and all: not excused by the jobs that gave their initial volumes.
    assert status == 1 and {jobs[uid]["verdict"] for uid in ("J14", "J17", "J18")} == {"redo"}
    assert (
        audit["verdict"]["line"]
        == "3 refinements to redo: J14 (homo_refine_new), J17 (homo_refine_new), J18 (homo_refine_new)"
    )
    for uid in ("J17", "J18"):
        line = jobs[uid]["line"]
        assert "superseded" not in line and "J16" not in line and "J15" not in line
        assert "; duplicates entered at J12; refine again the set this writes" in line


@pytest.mark.parametrize("shape", ["4", "5"])
def test_copies_in_the_local_refinement_ask_to_redo_it_and_its_command_removes_them(tmp_path, shape):
    # Before: "superseded by J19" (the non-uniform refinement it refined), exit as if nothing were to redo.
    root, sets = _project(tmp_path, shape)
    planted = plant(root, "J20", sets["J20/particles"], _COPIES)
    assert brute_force(planted, 50) == (_COPIES, _COPIES)
    _, audit, jobs, stderr = _audit(root)
    assert jobs["J20"]["verdict"] == "redo" and jobs["J20"]["entered_at"] == ["J20"]
    assert "J20 (new_local_refine)" in audit["verdict"]["line"]
    (audited,) = jobs["J20"]["sets"]
    assert audited["duplicate_pairs"] == audited["straddling_pairs"] == _COPIES
    command = jobs["J20"]["command"]
    assert jobs["J20"]["line"].endswith(command) and f"\n  {command}\n" in stderr
    words = shlex.split(command)
    assert words[:2] == ["cryodedup", "particles"] and words[2:4] == [
        str(root / "J20/cryosparc_P1_J20_008_particles.cs"),
        str(root / "J20/J20_passthrough_particles.cs"),
    ]
    out = Path(words[-1])
    assert not out.is_relative_to(root)
    done = subprocess.run([CRYODEDUP, *words[1:], "--json", "-q"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rejected"] == _COPIES and summary["kept"] == len(planted) - _COPIES


@pytest.mark.parametrize("shape", ["4", "5"])
def test_copies_in_the_non_uniform_refinement_are_superseded_by_its_local_refinement(tmp_path, shape):
    # Before: "superseded by J15", the homogeneous refinement it started from (its ancestor).
    root, sets = _project(tmp_path, shape)
    plant(root, "J19", sets["J19/particles"], _COPIES)
    _, _, jobs, _ = _audit(root)
    assert jobs["J19"]["verdict"] == "superseded"
    assert (
        ": superseded by J20 (new_local_refine) (a later refinement of a descendant of its particles"
        in (jobs["J19"]["line"])
    )


@pytest.mark.parametrize("shape", ["4", "5"])
def test_a_refinement_of_a_re_extraction_is_not_excused_by_the_refinement_that_gave_its_volume(tmp_path, shape):
    root, sets = _project(tmp_path, shape)
    plant(root, "J22", sets["J22/particles"], _COPIES)
    _, _, jobs, _ = _audit(root)
    assert jobs["J22"]["verdict"] == "redo" and "; duplicates entered here; refine again" in jobs["J22"]["line"]
    # The copies in the re-extraction: entered there, the refinement of it to redo.
    plant(root, "J21", sets["J21/particles"], _COPIES)
    _, _, jobs, _ = _audit(root)
    assert jobs["J21"]["verdict"] == "entered" and jobs["J22"]["verdict"] == "redo"
    assert "; duplicates entered at J21; refine again" in jobs["J22"]["line"]


@pytest.mark.parametrize("shape", ["4", "5"])
def test_a_later_refinement_is_later_by_its_start_time_over_its_job_number(tmp_path, shape):
    # J20 (local) and J22 are numbered after J19; given start times before J19's, neither ran after it.
    root, sets = _project(tmp_path, shape)
    plant(root, "J19", sets["J19/particles"], _COPIES)

    def started_before_j19(uid: str) -> None:
        path = root / uid / "job.json"
        document = json.loads(path.read_text())
        document["started_at"] = "2024-05-01T10:30:00Z"  # (J19 started at 2024-05-01T10:00:00Z + 19 h)
        path.write_text(json.dumps(document))

    started_before_j19("J20")
    _, _, jobs, _ = _audit(root)
    assert jobs["J19"]["verdict"] == "superseded" and ": superseded by J22 (homo_refine_new) (" in jobs["J19"]["line"]
    started_before_j19("J22")
    status, audit, jobs, _ = _audit(root)
    assert (
        status == 1 and jobs["J19"]["verdict"] == "redo" and "J19 (nonuniform_refine_new)" in audit["verdict"]["line"]
    )


@pytest.mark.parametrize("shape", ["4", "5"])
def test_a_particle_connection_without_its_job_is_named_one_line(tmp_path, shape):
    root, _ = _project(tmp_path, shape)
    path = root / "J20" / "job.json"
    document = json.loads(path.read_text())
    groups = document["spec"]["inputs"].values() if shape == "5" else document["input_slot_groups"]
    next(g for g in groups if g["type"] == "particle")["connections"][0].pop("job_uid")
    path.write_text(json.dumps(document))
    _, audit, jobs, _ = _audit(root)
    field = "spec.inputs" if shape == "5" else "input_slot_groups"
    (line,) = [line for line in audit["lines"] if line.startswith("J20: ")]
    assert line == f'J20: {path}: {field} particles: a connection without its "job_uid"'
    assert jobs["J20"]["verdict"] == "damaged"
