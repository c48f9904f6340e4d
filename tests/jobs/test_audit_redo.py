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

import pytest

from fixtures.relion_project import brute_force, pipeline_text
from fixtures.relion_tutorial import JOBS, plant, write_tutorial

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
    # As RELION runs an External job: from the project's folder, its fields as options (pipeline_jobs.cpp).
    argv = ["--o", "External/job031/", "--in_parts", particles]
    for label, value in params:
        argv += [f"--{label}", value]
    (root / "External/job031").mkdir(parents=True)
    done = subprocess.run(
        [str(BIN / "cryodedup-relion"), *argv, "--j", "1"], capture_output=True, text=True, check=False, cwd=root
    )
    assert done.returncode == 0 and (root / "External/job031/RELION_JOB_EXIT_SUCCESS").exists(), done.stderr
    external = ("External/job031", 99, "relion.external", [particles], [("particles_kept.star", _P)])
    kept = root / "External/job031/particles_kept.star"
    _refine(root, "Refine3D/job032", "External/job031/particles_kept.star", kept, [external])
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
    assert audit["verdict"] == f"1 refinement to redo: {_R29}; redoing it clears {_R19}, {_R25}"
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
