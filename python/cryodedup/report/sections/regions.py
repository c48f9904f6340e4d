"""The masks' and edges' section (``--mask``, ``--edge``): the picks rejected outside a mask or near an edge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ...labels import counted
from .base import Row, Section

__all__ = ["MaskAndEdge"]


@dataclass(frozen=True)
class MaskAndEdge(Section):
    """``--mask`` and ``--edge``: what they rejected before the duplicates were looked for.

    ``masks``: the mask files used (None: no mask); ``label``: the mask's value taken as inside
    (None: above 0); ``outside_mask``: the picks outside it; ``edge_A``: ``--edge`` (None: not
    asked); ``at_edge``: the picks within it of an edge (inside the mask); ``sizes_from``: where
    the micrographs' sizes came from.
    """

    key: ClassVar[str] = "mask_and_edge"

    masks: tuple[str, ...] | None
    label: int | None
    outside_mask: int
    edge_A: float | None
    at_edge: int
    sizes_from: str | None

    def rows(self, unit: str) -> list[Row]:
        """A row for the mask (its files, inside, the picks outside) and one for the edge."""
        rows = []
        if self.masks is not None:
            inside = "above 0" if self.label is None else f"= {self.label}"
            files = self.masks[0] if len(self.masks) == 1 else f"{len(self.masks):,} masks, one per {unit}"
            rows.append(("Mask", f"{counted(self.outside_mask, 'pick')} rejected outside {files} (inside: {inside})"))
        if self.edge_A is not None:
            rows.append(
                (
                    "Edge",
                    f"{counted(self.at_edge, 'pick')} rejected within {self.edge_A:g} Å of the {unit}'s edge "
                    f"(sizes from {self.sizes_from})",
                )
            )
        return rows

    def to_json(self) -> dict[str, Any]:
        """``masks``, ``label``, ``outside_mask`` (a mask); ``edge_A``, ``at_edge``, ``sizes_from`` (--edge)."""
        document: dict[str, Any] = {}
        if self.masks is not None:
            document.update(masks=list(self.masks), label=self.label, outside_mask=self.outside_mask)
        if self.edge_A is not None:
            document.update(edge_A=self.edge_A, at_edge=self.at_edge, sizes_from=self.sizes_from)
        return document
