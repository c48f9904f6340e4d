"""Every headline benchmark against the floor of its work, in one run, printed as one table.

The anchor (issue 43) is the least work the job must do on this machine: reading its input
and writing its outputs. Each row times the job and its floor in turn, ``--repeat`` times
(default 5), and reports the medians and the median of the per-round ratios. The files are
made once in ``--workdir``, shaped like the real ones.

- ``star``: a 1M-particle RELION 3.1 particle STAR (RELION's column layout), ``cryodedup
  particles`` end to end against ``cp`` of the input (target <= 2.5x); guard: at least 30x
  faster than ``relion_star_handler --remove_duplicates`` (Debian package ``relion``).
- ``star10m``: the same job on 10M particles (3.5 GB, in the page cache) against ``cp``
  (target <= 1.3x).
- ``cs``: 1M CryoSPARC particles, ``lean`` (a picker's 11 fields) and ``rich`` (every field
  Extract and 2D classification write), the CLI end to end against a Python script that
  imports numpy, loads the file with ``np.load`` and writes both subsets with ``np.save`` of a precomputed mask
  (target <= 1.5x); guard for the rich file: at most 1.0x cryosparc-tools' import,
  ``Dataset.load`` + ``save`` in a fresh interpreter.
- ``plot``: the 1M STAR job with ``--plot`` against the same job without (target <= 1.2x);
  and, to split its cost, the same on 1,000 particles (what the pictures cost whatever the
  size) and on the 10M file of ``star10m`` (what grows with the particles).
- ``micrographs``: 24 K3 micrographs, window 8, in process, against reading and binning them
  on 2 threads (target <= 1.1x), and, for the record, a plain numpy pipeline of the same pairs.
- ``update``: ``--update`` with 100 new K3 images into 5,000 screened, against reading and
  binning the 100 plus the comparisons a fresh run makes for them (target <= 1.3x;
  benches/bench_update.py; rounds from the state a round over the 5,000 left, put back each time).
- ``metadata``: ``micrographs --metadata EPU --no-images`` on about 50,000 EPU XML files of
  10 KB (as real ones), end to end, against a Python loop that only parses them
  (``ElementTree.parse``, as the job's reader does; target <= 1.5x).
- ``picks``: two pickers' 10M picks (20,000 per-micrograph files) merged end to end against
  ``starfile`` only reading them (benches/bench_picks_merge.py).
- ``scale``: 10M and 100M particles from a cold page cache: time and peak memory; guard:
  100M within 1.3x of 10M per particle and at most 40 B per particle (benches/bench_scale.py;
  100M needs about 72 GB free: a 35 GB file and as much output).
- ``dense``: a million picks on one spot against the same number spread over micrographs
  (benches/bench_dense.py).

The package is compiled to bytecode first, as ``pip install`` does (an editable install, or
PYTHONDONTWRITEBYTECODE, would otherwise compile every module in every run). Every timed
command runs in its own process, outputs removed and ``sync`` before it. Times are wall
seconds; on a shared machine they are noise, so each row also gives the user + system CPU
of both sides (medians).

Without ``--only`` the run is issue 43's rows and guards (star to metadata): about 10 minutes
on the idle machine, inputs made on the first run (about 15 GB in ``--workdir``). ``picks``,
``scale`` and ``dense`` run only when named: ``picks`` waits 6 minutes after deleting its
outputs (see benches/bench_picks_merge.py), ``scale`` writes a 35 GB file and as much
output. The table is printed in the form benches/RESULTS.md keeps, one row a benchmark, the
load average when the row began in its last column; each row's duration goes to stderr.

Usage: python benches/run_all.py [--quick] [--only star cs ...] [--repeat 5] [--workdir benches/out]
``--quick`` runs the rows on small inputs once, in about a minute: a smoke test, not a measurement.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))  # the other benchmark scripts, imported as modules
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the data generator: tests/fixtures

import bench_dense
import bench_micrographs
import bench_particles
import bench_picks_merge
import bench_scale
import bench_update
from cryodedup import MicrographOptions, _core, find_duplicate_micrographs
from cryodedup.formats.micrograph_lists import load_inputs
from cryodedup.jobs.micrographs.plan import (
    ScoringPlan,
    candidate_offsets,
    candidate_pairs,
    micrograph_plan,
    plan_scoring,
)
from cryodedup.jobs.micrographs.score import shard_pairs
from fixtures.synthetic import cs_particles, multihole_session, write_cs, write_epu_session

FULL = {
    "star": 1_000_000,
    "star10m": 10_000_000,
    "cs": 1_000_000,
    "picks": 10_000_000,
    "k3": 24,
    "dense": 1_000_000,
    "few": 1_000,  # the --plot row's fixed cost
}
QUICK = {"star": 20_000, "star10m": 200_000, "cs": 20_000, "picks": 20_000, "k3": 4, "dense": 10_000, "few": 1_000}
SQUARES_FULL, SQUARES_QUICK = 99, 2  # EPU grid squares: 99 make 49,946 exposures
UPDATE_FULL, UPDATE_QUICK = (5000, 100, (4092, 5760)), (300, 4, (1024, 1440))
SCALE_FULL, SCALE_QUICK = [10_000_000, 100_000_000], [200_000, 600_000]
BENCHMARKS = ["star", "star10m", "cs", "plot", "micrographs", "update", "metadata", "picks", "scale", "dense"]
#: Issue 43's rows and guards, about 10 minutes on the idle machine; the others take longer (see the docstring).
DEFAULT = ["star", "star10m", "cs", "plot", "micrographs", "update", "metadata"]
#: A picker's .cs: uid, the location slot and pick_stats (11 fields, 187 bytes a particle).
LEAN_CS_FIELDS = [
    "uid",
    "location/micrograph_uid",
    "location/exp_group_id",
    "location/micrograph_path",
    "location/micrograph_shape",
    "location/center_x_frac",
    "location/center_y_frac",
    "location/min_dist_A",
    "location/micrograph_psize_A",
    "pick_stats/ncc_score",
    "pick_stats/power",
]


@dataclass
class Row:
    work: str
    ours: str
    peer: str
    ratio: str
    target: str = ""
    guard: bool = False  # a row that may not fall below its figure, not a target


@dataclass
class Pair:
    """Medians of interleaved runs of a job and its floor (or peer): wall and CPU seconds, ratios."""

    wall: float
    cpu: float
    floor_wall: float
    floor_cpu: float
    ratio: float
    cpu_ratio: float

    def ours(self) -> str:
        return f"{self.wall:.2f} s (CPU {self.cpu:.2f} s)"

    def floor(self, what: str) -> str:
        return f"{what} {self.floor_wall:.2f} s (CPU {self.floor_cpu:.2f} s)"

    def ratios(self) -> str:
        return f"{self.ratio:.2f}x the time (CPU {self.cpu_ratio:.2f}x)"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def clean(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def run(cmd: list[str], outputs: list[Path] = ()) -> tuple[float, float]:
    """Wall and CPU seconds of one command, after removing ``outputs`` and ``sync``."""
    clean(list(outputs))
    subprocess.run(["sync"], check=True)
    cpu, start = children_cpu(), time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, children_cpu() - cpu


def in_process(work: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds (all threads) of ``work()`` in this process."""
    cpu, start = own_cpu(), time.perf_counter()
    work()
    return time.perf_counter() - start, own_cpu() - cpu


Timed = Callable[[], tuple[float, float]]


def timed_rounds(runs: list[Timed], repeat: int) -> list[list[tuple[float, float]]]:
    """Each of ``runs`` (returning wall and CPU seconds) in turn, ``repeat`` times: the times of each."""
    times: list[list[tuple[float, float]]] = [[] for _ in runs]
    for _ in range(repeat):
        for timed, work in zip(times, runs):
            timed.append(work())
    return times


def paired(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> Pair:
    """The medians of two commands' interleaved times, and of their per-round ratios."""
    med = statistics.median
    return Pair(
        med(x[0] for x in a),
        med(x[1] for x in a),
        med(y[0] for y in b),
        med(y[1] for y in b),
        med(x[0] / y[0] for x, y in zip(a, b)),
        med(x[1] / max(y[1], 1e-9) for x, y in zip(a, b)),
    )


def interleaved(ours: Timed, floor: Timed, repeat: int) -> Pair:
    """``ours`` and ``floor`` (each returning wall and CPU seconds) run in turn ``repeat`` times."""
    return paired(*timed_rounds([ours, floor], repeat))


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def star_size(path: Path, n: int) -> str:
    mb = path.stat().st_size / 1e6
    return f"{n:,} particles, RELION 3.1 STAR ({mb:,.{0 if mb >= 10 else 1}f} MB)"


def cp_floor(path: Path, w: Path) -> Timed:
    copy = w / f"cp_{path.name}"
    return lambda: run(["cp", str(path), str(copy)], [copy])


def star_floor_rows(
    work: str, path: Path, w: Path, job: list[str], out: Path, repeat: int, target: float
) -> tuple[list[Row], float]:
    """The STAR job against cp of its input (issue 43's floor). Returns the row and the job's median wall seconds."""
    pair = interleaved(lambda: run(job, [out]), cp_floor(path, w), repeat)
    clean([out, w / f"cp_{path.name}"])
    row = Row(
        work, pair.ours(), pair.floor("cp of the input"), pair.ratios(), f"<= {target}x: {met(pair.ratio <= target)}"
    )
    return [row], pair.wall


def star_rows(w: Path, n: int, repeat: int, relion_repeat: int) -> list[Row]:
    path = bench_particles.benchmark_file(w, n)
    out, relion_out = w / "star_out", w / "relion_out.star"
    job = bench_particles.cryodedup_cmd(path, out)
    rows, job_wall = star_floor_rows(f"{star_size(path, n)}, end to end", path, w, job, out, repeat, 2.5)
    relion = bench_particles.relion_cmd(path, relion_out)
    t_relion = statistics.median(run(relion, [relion_out])[0] for _ in range(relion_repeat))
    clean([relion_out])
    faster = t_relion / job_wall
    relion_row = Row(
        f"{star_size(path, n)}, end to end",
        f"{job_wall:.2f} s",
        f"relion_star_handler --remove_duplicates {t_relion:.1f} s",
        f"{faster:.1f}x faster",
        f">= 30x: {met(faster >= 30)}",
        guard=True,
    )
    return [*rows, relion_row]


def scaled_file(w: Path, n: int) -> Path:
    """The ``n``-particle STAR of the ``star10m`` row, made once, brought into the page cache."""
    path = w / f"scale_{n}.star"
    if not path.exists():
        bench_scale.write_scaled_file(path, n, bench_scale.generated_chunk(w, min(bench_scale.CHUNK, n)))
    bench_scale.read_once(path)  # a file just written: in the page cache, as for the 1M row
    return path


def star10m_rows(w: Path, n: int, repeat: int) -> list[Row]:
    path = scaled_file(w, n)
    out = w / "star10m_out"
    work = f"{star_size(path, n)}, in the page cache, end to end"
    return star_floor_rows(work, path, w, bench_particles.cryodedup_cmd(path, out), out, repeat, 1.3)[0]


def plot_pair(w: Path, path: Path, repeat: int) -> Pair:
    """The job on ``path`` with ``--plot`` and without, interleaved."""
    out = w / "plot_out"
    plain = bench_particles.cryodedup_cmd(path, out)
    pair = interleaved(lambda: run([*plain, "--plot"], [out]), lambda: run(plain, [out]), repeat)
    clean([out])
    return pair


def plot_rows(w: Path, n: int, few: int, many: int, repeat: int) -> list[Row]:
    """``--plot`` on ``n`` particles against the job without it (the target), and, to show where its time
    goes, on ``few`` (what the pictures cost whatever the size: seven pictures drawn, the report written)
    and on ``many`` (the particles' share: distances, histograms, the decision looked up)."""
    path = bench_particles.benchmark_file(w, n)
    pair = plot_pair(w, path, repeat)
    rows = [
        Row(
            f"{star_size(path, n)}, --plot",
            pair.ours(),
            pair.floor("the same job without --plot"),
            pair.ratios(),
            f"<= 1.2x: {met(pair.ratio <= 1.2)}",
        )
    ]
    small = bench_particles.benchmark_file(w, few)
    fixed = plot_pair(w, small, repeat)
    added = fixed.wall - fixed.floor_wall
    rows.append(
        Row(
            f"{star_size(small, few)}, --plot: what the pictures cost whatever the size",
            fixed.ours(),
            fixed.floor("the same job without --plot"),
            f"+{added * 1e3:.0f} ms, {added / pair.floor_wall:.0%} of the {n:,}-particle job without --plot",
            f"(the {n:,} row's 1.2x allows +{0.2 * pair.floor_wall * 1e3:.0f} ms in all)",
        )
    )
    large = scaled_file(w, many)
    scaled = plot_pair(w, large, repeat)
    rows.append(
        Row(
            f"{star_size(large, many)}, in the page cache, --plot",
            scaled.ours(),
            scaled.floor("the same job without --plot"),
            scaled.ratios(),
            f"(the {n:,} row's target here) <= 1.2x: {met(scaled.ratio <= 1.2)}",
        )
    )
    return rows


# cryosparc-tools in a fresh interpreter, as the CLI runs: import, load, save.
TOOLS_SCRIPT = "import sys; from cryosparc.dataset import Dataset; Dataset.load(sys.argv[1]).save(sys.argv[2])"
# The floor of the .cs job: read the file, write both subsets of a mask known in advance.
FLOOR_SCRIPT = (
    "import sys; import numpy as np; data = np.load(sys.argv[1]); keep = np.load(sys.argv[2]); "
    "f = open(sys.argv[3], 'wb'); np.save(f, data[keep]); f.close(); "
    "f = open(sys.argv[4], 'wb'); np.save(f, data[~keep]); f.close()"
)


def cs_files(w: Path, n: int) -> dict[str, Path]:
    """The rich (Extract + 2D) and the lean (a picker's fields) .cs of ``n`` particles."""
    rich, lean = w / f"particles_{n}_extract_2d.cs", w / f"particles_{n}_lean.cs"
    if not (rich.exists() and lean.exists()):
        rows = cs_particles(np.random.default_rng(0), n)
        write_cs(rich, rows)
        lean_rows = np.zeros(n, dtype=[(f, rows.dtype.fields[f][0]) for f in LEAN_CS_FIELDS])
        for f in LEAN_CS_FIELDS:
            lean_rows[f] = rows[f]
        write_cs(lean, lean_rows)
    return {"lean": lean, "rich": rich}


def kept_mask(w: Path, path: Path) -> Path:
    """The job's own decision on ``path`` as a boolean mask of its rows, saved for the floor."""
    out, mask = w / "cs_mask_run", w / f"{path.stem}_keep.npy"
    if not mask.exists():
        cli = [shutil.which("cryodedup") or "cryodedup", "particles", str(path), "-o", str(out), "--quiet"]
        run(cli, [out])
        kept = np.load(out / "particles_kept.cs")["uid"]
        np.save(mask, np.isin(np.load(path)["uid"], kept))
        clean([out])
    return mask


def cs_rows(w: Path, n: int, repeat: int) -> list[Row]:
    rows = []
    out, copy, floor_out = w / "cs_out", w / "cs_copy.cs", [w / "floor_kept.cs", w / "floor_rejected.cs"]
    for kind, path in cs_files(w, n).items():
        cli = [shutil.which("cryodedup") or "cryodedup", "particles", str(path), "-o", str(out), "--quiet"]
        floor = [sys.executable, "-c", FLOOR_SCRIPT, str(path), str(kept_mask(w, path)), *map(str, floor_out)]
        pair = interleaved(lambda cli=cli: run(cli, [out]), lambda floor=floor: run(floor, floor_out), repeat)
        size = f"{n:,} particles, CryoSPARC .cs, {kind} ({path.stat().st_size / 1e6:.0f} MB)"
        rows.append(
            Row(
                f"{size}, end to end",
                pair.ours(),
                pair.floor("numpy: import, np.load, np.save of both subsets"),
                pair.ratios(),
                f"<= 1.5x: {met(pair.ratio <= 1.5)}",
            )
        )
        if kind == "rich":
            tools = [sys.executable, "-c", TOOLS_SCRIPT, str(path), str(copy)]
            guard = interleaved(lambda cli=cli: run(cli, [out]), lambda tools=tools: run(tools, [copy]), repeat)
            rows.append(
                Row(
                    f"{size}, end to end",
                    guard.ours(),
                    guard.floor("cryosparc-tools import, Dataset.load + save"),
                    guard.ratios(),
                    f"<= 1.0x: {met(guard.ratio <= 1.0)}",
                    guard=True,
                )
            )
    clean([out, copy, *floor_out])
    return rows


def micrograph_rows(w: Path, n: int, repeat: int) -> list[Row]:
    folder = w / "micrographs"
    bench_micrographs.make_k3_set(folder, n)
    files = sorted((folder / "float32").glob("mic_*.mrc"))[:n]
    options = MicrographOptions(candidates="window", window=8)
    pairs = candidate_pairs(n, candidate_offsets(micrograph_plan(options).scoring.candidates, n))
    binning = round(options.target_psize / bench_micrographs.PSIZE)
    out = folder / "run_all_out"

    def job() -> tuple[float, float]:
        clean([out])
        return in_process(lambda: find_duplicate_micrographs(files, out, options))

    floor = interleaved(job, lambda: in_process(lambda: bench_micrographs.read_and_bin(files, binning)), repeat)
    plan = plan_scoring(load_inputs([str(f) for f in files], options.psize), micrograph_plan(options).scoring)
    work_floor = interleaved(job, lambda: in_process(lambda: read_bin_compare(plan)), repeat)
    numpy = interleaved(job, lambda: in_process(lambda: bench_micrographs.numpy_reference(files, pairs)), repeat)
    clean([out])
    work = f"{n} K3 micrographs (float32), window 8 ({len(pairs)} pairs), in process"
    return [
        Row(
            work,
            floor.ours(),
            floor.floor("reading and binning only (2 threads)"),
            floor.ratios(),
            f"<= 1.1x: {met(floor.ratio <= 1.1)}",
        ),
        Row(
            work,
            work_floor.ours(),
            work_floor.floor(f"the core reading, binning and transforming them, comparing the {len(pairs)} pairs"),
            work_floor.ratios(),
            "the floor of the work (issue 43: no method compares fewer pairs)",
        ),
        Row(work, numpy.ours(), numpy.floor("a plain numpy pipeline"), f"{1 / numpy.ratio:.1f}x faster"),
    ]


def read_bin_compare(plan: ScoringPlan) -> None:
    """The least the micrograph job does: each image read, binned and transformed once, the pairs compared.

    The core's calls as the job makes them (its plan's binning, band, pairs and Pearson
    threshold), nothing else: no headers read, no checks, no outputs.
    """
    lowpass, highpass = plan.band
    psize = plan.binned_psize
    bank = _core.SpectrumBank(
        *plan.shape, plan.binning, psize / highpass, psize / lowpass, psize / plan.pearson_highpass
    )
    count = len(plan.positions)
    handles = [mrcfile.mmap(plan.paths[plan.positions[q]], mode="r") for q in range(count)]
    try:
        bank.add(list(range(count)), [np.asarray(h.data) for h in handles])
    finally:
        for h in handles:
            h.close()
    bank.compare(shard_pairs(plan, 1, 1), plan.pearson_min_z)


def update_rows(w: Path, screened: int, new: int, shape: tuple[int, int], repeat: int) -> list[Row]:
    m = bench_update.measure(w / "update", screened, new, shape, repeat)
    med = statistics.median
    (floor, floor_cpu), (update, update_cpu), (compare, compare_cpu) = (
        bench_update.medians(m[key]) for key in ("floor", "update", "compare")
    )
    rounds = list(zip(m["update"], m["floor"], m["compare"]))
    ratio = med(u[0] / (f[0] + c[0]) for u, f, c in rounds)
    cpu_ratio = med(u[1] / (f[1] + c[1]) for u, f, c in rounds)
    return [
        Row(
            f"--update, {new} new K3 ({shape[1]} x {shape[0]}) into {screened:,} screened, in process, "
            f"{repeat} round(s) from the same state",
            f"{update:.2f} s (CPU {update_cpu:.2f} s)",
            f"reading and binning the {new} {floor:.2f} s + their {m['compared']:,} comparisons {compare:.2f} s "
            f"(CPU {floor_cpu:.2f} + {compare_cpu:.2f} s)",
            f"{ratio:.2f}x the time (CPU {cpu_ratio:.2f}x)",
            f"<= 1.3x: {met(ratio <= 1.3)}",
        )
    ]


# The floor of the metadata screen: parse every EPU XML file, as the job's reader does, nothing more.
PARSE_SCRIPT = (
    "import glob, sys; import xml.etree.ElementTree as ET\n"
    "for path in sorted(glob.glob(sys.argv[1], recursive=True)): ET.parse(path).getroot()"
)


#: What EPU writes before the fields the job reads: a ``CustomData`` list of key/value pairs
#: (dose, apertures, detector, defocus, ...). It takes a real data XML to 10-25 KB (the two in
#: ../shared/data: 11 KB and 25 KB); without it the generated files are 1 KB and parsing them,
#: the floor of the row, costs a tenth of what it costs on real files.
CUSTOM_DATA_ENTRY = (
    '<a:KeyValueOfstringanyType><a:Key>{key}</a:Key><a:Value i:type="b:double" '
    'xmlns:b="http://www.w3.org/2001/XMLSchema">{value!r}</a:Value></a:KeyValueOfstringanyType>'
)
CUSTOM_DATA_KEYS = ["DoseOnCamera", "DoseRate", "Dose", "AppliedDefocus", "IlluminationIntensity", "ExposureTime"]


def custom_data(rng: np.random.Generator, entries: int = 48) -> str:
    """A ``CustomData`` element of ``entries`` key/value pairs, about 10 KB, as EPU writes it."""
    pairs = "".join(
        CUSTOM_DATA_ENTRY.format(key=f"{CUSTOM_DATA_KEYS[k % len(CUSTOM_DATA_KEYS)]}[{k}]", value=float(rng.random()))
        for k in range(entries)
    )
    return f'<CustomData xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays">{pairs}</CustomData>'


def epu_session(w: Path, squares: int) -> tuple[Path, int]:
    """An EPU session of ``squares`` grid squares, made once: a real-sized XML and an empty movie each exposure."""
    folder = w / f"epu_{squares}_10kB"
    done = folder / "count.txt"
    if not done.exists():
        clean([folder])
        rng = np.random.default_rng(0)
        session = multihole_session(rng, squares=squares, stops=(7, 8), reexposures=50)
        for path in write_epu_session(folder / "EPU", session):
            text = path.read_text()
            path.write_text(text.replace("<name>Empty</name>", "<name>Empty</name>" + custom_data(rng), 1))
        (folder / "Movies").mkdir()
        for e in session:
            (folder / "Movies" / f"{e.name}_fractions.tiff").touch()
        done.write_text(str(len(session)))
    return folder, int(done.read_text())


def metadata_rows(w: Path, squares: int, repeat: int) -> list[Row]:
    folder, count = epu_session(w, squares)
    out = w / "metadata_out"
    job = [shutil.which("cryodedup") or "cryodedup", "micrographs", str(folder / "Movies" / "*.tiff")]
    job += ["--metadata", str(folder / "EPU"), "--no-images", "-q", "-o", str(out)]
    xml = list((folder / "EPU").rglob("*.xml"))
    parse = [sys.executable, "-c", PARSE_SCRIPT, str(folder / "EPU" / "**" / "*.xml")]
    pair = interleaved(lambda: run(job, [out]), lambda: run(parse), repeat)
    clean([out])
    return [
        Row(
            f"micrographs --metadata --no-images, {count:,} exposures ({len(xml):,} EPU XML of 10 KB), end to end",
            pair.ours(),
            pair.floor("a Python loop parsing every XML file (ElementTree)"),
            pair.ratios(),
            f"<= 1.5x: {met(pair.ratio <= 1.5)}",
        )
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


def scale_rows(w: Path, sizes: list[int]) -> list[Row]:
    chunk = bench_scale.generated_chunk(w, min(bench_scale.CHUNK, sizes[0]))
    results = [bench_scale.measure(w, n, chunk, warm=False) for n in sizes]
    base = results[0]["seconds"] / sizes[0]
    rows = []
    for n, r in zip(sizes, results):
        per = (r["seconds"] / n) / base
        per_particle = r["peak_rss"] / n
        target = "" if n == sizes[0] else f"<= 1.3x, <= 40 B: {met(per <= 1.3 and per_particle <= 40)}"
        rows.append(
            Row(
                f"{n:,} particles ({r['file_bytes'] / 1e9:.1f} GB), cold page cache, end to end",
                f"{r['seconds']:.1f} s (to disk {r['flushed']:.1f} s)",
                f"peak memory {r['peak_rss'] / 1e9:.2f} GB",
                f"{per:.2f}x the time per particle of {sizes[0]:,}, {per_particle:.0f} B per particle",
                target,
                guard=n != sizes[0],
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


def command_line() -> str:
    """This run's command as RESULTS.md quotes it: the work folder, local to the machine, as OUT."""
    words, shown = sys.argv[1:], []
    for k, word in enumerate(words):
        shown.append("OUT" if k and words[k - 1] == "--workdir" else word)
    return " ".join(["run_all.py", *shown])


def print_table(rows: list[tuple[str, float, Row]], commit: str) -> None:
    """The rows as benches/RESULTS.md keeps them: benchmark, figures, then command, commit, date, load."""
    date, command = time.strftime("%Y-%m-%d"), command_line()
    print(f"\ncommit {commit}, {os.cpu_count()} cores, {date} {time.strftime('%H:%M')}, command: {command}\n")
    print("| benchmark | work | cryodedup | floor or peer, same run | ratio | target | command, commit, date |")
    print("|---|---|---|---|---|---|---|")
    for name, load, r in rows:
        bench = f"{name} (guard)" if r.guard else name
        cells = [bench, r.work, r.ours, r.peer, r.ratio, r.target, f"`{command}`, {commit}, {date}, load {load:.1f}"]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small inputs, one run each: a smoke test, not a measurement")
    ap.add_argument("--only", nargs="+", choices=BENCHMARKS, default=DEFAULT, help=f"default: {' '.join(DEFAULT)}")
    ap.add_argument("--repeat", type=int, default=5, help="rounds of each interleaved pair (median)")
    ap.add_argument("--relion-repeat", type=int, default=1, help="runs of relion_star_handler (median)")
    ap.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out")
    args = ap.parse_args()
    sizes, repeat = (QUICK, 1) if args.quick else (FULL, args.repeat)
    w = args.workdir.resolve()
    w.mkdir(parents=True, exist_ok=True)
    scale_sizes = SCALE_QUICK if args.quick else SCALE_FULL
    if "scale" in args.only and shutil.disk_usage(w).free < 650 * scale_sizes[-1]:
        sys.exit(f"Error: --only scale needs {650 * scale_sizes[-1] / 1e9:.0f} GB free in {w} (input and outputs)")
    bench_picks_merge.compile_bytecode()  # as pip install does: no run pays for compiling the modules
    todo = {
        "star": lambda: star_rows(w, sizes["star"], repeat, args.relion_repeat),
        "star10m": lambda: star10m_rows(w, sizes["star10m"], repeat),
        "cs": lambda: cs_rows(w, sizes["cs"], repeat),
        "plot": lambda: plot_rows(w, sizes["star"], sizes["few"], sizes["star10m"], repeat),
        "micrographs": lambda: micrograph_rows(w, sizes["k3"], repeat),
        "update": lambda: update_rows(w, *(UPDATE_QUICK if args.quick else UPDATE_FULL), repeat),
        "metadata": lambda: metadata_rows(w, SQUARES_QUICK if args.quick else SQUARES_FULL, repeat),
        "picks": lambda: picks_rows(w, sizes["picks"], repeat),
        "scale": lambda: scale_rows(w, scale_sizes),
        "dense": lambda: dense_rows(w, sizes["dense"]),
    }
    rows: list[tuple[str, float, Row]] = []
    begun = time.perf_counter()
    for name in BENCHMARKS:
        if name in args.only:
            load, started = os.getloadavg()[0], time.perf_counter()
            print(f"running {name} (load {load:.1f}) ...", file=sys.stderr, flush=True)
            rows += [(name, load, r) for r in todo[name]()]
            print(f"  {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print(f"all: {time.perf_counter() - begun:.0f} s", file=sys.stderr)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True
    ).stdout.strip()
    print_table(rows, commit)


if __name__ == "__main__":
    main()
