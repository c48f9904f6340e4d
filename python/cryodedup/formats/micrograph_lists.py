"""Lists of micrographs: a micrographs STAR, CryoSPARC exposures, or MRC files and globs.

Their names as the list writes them, their pixel sizes (:class:`ListedPixelSizes`: a
micrograph's looked up by path, then by file name as ``--match-micrographs`` says), and where
their files are. The
particle job reads ``--micrographs`` through ``micrograph_list``; the micrograph job reads its
inputs through ``load_inputs``, keeping what it needs to write a subset in the input's format.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CryodedupError, InputFileError
from ..particle_set import StatedPixelSizes
from ..paths import StrPath
from ..resolve.micrograph_names import listed_by_file_name, name_key
from .sniff import is_cryosparc, is_glob, refuse_metadata_input

# Each list's format is imported when a list of it is read: the particle job imports this
# module for its paths alone (start-up is a fixed cost of every run).
if TYPE_CHECKING:
    from .cryosparc.dataset import CsGroup
    from .star.file import Block, StarFile

__all__ = [
    "ListedPixelSizes",
    "MicrographList",
    "Micrographs",
    "find_image",
    "images_found",
    "listed_names_by_file_name",
    "load_inputs",
    "micrograph_list",
    "resolve_paths",
    "search_roots",
    "stated_pixel_sizes",
]


def listed_names_by_file_name(names: Sequence[str], listed: Sequence[str]) -> dict[str, str]:
    """The listed name of each of ``names`` not listed as written, where one alone has its file name.

    As pixel sizes are looked up (:func:`listed_by_file_name`): a key (``name_key``: ``TS_01.mrc``
    and ``TS_01`` alike) that two of ``names`` share, or that names two listed entries, is not
    looked up: the caller then refuses the name.
    """
    keys = [name_key(n) for n in names]
    by_key: dict[str, list[str]] = {}
    for entry in listed:
        by_key.setdefault(name_key(entry), []).append(entry)
    found = {}
    for name, key in zip(names, keys):
        if name not in by_key.get(key, ()) and keys.count(key) == 1 and len(by_key.get(key, ())) == 1:
            found[name] = by_key[key][0]
    return found


@dataclass
class MicrographList:
    """The micrographs a user named with ``--micrographs``: a micrographs STAR or CryoSPARC exposures.

    Attributes
    ----------
    path : Path
        The file given.
    names : list of str
        ``rlnMicrographName``, or the exposures' ``micrograph_blob/path``.
    pixel_sizes : dict of str -> float
        Micrograph pixel size in Å by name.
    pixel_size_field : str
        Where the pixel sizes come from (``rlnMicrographPixelSize``, ``micrograph_blob/psize_A``).
    shapes : dict of str -> (ny, nx), or None
        The exposures' ``micrograph_blob/shape``; None for a STAR (sizes are in the MRC files).
    uids : dict of str -> int, or None
        The exposures' ``uid`` by name.
    """

    path: Path
    names: list[str]
    pixel_sizes: dict[str, float]
    pixel_size_field: str
    shapes: dict[str, tuple[int, int]] | None = None
    uids: dict[str, int] | None = None


def micrograph_list(path: StrPath) -> MicrographList:
    """Reads a micrographs STAR, or CryoSPARC exposures (``.cs``/``.csg`` of Patch CTF, Curate Exposures...)."""
    path = Path(path)
    if not is_cryosparc(path):
        from .star.micrographs import PIXEL_SIZE_FIELD, MicrographsStar

        listed = MicrographsStar.read(path)
        return MicrographList(path, listed.names, listed.pixel_sizes(), PIXEL_SIZE_FIELD)
    from .cryosparc.exposures import PATH_FIELD, Exposures
    from .cryosparc.exposures import PIXEL_SIZE_FIELD as EXPOSURE_PIXEL_SIZE

    exposures = Exposures.read(path, (PATH_FIELD, EXPOSURE_PIXEL_SIZE))
    names = exposures.names
    return MicrographList(
        path, names, exposures.pixel_sizes(), EXPOSURE_PIXEL_SIZE, exposures.shapes(), exposures.uids()
    )


def stated_pixel_sizes(path: StrPath | None, given: float | None) -> StatedPixelSizes | None:
    """What a micrographs list (``--micrographs``) states of the pixel size, for a typed one (``given``) to be checked.

    Read only when both are given (the typed value overrides the list's otherwise); judged by
    ``resolve.given_psize.stated_evidence``.
    """
    if path is None or given is None:
        return None
    path = Path(path)
    if not is_cryosparc(path):
        from .star.micrographs import MicrographsStar

        return MicrographsStar.read(path).stated_pixel_sizes()
    listed = micrograph_list(path)
    return StatedPixelSizes(f"in {path}", tuple(listed.pixel_sizes.values()), listed.pixel_size_field)


def resolve_paths(names: list[str], source: Path | None, project_dir: Path | None) -> tuple[list[Path], Path]:
    """Paths of the micrograph files, and the folder they were found under.

    RELION and CryoSPARC write paths relative to the project folder: try ``project_dir``
    (default: the current folder), then the folders above the input file.
    """
    roots = search_roots(source, project_dir)
    for root in roots:
        paths = [Path(n) if Path(n).is_absolute() else root / n for n in names]
        if paths and os.path.exists(paths[0]):  # (os.path's: False for a name too long, ENAMETOOLONG)
            return paths, root
    return [Path(n) if Path(n).is_absolute() else roots[0] / n for n in names], roots[0]


def image_names(name: str) -> list[str]:
    """The file names a micrograph's image may have: a bare file stem is tried as .mrc first.

    Pickers know a micrograph by its file stem (crYOLO's x.cbox, topaz's rows, for x.mrc).
    """
    base = name.rstrip("/").rpartition("/")[2]
    dot = base.rfind(".")
    has_suffix = 0 < dot < len(base) - 1  # as Path(name).suffix, without making a Path (thousands of names)
    return [name] if has_suffix else [f"{name}.mrc", name]


def find_image(name: str, source: Path | None, project_dir: Path | None) -> Path:
    """The path of a micrograph's image file (:func:`image_names`), or the first path looked for in vain."""
    tried = [resolve_paths([n], source, project_dir)[0][0] for n in image_names(name)]
    return next((p for p in tried if os.path.exists(p)), tried[0])  # (a name too long: not found)


def search_roots(source: Path | None, project_dir: Path | None) -> list[Path]:
    """Where relative micrograph paths are looked for, in order.

    ``project_dir`` (default: the current folder), then the folders above ``source``.
    """
    roots = [project_dir or Path.cwd()]
    if source is not None:
        roots += list(source.resolve().parents)
    return roots


def found_under(names: Sequence[str], roots: Sequence[Path]) -> list[bool]:
    """Whether each file exists under any of ``roots`` (an absolute name: where it says).

    What :func:`resolve_paths` finds for one name, for thousands at the cost of one ``stat``
    per folder they name: a folder missing under a root rules out all its names there at once
    (the common case of images that are elsewhere); a name is ``stat``'d only when its
    folder exists.
    """
    by_folder: dict[str, list[int]] = {}
    for k, name in enumerate(names):
        by_folder.setdefault(os.path.dirname(name.rstrip("/")), []).append(k)  # "a/b/" is b in a, as for Path
    found = [False] * len(names)
    for folder, members in by_folder.items():
        for root in [Path()] if os.path.isabs(folder) else roots:
            if not os.path.isdir(root / folder):
                continue
            for k in members:
                found[k] = found[k] or os.path.exists(root / names[k])
    return found


def images_found(names: Sequence[str], roots: Sequence[Path]) -> dict[int, Path]:
    """The image file of each of the micrographs ``names`` found under ``roots``, by index (absent: none found).

    What :func:`find_image` finds for one name (the first of :func:`image_names` under the
    first root that has it), for thousands at :func:`found_under`'s cost: a ``stat`` per
    folder and root, and one per name only where its folder exists. The names of a folder
    found under no root are left before their images' names are made.
    """
    found: dict[int, Path] = {}
    for folder, members in _by_folder(names).items():
        if any(os.path.isdir(root / folder) for root in ([Path()] if os.path.isabs(folder) else roots)):
            in_folder = _images_found_in([names[k] for k in members], roots)
            found.update((members[j], path) for j, path in in_folder.items())
    return dict(sorted(found.items()))


def _by_folder(names: Sequence[str]) -> dict[str, list[int]]:
    """The index of each name, by the folder it names."""
    by_folder: dict[str, list[int]] = {}
    for k, name in enumerate(names):
        # (os.path.dirname, at a third of its cost: "a//b" gives "a/", the same folder)
        folder = name.rstrip("/").rpartition("/")[0] or ("/" if name.startswith("/") else "")
        by_folder.setdefault(folder, []).append(k)
    return by_folder


def _images_found_in(names: Sequence[str], roots: Sequence[Path]) -> dict[int, Path]:
    """:func:`images_found` of names whose folder exists under some root: each name's images looked for."""
    tried = [(k, image) for k, name in enumerate(names) for image in image_names(name)]
    by_folder: dict[str, list[int]] = {}
    for t, (_, image) in enumerate(tried):
        by_folder.setdefault(os.path.dirname(image.rstrip("/")), []).append(t)
    hits: dict[int, Path] = {}
    for folder, members in by_folder.items():
        for root in [Path()] if os.path.isabs(folder) else roots:
            if not os.path.isdir(root / folder):
                continue
            for t in members:
                if t not in hits and os.path.isfile(root / tried[t][1]):  # (a name too long: not found)
                    hits[t] = root / tried[t][1]
    found: dict[int, Path] = {}
    for t in sorted(hits):  # (a micrograph's names in image_names' order: the first found is its image)
        found.setdefault(tried[t][0], hits[t])
    return found


@dataclass
class Micrographs:
    """The input micrographs.

    Their names as the input writes them, their files, the pixel size, and what is needed to
    write a subset in the input's format.
    """

    kind: str  # "star", "cs" or "mrc"
    names: list[str]
    paths: list[Path]
    psize: float | None
    root: Path | None = None
    star: StarFile | None = None
    block: Block | None = None
    group: CsGroup | None = None
    source: Path | None = None
    uids: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    #: The pixel sizes the list states, to check a typed ``--psize`` and the MRC headers against (None: no list).
    stated: StatedPixelSizes | None = None
    #: Each MRC file's ``os.stat`` when listed, by its name (files given or globbed; not for a STAR or .cs).
    stats: dict[str, os.stat_result] | None = None


def _from_star(path: Path, psize: float | None, project_dir: Path | None) -> Micrographs:
    from .star.micrographs import MicrographsStar

    listed = MicrographsStar.read(path)
    row_names = listed.names
    stated = listed.stated_pixel_sizes()
    if psize is None:
        try:
            values = set(listed.pixel_sizes().values())
        except CryodedupError:  # no pixel size in the STAR: the MRC headers may hold it
            values = set()
        if len(values) > 1:
            raise InputFileError(
                f"{path}: micrographs of different pixel sizes ({sorted(values)}); "
                "deduplicate each optics group on its own"
            )
        psize = values.pop() if values else None
    _refuse_names_listed_twice(path, row_names)
    paths, root = resolve_paths(row_names, path, project_dir)
    return Micrographs(
        "star", row_names, paths, psize, root, star=listed.star, block=listed.block, source=path, stated=stated
    )


def _from_cs(path: Path, psize: float | None, project_dir: Path | None) -> Micrographs:
    from .cryosparc.exposures import PIXEL_SIZE_FIELD as EXPOSURE_PIXEL_SIZE
    from .cryosparc.exposures import Exposures

    exposures = Exposures.read(path)
    group, names = exposures.group, exposures.names
    stated = None
    if psize is None:
        psize = exposures.pixel_size()
    if group.has(EXPOSURE_PIXEL_SIZE):
        values = tuple(group.column(EXPOSURE_PIXEL_SIZE).tolist())
        stated = StatedPixelSizes(f"in {path}", values, EXPOSURE_PIXEL_SIZE)
    _refuse_names_listed_twice(path, names)
    paths, root = resolve_paths(names, path, project_dir)
    uids = group.column("uid")
    return Micrographs("cs", names, paths, psize, root, group=group, source=path, uids=uids, stated=stated)


def _from_mrc(patterns: list[Path], psize: float | None) -> Micrographs:
    names = []
    for p in patterns:
        matches = sorted(glob.glob(str(p))) if is_glob(p) else [str(p)]
        if not matches:
            raise InputFileError(f"{p}: no file matches")
        names += matches
    stats = _refuse_files_given_twice(names)
    return Micrographs("mrc", names, [Path(n) for n in names], psize, stats=stats)


def _refuse_names_listed_twice(path: Path, names: list[str]) -> None:
    """Refuses a list that names one micrograph on several rows (a particle file, most often).

    Each row would be compared with its copies: perfect duplicates, every copy rejected.
    """
    seen: set[str] = set()
    for row, name in enumerate(names, start=1):
        if name in seen:
            raise InputFileError(
                f"{path}: micrograph {name} is listed again on row {row} (a particle file?): give a list "
                "of micrographs, one row each, and the particles with --particles"
            )
        seen.add(name)


def _refuse_files_given_twice(names: list[str]) -> dict[str, os.stat_result]:
    """Refuses an MRC file given twice (by name, through a link, or by two patterns); returns each one's stat.

    It would be compared with itself: a perfect duplicate, kept once and rejected once.
    """
    seen: dict[tuple[int, int], str] = {}
    stats: dict[str, os.stat_result] = {}
    for name in names:
        try:
            st = os.stat(name)
        except OSError:
            continue  # (the reader names a missing or unreadable file)
        identity = (st.st_dev, st.st_ino)
        if identity in seen:
            raise CryodedupError(f"{name}: the same file as the input {seen[identity]}; give each micrograph once")
        seen[identity] = name
        stats[name] = st
    return stats


def load_inputs(inputs: Sequence[StrPath], psize: float | None = None, project_dir: Path | None = None) -> Micrographs:
    """The micrographs of one STAR, one CryoSPARC exposures file, or a list of MRC files and globs.

    Parameters
    ----------
    inputs : list of path
        One ``.star``, one ``.cs``/``.csg``, or MRC files and glob patterns.
    psize : float, optional
        Overrides the input's pixel size (Å).
    project_dir : path, optional
        The folder relative paths start from (default: the current folder, then the input's).

    Returns
    -------
    Micrographs
    """
    paths = [Path(p) for p in inputs]
    for path in paths:
        refuse_metadata_input(path, "a micrograph image")
    if len(paths) == 1 and paths[0].suffix == ".star":
        return _from_star(paths[0], psize, project_dir)
    if len(paths) == 1 and is_cryosparc(paths[0]):
        return _from_cs(paths[0], psize, project_dir)
    if any(p.suffix == ".star" or is_cryosparc(p) for p in paths):
        raise CryodedupError("give one micrographs STAR, one CryoSPARC exposures file, or MRC files")
    return _from_mrc(paths, psize)


def listed_source(field: str, path: object) -> str:
    """The summary's source for pixel sizes read from the column ``field`` of the file ``path``."""
    return f"{field} in {path}"


def _place(where: str | Callable[[str], str], name: str) -> str:
    """The file that refers to the micrograph ``name``."""
    return where if isinstance(where, str) else where(name)


@dataclass(frozen=True)
class ListedPixelSizes:
    """The micrograph pixel sizes a list the user gave (``--micrographs``) or a job names, by micrograph.

    A micrograph is looked up by its exact path, then (``match_mode`` auto or name) by its
    file-name key (:meth:`lookup`); :meth:`sizes` refuses one that is missing or has no
    pixel size > 0 in one wording for every reader, naming the file that refers to it, the
    micrograph and the list. ``field`` is the list's pixel-size column (the summary's source).
    CryoSPARC particles look their exposures up by uid: keys that are no paths, ``match_mode``
    path.
    """

    path: object
    psizes: dict[str, float]
    match_mode: str
    field: str

    def sizes(self, where: str | Callable[[str], str], names: Sequence[str]) -> tuple[np.ndarray, set[str]]:
        """The pixel size of each of ``names`` (each > 0), and the names found by file name."""
        listed, by_name = self.lookup(where, names)
        missing = [name for name in names if name not in listed]
        if missing:
            raise CryodedupError(self.not_listed(where, missing, list(names)))
        values = np.array([listed[name] for name in names], dtype=np.float64)
        bad = np.flatnonzero(~(values > 0))
        if len(bad):
            name = names[bad[0]]
            raise InputFileError(
                f"{_place(where, name)}: micrograph {name!r} has no pixel size in {self.path} ({self.field} is "
                f"{values[bad[0]]:g}); give it with --mic-psize"
            )
        return values, by_name

    def lookup(self, where: str | Callable[[str], str], names: Sequence[str]) -> tuple[dict[str, float], set[str]]:
        """The pixel size of each of ``names`` the list gives, and those found by file name.

        A re-processed copy names ``MotionCorr/job099/Movies/x.mrc`` where the STAR lists
        ``MotionCorr/job002/Movies/x.mrc`` (docs/developers/decisions/matching-micrographs.md).
        A key that names listed micrographs of different pixel sizes is refused (naming the file ``where``),
        never guessed.
        Names found neither way are left out (:meth:`not_listed` words them).
        """
        found = {name: self.psizes[name] for name in names if name in self.psizes}
        if self.match_mode == "path" or len(found) == len(names):
            return found, set()
        by_name = listed_by_file_name(names, self.psizes)
        if by_name.ambiguous:
            name, listed = by_name.ambiguous[0]
            choices = ", ".join(f"{other} ({self.psizes[other]:g} Å)" for other in listed[:3])
            more = f"; {len(by_name.ambiguous)} micrographs alike" if len(by_name.ambiguous) > 1 else ""
            raise InputFileError(
                f"{_place(where, name)}: micrograph {name!r} is not in {self.path} by its path, and its file name "
                f"{name_key(name)} names {len(listed)} micrographs there with different pixel sizes: {choices}{more}; "
                "which one it is cannot be told: give a micrographs STAR that lists it by its path, or --mic-psize"
            )
        return {**found, **by_name.found}, set(by_name.found)

    def not_listed(self, where: str | Callable[[str], str], missing: list[str], names: list[str]) -> str:
        """The error for micrographs ``missing`` (of ``names``) that the STAR does not list.

        A re-processed copy names its micrographs under another folder (``MotionCorr/job099/``
        where the micrographs STAR says ``job002``): with ``--match-micrographs path`` they are
        looked up by exact path only, so the message says so and what to give instead; with
        auto or name, those whose file name another micrograph of the same input has are never
        looked up by it, and the message names one.
        """
        message = (
            f"{_place(where, missing[0])}: micrograph {missing[0]!r} is not in {self.path} "
            f"({len(missing)} of {len(names)} micrographs missing)"
        )
        listed = {name_key(name) for name in self.psizes}
        elsewhere = sum(name_key(name) in listed for name in missing)
        if elsewhere and self.match_mode == "path":
            message += (
                f"; {elsewhere} of them are listed there under another folder (the same file name), and with "
                "--match-micrographs path a micrograph's pixel size is looked up by its exact path: use "
                "--match-micrographs auto or name to look it up by file name, or give the micrograph pixel size "
                "with --mic-psize"
            )
        elif elsewhere:
            shared = listed_by_file_name(names, self.psizes).shared
            name, other = shared[0]
            message += (
                f"; {len(shared)} of them have the file name of a micrograph listed there under another folder, but "
                f"so does another micrograph of this file ({name!r} and {other!r}): different micrographs, whose "
                "pixel size is looked up by exact path only; give a micrographs STAR that lists each by its path, or "
                "the micrograph pixel size with --mic-psize"
            )
        return message

    def source(self, n_mics: int, n_by_name: int) -> str:
        """The summary's source for ``n_mics`` micrographs, ``n_by_name`` of them found by file name."""
        source = listed_source(self.field, self.path)
        if n_by_name:
            source += f", {n_by_name:,} of {n_mics:,} micrographs found there by file name under another folder"
        return source
