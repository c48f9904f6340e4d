"""Refinements to redo that a later refinement replaces: superseded by a clean one, carried down to one to redo.

Every refinement's nearest candidate below its particles is found in one walk of the lineage
(:func:`.project.nearest_holder_steps`), and "none of its ancestors" is read from one topological order of the
jobs: linear in jobs and edges, however many refinements are to redo on one chain (issue 90). Only where the
nearest candidate is refused (it ran first, or the order cannot tell: a cycle) is the walk from that refinement
made, as before.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from .project import Job, Project, nearest_holder_steps
from .verdicts import CARRIED, CLEAN, NEGLIGIBLE, REDO, SUPERSEDED

__all__ = ["carry", "supersede"]


class _Audit(Protocol):
    """What is read of a job's audit here (``job.JobAudit``): its job, verdict, line, and its worst set."""

    job: Job
    verdict: str
    line: str

    @property
    def worst(self) -> object: ...  # (read only: the job's own type)


def supersede(audits: Mapping[str, _Audit], project: Project) -> None:
    """Each refinement to redo that a later refinement replaced: its verdict superseded, its line naming the later one.

    The later refinement refined, through particle edges only, a descendant of its particles (of its input's, or of
    its own: a Select that removed their duplicates, then Refine3D), ran after it, and its half-sets share no
    duplicates (or too few to matter): its duplicates were removed downstream. Never one of its own ancestors (a
    refinement whose map it took as its reference). The nearest such one is named.
    """
    children = project.particle_children()
    verdicts = (CLEAN, NEGLIGIBLE)
    near = _nearest(audits, project, children, verdicts)
    allowed = _Successors(project)
    for audit in audits.values():
        if audit.verdict != REDO:
            continue
        job = audit.job
        starts = job.particle_parents or [job.name]
        later = _first(starts, near, audits)
        if later is not None and not allowed(later.job, job):  # (refused: the walk from it finds the next)
            later = _nearest_descendant(starts, children, audits, allowed.of(job), verdicts)
        if later is not None:
            audit.verdict = SUPERSEDED
            head, _, _redo = audit.line.partition(": its FSC may be inflated; ")
            shared = "share none" if later.verdict == CLEAN else "share a negligible few"
            audit.line = (
                f"{head}: superseded by {later.job.label} (a later refinement of a descendant of its particles, "
                f"whose half-sets {shared}); nothing to redo"
            )


def carry(audits: Mapping[str, _Audit], project: Project) -> None:
    """Each refinement to redo whose duplicates a later refinement to redo carries: its verdict carried.

    Redoing the last refinement of the chain (through particle edges, run after it, none of its ancestors) gives a
    later refinement of a descendant of its particles with clean half-sets: it supersedes this one, so one redo
    clears the chain. Its line names that last refinement.
    """
    children = project.particle_children()
    near = _nearest(audits, project, children, (REDO,))
    allowed = _Successors(project)
    after: dict[str, str] = {}  # (each refinement to redo: the nearest later one to redo below it)
    for name, audit in audits.items():
        if audit.verdict != REDO:
            continue
        later = _first(children.get(name, []), near, audits)
        if later is None or not allowed(later.job, audit.job):  # (refused: the walk from it finds the next)
            later = _nearest_descendant([name], children, audits, allowed.of(audit.job), (REDO,))
        if later is not None:
            after[name] = later.job.name
    for name, last in _last_of_chains(after).items():
        audit = audits[name]
        label = audits[last].job.label
        audit.verdict = CARRIED
        head, _, _redo = audit.line.partition(": its FSC may be inflated; ")
        audit.line = (
            f"{head}: carried down to {label} (a later refinement of its particles, to redo): redoing "
            f"{label} clears this one too; nothing to redo here"
        )


def _last_of_chains(after: dict[str, str]) -> dict[str, str]:
    """Each name's last of the chain ``after`` makes of it (followed until none follows, or one comes round again).

    Each chain followed once: a name's last is that of the one after it. A chain that comes round (a cycle, which
    run times that are not comparable could make) is followed from each of its names, as from each it ends anew.
    """
    last: dict[str, str] = {}
    for start in after:
        path, on_path, name = [], set(), start
        while name in after and name not in last and name not in on_path:
            path.append(name)
            on_path.add(name)
            name = after[name]
        if name in on_path:  # (round: each of the path's names ends before coming back to itself)
            for first in path:
                last[first] = _followed(first, after)
            continue
        end = last.get(name, name)
        for first in path:
            last[first] = end
    return {name: end for name, end in last.items() if end != name}


def _followed(start: str, after: dict[str, str]) -> str:
    seen, name = {start}, start
    while name in after and after[name] not in seen:
        name = after[name]
        seen.add(name)
    return name


def _candidate(audit: _Audit, verdicts: tuple[str, ...]) -> bool:
    """A refinement of one of ``verdicts`` whose half-sets were audited."""
    halves = audit.worst is not None and getattr(audit.worst, "halfsets", None) is not None
    halves = halves or getattr(audit, "fed", None) is not None  # (a damaged refinement fed pairs across them)
    return audit.job.refinement and audit.verdict in verdicts and halves


def _nearest(
    audits: Mapping[str, _Audit], project: Project, children: dict[str, list[str]], verdicts: tuple[str, ...]
) -> dict[str, tuple[str, int]]:
    """Each job's nearest refinement of ``verdicts`` below it through particle edges (itself first), and its steps."""
    parents = {name: job.particle_parents for name, job in project.jobs.items()}
    holders = [name for name, audit in audits.items() if _candidate(audit, verdicts)]
    return nearest_holder_steps(children, parents, holders)


def _first(starts: Iterable[str], near: dict[str, tuple[str, int]], audits: Mapping[str, _Audit]) -> _Audit | None:
    """The nearest of ``starts``' nearest holders: fewest steps, then the first of ``starts`` (as a walk from them)."""
    found = [near[start] for start in starts if start in near]
    return audits[min(found, key=lambda held: held[1])[0]] if found else None


class _Successors:
    """Whether a refinement may supersede a job: it ran after it and is none of its ancestors (through any edge).

    "None of its ancestors" read from one topological order (a job placed after another is none of its ancestors);
    where the order cannot tell (a cycle above), from the job's ancestors, walked once for that job.
    """

    def __init__(self, project: Project) -> None:
        self.project = project
        self.places = project.topological_places()
        self.ancestors: dict[str, set[str]] = {}

    def __call__(self, later: Job, job: Job) -> bool:
        return later.ran_after(job) and not self._ancestor(later.name, job.name)

    def _ancestor(self, name: str, of: str) -> bool:
        if name in self.places and of in self.places and self.places[name] > self.places[of]:
            return False
        if of not in self.ancestors:
            self.ancestors[of] = self.project.ancestors(of)
        return name in self.ancestors[of]

    def of(self, job: Job) -> Callable[[Job], bool]:
        """The test for ``job`` alone, as :func:`_nearest_descendant` takes it."""
        return lambda later: self(later, job)


def _nearest_descendant(
    starts: list[str],
    children: dict[str, list[str]],
    audits: Mapping[str, _Audit],
    allowed: Callable[[Job], bool],
    verdicts: tuple[str, ...],
) -> _Audit | None:
    """The nearest refinement below ``starts`` (breadth first) that ``allowed`` accepts, its verdict of ``verdicts``."""
    seen = set(starts)
    queue = deque(starts)
    while queue:
        name = queue.popleft()
        audit = audits[name]
        if _candidate(audit, verdicts) and allowed(audit.job):
            return audit
        for child in children.get(name, []):
            if child not in seen:
                seen.add(child)
                queue.append(child)
    return None
