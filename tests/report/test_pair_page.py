"""pairs.html (the micrograph job's ``--plot``): every scored pair in a real browser (headless Chromium
through Playwright), the flagged and uncertain ones as cards with their overlays, the others in a
table sortable by z; counts against pairs.csv read here. Skipped without Playwright or Chromium."""

from __future__ import annotations

import csv
import re
import shutil

import numpy as np
import pytest

from cryodedup import MicrographOptions, find_duplicate_micrographs
from fixtures.synthetic import write_graded_reexposures

pytest.importorskip("PIL")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (Debian's chromium package)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


def test_every_pair_is_on_the_page_as_pairs_csv_says(browser, tmp_path):
    folder = tmp_path / "mics"
    folder.mkdir()
    write_graded_reexposures(folder, np.random.default_rng(3), [2.0, 8.0, 10.0, 12.0])
    out = tmp_path / "out"
    # --min-z 16 puts the damaged re-exposures about the boundary: uncertain pairs on both sides.
    summary = find_duplicate_micrographs(
        sorted(folder.glob("*.mrc")), out, MicrographOptions(plot=True, min_z=16.0)
    ).to_json()
    assert str(out / "pairs.html") in summary["outputs"]["plots"]
    assert "pairs.html" in (out / "report.html").read_text()
    with open(out / "pairs.csv") as f:
        rows = list(csv.DictReader(f))
    flagged = [r for r in rows if r["duplicate"] == "1" and r["uncertain"] == "0"]
    uncertain = [r for r in rows if r["uncertain"] == "1"]
    others = [r for r in rows if r["duplicate"] == "0" and r["uncertain"] == "0"]
    assert flagged and uncertain and others
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((out / "pairs.html").as_uri())
    page.wait_for_selector(".card")
    assert page.inner_text("#totals") == (
        f"{len(rows)} pairs scored: {len(flagged)} flagged, {len(uncertain)} uncertain, {len(others)} others"
    )
    cards = page.eval_on_selector_all("#grid .card", "cs => cs.map(c => c.textContent)")
    assert len(cards) == len(flagged) + len(uncertain)
    assert sum("uncertain" in c for c in cards) == len(uncertain)
    assert len(list((out / "pairs").glob("p*.jpg"))) == len(cards)  # each card's overlay
    page.wait_for_function("document.querySelectorAll('#grid img[src]').length > 0")
    # Cards by z, highest first, as pairs.csv's z.
    z_of_cards = [float(re.search(r"z (-?[\d.]+)", c)[1]) for c in cards]
    assert z_of_cards == sorted(z_of_cards, reverse=True)
    # Every other pair in the table (200 at a time), by z.
    while page.is_visible("#more"):
        page.click("#more")
    table = page.eval_on_selector_all("#others tr", "rs => rs.slice(1).map(r => r.children[2].textContent)")
    assert len(table) == len(others)
    on_screen = [float(z) for z in table]
    assert on_screen == sorted(on_screen, reverse=True)
    assert np.allclose(on_screen, sorted((float(r["z"]) for r in others), reverse=True), atol=0.051)
    page.click("#direction")
    table = page.eval_on_selector_all("#others tr", "rs => rs.slice(1).map(r => r.children[2].textContent)")
    assert [float(z) for z in table] == sorted(float(z) for z in table)
    # Keys move through the cards.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.eval_on_selector(".card.sel", "c => [...c.parentNode.children].indexOf(c)") == 1
    assert errors == []
    page.close()


def test_a_pair_marked_on_the_page_is_saved_and_decided_so(browser, tmp_path):
    # "mark distinct" on a flagged pair's card, "Save overrides": the file names that pair as pairs.csv
    # does, and the job run again with it finds every other pair it found, not that one.
    folder = tmp_path / "mics"
    folder.mkdir()
    write_graded_reexposures(folder, np.random.default_rng(3), [2.0, 8.0, 10.0, 12.0])
    mics = sorted(folder.glob("*.mrc"))
    out = tmp_path / "out"
    find_duplicate_micrographs(mics, out, MicrographOptions(plot=True, min_z=16.0))
    with open(out / "pairs.csv") as f:
        duplicates = [r for r in csv.DictReader(f) if r["duplicate"] == "1"]
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((out / "pairs.html").as_uri())
    page.wait_for_selector(".card")
    first = page.locator("#grid .card:has-text('flagged: a duplicate')").first
    names = first.locator(".name").evaluate_all("ns => ns.map(n => n.title)")
    first.locator(".mark").click()
    assert page.inner_text("#corrections") == "1 pair marked"
    with page.expect_download() as download:
        page.click("#save")
    saved = tmp_path / "overrides.csv"
    download.value.save_as(saved)
    assert errors == []
    page.close()
    with open(saved, newline="") as f:
        lines = list(csv.reader(f))
    assert lines == [["kind", "input", "row", "name", "partner", "action"], ["pair", "", "", *names, "distinct"]]
    assert any({r["name_a"], r["name_b"]} == set(names) for r in duplicates), (names, duplicates[:2])
    # Loaded again, the file shows the pair marked and saves the same text.
    page = browser.new_page()
    page.goto((out / "pairs.html").as_uri())
    page.set_input_files("#load", saved)
    page.wait_for_function("document.querySelector('#corrections').textContent === '1 pair marked'")
    assert page.evaluate("window.cryodedupPairs.text()") == saved.read_text()
    assert page.locator(".card.marked .name").evaluate_all("ns => ns.map(n => n.title)") == names
    page.close()
    again = tmp_path / "again"
    find_duplicate_micrographs(mics, again, MicrographOptions(min_z=16.0, overrides=str(saved)))
    with open(again / "pairs.csv") as f:
        now = {frozenset((r["name_a"], r["name_b"])) for r in csv.DictReader(f) if r["duplicate"] == "1"}
    assert now == {frozenset((r["name_a"], r["name_b"])) for r in duplicates} - {frozenset(names)}
