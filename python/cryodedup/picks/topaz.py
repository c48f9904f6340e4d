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
from pathlib import Path

from ..errors import CryodedupError
from . import MicrographNamer, Picks, PicksBuilder, name_key

SCORE = "score"


def read_table(
    files: list[Path], source: str, namer: MicrographNamer, scale: float | None, shapes: dict | None
) -> Picks:
    """topaz tables; ``scale`` multiplies the coordinates (None: inferred from ``shapes``,
    the micrograph sizes (ny, nx) by name, else 1)."""
    builder = PicksBuilder(source, "topaz", namer)
    raw: list[tuple[int, str, float, float, float, str]] = []
    has_score = True
    for file in files:
        lines = file.read_text(errors="replace").splitlines()
        header = lines[0].split("\t") if lines else []
        header = [h.strip() for h in header]
        missing = [c for c in ("image_name", "x_coord", "y_coord") if c not in header]
        if missing:
            raise CryodedupError(
                f"{file}: line 1: expected the topaz header image_name<TAB>x_coord<TAB>y_coord[<TAB>score], "
                f"missing {', '.join(missing)}"
            )
        col = {c: header.index(c) for c in header}
        has_score = has_score and SCORE in col
        index = builder.add_file(file, None, lines[0] + "\n")
        for k, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != len(header):
                raise CryodedupError(f"{file}: line {k}: {len(fields)} tab-separated fields, expected {len(header)}")
            try:
                x, y = float(fields[col["x_coord"]]), float(fields[col["y_coord"]])
                score = float(fields[col[SCORE]]) if SCORE in col else float("nan")
            except ValueError:
                raise CryodedupError(f"{file}: line {k}: x_coord, y_coord and score must be numbers") from None
            raw.append((index, fields[col["image_name"]], x, y, score, line))
    if scale is None:
        scale, note = infer_scale(raw, shapes)
    else:
        note = f"topaz coordinates multiplied by {scale:g} (given)"
        if not (scale > 0 and math.isfinite(scale)):
            raise CryodedupError(f"topaz scale must be a number > 0, got {scale}")
    builder.notes.append(note)
    for index, name, x, y, score, line in raw:
        builder.add(index, name, x * scale, y * scale, score, float("nan"), line)
    return builder.build(SCORE if has_score and raw else None)


def infer_scale(raw, shapes: dict | None) -> tuple[float, str]:
    """The integer factor S that brings the coordinates to the micrographs' size: the
    largest S for which every micrograph's largest x and y, times S, still fit in it."""
    if not shapes:
        return 1.0, (
            "topaz coordinates taken as full-size micrograph pixels (scale 1): no micrograph sizes to infer "
            "the scale from; give the scale if topaz ran on down-scaled micrographs"
        )
    sizes = {name_key(name): shape for name, shape in shapes.items()}
    extent: dict[str, tuple[float, float]] = {}
    for _, name, x, y, _, _ in raw:
        mx, my = extent.get(name_key(name), (0.0, 0.0))
        extent[name_key(name)] = (max(mx, x), max(my, y))
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
