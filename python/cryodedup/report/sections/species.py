"""The species' section: each species' picks, kept and distance; with ``--cross-species``, who displaced whom."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .base import Row, Section

__all__ = ["CrossSpecies", "Species", "SpeciesCounts"]

#: Species listed in the summary table (``--json`` lists each).
SPECIES_ROWS = 20


@dataclass(frozen=True)
class SpeciesCounts:
    """One species: its picks, kept, displaced by another species, its distance (in z: ``--min-dist-z NAME=Å``), radius.

    ``radius_A``: the radius ``--cross-species`` compares; without it, the object's own where it has one.
    """

    species: str
    particles: int
    kept: int
    displaced_by_other_species: int
    min_dist_A: float
    min_dist_z_A: float | None
    radius_A: float | None
    #: ``--min-dist-ellipsoid NAME=A,B,C``: the semi-axes (Å) in the species' own frame, which decided instead.
    ellipsoid_A: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class CrossSpecies:
    """``--cross-species``: the overlap factor, the rule, and ``won[a][b]``: picks of ``a`` that displaced ``b``'s."""

    overlap: float
    rule: str
    won: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Species(Section):
    """Several species (``--species-column``, copick objects): each one's counts and distance, and who displaced whom.

    ``z_given``: ``--min-dist-z NAME=Å`` named distances in z (each species' ``min_dist_z_A`` in the document).
    """

    key: ClassVar[str] = "species"

    names: tuple[str, ...]
    per_species: tuple[SpeciesCounts, ...]
    z_given: bool = False
    cross: CrossSpecies | None = None

    @property
    def distances_differ_in_z(self) -> bool:
        """Whether some species has a distance in z of its own (the minimum distance row then points here)."""
        return any(p.min_dist_z_A is not None for p in self.per_species)

    def rows(self, unit: str) -> list[Row]:
        """Per species: picks, kept, distance (radius); with --cross-species, the table of who displaced whom."""
        shown = self.per_species[:SPECIES_ROWS]
        lines = [self._line(p) for p in shown]
        hidden = len(self.per_species) - len(shown)
        if hidden:
            lines.append(f"... and {hidden:,} more species (--json lists each)")
        rows = [("Species", "\n".join(lines))]
        if self.cross and hidden:
            rows.append(("Cross-species", f"a table of {len(self.names):,} species: --json has it ('won')"))
        elif self.cross:
            rows.append(("Cross-species", self._table(self.cross)))
        return rows

    def _line(self, p: SpeciesCounts) -> str:
        """One species: ``NAME: 10 in, 8 kept (min dist 20 Å, radius 60 Å), 1 displaced by another species``."""
        radius = "" if p.radius_A is None else f", radius {p.radius_A:g} Å"
        if p.min_dist_z_A is not None:
            radius = f", {p.min_dist_z_A:g} Å in z{radius}"
        lost = f", {p.displaced_by_other_species:,} displaced by another species" if self.cross else ""
        rule = f"min dist {p.min_dist_A:g} Å"
        if p.ellipsoid_A is not None:
            rule = "ellipsoid " + " x ".join(f"{a:g}" for a in p.ellipsoid_A) + " Å in its own frame"
        return f"{p.species}: {p.particles:,} in, {p.kept:,} kept ({rule}{radius}){lost}"

    def _table(self, cross: CrossSpecies) -> str:
        """The table of who displaced whom: kept species by row, displaced by column."""
        names = self.names
        width = max(len(n) for n in names)
        header = " " * width + "  " + "  ".join(f"{n:>{max(len(n), 5)}}" for n in names)
        table = [f"kept \\ displaced ({cross.rule}):", header]
        for a, name in enumerate(names):
            cells = ("-" if a == b else f"{cross.won[a][b]:,}" for b in range(len(names)))
            table.append(f"{name:<{width}}  " + "  ".join(f"{c:>{max(len(n), 5)}}" for c, n in zip(cells, names)))
        return "\n".join(table)

    def to_json(self) -> dict[str, Any]:
        """``names``, ``per_species``; ``cross_species`` (its ``overlap``, ``rule``, ``won`` and ``pairs``)."""
        document: dict[str, Any] = {
            "names": list(self.names),
            "per_species": [self._entry(p) for p in self.per_species],
        }
        if self.cross is not None:
            won, names = self.cross.won, self.names
            document["cross_species"] = {
                "overlap": self.cross.overlap,
                "rule": self.cross.rule,
                "won": [list(row) for row in won],
                "pairs": [
                    {
                        "a": names[a],
                        "b": names[b],
                        "conflicts": won[a][b] + won[b][a],
                        "a_won": won[a][b],
                        "b_won": won[b][a],
                    }
                    for a in range(len(names))
                    for b in range(a + 1, len(names))
                ],
            }
        return document

    def _entry(self, p: SpeciesCounts) -> dict[str, Any]:
        """One species in the document: ``rejected`` made; ``min_dist_z_A`` where distances in z were named."""
        entry: dict[str, Any] = {
            "species": p.species,
            "particles": p.particles,
            "kept": p.kept,
            "rejected": p.particles - p.kept,
            "displaced_by_other_species": p.displaced_by_other_species,
            "min_dist_A": p.min_dist_A,
        }
        if self.z_given:
            entry["min_dist_z_A"] = p.min_dist_z_A
        entry["radius_A"] = p.radius_A
        if p.ellipsoid_A is not None:
            entry["ellipsoid_A"] = list(p.ellipsoid_A)
        return entry
