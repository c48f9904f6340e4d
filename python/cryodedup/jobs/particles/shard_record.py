"""A particle shard's ``shard.json``, typed: which run, what it read, its decision's file, what deciding cost.

The one place the marker's JSON is read: :meth:`ParticleShardRecord.of_document` (the shared
base's, ``jobs/shard_json.py``) checks every field the merge reads against its ``SPEC`` (an
edited or damaged file names its field). :func:`run_record` makes what two shards of one run
share (inputs and options), and :func:`options_of` gives the options back to the merge.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from ...errors import CryodedupError
from ...options import ParticleOptions
from ...paths import StrPath
from ..shard_json import RECORD_OF, RunRecord, ShardRecord, list_of, number, or_null, text, typed, whole

__all__ = [
    "DecisionFile",
    "ParticleRunRecord",
    "ParticleShardRecord",
    "RowsRead",
    "ShardWork",
    "options_of",
    "run_record",
]

#: The options the merge gives (its pictures), not the shards: left out of a run's record.
MERGE_OPTIONS = ("plot", "plot_mics")


@dataclass(frozen=True)
class ParticleRunRecord(RunRecord):
    """What makes two particle shards parts of one run: the inputs and every option but the merge's.

    ``inputs``: absolute paths; ``given``: as the command named them (the outputs name them so).
    """

    given: list[str]
    options: dict[str, Any]

    COMPARED: ClassVar[tuple[tuple[str, str], ...]] = (
        ("inputs", "other inputs"),
        ("given", "the inputs named otherwise: {other} against {mine}"),
    )

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
class ParticleShardRecord(ShardRecord):
    """A complete particle shard's ``shard.json``."""

    run: ParticleRunRecord = field(metadata={RECORD_OF: ParticleRunRecord})
    read: RowsRead = field(metadata={RECORD_OF: RowsRead})
    decision_file: DecisionFile = field(metadata={RECORD_OF: DecisionFile})
    work: ShardWork = field(metadata={RECORD_OF: ShardWork})
    #: What the core counted of the shard's decision, added up by the merge: ``--prefer``'s and ``--select``'s.
    priority: dict[str, Any] | None = None
    selection: dict[str, Any] | None = None

    FORMAT: ClassVar[str] = "cryodedup particle shard 1"
    JOB: ClassVar[str] = "particle"
    DATA: ClassVar[str] = "decision.npz"
    DATA_FIELD: ClassVar[str] = "decision_file"


def _as_json(value: Any) -> Any:
    """An option's value as JSON holds it (paths as text, tuples as lists)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    return value


def run_record(inputs: Sequence[StrPath], options: Mapping[str, Any]) -> ParticleRunRecord:
    """The run of ``inputs`` with ``options`` (the options' fields), as read back from shard.json."""
    values = {name: _as_json(value) for name, value in options.items() if name not in MERGE_OPTIONS}
    record = ParticleRunRecord([os.path.abspath(p) for p in inputs], [str(p) for p in inputs], values)
    return typed(ParticleRunRecord, json.loads(json.dumps(asdict(record))))


def options_of(run: ParticleRunRecord, plot: bool, plot_mics: int, where: Path) -> ParticleOptions:
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


def _object(value: object) -> bool:
    return isinstance(value, dict)


#: What each field of ``shard.json`` read by the merge must be: a nested spec, or a check and its words.
ParticleShardRecord.SPEC = {
    **ShardRecord.SPEC,
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
