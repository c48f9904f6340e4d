"""``compare --metric czii``'s score, typed (:class:`CziiScore`), and its rows: per species, its sweep and error.

The job (:func:`cryodedup.jobs.compare.czii_metric`) builds the records; the table, the picture
and report.html read them by name; ``to_json()`` gives the summary's ``czii`` document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import printable

if TYPE_CHECKING:
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


def czii_figure(czii: CziiScore) -> tuple[str, str, Any]:
    """``--plot-czii``'s picture: each species' precision-recall curve (its best F-beta marked), and F-beta.

    Returns (file name, caption, the matplotlib figure: its artists carry the numbers).
    """
    from .figures import subplots

    fig, (curves, bars) = subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    fig.subplots_adjust(bottom=0.2, wspace=0.3)
    species = czii.species
    for c in species:
        s = c.sweep
        if s is None:
            continue
        (line,) = curves.plot(s.curve.recall, s.curve.precision, drawstyle="steps-post", label=None)
        line.set_label(f"{_label(c.species)}: AP {s.average_precision:.3f}")
        curves.plot([s.best_recall], [s.best_precision], "o", color=line.get_color())
        curves.annotate(  # (the threshold a user keeps picks at: said where it is marked)
            f"score {s.best_threshold:.4g}",
            (s.best_recall, s.best_precision),
            xytext=(6, 6),
            textcoords="offset points",
            fontsize=8,
            color=line.get_color(),
        )
    swept = any(c.sweep is not None for c in species)
    if not swept:
        curves.text(0.5, 0.5, "not swept: the candidate's\npicks carry no score", ha="center", va="center")
    else:
        curves.legend(loc="lower left", fontsize=8)
    curves.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
    title = "Score threshold swept (o: the best F-beta)" if swept else "Score threshold not swept"
    curves.set_title(title, fontsize=10)
    drawn = bars.bar(range(len(species)), [c.f_beta for c in species], color="#4c72b0")
    bars.bar_label(drawn, fmt="%.3f", fontsize=8)
    bars.set_xticks(range(len(species)), [f"{_label(c.species)}\n(w {c.weight:g})" for c in species], fontsize=7)
    bars.set(ylim=(0, 1.02), ylabel=f"F{czii.beta:g}")
    score = "-" if czii.score is None else f"{czii.score:.3f}"
    bars.set_title(f"Per species; weighted score {score}", fontsize=10)
    caption = f"The CZII challenge's score, {score}: each species' precision-recall curve and F{czii.beta:g}"
    return CZII_PICTURE, caption, fig


def write_czii_report(
    outdir: Path, czii: CziiScore, title: str, shown: Parameters, rows: Sequence[tuple[str, str]], force: bool
) -> list[str]:
    """``--plot-czii DIR``: the picture and report.html (the summary's ``rows``) in ``outdir``; their paths.

    ``shown``: the options as report.html's Parameters table shows them (from the values the job's plan was made from).

    Existing outputs are refused unless ``force``, and written under temporary names (``write_all``).
    """
    from .figures import rendered
    from .html_report import write_all

    return write_all(outdir, rendered([czii_figure(czii)]), title, shown, rows, force)


def _label(name: str) -> str:
    """A species' name as matplotlib draws it: printable, and its ``$`` not the start of math (a parse error)."""
    return printable(name).replace("$", r"\$")
