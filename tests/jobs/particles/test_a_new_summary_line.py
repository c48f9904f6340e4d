"""A new line of the particle job's summary, added as docs/developers/index.md says, in a copy of the package.

The guide's files for a summary section: its class in a module of report/sections/ and its entry in
``SECTIONS`` (report/sections/__init__.py), its field in ``ParticleSummary`` and where the job builds it
(jobs/particles/summary.py), its rows in ``particle_rows`` (report/summary.py); then the ``--json``
reference of docs/reference/outputs.md made again. The toy ``ToyLine`` says the kept particles again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import package_with, project_checks_on

ROOT = Path(__file__).resolve().parents[3]

#: The toy section's module (report/sections/toy.py).
MODULE = textwrap.dedent(
    '''
    """A toy section: the kept particles said again."""

    from __future__ import annotations

    from dataclasses import dataclass
    from typing import ClassVar

    from .base import Row, Section

    __all__ = ["ToyLine"]


    @dataclass(frozen=True)
    class ToyLine(Section):
        """The toy's line."""

        key: ClassVar[str] = "toy_line"

        kept: int

        def rows(self, unit: str) -> list[Row]:
            """Its one row."""
            return [("Toy line", f"{self.kept:,} kept in every {unit}")]
    '''
)

#: Each step of the guide: (file, text there, the text it becomes).
REGISTERED = (
    "report/sections/__init__.py",
    '    ("Outputs", "run"),\n)',
    '    ("Outputs", "run"),\n    ("ToyLine", "toy"),\n)',
)
NAMED = (
    "report/sections/__init__.py",
    '    "SymmetryCopies",\n    "UpdateRound",\n',
    '    "SymmetryCopies",\n    "ToyLine",\n    "UpdateRound",\n',
)
TYPED = (
    "report/sections/__init__.py",
    "    from .update import UpdateRound\n",
    "    from .toy import ToyLine\n    from .update import UpdateRound\n",
)
FIELD = (
    "jobs/particles/summary.py",
    "    micrograph_images: str | None = field(",
    '    toy_line: ToyLine | None = field(default=None, metadata=_doc("the toy\'s line"))\n'
    "    micrograph_images: str | None = field(",
)
BUILT = (
    "jobs/particles/summary.py",
    "    return ParticleSummary(\n",
    "    from ...report.sections.toy import ToyLine\n\n"
    "    return ParticleSummary(\n        toy_line=ToyLine(n_kept),\n",
)
ROWS = (
    "report/summary.py",
    "        UpdateRound,\n    )\n\n    return [\n",
    "        UpdateRound,\n    )\n    from .sections import ToyLine\n\n    return [\n",
)
SHOWN = (
    "report/summary.py",
    "        *sections.rows(UpdateRound, unit),\n",
    "        *sections.rows(UpdateRound, unit),\n        *sections.rows(ToyLine, unit),\n",
)
STEPS = {"registered": (REGISTERED, NAMED, TYPED), "field": (FIELD,), "built": (BUILT,), "rows": (ROWS, SHOWN)}

ALL = tuple(edit for step in STEPS.values() for edit in step)

#: Run with the copy first on the path: --json, the terminal's table, report.html, the --json reference.
PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from click.testing import CliRunner
    from cryodedup.cli import main
    from cryodedup.jobs.particles.summary import reference_table

    star, out = Path(sys.argv[1]), Path(sys.argv[2])
    args = ["particles", str(star), "--mic-psize", "1", "--min-dist", "10"]
    document = CliRunner().invoke(main, [*args, "-o", str(out / "json"), "--json", "-q"], catch_exceptions=False)
    table = CliRunner().invoke(main, [*args, "-o", str(out / "plot"), "--plot"], terminal_width=200,
                               catch_exceptions=False)
    report = out / "plot" / "report.html"
    print(json.dumps({
        "json": json.loads(document.output),
        "table": table.output,
        "report": report.read_text(encoding="utf-8") if report.is_file() else "",
        "reference": reference_table(),
    }))
    """
)


def _copy(tmp_path: Path, *steps: tuple[str, str, str]) -> Path:
    return package_with(tmp_path / "src", *steps, new={"report/sections/toy.py": MODULE})


def _run(tmp_path: Path, *steps: tuple[str, str, str]) -> subprocess.CompletedProcess:
    copy = _copy(tmp_path, *steps)
    star = tmp_path / "p.star"
    star.write_text("data_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnMicrographName\n100 100 a.mrc\n")
    env = {**os.environ, "PYTHONPATH": str(copy.parent)}
    return subprocess.run(
        [sys.executable, "-c", PROBE, str(star), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )


def _shown(done: subprocess.CompletedProcess) -> dict[str, bool]:
    """Where the toy's line is shown: the --json document, the terminal's table, report.html, the reference."""
    found = json.loads(done.stdout.splitlines()[-1])
    return {
        "json": found["json"].get("toy_line") == {"kept": 1},
        "table": "Toy line" in found["table"] and "1 kept in every micrograph" in found["table"],
        "report": "Toy line" in found["report"] and "1 kept in every micrograph" in found["report"],
        "reference": "| `toy_line` | the toy's line |" in found["reference"],
    }


def test_the_toy_lines_files_are_the_guides():
    guide = (ROOT / "docs" / "developers" / "index.md").read_text(encoding="utf-8")
    section = guide.split("**A summary line**")[1].split("\n\n**")[0]
    for where in ("report/sections/", "sections/__init__.py", "jobs/particles/summary.py", "report/summary.py"):
        assert where in section, where
    assert "docs/reference/outputs.md" in section


def test_a_summary_line_made_as_the_guide_says_is_shown_everywhere(tmp_path):
    pytest.importorskip("PIL")  # (report.html: the plot extra)
    done = _run(tmp_path, *ALL)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _shown(done) == {"json": True, "table": True, "report": True, "reference": True}


@pytest.mark.slow
def test_the_projects_checks_hold_with_the_toy_line(tmp_path):
    # The project's checks of the sections and of the modules' names hold with the toy (its __all__, the registry's).
    checks = project_checks_on(
        _copy(tmp_path, *ALL), "tests/report/test_sections.py", "tests/project/test_public_names.py"
    )
    assert checks.returncode == 0, checks.stdout[-3000:]


@pytest.mark.parametrize("left_out", list(STEPS))
def test_a_step_left_out_is_seen(tmp_path, left_out):
    # Each step is needed: without it the run fails, or the line is missing from one of the places it is shown.
    pytest.importorskip("PIL")
    done = _run(tmp_path, *(edit for name, step in STEPS.items() if name != left_out for edit in step))
    assert done.returncode != 0 or not all(_shown(done).values())
