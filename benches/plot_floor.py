"""The floor of ``--plot``'s work: the particle job with ``--plot`` doing only what no drawing can skip.

    python benches/plot_floor.py --prepare PICTURES
    python benches/plot_floor.py PICTURES particles IN.star -o OUT ... --plot

``PICTURES`` is the output folder of a real ``--plot`` run of the same command, made first
(untimed); ``--prepare`` saves its pictures' pixels there as ``.npy`` files (untimed too),
which the floor maps from the page cache. Then the job runs
as the ``cryodedup`` command runs it, its read, decision, summary and write unchanged, but
what ``--plot`` adds is cut to the work any implementation of these pictures must do, done
at the speed of the core:

- each pick's nearest neighbour within the histogram's reach (the core's cell search, on
  its two workers, started where the job starts it) and the histogram of those distances;
- the scores' axis (1st and 99th percentiles) and their kept and rejected histograms;
- the picks and rejected picks of each micrograph (the fraction pictures);
- the picks of each example micrograph;
- how many micrographs have no image file (the report says so when an example has none);
- the pictures' pixels written as PNG files (the job's own pixels, filtered by numpy
  and deflated by the core on two threads, as :func:`cryodedup.formats.png.encode` does),
  with report.html (the pictures in base64, as the job's).

What it counts is what the pictures of one input show (the benchmark's: examples, distances,
the rejected and duplicate fractions, scores); the pictures of several inputs (consensus,
agreement) or of half-sets count more, which it leaves out: a floor lower than theirs.
Nothing is drawn: no module of the pictures or Pillow is imported, no pixel is painted (the
pixels are there from the start). So the floor is below what any implementation can reach:
it counts everything the pictures show and writes the files they are, and draws none of them.
"""

from __future__ import annotations

import gc
import os

# Started as the command starts (cryodedup.entry's lean start), before numpy is imported:
# OpenBLAS's spinning threads and the cycle collector during the imports would be counted
# in the floor.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
gc.disable()

import base64  # noqa: E402
import sys  # noqa: E402
import zlib  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import cryodedup.jobs.particles.job as job  # noqa: E402
from cryodedup.algo.dedup import nearest_neighbour_distances, stretched  # noqa: E402
from cryodedup.algo.histogram import clipped_histogram, counts_per_group, percentiles  # noqa: E402
from cryodedup.formats import png  # noqa: E402
from cryodedup.formats.micrograph_lists import count_absent, search_roots  # noqa: E402
from cryodedup.threads import Background, mapped  # noqa: E402

NN_BINS, SCORE_BINS, EXAMPLES = 100, 60, 3


PIXELS = "floor_pixels"  # the folder of PICTURES that holds the pictures' pixels


def picture_pixels(path: Path) -> np.ndarray:
    """The pixels of one of the job's PNGs: (rows, columns, channels) uint8.

    As :mod:`cryodedup.formats.png` writes them: one IDAT chunk, every row filtered "Up"
    (each byte the difference to the byte above, modulo 256), which a sum down the columns undoes.
    """
    data = path.read_bytes()
    width, height, colour = int.from_bytes(data[16:20]), int.from_bytes(data[20:24]), data[25]
    channels = {2: 3, 6: 4}.get(colour)
    if channels is None or data[24] != 8:
        raise SystemExit(f"{path}: not a PNG of cryodedup's (8-bit RGB or RGBA)")
    at, idat = 8, b""
    while at < len(data):
        length, kind = int.from_bytes(data[at : at + 4]), data[at + 4 : at + 8]
        if kind == b"IDAT":
            idat += data[at + 8 : at + 8 + length]
        at += 12 + length
    rows = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + width * channels)
    if not (rows[:, 0] == png.UP).all():
        raise SystemExit(f"{path}: not a PNG of cryodedup's (a row not filtered Up)")
    return np.cumsum(rows[:, 1:], axis=0, dtype=np.uint8).reshape(height, width, channels)


def prepare(folder: Path) -> None:
    """Saves the pixels of the pictures of a ``--plot`` run's ``folder`` (``PIXELS/NAME.npy``)."""
    pictures = sorted(folder.glob("*.png"))
    if not pictures or not (folder / "report.html").is_file():
        raise SystemExit(f"{folder}: not the output folder of a --plot run (no pictures and report.html)")
    (folder / PIXELS).mkdir(exist_ok=True)
    for picture in pictures:
        pixels = picture_pixels(picture)
        if png.encode(pixels) != picture.read_bytes():
            raise SystemExit(f"{picture}: its pixels do not encode to the same file")
        np.save(folder / PIXELS / f"{picture.name}.npy", pixels)


def pictures_of(folder: Path) -> tuple[list[tuple[str, np.ndarray]], bytes]:
    """The pictures' names and pixels (mapped from the files :func:`prepare` saved), and report.html."""
    saved = sorted((folder / PIXELS).glob("*.npy"))
    return [(p.name[: -len(".npy")], np.load(p, mmap_mode="r")) for p in saved], (folder / "report.html").read_bytes()


class Counted:
    """What the pictures show, counted on threads from the decision on (as the job counts them)."""

    def __init__(self, particles: Any, decision: Any, options: Any) -> None:
        self.particles, self.keep = particles, decision.keep
        reach = max(5 * options.min_dist, 200.0)  # the nearest-neighbour histogram's right edge
        centres = stretched(particles.centres, options.min_dist, options.min_dist_z)
        self.distances = Background(nearest_neighbour_distances, particles.groups, centres, reach)
        self.reach = reach
        self.scores = Background(self.score_counts) if particles.scores is not None else None

    def score_counts(self) -> Any:
        s = self.particles.scores
        finite = np.isfinite(s)
        lo, hi = percentiles(s if finite.all() else s[finite], (1.0, 99.0))
        return clipped_histogram(s, lo, hi if hi > lo else lo + 1, SCORE_BINS, sides=~self.keep)

    def everything(self) -> None:
        """Waits for the counts, and counts the rest: what the pictures show."""
        clipped_histogram(self.distances.result(), 0.0, self.reach, NN_BINS)  # (inf: a lone pick, left out)
        if self.scores is not None:
            self.scores.result()
        groups = self.particles.groups
        picks, kept = counts_per_group(groups, self.keep, len(self.particles.mic_names))
        np.histogram((picks - kept)[picks > 0] / picks[picks > 0], bins=50, range=(0, 1))
        for mic in np.argsort(picks)[-EXAMPLES:]:  # the picks of the examples
            np.flatnonzero(groups == mic)


def install(folder: Path) -> None:
    """The job's ``--plot`` steps replaced by the floor's (:class:`Counted`, the pictures' pixels encoded)."""
    pictures, report = pictures_of(folder)

    def picture_details(particles: Any, decision: Any, options: Any) -> Counted:
        return Counted(particles, decision, options)

    def draw_pictures(counted: Counted, options: Any, first_input: Path) -> list[bytes]:
        roots = search_roots(first_input, options.project_dir)
        absent = Background(count_absent, counted.particles.mic_names, roots)
        counted.everything()
        absent.result()
        return mapped(lambda picture: png.encode(picture[1]), pictures, threads=2, name="floor-picture")

    def plot_particles(
        counted: Counted, outdir: Path, options: Any, first_input: Path, force: bool, summary: dict
    ) -> list[str]:
        pngs = draw_pictures(counted, options, first_input)
        names = [outdir / name for name, *_ in pictures] + [outdir / "report.html"]
        for name, data in zip(names, pngs):
            name.write_bytes(data)
        [base64.b64encode(data) for data in pngs]  # (the report holds the pictures so)
        names[-1].write_bytes(report)
        return [str(n) for n in names]

    for step in (picture_details, plot_particles):
        setattr(job, step.__name__, step)


USAGE = "usage: plot_floor.py --prepare PICTURES | plot_floor.py PICTURES particles IN ... -o OUT ... --plot"


def main() -> None:
    args = sys.argv[1:]
    if len(args) < 2 or args[0] in ("-h", "--help"):
        raise SystemExit(f"{USAGE}\n(see the docstring of {__file__})")
    if args[0] == "--prepare":
        prepare(Path(args[1]))
        return
    folder = Path(args[0])
    if not (folder / PIXELS).is_dir() or not (folder / "report.html").is_file():
        raise SystemExit(f"{folder}: no pictures' pixels saved (run --prepare on a --plot run's folder first)")
    install(folder)
    sys.argv = ["cryodedup", *args[1:]]
    from cryodedup.entry import main as cryodedup

    cryodedup()


if __name__ == "__main__":
    main()
