"""The micrograph job's pictures and report (``--plot``): what was decided, and what to look at.

The scores of every pair, the table and pictures of the flagged pairs, and those of the
uncertain pairs (joint score within :data:`~.decide.UNCERTAIN` of the boundary), which the
job's warning asks the user to look at before trusting the decision.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import cryodedup._core as _core

from ...formats.micrograph_lists import Micrographs
from ...formats.mrc import open_mrc
from ...labels import distinct_labels
from ...report.html_report import Page, ReportTable
from ...report.summary import short_name
from .decide import UNCERTAIN, MicrographDecision
from .placement import Placement
from .plan import MicrographOutputPlan, PatternToRemove
from .score import ScoredPairs
from .summary import MicrographSummary, micrograph_rows

__all__ = ["plot"]

#: The report's columns of a table of pairs (the uncertain ones add the joint score and the decision).
#: Each names its unit: the shift in Å and in pixels of the micrograph (pairs.csv's shift_x_px), the
#: pictures' in binned pixels (their titles).
PAIR_COLUMNS = (
    "first acquisition",
    "later acquisition",
    "z (SDs of the map)",
    "Pearson",
    "overlap (of the area)",
    "shift x, y (Å)",
    "shift x, y (micrograph px)",
)


@dataclass
class PairImages:
    """Reads each micrograph once, binned as it was scored, for the pictures of the pairs.

    With ``pattern`` (a pattern common to the images, removed before the pairs were scored
    again: pattern.py), each image is drawn as it was compared, its share of the pattern removed.
    """

    mics: Micrographs
    binning: int
    binned_psize: float  # Å per binned pixel: the pictures give their shift in both
    pattern: PatternToRemove | None = None
    binned: dict[int, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, i: int) -> np.ndarray:
        if i not in self.binned:
            mrc, data = open_mrc(self.mics.paths[i])
            with mrc:
                binned = _core.bin_image(np.ascontiguousarray(data), self.binning)
            self.binned[i] = binned if self.pattern is None else self.pattern.remove(binned)
        return self.binned[i]


def plot(
    mics: Micrographs,
    output: MicrographOutputPlan,
    scores: ScoredPairs,
    decision: MicrographDecision,
    rank: np.ndarray,
    outdir: Path,
    force: bool,
    summary: MicrographSummary,
    placement: Placement | None = None,
    pattern: PatternToRemove | None = None,
) -> list[str]:
    """The figures and report of the job; returns the paths written.

    The z distribution, z against Pearson with both thresholds, the tables of the flagged and
    the uncertain pairs and, for the first ``--plot-pairs`` of each, the two images and their
    overlay; with --metadata, the map of the specimen positions.
    """
    from ...report import html_report

    pairs = scores.pairs
    drawn_from = MicrographFigures(output.by_position, scores, decision, rank, placement)
    figures = [(p.name, p.caption, p.draw(drawn_from)) for p in MICROGRAPH_PICTURES if p.drawn(drawn_from)]
    names = _shown_names(mics, pairs[decision.duplicate | decision.uncertain])
    images = PairImages(mics, summary.bin, summary.binned_pixel_size_A, pattern)  # each read when first drawn
    uncertain = uncertain_order(decision)
    tables = [uncertain_table(scores, decision, uncertain, rank, names, summary, placement)]
    if not output.by_position:
        flagged = np.flatnonzero(decision.duplicate)
        flagged = flagged[np.argsort(-scores.z[flagged], kind="stable")]
        tables.insert(0, _flagged_table(scores, flagged, rank, names, summary))
        figures += _pair_figures(mics, scores, flagged[: output.plot_pairs], rank, images, "pair", "Flagged pair")
        drawn = uncertain[: output.plot_pairs]
        figures += _pair_figures(mics, scores, drawn, rank, images, "uncertain", "Uncertain pair", decision, names)
    verdict = summary.judged  # (its kind: bad not trusted, warn with pairs or warnings to check, else good)
    opening = html_report.Opening(verdict.line, verdict.kind, summary.warnings)
    title = "cryodedup micrographs"
    page = _pair_page(mics, scores, decision, rank, images, output.by_position, title)
    assert output.parameters is not None, "the plan keeps report.html's Parameters with --plot"
    parameters = output.parameters.as_run(_as_run(summary))
    return html_report.write_all(
        outdir,
        rendered(figures),
        title,
        parameters,
        micrograph_rows(summary),
        force,
        tables=tables,
        opening=opening,
        page=page,
    )


def rendered(figures: list[tuple[str, str, Any]]) -> list[tuple[str, str, bytes]]:
    """Each picture's file name, caption and PNG bytes (``figures``: name, caption, a canvas ``Picture``)."""
    return [(name, caption, picture.png()) for name, caption, picture in figures]


def _as_run(summary: MicrographSummary) -> dict[str, str]:
    """What the run made of the options it resolves, by option name, in the summary's words.

    For report.html's Parameters (:meth:`~cryodedup.report.html_report.Parameters.as_run`): the
    acquisition order, the pairs chosen and, where images were read, the pixel size, binning and band.
    """
    made = {"order": summary.order, "candidates": summary.candidates}
    if summary.confirmed_by_images:  # (--no-images: no image binned, no band)
        made["psize"] = f"{summary.pixel_size_A:g}"
        made["bin"] = f"{summary.bin} ({summary.binned_pixel_size_A:g} Å per pixel)"
        made["lowpass"] = f"{summary.band_A.lowpass:g}"
        made["highpass"] = f"{summary.band_A.highpass:g}"
    return made


def _pair_page(
    mics: Micrographs,
    scores: ScoredPairs,
    decision: MicrographDecision,
    rank: np.ndarray,
    images: PairImages,
    no_images: bool,
    title: str,
) -> Page:
    """pairs.html: every scored pair, and each flagged and uncertain pair's overlay (none with --no-images)."""
    from ...report.pair_page import PAIR_FOLDER, PairRows, pair_page_files

    pairs = np.asarray(scores.pairs, dtype=np.int64).reshape(-1, 2)
    # Each pair in acquisition order, as seen_from_first (the shift flips with the pair).
    swap = rank[pairs[:, 0]] > rank[pairs[:, 1]]
    first, later = np.where(swap, pairs[:, 1], pairs[:, 0]), np.where(swap, pairs[:, 0], pairs[:, 1])
    sign = np.where(swap, -1, 1)
    # (NaN where no image scored the pair, --no-images: no shift measured, never cast to an integer)
    dy, dx = sign * np.asarray(scores.dy, dtype=np.float64), sign * np.asarray(scores.dx, dtype=np.float64)
    rows = PairRows(
        list(mics.names),
        [short_name(label) for label in distinct_labels(list(mics.names))],
        first,
        later,
        scores.z,
        scores.pearson,
        scores.overlap,
        decision.joint,
        decision.duplicate,
        decision.uncertain,
        np.stack([dy, dx], axis=1).reshape(-1, 2),
        images.binned_psize,
    )
    drawn = [] if no_images else np.flatnonzero(decision.duplicate | decision.uncertain).tolist()
    pair_images = {p: (images[int(first[p])], images[int(later[p])]) for p in drawn}
    files = list(pair_page_files(rows, pair_images, title))
    return Page(files, PAIR_FOLDER, "every pair's scores, each flagged and uncertain pair overlaid")


@dataclass(frozen=True)
class MicrographFigures:
    """What the micrograph job's pictures of :data:`MICROGRAPH_PICTURES` are drawn from."""

    by_position: bool  # --no-images: decided by the metadata's positions, no image read
    scores: ScoredPairs  # the scored pairs' columns (pairs, z, pearson, ...)
    decision: MicrographDecision
    rank: np.ndarray  # each micrograph's place in acquisition order
    placement: Placement | None  # with --metadata, where each image was taken


@dataclass(frozen=True)
class MicrographPicture:
    """One picture of the micrograph job's report, before the pictures of the pairs.

    ``draw`` returns a :class:`~cryodedup.report.canvas.Picture`; ``drawn``: whether this run has the picture.
    """

    name: str
    caption: str
    draw: Callable[[MicrographFigures], Any]
    drawn: Callable[[MicrographFigures], bool]


def _z_distribution(figures: MicrographFigures) -> Any:
    from ...report import micrograph_figures as plots

    return plots.z_distribution(figures.scores.z, figures.decision.min_z)


def _z_against_pearson(figures: MicrographFigures) -> Any:
    from ...report import micrograph_figures as plots

    z, pearson, decision = figures.scores.z, figures.scores.pearson, figures.decision
    return plots.z_against_pearson(z, pearson, decision.duplicate, decision.min_z, decision.min_pearson)


def _with_images(figures: MicrographFigures) -> bool:
    return not figures.by_position


def _position_map(figures: MicrographFigures) -> Any:
    """With --metadata, the map of the specimen positions (the later image of each duplicate pair rejected)."""
    from ...report import micrograph_figures as plots

    pairs, decision, rank, placement = figures.scores.pairs, figures.decision, figures.rank, figures.placement
    assert placement is not None
    duplicates = pairs[decision.duplicate]
    rejected = np.zeros(len(placement.xy), dtype=bool)
    rejected[[max(pair, key=lambda i: rank[i]) for pair in duplicates.tolist()]] = True
    return plots.position_map(
        placement.xy,
        placement.squares,
        placement.square_names,
        duplicates,
        rejected,
        placement.beam_diameter,
        revisits=placement.revisit_pairs,
    )


#: The micrograph job's pictures before those of the flagged and uncertain pairs, in the
#: report's order. A new picture: a function of :class:`MicrographFigures` that returns a
#: :class:`~cryodedup.report.canvas.Picture`, and its entry here (docs/developers/index.md, "Extension points").
MICROGRAPH_PICTURES: list[MicrographPicture] = [
    MicrographPicture(
        "position_map.png", "Specimen positions per grid square", _position_map, lambda f: f.placement is not None
    ),
    MicrographPicture("z_distribution.png", "Phase-correlation z of all scored pairs", _z_distribution, _with_images),
    MicrographPicture(
        "z_pearson.png", "z against Pearson: duplicates pass both thresholds", _z_against_pearson, _with_images
    ),
]


def _shown_names(mics: Micrographs, pairs: np.ndarray) -> dict[int, str]:
    """The listed micrographs, each named by the end of its path that tells it apart from the others listed."""
    listed = sorted({int(i) for i in pairs.ravel()})
    return dict(zip(listed, (short_name(n) for n in distinct_labels([mics.names[i] for i in listed]))))


def uncertain_order(decision: MicrographDecision) -> np.ndarray:
    """The uncertain pairs, nearest the boundary first (by how far their joint score lies from 1, as a factor)."""
    uncertain = np.flatnonzero(decision.uncertain)
    # (An undecided pair's joint score can be negative: last.)
    factor = np.abs(np.log(np.clip(decision.joint[uncertain], 1e-12, None)))
    return uncertain[np.argsort(factor, kind="stable")]


def _pair_cells(
    scores: ScoredPairs,
    p: int,
    rank: np.ndarray,
    names: dict[int, str],
    summary: MicrographSummary,
    digits: int = 2,
) -> list[str]:
    """A pair's cells: the two micrographs in acquisition order, z, Pearson (``digits``), overlap and shift.

    The shift in Å, and in pixels of the micrograph as pairs.csv gives it (the binned shift
    times the binning of the ``summary``'s run).
    """
    first, later, dy, dx = seen_from_first(scores.pairs[p], scores.dy[p], scores.dx[p], rank)
    binned_psize, binning = summary.binned_pixel_size_A, summary.bin
    pearson = scores.pearson[p]
    return [
        names[first],
        names[later],
        f"{scores.z[p]:.1f}",
        f"{pearson:.{digits}f}" if np.isfinite(pearson) else "-",
        f"{scores.overlap[p]:.0%}" if np.isfinite(scores.overlap[p]) else "-",
        *_shift_cells(dy, dx, binned_psize, binning),
    ]


def _shift_cells(dy: float, dx: float, binned_psize: float, binning: int) -> list[str]:
    """A pair's shift in Å and in micrograph pixels; "no shift measured" where no image scored it."""
    if not (np.isfinite(dy) and np.isfinite(dx)):
        return ["no shift measured"] * 2
    return [f"{dx * binned_psize:.0f}, {dy * binned_psize:.0f}", f"{int(dx) * binning}, {int(dy) * binning}"]


def _flagged_table(
    scores: ScoredPairs,
    flagged: np.ndarray,
    rank: np.ndarray,
    names: dict[int, str],
    summary: MicrographSummary,
) -> ReportTable:
    rows = [_pair_cells(scores, p, rank, names, summary) for p in flagged]
    return (f"Flagged pairs ({len(rows)}, highest z first)", PAIR_COLUMNS, rows)


#: Why a pair was left to check, by the decision's marks (``decide``, ``turned``), in the order they are said.
_REASONS = (
    ("at_shift", "at the shift of confirmed re-exposures"),
    ("one_shift", "agreeing on one shift with others under the thresholds"),
    ("undecided", "far above the null, its images disagreeing at its shift"),
    ("turned", "its peak rises with the later image turned"),
    ("shared", "far above the null at a shift its hole neighbours share"),
)


def _why_uncertain(decision: MicrographDecision, p: int) -> str:
    """Why pair ``p`` was left to check: its joint score near 1, or each mark the decision gave it."""
    reasons = [f"joint score within {UNCERTAIN:g}x of 1"] if 1 / UNCERTAIN <= decision.joint[p] < UNCERTAIN else []
    for mark, said in _REASONS:
        marked = getattr(decision, mark)
        if marked is not None and marked[p]:
            reasons.append(said)
    return "; ".join(reasons) or "a pattern's residue: its two images share a pattern removed"


def uncertain_table(
    scores: ScoredPairs,
    decision: MicrographDecision,
    order: np.ndarray,
    rank: np.ndarray,
    names: dict[int, str],
    summary: MicrographSummary,
    placement: Placement | None,
) -> ReportTable:
    """The uncertain pairs: their scores, joint score and what was decided, nearest the boundary first.

    Without images (``--no-images``) a pair has no image score: its positions' distance instead.
    """
    heading = (
        f"Uncertain pairs ({len(order)}, nearest the boundary first): each left to check for the reason its row "
        "gives; look at them before trusting the decision"
    )
    verdict = {True: "duplicate", False: "not a duplicate"}
    joint, duplicate = decision.joint, decision.duplicate
    if summary.confirmed_by_images:
        rows = [
            # Pearson to 3 digits: near the threshold 0.147 shown as 0.15 read as passing 0.15.
            [
                *_pair_cells(scores, p, rank, names, summary, 3),
                _why_uncertain(decision, int(p)),
                f"{joint[p]:.3f}",
                verdict[bool(duplicate[p])],
            ]
            for p in order
        ]
        return (heading, (*PAIR_COLUMNS, "left to check", "joint score (1: boundary)", "decision"), rows)
    assert placement is not None, "--no-images decides from the metadata's positions"
    distance = placement.distance(scores.pairs[order]) if len(order) else np.zeros(0)
    rows = []
    for p, d in zip(order, distance):
        first, later, _, _ = seen_from_first(scores.pairs[p], 0, 0, rank)
        rows.append([names[first], names[later], f"{d:.3f}", f"{decision.joint[p]:.3f}"])
        rows[-1].append(verdict[bool(decision.duplicate[p])])
    header = ("first acquisition", "later acquisition", "distance (µm)", "joint score (1: boundary)", "decision")
    return (heading, header, rows)


def _pair_figures(
    mics: Micrographs,
    scores: ScoredPairs,
    chosen: np.ndarray,
    rank: np.ndarray,
    images: PairImages,
    stem: str,
    caption: str,
    decision: MicrographDecision | None = None,
    names: dict[int, str] | None = None,
) -> list[tuple[str, str, Any]]:
    """The two images of each chosen pair and their overlay (``stem_K.png``).

    With ``decision`` (and the report's ``names`` of the micrographs), each says what was decided.
    """
    from ...report import micrograph_figures as plots

    out = []
    for k, p in enumerate(chosen):
        first, later, dy, dx = seen_from_first(scores.pairs[p], scores.dy[p], scores.dx[p], rank)
        digits = 2 if decision is None else 3  # an uncertain pair's Pearson may lie 0.003 from the threshold
        title = (
            f"{Path(mics.names[first]).name} and {Path(mics.names[later]).name}: z {scores.z[p]:.1f}, "
            f"Pearson {scores.pearson[p]:.{digits}f}, overlap {scores.overlap[p]:.0%}"
        )
        if images.pattern is not None:  # (drawn as compared: without the pattern every image holds)
            title += "\nthe pattern common to the images removed, as the pair was compared"
        heading = f"{caption} {k + 1}"
        if decision is not None and names is not None:  # the caption names the pair of the table the picture shows
            what = "a duplicate" if decision.duplicate[p] else "not a duplicate"
            title += f"\njoint score {decision.joint[p]:.3f} (1: the boundary): decided {what}"
            heading += f": {names[first]} and {names[later]}, {what}"
        figure = plots.pair_figure(images[first], images[later], int(dy), int(dx), title, images.binned_psize)
        out.append((f"{stem}_{k + 1}.png", heading, figure))
    return out


def seen_from_first(pair: np.ndarray, dy: float, dx: float, rank: np.ndarray) -> tuple[int, int, float, float]:
    """The pair in acquisition order, and the shift of the later image against the first.

    The shift was scored as b against a: seen from the other side it flips. Whole pixels where
    measured; NaN stays NaN (no image scored the pair: ``--no-images``).
    """
    a, b = (int(i) for i in pair)
    dy, dx = (int(v) if np.isfinite(v) else math.nan for v in (dy, dx))
    if rank[a] <= rank[b]:
        return a, b, dy, dx
    return b, a, -dy, -dx
