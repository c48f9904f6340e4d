"""Messages a user meets (issue 64, item 7; issue 65's small items): each says what is true, in one line.

Each case is worked by hand: the counts and words expected are the situation's, not the code's.
"""

from __future__ import annotations

from click.testing import CliRunner

from cryodedup.cli import main
from helpers import write_star

PICKS = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result) -> str:
    """The error a run ended with: one line, no traceback, exit status not 0."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_one_group_of_duplicates_is_one_group(tmp_path):
    # Two pickers' picks 2 Å apart: one group of duplicates, decided by --prefer (and tied on the score).
    a = write_star(tmp_path / "a.star", PICKS, [["mic1.mrc", 100, 100, 1.0], ["mic1.mrc", 500, 500, 1.0]])
    b = write_star(tmp_path / "b.star", PICKS, [["mic1.mrc", 102, 100, 1.0]])
    preferred = cli("particles", a, b, "-o", tmp_path / "p", "--mic-psize", 1, "--prefer", b, "--json")
    assert preferred.exit_code == 0, preferred.output
    assert "1 group of duplicates: 1 decided by priority" in " ".join(preferred.output.split())
    tied = cli("particles", a, b, "-o", tmp_path / "t", "--mic-psize", 1)
    assert tied.exit_code == 0, tied.output
    assert "1 group tied on the score" in " ".join(tied.output.split())
    assert "1 groups" not in preferred.output + tied.output
