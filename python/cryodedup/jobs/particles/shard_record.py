"""A particle shard's ``shard.json``, typed: which run, what it read, its decision's file, what deciding cost.

The one place the marker's JSON is read: :func:`read_shard_record` checks every field the merge
reads (an edited or damaged file names its field) and returns a :class:`ShardRecord`.
:func:`run_record` makes what two shards of one run share (inputs and options), and
:func:`options_of` gives the options back to the merge.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ...errors import CryodedupError
from ...options import ParticleOptions
from ...paths import StrPath
from ..shard_json import MARKER, RECORD_OF, list_of, number, or_null, text, typed, whole, wrong_field
from ..store_db import first_changed

__all__ = [
    "DecisionFile",
    "RowsRead",
    "RunRecord",
    "ShardRecord",
    "ShardWork",
    "difference",
    "options_of",
    "read_shard_record",
    "run_record",
]

FORMAT = "cryodedup particle shard 1"

#: The options the merge gives (its pictures), not the shards: left out of a run's record.
MERGE_OPTIONS = ("plot", "plot_mics")


@dataclass(frozen=True)
class RunRecord:
    """What makes two shards parts of one run: the inputs and every option but the merge's.

    ``inputs``: absolute paths; ``given``: as the command named them (the outputs name them so).
    """

    inputs: list[str]
    given: list[str]
    options: dict[str, Any]

    def paths(self) -> list[str]:
        """The inputs as they were named where they are the same files from here (the merge's folder), else absolute."""
        same = all(os.path.abspath(g) == a for g, a in zip(self.given, self.inputs))
        return self.given if same else self.inputs


@dataclass(frozen=True)
class RowsRead:
    """What a shard read (the whole input, as every shard reads it): rows, micrographs, and a digest of them.

    ``digest``: SHA-256 of each row's input, micrograph, centre and score, as the decision takes
    them; two shards that read other files (changed between them) differ here.
    """

    rows: int
    micrographs: int
    digest: str


@dataclass(frozen=True)
class DecisionFile:
    """The size and SHA-256 of the shard's ``decision.npz``."""

    bytes: int
    sha256: str


@dataclass(frozen=True)
class ShardWork:
    """What the shard decided and what it cost: where it ran, its micrographs and rows, its seconds."""

    worker: str
    micrographs: int
    rows: int
    kept: int
    seconds: float


@dataclass(frozen=True)
class ShardRecord:
    """A complete particle shard's ``shard.json``."""

    shard: int
    shards: int
    run: RunRecord = field(metadata={RECORD_OF: RunRecord})
    read: RowsRead = field(metadata={RECORD_OF: RowsRead})
    decision_file: DecisionFile = field(metadata={RECORD_OF: DecisionFile})
    work: ShardWork = field(metadata={RECORD_OF: ShardWork})
    #: What the core counted of the shard's decision, added up by the merge: ``--prefer``'s and ``--select``'s.
    priority: dict[str, Any] | None = None
    selection: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The document ``shard.json`` holds: its format, then the fields in order."""
        return {"format": FORMAT, **asdict(self)}


def _as_json(value: Any) -> Any:
    """An option's value as JSON holds it (paths as text, tuples as lists)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    return value


def run_record(inputs: Sequence[StrPath], options: Mapping[str, Any]) -> RunRecord:
    """The run of ``inputs`` with ``options`` (the options' fields), as read back from shard.json."""
    values = {name: _as_json(value) for name, value in options.items() if name not in MERGE_OPTIONS}
    record = RunRecord([os.path.abspath(p) for p in inputs], [str(p) for p in inputs], values)
    return typed(RunRecord, json.loads(json.dumps(asdict(record))))


def options_of(run: RunRecord, plot: bool, plot_mics: int, where: Path) -> ParticleOptions:
    """The options the shards ran with, checked, with the merge's ``--plot``; an edited record refused in one line."""
    try:
        values = {
            f.name: _restored(f.type, run.options[f.name]) for f in fields(ParticleOptions) if f.name in run.options
        }
        options = ParticleOptions(**values, plot=plot, plot_mics=plot_mics)
        options.check()
    except (TypeError, ValueError, CryodedupError) as err:
        raise CryodedupError(f"{where}: run.options cannot be used ({err})") from None
    return options


def _restored(kind: Any, value: Any) -> Any:
    """An option's value from JSON, as the options hold it (``kind``: the field's annotation, as text)."""
    kind = str(kind)
    if value is None:
        return None
    if kind.startswith("Path"):
        return Path(value)
    if kind.startswith("tuple"):
        return tuple(value)
    if kind.startswith("dict[str, tuple"):
        if not isinstance(value, dict):  # (an edited record: refused by options_of, as a TypeError)
            raise TypeError(f"an object expected, not {json.dumps(value)}")
        return {k: tuple(v) for k, v in value.items()}
    return value


def read_shard_record(document: object) -> tuple[ShardRecord | None, str]:
    """The record of a ``shard.json`` document and "", or None and what is wrong with it (its first field)."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None, f"{MARKER} is not a cryodedup particle shard's"
    wrong = wrong_field(document, _SPEC)
    if wrong:
        return None, wrong
    record = typed(ShardRecord, document)
    if not 1 <= record.shard <= record.shards:
        return None, f"{MARKER}: shard {record.shard} of {record.shards}, expected 1 <= shard <= shards"
    return record, ""


def _object(value: object) -> bool:
    return isinstance(value, dict)


#: What each field of ``shard.json`` read by the merge must be: a nested spec, or a check and its words.
_SPEC: dict[str, Any] = {
    "shard": (whole, "a whole number"),
    "shards": (whole, "a whole number"),
    "run": {
        "inputs": (list_of(text), "a list of paths"),
        "given": (list_of(text), "a list of paths"),
        "options": (_object, "an object"),
    },
    "read": {"rows": (whole, "a whole number"), "micrographs": (whole, "a whole number"), "digest": (text, "text")},
    "decision_file": {"bytes": (whole, "a whole number"), "sha256": (text, "text")},
    "work": {
        "worker": (text, "text"),
        "micrographs": (whole, "a whole number"),
        "rows": (whole, "a whole number"),
        "kept": (whole, "a whole number"),
        "seconds": (number, "a number"),
    },
    "priority": (or_null(_object), "an object or null"),
    "selection": (or_null(_object), "an object or null"),
}


def difference(mine: RunRecord, other: RunRecord) -> str:
    """The first thing two runs differ in, in words."""
    changed = first_changed(list(dict.fromkeys([*mine.options, *other.options])), mine.options, other.options)
    if changed:
        return f"{changed[0]} {changed[2]} against {changed[1]}"
    if mine.inputs != other.inputs:
        return "other inputs"
    if mine.given != other.given:
        return f"the inputs named otherwise: {', '.join(other.given)} against {', '.join(mine.given)}"
    return "another run"
