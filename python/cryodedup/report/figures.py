"""What the pictures of both jobs share: matplotlib without a display, colours, PNG bytes.

Imported only when a job is run with ``--plot``: the default path loads no plotting code.
Each figure function returns the matplotlib Figure, whose artists carry the data (tests
read them back); :func:`rendered` makes the PNGs the report embeds.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

KEPT_COLOUR, REJECTED_COLOUR = "#1a9641", "#d7191c"
DPI = 110  # of the saved PNGs

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


def labelled_axes(xlabel: str, ylabel: str, title: str, size: tuple[float, float] = (7, 4)) -> tuple[Figure, Axes]:
    """A new figure with one labelled plot."""
    fig, ax = subplots(figsize=size)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return fig, ax


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def rendered(figures: Sequence[NamedFigure]) -> list[tuple[str, str, bytes]]:
    """Each picture's file name, caption and PNG bytes."""
    return [(name, caption, png_bytes(fig)) for name, caption, fig in figures]
