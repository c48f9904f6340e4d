"""Shared helpers: small STAR files written by hand, and the real files in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    """A real file from ../shared/data; skips the test when the folder is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} is not available (real-data tests need ../shared/data)")
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
    path.write_bytes(star_text(labels, rows, **kw).encode())
    return path
