"""The species' options' types: ``--min-dist`` as Å or ``NAME=Å`` pairs, ``--radius`` as pairs.

The options of several species, with which ``fields.py`` and ``particles.py`` declare ``--min-dist``,
``--min-dist-z``, ``--min-dist-ellipsoid`` and ``--radius`` (and ``--mic-psize`` its ``INPUT=Å`` pairs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import click

__all__ = [
    "DEFAULT_MIN_DIST",
    "DefaultDistance",
    "EllipsoidAxes",
    "MinDistance",
    "NamedDistance",
    "SpeciesDistances",
    "SpeciesEllipsoids",
    "named_distances",
    "number_type",
    "parse_ellipsoids",
    "parse_named_distances",
]


class DefaultDistance(float):
    """The default ``--min-dist`` (20 Å), told apart from a distance given: copick objects then take their radius."""


#: ``--min-dist`` when not given.
DEFAULT_MIN_DIST = DefaultDistance(20.0)


@dataclass(frozen=True)
class SpeciesDistances:
    """A ``--min-dist`` of ``NAME=Å`` pairs (and at most one bare distance, for the species not named)."""

    default: float | None
    by_species: dict[str, float]


def parse_named_distances(
    text: str, what: str, bare: bool, named: str = "species"
) -> tuple[float | None, dict[str, float]]:
    """``"60"``, ``"ribosome=150,apoferritin=60"`` or both: the bare distance (when ``bare``) and the pairs.

    ``named``: what a pair's name is (a species; an input for ``--mic-psize``). Raises
    ValueError with what was expected.
    """
    default: float | None = None
    pairs: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        name, sep, number = item.rpartition("=")
        if not sep and not bare:
            raise ValueError(f"{what} takes NAME=Å (e.g. ribosome=150), got {item!r}")
        try:
            value = float(number)
        except ValueError:
            pair = "NAME" if named == "species" else named.upper()  # (an input's pixel size: INPUT=Å)
            raise ValueError(f"{what} takes {'Å or ' if bare else ''}{pair}=Å, got {item!r}") from None
        if sep and not name.strip():
            raise ValueError(f"{what}: {item!r} names no {named} before '='")
        if sep and name.strip() in pairs:
            raise ValueError(f"{what}: {named} {name.strip()!r} given twice")
        if not sep and default is not None:
            plural = "distances" if named == "species" else "values"
            raise ValueError(f"{what}: two {plural} without a {named} name ({default:g} and {value:g})")
        if sep:
            pairs[name.strip()] = value
        else:
            default = value
    return default, pairs


class NumberRange(click.FloatRange):
    """A float option's range (click's ``FloatRange``): its bounds, NaN refused, which no bound compares with."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """A float within the range, never NaN."""
        if isinstance(value, str) and _is_nan(value):
            self.fail(f"{value!r} is not a number; give a finite value", param, ctx)
        return super().convert(value, param, ctx)


def _is_nan(text: str) -> bool:
    try:
        return math.isnan(float(text))
    except ValueError:
        return False


def number_type(kind: Any) -> Any:
    """A ``FloatRange`` option's type with NaN refused as the range refuses infinities (else ``kind``).

    (A plain float option's value is checked by its job's options, ``check``, NaN with infinities.)
    """
    if isinstance(kind, click.FloatRange) and not isinstance(kind, NumberRange):
        return NumberRange(kind.min, kind.max, kind.min_open, kind.max_open, kind.clamp)
    return kind


class MinDistance(click.types.FloatParamType):
    """``--min-dist``: Å, or ``NAME=Å`` pairs separated by commas (one species each), or both."""

    name = "float"  # (click says "not a valid float" for a non-number, as before)

    def __init__(self, flag: str = "--min-dist") -> None:
        self.flag = flag  # (comparepicks' --radius takes the same values: each object's own)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """A float for a bare distance, else :class:`SpeciesDistances`."""
        if isinstance(value, (float, SpeciesDistances)):
            return value  # the default (DEFAULT_MIN_DIST kept as it is)
        if "=" not in str(value) and "," not in str(value):
            return super().convert(value, param, ctx)  # a distance alone: click's own words for a non-number
        try:
            default, pairs = parse_named_distances(str(value), self.flag, bare=True)
        except ValueError as err:
            self.fail(str(err), param, ctx)
        return SpeciesDistances(default, pairs) if pairs else default


class NamedDistance(click.ParamType):
    """``--radius``: ``NAME=Å`` (commas separate several)."""

    name = "NAME=Å"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The pairs as a dict."""
        if isinstance(value, dict):
            return value
        try:
            return parse_named_distances(str(value), "--radius", bare=False)[1]
        except ValueError as err:
            self.fail(str(err), param, ctx)


@dataclass(frozen=True)
class SpeciesEllipsoids:
    """A ``--min-dist-ellipsoid``: one ellipsoid's semi-axes for every species (``default``) and ``NAME=A,B,C`` ones."""

    default: tuple[float, float, float] | None
    by_species: dict[str, tuple[float, float, float]]


def parse_ellipsoids(text: str) -> SpeciesEllipsoids:
    """``"150,60,60"``, ``"ribosome=150,60,60,apoferritin=60,60,60"`` or both: groups of three Å, maybe named.

    Raises ValueError with what was expected.
    """
    expected = "--min-dist-ellipsoid takes A,B,C (Å along the particle's x, y and z) or NAME=A,B,C groups"
    groups: list[tuple[str | None, list[float]]] = []
    for item in (part.strip() for part in text.split(",")):
        label, sep, number = item.rpartition("=")
        if sep and not label.strip():
            raise ValueError(f"--min-dist-ellipsoid: {item!r} names no species before '='")
        if sep or not groups or len(groups[-1][1]) == 3:
            groups.append((label.strip() if sep else None, []))
        try:
            groups[-1][1].append(float(number))
        except ValueError:
            raise ValueError(f"{expected}, got {item!r}") from None
    default: tuple[float, float, float] | None = None
    by_species: dict[str, tuple[float, float, float]] = {}
    for species, axes in groups:
        if len(axes) != 3:
            shown = ",".join(f"{a:g}" for a in axes)
            raise ValueError(
                f"{expected}: {shown} is not three"
                if species is None
                else f"{expected}: {species}={shown} is not three"
            )
        semi_axes = (axes[0], axes[1], axes[2])
        if species is None:
            if default is not None:
                raise ValueError("--min-dist-ellipsoid: two ellipsoids without a species name")
            default = semi_axes
        elif species in by_species:
            raise ValueError(f"--min-dist-ellipsoid: species {species!r} given twice")
        else:
            by_species[species] = semi_axes
    return SpeciesEllipsoids(default, by_species)


class EllipsoidAxes(click.ParamType):
    """``--min-dist-ellipsoid``: ``A,B,C`` in Å, or ``NAME=A,B,C`` groups separated by commas, or both."""

    name = "A,B,C"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """:class:`SpeciesEllipsoids`."""
        if isinstance(value, SpeciesEllipsoids):
            return value
        try:
            return parse_ellipsoids(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)


def named_distances(given: Any) -> SpeciesDistances | None:
    """A distance given with ``NAME=Å`` pairs: the command line's, or the API's text (``"ribosome=150,60"``).

    None for a distance alone, or a text that is no pairs (refused by check(): a number expected).
    """
    if isinstance(given, SpeciesDistances):
        return given
    if not (isinstance(given, str) and "=" in given):
        return None
    try:
        default, pairs = parse_named_distances(given, "--min-dist", bare=True)
    except ValueError:
        return None
    return SpeciesDistances(default, pairs)
