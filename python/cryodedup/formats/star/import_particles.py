"""RELION 5 import lists as the particle job's inputs: read into one ParticleSet, kept picks written back as lists.

An import list (``rlnTomoName``, ``rlnTomoImportParticleFile``) names one coordinate file per
tomogram (:mod:`.import_lists` reads them as RELION 5's import does). Each list is one input;
its picks are put in Å as the other RELION 5 tomography inputs are (docs/developers/decisions/tomography.md):
Å from the tomogram's centre as they are, tilt-series pixels from the corner times
``rlnTomoTiltSeriesPixelSize`` of ``--micrographs`` tomograms.star (or ``--mic-psize``). Lists
in the two frames are put in the centred one by the tomogram sizes of that file.
The writer writes the kept and the rejected picks as two lists RELION 5's import takes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from ...algo.priority import scores_without_none
from ...errors import CryodedupError, FramesError, InputFileError, printable
from ...labels import distinct_labels
from ...particle_set import KindsWriter, Log, ParticleSet, TiltSeriesPixel, TypedTomogramPixelSize, Warn
from ...paths import StrPath
from .import_lists import FRAMES, ImportList, read_import_list, write_import_list
from .particle_table import (
    ANGLES,
    Needs,
    ParticleStar,
    ParticleTable,
    check_angle_ranges,
    score_columns,
    shared_score_columns,
)
from .tomograms import CENTRED, CORNER, Tomograms, layout, tomograms_star
from .tomography import SUBTOMOGRAM_ANGLES, tomogram_poses

if TYPE_CHECKING:
    from ..read_request import RowRead, Scale, ScoreRead

__all__ = ["read_import_lists", "read_lists_and_particles"]

#: The outputs: each subset's list, beside the folder of its coordinate files.
KEPT_LIST, REJECTED_LIST = "kept_import_list.star", "rejected_import_list.star"
KEPT_FOLDER, REJECTED_FOLDER = "kept_coordinates", "rejected_coordinates"
#: The summary's entry of what the writer wrote and left out.
SUMMARY_KEY = "import_lists"
#: What the picks' orientations are read from (as RELION 5's ParticleSet composes them).
LIST_POSE = "rlnTomoSubtomogramRot/Tilt/Psi x rlnAngleRot/Tilt/Psi of the lists' files, the pose in the tomogram"
#: What RELION's import sets as the particle angles of a text file's pick of six numbers (readCoordinateFile).
TEXT_PARTICLE_ANGLES = (0.0, 90.0, 0.0)


@dataclass
class _ListColumns:
    """One list as :func:`score_column` looks at an input: its label, and the columns every pick has."""

    label: str
    labels: list[str]

    def where(self) -> str:
        return self.label

    def numeric_labels(self) -> list[str]:
        return self.labels


def read_import_lists(
    inputs: list[Path],
    outdir: StrPath,
    scale: Scale,
    score_read: ScoreRead,
    warn: Warn,
    log: Log,
    row_read: RowRead,
    centred_input: str | None = None,
) -> ParticleSet:
    """Reads RELION 5 import lists into one ParticleSet, each list one input.

    Its writer writes ``OUTDIR/kept_import_list.star`` with the kept picks' files in
    ``OUTDIR/kept_coordinates/``, and the rejected ones alike. ``centred_input``: another
    input, in RELION 5's centred Å, whose frame the lists' picks are put in. ``row_read``
    asking for orientations (``--max-angle``, ``--min-dist-ellipsoid``): each pick's pose
    read from its file's angles (:func:`_list_poses`).
    """
    project = scale.project_dir if scale.project_dir is not None else Path.cwd()
    lists = []
    for path in inputs:
        log(f"reading the RELION 5 import list {path}", "info")
        lists.append(
            read_import_list(
                path,
                centered=scale.import_centered,
                scale_factor=scale.import_scale,
                add_factor=scale.import_add,
                project_dir=project,
            )
        )
    _warn_unused_text_options(lists, scale, warn)
    tomograms = _tomograms(scale.micrographs)
    labels = distinct_labels(inputs)
    number = {name: k for k, name in enumerate(dict.fromkeys(name for picks in lists for name in picks.tomograms))}
    groups = np.concatenate([np.array([number[n] for n in p.tomograms], dtype=np.int64)[p.tomogram] for p in lists])
    centred_label = centred_input or next((lab for p, lab in zip(lists, labels) if p.frame == "centred-angstrom"), None)
    centred = centred_label is not None
    if centred_label is not None and any(p.frame == "corner-pixel" for p in lists):
        _check_sizes(centred_label, lists, labels, tomograms)
    centres, psize, pixel_sizes, layouts = [], [], [], []
    for picks, label in zip(lists, labels):
        in_angstrom, used, notes = _in_angstrom(picks, label, scale, tomograms, warn, into_centred=centred)
        centres.append(in_angstrom)
        psize.append(used)
        pixel_sizes.extend(_pixel_size_entries(picks, label, used, scale.mic_psize))
        layouts.append(_layout(picks, label, notes, scale))
    needs = Needs()
    # (score_column reads an input's label, labels, where() and numeric_labels() alone: a list gives those)
    tables = cast("list[ParticleTable]", [_columns(p, label) for p, label in zip(lists, labels)])
    score_label, higher, own = score_columns(tables, score_read, warn, needs)
    needs.check()
    if len({p.relion_columns() for p in lists}) > 1:
        warn(_apart_warning(lists, labels))
    counts = [len(p) for p in lists]
    summary: dict = {"layouts": layouts}
    return ParticleSet(
        inputs=[str(p) for p in inputs],
        input_of=np.repeat(np.arange(len(lists)), counts),
        mic_names=list(number),
        groups=groups,
        centres=np.concatenate(centres).reshape(-1, 3),
        psize=np.concatenate(psize),
        pixel_sizes=pixel_sizes,
        scores=_scores(lists, own) if score_label else None,
        score_label=score_label,
        higher_is_better=higher,
        scores_per_level=any(label != score_label for label in own),
        read_files=[*inputs, *(f.path for p in lists for f in p.files), *([tomograms.path] if tomograms else [])],
        writer=ImportListWriter(lists, Path(outdir), project, summary, labels, warn),
        summary=summary,
        **_poses(lists, labels, row_read, warn),
    )


def _poses(lists: list[ImportList], labels: list[str], row_read: RowRead, warn: Warn) -> dict:
    """The picks' poses in the tomograms as rotation vectors, where the job asks for orientations (else none)."""
    if not row_read.orientations:
        return {}
    poses = [_list_poses(picks, label, row_read, warn) for picks, label in zip(lists, labels)]
    return {"poses": np.concatenate(poses).reshape(-1, 3), "pose_kind": "rotvec", "pose_label": LIST_POSE}


def _list_poses(picks: ImportList, label: str, row_read: RowRead, warn: Warn) -> np.ndarray:
    """One list's poses (n, 3), as RELION 5 reads the particles its import writes.

    ``ParticleSet::getMatrix3x3`` composes the subtomogram matrix (``rlnTomoSubtomogramRot/
    Tilt/Psi``, an absent tilt or psi 0) with the particle's (``rlnAngleRot/Tilt/Psi``). A
    STAR file's columns are copied by the import as they are (pytom-match-pick writes the
    particle angles); a text file's six numbers become the subtomogram angles, and the
    particle angles 0, 90, 0 (``readCoordinateFile``).
    """
    n = len(picks)
    subtomo = None
    if SUBTOMOGRAM_ANGLES[0] in picks.columns:
        subtomo = np.stack(
            [picks.numbers(a) if a in picks.columns else np.zeros(n) for a in SUBTOMOGRAM_ANGLES], axis=1
        )
    if all(a in picks.columns for a in ANGLES):
        angles = np.stack([picks.numbers(a) for a in ANGLES], axis=1)
        check_angle_ranges(angles, ANGLES, str(picks.path), warn, row_read.insist_angles)
    elif subtomo is not None and picks.files[0].kind == "text":
        angles = np.tile(TEXT_PARTICLE_ANGLES, (n, 1))
    else:
        raise CryodedupError(
            f"{label}: --max-angle and --min-dist-ellipsoid need each pick's orientation, and its files give none "
            "(rlnAngleRot/Tilt/Psi in a STAR file, or x y z rot tilt psi on a text file's lines)"
        )
    if subtomo is not None:
        check_angle_ranges(subtomo, SUBTOMOGRAM_ANGLES, str(picks.path), warn, row_read.insist_angles)
    return tomogram_poses(angles, subtomo)


def _apart_warning(lists: list[ImportList], labels: list[str]) -> str:
    """Why each list's picks are written to a list of their own: RELION's import takes files of one set of columns."""
    first = next(k for k, p in enumerate(lists) if p.relion_columns() != lists[0].relion_columns())
    a, b = lists[0].relion_columns(), lists[first].relion_columns()
    differ = sorted(a ^ b)
    return (
        f"the files of {labels[0]} and {labels[first]} differ in columns ({', '.join(differ)}), and RELION's import "
        'refuses a list whose files do ("not the same columns"): each input\'s picks are written to lists of '
        f"their own, {_numbered(KEPT_LIST, 1)}, {_numbered(KEPT_LIST, 2)}... (and {_numbered(REJECTED_LIST, 1)}...), "
        "each imported by an Import job of its own"
    )


def _numbered(name: str, number: int) -> str:
    """The list of the ``number``-th input list: ``kept_import_list_2.star``."""
    stem, _, suffix = name.rpartition(".")
    return f"{stem}_{number}.{suffix}"


def _tomograms(micrographs: Path | None) -> Tomograms | None:
    """``--micrographs`` as RELION 5's tomograms STAR (None without it); any other file is refused."""
    if micrographs is None:
        return None
    tomograms = tomograms_star(micrographs)
    if tomograms is None:
        raise CryodedupError(
            f"--micrographs {micrographs}: expected RELION 5's tomograms STAR (rlnTomoName, "
            "rlnTomoTiltSeriesPixelSize) for an import list's tomograms"
        )
    return tomograms


def _check_sizes(centred: str, lists: list[ImportList], labels: list[str], tomograms: Tomograms | None) -> None:
    """Inputs in both frames need the tomogram sizes that put a list in pixels in the centred frame."""
    if tomograms is not None and tomograms.sizes:
        return
    corner = next(label for p, label in zip(lists, labels) if p.frame == "corner-pixel")
    given = f"{tomograms.path} gives no rlnTomoSizeX/Y/Z" if tomograms else "no tomograms STAR was given"
    raise FramesError(
        f"{centred} gives {FRAMES['centred-angstrom']} and {corner} {FRAMES['corner-pixel']}, and {given}: give "
        "RELION 5's tomograms.star with --micrographs (its tomogram sizes put both in one frame)"
    )


def _in_angstrom(
    picks: ImportList, label: str, scale: Scale, tomograms: Tomograms | None, warn: Warn, *, into_centred: bool
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The list's centres in Å, each pick's pixel size (1 for Å), and notes on what was done."""
    if picks.frame == "centred-angstrom":
        return picks.centres, np.ones(len(picks)), []
    names = picks.tomograms
    by_tomogram = np.array([_tilt_series_psize(label, name, scale, tomograms, warn) for name in names])
    psize = by_tomogram[picks.tomogram] if len(picks) else np.empty(0)
    _check_detector_pixel(picks, psize)
    centres = picks.centres * psize[:, None]
    if not into_centred:
        return centres, psize, []
    assert tomograms is not None, "checked by _check_sizes"
    # RELION's import keeps tilt-series pixels as they are; its C++ jobs then centre them on size / 2
    centres = centres - tomograms.centre_offsets(names, str(picks.path), picks_job=False)[picks.tomogram]
    note = f"carried into {CENTRED} by the tomogram sizes of the tomograms STAR (corner - size / 2, as RELION's C++)"
    return centres, psize, [note]


#: pytom-match-pick writes the tomogram's voxel size (Å) of the coordinates it gives, in voxels, in this column.
DETECTOR_PIXEL = "rlnDetectorPixelSize"
#: The smallest binning: a stated voxel this many times the tilt series' pixel (or a pixel this many times
#: smaller) is another unit, not the same pixel stated a little off (that is the pixel-size judge's to weigh).
BINNED = 2.0


def _check_detector_pixel(picks: ImportList, psize: np.ndarray) -> None:
    """Refuses picks whose file states a pixel (``rlnDetectorPixelSize``) other than the tilt series'.

    pytom-match-pick writes its candidates in voxels of the tomogram it searched (binned: 13.5 Å
    beside a tilt series' 1.35 Å) and that voxel as ``rlnDetectorPixelSize``. RELION's import
    reads a STAR file's coordinates as tilt-series pixels, as they are: such picks would land ten
    times nearer the corner, in RELION as here.
    """
    stated = picks.numbers(DETECTOR_PIXEL)
    with np.errstate(invalid="ignore"):
        off = np.isfinite(stated) & ((stated >= BINNED * psize) | (stated * BINNED <= psize))
    if not off.any():
        return
    k = int(np.flatnonzero(off)[0])
    file = picks.files[int(picks.file_of_pick[k])]
    ratio = stated[k] / psize[k]
    raise InputFileError(
        f"{file.path} (line {int(picks.line[k])}): {DETECTOR_PIXEL} {stated[k]:g} Å, though the tilt series of "
        f"tomogram {printable(file.tomogram)} has pixels of {psize[k]:g} Å ({int(off.sum()):,} such picks): its "
        f"coordinates are in voxels of {stated[k]:g} Å (pytom-match-pick's), which RELION's import reads as "
        f"tilt-series pixels; multiply them by {ratio:.4g} into tilt-series pixels, or have pytom-match-pick write "
        "RELION 5's centred Å (pytom_extract_candidates.py --relion5-compat)"
    )


def _tilt_series_psize(label: str, name: str, scale: Scale, tomograms: Tomograms | None, warn: Warn) -> float:
    """The tilt-series pixel of tomogram ``name``: ``--mic-psize``, else the tomograms STAR's; refused without.

    A ``--mic-psize`` is handed to the job's judge with the tomograms STAR's value (RELION 5's
    import reads the coordinates in it).
    """
    listed = tomograms.tilt_series_psize.get(name) if tomograms is not None else None
    given = scale.mic_psize
    if given is not None:
        if listed is not None and tomograms is not None:
            place = f"of tomogram {printable(name)} in {tomograms.path}"
            stated = TiltSeriesPixel(listed, place, "RELION 5's import takes")
            scale.judge_psize(TypedTomogramPixelSize(given, label, (stated,)), warn)
        return given
    if listed is not None:
        return listed
    if tomograms is not None:
        raise InputFileError(
            f"{label}: tomogram {printable(name)} is not in {tomograms.path}, whose rlnTomoTiltSeriesPixelSize "
            "gives the size of its coordinates' tilt-series pixels"
        )
    raise CryodedupError(
        f"{label} gives {FRAMES['corner-pixel']}: give RELION 5's tomograms.star with --micrographs "
        "(rlnTomoTiltSeriesPixelSize) or the tilt series' pixel size with --mic-psize"
    )


def _pixel_size_entries(picks: ImportList, label: str, psize: np.ndarray, given: float | None) -> list[dict]:
    """The summary's pixel sizes of one list: one entry per distinct tilt-series pixel (or none needed)."""
    if picks.frame == "centred-angstrom":
        return [{"input": label, "optics_group": "all", "psize": None, "source": "not needed: coordinates are in Å"}]
    source = "--mic-psize" if given is not None else "rlnTomoTiltSeriesPixelSize of --micrographs"
    return [
        {"input": label, "optics_group": "all", "psize": float(value), "source": source}
        for value in dict.fromkeys(psize.tolist())
    ]


def _warn_unused_text_options(lists: list[ImportList], scale: Scale, warn: Warn) -> None:
    """Warns of --import-scale/--import-add given for lists without a text file: RELION scales text files only."""
    given = [
        flag
        for flag, used in (("--import-scale", scale.import_scale != 1), ("--import-add", scale.import_add != 0))
        if used
    ]
    if given and not any(f.kind == "text" for picks in lists for f in picks.files):
        warn(
            f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} to text coordinate files, as "
            "RELION's import scales and shifts them; "
            "the lists name STAR files alone, whose coordinates are read as written (tilt-series pixels, "
            f"or centred Å): {'they change' if len(given) > 1 else 'it changes'} nothing"
        )


def _layout(picks: ImportList, label: str, notes: list[str], scale: Scale) -> dict:
    """How the list was read, as the summary's "Read as" row says it."""
    kinds = sorted({f.kind for f in picks.files})
    files = f"{len(picks.files):,} coordinate file{'s' if len(picks.files) != 1 else ''} ({', '.join(kinds)})"
    text = [f"{files}"]
    if "text" in kinds and (scale.import_scale != 1 or scale.import_add != 0):
        text.append(f"text files' x y z x {scale.import_scale:g} + {scale.import_add:g} (--import-scale, --import-add)")
    if picks.frame == "centred-angstrom":
        frame = f"{CENTRED}, rlnCenteredCoordinateX/Y/ZAngst"
    else:
        frame = f"tilt-series {CORNER}"
    return layout(label, "RELION 5 import list", frame, [*text, *notes])


def _columns(picks: ImportList, label: str) -> _ListColumns:
    """The columns every pick of the list has (a score must be one of them)."""
    whole = [name for name, values in picks.columns.items() if all(v is not None for v in values)]
    return _ListColumns(label, whole)


class ImportListWriter:
    """Writes the kept and the rejected picks of the lists as two RELION 5 import lists with their files."""

    def __init__(
        self,
        lists: list[ImportList],
        outdir: Path,
        project_dir: StrPath,
        summary: dict,
        labels: list[str],
        warn: Warn = lambda message: None,
    ) -> None:
        self.lists = lists
        #: Says a kept list that names no file (every pick of its inputs rejected).
        self.warn = warn
        self.labels = labels
        self.outdir = outdir
        self.project_dir = project_dir
        #: The set's summary, which :meth:`write` completes with what it wrote and left out.
        self.summary = summary
        #: Each input's picks in lists of their own (``--transform`` moved one: a list names files of one frame).
        self.apart = False

    @property
    def combines_inputs(self) -> bool:
        """Whether one list names several inputs' files (their columns alike); else each input has its own."""
        return len(self.lists) > 1 and not self.apart and len({p.relion_columns() for p in self.lists}) <= 1

    def move_rows(self, rows: np.ndarray, shift_A: np.ndarray, psize: np.ndarray) -> str:
        """``--transform`` moved an input: each input's picks then go to lists of their own, as read.

        A coordinate file is copied as read (its lines, not its numbers), so the moved input's
        files keep its frame: listed with the others' they would make one list of two frames.
        """
        self.apart = True
        if not len(rows):
            return "no pick of it written (it has none); each input's picks to lists of their own"
        k = int(np.searchsorted(np.cumsum([len(p) for p in self.lists]), rows[0], side="right"))
        return (
            f"its picks written as read, in its own frame, to lists of its own ({_numbered(KEPT_LIST, k + 1)}, "
            f"{_numbered(REJECTED_LIST, k + 1)})"
        )

    def write(self, keep: np.ndarray, force: bool, halves: np.ndarray | None = None) -> dict[str, list[Path]]:
        """Writes the picks where ``keep`` is True to the kept list and the others to the rejected list."""
        assert halves is None, "import lists carry no half-set column"
        ends = np.cumsum([len(p) for p in self.lists])
        masks = np.split(np.asarray(keep, dtype=bool), ends[:-1])
        outputs: dict[str, list[Path]] = {}
        written_lists: dict[str, dict] = {}
        for subset, name, folder, chosen in (
            ("kept", KEPT_LIST, KEPT_FOLDER, masks),
            ("rejected", REJECTED_LIST, REJECTED_FOLDER, [~m for m in masks]),
        ):
            written = write_import_list(
                list(zip(self.lists, chosen)),
                self.outdir,
                list_name=self._list_names(name),
                coordinates=folder,
                project_dir=self.project_dir,
                force=force,
            )
            outputs[subset] = [written.list_path, *written.files]
            if subset == "kept":
                self._warn_empty(written.lists, chosen)
            written_lists[subset] = {
                "list": str(written.list_path),
                "lists": [str(path) for path in written.lists],
                "files": len(written.files),
                "left_out": written.left_out,
            }
        self.summary[SUMMARY_KEY] = written_lists
        return outputs

    def _warn_empty(self, paths: list[Path], kept: list[np.ndarray]) -> None:
        """Says each kept list written empty: RELION's Import of it imports no particle, and a next job has none."""
        names = self._list_names(KEPT_LIST)
        per_list = [names] * len(self.lists) if isinstance(names, str) else names
        for path in paths:
            held = [k for k, name in enumerate(per_list) if self.outdir / name == path]
            if held and not any(kept[k].any() for k in held):
                inputs = ", ".join(self.labels[k] for k in held)
                self.warn(
                    f"{path}: every pick of {inputs} was rejected, so the kept list is written naming no "
                    "coordinate file: RELION's Import of it imports no particle; leave it out of the next job"
                )

    def _list_names(self, name: str) -> str | list[str]:
        """One list of every input's files where RELION's import takes them together; else one list per input.

        RELION's import appends each file's table to the first's and stops where the columns
        differ (MetaDataTable::append): the inputs' files are listed together only where all
        have the same columns (each input's own files do: checked when read).
        """
        if not self.apart and len({picks.relion_columns() for picks in self.lists}) <= 1:
            return name
        return [_numbered(name, k) for k in range(1, len(self.lists) + 1)]


#: What a particle file may carry per row that an import list's picks have not: mixed, such a run is refused.
_ROWS_LISTS_LACK = {
    "tubes": "filaments (a tube per segment)",
    "halfsets": "half-sets (--halfsets, --audit)",
    "sources": "symmetry-expanded copies",
    "species": "species from --species-column",
    "mic_uids": "micrograph ids",
}


def read_lists_and_particles(
    inputs: list[Path],
    is_list: list[bool],
    outdir: StrPath,
    scale: Scale,
    score_read: ScoreRead,
    row_read: RowRead,
    warn: Warn,
    log: Log,
) -> ParticleSet:
    """Import lists and RELION tomography particle files, read by their readers and joined as one set.

    The lists' picks are put in the particle files' frame: RELION 5's centred Å (a list in
    pixels carried there by the tomograms STAR's sizes), or Å from the corner when the particle
    files are in pixels (then a list in centred Å is refused: the particle rows cannot be
    rewritten). Rows stand input kind by input kind, in the order of each kind's first input.
    """
    from .particles import read_star_files

    lists = [p for p, listed in zip(inputs, is_list) if listed]
    files = [p for p, listed in zip(inputs, is_list) if not listed]
    particles = read_star_files(
        files, outdir, scale, score_read, row_read, warn, log
    )  # (decided after reading: no one pass)
    frames = [entry["frame"] for entry in particles.summary.get("layouts", [])]
    if not frames:
        raise CryodedupError(
            f"{files[0]} holds 2-D particles and {lists[0]} a RELION 5 import list of tomogram picks: "
            "deduplicate each on its own"
        )
    centred = next((str(f) for f, frame in zip(files, frames) if frame.startswith(CENTRED)), None)
    picks = read_import_lists(lists, outdir, scale, score_read, warn, log, row_read, centred_input=centred)
    if centred is None and any(entry["frame"].startswith(CENTRED) for entry in picks.summary["layouts"]):
        raise FramesError(
            f"{files[0]} is in {CORNER} and {lists[0]} in {CENTRED}: the particle file's rows cannot be rewritten "
            "in the list's frame; deduplicate each on its own"
        )
    for name, what in _ROWS_LISTS_LACK.items():
        if getattr(particles, name) is not None:
            raise InputFileError(
                f"{files[0]}: its {what} have no counterpart in the picks of import list {lists[0]}; "
                "deduplicate the particle files on their own"
            )
    if particles.scores is not None and particles.score_label != picks.score_label:
        shared = _shared_scores(files, picks)
        raise CryodedupError(
            f"{files[0]} is ranked by {particles.score_label} and {lists[0]} by {picks.score_label or 'no score'}: "
            + (
                f"give --score COLUMN with a column both have (of theirs: {', '.join(shared[:4])}), or --score none"
                if shared
                else "no column both have is a score: give --score none"
            )
        )
    if particles.images is not None and row_read.images:
        warn(f"--same-image: not checked when import lists are given too ({lists[0]}: its picks name no image)")
    first, second = (particles, picks) if is_list.index(False) < is_list.index(True) else (picks, particles)
    return _joined(first, second, inputs)


def _scores(lists: list[ImportList], own: list[str | None]) -> np.ndarray:
    """Each pick's score: its list's own column (RELION's -999: none), NaN in a list ranked by none."""
    return np.concatenate(
        [
            scores_without_none(p.numbers(label), label) if label else np.full(len(p), np.nan)
            for p, label in zip(lists, own)
        ]
    )


def _shared_scores(files: list[Path], picks: ParticleSet) -> list[str]:
    """The numeric columns every particle file and every list's picks have that may rank them (the advice's)."""
    lists = picks.writer.lists if isinstance(picks.writer, ImportListWriter) else []
    tables = [*(ParticleStar(path) for path in files), *(_columns(p, "") for p in lists)]
    return shared_score_columns(cast("list[ParticleTable]", tables))


def _joined(first: ParticleSet, second: ParticleSet, inputs: list[Path]) -> ParticleSet:
    """``first``'s rows, then ``second``'s, as one set; each input numbered as ``inputs`` give them."""
    position = {str(p): k for k, p in enumerate(inputs)}
    names = list(dict.fromkeys([*first.mic_names, *second.mic_names]))
    number = {name: k for k, name in enumerate(names)}
    second_groups = np.array([number[n] for n in second.mic_names], dtype=np.int64)[second.groups]
    input_of = np.concatenate(
        [np.array([position[name] for name in s.inputs], dtype=np.int64)[s.input_of] for s in (first, second)]
    )
    rows = np.arange(len(first) + len(second))
    summary = {**second.summary, **first.summary}
    # (each reader named its inputs among its own: named again among all, in the order of the inputs)
    read_as = {name: entry for s in (first, second) for name, entry in zip(s.inputs, s.summary["layouts"])}
    summary["layouts"] = [{**read_as[str(p)], "input": label} for p, label in zip(inputs, distinct_labels(inputs))]
    for part in (first, second):
        if isinstance(part.writer, ImportListWriter):
            part.writer.summary = summary  # (it names the lists it writes there)
    identities = [*(first.identities or [{}] * len(first.inputs)), *(second.identities or [{}] * len(second.inputs))]
    return replace(
        first,
        inputs=[str(p) for p in inputs],
        input_of=input_of,
        mic_names=names,
        groups=np.concatenate([first.groups.astype(np.int64), second_groups]),
        centres=np.concatenate([first.centres, second.centres]),
        psize=np.concatenate([np.asarray(first.psize), np.asarray(second.psize)]),
        pixel_sizes=[*first.pixel_sizes, *second.pixel_sizes],
        scores=None if first.scores is None else np.concatenate([first.scores, second.scores]),
        read_files=[*first.read_files, *second.read_files],
        writer=KindsWriter([(first.writer, rows[: len(first)]), (second.writer, rows[len(first) :])]),
        summary=summary,
        images=None,
        particle_names=None,
        **_joined_poses(first, second),
        identities=[identities[[*first.inputs, *second.inputs].index(str(p))] for p in inputs],
    )


def _joined_poses(first: ParticleSet, second: ParticleSet) -> dict:
    """Both parts' poses as rotation vectors in the tomograms (none where a part has none: not asked for)."""
    if first.poses is None or second.poses is None:
        return {"poses": None}
    rotvecs = [
        np.asarray(p.poses) if p.pose_kind == "rotvec" else tomogram_poses(np.asarray(p.poses), None)
        for p in (first, second)
    ]
    return {
        "poses": np.concatenate(rotvecs),
        "pose_kind": "rotvec",
        "pose_label": f"{first.pose_label}; {second.pose_label}",
    }
