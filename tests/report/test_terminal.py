"""The summary's table drawn without rich: the same characters as rich's, where it is drawn."""

from __future__ import annotations

import io

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cryodedup.report import terminal
from cryodedup.report.terminal import Reporter, plain_table

# Every character the plain table draws, with the ones rich must draw (a tab, a wide
# character, a combining accent, a control character) and its markup's brackets.
TEXT = st.text(alphabet=st.sampled_from([*"aZ09 _-./,:%()[]\\@=Åµ…×°\n", "\t", "字", "\u0301", "\x1b"]), max_size=30)
ROWS = st.lists(st.tuples(TEXT, TEXT), max_size=6)


def drawn(title: str, rows: list[tuple[str, str]], plain: bool, monkeypatch) -> str:
    """What Reporter.table writes on a stderr that is not a terminal, with the plain table or with rich."""
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    monkeypatch.setattr(terminal, "drawn_without_styles", lambda stream: plain)
    Reporter(quiet=False).table(title, rows)
    return stderr.getvalue()


@pytest.fixture(autouse=True)
def _no_terminal_told(monkeypatch):
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(title=TEXT, rows=ROWS, columns=st.sampled_from(["20", "80", "200"]))
@example(title="[a]", rows=[("x", "y")], columns="80")  # a title that reads as rich markup, found by hypothesis
@example(title="t", rows=[("x", "a:a:b")], columns="80")  # rich's emoji code :a: (found by hypothesis, rich 15)
def test_the_plain_table_is_rich_s_table(title, rows, columns):
    # The oracle is rich drawing the same rows (the command's own path on a terminal), on a
    # file that is not a terminal, whatever the terminal's width.
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("COLUMNS", columns)
        ours = plain_table(title, rows)
        if ours is not None:
            assert ours == drawn(title, rows, False, monkeypatch)
            assert drawn(title, rows, True, monkeypatch) == ours


def test_the_summary_s_own_rows_are_drawn_plain(monkeypatch):
    rows = [
        ("Particles in", "1,000,000"),
        ("Minimum distance", "50 Å (keep best of each group)"),
        ("Pictures", "out/a.png\nout/b.png"),
        ("Rejected files", "out/[job]/particles_rejected.star"),
        ("Distance", "at most 2 µm apart; …/mic_0001.mrc"),
    ]
    ours = plain_table("cryodedup particles", rows)
    assert ours is not None
    assert ours == drawn("cryodedup particles", rows, False, monkeypatch)
    assert ours.splitlines()[1].startswith("┌")


def test_a_terminal_or_a_forced_one_is_rich_s(_no_terminal_told):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert not terminal.drawn_without_styles(Tty())
    assert terminal.drawn_without_styles(io.StringIO())  # not a terminal
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("FORCE_COLOR", "1")
        assert not terminal.drawn_without_styles(io.StringIO())
        monkeypatch.delenv("FORCE_COLOR")
        monkeypatch.setenv("TTY_COMPATIBLE", "1")
        assert not terminal.drawn_without_styles(io.StringIO())


@pytest.mark.parametrize("name", ["sh\nline2", "x\nError: forged", "x\r\nError: forged"])
def test_a_name_with_a_line_break_is_one_line_in_a_refusal(tmp_path, name):
    # Issue 99: particles-merge $'sh\nline2' printed two lines; a folder named "x\nError: ..." forged an error line.
    import subprocess
    import sys

    (tmp_path / name).mkdir()
    command = [sys.executable, "-m", "cryodedup", "particles-merge", name, "-o", "out"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    (line,) = done.stderr.strip("\n").split("\n")
    shown = name.replace("\r", "\\r").replace("\n", "\\n")
    assert line.startswith(f"Error: {shown}: ")
