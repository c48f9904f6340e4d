"""cryodedup.formats.mrc: an MRC image mapped again from the layout its header gave."""

from __future__ import annotations

import mrcfile
import numpy as np
import pytest

from cryodedup.errors import CryodedupError
from cryodedup.formats import mrc as mrc_module
from cryodedup.formats.mrc import binned_image, map_mrc, mrc_extent, mrc_layout, mrc_shapes, slab_means
from fixtures.synthetic import write_mrc


@pytest.mark.parametrize(
    "dtype, big_endian, extended",
    [("float32", False, 0), ("float32", False, 4096), ("float16", False, 0), ("int16", True, 96), ("uint8", False, 0)],
)
def test_the_mapped_image_is_mrcfiles_image(tmp_path, dtype, big_endian, extended):
    path = tmp_path / "m.mrc"
    image = np.random.default_rng(1).uniform(0, 200, (37, 53))
    write_mrc(path, image, 1.5, dtype=dtype, big_endian=big_endian)
    if extended:
        with mrcfile.open(path, mode="r+") as mrc:
            mrc.set_extended_header(np.zeros(extended, dtype="V1"))
    layout = mrc_layout(path)
    assert (layout.shape, layout.offset, layout.psize) == ((37, 53), 1024 + extended, 1.5)
    mapped = map_mrc(path, layout)
    with mrcfile.open(path, permissive=True) as mrc:  # the oracle: mrcfile reads the whole file
        expected = mrc.data.astype(np.float32)
    assert mapped.dtype.byteorder in ("<", "=", "|") and mapped.dtype in (np.float32, np.float16, np.int16, np.uint16)
    np.testing.assert_array_equal(mapped.astype(np.float32), expected)


def test_a_file_cut_short_since_its_header_was_read_is_named(tmp_path):
    path = tmp_path / "m.mrc"
    write_mrc(path, np.zeros((40, 40)), 1.0)
    layout = mrc_layout(path)
    with open(path, "r+b") as f:
        f.truncate(1024 + 100)
    expected = r"m\.mrc: truncated since its MRC header was read: expected 7,424 bytes, the file holds 1,124$"
    with pytest.raises(CryodedupError, match=expected):
        map_mrc(path, layout)


@pytest.mark.parametrize(
    ("dtype", "extended", "kept"), [("float32", 0, 5000), ("int16", 96, 1024), ("float16", 0, 1024 + 3199)]
)
def test_a_truncated_file_says_so_with_the_sizes(tmp_path, dtype, extended, kept):
    # A user's trial: "found data of shape None". The oracle: the sizes counted here from the image written.
    path = tmp_path / "m.mrc"
    write_mrc(path, np.zeros((40, 40)), 1.0, dtype=dtype)
    if extended:
        with mrcfile.open(path, mode="r+") as mrc:
            mrc.set_extended_header(np.zeros(extended, dtype="V1"))
    whole = 1024 + extended + 40 * 40 * np.dtype(dtype).itemsize
    assert path.stat().st_size == whole
    with open(path, "r+b") as f:
        f.truncate(kept)
    itemsize = np.dtype(dtype).itemsize
    expected = (
        rf"m\.mrc: truncated: its MRC header describes 40x40x1 pixels of {itemsize} bytes, {whole:,} bytes with "
        rf"the header; the file holds {kept:,}$"
    )
    with pytest.raises(CryodedupError, match=expected):
        mrc_layout(path)
    with pytest.raises(CryodedupError, match=expected):  # (a mask, a tomogram)
        mrc_module.open_volume(path)


def test_the_shapes_of_named_micrographs_come_from_their_headers(tmp_path):
    # The oracle: the arrays mrcfile was given; a file that is not there has no shape.
    for name, shape in (("a.mrc", (40, 64)), ("b.mrc", (1, 30, 20))):
        with mrcfile.new(tmp_path / name) as mrc:
            mrc.set_data(np.zeros(shape, dtype=np.float32))
    names = ["a.mrc", "b.mrc", "gone.mrc"]
    assert mrc_shapes(names, [tmp_path / n for n in names]) == {"a.mrc": (40, 64), "b.mrc": (30, 20)}


@pytest.mark.parametrize(("width", "factor"), [(1000, 1), (100, 2), (60, 4)])
def test_a_pictures_image_is_the_mean_of_each_block_of_pixels(tmp_path, width, factor):
    # The particle job's pictures show a micrograph binned to about ``width`` pixels across;
    # the oracle averages each factor x factor block with numpy (the ragged edge left out).
    path = tmp_path / "m.mrc"
    image = np.random.default_rng(2).uniform(-5, 200, (121, 251))
    write_mrc(path, image, 1.0, dtype="int16", big_endian=True)
    binned, found = binned_image(path, width)
    assert found == factor
    with mrcfile.open(path, permissive=True) as mrc:  # the pixels as stored, read by mrcfile
        stored = mrc.data.astype(np.float64)
    ny, nx = 121 // factor, 251 // factor
    expected = stored[: ny * factor, : nx * factor].reshape(ny, factor, nx, factor).mean(axis=(1, 3))
    assert binned.dtype == np.float32
    np.testing.assert_allclose(binned, expected, rtol=1e-6)


def test_a_pictures_image_that_is_no_image_is_refused_in_one_line(tmp_path):
    path = tmp_path / "v.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(CryodedupError, match=r"v.mrc: expected one 2-D image, found data of shape \(3, 8, 8\)"):
        binned_image(path, 4)


def test_mrc_extent_reads_what_mrcfile_wrote(tmp_path):
    # (--edge reads thousands of headers: 56 bytes each, against mrcfile's own header)
    with mrcfile.new(tmp_path / "v.mrc", data=np.zeros((3, 4, 5), np.int8)) as mrc:
        mrc.voxel_size = 2.5
    with mrcfile.new(tmp_path / "u.mrc", data=np.zeros((6, 7), np.float32)):
        pass
    assert mrc_extent(tmp_path / "v.mrc") == ((5, 4, 3), 2.5)
    assert mrc_extent(tmp_path / "u.mrc") == ((7, 6, 1), None)  # (mrcfile leaves the voxel size 0)
    (tmp_path / "short.mrc").write_bytes(b"\0" * 20)
    with pytest.raises(CryodedupError, match="short.mrc: an MRC header is 1024 bytes"):
        mrc_extent(tmp_path / "short.mrc")


class _Reads:
    """A volume that records the slices read from it (``data[window]``), as a memory map reads only those."""

    def __init__(self, volume: np.ndarray):
        self.volume, self.shape, self.read = volume, volume.shape, []

    def __getitem__(self, window: slice) -> np.ndarray:
        self.read.append((window.start, window.stop))
        return self.volume[window]


def test_each_slab_averages_the_slices_at_its_middle_and_reads_no_others(tmp_path, monkeypatch):
    """By hand: 40 slices of 5 Å (a tenth: 4 averaged), slice k all k; slabs 0-50, 50-100, 100-150 Å from slice 0.

    Slab 0 covers slices 0-9, its middle 5: slices 3-6; slab 1 slices 10-19: 13-16; slab 2
    (20-29) 23-26. Then slabs 190-260 Å (overlapping 38-39 only: both) and 260-300 Å (past the volume: none).
    """
    volume = np.arange(40, dtype=np.float32)[:, None, None] * np.ones((40, 6, 8), dtype=np.float32)
    path = tmp_path / "v.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(volume)
        mrc.voxel_size = 5.0
    opened = mrc_module.open_volume

    def recorded(p):
        handle, data, voxel = opened(p)
        reads.append(_Reads(np.asarray(data)))
        return handle, reads[-1], voxel

    reads: list[_Reads] = []
    monkeypatch.setattr(mrc_module, "open_volume", recorded)
    slabs = slab_means(path, 320, np.array([0.0, 50, 100, 150]))
    assert reads[0].read == [(3, 7), (13, 17), (23, 27)]
    assert [float(p.mean()) for p in slabs.pixels] == [4.5, 14.5, 24.5]
    assert (slabs.factor, slabs.shape, slabs.voxel) == (1, (6, 8), 5.0)
    slabs = slab_means(path, 320, np.array([190.0, 260, 300]))
    assert reads[1].read == [(38, 40)]
    assert float(slabs.pixels[0].mean()) == 38.5 and slabs.pixels[1] is None
