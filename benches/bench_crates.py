"""The hand-written parts against the crates that do the same, on the user's wall time, in one run.

1. ``benches/crates`` (a cargo project of its own, built here): the neighbour search of
   the dedup walk (``algo::grid``, ``algo::kdtree``) against ``kiddo``'s k-d trees on 1M picks
   in 5,000 micrographs, one thread; and, where the example still has both, the ``--plot``
   pictures' Adler-32 against ``adler2``. Best of ``--rounds``; it checks that both find the same.
2. The 1M-particle job a user runs (``cryodedup particles p1m.star --score
   rlnMaxValueProbDistribution``, RELION 3.1, ``fixtures.synthetic.write_benchmark_file``),
   plain, with ``--decisions`` and with ``--plot``, interleaved, each in a new process:
   medians of wall and CPU (user + system).

Then each part's effect on the user's wall time: the job's wall with the crate in the hand-written
part's place is at most the job's wall plus the difference of the two (one thread: the job runs
micrographs on both cores, so the true change is smaller). The rule (issue 101): keep the
hand-written part only where it makes the job at least 1.2x faster.

Usage: python benches/bench_crates.py --workdir OUT [--rounds 5] [--size 1000000] [--no-build]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the data generator: tests/fixtures

OPTIONS = {"plain": [], "--decisions": ["--decisions"], "--plot": ["--plot"]}


def crates(rounds: int, build: bool) -> dict[str, float]:
    """The example's seconds by name (ours, adler2, grid, kiddo ...), printed as it says them."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "benches" / "crates" / "target"))
    if build:
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT / "benches" / "crates", check=True)
    done = subprocess.run(
        [str(target / "release" / "crates-measured"), str(rounds)],
        check=True,
        capture_output=True,
        text=True,
    )
    print(done.stdout, end="")
    return {name.strip(): float(s) for name, s in re.findall(r"([\w ()-]+?) ([\d.]+) s", done.stdout)}


def job(star: Path, out: Path, options: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of the job in a new process."""
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = [sys.executable, "-m", "cryodedup", "particles", str(star), "-o", str(out), "--quiet"]
    subprocess.run([*command, "--score", "rlnMaxValueProbDistribution", *options], check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def jobs(star: Path, out: Path, rounds: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU of each form of the job, rounds interleaved (after one warm-up each)."""
    for options in OPTIONS.values():
        job(star, out, options)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in OPTIONS}
    for _ in range(rounds):
        for name, options in OPTIONS.items():
            runs[name].append(job(star, out, options))
    shutil.rmtree(out, ignore_errors=True)
    return {name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for name, r in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--no-build", action="store_true", help="run the example cargo built before")
    args = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.1f}")
    seconds = crates(args.rounds, not args.no_build)
    star = args.workdir / f"p{args.size}.star"
    if not star.exists():
        from fixtures.synthetic import write_benchmark_file

        args.workdir.mkdir(parents=True, exist_ok=True)
        write_benchmark_file(star, args.size)
    timed = jobs(star, args.workdir / "out", args.rounds)
    for name, (wall, cpu) in timed.items():
        print(f"job {name}: {wall:.3f} s (CPU {cpu:.3f} s)")
    # Wall on this machine, and CPU: the wall of a user whose cores are not shared (a busy machine's
    # wall is mostly waiting, which no code change moves).
    grid, kiddo = seconds["ours (grid)"], min(seconds["kiddo KdTree"], seconds["kiddo ImmutableKdTree"])
    for what, base, ours, crate in [
        ("neighbours: the job with kiddo", "plain", grid, kiddo),
        ("adler32: --plot with adler2", "--plot", seconds.get("ours (AVX2)"), seconds.get("adler2")),
    ]:
        if ours is not None and crate is not None:
            (wall, cpu), more = timed[base], crate - ours
            print(f"{what}: at most {(wall + more) / wall:.4f}x the wall, {(cpu + more) / cpu:.4f}x the CPU of ours")
    (wall, cpu), (dwall, dcpu) = timed["plain"], timed["--decisions"]
    print(f"decisions.csv: --decisions {dwall / wall:.3f}x the wall, {dcpu / cpu:.3f}x the CPU (the whole record)")
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
