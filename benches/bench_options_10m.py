"""What a careful user's options cost at 10M particles: the job, with ``--decisions``, with ``--plot``, with both.

Issue 80's "Done when" table: on one RELION 3.1 STAR of ``--size`` particles, and on two inputs
of half as many each whose micrograph and image names repeat across them (the same generator,
two seeds: the same names, other centres), the job

    cryodedup particles INPUTS -o OUT --quiet --score rlnMaxValueProbDistribution --min-dist 20 [OPTIONS]

is run with each of the four sets of options in turn, ``--rounds`` interleaved rounds (a warm-up
run of each input first, not counted, puts it in the page cache, and each run's inputs are read
through before it, untimed, so that no run pays for pages another input evicted), each run into a
new output folder removed after it, with ``sync`` before it. Each run's wall time, user + system CPU
(``wait4`` of the child) and peak resident memory (``/usr/bin/time``'s: Debian's package
``time``) are kept; the machine's load (``os.getloadavg``) is printed before each run. The
table gives medians and ranges, and each option's ratio to the job without it (the median of
the per-round ratios).

    python benches/bench_options_10m.py --workdir /tmp/b10m                 # 10M (3.9 GB + 2 x 1.9 GB)
    python benches/bench_options_10m.py --workdir /tmp/b100k --size 100000  # small, to try it

The inputs are made once in ``--workdir`` by the project's generator
(``tests/fixtures/synthetic.write_benchmark_file``, as benches/compare_installs.py makes its
10M file). ``--outdir`` puts the outputs elsewhere (a tmpfs: ``/dev/shm/...``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # the other benchmark scripts, imported as modules
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))  # the generators of tests/fixtures

import bench_particles
from fixtures.synthetic import write_benchmark_file

#: The options timed, each against the job without them.
VARIANTS = {"job": [], "decisions": ["--decisions"], "plot": ["--plot"], "both": ["--decisions", "--plot"]}
COMMON = ["--quiet", "--score", "rlnMaxValueProbDistribution", "--min-dist", "20"]


@dataclass(frozen=True)
class Run:
    """One run's wall time (s), user + system CPU (s) and peak resident memory (MB)."""

    wall: float
    cpu: float
    peak_mb: float


def inputs(workdir: Path, size: int) -> dict[str, list[Path]]:
    """The two input sets: one STAR of ``size`` rows; two of ``size // 2`` whose names repeat across them."""
    one = bench_particles.benchmark_file(workdir, size)
    two = []
    for seed in (1, 2):
        path = workdir / f"particles_{size // 2}_seed{seed}.star"
        if not path.exists():
            print(f"generating {path} ...", file=sys.stderr)
            write_benchmark_file(path, size // 2, seed=seed)
        two.append(path)
    return {"one STAR": [one], "two inputs, names repeated": two}


def timed(command: list[str], files: list[Path], options: list[str], out: Path) -> Run:
    """The job on ``files`` with ``options`` into ``out`` (removed after), its figures from ``wait4``.

    Run under ``/usr/bin/time`` (Debian's ``time``) for the peak memory: a child forked by this
    process counts this process's own resident memory at the fork in its peak (Linux keeps the
    largest of the memories a process had, before its ``exec`` too); ``time``'s child counts
    ``time``'s 1 MB.
    """
    for path in files:  # (untimed: each run from the page cache, whichever input the run before read)
        _read_through(path)
    subprocess.run(["sync"], check=True)
    load = os.getloadavg()
    peak_file = out.with_name(out.name + ".peak")
    argv = [*command, "particles", *map(str, files), "-o", str(out), *COMMON, *options]
    start = time.perf_counter()
    child = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", str(peak_file), *argv])
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # (reaped here: Popen must not wait again)
    shutil.rmtree(out, ignore_errors=True)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {child.returncode}")
    peak_kb = float(peak_file.read_text().split()[-1])
    peak_file.unlink()
    run = Run(wall, usage.ru_utime + usage.ru_stime, peak_kb / 1024)
    print(f"  load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before; {' '.join(options) or 'job'}: {_said(run)}")
    return run


def _read_through(path: Path) -> None:
    """Read ``path`` whole: pages the other input set's runs evicted come back before the clock starts."""
    buffer = bytearray(1 << 24)
    with path.open("rb", buffering=0) as f:
        while f.readinto(buffer):
            pass


def _said(run: Run) -> str:
    return f"{run.wall:.2f} s wall, {run.cpu:.2f} s CPU, {run.peak_mb:,.0f} MB"


def _cell(values: list[float], unit: str, digits: int = 2) -> str:
    """The median and the range of ``values``."""
    return f"{statistics.median(values):,.{digits}f} {unit} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def table(runs: dict[str, dict[str, list[Run]]]) -> str:
    """The markdown table: each input set and option, medians and ranges, ratios to the job without options."""
    lines = [
        "| input | options | wall | CPU (user + system) | peak memory | ratio to the job: wall, CPU, memory |",
        "|---|---|---|---|---|---|",
    ]
    for name, by_variant in runs.items():
        job = by_variant["job"]
        for variant, done in by_variant.items():
            ratios = [
                statistics.median(getattr(r, k) / getattr(j, k) for r, j in zip(done, job))
                for k in Run.__dataclass_fields__
            ]
            said = "" if variant == "job" else ", ".join(f"{r:.2f}x" for r in ratios)
            wall, cpu = _cell([r.wall for r in done], "s"), _cell([r.cpu for r in done], "s")
            peak = _cell([r.peak_mb for r in done], "MB", 0)
            options = " ".join(VARIANTS[variant]) or "(none)"
            lines.append(f"| {name} | {options} | {wall} | {cpu} | {peak} | {said} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out", help="where the inputs are made")
    ap.add_argument("--outdir", type=Path, help="the runs' output folder (default: WORKDIR/options_out)")
    ap.add_argument("--size", type=int, default=10_000_000, help="particles in all (default 10,000,000)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--only",
        nargs="+",
        choices=list(VARIANTS),
        default=list(VARIANTS),
        help="the options timed (the job without them always)",
    )
    ap.add_argument(
        "--command",
        nargs="+",
        default=[sys.executable, "-m", "cryodedup"],
        help="the cryodedup command (default: this Python's)",
    )
    a = ap.parse_args()
    a.workdir.mkdir(parents=True, exist_ok=True)
    out = a.outdir or a.workdir / "options_out"
    shutil.rmtree(out, ignore_errors=True)
    sets = inputs(a.workdir, a.size)
    variants = {v: VARIANTS[v] for v in ["job", *a.only] if v in VARIANTS}  # (the job always: the ratios' base)
    print(f"`{' '.join(sys.argv)}`: {a.rounds} interleaved rounds, {os.cpu_count()} cores", flush=True)
    for name, files in sets.items():
        print(f"warm-up, {name}:")
        timed(a.command, files, [], out)
    runs: dict[str, dict[str, list[Run]]] = {name: {v: [] for v in variants} for name in sets}
    for k in range(a.rounds):
        print(f"round {k + 1}:")
        for name, files in sets.items():
            for variant, options in variants.items():
                runs[name][variant].append(timed(a.command, files, options, out))
    print()
    print(table(runs))


if __name__ == "__main__":
    main()
