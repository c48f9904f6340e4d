"""The real files in ../shared/data/star (skipped when the folder is absent)."""

from __future__ import annotations

import numpy as np
import pytest
import starfile

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from helpers import shared_file
from oracle import oracle_by_group

pytestmark = pytest.mark.real_data


def run(tmp_path, name, **options):
    return remove_duplicate_particles([shared_file(f"star/{name}")], tmp_path / "out", ParticleOptions(**options))


def rows(path):
    lines = path.read_text().splitlines()
    last_label = max(i for i, line in enumerate(lines) if line.startswith("_"))
    return [line for line in lines[last_label + 1 :] if line.strip()]


@pytest.mark.real_data
def test_relion31_exact_duplicate_is_found(tmp_path):
    # Rows 1 and 2 share coordinates and micrograph: a real exact duplicate.
    summary = run(tmp_path, "cryodrgn__relion31.star", min_dist=0.0, shift_key="none")
    assert (summary.particles, summary.rejected) == (5, 1)
    assert summary.to_json()["score"]["column"] == "rlnMaxValueProbDistribution"
    source = rows(shared_file("star/cryodrgn__relion31.star"))
    kept, rejected = rows(tmp_path / "out/particles_kept.star"), rows(tmp_path / "out/particles_rejected.star")
    assert sorted(kept + rejected) == sorted(source) and rejected[0] in source[:2]
    assert summary.to_json()["pixel_sizes"][0]["psize"] == 1.403  # not rlnImagePixelSize 2.806


@pytest.mark.real_data
def test_six_optics_groups_report_each_pixel_size(tmp_path):
    summary = run(tmp_path, "cryodrgn__relion31.6opticsgroups.star")
    optics = starfile.read(shared_file("star/cryodrgn__relion31.6opticsgroups.star"))["optics"]
    expected = dict(zip(optics["rlnOpticsGroup"].astype(str), optics["rlnMicrographPixelSize"]))
    assert {p["optics_group"]: p["psize"] for p in summary.to_json()["pixel_sizes"]} == expected
    assert (summary.particles, summary.micrographs, summary.rejected) == (139, 139, 0)


@pytest.mark.real_data
def test_relion5_against_oracle(tmp_path):
    path = shared_file("star/cryodrgn__relion5.star")
    p = starfile.read(path)["particles"]
    psize = 0.89  # rlnMicrographOriginalPixelSize; the file has no rlnMicrographPixelSize
    centres = (
        p[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy() * psize
        - p[["rlnOriginXAngst", "rlnOriginYAngst"]].to_numpy()
    )
    groups = np.unique(p["rlnMicrographName"], return_inverse=True)[1]
    for d in (50.0, 200.0, 400.0):
        summary = run(tmp_path, "cryodrgn__relion5.star", min_dist=d)
        expected = oracle_by_group(groups, centres, p["rlnAutopickFigureOfMerit"].to_numpy(), d)
        assert summary.kept == expected.sum()
        assert rows(tmp_path / "out/particles_kept.star") == [r for r, k in zip(rows(path), expected) if k]
        (tmp_path / "out/particles_kept.star").unlink()
        (tmp_path / "out/particles_rejected.star").unlink()


def test_relion30_needs_micrograph_pixel_size(tmp_path):
    name = "cryodrgn__FinalRefinement-OriginalParticles-PfCRT.star"
    with pytest.raises(CryodedupError, match="RELION 3.0 file .*--mic-psize"):
        run(tmp_path, name, score="none")
    summary = run(tmp_path, name, score="none", mic_psize=1.035)
    assert summary.to_json()["shift"] == "rlnOriginX, rlnOriginY" and summary.particles == 5


def test_file_without_coordinates_is_refused(tmp_path):
    with pytest.raises(CryodedupError, match="no rlnCoordinateX or rlnCoordinateY column"):
        run(tmp_path, "cryodrgn__empiar_10076_7.star")


@pytest.mark.real_data
def test_scipion_file_against_oracle(tmp_path):
    path = shared_file("star/3dem__particles_1k_scipion.star")
    summary = run(
        tmp_path, "3dem__particles_1k_scipion.star", min_dist=150.0, score="rlnCtfFigureOfMerit", score_order="max"
    )
    p = starfile.read(path)["particles"]
    centres = p[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(float) * 1.0  # rlnMicrographOriginalPixelSize
    groups = np.unique(p["rlnMicrographName"], return_inverse=True)[1]
    expected = oracle_by_group(groups, centres, p["rlnCtfFigureOfMerit"].to_numpy(), 150.0)
    assert (summary.particles, summary.micrographs) == (1000, 22)
    assert summary.kept == expected.sum() and summary.rejected > 0
    assert rows(tmp_path / "out/particles_rejected.star") == [r for r, k in zip(rows(path), expected) if not k]


def test_the_scipion_file_s_pixel_size_caveat_is_said_once(tmp_path):
    # A new user's trial: the Scipion file's micrograph pixel size (rlnMicrographOriginalPixelSize, no
    # rlnMicrographPixelSize) was said to hold only without binning twice: in the warning ("only right if
    # the movies were not binned in motion correction") and in the summary's row ("assumes no binning at
    # motion correction"). The warning says it; the row names the source alone.
    from click.testing import CliRunner

    from cryodedup.cli import main

    path = shared_file("star/3dem__particles_1k_scipion.star")
    done = CliRunner().invoke(main, ["particles", str(path), "-o", str(tmp_path / "out")], terminal_width=200)
    assert done.exit_code == 0, done.output
    assert done.output.count("binn") == 1, done.output
    assert "only right if the movies were not binned in motion correction" in done.output
    assert "1 Å from rlnMicrographOriginalPixelSize" in done.output
