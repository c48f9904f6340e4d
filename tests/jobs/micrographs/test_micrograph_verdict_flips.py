"""The micrograph screen's verdict walked through each of its three on one planted case (issue 88's "every verdict
seen to flip on a planted case"): TRUSTED, then "check 1 pair", then NOT TRUSTED and refused, each by one pair added
to the same scores. Oracle: the pairs' numbers worked by hand against the default rules (T_z 8; a pair whose
Pearson coefficient is under 0.15 is a duplicate at 1.5 T_z = 12 and over; 0.8-1.25 of its threshold is the
uncertain band; a pair over T_far undecided makes the run untrusted).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cryodedup.errors import CryodedupError
from cryodedup.jobs.micrographs.decide import decide
from cryodedup.jobs.micrographs.write import _refuse_untrusted
from cryodedup.options import MicrographOptions
from jobs.micrographs.test_micrograph_binnings import RULES, plan_like, scores_with_null

#: The real re-exposure at 44 Å (z 30, Pearson 0.0997, at shift (-4, 14) binned px): 30 / 12 = 2.5, a duplicate.
CONFIRMED = (30.04, 0.0997, 0.893, -4, 14)
#: A pair at its shift, z 11 and Pearson 0.05: 11 / 12 = 0.92, in the uncertain band: left to check.
BAND = (11.0, 0.05, 0.9, -4, 14)
#: A pair far above the null (z 30 > T_far 12) at a shift of its own with a negative Pearson coefficient: undecided.
UNDECIDED = (30.0, -0.05, 0.9, 5, 20)

#: The micrographs' names (one more than the pairs: each pair's second image is its own).
MICS = SimpleNamespace(names=[f"m{k}.mrc" for k in range(210)])


def _verdict(pairs: list) -> tuple:
    plan = plan_like((511, 720), 4, 43.84, (175.4, 1096.0))
    scores = scores_with_null(pairs)
    d = decide(scores, RULES, None, plan)
    verdict = d.summary().verdict
    outcome = SimpleNamespace(decision=d, plan=plan, scores=scores)
    return verdict, d.duplicate[: len(pairs)].tolist(), d.uncertain[: len(pairs)].tolist(), outcome


def test_one_planted_case_walks_trusted_then_check_then_refused():
    verdict, duplicate, uncertain, outcome = _verdict([CONFIRMED])
    assert (verdict.word, duplicate, uncertain) == ("TRUSTED", [True], [False])
    _refuse_untrusted(MICS, outcome, MicrographOptions().accept_untrusted)  # (trusted: written)
    verdict, duplicate, uncertain, outcome = _verdict([CONFIRMED, BAND])
    assert (verdict.word, verdict.check, duplicate, uncertain) == ("check 1 pair", 1, [True, False], [False, True])
    _refuse_untrusted(MICS, outcome, MicrographOptions().accept_untrusted)  # (a pair to check: written, said)
    verdict, duplicate, uncertain, outcome = _verdict([CONFIRMED, BAND, UNDECIDED])
    assert verdict.word == "NOT TRUSTED" and "1 pair far above the null undecided" in verdict.why
    assert (duplicate, uncertain) == ([True, False, False], [False, True, True])
    with pytest.raises(CryodedupError, match="cannot be trusted"):
        _refuse_untrusted(MICS, outcome, MicrographOptions().accept_untrusted)
