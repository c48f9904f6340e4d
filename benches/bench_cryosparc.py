"""Benchmark of the CryoSPARC particle job against cryosparc-tools reading and writing the
same file, in one run.

A 1M-particle classic ``.cs`` with location, pick_stats, alignments2D and blob slots
(``fixtures.synthetic.cs_particles``) is deduplicated by ``remove_duplicate_particles``
(in process, and end to end with the CLI), and loaded and saved by cryosparc-tools'
``Dataset.load`` / ``Dataset.save`` alone. Each timing is the best of ``--repeat`` runs, after
removing the previous outputs and ``sync``.

Usage: python benches/bench_cryosparc.py [--size N] [--repeat K]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from cryosparc.dataset import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the data generator: tests/fixtures

from cryodedup import ParticleOptions, remove_duplicate_particles
from fixtures.synthetic import cs_particles, write_cs


def best_of(repeat, fn, cleanup):
    best = float("inf")
    for _ in range(repeat):
        cleanup()
        subprocess.run(["sync"], check=True)
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out")
    args = ap.parse_args()
    w = args.workdir
    w.mkdir(parents=True, exist_ok=True)
    path = w / f"particles_{args.size}.cs"
    if not path.exists():
        write_cs(path, cs_particles(np.random.default_rng(0), args.size))
    out, copy = w / "cs_out", w / "cs_copy.cs"

    def clean():
        shutil.rmtree(out, ignore_errors=True)
        copy.unlink(missing_ok=True)

    t_tools = best_of(args.repeat, lambda: Dataset.load(path).save(copy), clean)
    t_job = best_of(args.repeat, lambda: remove_duplicate_particles([path], out, ParticleOptions()), clean)
    cli = [shutil.which("cryodedup") or "cryodedup", "particles", str(path), "-o", str(out), "--quiet"]
    t_cli = best_of(args.repeat, lambda: subprocess.run(cli, check=True), clean)
    summary = remove_duplicate_particles([path], out, ParticleOptions(), force=True)
    clean()
    print("| measurement | time | ratio to cryosparc-tools load + save |\n|---|---|---|")
    print(
        f"| cryosparc-tools Dataset.load + Dataset.save, {args.size:,} particles "
        f"({path.stat().st_size / 1e6:.0f} MB) | {t_tools:.2f} s | 1 |"
    )
    print(f"| cryodedup remove_duplicate_particles, in process | {t_job:.2f} s | {t_job / t_tools:.2f} |")
    print(f"| cryodedup particles (CLI, end to end) | {t_cli:.2f} s | {t_cli / t_tools:.2f} |")
    print(f"\nkept {summary.kept:,}, rejected {summary.rejected:,}; command: {' '.join(cli)}")


if __name__ == "__main__":
    main()
