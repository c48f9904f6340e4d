"""``compare --metric czii``'s rows: the CZII challenge's score, per species, its sweep and localisation error."""

from __future__ import annotations

__all__ = ["czii_rows"]


def czii_rows(czii: dict | None, places: str = "Tomograms") -> list[tuple[str, str]]:
    """The rows of the summary's ``czii`` (none without it); ``places``: what its tomograms are (copick's runs)."""
    if not czii:
        return []
    unit = places.lower()
    over = f"the {czii['tomograms_scored']:,} {unit} the reference has picks on"
    if czii["scored_over"] == "all":
        over = f"all {czii['tomograms_scored']:,} {unit} with picks (--over all)"
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
    at = ">=" if czii.get("higher_is_better", True) else "<="
    swept = [_sweep_line(c, czii["beta"], at) for c in czii["species"] if "sweep" in c]
    if swept:
        rows.append(("Score threshold", "\n".join(swept)))
    elif czii["species"]:
        rows.append(("Score threshold", "not swept: the candidate's picks do not all carry a score"))
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
