"""``cryodedup audit``: a refined set's duplicates counted pose-aware under its job's point group (issue 68).

The oracle is written here, apart from the core: RELION's matrix of rlnAngleRot/Tilt/Psi
(``A = Rz(psi)^T Ry(tilt)^T Rz(rot)^T``), D2's four operators written by hand (two-folds along
z and x, hence y), and the angle between two particles the least over the operators S of
``angle(S^T A1^T A2)``; every pair of one micrograph within the distance, all pairs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cryodedup.jobs.audit.project import cryosparc_project
from fixtures.cryosparc_project import _document, _write_job
from fixtures.relion_project import MIC_PSIZE, Rows, all_pairs, write_project
from fixtures.relion_symmetry import relion_group

CRYODEDUP = str(Path(sys.executable).parent / "cryodedup")
REFINED = "Refine3D/job017/run_data.star"
#: D2 (RELION's and the core's setting: two-folds along z and x): the identity and three half-turns.
D2 = [np.diag(d).astype(float) for d in ((1, 1, 1), (-1, -1, 1), (1, -1, -1), (-1, 1, -1))]


def _rz(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    m = np.zeros((a.size, 3, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1], m[:, 2, 2] = c, -s, s, c, 1
    return m


def _ry(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    m = np.zeros((a.size, 3, 3))
    m[:, 0, 0], m[:, 0, 2], m[:, 2, 0], m[:, 2, 2], m[:, 1, 1] = c, s, -s, c, 1
    return m


def relion_matrices(angles: np.ndarray) -> np.ndarray:
    """RELION's ``A`` of each row's rot, tilt, psi (degrees)."""
    rot, tilt, psi = np.radians(angles).T
    t = lambda m: np.transpose(m, (0, 2, 1))  # noqa: E731
    return t(_rz(psi)) @ t(_ry(tilt)) @ t(_rz(rot))


def relion_angles(a: np.ndarray) -> np.ndarray:
    """The rot, tilt, psi (degrees) of RELION matrices: ``A^T = Rz(rot) Ry(tilt) Rz(psi)`` solved."""
    q = np.transpose(a, (0, 2, 1))
    tilt = np.arccos(np.clip(q[:, 2, 2], -1, 1))
    rot = np.arctan2(q[:, 1, 2], q[:, 0, 2])
    psi = np.arctan2(q[:, 2, 1], -q[:, 2, 0])
    return np.degrees(np.stack([rot, tilt, psi], axis=1))


def _random_rotations(rng: np.random.Generator, n: int, max_deg: float | None = None) -> np.ndarray:
    """Rotations about random axes: uniform over all (``max_deg`` None) or by at most ``max_deg``."""
    q = rng.normal(size=(n, 4))
    if max_deg is not None:
        axis = q[:, 1:] / np.linalg.norm(q[:, 1:], axis=1, keepdims=True)
        half = np.radians(rng.uniform(0, max_deg, n)) / 2
        q = np.column_stack([np.cos(half), axis * np.sin(half)[:, None]])
    w, x, y, z = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], axis=1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], axis=1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], axis=1),
        ],
        axis=1,
    )


def planted_poses(rows: Rows, rng: np.random.Generator, group=None) -> np.ndarray:
    """Each row's angles: a site's two copies agree (one turned by an operator of ``group``, D2 by default,
    each by at most 5°) or not.

    The rows' sites are the fixture's grid points (300 Å apart); half the sites' copies take the site's
    pose, a random D2 mate of it, turned a little; the others a pose of their own.
    """
    centres = np.stack([rows.x * MIC_PSIZE - rows.ox, rows.y * MIC_PSIZE - rows.oy], axis=1)
    site = rows.mic * 10_000 + np.rint((centres - 400) / 300) @ np.array([100, 1])
    _, site_index = np.unique(site, return_inverse=True)
    base = _random_rotations(rng, int(site_index.max()) + 1)[site_index]
    operators = np.stack(D2 if group is None else group)
    mate = operators[rng.integers(0, len(operators), len(rows))]
    agreeing = base @ mate @ _random_rotations(rng, len(rows), 5.0)
    own = _random_rotations(rng, len(rows))
    sites_agreeing = rng.random(int(site_index.max()) + 1) < 0.5
    return relion_angles(np.where(sites_agreeing[site_index][:, None, None], agreeing, own))


def pose_aware_pairs(rows: Rows, angles: np.ndarray, min_dist: float, max_deg: float, group) -> tuple[int, int]:
    """The pairs within ``min_dist`` whose poses agree within ``max_deg`` under ``group``, and those across halves."""
    centres = np.stack([rows.x * MIC_PSIZE - rows.ox, rows.y * MIC_PSIZE - rows.oy], axis=1)
    a = relion_matrices(angles)
    pairs = straddling = 0
    for m in np.unique(rows.mic):
        on = np.flatnonzero(rows.mic == m)
        d = np.linalg.norm(centres[on, None, :] - centres[None, on, :], axis=2)
        for i, j in zip(*np.nonzero(np.triu(d <= min_dist, k=1))):
            relative = a[on[i]].T @ a[on[j]]
            angle = min(np.degrees(np.arccos(np.clip((np.trace(s.T @ relative) - 1) / 2, -1, 1))) for s in group)
            if angle <= max_deg:
                pairs += 1
                straddling += int(rows.subset[on[i]] != rows.subset[on[j]])
    return pairs, straddling


def _with_angles(path: Path, angles: np.ndarray) -> None:
    """The particle STAR the fixture wrote, its rlnAnglePsi column set and rlnAngleRot/Tilt added."""
    lines = path.read_text().split("\n")
    start = lines.index("data_particles")
    labels = [k for k in range(start, len(lines)) if lines[k].startswith("_rln")]
    lines.insert(labels[-1] + 1, f"_rlnAngleRot #{len(labels) + 1} \n_rlnAngleTilt #{len(labels) + 2} ")
    rows = [k for k in range(labels[-1] + 2, len(lines)) if lines[k].strip()]
    assert len(rows) == len(angles)
    for k, (rot, tilt, psi) in zip(rows, angles):
        fields = lines[k].split()
        fields[2] = f"{psi:.6f}"  # (the fixture's third label is rlnAnglePsi)
        lines[k] = " ".join([*fields, f"{rot:.6f}", f"{tilt:.6f}"]) + " "
    path.write_text("\n".join(lines))


def _project(root: Path, sym: str = "D2", group=None) -> tuple[Rows, np.ndarray]:
    files = write_project(root)
    rows = files[REFINED]
    angles = planted_poses(rows, np.random.default_rng(6868), group)
    _with_angles(root / REFINED, angles)
    job_star = root / "Refine3D/job017/job.star"
    job_star.write_text(
        job_star.read_text().replace("_rlnJobOptionValue #2 \n", f"_rlnJobOptionValue #2 \nsym_name {sym} \n")
    )
    return rows, angles


def _audit(root: Path, *args: str) -> dict:
    done = subprocess.run(
        [CRYODEDUP, "audit", str(root), "--json", "--quiet", *args], capture_output=True, text=True, check=False
    )
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def _jobs(audit: dict) -> dict[str, dict]:
    return {j["job"]: j for j in audit["jobs"]}


def test_a_refined_sets_pairs_count_pose_aware_under_its_jobs_symmetry(tmp_path):
    rows, angles = _project(tmp_path)
    audit = _audit(tmp_path)
    jobs = _jobs(audit)
    refined = jobs["Refine3D/job017"]
    (found,) = refined["sets"]
    assert refined["symmetry"] == ["D2", "Refine3D/job017/job.star sym_name"]
    assert (found["pose_aware"], found["max_angle_deg"], found["symmetry"]) == (True, 15.0, "D2")
    d2 = pose_aware_pairs(rows, angles, found["min_dist_A"], 15.0, D2)
    c1 = pose_aware_pairs(rows, angles, found["min_dist_A"], 15.0, D2[:1])
    positions = all_pairs(
        rows.mic,
        np.stack([rows.x * MIC_PSIZE - rows.ox, rows.y * MIC_PSIZE - rows.oy], 1),
        rows.subset,
        found["min_dist_A"],
    )
    # Both kinds planted: close pairs whose poses disagree, and agreeing ones only a D2 mate brings together.
    assert 0 < c1[0] < d2[0] < positions[0]
    assert (found["duplicate_pairs"], found["straddling_pairs"]) == d2
    line = next(line for line in audit["lines"] if line.startswith("Refine3D/job017"))
    assert "within 50 Å with poses within 15° under D2" in line
    # A set without orientations (the extraction's, the joined picks') stays by position alone.
    for job in ("Extract/job008", "JoinStar/job014"):
        assert not jobs[job]["sets"][0]["pose_aware"] and jobs[job]["sets"][0]["symmetry"] is None


def test_the_redo_command_of_a_pose_aware_count_removes_the_pairs_counted(tmp_path):
    # The redo line's command carries the audit's distance, angle and point group: run as printed, it rejects as
    # many rows as the pose-aware brute force finds pairs (not the more numerous pairs by position).
    import shlex

    project = tmp_path / "project"
    project.mkdir()
    rows, angles = _project(project)
    refined = _jobs(_audit(project, "--max-angle", "10"))["Refine3D/job017"]
    (found,) = refined["sets"]
    words = shlex.split(refined["command"])
    assert refined["verdict"] == "redo" and refined["line"].endswith(refined["command"])
    assert words[words.index("--max-angle") + 1] == "10" and words[words.index("--sym") + 1] == "D2"
    assert words[words.index("--min-dist") + 1] == f"{found['min_dist_A']:g}"
    done = subprocess.run([CRYODEDUP, *words[1:], "--json", "-q"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    pairs = pose_aware_pairs(rows, angles, found["min_dist_A"], 10.0, D2)[0]
    assert json.loads(done.stdout)["rejected"] == found["duplicate_pairs"] == pairs


def test_an_angle_of_0_counts_the_refined_set_by_position_only(tmp_path):
    rows, _ = _project(tmp_path)
    (found,) = _jobs(_audit(tmp_path, "--max-angle", "0"))["Refine3D/job017"]["sets"]
    centres = np.stack([rows.x * MIC_PSIZE - rows.ox, rows.y * MIC_PSIZE - rows.oy], 1)
    assert not found["pose_aware"] and found["max_angle_deg"] is None
    assert (found["duplicate_pairs"], found["straddling_pairs"]) == all_pairs(
        rows.mic, centres, rows.subset, found["min_dist_A"]
    )


def test_a_smaller_angle_counts_against_the_brute_force_at_it(tmp_path):
    rows, angles = _project(tmp_path)
    (found,) = _jobs(_audit(tmp_path, "--max-angle", "4"))["Refine3D/job017"]["sets"]
    assert found["max_angle_deg"] == 4.0
    assert (found["duplicate_pairs"], found["straddling_pairs"]) == pose_aware_pairs(
        rows, angles, found["min_dist_A"], 4.0, D2
    )


@pytest.mark.parametrize("sym", ["T", "I"])
def test_a_project_refined_in_relions_t_or_i_counts_every_symmetry_copy_pair(tmp_path, sym):
    # The copies planted are turned by RELION's own operators (src/symmetries.cpp's axes, generated apart
    # from the core): every pair within the distance whose poses agree under RELION's group is counted.
    group = relion_group(sym)
    rows, angles = _project(tmp_path, sym, group)
    refined = _jobs(_audit(tmp_path))["Refine3D/job017"]
    (found,) = refined["sets"]
    assert found["pose_aware"] and found["symmetry"] == sym
    expected = pose_aware_pairs(rows, angles, found["min_dist_A"], 15.0, group)
    assert expected[0] > pose_aware_pairs(rows, angles, found["min_dist_A"], 15.0, group[:1])[0] > 0
    assert (found["duplicate_pairs"], found["straddling_pairs"]) == expected


def test_a_point_group_the_core_does_not_know_leaves_the_set_by_position(tmp_path):
    rows, _ = _project(tmp_path, sym="I5")  # (RELION names I5 but does not implement it)
    refined = _jobs(_audit(tmp_path))["Refine3D/job017"]
    (found,) = refined["sets"]
    centres = np.stack([rows.x * MIC_PSIZE - rows.ox, rows.y * MIC_PSIZE - rows.oy], 1)
    assert refined["symmetry"][0] == "I5" and not found["pose_aware"]
    assert (found["duplicate_pairs"], found["straddling_pairs"]) == all_pairs(
        rows.mic, centres, rows.subset, found["min_dist_A"]
    )


def test_a_cryosparc_jobs_point_group_is_read_from_its_job_json(tmp_path):
    for uid, params in (("J1", {"refine_symmetry": "C4"}), ("J2", {"abinit_symmetry": "D7"}), ("J3", {})):
        document = _document(uid, "homo_refine_new", [], params, None, {})
        _write_job(tmp_path, document)
    jobs = cryosparc_project(tmp_path).jobs
    assert jobs["J1"].symmetry == ("C4", "J1/job.json refine_symmetry")
    assert jobs["J2"].symmetry == ("D7", "J2/job.json abinit_symmetry")
    assert jobs["J3"].symmetry is None


def test_a_cryosparc_set_is_known_to_hold_no_poses_from_its_fields(tmp_path):
    from cryodedup.jobs.audit.check import _cs_without_poses

    plain, posed = tmp_path / "extracted_particles.cs", tmp_path / "refined_particles.cs"
    for path, field in ((plain, ("blob/idx", "<u4")), (posed, ("alignments3D/pose", "<f4", (3,)))):
        rows = np.zeros(3, dtype=[("uid", "<u8"), field])
        rows["uid"] = [1, 2, 3]
        with path.open("wb") as f:  # (a .cs in numpy's encoding, as CryoSPARC writes it)
            np.save(f, rows)
    assert _cs_without_poses([plain])
    assert not _cs_without_poses([plain, posed]) and not _cs_without_poses([posed])
    assert not _cs_without_poses([tmp_path / "particles.star"])


def test_one_image_twice_with_other_poses_is_counted_by_position(tmp_path):
    """A row repeated (its image, centre) with a pose turned 90° about z, in the other half-set: one particle twice."""
    rows, _ = _project(tmp_path)
    path = tmp_path / REFINED
    lines = path.read_text().rstrip().split("\n")
    fields = lines[-1].split()
    fields[-3] = str(3 - int(fields[-3]))  # (the labels end rlnRandomSubset, rlnAngleRot, rlnAngleTilt)
    fields[-2] = f"{float(fields[-2]) + 90:.6f}"
    path.write_text("\n".join([*lines, " ".join(fields), ""]))
    copy = rows.take(np.r_[np.arange(len(rows)), len(rows) - 1])
    copy.subset[-1] = 3 - copy.subset[-1]
    (found,) = _jobs(_audit(tmp_path))["Refine3D/job017"]["sets"]
    centres = np.stack([copy.x * MIC_PSIZE - copy.ox, copy.y * MIC_PSIZE - copy.oy], 1)
    assert not found["pose_aware"] and found["symmetry_copies"] == 1
    assert any("counted by position" in w for w in found["warnings"])
    assert (found["duplicate_pairs"], found["straddling_pairs"]) == all_pairs(
        copy.mic, centres, copy.subset, found["min_dist_A"]
    )


@pytest.mark.parametrize("sym, established", [("T", False), ("I", False), ("D3", True), ("I1", True)])
def test_a_cryosparc_refinement_in_t_or_i_is_compared_by_position_naming_why(tmp_path, sym, established):
    # CryoSPARC's T and I are not established by its documents (docs/design.md section 9): the audit says
    # so and counts by position rather than under another package's setting; its Dn (two-fold on y) and I1 are.
    pytest.importorskip("cryosparc.dataset")
    from fixtures.cryosparc_project import write_project as write_cryosparc_project

    write_cryosparc_project(tmp_path)
    job_json = tmp_path / "J14/job.json"
    document = json.loads(job_json.read_text())
    document["params_spec"]["refine_symmetry"] = {"value": sym}
    job_json.write_text(json.dumps(document))
    done = subprocess.run([CRYODEDUP, "audit", str(tmp_path), "--json"], capture_output=True, text=True, check=False)
    assert done.returncode in (0, 1), done.stderr
    warnings = {j["job"]: j for j in json.loads(done.stdout)["jobs"]}["J14"]["warnings"]  # (issue 97: the job's)
    warned = any("CryoSPARC's setting of it is not established" in w for w in warnings)
    assert warned != established, warnings


@pytest.mark.parametrize("sym", ["C2v", "Ci", "I5"])
def test_a_point_group_the_core_does_not_know_is_a_warning_in_the_table_the_headline_and_json(tmp_path, sym):
    # Issue 97: the fall-back to positions was one free stderr line: not in the table, the headline's warning count
    # or --json. It is the job's warning now, said where every warning is.
    _project(tmp_path, sym=sym)
    audit = _audit(tmp_path)
    refined = _jobs(audit)["Refine3D/job017"]
    said = [w for w in refined["warnings"] if f"point group {sym}" in w]
    assert len(said) == 1 and said[0].endswith("compared by position only")
    assert "warning" in audit["verdict"]["line"]
    env = {**os.environ, "COLUMNS": "250"}
    done = subprocess.run([CRYODEDUP, "audit", str(tmp_path)], capture_output=True, text=True, check=False, env=env)
    table = done.stderr[done.stderr.index("┌") :] if "┌" in done.stderr else ""
    before = done.stderr[: len(done.stderr) - len(table)]
    assert f"point group {sym}" not in before  # (no free line before the table)
    assert any(line.startswith("│ Warning") and f"point group {sym} " in line for line in table.splitlines())
