"""copick ``--score-normalize``: each pick set's scores normalised per object, as the help and guide now say.

A copick user ranks a template matcher's ribosomes and apo-ferritins, each object's scores on its own
scale (each object is deduplicated on its own). On main the guide said a pick set's objects were
normalised together (and to put each object in a session of its own to separate them), while the
job normalised per object. The oracle is worked by hand: percentiles (worse + equal / 2) / count.
"""

from __future__ import annotations

import pytest

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.algo.normalisation import NORMALISATIONS
from cryodedup.formats.copick import root_logger_kept

with root_logger_kept():
    copick = pytest.importorskip("copick")
    from copick.models import CopickLocation, CopickPoint, PickableObject

#: user -> object -> [(x, score)]: alice's apo-ferritin at x=1000 and bob's at x=1010 are one particle.
PICKS = {
    "alice": {
        "ribosome": [(3000 + 500 * k, 10.0 + k) for k in range(4)],
        "apo": [(1000, 0.2), (5000, 0.1), (6000, 0.05)],
    },
    "bob": {"ribosome": [(9000, 0.3), (9500, 0.35)], "apo": [(1010, 0.5), (7000, 0.6), (8000, 0.4)]},
}


def project(tmp_path):
    with root_logger_kept():
        config = tmp_path / "copick_config.json"
        objects = [
            PickableObject(name="ribosome", is_particle=True, radius=150.0, label=1),
            PickableObject(name="apo", is_particle=True, radius=60.0, label=2),
        ]
        root = copick.new_config(str(config), str(tmp_path / "overlay"), pickable_objects=objects)
        run = root.new_run("TS_001")
        for user, by_object in PICKS.items():
            for name, points in by_object.items():
                picks = run.new_picks(object_name=name, session_id="1", user_id=user)
                picks.points = [CopickPoint(location=CopickLocation(x=x, y=100.0, z=100.0), score=s) for x, s in points]
                picks.store()
    return config


def test_rank_normalises_each_pick_sets_objects_apart(tmp_path):
    # By hand, per object: alice's 0.2 among her apo (0.2, 0.1, 0.05) is 2.5/3 = 0.83; bob's 0.5 among his
    # (0.5, 0.6, 0.4) is 1.5/3 = 0.5: alice's pick is kept. Objects together, alice's 0.2 among her seven
    # scores would be 2.5/7 = 0.36 and bob's 0.5 among his five 3.5/5 = 0.7: bob's would be.
    options = ParticleOptions(score_normalize="rank", copick_out_session="9")
    summary = remove_duplicate_particles([project(tmp_path)], None, options)
    assert summary.rejected == 1
    with root_logger_kept():
        run = copick.from_file(str(tmp_path / "copick_config.json")).runs[0]
        (apo,) = run.get_picks(object_name="apo", user_id="cryodedup", session_id="9")
        xs = sorted(p.location.x for p in apo.points)
    assert 1000 in xs and 1010 not in xs


def test_the_help_and_the_guide_say_per_object():
    for name in ("rank", "zscore"):
        assert "each copick object apart" in (NORMALISATIONS[name].help or "")
    from pathlib import Path

    guide = (Path(__file__).parents[2] / "docs/guides/tomography.md").read_text()
    assert "the set's objects together" not in guide and "each object's picks on their own" in guide
