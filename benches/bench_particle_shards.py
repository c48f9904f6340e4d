"""Particle shards against one run: ``particles --shard K/N`` then ``particles-merge``, and one run of the same.

A RELION 3.1 particle STAR of ``--size`` rows is written as bench_scale.py writes it (blocks of
one generated chunk of 1M rows, micrographs renamed per block), read once into the page cache
(every process then reads it warm, as shards on a cluster read a file the cluster's file
system serves), and three things run in subprocesses under GNU time (wall, user + system CPU,
peak RSS): one run of the whole file; each of the N shards in turn (as N nodes would run them
at once: the cluster's wall is the slowest shard's plus the merge's); the merge. The merged
kept and rejected files (and decisions.csv) are compared byte for byte with the one run's.

Every shard reads the whole input (what spans micrographs is computed from it alike), so the
shards' CPU adds N reads to one decision; what they save is the deciding and writing each
does for its own micrographs alone.

Usage: python benches/bench_particle_shards.py [--size 10000000] [--shards 4] [--workdir DIR]
       [--options "--min-dist 20 --score rlnMaxValueProbDistribution"]
"""

from __future__ import annotations

import argparse
import filecmp
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import CHUNK, generated_chunk, read_once, write_scaled_file


def timed(command: list[str], cwd: Path) -> dict:
    """Runs ``command``: its wall and CPU seconds and peak RSS (GNU time), refused loudly if it fails."""
    out = Path(tempfile.mkstemp()[1])
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(out), *command],
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"{shlex.join(command)} failed:\n{done.stderr[-3000:]}")
    wall, user, system, peak = out.read_text().split()[-4:]
    out.unlink()
    return {"wall": float(wall), "cpu": float(user) + float(system), "peak_gb": int(peak) * 1024 / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out" / "shards")
    parser.add_argument("--options", default="--min-dist 20 --score rlnMaxValueProbDistribution")
    args = parser.parse_args()
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    star = work / "particles.star"
    write_scaled_file(star, args.size, generated_chunk(work, min(CHUNK, args.size)))
    read_once(star)
    options = shlex.split(args.options)
    job = ["cryodedup", "particles", star.name, *options]
    one = timed([*job, "-o", "one", "--quiet"], work)
    shards = [
        timed([*job, "-o", "shards", "--shard", f"{k}/{args.shards}", "--quiet"], work)
        for k in range(1, args.shards + 1)
    ]
    merge = timed(["cryodedup", "particles-merge", "shards", "-o", "merged", "--quiet"], work)
    names = sorted(p.name for p in (work / "one").iterdir() if p.is_file())
    same = all(filecmp.cmp(work / "one" / n, work / "merged" / n, shallow=False) for n in names)
    print(f"{args.size:,} particles ({star.stat().st_size / 1e9:.2f} GB), options: {args.options}")
    print(f"one run:     wall {one['wall']:.1f} s, CPU {one['cpu']:.1f} s, peak {one['peak_gb']:.2f} GB")
    for k, shard in enumerate(shards, 1):
        print(
            f"shard {k}/{args.shards}:   wall {shard['wall']:.1f} s, CPU {shard['cpu']:.1f} s, "
            f"peak {shard['peak_gb']:.2f} GB"
        )
    print(f"merge:       wall {merge['wall']:.1f} s, CPU {merge['cpu']:.1f} s, peak {merge['peak_gb']:.2f} GB")
    slowest = max(s["wall"] for s in shards)
    cpu = sum(s["cpu"] for s in shards) + merge["cpu"]
    print(
        f"{args.shards} shards on {args.shards} nodes + merge: wall {slowest + merge['wall']:.1f} s "
        f"({(slowest + merge['wall']) / one['wall']:.2f}x one run), CPU {cpu:.1f} s ({cpu / one['cpu']:.2f}x), "
        f"peak {max(s['peak_gb'] for s in [*shards, merge]):.2f} GB"
    )
    print(f"outputs ({', '.join(names)}) byte-identical to one run: {same}")
    shutil.rmtree(work)
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
