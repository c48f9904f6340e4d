"""Benchmark of several species with --cross-species against the same picks as one species (issue 40).

One RELION 5 particle STAR (``rlnTomoName``, ``rlnCenteredCoordinateX/Y/ZAngst``, pytom-match-pick's
``rlnLCCmax``, ``rlnClassNumber``): ``--species`` species (default 10) of radii from 40 to 200 Å,
``--picks`` picks in all (default 1,000,000) on ``--tomograms`` tomograms (default 1,000) of
4000 x 4000 x 1500 Å, placed at random (so species overlap where spheres meet), scores uniform.
Two runs of ``cryodedup particles`` on it, end to end (read, decide, write), each in a fresh process:

- ``one species``: the file as one species, ``--min-dist 100`` (the peer: the job as it was);
- ``10 species, cross``: ``--species-column rlnClassNumber``, each species' own ``--min-dist``
  (its radius), ``--cross-species`` with each species' ``--radius``.

Rounds alternate the order of the two (the machine is shared: interleaved runs see the same load);
the table gives each run's median wall time, user CPU and peak RSS (``os.wait4``, the child's own),
and the ratios of the medians, cross / one. Target: both ratios within 2.

Usage: python benches/bench_species.py [--picks N] [--species S] [--tomograms T] [--rounds R] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np

SIZE = np.array([4000.0, 4000.0, 1500.0])


def radii(n_species: int) -> list[float]:
    """The species' radii, 40 to 200 Å."""
    return [float(r) for r in np.linspace(40, 200, n_species).round()]


def write_star(path: Path, n: int, n_species: int, n_tomograms: int, seed: int = 0) -> None:
    """The benchmark's STAR file, written in chunks (no row made as a Python object)."""
    rng = np.random.default_rng(seed)
    header = ["# version 50001", "", "data_particles", "", "loop_"]
    labels = ["rlnTomoName", "rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst"]
    labels += ["rlnCenteredCoordinateZAngst", "rlnLCCmax", "rlnClassNumber"]
    header += [f"_{label} #{k + 1}" for k, label in enumerate(labels)]
    names = np.array([f"TS_{t:04d}" for t in range(n_tomograms)])
    with open(path, "w") as f:
        f.write("\n".join(header) + "\n")
        every_tomo = np.sort(rng.integers(0, n_tomograms, n))  # rows tomogram by tomogram, as RELION writes them
        for lo in range(0, n, 200_000):
            m = min(n, lo + 200_000) - lo
            tomo = every_tomo[lo : lo + m]
            xyz = rng.random((m, 3)) * SIZE - SIZE / 2
            score = rng.random(m)
            species = rng.integers(1, n_species + 1, m)
            table = np.column_stack([xyz.round(2).astype(str), score.round(5).astype(str), species.astype(str)])
            text = "\n".join(f"{t} {' '.join(row)}" for t, row in zip(names[tomo].tolist(), table.tolist()))
            f.write(text + "\n")


def commands(star: Path, out: Path, n_species: int) -> dict[str, list[str]]:
    """The two runs' command lines."""
    base = [sys.executable, "-m", "cryodedup", "particles", str(star), "--score", "rlnLCCmax", "-q", "--force"]
    pairs = ",".join(f"{k + 1}={r:g}" for k, r in enumerate(radii(n_species)))
    return {
        "one species": [*base, "-o", str(out / "one"), "--min-dist", "100"],
        f"{n_species} species, cross": [
            *base,
            "-o",
            str(out / "cross"),
            "--species-column",
            "rlnClassNumber",
            "--min-dist",
            pairs,
            "--cross-species",
            "--radius",
            pairs,
            "--json",
        ],
    }


def timed(command: list[str]) -> dict:
    """Wall time, the child's user and system CPU and peak RSS, and its --json summary (if any)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = child.stdout.read() if child.stdout else b""
    err = child.stderr.read() if child.stderr else b""
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err.decode()}")
    summary = json.loads(out) if out.strip() else None
    return {
        "wall": seconds,
        "user": usage.ru_utime,
        "sys": usage.ru_stime,
        "peak_gb": usage.ru_maxrss / 1e6,
        "summary": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--picks", type=int, default=1_000_000)
    parser.add_argument("--species", type=int, default=10)
    parser.add_argument("--tomograms", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_species_"))
    workdir.mkdir(parents=True, exist_ok=True)
    star = workdir / f"species_{args.species}x{args.picks}_{args.tomograms}.star"
    if not star.exists():
        write_star(star, args.picks, args.species, args.tomograms)
    runs = commands(star, workdir, args.species)
    results: dict[str, list[dict]] = {name: [] for name in runs}
    for r in range(args.rounds):
        for name in list(runs)[:: 1 if r % 2 == 0 else -1]:
            results[name].append(timed(runs[name]))
    print(
        f"{args.picks:,} picks of {args.species} species on {args.tomograms:,} tomograms "
        f"({star.stat().st_size / 1e6:.0f} MB)"
    )
    print(f"{'run':<22} {'wall s':>8} {'user s':>8} {'peak GB':>8}   (medians of {args.rounds} interleaved rounds)")
    med = {}
    for name, rows in results.items():
        med[name] = {key: median(row[key] for row in rows) for key in ("wall", "user", "peak_gb")}
        m = med[name]
        print(f"{name:<22} {m['wall']:>8.2f} {m['user']:>8.2f} {m['peak_gb']:>8.3f}")
    one, cross = (med[name] for name in runs)
    print(
        f"ratio cross / one:      {cross['wall'] / one['wall']:>8.2f} {cross['user'] / one['user']:>8.2f} "
        f"{cross['peak_gb'] / one['peak_gb']:>8.2f}"
    )
    summary = results[list(runs)[1]][0]["summary"]
    if summary:
        won = np.array(summary["species"]["cross_species"]["won"])
        print(
            f"kept {summary['kept']:,} of {summary['particles']:,}; picks displaced by another species: {won.sum():,}"
        )
    if args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
