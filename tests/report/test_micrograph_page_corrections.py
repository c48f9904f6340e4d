"""micrographs.html's corrections, in a real browser (headless Chromium driven by Playwright): a click
on a pick flips it, a click on a pair's line keeps its rejected pick, "Save overrides" downloads
overrides.csv naming exactly the picks clicked (checked against the input STAR files and
decisions.csv, read here), and the file loaded again shows them. Skipped where Playwright or
Chromium is absent."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from pathlib import Path

import numpy as np
import pytest

from cryodedup import ParticleOptions, remove_duplicate_particles
from fixtures.synthetic import write_mrc
from helpers import write_star

pytest.importorskip("PIL")
starfile = pytest.importorskip("starfile")

from report import test_micrograph_page as _shared  # noqa: E402
from report.test_micrograph_page import opened  # noqa: E402

HEADER = ["kind", "input", "row", "name", "partner", "action"]


browser = _shared.browser  # (the page tests' headless Chromium, one per module)


def named_project(root: Path, n_mics: int = 8, seed: int = 11) -> list[Path]:
    """Two pickers' STAR files on ``n_mics`` micrographs with images (1 Å/px, 400 x 300 px), each row's image named."""
    rng = np.random.default_rng(seed)
    (root / "mics").mkdir(parents=True)
    labels = [
        "rlnCoordinateX",
        "rlnCoordinateY",
        "rlnMicrographName",
        "rlnOpticsGroup",
        "rlnImageName",
        "rlnAutopickFigureOfMerit",
    ]
    rows: list[list[list]] = [[], []]
    for m in range(n_mics):
        name = f"mics/mic_{m:03d}.mrc"
        write_mrc(root / name, rng.normal(size=(300, 400)), 1.0)
        true = rng.uniform(30, [370, 270], (12, 2))
        for k, picker_rows in enumerate(rows):
            for x, y in true[rng.random(12) < 0.8] + rng.normal(0, 4, (1, 2)):
                image = f"{len(picker_rows) + 1:06d}@Extract/picker{k}/mic_{m:03d}.mrcs"
                picker_rows.append([round(x, 1), round(y, 1), name, 1, image, round(float(rng.random()), 4)])
    return [write_star(root / f"picker_{k}.star", labels, r, optics=[[1, "og1", 1.0, 1.0]]) for k, r in enumerate(rows)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("corrections")
    inputs = named_project(root)
    options = ParticleOptions(min_dist=15, score="rlnAutopickFigureOfMerit", plot=True, decisions=True)
    summary = remove_duplicate_particles(inputs, root / "out", options)
    return root, inputs, summary


def _decisions(outdir: Path) -> dict[tuple[str, int], dict]:
    """decisions.csv's rejected particles by (input, row)."""
    with open(outdir / "decisions.csv", newline="") as f:
        return {(r["input"], int(r["row"])): r for r in csv.DictReader(f)}


def _picks_of(page) -> list[dict]:
    """Every pick of the detail's micrograph, as the page draws it (where, its columns)."""
    page.wait_for_function("window.cryodedupPage.pick(0) !== null")
    count = page.evaluate("window.cryodedupPage.pick(0).count")
    return [page.evaluate(f"window.cryodedupPage.pick({j})") for j in range(count)]


def _open_busiest(page, decisions) -> None:
    """The detail of the micrograph with the most rejected picks (decisions.csv's)."""
    counts: dict[str, int] = {}
    for r in decisions.values():
        counts[r["micrograph"]] = counts.get(r["micrograph"], 0) + 1
    busiest = max(counts, key=lambda m: (counts[m], m))
    page.fill("#search", busiest)
    page.keyboard.press("Enter")
    assert page.inner_text("#panel h2") == busiest


def _isolated(picks: list[dict], point: tuple[float, float], radius: float) -> bool:
    return all(math.hypot(p["x"] - point[0], p["y"] - point[1]) > radius for p in picks)


def _choose(picks: list[dict]) -> tuple[int, int, int]:
    """A rejected pick and a kept pick to click, and a pair whose line's middle lies away from every pick."""
    spaced = [
        j
        for j, p in enumerate(picks)
        if p["rule"] >= 0 and p["partner"] >= 0 and _isolated(picks[:j] + picks[j + 1 :], (p["x"], p["y"]), 12)
    ]
    kept = [
        j for j, p in enumerate(picks) if p["rule"] < 0 and _isolated(picks[:j] + picks[j + 1 :], (p["x"], p["y"]), 12)
    ]
    lines = []
    for j, p in enumerate(picks):
        if p["rule"] < 0 or p["partner"] < 0 or j in spaced[:1]:
            continue
        q = picks[p["partner"]]
        middle = ((p["x"] + q["x"]) / 2, (p["y"] + q["y"]) / 2)
        if _isolated(picks, middle, 12):
            lines.append(j)
    assert spaced and kept and lines, "no pick of the busiest micrograph stands apart enough to click"
    return spaced[0], kept[0], lines[0]


def _input_rows(inputs: list[Path]) -> dict[str, object]:
    """Each input's particles as starfile reads them, by the path the summary names."""
    return {str(path): starfile.read(path, always_dict=True)["particles"] for path in inputs}


def test_clicks_save_exactly_the_picks_clicked(browser, run, tmp_path):
    root, inputs, _ = run
    outdir = root / "out"
    decisions = _decisions(outdir)
    page = opened(browser, outdir / "micrographs.html")
    page.wait_for_timeout(200)
    _open_busiest(page, decisions)
    picks = _picks_of(page)
    rejected, kept, line = _choose(picks)
    page.mouse.click(picks[rejected]["x"], picks[rejected]["y"])
    page.mouse.click(picks[kept]["x"], picks[kept]["y"])
    partner_index = picks[line]["partner"]
    assert partner_index not in (rejected, kept)
    partner = picks[partner_index]
    page.mouse.click((picks[line]["x"] + partner["x"]) / 2, (picks[line]["y"] + partner["y"]) / 2)
    # (the pair distinct: its rejected pick kept, and the pick it lost to kept by a line of its own, which a forced
    # keep of the first alone would reject)
    assert page.inner_text("#corrections") == "4 corrections"
    with page.expect_download() as download:
        page.click("#save")
    assert download.value.suggested_filename == "overrides.csv"
    saved = tmp_path / "overrides.csv"
    download.value.save_as(saved)
    assert page.errors == []
    page.close()

    lines = list(csv.reader(io.StringIO(saved.read_text(), newline="")))
    assert lines[0] == HEADER
    assert len(lines) == 5 and all(cells[0] == "particle" and cells[4] == "" for cells in lines[1:])
    tables = _input_rows(inputs)
    by_place = {}
    for _, name, row, particle, _, action in lines[1:]:
        table = tables[name]
        k = int(row) - 1  # (rows from 1)
        assert table["rlnImageName"][k] == particle  # the row is that particle, as the input names it
        at = (round(table["rlnCoordinateX"][k]), round(table["rlnCoordinateY"][k]))  # (1 Å/px)
        by_place[at] = (name, int(row), particle, action)
    clicked = ((rejected, "keep"), (kept, "reject"), (line, "keep"), (partner_index, "keep"))
    for j, action in clicked:
        x, y = picks[j]["at"]
        name, row, particle, said = by_place[(x, y)]
        assert said == action
        assert name == str(inputs[picks[j]["input"]])
        if action == "keep" and j != partner_index:  # a rejected pick: decisions.csv names it alike
            assert decisions[(name, row)]["particle"] == particle
        else:
            assert (name, row) not in decisions

    # Loaded again, the file shows the four corrections and saves the same rows.
    page = opened(browser, outdir / "micrographs.html")
    page.set_input_files("#load", saved)
    page.wait_for_function("document.querySelector('#corrections').textContent === '4 corrections'")
    assert page.evaluate("window.cryodedupPage.text()") == saved.read_text()
    assert page.errors == []
    page.close()

    if "overrides" not in {f.name for f in dataclasses.fields(ParticleOptions)}:
        pytest.skip("--overrides is not on the particle job yet (issue 100's reader)")
    options = dataclasses.replace(summary_options(), overrides=str(saved))
    remove_duplicate_particles(inputs, root / "again", options)
    again = _decisions(root / "again")
    for j, action in clicked:  # (the pair distinct: both its picks kept)
        x, y = picks[j]["at"]
        name, row, _, _ = by_place[(x, y)]
        assert ((name, row) in again) == (action == "reject")


def summary_options() -> ParticleOptions:
    """The first run's options (as the fixture ran it)."""
    return ParticleOptions(min_dist=15, score="rlnAutopickFigureOfMerit", plot=True, decisions=True)


def test_a_stale_line_is_left_out_and_said(browser, run, tmp_path):
    root, inputs, _ = run
    loaded = tmp_path / "overrides.csv"
    loaded.write_text(
        "kind,input,row,name,partner,action\n"
        f"particle,{inputs[0]},1,not its name,,reject\n"
        "pair,,,mics/mic_000.mrc,mics/mic_001.mrc,distinct\n"
    )
    page = opened(browser, root / "out" / "micrographs.html")
    page.set_input_files("#load", loaded)
    page.wait_for_function("document.querySelector('#corrections').textContent.includes('stale')")
    assert page.inner_text("#corrections") == "0 corrections · 1 stale line left out"
    # The pair of micrographs is written back as it was; the stale line is not.
    assert page.evaluate("window.cryodedupPage.text()").splitlines() == [
        "kind,input,row,name,partner,action",
        "pair,,,mics/mic_000.mrc,mics/mic_001.mrc,distinct",
    ]
    assert page.errors == []
    page.close()
