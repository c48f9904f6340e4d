"""A ``.cs`` file's location slot read in one pass over its records, in the core.

The numpy reading of the centres took seven strided passes over the mapped records (each
field copied out and cast to f64, then the products); for the common layout (a single
numpy-encoded file, ``center_x_frac``, ``center_y_frac`` and ``micrograph_psize_A`` as
little-endian f32, ``micrograph_shape`` as two little-endian u32) the core reads them where
they lie, with the same floating-point operations in the same order (docs/design.md section 2).
"""

from __future__ import annotations

import numpy as np

import cryodedup._core as _core

from ..._core import CsLocations
from .dataset import CsGroup

__all__ = ["PSIZE", "plain_locations"]

X, Y = "location/center_x_frac", "location/center_y_frac"
SHAPE, PSIZE = "location/micrograph_shape", "location/micrograph_psize_A"
#: The layout the core reads: each field's type in the records.
PLAIN_LAYOUT = {X: np.dtype("<f4"), Y: np.dtype("<f4"), SHAPE: np.dtype(("<u4", (2,))), PSIZE: np.dtype("<f4")}


def plain_locations(group: CsGroup) -> CsLocations | None:
    """The rows' locations read by the core, or None where the records are not of its layout."""
    data = group.files[0].data if len(group.files) == 1 else None
    if not isinstance(data, np.ndarray) or data.ndim != 1 or not data.flags.c_contiguous:
        return None
    fields = data.dtype.fields or {}
    if not all(name in fields and fields[name][0] == kind for name, kind in PLAIN_LAYOUT.items()):
        return None
    records = data.view(np.uint8).reshape(-1)
    offsets = [fields[name][1] for name in (X, Y, SHAPE, PSIZE)]
    return _core.cs_locations(records, data.dtype.itemsize, *offsets)
