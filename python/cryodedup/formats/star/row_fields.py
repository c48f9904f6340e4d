"""Some fields of a particle STAR file's rows, read as text and set again, every other byte as it is.

``select --take`` puts values of a subset's rows into the original's selected rows: their text is
read from the subset (:func:`read_fields`), and written into the selected file's rows in place of
the original's (:func:`set_fields`), the rest of each line (its spacing, every other field) kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ...errors import InputFileError
from .file import Block, StarFile, split_fields, star_lines

__all__ = ["particle_labels", "read_fields", "set_fields"]


def _particle_block(star: StarFile) -> Block:  # (the particles' loop: data_particles, else the first other loop)
    block = star.block("particles")
    if block is None:
        block = next((b for b in star.blocks if b.labels is not None and b.name != "optics"), None)
    if block is None:
        raise InputFileError(f"{star.path}: no particle loop (data_particles) found")
    return block


def particle_labels(path: Path) -> list[str]:
    """The labels of the particle loop of ``path``."""
    star = StarFile(path)
    return list(_particle_block(star).labels or ())


def read_fields(path: Path, labels: Sequence[str]) -> dict[str, list[str]]:
    """The text of each of ``labels`` (the particle loop's) in every row, as written (quotes kept)."""
    star = StarFile(path)
    block = _particle_block(star)
    table = star.table(block)
    missing = [label for label in labels if label not in table.labels]
    if missing:
        raise InputFileError(f"{path}: data_{block.name} has no column {missing[0]}")
    at = [table.labels.index(label) for label in labels]
    return {label: [row[j] for row in table.rows] for label, j in zip(labels, at)}


def set_fields(path: Path, values: Mapping[str, Sequence[str | None]]) -> None:
    """Rewrites ``path`` with row k's field ``label`` set to ``values[label][k]`` (None: as it is)."""
    star = StarFile(path)
    block = _particle_block(star)
    labels = list(block.labels or ())
    columns = {labels.index(label): texts for label, texts in values.items()}
    head = star.read_bytes(0, block.rows_start)
    text = star.read_bytes(block.rows_start, block.rows_end).decode("utf-8", "surrogateescape")
    tail = star.read_bytes(block.rows_end, star.size)
    lines, k = star_lines(text), 0
    for n, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        spans = split_fields(line)
        for j in sorted(columns, reverse=True):
            new = columns[j][k]
            if new is not None:
                start, end, _ = spans[j]
                line = line[:start] + new + line[end:]
        lines[n], k = line, k + 1
    del star  # (the map closed before the file is written again)
    Path(path).write_bytes(head + "\n".join(lines).encode("utf-8", "surrogateescape") + tail)
