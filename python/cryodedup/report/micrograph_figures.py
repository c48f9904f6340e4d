"""The micrograph job's pictures: the scores of the compared pairs, flagged pairs, specimen positions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from .canvas import KEPT_COLOUR, REJECTED_COLOUR, REVISIT_COLOUR  # both jobs' palette
from .figures import labelled_axes, subplots

__all__ = ["overlay", "pair_figure", "position_map", "z_against_pearson", "z_distribution"]


def z_distribution(z: np.ndarray, threshold: float) -> Figure:
    """Histogram (log scale) of the phase-correlation z of all scored pairs, with the threshold."""
    fig, ax = labelled_axes(
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
    fig, ax = labelled_axes(
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


def pair_figure(
    a: np.ndarray, b: np.ndarray, dy: int, dx: int, title: str, binned_psize: float | None = None
) -> Figure:
    """Two binned micrographs side by side, and overlaid at the found shift.

    b[y, x] shows a[y + dy, x + dx]; in the overlay a is magenta, b green, and grey where
    they agree. The shift is said in binned pixels (the axes') and, given ``binned_psize``
    (Å per binned pixel), in Å as the report's table gives it.
    """
    fig, axes = subplots(1, 3, figsize=(13, 4))
    for ax, img, label in ((axes[0], a, "first acquisition"), (axes[1], b, "later acquisition")):
        ax.imshow(_norm(img), cmap="gray", origin="upper")  # row 0 at the top, as in the particle pictures
        ax.set_title(label)
        ax.set_xlabel("x (binned px)")
    axes[0].set_ylabel("y (binned px)")
    axes[2].imshow(overlay(a, b, dy, dx), origin="upper")
    in_angstrom = f"\n= ({dx * binned_psize:.0f}, {dy * binned_psize:.0f}) Å" if binned_psize else ""
    axes[2].set_title(f"overlaid at shift ({dx}, {dy}) binned px{in_angstrom}")
    axes[2].set_xlabel("x (binned px)")
    fig.suptitle(title)
    return fig


def position_map(
    xy: np.ndarray,
    squares: np.ndarray,
    square_names: Sequence[str],
    duplicate_pairs: np.ndarray,
    rejected: np.ndarray,
    beam_diameter: float,
    most: int = 9,
    revisits: np.ndarray | None = None,
) -> Figure:
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
    fig, axes = subplots(rows, columns, figsize=(4.2 * columns, 4.2 * rows), squeeze=False)
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
        again = revisits[squares[revisits[:, 1]] == q] if len(revisits) else revisits
        if len(again):
            ax.add_collection(LineCollection(xy[again], colors=REVISIT_COLOUR, linewidths=1.0, linestyles="dashed"))
            ax.scatter(
                xy[again[:, 1], 0], xy[again[:, 1], 1], s=40, marker="D", facecolors="none", edgecolors=REVISIT_COLOUR
            )
        ax.set_aspect("equal", adjustable="datalim")
        images = f"{len(here)} image{'' if len(here) == 1 else 's'}"
        pairs = f"{len(mine)} duplicate pair{'' if len(mine) == 1 else 's'}"
        revisited = f", {len(again)} revisit{'' if len(again) == 1 else 's'}" if len(again) else ""
        ax.set_title(f"{square_names[q]}: {images}, {pairs}{revisited}", fontsize=9)
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("y (µm)")
    fig.suptitle(
        f"Specimen positions (circles: beam {beam_diameter:.2f} µm; red: rejected, joined to its duplicate"
        + ("; orange diamonds: revisits in the metadata, dashed to the earlier image" if len(revisits) else "")
        + ")",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
