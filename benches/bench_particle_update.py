"""Benchmark of ``cryodedup particles BATCH --update``: a batch of new particles into a large kept set.

The kept set (``--kept``, default 10,000,000 particles, 300 a micrograph) is made as earlier
rounds would have left it, without running them: a real first round on a small batch gives
the store its record, header and running file; then ``kept_store/`` gets ``--segments``
segments of synthetic centres and scores (as many rounds of kept particles, sorted by
micrograph) and their index, and the running file is grown to the size such a set's rows would
take (a sparse hole where the rows would be: a round reads only its header and last bytes, and
appends after them). The batch (``--new``, default 10,000 particles, 250 a micrograph) lies half
on micrographs the store holds kept particles of (``--on-kept``, drawn from all the segments:
the worst case, each read from its own files), half on new ones (during a collection, nearly
every batch brings new micrographs only: ``--on-kept 0``).

Timed, each ``--repeat`` times (median): the ``--update`` round (the store loaded and checked,
the batch read, its micrographs' kept particles loaded, the decision, the round files written,
the store and the running file appended to), each from the same state (the round undone: the
running file truncated back, the round's segments removed, store.json put back); and a fresh
run of the batch alone (``cryodedup particles BATCH -o OUT``, its one-pass route). Goal (issue
57): the round costs at most 2x the fresh run.

Usage: python benches/bench_particle_update.py [--kept 10000000] [--new 10000] [--on-kept 0.5] [--repeat 5] [--cli]
    [--workdir DIR]   (``--cli``: both also timed as commands, each in a new process, as a pipeline runs them)
Smoke test: python benches/bench_particle_update.py --kept 100000 --new 2000 --repeat 2
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # helpers.write_star
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the other benchmark scripts

from bench_same_image_memory import status_kb
from cryodedup._core import __version__
from cryodedup.jobs.particles.job import remove_duplicate_particles
from cryodedup.jobs.particles.store import MARKER, RUNNING, STORE, TAIL_BYTES, index_dtype, sha256_bytes
from cryodedup.options import ParticleOptions
from helpers import write_star

LABELS = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit", "rlnOpticsGroup"]
OPTICS = [[1, "opticsGroup1", 1.0, 1.0]]
PER_KEPT_MIC, PER_NEW_MIC = 300, 250
#: Bytes of a row like the batch's (the running file's size for the kept set).
ROW_BYTES = 60
SIDE = 4000.0  # micrograph side in Å
#: The index's files as the kept set left them, by name (put back after each timed round).
INDEX_COPY: dict[str, bytes] = {}


def batch_rows(rng: np.random.Generator, mics: list[int]) -> list[list[str]]:
    rows = []
    for m in mics:
        xy = rng.uniform(0, SIDE, (PER_NEW_MIC, 2))
        scores = rng.uniform(0, 1, PER_NEW_MIC)
        rows += [[f"mics/mic{m}.mrc", f"{x:.2f}", f"{y:.2f}", f"{s:.6f}", 1] for (x, y), s in zip(xy, scores)]
    return rows


def grow_store(out: Path, rng: np.random.Generator, kept: int, segments: int) -> int:
    """Adds ``kept`` synthetic kept particles (on micrographs mic0 ...) to the store in ``out``; returns micrographs."""
    folder = out / STORE
    state = json.loads((folder / MARKER).read_text())
    n_mics = kept // PER_KEPT_MIC
    per_segment = -(-n_mics // segments)
    first_index = folder / f"index-{state['index'][0]['round']}.npy"
    entries = [np.load(first_index)]
    for k in range(segments):
        mics = range(k * per_segment, min(n_mics, (k + 1) * per_segment))
        if not len(mics):
            break
        r = state["round"] + 1
        n = len(mics) * PER_KEPT_MIC
        names = sorted(f"mics/mic{m}.mrc".encode() for m in mics)
        np.save(folder / f"kept-{r}.npy", np.c_[rng.uniform(0, SIDE, (n, 2)), rng.uniform(0, 1, n)])
        sizes = os.stat(folder / f"kept-{r}.npy").st_size
        added = np.zeros(len(names), index_dtype(24))
        added["name"], added["segment"] = names, len(state["segments"])
        added["start"] = np.arange(len(names)) * PER_KEPT_MIC
        added["stop"] = added["start"] + PER_KEPT_MIC
        entries.append(added)
        state["segments"].append({"round": r, "rows": n, "bytes": sizes})
        state["kept"] += n
        state["round"] = r
    both = np.concatenate([e.astype(index_dtype(24)) for e in entries])
    index = both[np.argsort(both["name"], kind="stable")]
    data = io.BytesIO()
    np.save(data, index)
    (folder / f"index-{state['round']}.npy").write_bytes(data.getvalue())
    first_index.unlink()
    crc = zlib.crc32(data.getvalue())
    state["index"] = [{"round": state["round"], "rows": len(index), "bytes": len(data.getvalue()), "crc32": crc}]
    running = state["running"]
    suffix = running["suffix"].encode()
    grown = running["rows_end"] + kept * ROW_BYTES
    with open(out / RUNNING, "r+b") as f:  # (a hole where the rows would be: no disk used)
        f.truncate(grown)
        f.seek(grown)
        f.write(suffix)
    size = grown + len(suffix)
    with open(out / RUNNING, "rb") as f:
        f.seek(size - TAIL_BYTES)
        tail = f.read()
    running.update(size=size, rows_end=grown, tail_sha256=sha256_bytes(tail))
    (folder / MARKER).write_text(json.dumps(state))
    return n_mics


def undo_round(out: Path, saved_state: bytes, size: int, rows_end: int, suffix: bytes) -> None:
    """Puts the store and the running file back as they were before a timed round."""
    with open(out / RUNNING, "r+b") as f:
        f.truncate(rows_end)
        f.seek(rows_end)
        f.write(suffix)
    assert os.stat(out / RUNNING).st_size == size
    folder = out / STORE
    rounds = json.loads(saved_state)["round"]
    for path in folder.glob("*-*.npy"):
        if int(path.stem.split("-")[1]) > rounds:
            path.unlink()
    for path in out.glob("round_*_*.star"):
        if int(path.name.split("_")[1]) > rounds:
            path.unlink()
    # (a round that merges index files removes those it merged: written back from the copies kept)
    for name, data in INDEX_COPY.items():
        (folder / name).write_bytes(data)
    (folder / MARKER).write_bytes(saved_state)


def timed(job) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    job()
    return time.perf_counter() - start, time.process_time() - cpu


#: Each command's peak anonymous memory (RssAnon, bytes), by the command's kind: what a cluster job must request.
PEAK_ANON: dict[str, list[int]] = {"fresh": [], "round": []}


def _wall(command: list[str], kind: str) -> float:
    """The command's wall time; its peak RssAnon (sampled every 20 ms) kept in :data:`PEAK_ANON`."""
    start = time.perf_counter()
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0
    while job.poll() is None:
        peak = max(peak, status_kb(job.pid).get("RssAnon", 0))
        time.sleep(0.02)
    if job.returncode:
        raise subprocess.CalledProcessError(job.returncode, command)
    PEAK_ANON[kind].append(peak * 1024)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kept", type=int, default=10_000_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--segments", type=int, default=100, help="rounds the kept set came in")
    parser.add_argument("--on-kept", type=float, default=0.5, help="fraction of the batch's micrographs in the store")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--cli", action="store_true", help="also time both as commands, each in a new process")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_particle_update_"))
    shutil.rmtree(work / "out", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    options = ParticleOptions(min_dist=20.0, mic_psize=1.0, update=True)
    write_star(work / "first.star", LABELS, batch_rows(rng, [10**9]), optics=OPTICS)
    remove_duplicate_particles([work / "first.star"], work / "out", options)
    made = time.perf_counter()
    n_mics = grow_store(work / "out", rng, args.kept, args.segments)
    made = time.perf_counter() - made
    n_batch_mics = max(2, args.new // PER_NEW_MIC)
    old = rng.choice(n_mics, round(n_batch_mics * args.on_kept), replace=False).tolist()
    new = list(range(n_mics, n_mics + n_batch_mics - len(old)))
    batch = work / "batch.star"
    write_star(batch, LABELS, batch_rows(rng, old + new), optics=OPTICS)
    out = work / "out"
    saved = (out / STORE / MARKER).read_bytes()
    INDEX_COPY.update({p.name: p.read_bytes() for p in (out / STORE).glob("index-*.npy")})
    running = json.loads(saved)["running"]
    rounds, fresh, summary = [], [], {}
    cli_rounds, cli_fresh = [], []
    command = [sys.executable, "-m", "cryodedup", "particles", str(batch), "--min-dist", "20", "-q"]
    for _ in range(args.repeat):
        shutil.rmtree(work / "fresh", ignore_errors=True)
        fresh.append(timed(lambda: remove_duplicate_particles([batch], work / "fresh", ParticleOptions(20.0))))
        rounds.append(timed(lambda: summary.update(remove_duplicate_particles([batch], out, options))))
        undo_round(out, saved, running["size"], running["rows_end"], running["suffix"].encode())
        if args.cli:
            shutil.rmtree(work / "fresh", ignore_errors=True)
            cli_fresh.append(_wall([*command, "-o", str(work / "fresh")], "fresh"))
            cli_rounds.append(_wall([*command, "--mic-psize", "1", "--update", "-o", str(out)], "round"))
            undo_round(out, saved, running["size"], running["rows_end"], running["suffix"].encode())
    wall = statistics.median(t for t, _ in rounds)
    cpu = statistics.median(c for _, c in rounds)
    fresh_wall = statistics.median(t for t, _ in fresh)
    fresh_cpu = statistics.median(c for _, c in fresh)
    update = summary["update"]
    print(
        f"cryodedup {__version__}; kept set {json.loads(saved)['kept']:,} particles on {n_mics:,} micrographs in "
        f"{args.segments} segments (made in {made:.1f} s), store.json {len(saved) / 1e6:.1f} MB"
    )
    print(
        f"batch {update and summary['particles']:,} particles on {n_batch_mics} micrographs "
        f"({len(old)} with {update['kept_before_on_these_micrographs']:,} kept particles); "
        f"round: {summary['kept']:,} kept, {update['rejected_by_kept']:,} rejected near kept ones"
    )
    print(f"--update round: median {wall:.3f} s (CPU {cpu:.3f} s) of {args.repeat}")
    print(f"fresh run of the batch alone: median {fresh_wall:.3f} s (CPU {fresh_cpu:.3f} s)")
    ratio = wall / fresh_wall
    print(f"ratio {ratio:.2f}x (CPU {cpu / fresh_cpu:.2f}x); goal <= 2x: {'met' if ratio <= 2 else 'NOT met'}")
    if args.cli:
        round_cli, fresh_cli = statistics.median(cli_rounds), statistics.median(cli_fresh)
        print(
            f"end to end (cryodedup particles ... -q in a new process): --update round {round_cli:.3f} s, "
            f"fresh run {fresh_cli:.3f} s: {round_cli / fresh_cli:.2f}x"
        )
        print(
            f"peak RssAnon of the commands: --update round {max(PEAK_ANON['round']) / 1e6:.0f} MB, "
            f"fresh run {max(PEAK_ANON['fresh']) / 1e6:.0f} MB"
        )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
