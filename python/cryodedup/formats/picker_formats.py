"""The picker formats cryodedup reads: one record each, the registry every use of them reads.

:mod:`cryodedup.formats.sniff` tells a picker's files from the records' suffixes and
:attr:`PickerFormat.sniff`, :mod:`cryodedup.formats.picks` reads them with
:attr:`PickerFormat.read`, reads a named score column again with
:attr:`PickerFormat.score_layout` and writes them back in their own format with
:attr:`PickerFormat.write`; the errors that list what is read, and the command line's help,
are made from the records. Adding a format: its reader module under ``formats/picks/`` and
its record in :data:`FORMATS` (docs/developers/index.md, "Extension points").

This module imports no reader (and no numpy): the format detector imports it, and a job
imports only the reader its inputs need.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Union

__all__ = [
    "FORMATS",
    "function",
    "name_suffixes",
    "pick_suffixes",
    "picker_format",
    "pickers_named",
    "sniffed",
    "table_suffixes",
]

#: A reader or writer: the function, or ``"module:function"``, imported when first used (the
#: detector imports no reader: a job imports only the reader its inputs need).
Function = Union[Callable[..., Any], str]  # (Python 3.9: no | between types outside annotations)


@dataclass(frozen=True)
class PickerFormat:
    """One picker format.

    Attributes
    ----------
    name : str
        ``Picks.format`` of its picks (the summary's ``formats``).
    picker : str
        The picker as the command line's help names it.
    suffixes : tuple of str
        Endings of its per-micrograph files, most specific first: a file, or a folder's files,
        so named are this format's (a ``.star`` file is told by its content, in sniff.py).
    found_as : str
        Where a folder holds its files, for the error on a folder without any.
    read_as : str
        What of it a file is read as, for the error on a file of no format.
    read : callable or str
        ``read(PickRead) -> Picks`` (:class:`cryodedup.formats.picks.PickRead`), or where it
        is, ``"module:function"``.
    table_suffixes : tuple of str
        Suffixes of a one-table output (topaz): a folder holding one such file is its output.
    sniff : callable or None
        ``sniff(first_line) -> bool``: whether a file not known by name is this format's.
    score_layout : tuple or None
        How a named ``--score`` column is read again: the layout of ``read_tables`` (``star``,
        ``tab``), the label that marks the loop of picks (None: none), the text of a missing
        value (None: none). None: the format has no named columns.
    write : callable, str or None
        Writes its own files: ``write(picks, mask, targets, tmp)`` writes the kept (``mask``
        True) and rejected picks to ``targets[subset][k]``, the subsets of input file ``k``,
        through the temporary paths ``tmp[target]`` (or ``"module:function"``). None: each
        file's text around its rows, and each kept row, copied (every line-based format).
    relion_rows : bool
        Its rows are RELION coordinate STAR rows, copied as they are into a RELION coordinate job.
    kinds : tuple of str
        The kinds of its files sniff.py tells apart besides ``name`` (RELION: a job's list,
        ``relion-list``; a 3.x job's ``coords_suffix`` file, ``relion-suffix``), given to
        ``read`` as ``PickRead.kind``.
    """

    name: str
    picker: str
    suffixes: tuple[str, ...]
    found_as: str
    read_as: str
    read: Function
    table_suffixes: tuple[str, ...] = ()
    sniff: Callable[[str], bool] | None = None
    score_layout: tuple[str, str | None, str | None] | None = None
    write: Function | None = None
    relion_rows: bool = False
    kinds: tuple[str, ...] = ()


def _has_topaz_header(first_line: str) -> bool:
    return "image_name" in first_line.split() or "image_name" in first_line.split("\t")


#: Every picker format, in the order a folder's files are looked for (``.cbox`` before
#: ``.box``: crYOLO's carry the confidence).
FORMATS: list[PickerFormat] = [
    PickerFormat(
        name="relion",
        picker="RELION AutoPick/ManualPick jobs",
        suffixes=("_autopick.star", "_manualpick.star"),
        found_as="RELION autopick.star, coords_suffix_*.star or *_autopick.star",
        read_as="RELION coordinate STAR",
        read="cryodedup.formats.picks.relion:read",
        score_layout=("star", "rlnCoordinateX", None),
        relion_rows=True,
        kinds=("relion-list", "relion-suffix"),
    ),
    PickerFormat(
        name="eman2-json",
        picker="EMAN",
        suffixes=("_info.json",),
        found_as="EMAN2 info/*_info.json",
        read_as="EMAN2 _info.json",
        read="cryodedup.formats.picks.eman:read_info_json",
        write="cryodedup.formats.picks.eman:write_info_json",
    ),
    PickerFormat(
        name="cryolo-cbox",
        picker="crYOLO",
        suffixes=(".cbox",),
        found_as="crYOLO .cbox/.star/.box",
        read_as="crYOLO .cbox/.star",
        read="cryodedup.formats.picks.cryolo:read_cbox",
        score_layout=("star", "CoordinateX", "<NA>"),
    ),
    PickerFormat(
        name="eman-box",
        picker="EMAN",
        suffixes=(".box",),
        found_as="EMAN .box",
        read_as="EMAN .box",
        read="cryodedup.formats.picks.eman:read_box",
    ),
    PickerFormat(
        name="topaz",
        picker="topaz",
        suffixes=(),
        table_suffixes=(".txt", ".tsv", ".csv"),
        found_as="one topaz table",
        read_as="topaz table with an image_name header",
        read="cryodedup.formats.picks.topaz:read_table",
        sniff=_has_topaz_header,
        score_layout=("tab", None, None),
    ),
]


def picker_format(name: str) -> PickerFormat:
    """The record of format ``name`` (a ``Picks.format``, or a kind of RELION file: ``relion-list``)."""
    for found in FORMATS:
        if name == found.name or name in found.kinds:
            return found
    raise KeyError(f"no picker format {name!r}")


def pickers_named() -> str:
    """The pickers whose files are read, for the command line's help: ``RELION ..., crYOLO, ...``."""
    return ", ".join(dict.fromkeys(f.picker for f in FORMATS))


def name_suffixes() -> list[tuple[str, str]]:
    """(ending, format) of the files known by name, most specific first, then ``(".star", "star")``."""
    return [(suffix, f.name) for f in FORMATS for suffix in f.suffixes] + [(".star", "star")]


def table_suffixes() -> tuple[str, ...]:
    """Suffixes of the one-table outputs (topaz)."""
    return tuple(s for f in FORMATS for s in f.table_suffixes)


def pick_suffixes() -> frozenset[str]:
    """The suffixes of picker coordinate files that are not STAR files (a STAR is told by its content).

    Made once for the formats registered (every input is sniffed against them: an audit of 100,000 sets, issue 99),
    and again when one is added to ``FORMATS``.
    """
    return _pick_suffixes(tuple(FORMATS))


@lru_cache(maxsize=1)
def _pick_suffixes(formats: tuple[PickerFormat, ...]) -> frozenset[str]:
    return frozenset({Path(f"x{s}").suffix for f in formats for s in (*f.suffixes, *f.table_suffixes)} - {".star"})


def sniffed(first_line: str) -> str | None:
    """The format of a file not known by name whose first line shows it, or None."""
    return next((f.name for f in FORMATS if f.sniff is not None and f.sniff(first_line)), None)


def function(found: Function) -> Callable[..., Any]:
    """A record's reader or writer, imported if named."""
    if callable(found):
        return found
    module, name = found.split(":")
    return getattr(importlib.import_module(module), name)
