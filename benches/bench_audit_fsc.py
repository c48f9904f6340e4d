"""``cryodedup audit`` of the RELION tutorial's project with its FSC files read, against without them (issue 91).

Makes (in WORKDIR) the tutorial's chain of jobs (tests/fixtures/relion_tutorial.py) with 20
copies planted across Refine3D/job029's half-sets, twice: one project with each refinement's
run_model.star and each PostProcess's postprocess.star (the audit reads them, estimates each
refinement's resolution without its duplicates), one without (the audit finds none and judges by
the share). Times ``cryodedup audit PROJECT --json`` on each in turn, ``--repeat`` rounds (each
in its own process), and prints the medians of wall and CPU seconds and of the per-round ratio
(target <= 1.2x).

    python benches/bench_audit_fsc.py --workdir OUT [--repeat 11]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fixtures.relion_tutorial import plant, write_fsc_files, write_tutorial

CRYODEDUP = str(Path(sys.executable).parent / "cryodedup")


def make(root: Path, with_fsc: bool) -> Path:
    """The tutorial's project with 20 copies across job029's half-sets, with or without its FSC files."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    files = write_tutorial(root)
    plant(root, files, ["Refine3D/job029/run_data.star"], 20)
    if with_fsc:
        write_fsc_files(root)
    return root


def timed(project: Path) -> tuple[float, float, dict]:
    """One audit in its own process: wall seconds, its CPU seconds (user + system), its --json."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([CRYODEDUP, "audit", str(project), "--json", "--quiet"], capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("benches/out"))
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
    with_fsc = make(args.workdir / "audit-fsc" / "with", True)
    without = make(args.workdir / "audit-fsc" / "without", False)
    rounds = []
    for _ in range(args.repeat):
        rounds.append((timed(with_fsc), timed(without)))
    (_, _, shown), _ = rounds[-1]
    job029 = next(j for j in shown["jobs"] if j["job"] == "Refine3D/job029")
    assert job029["fsc"] is not None, "the project with FSC files must read them"
    wall = [r[0][0] for r in rounds], [r[1][0] for r in rounds]
    cpu = [r[0][1] for r in rounds], [r[1][1] for r in rounds]
    ratio = statistics.median(a / b for a, b in zip(*wall))
    cpu_ratio = statistics.median(a / b for a, b in zip(*cpu))
    print(
        f"| audit of the tutorial, FSC read vs not ({args.repeat} rounds) | "
        f"{statistics.median(wall[0]):.3f} s vs {statistics.median(wall[1]):.3f} s: {ratio:.3f}x | "
        f"{statistics.median(cpu[0]):.3f} s vs {statistics.median(cpu[1]):.3f} s: {cpu_ratio:.3f}x |"
    )
    print(f"job029: {job029['line']}")


if __name__ == "__main__":
    main()
