"""Micrograph file names the outputs cannot hold are refused in one line (issue 38, item 10).

micrographs_kept.txt and _rejected.txt hold one name a line, pairs.csv and duplicates.csv
are read a line a row: a name with a line break would be split (6 lines for 4 micrographs);
a name whose bytes are not UTF-8 cannot be written to a UTF-8 text file at all (a traceback).
The oracle: the command's output, one ``Error:`` line naming the file with its bytes escaped,
and no output file.
"""

from __future__ import annotations

import os
import shutil

import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from helpers import write_planted_micrographs


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return write_planted_micrographs(tmp_path_factory.mktemp("planted"), 4, {})


@pytest.mark.parametrize(
    ("name", "shown", "why"),
    [
        (b"a\nb_1.mrc", "a\\nb_1.mrc", "holds a line break"),
        (b"a\rb_1.mrc", "a\\rb_1.mrc", "holds a line break"),
        ("a\u2028b_1.mrc".encode(), "a\\xe2\\x80\\xa8b_1.mrc", "holds a line break"),
        (b"f\xff_1.mrc", "f\\xff_1.mrc", "is not UTF-8 text"),
    ],
)
def test_a_name_the_outputs_cannot_hold_is_refused(planted, tmp_path, name, shown, why):
    mics = tmp_path / "mics"
    mics.mkdir()
    for k, path in enumerate(planted):
        target = os.path.join(os.fsencode(mics), name if k == 0 else os.fsencode(path.name))
        shutil.copy(path, target)
    for update in ((), ("--update",)):
        result = CliRunner().invoke(main, ["micrographs", str(mics / "*.mrc"), "-o", str(tmp_path / "out"), *update])
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
        assert shown in lines[0] and why in lines[0]
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_names_with_spaces_and_other_scripts_are_written_whole(planted, tmp_path):
    """What the lines can hold stays as it is: spaces, tabs, accents, other scripts."""
    mics = tmp_path / "mics"
    mics.mkdir()
    names = ["a b_1.mrc", "tab\there_2.mrc", "ünï_3.mrc", "顕微鏡_4.mrc"]
    for path, name in zip(planted, names):
        shutil.copy(path, mics / name)
    result = CliRunner().invoke(main, ["micrographs", *(str(mics / n) for n in names), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    listed = (tmp_path / "out" / "micrographs_kept.txt").read_text(encoding="utf-8").splitlines()
    assert sorted(listed) == sorted(str(mics / n) for n in names)
