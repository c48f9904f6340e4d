"""cryodedup.synthetic: the shipped example is what the generator makes, and the generated
data follow RELION's conventions (checked with starfile, not cryodedup's reader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import starfile

import cryodedup
from cryodedup.synthetic import scatter_particles, write_benchmark_file, write_example

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
