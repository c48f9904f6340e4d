"""Benchmark of dense clusters: many picks on one spot of one micrograph (issue 11, item 8).

A picker stuck on ice, or coordinates all 0 after a bad conversion, puts a whole file's picks
on one spot. Every pair of such picks is a duplicate pair, so any method that lists the pairs
needs memory growing with the square of the cluster (20,000 picks took 4.7 GB before this
benchmark was written). Cases, each on ``--size`` picks of one micrograph:

- ``cluster``: uniformly in a disc of 20 Å diameter (every pair within 20 Å), scored;
- ``origin``: all at (0, 0), scored;
- ``cluster-entirely`` / ``origin-entirely``: the same with ``--remove-entirely``;
- ``cluster-none`` / ``origin-none``: the same with ``--score none`` (seeded random ranking).

Times are wall clock, and in brackets the CPU time (user + system, all threads): on a
loaded machine the CPU time says more. Each case runs twice in a fresh subprocess:
``cryodedup.dedup`` in memory (time of the call; peak RSS of the process, from
``resource.getrusage``) and ``cryodedup particles`` end to end on a RELION 3.1 STAR file
written once into ``--workdir`` (times and peak RSS by GNU time, Debian package ``time``).
Targets: under 10 s and under 1 GB each at 1,000,000 picks.

The floor in the same run: the same end-to-end job on a file of the same size whose picks are
spread over 5,000 micrographs (200 each, no duplicates at all), so the ratio says what the
cluster costs beyond reading and writing the rows.

Usage: python benches/bench_dense.py [--size N] [--quick] [--workdir DIR] [--case NAME ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CASES = ["cluster", "origin", "cluster-entirely", "origin-entirely", "cluster-none", "origin-none"]
MIN_DIST = 20.0
PSIZE = 1.0

# Runs in a fresh interpreter: one dedup call, then its time and the process's peak RSS.
IN_MEMORY = """
import json, resource, sys, time
import numpy as np
from cryodedup import dedup
data = np.load(sys.argv[1])
scores = data["scores"] if sys.argv[2] == "score" else None
start, cpu = time.perf_counter(), time.process_time()
result = dedup(data["groups"], data["coords"], scores, min_dist=float(sys.argv[3]),
               remove_entirely=sys.argv[4] == "1")
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_gb": peak_kib / 1e6, "kept": int(result.keep.sum())}))
"""


def picks(case: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Groups, coordinates (Å, n x 2) and scores of ``case``'s ``n`` picks."""
    rng = np.random.default_rng(0)
    groups = np.zeros(n, dtype=np.int64)
    if case.startswith("origin"):
        coords = np.zeros((n, 2))
    elif case.startswith("cluster"):
        radius = 10.0 * np.sqrt(rng.random(n))  # uniform in a disc of 20 Å diameter
        angle = 2 * np.pi * rng.random(n)
        coords = np.column_stack([2000 + radius * np.cos(angle), 2000 + radius * np.sin(angle)])
    else:  # "spread": the floor, 200 picks on each of n / 200 micrographs, none within 20 Å
        groups = np.arange(n, dtype=np.int64) // 200
        grid = np.arange(n) % 200
        coords = np.column_stack([(grid % 20) * 100.0 + 50, (grid // 20) * 100.0 + 50])
    return groups, coords, rng.random(n)


def star_file(workdir: Path, case: str, n: int) -> Path:
    """A RELION 3.1 particle STAR of ``case`` (one micrograph), written once."""
    geometry = case.split("-")[0]
    path = workdir / f"dense_{geometry}_{n}.star"
    if path.exists():
        return path
    groups, coords, scores = picks(geometry, n)
    print(f"generating {path} ...", file=sys.stderr)
    header = (
        "\ndata_optics\n\nloop_\n_rlnOpticsGroup #1\n_rlnOpticsGroupName #2\n_rlnImagePixelSize #3\n"
        "_rlnMicrographPixelSize #4\n_rlnImageSize #5\n_rlnImageDimensionality #6\n"
        f"1 opticsGroup1 {PSIZE} {PSIZE} 256 2\n"
        "\n\ndata_particles\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnMicrographName #3\n"
        "_rlnImageName #4\n_rlnOpticsGroup #5\n_rlnAutopickFigureOfMerit #6\n"
    )
    rows = [
        f"{x:.6f} {y:.6f} MotionCorr/mic{g:05d}.mrc {i + 1:06d}@Extract/parts.mrcs 1 {s:.6f}\n"
        for i, (g, (x, y), s) in enumerate(zip(groups, coords, scores))
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(header + "".join(rows))
    tmp.rename(path)
    return path


def run_in_memory(workdir: Path, case: str, n: int) -> dict:
    geometry = case.split("-")[0]
    arrays = workdir / f"dense_{geometry}_{n}.npz"
    if not arrays.exists():
        groups, coords, scores = picks(geometry, n)
        np.savez(arrays, groups=groups, coords=coords, scores=scores)
    score = "none" if case.endswith("-none") else "score"
    entirely = "1" if case.endswith("-entirely") else "0"
    out = subprocess.run(
        [sys.executable, "-c", IN_MEMORY, str(arrays), score, str(MIN_DIST), entirely],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return json.loads(out.stdout)


def run_end_to_end(workdir: Path, case: str, n: int) -> dict:
    star = star_file(workdir, case, n)
    outdir = Path(tempfile.mkdtemp(dir=workdir, prefix="dense_out_"))
    cmd = ["cryodedup", "particles", str(star), "-o", str(outdir), "--quiet", "--min-dist", str(MIN_DIST)]
    cmd += ["--score", "none" if case.endswith("-none") else "rlnAutopickFigureOfMerit"]
    if case.endswith("-entirely"):
        cmd.append("--remove-entirely")
    fmt = "%e %U %S %M"
    with tempfile.NamedTemporaryFile("r", suffix=".time") as times:
        subprocess.run(
            ["/usr/bin/time", "-f", fmt, "-o", times.name, *cmd],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=600,
        )
        seconds, user, system, peak_kib = Path(times.name).read_text().split()[-4:]
    shutil.rmtree(outdir)
    return {
        "seconds": float(seconds),
        "cpu": float(user) + float(system),
        "peak_gb": int(peak_kib) / 1e6,
        "command": " ".join(cmd),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1_000_000, help="picks per case (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="10,000 picks per case: a smoke test")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out")
    parser.add_argument("--case", action="append", choices=CASES, help="run only these cases (repeatable)")
    args = parser.parse_args()
    n = 10_000 if args.quick else args.size
    args.workdir.mkdir(parents=True, exist_ok=True)
    floor = run_end_to_end(args.workdir, "spread", n)
    print(
        f"floor: {n:,} picks on {n // 200:,} micrographs, end to end {floor['seconds']:.2f} s "
        f"(CPU {floor['cpu']:.2f} s), "
        f"peak {floor['peak_gb']:.2f} GB"
    )
    print(
        f"\n| case ({n:,} picks, one micrograph) | dedup in memory | peak RSS | end to end | peak RSS | "
        "end to end / floor (CPU) |"
    )
    print("|---|---|---|---|---|---|")
    commands = []
    for case in args.case or CASES:
        memory = run_in_memory(args.workdir, case, n)
        full = run_end_to_end(args.workdir, case, n)
        commands.append(full["command"])
        print(
            f"| {case} | {memory['seconds']:.2f} s (CPU {memory['cpu']:.2f} s; {memory['kept']:,} kept) | "
            f"{memory['peak_gb']:.2f} GB | {full['seconds']:.2f} s (CPU {full['cpu']:.2f} s) | "
            f"{full['peak_gb']:.2f} GB | "
            f"{full['cpu'] / floor['cpu']:.2f}x |"
        )
    print("\ncommands timed end to end:\n" + floor["command"] + "\n" + "\n".join(commands))


if __name__ == "__main__":
    main()
