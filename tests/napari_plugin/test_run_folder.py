"""A run folder read as the napari plugin reads it (the page's files): every pick of every input once, where
the input STAR file puts it, named as the input names it, rejected exactly where decisions.csv says."""

from __future__ import annotations

import csv

import pytest

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.errors import CryodedupError
from cryodedup.napari_plugin.run_folder import read_run

pytest.importorskip("PIL")
starfile = pytest.importorskip("starfile")

from report.test_micrograph_page_corrections import named_project  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run_folder")
    inputs = named_project(root, n_mics=4)
    options = ParticleOptions(min_dist=15, score="rlnAutopickFigureOfMerit", plot=True, decisions=True)
    remove_duplicate_particles(inputs, root / "out", options)
    return root / "out", inputs


def test_every_pick_is_its_inputs_row(run):
    outdir, inputs = run
    tables = {str(p): starfile.read(p, always_dict=True)["particles"] for p in inputs}
    with open(outdir / "decisions.csv", newline="") as f:
        rejected = {(r["input"], int(r["row"])): r for r in csv.DictReader(f)}
    folder = read_run(outdir)
    assert folder.editable and folder.inputs == [str(p) for p in inputs]
    seen = set()
    for m, micrograph in enumerate(folder.micrographs):
        picks = folder.picks(m)
        assert picks.rows is not None and picks.names is not None
        for k in range(len(picks.rows)):
            name, row = folder.inputs[picks.inputs[k]], int(picks.rows[k])
            table = tables[name]
            assert table["rlnImageName"][row - 1] == picks.names[k]
            assert table["rlnMicrographName"][row - 1] == micrograph
            assert round(table["rlnCoordinateX"][row - 1]) == picks.centres[k, 0]  # (1 Å/px, the page's whole Å)
            assert round(table["rlnCoordinateY"][row - 1]) == picks.centres[k, 1]
            assert (not picks.kept[k]) == ((name, row) in rejected)
            partner = picks.partners[k]
            if partner >= 0:  # the kept pick decisions.csv names
                said = rejected[(name, row)]
                assert (folder.inputs[picks.inputs[partner]], int(picks.rows[partner])) == (
                    said["kept_input"],
                    int(said["kept_row"]),
                )
            seen.add((name, row))
    assert seen == {(name, r + 1) for name, table in tables.items() for r in range(len(table))}


def test_a_folder_without_the_page_is_refused_in_one_line(tmp_path):
    with pytest.raises(CryodedupError, match=r"no micrographs/index\.js: open a run folder written with --plot"):
        read_run(tmp_path)
