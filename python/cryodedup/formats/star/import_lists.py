"""RELION 5's import lists: a STAR naming one coordinate file per tomogram (docs/developers/decisions/tomography.md).

RELION 5's Import job, given "Import coordinates" (``relion_tomo_import_coordinates``), reads
the first ``data_`` block of a list with ``rlnTomoName`` and ``rlnTomoImportParticleFile``
and appends the picks of every file it names. A file ending in ``.star`` is read as a STAR
(its first block, with ``rlnCoordinateX/Y/Z`` in tilt-series pixels from the tomogram's
corner or ``rlnCenteredCoordinateX/Y/ZAngst`` from its centre); any other file as text, whose
lines that begin with three numbers are picks (three more numbers: subtomogram angles),
scaled and shifted by the job's options and in the frame its ``--centered`` says.

:func:`read_import_list` reads such a list as one table of picks, in the frame and units
RELION's import gives them; :func:`write_import_list` writes the kept picks back as RELION's
import takes them: each file again with only its kept lines (every other byte unchanged), and
a new list naming them as RELION finds them (paths from the project directory it runs in).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from ...errors import CryodedupError, InputFileError, one_line, printable
from ...outputs import AtomicOutputs, write_bytes
from ...paths import StrPath
from ..files import check_regular_file
from ..sniff import may_be_import_list
from .file import Block, StarFile, split_fields, unquote
from .tomography import SUBTOMOGRAM_ANGLES

__all__ = [
    "FRAMES",
    "STAR_VERSION",
    "ImportList",
    "is_import_list",
    "listed_path",
    "read_import_list",
    "star_value",
    "write_import_list",
]

TOMOGRAM = "rlnTomoName"
PARTICLE_FILE = "rlnTomoImportParticleFile"
#: RELION 4's columns, kept by RELION 5's import: tilt-series pixels from the tomogram's corner.
CORNER = ("rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ")
#: RELION 5's own: Å from the tomogram's centre (preferred by RELION when a file has both).
CENTRED = ("rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst")
#: The frames of :attr:`ImportList.frame`, as a message names them.
FRAMES = {
    "corner-pixel": "tilt-series pixels from the tomogram's corner (rlnCoordinateX/Y/Z)",
    "centred-angstrom": "Å from the tomogram's centre (rlnCenteredCoordinateX/Y/ZAngst)",
}
#: What RELION's import sets on a text file's pick of six numbers (readCoordinateFile): the
#: subtomogram angles, and the particle's angles and priors (tilt 90).
TEXT_ANGLE_COLUMNS = (
    *SUBTOMOGRAM_ANGLES,
    "rlnAngleRot",
    "rlnAngleTilt",
    "rlnAnglePsi",
    "rlnAngleTiltPrior",
    "rlnAnglePsiPrior",
)
#: The version line RELION 5 writes above a table (MetaDataTable::write, CURRENT_MDT_VERSION).
STAR_VERSION = 50001

# What C's sscanf("%f") takes from the start of a word (the import's test of a text line);
# hexadecimal floats and the rest of "infinity" stop early, so they are refused as part-numbers.
_C_FLOAT_PREFIX = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|nan)", re.IGNORECASE)


@dataclass
class CoordinateFile:
    """One file of a list: the tomogram it is listed for, how RELION reads it, and its lines.

    ``lines`` are the file's bytes cut after each line feed (terminators kept): the writer
    leaves out the lines of the picks not kept and copies every other one.
    """

    tomogram: str
    listed: str  # the path as the list gives it
    path: Path  # where it was read
    list_line: int  # the list's line that names it
    kind: str  # "star" or "text"
    frame: str  # a key of FRAMES
    labels: list[str]  # STAR: the loop's labels; text: the RELION columns its numbers become
    has_angles: bool  # rlnTomoSubtomogramRot/Tilt/Psi (RELION's "prior angle information")
    lines: list[bytes] = field(repr=False)

    def relion_columns(self) -> frozenset[str]:
        """The columns RELION's import gives this file's picks, which ``MetaDataTable::append`` compares.

        A STAR file's own (RELION adds ``rlnTomoName`` where it is absent); a text file's
        coordinates, with six numbers the angles ``readCoordinateFile`` sets too.
        """
        if self.kind == "star":
            return frozenset([*self.labels, TOMOGRAM])
        coords = CENTRED if self.frame == "centred-angstrom" else CORNER
        return frozenset([TOMOGRAM, *coords, *(TEXT_ANGLE_COLUMNS if self.has_angles else ())])


@dataclass
class ImportList:
    """The picks of every file of one import list, in list order, each file's rows in file order.

    ``centres`` (n, 3) are in ``frame`` as RELION's import gives them (text files scaled and
    shifted, from 32-bit floats as its ``sscanf`` reads them). ``columns`` holds every other
    column of the files as text (a STAR's scores, angles, names; a text file's angles), None
    where a pick's file has no such column.
    """

    path: Path
    frame: str
    files: list[CoordinateFile]
    tomograms: list[str]  # distinct names, in list order
    tomogram: np.ndarray  # int32 (n,): index into tomograms
    file_of_pick: np.ndarray  # int32 (n,): index into files
    row: np.ndarray  # int64 (n,): the pick's row among its file's picks, from 0
    line: np.ndarray  # int64 (n,): the pick's line in its file, from 1
    centres: np.ndarray  # float64 (n, 3)
    columns: dict[str, list[str | None]]

    def __len__(self) -> int:
        return len(self.centres)

    def relion_columns(self) -> frozenset[str]:
        """The columns RELION's import gives every pick of the list (its files' share them: checked when read)."""
        return self.files[0].relion_columns()

    def numbers(self, label: str) -> np.ndarray:
        """Column ``label`` as float64, NaN where a pick has no such value or it is not a number."""
        out = np.full(len(self), np.nan)
        for k, text in enumerate(self.columns.get(label, ())):
            with suppress(ValueError):
                out[k] = float(text) if text is not None else np.nan
        return out


@dataclass
class WrittenList:
    """What :func:`write_import_list` wrote: the lists, their files and what they left out."""

    lists: list[Path]  # in the order of the names given
    files: list[Path]  # one per line of the lists, in their order
    picks: list[int]  # picks kept in each
    left_out: list[str] = field(default_factory=list)  # "tomogram (file)" of files with no pick kept

    @property
    def list_path(self) -> Path:
        """The first list (the only one, where one name was given)."""
        return self.lists[0]


def is_import_list(path: StrPath) -> bool:
    """Whether ``path`` is a STAR whose first table naming ``rlnTomoImportParticleFile`` holds no coordinates.

    Only the first MiB is looked at before the file is indexed: a particle file is not.
    """
    if not may_be_import_list(path):
        return False
    try:
        blocks = StarFile(path).blocks
    except CryodedupError:
        return False
    for block in blocks:
        labels = _labels(block)
        if PARTICLE_FILE in labels:
            return not (set(CORNER) <= set(labels) or set(CENTRED) <= set(labels))
    return False


def read_import_list(
    path: StrPath,
    *,
    centered: bool = False,
    scale_factor: float = 1.0,
    add_factor: float = 0.0,
    project_dir: StrPath | None = None,
) -> ImportList:
    """Reads a RELION 5 import list and every coordinate file it names.

    Parameters
    ----------
    path : str or Path
        The list: its first ``data_`` block names ``rlnTomoName`` and ``rlnTomoImportParticleFile``.
    centered, scale_factor, add_factor :
        The import job's options for text files (``--centered``, ``--scale_factor``,
        ``--add_factor``): RELION applies them to text files only, never to STAR files.
    project_dir : str or Path, optional
        Where relative paths in the list are found: RELION opens them from the directory it
        runs in, its project directory (default: the current directory).
    """
    list_path = check_regular_file(path, "a RELION 5 import list (STAR)")
    base = Path(project_dir) if project_dir is not None else Path.cwd()
    entries = _list_entries(list_path)
    files: list[CoordinateFile] = []
    parts: list[tuple[np.ndarray, list[int], dict[str, list[str]]]] = []
    seen: dict[str, int] = {}
    for tomogram, listed, line in entries:
        where = f"{list_path}: line {line}"
        file_path = _resolve(where, listed, tomogram, base, list_path)
        key = os.path.realpath(file_path)
        if key in seen:
            raise InputFileError(
                f"{where}: {printable(listed)} is listed again (first on line {seen[key]}); "
                "RELION would import its picks twice: remove one line"
            )
        seen[key] = line
        coordinate_file, centres, lines, columns = _read_coordinates(
            file_path, listed, tomogram, line, where, centered, scale_factor, add_factor
        )
        files.append(coordinate_file)
        parts.append((centres, lines, columns))
    _check_same_frame(list_path, files)
    _check_angles(list_path, files)
    _check_same_columns(list_path, files)
    return _one_table(list_path, files, parts)


def _labels(block: Block) -> list[str]:
    return list(block.labels) if block.labels is not None else [key for key, _ in block.pairs]


def _refuse_crlf(path: Path, data: bytes) -> None:
    """RELION's STAR reader refuses a line that ends in CR (MetaDataTable::readStar): so does this."""
    if b"\r\n" in data:
        line = data.count(b"\n", 0, data.index(b"\r\n")) + 1
        raise InputFileError(
            f"{path}: line {line}: ends in CR+LF, which RELION's STAR reader refuses; convert it with dos2unix"
        )


def _first_block(star: StarFile, what: str) -> Block:
    """The block RELION reads (its first ``data_``), which must be a loop."""
    block = star.blocks[0]
    if block.labels is None:
        raise InputFileError(
            f"{star.path}: line {block.line}: data_{block.name} holds key-value pairs; RELION's import "
            f"reads the first data_ block, expected a loop_ of {what}"
        )
    return block


def _loop_rows(star: StarFile, block: Block, data: bytes) -> list[tuple[int, list[str]]]:
    """(line index from 0, unquoted fields) of each row of ``block``, comment and blank lines skipped."""
    labels = block.labels or []
    first = data.count(b"\n", 0, block.rows_start)
    rows = []
    for k, raw in enumerate(data[block.rows_start : block.rows_end].split(b"\n")):
        text = raw.decode("utf-8", errors="replace")
        stripped = text.strip()
        if not stripped or stripped[0] in "#;":
            continue
        # Without quotes the fields are the blank-separated words (as file.Table reads them)
        fields = text.split() if '"' not in text and "'" not in text else [unquote(f) for _, _, f in split_fields(text)]
        if len(fields) != len(labels):
            raise InputFileError(
                f"{star.path}: line {first + k + 1}: row has {len(fields)} fields, expected {len(labels)} "
                "(one per column label)"
            )
        rows.append((first + k, fields))
    return rows


def _list_entries(path: Path) -> list[tuple[str, str, int]]:
    """(tomogram, listed file, line) of each row of the list's first block."""
    data = path.read_bytes()
    _refuse_crlf(path, data)
    star = StarFile(path)
    block = star.blocks[0]
    labels = _labels(block)
    for label in (TOMOGRAM, PARTICLE_FILE):
        if label not in labels:
            raise InputFileError(
                f"{path}: line {block.line}: data_{block.name} has no {label}; RELION's import reads the first "
                f"data_ block, expected {TOMOGRAM} and {PARTICLE_FILE}"
            )
    if block.labels is None:  # one tomogram written as key-value pairs, which RELION reads too
        pairs = dict(block.pairs)
        return [(unquote(pairs[TOMOGRAM]), unquote(pairs[PARTICLE_FILE]), block.line)]
    rows = _loop_rows(star, block, data)
    if not rows:
        raise InputFileError(f"{path}: line {block.line}: data_{block.name} lists no file, expected one per tomogram")
    t, f = labels.index(TOMOGRAM), labels.index(PARTICLE_FILE)
    return [(fields[t], fields[f], k + 1) for k, fields in rows]


def _resolve(where: str, listed: str, tomogram: str, base: Path, list_path: Path) -> Path:
    """The listed file as RELION opens it: from the project directory unless absolute."""
    path = Path(listed) if os.path.isabs(listed) else base / listed
    if _extension(listed) == "star" and (":" in listed or "#" in listed):
        raise InputFileError(
            f"{where}: {printable(listed)} holds ':' or '#', which RELION's STAR reader takes for a format "
            "suffix (FileName::removeFileFormat): rename the file"
        )
    if not path.exists():
        hint = ""
        if not os.path.isabs(listed) and (list_path.parent / listed).exists():
            hint = f"; it is found from the list's folder, {list_path.parent}, but RELION does not look there"
        raise InputFileError(
            f"{where}: coordinate file {printable(listed)} of tomogram {printable(tomogram)} not found in "
            f"{base} (RELION opens relative paths from its project directory){hint}"
        )
    return check_regular_file(path, f"the coordinate file of tomogram {tomogram}")


def _extension(listed: str) -> str:
    """RELION's FileName::getExtension: what follows the last dot of the whole name (or nothing)."""
    return listed.rpartition(".")[2] if "." in listed else ""


def _read_coordinates(
    path: Path,
    listed: str,
    tomogram: str,
    list_line: int,
    where: str,
    centered: bool,
    scale: float,
    add: float,
) -> tuple[CoordinateFile, np.ndarray, list[int], dict[str, list[str]]]:
    """One coordinate file, read as RELION's import reads it (``readCoordinateFile``)."""
    data = path.read_bytes()
    lines = _split_lf(data)
    if _extension(listed) == "star":
        return _read_star(path, data, lines, listed, tomogram, list_line)
    return _read_text(path, lines, listed, tomogram, list_line, where, centered, scale, add)


def _split_lf(data: bytes) -> list[bytes]:
    """The lines of ``data`` cut after each LF only (a CR is part of its line, as for RELION's getline)."""
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    return [*lines, parts[-1]] if parts[-1] else lines


def _read_star(
    path: Path, data: bytes, lines: list[bytes], listed: str, tomogram: str, list_line: int
) -> tuple[CoordinateFile, np.ndarray, list[int], dict[str, list[str]]]:
    _refuse_crlf(path, data)
    star = StarFile(path)
    block = _first_block(star, "coordinates")
    labels = list(block.labels or [])
    if set(CENTRED) <= set(labels):
        frame, coords = "centred-angstrom", CENTRED
    elif set(CORNER) <= set(labels):
        frame, coords = "corner-pixel", CORNER
    else:
        raise InputFileError(
            f"{path}: line {block.line}: data_{block.name} has no coordinates; RELION's import reads the first "
            "data_ block, expected rlnCoordinateX/Y/Z (tilt-series pixels) or rlnCenteredCoordinateX/Y/ZAngst (Å)"
        )
    rows = _loop_rows(star, block, data)
    centres = np.stack([_coordinates(path, rows, labels, c) for c in coords], axis=1).reshape(-1, 3)
    if TOMOGRAM in labels:
        j = labels.index(TOMOGRAM)
        other = next(((line, fields[j]) for line, fields in rows if fields[j] != tomogram), None)
        if other is not None:
            raise InputFileError(
                f"{path}: line {other[0] + 1}: {TOMOGRAM} is {printable(other[1])}, but the list names this "
                f"file for tomogram {printable(tomogram)} (line {list_line}); expected its picks only"
            )
    others = [j for j, label in enumerate(labels) if label not in coords]
    columns = {labels[j]: [fields[j] for _, fields in rows] for j in others}
    has_angles = set(SUBTOMOGRAM_ANGLES) <= set(labels)
    coordinate_file = CoordinateFile(tomogram, listed, path, list_line, "star", frame, labels, has_angles, lines)
    return coordinate_file, centres, [line for line, _ in rows], columns


def _coordinates(path: Path, rows: list[tuple[int, list[str]]], labels: list[str], label: str) -> np.ndarray:
    """Column ``label`` of every row as numbers; the first that is not a finite number is refused."""
    j = labels.index(label)
    texts = [fields[j] for _, fields in rows]
    try:
        if any("_" in t for t in texts):  # Python's digit separators (1_000), which no C reader takes
            raise ValueError
        values = np.array(texts, dtype=np.str_).astype(np.float64) if texts else np.empty(0)
    except ValueError:
        values = np.array([_number_or_nan(t) for t in texts])
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        line, fields = rows[bad[0]]
        raise InputFileError(f"{path}: line {line + 1}: {label} is {printable(fields[j])}, expected a finite number")
    return values


def _number_or_nan(text: str) -> float:
    try:
        return float(text) if "_" not in text else np.nan
    except ValueError:
        return np.nan


def _read_text(
    path: Path,
    lines: list[bytes],
    listed: str,
    tomogram: str,
    list_line: int,
    where: str,
    centered: bool,
    scale: float,
    add: float,
) -> tuple[CoordinateFile, np.ndarray, list[int], dict[str, list[str]]]:
    """A text file: the lines whose first three words are numbers are picks (RELION ignores the rest)."""
    picks: list[int] = []
    numbers: list[list[float]] = []
    angles: list[list[str]] = []
    for k, raw in enumerate(lines):
        words = re.split(r"[ \t]+", raw.rstrip(b"\n").decode("utf-8", errors="replace").strip(" \t"))
        if len(words) < 3 or not all(_C_FLOAT_PREFIX.match(w) for w in words[:3]):
            continue
        picks.append(k)
        numbers.append([_text_number(path, k + 1, w) for w in words[:3]])
        six = len(words) >= 6 and all(_C_FLOAT_PREFIX.match(w) for w in words[3:6])
        angles.append([w.rstrip("\r") for w in words[3:6]] if six else [])
    if not picks:
        raise InputFileError(
            f"{path}: no line begins with three numbers (x y z), so RELION's import would find no pick in it "
            f"({where}: a text file, as its name does not end in .star)"
        )
    with_angles = [bool(a) for a in angles]
    if any(with_angles) and not all(with_angles):
        first_without = picks[with_angles.index(False)] + 1
        first_with = picks[with_angles.index(True)] + 1
        raise InputFileError(
            f"{path}: line {first_without}: three numbers, but line {first_with} has six (x y z and angles); "
            "expected the same on every line (RELION would give this pick no angles)"
        )
    frame = "centred-angstrom" if centered else "corner-pixel"
    coords = CENTRED if centered else CORNER
    # RELION reads each number as a 32-bit float (sscanf "%f"), then scales and shifts it in doubles.
    with np.errstate(over="ignore", invalid="ignore"):  # (an overflow: refused here, naming the line)
        read = np.asarray(numbers, dtype=np.float32).astype(np.float64)
        centres = read * scale + add
    # (a NaN or an infinity as written: refused with the other inputs' by check_centres)
    written = np.isfinite(np.asarray(numbers, dtype=np.float64).reshape(len(centres), -1)).all(axis=1)
    for k in np.flatnonzero(written & ~np.isfinite(centres).all(axis=1))[:1].tolist():
        given = " ".join(f"{v:g}" for v in np.asarray(numbers[k], dtype=np.float64))
        if not np.isfinite(read[k]).all():
            raise InputFileError(f"{path}: line {picks[k] + 1}: {given} is beyond a 32-bit float (as RELION reads it)")
        raise InputFileError(
            f"{path}: line {picks[k] + 1}: {given} times --import-scale {scale:g} plus --import-add {add:g} is beyond "
            "a finite number; expected the factor RELION's import was given (its scale_factor option)"
        )
    has_angles = all(with_angles)
    labels = list(coords) + (list(SUBTOMOGRAM_ANGLES) if has_angles else [])
    columns = {label: [a[j] for a in angles] for j, label in enumerate(SUBTOMOGRAM_ANGLES)} if has_angles else {}
    coordinate_file = CoordinateFile(tomogram, listed, path, list_line, "text", frame, labels, has_angles, lines)
    return coordinate_file, centres, picks, columns


def _text_number(path: Path, line: int, word: str) -> float:
    """A coordinate of a text file: the whole word must be the number RELION's sscanf reads from its start."""
    text = word.rstrip("\r")
    match = _C_FLOAT_PREFIX.match(text)
    value = float(text) if match and match.end() == len(text) else None
    if value is None or not np.isfinite(value):
        read = f" (RELION would read {match.group()})" if match and value is None else ""
        raise InputFileError(f"{path}: line {line}: {printable(text)} is not a finite number{read}; expected x y z")
    return value


def _check_same_frame(list_path: Path, files: list[CoordinateFile]) -> None:
    """Refuses a list whose files give coordinates in two frames: they cannot be compared as they are."""
    first = files[0]
    for other in files[1:]:
        if other.frame != first.frame:
            raise InputFileError(
                f"{list_path}: mixed units: {printable(first.listed)} (line {first.list_line}) gives "
                f"{FRAMES[first.frame]}, {printable(other.listed)} (line {other.list_line}) {FRAMES[other.frame]}; "
                "expected one frame for all (text files follow centered=True/False)"
            )


def _check_angles(list_path: Path, files: list[CoordinateFile]) -> None:
    """RELION's import refuses a list where some files have subtomogram angles and some not: so does this."""
    with_angles = [f for f in files if f.has_angles]
    without = [f for f in files if not f.has_angles]
    if with_angles and without:
        a, b = with_angles[0], without[0]
        raise InputFileError(
            f"{list_path}: {printable(a.listed)} (line {a.list_line}) has subtomogram angles, "
            f"{printable(b.listed)} (line {b.list_line}) has none; RELION's import refuses a list where "
            "some, but not all coordinate files contain prior angle information"
        )


def _check_same_columns(list_path: Path, files: list[CoordinateFile]) -> None:
    """RELION's import appends each file's table to the first's, and stops where their columns differ: so does this."""
    first = files[0]
    for other in files[1:]:
        if other.relion_columns() != first.relion_columns():
            only_first = sorted(first.relion_columns() - other.relion_columns())
            only_other = sorted(other.relion_columns() - first.relion_columns())
            raise InputFileError(
                f"{list_path}: {printable(first.listed)} (line {first.list_line}) and {printable(other.listed)} "
                f"(line {other.list_line}) differ in columns ({_column_difference(only_first, only_other)}); "
                'RELION\'s import refuses it ("ERROR in appending metadata tables with not the same columns!"): '
                "give the files the same columns, or list them apart"
            )


def _column_difference(only_first: list[str], only_other: list[str]) -> str:
    """What two files' columns differ in, as a message says it."""
    parts = [
        f"{', '.join(labels)} only in the {which}"
        for labels, which in ((only_first, "first"), (only_other, "second"))
        if labels
    ]
    return "; ".join(parts)


def _one_table(
    list_path: Path, files: list[CoordinateFile], parts: list[tuple[np.ndarray, list[int], dict[str, list[str]]]]
) -> ImportList:
    tomograms = list(dict.fromkeys(f.tomogram for f in files))
    counts = [len(lines) for _, lines, _ in parts]
    file_of_pick = np.repeat(np.arange(len(files), dtype=np.int32), counts)
    tomogram_of_file = np.array([tomograms.index(f.tomogram) for f in files], dtype=np.int32)
    columns: dict[str, list[str | None]] = {}
    for k, (_, _, cols) in enumerate(parts):
        for label in cols:
            columns.setdefault(label, [None] * sum(counts[:k]))
        for label, values in columns.items():
            values.extend(cols.get(label, [None] * counts[k]))
    return ImportList(
        path=list_path,
        frame=files[0].frame,
        files=files,
        tomograms=tomograms,
        tomogram=tomogram_of_file[file_of_pick],
        file_of_pick=file_of_pick,
        row=np.concatenate([np.arange(n, dtype=np.int64) for n in counts]),
        line=np.concatenate([np.asarray(lines, dtype=np.int64) + 1 for _, lines, _ in parts]),
        centres=np.concatenate([c for c, _, _ in parts]).reshape(-1, 3),
        columns=columns,
    )


def write_import_list(
    kept_rows: Sequence[tuple[ImportList, ArrayLike]],
    outdir: StrPath,
    *,
    list_name: str | Sequence[str] = "import_list.star",
    coordinates: str = "coordinates",
    project_dir: StrPath | None = None,
    force: bool = False,
) -> WrittenList:
    """Writes the kept picks of one or more lists as RELION 5's import takes them.

    Each coordinate file is written again under ``outdir/coordinates/`` (``coordinates``) with the lines of the
    picks not kept left out and every other byte as it was (same name, or the tomogram's name
    before it where two files share one); ``outdir/list_name`` lists them in input order, each
    tomogram's files together (RELION 4.0 numbers its picks anew at each change of tomogram), paths
    relative to ``project_dir`` (default: the current directory; RELION runs there) when the
    files are inside it, else absolute. A file with no pick kept is neither written nor listed:
    RELION would refuse an empty text file beside files with angles. Everything is written under
    temporary names and renamed at the end.

    Parameters
    ----------
    kept_rows : sequence of (ImportList, keep)
        ``keep``: a boolean array, one entry per pick of the list.
    list_name : str or sequence of str
        One name for one list of every file, or one name per entry of ``kept_rows``: the
        entries of one name are listed together (RELION's import refuses a list whose files
        differ in columns, :meth:`ImportList.relion_columns`; the caller names them apart).
    """
    outdir = Path(outdir)
    base = Path(project_dir) if project_dir is not None else Path.cwd()
    names = [list_name] * len(kept_rows) if isinstance(list_name, str) else list(list_name)
    if len(names) != len(kept_rows):
        raise ValueError(f"{len(names)} list names for {len(kept_rows)} lists")
    chosen: list[tuple[CoordinateFile, bytes, int, str]] = []
    left_out: list[str] = []
    for (picks, keep), name in zip(kept_rows, names):
        mask = np.asarray(keep, dtype=bool)
        if mask.shape != (len(picks),):
            raise ValueError(f"keep has shape {mask.shape}, expected ({len(picks)},) for {picks.path}")
        for k, coordinate_file in enumerate(picks.files):
            of_file = picks.file_of_pick == k
            dropped = set((picks.line[of_file & ~mask] - 1).tolist())
            kept = int(np.count_nonzero(of_file & mask))
            if kept == 0:
                left_out.append(f"{coordinate_file.tomogram} ({coordinate_file.listed})")
                continue
            text = b"".join(line for j, line in enumerate(coordinate_file.lines) if j not in dropped)
            chosen.append((coordinate_file, text, kept, name))
    folder = outdir / coordinates
    targets = [folder / name for name in _output_names([c for c, _, _, _ in chosen])]
    list_paths = [outdir / name for name in dict.fromkeys(names)]
    inputs = [c.path for c, _, _, _ in chosen] + [picks.path for picks, _ in kept_rows]
    with AtomicOutputs([*targets, *list_paths], force=force, inputs=inputs, folders=[folder]) as temporary:
        for (_, text, _, _), target in zip(chosen, targets):
            write_bytes(temporary[target], text)
        for list_path in list_paths:
            entries = [
                (c.tomogram, listed_path(target, base))
                for (c, _, _, name), target in zip(chosen, targets)
                if outdir / name == list_path
            ]
            write_bytes(temporary[list_path], _list_text(_by_tomogram(entries)))
    return WrittenList(list_paths, targets, [n for _, _, n, _ in chosen], left_out)


def _by_tomogram(entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The entries with each tomogram's together, tomograms in order of first listing, files in list order.

    RELION 4.0's import (``relion_tomo_import_particles``) numbers the picks
    ``rlnTomoParticleName`` anew at every change of ``rlnTomoName`` from row to row, so a
    tomogram listed twice apart (two lists merged: TS_01, TS_03, TS_01, TS_03) would have its
    names repeated, and its extraction would write two subtomograms to one file. RELION 5
    counts per tomogram wherever its rows stand, and reads the same particles either way.
    """
    order = {tomogram: k for k, tomogram in enumerate(dict.fromkeys(t for t, _ in entries))}
    return sorted(entries, key=lambda entry: order[entry[0]])  # (sorted is stable: list order within one)


def _output_names(files: list[CoordinateFile]) -> list[str]:
    """Each file's name, with its tomogram's name before it where two files share a name, then a number."""
    names = [f.path.name for f in files]
    counts = {name: names.count(name) for name in names}
    names = [f"{f.tomogram.replace(os.sep, '_')}_{name}" if counts[name] > 1 else name for f, name in zip(files, names)]
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{seen[name]}_{name}")
    return unique


def listed_path(target: Path, base: Path) -> str:
    """``target`` as the list names it: from the project directory when inside it, else absolute."""
    absolute = Path(os.path.abspath(target))
    try:
        return str(absolute.relative_to(os.path.abspath(base)))
    except ValueError:
        return str(absolute)


def star_value(text: str) -> str:
    """A value as RELION's escapeStringForSTAR writes it: quoted when empty or holding a blank.

    A line break cannot be written, quoted or not: RELION reads a STAR file a line at a time
    (``nextTokenInSTAR`` finds a value within its line), so the value would end there and its
    rest be read as the next line. (A double quote in a quoted value RELION marks with a BEL byte,
    which no other reader undoes: refused too.)
    """
    if "\n" in text or "\r" in text:
        raise CryodedupError(
            f"{one_line(text)}: a name with a line break cannot be written in a STAR file (RELION reads a value "
            "within its line)"
        )
    if text and not re.search(r"[ \t]", text) and text[0] not in "\"'":
        return text
    if '"' in text:
        raise CryodedupError(f"{printable(text)}: a name with a double quote and a blank cannot be listed")
    return f'"{text}"'


def _list_text(entries: list[tuple[str, str]]) -> bytes:
    """The list as RELION's MetaDataTable::write lays out a table."""
    head = f"\n# version {STAR_VERSION}\n\ndata_particles\n\nloop_ \n_{TOMOGRAM} #1 \n_{PARTICLE_FILE} #2 \n"
    rows = "".join(f"{star_value(t):>10} {star_value(p):>10} \n" for t, p in entries)
    return (head + rows + " \n").encode()
