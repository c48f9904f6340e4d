"""Faults injected into ``cryodedup select`` at each system call that touches its output folder (issue 98).

As ``fault_sweep.py`` does for ``--update`` rounds: a clean run traced with ``strace -y`` names the
calls (``write``, ``fsync``, ``rename``, ``openat`` ...) of the main thread that touch the output
folder; the run is then made with an error at each (ENOSPC, EIO, EACCES) and with SIGKILL,
SIGTERM and SIGINT. After each: no traceback, no hang; exit 0 only with every output the clean
run's, byte for byte; else a non-zero status, at most one line on stderr (SIGKILL says nothing),
and under their final names no output or the whole set (a signal during the renames completes
them and says so), the inputs unchanged; the same command again with ``--force`` writes the clean
run's outputs and leaves no temporary file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import fault_sweep
import pytest

from helpers import star_text

#: A RELION 3.1 file of 24 particles on 2 micrographs, 300 Å apart (1 Å pixels), with poses.
LABELS = [
    "rlnCoordinateX",
    "rlnCoordinateY",
    "rlnOriginXAngst",
    "rlnOriginYAngst",
    "rlnImageName",
    "rlnMicrographName",
    "rlnOpticsGroup",
    "rlnAngleRot",
    "rlnAngleTilt",
    "rlnAnglePsi",
]
OPTICS_LABELS = [
    "rlnOpticsGroupName",
    "rlnOpticsGroup",
    "rlnMicrographPixelSize",
    "rlnImagePixelSize",
    "rlnImageSize",
    "rlnImageDimensionality",
]
OPTICS = [["opticsGroup1", 1, 1.0, 1.0, 64, 2]]


def _files(root: Path) -> tuple[Path, Path]:
    """The original, and a subset of 9 of its particles re-extracted elsewhere (other names, moved 2 Å, new poses)."""
    sites = [(m, 300.0 * (k % 4) + 150.0, 300.0 * (k // 4) + 150.0) for m in range(2) for k in range(12)]
    rows = [
        f"{x:.6f} {y:.6f} 0.000000 0.000000 {k + 1:06d}@Extract/job007/m{m}.mrcs MotionCorr/job002/m{m}.mrc 1 0 0 0"
        for k, (m, x, y) in enumerate(sites)
    ]
    chosen = [20, 3, 11, 7, 15, 0, 22, 9, 5]
    subset = [
        f"{x + 2:.6f} {y:.6f} 0.000000 0.000000 {j + 1:06d}@Extract/job020/s.mrcs MotionCorr/job002/m{m}.mrc 1 "
        f"{10.0 * j:.6f} {90.0 - j:.6f} {5.0 * j:.6f}"
        for j, (m, x, y) in enumerate(sites[k] for k in chosen)
    ]
    original, part = root / "original.star", root / "subset.star"
    original.write_text(star_text(LABELS, [[row] for row in rows], optics=OPTICS, optics_labels=OPTICS_LABELS))
    part.write_text(star_text(LABELS, [[row] for row in subset], optics=OPTICS, optics_labels=OPTICS_LABELS))
    return original, part


def _command(original: Path, subset: Path) -> list[str]:
    return ["select", str(original), "--subset", str(subset), "--take", "angles,shifts", "-q"]


def _calls(command: list[str], root: Path) -> dict[str, list[int]]:
    """{system call: the numbers N (``when=N``) of the main thread's calls that touch the output folder}."""
    out, log = root / "traced", root / "trace.log"
    traced = ",".join(fault_sweep.ERRORS)
    done = fault_sweep.run(command, out, ["strace", "-f", "-y", "-qq", "-o", str(log), "-e", f"trace={traced}"])
    assert done.returncode == 0, done.stderr
    lines = log.read_text(errors="replace").splitlines()
    main = lines[0].split()[0]
    counts: dict[str, int] = {}
    found: dict[str, list[int]] = {name: [] for name in fault_sweep.ERRORS}
    for line in lines:
        pid, call = line.split(None, 1)
        name = call.split("(", 1)[0]
        if pid != main or name not in found:
            continue
        counts[name] = counts.get(name, 0) + 1
        if str(out) in call:
            found[name].append(counts[name])
    shutil.rmtree(out)
    return found


def _problems(command, inputs, oracle, root: Path, call: str, when: int, fault: str) -> list[str]:
    out = root / "case"
    shutil.rmtree(out, ignore_errors=True)
    how = f"signal={fault}" if fault in fault_sweep.SIGNALS else f"error={fault}"
    strace = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"inject={call}:{how}:when={when}"]
    done = fault_sweep.run(command, out, strace)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if done.returncode == -999:
        return ["hang"]
    problems = []
    if "Traceback" in done.stderr or "panicked" in done.stderr:
        problems.append(f"traceback: {lines[-1] if lines else ''}")
    written = fault_sweep.outputs(out) if out.exists() else {}
    if done.returncode == 0 and written != oracle:
        problems.append("exit 0 without the outputs")
    if done.returncode != 0:
        if len(lines) > 1 and fault != "KILL":
            problems.append(f"{len(lines)} lines: {lines[:3]}")
        placed = {name: data for name, data in written.items() if name.startswith("particles_")}
        if placed and placed != oracle:  # (a signal during the renames: the set completed, and said so)
            problems.append(f"some outputs under their final names after a failure: {sorted(placed)}")
    if {path: path.read_bytes() for path in inputs} != inputs:
        problems.append("an input changed")
    again = fault_sweep.run([*command, "--force"], out)
    if again.returncode != 0 or fault_sweep.outputs(out) != oracle:
        problems.append(f"run again: status {again.returncode}, outputs {'differ' if again.returncode == 0 else '-'}")
    if left := fault_sweep.leftovers(out):  # (a SIGKILL leaves its temporary files: the next run clears them)
        problems.append(f"left {left}")
    return problems


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (apt-get install strace)")
def test_a_fault_at_each_call_that_touches_the_outputs_leaves_all_or_nothing(tmp_path: Path) -> None:
    original, subset = _files(tmp_path)
    inputs = {original: original.read_bytes(), subset: subset.read_bytes()}
    command = _command(original, subset)
    clean = fault_sweep.run(command, tmp_path / "clean")
    assert clean.returncode == 0, clean.stderr
    oracle = fault_sweep.outputs(tmp_path / "clean")
    assert {"particles_selected.star", "particles_deselected.star"} <= set(oracle)
    calls = _calls(command, tmp_path)
    assert calls["rename"] and calls["write"]
    failed = {}
    for call, numbers in calls.items():
        for when in numbers:
            for fault in (fault_sweep.ERRORS[call], *fault_sweep.SIGNALS):
                if (call, fault) == ("rename", "KILL") and when > calls["rename"][0]:
                    continue  # (the known gap: test_a_kill_between_the_renames_leaves_a_partial_set)
                if problems := _problems(command, inputs, oracle, tmp_path, call, when, fault):
                    failed[f"{call} #{when} {fault}"] = problems
    assert not failed, failed


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (apt-get install strace)")
@pytest.mark.xfail(
    strict=True,
    reason="a SIGKILL between the outputs' renames leaves the first renamed in place alone (AtomicOutputs renames "
    "one by one; nothing marks the set unfinished for the next run): found by this sweep, not fixed yet",
)
def test_a_kill_between_the_renames_leaves_a_partial_set(tmp_path: Path) -> None:
    original, subset = _files(tmp_path)
    inputs = {original: original.read_bytes(), subset: subset.read_bytes()}
    command = _command(original, subset)
    clean = fault_sweep.run(command, tmp_path / "clean")
    assert clean.returncode == 0, clean.stderr
    oracle = fault_sweep.outputs(tmp_path / "clean")
    renames = _calls(command, tmp_path)["rename"]
    assert len(renames) >= 2
    assert not _problems(command, inputs, oracle, tmp_path, "rename", renames[1], "KILL")
