"""MRC images: the header read once (``mrc_layout``), the image mapped from it (``map_mrc``).

Both jobs read micrograph files through this module: the micrograph job to plan and score,
the particle job for the shapes of picked micrographs and the images its pictures show.
"""

from __future__ import annotations

import os
import warnings
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CryodedupError, InputFileError
from .files import check_regular_file

if TYPE_CHECKING:
    from mrcfile.mrcmemmap import MrcMemmap  # mrcfile ships no type information: MrcMemmap is Any to mypy

__all__ = [
    "MrcLayout",
    "binned_image",
    "map_mrc",
    "mrc_extent",
    "mrc_layout",
    "mrc_shapes",
    "open_mrc",
    "open_volume",
    "slab_means",
]


def open_mrc(path: Path) -> tuple[MrcMemmap, np.ndarray]:
    """The memory-mapped MRC file (close it when done) and its one 2-D image, little-endian."""
    mrc, data = _open_mrc_as_stored(path)
    return mrc, _supported_pixels(data)


def binned_image(path: Path, width: int) -> tuple[np.ndarray, int]:
    """A micrograph's image binned to about ``width`` pixels across (float32), and the binning factor.

    For the particle job's pictures: the job reads the micrographs they show here and hands
    the report arrays, so that the report opens no file.
    """
    import cryodedup._core as _core

    mrc, data = open_mrc(path)
    with mrc:
        factor = max(1, data.shape[1] // width)
        return _core.bin_image(np.ascontiguousarray(data), factor), factor


#: At most this many of a tomogram's slices are averaged for each slab's thumbnail (``slab_means``).
CENTRAL_SLICES = 16


@dataclass(frozen=True)
class TomogramSlabs:
    """A tomogram's slabs along z as :func:`slab_means` reads them.

    ``pixels``: each slab's mean slices binned by ``factor`` (None: the slab lies outside the
    volume, or no voxel size to place it); ``shape``: the binned (ny, nx) of every slab;
    ``voxel``: the header's voxel size in Å (None: unset).
    """

    pixels: list[np.ndarray | None]
    factor: int
    shape: tuple[int, int]
    voxel: float | None


def slab_means(path: Path, width: int, edges: np.ndarray) -> TomogramSlabs:
    """A tomogram's slabs along z, each the mean of its slices at the slab's middle, binned to about ``width`` across.

    ``edges``: the slabs' bounds along z in Å from the face of the volume's first slice (slab
    k from ``edges[k]`` to ``edges[k + 1]``), turned into slices by the header's voxel size.
    Each slab averages as many slices as a tenth of the volume (at least one, at most
    :data:`CENTRAL_SLICES`, no more than the slab holds within the volume): only those are read
    from the memory-mapped file.
    """
    import cryodedup._core as _core

    mrc, data, voxel = open_volume(path)
    with mrc:
        nz, ny, nx = data.shape
        factor = max(1, nx // width)
        depth = min(CENTRAL_SLICES, max(1, nz // 10))
        windows = [None] * (len(edges) - 1) if voxel is None else _slab_windows(np.asarray(edges) / voxel, nz, depth)
        means = [None if w is None else data[w].astype(np.float32).mean(axis=0) for w in windows]
    pixels = [None if m is None else _core.bin_image(np.ascontiguousarray(m, dtype=np.float32), factor) for m in means]
    return TomogramSlabs(pixels, factor, (ny // factor, nx // factor), voxel)


def _slab_windows(edges: np.ndarray, nz: int, depth: int) -> list[slice | None]:
    """Each slab's slices to average: at most ``depth`` of those it overlaps within ``nz``, nearest its middle.

    ``edges`` in slices (slice i covers i to i + 1); None where a slab overlaps no slice of the volume.
    """
    windows: list[slice | None] = []
    for low, high in zip(edges[:-1], edges[1:]):
        first, end = max(0, int(np.floor(low))), min(nz, int(np.ceil(high)))
        if end <= first:
            windows.append(None)
            continue
        take = min(depth, end - first)
        start = int(np.floor((low + high) / 2 - take / 2 + 0.5))  # (the window whose middle is nearest the slab's)
        start = min(max(start, first), end - take)
        windows.append(slice(start, start + take))
    return windows


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
        truncated = _truncated(mrc, path) if data is None else ""
        mrc.close()
        if truncated:
            raise InputFileError(truncated)
        why = f" ({caught[0].message})" if caught else ""
        raise InputFileError(f"{path}: expected one 2-D image, found data of shape {shape}{why}")
    if data.dtype.kind == "c":
        mode = int(mrc.header.mode)
        mrc.close()
        raise InputFileError(f"{path}: complex pixels (MRC mode {mode}): a Fourier transform, not an image")
    return mrc, data.reshape(data.shape[-2:])


def _truncated(mrc: MrcMemmap, path: Path) -> str:
    """What a file shorter than its MRC header's data says ("" when it is not, or its header cannot say)."""
    import mrcfile.utils

    header = mrc.header
    try:
        sizes = [int(header[k]) for k in ("nx", "ny", "nz")]
        itemsize = mrcfile.utils.data_dtype_from_header(header).itemsize
        found = os.stat(path).st_size
    except (ValueError, OSError):  # (a mode the format does not define: the caller's words)
        return ""
    if min(sizes) < 0:
        return ""
    expected = int(header.nbytes) + max(0, int(header.nsymbt)) + sizes[0] * sizes[1] * sizes[2] * itemsize
    if found >= expected:
        return ""
    described = "x".join(map(str, sizes))
    return (
        f"{path}: truncated: its MRC header describes {described} pixels of {itemsize} bytes, "
        f"{expected:,} bytes with the header; the file holds {found:,}"
    )


def open_volume(path: Path) -> tuple[MrcMemmap, np.ndarray, float | None]:
    """The memory-mapped MRC file (close it when done), its data as (nz, ny, nx) and its voxel size in Å (None: unset).

    For masks (``--mask``): an image is a volume one voxel deep. Values are read where looked up,
    so a tomogram-sized mask costs the pages its picks fall on.
    """
    import mrcfile

    check_regular_file(path, "an MRC file")
    try:
        with warnings.catch_warnings(record=True):  # (permissive mode warns of what it cannot read)
            warnings.simplefilter("always")
            mrc = mrcfile.mmap(path, mode="r", permissive=True)
    except (OSError, ValueError) as err:
        raise InputFileError(f"{path}: cannot read the MRC file ({err})") from None
    data = mrc.data
    if data is None or data.ndim not in (2, 3) or data.dtype.kind == "c":
        truncated = _truncated(mrc, path) if data is None else ""
        mrc.close()
        raise InputFileError(truncated or f"{path}: expected an image or a volume of real values in an MRC file")
    if data.size == 0:  # (a header of nx, ny or nz 0: no voxel to look a pick up in)
        sizes = ", ".join(f"{k} {int(mrc.header[k])}" for k in ("nx", "ny", "nz"))
        mrc.close()
        raise InputFileError(f"{path}: its MRC header says {sizes}: expected at least 1 voxel along each axis")
    voxel = float(mrc.voxel_size.x)
    return mrc, data.reshape((-1, *data.shape[-2:])), voxel if voxel > 0 else None


def mrc_extent(path: Path) -> tuple[tuple[int, int, int], float | None]:
    """(nx, ny, nz) and the voxel size in Å (None: unset) from an MRC header's first 56 bytes.

    For the sizes of thousands of micrographs (``--edge``): a few bytes read, where
    ``mrcfile`` maps the whole file and checks it. The byte order is the one that gives
    sizes that fit the file (MRC 2014's machine stamp is not always written).
    """
    check_regular_file(path, "an MRC file")
    try:
        with open(path, "rb") as f:
            head = f.read(56)
    except OSError as err:
        raise InputFileError(f"{path}: cannot read the MRC header ({err})") from None
    if len(head) < 56:
        raise InputFileError(f"{path}: an MRC header is 1024 bytes, the file holds {len(head)}")
    for order in "<>":
        n = np.frombuffer(head, dtype=f"{order}i4", count=3)
        if (n > 0).all() and (n < 2**20).all():
            mx = np.frombuffer(head, dtype=f"{order}i4", count=3, offset=28)
            cella = np.frombuffer(head, dtype=f"{order}f4", count=3, offset=40)
            voxel = float(cella[0] / mx[0]) if mx[0] > 0 and np.isfinite(cella[0]) and cella[0] > 0 else None
            return (int(n[0]), int(n[1]), int(n[2])), voxel
    raise InputFileError(f"{path}: no MRC header (its sizes read {head[:12].hex()})")


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
        raise InputFileError(f"{path}: cannot read the MRC file ({err})") from None
    psize = float(mrc.voxel_size.x)
    offset = int(mrc.header.nbytes) + int(mrc.header.nsymbt)
    mrc.close()
    ny, nx = data.shape
    return MrcLayout((ny, nx), data.dtype.str, offset, psize if psize > 0 else None)


def mrc_shapes(names: list[str], paths: list[Path]) -> dict[str, tuple[int, int]]:
    """(ny, nx) of each named micrograph whose file exists, from its MRC header; the others have none."""
    return {n: mrc_layout(p).shape for n, p in zip(names, paths) if p.is_file()}


def map_mrc(path: Path, layout: MrcLayout) -> np.ndarray:
    """The image of an MRC file whose header was read before (``mrc_layout``), memory-mapped again.

    The header is not parsed again; a file that changed since and is now too short is an error.
    """
    try:
        data = np.memmap(path, dtype=np.dtype(layout.dtype), mode="r", offset=layout.offset, shape=layout.shape)
    except (OSError, ValueError) as err:
        ny, nx = layout.shape
        expected = layout.offset + ny * nx * np.dtype(layout.dtype).itemsize
        with suppress(OSError):
            found = os.stat(path).st_size
            if found < expected:
                raise InputFileError(
                    f"{path}: truncated since its MRC header was read: expected {expected:,} bytes, "
                    f"the file holds {found:,}"
                ) from None
        raise InputFileError(f"{path}: cannot map the image its MRC header described ({err}); changed?") from None
    return _supported_pixels(data)
