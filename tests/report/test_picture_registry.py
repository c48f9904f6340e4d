"""The particle job's pictures: a picture declared in one entry of the registry is drawn and shown in the report."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import PIL.Image
import pytest
import starfile
from click.testing import CliRunner

from cryodedup.cli import main
from cryodedup.jobs.particles import pictures as particle_figures
from cryodedup.jobs.particles.pictures import PARTICLE_PICTURES, ParticlePicture
from cryodedup.report.particle_base import headroom, labelled_plot
from fixtures.synthetic import write_benchmark_file


def _kept_per_micrograph(details):
    """A toy picture: each micrograph's kept particles, as steps."""
    kept = details.picks_per_micrograph - details.rejected_per_micrograph
    picture, panel = labelled_plot("Kept per micrograph", "micrograph", "kept", (0, len(kept)), headroom(kept))
    panel.steps("kept", kept, np.arange(len(kept) + 1), "#000000")
    panel.frame()
    _kept_per_micrograph.drawn = (list(details.mic_names), picture)
    return picture


@pytest.fixture
def toy_picture():
    toy = ParticlePicture(
        "kept_per_{unit}.png",
        "Kept per {unit} (toy)",
        lambda figures: _kept_per_micrograph(figures.details),
        lambda figures: len(figures.details.mic_names) > 1,
    )
    PARTICLE_PICTURES.append(toy)
    yield toy
    PARTICLE_PICTURES.remove(toy)


def test_a_new_picture_is_drawn_and_shown_in_the_report(toy_picture, tmp_path):
    path = tmp_path / "p.star"
    write_benchmark_file(path, 1200, per_mic=300, seed=5)
    out = tmp_path / "out"
    args = ["particles", str(path), "--min-dist", "20", "--plot", "--plot-mics", "1", "-o", str(out), "--json"]
    result = CliRunner().invoke(main, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    png = out / "kept_per_micrograph.png"
    assert png.is_file() and PIL.Image.open(png).size[0] > 100
    report = (out / "report.html").read_text()
    assert "Kept per micrograph (toy)" in report
    # What it drew, against the kept particles counted from the output file.
    names, picture = _kept_per_micrograph.drawn
    drawn, _ = picture.panels[0].marks["kept"]
    kept = Counter(starfile.read(out / "particles_kept.star")["particles"]["rlnMicrographName"])
    assert dict(zip(names, drawn.tolist())) == {name: kept.get(name, 0) for name in names}
    # The summary lists it with the other pictures.
    summary = json.loads(result.output)
    assert "kept_per_micrograph.png" in json.dumps(summary)


def test_a_picture_not_drawn_for_the_job_is_left_out(tmp_path):
    toy = ParticlePicture("never.png", "Never", lambda figures: None, lambda figures: False)  # type: ignore[arg-type]
    PARTICLE_PICTURES.append(toy)
    try:
        path = tmp_path / "p.star"
        write_benchmark_file(path, 600, per_mic=300, seed=2)
        result = CliRunner().invoke(main, ["particles", str(path), "--plot", "-o", str(tmp_path / "out"), "--quiet"])
        assert result.exit_code == 0, result.output
        assert not (tmp_path / "out" / "never.png").exists()
    finally:
        PARTICLE_PICTURES.remove(toy)


def test_the_registry_holds_the_pictures_in_the_reports_order():
    # Invariants, whatever pictures it holds: one file name each, a PNG, a caption; and the
    # pictures other tests draw keep their order in the report (a new one may stand anywhere).
    names = [picture.name for picture in particle_figures.PARTICLE_PICTURES]
    assert len(set(names)) == len(names)
    assert all(name.endswith(".png") and picture.caption for name, picture in zip(names, PARTICLE_PICTURES))
    known = ["nn_distances.png", "rejected_per_micrograph.png", "duplicate_fraction.png", "scores.png", "consensus.png"]
    assert [name for name in names if name in known] == known
