"""The checks of the kept particles' images: one image in several rows, particle names that collide.

Their own module (not :mod:`.audits`): nearly every run reads its images' names and makes a
:class:`SameImage`; the half-set audit's classes are loaded only when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .base import Row, Section

__all__ = ["NameCollisions", "SameImage"]


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

    def highlight(self) -> dict[str, str]:
        """Its row as a warning, when images were kept twice."""
        return {"Same image twice": "warn"} if self.images_kept_twice else {}

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
