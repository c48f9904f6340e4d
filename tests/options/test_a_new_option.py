"""A new option of the particle job, added as docs/developers/index.md says, in a copy of the package.

The guide's files for an option: its declaration in options/particles.py (flag, help, panel), its place in
the typed value of the step that reads it (jobs/particles/plan.py), and that step reading it (here
jobs/particles/write.py); then docs/reference/cli.md written again. The toy option ``--toy-dry-run``
writes no particle file.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import package_with, project_checks_on

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "python" / "cryodedup"


#: The options a --update round reads where it opens the store, around the job (not the job's steps).
ROUND_OPTIONS = {"add_again", "repair"}


def declared_options(package: Path) -> set[str]:
    """The fields of ``ParticleOptions`` as options/particles.py declares them (by ``ast``: no import)."""
    tree = ast.parse((package / "options" / "particles.py").read_text(encoding="utf-8"))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ParticleOptions"]
    return {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


def unplanned_options(package: Path) -> set[str]:
    """The declared options that jobs/particles/plan.py never reads (``options.NAME``), but a round's own."""
    source = ast.parse((package / "jobs" / "particles" / "plan.py").read_text(encoding="utf-8"))
    read = {
        n.attr
        for n in ast.walk(source)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "options"
    }
    return declared_options(package) - read - ROUND_OPTIONS


def test_every_option_reaches_the_steps_through_the_plan():
    # No step takes the options (tests/jobs/particles/test_particle_plan.py): an option the plan does not read reaches
    # no step, and the command line, the API and the pipelines would take it and do nothing with it.
    assert unplanned_options(PACKAGE) == set()


#: Each step of the guide: (file, text there, the text it becomes).
DECLARED = (
    "options/particles.py",
    "\n    def __post_init__(self) -> None:",
    '\n    toy_dry_run: bool = option(False, "--toy-dry-run", "Toy: write no particle file.", is_flag=True,'
    ' label="toy dry run", panel=OUTPUT)\n\n    def __post_init__(self) -> None:',
)
PLANNED = (
    "jobs/particles/plan.py",
    "    parameters: Parameters | None = None\n",
    "    parameters: Parameters | None = None\n    toy_dry_run: bool = False\n",
)
#: (the output plan's last argument: report.html's table of the options)
_TABLE = "        _report_table()(*shown_values(options)) if options.plot else None,  # (only with a report)\n"
PLACED = ("jobs/particles/plan.py", _TABLE + "    )\n", _TABLE + "        toy_dry_run=options.toy_dry_run,\n    )\n")
READ = ("jobs/particles/write.py", "    if output.audit:\n", "    if output.audit or output.toy_dry_run:\n")

#: Run with the copy first on the path: the help, the pipelines' form, the CLI reference, the CLI's and the API's runs.
PROBE = textwrap.dedent(
    """
    import importlib.util, json, sys
    from pathlib import Path
    from click.testing import CliRunner
    from cryodedup import remove_duplicates
    from cryodedup.cli import main
    from cryodedup.pipelines.job_types import form_field

    star, out, script = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    spec = importlib.util.spec_from_file_location("cli_reference", script)
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    field = form_field("particles", "toy_dry_run")
    args = [str(star), "--mic-psize", "1", "--min-dist", "10", "-q"]
    cli = CliRunner().invoke(main, ["particles", *args, "-o", str(out / "cli"), "--toy-dry-run"])
    plain = CliRunner().invoke(main, ["particles", *args, "-o", str(out / "plain")])
    remove_duplicates(str(star), out / "api", mic_psize=1, min_dist=10, toy_dry_run=True)
    print(json.dumps({
        "help": CliRunner().invoke(main, ["particles", "--help"], terminal_width=200).output,
        "reference": "`--toy-dry-run`" in reference.render(),
        "form": [field.flag, field.kind, field.default, field.help],
        "exits": [cli.exit_code, plain.exit_code],
        "written": {run: sorted(p.name for p in (out / run).glob("*.star")) for run in ("cli", "plain", "api")},
    }))
    """
)


def test_the_toy_options_anchors_are_the_guides_files():
    guide = (ROOT / "docs" / "developers" / "index.md").read_text(encoding="utf-8")
    section = guide.split("**A job option**")[1].split("\n\n**")[0]
    for where, *_ in (DECLARED, PLANNED, READ):
        assert where.split("/")[-1] in section, where


def test_an_option_declared_planned_and_read_reaches_every_entry_and_its_step(tmp_path):
    copy = package_with(tmp_path / "src", DECLARED, PLANNED, PLACED, READ)
    assert unplanned_options(copy) == set()
    star = tmp_path / "p.star"
    star.write_text("data_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnMicrographName\n100 100 a.mrc\n")
    env = {**os.environ, "PYTHONPATH": str(copy.parent)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(star), str(tmp_path / "out"), str(ROOT / "scripts" / "cli_reference.py")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert "--toy-dry-run" in found["help"] and "Toy: write no particle file." in found["help"]
    assert found["reference"]  # (the page is stale until scripts/cli_reference.py runs: test_docs.py says so)
    assert found["form"] == ["--toy-dry-run", "bool", False, "Toy: write no particle file."]
    assert found["exits"] == [0, 0]
    assert found["written"] == {"cli": [], "plain": ["particles_kept.star", "particles_rejected.star"], "api": []}


@pytest.mark.slow
def test_the_projects_checks_hold_with_the_toy_option(tmp_path):
    copy = package_with(tmp_path / "src", DECLARED, PLANNED, PLACED, READ)
    # The project's checks of the options, the plan and the modules' names hold with the toy.
    checks = project_checks_on(
        copy,
        "tests/options/test_options.py",
        "tests/jobs/particles/test_particle_plan.py",
        "tests/project/test_public_names.py",
    )
    assert checks.returncode == 0, checks.stdout[-3000:]


def test_an_option_the_plan_does_not_place_is_caught(tmp_path):
    # Declared alone, the option is taken by every entry and reaches no step (no step sees the options).
    assert unplanned_options(package_with(tmp_path / "src", DECLARED)) == {"toy_dry_run"}
    # Its field in the step's value but never given by the plan: still caught.
    assert unplanned_options(package_with(tmp_path / "b", DECLARED, PLANNED)) == {"toy_dry_run"}


@pytest.mark.parametrize("step", ["declared", "read"])
def test_a_step_left_out_is_seen(tmp_path, step):
    # Without its declaration the plan's reading fails to import; without the step reading it the run writes.
    steps = {"declared": (PLANNED, PLACED, READ), "read": (DECLARED, PLANNED, PLACED)}[step]
    copy = package_with(tmp_path / "src", *steps)
    star = tmp_path / "p.star"
    star.write_text("data_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnMicrographName\n100 100 a.mrc\n")
    env = {**os.environ, "PYTHONPATH": str(copy.parent)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(star), str(tmp_path / "out"), str(ROOT / "scripts" / "cli_reference.py")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if step == "declared":
        assert done.returncode != 0 and "toy_dry_run" in done.stderr  # (the plan reads a field that is not there)
    else:
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(done.stdout.splitlines()[-1])["written"]["cli"] != []  # (taken, and nothing reads it)
