"""What the jobs' shard records share: a ``shard.json`` document checked field by field, then typed.

A record is a frozen dataclass whose nested records name their type in the field's metadata
(:data:`RECORD_OF`); its spec says what each field must be (a check and its words, or a nested
spec). :func:`wrong_field` names the first field an edited or damaged document gets wrong, and
:func:`typed` makes the record of a document it passed. The micrograph job's shards
(``micrographs/shard_record.py``) and the particle job's (``particles/shard_record.py``) use both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

__all__ = ["MARKER", "RECORD_OF", "list_of", "number", "or_null", "shown", "text", "typed", "whole", "wrong_field"]

#: A shard's record, written last: its completion marker.
MARKER = "shard.json"

#: A field's metadata: the record type its JSON object is read into.
RECORD_OF = "record"

Record = TypeVar("Record")


def typed(kind: type[Record], document: dict[str, Any]) -> Record:
    """The record ``kind`` of a JSON object :func:`wrong_field` checked: each field by name, nested ones typed."""
    values = {}
    for f in fields(kind):  # type: ignore[arg-type]  # (a dataclass)
        nested = f.metadata.get(RECORD_OF)
        values[f.name] = typed(nested, document[f.name]) if nested else document[f.name]
    return kind(**values)


def whole(value: object) -> bool:
    """Whether a JSON value is a whole number (not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


def number(value: object) -> bool:
    """Whether a JSON value is a number (not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def list_of(item: Callable[[object], bool], length: int | None = None) -> Callable[[object], bool]:
    """The check of a list whose items pass ``item`` (of ``length`` items, if given)."""

    def check(value: object) -> bool:
        return isinstance(value, list) and (length is None or len(value) == length) and all(map(item, value))

    return check


def or_null(check: Callable[[object], bool]) -> Callable[[object], bool]:
    """The check ``check``, null allowed too."""
    return lambda value: value is None or check(value)


def text(value: object) -> bool:
    """Whether a JSON value is a string."""
    return isinstance(value, str)


def wrong_field(record: dict[str, Any], spec: dict[str, Any], where: str = MARKER) -> str:
    """What is wrong with the first field of ``record`` that ``spec`` does not allow ("" when none)."""
    for name, expected in spec.items():
        field = f"{where}.{name}" if where != MARKER else f"{MARKER}: {name}"
        if name not in record:
            return f"{field} is missing"
        value = record[name]
        if isinstance(expected, dict):
            if not isinstance(value, dict):
                return f"{field} is {shown(value)}, expected an object"
            wrong = wrong_field(value, expected, field)
            if wrong:
                return wrong
        elif not expected[0](value):
            return f"{field} is {shown(value)}, expected {expected[1]}"
    return ""


def shown(value: object) -> str:
    """A JSON value as written, shortened."""
    dumped = json.dumps(value)
    return dumped if len(dumped) <= 60 else dumped[:60] + "..."
