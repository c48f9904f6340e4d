"""The compare job's metric pictures' matplotlib: without a display, outside pyplot, PNG bytes.

(The particle and micrograph jobs draw with :mod:`cryodedup.report.canvas`, without matplotlib.)

Imported only when a job is run with ``--plot``: the default path loads no plotting code.
Each figure function returns the matplotlib Figure, whose artists carry the data (tests
read them back); :func:`rendered` makes the PNGs the report embeds.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import matplotlib
import numpy as np
import PIL.Image

__all__ = ["rendered", "subplots"]

matplotlib.use("Agg")
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110  # of the saved PNGs
TIGHT_MARGIN = 0.1  # inches of white around what a picture draws (savefig's pad_inches)

#: A picture of a job: file name, caption and the figure.
NamedFigure = tuple[str, str, Figure]


def subplots(*grid: int, figsize: tuple[float, float], **how: Any) -> tuple[Figure, Any]:
    """A new figure and its axes, as ``pyplot.subplots`` makes them, but outside pyplot's registry.

    pyplot keeps every figure it made until it is closed, and warns past 20: a job drawing
    --plot-mics 25 micrographs did. These are freed with their last reference.
    """
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)  # the canvas pyplot gives a figure under the Agg backend
    return fig, fig.subplots(*grid, **how)


def drawn_pixels(fig: Figure) -> np.ndarray | None:
    """The figure drawn, cut to what it draws and a margin; None when something lies outside it.

    ``savefig`` with ``bbox_inches="tight"`` draws a figure twice (once to measure it); here
    it is drawn once and its pixels cut. Outside the figure (a legend beside the axes) it
    cannot be cut: :func:`tight_png` makes the larger canvas that holds it.
    """
    fig.set_dpi(DPI)
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg), "subplots() gives every figure an Agg canvas"
    canvas.draw()
    drawn = fig.get_tightbbox(canvas.get_renderer())
    width, height = fig.get_size_inches()
    if drawn.x0 < 0 or drawn.y0 < 0 or drawn.x1 > width or drawn.y1 > height:
        return None
    # The drawn box and its margin in pixels (rows downwards); the margin may pass the edge.
    box = drawn.padded(TIGHT_MARGIN)
    left, right = math.floor(box.x0 * DPI), math.ceil(box.x1 * DPI)
    top, bottom = math.floor((height - box.y1) * DPI), math.ceil((height - box.y0) * DPI)
    pixels = np.asarray(canvas.buffer_rgba())
    cut = pixels[max(top, 0) : bottom, max(left, 0) : right]
    if (cut[..., 3] == 255).all():  # opaque, as every picture: RGB, a quarter fewer bytes to compress
        cut = cut[..., :3]
    beyond = ((max(-top, 0), max(bottom - pixels.shape[0], 0)), (max(-left, 0), max(right - pixels.shape[1], 0)))
    return np.pad(cut, (*beyond, (0, 0)), constant_values=255)  # white, as savefig's margin; a copy


def encoded(pixels: np.ndarray) -> bytes:
    """PNG bytes of RGB(A) pixels. Compression level 3: as small as the default (6) within 3 %, in half the time."""
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels).save(buffer, format="png", compress_level=3)
    return buffer.getvalue()


def tight_png(fig: Figure) -> bytes:
    """PNG bytes of ``savefig`` cut to what the figure draws, wherever it is."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def rendered(figures: Sequence[NamedFigure]) -> list[tuple[str, str, bytes]]:
    """Each picture's file name, caption and PNG bytes.

    The compression of each picture (Pillow lets go of Python's lock) runs on a thread of its
    own while the next one is drawn; drawing stays on this thread (matplotlib's fonts are not
    safe to share between threads).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cryodedup-png") as compressing:
        pngs: list[Future[bytes]] = []
        for _, _, fig in figures:
            pixels = drawn_pixels(fig)
            if pixels is None:  # drawn here too
                pngs.append(Future())
                pngs[-1].set_result(tight_png(fig))
            else:
                pngs.append(compressing.submit(encoded, pixels))
        return [(name, caption, png.result()) for (name, caption, _), png in zip(figures, pngs)]
