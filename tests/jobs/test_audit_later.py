"""Superseded and carried found for every refinement in one walk (issue 90: ``_supersede`` and ``_carry`` walked
the descendants once per refinement to redo, and its ancestors at every step: a chain of many refinements to redo
was quadratic, or worse).

Oracles: the walks as they were (a breadth-first walk below each refinement to redo, its ancestors walked for each
candidate), kept here, on small random projects (cycles, reference edges beside the particle edges, start times known
or not, parents that are no job); and, at scale, chains whose answer is known by construction.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from cryodedup.jobs.audit.job import JobAudit, ProjectAudit
from cryodedup.jobs.audit.later import carry, supersede
from cryodedup.jobs.audit.project import Job, Project
from helpers import within

# --- the oracles: the walks as they were before (jobs/audit/job.py of main d3ca09e7) --------------------------------


def _old_supersede(audits: dict, project: Project) -> None:
    children = project.particle_children()
    for audit in audits.values():
        if audit.verdict != "redo":
            continue
        job = audit.job
        starts = job.particle_parents or [job.name]
        later = _old_nearest_descendant(starts, children, audits, _old_successor(project, job))
        if later is not None:
            audit.verdict = "superseded"
            head, _, _redo = audit.line.partition(": its FSC may be inflated; ")
            shared = "share none" if later.verdict == "clean" else "share a negligible few"
            audit.line = (
                f"{head}: superseded by {later.job.label} (a later refinement of a descendant of its particles, "
                f"whose half-sets {shared}); nothing to redo"
            )


def _old_carry(audits: dict, project: Project) -> None:
    children = project.particle_children()
    last = {}
    for audit in audits.values():
        if audit.verdict != "redo":
            continue
        later, seen = audit, {audit.job.name}
        while (after := _old_later_redo(later, children, audits, project)) is not None and after.job.name not in seen:
            later = after
            seen.add(later.job.name)
        if later is not audit:
            last[audit.job.name] = later
    for name, later in last.items():
        audit = audits[name]
        audit.verdict = "carried"
        head, _, _redo = audit.line.partition(": its FSC may be inflated; ")
        audit.line = (
            f"{head}: carried down to {later.job.label} (a later refinement of its particles, to redo): redoing "
            f"{later.job.label} clears this one too; nothing to redo here"
        )


def _old_later_redo(audit, children, audits, project):
    return _old_nearest_descendant([audit.job.name], children, audits, _old_successor(project, audit.job), ("redo",))


def _old_successor(project: Project, job: Job) -> Callable[[Job], bool]:
    ancestors = project.ancestors(job.name)
    return lambda later: later.name not in ancestors and later.ran_after(job)


def _old_nearest_descendant(starts, children, audits, allowed, verdicts=("clean", "negligible")):
    """The breadth-first walk, level by level: the first refinement of the nearest level, in the walk's order."""
    level, seen = list(starts), set(starts)
    while level:
        for name in level:
            audit = audits[name]
            halves = audit.worst is not None and audit.worst.halfsets is not None
            if audit.job.refinement and audit.verdict in verdicts and halves and allowed(audit.job):
                return audit
        below = [child for name in level for child in children.get(name, [])]
        level = [child for child in dict.fromkeys(below) if child not in seen]
        seen.update(level)
    return None


# --- the cases -------------------------------------------------------------------------------------------------------


@dataclass
class _Set:
    halfsets: object


@dataclass
class _Audited:
    """What the verdicts read of a job's audit, and write."""

    job: Job
    verdict: str
    line: str
    worst: _Set | None


def _random_project(rng: random.Random, jobs: int) -> tuple[Project, dict[str, _Audited]]:
    """Jobs in a random order (their numbers shuffled, some with start times) with random particle parents and more
    parents beside them (references, masks), a few cycles; refinements of random verdicts, halves or none."""
    names = [f"Refine3D/job{k:03d}" if rng.random() < 0.5 else f"Select/job{k:03d}" for k in range(jobs)]
    project = Project(Path("."), "test", {})
    for number, name in enumerate(names):
        earlier = names[:number] if rng.random() < 0.9 else names  # (now and then a later one: a cycle)
        particles = list(dict.fromkeys(rng.choices(earlier, k=rng.choice([0, 1, 1, 1, 2])))) if earlier else []
        others = rng.choices(earlier, k=rng.choice([0, 0, 1, 2])) if earlier else []
        if rng.random() < 0.05:
            others.append("Import/job999")  # (a parent that is no job)
        job = Job(name, name.split("/")[0], name.split("/")[0], parents=list(dict.fromkeys(particles + others)))
        job.particle_parents = particles
        job.number = rng.randrange(jobs) if rng.random() < 0.2 else number  # (now and then out of order)
        job.started = float(number + rng.choice([0, 0, 5, -5])) if rng.random() < 0.3 else None
        project.jobs[name] = job
    audits = {}
    for name, job in project.jobs.items():
        verdict = rng.choice(["redo", "redo", "clean", "negligible", "inherited", "clean"])
        worst = None if rng.random() < 0.1 else _Set(None if rng.random() < 0.15 else [1, 2])
        line = f"{name}: 3 pairs straddle the half-sets: its FSC may be inflated; redo it: the command"
        audits[name] = _Audited(job, verdict, line, worst)
    return project, audits


def _copy(audits: dict[str, _Audited]) -> dict[str, _Audited]:
    return {name: _Audited(a.job, a.verdict, a.line, a.worst) for name, a in audits.items()}


@pytest.mark.parametrize("seed", range(400))
def test_superseded_and_carried_are_what_the_walk_from_each_refinement_found(seed):
    rng = random.Random(seed)
    project, audits = _random_project(rng, rng.choice([1, 2, 4, 8, 15, 30]))
    expected = _copy(audits)
    _old_supersede(expected, project)
    _old_carry(expected, project)
    supersede(audits, project)
    carry(audits, project)
    assert {n: (a.verdict, a.line) for n, a in audits.items()} == {n: (a.verdict, a.line) for n, a in expected.items()}


def _chain(jobs: int, every: int, last: str) -> tuple[Project, dict[str, _Audited]]:
    """A chain of ``jobs`` jobs, every ``every``-th a refinement to redo (each reading the one before, its reference
    the refinement before it), the last refinement ``last``."""
    project = Project(Path("."), "test", {})
    audits = {}
    names = [f"Refine3D/job{k:06d}" if k % every == every - 1 else f"Select/job{k:06d}" for k in range(jobs)]
    previous_refinement = None
    for number, name in enumerate(names):
        parents = [names[number - 1]] if number else []
        job = Job(name, name.split("/")[0], name.split("/")[0], parents=list(parents), particle_parents=parents)
        job.number = number
        if job.refinement and previous_refinement is not None:
            job.parents.append(previous_refinement)
        project.jobs[name] = job
        verdict = "redo" if job.refinement else "inherited"
        audits[name] = _Audited(job, verdict, f"{name}: its FSC may be inflated; redo", _Set([1, 2]))
        previous_refinement = name if job.refinement else previous_refinement
    refinements = [n for n in names if project.jobs[n].refinement]
    audits[refinements[-1]].verdict = last
    return project, audits


@pytest.mark.slow
def test_10000_refinements_to_redo_on_one_chain_of_100000_jobs_take_seconds():
    # Before: every refinement's walk to the next one to redo, and its ancestors at every step (10,000 refinements
    # on 100,000 jobs: not finished in minutes). One redo, the last's, clears all others.
    project, audits = _chain(100_000, 10, "redo")
    refinements = [n for n, a in audits.items() if a.job.refinement]
    with within(20):
        supersede(audits, project)
        carry(audits, project)
    assert audits[refinements[-1]].verdict == "redo"
    assert {audits[n].verdict for n in refinements[:-1]} == {"carried"}
    assert all(f"carried down to {refinements[-1]} " in audits[n].line for n in refinements[:-1])
    # The last refinement clean: each one before it superseded by the next (nearest) refinement, which is clean, or
    # superseded itself (never clean): all by the last.
    project, audits = _chain(100_000, 10, "clean")
    with within(20):
        supersede(audits, project)
        carry(audits, project)
    assert {audits[n].verdict for n in refinements[:-1]} == {"superseded"}
    assert all(f"superseded by {refinements[-1]} " in audits[n].line for n in refinements[:-1])


def test_a_chain_of_many_carried_refinements_is_counted_in_the_headline():
    # Before: the headline named every refinement the redo clears (999 names, 20 kB, at 100,000 jobs).
    names = [f"Refine3D/job{k:06d}" for k in range(100, 100_001, 100)]
    jobs = [JobAudit(Job(name, "Refine3D", "x"), verdict="carried") for name in names[:-1]]
    last = JobAudit(Job(names[-1], "Refine3D", "x"), verdict="redo")
    audit = ProjectAudit(root=Path("p"), layout="RELION 3.1", jobs=[*jobs, last], problems=[])
    assert audit.judged().line == (
        f"1 refinement to redo: {names[-1]}; redoing it clears 999 earlier refinements ({names[0]} ... {names[-2]}; "
        "each in --json)"
    )
    few = ProjectAudit(root=Path("p"), layout="RELION 3.1", jobs=[*jobs[:6], last], problems=[])
    assert few.judged().line == f"1 refinement to redo: {names[-1]}; redoing it clears {', '.join(names[:6])}"
