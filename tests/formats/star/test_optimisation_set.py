"""RELION 5's optimisation set (issue 64, item 6): read as the particles and tomograms files it names.

The project is laid out as RELION 5 writes it (Refine3D/job012/run_optimisation_set.star naming
run_data.star and Tomograms/job008/tomograms.star, by paths from the project folder); the
oracle is the hand-worked decision and the run on the particles file itself.
"""

from __future__ import annotations

import json

from click.testing import CliRunner

from cryodedup.cli import main
from fixtures.optimisation_set import relion_project
from relion_import import read_optimisation_set, read_star


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def kept_names(path):
    return [line.split()[1] for line in path.read_text().splitlines() if line.startswith("TS_")]


def test_an_optimisation_set_is_read_as_the_files_it_names(tmp_path, monkeypatch):
    project = tmp_path / "project"
    relion_project(project)
    monkeypatch.chdir(project)
    run = cli("particles", "Refine3D/job012/run_optimisation_set.star", "-o", "Dedup", "--min-dist", 20)
    assert run.exit_code == 0, run.output
    assert kept_names(project / "Dedup/particles_kept.star") == ["TS_01/2", "TS_01/3", "TS_03/1"]
    said = " ".join(run.output.split())
    assert "a RELION 5 optimisation set, its particles read from" in said and "tomograms.star" in said
    # The same as the particles file with the tomograms file given: byte for byte.
    direct = cli(
        "particles", "Refine3D/job012/run_data.star", "-o", "Direct", "--min-dist", 20,
        "--micrographs", "Tomograms/job008/tomograms.star",
    )  # fmt: skip
    assert direct.exit_code == 0, direct.output
    for name in ("particles_kept.star", "particles_rejected.star"):
        assert (project / "Dedup" / name).read_bytes() == (project / "Direct" / name).read_bytes()


def test_an_optimisation_set_is_followed_from_outside_its_project(tmp_path, monkeypatch):
    # Run from another folder: the paths start from the project found above the set's job folder.
    optimisation_set = relion_project(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    run = cli("particles", optimisation_set, "-o", tmp_path / "out", "--min-dist", 20, "--json")
    assert run.exit_code == 0, run.output
    assert kept_names(tmp_path / "out/particles_kept.star") == ["TS_01/2", "TS_01/3", "TS_03/1"]


def test_an_optimisation_set_naming_no_file_there_is_one_line(tmp_path, monkeypatch):
    optimisation_set = relion_project(tmp_path / "project")
    (tmp_path / "project/Refine3D/job012/run_data.star").unlink()
    monkeypatch.chdir(tmp_path / "project")
    run = cli("particles", optimisation_set, "-o", tmp_path / "out")
    assert run.exit_code != 0 and "Traceback" not in run.output
    errors = [line for line in run.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "Refine3D/job012/run_data.star is not found" in errors[0], run.output


def test_the_kept_particles_come_with_an_optimisation_set_relion_5_and_cryodedup_read_back(tmp_path, monkeypatch):
    # On main: particles_kept.star alone. Now optimisation_set.star beside it names the kept particles and
    # the input's tomograms, trajectories and maps, as RELION 5's OptimisationSet::read takes them.
    project = tmp_path / "project"
    given = relion_project(project)
    monkeypatch.chdir(project)
    run = cli("particles", "Refine3D/job012/run_optimisation_set.star", "-o", "Dedup", "--min-dist", 20, "--json")
    assert run.exit_code == 0, run.output
    written = project / "Dedup/optimisation_set.star"
    assert json.loads(run.stdout)["outputs"]["optimisation_set"] == ["Dedup/optimisation_set.star"]
    said = cli("particles", "Refine3D/job012/run_optimisation_set.star", "-o", "Said", "--min-dist", 20).output
    assert "Optimisation set" in said and "Said/optimisation_set.star" in said
    relion = read_optimisation_set(written)
    before = read_optimisation_set(given)
    assert relion["particles"] == "Dedup/particles_kept.star"
    assert {k: v for k, v in relion.items() if k != "particles"} == {
        k: v for k, v in before.items() if k != "particles"
    }
    particles = read_star(project / relion["particles"], "particles")
    assert [row["rlnTomoParticleName"] for row in particles.rows] == ["TS_01/2", "TS_01/3", "TS_03/1"]
    tomograms = read_star(project / relion["tomograms"], "global")
    assert {row["rlnTomoName"] for row in particles.rows} <= {row["rlnTomoName"] for row in tomograms.rows}
    # Read back by cryodedup: the kept particles, framed by the same tomograms, nothing more to remove.
    again = cli("particles", written, "-o", "Again", "--min-dist", 20, "--json")
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert (summary["particles"], summary["rejected"]) == (3, 0)
    assert kept_names(project / "Again/particles_kept.star") == ["TS_01/2", "TS_01/3", "TS_03/1"]
    assert read_optimisation_set(project / "Again/optimisation_set.star")["tomograms"] == before["tomograms"]


def test_an_optimisation_set_with_other_particles_is_said_not_written(tmp_path, monkeypatch):
    project = tmp_path / "project"
    relion_project(project)
    monkeypatch.chdir(project)
    (project / "picks.star").write_bytes((project / "Refine3D/job012/run_data.star").read_bytes())
    run = cli(
        "particles", "Refine3D/job012/run_optimisation_set.star", "picks.star",
        "-o", "Dedup", "--min-dist", 20,
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    assert not (project / "Dedup/optimisation_set.star").exists()
    assert "no optimisation_set.star written" in " ".join(run.output.split())


def test_an_output_folder_with_a_line_break_writes_no_set_and_says_why(tmp_path, monkeypatch):
    # RELION reads a STAR value within its line (nextTokenInSTAR), quoted or not: a path holding a
    # line break (-o $'Dedup\nx', with a blank or without) cannot be named. On main the set named
    # "Dedup" and then a line "x/particles_kept.star" (RELION read the particles file "Dedup"), or
    # the run ended in an error after its outputs were written.
    project = tmp_path / "project"
    relion_project(project)
    monkeypatch.chdir(project)
    for out in ("Dedup\nx", "De dup\nx"):
        run = cli("particles", "Refine3D/job012/run_optimisation_set.star", "-o", out, "--min-dist", 20)
        assert run.exit_code == 0, run.output
        assert kept_names(project / out / "particles_kept.star") == ["TS_01/2", "TS_01/3", "TS_03/1"]
        assert not (project / out / "optimisation_set.star").exists()
        said = " ".join(run.output.split())
        assert "no optimisation_set.star written for the kept particles" in said
        assert f"{out.replace(chr(10), chr(92) + 'n')}/particles_kept.star: a name with a line break" in said
