"""What kind of input a path is: the one format detector.

CryoSPARC datasets, Dynamo tables, globs, picker outputs (and, for those, which picker's
files: :func:`picker_files`) are told here, apart from their readers, so that the particle
job imports only the reader its inputs need.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import CryodedupError, InputFileError
from ..paths import StrPath
from .files import check_regular_file, exists, is_folder
from .picker_formats import FORMATS, name_suffixes, pick_suffixes, sniffed, table_suffixes

__all__ = [
    "is_copick_config",
    "is_cryosparc",
    "is_dynamo_table",
    "is_glob",
    "is_optimisation_set",
    "is_picker_output",
    "left_beside",
    "may_be_import_list",
    "may_be_tomograms_star",
    "picker_files",
    "refuse_metadata_input",
    "source_text",
]


def is_glob(path: StrPath) -> bool:
    """Whether ``path`` is a pattern (``*``, ``?``, ``[``) that names files, as picker inputs may be."""
    return any(c in os.fspath(path) for c in "*?[")


def is_cryosparc(path: StrPath) -> bool:
    """True for a CryoSPARC dataset (``.cs``) or result group (``.csg``), by its suffix."""
    return Path(path).suffix in (".cs", ".csg")


def is_dynamo_table(path: StrPath) -> bool:
    """Whether ``path`` names a Dynamo table (by its ``.tbl`` extension)."""
    return Path(path).suffix.lower() == ".tbl"


#: The suffixes of the microscope's metadata files (EPU, SerialEM), which `micrographs --metadata` reads.
METADATA_SUFFIXES = (".xml", ".mdoc")


def refuse_metadata_input(path: StrPath, instead: str) -> None:
    """Refuses microscope metadata given where particles or images go, saying where it goes instead.

    Read as a STAR file or an MRC image, an EPU .xml fails on its first line with an error that
    names neither the mistake nor the option it belongs to.
    """
    if Path(path).suffix.lower() in METADATA_SUFFIXES:
        raise InputFileError(
            f"{path}: microscope metadata (EPU .xml or SerialEM .mdoc), not {instead}; "
            "it is read by `cryodedup micrographs --metadata`"
        )


def is_copick_config(path: StrPath) -> bool:
    """Whether ``path`` is a copick project's config: a JSON file naming ``pickable_objects``."""
    path = Path(path)
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    key = b'"pickable_objects"'
    with open(path, "rb") as f:
        # Chunk by chunk to the end: a long description before the objects (50 MB) is still a config.
        tail = b""
        while chunk := f.read(1 << 20):
            if key in tail + chunk:
                return True
            tail = chunk[-len(key) :]
    return False


def is_optimisation_set(path: Path) -> bool:
    """Whether ``path`` is RELION 5's optimisation set: a STAR whose first bytes name a particles file, in no loop."""
    if path.suffix.lower() != ".star" or not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(16384)  # (its few pairs come first)
    return b"_rlnTomoParticlesFile" in head and b"loop_" not in head


def is_picker_output(path: StrPath) -> bool:
    """True for a picker's output: a folder, a glob pattern or a coordinate file.

    A coordinate file is known by its name, or is a STAR whose first 64 KiB show a
    coordinate list or coordinates without micrograph names, nor a particle table's marks.
    A particle STAR or a CryoSPARC file is not a picker's output.
    """
    text = str(path)
    path = Path(text)
    if path.is_dir() or (is_glob(text) and not path.exists()):
        return True
    if is_copick_config(path):
        return False
    if path.suffix in pick_suffixes() or path.name.startswith("coords_suffix_"):
        return True
    if path.name.endswith(("_autopick.star", "_manualpick.star")):
        return True
    if path.suffix != ".star" or not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(65536).decode("utf-8", errors="replace")
    if "data_coordinate_files" in head:
        return True
    particle_marks = ("_rlnMicrographName", "_rlnTomoName", "_rlnImageName", "data_particles", "data_optics")
    return "_rlnCoordinateX" in head and not any(mark in head for mark in particle_marks)


def picker_files(paths: StrPath | Sequence[StrPath]) -> tuple[list[Path], str]:
    """The files of one picker's output (see :func:`read_picks`) and their format."""
    files = expand(paths)
    if len(files) == 1 and is_folder(files[0]):
        files = _folder_files(files[0])
    kinds = {_kind(f) for f in files}
    if len(kinds) > 1:
        raise InputFileError(
            f"{source_text(paths)}: mixes coordinate formats ({', '.join(sorted(kinds))}); give one picker per input"
        )
    return files, kinds.pop()


def source_text(paths: StrPath | Sequence[StrPath]) -> str:
    """One picker's input as the user gave it, for messages and summaries."""
    return " ".join(str(p) for p in (paths if isinstance(paths, (list, tuple)) else [paths]))


def expand(paths: StrPath | Sequence[StrPath]) -> list[Path]:
    """Files named by ``paths``: globs expanded (sorted), missing files refused."""
    items = paths if isinstance(paths, (list, tuple)) else [paths]
    files: list[Path] = []
    for item in items:
        text = str(item)
        if is_glob(text) and not exists(text):
            matches = sorted(glob.glob(text))
            if not matches:
                raise InputFileError(f"{text}: no file matches this pattern")
            files += [Path(m) for m in matches]
        elif not exists(text):
            raise InputFileError(f"{text}: file not found")
        else:
            files.append(Path(text))
    if len(files) > 1 and any(is_folder(f) for f in files):
        raise CryodedupError(f"{' '.join(map(str, items))}: give one folder, or files, per input")
    return files


def _folder_files(folder: Path) -> list[Path]:
    """The coordinate files of a picker's output folder."""
    _refuse_several_jobs(folder)
    for name in ("autopick.star", "manualpick.star"):
        if (folder / name).is_file():
            return [folder / name]
    suffix_files = sorted(folder.glob("coords_suffix_*.star"))
    if suffix_files:
        return suffix_files[:1]
    for sub in ("CBOX", "STAR", "EMAN", "info", "."):
        base = folder / sub
        if not base.is_dir():
            continue
        for pattern, _ in name_suffixes()[:-1]:
            found = _files_only(base.rglob(f"*{pattern}"))
            if found:
                return found
        found = [p for p in _files_only(base.glob("*.star")) if p.name not in RELION_JOB_FILES]
        _refuse_particle_stars(folder, found)
        if found:
            return found
    tables = _files_only(p for p in folder.iterdir() if p.suffix in table_suffixes())
    if len(tables) == 1:
        return tables
    stars = sorted(p.name for p in folder.glob("*.star"))
    raise CryodedupError(
        f"{folder}: no picker output found ({', '.join(f.found_as for f in FORMATS)})"
        + (f"; its STAR files: {', '.join(stars)}" if stars else "")
    )


#: A RELION job's folder (job006), known by a file every job writes or a picking job's list.
RELION_JOB_FOLDER = re.compile(r"job\d{3,}")
RELION_JOB_MARKS = ("job.star", "autopick.star", "manualpick.star", "note.txt")


def _refuse_several_jobs(folder: Path) -> None:
    """Refuses a folder holding several RELION jobs (``AutoPick/``): it is read as one picker's output.

    Read whole, two jobs' coordinate files would be merged as one picker's picks, or refused
    as a mix of formats when the jobs wrote them differently: neither says what the folder is.
    """
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return  # (the reading below says what is wrong with the folder)
    jobs = [
        entry.name
        for entry in entries
        if RELION_JOB_FOLDER.fullmatch(entry.name)
        and entry.is_dir()
        and any((entry / mark).is_file() for mark in RELION_JOB_MARKS)
    ]
    if len(jobs) > 1:
        shown = ", ".join(jobs[:5]) + (f" and {len(jobs) - 5} more" if len(jobs) > 5 else "")
        raise CryodedupError(
            f"{folder}: holds {len(jobs)} RELION jobs ({shown}), and a folder is read as one picker's output: "
            f"give one job's folder ({folder / jobs[0]}), or each job as its own input"
        )


#: A RELION job's own files, never coordinates.
RELION_JOB_FILES = ("job.star", "job_pipeline.star", "default_pipeline.star")


def _refuse_particle_stars(folder: Path, stars: list[Path]) -> None:
    """Refuses a folder that holds particle STAR files (a RELION Extract or Select job): the user meant one of them."""
    particles = [str(p) for p in stars if _is_particle_star(p)]
    if particles:
        raise CryodedupError(
            f"{folder}: a folder is read as one picker's per-micrograph coordinate files, and this one holds "
            f"particle STAR files: give {' or '.join(particles)} (its STAR files: {', '.join(p.name for p in stars)})"
        )


def _is_particle_star(path: Path) -> bool:
    """Whether the first 64 KiB of a STAR file show a particle table (micrograph names with coordinates or images)."""
    with open(path, "rb") as f:
        head = f.read(65536).decode("utf-8", errors="replace")
    return "_rlnMicrographName" in head and ("_rlnCoordinateX" in head or "_rlnImageName" in head)


def _files_only(paths: Iterable[Path]) -> list[Path]:
    """``paths`` sorted, without folders; a FIFO, device or socket among them is refused.

    Leaving one out would lose its micrograph's picks without a word, and reading it would
    wait for ever.
    """
    files = []
    for path in paths:
        if not path.is_dir():
            files.append(check_regular_file(path, "a coordinate file"))
    return sorted(files)


def left_beside(files: list[Path]) -> list[str]:
    """Warnings for per-micrograph files of another format in the folders ``files`` were read from.

    A folder holding a picker's ``.cbox`` files and another's ``.box`` files is read as the
    first (``.cbox`` before ``.box``, see :func:`picker_formats.name_suffixes`): the others
    must not be left out without a word.
    """
    read = {f.name for f in files}
    suffixes = name_suffixes()
    read_suffix = next((s for s, _ in suffixes if files and files[0].name.endswith(s)), "")
    warnings = []
    for folder in sorted({f.parent for f in files}):
        left: dict[str, list[str]] = {}
        for name in os.listdir(folder):
            suffix = next((s for s, _ in suffixes[:-1] if name.endswith(s)), None)
            if suffix is not None and suffix != read_suffix and name not in read:
                left.setdefault(suffix, []).append(name)
        for suffix, names in sorted(left.items()):
            warnings.append(
                f"{len(names)} {suffix} file{'s' if len(names) > 1 else ''} (e.g. {sorted(names)[0]}) beside the "
                f"{read_suffix or 'coordinate'} files read in {folder} left out: give them as an input of their own "
                f"('{folder}/*{suffix}') if they are another picker's"
            )
    return warnings


def _kind(path: Path) -> str:
    """The format of one file, from its name and first bytes; unknown files are refused."""
    name = path.name
    if is_folder(path):
        raise InputFileError(f"{path}: give one folder, or files, per input")
    if name.startswith("coords_suffix_") and name.endswith(".star"):
        return "relion-suffix"
    for suffix, kind in name_suffixes():
        if name.endswith(suffix):
            return _star_kind(path) if kind == "star" else kind
    check_regular_file(path, "a picker coordinate file")
    with open(path, "rb") as f:
        head = f.read(4096).decode("utf-8", errors="replace")
    first = next((line for line in head.splitlines() if line.strip()), "")
    if (told := sniffed(first)) is not None:
        return told
    if first.lstrip().startswith("data_") or "\ndata_" in head:
        return _star_kind(path)
    raise InputFileError(
        f"{path}: not a picker coordinate file cryodedup reads ({', '.join(f.read_as for f in FORMATS)})"
    )


def _star_kind(path: Path) -> str:
    """The kind of a STAR file, or an error when it holds no picks.

    It is the RELION 4/5 coordinate list, a per-micrograph coordinate file, or a crYOLO cbox
    under another name.
    """
    from .star.file import StarFile  # (a picker's file: a particle job on a .cs reads no STAR)

    star = StarFile(path)
    if star.block("coordinate_files") is not None:
        return "relion-list"
    if star.block("cryolo") is not None:
        return "cryolo-cbox"
    for block in star.blocks:
        labels = block.labels or []
        if "rlnCenteredCoordinateXAngst" in labels:  # a RELION 5 Picks job's particles.star, or refined subtomograms
            raise InputFileError(
                f"{path}: a RELION 5 tomography particle STAR (rlnCenteredCoordinateX/Y/ZAngst), not a picker's "
                "coordinate file (a folder or a quoted pattern is read as one picker's per-micrograph files): give it "
                "as an input of its own"
            )
        if "rlnCoordinateX" in labels and "rlnMicrographName" not in labels:
            return "relion"
        if "rlnMicrographName" in labels and ("rlnCoordinateX" in labels or "rlnImageName" in labels):
            raise InputFileError(
                f"{path}: a particle STAR (rlnMicrographName with coordinates), not a picker's coordinate file "
                "(a folder or a quoted pattern is read as one picker's per-micrograph files): give each particle "
                "STAR as an input of its own, or the pattern without quotes"
            )
    raise InputFileError(
        f"{path}: a STAR file without picks: expected data_coordinate_files (autopick.star) or a loop with "
        "rlnCoordinateX/rlnCoordinateY (a per-micrograph coordinate file)"
    )


#: The label RELION 5's import lists name their coordinate files by, at the start of a line.
_IMPORT_LIST_LABEL = re.compile(rb"^[ \t]*_rlnTomoImportParticleFile(?:[ \t#\r]|$)", re.MULTILINE)


#: The labels of a tomograms STAR (RELION 4 and 5's tomograms.star), at the start of a line.
_TOMOGRAMS_LABEL = re.compile(rb"^[ \t]*_rlnTomoTiltSeriesPixelSize(?:[ \t#\r]|$)", re.MULTILINE)
_MICROGRAPH_LABEL = re.compile(rb"^[ \t]*_rlnMicrographName(?:[ \t#\r]|$)", re.MULTILINE)


def may_be_tomograms_star(path: StrPath) -> bool:
    """Whether the first MiB of ``path`` names a tomogram's tilt-series pixel and no micrograph: a tomograms STAR.

    A look at the header, where reading it again would cost a parse the reader made already
    (:func:`~cryodedup.formats.star.tomograms.tomograms_star` decides what it holds).
    """
    head = _head(path)
    return bool(_TOMOGRAMS_LABEL.search(head)) and not _MICROGRAPH_LABEL.search(head)


def _head(path: StrPath) -> bytes:
    """The first MiB of a regular file (a FIFO would block the read), else nothing."""
    try:
        with open(check_regular_file(path), "rb") as f:
            return f.read(1 << 20)
    except (OSError, CryodedupError):
        return b""


def may_be_import_list(path: StrPath) -> bool:
    """Whether the first MiB of ``path`` names ``rlnTomoImportParticleFile``: a RELION 5 import list, maybe.

    :func:`~cryodedup.formats.star.import_lists.is_import_list` decides. A regular file only (a
    FIFO would block the read).
    """
    return bool(_IMPORT_LIST_LABEL.search(_head(path)))
