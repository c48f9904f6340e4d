"""Benchmark of ``cryodedup micrographs --update``: new K3 images into a screened set.

The screened set (``--screened``, default 5000) is made as an earlier ``--update`` run would
have left it, without reading 5000 K3 images: the old micrographs are sparse MRC files (a
real header, pixels never written, no disk used), and ``OUTDIR/seen/`` is written directly
(binned images of noise, the window's pairs with scores drawn like unrelated pairs'). Then
``--new`` (default 100) K3 micrographs (5760 x 4092, 0.83 Å/px, float32) are written, each
fifth a second exposure of the area of the one before, and timed:

- the floor: reading and binning only the new files (memory map + the core's binning, 2
  threads), what any method pays for them;
- the comparisons any method makes for the new images (their spectra, those of the window
  before them, and each new image against that window), from the images the round stored:
  with the floor, what the round cannot go below;
- ``find_duplicate_micrographs(..., update=True)`` on the whole set (its defaults: 12 Å,
  ``--candidates auto``, hence a 100-image window), which reads every header, the new images,
  the stored images of their candidates, scores the new pairs and writes the outputs of the
  whole set (pairs.csv of ~510,000 pairs).

Each timed round starts from the state a round over the screened set left (its store and its
outputs, pairs.csv of ~500,000 pairs; put back before each: the outputs by hard links, the store
by a copy), so every round does what the round after a day of screening does. The goal (issue 43): the round costs at
most 1.3x the floor and the comparisons. Files are made once in ``--workdir`` and the new ones
stay in the page cache, as on a machine that has just written them.

Usage: python benches/bench_update.py [--screened 5000] [--new 100] [--shape 4092x5760] [--rounds 3]
Smoke test: python benches/bench_update.py --screened 300 --new 4 --shape 1024x1440
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import sys
import time
from contextlib import closing
from pathlib import Path

import mrcfile
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the data generator: tests/fixtures

from bench_micrographs import read_and_bin
from cryodedup import MicrographOptions, find_duplicate_micrographs
from cryodedup._core import __version__
from cryodedup.formats.micrograph_lists import load_inputs
from cryodedup.jobs.micrographs.plan import micrograph_plan, plan_scoring
from cryodedup.jobs.micrographs.score import ScoredPairs, shard_pairs
from cryodedup.jobs.micrographs.update import (
    DATABASE,
    FORMAT,
    PAGE_BYTES,
    SCHEMA,
    STORE,
    image_crc,
    pack_pairs,
    score_record,
)
from cryodedup.jobs.micrographs.update_inputs import file_stamp
from cryodedup.jobs.store_db import connect, sha256_bytes, transaction
from fixtures.synthetic import specimen_field, write_mrc

PSIZE = 0.83


def sparse_micrographs(folder: Path, count: int, shape: tuple[int, int]) -> list[Path]:
    """``count`` MRC files of ``shape`` float32 pixels whose data was never written (sparse)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"mic_{k:05d}.mrc" for k in range(count)]
    for path in paths:
        if not path.exists():
            with mrcfile.new_mmap(path, shape=shape, mrc_mode=2, overwrite=True) as mrc:
                mrc.voxel_size = PSIZE
    return paths


def new_micrographs(folder: Path, first: int, count: int, shape: tuple[int, int], seed: int = 1) -> list[Path]:
    """``count`` K3-like micrographs numbered from ``first``; each fifth re-exposes the area of the one before."""
    rng = np.random.default_rng(seed)
    wy, wx = shape[0] // 4, shape[1] // 4
    paths, field = [], None
    for k in range(first, first + count):
        path = folder / f"mic_{k:05d}.mrc"
        paths.append(path)
        if path.exists():
            continue
        again = (k - first) % 5 == 4 and field is not None
        if not again:
            field = specimen_field(rng, wy + 200, wx + 300, 4 * PSIZE)
        assert field is not None
        y0, x0 = (int(rng.integers(0, 200)), int(rng.integers(0, 300))) if again else (100, 150)
        window = field[y0 : y0 + wy, x0 : x0 + wx].repeat(4, 0).repeat(4, 1)
        write_mrc(path, 0.3 * window + rng.standard_normal(shape, dtype=np.float32), PSIZE)
    return paths


def seed_store(outdir: Path, old: list[Path], options: MicrographOptions) -> int:
    """``outdir/seen/store.sqlite`` as an ``--update`` run over ``old`` leaves it; returns the pairs stored."""
    mics = load_inputs([str(p) for p in old], options.psize)
    plan = plan_scoring(mics, micrograph_plan(options).scoring)
    store = outdir / STORE
    if store.exists():
        shutil.rmtree(store)
    store.mkdir(parents=True)
    by, bx = plan.shape[0] // plan.binning, plan.shape[1] // plan.binning
    rng = np.random.default_rng(2)
    pairs = shard_pairs(plan, 1, 1)
    z = rng.normal(4.3, 0.3, len(pairs))
    scores: dict[str, np.ndarray] = {"pairs": plan.positions[pairs].reshape(-1, 2), "z": z}
    scores["dy"], scores["dx"] = rng.integers(-50, 50, len(pairs)), rng.integers(-50, 50, len(pairs))
    scores["pearson"] = np.where(z >= 5, rng.normal(0, 0.05, len(pairs)), np.nan)
    scores["overlap"] = np.full(len(pairs), 0.5)
    files = [os.path.abspath(p) for p in mics.paths]  # seen ids = input indices
    layouts = [plan.layouts[q] for q in np.argsort(plan.positions)] if plan.layouts else []
    with closing(connect(store / DATABASE, create=True)) as db:
        db.execute(f"PRAGMA page_size={PAGE_BYTES}")
    with closing(connect(store / DATABASE, create=True)) as db, transaction(db):
        for statement in SCHEMA.split(";"):
            db.execute(statement)
        meta = {
            "format": FORMAT,
            "version": __version__,
            "record": json.dumps(score_record(plan, micrograph_plan(options).recorded).to_json()),
        }
        db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        rows = [(k + 1, f, *file_stamp(f), m.offset, m.dtype, m.psize) for k, (f, m) in enumerate(zip(files, layouts))]
        db.executemany("INSERT INTO micrographs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        images = ((k + 1, rng.standard_normal((by, bx), dtype=np.float32).tobytes()) for k in range(len(files)))
        db.executemany("INSERT INTO images VALUES (?, ?, ?)", ((k, image_crc(k, data), data) for k, data in images))
        data = pack_pairs(ScoredPairs(**scores))
        db.execute("INSERT INTO pairs(sha256, data) VALUES (?, ?)", (sha256_bytes(data), data))
    return len(pairs)


def medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The median wall and the median CPU seconds of ``runs``."""
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def cpu_seconds() -> float:
    """User and system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(work) -> tuple[float, float]:
    """(wall, CPU) seconds of ``work()``."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    work()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def compare_new(outdir: Path, screened: int, new: int, options: MicrographOptions) -> tuple[float, float, int]:
    """(wall, CPU, pairs) of the comparisons any method makes for the new images, as a fresh run makes them.

    The spectra of the new images and of the window before them, and each new image compared
    with the images within the window before it, from the binned images the round stored.
    """
    from cryodedup import _core

    first = max(0, screened - options.window)
    with closing(sqlite3.connect(outdir / STORE / DATABASE)) as db:
        record = json.loads(db.execute("SELECT value FROM meta WHERE key = 'record'").fetchone()[0])
        rows = db.execute("SELECT data FROM images WHERE id > ? ORDER BY id", (first,)).fetchall()
    shape = (record["shape"][0] // record["binning"], record["shape"][1] // record["binning"])
    images = [np.frombuffer(data, np.float32).reshape(shape) for (data,) in rows]  # the window, then the new
    binned_psize = PSIZE * max(1, round(options.target_psize / PSIZE))
    ny, nx = images[0].shape
    bank = _core.SpectrumBank(ny, nx, 1, binned_psize / (25 * binned_psize), binned_psize / (4 * binned_psize))
    offset = screened - first
    pairs = np.array(
        [(p, q) for q in range(offset, offset + new) for p in range(max(0, q - options.window), q)], dtype=np.int64
    )

    def work() -> None:
        bank.store(bank.maker.spectra(list(range(len(images))), images))
        bank.compare(pairs, min(options.min_z, 5.0))

    wall, cpu = timed(work)
    return wall, cpu, len(pairs)


def snapshot(outdir: Path, kept: Path) -> None:
    """``kept``: hard links to the outputs of ``outdir`` and a copy of its store.

    A round replaces its outputs by renames (a link keeps the old file, and pairs.csv's inode,
    by which a round knows the file it appends to) and changes the store's database in place.
    """
    shutil.rmtree(kept, ignore_errors=True)
    (kept / STORE).mkdir(parents=True)
    _put(outdir, kept)


def restore(outdir: Path, kept: Path) -> None:
    """``outdir`` as :func:`snapshot` saw it."""
    shutil.rmtree(outdir)
    (outdir / STORE).mkdir(parents=True)
    _put(kept, outdir)


def _put(source: Path, target: Path) -> None:
    for path in source.iterdir():
        if path.is_file():
            os.link(path, target / path.name)
    for path in (source / STORE).iterdir():
        shutil.copyfile(path, target / STORE / path.name)


def measure(workdir: Path, screened: int, new: int, shape: tuple[int, int], rounds: int = 1) -> dict:
    """Rounds of ``new`` images into ``screened`` (files made once in ``workdir``), each with its floor
    and the comparisons a fresh run makes: (wall, CPU) seconds of each, a list per round.

    The store is seeded once, then a round over the screened micrographs alone writes the
    outputs a round leaves (pairs.csv of the screened set): the state each timed round starts
    from, put back before each (:func:`restore`).
    """
    folder = workdir / f"{screened}+{new}_{shape[0]}x{shape[1]}"
    mics = folder / "mics"
    old = sparse_micrographs(mics, screened, shape)
    fresh = new_micrographs(mics, screened, new, shape)
    options = MicrographOptions()
    outdir = folder / "out"
    shutil.rmtree(outdir, ignore_errors=True)
    stored = seed_store(outdir, old, options)
    find_duplicate_micrographs([str(p) for p in old], outdir, options, update=True)
    kept = folder / "previous"
    snapshot(outdir, kept)
    binning = max(1, round(options.target_psize / PSIZE))
    read_and_bin(fresh, binning)  # into the page cache
    summary: dict = {}
    m: dict = {"floor": [], "update": [], "compare": [], "stored": stored, "summary": summary}
    for _ in range(rounds):
        restore(outdir, kept)
        m["floor"].append(min(timed(lambda: read_and_bin(fresh, binning)) for _ in range(2)))
        m["update"].append(
            timed(
                lambda: summary.update(
                    find_duplicate_micrographs(
                        [str(mics / "*.mrc")], outdir, MicrographOptions(), update=True
                    ).to_json()
                )
            )
        )
        wall, cpu, m["compared"] = compare_new(outdir, screened, new, options)
        m["compare"].append((wall, cpu))
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--screened", type=int, default=5000, help="micrographs already screened")
    ap.add_argument("--new", type=int, default=100, help="new K3 micrographs")
    ap.add_argument("--shape", default="4092x5760", help="rows x columns of every image")
    ap.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out" / "update")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds, each from the same state (medians)")
    args = ap.parse_args()
    shape = tuple(int(v) for v in args.shape.split("x"))
    assert len(shape) == 2
    m = measure(args.workdir, args.screened, args.new, (shape[0], shape[1]), args.rounds)
    (floor, floor_cpu), (update, update_cpu), (compare, compare_cpu) = (
        medians(m[key]) for key in ("floor", "update", "compare")
    )
    summary = m["summary"]
    print(f"screened {args.screened} ({m['stored']:,} pairs stored), new {args.new} images of {shape[1]} x {shape[0]}")
    print(f"images read {summary['images_read']}, pairs {summary['pairs_scored']:,}, rejected {summary['rejected']}")
    both, both_cpu = floor + compare, floor_cpu + compare_cpu
    print(f"read and bin the new images (floor): {floor:.2f} s, CPU {floor_cpu:.2f} s")
    print(
        f"their spectra and {m['compared']:,} pairs:  {compare:.2f} s, CPU {compare_cpu:.2f} s "
        "(what a fresh run pays too)"
    )
    print(
        f"--update round:                      {update:.2f} s = {update / floor:.2f} x the floor, "
        f"CPU {update_cpu:.2f} s = {update_cpu / floor_cpu:.2f} x"
    )
    print(
        f"                                     = {update / both:.2f} x the floor and the comparisons, "
        f"CPU {update_cpu / both_cpu:.2f} x"
    )


if __name__ == "__main__":
    main()
