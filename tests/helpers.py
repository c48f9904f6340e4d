"""Helpers the tests share: small STAR files written by hand, and the real files in ../shared/data.

Tests import these with ``from helpers import ...`` (pytest puts tests/ on ``sys.path``);
conftest.py holds only pytest hooks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


# --- micrographs with planted re-exposures (shards and Dask) -------------------------------

PLANTED_COUNT, PLANTED_SHAPE = 40, (200, 280)  # binned images of 12 Å, synthesised directly
# Re-exposure number: original number. Boundaries (first number of a chunk, numbers from 1):
# N = 3: 14, 27; N = 7: 6, 12, 18, 23, 29, 35. mic_3, mic_9 and mic_16 show one area.
PLANTED_MICROGRAPHS = {6: 4, 15: 12, 9: 3, 16: 9, 28: 26, 36: 33}


def planted_original(k: int) -> int:
    """The first acquisition of the area micrograph ``k`` shows."""
    while k in PLANTED_MICROGRAPHS:
        k = PLANTED_MICROGRAPHS[k]
    return k


def write_planted_micrographs(folder: Path) -> list[Path]:
    """mic_1.mrc ... mic_40.mrc in ``folder``; each re-exposure shows its original's area shifted by 20-40 %."""
    from cryodedup.synthetic import exposure, specimen_field, write_mrc

    rng = np.random.default_rng(5)
    fields = {}
    ny, nx = PLANTED_SHAPE
    for k in range(1, PLANTED_COUNT + 1):
        if k in PLANTED_MICROGRAPHS:
            field, y0, x0 = fields[planted_original(k)], int(rng.integers(40, 80)), int(rng.integers(60, 110))
        else:
            fields[k] = field = specimen_field(rng, ny + 80, nx + 110, 12.0)
            y0, x0 = 0, 0
        image = exposure(rng, field, y0, x0, ny, nx, 12.0, dose=120, defocus=rng.uniform(8000, 30000))
        write_mrc(folder / f"mic_{k}.mrc", image, 12.0)
    return [folder / f"mic_{k}.mrc" for k in range(1, PLANTED_COUNT + 1)]


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


def bare_particle_set(inputs: list[str], input_of, groups, mic_names: list[str]):
    """A ParticleSet of rows with only an input and a micrograph (centres at 0, unscored)."""
    import numpy as np

    from cryodedup.particle_set import ParticleSet

    n = len(input_of)
    return ParticleSet(
        inputs=inputs,
        input_of=input_of,
        mic_names=mic_names,
        groups=groups,
        centres=np.zeros((n, 2)),
        psize=np.ones(n),
        pixel_sizes=[],
        scores=None,
        score_label=None,
        higher_is_better=True,
    )
