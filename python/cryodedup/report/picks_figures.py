"""A micrograph's picks over its image, kept and rejected side by side; which micrographs are drawn.

The report opens no file: the job reads each drawn micrograph's image (:class:`MicrographImage`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from ..labels import counted, input_labels
from .canvas import (
    KEPT_COLOUR,
    MARKER_RADIUS,
    REJECTED_COLOUR,
    SMALL_TEXT,
    TEXT,
    Canvas,
    Legend,
    Panel,
    Picture,
    rgb,
    text_width,
)
from .particle_base import (
    DISPLACED_COLOUR,
    MASKED_COLOUR,
    OTHER_SPECIES_COLOUR,
    UNCONFIRMED_COLOUR,
    ParticleDetails,
)
from .summary import short_name

__all__ = [
    "DISPLAY_WIDTH",
    "MicrographImage",
    "display_image",
    "grey",
    "micrographs_drawn",
    "micrographs_to_show",
    "missing_examples",
    "picks_picture",
    "worst_outlier",
]

#: A displayed micrograph: the binned, smoothed pixels and the binning factor.
DisplayImage = tuple[np.ndarray, float]


#: About how many pixels across a drawn micrograph's image is binned to (``formats.mrc.binned_image``).
DISPLAY_WIDTH = 900


@dataclass(frozen=True)
class MicrographImage:
    """A drawn micrograph's image as the job found it (the report opens no file).

    ``pixels`` binned by ``factor`` (``formats.mrc.binned_image``), or None: no file at
    ``missing`` (the path looked for), or a file that could not be read (``unreadable``).
    ``frame``: where the image lies among the picks (x, y of its corner, width, height, Å) when
    not from 0 at the rows' pixel size (a tomogram's slabs: its voxels, RELION 5's centre).
    ``slabs``: a tomogram's image on the page of every micrograph, one per slab of its picks
    along z (its slices there averaged, binned by ``factor``; None: the slab lies outside the
    volume), ``pixels`` None.
    """

    pixels: np.ndarray | None = None
    factor: int = 1
    missing: str = ""
    unreadable: bool = False
    frame: tuple[float, float, float, float] | None = None
    slabs: tuple[np.ndarray | None, ...] = ()


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


def grey(image: DisplayImage) -> Image.Image:
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
    masked: np.ndarray  # --mask, --edge: outside the mask or near the edge, before the dedup


def rejected_picks(details: ParticleDetails, rows: np.ndarray) -> RejectedPicks:
    """The rejected picks of ``rows`` (one micrograph's, ascending) by why they were rejected."""
    rejected = rows[~details.keep[rows]]
    assert details.suppressed_by is not None, "the job keeps the pairs for the pictures (in one pass too)"
    partners = details.suppressed_by[rejected]
    displacers = np.full(len(rejected), -1) if details.displaced_by is None else details.displaced_by[rejected]
    masked = np.zeros(len(rejected), bool) if details.dropped is None else details.dropped[rejected] > 0
    paired, displaced = partners >= 0, displacers >= 0
    lone = ~paired & ~displaced & ~masked  # rejected for lack of consensus: no partner
    return RejectedPicks(
        rejected[paired], partners[paired], rejected[displaced], displacers[displaced], rejected[lone], rejected[masked]
    )


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
    idx = details.rows_of(mic)
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
            canvas.paste(grey(image), panel.box)
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
    ax_rejected.marks["masked"] = c[why.masked]
    _draw_marks(details, ax_rejected, "triangle", why.masked, MASKED_COLOUR)
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
    n = len(why.duplicates) + len(why.displaced) + len(why.unconfirmed) + len(why.masked)
    if not (len(why.displaced) or len(why.unconfirmed) or len(why.masked)):
        return f"rejected: {n}"
    parts = [f"duplicates: {len(why.duplicates)}"]
    if len(why.displaced):
        parts.append(f"overlapping another species: {len(why.displaced)}")
    if len(why.unconfirmed):
        parts.append(f"unconfirmed: {len(why.unconfirmed)}")
    if len(why.masked):
        parts.append(f"masked or at the edge: {len(why.masked)}")
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
    if len(why.masked):
        legend.add("triangle", ink or MASKED_COLOUR, "rejected: outside the mask or at the edge (--mask, --edge)")
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
    """The micrographs whose images the particle job's pictures draw: the examples, then the worst outlier.

    None for tomograms, drawn as volumes seen along z without an image.
    """
    if details.unit == "tomogram":
        return []
    examples = micrographs_to_show(details, n_mics)
    worst = worst_outlier(details)
    return examples + ([worst[0]] if worst and worst[0] not in examples else [])


def missing_examples(details: ParticleDetails, examples: list[int], images: Mapping[int, MicrographImage]) -> list[str]:
    """The image files of ``examples`` (:func:`micrographs_to_show`) not found (none for a tomogram)."""
    if details.unit == "tomogram":
        return []
    return [images[mic].missing for mic in examples if images[mic].missing]


def picks_picture(details: ParticleDetails, mic: int, images: Mapping[int, MicrographImage]) -> Picture:
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
        f"({duplicates[mic] / picks[mic]:.0%}: {duplicates[mic]:,} of {counted(int(picks[mic]), 'pick')})"
    )
