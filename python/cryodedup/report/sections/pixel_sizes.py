"""The pixel sizes used, as a section: per input and optics group, the value and where it came from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from ...labels import counted
from .base import Row, Section

__all__ = ["PixelSizes"]


class PixelSize(NamedTuple):
    """The micrograph pixel size (Å, None where the coordinates are in Å) used for one optics group of one input.

    ``input`` is ``all`` where one value served every input, ``optics_group`` ``all`` where it served the
    whole input.
    """

    input: str
    optics_group: Any
    psize: float | None
    source: str


@dataclass(frozen=True)
class PixelSizes(Section):
    """The pixel sizes used (every document holds them); ``several_inputs``: each input named where they differ."""

    key: ClassVar[str] = "pixel_sizes"

    each: tuple[PixelSize, ...]
    several_inputs: bool = False

    @classmethod
    def of(cls, entries: Sequence[Mapping[str, Any]], several_inputs: bool) -> PixelSizes:
        """The section of the reader's entries (``input``, ``optics_group``, ``psize``, ``source``)."""
        return cls(
            tuple(PixelSize(e["input"], e["optics_group"], e["psize"], e["source"]) for e in entries), several_inputs
        )

    def rows(self, unit: str) -> list[Row]:
        """One row per distinct (pixel size, source), naming the optics groups it served (per input).

        The pixel size of the coordinates, in tomography (``unit`` tomogram); of the micrographs else.
        """
        label = "Coordinate pixel size" if unit == "tomogram" else "Micrograph pixel size"
        used: dict[tuple, dict[str, list[str]]] = {}
        for p in self.each:
            groups = used.setdefault((p.psize, p.source), {}).setdefault(p.input if self.several_inputs else "", [])
            if p.optics_group != "all":
                groups.append(str(p.optics_group))
        rows: list[Row] = []
        for (psize, source), by_input in used.items():
            value = f"{psize:g} Å from {source}" if psize is not None else source
            # Each input named (with its optics groups, when it has them): every input's pixel size is said.
            named = [f"{name} {group_list(groups) if groups else ''}".strip() for name, groups in by_input.items()]
            named = [text for text in named if text]
            if named and len(used) > 1:
                value += f" ({'; '.join(named)})"
            rows.append((label if not rows else "", value))
        return rows

    def to_json(self) -> list[dict[str, Any]]:
        """A list, one entry per input and optics group: ``input``, ``optics_group``, ``psize``, ``source``."""
        return [p._asdict() for p in self.each]


def group_list(groups: list[str], most: int = 6) -> str:
    """Optics groups as a reader takes them in: ``groups 1-4, 7``; past ``most`` runs, how many."""
    if not all(g.isdigit() for g in groups):
        return f"group{'s' if len(groups) > 1 else ''} {', '.join(groups)}"
    numbers = sorted({int(g) for g in groups})
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    if len(runs) > most:
        return counted(len(numbers), "group")
    listed = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)
    return f"group{'s' if len(numbers) > 1 else ''} {listed}"
