"""The audit's read stage: the project's jobs read, and each job's particle sets read and counted.

:func:`read_project` finds the project (RELION's ``default_pipeline.star``, CryoSPARC's ``job.json``
files) and says where one is when given a folder near it; :func:`read_audits` reads every job's
particle sets in turn, each read once and let go once counted (:func:`~.check.audit_set`), at the
distance that suits its job and under the point group its poses carry, and each refinement's FSC.
What is read here is all the verdicts are made from (:func:`~.job.judge_project` reads no file).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...algo.dedup import symmetry_setting
from ...errors import CryodedupError
from ...formats.cryosparc.jobs import job_folders
from ...formats.star.particle_table import ANGLES
from ...options.species import DEFAULT_MIN_DIST
from ...particle_set import Log
from .check import audit_set, in_audits_words
from .fsc import refinement_estimate
from .job import FINISHED, JobAudit
from .project import Project, cryosparc_project, nearest_holders, relion_project

__all__ = ["AuditRead", "read_audits"]


@dataclass(frozen=True)
class AuditRead:
    """What the read stage gives: the project, each job's sets counted (by name, the pipeline's order), its problems."""

    project: Project
    audits: dict[str, JobAudit]
    #: The pipeline's own problems (a cycle in its edges, a damaged document), not any one job's.
    problems: list[str]


def read_audits(root: Path, min_dist: float | None, max_angle: float | None, say: Log) -> AuditRead:
    """Every job of the project in ``root`` read: its sets counted at its distance (``min_dist``: one for all).

    ``max_angle``: in a set that carries orientations, close particles are duplicates only when their
    poses agree within this many degrees under the job's point group (None: positions only).
    """
    project = read_project(root)
    audits = {name: JobAudit(job, problems=list(job.problems)) for name, job in project.jobs.items()}
    problems = list(project.problems)
    for cycle in project.cycles():
        problems.append(f"a cycle in the pipeline's edges: {' -> '.join([*cycle, cycle[0]])}; not traced through")
    distances, symmetries = _distances(project, min_dist), _pose_symmetries(project)
    children = project.children()  # (once: each refinement's PostProcess is among them)
    for name, audit in audits.items():
        audit.min_dist_A, audit.distance_reason = distances[name]
        audit.symmetry = symmetries[name]
        _audit_sets(project, audit, say, max_angle)
        sym = audit.symmetry[0] if audit.symmetry else "C1"
        audit.fsc = refinement_estimate(project, audit.job, audit.worst, children, sym)
        audit.unturned_origins = _unturned_origins(project, audit)
    return AuditRead(project, audits, problems)


def _unturned_origins(project: Project, audit: JobAudit) -> bool:
    """Whether the job removed duplicates (a RELION 5 Select) of subtomograms: its files name rlnTomoSubtomogramRot.

    Asked of a job with a duplicate threshold only, and only where its sets hold duplicates (the line says it then).
    """
    if audit.job.duplicate_threshold is None or not audit.duplicates:
        return False
    return any(
        _holds_label(project.root / file, "_rlnTomoSubtomogramRot")
        for files in audit.job.particle_sets.values()
        for file in files
    )


def read_project(root: Path) -> Project:
    """The project in ``root``: RELION's (``default_pipeline.star``), CryoSPARC's (``J*/job.json``); else an error.

    The error points to the project's folder when ``root`` is near one: its pipeline file, a job's folder
    (the project two levels up, or one for CryoSPARC), or the folder holding a project.
    """
    if not root.is_dir():
        folder = _near_project(root)
        said = f"; the project's folder seems to be {folder}" if folder else ""
        raise CryodedupError(f"{root}: is a file, not a folder; give a RELION or CryoSPARC project's folder{said}")
    pipeline = root / "default_pipeline.star"
    project = _project_of_job_folder(root)
    if project is not None:  # (RELION leaves a snapshot of the pipeline in each job's folder: not the project's)
        snapshot = " (its default_pipeline.star is RELION's snapshot of the pipeline when the job ran)"
        raise CryodedupError(
            f"{root}: is a job's folder{snapshot if _exists(pipeline) else ''}; the project's folder seems to be "
            f"{project}"
        )
    if _exists(pipeline):  # (whatever its kind: a FIFO or a device is named by the pipeline's reader, not missed)
        return relion_project(root)
    if _is_project(root):
        return cryosparc_project(root)
    near = _near_project(root)
    hint = f" The project's folder seems to be {near}." if near else ""
    raise CryodedupError(
        f"{root}: no default_pipeline.star (RELION) and no J*/job.json (CryoSPARC); is this a project's folder?{hint}"
    )


def _project_of_job_folder(folder: Path) -> Path | None:
    """The RELION project whose job folder ``folder`` is (``Refine3D/job029``, its pipeline listing it); else None."""
    if not re.fullmatch(r"job\d+", folder.name):
        return None
    project = folder.resolve().parent.parent
    pipeline = project / "default_pipeline.star"
    try:  # (a regular file only: a FIFO there would never end)
        listed = pipeline.read_bytes() if pipeline.is_file() else b""
    except OSError:
        return None
    return project if f"{folder.parent.name}/{folder.name}/".encode() in listed else None


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # (a folder that cannot be looked into: as if absent, the error then says what is missing)
        return False


def _is_project(folder: Path) -> bool:
    try:
        if (folder / "default_pipeline.star").is_file():
            return True
        return any((job / "job.json").is_file() for job in job_folders(folder))
    except OSError:  # (a folder that cannot be listed is no project)
        return False


def _near_project(path: Path) -> Path | None:
    """The project's folder nearest ``path``, None when none is near.

    The folder of a file, a job folder's project up to two levels up, else a child folder that holds one
    (``path`` the folder holding a project). A job folder holding RELION's snapshot of the pipeline is no project:
    its project is named (``Refine3D/job029/run_data.star``: the folder two levels above the job's).
    """
    for parent in [path.parent, *list(path.parents)[1:3]] if not path.is_dir() else list(path.parents)[:2]:
        if _is_project(parent):
            return _project_of_job_folder(parent) or parent
    if path.is_dir():
        try:
            children = sorted(p for p in path.iterdir() if p.is_dir())
        except OSError:
            return None
        return next((child for child in children if _is_project(child)), None)
    return None


def _audit_sets(project: Project, audit: JobAudit, say: Log, max_angle: float | None) -> None:
    """The job's particle sets audited in turn (each read once, let go once counted) into ``audit``.

    Under ``audit.symmetry`` (:func:`_pose_symmetries`).

    Pose-aware under the job's point group in its package's setting (RELION's, CryoSPARC's); one the core does not
    know (RELION's I5, Cnv) or whose setting is not established (CryoSPARC's T, I) leaves its sets by position, warned.
    """
    job = audit.job
    sym = audit.symmetry[0] if audit.symmetry else "C1"
    if max_angle is not None:
        try:  # (RELION's jobs are named by their folders, CryoSPARC's J1, J2...)
            symmetry_setting(sym, "relion" if "/" in job.name else "cryosparc")
        except CryodedupError as err:  # (a warning of the job's: in the table, the headline's count and --json)
            audit.own_warnings.append(f"{job.label}: {err}: compared by position only")
            max_angle = None
    for set_name, files in job.particle_sets.items():
        missing = next((project.root / f for f in files if not _present(project.root / f)), None)
        if missing is not None and job.status not in FINISHED:
            audit.not_written.append(set_name)  # (a job not finished has not written them yet: no damage)
            continue
        if missing is not None:  # (one line, as the reader words it, and no plan made for a set that is not there)
            audit.problems.append(f"{job.label}: {set_name} could not be read: {missing}: file not found")
            continue
        say(f"{set_name}: duplicates within {audit.min_dist_A:g} Å", "info")
        try:
            paths = [project.root / file for file in files]
            micrographs = _upstream_micrographs(project, job.name)
            classes = job.kind in _CLASSES_2D
            angle = None if _without_angles(paths) else max_angle  # (refused pose-aware: not tried)
            audit.sets.append(audit_set(paths, set_name, audit.min_dist_A, micrographs, angle, sym, classes))
        except (CryodedupError, OSError) as err:
            audit.problems.append(f"{job.label}: {set_name} could not be read: {in_audits_words(_first_line(err))}")


#: Jobs that write no poses of their own but carry those of the refinement (or classification) they read: their
#: sets are compared under its point group (an Import's: that of the job whose file it copied in, if any).
_POSE_CARRIERS = ("Polish", "CtfRefine", "Select", "Subtract", "JoinStar", "Import")
#: 2-D classifications (RELION's by folder): in-plane angles compared within one class only.
_CLASSES_2D = ("Class2D",)


def _pose_symmetries(project: Project) -> dict[str, tuple[str, str] | None]:
    """Each job's point group its poses are compared under, and where it was recorded; None: none (C1).

    Its own; else, for a job that carries poses it did not refine (Polish, CtfRefine, Select, Subtract, JoinStar),
    that of the nearest job up its particle edges that recorded one, through such carriers only: a Polish of a D2
    refinement holds the refinement's poses, in which two picks of one particle agree up to a D2 operator. One walk
    for every job (:func:`nearest_holders`): the nearest job up its particle edges that recorded one, or that is no
    carrier (its own, or none).
    """
    holders = [name for name, job in project.jobs.items() if job.symmetry is not None or job.kind not in _POSE_CARRIERS]
    parents = {name: job.particle_parents for name, job in project.jobs.items()}
    found = nearest_holders(parents, project.particle_children(), holders)
    return {name: project.jobs[found[name]].symmetry if name in found else None for name in project.jobs}


def _present(path: Path) -> bool:
    """Whether ``path`` is there; one that cannot be looked at (no permission) counts, and its read says why."""
    try:
        return path.exists()
    except OSError:
        return True


#: How much of a STAR file :func:`_without_angles` reads: a file no larger is read whole.
_SMALL_STAR = 65536


def _without_angles(paths: list[Path]) -> bool:
    """Whether the set is sure to be audited by position: a small STAR file of it names no rlnAngleRot (Tilt, Psi).

    The particle job refuses such a set pose-aware ("needs the orientations"), and :func:`~.check.audit_set` then
    reads it again by position: on a project of 100,000 small sets the first, refused read was half the audit's time
    (issue 99). A label absent from a whole file's bytes is absent from its tables; a larger file is left to the job.
    """
    if not paths or any(path.suffix != ".star" for path in paths):
        return False
    for path in paths:
        try:
            with path.open("rb") as file:
                head = file.read(_SMALL_STAR + 1)
        except OSError:
            return False
        if len(head) <= _SMALL_STAR and not all(f"_{label}".encode() in head for label in ANGLES):
            return True
    return False


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def _distances(project: Project, given: float | None) -> dict[str, tuple[float, str]]:
    """Each job's distance (Å) and why.

    The distance within which the user removed duplicates in the job's lineage (a RELION Select
    "remove duplicates": the user's own judgement), the nearest such job first; else a quarter of
    the particle (mask) diameter the job, or the nearest job downstream, else upstream, recorded:
    a second pick of one particle lies within its core, while neighbours touch a diameter apart
    and a lattice (the RELION 5 tomography tutorial's capsids) packs them within half its mask;
    else the particle job's default.
    """
    if given is not None:
        return dict.fromkeys(project.jobs, (given, "as given (--min-dist)"))
    children, parents = project.children(), project.parents()

    def nearest(what: str) -> dict[str, str]:
        """Each job's nearest job that recorded ``what``: downstream (itself first), else upstream."""
        holders = [name for name, job in project.jobs.items() if getattr(job, what) is not None]
        return {**nearest_holders(parents, children, holders), **nearest_holders(children, parents, holders)}

    thresholds, diameters = nearest("duplicate_threshold"), nearest("diameter")
    found = {}
    for name in project.jobs:
        if name in thresholds:
            value, where = project.jobs[thresholds[name]].duplicate_threshold or (0.0, "")
            found[name] = (value, f"the duplicate threshold of {where}")
        elif name in diameters:
            diameter, where = project.jobs[diameters[name]].diameter or (0.0, "")
            found[name] = (diameter / 4, f"a quarter of the particle diameter of {diameter:g} Å ({where})")
        else:
            found[name] = (float(DEFAULT_MIN_DIST), "the default (no particle diameter recorded)")
    return found


def _upstream_micrographs(project: Project, name: str) -> Callable[[], Path | None]:
    """The nearest ancestor's micrographs STAR that exists (asked for when a particle file lacks pixel sizes).

    A job's own lists first, then the one its job.star says it extracted from, then its parents': an Extract
    lists among its inputs the micrographs its picks were made on too, a subset (the tutorial's Extract/job012
    names Select/job005's 5 micrographs before CtfFind/job003's 24), which does not name all its particles'.
    """

    def find() -> Path | None:
        seen = {name}
        queue = deque([name])
        while queue:
            job = project.jobs[queue.popleft()]
            read = [job.micrographs_read] if job.micrographs_read is not None else []
            for file in [*job.micrograph_files, *read]:
                if (project.root / file).is_file():
                    return project.root / file
            for parent in job.parents:
                if parent not in seen:
                    seen.add(parent)
                    queue.append(parent)
        return None

    return find


def _holds_label(path: Path, label: str) -> bool:
    """Whether the STAR file's head (its first 64 kB: the optics table and the labels) names ``label``."""
    try:
        with path.open("rb") as file:
            return label.encode() in file.read(65536)
    except OSError:
        return False
