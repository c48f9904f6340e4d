"""``--remove-entirely`` says nothing of the inputs' score scales: no score decides (issue 89 item 4).

It removes every particle that has a duplicate, preferred, better scored or not. On main two inputs
whose figures of merit lie on different scales were warned of ("the input with the larger numbers
wins nearly every group of duplicates"), in the verdict and the Score row too, though no score
decided any group. Without ``--remove-entirely`` the warning stands.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from helpers import write_star

LABELS = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit"]


def star_inputs(tmp_path):
    rng = np.random.default_rng(2)
    a = [["mic_1.mrc", 100 + 100 * k, 100, round(rng.uniform(0, 0.2), 3)] for k in range(30)]
    b = [["mic_1.mrc", 103 + 100 * k, 100, round(rng.uniform(0, 3), 3)] for k in range(30)]
    return [write_star(tmp_path / "logA.star", LABELS, a), write_star(tmp_path / "tmB.star", LABELS, b)]


def topaz_inputs(tmp_path):
    rng = np.random.default_rng(3)
    paths = []
    for name, top, dx in (("a", 0.2, 0), ("b", 3.0, 3)):
        lines = ["image_name\tx_coord\ty_coord\tscore"]
        lines += [f"mic_1\t{100 + 100 * k + dx}\t100\t{rng.uniform(0, top):.3f}" for k in range(30)]
        path = tmp_path / name / "picks.txt"
        path.parent.mkdir()
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths, ["--topaz-scale", "1"]


def run(tmp_path, inputs, *flags):
    args = ["particles", *map(str, inputs), "--mic-psize", "1", "--min-dist", "20", *flags, "--json"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / f"out{len(flags)}")])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("kind", ["star", "topaz"])
def test_remove_entirely_says_nothing_of_score_scales(tmp_path, kind):
    inputs, extra = (star_inputs(tmp_path), []) if kind == "star" else topaz_inputs(tmp_path)
    ranked = run(tmp_path, inputs, *extra)
    assert any("different scales" in w for w in ranked["warnings"])  # (the score decides: said)
    removed = run(tmp_path, inputs, *extra, "--remove-entirely")
    assert removed["kept"] == 0  # (each of the 30 pairs 3 Å apart removed whole)
    assert not any("scale" in w for w in removed["warnings"]), removed["warnings"]
    assert "scale" not in removed["score"]
