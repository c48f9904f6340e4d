"""The audit's lineage walked once, linear in jobs and edges (issue 90 items 1 and 3).

Oracles: the walks the audit made before (a breadth-first walk from every job for its distance, a recursive
depth-first walk for the cycles), kept here as they were, on small random projects (cycles, parents listed twice,
parents that are no job); and, at scale, a chain, siblings and a random DAG timed against a bound that the walk
from every job passed by minutes.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cryodedup.jobs.audit.job import _trace
from cryodedup.jobs.audit.project import Job, Project
from cryodedup.jobs.audit.read import _distances, _pose_symmetries
from cryodedup.options.species import DEFAULT_MIN_DIST
from helpers import within

CRYODEDUP = str(Path(sys.executable).parent / "cryodedup")


# --- the oracles: the walks as they were before issue 90 ----------------------------------------------------------


def _old_nearest(name: str, next_of: dict[str, list[str]], project: Project, what: str) -> tuple[float, str] | None:
    seen = {name}
    queue = deque([name])
    while queue:
        job = project.jobs[queue.popleft()]
        value = getattr(job, what)
        if value is not None:
            return value
        for other in next_of.get(job.name, []):
            if other not in seen and other in project.jobs:
                seen.add(other)
                queue.append(other)
    return None


def _old_distances(project: Project) -> dict[str, tuple[float, str]]:
    children: dict[str, list[str]] = {name: [] for name in project.jobs}
    for job in project.jobs.values():
        for parent in job.parents:
            if parent in children:
                children[parent].append(job.name)
    parents = {name: job.parents for name, job in project.jobs.items()}
    found = {}
    for name in project.jobs:
        threshold = _old_nearest(name, children, project, "duplicate_threshold") or _old_nearest(
            name, parents, project, "duplicate_threshold"
        )
        if threshold is not None:
            found[name] = (threshold[0], f"the duplicate threshold of {threshold[1]}")
            continue
        source = _old_nearest(name, children, project, "diameter") or _old_nearest(name, parents, project, "diameter")
        if source is None:
            found[name] = (float(DEFAULT_MIN_DIST), "the default (no particle diameter recorded)")
            continue
        diameter, where = source
        found[name] = (diameter / 4, f"a quarter of the particle diameter of {diameter:g} Å ({where})")
    return found


def _old_cycles(project: Project) -> list[list[str]]:
    state: dict[str, int] = {}
    found: list[list[str]] = []
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for parent in project.jobs[name].parents:
            if state.get(parent) == 1:
                found.append(path[path.index(parent) :])
            elif parent not in state and parent in project.jobs:
                visit(parent)
        path.pop()
        state[name] = 2

    for name in project.jobs:
        if name not in state:
            visit(name)
    return found


def _old_trace(project: Project, audits: dict) -> dict[str, list[str]]:
    done: dict[str, list[str]] = {}

    def parents_with_sets(name: str) -> list[str]:
        return [p for p in project.jobs[name].particle_parents if p in audits and audits[p].sets]

    def entry(name: str, walking: frozenset[str]) -> list[str]:
        if name in done:
            return done[name]
        carriers = [p for p in parents_with_sets(name) if audits[p].duplicates and p not in walking]
        found: list[str] = []
        for parent in carriers:
            found += [e for e in entry(parent, walking | {name}) if e not in found]
        done[name] = found or [name]
        return done[name]

    return {name: entry(name, frozenset()) for name, audit in audits.items() if audit.duplicates}


_CARRIERS = ("Polish", "CtfRefine", "Select", "Subtract", "JoinStar")


def _old_pose_symmetry(project: Project, job: Job) -> tuple[str, str] | None:
    seen = {job.name}
    queue = deque([job])
    while queue:
        current = queue.popleft()
        if current.symmetry is not None or current.kind not in _CARRIERS:
            return current.symmetry
        for parent in current.particle_parents:
            if parent not in seen and parent in project.jobs:
                seen.add(parent)
                queue.append(project.jobs[parent])
    return None


@dataclass
class _Audited:
    """What the trace reads of a job's audit: whether it holds sets, its duplicates; and what it writes."""

    sets: list
    duplicates: int
    entered_at: list[str] = field(default_factory=list)


def _random_project(rng: random.Random, jobs: int) -> Project:
    """Jobs in a random order with random parents (cycles, a parent twice, a parent that is no job), a few values."""
    names = [f"J{k}" for k in range(jobs)]
    rng.shuffle(names)
    project = Project(Path("."), "test", {})
    for name in names:
        parents = rng.choices(names, k=rng.choice([0, 1, 1, 2, 3, 4]))
        if rng.random() < 0.1:
            parents.append("J_missing")
        job = Job(name, "Select", "Select", parents=parents, particle_parents=list(dict.fromkeys(parents[:2])))
        if rng.random() < 0.12:
            job.diameter = (rng.choice([100.0, 150.0, 200.0]), f"{name}/job.star particle_diameter")
        if rng.random() < 0.06:
            job.duplicate_threshold = (rng.choice([10.0, 30.0]), f"{name}/job.star duplicate_threshold")
        project.jobs[name] = job
    return project


@pytest.mark.parametrize("seed", range(300))
def test_each_jobs_distance_is_the_one_the_walk_from_every_job_found(seed):
    rng = random.Random(seed)
    project = _random_project(rng, rng.choice([1, 2, 5, 12, 40]))
    assert _distances(project, None) == _old_distances(project)


@pytest.mark.parametrize("seed", range(300))
def test_the_cycles_are_the_ones_the_recursive_walk_found(seed):
    rng = random.Random(seed)
    project = _random_project(rng, rng.choice([1, 2, 5, 12, 40]))
    assert project.cycles(most=10**6) == _old_cycles(project)


@pytest.mark.parametrize("seed", range(300))
def test_where_duplicates_entered_is_where_the_recursive_walk_found(seed):
    rng = random.Random(seed)
    project = _random_project(rng, rng.choice([1, 2, 5, 12, 40]))
    audits = {name: _Audited([1] * (rng.random() < 0.7), rng.choice([0, 0, 3])) for name in project.jobs}
    _trace(project, audits)
    assert {name: a.entered_at for name, a in audits.items() if a.duplicates} == _old_trace(project, audits)


@pytest.mark.parametrize("seed", range(300))
def test_each_jobs_point_group_is_the_one_the_walk_from_every_job_found(seed):
    rng = random.Random(seed)
    project = _random_project(rng, rng.choice([1, 2, 5, 12, 40]))
    for job in project.jobs.values():
        job.kind = rng.choice(["Select", "Polish", "Refine3D", "Class3D", "CtfRefine"])
        job.symmetry = (rng.choice(["D2", "C4"]), job.name) if rng.random() < 0.15 else None
    expected = {name: _old_pose_symmetry(project, job) for name, job in project.jobs.items()}
    assert _pose_symmetries(project) == expected


def test_the_lineage_decides_ties_by_the_order_of_the_edges():
    # A hand-worked case: J3 reads J1 and J2, each of which recorded a diameter (upstream, one step each): the walk
    # from J3 reaches J1 first, as J3 lists it first; J4 reads J3 and J2: J2 one step, J1 two.
    project = Project(Path("."), "test", {})
    for name, parents, diameter in [("J1", [], 100.0), ("J2", [], 200.0), ("J3", ["J1", "J2"], None)]:
        project.jobs[name] = Job(name, "Select", "Select", parents=parents)
        project.jobs[name].diameter = None if diameter is None else (diameter, name)
    project.jobs["J4"] = Job("J4", "Select", "Select", parents=["J3", "J2"])
    distances = _distances(project, None)
    assert distances["J3"] == (25.0, "a quarter of the particle diameter of 100 Å (J1)")
    assert distances["J4"] == (50.0, "a quarter of the particle diameter of 200 Å (J2)")
    # Downstream before upstream: J1's own, J2 its own, and a job's child's diameter before its parent's.
    project.jobs["J5"] = Job("J5", "Select", "Select", parents=["J4"], diameter=(300.0, "J5"))
    assert _distances(project, None)["J4"] == (75.0, "a quarter of the particle diameter of 300 Å (J5)")


# --- at scale -------------------------------------------------------------------------------------------------------


def _shaped(shape: str, jobs: int) -> Project:
    rng = random.Random(90)
    project = Project(Path("."), "test", {})
    for k in range(jobs):
        if shape == "chain":
            parents = [f"J{k - 1}"] if k else []
        elif shape == "siblings":
            parents = ["J0"] if k else []
        else:
            parents = sorted({f"J{rng.randrange(k)}" for _ in range(3)}) if k else []
        project.jobs[f"J{k}"] = Job(f"J{k}", "Select", "Select", parents=parents)
    project.jobs["J0"].diameter = (200.0, "J0/job.star particle_diameter")
    return project


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["chain", "siblings", "dag"])
def test_the_distances_of_100000_jobs_take_seconds(shape):
    project = _shaped(shape, 100_000)
    with within(20):  # (before: a walk from every job, twice; 10,000 jobs did not finish in 150 s)
        distances = _distances(project, None)
        assert project.cycles() == [] and set(_pose_symmetries(project).values()) == {None}
    assert set(distances.values()) == {
        (50.0, "a quarter of the particle diameter of 200 Å (J0/job.star particle_diameter)")
    }


@pytest.mark.slow
def test_duplicates_through_a_chain_of_100000_sets_are_traced_to_its_first():
    # Before: RecursionError (a call per job of the chain walked from its last), and a copy of the walk per call.
    project = _shaped("chain", 100_000)
    project.jobs = dict(reversed(project.jobs.items()))  # (listed child first: each walked from the last)
    for job in project.jobs.values():
        job.particle_parents = list(job.parents)
    audits = {name: _Audited([1], 2) for name in project.jobs}
    with within(20):
        _trace(project, audits)
    assert all(a.entered_at == ["J0"] for a in audits.values())


def _pipeline(root: Path, names: list[str], edges: list[tuple[str, str]]) -> None:
    """A RELION 3.1 pipeline of Selects in ``names``' order, each writing a model STAR; ``edges``: parent -> child."""
    root.mkdir()
    for name in names:
        (root / name).mkdir(parents=True)
    text = "data_pipeline_processes\nloop_\n_rlnPipeLineProcessName\n_rlnPipeLineProcessAlias\n"
    text += "_rlnPipeLineProcessType\n_rlnPipeLineProcessStatus\n" + "".join(f"{n}/ None 7 2\n" for n in names)
    text += "\ndata_pipeline_nodes\nloop_\n_rlnPipeLineNodeName\n_rlnPipeLineNodeType\n"
    text += "".join(f"{n}/run_model.star 8\n" for n in names)
    text += "\ndata_pipeline_input_edges\nloop_\n_rlnPipeLineEdgeFromNode\n_rlnPipeLineEdgeProcess\n"
    text += "".join(f"{parent}/run_model.star {child}/\n" for parent, child in edges)
    text += "\ndata_pipeline_output_edges\nloop_\n_rlnPipeLineEdgeProcess\n_rlnPipeLineEdgeToNode\n"
    text += "".join(f"{n}/ {n}/run_model.star\n" for n in names)
    (root / "default_pipeline.star").write_text(text)


def _audit(root: Path) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run([CRYODEDUP, "audit", str(root), "--json"], capture_output=True, text=True, check=False)
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr, done.stderr[-2000:]
    return done, json.loads(done.stdout)


def test_a_ring_of_1100_jobs_is_named_as_a_cycle_and_the_rest_audited(tmp_path):
    # Before: RecursionError (Project.cycles recursed once per edge), and --json printed nothing.
    names = [f"Select/job{k:04d}" for k in range(1, 1101)]
    _pipeline(tmp_path / "p", names, [(names[k - 1], names[k]) for k in range(1100)])  # (job1100 -> job0001 too)
    done, audit = _audit(tmp_path / "p")
    (problem,) = [p for p in audit["problems"] if "cycle" in p]
    cycle = problem.split(": ", 1)[1].split("; ")[0].split(" -> ")
    assert len(cycle) == 1101 and cycle[0] == cycle[-1] and sorted(cycle[:-1]) == names
    assert all(cycle[k + 1] in {j["job"]: j for j in audit["jobs"]}[cycle[k]]["inputs"] for k in range(1100))
    assert len(audit["jobs"]) == 1100 and done.returncode == 2  # (a problem of the pipeline, and no set to read)


def test_a_chain_of_1100_jobs_listed_child_first_is_audited(tmp_path):
    # Before: RecursionError (the depth-first walk from the first listed, the last child, went 1,100 deep).
    names = [f"Select/job{k:04d}" for k in range(1, 1101)]
    _pipeline(tmp_path / "p", names[::-1], [(names[k - 1], names[k]) for k in range(1, 1100)])
    done, audit = _audit(tmp_path / "p")
    assert audit["problems"] == [] and len(audit["jobs"]) == 1100
    assert done.returncode == 2 and audit["exit_status"] == 2  # (no particle set in it: nothing found to audit)


# --- issue 99: the work per particle set what the set holds ---------------------------------------------------------

_ONE_ROW = (
    "data_optics\nloop_\n_rlnOpticsGroup\n_rlnMicrographPixelSize\n_rlnImagePixelSize\n_rlnImageSize\n"
    "_rlnImageDimensionality\n1 1.0 1.0 256 2\n\ndata_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n"
    "_rlnMicrographName\n_rlnImageName\n_rlnOpticsGroup\n{x} 200 mic{k}.mrc 1@{name}/p.mrcs 1\n"
)


def _set_chain(root: Path, jobs: int, written: int, kinds: dict[int, str] | None = None) -> list[str]:
    """A chain of ``jobs`` Selects, each writing a particles STAR (node 3) of one row: the first ``written`` are there.

    ``kinds``: a job's kind other than Select, by its number.
    """
    names = [f"{(kinds or {}).get(k, 'Select')}/job{k:03d}" for k in range(1, jobs + 1)]
    _pipeline(root, names, [(names[k - 1], names[k]) for k in range(1, jobs)])
    pipeline = root / "default_pipeline.star"
    pipeline.write_text(
        pipeline.read_text().replace("run_model.star 8", "particles.star 3").replace("run_model", "particles")
    )
    for k, name in enumerate(names[:written]):
        (root / name / "particles.star").write_text(_ONE_ROW.format(x=200 + 300 * k, k=k, name=name))
    return names


def _planning(monkeypatch) -> list[int]:
    """Counts the particle job's plans the audit builds (``check.plan``)."""
    from cryodedup.jobs.audit import check

    made: list[int] = []
    real = check.plan

    def counted(options):
        made.append(1)
        return real(options)

    monkeypatch.setattr(check, "plan", counted)
    check._planned.cache_clear()
    return made


def test_a_set_whose_file_is_missing_is_one_line_and_no_plan(tmp_path, monkeypatch):
    # Before: the particle job's options checked and its plan built (twice: pose-aware, then by position) for each
    # set, its file missing or not: about 1 ms a set, 100,000 Imports 270 s.
    from cryodedup.jobs.audit.read import read_audits

    names = _set_chain(tmp_path / "p", 6, written=1)
    made = _planning(monkeypatch)
    read = read_audits(tmp_path / "p", None, 10.0, lambda message, level: None)
    assert len(made) == 1  # (the one set there, by position: it has no angles)
    for name in names[1:]:
        missing = tmp_path / "p" / name / "particles.star"
        assert read.audits[name].problems == [
            f"{name}: {name}/particles.star could not be read: {missing}: file not found"
        ]
    assert read.audits[names[0]].sets[0].particles == 1


def test_the_plan_is_built_once_for_sets_audited_alike(tmp_path, monkeypatch):
    from cryodedup.jobs.audit.read import read_audits

    names = _set_chain(tmp_path / "p", 8, written=8)
    made = _planning(monkeypatch)
    read = read_audits(tmp_path / "p", None, 10.0, lambda message, level: None)
    assert len(made) == 1
    assert [read.audits[n].sets[0].particles for n in names] == [1] * 8
    assert all(not read.audits[n].problems for n in names)


def test_an_import_whose_fn_in_other_holds_a_nul_is_named_and_the_rest_audited(tmp_path):
    # Issue 99: ValueError: embedded null byte (a crash-zeroed job.star), a traceback and no --json document.
    names = _set_chain(tmp_path / "p", 3, written=3, kinds={2: "Import"})
    pipeline = tmp_path / "p" / "default_pipeline.star"
    pipeline.write_text(pipeline.read_text().replace("Import/job002/ None 7", "Import/job002/ None 0"))
    job_star = "data_job\n_rlnJobType 0\ndata_joboptions_values\nloop_\n_rlnJobOptionVariable\n_rlnJobOptionValue\n"
    job_star += "do_other Yes\nfn_in_other Select/job001/parti\0\0\0\0cles.star\n"
    (tmp_path / "p" / names[1] / "job.star").write_text(job_star)
    done, audit = _audit(tmp_path / "p")
    assert done.returncode == 0  # (the job named damaged, as a missing file is; nothing to redo)
    jobs = {job["job"]: job for job in audit["jobs"]}
    assert jobs[names[1]]["problems"] == [
        f"{names[1]}: its job.star's fn_in_other holds a NUL byte: the file it imported is unknown"
    ]
    assert [jobs[n]["sets"][0]["particles"] for n in names] == [1, 1, 1]
