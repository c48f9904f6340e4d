"""Micrograph shards on disk, for any scheduler: one shard's scored pairs in a folder, and their merge.

``cryodedup micrographs ... --shard K/N -o SHARDS`` scores the pairs whose earlier image lies
in the K-th of N contiguous chunks of the acquisition order (docs/guides/clusters.md), reading
the later images from the next chunks, and writes to ``SHARDS/shard-K-of-N/``:

- ``pairs.npz``: the scored pairs (input indices, z, shift, Pearson, overlap);
- ``shard.json``, written last (the completion marker): the run (inputs, micrographs, files,
  options), the plan every shard shares (acquisition order, binning, band, candidates), the
  size and SHA-256 of ``pairs.npz``, and what reading cost.

A shard folder without ``shard.json``, or whose ``pairs.npz`` no longer matches it, is
incomplete: the shard is run again from scratch. A complete shard of the same run is not
redone. ``cryodedup micrographs-merge`` checks that the shards agree and are all there, and
writes exactly the outputs of one unsharded run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from ... import signals
from ...errors import CryodedupError, InputFileError
from ...formats.micrograph_lists import Micrographs, load_inputs
from ...options.micrographs import MicrographOptions, MicrographRun
from ...outputs import all_outputs_at_once, put_in_place
from ...paths import StrPath
from ...report.sections.run import Outputs, RunTimings, RunVerdict
from ...resolve.micrograph_names import check_match_mode
from .. import shape
from ..shard_json import (
    complete_shards,
    give_up,
    open_shard_folder,
    parse_shard,
    shard_folders_in,
)
from ..store_db import file_digest as sha256_of
from .job import MicrographJob, MicrographRead, MicrographScored, MicrographStages
from .plan import MicrographPlan, ScoringPlan, micrograph_plan, plan_scoring
from .score import NonFiniteMicrograph, ProgressBar, ScoredPairs, ShardScores, images_to_read, score_shard
from .shard_record import (
    MARKER,
    MicrographRunRecord,
    MicrographShardRecord,
    PairsFile,
    PlanRecord,
    ShardReading,
    ShardSummary,
    changed_image,
    image_stats,
    run_record,
)
from .summary import MicrographSummary
from .write import collecting, prepare_outputs

__all__ = ["merge_micrograph_shards", "parse_shard", "run_micrograph_shard"]

PAIRS = MicrographShardRecord.DATA


#: The record of a complete shard in a folder and "", or None and why the shard is not complete.
shard_state = MicrographShardRecord.of_folder


def _write_shard(
    folder: Path, run: MicrographRunRecord, plan: ScoringPlan, result: ShardScores, images: list[list[int | None]]
) -> MicrographShardRecord:
    """``pairs.npz`` and ``shard.json`` (the marker), written under temporary names and renamed together.

    The renames are those of every job's outputs (outputs.py): a signal waits until both are
    in place, so a stopped shard is its previous state or the new complete one.
    """
    tmp_pairs = folder / f".{PAIRS}.{os.getpid()}.tmp"
    with open(tmp_pairs, "wb") as f:
        np.savez(f, **result.scores.columns())  # type: ignore[arg-type]  # numpy types the keywords as allow_pickle
    record = MicrographShardRecord(
        result.shard,
        result.shards,
        run,
        PlanRecord.of(plan),
        PairsFile(tmp_pairs.stat().st_size, sha256_of(tmp_pairs)),
        ShardReading(result.worker, result.images_read, result.bytes_read, result.read_seconds, result.seconds),
        images,
    )
    tmp_marker = folder / f".{MARKER}.{os.getpid()}.tmp"
    tmp_marker.write_text(json.dumps(record.to_json()))
    signals.pause_for_tests("written")
    put_in_place([(tmp_pairs, folder / PAIRS), (tmp_marker, folder / MARKER)])
    return record


def _clear(folder: Path, complete: bool) -> None:
    """Removes what an earlier attempt left: its temporary files, and an incomplete shard's files (the marker first).

    A complete shard (of another run, replaced with --force) stays until the new one is renamed over it.
    """
    if not complete:
        for name in (MARKER, PAIRS):
            (folder / name).unlink(missing_ok=True)
    for leftover in folder.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)


def run_micrograph_shard(
    inputs: Sequence[StrPath],
    outdir: StrPath,
    job: MicrographPlan,
    shard: int,
    shards: int,
    *,
    force: bool = False,
    log: Callable[[str, str], None] = lambda message, level: None,
    progress_factory: Callable[[int], ProgressBar] | None = None,
) -> ShardSummary:
    """Scores one shard of the micrograph job into ``outdir/shard-K-of-N`` (a complete one is not redone).

    Parameters
    ----------
    inputs : list of path
        As for ``find_duplicate_micrographs``.
    outdir : path
        The folder of all shards of the run.
    job : MicrographPlan
        The options, checked and resolved (:func:`~.plan.micrograph_plan`).
    shard, shards : int
        K (from 1) and N.
    force : bool
        Replace a complete shard of another run (other inputs or options) in the folder.

    Returns
    -------
    ShardSummary
        The shard's summary: its folder, pairs, images read and whether it was already complete.
    """
    start = clock = time.perf_counter()
    # (--metadata, --plot: the merge's)
    MicrographRun(shard=f"{shard}/{shards}").check_elsewhere(bool(job.metadata.files), job.output.plot)
    mics = load_inputs(list(inputs), job.psize, job.project_dir)
    run = run_record(inputs, mics, job.recorded)
    opened = open_shard_folder(Path(outdir), shard, shards, run, shard_state, force, log)
    folder, record = opened.path, opened.done
    images = image_stats(run.files)
    stages = {"read": time.perf_counter() - clock}  # (the stages' seconds, as they run: the whole shard's last)
    if record is not None and record.images == images:
        return _shard_summary(folder, record, _Timed(start, stages), redone=False)
    if record is not None:
        changed = changed_image(run.files, record.images, images)
        log(f"{folder}: an image changed since shard {shard}/{shards} ran: {changed}; scoring it again", "warning")
    try:
        clock = time.perf_counter()
        _clear(folder, complete=opened.replaces or record is not None)
        plan = plan_scoring(mics, job.scoring)
        bar = progress_factory(images_to_read(plan, shard, shards)) if progress_factory else None
        try:
            result = score_shard(plan, shard, shards, bar.advance if bar else None)
        except NonFiniteMicrograph as err:  # (each shard plans alone: none may leave out what another scores)
            raise InputFileError(
                f"{err.path}: {err.cause}, which make every comparison with it meaningless; "
                "leave it out of every shard's inputs (--skip-unreadable goes on without it in one run, not in shards)"
            ) from None
        finally:
            if bar:
                bar.close()
        scored = time.perf_counter()
        stages["decide"] = scored - clock  # (the scoring: what a shard decides)
        record = _write_shard(folder, run, plan, result, images)
        stages["write"] = time.perf_counter() - scored
    except BaseException:  # a signal or an error: no temporary file, nor a folder this run made empty
        give_up(folder, opened.created)
        raise
    return _shard_summary(folder, record, _Timed(start, stages), redone=True)


@dataclass(frozen=True)
class _Timed:
    """A shard's run so far: when it started and the seconds of its stages run (read, decide, write)."""

    start: float
    stages: dict[str, float]


def _shard_summary(folder: Path, record: MicrographShardRecord, timed: _Timed, redone: bool) -> ShardSummary:
    """The shard's summary from its record: its verdict (a complete one not redone says so), its stages' seconds."""
    began = time.perf_counter()
    reading = record.reading
    megabytes = reading.bytes_read / 1e6
    pairs = len(load_pairs(folder, len(record.run.micrographs)))
    name = f"Shard {record.shard} of {record.shards}"
    done = "scored" if redone else "already complete, not redone"
    line = f"{name} {done}: {pairs:,} pairs of {len(record.run.micrographs):,} micrographs -> {folder}"
    stages = {**timed.stages, "summarise": time.perf_counter() - began}
    return ShardSummary(
        verdict=RunVerdict(name, "good", line),
        shard=record.shard,
        shards=record.shards,
        folder=str(folder),
        already_complete=not redone,
        micrographs=len(record.run.micrographs),
        pairs_scored=pairs,
        worker=reading.worker,
        images_read=reading.images_read,
        megabytes_read=round(megabytes, 1),
        read_MB_per_s=round(megabytes / reading.read_seconds, 1) if reading.read_seconds > 0 else None,
        outputs=Outputs.of({"pairs": [str(folder / PAIRS)], "marker": [str(folder / MARKER)]}),
        timings=RunTimings.of(stages, time.perf_counter() - timed.start),
    )


# --- the merge ---------------------------------------------------------------------------


def _complete_shards(folders: list[Path]) -> list[tuple[Path, MicrographShardRecord]]:
    """Every shard's record, after checking that all are complete, of one run, and all there."""
    return complete_shards(folders, shard_state, _not_of_one_run)


def _not_of_one_run(first_folder: Path, first: MicrographShardRecord, record: MicrographShardRecord) -> str:
    """Why ``record`` is not of the run of ``first`` (in ``first_folder``): "" when it is."""
    if record.run != first.run:
        return f"a shard of another run than {first_folder} ({first.run.difference(record.run)})"
    changed = changed_image(first.run.files, first.images, record.images)
    if changed:
        return f"an image changed between the runs of {first_folder} and this shard: {changed}; run the shards again"
    if record.plan != first.plan:
        changed = first.plan.first_difference(record.plan)
        return (
            f"the micrographs read differently than for {first_folder} ({changed} differs: "
            "files changed between the shards?); run the shards again"
        )
    return ""


def _run_plan(folder: Path, run: MicrographRunRecord, plot: bool, plot_pairs: int) -> MicrographPlan:
    """The options the shards ran with (``run.options`` of ``folder``'s marker), checked and resolved.

    Read from a list or a .cs, the run's micrographs are found again under its ``root``.
    """
    try:
        options = MicrographOptions(**run.options, plot=plot, plot_pairs=plot_pairs)
        options.check()
    except (TypeError, CryodedupError) as err:  # an edited shard.json: a value of another type, an option unknown
        raise CryodedupError(f"{folder / MARKER}: run.options cannot be used ({err})") from None
    if run.kind != "mrc":
        options.project_dir = Path(run.root) if run.root else None
    return micrograph_plan(options)


def _inputs_of(run: MicrographRunRecord, psize: float | None, project_dir: Path | None) -> Micrographs:
    """The run's micrographs, read again from its inputs (to write their kept and rejected rows)."""
    if run.kind == "mrc":
        return Micrographs("mrc", run.micrographs, [Path(p) for p in run.files], psize)
    mics = load_inputs(run.inputs, psize, project_dir)
    if mics.names != run.micrographs:
        raise CryodedupError(f"{run.inputs[0]}: its micrographs changed since the shards ran; run them again")
    mics.paths = [Path(p) for p in run.files]
    return mics


#: The arrays of ``pairs.npz``: the pairs' input indices, then one value per pair each.
PAIR_ARRAYS = ("pairs", "z", "dy", "dx", "pearson", "overlap")


def load_pairs(folder: Path, micrographs: int) -> ScoredPairs:
    """The arrays of a shard's ``pairs.npz``, each checked: numbers, one per pair, indices of the run's micrographs."""
    path = folder / PAIRS
    try:
        # The file opened here: numpy leaves the file it opens unclosed when it is no zip.
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
    except Exception as err:  # a damaged file fails in zipfile, zlib or numpy's format, each with errors of its own
        raise InputFileError(
            f"{path}: cannot be read as a shard's scored pairs ({err or type(err).__name__})"
        ) from None
    for name in PAIR_ARRAYS:
        if name not in arrays:
            raise InputFileError(f"{path}: no array {name}; expected {', '.join(PAIR_ARRAYS)}")
        if not isinstance(arrays[name], np.ndarray):  # numpy gives the bytes of a member that is no .npy
            raise InputFileError(f"{path}: {name} is not a numpy array (.npy), expected numbers")
        if arrays[name].dtype.kind not in "iuf":
            raise InputFileError(f"{path}: {name} holds {arrays[name].dtype} values, expected numbers")
    scores = ScoredPairs(**{name: arrays[name] for name in PAIR_ARRAYS})
    n = scores.z.size
    for name, column in scores.columns().items():
        if name != "pairs" and column.shape != (n,):
            raise InputFileError(f"{path}: {name} has shape {column.shape}, expected ({n},): one value per pair, as z")
    pairs = scores.pairs
    if pairs.size != 2 * n or pairs.ndim not in (1, 2) or pairs.dtype.kind not in "iu":
        raise InputFileError(f"{path}: pairs is {pairs.dtype} of shape {pairs.shape}, expected whole numbers ({n}, 2)")
    if n and (pairs.min() < 0 or pairs.max() >= micrographs):
        raise InputFileError(f"{path}: pairs holds micrograph indices outside 0 to {micrographs - 1}")
    return scores


def _scores_of(folder: Path, record: MicrographShardRecord) -> ShardScores:
    reading = record.reading
    scores = load_pairs(folder, len(record.run.micrographs))
    return ShardScores(
        record.shard,
        record.shards,
        scores,
        images_read=reading.images_read,
        bytes_read=reading.bytes_read,
        read_seconds=reading.read_seconds,
        seconds=reading.seconds,
        worker=reading.worker,
    )


@all_outputs_at_once  # a failure leaves no output folder it made, no lock, no temporary file
def merge_micrograph_shards(
    shard_folders: Sequence[StrPath],
    outdir: StrPath,
    *,
    particles: StrPath | None = None,
    match_micrographs: str = "auto",
    plot: bool = False,
    plot_pairs: int = 12,
    force: bool = False,
    log: Callable[[str, str], None] = lambda message, level: None,
) -> MicrographSummary:
    """Merges the shards of one run into the outputs an unsharded run writes.

    Parameters
    ----------
    shard_folders : list of path
        Shard folders (``shard-K-of-N``), or folders holding them.
    outdir : path
        Receives pairs.csv, duplicates.csv, micrographs_kept.* and micrographs_rejected.*.
    particles : path, optional
        A particle STAR or ``.cs`` to split into the particles of kept and rejected micrographs.
    match_micrographs : str
        How the particles' micrographs are found among the inputs (``auto``, ``path``, ``name``).
    plot : bool
        Also write pictures and report.html.

    Returns
    -------
    MicrographSummary
        The summary, as the job (``job.run_plain``) returns it.
    """
    check_match_mode(match_micrographs)
    shards = _complete_shards(shard_folders_in(shard_folders))
    run = shards[0][1].run
    job = _run_plan(shards[0][0], run, plot, plot_pairs)
    plan = MicrographJob(run.inputs, Path(outdir), job, particles, match_micrographs)
    scores = [_scores_of(folder, record) for folder, record in shards]  # (checked before any output)
    return shape.run(plan, MergedShardStages(force, log=log, shards=shards, scores=scores))


@dataclass
class MergedShardStages(MicrographStages):
    """The job's stages reading the shards' scores (``micrographs-merge``): no image read, nothing scored here.

    ``shards``: each complete shard's folder and record, checked to be of one run; ``scores``: their
    scores, read (and checked) before the stages run, before any output. No pattern is
    removed (the shards scored the images as they are; a run in one go removes it).
    """

    REMOVES_PATTERN: ClassVar[bool] = False

    shards: list[tuple[Path, MicrographShardRecord]] = field(default_factory=list)
    scores: list[ShardScores] = field(default_factory=list, repr=False)

    def read(self, job: MicrographJob) -> MicrographRead:
        """The run's micrographs read again from its inputs; the outputs prepared once every shard's pairs are read."""
        run = self.shards[0][1].run
        mics = _inputs_of(run, job.plan.psize, job.plan.project_dir)
        outputs = prepare_outputs(mics, job.outdir, job.inputs, job.particles, self.force)
        warned: list[str] = []
        return MicrographRead(mics, outputs, None, warned, collecting(self.log, warned))

    def scored(self, job: MicrographJob, read: MicrographRead) -> MicrographScored:
        """The shards' plan and scores (no scoring time, no rate: the shards ran elsewhere; ``workers`` says them)."""
        plan = self.shards[0][1].plan.scoring_plan(self.shards[0][1].run.files)
        return MicrographScored(plan, self.scores, None)
