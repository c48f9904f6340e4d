"""``compare --metric czii``'s score, typed (:class:`CziiScore`), and its rows: per species, its sweep and error.

The job (:func:`cryodedup.jobs.compare.czii_metric`) builds the records; the table, the picture
and report.html read them by name; ``to_json()`` gives the summary's ``czii`` document.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import printable

if TYPE_CHECKING:
    from .canvas import Canvas, Panel, Picture
    from .html_report import Parameters

__all__ = ["Curve", "CziiScore", "SpeciesScore", "Sweep", "czii_rows", "write_czii_report"]


@dataclass(frozen=True)
class Curve:
    """A species' precision-recall curve, thinned: the score threshold, precision and recall at each point."""

    threshold: tuple[float, ...]
    precision: tuple[float | None, ...]
    recall: tuple[float | None, ...]

    def to_json(self) -> dict[str, Any]:
        """The three lists, in this order."""
        return {"threshold": list(self.threshold), "precision": list(self.precision), "recall": list(self.recall)}


@dataclass(frozen=True)
class Sweep:
    """A species' sweep of the score threshold: its area, the best F-beta's threshold and scores, and its curve."""

    average_precision: float | None
    best_threshold: float
    best_f_beta: float | None
    best_precision: float | None
    best_recall: float | None
    thresholds: int
    curve: Curve

    def to_json(self) -> dict[str, Any]:
        """Its fields in order."""
        return {
            "average_precision": self.average_precision,
            "best_threshold": self.best_threshold,
            "best_f_beta": self.best_f_beta,
            "best_precision": self.best_precision,
            "best_recall": self.best_recall,
            "thresholds": self.thresholds,
            "curve": self.curve.to_json(),
        }


@dataclass(frozen=True)
class SpeciesScore:
    """One species scored: radius, hit threshold, weight, counts, scores, error and sweep (None: not swept)."""

    species: str
    radius_A: float
    threshold_A: float
    weight: float
    references: int
    candidates: int
    tp: int
    fp: int
    fn: int
    precision: float | None
    recall: float | None
    f_beta: float | None
    localisation_error_A: float | None
    sweep: Sweep | None = None

    def to_json(self) -> dict[str, Any]:
        """Its fields in order, the sweep only where swept."""
        document = {
            "species": self.species,
            "radius_A": self.radius_A,
            "threshold_A": self.threshold_A,
            "weight": self.weight,
            "references": self.references,
            "candidates": self.candidates,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "f_beta": self.f_beta,
            "localisation_error_A": self.localisation_error_A,
        }
        return document if self.sweep is None else {**document, "sweep": self.sweep.to_json()}


@dataclass(frozen=True)
class CziiScore:
    """The CZII challenge's score of the candidate: F-beta per species weighted, over the tomograms scored.

    ``scored_over``: "reference" (the tomograms the reference has picks on) or "all";
    ``swept``: whether every candidate pick carried a score to sweep; ``weights_not_scored``:
    ``--weights``' species the reference has no picks of; ``divided_by``: the sum of weights the
    weighted score divides by, ``weights_over``: whose ("present": the species scored; "all":
    every challenge species', as the challenge's code, ``--czii-weights all``).
    """

    beta: float
    multiplier: float
    tomograms_scored: int
    scored_over: str
    score: float | None
    swept: bool
    higher_is_better: bool
    species: tuple[SpeciesScore, ...]
    weights_not_scored: tuple[str, ...]
    divided_by: float = 0.0
    weights_over: str = "present"

    def to_json(self) -> dict[str, Any]:
        """The summary's ``czii`` document."""
        return {
            "beta": self.beta,
            "multiplier": self.multiplier,
            "tomograms_scored": self.tomograms_scored,
            "scored_over": self.scored_over,
            "score": self.score,
            "swept": self.swept,
            "higher_is_better": self.higher_is_better,
            "species": [c.to_json() for c in self.species],
            "weights_not_scored": list(self.weights_not_scored),
            "weights_over": self.weights_over,
            "divided_by": self.divided_by,
        }


def czii_rows(czii: CziiScore | None, places: str = "Tomograms") -> list[tuple[str, str]]:
    """The rows of the CZII score (none without it); ``places``: what its tomograms are (copick's runs)."""
    if czii is None:
        return []
    n = czii.tomograms_scored
    unit = places.lower()[:-1] if n == 1 else places.lower()  # ("1 tomogram": the places are named plural)
    over = f"the {n:,} {unit} the reference has picks on"
    if czii.scored_over == "all":
        over = f"all {n:,} {unit} with picks (--over all)"
    score = "-" if czii.score is None else f"{czii.score:.4f}"
    rows = [
        (
            "CZII score",
            f"{score}: F{czii.beta:g} per species weighted, {_divided(czii)}, hits within {czii.multiplier:g} x "
            f"each species' radius, counted over {over}",
        )
    ]
    lines = [_species_line(c, czii.beta) for c in czii.species]
    rows.append(("Per species", "\n".join(lines) or "no reference picks"))
    if czii.weights_not_scored:
        names = ", ".join(czii.weights_not_scored)
        rows.append(
            ("Weights unused", f"--weights names {names}: the reference has no picks of it, so it is not scored")
        )
    at = ">=" if czii.higher_is_better else "<="
    swept = [_sweep_line(c, c.sweep, czii.beta, at) for c in czii.species if c.sweep is not None]
    if swept:
        rows.append(("Score threshold", "\n".join(swept)))
    elif czii.species:
        why = "the candidate has no picks to sweep" if czii.swept else "the candidate's picks do not all carry a score"
        rows.append(("Score threshold", f"not swept: {why}"))
    return rows


def _divided(czii: CziiScore) -> str:
    """Which weights the score divides by: the species scored, or every challenge species' (its code's)."""
    if czii.weights_over == "all":
        return f"divided by every challenge species' weights ({czii.divided_by:g}, as the challenge's code)"
    return (
        f"divided by the scored species' weights ({czii.divided_by:g}; "
        "--czii-weights all: by every challenge species', as the challenge's code)"
    )


def _species_line(c: SpeciesScore, beta: float) -> str:
    """One species: its counts, precision, recall, F-beta, weight and localisation error."""
    error = "" if c.localisation_error_A is None else f", localisation error {c.localisation_error_A:.1f} Å"
    quirk = f"; {_SEVERAL_HITS}" if c.fp < 0 else ""
    return (
        f"{c.species} (weight {c.weight:g}, hit within {c.threshold_A:g} Å): TP {c.tp:,}, "
        f"FP {c.fp:,}, FN {c.fn:,}; precision {c.precision:.3f}, recall {c.recall:.3f}, "
        f"F{beta:g} {c.f_beta:.3f}{error}{quirk}"
    )


#: Why the challenge's counts can say FP below 0 and a precision above 1 (tests/czii_oracle.py: its rule).
_SEVERAL_HITS = (
    "FP below 0 and precision above 1 are the challenge's own rule: TP counts the reference picks hit, and one "
    "candidate within the radius of several counts once for each, while FP is the candidates less TP"
)


def _sweep_line(c: SpeciesScore, s: Sweep, beta: float, at: str) -> str:
    """One species' sweep: average precision, and the threshold of the best F-beta."""
    above = any(v is not None and v > 1 for v in (s.average_precision, s.best_precision))
    return (
        f"{c.species}: average precision {s.average_precision:.3f}; best F{beta:g} {s.best_f_beta:.3f} "
        f"at score {at} {s.best_threshold:.4g} (precision {s.best_precision:.3f}, recall {s.best_recall:.3f})"
        + (" (above 1: a candidate hit several reference picks, as the challenge counts them)" if above else "")
    )


#: The file of ``compare --metric czii --plot-czii DIR``'s picture.
CZII_PICTURE = "czii_precision_recall.png"


#: Colours of the species' curves, in turn (matplotlib's tab10, as the picture had).
CURVE_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
CURVE_COLOURS += ["#bcbd22", "#17becf"]
BAR_COLOUR = "#4c72b0"


def czii_picture(czii: CziiScore) -> Picture:
    """``--plot-czii``'s picture: each species' precision-recall curve (its best F-beta marked), and F-beta.

    Drawn on :mod:`.canvas`; each panel's ``marks`` and ``texts`` keep what it shows, by species.
    """
    from .canvas import TICK_TEXT, Canvas, Picture, text_width

    names = [f"{printable(c.species)} (w {c.weight:g})" for c in czii.species]
    room = 400 / max(len(names), 1) - 8  # (the bars' panel is 400 pixels wide)
    turned = max((text_width(n, TICK_TEXT) for n in names), default=0.0) > room
    under = max((text_width(n, TICK_TEXT) for n in names), default=0.0) if turned else TICK_TEXT * 1.25 + 40
    canvas = Canvas(1240, round(450 + under))
    curves = _curves_panel(canvas, (90, 50, 660, 420), czii)
    bars = _bars_panel(canvas, (800, 50, 1200, 420), czii, names, turned)
    return Picture(canvas, [curves, bars])


def _curves_panel(canvas: Canvas, box: tuple[float, float, float, float], czii: CziiScore) -> Panel:
    """Each swept species' precision-recall curve in steps, its best F-beta marked and its threshold said."""
    from .canvas import SMALL_TEXT, TEXT, Panel, rgb, text_width

    precisions = [v for c in czii.species if c.sweep for v in c.sweep.curve.precision if v is not None]
    panel = Panel(canvas, box, (0, 1.02), (0, 1.02 * max([1.0, *precisions])))  # (above 1: the challenge's rule)
    swept = [c for c in czii.species if c.sweep is not None]
    for k, c in enumerate(swept):
        s, colour = c.sweep, CURVE_COLOURS[k % len(CURVE_COLOURS)]
        assert s is not None, "only the swept species"
        points = [(r, p) for r, p in zip(s.curve.recall, s.curve.precision) if r is not None and p is not None]
        panel.marks[f"curve {c.species}"] = ([r for r, _ in points], [p for _, p in points])
        steps = [(x, p) for (r, p), (after, _) in zip(points, points[1:] + points[-1:]) for x in (r, after)]
        if steps:  # (steps-post: each precision held until the next recall)
            canvas.line([(float(panel.x(x)), float(panel.y(p))) for x, p in steps], rgb(colour), 2.0)
        panel.legend.add("line", colour, f"{printable(c.species)}: AP {_number(s.average_precision)}")
        if s.best_recall is not None and s.best_precision is not None:
            at = panel.xy(np.array([[s.best_recall, s.best_precision]]))
            panel.marks[f"best {c.species}"] = (s.best_recall, s.best_precision)
            canvas.dots(at, 5.0, rgb(colour))
            label = f"score {s.best_threshold:.4g}"  # (the threshold a user keeps picks at: said where it is marked)
            panel.texts.append(label)
            canvas.text((float(at[0, 0]) + 8, float(at[0, 1]) - 6), label, SMALL_TEXT, "lb", rgb(colour))
    if not swept:
        panel.note("not swept: the candidate's\npicks carry no score")
    elif panel.legend.entries:
        width = max(34 + text_width(label, SMALL_TEXT) + 18 for label in panel.legend.labels)
        x0, _, _, y1 = box
        high = 21 * len(panel.legend.entries)
        canvas.rectangle((x0 + 6, y1 - 12 - high, x0 + 14 + width, y1 - 6), (255, 255, 255), (204, 204, 204))
        canvas.legend(panel.legend, (x0 + 10, y1 - 9), anchor="lb")
    panel.ticks_x()
    title = "Score threshold swept (o: the best F-beta)" if swept else "Score threshold not swept"
    panel.labels(title, "recall", "precision", TEXT, ylabel_gap=panel.ticks_y())
    panel.frame()
    return panel


def _bars_panel(
    canvas: Canvas, box: tuple[float, float, float, float], czii: CziiScore, names: list[str], turned: bool
) -> Panel:
    """Each species' F-beta as a bar, its value on it; the weighted score in the title."""
    from .canvas import SMALL_TEXT, TEXT, TICK_TEXT, Panel, rgb

    f_beta = np.array([np.nan if c.f_beta is None else c.f_beta for c in czii.species], dtype=float)
    top = 1.02 * max(1.0, float(np.nanmax(f_beta, initial=0.0)))
    panel = Panel(canvas, box, (-0.6, len(names) - 0.4), (0, top))
    panel.marks["f_beta"] = f_beta
    for k, value in enumerate(f_beta.tolist()):
        if value > 0:
            bar = (float(panel.x(k - 0.4)), float(panel.y(value)), float(panel.x(k + 0.4)), float(panel.y(0)))
            canvas.rectangle(bar, fill=rgb(BAR_COLOUR))
        label = "-" if math.isnan(value) else f"{value:.3f}"
        panel.texts.append(label)
        canvas.text((float(panel.x(k)), float(panel.y(np.nan_to_num(value))) - 3), label, SMALL_TEXT, "mb")
    panel.ticks_x(np.arange(len(names)), names, size=TICK_TEXT, turned=turned)
    score = "-" if czii.score is None else f"{czii.score:.3f}"
    panel.labels(f"Per species; weighted score {score}", "", f"F{czii.beta:g}", TEXT, ylabel_gap=panel.ticks_y())
    panel.frame()
    return panel


def _number(value: float | None) -> str:
    """A score with three decimals, or "-" where there is none."""
    return "-" if value is None else f"{value:.3f}"


def write_czii_report(
    outdir: Path, czii: CziiScore, title: str, shown: Parameters, rows: Sequence[tuple[str, str]], force: bool
) -> list[str]:
    """``--plot-czii DIR``: the picture and report.html (the summary's ``rows``) in ``outdir``; their paths.

    ``shown``: the options as report.html's Parameters table shows them (``Parameters.of`` the options).

    Existing outputs are refused unless ``force``, and written under temporary names (``write_all``).
    """
    from .html_report import write_all

    score = "-" if czii.score is None else f"{czii.score:.3f}"
    caption = f"The CZII challenge's score, {score}: each species' precision-recall curve and F{czii.beta:g}"
    return write_all(outdir, [(CZII_PICTURE, caption, czii_picture(czii).png())], title, shown, rows, force)
