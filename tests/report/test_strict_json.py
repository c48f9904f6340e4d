"""Every job's ``--json`` is strict JSON (issue 38, item 9): null, never NaN or Infinity.

The oracle is a strict parser (Python's, told to refuse the constants NaN, Infinity and
-Infinity, as jq and JavaScript do) over each job's real ``--json`` output.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from cryodedup.report.terminal import strict_json
from fixtures.synthetic import (
    cs_particles,
    multihole_session,
    write_cs,
    write_epu_session,
    write_example,
    write_session_micrographs,
)
from helpers import write_planted_micrographs
from picker_files import relion3_job


def strictly(text):
    """The JSON of ``text``, parsed as strictly as jq: a bare NaN or Infinity fails."""

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def run_json(*args):
    result = CliRunner().invoke(main, [*map(str, args), "--json", "-q"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return [strictly(line) for line in lines]


def test_strict_json_writes_null_for_non_finite_numbers():
    value = {"a": math.nan, "b": [1.5, math.inf, {"c": -math.inf}], "d": (np.float64("nan"), 2), "e": "NaN"}
    assert strictly(strict_json(value)) == {"a": None, "b": [1.5, None, {"c": None}], "d": [None, 2], "e": "NaN"}
    assert strict_json({"x": 1.0}) == json.dumps({"x": 1.0})  # finite: as json.dumps writes it


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    folder = tmp_path_factory.mktemp("session")
    rng = np.random.default_rng(5)
    exposures = multihole_session(rng, squares=1, stops=(2, 2), holes=2, reexposures=2)
    write_epu_session(folder / "EPU", exposures)
    write_session_micrographs(folder / "Mics", exposures, rng)
    return folder


def test_particle_jobs_json_is_strict(tmp_path):
    example = write_example(tmp_path / "example")
    run_json("particles", example[0], example[1], "-o", tmp_path / "star")
    write_cs(tmp_path / "p.cs", cs_particles(np.random.default_rng(1), 500))
    run_json("particles", tmp_path / "p.cs", "-o", tmp_path / "cs")
    rng = np.random.default_rng(0)
    picks = {f"m{k}": [tuple(map(float, row)) for row in rng.uniform(0, 4000, (20, 3))] for k in range(3)}
    folder, _ = relion3_job(tmp_path / "project", picks)
    run_json("particles", folder, "-o", tmp_path / "picks")
    rows = [" ".join(["1"] + ["0"] * 18 + ["1", "0", "0", "0", *xyz.split()]) for xyz in ("10 10 10", "12 10 10")]
    (tmp_path / "t.tbl").write_text("\n".join(rows) + "\n")
    run_json("particles", tmp_path / "t.tbl", "--mic-psize", "1", "-o", tmp_path / "tomo")
    for k in (1, 2):  # a shard's table and the merge's summary
        run_json("particles", example[0], example[1], "-o", tmp_path / "shards", "--shard", f"{k}/2")
    run_json("particles-merge", tmp_path / "shards", "-o", tmp_path / "merged")


@pytest.mark.slow
def test_micrograph_jobs_json_is_strict(session, tmp_path):
    (tmp_path / "mics").mkdir()
    mics = write_planted_micrographs(tmp_path / "mics", 6, {5: 2})
    run_json("micrographs", *mics, "--bin", "1", "-o", tmp_path / "images")
    for k in (1, 2):
        run_json("micrographs", *mics, "--bin", "1", "--shard", f"{k}/2", "-o", tmp_path / "shards")
    run_json("micrographs-merge", tmp_path / "shards", "-o", tmp_path / "merged")
    run_json("micrographs", *mics, "--bin", "1", "--update", "-o", tmp_path / "update")
    # --no-images with metadata: no pixel size, no band (the reported NaN).
    (summary,) = run_json(
        "micrographs", session / "Mics" / "*.mrc", "--metadata", session / "EPU", "--no-images", "-o", tmp_path / "m"
    )
    assert summary["pixel_size_A"] is None
