"""Pictures and a self-contained HTML report of what a job removed.

Imported only when a job is run with ``--plot``: the default path loads no plotting code.
Each figure function returns the matplotlib Figure, whose artists carry the data (tests
read them back), and ``save`` writes it as a PNG.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle
from matplotlib.ticker import MaxNLocator

from . import _core
from .algo.audit import TOP_MICROGRAPHS, straddling_per_micrograph
from .algo.consensus import OUTCOMES, covered_jaccard, mean_agreement, outcome_counts, pair_counts, pick_outcomes
from .labels import distinct_labels, human
from .model import ParticleSet
from .outputs import StrPath
from .summaries import short_name

KEPT_COLOUR, REJECTED_COLOUR = "#1a9641", "#d7191c"
UNCONFIRMED_COLOUR = "#7b3294"  # kept as no duplicate, then rejected for lack of support
DPI = 110  # of the saved PNGs

#: A displayed micrograph: the binned, smoothed pixels and the binning factor.
DisplayImage = tuple[np.ndarray, float]
#: A picture of a job: file name, caption and the figure.
NamedFigure = tuple[str, str, Figure]
#: An extra table of the report: heading, column names and rows.
ReportTable = tuple[str, Sequence[str], Sequence[Sequence[object]]]


@dataclass
class ParticleDetails:
    """What the particle job decided, per particle, for the pictures.

    The particles as read and the decision. The particles' fields are reachable under the
    names the figures use.
    """

    particles: ParticleSet
    keep: np.ndarray
    suppressed_by: np.ndarray
    min_dist: float
    confirmed_by: np.ndarray | None = None  # bitmask of the inputs confirming each row, several inputs only
    #: The scores as the decision compared them, when not as read (``--score-normalize rank``).
    compared_scores: np.ndarray | None = None
    #: Whether input k ran on micrograph g (n_micrographs, n_inputs); None: every input ran on every micrograph.
    covered: np.ndarray | None = None
    #: The consensus decision (``Decision.unconfirmed``, ``.not_confirmable``, --min-support).
    unconfirmed: np.ndarray | None = None
    not_confirmable: np.ndarray | None = None
    min_support: int = 1
    #: --min-dist-z (tomography): duplicates within the ellipsoid of half-axes min_dist in x
    #: and y and min_dist_z in z; None: a sphere of min_dist.
    min_dist_z: float | None = None

    @property
    def mic_names(self) -> list[str]:
        """Micrograph names by micrograph id."""
        return self.particles.mic_names

    @property
    def groups(self) -> np.ndarray:
        """Micrograph id of each particle."""
        return self.particles.groups

    @property
    def centres(self) -> np.ndarray:
        """Centre of each particle, Å."""
        return self.particles.centres

    @property
    def psize(self) -> np.ndarray:
        """Micrograph pixel size of each particle, Å."""
        return self.particles.psize

    @property
    def scores(self) -> np.ndarray | None:
        """Score of each particle as the decision compared it, or None when ranked at random."""
        return self.particles.scores if self.compared_scores is None else self.compared_scores

    @property
    def score_label(self) -> str | None:
        """The score column or field (and how it was compared), or None."""
        label = self.particles.score_label
        if label is None or self.compared_scores is None:
            return label
        return f"{label}: percentile within its input (1 best)"

    @property
    def inputs(self) -> list[str]:
        """The input files."""
        return self.particles.inputs

    @property
    def input_of(self) -> np.ndarray:
        """Index in ``inputs`` of each particle's input."""
        return self.particles.input_of

    @property
    def unit(self) -> str:
        """What the particles lie in: ``tomogram`` (3D centres) or ``micrograph``."""
        return "tomogram" if self.centres.shape[1] == 3 else "micrograph"

    @property
    def distance_text(self) -> str:
        """The duplicate distance in words, as the decision used it."""
        if self.min_dist_z is None:
            return f"minimum distance {self.min_dist:g} Å" + (" in 3D" if self.unit == "tomogram" else "")
        return f"minimum distance {self.min_dist:g} Å in x and y, {self.min_dist_z:g} Å in z"

    @property
    def mic_shapes(self) -> dict[int, tuple[int, int]]:
        """Image shape (ny, nx) by micrograph id, where known."""
        return self.particles.mic_shapes


def _axes(xlabel: str, ylabel: str, title: str, size: tuple[float, float] = (7, 4)) -> tuple[Figure, Axes]:
    """A new figure with one labelled plot."""
    fig, ax = plt.subplots(figsize=size)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return fig, ax


def save(fig: Figure, path: StrPath) -> None:
    """Write ``fig`` as a PNG to ``path`` and close it."""
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


def nearest_neighbour_distances(groups: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Distance (Å) from each particle to the nearest other particle of its micrograph.

    A particle alone on its micrograph gets inf. One k-d tree search per particle, in the core.
    """
    return _core.nearest_distances(
        np.ascontiguousarray(groups, dtype=np.int64), np.ascontiguousarray(centres, dtype=np.float64)
    )


def nn_histogram(details: ParticleDetails) -> Figure:
    """Histogram of nearest-neighbour distances, with the minimum distance marked.

    With --min-dist-z the distances are those the decision compares: z scaled by
    min_dist / min_dist_z, so that a pair is a duplicate exactly when its distance is at most
    min_dist (left of the line), as without it.
    """
    centres = details.centres
    xlabel = f"distance to the nearest particle in the same {details.unit} (Å)"
    if details.min_dist_z is not None:
        centres = centres * np.array([1.0, 1.0, details.min_dist / details.min_dist_z])
        xlabel = (
            f"distance to the nearest particle in the same {details.unit}, z scaled by "
            f"{details.min_dist:g}/{details.min_dist_z:g} (Å)"
        )
    d = nearest_neighbour_distances(details.groups, centres)
    d = d[np.isfinite(d)]
    top = max(5 * details.min_dist, 200.0)
    fig, ax = _axes(xlabel, "particles", "Nearest-neighbour distances (last bin: that far or farther)")
    ax.hist(np.clip(d, 0, top), bins=100, range=(0, top), color="#4c72b0")
    _count_ticks(ax.yaxis)  # counts of particles
    ax.axvline(details.min_dist, color=REJECTED_COLOUR, lw=2, label=details.distance_text)
    ax.legend(loc="upper center")  # the bins at both ends are the tall ones
    return fig


def rejected_fraction(details: ParticleDetails) -> Figure:
    """Histogram over micrographs of the fraction of their particles rejected."""
    n_mics = len(details.mic_names)
    total = np.bincount(details.groups, minlength=n_mics)
    rejected = np.bincount(details.groups[~details.keep], minlength=n_mics)
    fraction = rejected[total > 0] / total[total > 0]
    unit = details.unit
    fig, ax = _axes(
        f"fraction of a {unit}'s particles rejected", f"{unit}s", f"Rejected per {unit} ({n_mics:,} {unit}s)"
    )
    ax.hist(fraction, bins=50, range=(0, 1), color="#4c72b0")
    _count_ticks(ax.yaxis)  # counts of micrographs
    return fig


def score_distributions(details: ParticleDetails) -> Figure:
    """Score histograms of the kept and of the rejected particles (which must have scores)."""
    s, label = details.scores, details.score_label
    if s is None or label is None:  # set together by every reader
        raise ValueError("score_distributions: the particles have no scores")
    fig, ax = _axes(label, "particles", "Scores of kept and rejected particles")
    finite = np.isfinite(s)
    lo, hi = (np.min(s[finite]), np.max(s[finite])) if finite.any() else (0, 1)
    for mask, colour, label in ((details.keep, KEPT_COLOUR, "kept"), (~details.keep, REJECTED_COLOUR, "rejected")):
        ax.hist(
            s[mask & finite],
            bins=60,
            range=(lo, hi),
            histtype="step",
            lw=2,
            color=colour,
            label=f"{label} ({int(mask.sum())})",
        )
    _count_ticks(ax.yaxis)  # counts of particles
    ax.legend()
    return fig


def input_contributions(details: ParticleDetails) -> Figure:
    """Per input, bars of its kept and rejected picks."""
    k = len(details.inputs)
    kept = np.bincount(details.input_of[details.keep], minlength=k)
    rejected = np.bincount(details.input_of[~details.keep], minlength=k)
    fig, ax = plt.subplots(figsize=(7, 1.5 + 0.5 * k))
    y = np.arange(k)
    ax.barh(y, kept, color=KEPT_COLOUR, label="kept")
    ax.barh(y, rejected, left=kept, color=REJECTED_COLOUR, label="rejected")
    ax.set_yticks(y, distinct_labels(details.inputs))
    ax.set_xlabel("particles")
    _count_ticks(ax.xaxis)  # counts of particles
    ax.set_title("Picks contributed by each input")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)  # beside the bars, not on them
    return fig


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
}


def consensus_by_input(details: ParticleDetails) -> Figure:
    """Per input, one bar of all its picks, split by fate: the parts add up to its picks.

    Fates that no pick of any input has are left out of the bars and the legend.
    """
    k = len(details.inputs)
    outcomes = pick_outcomes(details.keep, _confirmed_by(details), details.unconfirmed, details.not_confirmable)
    counts = outcome_counts(outcomes, details.input_of, k)
    fig, ax = plt.subplots(figsize=(7, 1.5 + 0.5 * k))
    y = np.arange(k)
    left = np.zeros(k, dtype=np.int64)
    for fate, widths in zip(OUTCOMES, counts.T):
        if not widths.any():
            continue
        colour, label = FATE_STYLE[fate]
        if fate == "kept_confirmed" and details.min_support > 1:
            label = f"kept, confirmed by {details.min_support} or more inputs"
        ax.barh(y, widths, left=left, color=colour, label=label, gid=fate)
        left += widths
    ax.set_yticks(y, distinct_labels(details.inputs))
    ax.set_xlabel("picks")
    _count_ticks(ax.xaxis)  # counts of picks
    ax.set_title("What became of each input's picks")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return fig


def agreement(details: ParticleDetails) -> Figure:
    """The agreement between inputs: overall, and micrograph by micrograph.

    The distribution over micrographs of their mean pairwise Jaccard index (low: the inputs
    disagree there), of the micrographs at least two inputs ran on. The Jaccard index of a
    pair over the micrographs both ran on (with how many those are, when some input did not
    run on every micrograph): two inputs, marked on the histogram; more, beside it, each pair
    once (the matrix below its diagonal, whose ones say nothing; a pair that shares no
    micrograph is marked "no micrograph in common").
    """
    k = len(details.inputs)
    n_mics = len(details.mic_names)
    unit = details.unit
    confirmed_by = _confirmed_by(details)
    size, matched = pair_counts(confirmed_by, details.input_of, details.groups, n_mics, k)
    per_mic_matrices, overall = covered_jaccard(size, matched, details.covered)
    per_mic = mean_agreement(per_mic_matrices)
    covered = np.ones((n_mics, k), dtype=bool) if details.covered is None else details.covered
    shared_mics = covered.T.astype(np.int64) @ covered.astype(np.int64)  # micrographs both of a pair ran on
    labels = distinct_labels(details.inputs)
    on = _on_shared(shared_mics, n_mics, unit)
    if k == 2:
        fig, ax_mics = plt.subplots(figsize=(7, 4))
        if shared_mics[1, 0] == 0:
            ax_mics.text(
                0.5,
                0.9,
                f"{labels[0]} and {labels[1]}: no {unit} in common",
                ha="center",
                transform=ax_mics.transAxes,
                gid="uncovered",
            )
        elif not np.isnan(overall[1, 0]):
            line = f"both: {overall[1, 0]:.2f}{on(1, 0, ' ')} ({labels[0]} / {labels[1]})"
            ax_mics.axvline(overall[1, 0], color="#333333", ls="--", lw=1.5, label=line, gid="overall")
    else:
        side = 1.0 + 0.9 * (k - 1)  # inches of the matrix
        fig, (ax_matrix, ax_mics) = plt.subplots(
            1, 2, figsize=(side + 8.5, 4.5), gridspec_kw={"width_ratios": [side + 1.5, 6], "wspace": 0.5}
        )
        _pair_matrix(fig, ax_matrix, overall, labels, shared_mics, on)
    ax_mics.hist(per_mic[~np.isnan(per_mic)], bins=np.linspace(0, 1, 21).tolist(), color="#2b83ba")
    ax_mics.set_xlabel(f"mean pairwise Jaccard index of a {unit}")
    ax_mics.set_ylabel(f"{unit}s")
    _count_ticks(ax_mics.yaxis)
    title = f"Agreement per {unit} (low: the inputs disagree)"
    lone = int((covered.sum(axis=1) < 2).sum())
    if lone:
        title += f"\n{lone} of {n_mics} {unit}s left out: fewer than 2 inputs ran on them"
    ax_mics.set_title(title)
    if ax_mics.get_legend_handles_labels()[0]:
        ax_mics.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize=9, frameon=False)  # off the bars
    return fig


#: Micrographs and tomograms as a matrix cell has room to say.
SHORT_UNITS = {"micrograph": "mics", "tomogram": "tomos"}


def _on_shared(shared_mics: np.ndarray, n_mics: int, unit: str) -> Callable[[int, int, str], str]:
    """Says on how many micrographs a pair's index is, when not on all of them."""
    partial = bool((shared_mics < n_mics).any())

    def on(a: int, b: int, sep: str) -> str:
        return f"{sep}on {shared_mics[a, b]} of {n_mics} {SHORT_UNITS[unit]}" if partial else ""

    return on


def _pair_matrix(
    fig: Figure,
    ax: Axes,
    overall: np.ndarray,
    labels: list[str],
    shared_mics: np.ndarray,
    on: Callable[[int, int, str], str],
) -> None:
    """The Jaccard index of each pair of inputs: row a + 1, column b for a >= b, nothing above."""
    k = len(labels)
    below = overall[1:, :-1].copy()  # cell (a, b) is the pair (a + 1, b)
    below[np.triu_indices(k - 1, 1)] = np.nan
    image = ax.imshow(np.ma.masked_invalid(below), vmin=0, vmax=1, cmap="viridis", gid="pair_matrix")
    ax.set_xticks(range(k - 1), labels[:-1], rotation=30, ha="right")
    ax.set_yticks(range(k - 1), labels[1:])
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for a in range(k - 1):
        for b in range(a + 1):
            if shared_mics[a + 1, b] == 0:  # grey: the pair has no micrograph in common
                ax.add_patch(Rectangle((b - 0.5, a - 0.5), 1, 1, color="#dddddd"))
                ax.text(b, a, "no micrograph\nin common", ha="center", va="center", fontsize=8, gid="uncovered")
            elif not np.isnan(below[a, b]):
                colour = "k" if below[a, b] > 0.7 else "w"  # legible on viridis' yellow and its blues
                text = f"{below[a, b]:.2f}{on(a + 1, b, chr(10))}"
                ax.text(b, a, text, ha="center", va="center", color=colour, fontsize=9)
    fig.colorbar(image, ax=ax, label="Jaccard index", fraction=0.1, pad=0.08)
    ax.set_title("Each pair of inputs", fontsize=10)


def _count_ticks(axis: Any) -> None:
    """Whole-number ticks in steps of 1, 2 or 5 times a power of ten, for an axis of counts."""
    axis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))


def display_image(path: Path, width: int = 900) -> DisplayImage | None:
    """A micrograph binned and low-pass filtered for display, and the binning factor.

    The image is binned to about ``width`` pixels; None if the file cannot be read.
    """
    try:
        from . import _core
        from .formats.mrc import open_mrc

        mrc, data = open_mrc(path)
        with mrc:
            factor = max(1, data.shape[1] // width)
            image = _core.bin_image(np.ascontiguousarray(data), factor)
    except Exception:  # a picture is not worth failing the job for
        return None
    k2 = np.fft.fftfreq(image.shape[0])[:, None] ** 2 + np.fft.rfftfreq(image.shape[1])[None, :] ** 2
    smooth = np.fft.irfft2(np.fft.rfft2(image - image.mean()) * np.exp(-k2 / (2 * 0.08**2)), s=image.shape)
    return smooth, float(factor)


#: Characters of a micrograph's name beside a bar (cut at the front: its end tells it apart).
BAR_LABEL_WIDTH = 40
MARKER_POINTS = 7  # marker width in points: visible whatever the minimum distance and micrograph size


#: Where a micrograph (or a tomogram seen along z) is drawn: x and y of its corner, width and height, Å.
Frame = tuple[float, float, float, float]


def _frame(details: ParticleDetails, mic: int, idx: np.ndarray, psize: float, image: DisplayImage | None) -> Frame:
    """The micrograph's extent: from its image, its known shape, or its picks.

    From its picks, it starts at 0 unless some are below (RELION 5's tomogram centres are
    counted from the tomogram's centre), and ends a little past the farthest.
    """
    if image is not None:
        pixels, factor = image
        return 0.0, 0.0, pixels.shape[1] * psize * factor, pixels.shape[0] * psize * factor
    ny, nx = details.mic_shapes.get(mic, (0, 0))
    if nx and ny:
        return 0.0, 0.0, nx * psize, ny * psize
    xy = details.centres[idx, :2]
    low, high = np.minimum(xy.min(axis=0), 0.0), xy.max(axis=0)
    margin = 0.05 * (high - low)
    low = np.where(low < 0, low - margin, 0.0)
    size = np.maximum(high + margin - low, 1.0)
    return float(low[0]), float(low[1]), float(size[0]), float(size[1])


def _show_micrograph(ax: Axes, image: DisplayImage | None, frame: Frame) -> None:
    """The micrograph as RELION's and CryoSPARC's pick viewers show it.

    Row 0 of the MRC is at the top, where y = 0 is; y grows downwards.
    """
    x0, y0, width, height = frame
    if image is not None:
        pixels, _ = image
        lo, hi = np.percentile(pixels, [1, 99])
        ax.imshow(pixels, cmap="gray", vmin=lo, vmax=hi, origin="upper", extent=(x0, x0 + width, y0 + height, y0))
    else:
        ax.set_facecolor("#f2f2f2")
    ax.set_xlim(x0, x0 + width)
    ax.set_ylim(y0 + height, y0)
    ax.set_aspect("equal")
    ax.set_xlabel("x (Å)")


def _pixels_per_angstrom(fig: Figure, ax: Axes, width: float) -> float:
    """Display pixels per Å of ``ax`` in the saved PNG."""
    return ax.get_position().width * fig.get_figwidth() * DPI / width


def micrograph_picks(details: ParticleDetails, mic: int, image: DisplayImage | None, missing: str = "") -> Figure:
    """One micrograph twice, side by side: its kept picks, and its rejected picks.

    Each rejected pick has a line to the particle kept instead. Markers have a fixed size;
    circles of half the minimum distance (two picks are duplicates when theirs overlap) are
    drawn when they are larger than the markers. ``missing``: the image file that was not
    found, if any.
    """
    idx = np.flatnonzero(details.groups == mic)
    kept, rejected = idx[details.keep[idx]], idx[~details.keep[idx]]
    psize = float(details.psize[idx[0]])
    frame = _frame(details, mic, idx, psize, image)
    width, height = frame[2:]
    panel = 6.0  # inches per panel
    fig, (ax_kept, ax_rejected) = plt.subplots(
        1, 2, figsize=(2 * panel + 1.0, min(panel * height / width, 9.0) + 1.6), sharex=True, sharey=True
    )
    inches = fig.get_figheight()  # margins for the title above and the legend below, whatever the height
    top = 0.85 if missing else 0.65
    fig.subplots_adjust(left=0.07, right=0.98, top=1 - top / inches, bottom=0.95 / inches, wspace=0.08)
    for ax in (ax_kept, ax_rejected):
        _show_micrograph(ax, image, frame)
    ax_kept.set_ylabel("y (Å)")
    marker = {"s": MARKER_POINTS**2, "linewidths": 1.5}
    c = details.centres
    ax_kept.scatter(c[kept, 0], c[kept, 1], facecolors="none", edgecolors=KEPT_COLOUR, gid="kept", **marker)
    radius = details.min_dist / 2
    marker_radius_px = MARKER_POINTS / 72 * DPI / 2
    if radius * _pixels_per_angstrom(fig, ax_kept, width) > 2 * marker_radius_px:  # else a double ring
        for i in kept:
            ax_kept.add_patch(
                Circle(tuple(c[i, :2]), radius, fill=False, lw=0.8, color=KEPT_COLOUR, gid="half_min_dist")
            )
    partners = details.suppressed_by[rejected]
    paired = partners >= 0  # picks rejected for lack of consensus have no partner
    duplicates, unconfirmed = rejected[paired], rejected[~paired]
    lines = [(c[i, :2], c[j, :2]) for i, j in zip(duplicates, partners[paired])]
    partners = partners[paired]
    ax_rejected.add_collection(LineCollection(lines, colors="#ffbf00", lw=1.2, gid="suppressed_by"))
    ax_rejected.scatter(c[partners, 0], c[partners, 1], s=16, color=KEPT_COLOUR, gid="kept_instead")
    ax_rejected.scatter(c[duplicates, 0], c[duplicates, 1], marker="x", color=REJECTED_COLOUR, gid="rejected", **marker)
    ax_rejected.scatter(
        c[unconfirmed, 0],
        c[unconfirmed, 1],
        marker="s",
        facecolors="none",
        edgecolors=UNCONFIRMED_COLOUR,
        gid="unconfirmed",
        **marker,
    )
    ax_kept.set_title(f"kept: {len(kept)}", fontsize=10)
    split = f" (duplicates: {len(duplicates)}, unconfirmed: {len(unconfirmed)})" if len(unconfirmed) else ""
    ax_rejected.set_title(f"rejected: {len(rejected)}{split}", fontsize=10)
    title = f"{details.mic_names[mic]} ({details.distance_text})"
    if details.unit == "tomogram":  # distances are 3D; the picture shows x and y
        title = f"{details.mic_names[mic]}: picks seen along z ({details.distance_text})"
    if details.covered is not None and not details.covered[mic].all():
        absent = [name for name, ran in zip(distinct_labels(details.inputs), details.covered[mic]) if not ran]
        title += f"\nnot picked by {', '.join(absent)} (never ran on this {details.unit})"
    if missing:  # the path is in the summary: a long one here would shrink the picture to fit
        title += "\nimage not found: picks on a blank frame (see the summary's micrograph images)"
    fig.suptitle(title, fontsize=10)
    from matplotlib.lines import Line2D

    # Remove-entirely mode keeps none of a close pair: the line then goes to the neighbour.
    partner_label = (
        "to the pick kept instead" if details.keep[partners].all() else "to its neighbour within the distance"
    )
    handles = [
        Line2D([], [], marker="o", ms=MARKER_POINTS, mfc="none", ls="", color=KEPT_COLOUR, label="kept pick"),
        Line2D([], [], marker="x", ms=MARKER_POINTS, ls="", color=REJECTED_COLOUR, label="rejected duplicate"),
        Line2D([], [], color="#ffbf00", marker="o", ms=4, mfc=KEPT_COLOUR, mec=KEPT_COLOUR, label=partner_label),
    ]
    if len(unconfirmed):
        handles.append(
            Line2D(
                [],
                [],
                marker="s",
                ms=MARKER_POINTS,
                mfc="none",
                ls="",
                color=UNCONFIRMED_COLOUR,
                label="rejected: too few inputs picked it (--min-support)",
            )
        )
    if any(p.get_gid() == "half_min_dist" for p in ax_kept.patches):
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ms=14,
                mfc="none",
                ls="",
                color=KEPT_COLOUR,
                lw=0.8,
                label="half the minimum distance" + (" in x and y" if details.min_dist_z is not None else ""),
            )
        )
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9, frameon=False)
    return fig


def halfset_pairs(details: ParticleDetails) -> Figure:
    """Where duplicate pairs straddle the half-sets: per micrograph, and the worst micrographs.

    Left, the straddling pairs of every micrograph in the order the input lists them (a run
    of crowded micrographs shows as a block); right, the micrographs with the most, with
    their pairs within one half-set beside them.
    """
    across, within = straddling_per_micrograph(details.particles, details.suppressed_by)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    unit = details.unit
    left.bar(np.arange(across.size), across, width=1.0, color=REJECTED_COLOUR)
    left.set_xlabel(f"{unit} (input order)")
    left.set_ylabel("duplicate pairs straddling the half-sets")
    left.set_title(f"Straddling pairs per {unit} ({int(across.sum()):,} pairs, {across.size:,} {unit}s)")
    left.set_xlim(-0.5, max(across.size, 1) - 0.5)
    for axis in (left.xaxis, left.yaxis, right.xaxis):  # micrograph numbers and counts of pairs
        _count_ticks(axis)
    worst = [int(m) for m in np.lexsort((np.arange(across.size), -across)) if across[m] > 0][:TOP_MICROGRAPHS]
    y = np.arange(len(worst))
    right.barh(y, across[worst], color=REJECTED_COLOUR, label="across the half-sets")
    right.barh(y, within[worst], left=across[worst], color="#9aa7b8", label="within one half-set")
    shown = distinct_labels([details.mic_names[m] for m in worst])
    right.set_yticks(y, [short_name(name, BAR_LABEL_WIDTH) for name in shown], fontsize=8)
    right.invert_yaxis()
    right.set_xlabel("duplicate pairs")
    right.set_title(f"{unit.capitalize()}s with the most straddling pairs")
    if worst:
        right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8)
    else:
        right.text(0.5, 0.5, "no pair straddles the half-sets", ha="center", va="center", transform=right.transAxes)
    fig.tight_layout()
    return fig


def micrographs_to_show(details: ParticleDetails, n: int) -> list[int]:
    """The micrograph with the most rejections first, then the next most.

    With several inputs, micrographs that more of them ran on come first: one input alone
    shows no agreement.
    """
    rejected = np.bincount(details.groups[~details.keep], minlength=len(details.mic_names))
    present = np.bincount(details.groups, minlength=len(details.mic_names)) > 0
    ran_on = np.zeros(len(rejected), dtype=np.int64) if details.covered is None else details.covered.sum(axis=1)
    order = [int(m) for m in np.lexsort((np.arange(len(rejected)), -rejected, -ran_on)) if present[m]]
    return order[:n]


def particle_figures(
    details: ParticleDetails, n_mics: int, find_micrograph: Callable[[str], Path]
) -> tuple[list[NamedFigure], list[str]]:
    """(file name, title, Figure) for every picture of the particle job, and the missing images.

    The second list names the image files of the example micrographs that were not found
    (``find_micrograph(name)`` gives the path looked for).
    """
    out: list[NamedFigure] = []
    missing: list[str] = []
    for k, mic in enumerate(micrographs_to_show(details, n_mics)):
        if details.unit == "tomogram":  # a tomogram is a volume: its picks are drawn on a blank frame
            figure = micrograph_picks(details, mic, None)
            out.append((f"example_tomogram_{k + 1}.png", f"Example tomogram {k + 1}", figure))
            continue
        path = find_micrograph(details.mic_names[mic])
        image = display_image(path) if path.exists() else None
        if not path.exists():
            missing.append(str(path))
        figure = micrograph_picks(details, mic, image, missing=str(path) if not path.exists() else "")
        out.append((f"example_micrograph_{k + 1}.png", f"Example {details.unit} {k + 1}", figure))
    out.append(("nn_distances.png", "Nearest-neighbour distances", nn_histogram(details)))
    out.append(("rejected_per_micrograph.png", f"Rejected per {details.unit}", rejected_fraction(details)))
    if details.scores is not None:
        out.append(("scores.png", "Scores", score_distributions(details)))
    if len(details.inputs) > 1:
        out.append(("inputs.png", "Inputs", input_contributions(details)))
    if details.particles.halfsets is not None:
        out.append(("halfset_pairs.png", "Duplicate pairs across the half-sets", halfset_pairs(details)))
    if details.confirmed_by is not None:
        out.append(("consensus.png", "Consensus by input", consensus_by_input(details)))
        out.append(("agreement.png", "Agreement between inputs", agreement(details)))
    return out, missing


def z_distribution(z: np.ndarray, threshold: float) -> Figure:
    """Histogram (log scale) of the phase-correlation z of all scored pairs, with the threshold."""
    fig, ax = _axes(
        "phase-correlation peak z (standard deviations of the map)",
        "pairs (log scale)",
        f"Scores of {len(z):,} compared pairs",
    )
    top = max(float(np.max(z)) if len(z) else 1.0, threshold * 1.5)
    ax.hist(z, bins=100, range=(0, top), color="#4c72b0", log=True)
    ax.axvline(threshold, color=REJECTED_COLOUR, lw=2, label=f"threshold z = {threshold:g}")
    ax.legend()
    return fig


def z_against_pearson(
    z: np.ndarray, pearson: np.ndarray, is_duplicate: np.ndarray, min_z: float, min_pearson: float
) -> Figure:
    """Every scored pair by its z and Pearson coefficient, with both thresholds.

    A pair is a duplicate only in the upper right corner. Pairs whose peak is too low for a
    Pearson coefficient (``nan``) are counted in the title.
    """
    has_r = np.isfinite(pearson)
    fig, ax = _axes(
        "phase-correlation peak z (standard deviations of the map)",
        "Pearson coefficient over the overlap",
        f"{int(has_r.sum()):,} pairs with a Pearson coefficient; {int((~has_r).sum()):,} with z below 5 have none",
        size=(7, 5),
    )
    for mask, colour, label, gid in (
        (has_r & ~is_duplicate, "#4c72b0", "not a duplicate", "not_duplicate"),
        (has_r & is_duplicate, REJECTED_COLOUR, "duplicate", "duplicate"),
    ):
        ax.scatter(z[mask], pearson[mask], s=14, color=colour, label=f"{label} ({int(mask.sum()):,})", gid=gid)
    ax.axvline(min_z, color="#444444", ls="--", lw=1, label=f"minimum z {min_z:g}")
    ax.axhline(min_pearson, color="#444444", ls=":", lw=1, label=f"minimum Pearson {min_pearson:g}")
    ax.set_xlim(0, max(float(np.max(z)) if len(z) else 0.0, 1.5 * min_z) * 1.05)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=9, frameon=False)
    return fig


def pair_figure(a: np.ndarray, b: np.ndarray, dy: int, dx: int, title: str) -> Figure:
    """Two binned micrographs side by side, and overlaid at the found shift.

    b[y, x] shows a[y + dy, x + dx]; in the overlay a is magenta, b green, and grey where
    they agree.
    """
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))

    def norm(img: np.ndarray) -> np.ndarray:
        lo, hi = np.percentile(img, [1, 99])
        return np.clip((img - lo) / (hi - lo + 1e-12), 0, 1)

    for ax, img, label in ((axes[0], a, "first acquisition"), (axes[1], b, "later acquisition")):
        ax.imshow(norm(img), cmap="gray", origin="upper")  # row 0 at the top, as in the particle pictures
        ax.set_title(label)
        ax.set_xlabel("x (binned pixels)")
    axes[0].set_ylabel("y (binned pixels)")
    ny, nx = a.shape
    oy, ox = max(0, -dy), max(0, -dx)  # a's origin on the canvas; b's is (oy + dy, ox + dx)
    canvas = np.zeros((ny + abs(dy), nx + abs(dx), 3))
    canvas[oy : oy + ny, ox : ox + nx, 0] = norm(a)
    canvas[oy : oy + ny, ox : ox + nx, 2] = norm(a)
    canvas[oy + dy : oy + dy + ny, ox + dx : ox + dx + nx, 1] = norm(b)
    axes[2].imshow(canvas, origin="upper")
    axes[2].set_title(f"overlaid at shift ({dx}, {dy}) px")
    axes[2].set_xlabel("x (binned pixels)")
    fig.suptitle(title)
    return fig


# Labels of the options in the report; others read as their key.
PARAMETER_LABELS = {
    "min_dist": "minimum distance (Å)",
    "min_dist_z": "minimum distance along z (Å)",
    "mic_psize": "micrograph pixel size (Å)",
    "micrographs": "micrographs file",
    "shift_key": "shift",
    "match_micrographs": "micrographs matched by",
    "score_order": "score order",
    "remove_entirely": "remove entirely",
    "plot_mics": "example micrographs drawn",
    "project_dir": "project folder",
    "min_support": "minimum support (inputs)",
    "score_normalize": "score normalization",
    "halfsets": "half-sets",
    "max_angle": "maximum angle (°)",
    "sym": "symmetry",
    "target_psize": "target pixel size (Å)",
    "bin": "binning",
    "lowpass": "low-pass (Å)",
    "highpass": "high-pass (Å)",
    "window": "window (images)",
    "scan_range": "scan range (images)",
    "images_per_move": "images per move",
    "images_per_hole": "images per hole",
    "order": "acquisition order",
    "min_z": "minimum z",
    "min_pearson": "minimum Pearson",
    "psize": "pixel size (Å)",
    "skip_unreadable": "skip unreadable",
    "batch": "images per batch",
    "plot_pairs": "flagged pairs drawn",
}
#: The labels that name micrographs, for particles in tomograms (3-D centres).
TOMOGRAM_LABELS = {
    "mic_psize": "coordinate pixel size (Å)",
    "micrographs": "tomograms file",
    "match_micrographs": "tomograms matched by",
    "plot_mics": "example tomograms drawn",
}
#: The report's colours of a highlighted summary row, by its kind.
HIGHLIGHTS = {"bad": "#fde0dd", "good": "#e5f5e0", "warn": "#fff3cd"}


def parameter_rows(parameters: dict, unit: str = "micrograph") -> list[tuple[str, str]]:
    """The job's options with human labels, for the report (``unit`` ``tomogram``: tomograms named so)."""
    labels = PARAMETER_LABELS | (TOMOGRAM_LABELS if unit == "tomogram" else {})
    return [(labels.get(k, k.replace("_", " ")), human(v)) for k, v in parameters.items()]


def _cell(value: object) -> str:
    """A value as HTML: a long path may break after a slash, never inside a name."""
    return html.escape(str(value)).replace("/", "/<wbr>")


def _table(
    rows: Iterable[Sequence[object]], header: Sequence[str] | None = None, highlight: dict[str, str] | None = None
) -> str:
    """An HTML table; without a header the first column labels the rows, those in ``highlight`` coloured."""
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>" if header else ""
    cell = "td" if header else "th"
    body = []
    for row in rows:
        kind = (highlight or {}).get(str(row[0]))
        style = f" class='{kind}'" if kind else ""
        label = str(row[0])
        indent = " class='sub'" if label.startswith(" ") else ""  # a row under the one above (an input, a detail)
        values = "".join(f"<td>{_cell(v)}</td>" for v in row[1:])
        body.append(f"<tr{style}><{cell}{indent}>{html.escape(label.strip())}</{cell}>{values}</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def write_report(
    path: StrPath,
    title: str,
    parameters: dict,
    summary: Sequence[tuple[str, str]],
    figures: Sequence[tuple[str, str, bytes]],
    tables: Iterable[ReportTable] = (),
    highlight: dict[str, str] | None = None,
    unit: str = "micrograph",
) -> None:
    """One self-contained HTML file: summary, parameters, extra tables and the figures.

    ``summary`` holds the rows of the terminal's table (:mod:`cryodedup.summaries`); rows
    whose label is in ``highlight`` are coloured by its kind (``bad``, ``good``, ``warn``).
    ``tables`` holds (heading, header, rows); the figures' PNGs are embedded.
    """
    colours = "".join(f"tr.{kind}{{background:{colour}}}" for kind, colour in HIGHLIGHTS.items())
    colours += "tr.bad td,tr.good td{font-weight:bold}"  # the verdict; warnings are coloured only
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
        "th{text-align:left;padding:0.15em 1.5em 0.15em 0.3em;vertical-align:top;white-space:nowrap}"
        "td{white-space:pre-wrap;padding:0.15em 1em 0.15em 0.3em;overflow-wrap:break-word}"
        "th.sub{padding-left:1.5em;font-weight:normal}table{border-collapse:collapse}tr:nth-child(even){background:#f6f6f6}"
        f"{colours}img{{max-width:100%;border:1px solid #ddd;margin:0.5em 0}}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><h2>Summary</h2>",
        _table(summary, highlight=highlight),
        "<h2>Parameters</h2>",
        _table(parameter_rows(parameters, unit)),
    ]
    for heading, header, rows in tables:
        parts += [f"<h2>{html.escape(heading)}</h2>", _table(rows, header) if rows else "<p>none</p>"]
    parts.append("<h2>Pictures</h2>")
    for name, caption, png in figures:
        data = base64.b64encode(png).decode()
        parts.append(
            f"<h3>{html.escape(caption)}</h3><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
        )
    parts.append("</body></html>")
    Path(path).write_text("".join(parts))


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def write_all(
    outdir: Path,
    figures: Sequence[NamedFigure],
    title: str,
    parameters: dict,
    summary: Sequence[tuple[str, str]],
    force: bool,
    tables: Iterable[ReportTable] = (),
    highlight: dict[str, str] | None = None,
    unit: str = "micrograph",
) -> list[str]:
    """Saves the figures and report.html in ``outdir`` (complete files or none).

    ``summary`` and ``highlight`` are the report's summary rows and those to colour (:func:`write_report`);
    ``unit`` what the particles lie in (``tomogram``: the Parameters table names tomograms).
    """
    from .outputs import AtomicOutputs

    paths = [outdir / name for name, _, _ in figures] + [outdir / "report.html"]
    rendered = [(name, caption, png_bytes(fig)) for name, caption, fig in figures]
    for _, _, fig in figures:
        plt.close(fig)
    with AtomicOutputs(paths, force=force) as tmp:
        for (_, _, png), path in zip(rendered, paths):
            tmp[path].write_bytes(png)
        write_report(tmp[paths[-1]], title, parameters, summary, rendered, tables, highlight, unit)
    return [str(p) for p in paths]


def position_map(
    xy: np.ndarray,
    squares: np.ndarray,
    square_names: Sequence[str],
    duplicate_pairs: np.ndarray,
    rejected: np.ndarray,
    beam_diameter: float,
    most: int = 9,
) -> Figure:
    """Every image's specimen position (µm) per grid square; duplicates joined by a line.

    One panel per grid square, those with the most duplicates first (at most ``most``); each
    image a circle of the beam's diameter, the rejected ones red, each duplicate pair joined.
    What an operator reads to see which template or hole misfired.
    """
    placed = np.flatnonzero(squares >= 0)
    dup_square = squares[duplicate_pairs[:, 0]] if len(duplicate_pairs) else np.zeros(0, dtype=np.int64)
    counts = [(int((dup_square == q).sum()), int((squares == q).sum()), q) for q in np.unique(squares[placed])]
    shown = [q for _, _, q in sorted(counts, key=lambda c: (-c[0], -c[1], c[2]))[:most]]
    columns = min(3, max(1, len(shown)))
    rows = max(1, -(-len(shown) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 4.2 * rows), squeeze=False)
    for ax in axes.ravel()[len(shown) :]:
        ax.axis("off")
    for ax, q in zip(axes.ravel(), shown):
        here = np.flatnonzero(squares == q)
        for i in here:
            colour = REJECTED_COLOUR if rejected[i] else KEPT_COLOUR
            ax.add_patch(Circle(tuple(xy[i]), beam_diameter / 2, fill=False, lw=0.6, color=colour, alpha=0.7))
        ax.scatter(xy[here, 0], xy[here, 1], s=4, c=KEPT_COLOUR)
        gone = here[rejected[here]]
        ax.scatter(xy[gone, 0], xy[gone, 1], s=60, marker="x", c=REJECTED_COLOUR, zorder=3)
        mine = duplicate_pairs[dup_square == q] if len(duplicate_pairs) else duplicate_pairs
        if len(mine):
            ax.add_collection(LineCollection(xy[mine], colors=REJECTED_COLOUR, linewidths=1.5))
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(f"{square_names[q]}: {len(here)} images, {len(mine)} duplicate pairs", fontsize=9)
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("y (µm)")
    fig.suptitle(
        f"Specimen positions (circles: beam {beam_diameter:.2f} µm; red: rejected, joined to its duplicate)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
