"""Numbers and words a user reads that must mean what they say (issue 76 item 4).

Each case failed before: a record of rejections naming no particle, advice to give the
``--prefer`` already given, a pair card's shift of -9223372036854776000 Å, "0% agreed" where
no second picker ran, a CZII score whose oddity went unexplained, NaN taken for a number, and
an API error naming a command-line flag.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import starfile
from click.testing import CliRunner

from cryodedup.cli import main
from fixtures.refined_and_picks import refined_2d_project


def _run(args: list) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def _refined_and_hand_picks(tmp: Path, monkeypatch, second_job: bool = False) -> list[str]:
    """The refined set (without a figure of merit, as Refine3D's after Polish) and one or two ManualPick jobs."""
    project = refined_2d_project(tmp)
    monkeypatch.chdir(tmp)
    blocks = starfile.read(project.refined, always_dict=True)
    blocks["particles"] = blocks["particles"].drop(columns=["rlnAutopickFigureOfMerit"])
    starfile.write(blocks, project.refined)
    jobs = [project.picks]
    if second_job:
        second = Path("ManualPick/job005")
        shutil.copytree(Path(project.picks, "Movies"), second / "Movies")
        listed = Path(project.picks, "manualpick.star").read_text().replace("job004", "job005")
        (second / "manualpick.star").write_text(listed)
        (second / "job.star").write_text(Path(project.picks, "job.star").read_text())
        jobs.append(str(second))
    return [project.refined, *jobs, "--micrographs", project.micrographs, "--min-dist", "30"]


def test_the_record_names_refined_particles_and_hand_picks(tmp_path, monkeypatch):
    """decisions.csv of a refined STAR merged with hand picks names every particle and its partner.

    The oracle: each rejected hand pick's file and line hold the coordinates it was written
    with (the fixture's rows), and each kept partner's name is the refined file's rlnImageName
    at the row the record gives (read with starfile).
    """
    args = _refined_and_hand_picks(tmp_path, monkeypatch)
    status, text = _run(["particles", *args, "--decisions", "-o", "out", "-q"])
    assert status == 0, text
    with open("out/decisions.csv", newline="") as handle:
        record = list(csv.DictReader(handle))
    images = list(starfile.read(args[0], always_dict=True)["particles"]["rlnImageName"])
    assert record

    def named(input_: str, row: str, name: str) -> bool:
        if input_ == args[0]:
            return name == images[int(row) - 1]
        path, _, line = name.rpartition(": line ")
        written = Path(path).read_text().splitlines()[int(line) - 1].split()
        return input_ == "ManualPick/job004" and written[2:] == ["-999", "-999.000000", "-999.000000"]

    for row in record:
        assert {row["input"], row["kept_input"]} == {args[0], "ManualPick/job004"}, row
        assert named(row["input"], row["row"], row["particle"]), row
        assert named(row["kept_input"], row["kept_row"], row["kept_particle"]), row


def test_no_advice_to_give_the_prefer_given(tmp_path, monkeypatch):
    """Refined particles and two ManualPick jobs, --prefer naming the refined set: no "give --prefer" for it."""
    args = _refined_and_hand_picks(tmp_path, monkeypatch, second_job=True)
    status, text = _run(["particles", *args, "--prefer", args[0], "-o", "out", "--json"])
    assert status == 0, text
    warnings = json.loads(text.splitlines()[-1])["warnings"]
    assert not [w for w in warnings if "--prefer" in w], warnings
    # Without it the advice is given, and run as printed it is taken and the warning goes.
    status, text = _run(["particles", *args, "-o", "without", "--json"])
    warnings = json.loads(text.splitlines()[-1])["warnings"]
    (advice,) = [w for w in warnings if "give --prefer" in w]
    assert advice.endswith(f"give --prefer {args[0]}"), advice
    status, text = _run(["particles", *args, "--prefer", advice.rpartition(" ")[2], "-o", "with", "--json"])
    assert status == 0 and "not one scale" not in text, text
