"""pairs.html: the micrograph job's every scored pair; each flagged and uncertain pair with its overlay.

Opened from disk (``file://``) like micrographs.html: its index is a script (``pairs/index.js``,
each pair's micrographs and scores), its overlays JPEGs loaded as they scroll into view. The
report opens no file: the job hands it each drawn pair's two binned images.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from .micrograph_figures import overlay
from .micrograph_page import page_shell

__all__ = ["PAIR_FOLDER", "PairRows", "pair_page_files"]

#: The page, beside report.html, and the folder of its index and overlays.
PAIR_PAGE_FILE = "pairs.html"
PAIR_FOLDER = "pairs"
#: About how many pixels across an overlay is drawn.
OVERLAY_WIDTH = 360


@dataclass(frozen=True)
class PairRows:
    """Every scored pair, as pairs.csv gives it: the micrographs (first and later acquisition) and scores.

    ``names``: the micrographs' paths; ``labels``: the ends of them that tell them apart (shown).

    ``shift``: the later image's shift against the first (dy, dx, binned pixels; NaN where no image
    scored the pair); ``binned_psize``: Å per binned pixel.
    """

    names: list[str]
    labels: list[str]
    first: np.ndarray
    later: np.ndarray
    z: np.ndarray
    pearson: np.ndarray
    overlap: np.ndarray
    joint: np.ndarray
    duplicate: np.ndarray
    uncertain: np.ndarray
    shift: np.ndarray
    binned_psize: float


def pair_page_files(
    rows: PairRows, images: Mapping[int, tuple[np.ndarray, np.ndarray]], title: str
) -> Iterator[tuple[str, bytes]]:
    """The page's files (path relative to the output folder, contents): the page, its index and overlays.

    ``images``: the two binned images (first, later) of each pair to draw, by pair.
    """
    yield PAIR_PAGE_FILE, _page_html(title).encode()
    yield f"{PAIR_FOLDER}/index.js", _index_js(rows, set(images), title).encode()
    for p, (a, b) in images.items():
        dy, dx = (int(v) for v in rows.shift[p])
        yield f"{PAIR_FOLDER}/p{p:07d}.jpg", _jpeg(overlay(a, b, dy, dx))


def _numbers(values: np.ndarray, digits: int) -> list[float | None]:
    """A column as JSON numbers (None: not a number, or not finite: a pair without that score)."""
    rounded = np.round(values.astype(np.float64), digits)
    return [v if finite else None for v, finite in zip(rounded.tolist(), np.isfinite(rounded).tolist())]


def _index_js(rows: PairRows, drawn: set[int], title: str) -> str:
    """Each pair's micrographs (indices into ``names``), scores and decision, and whether its overlay was drawn."""
    index = {
        "title": title,
        "names": rows.labels,
        "paths": rows.names,
        "first": rows.first.tolist(),
        "later": rows.later.tolist(),
        "z": _numbers(rows.z, 3),
        "pearson": _numbers(rows.pearson, 3),
        "overlap": _numbers(rows.overlap, 3),
        "joint": _numbers(rows.joint, 3),
        "duplicate": rows.duplicate.astype(int).tolist(),
        "uncertain": rows.uncertain.astype(int).tolist(),
        "shiftA": _shifts_A(rows),
        "drawn": sorted(drawn),
    }
    return "window.CRYODEDUP_PAIRS = " + json.dumps(index, separators=(",", ":")) + ";\n"


def _shifts_A(rows: PairRows) -> list[list[int] | None]:
    """Each pair's shift (x, y) in whole Å; None where none was measured (a pair scored by metadata alone)."""
    shifts = np.asarray(rows.shift[:, ::-1] * rows.binned_psize, dtype=np.float64).reshape(-1, 2)
    measured = np.asarray(np.isfinite(shifts).all(axis=1), dtype=bool)
    whole = np.rint(np.where(measured[:, None], shifts, 0)).astype(np.int64).tolist()
    return [xy if ok else None for xy, ok in zip(whole, measured.tolist())]


def _jpeg(rgb: np.ndarray) -> bytes:
    """An overlay (RGB, 0 to 1) as a JPEG about :data:`OVERLAY_WIDTH` pixels across."""
    from PIL import Image

    picture = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB")
    if picture.width > OVERLAY_WIDTH:
        picture = picture.resize((OVERLAY_WIDTH, max(1, round(picture.height * OVERLAY_WIDTH / picture.width))))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def _page_html(title: str) -> str:
    """The page: the micrograph page's style, its own script (beside this module), the index from its folder."""
    return page_shell(f"{title}: every pair", "pair_page.js", f"{PAIR_FOLDER}/index.js")
