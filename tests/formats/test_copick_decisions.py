"""copick's ``decisions.csv`` names each rejected pick's object and its partner's (issue 89 item 4).

A copick project's picks of several objects share their runs and pick sets, so on main a rejected
apo-ferritin and a rejected ribosome of one run and pick set could not be told apart in the record.
The oracle: each rejected pick's object, read from the project with copick's own API (the pick
set and point the record's row names), and its partner's.
"""

from __future__ import annotations

import csv

import pytest
from test_copick import make_project

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.formats.copick import root_logger_kept

with root_logger_kept():
    copick = pytest.importorskip("copick")


def points_by_set(config):
    """Each pick set's (user/session's) points in the reader's order (run, object, point): the object of each."""
    with root_logger_kept():
        root = copick.from_file(str(config))
        objects: dict[str, list[str]] = {}
        for run in sorted(root.runs, key=lambda r: r.name):
            for name in sorted(o.name for o in root.pickable_objects):
                for picks in sorted(run.get_picks(object_name=name), key=lambda p: (p.user_id, p.session_id)):
                    objects.setdefault(f"{picks.user_id}/{picks.session_id}", []).extend([name] * len(picks.points))
    return objects


@pytest.mark.parametrize("cross_species", [False, True])
def test_copick_decisions_name_each_picks_object(tmp_path, cross_species):
    config, _ = make_project(tmp_path)
    options = ParticleOptions(cross_species=cross_species, decisions=True, copick_out_session="9")
    remove_duplicate_particles([config], tmp_path / "star", options)
    with open(tmp_path / "star/decisions.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and "object" in rows[0] and "kept_object" in rows[0]
    objects = points_by_set(config)
    crossed = 0
    for row in rows:
        assert row["object"] == objects[row["input"]][int(row["row"]) - 1]
        if row["kept_input"]:
            assert row["kept_object"] == objects[row["kept_input"]][int(row["kept_row"]) - 1]
            crossed += row["kept_object"] != row["object"]
    assert (crossed > 0) == cross_species  # (across objects only where --cross-species displaces)
