"""``cryodedup audit``'s verdicts beyond the planted pairs (issue 68's trial): a refinement superseded by a later one
of its particles deduplicated, straddling pairs too few to matter, a refinement running on duplicates, an input
that could not be read, and the exit statuses. Oracles: a plain numpy all-pairs search of the rows as written."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from cryodedup.jobs.audit.stages import audit_project
from fixtures.relion_project import JOBS, MIC_PSIZE, Rows, brute_force, pipeline_text, write_particles, write_project

CRYODEDUP = str(Path(sys.executable).parent / "cryodedup")
_REFINED = "Refine3D/job017/run_data.star"
_P = ("3", "ParticleGroupMetadata.star.relion")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CRYODEDUP, "audit", *args], capture_output=True, text=True, check=False)


def _close_pairs(rows: Rows, min_dist: float) -> list[tuple[int, int]]:
    """Every pair of rows (i < j) of one micrograph whose centres lie within ``min_dist`` Å: all pairs, by hand."""
    centres = np.stack([rows.x * MIC_PSIZE - rows.ox, rows.y * MIC_PSIZE - rows.oy], axis=1)
    found = []
    for i in range(len(rows)):
        near = np.linalg.norm(centres[i + 1 :] - centres[i], axis=1) <= min_dist
        same = rows.mic[i + 1 :] == rows.mic[i]
        found += [(i, i + 1 + int(j)) for j in np.flatnonzero(near & same)]
    return found


def _without(rows: Rows, drop: set[int]) -> Rows:
    return rows.take(np.array([k for k in range(len(rows)) if k not in drop]))


def _with_jobs(root: Path, extra: list, layout: str = "3.1") -> None:
    (root / "default_pipeline.star").write_text(pipeline_text(layout, [*JOBS, *extra]))


def test_a_refinement_whose_duplicates_a_later_refinement_removed_is_superseded(tmp_path):
    # As the tutorial: Refine3D/job017 refined the joined set (pairs across its halves); Select/job022 removed the
    # duplicates of its particles (RELION's Select, remove duplicates) and Refine3D/job023 refined the kept set.
    files = write_project(tmp_path)
    refined = files[_REFINED]
    kept = _without(refined, {j for _, j in _close_pairs(refined, 50)})
    assert brute_force(kept, 50) == (0, 0) and brute_force(refined, 50)[1] > 0
    write_particles(tmp_path / "Select/job022/particles.star", kept)
    write_particles(tmp_path / "Refine3D/job023/run_data.star", kept)
    extra = [
        ("Select/job022", 7, "relion.select.removeduplicates", [_REFINED], [("particles.star", _P)]),
        ("Refine3D/job023", 9, "relion.refine3d", ["Select/job022/particles.star"], [("run_data.star", _P)]),
    ]
    _with_jobs(tmp_path, extra)
    audit = audit_project(tmp_path)
    jobs = {j.job.name: j for j in audit.jobs}
    assert jobs["Refine3D/job023"].verdict == "clean"
    assert jobs["Refine3D/job017"].verdict == "superseded"
    assert "superseded by Refine3D/job023" in jobs["Refine3D/job017"].line
    assert jobs["Refine3D/job017"].line.endswith("whose half-sets share none); nothing to redo")
    assert audit.exit_status == 0
    assert _cli(str(tmp_path), "--quiet").returncode == 0
    # A later refinement of the same set, duplicates and all, supersedes nothing: it is the one to redo, and redoing
    # it clears job017 (carried).
    write_particles(tmp_path / "Refine3D/job023/run_data.star", refined)
    jobs = {j.job.name: j for j in audit_project(tmp_path).jobs}
    assert jobs["Refine3D/job017"].verdict == "carried" and jobs["Refine3D/job023"].verdict == "redo"
    assert _cli(str(tmp_path), "--quiet").returncode == 1


def test_straddling_pairs_under_the_negligible_share_ask_no_redo(tmp_path):
    # Refine3D/job017 with a single pair left across its halves (2 particles of ~650: 0.3 %, under the 1 % default).
    files = write_project(tmp_path)
    refined = files[_REFINED]
    pairs = _close_pairs(refined, 50)
    straddling = [(i, j) for i, j in pairs if refined.subset[i] != refined.subset[j]]
    one_left = _without(refined, {j for i, j in pairs if (i, j) != straddling[0]})
    assert brute_force(one_left, 50) == (1, 1)
    share = 100 * 2 / len(one_left)
    assert share < 1
    write_particles(tmp_path / _REFINED, one_left)
    jobs = {j.job.name: j for j in audit_project(tmp_path).jobs}
    assert jobs["Refine3D/job017"].verdict == "negligible" and "negligible" in jobs["Refine3D/job017"].line
    assert _cli(str(tmp_path), "--quiet").returncode == 0
    assert _cli(str(tmp_path), "--quiet", "--negligible", f"{share * 1.01}").returncode == 0
    assert _cli(str(tmp_path), "--quiet", "--negligible", f"{share * 0.99}").returncode == 1


def test_a_refinement_running_on_a_set_with_duplicates_is_warned_of(tmp_path):
    write_project(tmp_path, "4/5")
    (tmp_path / _REFINED).unlink()
    (tmp_path / "Refine3D/job017/run_it003_data.star").write_text("")  # (RELION writes each iteration's)
    pipeline = pipeline_text("4/5")
    pipeline = pipeline.replace(
        "Refine3D/job017/       None relion.refine3d Succeeded", "Refine3D/job017/       None relion.refine3d Running"
    )
    assert "Running" in pipeline
    (tmp_path / "default_pipeline.star").write_text(pipeline)
    audit = audit_project(tmp_path)
    jobs = {j.job.name: j for j in audit.jobs}
    assert jobs["Refine3D/job017"].verdict == "running"
    assert "running on a set that holds duplicates: Select/job016" in jobs["Refine3D/job017"].line
    assert "abort" in jobs["Refine3D/job017"].line and "Refine3D/job017" in audit.judged().line


def test_duplicates_behind_an_input_that_could_not_be_read_entered_there_or_before(tmp_path):
    write_project(tmp_path)
    path = tmp_path / "Select/job016/particles.star"
    path.write_text(path.read_text()[:-200])  # (cut: its last row short)
    jobs = {j.job.name: j for j in audit_project(tmp_path).jobs}
    assert jobs["Select/job016"].verdict == "damaged"
    assert jobs["Refine3D/job017"].verdict == "redo"
    assert "; duplicates entered at Select/job016 or before it (Select/job016 not audited); refine again" in (
        jobs["Refine3D/job017"].line
    )
    assert "entered here" not in jobs["Refine3D/job017"].line


def test_usage_and_output_errors_exit_2_and_a_project_unread_is_not_clean(tmp_path):
    project, out = tmp_path / "project", tmp_path / "out"
    project.mkdir()
    write_project(project)
    assert _cli(str(project), "--plot", str(out), "--quiet").returncode == 1
    again = _cli(str(project), "--plot", str(out), "--quiet")
    assert again.returncode == 2 and "report.html" in again.stderr
    (tmp_path / "file").write_text("")
    unwritable = _cli(str(project), "--plot", str(tmp_path / "file" / "report"), "--quiet")
    assert unwritable.returncode == 2 and "Traceback" not in unwritable.stderr
    for path in project.rglob("*.star"):
        if path.name != "default_pipeline.star" and path.parent.name != "job002":
            path.write_text("data_particles\nloop_\n_rlnCoordinateX #1\n1 2 3\n")
    done = _cli(str(project))
    assert done.returncode == 2 and "Nothing could be audited" in done.stderr


def test_a_moved_project_whose_pipeline_holds_absolute_paths_reads_its_own_files(tmp_path):
    old, moved = tmp_path / "old", tmp_path / "moved"
    old.mkdir()
    write_project(old)
    expected = audit_project(old).lines()
    pipeline = old / "default_pipeline.star"
    text = re.sub(r"(?<![\w/])(\w+/job\d{3}/[\w.]+\.\w+)", lambda m: f"{old}/{m.group(1)}", pipeline.read_text())
    assert f"{old}/JoinStar/job014/join_particles.star" in text
    pipeline.write_text(text)
    shutil.copytree(old, moved)
    shutil.rmtree(old)
    assert audit_project(moved).lines() == [line.replace(str(old), str(moved)) for line in expected]


def test_a_path_near_a_project_points_to_the_projects_folder(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    write_project(project)
    for given in (project / "default_pipeline.star", project / "Refine3D" / "job017", tmp_path):
        done = _cli(str(given), "--quiet")
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert f"project's folder seems to be {project}" in " ".join(done.stderr.split()), done.stderr


def test_aliases_a_failed_refinement_and_a_failed_selects_threshold(tmp_path):
    write_project(tmp_path, "4/5")
    (tmp_path / "Select/job016/job.star").write_text(
        "data_job\n\n_rlnJobTypeLabel relion.select.removeduplicates\n\ndata_joboptions_values\n\nloop_\n"
        "_rlnJobOptionVariable #1\n_rlnJobOptionValue #2\ndo_remove_duplicates Yes\nduplicate_threshold 35\n"
    )
    pipeline = pipeline_text("4/5")
    for name, alias, status in (("Refine3D/job017", "Refine3D/first/", "Failed"), ("Select/job016", "None", "Failed")):
        pipeline, found = re.subn(rf"{name}/\s+None (\S+) Succeeded", rf"{name}/ {alias} \1 {status}", pipeline)
        assert found == 1
    (tmp_path / "default_pipeline.star").write_text(pipeline)
    jobs = {j.job.name: j for j in audit_project(tmp_path).jobs}
    refined = jobs["Refine3D/job017"]
    assert refined.line.startswith("Refine3D/job017 (first) (the job failed): ")
    assert refined.min_dist_A == 50  # a quarter of 200 Å: the failed Select removed nothing, its 35 Å unused


def test_one_job_holding_duplicates_is_said_in_the_singular():
    from cryodedup.jobs.audit.job import JobAudit, ProjectAudit
    from cryodedup.jobs.audit.project import Job

    joined = JobAudit(Job("JoinStar/job003", "JoinStar", "x"), verdict="entered")
    audit = ProjectAudit(root=Path("p"), layout="RELION 4/5", jobs=[joined], problems=[])
    assert audit.judged().line.startswith("Duplicates in 1 job's particles")


def test_the_table_fits_the_terminal_and_counts_the_jobs_without_particles(tmp_path):
    write_project(tmp_path)
    done = subprocess.run(
        [CRYODEDUP, "audit", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert done.returncode == 1
    table = done.stderr.splitlines()[1:]
    # (the commands are printed under the table on one line each, never cut, to be copied whole: the refinement's
    # redo and the JoinStar's deduplication, where its duplicates entered)
    commands = [line for line in table if line.startswith("  cryodedup particles ")]
    assert len(commands) == 2 and "the command under the table" in done.stderr
    assert max(len(line) for line in table if line not in commands) <= 80, done.stderr
    without = sum(not any(kind == _P for _, kind in outputs) for *_, outputs in JOBS)
    assert without > 6 and f"No particles │ {without} jobs (" in " ".join(done.stderr.split())


def test_report_boxes_hold_their_whole_names_and_the_table_does_not_break_them(tmp_path):
    import xml.etree.ElementTree as ET

    from cryodedup.report.audit_page import GraphJob, pipeline_svg

    # ExcludeTiltImages/job004 drew 174 px wide in chromium's bold 12 px sans-serif (the trial's screenshot):
    # 7.25 px a character; its box begins its text 8 px in.
    long = GraphJob("ExcludeTiltImages/job004", "ExcludeTiltImages", "no particles", [], "x")
    svg = ET.fromstring(pipeline_svg([long, GraphJob("Refine3D/job005", "Refine3D", "clean", [long.name], "y")]))
    ns = "{http://www.w3.org/2000/svg}"
    (box, _) = list(svg.iter(f"{ns}g"))
    assert box.findall(f"{ns}text")[0].text == long.name
    assert float(box.find(f"{ns}rect").get("width")) >= 8 + 7.25 * len(long.name) + 4
    project, out = tmp_path / "project", tmp_path / "out"
    project.mkdir()
    write_project(project)
    _cli(str(project), "--plot", str(out), "--quiet")
    assert "table.rows th{overflow-wrap:normal;white-space:nowrap}" in (out / "report.html").read_text()


_UNTURNED = "RELION's remove duplicates measured centres without turning the origins by rlnTomoSubtomogramRot"


def _select_of_subtomograms(root: Path, threshold: bool) -> None:
    """A RELION 5 tomography project: a refinement, and a Select of its particles holding one pair within 2 Å.

    ``threshold``: the Select removed duplicates (its job.star's duplicate_threshold, 10 Å), else it removed nothing.
    """
    from fixtures.refined_and_picks import TOMO_PARTICLES, refined_tomo_project

    project = refined_tomo_project(root)
    name, image, x = (
        TOMO_PARTICLES.index(k) for k in ("rlnTomoParticleName", "rlnImageName", "rlnCenteredCoordinateXAngst")
    )
    fields = project.refined_rows[0].split()
    fields[name], fields[image] = f"{fields[name]}90", fields[image].replace(".mrcs", "_0.mrcs")
    fields[x] = f"{float(fields[x]) + 2.0:f}"
    text = (root / project.refined).read_text().rstrip() + "\n" + " ".join(fields) + "\n\n"
    (root / "Select/job031").mkdir(parents=True)
    (root / "Select/job031/particles.star").write_text(text)
    refine = ("run_data.star", ("3", "ParticleGroupMetadata.star.relion.refine3d"))
    jobs = [
        ("Refine3D/job030", 0, "relion.refine3d.tomo", [], [refine]),
        ("Select/job031", 0, "relion.select.removeduplicates", [project.refined], [("particles.star", _P)]),
    ]
    (root / "default_pipeline.star").write_text(pipeline_text("4/5", jobs))
    if threshold:
        (root / "Select/job031/job.star").write_text(
            "data_job\n\n_rlnJobTypeLabel relion.select.removeduplicates\n\ndata_joboptions_values\n\nloop_\n"
            "_rlnJobOptionVariable #1\n_rlnJobOptionValue #2\ndo_remove_duplicates Yes\nduplicate_threshold 10\n"
        )


def test_a_relion5_select_that_removed_subtomograms_duplicates_is_said_to_measure_unturned_centres(tmp_path):
    # RELION 5's remove duplicates (removeDuplicatedParticles) takes rlnCenteredCoordinate - rlnOrigin unturned by
    # rlnTomoSubtomogramRot/Tilt/Psi; pairs left in its output are said so, not as its failure.
    _select_of_subtomograms(tmp_path / "nothing", threshold=False)
    line = {j.job.name: j for j in audit_project(tmp_path / "nothing").jobs}["Select/job031"].line
    assert "1 duplicate pair" in line and _UNTURNED not in line  # (a Select that removed nothing)
    _select_of_subtomograms(tmp_path / "removed", threshold=True)
    line = {j.job.name: j for j in audit_project(tmp_path / "removed").jobs}["Select/job031"].line
    assert "1 duplicate pair within 10 Å" in line and _UNTURNED in line


def test_the_audit_decides_from_what_it_read_alone(tmp_path):
    # The one job shape (issue 92): read, then decide (no file read). Oracle: the whole audit run on the project in
    # place; then its stages run by hand with the project moved away between reading and deciding: the same lines
    # (a decide that still read a file, as the line of unturned origins once did, finds nothing there).
    from cryodedup.jobs.audit.stages import AuditStages, audit_plan

    root = tmp_path / "removed"
    _select_of_subtomograms(root, threshold=True)
    (tmp_path / "main").mkdir()
    write_project(tmp_path / "main")
    for project in (root, tmp_path / "main"):
        expected = audit_project(project)
        stages, plan = AuditStages(lambda message, level: None), audit_plan(project)
        read = stages.read(plan)
        project.rename(tmp_path / "away")
        decided = stages.decide(plan, read)
        written = stages.write(plan, read, decided)
        summary = stages.report(plan, stages.summarise(plan, read, decided, written), written)
        (tmp_path / "away").rename(project)
        assert summary.lines() == expected.lines() and summary.verdict == expected.verdict
        assert summary.exit_status == expected.exit_status
    assert not any(_UNTURNED in line for line in expected.lines())  # (the main project has no such Select)
    assert any(_UNTURNED in line for line in audit_project(root).lines())


def test_the_audits_document_opens_with_the_keys_every_jobs_has(tmp_path):
    # Issue 92: verdict (an object: word, kind, line, why), outputs (none: nothing written into the project),
    # timings (each stage's seconds, then the whole); then the audit's own keys, its exit status one of them.
    project, out = tmp_path / "project", tmp_path / "out"
    project.mkdir()
    write_project(project)
    done = _cli(str(project), "--json", "--quiet", "--plot", str(out))
    document = json.loads(done.stdout)
    assert done.returncode == 1 == document["exit_status"]
    assert list(document) == [
        "verdict",
        "outputs",
        "timings",
        "project",
        "layout",
        "jobs",
        "lines",
        "problems",
        "to_redo",
        "exit_status",
    ]
    line = document["lines"][0].split(":")[0]  # (the worst job's name: the refinement to redo)
    assert document["verdict"] == {
        "word": "1 refinement to redo",
        "kind": "bad",
        "line": f"1 refinement to redo: {line}",
        "why": None,
    }
    # (issue 92: outputs name every file written, report.html among them; no top-level plots key)
    assert document["outputs"] == {"plots": [str(out / "report.html")]} and (out / "report.html").is_file()
    assert list(document["timings"]) == ["read", "decide", "write", "summarise", "report", "seconds"]
    clean = _cli(str(tmp_path / "project"), "--json", "--quiet", "--min-dist", "0.001")
    assert clean.returncode == 0 and json.loads(clean.stdout)["verdict"]["word"] == "clean"
