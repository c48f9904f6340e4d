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
same load); the table gives each run's median wall time and user CPU and the ratios of the
medians. Target: ``--prefer`` and the check each at most 1.05x.

Usage: python benches/bench_prefer.py [--particles N] [--rounds R] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

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
    base = [sys.executable, "-m", "cryodedup", "particles", "--score", SCORE, "--min-dist", MIN_DIST, "-q", "--force"]
    two = [str(even), str(odd)]
    return {
        "1 file, ignore": [*base, str(one), "-o", str(out / "a"), "--same-image", "ignore"],
        "1 file, default": [*base, str(one), "-o", str(out / "b"), "--json"],
        "2 files, ignore": [*base, *two, "-o", str(out / "c"), "--same-image", "ignore"],
        "2 files, default": [*base, *two, "-o", str(out / "d"), "--json"],
        "2 files, --prefer 2": [*base, *two, "-o", str(out / "e"), "--prefer", "2", "--json"],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--particles", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_prefer_"))
    workdir.mkdir(parents=True, exist_ok=True)
    runs = commands(*inputs(workdir, args.particles), workdir)
    names = list(runs)
    results: dict[str, list[dict]] = {name: [] for name in runs}
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            results[name].append(timed(runs[name]))
    load = os.getloadavg()[0]
    print(f"{args.particles:,} particles, medians of {args.rounds} interleaved rounds (load {load:.1f} at the end)")
    print(f"{'run':<22} {'wall s':>8} {'user s':>8}")
    med = {name: {k: median(row[k] for row in rows) for k in ("wall", "user")} for name, rows in results.items()}
    for name, m in med.items():
        print(f"{name:<22} {m['wall']:>8.3f} {m['user']:>8.3f}")
    for label, a, b in [
        ("same-image check, 1 file", "1 file, default", "1 file, ignore"),
        ("same-image check, 2 files", "2 files, default", "2 files, ignore"),
        ("--prefer, 2 files", "2 files, --prefer 2", "2 files, default"),
        ("--prefer and the check", "2 files, --prefer 2", "2 files, ignore"),
        ("reject, 2 files", "2 files, reject", "2 files, ignore"),
    ]:
        print(
            f"ratio {label:<27} {med[a]['wall'] / med[b]['wall']:>6.3f} wall "
            f"{med[a]['user'] / med[b]['user']:>6.3f} user"
        )
    summary = results["2 files, --prefer 2"][0]["summary"]
    print("decided by priority:", summary["priority"]["by_priority"], "of", summary["priority"]["groups"], "groups;")
    print("images kept twice:", summary["same_image"]["images_kept_twice"])


if __name__ == "__main__":
    main()
