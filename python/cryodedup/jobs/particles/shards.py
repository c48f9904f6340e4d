"""Particle shards on disk, for any scheduler: one shard's decision in a folder, and their merge.

``cryodedup particles INPUTS --shard K/N -o SHARDS`` decides the rows of the K-th of N chunks of
the micrographs (or tomograms) and writes to ``SHARDS/shard-K-of-N/``:

- ``decision.npz``: the shard's rows (indices into the whole input) and, for each, whether it
  is kept, its partner (a row of the whole input) and its consensus masks;
- ``shard.json``, written last (the completion marker): the run (inputs, each with its path from
  the shard folder, size and modification time; options), what was read (rows, micrographs, a
  digest of them: no input is hashed whole), the size and SHA-256 of ``decision.npz``, the
  core's counts of the shard's decision and what deciding cost.

Every shard reads the whole input: what spans micrographs is computed from it, identically in
every shard, before any shard decides (the chunks themselves, micrographs that share a
particle image put in one chunk; the registration's frame; ``--score-normalize``'s
percentiles; the consensus' coverage). A pass shared by the shards would read no less: a
shard scans the input to find its own rows anyway (benches/RESULTS.md measures it). A shard
then decides its own micrographs' rows alone: a duplicate never lies on another micrograph, so
its decision is the one run's for them. ``cryodedup particles-merge`` reads the input again,
checks that the shards are all there, complete and of this run, puts their decisions together
and writes exactly the outputs of one run (kept, rejected, ``decisions.csv``, the summary).
A shard folder without ``shard.json``, or whose ``decision.npz`` no longer matches it, is
incomplete: run again from scratch. A complete shard of the same run is not redone unless the
rows it reads now differ from those it read, or an input's size or time (the merge's checks:
an input file changed since).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ... import signals
from ...algo.normalisation import labels
from ...algo.priority import PriorityCounts, added_counts
from ...errors import CryodedupError, InputFileError, OptionError
from ...outputs import all_outputs_at_once, put_in_place
from ...particle_set import Log, ParticleSet
from ...paths import StrPath, path_list
from ...report.sections.run import Outputs, RunTimings, RunVerdict
from .. import shape
from ..shard_json import (
    MARKER,
    complete_shards,
    give_up,
    open_shard_folder,
    parse_shard,
    shard_folder,
    shard_folders_in,
)
from ..store_db import file_digest as sha256_of
from .decide import ParticleDecision, decide, finished, widened
from .job import ParticleRunner, PlainParticleStages, run
from .plan import plan
from .read import Files, Source, silent
from .shard_record import (
    DecisionFile,
    ParticleRunRecord,
    ParticleShardRecord,
    RowsRead,
    ShardWork,
    located,
    options_of,
    run_record,
)
from .stages import ParticleDecided, ParticleRead, Written

if TYPE_CHECKING:
    from ...particle_set import Warn
    from .plan import Deciding, ParticlePlan, ReadPlan
    from .read import Held, Images
    from .summary import ParticleSummary

__all__ = ["WholeRead", "merge_particle_shards", "merged", "parse_shard", "run_particle_shard", "shards_of_one_run"]

DECISION = ParticleShardRecord.DATA

#: The decision's per-row arrays a shard keeps, and what a row of no shard holds.
_ROW_FILLS = {
    "keep": False,
    "suppressed_by": -1,
    "confirmed_by": 0,
    "unconfirmed": False,
    "not_confirmable": False,
    "overridden": False,
}


# --- what every shard computes alike from the whole input ----------------------------------------


def micrograph_shards(particles: ParticleSet, joins_images: bool, shards: int) -> np.ndarray:
    """Each micrograph's shard (1 to ``shards``): contiguous chunks of the micrographs, of about as many rows each.

    Micrographs that share a particle image (``joins_images``: the rule walks them as one) go
    to one shard, that of the first of them.
    """
    n_mics = len(particles.mic_names)
    first = np.arange(n_mics)
    if joins_images and particles.images is not None:
        first = _first_of_joined(particles.groups, particles.images.keys, n_mics)
    rows = np.bincount(first[particles.groups], minlength=n_mics)  # (each group of joined micrographs' rows)
    before = np.cumsum(rows) - rows
    shard_of_group = np.minimum(before * shards // max(len(particles), 1), shards - 1) + 1
    return shard_of_group[first]


def _first_of_joined(groups: np.ndarray, keys: np.ndarray, n_mics: int) -> np.ndarray:
    """Each micrograph's first micrograph among those joined to it by rows of one image (union by the smallest)."""
    order = np.argsort(keys, kind="stable")
    same = keys[order][1:] == keys[order][:-1]
    a, b = groups[order][:-1][same], groups[order][1:][same]
    first = np.arange(n_mics)
    while a.size:
        smaller = np.minimum(first[a], first[b])
        before = first.copy()
        np.minimum.at(first, a, smaller)
        np.minimum.at(first, b, smaller)
        first = first[first]  # (pointer jumping: each to its group's smallest so far)
        if np.array_equal(first, before):
            break
    return first


def normalised_scores(particles: ParticleSet, rule: Deciding) -> tuple[np.ndarray | None, bool]:
    """The scores the rule compares, over every row (``--score-normalize``: within each input of the whole set)."""
    entry = rule.normalisation
    if entry.apply is None or particles.scores is None:
        return particles.scores, particles.higher_is_better
    return entry.apply(
        particles.scores, labels(entry, particles.input_of, particles.groups), particles.higher_is_better
    )


def rows_digest(particles: ParticleSet) -> str:
    """SHA-256 of each row's input, micrograph, centre and score: what every shard of a run read alike."""
    digest = hashlib.sha256("\n".join(particles.mic_names).encode())
    for values in (particles.input_of, particles.groups, particles.centres, particles.scores):
        if values is not None:
            digest.update(np.ascontiguousarray(values).data)
    return digest.hexdigest()


def decide_part(
    particles: ParticleSet, rule: Deciding, log: Log, rows: np.ndarray, forced: np.ndarray | None = None
) -> ParticleDecision:
    """The decision of the rows ``rows`` (whole micrographs), as one of every row: partners are rows of the whole set.

    Their scores normalised among every row, as one run compares them; ``forced``: ``--overrides``' rows of the
    whole set (``overrides.Forced.rows``), matched on every row.
    """
    part = particles.rows(rows)
    scores, higher = normalised_scores(particles, rule)
    if scores is not particles.scores:
        assert scores is not None, "a normalisation gives scores"
        part = replace(part, scores=np.take(scores, rows), higher_is_better=higher)
        rule = replace(rule, score_normalize="none")
    part_forced = None if forced is None else np.take(forced, rows)
    return widened(decide(part, rule, log, forced=part_forced), rows, len(particles))


def _refuse(planned: ParticlePlan) -> None:
    """The options a shard does not take, read from the plan's typed fields, refused in one line before any read.

    Options that do not go together: a usage error (exit 2), as ``--shard`` with ``--dask`` is (issue 99).
    """
    output, deciding = planned.output, planned.deciding
    refused = [
        (output.plot, "--plot", "the pictures are the merged run's: give --plot to particles-merge"),
        (deciding.batches, "--update", "a round decides against every particle kept so far: run it whole"),
        (deciding.regions is not None, "--mask/--edge", "not taken by shards yet"),
        (output.audit, "--audit", "an audit writes no particles: run it whole"),
    ]
    for given, flag, why in refused:
        if given:
            raise OptionError(f"--shard with {flag}: {why}")


def _refuse_rows(particles: ParticleSet, rule: Deciding) -> None:
    """The rows a shard cannot decide as one run does, refused in one line."""
    if particles.species is not None:
        raise CryodedupError("--shard: these rows hold several species, which shards do not decide yet: run them whole")
    if particles.scores is None and not rule.remove_entirely:
        raise CryodedupError(
            "--shard: these rows carry no score, and the seeded random order that ranks them numbers the rows of "
            "the whole input: run them whole, or give a score (--score)"
        )


class WholeRead:
    """A source read in two passes whatever the plan allows: a shard, or their merge, decides apart from reading."""

    def __init__(self, source: Source):
        self.source = source

    def check(self, outdir: StrPath | None, plan: ReadPlan) -> Path | None:
        """As :class:`.read.Source` says."""
        return self.source.check(outdir, plan)

    def held_by_prefer(self, plan: ReadPlan, warn: Warn) -> list[list[int]] | None:
        """As :class:`.read.Source` says."""
        return self.source.held_by_prefer(plan, warn)

    def read(self, outdir: Path | None, plan: ReadPlan, warn: Warn, log: Log, held: Held = None) -> ParticleSet:
        """As :class:`.read.Source` says, never deciding as it scans."""
        return self.source.read(outdir, replace(plan, one_pass=None), warn, log, held)

    def outputs(self) -> dict[str, list[str]] | None:
        """As :class:`.read.Source` says."""
        return self.source.outputs()

    def images(self, project_dir: Path | None, outdir: Path) -> Images:
        """As :class:`.read.Source` says."""
        return self.source.images(project_dir, outdir)


# --- a shard ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParticleShardSummary(shape.JobSummary):
    """One shard's summary (``particles --shard K/N``): its micrographs and rows, and what it kept of them.

    Every job's keys first (``shape.JobSummary``): its verdict (``Shard K of N``, kind ``good``: a
    part, whose checks are the merge's), its files (``shard``: ``decision.npz``, ``shard.json``), its
    time (the stages' seconds where it was decided); then its own.
    """

    shard: int = shape.required("shard")
    shards: int = shape.required("shards")
    folder: str = shape.required("folder")
    already_complete: bool = shape.required("already_complete")  # (not redone)
    micrographs: int = shape.required("micrographs")
    rows: int = shape.required("rows")
    kept: int = shape.required("kept")
    worker: str = shape.required("worker")

    def table(self) -> list[tuple[str, str]]:
        """The shard's table: which, where, what it decided, its time."""
        done = "already complete, not redone" if self.already_complete else "decided"
        return [
            ("Shard", f"{self.shard} of {self.shards} ({done})"),
            ("Folder", self.folder),
            ("Micrographs", f"{self.micrographs:,}"),
            ("Particles", f"{self.rows:,}: {self.kept:,} kept, {self.rows - self.kept:,} rejected"),
            ("Time", f"{self.timings.seconds if self.timings is not None else 0.0:.2f} s"),
        ]

    def to_json(self) -> dict[str, Any]:
        """Every job's keys (``verdict``, ``outputs``, ``timings``), then its own fields in order."""
        shared = self.shared_json()
        return {**shared, **{f.name: getattr(self, f.name) for f in fields(self) if f.name not in shared}}


@dataclass
class _ShardDecision(ParticleDecision):
    """A shard's decision, and what its writing needs of the deciding: the shard's rows, and what was read."""

    rows: np.ndarray = shape.required("rows")
    rows_read: RowsRead = shape.required("rows_read")


@dataclass(frozen=True)
class ParticleShardStages(PlainParticleStages):
    """The particle job's stages in a shard: its micrographs' rows decided, written as its folder's."""

    shard: int = shape.required("shard")
    shards: int = shape.required("shards")
    folder: Path = shape.required("folder")
    record: ParticleRunRecord = shape.required("record")
    start: float = shape.required("start")
    # A complete shard of this run found in the folder: kept if it read the same rows.
    done: ParticleShardRecord | None = shape.required("done")
    #: A shard's decision is of its micrographs alone: ``--halfsets trim`` balances the whole set's, in the merge.
    trims: ClassVar[bool] = False

    def decide_rows(self, read: ParticleRead) -> ParticleDecision:
        """The shard's rows decided (the others kept as read: the shard says nothing of them)."""
        began = time.perf_counter()
        particles, rule, log = read.particles, read.job.deciding, self.log
        _refuse_rows(particles, rule)
        mics = micrograph_shards(particles, rule.joins_images, self.shards)
        rows = np.flatnonzero(mics[particles.groups] == self.shard)
        rows_read = RowsRead(len(particles), len(particles.mic_names), rows_digest(particles))
        if self.done is not None:
            if self.done.read == rows_read and self.done.run.files == self.record.files:
                # (the runner's clock never gets them: read, from the shard's start; decide, the check)
                raise _StillComplete({"read": began - self.start, "decide": time.perf_counter() - began})
            log(
                f"{self.folder}: the inputs changed since shard {self.shard}/{self.shards} ran; deciding it again",
                "warning",
            )
        part = decide_part(particles, rule, log, rows, None if read.forced is None else read.forced.rows)
        return _ShardDecision(**{f.name: getattr(part, f.name) for f in fields(part)}, rows=rows, rows_read=rows_read)

    def write_rows(self, read: ParticleRead, decided: ParticleDecided) -> Written:
        """``decision.npz`` and ``shard.json`` (the marker), written under temporary names and renamed together."""
        particles, decision = read.particles, decided.decision
        assert isinstance(decision, _ShardDecision), "a shard's decision is its own (decide_rows)"
        rows, rows_read = decision.rows, decision.rows_read
        arrays = {"rows": rows}
        for name in _ROW_FILLS:
            values = getattr(decision, name)
            if values is not None:
                arrays[name] = np.take(values, rows)
        if decision.covered is not None:
            arrays["covered"] = decision.covered
        tmp_decision = self.folder / f".{DECISION}.{os.getpid()}.tmp"
        with open(tmp_decision, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy types the keywords as allow_pickle
        mics = np.unique(particles.groups[rows]).size
        work = ShardWork(
            f"{socket.gethostname()}:{os.getpid()}",
            mics,
            rows.size,
            int(np.count_nonzero(arrays["keep"])),
            round(time.perf_counter() - self.start, 3),
        )
        record = ParticleShardRecord(
            self.shard,
            self.shards,
            self.record,
            rows_read,
            DecisionFile(tmp_decision.stat().st_size, sha256_of(tmp_decision) or ""),
            work,
            None if decision.priority is None else asdict(decision.priority),
            None if decision.selection is None else asdict(decision.selection),
        )
        tmp_marker = self.folder / f".{MARKER}.{os.getpid()}.tmp"
        tmp_marker.write_text(json.dumps(record.to_json()))
        signals.pause_for_tests("written")
        put_in_place([(tmp_decision, self.folder / DECISION), (tmp_marker, self.folder / MARKER)])
        files = [str(self.folder / DECISION), str(self.folder / MARKER)]
        return Written({"shard": files})


class _StillComplete(Exception):
    """A complete shard found to have read the rows it reads now: not redone (``stages``: the seconds of those run)."""

    def __init__(self, stages: dict[str, float]) -> None:
        super().__init__()
        self.stages = stages


#: The record of a complete shard in a folder and "", or None and why the shard is not complete.
shard_state = ParticleShardRecord.of_folder


def run_particle_shard(
    inputs: Sequence[StrPath],
    outdir: StrPath,
    planned: ParticlePlan,
    shard: int,
    shards: int,
    *,
    force: bool = False,
    log: Log = silent,
) -> ParticleShardSummary:
    """Decides one shard of the particle job into ``outdir/shard-K-of-N`` (a complete one is not redone).

    Parameters
    ----------
    inputs : list of path
        As for ``remove_duplicate_particles``; every shard reads them whole.
    outdir : path
        The folder of all shards of the run.
    planned : ParticlePlan
        The job's plan, ``plan(options)`` of its checked options (``--plot`` is the merge's).
    shard, shards : int
        K (from 1) and N.
    force : bool
        Replace a complete shard of another run (other inputs or options) in the folder.
    """
    start = time.perf_counter()
    _refuse(planned)
    paths = path_list(inputs)
    record_of_run = run_record(paths, planned.given, shard_folder(Path(outdir), shard, shards))
    opened = open_shard_folder(Path(outdir), shard, shards, record_of_run, shard_state, force, log)
    folder = opened.path
    own = {"shard": shard, "shards": shards, "folder": folder, "record": record_of_run, "start": start}

    def in_shard(plan: ParticlePlan, stages: PlainParticleStages) -> shape.Ran[Any, Any, Any, ParticleSummary]:
        """The shard's runner: the job's stages as the shard's (its chunk decided, its folder written)."""
        shard_stages: shape.Stages[ParticlePlan, Any, Any, Any, ParticleSummary] = stages.around(
            ParticleShardStages, **own, done=opened.done
        )
        return shape.plain(plan, shard_stages)

    try:
        for leftover in folder.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        timings = run(
            WholeRead(Files.of(paths)), folder, planned, force=force, log=log, runner=in_shard
        ).summary.timings
    except _StillComplete as complete:
        assert opened.done is not None, "only a complete shard is kept"
        log(f"{folder}: the inputs are as they were: not redone", "info")
        checked = RunTimings.of(complete.stages, time.perf_counter() - start)  # (this run's: read, checked)
        return _shard_summary(folder, opened.done, checked, redone=False)
    except BaseException:  # a signal or an error: no temporary file, nor a folder this run made empty
        give_up(folder, opened.created)
        raise
    record, why = shard_state(folder)
    assert record is not None, why
    stages = dict(timings.stages) if timings is not None else {}
    return _shard_summary(folder, record, RunTimings.of(stages, time.perf_counter() - start), redone=True)


def _shard_summary(
    folder: Path, record: ParticleShardRecord, timings: RunTimings, redone: bool
) -> ParticleShardSummary:
    """The shard's summary from its record (``timings``: this run's, the stages' where it was decided)."""
    work = record.work
    done = "decided" if redone else "already complete, not redone"
    line = f"Shard {record.shard} of {record.shards} {done}: {work.kept:,} of {work.rows:,} particles kept -> {folder}"
    return ParticleShardSummary(
        verdict=RunVerdict(f"Shard {record.shard} of {record.shards}", "good", line),
        outputs=Outputs.of({"shard": [str(folder / DECISION), str(folder / MARKER)]}),
        timings=timings,
        shard=record.shard,
        shards=record.shards,
        folder=str(folder),
        already_complete=not redone,
        micrographs=work.micrographs,
        rows=work.rows,
        kept=work.kept,
        worker=work.worker,
    )


# --- the merge ---------------------------------------------------------------------------------------


def _not_of_one_run(first_folder: Path, first: ParticleShardRecord, record: ParticleShardRecord) -> str:
    """Why ``record`` is not of the run of ``first`` (in ``first_folder``): "" when it is."""
    if record.run != first.run:
        return f"a shard of another run than {first_folder} ({first.run.difference(record.run)})"
    changed = first.run.changed_input(record.run)
    if changed:
        return f"read {changed} unlike {first_folder} (changed between the shards?); run the shards again"
    if record.read != first.read:
        return f"read other rows than {first_folder} (the inputs changed between the shards?); run the shards again"
    return ""


def _decision_arrays(folder: Path, rows: np.ndarray, n: int, covered_shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """A shard's ``decision.npz``, each array checked against the rows it says it decided."""
    path = folder / DECISION
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except (OSError, ValueError) as err:
        raise InputFileError(f"{path}: cannot be read as a shard's decision ({err})") from None
    if "rows" not in arrays or "keep" not in arrays:
        raise InputFileError(f"{path}: no rows or keep: not a particle shard's decision")
    if not np.array_equal(arrays["rows"], rows):
        raise CryodedupError(f"{path}: its rows are not those its shard holds of these inputs; run the shard again")
    for name, values in arrays.items():
        expected = covered_shape if name == "covered" else rows.shape
        if values.shape != expected:
            raise InputFileError(f"{path}: {name} has shape {values.shape}, expected {expected}")
    suppressed = arrays.get("suppressed_by")
    if suppressed is not None and suppressed.size and (suppressed.min() < -1 or suppressed.max() >= n):
        raise InputFileError(f"{path}: suppressed_by names rows outside 0 to {n - 1}")
    return arrays


@dataclass(frozen=True)
class ParticleMergeStages(PlainParticleStages):
    """The particle job's stages in the shards' merge: their decisions put together, written as one run."""

    shards: list[tuple[Path, ParticleShardRecord]] = shape.required("shards")

    def decide_rows(self, read: ParticleRead) -> ParticleDecision:
        """Every shard's rows' decision, in place, with what spans the shards counted on the whole set."""
        particles, rule = read.particles, read.job.deciding
        first_folder, first = self.shards[0]
        if RowsRead(len(particles), len(particles.mic_names), rows_digest(particles)) != first.read:
            raise CryodedupError(f"{first_folder}: the inputs changed since the shards ran; run them again")
        n = len(particles)
        mics = micrograph_shards(particles, rule.joins_images, first.shards)
        shard_of_row = mics[particles.groups]
        whole: dict[str, np.ndarray] = {}
        covers = []
        for folder, record in self.shards:
            rows = np.flatnonzero(shard_of_row == record.shard)
            arrays = _decision_arrays(folder, rows, n, (len(particles.mic_names), len(particles.inputs)))
            for name, values in arrays.items():
                if name == "covered":
                    covers.append(values)
                elif name != "rows":
                    whole.setdefault(name, np.full(n, _ROW_FILLS[name], dtype=values.dtype))[rows] = values
        scores, _ = normalised_scores(particles, rule)
        per_row: dict[str, Any] = {
            name: whole.get(name) for name in _ROW_FILLS
        }  # (keep: every shard's; the others where kept)
        decision = ParticleDecision(
            **per_row,
            ranked_scores=None if scores is particles.scores else scores,
            covered=np.logical_or.reduce(covers) if covers else None,
            levels=rule.levels,
            priority=_added(PriorityCounts, [record.priority for _, record in self.shards]),
            preference=rule.preference,
            selection=_added_selection([record.selection for _, record in self.shards]),
        )
        return finished(particles, decision, rule)


def _added(kind: type, counts: list[dict[str, Any] | None]) -> Any:
    """The shards' counts of one kind as one (None where no shard counted)."""
    return reduce(added_counts, (None if c is None else kind(**c) for c in counts), None)


def _added_selection(counts: list[dict[str, Any] | None]) -> Any:
    """The shards' ``--select`` counts as one (None without a best selection)."""
    if all(c is None for c in counts):
        return None
    from ...algo.selection import SelectionCounts, added_selection

    return reduce(added_selection, (None if c is None else SelectionCounts(**c) for c in counts), None)


@all_outputs_at_once  # a failure leaves no output folder it made, no lock, no temporary file
def merge_particle_shards(
    shard_folders: Sequence[StrPath],
    outdir: StrPath,
    *,
    plot: bool = False,
    plot_mics: int = 3,
    force: bool = False,
    log: Log = silent,
) -> ParticleSummary:
    """Merges the shards of one run into the outputs an unsharded run writes.

    Parameters
    ----------
    shard_folders : list of path
        Shard folders (``shard-K-of-N``), or folders holding them.
    outdir : path
        Receives what one run of the same inputs and options writes (kept, rejected, ``decisions.csv``).
    plot : bool
        Also write pictures and report.html.

    Returns
    -------
    ParticleSummary
        The summary, as one run (``remove_duplicate_particles``) returns it.
    """
    shards = shards_of_one_run(shard_folders)
    first_folder, first = shards[0]
    options = options_of(first.run, plot, plot_mics, first_folder / MARKER)
    paths = located(first.run, first_folder)  # (as the shards named them, where they are the same bytes)
    source = Files.of(paths)
    options.check()
    return run(WholeRead(source), outdir, plan(options), force=force, log=log, runner=merged(shards)).summary


def shards_of_one_run(shard_folders: Sequence[StrPath]) -> list[tuple[Path, ParticleShardRecord]]:
    """The complete shards in ``shard_folders`` (or the folders holding them), checked to be all of one run."""
    return complete_shards(shard_folders_in(shard_folders), shard_state, _not_of_one_run)


def merged(shards: list[tuple[Path, ParticleShardRecord]]) -> ParticleRunner:
    """The merge's runner: the job's stages as the merge's (the ``shards``' decisions together, written as one run)."""

    def as_merged(plan: ParticlePlan, stages: PlainParticleStages) -> shape.Ran[Any, Any, Any, ParticleSummary]:
        merge_stages: shape.Stages[ParticlePlan, Any, Any, Any, ParticleSummary] = stages.around(
            ParticleMergeStages, shards=shards
        )
        return shape.plain(plan, merge_stages)

    return as_merged
