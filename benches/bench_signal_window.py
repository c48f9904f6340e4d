"""How long a signal finds Python's default handlers when ``cryodedup`` or ``cryodedup-relion`` starts (issue 38).

Until a program's first lines install its handlers, SIGTERM ends the process with no word
(and ``cryodedup-relion`` with no exit file, which RELION waits for) and SIGINT prints
Python's ``KeyboardInterrupt``. This measures that window: the time from starting the
program (``subprocess.Popen``) to the moment its handlers are in place, which the test hook
``CRYODEDUP_TEST_PAUSE=starting`` announces on stderr. Then it sends SIGTERM there and checks
the ending (status 143 and one line; ``cryodedup-relion``: ``RELION_JOB_EXIT_ABORTED``).

Beside them, in the same rounds (interleaved, as the machine's load changes):

- ``python floor``: the same interpreter printing one line (``python -c``): its start and
  ``site`` (the ``.pth`` files of the environment), which no program of Python can shorten;
- ``relion, imports first``: what ``cryodedup-relion`` did before its handlers moved into
  ``cryodedup.entry``: the whole ``relion_external`` module (click, the command line) imported
  first.

``--sweep N`` then sends SIGTERM to each program N times at a random moment of its first
``2 x`` median window, without the hook, and counts the endings: killed by the signal (no
word: Python's default), or handled.

    python benches/bench_signal_window.py --rounds 20
    python benches/bench_signal_window.py --rounds 20 --sweep 40
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ANNOUNCE = "cryodedup: paused at starting"
JOB = "External/job001/"


def programs(folder: Path, scripts: Path) -> dict[str, list[str]]:
    """Each program's command line (the console scripts in ``scripts``), run in ``folder``."""
    announce = f"os.write(2, b'{ANNOUNCE}\\n'); time.sleep(60)"
    relion_args = ["--o", JOB, "--in_parts", "p.star", "--plot", "no"]
    return {
        "python floor": [sys.executable, "-c", f"import os, time; {announce}"],
        "cryodedup": [str(scripts / "cryodedup"), "--version"],
        "cryodedup-relion": [str(scripts / "cryodedup-relion"), *relion_args],
        "relion, imports first": [
            sys.executable,
            "-c",
            f"import os, time, cryodedup.pipelines.relion_external; {announce}",
            *relion_args,
        ],
    }


def time_to_handlers(command: list[str], folder: Path) -> tuple[float, str]:
    """Seconds from Popen to the announcement; then SIGTERM, and how the program ended."""
    env = dict(os.environ, CRYODEDUP_TEST_PAUSE="starting")
    started = time.perf_counter()
    run = subprocess.Popen(command, cwd=folder, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert run.stderr is not None
    line = run.stderr.readline().decode(errors="replace").strip()
    seconds = time.perf_counter() - started
    if line != ANNOUNCE:
        run.kill()
        run.wait()
        raise SystemExit(f"{command[0]}: expected '{ANNOUNCE}' on stderr, got '{line}'")
    run.send_signal(signal.SIGTERM)
    rest = run.stderr.read().decode(errors="replace").strip().splitlines()
    run.wait()
    return seconds, ending(run.returncode, rest, folder)


def ending(code: int, lines: list[str], folder: Path) -> str:
    """How a run ended: 'killed' (Python's default: no word), or its status, exit file and last line."""
    if code < 0:
        return "killed"
    exit_files = sorted(p.name for p in (folder / JOB).glob("RELION_JOB_EXIT_*")) if (folder / JOB).is_dir() else []
    for name in exit_files:
        (folder / JOB / name).unlink()
    last = lines[-1] if lines else ""
    return f"status {code}{' ' + ','.join(exit_files) if exit_files else ''}: {last[:70]}"


def sweep(command: list[str], folder: Path, window: float, runs: int) -> dict[str, int]:
    """SIGTERM at a random moment of the first ``2 x window`` seconds, ``runs`` times: the endings counted."""
    endings: dict[str, int] = {}
    for _ in range(runs):
        run = subprocess.Popen(command, cwd=folder, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        time.sleep(random.uniform(0, 2 * window))
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate()
        key = ending(run.returncode, err.decode(errors="replace").strip().splitlines(), folder)
        key = "killed" if key == "killed" else key.split(":")[0]
        endings[key] = endings.get(key, 0) + 1
    return endings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="runs of each program, interleaved")
    parser.add_argument("--sweep", type=int, default=0, help="random-moment SIGTERMs per program (0: none)")
    parser.add_argument("--bin", type=Path, default=Path(sys.executable).parent, help="the console scripts' folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="signal-window-") as tmp:
        folder = Path(tmp)
        (folder / "p.star").write_text("data_\nloop_\n_rlnCoordinateX #1\n1\n")
        (folder / JOB).mkdir(parents=True)  # (RELION makes the job folder before it runs the job)
        commands = programs(folder, args.bin)
        times: dict[str, list[float]] = {name: [] for name in commands}
        endings: dict[str, set[str]] = {name: set() for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                seconds, how = time_to_handlers(command, folder)
                times[name].append(seconds)
                endings[name].add(how)
        print(f"load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds; ms from Popen to the handlers")
        print(f"{'program':24} {'min':>6} {'median':>7} {'max':>6}  SIGTERM there")
        for name, found in times.items():
            ms = [1000 * t for t in found]
            print(f"{name:24} {min(ms):6.1f} {statistics.median(ms):7.1f} {max(ms):6.1f}  {' | '.join(endings[name])}")
        for name in ("cryodedup", "cryodedup-relion") if args.sweep else ():
            window = statistics.median(times[name])
            counted = sweep(commands[name], folder, window, args.sweep)
            print(f"sweep {name}: SIGTERM within {2000 * window:.0f} ms of the start, {args.sweep} runs: {counted}")


if __name__ == "__main__":
    main()
