"""EMAN coordinate files: ``.box`` (EMAN1/EMAN2, also written by crYOLO) and EMAN2's
``info/*_info.json``.

Conventions (EMAN2 wiki, Eman2OtherFiles and Eman2InfoMetadata; crYOLO's box writer):

- ``.box``: one box per line, whitespace-separated ``x y w h`` (EMAN1 adds a fifth
  column), x and y the box's LOWER-LEFT corner in micrograph pixels: the centre is
  ``x + w/2``, ``y + h/2``. No score.
- ``_info.json``: a JSON object whose ``"boxes"`` list holds ``[x, y, "type", ...]`` with
  x and y the box CENTRE; a fourth number, when every box has one, is the autoboxer's
  score (higher is better). The micrograph is the file name without ``_info.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import CryodedupError
from . import MicrographNamer, Picks, PicksBuilder, stem


def read_box(files: list[Path], source: str, namer: MicrographNamer) -> Picks:
    """EMAN ``.box`` files, one per micrograph."""
    builder = PicksBuilder(source, "eman-box", namer)
    for file in files:
        index = builder.add_file(file, stem(file), "")
        micrograph = builder.files[index].micrograph
        for k, line in enumerate(file.read_text(errors="replace").splitlines()):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) < 4:
                raise CryodedupError(f"{file}: line {k + 1}: expected x y width height, found {len(fields)} fields")
            try:
                x, y, w, h = (float(v) for v in fields[:4])
            except ValueError:
                raise CryodedupError(
                    f"{file}: line {k + 1}: x y width height must be numbers: {line.strip()!r}"
                ) from None
            builder.add(index, micrograph, x + w / 2, y + h / 2, float("nan"), w, line)
    return builder.build(None)


def read_info_json(files: list[Path], source: str, namer: MicrographNamer) -> Picks:
    """EMAN2 ``info/*_info.json`` files; each pick's line is the JSON text of its box."""
    builder = PicksBuilder(source, "eman2-json", namer)
    scored = True
    for file in files:
        try:
            info = json.loads(file.read_text(errors="replace"))
        except json.JSONDecodeError as err:
            raise CryodedupError(f"{file}: not valid JSON ({err.msg} at line {err.lineno})") from None
        boxes = info.get("boxes", []) if isinstance(info, dict) else None
        if not isinstance(boxes, list):
            raise CryodedupError(f'{file}: expected a JSON object with a "boxes" list (EMAN2 _info.json)')
        index = builder.add_file(file, stem(file), "")
        micrograph = builder.files[index].micrograph
        for k, box in enumerate(boxes):
            if not isinstance(box, list) or len(box) < 2 or not all(isinstance(v, (int, float)) for v in box[:2]):
                raise CryodedupError(f"{file}: boxes[{k}] is {box!r}; expected [x, y, type, ...]")
            has_score = len(box) > 3 and isinstance(box[3], (int, float)) and not isinstance(box[3], bool)
            scored = scored and has_score
            builder.add(
                index,
                micrograph,
                float(box[0]),
                float(box[1]),
                float(box[3]) if has_score else float("nan"),
                float("nan"),
                json.dumps(box),
            )
    return builder.build("score" if scored and builder.lines else None)
