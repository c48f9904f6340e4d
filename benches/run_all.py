"""Every headline benchmark against its peer, in one run, printed as one table of ratios.

Rows (issue 29; the files are made once in ``--workdir`` and shaped like the real ones):

- ``star``: a 1M-particle RELION 3.1 particle STAR (RELION's column layout), ``cryodedup
  particles`` end to end against ``relion_star_handler --remove_duplicates`` (Debian package
  ``relion``). Target: at least 50x.
- ``cs``: a 1M-particle CryoSPARC ``.cs`` with every field Extract and 2D classification write
  (string micrograph paths), the CLI end to end against cryosparc-tools ``Dataset.load`` +
  ``save`` in a fresh interpreter, and both in process; median of 3 interleaved runs. Target:
  at most 1.0x.
- ``plot``: the STAR job with ``--plot`` against the same job without. Target: at most 1.5x.
- ``picks``: two pickers' 10M picks (20,000 per-micrograph files) merged end to end against
  ``starfile`` only reading them (benches/bench_picks_merge.py).
- ``micrographs``: 24 K3 micrographs, window 8: the job against a plain numpy pipeline of the
  same pairs (bin, band-pass, FFT cross-correlation, Pearson; target at least 25x) and
  against only reading and binning them (the floor).
- ``scale``: 10M, 30M and 100M particles from a cold page cache: time and peak memory
  (benches/bench_scale.py; 100M needs about 60 GB free).
- ``dense``: a million picks on one spot against the same number spread over micrographs
  (benches/bench_dense.py).

The package is compiled to bytecode first, as ``pip install`` does (an editable install, or
PYTHONDONTWRITEBYTECODE, would otherwise compile every module in every run). Every timed
command runs in its own process, outputs removed and ``sync`` before it. Times
are wall seconds; a ratio of interleaved runs is the median of the per-round ratios.

Usage: python benches/run_all.py [--quick] [--only star cs ...] [--repeat 3] [--workdir benches/out]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))  # the other benchmark scripts, imported as modules
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the data generator: tests/fixtures

import bench_dense
import bench_micrographs
import bench_particles
import bench_picks_merge
import bench_scale
from cryodedup import MicrographOptions, find_duplicate_micrographs
from cryodedup.jobs.micrographs.plan import candidate_offsets, candidate_pairs
from fixtures.synthetic import cs_particles, write_cs

FULL = {"star": 1_000_000, "cs": 1_000_000, "picks": 10_000_000, "k3": 24, "dense": 1_000_000}
QUICK = {"star": 20_000, "cs": 20_000, "picks": 20_000, "k3": 4, "dense": 10_000}
SCALE_FULL, SCALE_QUICK = [10_000_000, 30_000_000, 100_000_000], [200_000, 600_000]
BENCHMARKS = ["star", "cs", "plot", "picks", "micrographs", "scale", "dense"]


@dataclass
class Row:
    work: str
    ours: str
    peer: str
    ratio: str
    target: str = ""


def run(cmd: list[str], clean: list[Path] = ()) -> float:
    """Wall seconds of one command, after removing ``clean`` and ``sync``."""
    for path in clean:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def interleaved(ours, peer, repeat: int) -> tuple[float, float, float]:
    """Median seconds of ``ours`` and ``peer`` (callables returning seconds), run in turn
    ``repeat`` times, and the median of the per-round ratios ours / peer."""
    a, b = [], []
    for _ in range(repeat):
        a.append(ours())
        b.append(peer())
    return statistics.median(a), statistics.median(b), statistics.median(x / y for x, y in zip(a, b))


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def star_rows(w: Path, n: int, repeat: int, relion_repeat: int) -> list[Row]:
    path = bench_particles.benchmark_file(w, n)
    out, relion_out = w / "star_out", w / "relion_out.star"
    ours_cmd = bench_particles.cryodedup_cmd(path, out)
    relion = bench_particles.relion_cmd(path, relion_out)
    t_ours = statistics.median(run(ours_cmd, [out]) for _ in range(repeat))
    t_relion = statistics.median(run(relion, [relion_out]) for _ in range(relion_repeat))
    shutil.rmtree(out, ignore_errors=True)
    relion_out.unlink(missing_ok=True)
    return [
        Row(
            f"{star_size(path, n)}, end to end",
            f"{t_ours:.2f} s",
            f"relion_star_handler --remove_duplicates {t_relion:.1f} s",
            f"{t_relion / t_ours:.1f}x faster",
            f">= 50x: {met(t_relion / t_ours >= 50)}",
        )
    ]


def star_size(path: Path, n: int) -> str:
    return f"{n:,} particles, RELION 3.1 STAR ({path.stat().st_size / 1e6:.0f} MB)"


def plot_rows(w: Path, n: int, repeat: int) -> list[Row]:
    path = bench_particles.benchmark_file(w, n)
    out = w / "plot_out"
    plain = bench_particles.cryodedup_cmd(path, out)
    t_plot, t_plain, ratio = interleaved(lambda: run([*plain, "--plot"], [out]), lambda: run(plain, [out]), repeat)
    shutil.rmtree(out, ignore_errors=True)
    return [
        Row(
            f"{star_size(path, n)}, --plot (median of {repeat} interleaved)",
            f"{t_plot:.2f} s",
            f"the same job without --plot {t_plain:.2f} s",
            f"{ratio:.2f}x the time",
            f"<= 1.5x: {met(ratio <= 1.5)}",
        )
    ]


# cryosparc-tools in a fresh interpreter, as the CLI runs: import, load, save.
TOOLS_SCRIPT = "import sys; from cryosparc.dataset import Dataset; Dataset.load(sys.argv[1]).save(sys.argv[2])"
JOB_SCRIPT = (
    "import sys; from cryodedup import ParticleOptions, remove_duplicate_particles; "
    "remove_duplicate_particles([sys.argv[1]], sys.argv[2], ParticleOptions())"
)


def timed_in_process(script: str, *args: str) -> float:
    """Seconds of the work after the imports, measured inside a fresh interpreter."""
    wrapped = (
        "import sys, time; import numpy; start = time.perf_counter(); "
        f"exec({script!r}); print(time.perf_counter() - start)"
    )
    prelude = "from cryosparc.dataset import Dataset; import cryodedup.formats.cryosparc.particles; "
    done = subprocess.run([sys.executable, "-c", prelude + wrapped, *args], check=True, capture_output=True, text=True)
    return float(done.stdout.split()[-1])


def cs_rows(w: Path, n: int, repeat: int) -> list[Row]:
    path = w / f"particles_{n}_extract_2d.cs"
    if not path.exists():
        write_cs(path, cs_particles(np.random.default_rng(0), n))
    out, copy = w / "cs_out", w / "cs_copy.cs"
    cli = [shutil.which("cryodedup") or "cryodedup", "particles", str(path), "-o", str(out), "--quiet"]
    tools = [sys.executable, "-c", TOOLS_SCRIPT, str(path), str(copy)]
    t_cli, t_tools, r_cli = interleaved(lambda: run(cli, [out]), lambda: run(tools, [copy]), repeat)

    def job() -> float:
        shutil.rmtree(out, ignore_errors=True)
        return timed_in_process(JOB_SCRIPT, str(path), str(out))

    def load_save() -> float:
        copy.unlink(missing_ok=True)
        return timed_in_process(TOOLS_SCRIPT, str(path), str(copy))

    t_job, t_load_save, r_job = interleaved(job, load_save, repeat)
    shutil.rmtree(out, ignore_errors=True)
    copy.unlink(missing_ok=True)
    size = f"{n:,} particles, CryoSPARC .cs, Extract + 2D slots ({path.stat().st_size / 1e6:.0f} MB)"
    return [
        Row(
            f"{size}, end to end (median of {repeat} interleaved)",
            f"{t_cli:.2f} s",
            f"cryosparc-tools import, Dataset.load + save {t_tools:.2f} s",
            f"{r_cli:.2f}x the time",
            f"<= 1.0x: {met(r_cli <= 1.0)}",
        ),
        Row(
            f"{size}, in process, imports done (median of {repeat} interleaved)",
            f"remove_duplicate_particles {t_job:.2f} s",
            f"Dataset.load + save {t_load_save:.2f} s",
            f"{r_job:.2f}x the time",
        ),
    ]


def picks_rows(w: Path, n: int, repeat: int) -> list[Row]:
    root = bench_picks_merge.make(w, n, 500)
    bench_picks_merge.wait_after_deletion(root)
    bench_picks_merge.time_read_floor(root)  # the inputs in the page cache for both
    ours, _ = bench_picks_merge.time_cryodedup(root, repeat)
    peer = bench_picks_merge.time_starfile(root)
    bench_picks_merge.remove_outputs(root)
    return [
        Row(
            f"{n:,} picks of two pickers ({n // 500:,} files), merged end to end",
            f"{ours:.2f} s",
            f"starfile.read of every file {peer:.2f} s",
            f"{peer / ours:.1f}x faster",
        )
    ]


def micrograph_rows(w: Path, n: int, repeat: int) -> list[Row]:
    folder = w / "micrographs"
    bench_micrographs.make_k3_set(folder, n)
    files = sorted((folder / "float32").glob("mic_*.mrc"))[:n]
    options = MicrographOptions(candidates="window", window=8)
    pairs = candidate_pairs(n, candidate_offsets(options, n))
    binning = round(options.target_psize / bench_micrographs.PSIZE)
    out = folder / "run_all_out"

    def job() -> float:
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        find_duplicate_micrographs(files, out, options)
        return time.perf_counter() - start

    t_job, t_numpy, r_numpy = interleaved(job, lambda: bench_micrographs.numpy_reference(files, pairs)[0], repeat)
    _, t_floor, r_floor = interleaved(job, lambda: bench_micrographs.read_and_bin(files, binning), repeat)
    shutil.rmtree(out, ignore_errors=True)
    work = f"{n} K3 micrographs (float32), window 8 ({len(pairs)} pairs), in process"
    return [
        Row(
            work,
            f"{t_job:.2f} s",
            f"plain numpy pipeline {t_numpy:.2f} s",
            f"{1 / r_numpy:.1f}x faster",
            f">= 25x: {met(1 / r_numpy >= 25)}",
        ),
        Row(
            work, f"{t_job:.2f} s", f"reading and binning only (2 threads) {t_floor:.2f} s", f"{r_floor:.2f}x the time"
        ),
    ]


def scale_rows(w: Path, sizes: list[int]) -> list[Row]:
    chunk = bench_scale.generated_chunk(w, min(bench_scale.CHUNK, sizes[0]))
    rows = []
    for n in sizes:
        r = bench_scale.measure(w, n, chunk, warm=False)
        rows.append(
            Row(
                f"{n:,} particles ({r['file_bytes'] / 1e9:.1f} GB), cold page cache, end to end",
                f"{r['seconds']:.1f} s (to disk {r['flushed']:.1f} s)",
                f"peak memory {r['peak_rss'] / 1e9:.2f} GB",
                f"{r['peak_rss'] / n:.0f} bytes per particle",
            )
        )
    return rows


def dense_rows(w: Path, n: int) -> list[Row]:
    spread = bench_dense.run_end_to_end(w, "spread", n)
    spot = bench_dense.run_end_to_end(w, "cluster", n)
    return [
        Row(
            f"{n:,} picks on one spot, end to end",
            f"{spot['seconds']:.2f} s, {spot['peak_gb']:.2f} GB",
            f"the same number spread over micrographs {spread['seconds']:.2f} s",
            f"{spot['seconds'] / spread['seconds']:.2f}x the time",
        )
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small inputs, one run each: a smoke test, not a measurement")
    ap.add_argument("--only", nargs="+", choices=BENCHMARKS, default=BENCHMARKS)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each interleaved pair (median)")
    ap.add_argument("--relion-repeat", type=int, default=1, help="runs of relion_star_handler (median)")
    ap.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out")
    args = ap.parse_args()
    sizes, repeat = (QUICK, 1) if args.quick else (FULL, args.repeat)
    w = args.workdir.resolve()
    w.mkdir(parents=True, exist_ok=True)
    bench_picks_merge.compile_bytecode()  # as pip install does: no run pays for compiling the modules
    rows: list[Row] = []
    todo = {
        "star": lambda: star_rows(w, sizes["star"], repeat, args.relion_repeat),
        "cs": lambda: cs_rows(w, sizes["cs"], repeat),
        "plot": lambda: plot_rows(w, sizes["star"], repeat),
        "picks": lambda: picks_rows(w, sizes["picks"], repeat),
        "micrographs": lambda: micrograph_rows(w, sizes["k3"], repeat),
        "scale": lambda: scale_rows(w, SCALE_QUICK if args.quick else SCALE_FULL),
        "dense": lambda: dense_rows(w, sizes["dense"]),
    }
    for name in BENCHMARKS:
        if name in args.only and name in todo:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            rows += todo[name]()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True
    ).stdout.strip()
    print(f"\ncommit {commit}, {os.cpu_count()} cores, {' '.join(sys.argv)}\n")
    print("| work | cryodedup | peer, same run | ratio | target |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.work} | {r.ours} | {r.peer} | {r.ratio} | {r.target} |")


if __name__ == "__main__":
    main()
