"""Helpers the tests share: small STAR files written by hand, and the real files in ../shared/data.

Tests import these with ``from helpers import ...`` (pytest puts tests/ on ``sys.path``);
conftest.py holds only pytest hooks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# The skip reason of every real-data test; conftest.py counts the skips that carry it.
NO_SHARED_DATA = f"real-data test: {SHARED_DATA} is absent"


def shared_file(relative: str) -> Path:
    """A real file from ../shared/data.

    Parameters
    ----------
    relative : str
        The path inside ``../shared/data``, e.g. ``"star/cryodrgn__relion31.star"``.

    Returns
    -------
    Path
        The file. The test is skipped when ``../shared/data`` is absent, and fails when the
        folder is there but the file is not (a misspelt name must not pass as a skip).
    """
    if not SHARED_DATA.is_dir():
        pytest.skip(NO_SHARED_DATA)
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.fail(f"{path} does not exist, though {SHARED_DATA} does")
    return path


OPTICS_LABELS = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnImagePixelSize", "rlnMicrographPixelSize"]


def star_text(labels, rows, *, optics=None, optics_labels=OPTICS_LABELS, block="particles", newline="\n") -> str:
    """A RELION 3.1 particle STAR (or 3.0 without ``optics``) from rows of strings/numbers."""
    text = ""
    if optics is not None:
        text += "\n# version 30001\n\ndata_optics\n\nloop_\n"
        text += "".join(f"_{lab} #{i + 1}\n" for i, lab in enumerate(optics_labels))
        text += "".join(" ".join(str(v) for v in row) + "\n" for row in optics)
        text += "\n\n# version 30001\n"
    text += f"\ndata_{block}\n\nloop_\n"
    text += "".join(f"_{lab} #{i + 1}\n" for i, lab in enumerate(labels))
    text += "".join(" ".join(str(v) for v in row) + "\n" for row in rows)
    text += "\n"
    return text.replace("\n", newline)


def write_star(path: Path, labels, rows, **kw) -> Path:
    """Writes :func:`star_text` to ``path`` and returns the path."""
    path.write_bytes(star_text(labels, rows, **kw).encode())
    return path


#: The fields of CryoSPARC's location slot, as extraction writes them.
LOCATION_FIELDS = [
    ("uid", "<u8"),
    ("location/micrograph_uid", "<u8"),
    ("location/micrograph_shape", "<u4", (2,)),
    ("location/center_x_frac", "<f8"),
    ("location/center_y_frac", "<f8"),
    ("location/micrograph_psize_A", "<f4"),
]


def located_records(mic_uid, x_a, y_a, more_fields=(), shape=(4000, 4000)):
    """CryoSPARC particles at (x, y) Å on micrographs of 1 Å pixels, with ``more_fields`` zeroed.

    uids count from 5000; ``shape`` is [ny, nx].
    """
    import numpy as np

    r = np.zeros(len(x_a), dtype=LOCATION_FIELDS + list(more_fields))
    r["uid"] = np.arange(len(x_a)) + 5000
    r["location/micrograph_uid"] = mic_uid
    r["location/micrograph_shape"] = shape
    r["location/center_x_frac"] = np.asarray(x_a, dtype=float) / shape[1]
    r["location/center_y_frac"] = np.asarray(y_a, dtype=float) / shape[0]
    r["location/micrograph_psize_A"] = 1.0
    return r
