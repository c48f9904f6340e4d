"""Summaries open with a verdict: what was kept of how many and where, then the warnings (issue 55, item 5).

The counts and paths expected are worked out from the files (the inputs' rows, the rows of
particles_kept.star, the lines of micrographs_kept.txt), not from the summary.
"""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import cryodedup
from cryodedup.cli import main
from helpers import kept_rows

EXAMPLES = Path(cryodedup.__file__).parent / "examples"
PICKERS = [EXAMPLES / "particles_log.star", EXAMPLES / "particles_template.star"]
DEMO = [*PICKERS, "--micrographs", EXAMPLES / "micrographs_ctf.star", "--score", "rlnMaxValueProbDistribution"]
#: A run's warning, said because --topaz-scale serves no input here.
UNUSED_TOPAZ = "--topaz-scale was not used"


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


class BodyText(HTMLParser):
    """The text of a page's body, a line per block (paragraph, heading, table row, list item), and its <details>."""

    BLOCKS = frozenset({"p", "h1", "h2", "h3", "tr", "li", "div", "summary", "details", "table", "b"})

    def __init__(self):
        super().__init__()
        self.lines, self.current, self.in_body, self.in_style = [], [], False, False
        self.details_depth, self.folded = 0, []

    def handle_starttag(self, tag, attrs):
        self.in_body |= tag == "body"
        self.in_style |= tag == "style"
        self.details_depth += tag == "details"
        if tag in self.BLOCKS:
            self.flush()

    def handle_endtag(self, tag):
        self.in_style &= tag != "style"
        if tag in self.BLOCKS or tag in ("th", "td"):
            self.flush() if tag in self.BLOCKS else self.current.append(" | ")
        self.details_depth -= tag == "details"

    def handle_data(self, data):
        if self.in_body and not self.in_style:
            self.current.append(data)

    def flush(self):
        line = "".join(self.current).strip(" |\n")
        if line:
            self.lines.append(line)
            if self.details_depth:
                self.folded.append(line)
        self.current = []


def body_text(path: Path) -> BodyText:
    parser = BodyText()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.flush()
    return parser


def star_rows(path: Path) -> int:
    """The particle rows of a STAR file, counted by starfile (not by cryodedup)."""
    import starfile

    blocks = starfile.read(path, always_dict=True)
    return len(blocks["particles"])


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo's command with --plot and a warning (--topaz-scale, which serves no input here)."""
    out = tmp_path_factory.mktemp("demo") / "out"
    result = cli("particles", *DEMO, "--topaz-scale", "4", "-o", out, "--plot", "--json")
    assert result.exit_code == 0, result.output
    return out, result


def expected_particle_verdict(out: Path) -> str:
    total = sum(star_rows(p) for p in PICKERS)
    kept = len(kept_rows(out / "particles_kept.star"))
    assert star_rows(out / "particles_kept.star") == kept  # (two counts of the output agree)
    return f"Kept {kept:,} of {total:,} ({total - kept:,} duplicates) -> {out / 'particles_kept.star'}"


def test_the_particle_summary_opens_with_the_verdict(demo_run):
    out, result = demo_run
    expected = f"{expected_particle_verdict(out)}. Check: {UNUSED_TOPAZ}"
    assert result.stderr.splitlines()[0] == expected  # the terminal
    assert json.loads(result.stdout)["verdict"] == expected  # --json
    assert body_text(out / "report.html").lines[0] == expected  # report.html


def test_a_run_without_warnings_has_nothing_to_check(tmp_path):
    out = tmp_path / "out"
    result = cli("particles", *DEMO, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == expected_particle_verdict(out)
    assert "Warning" not in result.stderr


def test_warnings_stand_under_the_verdict_before_the_kept_files(demo_run):
    out, result = demo_run
    lines = result.stderr.splitlines()
    warned = [k for k, line in enumerate(lines) if line.startswith(f"Warning: {UNUSED_TOPAZ}")]
    kept_files = [k for k, line in enumerate(lines) if "Kept files" in line]
    assert warned == [1] and kept_files and kept_files[0] > 1, result.stderr
    page = body_text(out / "report.html").lines
    said = [k for k, line in enumerate(page) if line.startswith(UNUSED_TOPAZ)]
    assert said and said[0] <= 3, page[:5]  # under the verdict (and the box's heading)
    assert said[0] < next(k for k, line in enumerate(page) if line.startswith("Kept files"))
    html = (out / "report.html").read_text()
    box = re.search(r"<p class='verdict warn'>.*?</p><div class='warnings'[^>]*><b>Warning</b><ul><li>(.*?)</li>", html)
    assert box and re.sub("<[^>]+>", "", box.group(1)).startswith(UNUSED_TOPAZ)


def test_options_at_their_defaults_are_folded_away(demo_run):
    out, _ = demo_run
    page = body_text(out / "report.html")
    parameters = page.lines[page.lines.index("Parameters") + 1 :]
    topaz = [line for line in parameters if line.startswith("topaz scale")]
    overlap = [line for line in parameters if line.startswith("overlap")]
    assert topaz == ["topaz scale | 4"] and topaz[0] not in page.folded  # given: shown
    assert overlap == ["overlap | 1"] and overlap[0] in page.folded  # the default: in the closed <details>
    assert "<details><summary>" in (out / "report.html").read_text()  # closed: no "open" attribute


def test_the_terminal_leaves_out_a_row_that_restates_a_default(tmp_path):
    result = cli("particles", *DEMO, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    # The pickers' micrographs share their paths: matched by path, as --match-micrographs auto does.
    assert "Micrograph matching" not in result.stderr


def test_a_warning_s_gist_is_its_first_clause_without_a_file():
    from cryodedup.report.verdict import gist, with_checks

    assert gist("a/b.star: no particles (the table has no rows); the kept hold none") == "no particles"
    assert gist("--coverage all was not used: it serves --min-support 2") == "--coverage all was not used"
    same_image = "--same-image: not checked when import lists are given too (a.star: its picks name no image)"
    assert gist(same_image) == "--same-image: not checked when import lists are given too"
    tilt = "t/p.star: data_particles (line 23): 78 particles have rlnAngleTilt outside 0-180° (particle 1: -1°)"
    assert gist(tilt) == "78 particles have rlnAngleTilt outside 0-180°"
    assert (
        gist("/data/picks/a.cbox shares no micrograph with the others, so none")
        == "a.cbox shares no micrograph with the others"
    )
    assert gist("rlnRandomSubset 1/2 pairs straddle: x") == "rlnRandomSubset 1/2 pairs straddle"  # (no path)
    # RELION labels joined by "/" are no path: "particles' rlnAnglePsi lies within ±π" said one angle of three.
    assert (
        gist("a/b.star: 9 particles' rlnAngleRot/rlnAnglePsi are 0: x") == "9 particles' rlnAngleRot/rlnAnglePsi are 0"
    )
    assert gist("a/b.star: 9 angles lie within ±π (rlnAngleRot/rlnAnglePsi, up to 3°): x") == "9 angles lie within ±π"
    # Without a score, a group keeps a random pick; with --prefer, only a group it leaves undecided does.
    from cryodedup.resolve.score import UNDECIDED_BY_PREFER

    no_score = "--score auto: none of rlnA is in a.star, so each group of duplicates {}keeps a seeded random particle"
    assert gist(no_score.format("")) == "no score: each group keeps a random particle"
    undecided = gist(no_score.format(UNDECIDED_BY_PREFER))
    assert undecided == "no score: groups --prefer leaves undecided keep a random pick"
    # A picker folder has no dot nor slash to be told from a clause ("info: no score ..." was "Check: info").
    picks = "info: no score in the picks, so each group of duplicates keeps a seeded random pick (seed 0), as with x"
    assert gist(picks) == "no score: each group keeps a random pick"
    long = "word " * 40
    assert gist(long).endswith("…") and len(gist(long)) <= 73
    assert with_checks("Kept 1 of 2", ["a", "b", "a", ""]) == "Kept 1 of 2. Check: a; b"


@pytest.fixture(scope="module")
def micrograph_run(tmp_path_factory):
    """8 micrographs, one re-exposure of the first; binned 2x so that binned and micrograph pixels differ."""
    pytest.importorskip("PIL")
    from cryodedup.jobs.micrographs import pictures
    from fixtures.synthetic import write_graded_reexposures

    folder = tmp_path_factory.mktemp("mics")
    write_graded_reexposures(folder, np.random.default_rng(3), [2.0], count=8)
    out = folder / "out"
    drawn = []
    original = pictures.rendered
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pictures, "rendered", lambda named: drawn.extend(named) or original(named))
        mrcs = sorted(folder.glob("*.mrc"))
        result = cli("micrographs", *mrcs, "-o", out, "--bin", "2", "--plot", "--plot-pairs", "1", "--json")
    assert result.exit_code == 0, result.output
    return out, result, drawn


def test_the_micrograph_summary_opens_with_the_verdict(micrograph_run):
    out, result, _ = micrograph_run
    kept = (out / "micrographs_kept.txt").read_text().splitlines()
    rejected = (out / "micrographs_rejected.txt").read_text().splitlines()
    with open(out / "pairs.csv") as f:
        pairs = sum(row["duplicate"] == "1" for row in csv.DictReader(f))
    assert (len(rejected), pairs) == (1, 1)  # the one re-exposure
    expected = (
        f"1 duplicate micrograph (1 pair) among {len(kept) + len(rejected)}; kept {len(kept)} -> "
        f"{out / 'micrographs_kept.txt'}. Verdict: TRUSTED"
    )
    assert result.stderr.splitlines()[0] == expected
    summary = json.loads(result.stdout)
    assert summary["verdict"] == {
        "word": "TRUSTED",
        "kind": "good",  # (no warning to check: the report's colour too)
        "line": expected,
        "why": None,
        "trusted": True,
        "check": 0,
    }
    assert body_text(out / "report.html").lines[0] == expected


#: A label that measures a place, a distance or a shift names its unit.
POSITION_LABEL = re.compile(r"\b(x|y|distance|displacement|shift)\b")
UNIT = re.compile(r"\((Å|µm|binned px|binned pixels|micrograph px)\)")


def test_every_micrograph_picture_names_its_units(micrograph_run):
    out, _, drawn = micrograph_run
    # Every picture drawn, a picture added to the registry later too; these at least.
    assert {"z_distribution.png", "z_pearson.png", "pair_1.png"} <= {name for name, _, _ in drawn}
    for name, _, picture in drawn:
        for panel in picture.panels:
            for label in (panel.xlabel, panel.ylabel):
                assert not POSITION_LABEL.search(label) or UNIT.search(label), (name, label)
    with open(out / "pairs.csv") as f:
        (pair,) = [row for row in csv.DictReader(f) if row["duplicate"] == "1"]
    # The overlay's title gives the shift in binned pixels and in Å, as pairs.csv does in
    # pixels of the micrograph (binned 2x) and in Å.
    (pair_figure,) = [picture for name, _, picture in drawn if name == "pair_1.png"]
    title = pair_figure.panels[2].title
    dx, dy = int(pair["shift_x_px"]) // 2, int(pair["shift_y_px"]) // 2
    x_a, y_a = float(pair["shift_x_A"]), float(pair["shift_y_A"])
    assert title == f"overlaid at shift ({dx}, {dy}) binned px\n= ({x_a:.0f}, {y_a:.0f}) Å", title


def test_the_pairs_table_names_the_units_of_its_columns(micrograph_run):
    out, _, _ = micrograph_run
    html = (out / "report.html").read_text()
    table = html.split("<h2>Flagged pairs", 1)[1].split("</table>", 1)[0]
    header = re.findall(r"<th class='col'>([^<]*)</th>", table)
    assert "shift x, y (Å)" in header and "shift x, y (micrograph px)" in header
    with open(out / "pairs.csv") as f:
        (pair,) = [row for row in csv.DictReader(f) if row["duplicate"] == "1"]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table)
    assert f"{pair['shift_x_px']}, {pair['shift_y_px']}" in cells  # the micrograph's pixels, as pairs.csv


def test_every_particle_picture_names_its_units(tmp_path, monkeypatch):
    # (a guard: the particle pictures named their units already)
    from cryodedup.jobs.particles import pictures as plots

    captured = {}
    original = plots.rendered_particle_figures

    def spy(details, n_mics, images):
        captured.update(details=details, images=images)
        return original(details, n_mics, images)

    monkeypatch.setattr(plots, "rendered_particle_figures", spy)
    result = cli("particles", *DEMO, "-o", tmp_path / "out", "--plot")
    assert result.exit_code == 0, result.output
    pictures, _ = plots.particle_figures(captured["details"], 3, captured["images"])
    assert len(pictures) >= 8
    for name, _, picture in pictures:
        for panel in picture.panels:
            for label in (panel.xlabel, panel.ylabel):
                assert not POSITION_LABEL.search(label) or UNIT.search(label), (name, label)


def test_a_job_that_fails_says_its_warnings_before_the_error(capsys):
    from cryodedup.cli_run import run_job
    from cryodedup.errors import CryodedupError
    from cryodedup.report.terminal import Reporter

    report = Reporter(quiet=False)

    def job():
        report.log("said before it failed", "warning")
        raise CryodedupError("broken")

    with pytest.raises(SystemExit):
        run_job(lambda: report.holding_warnings(job))
    err = capsys.readouterr().err
    assert err.index("Warning: said before it failed") < err.index("Error: broken")


def test_the_verdict_names_where_nothing_was_written_and_what_the_report_flags():
    from cryodedup.jobs.particles.summary import ParticleSummary, verdict_of
    from cryodedup.report.sections import HalfsetAudit, Outputs

    audit = HalfsetAudit("rlnRandomSubset", "within 10 Å", duplicate_pairs=3, straddling_pairs=3)
    summary = ParticleSummary(particles=2, kept=1, rejected=1, outputs=Outputs.of({"kept": [], "rejected": []}))
    assert verdict_of(summary) == "Kept 1 of 2 (1 duplicate) -> nothing written (--audit)"
    flagged = ParticleSummary(particles=5, kept=5, halfset_audit=audit, outputs=Outputs.of({"kept": ["a.cs", "a.csg"]}))
    assert verdict_of(flagged) == "Kept 5 of 5 (0 duplicates) -> a.csg (and 1 more file). Check: half-set audit"
