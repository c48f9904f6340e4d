"""--skip-unreadable skips a micrograph whose pixels hold NaN or infinities (stop 94's new-user trial: it refused the
run), named, as it skips one that cannot be read.

Oracle: a run of the same micrographs without the spoiled ones (their duplicates and rejected micrographs, by name).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from fixtures.synthetic import write_mrc
from helpers import write_planted_micrographs

SPOILED = {1: np.nan, 10: np.inf}  # (mic_2, mic_11: no pair's; mic_6 re-exposes mic_4, mic_9 mic_3)


@pytest.fixture(scope="module")
def micrographs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mics")
    mics = write_planted_micrographs(folder, 12)
    for k, value in SPOILED.items():
        import mrcfile

        with mrcfile.open(mics[k]) as mrc:
            image = mrc.data.copy()
        image[7, 11] = value
        write_mrc(mics[k], image, 12.0)
    return mics


def _run(words):
    result = CliRunner().invoke(main, [*map(str, words)])
    return result.exit_code, result.stdout, result.stderr


def _named_pairs(out):
    with open(out / "duplicates.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Original", "Duplicate"]
    return sorted(tuple(Path(name).name for name in row) for row in rows[1:])


def test_refused_without_it_naming_the_micrograph_and_the_option(micrographs, tmp_path):
    status, _, err = _run(["micrographs", *micrographs, "-o", tmp_path / "out", "--bin", "1"])
    assert status == 1
    assert err.strip() == (
        f"Error: {micrographs[1]}: holds NaN or infinite pixels, which make every comparison with it meaningless; "
        "repair or leave out this micrograph (--skip-unreadable goes on without it)"
    )


def test_skipped_and_named_with_it_as_a_run_without_them_decides(micrographs, tmp_path):
    words = ["micrographs", *micrographs, "-o", tmp_path / "out", "--bin", "1", "--skip-unreadable", "--json"]
    status, out, err = _run(words)  # (the refusal's advice, as printed)
    assert status == 0, err
    summary = json.loads(out)
    spoiled = [str(micrographs[k]) for k in sorted(SPOILED)]
    assert summary["unreadable"] == spoiled
    for path in spoiled:
        assert f"{path}: holds NaN or infinite pixels; left out (--skip-unreadable), the rest scored" in err
    others = [m for k, m in enumerate(micrographs) if k not in SPOILED]
    status, _, err = _run(["micrographs", *others, "-o", tmp_path / "oracle", "--bin", "1"])
    assert status == 0, err
    assert (
        _named_pairs(tmp_path / "out")
        == _named_pairs(tmp_path / "oracle")
        == [
            ("mic_3.mrc", "mic_9.mrc"),
            ("mic_4.mrc", "mic_6.mrc"),
        ]
    )  # (the planted truth: helpers.PLANTED_MICROGRAPHS)
    rejected = (tmp_path / "out" / "micrographs_rejected.txt").read_text()
    assert rejected == (tmp_path / "oracle" / "micrographs_rejected.txt").read_text()


def test_an_update_round_skips_them_too(micrographs, tmp_path):
    words = ["micrographs", *micrographs, "-o", tmp_path / "out", "--bin", "1", "--skip-unreadable", "--update"]
    status, _, err = _run([*words, "--json"])
    assert status == 0, err
    status, out, err = _run([*words, "--json"])  # (the next round reads only them again, and skips them again)
    assert status == 0, err
    assert json.loads(out)["unreadable"] == [str(micrographs[k]) for k in sorted(SPOILED)]


def test_a_shard_refuses_without_advising_what_it_cannot_do(micrographs, tmp_path):
    words = ["micrographs", *micrographs, "-o", tmp_path / "out", "--bin", "1", "--skip-unreadable", "--shard", "1/1"]
    status, _, err = _run(words)
    assert status == 1
    assert "leave it out of every shard's inputs" in err and "not in shards" in err


def test_finite_pixels_whose_binning_overflows_are_named_as_such(micrographs, tmp_path):
    # Issue 99: a finite -3e38 pixel was refused as "NaN or infinite": the overflow is the binning's, not the file's.
    import mrcfile

    spoiled = tmp_path / "mic_huge.mrc"
    with mrcfile.open(micrographs[0]) as mrc:
        image = mrc.data.astype(np.float32)
    image[6:10, 10:14] = np.float32(-3e38)
    assert np.isfinite(image).all()
    write_mrc(spoiled, image, 12.0)
    others = [m for k, m in enumerate(micrographs) if k not in SPOILED]
    status, _, err = _run(["micrographs", *others, spoiled, "-o", tmp_path / "out", "--bin", "2"])
    assert status == 1
    assert err.strip() == (
        f"Error: {spoiled}: holds finite pixels so large that binning them overflows (float32's range, 3.4e38), "
        "which make every comparison with it meaningless; repair or leave out this micrograph (--skip-unreadable "
        "goes on without it)"
    )
