"""What the audit says beside its counts (issue 88, items 5 and 8): warnings that could change a verdict on the
terminal, in the headline and in report.html; the commands under the table there too; a command for every job where
duplicates entered; a job folder's snapshot pipeline; a project of which nothing was understood. Oracles: the planted
copies (the fixtures' plain numpy all-pairs search), and the commands run as printed."""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.relion_project import brute_force
from fixtures.relion_project import write_project as write_joined_project
from fixtures.relion_tutorial import plant, write_tutorial

BIN = Path(sys.executable).parent
_R29 = "Refine3D/job029"


def _audit(root: Path, *extra: str, columns: str = "200") -> tuple[int, dict, str]:
    done = subprocess.run(
        [str(BIN / "cryodedup"), "audit", str(root), "--json", *extra],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": columns},
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout) if done.stdout else {}, done.stderr


def _second_folder(tmp_path: Path) -> Path:
    """The tutorial with 60 copies across job029's half-sets whose micrographs are named under a second
    motion-correction folder (the same movies processed twice, then joined)."""
    root = tmp_path / "tutorial"
    root.mkdir()
    files = plant(root, write_tutorial(root), [f"{_R29}/run_data.star"], 60)
    assert brute_force(files[f"{_R29}/run_data.star"], 50) == (60, 60)
    path = root / _R29 / "run_data.star"
    lines = path.read_text().split("\n")
    moved = [
        line.replace("MotionCorr/job002/", "MotionCorr/job099/") if "@Refine3D/copies" in line else line
        for line in lines
    ]
    assert sum(a != b for a, b in zip(lines, moved)) == 60
    path.write_text("\n".join(moved))
    return root


def test_micrographs_in_two_folders_are_said_where_they_could_hide_copies(tmp_path):
    # Before: "No duplicates in the 17 particle sets audited", exit 0; the warning only in --json.
    root = _second_folder(tmp_path)
    status, audit, stderr = _audit(root, "--plot", str(tmp_path / "report"))
    headline = audit["verdict"]["line"]
    assert "duplicates may be hidden in Refine3D/job029" in headline and "in two folders" in headline
    assert stderr.startswith(headline)  # (the terminal opens with it)
    warnings = [w for j in audit["jobs"] for w in j["warnings"]]
    assert any("is in 2 folders" in w for w in warnings) and f"{len(warnings)} warning" in headline
    said = " ".join(stderr.split())
    assert "│ Warning │" in said and "is in 2 folders" in said  # (a row of the table, not only --json)
    page = html.unescape(re.sub(r"<[^>]+>", "", (tmp_path / "report/report.html").read_text()))
    assert " ".join(headline.split()) in " ".join(page.split()) and "is in 2 folders" in page
    assert status == 0  # (the headline says so; nothing is known to redo)
    # The flip: the copies on the first folder's micrographs are counted, and job029 is to redo.
    path = root / _R29 / "run_data.star"
    path.write_text(path.read_text().replace("MotionCorr/job099/", "MotionCorr/job002/"))
    status, audit, _ = _audit(root)
    assert status == 1 and "hidden" not in audit["verdict"]["line"]
    assert {j["job"]: j for j in audit["jobs"]}[_R29]["sets"][0]["straddling_pairs"] == 60


def test_a_pixel_size_assumed_is_a_warning_on_the_terminal_and_counted(tmp_path):
    # The micrographs STAR upstream gone: every set's micrograph pixel size is taken from the movies' (unbinned?).
    root = tmp_path / "tutorial"
    root.mkdir()
    write_tutorial(root)
    status, audit, _ = _audit(root)
    assert status == 0 and audit["verdict"]["line"] == "No duplicates in the 13 particle sets audited"
    (root / "CtfFind/job003/micrographs_ctf.star").unlink()
    status, audit, stderr = _audit(root)
    warned = [j["job"] for j in audit["jobs"] if any("rlnMicrographOriginalPixelSize" in w for w in j["warnings"])]
    assert (
        len(warned) == 13
        and audit["verdict"]["line"] == "No duplicates in the 13 particle sets audited; 13 warnings (below)"
    )
    assert " ".join(stderr.split()).count("│ Warning │") == 13 and status == 0


def test_the_commands_under_the_table_are_under_it_in_report_html_too(tmp_path):
    # Before: report.html said "the command under the table" with no command under it (only in SVG tooltips).
    project = tmp_path / "project"
    project.mkdir()
    write_joined_project(project)
    status, audit, _ = _audit(project, "--plot", str(tmp_path / "report"))
    page = (tmp_path / "report/report.html").read_text()
    table, _, under = page.partition("</table>")
    assert status == 1 and "the command under the table" in table
    commands = [j["command"] for j in audit["jobs"] if j["command"]]
    assert len(commands) == 2
    for command in commands:
        assert f"<pre>{html.escape(command)}</pre>" in under


def test_the_job_where_duplicates_entered_gets_a_command_that_removes_them(tmp_path):
    # Before: "duplicates entered here; deduplicate its particles", and no command.
    project = tmp_path / "project"
    project.mkdir()
    files = write_joined_project(project)
    status, audit, stderr = _audit(project)
    assert status == 1  # (Refine3D/job017, of the joined set, is to redo)
    joined = {j["job"]: j for j in audit["jobs"]}["JoinStar/job014"]
    assert joined["verdict"] == "entered" and joined["line"].endswith(f"deduplicate its particles: {joined['command']}")
    assert f"To deduplicate JoinStar/job014's particles:\n  {joined['command']}\n" in stderr
    words = shlex.split(joined["command"])
    done = subprocess.run(
        [str(BIN / "cryodedup"), *words[1:], "--json", "-q"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    pairs = joined["sets"][0]["duplicate_pairs"]
    assert (
        json.loads(done.stdout)["rejected"] == pairs == brute_force(files["JoinStar/job014/join_particles.star"], 50)[0]
    )


def test_a_job_folder_holding_relions_snapshot_pipeline_points_to_the_project(tmp_path):
    # Before: the job folder was read as the project ("29 damaged").
    root = tmp_path / "tutorial"
    root.mkdir()
    write_tutorial(root)
    shutil.copy(root / "default_pipeline.star", root / _R29 / "default_pipeline.star")
    status, _, stderr = _audit(root / _R29)
    said = " ".join(stderr.split())
    assert status == 2 and f"the project's folder seems to be {root}" in said and "job's folder" in said
    assert "RELION's snapshot" in said
    # A job folder without the snapshot: pointed to the project, with no word of a file it does not hold.
    (root / _R29 / "default_pipeline.star").unlink()
    status, _, stderr = _audit(root / _R29)
    said = " ".join(stderr.split())
    assert status == 2 and f"the project's folder seems to be {root}" in said and "snapshot" not in said


def test_a_file_in_a_job_folder_points_to_the_project_and_the_advice_runs_as_printed(tmp_path):
    # Before (a new user's trial): run_data.star or the snapshot itself named Refine3D/job029 as the project, whose
    # audit then said it was a job's folder. Oracle: the folder written as the project, and the advice followed.
    root = tmp_path / "tutorial"
    root.mkdir()
    write_tutorial(root)
    shutil.copy(root / "default_pipeline.star", root / _R29 / "default_pipeline.star")
    for given in (root / _R29 / "run_data.star", root / _R29 / "default_pipeline.star"):
        status, _, stderr = _audit(given)
        said = " ".join(stderr.split())
        (folder,) = re.findall(r"the project's folder seems to be (\S+)", said)
        assert status == 2 and Path(folder.rstrip(".")) == root, said
        status, document, stderr = _audit(Path(folder.rstrip(".")))
        assert status == 0 and document["jobs"] and "No duplicates in the 13 particle sets audited" in stderr, stderr


def test_a_cryosparc_5_project_whose_outputs_are_not_understood_is_not_audited(tmp_path):
    # Before: "No duplicates in the 0 particle sets audited", exit 0.
    pytest.importorskip("cryosparc.models.job_spec")
    from fixtures.cryosparc_project import write_project as write_cryosparc

    write_cryosparc(tmp_path, shape="5")
    status, audit, _ = _audit(tmp_path)
    assert status == 1 and audit["layout"] == "CryoSPARC 5"
    for document in tmp_path.glob("J*/job.json"):  # (outputs as a list: a shape the reader does not know)
        job = json.loads(document.read_text())
        job["spec"]["outputs"] = [{"name": name, **output} for name, output in job["spec"]["outputs"].items()]
        document.write_text(json.dumps(job))
    status, audit, stderr = _audit(tmp_path)
    assert status == 2 and audit["verdict"]["line"].startswith("Nothing could be audited: no job holds a particle set")
    assert "No duplicates" not in stderr
