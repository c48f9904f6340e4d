"""The summary's consensus block: shown when a consensus was asked or the inputs barely agree, else only in --json.

Two topaz pickers on hand-placed picks (1 Å pixels, the default 20 Å distance): what each
case shows is worked out from the picks in its comments.
"""

from __future__ import annotations

import pytest

from cryodedup import ParticleOptions
from cryodedup.jobs.particles.job import run
from cryodedup.jobs.particles.plan import plan
from cryodedup.jobs.particles.read import Files
from cryodedup.report.summary import report_rows
from picker_files import write_topaz

# a's picks on micrograph m, 200 Å apart; b re-finds the first 8 of them 5 Å off and adds 2 of its own.
A_PICKS = [("m", 100.0 + 200 * k, 100.0, 0.9) for k in range(10)]
B_AGREES = [("m", 105.0 + 200 * k, 100.0, 0.5) for k in range(8)] + [("m", 100.0 + 200 * k, 900.0, 0.5) for k in (0, 1)]
# b's picks 400 Å below a's: none within 20 Å of a's (coordinates that do not match).
B_ELSEWHERE = [("m", 100.0 + 200 * k, 500.0, 0.5) for k in range(10)]


def summary_rows(tmp_path, b_picks, **options):
    write_topaz(tmp_path / "a.txt", A_PICKS)
    write_topaz(tmp_path / "b.txt", b_picks)
    typed = run(
        Files.of([tmp_path / "a.txt", tmp_path / "b.txt"]),
        tmp_path / "out",
        plan(ParticleOptions(mic_psize=1.0, topaz_scale=1.0, **options)),
    ).summary
    s = typed.to_json()
    rows, highlight = report_rows(typed.overview(), typed.sections())
    return s, dict(rows), highlight


def test_a_plain_merge_shows_no_consensus_block_but_json_keeps_it(tmp_path):
    # 8 of a's 10 picks are confirmed by b, 8 of b's 10 by a: the pickers agree; nothing was asked.
    s, rows, _ = summary_rows(tmp_path, B_AGREES)
    assert [(i["picks"], i["confirmed"]) for i in s["consensus"]["per_input"]] == [(10, 8), (10, 8)]
    assert s["consensus"]["coverage"] == "auto" and s["consensus"]["min_support"] == 1
    assert not any(label.startswith(("Consensus", "  Neighbour agreement", "  Least agreement")) for label in rows)


@pytest.mark.parametrize("asked", [{"min_support": 2}, {"coverage": "all"}], ids=["min-support", "coverage"])
def test_an_asked_consensus_shows_its_block(tmp_path, asked):
    _, rows, highlight = summary_rows(tmp_path, B_AGREES, **asked)
    assert rows["Consensus"] == f"min support {asked.get('min_support', 1)} of 2 inputs"
    # J = shared / (|a| + |b| - shared) = 8 / (10 + 10 - 8) = 0.667
    assert rows["  Neighbour agreement a.txt / b.txt"] == "0.667"
    assert "  Low agreement" not in rows and "  Low agreement" not in highlight


def test_inputs_that_barely_agree_show_the_block_as_a_warning(tmp_path):
    # No pick of b within 20 Å of a's: 0 % of either input's picks confirmed, on a micrograph both picked.
    s, rows, highlight = summary_rows(tmp_path, B_ELSEWHERE)
    assert [i["confirmed"] for i in s["consensus"]["per_input"]] == [0, 0]
    assert rows["  Low agreement"].startswith("at most 0% of an input's picks lie within the minimum distance")
    assert highlight["  Low agreement"] == "warn" and rows["  Neighbour agreement a.txt / b.txt"] == "0.000"


def test_inputs_on_different_micrographs_are_no_low_agreement(tmp_path):
    # b picked another micrograph only: nothing to agree on, so no block (a warning says they share none).
    _, rows, _ = summary_rows(tmp_path, [("n", x, y, sc) for _, x, y, sc in B_ELSEWHERE])
    assert "Consensus" not in rows and "  Low agreement" not in rows
