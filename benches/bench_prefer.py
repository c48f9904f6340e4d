"""Benchmark of ``--prefer`` and the same-image check (issue 39) against the job without them.

The inputs: the benchmark's RELION 3.1 particle STAR (``fixtures.synthetic.write_benchmark_file``,
``--particles`` rows, default 1,000,000, 10 % second picks, ``rlnImageName`` ``index@stack`` with
one stack per micrograph), and the same rows dealt into two files (even rows, odd rows: two
inputs on every micrograph, as two pickers' or two refinements' sets are). Runs of ``cryodedup
particles`` end to end, each in a fresh process:

- one file: ``--same-image ignore`` (the job as it was: the image column is not read) against
  the default (``warn``: every row's image keyed in the scan, the check after the decision);
- two files: ``ignore`` against the default, and the default against ``--prefer 2`` (priority
  levels ranked before the scores), and ``--same-image reject`` (informative).

Rounds run the commands in a rotating order (the machine is shared: interleaved runs see the
same load); the table gives each run's median wall time and user CPU, its best user CPU, and
the ratios of each. Target: ``--prefer`` and the check each at most 1.05x.

``--in-process N`` measures the same runs in this process instead, phase by phase (reading,
deciding, writing, the summary), each phase's CPU time (``time.process_time``: every thread of
the process) the best of N rounds, the runs rotating each round: the best of several is the
run the other engineers' work disturbed least, so a difference of milliseconds shows; the
ratios are of the sums of each phase's best.

``--callgrind`` counts the instructions of each run end to end instead (valgrind's callgrind,
one run each, rayon on one thread, Python's hash seed fixed): a count the machine's load
does not change (two runs agree within 0.01 %), though it weighs neither cache misses nor
memory.

Usage: python benches/bench_prefer.py [--particles N] [--rounds R] [--in-process N] [--callgrind] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from cryodedup.jobs.particles.decide import decide
from cryodedup.jobs.particles.read import read_inputs
from cryodedup.jobs.particles.summary import summarize
from cryodedup.options import ParticleOptions
from fixtures.synthetic import write_benchmark_file

MIN_DIST = "20"
SCORE = "rlnMaxValueProbDistribution"


def inputs(workdir: Path, n: int) -> tuple[Path, Path, Path]:
    """The one file and its rows dealt into two (made once)."""
    one = workdir / f"particles_{n}.star"
    if not one.exists():
        write_benchmark_file(one, n, seed=0)
    even, odd = workdir / f"even_{n}.star", workdir / f"odd_{n}.star"
    if not odd.exists():
        lines = one.read_text().splitlines(keepends=True)
        first_row = next(k for k, line in enumerate(lines) if "@" in line)
        rows = [line for line in lines[first_row:] if line.strip()]
        even.write_text("".join(lines[:first_row] + rows[0::2]))
        odd.write_text("".join(lines[:first_row] + rows[1::2]))
    return one, even, odd


def commands(one: Path, even: Path, odd: Path, out: Path) -> dict[str, list[str]]:
    # (--json in every run: its summary costs the same in each, and gives the counts shown)
    base = [sys.executable, "-m", "cryodedup", "particles", "--score", SCORE, "--min-dist", MIN_DIST, "-q", "--force"]
    base.append("--json")
    two = [str(even), str(odd)]
    return {
        "1 file, ignore": [*base, str(one), "-o", str(out / "a"), "--same-image", "ignore"],
        "1 file, default": [*base, str(one), "-o", str(out / "b")],
        "2 files, ignore": [*base, *two, "-o", str(out / "c"), "--same-image", "ignore"],
        "2 files, default": [*base, *two, "-o", str(out / "d")],
        "2 files, --prefer 2": [*base, *two, "-o", str(out / "e"), "--prefer", "2"],
        "2 files, reject": [*base, *two, "-o", str(out / "f"), "--same-image", "reject"],
    }


def timed(command: list[str]) -> dict:
    """Wall time, the child's user CPU, and its --json summary (if any)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = child.stdout.read() if child.stdout else b""  # (-q: stderr holds a line at most)
    err = child.stderr.read() if child.stderr else b""
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err.decode()}")
    return {"wall": seconds, "user": usage.ru_utime, "summary": json.loads(out) if out.strip() else None}


def in_process_runs(one: Path, even: Path, odd: Path) -> dict[str, tuple[list[Path], ParticleOptions]]:
    """The runs of :func:`commands` as the job's inputs and options."""

    def options(**kw: object) -> ParticleOptions:
        return ParticleOptions(min_dist=float(MIN_DIST), score=SCORE, **kw)  # type: ignore[arg-type]

    two = [even, odd]
    return {
        "1 file, ignore": ([one], options(same_image="ignore")),
        "1 file, default": ([one], options()),
        "2 files, ignore": (two, options(same_image="ignore")),
        "2 files, default": (two, options()),
        "2 files, --prefer 2": (two, options(prefer=["2"])),
        "2 files, reject": (two, options(same_image="reject")),
    }


def phases(paths: list[Path], options: ParticleOptions, out: Path) -> dict[str, float]:
    """CPU seconds of each phase of one run of the job (as remove_duplicate_particles runs them)."""
    clock = time.process_time
    options.check()
    at = clock()
    particles = read_inputs(paths, out, options, lambda m: None, lambda m, level: None)
    read = clock()
    decision = decide(particles, options)
    decided = clock()
    assert particles.writer is not None
    particles.writer.write(decision.keep, True, None)
    written = clock()
    summarize(particles, decision, options, None)
    summarized = clock()
    return {
        "read": read - at,
        "decide": decided - read,
        "write": written - decided,
        "summary": summarized - written,
        "all": summarized - at,
    }


def in_process(runs: dict[str, tuple[list[Path], ParticleOptions]], rounds: int, out: Path) -> None:
    """Each run's phases, best of ``rounds`` rotating rounds, and the ratios against the runs without the check."""
    names = list(runs)
    best: dict[str, dict[str, float]] = {}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            paths, options = runs[name]
            got = phases(paths, options, out / "in_process")
            best[name] = {k: min(v, best.get(name, got)[k]) for k, v in got.items()}
    for b in best.values():
        b["all"] = sum(b[k] for k in ("read", "decide", "write", "summary"))  # the sum of the bests
    print(f"in process: CPU seconds of each phase, best of {rounds} rotating rounds (load {os.getloadavg()[0]:.1f})")
    keys = ["read", "decide", "write", "summary", "all"]
    print(f"{'run':<22}" + "".join(f"{k:>9}" for k in keys))
    for name, b in best.items():
        print(f"{name:<22}" + "".join(f"{b[k]:>9.4f}" for k in keys))
    for label, a, b in RATIOS:
        extra = "  ".join(f"{k} {1000 * (best[a][k] - best[b][k]):+.1f} ms" for k in keys[:-1])
        print(f"ratio {label:<27} {best[a]['all'] / best[b]['all']:>6.3f} CPU  ({extra})")


def callgrind(runs: dict[str, list[str]], out: Path) -> None:
    """Each run's instructions under callgrind (one thread), and the ratios."""
    env = {**os.environ, "RAYON_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    counts: dict[str, int] = {}
    for name, command in runs.items():
        if "reject" in name:
            continue  # (informative in the other modes; 10 minutes less here)
        tool = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out / 'callgrind.out'}"]
        done = subprocess.run([*tool, *command], check=False, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed under callgrind:\n{done.stderr[-2000:]}")
        collected = re.search(r"Collected : (\d+)", done.stderr)
        assert collected, done.stderr[-2000:]
        counts[name] = int(collected.group(1))
        print(f"{name:<22} {counts[name]:>16,} instructions", flush=True)
    for label, a, b in RATIOS:
        if a in counts and b in counts:
            extra = (counts[a] - counts[b]) / 1e6
            print(f"ratio {label:<27} {counts[a] / counts[b]:>6.4f} instructions ({extra:+,.1f} M)")


#: The ratios the benchmark reports: (what, the run, the run it is compared with).
RATIOS = [
    ("same-image check, 1 file", "1 file, default", "1 file, ignore"),
    ("same-image check, 2 files", "2 files, default", "2 files, ignore"),
    ("--prefer, 2 files", "2 files, --prefer 2", "2 files, default"),
    ("--prefer and the check", "2 files, --prefer 2", "2 files, ignore"),
    ("reject, 2 files", "2 files, reject", "2 files, ignore"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--particles", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--in-process", type=int, metavar="N", help="phases in this process, best of N rounds")
    parser.add_argument("--callgrind", action="store_true", help="instructions under callgrind, one run each")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_prefer_"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.in_process:
        in_process(in_process_runs(*inputs(workdir, args.particles)), args.in_process, workdir)
        return
    runs = commands(*inputs(workdir, args.particles), workdir)
    if args.callgrind:
        callgrind(runs, workdir)
        return
    names = list(runs)
    results: dict[str, list[dict]] = {name: [] for name in runs}
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            results[name].append(timed(runs[name]))
    load = os.getloadavg()[0]
    print(f"{args.particles:,} particles, {args.rounds} interleaved rounds (load {load:.1f} at the end)")
    print(f"{'run':<22} {'wall s':>8} {'user s':>8} {'best user':>10}  (medians, and the best)")
    stats = {
        name: {"wall": median(r["wall"] for r in rows), "user": median(r["user"] for r in rows)}
        | {"best": min(r["user"] for r in rows)}
        for name, rows in results.items()
    }
    for name, m in stats.items():
        print(f"{name:<22} {m['wall']:>8.3f} {m['user']:>8.3f} {m['best']:>10.3f}")
    for label, a, b in RATIOS:
        ratios = "  ".join(f"{stats[a][k] / stats[b][k]:>6.3f} {k}" for k in ("wall", "user", "best"))
        print(f"ratio {label:<27} {ratios}")
    summary = results["2 files, --prefer 2"][0]["summary"]
    print("decided by priority:", summary["priority"]["by_priority"], "of", summary["priority"]["groups"], "groups;")
    print("images kept twice:", summary["same_image"]["images_kept_twice"])


if __name__ == "__main__":
    main()
