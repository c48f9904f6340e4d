"""cryodedup.cli_run: how the command line runs a job (signals, a Rust panic after one)."""

from __future__ import annotations

import pytest


def test_a_rust_panic_after_a_signal_ends_the_run_as_the_signal(monkeypatch, capsys):
    # Issue 11 item 5: SIGINT while parsing ended in a PanicException traceback.
    import signal

    from cryodedup import cli_run

    class PanicException(BaseException):  # pyo3's, as the extension raises it
        pass

    from cryodedup import signals

    def job_panicking_after_a_signal():
        signals.state.received.append(signal.SIGINT)
        raise PanicException("the core gave up")

    with pytest.raises(SystemExit) as stop:
        cli_run.run_job(job_panicking_after_a_signal)
    assert stop.value.code == 130
    assert (
        capsys.readouterr().err.strip()
        == "Stopped by SIGINT: temporary files removed, the previous outputs (if any) are unchanged"
    )
    with pytest.raises(PanicException):  # without a signal, a panic is a bug and keeps its traceback
        cli_run.run_job(lambda: (_ for _ in ()).throw(PanicException("bug")))


def test_a_signal_while_a_class_is_made_ends_the_run_as_the_signal(capsys):
    # The barrage's signal sweep: SIGINT as shards.py imported formats/microscope.py, inside a
    # dataclass's __set_name__, which Python 3.11 wraps in a RuntimeError: a traceback, status 1.
    import signal

    from cryodedup import cli_run, signals

    class Field:
        def __set_name__(self, owner, name):
            signals.state.received.append(signal.SIGINT)
            raise signals.Stopped(signal.SIGINT)

    with pytest.raises(SystemExit) as stop:
        cli_run.run_job(lambda: type("Positions", (), {"square_names": Field()}))
    assert stop.value.code == 130
    assert (
        capsys.readouterr().err.strip()
        == "Stopped by SIGINT: temporary files removed, the previous outputs (if any) are unchanged"
    )
    with pytest.raises(RuntimeError):  # the same error without a signal is a bug and keeps its traceback
        cli_run.run_job(lambda: (_ for _ in ()).throw(RuntimeError("bug")))


def _micrographs_run(folder, out, stdout: int | None) -> int:
    """``cryodedup micrographs`` on ``folder``'s images, stdout and stderr both to ``stdout`` (a descriptor)."""
    import subprocess
    import sys
    from pathlib import Path

    command = [str(Path(sys.executable).parent / "cryodedup"), "micrographs", str(folder / "*.mrc"), "-o", str(out)]
    done = subprocess.run([*command, "--accept-untrusted"], stdout=stdout, stderr=subprocess.STDOUT, check=False)
    return done.returncode


def test_a_pipe_closed_by_its_reader_changes_neither_the_status_nor_the_outputs(tmp_path):
    # A new user's trial: `micrographs ... --accept-untrusted 2>&1 | head -1` exited 1, the same run 0 without
    # head (rich ended the run at the first line it could not print). Here the pipe's reader is closed before the
    # run starts, so every line it writes meets EPIPE. Oracle: the same run into a pipe read to its end.
    import os
    import subprocess

    import numpy as np

    from fixtures.synthetic import band_noise, write_mrc

    rng = np.random.default_rng(4)
    folder = tmp_path / "images"
    folder.mkdir()
    for m in range(4):
        write_mrc(folder / f"image{m}.mrc", band_noise(rng, 128, 192, 10.0, 40.0, 250.0), 10.0)
    status = _micrographs_run(folder, tmp_path / "read", subprocess.PIPE)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        closed = _micrographs_run(folder, tmp_path / "closed", write_end)
    finally:
        os.close(write_end)
    assert status == 0 and closed == status
    assert sorted(p.name for p in (tmp_path / "closed").iterdir()) == sorted(
        p.name for p in (tmp_path / "read").iterdir()
    )
