"""STAR files: blocks, small tables, and fast scans and row copies of big loops.

The file is memory-mapped and indexed by the Rust core; big loops are scanned in parallel
for the few columns a job needs, and rows are written back byte for byte, one window of
the file at a time (pages released behind, so memory does not grow with the file). Small tables
(optics groups, micrograph lists) are read here as strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import cryodedup._core as _core

from ...errors import InputFileError
from ...paths import StrPath
from ..files import check_regular_file

__all__ = ["Block", "StarFile", "Table", "is_number", "split_fields", "star_lines", "unquote"]

#: (ASCII: RELION parts fields at spaces and tabs, so a name holding U+2029 or U+00A0 stays one field)
_FIELD = re.compile(r"\"[^\"]*\"(?=\s|$)|'[^']*'(?=\s|$)|\S+", re.ASCII)


def split_fields(line: str) -> list[tuple[int, int, str]]:
    """The fields of one row as (start, end, text) spans; text keeps its quotes."""
    return [(m.start(), m.end(), m.group()) for m in _FIELD.finditer(line)]


def star_lines(text: str) -> list[str]:
    r"""``text``'s lines as RELION parts them: at ``\n`` alone (a CR before it dropped).

    Not ``str.splitlines``, which also breaks at U+2028, U+2029, U+0085, form feeds and the
    file separators: a name holding one would split its row in two.
    """
    return [line.removesuffix("\r") for line in text.split("\n")]


def unquote(text: str) -> str:
    """``text`` without the pair of double or single quotes around it, if it has one."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def is_number(text: str) -> bool:
    """Whether ``text`` reads as a number (``float`` accepts it: ``1``, ``-2.5e3``, ``nan``)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


#: One ``data_`` block as the core indexed it (its place in the file, name, line, byte spans,
#: loop labels and key-value pairs): the binding's class, used as it is.
Block = _core.StarBlock


@dataclass
class Table:
    """A small loop read as strings: ``rows[i][j]`` is the text of label ``labels[j]``."""

    labels: list[str]
    rows: list[list[str]]
    lines: list[str]

    def column(self, label: str) -> list[str]:
        """The unquoted text of ``label`` in each row; ``label`` must be one of ``labels``."""
        j = self.labels.index(label)
        return [unquote(r[j]) for r in self.rows]


def _check_distinct_labels(path: Path, block: Block) -> None:
    """Refuses a loop that lists one label twice: which of the two columns is meant cannot be known."""
    seen: dict[str, int] = {}
    for k, label in enumerate(block.labels or (), 1):
        if label in seen:
            raise InputFileError(
                f"{path}: data_{block.name} (line {block.line}): label _{label} is listed twice, as "
                f"column {seen[label]} and column {k}; remove one"
            )
        seen[label] = k


class StarFile:
    """A STAR file, mapped and indexed. Errors name the file and line.

    Parameters
    ----------
    path : str or Path
        The file to read. It is never modified.
    defer_rows_of : str, optional
        Index the file only up to the first row of the loop of the first block of this name;
        the rest is indexed while ``scan_particles`` reads that loop, so that a big file is
        read once, not twice (``blocks`` holds the blocks known so far, the last one's rows
        ending after its first row, until ``refresh_blocks``).
    """

    def __init__(self, path: StrPath, defer_rows_of: str | None = None) -> None:
        self.path = check_regular_file(path, "a STAR file")
        self._raw = _core.StarFile(str(self.path), defer_rows_of)
        #: Comment lines among the rows of each scanned loop (by block index): the outputs leave them out.
        self.comment_lines: dict[int, int] = {}
        if self._raw.size == 0:
            raise InputFileError(f"{self.path}: the file is empty")
        self.blocks = self._blocks(self._raw.header_blocks())
        if not self.blocks:
            raise InputFileError(f"{self.path}: no data_ block found; is this a STAR file?")

    @property
    def deferred(self) -> bool:
        """Whether ``blocks`` stops at the first row of the deferred loop, not yet scanned."""
        return bool(self._raw.deferred)

    def refresh_blocks(self) -> None:
        """Indexes the whole file if it is not yet (one pass), and lists every block."""
        self.blocks = self._blocks(self._raw.blocks())

    def _blocks(self, blocks: list[Block]) -> list[Block]:
        for block in blocks:
            _check_distinct_labels(self.path, block)
        return blocks

    @property
    def size(self) -> int:
        """The file's length in bytes."""
        return self._raw.size

    def block(self, name: str) -> Block | None:
        """The first block called ``data_<name>`` that holds a loop, or None."""
        return next((b for b in self.blocks if b.name == name and b.labels is not None), None)

    def read_bytes(self, start: int, end: int) -> bytes:
        """The bytes of the file from offset ``start`` up to ``end`` (excluded)."""
        return bytes(self._raw.read(start, end))

    def table(self, block: Block, errors: str = "replace") -> Table:
        """Reads a small loop as strings, checking each row's field count.

        ``errors``: how bytes that are not UTF-8 are decoded (``"surrogateescape"``: as Python holds a file name, for a
        table of paths to open: a name as written, not U+FFFD).
        """
        text = self.read_bytes(block.rows_start, block.rows_end).decode("utf-8", errors=errors)
        labels = self._loop_labels(block)
        rows: list[list[str]] = []
        lines: list[str] = []
        for k, line in enumerate(star_lines(text)):
            stripped = line.strip()
            if not stripped or stripped[0] in "#;":
                continue
            # Without quotes the fields are the whitespace-separated words (a list of
            # thousands of micrographs is read at each run).
            plain = line.isascii() and '"' not in line and "'" not in line
            fields = line.split() if plain else [f for _, _, f in split_fields(line)]
            if len(fields) != len(labels):
                raise InputFileError(
                    f"{self.path}: line {block.first_row_line + k}: row has {len(fields)} fields, "
                    f"expected {len(labels)} (one per column label)"
                )
            rows.append(fields)
            lines.append(line)
        return Table(list(labels), rows, lines)

    def numeric_labels(self, block: Block) -> list[str]:
        """Labels whose value in the first row is a number."""
        return [label for label, text in self.first_row(block).items() if is_number(text)]

    def first_row(self, block: Block) -> dict[str, str]:
        """The first row of a loop, each field's text (quotes kept) by label; empty without one."""
        labels = self._loop_labels(block)
        head = self.read_bytes(block.rows_start, min(block.rows_end, block.rows_start + 65536))
        for line in star_lines(head.decode("utf-8", errors="replace")):
            fields = [f for _, _, f in split_fields(line)]
            if fields and fields[0][0] not in "#;" and len(fields) == len(labels):
                return dict(zip(labels, fields))
        return {}

    def scan(
        self, block: Block, number_labels: list[str], key_label: str | None
    ) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
        """Scans every row of a loop in parallel.

        Returns
        -------
        numbers : dict of label -> float64 array
        keys : uint32 array, the id of each row's ``key_label`` value (empty without one)
        key_names : list of str, the distinct ``key_label`` values by id (a quoted one: the text inside)
        """
        cols = [self._column_index(block, lab) for lab in number_labels]
        key_col = self._column_index(block, key_label) if key_label else None
        scanned = self._raw.scan(block.index, cols, key_col)
        self.comment_lines[block.index] = scanned.comment_lines
        return dict(zip(number_labels, scanned.numbers)), scanned.keys, scanned.key_names

    def scan_particles(
        self,
        block: Block,
        key: str,
        coords: Sequence[str],
        origins: Sequence[str | None],
        origin_pixels: tuple[str, str] | None,
        psizes: _core.PixelSizes,
        score: str | None,
        split: _core.SplitRule | None = None,
        extra: Sequence[str] = (),
        image: str | None = None,
    ) -> _core.ParticleScan:
        """Scans a particle loop for the particle job, one window of the file at a time.

        Keeps per row only the centre in Å, the score and the micrograph id (the file's
        pages are released as the scan passes them). ``psizes`` says where each row's
        micrograph pixel size comes from; the ``extra`` columns are kept whole, read in the
        same pass (the result's ``extra``, in their order); the ``image`` column (image
        names, ``index@stack``) gives the runs of rows of one stack (``image_runs``) and the
        index in its stack of each row of a run whose indices are not consecutive (the
        result's ``image_indices``; a run of Extract's ``000001@s, 000002@s ...`` lists none).

        ``split`` also decides each micrograph once its rows end and appends its rows to the
        kept or rejected file (they hold their header already): the result's ``keep`` is
        the decision, or None with ``split_note`` saying why the split was given up (rows
        of a micrograph apart, a centre that is not finite); the files are then incomplete.
        With ``keep``, the last rows may still be being written: :meth:`finish_split` waits.
        """
        col = self._column_index
        columns = _core.ParticleColumns(
            key=col(block, key),
            coords=[col(block, c) for c in coords],
            origins=[None if o is None else col(block, o) for o in origins],
            origin_pixels=None
            if origin_pixels is None
            else (col(block, origin_pixels[0]), col(block, origin_pixels[1])),
            score=None if score is None else col(block, score),
            extra=[col(block, label) for label in extra],
            image=None if image is None else col(block, image),
        )
        scanned = self._raw.scan_particles(block.index, columns, psizes, split)
        self.comment_lines[block.index] = scanned.comment_lines
        return scanned

    def finish_split(self) -> None:
        """Waits until the split of :meth:`scan_particles` has written its rows (raises its write error).

        The scan returns while its writer copies the last rows: the job checks and counts the
        rows meanwhile (on two cores, the writer alone otherwise left one idle).
        """
        self._raw.finish_split()

    def split_rows(self, block: Block, keep: np.ndarray, kept_path: StrPath, rejected_path: StrPath) -> None:
        """Writes the file twice, with only the kept and only the other rows of ``block``.

        ``block`` was scanned before; everything outside its rows is copied unchanged.
        """
        head = self.read_bytes(0, block.rows_start)
        tail = self.read_bytes(block.rows_end, self.size)
        for path in (kept_path, rejected_path):
            Path(path).write_bytes(head)
        self.append_split(block, keep, kept_path, rejected_path)
        for path in (kept_path, rejected_path):
            with open(path, "ab") as f:
                f.write(tail)

    def append_split(
        self,
        block: Block,
        keep: np.ndarray,
        kept_path: StrPath,
        rejected_path: StrPath,
        rewrite: tuple[str, Mapping[str, str]] | None = None,
        columns: Sequence[str] | None = None,
        values: tuple[str, np.ndarray, Sequence[str]] | None = None,
    ) -> None:
        """Appends the rows of a scanned loop to two files, byte for byte.

        Kept rows go to ``kept_path``, the rest to ``rejected_path``; the rows are read
        again, one window at a time, so ``keep`` must have one entry per row. ``rewrite`` = (label,
        {old text: new text}) changes one field of the rows that hold an old text. ``columns``
        (labels of the block) writes only those fields, in that order, each field's text unchanged.
        ``values`` = (label, choice, texts) sets one field row by row: row i's text becomes
        ``texts[choice[i] - 1]``, and stays as it is where ``choice[i]`` is 0.
        """
        rw = None if rewrite is None else (self._column_index(block, rewrite[0]), dict(rewrite[1]))
        cols = None if columns is None else [self._column_index(block, label) for label in columns]
        vals = None
        if values is not None:
            label, choice, texts = values
            vals = _core.ColumnValues(
                self._column_index(block, label), np.ascontiguousarray(choice, dtype=np.uint8), list(texts)
            )
        keep = np.ascontiguousarray(keep, dtype=bool)
        self._raw.append_split(block.index, keep, str(kept_path), str(rejected_path), rw, cols, vals)

    def _loop_labels(self, block: Block) -> list[str]:
        """The labels of ``block``'s loop; a block of ``key value`` pairs has none to read."""
        if block.labels is None:
            raise InputFileError(f"{self.path}: line {block.line}: data_{block.name} holds no loop, expected one")
        return block.labels

    def _column_index(self, block: Block, label: str) -> int:
        """The position of ``label`` in ``block``'s loop, which must have it."""
        if block.labels is None or label not in block.labels:
            raise InputFileError(f"{self.path}: line {block.line}: data_{block.name} has no column {label}")
        return block.labels.index(label)
