"""The napari plugin's widget, headless (QT_QPA_PLATFORM=offscreen, napari's make_napari_viewer): a run opened,
two picks marked, overrides.csv saved naming exactly those two as the input STAR files and decisions.csv do.
Skipped where napari is not installed; CI installs it (``.ci/run``'s napari stage) and sets
CRYODEDUP_REQUIRE_NAPARI=1, which turns the skip into a failure. napari's canvas needs OpenGL: on a machine
without a screen, run it under Xvfb (``QT_QPA_PLATFORM=offscreen xvfb-run -a python -m pytest
tests/napari_plugin``; offscreen Qt alone has no OpenGL context, and napari's image layer fails to start)."""

from __future__ import annotations

import csv
import importlib
import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _imported(name: str, reason: str):
    """The module, or the test module skipped; where CI requires napari (CRYODEDUP_REQUIRE_NAPARI=1), its error."""
    if os.environ.get("CRYODEDUP_REQUIRE_NAPARI") == "1":
        return importlib.import_module(name)
    return pytest.importorskip(name, reason=reason)


napari = _imported("napari", "napari is not installed (pip install cryodedup[napari])")
_imported("pytestqt", "pytest-qt is not installed")
starfile = _imported("starfile", "starfile is not installed")

from cryodedup import ParticleOptions, remove_duplicate_particles  # noqa: E402
from cryodedup.napari_plugin.widget import CorrectionsWidget  # noqa: E402
from report.test_micrograph_page_corrections import named_project  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("napari_run")
    inputs = named_project(root, n_mics=3)
    options = ParticleOptions(min_dist=15, score="rlnAutopickFigureOfMerit", plot=True, decisions=True)
    remove_duplicate_particles(inputs, root / "out", options)
    return root / "out", inputs


def _opened(make_napari_viewer, outdir):
    """A viewer with the plugin docked (napari's fixture fails a lone widget), the run's first micrograph shown."""
    viewer = make_napari_viewer()
    widget = CorrectionsWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.open_run(outdir)
    widget.show_micrograph(1)
    return viewer, widget


def test_two_picks_marked_are_the_two_lines_saved(make_napari_viewer, run, tmp_path):
    outdir, inputs = run
    viewer, widget = _opened(make_napari_viewer, outdir)
    names = [layer.name for layer in viewer.layers]
    assert names[:5] == ["image", "partners", "kept", "rejected", "corrected"]
    kept, rejected = viewer.layers["kept"], viewer.layers["rejected"]
    assert len(kept.data) + len(rejected.data) == len(widget.picks.rows)
    # The first rejected pick with a partner: selected with its partner, then kept; the first kept pick rejected.
    lost = int(next(k for k in rejected.features["pick"] if widget.picks.partners[k] >= 0))
    rejected.selected_data = {int(np.flatnonzero(rejected.features["pick"].to_numpy() == lost)[0])}
    widget.select_partners()
    assert list(kept.features["pick"][sorted(kept.selected_data)]) == [widget.picks.partners[lost]]
    kept.selected_data = set()
    widget.mark("keep")
    dropped = int(viewer.layers["kept"].features["pick"][0])
    if dropped == lost:
        dropped = int(viewer.layers["kept"].features["pick"][1])
    viewer.layers["kept"].selected_data = {int(np.flatnonzero(viewer.layers["kept"].features["pick"] == dropped)[0])}
    widget.mark("reject")
    assert widget.count.text() == "2 corrections"
    assert len(viewer.layers["corrected"].data) == 2
    assert list(widget.kept_now()[[lost, dropped]]) == [True, False]
    saved = tmp_path / "overrides.csv"
    widget.save(saved)

    with open(saved, newline="") as f:
        lines = list(csv.reader(f))
    assert lines[0] == ["kind", "input", "row", "name", "partner", "action"]
    assert len(lines) == 3
    with open(outdir / "decisions.csv", newline="") as f:
        decisions = {(r["input"], int(r["row"])): r for r in csv.DictReader(f)}
    tables = {str(p): starfile.read(p, always_dict=True)["particles"] for p in inputs}
    at = {}
    for kind, name, row, particle, partner, action in lines[1:]:
        assert (kind, partner) == ("particle", "")
        table = tables[name]
        assert table["rlnImageName"][int(row) - 1] == particle
        assert table["rlnMicrographName"][int(row) - 1] == widget.picks.name
        xy = (round(table["rlnCoordinateX"][int(row) - 1]), round(table["rlnCoordinateY"][int(row) - 1]))
        at[xy] = (action, (name, int(row)) in decisions)
    for k, action, was_rejected in ((lost, "keep", True), (dropped, "reject", False)):
        assert at[tuple(int(v) for v in widget.picks.centres[k])] == (action, was_rejected)

    # Loaded into a new widget, the file shows the same two corrections.
    again = CorrectionsWidget(viewer)
    viewer.window.add_dock_widget(again, name="again")  # (docked: napari's fixture fails a widget left alone)
    again.open_run(outdir)
    again.show_micrograph(1)
    again.load(saved)
    assert again.count.text() == "2 corrections"
    assert list(again.kept_now()[[lost, dropped]]) == [True, False]
    viewer.layers.selection.active = viewer.layers["rejected"]
    viewer.screenshot(str(tmp_path / "napari.png"), canvas_only=False)


def test_a_pair_marked_distinct_keeps_both_its_picks(make_napari_viewer, run, tmp_path):
    # A forced keep rejects what lies within the distance, its partner too: a pair marked distinct writes both.
    outdir, inputs = run
    viewer, widget = _opened(make_napari_viewer, outdir)
    rejected = viewer.layers["rejected"]
    lost = int(next(k for k in rejected.features["pick"] if widget.picks.partners[k] >= 0))
    rejected.selected_data = {int(np.flatnonzero(rejected.features["pick"].to_numpy() == lost)[0])}
    widget.distinct()
    assert widget.count.text() == "2 corrections"
    saved = tmp_path / "overrides.csv"
    widget.save(saved)
    with open(saved, newline="") as f:
        lines = list(csv.reader(f))[1:]
    assert [cells[5] for cells in lines] == ["keep", "keep"]
    tables = {str(p): starfile.read(p, always_dict=True)["particles"] for p in inputs}
    places = set()
    for _, name, row, particle, _, _ in lines:
        table = tables[name]
        assert table["rlnImageName"][int(row) - 1] == particle
        places.add((round(table["rlnCoordinateX"][int(row) - 1]), round(table["rlnCoordinateY"][int(row) - 1])))
    partner = int(widget.picks.partners[lost])
    assert places == {tuple(int(v) for v in widget.picks.centres[k]) for k in (lost, partner)}
