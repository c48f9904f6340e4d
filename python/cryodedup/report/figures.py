"""What the pictures of both jobs share: matplotlib without a display, colours, PNG bytes.

Imported only when a job is run with ``--plot``: the default path loads no plotting code.
Each figure function returns the matplotlib Figure, whose artists carry the data (tests
read them back); :func:`rendered` makes the PNGs the report embeds.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

KEPT_COLOUR, REJECTED_COLOUR = "#1a9641", "#d7191c"
DPI = 110  # of the saved PNGs

#: A picture of a job: file name, caption and the figure.
NamedFigure = tuple[str, str, Figure]


def labelled_axes(xlabel: str, ylabel: str, title: str, size: tuple[float, float] = (7, 4)) -> tuple[Figure, Axes]:
    """A new figure with one labelled plot."""
    fig, ax = plt.subplots(figsize=size)
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
    """Each picture's file name, caption and PNG bytes; the figures are closed (pyplot keeps them open)."""
    pngs = [(name, caption, png_bytes(fig)) for name, caption, fig in figures]
    for _, _, fig in figures:
        plt.close(fig)
    return pngs
