"""What the cryodedup protocols share: the duplicate options, their check, the summary file."""

from __future__ import annotations

import json
import os
import re

import pyworkflow.protocol.params as params
from pwem.protocols import EMProtocol
from pyworkflow.exceptions import PyworkflowException
from pyworkflow.protocol.constants import LEVEL_ADVANCED

from ..convert import InputError
from ..forms import add_option_param

#: The form's label of each of cryodedup's options, for messages that name what the user sees.
LABELS = {
    "min_dist": "Minimum distance (Å)",
    "min_support": "Minimum support",
    "uncovered": "Uncovered picks",
    "seed": "Random seed",
    "score_normalize": "Score normalization",
    "remove_entirely": "Remove entirely",
    "coverage": "Coverage",
}

SUMMARY = "summary.json"
#: The folder (under the run's extra/) of cryodedup's outputs: pictures, report.html, pairs.csv.
OUTDIR = "cryodedup"


class RunError(PyworkflowException):
    """A user's mistake found while running: pyworkflow logs its one line, without a traceback."""


def one_line(err: Exception) -> str:
    """An error's message on one line, cryodedup's option names replaced by the form's labels."""
    text = " ".join(str(err).split())
    for name, label in LABELS.items():
        text = re.sub(rf"(--{name.replace('_', '-')}|{name}=)", f"*{label}*", text)
    return text


def add_distance_params(form, scores_help: str) -> None:
    """The options every particle or pick protocol has: distance, score, mode, seed.

    cryodedup's options take their defaults and help from their declarations (forms.py).
    """
    add_option_param(form, params, "minDist", "particles", "min_dist", LABELS["min_dist"])
    form.addParam(
        "scoreAttribute",
        params.StringParam,
        default="auto",
        label="Score attribute",
        help=f"The attribute that ranks duplicates (the best is kept). auto: the first of {scores_help} that the "
        "items carry; none (or no such attribute): a seeded random choice.",
    )
    form.addParam("higherIsBetter", params.BooleanParam, default=True, label="Higher score is better?")
    add_option_param(form, params, "removeEntirely", "particles", "remove_entirely", "Remove entirely?")
    form.addParam(
        "plot",
        params.BooleanParam,
        default=True,
        label="Draw the report's pictures?",
        help="cryodedup's pictures (example micrographs with kept and rejected picks, distances, scores) and "
        "report.html, opened by Analyze Results.",
    )
    add_option_param(form, params, "seed", "particles", "seed", LABELS["seed"], expertLevel=LEVEL_ADVANCED)


class CryodedupProtocol(EMProtocol):
    """Base of the cryodedup protocols: checks options with cryodedup's own rules, keeps a summary."""

    _base = True

    def decision_options(self) -> dict:
        """The keyword arguments of ``cryodedup.remove_duplicate_centres`` this form sets."""
        return {
            "min_dist": float(self.minDist.get()),
            "remove_entirely": bool(self.removeEntirely.get()),
            "seed": int(self.seed.get()),
        }

    def options_errors(self) -> list[str]:
        """Cryodedup's refusal of the form's options (out of range, contradictory), as one line."""
        from cryodedup import CryodedupError
        from cryodedup.options import ParticleOptions

        try:
            ParticleOptions(**self.decision_options()).check()
        except (CryodedupError, TypeError, ValueError) as err:
            return [one_line(err)]
        return []

    def report_of(self, psize, input_names, images, score_label="score", shift="none") -> object:
        """The run's cryodedup.CentreReport (None when no pictures are asked for)."""
        from cryodedup import CentreReport

        if not self.plot.get():
            return None
        return CentreReport(
            self._getExtraPath(OUTDIR),
            psize=psize,
            input_names=input_names,
            images=images,
            kept="the protocol's kept output",
            rejected="the protocol's rejected output",
            score_label=score_label,
            shift=shift,
        )

    def write_summary(self, summary: dict) -> None:
        """Keeps the run's counts for ``_summary`` (extra/summary.json)."""
        with open(self._getExtraPath(SUMMARY), "w") as out:
            json.dump(summary, out, indent=1)

    def report_lines(self) -> list[str]:
        """The summary's line naming report.html, once written."""
        path = self._getExtraPath(OUTDIR, "report.html")
        return [f"Report (Analyze Results): {path}"] if os.path.exists(path) else []

    def read_summary(self) -> dict | None:
        """The run's counts, or None before the run."""
        try:
            with open(self._getExtraPath(SUMMARY)) as found:
                return json.load(found)
        except (OSError, ValueError):
            return None

    def run_guarded(self, work, *args):
        """``work(*args)``, a user's mistake (cryodedup's or the input's) raised as one line."""
        from cryodedup import CryodedupError

        try:
            return work(*args)
        except (CryodedupError, InputError) as err:
            raise RunError(one_line(err)) from None
