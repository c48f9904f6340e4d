"""``cryodedup audit PROJECT_DIR`` (issue 68) on a RELION project shaped as the tutorial's, duplicates planted
through a JoinStar of two pickers: counts against a plain numpy all-pairs brute force."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cryodedup.jobs.audit.stages import audit_project
from cryodedup.report.audit_page import VERDICT_COLOURS
from fixtures.relion_project import JOBS, brute_force, join, pipeline_text, write_particles, write_project
from helpers import missing_program, write_relion31_tutorial_project

CRYODEDUP = str(Path(sys.executable).parent / "cryodedup")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CRYODEDUP, "audit", *args], capture_output=True, text=True, check=False)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("layout", ["3.1", "4/5"])
def test_the_planted_pairs_are_found_where_they_are_and_traced_to_thejoinstar(tmp_path, layout):
    files = write_project(tmp_path, layout)
    before = _snapshot(tmp_path)
    done = _cli(str(tmp_path), "--json", "--quiet")
    assert done.returncode == 1, done.stderr
    audit = json.loads(done.stdout)
    assert audit["layout"] == ("RELION 3.1" if layout == "3.1" else "RELION 4/5")
    assert [j["job"] for j in audit["jobs"]] == [name for name, *_ in JOBS]  # every job listed
    jobs = {j["job"]: j for j in audit["jobs"]}
    assert jobs["JoinStar/job014"]["inputs"] == ["Select/job012", "Select/job013"]
    assert jobs["Refine3D/job019"]["inputs"] == ["Select/job013", "InitialModel/job018"]
    planted = 0
    for path, rows in files.items():
        job = jobs["/".join(path.split("/")[:2])]
        (found,) = [s for s in job["sets"] if s["file"] == path]
        pairs, straddling = brute_force(rows, found["min_dist_A"])
        assert (found["particles"], found["duplicate_pairs"], found["straddling_pairs"]) == (
            len(rows),
            pairs,
            straddling,
        )
        assert found["min_dist_A"] == (40 if path.startswith("Refine3D/job019") else 50)  # a quarter of 160 or 200 Å
        if pairs:
            assert job["entered_at"] == ["JoinStar/job014"]
            planted += 1
        else:
            assert job["verdict"] == "clean" and job["entered_at"] == []
    assert planted == 4  # JoinStar, Class2D and Select on it, the refinement of the selection
    assert jobs["JoinStar/job014"]["verdict"] == "entered"
    assert jobs["Refine3D/job019"]["verdict"] == "clean"
    refined = jobs["Refine3D/job017"]["sets"][0]
    assert refined["straddling_pairs"] > 0 and refined["halfsets"] == "rlnRandomSubset"
    assert audit["lines"][0] == (
        f"Refine3D/job017: {refined['straddling_pairs']} pairs within 50 Å straddle the half-sets "
        f"({100 * refined['particles_straddling'] / refined['particles']:.0f} %): its FSC may be inflated; duplicates "
        f"entered at JoinStar/job014; refine again the set this writes, without its {refined['duplicate_pairs']} "
        f"duplicate pairs: cryodedup particles {tmp_path}/Refine3D/job017/run_data.star --min-dist 50 "
        f"--micrographs {tmp_path}/CtfFind/job003/micrographs_ctf.star -o {tmp_path}-cryodedup/Refine3D_job017"
    )
    assert audit["lines"][1].startswith("JoinStar/job014: ") and "entered here" in audit["lines"][1]
    assert jobs["Extract/job008"]["distance"] == (
        "a quarter of the particle diameter of 200 Å (Class2D/job010/job.star particle_diameter)"
    )
    assert _snapshot(tmp_path) == before  # nothing written into the project


def test_nothing_is_reported_where_the_brute_force_finds_nothing(tmp_path):
    files = write_project(tmp_path)
    assert all(brute_force(rows, 0.5) == (0, 0) for rows in files.values())
    audit = audit_project(tmp_path, min_dist=0.5)
    assert audit.exit_status == 0
    assert {j.verdict for j in audit.jobs} == {"clean", "no particles"}
    done = _cli(str(tmp_path), "--min-dist", "0.5", "--quiet")
    assert done.returncode == 0, done.stderr


def test_damaged_jobs_are_named_one_line_each_and_the_rest_audited(tmp_path):
    write_project(tmp_path)
    shutil.rmtree(tmp_path / "Class2D/job011")
    (tmp_path / "Select/job012/particles.star").write_text("data_particles\nloop_\n_rlnCoordinateX #1\n1 2 3\n")
    # A cycle: Select/job016 also reads Refine3D/job017's particles, which descend from it.
    jobs = [
        (n, c, lab, [*ins, "Refine3D/job017/run_data.star"] if n == "Select/job016" else ins, outs)
        for n, c, lab, ins, outs in JOBS
    ]
    (tmp_path / "default_pipeline.star").write_text(pipeline_text("3.1", jobs))
    audit = audit_project(tmp_path)
    lines = audit.lines()
    assert [line for line in lines if line.startswith("Class2D/job011")] == [
        "Class2D/job011: the job's folder is missing"
    ]
    (broken,) = [line for line in lines if line.startswith("Select/job012")]
    assert broken.startswith("Select/job012: Select/job012/particles.star could not be read: ") and "\n" not in broken
    (cycle,) = [line for line in lines if "cycle" in line]
    assert "Select/job016" in cycle and "Refine3D/job017" in cycle
    verdicts = {j.job.name: j.verdict for j in audit.jobs}
    assert verdicts["Refine3D/job017"] == "redo" and verdicts["JoinStar/job014"] == "entered"
    assert verdicts["Refine3D/job019"] == "clean"


def test_a_folder_without_a_pipeline_is_a_usage_error(tmp_path):
    done = _cli(str(tmp_path))
    assert done.returncode == 2
    assert "no default_pipeline.star" in done.stderr and "Traceback" not in done.stderr
    (tmp_path / "default_pipeline.star").write_text("data_foo\nloop_\n_rlnBar #1\n1\n")
    done = _cli(str(tmp_path))
    assert done.returncode == 2 and "no data_pipeline_processes" in done.stderr


def test_a_pipeline_written_by_relion_31s_own_pipeliner(tmp_path):
    pipeliner = shutil.which("relion_pipeliner")
    if pipeliner is None:
        missing_program("relion_pipeliner (RELION 3.1) is not installed")
    paths = write_relion31_tutorial_project(tmp_path, pipeliner)
    audit = audit_project(tmp_path)
    assert audit.layout == "RELION 3.1"
    names = [j.job.name for j in audit.jobs]
    assert names == [
        "Import/job001",
        "MotionCorr/job002",
        "CtfFind/job003",
        "ManualPick/job004",
        "Select/job005",
        "AutoPick/job006",
        "Extract/job007",
        "Class2D/job008",
    ]
    jobs = {j.job.name: j for j in audit.jobs}
    assert jobs["Extract/job007"].job.parents == ["CtfFind/job003", "AutoPick/job006"]
    assert jobs["Extract/job007"].sets[0].file == paths["particles"]
    assert jobs["Extract/job007"].min_dist_A == 50  # a quarter of the 200 Å that Class2D/job008's job.star records
    # Class2D/job008 was added, not run (Scheduled): its particle file is not written yet, which is no damage.
    assert jobs["Class2D/job008"].verdict == "not run" and jobs["Class2D/job008"].job.status == "Scheduled"
    assert (
        jobs["Class2D/job008"].line
        == "Class2D/job008: not run (Scheduled): Class2D/job008/run_it025_data.star not written yet"
    )
    # Extract/job007 is Scheduled too, but its particles are there (the example's): audited.
    assert jobs["Extract/job007"].sets[0].particles > 0


def test_report_html_draws_the_pipeline_coloured_by_verdict(tmp_path):
    import xml.etree.ElementTree as ET

    project, out = tmp_path / "project", tmp_path / "out"
    project.mkdir()
    write_project(project)
    done = _cli(str(project), "--plot", str(out), "--quiet")
    assert done.returncode == 1, done.stderr
    page = (out / "report.html").read_text()
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    svg = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])
    ns = "{http://www.w3.org/2000/svg}"
    fills = {g.find(f"{ns}title").text.split(":")[0]: g.find(f"{ns}rect").get("fill") for g in svg.iter(f"{ns}g")}
    assert list(fills) == [name for name, *_ in JOBS]  # a box per job
    expected = {"Refine3D/job017": "redo", "JoinStar/job014": "entered", "Class2D/job015": "inherited"}
    expected |= {"Select/job016": "inherited", "Refine3D/job019": "clean", "Extract/job008": "clean"}
    expected |= {"PostProcess/job021": "no particles"}
    assert {name: fills[name] for name in expected} == {n: VERDICT_COLOURS[v][0] for n, v in expected.items()}
    edges = svg.findall(f"{ns}path")
    assert len(edges) == len({(p, n) for n, *_, ins, _ in JOBS for p in {"/".join(i.split("/")[:2]) for i in ins}})
    again = _cli(str(project), "--plot", str(out), "--quiet")
    assert again.returncode != 0 and "report.html" in again.stderr  # an existing report needs --force
    assert _cli(str(project), "--plot", str(out), "--quiet", "--force").returncode == 1
    inside = _cli(str(project), "--plot", str(project / "report"))
    assert inside.returncode == 2 and "inside the project" in inside.stderr
    assert not (project / "report").exists()


def test_overlapping_selectionsjoined_are_duplicates_each_image_twice_at_one_centre(tmp_path):
    # A JoinStar of two selections that share particles writes one image twice at one centre: duplicates
    # (counted, traced), said apart as rows repeating another's image (a symmetry expansion looks the same).
    files = write_project(tmp_path)
    selected = files["Select/job013/particles.star"]
    joined = join(selected, selected.take(np.arange(0, len(selected), 2)))
    write_particles(tmp_path / "JoinStar/job014/join_particles.star", joined)
    audit = {j.job.name: j for j in audit_project(tmp_path).jobs}
    (found,) = audit["JoinStar/job014"].sets
    assert (found.duplicate_pairs, found.symmetry_copies) == (brute_force(joined, 50)[0], (len(selected) + 1) // 2)
    assert audit["JoinStar/job014"].verdict == "entered"
    assert "repeat another's image at its centre" in audit["JoinStar/job014"].line


def test_the_users_own_duplicate_threshold_is_the_distance_of_its_lineage(tmp_path):
    # A Select job that removed duplicates (RELION's "remove duplicates", 35 Å) says what the user calls one;
    # the jobs of its lineage (its ancestors and descendants) are audited at that distance; Refine3D/job019,
    # on another branch, at a quarter of its own diameter.
    files = write_project(tmp_path)
    (tmp_path / "Select/job016/job.star").write_text(
        "data_job\n\n_rlnJobTypeLabel relion.select.removeduplicates\n\ndata_joboptions_values\n\nloop_\n"
        "_rlnJobOptionVariable #1\n_rlnJobOptionValue #2\ndo_remove_duplicates Yes\nduplicate_threshold 35\n"
    )
    audit = {j.job.name: j for j in audit_project(tmp_path).jobs}
    for path, rows in files.items():
        job = audit["/".join(path.split("/")[:2])]
        expected = 40 if job.job.name == "Refine3D/job019" else 35
        assert job.min_dist_A == expected, job.job.name
        assert job.sets[0].duplicate_pairs == brute_force(rows, expected)[0]
    assert (
        audit["Refine3D/job017"].distance_reason
        == "the duplicate threshold of Select/job016/job.star duplicate_threshold"
    )


def test_half_sets_carried_by_a_job_that_refines_nothing_ask_no_redo(tmp_path):
    # A Select of a refinement's particles carries their half-sets: its straddling pairs are said, but only a
    # refinement (whose FSC they inflate) is to be redone, and sets the exit status.
    files = write_project(tmp_path)
    refined = files["Refine3D/job017/run_data.star"]
    write_particles(tmp_path / "Select/job016/particles.star", refined)
    audit = {j.job.name: j for j in audit_project(tmp_path).jobs}
    carried = audit["Select/job016"]
    assert carried.sets[0].straddling_pairs == brute_force(refined, 50)[1] > 0
    assert carried.verdict == "inherited" and "across the half-sets it carries" in carried.line
    assert audit["Refine3D/job017"].verdict == "redo"


def test_a_relion5_tomography_refinement_whose_refined_positions_met(tmp_path):
    # RELION 5's layout (type labels), a Picks job and a tomography Refine3D (centred coordinates in Å, origins,
    # half-sets) whose input holds no duplicate: three particles refined onto another's place (2 Å off, the
    # other half-set) are found there, and traced to the refinement itself.
    from fixtures.refined_and_picks import TOMO_PARTICLES, refined_tomo_project

    project = refined_tomo_project(tmp_path)
    path = tmp_path / project.refined
    name, image, x, half = (
        TOMO_PARTICLES.index(label)
        for label in ("rlnTomoParticleName", "rlnImageName", "rlnCenteredCoordinateXAngst", "rlnRandomSubset")
    )
    planted = []
    for k, row in enumerate(project.refined_rows[:3]):
        fields = row.split()
        fields[name], fields[image] = f"{fields[name]}9{k}", fields[image].replace(".mrcs", f"_{k}.mrcs")
        fields[x] = f"{float(fields[x]) + 2.0:f}"
        fields[half] = "2" if fields[half] == "1" else "1"
        planted.append(" ".join(fields))
    path.write_text(path.read_text().rstrip() + "\n" + "\n".join(planted) + "\n\n")
    picks = ("particles.star", ("3", "ParticleGroupMetadata.star.relion.tomo.manualpick"))
    refine = ("run_data.star", ("3", "ParticleGroupMetadata.star.relion.refine3d"))
    jobs = [
        ("Picks/job019", 0, "relion.picktomo", [], [picks]),
        ("Refine3D/job030", 0, "relion.refine3d.tomo", ["Picks/job019/particles.star"], [refine]),
    ]
    (tmp_path / "default_pipeline.star").write_text(pipeline_text("4/5", jobs))
    audit = {j.job.name: j for j in audit_project(tmp_path).jobs}
    refined = audit["Refine3D/job030"]
    assert refined.problems == []
    assert refined.min_dist_A == 20  # no diameter recorded: the default
    assert (refined.sets[0].particles, refined.sets[0].duplicate_pairs, refined.sets[0].straddling_pairs) == (23, 3, 3)
    assert audit["Picks/job019"].verdict == "clean" and refined.verdict == "redo"
    assert refined.entered_at == ["Refine3D/job030"]
    assert (
        "inflated; duplicates entered here; refine again the set this writes, without its 3 duplicate pairs: "
        in refined.line
    )


def test_process_names_without_relions_trailing_slash_read_alike(tmp_path):
    # RELION ends each process name with "/" (Refine3D/job017/); a pipeline written without it is read alike.
    write_project(tmp_path)
    before = audit_project(tmp_path).lines()
    pipeline = tmp_path / "default_pipeline.star"
    pipeline.write_text(re.sub(r"(job\d{3})/(\s)", r"\1\2", pipeline.read_text()))
    assert "job014/ " not in pipeline.read_text()
    assert audit_project(tmp_path).lines() == before
