"""RELION coordinate files: AutoPick and ManualPick jobs, and per-micrograph coordinate STARs.

Both layouts of the jobs are read, and any per-micrograph coordinate STAR (crYOLO's ``.star``
output has the same shape).

Conventions (RELION's autopicker and Extract, also followed by crYOLO's STAR writer):

- a per-micrograph file holds one loop with ``rlnCoordinateX``/``rlnCoordinateY``, the box
  centre in micrograph pixels, and no micrograph name; ``rlnAutopickFigureOfMerit`` (higher
  is better) when the picker scores;
- RELION 4/5 lists them in ``autopick.star`` / ``manualpick.star``:
  ``data_coordinate_files`` with ``rlnMicrographName`` and ``rlnMicrographCoordinates``,
  paths relative to the project folder;
- RELION 3.x writes ``coords_suffix_autopick.star`` (``_manualpick``), a one-line text file
  naming the micrographs STAR; the file of micrograph ``MotionCorr/job002/Movies/x.mrc`` is
  then ``AutoPick/jobNNN/Movies/x_autopick.star``: the job folder, the micrograph path
  without its ``Type/jobNNN/`` prefix, the extension replaced by the suffix.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from ...errors import CryodedupError, InputFileError
from ..files import check_regular_file, project_root, read_foreign
from ..star.file import StarFile
from ..star.micrographs import micrograph_names
from ..star.pipeline import job_options
from . import MicrographNamer, PickRead, Picks, PicksBuilder, own_score, read_tables, stem

__all__ = ["SCORE", "job_micrographs", "job_micrographs_named", "read", "relative_coordinate_path"]

SCORE = "rlnAutopickFigureOfMerit"
#: A pipeline job folder as RELION finds it: ``/job`` and three digits, after the first character.
_JOB_FOLDER = re.compile(r"/job\d{3}")


def relative_coordinate_path(micrograph: str, suffix: str = "_autopick.star") -> str:
    """Where RELION 3.x puts a micrograph's coordinate file inside a picking job folder.

    ``MotionCorr/job002/Movies/x.mrc`` -> ``Movies/x_autopick.star``. As RELION 3.1's
    ``decomposePipelineFileName`` and ``withoutExtension`` (used alike by its autopicker to
    write and by Extract to read): the name after its first ``jobNNN/`` folder, else the
    whole name (an absolute path keeps its folders: ``/data/x.mrc`` -> ``data/x...``, the
    job folder's ``//`` being one ``/``), without its extension.
    """
    name = micrograph.replace("\\", "/")
    job = _JOB_FOLDER.search(name, 1)
    if job is not None:
        after = name.find("/", job.start() + 6)
        name = name[after + 1 :] if after >= 0 else ""
    name = name.lstrip("/")
    base = name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name
    return base + suffix


def read(request: PickRead) -> Picks:
    """RELION coordinates of the kind sniff.py told: a job's list, a 3.x job's suffix file, or per-micrograph STARs."""
    if request.kind == "relion-list":
        return read_list(request.files, request.source, request.namer, request.project_dir)
    if request.kind == "relion-suffix":
        return read_coords_suffix(request.files, request.source, request.namer, request.project_dir)
    return read_coordinate_stars(request.files, request.source, request.namer)


def read_list(files: list[Path], source: str, namer: MicrographNamer, project_dir: Path | None) -> Picks:
    """A RELION 4/5 ``autopick.star`` / ``manualpick.star`` and the files it lists."""
    (path,) = files
    star = StarFile(path)
    block = star.block("coordinate_files")
    if block is None:
        raise InputFileError(f"{path}: no data_coordinate_files loop; expected a RELION autopick.star")
    table = star.table(block)
    for label in ("rlnMicrographName", "rlnMicrographCoordinates"):
        if label not in table.labels:
            raise InputFileError(f"{path}: data_coordinate_files has no {label} column")
    names = table.column("rlnMicrographName")
    coordinate_files = table.column("rlnMicrographCoordinates")
    builder = PicksBuilder(source, "relion", namer)
    if not names:
        return builder.build(own_score([SCORE], lambda label: False))  # a job that picked nothing
    root = project_root(coordinate_files[0], path, project_dir)
    builder.notes.append(f"{path}: coordinate files read from {root}")
    # Strings, not Path arithmetic, until the one Path per file: a job lists thousands.
    listed = [relative if os.path.isabs(relative) else os.path.join(root, relative) for relative in coordinate_files]
    try:
        picks = _read_stars(list(zip(listed, names)), builder)
        picks.micrographs_star = job_micrographs(path, project_dir)
        return picks
    except CryodedupError:
        # A listed file that is missing is named as the list names it (looked for only now: a
        # job lists thousands, and the reader fails on the first it cannot open).
        for file, name, relative in zip(listed, names, coordinate_files):
            if not os.path.exists(file):
                raise InputFileError(f"{path}: {relative} (micrograph {name}) not found in {root}") from None
            check_regular_file(file, f"a coordinate file (listed in {path.name})")
        raise


def _as_typed(path: Path) -> str:
    """``path`` relative to the working folder when it lies under it, else whole.

    As the job folders are named in the summary: a project's absolute path next to relative
    job names misleads.
    """
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else Path(relative).as_posix()


def read_coords_suffix(files: list[Path], source: str, namer: MicrographNamer, project_dir: Path | None) -> Picks:
    """A RELION 3.x job, from its ``coords_suffix_X.star``.

    That file names the micrographs STAR; each micrograph's picks are in the job folder under
    its RELION name with suffix ``_X.star``. Micrographs without a file have no picks.
    """
    (path,) = files
    lines = _suffix_file_lines(path)
    if len(lines) != 1 or lines[0].startswith("data_"):
        raise InputFileError(f"{path}: expected one line naming the micrographs STAR (RELION 3 coords_suffix file)")
    relative = lines[0]
    suffix = "_" + path.name[len("coords_suffix_") :]
    job = path.parent
    builder = PicksBuilder(source, "relion", namer)
    mic_star = _named_star(path, relative, namer, project_dir)
    if mic_star is None:  # (not found: the micrographs given with --micrographs name the files instead)
        assert namer.known is not None
        names, listing = list(namer.known.values()), namer.where
        builder.notes.append(
            f"{path}: names {relative}, which is not found; micrographs from {listing}, coordinate files *{suffix} "
            f"in {job}"
        )
    else:
        names, listing = micrograph_names(mic_star), str(mic_star)
        builder.notes.append(f"{path}: micrographs from {_as_typed(mic_star)}, coordinate files *{suffix} in {job}")
    if not names:
        raise InputFileError(
            f"{path}: names {listing}, which lists no micrographs; expected the job's micrographs STAR"
        )
    entries = []
    for name in names:
        file = job / relative_coordinate_path(name, suffix)
        if _has_coordinate_file(file):
            entries.append((str(file), name))
    if not entries:
        raise InputFileError(
            f"{path}: none of the micrographs of {listing} has a coordinate file in {job} "
            f"(expected e.g. {job / relative_coordinate_path(names[0], suffix)})"
        )
    picks = _read_stars(entries, builder)
    if mic_star is not None:
        picks.micrographs_star = (relative, str(mic_star))
    return picks


def _named_star(path: Path, relative: str, namer: MicrographNamer, project_dir: Path | None) -> Path | None:
    """The micrographs STAR a 3.x job's ``coords_suffix`` file names, where it is found.

    None when it is not found and ``--micrographs`` names the micrographs instead (a job
    copied without its project).
    """
    try:
        root = project_root(relative, path, project_dir)
    except CryodedupError as err:
        if namer.known is not None:
            return None
        raise CryodedupError(f"{err}, or give the job's micrographs with --micrographs") from None
    return Path(relative) if Path(relative).is_absolute() else root / relative


def _suffix_file_lines(path: Path) -> list[str]:
    """The lines of a RELION 3.x ``coords_suffix`` file that are not blank, stripped.

    The file is one line naming a micrographs STAR: one megabyte is far more than any path,
    and reading no further keeps a runaway file (or one line of 50 MB) from being taken in.
    """
    what = "a RELION 3 coords_suffix file (one line naming a micrographs STAR)"
    text = read_foreign(path, what, _SUFFIX_FILE_LIMIT)
    # (lines at \n alone, as RELION reads them: a path holding U+2029 is one line)
    lines = (line.strip(" \t\r") for line in text.decode("utf-8", errors="replace").split("\n"))
    return [line for line in lines if line]


#: Bytes read of a ``coords_suffix`` file at most (it names one path).
_SUFFIX_FILE_LIMIT = 2**20


def _has_coordinate_file(file: Path) -> bool:
    """Whether a micrograph of a RELION 3.x job has its coordinate file ``file``.

    A micrograph without one was not picked; a FIFO or a folder in its place is refused (a
    reader would wait on a FIFO for ever), not taken as "no picks".
    """
    try:
        mode = os.stat(file).st_mode  # one stat a micrograph: a job has thousands
    except FileNotFoundError:
        return False
    except OSError:
        mode = 0  # not readable: check_regular_file names the error
    if not stat.S_ISREG(mode):
        check_regular_file(file, "a coordinate file")  # refuses it, saying what it is
    return True


#: The option of a RELION 4/5 job.star that names the micrographs a picking job ran on (AutoPick, ManualPick).
_MICROGRAPHS_OPTIONS = ("fn_input_autopick", "fn_in")


def job_micrographs(listing: Path, project_dir: Path | None) -> tuple[str, str] | None:
    """The micrographs STAR a RELION picking job names: as named, and the path to read.

    A 3.x job names it in its ``coords_suffix_*.star``; a 4/5 job (``listing`` is its
    ``autopick.star`` or ``manualpick.star``) in the ``job.star`` beside it
    (``fn_input_autopick``, ManualPick's ``fn_in``). None when the job does not say, or
    the file named is not found.
    """
    named = job_micrographs_named(listing)
    if named is None:
        return None
    try:
        root = project_root(named, listing, project_dir)
    except CryodedupError:
        return None
    return named, str(Path(named) if Path(named).is_absolute() else root / named)


def job_micrographs_named(listing: Path) -> str | None:
    """The micrographs STAR a RELION picking job names (as :func:`job_micrographs` finds it), found or not."""
    if listing.name.startswith("coords_suffix_"):
        lines = _suffix_file_lines(listing)
        named = lines[0] if len(lines) == 1 and not lines[0].startswith("data_") else None
    else:
        named = _job_star_option(listing.parent / "job.star", _MICROGRAPHS_OPTIONS)
    return named if named and named.endswith(".star") else None


def _job_star_option(job_star: Path, options: tuple[str, ...]) -> str | None:
    """The value of the first of ``options`` set in a RELION 4/5 ``job.star`` (None without one)."""
    values = job_options(job_star.parent)
    return next((values[o] for o in options if values.get(o)), None)


def read_coordinate_stars(files: list[Path], source: str, namer: MicrographNamer) -> Picks:
    """Per-micrograph coordinate STAR files, the micrograph named by the file name.

    These are ``*_autopick.star``, ``*_manualpick.star`` and crYOLO's ``.star``.
    """
    builder = PicksBuilder(source, "relion", namer)
    return _read_stars([(str(f), stem(f)) for f in files], builder)


def _read_stars(entries: list[tuple[str, str]], builder: PicksBuilder) -> Picks:
    files = [file for file, _ in entries]
    tables = read_tables(files, "star", ["rlnCoordinateX"], ["rlnCoordinateX", "rlnCoordinateY", SCORE])
    first = len(builder.files)
    labels_read: list[list[str]] = []
    for (file, name), labels, header, footer in zip(entries, tables.labels, tables.headers, tables.footers):
        if labels is None or "rlnCoordinateY" not in labels:
            raise InputFileError(f"{file}: no loop with rlnCoordinateX and rlnCoordinateY; not a coordinate file")
        if "rlnMicrographName" in labels:
            raise InputFileError(
                f"{file}: has rlnMicrographName: a particle STAR, not a per-micrograph coordinate file"
            )
        if "rlnCoordinateZ" in labels:
            raise InputFileError(_tomogram_picks(file, labels))
        builder.add_file(file, name, header, footer)
        labels_read.append(labels)
    score_in = {SCORE in labels for labels in labels_read}
    numbers = tables.numbers
    builder.add_tables(tables, first, numbers["rlnCoordinateX"], numbers["rlnCoordinateY"], numbers[SCORE])
    if len(score_in) > 1:
        builder.notes.append(f"{SCORE} is missing from some files: their picks have no score (NaN, ranked last)")
    # Scored when any file has the figure of merit (the others' picks are NaN, ranked last).
    return builder.build(own_score([SCORE], lambda label: True in score_in))


def _tomogram_picks(file: str, labels: list[str]) -> str:
    """The refusal of a tomogram's 3-D picks among per-micrograph coordinate files, with what reads them.

    Read as a micrograph's picks, x and y alone would be compared: picks far apart in z would be
    called duplicates. A file naming its tomogram (rlnTomoName: a RELION 5 Picks job's annotation
    file) is read whole as an input of its own; one that does not (a template matcher's per-tomogram
    file) is named by a RELION 5 import list.
    """
    what = (
        f"{file}: has rlnCoordinateZ: a tomogram's 3-D picks, not a micrograph's coordinate file "
        "(read as one, z would be ignored); "
    )
    if "rlnTomoName" in labels:
        return what + "give each such file as an input of its own, not in a folder or pattern"
    return what + "give a RELION 5 import list naming it (a STAR loop of rlnTomoName and rlnTomoImportParticleFile)"
