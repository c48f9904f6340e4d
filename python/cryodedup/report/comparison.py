"""``cryodedup compare``'s and ``copick evaluation comparepicks``' summaries, typed, and their rows.

The job (:mod:`cryodedup.jobs.compare`) builds these small frozen records; the commands read
them by name for their tables, and call ``to_json()`` for ``--json`` alone. Each record's
document is the one the job gave as a dict before (its keys in the same order, a key that does
not apply left out as then).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..labels import counted
from .sections.base import Row, in_tomograms
from .sections.registration import MovedBy, RegisteredPair, Registration

__all__ = [
    "Comparison",
    "LeastAgreement",
    "LeftOut",
    "MicrographAgreement",
    "ObjectComparison",
    "ReferenceScores",
    "Scores",
]

#: Runs the table of ``copick evaluation comparepicks`` lists one by one (``--json`` lists all).
RUNS_LISTED = 10


@dataclass(frozen=True)
class Scores:
    """One input's precision, recall and F-beta against the reference (None where undefined)."""

    precision: float | None
    recall: float | None
    f_beta: float | None

    def to_json(self) -> dict[str, float | None]:
        """The three, in this order."""
        return {"precision": self.precision, "recall": self.recall, "f_beta": self.f_beta}


@dataclass(frozen=True)
class ReferenceScores:
    """``--reference``: the input that is the truth, the F-beta's beta, and the other's scores against it."""

    input: str
    beta: float
    scores: Scores

    def to_json(self) -> dict[str, Any]:
        """The reference, beta, then the scores."""
        return {"input": self.input, "beta": self.beta, **self.scores.to_json()}


@dataclass(frozen=True)
class LeftOut:
    """The micrographs one input alone covers (``--over shared``) and the picks of each input on them."""

    micrographs: int
    picks: tuple[int, int]

    def to_json(self) -> dict[str, Any]:
        """Its fields in order."""
        return {"micrographs": self.micrographs, "picks": list(self.picks)}


@dataclass(frozen=True)
class MicrographAgreement:
    """One micrograph's picks of each input, their Jaccard and matches, and with a reference the scores."""

    micrograph: str
    picks: tuple[int, int]
    shared: bool
    jaccard: float | None
    matched: int
    unmatched: tuple[int, int]
    scores: Scores | None = None

    def to_json(self) -> dict[str, Any]:
        """Its fields in order, the scores' at the end (none without a reference)."""
        document = {
            "micrograph": self.micrograph,
            "picks": list(self.picks),
            "shared": self.shared,
            "jaccard": self.jaccard,
            "matched": self.matched,
            "unmatched": list(self.unmatched),
        }
        return document if self.scores is None else {**document, **self.scores.to_json()}

    def line(self) -> str:
        """The micrograph's line of comparepicks' per-run row."""
        scored = (
            ""
            if self.scores is None
            else f", precision {_fraction(self.scores.precision)}, recall {_fraction(self.scores.recall)}"
        )
        unmatched = f"unmatched {self.unmatched[0]:,} + {self.unmatched[1]:,}"
        return f"{self.micrograph}: {self.matched:,} matched, {unmatched}{scored}"


@dataclass(frozen=True)
class LeastAgreement:
    """A micrograph where the inputs agree least, and its Jaccard."""

    micrograph: str
    jaccard: float | None

    def to_json(self) -> dict[str, Any]:
        """Its fields in order."""
        return {"micrograph": self.micrograph, "jaccard": self.jaccard}


@dataclass(frozen=True)
class Comparison:
    """Two inputs compared (:func:`cryodedup.jobs.compare.comparison`): agreement, registration, scores.

    ``micrographs``: those with picks; ``scored_over``: ``--over``; ``left_out``: what
    ``--over shared`` left out (None: nothing); ``transforms_applied``: the inputs ``--transform``
    moved (written by the documents holding a comparison, each at its own place).
    """

    inputs: tuple[str, str]
    radius_A: float
    picks: tuple[int, int]
    micrographs: int
    micrographs_shared: int
    scored_over: str
    micrographs_scored: int
    picks_scored: tuple[int, int]
    jaccard: float | None
    matched: int
    unmatched: tuple[int, int]
    neighbour_agreement: float | None
    registration: RegisteredPair | None
    pixel_sizes: list[dict[str, Any]]  # (the readers' list, as the particle job's summary gives it)
    tomography: bool  # (its "micrographs" are tomograms, or a copick project's runs)
    left_out: LeftOut | None
    reference: ReferenceScores | None
    per_micrograph: tuple[MicrographAgreement, ...]
    least_agreement: tuple[LeastAgreement, ...]
    transforms_applied: tuple[MovedBy, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The comparison's document, without ``transforms_applied`` (:meth:`moved_json`)."""
        document: dict[str, Any] = {
            "inputs": list(self.inputs),
            "radius_A": self.radius_A,
            "picks": list(self.picks),
            "micrographs": self.micrographs,
            "micrographs_shared": self.micrographs_shared,
            "scored_over": self.scored_over,
            "micrographs_scored": self.micrographs_scored,
            "picks_scored": list(self.picks_scored),
            "jaccard": self.jaccard,
            "matched": self.matched,
            "unmatched": list(self.unmatched),
            "neighbour_agreement": self.neighbour_agreement,
            "registration": None if self.registration is None else self.registration.to_json(),
            "pixel_sizes": self.pixel_sizes,
            "tomography": self.tomography,
        }
        if self.left_out is not None:
            document["left_out"] = self.left_out.to_json()
        if self.reference is not None:
            document["reference"] = self.reference.to_json()
        document["per_micrograph"] = [m.to_json() for m in self.per_micrograph]
        document["least_agreement"] = [m.to_json() for m in self.least_agreement]
        return document

    def headline(self) -> str:
        """The line a summary opens with: the agreement, and with a reference the candidate's F-beta."""
        a, b = self.picks_scored
        line = (
            f"Jaccard {_fraction(self.jaccard)} at {self.radius_A:g} Å: {counted(self.matched, 'pick')} matched one "
            f"to one, of {a:,} + {b:,}"
        )
        r = self.reference
        if r is not None:
            scored = self.inputs[1] if r.input == self.inputs[0] else self.inputs[0]
            line += f"; {scored} against {r.input}: F{r.beta:g} {_fraction(r.scores.f_beta)}"
        return line

    def moved_json(self) -> dict[str, Any]:
        """``{"transforms_applied": [...]}`` where ``--transform`` moved an input, else nothing."""
        if not self.transforms_applied:
            return {}
        return {"transforms_applied": [{"input": t.input, "transform": t.transform} for t in self.transforms_applied]}

    def rows(self, places: str = "Micrographs") -> list[Row]:
        """``compare``'s table: the inputs, their agreement and registration, and scores against a reference.

        ``places``: what the micrographs are (Tomograms, a copick project's Runs).
        """
        a, b = self.inputs
        unit = places.lower().rstrip("s")
        rows = [
            ("Inputs", f"{a}: {counted(self.picks[0], 'pick')}\n{b}: {counted(self.picks[1], 'pick')}"),
            (places, f"{self.micrographs:,} with picks, {self.micrographs_shared:,} covered by both"),
            ("Scored over", self._scored_over(unit)),
            (
                f"Agreement at {self.radius_A:g} Å",
                f"Jaccard {_fraction(self.jaccard)}: {counted(self.matched, 'pick')} matched one to one, of "
                f"{self.picks_scored[0]:,} + {self.picks_scored[1]:,}\n"
                f"neighbour agreement {_fraction(self.neighbour_agreement)}: picks with one of the other's within "
                f"{self.radius_A:g} Å, as the consensus counts them",
            ),
            ("Unmatched", f"{a}: {counted(self.unmatched[0], 'pick')}\n{b}: {counted(self.unmatched[1], 'pick')}"),
        ]
        if self.registration is not None:
            rows += self._registration_rows(self.registration, unit)
        if self.reference is not None:
            r = self.reference
            scored = b if r.input == a else a
            words = f"precision {_fraction(r.scores.precision)}, recall {_fraction(r.scores.recall)}, "
            words += f"F{r.beta:g} {_fraction(r.scores.f_beta)}"
            if r.scores.recall is None and r.scores.precision is None:
                words = f"no {unit} in common, so no precision, recall or F{r.beta:g}"
            elif self.picks[0 if scored == a else 1] == 0:
                truth = self.picks[0 if r.input == a else 1]
                words += f" (it picked nothing: none of {r.input}'s {counted(truth, 'pick')} found)"
            rows.append((f"Against {r.input}", f"{scored}: {words}"))
        if self.least_agreement:
            worst = [f"{m.micrograph} ({_fraction(m.jaccard)})" for m in self.least_agreement[:3]]
            rows.append(("Least agreement", "\n".join(worst)))
        return rows

    def _registration_rows(self, pair: RegisteredPair, unit: str) -> list[Row]:
        """The registration: its one pair's row, as the particle job says it, and a pair in two frames' fix."""
        registration = Registration(
            (pair,), radius_A=self.radius_A, transforms_applied=self.transforms_applied, can_plot=False
        )
        rows = registration.rows(unit)
        if pair.fired is not None:  # (two frames)
            fix = f"; to compare them in one frame, add {pair.fired.fix}"
            rows += in_tomograms([("Two frames", pair.fired.message + fix)], unit)
        return rows

    def _scored_over(self, unit: str) -> str:
        """Which micrographs were scored, and what was left out (and how to score those too)."""
        scored = counted(self.micrographs_scored, unit)
        if self.scored_over == "all":
            return f"all {scored} with picks (--over all)"
        words = f"{scored} both inputs cover" if self.micrographs_scored else f"no {unit} in common"
        left = self.left_out
        if left is not None:
            words += (
                f"; left out: {counted(left.micrographs, unit)} only one covers ({left.picks[0]:,} + "
                f"{left.picks[1]:,} picks; --over all scores them)"
            )
        return words


@dataclass(frozen=True)
class ObjectComparison:
    """One particle object of a copick project compared, the project's runs as its micrographs."""

    object: str
    comparison: Comparison

    def to_json(self) -> dict[str, Any]:
        """The object's name, then its comparison's document."""
        return {"object": self.object, **self.comparison.to_json(), **self.comparison.moved_json()}

    def headline(self) -> str:
        """The object as a summary's opening line names it: its Jaccard at its radius."""
        return f"{self.object} Jaccard {_fraction(self.comparison.jaccard)} at {self.comparison.radius_A:g} Å"

    def rows(self) -> list[Row]:
        """The object's table: ``compare``'s, and each run's scores."""
        rows = self.comparison.rows(places="Runs")
        runs = self.comparison.per_micrograph
        listed = [run.line() for run in runs[:RUNS_LISTED]]
        if len(runs) > RUNS_LISTED:
            listed.append(f"{len(runs) - RUNS_LISTED:,} more runs (--json lists each)")
        rows.append(("Per run", "\n".join(listed)))
        return rows


def _fraction(value: float | None) -> str:
    """A fraction to 3 decimals, or a dash where undefined."""
    return "-" if value is None else f"{value:.3f}"
