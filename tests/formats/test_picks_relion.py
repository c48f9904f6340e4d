"""RELION coordinate files: per-micrograph STARs, the 3.x coords_suffix job, the 4/5 list."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from cryodedup.errors import CryodedupError
from cryodedup.formats.picks import MicrographNamer, read_picks
from cryodedup.formats.picks.relion import read_list, relative_coordinate_path
from helpers import shared_file
from picker_files import autopick_text, relion3_job


def test_relative_coordinate_path_follows_relion_naming():
    assert relative_coordinate_path("MotionCorr/job002/Movies/x.mrc") == "Movies/x_autopick.star"
    assert relative_coordinate_path("Import/job001/Movies/a/b.tiff", "_manualpick.star") == "Movies/a/b_manualpick.star"
    # RELION 3.1 keeps every folder of a name outside a job (its Extract reads COORD_DIR//data/mics/x...).
    assert relative_coordinate_path("/data/mics/x.mrc") == "data/mics/x_autopick.star"
    # The first job folder at any depth, as RELION's decomposePipelineFileName finds it.
    assert relative_coordinate_path("/proj/MotionCorr/job002/Movies/x.mrc") == "Movies/x_autopick.star"
    assert relative_coordinate_path("a/b/job012/x.mrc") == "x_autopick.star"
    assert relative_coordinate_path("x") == "x_autopick.star"


def test_relion3_job_folder(tmp_path):
    job, names = relion3_job(tmp_path, {"m1": [(100.5, 200.25, 0.3), (10, 20, 0.1)], "m2": [(7, 8, 1.5)], "m3": None})
    picks = read_picks(job, project_dir=tmp_path)
    assert picks.format == "relion"
    # m3 has no coordinate file: it has no picks. Centres are the coordinates as written.
    assert picks.micrographs == names[:2]
    assert picks.micrograph.tolist() == [0, 0, 1]
    np.testing.assert_array_equal(picks.centres, [[100.5, 200.25], [10, 20], [7, 8]])
    np.testing.assert_array_equal(picks.score, [0.3, 0.1, 1.5])
    assert picks.score_name == "rlnAutopickFigureOfMerit" and picks.higher_is_better
    # The coords_suffix file given directly, from another folder: found above the file.
    again = read_picks(job / "coords_suffix_autopick.star")
    assert again.micrographs == names[:2]


def test_relion3_job_without_any_coordinate_file(tmp_path):
    job, _ = relion3_job(tmp_path, {"m1": None})
    with pytest.raises(CryodedupError, match="none of the micrographs .* has a coordinate file"):
        read_picks(job, project_dir=tmp_path)


def test_per_micrograph_files_named_through_micrographs_star(tmp_path):
    job, names = relion3_job(tmp_path, {"m1": [(1, 2, 0.5)], "m2": [(3, 4, 0.25)]})
    star = tmp_path / "CtfFind/job003/micrographs_ctf.star"
    picks = read_picks(str(job / "Movies/*_autopick.star"), micrographs=star)
    assert picks.micrographs == names
    bare = read_picks(job / "Movies/m2_autopick.star")
    assert bare.micrographs == ["m2"]
    with pytest.raises(CryodedupError, match="m1_autopick.star: micrograph 'm1' is not in --micrographs"):
        read_picks(job / "Movies/m1_autopick.star", micrographs=["MotionCorr/job002/Movies/other.mrc"])


def test_particle_star_is_not_picks(tmp_path):
    path = tmp_path / "particles.star"
    path.write_text("data_particles\nloop_\n_rlnMicrographName\n_rlnCoordinateX\n_rlnCoordinateY\nm.mrc 1 2\n")
    with pytest.raises(CryodedupError, match="a particle STAR .* give each particle STAR as an input of its own"):
        read_picks(path)


def test_a_coordinate_list_without_its_loop_is_named(tmp_path):
    # read_picks only sends files with data_coordinate_files here; called directly, the
    # reader still names the file instead of failing on a missing block.
    path = tmp_path / "autopick.star"
    path.write_text("data_other\nloop_\n_rlnMicrographName\nm.mrc\n")
    with pytest.raises(CryodedupError, match="autopick.star: no data_coordinate_files loop"):
        read_list([path], str(path), MicrographNamer(None), tmp_path)


def test_unknown_file_is_named(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(CryodedupError, match="notes.txt: not a picker coordinate file"):
        read_picks(path)


@pytest.mark.real_data
def test_real_autopick_file():
    picks = read_picks(shared_file("picks/3dem__20170629_00049_frameImage_autopick.star"))
    assert len(picks) == 195 and picks.micrographs == ["3dem__20170629_00049_frameImage"]
    np.testing.assert_array_equal(picks.centres[0], [462.817657, 203.188232])
    assert picks.score[0] == 0.172677


@pytest.mark.real_data
def test_real_relion4_list_in_a_project(tmp_path):
    # The real list names 24 micrographs; each gets a copy of the real autopick file.
    listing = shared_file("picks/3dem__autopick_list.star")
    one = shared_file("picks/3dem__20170629_00049_frameImage_autopick.star")
    job = tmp_path / "AutoPick/job004"
    (job / "Movies").mkdir(parents=True)
    shutil.copy(listing, job / "autopick.star")
    names = [line.split()[0] for line in listing.read_text().splitlines() if line.startswith("MotionCorr/")]
    for name in names:
        shutil.copy(one, tmp_path / "AutoPick/job004" / relative_coordinate_path(name))
    picks = read_picks(job)  # found from the folders above the list
    assert picks.micrographs == names and len(names) == 24
    assert len(picks) == 24 * 195
    np.testing.assert_array_equal(picks.centres[195], [462.817657, 203.188232])
    with pytest.raises(CryodedupError, match="not found from"):
        read_picks(listing)


def test_a_listed_coordinate_file_that_is_missing_is_named_as_listed(tmp_path):
    # RELION 4 list of two micrographs; the second one's file is missing (a quoted name in the list too).
    job = tmp_path / "AutoPick/job004"
    (job / "Movies").mkdir(parents=True)
    (job / "Movies/m1_autopick.star").write_text(autopick_text([(1, 2, 0.5)]))
    (job / "autopick.star").write_text(
        "\ndata_coordinate_files\n\nloop_ \n_rlnMicrographName #1 \n_rlnMicrographCoordinates #2 \n"
        "MotionCorr/job002/Movies/m1.mrc AutoPick/job004/Movies/m1_autopick.star \n"
        "'MotionCorr/job002/Movies/m 2.mrc' AutoPick/job004/Movies/m2_autopick.star \n\n"
    )
    with pytest.raises(CryodedupError) as err:
        read_picks(job, project_dir=tmp_path)
    assert str(err.value) == (
        f"{job / 'autopick.star'}: AutoPick/job004/Movies/m2_autopick.star "
        f"(micrograph MotionCorr/job002/Movies/m 2.mrc) not found in {tmp_path}"
    )


def test_relion3_job_names_its_micrographs_star_as_the_job_is_named(tmp_path, monkeypatch):
    # Run from the project folder: the note names the STAR relative to it, like the job folder
    # itself, not by the project's absolute path.
    relion3_job(tmp_path, {"m1": [(1, 2, 0.5)]})
    monkeypatch.chdir(tmp_path)
    picks = read_picks("AutoPick/job006")
    note = next(n for n in picks.notes if "micrographs from" in n)
    assert "micrographs from CtfFind/job003/micrographs_ctf.star," in note
    assert str(tmp_path) not in note
    # From elsewhere the STAR lies outside the working folder: named whole.
    monkeypatch.chdir(tmp_path / "AutoPick")
    outside = read_picks(tmp_path / "AutoPick/job006")
    assert f"micrographs from {(tmp_path / 'CtfFind/job003/micrographs_ctf.star').as_posix()}," in " ".join(
        outside.notes
    )


# --- tomograms' 3-D picks are not a micrograph's coordinate files --------------------------------


def _picks_3d(tmp_path):
    """A template matcher's file of one tomogram as RELION 5's import takes it (tilt-series pixels of
    1.35 Å from the corner, no rlnTomoName), and the same picks with the tomogram named.

    Two picks share x and y and lie 400 pixels (540 Å) apart in z: no duplicates in 3-D.
    """
    rows = [(1000.0, 1500.0, 200.0, 0.4), (1000.0, 1500.0, 600.0, 0.3), (1300.0, 1500.0, 600.0, 0.2)]
    head = "\n# version 50001\n\ndata_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnCoordinateZ #3\n"
    (tmp_path / "tm").mkdir()
    (tmp_path / "tm/TS_01.star").write_text(
        head + "_rlnLCCmax #4\n" + "".join(f"{x} {y} {z} {s}\n" for x, y, z, s in rows)
    )
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations/TS_01_particles.star").write_text(
        head + "_rlnTomoName #4\n" + "".join(f"{x} {y} {z} TS_01\n" for x, y, z, _ in rows)
    )
    centres = np.array([r[:3] for r in rows]) * 1.35
    # Brute force: the pairs within 60 Å in 3-D (none), hence every pick kept.
    within = [(i, j) for i in range(3) for j in range(i + 1, 3) if np.linalg.norm(centres[i] - centres[j]) <= 60]
    return within, 3 - len({j for _, j in within})


def _cli(tmp_path, *args):
    from click.testing import CliRunner

    from cryodedup.cli import main

    return CliRunner().invoke(main, ["particles", *args, "--min-dist", "60", "--json", "-q"], catch_exceptions=False)


def test_a_template_matchers_3d_picks_are_refused_and_the_import_list_advised_works(tmp_path, monkeypatch):
    import json

    monkeypatch.chdir(tmp_path)
    within, kept = _picks_3d(tmp_path)
    assert within == [] and kept == 3
    for given in ("tm/TS_01.star", "tm", "tm/*.star"):  # the file, its folder, a pattern
        refused = _cli(tmp_path, given, "--mic-psize", "1.35", "--score", "rlnLCCmax", "-o", "A")
        message = " ".join(refused.stderr.split())
        assert refused.exit_code == 1 and refused.stderr.count("\n") == 1, refused.stderr
        assert "tm/TS_01.star: has rlnCoordinateZ" in message and "import list" in message, message
    # The advice as printed: a RELION 5 import list naming the file.
    (tmp_path / "list.star").write_text(
        "\ndata_\n\nloop_\n_rlnTomoName #1\n_rlnTomoImportParticleFile #2\nTS_01 tm/TS_01.star\n"
    )
    result = _cli(tmp_path, "list.star", "--mic-psize", "1.35", "--score", "rlnLCCmax", "-o", "B")
    assert result.exit_code == 0, result.stderr
    assert (json.loads(result.stdout)["kept"], json.loads(result.stdout)["rejected"]) == (kept, 0)


def test_a_picks_jobs_annotation_folder_is_refused_and_the_file_alone_is_read_in_3d(tmp_path, monkeypatch):
    import json

    monkeypatch.chdir(tmp_path)
    _, kept = _picks_3d(tmp_path)
    # The annotation files are in pixels of the 1.35 Å tilt series here (as --mic-psize says).
    refused = _cli(tmp_path, "annotations", "--mic-psize", "1.35", "--score", "none", "-o", "A")
    message = " ".join(refused.stderr.split())
    assert refused.exit_code == 1 and "has rlnCoordinateZ" in message and "an input of its own" in message, message
    result = _cli(tmp_path, "annotations/TS_01_particles.star", "--mic-psize", "1.35", "--score", "none", "-o", "B")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["kept"] == kept


def test_a_relion5_picks_job_folder_names_its_particle_file_to_give(tmp_path, monkeypatch):
    import json

    monkeypatch.chdir(tmp_path)
    # RELION 5's Picks job writes particles.star in centred Å (rlnTomoName, no optics table).
    centres = np.array([[0.0, 0.0, 0.0], [30.0, 0.0, 0.0], [0.0, 0.0, 500.0]])
    (tmp_path / "Picks/job019").mkdir(parents=True)
    (tmp_path / "Picks/job019/particles.star").write_text(
        "\ndata_particles\n\nloop_\n_rlnTomoName #1\n_rlnCenteredCoordinateXAngst #2\n"
        "_rlnCenteredCoordinateYAngst #3\n_rlnCenteredCoordinateZAngst #4\n"
        + "".join(f"TS_01\t{x}\t{y}\t{z}\n" for x, y, z in centres)
    )
    refused = _cli(tmp_path, "Picks/job019", "--score", "none", "-o", "A")
    message = " ".join(refused.stderr.split())
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "Picks/job019/particles.star: a RELION 5 tomography particle STAR" in message, message
    assert "an input of its own" in message and "without picks" not in message, message
    # As advised, the file alone: one pair within 60 Å (brute force), so 2 kept.
    pairs = [(i, j) for i in range(3) for j in range(i + 1, 3) if np.linalg.norm(centres[i] - centres[j]) <= 60]
    result = _cli(tmp_path, "Picks/job019/particles.star", "--score", "none", "-o", "B")
    assert result.exit_code == 0, result.stderr
    assert pairs == [(0, 1)] and json.loads(result.stdout)["kept"] == 2
