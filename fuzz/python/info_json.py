"""Fuzz target: EMAN2 ``_info.json`` files (``formats.picks.eman.read_info_json``).

The bytes are the file. What is read is checked against the standard library's own reading
of the same text: one pick per entry of ``boxes``, at its first two numbers, in order, with
the fourth as the score only when every box has one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from _harness import main

from cryodedup.formats.picks import MicrographNamer, PickRead
from cryodedup.formats.picks.eman import read_info_json

MODULES = ["cryodedup.formats.picks.eman", "cryodedup.formats.picks", "cryodedup.formats.files"]


def check(data: bytes, scratch: Path) -> None:
    """Reads ``data`` as the module says and asserts what is read."""
    file = scratch / "mic_info.json"
    file.write_bytes(data)
    picks = read_info_json(PickRead([file], "eman2-json", str(file), MicrographNamer(None)))
    boxes = json.loads(data.decode("utf-8", errors="replace")).get("boxes", [])  # read: an object, its list
    n = len(boxes)
    assert len(picks) == n and picks.centres.shape == (n, 2)
    assert picks.micrographs == ["mic"] and len(picks.files) == 1
    assert (picks.micrograph == 0).all() and (picks.file_of_pick == 0).all()
    assert (picks.row_start == np.arange(n)).all() and (picks.row_end == picks.row_start + 1).all()
    for k, box in enumerate(boxes):
        for axis in (0, 1):
            assert not isinstance(box[axis], bool)
            assert _same(picks.centres[k, axis], float(box[axis])), (k, axis, box)
    scored = n > 0 and all(len(b) > 3 and _number(b[3]) for b in boxes)
    assert (picks.score is None) == (not scored)
    if scored:
        assert all(_same(s, float(b[3])) for s, b in zip(picks.score, boxes))


def _number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        float(value)  # an int too large for a float is no number here
    except OverflowError:
        return False
    return True


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


if __name__ == "__main__":
    main(check, MODULES)
