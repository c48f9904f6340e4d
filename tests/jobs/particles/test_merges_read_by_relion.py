"""RELION 3.1's own programs read the 2-D merges' outputs (issue 64): relion_star_handler and relion_preprocess.

Skipped where RELION is not installed (Debian's ``relion`` package gives RELION 3.1.3). The
merges: a Refine3D run_data.star with a ManualPick job (tests/fixtures/refined_and_picks.py),
and two pickers' particle files of different columns (the output-digest corpus's pair). RELION
reads each written particle file (star_handler selects every row by its half-set, and writes
every column back), re-extracts the kept refined particles from their micrographs, and
extracts the kept hand picks from the coordinate job: one particle per kept row.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import starfile

from cryodedup import ParticleOptions, remove_duplicate_particles
from fixtures.refined_and_picks import refined_2d_project, write_noise_micrographs
from helpers import missing_program


@pytest.fixture(autouse=True)
def relion_installed():
    """Skips without RELION 3.1's programs (CI, where it installs them, fails instead)."""
    if shutil.which("relion_star_handler") is None or shutil.which("relion_preprocess") is None:
        missing_program(
            "RELION is not installed (relion_star_handler, relion_preprocess): apt-get install relion",
            required_by="CRYODEDUP_REQUIRE_RELION",
        )


def relion(*args: str) -> None:
    done = subprocess.run(list(args), check=False, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def rows(path: str | Path) -> int:
    table = starfile.read(path, always_dict=True)
    return len(table["particles"]) if "particles" in table else len(next(iter(table.values())))


def star_handler_keeps_every_row(star: str, out: str) -> None:
    """relion_star_handler reads ``star`` and writes it back whole: every row, every column."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    relion("relion_star_handler", "--i", star, "--o", out, "--select", "rlnCoordinateX", "--minval", "0")
    assert rows(out) == rows(star)
    assert list(starfile.read(out)["particles"].columns) == list(starfile.read(star)["particles"].columns)


def test_relion31_reads_refined_particles_and_hand_picks_merged(tmp_path, monkeypatch):
    project = refined_2d_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    write_noise_micrographs(tmp_path)
    options = ParticleOptions(min_dist=30.0, micrographs=Path(project.micrographs), prefer=[project.refined])
    summary = remove_duplicate_particles([project.refined, project.picks], "Dedup/job050", options)
    kept_refined = "Dedup/job050/particles_kept.star"
    star_handler_keeps_every_row(kept_refined, "Select/job051/particles.star")
    relion(
        "relion_preprocess", "--i", project.micrographs, "--reextract_data_star", kept_refined,
        "--part_star", "Extract/job052/particles.star", "--part_dir", "Extract/job052/", "--extract",
        "--extract_size", "128", "--scale", "64", "--norm", "--bg_radius", "25",
    )  # fmt: skip
    assert rows("Extract/job052/particles.star") == len(project.refined_rows)
    relion(
        "relion_preprocess", "--i", project.micrographs, "--coord_dir", "Dedup/job050/kept/",
        "--coord_suffix", "_autopick.star", "--part_star", "Extract/job053/particles.star",
        "--part_dir", "Extract/job053/", "--extract", "--extract_size", "64", "--norm", "--bg_radius", "25",
    )  # fmt: skip
    hand_picks_kept = summary.kept - len(project.refined_rows)
    assert rows("Extract/job053/particles.star") == hand_picks_kept == 9
    # The rejected hand picks extracted too: RELION's particle files of other columns than Refine3D's.
    relion(
        "relion_preprocess", "--i", project.micrographs, "--coord_dir", "Dedup/job050/rejected/",
        "--coord_suffix", "_autopick.star", "--part_star", "Extract/job054/particles.star",
        "--part_dir", "Extract/job054/", "--extract", "--extract_size", "64", "--norm", "--bg_radius", "25",
    )  # fmt: skip
    inputs = [project.refined, "Extract/job053/particles.star", "Extract/job054/particles.star"]
    summary = remove_duplicate_particles(inputs, "Dedup/job055", options)
    own = ["run_data", "job053-particles", "job054-particles"]
    assert summary.to_json()["outputs"]["kept"] == [f"Dedup/job055/particles_kept_{name}.star" for name in own]
    assert summary.kept == len(project.refined_rows) + 9 and summary.rejected == 6
    for k, path in enumerate(summary.to_json()["outputs"]["kept"] + summary.to_json()["outputs"]["rejected"]):
        if rows(path):
            star_handler_keeps_every_row(path, f"Select/job06{k}/particles.star")
