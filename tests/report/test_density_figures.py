"""Duplicate density through the particle job: the summary, --json, the picture and the worst micrograph.

A picker that stacks picks on each particle of a few micrographs (topaz issue 266) among
micrographs with a few duplicates each. The duplicates per micrograph are counted here by
brute force (every pair of picks compared), and the outlier rule is applied here from the
README's words, with the statistics module; both are compared with what the job says and draws.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest

from cryodedup import ParticleOptions
from cryodedup.jobs.particles.job import run
from cryodedup.jobs.particles.plan import plan
from cryodedup.jobs.particles.read import Files
from cryodedup.report.summary import report_rows
from fixtures.pictures import capture_pictures
from fixtures.synthetic import specimen_field, write_mrc
from helpers import write_star

PSIZE, SIDE, MIN_DIST = 2.0, 400, 50.0  # Å per pixel, micrograph pixels, Å
STACKING = (3, 8)  # the micrographs the picker stacked picks on


@pytest.fixture(scope="module")
def stacked(tmp_path_factory):
    """12 micrographs of 25 particles 150 Å apart; 3 and 8: every particle picked 3 or 4 times."""
    root = tmp_path_factory.mktemp("stacked")
    (root / "Micrographs").mkdir()
    rng = np.random.default_rng(4)
    rows = []
    for m in range(12):
        name = f"Micrographs/mic_{m:02d}.mrc"
        write_mrc(root / name, specimen_field(rng, SIDE, SIDE, PSIZE), PSIZE)
        grid = (np.stack(np.meshgrid(np.arange(5), np.arange(5)), -1).reshape(-1, 2) * 75 + 40).astype(float)
        for k, (x, y) in enumerate(grid + rng.uniform(-5, 5, grid.shape)):
            copies = int(rng.integers(3, 5)) if m in STACKING else 1 + (k < m % 4)  # 0-3 duplicates elsewhere
            for _ in range(copies):
                dx, dy = rng.uniform(-4, 4, 2)  # within 8 px (16 Å) of each other
                rows.append([f"{x + dx:.2f}", f"{y + dy:.2f}", name, f"{rng.random():.4f}", 1])
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnAutopickFigureOfMerit", "rlnOpticsGroup"]
    path = write_star(root / "picks.star", labels, rows, optics=[[1, "opticsGroup1", PSIZE, PSIZE]])
    return path, rows


def brute_force_duplicates(rows):
    """Per micrograph name: (picks, duplicates), a duplicate being every pick of a cluster but one.

    Clusters: picks joined when within MIN_DIST (every pair compared); the particles lie 150 Å
    apart and the copies of one within 16 Å, so each cluster keeps exactly one pick.
    """
    out = {}
    for name in sorted({r[2] for r in rows}):
        xy = np.array([[float(r[0]), float(r[1])] for r in rows if r[2] == name]) * PSIZE
        label = list(range(len(xy)))
        for i in range(len(xy)):
            for j in range(i):
                if np.hypot(*(xy[i] - xy[j])) <= MIN_DIST:
                    old, new = label[i], label[j]
                    label = [new if v == old else v for v in label]
        out[name] = (len(xy), len(xy) - len(set(label)))
    return out


def expected_outliers(counts):
    """The README's rule, from the counts: above median + max(3.5 x 1.4826 x MAD, 0.10), 5 duplicates or more."""
    fractions = {name: d / n for name, (n, d) in counts.items()}
    median = statistics.median(fractions.values())
    mad = statistics.median(abs(f - median) for f in fractions.values())
    threshold = median + max(3.5 * 1.4826 * mad, 0.10)
    found = [n for n, f in fractions.items() if f > threshold and counts[n][1] >= 5]
    return sorted(found, key=lambda n: (-fractions[n], -counts[n][1], n)), threshold


@pytest.mark.parametrize("plot_mics", [3, 0], ids=["among-the-examples", "drawn-apart"])
def test_the_stacking_micrographs_are_named_counted_and_drawn(stacked, tmp_path, plot_mics, monkeypatch):
    path, rows = stacked
    counts = brute_force_duplicates(rows)
    names, threshold = expected_outliers(counts)
    assert names and {n[-6:-4] for n in names} == {f"{m:02d}" for m in STACKING}  # the set shows what it means to
    job_pictures = capture_pictures(monkeypatch)
    options = ParticleOptions(min_dist=MIN_DIST, plot=True, plot_mics=plot_mics)
    typed = run(Files.of([path]), tmp_path / "out", plan(options)).summary
    s = typed.to_json()
    json.dumps(s, allow_nan=False)
    density = s["duplicate_density"]
    assert density["threshold"] == pytest.approx(threshold, abs=1e-4)
    assert [e["micrograph"] for e in density["outliers"]] == names
    for e in density["outliers"]:
        assert (e["picks"], e["duplicates"]) == counts[e["micrograph"]]
    # The summary names them and says how; the report colours the row as a warning.
    rows_, highlight = report_rows(typed.overview(), typed.sections())
    text = dict(rows_)["Duplicate outliers"]
    assert text.startswith(f"{len(names)} of 12 micrographs with a duplicate fraction above {threshold:.2f}")
    assert all(f"mic_{n[-6:-4]}.mrc: " in text for n in names) and highlight["Duplicate outliers"] == "warn"
    # The picture: every micrograph's fraction (x: its place in the input), the outliers red.
    pictures = {name: picture for name, _, picture in job_pictures}
    (panel, bars) = pictures["duplicate_fraction.png"].panels
    order = sorted(counts)  # the input lists the micrographs in this order
    drawn = {order[int(x)]: f for x, f in panel.marks["fractions"]}
    assert drawn == pytest.approx({n: d / p for n, (p, d) in counts.items()})
    assert [order[int(x)] for x, _ in panel.marks["outliers"]] == sorted(names)
    assert panel.marks["threshold"] == pytest.approx(threshold, abs=1e-4)
    assert bars.marks["worst"] == pytest.approx([counts[n][1] / counts[n][0] for n in names])
    # The worst micrograph's picks, drawn over its image: its rejected picks are its duplicates.
    # It has the most rejections: the first example, else a picture of its own.
    caption = "highest outlying duplicate fraction, " + names[0]
    ((file_name, worst),) = [(f, p) for f, c, p in job_pictures if caption in c]
    assert file_name == ("example_micrograph_1.png" if plot_mics else "duplicate_outlier.png")
    assert worst.title.startswith(names[0]) and "image not found" not in worst.title
    kept, rejected = worst.panels
    assert len(kept.marks["kept"]) + len(rejected.marks["rejected"]) == counts[names[0]][0]
    assert len(rejected.marks["rejected"]) == counts[names[0]][1]
    report = (tmp_path / "out" / "report.html").read_text()
    assert caption in report and report.count(caption) == 1


def test_no_outlier_no_row_and_no_worst_picture(stacked, tmp_path):
    # Without the stacking micrographs' picks nothing stands out: the JSON says so, the table is silent.
    path, rows = stacked
    plain = [r for r in rows if int(r[2][-6:-4]) not in STACKING]
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnAutopickFigureOfMerit", "rlnOpticsGroup"]
    write_star(path.parent / "plain.star", labels, plain, optics=[[1, "opticsGroup1", PSIZE, PSIZE]])
    typed = run(
        Files.of([path.parent / "plain.star"]), tmp_path / "out", plan(ParticleOptions(min_dist=MIN_DIST))
    ).summary
    s = typed.to_json()
    assert s["duplicate_density"]["outliers"] == [] and s["duplicate_density"]["micrographs_with_picks"] == 10
    assert "Duplicate outliers" not in dict(report_rows(typed.overview(), typed.sections())[0])


@pytest.fixture(scope="module")
def two_pickers(tmp_path_factory):
    """24 micrographs of 25 particles 150 Å apart; a template picker on all of them, LoG on the first 5.

    LoG picks 15 of the 25 particles of its 5 micrographs (the merge's cross-picker duplicates:
    15 of 40-odd picks there); the template picker picks each particle once (the first one twice on
    every other micrograph), and stacks 3 or 4 picks on each particle of micrographs 10 and 17.
    """
    root = tmp_path_factory.mktemp("two_pickers")
    rng = np.random.default_rng(7)
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnAutopickFigureOfMerit", "rlnOpticsGroup"]
    rows: dict[str, list] = {"template": [], "log": []}
    grid = (np.stack(np.meshgrid(np.arange(5), np.arange(5)), -1).reshape(-1, 2) * 75 + 40).astype(float)
    for m in range(24):
        name = f"Micrographs/mic_{m:02d}.mrc"
        for k, (x, y) in enumerate(grid + rng.uniform(-5, 5, grid.shape)):
            copies = int(rng.integers(3, 5)) if m in (10, 17) else 1 + (k < m % 2)
            for picker, n in (("template", copies), ("log", int(m < 5 and k < 15))):
                for _ in range(n):
                    dx, dy = rng.uniform(-4, 4, 2)
                    rows[picker].append([f"{x + dx:.2f}", f"{y + dy:.2f}", name, f"{rng.random():.4f}", 1])
    optics = [[1, "opticsGroup1", PSIZE, PSIZE]]
    paths = [write_star(root / f"{p}.star", labels, rows[p], optics=optics) for p in ("log", "template")]
    return paths, rows


def test_two_pickers_on_different_micrographs_are_no_outliers_but_a_stacking_one_is(two_pickers, tmp_path, monkeypatch):
    # The oracle: the README's rule applied within each set of micrographs picked by the same inputs
    # (the 5 both picked, the 19 of the template picker alone), duplicates counted by brute force.
    paths, rows = two_pickers
    both = rows["log"] + rows["template"]
    counts = brute_force_duplicates(both)
    log_mics = {r[2] for r in rows["log"]}
    expected = []
    for cohort in (log_mics, set(counts) - log_mics):
        names, _ = expected_outliers({n: counts[n] for n in cohort})
        expected += names
    assert sorted(expected) == ["Micrographs/mic_10.mrc", "Micrographs/mic_17.mrc"]
    # All 24 compared together, the 5 merged micrographs would stand out (the false alarm).
    assert set(expected_outliers(counts)[0]) >= log_mics
    job_pictures = capture_pictures(monkeypatch)
    typed = run(Files.of(paths), tmp_path / "out", plan(ParticleOptions(min_dist=MIN_DIST, plot=True))).summary
    s = typed.to_json()
    density = s["duplicate_density"]
    assert sorted(e["micrograph"] for e in density["outliers"]) == sorted(expected)
    # The picture: the same two red, each micrograph's dash at the threshold of its set of inputs.
    (panel, _) = {name: picture for name, _, picture in job_pictures}["duplicate_fraction.png"].panels
    assert panel.marks["outliers"][:, 0].tolist() == [10, 17]
    thresholds = dict(panel.marks["thresholds"].tolist())
    assert thresholds[0] == thresholds[4] != thresholds[5] == thresholds[23]
    assert [([Path(f).name for f in c["inputs"]], c["micrographs"]) for c in density["cohorts"]] == [
        (["template.star"], 19),
        (["log.star", "template.star"], 5),
    ]
    text = dict(report_rows(typed.overview(), typed.sections())[0])["Duplicate outliers"]
    assert text.startswith("2 of 24 micrographs with a duplicate fraction far above that of the micrographs with")
    assert "mic_00" not in text


def test_two_pickers_on_the_same_micrographs_keep_one_threshold(stacked, tmp_path):
    # Two inputs that picked every micrograph: one set of inputs, the JSON and the row as with one input.
    path, rows = stacked
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnAutopickFigureOfMerit", "rlnOpticsGroup"]
    other = write_star(path.parent / "other.star", labels, rows[::7], optics=[[1, "opticsGroup1", PSIZE, PSIZE]])
    typed = run(Files.of([path, other]), tmp_path / "out", plan(ParticleOptions(min_dist=MIN_DIST))).summary
    s = typed.to_json()
    density = s["duplicate_density"]
    assert "cohorts" not in density and all("threshold" not in e for e in density["outliers"])
    assert {e["micrograph"][-6:-4] for e in density["outliers"]} == {f"{m:02d}" for m in STACKING}


def _fraction_panel(path: Path, tmp_path: Path, monkeypatch):
    """The duplicate fraction picture of the job on ``path``, and its fractions' panel."""
    job_pictures = capture_pictures(monkeypatch)
    run(Files.of([path]), tmp_path / "out", plan(ParticleOptions(min_dist=MIN_DIST, plot=True, plot_mics=0)))
    picture = {name: picture for name, _, picture in job_pictures}["duplicate_fraction.png"]
    return picture, picture.panels[0]


def test_a_few_micrographs_are_named_under_their_place(stacked, tmp_path, monkeypatch):
    # The oracle: the micrographs' file names (all in one folder: the end that tells them apart),
    # in the input's order, as the worst outliers' bars beside name them.
    path, rows = stacked
    order = list(dict.fromkeys(r[2] for r in rows))
    picture, panel = _fraction_panel(path, tmp_path, monkeypatch)
    assert panel.xtick_labels == [Path(n).name for n in order] and panel.xticks.tolist() == list(range(12))
    # Written under the axis, turned (12 names do not fit side by side): ink down the first tick's
    # column for as long as its name, and the picture taller by as much.
    pixels = picture.pixels()
    x, bottom = round(float(panel.x(0))), round(panel.box[3])
    column = np.flatnonzero(pixels[bottom + 8 :, x - 4 : x + 5].min(axis=(1, 2)) < 128)
    assert 50 < column.max() - column.min() < 80  # "mic_00.mrc" turned; a number's row is 14 px
    assert pixels.shape[0] > 530 + 40


def test_many_micrographs_are_numbered(tmp_path, monkeypatch):
    # 31 micrographs, two picks each: too many to name; their places are numbered, as before.
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnAutopickFigureOfMerit", "rlnOpticsGroup"]
    rows = [[x, 100.0, f"Micrographs/mic_{m:02d}.mrc", 0.5, 1] for m in range(31) for x in (100.0, 110.0)]
    path = write_star(tmp_path / "many.star", labels, rows, optics=[[1, "opticsGroup1", PSIZE, PSIZE]])
    picture, panel = _fraction_panel(path, tmp_path, monkeypatch)
    assert panel.xtick_labels == [f"{t:g}" for t in panel.xticks] and len(panel.xticks) < 31
    assert picture.pixels().shape[0] == 530
