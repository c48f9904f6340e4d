"""cryodedup.star: the index, small tables and the parallel loop scan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import starfile

from helpers import shared_file, star_text, write_star
from cryodedup.errors import CryodedupError
from cryodedup.star import StarFile, split_fields

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
    numbers, keys, names = star.scan(block, ["rlnCoordinateX", "rlnAutopickFigureOfMerit"], "rlnMicrographName")
    assert numbers["rlnAutopickFigureOfMerit"].tolist() == [0.5, 1.0]
    assert names == ['"my mic.mrc"', "'x y'"]
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


def test_garbage_is_not_a_star_file(tmp_path):
    path = tmp_path / "x.star"
    path.write_text("hello world\n")
    with pytest.raises(CryodedupError, match="x.star: line 1: unexpected text"):
        StarFile(path)


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
    assert [b.name or "" for b in loops] == [k for k in reference]
    block = loops[-1]
    table = reference[list(reference)[-1]]
    assert block.labels == list(table.columns)
    numeric = [lab for lab in block.labels if pd.api.types.is_numeric_dtype(table[lab])]
    numbers, keys, _ = star.scan(block, numeric, None)
    for lab in numeric:
        assert np.allclose(numbers[lab], table[lab].to_numpy(dtype=float), rtol=1e-12, equal_nan=True), lab
