"""The page of every micrograph (``--plot``'s micrographs.html, issue 67 item 1): what it costs, how soon it shows.

1. ``--plot`` on a STAR file of ``--particles`` rows (``fixtures.synthetic.write_benchmark_file``,
   200 picks a micrograph), in process: the job without ``--plot``, with ``--plot`` and with
   ``--plot`` but no page (its writer stubbed out), medians of ``--rounds``.
2. The thumbnails against reading the micrographs once: ``--mics`` MRC files of 4096 x 4096
   float16 (each read from the page cache: both sides alike), read whole and summed (the floor),
   against the page's thumbnails (``jobs.particles.page.thumbnails``: read, binned by the core)
   and their JPEGs (low-pass filtered, scaled, compressed).
3. With ``--first`` and Playwright with Debian's chromium: a page of ``--first`` micrographs
   (4 picks each) opened from disk, the time from its start to its first micrograph drawn
   (``performance.now()`` then, as the page records it).

Usage: python benches/bench_page.py [--particles N] [--rounds R] [--mics M] [--first N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the data generator: tests/fixtures

from cryodedup import ParticleOptions, remove_duplicate_particles
from fixtures.synthetic import write_benchmark_file, write_mrc


def _median_seconds(run, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plot_cost(workdir: Path, particles: int, rounds: int) -> None:
    """The job without --plot, with it, and with it but no page."""
    star = workdir / f"particles_{particles}.star"
    if not star.exists():
        write_benchmark_file(star, particles)
    out = workdir / "out"

    def job(plot: bool) -> None:
        shutil.rmtree(out, ignore_errors=True)
        remove_duplicate_particles([star], out, ParticleOptions(plot=plot, plot_mics=3))

    bare = _median_seconds(lambda: job(False), rounds)
    whole = _median_seconds(lambda: job(True), rounds)
    with mock.patch("cryodedup.report.micrograph_page.page_files", lambda *a: iter(())):
        no_page = _median_seconds(lambda: job(True), rounds)
    job(True)
    size = sum(p.stat().st_size for p in (out / "micrographs").iterdir())
    print(f"{particles:,} particles: job {bare:.2f} s; --plot {whole:.2f} s; --plot without the page {no_page:.2f} s")
    print(f"  the page: {whole - no_page:.2f} s, {size / 1e6:.1f} MB in micrographs/")


def thumbnail_cost(workdir: Path, n_mics: int) -> None:
    """The page's thumbnails against reading each micrograph once (from the page cache)."""
    from cryodedup.jobs.particles.page import thumbnails
    from cryodedup.jobs.particles.read import Images
    from cryodedup.report.micrograph_page import thumbnail_jpeg

    folder = workdir / "mics"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    names = [f"mic_{k:04d}.mrc" for k in range(n_mics)]
    for name in names:
        if not (folder / name).exists():
            write_mrc(folder / name, rng.normal(size=(4096, 4096)).astype(np.float16), 1.0, np.float16)

    def read_once() -> None:
        import mrcfile

        for name in names:
            with mrcfile.mmap(folder / name, permissive=True) as mrc:
                float(np.asarray(mrc.data).sum(dtype=np.float32))

    def bytes_once() -> None:
        buffer = bytearray(64 << 20)
        for name in names:
            with open(folder / name, "rb", buffering=0) as f:
                while f.readinto(buffer):
                    pass

    details = mock.Mock(unit="micrograph", mic_names=names)
    read_once()  # (each file in the page cache for both)
    floor = _median_seconds(read_once, 3)
    raw = _median_seconds(bytes_once, 3)
    found = Images(lambda name: folder / name, lambda: [folder])
    binned = _median_seconds(lambda: thumbnails(details, found), 3)
    images = thumbnails(details, found)
    jpegs = _median_seconds(lambda: [thumbnail_jpeg(image) for image in images.values()], 3)
    print(f"{n_mics} micrographs of 4096 x 4096 float16 (page cache): bytes read {raw:.2f} s, read and summed")
    print(f"  by numpy {floor:.2f} s; thumbnails read and binned {binned:.2f} s, their JPEGs {jpegs:.2f} s")
    print(
        f"  the thumbnails: {(binned + jpegs) / floor:.2f}x numpy's reading, {(binned + jpegs) / raw:.2f}x the bytes'"
    )


def first_drawn(workdir: Path, n_mics: int) -> None:
    """Seconds from the page's start to its first micrograph drawn, at ``n_mics`` micrographs."""
    from playwright.sync_api import sync_playwright

    star = workdir / f"page_{n_mics}.star"
    out = workdir / f"page_{n_mics}"
    if not star.exists():
        write_benchmark_file(star, 4 * n_mics, per_mic=4)
    shutil.rmtree(out, ignore_errors=True)
    remove_duplicate_particles([star], out, ParticleOptions(plot=True))
    chromium = shutil.which("chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium)
        times = []
        for _ in range(3):
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto((out / "micrographs.html").as_uri())
            page.wait_for_function("window.cryodedupPage && window.cryodedupPage.firstDrawn() !== null")
            times.append(page.evaluate("window.cryodedupPage.firstDrawn()") / 1000)
            cards = page.eval_on_selector_all("#grid .card", "cs => cs.length")
            page.close()
        browser.close()
    print(
        f"{cards:,} micrographs: the first drawn {statistics.median(times):.2f} s after the page's start (median of 3)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--particles", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mics", type=int, default=40)
    parser.add_argument("--first", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--only", choices=["plot", "thumbnails", "first"], action="append")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_page_"))
    workdir.mkdir(parents=True, exist_ok=True)
    only = args.only or ["plot", "thumbnails", "first"]
    if "plot" in only:
        plot_cost(workdir, args.particles, args.rounds)
    if "thumbnails" in only:
        thumbnail_cost(workdir, args.mics)
    if "first" in only:
        first_drawn(workdir, args.first)


if __name__ == "__main__":
    main()
