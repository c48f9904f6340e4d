"""RELION particle STAR outputs: the kept and the rejected rows as byte copies of the input rows.

Several inputs are written as one kept and one rejected file under the first input's header;
their optics groups are merged (clashing numbers renumbered, docs/concepts/files.md). Inputs
whose columns or optics tables differ are written each to files of its own under its own
header instead, so that no row loses a column (issue 64). The rows are written after the
decision (:class:`StarWriter`), or while the core scans them when the job gives its rule
before the scan (:class:`Split`, the one-pass route).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

import cryodedup._core as _core

from ...algo.dedup import DuplicateRule
from ...errors import CryodedupError
from ...outputs import AtomicOutputs, scratch_files, write_error
from ...particle_set import StarFacts
from ...paths import StrPath
from .file import StarFile, split_fields, unquote
from .particle_table import HALF_TEXTS, RANDOM_SUBSET, RELION_TUBE, Merged, ParticleStar

__all__ = [
    "Apart",
    "AskOnePass",
    "OnePass",
    "Split",
    "StarWriter",
    "renumbered_optics_groups",
    "start_split",
    "write_headers",
]

KEPT_NAME = "particles_kept.star"
REJECTED_NAME = "particles_rejected.star"


@dataclass
class _Merge:
    """The header of the merged output and the optics-group renumbering of each input."""

    prefix: bytes
    suffix: bytes
    rewrites: list[dict[str, str] | None]
    #: Each input's optics groups given another number: {old: new}.
    renumbered: list[dict[int, int]]


def _replace_fields(line: str, replacements: dict[int, str]) -> str:
    spans = split_fields(line)
    for j in sorted(replacements, reverse=True):
        start, end, _ = spans[j]
        line = line[:start] + replacements[j] + line[end:]
    return line


def _particle_header(part: ParticleStar, labels: list[str]) -> bytes:
    """The particle block of ``part`` from its ``data_`` line to its first row.

    Only ``labels`` (a subset of its own, in its order) are listed, renumbered ``#1``..``#k``.
    """
    header = part.star.read_bytes(part.block.start, part.block.rows_start)
    if labels == part.labels:
        return header
    wanted, lines, k = set(labels), [], 0
    for line in header.decode("utf-8", errors="surrogateescape").splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("_"):  # in a loop's header, every _ line is a label
            if stripped.split()[0][1:] not in wanted:
                continue
            k += 1
            line = re.sub(r"#\d+", f"#{k}", line, count=1)
        lines.append(line)
    return "".join(lines).encode("utf-8", errors="surrogateescape")


def _header(part: ParticleStar, labels: list[str]) -> bytes:
    """The output of one input up to its first particle row: its blocks before the particles, as they are."""
    return part.star.read_bytes(0, part.block.start) + _particle_header(part, labels)


def _merge_optics(parts: list[ParticleStar], labels: list[str]) -> _Merge:
    """The merged output's header and footer.

    The header holds the optics groups of all inputs in one table, and the particle loop
    listing ``labels``. An optics group identical in every value but its number maps onto
    the existing one; a different group gets its own number (its old one if free) and, if
    its name is taken, a new name. Only clashing numbers are rewritten. Optics columns in
    another order are matched by name.
    """
    base = parts[0]
    suffix = base.star.read_bytes(base.block.rows_end, base.star.size)
    if base.optics is None or len(parts) == 1:
        return _Merge(_header(base, labels), suffix, [None] * len(parts), [{} for _ in parts])
    particle_header = _particle_header(base, labels)
    optics_labels = base.optics.labels
    g_col = optics_labels.index("rlnOpticsGroup")
    n_col = optics_labels.index("rlnOpticsGroupName") if "rlnOpticsGroupName" in optics_labels else None

    def identity(row: list[str]) -> tuple[str, ...]:
        return tuple(unquote(v) for j, v in enumerate(row) if j != g_col)

    known = {identity(row): int(row[g_col]) for row in base.optics.rows}
    names = {unquote(row[n_col]) for row in base.optics.rows} if n_col is not None else set()
    new_lines: list[str] = []
    rewrites: list[dict[str, str] | None] = [None]
    renumbered: list[dict[int, int]] = [{}]
    for part in parts[1:]:
        optics = part.optics
        assert optics is not None, "merged_columns let through inputs with and without data_optics"
        order = [optics.labels.index(lab) for lab in optics_labels]
        mapping: dict[int, int] = {}
        for row, line in zip(optics.rows, optics.lines):
            row = [row[j] for j in order]
            number = int(row[g_col])
            if identity(row) in known:
                mapping[number] = known[identity(row)]
                continue
            taken = set(known.values())
            new = number if number not in taken else max(taken) + 1
            replace = {g_col: str(new)}
            if n_col is not None and unquote(row[n_col]) in names:
                replace[n_col] = f"opticsGroup{new}"
            new_row = [replace.get(j, v) for j, v in enumerate(row)]
            known[identity(new_row)] = new
            names.add(unquote(new_row[n_col]) if n_col is not None else "")
            in_order = order == list(range(len(order)))
            new_lines.append(_replace_fields(line, replace) if in_order else " ".join(new_row))
            mapping[number] = new
        changed = {old: new for old, new in mapping.items() if old != new}
        if changed and part.columns.optics_group is None:
            raise CryodedupError(
                f"{part.where()}: optics group {next(iter(changed))} is renumbered {next(iter(changed.values()))} "
                f"to merge with {base.path}, but the particles have no rlnOpticsGroup column to follow it; "
                "add the column, or give the inputs distinct optics groups"
            )
        rewrites.append({k: str(new) for old, new in changed.items() for k in (str(old), f"{old:.6f}")} or None)
        renumbered.append(changed)
    assert base.optics_block is not None, "ParticleStar sets optics and optics_block together"
    optics_end = base.optics_block.rows_end
    head = base.star.read_bytes(0, optics_end)
    newline = "\r\n" if head.endswith(b"\r\n") else "\n"
    if head and not head.endswith(b"\n"):
        head += newline.encode()
    added = "".join(line + newline for line in new_lines).encode()
    prefix = head + added + base.star.read_bytes(optics_end, base.block.start) + particle_header
    return _Merge(prefix, suffix, rewrites, renumbered)


def renumbered_optics_groups(parts: list[ParticleStar], labels: list[str]) -> list[dict]:
    """The summary's ``optics_groups_renumbered``: each input whose optics groups the merge renumbered.

    Its ``input`` and ``groups`` ({old number: new number}, the numbers as strings for JSON).
    """
    merge = _merge_optics(parts, labels)
    return [
        {"input": part.label, "groups": {str(old): new for old, new in changed.items()}}
        for part, changed in zip(parts, merge.renumbered)
        if changed
    ]


class StarWriter:
    """Writes kept and rejected rows of the particle STAR inputs as two files.

    Their rows are byte copies of the input rows (under the merged header). Inputs whose
    columns differ (``merged.own_files``) are written each to a kept and a rejected file of
    its own as well, under its own header; the combined files only where nothing is lost
    (``merged.combined``).
    """

    def __init__(
        self,
        parts: list[ParticleStar],
        labels: list[str],
        counts: list[int],
        outdir: Path,
        split: Split | None = None,
        names: tuple[str, str] = (KEPT_NAME, REJECTED_NAME),
        merged: Merged | None = None,
    ):
        self.parts, self.labels, self.counts = parts, labels, counts
        self.merged = merged if merged is not None else Merged(labels)
        self.kept_path, self.rejected_path = outdir / names[0], outdir / names[1]
        self.outputs = [self.kept_path, self.rejected_path]
        #: The rows already written while they were scanned, and the decision they follow.
        self.split = split
        #: Rows written apart as well: each group's kept and rejected rows to files of their own
        #: (several species, docs/design.md section 13; datasets that share names, section 2).
        self.apart: Apart | None = None

    @property
    def combines_inputs(self) -> bool:
        """Whether one output file holds several inputs' rows (``--transform`` then refused: two frames in one)."""
        return self.merged.combined

    def header_and_footer(self) -> tuple[bytes, bytes]:
        """What the outputs hold before their rows (the merged header) and after them."""
        self._refuse_without_combined()
        merge = _merge_optics(self.parts, self.labels)
        return merge.prefix, merge.suffix

    def write_into(self, keep: np.ndarray, targets: dict[Path, Path]) -> None:
        """Writes kept and rejected rows to ``targets[output]``, the temporary names of a caller's outputs."""
        self._refuse_without_combined()
        self._write(keep, targets[self.kept_path], targets[self.rejected_path], None)

    def _refuse_without_combined(self) -> None:
        """Refuses to place one kept file where the inputs' columns differ (``--update``: one running file)."""
        if not self.merged.combined:
            raise CryodedupError(
                f"{self.parts[0].label} and {self.parts[1].label} have different particle columns, so their rows "
                "are written to files of their own, and --update keeps one running file: give them as batches "
                "of their own"
            )

    def write(self, keep: np.ndarray, force: bool, halves: np.ndarray | None = None) -> dict[str, list[Path]]:
        """Writes the rows where ``keep`` is True to the kept file and the others to the rejected file.

        ``halves`` (0 or 1 per row), where given, sets the kept rows' rlnRandomSubset (1 or 2).
        Each input's own files (``merged.own_files``) follow the combined ones.
        """
        combined = [self.kept_path, self.rejected_path] if self.merged.combined else []
        by_group = self._apart_paths() if self.merged.combined else {}
        own = self._own_paths()
        paths = [*combined, *(p for pair in by_group.values() for p in pair), *(p for pair in own for p in pair)]
        _refuse_twice(paths)
        with AtomicOutputs(paths, force=force, inputs=[p.path for p in self.parts]) as tmp:
            split = self.split
            if combined and split is not None and halves is None and keep is split.keep:
                self._finish_split(split, tmp)
            elif combined:
                self._write(keep, tmp[self.kept_path], tmp[self.rejected_path], halves)
            for g, (kept, rejected) in by_group.items():  # (the other rows go nowhere: os.devnull)
                assert self.apart is not None
                mine = self.apart.rows == g
                dataset = self._own_writer(g)
                if dataset is not None:  # a dataset's inputs alone: their headers and optics groups as read
                    dataset._write(keep[mine], tmp[kept], os.devnull, None if halves is None else halves[mine])
                    dataset._write(~keep[mine], tmp[rejected], os.devnull, None)
                    continue
                self._write(keep & mine, tmp[kept], os.devnull, halves)
                self._write(~keep & mine, tmp[rejected], os.devnull, None)  # (rejected rows keep their half)
            self._write_own(own, keep, halves, tmp)
        return {
            "kept": [*combined[:1], *(pair[0] for pair in by_group.values()), *(pair[0] for pair in own)],
            "rejected": [*combined[1:], *(pair[1] for pair in by_group.values()), *(pair[1] for pair in own)],
        }

    def move_rows(self, rows: np.ndarray, shift_A: np.ndarray, psize: np.ndarray) -> str:
        """As :class:`~cryodedup.particle_set.MovingSubsetWriter` says: each input's coordinate columns, moved."""
        bounds = np.cumsum([0, *self.counts])
        for part, lo, hi in zip(self.parts, bounds[:-1], bounds[1:]):
            inside = (rows >= lo) & (rows < hi)
            if not inside.any():
                continue
            if part.rewritten is not None:
                raise CryodedupError(
                    f"--transform {part.label}: its rows are carried into the centred frame of the others already; "
                    "convert its coordinates first, or move another input"
                )
            unit = np.ones((int(inside.sum()), 1)) if part.columns.coords_in_angstrom else psize[inside][:, None]
            axes = len(part.columns.coords)
            by = np.zeros((hi - lo, axes))
            by[rows[inside] - lo] = (shift_A[inside] / unit)[:, :axes]
            part.moved_by = by
        return "its rows written with the moved coordinates, every other field as read"

    def apart_outputs(self) -> list[Path]:
        """The kept file of each group written apart (none without groups)."""
        return [kept for kept, _ in self._apart_paths().values()]

    def _own_writer(self, group: int) -> StarWriter | None:
        """A writer of the inputs of dataset ``group`` alone, their optics groups as read (None: species).

        Datasets are whole inputs: each dataset's files are written as if its inputs had been
        run alone, under its first input's header (two datasets' optics groups are not one
        table, and a group keeps its number and name). Where a dataset's first input is one
        carried into the other's frame and another is not, its rows go the combined way.
        """
        assert self.apart is not None
        if self.apart.kind != "datasets" or self.apart.inputs is None:
            return None
        members = [k for k, g in enumerate(self.apart.inputs) if g == group]
        parts = [self.parts[k] for k in members]
        if parts[0].rewritten is not None and any(p.rewritten is None for p in parts):
            return None
        return self._alone(members)

    def _alone(self, members: list[int]) -> StarWriter:
        """A writer of the inputs ``members`` (positions) alone, under the first's header, as if run alone."""
        parts = [self.parts[k] for k in members]
        coords = parts[0].columns.coords

        def kept(label: str) -> bool:  # (a part carried into the first's frame is written in its coordinates)
            return all(label in p.labels or (p.rewritten is not None and label in coords) for p in parts)

        labels = [label for label in parts[0].labels if kept(label)]
        return StarWriter(parts, labels, [self.counts[k] for k in members], self.kept_path.parent)

    def _own_paths(self) -> list[tuple[Path, Path]]:
        """Each input's own kept and rejected file (``particles_kept_job077-particles.star``); none without them.

        Named by the input's label (its shortest distinct path) without ``.star``; with
        several species, each species of an input has its own pair (``..._ribosome.star``).
        """
        if not self.merged.own_files:
            return []
        pairs = []
        for part, species in self._own_units():
            name = _input_file_part(part.label)
            if species is not None:
                name += f"_{species_file_part(species)}"
            pairs.append((self._named(self.kept_path, name), self._named(self.rejected_path, name)))
        return pairs

    def _own_units(self) -> list[tuple[ParticleStar, str | None]]:
        """The inputs written to files of their own, each with a species where species are written apart."""
        apart = self.apart if self.apart is not None and self.apart.kind == "species" else None
        if apart is None or len(apart.names) < 2:
            return [(part, None) for part in self.parts]
        bounds = np.cumsum([0, *self.counts])
        return [
            (part, name)
            for part, lo, hi in zip(self.parts, bounds[:-1], bounds[1:])
            for g, name in enumerate(apart.names)
            if (apart.rows[lo:hi] == g).any()
        ]

    def _write_own(
        self, own: list[tuple[Path, Path]], keep: np.ndarray, halves: np.ndarray | None, tmp: dict[Path, Path]
    ) -> None:
        """Each input's (and species') kept and rejected rows under the input's own header, as one input's are."""
        if not own:
            return
        bounds = np.cumsum([0, *self.counts])
        position = {id(part): k for k, part in enumerate(self.parts)}
        apart = self.apart if self.apart is not None and self.apart.kind == "species" else None
        for (part, species), (kept, rejected) in zip(self._own_units(), own):
            k = position[id(part)]
            rows = slice(bounds[k], bounds[k + 1])
            mine = np.ones(self.counts[k], dtype=bool)
            if species is not None and apart is not None:
                mine = apart.rows[rows] == apart.names.index(species)
            alone = self._alone([k])
            own_halves = halves[rows] if halves is not None and RANDOM_SUBSET in part.labels else None
            alone._write(keep[rows] & mine, tmp[kept], os.devnull, own_halves)
            alone._write(~keep[rows] & mine, tmp[rejected], os.devnull, None)

    @staticmethod
    def _named(path: Path, name: str) -> Path:
        return path.with_name(f"{path.stem}_{name}{path.suffix}")

    def _apart_paths(self) -> dict[int, tuple[Path, Path]]:
        """Each group's kept and rejected file (``particles_kept_ribosome.star``), with several groups."""
        if self.apart is None or len(self.apart.names) < 2:
            return {}
        names = [species_file_part(name) for name in self.apart.names]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            clashing = ", ".join(n for n, f in zip(self.apart.names, names) if f == twice[0])
            raise CryodedupError(
                f"{self.apart.kind} {clashing} would share the "
                f"output files *_{twice[0]}.star (a file name takes letters, digits and . + - only): name them apart"
            )

        return {s: (self._named(self.kept_path, n), self._named(self.rejected_path, n)) for s, n in enumerate(names)}

    def _finish_split(self, split: Split, tmp: dict[Path, Path]) -> None:
        """Ends the files the scan wrote (what follows the rows) and makes them the outputs."""
        split.finish()
        suffix = _merge_optics(self.parts, self.labels).suffix
        for path, scratch in split.files.items():
            with open(scratch, "ab") as f:
                f.write(suffix)
            os.replace(scratch, tmp[path])

    def _write(self, keep: np.ndarray, kept: StrPath, rejected: StrPath, halves: np.ndarray | None) -> None:
        """The rows where ``keep`` is True written to the file ``kept``, the others to ``rejected``."""
        merge = _merge_optics(self.parts, self.labels)
        bounds = np.cumsum([0, *self.counts])
        # Text k - 1 for choice k; 0 leaves a row's text (rejected rows keep their half-set).
        choice = None if halves is None else np.where(keep, np.asarray(halves) + 1, 0).astype(np.uint8)
        for path in (kept, rejected):
            Path(path).write_bytes(merge.prefix)
        for part, lo, hi, rewrite in zip(self.parts, bounds[:-1], bounds[1:], merge.rewrites):
            group = part.columns.optics_group  # never None with a rewrite: _merge_optics checks
            rw = (group, rewrite) if rewrite and group else None  # (a names-only part: one input, no rewrite)
            columns = None if part.labels == self.labels else self.labels  # rows in order already: byte copies
            values = None if choice is None else (RANDOM_SUBSET, choice[lo:hi], HALF_TEXTS)
            # (a writer of columns the input has, its own file's: its rows as read)
            if part.rewritten is not None and not set(self.labels) <= set(part.labels):
                _append_rewritten(part, self.labels, keep[lo:hi], Path(kept), Path(rejected))
                continue
            if part.moved_by is not None:  # (--transform: its coordinates written moved, as compared)
                _append_moved(part, self.labels, keep[lo:hi], (kept, rejected), rw, values)
                continue
            part.star.append_split(part.block, keep[lo:hi], kept, rejected, rw, columns, values)
        for path in (kept, rejected):
            with open(path, "ab") as f:
                f.write(merge.suffix)


def _append_rewritten(part: ParticleStar, labels: list[str], keep: np.ndarray, kept: Path, rejected: Path) -> None:
    """Appends the rows of an input carried into another frame, its coordinates rewritten.

    ``labels`` are the merged output's: the columns ``part`` lacks are the first input's
    coordinates, written from ``part.rewritten`` (Å, by axis); the others are copied as text.
    """
    assert part.rewritten is not None
    table = part.star.table(part.block)
    own = {label: j for j, label in enumerate(part.labels)}
    axis = {
        label: "XYZ".index(label[-6] if label.endswith("Angst") else label[-1]) for label in labels if label not in own
    }
    lines: dict[bool, list[str]] = {True: [], False: []}
    for line, row, values, keep_row in zip(table.lines, table.rows, part.rewritten, keep):
        fields = [
            (own[label], row[own[label]]) if label in own else (None, f"{values[axis[label]]:.6f}") for label in labels
        ]
        lines[bool(keep_row)].append(_row_text(line, fields))
    for path, keep_rows in ((kept, True), (rejected, False)):
        with open(path, "ab") as f:
            f.write("".join(lines[keep_rows]).encode())


def _input_file_part(label: str) -> str:
    """An input's label as a part of a file name: ``Refine3D/job020/run_data.star`` -> ``Refine3D-job020-run_data``."""
    return re.sub(r"[^A-Za-z0-9._+-]", "-", label.removesuffix(".star")).strip(".") or "-"


def _refuse_twice(paths: list[Path]) -> None:
    """Refuses outputs of which two would be one file (two inputs' names alike once made a file name's part)."""
    seen: set[Path] = set()
    for path in paths:
        if path in seen:
            raise CryodedupError(
                f"two outputs would be {path.name} (inputs or species named alike once made part of a file name): "
                "rename the inputs apart"
            )
        seen.add(path)


def _append_moved(
    part: ParticleStar,
    labels: list[str],
    keep: np.ndarray,
    paths: tuple[StrPath, StrPath],
    rewrite: tuple[str, dict[str, str]] | None,
    values: tuple[str, np.ndarray, Sequence[str]] | None,
) -> None:
    """Appends an input's rows with its coordinate columns moved by ``part.moved_by`` (its own units, by axis).

    Every other field is its text as read (the optics group renumbered and the half-set set as
    ``append_split`` would), in the order of the merged ``labels``.
    """
    assert part.moved_by is not None
    table = part.star.table(part.block)
    own = {label: j for j, label in enumerate(part.labels)}
    moved = [(own[label], axis) for axis, label in enumerate(part.columns.coords)]
    group = None if rewrite is None else (own[rewrite[0]], rewrite[1])
    half = None if values is None else (own[values[0]], values[1], values[2])
    order = [own[label] for label in labels]
    lines: dict[bool, list[str]] = {True: [], False: []}
    for i, (line, row, keep_row) in enumerate(zip(table.lines, table.rows, keep)):
        fields = list(row)
        for j, axis in moved:
            fields[j] = f"{float(row[j]) + part.moved_by[i, axis]:.6f}"
        if group is not None:
            fields[group[0]] = group[1].get(row[group[0]], row[group[0]])
        if half is not None and half[1][i]:
            fields[half[0]] = half[2][half[1][i] - 1]
        lines[bool(keep_row)].append(_row_text(line, [(j, fields[j]) for j in order]))
    for path, keep_rows in zip(paths, (True, False)):
        with open(path, "ab") as f:
            f.write("".join(lines[keep_rows]).encode())


class Apart(NamedTuple):
    """Rows a STAR writer writes apart as well: each row's group, the groups' names, and what they are."""

    rows: np.ndarray
    names: list[str]
    kind: str  # "species" or "datasets", as the errors name them
    #: Each input's group, where groups are whole inputs (datasets): each group written as its inputs alone.
    inputs: list[int] | None = None


def species_file_part(name: str) -> str:
    """A species' name as a part of a file name: letters, digits and ``. + -`` kept, any other character ``-``."""
    return re.sub(r"[^A-Za-z0-9.+-]", "-", name).strip(".") or "-"


@dataclass
class Split:
    """Output files written while the particle rows were scanned (docs/design.md section 5).

    ``files`` maps each output to its scratch file: the header, then the rows; ``rule`` is
    how the scan decides (min_dist, higher_is_better, remove_entirely, seed); ``keep`` is
    the decision the rows follow (None until the scan has made it).
    """

    files: dict[Path, Path]
    rule: _core.DedupRule
    keep: np.ndarray | None = None
    #: Whether the scan keeps each rejected row's partner (:class:`OnePass`), and, once scanned, the partners.
    partners: bool = False
    suppressed_by: np.ndarray | None = None
    #: What ``--plot`` asks the scan to count (:class:`OnePass`), and, once scanned, the counts.
    pictures: _core.NearestHistogram | None = None
    page: _core.PageFilesPlan | None = None
    #: The scratch folder the scan writes the page's files of picks into as it makes them (None: held until the end).
    page_folder: Path | None = None
    counted: _core.ScanPictures | None = None
    #: The input whose scan may still be writing its last rows: :meth:`finish` waits for them.
    source: StarFile | None = None
    #: The scratch file the scan writes the record of every rejection to (:class:`OnePass`'s ``record``), or None.
    record: Path | None = None
    #: The input's name in the record's rows, as the file system holds it (a name not UTF-8 too).
    input: bytes = b""
    #: ``--overrides``: the forced rows the scan decides with the others (:class:`OnePass`), and, once scanned,
    #: the rows the file decided (forced, or rejected by a forced keep).
    forced: tuple[tuple[int, bool], ...] = ()
    overridden: np.ndarray | None = None

    def finish(self) -> None:
        """Waits until the scan has written every row: the files are whole from then on."""
        source, self.source = self.source, None
        if source is None:
            return
        try:
            source.finish_split()
        except OSError as err:
            raise write_error(err, self.files) from None

    def finished_record(self) -> Path:
        """The record the scan wrote, once it has written every row (asked only where the scan decided)."""
        assert self.record is not None and self.keep is not None, "a record written by a scan that decided"
        self.finish()
        return self.record

    def scan_arguments(self) -> _core.SplitRule:
        """The ``split`` argument of :meth:`StarFile.scan_particles`."""
        scratch = {output.name: path for output, path in self.files.items()}
        kept, rejected = scratch[KEPT_NAME], scratch[REJECTED_NAME]
        return _core.SplitRule(
            self.rule,
            kept=kept,
            rejected=rejected,
            partners=self.partners,
            pictures=self.pictures,
            page=self.page,
            page_folder=self.page_folder,
            record=self.record,
            input=self.input,
            forced=list(self.forced),
        )


@dataclass(frozen=True)
class OnePass:
    """The job's answer to a reader that can decide while it scans: the rule, and whether to keep the partners.

    ``partners``: each rejected row's partner (the kept row that suppressed it) kept by the
    scan, 8 bytes a row (``--plot``'s page); a plain run asks none. ``record``: the file name
    of the record of every rejection (``--decisions``), written by the core beside the
    outputs as it scans (only the rejected rows' partners held, batch by batch); None: none.
    """

    rule: DuplicateRule
    partners: bool = False
    record: str | None = None
    #: ``--plot``: the nearest-neighbour histogram the scan counts batch by batch (each
    #: micrograph's picks and kept picks counted too).
    pictures: _core.NearestHistogram | None = None
    #: ``--plot``: the page's files of picks, made by the scan as it decides.
    page: _core.PageFilesPlan | None = None
    #: ``--plot``: the page's folder in the outputs, beside which the scan writes those files as it makes them.
    page_folder: str | None = None
    #: ``--overrides``: the rows the user forced (rows of the one input from 0, increasing) and whether each is
    #: kept: the scan decides them with the others (not with ``page``).
    forced: tuple[tuple[int, bool], ...] = ()


#: The job's one-pass decision, asked by the STAR reader with the facts of its inputs: the rule
#: to decide by while it scans and whether to keep the partners (the job's own,
#: ``jobs/particles/decide.one_pass``), or None.
AskOnePass = Callable[[StarFacts], "OnePass | None"]


def start_split(
    parts: list[ParticleStar], labels: list[str], ask: AskOnePass | None, higher: bool, outdir: Path
) -> Split | None:
    """Scratch outputs, their headers written, for a scan that decides and writes as it goes.

    Only where the job, told what the inputs' headers say (:class:`StarFacts`), gives the
    rule (``ask``). None otherwise.
    """
    facts = StarFacts(
        inputs=len(parts),
        halfsets=any(RANDOM_SUBSET in part.labels for part in parts),
        filaments=any(RELION_TUBE in part.labels for part in parts),
        subtomograms=any(part.columns.subtomogram_angles for part in parts),
        names=tuple(str(part.path) for part in parts),
    )
    asked = ask(facts) if ask is not None else None
    if asked is None:
        return None
    part = parts[0]
    files = scratch_files([outdir / KEPT_NAME, outdir / REJECTED_NAME])
    if files is None:
        return None
    write_headers(files, part, labels)
    rule = asked.rule.for_core(higher)
    split = Split(files, rule, partners=asked.partners, pictures=asked.pictures, page=asked.page, forced=asked.forced)
    if asked.page is not None and asked.page_folder is not None:
        split.page_folder = _scratch_folder(outdir / asked.page_folder)
    record = scratch_files([outdir / asked.record]) if asked.record is not None else None
    if record is not None:
        split.record, split.input = next(iter(record.values())), os.fsencode(part.path)
        try:
            split.record.write_bytes(b"")  # (the scan appends to it)
        except OSError as err:
            raise write_error(err, record) from None
    return split


def _scratch_folder(folder: Path) -> Path | None:
    """A scratch folder beside the output ``folder``, made (the batch removes it), or None outside a batch.

    The page's files of picks are written there as the scan makes them: none held until the
    scan ends, none written after it; the page moves them to their paths in the outputs.
    """
    scratch = scratch_files([folder])
    if scratch is None:
        return None
    made = next(iter(scratch.values()))
    try:
        made.mkdir(exist_ok=True)
    except OSError as err:
        raise write_error(err, scratch) from None
    return made


def write_headers(files: dict[Path, Path], part: ParticleStar, labels: list[str]) -> None:
    """Each scratch output of a split holding the header alone (what a scan appends its rows to)."""
    header = _header(part, labels)
    try:
        for scratch in files.values():
            Path(scratch).write_bytes(header)
    except OSError as err:
        raise write_error(err, files) from None


def _row_text(line: str, fields: Sequence[tuple[int | None, str]]) -> str:
    """A row written as ``append_split`` writes the rows it copies: each field after its white space as read.

    ``fields``: the written row's (input column, text); input column k's text follows the white
    space before it in ``line``, a field the input lacks (None) a space; the line's end as read.
    """
    spans = split_fields(line)
    ends = [0, *(end for _, end, _ in spans)]
    written = []
    for j, (k, text) in enumerate(fields):
        space = "" if k is None else line[ends[k] : spans[k][0]]
        written.append((space if space or j == 0 else " ") + text)
    return "".join(written) + line[ends[-1] :] + "\n"
