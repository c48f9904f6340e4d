"""cryodedup.formats.star.file: the index, small tables and the parallel loop scan."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import starfile

from cryodedup.errors import CryodedupError
from cryodedup.formats.star.file import StarFile, split_fields
from fixtures.synthetic import write_mrc
from helpers import shared_file, star_text, write_star

LABELS = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnAutopickFigureOfMerit"]


def test_blocks_labels_and_rows(tmp_path):
    path = write_star(
        tmp_path / "p.star", LABELS, [[1, 2, "a.mrc", 0.5], [3, 4, "b.mrc", 0.25]], optics=[[1, "og1", 2.0, 1.0]]
    )
    star = StarFile(path)
    assert [b.name for b in star.blocks] == ["optics", "particles"]
    block = star.block("particles")
    assert block.labels == LABELS
    numbers, keys, names = star.scan(block, ["rlnCoordinateY", "rlnAutopickFigureOfMerit"], "rlnMicrographName")
    assert numbers["rlnCoordinateY"].tolist() == [2.0, 4.0]
    assert numbers["rlnAutopickFigureOfMerit"].tolist() == [0.5, 0.25]
    assert [names[k] for k in keys] == ["a.mrc", "b.mrc"]
    assert star.table(star.block("optics")).column("rlnOpticsGroupName") == ["og1"]


def test_quoted_fields_and_windows_line_endings(tmp_path):
    path = write_star(tmp_path / "p.star", LABELS, [[1, 2, '"my mic.mrc"', 0.5], [3, 4, "'x y'", 1]], newline="\r\n")
    star = StarFile(path)
    block = star.block("particles")
    numbers, _keys, names = star.scan(block, ["rlnCoordinateX", "rlnAutopickFigureOfMerit"], "rlnMicrographName")
    assert numbers["rlnAutopickFigureOfMerit"].tolist() == [0.5, 1.0]
    assert names == ["my mic.mrc", "x y"]  # (the text inside the quotes, as RELION reads it)
    assert [t for _, _, t in split_fields('1 "a b" c')] == ["1", '"a b"', "c"]


def test_field_count_error_names_the_line(tmp_path):
    text = star_text(LABELS, [[1, 2, "a.mrc", 0.5], [3, 4, "b.mrc"]])
    path = tmp_path / "p.star"
    path.write_text(text)
    bad_line = text.splitlines().index("3 4 b.mrc") + 1
    star = StarFile(path)
    with pytest.raises(CryodedupError, match=rf"p.star: line {bad_line}: row has 3 fields, expected 4"):
        star.scan(star.block("particles"), ["rlnCoordinateX"], None)


def test_not_a_number_names_line_and_column(tmp_path):
    text = star_text(LABELS, [[1, 2, "a.mrc", 0.5]] * 3 + [["1e3", "nope", "a.mrc", 1]])
    path = tmp_path / "p.star"
    path.write_text(text)
    star = StarFile(path)
    with pytest.raises(CryodedupError, match=r"line \d+: column rlnCoordinateY holds \"nope\", expected a number"):
        star.scan(star.block("particles"), ["rlnCoordinateX", "rlnCoordinateY"], None)


def test_a_missing_column_or_loop_is_named_not_a_type_error(tmp_path):
    # Lines: 1 "data_general", 3 "_rlnImageSize 64", 6 "data_particles" (star_text starts with a blank line).
    path = tmp_path / "p.star"
    path.write_text("data_general\n\n_rlnImageSize 64\n\n" + star_text(LABELS, [[1, 2, "a.mrc", 0.5]]))
    star = StarFile(path)
    block = star.block("particles")
    with pytest.raises(CryodedupError, match=r"p.star: line 6: data_particles has no column rlnAngleRot$"):
        star.scan(block, ["rlnCoordinateX", "rlnAngleRot"], None)
    with pytest.raises(CryodedupError, match=r"p.star: line 6: data_particles has no column rlnClassNumber$"):
        star.scan(block, [], "rlnClassNumber")
    keep = np.ones(1, dtype=bool)
    with pytest.raises(CryodedupError, match="has no column rlnAngleRot"):
        star.append_split(block, keep, tmp_path / "k.star", tmp_path / "r.star", columns=["rlnAngleRot"])
    with pytest.raises(CryodedupError, match="has no column rlnAngleRot"):
        star.append_split(block, keep, tmp_path / "k.star", tmp_path / "r.star", rewrite=("rlnAngleRot", {}))
    general = star.blocks[0]
    assert general.name == "general" and general.labels is None
    with pytest.raises(CryodedupError, match=r"p.star: line 1: data_general holds no loop, expected one$"):
        star.table(general)
    with pytest.raises(CryodedupError, match="data_general holds no loop"):
        star.numeric_labels(general)


def test_garbage_is_not_a_star_file(tmp_path):
    path = tmp_path / "x.star"
    path.write_text("hello world\n")
    with pytest.raises(CryodedupError, match="x.star: line 1: unexpected text"):
        StarFile(path)


def first_binary_byte(data: bytes) -> int:
    """The oracle: the first control byte other than tab, LF, VT, FF and CR (or DEL)."""
    return next(i for i, b in enumerate(data) if (b < 32 and b not in b"\t\n\x0b\x0c\r") or b == 127)


def binary_files(tmp_path) -> dict[str, Path]:
    """An MRC, a gzipped STAR and random bytes, each named as a STAR file."""
    write_mrc(tmp_path / "mic.star", np.ones((64, 64), np.float32), psize=1.0)
    (tmp_path / "gz.star").write_bytes(gzip.compress(star_text(LABELS, [[1, 2, "a.mrc", 0.5]] * 500).encode()))
    # Text for a while, then random bytes (as a file cut by a failed copy and padded).
    noise = np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes()
    (tmp_path / "noise.star").write_bytes(star_text(LABELS, [[1, 2, "a.mrc", 0.5]] * 50).encode() + noise)
    return {name: tmp_path / f"{name}.star" for name in ("mic", "gz", "noise")}


def test_binary_files_are_refused_in_one_short_line(tmp_path):
    for path in binary_files(tmp_path).values():
        offset = first_binary_byte(path.read_bytes())
        with pytest.raises(CryodedupError) as caught:
            StarFile(path)
        assert str(caught.value) == f"{path}: not a text STAR file: binary content at byte {offset}"


def test_binary_files_are_refused_wherever_a_star_is_read(tmp_path):
    from click.testing import CliRunner

    from cryodedup.cli import main

    good = write_star(
        tmp_path / "good.star", [*LABELS, "rlnOpticsGroup"], [[1, 2, "a.mrc", 0.5, 1]], optics=[[1, "og1", 2.0, 1.0]]
    )
    for path in binary_files(tmp_path).values():
        runs = [
            ["particles", path],
            ["particles", good, path],
            ["particles", good, "--micrographs", path],
            ["micrographs", path],
        ]
        for args in runs:
            out = tmp_path / "out"
            result = CliRunner().invoke(main, [*map(str, args), "-o", str(out)])
            assert result.exit_code == 1, (args, result.output)
            assert f"not a text STAR file: binary content at byte {first_binary_byte(path.read_bytes())}" in (
                " ".join(result.stderr.split())
            )
            assert len(result.stderr) < 400 and "Traceback" not in result.output
            assert not out.exists() or not any(out.iterdir())


def test_long_lines_are_cut_in_messages(tmp_path):
    path = tmp_path / "x.star"
    path.write_text("x" * 100_000 + "\n")
    with pytest.raises(CryodedupError) as caught:
        StarFile(path)
    assert len(str(caught.value)) - len(str(path)) < 150


def test_scan_matches_starfile_on_a_big_loop(tmp_path):
    rng = np.random.default_rng(3)
    n = 60_000  # several parallel chunks
    rows = [
        [f"{x:.6f}", f"{y:.6f}", f"mic{m}.mrc", f"{s:.6e}"]
        for x, y, m, s in zip(
            rng.uniform(0, 4000, n), rng.uniform(0, 4000, n), rng.integers(0, 50, n), rng.normal(0, 1e5, n)
        )
    ]
    path = write_star(tmp_path / "big.star", LABELS, rows, optics=[[1, "og1", 2.0, 1.0]])
    reference = starfile.read(path)["particles"]
    star = StarFile(path)
    numbers, keys, names = star.scan(
        star.block("particles"), ["rlnCoordinateX", "rlnAutopickFigureOfMerit"], "rlnMicrographName"
    )
    assert np.array_equal(numbers["rlnCoordinateX"], reference["rlnCoordinateX"].to_numpy())
    assert np.allclose(
        numbers["rlnAutopickFigureOfMerit"], reference["rlnAutopickFigureOfMerit"].to_numpy(), rtol=1e-15
    )
    assert np.array_equal(np.array(names)[keys], reference["rlnMicrographName"].to_numpy())


@pytest.mark.real_data
@pytest.mark.parametrize(
    "name",
    [
        "cryodrgn__relion31.star",
        "cryodrgn__relion31.6opticsgroups.star",
        "cryodrgn__relion5.star",
        "3dem__particles_1k_scipion.star",
        "cryodrgn__FinalRefinement-OriginalParticles-PfCRT.star",
    ],
)
def test_real_files_read_like_starfile(name):
    path = shared_file(f"star/{name}")
    reference = starfile.read(path, always_dict=True)
    star = StarFile(path)
    loops = [b for b in star.blocks if b.labels is not None]
    assert [b.name or "" for b in loops] == list(reference)
    block = loops[-1]
    table = reference[list(reference)[-1]]
    assert block.labels == list(table.columns)
    numeric = [lab for lab in block.labels if pd.api.types.is_numeric_dtype(table[lab])]
    numbers, _keys, _ = star.scan(block, numeric, None)
    for lab in numeric:
        assert np.allclose(numbers[lab], table[lab].to_numpy(dtype=float), rtol=1e-12, equal_nan=True), lab


def test_an_interrupt_during_the_first_array_of_a_scan_cannot_panic(tmp_path):
    # Issue 11 item 5: Ctrl-C while the extension first made a NumPy array (rust-numpy imports
    # NumPy's C API then, running Python code) failed that import and panicked. The extension
    # now imports it when it is loaded: a scan runs no Python code an interrupt could stop.
    (tmp_path / "p.star").write_text("data_p\nloop_\n_rlnCoordinateX\n1.0\n2.0\n")
    code = """
import sys
from cryodedup import _core
ran_python = []
def trace(frame, event, arg):
    if event == "call" and "numpy" in frame.f_code.co_filename:
        ran_python.append(frame.f_code.co_filename)
        raise KeyboardInterrupt  # as a Ctrl-C handled at that moment would
sys.settrace(trace)
scanned = _core.StarFile(sys.argv[1]).scan(0, [0])
sys.settrace(None)
print(scanned.numbers[0].tolist(), ran_python)
"""
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "p.star")], check=False, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[1.0, 2.0] []"
