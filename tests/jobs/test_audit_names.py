"""Names as written in the audit (issue 90 items 6 and 9): its redo command printed as it runs, a file read by its name.

The RELION 3.1 tutorial's chain (tests/fixtures/relion_tutorial.py), copies planted across the half-sets of its last
refinement. Item 6: the project's folder named with a terminal's escape sequences (OSC retitles the window, CSI,
``\\r``) or a byte that is not UTF-8; the command printed must show every character, and, pasted into bash as
printed, reject the copies planted (the oracle: the plant itself). Item 9: the refinement's particle file named with a
byte that is not UTF-8; the audit must read it and count the copies planted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.relion_project import pipeline_text
from fixtures.relion_tutorial import JOBS, plant, write_tutorial

CRYODEDUP = str(Path(sys.executable).parent / "cryodedup")
_R29 = "Refine3D/job029"
_DATA = f"{_R29}/run_data.star"


def _audit(root: Path) -> tuple[int, dict, str]:
    done = subprocess.run([CRYODEDUP, "audit", str(root), "--json"], capture_output=True, check=False)
    stderr = done.stderr.decode("utf-8")  # (the report is UTF-8 whatever the names: each shown by its escapes)
    assert "Traceback" not in stderr, stderr
    return done.returncode, json.loads(done.stdout), stderr


def _printed_command(stderr: str) -> str:
    """The command printed under the table, to be copied (one line)."""
    head = f"To refine {_R29} again, write its set without the duplicates:\n  "
    assert stderr.count(head) == 1, stderr
    return stderr.split(head)[1].split("\n")[0]


def _run_in_bash(command: str, cwd: Path) -> subprocess.CompletedProcess:
    """``command`` pasted into bash as printed (``cryodedup`` the test's own)."""
    path = f"{Path(CRYODEDUP).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-c", command], capture_output=True, check=False, cwd=cwd, env={**os.environ, "PATH": path}
    )


def _rejected(out: Path) -> int:
    text = (out / "particles_rejected.star").read_text()
    return sum(1 for line in text.split("data_particles")[-1].splitlines() if "@" in line)


@pytest.mark.parametrize(
    "name",
    [
        "osc\x1b]0;retitled\x07project",
        "over\rwritten",
        "csi\x1b[31mred\x1b[0m",
        os.fsdecode(b"not-utf8-\xff\xfe"),
        "all \x1b]0;t\x07 \r\x1b[2K\u2028 '$(x)' " + os.fsdecode(b"\xff"),
    ],
    ids=["OSC", "CR", "CSI", "not UTF-8", "all of them"],
)
def test_the_redo_command_is_printed_as_it_runs_whatever_the_projects_name(tmp_path, name):
    # Before: printed raw: the OSC retitled the terminal, \r overwrote the line, click stripped the CSI (the command
    # printed named another folder) and the byte not UTF-8 was printed as \udcff: run as printed, file not found.
    root = tmp_path / name
    root.mkdir()
    plant(root, write_tutorial(root), [_DATA], 20)
    status, audit, stderr = _audit(root)
    assert status == 1 and "\x1b" not in stderr and "\r" not in stderr and "\\udc" not in stderr
    command = {j["job"]: j for j in audit["jobs"]}[_R29]["command"]
    assert _printed_command(stderr) == command and command.isprintable() and command.isascii()
    done = _run_in_bash(command, tmp_path)
    assert done.returncode == 0, done.stderr
    out = Path(f"{root}-cryodedup") / "Refine3D_job029"  # (the folder the command names, beside the project)
    assert _rejected(out) == 20


def test_a_particle_file_whose_name_is_not_utf8_is_read_and_its_refinement_flagged(tmp_path):
    # Before: the pipeline was decoded with U+FFFD, the file never found, the refinement not flagged: exit 0.
    root = tmp_path / "p"
    root.mkdir()
    plant(root, write_tutorial(root), [_DATA], 15)
    renamed = os.fsdecode(f"{_R29}/run_data".encode() + b"\xff.star")
    os.rename(root / _DATA, root / renamed)
    text = pipeline_text("3.1", JOBS).replace(_DATA, renamed)
    (root / "default_pipeline.star").write_bytes(text.encode("utf-8", "surrogateescape"))
    status, audit, stderr = _audit(root)
    job = {j["job"]: j for j in audit["jobs"]}[_R29]
    assert status == 1 and job["verdict"] == "redo" and job["particle_sets"] == {renamed: [renamed]}
    (audited,) = job["sets"]
    assert audited["straddling_pairs"] == audited["duplicate_pairs"] == 15
    assert "run_data\\xff.star" in stderr  # (the name shown by its escape, on a UTF-8 report)
    done = _run_in_bash(_printed_command(stderr), tmp_path)
    assert done.returncode == 0, done.stderr
    assert _rejected(Path(f"{root}-cryodedup") / "Refine3D_job029") == 15


def test_every_byte_of_a_name_comes_back_from_the_printed_command():
    # The oracle: bash itself, reading the words back (printf of each, as bytes).
    from cryodedup.errors import printable, shell_command

    words = [os.fsdecode(bytes([b])) for b in range(1, 256)] + [os.fsdecode(bytes(range(1, 256))), "a b", "it's", ""]
    words += ["\u2028\u202e\ufeff", "$(touch x)", "`x`", "\\x41", "$'x'", "é", "!x", "-o"]
    command = shell_command(["printf", "%s\\0", *words])
    assert printable(command) == command and "\n" not in command and "\t" not in command
    done = subprocess.run(["bash", "-c", command], capture_output=True, check=True)
    assert done.stdout.split(b"\0")[:-1] == [os.fsencode(w) for w in words]


#: Barrage seven's pipeline names (issue 99 item 6): RELION writes a node's file name as it is, which the STAR syntax
#: cannot hold; the damaged job is named, the rest of the pipeline audited. Each: (name, what the line says).
_UNHELD_NAMES = [
    ("parti\x1bcles.star", "a control character (0x1b)"),
    ('it\'s "x"a.star', "3 fields, expected 2"),
    ("my particles.star", "3 fields, expected 2"),
]


@pytest.mark.parametrize(("name", "said"), _UNHELD_NAMES, ids=["escape", "both-quotes", "space"])
def test_a_pipeline_naming_a_file_the_star_syntax_cannot_hold_names_its_job_and_audits_the_rest(tmp_path, name, said):
    from fixtures.relion_project import write_project

    clean, damaged = tmp_path / "clean", tmp_path / "damaged"
    for root in (clean, damaged):
        root.mkdir()
        write_project(root)
    node = "Select/job016/particles.star"
    (damaged / node).rename(damaged / "Select/job016" / name)
    text = (damaged / "default_pipeline.star").read_text()
    (damaged / "default_pipeline.star").write_text(text.replace(node, f"Select/job016/{name}"))
    (status, audit, stderr), (_, oracle, _) = _audit(damaged), _audit(clean)
    assert status in (0, 1), stderr  # (not refused whole)
    jobs, expected = ({j["job"]: j for j in a["jobs"]} for a in (audit, oracle))
    hurt = jobs["Select/job016"]
    assert hurt["verdict"] == "damaged" and hurt["sets"] == []
    assert any(said in line and "default_pipeline.star: line " in line for line in hurt["problems"]), hurt
    # The oracle: the same project with a name the syntax holds; every other job's sets counted alike, but for the
    # refinement that read the damaged job's set (audited still, its lineage cut there: no micrographs upstream).
    assert jobs["Refine3D/job017"]["sets"][0]["particles"] == expected["Refine3D/job017"]["sets"][0]["particles"]
    others = [name for name in expected if name not in ("Select/job016", "Refine3D/job017")]
    sets = [json.dumps(jobs[n]["sets"]).replace(str(damaged), "P") for n in others]
    assert sets == [json.dumps(expected[n]["sets"]).replace(str(clean), "P") for n in others]
    assert sum(len(jobs[n]["sets"]) for n in others) >= 8 and "\x1b" not in stderr


def test_a_pipeline_whose_damaged_row_names_no_job_is_refused_whole(tmp_path):
    from fixtures.relion_project import write_project

    write_project(tmp_path)
    text = (tmp_path / "default_pipeline.star").read_text()
    (tmp_path / "default_pipeline.star").write_text(text.replace("data_pipeline_nodes", "data_pipeline_nodes\n\0\0\0"))
    done = subprocess.run([CRYODEDUP, "audit", str(tmp_path)], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "binary content" in done.stderr and "Traceback" not in done.stderr
