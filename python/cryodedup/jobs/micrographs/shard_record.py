"""A micrograph shard's ``shard.json``, typed: what the run was, its plan, its pairs file, what reading cost.

The one place the marker's JSON is read: :meth:`MicrographShardRecord.of_document` (the shared
base's, ``jobs/shard_json.py``) checks every field the merge reads against its ``SPEC`` (an
edited or damaged file names its field) and the plan's places of the micrographs; the shards,
their merge and their summaries read its fields by name. ``to_json`` is the document a shard writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from ...formats.micrograph_lists import Micrographs
from ...formats.mrc import MrcLayout
from ...paths import StrPath
from ...report.micrograph_sections import reading_words
from ..shape import JobSummary, required
from ..shard_json import (
    MARKER,
    RECORD_OF,
    RunRecord,
    ShardRecord,
    list_of,
    number,
    or_null,
    shown,
    text,
    typed,
    whole,
)
from .plan import RUN_OPTIONS, ScoringPlan

__all__ = [
    "MARKER",
    "MicrographRunRecord",
    "MicrographShardRecord",
    "PairsFile",
    "PlanRecord",
    "ShardReading",
    "ShardSummary",
    "changed_image",
    "image_stats",
    "run_record",
]


@dataclass(frozen=True)
class MicrographRunRecord(RunRecord):
    """What makes two shards parts of one run: the inputs, micrographs, their files, kind and root, the options.

    ``options``: the values of the options that change the pairs, their scores or the decision (``RUN_OPTIONS``).
    """

    micrographs: list[str]
    files: list[str]
    kind: str
    root: str | None
    options: dict[str, Any]

    COMPARED: ClassVar[tuple[tuple[str, str], ...]] = (
        ("inputs", "other inputs"),
        ("micrographs", "other micrographs"),
        ("files", "other micrograph files"),
    )


@dataclass(frozen=True)
class PlanRecord:
    """The plan every shard of a run shares, as ``shard.json`` keeps it (a :class:`ScoringPlan` without its paths).

    ``layouts``: each image's place, pixel type and pixel size in its file (the shape is the plan's).
    """

    positions: list[int]
    shape: list[int]
    binning: int
    binned_psize: float
    band: list[float]
    offsets: list[int] | None
    rule: str
    unreadable: list[str]
    batch: int
    pearson_min_z: float
    layouts: list[list[Any]] | None

    @classmethod
    def of(cls, plan: ScoringPlan) -> PlanRecord:
        """The record of ``plan``."""
        return cls(
            positions=plan.positions.tolist(),
            shape=list(plan.shape),
            binning=plan.binning,
            binned_psize=plan.binned_psize,
            band=list(plan.band),
            offsets=None if plan.offsets is None else plan.offsets.tolist(),
            rule=plan.rule,
            unreadable=plan.unreadable,
            batch=plan.batch,
            pearson_min_z=plan.pearson_min_z,
            layouts=None if plan.layouts is None else [[m.offset, m.dtype, m.psize] for m in plan.layouts],
        )

    def scoring_plan(self, files: list[str]) -> ScoringPlan:
        """The plan, its micrographs' ``files`` given (the run's)."""
        ny, nx = self.shape
        lowpass, highpass = self.band
        return ScoringPlan(
            paths=files,
            positions=np.array(self.positions, dtype=np.int64),
            shape=(ny, nx),
            binning=self.binning,
            binned_psize=self.binned_psize,
            band=(lowpass, highpass),
            offsets=None if self.offsets is None else np.array(self.offsets, dtype=np.int64),
            rule=self.rule,
            unreadable=self.unreadable,
            batch=self.batch,
            pearson_min_z=self.pearson_min_z,
            layouts=None
            if self.layouts is None
            else [MrcLayout((ny, nx), dtype, offset, psize) for offset, dtype, psize in self.layouts],
        )

    def first_difference(self, other: PlanRecord) -> str:
        """The name of the first field in which ``other`` differs."""
        return next(f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name))


@dataclass(frozen=True)
class PairsFile:
    """The size and SHA-256 of the shard's ``pairs.npz``."""

    bytes: int
    sha256: str | None  # (None: the file could not be read back as it was written; a shard read has text)


@dataclass(frozen=True)
class ShardReading:
    """What reading cost a shard: where it ran, images and bytes read, seconds reading and in all."""

    worker: str
    images_read: int
    bytes_read: int
    read_seconds: float
    seconds: float


@dataclass(frozen=True)
class MicrographShardRecord(ShardRecord):
    """A complete shard's ``shard.json``: which shard of how many, the run, the plan, its pairs file, its reading."""

    run: MicrographRunRecord = field(metadata={RECORD_OF: MicrographRunRecord})
    plan: PlanRecord = field(metadata={RECORD_OF: PlanRecord})
    pairs_file: PairsFile = field(metadata={RECORD_OF: PairsFile})
    reading: ShardReading = field(metadata={RECORD_OF: ShardReading})
    #: Each of ``run.files``' size and modification time (ns) when the shard began: ``[null, null]`` if absent.
    images: list[list[Any]] = field(default_factory=list)

    FORMAT: ClassVar[str] = "cryodedup micrograph shard 2"
    EARLIER: ClassVar[tuple[str, ...]] = ("cryodedup micrograph shard 1",)
    EARLIER_LACKS: ClassVar[str] = "no sizes and times of the images"
    JOB: ClassVar[str] = "micrograph"
    DATA: ClassVar[str] = "pairs.npz"
    DATA_FIELD: ClassVar[str] = "pairs_file"

    def wrong(self) -> str:
        """What is wrong with the run's micrographs or the plan's places of them ("" when nothing)."""
        if not len(self.run.files) == len(self.run.micrographs) == len(self.images):
            return f"{MARKER}: run.files, run.micrographs and images differ in length"
        return _wrong_plan(self.plan, len(self.run.micrographs))


def run_record(inputs: Sequence[StrPath], mics: Micrographs, recorded: Mapping[str, Any]) -> MicrographRunRecord:
    """The run of ``mics`` read from ``inputs`` with the options' values ``recorded``, as read back from shard.json."""
    record = MicrographRunRecord(
        inputs=[os.path.abspath(p) for p in inputs],
        micrographs=list(mics.names),
        files=[os.path.abspath(p) for p in mics.paths],
        kind=mics.kind,
        root=os.path.abspath(mics.root) if mics.root else None,
        options={name: recorded[name] for name in RUN_OPTIONS},
    )
    return typed(MicrographRunRecord, json.loads(json.dumps(asdict(record))))


def _wrong_plan(plan: PlanRecord, micrographs: int) -> str:
    """What is wrong with the plan's places of the micrographs ("" when none).

    The merge indexes the run's micrographs by ``positions`` (one each, in acquisition order)
    and reads an image at each place of ``layouts``.
    """
    positions = plan.positions
    outside = next((p for p in positions if not 0 <= p < micrographs), None)
    if outside is not None:
        expected = f"indices of run.micrographs (0 to {micrographs - 1})"
        return f"{MARKER}: plan.positions holds {shown(outside)}, expected {expected}"
    if len(set(positions)) != len(positions):
        return f"{MARKER}: plan.positions names a micrograph twice"
    if plan.layouts is not None and len(plan.layouts) != len(positions):
        return f"{MARKER}: plan.layouts has {len(plan.layouts)} entries, expected one per position ({len(positions)})"
    return ""


#: What each field of ``shard.json`` read by the merge must be: a nested spec, or a check and its words.
MicrographShardRecord.SPEC = {
    **ShardRecord.SPEC,
    "run": {
        "inputs": (list_of(text), "a list of paths"),
        "micrographs": (list_of(text), "a list of names"),
        "files": (list_of(text), "a list of paths"),
        "kind": (text, "text"),
        "root": (or_null(text), "a path or null"),
        "options": {name: (lambda value: True, "") for name in RUN_OPTIONS},
    },
    "plan": {
        "positions": (list_of(whole), "a list of whole numbers"),
        "shape": (list_of(whole, 2), "[ny, nx]"),
        "binning": (whole, "a whole number"),
        "binned_psize": (number, "a number"),
        "band": (list_of(or_null(number), 2), "[lowpass, highpass]"),
        "offsets": (or_null(list_of(whole)), "a list of whole numbers or null"),
        "rule": (text, "text"),
        "unreadable": (list_of(text), "a list of paths"),
        "batch": (whole, "a whole number"),
        "pearson_min_z": (number, "a number"),
        "layouts": (
            or_null(list_of(lambda m: isinstance(m, list) and len(m) == 3 and whole(m[0]) and text(m[1]))),
            "a list of [offset, dtype, pixel size] or null",
        ),
    },
    "pairs_file": {"bytes": (whole, "a whole number"), "sha256": (text, "text")},
    "reading": {
        "worker": (text, "text"),
        "images_read": (whole, "a whole number"),
        "bytes_read": (whole, "a whole number"),
        "read_seconds": (number, "a number"),
        "seconds": (number, "a number"),
    },
    "images": (list_of(list_of(or_null(whole), 2)), "a list of [size, modification time] or null"),
}


def image_stats(files: Sequence[StrPath]) -> list[list[Any]]:
    """Each file's ``[size, modification time in ns]`` (``[null, null]``: absent or not reached)."""
    stats: list[list[Any]] = []
    for path in files:
        try:
            info = os.stat(path)
        except OSError:
            stats.append([None, None])
        else:
            stats.append([info.st_size, info.st_mtime_ns])
    return stats


def changed_image(files: Sequence[str], mine: list[list[Any]], other: list[list[Any]]) -> str:
    """The first of ``files`` whose size or time differs between two records, and how ("" when none)."""
    for path, (size, time), (other_size, other_time) in zip(files, mine, other):
        if size != other_size:
            return f"{path} ({_size(other_size)} against {_size(size)})"
        if time != other_time:
            return f"{path} (modified: the same size, another time)"
    return ""


def _size(size: int | None) -> str:
    return "absent" if size is None else f"{size:,} bytes"


#: A summary row: label and text.
Row = tuple[str, str]


@dataclass(frozen=True)
class ShardSummary(JobSummary):
    """One shard's summary (``micrographs --shard K/N``): a shard decides nothing, so it says what it scored and read.

    A :class:`~..shape.JobSummary`: its verdict (``Shard K of N``, ``good``; its line what it scored, or that
    it was already complete), its ``outputs`` (``pairs``: pairs.npz, ``marker``: shard.json), its ``timings``
    (this run's stages, ``read``, ``decide`` (the scoring), ``write``, ``summarise``, and the whole's ``seconds``);
    then its own fields in order, as ``--json`` prints them.
    """

    shard: int = required("shard")
    shards: int = required("shards")
    folder: str = required("folder")
    already_complete: bool = required("already_complete")  # (not redone)
    micrographs: int = required("micrographs")
    pairs_scored: int = required("pairs_scored")
    worker: str = required("worker")
    images_read: int = required("images_read")
    megabytes_read: float = required("megabytes_read")
    read_MB_per_s: float | None = required("read_MB_per_s")

    def rows(self) -> list[Row]:
        """The shard's table: which, where, what it scored and read, its time."""
        done = "already complete, not redone" if self.already_complete else "scored"
        return [
            ("Shard", f"{self.shard} of {self.shards} ({done})"),
            ("Folder", self.folder),
            ("Micrographs", f"{self.micrographs:,}"),
            ("Pairs scored", f"{self.pairs_scored:,}"),
            # (the shard is named above; where it ran needs no name)
            ("Read", reading_words(self.images_read, self.megabytes_read, self.read_MB_per_s)),
            *([("Time", f"{self.timings.seconds:.2f} s")] if self.timings is not None else []),
        ]

    def to_json(self) -> dict[str, Any]:
        """``verdict`` (null), ``outputs``, ``timings``, then its own fields in order."""
        shared = {f.name for f in fields(JobSummary)}
        own = {k: v for k, v in asdict(self).items() if k not in shared}
        return {**self.shared_json(), **own}
