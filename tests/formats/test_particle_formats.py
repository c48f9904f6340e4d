"""formats/particles.py: the one entrance that hands each kind of particle file to its format's module."""

from __future__ import annotations

import pytest

from cryodedup import CryodedupError, ParticleOptions
from cryodedup.formats.particles import open_particle_names, particle_suffix, read_particle_files
from cryodedup.formats.star.particles import ParticleStar
from helpers import read_request
from picker_files import write_topaz

STAR = "data_particles\nloop_\n_rlnMicrographName #1\n_rlnCoordinateX #2\n_rlnCoordinateY #3\n"


def read(paths, tmp_path, **options):
    warnings: list[str] = []
    particles = read_particle_files(
        paths,
        tmp_path / "out",
        read_request(ParticleOptions(mic_psize=1.0, score="none", **options)),
        warnings.append,
        lambda m, k: None,
    )
    return particles, warnings


def test_each_kind_reaches_its_formats_reader(tmp_path):
    (tmp_path / "p.star").write_text(STAR + "a.mrc 10 20\na.mrc 30 40\nb.mrc 5 5\n")
    dynamo_row = ["1", "1"] + ["0"] * 17 + ["1"] + ["0"] * 3 + ["10", "20", "30"] + ["0"] * 9  # tag, tomo, x y z
    (tmp_path / "t.tbl").write_text(" ".join(dynamo_row) + "\n")
    write_topaz(tmp_path / "picks.txt", [("a", 1.0, 2.0, 0.5), ("b", 3.0, 4.0, 0.1)])
    cases = [("p.star", "formats.star", 3), ("t.tbl", "formats.dynamo", 1), ("picks.txt", "formats.picks", 2)]
    for name, module, rows in cases:
        options = {"topaz_scale": 1} if name == "picks.txt" else {}
        particles, warnings = read([tmp_path / name], tmp_path, **options)
        assert module in type(particles.writer).__module__, name
        assert len(particles) == rows and warnings == [], name


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ("d.cs", r"inputs mix CryoSPARC \(.cs/.csg\) and STAR files"),
        ("t.tbl", r"inputs mix Dynamo tables \(.tbl\) and other files"),
    ],
)
def test_kinds_mixed_are_refused_before_reading(tmp_path, other, message):
    (tmp_path / "p.star").write_text(STAR + "a.mrc 10 20\n")
    (tmp_path / other).write_text("not read\n")  # refused by its name alone: never opened
    with pytest.raises(CryodedupError, match=message):
        read([tmp_path / "p.star", tmp_path / other], tmp_path)


def test_an_empty_table_is_read_and_said(tmp_path):
    (tmp_path / "empty.star").write_text(STAR)
    particles, warnings = read([tmp_path / "empty.star"], tmp_path)
    assert len(particles) == 0
    assert warnings == [
        f"{tmp_path / 'empty.star'}: no particles (the table has no rows); the kept and rejected outputs hold none"
    ]


def test_the_micrograph_jobs_particles_file_by_its_format(tmp_path):
    (tmp_path / "p.star").write_text(STAR + "a.mrc 10 20\n")
    assert isinstance(open_particle_names(tmp_path / "p.star"), ParticleStar)
    assert particle_suffix(tmp_path / "p.star") == ".star"
    assert particle_suffix("x/particles.cs") == particle_suffix("x/group.csg") == ".cs"
