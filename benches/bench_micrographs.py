"""Benchmark of the micrograph job, in one run on the same files.

1. Full-size K3 micrographs (5760 x 4092, 0.83 Å/px) as float32 and as float16 MRC files,
   every seventh one a second exposure of the area taken 20 images before (60-90 % overlap):
   - ``find_duplicate_micrographs`` with the defaults (``--candidates auto``: every pair of
     the 100; 12 Å bin), and with the script's pattern of pairs; ``cryodedup micrographs``
     end to end (pattern) for reference;
   - only reading and binning the same files (memory map + ``_core.bin_image``, 2 threads):
     the floor any method pays;
   - the cost of one pair against the cost of reading and binning one image (both on 2
     threads), which sets where comparing every pair stops costing little, and the cost of a
     100-image window relative to the floor;
   - a plain numpy implementation of microduplicate_screener's pipeline on the same pairs:
     bin 8 by block mean, band-pass 0.04-0.25 cycles/pixel, align by FFT cross-correlation,
     Pearson coefficient of the aligned frames.
2. All pairs of 5000 micrographs at a coarse bin (binned images of 90 x 64 pixels, 53 Å,
   synthesised directly), 50 of them second exposures: ``cryodedup micrographs --candidates all``.

Files are made once in ``--workdir``. The K3 files stay in the page cache (24 GiB here), so
reading is from memory, as on a machine that has just written them; from disk, every method
would wait for the same 94 MB per micrograph.

Usage: python benches/bench_micrographs.py [--n-k3 100] [--n-all 5000] [--no-numpy] [--interleaved 5]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mrcfile
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the data generator: tests/fixtures

from cryodedup import MicrographOptions, _core, find_duplicate_micrographs
from cryodedup.jobs.micrographs.plan import candidate_offsets, candidate_pairs, micrograph_plan
from fixtures.synthetic import specimen_field, write_mrc

K3 = (4092, 5760)
PSIZE = 0.83


def make_k3_set(folder: Path, n: int, seed: int = 0) -> list[tuple[int, int]]:
    """n K3 micrographs in float32 and float16; returns the planted (original, duplicate)."""
    f32, f16 = folder / "float32", folder / "float16"
    planted = [(k - 20, k) for k in range(20, n, 7)]
    if (f32 / f"mic_{n - 1:04d}.mrc").exists() and (f16 / f"mic_{n - 1:04d}.mrc").exists():
        return planted
    f32.mkdir(parents=True, exist_ok=True)
    f16.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # Each first exposure gets a field of its own, at 4x coarser sampling and upsampled by
    # repetition (cheap, and rich in detail at the 12 Å the job bins to); a second exposure
    # is a shifted window of its original's field.
    wy, wx = K3[0] // 4, K3[1] // 4
    fields = {}
    for k in range(n):
        dup_of = next((a for a, b in planted if b == k), None)
        if dup_of is None:
            fields[k] = specimen_field(rng, wy + 200, wx + 300, 4 * PSIZE)
            y0, x0, field = 100, 150, fields[k]
        else:
            y0, x0, field = int(rng.integers(0, 200)), int(rng.integers(0, 300)), fields[dup_of]
        window = field[y0 : y0 + wy, x0 : x0 + wx].repeat(4, 0).repeat(4, 1)
        image = 0.3 * window + rng.standard_normal(K3, dtype=np.float32)
        write_mrc(f32 / f"mic_{k:04d}.mrc", image, PSIZE)
        write_mrc(f16 / f"mic_{k:04d}.mrc", image, PSIZE, dtype=np.float16)
        fields.pop(k - 40, None)
    return planted


def read_and_bin(files: list[Path], binning: int) -> float:
    def one(path):
        with mrcfile.mmap(path, mode="r") as mrc:
            return _core.bin_image(np.asarray(mrc.data), binning).shape

    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - start


def numpy_reference(files: list[Path], pairs: np.ndarray) -> tuple[float, np.ndarray]:
    """microduplicate_screener's pipeline in numpy: bin 8, band-pass, align, correlate.

    Each image is transformed once (its band-passed spectrum and frame kept), as cryodedup
    does: a pair then costs one inverse FFT (the cross-correlation) and the Pearson
    coefficient, the fair baseline (transforming both images again for every pair did 5
    FFTs a pair and made the numpy pipeline about 2x slower).
    """
    start = time.perf_counter()
    binned = {}
    for k in np.unique(pairs):
        with mrcfile.mmap(files[k], mode="r") as mrc:
            d = np.asarray(mrc.data, dtype=np.float32)
        ny, nx = (d.shape[0] // 8) * 8, (d.shape[1] // 8) * 8
        binned[k] = d[:ny, :nx].reshape(ny // 8, 8, nx // 8, 8).mean(axis=(1, 3))
    shape = next(iter(binned.values())).shape
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(shape[0]), np.fft.rfftfreq(shape[1]), indexing="ij"))
    band = ((f >= 0.04) & (f <= 0.25)).astype(np.float32)
    spectra, frames = {}, {}
    for k, image in binned.items():
        spectra[k] = np.fft.rfft2(image - image.mean()) * band
        frames[k] = np.fft.irfft2(spectra[k], s=shape)
    coefficients = []
    for a, b in pairs:
        xc = np.fft.irfft2(spectra[a] * np.conj(spectra[b]), s=shape)
        dy, dx = np.unravel_index(np.argmax(xc), xc.shape)
        aligned = np.roll(frames[b], (dy, dx), axis=(0, 1))
        coefficients.append(np.corrcoef(frames[a].ravel(), aligned.ravel())[0, 1])
    return time.perf_counter() - start, np.array(coefficients)


def run_cli(args: list[str], outdir: Path) -> float:
    shutil.rmtree(outdir, ignore_errors=True)
    subprocess.run(["sync"], check=True)
    exe = shutil.which("cryodedup") or "cryodedup"
    start = time.perf_counter()
    subprocess.run([exe, "micrographs", *args, "-o", str(outdir), "--quiet"], check=True)
    return time.perf_counter() - start


def found(outdir: Path, planted, names) -> tuple[int, int]:
    """Planted second exposures rejected, and other micrographs rejected (false positives)."""
    import csv

    with open(outdir / "duplicates.csv") as f:
        rejected = {r["Duplicate"] for r in csv.DictReader(f)}
    planted_names = {names[b] for _, b in planted}
    return len(planted_names & rejected), len(rejected - planted_names)


def best_job_time(files: list[Path], outdir: Path, options: MicrographOptions, runs: int = 2) -> float:
    best = float("inf")
    for _ in range(runs):
        shutil.rmtree(outdir, ignore_errors=True)
        start = time.perf_counter()
        find_duplicate_micrographs(files, outdir, options)
        best = min(best, time.perf_counter() - start)
    return best


def pair_cost(files: list[Path], binning: int, count: int = 24) -> tuple[float, float]:
    """Seconds per image to read, bin and transform (spectrum), and per pair compared, both
    wall time on the machine's threads, from ``count`` images and all their pairs."""
    with mrcfile.mmap(files[0], mode="r") as mrc:
        ny, nx = mrc.data.shape
    bank = _core.SpectrumBank(ny, nx, binning, 1 / 25, 1 / 4)  # the default band: 25 to 4 binned pixels
    count = min(count, len(files))  # a quick run (--n-k3 4) has fewer
    handles = [mrcfile.mmap(f, mode="r") for f in files[:count]]
    start = time.perf_counter()
    bank.add(list(range(count)), [np.asarray(h.data) for h in handles])
    t_add = time.perf_counter() - start
    for h in handles:
        h.close()
    pairs = candidate_pairs(count, None)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        bank.compare(pairs, 5.0)
        best = min(best, time.perf_counter() - start)
    return t_add / count, best / len(pairs)


def default_row(
    dtype: str, files: list[Path], binning: int, t_floor: float, t_default: float, hits: tuple[int, int], planted: int
) -> tuple:
    """The default run against the floor, and what one pair costs next to reading one image."""
    n = len(files)
    per_image, per_pair = pair_cost(files, binning)
    floor_per_image = t_floor / n
    ratio = floor_per_image / per_pair
    spectrum = max(per_image - floor_per_image, 0.0)
    window_100 = 1 + (spectrum + 100 * per_pair) / floor_per_image
    return (
        f"K3 {dtype}, {n} micrographs, defaults (every pair: {n * (n - 1) // 2} pairs)",
        f"{n / t_default:.1f} images/s ({t_default:.2f} s; {hits[0]}/{planted} planted found, {hits[1]} false)",
        f"read + bin {n / t_floor:.1f} images/s ({floor_per_image * 1e3:.1f} ms/image); one pair "
        f"{per_pair * 1e3:.3f} ms; read + bin + spectrum {per_image * 1e3:.1f} ms/image",
        f"{t_default / t_floor:.2f}x the read + bin time; reading one image costs {ratio:.0f} pairs "
        f"(every pair costs no more than reading up to {2 * ratio + 1:.0f} images); a 100-image window "
        f"would take {window_100:.2f}x the read + bin time",
    )


def interleaved(files: list[Path], binning: int, repeat: int) -> str:
    """The floor and the default run, one after the other ``repeat`` times: steadier ratios on
    a loaded machine than two separate minima."""
    floors, jobs = [], []
    for _ in range(repeat):
        floors.append(read_and_bin(files, binning))
        out = files[0].parent.parent / "interleaved"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        find_duplicate_micrographs(files, out, MicrographOptions())
        jobs.append(time.perf_counter() - start)
    ratios = sorted(j / f for j, f in zip(jobs, floors))
    return (
        f"floor min {min(floors):.2f} s, default min {min(jobs):.2f} s: {min(jobs) / min(floors):.2f}x "
        f"(median of the {repeat} ratios {ratios[len(ratios) // 2]:.2f}x)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-k3", type=int, default=100)
    ap.add_argument("--n-all", type=int, default=5000)
    ap.add_argument("--no-all-pairs", action="store_true", help="skip part 2")
    ap.add_argument("--no-numpy", action="store_true", help="skip the numpy reference of part 1")
    ap.add_argument("--only-all-pairs", action="store_true", help="skip part 1")
    ap.add_argument("--interleaved", type=int, default=0, help="also N interleaved floor / default runs")
    ap.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out" / "micrographs")
    args = ap.parse_args()
    w = args.workdir
    rows = []

    planted = make_k3_set(w, args.n_k3) if not args.only_all_pairs else []
    options = MicrographOptions(candidates="pattern")
    pairs = candidate_pairs(args.n_k3, candidate_offsets(micrograph_plan(options).scoring.candidates, args.n_k3))
    binning = round(options.target_psize / PSIZE)
    for dtype in ("float32", "float16") if not args.only_all_pairs else ():
        files = sorted((w / dtype).glob("mic_*.mrc"))
        names = [str(p) for p in files]
        t_floor = min(read_and_bin(files, binning) for _ in range(2))
        t_cli = run_cli([*names, "--candidates", "pattern"], w / f"out_{dtype}")
        hits, false = found(w / f"out_{dtype}", planted, names)
        t_job = best_job_time(files, w / "api", options)
        t_default = best_job_time(files, w / "api", MicrographOptions())
        default_hits = found(w / "api", planted, names)
        n = len(files)
        rows.append(default_row(dtype, files, binning, t_floor, t_default, default_hits, len(planted)))
        if args.interleaved:
            print(f"K3 {dtype}, interleaved: {interleaved(files, binning, args.interleaved)}", file=sys.stderr)
        print(rows[-1], file=sys.stderr)
        if args.no_numpy:
            rows.append(
                (
                    f"K3 {dtype}, {n} micrographs, {len(pairs)} pattern pairs",
                    f"{n / t_job:.1f} images/s "
                    f"({t_job:.2f} s; CLI {t_cli:.2f} s; {hits}/{len(planted)} planted found, {false} false)",
                    f"read + bin {n / t_floor:.1f} images/s",
                    f"{t_job / t_floor:.2f}x the read + bin time",
                )
            )
            continue
        t_ref, r = numpy_reference(files, pairs)
        # The script compares each image with 12 others once a session is long; this run's
        # pairs per image are fewer at the end of the list. The numpy pipeline's cost per
        # image (I) and per pair (P): one pair costs 2I + P, the same pair 13 times 2I + 13P.
        t_one = min(numpy_reference(files, np.array([[0, 1]]))[0] for _ in range(3))
        t_many = min(numpy_reference(files, np.array([[0, 1]] * 13))[0] for _ in range(3))
        per_pair = (t_many - t_one) / 12
        per_image = (t_one - per_pair) / 2
        steady = 1 / (per_image + 12 * per_pair)
        rows.append(
            (
                f"K3 {dtype}, {n} micrographs, {len(pairs)} pattern pairs",
                f"{n / t_job:.1f} images/s ({t_job:.2f} s; CLI {t_cli:.2f} s; "
                f"{hits}/{len(planted)} planted found, {false} false)",
                f"read + bin {n / t_floor:.1f} images/s; numpy script pipeline {n / t_ref:.2f} images/s "
                f"on these pairs, {steady:.2f} images/s at 12 pairs per image",
                f"{t_job / t_floor:.2f}x the read + bin time; {t_ref / t_job:.0f}x the numpy throughput "
                f"on these pairs ({n / t_job / steady:.0f}x at 12 pairs per image)",
            )
        )
        print(rows[-1], file=sys.stderr)

    if args.no_all_pairs:
        args.n_all = 0
    # All pairs at a coarse bin.
    folder = w / "coarse"
    rng = np.random.default_rng(1)
    shape, coarse_psize = (64, 90), 53.0
    names = [str(folder / f"m{k:05d}.mrc") for k in range(args.n_all)]
    planted_all = [(k - 37, k) for k in range(100, args.n_all, max(1, args.n_all // 50))][:50]
    if args.n_all and not Path(names[-1]).exists():
        folder.mkdir(parents=True, exist_ok=True)
        fields = {}
        for k in range(args.n_all):
            src = next((a for a, b in planted_all if b == k), None)
            if src is None:
                fields[k] = specimen_field(rng, 2 * shape[0], 2 * shape[1], coarse_psize)
                window = fields[k][: shape[0], : shape[1]]
            else:
                fields[k] = fields[src]
                window = fields[src][10 : 10 + shape[0], 15 : 15 + shape[1]]  # about 72 % overlap
            write_mrc(names[k], window + 0.5 * rng.standard_normal(shape), coarse_psize)
    if args.n_all:
        t_all = run_cli([str(folder / "*.mrc"), "--candidates", "all", "--bin", "1", "--order", "input"], w / "out_all")
        hits, false = found(w / "out_all", planted_all, names)
        n_pairs = args.n_all * (args.n_all - 1) // 2
        rows.append(
            (
                f"all pairs of {args.n_all} micrographs at 53 Å (90 x 64 px)",
                f"{t_all / 60:.1f} min",
                f"{n_pairs:,} pairs, {n_pairs / t_all:,.0f} pairs/s",
                f"{hits}/{len(planted_all)} planted found, {false} false",
            )
        )

    print("| measurement | cryodedup | peers | ratios |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
