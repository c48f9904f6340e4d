"""EMAN coordinate files: ``.box`` and EMAN2's ``info/*_info.json``.

``.box`` files are written by EMAN1, EMAN2 and crYOLO.

Conventions (EMAN2 wiki, Eman2OtherFiles and Eman2InfoMetadata; crYOLO's box writer):

- ``.box``: one box per line, whitespace-separated ``x y w h`` (EMAN1 adds a fifth
  column, its "mode"; a row of more fields is refused: two rows run together), x and y
  the box's LOWER-LEFT corner in micrograph pixels: the centre is ``x + w/2``,
  ``y + h/2``. No score. Lines end in LF, CRLF or a lone CR (old Mac tools).
- ``_info.json``: a JSON object whose ``"boxes"`` list holds ``[x, y, "type", ...]`` with
  x and y the box CENTRE; a fourth number, when every box has one, is the autoboxer's
  score (higher is better). The micrograph is the file name without ``_info.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ...errors import InputFileError
from ..files import read_foreign_json
from . import PickRead, Picks, PicksBuilder, own_score, read_tables, stem

__all__ = ["read_box", "read_info_json", "write_info_json"]


def read_box(request: PickRead) -> Picks:
    """EMAN ``.box`` files, one per micrograph."""
    files = request.files
    builder = PicksBuilder(request.source, "eman-box", request.namer)
    corner = ["x", "y", "width", "height"]
    tables = read_tables(files, "whitespace", corner, corner)
    first = len(builder.files)
    for file in files:
        builder.add_file(file, stem(file), "")
    x, y, w, h = (tables.numbers[label] for label in corner)
    builder.add_tables(tables, first, x + w / 2, y + h / 2, None, w)
    return builder.build(own_score([], lambda label: False))  # a .box has no score column


def read_info_json(request: PickRead) -> Picks:
    """EMAN2 ``info/*_info.json`` files; each pick's line is the JSON text of its box."""
    files, source = request.files, request.source
    builder = PicksBuilder(source, "eman2-json", request.namer)
    scored, picked = True, 0
    for file in files:
        info = read_foreign_json(file, "an EMAN2 _info.json")
        boxes = info.get("boxes", []) if isinstance(info, dict) else None
        if not isinstance(boxes, list):
            raise InputFileError(f'{file}: expected a JSON object with a "boxes" list (EMAN2 _info.json)')
        if info.get("boxes_3d") and not boxes:  # e2spt_boxer's tomogram picks: not "no picks"
            raise InputFileError(
                f'{file}: "boxes_3d" (a tomogram\'s 3-D picks, as e2spt_boxer writes them) and no "boxes": '
                "3-D picks are not read from EMAN2 _info.json files"
            )
        index = builder.add_file(file, stem(file), "")
        x, y, score = [], [], []
        for k, box in enumerate(boxes):
            if not isinstance(box, list) or len(box) < 2 or not all(_is_json_number(v) for v in box[:2]):
                shown = repr(box) if len(repr(box)) < 200 else repr(box)[:200] + "..."
                raise InputFileError(f"{file}: boxes[{k}] is {shown}; expected [x, y, type, ...] (x, y numbers)")
            has_score = len(box) > 3 and _is_json_number(box[3])
            scored = scored and has_score
            x.append(float(box[0]))
            y.append(float(box[1]))
            score.append(float(box[3]) if has_score else float("nan"))
        picked += len(boxes)
        # A pick's "row" is its place in the boxes list.
        place = np.arange(len(boxes), dtype=np.uint64)
        builder.add_rows(
            micrograph=np.full(len(boxes), builder.files[index].micrograph, dtype=np.int32),
            file=np.full(len(boxes), index, dtype=np.int64),
            x=np.array(x, dtype=np.float64),
            y=np.array(y, dtype=np.float64),
            score=np.array(score, dtype=np.float64),
            box=None,
            start=place,
            end=place + 1,
        )
    # Scored when every box has a fourth number and there is a box to rank.
    return builder.build(own_score(["score"], lambda label: scored and picked > 0))


def _is_json_number(value: object) -> bool:
    """A JSON number that a float holds: not true/false (Python's bools are ints), not 10**400."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def write_info_json(picks: Picks, mask: np.ndarray, targets: dict[str, list[Path]], tmp: Mapping[Path, Path]) -> None:
    """EMAN2 ``_info.json`` subsets: each file's object with its ``boxes`` list cut to the subset."""
    from .write import SUBSETS

    for subset, take in zip(SUBSETS, (True, False)):
        chosen = mask == take
        for k, (file, target) in enumerate(zip(picks.files, targets[subset])):
            info = read_foreign_json(file.path, "an EMAN2 _info.json")
            places = picks.row_start[chosen & (picks.file_of_pick == k)]
            info["boxes"] = [info["boxes"][int(i)] for i in places]
            tmp[target].write_text(json.dumps(info, indent=1))
