"""The base of the summary's sections: :class:`Section`, a row, and :class:`Sections` (a summary's, found by type)."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, TypeVar

__all__ = ["Row", "Section", "Sections", "in_tomograms"]

#: A summary row: label and text (lines separated by newlines).
Row = tuple[str, str]


class Section(ABC):
    """One analysis's part of the summary: its rows, and its piece of the ``--json`` document."""

    #: The section's key in the ``--json`` document, and the summary's field that holds it.
    key: ClassVar[str]

    @abstractmethod
    def rows(self, unit: str) -> list[Row]:
        """The section in words, as (label, text) rows; ``unit``: what the micrographs are (tomograms, runs)."""

    def highlight(self) -> dict[str, str]:
        """The rows the report colours, by label: ``bad``, ``warn`` (the verdict's checks) or ``good``; none here."""
        return {}

    def micrographs_listed(self) -> tuple[str, ...]:
        """The micrographs its rows name (the report names them for reading); none unless it lists some."""
        return ()

    def with_micrographs_named(self, shown: Mapping[str, str]) -> Section:
        """The section with its listed micrographs named as ``shown`` names them (for the report)."""
        return self

    def to_json(self) -> Any:
        """The section's piece of the ``--json`` document: its fields in order (override for another shape)."""
        return asdict(self)  # type: ignore[call-overload]  # (each section is a dataclass)


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

    def highlight(self) -> dict[str, str]:
        """The rows the report colours, by label, of each section in turn."""
        return {label: kind for section in self.held for label, kind in section.highlight().items()}

    def micrographs_listed(self) -> tuple[str, ...]:
        """The micrographs the sections' rows name, each once, in order."""
        return tuple(dict.fromkeys(name for section in self.held for name in section.micrographs_listed()))

    def with_micrographs_named(self, shown: Mapping[str, str]) -> Sections:
        """The sections with their listed micrographs named as ``shown`` names them."""
        return Sections(tuple(section.with_micrographs_named(shown) for section in self.held))


#: "micrograph(s)" as a word of the text, not in an option's name (--match-micrographs) nor a path or file name.
_MICROGRAPH_WORD = re.compile(r"(?<![-\w/])micrograph(?=s?\b)")


def in_tomograms(rows: list[Row], unit: str) -> list[Row]:
    """``rows`` with their micrographs called by ``unit``: tomograms in tomography, a copick project's runs."""
    if unit == "micrograph":
        return rows
    return [(label, _MICROGRAPH_WORD.sub(unit, text)) for label, text in rows]
