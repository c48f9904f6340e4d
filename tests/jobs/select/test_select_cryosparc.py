"""``cryodedup select`` with a CryoSPARC subset: uids selected in the original's order, poses taken from it.

The original is the real 3D refinement ``cs/cryodrgn__cryosparc_P12_J24_001_particles.cs`` given
a location slot (it has none: select reads positions as the particle job does); the subset is
made from it here with cryosparc-tools (``Dataset``): 500 of its rows, shuffled, their poses and
shifts refined (moved). The oracle is numpy on the files.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from helpers import shared_file

Dataset = pytest.importorskip("cryosparc.dataset").Dataset

pytestmark = pytest.mark.real_data


def _located(tmp_path):
    """The real refinement with a location slot: each stack a micrograph of 4096 px, centres drawn at random."""
    data = Dataset.load(shared_file("cs/cryodrgn__cryosparc_P12_J24_001_particles.cs"))
    rng = np.random.default_rng(24)
    stacks, which = np.unique(np.asarray(data["blob/path"]), return_inverse=True)
    data.add_fields(
        ["location/micrograph_uid", "location/micrograph_path", "location/micrograph_shape",
         "location/center_x_frac", "location/center_y_frac", "location/micrograph_psize_A"],
        ["u8", "O", ("u4", (2,)), "f4", "f4", "f4"],
    )  # fmt: skip
    data["location/micrograph_uid"] = 1000 + which
    data["location/micrograph_path"] = np.array([f"J2/motioncorrected/{k}_mic.mrc" for k in which], dtype=object)
    data["location/micrograph_shape"] = np.tile([4096, 4096], (len(data), 1))
    data["location/center_x_frac"] = rng.uniform(0.05, 0.95, len(data))
    data["location/center_y_frac"] = rng.uniform(0.05, 0.95, len(data))
    data["location/micrograph_psize_A"] = 1.0
    path = tmp_path / "original.cs"
    data.save(path)
    return path, len(stacks)


def test_a_reordered_refined_subset_selects_its_uids_in_the_originals_order_and_gives_its_poses(tmp_path):
    original_path, _ = _located(tmp_path)
    original = Dataset.load(original_path)
    rng = np.random.default_rng(12)
    rows = rng.choice(len(original), 500, replace=False)  # (shuffled: in no order)
    subset = original.take(rows)
    subset["alignments3D/pose"] = subset["alignments3D/pose"] + rng.normal(0, 0.05, (len(subset), 3))
    subset["alignments3D/shift"] = subset["alignments3D/shift"] + rng.normal(0, 1, (len(subset), 2))
    subset.save(tmp_path / "subset.cs")
    result = CliRunner().invoke(
        main,
        ["select", str(original_path), "--subset", str(tmp_path / "subset.cs"), "--take", "angles",
         "-o", str(tmp_path / "out"), "--json", "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["matched"] == {"none": 0, "uid": 500}
    selected = np.load(tmp_path / "out/particles_selected.cs")
    deselected = np.load(tmp_path / "out/particles_deselected.cs")
    mine, theirs = np.load(original_path), np.load(tmp_path / "subset.cs")
    chosen = np.isin(mine["uid"], theirs["uid"])
    assert selected["uid"].tolist() == mine["uid"][chosen].tolist()  # (the original's order)
    assert deselected["uid"].tolist() == mine["uid"][~chosen].tolist()
    by_uid = {int(u): k for k, u in enumerate(theirs["uid"])}
    at = [by_uid[int(u)] for u in selected["uid"]]
    assert np.array_equal(selected["alignments3D/pose"], theirs["alignments3D/pose"][at])
    for name in mine.dtype.names:  # (every other field the original's)
        if name != "alignments3D/pose":
            assert np.array_equal(selected[name], mine[name][chosen]), name
