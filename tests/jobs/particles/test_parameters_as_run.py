"""report.html's Parameters say what the run made of the options it resolved (shift, score, pixel size, ...).

A bare ``shift | auto`` beside the summary's ``Shift | none`` told two stories. The oracle of each
resolved value is the input files, read here with starfile: their columns (origins, scores) and the
micrographs STAR's pixel size, and the rules the options' help states (``--score auto``: the first
of rlnAutopickFigureOfMerit, ...; a figure of merit ranks higher first).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import starfile
from click.testing import CliRunner

import cryodedup
from cryodedup.cli import main
from helpers import shared_file
from report.test_verdict import body_text

EXAMPLES = Path(cryodedup.__file__).parent / "examples"
PICKERS = [EXAMPLES / "particles_log.star", EXAMPLES / "particles_template.star"]
MICROGRAPHS = EXAMPLES / "micrographs_ctf.star"
#: ``--score auto``'s columns in the order the option's help names them.
AUTO_SCORES = ("rlnAutopickFigureOfMerit", "rlnMaxValueProbDistribution", "rlnLogLikeliContribution")


def parameters(out: Path) -> dict[str, str]:
    """report.html's Parameters table (given and folded), label -> value."""
    lines = body_text(out / "report.html").lines
    rows = lines[lines.index("Parameters") + 1 : lines.index("Pictures")]
    return dict(line.split(" | ", 1) for line in rows if " | " in line)


def run(out: Path, *args) -> dict[str, str]:
    result = CliRunner().invoke(main, ["particles", *map(str, args), "-o", str(out), "--plot"])
    assert result.exit_code == 0, result.output
    return parameters(out)


def particles(path: Path):
    return starfile.read(path, always_dict=True)["particles"]


def test_the_options_left_to_the_run_say_what_it_made_of_them(tmp_path):
    blocks = starfile.read(PICKERS[0], always_dict=True)  # the LoG picker's particles, their origins dropped
    blocks["particles"] = blocks["particles"].drop(columns=["rlnOriginXAngst", "rlnOriginYAngst"])
    log = tmp_path / "unshifted.star"
    starfile.write(blocks, log)
    columns = particles(log).columns
    assert not any(c.startswith("rlnOrigin") for c in columns)  # nothing to subtract
    score = next(c for c in AUTO_SCORES if c in columns)
    psize = float(starfile.read(MICROGRAPHS)["optics"]["rlnMicrographPixelSize"].iloc[0])
    shown = run(tmp_path / "out", log, "--micrographs", MICROGRAPHS)
    assert shown["shift"].startswith("auto: none (")  # not a bare "auto" beside the summary's "Shift | none"
    assert shown["score"] == f"auto: {score}"
    assert shown["score order"] == "auto: max"  # a figure of merit: higher is better
    assert shown["micrograph pixel size (Å)"].startswith(f"not given: {psize:g} Å from rlnMicrographPixelSize in ")


def test_an_automatic_shift_names_the_origin_columns_it_subtracted(tmp_path):
    template = PICKERS[1]
    origins = [c for c in particles(template).columns if c.startswith("rlnOrigin")]
    assert origins == ["rlnOriginXAngst", "rlnOriginYAngst"]
    shown = run(tmp_path / "out", template, "--score", "rlnAutopickFigureOfMerit", "--score-order", "min")
    assert shown["shift"] == f"auto: {', '.join(origins)}"
    assert (shown["score"], shown["score order"]) == ("rlnAutopickFigureOfMerit", "min")  # given: as given
    assert shown["micrograph pixel size (Å)"].startswith("not given: 1.06 Å from rlnMicrographOriginalPixelSize")


@pytest.mark.real_data
def test_the_tutorial_pickers_parameters_agree_with_their_summary(tmp_path, monkeypatch):
    """The trial's run: RELION 3.1 tutorial's LoG and template AutoPick jobs, which have no origin columns."""
    micrographs = shared_file("picks/relion31-tutorial/CtfFind/job003/micrographs_ctf.star")
    monkeypatch.chdir(micrographs.parents[2])
    jobs = [Path("AutoPick/job006"), Path("AutoPick/job011")]
    picks = [next(job.glob("Movies/*_autopick.star")) for job in jobs]
    assert not any(c.startswith("rlnOrigin") for p in picks for c in starfile.read(p).columns)
    psize = float(starfile.read(micrographs)["optics"]["rlnMicrographPixelSize"].iloc[0])
    out = tmp_path / "out"
    shown = run(out, *jobs, "--min-dist", "80", "--micrographs", "CtfFind/job003/micrographs_ctf.star")
    summary = dict(line.split(" | ", 1) for line in body_text(out / "report.html").lines if " | " in line)
    assert summary["Shift"] == "none" and shown["shift"].startswith("auto: none (")
    assert shown["score"] == "auto: rlnAutopickFigureOfMerit"
    assert shown["micrograph pixel size (Å)"].startswith(f"not given: {psize:g} Å from rlnMicrographPixelSize")
    assert shown["output format"] == "auto: relion"  # the pickers' own: RELION coordinate files
