"""Hostile option values and names: each refused in one line naming the file, the row or the field, or handled.

The table's rows are (kind, input, expected one-line message): the input is a command line on
files a builder writes (named in the row), the oracle the message written here by hand. A row
holds when the command exits 1 (0 for "handled" rows) with no traceback, no warning of Python's,
and its one error line matching. Beyond the table: pictures of names no font lays out, an image
name longer than the system takes, and a RELION pipeline whose alias holds U+2029.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import cryodedup
from cryodedup.cli import main
from fixtures.relion_project import JOBS, pipeline_text

EXAMPLE = Path(cryodedup.__file__).parent / "examples" / "particles_log.star"
PICKER = ["--mic-psize", "1", "--topaz-scale", "1"]
HEADER = "image_name\tx_coord\ty_coord\tscore\n"


def _picks(path: Path, mics: list[str], xs: list[float], ys: list[float] | None = None) -> Path:
    """A topaz-style picks file: one pick per x (y 100 unless given), on ``mics`` in turn."""
    ys = ys or [100.0] * len(xs)
    rows = [f"{mics[k % len(mics)]}\t{x:.1f}\t{y:.1f}\t0.5\n" for k, (x, y) in enumerate(zip(xs, ys))]
    path.write_text(HEADER + "".join(rows))
    return path


def _two_pickers(tmp: Path, far: float | None = None, second_mics: tuple[str, ...] = ("m0", "m1", "m2")) -> list[str]:
    """Two pickers' files of 40 picks on m0-m2, the second 1 px off in x; ``far``: its 6th pick's x there."""
    xs = list(np.linspace(100, 3000, 40))
    ys = [float((k * 389) % 2900 + 50) for k in range(40)]
    a = _picks(tmp / "a.txt", ["m0", "m1", "m2"], xs, ys)
    moved = [x + 1 for x in xs]
    if far is not None:
        moved[5] = far
    b = _picks(tmp / "b.txt", list(second_mics), moved, ys)
    return [str(a), str(b)]


def _mask_nx_zero(tmp: Path) -> list[str]:
    import mrcfile

    path = tmp / "mask.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.ones((40, 40), np.float32))
    data = bytearray(path.read_bytes())
    data[0:4] = np.int32(0).tobytes()  # (nx, the header's first word)
    path.write_bytes(bytes(data))
    return ["particles", str(EXAMPLE), "--mask", str(path)]


def _import_list(tmp: Path, first_line: str) -> list[str]:
    (tmp / "txt").mkdir()
    (tmp / "txt" / "TS_01.coords").write_text(f"{first_line}\n120 100 50\n")
    (tmp / "txt" / "list.star").write_text(
        "\n# version 50001\n\ndata_\n\nloop_ \n_rlnTomoName #1 \n_rlnTomoImportParticleFile #2 \n"
        "TS_01 txt/TS_01.coords \n \n"
    )
    return ["particles", str(tmp / "txt" / "list.star"), "--mic-psize", "1"]


@dataclass(frozen=True)
class Case:
    """A row of the table: what kind of value, the command on the builder's files, the one line expected."""

    kind: str
    build: str  # the builder of the inputs, and the options after them
    options: tuple[str, ...]
    expected: str  # a regular expression the one error line (or, status 0, the output) must match
    status: int = 1


def _command(case: Case, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(tmp)
    command = _inputs(case, tmp)
    return [*command, *(["-o", "out"] if command[0] == "particles" else []), *case.options]


def _inputs(case: Case, tmp: Path) -> list[str]:
    """The command and its inputs (and the options they need) of ``case``'s builder."""
    if case.build == "two pickers":
        return ["particles", *_two_pickers(tmp), *PICKER]
    if case.build == "second picker with a pick at 1e30":
        return ["particles", *_two_pickers(tmp, far=1e30), *PICKER]
    if case.build == "compare two pickers":
        return ["compare", *_two_pickers(tmp), *PICKER]
    if case.build == "compare, the second empty":
        (tmp / "e.txt").write_text(HEADER)
        return ["compare", _two_pickers(tmp)[0], str(tmp / "e.txt"), *PICKER]
    if case.build == "compare, no micrograph shared":
        return ["compare", *_two_pickers(tmp, second_mics=("z0", "z1")), *PICKER]
    if case.build == "mask nx=0":
        return _mask_nx_zero(tmp)
    if case.build == "import list":
        return _import_list(tmp, "100 100 50")
    if case.build == "import list, 1e39":
        return _import_list(tmp, "1e39 100 50")
    if case.build == "one pick each, 2 Å apart":
        _picks(tmp / "a.txt", ["m0"], [100.0])
        _picks(tmp / "b.txt", ["m0"], [102.0])
        return ["particles", "a.txt", "b.txt", *PICKER, "--registration", "ignore"]
    raise AssertionError(case.build)


CASES = [
    Case(
        "mask header", "mask nx=0", (), r"mask\.mrc: its MRC header says nx 0, ny 40, nz 1: expected at least 1 voxel"
    ),
    Case(
        "transform overflow",
        "two pickers",
        ("--transform", "2=shift:1e308,1e308"),
        r"b\.txt: line 2: --transform 2=shift:1e308,1e308 moves it to \[1e\+308, 1e\+308\] Å, beyond ±1e150 Å",
    ),
    Case(
        "transform overflow",
        "two pickers",
        ("--transform", "2=scale:1e300"),
        r"b\.txt: line 2: --transform 2=scale:1e300 moves it to \[1\.\d+e\+302, .*\] Å, beyond ±1e150 Å",
    ),
    Case(
        "transform overflow",
        "two pickers",
        ("--transform", "2=scale:1e200+scale:1e200"),
        r"b\.txt: line 2: --transform 2=scale:1e200\+scale:1e200 moves it to \[inf, inf\] Å",
    ),
    Case(
        "far coordinate",
        "second picker with a pick at 1e30",
        (),
        r"b\.txt: line 7 has a centre beyond ±1e8 Å \(1 cm\) \(\[1e\+30, .*--registration ignore\); 1 such particle "
        r"in all",
    ),
    Case(
        "far coordinate, as advised",
        "second picker with a pick at 1e30",
        ("--registration", "ignore"),
        r"Kept 41 of 80 \(39 duplicates\)",  # (by hand: 39 pairs 1 Å apart, the far pick alone)
        status=0,
    ),
    # (an option's value refused: a usage error, status 2)
    Case("line break in a value", "two pickers", ("--dataset", "A=\n"), r"--dataset A=\\n: expected INPUT=LABEL", 2),
    Case("separator in a value", "two pickers", ("--transform", "\u2029=swap"), r"--transform \\u2029=swap: ", 2),
    Case(
        "import scale overflow",
        "import list",
        ("--import-scale", "1e308"),
        r"txt/TS_01\.coords: line 1: 100 100 50 times --import-scale 1e\+308 plus --import-add 0 is beyond a finite",
    ),
    Case(
        "import coordinate beyond float32",
        "import list, 1e39",
        (),
        r"txt/TS_01\.coords: line 1: 1e\+39 100 50 is beyond a 32-bit float \(as RELION reads it\)",
    ),
    Case("empty reference", "compare two pickers", ("--reference", ""), r"--reference names an input .*, got ''", 2),
    Case(
        "compare, nothing shared",
        "compare, no micrograph shared",
        ("--reference", "1"),
        r"Scored over +│ no micrograph in common;(.|\n)*b\.txt: no micrograph in common, so no precision, recall or F1",
        status=0,
    ),
    Case(
        "compare, candidate empty",
        "compare, the second empty",
        ("--reference", "1"),
        r"e\.txt: precision -, recall 0\.000, F1 0\.000 \(it picked nothing: none of .*a\.txt's 40 picks found\)",
        status=0,
    ),
    Case(
        "count of one",
        "one pick each, 2 Å apart",
        ("--select", "best-score"),
        r"best-score: 1 pick kept \(\+0 against greedy's 1\)",
        status=0,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}: {' '.join(c.options)}" for c in CASES])
def test_a_hostile_value_is_one_line_or_handled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case) -> None:
    command = _command(case, tmp_path, monkeypatch)
    with _no_python_warnings():
        result = CliRunner().invoke(main, command)
    assert "Traceback" not in result.output and "RuntimeWarning" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == case.status, result.output
    if case.status == 0:
        assert re.search(case.expected, result.output), result.output
        return
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert re.search(case.expected, lines[0]), lines[0]


class _no_python_warnings:
    """Fails on a warning of Python's (numpy's RuntimeWarning) during the block: it would print with its source line."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self._seen = self._catch.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc: object) -> None:
        self._catch.__exit__(*exc)
        numpy_like = [w for w in self._seen if issubclass(w.category, RuntimeWarning)]
        assert not numpy_like, [str(w.message) for w in numpy_like]


# --- names no font lays out, and an image name longer than the system takes ---

#: Unicode's paragraph separators (bidi class B: Raqm refuses to lay them out), U+2028, and controls.
SEPARATORS = "\u2029\u2028\x85\x1c\x1d\x1e\r\x0b\x0c"


def _example_with_name(tmp: Path, name: str) -> Path:
    text = EXAMPLE.read_text()
    old = " MotionCorr/job002/Movies/FoilHole_3000000_Data_20240101_000000.mrc "
    assert old in text
    path = tmp / "particles.star"
    path.write_bytes(text.replace(old, f" {name} ").encode("utf-8", "surrogateescape"))
    return path


def test_plot_draws_micrograph_names_holding_separators(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    star = _example_with_name(tmp_path, "Movies/a\u2029b\u2028c\x85d.mrc")  # (controls: a binary file, refused)
    result = CliRunner().invoke(main, ["particles", str(star), "--min-dist", "20", "-o", "out", "--plot", "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "example_micrograph_1.png").stat().st_size > 0


@pytest.mark.parametrize("separator", list(SEPARATORS))
def test_the_canvas_draws_a_separator_as_its_escape(separator: str) -> None:
    from cryodedup.report.canvas import Canvas, text_width

    escape = {"\r": "\\x0d", "\x0b": "\\x0b", "\x0c": "\\x0c", "\x1c": "\\x1c", "\x1d": "\\x1d", "\x1e": "\\x1e"}
    escape |= {"\x85": "\\x85", "\u2028": "\\u2028", "\u2029": "\\u2029"}
    drawn, expected = Canvas(300, 40), Canvas(300, 40)
    drawn.text((150, 20), f"mic{separator}1")
    expected.text((150, 20), f"mic{escape[separator]}1")  # (the oracle: the escape written by hand)
    drawn.vertical_text((20, 20), f"y{separator}")
    expected.vertical_text((20, 20), f"y{escape[separator]}")
    assert drawn.png_once() == expected.png_once()
    assert text_width(f"mic{separator}1") == text_width(f"mic{escape[separator]}1")


def test_an_image_name_longer_than_the_system_takes_is_not_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Movies").mkdir()  # (a folder that exists: the name beyond it is looked up, ENAMETOOLONG)
    star = _example_with_name(tmp_path, f"Movies/{'L' * 300}.mrc")
    result = CliRunner().invoke(main, ["particles", str(star), "--min-dist", "20", "-o", "out", "--plot"])
    assert result.exit_code == 0, result.output
    assert re.search(r"4 of 4 micrograph images not found", result.output), result.output
    assert (tmp_path / "out" / "example_micrograph_1.png").is_file()


def test_a_species_name_with_dollars_and_separators_is_drawn(tmp_path: Path) -> None:
    """The CZII picture's labels: ``$...$`` drawn as written (matplotlib took it for math), U+2029 shown escaped."""
    from cryodedup.report.compare_metric import CziiScore, SpeciesScore, czii_picture

    one = SpeciesScore("$x^$\u2029", 60.0, 30.0, 1.0, 10, 10, 8, 2, 2, 0.8, 0.8, 0.8, 3.0)
    score = CziiScore(4.0, 0.5, 1, "reference", 0.8, False, True, (one,), ())
    picture = czii_picture(score)
    assert picture.png().startswith(b"\x89PNG")
    assert picture.panels[1].xtick_labels == ["$x^$\\u2029 (w 1)"]
    assert czii_picture(replace(score, species=(replace(one, species="ribosome"),))).panels[1].xtick_labels


# --- a RELION pipeline whose alias holds U+2029 (RELION parts lines at \n alone, fields at spaces and tabs) ---


@pytest.mark.parametrize("alias", ["Import/my\u2029alias/", "Import/no\u00a0break/", "Import/a\u2028b\x85c/"])
def test_a_pipeline_alias_holding_a_separator_stays_one_row(tmp_path: Path, alias: str) -> None:
    from cryodedup.formats.star.pipeline import read_pipeline

    first = JOBS[0][0]
    text = pipeline_text("4")
    assert f"{first}/       None" in text
    (tmp_path / "default_pipeline.star").write_text(text.replace(f"{first}/       None", f"{first}/       {alias}", 1))
    pipeline = read_pipeline(tmp_path / "default_pipeline.star")
    assert pipeline.processes[f"{first}/"].alias == alias
    assert len(pipeline.processes) == len(JOBS)


def test_a_job_star_value_holding_u2029_is_one_value(tmp_path: Path) -> None:
    from cryodedup.formats.star.pipeline import job_options

    (tmp_path / "job.star").write_text(
        "\n# version 30001\n\ndata_joboptions_values\n\nloop_ \n_rlnJobOptionVariable #1 \n_rlnJobOptionValue #2 \n"
        'fn_in "Select/job1/a\u2029b.star" \nparticle_diameter 200 \n \n'
    )
    assert job_options(tmp_path) == {"fn_in": "Select/job1/a\u2029b.star", "particle_diameter": "200"}


def test_a_coords_suffix_path_holding_u2029_is_one_line(tmp_path: Path) -> None:
    from cryodedup.formats.picks.relion import _suffix_file_lines

    path = tmp_path / "coords_suffix_autopick.star"
    path.write_text("CtfFind/job003/micro\u2029graphs_ctf.star\r\n")
    assert _suffix_file_lines(path) == ["CtfFind/job003/micro\u2029graphs_ctf.star"]
