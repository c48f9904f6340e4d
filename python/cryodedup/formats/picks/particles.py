"""Picker coordinates (RELION AutoPick/ManualPick jobs, crYOLO, topaz, EMAN) read into a ParticleSet.

They are read through :func:`cryodedup.formats.picks.read_picks`, and kept and rejected written as
a RELION coordinate job, a CryoSPARC particle ``.cs`` or each picker's own format.

One input is one picker's output (a folder, a quoted glob, a file). Pick centres are in
micrograph pixels: the micrograph pixel size comes from ``--mic-psize`` or from the
micrographs STAR given with ``--micrographs``, which also names the micrographs as RELION
does (the pickers' names are matched to it by file name without extension).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import cryodedup._core as _core

from ...algo.dedup import scales_differ
from ...algo.filaments import tube_ids
from ...algo.normalisation import normalisation
from ...algo.priority import input_levels, scores_without_none
from ...errors import CryodedupError, InputFileError
from ...particle_set import (
    MIC_PSIZE,
    Log,
    NumberedNames,
    ParticleSet,
    PicksReach,
    PsizeFrom,
    TypedPixelSize,
    pixel_size_entries,
    pixel_size_of_rows,
)
from ...paths import StrPath
from ...resolve import (
    match_micrographs,
    name_key,
    score_direction,
)
from ..micrograph_lists import (
    ListedPixelSizes,
    MicrographList,
    find_image,
    micrograph_list,
    resolve_paths,
    stated_pixel_sizes,
)
from ..mrc import mrc_shapes
from ..sniff import is_glob, picker_files
from ..star.micrographs import PIXEL_SIZE_FIELD, micrograph_names, micrograph_pixel_sizes
from . import Picks, pick_location, pick_numbers, read_picks, score_column
from .cryolo import TUBE_COLUMN as CRYOLO_TUBE
from .relion import job_micrographs, job_micrographs_named
from .write import relion_columns_lost, rows_copied, write_cryosparc, write_like_input, write_relion

if TYPE_CHECKING:
    from ..read_request import Scale, ScoreRead

__all__ = ["read_picker_outputs"]


class PicksWriter:
    """Writes kept and rejected picks in the chosen output format."""

    def __init__(
        self,
        pickers: list[Picks],
        output_format: str,
        outdir: Path,
        psize: float | None,
        shapes: dict[str, tuple[int, int]] | None,
        inputs: list[Path],
        micrograph_uids: dict[str, int] | None = None,
        micrographs: tuple[list[str], np.ndarray] | None = None,
        relion3_micrographs: str | None = None,
    ) -> None:
        self.pickers, self.format, self.outdir = pickers, output_format, outdir
        #: Each picker's input as given (names its own-format output folder).
        self.inputs = inputs
        self.psize, self.shapes, self.uids = psize, shapes, micrograph_uids
        #: The micrograph names of all pickers and each pick's index among them, as read.
        self.micrographs = micrographs
        #: The micrographs STAR a RELION 3.x coordinate set names (None: none written).
        self.relion3_micrographs = relion3_micrographs
        #: Whether RELION rows may be copied as text (not once a picker's centres are moved).
        self.copy_rows = True

    @property
    def combines_inputs(self) -> bool:
        """Whether one output file holds several pickers' rows (relion, cryosparc); else a folder per picker."""
        return self.format in ("relion", "cryosparc")

    def move_rows(self, rows: np.ndarray, shift_A: np.ndarray, psize: np.ndarray) -> str:
        """As :class:`~cryodedup.particle_set.MovingSubsetWriter` says: the pickers' centres (pixels), moved.

        A combined output then writes every picker's rows from numbers (the centre, and the
        score if every picker has one), none copied as text: a copied row would keep its old place.
        """
        bounds = np.cumsum([0] + [len(p) for p in self.pickers])
        for k, picks in enumerate(self.pickers):
            inside = (rows >= bounds[k]) & (rows < bounds[k + 1])
            if inside.any():
                centres = np.array(picks.centres, dtype=np.float64)
                centres[rows[inside] - bounds[k]] += shift_A[inside][:, :2] / psize[inside][:, None]
                self.pickers[k] = dataclasses.replace(picks, centres=centres)
        self.copy_rows = False
        return "its rows written with the moved centres (every picker's rows from numbers: the centre and the score)"

    def let_numbers_go(self) -> None:
        """Lets the pickers' centres and scores go where the rows are copied as text, which needs none of them.

        Not where ``--transform`` moves an input (:meth:`move_rows`): every row is then written from them.
        """
        if self.format == "relion" and rows_copied(self.pickers):
            self.pickers = [p.without_numbers() for p in self.pickers]

    def where(self, picker: int, pick: int) -> str:
        """Where pick ``pick`` (counted from 0) of picker ``picker`` was read: its file and line."""
        return pick_location(self.pickers[picker], pick)

    def rows_read_at(self, rows: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Where each of the joined set's ``rows`` was read: its file and line (the pickers' rows follow each other).

        As :func:`~cryodedup.formats.picks.pick_numbers` gives them (texts, each row's text, its number).
        """
        rows = np.asarray(rows, dtype=np.int64)
        starts = np.cumsum([0] + [len(p.file_of_pick) for p in self.pickers])
        picker = np.searchsorted(starts, rows, side="right") - 1
        texts: list[str] = []
        which = np.zeros(len(rows), dtype=np.uint32)
        numbers = np.zeros(len(rows), dtype=np.uint64)
        for k in np.unique(picker).tolist():
            mine = np.flatnonzero(picker == k)
            own, of_rows, numbered = pick_numbers(self.pickers[k], rows[mine] - starts[k])
            which[mine] = of_rows + len(texts)
            numbers[mine] = numbered
            texts += own
        return texts, which, numbers

    def write(self, keep: np.ndarray, force: bool, halves: np.ndarray | None = None) -> dict[str, list[Path]]:
        """Writes the picks where ``keep`` is True as kept, the others as rejected, all or nothing.

        Picks have no half-sets: ``halves`` must be None (the job refuses --halfsets first).
        """
        assert halves is None, "picks carry no half-set column"
        if self.format not in ("relion", "cryosparc"):
            return self._write_own_format(keep, force)
        combined = self._write_combined(keep, force)
        if (len(self.pickers) > 1 or not self.copy_rows) and not (
            self.format == "relion" and self.copy_rows and rows_copied(self.pickers)
        ):
            # The combined output holds each pick's centre and score alone: each picker's own rows too (issue 64;
            # one picker's too where --transform moved it: its own rows as read, in its frame).
            for subset, folders in self._write_own_format(keep, force, beside=True).items():
                combined[subset] += folders
        return combined

    def _write_combined(self, keep: np.ndarray, force: bool) -> dict[str, list[Path]]:
        """The one output of every picker's picks: a RELION coordinate job, or a CryoSPARC ``.cs``."""
        if self.format == "relion":
            return write_relion(
                self.pickers,
                keep,
                self.outdir,
                force=force,
                micrographs=self.micrographs,
                relion3_micrographs=self.relion3_micrographs,
                copy_rows=self.copy_rows,
            )
        assert self.psize is not None and self.shapes is not None, "read_picker_outputs sets both for cryosparc"
        files = write_cryosparc(
            self.pickers,
            keep,
            self.outdir,
            shapes=self.shapes,
            psize=self.psize,
            micrograph_uids=self.uids,
            force=force,
        )
        return {s: [p] for s, p in files.items()}

    def _write_own_format(self, keep: np.ndarray, force: bool, beside: bool = False) -> dict[str, list[Path]]:
        """Writes each picker's kept and rejected picks in its own format.

        One picker: ``OUTDIR/kept/``, ``OUTDIR/rejected/``; several, or ``beside`` a combined
        output: the same under ``OUTDIR/picker_K_NAME/`` for picker K (counted from 1), NAME
        naming its input. Returned by subset: each picker's folder, or its file where it wrote one.
        """
        bounds = np.cumsum([0] + [len(p) for p in self.pickers])
        folders: dict[str, list[Path]] = {"kept": [], "rejected": []}
        for k, picks in enumerate(self.pickers):
            alone = len(self.pickers) == 1 and not beside
            outdir = self.outdir if alone else self.outdir / picker_folder(k, self.inputs[k])
            written = write_like_input(picks, keep[bounds[k] : bounds[k + 1]], outdir, force=force)
            for subset in folders:  # (a picker of one file, a topaz table: that file, the one used next)
                folders[subset].append(written[subset][0] if len(written[subset]) == 1 else outdir / subset)
        return folders


def picker_folder(k: int, given: Path) -> str:
    """``picker_K_NAME``: the output folder of picker K (counted from 0 here, from 1 in the name).

    NAME says which input it holds: the folder's name (``AutoPick/job010`` -> ``job010``),
    the file's name without extension, or for a glob its folder's name; characters other
    than letters, digits, ``.``, ``_`` and ``-`` become ``_``.
    """
    name = given.parent.name if is_glob(given) else given.stem if given.is_file() else given.name
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip("._")
    return f"picker_{k + 1}_{name}" if name else f"picker_{k + 1}"


def _joined_micrographs(
    pickers: list[Picks], mode: str, named_by_star: bool, warn: Callable[[str], None]
) -> tuple[list[Picks], dict]:
    """The pickers with one name per micrograph, and the summary's ``micrograph_matching``.

    Pickers name a micrograph differently (a RELION path, a crYOLO file stem, a CryoSPARC
    file name): they are matched as ``--match-micrographs`` says
    (docs/developers/decisions/matching-micrographs.md) and named as the first picker that has them names them.
    """
    match = match_micrographs([list(dict.fromkeys(p.micrographs)) for p in pickers], mode)
    for line in match.warnings([p.source for p in pickers]):
        warn(line)
    if match.by_name and not named_by_star:
        warn(
            f"{match.by_name} micrographs are named differently by the pickers and were matched by file name "
            f"(e.g. {match.example[1] if match.example else ''}); give the micrographs STAR with --micrographs to "
            "name them as RELION does"
        )
    out = [dataclasses.replace(p, micrographs=[match.same[n] for n in p.micrographs]) for p in pickers]
    return out, match.summary()


def _warn_bare_names(names: list[str], warn: Callable[[str], None]) -> None:
    """Warns when a RELION coordinate list would name micrographs by bare file stems.

    A picker file named ``x_autopick.star`` or ``x.cbox`` says only ``x``; RELION's Extract
    matches the list's ``rlnMicrographName`` to the micrographs STAR's full names.
    """
    bare = [n for n in names if "." not in os.path.basename(n)]
    if bare:
        warn(
            f"micrographs known only by file stem ({len(bare)}, e.g. {bare[0]}) are named so in the coordinate "
            "list; RELION Extract matches full micrograph names: give the micrographs STAR with --micrographs"
        )


def _warn_columns_lost(pickers: list[Picks], warn: Callable[[str], None]) -> None:
    """Warns when RELION inputs' columns will be missing from the coordinate job written.

    One coordinate file per micrograph holds the picks of every input: when the inputs'
    files differ in their columns, the rows are written from each pick's centre and score,
    not copied (the same columns in another order are copied, fields put in order); each
    picker's own files then hold its rows as read (:meth:`PicksWriter.write`).
    """
    lost = relion_columns_lost(pickers)
    if lost:
        which = "; ".join(f"{source}: {', '.join(labels)}" for source, labels in lost.items())
        warn(
            "the inputs' coordinate files differ in their columns, so each micrograph's "
            f"coordinate file holds the centre and score of each pick only (not written there: {which}); each "
            "picker's rows are written as read too, in picker_K_NAME/kept and rejected"
        )


def _relion3_micrographs(
    inputs: list[Path], pickers: list[Picks], names: list[str], micrographs: Path | None, warn: Callable[[str], None]
) -> str | None:
    """The micrographs STAR a RELION 3.x coordinate output names, when an input is a 3.x job.

    It is the first, of ``--micrographs`` and the STARs the 3.x jobs name, that lists every
    micrograph of the output (RELION 3.x Extract takes the micrographs from it); None, with a
    warning, when none does.
    """
    jobs = [p for path, p in zip(inputs, pickers) if picker_files(path)[1] == "relion-suffix"]
    if not jobs:
        return None
    candidates = [(str(micrographs), str(micrographs))] if micrographs else []
    candidates += [p.micrographs_star for p in jobs if p.micrographs_star is not None]
    wanted = set(names)
    for named, path in dict.fromkeys(candidates):
        if Path(path).suffix == ".star" and wanted <= set(micrograph_names(path)):
            return named
    warn(
        f"no micrographs STAR lists all {len(names):,} micrographs of the output "
        f"({', '.join(named for named, _ in candidates)}), so no RELION 3.x coords_suffix file is written; "
        "give one that does with --micrographs"
    )
    return None


def _pixel_sizes(
    names: list[str], scale: Scale, given: MicrographList | None, pickers: list[Picks]
) -> tuple[np.ndarray, str]:
    """Micrograph pixel size of each micrograph, and where it came from.

    From where the job decided (``scale.psize_from``): ``--mic-psize``, ``--micrographs``, or
    the micrographs STARs the RELION jobs name; a list is read through
    :class:`ListedPixelSizes` (by path, then file name), as for every reader.
    """
    mode = scale.match_micrographs
    if scale.psize_from is PsizeFrom.GIVEN:
        return np.full(len(names), scale.given_psize), MIC_PSIZE
    if scale.psize_from is PsizeFrom.LISTED and given is not None:
        lists = ListedPixelSizes(given.path, given.pixel_sizes, mode, given.pixel_size_field)
        return _listed_sizes(lists, names, pickers)
    return _listed_sizes(_jobs_micrographs(pickers, mode), names, pickers)


def _given_source(pickers: list[Picks], scale: Scale, given: MicrographList | None, warn: Callable[[str], None]) -> str:
    """The summary's source of a typed ``--mic-psize``, as the job's judge (``scale.judge_psize``) finds it.

    The judge is handed what the list given with ``--micrographs`` and the micrographs STARs
    the RELION jobs name state, and, where the exposures give the micrographs' sizes, how far
    the picks reach on them.
    """
    value = scale.given_psize
    stated = [stated_pixel_sizes(scale.micrographs, value)]
    for _, path in dict.fromkeys(p.micrographs_star for p in pickers if p.micrographs_star is not None):
        stated.append(stated_pixel_sizes(path, value))
    reach = None
    if given is not None and given.shapes:
        reach = PicksReach(*_picks_reach(pickers, given.shapes), f"micrograph_blob/shape in {given.path}")
    lists = tuple(listed for listed in stated if listed is not None)
    return scale.judge_psize(TypedPixelSize(value, scale.insist_psize, lists=lists, reach=reach), warn)


def _picks_reach(pickers: list[Picks], shapes: dict[str, tuple[int, int]]) -> tuple[tuple[float, float], int]:
    """The largest x / width and y / height of the picks on micrographs of known size (``shapes``), and their count.

    A picker names a micrograph by its file name (``name_key``), the exposures by its path.
    """
    by_key = {name_key(name): shape for name, shape in shapes.items()}
    reach, counted = np.zeros(2), 0
    for picks in pickers:
        size = np.array([by_key.get(name_key(m), (0, 0)) for m in picks.micrographs], dtype=np.float64)
        if not len(picks) or not len(size):
            continue
        width_height = size[picks.micrograph][:, ::-1]  # (nx, ny) of each pick's micrograph
        known = (width_height > 0).all(axis=1)
        if known.any():
            with np.errstate(invalid="ignore"):
                reach = np.fmax(reach, np.nanmax(picks.centres[known, :2] / width_height[known], axis=0))
            counted += int(known.sum())
    return (float(reach[0]), float(reach[1])), counted


def _jobs_micrographs(pickers: list[Picks], match_mode: str) -> ListedPixelSizes:
    """The pixel sizes of the micrographs STARs the pickers' RELION jobs name (every picker names one)."""
    stars = list(dict.fromkeys(p.micrographs_star for p in pickers if p.micrographs_star is not None))
    by_name: dict[str, float] = {}
    for _, path in stars:
        for name, value in micrograph_pixel_sizes(Path(path)).items():
            by_name.setdefault(name, value)
    return ListedPixelSizes(", ".join(named for named, _ in stars), by_name, match_mode, PIXEL_SIZE_FIELD)


def _listed_sizes(listed: ListedPixelSizes, names: list[str], pickers: list[Picks]) -> tuple[np.ndarray, str]:
    """Each micrograph's pixel size in ``listed``, and the summary's source; errors name the picker's file."""
    psize, by_name = listed.sizes(lambda name: _file_naming(pickers, name), names)
    return psize, listed.source(len(names), len(by_name))


def _file_naming(pickers: list[Picks], name: str) -> str:
    """The first picker file with picks on (or, empty, for) the micrograph ``name``."""
    for picks in pickers:
        if name not in picks.micrographs:
            continue
        index = picks.micrographs.index(name)
        own = next((f.path for f in picks.files if f.micrograph == index), None)
        if own is not None:
            return own
        on = np.flatnonzero(picks.micrograph == index)
        return picks.files[int(picks.file_of_pick[on[0]])].path if len(on) else picks.source
    return name


def _require_pixel_size(inputs: list[Path], scale: Scale) -> None:
    """Refuses, before any file is read, picks that could not be put in Å.

    RELION jobs that name their micrographs STAR give it; other inputs need --mic-psize or
    --micrographs. Everything missing is said at once: topaz tables without --micrographs
    need their scale too.
    """
    if scale.psize_from is not PsizeFrom.OWN:
        return
    found = [picker_files(p) for p in inputs]
    unnamed = [
        p for p, (files, kind) in zip(inputs, found) if not _names_its_micrographs(files, kind, scale.project_dir)
    ]
    if not unnamed:
        return
    topaz = [p for p, (_, kind) in zip(inputs, found) if kind == "topaz"] if scale.topaz_scale is None else []
    also = (
        f"; {topaz[0]} (topaz) also needs the -s of topaz preprocess with --topaz-scale (1 for full-size coordinates)"
        if topaz
        else ""
    )
    # A 3.x job's coordinate files are named by its micrographs: --mic-psize alone does not read it.
    suffix = [p for p in unnamed if found[inputs.index(p)][1] == "relion-suffix"]
    first = suffix[0] if suffix else unnamed[0]
    jobs = _why_unnamed(first, *found[inputs.index(first)], scale.project_dir)
    if not jobs and len(unnamed) < len(inputs):
        jobs = f" ({unnamed[0]} is not a RELION job that names its micrographs STAR)"
    give = (
        "give the micrographs with --micrographs (a micrographs STAR: the micrographs name the coordinate "
        f"files of {first}, a RELION 3.x job, so a pixel size alone does not read it)"
        if suffix
        else "give it with --mic-psize, or the micrographs with --micrographs "
        "(a micrographs STAR or CryoSPARC exposures)"
    )
    raise CryodedupError(f"picker coordinates are in micrograph pixels and carry no pixel size: {give}{jobs}{also}")


def _why_unnamed(source: Path, files: list[Path], kind: str, project_dir: Path | None) -> str:
    """Why a RELION job gives no pixel size: the micrographs STAR it names is not found (else nothing to say)."""
    named = job_micrographs_named(files[0]) if kind in ("relion-suffix", "relion-list") else None
    if named is None:
        return ""
    where = project_dir or Path.cwd()
    return (
        f" ({source} names {named} as its micrographs, which is not found from {where}: run from the RELION "
        "project folder or give that folder with --project-dir)"
    )


def _names_its_micrographs(files: list[Path], kind: str, project_dir: Path | None) -> bool:
    """Whether a picker's output is a RELION job naming a micrographs STAR that is found."""
    return kind in ("relion-suffix", "relion-list") and job_micrographs(files[0], project_dir) is not None


def _scores(
    pickers: list[Picks], score_read: ScoreRead, levels: np.ndarray, warn: Callable[[str], None]
) -> tuple[list[np.ndarray] | None, str | None, bool]:
    """The scores used to rank duplicates (each picker's), their name and direction.

    ``--score auto`` uses each picker's own score, a column name the values of that column
    (every picker must have it), ``none`` (or a picker without scores) ranks at random.
    """
    if score_read.score == "none":
        return None, None, True
    if score_read.score != "auto":
        return _named_scores(pickers, score_read, levels, warn)
    # (a picker without picks has nothing to rank: it leaves the others their scores)
    unscored = [p.source for p in pickers if p.score is None and len(p)]
    if unscored:
        others = " (the other inputs' scores are not used either)" if len(unscored) < len(pickers) else ""
        warn(
            f"{', '.join(unscored)}: no score in the picks, so each group of duplicates keeps a seeded random "
            f"pick (seed {score_read.seed}), as with --score none{others}"
        )
        return None, None, True
    directions = {p.higher_is_better for p in pickers if p.score is not None}
    if len(directions) > 1 and not normalisation(score_read.score_normalize).one_scale:
        raise CryodedupError(
            "the pickers' scores run in opposite directions (higher is better for some, lower for others); "
            "add --score-normalize rank (each input's percentiles) or zscore (robust z-scores per micrograph)"
        )
    names = list(dict.fromkeys(p.score_name for p in pickers if p.score is not None and p.score_name))
    label = names[0] if len(names) == 1 else " / ".join(names)
    # (every one with picks scored, checked above; RELION's -999, ManualPick's, made "none": NaN)
    scores = [np.empty(0) if p.score is None else scores_without_none(p.score, p.score_name) for p in pickers]
    if score_read.decides:  # (--remove-entirely: no score decides, whatever its scale)
        _warn_scales(pickers, scores, label, score_read.score_normalize, levels, warn)
    return scores, label, directions.pop() if len(directions) == 1 else True


def _named_scores(
    pickers: list[Picks], score_read: ScoreRead, levels: np.ndarray, warn: Callable[[str], None]
) -> tuple[list[np.ndarray], str, bool]:
    """The scores of ``--score COLUMN``: that column of every picker, and its direction.

    The direction is ``--score-order``, else the picker's own for its own score column,
    else what is known of the column; an unknown one is asked for.
    """
    label = score_read.score.lstrip("_")
    scores = [
        p.score if p.score_name == label and p.score is not None else score_column(p, score_read.score) for p in pickers
    ]
    scores = [scores_without_none(s, label) for s in scores]
    own = {p.higher_is_better for p in pickers if p.score_name == label}
    higher = score_direction(label, score_read.score_order)
    if higher is None and len(own) == 1 and all(p.score_name == label for p in pickers):
        higher = own.pop()
    if higher is None:
        raise CryodedupError(
            f"--score {score_read.score}: it is not known whether higher or lower is better; "
            "add --score-order max or --score-order min"
        )
    if score_read.decides:  # (--remove-entirely: no score decides, whatever its scale)
        _warn_scales(pickers, scores, label, score_read.score_normalize, levels, warn)
    return scores, label, higher


def _warn_scales(
    pickers: list[Picks],
    scores: list[np.ndarray],
    label: str,
    score_normalize: str,
    levels: np.ndarray,
    warn: Callable[[str], None],
) -> None:
    """Warns that several pickers' scores (one array each) are compared as they are, if on different scales.

    Without --score-normalize rank, when :func:`cryodedup.algo.dedup.scales_differ` says so:
    copies of one picker's picks are not warned of, nor pickers ``--prefer`` puts at different
    levels (``levels``: the priority decides between them, never the score).
    """
    if len(pickers) < 2 or normalisation(score_normalize).one_scale:
        return
    how = scales_differ(scores, [p.source for p in pickers], levels)
    if how:
        warn(
            f"the pickers' scores ({label}) are compared as they are, and they are on different scales "
            f"({how}): the picker with the larger numbers wins nearly every group of duplicates; "
            "--score-normalize rank compares their percentiles"
        )


def _tubes(pickers: list[Picks], groups: np.ndarray) -> np.ndarray | None:
    """Each pick's filament tube (docs/design.md section 8), None when no picker picked filaments."""
    if all(p.tube is None for p in pickers):
        return None
    values = np.concatenate([np.full(len(p), np.nan) if p.tube is None else p.tube for p in pickers])
    return tube_ids(np.repeat(np.arange(len(pickers)), [len(p) for p in pickers]), groups, values)


def _output_format(pickers: list[Picks], requested: str) -> str:
    if requested != "auto":
        return requested
    formats = {p.format for p in pickers}
    if formats == {"relion"} or len(formats) > 1:
        return "relion"
    return "input"


def _micrograph_shapes(
    names: list[str], project_dir: Path | None, given: MicrographList | None, first_input: Path
) -> dict[str, tuple[int, int]]:
    """(ny, nx) of each micrograph (a .cs location needs the shape): the exposures', else its MRC header."""
    if given is not None and given.shapes is not None:
        unsized = [n for n in names if n not in given.shapes]
        if unsized:
            raise InputFileError(f"{given.path}: micrograph {unsized[0]} has no micrograph_blob/shape")
        return {n: given.shapes[n] for n in names}
    source = given.path if given is not None else first_input
    paths = [find_image(name, source, project_dir) for name in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise CryodedupError(
            f"--output-format cryosparc needs each micrograph's size, read from its MRC header: {missing[0]} "
            f"not found ({len(missing)} of {len(paths)} missing); give the folder the micrograph paths start "
            "from with --project-dir"
        )
    return mrc_shapes(names, paths)


def _shape_finder(
    given: MicrographList | None, project_dir: Path | None
) -> Callable[[list[str]], dict[str, tuple[int, int]]]:
    """A function giving the sizes (ny, nx) of the micrographs a picker names, where they are known.

    They are the exposures' ``micrograph_blob/shape``, or the MRC headers of the micrographs
    of a micrographs STAR that are found (the topaz scale is inferred from them).
    """

    def shapes(picker_names: list[str]) -> dict[str, tuple[int, int]]:
        if given is None:
            return {}
        if given.shapes is not None:
            return given.shapes
        by_key = {name_key(n): n for n in given.names}
        wanted = list(dict.fromkeys(by_key[name_key(n)] for n in picker_names if name_key(n) in by_key))
        paths, _ = resolve_paths(wanted, given.path, project_dir)
        found = mrc_shapes(wanted, paths)
        if wanted and not found:
            raise CryodedupError(
                f"topaz coordinates: their scale is inferred from the micrographs' sizes, but {paths[0]} is not found "
                f"(nor any of the {len(wanted)} micrographs); give the folder their paths start from with "
                "--project-dir, or the -s of topaz preprocess with --topaz-scale"
            )
        return found

    return shapes


def _micrograph_ids(pickers: list[Picks]) -> tuple[list[str], list[np.ndarray]]:
    """The micrograph names of all pickers (in order of first appearance), and their ids.

    For each picker, the id among the names of each of its micrographs (uint32).
    """
    mic_ids: dict[str, int] = {}
    ids = [np.array([mic_ids.setdefault(n, len(mic_ids)) for n in p.micrographs], dtype=np.uint32) for p in pickers]
    return list(mic_ids), ids


def _coverage(ids: list[np.ndarray], n_mics: int) -> np.ndarray:
    """Whether picker k ran on micrograph g: it names it (a file of its own, even one without picks; a list entry)."""
    covered = np.zeros((n_mics, len(ids)), dtype=bool)
    for k, mic_ids in enumerate(ids):
        covered[mic_ids, k] = True
    return covered


def _refuse_no_picks_at_all(inputs: list[Path], pickers: list[Picks], warn: Callable[[str], None]) -> None:
    """An input without picks is valid (it confirms nothing); inputs that all lack them are an error."""
    empty = [str(path) for path, picks in zip(inputs, pickers) if len(picks) == 0]
    if len(empty) == len(inputs):
        which = "the input" if len(empty) == 1 else "any of the inputs"
        raise CryodedupError(
            f"no picks in {which} ({', '.join(empty)}): the files hold headers or nothing; nothing to deduplicate"
        )
    if empty:
        warn(f"no picks in {', '.join(empty)}: it confirms and duplicates nothing")


def _joined(
    pickers: list[Picks], ids: list[np.ndarray], scores: list[np.ndarray] | None, mic_psize: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """The pickers' picks as one set: micrograph ids, centres in Å, scores, inputs.

    Ids and inputs are uint32, scores None when not ranked by them. Made by the core in
    parallel from the readers' arrays as they are (for millions of picks, writing fresh
    memory is most of the work, and one thread would do it alone).
    """
    parts = [
        _core.PickInput(
            np.ascontiguousarray(p.micrograph, dtype=np.int32),
            mic_ids,
            _row_strided(p.centres),
            None if scores is None else _row_strided(scores[k]),
        )
        for k, (p, mic_ids) in enumerate(zip(pickers, ids))
    ]
    joined = _core.join_picks(parts, np.ascontiguousarray(mic_psize, dtype=np.float64))
    return joined.groups, joined.centres, joined.scores, joined.input_of


def _row_strided(values: np.ndarray) -> np.ndarray:
    """``values`` (float64, 1-D or 2-D) as the core takes them, copied only if need be.

    The core takes rows of adjacent values, one row after another: a column view of a
    reader's row-major table is such already (no copy); other layouts are copied.
    """
    values = np.asarray(values, dtype=np.float64)
    width, item = (values.shape[1] if values.ndim == 2 else 1), values.itemsize
    step = values.strides[0] if values.ndim else 0
    adjacent = values.ndim == 1 or values.strides[1] == item
    if values.ndim in (1, 2) and adjacent and step >= width * item and step % item == 0:
        return values
    return np.ascontiguousarray(values)


def _shapes_by_id(names: list[str], shapes: dict[str, tuple[int, int]] | None) -> dict[int, tuple[int, int]]:
    """The micrograph sizes by micrograph id (index into ``names``)."""
    ids = {n: k for k, n in enumerate(names)}
    return {ids[n]: s for n, s in (shapes or {}).items()}


def _read_overlapped(
    inputs: list[Path], read: Callable[[Path], Picks], announce: Callable[[Path], None]
) -> Iterator[Picks]:
    """``read(path)`` of each input in order, two inputs read at a time.

    ``announce(path)`` is called as each input's turn comes. Reading a picker's output is
    the core's parse of its files (in parallel, without the GIL) and then Python's work on
    the file list, which leaves the core's threads idle: with two reads under way, one's
    Python work overlaps the other's parse (benches/RESULTS.md). The first input's error is
    raised first, as when they are read one after the other, without waiting for the reads
    under way; those not started are cancelled.
    """
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cryodedup-read")
    futures = [pool.submit(read, path) for path in inputs]
    try:
        for path, future in zip(inputs, futures):
            announce(path)
            yield future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def read_picker_outputs(
    inputs: list[Path],
    outdir: StrPath,
    scale: Scale,
    score_read: ScoreRead,
    output_format: str,
    warn: Callable[[str], None],
    log: Log,
    moves_inputs: bool = False,
) -> ParticleSet:
    """Reads each input as one picker's output into one ParticleSet (centres in Å).

    The set's writer writes ``output_format`` (``--output-format``; ``auto`` chooses).
    ``moves_inputs``: ``--transform`` moves an input, so the rows are written from the
    pickers' numbers, which are kept.
    """
    _require_pixel_size(inputs, scale)
    given = micrograph_list(scale.micrographs) if scale.micrographs is not None else None
    pickers = _read_pickers(inputs, scale, given, warn, log)
    _refuse_no_picks_at_all(inputs, pickers, warn)
    pickers, matching = _joined_micrographs(pickers, scale.match_micrographs, given is not None, warn)
    names, ids = _micrograph_ids(pickers)
    mic_psize, psize_source = _pixel_sizes(names, scale, given, pickers)
    if scale.psize_from is PsizeFrom.GIVEN:
        psize_source = _given_source(pickers, scale, given, warn)
    levels = input_levels([list(held) for held in score_read.prefer_held or ()], len(inputs))
    ranked_by, score_label, higher = _scores(pickers, score_read, levels, warn)
    groups, centres, scores, input_of = _joined(pickers, ids, ranked_by, mic_psize)
    del ranked_by  # (views of the readers' arrays)
    micrographs = (names, groups)
    writer = _picks_writer(inputs, pickers, micrographs, mic_psize, Path(outdir), output_format, scale, given, warn)
    if not moves_inputs:
        writer.let_numbers_go()
    pickers = writer.pickers
    return ParticleSet(
        inputs=[p.source for p in pickers],
        input_of=input_of,
        mic_names=names,
        groups=groups,
        centres=centres,
        psize=pixel_size_of_rows(mic_psize, len(groups), lambda: groups),
        pixel_sizes=pixel_size_entries(mic_psize, psize_source),
        scores=scores,
        score_label=score_label,
        higher_is_better=higher,
        read_files=[f.path for p in pickers for f in p.files],
        writer=writer,
        mic_shapes=_shapes_by_id(names, writer.shapes),
        coverage=_coverage(ids, len(names)),
        row_names=NumberedNames(writer.rows_read_at),
        tubes=_tubes(pickers, groups),
        tube_column=CRYOLO_TUBE if any(p.tube is not None for p in pickers) else None,
        summary={
            "formats": [p.format for p in pickers],
            "output_format": writer.format,
            "reading_notes": [f"{p.source}: {note}" for p in pickers for note in p.notes],
            "micrograph_matching": matching,
        },
    )


def _read_pickers(
    inputs: list[Path], scale: Scale, given: MicrographList | None, warn: Callable[[str], None], log: Log
) -> list[Picks]:
    """Each input read as one picker's output (two at a time), its readers' notes logged and warnings given."""
    known = given.names if given is not None else None
    shape_finder = _shape_finder(given, scale.project_dir)

    def read(path: Path) -> Picks:
        return read_picks(
            str(path),
            micrographs=known,
            topaz_scale=scale.topaz_scale,
            micrograph_shapes=shape_finder,
            project_dir=scale.project_dir,
            listed_in=None if given is None else given.path,
        )

    def announce(path: Path) -> None:
        log(f"reading picks from {path}", "info")

    pickers = []
    for path, picks in zip(inputs, _read_overlapped(inputs, read, announce)):
        for note in picks.notes:
            log(f"{path}: {note}", "info")
        for message in picks.warnings:
            warn(f"{path}: {message}")
        pickers.append(picks)
    return pickers


def _picks_writer(
    inputs: list[Path],
    pickers: list[Picks],
    micrographs: tuple[list[str], np.ndarray],
    mic_psize: np.ndarray,
    outdir: Path,
    requested: str,
    scale: Scale,
    given: MicrographList | None,
    warn: Callable[[str], None],
) -> PicksWriter:
    """The writer of the ``--output-format`` chosen (``requested``), with what that format needs of the micrographs.

    ``micrographs`` are the micrograph names and each pick's index among them.
    """
    names = micrographs[0]
    output_format = _output_format(pickers, requested)
    if output_format == "relion" and given is None:
        _warn_bare_names(names, warn)
    relion3_star = (
        _relion3_micrographs(inputs, pickers, names, scale.micrographs, warn) if output_format == "relion" else None
    )
    if output_format == "relion":
        _warn_columns_lost(pickers, warn)
    if output_format == "input" and len({p.format for p in pickers}) > 1:
        raise CryodedupError("--output-format input: the pickers wrote different formats; choose relion or cryosparc")
    single_psize = None
    shapes = None
    if output_format == "cryosparc":
        if len(np.unique(mic_psize)) > 1:
            raise CryodedupError("--output-format cryosparc: the micrographs have different pixel sizes")
        single_psize = float(mic_psize[0]) if len(mic_psize) else 1.0
        shapes = _micrograph_shapes(names, scale.project_dir, given, Path(inputs[0]))
    uids = given.uids if given else None
    return PicksWriter(
        pickers, output_format, outdir, single_psize, shapes, list(inputs), uids, micrographs, relion3_star
    )
