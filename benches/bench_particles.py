"""Benchmark of the particle job against its peers, in one run on the same files.

1. ``cryodedup particles`` end to end against ``relion_star_handler --remove_duplicates``
   (Debian package ``relion``) on a RELION 3.1 file of ``--relion-size`` particles.
2. ``cryodedup particles`` end to end on a ``--big-size`` file: time and peak memory
   against the file's size.
3. ``cryodedup.dedup`` in memory against a scipy baseline (one cKDTree over all particles,
   micrographs set apart, ``query_pairs``, then greedy suppression vectorised in numpy),
   checking that both keep the same particles.

4. With ``--merge``, only the merge of two pickers' files (two ``--relion-size`` files,
   different particles on the same micrographs): with equal column orders (rows are byte
   copies) against the second file's columns in another order (``rlnClassNumber`` and
   ``rlnAutopickFigureOfMerit`` swapped: its rows are rewritten field by field). With
   ``--baseline-pythonpath DIR`` (a build of an earlier commit unpacked there), the single
   file run of 1. is also timed with that build, to show a change is not slower.

5. With ``--max-angle DEG`` (and ``--sym``), only the pose-aware measurements: a
   ``--big-size`` file end to end with ``--max-angle DEG`` against without (the angles are
   read and compared on the close pairs only), and the core in memory with and without
   poses, checking that at 180° in C1 poses change nothing.

Files are generated once into ``--workdir`` (benches/out) with
``fixtures.synthetic.write_benchmark_file``. Output folders are removed and the page cache
flushed (``sync``) before each timed run, for every tool alike: replacing a 3 GB output in
the timed run would add the file system's discard time, which is not the job's.

Usage: python benches/bench_particles.py [--relion-size N] [--big-size N] [--repeat K]
       python benches/bench_particles.py --merge [--relion-size N] [--baseline-pythonpath DIR]
       python benches/bench_particles.py --max-angle 10 [--sym C1] [--big-size N] [--repeat K]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the data generator: tests/fixtures

from cryodedup import dedup
from cryodedup.formats.star.file import StarFile
from fixtures.synthetic import write_benchmark_file

SCORE = "rlnMaxValueProbDistribution"
MIN_DIST = 20.0
PSIZE = 1.06


def benchmark_file(workdir: Path, n: int) -> Path:
    path = workdir / f"particles_{n}.star"
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr)
        write_benchmark_file(path, n, seed=0)
    return path


def timed(cmd: list[str], outputs: list[Path], repeat: int) -> tuple[float, float]:
    """Best wall time of ``repeat`` runs (s) and peak resident memory of the largest run (GB),
    measured by GNU time (Debian package ``time``)."""
    best, peak = float("inf"), 0.0
    for _ in range(repeat):
        for out in outputs:
            if out.is_dir():
                shutil.rmtree(out)
            elif out.exists():
                out.unlink()
        subprocess.run(["sync"], check=True)
        time.sleep(1)
        rss = Path(tempfile.mkstemp()[1])
        start = time.perf_counter()
        subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", str(rss), *cmd],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        best = min(best, time.perf_counter() - start)
        peak = max(peak, int(rss.read_text().split()[-1]) / 1e6)  # KiB -> GB (1e3 KiB ~ 1 MB)
        rss.unlink()
    return best, peak


def cryodedup_cmd(path: Path, outdir: Path, *more: Path) -> list[str]:
    exe = shutil.which("cryodedup") or "cryodedup"
    inputs = [str(p) for p in (path, *more)]
    return [exe, "particles", *inputs, "-o", str(outdir), "--quiet", "--score", SCORE, "--min-dist", str(MIN_DIST)]


def swapped_columns_file(source: Path) -> Path:
    """``source`` with rlnAutopickFigureOfMerit and rlnClassNumber (columns 3 and 4)
    swapped, in the labels and in every row, each field's text unchanged."""
    path = source.with_name(source.stem + "_swapped.star")
    if path.exists():
        return path
    print(f"generating {path} ...", file=sys.stderr)
    a, b = "_rlnAutopickFigureOfMerit #3 \n", "_rlnClassNumber #4 \n"
    with open(source) as src, open(path, "w") as out:
        for line in src:
            if line == a:
                line = "_rlnClassNumber #3 \n"
            elif line == b:
                line = "_rlnAutopickFigureOfMerit #4 \n"
            elif line[:1].isdigit() and "@" in line:
                fields = line.split()
                fields[2], fields[3] = fields[3], fields[2]
                line = " ".join(fields) + "\n"
            out.write(line)
    return path


def merge_rows(args, w: Path) -> list[tuple[str, ...]]:
    """Two pickers merged, equal column orders against another order; and, with a baseline
    build, the single-file run of this build against that build."""
    rows = []
    first = benchmark_file(w, args.relion_size)
    second = w / f"particles_{args.relion_size}_picker2.star"
    if not second.exists():
        print(f"generating {second} ...", file=sys.stderr)
        write_benchmark_file(second, args.relion_size, seed=1)
    swapped = swapped_columns_file(second)
    out = w / "ours_merge"
    t_equal, _ = timed(cryodedup_cmd(first, out, second), [out], args.repeat)
    t_swapped, _ = timed(cryodedup_cmd(first, out, swapped), [out], args.repeat)
    rows.append(
        (
            f"merge of 2 x {args.relion_size:,} particles, second file's columns in another order",
            f"cryodedup {t_swapped:.2f} s",
            f"equal orders {t_equal:.2f} s",
            f"{t_swapped / t_equal:.2f}x the equal-order time",
        )
    )
    if args.baseline_pythonpath:
        single = cryodedup_cmd(first, out)
        baseline = [sys.executable, "-c", "import sys; from cryodedup.cli import main; sys.exit(main())", *single[1:]]
        t_new, _ = timed(single, [out], args.repeat)
        os.environ["PYTHONPATH"] = str(args.baseline_pythonpath)
        try:
            t_old, _ = timed(baseline, [out], args.repeat)
        finally:
            del os.environ["PYTHONPATH"]
        rows.append(
            (
                f"{args.relion_size:,} particles, one file, end to end",
                f"cryodedup {t_new:.2f} s",
                f"baseline build {t_old:.2f} s",
                f"{t_new / t_old:.2f}x the baseline time",
            )
        )
    shutil.rmtree(out, ignore_errors=True)
    return rows


def angles_file(source: Path) -> Path:
    """``source`` with rlnAngleRot and rlnAngleTilt added (random, seeded), as a 3D refinement
    writes them; every other field's text unchanged."""
    path = source.with_name(source.stem + "_angles.star")
    if path.exists():
        return path
    print(f"generating {path} ...", file=sys.stderr)
    rng = np.random.default_rng(5)
    with open(source) as src, open(path.with_suffix(".tmp"), "w") as out:
        while lines := src.readlines(1 << 26):
            rows = [k for k, line in enumerate(lines) if line[:1].isdigit() and "@" in line]
            rot, tilt = rng.uniform(-180, 180, len(rows)), rng.uniform(0, 180, len(rows))
            for k, r, t in zip(rows, rot.tolist(), tilt.tolist()):
                lines[k] = f"{lines[k].rstrip()} {r:.6f} {t:.6f}\n"
            for k, line in enumerate(lines):
                if line == "_rlnLogLikeliContribution #20 \n":
                    lines[k] = line + "_rlnAngleRot #21 \n_rlnAngleTilt #22 \n"
            out.writelines(lines)
    path.with_suffix(".tmp").rename(path)
    return path


def pose_rows(args, w: Path) -> list[tuple[str, ...]]:
    """--big-size particles with --max-angle against without: end to end and in memory."""
    big = angles_file(benchmark_file(w, args.big_size))
    out = w / "ours_pose"
    pose_options = ["--max-angle", str(args.max_angle), "--sym", args.sym]
    t_plain, _ = timed(cryodedup_cmd(big, out), [out], args.repeat)
    t_pose, _ = timed(cryodedup_cmd(big, out) + pose_options, [out], args.repeat)
    shutil.rmtree(out, ignore_errors=True)
    rows = [
        (
            f"{args.big_size:,} particles end to end, --max-angle {args.max_angle:g} --sym {args.sym}",
            f"cryodedup {t_pose:.2f} s",
            f"without --max-angle {t_plain:.2f} s",
            f"{t_pose / t_plain:.2f}x the time without",
        )
    ]
    groups, centres, scores = load_arrays(big)
    star = StarFile(big)
    numbers, _, _ = star.scan(star.block("particles"), ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"], None)
    poses = np.stack([numbers["rlnAngleRot"], numbers["rlnAngleTilt"], numbers["rlnAnglePsi"]], axis=1)
    t_core, plain = best_of(lambda: dedup(groups, centres, scores, min_dist=MIN_DIST), args.repeat)
    t_core_pose, _ = best_of(
        lambda: dedup(groups, centres, scores, min_dist=MIN_DIST, poses=poses, max_angle=args.max_angle, sym=args.sym),
        args.repeat,
    )
    wide = dedup(groups, centres, scores, min_dist=MIN_DIST, poses=poses, max_angle=180.0)
    same = np.array_equal(plain.keep, wide.keep)
    rows.append(
        (
            f"dedup in memory, {args.big_size:,} particles, max_angle {args.max_angle:g}, sym {args.sym}",
            f"cryodedup.dedup {t_core_pose:.2f} s",
            f"without poses {t_core:.2f} s",
            f"{t_core_pose / t_core:.2f}x; at 180° same result: {same}",
        )
    )
    print(f"\ncommand:\n  {' '.join(cryodedup_cmd(big, out) + pose_options)}")
    if not same:
        sys.exit("poses at 180° changed the result")
    return rows


def relion_cmd(path: Path, out: Path) -> list[str]:
    return [
        "relion_star_handler",
        "--i",
        str(path),
        "--o",
        str(out),
        "--remove_duplicates",
        str(MIN_DIST),
        "--image_angpix",
        str(PSIZE),
    ]


def load_arrays(path: Path):
    """Micrograph ids, centres (Å) and scores, read with cryodedup's scanner."""
    star = StarFile(path)
    block = star.block("particles")
    cols = ["rlnCoordinateX", "rlnCoordinateY", "rlnOriginXAngst", "rlnOriginYAngst", SCORE]
    numbers, keys, _ = star.scan(block, cols, "rlnMicrographName")
    centres = np.stack(
        [
            numbers["rlnCoordinateX"] * PSIZE - numbers["rlnOriginXAngst"],
            numbers["rlnCoordinateY"] * PSIZE - numbers["rlnOriginYAngst"],
        ],
        axis=1,
    )
    return keys.astype(np.int64), centres, numbers[SCORE]


def scipy_baseline(groups, centres, scores, min_dist):
    """Greedy suppression with scipy: pairs from one k-d tree, then rounds in numpy in
    which a particle is kept once all its better neighbours are suppressed."""
    from scipy.spatial import cKDTree

    span = np.ptp(centres, axis=0).max() + 10 * min_dist + 1
    shifted = centres - centres.min(axis=0)
    shifted[:, 0] += groups * span  # micrographs far apart: never paired
    pairs = cKDTree(shifted).query_pairs(min_dist, output_type="ndarray")
    order = np.lexsort((np.arange(len(scores)), -np.nan_to_num(scores, nan=-np.inf)))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    i, j = pairs[:, 0], pairs[:, 1]
    better = np.where(rank[i] < rank[j], i, j)
    worse = np.where(rank[i] < rank[j], j, i)
    undecided, kept, suppressed = 0, 1, 2
    state = np.zeros(len(scores), dtype=np.int8)
    while True:
        blocked = np.zeros(len(scores), dtype=bool)
        blocked[worse[state[better] != suppressed]] = True
        newly = (state == undecided) & ~blocked
        state[newly] = kept
        hit = (state[better] == kept) & (state[worse] == undecided)
        state[worse[hit]] = suppressed
        if not (state == undecided).any():
            return state == kept


def best_of(fn, repeat):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def print_rows(rows) -> None:
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; numpy {np.__version__}")
    print("| measurement | cryodedup | peer | ratio |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--relion-size", type=int, default=1_000_000)
    ap.add_argument("--big-size", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--relion-repeat", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out")
    ap.add_argument("--merge", action="store_true", help="only the merge measurements (4.)")
    ap.add_argument("--baseline-pythonpath", type=Path, help="an earlier build to compare the single-file run with")
    ap.add_argument("--max-angle", type=float, help="only the pose-aware measurements (5.), at this angle")
    ap.add_argument("--sym", default="C1", help="point group of the pose-aware measurements")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    w = args.workdir
    if args.merge:
        print_rows(merge_rows(args, w))
        return
    if args.max_angle is not None:
        print_rows(pose_rows(args, w))
        return
    rows = []

    small = benchmark_file(w, args.relion_size)
    size_mb = small.stat().st_size / 1e6
    t_ours, _ = timed(cryodedup_cmd(small, w / "ours_small"), [w / "ours_small"], args.repeat)
    t_relion, _ = timed(
        relion_cmd(small, w / "relion_small.star"),
        [w / "relion_small.star", w / "relion_small_removed.star"],
        args.relion_repeat,
    )
    rows.append(
        (
            f"{args.relion_size:,} particles ({size_mb:.0f} MB), end to end",
            f"cryodedup {t_ours:.2f} s",
            f"relion_star_handler {t_relion:.1f} s",
            f"{t_relion / t_ours:.1f}x faster",
        )
    )
    shutil.rmtree(w / "ours_small", ignore_errors=True)

    big = benchmark_file(w, args.big_size)
    big_gb = big.stat().st_size / 1e9
    t_big, peak = timed(cryodedup_cmd(big, w / "ours_big"), [w / "ours_big"], args.repeat)
    rows.append(
        (
            f"{args.big_size:,} particles ({big_gb:.2f} GB), end to end",
            f"cryodedup {t_big:.2f} s",
            f"peak memory {peak:.2f} GB",
            f"{peak / big_gb:.2f}x the file size",
        )
    )
    shutil.rmtree(w / "ours_big", ignore_errors=True)

    groups, centres, scores = load_arrays(big)
    t_core, result = best_of(lambda: dedup(groups, centres, scores, min_dist=MIN_DIST), args.repeat)
    t_scipy, keep_scipy = best_of(lambda: scipy_baseline(groups, centres, scores, MIN_DIST), 1)
    same = np.array_equal(result.keep, keep_scipy)
    rows.append(
        (
            f"dedup in memory, {args.big_size:,} particles",
            f"cryodedup.dedup {t_core:.2f} s",
            f"scipy baseline {t_scipy:.1f} s",
            f"{t_scipy / t_core:.1f}x faster; same result: {same}",
        )
    )

    print_rows(rows)
    print(
        "\ncommands:\n  "
        + " ".join(cryodedup_cmd(small, w / "ours_small"))
        + "\n  "
        + " ".join(relion_cmd(small, w / "relion_small.star"))
    )
    if not same:
        sys.exit("cryodedup and the scipy baseline disagree")


if __name__ == "__main__":
    main()
