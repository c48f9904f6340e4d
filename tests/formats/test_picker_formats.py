"""The picker formats' registry: a new format, declared in one record, is sniffed, read, written back and named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.formats import picker_formats
from cryodedup.formats.picker_formats import PickerFormat
from cryodedup.formats.picks import read_picks
from cryodedup.formats.sniff import is_picker_output

TOY_SOURCE = '''
from cryodedup.formats import picker_formats
from cryodedup.formats.picks import PicksBuilder, own_score, read_tables, stem


def read_toy(request):
    """A toy picker's files: one pick a line, ``x y confidence`` (centres in pixels)."""
    builder = PicksBuilder(request.source, "toy-xyc", request.namer)
    columns = ["x", "y", "confidence"]
    tables = read_tables(request.files, "whitespace", columns, columns)
    first = len(builder.files)
    for file in request.files:
        builder.add_file(file, stem(file), "")
    numbers = tables.numbers
    builder.add_tables(tables, first, numbers["x"], numbers["y"], numbers["confidence"])
    return builder.build(own_score(["confidence"], lambda label: True))


TOY = picker_formats.PickerFormat(
    name="toy-xyc",
    picker="Toypicker",
    suffixes=(".xyc",),
    found_as="Toypicker *.xyc",
    read_as="Toypicker .xyc",
    read=read_toy,
)
'''


def _toy_format() -> PickerFormat:
    namespace: dict = {}
    exec(TOY_SOURCE, namespace)  # the same source the help's subprocess declares the format with
    return namespace["TOY"]


@pytest.fixture
def toy():
    toy = _toy_format()
    picker_formats.FORMATS.append(toy)
    yield toy
    picker_formats.FORMATS.remove(toy)


def _write_toy_picks(folder: Path) -> dict[str, list[str]]:
    """Two micrographs' toy files: pairs of picks 4 px apart (duplicates at 10 px), pairs 500 px apart."""
    folder.mkdir()
    lines = {
        "mic_a.xyc": ["100 100 0.9", "104 100 0.2", "600 600 0.5", "1200 90 0.3", "1200 94 0.8"],
        "mic_b.xyc": ["50 50 0.1", "50 53 0.7", "900 900 0.4"],
    }
    for name, rows in lines.items():
        (folder / name).write_text("".join(f"{row}\n" for row in rows))
    return lines


def test_a_new_format_is_sniffed_by_its_suffix(toy, tmp_path):
    _write_toy_picks(tmp_path / "toy")
    assert is_picker_output(tmp_path / "toy" / "mic_a.xyc")
    picks = read_picks(tmp_path / "toy")  # a folder: its *.xyc files found
    assert picks.format == "toy-xyc"
    assert picks.micrographs == ["mic_a", "mic_b"]
    assert picks.centres.tolist()[:2] == [[100.0, 100.0], [104.0, 100.0]]
    assert picks.score_name == "confidence" and picks.score.tolist()[-1] == 0.4


def test_a_new_format_is_deduplicated_and_written_back_row_for_row(toy, tmp_path):
    lines = _write_toy_picks(tmp_path / "toy")
    args = ["particles", str(tmp_path / "toy"), "--mic-psize", "1", "--min-dist", "10", "--output-format", "input"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "out"), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["formats"] == ["toy-xyc"]
    # Hand-worked: of each pair 4 px (or 3 px) apart the higher confidence is kept; lone picks are kept.
    kept = {"mic_a.xyc": ["100 100 0.9", "600 600 0.5", "1200 94 0.8"], "mic_b.xyc": ["50 53 0.7", "900 900 0.4"]}
    for name, rows in lines.items():
        assert (tmp_path / "out" / "kept" / name).read_text().splitlines() == kept[name]
        rejected = [row for row in rows if row not in kept[name]]
        assert (tmp_path / "out" / "rejected" / name).read_text().splitlines() == rejected


def test_a_new_format_is_named_in_the_errors(toy, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CryodedupError, match=r"no picker output found \(.*, Toypicker \*\.xyc\)"):
        read_picks(tmp_path / "empty")
    (tmp_path / "notes.dat").write_text("nothing here\n")
    with pytest.raises(CryodedupError, match=r"notes.dat: not a picker coordinate file .*, Toypicker \.xyc\)"):
        read_picks(tmp_path / "notes.dat")


def test_a_new_format_is_named_in_the_help(tmp_path):
    # The help is made when the command line is imported: the format is declared before.
    script = TOY_SOURCE + textwrap.dedent(
        """
        picker_formats.FORMATS.append(TOY)
        from cryodedup.cli import main
        main(["particles", "--help"], prog_name="cryodedup")
        """
    )
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=_plain_env())
    assert done.returncode == 0, done.stderr
    toy_help = " ".join(done.stdout.split())
    # Every picker of the registry, the toy last, in the registry's order.
    pickers = [*dict.fromkeys([*(f.picker for f in picker_formats.FORMATS), "Toypicker"])]
    assert f"({', '.join(pickers)})" in toy_help


def _plain_env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "PYTHONPATH": os.pathsep.join(sys.path)}


def test_every_format_has_its_reader_and_writer_and_its_row_in_the_pickers_guide():
    # Invariants of the registry, whatever formats it holds (a new one is checked by the same).
    formats = picker_formats.FORMATS
    assert len({f.name for f in formats}) == len(formats)
    suffixes = [s for f in formats for s in (*f.suffixes, *f.table_suffixes)]
    assert len(set(suffixes)) == len(suffixes)  # a file name tells one format
    guide = (Path(__file__).resolve().parents[2] / "docs" / "guides" / "pickers.md").read_text(encoding="utf-8")
    table = [line.split("|")[1] for line in guide.splitlines() if line.startswith("| ") and line.count("|") == 5]
    for found in formats:
        assert callable(picker_formats.function(found.read)), found.name
        assert found.write is None or callable(picker_formats.function(found.write)), found.name
        assert found.score_layout is None or found.score_layout[0] in ("star", "tab"), found.name
        assert all(picker_formats.picker_format(kind) is found for kind in (found.name, *found.kinds))
        assert any(found.picker.split()[0] in row for row in table), f"{found.picker}: no row in docs/guides/pickers.md"
    assert picker_formats.picker_format("relion-list").name == "relion"
