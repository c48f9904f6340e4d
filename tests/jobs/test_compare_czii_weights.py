"""``compare --metric czii --czii-weights``: the weighted score divided as the species scored, or as the challenge's
code divides it (by every challenge species' weights), against tests/czii_oracle.py. Picker files: no copick needed
(tests/jobs/test_compare_czii.py scores copick projects of several species so)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from czii_oracle import WEIGHTS, challenge_code_score, described_metric

ROUNDED = 5e-5 + 1e-12


def files(tmp_path):
    """A reference of 30 picks on three micrographs, and a candidate finding 20 of them (5 twice) and 6 strays."""
    rng = np.random.default_rng(78)
    truth = rng.uniform(0, 2000, (30, 2)).round(1)
    mics = rng.integers(0, 3, 30)
    found = np.concatenate([truth[:20] + 4, truth[:5] - 4, rng.uniform(0, 2000, (6, 2)).round(1)])
    found_mics = np.concatenate([mics[:20], mics[:5], rng.integers(0, 3, 6)])
    head = "image_name\tx_coord\ty_coord\n"
    (tmp_path / "a.txt").write_text(head + "".join(f"mic{g}\t{x}\t{y}\n" for g, (x, y) in zip(mics, truth)))
    (tmp_path / "b.txt").write_text(head + "".join(f"mic{g}\t{x}\t{y}\n" for g, (x, y) in zip(found_mics, found)))
    reference = [(int(g), "picks", (x, y, 0.0)) for g, (x, y) in zip(mics, truth)]
    candidate = [(int(g), "picks", (x, y, 0.0)) for g, (x, y) in zip(found_mics, found)]
    return reference, candidate


def test_czii_weights_all_divides_by_every_challenge_species_weights(tmp_path):
    # On main: no such option; the score of one class is its F-beta (divided by its own weight, 1).
    reference, candidate = files(tmp_path)
    per_class, present = described_metric(reference, candidate, {"picks": 40.0}, {"picks": 1.0})
    literal = challenge_code_score(per_class, WEIGHTS)  # (F x 1 / 7: "picks" weighs 1, as weights.get gives it)
    args = ["compare", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "--mic-psize", "1", "--topaz-scale", "1"]
    args += ["--reference", "1", "--radius", "40", "--metric", "czii"]
    for choice, expected, divided in (("present", present, 1.0), ("all", literal, 7.0)):
        result = CliRunner().invoke(main, [*args, "--czii-weights", choice, "--json", "-q"])
        assert result.exit_code == 0, result.output
        czii = json.loads(result.stdout)["czii"]
        assert czii["score"] == pytest.approx(expected, abs=ROUNDED)
        assert (czii["weights_over"], czii["divided_by"]) == (choice, divided)
    said = " ".join(CliRunner().invoke(main, [*args, "--czii-weights", "all"]).output.split())
    assert f"{literal:.4f}: F4 per species weighted, divided by every challenge species' weights (7" in said
    said = " ".join(CliRunner().invoke(main, args).output.split())
    assert "divided by the scored species' weights (1; --czii-weights all" in said


@pytest.mark.parametrize(
    ("given", "divided", "said"), [("ribosome=5", 11.0, "counted in"), ("ribsome=5", 7.0, "not used")]
)
def test_a_weight_of_a_species_not_scored_is_divided_by_only_when_said_so(tmp_path, given, divided, said):
    # Issue 99: --czii-weights all --weights ribosome=5 warned "those weights are not used" yet divided by them
    # (7 - 1 + 5); a misspelt name (ribsome) was divided by too (7 + 5). Now: a challenge species' weight is
    # counted, as the challenge's code counts it, and said so; any other is used nowhere.
    reference, candidate = files(tmp_path)
    per_class, _ = described_metric(reference, candidate, {"picks": 40.0}, {"picks": 1.0})
    name, weight = given.split("=")
    weights = {**WEIGHTS, name: float(weight)} if name in WEIGHTS else WEIGHTS
    args = ["compare", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "--mic-psize", "1", "--topaz-scale", "1"]
    args += ["--reference", "1", "--radius", "40", "--metric", "czii", "--czii-weights", "all", "--weights", given]
    result = CliRunner().invoke(main, [*args, "--json", "-q"])
    czii = json.loads(result.stdout)["czii"]
    assert czii["divided_by"] == divided
    assert czii["score"] == pytest.approx(challenge_code_score(per_class, weights), abs=ROUNDED)
    warned = " ".join(CliRunner().invoke(main, args).output.split())
    assert f"--weights names {name}, which the reference has no picks of" in warned and said in warned
