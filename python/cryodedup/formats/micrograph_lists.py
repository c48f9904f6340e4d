"""Lists of micrographs: a micrographs STAR, CryoSPARC exposures, or MRC files and globs.

Their names as the list writes them, their pixel sizes, and where their files are. The
particle job reads ``--micrographs`` through ``micrograph_list``; the micrograph job reads its
inputs through ``load_inputs``, keeping what it needs to write a subset in the input's format.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from ..errors import CryodedupError
from ..outputs import StrPath
from .cryosparc.dataset import CsGroup
from .sniff import is_cryosparc, is_glob
from .star.file import Block, StarFile
from .star.micrographs import PIXEL_SIZE_FIELD, MicrographsStar


def exposure_pixel_sizes(path: StrPath) -> dict[int, float]:
    """Exposure uid -> micrograph pixel size in Å, from a CryoSPARC exposures dataset."""
    exposures = _exposures(path, ("micrograph_blob/psize_A",))
    return dict(zip(exposures.column("uid").tolist(), exposures.column("micrograph_blob/psize_A").tolist()))


def _exposures(path: StrPath, fields: Sequence[str]) -> CsGroup:
    """A CryoSPARC exposures dataset, refused unless it has every one of ``fields``."""
    exposures = CsGroup.load(path)
    for needed in fields:
        if not exposures.has(needed):
            raise CryodedupError(
                f"{path}: no {needed} field; expected CryoSPARC exposures with micrographs (the exposures output "
                "of Patch Motion Correction, Patch CTF Estimation or Curate Exposures)"
            )
    return exposures


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
        listed = MicrographsStar.read(path)
        return MicrographList(path, listed.names, listed.pixel_sizes(), PIXEL_SIZE_FIELD)
    exposures = _exposures(path, ("micrograph_blob/path", "micrograph_blob/psize_A"))
    names = as_text(exposures.column("micrograph_blob/path"))
    psize = exposures.column("micrograph_blob/psize_A").astype(np.float64).tolist()
    shapes = None
    if exposures.has("micrograph_blob/shape"):
        shape = np.asarray(exposures.column("micrograph_blob/shape")).reshape(len(names), -1)[:, -2:]
        shapes = {n: (int(ny), int(nx)) for n, (ny, nx) in zip(names, shape.tolist())}
    uids = dict(zip(names, (int(u) for u in exposures.column("uid").tolist())))
    return MicrographList(path, names, dict(zip(names, psize)), "micrograph_blob/psize_A", shapes, uids)


def resolve_paths(names: list[str], source: Path | None, project_dir: Path | None) -> tuple[list[Path], Path]:
    """Paths of the micrograph files, and the folder they were found under.

    RELION and CryoSPARC write paths relative to the project folder: try ``project_dir``
    (default: the current folder), then the folders above the input file.
    """
    roots = search_roots(source, project_dir)
    for root in roots:
        paths = [Path(n) if Path(n).is_absolute() else root / n for n in names]
        if paths and paths[0].exists():
            return paths, root
    return [Path(n) if Path(n).is_absolute() else roots[0] / n for n in names], roots[0]


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
                found[k] = found[k] or (root / names[k]).exists()
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


def _from_star(path: Path, psize: float | None, project_dir: Path | None) -> Micrographs:
    listed = MicrographsStar.read(path)
    row_names = listed.names
    if psize is None:
        try:
            values = set(listed.pixel_sizes().values())
        except CryodedupError:  # no pixel size in the STAR: the MRC headers may hold it
            values = set()
        if len(values) > 1:
            raise CryodedupError(
                f"{path}: micrographs of different pixel sizes ({sorted(values)}); "
                "deduplicate each optics group on its own"
            )
        psize = values.pop() if values else None
    _refuse_names_listed_twice(path, row_names)
    paths, root = resolve_paths(row_names, path, project_dir)
    return Micrographs("star", row_names, paths, psize, root, star=listed.star, block=listed.block, source=path)


def _from_cs(path: Path, psize: float | None, project_dir: Path | None) -> Micrographs:
    group = _exposures(path, ("micrograph_blob/path",))
    names = as_text(group.column("micrograph_blob/path"))
    if psize is None and group.has("micrograph_blob/psize_A"):
        values = np.unique(group.column("micrograph_blob/psize_A"))
        if len(values) > 1:
            raise CryodedupError(f"{path}: exposures have different pixel sizes ({values.tolist()})")
        psize = float(values[0]) if len(values) else None
    _refuse_names_listed_twice(path, names)
    paths, root = resolve_paths(names, path, project_dir)
    return Micrographs("cs", names, paths, psize, root, group=group, source=path, uids=group.column("uid"))


def _from_mrc(patterns: list[Path], psize: float | None) -> Micrographs:
    names = []
    for p in patterns:
        matches = sorted(glob.glob(str(p))) if is_glob(p) else [str(p)]
        if not matches:
            raise CryodedupError(f"{p}: no file matches")
        names += matches
    _refuse_files_given_twice(names)
    return Micrographs("mrc", names, [Path(n) for n in names], psize)


def _refuse_names_listed_twice(path: Path, names: list[str]) -> None:
    """Refuses a list that names one micrograph on several rows (a particle file, most often).

    Each row would be compared with its copies: perfect duplicates, every copy rejected.
    """
    seen: set[str] = set()
    for row, name in enumerate(names, start=1):
        if name in seen:
            raise CryodedupError(
                f"{path}: micrograph {name} is listed again on row {row} (a particle file?): give a list "
                "of micrographs, one row each, and the particles with --particles"
            )
        seen.add(name)


def _refuse_files_given_twice(names: list[str]) -> None:
    """Refuses an MRC file given twice (by name, through a link, or by two patterns).

    It would be compared with itself: a perfect duplicate, kept once and rejected once.
    """
    seen: dict[tuple[int, int], str] = {}
    for name in names:
        try:
            st = os.stat(name)
        except OSError:
            continue  # (the reader names a missing or unreadable file)
        identity = (st.st_dev, st.st_ino)
        if identity in seen:
            raise CryodedupError(f"{name}: the same file as the input {seen[identity]}; give each micrograph once")
        seen[identity] = name


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
    if len(paths) == 1 and paths[0].suffix == ".star":
        return _from_star(paths[0], psize, project_dir)
    if len(paths) == 1 and is_cryosparc(paths[0]):
        return _from_cs(paths[0], psize, project_dir)
    if any(p.suffix == ".star" or is_cryosparc(p) for p in paths):
        raise CryodedupError("give one micrographs STAR, one CryoSPARC exposures file, or MRC files")
    return _from_mrc(paths, psize)


def as_text(values: ArrayLike) -> list[str]:
    """Strings of a column that may hold bytes (CryoSPARC paths)."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).tolist()]
