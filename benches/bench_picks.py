"""Benchmark of reading picker files (issue 10): two pickers' outputs merged end to end
against reading them with starfile alone.

Generates ``--picks`` picks in total over ``--micrographs`` micrographs: one picker writes
RELION 3.1 per-micrograph ``Movies/<mic>_autopick.star`` files (centre, figure of merit),
the other crYOLO ``CBOX/<mic>.cbox`` files (lower-left corner, box size, confidence, ``<NA>``
in unused columns); ``--shared`` of the picks are found by both, within 3 pixels. Then times

(a) ``starfile.read`` of every file (the peer floor; with ``--sample F`` only a random
    fraction F of the files, scaled to all of them, and said so);
(b) ``cryodedup.formats.picks.read_picks`` of each picker's folder;
(c) the end-to-end job (:func:`end_to_end`): read both, centres to Å, ``cryodedup.dedup``,
    kept and rejected written with the RELION writer.

Files are written under ``--workdir`` (a fresh folder in /tmp by default) and deleted at the
end. The page cache is warm for every tool alike (each timed part reads files that were
just written or read).

Usage: python benches/bench_picks.py [--picks N] [--micrographs M] [--sample F]
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import cryodedup
from cryodedup.formats.picks import read_picks
from cryodedup.formats.picks.write import write_relion

PSIZE = 1.06
SHAPE = (4096, 4096)  # ny, nx
BOX = 128
RELION_HEADER = (
    "\n# version 30001\n\ndata_\n\nloop_ \n_rlnCoordinateX #1 \n_rlnCoordinateY #2 \n"
    "_rlnClassNumber #3 \n_rlnAutopickFigureOfMerit #4 \n_rlnAnglePsi #5 \n"
)
CBOX_HEADER = (
    "\ndata_global\n\n_version 1.4.1\n\ndata_cryolo\n\nloop_\n_CoordinateX #1\n_CoordinateY #2\n"
    "_CoordinateZ #3\n_Width #4\n_Height #5\n_Depth #6\n_EstWidth #7\n_EstHeight #8\n_Confidence #9\n"
    "_NumBoxes #10\n_Angle #11\n"
)


def generate(workdir: Path, n_picks: int, n_mics: int, shared: float, seed: int = 0) -> tuple[Path, Path]:
    """Writes both pickers' folders; returns (RELION job folder, crYOLO folder)."""
    rng = np.random.default_rng(seed)
    relion, cryolo = workdir / "AutoPick" / "job010", workdir / "cryolo"
    (relion / "Movies").mkdir(parents=True)
    (cryolo / "CBOX").mkdir(parents=True)
    per_picker = n_picks // (2 * n_mics)
    n_shared = int(shared * per_picker)
    for m in range(n_mics):
        name = f"FoilHole_{m:06d}_Data"
        a = rng.uniform(BOX, SHAPE[1] - BOX, (per_picker, 2))
        b = rng.uniform(BOX, SHAPE[1] - BOX, (per_picker, 2))
        b[:n_shared] = a[:n_shared] + rng.normal(0, 1.5, (n_shared, 2))
        fom = rng.normal(1.0, 0.5, per_picker)
        conf = rng.uniform(0.3, 1.0, per_picker)
        rows = np.column_stack([a, np.full(per_picker, -999.0), fom, np.full(per_picker, -999.0)])
        text = ("%12.6f %12.6f %d %12.6f %12.6f \n" * per_picker) % tuple(rows.ravel())
        (relion / "Movies" / f"{name}_autopick.star").write_text(RELION_HEADER + text + "\n")
        corner = b - BOX / 2
        rows = np.column_stack([corner, np.full(per_picker, BOX), conf])
        text = ("%.1f\t%.1f\t<NA>\t%d\t%d\t<NA>\t<NA>\t<NA>\t%.3f\t<NA>\t<NA>\n" * per_picker) % tuple(
            np.column_stack([rows[:, :2], rows[:, 2], rows[:, 2], rows[:, 3]]).ravel()
        )
        (cryolo / "CBOX" / f"{name}.cbox").write_text(CBOX_HEADER + text)
    return relion, cryolo


def time_starfile(files: list[Path], sample: float, seed: int = 0) -> tuple[float, int]:
    """Seconds for ``starfile.read`` of all ``files`` (a random fraction ``sample`` timed and
    scaled when < 1), and the number of files timed."""
    import starfile

    chosen = files if sample >= 1 else random.Random(seed).sample(files, max(1, int(len(files) * sample)))
    start = time.perf_counter()
    for f in chosen:
        starfile.read(f)
    return (time.perf_counter() - start) * len(files) / len(chosen), len(chosen)


def end_to_end(relion: Path, cryolo: Path, outdir: Path, min_dist: float = 40.0) -> tuple[int, int]:
    """The job the CLI will run: both pickers read, centres in Å, duplicates removed across
    them (best figure of merit / confidence kept: ranks, as scores are not on one scale),
    kept and rejected written as a RELION coordinate job. Returns (picks, kept)."""
    inputs = [read_picks(relion), read_picks(cryolo)]
    names, groups = [], []
    index: dict[str, int] = {}
    for picks in inputs:
        ids = np.array([index.setdefault(n, len(index)) for n in picks.micrographs], dtype=np.int64)
        groups.append(ids[picks.micrograph])
    names = list(index)
    del names
    ranks = [np.argsort(np.argsort(p.score)) / max(len(p) - 1, 1) for p in inputs]
    result = cryodedup.dedup(
        np.concatenate(groups),
        np.concatenate([p.centres for p in inputs]) * PSIZE,
        np.concatenate(ranks),
        min_dist=min_dist,
    )
    write_relion(inputs, result.keep, outdir, force=True)
    return len(result.keep), int(result.keep.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--picks", type=int, default=10_000_000, help="picks of both pickers together")
    parser.add_argument("--micrographs", type=int, default=5000)
    parser.add_argument("--shared", type=float, default=0.1, help="fraction of picks both pickers find")
    parser.add_argument("--sample", type=float, default=0.1, help="fraction of files starfile reads (scaled)")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_picks_"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        relion, cryolo = generate(workdir, args.picks, args.micrographs, args.shared)
        files = sorted((relion / "Movies").iterdir()) + sorted((cryolo / "CBOX").iterdir())
        size = sum(f.stat().st_size for f in files)
        print(f"generated {len(files)} files, {size / 1e6:.0f} MB, in {time.perf_counter() - start:.1f} s")

        floor, timed = time_starfile(files, args.sample)
        scaled = f" ({timed} of {len(files)} files timed, scaled)" if timed < len(files) else ""
        print(f"(a) starfile.read, all files: {floor:.2f} s{scaled}")

        start = time.perf_counter()
        n = sum(len(read_picks(folder)) for folder in (relion, cryolo))
        read = time.perf_counter() - start
        print(f"(b) read_picks, both pickers: {read:.2f} s, {n} picks; {floor / read:.1f}x faster than (a)")

        start = time.perf_counter()
        n, kept = end_to_end(relion, cryolo, workdir / "out")
        job = time.perf_counter() - start
        print(
            f"(c) end to end (read, dedup, write RELION): {job:.2f} s, {n} picks, {kept} kept; "
            f"{floor / job:.1f}x faster than (a)"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
