"""The one table of score normalisations (``--score-normalize``): what reads it, and a new entry picked up."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import fields

import numpy as np

from cryodedup.algo.normalisation import NORMALISATIONS, normalisation
from cryodedup.options import ParticleOptions


def test_rank_percentiles_by_hand():
    # Input 0 scores 0.1, 0.5, 0.5, 0.9 (higher better): worse + half the equal others + 1/2, over 4:
    # 0.1 -> 0.5/4 = 0.125; 0.5 -> (1 + 1) / 4 = 0.5 (both); 0.9 -> 3.5/4 = 0.875.
    # Input 1 scores 10, 20 with lower better: 10 -> 1.5/2 = 0.75, 20 -> 0.5/2 = 0.25; NaN stays NaN.
    scores = np.array([0.1, 0.5, 10.0, 0.5, 0.9, 20.0, np.nan])
    input_of = np.array([0, 0, 1, 0, 0, 1, 1])
    rank = normalisation("rank").apply
    assert rank is not None
    got, higher = rank(scores, input_of, True)
    np.testing.assert_allclose(got[[0, 1, 3, 4]], [0.125, 0.5, 0.5, 0.875])
    assert higher  # (percentiles: higher first, whatever the scores' own direction)
    lower, higher = rank(scores, input_of, False)
    np.testing.assert_allclose(lower[[2, 5]], [0.75, 0.25])
    assert np.isnan(lower[6]) and higher


def test_the_options_choices_are_the_tables():
    # Invariants of the table, whatever it holds: the option offers every entry, the default
    # (first) reads the scores as they are (one pass allowed), and each entry is filed under its name.
    (flag,) = [f.metadata["flag"] for f in fields(ParticleOptions) if f.name == "score_normalize"]
    assert list(flag.type.choices) == list(NORMALISATIONS)
    assert next(iter(NORMALISATIONS)) == "none" == ParticleOptions().score_normalize
    assert normalisation("none").apply is None
    assert all(name == entry.name for name, entry in NORMALISATIONS.items())
    # An entry that changes the scores says so in the help and the summary.
    assert all(entry.help and entry.summary for entry in NORMALISATIONS.values() if entry.apply is not None)
    assert "rank" in NORMALISATIONS  # (the pickers' guide's advice: --score-normalize rank)


#: A toy normalisation added to the table before the package's other modules load: it ranks the
#: worst score first. Then the option offers it, the job ranks by it and the summary says so.
TOY = textwrap.dedent(
    """
    import json, sys
    from dataclasses import fields
    from pathlib import Path

    from cryodedup.algo import normalisation as table

    before = list(table.NORMALISATIONS)
    table.NORMALISATIONS["toy-worst"] = table.Normalisation(
        "toy-worst", lambda scores, input_of, higher: (scores, not higher), "rank the worst score first.", "worst first"
    )
    from cryodedup.api import remove_duplicate_centres
    from cryodedup.options import ParticleOptions
    from cryodedup.cli import main

    (flag,) = [f.metadata["flag"] for f in fields(ParticleOptions) if f.name == "score_normalize"]
    # Two centres 3 A apart on one micrograph, scores 1 and 2 (higher better): "worst" keeps row 0.
    chosen = remove_duplicate_centres(["m", "m"], [[0.0, 0.0], [3.0, 0.0]], [1.0, 2.0], min_dist=10.0,
                                      score_normalize="toy-worst")
    as_read = remove_duplicate_centres(["m", "m"], [[0.0, 0.0], [3.0, 0.0]], [1.0, 2.0], min_dist=10.0)
    star = Path(sys.argv[1])
    star.write_text(
        "data_particles\\nloop_\\n_rlnCoordinateX\\n_rlnCoordinateY\\n_rlnMicrographName\\n"
        "_rlnAutopickFigureOfMerit\\n100 100 a.mrc 1.0\\n101 100 a.mrc 2.0\\n"
    )
    print(json.dumps({"before": before, "choices": list(flag.type.choices), "help": flag.help,
                      "keep": chosen.keep.tolist(), "as_read": as_read.keep.tolist()}))
    sys.stdout.flush()
    main(["particles", str(star), "-o", str(star.parent / "out"), "--mic-psize", "1", "--min-dist", "10",
          "--score-normalize", "toy-worst", "--json", "-q"], standalone_mode=False)
    """
)


def test_a_normalisation_added_to_the_table_is_offered_applied_and_said(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", TOY, str(tmp_path / "p.star")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    first, summary = (json.loads(line) for line in done.stdout.splitlines() if line.startswith("{"))
    assert first["choices"] == [*first["before"], "toy-worst"]  # offered, after the table's others
    assert "toy-worst: rank the worst score first." in first["help"]
    assert first["keep"] == [True, False] and first["as_read"] == [False, True]
    assert summary["score"]["normalized"] == "worst first"
    assert summary["kept"] == 1 and summary["timings"]["one_pass"] is False  # (not as read: two passes)
    rows = (tmp_path / "out" / "particles_kept.star").read_text().split("_rlnAutopickFigureOfMerit")[1].split()
    assert rows[:4] == ["100", "100", "a.mrc", "1.0"]  # the row of score 1.0 kept
