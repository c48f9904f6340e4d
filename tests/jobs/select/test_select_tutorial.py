"""``cryodedup select`` on the RELION 3.1 tutorial's own particle files, each against an oracle of this test's own.

The files are the beta-galactosidase tutorial's outputs (dials/data-files
``relion_tutorial/relion_tutorial_files.tar.xz``), extracted into a folder named by
``CRYODEDUP_RELION_TUTORIAL`` or ``../shared/data/relion31-tutorial``; the tests skip without it.
The oracle reads the STAR files with the ``starfile`` package, computes each centre as
coordinate x 0.885 Å (the micrographs' pixel, the optics table's rlnMicrographOriginalPixelSize)
minus the origin in Å, and pairs rows with scipy (a k-d tree, ``linear_sum_assignment``).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import starfile
from click.testing import CliRunner
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from cryodedup.cli import main
from helpers import SHARED_DATA

MIC_PSIZE = 0.885
SELECT, REFINE = "Select/job017/particles.star", "Refine3D/job029/run_data.star"


@pytest.fixture(scope="module")
def tutorial() -> Path:
    root = Path(os.environ.get("CRYODEDUP_RELION_TUTORIAL", SHARED_DATA / "relion31-tutorial"))
    if not (root / SELECT).is_file():
        pytest.skip(f"the RELION 3.1 tutorial's files are not in {root} (CRYODEDUP_RELION_TUTORIAL names them)")
    return root


def _particles(path: Path):
    return starfile.read(path)["particles"]


def _centres(table) -> np.ndarray:
    """Coordinates x the micrographs' pixel minus the origins in Å (an extraction has none: 0)."""
    origin = [table.get(f"rlnOrigin{axis}Angst", 0.0) for axis in "XY"]
    return np.stack([table[f"rlnCoordinate{axis}"] * MIC_PSIZE - o for axis, o in zip("XY", origin)], axis=1)


def _row_lines(path: Path) -> list[str]:
    """The particle rows of a RELION 3.1 STAR file as written: the lines after data_particles' last label."""
    lines = path.read_text().splitlines()
    start = lines.index("data_particles")
    last = max(k for k in range(start, len(lines)) if lines[k].startswith("_rln"))
    return [line for line in lines[last + 1 :] if line.strip()]


def _nearest(original, subset, rows) -> np.ndarray:
    """Each of ``subset``'s ``rows``' original row: the nearest centre on its micrograph, checked far from any other."""
    found = np.full(len(rows), -1)
    centres, theirs = _centres(original), _centres(subset)
    for mic in set(subset["rlnMicrographName"].iloc[rows]):
        mine = np.flatnonzero(original["rlnMicrographName"] == mic)
        at = np.flatnonzero(subset["rlnMicrographName"].iloc[rows].to_numpy() == mic)
        distance, which = cKDTree(centres[mine]).query(theirs[rows[at]], k=2)
        assert (distance[:, 0] < 12).all() and (distance[:, 1] > 50).all()  # (one candidate each: an oracle)
        found[at] = mine[which[:, 0]]
    return found


def _select(tutorial, out, *args):
    result = CliRunner().invoke(main, ["select", str(tutorial / SELECT), "-o", str(out), "--json", "-q", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_an_ind_pkl_of_the_refinements_rows_maps_back_to_the_selected_extraction(tutorial, tmp_path):
    # Refine3D/job029: re-extracted, recentred, polished (other image names), 1.244 Å against 3.54 Å particles.
    original, refined = _particles(tutorial / SELECT), _particles(tutorial / REFINE)
    ind = np.random.default_rng(29).choice(len(refined), 1000, replace=False)  # (in no order, as cryoDRGN's)
    (tmp_path / "ind.pkl").write_bytes(pickle.dumps(ind))
    document = _select(
        tutorial, tmp_path / "out", "--subset", str(tmp_path / "ind.pkl"), "--subset-of", str(tutorial / REFINE)
    )
    expected = np.sort(_nearest(original, refined, ind))
    lines = _row_lines(tutorial / SELECT)
    assert document["matched"] == {"none": 0, "position": 1000}
    assert _row_lines(tmp_path / "out/particles_selected.star") == [lines[k] for k in expected]
    assert _row_lines(tmp_path / "out/particles_deselected.star") == [
        line for k, line in enumerate(lines) if k not in set(expected.tolist())
    ]


def test_extractions_of_two_pickers_are_intersected_by_the_largest_one_to_one_matching(tutorial, tmp_path):
    original_path, subset_path = tutorial / "Extract/job012/particles.star", tutorial / "Extract/job007/particles.star"
    result = CliRunner().invoke(
        main,
        ["select", str(original_path), "--subset", str(subset_path), "--min-dist", "50", "--ambiguous",
         "-o", str(tmp_path / "out"), "--json", "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    original, subset = _particles(original_path), _particles(subset_path)
    optimum = 0
    for mic in set(subset["rlnMicrographName"]):
        a = _centres(original[original["rlnMicrographName"] == mic])
        b = _centres(subset[subset["rlnMicrographName"] == mic])
        if not len(a):
            continue
        close = np.linalg.norm(a[:, None] - b[None], axis=2) <= 50
        rows, cols = linear_sum_assignment(-close.astype(float))
        optimum += int(close[rows, cols].sum())
    assert abs(document["selected"] - optimum) <= 0.01 * optimum
    lines = _row_lines(original_path)
    selected = _row_lines(tmp_path / "out/particles_selected.star")
    deselected = _row_lines(tmp_path / "out/particles_deselected.star")
    assert sorted(selected + deselected) == sorted(lines) and len(selected) == document["selected"]
    assert [line for line in lines if line in set(selected)] == selected  # (the original's order)


def test_the_refinements_poses_carried_onto_the_selected_extraction_put_each_centre_on_its_own(tutorial, tmp_path):
    document = _select(tutorial, tmp_path / "out", "--subset", str(tutorial / REFINE), "--take", "angles,shifts")
    assert document["selected"] == 4501 and document["taken"] == ["angles", "shifts"]
    original, refined = _particles(tutorial / SELECT), _particles(tutorial / REFINE)
    written = _particles(tmp_path / "out/particles_selected.star")
    source = _nearest(original, refined, np.arange(len(refined)))
    of_original = np.argsort(source)  # (each original row's refined row: all 4,501 matched one to one)
    assert sorted(source.tolist()) == list(range(len(original)))
    gap = np.linalg.norm(_centres(written) - _centres(refined.iloc[of_original]), axis=1)
    assert gap.max() < 0.05 * MIC_PSIZE  # (0.05 px of the micrograph: the finest pixel of the two)
    for angle in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"):
        assert np.array_equal(written[angle].to_numpy(), refined[angle].to_numpy()[of_original])
    taken = {"rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOriginXAngst", "rlnOriginYAngst"}
    labels = list(original.columns)
    columns = [j for j, label in enumerate(labels) if label not in taken]
    mine = [line.split() for line in _row_lines(tutorial / SELECT)]
    theirs = [line.split() for line in _row_lines(tmp_path / "out/particles_selected.star")]
    assert [[row[j] for j in columns] for row in theirs] == [[row[j] for j in columns] for row in mine]
