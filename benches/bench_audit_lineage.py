"""``cryodedup audit`` of projects of 100,000 jobs: the lineage's walks, linear in jobs and edges (issue 90).

Makes (once, kept in WORKDIR) one project per shape, ``--jobs`` jobs each, and times
``cryodedup audit PROJECT --json --quiet`` (wall and CPU seconds, peak memory):

- ``chain``: a RELION 3.1 pipeline, each job reading the one before it;
- ``siblings``: every job reading the first (``--jobs`` - 1 siblings of one job);
- ``dag``: each job reading three earlier jobs at random;
- ``cryosparc``: a CryoSPARC project folder of ``--jobs`` job folders (``J*/job.json``), each job's
  particles from three earlier jobs at random;
- ``cs-parents``: a CryoSPARC project of one job whose job.json names ``--jobs`` parents, none with a folder
  (each named damaged, one line);
- ``redo-chain``: the chain with one job in 100 a Refine3D of 200 particles whose half-sets share some (each to
  redo, the refinement before it its reference): one redo, the last's, clears every other (carried);
- ``chain-sets``, ``siblings-sets``, ``dag-sets`` (issue 99): the chain, siblings and DAG of Selects each writing a
  particles STAR of one row, in its folder; the chain's processes listed child first;
- ``imports`` (issue 99): RELION Import jobs each copying in the one before's particles STAR, linked by its
  job.star's ``fn_in_other`` alone (no edge in the pipeline); only the first's file is there (each other's set
  named missing, one line).

In the RELION shapes every job has its folder and writes a model STAR (node 8: its particles' lineage, no set of
its own); the first job, an Extract, records a 200 Å particle diameter and writes 2,000 particles (5 % picked twice),
and the last, a Refine3D, refines them with their halves: every job's distance comes from the first's diameter,
walked up the lineage, and the refinement is to redo (exit 1).

    python benches/bench_audit_lineage.py --workdir OUT [--jobs 100000] [--shapes chain siblings ...] [--timeout 600]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench_audit import HEADER, particle_text

SHAPES = ("chain", "siblings", "dag", "cryosparc", "cs-parents", "redo-chain")
#: Issue 99's shapes: every job a particle set (``imports``: linked by ``fn_in_other``).
SET_SHAPES = ("chain-sets", "siblings-sets", "dag-sets", "imports")
_IMPORT = 0
_IMPORT_STAR = (
    "data_job\n\n_rlnJobType 0\n_rlnJobIsContinue 0\n\ndata_joboptions_values\n\nloop_\n"
    "_rlnJobOptionVariable #1\n_rlnJobOptionValue #2\ndo_other Yes\nfn_in_other {}\n"
    'node_type "Particles STAR file (.star)"\n'
)
#: In ``redo-chain``: one job in this many a refinement to redo, of this many particles.
_REDO_EVERY, _REDO_ROWS = 100, 200
#: RELION 3.1's process and node types used: Extract (5) writes particles (3); the others' model STARs (8); maps (6).
_EXTRACT, _SELECT, _REFINE, _PARTICLES, _MODEL, _MAP = 5, 7, 10, 3, 8, 6
_JOB_STAR = (
    "data_job\n\n_rlnJobType 5\n\ndata_joboptions_values\n\nloop_\n_rlnJobOptionVariable #1\n"
    "_rlnJobOptionValue #2\nparticle_diameter 200\n"
)


def parents_of(shape: str, jobs: int, rng: np.random.Generator) -> list[list[int]]:
    """Each job's parents (0-based job numbers) in a shape."""
    shape = shape.removesuffix("-sets")
    if shape in ("chain", "redo-chain"):
        return [[]] + [[k - 1] for k in range(1, jobs)]
    if shape == "siblings":
        return [[]] + [[0] for _ in range(1, jobs)]
    picked = [sorted({int(p) for p in rng.integers(0, k, 3)}) if k else [] for k in range(jobs)]
    return picked


def straddling_text(job: str) -> str:
    """A refinement's ``_REDO_ROWS`` particles on a 300 Å grid of one micrograph, one in ten picked again 10 Å
    away in the other half-set (5 % of its particles in pairs across its halves: to redo)."""
    rows = []
    for k in range(_REDO_ROWS):
        copy = k % 10 == 9  # (a copy of the one before, 10 Å away, in the other half)
        site = k - copy
        x, y, half = 200 + 300 * (site % 20) + 10 * copy, 200 + 300 * (site // 20), 1 + (site + copy) % 2
        rows.append(f"{x:.2f} {y:.2f} Movies/mic_00000.mrc {k + 1:06d}@{job}/particles.mrcs 1 0.5 -0.5 {half}")
    return HEADER + "\n".join(rows) + "\n \n"


def make_relion(root: Path, shape: str, jobs: int) -> None:
    """A RELION 3.1 project of ``jobs`` jobs in ``shape``, each with its folder."""
    rng = np.random.default_rng(90)
    names = [f"Select/job{k + 1:06d}" for k in range(jobs)]
    refined = list(range(_REDO_EVERY - 1, jobs - 1, _REDO_EVERY)) if shape == "redo-chain" else []
    for k in refined:
        names[k] = f"Refine3D/job{k + 1:06d}"
    names[0], names[-1] = "Extract/job000001", f"Refine3D/job{jobs:06d}"
    files = [f"{name}/run_data.star" if name.startswith("Refine3D") else f"{name}/run_model.star" for name in names]
    files[0] = f"{names[0]}/particles.star"
    processes, nodes, inputs, outputs = [], [], [], []
    for k, (name, parents) in enumerate(zip(names, parents_of(shape, jobs, rng))):
        code = _EXTRACT if k == 0 else _REFINE if name.startswith("Refine3D") else _SELECT
        processes.append(f"{name}/ None {code} 2")
        nodes.append(f"{files[k]} {_PARTICLES if code in (_EXTRACT, _REFINE) else _MODEL}")
        outputs.append(f"{name}/ {files[k]}")
        inputs += [f"{files[p]} {name}/" for p in parents]
        if k in refined or (refined and k == jobs - 1):  # (its map an output; the one before it its reference)
            nodes.append(f"{name}/run_class001.mrc {_MAP}")
            outputs.append(f"{name}/ {name}/run_class001.mrc")
            before = [r for r in refined if r < k][-1:]
            inputs += [f"{names[r]}/run_class001.mrc {name}/" for r in before]
        (root / name).mkdir(parents=True, exist_ok=True)
    (root / names[0] / "job.star").write_text(_JOB_STAR)
    for k in (0, jobs - 1):  # (the same 2,000 particles: the refinement's with their halves)
        (root / files[k]).write_text(particle_text(2000, names[k], np.random.default_rng(68)))
    for k in refined:  # (each its own few, some across its halves: each to redo)
        (root / files[k]).write_text(straddling_text(names[k]))
    (root / "default_pipeline.star").write_text(pipeline_text(jobs, processes, nodes, inputs, outputs))


def make_sets(root: Path, shape: str, jobs: int) -> None:
    """A RELION 3.1 project of ``jobs`` jobs in one of :data:`SET_SHAPES`, each job's folder a particles STAR."""
    rng = np.random.default_rng(99)
    imports = shape == "imports"
    names = [f"{'Import' if imports else 'Select'}/job{k + 1:06d}" for k in range(jobs)]
    files = [f"{name}/particles.star" for name in names]
    parents = [[] for _ in range(jobs)] if imports else parents_of(shape, jobs, rng)
    order = range(jobs - 1, -1, -1) if shape == "chain-sets" else range(jobs)  # (child first)
    processes, nodes, inputs, outputs = [], [], [], []
    for k in order:
        processes.append(f"{names[k]}/ None {_IMPORT if imports else _SELECT} 2")
        nodes.append(f"{files[k]} {_PARTICLES}")
        outputs.append(f"{names[k]}/ {files[k]}")
        inputs += [f"{files[p]} {names[k]}/" for p in parents[k]]
        (root / names[k]).mkdir(parents=True, exist_ok=True)
        if imports and k:
            (root / names[k] / "job.star").write_text(_IMPORT_STAR.format(files[k - 1]))
        if not imports or k == 0:
            row = (
                f"{200 + 300 * (k % 50):.2f} 200.00 Movies/mic_{k % 1000:05d}.mrc {k + 1:06d}@{names[k]}/p.mrcs 1 0 0 1"
            )
            (root / files[k]).write_text(HEADER + row + "\n \n")
    (root / "default_pipeline.star").write_text(pipeline_text(jobs, processes, nodes, inputs, outputs))


def pipeline_text(jobs: int, processes: list[str], nodes: list[str], inputs: list[str], outputs: list[str]) -> str:
    """A RELION 3.1 ``default_pipeline.star`` of these lines."""
    loops = [
        ("pipeline_processes", ["ProcessName", "ProcessAlias", "ProcessType", "ProcessStatus"], processes),
        ("pipeline_nodes", ["NodeName", "NodeType"], nodes),
        ("pipeline_input_edges", ["EdgeFromNode", "EdgeProcess"], inputs),
        ("pipeline_output_edges", ["EdgeProcess", "EdgeToNode"], outputs),
    ]
    text = f"\ndata_pipeline_general\n\n_rlnPipeLineJobCounter {jobs + 1}\n\n"
    for block, labels, lines in loops:
        text += f"data_{block}\n\nloop_\n" + "".join(f"_rlnPipeLine{lab} #{i + 1}\n" for i, lab in enumerate(labels))
        text += "\n".join(lines) + "\n\n"
    return text


def cs_document(number: int, parents: list[str]) -> dict:
    """A CryoSPARC 4 job.json of a Select job whose particles come from ``parents``."""
    return {
        "uid": f"J{number}",
        "uid_num": number,
        "type": "select_2D",
        "status": "completed",
        "started_at": {"$date": 1_700_000_000_000 + number * 1000},
        "parents": parents,
        "input_slot_groups": [
            {
                "type": "particle",
                "name": "particles",
                "connections": [{"job_uid": p, "group_name": "particles_selected"} for p in parents],
            }
        ],
        "params_spec": {"diameter": {"value": 200}} if number == 1 else {},
        "output_result_groups": [],
        "output_results": [],
    }


def make_cryosparc(root: Path, shape: str, jobs: int) -> None:
    """A CryoSPARC project folder: ``jobs`` job folders (``cryosparc``), or one job naming ``jobs`` parents."""
    if shape == "cs-parents":
        (root / "J1").mkdir(parents=True, exist_ok=True)
        parents = [f"J{k}" for k in range(2, jobs + 2)]
        (root / "J1" / "job.json").write_text(json.dumps(cs_document(1, parents)))
        return
    rng = np.random.default_rng(90)
    for k, parents in enumerate(parents_of("dag", jobs, rng)):
        (root / f"J{k + 1}").mkdir(parents=True, exist_ok=True)
        document = cs_document(k + 1, [f"J{p + 1}" for p in parents])
        (root / f"J{k + 1}" / "job.json").write_text(json.dumps(document))


def run(root: Path, timeout: float) -> str:
    """The audit of ``root`` timed: wall, CPU (user + system, ``wait4``), peak memory, jobs and exit status.

    One stopped at ``timeout`` seconds of wall says so, with the CPU it had spent: on a machine shared with other
    work the CPU says the work done.
    """
    cryodedup = str(Path(sys.executable).parent / "cryodedup")
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen([cryodedup, "audit", str(root), "--json", "--quiet"], stdout=out, stderr=err)
        stopped = threading.Timer(timeout, child.kill)
        stopped.start()
        _, status, usage = os.wait4(child.pid, 0)
        stopped.cancel()
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        cpu = f"{usage.ru_utime + usage.ru_stime:.1f} s CPU, peak {usage.ru_maxrss // 1024} MB"
        if child.returncode < 0:
            return f"stopped after {wall:.0f} s wall, {cpu}"
        out.seek(0), err.seek(0)
        stderr = err.read().decode(errors="replace")
        if child.returncode not in (0, 1, 2) or "Traceback" in stderr:
            return f"failed (exit {child.returncode}): {stderr.strip().splitlines()[-1:]}"
        audit = json.loads(out.read())
    return f"{len(audit['jobs']):,} jobs: {wall:.1f} s wall, {cpu}, {audit['to_redo']} to redo, exit {child.returncode}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--shapes", nargs="+", choices=SHAPES + SET_SHAPES, default=list(SHAPES + SET_SHAPES))
    parser.add_argument("--timeout", type=float, default=600, help="seconds after which an audit is stopped")
    args = parser.parse_args()
    for shape in args.shapes:
        root = args.workdir / f"audit-{shape}-{args.jobs}"
        made = args.workdir / f".made-{shape}-{args.jobs}"  # (beside the project: a project half made is made again)
        if not made.is_file():
            start = time.perf_counter()
            maker = make_relion if shape in ("chain", "siblings", "dag", "redo-chain") else make_cryosparc
            maker = make_sets if shape in SET_SHAPES else maker
            maker(root, shape, args.jobs)
            made.touch()
            print(f"made {root} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        print(f"{shape}: {run(root, args.timeout)}, load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
