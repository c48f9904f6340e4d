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

from ...errors import CryodedupError, InputFileError
from ...resolve import name_key
from . import FileTables, PickRead, Picks, PicksBuilder, own_score, read_tables

__all__ = ["read_table"]

SCORE = "score"


def read_table(request: PickRead) -> Picks:
    """Topaz tables, their coordinates multiplied by ``request.topaz_scale``.

    A scale of None is inferred from ``request.micrograph_shapes``, the micrograph sizes
    (ny, nx) by name, or a function of the table's micrograph names that gives them (called
    only then), with :func:`infer_scale`.
    """
    files, source, scale, shapes = request.files, request.source, request.topaz_scale, request.micrograph_shapes
    builder = PicksBuilder(source, "topaz", request.namer)
    tables = read_tables(files, "tab", [], ["x_coord", "y_coord", SCORE], key="image_name")
    first = len(builder.files)
    for file, labels, header in zip(files, tables.labels, tables.headers):
        labels = labels or []  # a tab table always has its header's labels, maybe none
        missing = [c for c in ("image_name", "x_coord", "y_coord") if c not in labels]
        if missing:
            raise InputFileError(
                f"{file}: line 1: expected the topaz header image_name<TAB>x_coord<TAB>y_coord[<TAB>score], "
                f"missing {', '.join(missing)}"
            )
        if "z_coord" in labels:  # topaz's tomogram picks (--dims 3 training labels): x and y alone would be compared
            raise InputFileError(
                f"{file}: line 1: a z_coord column: a tomogram's 3-D picks, which a micrograph's topaz table does not "
                "hold (read as one, z would be ignored): give each tomogram's x y z as a text file named by a RELION 5 "
                "import list (a STAR loop of rlnTomoName and rlnTomoImportParticleFile)"
            )
        builder.add_file(file, None, header)
    x, y = tables.numbers["x_coord"], tables.numbers["y_coord"]
    _refuse_non_finite(files, tables, x, y)
    names = tables.key_names
    if scale is None:
        try:
            scale, note = infer_scale(names, tables.keys, x, y, shapes(names) if callable(shapes) else shapes)
        except CryodedupError as err:
            raise InputFileError(f"{source}: {err}") from None
    else:
        note = f"topaz coordinates multiplied by {scale:g} (given)"
        if not (scale > 0 and math.isfinite(scale)):
            raise CryodedupError(f"topaz scale must be a number > 0, got {scale}")
    builder.notes.append(note)
    # Micrographs named in order of first appearance, each error naming the file it is in.
    file_of_row = tables.file_of_row(first)
    first_rows: np.ndarray = np.unique(tables.keys, return_index=True)[1] if len(tables.keys) else np.zeros(0, np.int64)
    index = np.zeros(len(names), dtype=np.int32)
    for row in sorted(first_rows):
        key = tables.keys[row]
        index[key] = request.namer.index(names[key], builder.files[file_of_row[row]].path)
    with np.errstate(over="ignore"):  # a centre scaled past the floats' range: the job names its file and line
        x, y = x * scale, y * scale
    builder.add_rows(
        micrograph=index[tables.keys],
        file=file_of_row,
        x=x,
        y=y,
        score=tables.numbers[SCORE],
        box=None,
        start=tables.row_start,
        end=tables.row_end,
    )
    # Scored when every table has the score column and there is a pick to rank.
    return builder.build(
        own_score([SCORE], lambda label: len(x) > 0 and all(label in (lab or []) for lab in tables.labels))
    )


def _refuse_non_finite(files: list[Path], tables: FileTables, x: np.ndarray, y: np.ndarray) -> None:
    """Refuses a pick whose coordinates are not finite, naming its file and line.

    Before the scale is inferred from the picks' extent (a NaN would make it NaN) and before
    the job, which could name only the input and the pick's number.
    """
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))
    if not len(bad):
        return
    k = int(bad[0])
    file = files[int(tables.file_of_row()[k])]
    with open(file, "rb") as f:
        line = f.read(int(tables.row_start[k])).count(b"\n") + 1
    more = f" ({len(bad)} such rows)" if len(bad) > 1 else ""
    raise InputFileError(
        f"{file}: line {line}: x_coord {x[k]:g}, y_coord {y[k]:g}; a pick needs finite coordinates{more}"
    )


#: Picks must reach this fraction of a micrograph's width or height at the scale inferred.
REACH = 0.9


def infer_scale(
    names: list[str], keys: np.ndarray, x: np.ndarray, y: np.ndarray, shapes: Mapping[str, tuple[int, int]] | None
) -> tuple[float, str]:
    """The factor S of ``topaz preprocess -s S`` that brings the coordinates to the micrographs.

    topaz down-scales a micrograph of ``nx`` pixels to ``floor(nx / S)`` (its ``downsample``)
    and picks on that image, so a pick lies at ``x < floor(nx / S)``. S is the largest whole
    number for which every pick lies on its down-scaled micrograph (x and y alike). Picks
    spread over a micrograph come near its edges: S is told only when, at S, the picks of
    some micrograph reach at least :data:`REACH` of its down-scaled width or height, and
    at S - 1 they would not (else a smaller S fits as well).

    ``names[keys[i]]`` is the micrograph of the pick at (``x[i]``, ``y[i]``); ``shapes`` the
    micrograph sizes (ny, nx), matched by file name without extension. Returns (S, a note
    saying why). Raises CryodedupError when S cannot be told, saying why.
    """
    give = (
        "give the -s of topaz preprocess with --topaz-scale (1 for coordinates of full-size micrographs, "
        "as topaz extract -x S writes them)"
    )
    if not shapes:
        raise CryodedupError(
            f"topaz coordinates: their scale cannot be inferred without the micrographs' sizes (--micrographs, "
            f"with the MRC files reachable, or CryoSPARC exposures); {give}"
        )
    sizes = {name_key(name): shape for name, shape in shapes.items()}
    max_x = np.full(len(names), -np.inf)
    max_y = np.full(len(names), -np.inf)
    np.maximum.at(max_x, keys, x)
    np.maximum.at(max_y, keys, y)
    # Per micrograph of known size: the extent of its picks (largest + 1 pixel) and its size.
    known = [
        (mx + 1, my + 1, *sizes[name_key(n)][::-1]) for n, mx, my in zip(names, max_x, max_y) if name_key(n) in sizes
    ]
    if not known:
        raise CryodedupError(
            f"topaz coordinates: none of their {len(names)} micrographs has a known size to infer the scale from; "
            f"{give}"
        )
    extent, size = np.array(known, dtype=np.float64).reshape(-1, 2, 2).transpose(1, 0, 2)  # (x, y) each
    scale = _largest_fitting_scale(extent, size)
    reach = float((extent / size).max()) * scale
    n_known = len(known)
    if scale < 1:
        raise CryodedupError(
            f"topaz coordinates: picks lie outside their micrographs even at full size (up to {reach:.2f}x a "
            f"micrograph's width or height); {give}"
        )
    if reach < REACH or (scale > 1 and reach * (scale - 1) / scale >= REACH):
        raise CryodedupError(
            f"topaz coordinates: the scale cannot be told from {n_known} micrographs: at -s {scale} the picks "
            f"reach {reach:.0%} of a micrograph's width or height"
            + (f", at -s {scale - 1} {reach * (scale - 1) / scale:.0%}" if scale > 1 else "")
            + f" (told when one scale reaches {REACH:.0%} and the next smaller does not); {give}"
        )
    return float(scale), (
        f"topaz coordinates multiplied by {scale} (inferred from {n_known} micrograph sizes: at -s {scale} the "
        f"picks reach {reach:.0%} of a micrograph's width or height"
        + (f", at -s {scale - 1} only {reach * (scale - 1) / scale:.0%}" if scale > 1 else "")
        + f", at -s {scale + 1} they would lie outside)"
    )


def _largest_fitting_scale(extent: np.ndarray, size: np.ndarray) -> int:
    """The largest S for which every extent (x, y) fits in floor(size / S) pixels; 0 when none does."""
    scale = int(np.floor((size / extent).min()))
    # floor(n / S) can be smaller than n / S: step down until every micrograph holds its picks.
    while scale >= 1 and (extent > np.floor(size / scale)).any():
        scale -= 1
    return scale
