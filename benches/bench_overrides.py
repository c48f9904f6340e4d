"""The cost of ``--overrides`` (issue 100): 1,000 forced particles on 1M, against the job without them.

Generates (once, into ``--workdir``) a RELION 3.1 particle STAR of ``--particles`` rows on 1,000
micrographs (2-D, 4096 px square, 1 Å pixels, ``rlnAutopickFigureOfMerit``, images named
``k@Extract/job012/mic_j.mrcs``) and an overrides file of ``--overrides`` lines (half keep, half
reject, rows drawn at random, each named as decisions.csv names it). Then times, end to end
(``cryodedup particles`` in a subprocess, outputs removed before each run, rounds interleaved):

(a) the job as before: ``--min-dist 100 --score rlnAutopickFigureOfMerit`` (one STAR: decided as it is
    scanned, in one pass);
(b) (a) with ``--overrides`` (one pass too: the core decides the forced rows as it scans);
(c) (a) with ``--decisions`` and (d) (b) with ``--decisions``.

And, in process: the decision alone with and without the forced rows (on the rows of one read), and
the whole job read whole before it decides (the two-pass route, which ``--overrides`` took before the
scan took the forced rows, and takes for an ``--update`` round or several inputs) without and with the file.

Usage: python benches/bench_overrides.py [--particles N] [--overrides K] [--repeat R] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from cryodedup.formats.overrides import format_overrides

MICROGRAPHS, SIDE = 1000, 4096.0


def make_inputs(workdir: Path, n: int, k: int) -> tuple[Path, Path]:
    """The particles' STAR and the overrides file (made once; kept for the next run)."""
    workdir.mkdir(parents=True, exist_ok=True)
    star, overrides = workdir / f"particles_{n}.star", workdir / f"overrides_{n}_{k}.csv"
    rng = np.random.default_rng(100)
    mic = np.sort(rng.integers(0, MICROGRAPHS, n))
    index = np.arange(n) - np.searchsorted(mic, mic) + 1  # (each image's number in its stack, from 1)
    images = [f"{i:06d}@Extract/job012/mic_{m:04d}.mrcs" for i, m in zip(index.tolist(), mic.tolist())]
    if not star.exists():
        xy = rng.uniform(0, SIDE, (n, 2))
        fom = rng.gamma(2.0, 0.5, n)
        with open(star, "w") as f:
            f.write(
                "\n# version 30001\n\ndata_optics\n\nloop_\n_rlnOpticsGroup #1\n_rlnOpticsGroupName #2\n"
                "_rlnImagePixelSize #3\n_rlnMicrographPixelSize #4\n1 opticsGroup1 1.0 1.0\n\n\n# version 30001\n\n"
                "data_particles\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnAutopickFigureOfMerit #3\n"
                "_rlnMicrographName #4\n_rlnImageName #5\n_rlnOpticsGroup #6\n"
            )
            f.writelines(
                f"{x:.2f} {y:.2f} {s:.5f} MotionCorr/mic_{m:04d}.mrc {name} 1\n"
                for (x, y), s, m, name in zip(xy.tolist(), fom.tolist(), mic.tolist(), images)
            )
    if not overrides.exists():
        rows = np.sort(rng.choice(n, k, replace=False))
        lines = [(str(star), int(r) + 1, images[r], "keep" if j % 2 else "reject") for j, r in enumerate(rows)]
        overrides.write_text(format_overrides(lines), newline="")
    return star, overrides


def timed(args: list[str], out: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one end-to-end run (its output folder removed first).

    The CPU is the measure on a shared machine, where the wall holds the other jobs' load.
    """
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cryodedup", *args, "-o", str(out), "--quiet"], check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def in_process(star: Path, overrides: Path) -> dict[str, float]:
    """Seconds of the decision alone, on the rows of one read, without and with the forced rows (medians of 3)."""
    from cryodedup.jobs.particles.decide import decide
    from cryodedup.jobs.particles.overrides import forced_rows
    from cryodedup.jobs.particles.plan import plan
    from cryodedup.jobs.particles.read import Files
    from cryodedup.options import ParticleOptions

    options = ParticleOptions(min_dist=100.0, score="rlnAutopickFigureOfMerit", overrides=overrides)
    job = plan(options)
    particles = Files.of([star]).read(star.parent / "unused", job.read, lambda m: None, lambda m, level: None)
    job = job.for_rows(particles, None)
    assert job.deciding.overrides is not None
    seconds: dict[str, list[float]] = {"decide": [], "match + decide with forced rows": []}
    for _ in range(3):
        start = time.perf_counter()
        decide(particles, job.deciding)
        mid = time.perf_counter()
        decide(particles, job.deciding, forced=forced_rows(particles, job.deciding.overrides).rows)
        seconds["decide"].append(mid - start)
        seconds["match + decide with forced rows"].append(time.perf_counter() - mid)
    return {name: float(np.median(values)) for name, values in seconds.items()}


def two_passes(star: Path, overrides: Path, out: Path, repeat: int) -> dict[str, float]:
    """Seconds of the whole job in process, read whole then decided (two passes), without and with the file.

    The route ``--overrides`` takes where the scan cannot decide (several inputs, a round), the job's
    own without it: what the overrides cost on it. Medians of ``repeat``, interleaved.
    """
    from cryodedup.jobs.particles.job import run
    from cryodedup.jobs.particles.plan import plan
    from cryodedup.jobs.particles.read import Files
    from cryodedup.jobs.particles.shards import WholeRead
    from cryodedup.options import ParticleOptions

    seconds: dict[str, list[float]] = {"two passes": [], "two passes, --overrides": []}
    for _ in range(repeat):
        for name, given in (("two passes", None), ("two passes, --overrides", overrides)):
            shutil.rmtree(out, ignore_errors=True)
            options = ParticleOptions(min_dist=100.0, score="rlnAutopickFigureOfMerit", overrides=given)
            start = time.perf_counter()
            run(WholeRead(Files.of([star])), out, plan(options))
            seconds[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=1_000_000)
    parser.add_argument("--overrides", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("benches/out/overrides"))
    args = parser.parse_args()
    star, overrides = make_inputs(args.workdir, args.particles, args.overrides)
    base = ["particles", str(star), "--min-dist", "100", "--score", "rlnAutopickFigureOfMerit"]
    runs = {
        "(a) as before": base,
        "(b) --overrides": [*base, "--overrides", str(overrides)],
        "(c) --decisions": [*base, "--decisions"],
        "(d) --decisions --overrides": [*base, "--decisions", "--overrides", str(overrides)],
    }
    seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(args.repeat):  # (interleaved: a change of load falls on every variant alike)
        for name, run in runs.items():
            seconds[name].append(timed(run, args.workdir / "out"))
    wall = {name: float(np.median([w for w, _ in values])) for name, values in seconds.items()}
    cpu = {name: float(np.median([c for _, c in values])) for name, values in seconds.items()}
    print(f"{args.particles:,} particles, {args.overrides:,} overrides, medians of {args.repeat}:")
    for name in runs:
        print(f"  {name}: wall {wall[name]:.2f} s, CPU {cpu[name]:.2f} s")
    for new, old in (("(b) --overrides", "(a) as before"), ("(d) --decisions --overrides", "(c) --decisions")):
        print(f"  {new[:3]}/{old[:3]}: wall {wall[new] / wall[old]:.3f}x, CPU {cpu[new] / cpu[old]:.3f}x")
    for name, value in in_process(star, overrides).items():
        print(f"  in process, {name}: {value:.3f} s")
    both = two_passes(star, overrides, args.workdir / "out", args.repeat)
    for name, value in both.items():
        print(f"  in process, the job in {name}: {value:.2f} s")
    print(f"  two passes, with/without: {both['two passes, --overrides'] / both['two passes']:.3f}x")


if __name__ == "__main__":
    main()
