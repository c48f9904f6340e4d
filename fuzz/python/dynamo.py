"""Fuzz target: Dynamo tables and the tomogram maps beside them.

``formats.dynamo.read_dynamo_tables``, with ``DynamoTable`` and ``read_table_map``.

The first byte chooses the options (bits 0-1: no map, a table map ``.doc`` or a volume
list ``.vll``; bit 2: ``--shift-key none``; bits 3-4: ``--score`` auto, none, or column
``tdrot`` (lower is better); bit 5: ``--mic-psize 2.5``, else the ``apix`` column; bit 6: each
row's pose read, as ``--max-angle`` asks; bit 7: ``--insist-angles``). The rest
is the table, then the map after ``SEPARATOR``, written on tmpfs.

What is read is checked against the table parsed here with Python's ``float`` and
``complex``: one particle per non-blank line, centre (position + shift) x pixel size, the
score column, one group per distinct tomogram number; poses read only of finite angles within
±360° (the angle-range checks every reader makes, issue 89).
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

from _harness import main

from cryodedup.formats.dynamo import read_dynamo_tables
from cryodedup.particle_set import PsizeFrom

MODULES = [
    "cryodedup.formats.dynamo",
    "cryodedup.resolve.score",
    "cryodedup.resolve.pixel_size",
    "cryodedup.formats.files",
]
SEPARATOR = b"\n%%\n"
MAPS = (None, "tomograms.doc", "tomograms.vll", None)
SCORES = (("auto", "auto"), ("none", "auto"), ("tdrot", "min"), ("auto", "auto"))


def check(data: bytes, scratch: Path) -> None:
    """Reads ``data`` as the module says and asserts what is read."""
    flags = data[0] if data else 0
    table_bytes, map_bytes = [*data[1:].split(SEPARATOR, 1), b""][:2]
    table = scratch / "particles.tbl"
    table.write_bytes(table_bytes)
    map_name = MAPS[flags & 3]
    if map_name:
        (scratch / map_name).write_bytes(map_bytes)
    score, order = SCORES[(flags >> 3) & 3]
    # (what the reader reads of the job's Scale and ScoreRead)
    given = 2.5 if flags & 32 else None  # (the job decides a typed pixel size is the source: PsizeFrom.GIVEN)
    scale = SimpleNamespace(
        mic_psize=given,
        given_psize=given,
        psize_from=PsizeFrom.GIVEN if given else PsizeFrom.OWN,
        micrographs=scratch / map_name if map_name else None,
    )
    score_read = SimpleNamespace(score=score, score_order=order)
    # (bit 6: each row's pose read too, as --max-angle asks; bit 7: --insist-angles)
    row_read = SimpleNamespace(
        shift_key="none" if flags & 4 else "auto", orientations=bool(flags & 64), insist_angles=bool(flags & 128)
    )
    particles = read_dynamo_tables(
        [table], scratch / "out", scale, score_read, row_read, lambda message: None, lambda m, level: None
    )

    rows = [line.split() for line in table_bytes.splitlines() if line.strip()]
    n = len(rows)
    psize = 2.5 if flags & 32 else _value(rows[0][35])
    assert particles.centres.shape == (n, 3) and particles.psize.shape == (n,) and (particles.psize == psize).all()
    for row, centre in zip(rows, particles.centres):
        for axis in range(3):
            shift = _value(row[3 + axis]) if not flags & 4 else 0.0
            assert _same(centre[axis], (_value(row[23 + axis]) + shift) * psize), (row, centre)
    label = particles.score_label
    assert label == {"auto": "cc", "none": None, "tdrot": "tdrot"}[score]
    if label:
        column = {"cc": 9, "tdrot": 6}[label]
        assert all(_same(s, _value(row[column])) for s, row in zip(particles.scores, rows))
    # One group per tomogram number (NaN being one number), in the order of the numbers.
    tomograms = [_key(_value(row[19])) for row in rows]
    assert len(particles.groups) == n and len(particles.mic_names) == len(set(tomograms))
    assert {(g, t) for g, t in zip(particles.groups.tolist(), tomograms)} == set(enumerate(sorted(set(tomograms))))
    assert (particles.input_of == 0).all()
    if flags & 64:  # tdrot, tilt, narot (columns 7-9): finite and within ±360°, or the table was refused
        assert particles.poses is not None and len(particles.poses) == n
        assert all(math.isfinite(a) and abs(a) <= 360 for row in rows for a in map(_value, row[6:9])), rows


def _key(number: float) -> tuple[bool, float]:
    return (True, 0.0) if math.isnan(number) else (False, number)  # NaN sorts last, as numpy.unique puts it


def _value(token: bytes) -> float:
    """A token as Dynamo means it: a number, or MATLAB's complex number (its real part)."""
    text = token.decode("ascii")
    try:
        return float(text)
    except ValueError:
        return complex(text.replace("i", "j")).real


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


if __name__ == "__main__":
    main(check, MODULES)
