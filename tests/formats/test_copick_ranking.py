"""``copick process dedup --select`` and ``--score-normalize`` (issue 69's options for copick users), through
copick's own CLI, against brute forces that share nothing with the job: every subset of each conflict
component searched, and the robust z-scores computed pick set by pick set, run by run, with numpy's medians."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from test_copick import OBJECTS, RUNS, copick_cli, expected, make_project, read_back, run_copick  # noqa: F401

from oracle import oracle

RADII = list(OBJECTS.values())


def _components(rows: list[int], coords: np.ndarray, radius: float) -> list[list[int]]:
    """The rows' groups of picks linked by chains of pairs within ``radius`` (a plain flood fill over every pair)."""
    left, found = set(rows), []
    while left:
        todo, component = [left.pop()], []
        while todo:
            i = todo.pop()
            component.append(i)
            near = {j for j in left if np.sum((coords[i] - coords[j]) ** 2) <= radius**2}
            left -= near
            todo += near
        found.append(sorted(component))
    return found


def _best_subsets(component: list[int], coords: np.ndarray, scores: np.ndarray, radius: float, most: bool) -> set:
    """Every subset of ``component`` with no two picks within ``radius`` that is best: the largest score sum, or
    the most picks (then the largest score sum). Score sums of one decimal: compared in tenths, as integers."""
    assert len(component) <= 16, "a component too large for the exhaustive search"
    best, kept = None, set()
    for size in range(len(component) + 1):
        for subset in itertools.combinations(component, size):
            if any(np.sum((coords[a] - coords[b]) ** 2) <= radius**2 for a, b in itertools.combinations(subset, 2)):
                continue
            tenths = round(10 * float(sum(scores[list(subset)])))
            value = (size, tenths) if most else (tenths,)
            if best is None or value > best:
                best, kept = value, {subset}
            elif value == best:
                kept.add(subset)
    return kept


@pytest.mark.parametrize("select", ["best-score", "most-particles"])
def test_copick_process_dedup_select_keeps_a_best_subset_of_each_conflict_component(copick_cli, tmp_path, select):  # noqa: F811 (the fixture)
    config, rows = make_project(tmp_path, 6)
    coords, scores = np.array([r[1] for r in rows]), np.array([r[3] for r in rows])
    result = run_copick(copick_cli, "process", "dedup", "-c", config, "--select", select, "--json", "-q")
    assert result.exit_code == 0, result.output
    got = read_back(config)
    kept = [False] * len(rows)
    for g, run in enumerate(RUNS):
        for s, name in enumerate(OBJECTS):
            rows_here = [k for k, r in enumerate(rows) if r[0] == g and r[2] == s]
            for component in _components(rows_here, coords, RADII[s]):
                best = _best_subsets(component, coords, scores, RADII[s], select == "most-particles")
                # The kept picks of the component (the picks are told apart by centre and score).
                written = {tuple(p) for p in got.get((run, name), [])}
                chosen = tuple(k for k in component if (*rows[k][1], rows[k][3]) in written)
                assert chosen in best, (run, name, component, chosen, best)
                for k in chosen:
                    kept[k] = True
    assert got == {key: picks for key, picks in expected(rows, kept).items() if picks}
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["kept"] == sum(kept)
    # No worse than the greedy default by the measure chosen (the greedy's picks as the brute force keeps them).
    greedy = oracle_greedy(rows)
    count, total = sum(kept), sum(r[3] for r, k in zip(rows, kept) if k)
    greedy_count, greedy_total = sum(greedy), sum(r[3] for r, k in zip(rows, greedy) if k)
    assert count >= greedy_count if select == "most-particles" else total >= greedy_total - 1e-9
    assert kept != greedy  # (this project's components leave the selection something to choose: the test can fail)


def test_copick_process_dedup_help_names_issue_69s_options_in_copicks_words(copick_cli):  # noqa: F811
    help = run_copick(copick_cli, "process", "dedup", "--help")
    assert help.exit_code == 0, help.output
    said = " ".join(help.output.split())
    assert "--select [greedy|best-score|most-particles]" in said
    assert "--score-normalize [none|rank|zscore]" in said
    assert "each pick set's scores on each run shifted to median 0" in said
    assert "--min-dist-ellipsoid A,B,C|NAME=A,B,C,..." in said and "turned by the pick's transformation" in said
    assert "--edge Å" in said and "of their run's tomogram's edge" in said


def oracle_greedy(rows: list) -> list[bool]:
    """Each object's picks on its own, at its radius, best score first: the default, for comparison."""
    keep = [False] * len(rows)
    for s in range(len(OBJECTS)):
        at = [k for k, r in enumerate(rows) if r[2] == s]
        kept, _ = oracle([rows[k][0] for k in at], [rows[k][1] for k in at], [rows[k][3] for k in at], RADII[s])
        for k, flag in zip(at, kept):
            keep[k] = flag
    return keep


def _robust_z(scores: np.ndarray) -> np.ndarray:
    """The published recipe: (s - median) / (1.4826 MAD); MAD 0: 1.2533 x mean |s - median|; all equal: 0."""
    median = np.median(scores)
    scale = 1.4826 * np.median(np.abs(scores - median)) or 1.2533 * np.mean(np.abs(scores - median))
    return np.zeros_like(scores) if scale == 0 else (scores - median) / scale


def test_copick_process_dedup_score_normalize_zscore_ranks_each_pick_set_per_run(copick_cli, tmp_path):  # noqa: F811 (the fixture)
    config, rows = make_project(tmp_path, 7)
    # alice's scores x 10 + 5 on TS_001: as read, her picks would win every group there.
    rescore(config, "alice", RUNS[0], lambda score: score * 10 + 5)
    rows = [(g, c, s, score * 10 + 5 if (user, g) == (1, 0) else score, user) for g, c, s, score, user in rows]
    z = np.zeros(len(rows))
    for key in {(r[0], r[4]) for r in rows}:  # (run, pick set): each user here has one session and one object
        at = [k for k, r in enumerate(rows) if (r[0], r[4]) == key]
        z[at] = _robust_z(np.array([rows[k][3] for k in at]))
    want = oracle_greedy([(g, c, s, float(z[k]), user) for k, (g, c, s, _, user) in enumerate(rows)])
    as_read = oracle_greedy(rows)
    assert want != as_read  # (the normalisation changes what is kept: the test can fail)
    args = ["--score-normalize", "zscore", "--copick-out-session", "z", "--json", "-q"]
    result = run_copick(copick_cli, "process", "dedup", "-c", config, *args)
    assert result.exit_code == 0, result.output
    assert read_back(config, session="z") == {k: v for k, v in expected(rows, want).items() if v}
    assert json.loads(result.stdout.splitlines()[-1])["kept"] == sum(want)


def rescore(config, user: str, run: str, rescaled) -> None:
    """``user``'s scores on ``run`` of the project of ``config`` set to ``rescaled(score)`` (copick's API)."""
    from test_copick import copick

    from cryodedup.formats.copick import root_logger_kept

    with root_logger_kept():
        for picks in copick.from_file(str(config)).get_run(run).get_picks(user_id=user):
            for point in picks.points:
                point.score = rescaled(point.score)
            picks.store()


#: The semi-axes (Å) of the exclusion ellipsoid along the particle's x, y and z: a rod along its z.
AXES = np.array([20.0, 30.0, 70.0])


def posed_project(tmp_path, seed: int, n: int = 90):
    """One object (a rod, radius 40 Å) picked by two users on two runs, each pick with a random rotation.

    Returns the config and the picks (run, centre, rotation, score) in the reader's order (run, user, point);
    the scores distinct (no ties for the greedy walk to break).
    """
    from scipy.spatial.transform import Rotation
    from test_copick import copick

    from cryodedup.formats.copick import root_logger_kept

    rng = np.random.default_rng(seed)
    rows = []
    scores = rng.permutation(n) / n
    with root_logger_kept():
        from copick.models import CopickLocation, CopickPoint, PickableObject

        config = tmp_path / "project" / "copick_config.json"
        rod = [PickableObject(name="rod", is_particle=True, radius=40.0, label=1)]
        root = copick.new_config(str(config), str(tmp_path / "project" / "overlay"), pickable_objects=rod)
        for g, name in enumerate(RUNS):
            run = root.new_run(name)
            for user in ("alice", "bob"):
                points = []
                for _ in range(n // 4):
                    centre = rng.uniform(0, 200, 3)
                    rotation = Rotation.random(random_state=rng).as_matrix()
                    transform = np.eye(4)
                    transform[:3, :3] = rotation
                    score = float(scores[len(rows)])
                    point = CopickPoint(location=CopickLocation(x=centre[0], y=centre[1], z=centre[2]), score=score)
                    point.transformation = transform
                    points.append(point)
                    rows.append((g, centre, rotation, score))
                picks = run.new_picks(object_name="rod", session_id="1", user_id=user)
                picks.points = points
                picks.store()
    return config, rows


def _inside(rotation: np.ndarray, centre: np.ndarray, other: np.ndarray) -> bool:
    """Whether ``other`` lies in the ellipsoid of the pick at ``centre``: copick's transformation takes the
    particle's frame into the tomogram's (object to tomogram), so an offset is ``R^T d`` in the particle's frame."""
    return float((((rotation.T @ (other - centre)) / AXES) ** 2).sum()) <= 1.0


def test_copick_process_dedup_min_dist_ellipsoid_turns_each_picks_ellipsoid_by_its_transformation(copick_cli, tmp_path):  # noqa: F811
    config, rows = posed_project(tmp_path, 69)
    n = len(rows)
    conflict = np.zeros((n, n), dtype=bool)
    for i, j in itertools.combinations(range(n), 2):
        (gi, ci, ri, _), (gj, cj, rj, _) = rows[i], rows[j]
        conflict[i, j] = conflict[j, i] = gi == gj and (_inside(ri, ci, cj) or _inside(rj, cj, ci))
    keep = np.ones(n, dtype=bool)
    for i in sorted(range(n), key=lambda k: -rows[k][3]):  # (best score first; the scores are distinct)
        if keep[i]:
            keep[conflict[i] & keep] = False
    # The ellipsoid is neither the object's sphere (40 Å) nor one of its longest semi-axis: the test can fail.
    runs, centres = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    distance = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    for radius in (40.0, AXES.max()):
        sphere = (distance <= radius) & (runs[:, None] == runs[None]) & ~np.eye(n, dtype=bool)
        assert not np.array_equal(conflict, sphere)
    assert conflict.sum() > 20 and not keep.all()
    result = run_copick(copick_cli, "process", "dedup", "-c", config, "--min-dist-ellipsoid", "20,30,70", "-q")
    assert result.exit_code == 0, result.output
    want = {}
    for (g, centre, _, score), k in zip(rows, keep):
        if k:
            want.setdefault((RUNS[g], "rod"), []).append((*centre, score))
    assert read_back(config) == {key: sorted(picks) for key, picks in want.items()}
    # Named by the object, as --min-dist names objects: the same picks.
    args = ["--min-dist-ellipsoid", "rod=20,30,70", "--copick-out-session", "named", "-q"]
    result = run_copick(copick_cli, "process", "dedup", "-c", config, *args)
    assert result.exit_code == 0, result.output
    assert read_back(config, session="named") == read_back(config)


#: make_project's tomograms: 40 x 40 x 20 voxels of 10 Å (x, y, z), counted by hand.
EXTENT = np.array([400.0, 400.0, 200.0])


def add_other_spacings(config) -> None:
    """Beside each run's 10 Å tomogram: a 5 Å voxel spacing without a tomogram, and a 20 Å tomogram of half the
    extent (not the run's, but it would be taken if the largest spacing were): the extent must stay the 10 Å one's."""
    from test_copick import copick

    from cryodedup.formats.copick import root_logger_kept

    with root_logger_kept():
        for run in copick.from_file(str(config)).runs:
            run.new_voxel_spacing(5.0)
            run.new_voxel_spacing(20.0).new_tomogram("wbp").from_numpy(np.zeros((5, 10, 10), np.float32), levels=1)


def test_copick_process_dedup_edge_rejects_the_picks_near_each_runs_tomograms_edge(copick_cli, tmp_path):  # noqa: F811
    config, rows = make_project(tmp_path, 8)
    add_other_spacings(config)
    centres = np.array([r[1] for r in rows])
    at_edge = ((centres < 25) | (centres > EXTENT - 25)).any(axis=1)
    assert 5 < at_edge.sum() < len(rows) - 5  # (some picks on either side: the test can fail)
    inside = [r for r, near in zip(rows, at_edge) if not near]
    kept_inside = iter(oracle_greedy(inside))  # (the picks at the edge displace none: rejected first)
    keep = [not near and next(kept_inside) for near in at_edge]
    result = run_copick(copick_cli, "process", "dedup", "-c", config, "--edge", "25", "--json", "-q")
    assert result.exit_code == 0, result.output
    assert read_back(config) == {key: picks for key, picks in expected(rows, keep).items() if picks}
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["kept"] == sum(keep)
    assert "each run's tomogram in the copick project" in json.dumps(summary)


def test_copick_process_dedup_edge_refuses_a_run_without_a_tomogram_in_one_line(copick_cli, tmp_path):  # noqa: F811
    config, _ = make_project(tmp_path, 0, with_tomograms=False)
    result = run_copick(copick_cli, "process", "dedup", "-c", config, "--edge", "25", "-q")
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert errors == [
        f"Error: {config}: run TS_001 has no tomogram, so --edge has no extent to measure from; add its tomogram "
        "to the project or leave out --edge"
    ], result.stderr
    assert read_back(config) == {}  # (nothing written)
