"""PNG files of the pictures: 8-bit RGB or RGBA pixels, one fixed filter, the fastest deflate.

Pillow's encoder chooses a filter for every row by trying all five (libpng's heuristic):
that trial was two thirds of the cost of the particle job's ten pictures, 0.8 G
instructions of a ``--plot`` run on 1M particles (issue 43). Here every row takes the "Up"
filter (the difference to the row above, computed by numpy) and the core deflates the
whole at its fastest level (:func:`cryodedup._core.zlib_stream`), letting go of Python's
lock. The same pixels, since PNG is lossless, in larger files: the seven pictures of a
1M-particle run take 382 KB (Pillow's 283 KB, zlib's level 1 346 KB), a grey micrograph a
fifth more than Pillow's.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from .._core import zlib_stream

__all__ = ["encode_rows"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour types by channels: 2 truecolour (RGB), 6 truecolour with alpha (RGBA).
COLOUR_TYPES = {3: 2, 4: 6}
UP = 2  # the PNG filter type "Up": each byte minus the byte above it


def encode(pixels: np.ndarray) -> bytes:
    """The PNG file of ``pixels``: uint8, shape (rows, columns, 3 or 4), RGB or RGBA.

    Raises ValueError for another shape or type, or an empty picture.
    """
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in COLOUR_TYPES:
        raise ValueError(f"PNG pixels: uint8 of shape (rows, columns, 3 or 4), not {pixels.dtype} {pixels.shape}")
    height, width, channels = pixels.shape
    if not (height and width):
        raise ValueError(f"a PNG picture has at least one pixel, got shape {pixels.shape}")
    rows = pixels.reshape(height, width * channels)
    filtered = np.empty((height, 1 + width * channels), dtype=np.uint8)
    filtered[:, 0] = UP
    filtered[0, 1:] = rows[0]  # (the row above the first is zeros)
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # modulo 256, as the filter is defined
    return encode_rows(filtered, width, channels)


def encode_rows(filtered: np.ndarray, width: int, channels: int) -> bytes:
    """The PNG file of rows already filtered: uint8 (rows, 1 + width * channels), each a filter byte and the row."""
    height = filtered.shape[0]
    if filtered.dtype != np.uint8 or filtered.shape != (height, 1 + width * channels) or not height:
        raise ValueError(
            f"filtered PNG rows of {width} pixels of {channels} bytes: not {filtered.dtype} {filtered.shape}"
        )
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPES[channels], 0, 0, 0)
    data = zlib_stream(np.ascontiguousarray(filtered))
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk: length, type, data, and the CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))
