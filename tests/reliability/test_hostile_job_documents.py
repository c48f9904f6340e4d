"""One damaged job document never takes the audit down (issue 90 item 4): the damage named, the rest audited.

Each number a job document holds is foreign: a RELION 3.1 node or process type of ``²`` (``isdigit()`` says yes,
``int()`` refuses) or of 5,000 digits, a CryoSPARC ``started_at`` of 400 digits or ``{"$date": 1e400}`` (a float
division that overflows), a uid of ``J`` and 5,000 digits without its ``uid_num``. Before, each was a traceback.
The oracle: the fixtures' own plants (tests/fixtures/*_project.py say which refinement is to redo, which clean),
which a damaged number elsewhere must leave as they are.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cryodedup.jobs.audit.stages import audit_project

_DIGITS = "9" * 5000


def _relion(tmp_path: Path, change: tuple[str, str]) -> tuple[list[str], dict[str, str]]:
    from fixtures.relion_project import write_project

    write_project(tmp_path)
    pipeline = tmp_path / "default_pipeline.star"
    text, count = re.subn(change[0], change[1], pipeline.read_text(), count=1, flags=re.M)
    assert count == 1
    pipeline.write_text(text)
    audit = audit_project(tmp_path)
    return audit.lines(), {j.job.name: j.verdict for j in audit.jobs}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            (r"^(MaskCreate/job020/mask\.mrc) +7 $", r"\1 ² "),
            "node MaskCreate/job020/mask.mrc: _rlnPipeLineNodeType is ²",
        ),
        (
            (r"^(MaskCreate/job020/mask\.mrc) +7 $", rf"\1 {_DIGITS} "),
            "node MaskCreate/job020/mask.mrc: _rlnPipeLineNodeType is 9999999999",
        ),
        (
            (r"^(PostProcess/job021/ +None) +15 ", rf"\1 {_DIGITS} "),
            "process PostProcess/job021/: _rlnPipeLineProcessType is 9999999999",
        ),
        (
            (r"^(PostProcess/job021/ +None +15) +2 $", r"\1 ³ "),
            "process PostProcess/job021/: _rlnPipeLineProcessStatus is ³",
        ),
    ],
    ids=["node type ²", "node type of 5,000 digits", "process type of 5,000 digits", "status ³"],
)
def test_a_damaged_number_of_the_pipeline_is_named_and_the_rest_audited(tmp_path, change, named):
    lines, verdicts = _relion(tmp_path, change)
    (line,) = [line for line in lines if named in line]
    assert line.endswith("expected a whole number (RELION 3.1); read as no type known") and len(line) < 400
    # As tests/fixtures/relion_project.py plants them: the joined set's refinement to redo, the other clean.
    assert len(verdicts) == 21 and (verdicts["Refine3D/job017"], verdicts["Refine3D/job019"]) == ("redo", "clean")


def _cryosparc(tmp_path: Path, uid: str, edit) -> tuple[list[str], dict[str, str]]:
    pytest.importorskip("cryosparc.dataset")
    from fixtures.cryosparc_project import write_project

    write_project(tmp_path)
    path = tmp_path / uid / "job.json"
    path.write_text(edit(json.loads(path.read_text())))
    audit = audit_project(tmp_path)
    return audit.lines(), {j.job.name: j.verdict for j in audit.jobs}


def _as_text(change: dict, raw: dict[str, str] | None = None):
    """The document with ``change`` made, and values that JSON cannot say from Python (``1e400``) written as text."""

    def edit(document: dict) -> str:
        text = json.dumps({**document, **change})
        for key, value in (raw or {}).items():
            text = text.replace(f'"@{key}@"', value)
        return text

    return edit


@pytest.mark.parametrize(
    "edit",
    [
        _as_text({"started_at": "@t@"}, {"t": "1" + "0" * 399}),
        _as_text({"started_at": {"$date": "@t@"}}, {"t": "1" + "0" * 399}),
        _as_text({"started_at": {"$date": "@t@"}}, {"t": "1e400"}),
        _as_text({"started_at": {"$date": "@t@"}, "created_at": "@t@"}, {"t": "-1e400"}),
        _as_text({"started_at": "0001-01-01T00:00:00-23:59", "launched_at": "9999-12-31T23:59:59+23:59"}),
    ],
    ids=["400 digits", "$date of 400 digits", "$date 1e400", "-1e400 twice", "dates at the ends of datetime"],
)
def test_a_start_time_that_is_no_time_is_passed_over(tmp_path, edit):
    # J14, the refinement to redo: its time unreadable, its place in the project's order says when it ran.
    lines, verdicts = _cryosparc(tmp_path, "J14", edit)
    assert not [line for line in lines if "job.json" in line]  # (nothing named damaged)
    assert set(verdicts) == {f"J{k}" for k in range(1, 16)} and not [v for v in verdicts.values() if v == "damaged"]
    assert (verdicts["J14"], verdicts["J12"], verdicts["J15"]) == ("redo", "entered", "clean")


def test_a_uid_of_5000_digits_without_its_number_is_named_and_the_rest_audited(tmp_path):
    def edit(document: dict) -> str:
        del document["uid_num"]
        return json.dumps({**document, "uid": f"J{_DIGITS}"})

    lines, verdicts = _cryosparc(tmp_path, "J5", edit)
    (line,) = [line for line in lines if line.startswith("J5")]
    assert line.endswith('is no job uid (more than 18 digits, no "uid_num")') and len(line) < 400
    assert f'job.json: "uid" J{"9" * 20}' in line
    # As tests/fixtures/cryosparc_project.py plants them (J5, a picker, damaged: the rest as ever).
    assert set(verdicts) == {f"J{k}" for k in range(1, 16)} and verdicts["J5"] == "damaged"
    assert (verdicts["J14"], verdicts["J12"], verdicts["J15"]) == ("redo", "entered", "clean")
