"""The micrograph job: find micrographs that image the same area twice.

Each micrograph is read once (memory-mapped), binned to a target pixel size while read,
and turned into a whitened band-limited spectrum by the Rust core; a candidate pair costs
one product and one inverse FFT. A pair is a duplicate when its phase-correlation peak
(z, in standard deviations of the correlation map) and the Pearson coefficient of the two
images over their overlap at the found shift both pass their thresholds. Duplicates are
grouped (union-find) and the earliest acquisition of each group is kept: the later exposure
hit pre-irradiated ice.

:func:`find_duplicate_micrographs` reads the plan (``plan.py``), scores the pairs
(``score.py``; ``update.py`` for an update), decides (``decide.decide_run``) and writes
(``write.write_results``), in that order; a merge of shards (``shards.py``) decides and writes alike.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ...errors import CryodedupError
from ...formats.micrograph_lists import Micrographs, load_inputs
from ...options import MicrographOptions, MicrographRun
from ...options.keywords import said_in_python
from ...outputs import all_outputs_at_once
from ...paths import StrPath
from ...report.micrograph_sections import Timing, revisit_rows
from ...resolve.micrograph_names import check_match_mode
from .decide import decide_run
from .placement import Placement, place
from .plan import MetadataSources, MicrographPlan, ScoringPlan, micrograph_plan, plan_scoring
from .score import ProgressBar, ShardRunner, ShardScores, decide_without_images, run_in_process
from .summary import MicrographSummary
from .write import PairsCsv, PreparedOutputs, collecting, prepare_outputs, write_results

if TYPE_CHECKING:
    from .update import SeenStore

# --update's store (update.py, with its checks and zip reader) is imported by an update only:
# 25 M instructions, about 3 % of a 4-micrograph screen's.

__all__ = ["find_duplicate_micrographs", "run", "screen_micrographs"]


@said_in_python()  # (a caller who wrote Python is told keywords, not flags)
def find_duplicate_micrographs(
    inputs: Sequence[StrPath],
    outdir: StrPath,
    options: MicrographOptions | None = None,
    *,
    particles: StrPath | None = None,
    match_micrographs: str = "auto",
    force: bool = False,
    update: bool = False,
    ready: Collection[str] | None = None,
    log: Callable[[str, str], None] = lambda message, level: None,
    progress_factory: Callable[[int], ProgressBar] | None = None,
    runner: ShardRunner = run_in_process,
) -> MicrographSummary:
    """Finds micrographs that image the same area twice and writes the results to ``outdir``.

    Parameters
    ----------
    inputs : list of path
        One micrographs STAR, one CryoSPARC exposures ``.cs``/``.csg``, or MRC files/globs.
    outdir : path
        Receives pairs.csv, duplicates.csv, micrographs_kept.* and micrographs_rejected.*.
    options : MicrographOptions
    particles : path, optional
        A particle STAR or ``.cs`` to split into the particles of kept and rejected micrographs.
    match_micrographs : str
        How the particles' micrographs are found among the inputs: ``auto``, ``path`` or
        ``name`` (as the particle job's option of that name; uids first for CryoSPARC).
    runner : callable
        Scores the pairs: here as one shard (default), or in shards elsewhere (``dask.dask_runner``).
    update : bool
        Read only the micrographs an earlier ``update`` run into ``outdir`` has not seen, and replace its
        outputs by those of a fresh run of the whole set (update.py). With ``force``, a full run that starts
        the store anew. A new MRC file still being written is left for a later run (``update.leave_for_later``).
    ready : collection of str, optional
        With ``update``: the absolute paths of the new files that may be read (``--watch`` passes those
        unchanged since its previous look); by default every one whose header's image is all there.

    Returns
    -------
    MicrographSummary
        The summary, typed (:class:`~cryodedup.jobs.micrographs.summary.MicrographSummary`: ``summary.kept``,
        ``summary.verdict.trusted``, ...); its ``to_json()`` is the document ``--json`` prints.
    """
    return screen_micrographs(
        inputs,
        outdir,
        options,
        particles=particles,
        match_micrographs=match_micrographs,
        force=force,
        update=update,
        ready=ready,
        log=log,
        progress_factory=progress_factory,
        runner=runner,
    )


def screen_micrographs(
    inputs: Sequence[StrPath],
    outdir: StrPath,
    options: MicrographOptions | None = None,
    *,
    particles: StrPath | None = None,
    match_micrographs: str = "auto",
    force: bool = False,
    update: bool = False,
    ready: Collection[str] | None = None,
    log: Callable[[str, str], None] = lambda message, level: None,
    progress_factory: Callable[[int], ProgressBar] | None = None,
    runner: ShardRunner = run_in_process,
) -> MicrographSummary:
    """:func:`find_duplicate_micrographs` as the command line runs it (its errors name flags, not keywords)."""
    start = time.perf_counter()
    options = options or MicrographOptions()
    options.check()
    MicrographRun(update=update, particles=particles is not None, in_process=runner is run_in_process).check(options)
    return run(
        inputs,
        outdir,
        micrograph_plan(options),  # (the options resolved once: no stage sees them)
        particles=particles,
        match_micrographs=match_micrographs,
        force=force,
        update=update,
        ready=ready,
        log=log,
        progress_factory=progress_factory,
        runner=runner,
        start=start,
    )


@all_outputs_at_once
def run(
    inputs: Sequence[StrPath],
    outdir: StrPath,
    job: MicrographPlan,
    *,
    particles: StrPath | None = None,
    match_micrographs: str = "auto",
    force: bool = False,
    update: bool = False,
    ready: Collection[str] | None = None,
    log: Callable[[str, str], None] = lambda message, level: None,
    progress_factory: Callable[[int], ProgressBar] | None = None,
    runner: ShardRunner = run_in_process,
    start: float | None = None,
) -> MicrographSummary:
    """The job, its options resolved (``job``) and checked: read, plan, score, decide, write; its summary typed.

    ``start``: when the run began (its time is the summary's), by default now. --watch runs it each round.
    """
    start = time.perf_counter() if start is None else start
    check_match_mode(match_micrographs)
    mics = load_inputs(list(inputs), job.psize, job.project_dir)
    warned: list[str] = []  # --update's warnings, in the summary too: a --json round says what it left out
    said = collecting(log, warned)
    store, mics = _open_update(Path(outdir), inputs, mics, particles, force, ready, said) if update else (None, mics)
    outputs = _prepared_outputs(mics, Path(outdir), inputs, particles, force, store)
    placement = _placement(mics, job.metadata)
    if placement is not None:  # (named now, before any image is read: the images to look at first)
        _say_revisits(placement, log, said)
    pairs_csv = PairsCsv(store.pairs_csv) if store else None
    # An update copies the last round's pairs.csv (to append to) while it scores.
    with pairs_csv.copying(outputs.paths[0]) if pairs_csv else nullcontext():
        scoring_started = time.perf_counter()
        plan, shards = _score(mics, job, placement, store, said, progress_factory, runner)
        scoring = time.perf_counter() - scoring_started
        if pairs_csv and store:
            pairs_csv.earlier = store.pairs_csv  # (None once the scores' options changed: a full run)
        # An update's store is committed once its outputs are written (their temporary files: it records pairs.csv's).
        with store.committing(pairs_csv) if store else nullcontext():
            outcome = decide_run(len(mics.names), plan, shards, job.decision, placement)
            summary = write_results(
                mics,
                job.output,
                job.scoring.candidates,
                outcome,
                outputs,
                log=log,
                match_micrographs=match_micrographs,
                warned=warned,
                placement=placement,
                pairs_csv=pairs_csv,
            )
    return _timed(summary, time.perf_counter() - start, scoring, job.by_position)


def _say_revisits(placement: Placement, log: Callable[[str, str], None], said: Callable[[str, str], None]) -> None:
    """The areas imaged twice that the metadata names (--metadata), and a navigator's warning."""
    for title, text in revisit_rows(placement.revisits):
        log(f"--metadata: {title.lower()}: {text}", "info")
    if placement.navigator_warning:
        said(placement.navigator_warning, "warning")


def _timed(summary: MicrographSummary, seconds: float, scoring: float, no_images: bool) -> MicrographSummary:
    """The summary with the run's time, the scoring's, and the images scored per second of it."""
    # Over the images read (a pattern of candidates may leave some unread), not those listed
    read = not no_images and scoring > 0
    rate = round(summary.images_read / scoring, 1) if read else None
    # (the scoring's time is the rate's: the report and writing are not in it)
    return replace(summary, timing=Timing(round(seconds, 3), round(scoring, 3), rate))


def _open_update(
    outdir: Path,
    inputs: Sequence[StrPath],
    mics: Micrographs,
    particles: StrPath | None,
    force: bool,
    ready: Collection[str] | None,
    said: Callable[[str, str], None],
) -> tuple[SeenStore, Micrographs]:
    """``--update``'s store of what earlier rounds saw, and the micrographs this round reads (those ready)."""
    from .update import leave_for_later, open_store, refuse_inputs_inside

    refuse_inputs_inside(outdir, [*inputs, *mics.paths, *([particles] if particles else [])])
    store = open_store(outdir, mics, force, said)
    return store, leave_for_later(mics, store, ready, said)


def _prepared_outputs(
    mics: Micrographs,
    outdir: Path,
    inputs: Sequence[StrPath],
    particles: StrPath | None,
    force: bool,
    store: SeenStore | None,
) -> PreparedOutputs:
    """The outputs' paths, those of an update's earlier rounds replaced.

    Outputs in the way of an update that found no store of earlier rounds are refused saying so.
    """
    try:
        return prepare_outputs(mics, outdir, inputs, particles, force or bool(store and store.loaded))
    except CryodedupError as error:
        if store is None or store.loaded or force:  # (with --force the store was set aside, not missing)
            raise
        from .update import STORE

        raise type(error)(  # (its kind kept: an output in the way)
            f"{error} (--update found no store of an earlier round in {outdir / STORE}: "
            "--update --force starts one from every micrograph)"
        ) from None


def _placement(mics: Micrographs, metadata: MetadataSources) -> Placement | None:
    """Where and when each micrograph was taken (``--metadata``), or None without it."""
    if not metadata.files:
        return None
    return place(mics.names, list(metadata.files), metadata.shift_calibration, metadata.beam_diameter)


def _score(
    mics: Micrographs,
    job: MicrographPlan,
    placement: Placement | None,
    store: SeenStore | None,
    said: Callable[[str, str], None],
    progress_factory: Callable[[int], ProgressBar] | None,
    runner: ShardRunner,
) -> tuple[ScoringPlan, list[ShardScores]]:
    """The plan and the scores of its pairs: from the positions alone, an update's new pairs, or all by ``runner``."""
    if job.by_position and placement is not None:
        plan, scores = decide_without_images(mics, job.scoring, placement)
        if plan.psize_note:
            said(plan.psize_note, "warning")
        return plan, scores
    plan = plan_scoring(mics, job.scoring, placement, store.known_layouts(mics.paths) if store else None)
    if plan.psize_note:
        said(plan.psize_note, "warning")
    if store is not None:
        from .update import score_update

        return plan, [score_update(plan, job.recorded, store, said, progress_factory)]
    return plan, runner(plan, progress_factory)
