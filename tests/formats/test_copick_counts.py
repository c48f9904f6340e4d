"""What a copick run says it read and what it refuses to overwrite, counted in a project made with
copick's own API: a pick set is a user/session (one input), each holding one pick file per run and
object it picked. Skipped when copick is not installed (an optional extra)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.errors import CryodedupError
from cryodedup.formats.copick import root_logger_kept
from cryodedup.report.sections import Sections
from cryodedup.report.summary import particle_rows

with root_logger_kept():  # (copick's import sets up the root logger: put back as it was)
    copick = pytest.importorskip("copick")
    from copick.models import CopickLocation, CopickPoint, PickableObject

RUNS = ["TS_001", "TS_002"]
#: Who picked what on every run: alice both objects, bob the ribosomes.
PICKED = {"alice": ["ribosome", "proteasome"], "bob": ["ribosome"]}


def project(tmp_path, radii=(130.0, 60.0)):
    """Two objects on two runs, picked as :data:`PICKED` says (session 1); the config's path."""
    with root_logger_kept():
        config = tmp_path / "copick_config.json"
        objects = [
            PickableObject(name=name, is_particle=True, radius=radius, label=k + 1)
            for k, (name, radius) in enumerate(zip(["ribosome", "proteasome"], radii))
        ]
        root = copick.new_config(str(config), str(tmp_path / "overlay"), pickable_objects=objects)
        rng = np.random.default_rng(0)
        for run_name in RUNS:
            run = root.new_run(run_name)
            for user, names in PICKED.items():
                for name in names:
                    picks = run.new_picks(object_name=name, session_id="1", user_id=user)
                    picks.points = [
                        CopickPoint(location=CopickLocation(x=float(x), y=float(y), z=float(z)), score=0.5)
                        for x, y, z in rng.uniform(0, 2000, (5, 3))
                    ]
                    picks.store()
    return config


def test_the_summary_counts_the_pick_sets_read_not_their_files(tmp_path):
    config = project(tmp_path)
    summary = remove_duplicate_particles([config], None, ParticleOptions())
    files = len(RUNS) * sum(len(names) for names in PICKED.values())  # 6: two runs of three files
    assert summary.to_json()["copick"]["pick_sets"] == len(PICKED) == 2
    assert summary.to_json()["copick"]["pick_files"] == files
    (row,) = [text for name, text in particle_rows(summary.overview(), Sections()) if name == "copick"]
    assert row.startswith(f"{config}: 2 pick sets on 2 runs;"), row


def test_the_refusal_counts_every_pick_file_the_output_session_holds(tmp_path):
    # Bob's ribosomes written as alice/1, which holds alice's picks of both objects on both runs.
    config = project(tmp_path)
    options = ParticleOptions(copick_users="bob", copick_out_user="alice", copick_out_session="1")
    held = len(RUNS) * len(PICKED["alice"])  # 4
    with pytest.raises(CryodedupError) as refused:
        remove_duplicate_particles([config], None, options, force=True)
    assert f"(TS_001/ribosome, {held} pick files in all)" in str(refused.value)
    assert "(s)" not in str(refused.value)


def test_objects_without_a_radius_are_named_in_one_sentence(tmp_path):
    config = project(tmp_path)
    text = json.loads(config.read_text())
    for entry in text["pickable_objects"]:
        del entry["radius"]
    config.write_text(json.dumps(text))
    summary = remove_duplicate_particles([config], None, ParticleOptions())
    said = [w for w in summary.warnings if "radius" in w]
    # (named in the species' order, that of the objects read)
    sentence = "proteasome and ribosome have no radius: their picks are compared at 20 Å, as with --min-dist "
    assert any(sentence + "proteasome=20,ribosome=20;" in w for w in said), said
    # That option, pasted into ParticleOptions' min_dist: the same picks kept, and no object said.
    pasted = remove_duplicate_particles(
        [config], None, ParticleOptions(min_dist="proteasome=20,ribosome=20"), force=True
    )
    assert pasted.kept == summary.kept and not [w for w in pasted.warnings if "radius" in w], pasted.warnings
