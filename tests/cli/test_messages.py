"""Messages a user meets (issue 64, item 7; issue 65's small items): each says what is true, in one line.

Each case is worked by hand: the counts and words expected are the situation's, not the code's.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from helpers import write_star

PICKS = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result) -> str:
    """The error a run ended with: one line, no traceback, exit status not 0."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_one_group_of_duplicates_is_one_group(tmp_path):
    # Two pickers' picks 2 Å apart: one group of duplicates, decided by --prefer (and tied on the score).
    a = write_star(tmp_path / "a.star", PICKS, [["mic1.mrc", 100, 100, 1.0], ["mic1.mrc", 500, 500, 1.0]])
    b = write_star(tmp_path / "b.star", PICKS, [["mic1.mrc", 102, 100, 1.0]])
    preferred = cli("particles", a, b, "-o", tmp_path / "p", "--mic-psize", 1, "--prefer", b, "--json")
    assert preferred.exit_code == 0, preferred.output
    assert "1 group of duplicates: 1 decided by priority" in " ".join(preferred.output.split())
    tied = cli("particles", a, b, "-o", tmp_path / "t", "--mic-psize", 1)
    assert tied.exit_code == 0, tied.output
    assert "1 group tied on the score" in " ".join(tied.output.split())
    assert "1 groups" not in preferred.output + tied.output


# --- issue 65: what the barrages left ---------------------------------------------------------


def test_compare_radius_beyond_any_distance_and_an_empty_reference_are_one_line(tmp_path):
    a = write_star(tmp_path / "a.star", PICKS, [["mic1.mrc", 100, 100, 1.0]])
    b = write_star(tmp_path / "b.star", PICKS, [["mic1.mrc", 102, 100, 1.0]])
    huge = one_line_error(cli("compare", a, b, "--mic-psize", 1, "--radius", "1e300"))
    assert huge == "Error: --radius must be a distance in Å above 0, to 1e150, got 1e+300"
    empty = one_line_error(cli("compare", a, b, "--mic-psize", 1, "--reference", ""))
    assert empty == "Error: --reference names an input (its path or 1 or 2), got ''"


def test_a_line_break_in_a_transform_is_shown_escaped_on_one_line(tmp_path):
    a = write_star(tmp_path / "a.star", PICKS, [["mic1.mrc", 100, 100, 1.0]])
    b = write_star(tmp_path / "b.star", PICKS, [["mic1.mrc", 102, 100, 1.0]])
    said = one_line_error(cli("particles", a, b, "-o", tmp_path / "o", "--transform", "b.star=shift:1,2\nswap"))
    assert said.startswith("Error: --transform b.star=shift:1,2\\nswap: ")
    said = one_line_error(
        cli("particles", a, b, "-o", tmp_path / "o", "--mic-psize", 1, "--audit", "--transform", "b\n=swap")
    )
    assert said.startswith("Error: --transform b\\n: not one of the inputs")


def test_import_scale_zero_is_refused(tmp_path):
    # (RELION's --scale_factor 0 would put every pick of a text coordinate file on one point)
    a = write_star(tmp_path / "a.star", PICKS, [["mic1.mrc", 100, 100, 1.0]])
    said = one_line_error(cli("particles", a, "-o", tmp_path / "o", "--import-scale", "0"))
    assert said.startswith("Error: --import-scale must be a factor above 0")
    assert not (tmp_path / "o").exists()


def test_a_species_column_beyond_any_class_number_is_one_line(tmp_path):
    labels = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnClassNumber"]
    star = write_star(tmp_path / "a.star", labels, [["mic1.mrc", 100, 100, "1e300"], ["mic1.mrc", 300, 100, 1]])
    said = one_line_error(cli("particles", star, "-o", tmp_path / "o", "--mic-psize", 1, "--species-column", labels[3]))
    assert "values like 1.00000e+300 are beyond any class number" in said and len(said) < 300


def test_a_folder_named_like_a_micrograph_in_an_update_is_one_line(tmp_path):
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1]))
    from helpers import write_planted_micrographs

    mics = tmp_path / "mics"
    mics.mkdir()
    write_planted_micrographs(mics, 4)
    first = cli("micrographs", mics / "*.mrc", "-o", tmp_path / "out", "--update", "-q")
    assert first.exit_code == 0, first.output
    (mics / "mic_6.mrc").mkdir()
    said = one_line_error(cli("micrographs", mics / "*.mrc", "-o", tmp_path / "out", "--update", "-q"))
    assert (
        said
        == f"Error: {mics / 'mic_6.mrc'}: is a folder, expected an MRC file (use --skip-unreadable to go on without it)"
    )


def test_a_signal_once_the_copick_picks_are_in_place_says_they_are(tmp_path):
    # The write-back renamed every pick set into place; SIGTERM arrived during the renames (deferred):
    # the run must not say "the previous outputs are unchanged".
    import os
    import signal
    import subprocess
    import time

    from cryodedup.formats.copick import root_logger_kept
    from fixtures.signal_runs import COMMAND, SAYS_NEW

    with root_logger_kept():
        copick = pytest.importorskip("copick")
        from copick.models import CopickLocation, CopickPoint, PickableObject

        config = tmp_path / "project" / "copick_config.json"
        objects = [PickableObject(name=n, is_particle=True, radius=r) for n, r in (("apo", 60.0), ("ribo", 150.0))]
        root = copick.new_config(str(config), str(tmp_path / "project" / "overlay"), pickable_objects=objects)
        for run_name in ("TS_000", "TS_001"):
            run = root.new_run(run_name)
            for name in ("apo", "ribo"):
                picks = run.new_picks(object_name=name, session_id="1", user_id="alice")
                picks.points = [CopickPoint(location=CopickLocation(x=x, y=100.0, z=100.0)) for x in (100, 900)]
                picks.store()
    env = dict(os.environ, CRYODEDUP_TEST_PAUSE="copick-placed")
    with open(tmp_path / "stderr.txt", "w") as err:
        run = subprocess.Popen([*COMMAND, "particles", str(config), "-q"], stderr=err, env=env)
        while run.poll() is None and "paused at" not in (tmp_path / "stderr.txt").read_text():
            time.sleep(0.005)
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 143
    said = (tmp_path / "stderr.txt").read_text().splitlines()[-1]
    assert said == f"Stopped by SIGTERM {SAYS_NEW}"
    written = sorted(p.name for p in (tmp_path / "project").rglob("cryodedup_0_*.json"))
    assert written == ["cryodedup_0_apo.json", "cryodedup_0_apo.json", "cryodedup_0_ribo.json", "cryodedup_0_ribo.json"]


# --- issue 64, item 7 ---------------------------------------------------------------------------

AUTOPICK_LIST = """
# version 50001

data_coordinate_files

loop_
_rlnMicrographName #1
_rlnMicrographCoordinates #2
MotionCorr/job002/Movies/mic1.mrc AutoPick/{job}/Movies/mic1_autopick.star
"""

AUTOPICK_COORDS = """
# version 50001

data_

loop_
_rlnCoordinateX #1
_rlnCoordinateY #2
_rlnClassNumber #3
_rlnAutopickFigureOfMerit #4
_rlnAnglePsi #5
  100.000000   200.000000            0     1.500000   -999.00000
"""


def autopick_job(project, job):
    """A RELION 5 AutoPick job's folder as RELION writes it: job.star, autopick.star, Movies/*_autopick.star."""
    folder = project / "AutoPick" / job
    (folder / "Movies").mkdir(parents=True)
    (folder / "job.star").write_text("\n# version 50001\n\ndata_job\n\n_rlnJobTypeLabel relion.autopick.log\n")
    (folder / "autopick.star").write_text(AUTOPICK_LIST.format(job=job))
    (folder / "Movies" / "mic1_autopick.star").write_text(AUTOPICK_COORDS)
    return folder


def test_a_folder_of_two_jobs_says_so_and_names_them(tmp_path, monkeypatch):
    autopick_job(tmp_path, "job006")
    autopick_job(tmp_path, "job010")
    monkeypatch.chdir(tmp_path)
    said = one_line_error(cli("particles", "AutoPick/", "-o", "out", "--mic-psize", 1))
    assert said == (
        "Error: AutoPick: holds 2 RELION jobs (job006, job010), and a folder is read as one picker's output: "
        "give one job's folder (AutoPick/job006), or each job as its own input"
    )
    one = cli("particles", "AutoPick/job006", "-o", "out", "--mic-psize", 1)
    assert one.exit_code == 0, one.output


def test_a_particles_star_given_as_micrographs_says_it_is_a_particles_file(tmp_path, monkeypatch):
    autopick_job(tmp_path, "job006")
    monkeypatch.chdir(tmp_path)
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup", "rlnImageName"]
    rows = [
        [100, 200, "MotionCorr/job002/Movies/mic1.mrc", 1, "000001@Extract/job007/Movies/mic1.mrcs"],
        [300, 200, "MotionCorr/job002/Movies/mic1.mrc", 2, "000002@Extract/job007/Movies/mic1.mrcs"],
    ]
    optics = [[1, "opticsGroup1", 2.0, 1.0], [2, "opticsGroup2", 2.0, 1.1]]
    write_star(tmp_path / "particles.star", labels, rows, optics=optics)
    said = one_line_error(cli("particles", "AutoPick/job006", "-o", "out", "--micrographs", "particles.star"))
    assert said.startswith(
        "Error: particles.star: a particles STAR (data_particles: rlnCoordinateX, rlnImageName), not a micrographs STAR"
    )


def test_a_batch_added_again_is_refused_unless_asked(tmp_path):
    from cryodedup.cli import EXAMPLES

    log, template = EXAMPLES / "particles_log.star", EXAMPLES / "particles_template.star"
    flags = ["-o", tmp_path / "live", "--update", "--micrographs", EXAMPLES / "micrographs_ctf.star"]
    flags += ["--score", "rlnMaxValueProbDistribution", "--min-dist", 40, "--json"]
    first = cli("particles", log, *flags)
    assert first.exit_code == 0, first.output
    # The last round's batch given again (a retry, or a run again): its files put in place, nothing added.
    retry = cli("particles", log, *flags)
    assert retry.exit_code == 0, retry.output
    assert "its rows are already in the kept set" in retry.output and "nothing is added" in retry.output
    assert not (tmp_path / "live" / "round_0002_kept.star").exists()
    # Another picker's picks of the same micrographs are new particles: added as before.
    other = cli("particles", template, *flags)
    assert other.exit_code == 0, other.output
    rows = sum(1 for line in log.read_text().splitlines() if "@" in line)  # (a particle image per row)
    kept = (tmp_path / "live" / "particles_kept.star").read_bytes()
    said = one_line_error(cli("particles", log, *flags))  # (an earlier round's batch)
    assert f"{rows:,} of its {rows:,} rows are already in the kept set" in said and "--add-again" in said
    assert (tmp_path / "live" / "particles_kept.star").read_bytes() == kept  # (nothing added)
    assert not (tmp_path / "live" / "round_0003_kept.star").exists()
    again = cli("particles", log, *flags, "--add-again")
    assert again.exit_code == 0, again.output
    assert '"kept": 0' in again.output
