"""The signals' contract (issue 30, items 1 and 11): real SIGINT and SIGTERM sent to real runs.

At each moment of a run (starting, outputs written under temporary names, the renames, the
summary) the status is 128 + the signal's number, one line says what is on disk, and the
outputs are the previous set or the new complete set, with nothing left behind at any depth.
The named moments are reached with the test hook ``CRYODEDUP_TEST_PAUSE``; the sweeps (slow)
send signals at times spread over whole runs of a 1M-particle file and a 3,000-file picker job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from fixtures.signal_runs import (
    COMMAND,
    SAYS_NEW,
    expected_at,
    particle_job,
    picker_job,
    problems,
    run_stopped,
    shard_job,
)

POINTS = ("starting", "written", "renames", "ending", "locked")
SIGNALS = (signal.SIGINT, signal.SIGTERM)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    root = tmp_path_factory.mktemp("signals")
    return {
        "particles": particle_job(root / "particles", 20_000),
        "picker job": picker_job(root / "picker", 30),
        "shard": shard_job(root / "shard"),
    }


#: Each job at each of its moments: a shard has no "locked" (it writes its two files with
#: put_in_place, under no folder lock), so that case is not made rather than skipped.
MOMENTS = [(which, point) for which in ("particles", "picker job", "shard") for point in POINTS]
MOMENTS.remove(("shard", "locked"))


@pytest.mark.slow
@pytest.mark.parametrize("which, point", MOMENTS)
def test_a_signal_at_each_moment_of_a_run_says_what_it_left(jobs, which, point):
    job = jobs[which]
    signum = SIGNALS[POINTS.index(point) % 2]
    outcome = run_stopped(job, signum, pause=point)
    assert problems(job, signum, outcome) == [], outcome.stderr
    state, said = expected_at(point)
    assert outcome.code == 128 + signum, outcome.stderr
    assert outcome.stderr.splitlines()[-1] == f"Stopped by {signal.Signals(signum).name}{said}"
    assert outcome.outputs == (job.old if state == "old" else job.new)


def test_a_signal_in_a_finaliser_at_the_end_of_a_shard_still_stops_the_run(jobs, tmp_path):
    # Issue 30 item 11: SIGTERM in the last ms of --shard printed "Exception ignored in ...
    # Stopped: SIGTERM" and exited 0. Here a finaliser that runs as the shard ends receives it.
    job = jobs["shard"]
    job.reset()
    script = textwrap.dedent(
        """
        import os, signal, sys
        from cryodedup.jobs.micrographs import shards

        class Finaliser:
            def __del__(self):
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(10_000):  # the handler runs here, inside the finaliser
                    pass

        summary = shards._shard_summary

        def summary_with_a_finaliser(*args, **kwargs):
            Finaliser()
            return summary(*args, **kwargs)

        shards._shard_summary = summary_with_a_finaliser
        try:
            from cryodedup.entry import main
        except ImportError:  # before the signals' contract
            from cryodedup.cli import main
        sys.argv = ["cryodedup", *sys.argv[1:]]
        main()
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script, *job.command()[3:]], capture_output=True, text=True, check=False
    )
    assert run.returncode == 143, run.stderr
    assert run.stderr.strip().splitlines() == [f"Stopped by SIGTERM {SAYS_NEW}"]


def test_orphans_of_a_killed_run_are_removed_in_nested_output_folders(jobs):
    # A picker job rerun with --force writes its per-micrograph files one by one in the
    # existing kept/Movies folder; a run killed (SIGKILL) there left its temporary files,
    # and only the top folder was cleaned.
    job = jobs["picker job"]
    job.reset()
    nested = next(p for p in job.out.rglob("*_autopick.star") if p.parent != job.out).parent
    orphan = nested / f".m00000_autopick.star.{2**22 + 12345}.tmp"  # a pid no process has (above pid_max)
    orphan.write_text("half")
    outcome = run_stopped(job, signal.SIGINT, pause="never", reset=False)  # runs to its end
    assert outcome.code == 0, outcome.stderr
    assert not orphan.exists()


@pytest.mark.slow
@pytest.mark.parametrize("which, size", [("particles", 1_000_000), ("picker job", 3_000)])
def test_signals_swept_over_a_whole_run(tmp_path, which, size):
    # From the moment cryodedup's handlers are in place (a few ms after Python starts) to past
    # the end: start-up imports, reading, deciding, writing, the renames, the summary.
    job = particle_job(tmp_path, size) if which == "particles" else picker_job(tmp_path, size)
    whole = run_stopped(job, signal.SIGINT, pause="never").seconds
    times = [whole * k / 24 for k in range(27)]
    found = {}
    for k, delay in enumerate(times):
        signum = SIGNALS[k % 2]
        outcome = run_stopped(job, signum, delay=delay)
        found[f"{delay:.3f} s {signal.Signals(signum).name} -> {outcome.code}"] = problems(job, signum, outcome)
    assert {k: v for k, v in found.items() if v} == {}, found


@pytest.mark.parametrize("signum", SIGNALS)
def test_the_start_up_ends_with_one_line_not_a_traceback(jobs, signum):
    # Issue 30 item 11: Ctrl-C while importing gave a Rust panic or a KeyboardInterrupt
    # traceback, SIGTERM no message at all.
    outcome = run_stopped(jobs["particles"], signum, delay=0)
    assert problems(jobs["particles"], signum, outcome) == [], outcome.stderr
    if outcome.code != 0:
        assert os.path.exists(jobs["particles"].out)


def test_the_handlers_come_before_any_module_python_had_not_loaded():
    # Issue 38: until the handlers are in place a signal finds Python's defaults (SIGTERM: no
    # word; Ctrl-C: a traceback); each module imported before them widens that window (the
    # signal module's enum: 2 ms idle, 20 ms on a busy machine; typing for errors.py: 10-40 ms).
    # Modules built into the interpreter (gc) cost nothing to import.
    code = "import sys; before = set(sys.modules); import cryodedup.entry; print(*sorted(set(sys.modules) - before))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split()) - set(sys.builtin_module_names)
    assert loaded == {"__future__", "cryodedup", "cryodedup.errors", "cryodedup.signals", "cryodedup.entry"}


def test_a_signal_while_the_demo_copies_its_example_leaves_whole_files(tmp_path):
    # The demo copies its example input before the run: a half-copied file would be taken as
    # it is by the next demo (an existing file is not copied again without --force).
    from cryodedup.cli import EXAMPLES

    env = dict(os.environ, CRYODEDUP_TEST_PAUSE="example")
    with open(tmp_path / "stderr.txt", "w") as err:
        run = subprocess.Popen([*COMMAND, "demo", str(tmp_path / "demo"), "-q"], stderr=err, env=env)
        while run.poll() is None and "paused at" not in (tmp_path / "stderr.txt").read_text():
            time.sleep(0.005)
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 143
    assert (tmp_path / "stderr.txt").read_text().splitlines()[-1] == (
        "Stopped by SIGTERM before the run began: no output was written"
    )
    copied = sorted((tmp_path / "demo" / "input").iterdir())
    assert [p.read_bytes() for p in copied] == [(EXAMPLES / p.name).read_bytes() for p in copied]
    assert not (tmp_path / "demo" / "result").exists()


def test_a_second_signal_waits_while_the_first_one_stops_the_job(monkeypatch):
    # SIGINT to the process group, then SIGTERM from cryodedup-relion as it aborts (a queue's
    # scancel under RELION): the second one, raised while the first one's Stopped removed the
    # temporary files, broke that off and left them (the barrage's "SIGINT to the group with
    # the outputs written under temporary names", issue 56).
    from cryodedup import signals

    monkeypatch.setattr(signals.state, "phase", signals.RUNNING)
    monkeypatch.setattr(signals.state, "received", [])
    with pytest.raises(signals.Stopped) as first:
        signals.dispatch(signal.SIGINT, None)
    assert first.value.signum == signal.SIGINT
    signals.dispatch(signal.SIGTERM, None)  # recorded, not raised
    assert signals.state.received == [signal.SIGINT, signal.SIGTERM]
