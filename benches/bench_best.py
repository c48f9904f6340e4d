"""Benchmark of ``--select`` (issue 69 item 5): the best selection against the greedy default, on 1M picks.

Generates two pickers' picks on ``--micrographs`` micrographs of 4,000 x 4,000 Å: each finds 90 %
of the particles (placed at random, ``--density`` a micrograph) within 10 Å, and adds 10 % strays;
every pick has a score in (0, 1]. Then times, in process and in one run, the decision of
:func:`cryodedup.algo.dedup.dedup` at ``--min-dist``:

(a) greedy (the default);
(b) ``select="best-score"``;
(c) ``select="most-particles"``;

and prints, for (b) and (c), the picks kept and the score sum against greedy's, and how the groups
of duplicates were solved (exactly, or bounded, with the bound). Medians of ``--repeat`` runs,
wall and CPU seconds.

Usage: python benches/bench_best.py [--picks N] [--micrographs M] [--density D] [--min-dist A] [--repeat R]
"""

from __future__ import annotations

import argparse

import numpy as np

from bench_czii import timed  # (benches/ is on the path of a script run from it)
from cryodedup.algo.dedup import dedup

SIDE = 4000.0  # Å


def picks(n_picks: int, n_micrographs: int, density: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Micrograph ids, centres (Å) and scores of two pickers' picks, about ``n_picks`` in all."""
    rng = np.random.default_rng(seed)
    n_particles = n_micrographs * density
    particles = rng.uniform(0, SIDE, (n_particles, 2))
    mics = np.repeat(np.arange(n_micrographs), density)
    groups, centres = [], []
    for _ in range(2):
        found = rng.random(n_particles) < 0.9
        groups.append(mics[found])
        centres.append(particles[found] + rng.normal(0, 10.0 / np.sqrt(2), (int(found.sum()), 2)))
        strays = int(0.1 * found.sum())
        groups.append(rng.integers(0, n_micrographs, strays))
        centres.append(rng.uniform(0, SIDE, (strays, 2)))
    g, c = np.concatenate(groups), np.concatenate(centres)
    take = rng.permutation(len(g))[:n_picks]
    return g[take].astype(np.int64), c[take], rng.uniform(0.001, 1.0, len(take)).round(4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picks", type=int, default=1_000_000)
    parser.add_argument("--micrographs", type=int, default=1_000)
    parser.add_argument("--density", type=int, default=500, help="particles a micrograph")
    parser.add_argument("--min-dist", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    groups, centres, scores = picks(args.picks, args.micrographs, args.density)
    print(
        f"{len(groups):,} picks on {args.micrographs:,} micrographs, {args.density} particles each, "
        f"--min-dist {args.min_dist:g} Å"
    )
    rows = []
    for select in ("greedy", "best-score", "most-particles"):
        wall, cpu, result = timed(
            lambda s=select: dedup(groups, centres, scores, min_dist=args.min_dist, select=s), args.repeat
        )
        rows.append((select, wall, cpu, result))
    base_cpu = rows[0][2]
    print("| selection | wall s | CPU s | x greedy (CPU) | kept | score sum | groups: exact / bounded (largest) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for select, wall, cpu, result in rows:
        kept, total = result.n_kept, float(scores[result.keep].sum())
        c = result.selection
        solved = "" if c is None else f"{c.exact:,} / {c.bounded:,} ({c.largest:,})"
        print(f"| {select} | {wall:.2f} | {cpu:.2f} | {cpu / base_cpu:.2f} | {kept:,} | {total:,.1f} | {solved} |")
        if c is not None and c.bounded:
            print(
                f"|   bounded groups: kept {c.bounded_kept:,} of at most {c.bounded_kept_bound:,}; "
                f"score {c.bounded_score:,.1f} of at most {c.bounded_score_bound:,.1f} |"
            )


if __name__ == "__main__":
    main()
