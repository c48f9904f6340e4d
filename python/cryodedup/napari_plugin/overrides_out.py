"""``overrides.csv`` as the napari plugin writes it: the particles to keep or reject, the pairs of micrographs.

RFC 4180, a header line (:data:`_HEADER`); a particle as ``decisions.csv`` names it
(``particle,INPUT,ROW,NAME,,keep|reject``), a pair of micrographs by name
(``pair,,,MICROGRAPH_A,MICROGRAPH_B,duplicate|distinct``). The page writes the same lines
(``report/micrograph_page.js``); the jobs read them (``--overrides``).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import CryodedupError

__all__ = ["overrides_text", "read_overrides", "write_overrides"]

_HEADER = ("kind", "input", "row", "name", "partner", "action")

#: A particle's correction: its input, its row there (from 1), its name and ``keep`` or ``reject``.
Particle = tuple[str, int, str, str]


def overrides_text(particles: Iterable[Particle], pairs: Iterable[Sequence[str]], inputs: Sequence[str]) -> str:
    """The file's text: the particles by input (in ``inputs``' order, others after) and row, then the pairs as given.

    A field is quoted only where it holds a comma, a quote or a line break (as ``decisions.csv``).
    """
    place = {name: k for k, name in enumerate(inputs)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_HEADER)
    for name, row, particle, action in sorted(particles, key=lambda p: (place.get(p[0], len(place)), p[0], p[1])):
        writer.writerow(["particle", name, row, particle, "", action])
    for cells in pairs:
        writer.writerow(["pair", "", "", cells[0], cells[1], cells[2]])
    return out.getvalue()


def write_overrides(path: str | Path, text: str, force: bool = False) -> None:
    """``text`` written to ``path`` under a temporary name, then renamed; an existing file refused unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise CryodedupError(f"{path}: exists; choose another name, or overwrite it (force)")
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_text(text, encoding="utf-8", newline="")
    os.replace(temporary, path)


def read_overrides(path: str | Path) -> tuple[list[Particle], list[tuple[str, str, str]]]:
    """A file's particles and pairs, to show and extend them; a line of another shape refused in one line naming it."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        lines = list(csv.reader(f))
    if not lines or tuple(lines[0]) != _HEADER:
        raise CryodedupError(f"{path}: line 1: expected the header {','.join(_HEADER)}")
    particles, pairs = [], []
    for number, cells in enumerate(lines[1:], start=2):
        if (
            len(cells) == len(_HEADER)
            and cells[0] == "particle"
            and cells[2].isdigit()
            and cells[5] in ("keep", "reject")
        ):
            particles.append((cells[1], int(cells[2]), cells[3], cells[5]))
        elif len(cells) == len(_HEADER) and cells[0] == "pair" and cells[5] in ("duplicate", "distinct"):
            pairs.append((cells[3], cells[4], cells[5]))
        elif cells:
            raise CryodedupError(
                f"{path}: line {number}: expected particle,INPUT,ROW,NAME,,keep|reject or pair,,,A,B,duplicate|distinct"
            )
    return particles, pairs
