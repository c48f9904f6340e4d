"""Benchmark: two pickers' RELION 4 coordinate jobs merged end to end by
``cryodedup particles`` against reading the same files with starfile alone (the floor of any
Python tool built on it).

Each picker is an ``autopick.star`` list and one ``Movies/*_autopick.star`` per micrograph
(``--per-mic`` picks each, ``rlnCoordinateX/Y`` and ``rlnAutopickFigureOfMerit``); the
second picker's picks lie within a few pixels of the first's on half of them. Files are made
once in ``--workdir``; each timed run writes a new output folder (see time_cryodedup).

Besides starfile, two floors measured in the same run with plain Python: reading every
input file (open + one read each), and creating the output files with one write each
(as many files, as many bytes as the run wrote). The run's own split (read, decide,
write) comes from its ``--json`` timings.

Files are created as fast as usual only minutes after a mass deletion: ext4 (here without a
journal) passes over inodes freed in the last 1-6 minutes when it makes a file, and after
the 60,000 files of an earlier run were deleted, creating the run's 20,002 took 3-8x as long
(``recently_deleted`` in ``perf``). The outputs are deleted when the benchmark ends, and the
time noted in the work folder: a benchmark started sooner than 6 minutes after it waits.

The package's bytecode is written before the runs, as pip writes it when it installs a
wheel: from a source tree (an editable install) under ``PYTHONDONTWRITEBYTECODE``, every run
would compile every module again (0.1-0.2 s here), which no installed copy does.

Usage: python benches/bench_picks_merge.py [--picks N] [--per-mic K] [--repeat R] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HEADER = (
    "\n# version 30001\n\ndata_\n\nloop_ \n_rlnCoordinateX #1 \n_rlnCoordinateY #2 \n_rlnAutopickFigureOfMerit #3 \n"
)


def write_picker(root: Path, job: str, n_mics: int, per_mic: int, seed: int, base: np.ndarray | None) -> np.ndarray:
    """One picker's AutoPick job under ``root``; returns its coordinates (mics, per_mic, 2)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 4000, (n_mics, per_mic, 2)) if base is None else base + rng.normal(0, 3, base.shape)
    if base is not None:
        far = rng.random((n_mics, per_mic)) < 0.5
        xy[far] = rng.uniform(0, 4000, (int(far.sum()), 2))
    folder = root / job / "Movies"
    folder.mkdir(parents=True, exist_ok=True)
    listing = ["", "# version 30001", "", "data_coordinate_files", "", "loop_ ", "_rlnMicrographName #1 "]
    listing.append("_rlnMicrographCoordinates #2 ")
    for m in range(n_mics):
        scores = rng.uniform(0, 1, per_mic)
        rows = "".join(f"{x:12.6f} {y:12.6f} {s:12.6f} \n" for (x, y), s in zip(xy[m], scores))
        (folder / f"mic{m:06d}_autopick.star").write_text(HEADER + rows + "\n")
        listing.append(f"MotionCorr/job002/Movies/mic{m:06d}.mrc {job}/Movies/mic{m:06d}_autopick.star ")
    (root / job / "autopick.star").write_text("\n".join(listing) + "\n\n")
    return xy


def make(workdir: Path, n: int, per_mic: int) -> Path:
    root = workdir / f"picks_{n}"
    if not (root / "AutoPick/job011/autopick.star").exists():
        print(f"generating {root} ...", file=sys.stderr)
        n_mics = max(1, n // (2 * per_mic))
        first = write_picker(root, "AutoPick/job010", n_mics, per_mic, 1, None)
        write_picker(root, "AutoPick/job011", n_mics, per_mic, 2, first)
    return root


def compile_bytecode() -> None:
    """The installed package's modules compiled to bytecode once (see the module's docstring)."""
    import compileall

    import cryodedup

    compileall.compile_dir(os.path.dirname(cryodedup.__file__), quiet=1)


#: Minutes after a mass deletion until ext4 creates files at its usual speed (see the module's docstring).
DELETION_SETTLES_MINUTES = 6


def remove_outputs(root: Path) -> None:
    """Deletes the runs' outputs, and notes when (see :func:`wait_after_deletion`)."""
    for folder in ("Dedup", "floor"):
        shutil.rmtree(root / folder, ignore_errors=True)
    (root.parent / "deleted_at").write_text(str(time.time()))


def wait_after_deletion(root: Path) -> None:
    """Waits until the last deletion of outputs is :data:`DELETION_SETTLES_MINUTES` old."""
    stamp = root.parent / "deleted_at"
    if (root / "Dedup").exists() or (root / "floor").exists():
        remove_outputs(root)  # left by an interrupted run
    if not stamp.exists():
        return
    left = float(stamp.read_text()) + 60 * DELETION_SETTLES_MINUTES - time.time()
    if left > 0:
        print(
            f"waiting {left:.0f} s: outputs were deleted less than {DELETION_SETTLES_MINUTES} minutes ago",
            file=sys.stderr,
        )
        time.sleep(left)


def time_cryodedup(root: Path, repeat: int) -> tuple[float, dict]:
    """Best of ``repeat`` runs, each into a new output folder, as a user runs a new job; and its timings.

    Outputs are removed only after all timings: on a disk mounted with ``discard`` (as
    here), creating thousands of files right after deleting thousands costs several
    seconds of file-system work that belongs to the deletion, not to the run.
    """
    best, timings = float("inf"), {}
    for k in range(repeat):
        cmd = ["cryodedup", "particles", "AutoPick/job010", "AutoPick/job011", "--mic-psize", "1.0"]
        cmd += ["--min-dist", "20", "-o", f"Dedup/job{50 + k:03d}", "--quiet", "--json"]
        start = time.perf_counter()
        out = subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True).stdout
        elapsed = time.perf_counter() - start
        if elapsed < best:
            best, timings = elapsed, json.loads(out)["timings"]
    return best, timings


def time_read_floor(root: Path) -> float:
    """Every input file opened and read in one call, in plain Python."""
    files = sorted((root / "AutoPick").glob("job01[01]/Movies/*.star"))
    start = time.perf_counter()
    for path in files:
        with open(path, "rb") as f:
            f.read()
    return time.perf_counter() - start


def time_write_floor(root: Path) -> float:
    """As many files as the run wrote, of their sizes, created with one write each in plain Python."""
    written = sorted(p for p in (root / "Dedup/job050").rglob("*") if p.is_file())
    sizes = [p.stat().st_size for p in written]
    floor = root / "floor"
    shutil.rmtree(floor, ignore_errors=True)
    folders = {p.parent.relative_to(root / "Dedup/job050") for p in written}
    for folder in folders:
        (floor / folder).mkdir(parents=True, exist_ok=True)
    targets = [str(floor / p.relative_to(root / "Dedup/job050")) for p in written]
    start = time.perf_counter()
    for target, size in zip(targets, sizes):
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, b"x" * size)
        os.close(fd)
    return time.perf_counter() - start


def time_starfile(root: Path) -> float:
    import starfile

    start = time.perf_counter()
    for job in ("AutoPick/job010", "AutoPick/job011"):
        listing = starfile.read(root / job / "autopick.star")
        for path in listing["rlnMicrographCoordinates"]:
            starfile.read(root / path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--picks", type=int, default=1_000_000, help="picks of both pickers together")
    parser.add_argument("--per-mic", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a small check: 100,000 picks, one run")
    parser.add_argument("--workdir", type=Path, default=Path("benches/out"))
    args = parser.parse_args()
    if args.quick:
        args.picks, args.repeat = 100_000, 1
    root = make(args.workdir, args.picks, args.per_mic)
    wait_after_deletion(root)
    compile_bytecode()
    time_read_floor(root)  # the inputs in the page cache for every contestant (another job may have evicted them)
    read_floor = time_read_floor(root)
    ours, timings = time_cryodedup(root, args.repeat)
    write_floor = time_write_floor(root)
    floor = time_starfile(root)
    remove_outputs(root)
    print("| measurement | cryodedup | starfile (reading only) | ratio |")
    print("|---|---|---|---|")
    print(f"| {args.picks:,} picks, two pickers, end to end | {ours:.2f} s | {floor:.2f} s | {floor / ours:.1f}x |")
    print()
    print("| part (in the job, --json timings) | seconds | plain-Python floor of the same run |")
    print("|---|---|---|")
    print(f"| read | {timings['read']:.2f} | reading every input file: {read_floor:.2f} s |")
    print(f"| decide | {timings['decide']:.2f} | |")
    print(f"| write | {timings['write']:.2f} | creating the output files, one write each: {write_floor:.2f} s |")
    print(f"| rest (start-up, summary) | {ours - sum(timings.values()):.2f} | |")


if __name__ == "__main__":
    main()
