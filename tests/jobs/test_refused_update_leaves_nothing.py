"""A refused --update round leaves nothing behind (stop 94's new-user trial: a 0-byte store.sqlite and its journal
stayed in seen/ after a refused first round of the micrograph job).

Oracle: the folder's listing before and after the refused run.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from cryodedup.jobs.particles.store import KeptStore
from fixtures.synthetic import write_mrc
from helpers import write_planted_micrographs, write_star


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("outdir_exists", [False, True])
def test_a_first_micrograph_round_refused_while_scoring_leaves_no_store(tmp_path, outdir_exists):
    (tmp_path / "mics").mkdir()
    mics = write_planted_micrographs(tmp_path / "mics", 8)
    write_mrc(mics[5], np.full((200, 280), 3.0, np.float32), 12.0)  # (a constant image: refused once scored)
    out = tmp_path / "out"
    if outdir_exists:
        out.mkdir()
    result = CliRunner().invoke(main, ["micrographs", *map(str, mics), "-o", str(out), "--update", "--bin", "1"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "1 micrograph holds a constant image (mic_6.mrc)" in result.output
    if outdir_exists:
        assert _listing(out) == []  # (before: seen/store.sqlite and seen/store.sqlite-journal, 0 bytes each)
    else:
        assert not out.exists()


def test_the_round_after_a_refused_one_runs(tmp_path):
    (tmp_path / "mics").mkdir()
    mics = write_planted_micrographs(tmp_path / "mics", 8)
    good = mics[5].read_bytes()
    write_mrc(mics[5], np.full((200, 280), 3.0, np.float32), 12.0)
    out = tmp_path / "out"
    words = ["micrographs", *map(str, mics), "-o", str(out), "--update", "--bin", "1"]
    assert CliRunner().invoke(main, words).exit_code == 1
    mics[5].write_bytes(good)
    result = CliRunner().invoke(main, words)
    assert result.exit_code == 0, result.output
    assert (out / "seen" / "store.sqlite").stat().st_size > 0


def test_a_first_particle_round_whose_commit_is_refused_leaves_no_store(tmp_path, monkeypatch):
    rows = [[f"mic{k % 3}.mrc", 100.0 + 40 * k, 200.0, 0.5] for k in range(12)]
    star = write_star(
        tmp_path / "picks.star",
        ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit"],
        rows,
    )

    def refused(self, db, round_, kept):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(KeptStore, "_insert_kept", refused)
    out = tmp_path / "out"
    out.mkdir()
    words = ["particles", str(star), "--mic-psize", "1", "--min-dist", "10", "-o", str(out), "--update"]
    result = CliRunner().invoke(main, words)
    assert result.exit_code == 1 and "cannot write the --update store" in result.output, result.output
    assert _listing(out) == []  # (before: kept_store/store.sqlite and its journal, 0 bytes each)
