"""Fuzz target: a RELION 3.x job read from its ``coords_suffix_autopick.star``.

``formats.picks.relion.read_coords_suffix``: the one-line file, the micrographs STAR it
names, each micrograph's coordinate file found by its RELION name.

The bytes are three files cut at ``SEPARATOR``: the ``coords_suffix`` file, the micrographs
STAR ``CtfFind/job003/micrographs_ctf.star``, and a coordinate STAR written as the picks of
two micrographs, ``AutoPick/job005/Movies/mic1_autopick.star`` and ``.../mic2_autopick.star``
(the names RELION gives ``MotionCorr/job002/Movies/mic1.mrc`` and ``mic2.mrc``). They are
written on tmpfs in a project folder given as ``project_dir``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from _harness import main

from cryodedup.formats.picks import MicrographNamer
from cryodedup.formats.picks.relion import read_coords_suffix

MODULES = [
    "cryodedup.formats.picks.relion",
    "cryodedup.formats.picks",
    "cryodedup.formats.star.micrographs",
    "cryodedup.formats.star.file",
    "cryodedup.formats.files",
]
SEPARATOR = b"\n%%\n"
SUFFIX_FILE = "AutoPick/job005/coords_suffix_autopick.star"
MICROGRAPHS = "CtfFind/job003/micrographs_ctf.star"
COORDINATES = ("AutoPick/job005/Movies/mic1_autopick.star", "AutoPick/job005/Movies/mic2_autopick.star")
#: What each file holds now (the files are rewritten only when their bytes change).
_written: dict[str, bytes] = {}


def check(data: bytes, scratch: Path) -> None:
    """Reads ``data`` as the module says and asserts what is read."""
    suffix, micrographs, coordinates = [*data.split(SEPARATOR, 2), b"", b""][:3]
    project = scratch / "project"
    if not project.exists():
        for folder in ("AutoPick/job005/Movies", "CtfFind/job003"):
            (project / folder).mkdir(parents=True)
        for name in (SUFFIX_FILE, MICROGRAPHS, COORDINATES[0]):
            (project / name).write_bytes(b"")
        os.link(project / COORDINATES[0], project / COORDINATES[1])  # one file, two names: written once
        _written.clear()
    for name, content in ((SUFFIX_FILE, suffix), (MICROGRAPHS, micrographs), (COORDINATES[0], coordinates)):
        if _written.get(name) != content:  # most mutations change one of the three
            (project / name).write_bytes(content)
            _written[name] = content
    picks = read_coords_suffix([project / SUFFIX_FILE], "AutoPick/job005", MicrographNamer(None), project)

    (named,) = [line.strip() for line in suffix.decode("utf-8", errors="replace").splitlines() if line.strip()]
    assert picks.micrographs_star is not None and picks.micrographs_star[0] == named
    # Every file read is one of the two coordinate files (nothing else is under the job
    # folder with that suffix), each read whole: the same rows for each.
    read = [os.path.normpath(f.path) for f in picks.files]
    assert read and all(path in {str(project / c) for c in COORDINATES} for path in read)
    mic_of_file = np.array([f.micrograph for f in picks.files], dtype=np.int32)
    assert ((mic_of_file >= 0) & (mic_of_file < len(picks.micrographs))).all()
    n = len(picks)
    per_file = np.bincount(picks.file_of_pick.astype(np.int64), minlength=len(read))
    assert len(set(per_file.tolist())) == 1 and per_file.sum() == n
    assert (picks.micrograph == mic_of_file[picks.file_of_pick.astype(np.int64)]).all()
    assert picks.centres.shape == (n, 2)
    assert (picks.row_start < picks.row_end).all() and (picks.row_end <= len(coordinates)).all()
    assert picks.score is None or picks.score.shape == (n,)


if __name__ == "__main__":
    main(check, MODULES)
