"""cryodedup.outputs: outputs appear complete or not at all; existing files and inputs are refused."""

from __future__ import annotations

import errno
import importlib.util
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cryodedup import CryodedupError
from cryodedup.outputs import AtomicOutputs, check_plotting


def test_outputs_appear_only_when_the_block_succeeds(tmp_path):
    final = [tmp_path / "out" / "a.star", tmp_path / "out" / "b.star"]
    with AtomicOutputs(final) as temporary:
        assert set(temporary) == set(final)
        for path, tmp in temporary.items():
            assert tmp.parent == path.parent and tmp.name.startswith(".") and tmp != path
            tmp.write_text(path.name)
        assert not any(p.exists() for p in final)  # nothing under the final names until the end
    assert [p.read_text() for p in final] == ["a.star", "b.star"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.star", "b.star"]


def test_a_failure_leaves_nothing_behind(tmp_path):
    final = [tmp_path / "a.star", tmp_path / "b.star"]
    with pytest.raises(RuntimeError), AtomicOutputs(final) as temporary:
        temporary[final[0]].write_text("half")
        raise RuntimeError("the job failed")
    assert list(tmp_path.iterdir()) == []


def test_existing_outputs_are_refused_unless_force(tmp_path):
    existing = tmp_path / "kept.star"
    existing.write_text("old")
    with pytest.raises(CryodedupError, match=r"kept\.star: already exists; use --force"):
        AtomicOutputs([existing])
    assert existing.read_text() == "old"
    with AtomicOutputs([existing], force=True) as temporary:
        temporary[existing].write_text("new")
    assert existing.read_text() == "new"


def test_an_input_is_never_an_output_even_with_force(tmp_path):
    source = tmp_path / "particles.star"
    source.write_text("data")
    same_file = tmp_path / "sub" / ".." / "particles.star"
    with pytest.raises(CryodedupError, match="is also an input; choose another output folder"):
        AtomicOutputs([same_file], force=True, inputs=[source])
    assert source.read_text() == "data"


def test_an_output_folder_below_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    with (
        pytest.raises(CryodedupError, match=r"file/out: cannot create the output folder"),
        AtomicOutputs([tmp_path / "file" / "out" / "a.star"]),
    ):
        pass


def test_plotting_without_pillow_is_refused_before_any_work(monkeypatch):
    check_plotting(False)  # never asks without --plot
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "PIL" else real_find_spec(name))
    check_plotting(False)
    with pytest.raises(CryodedupError, match=r"--plot needs Pillow: pip install 'cryodedup\[plot\]'"):
        check_plotting(True)


def test_an_existing_output_among_many_new_ones_is_refused(tmp_path):
    # Outputs in folders that do not exist yet are not looked up one by one; one that exists still counts.
    existing = tmp_path / "old" / "kept.star"
    existing.parent.mkdir()
    existing.write_text("old")
    fresh = [tmp_path / "new" / "Movies" / f"m{k}.star" for k in range(50)]
    with pytest.raises(CryodedupError, match=r"old/kept\.star: already exists"):
        AtomicOutputs([*fresh, existing])
    with pytest.raises(CryodedupError, match="is also an input"):
        AtomicOutputs([*fresh, tmp_path / "new" / ".." / "old" / "kept.star"], force=True, inputs=[existing])


# --- issue 11: a job's outputs together, a lock per folder, write errors and signals as one line --------------


def _example_inputs(folder):
    from fixtures.synthetic import write_example

    return [p for p in write_example(folder) if p.name.startswith("particles_")]


def _files(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_a_failure_in_a_later_step_of_a_batch_leaves_the_earlier_outputs_unwritten(tmp_path):
    from cryodedup.outputs import output_batch

    first, second = tmp_path / "out" / "particles_kept.star", tmp_path / "out" / "report.html"
    second.parent.mkdir()
    second.write_text("old report")
    with pytest.raises(CryodedupError, match=r"report\.html: already exists"), output_batch():
        with AtomicOutputs([first]) as tmp:
            tmp[first].write_text("new")
        AtomicOutputs([second])  # the pictures' step is refused: the particle file must not appear
    assert _files(tmp_path / "out") == ["report.html"]


def test_an_output_that_is_a_folder_is_refused_before_anything_is_written_even_with_force(tmp_path):
    # Issue 11 item 4: particles_kept was renamed into place before particles_rejected (a folder) failed.
    from cryodedup.jobs.particles.entrance import remove_duplicate_particles
    from cryodedup.options import ParticleOptions

    inputs = _example_inputs(tmp_path / "in")
    out = tmp_path / "out"
    (out / "particles_rejected.star").mkdir(parents=True)
    (out / "particles_kept.star").write_text("old kept")
    with pytest.raises(CryodedupError, match=r"particles_rejected\.star: is a folder"):
        remove_duplicate_particles(inputs, out, ParticleOptions(score="none"), force=True)
    assert (out / "particles_kept.star").read_text() == "old kept"
    assert _files(out) == ["particles_kept.star"]


def test_an_existing_picture_stops_the_run_before_the_particle_files_appear(tmp_path):
    pytest.importorskip("PIL")
    from cryodedup.jobs.particles.entrance import remove_duplicate_particles
    from cryodedup.options import ParticleOptions

    inputs = _example_inputs(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("old")
    with pytest.raises(CryodedupError, match=r"report\.html: already exists"):
        remove_duplicate_particles(inputs, out, ParticleOptions(score="none", plot=True, plot_mics=1))
    assert _files(out) == ["report.html"]


def test_a_failed_rename_puts_the_old_outputs_back(tmp_path, monkeypatch):
    from cryodedup import outputs

    finals = [tmp_path / "kept.star", tmp_path / "rejected.star"]
    for p in finals:
        p.write_text(f"old {p.name}")
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith("rejected.star") and ".tmp" in str(src):
            raise OSError(errno.EIO, "Input/output error", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(outputs.os, "replace", failing_replace)
    with (
        pytest.raises(CryodedupError, match=r"rejected\.star: cannot put the outputs in place"),
        AtomicOutputs(finals, force=True) as tmp,
    ):
        for p in finals:
            tmp[p].write_text(f"new {p.name}")
    assert [p.read_text() for p in finals] == ["old kept.star", "old rejected.star"]
    assert _files(tmp_path) == ["kept.star", "rejected.star"]


def test_a_second_run_into_a_locked_folder_is_refused(tmp_path):
    # Issue 11 item 6: two runs into one folder both exited 0, one replacing the other's outputs.
    out = tmp_path / "out"
    holder = AtomicOutputs([out / "a.star"])
    with pytest.raises(CryodedupError, match=r"out: another cryodedup run is writing to this output folder"):
        _other_process_takes(out / "b.star")
    with holder as tmp:
        tmp[out / "a.star"].write_text("a")
    assert _files(out) == ["a.star"]  # the lock file goes with the run
    with pytest.raises(AssertionError, match="not refused"):  # free again
        _other_process_takes(out / "b.star")


def _other_process_takes(path):
    code = (
        "import sys\nfrom cryodedup import CryodedupError\nfrom cryodedup.outputs import AtomicOutputs\n"
        "try:\n    AtomicOutputs([sys.argv[1]])\nexcept CryodedupError as err:\n    print(err); sys.exit(3)\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(path)], check=False, capture_output=True, text=True)
    if run.returncode == 3:
        raise CryodedupError(run.stdout.strip())
    raise AssertionError(f"the second process was not refused: {run.returncode} {run.stdout} {run.stderr}")


@pytest.mark.slow
def test_concurrent_cli_runs_into_one_folder_never_both_succeed(tmp_path):
    inputs = [str(p) for p in _example_inputs(tmp_path / "in")]
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cryodedup.cli", "particles", *inputs, "-o", str(out), "--score", "none", "-q"]
    for trial in range(4):
        runs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        codes = [r.wait() for r in runs]
        errors = [r.stderr.read() for r in runs]
        assert codes.count(0) <= 1, (trial, codes, errors)
        assert codes.count(0) == 1 or any("another cryodedup run" in e for e in errors)
        for code, err in zip(codes, errors):
            assert code == 0 or ("already exists" in err or "another cryodedup run" in err), err
        assert _files(out) == ["particles_kept.star", "particles_rejected.star"]
        for p in out.iterdir():
            p.unlink()


def test_an_output_folder_without_write_permission_is_one_line(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    out = tmp_path / "out"
    out.mkdir(mode=0o555)
    with pytest.raises(CryodedupError, match=r"out: cannot write in the output folder \(Permission denied\)"):
        AtomicOutputs([out / "a.star"])


def _run_limited(command, limit_bytes, cwd):
    """Runs the CLI with files limited to ``limit_bytes`` (as a full disk: writes fail with EFBIG)."""

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(command, check=False, capture_output=True, text=True, preexec_fn=limit, cwd=cwd)


@pytest.mark.parametrize(
    "kind, limit",
    [("star", 100), ("star", 300_000), ("cs", 100), ("micrographs", 100)],  # star: the header, the rows
)
def test_a_disk_that_fills_while_writing_is_one_line_and_leaves_nothing(tmp_path, kind, limit):
    from fixtures.synthetic import cs_particles, write_cs, write_mrc

    inputs = tmp_path / "in"
    inputs.mkdir()
    if kind == "star":
        from fixtures.synthetic import write_benchmark_file

        write_benchmark_file(inputs / "p.star", 4000)
        args = ["particles", str(inputs / "p.star"), "--score", "none"]
    elif kind == "cs":
        write_cs(inputs / "p.cs", cs_particles(np.random.default_rng(0), 4000))
        args = ["particles", str(inputs / "p.cs"), "--score", "none"]
    else:
        rng = np.random.default_rng(0)
        for k in range(3):
            write_mrc(inputs / f"m{k}.mrc", rng.normal(size=(256, 256)).astype(np.float32), psize=4.0)
        # (white noise: a screen of it is blind and refused; the writing is what is tested)
        args = ["micrographs", *(str(inputs / f"m{k}.mrc") for k in range(3)), "--accept-untrusted"]
    before = {p: p.read_bytes() for p in inputs.iterdir()}
    out = tmp_path / "out"
    run = _run_limited([sys.executable, "-m", "cryodedup.cli", *args, "-o", str(out), "-q"], limit, tmp_path)
    assert run.returncode == 1, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "file size limit" in lines[0] and "no output was written" in lines[0], run.stderr
    assert not out.exists()  # not even the folder it made
    assert {p: p.read_bytes() for p in inputs.iterdir()} == before


def _stopped_at(point: str, signum: int, tmp_path: Path, seen: Callable[[Path, int], bool]) -> tuple[int, list[str]]:
    """A particle run paused at ``point`` (``CRYODEDUP_TEST_PAUSE``), checked there by ``seen(out, pid)``
    and sent ``signum``: its status and stderr's lines after the pause's own line.

    The pause makes the moment certain on an idle machine as on a loaded one (these tests waited
    for it on the clock and passed as skips when the run was faster than the poll).
    """
    from fixtures.synthetic import write_benchmark_file

    source = tmp_path / "p.star"
    write_benchmark_file(source, 20_000)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cryodedup.cli", "particles", str(source), "-o", str(out), "--score", "none"]
    err_file = tmp_path / "stderr.txt"
    with open(err_file, "w") as err:
        run = subprocess.Popen(command, stderr=err, env=dict(os.environ, CRYODEDUP_TEST_PAUSE=point))
        deadline = time.monotonic() + 60
        while run.poll() is None and f"paused at {point}" not in err_file.read_text() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert run.poll() is None, f"the run ended without pausing at {point}: {err_file.read_text()}"
        assert seen(out, run.pid), f"paused at {point}: {sorted(p.name for p in out.glob('.*'))}"
        run.send_signal(signum)
        code = run.wait(timeout=60)
    lines = err_file.read_text().strip().splitlines()
    assert lines[0] == f"cryodedup: paused at {point}"
    assert not out.exists() or _files(out) == []
    return code, lines[1:]


def test_sigterm_while_writing_removes_the_temporary_files_and_exits_143(tmp_path):
    # Paused with every output written under its temporary name, before the renames.
    def written(out: Path, pid: int) -> bool:
        return any(p.suffix in (".scratch", ".tmp") for p in out.glob(".*"))

    code, stderr = _stopped_at("written", signal.SIGTERM, tmp_path, written)
    assert code == 143, stderr
    assert stderr == ["Stopped by SIGTERM: temporary files removed, the previous outputs (if any) are unchanged"]


def test_sigint_while_reading_exits_130_with_one_line(tmp_path):
    # Paused with the input mapped (/proc/PID/maps names it) and its rows not yet scanned.
    source = str(tmp_path / "p.star")

    def mapped(out: Path, pid: int) -> bool:
        return source in Path(f"/proc/{pid}/maps").read_text()

    code, stderr = _stopped_at("reading", signal.SIGINT, tmp_path, mapped)
    assert code == 130, stderr
    assert stderr == ["Stopped by SIGINT: temporary files removed, the previous outputs (if any) are unchanged"]


def test_a_signal_during_the_renames_waits_until_every_output_is_in_place(tmp_path, monkeypatch):
    # A Ctrl-C between two renames left the new kept file beside the old rejected one (and a backup).
    from cryodedup import outputs

    finals = [tmp_path / "kept.star", tmp_path / "rejected.star"]
    for p in finals:
        p.write_text(f"old {p.name}")
    real_replace = os.replace

    def replace_then_interrupt(src, dst):
        real_replace(src, dst)
        os.kill(os.getpid(), signal.SIGINT)  # Python's default handler raises KeyboardInterrupt

    monkeypatch.setattr(outputs.os, "replace", replace_then_interrupt)
    # Python's own handler, even where the test runner was started with SIGINT ignored (nohup, &).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt), AtomicOutputs(finals, force=True) as tmp:
            for p in finals:
                tmp[p].write_text(f"new {p.name}")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert [p.read_text() for p in finals] == ["new kept.star", "new rejected.star"]
    assert _files(tmp_path) == ["kept.star", "rejected.star"]


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_new_folder_of_outputs_appears_whole_by_one_rename(tmp_path):
    # A picker job writes thousands of per-micrograph files: they go into one temporary
    # folder, renamed into place at the end; until then no output folder appears.
    job = tmp_path / "job"
    files = [job / "kept" / "Movies" / f"m{k}_autopick.star" for k in range(3)] + [job / "autopick_kept.star"]
    with AtomicOutputs(files, folders=[job / "kept"]) as temporary:
        for path, tmp in temporary.items():
            tmp.write_text(path.name)
        assert not (job / "kept").exists() and not files[-1].exists()
        assert {tmp.parent.parent.name for tmp in list(temporary.values())[:3]} == {f".kept.{os.getpid()}.tmp"}
    assert _tree(job) == ["autopick_kept.star", "kept", "kept/Movies"] + [
        f"kept/Movies/m{k}_autopick.star" for k in range(3)
    ]
    assert [p.read_text() for p in files] == [p.name for p in files]


def test_a_failure_leaves_no_output_folder_behind(tmp_path):
    job = tmp_path / "job"
    files = [job / "kept" / "Movies" / "m0_autopick.star", job / "autopick_kept.star"]
    with pytest.raises(RuntimeError), AtomicOutputs(files, folders=[job / "kept"]) as temporary:
        temporary[files[0]].write_text("half")
        raise RuntimeError("the job failed")
    assert _tree(job) == []


def test_an_existing_output_folder_gets_its_files_one_by_one(tmp_path):
    # Rerun with --force: the folder stays, with its other files; the outputs are replaced.
    folder = tmp_path / "kept"
    (folder / "Movies").mkdir(parents=True)
    (folder / "Movies" / "other.star").write_text("not ours")
    (folder / "Movies" / "m0_autopick.star").write_text("old")
    target = folder / "Movies" / "m0_autopick.star"
    with AtomicOutputs([target], force=True, folders=[folder]) as temporary:
        assert temporary[target].parent == target.parent
        temporary[target].write_text("new")
    assert target.read_text() == "new" and (folder / "Movies" / "other.star").read_text() == "not ours"


def test_temporary_names_as_text_match_the_paths(tmp_path):
    # A picker job asks for tens of thousands of temporary names as text (no Path each):
    # they must be the names the dict gives, for files in a new folder and beside the others.
    job = tmp_path / "job"
    inside = [str(job / "kept" / "Movies" / f"m{k}_autopick.star") for k in range(3)]
    beside = job / "autopick_kept.star"
    with AtomicOutputs([*inside, beside], folders=[job / "kept"]) as temporary:
        texts = [temporary.text(p) for p in [*inside, str(beside)]]
        assert texts[:3] == [str(job / f".kept.{os.getpid()}.tmp" / "Movies" / f"m{k}_autopick.star") for k in range(3)]
        assert texts[3] == str(job / f".autopick_kept.star.{os.getpid()}.tmp")
        assert texts == [str(temporary[Path(p)]) for p in [*inside, str(beside)]]
        assert list(temporary) == [Path(p) for p in inside] + [beside]  # every output, in the order given
        for final, text in zip([*inside, str(beside)], texts):
            Path(text).write_text(Path(final).name)
    assert [Path(p).read_text() for p in [*inside, str(beside)]] == [Path(p).name for p in [*inside, str(beside)]]


def test_a_signal_as_the_outputs_are_handed_to_the_batch_leaves_no_file(tmp_path, monkeypatch):
    # A signal raised in AtomicOutputs.__exit__ before the batch holds the renames (the particle
    # job's one pass makes its outputs just before that): the batch could not remove the files.
    class Interrupted(list):
        def __iadd__(self, other):
            raise KeyboardInterrupt

    from cryodedup import outputs

    with pytest.raises(KeyboardInterrupt), outputs.output_batch(), AtomicOutputs([tmp_path / "out" / "a.star"]) as tmp:
        tmp[tmp_path / "out" / "a.star"].write_text("rows\n")
        monkeypatch.setattr(outputs._batches[-1], "renames", Interrupted())
    assert not (tmp_path / "out").exists()


def test_a_signal_while_scratch_files_are_set_up_leaves_nothing(tmp_path, monkeypatch):
    # The particle job's one pass sets up its scratch files right after opening its input, where
    # a user's Ctrl-C often lands: the batch must know the folder and lock before the signal acts.
    from cryodedup import outputs

    made_folders = outputs._make_folders

    def make_then_interrupt(folders):
        made = made_folders(folders)
        os.kill(os.getpid(), signal.SIGINT)
        return made

    monkeypatch.setattr(outputs, "_make_folders", make_then_interrupt)
    # Python's own handler: a run in the background (as CI's) starts with SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt), outputs.output_batch():
            outputs.scratch_files([tmp_path / "out" / "a.star"])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not (tmp_path / "out").exists()


def test_a_failed_write_that_names_no_file_names_the_outputs_folder(tmp_path):
    # Found by a barrage (2026-11-26): "the outputs: the disk is full" named no path.
    import errno

    from cryodedup.outputs import write_error

    out = tmp_path / "out"
    temporary = {out / "a.star": out / ".a.star.tmp", out / "b.star": out / ".b.star.tmp"}
    full = OSError(errno.ENOSPC, "No space left on device")
    assert str(write_error(full, temporary)) == (
        f"the outputs in {tmp_path / 'out'}: the disk is full while writing the outputs; no output was written"
    )
    named = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / ".a.star.tmp"))
    assert str(write_error(named, temporary)).startswith(f"{tmp_path / 'out' / 'a.star'}: the disk is full")


def test_a_backup_a_killed_run_left_is_removed_where_its_output_is_there(tmp_path: Path) -> None:
    """A run killed while renaming leaves ``.NAME.PID.old`` links (the fault sweep, issue 65): the next run into the
    folder removes those whose output is there, and keeps one whose output is missing (its only copy)."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / "a.txt").write_text("new")
    (tmp_path / f".a.txt.{gone.pid}.old").write_text("old")
    (tmp_path / f".b.txt.{gone.pid}.old").write_text("only copy")
    with AtomicOutputs([tmp_path / "c.txt"]) as tmp:
        tmp[tmp_path / "c.txt"].write_text("c")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".b.txt.{gone.pid}.old", "a.txt", "c.txt"]
