"""Memory and time of the same-image check (issue 58, item 15): repeated image names and not.

For each size, two RELION particle STAR files are written (bench_scale's generator: blocks of
one generated chunk of 1M rows, micrographs renamed per block): ``distinct`` (every
``rlnImageName`` once) and ``repeats`` (the same rows, then a copy of every 33rd row, about 3 %,
moved 100 px in x, as a join of two refined selections leaves them: the copies come after
every original row, so the distance rule keeps both rows of each such image). On each,
``cryodedup particles --min-dist 20`` runs with ``--same-image warn`` (the default) and with
``--same-image ignore`` (the image column not read: the job without the check), interleaved
(warn, ignore, warn, ignore, ...) so that a busy machine's slow minutes fall on both alike.
Each run starts from a cold page cache (the file dropped from it, as bench_scale does).

While a job runs, its ``/proc/PID/status`` is read every 50 ms: the peaks of RssAnon (the
job's own memory: it cannot be reclaimed, it is what a cluster's memory limit meets) and of
RssFile (the input's pages mapped, which the kernel takes back when it needs them), and VmHWM
at the end. Reported per size and file: the fastest wall time of each mode, the check's cost
(warn over ignore), peak RssAnon and RssAnon per particle above a fixed base (the peak of a
run on 1000 particles), the whole run's outputs' ``kept`` count and the images the check found.

Usage: python benches/bench_same_image_memory.py [--sizes 1000000 10000000 30000000] [--repeat 3]
       [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import CHUNK, SCORE, drop_from_cache, generated_chunk

#: Every this many rows one is there a second time (about 3 %).
REPEAT_EVERY = 33
#: How far the second row of an image lies from the first (pixels in x): beyond --min-dist.
REPEAT_SHIFT_PX = 100.0
SAMPLE_SECONDS = 0.05


def shifted_copy(line: str, x_field: int) -> str:
    """The row ``line`` with its x coordinate moved by :data:`REPEAT_SHIFT_PX` (a refined copy)."""
    fields = line.split()
    fields[x_field] = f"{float(fields[x_field]) + REPEAT_SHIFT_PX:.6f}"
    return " ".join(fields) + " \n"


def write_file(path: Path, n: int, chunk: tuple[str, list[str]], repeats: bool) -> None:
    """``n`` rows as bench_scale writes them; with ``repeats``, then every 33rd row again, moved."""
    header, lines = chunk
    particles_loop = header[header.rindex("loop_") :]  # (the optics table's labels come first)
    labels = [line.split()[0] for line in particles_loop.splitlines() if line.startswith("_rln")]
    x_field = labels.index("_rlnCoordinateX")
    copies = [shifted_copy(line, x_field) for line in lines[::REPEAT_EVERY]] if repeats else []
    with open(path, "w") as out:
        out.write(header)
        for second in (False, True) if repeats else (False,):
            done, block = 0, 0
            while done < n:
                take = min(len(lines), n - done)
                rows = copies[: (take + REPEAT_EVERY - 1) // REPEAT_EVERY] if second else lines[:take]
                out.write("".join(rows).replace("Movies/mic", f"Movies/B{block:04d}_mic"))
                done, block = done + take, block + 1
        out.write("\n")


def status_kb(pid: int) -> dict[str, int]:
    """RssAnon, RssFile and VmHWM (kB) of process ``pid`` now (empty once it has ended)."""
    found = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("RssAnon", "RssFile", "VmHWM"):
                    found[key] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


def run_job(path: Path, outdir: Path, mode: str) -> dict:
    """One cold run of the job on ``path`` with ``--same-image mode``, sampled every 50 ms."""
    shutil.rmtree(outdir, ignore_errors=True)
    drop_from_cache(path)
    command = [sys.executable, "-m", "cryodedup", "particles", str(path), "-o", str(outdir)]
    command += ["--min-dist", "20", "--score", SCORE, "--json", "--same-image", mode]
    peaks = {"RssAnon": 0, "RssFile": 0, "VmHWM": 0}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while job.poll() is None:
        for key, kb in status_kb(job.pid).items():
            peaks[key] = max(peaks[key], kb)
        time.sleep(SAMPLE_SECONDS)
    seconds = time.perf_counter() - start
    out, err = job.communicate()
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ended.ru_utime + ended.ru_stime - children.ru_utime - children.ru_stime
    if job.returncode != 0:
        sys.exit(f"cryodedup failed on {path} ({mode}):\n{err}")
    summary = json.loads(out)
    shutil.rmtree(outdir, ignore_errors=True)
    found = summary.get("same_image") or {}
    return {
        "seconds": seconds,
        "cpu": cpu,
        "anon": peaks["RssAnon"] * 1024,
        "file": peaks["RssFile"] * 1024,
        "hwm": peaks["VmHWM"] * 1024,
        "kept": summary["kept"],
        "twice": found.get("images_kept_twice", "-"),
    }


def measure(workdir: Path, n: int, chunk: tuple[str, list[str]], repeat: int) -> dict[tuple[str, str], list[dict]]:
    """Every run on the two files of ``n`` rows, interleaved: {(file, mode): [runs]}."""
    runs: dict[tuple[str, str], list[dict]] = {}
    for kind in ("distinct", "repeats"):
        path = workdir / f"same_image_{n}_{kind}.star"
        print(f"{n:>11,} {kind}: writing {path} ...", file=sys.stderr, flush=True)
        write_file(path, n, chunk, kind == "repeats")
        try:
            for k in range(repeat):
                for mode in ("warn", "ignore") if k % 2 == 0 else ("ignore", "warn"):
                    done = run_job(path, workdir / "same_image_out", mode)
                    runs.setdefault((kind, mode), []).append(done)
                    print(
                        f"{'':>11}  {mode}: {done['seconds']:.2f} s (CPU {done['cpu']:.2f} s), "
                        f"RssAnon {done['anon'] / 1e6:,.0f} MB, "
                        f"RssFile {done['file'] / 1e6:,.0f} MB, kept twice {done['twice']}",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            path.unlink(missing_ok=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000, 30_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode on each file, interleaved")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    chunk = generated_chunk(args.workdir, min(CHUNK, max(args.sizes)))
    base_runs = measure(args.workdir, 1000, chunk, 1)
    base = max(r["anon"] for runs in base_runs.values() for r in runs)
    print(f"\nfixed base (peak RssAnon of a 1000-particle run): {base / 1e6:.0f} MB; cores: {os.cpu_count()}")
    print(
        f"fastest of {args.repeat} interleaved cold runs per mode (wall; CPU: user + system); memory: the highest peak"
    )
    print(
        "| particles | names | --same-image | wall | CPU | check's cost (warn / ignore: wall, CPU) | peak RssAnon "
        "| RssAnon B/particle above base | peak RssFile | VmHWM | kept | images kept twice | every run |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        runs = measure(args.workdir, n, chunk, args.repeat)
        for kind in ("distinct", "repeats"):
            ignore = min(r["seconds"] for r in runs[(kind, "ignore")])
            ignore_cpu = min(r["cpu"] for r in runs[(kind, "ignore")])
            for mode in ("warn", "ignore"):
                done = runs[(kind, mode)]
                fastest = min(r["seconds"] for r in done)
                least_cpu = min(r["cpu"] for r in done)
                anon = max(r["anon"] for r in done)
                cost = f"{fastest / ignore:.3f}, {least_cpu / ignore_cpu:.3f}" if mode == "warn" else "-"
                print(
                    f"| {n:,} | {kind} | {mode} | {fastest:.2f} s | {least_cpu:.2f} s | {cost} | "
                    f"{anon / 1e6:,.0f} MB | "
                    f"{(anon - base) / n:.1f} | {max(r['file'] for r in done) / 1e6:,.0f} MB | "
                    f"{max(r['hwm'] for r in done) / 1e6:,.0f} MB | {done[0]['kept']:,} | {done[0]['twice']} | "
                    + " / ".join(f"{r['seconds']:.2f}" for r in done)
                    + " |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
