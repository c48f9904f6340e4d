"""cryodedup.synthetic: the shipped example is what the generator makes, and the generated
data follow RELION's conventions (checked with starfile, not cryodedup's reader)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import starfile

import cryodedup
from cryodedup.synthetic import cs_particles, scatter_particles, write_benchmark_file, write_example
from helpers import shared_file

SHIPPED = Path(cryodedup.__file__).parent / "examples"


def test_shipped_example_is_reproducible(tmp_path):
    made = write_example(tmp_path)
    assert sorted(p.name for p in made) == sorted(p.name for p in SHIPPED.glob("*.star"))
    for path in made:
        assert path.read_bytes() == (SHIPPED / path.name).read_bytes(), path.name


def test_second_picks_share_their_particle_centre(tmp_path):
    # In the benchmark file, each second pick copies the particle before it: with the origin
    # subtracted the two centres coincide to the alignment error; with it added they do not.
    path = tmp_path / "b.star"
    write_benchmark_file(path, 4000, duplicate_fraction=0.3, seed=2)
    p = starfile.read(path)["particles"]
    xy = p[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy() * 1.06
    origin = p[["rlnOriginXAngst", "rlnOriginYAngst"]].to_numpy()
    same_mic = p["rlnMicrographName"].to_numpy()[1:] == p["rlnMicrographName"].to_numpy()[:-1]
    subtracted = np.hypot(*((xy - origin)[1:] - (xy - origin)[:-1]).T)[same_mic]
    added = np.hypot(*((xy + origin)[1:] - (xy + origin)[:-1]).T)[same_mic]
    assert np.mean(subtracted < 3) > 0.25  # about 30 % of rows are second picks
    assert np.mean(added < 3) < np.mean(subtracted < 3) / 5


def test_particles_are_spaced():
    pts = scatter_particles(np.random.default_rng(0), 50, spacing_px=140)
    d = np.hypot(*(pts[:, None] - pts[None]).transpose(2, 0, 1))
    assert len(pts) == 50 and d[np.triu_indices(50, 1)].min() >= 140


@pytest.mark.real_data
@pytest.mark.parametrize(
    "real",
    [
        "cs/t20s_10_particles_blob_ctf.cs",
        "cs/t20s_10_particles_passthrough_location.cs",
        "cs/cryodrgn__cryosparc_J2_particles_exported.cs",
    ],
)
def test_benchmark_cs_particles_carry_every_field_cryosparc_writes(real):
    # The benchmark's .cs must cost what a real Extract + 2D classification output costs: every
    # field of the real files (blob, ctf, location with string paths, alignments2D), same dtypes.
    made = cs_particles(np.random.default_rng(0), 400).dtype
    written = np.load(shared_file(real)).dtype
    for name in written.names:
        assert name in made.names, name
        theirs, ours = written.fields[name][0], made.fields[name][0]
        assert (ours.kind, ours.shape) == (theirs.kind, theirs.shape), name
        if ours.kind != "S":  # string widths differ with the paths
            assert ours == theirs, name


def test_benchmark_cs_particles_name_micrographs_by_path():
    records = cs_particles(np.random.default_rng(0), 2000, per_mic=200)
    paths, uids = records["location/micrograph_path"], records["location/micrograph_uid"]
    assert len(np.unique(paths)) == len(np.unique(uids)) == 10
    assert all(p.startswith(b"J2/motioncorrected/") and p.endswith(b".mrc") for p in np.unique(paths))
    assert len(np.unique(np.stack([paths, uids.astype("S20")], axis=1), axis=0)) == 10  # one path per uid


def relion_layout(row: str) -> list[int]:
    """Each field's width in a STAR row, its separating space not counted; strings as -1."""
    tokens = re.findall(r" *\S+", row.rstrip(" "))
    widths = [len(tokens[0])] + [len(t) - 1 for t in tokens[1:]]
    strings = [re.search(r"[@/A-Za-z]", t.replace("e+", "").replace("e-", "")) for t in tokens]
    return [-1 if s else w for s, w in zip(strings, widths)]


@pytest.mark.real_data
def test_benchmark_star_rows_are_laid_out_as_relion_writes_them(tmp_path):
    # RELION's MetaDataTable: numbers right-aligned in 12 characters, strings as they are, one
    # space between fields and one before the end of each row; checked against RELION's own file.
    real = shared_file("star/cryodrgn__relion31.star").read_text().splitlines()
    real_row = next(line for line in real if "@Extract" in line)
    path = tmp_path / "b.star"
    write_benchmark_file(path, 300, seed=1)
    row = next(line for line in path.read_text().splitlines() if "@Extract" in line)
    assert row.endswith(" ") and real_row.endswith(" ")
    assert set(relion_layout(row)) <= set(relion_layout(real_row)) == {12, -1}
