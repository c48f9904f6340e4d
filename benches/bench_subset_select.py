"""Benchmark of ``cryodedup select`` against ``cryodedup particles`` on the same 1M-row file.

A RELION 3.1 file of ``--size`` rows (tests/fixtures/synthetic.py, no second picks) is the
original; the subset is ``--subset`` of its rows, shuffled: (a) as written (matched by image
name), (b) with other image names (matched by position, ``--min-dist 5 --ambiguous``: random
picks have a few neighbours within 5 Å). Each command runs in a subprocess, interleaved with
``cryodedup particles ORIGINAL`` (the particle job's one pass, 20 Å), ``--repeat`` times: the
medians of wall and CPU (user + system) and the largest peak memory (GNU time's) of each.

Usage: python benches/bench_subset_select.py [--size N] [--subset N] [--repeat R] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the data generator: tests/fixtures

from fixtures.synthetic import write_benchmark_file


def files(workdir: Path, size: int, subset: int) -> tuple[Path, Path, Path]:
    """The original, the subset with the original's image names, and the subset renamed (written once)."""
    original = workdir / f"original_{size}.star"
    if not original.exists():
        write_benchmark_file(original, size, duplicate_fraction=0.0)
    named, renamed = workdir / f"subset_{subset}_named.star", workdir / f"subset_{subset}_renamed.star"
    if not renamed.exists():
        lines = original.read_text().splitlines(keepends=True)
        first = next(k for k, line in enumerate(lines) if "@" in line)
        rows = np.random.default_rng(1).choice(size, subset, replace=False)
        chosen = [lines[first + k] for k in rows]
        named.write_text("".join(lines[:first]) + "".join(chosen))
        renamed.write_text("".join(lines[:first]) + "".join(line.replace("@", "@Other/") for line in chosen))
    return original, named, renamed


#: The runs' environment: Python's bytecode cached (a user's install has it; without, each run compiles its modules).
ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "PYTHONPYCACHEPREFIX": os.path.join(os.environ.get("TMPDIR", "/tmp"), "bench_subset_select_pycache"),
}


def timed(command: list[str], out: Path) -> tuple[float, float, float]:
    """Wall and CPU seconds of ``command`` (its output folder removed first) and its peak memory in GB."""
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(["sync"], check=False)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=ENV,
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, int(done.stderr.strip().splitlines()[-1]) / 1e6  # (GNU time's peak resident set, in KB)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--subset", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    original, named, renamed = files(args.workdir, args.size, args.subset)
    run = [sys.executable, "-m", "cryodedup"]
    out = args.workdir / "select_out"
    commands = {
        "particles": [*run, "particles", str(original), "-o", str(out), "-q"],
        "select by name": [*run, "select", str(original), "--subset", str(named), "-o", str(out), "-q"],
        "select by position": [
            *run, "select", str(original), "--subset", str(renamed), "--min-dist", "5", "--ambiguous", "-o", str(out),
            "-q",
        ],
    }  # fmt: skip
    found: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
    for _ in range(args.repeat):  # (interleaved: a busy machine's load falls on all alike)
        for name, command in commands.items():
            found[name].append(timed(command, out))
    shutil.rmtree(out, ignore_errors=True)
    base = statistics.median(c for _, c, _ in found["particles"])
    print(f"{args.size:,} rows, subset {args.subset:,}, medians of {args.repeat}, load {os.getloadavg()[0]:.1f}")
    print("| run | wall | CPU | CPU x particles | peak memory |")
    print("| --- | --- | --- | --- | --- |")
    for name, runs in found.items():
        wall, cpu = statistics.median(w for w, _, _ in runs), statistics.median(c for _, c, _ in runs)
        print(f"| {name} | {wall:.2f} s | {cpu:.2f} s | {cpu / base:.2f} | {max(m for _, _, m in runs):.2f} GB |")


if __name__ == "__main__":
    main()
