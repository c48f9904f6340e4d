"""What several jobs need to know about micrographs.

Their pixel sizes (from a micrographs STAR or CryoSPARC exposures), where their image files
are, and how to open one.

The particle jobs and the micrograph job both import this module; it imports neither, so
there is no cycle between them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ..csfile import CsGroup
from ..errors import CryodedupError
from ..input_files import check_regular_file
from ..outputs import StrPath
from ..star import Block, StarFile

if TYPE_CHECKING:
    from mrcfile.mrcmemmap import MrcMemmap  # mrcfile ships no type information: MrcMemmap is Any to mypy


def block_naming_micrographs(star: StarFile, name: str, missing: str) -> Block:
    """The block ``data_<name>`` if it has ``rlnMicrographName``, else the first loop that has it.

    Raises ``missing`` (prefixed with the file) when neither has that column.
    """
    named = star.block(name)
    if named is not None and named.labels is not None and "rlnMicrographName" in named.labels:
        return named
    block = next((b for b in star.blocks if b.labels and "rlnMicrographName" in b.labels), None)
    if block is None or block.labels is None:
        raise CryodedupError(f"{star.path}: {missing}")
    return block


def micrograph_pixel_sizes(path: Path) -> dict[str, float]:
    """Micrograph name -> pixel size in Å, from a micrographs STAR (any RELION version)."""
    star = StarFile(path)
    block = block_naming_micrographs(
        star, "micrographs", "no micrographs table with rlnMicrographName (is this a micrographs STAR?)"
    )
    table = star.table(block)
    names = table.column("rlnMicrographName")
    optics = star.block("optics")
    try:
        if optics is not None and "rlnOpticsGroup" in table.labels:
            otable = star.table(optics)
            if "rlnMicrographPixelSize" not in otable.labels:
                raise CryodedupError(f"{path}: data_optics has no rlnMicrographPixelSize column")
            by_group = dict(zip(otable.column("rlnOpticsGroup"), map(float, otable.column("rlnMicrographPixelSize"))))
            return {n: by_group[g] for n, g in zip(names, table.column("rlnOpticsGroup"))}
        if {"rlnDetectorPixelSize", "rlnMagnification"} <= set(table.labels):
            det, mag = table.column("rlnDetectorPixelSize"), table.column("rlnMagnification")
            return {n: 1e4 * float(d) / float(m) for n, d, m in zip(names, det, mag)}
    except (KeyError, ValueError) as err:
        raise CryodedupError(f"{path}: inconsistent optics groups or pixel sizes ({err})") from None
    raise CryodedupError(f"{path}: no micrograph pixel size in it (rlnMicrographPixelSize in data_optics)")


def exposure_pixel_sizes(path: StrPath) -> dict[int, float]:
    """Exposure uid -> micrograph pixel size in Å, from a CryoSPARC exposures dataset."""
    exposures = CsGroup.load(path)
    if not exposures.has("micrograph_blob/psize_A"):
        raise CryodedupError(f"{path}: no micrograph_blob/psize_A field (is this a CryoSPARC exposures dataset?)")
    return dict(zip(exposures.column("uid").tolist(), exposures.column("micrograph_blob/psize_A").tolist()))


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
    if path.suffix not in (".cs", ".csg"):
        star = StarFile(path)
        block = block_naming_micrographs(
            star, "micrographs", "no loop with rlnMicrographName; expected a micrographs STAR"
        )
        names = star.table(block).column("rlnMicrographName")
        return MicrographList(path, names, micrograph_pixel_sizes(path), "rlnMicrographPixelSize")
    exposures = CsGroup.load(path)
    for needed in ("micrograph_blob/path", "micrograph_blob/psize_A"):
        if not exposures.has(needed):
            raise CryodedupError(
                f"{path}: no {needed} field; expected CryoSPARC exposures with micrographs (the exposures output "
                "of Patch Motion Correction, Patch CTF Estimation or Curate Exposures)"
            )
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
    roots = [project_dir or Path.cwd()]
    if source is not None:
        roots += list(source.resolve().parents)
    for root in roots:
        paths = [Path(n) if Path(n).is_absolute() else root / n for n in names]
        if paths and paths[0].exists():
            return paths, root
    return [Path(n) if Path(n).is_absolute() else roots[0] / n for n in names], roots[0]


def open_mrc(path: Path) -> tuple[MrcMemmap, np.ndarray]:
    """The memory-mapped MRC file (close it when done) and its one 2-D image, little-endian."""
    mrc, data = _open_mrc_as_stored(path)
    return mrc, _supported_pixels(data)


def _open_mrc_as_stored(path: Path) -> tuple[MrcMemmap, np.ndarray]:
    """The memory-mapped MRC file and its one 2-D image, in the file's own pixel type and byte order."""
    import mrcfile

    check_regular_file(path, "an MRC file")
    with warnings.catch_warnings(record=True) as caught:  # permissive mode warns of what it cannot read
        warnings.simplefilter("always")
        mrc = mrcfile.mmap(path, mode="r", permissive=True)
    data = mrc.data
    if data is None or data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[0] != 1):
        shape = None if data is None else data.shape
        mrc.close()
        why = f" ({caught[0].message})" if caught else ""
        raise CryodedupError(f"{path}: expected one 2-D image, found data of shape {shape}{why}")
    if data.dtype.kind == "c":
        mode = int(mrc.header.mode)
        mrc.close()
        raise CryodedupError(f"{path}: complex pixels (MRC mode {mode}): a Fourier transform, not an image")
    return mrc, data.reshape(data.shape[-2:])


def _supported_pixels(data: np.ndarray) -> np.ndarray:
    """The image in a pixel type the Rust side reads (float32, float16, int16, uint16), little-endian."""
    if data.dtype not in (np.float32, np.float16, np.int16, np.uint16):  # mode 0 (8-bit) and others: as float32
        data = data.astype(np.float32)
    if data.dtype.byteorder == ">":
        data = data.astype(data.dtype.newbyteorder("<"))  # the Rust side reads little-endian
    return data


@dataclass(frozen=True)
class MrcLayout:
    """Where an MRC file's one image lies, read from its header once.

    Enough to map the image again without parsing the header (``map_mrc``): the micrograph
    job reads every header to plan, then maps each image once more to read it.
    """

    shape: tuple[int, int]  # (ny, nx)
    dtype: str  # the pixels as stored, byte order included (numpy's ``dtype.str``)
    offset: int  # bytes before the image: the header and the extended header
    psize: float | None  # the header's pixel size in Å, None when unset


def mrc_layout(path: Path) -> MrcLayout:
    """The image's size, pixel type, place in the file and pixel size, from the MRC header."""
    try:
        mrc, data = _open_mrc_as_stored(path)
    except CryodedupError:
        raise
    except (OSError, ValueError) as err:
        raise CryodedupError(f"{path}: cannot read the MRC file ({err})") from None
    psize = float(mrc.voxel_size.x)
    offset = int(mrc.header.nbytes) + int(mrc.header.nsymbt)
    mrc.close()
    ny, nx = data.shape
    return MrcLayout((ny, nx), data.dtype.str, offset, psize if psize > 0 else None)


def mrc_header(path: Path) -> tuple[tuple[int, int], float | None]:
    """(ny, nx) and the header's pixel size (None when unset) of an MRC file."""
    layout = mrc_layout(path)
    return layout.shape, layout.psize


def map_mrc(path: Path, layout: MrcLayout) -> np.ndarray:
    """The image of an MRC file whose header was read before (``mrc_layout``), memory-mapped again.

    The header is not parsed again; a file that changed since and is now too short is an error.
    """
    try:
        data = np.memmap(path, dtype=np.dtype(layout.dtype), mode="r", offset=layout.offset, shape=layout.shape)
    except (OSError, ValueError) as err:
        raise CryodedupError(f"{path}: cannot map the image its MRC header described ({err}); changed?") from None
    return _supported_pixels(data)


def as_text(values: ArrayLike) -> list[str]:
    """Strings of a column that may hold bytes (CryoSPARC paths)."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).tolist()]
