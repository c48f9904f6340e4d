"""Fuzz target: a CryoSPARC job folder's ``job.json`` (``formats.cryosparc.jobs.read_job_document``), of any kind.

The first byte chooses what ``J1/job.json`` is (issue 77: a reader never trusts a foreign
file's kind or size): a regular file of the other bytes (two times in six), a FIFO, a link
to ``/dev/zero``, a regular file of the bytes made sparse past the 64 MB cap, a folder. A
file that is no regular one, or too large, must be refused in one line naming it and what
it is. A regular file's reading is checked against the standard library's ``json.loads``
of the same text: the uid, the parents, each parameter's ``value`` (of the specs that are
objects; CryoSPARC 5's ``spec.params``), the type, the number (``uid_num``, else the uid's
digits), a finite start time. JSON nested deeper than the reader's bound (100) is reached
by the mutations (and a seed 3,000 deep), as are fields of the wrong kind (``params_spec``
a list).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

from _harness import main

from cryodedup.errors import CryodedupError
from cryodedup.formats.cryosparc.jobs import read_job_document
from cryodedup.formats.files import SMALL_FILE_CAP

MODULES = ["cryodedup.formats.cryosparc.jobs", "cryodedup.formats.files"]
KINDS = ("file", "file", "fifo", "dev_zero", "huge", "folder")
SAID = {
    "fifo": "is a named pipe (FIFO), expected a CryoSPARC job.json",
    "dev_zero": "is a device, expected a CryoSPARC job.json",
    "huge": "larger than a CryoSPARC job.json can be (cap 64 MB)",
    "folder": "is a folder, expected a CryoSPARC job.json",
}


def check(data: bytes, scratch: Path) -> None:
    """Makes ``J1/job.json`` of the kind the first byte says, reads it, and asserts what is read or said."""
    kind, body = (KINDS[data[0] % len(KINDS)], data[1:]) if data else ("file", b"")
    path = scratch / "J1" / "job.json"
    _make(path, kind, body)
    if kind != "file":
        try:
            read_job_document(path)
        except CryodedupError as err:
            message = str(err)
            assert "\n" not in message and message.startswith(f"{path}: ") and SAID[kind] in message, message
            return
        raise AssertionError(f"a job.json that is {kind} was read")
    job = read_job_document(path)  # (a CryodedupError is a correct answer: the harness takes it)
    document = json.loads(body.decode("utf-8", errors="replace"))
    assert isinstance(document, dict) and job.uid == document["uid"]
    assert job.parents == (document.get("parents") or [])
    spec_5 = document.get("spec")
    if isinstance(spec_5, dict):  # CryoSPARC 5: the type and the params (name: value) under "spec"
        assert job.type == str(spec_5.get("type") or "?")
        params = spec_5.get("params")
        assert job.params == (params if isinstance(params, dict) else {})
    else:
        assert job.type == str(document.get("type") or document.get("job_type") or "?")
        specs = document.get("params_spec") or {}
        assert isinstance(specs, dict)
        assert job.params == {name: spec.get("value") for name, spec in specs.items() if isinstance(spec, dict)}
    for files in job.particle_groups.values():
        assert files and all(isinstance(f, str) for f in files) and len(set(files)) == len(files)
    # The number: uid_num when a whole number, else the uid's digits (more than 18 refused); a start time finite.
    uid_num = document.get("uid_num")
    if type(uid_num) is int:
        assert job.number == uid_num
    else:
        digits = "".join(c for c in str(document.get("uid")) if c in "0123456789")
        assert len(digits) <= 18 and job.number == int(digits or 0)
    assert job.started is None or math.isfinite(job.started)


def _make(path: Path, kind: str, body: bytes) -> None:
    """``path`` made anew as ``kind``, whatever it was before."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev_zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:
        with open(path, "wb") as f:
            f.write(body)
            if kind == "huge":
                f.truncate(SMALL_FILE_CAP + 1)  # (sparse: nothing written past the bytes)


if __name__ == "__main__":
    main(check, MODULES)
