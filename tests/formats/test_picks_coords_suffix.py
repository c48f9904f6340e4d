"""The RELION 3.x coordinate output of picker inputs that are RELION 3.x jobs.

RELION 3.1 Extract is given a ``coords_suffix_X.star``; its pipeline turns that into
``--coord_dir`` (the file's folder) and ``--coord_suffix`` (``_X.star``), and for micrograph
M reads ``coord_dir`` + M after its first ``jobNNN/`` folder, without extension, + suffix
(``Preprocessing::getCoordinateFileName`` and ``decomposePipelineFileName``, RELION 3.1.3).
That rule is written again here, from RELION's source, as the oracle; when RELION 3.1's
``relion_preprocess`` is installed it extracts the particles from the output itself.
"""

from __future__ import annotations

import shutil
import subprocess

import mrcfile
import numpy as np
import pytest
import starfile

from cryodedup import ParticleOptions, remove_duplicate_particles
from fixtures.autopick_jobs import LOG_LABELS, PSIZE, tutorial_like, write_cryolo_folder


def relion31_coordinate_file(coord_dir: str, micrograph: str, suffix: str) -> str:
    """``Preprocessing::getCoordinateFileName`` of RELION 3.1.3, character by character."""
    slash = 0
    post = micrograph
    while True:
        slash = micrograph.find("/", slash + 1)
        if slash < 0:
            break
        after = micrograph[slash + 1 : slash + 7]
        if after[:3] == "job" and after[3:6].isdigit() and len(after) == 6:
            second = micrograph.find("/", slash + 6)
            post = micrograph[second + 1 :] if second >= 0 else ""
            break
    dot = post.rfind(".")
    return coord_dir + (post[:dot] if dot >= 0 else post) + suffix


def read_rows(path) -> int:
    table = starfile.read(path)
    return 0 if isinstance(table, dict) else len(table)


def test_relion3_jobs_get_a_coords_suffix_file_where_relion31_extract_looks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _jobs, picks = tutorial_like(tmp_path, np.random.default_rng(5))
    summary = remove_duplicate_particles(
        ["AutoPick/job006", "AutoPick/job011"], "Dedup/job050", ParticleOptions(min_dist=40.0, score_normalize="rank")
    )
    assert "Dedup/job050/kept/coords_suffix_autopick.star" in summary.to_json()["outputs"]["kept"]
    for subset in ("kept", "rejected"):
        suffix_file = tmp_path / f"Dedup/job050/{subset}/coords_suffix_autopick.star"
        # LoG ran on the 5 micrographs of Select/job005: only CtfFind's STAR lists all 24.
        assert suffix_file.read_text() == "CtfFind/job003/micrographs_ctf.star\n"
    coord_dir, suffix = "Dedup/job050/kept/", "_autopick.star"  # as RELION 3.1's pipeline derives them
    total = 0
    for name in picks["job011"]:
        path = relion31_coordinate_file(coord_dir, name, suffix)
        total += read_rows(path)
    assert total == summary.kept


def test_no_coords_suffix_file_without_a_star_listing_every_micrograph(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tutorial_like(tmp_path, np.random.default_rng(5))
    summary = remove_duplicate_particles(["AutoPick/job006"], "Dedup", ParticleOptions(min_dist=40.0))
    assert (tmp_path / "Dedup/kept/coords_suffix_autopick.star").read_text() == (
        "Select/job005/micrographs_selected.star\n"
    )
    # crYOLO also ran on mic_001, which the Select job's STAR does not list.
    write_cryolo_folder(tmp_path / "cryolo", {"mic_001": [(500.0, 500.0, 0.9)]})
    summary = remove_duplicate_particles(
        ["AutoPick/job006", "cryolo"], "Dedup2", ParticleOptions(min_dist=40.0, mic_psize=PSIZE)
    )
    assert any("no RELION 3.x coords_suffix file is written" in w for w in summary.warnings)
    assert not (tmp_path / "Dedup2/kept/coords_suffix_autopick.star").exists()


@pytest.mark.skipif(shutil.which("relion_preprocess") is None, reason="RELION 3.1 (relion_preprocess) not installed")
def test_relion31_extract_reads_the_output(tmp_path, monkeypatch):
    """RELION 3.1's own Extract (relion_preprocess) on the 3.x output: one particle per kept pick."""
    monkeypatch.chdir(tmp_path)
    _jobs, picks = tutorial_like(tmp_path, np.random.default_rng(5), n_mics=6, n_log=2)
    for name in picks["job011"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        with mrcfile.new(tmp_path / name) as mrc:
            mrc.set_data(np.random.default_rng(0).normal(size=(3100, 3100)).astype(np.float32))
            mrc.voxel_size = PSIZE
    summary = remove_duplicate_particles(
        ["AutoPick/job006", "AutoPick/job011"], "Dedup/job050", ParticleOptions(min_dist=40.0, score_normalize="rank")
    )
    suffix_file = "Dedup/job050/kept/coords_suffix_autopick.star"
    micrographs = (tmp_path / suffix_file).read_text().strip()
    command = ["relion_preprocess", "--i", micrographs, "--coord_dir", "Dedup/job050/kept/"]
    command += ["--coord_suffix", "_autopick.star", "--part_star", "Extract/job051/particles.star"]
    command += ["--part_dir", "Extract/job051/", "--extract", "--extract_size", "32", "--norm", "--bg_radius", "10"]
    run = subprocess.run(command, check=False, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    particles = starfile.read("Extract/job051/particles.star")["particles"]
    assert len(particles) == summary.kept
    per_mic = particles.groupby("rlnMicrographName").size().to_dict()
    for name in picks["job011"]:
        expected = read_rows(relion31_coordinate_file("Dedup/job050/kept/", name, "_autopick.star"))
        assert per_mic.get(name, 0) == expected


def labelled_rows(path) -> tuple[list[str], list[dict[str, str]]]:
    """A coordinate file's labels and each row's field texts by label (the oracle's own reading)."""
    labels, rows = [], []
    for line in path.read_text().splitlines():
        words = line.split()
        if words and words[0].startswith("_"):
            labels.append(words[0][1:])
        elif labels and len(words) == len(labels):
            rows.append(dict(zip(labels, words)))
    return labels, rows


def test_log_and_template_jobs_keep_all_their_columns(tmp_path, monkeypatch):
    """RELION 3.1's LoG and template pickers write the same columns in other orders: none is lost."""
    monkeypatch.chdir(tmp_path)
    tutorial_like(tmp_path, np.random.default_rng(5))
    summary = remove_duplicate_particles(
        ["AutoPick/job006", "AutoPick/job011"], "Dedup", ParticleOptions(min_dist=40.0, score_normalize="rank")
    )
    assert not [w for w in summary.warnings if "not written" in w]
    inputs = {}
    for job in ("job006", "job011"):
        for path in sorted((tmp_path / "AutoPick" / job / "Movies").glob("*_autopick.star")):
            for row in labelled_rows(path)[1]:
                inputs[(path.name, row["rlnCoordinateX"], row["rlnCoordinateY"])] = row
    written = 0
    for subset in ("kept", "rejected"):
        for path in sorted((tmp_path / "Dedup" / subset / "Movies").glob("*_autopick.star")):
            labels, rows = labelled_rows(path)
            assert labels == list(LOG_LABELS)  # the first input's order
            for row in rows:
                assert row == inputs[(path.name, row["rlnCoordinateX"], row["rlnCoordinateY"])]
            written += len(rows)
    assert written == len(inputs) == summary.particles
