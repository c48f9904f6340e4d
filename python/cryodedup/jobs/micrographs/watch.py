"""``--watch``: the micrograph job run again whenever new micrographs are ready, during collection.

Each round is an ``--update`` round (``update_round.run_round``) of the whole input as it then stands,
screening only the files that were ready (whole and unchanged since the previous look,
:class:`~cryodedup.jobs.micrographs.update_inputs.Arrivals`) when the round began; a file being
written waits for a later round. Between rounds the input is looked at every ``every``
seconds; the watch ends after ``idle_minutes`` without a new micrograph, or at Ctrl-C
between rounds (each round's outputs and store are whole: an interrupted round leaves the
previous one's).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Callable, TypeVar

from ...errors import CryodedupError
from ...formats.micrograph_lists import load_inputs
from ...paths import StrPath
from .plan import MicrographPlan
from .score import ProgressBar
from .summary import MicrographSummary
from .update_inputs import Arrivals
from .update_round import run_round

__all__ = ["watch_micrographs"]


def watch_micrographs(
    inputs: Sequence[StrPath],
    outdir: StrPath,
    job: MicrographPlan,
    every: float,
    idle_minutes: float | None,
    *,
    particles: StrPath | None = None,
    match_micrographs: str = "auto",
    force: bool = False,
    show: Callable[[MicrographSummary], None] = lambda summary: None,
    log: Callable[[str, str], None] = lambda message, level: None,
    progress_factory: Callable[[int], ProgressBar] | None = None,
) -> int:
    """Runs the micrograph job as ``--update`` rounds while new micrographs arrive; returns the rounds run.

    ``job``: the options resolved (:func:`~.plan.micrograph_plan`) with ``skip_unreadable``:
    every round goes on without the micrographs that cannot be read, and lists them (a watch
    runs unattended, and one broken file ended it, leaving the rest of the session
    unscreened). ``show`` receives each round's summary as the round ends; ``force`` applies
    to the first round only (it starts the store anew; the rounds after it update what it wrote).
    """
    arrivals = Arrivals()

    def round_(first: bool) -> MicrographSummary:
        if first:  # no earlier look: what is whole now
            arrivals.look(load_inputs(list(inputs), job.psize, job.project_dir))
        arrivals.start_round()
        return run_round(
            inputs,
            outdir,
            job,
            particles=particles,
            match_micrographs=match_micrographs,
            force=force and first,
            ready=arrivals.ready,
            log=log,
            progress_factory=progress_factory,
        )

    def news() -> bool | None:
        try:
            return arrivals.look(load_inputs(list(inputs), job.psize, job.project_dir))
        except CryodedupError:
            return None  # being written: looked at again at the next check

    return watch(round_, news, every, idle_minutes, report=show)


#: What a round gives back (its summary), handed to ``report``.
_Round = TypeVar("_Round")


def watch(
    round_: Callable[[bool], _Round],
    news: Callable[[], bool | None],
    every: float,
    idle_minutes: float | None,
    *,
    report: Callable[[_Round], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Runs ``round_`` now and again whenever ``news()`` says there is something new; returns the rounds run.

    Checks every ``every`` seconds (``news()`` is None when the input cannot be read at that
    moment, a STAR file being rewritten: looked at again at the next check; ``Arrivals.look``
    for files); stops after ``idle_minutes`` without new micrographs (never when None), or at
    Ctrl-C between rounds (a round interrupted leaves the previous one's outputs and store:
    each is atomic).
    """
    rounds = 0
    report(round_(True))
    rounds += 1
    last_new = clock()
    try:
        while idle_minutes is None or clock() - last_new < idle_minutes * 60:
            sleep(every)
            if not news():  # None: the input cannot be read now (being written)
                continue
            report(round_(False))
            rounds += 1
            last_new = clock()
    except KeyboardInterrupt:
        pass
    return rounds
