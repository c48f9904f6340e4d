"""The particle job's pictures: distances, scores, inputs, consensus, half-sets, picks on micrographs.

Drawn with :mod:`cryodedup.report.canvas` (Pillow), not matplotlib, whose import alone costs
as much as the whole 1M-particle job. Each function returns a :class:`Picture` whose panels
keep the data they show by name (``panel.marks``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from ..algo.audit import TOP_MICROGRAPHS, straddling_per_micrograph
from ..algo.consensus import OUTCOMES, covered_jaccard, input_pair_counts, mean_agreement, pick_outcomes
from ..algo.dedup import SAME_CENTRE_A, nearest_neighbour_distances
from ..algo.histogram import clipped_histogram, percentiles
from ..labels import distinct_labels, input_labels
from .canvas import (
    INK,
    KEPT_COLOUR,
    MARKER_RADIUS,
    REJECTED_COLOUR,
    SMALL_TEXT,
    TEXT,
    TICK_TEXT,
    TITLE_TEXT,
    Canvas,
    Legend,
    Panel,
    Picture,
    drop_spares,
    font,
    nice_ticks,
    rgb,
    text_width,
    tick_labels,
    viridis,
)
from .density_figures import duplicate_fraction
from .particle_base import (
    OTHER_SPECIES_COLOUR,
    PLOT_SIZE,
    ParticleDetails,
    ScoreCounts,
    headroom,
    labelled_plot,
    nn_measured,
)
from .summary import short_name
from .suppressors import suppressors

__all__ = [
    "DISPLAY_WIDTH",
    "MicrographImage",
    "micrographs_drawn",
    "micrographs_to_show",
    "missing_examples",
    "rendered_particle_figures",
    "score_counts",
]

UNCONFIRMED_COLOUR = "#7b3294"  # kept as no duplicate, then rejected for lack of support
DISPLACED_COLOUR = "#e66101"  # kept within its species, then displaced by a pick of another species
HISTOGRAM_COLOUR, AGREEMENT_COLOUR, WITHIN_COLOUR = "#4c72b0", "#2b83ba", "#9aa7b8"

#: A picture of the job: file name, caption and the picture.
NamedPicture = tuple[str, str, Picture]

#: A displayed micrograph: the binned, smoothed pixels and the binning factor.
DisplayImage = tuple[np.ndarray, float]


def nn_histogram(details: ParticleDetails) -> Picture:
    """Histogram of nearest-neighbour distances, with the minimum distance marked.

    With --min-dist-z the distances are those the decision compares: z scaled by
    min_dist / min_dist_z, so that a pair is a duplicate exactly when its distance is at most
    min_dist (left of the line), as without it. With several species, one histogram per
    species, each particle's distance to the nearest of its own species (what the rule
    decides), against that species' own distance (:func:`_species_histograms`).
    """
    nearest = "particle of the same species" if details.several_species else "particle"
    scaled = ""
    if details.min_dist_z is not None:
        ratio = "its species' minimum distance" if details.several_species else f"{details.min_dist:g}"
        scaled = f", z scaled by {ratio}/{details.min_dist_z:g}"
    elif details.species_min_dist_z is not None:
        scaled = ", z scaled by its species' minimum distance over its distance in z"
    xlabel = f"distance to the nearest {nearest} in the same {details.unit}{scaled} (Å)"
    groups, centres, top = nn_measured(details)
    d = (
        details.nn_distances()
        if details.nn_distances is not None
        else nearest_neighbour_distances(groups, centres, top)
    )
    if details.several_species:
        return _species_histograms(details, d, top, xlabel)
    (counts, _), edges, _ = clipped_histogram(d, 0, top, 100)  # (a particle alone on its micrograph: inf, left out)
    title = "Nearest-neighbour distances (last bin: that far or farther)"
    picture, panel = labelled_plot(title, xlabel, "particles", (0, top), headroom(counts))
    panel.steps("distances", counts, edges, HISTOGRAM_COLOUR, fill=True)
    panel.vline("min_dist", details.min_dist, REJECTED_COLOUR)
    # Said in words: on a linear axis a pair among a million particles is a bar no one sees.
    within = int(np.count_nonzero(d <= max(details.min_dist, SAME_CENTRE_A)))
    panel.legend.add("line", REJECTED_COLOUR, f"{details.distance_text}: {within:,} particles within it")
    if not counts.any():
        panel.note(f"no {details.unit} holds two particles")
    panel.frame()
    panel.place_legend("upper center")  # the bins at both ends are the tall ones
    return picture


def _species_histograms(details: ParticleDetails, d: np.ndarray, top: float, xlabel: str) -> Picture:
    """One outline per species drawn apart (``details.species_drawn``), its own distance a dashed line of its colour.

    ``d``: each particle's distance to the nearest of its species. The bins are shared, so
    that the species compare; the legend says each species' distance and how many of its
    particles lie within it.
    """
    species, names = details.particles.species, details.particles.species_names
    distances = details.species_min_dist
    assert species is not None and distances is not None
    drawn = details.species_drawn
    histograms = []
    for s in drawn:
        (counts, _), edges, _ = clipped_histogram(d[species == s], 0, top, 100)
        histograms.append((s, counts, edges))
    title = "Nearest-neighbour distances within each species (last bin: that far or farther)"
    if len(drawn) < len(names):
        title += f"\nthe {len(drawn)} species with the most picks of {len(names):,}"
    tallest = np.concatenate([counts for _, counts, _ in histograms])
    legend_rows = 21 * len(drawn)
    size = (max(PLOT_SIZE[0], round(text_width(xlabel, TEXT) + 120)), PLOT_SIZE[1])  # the x label whole
    picture, panel = labelled_plot(title, xlabel, "particles", (0, top), headroom(tallest), size, legend_rows + 10)
    for s, counts, edges in histograms:
        colour = details.species_colour(s)
        panel.steps(f"distances:{names[s]}", counts, edges, colour)
        panel.vline(f"min_dist:{names[s]}", distances[s], colour, dashed=True)
        mine = d[species == s]
        within = int(np.count_nonzero(mine <= max(distances[s], SAME_CENTRE_A)))
        panel.legend.add(
            "line", colour, f"{names[s]}: minimum distance {distances[s]:g} Å, {within:,} of {len(mine):,} within it"
        )
    if not tallest.any():
        panel.note(f"no {details.unit} holds two particles of one species")
    panel.frame()
    # Below the plot: one line per species would cover the tall bins at both ends.
    picture.canvas.legend(panel.legend, ((panel.box[0] + panel.box[2]) / 2, panel.box[3] + 56), anchor="mt")
    return picture


def rejected_fraction(details: ParticleDetails) -> Picture:
    """Histogram over micrographs of the fraction of their particles rejected."""
    n_mics = len(details.mic_names)
    total, rejected = details.picks_per_micrograph, details.rejected_per_micrograph
    fraction = rejected[total > 0] / total[total > 0]
    unit = details.unit
    counts, edges = np.histogram(fraction, bins=50, range=(0, 1))
    title = f"Rejected per {unit} ({n_mics:,} {unit}s)"
    picture, panel = labelled_plot(
        title, f"fraction of a {unit}'s particles rejected", f"{unit}s", (0, 1), headroom(counts)
    )
    panel.steps("fractions", counts, edges, HISTOGRAM_COLOUR, fill=True)
    panel.frame()
    return picture


#: The scores' histogram spans these percentiles when a few outliers would stretch its axis
#: past twice their range (all of RELION's rlnMaxValueProbDistribution in one bin of 60 but a few).
SCORE_PERCENTILES = (1.0, 99.0)


def score_axis(scores: np.ndarray) -> tuple[float, float, int]:
    """The histogram's range of the finite ``scores``, and how many lie beyond it (counted in the end bins).

    Their :data:`SCORE_PERCENTILES` when those span under half the whole range, else all.
    """
    if not len(scores):
        return 0.0, 1.0, 0
    lo, hi = float(np.min(scores)), float(np.max(scores))
    p_lo, p_hi = percentiles(scores, SCORE_PERCENTILES)
    if not p_hi > p_lo or p_hi - p_lo >= 0.5 * (hi - lo):
        return lo, hi, 0
    return p_lo, p_hi, int(np.count_nonzero((scores < p_lo) | (scores > p_hi)))


def score_counts(details: ParticleDetails) -> ScoreCounts:
    """The counts :func:`score_distributions` draws (which must have scores).

    The axis spans the scores, or their :data:`SCORE_PERCENTILES` when a few outliers would
    stretch it (:func:`score_axis`). numpy's partition and the core's counting let go of
    Python's lock: the job counts them on a thread while the other pictures are drawn.
    """
    s = details.scores
    if s is None or details.score_label is None:  # set together by every reader
        raise ValueError("score_distributions: the particles have no scores")
    finite = np.isfinite(s)
    lo, hi, _ = score_axis(s if finite.all() else s[finite])  # (no copy of a million scores all finite)
    if not hi > lo:  # one score for all: a bin around it
        lo, hi = lo - 0.5, hi + 0.5
    # (beyond: the scores outside the axis, as score_axis counted them: none when it spans them all)
    (kept, rejected), edges, beyond = clipped_histogram(s, lo, hi, 60, sides=~details.keep)
    return ScoreCounts(lo, hi, kept, rejected, edges, beyond)


def score_distributions(details: ParticleDetails, counted: ScoreCounts | None = None) -> Picture:
    """Score histograms of the kept and of the rejected particles (``counted``: :func:`score_counts`)."""
    c = counted or score_counts(details)
    label = details.score_label or ""
    n_kept = int(np.count_nonzero(details.keep))
    n = len(details.keep)
    subsets = (("kept", c.kept, n_kept, KEPT_COLOUR), ("rejected", c.rejected, n - n_kept, REJECTED_COLOUR))
    tallest = np.concatenate([c.kept, c.rejected])
    lo, hi, edges = c.lo, c.hi, c.edges
    title, xlabel = "Scores of kept and rejected particles", label
    if c.beyond:
        title += f"\n{c.beyond:,} scores beyond the axis, counted in its end bins"
        xlabel += " (axis: 1st to 99th percentile)"
    picture, panel = labelled_plot(title, xlabel, "particles", (lo, hi), headroom(tallest))
    for name, counts, n_rows, colour in subsets:
        panel.steps(name, counts, edges, colour)
        panel.legend.add("line", colour, f"{name} ({n_rows})")
    panel.frame()
    panel.place_legend("best")
    return picture


def _bar_chart(
    title: str, xlabel: str, row_labels: list[str], total: np.ndarray, legend: Legend, label_size: int = TICK_TEXT
) -> tuple[Picture, Panel]:
    """A picture of horizontal bars, one row per label (the first at the bottom), the legend beside it."""
    k = len(row_labels)
    label_w = max(text_width(t, label_size) for t in row_labels)
    legend_w = max(34 + text_width(t, SMALL_TEXT) + 18 for t in legend.labels) if legend.entries else 0
    left, plot_w = label_w + 20, 560
    height = round(110 * (1.5 + 0.5 * k))
    canvas = Canvas(round(left + plot_w + 14 + legend_w + 10), height)
    panel = Panel(
        canvas, (left, 38, left + plot_w, height - 62), (0, max(float(total.max(initial=0)) * 1.05, 1)), (-0.6, k - 0.4)
    )
    panel.ticks_x(integer=True)
    panel.ticks_y(np.arange(k), row_labels)
    panel.labels(title, xlabel, "")
    panel.legend = legend
    return Picture(canvas, [panel]), panel


def input_contributions(details: ParticleDetails) -> Picture:
    """Per input, bars of its kept and rejected picks."""
    k = len(details.inputs)
    kept = np.bincount(details.input_of[details.keep], minlength=k)
    rejected = np.bincount(details.input_of[~details.keep], minlength=k)
    legend = Legend([("patch", KEPT_COLOUR, "kept"), ("patch", REJECTED_COLOUR, "rejected")])
    picture, panel = _bar_chart(
        "Picks contributed by each input", "particles", input_labels(details.inputs), kept + rejected, legend
    )
    rows = np.arange(k)
    panel.hbars("kept", rows, kept, np.zeros(k), KEPT_COLOUR)
    panel.hbars("rejected", rows, rejected, kept, REJECTED_COLOUR)
    _finish_bar_chart(panel)
    return picture


def _finish_bar_chart(panel: Panel) -> None:
    """The frame, and the legend beside the bars (not on them)."""
    panel.frame()
    panel.canvas.legend(panel.legend, (panel.box[2] + 14, panel.box[1]))


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
    cells = details.input_of.astype(np.int64) * len(PICTURE_FATES) + picture_fates(details)
    counts = np.bincount(cells, minlength=k * len(PICTURE_FATES)).reshape(k, len(PICTURE_FATES))
    shown = [(fate, widths) for fate, widths in zip(PICTURE_FATES, counts.T) if widths.any()]
    legend = Legend()
    for fate, _ in shown:
        colour, label = FATE_STYLE[fate]
        if fate == "kept_confirmed" and details.min_support > 1:
            label = f"kept, confirmed by {details.min_support} or more inputs"
        legend.add("patch", colour, label)
    picture, panel = _bar_chart(
        "What became of each input's picks", "picks", input_labels(details.inputs), counts.sum(axis=1), legend
    )
    left = np.zeros(k, dtype=np.int64)
    for fate, widths in shown:
        panel.hbars(fate, np.arange(k), widths, left, FATE_STYLE[fate][0])
        left += widths
    _finish_bar_chart(panel)
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
    _colour_bar(canvas, (x1 + 40, y0, x1 + 58, y1))


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


def _colour_bar(canvas: Canvas, box: tuple[float, float, float, float]) -> None:
    """Viridis from 0 (bottom) to 1 (top), ticked every 0.2, labelled neighbour agreement."""
    x0, y0, x1, y1 = box
    steps = 100
    for s in range(steps):
        top = y1 - (s + 1) * (y1 - y0) / steps
        canvas.rectangle((x0, top, x1, top + (y1 - y0) / steps + 0.5), fill=viridis((s + 0.5) / steps))
    canvas.rectangle(box, outline=INK)
    for t, label in zip(np.linspace(0, 1, 6), tick_labels(np.linspace(0, 1, 6))):
        y = y1 - t * (y1 - y0)
        canvas.line([(x1, y), (x1 + 5, y)], INK)
        canvas.text((x1 + 8, y), label, TICK_TEXT, "lm")
    canvas.vertical_text((x1 + 60, (y0 + y1) / 2), "neighbour agreement")


#: Characters of a micrograph's name beside a bar (cut at the front: its end tells it apart).
BAR_LABEL_WIDTH = 40


#: About how many pixels across a drawn micrograph's image is binned to (``formats.mrc.binned_image``).
DISPLAY_WIDTH = 900


@dataclass(frozen=True)
class MicrographImage:
    """A drawn micrograph's image as the job found it (the report opens no file).

    ``pixels`` binned by ``factor`` (``formats.mrc.binned_image``), or None: no file at
    ``missing`` (the path looked for), or a file that could not be read (``unreadable``).
    """

    pixels: np.ndarray | None = None
    factor: int = 1
    missing: str = ""
    unreadable: bool = False


def display_image(pixels: np.ndarray, factor: int) -> DisplayImage:
    """A binned micrograph low-pass filtered for display, and its binning factor."""
    k2 = np.fft.fftfreq(pixels.shape[0])[:, None] ** 2 + np.fft.rfftfreq(pixels.shape[1])[None, :] ** 2
    smooth = np.fft.irfft2(np.fft.rfft2(pixels - pixels.mean()) * np.exp(-k2 / (2 * 0.08**2)), s=pixels.shape)
    return smooth, float(factor)


#: Where a micrograph (or a tomogram seen along z) is drawn: x and y of its corner, width and height, Å.
Frame = tuple[float, float, float, float]


def _frame(details: ParticleDetails, mic: int, idx: np.ndarray, psize: float, image: DisplayImage | None) -> Frame:
    """The micrograph's extent: from its image, its known shape, or the picks.

    From the picks of every micrograph, which together reach the edges of the field that
    one micrograph's few picks leave unknown (a micrograph with one pick drawn as a strip
    ending at it): it starts at 0 unless some are below (RELION 5's tomogram centres are
    counted from the tomogram's centre), and ends a little past the farthest.
    """
    if image is not None:
        pixels, factor = image
        return 0.0, 0.0, pixels.shape[1] * psize * factor, pixels.shape[0] * psize * factor
    ny, nx = details.mic_shapes.get(mic, (0, 0))
    if nx and ny:
        return 0.0, 0.0, nx * psize, ny * psize
    low, high = details.pick_extent
    margin = 0.05 * (high - low)
    low = np.where(low < 0, low - margin, 0.0)
    size = np.maximum(high + margin - low, 1.0)
    return float(low[0]), float(low[1]), float(size[0]), float(size[1])


def _grey(image: DisplayImage) -> Image.Image:
    """The micrograph's pixels in grey, from its 1st to its 99th percentile, as the pick viewers show it."""
    pixels, _ = image
    lo, hi = np.percentile(pixels, [1, 99])
    scaled = (pixels - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros(pixels.shape)
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L").convert("RGB")


Box = tuple[float, float, float, float]  # left, top, right, bottom, PNG pixels
PANEL_WIDTH, PANEL_HEIGHT = 660, 990  # PNG pixels of a micrograph panel at most


def _panel_boxes(frame: Frame, top: float, left: float, gap: float) -> tuple[Box, Box]:
    """The two panels' boxes, of the micrograph's aspect ratio."""
    width, height = frame[2:]
    w = float(PANEL_WIDTH)
    h = w * height / width
    if h > PANEL_HEIGHT:
        w, h = PANEL_HEIGHT * width / height, PANEL_HEIGHT
    first = (left, top, left + w, top + h)
    return first, (left + w + gap, top, left + 2 * w + gap, top + h)


class RejectedPicks(NamedTuple):
    """A micrograph's rejected picks by why (rows of the whole set), and the kept pick each was rejected for."""

    duplicates: np.ndarray
    partners: np.ndarray  # the pick each duplicate was rejected for
    displaced: np.ndarray  # --cross-species: overlapping a kept pick of another species
    displacers: np.ndarray  # the pick of another species each displaced pick was rejected for
    unconfirmed: np.ndarray  # --min-support: too few inputs picked it


def rejected_picks(details: ParticleDetails, rows: np.ndarray) -> RejectedPicks:
    """The rejected picks of ``rows`` (one micrograph's, ascending) by why they were rejected."""
    rejected = rows[~details.keep[rows]]
    partners = suppressors(details, rows)[~details.keep[rows]]
    displacers = np.full(len(rejected), -1) if details.displaced_by is None else details.displaced_by[rejected]
    paired, displaced = partners >= 0, displacers >= 0
    lone = ~paired & ~displaced  # rejected for lack of consensus: no partner
    return RejectedPicks(rejected[paired], partners[paired], rejected[displaced], displacers[displaced], rejected[lone])


#: The colour of the fates' marks in the legend when the marks take their species' colour.
FATE_INK = "#444444"


def micrograph_picks(
    details: ParticleDetails, mic: int, image: DisplayImage | None, missing: str = "", unreadable: bool = False
) -> Picture:
    """One micrograph twice, side by side: its kept picks, and its rejected picks.

    Each rejected pick has a line to the particle kept instead. Markers have a fixed size;
    circles of half the minimum distance (two picks are duplicates when theirs overlap) are
    drawn when they are larger than the markers. ``missing``: the image file that was not
    found, if any; ``unreadable``: the file was found but could not be read. Row 0 of the
    MRC is at the top, where y = 0 is (RELION's and CryoSPARC's pick viewers); y grows
    downwards. Several species: each pick in its species' colour (the mark says its fate),
    each species' circles of half its own distance, and a pick displaced by another
    species (--cross-species) a diamond with a line to the pick kept instead.
    """
    idx = np.flatnonzero(details.groups == mic)
    kept = idx[details.keep[idx]]
    psize = float(details.psize[idx[0]])
    frame = _frame(details, mic, idx, psize, image)
    why = rejected_picks(details, idx)
    title = _micrograph_title(details, mic, missing, unreadable)
    top = 20 + 19 * (title.count("\n") + 1) + 34
    boxes = _panel_boxes(frame, top, 90, 36)
    x0, y0, width, height = frame
    half = _half_distances(details, kept, (boxes[0][2] - boxes[0][0]) / width)
    legend = _picks_legend(details, idx, why, half is not None)
    width_px = round(boxes[1][2] + 24)
    columns = _legend_columns(legend, width_px - 20)
    rows = -(-len(legend.entries) // columns)
    canvas = Canvas(width_px, round(boxes[0][3] + 100 + 21 * (rows - 1)))
    panels = [Panel(canvas, box, (x0, x0 + width), (y0, y0 + height), flip_y=True) for box in boxes]
    for panel in panels:
        if image is not None:
            canvas.paste(_grey(image), panel.box)
        else:
            canvas.rectangle(panel.box, fill=rgb("#f2f2f2"))
    ax_kept, ax_rejected = panels
    c = details.centres[:, :2]
    ax_kept.marks["kept"] = c[kept]
    _draw_marks(details, ax_kept, "ring", kept, KEPT_COLOUR)
    if half is not None:
        ax_kept.marks["half_min_dist"] = (c[kept], half[0])
        for colour, radius_px, these in half[1]:
            canvas.circles(ax_kept.xy(c[these]), radius_px, rgb(colour), 0.8)
    ax_rejected.marks["suppressed_by"] = np.stack([c[why.duplicates], c[why.partners]], axis=1)
    ax_rejected.marks["displaced_by"] = np.stack([c[why.displaced], c[why.displacers]], axis=1)
    rejected_for = np.concatenate([why.duplicates, why.displaced])
    kept_instead = np.concatenate([why.partners, why.displacers])
    canvas.segments(ax_rejected.xy(c[rejected_for]), ax_rejected.xy(c[kept_instead]), rgb("#ffbf00"))
    ax_rejected.marks["kept_instead"] = c[why.partners]
    for colour, these in _by_colour(details, kept_instead, KEPT_COLOUR):
        canvas.dots(ax_rejected.xy(c[these]), 3.0, rgb(colour))
    ax_rejected.marks["rejected"] = c[why.duplicates]
    _draw_marks(details, ax_rejected, "cross", why.duplicates, REJECTED_COLOUR)
    ax_rejected.marks["displaced"] = c[why.displaced]
    _draw_marks(details, ax_rejected, "diamond", why.displaced, DISPLACED_COLOUR)
    ax_rejected.marks["unconfirmed"] = c[why.unconfirmed]
    _draw_marks(details, ax_rejected, "square", why.unconfirmed, UNCONFIRMED_COLOUR)
    canvas.clear_outside([p.box for p in panels])  # marks cut at the panels' sides
    for panel in panels:
        panel.frame()
        panel.ticks_x()
    gap = ax_kept.ticks_y()
    ax_rejected.ticks_y(labels=[""] * len(ax_kept.yticks))
    ax_kept.labels(f"kept: {len(kept)}", "x (Å)", "y (Å)", TEXT, ylabel_gap=gap)
    ax_rejected.labels(_rejected_title(why), "x (Å)", "", TEXT)
    canvas.text((canvas.width / 2, 18), title, TEXT, "mt")
    canvas.legend(legend, (canvas.width / 2, canvas.height - 16), columns=columns, anchor="mb")
    return Picture(canvas, panels, title, legend)


def _rejected_title(why: RejectedPicks) -> str:
    """The rejected panel's title: how many, and by why when not all are duplicates."""
    n = len(why.duplicates) + len(why.displaced) + len(why.unconfirmed)
    if not (len(why.displaced) or len(why.unconfirmed)):
        return f"rejected: {n}"
    parts = [f"duplicates: {len(why.duplicates)}"]
    if len(why.displaced):
        parts.append(f"overlapping another species: {len(why.displaced)}")
    if len(why.unconfirmed):
        parts.append(f"unconfirmed: {len(why.unconfirmed)}")
    return f"rejected: {n} ({', '.join(parts)})"


def _by_colour(details: ParticleDetails, rows: np.ndarray, colour: str) -> list[tuple[str, np.ndarray]]:
    """``rows`` by the colour they are drawn in: ``colour`` (their fate's), or with several species their species'."""
    species = details.particles.species
    if not details.several_species or species is None:
        return [(colour, rows)]
    return [(details.species_colour(int(s)), rows[species[rows] == s]) for s in np.unique(species[rows])]


def _draw_marks(details: ParticleDetails, panel: Panel, kind: str, rows: np.ndarray, colour: str) -> None:
    """Markers of ``kind`` on the picks ``rows``, in their fate's colour or their species'."""
    c = details.centres[:, :2]
    for ink, these in _by_colour(details, rows, colour):
        panel.canvas.markers(kind, panel.xy(c[these]), MARKER_RADIUS, rgb(ink))


def _half_distances(
    details: ParticleDetails, kept: np.ndarray, px_per_a: float
) -> tuple[Any, list[tuple[str, float, np.ndarray]]] | None:
    """The circles of half the minimum distance around the kept picks, where larger than the markers.

    The radius in Å (of each kept pick, with several species), and (colour, radius in PNG
    pixels, rows) to draw; None when none is larger than the markers (a double ring).
    """
    distances = details.species_min_dist
    species = details.particles.species
    if not details.several_species or distances is None or species is None:
        radius_px = details.min_dist / 2 * px_per_a
        return (details.min_dist / 2, [(KEPT_COLOUR, radius_px, kept)]) if radius_px > 2 * MARKER_RADIUS else None
    halves = np.asarray(distances)[species[kept]] / 2
    drawn = [
        (details.species_colour(int(s)), distances[s] / 2 * px_per_a, kept[species[kept] == s])
        for s in np.unique(species[kept])
        if distances[s] / 2 * px_per_a > 2 * MARKER_RADIUS
    ]
    return (halves, drawn) if drawn else None


def _legend_columns(legend: Legend, room: float) -> int:
    """The most columns (one row at best) in which ``legend`` fits ``room`` PNG pixels across."""
    widths = [34 + text_width(label, SMALL_TEXT) + 18 for label in legend.labels]
    for columns in range(len(widths), 1, -1):
        if sum(max(widths[c::columns]) for c in range(columns)) <= room:
            return columns
    return 1


def _micrograph_title(details: ParticleDetails, mic: int, missing: str, unreadable: bool) -> str:
    title = f"{details.mic_names[mic]} ({details.distance_text})"
    if details.unit == "tomogram":  # distances are 3D; the picture shows x and y
        title = f"{details.mic_names[mic]}: picks seen along z ({details.distance_text})"
    if details.covered is not None and not details.covered[mic].all():
        absent = [name for name, ran in zip(input_labels(details.inputs), details.covered[mic]) if not ran]
        title += f"\nnot picked by {', '.join(absent)} (never ran on this {details.unit})"
    if missing:  # the path is in the summary: a long one here would widen the picture
        title += "\nimage not found: picks on a blank frame (see the summary's micrograph images)"
    elif unreadable:
        title += "\nimage unreadable (a damaged or unknown file): picks on a blank frame"
    return title


def _picks_legend(details: ParticleDetails, rows: np.ndarray, why: RejectedPicks, circles: bool) -> Legend:
    """The marks of a micrograph's picture (``rows``: its picks); with several species, each species' colour too."""
    several = details.several_species
    ink = FATE_INK if several else None
    # Remove-entirely mode keeps none of a close pair: the line then goes to the neighbour.
    partner_label = (
        "to the pick kept instead" if details.keep[why.partners].all() else "to its neighbour within the distance"
    )
    legend = Legend(
        [("ring", ink or KEPT_COLOUR, "kept pick"), ("cross", ink or REJECTED_COLOUR, "rejected duplicate")]
    )
    legend.add("dot_line", ink or KEPT_COLOUR, partner_label)
    if len(why.displaced):
        legend.add(
            "diamond", ink or DISPLACED_COLOUR, "rejected: overlaps a kept pick of another species (--cross-species)"
        )
    if len(why.unconfirmed):
        legend.add("square", ink or UNCONFIRMED_COLOUR, "rejected: too few inputs picked it (--min-support)")
    if circles:
        in_xy = " in x and y" if details.min_dist_z is not None else ""
        legend.add(
            "circle", ink or KEPT_COLOUR, "half the minimum distance" + (" of its species" if several else "") + in_xy
        )
    species = details.particles.species
    if several and species is not None:
        present = np.unique(species[rows])
        names = details.particles.species_names
        for s in (int(s) for s in present if s in details.species_drawn):
            legend.add("patch", details.species_colour(s), names[s])
        others = len(present) - len([s for s in present if s in details.species_drawn])
        if others:
            legend.add("patch", OTHER_SPECIES_COLOUR, f"{others:,} other species")
    return legend


def halfset_pairs(details: ParticleDetails) -> Picture:
    """Where duplicate pairs straddle the half-sets: per micrograph, and the worst micrographs.

    Left, the straddling pairs of every micrograph in the order the input lists them (a run
    of crowded micrographs shows as a block); right, the micrographs with the most, with
    their pairs within one half-set beside them.
    """
    assert details.suppressed_by is not None, "half-sets take the two passes, which keep the pairs"
    across, within = straddling_per_micrograph(details.particles, details.suppressed_by)
    unit = details.unit
    worst = [int(m) for m in np.lexsort((np.arange(across.size), -across)) if across[m] > 0][:TOP_MICROGRAPHS]
    shown = [short_name(name, BAR_LABEL_WIDTH) for name in distinct_labels([details.mic_names[m] for m in worst])]
    names_w = max((text_width(t, SMALL_TEXT - 1) for t in shown), default=0)
    canvas = Canvas(round(1000 + names_w + 320), 500)
    tallest = float(across.max(initial=0))
    probe = tick_labels(nice_ticks(0, max(tallest * 1.05, 1), integer=True))
    left_x = 40 + max(text_width(t, TICK_TEXT) for t in probe) + 12
    left = Panel(canvas, (left_x, 40, 800, 410), (-0.5, max(across.size, 1) - 0.5), (0, max(tallest * 1.05, 1)))
    left.columns("across", across, REJECTED_COLOUR)
    left.frame()
    left.ticks_x(integer=True)
    gap = left.ticks_y(integer=True)
    title = f"Straddling pairs per {unit} ({int(across.sum()):,} pairs, {across.size:,} {unit}s)"
    left.labels(title, f"{unit} (input order)", "duplicate pairs straddling the half-sets", ylabel_gap=gap)
    right_x = 800 + 40 + names_w + 12
    total = across[worst] + within[worst]
    right = Panel(
        canvas,
        (right_x, 40, canvas.width - 24, 410),
        (0, max(float(total.max(initial=0)) * 1.05, 1)),
        (-0.6, max(len(worst), 1) - 0.4),
        flip_y=True,
    )
    rows = np.arange(len(worst))
    right.hbars("across", rows, across[worst], np.zeros(len(worst)), REJECTED_COLOUR)
    right.hbars("within", rows, within[worst], across[worst], WITHIN_COLOUR)
    right.frame()
    right.ticks_x(integer=True)
    for row, name in zip(rows, shown):
        canvas.text((right_x - 8, float(right.y(row))), name, SMALL_TEXT - 1, "rm")
    right.labels(f"{unit.capitalize()}s with the most straddling pairs", "duplicate pairs", "")
    if worst:
        right.legend = Legend(
            [("patch", REJECTED_COLOUR, "across the half-sets"), ("patch", WITHIN_COLOUR, "within one half-set")]
        )
        canvas.legend(right.legend, ((right.box[0] + right.box[2]) / 2, 462), columns=2, anchor="mt")
    else:
        right.note("no pair straddles the half-sets")
    return Picture(canvas, [left, right])


def micrographs_to_show(details: ParticleDetails, n: int) -> list[int]:
    """The micrograph with the most rejections first, then the next most.

    With several inputs, micrographs that more of them ran on come first: one input alone
    shows no agreement.
    """
    rejected = details.rejected_per_micrograph
    present = details.picks_per_micrograph > 0
    ran_on = np.zeros(len(rejected), dtype=np.int64) if details.covered is None else details.covered.sum(axis=1)
    order = np.lexsort((np.arange(len(rejected)), -rejected, -ran_on))
    return [int(m) for m in order[present[order]][:n]]


def micrographs_drawn(details: ParticleDetails, n_mics: int) -> list[int]:
    """The micrographs whose images :func:`particle_figures` draws: the examples, then the worst outlier.

    None for tomograms, drawn as volumes seen along z without an image.
    """
    if details.unit == "tomogram":
        return []
    examples = micrographs_to_show(details, n_mics)
    worst = worst_outlier(details)
    return examples + ([worst[0]] if worst and worst[0] not in examples else [])


class Drawing(NamedTuple):
    """A picture to draw: its file name, its caption, and what draws it."""

    name: str
    caption: str
    draw: Callable[[], Picture]


@dataclass(frozen=True)
class Figures:
    """What the pictures of one particle job are drawn from: the job's details and the micrographs drawn."""

    details: ParticleDetails
    images: Mapping[int, MicrographImage]
    examples: list[int]  # the micrographs drawn as examples (:func:`micrographs_to_show`)
    worst: tuple[int, str] | None  # :func:`worst_outlier`
    scores: Callable[[], ScoreCounts] | None  # the scores' histogram, counted when drawn (None: no scores)


@dataclass(frozen=True)
class ParticlePicture:
    """One picture of the particle job, after the example micrographs: an entry of :data:`PARTICLE_PICTURES`.

    ``name`` and ``caption`` may hold ``{unit}`` (micrograph, tomogram); ``caption`` may be a
    function of the :class:`Figures`. ``drawn``: whether this job has the picture.
    """

    name: str
    caption: str | Callable[[Figures], str]
    draw: Callable[[Figures], Picture]
    drawn: Callable[[Figures], bool] = lambda figures: True

    def drawing(self, figures: Figures) -> Drawing:
        """The drawing of this picture for the job of ``figures``."""
        unit = figures.details.unit
        caption = self.caption(figures) if callable(self.caption) else self.caption.format(unit=unit)
        return Drawing(self.name.format(unit=unit), caption, partial(self.draw, figures))


def particle_figures(
    details: ParticleDetails, n_mics: int, images: Mapping[int, MicrographImage]
) -> tuple[list[NamedPicture], list[str]]:
    """(file name, title, Picture) for every picture of the particle job, and the missing images.

    ``images``: the image of each micrograph of :func:`micrographs_drawn`, as the job found it.
    The second list names the image files of the example micrographs that were not found.
    The micrograph of the highest outlying duplicate fraction is drawn too
    (``duplicate_outlier.png``) unless it is an example, whose caption then says so.
    """
    drawings, missing = figure_drawings(details, n_mics, images)
    return [(name, caption, draw()) for name, caption, draw in drawings], missing


def rendered_particle_figures(
    details: ParticleDetails, n_mics: int, images: Mapping[int, MicrographImage]
) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    """:func:`particle_figures` rendered: (file name, title, PNG bytes), and the missing images.

    Each picture is encoded as soon as it is drawn, so that its canvas serves the next.
    """
    drawings, missing = figure_drawings(details, n_mics, images)
    try:
        pngs = [_drawn_png(drawing.draw) for drawing in drawings]
    finally:
        drop_spares()
    return [(name, caption, data) for (name, caption, _), data in zip(drawings, pngs)], missing


def _drawn_png(draw: Callable[[], Picture]) -> bytes:
    return draw().png_once()


def figure_drawings(
    details: ParticleDetails, n_mics: int, images: Mapping[int, MicrographImage]
) -> tuple[list[Drawing], list[str]]:
    """What draws each picture of :func:`particle_figures`, in order, and the image files not found.

    The example micrographs first, then each picture of :data:`PARTICLE_PICTURES` this job has.
    """
    scores = details.score_counts
    if scores is None and details.scores is not None:  # (not counted by the job already)
        scores = partial(score_counts, details)
    examples = micrographs_to_show(details, n_mics)
    figures = Figures(details, images, examples, worst_outlier(details), scores)
    drawings = [_example(figures, k) for k in range(len(examples))]
    drawings += [picture.drawing(figures) for picture in PARTICLE_PICTURES if picture.drawn(figures)]
    return drawings, missing_examples(details, examples, images)


def _example(figures: Figures, k: int) -> Drawing:
    """The picture of example micrograph ``k`` (counted from 0), its caption naming it the worst outlier if it is."""
    unit, mic, worst = figures.details.unit, figures.examples[k], figures.worst
    caption = f"Example {unit} {k + 1}" + (f": {worst[1]}" if worst and worst[0] == mic else "")
    draw = partial(_picks_picture, figures.details, mic, figures.images)
    return Drawing(f"example_{unit}_{k + 1}.png", caption, draw)


def _outlier_shown(figures: Figures) -> bool:
    # (its image, if not found, is not counted with the examples')
    return figures.worst is not None and figures.worst[0] not in figures.examples


def _outlier_caption(figures: Figures) -> str:
    assert figures.worst is not None
    return figures.worst[1][0].upper() + figures.worst[1][1:]


def _outlier_picture(figures: Figures) -> Picture:
    assert figures.worst is not None
    return _picks_picture(figures.details, figures.worst[0], figures.images)


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
    a log scale.
    """
    assert details.registration is not None, "drawn only when the inputs were registered"
    panels = []
    for pair in details.registration():
        panels.append((f"{pair.label}: as read", pair.as_read, pair.shift if pair.moved is None else None, pair))
        if pair.moved is not None:
            panels.append((f"after its {pair.best.removeprefix('best: ')}", pair.moved, pair.shift, pair))
    panels = panels[:REGISTRATION_PANELS]
    heading = "Registration: displacements between the inputs' picks on shared micrographs"
    side, gap, left, top = 330, 90, 100, 80
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
    for i, j in zip(*np.nonzero(counts)):
        cell = (float(panel.x(xe[i])), float(panel.y(ye[j + 1])), float(panel.x(xe[i + 1])), float(panel.y(ye[j])))
        canvas.rectangle(cell, fill=viridis(float(np.log1p(counts[i, j]) / top)))
    canvas.markers("cross", panel.xy(np.zeros((1, 2))), 7, "#d62728")
    panel.legend.add("cross", "#d62728", "one frame: the origin")
    if shift is not None:
        canvas.markers("ring", panel.xy(shift[None, :2]), 10, "#ff7f0e")
        panel.legend.add("ring", "#ff7f0e", f"the shift found: {shift[0]:.0f}, {shift[1]:.0f} Å")
    panel.ticks_x()
    gap = panel.ticks_y()
    panel.labels(title, "x displacement (Å)", "y displacement (Å)", TEXT, ylabel_gap=gap)
    panel.frame()
    canvas.legend(panel.legend, ((box[0] + box[2]) / 2, box[3] + 50), anchor="mt")
    return panel


#: The particle job's pictures after the example micrographs, in the report's order. A new
#: picture: a function of :class:`ParticleDetails` (or of the :class:`Figures`) that returns
#: a :class:`Picture`, and its entry here (docs/developers/index.md, "Extension points").
PARTICLE_PICTURES: list[ParticlePicture] = [
    ParticlePicture("nn_distances.png", "Nearest-neighbour distances", lambda f: nn_histogram(f.details)),
    ParticlePicture("rejected_per_micrograph.png", "Rejected per {unit}", lambda f: rejected_fraction(f.details)),
    ParticlePicture("duplicate_fraction.png", "Duplicate fraction per {unit}", lambda f: duplicate_fraction(f.details)),
    ParticlePicture("duplicate_outlier.png", _outlier_caption, _outlier_picture, _outlier_shown),
    ParticlePicture(
        "scores.png",
        "Scores",
        lambda f: score_distributions(f.details, f.scores() if f.scores else None),
        lambda f: f.scores is not None,
    ),
    ParticlePicture(
        "inputs.png", "Inputs", lambda f: input_contributions(f.details), lambda f: len(f.details.inputs) > 1
    ),
    ParticlePicture(
        "halfset_pairs.png",
        "Duplicate pairs across the half-sets",
        lambda f: halfset_pairs(f.details),
        lambda f: f.details.particles.halfsets is not None,
    ),
    ParticlePicture(
        "consensus.png",
        "Consensus by input",
        lambda f: consensus_by_input(f.details),
        lambda f: f.details.confirmed_by is not None,
    ),
    ParticlePicture(
        "agreement.png",
        "Agreement between inputs",
        lambda f: agreement(f.details),
        lambda f: f.details.confirmed_by is not None,
    ),
    ParticlePicture(
        "registration.png",
        "Registration between inputs",
        lambda f: registration_picture(f.details),
        lambda f: f.details.registration is not None and bool(f.details.registration()),
    ),
]


def missing_examples(details: ParticleDetails, examples: list[int], images: Mapping[int, MicrographImage]) -> list[str]:
    """The image files of ``examples`` (:func:`micrographs_to_show`) not found (none for a tomogram)."""
    if details.unit == "tomogram":
        return []
    return [images[mic].missing for mic in examples if images[mic].missing]


def _picks_picture(details: ParticleDetails, mic: int, images: Mapping[int, MicrographImage]) -> Picture:
    """A micrograph's picks over its image, on a blank frame if it was not found.

    A tomogram is a volume: its picks are drawn on a blank frame.
    """
    if details.unit == "tomogram":
        return micrograph_picks(details, mic, None)
    found = images[mic]
    if found.missing or found.unreadable:
        return micrograph_picks(details, mic, None, missing=found.missing, unreadable=found.unreadable)
    # A micrograph binned to less than 2 pixels across (1 x 5000) has no image to filter: its picks alone are drawn.
    drawable = found.pixels is not None and min(found.pixels.shape) >= 2
    image = display_image(found.pixels, found.factor) if drawable else None  # type: ignore[arg-type]
    return micrograph_picks(details, mic, image)


def worst_outlier(details: ParticleDetails) -> tuple[int, str] | None:
    """The micrograph whose duplicate fraction is the highest outlier, and a caption naming it (None: no outlier)."""
    picks, duplicates = details.picks_per_micrograph, details.duplicates_per_micrograph
    found, _ = details.density_outliers
    if not len(found):
        return None
    mic = int(found[0])
    return mic, (
        f"the {details.unit} with the highest outlying duplicate fraction, {short_name(details.mic_names[mic])} "
        f"({duplicates[mic] / picks[mic]:.0%}: {duplicates[mic]:,} of {picks[mic]:,} picks)"
    )


def rendered(pictures: Sequence[NamedPicture]) -> list[tuple[str, str, bytes]]:
    """Each picture's file name, caption and PNG bytes."""
    return [(name, caption, picture.png()) for name, caption, picture in pictures]
