"""Fuzz target: EPU data image XML (``formats.microscope.read_epu``), as ``--metadata`` reads it.

The bytes are the file (``FoilHole_1_Data_2_3_20221104_061329.xml``). What is read is checked
against the standard library's own reading of the same bytes: the stage position is the
first ``<Position>``'s ``<X>``/``<Y>`` in µm, the shift ``<BeamShift>`` + ``<ImageShift>``,
the time ``datetime.fromisoformat`` of ``acquisitionDateTime`` (UTC without a zone); and
against issue 38's rule: every value finite, positions and shifts within ±1e6, sizes whole
and positive, pixel size and beam diameter above 0 or absent.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from _harness import main

from cryodedup.formats.microscope import MAX_COORDINATE, MAX_READOUT_PX, read_epu

MODULES = ["cryodedup.formats.microscope", "cryodedup.formats.files"]
NAME = "FoilHole_1_Data_2_3_20221104_061329"


def check(data: bytes, scratch: Path) -> None:
    """Reads ``data`` as ``--metadata`` does and asserts what is read."""
    file = scratch / f"{NAME}.xml"
    if not file.exists() or file.read_bytes() != data:
        file.write_bytes(data)
    a = read_epu(file)
    assert a.name == NAME and a.source == file and a.square is None
    for value in (*a.stage_um, *a.shift):
        assert math.isfinite(value) and abs(value) <= 2 * MAX_COORDINATE, a
    assert a.psize_A is None or (math.isfinite(a.psize_A) and a.psize_A > 0)
    assert a.beam_diameter_um is None or (math.isfinite(a.beam_diameter_um) and a.beam_diameter_um > 0)
    assert a.field_px is None or all(0 < v <= MAX_READOUT_PX and isinstance(v, int) for v in a.field_px)
    root = ET.fromstring(data)  # read: it parsed
    assert local(root.tag) == "MicroscopeImage"
    position = path_of(root, "microscopeData", "stage", "Position")
    assert position is not None
    for axis, value in zip("XY", a.stage_um):
        assert same(value, float(text(path_of(position, axis))) * 1e6), (axis, value)
    optics = path_of(root, "microscopeData", "optics")
    shift = [0.0, 0.0]
    for name in ("BeamShift", "ImageShift"):
        vector = path_of(optics, name) if optics is not None else None
        if vector is not None and len(vector):
            shift = [shift[0] + float(text(path_of(vector, "_x"))), shift[1] + float(text(path_of(vector, "_y")))]
    assert all(same(x, y) for x, y in zip(a.shift, shift)), (a.shift, shift)
    when = path_of(root, "microscopeData", "acquisition", "acquisitionDateTime")
    if when is None or not text(when).strip():
        assert a.time is None
    else:
        stamp = datetime.fromisoformat(text(when).strip().replace("Z", "+00:00"))
        stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
        assert a.time is not None and abs(a.time - stamp.timestamp()) < 1e-5, (a.time, text(when))


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def path_of(node: ET.Element | None, *names: str) -> ET.Element | None:
    for name in names:
        node = next((c for c in node if local(c.tag) == name), None) if node is not None else None
    return node


def text(node: ET.Element | None) -> str:
    assert node is not None
    return node.text or ""


def same(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))


if __name__ == "__main__":
    main(check, MODULES)
