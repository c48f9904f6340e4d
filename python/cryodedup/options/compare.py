"""``cryodedup compare``'s own options (:class:`CompareOptions`); it reads inputs as the particle job does."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..algo import MAX_CENTRE
from ..errors import CryodedupError
from .fields import OUTPUT, check_choices, choice, is_real_number, option
from .species import DEFAULT_MIN_DIST

__all__ = ["COMPARISON", "PANELS", "READING", "CompareOptions"]

#: The panels of ``cryodedup compare --help``, in their order: its own options, then the particle
#: job's it takes (marked ``taken_by=COMPARE``: how the inputs are read and moved).
COMPARISON = "Comparison"
READING = "Reading"
PANELS = (COMPARISON, READING, OUTPUT)


@dataclass
class CompareOptions:
    """How two pick sets are compared: the radius of a match and, against a reference, the F-beta's beta."""

    reference: str | None = option(
        None,
        "--reference",
        "The input that is the truth (its path as given, or 1 or 2): the other is scored by precision, recall and "
        "F-beta, each of its picks matched to at most one of the reference's within the radius.",
        metavar="INPUT",
        panel=COMPARISON,
    )
    radius: float = option(
        float(DEFAULT_MIN_DIST),
        "--radius",
        "Picks of the two inputs on one micrograph at most this many Å apart are the same particle.",
        type=float,
        metavar="Å",
        label="radius (Å)",
        panel=COMPARISON,
    )
    beta: float = option(
        1.0,
        "--beta",
        "With --reference: the weight of recall against precision in F-beta (1: the F1 score).",
        type=float,
        panel=COMPARISON,
    )
    over: str = choice(
        "shared",
        "--over",
        "The micrographs scored: shared, those both inputs cover (a picker's job names the micrographs it ran on, "
        "else those with picks of both), as a picker that never saw a micrograph says nothing of it; all, every "
        "micrograph with picks of either.",
        choices=["shared", "all"],
        panel=COMPARISON,
    )

    def check(self) -> None:
        """Raises a CryodedupError naming the first option out of its range."""
        if not (is_real_number(self.radius) and 0 < self.radius <= MAX_CENTRE):
            # (a number hundreds of digits long is said as Python's repr: 1e+300)
            raise CryodedupError(
                f"--radius must be a distance in Å above 0, to 1e150, got {float(self.radius)!r}"
                if is_real_number(self.radius)
                else f"--radius must be a distance in Å, got {self.radius!r}"
            )
        if not (is_real_number(self.beta) and 0 < self.beta < math.inf):
            raise CryodedupError(f"--beta must be a number above 0, got {self.beta!r}")
        check_choices(self)
        given: object = self.reference  # (the API's: any value)
        if given is not None and not (isinstance(given, str) and given.strip()):
            raise CryodedupError(f"--reference names an input (its path or 1 or 2), got {self.reference!r}")
