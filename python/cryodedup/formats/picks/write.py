"""Kept and rejected picks written for the next step.

The next step reads a RELION 4/5 coordinate job, a CryoSPARC particle ``.cs`` with a
``location`` slot, or the picker's own format.

Every writer takes the inputs (one :class:`Picks` per picker) and one boolean ``keep`` over
their picks concatenated in input order, and writes both subsets atomically.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

import cryodedup._core as _core

from ...errors import CryodedupError
from ...outputs import AtomicOutputs
from ...paths import StrPath
from ..cryosparc.particles import Locations
from ..picker_formats import function, picker_format
from . import Picks
from .relion import SCORE as RELION_SCORE
from .relion import relative_coordinate_path

__all__ = ["SUBSETS", "relion_columns_lost", "rows_copied", "write_cryosparc", "write_like_input", "write_relion"]

SUBSETS = ("kept", "rejected")
RELION_HEADER = "\n# version 30001\n\ndata_\n\nloop_ \n"


def _checked_keep(inputs: list[Picks], keep: ArrayLike) -> np.ndarray:
    """``keep`` as a boolean array, refused unless it has one entry per pick of ``inputs``."""
    keep = np.asarray(keep, dtype=bool)
    n = sum(len(p) for p in inputs)
    if keep.shape != (n,):
        raise ValueError(f"keep must have one entry per pick ({n}), got shape {keep.shape}")
    return keep


def _split(inputs: list[Picks], keep: ArrayLike) -> list[np.ndarray]:
    """``keep`` cut into one mask per input."""
    return np.split(_checked_keep(inputs, keep), np.cumsum([len(p) for p in inputs])[:-1])


def _micrographs(inputs: list[Picks]) -> tuple[list[str], list[np.ndarray]]:
    """The micrograph names of all inputs, and each input's micrograph index into them.

    Names are joined by name, in order of appearance.
    """
    names: list[str] = []
    index: dict[str, int] = {}
    for picks in inputs:
        for name in picks.micrographs:
            index.setdefault(name, len(names))
            if len(names) < len(index):
                names.append(name)
    mapped = [np.array([index[n] for n in p.micrographs], dtype=np.int64)[p.micrograph] for p in inputs]
    return names, mapped


# --- RELION ---------------------------------------------------------------------------------


def write_relion(
    inputs: list[Picks],
    keep: ArrayLike,
    outdir: StrPath,
    *,
    force: bool = False,
    micrographs: tuple[list[str], np.ndarray] | None = None,
    relion3_micrographs: str | None = None,
    copy_rows: bool = True,
) -> dict[str, list[Path]]:
    """Writes a coordinate job that RELION 4/5 Extract reads (``--coord_list``), and RELION 3.x Extract.

    ``OUTDIR/autopick_kept.star`` (``data_coordinate_files``: ``rlnMicrographName``,
    ``rlnMicrographCoordinates``) lists one STAR per micrograph, ``OUTDIR/kept/Movies/
    x_autopick.star`` for micrograph ``MotionCorr/job002/Movies/x.mrc``, every micrograph
    listed (an empty loop when none of its picks is in the subset); ``*_rejected`` alike.
    Paths in the list are ``OUTDIR/...`` as given: run Extract from the folder OUTDIR is
    relative to (the RELION project). Rows of RELION inputs that share one header are byte
    copies; otherwise rows hold ``rlnCoordinateX``, ``rlnCoordinateY`` (centres, pixels)
    and ``rlnAutopickFigureOfMerit`` when every input has a score.

    ``micrographs``, when the caller holds them already: the names of all inputs'
    micrographs joined by name in order of appearance, and each pick's index among them.

    ``relion3_micrographs``, a micrographs STAR (as RELION names it, from the project
    folder) that lists every micrograph: then also ``OUTDIR/kept/coords_suffix_autopick.star``
    (and ``rejected/``), the RELION 3.x coordinate set naming it. RELION 3.1 Extract, given
    that file, reads micrograph ``M``'s picks from ``OUTDIR/kept/`` + M after its job folder
    without extension + ``_autopick.star`` (``--coord_dir``, ``--coord_suffix``), which is
    where the per-micrograph files are.

    ``copy_rows`` False writes every row from numbers (centres moved by ``--transform``).

    Returns
    -------
    dict of subset -> its list file (and its coords_suffix file)
    """
    outdir = Path(outdir)
    keep_all = _checked_keep(inputs, keep)
    if micrographs is None:
        names, mapped = _micrographs(inputs)
        micrographs = names, np.concatenate(mapped) if mapped else np.zeros(0, dtype=np.int64)
    names, mic = micrographs
    relative = [relative_coordinate_path(n) for n in names]
    # Text, not Paths: a job writes two files per micrograph, tens of thousands.
    per_mic = {s: [_path_text(f"{outdir}/{s}/{r}") for r in relative] for s in SUBSETS}
    targets = {s: outdir / f"autopick_{s}.star" for s in SUBSETS}
    suffix_files = {s: outdir / s / "coords_suffix_autopick.star" for s in SUBSETS} if relion3_micrographs else {}
    clash = len({p for s in SUBSETS for p in per_mic[s]}) != 2 * len(names)
    if clash:
        raise CryodedupError(f"{outdir}: two micrographs would share one coordinate file name; their names clash")
    header, reorder = _relion_header(inputs) if copy_rows else (_numbers_header(inputs), None)
    paths: list[StrPath] = [*targets.values(), *suffix_files.values(), *per_mic["kept"], *per_mic["rejected"]]
    sources = [f.path for p in inputs for f in p.files]
    folders = [outdir / s for s in SUBSETS]
    with AtomicOutputs(paths, force=force, inputs=sources, folders=folders) as tmp:
        # Output k < len(names): the kept file of micrograph k; the rejected files follow.
        head = header.encode()
        outputs = [_core.PickOutput(tmp.text(path), head, b"\n") for s in SUBSETS for path in per_mic[s]]
        target = _row_targets(keep_all, len(names), mic)  # the rejected files follow the kept
        if reorder is not None:
            _copy_rows(inputs, outputs, target, reorder)
        else:
            _write_number_rows(_relion_values(inputs, RELION_SCORE in header), outputs, target)
        for subset in SUBSETS:
            listing = "\n# version 30001\n\ndata_coordinate_files\n\nloop_ \n_rlnMicrographName #1 \n"
            listing += "_rlnMicrographCoordinates #2 \n"
            listing += "".join(f"{_quote(n)} {_quote(p)} \n" for n, p in zip(names, per_mic[subset])) + "\n"
            tmp[targets[subset]].write_text(listing)
            if relion3_micrographs:
                tmp[suffix_files[subset]].write_text(relion3_micrographs + "\n")
    return {s: [targets[s], *([suffix_files[s]] if relion3_micrographs else [])] for s in SUBSETS}


def rows_copied(inputs: list[Picks]) -> bool:
    """Whether :func:`write_relion` copies the inputs' rows (each field's text unchanged).

    So it does when every input is a RELION file and all headers name the same columns (in
    any order); it then reads no centre or score of theirs.
    """
    return _relion_header(inputs)[1] is not None


def _relion_header(inputs: list[Picks]) -> tuple[str, list[list[int] | None] | None]:
    """The header of the per-micrograph files, and how each source file's rows are copied.

    Rows are copied when every input is a RELION file and all headers name the same columns,
    however each tool wrote them (RELION's `_label #N `, starfile's `_label`, comments): the
    first file's header then heads every file. The second value has one entry per source
    file (in input order): None where its columns are in the first file's order (its rows
    are byte copies), else the order to put its fields in (RELION's LoG and template
    pickers write rlnClassNumber and rlnAutopickFigureOfMerit in opposite orders). It is
    None when rows are written from numbers (other formats, or other columns).
    """
    labels = [tuple(_LABEL.findall(f.header)) for p in inputs for f in p.files]
    first = labels[0] if labels else ()
    same_columns = all(sorted(lab) == sorted(first) for lab in labels)
    # (A label named twice leaves the order ambiguous: then only identical headers are copied.)
    distinct = len(set(first)) == len(first) or all(lab == first for lab in labels)
    if labels and all(picker_format(p.format).relion_rows for p in inputs) and same_columns and distinct:
        reorder = [None if lab == first else [lab.index(c) for c in first] for lab in labels]
        return inputs[0].files[0].header, reorder
    return _numbers_header(inputs), None


def _numbers_header(inputs: list[Picks]) -> str:
    """The header of per-micrograph files whose rows are written from numbers."""
    return RELION_HEADER + "".join(f"_{lab} #{k + 1} \n" for k, lab in enumerate(_written_labels(inputs)))


def _written_labels(inputs: list[Picks]) -> list[str]:
    """The columns of rows written from numbers: the centre, and the score if every input has one."""
    labels = ["rlnCoordinateX", "rlnCoordinateY"]
    if inputs and all(p.score is not None for p in inputs):
        labels.append(RELION_SCORE)
    return labels


def relion_columns_lost(inputs: list[Picks]) -> dict[str, list[str]]:
    """The columns of RELION inputs that a RELION coordinate job written from them lacks.

    Rows are copied (every column kept, fields put in the first file's order) when all
    inputs are RELION files whose headers name the same columns; otherwise each row is
    written from its centre and score. Returns {input: its columns not written}, for the
    inputs that lose any.
    """
    if rows_copied(inputs):
        return {}
    written = set(_written_labels(inputs))
    lost: dict[str, list[str]] = {}
    for picks in inputs:
        if not picker_format(picks.format).relion_rows:
            continue
        headers = dict.fromkeys(f.header for f in picks.files)  # one per job, as a rule
        labels = dict.fromkeys(label for header in headers for label in _LABEL.findall(header))
        if missing := [label for label in labels if label not in written]:
            lost[picks.source] = missing
    return lost


#: A label of a STAR header (a loop's column, or a key of a `_key value` pair).
_LABEL = re.compile(r"^[ \t]*_(\S+)", re.MULTILINE)


def _relion_values(inputs: list[Picks], with_score: bool) -> np.ndarray:
    """The numbers of the rows written for non-RELION inputs: x, y (centres) and the score."""
    columns = [np.concatenate([p.centres for p in inputs])] if inputs else [np.zeros((0, 2))]
    if with_score:
        columns.append(np.concatenate([p.score for p in inputs])[:, None])
    return np.ascontiguousarray(np.hstack(columns), dtype=np.float64)


def _copy_rows(
    inputs: list[Picks],
    outputs: list[_core.PickOutput],
    target: np.ndarray,
    reorder: list[list[int] | None] | None = None,
) -> None:
    """Writes ``outputs`` (each a path, header and footer), rows copied from the input files.

    Output ``j`` gets the input rows ``i`` for which ``target[i]`` is ``j``. Rows are byte
    copies, except those of a source file ``f`` with ``reorder[f]``: their fields are put in
    that order, each field's text unchanged.
    """
    sources = [f.path for p in inputs for f in p.files]
    # Each input's arrays go to the core as they are (it takes them end to end, each input's
    # file indices after the previous inputs' files): millions of rows are not copied.
    first_files = np.cumsum([0] + [len(p.files) for p in inputs])[:-1].tolist()
    files = [_as(p.file_of_pick, np.uint32) for p in inputs]
    starts = [_as(p.row_start, np.uint64) for p in inputs]
    ends = [_as(p.row_end, np.uint64) for p in inputs]
    _core.write_pick_rows(outputs, target, sources, files, starts, ends, first_files, reorder)


def _row_targets(kept: np.ndarray, n: int, index: np.ndarray) -> np.ndarray:
    """Each row's output for the core's writers: ``index`` if kept, else ``n + index``.

    uint32, 4 bytes a row (millions of rows), filled by the core in parallel.
    """
    return _core.row_targets(_as(kept, np.bool_), _as(index, np.uint32), n)


def _as(array: np.ndarray, dtype: type) -> np.ndarray:
    """``array`` as a contiguous array of ``dtype`` (itself when it is one)."""
    return np.ascontiguousarray(array, dtype=dtype)


def _write_number_rows(values: np.ndarray, outputs: list[_core.PickOutput], target: np.ndarray) -> None:
    """As :func:`_copy_rows`, each row written from ``values[i]`` (``%12.6f``, space-separated)."""
    _core.write_pick_numbers(outputs, target, values)


_SPACE = re.compile(r"\s")


def _path_text(text: str) -> str:
    """``str(Path(text))``, without making a Path when ``text`` is spelt as Path spells it."""
    odd = "//" in text or "/./" in text or text.startswith("./") or text.endswith(("/", "/."))
    return str(Path(text)) if odd else text


def _quote(text: str) -> str:
    return f'"{text}"' if _SPACE.search(text) else text


# --- CryoSPARC ------------------------------------------------------------------------------


def micrograph_uid(name: str) -> int:
    """A stable 64-bit uid for a micrograph known only by name (no exposures given)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def write_cryosparc(
    inputs: list[Picks],
    keep: ArrayLike,
    outdir: StrPath,
    *,
    shapes: dict[str, tuple[int, int]],
    psize: float,
    micrograph_uids: dict[str, int] | None = None,
    seed: int = 0,
    force: bool = False,
) -> dict[str, Path]:
    """Writes ``OUTDIR/picks_kept.cs`` and ``picks_rejected.cs``, particles with a ``location`` slot.

    CryoSPARC's *Extract From Micrographs* takes that slot (import them with *Import Result
    Group* / connect as particles; the micrographs must be the exposures the names refer to).

    Fields, as CryoSPARC's pickers write them: ``uid``; ``location/micrograph_uid``,
    ``location/exp_group_id`` (0), ``location/micrograph_path``, ``location/micrograph_shape``
    ``[ny, nx]``, ``location/micrograph_psize_A``, ``location/center_x_frac`` = x / nx,
    ``location/center_y_frac`` = y / ny, ``location/min_dist_A`` (0); and
    ``pick_stats/ncc_score`` (the picker's score, NaN where missing) when an input scores.

    Parameters
    ----------
    shapes : dict of str -> (ny, nx)
        Micrograph size in pixels by name (MRC headers or the exposures' ``micrograph_blob/shape``).
    psize : float
        Micrograph pixel size, Å.
    micrograph_uids : dict of str -> int, optional
        The exposures' uids by name; otherwise a stable hash of the name.
    """
    outdir = Path(outdir)
    masks = _split(inputs, keep)
    names, mapped = _micrographs(inputs)
    missing = [n for n in names if n not in shapes]
    if missing:
        raise CryodedupError(f"micrograph {missing[0]}: its size is unknown; a .cs location needs micrograph_shape")
    uids = micrograph_uids or {}
    scored = any(p.score is not None for p in inputs)
    locations = Locations(
        paths=names,
        shapes=np.array([shapes[n] for n in names], dtype=np.uint32).reshape(len(names), 2),
        mic_uids=np.array([uids.get(n, micrograph_uid(n)) for n in names], dtype=np.uint64),
        psize=psize,
        mic=np.concatenate(mapped) if mapped else np.zeros(0, dtype=np.int64),
        centres=np.concatenate([p.centres for p in inputs]) if inputs else np.zeros((0, 2)),
        score=(
            np.concatenate([p.score if p.score is not None else np.full(len(p), np.nan) for p in inputs])
            if scored
            else None
        ),
    )
    rng = np.random.default_rng(seed)
    targets = {s: outdir / f"picks_{s}.cs" for s in SUBSETS}
    with AtomicOutputs(list(targets.values()), force=force) as tmp:
        for subset, take in zip(SUBSETS, (True, False)):
            rows = np.flatnonzero(np.concatenate(masks) == take) if masks else np.zeros(0, dtype=np.int64)
            uid = rng.integers(1, 2**63, len(rows), dtype=np.uint64)
            locations.save(rows, uid, tmp[targets[subset]])
    return targets


# --- the picker's own format -----------------------------------------------------------------


def write_like_input(picks: Picks, keep: ArrayLike, outdir: StrPath, *, force: bool = False) -> dict[str, list[Path]]:
    """Writes one input's kept and rejected picks in its own format, file for file.

    The files go under ``OUTDIR/kept/`` and ``OUTDIR/rejected/`` with the input files' names:
    each file's text before and after its rows is copied, and each kept row is its original
    line (EMAN2 ``_info.json``: the object with its ``boxes`` list cut to the subset).
    """
    outdir = Path(outdir)
    (mask,) = _split([picks], keep)
    names = [os.path.basename(f.path) for f in picks.files]
    if len(set(names)) != len(names):
        raise CryodedupError(f"{picks.source}: two input files share a file name; outputs would overwrite each other")
    targets = {s: [outdir / s / n for n in names] for s in SUBSETS}
    with AtomicOutputs(
        [p for s in SUBSETS for p in targets[s]],
        force=force,
        inputs=[f.path for f in picks.files],
        folders=[outdir / s for s in SUBSETS],
    ) as tmp:
        own_writer = picker_format(picks.format).write
        if own_writer is not None:
            function(own_writer)(picks, mask, targets, tmp)
        else:
            # Output k < n: the kept part of input file k; the rejected parts follow.
            n = len(picks.files)
            outputs = [
                _core.PickOutput(str(tmp[target]), f.header.encode(), f.footer.encode())
                for s in SUBSETS
                for f, target in zip(picks.files, targets[s])
            ]
            target = _row_targets(mask, n, picks.file_of_pick)
            _copy_rows([picks], outputs, target)
    return targets
