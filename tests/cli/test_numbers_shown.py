"""Numbers and words a user reads that must mean what they say (issue 76 item 4).

Each case failed before: a record of rejections naming no particle, advice to give the
``--prefer`` already given, a pair card's shift of -9223372036854776000 Å, "0% agreed" where
no second picker ran, a CZII score whose oddity went unexplained, NaN taken for a number, and
an API error naming a command-line flag.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import shlex
import shutil
import typing
from pathlib import Path

import click
import numpy as np
import pytest
import starfile
from click.testing import CliRunner

import cryodedup.report
from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.options import CompareOptions, MicrographOptions, ParticleOptions
from fixtures.refined_and_picks import refined_2d_project
from fixtures.synthetic import multihole_session, write_epu_session, write_session_micrographs


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


def _index(path: Path) -> dict:
    """A page's data file (``window.X = {...};``) as JSON."""
    text = path.read_text()
    return json.loads(text[text.index("=") + 1 :].strip().rstrip(";"))


def test_pair_cards_say_no_shift_measured_without_images(tmp_path):
    """micrographs --metadata --no-images --plot: no image measured a shift, so no card gives one.

    Before, each card said "shift -9223372036854776000, ..." (NaN cast to int64).
    """
    rng = np.random.default_rng(5)
    exposures = multihole_session(rng, squares=1, stops=(2, 2), holes=2, reexposures=2)
    write_epu_session(tmp_path / "EPU", exposures)
    write_session_micrographs(tmp_path / "Mics", exposures, rng)
    args = ["micrographs", tmp_path / "Mics" / "*.mrc", "--metadata", tmp_path / "EPU", "--no-images", "--plot"]
    status, text = _run([*args, "-o", tmp_path / "out"])
    assert status == 0, text
    index = _index(tmp_path / "out" / "pairs" / "index.js")
    assert index["z"] and index["shiftA"] == [None] * len(index["z"])
    script = (Path(cryodedup.report.__file__).parent / "pair_page.js").read_text()
    assert "no shift measured" in script
    for page in (tmp_path / "out").rglob("*.*"):
        if page.suffix in (".html", ".js", ".csv"):
            assert "922337203685477" not in page.read_text(), page


def _two_pickers(tmp: Path, b_micrographs: range) -> list[Path]:
    """Picker a on 24 micrographs, b the same picks on ``b_micrographs`` only (Topaz tables)."""
    rng = np.random.default_rng(3)
    a, ma = rng.uniform(0, 4000, (24 * 40, 2)), np.repeat(np.arange(24), 40)
    on_b = np.isin(ma, list(b_micrographs))
    paths = [tmp / "a.txt", tmp / "b.txt"]
    for path, (xy, mics) in zip(paths, ((a, ma), (a[on_b], ma[on_b]))):
        rows = [f"mic{m}\t{x:.3f}\t{y:.3f}" for m, (x, y) in zip(mics, xy)]
        path.write_text("\n".join(["image_name\tx_coord\ty_coord", *rows]) + "\n")
    return paths


TOPAZ = ["--mic-psize", "1", "--topaz-scale", "1", "--min-dist", "20"]


def test_no_agreement_measured_where_one_picker_ran(tmp_path):
    """The micrograph page: b picked 5 of the 24 micrographs; the other 19 have no agreement, not 0 %.

    The oracle: b's picks are a's, so where both picked every kept pick agreed (1.0).
    """
    paths = _two_pickers(tmp_path, range(5))
    status, text = _run(["particles", *paths, *TOPAZ, "--plot", "-o", tmp_path / "out", "-q"])
    assert status == 0, text
    index = _index(tmp_path / "out" / "micrographs" / "index.js")
    order = [int(name.removeprefix("mic")) for name in index["names"]] if "names" in index else list(range(24))
    expected = [1.0 if m < 5 else None for m in order]
    assert index["agreement"] == expected
    script = (Path(cryodedup.report.__file__).parent / "micrograph_page.js").read_text()
    assert "no agreement measured" in script


def test_the_terminal_says_no_agreement_measured(tmp_path):
    """Two pickers on micrographs apart (a on 0..23, b on none of them): their agreement is not measured."""
    paths = _two_pickers(tmp_path, range(0))
    paths[1].write_text("image_name\tx_coord\ty_coord\nmic99\t100.0\t100.0\n")
    status, text = _run(["particles", *paths, *TOPAZ, "--min-support", "2", "-o", tmp_path / "out"])
    assert status == 0, text
    assert "/ b.txt │ no agreement measured (no micrograph both ran on) " in text and "n/a" not in text, text


def test_a_czii_candidate_between_two_references_is_explained(tmp_path):
    """One candidate within the radius of two close references: TP 2, FP -1, precision 2 (the published rule).

    The counts from the oracle (tests/czii_oracle.py, the challenge's metric written out); the
    line that shows them says why, and so does the sweep's average precision above 1.
    """
    from czii_oracle import described_metric

    (tmp_path / "a.txt").write_text("image_name\tx_coord\ty_coord\nmic0\t1000.0\t1000.0\nmic0\t1016.0\t1000.0\n")
    (tmp_path / "b.txt").write_text("image_name\tx_coord\ty_coord\tscore\nmic0\t1008.0\t1000.0\t0.9\n")
    reference = [(0, "picks", (1000.0, 1000.0, 0.0)), (0, "picks", (1016.0, 1000.0, 0.0))]
    expected, _ = described_metric(reference, [(0, "picks", (1008.0, 1000.0, 0.0))], {"picks": 40.0}, {"picks": 1})
    assert expected["picks"][:4] == (2, -1, 0, 2.0)
    args = ["compare", tmp_path / "a.txt", tmp_path / "b.txt", "--mic-psize", "1", "--topaz-scale", "1"]
    status, text = _run([*args, "--reference", "1", "--radius", "40", "--metric", "czii"])
    assert status == 0, text
    text = " ".join(text.replace("│", " ").split())
    assert "FP -1" in text and "precision 2.000" in text, text
    assert "FP below 0 and precision above 1 are the challenge's own rule" in text, text
    assert "(above 1: a candidate hit several reference picks" in text, text


def _float_options() -> list[tuple[str, click.Parameter]]:
    """Every option of every command whose values are numbers (click's float types, ours among them)."""
    found = []

    def walk(command: click.Command, path: str) -> None:
        for param in command.params:
            if isinstance(param.type, click.types.FloatParamType):
                found.append((f"{path} {param.opts[-1]}", param))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(main, "cryodedup")
    return found


def test_nan_is_refused_by_every_ranged_option():
    """NaN passes every range check (each comparison is False): each option with a range refuses it, as inf.

    Every command's, found by walking them (not a list kept by hand); ``--max-angle`` (particles)
    among them.
    """
    options = [(name, p) for name, p in _float_options() if isinstance(p.type, click.FloatRange)]
    assert "cryodedup particles --max-angle" in {name for name, _ in options}
    for name, param in options:
        with pytest.raises(click.BadParameter, match="inf"):
            param.type.convert("inf", param, None)  # (the range's own refusal of another non-finite value)
        for text in ("nan", "NaN", "-nan"):
            with pytest.raises(click.BadParameter, match="not a number"):
                param.type.convert(text, param, None)
                pytest.fail(f"{name} took {text}")


def _number_fields(kind: type) -> list[str]:
    """The options' fields that hold a number (a float default, or an optional float)."""
    hints = typing.get_type_hints(kind)
    return [f.name for f in dataclasses.fields(kind) if hints[f.name] in (float, float | None, typing.Optional[float])]


@pytest.mark.parametrize("kind", [ParticleOptions, MicrographOptions, CompareOptions])
def test_nan_is_refused_by_every_number_field_as_infinity_is(kind):
    """Each number field: where its check refuses inf, it refuses NaN too (the API's path, and the CLI's).

    The oracle is the check itself given inf: a field that takes inf is not asked to refuse NaN.
    """
    names = _number_fields(kind)
    assert names
    for name in names:
        try:
            kind(**{name: math.inf}).check()
        except CryodedupError:
            with pytest.raises(CryodedupError):
                kind(**{name: math.nan}).check()


def test_nan_on_the_command_line_is_refused_as_inf_is(tmp_path):
    """A ranged option (particles' --max-angle): NaN and inf refused alike, one line, exit 2, nothing written."""
    (tmp_path / "a.txt").write_text("image_name\tx_coord\ty_coord\nmic0\t1.0\t1.0\n")
    said = {}
    for value in ("inf", "nan"):
        args = ["particles", tmp_path / "a.txt", "--topaz-scale", "1", "--max-angle", value, "-o", tmp_path / "o"]
        status, text = _run(args)
        assert status == 2 and "Invalid value for '--max-angle'" in text and "Traceback" not in text, text
        said[value] = text
    assert "not a number" in said["nan"] and not (tmp_path / "o").exists()


def test_the_prefer_advice_runs_as_printed_for_a_file_whose_name_holds_spaces(tmp_path, monkeypatch):
    """The refined set saved as "run data.star" (a name with a space): the advice names it quoted, and pasted into a
    shell as printed (split by shlex, as a shell would) it is taken: no pick outranks a refined particle (read from
    decisions.csv: no refined particle lost to a pick) and the warning goes."""
    args = _refined_and_hand_picks(tmp_path, monkeypatch)
    spaced = Path(args[0]).with_name("run data.star")
    shutil.copy(args[0], spaced)
    args[0] = str(spaced)
    status, text = _run(["particles", *args, "-o", "without", "--json"])
    assert status == 0, text
    (advice,) = [w for w in json.loads(text.splitlines()[-1])["warnings"] if "give --prefer" in w]
    pasted = shlex.split(advice[advice.index("give --prefer ") + len("give ") :])
    assert pasted == ["--prefer", args[0]], advice
    status, text = _run(["particles", *args, *pasted, "--decisions", "-o", "with", "--json"])
    assert status == 0 and "not one scale" not in text, text
    with open("with/decisions.csv", newline="") as handle:
        record = list(csv.DictReader(handle))
    assert record and not [r for r in record if r["input"] == args[0] and r["kept_input"] != args[0]], record[:3]
