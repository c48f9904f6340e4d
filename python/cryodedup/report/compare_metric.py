"""``compare --metric czii``'s rows: the CZII challenge's score, per species, its sweep and localisation error."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["czii_rows", "write_czii_report"]


def czii_rows(czii: dict | None, places: str = "Tomograms") -> list[tuple[str, str]]:
    """The rows of the summary's ``czii`` (none without it); ``places``: what its tomograms are (copick's runs)."""
    if not czii:
        return []
    n = czii["tomograms_scored"]
    unit = places.lower()[:-1] if n == 1 else places.lower()  # ("1 tomogram": the places are named plural)
    over = f"the {n:,} {unit} the reference has picks on"
    if czii["scored_over"] == "all":
        over = f"all {n:,} {unit} with picks (--over all)"
    score = "-" if czii["score"] is None else f"{czii['score']:.4f}"
    rows = [
        (
            "CZII score",
            f"{score}: F{czii['beta']:g} per species weighted, hits within {czii['multiplier']:g} x each species' "
            f"radius, counted over {over}",
        )
    ]
    lines = [_species_line(c, czii["beta"]) for c in czii["species"]]
    rows.append(("Per species", "\n".join(lines) or "no reference picks"))
    if czii.get("weights_not_scored"):
        names = ", ".join(czii["weights_not_scored"])
        rows.append(
            ("Weights unused", f"--weights names {names}: the reference has no picks of it, so it is not scored")
        )
    at = ">=" if czii.get("higher_is_better", True) else "<="
    swept = [_sweep_line(c, czii["beta"], at) for c in czii["species"] if "sweep" in c]
    if swept:
        rows.append(("Score threshold", "\n".join(swept)))
    elif czii["species"]:
        why = (
            "the candidate has no picks to sweep" if czii["swept"] else "the candidate's picks do not all carry a score"
        )
        rows.append(("Score threshold", f"not swept: {why}"))
    return rows


def _species_line(c: dict, beta: float) -> str:
    """One species: its counts, precision, recall, F-beta, weight and localisation error."""
    error = "" if c["localisation_error_A"] is None else f", localisation error {c['localisation_error_A']:.1f} Å"
    return (
        f"{c['species']} (weight {c['weight']:g}, hit within {c['threshold_A']:g} Å): TP {c['tp']:,}, "
        f"FP {c['fp']:,}, FN {c['fn']:,}; precision {c['precision']:.3f}, recall {c['recall']:.3f}, "
        f"F{beta:g} {c['f_beta']:.3f}{error}"
    )


def _sweep_line(c: dict, beta: float, at: str) -> str:
    """One species' sweep: average precision, and the threshold of the best F-beta."""
    s = c["sweep"]
    return (
        f"{c['species']}: average precision {s['average_precision']:.3f}; best F{beta:g} {s['best_f_beta']:.3f} "
        f"at score {at} {s['best_threshold']:.4g} (precision {s['best_precision']:.3f}, recall {s['best_recall']:.3f})"
    )


#: The file of ``compare --metric czii --plot-czii DIR``'s picture.
CZII_PICTURE = "czii_precision_recall.png"


def czii_figure(czii: dict) -> tuple[str, str, Any]:
    """``--plot-czii``'s picture: each species' precision-recall curve (its best F-beta marked), and F-beta.

    Returns (file name, caption, the matplotlib figure: its artists carry the numbers).
    """
    from .figures import subplots

    fig, (curves, bars) = subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    fig.subplots_adjust(bottom=0.2, wspace=0.3)
    species = czii["species"]
    for c in species:
        if "sweep" not in c:
            continue
        s = c["sweep"]
        (line,) = curves.plot(s["curve"]["recall"], s["curve"]["precision"], drawstyle="steps-post", label=None)
        line.set_label(f"{c['species']}: AP {s['average_precision']:.3f}")
        curves.plot([s["best_recall"]], [s["best_precision"]], "o", color=line.get_color())
        curves.annotate(  # (the threshold a user keeps picks at: said where it is marked)
            f"score {s['best_threshold']:.4g}",
            (s["best_recall"], s["best_precision"]),
            xytext=(6, 6),
            textcoords="offset points",
            fontsize=8,
            color=line.get_color(),
        )
    swept = any("sweep" in c for c in species)
    if not swept:
        curves.text(0.5, 0.5, "not swept: the candidate's\npicks carry no score", ha="center", va="center")
    else:
        curves.legend(loc="lower left", fontsize=8)
    curves.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
    title = "Score threshold swept (o: the best F-beta)" if swept else "Score threshold not swept"
    curves.set_title(title, fontsize=10)
    names = [c["species"] for c in species]
    drawn = bars.bar(range(len(species)), [c["f_beta"] for c in species], color="#4c72b0")
    bars.bar_label(drawn, fmt="%.3f", fontsize=8)
    bars.set_xticks(range(len(species)), [f"{n}\n(w {c['weight']:g})" for n, c in zip(names, species)], fontsize=7)
    bars.set(ylim=(0, 1.02), ylabel=f"F{czii['beta']:g}")
    score = "-" if czii["score"] is None else f"{czii['score']:.3f}"
    bars.set_title(f"Per species; weighted score {score}", fontsize=10)
    caption = f"The CZII challenge's score, {score}: each species' precision-recall curve and F{czii['beta']:g}"
    return CZII_PICTURE, caption, fig


def write_czii_report(
    outdir: Path, czii: dict, title: str, options: Any, rows: Sequence[tuple[str, str]], force: bool
) -> list[str]:
    """``--plot-czii DIR``: the picture and report.html (the summary's ``rows``) in ``outdir``; their paths.

    Existing outputs are refused unless ``force``, and written under temporary names (``write_all``).
    """
    from .figures import rendered
    from .html_report import write_all

    return write_all(outdir, rendered([czii_figure(czii)]), title, options, rows, force)
