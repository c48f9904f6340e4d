"""``cryodedup audit`` on a CryoSPARC project folder read from disk (issue 68 item 2): job.json files as CryoSPARC
writes them, particles written with cryosparc-tools' Dataset, counts against a plain numpy all-pairs brute force."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cryodedup.jobs.audit.stages import audit_project
from fixtures.cryosparc_project import brute_force, write_project

pytest.importorskip("cryosparc.dataset")
CRYODEDUP = str(Path(sys.executable).parent / "cryodedup")


def test_the_planted_pairs_are_found_in_the_jobs_that_hold_them_and_traced_to_the_joined_classification(tmp_path):
    sets = write_project(tmp_path)
    before = sorted((str(p), p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    command = [CRYODEDUP, "audit", str(tmp_path), "--json", "-q"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stderr
    audit = json.loads(done.stdout)
    assert audit["layout"] == "CryoSPARC 4"
    assert [j["job"] for j in audit["jobs"]] == [f"J{k}" for k in range(1, 16)]  # every job listed
    jobs = {j["job"]: j for j in audit["jobs"]}
    assert jobs["J12"]["inputs"] == ["J10", "J11"] and jobs["J12"]["type"] == "class_2D"
    assert jobs["J14"]["particle_sets"] == {
        "J14/particles": ["J14/cryosparc_P1_J14_008_particles.cs", "J14/J14_passthrough_particles.cs"]
    }
    for name, rows in sets.items():
        job = jobs[name.split("/")[0]]
        (found,) = job["sets"]
        assert found["file"] == name
        pairs, straddling = brute_force(rows, found["min_dist_A"])
        assert (found["particles"], found["duplicate_pairs"], found["straddling_pairs"]) == (
            len(rows),
            pairs,
            straddling,
        )
        assert found["min_dist_A"] == 50  # a quarter of the 200 Å circular mask of the 2D classifications
        assert job["entered_at"] == (["J12"] if pairs else [])
        assert job["verdict"] == ("clean" if not pairs else "entered" if name.startswith("J12") else job["verdict"])
    refined = jobs["J14"]["sets"][0]
    assert refined["halfsets"] == "alignments3D/split" and refined["straddling_pairs"] > 0
    assert audit["lines"][0].startswith(
        f"J14 (homo_refine_new): {refined['straddling_pairs']} pairs within 50 Å straddle"
    )
    assert "; duplicates entered at J12; refine again the set this writes" in audit["lines"][0]
    assert jobs["J15"]["verdict"] == "clean"
    assert sorted((str(p), p.stat().st_mtime_ns) for p in tmp_path.rglob("*")) == before


def test_damaged_cryosparc_jobs_are_named_one_line_each_and_the_rest_audited(tmp_path):
    write_project(tmp_path)
    (tmp_path / "J9" / "job.json").write_text("{not json")
    (tmp_path / "J10" / "J10_passthrough_particles_selected.cs").write_bytes(b"garbage")
    document = json.loads((tmp_path / "J6" / "job.json").read_text())
    document["parents"] = ["J3", "J4", "J14", "J99"]  # a cycle through J14, and a parent with no folder
    (tmp_path / "J6" / "job.json").write_text(json.dumps(document))
    audit = audit_project(tmp_path)
    lines = audit.lines()
    (j9,) = [line for line in lines if line.startswith("J9: ")]
    assert "job.json: not valid JSON" in j9
    (j10,) = [line for line in lines if line.startswith("J10 ")]  # (its type kept: its job.json was read)
    assert j10.startswith(f"J10 ({json.loads((tmp_path / 'J10' / 'job.json').read_text())['type']}): ")
    assert "J10/particles_selected could not be read" in j10
    assert "J99: a parent of J6, its folder is missing" in lines
    (cycle,) = [line for line in lines if "cycle" in line]
    assert "J6" in cycle and "J14" in cycle
    verdicts = {j.job.name: j.verdict for j in audit.jobs}
    assert verdicts["J14"] == "redo" and verdicts["J12"] == "entered" and verdicts["J15"] == "clean"


def test_a_cryosparc_job_folder_or_its_job_json_points_to_the_project(tmp_path):
    write_project(tmp_path)
    for given in (tmp_path / "J14", tmp_path / "J14" / "job.json"):
        done = subprocess.run([CRYODEDUP, "audit", str(given)], capture_output=True, text=True, check=False)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert f"project's folder seems to be {tmp_path}" in " ".join(done.stderr.split()), done.stderr


def test_a_job_json_without_its_outputs_list_says_what_is_missing(tmp_path):
    # Issue 97: job.json files without "output_result_groups" gave "Nothing could be audited" without saying what
    # was missing. Each is named damaged, with the field it lacks.
    write_project(tmp_path)
    for path in tmp_path.glob("J*/job.json"):
        document = json.loads(path.read_text())
        del document["output_result_groups"]
        path.write_text(json.dumps(document))
    command = [CRYODEDUP, "audit", str(tmp_path), "--json", "-q"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    audit = json.loads(done.stdout)
    assert done.returncode == 2 and audit["verdict"]["line"].startswith("Nothing could be audited")
    assert "15 damaged" in audit["verdict"]["line"]
    j14 = {j["job"]: j for j in audit["jobs"]}["J14"]
    assert j14["verdict"] == "damaged"
    assert j14["problems"] == ['J14: job.json has no "output_result_groups" (its outputs\' list): its particle '
                               "outputs cannot be found"]  # fmt: skip
