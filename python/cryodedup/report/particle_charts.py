"""The particle job's charts of its numbers: distances, rejections, scores, inputs, half-set pairs.

Drawn with :mod:`cryodedup.report.canvas` (Pillow); each function returns a :class:`Picture` whose
panels keep the data they show by name (``panel.marks``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..algo.audit import TOP_MICROGRAPHS, straddling_per_micrograph
from ..algo.dedup import SAME_CENTRE_A, nearest_neighbour_histogram
from ..algo.histogram import clipped_histogram, percentiles
from ..labels import counted, distinct_labels, input_labels
from .canvas import (
    KEPT_COLOUR,
    REJECTED_COLOUR,
    SMALL_TEXT,
    TEXT,
    TICK_TEXT,
    Canvas,
    Legend,
    Panel,
    Picture,
    nice_ticks,
    text_width,
    tick_labels,
)
from .particle_base import (
    PLOT_SIZE,
    ParticleDetails,
    ScoreCounts,
    headroom,
    labelled_plot,
    nn_measured,
)
from .scan_plans import NN_BINS, nearest_plan
from .summary import short_name

__all__ = [
    "bar_chart",
    "finish_bar_chart",
    "halfset_pairs",
    "input_contributions",
    "nn_histogram",
    "rejected_fraction",
    "score_counts",
    "score_distributions",
]

HISTOGRAM_COLOUR, WITHIN_COLOUR = "#4c72b0", "#9aa7b8"
#: Characters of a micrograph's name beside a bar (cut at the front: its end tells it apart).
BAR_LABEL_WIDTH = 40


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
    c = _nearest_counts(details)
    top, edges = c.top, c.edges
    if details.several_species:
        return _species_histograms(details, c, xlabel)
    counts = c.counts[0]
    title = "Nearest-neighbour distances (last bin: that far or farther)"
    picture, panel = labelled_plot(title, xlabel, "particles", (0, top), headroom(counts))
    panel.steps("distances", counts, edges, HISTOGRAM_COLOUR, fill=True)
    panel.vline("min_dist", details.min_dist, REJECTED_COLOUR)
    # Said in words: on a linear axis a pair among a million particles is a bar no one sees.
    panel.legend.add(
        "line", REJECTED_COLOUR, f"{details.distance_text}: {counted(int(c.within[0]), 'particle')} within it"
    )
    if not counts.any():
        panel.note(f"no {details.unit} holds two particles")
    panel.frame()
    panel.place_legend("upper center")  # the bins at both ends are the tall ones
    return picture


@dataclass(frozen=True)
class _NearestCounts:
    """The nearest-neighbour histogram's counts (:func:`_nearest_counts`).

    ``counts``: one row of bins per species drawn apart (one row otherwise) over ``edges``,
    from 0 to ``top``; ``within``: each row's particles within its minimum distance.
    """

    top: float
    edges: np.ndarray
    counts: np.ndarray
    within: np.ndarray


def _nearest_counts(details: ParticleDetails) -> _NearestCounts:
    """What :func:`nn_histogram` draws: each particle's nearest distance counted in bins, by the core.

    With several species, one row per species: each particle's distance to the nearest of
    its own species, and how many lie within that species' own distance. No distance per
    particle is made (a particle alone on its micrograph is left out). Counted already where
    the one-pass scan counted it as it decided (``--plot`` asked it, :func:`nearest_plan`).
    """
    counted = _counted_by_the_scan(details)
    if counted is not None:
        return counted
    groups, centres, top = nn_measured(details)
    edges = np.linspace(0, top, NN_BINS + 1)
    species, distances = details.particles.species, details.species_min_dist
    labels = species if details.several_species and species is not None and distances is not None else None
    reaches = distances if labels is not None and distances else [details.min_dist]
    within = [max(d, SAME_CENTRE_A) for d in reaches]
    counts, inside = nearest_neighbour_histogram(groups, centres, top, edges, within, labels)
    return _NearestCounts(top, edges, counts, inside)


def _counted_by_the_scan(details: ParticleDetails) -> _NearestCounts | None:
    """The histogram the one-pass scan counted batch by batch, where it counted this one (None: not counted).

    Only for the rows as the scan read them (one species, z not scaled) and the plan it was given.
    """
    scanned = details.particles.decided_counts
    if scanned is None or scanned.nearest is None or details.several_species or details.min_dist_z is not None:
        return None
    plan = nearest_plan(details.min_dist)
    if scanned.plan != plan:  # (another distance than the pictures': not this histogram)
        return None
    counts, inside = scanned.nearest
    edges = np.asarray(plan.edges)
    return _NearestCounts(plan.reach, edges, counts.reshape(1, -1), np.array([inside], dtype=np.int64))


def _species_histograms(details: ParticleDetails, c: _NearestCounts, xlabel: str) -> Picture:
    """One outline per species drawn apart (``details.species_drawn``), its own distance a dashed line of its colour.

    ``c``: each particle's distance to the nearest of its species, counted (:func:`_nearest_counts`).
    The bins are shared, so that the species compare; the legend says each species' distance
    and how many of its particles lie within it.
    """
    species, names = details.particles.species, details.particles.species_names
    distances = details.species_min_dist
    assert species is not None and distances is not None
    top, edges = c.top, c.edges
    members = np.bincount(species, minlength=len(names))
    drawn = details.species_drawn
    histograms = [(s, c.counts[s], edges) for s in drawn]
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
        panel.legend.add(
            "line",
            colour,
            f"{names[s]}: minimum distance {distances[s]:g} Å, {int(c.within[s]):,} of {int(members[s]):,} within it",
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
    lo, hi, cut = _score_range(scores)
    return lo, hi, int(np.count_nonzero((scores < lo) | (scores > hi))) if cut else 0


def _score_range(scores: np.ndarray) -> tuple[float, float, bool]:
    """:func:`score_axis`'s range, and whether it is cut to the percentiles (scores lie beyond it); nothing counted."""
    if not len(scores):
        return 0.0, 1.0, False
    lo, hi = float(np.min(scores)), float(np.max(scores))
    p_lo, p_hi = percentiles(scores, SCORE_PERCENTILES)
    if not p_hi > p_lo or p_hi - p_lo >= 0.5 * (hi - lo):
        return lo, hi, False
    return p_lo, p_hi, True


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
    # (no copy of a million scores all finite; those beyond the axis counted by the histogram, not twice)
    lo, hi, _ = _score_range(s if finite.all() else s[finite])
    if not hi > lo:  # one score for all: a bin around it
        lo, hi = lo - 0.5, hi + 0.5
    # (beyond: the scores outside the axis, as score_axis counts them: none when it spans them all)
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


def bar_chart(
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
    picture, panel = bar_chart(
        "Picks contributed by each input", "particles", input_labels(details.inputs), kept + rejected, legend
    )
    rows = np.arange(k)
    panel.hbars("kept", rows, kept, np.zeros(k), KEPT_COLOUR)
    panel.hbars("rejected", rows, rejected, kept, REJECTED_COLOUR)
    finish_bar_chart(panel)
    return picture


def finish_bar_chart(panel: Panel) -> None:
    """The frame, and the legend beside the bars (not on them)."""
    panel.frame()
    panel.canvas.legend(panel.legend, (panel.box[2] + 14, panel.box[1]))


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
