"""copick projects in and out: a project made with copick's own API (local overlay, no network),
deduplicated and written back; the written picks, read back with copick, against the brute force of
tests/oracle.py. Skipped when copick is not installed (an optional extra)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.errors import CryodedupError
from cryodedup.formats.copick import root_logger_kept
from oracle import oracle, oracle_species, oracle_support

with root_logger_kept():  # (copick's import sets up the root logger: put back as it was)
    copick = pytest.importorskip("copick")
    from copick.models import CopickLocation, CopickPoint, PickableObject

OBJECTS = {"apoferritin": 60.0, "ribosome": 150.0}  # sorted by name: the species' order
USERS = ["alice", "bob", "carol"]
RUNS = ["TS_001", "TS_002"]


def make_project(tmp_path, seed=0, with_tomograms=True):
    """The project of :func:`build_project`, copick's calls made with the root logger kept as it was."""
    with root_logger_kept():
        return build_project(tmp_path, seed, with_tomograms)


def build_project(tmp_path, seed, with_tomograms):
    """Two objects (radius 60 and 150 Å), three users' apoferritin picks and one ribosome set, two runs.

    Returns the config path and the picks as rows in the reader's order (run, object, user, session,
    point): run index, centre, species index, score, user index.
    """
    rng = np.random.default_rng(seed)
    config = tmp_path / "project" / "copick_config.json"
    objects = [
        PickableObject(name=name, is_particle=True, radius=radius, label=k + 1)
        for k, (name, radius) in enumerate(OBJECTS.items())
    ]
    root = copick.new_config(str(config), str(tmp_path / "project" / "overlay"), pickable_objects=objects)
    rows = []
    for run_name in RUNS:
        run = root.new_run(run_name)
        if with_tomograms:
            run.new_voxel_spacing(10.0).new_tomogram("wbp").from_numpy(np.zeros((20, 40, 40), np.float32), levels=1)
        # Apoferritin: 12 particles, each picked by a random subset of the users, jittered by up to 30 Å.
        truth = rng.uniform(0, 400 * 10 / 10, size=(12, 3)) * [1, 1, 0.5]
        sets = {user: [] for user in USERS}
        for centre in truth:
            for user in USERS:
                if rng.random() < 0.7:
                    sets[user].append(centre + rng.uniform(-30, 30, 3))
        ribosomes = [truth[k] + rng.uniform(-40, 40, 3) for k in range(0, 12, 4)]  # claim some apoferritin places
        ribosomes += [rng.uniform(0, 400, 3) for _ in range(4)]
        picked = [("apoferritin", user, sets[user]) for user in USERS] + [("ribosome", "dave", ribosomes)]
        for name, user, centres in picked:
            picks = run.new_picks(object_name=name, session_id="1", user_id=user)
            scores = np.round(rng.uniform(0, 1, len(centres)), 1)  # one decimal: ties within a species
            picks.points = [
                CopickPoint(location=CopickLocation(x=c[0], y=c[1], z=c[2]), score=float(s))
                for c, s in zip(centres, scores)
            ]
            picks.store()
    for g, run_name in enumerate(RUNS):  # the rows in the reader's order: object, then user, then point
        for name in OBJECTS:
            for user in [*USERS] if name == "apoferritin" else ["dave"]:
                picks = root.get_run(run_name).get_picks(object_name=name, user_id=user, session_id="1")[0]
                for p in picks.points:
                    centre = [p.location.x, p.location.y, p.location.z]
                    rows.append((g, centre, list(OBJECTS).index(name), p.score, ["dave", *USERS].index(user)))
    return config, rows


def read_back(config, user="cryodedup", session="0"):
    """The picks written by the job, read with copick: {(run, object): sorted [(x, y, z, score)]}."""
    with root_logger_kept():
        return _read_back(config, user, session)


def _read_back(config, user, session):
    root = copick.from_file(str(config))
    out = {}
    for run in root.runs:
        for picks in run.get_picks(user_id=user, session_id=session):
            out[(run.name, picks.pickable_object_name)] = sorted(
                (p.location.x, p.location.y, p.location.z, p.score) for p in picks.points
            )
    return out


def expected(rows, keep):
    want = {(run, name): [] for run in RUNS for name in OBJECTS}
    for (g, centre, s, score, _), k in zip(rows, keep):
        if k:
            want[(RUNS[g], list(OBJECTS)[s])].append((*centre, score))
    return {key: sorted(value) for key, value in want.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_project_deduplicated_and_written_back_equals_the_brute_force(tmp_path, seed):
    config, rows = make_project(tmp_path, seed)
    groups, coords = [r[0] for r in rows], [r[1] for r in rows]
    species, scores = [r[2] for r in rows], [r[3] for r in rows]
    radii = list(OBJECTS.values())
    summary = remove_duplicate_particles([config], None, ParticleOptions(cross_species=True))
    keep, _ = oracle_species(groups, coords, species, scores, radii, radii, 1.0)  # min-dist: each radius
    assert read_back(config) == expected(rows, keep)
    assert summary.kept == sum(keep)
    assert [i["file"] for i in summary.to_json()["inputs"]] == ["alice/1", "bob/1", "carol/1", "dave/1"]
    assert summary.to_json()["species"]["names"] == list(OBJECTS)
    assert [p["min_dist_A"] for p in summary.to_json()["species"]["per_species"]] == radii
    json.dumps(summary.to_json(), allow_nan=False)
    # Run again: the job's own picks (cryodedup/0) are never read as an input, and are refused without --force.
    with pytest.raises(CryodedupError, match="exist already"):
        remove_duplicate_particles([config], None, ParticleOptions(cross_species=True))
    again = remove_duplicate_particles([config], None, ParticleOptions(cross_species=True), force=True)
    assert again.particles == summary.particles and read_back(config) == expected(rows, keep)


def test_consensus_across_users_and_the_star_outputs(tmp_path):
    # Apoferritin picks kept only where two of the three users agree (within 60 Å, its radius); the
    # ribosomes, one user's, cannot be confirmed (a single user picked them) and are kept (--uncovered keep).
    config, rows = make_project(tmp_path, 5)
    groups, coords = [r[0] for r in rows], [r[1] for r in rows]
    species, scores, users = [r[2] for r in rows], [r[3] for r in rows], [r[4] for r in rows]
    radii = list(OBJECTS.values())
    options = ParticleOptions(min_support=2, copick_out_session="consensus")
    summary = remove_duplicate_particles([config], tmp_path / "star", options)
    keep, _ = oracle_species(groups, coords, species, scores, radii, [0.0, 0.0], 1.0)
    apo = [k for k in range(len(rows)) if species[k] == 0]
    support = oracle_support([groups[k] for k in apo], [coords[k] for k in apo], [users[k] for k in apo], radii[0])
    for k, n in zip(apo, support):
        keep[k] = keep[k] and n >= 2
    assert read_back(config, session="consensus") == expected(rows, keep)
    # RELION 5 STAR files, one pair per object, centred on each run's tomogram (40 x 40 x 20 voxels of 10 Å).
    import starfile

    kept = starfile.read(tmp_path / "star" / "particles_kept_apoferritin.star")
    rejected = starfile.read(tmp_path / "star" / "particles_rejected_apoferritin.star")
    assert len(kept) + len(rejected) == len(apo) and len(kept) == sum(keep[k] for k in apo)
    centred = kept[["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst"]]
    want = sorted(tuple(np.subtract(coords[k], [200, 200, 100])) for k in apo if keep[k])
    assert np.allclose(sorted(map(tuple, centred.to_numpy())), want)
    assert summary.to_json()["outputs"]["kept"] == [
        str(tmp_path / "star" / "particles_kept_apoferritin.star"),
        str(tmp_path / "star" / "particles_kept_ribosome.star"),
    ]


def test_star_outputs_need_the_runs_tomograms(tmp_path):
    config, _ = make_project(tmp_path, 0, with_tomograms=False)
    with pytest.raises(CryodedupError, match="run TS_001: RELION 5's centred coordinates need the run's tomogram"):
        remove_duplicate_particles([config], tmp_path / "star", ParticleOptions())
    assert read_back(config) == {}  # nothing written into the project either
    remove_duplicate_particles([config], None, ParticleOptions())
    assert read_back(config)


def test_the_cli_takes_a_project_without_an_output_folder(tmp_path):
    from click.testing import CliRunner

    from cryodedup.cli import main

    config, _ = make_project(tmp_path, 3)
    result = CliRunner().invoke(
        main, ["particles", str(config), "--copick-objects", "ribosome", "--min-dist", "ribosome=100", "--json", "-q"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["species"]["names"] == ["ribosome"] and summary["inputs"] == [
        {"file": "dave/1", "particles": summary["particles"], "kept": summary["kept"], "rejected": summary["rejected"]}
    ]
    assert list(read_back(config)) == [("TS_001", "ribosome"), ("TS_002", "ribosome")]
    # The summary says where the kept picks went, not that nothing was written.
    result = CliRunner().invoke(main, ["particles", str(config), "--copick-objects", "ribosome", "--force"])
    assert result.exit_code == 0, result.output
    assert "--audit" not in result.output and "written into the copick project as cryodedup/0" in result.output


def test_reading_a_project_leaves_the_root_logger_as_it_was(tmp_path):
    import logging

    config, _ = make_project(tmp_path, 0)
    before = (list(logging.getLogger().handlers), logging.getLogger().level)
    remove_duplicate_particles([config], None, ParticleOptions())
    assert (list(logging.getLogger().handlers), logging.getLogger().level) == before


def test_rotation_vectors_match_scipy():
    # The poses --max-angle compares, from copick's transformation matrices, against scipy's conversion;
    # angles near 0 and near 180° included (where the axis comes from the diagonal).
    from scipy.spatial.transform import Rotation

    from cryodedup.formats.copick import rotation_vectors

    rng = np.random.default_rng(4)
    vectors = Rotation.random(200, random_state=5).as_rotvec()
    axes = rng.normal(size=(6, 3))
    axes /= np.linalg.norm(axes, axis=1)[:, None]
    vectors = np.vstack([vectors, axes * np.pi, axes * (np.pi - 1e-9), axes * 1e-9, np.zeros((1, 3))])
    got = rotation_vectors(Rotation.from_rotvec(vectors).as_matrix())
    # A rotation by pi is the same about +axis and -axis: compare the rotations themselves.
    assert np.allclose(Rotation.from_rotvec(got).as_matrix(), Rotation.from_rotvec(vectors).as_matrix(), atol=1e-7)
    assert np.allclose(np.linalg.norm(got, axis=1), np.linalg.norm(vectors, axis=1), atol=1e-6)


def test_orientations_of_copick_picks_are_compared_with_max_angle(tmp_path):
    # Two users' picks of one apoferritin 10 Å apart: duplicates at 60 Å, unless their poses differ by
    # more than --max-angle (90° about z here).
    turned = np.eye(4)
    turned[:2, :2] = [[0, -1], [1, 0]]
    config = two_users_project(tmp_path, [("alice", 100.0, np.eye(4), 0.9), ("bob", 110.0, turned, 0.5)])
    assert remove_duplicate_particles([config], None, ParticleOptions()).kept == 1
    assert remove_duplicate_particles([config], None, ParticleOptions(max_angle=30.0), force=True).kept == 2
    assert remove_duplicate_particles([config], None, ParticleOptions(max_angle=100.0), force=True).kept == 1


def test_a_points_centre_is_its_location_plus_its_translation(tmp_path):
    # bob's point lies at x = 300 Å, its transformation shifts it by -190 Å: centre 110, 10 Å from alice's.
    shifted = np.eye(4)
    shifted[0, 3] = -190.0
    config = two_users_project(tmp_path, [("alice", 100.0, np.eye(4), 0.5), ("bob", 300.0, shifted, 0.5)])
    summary = remove_duplicate_particles([config], None, ParticleOptions())
    assert (summary.particles, summary.kept) == (2, 1)
    # The kept point is alice's (tie at 0.5: the first input), written back with its own location.
    assert read_back(config) == {("TS_001", "apoferritin"): [(100.0, 100.0, 100.0, 0.5)]}


def two_users_project(tmp_path, points, sessions=None):
    """A project of one object (apoferritin, radius 60 Å) on one run; ``points``: (user, x, transform, score),
    each in session 1 or its session in ``sessions``."""
    with root_logger_kept():
        config = tmp_path / "copick_config.json"
        objects = [PickableObject(name="apoferritin", is_particle=True, radius=60.0)]
        root = copick.new_config(str(config), str(tmp_path / "overlay"), pickable_objects=objects)
        run = root.new_run("TS_001")
        for (user, x, transform, score), session in zip(points, sessions or ["1"] * len(points)):
            picks = run.new_picks(object_name="apoferritin", session_id=session, user_id=user)
            point = CopickPoint(location=CopickLocation(x=x, y=100.0, z=100.0), score=score)
            point.transformation = transform
            picks.points = [point]
            picks.store()
    return config


def consensus_oracle(rows):
    """The kept rows of :func:`make_project`'s picks with --min-support 2, by brute force over the real users only."""
    groups, coords = [r[0] for r in rows], [r[1] for r in rows]
    species, scores, users = [r[2] for r in rows], [r[3] for r in rows], [r[4] for r in rows]
    radii = list(OBJECTS.values())
    keep, _ = oracle_species(groups, coords, species, scores, radii, [0.0, 0.0], 1.0)
    apo = [k for k in range(len(rows)) if species[k] == 0]
    support = oracle_support([groups[k] for k in apo], [coords[k] for k in apo], [users[k] for k in apo], radii[0])
    for k, n in zip(apo, support):
        keep[k] = keep[k] and n >= 2
    return keep


def test_earlier_results_are_not_read_as_annotators(tmp_path):
    # Run 1 writes cryodedup/0, run 2 mine/x (another out-user): a consensus run after them reads the four
    # real pick sets only, and its answer is the brute force over the real users' picks.
    config, rows = make_project(tmp_path, 5)
    remove_duplicate_particles([config], None, ParticleOptions())
    remove_duplicate_particles([config], None, ParticleOptions(copick_out_user="mine", copick_out_session="x"))
    options = ParticleOptions(min_support=2, copick_out_session="5")
    summary = remove_duplicate_particles([config], None, options)
    assert [i["file"] for i in summary.to_json()["inputs"]] == ["alice/1", "bob/1", "carol/1", "dave/1"]
    assert summary.particles == len(rows)
    assert summary.to_json()["copick"]["left_out"] == ["cryodedup/0", "mine/x"]
    assert read_back(config, session="5") == expected(rows, consensus_oracle(rows))
    # Read on purpose: their user named in --copick-users (this run's own output session never).
    named = ParticleOptions(copick_users="alice,cryodedup", copick_out_session="6")
    again = remove_duplicate_particles([config], None, named)
    assert [i["file"] for i in again.to_json()["inputs"]] == ["alice/1", "cryodedup/0", "cryodedup/5"]


def test_force_never_replaces_picks_cryodedup_did_not_write(tmp_path):
    config, _ = make_project(tmp_path, 0)
    before = read_back(config, user="alice", session="1")
    options = ParticleOptions(copick_out_user="alice", copick_out_session="1")
    with pytest.raises(CryodedupError, match=r"user alice, session 1 holds picks cryodedup did not write .*lose alice"):
        remove_duplicate_particles([config], None, options, force=True)
    assert read_back(config, user="alice", session="1") == before
    # A result of its own, as another user, is replaced with --force (and refused without).
    mine = ParticleOptions(copick_out_user="mine", copick_out_session="1")
    remove_duplicate_particles([config], None, mine)
    with pytest.raises(CryodedupError, match="cryodedup's earlier picks as user mine, session 1 exist already"):
        remove_duplicate_particles([config], None, mine)
    assert remove_duplicate_particles([config], None, mine, force=True).to_json()["inputs"][0]["file"] == "alice/1"


def test_an_output_session_holding_picks_of_objects_not_read_is_refused(tmp_path):
    # dave/1 holds ribosome picks only; a run on apoferritin written as dave/1 would list dave/1 as
    # cryodedup's, and every later run would leave dave's ribosomes out of its inputs.
    config, _ = make_project(tmp_path, 0)
    before = read_back(config, user="dave", session="1")
    options = ParticleOptions(copick_objects="apoferritin", copick_out_user="dave", copick_out_session="1")
    with pytest.raises(CryodedupError, match=r"user dave, session 1 holds picks cryodedup did not write \(TS_"):
        remove_duplicate_particles([config], None, options, force=True)
    assert read_back(config, user="dave", session="1") == before
    later = remove_duplicate_particles([config], None, ParticleOptions(copick_out_session="2"))
    assert "dave/1" in [i["file"] for i in later.to_json()["inputs"]]


def test_the_summary_says_the_kept_picks_went_into_the_project(tmp_path):
    from cryodedup.jobs.particles.job import run
    from cryodedup.jobs.particles.plan import plan
    from cryodedup.jobs.particles.read import Files
    from cryodedup.report.sections import Outputs
    from cryodedup.report.summary import output_rows

    config, _ = make_project(tmp_path, 0)
    typed = run(Files.of([config]), None, plan(ParticleOptions())).summary
    assert output_rows(typed.overview().read.written_into, typed.sections().of(Outputs)) == [
        ("Kept files", "written into the copick project as cryodedup/0"),
        ("Rejected files", "not written (-o writes them as STAR files)"),
    ]


def greedy_with_priority(rows, levels):
    """The kept rows of :func:`make_project`'s picks by a greedy over the picks read with copick's API: each
    run and object on its own, within the object's radius, ranked by priority level (lower first), then
    score (higher first), then row. Also the groups priority decided, per level: a kept row that
    suppressed a row of a worse level."""
    radii = list(OBJECTS.values())
    order = sorted(range(len(rows)), key=lambda i: (levels[i], -rows[i][3], i))
    keep, gone, decided = [False] * len(rows), set(), {}
    for i in order:
        if i in gone:
            continue
        keep[i] = True
        g, centre, s = rows[i][:3]
        near = [j for j in order if j != i and not keep[j] and j not in gone and rows[j][0] == g and rows[j][2] == s]
        near = [j for j in near if np.linalg.norm(np.subtract(rows[j][1], centre)) <= radii[s]]
        gone.update(near)
        if any(levels[j] > levels[i] for j in near):
            decided[levels[i]] = decided.get(levels[i], 0) + 1
    return keep, decided


def test_prefer_names_pick_sets_by_user_session_user_or_position(tmp_path):
    # carol's annotations first, then bob's, then the others (alice, and dave's ribosomes): the written
    # picks against the greedy over the picks read with copick; each spelling of the same priority the same.
    config, rows = make_project(tmp_path, 2)
    user_level = {3: 0, 2: 1}  # (rows' users: dave 0, alice 1, bob 2, carol 3)
    keep, decided = greedy_with_priority(rows, [user_level.get(r[4], 2) for r in rows])
    assert keep != greedy_with_priority(rows, [0] * len(rows))[0], "the priority must change the answer"
    for session, prefer in enumerate((["carol/1", "bob"], ["carol", "bob/1"], [3, "2"])):
        options = ParticleOptions(prefer=prefer, copick_out_session=str(session))
        summary = remove_duplicate_particles([config], None, options)
        assert read_back(config, session=str(session)) == expected(rows, keep), prefer
        priority = summary.to_json()["priority"]
        assert priority["by_priority"] == sum(decided.values())
        assert list(priority["won_by"].values()) == [decided[k] for k in sorted(decided)]
    assert priority["order"] == ["carol/1", "bob/1", "the other inputs"]  # (positions: shown as their pick sets)
    assert summary.to_json()["inputs"][2]["file"] == "carol/1"  # position 3 is the summary's third input


def test_a_user_alone_is_all_its_sessions_at_one_priority(tmp_path):
    # One apoferritin, picked by bob (0.9), alice in session 1 (0.5) and in session 2 (0.7), all 10 Å apart.
    config = sessions_project(tmp_path, [("alice", "1", 0.5), ("alice", "2", 0.7), ("bob", "1", 0.9)])
    kept = {}
    for session, prefer in enumerate(([], ["alice"], ["alice/1"], ["alice/1", "alice/2"], [2])):
        options = ParticleOptions(prefer=prefer, copick_out_session=f"out{session}")
        summary = remove_duplicate_particles([config], None, options)
        (kept[str(prefer)],) = read_back(config, session=f"out{session}")[("TS_001", "apoferritin")]
    # Without priority bob's best score; alice's sessions at one level: her better one; alice/1 first: it.
    assert [k[3] for k in kept.values()] == [0.9, 0.7, 0.5, 0.5, 0.7]
    assert summary.to_json()["priority"]["order"] == ["alice/2", "the other inputs"]
    with pytest.raises(CryodedupError, match=r"--prefer alice/2: alice/2 is preferred twice \(--prefer alice too\)"):
        remove_duplicate_particles([config], None, ParticleOptions(prefer=["alice", "alice/2"]))
    listed = r"\(1: alice/1, 2: alice/2, 3: bob/1\)"
    for wrong in ("carol", "4", "0", "alice/3", "config.json"):
        with pytest.raises(
            CryodedupError, match=rf"--prefer {wrong}: not one of the copick pick sets read; .*{listed}"
        ):
            remove_duplicate_particles([config], None, ParticleOptions(prefer=[wrong]))


def test_the_api_takes_a_project_and_its_pick_sets_by_name(tmp_path):
    # remove_duplicates(config) needs no output folder (it asked for one: "outdir is needed ... files").
    import cryodedup

    config = sessions_project(tmp_path, [("alice", "1", 0.5), ("bob", "1", 0.9)])
    # The picks kept and rejected come back as rows (trial 3: ([], []), no count of what was kept).
    kept, rejected = cryodedup.remove_duplicates(str(config), prefer=["alice/1"])
    assert [tuple(row) for row in kept] == [
        ("TS_001", "apoferritin", "alice/1", *read_back(config)[("TS_001", "apoferritin")][0])
    ]
    assert rejected[["pick_set", "score"]].tolist() == [("bob/1", 0.9)]
    assert read_back(config)[("TS_001", "apoferritin")][0][3] == 0.5
    with pytest.raises(CryodedupError, match="prefer= bob/2: not one of the copick pick sets read"):
        cryodedup.remove_duplicates(config, prefer=["bob/2"], copick_out_session="1")


def test_the_cli_prefers_a_pick_set_by_name(tmp_path):
    from click.testing import CliRunner

    from cryodedup.cli import main

    config = sessions_project(tmp_path, [("alice", "1", 0.5), ("bob", "1", 0.9), ("pytom", "0", 0.8)])
    result = CliRunner().invoke(main, ["particles", str(config), "--prefer", "alice/1", "--json", "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["priority"]["won_by"] == {"alice/1": 1}
    assert read_back(config)[("TS_001", "apoferritin")][0][3] == 0.5
    # The summary names the pick set as the input rows do (it read "1 > the other inputs").
    result = CliRunner().invoke(main, ["particles", str(config), "--prefer", "alice/1", "--force"])
    assert result.exit_code == 0, result.output
    # (alice's 0.5 kept over bob's 0.9 and pytom's 0.8: against the score)
    assert "alice/1 > the other inputs" in result.output
    assert "(1 by alice/1; 1 that the score would have given to another pick)" in " ".join(result.output.split())
    result = CliRunner().invoke(main, ["particles", str(config), "--prefer", "carol/1", "--force"])
    assert result.exit_code != 0 and "Error: --prefer carol/1: not one of the copick pick sets read" in result.output
    assert "(1: alice/1, 2: bob/1, 3: pytom/0)" in result.output and "Traceback" not in result.output


def sessions_project(tmp_path, picks):
    """One apoferritin on one run, picked once per (user, session, score) of ``picks``, 10 Å apart."""
    points = [(user, 100.0 + 10 * k, np.eye(4), score) for k, (user, _, score) in enumerate(picks)]
    return two_users_project(tmp_path, points, [session for _, session, _ in picks])


def _run_cli(*args, cwd):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "cryodedup", "particles", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def _damage_points(point):
    return [
        ("truncated", None),
        ("x as text", {**point, "location": {**point["location"], "x": "abc"}}),
        ("score as text", {**point, "score": "high"}),
        ("no location", {k: v for k, v in point.items() if k != "location"}),
        ("a 2x3 transformation", {**point, "transformation_": [[1, 0, 0], [0, 1, 0]]}),
        ("z missing", {**point, "location": {k: v for k, v in point["location"].items() if k != "z"}}),
    ]


#: What each damage of the first point is called: the point and its field (trial 4: pydantic's first line only).
DAMAGE_NAMED = {
    "truncated": "cannot be read: Expecting",
    "x as text": "cannot be read: point 1, location.x: Input should be a valid number, unable to parse string as a "
    "number (found 'abc')",
    "score as text": "cannot be read: point 1, score: Input should be a valid number",
    "no location": "cannot be read: point 1, location: Field required",
    "a 2x3 transformation": "cannot be read: point 1, transformation_: ",
    "z missing": "cannot be read: point 1, location.z: Field required",
}


def damaged_project(tmp_path, damage):
    """The project of :func:`make_project` (seed 5), bob's apoferritin file damaged as ``damage`` names."""
    config, _ = make_project(tmp_path, 5)
    path = next((tmp_path / "project" / "overlay").rglob("bob_1_apoferritin.json"))
    before = path.read_bytes()
    data = json.loads(before)
    damaged = dict(_damage_points(data["points"][0]))[damage]
    if damaged is None:
        path.write_bytes(before[: len(before) // 2])
    else:
        data["points"][0] = damaged
        path.write_text(json.dumps(data))
    return config


@pytest.mark.parametrize("damage", [name for name, _ in _damage_points({"location": {}})])
def test_a_damaged_pick_file_is_one_line_naming_the_pick_set(tmp_path, damage):
    # Trial: a truncated pick file gave a JSONDecodeError traceback, a bad point pydantic's ValidationError.
    config = damaged_project(tmp_path, damage)
    run = _run_cli(config, "--min-dist", "50", cwd=tmp_path)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1, run.stderr
    assert lines[0].startswith(f"Error: {config}: the picks of run ") and "bob/1" in lines[0], lines[0]
    assert "apoferritin" in lines[0] and DAMAGE_NAMED[damage] in lines[0], lines[0]


def test_a_pick_file_whose_points_are_null_is_one_line(tmp_path):
    # copick writes [] for a set without picks; null made copick's numpy() fail on len(None).
    config, _ = make_project(tmp_path, 5)
    path = next((tmp_path / "project" / "overlay").rglob("bob_1_apoferritin.json"))
    path.write_text(json.dumps({**json.loads(path.read_text()), "points": None}))
    run = _run_cli(config, "--min-dist", "50", cwd=tmp_path)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1, run.stderr
    assert lines[0].endswith('cannot be read: "points" is null, a list of points expected'), lines[0]


@pytest.mark.slow
def test_a_point_without_a_finite_centre_is_named_by_run_object_and_file(tmp_path):
    # Trial 3: "alice/1: particle 27 has no finite centre" named neither the run, the object nor the file.
    config, _ = make_project(tmp_path, 5)
    path = sorted((tmp_path / "project" / "overlay").rglob("bob_1_apoferritin.json"))[-1]
    run = next(part for part in path.parts if part in RUNS)
    data = json.loads(path.read_text())
    data["points"][1]["location"]["x"] = float("nan")
    path.write_text(json.dumps(data))
    result = _run_cli(config, "--min-dist", "50", cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    want = f"Error: {config}: the picks of run {run}, object apoferritin, bob/1 ({path}): point 2 has no finite centre"
    assert lines[0].startswith(want), lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("radius", [-5, 0, "big"])
def test_a_radius_that_is_no_size_is_refused_in_one_line(tmp_path, radius):
    config, _ = make_project(tmp_path, 6)
    text = json.loads(config.read_text())
    text["pickable_objects"][1]["radius"] = radius
    config.write_text(json.dumps(text))
    run = _run_cli(config, cwd=tmp_path)
    lines = run.stderr.strip().splitlines()
    assert run.returncode != 0 and len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    if radius != "big":  # (copick's own model refuses text: "not a copick project copick can open")
        assert f"pickable object ribosome: radius {radius}" in lines[0], lines[0]
    assert lines[0].startswith(f"Error: {config}"), lines[0]


def test_an_object_without_a_radius_is_compared_at_min_dist_and_said(tmp_path):
    config, rows = make_project(tmp_path, 7)
    text = json.loads(config.read_text())
    del text["pickable_objects"][1]["radius"]
    config.write_text(json.dumps(text))
    run = _run_cli(config, "--copick-objects", "ribosome", "--json", "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    said = "ribosome has no radius: its picks are compared at 20 Å, as with --min-dist ribosome=20;"
    assert any(said in w for w in summary["warnings"]), summary["warnings"]
    ribosomes = [r for r in rows if r[2] == 1]
    at = {
        d: sum(oracle([r[0] for r in ribosomes], [r[1] for r in ribosomes], [r[3] for r in ribosomes], d)[0])
        for d in (20.0, 150.0)
    }
    assert summary["kept"] == at[20.0] > at[150.0]  # (at the radius the file had, fewer are kept)


@pytest.mark.slow
def test_a_missing_or_broken_config_is_not_a_missing_output_folder(tmp_path):
    # Trial: both were "Missing option '-o' / '--outdir'", which sent the user after the wrong thing.
    broken, cut = tmp_path / "broken.json", tmp_path / "cut.json"
    broken.write_text('{"pickable_objects": [')
    cut.write_text('{"name": "x", ')
    cases = [
        (tmp_path / "nonexist_config.json", "no such file"),
        (broken, "not a copick project"),
        (cut, "no copick project's config"),
    ]
    for config, said in cases:
        run = _run_cli(config, cwd=tmp_path)
        assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr
        text = " ".join(re.sub("[│╭╮╰╯─]", " ", run.stderr).split())  # (click's usage errors come boxed)
        assert str(config) in text and said in text, run.stderr
        if config != cut:
            assert run.returncode == 1 and len(run.stderr.strip().splitlines()) == 1, run.stderr


@pytest.mark.parametrize(
    ("user", "session", "said"),
    [
        ("my_tool", "0", "--copick-out-user 'my_tool'.*store it as 'my-tool'; give --copick-out-user my-tool"),
        ("cryodedup", "run 2", "--copick-out-session 'run 2'.*store it as 'run-2'"),
        ("__", "0", "--copick-out-user '__'.*store it as 'nothing'"),
    ],
)
def test_an_output_name_copick_would_change_is_refused_before_anything_is_written(tmp_path, user, session, said):
    """copick stores my_tool as my-tool: the picks were lost to this job, then read back as an annotator's."""
    config, _ = make_project(tmp_path, 0)
    overlay = sorted(p.relative_to(tmp_path) for p in (tmp_path / "project").rglob("*"))
    with pytest.raises(CryodedupError, match=said):
        remove_duplicate_particles([config], None, ParticleOptions(copick_out_user=user, copick_out_session=session))
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "project").rglob("*")) == overlay
    summary = remove_duplicate_particles([config], None, ParticleOptions(copick_out_user="my-tool"))
    assert sum(len(points) for points in read_back(config, user="my-tool").values()) == summary.kept > 0


# --- `copick process dedup`: the command copick's own CLI finds by cryodedup's entry point ---------------------

ENTRY_POINT_GROUP = "copick.process.commands"
EVALUATION_GROUP = "copick.evaluation.commands"
COPICK_GROUPS = (ENTRY_POINT_GROUP, EVALUATION_GROUP)


def declared_copick_commands(group=ENTRY_POINT_GROUP):
    """The entry points pyproject.toml declares in one of copick's groups: {name: object reference}."""
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    return pyproject["project"]["entry-points"].get(group, {})


@pytest.fixture
def copick_cli(tmp_path_factory, monkeypatch):
    """copick's top-level ``cli`` as copick builds it at import, its plugins found through importlib.metadata.

    When the installed cryodedup's metadata is not this source tree's (tests run with PYTHONPATH), a
    distribution carrying pyproject.toml's entry points is put first on the path, as ``pip install`` would
    write it; copick's module is then imported anew, so that its own discovery finds them.
    """
    import importlib
    import importlib.metadata

    declared = {group: declared_copick_commands(group) for group in COPICK_GROUPS}
    installed = {
        group: {e.name: e.value for e in importlib.metadata.entry_points(group=group)} for group in COPICK_GROUPS
    }
    if installed != declared:
        site = tmp_path_factory.mktemp("site")
        info = site / "cryodedup-0.0.0.dist-info"
        info.mkdir()
        info.joinpath("METADATA").write_text("Metadata-Version: 2.1\nName: cryodedup\nVersion: 0.0.0\n")
        lines = [
            line
            for group, commands in declared.items()
            for line in (f"[{group}]", *(f"{name} = {value}" for name, value in commands.items()))
        ]
        info.joinpath("entry_points.txt").write_text("\n".join(lines) + "\n")
        monkeypatch.syspath_prepend(str(site))
    with root_logger_kept():
        import copick.cli.cli

        return importlib.reload(copick.cli.cli).cli


def run_copick(cli, *args):
    from click.testing import CliRunner

    with root_logger_kept():
        return CliRunner().invoke(cli, [str(a) for a in args])


def test_the_entry_point_makes_copick_process_dedup(copick_cli):
    assert declared_copick_commands() == {"dedup": "cryodedup.copick_command:dedup"}
    top = run_copick(copick_cli, "--help")
    assert top.exit_code == 0 and "process" in top.output, top.output
    group = run_copick(copick_cli, "process", "--help")
    assert group.exit_code == 0 and re.search(r"dedup\s+Remove duplicate picks \(cryodedup\)", group.output)
    help = run_copick(copick_cli, "process", "dedup", "--help")
    assert help.exit_code == 0, help.output
    # copick's config and debug options, and the particle job's copick options under their own names.
    for flag in ("-c, --config", "COPICK_CONFIG", "--debug", "--copick-objects", "--copick-out-session"):
        assert flag in help.output, flag
    for flag in ("--min-dist", "--prefer", "--min-support", "--cross-species", "--radius", "--force", "--json"):
        assert flag in help.output, flag


def test_the_installed_distribution_carries_the_entry_point():
    # Run in a venv where this source tree is installed (pip install -e ".[copick]"): the wheel's metadata.
    import importlib.metadata
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    distribution = importlib.metadata.distribution("cryodedup")
    if str(root) not in (distribution.read_text("direct_url.json") or ""):
        pytest.skip("the installed cryodedup is not this source tree (pip install -e it to test its metadata)")
    for group in COPICK_GROUPS:
        found = {e.name: e.value for e in distribution.entry_points if e.group == group}
        assert found == declared_copick_commands(group), group


def test_the_wheels_metadata_carries_copicks_entry_points(tmp_path):
    # The dist-info the wheel is built with, as maturin writes it for pip (PEP 517's metadata hook: no compiling).
    import configparser
    import os
    import shutil
    import subprocess
    from pathlib import Path

    maturin = shutil.which("maturin")
    if maturin is None or shutil.which("cargo") is None:  # (maturin reads the metadata through cargo)
        pytest.skip("maturin or cargo is not on PATH")
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [maturin, "pep517", "write-dist-info", "--metadata-directory", str(tmp_path)],
        cwd=root,
        env={**os.environ, "CARGO_TARGET_DIR": str(tmp_path / "target")},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    (info,) = tmp_path.glob("cryodedup-*.dist-info")
    entry_points = configparser.ConfigParser(delimiters=("=",))
    entry_points.optionxform = str  # (names as written)
    entry_points.read(info / "entry_points.txt")
    for group in COPICK_GROUPS:
        assert dict(entry_points[group]) == declared_copick_commands(group), group


def test_copick_process_dedup_writes_back_the_brute_force(copick_cli, tmp_path):
    # As the first test of this file, through copick's CLI: each object at its radius, --cross-species.
    config, rows = make_project(tmp_path, 4)
    groups, coords = [r[0] for r in rows], [r[1] for r in rows]
    species, scores = [r[2] for r in rows], [r[3] for r in rows]
    radii = list(OBJECTS.values())
    keep, _ = oracle_species(groups, coords, species, scores, radii, radii, 1.0)
    result = run_copick(copick_cli, "process", "dedup", "-c", config, "--cross-species", "--json", "-q")
    assert result.exit_code == 0, result.output
    assert read_back(config) == expected(rows, keep)
    summary = json.loads(result.stdout)
    assert summary["kept"] == sum(keep) and summary["particles"] == len(rows)
    # The config from copick's environment variable, as copick's own commands take it; the job's own picks
    # are never read back, and are replaced with --force only.
    again = CliRunnerEnv(config).invoke(copick_cli, ["process", "dedup", "--cross-species", "-q"])
    assert (
        again.exit_code == 1 and "cryodedup's earlier picks as user cryodedup, session 0 exist already" in again.output
    )
    again = CliRunnerEnv(config).invoke(copick_cli, ["process", "dedup", "--cross-species", "--force", "-q"])
    assert again.exit_code == 0, again.output
    assert read_back(config) == expected(rows, keep)


def CliRunnerEnv(config):
    from click.testing import CliRunner

    return CliRunner(env={"COPICK_CONFIG": str(config)})


def test_copick_process_dedup_takes_the_particle_jobs_options(copick_cli, tmp_path):
    # Consensus of two of the three annotators, into a session of its own, with the STAR files beside.
    config, rows = make_project(tmp_path, 5)
    args = ["--min-support", "2", "--copick-out-session", "consensus", "-o", tmp_path / "star", "-q"]
    result = run_copick(copick_cli, "process", "dedup", "--config", config, *args)
    assert result.exit_code == 0, result.output
    keep = consensus_oracle(rows)
    assert read_back(config, session="consensus") == expected(rows, keep)
    assert read_back(config) == {}  # (not cryodedup/0)
    assert sorted(p.name for p in (tmp_path / "star").iterdir()) == [
        f"particles_{kind}_{name}.star" for kind in ("kept", "rejected") for name in OBJECTS
    ]
    # --prefer ranks pick sets by name: carol's, then bob's, then the others (the greedy with priority).
    user_level = {3: 0, 2: 1}  # (rows' users: dave 0, alice 1, bob 2, carol 3)
    keep, _ = greedy_with_priority(rows, [user_level.get(r[4], 2) for r in rows])
    args = ["--prefer", "carol/1", "--prefer", "bob", "--copick-out-user", "ranked", "-q"]
    result = run_copick(copick_cli, "process", "dedup", "-c", config, *args)
    assert result.exit_code == 0, result.output
    assert read_back(config, user="ranked") == expected(rows, keep)
    # --copick-objects and a --min-dist pair: the ribosomes alone, at 100 Å.
    ribosomes = [k for k, r in enumerate(rows) if r[2] == 1]
    kept, _ = oracle(
        [rows[k][0] for k in ribosomes], [rows[k][1] for k in ribosomes], [rows[k][3] for k in ribosomes], 100.0
    )
    args = ["--copick-objects", "ribosome", "--min-dist", "ribosome=100", "--copick-out-session", "r100", "-q"]
    result = run_copick(copick_cli, "process", "dedup", "-c", config, *args)
    assert result.exit_code == 0, result.output
    want = expected(rows, [k in ribosomes and kept[ribosomes.index(k)] for k in range(len(rows))])
    assert read_back(config, session="r100") == {key: picks for key, picks in want.items() if key[1] == "ribosome"}


@pytest.mark.parametrize(
    "args, said, status",
    [
        ([], "Error: Configuration file path is required. Use -c/--config option.", 2),
        (
            ["-c", "absent.json"],
            "Error: Invalid value for '-c' / '--config' (env var: 'COPICK_CONFIG'): Path 'absent.json' does not exist.",
            2,
        ),
        (["--prefer", "erin/1"], "Error: --prefer erin/1: not one of the copick pick sets read", 1),
        (["--min-support", "0"], "Error: Invalid value for '--min-support': 0 is not in the range", 2),
        (
            ["--min-dist", "-3"],
            "Error: --min-dist must be a distance in Å from 0 to 1e150 (its square finite), got -3",
            2,
        ),
        (["--radius", "ribosome=100"], "Error: --radius is used by --cross-species alone: give --cross-species too", 2),
    ],
)
def test_copick_process_dedup_errors_are_one_line(copick_cli, tmp_path, monkeypatch, args, said, status):
    config, _ = make_project(tmp_path, 0)
    monkeypatch.chdir(tmp_path)
    given = ["-c", config] if args[:1] != ["-c"] and args else []
    result = run_copick(copick_cli, "process", "dedup", *given, *args, "-q")
    assert result.exit_code == status, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and errors[0].startswith(said), result.stderr
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output


def test_copick_process_dedup_has_the_declared_options_and_the_apis_defaults(tmp_path):
    import dataclasses

    import click

    from cryodedup.commands import COPICK_DEDUP, field_values
    from cryodedup.copick_command import dedup

    options = [p for p in dedup.params if isinstance(p, click.Option)]
    names = [tuple(p.opts + p.secondary_opts) for p in options]
    assert names == [("-c", "--config"), *(tuple(f.flags) for f in COPICK_DEDUP.options), ("--debug", "--no-debug")]
    config = tmp_path / "copick_config.json"
    config.write_text("{}")
    with dedup.make_context("dedup", ["-c", str(config)]) as ctx:
        parsed = ctx.params
    made = ParticleOptions(**field_values(ParticleOptions, parsed, partial=True))
    assert dataclasses.asdict(made) == dataclasses.asdict(ParticleOptions())
    with pytest.raises(KeyError):  # (a command of the job's every option still gives them all)
        field_values(ParticleOptions, parsed)


# --- `copick evaluation comparepicks`: two pick sets of a project compared, through copick's CLI ---------------

#: Planted picks (Å) of the ribosome (radius 150 Å) and the apoferritin (radius 60 Å) of alice (the reference)
#: and bob (the candidate), run by run (alice picked nothing on TS_003, dave no apoferritin); carol's (alice's
#: copy) and cryodedup's (bob's copy) are read only when named.
PLANTED = {
    "TS_001": {
        "ribosome": {
            "alice": [(1000, 1000, 500), (2000, 1000, 500), (3000, 1000, 500), (1000, 3000, 500), (3000, 3000, 500)],
            "bob": [
                (1030, 1000, 500),  # alice's 1st, 30 Å: matched
                (2000, 1150, 500),  # alice's 2nd, 150 Å: at the radius, matched
                (3200, 1000, 500),  # alice's 3rd, 200 Å: beyond the radius
                (1000, 3000, 640),  # alice's 4th, 140 Å ...
                (1000, 3090, 500),  # ... and 90 Å: one of the two matched (one to one)
                (6000, 6000, 500),  # nobody's
            ],
        },
        "apoferritin": {
            "alice": [(500, 500, 300), (1500, 500, 300)],
            "bob": [(540, 500, 300), (1580, 500, 300)],  # 40 Å: matched; 80 Å: beyond 60 Å
        },
    },
    "TS_002": {
        "ribosome": {
            "alice": [(800, 800, 400), (1800, 800, 400), (2800, 800, 400)],
            "bob": [(800, 850, 400), (1800, 800, 450)],  # 50 Å each: matched
        },
    },
    "TS_003": {"ribosome": {"bob": [(900, 900, 300), (2900, 900, 300)], "dave": [(900, 900, 300)]}},
}
#: What was planted, counted by hand: per object, per run (reference picks, candidate picks, matched).
HAND_COUNTED = {
    "ribosome": {"TS_001": (5, 6, 3), "TS_002": (3, 2, 2), "TS_003": (0, 2, 0)},
    "apoferritin": {"TS_001": (2, 2, 1)},
}


def planted_project(tmp_path):
    """The picks of :data:`PLANTED` in a project made with copick's API, with carol's and cryodedup's beside."""
    with root_logger_kept():
        config = tmp_path / "project" / "copick_config.json"
        objects = [
            PickableObject(name=name, is_particle=True, radius=radius, label=k + 1)
            for k, (name, radius) in enumerate(OBJECTS.items())
        ]
        root = copick.new_config(str(config), str(tmp_path / "project" / "overlay"), pickable_objects=objects)
        for run_name, by_object in PLANTED.items():
            run = root.new_run(run_name)
            for name, by_user in by_object.items():
                others = {"carol": by_user.get("alice", []), "cryodedup": by_user.get("bob", [])}
                for user, centres in {**by_user, **others}.items():
                    picks = run.new_picks(
                        object_name=name, session_id="0" if user == "cryodedup" else "1", user_id=user
                    )
                    picks.points = [
                        CopickPoint(location=CopickLocation(x=x, y=y, z=z), score=1.0) for x, y, z in centres
                    ]
                    picks.store()
    return config


def most_matched(a, b, radius):
    """The most one-to-one pairs of picks of ``a`` and ``b`` at most ``radius`` apart (every choice tried)."""
    if not a:
        return 0
    first, rest = np.asarray(a[0], float), a[1:]
    best = most_matched(rest, b, radius)  # (the first pick left unmatched)
    for j, other in enumerate(b):
        if np.linalg.norm(first - np.asarray(other, float)) <= radius:
            best = max(best, 1 + most_matched(rest, b[:j] + b[j + 1 :], radius))
    return best


def jaccard(a, b, radius):
    """The Jaccard index of two pick sets matched one to one: matched / (|A| + |B| - matched)."""
    if not a and not b:
        return None
    matched = most_matched(a, b, radius)
    return matched / (len(a) + len(b) - matched)


def scores(reference, candidate, matched):
    precision = matched / candidate if candidate else None
    recall = matched / reference if reference else None
    return precision, recall


def test_the_entry_point_makes_copick_evaluation_comparepicks(copick_cli):
    assert declared_copick_commands(EVALUATION_GROUP) == {"comparepicks": "cryodedup.copick_command:comparepicks"}
    top = run_copick(copick_cli, "--help")
    assert top.exit_code == 0 and "evaluation" in top.output, top.output
    group = run_copick(copick_cli, "evaluation", "--help")
    assert group.exit_code == 0 and re.search(r"comparepicks\s+Compare two pick sets", group.output), group.output
    help = run_copick(copick_cli, "evaluation", "comparepicks", "--help")
    assert help.exit_code == 0, help.output
    for flag in ("-c, --config", "COPICK_CONFIG", "--debug", "--reference", "--candidate", "--copick-objects"):
        assert flag in help.output, flag
    for flag in ("--radius", "--beta", "--quiet", "--json"):
        assert flag in help.output, flag


def test_comparepicks_counts_the_planted_matches_per_run_and_in_all(copick_cli, tmp_path):
    config = planted_project(tmp_path)
    result = run_copick(
        copick_cli,
        "evaluation",
        "comparepicks",
        "-c",
        config,
        "--reference",
        "alice/1",
        "--candidate",
        "bob/1",
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.splitlines()[-1])  # (copick's banner comes first)
    assert [o["object"] for o in summary["objects"]] == sorted(HAND_COUNTED)
    for compared in summary["objects"]:
        name, radius = compared["object"], OBJECTS[compared["object"]]
        assert compared["radius_A"] == radius and compared["inputs"] == ["alice/1", "bob/1"]
        runs = {r["micrograph"]: r for r in compared["per_micrograph"]}
        assert sorted(runs) == sorted(HAND_COUNTED[name])
        for run_name, (n_ref, n_cand, matched) in HAND_COUNTED[name].items():
            planted = PLANTED[run_name][name]
            assert matched == most_matched(planted.get("alice", []), planted.get("bob", []), radius)
            run = runs[run_name]
            assert (run["picks"], run["matched"]) == ([n_ref, n_cand], matched), run_name
            assert run["unmatched"] == [n_ref - matched, n_cand - matched]
            assert run["jaccard"] == round(jaccard(planted.get("alice", []), planted.get("bob", []), radius), 4)
            precision, recall = scores(n_ref, n_cand, matched)
            assert run["precision"] == (None if precision is None else round(precision, 4))
            assert run["recall"] == (None if recall is None else round(recall, 4))
        n_ref, n_cand, _ = (sum(c[k] for c in HAND_COUNTED[name].values()) for k in range(3))
        assert compared["picks"] == [n_ref, n_cand]
        # Scored over the runs both sets picked (TS_003's ribosomes are bob's alone: left out, and said).
        shared = [c for c in HAND_COUNTED[name].values() if c[0] and c[1]]
        n_ref, n_cand, matched = (sum(c[k] for c in shared) for k in range(3))
        assert (compared["picks_scored"], compared["matched"]) == ([n_ref, n_cand], matched)
        assert compared["unmatched"] == [n_ref - matched, n_cand - matched]
        precision, recall = scores(n_ref, n_cand, matched)
        f1 = 2 * precision * recall / (precision + recall)
        assert compared["reference"] == {
            "input": "alice/1",
            "beta": 1.0,
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f_beta": round(f1, 4),
        }
        # 2 to 8 picks a set: too few to tell a frame from chance (issue 63), and said so
        assert compared["registration"]["frames"] == "cannot tell"
        assert compared["registration"]["cannot_tell"] == "too few picks"
    # The hand's totals: ribosomes 8 of alice's, 10 of bob's, 5 matched; 8 of bob's on the runs alice picked.
    ribosome = summary["objects"][1]
    assert (ribosome["picks"], ribosome["matched"], ribosome["reference"]["precision"]) == ([8, 10], 5, 0.625)
    assert ribosome["left_out"] == {"micrographs": 1, "picks": [0, 2]}
    assert "left out: 1 run only one covers (0 + 2 picks; --over all scores them)" in result.stderr
    every = run_copick(
        copick_cli,
        "evaluation",
        "comparepicks",
        "-c",
        config,
        "--reference",
        "alice/1",
        "--candidate",
        "bob/1",
        "--over",
        "all",
        "--json",
    )
    assert every.exit_code == 0, every.output
    ribosome = json.loads(every.stdout.splitlines()[-1])["objects"][1]
    assert (ribosome["picks_scored"], ribosome["reference"]["precision"]) == ([8, 10], 0.5)
    # The table on stderr: the matched and unmatched of each object, in all and per run.
    assert "copick evaluation comparepicks: ribosome" in result.stderr
    assert "TS_003: 0 matched, unmatched 0 + 2" in result.stderr


def test_comparepicks_takes_a_radius_an_object_and_the_config_from_copicks_variable(copick_cli, tmp_path):
    config = planted_project(tmp_path)
    args = ["evaluation", "comparepicks", "--reference", "alice/1", "--candidate", "bob/1", "--json", "-q"]
    # At 100 Å the apoferritin's 80 Å pair is matched too; the config from COPICK_CONFIG, as copick's commands take it.
    result = CliRunnerEnv(config).invoke(copick_cli, [*args, "--copick-objects", "apoferritin", "--radius", "100"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.splitlines()[-1])
    (apoferritin,) = summary["objects"]
    planted = PLANTED["TS_001"]["apoferritin"]
    assert apoferritin["matched"] == most_matched(planted["alice"], planted["bob"], 100) == 2
    # cryodedup's own result (cryodedup/0) is compared as any pick set when named; bob's picks are its copy.
    result = CliRunnerEnv(config).invoke(copick_cli, [*args[:-3], "cryodedup/0", "--json", "-q"])
    assert result.exit_code == 0, result.output
    for compared in json.loads(result.stdout.splitlines()[-1])["objects"]:
        assert compared["inputs"] == ["alice/1", "cryodedup/0"]
        assert compared["matched"] == sum(c[2] for c in HAND_COUNTED[compared["object"]].values())
    # A candidate with no picks of the object compared (dave picked ribosomes only) shares no run with the
    # reference: what was left out is said; --over all scores it over the run too (it found none).
    dave = [*args[:-3], "dave/1", "--copick-objects", "apoferritin", "--json"]
    result = CliRunnerEnv(config).invoke(copick_cli, dave)
    assert result.exit_code == 0, result.output
    # (a candidate that picked nothing found none of the reference's picks: recall 0, said so)
    assert "dave/1: precision -, recall 0.000, F1 0.000 (it picked nothing" in result.stderr
    assert "left out: 1 run only one covers (2 + 0 picks; --over all scores them)" in result.stderr
    result = CliRunnerEnv(config).invoke(copick_cli, [*dave, "--over", "all"])
    assert "dave/1: precision -, recall 0.000" in result.stderr
    (apoferritin,) = json.loads(result.stdout.splitlines()[-1])["objects"]
    assert (apoferritin["picks"], apoferritin["matched"], apoferritin["unmatched"]) == ([2, 0], 0, [2, 0])
    assert (apoferritin["reference"]["precision"], apoferritin["reference"]["recall"]) == (None, 0.0)


def test_comparepicks_of_a_random_project_equals_the_brute_force(copick_cli, tmp_path):
    config, rows = make_project(tmp_path, 3)  # (rows: run, centre, species, score, user: alice 1, bob 2, carol 3)
    result = run_copick(
        copick_cli, "evaluation", "comparepicks", "-c", config, "--reference", "carol/1", "--candidate", "alice/1",
        "--copick-objects", "apoferritin", "--radius", "45", "--beta", "2", "--json", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (compared,) = json.loads(result.stdout.splitlines()[-1])["objects"]
    total = [0, 0, 0]
    for g, run_name in enumerate(RUNS):
        carol = [r[1] for r in rows if r[0] == g and r[2] == 0 and r[4] == 3]
        alice = [r[1] for r in rows if r[0] == g and r[2] == 0 and r[4] == 1]
        matched = most_matched(carol, alice, 45.0)
        (run,) = [r for r in compared["per_micrograph"] if r["micrograph"] == run_name]
        assert (run["picks"], run["matched"]) == ([len(carol), len(alice)], matched)
        total = [total[0] + len(carol), total[1] + len(alice), total[2] + matched]
    precision, recall = total[2] / total[1], total[2] / total[0]
    assert compared["matched"] == total[2] and compared["reference"]["recall"] == round(recall, 4)
    assert compared["reference"]["f_beta"] == round(5 * precision * recall / (4 * precision + recall), 4)


def test_comparepicks_finds_a_candidate_in_another_frame_and_takes_the_transform_it_names(copick_cli, tmp_path):
    # bob's picks are alice's moved 500 Å along x (and jittered by at most 5 Å): none meets its own at 100 Å until
    # the registration's transform moves them back, and then every one does (a pick per pick: all matched).
    rng = np.random.default_rng(7)
    with root_logger_kept():
        config = tmp_path / "project" / "copick_config.json"
        ribosome = PickableObject(name="ribosome", is_particle=True, radius=100.0, label=1)
        root = copick.new_config(str(config), str(tmp_path / "project" / "overlay"), pickable_objects=[ribosome])
        for run_name in RUNS:
            run = root.new_run(run_name)
            truth = rng.uniform(0, 6000, (60, 3)) * [1, 1, 0.3]
            moved = truth + np.array([500, 0, 0]) + rng.uniform(-2.8, 2.8, truth.shape)  # (at most 4.9 Å off)
            for user, centres in (("alice", truth), ("bob", moved)):
                picks = run.new_picks(object_name="ribosome", session_id="1", user_id=user)
                picks.points = [CopickPoint(location=CopickLocation(x=x, y=y, z=z), score=1.0) for x, y, z in centres]
                picks.store()
    args = ["evaluation", "comparepicks", "-c", config, "--reference", "alice/1", "--candidate", "bob/1", "--json"]
    result = run_copick(copick_cli, *args)
    assert result.exit_code == 0, result.output
    (ribosome,) = json.loads(result.stdout.splitlines()[-1])["objects"]
    registration = ribosome["registration"]
    assert registration["frames"] == "two", registration
    assert registration["best_transform"]["shift_A"][0] == pytest.approx(-500, abs=5)
    assert "two frames" in result.stderr
    fix = registration["fix"].removeprefix("--transform ").strip("'")
    result = run_copick(copick_cli, *args, "--transform", fix)
    assert result.exit_code == 0, result.output
    (ribosome,) = json.loads(result.stdout.splitlines()[-1])["objects"]
    assert (ribosome["picks"], ribosome["matched"]) == ([120, 120], 120)
    assert ribosome["registration"]["frames"] == "one"
    assert ribosome["transforms_applied"] == [{"input": "bob/1", "transform": fix.split("=", 1)[1]}]


@pytest.mark.parametrize(
    "args, said, status",
    [
        (["--candidate", "bob/1"], "Error: Missing option '--reference'", 2),
        (["--candidate", "erin/1"], "Error: {config}: no picks by user erin, session 1 (the project's pick sets", 1),
        (["--candidate", "bob/7"], "Error: {config}: no picks by user bob, session 7", 1),
        (["--candidate", "bob"], "Error: {config}: 'bob' names no pick set: USER/SESSION expected", 1),
        (["--candidate", "alice/1"], "Error: --reference and --candidate name one pick set, alice/1", 2),
        (
            ["--candidate", "bob/1", "--copick-objects", "proteasome"],
            "Error: {config}: --copick-objects proteasome: no such particle object",
            1,
        ),
        (
            ["--candidate", "bob/1", "--radius", "-3"],
            "Error: --radius must be a distance in Å above 0, to 1e150, got -3",
            2,
        ),
        (["--candidate", "bob/1", "-c", "broken.json"], "Error: broken.json: not a copick project copick can open", 1),
    ],
)
def test_comparepicks_errors_are_one_line(copick_cli, tmp_path, monkeypatch, args, said, status):
    config = planted_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    reference = [] if said.startswith("Error: Missing") else ["--reference", "alice/1"]
    given = [] if "-c" in args else ["-c", config]
    result = run_copick(copick_cli, "evaluation", "comparepicks", *given, *reference, *args, "-q")
    assert result.exit_code == status, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and errors[0].startswith(said.format(config=config)), result.stderr
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output


@pytest.mark.parametrize("damage", ["truncated", "x as text"])
def test_comparepicks_names_a_damaged_pick_file_in_one_line(copick_cli, tmp_path, damage):
    config = damaged_project(tmp_path, damage)
    overlay = sorted((tmp_path / "project").rglob("*"))
    args = ["-c", config, "--reference", "alice/1", "--candidate", "bob/1", "-q"]
    result = run_copick(copick_cli, "evaluation", "comparepicks", *args)
    assert result.exit_code == 1, result.output
    assert sorted((tmp_path / "project").rglob("*")) == overlay  # (nothing written)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and errors[0].startswith(f"Error: {config}: the picks of run "), result.stderr
    assert "apoferritin, bob/1" in errors[0] and DAMAGE_NAMED[damage] in errors[0], errors[0]


# --- issue 63 item 3: copick process dedup takes the options its messages suggest ---------------------------


def shifted_project(tmp_path, shift=(400.0, -300.0, 0.0)):
    """alice/1's ribosomes on two runs, and bob/1 the same picks moved by ``shift`` Å (another frame)."""
    rng = np.random.default_rng(11)
    with root_logger_kept():
        config = tmp_path / "project" / "copick_config.json"
        objects = [PickableObject(name="ribosome", is_particle=True, radius=60.0, label=1)]
        root = copick.new_config(str(config), str(tmp_path / "project" / "overlay"), pickable_objects=objects)
        truth = {}
        for run_name in ("TS_001", "TS_002"):
            run = root.new_run(run_name)
            centres = np.round(rng.uniform(500, 5000, (80, 3)) * [1, 1, 0.2], 1)
            truth[run_name] = centres
            for user, moved in (("alice", centres), ("bob", centres + np.array(shift))):
                picks = run.new_picks(object_name="ribosome", session_id="1", user_id=user)
                picks.points = [
                    CopickPoint(location=CopickLocation(x=x, y=y, z=z), score=1.0) for x, y, z in moved.tolist()
                ]
                picks.store()
    return config, truth


def test_copick_dedup_runs_the_transform_and_the_registration_its_refusal_suggests(copick_cli, tmp_path):
    config, truth = shifted_project(tmp_path)
    base = ["process", "dedup", "-c", config, "-q"]
    refused = run_copick(copick_cli, *base)
    assert refused.exit_code == 1 and "are in two frames" in refused.output, refused.output
    suggested = re.findall(r"--transform '([^']+)'|(--registration warn)", refused.output)
    assert suggested, refused.output
    transform = next(t for t, _ in suggested if t)
    assert transform.startswith("bob/1=")
    # Pasted, each runs: the transform merges (bob's picks moved back onto alice's), warn merges as they are.
    done = run_copick(copick_cli, *base, "--transform", transform, "--json")
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["kept"] == 160 and summary["transforms"][0]["input"] == "bob/1"
    assert "moved locations" in summary["transforms"][0]["written"]
    warned = run_copick(copick_cli, *base, "--registration", "warn", "--copick-out-session", "2")
    assert warned.exit_code == 0, warned.output
    # The kept picks written into the project lie on alice's (bob's moved back, within the words' 0.1 Å).
    with root_logger_kept():
        root = copick.from_file(str(config))
        for run in root.runs:
            (kept,) = run.get_picks(object_name="ribosome", user_id="cryodedup", session_id="0")
            points = np.array([[p.location.x, p.location.y, p.location.z] for p in kept.points])
            distance = np.linalg.norm(points[:, None, :] - truth[run.name][None, :, :], axis=2).min(axis=1)
            assert len(points) == 80 and distance.max() < 1.0
    # --dataset and --plot are taken as the particle job takes them.
    labelled = run_copick(
        copick_cli, *base, "--registration", "ignore", "--dataset", "bob/1=B", "--copick-out-session", "3"
    )
    assert labelled.exit_code == 0, labelled.output
    # (--plot needs -o, whose STAR files need the runs' tomograms, which this project lacks: taken, and said)
    plotted = run_copick(
        copick_cli, *base, "--transform", transform, "--plot", "-o", tmp_path / "star", "--copick-out-session", "4"
    )
    assert plotted.exit_code == 1 and "No such option" not in plotted.output
    assert "RELION 5's centred coordinates need the run's tomogram" in plotted.output


def test_copick_registration_names_runs_and_angstrom(tmp_path):
    # copick calls its tomograms runs, and its centres are in Å (no pixel): today's main said "2 of 2 shared
    # tomograms" and "translation in pixels of 1 Å" in the refusal, and "tomograms" in the summary's row.
    from cryodedup.report.sections import Registration, Sections
    from cryodedup.report.summary import particle_rows

    config, _ = shifted_project(tmp_path)
    with pytest.raises(CryodedupError) as refused:
        remove_duplicate_particles([config], None, ParticleOptions(audit=True))
    said = str(refused.value)
    assert "after shift:-400,300,0 (in Å: an offset of -400.0 ± 0.0, +300.0 ± 0.0, +0.0 ± 0.0 Å)" in said, said
    assert "on 2 of 2 shared runs" in said and "tomogram" not in said and "pixels" not in said, said
    summary = remove_duplicate_particles([config], None, ParticleOptions(audit=True, registration="warn"))
    registered = Sections((Registration.from_json(summary.to_json()["registration"]),))
    (row,) = [text for label, text in particle_rows(summary.overview(), registered) if label.startswith("Registration")]
    assert "on 2 of 2 runs; 160 + 160 picks on 2 runs" in row and "tomogram" not in row, row
    assert "shift:-400,300,0, ± 0.0 Å (" in row and " px" not in row, row  # (no pixel: Å)
    (pair,) = summary.to_json()["registration"]["pairs"]
    assert pair["best_transform"]["shift_px"] is None and "shift_error_px" not in pair["best_transform"]


def test_users_or_sessions_matching_no_pick_set_are_named_with_the_sets_there_are(tmp_path):
    from click.testing import CliRunner

    from cryodedup.cli import main

    eye = np.eye(4)
    config = two_users_project(tmp_path, [("alice", 100.0, eye, 0.9), ("bob", 400.0, eye, 0.5)], ["1", "2"])
    for given in (
        ["--copick-users", "carol"],
        ["--copick-sessions", "5"],
        ["--copick-users", "alice", "--copick-sessions", "2"],
    ):
        result = CliRunner().invoke(main, ["particles", str(config), *given, "-q"])
        message = " ".join(result.stderr.split())
        assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
        assert " ".join(given) in message and "alice/1, bob/2" in message, message
    # A selection the message's sets satisfy is read: alice's pick alone, kept.
    result = CliRunner().invoke(main, ["particles", str(config), "--copick-users", "alice", "--json", "-q"])
    assert result.exit_code == 0 and json.loads(result.stdout)["kept"] == 1, result.stderr
