"""Micrograph sizes in pixels, (ny, nx) by name.

A CryoSPARC ``location`` and the topaz scale inference need them. They are read from MRC
headers (the data is not read) or from CryoSPARC exposures (``micrograph_blob/shape``, [ny, nx]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..csfile import CsGroup
from ..errors import CryodedupError
from ..micrographs import resolve_paths
from ..outputs import StrPath


def mrc_shapes(
    names: list[str], *, source: StrPath | None = None, project_dir: Path | None = None
) -> dict[str, tuple[int, int]]:
    """(ny, nx) of each micrograph from its MRC header.

    Parameters
    ----------
    names : list of str
        Micrograph paths as RELION or CryoSPARC write them (relative to the project folder).
    source : Path, optional
        The file that named them: relative paths are tried from ``project_dir`` (default:
        the current folder), then from the folders above it.
    project_dir : Path, optional
        The project folder.

    Returns
    -------
    dict of str -> (int, int)
    """
    import mrcfile

    paths, root = resolve_paths(list(names), None if source is None else Path(source), project_dir)
    shapes = {}
    for name, path in zip(names, paths):
        if not path.is_file():
            where = f" or the folders above {source}" if source is not None else ""
            raise CryodedupError(
                f"micrograph {name}: no file {path} (looked from {root}{where}); its size (ny, nx) is needed: "
                "point at the project folder with --project-dir"
            )
        try:
            with mrcfile.open(path, mode="r", permissive=True, header_only=True) as mrc:
                header = mrc.header
                nx, ny, nz = int(header.nx), int(header.ny), int(header.nz)
        except (OSError, ValueError) as err:
            raise CryodedupError(f"{path}: cannot read the MRC header ({err})") from None
        if nz != 1 or nx <= 0 or ny <= 0:
            raise CryodedupError(f"{path}: expected one 2-D image, the MRC header says nx={nx} ny={ny} nz={nz}")
        shapes[name] = (ny, nx)
    return shapes


def exposure_shapes(path: StrPath) -> dict[str, tuple[int, int]]:
    """(ny, nx) of each exposure of a CryoSPARC exposures dataset (``.cs`` or ``.csg``).

    Sizes are read from ``micrograph_blob/shape``, keyed by ``micrograph_blob/path``.
    """
    group = CsGroup.load(Path(path))
    missing = [f for f in ("micrograph_blob/path", "micrograph_blob/shape") if not group.has(f)]
    if missing:
        raise CryodedupError(f"{path}: no {' or '.join(missing)} field; expected CryoSPARC exposures")
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.column("micrograph_blob/path")]
    shape = np.asarray(group.column("micrograph_blob/shape")).reshape(len(names), -1)
    if shape.shape[1] != 2:
        raise CryodedupError(f"{path}: micrograph_blob/shape has {shape.shape[1]} values per exposure, expected 2")
    bad = np.flatnonzero((shape <= 0).any(axis=1))
    if len(bad):
        raise CryodedupError(f"{path}: exposure {names[bad[0]]} has micrograph_blob/shape {shape[bad[0]].tolist()}")
    return {name: (int(ny), int(nx)) for name, (ny, nx) in zip(names, shape)}
