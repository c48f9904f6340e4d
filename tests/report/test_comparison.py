"""``compare``'s and ``comparepicks``' typed summaries (issue 66, item 1): read by name, their documents as main's."""

from __future__ import annotations

import ast
import inspect
import json
from dataclasses import replace

import pytest

from cryodedup.cli import compare
from cryodedup.jobs.compare_summary import CompareSummary, CopickComparison
from cryodedup.report.compare_metric import (
    Curve,
    CziiScore,
    SpeciesScore,
    Sweep,
    _species_line,
    _sweep_line,
    czii_picture,
    czii_rows,
)
from cryodedup.report.comparison import (
    Comparison,
    LeastAgreement,
    LeftOut,
    MicrographAgreement,
    ObjectComparison,
    ReferenceScores,
    Scores,
)
from cryodedup.report.sections.registration import MovedBy
from cryodedup.report.sections.run import Outputs, RunTimings, RunVerdict
from helpers import a_comparison

#: The commands and the rows and picture they give: on main each read a dict, 108 string-key reads
#: in all (compare_rows 27, _scored_over 6, _compare_registration_rows 3, copick_compare_rows 7, the
#: compare command 4, the comparepicks command 8; czii_rows 15, _species_line 11, _sweep_line 7,
#: czii_figure 20; now czii_picture, whose panels write marks by name).
READERS = [
    compare,
    Comparison.rows,
    Comparison._registration_rows,
    Comparison._scored_over,
    ObjectComparison.rows,
    MicrographAgreement.line,
    CompareSummary.rows,
    czii_rows,
    _species_line,
    _sweep_line,
    czii_picture,
]


def _string_keys_read(reader) -> list[str]:
    """Each ``x["key"]`` and ``x.get("key")`` in ``reader``'s source (a click command's: its callback's)."""
    source = inspect.getsource(inspect.unwrap(getattr(reader, "callback", None) or reader))
    read = []
    for node in ast.walk(ast.parse(inspect.cleandoc("\n" + source) if source[0] == " " else source)):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            if isinstance(node.slice.value, str):
                read.append(f"{ast.unparse(node.value)}[{node.slice.value!r}]")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            read += [f"get({a.value!r})" for a in node.args[:1] if isinstance(a, ast.Constant)]
    return read


def test_the_summaries_are_read_by_name_not_by_string_key():
    for reader in READERS:
        assert not _string_keys_read(reader), f"{reader.__qualname__} reads the summary by key"


def test_comparepicks_reads_its_summary_by_name():
    pytest.importorskip("copick")  # (the plugin module imports copick: the copick extra)
    # Imported here, not at collection: copick's own CLI, built anew by tests/formats/test_copick.py's
    # fixture, must be the first to import the plugin module (its --json output is lost otherwise).
    from cryodedup.copick_command import comparepicks

    assert not _string_keys_read(comparepicks)


SCORES = Scores(precision=0.5, recall=1.0, f_beta=0.6667)
COMPARED = a_comparison(
    inputs=("a.txt", "b.txt"),
    radius_A=20.0,
    picks=(3, 2),
    scored_over="shared",
    micrographs_scored=1,
    picks_scored=(2, 1),
    matched=1,
    unmatched=(1, 0),
    pixel_sizes=[{"pixel_size_A": 1.0}],
    left_out=LeftOut(1, (1, 1)),
    reference=ReferenceScores("b.txt", 1.0, SCORES),
    per_micrograph=(MicrographAgreement("m0", (2, 1), True, 0.5, 1, (1, 0), SCORES),),
    least_agreement=(LeastAgreement("m0", 0.5),),
    transforms_applied=(MovedBy("b.txt", "shift:1,2"),),
)

SWEEP = Sweep(0.5, -0.9, 0.5152, 1.0, 0.5, 1, Curve((-0.9,), (1.0,), (0.5,)))
RIBOSOME = SpeciesScore("ribosome", 150.0, 75.0, 1.0, 2, 1, 1, 0, 1, 1.0, 0.5, 0.5152, 3.5, SWEEP)
CZII = CziiScore(4.0, 0.5, 1, "reference", 0.5, True, False, (RIBOSOME,), ("ribosom",), 1.0, "present")


def test_compares_document_is_the_one_main_printed():
    # main's dict, written out by hand in its order: the comparison, czii, the transforms, warnings, plots; since
    # issue 92 (one job shape) opened by the keys every job's document has, and the flat seconds gone (timings).
    line = "Jaccard 0.500 at 20 Å: 1 pick matched one to one, of 2 + 1; a.txt against b.txt: F1 0.667; CZII score 0.500"
    shared = {
        "verdict": {"word": "compared", "kind": "good", "line": line, "why": None},
        "outputs": {},
        "timings": {"read": 0.125, "seconds": 0.25},
    }
    main = {
        "inputs": ["a.txt", "b.txt"],
        "radius_A": 20.0,
        "picks": [3, 2],
        "micrographs": 2,
        "micrographs_shared": 1,
        "scored_over": "shared",
        "micrographs_scored": 1,
        "picks_scored": [2, 1],
        "jaccard": 0.5,
        "matched": 1,
        "unmatched": [1, 0],
        "neighbour_agreement": 0.5,
        "registration": None,
        "pixel_sizes": [{"pixel_size_A": 1.0}],
        "tomography": False,
        "left_out": {"micrographs": 1, "picks": [1, 1]},
        "reference": {"input": "b.txt", "beta": 1.0, "precision": 0.5, "recall": 1.0, "f_beta": 0.6667},
        "per_micrograph": [
            {
                "micrograph": "m0",
                "picks": [2, 1],
                "shared": True,
                "jaccard": 0.5,
                "matched": 1,
                "unmatched": [1, 0],
                "precision": 0.5,
                "recall": 1.0,
                "f_beta": 0.6667,
            }
        ],
        "least_agreement": [{"micrograph": "m0", "jaccard": 0.5}],
        "czii": {
            "beta": 4.0,
            "multiplier": 0.5,
            "tomograms_scored": 1,
            "scored_over": "reference",
            "score": 0.5,
            "swept": True,
            "higher_is_better": False,
            "species": [
                {
                    "species": "ribosome",
                    "radius_A": 150.0,
                    "threshold_A": 75.0,
                    "weight": 1.0,
                    "references": 2,
                    "candidates": 1,
                    "tp": 1,
                    "fp": 0,
                    "fn": 1,
                    "precision": 1.0,
                    "recall": 0.5,
                    "f_beta": 0.5152,
                    "localisation_error_A": 3.5,
                    "sweep": {
                        "average_precision": 0.5,
                        "best_threshold": -0.9,
                        "best_f_beta": 0.5152,
                        "best_precision": 1.0,
                        "best_recall": 0.5,
                        "thresholds": 1,
                        "curve": {"threshold": [-0.9], "precision": [1.0], "recall": [0.5]},
                    },
                }
            ],
            "weights_not_scored": ["ribosom"],
            "weights_over": "present",  # (added since: which weights the score divides by, --czii-weights)
            "divided_by": 1.0,
        },
        "transforms_applied": [{"input": "b.txt", "transform": "shift:1,2"}],
        "warnings": ["w"],
        "plots": ["p/report.html"],
    }
    timings = RunTimings.of({"read": 0.125}, 0.25)
    summary = CompareSummary(comparison=COMPARED, czii=CZII, warnings=("w",), plots=("p/report.html",))
    assert summary.headline() == line
    summary = replace(summary, verdict=RunVerdict("compared", "good", line), outputs=Outputs.of({}), timings=timings)
    assert json.dumps(summary.to_json()) == json.dumps(shared | main)
    # copick's: each object its name first, its transforms after its comparison; czii after the objects.
    copick = CopickComparison(
        config="c.json",
        reference="alice/1",
        candidate="bob/1",
        objects=(ObjectComparison("ribosome", COMPARED),),
        objects_without_picks=("x",),
    )
    assert copick.headline() == "1 object compared: ribosome Jaccard 0.500 at 20 Å"
    one = {"object": "ribosome", **{k: v for k, v in main.items() if k in COMPARED.to_json()}}
    one["transforms_applied"] = main["transforms_applied"]
    expected = {"verdict": None, "outputs": {}, "timings": None}  # (the shared keys: none yet, as the job has not run)
    expected |= {"config": "c.json", "reference": "alice/1", "candidate": "bob/1", "objects": [one]}
    expected |= {"objects_without_picks": ["x"], "warnings": []}
    assert json.dumps(copick.to_json()) == json.dumps(expected)


def test_the_rows_say_what_main_said():
    rows = dict(ObjectComparison("ribosome", COMPARED).rows())
    assert (
        rows["Scored over"]
        == "1 run both inputs cover; left out: 1 run only one covers (1 + 1 picks; --over all scores them)"
    )
    assert rows["Against b.txt"] == "a.txt: precision 0.500, recall 1.000, F1 0.667"
    assert rows["Per run"] == "m0: 1 matched, unmatched 1 + 0, precision 0.500, recall 1.000"
    assert rows["Least agreement"] == "m0 (0.500)"
