"""The micrograph job's pictures: the scores of the compared pairs, flagged pairs, specimen positions.

Drawn with :mod:`cryodedup.report.canvas` (Pillow), as the particle job's are: one way to draw
(issue 92). Each returns a :class:`~cryodedup.report.canvas.Picture` whose panels keep what
they show by name (``panel.marks``), their titles and labels, for the tests to read back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from .canvas import (
    INK,
    KEPT_COLOUR,
    REJECTED_COLOUR,
    REVISIT_COLOUR,
    TICK_TEXT,
    Canvas,
    Panel,
    Picture,
    nice_ticks,
    rgb,
    text_width,
    tick_labels,
    wrapped,
)
from .particle_base import labelled_plot

__all__ = ["overlay", "pair_figure", "position_map", "z_against_pearson", "z_distribution"]

HISTOGRAM_COLOUR = "#4c72b0"
GUIDE_COLOUR = "#444444"


def z_distribution(z: np.ndarray, threshold: float) -> Picture:
    """Histogram (log scale) of the phase-correlation z of all scored pairs, with the threshold."""
    top = max(float(np.max(z)) if len(z) else 1.0, threshold * 1.5)
    counts, edges = np.histogram(z, bins=100, range=(0, top))
    decades = max(1, int(np.ceil(np.log10(max(int(counts.max(initial=0)), 1) * 1.5))))
    ticks = np.arange(decades + 1, dtype=float)
    picture, panel = labelled_plot(
        f"Scores of {len(z):,} compared pairs",
        "phase-correlation peak z (standard deviations of the map)",
        "pairs (log scale)",
        (0.0, top),
        (float(np.log10(0.5)), float(decades)),
        yticks=(ticks, [f"{10**k:,}" for k in range(decades + 1)]),
    )
    for count, lo, hi in zip(counts.tolist(), edges[:-1].tolist(), edges[1:].tolist()):
        if count:
            box = (panel.x(lo), panel.y(np.log10(count)), panel.x(hi), panel.y(panel.ylim[0]))
            panel.canvas.rectangle(tuple(float(v) for v in box), fill=rgb(HISTOGRAM_COLOUR))  # type: ignore[arg-type]
    panel.marks["z"] = (counts, edges)
    panel.vline("threshold", threshold, REJECTED_COLOUR)
    panel.legend.add("line", REJECTED_COLOUR, f"threshold z = {threshold:g}")
    panel.frame()
    panel.place_legend("upper right")
    return picture


def z_against_pearson(
    z: np.ndarray, pearson: np.ndarray, is_duplicate: np.ndarray, min_z: float, min_pearson: float
) -> Picture:
    """Every scored pair by its z and Pearson coefficient, with both thresholds.

    A pair is a duplicate only in the upper right corner. Pairs whose peak is too low for a
    Pearson coefficient (``nan``) are counted in the title.
    """
    has_r = np.isfinite(pearson)
    r = pearson[has_r]
    low = min(float(r.min()) if len(r) else 0.0, min_pearson, 0.0)
    high = max(float(r.max()) if len(r) else 1.0, min_pearson, 1.0)
    pad = 0.05 * (high - low)
    xlim = (0.0, max(float(np.max(z)) if len(z) else 0.0, 1.5 * min_z) * 1.05)
    picture, panel = labelled_plot(
        f"{int(has_r.sum()):,} pairs with a Pearson coefficient; {int((~has_r).sum()):,} with z below 5 have none",
        "phase-correlation peak z (standard deviations of the map)",
        "Pearson coefficient over the overlap",
        xlim,
        (low - pad, high + pad),
        size=(1040, 550),
        right=290,
        yticks=(nice_ticks(low - pad, high + pad), None),
    )
    for mask, colour, label, name in (
        (has_r & ~is_duplicate, "#4c72b0", "not a duplicate", "not_duplicate"),
        (has_r & is_duplicate, REJECTED_COLOUR, "duplicate", "duplicate"),
    ):
        points = np.column_stack([z[mask], pearson[mask]])
        panel.marks[name] = points
        panel.canvas.dots(panel.xy(points), 3.0, rgb(colour))
        panel.legend.add("dot", colour, f"{label} ({int(mask.sum()):,})")
    panel.vline("min_z", min_z, GUIDE_COLOUR, 1.0, dashed=True)
    panel.marks["min_pearson"] = float(min_pearson)
    y = float(panel.y(min_pearson))
    panel.canvas.dashed((panel.box[0], y), (panel.box[2], y), rgb(GUIDE_COLOUR), 1.0)
    panel.legend.add("dashed", GUIDE_COLOUR, f"minimum z {min_z:g}")
    panel.legend.add("dashed", GUIDE_COLOUR, f"minimum Pearson {min_pearson:g}")
    panel.canvas.clear_outside([panel.box])  # (a dot at the edge cut at the box)
    panel.ticks_x()
    panel.ticks_y()
    panel.labels(panel.title, panel.xlabel, panel.ylabel, ylabel_gap=_gap(panel))
    panel.frame()
    panel.canvas.legend(panel.legend, (panel.box[2] + 16, panel.box[1]))
    return picture


def _gap(panel: Panel) -> float:
    """The width of the widest y tick label (where the y label goes)."""
    return max((text_width(t, TICK_TEXT) for t in tick_labels(panel.yticks)), default=0.0)


def _norm(img: np.ndarray) -> np.ndarray:
    """An image scaled from its 1st (0) to its 99th percentile (1)."""
    lo, hi = np.percentile(img, [1, 99])
    return np.clip((img - lo) / (hi - lo + 1e-12), 0, 1)


def overlay(a: np.ndarray, b: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Two binned micrographs overlaid at their shift (RGB, 0 to 1): a magenta, b green, grey where they agree.

    b[y, x] shows a[y + dy, x + dx] (the report's pair pictures and pairs.html alike).
    """
    ny, nx = a.shape
    oy, ox = max(0, -dy), max(0, -dx)  # a's origin on the canvas; b's is (oy + dy, ox + dx)
    canvas = np.zeros((ny + abs(dy), nx + abs(dx), 3))
    canvas[oy : oy + ny, ox : ox + nx, 0] = _norm(a)
    canvas[oy : oy + ny, ox : ox + nx, 2] = _norm(a)
    canvas[oy + dy : oy + dy + ny, ox + dx : ox + dx + nx, 1] = _norm(b)
    return canvas


def _image(pixels: np.ndarray) -> Image.Image:
    """An image of values 0 to 1 (grey, or RGB rows x columns x 3) as Pillow's RGB."""
    data = np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(data if data.ndim == 3 else np.repeat(data[..., None], 3, axis=2), "RGB")


#: The pair picture's panels: at most this many pixels on their longer side.
PAIR_PANEL = 360


def pair_figure(
    a: np.ndarray, b: np.ndarray, dy: int, dx: int, title: str, binned_psize: float | None = None
) -> Picture:
    """Two binned micrographs side by side, and overlaid at the found shift.

    b[y, x] shows a[y + dy, x + dx]; in the overlay a is magenta, b green, and grey where
    they agree. The shift is said in binned pixels (the axes') and, given ``binned_psize``
    (Å per binned pixel), in Å as the report's table gives it. Row 0 at the top.
    """
    both = overlay(a, b, dy, dx)
    shapes = [a.shape, b.shape, both.shape[:2]]
    scale = PAIR_PANEL / max(max(s) for s in shapes)
    sizes = [(s[1] * scale, s[0] * scale) for s in shapes]
    left, gap, top = 78.0, 70.0, 96.0
    height = max(h for _, h in sizes)
    canvas = Canvas(int(left + sum(w for w, _ in sizes) + 2 * gap + 24), int(top + height + 70))
    in_angstrom = f"\n= ({dx * binned_psize:.0f}, {dy * binned_psize:.0f}) Å" if binned_psize else ""
    titles = ["first acquisition", "later acquisition", f"overlaid at shift ({dx}, {dy}) binned px{in_angstrom}"]
    panels = []
    x = left
    for k, (pixels, shape, (w, h)) in enumerate(zip((_norm(a), _norm(b), both), shapes, sizes)):
        panel = Panel(canvas, (x, top, x + w, top + h), (-0.5, shape[1] - 0.5), (-0.5, shape[0] - 0.5), flip_y=True)
        canvas.paste(_image(pixels), panel.box)
        panel.marks["image"] = shape
        panel.ticks_x(integer=True)
        gap_y = panel.ticks_y(integer=True)
        panel.labels(titles[k], "x (binned px)", "y (binned px)" if k == 0 else "", TICK_TEXT + 1, ylabel_gap=gap_y)
        panel.frame()
        panels.append(panel)
        x += w + gap
    canvas.text((canvas.width / 2, 8), title, 17, "mt", INK)
    return Picture(canvas, panels, title)


def position_map(
    xy: np.ndarray,
    squares: np.ndarray,
    square_names: Sequence[str],
    duplicate_pairs: np.ndarray,
    rejected: np.ndarray,
    beam_diameter: float,
    most: int = 9,
    revisits: np.ndarray | None = None,
) -> Picture:
    """Every image's specimen position (µm) per grid square; duplicates joined by a line.

    One panel per grid square, those with the most duplicates, then revisits, first (at most ``most``); each
    image a circle of the beam's diameter, the rejected ones red, each duplicate pair joined.
    What an operator reads to see which template or hole misfired. ``revisits``: (earlier, later)
    pairs the metadata names (a hole revisited, a position exposed again), each later image an
    orange diamond joined to the earlier one by a dashed line.
    """
    revisits = np.zeros((0, 2), dtype=np.int64) if revisits is None else np.asarray(revisits).reshape(-1, 2)
    placed = np.flatnonzero(squares >= 0)
    dup_square = squares[duplicate_pairs[:, 0]] if len(duplicate_pairs) else np.zeros(0, dtype=np.int64)
    again_square = squares[revisits[:, 1]] if len(revisits) else np.zeros(0, dtype=np.int64)
    counts = [
        (int((dup_square == q).sum()), int((again_square == q).sum()), int((squares == q).sum()), q)
        for q in np.unique(squares[placed])
    ]
    shown = [q for *_, q in sorted(counts, key=lambda c: (-c[0], -c[1], -c[2], c[3]))[:most]]
    columns = min(3, max(1, len(shown)))
    rows = max(1, -(-len(shown) // columns))
    cell, side = 462, 330  # each square's room and its plot box, PNG pixels
    title = (
        f"Specimen positions (circles: beam {beam_diameter:.2f} µm; red: rejected, joined to its duplicate"
        + ("; orange diamonds: revisits in the metadata, dashed to the earlier image" if len(revisits) else "")
        + ")"
    )
    lines = wrapped(title, cell * columns - 40, 14)
    head = 24 + 18 * (lines.count("\n") + 1)
    canvas = Canvas(cell * columns, head + (cell - 40) * rows)
    panels = []
    for k, q in enumerate(shown):
        here = np.flatnonzero(squares == q)
        mine = duplicate_pairs[dup_square == q] if len(duplicate_pairs) else duplicate_pairs
        again = revisits[squares[revisits[:, 1]] == q] if len(revisits) else revisits
        x0, y0 = cell * (k % columns) + 100, head + (cell - 40) * (k // columns) + 40
        panel = Panel(canvas, (x0, y0, x0 + side, y0 + side), *_square_limits(xy[here], beam_diameter))
        _draw_square(panel, xy, here, rejected, mine, again, beam_diameter)
        images = f"{len(here)} image{'' if len(here) == 1 else 's'}"
        pairs = f"{len(mine)} duplicate pair{'' if len(mine) == 1 else 's'}"
        revisited = f", {len(again)} revisit{'' if len(again) == 1 else 's'}" if len(again) else ""
        panel.ticks_x()
        gap = panel.ticks_y()
        panel.labels(f"{square_names[q]}: {images}, {pairs}{revisited}", "x (µm)", "y (µm)", 14, ylabel_gap=gap)
        panel.frame()
        panels.append(panel)
    canvas.text((canvas.width / 2, 12), lines, 14, "mt", INK)
    return Picture(canvas, panels, title)


def _square_limits(points: np.ndarray, beam_diameter: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Equal x and y ranges (µm) that hold every point's beam circle, centred on them."""
    lo, hi = points.min(axis=0) - beam_diameter, points.max(axis=0) + beam_diameter
    middle, half = (lo + hi) / 2, float(max(hi - lo)) / 2
    return (middle[0] - half, middle[0] + half), (middle[1] - half, middle[1] + half)


def _draw_square(
    panel: Panel,
    xy: np.ndarray,
    here: np.ndarray,
    rejected: np.ndarray,
    mine: np.ndarray,
    again: np.ndarray,
    beam_diameter: float,
) -> None:
    """One grid square's images: beam circles, centres, rejected crosses, duplicate and revisit lines."""
    canvas = panel.canvas
    radius = float(panel.x(beam_diameter / 2) - panel.x(0))
    gone = here[rejected[here]]
    kept = here[~rejected[here]]
    canvas.circles(panel.xy(xy[kept]), radius, rgb(KEPT_COLOUR), 0.6)
    canvas.circles(panel.xy(xy[gone]), radius, rgb(REJECTED_COLOUR), 0.6)
    canvas.dots(panel.xy(xy[here]), 1.5, rgb(KEPT_COLOUR))
    canvas.markers("cross", panel.xy(xy[gone]), 6.0, rgb(REJECTED_COLOUR))
    if len(mine):
        canvas.segments(panel.xy(xy[mine[:, 0]]), panel.xy(xy[mine[:, 1]]), rgb(REJECTED_COLOUR), 1.5)
    for a, b in again.tolist():
        canvas.dashed(tuple(panel.xy(xy[a])[0]), tuple(panel.xy(xy[b])[0]), rgb(REVISIT_COLOUR), 1.0)
    if len(again):
        canvas.markers("diamond", panel.xy(xy[again[:, 1]]), 6.0, rgb(REVISIT_COLOUR), 1.5)
    panel.marks.update(images=xy[here], rejected=xy[gone], duplicates=mine, revisits=again)
