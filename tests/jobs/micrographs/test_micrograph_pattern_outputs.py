"""What a run that removed a common pattern says it read, and what its pictures draw.

The pattern removed, every pair is scored again: the terminal said "Read 20 images" with the
binned bytes of the second scoring alone, and ``--plot`` drew the raw images, the pattern in
them, not the images compared. The oracles: the files' sizes, and the planted pattern's share
of each drawn image measured with numpy against the truth it was written with.
"""

from __future__ import annotations

import json

import mrcfile
import numpy as np
from click.testing import CliRunner
from test_micrograph_pattern import write_session

import cryodedup._core as _core
from cryodedup.cli import main
from cryodedup.report import micrograph_figures


def test_read_counts_every_pass_of_a_run_that_removed_a_pattern(tmp_path):
    (tmp_path / "pattern").mkdir()
    write_session(tmp_path / "pattern", level=0.2)
    files = sorted((tmp_path / "pattern").glob("*.mrc"))
    args = ["micrographs", str(tmp_path / "pattern" / "*.mrc"), "-o", str(tmp_path / "out"), "--json", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert any("pattern common" in w and "Read counts every pass" in w for w in summary["warnings"])
    # The first scoring, the estimate and the second scoring each read every image whole
    # (on main: 20 images, 0.6 MB, the second scoring's binned images).
    assert summary["images_read"] == 3 * len(files)
    megabytes = 3 * sum(mrcfile.read(f).nbytes for f in files) / 1e6
    assert sum(w["megabytes_read"] for w in summary["workers"]) == round(megabytes, 1)


def test_the_pictures_draw_the_images_as_compared_without_the_pattern(tmp_path, monkeypatch):
    (tmp_path / "pattern").mkdir()
    planted = write_session(tmp_path / "pattern", level=0.2)
    drawn: list[tuple[np.ndarray, np.ndarray, str]] = []
    figure = micrograph_figures.pair_figure

    def recorded(a, b, dy, dx, title, binned_psize=None):
        drawn.append((a, b, title))
        return figure(a, b, dy, dx, title, binned_psize)

    monkeypatch.setattr(micrograph_figures, "pair_figure", recorded)
    args = ["micrographs", str(tmp_path / "pattern" / "*.mrc"), "-o", str(tmp_path / "out"), "--plot", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert len(drawn) >= 4
    binning = 160 // drawn[0][0].shape[0]  # (as the screen binned the session)
    pattern = _core.bin_image(planted.astype(np.float32), binning)
    assert all(a.shape == b.shape == pattern.shape for a, b, _ in drawn)

    def share(image: np.ndarray) -> float:
        """The image's correlation with the planted pattern."""
        return float(np.corrcoef(image.ravel(), pattern.ravel())[0, 1])

    raw = [
        share(_core.bin_image(mrcfile.read(f).astype(np.float32), binning)) for f in (tmp_path / "pattern").glob("*")
    ]
    for a, b, title in drawn:
        # (on main: the raw images, as much of the pattern in them as in every file)
        assert max(abs(share(a)), abs(share(b))) < 0.25 * min(np.abs(raw))
        assert "the pattern common to the images removed" in title
