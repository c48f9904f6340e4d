"""Scale benchmark of the particle job: peak memory and time per particle against file size.

For each size, a RELION 3.1 particle STAR (30 columns, every one RELION's Extract and 2D
classification write, 10 % second picks, about 350 bytes per row) is written on disk,
``cryodedup particles`` runs on it in a subprocess under GNU time (Debian package ``time``:
peak resident memory), and the input and outputs are deleted before the next size. The file is
written as blocks of one generated chunk of 1M rows (``fixtures.synthetic
.write_benchmark_file``), each block's micrographs renamed, so that a 35 GB file takes minutes
to write, not an hour; every particle's duplicates stay within its block.

Each run starts as a run on a file written hours earlier would: the file is synced and its
pages dropped from the page cache (``posix_fadvise(DONTNEED)``, no root needed), so that
every size is read from the disk and the sizes compare like with like (a 100M file cannot
be cached on this machine anyway). ``--warm`` reads the file once before the run instead
(the case of a file just written, which only small sizes can have).

Reported per size: file size, wall time, time per particle and its ratio to the smallest
size's, peak RSS, and bytes per particle above a fixed buffer (peak RSS minus the peak of a
run on 1000 particles, which holds Python, numpy and the extension), and the job's own
split of the time (read = index and scan, decide = dedup, write) from its ``--json``
summary ("one pass" where the rows were decided and written during the scan, all of it
then under read), and the marginal bytes per particle (peak RSS added per particle from the
previous size, which the fixed buffers do not enter). Target (issue 12): at most 40 bytes
per particle, time per particle within 1.3x. Also the time until the outputs are on the
disk (the wall time plus a ``sync`` right after): a 10M run returns with all of its
outputs still in the page cache, a 100M run has written all but the last of its own.

With ``--cp`` each size's file is also copied by ``cp`` and synced, from the same page cache
state, as many times as ``--repeat``: the floor of the disk work (the input read, as many
bytes written), against which the job's wall + sync is set.

Usage: python benches/bench_scale.py [--sizes 10000000 30000000 100000000] [--workdir DIR] [--warm]
       [--settle SECONDS] [--repeat R] [--cp]
       python benches/bench_scale.py --quick        (sizes 200k, 600k, 2M)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the data generator: tests/fixtures

from fixtures.synthetic import write_benchmark_file

CHUNK = 1_000_000
SCORE = "rlnMaxValueProbDistribution"


def generated_chunk(workdir: Path, n: int) -> tuple[str, list[str]]:
    """The header and the row lines of a generated particle STAR of ``n`` rows."""
    chunk = workdir / f"chunk_{n}.star"
    write_benchmark_file(chunk, n, seed=0)
    lines = chunk.read_text().splitlines(keepends=True)
    chunk.unlink()
    last_label = max(i for i, line in enumerate(lines) if line.startswith("_"))
    # Shorter micrograph names (mic3000000 for FoilHole_3000000_Data_20240101_000000): rows of
    # about 350 bytes, so that 100M particles take 35 GB, and as much again of outputs.
    rows = [re.sub(r"FoilHole_(\d+)_Data_\d{8}_\d{6}", r"mic\1", line) for line in lines[last_label + 1 :]]
    return "".join(lines[: last_label + 1]), [line for line in rows if line.strip()]


def write_scaled_file(path: Path, n: int, chunk: tuple[str, list[str]]) -> None:
    """A particle STAR of ``n`` rows: blocks of ``chunk``'s rows, micrographs renamed per block."""
    header, lines = chunk
    rows = "".join(lines)
    with open(path, "w") as out:
        out.write(header)
        done, block = 0, 0
        while done < n:
            take = min(len(lines), n - done)
            part = rows if take == len(lines) else "".join(lines[:take])
            out.write(part.replace("Movies/mic", f"Movies/B{block:04d}_mic"))
            done, block = done + take, block + 1
        out.write("\n")


def drop_from_cache(path: Path) -> None:
    """Writes ``path`` to the disk and drops its pages from the page cache."""
    os.sync()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_once(path: Path) -> None:
    """Brings ``path`` into the page cache (as far as it fits)."""
    os.sync()
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def run_job(path: Path, outdir: Path) -> dict:
    """Runs the CLI on ``path``: wall seconds, peak RSS (bytes) and the job's --json summary."""
    rss_file = Path(tempfile.mkstemp()[1])
    cmd = ["cryodedup", "particles", str(path), "-o", str(outdir), "--min-dist", "20", "--score", SCORE, "--json"]
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *cmd], check=False, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"cryodedup failed on {path}:\n{done.stderr}")
    # The outputs still in the page cache when the job returns (all of a 10M run's, none of
    # a 100M run's beyond the kernel's dirty limit) reach the disk here.
    subprocess.run(["sync"], check=True)
    flushed = time.perf_counter() - start
    peak = int(rss_file.read_text().split()[-1]) * 1024  # GNU time prints KiB
    rss_file.unlink()
    return {"seconds": seconds, "flushed": flushed, "peak_rss": peak, "summary": json.loads(done.stdout)}


def copied(path: Path, outdir: Path, warm: bool) -> float:
    """Seconds for ``cp`` of ``path`` into ``outdir`` and a ``sync``, from the page cache as the job starts.

    The floor of the job's disk work: the input read, as many bytes written and on the disk
    (kept and rejected together are the input's rows).
    """
    outdir.mkdir(parents=True, exist_ok=True)
    read_once(path) if warm else drop_from_cache(path)
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    subprocess.run(["cp", str(path), str(outdir / path.name)], check=True)
    subprocess.run(["sync"], check=True)
    return time.perf_counter() - start


def measure(
    workdir: Path,
    n: int,
    chunk: tuple[str, list[str]],
    warm: bool,
    settle: float = 0.0,
    repeat: int = 1,
    cp: bool = False,
) -> dict:
    """The job run ``repeat`` times on a file of ``n`` particles, each run from a cold page
    cache (or a warm one): the fastest run, with the wall times of all and the highest peak RSS;
    with ``cp``, also the fastest of as many ``cp`` + ``sync`` of the file (:func:`copied`).
    """
    path = workdir / f"scale_{n}.star"
    outdir = workdir / f"scale_{n}_out"
    need = 2.05 * n * sum(map(len, chunk[1])) / len(chunk[1])  # the input, then as much again of outputs
    if shutil.disk_usage(workdir).free < need:
        sys.exit(
            f"{n:,} particles need {need / 1e9:.0f} GB free in {workdir}: only "
            f"{shutil.disk_usage(workdir).free / 1e9:.0f} GB"
        )
    print(f"{n:>11,} particles: writing {path} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    write_scaled_file(path, n, chunk)
    size = path.stat().st_size
    print(f"{'':>11}  {size / 1e9:.2f} GB in {time.perf_counter() - start:.0f} s; running ...", file=sys.stderr)
    runs = []
    try:
        for _ in range(repeat):
            shutil.rmtree(outdir, ignore_errors=True)
            read_once(path) if warm else drop_from_cache(path)
            time.sleep(settle)  # the disk as for a file written earlier, not one just written in a burst
            runs.append(run_job(path, outdir))
        copies = []
        for _ in range(repeat if cp else 0):
            shutil.rmtree(outdir, ignore_errors=True)
            time.sleep(settle)
            copies.append(copied(path, outdir, warm))
    finally:
        path.unlink(missing_ok=True)
        shutil.rmtree(outdir, ignore_errors=True)
    result = min(runs, key=lambda r: r["seconds"])
    result.update(n=n, file_bytes=size, walls=[r["seconds"] for r in runs], peak_rss=max(r["peak_rss"] for r in runs))
    result["cp"] = min(copies, default=None)
    return result


def marginal(row: dict, previous: dict | None) -> str:
    """Peak RSS added per particle from the previous size: the per-particle cost, buffers excluded."""
    if previous is None:
        return "-"
    return f"{(row['peak_rss'] - previous['peak_rss']) / (row['n'] - previous['n']):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000_000, 30_000_000, 100_000_000])
    parser.add_argument("--quick", action="store_true", help="sizes 200k, 600k and 2M")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out")
    parser.add_argument("--warm", action="store_true", help="read each file once before its run (page cache warm)")
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds of rest between writing a file and its run (this machine's disk slows after a burst of writes)",
    )
    parser.add_argument(
        "--cp",
        action="store_true",
        help="also time cp of each file and a sync (as many times as --repeat): the disk's floor, the same run",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per size, each from a cold page cache; the fastest is reported (the disk's speed varies 2-3x "
        "from minute to minute here), with every run's wall time",
    )
    args = parser.parse_args()
    sizes = [200_000, 600_000, 2_000_000] if args.quick else args.sizes
    args.workdir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(args.workdir).free
    print(f"{free / 1e9:.0f} GB free in {args.workdir}", file=sys.stderr)
    chunk = generated_chunk(args.workdir, min(CHUNK, max(sizes)))
    baseline = measure(args.workdir, 1000, chunk, args.warm)["peak_rss"]
    rows = []
    for n in sizes:
        rows.append(measure(args.workdir, n, chunk, args.warm, args.settle, args.repeat, args.cp))
        r = rows[-1]
        walls = " / ".join(f"{w:.1f}" for w in r["walls"])
        print(f"{n:,}: {walls} s, peak RSS {r['peak_rss'] / 1e9:.2f} GB, {r['summary'].get('timings')}")
        sys.stdout.flush()
    first = rows[0]["seconds"] / rows[0]["n"]
    first_flushed = rows[0]["flushed"] / rows[0]["n"]
    cache = "warm (each file read once before its run)" if args.warm else "cold (each file dropped from the page cache)"
    print(f"\nfixed buffer (peak RSS at 1000 particles): {baseline / 1e6:.0f} MB; cores: {os.cpu_count()}; {cache}")
    if args.repeat > 1:
        print(f"fastest of {args.repeat} runs per size (every run's wall time in the last column)")
    print(
        "| particles | file | wall | µs/particle | ratio to first | peak RSS | B/particle above 1k run "
        "| B/particle marginal | read | decide | write | wall + sync of the outputs | ratio to first "
        "| cp + sync of the input | wall + sync / cp + sync | every run |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r, previous in zip(rows, [None, *rows[:-1]]):
        per = r["seconds"] / r["n"]
        parts = r["summary"].get("timings", {})
        print(
            f"| {r['n']:,} | {r['file_bytes'] / 1e9:.2f} GB | {r['seconds']:.1f} s | {per * 1e6:.2f} | "
            f"{per / first:.2f} | {r['peak_rss'] / 1e9:.2f} GB | {(r['peak_rss'] - baseline) / r['n']:.1f} | "
            f"{marginal(r, previous)} | "
            + " | ".join(f"{parts.get(k, float('nan')):.1f} s" for k in ("read", "decide", "write"))
            + (" (one pass)" if parts.get("one_pass") else "")
            + f" | {r['flushed']:.1f} s | {r['flushed'] / r['n'] / first_flushed:.2f} | "
            + (f"{r['cp']:.1f} s | {r['flushed'] / r['cp']:.2f}x | " if r["cp"] else "- | - | ")
            + " / ".join(f"{w:.1f} s" for w in r["walls"])
            + " |"
        )


if __name__ == "__main__":
    main()
