"""An audit a user can act on and then clear (issue 88, items 3 and 4): the RELION 3.1 tutorial's chain of
refinements with copies planted across the half-sets, the printed redo run as printed, then a Refine3D of its kept
file added as RELION records it (browsed in by path, or through the External job), and the audit run again.
Oracles: the fixture's plain numpy all-pairs search of the rows as written, and the planted copies themselves."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fixtures.relion_project import Rows, brute_force, pipeline_text
from fixtures.relion_tutorial import JOBS, plant, write_tutorial
from helpers import missing_program

BIN = Path(sys.executable).parent
_R19, _R25, _R29 = "Refine3D/job019", "Refine3D/job025", "Refine3D/job029"
_COPIES = 20
_P = ("3", "ParticleGroupMetadata.star.relion")
#: The tutorial's files from the first refinement down to the last: copies planted in all of them (entered at
#: job019) are carried down three refinements.
CHAIN = [
    f"{_R19}/run_data.star",
    "CtfRefine/job022/particles_ctf_refine.star",
    "CtfRefine/job023/particles_ctf_refine.star",
    "CtfRefine/job024/particles_ctf_refine.star",
    f"{_R25}/run_data.star",
    "Polish/job028/shiny.star",
    f"{_R29}/run_data.star",
]


def _planted(tmp_path: Path, paths: list[str]) -> Path:
    root = tmp_path / "tutorial"
    root.mkdir()
    files = plant(root, write_tutorial(root), paths, _COPIES)
    assert all(brute_force(files[path], 50) == (_COPIES, _COPIES) for path in paths)
    return root


def _audit(root: Path, *extra: str) -> tuple[int, dict, str]:
    done = subprocess.run(
        [str(BIN / "cryodedup"), "audit", str(root), "--json", *extra], capture_output=True, text=True, check=False
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def _jobs(audit: dict) -> dict[str, dict]:
    return {j["job"]: j for j in audit["jobs"]}


def _run_printed(stderr: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    """The one command printed under the table, run as printed (from another folder); its output folder."""
    (command,) = [line[2:] for line in stderr.splitlines() if line.startswith("  cryodedup particles ")]
    words = shlex.split(command)
    done = subprocess.run(
        [str(BIN / "cryodedup"), *words[1:]], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    return done, Path(words[words.index("-o") + 1])


def _refine(root: Path, name: str, particles: str, kept: Path, extra: list | None = None) -> None:
    """A Refine3D of ``particles`` added to the pipeline as RELION records it, its run_data.star the kept rows
    (RELION keeps the half-sets a set carries)."""
    job = (name, 10, "relion.refine3d", [particles], [("run_data.star", _P)])
    (root / "default_pipeline.star").write_text(pipeline_text("3.1", [*JOBS, *(extra or []), job]))
    (root / name).mkdir(parents=True)
    shutil.copy(kept, root / name / "run_data.star")
    (root / name / "job.star").write_text((root / _R29 / "job.star").read_text())


@pytest.mark.parametrize("path", ["absolute", "relative"])
def test_a_refinement_of_the_printed_redos_kept_file_browsed_in_clears_the_audit(tmp_path, path):
    # Before: job029 "to redo" for ever, exit 1: the new refinement had no particle edge to the audited chain.
    root = _planted(tmp_path, [f"{_R29}/run_data.star"])
    status, audit, stderr = _audit(root)
    assert status == 1 and _jobs(audit)[_R29]["verdict"] == "redo"
    done, out = _run_printed(stderr, tmp_path)
    # The audit read the micrographs' pixel size upstream: the command carries them, and runs without a warning.
    assert "--micrographs" in _jobs(audit)[_R29]["command"] and "has no rlnMicrographPixelSize" not in done.stderr, (
        done.stderr
    )
    kept = out / "particles_kept.star"
    browsed = str(kept) if path == "absolute" else os.path.relpath(kept, root)
    _refine(root, "Refine3D/job031", browsed, kept)
    status, audit, _ = _audit(root)
    jobs = _jobs(audit)
    assert jobs["Refine3D/job031"]["particle_inputs"] == [_R29]
    assert jobs["Refine3D/job031"]["verdict"] == "clean" and jobs[_R29]["verdict"] == "superseded"
    assert "superseded by Refine3D/job031" in jobs[_R29]["line"] and status == 0
    # The flip: a refinement of the set with its copies still in (the audited file itself) supersedes nothing; it is
    # the one to redo, and redoing it clears job029.
    shutil.copy(root / _R29 / "run_data.star", root / "Refine3D/job031/run_data.star")
    status, audit, _ = _audit(root)
    jobs = _jobs(audit)
    assert status == 1 and jobs["Refine3D/job031"]["verdict"] == "redo" and jobs[_R29]["verdict"] == "carried"


def _route_fields(route: str) -> tuple[str, list[tuple[str, str]]]:
    """The External job's fields the route names: its input particles and each parameter's label and value."""
    particles = re.search(r"Input particles (\S+),", route).group(1)
    return particles, re.findall(r"Param\d+ label (\S+) value ([^,;]+)", route)


def test_the_external_job_route_printed_beside_the_command_clears_the_audit(tmp_path):
    root = _planted(tmp_path, [f"{_R29}/run_data.star"])
    status, audit, stderr = _audit(root)
    route = _jobs(audit)[_R29]["external_job"]
    assert status == 1 and route.startswith("Or, to keep RELION's lineage, a new External job")
    assert " ".join(route.split()) in " ".join(stderr.split())  # (said on the terminal, under the command)
    particles, params = _route_fields(route)
    assert particles == f"{_R29}/run_data.star" and ("min_dist", "50") in params
    external = _external(root, audit)
    assert (root / "External/job031/RELION_JOB_EXIT_SUCCESS").exists()
    kept = root / "External/job031/particles_kept.star"
    _refine(root, "Refine3D/job032", "External/job031/particles_kept.star", kept, external)
    status, audit, _ = _audit(root)
    jobs = _jobs(audit)
    assert jobs["Refine3D/job032"]["verdict"] == "clean" and jobs[_R29]["verdict"] == "superseded"
    assert "superseded by Refine3D/job032" in jobs[_R29]["line"] and status == 0


def test_copies_carried_down_three_refinements_ask_for_one_redo_that_clears_them_all(tmp_path):
    # Before: "3 refinements to redo", three commands; redoing the last supersedes the other two.
    root = _planted(tmp_path, CHAIN)
    status, audit, stderr = _audit(root)
    jobs = _jobs(audit)
    assert status == 1
    assert audit["verdict"]["line"] == f"1 refinement to redo: {_R29}; redoing it clears {_R19}, {_R25}"
    assert jobs[_R29]["verdict"] == "redo" and jobs[_R19]["verdict"] == jobs[_R25]["verdict"] == "carried"
    for name in (_R19, _R25):
        assert jobs[name]["command"] is None
        assert (
            f"carried down to {_R29} (a later refinement of its particles, to redo): redoing {_R29} clears"
            in (jobs[name]["line"])
        )
    assert jobs[_R29]["sets"][0]["straddling_pairs"] == _COPIES
    assert (
        sum(
            line.startswith("  cryodedup particles ") and _R29.replace("/", "_") in line for line in stderr.splitlines()
        )
        == 1
    )
    _, out = _run_printed_for(stderr, tmp_path, _R29)
    _refine(root, "Refine3D/job031", str(out / "particles_kept.star"), out / "particles_kept.star")
    status, audit, _ = _audit(root)
    jobs = _jobs(audit)
    assert status == 0 and {jobs[n]["verdict"] for n in (_R19, _R25, _R29)} == {"superseded"}
    assert all("superseded by Refine3D/job031" in jobs[n]["line"] for n in (_R19, _R25, _R29))


def _run_printed_for(stderr: str, tmp_path: Path, name: str) -> tuple[subprocess.CompletedProcess, Path]:
    """The command printed under the table that writes ``name``'s set, run as printed; its output folder."""
    (command,) = [
        line[2:]
        for line in stderr.splitlines()
        if line.startswith("  cryodedup particles ") and line.endswith(name.replace("/", "_"))
    ]
    words = shlex.split(command)
    done = subprocess.run(
        [str(BIN / "cryodedup"), *words[1:]], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    return done, Path(words[words.index("-o") + 1])


def test_each_verdict_of_the_final_refinement_flips_on_a_planted_case(tmp_path):
    """job029 of one project through every verdict, each by a planted change: clean (nothing planted), negligible
    (2 copies across its halves: 0.7 % of its particles), redo (20), superseded (its redo refined), carried (that
    refinement given the copies back)."""
    root = tmp_path / "tutorial"
    root.mkdir()
    files = write_tutorial(root)

    def verdict() -> tuple[int, str]:
        status, audit, _ = _audit(root)
        return status, _jobs(audit)[_R29]["verdict"]

    assert verdict() == (0, "clean")
    plant(root, files, [f"{_R29}/run_data.star"], 2)
    assert verdict() == (0, "negligible")
    plant(root, files, [f"{_R29}/run_data.star"], _COPIES)
    status, audit, stderr = _audit(root)
    assert (status, _jobs(audit)[_R29]["verdict"]) == (1, "redo")
    _, out = _run_printed(stderr, tmp_path)
    _refine(root, "Refine3D/job031", str(out / "particles_kept.star"), out / "particles_kept.star")
    assert verdict() == (0, "superseded")
    shutil.copy(root / _R29 / "run_data.star", root / "Refine3D/job031/run_data.star")
    assert verdict() == (1, "carried")


def _import_job_star(browsed: str) -> str:
    """Import/jobNNN/job.star as RELION 3.1.3's relion_pipeliner wrote it for "Import other node types: Particles
    STAR file" (captured from ``--addJob Import``; its other options left out)."""
    options = [("do_other", "Yes"), ("do_queue", "No"), ("do_raw", "No"), ("fn_in_other", browsed)]
    options += [("node_type", '"Particles STAR file (.star)"'), ("optics_group_particles", '""')]
    rows = "".join(f"{k:>10} {v} \n" for k, v in options)
    return (
        "\n# version 30001\n\ndata_job\n\n_rlnJobType                             0\n"
        "_rlnJobIsContinue                       0\n \n\n# version 30001\n\ndata_joboptions_values\n\nloop_ \n"
        "_rlnJobOptionVariable #1 \n_rlnJobOptionValue #2 \n"
        f"{rows} \n"
    )


def _import(root: Path, name: str, browsed: str, kept: Path) -> tuple:
    """An Import job of the kept file as RELION 3.1 records it: no input edge (pipeline_jobs.cpp's
    getCommandsImportJob adds none), the file named in its job.star and note.txt only, its copy the one output node
    (type 3), written by relion_import into the job's folder under the file's own name."""
    (root / name).mkdir(parents=True)
    (root / name / "job.star").write_text(_import_job_star(browsed))
    (root / name / "note.txt").write_text(
        f' ++++ with the following command(s): \nrelion_import  --do_particles --i "{browsed}" --odir {name}/ '
        f"--ofile {kept.name} --pipeline_control {name}/\n ++++ \n"
    )
    shutil.copy(kept, root / name / kept.name)
    return (name, 0, "relion.import.other", [], [(kept.name, _P)])


@pytest.mark.parametrize("path", ["absolute", "relative", "link"])
def test_a_refinement_of_the_redos_kept_file_brought_in_by_an_import_job_clears_the_audit(tmp_path, path):
    # Before: an Import job of the printed redo's kept file, then a Refine3D of the Import's output: job029 still
    # "to redo", exit 1 (the Import has no input edge: nothing tied it to job029).
    root = _planted(tmp_path, [f"{_R29}/run_data.star"])
    status, audit, stderr = _audit(root)
    assert status == 1 and _jobs(audit)[_R29]["verdict"] == "redo"
    _, out = _run_printed(stderr, tmp_path)
    kept = out / "particles_kept.star"
    browsed = {"absolute": str(kept), "relative": os.path.relpath(kept, root), "link": "links/particles_kept.star"}
    if path == "link":  # (as RELION's FAQ says to bring in a file from outside: a link in the project)
        (root / "links").mkdir()
        (root / "links/particles_kept.star").symlink_to(kept)
    imported = _import(root, "Import/job031", browsed[path], kept)
    _refine(root, "Refine3D/job032", "Import/job031/particles_kept.star", kept, [imported])
    status, audit, _ = _audit(root)
    jobs = _jobs(audit)
    assert jobs["Import/job031"]["particle_inputs"] == [_R29] and jobs["Import/job031"]["verdict"] == "clean"
    assert jobs["Refine3D/job032"]["verdict"] == "clean" and jobs[_R29]["verdict"] == "superseded"
    assert "superseded by Refine3D/job032" in jobs[_R29]["line"] and status == 0
    # The flip: an Import of the audited file itself (its copies in) brings job029's duplicates on: job032 to redo.
    shutil.copy(root / _R29 / "run_data.star", root / "Import/job031/particles_kept.star")
    shutil.copy(root / _R29 / "run_data.star", root / "Refine3D/job032/run_data.star")
    status, audit, _ = _audit(root)
    jobs = _jobs(audit)
    assert status == 1 and jobs["Refine3D/job032"]["verdict"] == "redo" and jobs[_R29]["verdict"] == "carried"
    assert jobs["Import/job031"]["entered_at"] == [_R29]


def test_an_import_of_a_file_from_elsewhere_passes_on_no_job(tmp_path):
    # An Import of particles from outside the project (not a redo's output) has no parent: it supersedes nothing.
    root = _planted(tmp_path, [f"{_R29}/run_data.star"])
    outside = tmp_path / "elsewhere" / "particles_kept.star"
    outside.parent.mkdir()
    shutil.copy(root / "Refine3D/job025/run_data.star", outside)
    imported = _import(root, "Import/job031", str(outside), outside)
    _refine(root, "Refine3D/job032", "Import/job031/particles_kept.star", outside, [imported])
    status, audit, _ = _audit(root)
    jobs = _jobs(audit)
    assert jobs["Import/job031"]["particle_inputs"] == [] and status == 1 and jobs[_R29]["verdict"] == "redo"


def test_an_import_job_run_by_relion_31s_own_pipeliner_then_a_refinement_of_it_clears_the_audit(tmp_path):
    """The same through RELION 3.1.3 itself: its relion_pipeliner adds and runs the Import (relion_import copies the
    kept file in) and adds the Refine3D of its output; the Refine3D (whose images do not exist) is then marked finished
    with the kept rows as its run_data.star."""
    pipeliner = shutil.which("relion_pipeliner")
    if pipeliner is None:
        missing_program("relion_pipeliner (RELION 3.1) is not installed")
    root = _planted(tmp_path, [f"{_R29}/run_data.star"])
    pipeline = root / "default_pipeline.star"  # (the tutorial's counter, as RELION left it: the next job is job031)
    pipeline.write_text(re.sub(r"_rlnPipeLineJobCounter\s+\d+", "_rlnPipeLineJobCounter 31", pipeline.read_text()))
    status, audit, stderr = _audit(root)
    assert status == 1
    _, out = _run_printed(stderr, tmp_path)

    def pipeliner_run(*words: str) -> None:
        done = subprocess.run([pipeliner, *words], capture_output=True, text=True, check=False, cwd=root, timeout=300)
        assert done.returncode == 0 and "ERROR" not in done.stderr, done.stdout + done.stderr

    kept = out / "particles_kept.star"
    options = f"do_raw == No;do_other == Yes;fn_in_other == {kept};node_type == Particles STAR file (.star)"
    pipeliner_run("--addJob", "Import", "--addJobOptions", options)
    pipeliner_run("--RunJobs", "Import/job031/", "--sec_wait_after", "0")
    assert (root / "Import/job031/RELION_JOB_EXIT_SUCCESS").exists()
    options = "fn_img == Import/job031/particles_kept.star;fn_ref == Refine3D/job025/run_class001.mrc"
    pipeliner_run("--addJob", "Refine3D", "--addJobOptions", options)
    text = pipeline.read_text()
    assert "Import/job031/particles_kept.star Refine3D/job032/" in text  # (the edge RELION records)
    pipeline.write_text(re.sub(r"(Refine3D/job032/\s+None\s+10\s+)1 ", r"\g<1>2 ", text))  # (Scheduled -> Finished)
    shutil.copy(root / "Import/job031/particles_kept.star", root / "Refine3D/job032/run_data.star")
    status, audit, _ = _audit(root)
    jobs = _jobs(audit)
    assert jobs["Import/job031"]["particle_inputs"] == [_R29] and jobs["Refine3D/job032"]["verdict"] == "clean"
    assert jobs[_R29]["verdict"] == "superseded" and "superseded by Refine3D/job032" in jobs[_R29]["line"]
    assert status == 0


def test_a_later_refinement_with_a_negligible_few_across_its_halves_still_supersedes(tmp_path):
    # The flip untested so far: the redo's refinement (job031) itself holding 2 copies across its halves (0.7 %,
    # under the 1 % default) is negligible and still supersedes job029 ("a negligible few"); with 20 it is the one
    # to redo and job029 is carried.
    root = tmp_path / "tutorial"
    root.mkdir()
    files = write_tutorial(root)
    plant(root, files, [f"{_R29}/run_data.star"], _COPIES)
    status, _, stderr = _audit(root)
    assert status == 1
    _, out = _run_printed(stderr, tmp_path)
    _refine(root, "Refine3D/job031", str(out / "particles_kept.star"), out / "particles_kept.star")
    later = "Refine3D/job031/run_data.star"
    for count, verdicts, line in [
        (2, ("negligible", "superseded", 0), "superseded by Refine3D/job031 (a later refinement of a descendant of "),
        (_COPIES, ("redo", "carried", 1), "carried down to Refine3D/job031"),
    ]:
        written = plant(root, {later: files[f"{_R29}/run_data.star"]}, [later], count)
        assert brute_force(written[later], 50) == (count, count)  # (the oracle: every copy across the halves)
        status, audit, _ = _audit(root)
        jobs = _jobs(audit)
        assert (jobs["Refine3D/job031"]["verdict"], jobs[_R29]["verdict"], status) == verdicts
        assert line in jobs[_R29]["line"]
        if count == 2:
            assert jobs[_R29]["line"].endswith("whose half-sets share a negligible few); nothing to redo")


def _external(root: Path, audit: dict) -> list[tuple]:
    """The External job the audit printed for job029, run as RELION runs it (from the project's folder, its fields as
    options: pipeline_jobs.cpp), then recorded in the pipeline with its two particle outputs (as cryodedup-relion
    registers them); its pipeline entry."""
    particles, params = _route_fields(_jobs(audit)[_R29]["external_job"])
    argv = ["--o", "External/job031/", "--in_parts", particles]
    for label, value in params:
        argv += [f"--{label}", value]
    (root / "External/job031").mkdir(parents=True)
    done = subprocess.run(
        [str(BIN / "cryodedup-relion"), *argv, "--j", "1"], capture_output=True, text=True, check=False, cwd=root
    )
    assert done.returncode == 0, done.stderr
    outputs = [("particles_kept.star", _P), ("particles_rejected.star", _P)]
    external = [("External/job031", 99, "relion.external", [particles], outputs)]
    (root / "default_pipeline.star").write_text(pipeline_text("3.1", [*JOBS, *external]))
    return external


def test_once_the_external_job_has_written_the_kept_set_the_audit_says_refine_it(tmp_path):
    # Before: with External/job031's kept set written (0 pairs), the audit still printed the redo command and "a new
    # External job"; the set to refine is there.
    root = _planted(tmp_path, [f"{_R29}/run_data.star"])
    _, audit, _ = _audit(root)
    assert _jobs(audit)[_R29]["command"]  # (the flip: before the External job ran, the command)
    _external(root, audit)
    assert brute_force(_rows(root / "External/job031/particles_kept.star"), 50) == (0, 0)
    status, audit, stderr = _audit(root)
    job = _jobs(audit)[_R29]
    assert status == 1 and job["verdict"] == "redo"
    assert job["line"].endswith("its set without them is written: refine External/job031/particles_kept.star")
    assert not job["command"] and not job["external_job"]
    assert "cryodedup particles" not in stderr and "a new External job" not in stderr


def _rows(path: Path) -> Rows:
    """The particle rows of a STAR file written by the redo (its particles table, read by the labels it names)."""
    _, _, table = path.read_text().partition("data_particles")
    labels = re.findall(r"^_rln(\w+)", table, flags=re.M)
    lines = [line.split() for line in table.splitlines() if line.strip() and len(line.split()) == len(labels)]
    lines = [line for line in lines if not line[0].startswith("_")]
    column = {label: [line[k] for line in lines] for k, label in enumerate(labels)}
    _, mic = np.unique(column["MicrographName"], return_inverse=True)
    number = {
        key: np.array(column[key], float) for key in ("CoordinateX", "CoordinateY", "OriginXAngst", "OriginYAngst")
    }
    halves = np.array(column.get("RandomSubset", ["0"] * len(lines)), int)
    return Rows(mic, *number.values(), halves, column["ImageName"])


def _running(root: Path, name: str) -> None:
    """``name`` marked Running in the pipeline (RELION 3.1's status 0) and its run_data.star taken away."""
    pipeline = root / "default_pipeline.star"
    text = re.sub(rf"({re.escape(name)}/\s+None\s+\d+\s+)2 ", r"\g<1>0 ", pipeline.read_text())
    assert text != pipeline.read_text()
    pipeline.write_text(text)
    (root / name / "run_data.star").unlink()


@pytest.mark.parametrize("path", ["absolute", "relative"])
def test_a_running_refinement_of_the_redos_kept_file_is_not_told_to_abort(tmp_path, path):
    # Before: "running on a set that holds duplicates: Refine3D/job029 ... abort it", exit 1, while the Refine3D reads
    # the redo's kept file, which holds no pair (the oracle: the all-pairs search of the file as written).
    root = _planted(tmp_path, [f"{_R29}/run_data.star"])
    _, _, stderr = _audit(root)
    _, out = _run_printed(stderr, tmp_path)
    kept = out / "particles_kept.star"
    assert brute_force(_rows(kept), 50) == (0, 0)
    _refine(root, "Refine3D/job031", str(kept) if path == "absolute" else os.path.relpath(kept, root), kept)
    _running(root, "Refine3D/job031")
    status, audit, _ = _audit(root)
    jobs = _jobs(audit)
    assert jobs["Refine3D/job031"]["particle_inputs"] == [_R29]
    assert jobs["Refine3D/job031"]["verdict"] == "not run" and "abort" not in jobs["Refine3D/job031"]["line"]
    assert "running on duplicates" not in audit["verdict"]["line"] and jobs[_R29]["verdict"] == "redo" and status == 1
    # The flip: a Refine3D running on job029's own file (its copies in) is told to abort.
    _refine(root, "Refine3D/job032", f"{_R29}/run_data.star", root / _R29 / "run_data.star")
    _running(root, "Refine3D/job032")
    status, audit, _ = _audit(root)
    assert (
        _jobs(audit)["Refine3D/job032"]["verdict"] == "running" and "running on duplicates" in audit["verdict"]["line"]
    )
    assert status == 1


@pytest.mark.parametrize("route", ["redo", "external"])
def test_a_refinement_of_the_rejected_copies_supersedes_nothing(tmp_path, route):
    # Before: a finished Refine3D of the redo's (or the External job's) particles_rejected.star made job029
    # "superseded", exit 0: the rejected copies hold no pair among themselves, yet they are not its particles
    # deduplicated.
    root = _planted(tmp_path, [f"{_R29}/run_data.star"])
    status, audit, stderr = _audit(root)
    extra = []
    if route == "redo":
        _, out = _run_printed(stderr, tmp_path)
        rejected = out / "particles_rejected.star"
        browsed = str(rejected)
    else:
        extra = _external(root, audit)
        rejected = root / "External/job031/particles_rejected.star"
        browsed = "External/job031/particles_rejected.star"
    assert brute_force(_rows(rejected), 50) == (0, 0)  # (a clean set by itself: what let it supersede)
    _refine(root, "Refine3D/job033", browsed, rejected, extra)
    status, audit, _ = _audit(root)
    jobs = _jobs(audit)
    assert jobs[_R29]["verdict"] == "redo" and status == 1
    assert jobs["Refine3D/job033"]["verdict"] == "clean" and jobs["Refine3D/job033"]["particle_inputs"] == []


def test_a_damaged_final_refinement_is_named_and_its_redo_clears_the_chain(tmp_path):
    # Before: job029's run_data.star truncated, the headline moved to "redo Refine3D/job025; ... 1 damaged": redoing
    # job025 leaves job029, which refined Polish/job028's particles (20 copies across the half-sets they carry).
    root = _planted(tmp_path, CHAIN)
    data = root / _R29 / "run_data.star"
    data.write_text(data.read_text()[: data.stat().st_size // 2])
    status, audit, stderr = _audit(root)
    jobs = _jobs(audit)
    assert status == 1 and audit["verdict"]["line"].startswith(
        f"1 refinement to redo: {_R29} (damaged); redoing it clears"
    )
    assert jobs[_R29]["verdict"] == "redo" and "run_data.star could not be read" in jobs[_R29]["line"]
    assert jobs[_R19]["verdict"] == jobs[_R25]["verdict"] == "carried"
    assert "Polish/job028/shiny.star" in jobs[_R29]["command"]
    # The printed command, run as printed, then a refinement of its kept set: the chain cleared.
    _, out = _run_printed_for(stderr, tmp_path, _R29)
    assert brute_force(_rows(out / "particles_kept.star"), 50) == (0, 0)
    _refine(root, "Refine3D/job031", str(out / "particles_kept.star"), out / "particles_kept.star")
    status, audit, _ = _audit(root)
    jobs = _jobs(audit)
    assert {jobs[n]["verdict"] for n in (_R19, _R25, _R29)} == {"superseded"} and status == 0, audit["verdict"]["line"]
