"""RELION 5's optimisation set (issue 64, item 6): read as the particles and tomograms files it names.

The project is laid out as RELION 5 writes it (Refine3D/job012/run_optimisation_set.star naming
run_data.star and Tomograms/job008/tomograms.star, by paths from the project folder); the
oracle is the hand-worked decision and the run on the particles file itself.
"""

from __future__ import annotations

import json

from click.testing import CliRunner

from cryodedup.cli import main
from relion_import import read_optimisation_set, read_star

OPTIMISATION_SET = """
# version 50001

data_

_rlnTomoParticlesFile                 Refine3D/job012/run_data.star
_rlnTomoTomogramsFile                 Tomograms/job008/tomograms.star
_rlnTomoTrajectoriesFile              Polish/job011/motion.star
_rlnTomoReferenceMap1File             Refine3D/job012/run_half1_class001_unfil.mrc
_rlnTomoReferenceMap2File             Refine3D/job012/run_half2_class001_unfil.mrc
"""

TOMOGRAMS = """
# version 50001

data_global

loop_
_rlnTomoName #1
_rlnVoltage #2
_rlnSphericalAberration #3
_rlnAmplitudeContrast #4
_rlnMicrographOriginalPixelSize #5
_rlnTomoHand #6
_rlnOpticsGroupName #7
_rlnTomoTiltSeriesPixelSize #8
_rlnTomoSizeX #9
_rlnTomoSizeY #10
_rlnTomoSizeZ #11
TS_01 300.0 2.7 0.1 0.675 -1.0 optics1 1.35 4000 4000 2000
TS_03 300.0 2.7 0.1 0.675 -1.0 optics1 1.35 4000 4000 2000
"""

LABELS = ["rlnTomoName", "rlnTomoParticleName", "rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst"]
LABELS += ["rlnCenteredCoordinateZAngst", "rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]
LABELS += ["rlnRandomSubset", "rlnMaxValueProbDistribution"]
# TS_01: two refined particles 12 Å apart (one kept: 0.8 > 0.3) and one far away; TS_03: one particle.
ROWS = [
    ("TS_01", "TS_01/1", 100.0, 200.0, -50.0, 0.0, 0.0, 0.0, 1, 0.3),
    ("TS_01", "TS_01/2", 112.0, 200.0, -50.0, 0.0, 0.0, 0.0, 2, 0.8),
    ("TS_01", "TS_01/3", 900.0, -400.0, 10.0, 0.0, 0.0, 0.0, 1, 0.5),
    ("TS_03", "TS_03/1", 100.0, 200.0, -50.0, 0.0, 0.0, 0.0, 2, 0.4),
]


def relion_project(root):
    """A RELION 5 project's Refine3D job, its optimisation set and the tomograms job it names."""
    (root / "Refine3D/job012").mkdir(parents=True)
    (root / "Tomograms/job008").mkdir(parents=True)
    (root / "Tomograms/job008/tomograms.star").write_text(TOMOGRAMS)
    lines = ["", "# version 50001", "", "data_particles", "", "loop_"]
    lines += [f"_{label} #{k + 1}" for k, label in enumerate(LABELS)]
    lines += [" ".join(str(v) for v in row) for row in ROWS]
    (root / "Refine3D/job012/run_data.star").write_text("\n".join(lines) + "\n\n")
    (root / "Refine3D/job012/run_optimisation_set.star").write_text(OPTIMISATION_SET)
    return root / "Refine3D/job012/run_optimisation_set.star"


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
