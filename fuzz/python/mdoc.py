"""Fuzz target: SerialEM ``.mdoc`` files (``formats.microscope.read_mdoc``), as ``--metadata`` reads them.

The bytes are the file (``stack.mdoc``). What is read is checked against a reading of the
same text line by line here: one acquisition per ``[FrameSet = N]`` or ``[ZValue = N]``
section, in order, at the last ``StagePosition`` of its section, with the last
``ImageShift`` (0 0 without one); names distinct; and issue 38's rule: every value finite,
positions and shifts within ±1e6, sizes whole and positive, pixel sizes above 0 or absent.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from _harness import main

from cryodedup.formats.microscope import MAX_COORDINATE, MAX_READOUT_PX, read_mdoc

MODULES = ["cryodedup.formats.microscope", "cryodedup.formats.files"]
SECTION = re.compile(r"\[\s*(\w+)\s*=\s*([^\]]*)\]")


def check(data: bytes, scratch: Path) -> None:
    """Reads ``data`` as ``--metadata`` does and asserts what is read."""
    file = scratch / "stack.mdoc"
    if not file.exists() or file.read_bytes() != data:
        file.write_bytes(data)
    read = read_mdoc(file)
    sections = expected_sections(data.decode("utf-8", errors="replace"))
    assert len(read) == len(sections) > 0, (len(read), len(sections))
    assert len({a.name for a in read}) == len(read)
    for a, values in zip(read, sections):
        stage = [float(t) for t in values["StagePosition"].split()[:2]]
        shift = [float(t) for t in values["ImageShift"].split()[:2]] if "ImageShift" in values else [0.0, 0.0]
        assert list(a.stage_um) == stage and list(a.shift) == shift, (a, values)
        for value in (*a.stage_um, *a.shift):
            assert math.isfinite(value) and abs(value) <= MAX_COORDINATE
        assert a.psize_A is None or (math.isfinite(a.psize_A) and a.psize_A > 0)
        assert a.field_px is None or all(0 < v <= MAX_READOUT_PX and isinstance(v, int) for v in a.field_px)
        assert a.time is None or math.isfinite(a.time)


def expected_sections(text: str) -> list[dict[str, str]]:
    """Each [FrameSet]/[ZValue] section's keys (the last value of a key repeated)."""
    out: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        line = line.strip()
        title = SECTION.fullmatch(line)
        if title:
            current = {}
            if title.group(1).startswith(("FrameSet", "ZValue")):
                out.append(current)
        elif "=" in line and current is not None:
            key, value = line.split("=", 1)
            current[key.strip()] = value.strip()
    return out


if __name__ == "__main__":
    main(check, MODULES)
