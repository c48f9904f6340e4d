"""What the particle job's pictures share: the job's details for them, and a labelled plot.

(the particle job's ``pictures.py`` draws the pictures; :mod:`cryodedup.report.density_figures`
the duplicate fraction per micrograph.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from ..algo.dedup import stretched
from ..algo.density import input_cohorts, outliers, rejected_as_duplicates
from ..algo.histogram import counts_per_group
from ..algo.registration import Displacements
from ..particle_set import ParticleSet
from .canvas import TICK_TEXT, Canvas, Panel, Picture, nice_ticks, text_width, tick_labels
from .scan_plans import nn_histogram_top

if TYPE_CHECKING:
    import cryodedup._core as _core

__all__ = [
    "DISPLACED_COLOUR",
    "MASKED_COLOUR",
    "OTHER_SPECIES_COLOUR",
    "PLOT_SIZE",
    "SPECIES_COLOURS",
    "UNCONFIRMED_COLOUR",
    "ParticleDetails",
    "ScoreCounts",
    "headroom",
    "labelled_plot",
    "nn_measured",
]

PLOT_SIZE = (770, 440)  # PNG pixels of a one-plot picture (7 x 4 inches at 110 dpi, as before)

#: The species drawn apart in the pictures, at most: those with the most picks (the rest grey).
#: No green or red: those say kept and rejected.
SPECIES_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#17becf", "#8c564b", "#e377c2")
OTHER_SPECIES_COLOUR = "#999999"
#: Two fates of a pick, drawn alike in the consensus bars and on a micrograph's picks.
UNCONFIRMED_COLOUR = "#7b3294"  # kept as no duplicate, then rejected for lack of support
DISPLACED_COLOUR = "#e66101"  # kept within its species, then displaced by a pick of another species
MASKED_COLOUR = "#8c6d1f"  # outside --mask or within --edge of the edge: rejected before the dedup
#: The species whose distances a title names, at most (then how many more).
SPECIES_NAMED = 4


@dataclass
class ScoreCounts:
    """The score histogram's axis and its counts: kept, rejected (``particle_charts.score_counts``)."""

    lo: float
    hi: float
    kept: np.ndarray
    rejected: np.ndarray
    edges: np.ndarray
    beyond: int


@dataclass
class ParticleDetails:
    """What the particle job decided, per particle, for the pictures.

    The particles as read and the decision. The particles' fields are reachable under the
    names the figures use.
    """

    particles: ParticleSet
    keep: np.ndarray
    #: The row each rejected row was rejected for (-1: none); the job keeps it for the
    #: pictures, deciding in one pass too (the scan keeps it when asked).
    suppressed_by: np.ndarray | None
    min_dist: float
    confirmed_by: np.ndarray | None = None  # bitmask of the inputs confirming each row, several inputs only
    #: The scores as the decision compared them, when not as read (``--score-normalize rank``).
    compared_scores: np.ndarray | None = None
    #: Whether input k ran on micrograph g (n_micrographs, n_inputs); None: every input ran on every micrograph.
    covered: np.ndarray | None = None
    #: The consensus decision (``ParticleDecision.unconfirmed``, ``.not_confirmable``, --min-support).
    unconfirmed: np.ndarray | None = None
    not_confirmable: np.ndarray | None = None
    #: Per row, why ``--mask`` or ``--edge`` rejected it before the dedup (0: not), None without them.
    dropped: np.ndarray | None = None
    min_support: int = 1
    #: --min-dist-z (tomography): duplicates within the ellipsoid of half-axes min_dist in x
    #: and y and min_dist_z in z; None: a sphere of min_dist.
    min_dist_z: float | None = None
    #: The scores' histogram (:func:`cryodedup.report.particle_charts.score_counts`), when
    #: the job counts it on a thread: called when the histogram is drawn.
    score_counts: Callable[[], ScoreCounts] | None = None
    #: The decision's --seed and --remove-entirely, for a micrograph decided again.
    seed: int = 0
    remove_entirely: bool = False
    #: Each measured pair of inputs' displacements (:func:`cryodedup.jobs.registration.displacements`),
    #: when several inputs were registered: called when the picture is drawn.
    registration: Callable[[], list[Displacements]] | None = None
    #: Several species: each species' minimum distance (Å), by species index, as the decision
    #: used it (``--min-dist NAME=Å``, a copick object's radius); None: ``min_dist`` for all.
    species_min_dist: list[float] | None = None
    #: Several species whose distances along z differ (``--min-dist-z NAME=Å``): each one's (None:
    #: a sphere); None: ``min_dist_z`` for all.
    species_min_dist_z: list[float | None] | None = None
    #: --cross-species: the kept pick of another species that displaced each row, else -1.
    displaced_by: np.ndarray | None = None

    @property
    def duplicate(self) -> np.ndarray:
        """The rows rejected as duplicates by the distance rule (not those a consensus, a mask or an edge rejected)."""
        duplicate = rejected_as_duplicates(self.keep, self.unconfirmed, self.not_confirmable)
        return duplicate if self.dropped is None else duplicate & (self.dropped == 0)

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
        """The duplicate distance in words, as the decision used it: each species' when they differ."""
        distances = self.species_min_dist or [self.min_dist]
        if len(set(distances)) == 1:
            if self.min_dist_z is None:
                return f"minimum distance {distances[0]:g} Å" + (" in 3D" if self.unit == "tomogram" else "")
            return f"minimum distance {distances[0]:g} Å in x and y, {self.min_dist_z:g} Å in z"
        names = self.particles.species_names
        named = ", ".join(f"{d:g} Å for {name}" for name, d in zip(names[:SPECIES_NAMED], distances))
        if len(names) > SPECIES_NAMED:
            named += f", {len(names) - SPECIES_NAMED:,} more species"
        if self.species_min_dist_z is not None:  # (each species' own ellipsoid)
            z_named = ", ".join(
                f"{'as in x and y' if z is None else f'{z:g} Å'} for {name}"
                for name, z in zip(names[:SPECIES_NAMED], self.species_min_dist_z)
            )
            return f"minimum distance in x and y: {named}; in z: {z_named}"
        if self.min_dist_z is None:
            return "minimum distance" + (" in 3D" if self.unit == "tomogram" else "") + f": {named}"
        return f"minimum distance in x and y: {named}; {self.min_dist_z:g} Å in z"

    @property
    def several_species(self) -> bool:
        """Whether the pictures draw species apart: the decision had several."""
        return self.species_min_dist is not None and len(self.species_min_dist) > 1

    @cached_property
    def species_drawn(self) -> list[int]:
        """The species drawn apart (by index, in order), at most one per colour: those with the most picks."""
        assert self.particles.species is not None
        picks = np.bincount(self.particles.species, minlength=len(self.particles.species_names))
        most = np.lexsort((np.arange(len(picks)), -picks))[: len(SPECIES_COLOURS)]
        return sorted(int(s) for s in most)

    def species_colour(self, species: int) -> str:
        """The colour of a species in every picture (grey for those not drawn apart)."""
        drawn = self.species_drawn
        return SPECIES_COLOURS[drawn.index(species)] if species in drawn else OTHER_SPECIES_COLOUR

    @property
    def mic_shapes(self) -> dict[int, tuple[int, int]]:
        """Image shape (ny, nx) by micrograph id, where known."""
        return self.particles.mic_shapes

    @cached_property
    def _picks_and_kept(self) -> tuple[np.ndarray, np.ndarray]:
        """The picks and the kept picks of each micrograph (by id), counted in one pass in the core.

        Counted already where a one-pass scan counted them as it decided (``--plot`` asked it).
        """
        scanned = self._scanned
        if scanned is not None:
            return scanned.picks, scanned.kept
        return counts_per_group(self.groups, self.keep, len(self.mic_names))

    @property
    def _scanned(self) -> _core.ScanPictures | None:
        """What the one-pass scan counted of these rows as it decided them (``--plot`` asked it), None otherwise."""
        scanned = self.particles.decided_counts
        if scanned is not None and self.keep is self.particles.decided and len(scanned.picks) == len(self.mic_names):
            return scanned
        return None

    def rows_of(self, mic: int) -> np.ndarray:
        """The rows of micrograph ``mic`` (by id), ascending.

        Where a one-pass scan decided the rows they come micrograph by micrograph (it gives up
        at a micrograph that comes back), each micrograph numbered as it first comes: a run,
        found from the counts, not by comparing every row (10 ms at 10M, for each example).
        """
        if self._scanned is None:
            return np.flatnonzero(self.groups == mic)
        start = int(self.picks_per_micrograph[:mic].sum())
        return np.arange(start, start + int(self.picks_per_micrograph[mic]), dtype=np.intp)

    @cached_property
    def picks_per_micrograph(self) -> np.ndarray:
        """The number of picks on each micrograph (by id), counted once for every picture (read-only)."""
        return _read_only(self._picks_and_kept[0])

    @cached_property
    def rejected_per_micrograph(self) -> np.ndarray:
        """The number of rejected picks on each micrograph (by id), counted once (read-only)."""
        picks, kept = self._picks_and_kept
        return _read_only(picks - kept)

    @cached_property
    def duplicates_per_micrograph(self) -> np.ndarray:
        """The number of picks rejected as duplicates on each micrograph (by id), counted once (read-only).

        Without a consensus, a mask or an edge every rejected pick is a duplicate: the rejected
        counts, not counted again.
        """
        if self.unconfirmed is None and self.not_confirmable is None and self.dropped is None:
            return self.rejected_per_micrograph
        return _read_only(np.bincount(self.groups[self.duplicate], minlength=len(self.mic_names)))

    @cached_property
    def density_outliers(self) -> tuple[np.ndarray, dict[str, Any]]:
        """The micrographs whose duplicate fraction stands out among those of the same inputs; the rule's numbers."""
        cohorts = input_cohorts(self.groups, self.input_of, len(self.inputs), len(self.mic_names))
        picks, duplicates = self.picks_per_micrograph, self.duplicates_per_micrograph
        return outliers(picks, duplicates, None if cohorts is None else cohorts[0])

    @cached_property
    def pick_extent(self) -> tuple[np.ndarray, np.ndarray]:
        """(lowest x, y or 0, highest x, y) of every particle's centre, in Å.

        Found already where a one-pass scan found it as it decided (``--plot`` asked it): a
        pass over ten million centres after the scan took 80 ms, before the first example was drawn.
        """
        scanned = self._scanned
        extent = None if scanned is None else scanned.extent
        if extent is not None:
            low, high = np.asarray(extent[0], dtype=np.float64), np.asarray(extent[1], dtype=np.float64)
        else:
            low, high = column_extent(self.centres)
        return np.minimum(low[:2], 0.0), high[:2]


#: Rows of a narrow array reduced as one wide row by :func:`column_extent`.
EXTENT_BLOCK = 2048


def column_extent(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and the highest value of each column of ``values`` (rows, columns; rows > 0); NaN if any is.

    numpy reduces a tall, narrow array along its rows one row at a time (20 ms for a million
    centres), and one of its columns without vector instructions (12 instructions a value);
    here blocks of rows are reduced as wide rows, a vector at a time, then the blocks' columns.
    """
    rows, columns = values.shape
    whole = rows - rows % EXTENT_BLOCK
    blocks = values[:whole].reshape(-1, EXTENT_BLOCK * columns)  # (a copy only if not contiguous)
    tail = values[whole:]
    low = [blocks.min(axis=0).reshape(-1, columns)] if whole else []
    high = [blocks.max(axis=0).reshape(-1, columns)] if whole else []
    return np.vstack([*low, tail]).min(axis=0), np.vstack([*high, tail]).max(axis=0)


def _read_only(counts: np.ndarray) -> np.ndarray:
    """``counts``, which every picture shares, made read-only: a picture that changed them in place would fail."""
    counts.flags.writeable = False
    return counts


def nn_measured(details: ParticleDetails) -> tuple[np.ndarray, np.ndarray, float]:
    """What the nearest-neighbour histogram measures: (groups, centres, reach) for ``nearest_neighbour_distances``.

    The centres in the decision's metric (z scaled by min_dist / min_dist_z). With several
    species, each particle's nearest of its own species (that is what the rule decides), in
    its species' metric: one group per micrograph and species.
    """
    distances = details.species_min_dist
    if not details.several_species or distances is None or details.particles.species is None:
        return (
            details.groups,
            stretched(details.centres, details.min_dist, details.min_dist_z),
            nn_histogram_top(details.min_dist),
        )
    species = details.particles.species
    centres = details.centres
    along_z = details.species_min_dist_z or [details.min_dist_z] * len(distances)
    if any(z is not None for z in along_z):  # (each species' ellipsoid: z scaled by its own distances)
        ratios = np.array([1.0 if z is None else d / z for d, z in zip(distances, along_z)])
        centres = centres.copy()
        centres[:, 2] *= ratios[species]
    groups = details.groups.astype(np.int64) * len(distances) + species
    return groups, centres, nn_histogram_top(max(distances))


def labelled_plot(
    title: str,
    xlabel: str,
    ylabel: str,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    size: tuple[int, int] = PLOT_SIZE,
    below: int = 0,
    right: int = 22,
    yticks: tuple[np.ndarray, list[str] | None] | None = None,
) -> tuple[Picture, Panel]:
    """A picture of one plot with its title, labels and ticks (whole numbers up the y axis: counts).

    ``below``: pixels kept free under the x label (a legend); ``right``: right of the box;
    ``yticks``: the y ticks and their labels (None: their numbers), not whole numbers.
    """
    width, height = size
    title_lines = title.count("\n") + 1
    ticks, labels = yticks if yticks is not None else (nice_ticks(*ylim, integer=True), None)
    probe = tick_labels(ticks) if labels is None else labels
    left = 40 + max(text_width(t, TICK_TEXT) for t in probe) + 12
    top = 14 + 22 * title_lines
    canvas = Canvas(width, height + below)
    pad = 0.025 * (xlim[1] - xlim[0])  # the bins at both ends apart from the sides
    panel = Panel(canvas, (left, top, width - right, height - 62), (xlim[0] - pad, xlim[1] + pad), ylim)
    panel.ticks_x()
    gap = panel.ticks_y(integer=True) if yticks is None else panel.ticks_y(ticks, labels)
    panel.labels(title, xlabel, ylabel, ylabel_gap=gap)
    return Picture(canvas, [panel]), panel


def headroom(counts: np.ndarray) -> tuple[float, float]:
    """The y range of a histogram: from 0 to a little over its tallest bin (0 to 1 when empty)."""
    top = float(np.max(counts)) if len(counts) else 0.0
    return (0.0, top * 1.05) if top > 0 else (0.0, 1.0)
