"""The micrograph job: find micrographs that image the same area twice.

Each micrograph is read once (memory-mapped), binned to a target pixel size while read,
and turned into a whitened band-limited spectrum by the Rust core; a candidate pair costs
one product and one inverse FFT. A pair is a duplicate when its phase-correlation peak
(z, in standard deviations of the correlation map) and the Pearson coefficient of the two
images over their overlap at the found shift both pass their thresholds. Duplicates are
grouped (union-find) and the earliest acquisition of each group is kept: the later exposure
hit pre-irradiated ice.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Callable

from ...errors import CryodedupError
from ...formats.micrograph_lists import load_inputs
from ...formats.microscope import place
from ...options import MicrographOptions
from ...outputs import StrPath, all_outputs_at_once
from ...resolve.micrograph_names import check_match_mode
from .plan import plan_scoring
from .score import ProgressBar, ShardRunner, decide_without_images, run_in_process
from .update import leave_for_later, open_store, refuse_inputs_inside, score_update
from .write import collecting, prepare_outputs, write_results


@all_outputs_at_once
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
) -> dict[str, Any]:
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
        Scores the pairs: here as one shard (default), or in shards elsewhere
        (``dask.dask_runner``).
    update : bool
        Read only the micrographs an earlier ``update`` run into ``outdir`` has not seen, and
        replace its outputs by those of a fresh run of the whole set (update.py). With
        ``force``, a full run that starts the store anew. A new MRC file still being written
        is left for a later run (``update.leave_for_later``).
    ready : collection of str, optional
        With ``update``: the absolute paths of the new files that may be read (``--watch``
        passes those unchanged since its previous look); by default every one whose header's
        image is all there.

    Returns
    -------
    dict
        The summary.
    """
    start = time.perf_counter()
    options = options or MicrographOptions()
    options.check()
    check_match_mode(match_micrographs)
    mics = load_inputs(list(inputs), options.psize, options.project_dir)
    store = None
    warned: list[str] = []  # --update's warnings, in the summary too: a --json round says what it left out
    said = collecting(log, warned)
    if update:
        if options.no_images:
            raise CryodedupError("--update keeps the images it read; with --no-images nothing is read: run without it")
        if runner is not run_in_process:
            raise CryodedupError("--update runs in one process: it cannot be given with --shard or --dask")
        refuse_inputs_inside(Path(outdir), [*inputs, *mics.paths, *([particles] if particles else [])])
        store = open_store(Path(outdir), mics, force, said)
        mics = leave_for_later(mics, store, ready, said)
    # An update replaces the outputs of the rounds before it.
    outputs = prepare_outputs(mics, Path(outdir), inputs, particles, force or bool(store and store.loaded))
    placement = (
        place(mics.names, options.metadata, options.shift_calibration, options.beam_diameter)
        if options.metadata
        else None
    )
    if placement is not None and not placement.matched.any():
        raise CryodedupError(
            f"--metadata: none of the {placement.acquisitions} acquisitions matches a micrograph by file name "
            f"(e.g. {Path(mics.names[0]).name})"
        )
    scoring_started = time.perf_counter()
    if options.no_images and placement is not None:
        plan, shards = decide_without_images(mics, options, placement)
    else:
        plan = plan_scoring(mics, options, placement, store.known_layouts() if store else None)
        if store is not None:
            shards = [score_update(plan, options, store, said, progress_factory)]
        else:
            shards = runner(plan, progress_factory)
    scoring = time.perf_counter() - scoring_started
    summary = write_results(
        mics,
        options,
        plan,
        shards,
        outputs,
        inputs=inputs,
        particles=particles,
        log=log,
        match_micrographs=match_micrographs,
        warned=warned,
        placement=placement,
    )
    elapsed = time.perf_counter() - start
    summary["seconds"] = round(elapsed, 3)
    # Over the images read (a pattern of candidates may leave some unread), not those listed
    read = not options.no_images and scoring > 0
    summary["scoring_seconds"] = round(scoring, 3)  # the rate's time: the report and writing are not in it
    summary["images_per_second"] = round(summary["images_read"] / scoring, 1) if read else None
    return summary
