"""The consensus pictures (--min-support, several inputs): each input's picks by fate, the inputs' agreement."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..algo.consensus import OUTCOMES, covered_jaccard, input_pair_counts, mean_agreement, pick_outcomes
from ..labels import input_labels
from .canvas import (
    INK,
    KEPT_COLOUR,
    REJECTED_COLOUR,
    SMALL_TEXT,
    TEXT,
    TICK_TEXT,
    Canvas,
    Legend,
    Panel,
    Picture,
    font,
    nice_ticks,
    rgb,
    text_width,
    tick_labels,
    viridis,
)
from .particle_base import (
    DISPLACED_COLOUR,
    PLOT_SIZE,
    UNCONFIRMED_COLOUR,
    ParticleDetails,
    headroom,
    labelled_plot,
)
from .particle_charts import bar_chart, finish_bar_chart

__all__ = ["agreement", "consensus_by_input"]

AGREEMENT_COLOUR = "#2b83ba"


def _confirmed_by(details: ParticleDetails) -> np.ndarray:
    """The bitmask of the inputs confirming each particle; the consensus pictures need it."""
    if details.confirmed_by is None:
        raise ValueError("the consensus pictures need the inputs confirming each particle (confirmed_by)")
    return details.confirmed_by


#: Colour and legend of each fate of a pick (cryodedup.algo.consensus.OUTCOMES).
FATE_STYLE = {
    "kept_confirmed": (KEPT_COLOUR, "kept, confirmed"),
    "kept_alone": ("#a6d96a", "kept alone (no other input picked it)"),
    "kept_not_confirmable": ("#abd9e9", "kept, not confirmable (too few inputs ran there)"),
    "rejected_duplicate": (REJECTED_COLOUR, "rejected duplicate"),
    "rejected_unconfirmed": (UNCONFIRMED_COLOUR, "rejected, confirmed by too few inputs"),
    "rejected_not_confirmable": ("#636363", "rejected, not confirmable (--uncovered reject)"),
    "rejected_displaced": (DISPLACED_COLOUR, "rejected: overlaps a kept pick of another species (--cross-species)"),
}
#: The fates the consensus picture tells apart: the consensus' own, then a pick kept within its
#: species and displaced by a pick of another species (--cross-species).
PICTURE_FATES = (*OUTCOMES, "rejected_displaced")


def picture_fates(details: ParticleDetails) -> np.ndarray:
    """Each pick's fate, an index into :data:`PICTURE_FATES`."""
    outcomes = pick_outcomes(details.keep, _confirmed_by(details), details.unconfirmed, details.not_confirmable)
    if details.displaced_by is not None:  # (else counted as duplicates, or as not confirmable if kept as such)
        outcomes[details.displaced_by >= 0] = PICTURE_FATES.index("rejected_displaced")
    return outcomes


def consensus_by_input(details: ParticleDetails) -> Picture:
    """Per input, one bar of all its picks, split by fate: the parts add up to its picks.

    Fates that no pick of any input has are left out of the bars and the legend.
    """
    k = len(details.inputs)
    # (the narrowest cells that hold them: at 10M picks int64's were 160 MB beside the summary's work)
    cells = details.input_of.astype(np.uint8 if k * len(PICTURE_FATES) <= 256 else np.int64)
    np.multiply(cells, len(PICTURE_FATES), out=cells)
    np.add(cells, picture_fates(details), out=cells)
    counts = np.bincount(cells, minlength=k * len(PICTURE_FATES)).reshape(k, len(PICTURE_FATES))
    shown = [(fate, widths) for fate, widths in zip(PICTURE_FATES, counts.T) if widths.any()]
    legend = Legend()
    for fate, _ in shown:
        colour, label = FATE_STYLE[fate]
        if fate == "kept_confirmed" and details.min_support > 1:
            label = f"kept, confirmed by {details.min_support} or more inputs"
        legend.add("patch", colour, label)
    picture, panel = bar_chart(
        "What became of each input's picks", "picks", input_labels(details.inputs), counts.sum(axis=1), legend
    )
    left = np.zeros(k, dtype=np.int64)
    for fate, widths in shown:
        panel.hbars(fate, np.arange(k), widths, left, FATE_STYLE[fate][0])
        left += widths
    finish_bar_chart(panel)
    return picture


def agreement(details: ParticleDetails) -> Picture:
    """The agreement between inputs: overall, and micrograph by micrograph.

    The distribution over micrographs of their mean pairwise neighbour agreement (low: the
    inputs disagree there), of the micrographs at least two inputs ran on: the consensus's
    count, picks with one of the other's within the distance, the two sides averaged, over the
    union (not a Jaccard index of one-to-one matches, nor the registration's agreement). That of a
    pair over the micrographs both ran on (with how many those are, when some input did not
    run on every micrograph): two inputs, marked on the histogram; more, beside it, each pair
    once (the matrix below its diagonal, whose ones say nothing; a pair that shares no
    micrograph is marked "no micrograph in common").
    """
    k = len(details.inputs)
    n_mics = len(details.mic_names)
    unit = details.unit
    confirmed_by = _confirmed_by(details)
    size, matched = input_pair_counts(details.particles, confirmed_by)  # (within species, with several)
    per_mic_matrices, overall = covered_jaccard(size, matched, details.covered)
    per_mic = mean_agreement(per_mic_matrices)
    covered = np.ones((n_mics, k), dtype=bool) if details.covered is None else details.covered
    shared_mics = covered.T.astype(np.int64) @ covered.astype(np.int64)  # micrographs both of a pair ran on
    labels = input_labels(details.inputs)
    on = _on_shared(shared_mics, n_mics, unit)
    counts, edges = np.histogram(per_mic[~np.isnan(per_mic)], bins=20, range=(0, 1))
    title = f"Agreement per {unit} (low: the inputs disagree)"
    lone = int((covered.sum(axis=1) < 2).sum())
    if lone:
        title += f"\n{lone} of {n_mics} {unit}s left out: fewer than 2 inputs ran on them"
    xlabel, ylabel = f"mean pairwise neighbour agreement of a {unit}", f"{unit}s"
    if k == 2:
        line = f"both: {overall[1, 0]:.2f}{on(1, 0, ' ')} ({labels[0]} / {labels[1]})"
        plot_size = (max(PLOT_SIZE[0], round(text_width(line, SMALL_TEXT) + 90)), PLOT_SIZE[1])  # the legend whole
        picture, panel = labelled_plot(title, xlabel, ylabel, (0, 1), headroom(counts), plot_size, below=30)
        panel.steps("per_micrograph", counts, edges, AGREEMENT_COLOUR, fill=True)
        if shared_mics[1, 0] == 0:
            panel.note(f"{labels[0]} and {labels[1]}: no {unit} in common", (0.5, 0.9))
        elif not np.isnan(overall[1, 0]):
            panel.vline("overall", overall[1, 0], "#333333", 1.5, dashed=True)
            panel.legend.add("dashed", "#333333", line)
        panel.frame()
        picture.canvas.legend(panel.legend, ((panel.box[0] + panel.box[2]) / 2, panel.box[3] + 56), anchor="mt")
        return picture
    return _agreement_with_matrix(overall, labels, shared_mics, on, (counts, edges), (title, xlabel, ylabel))


def _agreement_with_matrix(
    overall: np.ndarray,
    labels: list[str],
    shared_mics: np.ndarray,
    on: Callable[[int, int, str], str],
    histogram: tuple[np.ndarray, np.ndarray],
    words: tuple[str, str, str],
) -> Picture:
    """Three inputs or more: the matrix of each pair's index left, the histogram per micrograph right."""
    k = len(labels)
    cell = 100
    row_w = max(text_width(t, TICK_TEXT) for t in labels[1:]) + 16
    col_h = max(text_width(t, TICK_TEXT) for t in labels[:-1]) * 0.71 + 30  # labels at 45 degrees
    matrix_w = cell * (k - 1)
    hist_left = row_w + matrix_w + 110 + 80
    width = round(hist_left + 520 + 20)
    height = round(max(60 + matrix_w + col_h, 480))
    canvas = Canvas(width, height)
    matrix = Panel(canvas, (row_w, 60, row_w + matrix_w, 60 + matrix_w), (-0.5, k - 1.5), (-0.5, k - 1.5), flip_y=True)
    _pair_matrix(matrix, overall, labels, shared_mics, on)
    counts, edges = histogram
    probe = tick_labels(nice_ticks(*headroom(counts), integer=True))
    left = hist_left + max(text_width(t, TICK_TEXT) for t in probe)
    panel = Panel(canvas, (left, 60, width - 22, 60 + 340), (0, 1), headroom(counts))
    panel.ticks_x()
    gap = panel.ticks_y(integer=True)
    panel.labels(words[0], words[1], words[2], ylabel_gap=gap)
    panel.steps("per_micrograph", counts, edges, AGREEMENT_COLOUR, fill=True)
    panel.frame()
    return Picture(canvas, [matrix, panel])


#: Micrographs and tomograms as a matrix cell has room to say.
SHORT_UNITS = {"micrograph": "mics", "tomogram": "tomos"}


def _on_shared(shared_mics: np.ndarray, n_mics: int, unit: str) -> Callable[[int, int, str], str]:
    """Says on how many micrographs a pair's index is, when not on all of them."""
    partial = bool((shared_mics < n_mics).any())

    def on(a: int, b: int, sep: str) -> str:
        return f"{sep}on {shared_mics[a, b]} of {n_mics} {SHORT_UNITS[unit]}" if partial else ""

    return on


def _pair_matrix(
    panel: Panel,
    overall: np.ndarray,
    labels: list[str],
    shared_mics: np.ndarray,
    on: Callable[[int, int, str], str],
) -> None:
    """The neighbour agreement of each pair of inputs: row a + 1, column b for a >= b, nothing above; its colour bar."""
    k = len(labels)
    canvas = panel.canvas
    below = overall[1:, :-1].copy()  # cell (a, b) is the pair (a + 1, b)
    below[np.triu_indices(k - 1, 1)] = np.nan
    panel.marks["pair_matrix"] = below
    for a in range(k - 1):
        for b in range(a + 1):
            box = _cell_box(panel, a, b)
            centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            if shared_mics[a + 1, b] == 0:  # grey: the pair has no micrograph in common
                canvas.rectangle(box, fill=rgb("#dddddd"))
                panel.texts.append("no micrograph\nin common")
                canvas.text(centre, panel.texts[-1], SMALL_TEXT - 1)
            elif not np.isnan(below[a, b]):
                canvas.rectangle(box, fill=viridis(below[a, b]))
                ink = INK if below[a, b] > 0.7 else (255, 255, 255)  # legible on viridis' yellow and its blues
                panel.texts.append(f"{below[a, b]:.2f}{on(a + 1, b, chr(10))}")
                canvas.text(centre, panel.texts[-1], SMALL_TEXT, colour=ink)
    x0, y0, x1, y1 = panel.box
    canvas.line([(x0, y0), (x0, y1), (x1, y1)], INK)  # left and bottom sides: the top and right are empty
    for t, label in enumerate(labels[1:]):
        canvas.text((x0 - 8, float(panel.y(t))), label, TICK_TEXT, "rm")
    for t, label in enumerate(labels[:-1]):
        _slanted_label(canvas, (float(panel.x(t)) + 6, y1 + 8), label)
    canvas.text(((x0 + x1) / 2, y0 - 8), "Each pair of inputs", TEXT, "mb")
    ticks = np.linspace(0, 1, 6)
    canvas.colour_bar((x1 + 40, y0, x1 + 58, y1), ticks, tick_labels(ticks), "neighbour agreement")


def _cell_box(panel: Panel, a: int, b: int) -> tuple[float, float, float, float]:
    return float(panel.x(b - 0.5)), float(panel.y(a - 0.5)), float(panel.x(b + 0.5)), float(panel.y(a + 0.5))


def _slanted_label(canvas: Canvas, xy: tuple[float, float], text: str) -> None:
    """A column's label at 45 degrees, ending under the column."""
    from PIL import Image, ImageDraw

    scale = 2
    f = font(TICK_TEXT)
    label = Image.new("L", (int(f.getlength(text)) + 4, TICK_TEXT * 2 * scale), 0)
    ImageDraw.Draw(label).text((label.width - 2, label.height / 2), text, font=f, fill=255, anchor="rm")
    turned = label.rotate(45, expand=True, resample=Image.Resampling.BICUBIC)
    corner = (round(xy[0] * scale - turned.width), round(xy[1] * scale))
    canvas.image.paste(Image.new("RGB", turned.size, INK), corner, turned)
