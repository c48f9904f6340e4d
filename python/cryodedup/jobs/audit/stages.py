"""``cryodedup audit``'s door and stages (:mod:`cryodedup.jobs.shape`): its plan, then read, decide, report.

:func:`audit_project` makes the plan once (:func:`audit_plan`, from the command's values: the audit has
no options object) and runs :class:`AuditStages`: read the project and count each job's sets
(:mod:`.read`), decide each job's verdict (:func:`~.job.judge_project`), write nothing into the
project, summarise (:class:`~.job.ProjectAudit`), report (the verdict; ``--plot``'s report.html).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ...errors import CryodedupError
from ...particle_set import Log
from ...report.sections.run import Outputs
from .. import shape
from .job import DEFAULT_NEGLIGIBLE, JobAudit, ProjectAudit, judge_project, write_audit_page
from .read import AuditRead, read_audits
from .resplit import find_resplits

__all__ = ["audit_project"]

#: The angle (degrees) within which two close particles' poses must agree, under the job's point group, to be
#: duplicates where a set carries orientations: twice the 7.5° angular sampling RELION's 3D classification and
#: refinement start from, so that two picks of one particle refined apart still agree.
DEFAULT_MAX_ANGLE = 15.0

#: How report.html's writing is run: by default as it is; the command's runs it under its own contract.
PageRun = Callable[[Callable[[], Path]], Path]


@dataclass(frozen=True)
class AuditPlan:
    """The audit's values, checked once at its door (:func:`audit_plan`): what the stages read."""

    root: Path
    #: One distance (Å) for every job (None: each job's own).
    min_dist: float | None
    #: The change in resolution (shells), else the share of particles (%), under which a refinement is not to redo.
    negligible: float
    #: The angle within which poses agree (None: positions only).
    max_angle: float | None
    #: ``--plot``'s folder (None: no report.html) and whether it may be overwritten.
    plot: Path | None
    force: bool


def audit_plan(
    root: Path,
    min_dist: float | None = None,
    negligible: float = DEFAULT_NEGLIGIBLE,
    max_angle: float | None = DEFAULT_MAX_ANGLE,
    plot: Path | None = None,
    force: bool = False,
) -> AuditPlan:
    """The audit's plan: its values as the stages take them; a report folder inside the project refused."""
    if plot is not None and plot.resolve().is_relative_to(root.resolve()):
        raise CryodedupError(f"--plot {plot}: the folder lies inside the project, and nothing is written into it")
    return AuditPlan(root, min_dist, negligible, max_angle or None, plot, force)


def _as_it_is(write: Callable[[], Path]) -> Path:
    return write()


@dataclass(frozen=True)
class AuditStages:
    """The audit's stages (:class:`~.shape.Stages`); ``log``: its messages; ``page``: how report.html is written."""

    log: Log
    page: PageRun = _as_it_is

    def read(self, plan: AuditPlan) -> AuditRead:
        """The project read, each job's sets counted at its distance, each refinement's FSC found and re-split named."""
        read = read_audits(plan.root, plan.min_dist, plan.max_angle, self.log)
        find_resplits(read.project, read.audits, self.log)
        return read

    def decide(self, plan: AuditPlan, read: AuditRead) -> list[JobAudit]:
        """Each job's verdict, line and redo command, from what was read alone."""
        judge_project(read.project, read.audits, plan.negligible)
        return list(read.audits.values())

    def write(self, plan: AuditPlan, read: AuditRead, decided: list[JobAudit]) -> dict[str, list[str]]:
        """Nothing: nothing is written into the project (report.html is the report's)."""
        return {}

    def summarise(
        self, plan: AuditPlan, read: AuditRead, decided: list[JobAudit], written: dict[str, list[str]]
    ) -> ProjectAudit:
        """The audit of the project: its layout, every job's audit in the pipeline's order, its problems."""
        project = read.project
        return ProjectAudit(
            outputs=Outputs.of(written), root=plan.root, layout=project.layout, jobs=decided, problems=read.problems
        )

    def report(self, plan: AuditPlan, summary: ProjectAudit, written: dict[str, list[str]]) -> ProjectAudit:
        """The verdict the summary opens with and, with ``--plot``, report.html (the pipeline drawn as a graph)."""
        summary = replace(summary, verdict=summary.judged())
        folder = plan.plot
        if folder is None:
            return summary
        page = self.page(lambda: write_audit_page(summary, folder, plan.force))
        return replace(summary, outputs=(summary.outputs or Outputs(())).with_plots([str(page)]))


def audit_project(
    root: Path,
    min_dist: float | None = None,
    log: Log | None = None,
    negligible: float = DEFAULT_NEGLIGIBLE,
    max_angle: float | None = DEFAULT_MAX_ANGLE,
    plot: Path | None = None,
    force: bool = False,
    page: PageRun = _as_it_is,
) -> ProjectAudit:
    """Audits every particle set of the project in ``root``.

    ``min_dist``: one distance (Å) for every job, instead of each job's own; ``negligible``: the change in
    resolution (Fourier shells at FSC 0.143) under which a refinement is not to redo, where its FSC is found;
    else the share of its particles (%) in pairs across its half-sets; ``max_angle``:
    in a set that carries orientations, close particles are duplicates only when their poses agree within
    this many degrees under the job's point group (C1 where it recorded none; None or 0: positions only);
    ``plot``: report.html's folder (outside the project; ``force``: overwritten), its writing run by ``page``.
    The door: the values become the plan here, once; then the stages run (:func:`~cryodedup.jobs.shape.run`).
    """
    plan = audit_plan(root, min_dist, negligible, max_angle, plot, force)
    stages: shape.Stages[AuditPlan, AuditRead, list[JobAudit], dict[str, list[str]], ProjectAudit]
    stages = AuditStages(log or (lambda message, level: None), page)
    return shape.run(plan, stages)
