"""crYOLO's ``.cbox`` files (its ``.star`` output is read by :mod:`.relion`, its ``.box``
output by :mod:`.eman`).

Convention (crYOLO's CBOX writer; napari-boxmanager's reader): STAR syntax, ``data_cryolo``
with ``_CoordinateX``/``_CoordinateY`` the box's lower-left corner in micrograph pixels, so
the centre is ``X + Width/2``, ``Y + Height/2``; ``_Confidence`` in 0..1 (higher is better);
``<NA>`` for a missing value. Filament picks carry ``_filamentid`` and are refused: a
filament's segments are not duplicates of each other. 3-D picks (numbers in
``_CoordinateZ``) are tomogram picks and are refused too.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CryodedupError
from ..star import StarFile
from . import MicrographNamer, Picks, PicksBuilder, stem

SCORE = "Confidence"


def read_cbox(files: list[Path], source: str, namer: MicrographNamer) -> Picks:
    """crYOLO ``.cbox`` files, one per micrograph, the micrograph named by the file name."""
    builder = PicksBuilder(source, "cryolo-cbox", namer)
    for file in files:
        star = StarFile(file)
        block = star.block("cryolo")
        if block is None:
            raise CryodedupError(f"{file}: no data_cryolo loop; not a crYOLO .cbox file")
        labels = block.labels
        if "filamentid" in labels:
            raise CryodedupError(
                f"{file}: a crYOLO filament .cbox (_filamentid): filament segments are not supported; "
                "pick single particles, or remove duplicate segments after extraction"
            )
        missing = [lab for lab in ("CoordinateX", "CoordinateY", "Width", "Height") if lab not in labels]
        if missing:
            raise CryodedupError(f"{file}: data_cryolo has no {', '.join('_' + m for m in missing)} column")
        table = star.table(block)
        index = builder.add_file(
            file,
            stem(file),
            star.read_bytes(0, block.rows_start).decode(),
            star.read_bytes(block.rows_end, star.size).decode(),
        )
        micrograph = builder.files[index].micrograph
        col = {lab: labels.index(lab) for lab in labels}
        for k, (row, line) in enumerate(zip(table.rows, table.lines)):
            if "CoordinateZ" in col and row[col["CoordinateZ"]] != "<NA>":
                raise CryodedupError(f"{file}: row {k + 1} has a _CoordinateZ: 3-D (tomogram) picks are not supported")
            x, y, w, h = (
                _value(row[col[lab]], file, lab, k) for lab in ("CoordinateX", "CoordinateY", "Width", "Height")
            )
            score = _value(row[col[SCORE]], file, SCORE, k) if SCORE in col else float("nan")
            builder.add(index, micrograph, x + w / 2, y + h / 2, score, w, line)
    return builder.build(SCORE if files and SCORE in labels else None)


def _value(text: str, file: Path, label: str, row: int) -> float:
    if text == "<NA>":
        if label == SCORE:
            return float("nan")
        raise CryodedupError(f"{file}: row {row + 1}: _{label} is <NA>; a pick needs its corner and box size")
    try:
        return float(text)
    except ValueError:
        raise CryodedupError(f"{file}: row {row + 1}: _{label} value {text!r} is not a number") from None
