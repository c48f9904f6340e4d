"""``--plot``'s pictures and page drawn on a thread while the job counts its summary and writes its outputs.

The drawing starts once the rows are decided; the report is written once both are done. What
the thread raises reaches the user as it did drawn in line: a refusal as its one line, any
other error with its traceback (the frame that raised in it), never a hang.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles import job as particle_job
from cryodedup.jobs.particles import pictures
from cryodedup.jobs.particles.job import run
from cryodedup.jobs.particles.plan import plan
from cryodedup.jobs.particles.read import Files
from cryodedup.options import ParticleOptions
from cryodedup.outputs import output_batch
from cryodedup.report import micrograph_page
from fixtures.synthetic import write_benchmark_file
from helpers import one_error_line

#: The drawing's first picture replaced by one that raises (in the process the test starts).
RAISING = """
import sys
import cryodedup.jobs.particles.pictures as pictures
from cryodedup.errors import CryodedupError

def _raises_in_the_drawing(details):
    raise {error}

pictures.nn_histogram = _raises_in_the_drawing
from cryodedup.cli import main
sys.exit(main())
"""


@pytest.fixture(scope="module")
def star(tmp_path_factory):
    path = tmp_path_factory.mktemp("meanwhile") / "particles.star"
    write_benchmark_file(path, 3000, per_mic=100)
    return path


def _plot_in_a_process(star, outdir, error: str) -> subprocess.CompletedProcess:
    args = ["particles", str(star), "-o", str(outdir), "--plot", "-q", "--min-dist", "20"]
    try:
        return subprocess.run(
            [sys.executable, "-c", RAISING.format(error=error), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the run still waits for its drawing thread after 120 s")


def test_a_refusal_in_the_drawing_is_the_runs_one_line(star, tmp_path):
    done = _plot_in_a_process(star, tmp_path / "out", "CryodedupError('the picture cannot be drawn')")
    assert done.returncode == 1, done.stderr
    assert one_error_line(done.stderr) == "Error: the picture cannot be drawn"
    assert not (tmp_path / "out" / "report.html").exists()
    assert not (tmp_path / "out" / "particles_kept.star").exists()  # (all outputs or none, as before)


def test_an_unexpected_error_in_the_drawing_keeps_its_traceback(star, tmp_path):
    done = _plot_in_a_process(star, tmp_path / "out", "ZeroDivisionError('drawn by zero')")
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "ZeroDivisionError: drawn by zero" in done.stderr
    assert "_raises_in_the_drawing" in done.stderr  # (the thread's frame, not only where it was waited for)


def test_the_pictures_are_drawn_while_the_outputs_are_written(star, tmp_path, monkeypatch):
    """The writing waits (at most 20 s) for the drawing to start: drawn after the writing, it never would."""
    drawing = threading.Event()
    draw_pictures, write = pictures.draw_pictures, particle_job.PlainParticleStages.write_rows

    def draw_started(*args, **kwargs):
        drawing.set()
        return draw_pictures(*args, **kwargs)

    def write_once_drawing(self, *args, **kwargs):
        started = drawing.wait(20)
        written = write(self, *args, **kwargs)
        assert started, "the pictures were not being drawn while the outputs were written"
        return written

    monkeypatch.setattr(pictures, "draw_pictures", draw_started)
    monkeypatch.setattr(particle_job.PlainParticleStages, "write_rows", write_once_drawing)
    with output_batch():
        outcome = run(Files.of([star]), tmp_path / "out", plan(ParticleOptions(min_dist=20.0, plot=True)))
    assert drawing.is_set()
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "micrographs.html").is_file()
    assert str(tmp_path / "out" / "report.html") in (outcome.summary.plots or [])


def test_the_scores_are_counted_while_the_other_pictures_are_drawn(star, tmp_path, monkeypatch):
    """The distances' picture, drawn before the scores', waits (at most 20 s) for the scores' counting to start."""
    counting = threading.Event()
    score_counts, nn_histogram = pictures.score_counts, pictures.nn_histogram

    def counting_started(details):
        counting.set()
        return score_counts(details)

    def histogram_once_counting(details):
        assert counting.wait(20), "the scores were not being counted while the other pictures were drawn"
        return nn_histogram(details)

    monkeypatch.setattr(pictures, "score_counts", counting_started)
    monkeypatch.setattr(pictures, "nn_histogram", histogram_once_counting)
    options = ParticleOptions(min_dist=20.0, plot=True, score="rlnMaxValueProbDistribution")
    with output_batch():
        run(Files.of([star]), tmp_path / "out", plan(options))
    assert (tmp_path / "out" / "scores.png").is_file()


def test_an_error_counting_the_scores_is_the_runs(star, tmp_path, monkeypatch):
    def refused(details):
        raise CryodedupError("the scores cannot be counted")

    monkeypatch.setattr(pictures, "score_counts", refused)
    options = ParticleOptions(min_dist=20.0, plot=True, score="rlnMaxValueProbDistribution")
    with output_batch(), pytest.raises(CryodedupError, match="the scores cannot be counted") as raised:
        run(Files.of([star]), tmp_path / "out", plan(options))
    assert "refused" in {frame.name for frame in raised.traceback}  # (the frame that raised, in its thread)
    assert not (tmp_path / "out" / "report.html").exists()


#: In a fresh interpreter: what a one-pass scan is asked for --plot, and the thread that imports the pictures' modules.
PLANS_THEN_IMPORTS = """
import sys, threading
from cryodedup.jobs.particles import decide
from cryodedup.report.scan_plans import nearest_plan, page_files_plan

before = "PIL.Image" in sys.modules
importing, seen = decide._import_the_pictures, []

def recorded():
    seen.append((threading.current_thread() is threading.main_thread(), "PIL.Image" in sys.modules))
    importing()

decide._import_the_pictures = recorded
plans = decide._pictures(20.0)
for thread in threading.enumerate():
    if thread.name == "cryodedup-import-pictures":
        thread.join(60)
assert plans[0] == nearest_plan(20.0), plans
loaded = [name in sys.modules for name in ("cryodedup.report.micrograph_page", "cryodedup.report.consensus_figures")]
print(before, seen, *loaded)
"""


def test_the_pictures_modules_are_imported_on_a_thread_while_the_scan_decides():
    """Asking the scan for the pictures' counts loads no Pillow; a thread of its own imports the pictures' modules."""
    done = subprocess.run(
        [sys.executable, "-c", PLANS_THEN_IMPORTS], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "[(False,", "False)]", "True", "True"], done.stdout


def test_the_scans_files_of_picks_are_written_while_the_pictures_are_drawn(star, tmp_path, monkeypatch):
    """The last picture waits (at most 20 s) for every file of picks the one-pass scan made to be written
    (a scratch folder beside the page's): written once the pictures are drawn, they never would be. The files
    are those the page writes itself (the scan's files not given to it), the scratch folder gone."""
    from cryodedup.jobs.particles import page as particle_page

    staged: list[Path] = []
    stage_picks, rejected_fraction = particle_page.stage_picks, pictures.rejected_fraction

    def staging(*args):
        started = stage_picks(*args)
        assert started is not None, "the scan's files of picks are not staged"
        staged.extend(started.files)
        return started

    def drawn_once_written(details):
        deadline = time.monotonic() + 20
        while not all(f.is_file() for f in staged) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert staged and all(f.is_file() for f in staged), "the files of picks were not written meanwhile"
        return rejected_fraction(details)

    monkeypatch.setattr(particle_page, "stage_picks", staging)
    monkeypatch.setattr(pictures, "rejected_fraction", drawn_once_written)
    options = ParticleOptions(min_dist=20.0, plot=True)
    with output_batch():
        run(Files.of([star]), tmp_path / "staged", plan(options))
    monkeypatch.setattr(pictures, "rejected_fraction", rejected_fraction)
    monkeypatch.setattr(particle_page, "stage_picks", lambda *args: None)
    monkeypatch.setattr(micrograph_page, "_made_by_the_scan", lambda *args: None)  # (made by the page)
    with output_batch():
        run(Files.of([star]), tmp_path / "made", plan(options))
    names = sorted(p.name for p in (tmp_path / "made" / "micrographs").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "staged" / "micrographs").iterdir())
    assert len([n for n in names if n.startswith("picks_")]) == len(staged) > 0
    for name in names:
        assert (tmp_path / "staged" / "micrographs" / name).read_bytes() == (
            tmp_path / "made" / "micrographs" / name
        ).read_bytes()
    assert sorted(p.name for p in (tmp_path / "staged").iterdir()) == sorted(
        p.name for p in (tmp_path / "made").iterdir()
    )


def _scratch_folders(outdir: Path) -> list[Path]:
    return sorted(outdir.glob(".micrographs.*.scratch"))


def test_the_scans_files_of_picks_are_written_as_the_scan_makes_them(tmp_path, monkeypatch):
    """By the scan's end every file of picks lies in a scratch folder beside the page's, none held by the scan
    (nothing left to write after it); the page takes those files, byte for byte those it makes itself."""
    from cryodedup.jobs.particles import page as particle_page

    star = tmp_path / "many.star"
    write_benchmark_file(star, 12_000, per_mic=20)  # (600 micrographs: 12 files of picks)
    seen: list[tuple[list[str], object]] = []
    stage_picks = particle_page.stage_picks

    def staging(details, folder, start):
        scratch = _scratch_folders(folder)
        assert len(scratch) == 1, "no scratch folder of the page's files beside the outputs"
        made = details.particles.decided_counts.page
        seen.append((sorted(p.name for p in scratch[0].iterdir()), made.folder))
        with pytest.raises(ValueError, match="written already"):
            made.write([str(tmp_path / "elsewhere")] * made.files)  # (no text held)
        return stage_picks(details, folder, start)

    monkeypatch.setattr(particle_page, "stage_picks", staging)
    options = ParticleOptions(min_dist=20.0, plot=True)
    with output_batch():
        run(Files.of([star]), tmp_path / "out", plan(options))
    files = sorted(p.name for p in (tmp_path / "out" / "micrographs").glob("picks_*"))
    assert len(files) == 12 and seen == [(files, seen[0][1])] and seen[0][1] is not None
    assert _scratch_folders(tmp_path / "out") == []
    monkeypatch.setattr(particle_page, "stage_picks", lambda *args: None)
    monkeypatch.setattr(micrograph_page, "_made_by_the_scan", lambda *args: None)  # (made by the page)
    with output_batch():
        run(Files.of([star]), tmp_path / "made", plan(options))
    for name in files:
        made = (tmp_path / "made" / "micrographs" / name).read_bytes()
        assert (tmp_path / "out" / "micrographs" / name).read_bytes() == made, name


def test_a_run_failing_after_the_scan_leaves_no_files_of_picks_behind(star, tmp_path, monkeypatch):
    """The scan's scratch folder of files of picks goes with the run's batch when the run fails after the scan."""
    from cryodedup.jobs.particles import page as particle_page

    def failing(*args):
        raise CryodedupError("stopped after the scan")

    monkeypatch.setattr(particle_page, "stage_picks", failing)
    with pytest.raises(CryodedupError, match="stopped after the scan"), output_batch():
        run(Files.of([star]), tmp_path / "out", plan(ParticleOptions(min_dist=20.0, plot=True)))
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
