"""``overrides.csv`` as the napari plugin writes it, in the one format of :mod:`cryodedup.formats.overrides`.

The plugin keeps its corrections as plain tuples (a particle: input, row from 1, name, ``keep`` or
``reject``; a pair: two micrographs and ``duplicate`` or ``distinct``); the text and the reading are
the format module's, so the plugin, the page and the jobs cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import CryodedupError
from ..formats.overrides import format_overrides
from ..formats.overrides import read_overrides as _read_file

__all__ = ["overrides_text", "read_overrides", "write_overrides"]

#: A particle's correction: its input, its row there (from 1), its name and ``keep`` or ``reject``.
Particle = tuple[str, int, str, str]


def overrides_text(particles: Iterable[Particle], pairs: Iterable[Sequence[str]], inputs: Sequence[str]) -> str:
    """The file's text: the particles by input (in ``inputs``' order, others after) and row, then the pairs as given."""
    place = {name: k for k, name in enumerate(inputs)}
    ordered = sorted(particles, key=lambda p: (place.get(p[0], len(place)), p[0], p[1]))
    return format_overrides(ordered, [(cells[0], cells[1], cells[2]) for cells in pairs])


def write_overrides(path: str | Path, text: str, force: bool = False) -> None:
    """``text`` written to ``path`` under a temporary name, then renamed; an existing file refused unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise CryodedupError(f"{path}: exists; choose another name, or overwrite it (force)")
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_text(text, encoding="utf-8", newline="")
    os.replace(temporary, path)


def read_overrides(path: str | Path) -> tuple[list[Particle], list[tuple[str, str, str]]]:
    """A file's particles and pairs, to show and extend them; a file that breaks the format refused in one line."""
    read = _read_file(path)
    particles = sorted((p.input, p.row, p.name, p.action) for p in read.particles)
    pairs = [(p.a, p.b, "duplicate" if p.duplicate else "distinct") for p in read.pairs]
    return particles, pairs
