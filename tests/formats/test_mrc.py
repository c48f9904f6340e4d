"""cryodedup.formats.mrc: an MRC image mapped again from the layout its header gave."""

from __future__ import annotations

import mrcfile
import numpy as np
import pytest

from cryodedup.errors import CryodedupError
from cryodedup.formats.mrc import map_mrc, mrc_layout, mrc_shapes
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
    with pytest.raises(CryodedupError, match=r"m\.mrc: cannot map the image its MRC header described"):
        map_mrc(path, layout)


def test_the_shapes_of_named_micrographs_come_from_their_headers(tmp_path):
    # The oracle: the arrays mrcfile was given; a file that is not there has no shape.
    for name, shape in (("a.mrc", (40, 64)), ("b.mrc", (1, 30, 20))):
        with mrcfile.new(tmp_path / name) as mrc:
            mrc.set_data(np.zeros(shape, dtype=np.float32))
    names = ["a.mrc", "b.mrc", "gone.mrc"]
    assert mrc_shapes(names, [tmp_path / n for n in names]) == {"a.mrc": (40, 64), "b.mrc": (30, 20)}
