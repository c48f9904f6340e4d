"""``cryodedup audit`` on a project of many jobs and many particle rows (issue 68).

Makes (once, kept in WORKDIR) a RELION 3.1 project of ``--jobs`` jobs in lineages of four
(Extract -> Class2D -> Select -> Refine3D, each job's ``job.star`` recording a 200 Å particle
diameter), ``--rows`` particle rows in all (each job's file the same size, 1,000 micrographs,
5 % of the particles picked twice a few Å apart, the refinements' half-sets at random), then
times ``cryodedup audit WORKDIR/project --json`` (wall and CPU seconds, peak memory with GNU time).

    python benches/bench_audit.py --workdir OUT [--jobs 100] [--rows 10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

KINDS = [("Extract", 5, "particles.star"), ("Class2D", 8, "run_it025_data.star"), ("Select", 7, "particles.star")]
KINDS.append(("Refine3D", 10, "run_data.star"))
HEADER = (
    "\n# version 30001\n\ndata_optics\n\nloop_ \n_rlnOpticsGroupName #1 \n_rlnOpticsGroup #2 \n"
    "_rlnMicrographPixelSize #3 \n_rlnImagePixelSize #4 \n_rlnImageSize #5 \n_rlnImageDimensionality #6 \n"
    "opticsGroup1 1 1.0 1.0 256 2 \n \n\n# version 30001\n\ndata_particles\n\nloop_ \n"
    "_rlnCoordinateX #1 \n_rlnCoordinateY #2 \n_rlnMicrographName #3 \n_rlnImageName #4 \n_rlnOpticsGroup #5 \n"
    "_rlnOriginXAngst #6 \n_rlnOriginYAngst #7 \n_rlnRandomSubset #8 \n"
)


def particle_text(n: int, job: str, rng: np.random.Generator) -> str:
    """``n`` rows on 1,000 micrographs: particles on a 300 Å grid, 5 % picked a second time within 20 Å.

    Half-sets (``rlnRandomSubset``) in a refinement's file alone.
    """
    mics = np.sort(rng.integers(0, 1000, n))
    x = (rng.integers(0, 60, n) * 300 + 200).astype(float)
    y = (rng.integers(0, 60, n) * 300 + 200).astype(float)
    twice = np.flatnonzero(rng.random(n) < 0.05)
    twice = twice[twice > 0]
    same = mics[twice] == mics[twice - 1]
    twice = twice[same]
    x[twice], y[twice] = (
        x[twice - 1] + rng.uniform(-14, 14, twice.size),
        y[twice - 1] + rng.uniform(-14, 14, twice.size),
    )
    refined = job.startswith("Refine3D")
    halves = [f" {h}" for h in rng.integers(1, 3, n)] if refined else [""] * n
    lines = [
        f"{x[k]:.2f} {y[k]:.2f} Movies/mic_{mics[k]:05d}.mrc {k + 1:06d}@{job}/particles.mrcs 1 0.5 -0.5{halves[k]}"
        for k in range(n)
    ]
    header = HEADER if refined else HEADER.replace("_rlnRandomSubset #8 \n", "")
    return header + "\n".join(lines) + "\n \n"


def make_project(root: Path, jobs: int, rows: int) -> None:
    """The project: ``jobs`` jobs in lineages of four, ``rows`` particle rows in all."""
    rng = np.random.default_rng(68)
    processes, nodes, inputs, outputs = [], [], [], []
    per_job = rows // jobs
    for k in range(jobs):
        kind, code, file = KINDS[k % 4]
        name = f"{kind}/job{k + 1:03d}"
        processes.append(f"{name}/ None {code} 2")
        nodes.append(f"{name}/{file} 3")
        outputs.append(f"{name}/ {name}/{file}")
        if k % 4:
            parent_kind, _, parent_file = KINDS[k % 4 - 1]
            inputs.append(f"{parent_kind}/job{k:03d}/{parent_file} {name}/")
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "job.star").write_text(
            "data_job\n\n_rlnJobType 10\n\ndata_joboptions_values\n\nloop_\n_rlnJobOptionVariable #1\n"
            "_rlnJobOptionValue #2\nparticle_diameter 200\n"
        )
        (root / name / file).write_text(particle_text(per_job, name, rng))
    loops = [
        ("pipeline_processes", ["ProcessName", "ProcessAlias", "ProcessType", "ProcessStatus"], processes),
        ("pipeline_nodes", ["NodeName", "NodeType"], nodes),
        ("pipeline_input_edges", ["EdgeFromNode", "EdgeProcess"], inputs),
        ("pipeline_output_edges", ["EdgeProcess", "EdgeToNode"], outputs),
    ]
    text = "\ndata_pipeline_general\n\n_rlnPipeLineJobCounter " + str(jobs + 1) + "\n\n"
    for block, labels, lines in loops:
        text += f"data_{block}\n\nloop_\n" + "".join(f"_rlnPipeLine{lab} #{i + 1}\n" for i, lab in enumerate(labels))
        text += "\n".join(lines) + "\n\n"
    (root / "default_pipeline.star").write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    root = args.workdir / f"audit-project-{args.jobs}-{args.rows}"
    if not (root / "default_pipeline.star").is_file():
        start = time.perf_counter()
        make_project(root, args.jobs, args.rows)
        print(f"made {root} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    cryodedup = str(Path(sys.executable).parent / "cryodedup")
    command = [cryodedup, "audit", str(root), "--json", "--quiet"]
    timed = ["/usr/bin/time", "-f", "%M", *command] if os.path.exists("/usr/bin/time") else command
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(timed, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        sys.exit(done.stderr)
    audit = json.loads(done.stdout)
    rows = sum(s["particles"] for j in audit["jobs"] for s in j["sets"])
    peak = done.stderr.strip().splitlines()[-1] if timed is not command else "?"
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    load = os.getloadavg()[0]
    print(
        f"{len(audit['jobs'])} jobs, {rows:,} rows: {wall:.1f} s wall, {cpu:.1f} s CPU, peak {peak} KiB, "
        f"{audit['to_redo']} refinements to redo, exit {done.returncode}, load {load:.1f}"
    )


if __name__ == "__main__":
    main()
