"""The one job shape (jobs/shape.py): the plain runner runs the stages in order, times each, and a runner wraps them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cryodedup.jobs.shape import STAGES, JobSummary, Runner, Stages, plain, run
from cryodedup.report.sections.run import Outputs, RunTimings, RunVerdict


@dataclass(frozen=True, kw_only=True)
class _Summary(JobSummary):
    counted: int = 0


class _Recorder:
    """Stages that record what each was given: the oracle is the order written out by hand."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def read(self, plan):
        self.calls.append(("read", plan))
        return [3, 1, 2]

    def decide(self, plan, read):
        self.calls.append(("decide", plan, tuple(read)))
        return [x for x in read if x > 1]

    def write(self, plan, read, decided):
        self.calls.append(("write", plan, tuple(decided)))
        return {"kept": ["k.star"], "rejected": ["r.star"]}

    def summarise(self, plan, read, decided, written):
        self.calls.append(("summarise", plan))
        return _Summary(counted=len(decided), outputs=Outputs.of(written))

    def report(self, plan, summary, written):
        self.calls.append(("report", plan, summary.timings is not None, tuple(written)))
        return _Summary(
            counted=summary.counted,
            outputs=summary.outputs,
            timings=summary.timings,
            verdict=RunVerdict("TRUSTED", "good", line=f"Kept {summary.counted}"),
        )


def test_the_plain_runner_runs_the_stages_in_order_each_given_what_came_before():
    stages = _Recorder()
    summary = run("the plan", stages)
    assert stages.calls == [
        ("read", "the plan"),
        ("decide", "the plan", (3, 1, 2)),
        ("write", "the plan", (3, 2)),
        ("summarise", "the plan"),
        ("report", "the plan", True, ("kept", "rejected")),  # (the time of what came before it; what write gave)
    ]
    assert summary.counted == 2
    document = summary.shared_json()
    assert list(document) == ["verdict", "outputs", "timings"]
    assert document["verdict"] == {"word": "TRUSTED", "kind": "good", "line": "Kept 2", "why": None}
    assert document["outputs"] == {"kept": ["k.star"], "rejected": ["r.star"]}
    assert list(document["timings"]) == [*STAGES, "seconds"]
    assert document["timings"]["seconds"] >= sum(document["timings"][s] for s in STAGES) - 0.005


def test_a_runner_given_runs_in_place_of_the_plain_one():
    seen = []

    def around(plan, stages):
        seen.append(plan)
        return plain(plan.upper(), stages)

    runner: Runner = around
    stages: Stages = _Recorder()
    run("p", stages, runner)
    assert isinstance(stages, _Recorder)
    assert seen == ["p"]
    assert {call[1] for call in stages.calls} == {"P"}


def test_the_runner_gives_back_what_each_stage_returned():
    done = plain("p", _Recorder())
    assert (done.read, done.decided, done.written) == ([3, 1, 2], [3, 2], {"kept": ["k.star"], "rejected": ["r.star"]})
    assert done.summary.counted == 2


def test_a_summary_without_a_verdict_yet_says_null_and_no_outputs():
    assert _Summary().shared_json() == {"verdict": None, "outputs": {}, "timings": None}


def test_a_verdict_of_another_kind_is_refused():
    with pytest.raises(ValueError, match="good, warn, bad"):
        RunVerdict("fine", "ok")


@dataclass(frozen=True)
class _OwnTimings(RunTimings):
    one_pass: bool = False


def test_a_jobs_own_timings_keys_come_after_the_shared_ones():
    timings = _OwnTimings(1.23456, (("read", 0.5), ("decide", 0.25)), one_pass=True)
    assert timings.to_json() == {"read": 0.5, "decide": 0.25, "seconds": 1.23456, "one_pass": True}
    assert RunTimings.of({"read": 0.12345}, 2.00049).to_json() == {"read": 0.123, "seconds": 2.0}


@dataclass(frozen=True)
class _ScoredTimings(RunTimings):
    scoring_seconds: float | None = None


class _OwnTimingsStages(_Recorder):
    """Stages whose summarise gives the job's own timings keys (as the micrograph job's scoring)."""

    def summarise(self, plan, read, decided, written):
        return _Summary(counted=len(decided), timings=_ScoredTimings(0.0, scoring_seconds=1.5))

    def report(self, plan, summary, written):
        return summary


def test_the_plain_runner_keeps_a_jobs_own_timings_keys_and_sets_the_stages_seconds():
    summary = run("p", _OwnTimingsStages())
    assert isinstance(summary.timings, _ScoredTimings)
    document = summary.timings.to_json()
    assert list(document) == [*STAGES, "seconds", "scoring_seconds"]
    assert document["scoring_seconds"] == 1.5
    assert document["seconds"] >= sum(document[s] for s in STAGES) - 0.005


def test_a_field_that_must_be_given_refuses_to_be_left_out():
    # (CPython 3.9 has no kw_only: a summary's own field after the base's defaults is required this way)
    from cryodedup.jobs.shape import required

    @dataclass(frozen=True)
    class _Given(JobSummary):
        root: str = required("root")

    assert _Given(root="p").root == "p"
    with pytest.raises(TypeError, match="missing the field 'root'"):
        _Given()
