"""``cryodedup audit PROJECT_DIR``: every particle set of a project checked, duplicates traced to where they entered.

For each job that holds particles: its duplicate pairs within a distance that suits it
(the user's own duplicate threshold in its lineage, else a quarter of the particle diameter it
or a job of its lineage recorded, else the particle job's default), one image twice, and in
a refinement the pairs across its half-sets. A job's duplicates *entered* there when none of
the particle sets it read holds any; else they came from its parents, traced up to where they
entered. One line per job, worst first, says what to redo. Nothing is written into the project.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...labels import counted
from ...report.sections.run import RunVerdict
from ..shape import JobSummary, required
from .advice import external_route, redo_command
from .check import SetAudit
from .fsc import FscFound, fsc_figures, fsc_rows, judge
from .later import carry, supersede
from .project import Job, Project
from .verdicts import (
    CARRIED,
    CLEAN,
    DAMAGED,
    ENTERED,
    INHERITED,
    NEGLIGIBLE,
    NONE,
    NOT_RUN,
    REDO,
    RUNNING,
    SUPERSEDED,
)

__all__ = [
    "DEFAULT_NEGLIGIBLE",
    "FINISHED",
    "JobAudit",
    "ProjectAudit",
    "audit_rows",
    "judge_project",
    "redo_commands",
    "write_audit_page",
]

_RANK = {
    REDO: 0,
    CARRIED: 1,
    DAMAGED: 1,
    RUNNING: 2,
    ENTERED: 3,
    INHERITED: 4,
    NEGLIGIBLE: 5,
    SUPERSEDED: 6,
    CLEAN: 7,
    NOT_RUN: 8,
    NONE: 9,
}
#: Words of a set's warning that say duplicates may have gone uncounted: micrographs of one file name in two folders
#: are different micrographs to the particle job (never compared), as one movie motion-corrected twice would be.
_HIDING = ("kept apart and matched by exact path only",)
#: The share of a refinement's particles in a straddling pair (%) under which its FSC is not redone for them.
DEFAULT_NEGLIGIBLE = 1.0

#: A job's status that says its outputs are written (RELION 3.1-5's, CryoSPARC's); with another, missing
#: particle files are outputs not written yet, not damage.
FINISHED = {"Succeeded", "Finished", "completed", ""}


@dataclass
class JobAudit:
    """One job's audit: its sets' numbers, the distance and why, where its duplicates entered, its line."""

    job: Job
    min_dist_A: float = 0.0
    distance_reason: str = ""
    sets: list[SetAudit] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    entered_at: list[str] = field(default_factory=list)
    #: Particle sets not written yet by a job not finished (scheduled, running, failed).
    not_written: list[str] = field(default_factory=list)
    verdict: str = NONE
    line: str = ""
    #: A refinement to redo (a job where duplicates entered): the command its line ends with, which writes the set
    #: to refine again (without its duplicates).
    command: str = ""
    #: The same through RELION's External job, which keeps the pipeline's lineage (empty: none, CryoSPARC).
    route: str = ""
    #: The point group its poses were compared under and where it was recorded (its own, or the refinement's
    #: whose poses it carries); None: C1, none recorded.
    symmetry: tuple[str, str] | None = None
    #: A refinement's FSC and what its straddling duplicates did to it (None: no refinement, or no set).
    fsc: FscFound | None = None
    #: A damaged refinement (its own sets unread): the job whose particles it refined and that job's set, whose pairs
    #: straddle the half-sets it carries (None: not damaged, or fed none).
    fed: tuple[str, SetAudit] | None = None
    #: A job that removed duplicates (RELION 5's Select) of subtomograms, whose sets hold some all the same: its
    #: files name rlnTomoSubtomogramRot (read with its sets: :func:`~.read.read_audits`).
    unturned_origins: bool = False
    #: Warnings of the job itself, not of one set (a point group the core does not know): said with its sets'.
    own_warnings: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        """The most duplicate pairs (and images twice) among its sets."""
        return max((s.duplicate_pairs + s.same_image for s in self.sets), default=0)

    @property
    def worst(self) -> SetAudit | None:
        """The set with the most straddling pairs, then the most duplicates."""
        return max(
            self.sets,
            key=lambda s: (s.straddling_pairs + s.same_image_straddling, s.duplicate_pairs + s.same_image),
            default=None,
        )

    def to_json(self) -> dict:
        """The job as ``--json`` prints it."""
        return {
            "job": self.job.name,
            "type": self.job.type_label,
            "alias": self.job.alias,
            "status": self.job.status,
            "inputs": self.job.parents,
            "particle_inputs": self.job.particle_parents,
            "read_as": self.job.read_as,
            "particle_sets": self.job.particle_sets,
            "min_dist_A": self.min_dist_A if self.sets else None,
            "distance": self.distance_reason if self.sets else None,
            "symmetry": list(self.symmetry) if self.symmetry else None,
            "sets": [s.to_json() for s in self.sets],
            "problems": self.problems,
            "entered_at": self.entered_at,
            "not_written": self.not_written,
            "verdict": self.verdict,
            "line": self.line,
            "command": self.command or None,
            "external_job": self.route or None,
            "warnings": self.warnings,
            "fsc": self.fsc.to_json() if self.fsc is not None else None,
        }

    @property
    def warnings(self) -> list[str]:
        """Its own warnings and its sets' (a micrograph file name in two folders, a pixel size assumed), each once."""
        return list(dict.fromkeys([*self.own_warnings, *(w for s in self.sets for w in s.warnings)]))


@dataclass(frozen=True)
class ProjectAudit(JobSummary):
    """The whole audit (the job's summary): the project's layout, every job's audit in the pipeline's order, problems.

    Its ``verdict`` (:meth:`judged`) is put in by the report stage. Nothing is written into the project: its
    ``outputs`` are none but ``--plot``'s report.html (``plots``).
    """

    root: Path = required("root")
    layout: str = required("layout")
    jobs: list[JobAudit] = required("jobs")
    problems: list[str] = required("problems")

    @property
    def plots(self) -> tuple[str, ...] | None:
        """``--plot``'s report.html: its ``outputs``' ``plots`` (None: not drawn)."""
        drawn = None if self.outputs is None else self.outputs.files("plots")
        return drawn or None

    def judged(self) -> RunVerdict:
        """The verdict: its word, its kind (``bad``, ``warn``, ``good``) and the line the report opens with."""
        redo = [j.job.label + (" (damaged)" if j.fed else "") for j in self.jobs if j.verdict == REDO]
        damaged = sum(bool(j.problems) for j in self.jobs) + len(self.problems)
        unread = f"; {damaged} damaged (named below)" if damaged else ""
        warned = len(self.warnings)
        unread += f"; {counted(warned, 'warning')} (below)" if warned else ""
        unread += self._hidden_words()
        running = [j.job.label for j in self.jobs if j.verdict == RUNNING]
        if running:
            unread += f"; running on duplicates: {', '.join(running)}"
        if redo:
            carried = [j.job.label for j in self.jobs if j.verdict == CARRIED]
            named = (
                ", ".join(carried) if len(carried) <= _NAMED_AT_MOST else _counted_span(carried, "earlier refinement")
            )
            clears = f"; redoing {'it' if len(redo) == 1 else 'them'} clears {named}" if carried else ""
            word = f"{len(redo)} refinement{'s' if len(redo) > 1 else ''} to redo"
            return RunVerdict(word, "bad", f"{word}: {', '.join(redo)}{clears}{unread}")
        if self.nothing_audited:
            what = "every particle set is damaged" if damaged else "no job holds a particle set the audit could find"
            return RunVerdict("nothing audited", "bad", f"Nothing could be audited: {what}{unread}")
        spared = [
            f"{count} {what}"
            for what, verdict in (("superseded by a later one", SUPERSEDED), ("negligible", NEGLIGIBLE))
            if (count := sum(j.verdict == verdict for j in self.jobs))
        ]
        if spared:
            unread = f"; refinements with pairs across the half-sets: {', '.join(spared)}{unread}"
        holding = sum(j.verdict in (ENTERED, INHERITED) for j in self.jobs)
        if holding:
            jobs = "1 job's" if holding == 1 else f"{holding} jobs'"
            return RunVerdict("duplicates", "warn", f"Duplicates in {jobs} particles, no refinement to redo{unread}")
        if spared:  # (their sets hold duplicates: "no duplicates" would be false)
            return RunVerdict("no refinement to redo", "warn", f"No refinement to redo{unread}")
        sets = sum(len(j.sets) for j in self.jobs)
        kind = "warn" if damaged or warned else "good"
        return RunVerdict("clean", kind, f"No duplicates in the {sets} particle sets audited{unread}")

    @property
    def warnings(self) -> list[tuple[str, str]]:
        """Each job's sets' warnings (a micrograph file name in two folders, a pixel size assumed), by job label."""
        return [(j.job.label, warning) for j in self.jobs for warning in j.warnings]

    def warning_lines(self) -> list[str]:
        """Each warning as the table and report.html say it: naming its job, unless it names its file already."""
        return [w if label.split(" ")[0] in w else f"{label}: {w}" for label, w in self.warnings]

    def _hidden_words(self) -> str:
        """What the headline says of warnings under which duplicates may go uncounted (empty: none)."""
        hiding = [label for label, warning in self.warnings if any(words in warning for words in _HIDING)]
        if not hiding:
            return ""
        return (
            f"; duplicates may be hidden in {', '.join(dict.fromkeys(hiding))}: micrographs of one file name in two "
            "folders are never compared (one movie processed twice, then joined?), see the warnings"
        )

    @property
    def nothing_audited(self) -> bool:
        """Whether no particle set could be read: damaged ones, or none found (a document not understood)."""
        damaged = any(j.verdict == DAMAGED for j in self.jobs) or self.problems
        waiting = any(j.not_written for j in self.jobs)  # (sets not written yet: a project that has not got there)
        audited = any(j.sets or j.verdict not in (NONE, NOT_RUN, DAMAGED) for j in self.jobs)
        return not audited and (bool(damaged) or not waiting)

    @property
    def exit_status(self) -> int:
        """A linter's: 1 when a refinement is to redo, 2 when nothing could be audited, else 0.

        A refinement superseded by a later one, or whose pairs across the half-sets are negligible, is not to redo.
        """
        if any(j.verdict == REDO for j in self.jobs):
            return 1
        return 2 if self.nothing_audited else 0

    def lines(self) -> list[str]:
        """One line per job that holds particles (or is damaged), worst first; then the pipeline's problems."""
        shown = [j for j in self.jobs if j.verdict not in (NONE, NOT_RUN)]
        order = {j.job.name: k for k, j in enumerate(self.jobs)}
        shown.sort(key=lambda j: (_RANK[j.verdict], -_straddling(j), -j.duplicates, order[j.job.name]))
        return [j.line for j in shown] + self.problems

    def to_json(self) -> dict[str, Any]:
        """The audit as ``--json`` prints it: the keys every job's document opens with, then the audit's own."""
        document = {
            **self.shared_json(),
            "project": str(self.root),
            "layout": self.layout,
            "jobs": [j.to_json() for j in self.jobs],
            "lines": self.lines(),
            "problems": self.problems,
            "to_redo": sum(j.verdict == REDO for j in self.jobs),
            "exit_status": self.exit_status,
        }
        return document


def _straddling(audit: JobAudit) -> int:
    worst = audit.worst
    return 0 if worst is None else worst.straddling_pairs + worst.same_image_straddling


def judge_project(project: Project, audits: dict[str, JobAudit], negligible: float = DEFAULT_NEGLIGIBLE) -> None:
    """The decide stage: where each job's duplicates entered, its verdict and line, and its redo command, in place.

    From what was read alone (:func:`~.read.read_audits`): no file is read here. ``negligible``: the change in
    resolution (Fourier shells at FSC 0.143) under which a refinement is not to redo, where its FSC is found;
    else the share of its particles (%) in pairs across its half-sets.
    """
    _trace(project, audits)
    for audit in audits.values():
        audit.fed = _fed(audit, audits, project)
        audit.verdict, audit.line = _verdict(audit, audits, project, negligible)
    supersede(audits, project)
    carry(audits, project)
    for audit in audits.values():
        if audit.verdict == REDO and written_kept(audit.job, audits) is not None:
            continue  # (its set without the duplicates is written: its line names it)
        if audit.verdict == REDO and audit.fed is not None:  # (its input, deduplicated, refined again)
            parent, read = project.jobs[audit.fed[0]], audit.fed[1]
            audit.command = redo_command(project, parent, read, audit.job.name)
            audit.route = external_route(project, parent, read)
        if audit.verdict in (REDO, ENTERED) and audit.worst is not None:
            audit.command = redo_command(project, audit.job, audit.worst)
            then = "refine" if audit.verdict == REDO else "go on from"
            audit.route = external_route(project, audit.job, audit.worst, then)


def _particle_parents(project: Project, audits: dict[str, JobAudit], name: str) -> list[str]:
    """The jobs whose particles ``name`` read (its particle edges, not a reference map's or a mask's) that hold sets."""
    return [p for p in project.jobs[name].particle_parents if p in audits and audits[p].sets]


def _trace(project: Project, audits: dict[str, JobAudit]) -> None:
    """Each job's ``entered_at``: the first jobs of its lineage whose output holds duplicates."""
    done: dict[str, list[str]] = {}
    for name, audit in audits.items():
        if audit.duplicates:
            audit.entered_at = _entry(name, project, audits, done)


def _entry(start: str, project: Project, audits: dict[str, JobAudit], done: dict[str, list[str]]) -> list[str]:
    """Where the duplicates of ``start`` entered: its parents' (that hold duplicates) entries, each once; else itself.

    A depth-first walk with a stack of its own (a chain of thousands of sets is as deep as it is long), each job's
    entries kept in ``done``; a parent that is one of the jobs being walked (a cycle) is not followed round.
    """
    if start in done:
        return done[start]
    on_walk = Counter([start])
    stack: list[tuple[str, Iterator[str], dict[str, None]]] = [(start, iter(_carriers(start, project, audits)), {})]
    while stack:
        name, carriers, found = stack[-1]
        parent = next(carriers, None)
        if parent is None:  # (its parents walked)
            stack.pop()
            on_walk[name] -= 1
            done[name] = list(found) or [name]
            if stack:
                stack[-1][2].update(dict.fromkeys(done[name]))
        elif on_walk[parent] - (parent == name) > 0:  # (one of the jobs below it on the walk: a cycle)
            continue
        elif parent in done:
            found.update(dict.fromkeys(done[parent]))
        else:
            on_walk[parent] += 1
            stack.append((parent, iter(_carriers(parent, project, audits)), {}))
    return done[start]


def _carriers(name: str, project: Project, audits: dict[str, JobAudit]) -> list[str]:
    """The jobs whose particles ``name`` read that hold duplicates."""
    return [p for p in _particle_parents(project, audits, name) if audits[p].duplicates]


def _unread_parents(name: str, audits: dict[str, JobAudit], project: Project) -> list[str]:
    """The jobs whose particles ``name`` read that could not be audited (damaged)."""
    return [p for p in project.jobs[name].particle_parents if p in audits and audits[p].problems and not audits[p].sets]


def _entry_words(entry: str, audits: dict[str, JobAudit], project: Project) -> str:
    """Where duplicates entered, as the line says it: a parent of that job left unaudited may have held them.

    A job whose duplicates seem to enter there while its own input could not be read: they entered at
    that input or before it.
    """
    unread = _unread_parents(entry, audits, project)
    if unread and project.jobs[entry].refinement:
        return f"{', '.join(unread)} or before it ({', '.join(unread)} not audited)"
    return f"{entry} or before it ({', '.join(unread)} not audited)" if unread else entry


def _pose_words(audit: SetAudit) -> str:
    """How the set's pairs were counted, where pose-aware: its angle and point group."""
    if audit.max_angle_deg is None:
        return ""
    if audit.within_class:
        return f" (in-plane angles within {audit.max_angle_deg:g}° in one class, by position across classes)"
    return f" with poses within {audit.max_angle_deg:g}° under {audit.symmetry}"


def _pairs(count: int) -> str:
    return f"{count:,} duplicate pair" + ("" if count == 1 else "s")


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.2g} %" if fraction < 0.1 else f"{100 * fraction:.0f} %"


def _verdict(audit: JobAudit, audits: dict[str, JobAudit], project: Project, negligible: float) -> tuple[str, str]:
    """The job's verdict and its line of the report.

    ``negligible``: the share of a refinement's particles (%) in pairs across its half-sets under which it is not
    to redo.
    """
    if audit.problems and not audit.sets and audit.fed is not None:
        return REDO, _fed_words(audit, project)
    if audit.problems and not audit.sets:
        return DAMAGED, "; ".join(audit.problems)
    verdict, line = _sets_verdict(audit, audits, project, negligible)
    if not audit.problems:
        return verdict, line
    # (damage beside sets that were read: named first, and the verdict of what was read kept, never hidden)
    head, _, rest = line.partition(": ")
    damage = "; ".join(_without_name(problem, audit.job) for problem in audit.problems)
    return verdict, f"{head}: {damage} (its particles audited all the same); {rest}"


def _fed(audit: JobAudit, audits: dict[str, JobAudit], project: Project) -> tuple[str, SetAudit] | None:
    """A damaged refinement's input (its own sets unread) whose pairs straddle the half-sets it carries."""
    if not (audit.job.refinement and audit.problems and not audit.sets):
        return None
    for parent in _particle_parents(project, audits, audit.job.name):
        read = audits[parent].worst
        if read is not None and read.halfsets is not None and read.straddles:
            return parent, read
    return None


def _fed_words(audit: JobAudit, project: Project) -> str:
    """The line of a damaged refinement fed duplicates across its half-sets: named damaged, its input's redo."""
    assert audit.fed is not None, "called for a refinement fed duplicates"
    parent, read = audit.fed
    damage = "; ".join(_without_name(problem, audit.job) for problem in audit.problems)
    within = f"within {audit.min_dist_A:g} Å{_pose_words(read)}"
    pieces = " and ".join(_straddling_words(read, within)).replace("the half-sets", "the half-sets it carries", 1)
    command = redo_command(project, project.jobs[parent], read, audit.job.name)
    return (
        f"{_shown_name(audit.job)}: damaged ({damage}); it refined {parent}'s particles, of which {pieces}: "
        f"its FSC may be inflated; refine again {parent}'s set this writes, without them: {command}"
    )


def _without_name(problem: str, job: Job) -> str:
    """A problem as a job's own line says it: without the job's name it starts with."""
    for name in (job.label, job.name):
        if problem.startswith(f"{name}: "):
            return problem[len(name) + 2 :]
    return problem


def _sets_verdict(audit: JobAudit, audits: dict[str, JobAudit], project: Project, negligible: float) -> tuple[str, str]:
    """The verdict of the job's sets as read (its damage, if any, is said by :func:`_verdict`)."""
    name = _shown_name(audit.job)
    worst = audit.worst
    if worst is None and audit.not_written:
        return _not_written(audit, audits, project, name)
    if worst is None:
        return NONE, f"{name}: no particles"
    within = f"within {audit.min_dist_A:g} Å{_pose_words(worst)}"
    entered = ", ".join(_entry_words(entry, audits, project) for entry in audit.entered_at)
    if worst.straddles and audit.job.refinement:
        pieces = " and ".join(_straddling_words(worst, within))
        judged = judge(audit.fsc, worst, negligible)
        if judged.negligible:
            return NEGLIGIBLE, f"{name}: {pieces}{judged.words}, nothing to redo (duplicates entered at {entered})"
        failed = " (the job failed)" if audit.job.status == "Failed" else ""
        return (
            REDO,
            f"{name}{failed}: {pieces}{judged.words}: its FSC may be inflated; {_redo_words(audit, audits, project)}",
        )
    if audit.duplicates:
        count = f"{_pairs(worst.duplicate_pairs)} {within} in {counted(worst.particles, 'particle')}"
        if worst.same_image:
            count += f", {worst.same_image:,} particle images twice"
        if worst.symmetry_copies:
            count += (
                f" ({worst.symmetry_copies:,} rows repeat another's image at its centre: a symmetry expansion, "
                "or particles joined twice)"
            )
        halves = ""
        if worst.halfsets and worst.straddling_pairs:  # (carried from a refinement: the next one keeps them)
            halves = f"; {worst.straddling_pairs:,} across the half-sets it carries"
        elif worst.halfsets:
            halves = "; none straddle the half-sets"
        halves += _unturned_origins(audit)
        if audit.entered_at == [audit.job.name]:
            command = redo_command(project, audit.job, worst)
            return ENTERED, f"{name}: {count}{halves}: duplicates entered here; deduplicate its particles: {command}"
        return INHERITED, f"{name}: {count}{halves} (duplicates entered at {entered})"
    return CLEAN, f"{name}: {counted(worst.particles, 'particle')}, no duplicates {within}"


def _unturned_origins(audit: JobAudit) -> str:
    """What the line says of a RELION 5 Select that removed duplicates of subtomograms and still holds some.

    RELION's remove duplicates (``removeDuplicatedParticles``, metadata_table.cpp) takes a subtomogram's centre
    as rlnCenteredCoordinate - rlnOrigin, the origins not turned by rlnTomoSubtomogramRot/Tilt/Psi; cryodedup turns
    them, as refinement places the particle (ParticleSet::getPosition). Pairs it left are not its failure.
    """
    if not audit.unturned_origins:
        return ""
    return (
        "; RELION's remove duplicates measured centres without turning the origins by rlnTomoSubtomogramRot/Tilt/Psi "
        "(cryodedup turns them, as refinement places the particles): these pairs may be ones its centres put apart"
    )


def _shown_name(job: Job) -> str:
    """The job as a line names it: its label, with its alias (RELION 4/5's ``Refine3D/first/``) when it has one."""
    alias = (job.alias or "").rstrip("/")
    if not alias or alias == job.name or "/" not in job.name:  # (CryoSPARC's label already says its type)
        return job.label
    return f"{job.label} ({alias.split('/')[-1]})"


def _straddling_words(worst: SetAudit, within: str) -> list[str]:
    pieces = []
    if worst.straddling_pairs:
        verb = "straddles" if worst.straddling_pairs == 1 else "straddle"
        pieces.append(
            f"{worst.straddling_pairs:,} {'pair' if worst.straddling_pairs == 1 else 'pairs'} {within} {verb} "
            f"the half-sets ({_percent(worst.fraction)})"
        )
    if worst.same_image_straddling:
        pieces.append(f"{worst.same_image_straddling:,} particle images sit in both half-sets")
    return pieces


def _redo_words(audit: JobAudit, audits: dict[str, JobAudit], project: Project) -> str:
    """Where the duplicates entered, and the command that writes the set to refine again."""
    parents = _particle_parents(project, audits, audit.job.name)
    if audit.entered_at == [audit.job.name] and _unread_parents(audit.job.name, audits, project):
        # (its input could not be read: they may have come with it)
        entered = f"duplicates entered at {_entry_words(audit.job.name, audits, project)}"
    elif audit.entered_at == [audit.job.name] and len(parents) > 1:  # (its inputs hold none alone: joined)
        entered = f"duplicates entered here, between {' + '.join(parents)}"
    elif audit.entered_at == [audit.job.name]:  # (its input holds none: its refined positions met)
        entered = "duplicates entered here"
    else:
        entered = f"duplicates entered at {', '.join(_entry_words(e, audits, project) for e in audit.entered_at)}"
    worst = audit.worst
    if worst is None:  # (a redo has a set: its numbers made it one)
        return f"refine again on its particles deduplicated ({entered})"
    written = written_kept(audit.job, audits)
    if written is not None:  # (cryodedup's External job has written it: no command to run again)
        return f"{entered}; its set without them is written: refine {written}"
    parts = [_pairs(worst.duplicate_pairs)] if worst.duplicate_pairs else []
    parts += (
        [f"{worst.same_image:,} particle image{'s' if worst.same_image != 1 else ''} twice"] if worst.same_image else []
    )
    without = " and ".join(parts)
    return (
        f"{entered}; refine again the set this writes, without its {without}: {redo_command(project, audit.job, worst)}"
    )


#: The set cryodedup's External job (``cryodedup-relion``) writes without the duplicates: one input's, or each's.
_KEPT = re.compile(r"^particles_kept(_.*)?\.star$")


def written_kept(job: Job, audits: dict[str, JobAudit]) -> str | None:
    """The kept set a finished External job wrote of ``job``'s particles, holding no duplicates; None when none has.

    The External job read ``job``'s particles (a particle edge) and its kept set was audited clean: the set to refine,
    which the redo command would write again.
    """
    for other in audits.values():
        if other.job.kind != "External" or job.name not in other.job.particle_parents:
            continue
        kept = [s.file for s in other.sets if _KEPT.match(os.path.basename(s.file))]
        if kept and other.job.status in FINISHED and not other.duplicates:
            return kept[0]
    return None


def _not_written(audit: JobAudit, audits: dict[str, JobAudit], project: Project, name: str) -> tuple[str, str]:
    """A job whose sets are not written yet: not run, or a refinement running on a set that holds duplicates."""
    waiting = f"{', '.join(audit.not_written)} not written yet"
    deduplicated = audit.job.deduplicated_parents  # (read as a redo's kept set: without their duplicates)
    carriers = [
        p for p in _particle_parents(project, audits, audit.job.name) if audits[p].duplicates and p not in deduplicated
    ]
    if audit.job.refinement and audit.job.status == "Running" and carriers:
        held = ", ".join(f"{p} ({_pairs(audits[p].duplicates)} within {audits[p].min_dist_A:g} Å)" for p in carriers)
        return RUNNING, (
            f"{name}: running on a set that holds duplicates: {held}; its half-sets will share them: "
            "abort it and refine the deduplicated set"
        )
    return NOT_RUN, f"{name}: not run ({audit.job.status}): {waiting}"


def audit_rows(audit: ProjectAudit) -> list[tuple[str, str]]:
    """The terminal's table: a row per job with particles (worst first), the distances and why, the other jobs."""
    rows = []
    commands = {j.line: j.command for j in audit.jobs if j.command}
    for line in audit.lines():
        if line in commands:  # (a command is printed under the table, whole, to be copied: see redo_commands)
            line = line.replace(f": {commands[line]}", ": the command under the table")
        name, sep, text = line.partition(": ")
        rows.append((name, text) if sep else ("Pipeline", line))
    rows += fsc_rows((j.job, j.worst, j.fsc) for j in audit.jobs)
    reasons: dict[str, list[str]] = {}
    for job in audit.jobs:
        if job.sets:
            reasons.setdefault(f"{job.min_dist_A:g} Å: {job.distance_reason}", []).append(job.job.name)
    for reason, jobs in reasons.items():
        rows.append(("Distance", f"{reason}: {', '.join(jobs)}"))
    rows += [("Warning", line) for line in audit.warning_lines()]  # (each could change a verdict: not only in --json)
    unfinished = [f"{j.job.name} ({j.job.status})" for j in audit.jobs if j.verdict == NOT_RUN]
    if unfinished:
        rows.append(("Not run", ", ".join(unfinished)))
    others = [j.job.name for j in audit.jobs if j.verdict == NONE]
    if len(others) > _NAMED_AT_MOST:  # (a long project's every other job: a count; --json names each)
        rows.append(("No particles", _counted_span(others, "job")))
    elif others:
        rows.append(("No particles", ", ".join(others)))
    return rows


@dataclass(frozen=True)
class Advice:
    """A command under the table: what it is for, the command (whole, to be copied), and the External job's route."""

    purpose: str
    command: str
    route: str = ""


def redo_commands(audit: ProjectAudit) -> list[Advice]:
    """Each command the table's lines point to, worst first: a refinement's set to refine again, a set to deduplicate.

    With each, where RELION runs it, the same through its External job (which keeps the pipeline's lineage).
    """
    order = {line: k for k, line in enumerate(audit.lines())}
    jobs = sorted((j for j in audit.jobs if j.command), key=lambda j: order.get(j.line, len(order)))
    return [
        Advice(
            f"To refine {_shown_name(j.job)} again, write its set without the duplicates"
            if j.verdict == REDO
            else f"To deduplicate {_shown_name(j.job)}'s particles",
            j.command,
            j.route,
        )
        for j in jobs
    ]


#: The jobs without particles the table (or refinements carried the headline) names one by one; more are counted.
_NAMED_AT_MOST = 6


def _counted_span(names: list[str], what: str) -> str:
    """Many jobs said in a few words: ``999 earlier refinements (Refine3D/job100 ... Refine3D/job99900; ...)``."""
    return f"{len(names):,} {what}s ({names[0]} ... {names[-1]}; each in --json)"


def write_audit_page(audit: ProjectAudit, outdir: Path, force: bool) -> Path:
    """``--plot DIR``: report.html with the pipeline drawn as a graph coloured by verdict; its path."""
    from ...report.audit_page import GraphJob, write_audit_report
    from ...report.html_report import Opening

    verdict = audit.judged()
    jobs = [
        GraphJob(j.job.name, j.job.kind, j.verdict, j.job.parents, j.line, j.job.particle_parents) for j in audit.jobs
    ]
    title = f"cryodedup audit of {audit.root} ({audit.layout})"
    commands = [(a.purpose, a.command, a.route) for a in redo_commands(audit)]
    figures = fsc_figures((j.job.label, j.fsc) for j in audit.jobs)
    opening = Opening(verdict.line, verdict.kind, [*audit.problems, *audit.warning_lines()])
    return write_audit_report(outdir, title, opening, jobs, audit_rows(audit), force, commands, figures)
