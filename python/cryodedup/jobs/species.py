"""The particle job's species (cryo-ET): assigned to the rows read, refused where they cannot be.

Each species is decided on its own, then between species (``jobs/particles/decide.py``,
:mod:`cryodedup.algo.species`, docs/design.md section 13).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CryodedupError
from ..particle_set import ParticleSet

if TYPE_CHECKING:
    from .particles.plan import SpeciesAsked

__all__ = ["assign_species"]

#: More distinct values than this in ``--species-column`` is no class column (RELION's 2D
#: classifications stop at a few hundred classes; template matching at tens of templates).
MAX_COLUMN_SPECIES = 1000


def check_species_column(particles: ParticleSet, species_column: str | None) -> None:
    """Refuses a ``--species-column`` that holds no classes: numbers not whole, or too many of them.

    A continuous column given by mistake (a score, a defocus) makes a species of nearly every
    pick: nothing is ever a duplicate, and nothing says why.
    """
    if not species_column or particles.species is None:
        return
    names = particles.species_names
    not_classes = [(name, why) for name in names if (why := _not_a_class_number(name))]
    if not_classes or len(names) > MAX_COLUMN_SPECIES:
        first, why = not_classes[0] if not_classes else ("", "")
        shown = first if len(first) <= 24 else f"{Decimal(first):.6g}"  # (1e300 read as its 301 digits)
        what = f"values like {shown} are {why}" if not_classes else "that is too many species"
        raise CryodedupError(
            f"--species-column {species_column}: {len(names):,} distinct values, {what}; "
            f"is it a class column? A species column holds class numbers (rlnClassNumber), at most "
            f"{MAX_COLUMN_SPECIES:,} of them"
        )


#: Class numbers are integers (RELION's int): a value beyond this is no class.
MAX_CLASS_NUMBER = 2**63


def _not_a_class_number(name: str) -> str | None:
    """Why a species column's value is no class number (None: it is one), read exactly: names may be beyond 2^53."""
    try:
        value = Decimal(name)
    except InvalidOperation:
        return "not numbers"
    if not value.is_finite():
        return "not numbers"
    if abs(value) >= MAX_CLASS_NUMBER:
        return "beyond any class number (2^63)"
    return None if value == value.to_integral_value() else "not whole numbers"


def assign_species(particles: ParticleSet, asked: SpeciesAsked) -> None:
    """``--species``: the species of each input, in the order of the inputs.

    Refuses the options of several species (``--cross-species``, ``--min-dist NAME=Å``) on
    particles that have none, and a ``--species-column`` that holds no classes. The one place
    species are assigned, for files and for data in memory alike.
    """
    if asked.column and particles.species is None:
        raise CryodedupError(
            "--species-column is read from RELION STAR files; name other inputs' species with --species"
        )
    check_species_column(particles, asked.column)
    if not asked.names:
        named = asked.min_dist or asked.min_dist_z or asked.ellipsoids
        if particles.species is None and (asked.cross_species or named):
            flag = "--cross-species" if asked.cross_species else "--min-dist NAME=Å"
            flag = "--min-dist-z NAME=Å" if not (asked.cross_species or asked.min_dist) else flag
            if asked.ellipsoids and not (asked.cross_species or asked.min_dist):
                flag = "--min-dist-ellipsoid NAME=A,B,C"
            raise CryodedupError(
                f"{flag}: these particles have no species; name them with --species (one per input), "
                "--species-column, or give a copick project"
            )
        return
    n_inputs = len(particles.inputs)
    if particles.species is not None:
        raise CryodedupError(
            "--species names each input's species, and these inputs carry their own (copick objects, "
            "--species-column): drop --species"
        )
    if len(asked.names) != n_inputs:
        raise CryodedupError(
            f"--species given {len(asked.names)} time(s) for {n_inputs} input(s): name the species of "
            "each input, in the order of the inputs (--species ribosome --species apoferritin)"
        )
    names = list(dict.fromkeys(asked.names))
    of_input = np.array([names.index(name) for name in asked.names], dtype=np.uint32)
    particles.species = of_input[particles.input_of]
    particles.species_names = names
