"""Benchmark of ``cryodedup particles BATCH --update``: a batch of new particles into a large kept set.

The kept set (``--kept``, default 10,000,000 particles, 300 a micrograph) is made as earlier
rounds would have left it, without running them: a real first round on a small batch gives
the store its record, header and running file; then ``kept_store/store.sqlite`` gets
``--segments`` rounds of synthetic centres and scores (a row per micrograph and round, as
rounds write them), and the running file is grown to the size such a set's rows would take (a
sparse hole where the rows would be: a round reads only its header and last change's bytes, and
appends after them). The batch (``--new``, default 10,000 particles, 250 a micrograph) lies half
on micrographs the store holds kept particles of (``--on-kept``, drawn from all the segments:
the worst case, each read from its own files), half on new ones (during a collection, nearly
every batch brings new micrographs only: ``--on-kept 0``).

Timed, each ``--repeat`` times (median): the ``--update`` round (the store loaded and checked,
the batch read, its micrographs' kept particles loaded, the decision, the round files written,
the store and the running file appended to), each from the same state (the round undone: the
running file truncated back, the round's rows deleted from the database); and a fresh
run of the batch alone (``cryodedup particles BATCH -o OUT``, its one-pass route). Goal (issue
57): the round costs at most 2x the fresh run.

Usage: python benches/bench_particle_update.py [--kept 10000000] [--new 10000] [--on-kept 0.5] [--repeat 5] [--cli]
    [--workdir DIR]   (``--cli``: both also timed as commands, each in a new process, as a pipeline runs them)
Smoke test: python benches/bench_particle_update.py --kept 100000 --new 2000 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
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
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.jobs.particles.store import DATABASE, RUNNING, STORE, kept_crc, mic_crc
from cryodedup.jobs.store_db import file_digest, settled_stamp, sha256_bytes
from cryodedup.options import ParticleOptions
from helpers import write_star

LABELS = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit", "rlnOpticsGroup"]
OPTICS = [[1, "opticsGroup1", 1.0, 1.0]]
PER_KEPT_MIC, PER_NEW_MIC = 300, 250
#: Bytes of a row like the batch's (the running file's size for the kept set).
ROW_BYTES = 60
SIDE = 4000.0  # micrograph side in Å


def batch_rows(rng: np.random.Generator, mics: list[int]) -> list[list[str]]:
    rows = []
    for m in mics:
        xy = rng.uniform(0, SIDE, (PER_NEW_MIC, 2))
        scores = rng.uniform(0, 1, PER_NEW_MIC)
        rows += [[f"mics/mic{m}.mrc", f"{x:.2f}", f"{y:.2f}", f"{s:.6f}", 1] for (x, y), s in zip(xy, scores)]
    return rows


def grow_store(out: Path, rng: np.random.Generator, kept: int, segments: int) -> int:
    """Adds ``kept`` synthetic kept particles (on micrographs mic0 ...) to the store in ``out``; returns micrographs.

    As ``segments`` earlier rounds would have left them in the database (a row per micrograph and
    round, its CRC-32), the running file grown to their rows' size (a hole: a round reads only its
    header and last change's bytes).
    """
    db = sqlite3.connect(out / STORE / DATABASE)
    n_mics = kept // PER_KEPT_MIC
    per_segment = -(-n_mics // segments)
    first = db.execute("SELECT max(round) FROM rounds").fetchone()[0]
    size = db.execute("SELECT size FROM running").fetchone()[0]
    header = json.loads(db.execute("SELECT value FROM meta WHERE key = 'star_header'").fetchone()[0])
    suffix = bytes.fromhex(header["suffix"])
    mic_id = db.execute("SELECT max(id) FROM micrographs").fetchone()[0]
    for k in range(segments):
        mics = range(k * per_segment, min(n_mics, (k + 1) * per_segment))
        if not len(mics):
            break
        r = first + 1 + k
        rows = []
        for m in mics:
            mic_id += 1
            name = f"mics/mic{m}.mrc".encode()
            db.execute("INSERT INTO micrographs VALUES (?, ?, 1, ?)", (mic_id, name, mic_crc(mic_id, name, 1)))
            data = np.c_[rng.uniform(0, SIDE, (PER_KEPT_MIC, 2)), rng.uniform(0, 1, PER_KEPT_MIC)].tobytes()
            rows.append((mic_id, r, data, kept_crc(mic_id, r, data)))
        db.executemany("INSERT INTO kept VALUES (?, ?, ?, ?)", rows)
        db.execute("INSERT INTO rounds VALUES (?, 'grown', ?, 1)", (r, len(mics) * PER_KEPT_MIC))
    last = db.execute("SELECT max(round) FROM rounds").fetchone()[0]
    grown = size - len(suffix) + kept * ROW_BYTES
    with open(out / RUNNING, "r+b") as f:  # (a hole where the rows would be: no disk used)
        f.truncate(grown)
        f.seek(grown)
        f.write(suffix)
    piece = suffix
    cut_sha = file_digest(out / RUNNING, grown - 4096, grown)
    head_bytes = db.execute("SELECT head_bytes FROM running").fetchone()[0]
    prefix_sha = file_digest(out / RUNNING, 0, head_bytes)
    db.execute(
        "INSERT INTO running VALUES (?, 0, ?, ?, x'', ?, NULL, NULL, ?, ?, ?, ?)",
        (last, grown, cut_sha, zlib.compress(piece), grown + len(suffix), sha256_bytes(piece), head_bytes, prefix_sha),
    )
    record_stamp(db, out, last)
    db.commit()
    db.close()
    return n_mics


def record_stamp(db: sqlite3.Connection, out: Path, round_: int) -> None:
    """The running file's stamp as round ``round_`` leaves it (a round compares a file of another stamp whole)."""
    stamp = {"round": round_, "stamp": settled_stamp(out / RUNNING)}
    db.execute("INSERT OR REPLACE INTO meta VALUES ('running_stamp', ?)", (json.dumps(stamp),))


def saved_state(out: Path) -> dict:
    """What a timed round changes, as the kept set left it (put back after each)."""
    db = sqlite3.connect(out / STORE / DATABASE)
    saved = {
        "size": os.stat(out / RUNNING).st_size,
        "round": db.execute("SELECT max(round) FROM rounds").fetchone()[0],
        "kept": db.execute("SELECT sum(kept) FROM rounds").fetchone()[0],
        "mic": db.execute("SELECT max(id) FROM micrographs").fetchone()[0],
        "pieces": json.dumps(db.execute("SELECT pieces, crc, id FROM micrographs").fetchall()),
    }
    db.close()
    saved["bytes"] = os.stat(out / STORE / DATABASE).st_size
    return saved


def undo_round(out: Path, saved: dict) -> None:
    """Puts the store and the running file back as they were before a timed round."""
    with open(out / RUNNING, "r+b") as f:
        f.truncate(saved["size"] - 1)  # (the text after the rows: a line break)
        f.seek(saved["size"] - 1)
        f.write(b"\n")
    db = sqlite3.connect(out / STORE / DATABASE)
    last = int(saved["round"])
    for table in ("rounds", "files", "running"):
        db.execute(f"DELETE FROM {table} WHERE round > ?", (last,))
    db.execute("DELETE FROM kept WHERE round > ?", (last,))
    record_stamp(db, out, last)
    db.execute("DELETE FROM micrographs WHERE id > ?", (int(saved["mic"]),))
    db.executemany("UPDATE micrographs SET pieces = ?, crc = ? WHERE id = ?", json.loads(saved["pieces"]))
    db.commit()
    db.close()
    for path in out.glob("round_*_*.star"):
        if int(path.name.split("_")[1]) > last:
            path.unlink()


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
    saved = saved_state(out)
    rounds, fresh, summary = [], [], {}
    cli_rounds, cli_fresh = [], []
    command = [sys.executable, "-m", "cryodedup", "particles", str(batch), "--min-dist", "20", "-q"]
    for _ in range(args.repeat):
        shutil.rmtree(work / "fresh", ignore_errors=True)
        fresh.append(timed(lambda: remove_duplicate_particles([batch], work / "fresh", ParticleOptions(20.0))))
        rounds.append(timed(lambda: summary.update(remove_duplicate_particles([batch], out, options).to_json())))
        undo_round(out, saved)
        if args.cli:
            shutil.rmtree(work / "fresh", ignore_errors=True)
            cli_fresh.append(_wall([*command, "-o", str(work / "fresh")], "fresh"))
            cli_rounds.append(_wall([*command, "--mic-psize", "1", "--update", "-o", str(out)], "round"))
            undo_round(out, saved)
    wall = statistics.median(t for t, _ in rounds)
    cpu = statistics.median(c for _, c in rounds)
    fresh_wall = statistics.median(t for t, _ in fresh)
    fresh_cpu = statistics.median(c for _, c in fresh)
    update = summary["update"]
    print(
        f"cryodedup {__version__}; kept set {saved['kept']:,} particles on {n_mics:,} micrographs in "
        f"{args.segments} segments (made in {made:.1f} s), store.sqlite {saved['bytes'] / 1e6:.1f} MB"
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
