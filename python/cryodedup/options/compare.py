"""``cryodedup compare``'s own options (:class:`CompareOptions`); it reads inputs as the particle job does."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import click

from ..algo import MAX_CENTRE
from ..algo.czii import CHALLENGE_BETA, CHALLENGE_MULTIPLIER, CHALLENGE_RADII, CHALLENGE_WEIGHTS
from ..errors import CryodedupError, as_option_errors
from .fields import OUTPUT, check_choices, choice, is_real_number, option
from .species import DEFAULT_MIN_DIST

__all__ = ["COMPARISON", "PANELS", "READING", "CompareOptions", "czii_radius"]

#: The panels of ``cryodedup compare --help``, in their order: its own options, then the particle
#: job's it takes (marked ``taken_by=COMPARE``: how the inputs are read and moved).
COMPARISON = "Comparison"
READING = "Reading"
PANELS = (COMPARISON, READING, OUTPUT)


def _parse_weights(text: str) -> dict[str, float]:
    """``--weights``' ``NAME=W`` pairs (commas between): each species' weight, 0 or more.

    Raises ValueError saying what was expected.
    """
    weights: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        name, sep, number = item.rpartition("=")
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if not sep or not name.strip() or not (0 <= value < math.inf):
            raise ValueError(f"--weights takes NAME=W with W a number of 0 or more (ribosome=2), got {item!r}")
        if name.strip() in weights:
            raise ValueError(f"--weights: species {name.strip()!r} given twice")
        weights[name.strip()] = value
    return weights


class _SpeciesWeights(click.ParamType):
    """``--weights``: ``NAME=W`` pairs separated by commas."""

    name = "NAME=W"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The pairs as a dict."""
        if isinstance(value, dict):
            return value
        try:
            return _parse_weights(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)


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
    radius: float | None = option(
        None,
        "--radius",
        "Picks of the two inputs on one micrograph at most this many Å apart are the same particle "
        f"[default: {DEFAULT_MIN_DIST}; --metric czii: the challenge's radius of each of its species "
        "(apo-ferritin 60, beta-amylase 65, beta-galactosidase 90, ribosome 150, thyroglobulin 130, "
        "virus-like-particle 135), and picks of any other species are refused without it].",
        type=float,
        metavar="Å",
        label="radius (Å)",
        show_default=False,
        panel=COMPARISON,
    )
    beta: float | None = option(
        None,
        "--beta",
        "With --reference: the weight of recall against precision in F-beta (1: the F1 score) [default: 1; 4 "
        "with --metric czii, the challenge's].",
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

    metric: str = choice(
        "matching",
        "--metric",
        "With --reference, also: czii, the CZII cryo-ET challenge's score per species (a pick within its "
        "species' radius x --multiplier of a reference pick hits it; a second hit on one reference pick is a "
        "false positive; counts summed over the tomograms, F-beta per species, weighted by --weights), a sweep "
        "of the score threshold and the localisation error. matching: the one-to-one matching alone.",
        choices=["matching", "czii"],
        panel=COMPARISON,
    )
    multiplier: float = option(
        CHALLENGE_MULTIPLIER,
        "--multiplier",
        "--metric czii: a hit lies within this fraction of its species' radius (--radius, a copick object's own).",
        type=float,
        panel=COMPARISON,
    )
    weights: dict[str, float] = option(
        {},
        "--weights",
        "--metric czii: NAME=W pairs separated by commas, each species' weight in the weighted score [default: "
        "the challenge's for its species (apo-ferritin 1, beta-amylase 0, beta-galactosidase 2, ribosome 1, "
        "thyroglobulin 2, virus-like-particle 1); 1 for any other].",
        type=_SpeciesWeights(),
        metavar="NAME=W,...",
        show_default=False,
        panel=COMPARISON,
    )
    czii_weights: str = choice(
        "present",
        "--czii-weights",
        "--metric czii: the weights the weighted score divides by. present: those of the species the reference has "
        "picks of (a mean over what is scored); all: every challenge species' (1+0+2+1+2+1 = 7, with --weights' "
        "own), as the challenge's code divides, so a project of fewer species scores as the challenge would "
        "score it.",
        choices=["present", "all"],
        panel=COMPARISON,
    )

    def matching_radius(self) -> float:
        """--radius as given, else the default distance of a match (20 Å)."""
        return float(DEFAULT_MIN_DIST) if self.radius is None else float(self.radius)

    def resolved_beta(self) -> float:
        """--beta as given, else 1 (4 with --metric czii, the challenge's)."""
        if self.beta is not None:
            return float(self.beta)
        return CHALLENGE_BETA if self.metric == "czii" else 1.0

    def weight_total(self) -> float | None:
        """What ``--czii-weights all`` divides by: the challenge's weights with --weights' over them (None: present)."""
        if self.czii_weights != "all":
            return None
        return float(sum({**CHALLENGE_WEIGHTS, **self.weights}.values()))

    @as_option_errors
    def check(self) -> None:
        """Raises a CryodedupError naming the first option out of its range."""
        if self.radius is not None and not (is_real_number(self.radius) and 0 < self.radius <= MAX_CENTRE):
            # (a number hundreds of digits long is said as Python's repr: 1e+300)
            raise CryodedupError(
                f"--radius must be a distance in Å above 0, to 1e150, got {float(self.radius)!r}"
                if is_real_number(self.radius)
                else f"--radius must be a distance in Å, got {self.radius!r}"
            )
        if self.beta is not None and not (is_real_number(self.beta) and 0 < self.beta < math.inf):
            raise CryodedupError(f"--beta must be a number above 0, got {self.beta!r}")
        if not (is_real_number(self.multiplier) and 0 < self.multiplier < math.inf):
            raise CryodedupError(f"--multiplier must be a number above 0, got {self.multiplier!r}")
        given_weights: object = self.weights  # (the API's: any value)
        if not isinstance(given_weights, dict) or not all(
            isinstance(k, str) and is_real_number(w) and 0 <= w < math.inf for k, w in given_weights.items()
        ):
            raise CryodedupError(f"--weights gives each species a weight of 0 or more, got {self.weights!r}")
        check_choices(self)
        if self.metric == "czii" and self.reference is None:
            raise CryodedupError("--metric czii scores one input against the other: name the truth with --reference")
        given: object = self.reference  # (the API's: any value)
        if given is not None and not (isinstance(given, str) and given.strip()):
            raise CryodedupError(f"--reference names an input (its path or 1 or 2), got {self.reference!r}")


def czii_radius(radius: float | None, species: str) -> float:
    """--metric czii: a species' radius, ``radius`` (--radius's) else the challenge's for its species.

    A species the challenge does not score has no radius of its own here: refused, naming
    --radius (a silent default would score every pick at the wrong distance).
    """
    if radius is not None:
        return float(radius)
    if species in CHALLENGE_RADII:
        return CHALLENGE_RADII[species]
    known = ", ".join(f"{name} {radius:g}" for name, radius in CHALLENGE_RADII.items())
    raise CryodedupError(
        f"--metric czii: the reference's picks of {species!r} are of no species the CZII challenge scores "
        f"(its radii in Å: {known}), so they have no radius of the challenge's: give the particle's radius "
        "with --radius Å (a hit lies within it x --multiplier)"
    )
