"""The particle job's pictures: distances, scores, inputs, consensus, half-sets, picks on micrographs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle
from matplotlib.ticker import MaxNLocator

from ..algo.audit import TOP_MICROGRAPHS, straddling_per_micrograph
from ..algo.consensus import OUTCOMES, covered_jaccard, mean_agreement, outcome_counts, pair_counts, pick_outcomes
from ..algo.dedup import nearest_neighbour_distances, stretched
from ..labels import distinct_labels
from ..model import ParticleSet
from .figures import DPI, KEPT_COLOUR, REJECTED_COLOUR, NamedFigure, histogram, labelled_axes, subplots
from .summary import short_name

UNCONFIRMED_COLOUR = "#7b3294"  # kept as no duplicate, then rejected for lack of support

#: A displayed micrograph: the binned, smoothed pixels and the binning factor.
DisplayImage = tuple[np.ndarray, float]


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
    #: The distance of each particle to its nearest neighbour in the decision's metric, when
    #: the job measures it (:func:`nearest_neighbour_distances` of the stretched centres, on
    #: a thread): called when the histogram is drawn.
    nn_distances: Callable[[], np.ndarray] | None = None

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


def nn_histogram(details: ParticleDetails) -> Figure:
    """Histogram of nearest-neighbour distances, with the minimum distance marked.

    With --min-dist-z the distances are those the decision compares: z scaled by
    min_dist / min_dist_z, so that a pair is a duplicate exactly when its distance is at most
    min_dist (left of the line), as without it.
    """
    xlabel = f"distance to the nearest particle in the same {details.unit} (Å)"
    if details.min_dist_z is not None:
        xlabel = (
            f"distance to the nearest particle in the same {details.unit}, z scaled by "
            f"{details.min_dist:g}/{details.min_dist_z:g} (Å)"
        )
    d = details.nn_distances() if details.nn_distances is not None else None
    if d is None:
        d = nearest_neighbour_distances(
            details.groups, stretched(details.centres, details.min_dist, details.min_dist_z)
        )
    d = d[np.isfinite(d)]
    top = max(5 * details.min_dist, 200.0)
    fig, ax = labelled_axes(xlabel, "particles", "Nearest-neighbour distances (last bin: that far or farther)")
    histogram(ax, np.clip(d, 0, top), 100, (0, top), fill=True, color="#4c72b0")
    _count_ticks(ax.yaxis)  # counts of particles
    ax.axvline(details.min_dist, color=REJECTED_COLOUR, lw=2, label=details.distance_text)
    ax.legend(loc="upper center")  # the bins at both ends are the tall ones
    if d.size == 0:  # matplotlib would centre an all-zero histogram on 0: counts below 0
        ax.set_ylim(0, 1)
        ax.text(0.5, 0.5, f"no {details.unit} holds two particles", ha="center", transform=ax.transAxes)
    return fig


def rejected_fraction(details: ParticleDetails) -> Figure:
    """Histogram over micrographs of the fraction of their particles rejected."""
    n_mics = len(details.mic_names)
    total = np.bincount(details.groups, minlength=n_mics)
    rejected = np.bincount(details.groups[~details.keep], minlength=n_mics)
    fraction = rejected[total > 0] / total[total > 0]
    unit = details.unit
    fig, ax = labelled_axes(
        f"fraction of a {unit}'s particles rejected", f"{unit}s", f"Rejected per {unit} ({n_mics:,} {unit}s)"
    )
    histogram(ax, fraction, 50, (0, 1), fill=True, color="#4c72b0")
    _count_ticks(ax.yaxis)  # counts of micrographs
    return fig


def score_distributions(details: ParticleDetails) -> Figure:
    """Score histograms of the kept and of the rejected particles (which must have scores)."""
    s, label = details.scores, details.score_label
    if s is None or label is None:  # set together by every reader
        raise ValueError("score_distributions: the particles have no scores")
    fig, ax = labelled_axes(label, "particles", "Scores of kept and rejected particles")
    finite = np.isfinite(s)
    lo, hi = (np.min(s[finite]), np.max(s[finite])) if finite.any() else (0, 1)
    for mask, colour, label in ((details.keep, KEPT_COLOUR, "kept"), (~details.keep, REJECTED_COLOUR, "rejected")):
        histogram(ax, s[mask & finite], 60, (lo, hi), lw=2, color=colour, label=f"{label} ({int(mask.sum())})")
    _count_ticks(ax.yaxis)  # counts of particles
    ax.legend()
    return fig


def input_contributions(details: ParticleDetails) -> Figure:
    """Per input, bars of its kept and rejected picks."""
    k = len(details.inputs)
    kept = np.bincount(details.input_of[details.keep], minlength=k)
    rejected = np.bincount(details.input_of[~details.keep], minlength=k)
    fig, ax = subplots(figsize=(7, 1.5 + 0.5 * k))
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
    fig, ax = subplots(figsize=(7, 1.5 + 0.5 * k))
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
        fig, ax_mics = subplots(figsize=(7, 4))
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
        fig, (ax_matrix, ax_mics) = subplots(
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
        from .. import _core
        from ..formats.mrc import open_mrc

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
    fig, (ax_kept, ax_rejected) = subplots(
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
    fig, (left, right) = subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
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
