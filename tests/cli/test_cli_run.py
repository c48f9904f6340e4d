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
