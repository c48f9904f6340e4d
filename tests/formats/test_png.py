"""The PNG encoder, against two decoders: Pillow's, and the format read by hand from its specification."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from cryodedup.formats import png

SHAPES = [(1, 1), (1, 7), (9, 1), (2, 3), (37, 53), (300, 211)]


def pictures(channels: int) -> list[np.ndarray]:
    """Noise, flat colour and smooth ramps (every byte value, rows equal and rows apart)."""
    rng = np.random.default_rng(channels)
    out = []
    for rows, cols in SHAPES:
        out.append(rng.integers(0, 256, (rows, cols, channels), dtype=np.uint8))
        out.append(np.full((rows, cols, channels), 255, dtype=np.uint8))
        ramp = (np.arange(rows)[:, None, None] * 7 + np.arange(cols)[None, :, None] * 3 + np.arange(channels)) % 256
        out.append(ramp.astype(np.uint8))
    return out


def decoded_by_hand(data: bytes) -> tuple[dict[str, int], np.ndarray]:
    """The header and pixels of an 8-bit RGB or RGBA PNG, read as the specification says (every filter type)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, []
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        at += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, method, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    header = {"width": width, "height": height, "depth": depth, "colour": colour}
    assert (method, filtering, interlace) == (0, 0, 0)
    channels = {2: 3, 6: 4}[colour]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * channels
    out = np.zeros((height, stride), dtype=np.int64)
    for r in range(height):
        kind, line = raw[r * (stride + 1)], raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)]
        above = out[r - 1] if r else np.zeros(stride, dtype=np.int64)
        for i, byte in enumerate(line):
            left = out[r, i - channels] if i >= channels else 0
            corner = above[i - channels] if i >= channels else 0
            guess = {0: 0, 1: left, 2: above[i], 3: (left + above[i]) // 2, 4: _paeth(left, above[i], corner)}[kind]
            out[r, i] = (byte + guess) % 256
    return header, out.reshape(height, width, channels).astype(np.uint8)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


@pytest.mark.parametrize("channels", [3, 4])
def test_pillow_reads_the_same_pixels(channels):
    mode = {3: "RGB", 4: "RGBA"}[channels]
    for pixels in pictures(channels):
        image = Image.open(io.BytesIO(png.encode(pixels)))
        assert image.mode == mode
        assert np.array_equal(np.asarray(image), pixels)


@pytest.mark.parametrize("channels", [3, 4])
def test_the_file_read_by_hand(channels):
    for pixels in pictures(channels)[:12]:  # (the hand decoder is slow: the small ones)
        header, got = decoded_by_hand(png.encode(pixels))
        rows, cols, _ = pixels.shape
        assert header == {"width": cols, "height": rows, "depth": 8, "colour": {3: 2, 4: 6}[channels]}
        assert np.array_equal(got, pixels)


def test_a_view_is_encoded_as_its_pixels():
    pixels = np.random.default_rng(5).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    view = pixels[::2, 5:45]  # not contiguous
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png.encode(view)))), view)


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((4, 4, 3), dtype=np.float32),
        np.zeros((4, 4), dtype=np.uint8),
        np.zeros((4, 4, 2), dtype=np.uint8),
        np.zeros((0, 4, 3), dtype=np.uint8),
        np.zeros((4, 0, 4), dtype=np.uint8),
    ],
)
def test_refuses_what_it_does_not_write(pixels):
    with pytest.raises(ValueError, match="PNG"):
        png.encode(pixels)


@pytest.mark.parametrize("channels", [3, 4])
def test_the_stream_is_a_fast_zlib_stream_of_the_filtered_rows(channels):
    # zlib reads it back (its header says "fastest"; zlib checks the checksum) to the rows
    # filtered by "Up", and it is about as small as zlib's own stream at level 1.
    for pixels in pictures(channels):
        data = png.encode(pixels)
        (length,) = struct.unpack(">I", data[33:37])
        assert data[37:41] == b"IDAT"
        stream = data[41 : 41 + length]
        assert stream[:2] == b"\x78\x01"
        rows = zlib.decompress(stream)
        flat = pixels.reshape(pixels.shape[0], -1).astype(np.int16)
        up = np.diff(flat, axis=0, prepend=0) % 256
        assert rows == np.hstack([np.full((len(up), 1), png.UP), up]).astype(np.uint8).tobytes()
        assert len(stream) <= 1.25 * len(zlib.compress(rows, 1)) + 1024  # (a flat picture: 1-2 KB either way)
