"""A project as the audit sees it: its jobs, each job's parents and particle files, and what is damaged.

Made from RELION's ``default_pipeline.star`` (:func:`relion_project`); the audit itself
(:mod:`.job`) knows no pipeline format.
"""

from __future__ import annotations

import os
import re
from collections import deque
from dataclasses import dataclass, field, fields
from pathlib import Path

from ...errors import CryodedupError
from ...formats.cryosparc.jobs import JOB_DOCUMENT, SYMMETRY_PARAMS, job_folders, read_job_document
from ...formats.files import read_foreign
from ...formats.star.pipeline import (
    PIPELINE_FILE,
    Pipeline,
    carries_a_map,
    carries_particles,
    job_options_of,
    read_pipeline,
)

__all__ = [
    "Job",
    "Project",
    "cryosparc_project",
    "nearest_holder_steps",
    "nearest_holders",
    "redo_folder",
    "relion_project",
]

#: A job's recorded particle (mask) diameter, in Å: the options of its job.star that hold one.
_DIAMETER_OPTIONS = ("particle_diameter", "log_diam_max", "diameter")
#: The same in a CryoSPARC job's parameters: 2D classification's circular mask, the pickers' diameters.
_CS_DIAMETER_PARAMS = ("class2D_window_inner_A", "diameter_max", "diameter")
#: The jobs that refine (or reconstruct) with two half-sets and an FSC between them: RELION's by kind,
#: CryoSPARC's by type (``homo_refine_new``, ``nonuniform_refine_new``, ``new_local_refine``,
#: ``homo_reconstruct``; not ``hetero_refine``, whose classes have no gold-standard halves).
_REFINEMENT_KINDS = ("Refine3D", "MultiBody")
_REFINEMENT_TYPES = re.compile(r"^(?!hetero).*(refine|reconstruct)")
_NOTE_DIAMETER = re.compile(r"--particle_diameter\s+([0-9.eE+-]+)")
#: Where a job recorded the point group it refined or classified with: RELION's job.star option
#: (Refine3D, Class3D, InitialModel), CryoSPARC's job.json parameters (homogeneous, non-uniform and local
#: refinements', ab initio's, heterogeneous refinement's).
_SYMMETRY_OPTION = "sym_name"
#: The job option naming the micrographs STAR a RELION Extract extracts from.
_MICROGRAPHS_OPTION = "star_mics"


@dataclass
class Job:
    """One job: its name (``Refine3D/job029``), kind, parents (jobs whose outputs it read) and particle files.

    ``parents``: every job whose output it read (particles, a reference map, a mask, Polish parameters...): where a
    property of the molecule or the data (its diameter, the micrographs) is looked for. ``particle_parents``: those
    whose particles it read (RELION's particle, model and optimiser nodes; CryoSPARC's ``particle`` inputs): the
    lineage of its particles, which the verdicts follow.
    """

    name: str
    kind: str
    type_label: str
    alias: str | None = None
    status: str = ""
    parents: list[str] = field(default_factory=list)
    particle_parents: list[str] = field(default_factory=list)
    #: Its place in the project's order (RELION: the pipeline's, the order jobs were made; CryoSPARC: its number).
    number: int = 0
    #: When it started (seconds since the epoch, CryoSPARC's ``started_at``, else ``launched_at``, ``created_at``).
    started: float | None = None
    #: What its record was read as (CryoSPARC: ``CryoSPARC 5 job.json (spec)``; RELION: the pipeline's layout).
    read_as: str = ""
    #: Its particle sets, each named (RELION: its file; CryoSPARC: ``J17/particles``) with its files,
    #: project-relative (a CryoSPARC output group: its slots' files, joined on uid).
    particle_sets: dict[str, list[str]] = field(default_factory=dict)
    #: Its micrograph lists (a micrographs STAR it wrote): the pixel size of particles extracted from them.
    micrograph_files: list[str] = field(default_factory=list)
    #: The micrographs STAR its job.star says it read (an Extract's ``star_mics``), as written: of the micrograph
    #: lists among its inputs, the one its particles were extracted from (the tutorial's Extract/job012 reads
    #: Select/job005's 5 micrographs too, for its picks, but extracts from CtfFind/job003's 24).
    micrographs_read: str | None = None
    #: The particle (mask) diameter it recorded, in Å, and where (None: none recorded).
    diameter: tuple[float, str] | None = None
    #: The distance (Å) within which it removed duplicates itself, and where (RELION's Select with
    #: "remove duplicates": its ``duplicate_threshold``): the user's own judgement of a duplicate.
    duplicate_threshold: tuple[float, str] | None = None
    #: The point group it refined or classified with, as recorded (``D2``), and where (None: none recorded).
    symmetry: tuple[str, str] | None = None
    #: What is wrong with the job (its folder missing), one line each.
    problems: list[str] = field(default_factory=list)
    #: How the report names it, where its name does not say its kind (CryoSPARC: ``J14 (homo_refine_new)``).
    label: str = ""
    #: The file a RELION Import job of other node types copied in (its job.star's ``fn_in_other``, as written): the
    #: pipeline records no input edge for it (pipeline_jobs.cpp, 3.1-5), yet it passes that file's job on.
    imported: str | None = None
    #: The jobs whose particles it read only as a redo's kept set (``PROJECT-cryodedup/Refine3D_job029/
    #: particles_kept.star``): their particles without their duplicates, whatever their own sets hold.
    deduplicated_parents: list[str] = field(default_factory=list)
    #: The jobs whose map it read (RELION's reference, half-map and final map nodes; CryoSPARC's ``volume``
    #: inputs): a refinement's reference, a PostProcess's half-maps. Never a mask.
    reference_parents: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.label = self.label or self.name

    def ran_after(self, other: Job) -> bool:
        """Whether it ran after ``other``.

        By their start times where both are known (CryoSPARC), else by their order in the project (RELION's
        pipeline, CryoSPARC's job numbers).
        """
        if self.started is not None and other.started is not None:
            return self.started > other.started
        return self.number > other.number

    @property
    def refinement(self) -> bool:
        """Whether it computes an FSC between two half-sets (a gold-standard refinement or reconstruction)."""
        if "/" in self.name:  # (RELION: the folder names the kind)
            return self.kind in _REFINEMENT_KINDS
        return bool(_REFINEMENT_TYPES.match(self.kind))


@dataclass
class Project:
    """A project's jobs in the order of the pipeline, and the problems found reading it."""

    root: Path
    layout: str
    jobs: dict[str, Job]
    problems: list[str] = field(default_factory=list)

    def children(self) -> dict[str, list[str]]:
        """Each job's children (jobs that read one of its outputs)."""
        kids: dict[str, list[str]] = {name: [] for name in self.jobs}
        for job in self.jobs.values():
            for parent in job.parents:
                if parent in kids:  # (a parent that is no job has no children listed)
                    kids[parent].append(job.name)
        return kids

    def parents(self) -> dict[str, list[str]]:
        """Each job's parents that are jobs of the project, in the order it lists them."""
        return {name: [p for p in job.parents if p in self.jobs] for name, job in self.jobs.items()}

    def particle_children(self) -> dict[str, list[str]]:
        """Each job's children through particle edges (the jobs that read its particles)."""
        kids: dict[str, list[str]] = {name: [] for name in self.jobs}
        for job in self.jobs.values():
            for parent in job.particle_parents:
                kids.setdefault(parent, []).append(job.name)
        return kids

    def ancestors(self, name: str) -> set[str]:
        """Every job ``name`` read from, through any edge (particles, references, masks), and theirs."""
        seen: set[str] = set()
        queue = deque([name])
        while queue:
            for parent in self.jobs[queue.popleft()].parents:
                if parent not in seen and parent in self.jobs:
                    seen.add(parent)
                    queue.append(parent)
        return seen

    def topological_places(self) -> dict[str, int]:
        """Each job's place in one order of the jobs where every job comes after its parents (through any edge).

        Jobs on a cycle, or below one, have none: for them the order says nothing. Kahn's, linear in jobs and edges.
        """
        parents = self.parents()
        waiting = {name: len(set(of)) for name, of in parents.items()}
        children = self.children()
        order = [name for name, count in waiting.items() if count == 0]
        for name in order:  # (appended to as it is walked)
            for child in dict.fromkeys(children[name]):
                waiting[child] -= 1
                if waiting[child] == 0:
                    order.append(child)
        return {name: place for place, name in enumerate(order)}

    def cycles(self, most: int = 20) -> list[list[str]]:
        """The jobs of the first ``most`` cycles of the edges (a job that is its own ancestor) a depth-first walk finds.

        Walked with a stack of its own, not by recursion: a chain of thousands of jobs is as deep as it is long.
        """
        state: dict[str, int] = {}  # (1: on the walk's path, 2: done)
        found: list[list[str]] = []
        for root in self.jobs:
            if root in state:
                continue
            path, place = [root], {root: 0}  # (the path walked, and where each job of it is)
            state[root] = 1
            unseen = [iter(self.jobs[root].parents)]
            while unseen:
                parent = next(unseen[-1], None)
                if parent is None:  # (its parents walked: off the path)
                    state[path.pop()] = 2
                    unseen.pop()
                elif state.get(parent) == 1:
                    if len(found) < most:
                        found.append(path[place[parent] :])
                elif parent not in state and parent in self.jobs:
                    state[parent], place[parent] = 1, len(path)
                    path.append(parent)
                    unseen.append(iter(self.jobs[parent].parents))
        return found


def nearest_holders(next_of: dict[str, list[str]], back_of: dict[str, list[str]], holders: list[str]) -> dict[str, str]:
    """Each job's nearest holder (itself first) through ``next_of`` (children, or parents); jobs reaching none left out.

    :func:`nearest_holder_steps` without the steps.
    """
    return {name: holder for name, (holder, _) in nearest_holder_steps(next_of, back_of, holders).items()}


def nearest_holder_steps(
    next_of: dict[str, list[str]], back_of: dict[str, list[str]], holders: list[str]
) -> dict[str, tuple[str, int]]:
    """Each job's nearest holder (itself first) through ``next_of``, and how many steps away; none: left out.

    The holder a breadth-first walk from the job would reach first, for every job in one walk: outward from all the
    holders at once through ``back_of`` (``next_of``'s edges turned round), each job's distance to its nearest holder;
    then each job, nearest first, takes the holder of the first of its ``next_of`` that is one step nearer (the walk
    from the job reaches the jobs of each distance in the order of their first such paths). Linear in jobs and edges,
    cycles included.
    """
    distance = dict.fromkeys(holders, 0)
    order = list(distance)
    for name in order:  # (appended to as it is walked: breadth first)
        for other in back_of.get(name, ()):
            if other not in distance:
                distance[other] = distance[name] + 1
                order.append(other)
    found: dict[str, tuple[str, int]] = {}
    for name in order:
        if distance[name] == 0:
            found[name] = (name, 0)
        else:
            step = next(o for o in next_of[name] if distance.get(o) == distance[name] - 1)
            found[name] = (found[step][0], distance[name])
    return found


def relion_project(root: Path) -> Project:
    """The jobs of the RELION project in ``root`` (its ``default_pipeline.star``).

    Raises :class:`CryodedupError` when the pipeline cannot be read: without it there is no project.
    """
    pipeline = read_pipeline(root / PIPELINE_FILE)
    particle_nodes = set(pipeline.particle_nodes)  # (a set: looked up for every output of every job)
    jobs = {name.rstrip("/"): _job(root, pipeline, name, particle_nodes) for name in pipeline.processes}
    process_of = {
        name.rstrip("/"): process for name, process in pipeline.processes.items()
    }  # (the "/" RELION ends with)
    writers = {node: name for name, process in process_of.items() for node in process.outputs}
    real_root = os.path.realpath(root)
    for number, job in enumerate(jobs.values()):
        job.number, job.read_as = number, pipeline.layout
        parents: dict[str, None] = {}  # (each once, in the order of its first edge; dicts, not lists: thousands)
        particle_parents: dict[str, None] = {}
        maps: dict[str, None] = {}
        raw: set[str] = set()  # (particle parents read otherwise than as a redo's kept set)
        for node in process_of[job.name].inputs:
            redo = None if node in writers or _job_of_node(node, jobs) else _redo_of_node(root, node, jobs)
            parent = writers.get(node) or _job_of_node(node, jobs) or redo
            if parent is None:
                continue
            parents[parent] = None
            if carries_a_map(pipeline.node_types.get(node)):
                maps[parent] = None
            if carries_particles(node, pipeline.node_types.get(node)) and not _rejected(node):
                particle_parents[parent] = None
                if redo is None:
                    raw.add(parent)
        parent = _imported_parent(root, real_root, job, jobs, writers) if job.imported is not None else None
        if parent is not None and parent != job.name:  # (the job that wrote what it copied in; its redo's too)
            parents[parent] = None
            if any(n in particle_nodes for n in process_of[job.name].outputs) and not _rejected(job.imported or ""):
                particle_parents[parent] = None
                raw.add(parent)  # (its copy is its own set, audited as such)
        job.parents, job.particle_parents, job.reference_parents = list(parents), list(particle_parents), list(maps)
        job.deduplicated_parents = [p for p in particle_parents if p not in raw]
    problems = list(pipeline.problems)
    for name, lines in pipeline.damaged_rows.items():  # (its own damage: the rest of the pipeline audited)
        jobs[name].problems.extend(f"{name}: {line}" for line in lines) if name in jobs else problems.extend(lines)
    return Project(root, pipeline.layout, jobs, problems)


def cryosparc_project(root: Path) -> Project:
    """The jobs of the CryoSPARC project folder ``root``: each ``J*/job.json``.

    A job folder without a readable job.json, or a parent named with no folder, is a
    problem of its job, one line; the rest is read.
    """
    jobs: dict[str, Job] = {}
    for folder in job_folders(root):
        name = folder.name
        try:
            document = read_job_document(folder / JOB_DOCUMENT)
        except CryodedupError as err:
            jobs[name] = Job(name, "?", "?", problems=[f"{name}: {str(err).splitlines()[0]}"])
            continue
        job = Job(name, document.type, document.type, document.title or None, document.status)
        job.label = f"{name} ({document.type})"
        job.parents = list(document.parents)
        job.particle_parents = list(document.particle_parents)
        job.reference_parents = list(document.volume_parents)
        job.number, job.started, job.read_as = document.number, document.started, document.shape
        job.particle_sets = {f"{name}/{group}": files for group, files in document.particle_groups.items()}
        if document.missing:  # (a document that cannot say its outputs: named, not "no particles")
            job.problems.append(f"{name}: {JOB_DOCUMENT} has {document.missing}: its particle outputs cannot be found")
        job.diameter = next(
            (
                (value, f"{name}/job.json {param}")
                for param in _CS_DIAMETER_PARAMS
                if (value := _positive(str(document.params.get(param, "")))) is not None
            ),
            None,
        )
        job.symmetry = next(
            (
                (str(value).strip(), f"{name}/job.json {param}")
                for param in SYMMETRY_PARAMS
                if (value := document.params.get(param)) and str(value).strip()
            ),
            None,
        )
        jobs[name] = job
    for job in list(jobs.values()):
        for parent in [*job.parents, *job.particle_parents]:
            if parent not in jobs:
                jobs[parent] = Job(
                    parent, parent, "?", problems=[f"{parent}: a parent of {job.name}, its folder is missing"]
                )
    shapes = sorted({job.read_as.split(" job.json")[0] for job in jobs.values() if job.read_as})
    return Project(root, " and ".join(shapes).replace(" and CryoSPARC", " and") or "CryoSPARC", jobs)


def _job_of_node(node: str, jobs: dict[str, Job]) -> str | None:
    """The job whose folder holds ``node`` (an input edge from a node no output edge lists)."""
    parts = node.split("/")
    name = "/".join(parts[:2])
    return name if name in jobs else None


#: The folder beside a project that the audit's redo commands write into (``PROJECT-cryodedup``).
REDO_FOLDER_SUFFIX = "-cryodedup"


def redo_folder(root: Path, name: str) -> str:
    """Where the redo command of job ``name`` writes its set: ``PROJECT-cryodedup/Refine3D_job029``, absolute."""
    return os.path.join(f"{os.path.abspath(root).rstrip(os.sep)}{REDO_FOLDER_SUFFIX}", name.replace("/", "_"))


def _imported_parent(root: Path, real_root: str, job: Job, jobs: dict[str, Job], writers: dict[str, str]) -> str | None:
    """The job whose output an Import job copied in (``job.imported``, by path: absolute, or relative to the project).

    ``real_root``: the project's folder, links resolved (once for every Import of the project).

    A job of the project (its file, or a link to it, in the job's folder) or a redo command's output
    (``PROJECT-cryodedup/Refine3D_job029/particles_kept.star``); None for a file from elsewhere.
    """
    node = job.imported or ""
    path = os.path.realpath(os.path.join(root, node))
    inside = os.path.relpath(path, real_root)
    local = node if not os.path.isabs(node) else inside
    found = writers.get(local) or _job_of_node(local, jobs)
    if found is None and not inside.startswith(os.pardir):  # (a link in the project: the file it points to)
        found = writers.get(inside) or _job_of_node(inside, jobs)
    return found or _redo_of_node(root, node, jobs)


#: How a duplicate removal (a redo command, cryodedup's External job) names the copies it took out:
#: ``particles_rejected.star``, or ``particles_rejected_LABEL.star`` for each of several inputs.
_REJECTED = re.compile(r"^particles_rejected(_.*)?\.star$")


def _rejected(node: str) -> bool:
    """Whether ``node`` is the copies a duplicate removal took out: a set of them is not its input's particles."""
    return bool(_REJECTED.match(os.path.basename(node)))


def _redo_of_node(root: Path, node: str, jobs: dict[str, Job]) -> str | None:
    """The job whose redo command wrote ``node`` (a file browsed in from ``PROJECT-cryodedup/Refine3D_job029/``).

    RELION records a file browsed into a job's input by its path (absolute, or relative to the project); no job of
    the pipeline wrote it, yet it holds that job's particles without their duplicates: its particles' parent.
    """
    # (realpath: a project reached through a link, or the file through another, is the same folder)
    folder = os.path.dirname(os.path.realpath(os.path.join(root, node)))
    if os.path.dirname(folder) != os.path.dirname(os.path.realpath(redo_folder(root, "x"))):
        return None
    return next((name for name in jobs if name.replace("/", "_") == os.path.basename(folder)), None)


def _job(root: Path, pipeline: Pipeline, process_name: str, particle_nodes: set[str]) -> Job:
    process = pipeline.processes[process_name]
    name = process_name.rstrip("/")
    job = Job(name, process.kind, process.type_label, process.alias, process.status)
    folder = root / name
    if not folder.is_dir():
        job.problems.append(f"{name}: the job's folder is missing")
        return job
    unreadable = _unreadable_folder(folder, name)
    if unreadable:  # (one line for the job, none more for each of its outputs)
        job.problems.append(unreadable)
        return job
    damaged, job_star = _damaged_record(folder, name)
    if damaged:  # (one line; its outputs audited still, without its options)
        job.problems.append(damaged)
    local = {n: _in_project(root, n, pipeline) for n in process.outputs}
    job.particle_sets = {local[n]: [local[n]] for n in process.outputs if n in particle_nodes}
    job.micrograph_files = [local[n] for n in process.outputs if _is_micrographs(pipeline.node_types.get(n, ""))]
    if damaged:
        return job
    options = job_options_of(job_star) if job_star is not None else {}  # (the diameter, point group, threshold)
    job.diameter = _recorded_diameter(folder, options)
    job.micrographs_read = options.get(_MICROGRAPHS_OPTION, "").strip().strip('"') or None
    symmetry = options.get(_SYMMETRY_OPTION, "").strip().strip('"')
    if symmetry:
        job.symmetry = symmetry, f"{name}/job.star {_SYMMETRY_OPTION}"
    if process.status != "Failed":  # (a Select that failed removed nothing: its threshold judged nothing)
        job.duplicate_threshold = _recorded_threshold(folder, options)
    if job.kind == "Import" and options.get("do_other", "").lower() in ("yes", "true", "1"):
        job.imported = options.get("fn_in_other", "").strip() or None
        if job.imported is not None and "\0" in job.imported:  # (a crash-zeroed job.star: no path, issue 99)
            job.problems.append(f"{name}: its job.star's fn_in_other holds a NUL byte: the file it imported is unknown")
            job.imported = None
    return job


#: The records of a RELION job folder that the audit reads (its options, its command line).
_RECORDS = ("job.star", "note.txt")


def _unreadable_folder(folder: Path, name: str) -> str | None:
    """Why the job's folder cannot be read (not listed, or its files not reached), one line; None when it can."""
    try:
        os.close(os.open(folder, os.O_RDONLY | os.O_DIRECTORY))  # (listing it needs its read permission)
        os.stat(
            os.path.join(folder, ".")
        )  # (reaching a file in it needs the folder's search permission; a Path drops ".")
    except OSError as err:
        return f"{name}: the job's folder cannot be read ({err.strerror})"
    return None


def _damaged_record(folder: Path, name: str) -> tuple[str | None, bytes | None]:
    """The first of the job's records that is no readable file of its kind (a FIFO, a device, gigabytes), one line.

    And the bytes of its job.star (None: none there), read once: its options are read from them.
    """
    job_star = None
    for record in _RECORDS:
        path = os.path.join(folder, record)
        if os.path.lexists(path):
            try:
                data = read_foreign(path, f"RELION's {record}")
            except CryodedupError as err:
                return f"{name}: {str(err).splitlines()[0]}", None
            job_star = data if record == "job.star" else job_star
    return None, job_star


def _in_project(root: Path, node: str, pipeline: Pipeline) -> str:
    """The node's file as the project holds it, project-relative where it can be.

    An absolute path (a pipeline written with them) is taken from its job's folder on
    (``Extract/job001/particles.star``) when the project holds that file, or when the absolute path is gone
    (a project moved or copied); else as written.
    """
    if not Path(node).is_absolute():
        return node
    parts = Path(node).parts
    for k in range(len(parts) - 2):
        if f"{parts[k]}/{parts[k + 1]}/" in pipeline.processes or f"{parts[k]}/{parts[k + 1]}" in pipeline.processes:
            local = "/".join(parts[k:])
            if (root / local).exists() or not Path(node).exists():
                return local
    return node


def _is_micrographs(node_type: str) -> bool:
    # RELION 3.1: NODE_MICS (1); RELION 4/5: MicrographGroupMetadata.
    return node_type == "1" or node_type.startswith("MicrographGroupMetadata")


@dataclass(frozen=True)
class _DuplicateRemoval:
    """What a RELION Select job's ``job.star`` records of its removal of duplicates (its options, as written)."""

    do_remove_duplicates: str = ""
    duplicate_threshold: str = ""

    @classmethod
    def read(cls, options: dict[str, str]) -> _DuplicateRemoval:
        """The job's options of these names (empty where it recorded none), from its job.star's ``options``."""
        return cls(**{f.name: options.get(f.name, "") for f in fields(cls)})


def _recorded_threshold(folder: Path, options: dict[str, str]) -> tuple[float, str] | None:
    """The distance a RELION Select job removed duplicates within (``do_remove_duplicates``), and where.

    ``options``: its job.star's (:func:`job_options`).
    """
    recorded = _DuplicateRemoval.read(options)
    if recorded.do_remove_duplicates.lower() not in ("yes", "true", "1"):
        return None
    value = _positive(recorded.duplicate_threshold)
    return None if value is None else (value, f"{folder.parent.name}/{folder.name}/job.star duplicate_threshold")


def _recorded_diameter(folder: Path, options: dict[str, str]) -> tuple[float, str] | None:
    """The particle diameter the job recorded (its job.star's ``options``, else its note.txt's command), and where."""
    for option in _DIAMETER_OPTIONS:
        value = _positive(options.get(option, ""))
        if value is not None:
            return value, f"{folder.parent.name}/{folder.name}/job.star {option}"
    note = folder / "note.txt"
    if note.is_file():
        found = _NOTE_DIAMETER.search(read_foreign(note, "RELION's note.txt").decode("utf-8", errors="replace"))
        value = _positive(found.group(1)) if found else None
        if value is not None:
            return value, f"{folder.parent.name}/{folder.name}/note.txt --particle_diameter"
    return None


def _positive(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 < value < 1e5 else None
