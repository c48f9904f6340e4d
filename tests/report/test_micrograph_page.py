"""micrographs.html (``--plot``): every micrograph on the page, in a real browser (headless Chromium
driven by Playwright), its counts equal to the written files' (counted here from the output
STAR files), each rejected pick joined to a kept pick within the distance that ranks first;
sorting, search and keyboard navigation. Skipped where Playwright or Chromium is absent."""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.report import micrograph_page
from cryodedup.report.micrograph_page import COLUMN_TYPES
from fixtures.synthetic import write_benchmark_file, write_mrc
from helpers import write_star

pytest.importorskip("PIL")
starfile = pytest.importorskip("starfile")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

COUNTS = re.compile(r"^([\d,]+) kept · ([\d,]+) rejected$")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (Debian's chromium package)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


def opened(browser, page_file: Path, width: int = 1200):
    """The page opened from disk (file://), its errors gathered; once its cards are there."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(page_file.resolve().as_uri())
    page.wait_for_selector(".card")
    return page


def cards_on_screen(page) -> list[tuple[str, int, int]]:
    """Every card shown, in order: (full name, kept, rejected) as its text says."""
    found = page.eval_on_selector_all(
        "#grid .card", "cs => cs.map(c => [c.querySelector('.name').title, c.querySelector('.counts').textContent])"
    )
    out = []
    for name, text in found:
        match = COUNTS.match(text)
        assert match, text
        out.append((name, int(match[1].replace(",", "")), int(match[2].replace(",", ""))))
    return out


def counts_in_files(outdir: Path) -> dict[str, tuple[int, int]]:
    """(kept, rejected) of each micrograph, counted from the written STAR files."""
    kept, rejected = (
        Counter(starfile.read(outdir / f"particles_{s}.star", always_dict=True)["particles"]["rlnMicrographName"])
        for s in ("kept", "rejected")
    )
    return {name: (kept[name], rejected[name]) for name in set(kept) | set(rejected)}


def two_picker_project(root: Path, n_mics: int = 24, with_images: int = 6, seed: int = 3) -> list[Path]:
    """Two pickers' STAR files on ``n_mics`` micrographs (1 Å/px, 400 x 300 px); ``with_images`` have images."""
    rng = np.random.default_rng(seed)
    (root / "mics").mkdir(parents=True)
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup", "rlnAutopickFigureOfMerit"]
    rows: list[list[list]] = [[], []]
    for m in range(n_mics):
        name = f"mics/mic_{m:03d}.mrc"
        if m < with_images:
            write_mrc(root / name, rng.normal(size=(300, 400)), 1.0)
        n = int(rng.integers(0, 30)) if m else 0  # (micrograph 0: no picks by the first picker)
        true = rng.uniform(20, [380, 280], (n, 2))
        for picker_rows in rows:
            seen = true[rng.random(n) < (0.5 if m % 5 == 0 else 0.9)]
            for x, y in seen + rng.normal(0, 3, seen.shape):
                picker_rows.append([round(x, 1), round(y, 1), name, 1, round(float(rng.random()), 4)])
        if m == 0:
            rows[1].append([100, 100, name, 1, 0.5])
    return [write_star(root / f"picker_{k}.star", labels, r, optics=[[1, "og1", 1.0, 1.0]]) for k, r in enumerate(rows)]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("page")
    inputs = two_picker_project(root)
    options = ParticleOptions(min_dist=15, score="rlnAutopickFigureOfMerit", plot=True, decisions=True, plot_mics=2)
    summary = remove_duplicate_particles(inputs, root / "out", options)
    return root / "out", summary


def test_every_micrograph_is_on_the_page_with_the_files_counts(browser, project):
    outdir, summary = project
    assert str(outdir / "micrographs.html") in summary.plots
    assert "micrographs.html" in (outdir / "report.html").read_text()  # linked from the report
    page = opened(browser, outdir / "micrographs.html")
    on_screen = cards_on_screen(page)
    files = counts_in_files(outdir)
    assert len(on_screen) == 24 == len(files)
    assert {name: (k, r) for name, k, r in on_screen} == files
    total_kept = sum(k for k, _ in files.values())
    total_rejected = sum(r for _, r in files.values())
    assert f"{total_kept:,} kept, {total_rejected:,} rejected" in page.inner_text("#totals")
    # The micrographs with images show their thumbnails (loaded as they come into view).
    page.wait_for_function("document.querySelectorAll('#grid img[src]').length > 0")
    assert len(list((outdir / "micrographs").glob("m*.jpg"))) == 6
    assert page.errors == []
    page.close()


def test_keyboard_reaches_every_micrograph_and_the_detail_follows(browser, project):
    outdir, _ = project
    page = opened(browser, outdir / "micrographs.html")
    names = [name for name, _, _ in cards_on_screen(page)]
    reached = []
    for _ in names:
        page.keyboard.press("ArrowRight")
        reached.append(page.get_attribute(".card.sel .name", "title"))
    assert reached == names
    page.keyboard.press("ArrowRight")  # (past the last: it stays)
    assert page.get_attribute(".card.sel .name", "title") == names[-1]
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    assert page.is_visible("#detail")
    assert page.inner_text("#panel h2") == names[-2]
    page.keyboard.press("ArrowLeft")
    assert page.inner_text("#panel h2") == names[-3]
    page.keyboard.press("Escape")
    assert not page.is_visible("#detail")
    assert page.errors == []
    page.close()


def test_enter_on_a_focused_button_presses_it_and_one_pick_is_one(browser, project):
    # A user's trial: Enter on "next" stayed on the micrograph and on "close" left the detail open
    # (the page's own Enter opened the selected micrograph instead); a card said "1 picks".
    outdir, _ = project
    page = opened(browser, outdir / "micrographs.html")
    names = [name for name, _, _ in cards_on_screen(page)]
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    assert page.inner_text("#panel h2") == names[0]
    page.focus("#detail button:has-text('next')")
    page.keyboard.press("Enter")
    assert page.inner_text("#panel h2") == names[1]
    page.focus("#detail button:has-text('close')")
    page.keyboard.press("Enter")
    assert not page.is_visible("#detail")
    lone = page.inner_text("#grid .card:has(.name[title='mics/mic_000.mrc']) .more")  # (one pick, by one picker)
    assert lone.startswith("1 pick · 0 duplicates"), lone
    assert page.errors == []
    page.close()


def test_an_image_not_found_is_said_even_when_every_examples_image_was(tmp_path):
    # A user's trial: one micrograph's image missing left its card blank without a word (the summary
    # counted the images not found only when an example's was among them).
    inputs = two_picker_project(tmp_path, n_mics=6, with_images=6)
    (tmp_path / "mics" / "mic_000.mrc").unlink()  # (one pick: never an example, those with the most rejected)
    options = ParticleOptions(min_dist=15, score="rlnAutopickFigureOfMerit", plot=True, plot_mics=2)
    summary = remove_duplicate_particles(inputs, tmp_path / "out", options)
    note = summary.micrograph_images
    assert note.startswith("1 of 6 micrograph images not found; their cards on micrographs.html drawn on a blank"), note
    assert re.search(r"\nfirst looked for: \S*mics/mic_000\.mrc\n", note), note
    index = _js_object(tmp_path / "out" / "micrographs" / "index.js")
    assert [name for name, thumb in zip(index["names"], index["thumbs"]) if not thumb] == ["mics/mic_000.mrc"]


def _cards(names):
    return None if (text := micrograph_page._names_text(names)[1]) is None else json.loads(text)


def test_cards_name_micrographs_by_what_tells_them_apart():
    # A user's trial: CryoSPARC's names all end "..._patch_aligned_doseweighted.mrc", which every
    # card showed (its name cut at the front).
    cryosparc = [
        "J1/imported/012_14sep05c_00024sq_00003hl_00002es.frames_patch_aligned_doseweighted.mrc",
        "J1/imported/345_14sep05c_00024sq_00004hl_00005es.frames_patch_aligned_doseweighted.mrc",
    ]
    assert _cards(cryosparc) == ["012_14sep05c_00024sq_00003hl_00002es", "345_14sep05c_00024sq_00004hl_00005es"]
    relion = ["Movies/FoilHole_1_Data_000000.mrc", "Movies/FoilHole_1_Data_000100.mrc"]  # (a shared "00.mrc")
    assert _cards(relion) == ["FoilHole_1_Data_000000", "FoilHole_1_Data_000100"]
    assert _cards(["a/m.mrc", "b/m.mrc"]) is None  # (file names alike: the whole names)
    assert _cards(["m1.mrc"]) is None


def _cards_by_hand(names):
    """The cards as the page names them, worked out character by character (the oracle)."""
    files = [name.split("/")[-1] for name in names]
    if len(files) < 2 or len(set(files)) < len(files):
        return None
    ending = os.path.commonprefix([f[::-1] for f in files])[::-1]  # noqa: RUF071 (characters)
    cut = min([ending.index(c) for c in "_.-" if c in ending], default=len(ending))
    cards = [f[: len(f) - (len(ending) - cut)] for f in files]
    return cards if all(cards) and len(set(cards)) == len(cards) else None


def test_cards_are_the_file_names_without_their_shared_ending_from_its_first_separator():
    # Oracle: the shared ending as the common start of the file names reversed, on random short
    # names of a few characters (non-ASCII too), in folders, sharing endings in part or whole.
    rng = np.random.default_rng(7)
    for _ in range(3000):
        names = ["".join(rng.choice(list("ab_.x-é"), size=rng.integers(0, 7))) for _ in range(rng.integers(1, 6))]
        if rng.random() < 0.5:
            names = [f"d{k % 2}/{n}_end.mrc" for k, n in enumerate(names)]
        assert _cards(names) == _cards_by_hand(names), names


def test_names_are_the_text_json_writes():
    # Oracle: json.dumps, on random texts of control characters, DEL, quotes, backslashes,
    # non-ASCII (U+2028, an emoji past U+FFFF), plain letters, and lone surrogates (a file
    # name's bytes that are not UTF-8, as Python holds them).
    rng = np.random.default_rng(11)
    codes = [0, 8, 9, 10, 12, 13, 31, 32, 33, 34, 65, 92, 126, 127, 128, 233, 0x2028, 0x1F600]
    for k in range(3000):
        names = ["".join(chr(c) for c in rng.choice(codes, size=rng.integers(0, 5))) for _ in range(rng.integers(0, 4))]
        if k % 100 == 0:
            names.append(b"mic_\xff.mrc".decode("utf-8", errors="surrogateescape"))
        assert micrograph_page._names_text(names)[0] == json.dumps(names, separators=(",", ":")), names


def test_sorting_search_and_filters(browser, project):
    outdir, _ = project
    files = counts_in_files(outdir)
    fraction = {name: r / (k + r) for name, (k, r) in files.items()}
    page = opened(browser, outdir / "micrographs.html")
    page.select_option("#sort", "fraction")
    order = [name for name, _, _ in cards_on_screen(page)]
    assert [fraction[n] for n in order] == sorted(fraction.values(), reverse=True)
    page.click("#direction")
    order = [name for name, _, _ in cards_on_screen(page)]
    assert [fraction[n] for n in order] == sorted(fraction.values())
    page.select_option("#sort", "name")
    assert [name for name, _, _ in cards_on_screen(page)] == sorted(files)
    # Rejected at least half: as many as the files say.
    page.fill("#minrejected", "50")
    page.dispatch_event("#minrejected", "change")
    assert {n for n, _, _ in cards_on_screen(page)} == {n for n, f in fraction.items() if f >= 0.5}
    page.fill("#minrejected", "0")
    page.dispatch_event("#minrejected", "change")
    # One input: the micrographs it picked on (micrograph 0: the second picker only).
    page.select_option("#input", "0")
    assert "mics/mic_000.mrc" not in {n for n, _, _ in cards_on_screen(page)}
    page.select_option("#input", "")
    page.fill("#search", "mic_017")
    assert [n for n, _, _ in cards_on_screen(page)] == ["mics/mic_017.mrc"]
    assert page.inner_text("#shown") == "showing 1 of 24"
    assert page.errors == []
    page.close()


def test_each_rejected_pick_is_joined_to_the_kept_pick_it_lost_to(project):
    """The page's lines against decisions.csv (rows looked up in the input files) and a brute force:
    each partner kept, on the same micrograph, within the distance."""
    outdir, _ = project
    index = _js_object(outdir / "micrographs" / "index.js")
    with open(outdir / "decisions.csv") as f:
        records = list(csv.DictReader(f))
    inputs = {name: starfile.read(outdir.parent / name, always_dict=True)["particles"] for name in index["inputs"]}

    def centre(input_name: str, row: str) -> tuple[int, int]:
        table = inputs[input_name]
        k = int(row) - 1
        return tuple(np.rint([table["rlnCoordinateX"][k], table["rlnCoordinateY"][k]]).astype(int).tolist())

    recorded = Counter((centre(r["input"], r["row"]), centre(r["kept_input"], r["kept_row"])) for r in records)
    drawn: Counter = Counter()
    for path in sorted((outdir / "micrographs").glob("picks_*.js")):
        chunk = int(path.stem.split("_")[1])
        columns = _js_object(path)
        offsets = columns["o"]
        for j in range(len(offsets) - 1):
            mic = chunk * index["chunk"] + j
            span = range(offsets[j], offsets[j + 1])
            rejected = [k for k in span if columns["r"][k] >= 0]
            assert len(rejected) == index["rejected"][mic]
            for k in rejected:
                q = columns["p"][k]
                assert q in span and columns["r"][q] == -1  # a kept pick of the same micrograph
                d = np.hypot(columns["x"][k] - columns["x"][q], columns["y"][k] - columns["y"][q])
                assert d <= 15 + 1  # (centres rounded to 1 Å)
                drawn[(columns["x"][k], columns["y"][k]), (columns["x"][q], columns["y"][q])] += 1
    assert drawn == recorded and sum(drawn.values()) > 0


def _js_object(path: Path) -> dict:
    """The JSON object a page's script file hands the page; a file of picks' columns decoded (base64 of their bytes)."""
    text = path.read_text()
    found = json.loads(text[text.index("{") : text.rindex("}") + 1])
    if path.name.startswith("picks_"):
        for name in COLUMN_TYPES:
            if name in found:
                found[name] = np.frombuffer(base64.b64decode(found[name]), dtype=found["t"][name]).tolist()
    return found


def test_the_page_of_a_one_pass_run_has_its_partners_too(tmp_path):
    """One STAR file decided while read keeps no pairs: the page's come from the core walked again."""
    inputs = two_picker_project(tmp_path, n_mics=5, with_images=0)
    remove_duplicate_particles(inputs[:1], tmp_path / "out", ParticleOptions(min_dist=15, plot=True))
    index = _js_object(tmp_path / "out" / "micrographs" / "index.js")
    columns = _js_object(tmp_path / "out" / "micrographs" / "picks_00000.js")
    rejected = [k for k, r in enumerate(columns["r"]) if r >= 0]
    assert len(rejected) == sum(index["rejected"]) > 0
    assert all(columns["p"][k] >= 0 and columns["r"][columns["p"][k]] == -1 for k in rejected)


def test_rows_in_micrograph_order_are_written_as_when_gathered(tmp_path, monkeypatch):
    """Rows already micrograph by micrograph are taken file by file as they are: the files are
    those of every column gathered in micrograph order (the route of rows out of order)."""
    path = tmp_path / "p.star"
    write_benchmark_file(path, 12_000, per_mic=40, seed=4)  # (300 micrographs: 6 files of picks)
    options = ParticleOptions(min_dist=20, score="rlnMaxValueProbDistribution", plot=True)
    remove_duplicate_particles([path], tmp_path / "taken", options)
    monkeypatch.setattr(micrograph_page, "_micrograph_order", lambda groups: np.argsort(groups, kind="stable"))
    remove_duplicate_particles([path], tmp_path / "gathered", options)
    files = sorted(p.name for p in (tmp_path / "taken" / "micrographs").iterdir())
    assert len(files) > 3 and files == sorted(p.name for p in (tmp_path / "gathered" / "micrographs").iterdir())
    for name in files:
        taken, gathered = (tmp_path / out / "micrographs" / name for out in ("taken", "gathered"))
        assert taken.read_bytes() == gathered.read_bytes(), name
    columns = _js_object(tmp_path / "taken" / "micrographs" / "picks_00000.js")
    assert any(p >= 0 for p in columns["p"])


#: Where three micrographs' picks lie (Å, 1 Å/px) and the type their files' centres fit: 16 bits signed, unsigned, 32.
CENTRES_BY_TYPE = {"<i2": (-300.0, 120.0), "<u2": (40_000.0, 65_000.0), "<i4": (70_000.0, 2_000.0)}


def test_each_files_columns_are_as_narrow_as_their_numbers_and_the_page_shows_them(browser, tmp_path, monkeypatch):
    """A file of picks per micrograph: its centres in 16 bits where they fit (signed or not), else 32;
    partners and inputs in 8. The page shows each rejected pick and its partner where the input put them."""
    monkeypatch.setattr(micrograph_page, "CHUNK", 1)
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup", "rlnAutopickFigureOfMerit"]
    rows = []
    for m, (x, y) in enumerate(CENTRES_BY_TYPE.values()):  # (a pair 5 Å apart: the second, scored lower, rejected)
        rows += [[x + 0.4, y, f"mic_{m}.mrc", 1, 0.9], [x + 5.4, y - 0.3, f"mic_{m}.mrc", 1, 0.1]]
        rows += [[x + 300, y + 300, f"mic_{m}.mrc", 1, 0.5]]
    star = write_star(tmp_path / "p.star", labels, rows, optics=[[1, "og1", 1.0, 1.0]])
    remove_duplicate_particles([star], tmp_path / "out", ParticleOptions(min_dist=15, plot=True))
    folder = tmp_path / "out" / "micrographs"
    page = opened(browser, tmp_path / "out" / "micrographs.html")
    for m, (type_, (x, y)) in enumerate(CENTRES_BY_TYPE.items()):
        columns = _js_object(folder / f"picks_{m:05d}.js")
        assert (columns["t"]["x"], columns["t"]["p"], columns["t"]["i"]) == (type_, "<i1", "<i1")
        page.fill("#search", f"mic_{m}.mrc")
        page.keyboard.press("Enter")
        page.wait_for_selector("#panel table >> nth=2")
        cells = page.eval_on_selector_all("#panel table:last-of-type td", "tds => tds.map(t => t.textContent)")
        assert cells[0:5:2] == [f"{x + 5:.0f}, {y:.0f}", f"{x:.0f}, {y:.0f}", "5"]  # (rejected, its partner, Å)
    assert page.errors == []
    page.close()


def test_an_earlier_pages_files_are_replaced_with_force(tmp_path):
    """Files of an earlier, larger page go (of the tool's naming only); without --force the page is refused."""
    options = ParticleOptions(min_dist=15, plot=True)
    many = two_picker_project(tmp_path / "many", n_mics=60, with_images=0)
    few = two_picker_project(tmp_path / "few", n_mics=5, with_images=0)
    out = tmp_path / "out"
    remove_duplicate_particles(many, out, options)
    folder = out / "micrographs"
    assert sorted(p.name for p in folder.iterdir()) == [
        "ids_00000.js",
        "ids_00001.js",
        "index.js",
        "picks_00000.js",
        "picks_00001.js",
    ]
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(Exception, match="exist"):
        remove_duplicate_particles(few, out, options)
    remove_duplicate_particles(few, out, options, force=True)
    assert sorted(p.name for p in folder.iterdir()) == ["ids_00000.js", "index.js", "notes.txt", "picks_00000.js"]
    assert len(_js_object(folder / "index.js")["names"]) == 5


@pytest.mark.slow
def test_ten_thousand_micrographs(browser, tmp_path):
    star = tmp_path / "p.star"
    write_benchmark_file(star, 40_000, per_mic=4, duplicate_fraction=0.2)
    remove_duplicate_particles([star], tmp_path / "out", ParticleOptions(min_dist=20, plot=True))
    files = counts_in_files(tmp_path / "out")
    page = opened(browser, tmp_path / "out" / "micrographs.html")
    on_screen = cards_on_screen(page)
    assert len(on_screen) == len(files) > 9_000
    assert {name: (k, r) for name, k, r in on_screen} == files
    # The last one is reached by its name; its picks are drawn once its file of picks is loaded.
    last = on_screen[-1][0]
    page.fill("#search", last)
    page.keyboard.press("Enter")
    page.wait_for_selector("#panel table")
    assert page.inner_text("#panel h2") == last
    assert page.errors == []
    page.close()


TOMO_LABELS = ["rlnTomoName", "rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst"]
TOMO_LABELS += ["rlnCenteredCoordinateZAngst", "rlnMaxValueProbDistribution", "rlnTomoParticleName"]


def test_tomograms_are_drawn_in_slabs_of_z(browser, tmp_path):
    """Three tomograms' picks (RELION 5, centred coordinates): each drawn in slabs along z, the files' counts."""
    rng = np.random.default_rng(4)
    rows = []
    for t in range(3):
        centres = rng.uniform(-600, 600, (40, 3))
        centres = np.vstack([centres, centres[:15] + rng.normal(0, 8, (15, 3))])  # 15 picked twice
        rows += [
            [f"tomo_{t}", *np.round(c, 1), round(float(rng.random()), 3), f"tomo_{t}/{k}"]
            for k, c in enumerate(centres)
        ]
    star = write_star(tmp_path / "picks.star", TOMO_LABELS, rows)
    remove_duplicate_particles([star], tmp_path / "out", ParticleOptions(min_dist=40, plot=True))
    kept, rejected = (
        Counter(starfile.read(tmp_path / "out" / f"particles_{s}.star", always_dict=True)["particles"]["rlnTomoName"])
        for s in ("kept", "rejected")
    )
    page = opened(browser, tmp_path / "out" / "micrographs.html")
    assert {name: (k, r) for name, k, r in cards_on_screen(page)} == {t: (kept[t], rejected[t]) for t in kept}
    assert "every tomogram" in page.inner_text("h1")
    page.wait_for_selector("#grid canvas[data-drawn]")
    page.keyboard.press("Enter")
    assert "slabs" in page.inner_text("#panel")
    assert page.errors == []
    page.close()


def test_species_are_counted_filtered_and_coloured(browser, tmp_path):
    """Two species (--species-column, --cross-species): each card's counts the files', the species filter the files'."""
    rng = np.random.default_rng(6)
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnClassNumber", "rlnAutopickFigureOfMerit"]
    labels.append("rlnOpticsGroup")
    rows = []
    for m in range(6):
        for _ in range(int(rng.integers(5, 25))):
            x, y = rng.uniform(0, 300, 2)
            species = 2 if m == 5 else int(rng.integers(1, 3))  # (micrograph 5: species 2 only)
            rows.append([round(x, 1), round(y, 1), f"m{m}.mrc", species, round(float(rng.random()), 3), 1])
    star = write_star(tmp_path / "p.star", labels, rows, optics=[[1, "og1", 1.0, 1.0]])
    options = ParticleOptions(
        min_dist=20,
        plot=True,
        species_column="rlnClassNumber",
        cross_species=True,
        radius={"1": 10.0, "2": 15.0},
        score="rlnAutopickFigureOfMerit",
    )
    remove_duplicate_particles([star], tmp_path / "out", options)
    page = opened(browser, tmp_path / "out" / "micrographs.html")
    assert {n: (k, r) for n, k, r in cards_on_screen(page)} == counts_in_files(tmp_path / "out")
    page.select_option("#species", label="1")
    assert "m5.mrc" not in {n for n, _, _ in cards_on_screen(page)}
    page.select_option("#colour", "species")
    page.keyboard.press("Enter")
    page.wait_for_selector("#panel table")
    assert page.errors == []
    page.close()


def test_the_demos_page(browser, tmp_path):
    """`cryodedup demo --plot`: its four micrographs on the page (no images: blank frames), the files' counts."""
    from click.testing import CliRunner

    from cryodedup.cli import main

    result = CliRunner().invoke(main, ["demo", str(tmp_path / "demo"), "--plot", "-q"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "demo" / "result"
    page = opened(browser, out / "micrographs.html")
    on_screen = cards_on_screen(page)
    assert len(on_screen) == 4
    assert {name: (k, r) for name, k, r in on_screen} == counts_in_files(out)
    page.wait_for_selector("#grid canvas[data-drawn]")
    assert not list((out / "micrographs").glob("*.jpg"))  # (the example has no images)
    assert page.errors == []
    page.close()


def test_picks_at_the_edge_are_rejected_but_no_duplicates(tmp_path):
    """--edge: each micrograph's duplicates on the page are decisions.csv's lines of a rule with a partner."""
    inputs = two_picker_project(tmp_path, n_mics=8, with_images=8)  # (--edge reads each micrograph's size)
    options = ParticleOptions(min_dist=15, plot=True, decisions=True, edge=40, project_dir=tmp_path)
    remove_duplicate_particles(inputs, tmp_path / "out", options)
    with open(tmp_path / "out" / "decisions.csv") as f:
        records = list(csv.DictReader(f))
    assert any(r["rule"] == "at the edge" for r in records)
    index = _js_object(tmp_path / "out" / "micrographs" / "index.js")
    duplicates = Counter(r["micrograph"] for r in records if r["rule"] != "at the edge")
    rejected = Counter(r["micrograph"] for r in records)
    assert {n: d for n, d in zip(index["names"], index["duplicates"]) if d} == dict(duplicates)
    assert {n: r for n, r in zip(index["names"], index["rejected"]) if r} == dict(rejected)


def _tomogram_under_its_picks(root: Path, column: bool) -> tuple[Path, np.ndarray, ParticleOptions]:
    """One tomogram's picks (RELION 5, centred Å; 2 Å tilt-series pixels, 800 x 600 x 200) and its MRC binned 4x.

    The MRC (200 x 150 x 50 voxels of 8 Å, beside the picks; ``column``: elsewhere, named by the
    tomograms STAR's rlnTomoReconstructedTomogram) holds a bright blob at each pick, near the
    middle in z; the tomograms STAR's sizes place the centre. Returns the picks STAR,
    the picks' centres and the options.
    """
    rng = np.random.default_rng(9)
    picks = np.column_stack([rng.uniform(-700, 700, 6), rng.uniform(-500, 500, 6), rng.uniform(-30, 30, 6)])
    picks[:, 0] = np.linspace(-650, 650, 6)  # (apart: none is a duplicate)
    star = write_star(root / "picks.star", TOMO_LABELS, [["TS_01", *p, 0.5, f"TS_01/{k}"] for k, p in enumerate(picks)])
    labels = ["rlnTomoName", "rlnTomoTiltSeriesPixelSize", "rlnTomoSizeX", "rlnTomoSizeY", "rlnTomoSizeZ"]
    row: list = ["TS_01", 2.0, 800, 600, 200]
    mrc_path = root / "TS_01.mrc"
    if column:
        labels, row = [*labels, "rlnTomoReconstructedTomogram"], [*row, "Recon/job9/rec_TS_01.mrc"]
        (root / "Recon" / "job9").mkdir(parents=True)
        mrc_path = root / "Recon" / "job9" / "rec_TS_01.mrc"
    tomograms = write_star(root / "tomograms.star", labels, [row])
    # By hand: the corner is (size / 2 - 1) x 2 Å below the centre; voxel k covers [8k, 8k + 8) Å from it.
    voxels = (picks + np.array([798.0, 598.0, 198.0])) / 8.0
    z, y, x = np.mgrid[0:50, 0:150, 0:200]
    volume = rng.normal(0, 0.05, (50, 150, 200)).astype(np.float32)
    for vx, vy, vz in voxels:
        volume += np.exp(-((x - vx) ** 2 + (y - vy) ** 2 + (z - vz) ** 2 / 4) / (2 * 1.5**2)).astype(np.float32)
    import mrcfile

    with mrcfile.new(mrc_path) as mrc:
        mrc.set_data(volume)
        mrc.voxel_size = 8.0
    return star, picks, ParticleOptions(min_dist=40, plot=True, micrographs=tomograms, project_dir=root)


@pytest.mark.parametrize("column", [False, True], ids=["by its name", "by rlnTomoReconstructedTomogram"])
def test_a_tomograms_slabs_slices_lie_under_its_picks(browser, tmp_path, column):
    """Where its MRC is found, each of a tomogram's slabs is drawn over its slices there, each blob under its pick."""
    from PIL import Image

    star, picks, options = _tomogram_under_its_picks(tmp_path, column)
    remove_duplicate_particles([star], tmp_path / "out", options)
    index = _js_object(tmp_path / "out" / "micrographs" / "index.js")
    assert index["thumbs"] == [0b111]  # (every slab lies in the volume)
    # The page draws a pick at (x - x0) / w of the image's width: the frame, by hand, is the tomogram's extent.
    x0, y0, w, h = index["frames"][0]
    assert (x0, y0, w, h) == (-798, -598, 1600, 1200)
    at = np.rint((picks[:, :2] - [x0, y0]) / [w, h] * [200, 150]).astype(int)
    z0, z1 = np.floor(picks[:, 2].min()), np.ceil(picks[:, 2].max())
    slab_of = np.minimum(2, np.floor((picks[:, 2] - z0) / (z1 - z0) * 3)).astype(int)  # (as the page's slabOf)
    for slab in range(3):
        thumb = np.asarray(Image.open(tmp_path / "out" / "micrographs" / f"m000000_{slab}.jpg"), dtype=np.float64)
        assert thumb.shape == (150, 200)  # (200 voxels across: under 320, not binned further)
        # The brightest hundredth of the thumbnail lies at the picks (the blobs saturate: their centres, not a pixel),
        # each of the slab's picks among them.
        ys, xs = np.nonzero(thumb > np.percentile(thumb, 99))
        nearest = np.hypot(ys[:, None] - at[None, :, 1], xs[:, None] - at[None, :, 0])
        assert nearest.min(axis=1).max() <= 6  # (a blob, 1.5 voxels wide, low-pass filtered: about 5 pixels to its rim)
        for k in np.flatnonzero(slab_of == slab):
            mine = nearest.argmin(axis=1) == k
            assert mine.any()
            assert np.hypot(ys[mine].mean() - at[k, 1], xs[mine].mean() - at[k, 0]) <= 1.5
    page = opened(browser, tmp_path / "out" / "micrographs.html")
    page.wait_for_selector("#grid canvas[data-drawn]")
    shown = page.eval_on_selector_all("#grid .card img", "imgs => imgs.map(i => i.complete && i.naturalWidth)")
    assert shown == [200, 200, 200]  # one under each of the three slabs
    page.keyboard.press("Enter")
    assert "slices at the middle of its z range" in page.inner_text("#panel")
    assert page.errors == []
    page.close()


#: A tomogram's bright squares (voxels: x from, x to, y from, y to), one per band of slices
#: (slices from, to); SQUARES[3] fills every slice outside the bands.
BANDS = [(10, 20), (20, 30), (30, 40)]
SQUARES = [(10, 30, 10, 30), (50, 70, 40, 60), (90, 110, 70, 90), (10, 30, 70, 90)]


def _tomograms_in_thirds(root: Path) -> tuple[Path, ParticleOptions]:
    """Two tomograms' picks (RELION 5, centred Å; tilt series of 2.5 Å, 480 x 400 and Z 240 or 40) and MRCs binned 4x.

    TS_07 (120 x 100 x 60 voxels of 10 Å): a bright square in each band of 10 slices
    (:data:`BANDS`) at its own place (:data:`SQUARES`), another outside the bands. By hand: its
    corner lies (240 / 2 - 1) x 2.5 = 297.5 Å below the centre, so the picks' z from -197.5 to
    102.5 Å (slices 10 to 40) make its z range -198 to 103 Å, slabs of 100.33 Å: slices
    9.95, 19.98, 30.02 and 40.05 from the corner, the middle six of each (a tenth of 60) 12-17,
    22-27 and 32-37: one band each. TS_08 (120 x 100 x 10 voxels): its corner 47.5 Å below the
    centre, its own picks' z range -40 to 40 Å cut in slabs of 26.67 Å at slices 0.75, 3.42,
    6.08 and 8.75: all three within its volume (cut over both tomograms' range, as main did, at
    -15.05, -5.02, 5.02, 15.05: the first outside, and its picks in two slabs of three).
    """
    rng = np.random.default_rng(12)
    labels = ["rlnTomoName", "rlnTomoTiltSeriesPixelSize", "rlnTomoSizeX", "rlnTomoSizeY", "rlnTomoSizeZ"]
    tomograms = write_star(
        root / "tomograms.star", labels, [["TS_07", 2.5, 480, 400, 240], ["TS_08", 2.5, 480, 400, 40]]
    )
    import mrcfile

    volume = rng.normal(0, 0.05, (60, 100, 120)).astype(np.float32)
    for band, (x0, x1, y0, y1) in zip([*BANDS, None], SQUARES):
        slices = [range(*band)] if band else [range(0, 10), range(40, 60)]
        for z in slices:
            volume[z.start : z.stop, y0:y1, x0:x1] += 1.0
    for name, data in [("TS_07", volume), ("TS_08", volume[20:30])]:
        with mrcfile.new(root / f"{name}.mrc") as mrc:
            mrc.set_data(np.ascontiguousarray(data))
            mrc.voxel_size = 10.0
    rows = []
    for k, z in enumerate(np.linspace(-197.5, 102.5, 12)):
        x, y = -500 + 90.0 * k, (-300.0, 0.0, 300.0)[k % 3]
        rows.append(["TS_07", x, y, z, 0.5, f"TS_07/{k}"])
        if k % 4 == 1:  # (a duplicate: rejected, joined to its kept pick)
            rows.append(["TS_07", x + 12, y - 9, z, 0.2, f"TS_07/{k}b"])
    rows += [["TS_08", -400 + 160.0 * k, 100.0, -40 + 16.0 * k, 0.5, f"TS_08/{k}"] for k in range(6)]
    star = write_star(root / "picks.star", TOMO_LABELS, rows)
    return star, ParticleOptions(min_dist=40, plot=True, micrographs=tomograms, project_dir=root)


def _mean_in(thumb: np.ndarray, square: tuple[int, int, int, int], inset: int = 4) -> float:
    """The thumbnail's mean grey inside a square (voxels: 1 pixel each, the tomogram not binned), its rim left out."""
    x0, x1, y0, y1 = square
    return float(thumb[y0 + inset : y1 - inset, x0 + inset : x1 - inset].mean())


def test_each_slab_is_drawn_over_the_tomograms_slices_of_its_z_range(tmp_path):
    """Each slab's JPEG shows the square of its band of slices and none of the others'; a slab outside: none."""
    from PIL import Image

    star, options = _tomograms_in_thirds(tmp_path)
    remove_duplicate_particles([star], tmp_path / "out", options)
    folder = tmp_path / "out" / "micrographs"
    index = _js_object(folder / "index.js")
    assert index["names"] == ["TS_07", "TS_08"]
    assert index["zRanges"] == [[-198, 103], [-40, 40]]  # (each tomogram's own; main: one range for both)
    assert index["thumbs"] == [0b111, 0b111]
    assert index["frames"] == [[-598, -498, 1200, 1000]] * 2  # (x and y placed as before: corner, 120 x 10 Å)
    assert sorted(p.name for p in folder.glob("*.jpg")) == [f"m00000{m}_{s}.jpg" for m in (0, 1) for s in range(3)]
    for slab in range(3):
        thumb = np.asarray(Image.open(folder / f"m000000_{slab}.jpg"), dtype=np.float64)
        assert thumb.shape == (100, 120)
        own = _mean_in(thumb, SQUARES[slab])
        others = [_mean_in(thumb, square) for k, square in enumerate(SQUARES) if k != slab]
        assert own > 200 and max(others) < own - 100, (slab, own, others)
    # TS_08 holds slices 20-29 of TS_07's volume (band 1): each of its three slabs shows band 1's square.
    for slab in (0, 1, 2):
        thumb = np.asarray(Image.open(folder / f"m000001_{slab}.jpg"), dtype=np.float64)
        own = _mean_in(thumb, SQUARES[1])
        assert own > 200 and max(_mean_in(thumb, SQUARES[k]) for k in (0, 2, 3)) < own - 100


def test_the_page_shows_each_slabs_own_image_under_it(browser, tmp_path):
    """On the page, each slab of a tomogram's card holds its own JPEG; a slab outside the tomogram a blank frame."""
    star, options = _tomograms_in_thirds(tmp_path)
    remove_duplicate_particles([star], tmp_path / "out", options)
    page = opened(browser, tmp_path / "out" / "micrographs.html")
    page.wait_for_selector("#grid canvas[data-drawn]")
    page.wait_for_function("[...document.querySelectorAll('#grid .card img')].every(i => i.complete)")
    for m, slabs in [(0, [0, 1, 2]), (1, [0, 1, 2])]:
        frame = page.locator(f"#grid .card[data-m='{m}'] .frame")
        box = frame.bounding_box()
        imgs = frame.locator("img")
        assert imgs.count() == len(slabs)
        for img, slab in zip(imgs.all(), slabs):
            assert img.get_attribute("src") == f"micrographs/m{m:06d}_{slab}.jpg"
            assert img.evaluate("i => i.naturalWidth") == 120
            at = img.bounding_box()
            assert abs(at["x"] - (box["x"] + slab * box["width"] / 3)) <= 1
            assert abs(at["width"] - box["width"] / 3) <= 1
    page.keyboard.press("Enter")
    assert "slices at the middle of its z range" in page.inner_text("#panel")
    assert "blank frame" not in page.inner_text("#panel")
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#panel h2") == "TS_08"
    # its own slabs (main cut both tomograms' range: a blank first slab, its picks in the other two)
    said = page.inner_text("#panel")
    assert "z -40 to -13 Å, z -13 to 13 Å, z 13 to 40 Å" in said and "blank frame" not in said
    assert page.errors == []
    page.close()


def test_an_earlier_tomogram_pages_slab_images_are_replaced_with_force(tmp_path):
    """The slabs' JPEGs of an earlier page of tomograms go with --force (of the tool's naming only)."""
    star, options = _tomograms_in_thirds(tmp_path)
    out = tmp_path / "out"
    remove_duplicate_particles([star], out, options)
    folder = out / "micrographs"
    (folder / "m000000_x.jpg").write_text("mine")
    few = two_picker_project(tmp_path / "few", n_mics=5, with_images=0)
    remove_duplicate_particles(few, out, ParticleOptions(min_dist=15, plot=True), force=True)
    assert sorted(p.name for p in folder.iterdir()) == ["ids_00000.js", "index.js", "m000000_x.jpg", "picks_00000.js"]


def test_a_one_pass_page_ranks_no_rejected_picks_rule_again(tmp_path, monkeypatch):
    """The scan made the files of picks and no consensus, mask or edge rejects: every rejected pick is a
    duplicate, so the index's duplicates are its rejected counts (the files' own), no rule asked of the record."""
    from cryodedup.jobs.particles import record

    def _asked(*args, **kwargs):
        raise AssertionError("the record of rejections was asked for the page")

    monkeypatch.setattr(record, "rejections", _asked)
    path = tmp_path / "p.star"
    write_benchmark_file(path, 6_000, per_mic=40, seed=5)
    options = ParticleOptions(min_dist=20, score="rlnMaxValueProbDistribution", plot=True)
    remove_duplicate_particles([path], tmp_path / "out", options)
    index = _js_object(tmp_path / "out" / "micrographs" / "index.js")
    in_files = counts_in_files(tmp_path / "out")
    assert sum(index["duplicates"]) > 0
    assert index["duplicates"] == [in_files.get(name, (0, 0))[1] for name in index["names"]]


@pytest.mark.parametrize("seed", range(3))
def test_the_index_is_the_text_json_writes(seed):
    """The index's long columns written by the core are json's text: names that need escapes (quotes, backslashes,
    control and non-ASCII characters, DEL) and those that need none, columns and rows of negative and large numbers."""
    rng = np.random.default_rng(seed)
    plain = [f"MotionCorr/job002/Movies/FoilHole_{k}_Data.mrc" for k in rng.integers(0, 10**9, 50)]
    odd = [*plain[:5], 'a "quoted" name', "back\\slash", "tab\tname", "Ångström", "del\x7f", "", "日本"]
    frames = rng.integers(-(2**62), 2**62, (30, 4))
    column = rng.integers(-(2**40), 2**40, 30)
    for names in (plain, odd, [], ["only"]):
        index = {"title": 'x "y"', "names": names, "frames": frames, "cards": None, "picks": column, "n": 0}
        expected = json.dumps({**index, "frames": frames.tolist(), "picks": column.tolist()}, separators=(",", ":"))
        written = {**index, "names": micrograph_page._Written(micrograph_page._names_text(names)[0])}
        assert micrograph_page._index_text(written) == expected
    for empty in (np.zeros((0, 4), dtype=np.int64), np.zeros((2, 0), dtype=np.int64), np.zeros(0, dtype=np.int64)):
        expected = json.dumps({"frames": empty.tolist()}, separators=(",", ":"))
        assert micrograph_page._index_text({"frames": empty}) == expected
