"""Start-up and short runs of ``cryodedup`` from two or more source trees, in one interleaved run.

Each variant is a source tree (its ``python`` folder, put on PYTHONPATH; more folders
after it as PYTHONPATH holds them, a ``sitecustomize.py`` for instance) with environment
variables of its own: ``NAME=PATH[,VAR=VALUE...]``. Every round runs each job once per
variant, in turn; printed are the medians of wall and CPU seconds (the process and its
threads) and the median of the per-round ratios to the first variant. The trees are compiled
to bytecode first, as ``pip install`` does. Then the time Python
spends importing modules for each variant's small STAR job (``python -X importtime``: the sum
of the modules' own times, median over the rounds).

Jobs (``--jobs``): ``version`` (``cryodedup --version``), ``small`` (a 2,000-particle STAR job,
``--quiet``), ``star1m`` (1M particles, RELION 3.1 STAR, 392 MB), ``cs1m`` (1M particles,
CryoSPARC ``.cs``, a picker's fields: run_all.py's lean file), ``picks`` (two pickers' 300,000
picks in 6,000 per-micrograph files, merged). The inputs are made once in ``--workdir``.

    python benches/bench_startup.py --workdir W before=/tmp/main/python after=python
    python benches/bench_startup.py --workdir W --jobs star1m,picks \\
        plain=python one-thread=python,OPENBLAS_NUM_THREADS=1
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures.synthetic import write_benchmark_file

COMMAND = [sys.executable, "-m", "cryodedup"]
JOBS = ["version", "small", "star1m", "cs1m", "picks"]


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """``NAME=PATH[,VAR=VALUE...]``: the variant's name and its environment."""
    name, _, rest = text.partition("=")
    path, *assignments = rest.split(",")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(Path(p).resolve()) for p in path.split(os.pathsep))}
    env.pop("OPENBLAS_NUM_THREADS", None)
    env.update(a.split("=", 1) for a in assignments)
    return name, env


def inputs(w: Path, jobs: list[str]) -> dict[str, list[str]]:
    """Each job's arguments, its inputs made in ``w`` if need be."""
    w.mkdir(parents=True, exist_ok=True)
    args = {"version": ["--version"]}
    sizes = {"small": 2_000, "star1m": 1_000_000}
    for job, n in sizes.items():
        path = w / f"particles_{n}.star"
        if job in jobs and not path.exists():
            write_benchmark_file(path, n, seed=0)
        args[job] = ["particles", str(path), "-o", str(w / "out"), "--quiet", "--force"]
    if "cs1m" in jobs:
        import run_all

        lean = run_all.cs_files(w, 1_000_000)["lean"]
        args["cs1m"] = ["particles", str(lean), "-o", str(w / "out"), "--quiet", "--force"]
    if "picks" in jobs:
        import bench_picks_merge

        root = bench_picks_merge.make(w, 300_000, 50)
        picks = [str(root / "AutoPick/job010"), str(root / "AutoPick/job011"), "--mic-psize", "1.0"]
        args["picks"] = ["particles", *picks, "--min-dist", "20", "-o", str(w / "out"), "--quiet", "--force"]
    return args


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one command."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, start = usage.ru_utime + usage.ru_stime, time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, usage.ru_utime + usage.ru_stime - cpu


def import_seconds(cmd: list[str], env: dict[str, str]) -> float:
    """The seconds ``python -X importtime`` gives the modules' own imports of ``cmd``, summed."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd[1:]], env=env, capture_output=True, text=True, check=True
    )
    return sum(int(m) for m in re.findall(r"^import time:\s+(\d+) \|", done.stderr, re.M)) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", help="NAME=PATH[,VAR=VALUE...] (PATH: a tree's python folder)")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--jobs", type=lambda t: t.split(","), default=["version", "small"], help=",".join(JOBS))
    parser.add_argument("--repeat", type=int, default=20)
    a = parser.parse_args()
    if set(a.jobs) - set(JOBS):
        parser.error(f"--jobs: among {','.join(JOBS)}")
    variants = dict(parse_variant(v) for v in a.variants)
    for env in variants.values():  # as pip install does: no run pays for compiling the modules
        compileall.compile_dir(env["PYTHONPATH"].split(os.pathsep)[0], quiet=1)
    args = inputs(a.workdir, a.jobs)
    times: dict[tuple[str, str], list[tuple[float, float]]] = {(j, v): [] for j in a.jobs for v in variants}
    imports: dict[str, list[float]] = {v: [] for v in variants}
    for k in range(a.repeat):
        print(f"round {k + 1} of {a.repeat}", file=sys.stderr, flush=True)
        for job in a.jobs:
            for name, env in variants.items():
                times[job, name].append(timed([*COMMAND, *args[job]], env))
        if "small" in a.jobs:
            for name, env in variants.items():
                imports[name].append(import_seconds([*COMMAND, *args["small"]], env))
    shutil.rmtree(a.workdir / "out", ignore_errors=True)
    first = next(iter(variants))
    med = statistics.median
    print(f"| job | variant | wall (median of {a.repeat}) | CPU | wall / {first} (median of the rounds') |")
    print("|---|---|---|---|---|")
    for job in a.jobs:
        for name in variants:
            runs, base = times[job, name], times[job, first]
            ratio = med(x[0] / y[0] for x, y in zip(runs, base))
            wall, cpu = med(x[0] for x in runs), med(x[1] for x in runs)
            print(f"| {job} | {name} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | {ratio:.3f} |")
    if "small" in a.jobs:
        for name, seconds in imports.items():
            print(f"imports of the small job, {name}: {med(seconds) * 1000:.0f} ms (python -X importtime, summed)")


if __name__ == "__main__":
    main()
