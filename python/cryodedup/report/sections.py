"""The particle summary's typed sections: each analysis's result, its rows and its piece of ``--json``.

A section is a small frozen dataclass (:class:`Section`): the job fills it, :meth:`~Section.rows`
says it for the terminal and the report, :meth:`~Section.to_json` gives its piece of the
``--json`` document, under the key :attr:`~Section.key`. The summary
(:class:`~cryodedup.jobs.particles.summarise.ParticleSummary`) holds each section in the field
of that key, at its place of the document; :data:`SECTIONS` is their registry, as
:data:`~cryodedup.report.particle_figures.PARTICLE_PICTURES` is the pictures'. The report reads a
section by its type (:meth:`Sections.of`), never by a string key of the document.

Not every analysis is a section yet (issue 66, item 1): the others are still dicts in the
document, read by key in :mod:`.summary` and :mod:`.analysis_rows`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, TypeVar

from ..labels import counted, input_labels

__all__ = [
    "SECTIONS",
    "Filaments",
    "HalfsetsByMicrograph",
    "MovedInput",
    "MovedInputs",
    "NameCollisions",
    "Priority",
    "SameImage",
    "Score",
    "Section",
    "Sections",
    "SymmetryCopies",
    "UpdateRound",
]

#: A summary row: label and text (lines separated by newlines).
Row = tuple[str, str]


class Section(ABC):
    """One analysis's part of the summary: its rows, and its piece of the ``--json`` document."""

    #: The section's key in the ``--json`` document, and the summary's field that holds it.
    key: ClassVar[str]

    @abstractmethod
    def rows(self, unit: str) -> list[Row]:
        """The section in words, as (label, text) rows; ``unit``: what the micrographs are (tomograms, runs)."""

    def to_json(self) -> Any:
        """The section's piece of the ``--json`` document: its fields in order (override for another shape)."""
        return asdict(self)  # type: ignore[call-overload]  # (each section is a dataclass)


@dataclass(frozen=True)
class Filaments(Section):
    """The tubes the particles lie on (``--filament-mode``): the column naming them, how many, the mode and its rule."""

    key: ClassVar[str] = "filaments"

    column: str
    tubes: int
    mode: str
    rule: str

    def rows(self, unit: str) -> list[Row]:
        """One row: the tubes, their column, the mode and its rule."""
        tubes = f"{self.tubes:,} tube{'' if self.tubes == 1 else 's'}"
        return [("Filaments", f"{tubes} ({self.column}), mode {self.mode}: {self.rule}")]


@dataclass(frozen=True)
class HalfsetsByMicrograph(Section):
    """The kept particles' half-sets reassigned by micrograph (``--halfsets micrograph``).

    ``half_names``: the two halves as the column writes them (1 and 2, 0 and 1): in the message, not the document.
    """

    key: ClassVar[str] = "halfsets"

    column: str
    sizes: tuple[int, int]
    largest_micrograph: int
    half_names: tuple[str, str]

    @property
    def message(self) -> str:
        """How many kept particles each half holds, and the largest micrograph (none split)."""
        return (
            f"{self.column} of the kept particles reassigned per micrograph: {self.sizes[0]:,} in half "
            f"{self.half_names[0]}, {self.sizes[1]:,} in half {self.half_names[1]} (no micrograph split; the largest "
            f"holds {self.largest_micrograph:,})"
        )

    def rows(self, unit: str) -> list[Row]:
        """One row: the message."""
        return [("Half-sets", self.message)]

    def to_json(self) -> dict[str, Any]:
        """``column``, ``rule`` (micrograph), ``sizes``, ``largest_micrograph`` and ``message``."""
        return {
            "column": self.column,
            "rule": "micrograph",
            "sizes": list(self.sizes),
            "largest_micrograph": self.largest_micrograph,
            "message": self.message,
        }


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


@dataclass(frozen=True)
class NameCollisions(Section):
    """Particle names kept for different particles of different inputs (RELION issue 1069).

    ``rows_kept``: their kept rows (``rows`` in the document); ``named``: the first names;
    ``example_inputs``: the inputs of the first; ``extracted``: the rows were extracted already
    (the image kept twice says the cause: no row of its own).
    """

    key: ClassVar[str] = "particle_names"

    column: str
    names: int
    rows_kept: int
    named: tuple[str, ...]
    example_inputs: tuple[str, ...]
    extracted: bool

    @property
    def message(self) -> str:
        """How many names, the first, where, what RELION's extraction does with them and what to do."""
        more = self.names - len(self.named)
        listed = ", ".join(self.named) + (f" and {more:,} more" if more else "")
        return (
            f"{self.names:,} {self.column} value{'s' * (self.names != 1)} kept for different particles of "
            f"different inputs ({listed}; e.g. in {' and '.join(self.example_inputs)}): RELION's extraction names "
            "each subtomogram's files by it and writes both particles to one file (RELION issue 1069); renumber one "
            f"input's {self.column} before extracting the joined set"
        )

    def rows(self, unit: str) -> list[Row]:
        """One row before extraction; none after (the image kept twice names the cause)."""
        return [] if self.extracted else [("Particle names", self.message)]

    def to_json(self) -> dict[str, Any]:
        """``column``, ``names``, ``rows``, ``named``, ``example_inputs``, ``message`` and ``extracted``."""
        return {
            "column": self.column,
            "names": self.names,
            "rows": self.rows_kept,
            "named": list(self.named),
            "example_inputs": list(self.example_inputs),
            "message": self.message,
            "extracted": self.extracted,
        }


@dataclass(frozen=True)
class Priority(Section):
    """The inputs' priority (``--prefer``), and which priority decided how many groups of duplicates.

    ``order``: the levels' names, most preferred first; ``inputs``: the job's inputs (to label
    them as the per-input rows do; not in the document). Under ``--remove-entirely``,
    ``removed`` alone ((level, particles removed), in order): no group has a winner. Else the
    groups, those decided by priority, ``won_by`` ((level, groups), in order, none at 0),
    ``against_score`` (with scores: decided by priority where the score chose another pick)
    and ``tied_on_score`` (said when not 0).
    """

    key: ClassVar[str] = "priority"

    order: tuple[str, ...]
    inputs: tuple[str, ...]
    removed: tuple[tuple[str, int], ...] | None = None
    groups: int = 0
    by_priority: int = 0
    won_by: tuple[tuple[str, int], ...] = ()
    against_score: int | None = None
    tied_on_score: int = 0

    def rows(self, unit: str) -> list[Row]:
        """One row: the order, then what priority decided (or, removing entirely, that it decided nothing)."""
        label_of = dict(zip(self.inputs, input_labels(list(self.inputs))))
        labels = [label_of.get(name, name) for name in self.order]  # (a name no input is, as it is)
        order = " > ".join(labels)
        if self.removed is not None:
            removed = ", ".join(f"{n:,} of {label}" for label, (_, n) in zip(labels, self.removed))
            text = (
                f"{order}\nnot applied: --remove-entirely removes every particle that has a duplicate, "
                f"preferred or not (removed: {removed})"
            )
            return [("Priority", text)]
        won = ", ".join(f"{n:,} by {label_of.get(name, name)}" for name, n in self.won_by)
        if won and self.against_score is not None:
            # Of those, where the score alone (a strictly better score) kept another pick.
            won += f"; {self.against_score:,} that the score would have given to another pick"
        if won and self.tied_on_score:
            won += f"; {self.tied_on_score:,} tied on the score"
        text = (
            f"{order}\n{counted(self.groups, 'group')} of duplicates: {self.by_priority:,} decided by priority"
            f"{f' ({won})' if won else ''}, {self.groups - self.by_priority:,} by score"
        )
        return [("Priority", text)]

    def to_json(self) -> dict[str, Any]:
        """The document's ``priority``, its keys in the order main printed them.

        ``order``; ``applied`` (false) and ``removed``, or ``groups``, ``by_priority``, ``by_score``,
        ``won_by``, ``against_score`` (with scores) and ``tied_on_score`` (when not 0).
        """
        if self.removed is not None:
            return {"order": list(self.order), "applied": False, "removed": dict(self.removed)}
        document: dict[str, Any] = {
            "order": list(self.order),
            "groups": self.groups,
            "by_priority": self.by_priority,
            "by_score": self.groups - self.by_priority,
            "won_by": dict(self.won_by),
        }
        if self.against_score is not None:
            document["against_score"] = self.against_score
        if self.tied_on_score:
            document["tied_on_score"] = self.tied_on_score
        return document


@dataclass(frozen=True)
class SameImage(Section):
    """One particle image in several rows (``--same-image``): the images kept twice, or the rows ``reject`` removed.

    ``rows_kept_twice``: the kept rows of the images kept twice (``rows`` in the document);
    ``rows_rejected``: with ``reject`` alone; ``named``: the first images kept twice, by name;
    ``cause``: what made them, where known (particle names that collide across inputs).
    """

    key: ClassVar[str] = "same_image"

    column: str
    mode: str
    images_kept_twice: int = 0
    rows_kept_twice: int = 0
    rows_rejected: int | None = None
    named: tuple[str, ...] = ()
    cause: str | None = None

    @property
    def message(self) -> str | None:
        """The warning, when images were kept twice: how many, why, the first by name, and what removes them."""
        if not self.images_kept_twice:
            return None
        images = "image" if self.images_kept_twice == 1 else "images"
        more = self.images_kept_twice - len(self.named)
        listed = ", ".join(self.named) + (f" and {more:,} more" if more else "")
        why = "as joined selections refined apart leave them" if self.cause is None else self.cause
        return (
            f"{self.images_kept_twice:,} {images} kept twice ({self.rows_kept_twice:,} rows of one {self.column} at "
            f"different centres, {why}): {listed}; --same-image reject keeps the best of each"
        )

    def rows(self, unit: str) -> list[Row]:
        """The images kept twice (the warning), or the rows ``reject`` removed; none when neither."""
        if self.message is not None:
            return [("Same image twice", self.message)]
        if self.rows_rejected:
            rows = "row" if self.rows_rejected == 1 else "rows"
            return [
                (
                    "Same image twice",
                    f"{self.rows_rejected:,} {rows} rejected as the same {self.column} as a kept row at another "
                    "centre or on another micrograph (--same-image reject)",
                )
            ]
        return []

    def to_json(self) -> dict[str, Any]:
        """The document's ``same_image``, its keys in the order main printed them.

        ``column``, ``mode``, ``images_kept_twice``, ``rows``; ``rows_rejected`` (``reject``); ``named``,
        ``cause`` (where known) and ``message`` when images were kept twice.
        """
        document: dict[str, Any] = {
            "column": self.column,
            "mode": self.mode,
            "images_kept_twice": self.images_kept_twice,
            "rows": self.rows_kept_twice,
        }
        if self.rows_rejected is not None:
            document["rows_rejected"] = self.rows_rejected
        if self.images_kept_twice:
            document["named"] = list(self.named)
            if self.cause is not None:
                document["cause"] = self.cause
            document["message"] = self.message
        return document


@dataclass(frozen=True)
class Score(Section):
    """The ranking: the score column and its order (a random order without one), and how the scores were compared.

    ``normalized``: the normalisation's words (``--score-normalize``); ``scale``: the inputs'
    scores compared as read though on different scales; ``without_score``: picks without one
    (ranked last); ``ties_by_input_order``: the groups tied on the score that the inputs' order decided.
    """

    key: ClassVar[str] = "score"

    column: str | None
    order: str
    normalized: str | None = None
    scale: str | None = None
    without_score: int = 0
    ties_by_input_order: int = 0

    @property
    def ties_message(self) -> str:
        """The groups the inputs' order decided, and what decides them instead."""
        return (
            f"{counted(self.ties_by_input_order, 'group')} tied on the score: decided by input order; --prefer chooses"
        )

    def rows(self, unit: str) -> list[Row]:
        """One row: the column and its order, its normalisation, the picks without one, the ties."""
        text = f"{self.column} ({self.order} first)" if self.column else self.order
        if self.normalized:
            text += f"; {self.normalized}"
        if self.scale:
            text += f"; {self.scale} (--score-normalize rank)"
        if self.without_score:
            text += f"\n{self.without_score:,} picks without a score: ranked last"
        if self.ties_by_input_order:
            text += f"\n{self.ties_message}"
        return [("Score", text)]

    def to_json(self) -> dict[str, Any]:
        """``column``, ``order``; ``normalized``, ``scale``, ``without_score`` and ``ties`` where they apply."""
        document: dict[str, Any] = {"column": self.column, "order": self.order}
        if self.normalized is not None:
            document["normalized"] = self.normalized
        if self.scale is not None:
            document["scale"] = self.scale
        if self.without_score:
            document["without_score"] = self.without_score
        if self.ties_by_input_order:
            document["ties"] = {
                "groups": self.ties_by_input_order,
                "decided_by": "input order",
                "message": self.ties_message,
            }
        return document


@dataclass(frozen=True)
class SymmetryCopies(Section):
    """Symmetry-expanded copies: the column naming their source, the sources, the copies, and how many kept each.

    ``by_copies_kept``: (copies kept, sources with that many), by copies kept.
    """

    key: ClassVar[str] = "symmetry_expansion"

    column: str
    sources: int
    copies_in: int
    by_copies_kept: tuple[tuple[int, int], ...]

    def rows(self, unit: str) -> list[Row]:
        """One row: the copies of how many sources, and the sources by copies kept."""
        by = ", ".join(f"{h:,} with {c} kept" for c, h in self.by_copies_kept)
        return [("Symmetry copies", f"{self.copies_in:,} copies of {self.sources:,} particles; {by}")]

    def to_json(self) -> dict[str, Any]:
        """``column``, ``sources``, ``copies_in`` and ``sources_by_copies_kept`` (copies kept: sources)."""
        return {
            "column": self.column,
            "sources": self.sources,
            "copies_in": self.copies_in,
            "sources_by_copies_kept": dict(self.by_copies_kept),
        }


@dataclass(frozen=True)
class UpdateRound(Section):
    """An ``--update`` round: its number, the running kept set, and what the particles kept before decided."""

    key: ClassVar[str] = "update"

    round: int
    running_file: str
    store: str
    kept_before: int
    kept_before_on_these_micrographs: int
    running_kept: int
    rejected_by_kept: int
    would_have_won: int
    message: str

    def rows(self, unit: str) -> list[Row]:
        """One row: the round's message."""
        return [("Update", self.message)]


#: The registry of the summary's sections, in the order of their rows. A new analysis adds its
#: class here and a field of its :attr:`~Section.key` to the summary (docs/developers/index.md).
SECTIONS: tuple[type[Section], ...] = (
    Score,
    SymmetryCopies,
    HalfsetsByMicrograph,
    MovedInputs,
    Filaments,
    Priority,
    SameImage,
    NameCollisions,
    UpdateRound,
)

_S = TypeVar("_S", bound=Section)


@dataclass(frozen=True)
class Sections:
    """The sections a summary holds, each found by its type."""

    held: tuple[Section, ...] = ()

    def of(self, kind: type[_S]) -> _S | None:
        """The section of type ``kind``, or None when the run has none (the analysis did not apply)."""
        return next((s for s in self.held if isinstance(s, kind)), None)

    def rows(self, kind: type[Section], unit: str = "micrograph") -> list[Row]:
        """The rows of the section of type ``kind``; none when the run has none."""
        section = self.of(kind)
        return [] if section is None else section.rows(unit)
