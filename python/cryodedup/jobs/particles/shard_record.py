"""A particle shard's ``shard.json``, typed: which run, what it read, its decision's file, what deciding cost.

The one place the marker's JSON is read: :meth:`ParticleShardRecord.of_document` (the shared
base's, ``jobs/shard_json.py``) checks every field the merge reads against its ``SPEC`` (an
edited or damaged file names its field). :func:`run_record` makes what two shards of one run
share (inputs and options), and :func:`options_of` gives the options back to the merge.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from ...errors import CryodedupError
from ...options import ParticleOptions
from ...paths import StrPath
from ..shard_json import MARKER, RECORD_OF, RunRecord, ShardRecord, list_of, number, or_null, text, typed, whole

__all__ = [
    "DecisionFile",
    "ParticleRunRecord",
    "ParticleShardRecord",
    "RowsRead",
    "ShardWork",
    "located",
    "options_of",
    "run_record",
]

#: The options the merge gives (its pictures), not the shards: left out of a run's record.
MERGE_OPTIONS = ("plot", "plot_mics")


@dataclass(frozen=True, eq=False)
class ParticleRunRecord(RunRecord):
    """What makes two particle shards parts of one run: the inputs and every option but the merge's.

    ``inputs``: absolute paths where the shard ran; ``given``: as the command named them (the
    outputs name them so); ``from_shard``: each input's path from the shard's folder (found so in
    a project moved with its shards); ``files``: each input's size and modification time in ns
    (``[null, null]`` for a folder). Two records are of one run when their options are equal and
    each input is the same path or of the same size (a project moved, a file system mounted
    elsewhere); what the shards read of it is compared by the rows' digest (:class:`RowsRead`),
    no shard hashing a whole input (a 3.9 GB STAR at 10M rows).
    """

    given: list[str]
    from_shard: list[str]
    files: list[list[Any]]
    options: dict[str, Any]

    COMPARED: ClassVar[tuple[tuple[str, str], ...]] = (
        ("inputs", "other inputs"),
        ("given", "the inputs named otherwise: {other} against {mine}"),
    )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParticleRunRecord):
            return NotImplemented
        return (
            self.options == other.options
            and len(self.inputs) == len(other.inputs)
            and all(a == b or (_known(f) and f[0] == g[0]) for a, b, f, g in self._pairs(other))
        )

    __hash__ = None  # type: ignore[assignment]  # (mutable lists inside)

    def _pairs(self, other: ParticleRunRecord) -> zip[tuple[str, str, list[Any], list[Any]]]:
        return zip(self.inputs, other.inputs, self.files, other.files)

    def changed_input(self, other: ParticleRunRecord) -> str:
        """The first input ``other`` read as another file than this run did, and how ("" when none).

        Another size; or, at the same path, another modification time (another path of the same
        size may be a copy: the rows' digest compares what was read of it).
        """
        for given, mine, theirs, here, there in zip(self.given, self.files, other.files, self.inputs, other.inputs):
            if not (_known(mine) and _known(theirs)):
                continue
            if mine[0] != theirs[0]:
                return f"{given} ({theirs[0]:,} bytes against {mine[0]:,})"
            if here == there and mine[1] != theirs[1]:
                return f"{given} (modified: the same size, another time)"
        return ""


def _known(file: list[Any]) -> bool:
    """Whether an input's ``[size, modification time]`` was recorded (a plain file's)."""
    return file[0] is not None


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

    FORMAT: ClassVar[str] = "cryodedup particle shard 2"
    EARLIER: ClassVar[tuple[str, ...]] = ("cryodedup particle shard 1",)
    EARLIER_LACKS: ClassVar[str] = "no sizes and times of the inputs"
    JOB: ClassVar[str] = "particle"
    DATA: ClassVar[str] = "decision.npz"
    DATA_FIELD: ClassVar[str] = "decision_file"

    def wrong(self) -> str:
        """What is wrong with the run's inputs ("" when nothing): one path, size and time each."""
        run = self.run
        if not len(run.inputs) == len(run.given) == len(run.from_shard) == len(run.files):
            return f"{MARKER}: run.inputs, run.given, run.from_shard and run.files differ in length"
        return ""


def _as_json(value: Any) -> Any:
    """An option's value as JSON holds it (paths as text, tuples as lists)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    return value


def run_record(inputs: Sequence[StrPath], options: Mapping[str, Any], folder: Path) -> ParticleRunRecord:
    """The run of ``inputs`` with ``options`` (its fields) by the shard in ``folder``, as read back from shard.json."""
    values = {name: _as_json(value) for name, value in options.items() if name not in MERGE_OPTIONS}
    absolute = [os.path.abspath(p) for p in inputs]
    here = os.path.abspath(folder)
    from_shard = [os.path.relpath(p, here) for p in absolute]
    files = [input_file(p) for p in absolute]
    record = ParticleRunRecord(
        inputs=absolute, given=[str(p) for p in inputs], from_shard=from_shard, files=files, options=values
    )
    return typed(ParticleRunRecord, json.loads(json.dumps(asdict(record))))


def input_file(path: str) -> list[Any]:
    """A plain file's ``[size, modification time in ns]`` (``[null, null]``: a folder, or what cannot be read)."""
    try:
        info = os.stat(path)
    except OSError:
        return [None, None]
    if not stat.S_ISREG(info.st_mode):
        return [None, None]
    return [info.st_size, info.st_mtime_ns]


def located(run: ParticleRunRecord, folder: Path) -> list[str]:
    """The run's inputs found from here, each the file the shards read, refused in one line when none is.

    Each input is looked for as the command named it (from the merge's folder), where the shard
    found it, then where it lies from the shard's ``folder`` (a project moved with its shards):
    the first of its size and modification time (no hash of it; the merge then compares the rows
    it reads with the rows the shards read).
    """
    marker = folder / MARKER
    paths = []
    for given, absolute, relative, recorded in zip(run.given, run.inputs, run.from_shard, run.files):
        beside = os.path.normpath(os.path.join(folder, relative))
        changed: tuple[str, list[Any]] | None = None
        for candidate in dict.fromkeys([given, absolute, beside]):
            if not os.path.lexists(candidate):
                continue
            now = input_file(candidate)
            if not _known(recorded) or now == recorded:
                paths.append(candidate)
                break
            changed = changed or (candidate, now)
        else:
            if changed is None:
                raise CryodedupError(
                    f"{marker}: run.inputs names {absolute}, which no longer exists (nor does {beside})"
                )
            path, now = changed
            how = (
                "not a plain file now"
                if now[0] is None
                else "modified: the same size, another time"
                if now[0] == recorded[0]
                else f"{now[0]:,} bytes, {recorded[0]:,} when they ran"
            )
            raise CryodedupError(f"{path} changed since the shards ran ({how}); run the shards again")
    return paths


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
    if kind.startswith("dict[") and not isinstance(value, dict):  # (an edited record: refused by options_of)
        raise TypeError(f"an object expected, not {json.dumps(value)}")
    if kind.startswith("dict[str, tuple"):
        return {k: tuple(v) for k, v in value.items()}
    return value


def _input_file(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and (value[0] is None or (whole(value[0]) and value[0] >= 0))
        and (value[1] is None or whole(value[1]))
    )


def _object(value: object) -> bool:
    return isinstance(value, dict)


#: What each field of ``shard.json`` read by the merge must be: a nested spec, or a check and its words.
ParticleShardRecord.SPEC = {
    **ShardRecord.SPEC,
    "run": {
        "inputs": (list_of(text), "a list of paths"),
        "given": (list_of(text), "a list of paths"),
        "from_shard": (list_of(text), "a list of paths"),
        "files": (list_of(_input_file), "a list of [size, modification time]"),
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
