"""Benchmark of ``--select`` exact and bounded (issue 80 item 3, issue 77): the ``--select`` table.

Three cases, in process (``dedup`` on arrays, as benches/bench_best.py), medians of ``--repeat``:

(a) **crowded**: a template-matching tomogram of ``--crowded`` picks placed at random in a cube,
    about 6 within the distance of each (one conflict group of nearly all of them); greedy,
    ``best-score`` and ``most-particles`` against the optimum of an integer program solved here by
    ``scipy.optimize.milp`` on scipy's own pairs (an independent formulation and search);
(b) **1M normal density**: benches/bench_best.py's picks (two pickers, 1,000 micrographs, 100 Å),
    greedy against both selections, CPU and wall;
(c) **dense under a cap**: ``--dense`` picks within one distance, ``best-score`` in a subprocess
    under ``ulimit -v 3000000`` (3 GB): exit status, wall, peak memory, and what the run said.

Usage: python benches/bench_select.py [--crowded N] [--picks N] [--dense N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import textwrap
import time

import numpy as np
from scipy import optimize, sparse, spatial

from bench_best import picks  # (benches/ is on the path of a script run from it)
from bench_czii import timed
from cryodedup.algo.dedup import dedup


def crowded(n: int, neighbours: float = 6.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """``n`` picks in a 1,000 Å cube, scores in (0, 1], and the distance giving about ``neighbours`` each."""
    rng = np.random.default_rng(seed)
    side = 1000.0
    min_dist = float((neighbours * side**3 / n / (4 / 3 * np.pi)) ** (1 / 3))
    return rng.uniform(0, side, (n, 3)), rng.uniform(0.001, 1.0, n).round(4), min_dist


def milp_optimum(points: np.ndarray, weights: np.ndarray, min_dist: float) -> tuple[float, float]:
    """The largest weight sum with no two picks within ``min_dist`` (scipy's MILP), and its seconds."""
    pairs = spatial.cKDTree(points).query_pairs(min_dist, output_type="ndarray")
    rows = np.repeat(np.arange(len(pairs)), 2)
    a = sparse.csr_matrix((np.ones(2 * len(pairs)), (rows, pairs.ravel())), shape=(len(pairs), len(points)))
    start = time.perf_counter()
    done = optimize.milp(
        -weights,
        constraints=optimize.LinearConstraint(a, -np.inf, 1),
        integrality=np.ones(len(points)),
        bounds=optimize.Bounds(0, 1),
        options={"mip_rel_gap": 0.0},
    )
    assert done.status == 0, done.message
    return float(weights @ np.round(done.x)), time.perf_counter() - start


def crowded_table(n: int, repeat: int) -> None:
    points, scores, min_dist = crowded(n)
    groups = np.zeros(n, np.int64)
    most, most_s = milp_optimum(points, np.ones(n), min_dist)
    best, best_s = milp_optimum(points, scores, min_dist)
    print(f"\n(a) crowded tomogram: {n:,} picks, --min-dist {min_dist:.1f} Å (about 6 neighbours each)")
    print(
        f"    scipy.optimize.milp optimum: {most:,.0f} picks ({most_s:.1f} s), score sum {best:,.4f} ({best_s:.1f} s)"
    )
    print(
        "| selection | wall s | CPU s | kept | score sum | optimum | solved (exact / HiGHS proved / bounded, largest) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for select in ("greedy", "best-score", "most-particles"):
        wall, cpu, r = timed(lambda s=select: dedup(groups, points, scores, min_dist=min_dist, select=s), repeat)
        c = r.selection
        solved = "" if c is None else f"{c.exact:,} / {c.proven:,} / {c.bounded:,} ({c.largest:,}; {c.solver})"
        optimum = f"{best:,.4f} (score)" if select == "best-score" else f"{most:,.0f} (picks)"
        total = float(scores[r.keep].sum())
        print(f"| {select} | {wall:.2f} | {cpu:.2f} | {r.n_kept:,} | {total:,.4f} | {optimum} | {solved} |")


def normal_table(n: int, repeat: int) -> None:
    groups, centres, scores = picks(n, 1_000, 500)
    print(f"\n(b) {len(groups):,} picks of two pickers on 1,000 micrographs (500 particles each), --min-dist 100 Å")
    print("| selection | wall s | CPU s | CPU x greedy | wall x greedy | kept | score sum | exact / proved / bounded |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    base = None
    for select in ("greedy", "best-score", "most-particles"):
        wall, cpu, r = timed(lambda s=select: dedup(groups, centres, scores, min_dist=100.0, select=s), repeat)
        base = base or (wall, cpu)
        c = r.selection
        solved = "" if c is None else f"{c.exact:,} / {c.proven:,} / {c.bounded:,}"
        total = float(scores[r.keep].sum())
        print(
            f"| {select} | {wall:.2f} | {cpu:.2f} | {cpu / base[1]:.2f} | {wall / base[0]:.2f} | {r.n_kept:,} "
            f"| {total:,.1f} | {solved} |"
        )


DENSE = """
import numpy as np
from cryodedup.algo.dedup import dedup
n = {n}
rng = np.random.default_rng(1)
result = dedup(np.zeros(n, np.int64), rng.uniform(0, 10, (n, 2)), rng.uniform(0.001, 1, n), min_dist=20.0,
               select="best-score")
c = result.selection
print(f"kept {{result.n_kept:,}}; walked {{c.walked}} micrograph ({{c.walked_picks:,}} picks)")
"""


def dense_table(n: int) -> None:
    print(f"\n(c) {n:,} picks within one distance, best-score, under ulimit -v 3000000")
    script = textwrap.dedent(DENSE.format(n=n))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        ["bash", "-c", f'ulimit -v 3000000 && exec "{sys.executable}" -c "$0"', script],
        capture_output=True,
        text=True,
        env=os.environ,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    said = (done.stdout.strip() or done.stderr.strip().splitlines()[-1]) if (done.stdout or done.stderr) else ""
    print("| case | exit | wall s | CPU s | peak memory | the run said |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| {n:,} dense | {done.returncode} | {wall:.1f} | {cpu:.1f} | {after.ru_maxrss / 1024:.0f} MB | {said} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crowded", type=int, default=10_000)
    parser.add_argument("--picks", type=int, default=1_000_000)
    parser.add_argument("--dense", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    crowded_table(args.crowded, args.repeat)
    normal_table(args.picks, args.repeat)
    dense_table(args.dense)


if __name__ == "__main__":
    main()
