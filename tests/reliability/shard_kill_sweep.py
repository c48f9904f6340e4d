"""SIGKILL at each rename of a particle shard and of ``particles-merge``, then the command again (issue 90).

The oracle is the same shards and merge run without a fault: the shard's ``decision.npz`` and
its ``shard.json`` but the work's worker and seconds, and every file the merge writes, byte for
byte. For each ``rename`` of the run that names the shards' or the merge's folder (found by
tracing a clean run with ``strace -f -y``), the run is killed there by
``strace -e inject=rename:signal=KILL:when=N``. After it:

- what the kill left is never taken for complete: a merge run at once either refuses in one
  line (a shard incomplete, an output folder a run left) or writes the oracle's outputs;
- the same command run again (then with ``--force`` where the refusal says to) exits 0 and the
  shards and merge are the oracle's, no temporary file or lock left.

Usage: ``python tests/reliability/shard_kill_sweep.py [--workdir DIR]``; the test runs every case
(``test_shard_kill_sweep.py``). Needs ``strace``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS), str(TESTS / "jobs" / "particles")]

COMMAND = [sys.executable, "-m", "cryodedup"]
#: What a run leaves that must never stay (as fault_sweep.py has it).
LEFTOVER = re.compile(r"\..+\.\d+\.(tmp|old|scratch)|\.cryodedup\.lock")
OPTIONS = ["--min-dist", "20", "--decisions", "-q"]


@dataclass
class Setup:
    """The inputs, the commands of shard K/2 and of the merge, and the oracle's files."""

    root: Path
    inputs: list[str]
    shards_oracle: dict[str, bytes]
    merged_oracle: dict[str, bytes]

    def shard(self, k: int, shards: Path) -> list[str]:
        return ["particles", *self.inputs, *OPTIONS, "-o", str(shards), "--shard", f"{k}/2"]

    def merge(self, shards: Path, out: Path) -> list[str]:
        return ["particles-merge", str(shards), "-o", str(out), "-q"]


def files(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` by path; a shard.json without its work (where and how long it ran)."""
    found = {}
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if not path.is_file() or LEFTOVER.fullmatch(path.name):
            continue
        data = path.read_bytes()
        if path.name == "shard.json":
            try:
                document = json.loads(data)
                document.pop("work", None)
                data = json.dumps(document, sort_keys=True).encode()
            except ValueError:
                pass
        found[str(path.relative_to(folder))] = data
    return found


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if LEFTOVER.fullmatch(p.name))


def run(command: list[str], strace: list[str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full = [*(strace or []), *COMMAND, *command]
    try:
        return subprocess.run(full, capture_output=True, text=True, timeout=180, check=False, cwd=cwd)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(full, -999, "", "hung")


def make_setup(root: Path) -> Setup:
    """Two inputs (a refinement and its re-extraction), both shards and their merge run once: the oracle."""
    from test_particles_job import reextracted_pair

    root.mkdir(parents=True, exist_ok=True)
    inputs = [str(p) for p in reextracted_pair(root, n_per_mic=30)]
    setup = Setup(root, inputs, {}, {})
    shards, out = root / "oracle_shards", root / "oracle_out"
    for k in (1, 2):
        done = run(setup.shard(k, shards))
        assert done.returncode == 0, done.stderr
    done = run(setup.merge(shards, out))
    assert done.returncode == 0, done.stderr
    setup.shards_oracle, setup.merged_oracle = files(shards), files(out)
    return setup


def renames(command: list[str], folder: Path, root: Path) -> list[int]:
    """The numbers N (``when=N``) of the command's renames, over all its threads, that name ``folder``."""
    log = root / "trace.log"
    done = run(command, ["strace", "-f", "-y", "-qq", "-o", str(log), "-e", "trace=rename,renameat,renameat2"])
    assert done.returncode == 0, done.stderr
    numbers = []
    count = 0
    for line in log.read_text(errors="replace").splitlines():
        call = line.split(None, 1)[1] if " " in line else line
        if not call.startswith("rename(") and not call.startswith("renameat"):
            continue
        if call.startswith("rename("):
            count += 1
            if str(folder) in call:
                numbers.append(count)
    return numbers


def again_as_advised(command: list[str]) -> subprocess.CompletedProcess:
    """The command again; once more with --force if its refusal says so (the printed advice)."""
    done = run(command)
    if done.returncode != 0 and "--force" in done.stderr:
        done = run([*command, "--force"])
    return done


def shard_case(setup: Setup, when: int) -> list[str]:
    """Shard 2 killed at its ``when``-th rename, shard 1 complete; then the merge, shard 2 again, the merge again."""
    root = setup.root
    shards, out = (
        root / "case_shards",
        root / "case_out",
    )  # (as deep as the oracle's: shard.json names the inputs from there)
    for folder in (shards, out):
        shutil.rmtree(folder, ignore_errors=True)
    assert run(setup.shard(1, shards)).returncode == 0
    problems = []
    killed = run(
        setup.shard(2, shards),
        ["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"inject=rename:signal=KILL:when={when}"],
    )
    if killed.returncode == -999:
        return ["hang"]
    if killed.returncode != -9:
        problems.append(f"not killed (status {killed.returncode})")
    if "Traceback" in killed.stderr:
        problems.append("traceback")
    early = run(setup.merge(shards, out))
    if early.returncode == 0 and files(out) != setup.merged_oracle:
        problems.append("a merge at once took what the kill left for complete: outputs not the oracle's")
    if early.returncode != 0 and (len(early.stderr.strip().splitlines()) != 1 or "Traceback" in early.stderr):
        problems.append(f"a merge at once: not one line: {early.stderr.strip()[:200]}")
    again = again_as_advised(setup.shard(2, shards))
    if again.returncode != 0:
        problems.append(f"shard again: status {again.returncode}: {again.stderr.strip()[:200]}")
    if files(shards) != setup.shards_oracle:
        problems.append("shards again: not the oracle's")
    shutil.rmtree(out, ignore_errors=True)
    merged = run(setup.merge(shards, out))
    if merged.returncode != 0 or files(out) != setup.merged_oracle:
        problems.append(f"merge: status {merged.returncode}, outputs the oracle's: {files(out) == setup.merged_oracle}")
    if left := leftovers(shards) + leftovers(out):
        problems.append(f"left {left}")
    return problems


def merge_case(setup: Setup, shards: Path, when: int) -> list[str]:
    """The merge killed at its ``when``-th rename; then the merge again as advised."""
    out = setup.root / "merge_case"
    shutil.rmtree(out, ignore_errors=True)
    problems = []
    killed = run(
        setup.merge(shards, out),
        ["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"inject=rename:signal=KILL:when={when}"],
    )
    if killed.returncode == -999:
        return ["hang"]
    if killed.returncode != -9:
        problems.append(f"not killed (status {killed.returncode})")
    again = again_as_advised(setup.merge(shards, out))
    if again.returncode != 0:
        problems.append(f"merge again: status {again.returncode}: {again.stderr.strip()[:200]}")
    elif files(out) != setup.merged_oracle:
        differ = sorted(set(files(out)) ^ set(setup.merged_oracle)) or "bytes"
        problems.append(f"merge again: outputs not the oracle's ({differ})")
    if left := leftovers(out) if out.is_dir() else []:
        problems.append(f"left {left}")
    if files(shards) != setup.shards_oracle:
        problems.append("the merge changed the shards")
    return problems


def sweep(root: Path, log=print) -> tuple[dict[str, int], list[str]]:
    """Every rename of shard 2 and of the merge killed in turn: the counts, and each failed case with its problems."""
    setup = make_setup(root)
    traced = root / "traced_shards"
    assert run(setup.shard(1, traced)).returncode == 0
    shard_renames = renames(setup.shard(2, traced), traced, root)
    merge_renames = renames(setup.merge(setup.root / "oracle_shards", root / "traced_out"), root / "traced_out", root)
    failed = []
    for when in shard_renames:
        if problems := shard_case(setup, when):
            failed.append(f"shard rename #{when}: {'; '.join(problems)}")
            log(failed[-1])
    for when in merge_renames:
        if problems := merge_case(setup, setup.root / "oracle_shards", when):
            failed.append(f"merge rename #{when}: {'; '.join(problems)}")
            log(failed[-1])
    counts = {"shard renames": len(shard_renames), "merge renames": len(merge_renames), "failed": len(failed)}
    log(f"{counts}")
    return counts, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    _, failed = sweep(args.workdir or Path(tempfile.mkdtemp(prefix="shard_kill_sweep_")))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
