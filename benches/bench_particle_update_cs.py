"""Benchmark of ``cryodedup particles BATCH.cs --update``: CryoSPARC batches into a running ``particles_kept.cs``.

The kept set (``--kept``, default 1,000,000 particles, 200 a micrograph, every field CryoSPARC's
Extract + 2D Classification write: about 420 bytes a particle) is made by a real first round.
Then ``--repeat`` rounds of ``--new`` particles on new micrographs (each its own batch: their
records appended to ``particles_kept.cs`` in place), each timed against a fresh run of the same
batch alone; medians, in process. The minimum distance is 1 Å, so that nearly every particle is
kept and the running file grows by the batch each round.

Usage: python benches/bench_particle_update_cs.py [--kept 1000000] [--new 10000] [--repeat 5] [--workdir DIR]
Smoke test: python benches/bench_particle_update_cs.py --kept 20000 --new 2000 --repeat 2
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # helpers, fixtures
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "jobs" / "particles"))  # the tests' batches

from update_batches import make_cs_batch

from cryodedup._core import __version__
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions

PER_MIC = 200
#: Micrograph numbers of one width (as a session's names are): the first round's, then each batch's.
KEPT_MICS, NEW_MICS = 2 * 10**6, 5 * 10**6


def timed(job) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    job()
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kept", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_particle_update_cs_"))
    shutil.rmtree(work / "out", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    fresh_options = ParticleOptions(min_dist=1.0, mic_psize=1.0)
    options = ParticleOptions(min_dist=1.0, mic_psize=1.0, update=True)
    make_cs_batch(work / "first.cs", rng, list(range(KEPT_MICS, KEPT_MICS + args.kept // PER_MIC)), PER_MIC)
    made = time.perf_counter()
    remove_duplicate_particles([work / "first.cs"], work / "out", options)
    made = time.perf_counter() - made
    per_batch = max(1, args.new // PER_MIC)
    rounds, fresh, summary = [], [], {}
    for k in range(args.repeat):
        batch = work / f"batch{k}.cs"
        first = NEW_MICS + k * per_batch
        make_cs_batch(batch, rng, list(range(first, first + per_batch)), PER_MIC)
        shutil.rmtree(work / "fresh", ignore_errors=True)
        fresh.append(timed(lambda b=batch: remove_duplicate_particles([b], work / "fresh", fresh_options)))
        rounds.append(
            timed(lambda b=batch: summary.update(remove_duplicate_particles([b], work / "out", options).to_json()))
        )
    size = (work / "out" / "particles_kept.cs").stat().st_size
    update = summary["update"]
    wall, cpu = statistics.median(t for t, _ in rounds), statistics.median(c for _, c in rounds)
    fresh_wall, fresh_cpu = statistics.median(t for t, _ in fresh), statistics.median(c for _, c in fresh)
    print(
        f"cryodedup {__version__}; first round {args.kept:,} particles in {made:.1f} s; after {args.repeat} rounds "
        f"particles_kept.cs holds {update['running_kept']:,} ({size / 1e6:.0f} MB)"
    )
    print(f"--update round of {summary['particles']:,}: median {wall:.3f} s (CPU {cpu:.3f} s) of {args.repeat}")
    print(f"fresh run of the batch alone: median {fresh_wall:.3f} s (CPU {fresh_cpu:.3f} s)")
    print(f"ratio {wall / fresh_wall:.2f}x (CPU {cpu / fresh_cpu:.2f}x)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
