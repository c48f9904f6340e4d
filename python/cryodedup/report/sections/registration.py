"""The registration's section: how the inputs' coordinates agree, pair by pair (:mod:`cryodedup.jobs.registration`).

Each pair is a frozen record; a field that is None is left out of the ``--json`` document (it
does not apply to that pair), except the pixel lengths of coordinates read in Å, which are null.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from ...labels import counted
from .base import Row, Section, in_tomograms

__all__ = [
    "BestTransform",
    "Fired",
    "MovedBy",
    "MovedInput",
    "MovedInputs",
    "Offset",
    "RegisteredPair",
    "Registration",
]

#: What the registration's agreement counts (``algo.registration.agreement``), said under its verdicts:
#: not a Jaccard index of one-to-one matches (``compare``'s), nor the consensus's neighbour agreement.
_AGREEMENT_MEANING = (
    "(agreement: the picks with a partner within the distance measured at, counted on the side with fewer, "
    "over the union of both sets)"
)

#: What to do when the registration cannot tell, by its reason.
_CANNOT_TELL = {
    "too few picks": "too few picks shared to tell a frame from chance; give more micrographs both inputs picked, "
    "or check the frames by hand",
    "too dense": "the picks crowd so that chance pairs many of them under some transform; check the frames by hand",
    "no one transform": "the best transform found pairs few of the picks it brings near each other (their "
    "offsets differ pick by pick, as each particle's own origin does): no transform fixes that; check the "
    "shifts each input's centres carry",
    "offset uncertain": "the offset between them is measured too loosely to say whether it matters; give more "
    "micrographs both inputs picked",
}

#: Fields written as null when None (a pixel length of coordinates read in Å), not left out.
_NULLABLE = frozenset({"shift_px"})


def _document(record: Any) -> dict[str, Any]:
    """A record's fields in order, None left out (but :data:`_NULLABLE`), tuples as lists, records as documents."""
    document: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if value is None and f.name not in _NULLABLE:
            continue
        if isinstance(value, tuple):
            value = list(value)
        elif hasattr(value, "to_json"):
            value = value.to_json()
        document[f.name] = value
    return document


@dataclass(frozen=True)
class BestTransform:
    """The best transform found between a pair: its kind, ``--transform``'s words, its shift and their errors."""

    kind: str
    transform: str
    scale: float
    shift_A: tuple[float, ...]
    shift_px: tuple[float, ...] | None  # (None: coordinates read in Å, copick's)
    jaccard: float
    shift_error_A: tuple[float, ...] | None = None
    shift_error_px: tuple[float, ...] | None = None
    scale_error: float | None = None
    pairs: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The transform's document, as the summary gives it."""
        return _document(self)


@dataclass(frozen=True)
class Offset:
    """The offset measured between a pair's picks as read (one to one), with its standard error."""

    shift_A: tuple[float, ...]
    shift_px: tuple[float, ...] | None  # (None: coordinates read in Å, copick's)
    pairs: int
    error_A: tuple[float, ...] | None = None
    error_px: tuple[float, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        """The offset's document."""
        return _document(self)


@dataclass(frozen=True)
class Fired:
    """What a transform that fires says: where it holds, the agreement before and after, the message and fixes."""

    micrographs_held: int
    jaccard_before: float
    jaccard_after: float
    message: str
    fix: str
    fix_other: str

    def to_json(self) -> dict[str, Any]:
        """Its fields in order (the pair's document holds them at its own level)."""
        return _document(self)


@dataclass(frozen=True)
class RegisteredPair:
    """One pair of inputs' registration: what was measured, the agreement, and the verdict (``frames``)."""

    inputs: tuple[str, str]
    radius_A: float
    measured_at_A: float
    micrographs_shared: int
    micrographs_measured: int
    picks_measured: tuple[int, int]
    jaccard_identity: float
    jaccard_chance: float
    frames: str  # one, two, unrelated, cannot tell
    offset: Offset | None = None
    cannot_tell: str | None = None
    best_transform: BestTransform | None = None
    fired: Fired | None = None  # (in the document, its fields at this place)
    species: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The pair's document: its fields in order, those of a transform that fires in the pair's own."""
        document = _document(self)
        fired = document.pop("fired", None)
        species = document.pop("species", None)
        document.update(fired or {})
        return document if species is None else {**document, "species": species}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> RegisteredPair:
        """The pair from its document (``compare``'s summary holds it so)."""
        own = {f.name for f in fields(cls)} - {"fired"}
        values = _tuples({k: v for k, v in document.items() if k in own})
        fired = {f.name for f in fields(Fired)}
        offset, best = document.get("offset"), document.get("best_transform")
        values["offset"] = None if offset is None else Offset(**_tuples(offset))
        values["best_transform"] = None if best is None else BestTransform(**_tuples(best))
        values["fired"] = Fired(**{k: document[k] for k in fired}) if fired <= document.keys() else None
        return cls(**values)

    def verdict(self, can_plot: bool = True) -> str:
        """The pair's registration in words: one frame, two (the transform and its errors), unrelated, cannot tell."""
        n_a, n_b = self.picks_measured
        measured = f"{n_a:,} + {n_b:,} picks on {counted(self.micrographs_measured, 'micrograph')}"
        if self.measured_at_A != self.radius_A:
            # (the row is headed by the job's distance: say why this pair was measured at another)
            measured += (
                f"; measured at {self.measured_at_A:.3g} Å, as picks this dense pair by chance at {self.radius_A:g} Å"
            )
        chance = f"agreement {self.jaccard_identity:.3f}, chance {self.jaccard_chance:.3f}"
        if self.frames == "two":
            return f"two frames, {self._two_frames()}; {measured})"
        if self.frames == "one":
            offset = self.offset
            moved = ""
            if offset is not None and offset.error_A is not None:
                shift = ", ".join(f"{s:+.1f}" for s in offset.shift_A)
                moved = f"; offset {shift} Å ± {max(offset.error_A):.1f}"
            return f"one frame ({chance}{moved}; {measured})"
        if self.frames == "unrelated":
            return f"unrelated: their picks agree no more than by chance ({chance}; {measured})"
        reason = _CANNOT_TELL.get(self.cannot_tell or "", "see the measurement")
        if can_plot and self.cannot_tell == "too dense":
            reason += " (--plot draws the displacements)"
        return f"cannot tell: {reason} ({chance}; {measured})"

    def _two_frames(self) -> str:
        """A pair in two frames: the transform, its uncertainty, and the agreement before and after it (open)."""
        t, fired = self.best_transform, self.fired
        assert t is not None and fired is not None, "two frames: a transform that fires"
        errors, unit = (t.shift_error_px, "px") if t.shift_px is not None else (t.shift_error_A, "Å")
        uncertainty = f", ± {max(errors):.1f} {unit}" if errors else ""
        return (
            f"{t.transform}{uncertainty} (agreement {fired.jaccard_before:.3f} -> {fired.jaccard_after:.3f} on "
            f"{fired.micrographs_held:,} of {counted(self.micrographs_shared, 'micrograph')}"
        )

    def line(self, can_plot: bool = True) -> str:
        """The pair's line of the summary: ``b / a: verdict`` (a names the species measured, with its radius)."""
        a, b = self.inputs
        if self.species is not None:
            a = f"{a} ({self.species} at {self.radius_A:g} Å)"
        return f"{b} / {a}: {self.verdict(can_plot)}"


def _tuples(document: dict[str, Any]) -> dict[str, Any]:
    """A document's lists as tuples (a record's values)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in document.items()}


@dataclass(frozen=True)
class MovedBy:
    """An input ``--transform`` moved, as the registration names it."""

    input: str
    transform: str


@dataclass(frozen=True)
class Registration(Section):
    """How the inputs' coordinates agree (``--registration``): each pair measured, the transforms applied."""

    key: ClassVar[str] = "registration"

    pairs: tuple[RegisteredPair, ...]
    mode: str | None = None  # (--registration; None: compare's, which measures and never refuses)
    radius_A: float | None = None  # (None: the pairs measured at different radii, each species at its own)
    transforms_applied: tuple[MovedBy, ...] = ()
    can_plot: bool = True  # (the command has --plot, which draws the displacements; compare has not)

    def rows(self, unit: str) -> list[Row]:
        """One row: per pair its verdict against chance and its picks; the transforms applied."""
        lines = [pair.line(self.can_plot) for pair in self.pairs]
        lines += [f"{t.input}: moved by --transform {t.transform}" for t in self.transforms_applied]
        if self.pairs:
            lines.append(_AGREEMENT_MEANING)
        heading = "Registration" if self.radius_A is None else f"Registration at {self.radius_A:g} Å"
        return in_tomograms([(heading, "\n".join(lines))], unit)

    @classmethod
    def from_json(cls, document: dict[str, Any], can_plot: bool = True) -> Registration:
        """The registration from its ``--json`` document (what a caller of the API holds)."""
        return cls(
            pairs=tuple(RegisteredPair.from_json(pair) for pair in document["pairs"]),
            mode=document.get("mode"),
            radius_A=document.get("radius_A"),
            transforms_applied=tuple(MovedBy(**t) for t in document.get("transforms_applied", [])),
            can_plot=can_plot,
        )

    def to_json(self) -> dict[str, Any]:
        """The registration's document: ``radius_A`` (one for all), ``mode``, ``pairs``, ``transforms_applied``."""
        document: dict[str, Any] = {} if self.radius_A is None else {"radius_A": self.radius_A}
        if self.mode is not None:
            document["mode"] = self.mode
        document["pairs"] = [pair.to_json() for pair in self.pairs]
        if self.transforms_applied:
            document["transforms_applied"] = [
                {"input": t.input, "transform": t.transform} for t in self.transforms_applied
            ]
        return document


@dataclass(frozen=True)
class MovedInput:
    """One input ``--transform`` moved: the transform, and what its rows in the outputs hold."""

    input: str
    transform: str
    written: str


@dataclass(frozen=True)
class MovedInputs(Section):
    """The inputs ``--transform`` moved, in the inputs' order."""

    key: ClassVar[str] = "transforms"

    moved: tuple[MovedInput, ...]

    def rows(self, unit: str) -> list[Row]:
        """One row: each input moved, one a line."""
        return [("Moved", "\n".join(f"{m.input}: --transform {m.transform}; {m.written}" for m in self.moved))]

    def to_json(self) -> list[dict[str, str]]:
        """A list, one entry per input moved (``input``, ``transform``, ``written``)."""
        return [asdict(m) for m in self.moved]
