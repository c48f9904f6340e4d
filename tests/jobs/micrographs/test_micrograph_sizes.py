"""Issue 30 item 10: size options bounded by what the input can use, absurd values refused in one line."""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from fixtures.synthetic import band_noise, write_mrc

HUGE = str(2**62)


@pytest.fixture(scope="module")
def micrographs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mics")
    rng = np.random.default_rng(0)
    for k in range(5):
        # (a specimen, details of 16-100 Å, and noise of its own: white noise alone holds nothing a re-exposure
        # of it could be told by, and the screen would be blind)
        image = band_noise(rng, 128, 128, 4.0, 16.0, 100.0) + 0.3 * rng.normal(size=(128, 128))
        write_mrc(folder / f"m{k}.mrc", image.astype(np.float32), 4.0)
    return sorted(map(str, folder.glob("*.mrc")))


def run(micrographs, out, *options):
    return CliRunner().invoke(main, ["micrographs", *micrographs, "-o", str(out), "--bin", "1", *options])


def scored_pairs(out) -> set[frozenset[str]]:
    with open(out / "pairs.csv") as f:
        return {frozenset((row["name_a"], row["name_b"])) for row in csv.DictReader(f)}


@pytest.mark.parametrize(
    ("options", "why"),
    [
        (
            ["--candidates", "window", "--window", HUGE],
            "--window must be a whole number of images from 1 to 10,000,000",
        ),
        (["--candidates", "pattern", "--scan-range", "1000000000000"], "--scan-range must be a whole number of images"),
        (["--candidates", "pattern", "--images-per-move", HUGE], "--images-per-move must be a whole number of images"),
        (["--candidates", "pattern", "--images-per-hole", "-3"], "--images-per-hole must be a whole number of images"),
        (["--bin", HUGE], "--bin must be a whole number from 1 to 100,000"),
        (["--target-psize", "1e300"], "--target-psize must be a finite number of Å above 0, to 1,000,000"),
        (["--lowpass", "nan"], "--lowpass must be a finite number of Å above 0"),
        (["--shard", f"1/{HUGE}"], "expected K/N with 1 <= K <= N <= 10,000,000"),
    ],
)
def test_absurd_sizes_are_refused_in_one_line(micrographs, tmp_path, options, why):
    # Before: numpy's "array is too big" or "Unable to allocate 7.28 TiB" tracebacks, a scan
    # range of 1e12 that looped until memory ran out, a shard of 2**62 that wrote float pairs.
    result = run(micrographs, tmp_path / "out", *options)
    assert result.exit_code == 2, result.output  # (an option's value refused: a usage error)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and why in lines[0], result.output


def test_a_watch_of_nan_is_refused_as_a_usage_error_in_one_line(micrographs, tmp_path):
    # (click's range let NaN through to the job's own check; every ranged option now refuses it, as it does inf)
    result = run(micrographs, tmp_path / "out", "--watch", "nan")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: Invalid value for '--watch': 'nan' is not a number")


def test_a_window_or_scan_range_beyond_the_micrographs_compares_every_pair_once(micrographs, tmp_path):
    # The oracle: every pair of the five micrographs, by brute force.
    names = list(micrographs)
    every = {frozenset(pair) for pair in itertools.combinations(names, 2)}
    window = run(micrographs, tmp_path / "window", "--candidates", "window", "--window", "9999999")
    assert window.exit_code == 0, window.output
    pattern = run(
        micrographs,
        tmp_path / "pattern",
        *["--candidates", "pattern", "--scan-range", "9999999", "--images-per-move", "1", "--images-per-hole", "1"],
    )
    assert pattern.exit_code == 0, pattern.output
    assert scored_pairs(tmp_path / "window") == scored_pairs(tmp_path / "pattern") == every


def test_more_shards_than_micrographs_leave_valid_empty_shards(micrographs, tmp_path):
    # Shard 7 of 8 owns no image: its pairs were float64, and the merge refused its own shard.
    for k in range(1, 9):
        result = run(micrographs, tmp_path / "shards", "--shard", f"{k}/8")
        assert result.exit_code == 0, result.output
    merged = CliRunner().invoke(main, ["micrographs-merge", str(tmp_path / "shards"), "-o", str(tmp_path / "merged")])
    assert merged.exit_code == 0, merged.output
    whole = run(micrographs, tmp_path / "whole")
    assert whole.exit_code == 0, whole.output
    assert scored_pairs(tmp_path / "merged") == scored_pairs(tmp_path / "whole")
