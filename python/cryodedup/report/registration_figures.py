"""The registration picture (--registration): the displacements between two inputs' picks on shared micrographs."""

from __future__ import annotations

from typing import Any

import numpy as np

from .canvas import (
    TEXT,
    TITLE_TEXT,
    Canvas,
    Panel,
    Picture,
    text_width,
    viridis,
)
from .particle_base import (
    ParticleDetails,
)

__all__ = ["registration_picture"]

#: Panels of the registration picture, at most (a pair as read, and after its best linear part).
REGISTRATION_PANELS = 4
#: Bins of the displacements' histogram along each axis.
DISPLACEMENT_BINS = 60


def registration_picture(details: ParticleDetails) -> Picture:
    """The displacements between two inputs' picks on the same micrographs (``--registration``).

    Each panel is the 2-D histogram of a - b over the pairs of picks the registration's vote
    draws (every pick of b on a voter's micrograph): picks of one frame pile up at the
    origin (the cross), a frame shifted by a constant offset piles them up there (the ring:
    the transform found, when it fired), and a swap, a mirror or a scale piles them up only
    after its linear part (the pair's second panel). Drawn within ten radii of the origin (and
    the shift): the chance pairs of a micrograph spread evenly over it. Colour: the count, on
    a log scale (its bar beside each panel); the origin's circle is the distance, within which
    a pair is one particle picked twice, drawn open so that the pile inside it shows.
    """
    assert details.registration is not None, "drawn only when the inputs were registered"
    panels = []
    for pair in details.registration():
        panels.append((f"{pair.label}: as read", pair.as_read, pair.shift if pair.moved is None else None, pair))
        if pair.moved is not None:
            panels.append((f"after its {pair.best.removeprefix('best: ')}", pair.moved, pair.shift, pair))
    panels = panels[:REGISTRATION_PANELS]
    heading = "Registration: displacements between the inputs' picks on shared micrographs"
    side, gap, left, top = 330, 170, 100, 80  # (the gap: a colour bar, its ticks and title)
    canvas = Canvas(
        max(left + len(panels) * (side + gap), round(text_width(heading, TITLE_TEXT)) + 60), top + side + 120
    )
    drawn = []
    for k, (title, d, shift, pair) in enumerate(panels):
        x0 = left + k * (side + gap)
        drawn.append(_displacement_panel(canvas, (x0, top, x0 + side, top + side), title, d, shift, pair))
    canvas.text((canvas.width / 2, 14), heading, TITLE_TEXT, "mt")
    return Picture(canvas, drawn)


def _displacement_panel(
    canvas: Canvas,
    box: tuple[float, float, float, float],
    title: str,
    d: np.ndarray,
    shift: np.ndarray | None,
    pair: Any,
) -> Panel:
    """One panel: the 2-D histogram of the displacements (x, y in Å), the origin and the shift found."""
    # Around the origin and the shift: the pairs of one particle pile up within the radius
    # there, while the chance pairs of a micrograph spread over its whole width.
    reach = max(10 * pair.radius, 1.6 * float(np.abs(shift[:2]).max()) if shift is not None else 0.0)
    panel = Panel(canvas, box, (-reach, reach), (-reach, reach))
    counts, xe, ye = np.histogram2d(d[:, 0], d[:, 1], bins=DISPLACEMENT_BINS, range=[[-reach, reach]] * 2)
    panel.marks["displacements"] = counts
    top = np.log1p(max(float(counts.max()), 4.0))  # (a lone pair dark, not the top colour)
    canvas.rectangle(box, fill=viridis(0.0))  # (an empty cell is a count of 0, not a hole in the picture)
    for i, j in zip(*np.nonzero(counts)):
        cell = (float(panel.x(xe[i])), float(panel.y(ye[j + 1])), float(panel.x(xe[i + 1])), float(panel.y(ye[j])))
        canvas.rectangle(cell, fill=viridis(float(np.log1p(counts[i, j]) / top)))
    within = float(panel.x(pair.radius) - panel.x(0.0))
    canvas.circles(panel.xy(np.zeros((1, 2))), within, "#d62728", width=2.0)
    panel.legend.add("ring", "#d62728", f"one frame: within {pair.radius:g} Å of the origin")
    _count_bar(canvas, box, float(counts.max()), top)
    if shift is not None:
        canvas.markers("ring", panel.xy(shift[None, :2]), 10, "#ff7f0e")
        panel.legend.add("ring", "#ff7f0e", f"the shift found: {shift[0]:.0f}, {shift[1]:.0f} Å")
    panel.ticks_x()
    gap = panel.ticks_y()
    panel.labels(title, "x displacement (Å)", "y displacement (Å)", TEXT, ylabel_gap=gap)
    panel.frame()
    canvas.legend(panel.legend, ((box[0] + box[2]) / 2, box[3] + 50), anchor="mt")
    return panel


def _count_bar(canvas: Canvas, box: tuple[float, float, float, float], most: float, top: float) -> None:
    """The colour bar of a panel's counts: 0, then each power of ten up to the most in one cell."""
    counts = [0.0] + [10.0**k for k in range(int(np.log10(max(most, 1.0))) + 1)]
    ticks = np.log1p(np.array(counts)) / top
    labels = [f"{c:,.0f}" for c in counts]
    canvas.colour_bar((box[2] + 14, box[1], box[2] + 30, box[3]), ticks, labels, "pairs in a cell (log scale)")
