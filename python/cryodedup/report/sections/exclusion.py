"""Exclusion in each particle's own frame (``--min-dist-ellipsoid``): the ellipsoids and the rule that decided."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Row, Section

__all__ = ["OwnFrameExclusion", "SpeciesEllipsoid"]

#: The rule, as the summary says it (docs/developers/decisions/anisotropic-distances.md).
OWN_FRAME_RULE = (
    "two particles are duplicates when either centre lies inside the other's ellipsoid, turned by that "
    "particle's pose (semi-axes along its own x, y, z)"
)


@dataclass(frozen=True)
class SpeciesEllipsoid:
    """One ellipsoid: its semi-axes in Å along the particle's x, y and z; ``species`` None for all of them."""

    species: str | None
    semi_axes_A: tuple[float, float, float]


@dataclass(frozen=True)
class OwnFrameExclusion(Section):
    """``--min-dist-ellipsoid``: each ellipsoid, the poses that turned it, and the rule.

    ``every_species``: whether every particle was decided by an ellipsoid (else the species not
    named kept ``--min-dist``'s sphere, said in the Species row).
    """

    key: ClassVar[str] = "own_frame_exclusion"

    ellipsoids: tuple[SpeciesEllipsoid, ...]
    poses: str
    every_species: bool
    rule: str = OWN_FRAME_RULE

    def rows(self, unit: str) -> list[Row]:
        """One row: the ellipsoids (one line each), the poses and the rule."""
        lines = [
            ("" if e.species is None else f"{e.species}: ")
            + " x ".join(f"{a:g}" for a in e.semi_axes_A)
            + " Å semi-axes (x, y, z)"
            for e in self.ellipsoids
        ]
        if not self.every_species:
            lines.append("other species: --min-dist (a sphere)")
        lines.append(f"turned by each particle's pose ({self.poses}); duplicates: either centre inside the other's")
        return [("Exclusion ellipsoid", "\n".join(lines))]
