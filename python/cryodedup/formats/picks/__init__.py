"""Picker coordinate files: one shared structure, and a dispatch that recognises each format.

One input is one picker's output, which may be many per-micrograph files (a RELION AutoPick
job, a crYOLO ``CBOX/`` folder, a glob of EMAN ``.box`` files) or one table (topaz). Each
format module reads it into :class:`Picks`: micrograph names, the micrograph of each pick,
centres in micrograph pixels, a score, and what its writer needs to write subsets back
(each pick's original row text and the text around the rows of its file).

A coordinate file knows no pixel size: the job converts pixels to Å with ``--mic-psize``
or the micrographs STAR.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

import cryodedup._core as _core

from ...errors import CryodedupError, InputFileError
from ...paths import StrPath
from ...resolve import Score, name_key, resolve_score  # name_key: what a picker keeps of a micrograph's name
from ..picker_formats import function, name_suffixes, picker_format
from ..sniff import left_beside, picker_files, source_text
from ..star.micrographs import micrograph_names

__all__ = [
    "FileTables",
    "MicrographNamer",
    "PickRead",
    "Picks",
    "PicksBuilder",
    "own_score",
    "pick_location",
    "pick_numbers",
    "read_picks",
    "read_tables",
    "score_column",
    "stem",
]

#: Micrograph sizes (ny, nx) by name, or a function of the picker's names that gives them.
MicrographShapes = Union[Mapping[str, tuple[int, int]], Callable[[list[str]], Mapping[str, tuple[int, int]]]]


@dataclass
class PickFile:
    """One file the picks came from, with the text around its rows (copied to outputs).

    ``path`` is the file's path as text: a picking job has tens of thousands of files, and a
    ``Path`` object each cost 0.1 s at 10M picks. ``micrograph`` is the index of its
    micrograph when the file holds one micrograph's picks (None for a table of many
    micrographs, as topaz writes).
    """

    path: str
    micrograph: int | None
    header: str
    footer: str = ""


@dataclass
class Picks:
    """One picker's picks.

    Attributes
    ----------
    source : str
        The input as the user gave it.
    format : str
        The name of its :class:`~cryodedup.formats.picker_formats.PickerFormat` (``relion``,
        ``cryolo-cbox``, ``eman-box``, ``eman2-json``, ``topaz``).
    micrographs : list of str
        Micrograph names, as RELION/CryoSPARC name them when a micrographs STAR was given,
        else as the picker names them (file stem).
    micrograph : numpy.ndarray of int32, shape (n,)
        Index into ``micrographs`` of each pick.
    centres : numpy.ndarray of float64, shape (n, 2)
        Pick centres in micrograph pixels (x, y).
    score : numpy.ndarray of float64, shape (n,), or None
        The picker's score (NaN where missing).
    score_name : str or None
        Name of the score column.
    higher_is_better : bool
        Direction of the score.
    files : list of PickFile
        The files read.
    file_of_pick : numpy.ndarray of uint32, shape (n,)
        Index into ``files`` of each pick.
    row_start, row_end : numpy.ndarray of uint64, shape (n,)
        Where each pick's row lies in its file, in bytes, line terminator included (writers
        copy these bytes). EMAN2 ``_info.json``: the index of the pick in the file's
        ``boxes`` list, and that index + 1.
    box_size : numpy.ndarray of float64, shape (n,), or None
        Box width in pixels where the format records one.
    tube : numpy.ndarray of float64, shape (n,), or None
        The filament of each pick (crYOLO ``_filamentid``, numbered per micrograph; NaN for
        none), None when the picker picked no filaments.
    notes : list of str
        What was inferred while reading (to show the user).
    micrographs_star : tuple of (str, str), or None
        The micrographs STAR a RELION job names (its ``coords_suffix`` file, or the input of
        its ``job.star``): as the job names it, and the path to read it from.
    warnings : list of str
        What the user must hear of (a folder's coordinate files of another format left out).
    """

    source: str
    format: str
    micrographs: list[str]
    micrograph: np.ndarray
    centres: np.ndarray
    score: np.ndarray | None
    score_name: str | None
    higher_is_better: bool
    files: list[PickFile]
    file_of_pick: np.ndarray
    row_start: np.ndarray
    row_end: np.ndarray
    box_size: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    tube: np.ndarray | None = None
    micrographs_star: tuple[str, str] | None = None
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.micrograph)

    def without_numbers(self) -> Picks:
        """These picks with NaN for centres and scores, in read-only views that hold no memory.

        For a writer that copies each pick's row from its file once the picks are joined into
        a set: the pickers' own arrays of numbers are then let go (10M picks: 240 MB).
        """
        nan = np.float64(np.nan)
        score = None if self.score is None else np.broadcast_to(nan, self.score.shape)
        return replace(self, centres=np.broadcast_to(nan, self.centres.shape), score=score)


@dataclass
class FileTables:
    """Tables of many picker files read at once by the Rust core (:func:`read_tables`).

    ``labels[f]`` is None for a STAR file without the loop asked for; ``counts[f]`` its
    number of rows; the arrays run over the rows of all files in order. ``numbers`` are
    columns of one row-major table (views, not copies).
    """

    labels: list[list[str] | None]
    headers: list[str]
    footers: list[str]
    counts: np.ndarray
    numbers: dict[str, np.ndarray]
    row_start: np.ndarray
    row_end: np.ndarray
    keys: np.ndarray
    key_names: list[str]

    def file_of_row(self, first: int = 0) -> np.ndarray:
        """Index of each row's file (uint32), counted from ``first``."""
        files = np.arange(first, first + len(self.counts), dtype=np.int32)
        return repeat(files, self.counts).view(np.uint32)

    def first_row(self) -> np.ndarray:
        """Index of each file's first row in the arrays."""
        return np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)


def read_tables(
    files: Sequence[StrPath],
    layout: str,
    names: list[str],
    numbers: list[str],
    key: str | None = None,
    missing: str | None = None,
) -> FileTables:
    """Reads many picker files in parallel (memory-mapped, in Rust).

    ``layout`` is ``star`` (the first loop with the label ``names[0]``), ``tab`` (header line,
    tab-separated rows) or ``whitespace`` (rows whose first fields are ``names``). ``numbers`` are parsed as
    float64 (NaN where a file lacks the column, or a field is ``missing``); ``key`` is a text
    column given as ids into ``key_names``. Errors name the file and line.
    """
    tables = _core.read_pick_files([os.fspath(f) for f in files], layout, names, numbers, key, missing)
    return FileTables(
        labels=[f.labels for f in tables.files],
        headers=[f.header.decode("utf-8", errors="replace") for f in tables.files],
        footers=[f.footer.decode("utf-8", errors="replace") for f in tables.files],
        counts=np.array([f.rows for f in tables.files], dtype=np.int64),
        numbers=dict(zip(numbers, tables.numbers.T)),
        row_start=tables.starts,
        row_end=tables.ends,
        keys=tables.keys,
        key_names=tables.key_names,
    )


@dataclass
class PickRead:
    """What a picker format's reader is given: one picker's files, and the job's facts about them."""

    files: list[Path]
    kind: str  # the format's name, or (RELION) which of its files: relion-list, relion-suffix
    source: str  # the input as the user gave it
    namer: MicrographNamer
    topaz_scale: float | None = None
    micrograph_shapes: MicrographShapes | None = None
    project_dir: Path | None = None


class PicksBuilder:
    """Collects picks a batch of rows at a time and names micrographs.

    :meth:`build` makes :class:`Picks` of them.
    """

    def __init__(self, source: str, format: str, namer: MicrographNamer) -> None:
        self.source, self.format, self.namer = source, format, namer
        self.files: list[PickFile] = []
        #: Each column as the batches of rows added (None: the column is missing there, NaN).
        self.columns: dict[str, list[np.ndarray | None]] = {
            name: [] for name in ("micrograph", "file", "x", "y", "score", "box", "start", "end")
        }
        self.sizes: list[int] = []  # rows of each batch
        self.notes: list[str] = []

    def add_file(self, path: StrPath, micrograph: str | None, header: str, footer: str = "") -> int:
        """Adds a file read, with the text before and after its rows; returns its index.

        ``micrograph`` names the file's micrograph, None for a table of many micrographs.
        """
        index = None if micrograph is None else self.namer.index(micrograph, path)
        self.files.append(PickFile(os.fspath(path), index, header, footer))
        return len(self.files) - 1

    def add_rows(
        self,
        *,
        micrograph: ArrayLike,
        file: ArrayLike,
        x: np.ndarray,
        y: np.ndarray,
        score: ArrayLike | None,
        box: ArrayLike | None,
        start: ArrayLike,
        end: ArrayLike,
    ) -> None:
        """Adds picks, given as arrays of equal length.

        ``micrograph`` and ``file`` are indices; ``score`` and ``box`` may be None for NaN.
        """
        self.sizes.append(len(x))
        values = {
            "micrograph": micrograph,
            "file": file,
            "x": x,
            "y": y,
            "score": score,
            "box": box,
            "start": start,
            "end": end,
        }
        for name, value in values.items():
            self.columns[name].append(None if value is None else np.asarray(value))

    def build(self, score: Score) -> Picks:
        """The picks added so far, scored as :func:`own_score` chose (``label`` None: no score)."""

        def joined(name: str, dtype: DTypeLike) -> np.ndarray:
            # Millions of picks: no copy of a column read in one batch (the usual case).
            parts = [
                np.full(n, np.nan) if p is None else np.asarray(p, dtype=dtype)
                for p, n in zip(self.columns[name], self.sizes)
            ]
            if len(parts) == 1:
                return parts[0]
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        def given(name: str) -> bool:
            return any(p is not None for p in self.columns[name])

        box = joined("box", np.float64) if given("box") else None
        return Picks(
            source=self.source,
            format=self.format,
            micrographs=list(self.namer.names),
            micrograph=joined("micrograph", np.int32),
            centres=_side_by_side(joined("x", np.float64), joined("y", np.float64)),
            score=joined("score", np.float64) if score.label else None,
            score_name=score.label,
            higher_is_better=score.higher_is_better,
            files=self.files,
            file_of_pick=joined("file", np.uint32),
            row_start=joined("start", np.uint64),
            row_end=joined("end", np.uint64),
            box_size=None if box is None or np.isnan(box).all() else box,
            notes=self.notes + self.namer.notes,
        )

    def add_tables(
        self,
        tables: FileTables,
        first_file: int,
        x: np.ndarray,
        y: np.ndarray,
        score: ArrayLike | None = None,
        box: ArrayLike | None = None,
    ) -> None:
        """Adds the rows of ``tables``, each pick on its file's micrograph.

        The files of ``tables`` were added from index ``first_file`` on.
        """
        files = self.files[first_file : first_file + len(tables.counts)]
        mics = np.array([-1 if f.micrograph is None else f.micrograph for f in files], dtype=np.int32)
        self.add_rows(
            micrograph=repeat(mics, tables.counts),
            file=tables.file_of_row(first_file),
            x=x,
            y=y,
            score=score,
            box=box,
            start=tables.row_start,
            end=tables.row_end,
        )


def own_score(written: Sequence[str], has: Callable[[str], bool]) -> Score:
    """A picker's own score, as ``--score auto`` takes it: :func:`resolve_score`'s choice.

    ``written`` lists the score columns the picker writes (most preferred first; none for a
    format without scores), ``has`` whether these picks carry one: the facts are the picker's,
    the choice is the one every format makes. Every picker's own score is higher-is-better
    (crYOLO's confidence, topaz's logit, EMAN2's autoboxer score, RELION's figure of merit).
    """
    return resolve_score("auto", "auto", written, has, known=dict.fromkeys(written, True))


def pick_location(picks: Picks, k: int) -> str:
    """Where pick ``k`` was read: its file and line (an EMAN2 ``_info.json``: its box's number)."""
    return pick_locations(picks, np.array([k]))[0]


def pick_locations(picks: Picks, ks: np.ndarray) -> list[str]:
    """Where each of picks ``ks`` was read (:func:`pick_location`), each file read once for all its picks."""
    texts, which, numbers = pick_numbers(picks, ks)
    return [texts[t] + str(n) for t, n in zip(which.tolist(), numbers.tolist())]


def pick_numbers(picks: Picks, ks: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Where each of picks ``ks`` was read, as a text and a number (``a.star: line `` and 7).

    Returns the texts, each pick's text (uint32) and its number (uint64): its file's line, its
    box in a JSON file, or its place among the picks where the file cannot be read again.
    """
    ks = np.asarray(ks, dtype=np.int64)
    texts: list[str] = []
    which = np.zeros(len(ks), dtype=np.uint32)
    numbers = np.zeros(len(ks), dtype=np.uint64)
    files = picks.file_of_pick[ks]
    for f in np.unique(files).tolist():
        mine = np.flatnonzero(files == f)
        path = picks.files[f].path
        starts = picks.row_start[ks[mine]].astype(np.int64)
        if path.endswith(".json"):
            text, number = f"{path}: box ", starts + 1
        else:
            try:
                with open(path, "rb") as stream:
                    newlines = np.flatnonzero(np.frombuffer(stream.read(), dtype=np.uint8) == ord("\n"))
            except OSError:
                text, number = f"{path}: pick ", ks[mine] + 1
            else:  # (a pick's line: the line feeds before its first byte, and one)
                text, number = f"{path}: line ", np.searchsorted(newlines, starts) + 1
        which[mine] = len(texts)
        numbers[mine] = number
        texts.append(text)
    return texts, which, numbers


def repeat(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``numpy.repeat`` of int32 ``values``, written by the core in parallel (millions of picks)."""
    values, counts = np.ascontiguousarray(values, dtype=np.int32), np.ascontiguousarray(counts, dtype=np.int64)
    return _core.repeat_int32(values, counts)


def _side_by_side(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x`` and ``y`` as the columns of one (n, 2) array.

    When they are neighbouring columns of one table (as :func:`read_tables` gives them) the
    result is a read-only view of that table: millions of picks are not copied once more.
    """
    neighbours = (
        x.dtype == y.dtype
        and x.ndim == y.ndim == 1
        and x.shape == y.shape
        and x.strides == y.strides
        and x.base is not None
        and x.base is y.base
        and y.ctypes.data - x.ctypes.data == x.itemsize
    )
    if not neighbours:
        return np.column_stack([x, y])
    strides = (x.strides[0], x.itemsize)
    return np.lib.stride_tricks.as_strided(x, shape=(len(x), 2), strides=strides, writeable=False)


class MicrographNamer:
    """Gives micrographs their indices and full names.

    With the names of a micrographs STAR, a picker's name (a file stem such as
    ``x_autopick`` stripped to ``x``, or a topaz ``image_name``) is matched to the micrograph
    whose file name without extension is the same; an unmatched name is an error. Without
    them, the picker's name is used as it is.
    """

    def __init__(self, known: Sequence[str] | None, where: str = "--micrographs") -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}
        self.notes: list[str] = []
        self.where = where
        self.known: dict[str, str] | None = None
        if known is not None:
            self.known = {}
            for full in known:
                key = name_key(full)
                if key in self.known and self.known[key] != full:
                    raise InputFileError(
                        f"{where}: micrographs {self.known[key]} and {full} share the file name {key}; "
                        "picks named by file name cannot tell them apart"
                    )
                self.known[key] = full

    def index(self, name: str, path: StrPath) -> int:
        """The index of micrograph ``name`` (read from ``path``), given at its first sight."""
        full = name
        if self.known is not None and name not in self.known.values():
            matched = self.known.get(name_key(name))
            if matched is None:
                raise InputFileError(f"{path}: micrograph {name!r} is not in {self.where}")
            full = matched
        if full not in self._index:
            self._index[full] = len(self.names)
            self.names.append(full)
        return self._index[full]


def stem(path: Path) -> str:
    """The micrograph part of a per-micrograph file name."""
    name = path.name
    for suffix, _ in name_suffixes():
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def read_picks(
    paths: StrPath | Sequence[StrPath],
    *,
    micrographs: StrPath | list[str] | tuple[str, ...] | None = None,
    topaz_scale: float | None = None,
    micrograph_shapes: MicrographShapes | None = None,
    project_dir: Path | None = None,
    listed_in: StrPath | None = None,
) -> Picks:
    """Reads one picker's output.

    Parameters
    ----------
    paths : str, Path, or list of them
        A file, a folder, or a glob pattern (quoted from the shell), or several files of one
        format. Folders: a RELION AutoPick/ManualPick job (``autopick.star``,
        ``manualpick.star`` or ``coords_suffix_*.star``), else the per-micrograph files in
        it (crYOLO's ``CBOX/``, ``STAR/`` and ``EMAN/`` subfolders are looked into, CBOX
        first: it carries the confidence).
    micrographs : str, Path or list of str, optional
        A micrographs STAR (or its names) to name the micrographs as RELION does.
    topaz_scale : float or None
        Factor from topaz coordinates to micrograph pixels; None infers it from
        ``micrograph_shapes`` (refused when it cannot be told, see :func:`topaz.infer_scale`).
    micrograph_shapes : dict of str -> (ny, nx), or a function of the picker's names giving one, optional
        Micrograph sizes in pixels by name (used to infer the topaz scale; the function is
        called only then).
    project_dir : Path, optional
        Where relative paths in RELION lists are resolved (default: the current folder,
        then the folders above the list).
    listed_in : str or Path, optional
        The file a list of ``micrographs`` names came from, for the errors.

    Returns
    -------
    Picks
    """
    known: Sequence[str] | None
    if micrographs is None or isinstance(micrographs, (list, tuple)):
        known = micrographs
    else:
        known, listed_in = micrograph_names(micrographs), micrographs
    namer = MicrographNamer(known, str(listed_in or "--micrographs"))
    source = source_text(paths)
    files, kind = picker_files(paths)
    request = PickRead(files, kind, source, namer, topaz_scale, micrograph_shapes, project_dir)
    picks = function(picker_format(kind).read)(request)
    if Path(source).is_dir() and kind not in ("relion-list", "relion-suffix"):
        picks.warnings += left_beside(files)  # a job's list names its files: the rest are not its picks
    return picks


def score_column(picks: Picks, column: str) -> np.ndarray:
    """The values of ``column`` for each of ``picks`` (float64, NaN where missing), read from its files again.

    ``column`` is a label of the picks' table (``rlnAutopickFigureOfMerit``, crYOLO's
    ``_Confidence`` or ``Confidence``, topaz's ``score``). A file without it is refused,
    naming the file and the columns it has.
    """
    name = column.lstrip("_")
    score_layout = picker_format(picks.format).score_layout
    if score_layout is None:
        raise CryodedupError(
            f"--score {column}: {picks.source} ({picks.format}) has no named columns; use auto or none"
        )
    layout, marker, missing = score_layout
    paths = [f.path for f in picks.files]
    tables = read_tables(paths, layout, [marker] if marker else [], [name], missing=missing)
    for path, labels, count in zip(paths, tables.labels, tables.counts):
        if count and name not in (labels or []):
            own = (
                f"; {picks.source}'s own score is {picks.score_name}: --score auto ranks each picker by its own "
                "(with --score-normalize rank or zscore when the pickers differ)"
                if picks.score_name
                else ""
            )
            raise InputFileError(
                f"{path}: no column {name} for --score {column} (its columns: {', '.join(labels or [])}){own}"
            )
    values = np.ascontiguousarray(tables.numbers[name], dtype=np.float64)
    if len(values) != len(picks):
        raise InputFileError(f"{picks.source}: its files changed while read ({len(values)} rows, {len(picks)} picks)")
    return values
