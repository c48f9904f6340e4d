"""topaz coordinate tables.

Convention (topaz ``extract`` and ``convert``; its training labels): one tab-separated
table for all micrographs, a header line ``image_name  x_coord  y_coord  [score]``, x and y
the particle CENTRE in pixels of the micrographs topaz was given, which are usually
down-scaled by ``topaz preprocess -s S``; ``image_name`` is the micrograph file name
without extension; ``score`` is a logit (higher is better). ``topaz extract -x S`` writes
full-size coordinates; otherwise they must be multiplied by S.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import CryodedupError
from . import MicrographNamer, Picks, PicksBuilder, name_key, read_tables

SCORE = "score"


def read_table(
    files: list[Path],
    source: str,
    namer: MicrographNamer,
    scale: float | None,
    shapes: Mapping[str, tuple[int, int]] | None,
) -> Picks:
    """Topaz tables, their coordinates multiplied by ``scale``.

    A ``scale`` of None is inferred from ``shapes``, the micrograph sizes (ny, nx) by name, else 1.
    """
    builder = PicksBuilder(source, "topaz", namer)
    tables = read_tables(files, "tab", [], ["x_coord", "y_coord", SCORE], key="image_name")
    first = len(builder.files)
    for file, labels, header in zip(files, tables.labels, tables.headers):
        labels = labels or []  # a tab table always has its header's labels, maybe none
        missing = [c for c in ("image_name", "x_coord", "y_coord") if c not in labels]
        if missing:
            raise CryodedupError(
                f"{file}: line 1: expected the topaz header image_name<TAB>x_coord<TAB>y_coord[<TAB>score], "
                f"missing {', '.join(missing)}"
            )
        builder.add_file(file, None, header)
    has_score = all(SCORE in (labels or []) for labels in tables.labels)
    x, y = tables.numbers["x_coord"], tables.numbers["y_coord"]
    names = tables.key_names
    if scale is None:
        scale, note = infer_scale(names, tables.keys, x, y, shapes)
    else:
        note = f"topaz coordinates multiplied by {scale:g} (given)"
        if not (scale > 0 and math.isfinite(scale)):
            raise CryodedupError(f"topaz scale must be a number > 0, got {scale}")
    builder.notes.append(note)
    # Micrographs named in order of first appearance, each error naming the file it is in.
    file_of_row = tables.file_of_row() + first
    first_rows: np.ndarray = np.unique(tables.keys, return_index=True)[1] if len(tables.keys) else np.zeros(0, np.int64)
    index = np.zeros(len(names), dtype=np.int64)
    for row in sorted(first_rows):
        key = tables.keys[row]
        index[key] = namer.index(names[key], builder.files[file_of_row[row]].path)
    builder.add_rows(
        micrograph=index[tables.keys],
        file=file_of_row,
        x=x * scale,
        y=y * scale,
        score=tables.numbers[SCORE],
        box=None,
        start=tables.row_start,
        end=tables.row_end,
    )
    return builder.build(SCORE if has_score and len(x) else None)


def infer_scale(
    names: list[str], keys: np.ndarray, x: np.ndarray, y: np.ndarray, shapes: Mapping[str, tuple[int, int]] | None
) -> tuple[float, str]:
    """The integer factor S that brings the coordinates to the micrographs' size.

    S is the largest factor for which every micrograph's largest x and y, times S, still fit in it.

    ``names[keys[i]]`` is the micrograph of the pick at (``x[i]``, ``y[i]``). Returns (S, a
    note saying how it was chosen).
    """
    if not shapes:
        return 1.0, (
            "topaz coordinates taken as full-size micrograph pixels (scale 1): no micrograph sizes to infer "
            "the scale from; give --topaz-scale if topaz ran on down-scaled micrographs"
        )
    sizes = {name_key(name): shape for name, shape in shapes.items()}
    max_x = np.full(len(names), -np.inf)
    max_y = np.full(len(names), -np.inf)
    np.maximum.at(max_x, keys, x)
    np.maximum.at(max_y, keys, y)
    extent: dict[str, tuple[float, float]] = {}
    for name, mx, my in zip(names, max_x, max_y):
        ex, ey = extent.get(name_key(name), (0.0, 0.0))
        extent[name_key(name)] = (max(ex, mx), max(ey, my))
    ratios = []
    for key, (mx, my) in extent.items():
        if key in sizes:
            ny, nx = sizes[key]
            ratios.append(min(nx / (mx + 1), ny / (my + 1)))
    if not ratios:
        return 1.0, "topaz coordinates taken at scale 1: none of their micrographs has a known size"
    scale = max(1, math.floor(min(ratios)))
    return float(scale), (
        f"topaz coordinates multiplied by {scale} (inferred: the largest fit their {len(ratios)} micrographs "
        f"only up to {min(ratios):.2f}x)"
    )
