"""Peak memory of the metadata screen on crowded positions (issue 38, item 8).

Writes a SerialEM ``.mdoc`` of N ``[ZValue]`` sections on one line, 10 nm apart (each within
the 1 µm default beam of 200 others), the same sections 2 µm apart (no pair: the baseline,
the same reading with no pair to keep), and a micrographs STAR naming them; runs
``cryodedup micrographs mics.star --metadata line.mdoc --no-images`` on each under an
address-space cap (RLIMIT_AS, 4 GB) and reports each run's exit status, peak resident memory
(the child's own ``ru_maxrss``, from ``wait4``) and the bytes per section the crowded line
costs beyond the baseline.

    python benches/bench_metadata_memory.py                 # 100,000 sections
    python benches/bench_metadata_memory.py --sections 20000
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the data generator: tests/fixtures

from fixtures.synthetic import write_line_mdoc


def peak_run(folder: Path, cap_gb: float) -> tuple[int, float, float, str]:
    """Exit status, peak RSS (MB), seconds and the last line of stderr of one capped run."""
    command = [sys.executable, "-m", "cryodedup", "micrographs", str(folder / "mics.star"), "--no-images"]
    command += ["--metadata", str(folder / "line.mdoc"), "-o", str(folder / "out"), "-q", "--force"]
    cap = int(cap_gb * 2**30)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    started = time.perf_counter()
    run = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, preexec_fn=limit)  # noqa: PLW1509
    assert run.stderr is not None
    err = run.stderr.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(run.pid, 0)
    run.returncode = os.waitstatus_to_exitcode(status)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    return run.returncode, usage.ru_maxrss / 1024, time.perf_counter() - started, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=int, default=100_000)
    parser.add_argument("--cap-gb", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for name, step in (("baseline, 2 µm apart", 2.0), ("crowded, 10 nm apart", 0.01)):
            folder = Path(tmp) / name.split(",")[0]
            folder.mkdir(parents=True)
            write_line_mdoc(folder, args.sections, step, star_prefix="Movies/")
            results[name] = peak_run(folder, args.cap_gb)
            code, mb, seconds, last = results[name]
            print(f"{name}: exit {code}, peak RSS {mb:,.0f} MB, {seconds:.1f} s {last[:160]}")
        (_, base, _, _), (code, crowded, _, _) = results.values()
        if code == 0:
            extra = (crowded - base) * 2**20 / args.sections
            print(f"beyond the baseline: {crowded - base:,.1f} MB, {extra:,.0f} bytes per section")


if __name__ == "__main__":
    main()
