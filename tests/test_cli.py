"""The ``cryodedup`` command line: exit codes, messages, and that bad input writes nothing."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from helpers import star_text, write_star

P31 = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup", "rlnAutopickFigureOfMerit"]
OPTICS = [[1, "og1", 2.0, 1.0]]
GOOD_ROWS = [[1000, 1000, "m.mrc", 1, 0.5], [1010, 1000, "m.mrc", 1, 0.7], [3000, 3000, "m.mrc", 1, 0.1]]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def good(tmp_path):
    return write_star(tmp_path / "good.star", P31, GOOD_ROWS, optics=OPTICS)


def test_runs_and_prints_a_summary(tmp_path, good):
    result = cli("particles", good, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "Particles in" in result.stderr and "Rejected" in result.stderr
    assert (tmp_path / "out" / "particles_kept.star").exists()


def test_json_and_quiet(tmp_path, good):
    result = cli("particles", good, "-o", tmp_path / "out", "--json", "--quiet")
    assert result.exit_code == 0
    assert result.stderr == ""
    summary = json.loads(result.stdout)
    assert (summary["particles"], summary["kept"], summary["rejected"]) == (3, 2, 1)
    assert summary["score"] == {"column": "rlnAutopickFigureOfMerit", "order": "max"}


def bad_input(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


CASES = {
    "missing file": (lambda t: t / "nope.star", [], r"nope.star: file not found"),
    "empty file": (lambda t: bad_input(t, "e.star", ""), [], r"e.star: the file is empty"),
    "no particle block": (
        lambda t: bad_input(t, "o.star", star_text(["a"], [[1]], block="one") + star_text(["b"], [[1]], block="two")),
        [],
        r"o.star: no particle block found .*blocks present: data_one, data_two",
    ),
    "wrong field count": (
        lambda t: bad_input(t, "f.star", star_text(P31, [*GOOD_ROWS, [1, 2, "m.mrc", 1]], optics=OPTICS)),
        [],
        r"f.star: line {line_of '1 2 m.mrc 1'}: row has 4 fields, expected 5",
    ),
    "non-numeric coordinate": (
        lambda t: bad_input(t, "n.star", star_text(P31, [*GOOD_ROWS, ["12a", 2, "m.mrc", 1, 0.2]], optics=OPTICS)),
        [],
        r"n.star: line {line_of '12a 2 m.mrc 1 0.2'}: column rlnCoordinateX holds \"12a\", expected a number",
    ),
    "missing coordinates": (
        lambda t: bad_input(t, "c.star", star_text(P31[1:], [r[1:] for r in GOOD_ROWS], optics=OPTICS)),
        [],
        r"c.star: data_particles \(line \d+\): no rlnCoordinateX column",
    ),
    "missing micrograph name": (
        lambda t: bad_input(
            t, "m.star", star_text(P31[:2] + P31[3:], [r[:2] + r[3:] for r in GOOD_ROWS], optics=OPTICS)
        ),
        [],
        r"m.star: data_particles \(line \d+\): no rlnMicrographName column",
    ),
    "no micrograph pixel size": (
        lambda t: bad_input(
            t,
            "p.star",
            star_text(
                P31,
                GOOD_ROWS,
                optics=[[1, "og1", 2.0]],
                optics_labels=["rlnOpticsGroup", "rlnOpticsGroupName", "rlnImagePixelSize"],
            ),
        ),
        [],
        r"p.star: .*no micrograph pixel size .*--mic-psize",
    ),
    "negative distance": (
        lambda t: write_star(t / "g.star", P31, GOOD_ROWS, optics=OPTICS),
        ["--min-dist", "-5"],
        r"--min-dist must be a distance in Å >= 0, got -5",
    ),
    "unknown score": (
        lambda t: write_star(t / "g.star", P31, GOOD_ROWS, optics=OPTICS),
        ["--score", "rlnFoo"],
        r"unknown score column 'rlnFoo'; numeric columns present: rlnCoordinateX, rlnCoordinateY, "
        r"rlnOpticsGroup, rlnAutopickFigureOfMerit",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_with_a_message(tmp_path, case):
    make, extra, message = CASES[case]
    path = make(tmp_path)
    if "{line_of" in message:  # the line number, counted here from the file's text
        wanted = message.split("{line_of '")[1].split("'}")[0]
        line = path.read_text().splitlines().index(wanted) + 1
        message = message.replace(f"{{line_of '{wanted}'}}", str(line))
    result = cli("particles", path, "-o", tmp_path / "out", *extra)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ")
    assert re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_existing_outputs_need_force(tmp_path, good):
    assert cli("particles", good, "-o", tmp_path / "out").exit_code == 0
    kept = tmp_path / "out" / "particles_kept.star"
    kept.write_text("precious")
    result = cli("particles", good, "-o", tmp_path / "out")
    assert result.exit_code == 1 and "already exists; use --force" in result.stderr
    assert kept.read_text() == "precious"
    assert cli("particles", good, "-o", tmp_path / "out", "--force").exit_code == 0
    assert kept.read_text() != "precious"


def test_windows_line_endings_are_accepted(tmp_path):
    path = write_star(tmp_path / "w.star", P31, GOOD_ROWS, optics=OPTICS, newline="\r\n")
    result = cli("particles", path, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rejected"] == 1
    kept = (tmp_path / "out" / "particles_kept.star").read_bytes()
    assert b"1010 1000 m.mrc 1 0.7\r\n" in kept and b"3000 3000 m.mrc 1 0.1\r\n" in kept


def test_usage_errors_exit_2(tmp_path, good):
    assert cli("particles", good).exit_code == 2  # no -o
    assert cli("particles", good, "-o", tmp_path, "--score-order", "up").exit_code == 2


def test_installed_entry_point_and_demo(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cryodedup.cli", "demo", str(tmp_path / "demo"), "--json"],
        capture_output=True,
        text=True,
        check=False,  # the assert below shows stderr when it fails
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["particles"] == 471 and 0 < summary["rejected"] < summary["particles"]
    assert (tmp_path / "demo" / "result" / "particles_kept.star").exists()


def test_inputs_are_told_apart_and_paths_are_never_cut(tmp_path):
    # Two particles.star of different jobs, deep enough that paths pass 80 columns.
    deep = tmp_path / ("a_rather_long_project_folder_name_" * 3) / "Select"
    files = []
    for job in ("job020", "job021"):
        (deep / job).mkdir(parents=True)
        files.append(write_star(deep / job / "particles.star", P31, GOOD_ROWS, optics=OPTICS))
    out = deep / "Dedup" / "job030"
    for columns in ("80", "40"):  # a pipe (80 columns) and a narrow terminal
        result = CliRunner(env={"COLUMNS": columns}).invoke(
            main, ["particles", *map(str, files), "-o", str(out), "--force"]
        )
        assert result.exit_code == 0, result.output
        assert "job020/particles.star" in result.stderr and "job021/particles.star" in result.stderr
        assert str(out / "particles_kept.star") in result.stderr, result.stderr


def test_demo_command_pastes_into_a_shell(tmp_path):
    outdir = tmp_path / "my demo [1]"
    result = cli("demo", outdir)
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Running: ")]
    args = shlex.split(line.removeprefix("Running: "))
    assert args[:2] == ["cryodedup", "particles"]
    assert args[2:4] == [
        str(outdir / "input" / "particles_log.star"),
        str(outdir / "input" / "particles_template.star"),
    ]
    assert args[args.index("-o") + 1] == str(outdir / "result")
    assert args[args.index("--micrographs") + 1] == str(outdir / "input" / "micrographs_ctf.star")


def test_seed_help_and_plot_message(tmp_path, good, monkeypatch):
    help_text = cli("particles", "--help").output
    assert "non-negative integer" in help_text and "18446744073709551615" not in help_text
    assert cli("particles", good, "-o", tmp_path / "out", "--seed", "-1").exit_code == 2
    # Without matplotlib, --plot says how to get it, brackets and all.
    import cryodedup.outputs

    real = cryodedup.outputs.importlib.util.find_spec
    monkeypatch.setattr(
        cryodedup.outputs.importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a)
    )
    result = cli("particles", good, "-o", tmp_path / "out", "--plot")
    assert result.exit_code == 1
    assert "pip install 'cryodedup[plot]'" in result.stderr, result.stderr
