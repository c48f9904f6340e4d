"""The headline jobs timed with two installs of cryodedup in one run, interleaved: a change's cost.

A restructure (issue 28) must leave every benchmark within its previous figure. Timing the
old and the new code on different days, or one after the other, measures the machine as
much as the code; this runs each job with the BEFORE install, then with the AFTER install,
``--repeat`` times in turn, on the same inputs, and prints the medians and their ratio.

    python benches/compare_installs.py --before /path/old-venv/bin --after /path/new-venv/bin \\
        --workdir benches/out [--only star cs ...] [--repeat 3]

Each install is the ``bin`` folder of a virtual environment with cryodedup installed (its
``cryodedup`` command is run). The inputs are made once in ``--workdir`` by the generators of
this tree's benchmark scripts (benches/run_all.py and the scripts it imports), shaped like
the real files: a 1M- and a 10M-particle RELION 3.1 STAR, a 1M-particle CryoSPARC ``.cs`` with
every Extract and 2D slot, two pickers' picks in per-micrograph files, K3 micrographs and a
million picks on one spot; ``update`` runs benches/bench_update.py's round (100 K3 images into
5,000 screened) with each install's ``python``. Every run goes to a new output folder, removed after it, with
``sync`` before it; times are wall, user CPU and system CPU seconds of the whole command.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))  # the other benchmark scripts, imported as modules
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))  # the generators of tests/fixtures

import bench_dense
import bench_micrographs
import bench_particles
import bench_picks_merge
from fixtures.synthetic import cs_particles, write_cs

JOBS = ["star", "star10m", "plot", "cs", "cs1k", "picks", "micrographs", "dense", "update"]


def star_job(w: Path) -> tuple[str, list[str], Path]:
    path = bench_particles.benchmark_file(w, 1_000_000)
    args = ["particles", str(path), "--quiet", "--score", "rlnMaxValueProbDistribution", "--min-dist", "20"]
    return "1M particles, RELION 3.1 STAR, end to end", args, w


def star10m_job(w: Path) -> tuple[str, list[str], Path]:
    path = bench_particles.benchmark_file(w, 10_000_000)
    args = ["particles", str(path), "--quiet", "--score", "rlnMaxValueProbDistribution", "--min-dist", "20"]
    return "10M particles, RELION 3.1 STAR, end to end", args, w


def plot_job(w: Path) -> tuple[str, list[str], Path]:
    _, args, cwd = star_job(w)
    return "the same with --plot", [*args, "--plot"], cwd


def cs_job(w: Path) -> tuple[str, list[str], Path]:
    path = w / "particles_1000000_extract_2d.cs"
    if not path.exists():
        write_cs(path, cs_particles(np.random.default_rng(0), 1_000_000))
    return "1M particles, CryoSPARC .cs (Extract + 2D slots), end to end", ["particles", str(path), "--quiet"], w


def cs_start_job(w: Path) -> tuple[str, list[str], Path]:
    """The same job on 1,000 particles: its time is nearly all start-up, to tell start-up from work."""
    path = w / "particles_1000_extract_2d.cs"
    if not path.exists():
        write_cs(path, cs_particles(np.random.default_rng(0), 1_000))
    return "1,000 particles, CryoSPARC .cs (start-up)", ["particles", str(path), "--quiet"], w


def picks_job(w: Path) -> tuple[str, list[str], Path]:
    n = 10_000_000
    root = bench_picks_merge.make(w, n, 500)
    args = ["particles", "AutoPick/job010", "AutoPick/job011", "--mic-psize", "1.0", "--min-dist", "20", "--quiet"]
    return f"{n:,} picks of two pickers ({n // 500:,} files), merged", args, root


def micrographs_job(w: Path) -> tuple[str, list[str], Path]:
    folder = w / "micrographs"
    bench_micrographs.make_k3_set(folder, 24)
    files = [str(p) for p in sorted((folder / "float32").glob("mic_*.mrc"))[:24]]
    return (
        "24 K3 micrographs, window 8",
        ["micrographs", *files, "--candidates", "window", "--window", "8", "--quiet"],
        w,
    )


def dense_job(w: Path) -> tuple[str, list[str], Path]:
    star = bench_dense.star_file(w, "cluster", 1_000_000)
    args = ["particles", str(star), "--quiet", "--min-dist", str(bench_dense.MIN_DIST), "--score"]
    return "1M picks on one spot", [*args, "rlnAutopickFigureOfMerit"], w


MAKERS: dict[str, Callable[[Path], tuple[str, list[str], Path]]] = {
    "star": star_job,
    "star10m": star10m_job,
    "plot": plot_job,
    "cs": cs_job,
    "cs1k": cs_start_job,
    "picks": picks_job,
    "micrographs": micrographs_job,
    "dense": dense_job,
}


def timed(install: Path, args: list[str], cwd: Path, out: Path) -> tuple[float, float, float]:
    """Wall, user CPU and system CPU seconds of ``cryodedup ARGS -o OUT`` with one install, after ``sync``.

    The user CPU time is the code's own work; the system CPU time the kernel's work for it
    (page faults of the memory it touches, copies to and from the page cache); the wall time
    also holds the kernel's writing of the outputs, which on this disk varies by a factor of
    two from run to run.
    """
    subprocess.run(["sync"], check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([str(install / "cryodedup"), *args, "-o", str(out)], cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(out if out.is_absolute() else cwd / out, ignore_errors=True)
    return seconds, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


def update_round(install: Path, w: Path) -> tuple[float, float, float]:
    """Wall and CPU seconds of one ``--update`` round of 100 K3 images into 5,000 (benches/bench_update.py).

    That benchmark times the round in its own process (the API's ``find_duplicate_micrographs``,
    run by the install's ``python``) from the state a round over the screened set left, so
    both installs do the same work; its figures are read from what it prints (no system CPU).
    """
    script = Path(__file__).parent / "bench_update.py"
    printed = subprocess.run(
        [str(install / "python"), str(script), "--rounds", "1", "--workdir", str(w / "update")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = next(line for line in printed.splitlines() if line.startswith("--update round:"))
    words = line.split()
    return float(words[2]), float(words[words.index("CPU") + 1]), 0.0


def compare(name: str, w: Path, before: Path, after: Path, repeat: int) -> str:
    if name == "update":
        return _compare_runs(
            "100 K3 images into 5,000 screened, one --update round", lambda i: update_round(i, w), before, after, repeat
        )
    work, args, cwd = MAKERS[name](w)
    out = w / f"compare_{name}_out"
    return _compare_runs(work, lambda install: timed(install, args, cwd, out), before, after, repeat)


def _compare_runs(
    work: str, run: Callable[[Path], tuple[float, float, float]], before: Path, after: Path, repeat: int
) -> str:
    """The table row of ``run`` with each install, interleaved ``repeat`` times after one run to warm the cache."""
    run(after)  # the inputs in the page cache for both
    b, a = [], []
    for _ in range(repeat):
        b.append(run(before))
        a.append(run(after))
    cells = []
    for k in (0, 1, 2):  # wall, user CPU, system CPU
        ratios = [y[k] / x[k] for x, y in zip(b, a) if x[k] > 0]
        cells += [
            f"{statistics.median(x[k] for x in b):.2f} s",
            f"{statistics.median(y[k] for y in a):.2f} s",
            f"{statistics.median(ratios):.2f}x" if ratios else "-",
        ]
    return f"| {work} | {' | '.join(cells)} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True, help="bin folder of the venv with the old code")
    ap.add_argument("--after", type=Path, required=True, help="bin folder of the venv with the new code")
    ap.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out")
    ap.add_argument("--only", nargs="+", choices=JOBS, default=JOBS)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    a.workdir.mkdir(parents=True, exist_ok=True)
    print(f"`{' '.join(sys.argv)}`, {a.repeat} interleaved rounds, medians\n")
    columns = [f"{what} {when}" for what in ("wall", "user CPU", "system CPU") for when in ("before", "after", "ratio")]
    print(f"| work | {' | '.join(columns)} |")
    print("|---" * (len(columns) + 1) + "|", flush=True)
    for name in a.only:
        print(compare(name, a.workdir.resolve(), a.before, a.after, a.repeat), flush=True)


if __name__ == "__main__":
    main()
