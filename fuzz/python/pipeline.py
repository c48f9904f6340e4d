"""Fuzz target: RELION's ``default_pipeline.star`` (``formats.star.pipeline.read_pipeline``), its damaged rows.

A row RELION wrote with a file name the STAR syntax cannot hold (a control character, a space,
both quote kinds) is left out and named by the job whose folder it names, the rest read
(issue 99); a file whose damage names no job is refused in one line. Checked: every line said
(the pipeline's problems, each damaged row) is one line naming the file; a damaged row is
named under a job folder (``Kind/jobN``) the row holds; a file the STAR reader reads whole has
no damaged row; every edge names a process of the pipeline.
"""

from __future__ import annotations

import re
from pathlib import Path

from _harness import main

from cryodedup.errors import CryodedupError
from cryodedup.formats.star.file import StarFile
from cryodedup.formats.star.pipeline import read_pipeline

MODULES = ["cryodedup.formats.star.pipeline"]
_JOB = re.compile(r"[A-Za-z][A-Za-z0-9]*/job[0-9]+")


def check(data: bytes, scratch: Path) -> None:
    """Writes the bytes as the project's pipeline, reads it, and asserts what is read or said."""
    path = scratch / "default_pipeline.star"
    path.write_bytes(data)
    pipeline = read_pipeline(path)  # (a CryodedupError is a correct answer: the harness takes it)
    said = [*pipeline.problems, *(line for lines in pipeline.damaged_rows.values() for line in lines)]
    assert all("\n" not in line and "\r" not in line and line.startswith(f"{path}") for line in said), said
    for job, lines in pipeline.damaged_rows.items():
        assert _JOB.fullmatch(job) and lines, (job, lines)
    if pipeline.damaged_rows:
        try:
            star = StarFile(path)
            for block in star.blocks:
                if block.labels is not None:
                    star.table(block)
        except CryodedupError:  # (the strict reader refuses it: the lenient one was called for)
            pass
        else:
            raise AssertionError("rows left out of a file the STAR reader reads whole")
    for process in pipeline.processes.values():
        assert all(isinstance(node, str) for node in [*process.inputs, *process.outputs])


if __name__ == "__main__":
    main(check, MODULES)
