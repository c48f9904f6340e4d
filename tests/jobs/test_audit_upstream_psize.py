"""A wrong pixel size upstream (stop 94's new-user trial): the RELION 3.1 tutorial's project, copies planted across
the half-sets from Refine3D/job019 down, and CtfFind/job003/micrographs_ctf.star stating 10x the micrograph pixel.

Before: the audit read every set's centres at 8.85 Å per pixel (its particle files state only the detector pixel,
0.885 Å), the copies 12 Å apart lay 120 Å apart, and it said "No duplicates in the 13 particle sets audited", exit 0.
Oracles: the fixture's numpy all-pairs search of the rows as written (at the true 0.885 Å) and the planted copies.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from fixtures.relion_project import brute_force
from fixtures.relion_tutorial import plant, write_tutorial
from fixtures.tutorial_files import tutorial_project

BIN = Path(sys.executable).parent
CTF = "CtfFind/job003/micrographs_ctf.star"
CHAIN = [
    "Refine3D/job019/run_data.star",
    "CtfRefine/job022/particles_ctf_refine.star",
    "CtfRefine/job023/particles_ctf_refine.star",
    "CtfRefine/job024/particles_ctf_refine.star",
    "Refine3D/job025/run_data.star",
    "Polish/job028/shiny.star",
    "Refine3D/job029/run_data.star",
]
COPIES = 20


def _project(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "tutorial"
    root.mkdir()
    files = plant(root, write_tutorial(root), CHAIN, COPIES)
    listing = root / CTF
    text = listing.read_text()
    assert text.count("opticsGroup1 1 0.885") == 1
    listing.write_text(text.replace("opticsGroup1 1 0.885", "opticsGroup1 1 8.85"))
    return root, files


def _cryodedup(*words: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / "cryodedup"), *words], capture_output=True, text=True, check=False, cwd=cwd)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_the_particle_job_refuses_a_micrographs_star_its_optics_contradict(tmp_path):
    root, _ = _project(tmp_path)
    run_data = root / "Refine3D/job029/run_data.star"
    done = _cryodedup(
        "particles", str(run_data), "--micrographs", str(root / CTF), "--min-dist", "50", "-o", str(tmp_path / "out")
    )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"Error: rlnMicrographPixelSize in {root / CTF} says 8.85 Å: it contradicts ")
    assert f"rlnMicrographOriginalPixelSize 0.885 Å (the detector pixel) of optics group 1 in {run_data}" in line
    assert not (tmp_path / "out").exists()


def test_the_audit_finds_the_copies_names_both_values_and_its_redo_runs_as_printed(tmp_path):
    root, files = _project(tmp_path)
    assert all(brute_force(files[path], 50) == (COPIES, COPIES) for path in CHAIN)  # (at the true 0.885 Å)
    done = _cryodedup("audit", str(root), "--json")
    assert done.returncode == 1, done.stderr
    jobs = {job["job"]: job for job in json.loads(done.stdout)["jobs"]}
    for path in CHAIN:
        job = jobs[path.rsplit("/", 1)[0]]
        assert job["sets"][0]["straddling_pairs"] == COPIES, job
        warned = [w for w in job["sets"][0]["warnings"] if "says 8.85 Å: it contradicts" in w]
        assert len(warned) == 1 and str(root / CTF) in warned[0] and "0.885 Å" in warned[0]
    # The redo printed leaves out the micrographs STAR the audit did not use: run as printed, it removes the copies.
    shown = _cryodedup("audit", str(root))
    (command,) = [line[2:] for line in shown.stderr.splitlines() if line.startswith("  cryodedup particles ")]
    assert "--micrographs" not in command
    words = shlex.split(command)
    redo = _cryodedup(*words[1:], cwd=tmp_path)
    assert redo.returncode == 0, redo.stderr
    rejected = Path(words[words.index("-o") + 1]) / "particles_rejected.star"
    assert sum(1 for line in rejected.read_text().splitlines() if "@" in line) == COPIES


def _options(command: str) -> set[str]:
    """The options of ``cryodedup COMMAND``, as its --help lists them."""
    import re

    done = subprocess.run([str(Path(sys.executable).parent / "cryodedup"), command, "--help"], capture_output=True,
                          text=True, check=False, env={**__import__("os").environ, "COLUMNS": "200"})  # fmt: skip
    return set(re.findall(r"--[a-z][a-z-]*", done.stdout))


def test_the_audits_warnings_name_only_options_the_audit_takes(tmp_path):
    # Issue 97: every audit of a RELION 3.1 project whose sets lack rlnMicrographPixelSize, with no micrographs STAR
    # upstream, warned "give the micrograph pixel size with --mic-psize, or ... --micrographs": options audit does not
    # take. Its advice (warnings, problems, the table less the redo commands, which are the particle job's) names
    # only its own.
    import re

    write_tutorial(tmp_path)
    (tmp_path / "CtfFind/job003/micrographs_ctf.star").unlink()
    done = _cryodedup("audit", str(tmp_path), "--json")
    audit = json.loads(done.stdout)
    said = [w for j in audit["jobs"] for w in j["warnings"] + j["problems"]] + audit["problems"]
    assert any("has no rlnMicrographPixelSize" in w for w in said)
    table = [line for line in done.stderr.splitlines() if "cryodedup particles" not in line]
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", " ".join(said + table)))
    assert named <= _options("audit"), named - _options("audit")


def test_the_clean_tutorial_reads_each_extracts_micrographs_from_its_job_star(tmp_path):
    """A new user's trial: Extract/job012 and the five jobs downstream were warned "no micrographs STAR upstream of
    the set gives the micrographs' pixel size": the lookup took Select/job005's 5 micrographs (the first micrograph
    input in the pipeline, those its picks were made on), which do not name all its particles' micrographs.

    Oracle: each Extract's own job.star ``star_mics`` (read here by hand), which the real tutorial's lists state
    rlnMicrographPixelSize 0.885 Å in.
    """
    source = tutorial_project()
    done = _cryodedup("audit", str(source), "--json")
    sets = {job["job"]: job["sets"][0] for job in json.loads(done.stdout)["jobs"] if job["sets"]}
    for extract in ("Extract/job007", "Extract/job012", "Extract/job018"):
        lines = (source / extract / "job.star").read_text().splitlines()
        (value,) = [line.split()[1] for line in lines if line.split()[:1] == ["star_mics"] and len(line.split()) == 2]
        assert sets[extract]["micrographs"] == str(source / value), extract
    assert sets["Extract/job012"]["micrographs"].endswith(CTF)
    assert not [w for s in sets.values() for w in s["warnings"] if "upstream" in w or "OriginalPixelSize" in w]
