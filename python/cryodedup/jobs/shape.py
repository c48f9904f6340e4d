"""The one shape every job has: a plan made at the door, then stages a runner runs in one order.

Every job (particles, micrographs, compare, audit) is ``plan = <job's plan>(options)`` at its
entrance, then ``run(plan, stages, runner)``: the stages (:class:`Stages`) read, decide, write,
summarise and report, in that order, each taking what the ones before gave and returning what
the later ones need (no stage keeps anything on itself for another:
``tests/project/test_job_shape.py``); the runner (:class:`Runner`) is what runs them and gives
back what each returned (:class:`Ran`): :func:`plain` (here, in one process, one after
another), or a job's own around them (an ``--update`` round with its store, a shard and its merge, Dask). A
runner may wrap the stages (decide against a store's kept set, write a round's files, score on a
cluster) but the stages never know which runner runs them: the plain path's modules import no
runner's (``tests/project/test_job_shape.py``).

Every job's summary is a :class:`JobSummary`: the fields every ``--json`` document shares, typed
alike in all of them, come first (``verdict``, ``outputs``, ``timings``), then the job's own.
docs/design.md section 16 says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, NoReturn, Protocol, TypeVar

from ..errors import RefusedRun
from ..report.sections.run import Outputs, RunTimings, RunVerdict

__all__ = ["STAGES", "JobSummary", "Ran", "Runner", "Stages", "plain", "required", "run"]

#: The stages in the order every runner runs them (the keys of ``timings``).
STAGES = ("read", "decide", "write", "summarise", "report")


def required(name: str) -> Any:
    """A field a summary (or stages) deriving from :class:`JobSummary` must be given, by keyword.

    The base's fields have defaults, so a subclass's own fields must have one too; CPython 3.9
    (which the package supports) has no ``kw_only`` to lift that rule, so a field that must be
    given gets a default that refuses to be used: a call that leaves it out fails as a missing
    argument would.
    """

    def missing() -> NoReturn:
        raise TypeError(f"missing the field {name!r}")

    return field(default_factory=missing)


@dataclass(frozen=True)
class JobSummary:
    """The fields every job's summary has, typed alike: its verdict, its files, its time.

    ``verdict``: the line the summary opens with and its kind (:class:`~.sections.run.RunVerdict`);
    ``outputs``: the files written, by subset (:class:`~.sections.run.Outputs`; none written: empty);
    ``timings``: the seconds of each stage and of the whole run (:class:`~.sections.run.RunTimings`).
    None while the job still runs (a report written before the end). A job's summary is a
    frozen dataclass deriving from this one, its own fields after these.
    """

    verdict: RunVerdict | None = None
    outputs: Outputs | None = None
    timings: RunTimings | None = None

    def shared_json(self) -> dict[str, Any]:
        """The keys every ``--json`` document has, in this order: ``verdict``, ``outputs``, ``timings`` (null: none)."""
        return {
            "verdict": None if self.verdict is None else self.verdict.to_json(),
            "outputs": {} if self.outputs is None else self.outputs.to_json(),
            "timings": None if self.timings is None else self.timings.to_json(),
        }


PlanT = TypeVar("PlanT", contravariant=True)
ReadT = TypeVar("ReadT")
DecidedT = TypeVar("DecidedT")
WrittenT = TypeVar("WrittenT")
SummaryT = TypeVar("SummaryT", bound=JobSummary)


class Stages(Protocol[PlanT, ReadT, DecidedT, WrittenT, SummaryT]):
    """A job's stages: each takes the plan and what the stages before it gave (nothing else: no options)."""

    def read(self, plan: PlanT) -> ReadT:
        """The inputs read (and checked) into the job's one structure."""
        ...

    def decide(self, plan: PlanT, read: ReadT) -> DecidedT:
        """What to keep, from what was read alone: no file is read here."""
        ...

    def write(self, plan: PlanT, read: ReadT, decided: DecidedT) -> WrittenT:
        """The decision's outputs written (under temporary names, put in place by the runner's batch)."""
        ...

    def summarise(self, plan: PlanT, read: ReadT, decided: DecidedT, written: WrittenT) -> SummaryT:
        """The run's summary, typed: what was read, decided and written."""
        ...

    def report(self, plan: PlanT, summary: SummaryT, written: WrittenT) -> SummaryT:
        """The summary as the user sees it: its verdict line, its pictures and report.html (``--plot``: joined)."""
        ...


ReadT_co = TypeVar("ReadT_co", covariant=True)
DecidedT_co = TypeVar("DecidedT_co", covariant=True)
WrittenT_co = TypeVar("WrittenT_co", covariant=True)
SummaryT_co = TypeVar("SummaryT_co", bound=JobSummary, covariant=True)
StagesT = TypeVar("StagesT", contravariant=True)


@dataclass(frozen=True)
class Ran(Generic[ReadT_co, DecidedT_co, WrittenT_co, SummaryT_co]):
    """What a run's stages returned: what was read, decided and written, and the summary as reported."""

    read: ReadT_co
    decided: DecidedT_co
    written: WrittenT_co
    summary: SummaryT_co


class Runner(Protocol[StagesT, SummaryT_co]):
    """What runs a job's stages for a plan: :func:`plain`, or a job's round, shard, merge, Dask.

    Typed by the stages it runs (a job's own class: what it needs of them, no downcast) and the summary.
    """

    def __call__(self, plan: Any, stages: StagesT, /) -> Ran[Any, Any, Any, SummaryT_co]:
        """What ``stages`` returned, run for ``plan``."""
        ...


@dataclass
class _Clock:
    """The seconds of each stage, as they run."""

    started: float
    seconds: dict[str, float]

    def timed(self, stage: str, call: Callable[..., Any], *args: Any) -> Any:
        began = time.perf_counter()
        try:
            return call(*args)
        finally:  # (a stage that refused counts too: its refusal says the time)
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - began

    def timings(self, own: RunTimings | None) -> RunTimings:
        """The stages' seconds and the whole's, in the job's own timings (``own``: its keys kept) when it gave them."""
        measured = RunTimings.of(self.seconds, time.perf_counter() - self.started)
        return measured if own is None else replace(own, seconds=measured.seconds, stages=measured.stages)


def plain(
    plan: PlanT, stages: Stages[PlanT, ReadT, DecidedT, WrittenT, SummaryT]
) -> Ran[ReadT, DecidedT, WrittenT, SummaryT]:
    """The plain runner: the stages one after another in this process, each timed (the summary's ``timings``).

    A summary whose ``timings`` the stages gave (a subclass of :class:`RunTimings` with the job's own keys,
    the micrograph job's scoring) keeps them: the runner sets its stages' seconds and the whole's.
    """
    clock = _Clock(time.perf_counter(), {})
    try:
        read = clock.timed("read", stages.read, plan)
        decided = clock.timed("decide", stages.decide, plan, read)
        written = clock.timed("write", stages.write, plan, read, decided)
    except RefusedRun as refusal:  # (its --json says how long the run looked)
        refusal.timings = clock.timings(None).to_json()
        raise
    summary = clock.timed("summarise", stages.summarise, plan, read, decided, written)
    # (the report says the time of what came before it; a job's own timings keys, given by summarise, kept)
    summary = replace(summary, timings=clock.timings(summary.timings))
    summary = clock.timed("report", stages.report, plan, summary, written)
    return Ran(read, decided, written, replace(summary, timings=clock.timings(summary.timings)))


def run(
    plan: PlanT, stages: Stages[PlanT, Any, Any, Any, SummaryT], runner: Runner[Any, SummaryT] | None = None
) -> SummaryT:
    """The job: ``stages`` run for ``plan`` by ``runner`` (:func:`plain` unless given); its summary."""
    return (plain(plan, stages) if runner is None else runner(plan, stages)).summary
