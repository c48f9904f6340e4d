"""The user's next step for each of the screen's verdicts, run as printed, then screened again (issue 97).

Each verdict's advice is parsed out of what the screen printed (the option a refusal names, the
column a warning points at), followed as a user would, and the run screened again; the result is
checked against what the generator planted, not against the screen's own first answer. Before
this, a pair left to check that the user looked at and decided with --overrides still counted:
"check 1 pair" on the next run though nothing was left to check.
"""

from __future__ import annotations

import csv
import json
import re
import shlex

from click.testing import CliRunner
from test_micrograph_pattern import TRUTH as PATTERN_TRUTH
from test_micrograph_pattern import write_session
from test_micrograph_trusted import write_weak_reexposures

from cryodedup.cli import main

#: write_weak_reexposures' planted pairs (4 images imaged again 8 later).
PLANTED = {(k, k + 8) for k in range(4)}


def screen(folder, out, *extra: str):
    args = ["micrographs", str(folder / "*.mrc"), "-o", str(out), "--json", "--target-psize", "10", *extra]
    return CliRunner().invoke(main, args)


def advised(text: str, pattern: str) -> list[str]:
    """The words a printed line advises, as a user copies them out of it."""
    match = re.search(pattern, text)
    assert match, (pattern, text)
    return shlex.split(match.group(1))


def marked(out, column: str) -> set[tuple[int, int]]:
    with open(out / "pairs.csv") as f:
        return {(int(r["index_a"]), int(r["index_b"])) for r in csv.DictReader(f) if r[column] == "1"}


def test_a_blind_refusal_followed_as_printed(tmp_path):
    # Re-exposures under noise of 5 x the specimen's SD: blind, refused, nothing written.
    folder = tmp_path / "weak"
    folder.mkdir()
    write_weak_reexposures(folder, noise=5.0, pairs=4)
    refused = screen(folder, tmp_path / "refused")
    assert refused.exit_code == 1 and not (tmp_path / "refused" / "pairs.csv").exists()
    assert "the decision cannot be trusted, nothing written: blind at 10 Å per pixel" in refused.stderr
    # The option as printed: the thresholds' answer written, NOT TRUSTED, the planted pairs left to check.
    accept = advised(refused.stderr, r"; (--accept-untrusted) writes what the thresholds gave")
    accepted = screen(folder, tmp_path / "accepted", *accept)
    assert accepted.exit_code == 0, accepted.output
    summary = json.loads(accepted.stdout)
    assert summary["verdict"]["word"] == "NOT TRUSTED" and summary["rejected"] == 0
    left = marked(tmp_path / "accepted", "uncertain")
    assert len(left) >= 3 and left <= PLANTED, left
    # Its other advice, followed: the same specimens carrying more signal (noise of 1 x) are screened
    # TRUSTED, the 4 planted re-exposures found and no other pair.
    (said,) = [w for w in summary["warnings"] if "the decision cannot be trusted" in w]
    assert said.endswith("use it knowing that, or screen micrographs that carry more signal")
    stronger = tmp_path / "stronger"
    stronger.mkdir()
    write_weak_reexposures(stronger, noise=1.0, pairs=4)
    again = screen(stronger, tmp_path / "again")
    assert again.exit_code == 0 and json.loads(again.stdout)["verdict"]["word"] == "TRUSTED", again.output
    assert marked(tmp_path / "again", "duplicate") == PLANTED


def test_a_pattern_refusal_followed_as_printed(tmp_path):
    # An --update round cannot score every pair again without the pattern: refused, naming a run in one go.
    (tmp_path / "pattern").mkdir()
    write_session(tmp_path / "pattern", level=0.2)
    args = ["micrographs", str(tmp_path / "pattern" / "*.mrc"), "--json"]
    refused = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "refused"), "--update"])
    assert refused.exit_code == 1 and "a pattern common to the images" in refused.stderr
    (dropped,) = advised(refused.stderr, r"a run in one go \(not (--update), not a merge of shards\)")
    rest = [a for a in [*args, "-o", str(tmp_path / "out"), "--update"] if a != dropped]
    again = CliRunner().invoke(main, rest)
    assert again.exit_code == 0, again.output
    assert marked(tmp_path / "out", "duplicate") == PATTERN_TRUTH  # (the generator's 4 re-exposures)
    assert json.loads(again.stdout)["verdict"]["line"].startswith("4 duplicate micrographs (4 pairs) among 20")


def test_pairs_left_to_check_looked_at_and_decided_with_overrides(tmp_path):
    # Noise of 4 x the specimen's SD, seed 1: 3 of the planted pairs found, 3 left to check ("check 3 pairs").
    folder = tmp_path / "weak"
    folder.mkdir()
    write_weak_reexposures(folder, noise=4.0, pairs=4, seed=1)
    first = screen(folder, tmp_path / "first", "-q")
    summary = json.loads(first.stdout)
    assert summary["verdict"]["word"] == "check 3 pairs", summary["verdict"]
    (said,) = [w for w in summary["warnings"] if "marked uncertain in pairs.csv; look at them" in w]
    column = advised(said, r"marked (uncertain) in pairs\.csv")[0]
    left = marked(tmp_path / "first", column)
    assert left <= PLANTED and marked(tmp_path / "first", "duplicate") | left == PLANTED
    # Looked at (the oracle: each is a planted re-exposure), each is written as a duplicate in an
    # overrides file (docs/reference/outputs.md), and the screen run again with it.
    with open(tmp_path / "first" / "pairs.csv") as f:
        rows = [r for r in csv.DictReader(f) if r[column] == "1"]
    lines = ["kind,input,row,name,partner,action"] + [f"pair,,,{r['name_a']},{r['name_b']},duplicate" for r in rows]
    (tmp_path / "overrides.csv").write_text("\n".join(lines) + "\n")
    again = screen(folder, tmp_path / "again", "-q", "--overrides", str(tmp_path / "overrides.csv"))
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    # Nothing is left to check (before: "check 3 pairs" again), every planted later image rejected.
    assert summary["verdict"]["word"] == "TRUSTED" and summary["verdict"]["check"] == 0, summary["verdict"]
    assert marked(tmp_path / "again", "duplicate") == PLANTED and marked(tmp_path / "again", "uncertain") == set()
    assert summary["rejected"] == 4 and summary["overrides"]["pairs_applied"] == 3


def test_a_pair_left_to_check_looked_at_and_found_distinct(tmp_path):
    # The same first run, the user deciding the other way: marked distinct, the pair is kept and no longer open.
    folder = tmp_path / "weak"
    folder.mkdir()
    write_weak_reexposures(folder, noise=4.0, pairs=4, seed=1)
    first = screen(folder, tmp_path / "first", "-q")
    assert first.exit_code == 0
    with open(tmp_path / "first" / "pairs.csv") as f:
        (row,) = [r for r in csv.DictReader(f) if r["uncertain"] == "1" and r["duplicate"] == "0"]
    (tmp_path / "overrides.csv").write_text(
        f"kind,input,row,name,partner,action\npair,,,{row['name_a']},{row['name_b']},distinct\n"
    )
    again = screen(folder, tmp_path / "again", "-q", "--overrides", str(tmp_path / "overrides.csv"))
    summary = json.loads(again.stdout)
    pair = (int(row["index_a"]), int(row["index_b"]))
    assert pair not in marked(tmp_path / "again", "duplicate") | marked(tmp_path / "again", "uncertain")
    assert summary["verdict"]["check"] == 2 and summary["rejected"] == 3  # (the two others left to check stay so)
