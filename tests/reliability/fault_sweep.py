"""Faults injected into an ``--update`` round at each of its system calls, and what must hold after each (issue 65).

A series of three batches is run once without a fault (the oracle: every output file after
each round). Then, for each system call of round 2 that touches the output folder (``write``,
``fsync``/``fdatasync``, ``rename``, ``unlink``, ``ftruncate``, ``openat``, found by tracing a
clean round with ``strace -y``), the round is run from the state round 1 left under
``strace -e inject=SYSCALL:...:when=N`` with an error (ENOSPC for writes, EIO for syncs,
renames and truncations, EACCES for opens and removals) and with each of SIGKILL, SIGTERM
and SIGINT. After it:

- no traceback, no hang; the status is true: 0 only with the round's outputs complete (the
  oracle's after round 2), else non-zero with at most one line on stderr;
- the same command run again (no fault) exits 0, the last batch too, and every output file
  (round files, the running file, and of micrographs the lists) is the uninterrupted series'
  byte for byte, no temporary file left.

Kinds: ``star`` (RELION STAR rounds), ``cs`` (numpy .cs, appended in place), ``csdat``
(CryoSPARC's CSDAT, the running file written anew each round), ``micrographs``
(``micrographs --update``). Usage:

    python tests/reliability/fault_sweep.py [--kinds star cs csdat micrographs] [--sample N] [--workdir DIR]

``--sample N`` runs every Nth call only (CI runs a fixed sample: ``test_fault_sweep.py``).
Needs ``strace``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS), str(TESTS / "jobs" / "particles")]

COMMAND = [sys.executable, "-m", "cryodedup"]
#: The system calls swept, and the error each gets (besides the three signals).
ERRORS = {
    "write": "ENOSPC",
    "fsync": "EIO",
    "fdatasync": "EIO",
    "rename": "EIO",
    "unlink": "EACCES",
    "ftruncate": "EIO",
    "openat": "EACCES",
}
SIGNALS = ("KILL", "TERM", "INT")
#: What a run leaves that must never stay (as tests/fixtures/signal_runs.py has it).
LEFTOVER = re.compile(r"\..+\.\d+\.(tmp|old|scratch)|\.cryodedup\.lock")
#: Not compared: the stores' own files (their bytes hold times and orders of their own).
STORES = ("kept_store", "seen")


@dataclass
class Series:
    """A kind's three batches, the command of each, and the oracle's outputs after each round."""

    kind: str
    commands: list[list[str]]
    oracle: list[dict[str, bytes]] = field(default_factory=list)


def outputs(folder: Path) -> dict[str, bytes]:
    """Every output file below ``folder`` but the stores', by path."""
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if relative.parts[0] in STORES or not path.is_file() or LEFTOVER.fullmatch(path.name):
            continue
        found[str(relative)] = path.read_bytes()
    return found


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if LEFTOVER.fullmatch(p.name))


def make_series(kind: str, root: Path) -> Series:
    """The batches of ``kind`` in ``root``, and their commands into ``OUT`` (replaced by the output folder)."""
    from update_batches import make_batch, make_cs_batch

    rng = np.random.default_rng(3)
    plan = [[1, 2], [2, 3], [3, 1]]
    options = ["--min-dist", "20", "--mic-psize", "1", "--update", "-q"]
    if kind == "star":
        paths = [root / f"b{k}.star" for k in range(3)]
        for path, mics in zip(paths, plan):
            make_batch(path, rng, mics, 30)
    elif kind in ("cs", "csdat"):
        paths = [root / f"b{k}.cs" for k in range(3)]
        for path, mics in zip(paths, plan):
            make_cs_batch(path, rng, mics, 20)
            if kind == "csdat":
                from cryosparc.dataset import CSDAT_FORMAT, Dataset

                Dataset.load(path).save(path, format=CSDAT_FORMAT)
    else:
        return _micrograph_series(root)
    return Series(kind, [["particles", str(path), *options] for path in paths])


def _micrograph_series(root: Path) -> Series:
    from fixtures.synthetic import write_mrc

    rng = np.random.default_rng(0)
    (root / "mics").mkdir(parents=True, exist_ok=True)
    files = []
    for k in range(6):
        write_mrc(root / "mics" / f"m{k}.mrc", rng.normal(size=(64, 64)).astype(np.float32), 4.0)
        files.append(str(root / "mics" / f"m{k}.mrc"))
    options = ["--bin", "1", "--accept-untrusted", "--update", "-q"]  # (white noise: a blind screen, not tested here)
    return Series("micrographs", [["micrographs", *files[: 2 * (k + 1)], *options] for k in range(3)])


def run(command: list[str], out: Path, strace: list[str] | None = None) -> subprocess.CompletedProcess:
    full = [*(strace or []), *COMMAND, *command, "-o", str(out)]
    try:
        return subprocess.run(full, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(full, -999, "", "hung")


def prepare(series: Series, root: Path) -> Path:
    """The oracle's outputs after each round; returns a folder as round 1 left it."""
    whole = root / "whole"
    for command in series.commands:
        done = run(command, whole)
        assert done.returncode == 0, done.stderr
        series.oracle.append(outputs(whole))
    before = root / "before"
    done = run(series.commands[0], before)
    assert done.returncode == 0, done.stderr
    return before


def calls_of_round(series: Series, before: Path, root: Path) -> dict[str, list[int]]:
    """{system call: the numbers N (``when=N``) of its calls in round 2's main thread that touch the outputs}."""
    out = root / "traced"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(before, out, symlinks=True)
    log = root / "trace.log"
    traced = ",".join(ERRORS)
    done = run(series.commands[1], out, ["strace", "-f", "-y", "-qq", "-o", str(log), "-e", f"trace={traced}"])
    assert done.returncode == 0, done.stderr
    lines = log.read_text(errors="replace").splitlines()
    main = lines[0].split()[0]
    counts: Counter[str] = Counter()
    found: dict[str, list[int]] = {name: [] for name in ERRORS}
    for line in lines:
        pid, call = line.split(None, 1)
        name = call.split("(", 1)[0]
        if pid != main or name not in ERRORS:
            continue
        counts[name] += 1
        if str(out) in call:
            found[name].append(counts[name])
    shutil.rmtree(out)
    return found


@dataclass
class Verdict:
    case: str
    problems: list[str]


def one_case(series: Series, before: Path, root: Path, call: str, when: int, fault: str) -> Verdict:
    """Round 2 with ``fault`` at the ``when``-th ``call``, then the same round again and round 3."""
    out = root / "case"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(before, out, symlinks=True)
    how = f"signal={fault}" if fault in SIGNALS else f"error={fault}"
    strace = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"inject={call}:{how}:when={when}"]
    case = f"{series.kind} {call} #{when} {fault}"
    problems = []
    done = run(series.commands[1], out, strace)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if done.returncode == -999:
        return Verdict(case, ["hang"])
    if "Traceback" in done.stderr or "panicked" in done.stderr:
        problems.append(f"traceback: {lines[-1] if lines else ''}")
    if done.returncode == 0 and outputs(out) != series.oracle[1]:
        problems.append("exit 0 without the round's outputs")
    if done.returncode != 0 and len(lines) > 1 and fault != "KILL":
        problems.append(f"{len(lines)} lines: {lines[:3]}")
    again = run(series.commands[1], out)
    if again.returncode != 0:
        problems.append(f"run again: status {again.returncode}: {again.stderr.strip()[:200]}")
    elif outputs(out) != series.oracle[1]:
        problems.append("run again: outputs not the series' after the round")
    last = run(series.commands[2], out)
    if last.returncode != 0:
        problems.append(f"next batch: status {last.returncode}: {last.stderr.strip()[:200]}")
    elif outputs(out) != series.oracle[2]:
        differ = sorted(set(outputs(out).items()) ^ set(series.oracle[2].items()))
        problems.append(f"next batch: outputs differ from the series' ({sorted({k for k, _ in differ})[:4]})")
    if left := leftovers(out):
        problems.append(f"left {left}")
    return Verdict(case, problems)


def sweep(kinds: list[str], sample: int, workdir: Path, log=print) -> tuple[Counter[str], list[Verdict]]:
    """Every case of ``kinds`` (every ``sample``-th call); the counts by kind and outcome, and the failures."""
    counts: Counter[str] = Counter()
    failed = []
    for kind in kinds:
        root = workdir / kind
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        series = make_series(kind, root)
        before = prepare(series, root)
        calls = calls_of_round(series, before, root)
        for call, numbers in calls.items():
            for when in numbers[::sample]:
                for fault in (ERRORS[call], *SIGNALS):
                    verdict = one_case(series, before, root, call, when, fault)
                    counts[f"{kind} cases"] += 1
                    counts[f"{kind} {'failed' if verdict.problems else 'held'}"] += 1
                    if verdict.problems:
                        failed.append(verdict)
                        log(f"FAILED {verdict.case}: {'; '.join(verdict.problems)}")
        log(f"{kind}: {counts[f'{kind} cases']} cases, {counts[f'{kind} failed']} failed; calls {dict(calls)}")
    return counts, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", nargs="+", default=["star", "cs", "csdat", "micrographs"])
    parser.add_argument("--sample", type=int, default=1, help="every Nth call of each system call")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fault_sweep_"))
    start = time.monotonic()
    counts, failed = sweep(args.kinds, args.sample, workdir, lambda line: print(line, flush=True))
    print(f"{sum(v for k, v in counts.items() if k.endswith('cases'))} cases in {time.monotonic() - start:.0f} s:")
    for key in sorted(counts):
        print(f"  {key}: {counts[key]}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
