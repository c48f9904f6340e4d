"""The particle job's picture of its duplicate density: the duplicate fraction of each micrograph.

The outliers (:mod:`cryodedup.algo.density`) stand out in red above the threshold's line,
and the worst of them are named beside. Drawn with :mod:`cryodedup.report.canvas` (Pillow).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ..labels import distinct_labels
from .canvas import REJECTED_COLOUR, SMALL_TEXT, TICK_TEXT, Canvas, Legend, Panel, Picture, rgb, text_width
from .particle_base import ParticleDetails
from .sections.density import NAMED
from .summary import short_name

__all__ = ["duplicate_fraction"]

OTHER_COLOUR, MEDIAN_COLOUR = "#4c72b0", "#7f7f7f"
#: Characters of a micrograph's name beside its bar (cut at the front: its end tells it apart).
NAME_WIDTH = 36
#: PNG pixels of the worst outliers' bars, and the fewest rows they are drawn among (one bar stays a bar).
BARS_WIDTH, FEWEST_ROWS = 240, 5
#: PNG pixels: where the fractions' panel starts and ends, and where the names of the worst begin. The picture
#: stays under the report's 1200 px (wider, the browser shrank its text to 9 px).
LEFT_START, LEFT_END, NAMES_START = 80, 620, 650
#: Up to this many micrographs, each is named under its place (turned where the names do not fit
#: side by side; a turned name takes about 1.3 x its text's size); beyond, their places are numbered.
MOST_NAMED_ON_AXIS, AXIS_NAME_TEXT = 30, SMALL_TEXT - 2


def duplicate_fraction(details: ParticleDetails) -> Picture:
    """Each micrograph's fraction of picks rejected as duplicates, in input order; the outliers named.

    Left: one dot per micrograph with picks, the outliers red, the median and the threshold
    as lines. Right (when there are outliers): the worst :data:`NAMED` by fraction, each bar
    labelled with its duplicates and picks.
    """
    unit = details.unit
    picks, duplicates = details.picks_per_micrograph, details.duplicates_per_micrograph
    found, numbers = details.density_outliers
    worst = found[:NAMED]
    names = [short_name(n, NAME_WIDTH) for n in distinct_labels([details.mic_names[m] for m in worst])]
    names_w = max((text_width(t, SMALL_TEXT - 1) for t in names), default=0)
    right_w = round(names_w + 20 + BARS_WIDTH + 30) if len(worst) else 0
    axis = _axis_names(details.mic_names)
    canvas = Canvas(max(NAMES_START + right_w, 700), 530 + round(axis.height))
    left = _fractions_panel(canvas, picks, duplicates, found, numbers, unit, axis)
    panels = [left]
    if len(worst):
        box = (NAMES_START + names_w + 20, 60, NAMES_START + names_w + 20 + BARS_WIDTH, 430)
        panels.append(_worst_panel(canvas, box, picks, duplicates, worst))
        for row, name in enumerate(names):
            canvas.text((NAMES_START + names_w + 12, float(panels[1].y(row))), name, SMALL_TEXT - 1, "rm")
    return Picture(canvas, panels, legend=left.legend)


class _AxisNames(NamedTuple):
    """The micrographs' names under the fractions' axis (none: numbered), whether turned, the height they add."""

    names: list[str]
    turned: bool
    height: float


def _axis_names(mic_names: Sequence[str]) -> _AxisNames:
    """Each micrograph's name as the picture's other panel names it, if few enough to stand under the axis."""
    if not 0 < len(mic_names) <= MOST_NAMED_ON_AXIS:
        return _AxisNames([], False, 0.0)
    names = [short_name(n, NAME_WIDTH) for n in distinct_labels(list(mic_names))]
    widest = max(text_width(n, AXIS_NAME_TEXT) for n in names)
    room = (LEFT_END - LEFT_START) / len(names)  # between two ticks
    if widest + 8 <= room:
        return _AxisNames(names, False, 0.0)
    return _AxisNames(names, True, widest - AXIS_NAME_TEXT * 1.25)  # (the numbers' row already had room)


def _fractions_panel(
    canvas: Canvas,
    picks: np.ndarray,
    duplicates: np.ndarray,
    found: np.ndarray,
    numbers: dict,
    unit: str,
    axis: _AxisNames,
) -> Panel:
    has = np.flatnonzero(picks > 0)
    fraction = duplicates[has] / np.maximum(picks[has], 1)
    panel = Panel(canvas, (LEFT_START, 60, LEFT_END, 430), (-0.5, max(len(picks), 1) - 0.5), (0.0, 1.02))
    is_outlier = np.isin(has, found)
    panel.marks["fractions"] = np.column_stack([has, fraction])
    panel.marks["outliers"] = np.column_stack([has[is_outlier], fraction[is_outlier]])
    radius = 2.5 if len(has) < 2000 else 1.5  # thousands of micrographs: smaller dots
    canvas.dots(panel.xy(panel.marks["fractions"][~is_outlier]), radius, rgb(OTHER_COLOUR))
    canvas.dots(panel.xy(panel.marks["outliers"]), 4.0, rgb(REJECTED_COLOUR))
    legend = Legend([("patch", OTHER_COLOUR, f"a {unit} ({len(has):,} with picks)")])
    if "thresholds" in numbers:  # micrographs of different inputs: each compared with those of the same inputs
        _cohort_thresholds(panel, has, numbers["thresholds"][has])
        legend.add("dashed", REJECTED_COLOUR, f"threshold (among {unit}s with the same inputs)")
    elif numbers["threshold"] is not None:
        _hline(panel, "median", numbers["median"], MEDIAN_COLOUR, dashed=False)
        _hline(panel, "threshold", min(numbers["threshold"], 1.02), REJECTED_COLOUR, dashed=True)
        legend.add("line", MEDIAN_COLOUR, f"median {numbers['median']:.2f}")
        legend.add("dashed", REJECTED_COLOUR, f"outlier above {numbers['threshold']:.2f}")
    legend.add("patch", REJECTED_COLOUR, f"outlier ({len(found):,})")
    panel.frame()
    if axis.names:
        panel.ticks_x(np.arange(len(axis.names)), axis.names, size=AXIS_NAME_TEXT, turned=axis.turned)
    else:
        panel.ticks_x(integer=True)
    gap = panel.ticks_y()
    title = f"Duplicate fraction per {unit}"
    ylabel = "fraction of its picks rejected as duplicates"
    panel.labels(title, f"{unit} (input order)", ylabel, ylabel_gap=gap, xlabel_gap=axis.height)
    panel.legend = legend
    canvas.legend(legend, ((panel.box[0] + panel.box[2]) / 2, 480 + axis.height), columns=2, anchor="mt")
    return panel


def _worst_panel(
    canvas: Canvas, box: tuple[float, float, float, float], picks: np.ndarray, duplicates: np.ndarray, worst: np.ndarray
) -> Panel:
    fraction = duplicates[worst] / picks[worst]
    panel = Panel(canvas, box, (0.0, 1.0), (-0.6, max(len(worst), FEWEST_ROWS) - 0.4), flip_y=True)
    rows = np.arange(len(worst))
    panel.hbars("worst", rows, fraction, np.zeros(len(worst)), REJECTED_COLOUR)
    for row, f, d, n in zip(rows, fraction, duplicates[worst], picks[worst]):
        inside = f > 0.55  # the count inside a long bar, else after it
        x = float(panel.x(f)) + (-6 if inside else 6)
        colour = (255, 255, 255) if inside else (34, 34, 34)
        canvas.text((x, float(panel.y(row))), f"{d:,} of {n:,}", TICK_TEXT - 2, "rm" if inside else "lm", colour)
    panel.frame()
    panel.ticks_x()
    panel.labels("The worst outliers", "duplicate fraction (duplicates of picks)", "")
    return panel


def _cohort_thresholds(panel: Panel, has: np.ndarray, thresholds: np.ndarray) -> None:
    """Each micrograph's threshold, a short dash over its place (the micrographs of one set of inputs share one)."""
    panel.marks["thresholds"] = np.column_stack([has, thresholds])
    y = np.minimum(thresholds, 1.02)
    starts, ends = panel.xy(np.column_stack([has - 0.4, y])), panel.xy(np.column_stack([has + 0.4, y]))
    panel.canvas.segments(starts, ends, rgb(REJECTED_COLOUR), 1.8)


def _hline(panel: Panel, name: str, y: float, colour: str, dashed: bool) -> None:
    """A horizontal line across the panel at data ``y``."""
    panel.marks[name] = float(y)
    py = float(panel.y(y))
    ends = ((panel.box[0], py), (panel.box[2], py))
    if dashed:
        panel.canvas.dashed(*ends, rgb(colour), 1.8)
    else:
        panel.canvas.line(list(ends), rgb(colour), 1.5)
