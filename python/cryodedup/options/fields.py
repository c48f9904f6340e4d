"""How a job's option is declared once: its field, its flag, its help; the checks every job's options share.

A job's options are a dataclass whose fields :func:`option` makes: the field's default, and
in its metadata the :class:`Flag` (the command line's flag, click type, help), from which
``commands.py`` makes the click option and report.html its label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..errors import CryodedupError, alternatives
from .species import number_type, parse_named_distances

__all__ = [
    "CENTRES",
    "CLUSTER",
    "COLLECTION",
    "COMPARE",
    "COPICK",
    "DECISION",
    "MATCH_MICROGRAPHS_HELP",
    "NOT_GIVEN",
    "OUTPUT",
    "PLOT_HELP",
    "SCORES",
    "Flag",
    "InputPixelSizes",
    "PixelSizes",
    "Seed",
    "check_choices",
    "choice",
    "insist_psize_option",
    "is_real_number",
    "is_whole_number",
    "marked_options",
    "option",
    "overrides_option",
    "path_type",
    "project_dir_option",
    "shown_values",
    "taken_by",
]


class Seed(click.ParamType):
    """A non-negative integer that fits in 64 bits (click's IntRange would print the range)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """The seed as an int; anything else fails with the reason."""
        try:
            seed = int(value)
        except (TypeError, ValueError):
            seed = -1
        if not 0 <= seed < 2**64:
            self.fail(f"{value!r} is not a non-negative integer below 2**64", param, ctx)
        return seed


@dataclass(frozen=True)
class InputPixelSizes:
    """A ``--mic-psize`` of ``INPUT=Å`` pairs (and at most one bare Å, for the inputs not named)."""

    default: float | None
    by_input: dict[str, float]


class PixelSizes(click.types.FloatParamType):
    """``--mic-psize``: Å, or ``INPUT=Å`` pairs separated by commas (an input named as ``--prefer`` names it)."""

    name = "float"  # (click says "not a valid float" for a non-number, as before)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """A float for one pixel size, else :class:`InputPixelSizes`."""
        if isinstance(value, (float, InputPixelSizes)):
            return value
        if "=" not in str(value) and "," not in str(value):
            return super().convert(value, param, ctx)
        try:
            default, pairs = parse_named_distances(str(value), "--mic-psize", bare=True, named="input")
        except ValueError as err:
            self.fail(str(err), param, ctx)
        return InputPixelSizes(default, pairs) if pairs else default


#: A :class:`Flag`'s default left to click.
NOT_GIVEN = object()


@dataclass(frozen=True)
class Flag:
    """One option as the command line shows it: the keywords of ``click.option`` beside its flags.

    ``name``: the command's parameter name where it is not the flag's (``--json`` is ``as_json``).
    ``default``: :data:`NOT_GIVEN` leaves it to click (a switch's is False, a repeated option's
    empty, a required option's none), which tells it from a default of None.
    ``panel``: the panel of the command's ``--help`` it sits in (``commands.py`` lists each
    command's panels in order; an option in none is refused there). ``essential``: among the
    options most runs need, all that ``-h`` shows.
    """

    flags: tuple[str, ...]
    help: str
    type: Any = None
    default: Any = None
    show_default: bool = False
    is_flag: bool = False
    multiple: bool = False
    metavar: str | None = None
    required: bool = False
    name: str | None = None
    label: str = ""  # in report.html's parameters (the field's name with spaces without one)
    panel: str = ""
    essential: bool = False

    def click_args(self) -> tuple[tuple[str, ...], dict[str, Any]]:
        """The arguments of ``click.option`` for this option."""
        kwargs: dict[str, Any] = {"help": self.help}
        for key in ("type", "metavar"):
            if getattr(self, key) is not None:
                kwargs[key] = getattr(self, key)
        if self.type is not None:  # (NaN passes every range check: refused where the value is read)
            kwargs["type"] = number_type(self.type)
        if self.default is not NOT_GIVEN:
            kwargs["default"] = self.default
        for key in ("show_default", "is_flag", "multiple", "required"):  # (label, panel: the report's, the help's)
            if getattr(self, key):
                kwargs[key] = True
        return ((self.name, *self.flags) if self.name else self.flags), kwargs


#: An option marked ``affects=SCORES`` changes the micrograph job's scores of a pair (a stored
#: pair is scored again, a shard of another run is refused); ``affects=DECISION`` changes which
#: pairs are scored or how they are decided (a shard of another run is refused), or which
#: particles are duplicates (a particle ``--update`` store records it and refuses a round given
#: another value; the options ``--update`` refuses outright are not marked).
SCORES = "scores"
DECISION = "decision"
MARKS = (SCORES, DECISION)

#: Who takes a particle job's option besides ``cryodedup particles`` (``taken_by=``):
#: ``cryodedup compare`` (how the inputs are read and moved), ``copick process dedup`` (what
#: concerns a copick project), :func:`cryodedup.api.remove_duplicate_centres` (the decision on
#: centres alone: no file read).
COMPARE = "compare"
COPICK = "copick"
CENTRES = "centres"
TAKERS = (COMPARE, COPICK, CENTRES)

#: The panels of ``--help`` that several commands share (the options that are no job's field among them).
OUTPUT = "Output"
COLLECTION = "During collection"
CLUSTER = "Cluster"


def option(
    default: Any, flag: str, help: str, *, affects: str | None = None, taken_by: Sequence[str] = (), **how: Any
) -> Any:
    """A job's field with its command-line option (``how``: :class:`Flag`'s other fields, ``panel=`` among them).

    A list default (``--metadata``, repeated) is made anew for each options object.
    ``affects``: :data:`SCORES` or :data:`DECISION` (see :func:`marked_options`); ``taken_by``:
    among :data:`TAKERS` (see :func:`taken_by`).
    """
    given = NOT_GIVEN if default is False or isinstance(default, list) else default
    how.setdefault("show_default", given is not None and given is not NOT_GIVEN)  # the help shows every default
    metadata: dict[str, Any] = {"flag": Flag((flag,), help, default=given, **how)}
    if affects is not None:
        if affects not in MARKS:
            raise ValueError(f"affects is {SCORES!r} or {DECISION!r}, got {affects!r}")
        metadata["affects"] = affects
    if taken_by:
        unknown = sorted(set(taken_by) - set(TAKERS))
        if unknown:
            raise ValueError(f"taken_by names {alternatives(TAKERS)}, got {unknown[0]!r}")
        metadata["taken_by"] = tuple(taken_by)
    if isinstance(default, (list, dict)):
        return field(default_factory=type(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def marked_options(options: type, *marks: str) -> tuple[str, ...]:
    """The fields of the options class ``options`` marked ``affects=`` one of ``marks``, in declaration order."""
    return tuple(f.name for f in fields(options) if f.metadata.get("affects") in marks)


def taken_by(options: type, taker: str) -> tuple[str, ...]:
    """The fields of the options class ``options`` marked ``taken_by=`` ``taker``, in declaration order."""
    return tuple(f.name for f in fields(options) if taker in f.metadata.get("taken_by", ()))


def choice(default: str, flag: str, help: str, *, choices: Sequence[str], **how: Any) -> Any:
    """A job's field that takes one of ``choices``: click offers them, :func:`check_choices` refuses others."""
    return option(default, flag, help, type=click.Choice(list(choices)), **how)


def check_choices(options: object) -> None:
    """Refuses a value not among its option's choices, a flag not True or False, or a text for a list.

    (The API's options arrive unchecked.)
    """
    for f in fields(options):  # type: ignore[arg-type]
        flag = f.metadata.get("flag")
        if flag is not None and flag.multiple and isinstance(getattr(options, f.name), (str, bytes)):
            # The API's species="ab" would be read letter by letter, as two species.
            value = getattr(options, f.name)
            raise TypeError(
                f"{f.name} is a list ({flag.flags[0]} repeated), got the text {value!r}: give [{value!r}] for one"
            )
        if flag is not None and flag.is_flag and not isinstance(getattr(options, f.name), (bool, np.bool_)):
            # (the API's remove_entirely="no" is a true value: every particle with a neighbour removed)
            raise CryodedupError(f"{flag.flags[0]} is on or off (True or False), got {getattr(options, f.name)!r}")
        if flag is not None and isinstance(flag.type, click.Choice):
            value = getattr(options, f.name)
            if value not in flag.type.choices:
                raise CryodedupError(f"{flag.flags[0]} is {alternatives(flag.type.choices)}, got {value!r}")


def path_type(file_okay: bool = True, dir_okay: bool = True) -> click.Path:
    """A path option's click type: a :class:`pathlib.Path`."""
    if not file_okay:
        return click.Path(path_type=Path, file_okay=False)
    return click.Path(path_type=Path, dir_okay=dir_okay)


def project_dir_option(help: str, **how: Any) -> Any:
    """``--project-dir`` of either job: the folder relative paths start from (``help`` says which paths)."""
    return option(None, "--project-dir", help, type=path_type(file_okay=False), label="project folder", **how)


def overrides_option(what: str, **how: Any) -> Any:
    """``--overrides`` of either job: a user's corrections (``formats/overrides.py``); ``what`` says what it forces."""
    return option(
        None,
        "--overrides",
        f"A CSV of corrections (kind,input,row,name,partner,action; docs/reference/outputs.md): {what} The "
        "report page and the napari plugin write it.",
        type=path_type(dir_okay=False),
        metavar="CSV",
        label="overrides",
        **how,
    )


def insist_psize_option(typed: str, sources: str, **how: Any) -> Any:
    """``--insist-psize`` of either job: use the pixel size ``typed`` even where ``sources`` contradict it."""
    return option(
        False,
        "--insist-psize",
        f"Use {typed} even where {sources} contradict it (by default a contradiction is refused; "
        "docs/developers/decisions/centres-and-pixel-sizes.md). The summary says the value was insisted on.",
        is_flag=True,
        label="pixel size insisted on",
        **how,
    )


MATCH_MICROGRAPHS_HELP = (
    "How micrographs of different inputs are matched: path (exact), name (file name without folders, "
    "extensions, CryoSPARC's uid and motion-correction endings such as _patch_aligned_doseweighted), auto "
    "(name between inputs that share no path). A file name in two folders of one input is never merged."
)
PLOT_HELP = "Also write pictures (PNG) and report.html to OUTDIR."


def is_real_number(value: object) -> bool:
    """An int or float (numpy's included), not a bool or a string."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def is_whole_number(value: object) -> bool:
    """Whether ``value`` is an int (numpy's included, not a bool): options from the Python API arrive unchecked."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def shown_values(options: object) -> tuple[dict[str, Any], frozenset[str]]:
    """An options object's values by field (``plot`` aside) and the fields left at their defaults.

    What report.html's Parameters table shows (``plot`` is the report's own doing): a job's plan
    keeps them, and the table is made from the plan's, never from the options object.
    """
    values, defaults = {}, set()
    for f in fields(options):  # type: ignore[arg-type]
        if f.name == "plot":
            continue
        value = values[f.name] = getattr(options, f.name)
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if default is not MISSING and value == default:
            defaults.add(f.name)
    return values, frozenset(defaults)
