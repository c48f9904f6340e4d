"""The cost of ``--mask``/``--edge`` and of ``--score-normalize zscore`` on 1M picks (issue 69 items 3 and 4).

Generates (once, into ``--workdir``) a RELION 5 tomography set: ``--picks`` template-matching
picks in centred Å (``rlnLCCmax``) over ``--tomograms`` tomograms of 4000 x 4000 x 1000
tilt-series pixels of 1.35 Å, their tomograms STAR, and one segmentation at 10 Å (540 x 540 x
135 voxels, a slab with a hole: half the picks fall outside). Then times, end to end
(``cryodedup particles`` in a subprocess, outputs removed before each run, rounds interleaved):

(a) the job as before: ``--micrographs tomograms.star --score rlnLCCmax --min-dist 60``;
(b) (a) with ``--mask seg.mrc --edge 100``;
(c) (a) with ``--score-normalize zscore``;

and, in process, the two pieces alone on the same rows: the masks' and edges' rows
(``regions_of``) and the robust z-scores (``robust_zscores``).

Usage: python benches/bench_regions.py [--picks N] [--tomograms T] [--repeat R] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIZE_PX = (4000, 4000, 1000)
TS_PSIZE = 1.35


def make_inputs(workdir: Path, n_picks: int, n_tomograms: int) -> tuple[Path, Path, Path]:
    """The picks' STAR, the tomograms STAR and the mask (made once; kept for the next run)."""
    import mrcfile

    workdir.mkdir(parents=True, exist_ok=True)
    star, tomograms, mask = workdir / f"picks_{n_picks}.star", workdir / "tomograms.star", workdir / "seg.mrc"
    names = [f"TS_{k:03d}" for k in range(n_tomograms)]
    if not tomograms.exists():
        rows = "".join(f"{n} {TS_PSIZE} 7.407407 {SIZE_PX[0]} {SIZE_PX[1]} {SIZE_PX[2]}\n" for n in names)
        tomograms.write_text(
            "data_global\nloop_\n_rlnTomoName\n_rlnTomoTiltSeriesPixelSize\n_rlnTomoTomogramBinning\n"
            "_rlnTomoSizeX\n_rlnTomoSizeY\n_rlnTomoSizeZ\n" + rows
        )
    if not mask.exists():
        shape = tuple(int(s * TS_PSIZE / 10) for s in SIZE_PX[::-1])  # (nz, ny, nx) at 10 Å
        seg = np.zeros(shape, dtype=np.int8)
        seg[shape[0] // 4 : 3 * shape[0] // 4] = 1  # a slab
        seg[:, : shape[1] // 3, : shape[2] // 3] = 0  # a hole
        with mrcfile.new(mask, data=seg, overwrite=True) as mrc:
            mrc.voxel_size = 10.0
    if not star.exists():
        rng = np.random.default_rng(0)
        half = np.array([(s / 2 - 1) * TS_PSIZE for s in SIZE_PX])
        centred = rng.uniform(-half, np.array(SIZE_PX) * TS_PSIZE - half, (n_picks, 3))
        tomo = rng.integers(0, n_tomograms, n_picks)
        scores = rng.gamma(2.0, 0.05, n_picks) * (1 + (tomo % 3))  # (tomograms on different scales)
        with open(star, "w") as f:
            f.write(
                "data_particles\nloop_\n_rlnTomoName\n_rlnCenteredCoordinateXAngst\n_rlnCenteredCoordinateYAngst\n"
                "_rlnCenteredCoordinateZAngst\n_rlnLCCmax\n"
            )
            f.writelines(
                f"{names[t]}\t{x:.2f}\t{y:.2f}\t{z:.2f}\t{s:.5f}\n"
                for t, (x, y, z), s in zip(tomo.tolist(), centred.tolist(), scores.tolist())
            )
    return star, tomograms, mask


def timed(args: list[str], out: Path) -> float:
    """Seconds of one end-to-end run (its output folder removed first)."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cryodedup", *args, "-o", str(out), "--quiet"], check=True)
    return time.perf_counter() - start


def in_process(star: Path, tomograms: Path, mask: Path) -> dict[str, float]:
    """Seconds of the two pieces alone, on the rows of one read."""
    from cryodedup.algo.normalisation import labels, normalisation, robust_zscores
    from cryodedup.jobs.particles.read import Files
    from cryodedup.jobs.particles.regions import regions_of
    from cryodedup.options import ParticleOptions

    options = ParticleOptions(micrographs=tomograms, score="rlnLCCmax", min_dist=60, mask=mask, edge=100)
    particles = Files.of([star]).read(star.parent / "unused", options, lambda m: None, lambda m, level: None)
    start = time.perf_counter()
    regions = regions_of(particles, options)
    mid = time.perf_counter()
    assert particles.scores is not None and regions is not None
    robust_zscores(particles.scores, labels(normalisation("zscore"), particles.input_of, particles.groups))
    end = time.perf_counter()
    print(f"  rows outside the mask {regions.outside_mask:,}, at the edge {regions.at_edge:,}", file=sys.stderr)
    return {"regions_of": mid - start, "robust_zscores": end - mid}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picks", type=int, default=1_000_000)
    parser.add_argument("--tomograms", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("benches/out/regions"))
    args = parser.parse_args()
    star, tomograms, mask = make_inputs(args.workdir, args.picks, args.tomograms)
    base = ["particles", str(star), "--micrographs", str(tomograms), "--score", "rlnLCCmax", "--min-dist", "60"]
    runs = {
        "as before": base,
        "--mask --edge 100": [*base, "--mask", str(mask), "--edge", "100"],
        "--score-normalize zscore": [*base, "--score-normalize", "zscore"],
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeat):  # (interleaved: a change of load falls on every variant alike)
        for name, run in runs.items():
            seconds[name].append(timed(run, args.workdir / "out"))
    before = float(np.median(seconds["as before"]))
    print(f"{args.picks:,} picks, {args.tomograms} tomograms, medians of {args.repeat}:")
    for name, values in seconds.items():
        median = float(np.median(values))
        print(f"  {name}: {median:.2f} s ({median / before:.2f}x)")
    for name, value in in_process(star, tomograms, mask).items():
        print(f"  in process, {name}: {value:.3f} s")


if __name__ == "__main__":
    main()
