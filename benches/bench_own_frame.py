"""Benchmark of ``--min-dist-ellipsoid`` (issue 69 item 2) on 1M picks: its cost against the sphere's, same run.

Generates ``--picks`` template-matching-like picks of an elongated particle over ``--tomograms``
tomograms (630 x 630 x 184 nm), each with a random pose (RELION's rot, tilt, psi) and a score; a
fifth of them picked again 0-40 Å off (duplicates). Then times, interleaved, ``--repeat`` times:

(a) the sphere: the core's decision with ``--min-dist`` = the largest semi-axis (the radius the
    ellipsoid's search uses: the same neighbours met);
(b) the ellipsoid: the same decision with ``--min-dist-ellipsoid A,B,C`` (each particle's
    ellipsoid made from its pose, then the oriented test on those neighbours);
(c) end to end through the particle job's API on a RELION 5 STAR of the same picks, unless
    ``--no-job``: the ellipsoid, the sphere (decided as the file is read, one pass) and the sphere
    with the orientations read (``--max-angle 180``: the ellipsoid's route, two passes).

Prints medians and the ratios (b)/(a) and the jobs' ratio. Usage:
python benches/bench_own_frame.py [--picks N] [--tomograms T] [--axes A,B,C] [--repeat R] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.algo.dedup import DuplicateRule, Ellipsoid, Ranking, find_duplicates

SIZE = np.array([6300.0, 6300.0, 1840.0])  # Å


def picks(n: int, tomograms: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tomogram ids (sorted), centres (Å), poses (rot, tilt, psi) and scores; a fifth picked twice."""
    rng = np.random.default_rng(seed)
    first = n - n // 5
    centres = rng.uniform(0, 1, (first, 3)) * SIZE
    groups = rng.integers(0, tomograms, first)
    again = rng.integers(0, first, n - first)
    offsets = rng.normal(size=(len(again), 3))
    offsets *= rng.uniform(0, 40, (len(again), 1)) / np.linalg.norm(offsets, axis=1, keepdims=True)
    centres = np.concatenate([centres, centres[again] + offsets])
    groups = np.concatenate([groups, groups[again]])
    poses = np.column_stack(
        [rng.uniform(-180, 180, n), np.degrees(np.arccos(rng.uniform(-1, 1, n))), rng.uniform(-180, 180, n)]
    )
    poses[first:] = poses[again] + rng.normal(0, 3, (len(again), 3))
    order = np.argsort(groups, kind="stable")
    return groups[order], centres[order], poses[order], rng.uniform(0, 1, n)[order]


def decide(groups, centres, scores, rule: DuplicateRule) -> tuple[float, float, int]:
    """Wall and CPU seconds of the core's decision, and the picks kept."""
    start, cpu = time.perf_counter(), time.process_time()
    kept = find_duplicates(groups, centres, rule, Ranking(scores), want_suppressed_by=False).n_kept
    return time.perf_counter() - start, time.process_time() - cpu, kept


def write_star(path: Path, groups, centres, poses, scores) -> None:
    centred = [f"rlnCenteredCoordinate{axis}Angst" for axis in "XYZ"]
    labels = ["rlnTomoName", *centred, *(f"rlnAngle{a}" for a in ("Rot", "Tilt", "Psi")), "rlnLCCmax"]
    table = np.column_stack([centres - SIZE / 2, poses, scores])
    with open(path, "w") as star:
        star.write("\n# version 50001\n\ndata_particles\n\nloop_\n")
        star.writelines(f"_{label} #{k}\n" for k, label in enumerate(labels, 1))
        names = np.char.add("TS_", groups.astype(str))
        lines = [f"{name}\t" + "\t".join(f"{v:.3f}" for v in row) + "\n" for name, row in zip(names, table)]
        star.writelines(lines)


def job(path: Path, out: Path, **options) -> tuple[float, float]:
    """Wall and CPU seconds of the particle job, end to end in process."""
    start, cpu = time.perf_counter(), time.process_time()
    remove_duplicate_particles([path], out, ParticleOptions(score="rlnLCCmax", **options), force=True)
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picks", type=int, default=1_000_000)
    parser.add_argument("--tomograms", type=int, default=1000)
    parser.add_argument("--axes", default="20,20,60", help="semi-axes A,B,C in Å")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-job", action="store_true", help="time the core's decision only")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    axes = tuple(float(a) for a in args.axes.split(","))
    groups, centres, poses, scores = picks(args.picks, args.tomograms)
    sphere = DuplicateRule(max(axes))
    ellipsoid = DuplicateRule(max(axes), ellipsoid=Ellipsoid(poses, axes))
    times: dict[str, list[tuple[float, float]]] = {"sphere": [], "ellipsoid": []}
    kept = {}
    for _ in range(args.repeat):
        for name, rule in (("sphere", sphere), ("ellipsoid", ellipsoid)):
            wall, cpu, kept[name] = decide(groups, centres, scores, rule)
            times[name].append((wall, cpu))
    (a, a_cpu), (b, b_cpu) = medians(times["sphere"]), medians(times["ellipsoid"])
    print(f"{args.picks:,} picks, {args.tomograms:,} tomograms, semi-axes {axes} Å, medians of {args.repeat}")
    print(f"decision, sphere of {max(axes):g} Å: {a:.3f} s, CPU {a_cpu:.3f} s ({kept['sphere']:,} kept)")
    print(
        f"decision, ellipsoid {axes}: {b:.3f} s, CPU {b_cpu:.3f} s ({kept['ellipsoid']:,} kept): "
        f"{b / a:.2f}x the sphere's time (CPU {b_cpu / a_cpu:.2f}x)"
    )
    if args.no_job:
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        path = Path(work) / "picks.star"
        write_star(path, groups, centres, poses, scores)
        jobs: dict[str, list[tuple[float, float]]] = {"sphere": [], "posed sphere": [], "ellipsoid": []}
        for _ in range(args.repeat):
            jobs["sphere"].append(job(path, Path(work) / "s", min_dist=max(axes)))
            # (the same route as the ellipsoid's: orientations read, decided after reading; every angle within 180°)
            jobs["posed sphere"].append(job(path, Path(work) / "p", min_dist=max(axes), max_angle=180.0))
            jobs["ellipsoid"].append(job(path, Path(work) / "e", min_dist_ellipsoid=axes))
    (b, b_cpu) = medians(jobs["ellipsoid"])
    print(f"job end to end (RELION 5 STAR), ellipsoid: {b:.2f} s (CPU {b_cpu:.2f} s)")
    for name, label in (("sphere", "--min-dist (one pass)"), ("posed sphere", "--min-dist --max-angle 180")):
        a, a_cpu = medians(jobs[name])
        print(f"  against {label}: {a:.2f} s (CPU {a_cpu:.2f} s): {b / a:.2f}x (CPU {b_cpu / a_cpu:.2f}x)")


def medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The median wall and CPU seconds of the runs."""
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


if __name__ == "__main__":
    main()
