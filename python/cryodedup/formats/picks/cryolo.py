"""crYOLO's ``.cbox`` files.

Its ``.star`` output is read by :mod:`.relion`, its ``.box`` output by :mod:`.eman`.

Convention (crYOLO's CBOX writer; napari-boxmanager's reader): STAR syntax, ``data_cryolo``
with ``_CoordinateX``/``_CoordinateY`` the box's lower-left corner in micrograph pixels, so
the centre is ``X + Width/2``, ``Y + Height/2``; ``_Confidence`` in 0..1 (higher is better);
``<NA>`` for a missing value. Filament picks carry ``_filamentid`` (numbered per micrograph
from 0): it becomes each pick's tube, whose segments are never duplicates of each other
(docs/design.md section 8). 3-D picks (numbers in ``_CoordinateZ``) are tomogram picks and
are refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import InputFileError
from . import FileTables, PickRead, Picks, PicksBuilder, own_score, read_tables, stem

__all__ = ["TUBE_COLUMN", "read_cbox"]

SCORE = "Confidence"
OLD_CBOX = (
    "a crYOLO .cbox holds a data_cryolo loop (crYOLO before 1.8 wrote headerless .cbox files, "
    "which are not read: give its EMAN/ .box or STAR/ output instead)"
)
FILAMENT = "filamentid"
#: The column that names a pick's filament, as the summary shows it (the .cbox's own spelling).
TUBE_COLUMN = f"_{FILAMENT}"


def read_cbox(request: PickRead) -> Picks:
    """CrYOLO ``.cbox`` files, one per micrograph, the micrograph named by the file name.

    An empty file is a micrograph crYOLO ran on and found nothing on (crYOLO writes one for
    every micrograph, and before 1.8 an empty one when it found nothing): it has no picks,
    and counts among the micrographs the picker ran on.
    """
    files = request.files
    builder = PicksBuilder(request.source, "cryolo-cbox", request.namer)
    corner = ("CoordinateX", "CoordinateY", "Width", "Height")
    first_written = next((f for f in files if f.stat().st_size > 0), None)
    if first_written is not None and _headerless(first_written):
        raise InputFileError(f"{first_written}: {OLD_CBOX}")
    tables = read_tables(files, "star", ["CoordinateX"], [*corner, SCORE, "CoordinateZ", FILAMENT], missing="<NA>")
    first = len(builder.files)
    for file, labels, header, footer in zip(files, tables.labels, tables.headers, tables.footers):
        if labels is None and file.stat().st_size == 0:
            builder.add_file(file, stem(file), "")
            continue
        if labels is None:
            raise InputFileError(f"{file}: no data_cryolo loop; {OLD_CBOX}")
        missing = [lab for lab in corner if lab not in labels]
        if missing:
            raise InputFileError(f"{file}: data_cryolo has no {', '.join('_' + m for m in missing)} column")
        builder.add_file(file, stem(file), header, footer)
    numbers = tables.numbers
    _refuse_rows(
        files, tables, ~np.isnan(numbers["CoordinateZ"]), " has a _CoordinateZ: 3-D (tomogram) picks are not supported"
    )
    for label in corner:
        _refuse_rows(
            files, tables, np.isnan(numbers[label]), f": _{label} is <NA>; a pick needs its corner and box size"
        )
    x, y, w, h = (numbers[label] for label in corner)
    builder.add_tables(tables, first, x + w / 2, y + h / 2, numbers[SCORE], w)
    # A file without _Confidence (crYOLO wrote none) has NaN scores, ranked last.
    picks = builder.build(own_score([SCORE], lambda label: any(labels and label in labels for labels in tables.labels)))
    if any(labels and FILAMENT in labels for labels in tables.labels):
        picks.tube = numbers[FILAMENT]  # the rows of one add_tables call, in order
    return picks


def _headerless(path: Path) -> bool:
    """Whether a .cbox starts with a row of numbers (crYOLO before 1.8: no STAR header)."""
    with open(path, "rb") as f:
        first = next((line for line in f.read(4096).splitlines() if line.strip()), b"")
    lead = first.strip()[:1]
    return lead.isdigit() or lead in (b"-", b"+", b".")


def _refuse_rows(files: list[Path], tables: FileTables, bad: np.ndarray, message: str) -> None:
    """Refuses the first row where ``bad`` holds, naming its file and row."""
    if bad.any():
        i = int(np.argmax(bad))
        f = int(tables.file_of_row()[i])
        raise InputFileError(f"{files[f]}: row {i - tables.first_row()[f] + 1}{message}")
