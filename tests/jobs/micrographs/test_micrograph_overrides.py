"""``micrographs --overrides``: pairs marked distinct or duplicate, on the 52 real micrographs at 20 Å.

The truth is PROVENANCE.md's: 04736..04739 re-expose 04700..04703 (the screen finds those four pairs
at 20 Å). Marking 04700/04736 distinct and 04710/04711 duplicate must leave the other three true pairs
and add 04710/04711, with 04700 and 04736 both kept and 04711 (the later acquisition) rejected.
"""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from cryodedup.formats.overrides import format_overrides
from helpers import shared_file


def numbers_in(path) -> list[tuple[str, str]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    return sorted(tuple(re.search(r"CU428_(\d+)_", name)[1] for name in row) for row in rows)


@pytest.mark.real_data
def test_a_pair_marked_distinct_and_one_marked_duplicate_at_20_angstrom(tmp_path):
    mics = sorted(shared_file("micrographs").glob("*.mrc"))
    assert len(mics) == 52
    overrides = tmp_path / "overrides.csv"
    pairs = [
        ("CU428_04700_4-1.mrc", "CU428_04736_1-1", "distinct"),  # (by name, with or without its extension)
        ("CU428_04711_2-4.mrc", "CU428_04710_2-3.mrc", "duplicate"),  # (in either order)
        ("CU428_09999_1-1.mrc", "CU428_04710_2-3.mrc", "duplicate"),  # names nothing in the inputs
    ]
    overrides.write_text(format_overrides([("particles.star", 1, "p", "keep")], pairs), newline="")
    args = [*map(str, mics), "--target-psize", "20", "-o", str(tmp_path / "out"), "--json"]
    plain = CliRunner().invoke(main, ["micrographs", *args])
    assert plain.exit_code == 0, plain.output
    truth = [("04700", "04736"), ("04701", "04737"), ("04702", "04738"), ("04703", "04739")]
    assert numbers_in(tmp_path / "out/duplicates.csv") == truth
    result = CliRunner().invoke(
        main, ["micrographs", *args[:-2], str(tmp_path / "over"), "--overrides", str(overrides), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert numbers_in(tmp_path / "over/duplicates.csv") == [*truth[1:], ("04710", "04711")]
    kept = (tmp_path / "over/micrographs_kept.txt").read_text()
    rejected = (tmp_path / "over/micrographs_rejected.txt").read_text()
    assert "CU428_04700_" in kept and "CU428_04736_" in kept and "CU428_04710_" in kept
    assert sorted(re.findall(r"CU428_(\d+)_", rejected)) == ["04711", "04737", "04738", "04739"]
    document = json.loads(result.stdout[result.stdout.index("{") :])
    # The margin and the verdict are the screen's: 04710/04711 (under the thresholds) is no duplicate it found.
    screened = json.loads(plain.stdout[plain.stdout.index("{") :])
    assert document["margin"] == screened["margin"]
    assert document["verdict"]["word"] == screened["verdict"]["word"]
    assert document["overrides"]["pairs_applied"] == 2
    assert document["overrides"]["naming_nothing"] == ["line 5 (micrograph CU428_09999_1-1.mrc)"]
    assert any("line 5 (micrograph CU428_09999_1-1.mrc) names nothing" in w for w in document["warnings"])
    # Two shards merged decide alike (the shards record the file; their merge reads it).
    for k in (1, 2):
        shard = [*args[:-3], "-o", str(tmp_path / "shards"), "--shard", f"{k}/2", "--overrides", str(overrides)]
        assert CliRunner().invoke(main, ["micrographs", *shard]).exit_code == 0
    merged = CliRunner().invoke(main, ["micrographs-merge", str(tmp_path / "shards"), "-o", str(tmp_path / "merged")])
    assert merged.exit_code == 0, merged.output
    assert numbers_in(tmp_path / "merged/duplicates.csv") == [*truth[1:], ("04710", "04711")]


def test_a_malformed_overrides_file_is_refused_before_anything_is_read(tmp_path):
    overrides = tmp_path / "overrides.csv"
    overrides.write_text("kind,input,row,name,partner,action\npair,,,a.mrc,b.mrc,same\n")
    mic = tmp_path / "a.mrc"
    mic.write_bytes(b"")
    result = CliRunner().invoke(
        main, ["micrographs", str(mic), "-o", str(tmp_path / "out"), "--overrides", str(overrides)]
    )
    assert result.exit_code != 0
    assert "overrides.csv: line 2: action 'same', expected duplicate or distinct for a pair" in result.output
    assert not (tmp_path / "out").exists()


def test_a_pair_naming_one_micrograph_in_two_spellings_is_refused(tmp_path):
    # (a new user's trial: 'CU428_04701_4-2' and 'CU428_04701_4-2.mrc' were applied as a pair of two)
    from cryodedup.errors import InputFileError
    from cryodedup.formats.overrides import read_overrides
    from cryodedup.jobs.micrographs.overrides import _overridden_pairs

    path = tmp_path / "overrides.csv"
    path.write_text(format_overrides([], [("m/CU428_04701_4-2", "m/CU428_04701_4-2.mrc", "duplicate")]), newline="")
    names = ["m/CU428_04701_4-2.mrc", "m/CU428_04702_4-3.mrc"]
    with pytest.raises(InputFileError, match=r"overrides.csv: line 2: .* name one micrograph, 'm/CU428_04701_4-2.mrc'"):
        _overridden_pairs(
            read_overrides(path),
            names,
            np.zeros((0, 2), dtype=np.int64),
            np.zeros(0, dtype=bool),
            np.zeros(0, dtype=bool),
        )


def test_the_margin_is_the_screens_own_where_pairs_are_forced(tmp_path):
    # Hand-worked: pairs a/b 2.0 and b/d 1.5 found, a/c 0.4 and c/d 0.9 not; the screen's margin is 1.5 against
    # 0.9 (x1.67). Forced a/c duplicate and b/d distinct, a margin of the decision after them would be 0.4
    # against 1.5 (x0.27): a pair the user forced, measured as one the screen found.
    from types import SimpleNamespace

    from cryodedup.formats.overrides import read_overrides
    from cryodedup.jobs.micrographs.decide import MicrographDecision, MicrographOutcome
    from cryodedup.jobs.micrographs.overrides import overridden

    path = tmp_path / "overrides.csv"
    path.write_text(format_overrides([], [("a.mrc", "c.mrc", "duplicate"), ("b.mrc", "d.mrc", "distinct")]), newline="")
    pairs = np.array([[0, 1], [0, 2], [1, 3], [2, 3]])
    joint = np.array([2.0, 0.4, 1.5, 0.9])
    decision = MicrographDecision(
        np.array([True, False, True, False]), np.zeros(4, dtype=bool), joint, 3.0, 0.2, SimpleNamespace(radius_um=None)
    )
    rank = np.arange(4)
    outcome = MicrographOutcome(None, [], SimpleNamespace(pairs=pairs), decision, rank, np.array([0, 0, 2, 1]))
    after, used = overridden(outcome, read_overrides(path), ["a.mrc", "b.mrc", "c.mrc", "d.mrc"])
    assert used.applied == 2
    assert after.decision.duplicate.tolist() == [True, True, False, False]  # (the decision follows the file)
    assert after.root.tolist() == [0, 0, 0, 3]  # (a, b and c one group; d apart)
    margin = after.decision.margin()
    assert (margin.weakest_duplicate, margin.strongest_other, margin.ratio) == (1.5, 0.9, 1.67)
