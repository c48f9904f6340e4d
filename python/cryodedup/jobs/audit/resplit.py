"""A refinement that re-split the half-sets of the refinement it continues from (issue 98).

A gold-standard refinement keeps its two halves apart from start to end. One that continues from an
earlier refinement (its particles' poses, or its map as the reference) and draws the halves anew puts
particles in the other half than the earlier one refined them in: each half of the new refinement then
starts from what the other half's particles gave, and its FSC is no longer between independent halves.
RELION keeps ``rlnRandomSubset`` when its input carries it; a Select, a re-extraction or a script that
drops or redraws the column re-splits.

The earlier refinement is found up the project's lineage (:func:`earlier_refinements`): the nearest
refinement up the particle edges (through Polish, CtfRefine, Select, Extract ...) and the nearest up the
reference edges (a map read as the reference, through a PostProcess's half-maps). The two sets'
particles are matched by image name first (``rlnImageName``, its index read as a number), then the rest
one to one by position: on one micrograph, centres within the job's audit distance (a maximum matching,
:mod:`cryodedup.algo.matching`). A matched particle whose half differs is re-split. Each set is read
again by the particle job's reader (the audit lets a set go once counted), each at most once at a time.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ...algo.matching import maximum_matching, pairs_within
from ...errors import CryodedupError
from ...options import ParticleOptions
from ...particle_set import Log
from ..particles.job import run
from ..particles.plan import plan
from ..particles.read import Files
from .check import SetAudit
from .project import Job, Project

__all__ = ["Resplit", "find_resplits", "resplit_rows"]

#: How each kind of edge is named when a refinement continues from another through it.
_POSES, _REFERENCE = "poses", "reference"


class _Audited(Protocol):
    """What is read and set of a job's audit here (``job.JobAudit``): its job, sets, distance and re-split."""

    job: Job
    sets: list[SetAudit]
    min_dist_A: float
    resplit: Resplit | None


@dataclass(frozen=True)
class Resplit:
    """A refinement's particles in another half-set than in the earlier refinement it continues from.

    ``source``: that refinement; ``particles``: the matched particles whose half differs; ``matched``: the
    particles matched between the two sets (``by_name``, by image name; ``by_position``, the rest by
    position); ``continues``: through what (``poses``, its particles' lineage; ``reference``, its map).
    """

    source: str
    particles: int
    matched: int
    by_name: int
    by_position: int
    continues: tuple[str, ...]

    def to_json(self) -> dict:
        """``from``, ``particles`` (re-split), ``matched`` (``matched_by_name``, ``_by_position``), ``continues``."""
        return {
            "from": self.source,
            "particles": self.particles,
            "matched": self.matched,
            "matched_by_name": self.by_name,
            "matched_by_position": self.by_position,
            "continues": list(self.continues),
        }

    def words(self, name: str) -> str:
        """The terminal's line: which refinement, how many particles, against which, and what to do."""
        what = " and ".join({_POSES: "its poses", _REFERENCE: "its map as the reference"}[c] for c in self.continues)
        return (
            f"{name}: {self.particles:,} of its particles carry another half-set than in {self.source}, which it "
            f"continues from ({what}; {self.matched:,} matched: {self.by_name:,} by image name, {self.by_position:,} "
            f"by position); each half started from what the other half's particles gave: its FSC may be inflated; "
            f"refine again with {self.source}'s half-sets"
        )


def resplit_rows(audits: Iterable[_Audited]) -> list[tuple[str, str]]:
    """The terminal's rows of the re-split refinements (``Re-split``, its line), in the pipeline's order."""
    return [("Re-split", a.resplit.words(a.job.label)) for a in audits if a.resplit is not None]


def earlier_refinements(project: Project) -> Callable[[str], dict[str, tuple[str, ...]]]:
    """What gives the nearest refinements a job continues from, each with through what (``poses``, ``reference``).

    Up its particle edges to the nearest refinements (a refinement ends the walk), and up its reference edges
    alike (a map read as its reference, a PostProcess's half-maps); poses' first. Each job's nearest
    refinements are found once, whatever asks (:func:`_nearest_above`): linear in jobs and edges on a chain.
    """
    poses = _nearest_above(project, "particle_parents")
    references = _nearest_above(project, "reference_parents")

    def of(name: str) -> dict[str, tuple[str, ...]]:
        found: dict[str, list[str]] = {}
        for kind, above in ((_POSES, poses), (_REFERENCE, references)):
            for refinement in above(name):
                found.setdefault(refinement, []).append(kind)
        return {refinement: tuple(kinds) for refinement, kinds in found.items()}

    return of


def _nearest_above(project: Project, edges: str) -> Callable[[str], tuple[str, ...]]:
    """Each job's nearest refinements up its ``edges`` (``particle_parents``, ``reference_parents``), itself not one.

    A depth-first walk with a stack of its own (a chain of thousands of jobs is as deep as it is long), each job's
    answer kept for the next that asks; a job met again on the walk's own path (a cycle) adds nothing.
    """
    jobs = project.jobs
    known: dict[str, tuple[str, ...]] = {}

    def above(name: str) -> tuple[str, ...]:
        if name in known:
            return known[name]
        found: dict[str, dict[str, None]] = {name: {}}
        stack = [(name, iter(getattr(jobs[name], edges)))]
        while stack:
            job, parents = stack[-1]
            parent = next(parents, None)
            if parent is None:  # (its parents walked: its answer known, and given to the job below it)
                stack.pop()
                known[job] = tuple(found.pop(job))
                if stack:
                    found[stack[-1][0]].update(dict.fromkeys(known[job]))
            elif parent not in jobs or parent in found:  # (no job, or on the walk's path: a cycle)
                continue
            elif jobs[parent].refinement:
                found[job][parent] = None
            elif parent in known:
                found[job].update(dict.fromkeys(known[parent]))
            else:
                found[parent] = {}
                stack.append((parent, iter(getattr(jobs[parent], edges))))
        return known[name]

    return above


@dataclass
class _Halved:
    """What is matched of a refinement's set: each row's half, image name, micrograph name and centre (Å)."""

    half: np.ndarray
    names: list[str] | None
    mic_names: list[str]
    groups: np.ndarray
    centres: np.ndarray


@dataclass
class _Sets:
    """The refinements' sets read for the comparison, each read once and let go when no comparison needs it."""

    project: Project
    audits: Mapping[str, _Audited]
    say: Log
    uses: Counter[str] = field(default_factory=Counter)
    held: dict[str, _Halved | None] = field(default_factory=dict)

    def get(self, name: str) -> _Halved | None:
        """Job ``name``'s set with half-sets (None: it has none, or it could not be read again)."""
        if name not in self.held:
            self.held[name] = _read_halved(self.project, self.audits[name], self.say)
        found = self.held[name]
        self.uses[name] -= 1
        if self.uses[name] <= 0:
            del self.held[name]
        return found


def find_resplits(project: Project, audits: Mapping[str, _Audited], say: Log) -> None:
    """Each refinement's ``resplit``: against the earlier refinements it continues from, the most re-split one.

    Only refinements whose sets carry half-sets are compared, and only with refinements whose sets do.
    """
    pairs: list[tuple[str, dict[str, tuple[str, ...]]]] = []
    continued = earlier_refinements(project)
    for name, audit in audits.items():
        if not (audit.job.refinement and _halved_set(audit) is not None):
            continue
        earlier = {e: how for e, how in continued(name).items() if e in audits and _halved_set(audits[e])}
        if earlier:
            pairs.append((name, earlier))
    sets = _Sets(project, audits, say)
    for name, earlier in pairs:
        sets.uses.update([name, *earlier])
    for name, earlier in pairs:
        audit = audits[name]
        ours = sets.get(name)
        found = []
        for source, how in earlier.items():
            theirs = sets.get(source)
            if ours is None or theirs is None:
                continue
            say(f"{name}: half-sets against {source}", "info")
            found.append(_compared(ours, theirs, source, how, audit.min_dist_A))
        worst = max(found, key=lambda r: r.particles, default=None)
        audit.resplit = worst if worst is not None and worst.particles else None


def _halved_set(audit: _Audited) -> str | None:
    """The name of the job's first set read with half-sets (None: none)."""
    return next((s.file for s in audit.sets if s.halfsets is not None), None)


def _read_halved(project: Project, audit: _Audited, say: Log) -> _Halved | None:
    """The job's set with half-sets read again (at the pixel size the audit read it); None where it cannot be."""
    set_name = _halved_set(audit)
    if set_name is None:
        return None
    audited = next(s for s in audit.sets if s.file == set_name)
    paths = [project.root / f for f in audit.job.particle_sets.get(set_name, [])]
    micrographs = Path(audited.micrographs) if audited.micrographs else None
    options = ParticleOptions(audit=True, min_dist=0.0, score="none", micrographs=micrographs)
    try:
        particles = run(Files.of(paths), None, plan(options)).particles
    except (CryodedupError, OSError) as err:
        say(f"{audit.job.label}: {set_name} could not be read again for its half-sets: {err}", "warning")
        return None
    if particles.halfsets is None:
        return None
    images = particles.images
    names = None if images is None else [_image_key(n) for n in images.names(np.arange(len(particles)))]
    return _Halved(particles.halfsets.half, names, particles.mic_names, particles.groups, particles.centres)


#: A RELION image name's index and stack: ``000012@Extract/job018/a.mrcs`` is ``12@Extract/job018/a.mrcs``
#: (Extract writes six digits, Polish none).
_INDEXED = re.compile(r"^\s*0*(\d+)@(.*)$")


def _image_key(name: str) -> str:
    """The image's name with its index as a number: one image however its index is padded."""
    found = _INDEXED.match(name)
    return f"{found.group(1)}@{found.group(2).strip()}" if found else name.strip()


def _compared(ours: _Halved, theirs: _Halved, source: str, how: tuple[str, ...], radius: float) -> Resplit:
    """The re-split particles of ``ours`` against ``theirs`` (the refinement ``source``), matched one to one."""
    mine, other = _matched_by_name(ours, theirs)
    by_name = mine.size
    left_a = np.setdiff1d(np.arange(ours.half.size), mine)
    left_b = np.setdiff1d(np.arange(theirs.half.size), other)
    near_a, near_b = _matched_by_position(ours, theirs, left_a, left_b, radius)
    a, b = np.concatenate([mine, near_a]), np.concatenate([other, near_b])
    differ = int(np.count_nonzero(ours.half[a] != theirs.half[b]))
    return Resplit(source, differ, int(a.size), by_name, int(near_a.size), how)


def _matched_by_name(ours: _Halved, theirs: _Halved) -> tuple[np.ndarray, np.ndarray]:
    """The rows of one image in both sets (an image named twice in a set is matched by position, if at all)."""
    if ours.names is None or theirs.names is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    once = _named_once(theirs.names)
    mine_once = _named_once(ours.names)
    found = [(k, once[n]) for n, k in mine_once.items() if n in once]
    found.sort()
    rows = np.array(found, dtype=np.int64).reshape(-1, 2)
    return rows[:, 0], rows[:, 1]


def _named_once(names: list[str]) -> dict[str, int]:
    """Each name that names one row, with its row."""
    counts = Counter(names)
    return {n: k for k, n in enumerate(names) if counts[n] == 1}


def _matched_by_position(
    ours: _Halved, theirs: _Halved, rows_a: np.ndarray, rows_b: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``rows_a`` and ``rows_b`` matched one to one: on one micrograph (by name), centres within ``radius``."""
    if not rows_a.size or not rows_b.size or radius <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    mics = {name: k for k, name in enumerate(dict.fromkeys([*ours.mic_names, *theirs.mic_names]))}
    ga = np.array([mics[n] for n in ours.mic_names], dtype=np.int64)[ours.groups[rows_a]]
    gb = np.array([mics[n] for n in theirs.mic_names], dtype=np.int64)[theirs.groups[rows_b]]
    ca, cb = ours.centres[rows_a], theirs.centres[rows_b]
    if ca.shape[1] != cb.shape[1]:  # (a 2-D set and a 3-D one: no position in common)
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    partner = maximum_matching(rows_a.size, rows_b.size, pairs_within(ca, ga, cb, gb, radius))
    has = partner >= 0
    return rows_a[has], rows_b[partner[has]]
