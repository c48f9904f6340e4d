"""Each set judged in its own frame (issue 88, items 6 and 7): a 2-D classification's in-plane angles compared
within one class only (each class average has its own in-plane frame), and the sets that carry a refinement's poses
(Polish's shiny.star) under that refinement's point group. The RELION 3.1 tutorial with 60 copies planted.

Oracles written here, apart from the package: the fixture's all-pairs search by position, in-plane angles compared
by hand, and D2's operators with RELION's Euler matrices from tests/jobs/test_audit_poses.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fixtures.relion_project import MIC_PSIZE, brute_force, write_particles
from fixtures.relion_tutorial import COPY_OFFSET, copied_rows, plant, write_tutorial

sys.path.insert(0, str(Path(__file__).parent))
from test_audit_poses import D2, relion_angles, relion_matrices

BIN = Path(sys.executable).parent
_COPIES = 60
_CLASS2D = "Class2D/job012/run_it025_data.star"
_SHINY = "Polish/job028/shiny.star"


def _audit(root: Path, *extra: str) -> tuple[int, dict]:
    done = subprocess.run(
        [str(BIN / "cryodedup"), "audit", str(root), "--json", "-q", *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def _set(audit: dict, job: str) -> dict:
    (found,) = {j["job"]: j for j in audit["jobs"]}[job]["sets"]
    return found


def _with_columns(path: Path, columns: dict[str, np.ndarray]) -> None:
    """The particle STAR the fixture wrote, its rlnAnglePsi set and the other columns added, row by row."""
    lines = path.read_text().split("\n")
    start = lines.index("data_particles")
    labels = [k for k in range(start, len(lines)) if lines[k].startswith("_rln")]
    added = [name for name in columns if name != "rlnAnglePsi"]
    lines[labels[-1]] += "".join(f"\n_{name} #{len(labels) + 1 + k} " for k, name in enumerate(added))
    rows = [k for k in range(labels[-1] + 1, len(lines)) if lines[k].strip() and not lines[k].startswith("_")]
    assert len(rows) == len(next(iter(columns.values())))
    for n, k in enumerate(rows):
        fields = lines[k].split()
        fields[2] = f"{columns['rlnAnglePsi'][n]:.6f}"  # (the fixture's third label is rlnAnglePsi)
        lines[k] = " ".join([*fields, *(f"{columns[name][n]:g}" for name in added)]) + " "
    path.write_text("\n".join(lines))


def _planted(tmp_path: Path, path: str, halves: bool = True) -> tuple[Path, int]:
    """The tutorial, copies of 60 particles planted in ``path`` (the last rows), with or without half-sets."""
    root = tmp_path / "tutorial"
    root.mkdir()
    rows = plant(root, write_tutorial(root), [path], _COPIES)[path]
    if not halves:  # (a 2-D classification draws no half-sets: the copies' too)
        rows.subset[:] = 0
        write_particles(root / path, rows)
    assert brute_force(rows, 50)[0] == _COPIES  # (by position: the copies and nothing else within 50 Å)
    return root, len(rows)


def _class2d(tmp_path: Path, turn: float, same_class: bool) -> tuple[Path, int]:
    """Class2D's rows with classes and in-plane angles: each copy (the last 60 rows) turned by ``turn`` degrees in
    its particle's class or the next."""
    root, n = _planted(tmp_path, _CLASS2D, halves=False)
    rng = np.random.default_rng(88)
    originals = copied_rows(n - _COPIES, _COPIES)
    classes = rng.integers(1, 6, n)
    psi = rng.uniform(-180, 180, n)
    classes[-_COPIES:] = classes[originals] if same_class else classes[originals] % 5 + 1
    psi[-_COPIES:] = (psi[originals] + turn + 180) % 360 - 180
    zeros = np.zeros(n)
    columns = {"rlnAnglePsi": psi, "rlnAngleRot": zeros, "rlnAngleTilt": zeros, "rlnClassNumber": classes}
    _with_columns(root / _CLASS2D, columns)
    return root, n


def test_copies_in_another_2d_class_turned_in_plane_are_counted(tmp_path):
    # Before: 0 pairs, "no duplicates within 50 Å with poses within 15°": psi compared across class averages' frames.
    root, _ = _class2d(tmp_path, 90.0, same_class=False)
    status, audit = _audit(root)
    found = _set(audit, "Class2D/job012")
    assert (found["duplicate_pairs"], found["within_class"], found["max_angle_deg"]) == (_COPIES, True, 15.0)
    assert status == 0  # (no refinement holds them)
    line = {j["job"]: j for j in audit["jobs"]}["Class2D/job012"]["line"]
    assert "in-plane angles within 15° in one class, by position across classes" in line


@pytest.mark.parametrize(("turn", "counted"), [(90.0, 0), (5.0, _COPIES)])
def test_copies_in_their_own_2d_class_count_only_where_their_in_plane_angles_agree(tmp_path, turn, counted):
    # One class average, one frame: two picks of one particle agree in it (5°); 90° apart they are two particles.
    root, _ = _class2d(tmp_path, turn, same_class=True)
    _, audit = _audit(root)
    assert _set(audit, "Class2D/job012")["duplicate_pairs"] == counted
    assert _set(_audit(root, "--max-angle", "0")[1], "Class2D/job012")["duplicate_pairs"] == _COPIES


def _turned_by_d2(tmp_path: Path, sym: str | None) -> tuple[Path, np.ndarray, int]:
    """shiny.star with poses: each copy its particle's pose turned by a D2 operator (not the identity); job025, whose
    poses Polish carries, recording ``sym`` (None: no sym_name)."""
    root, n = _planted(tmp_path, _SHINY)
    rng = np.random.default_rng(89)
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    poses = np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], axis=1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], axis=1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], axis=1),
        ],
        axis=1,
    )
    originals = copied_rows(n - _COPIES, _COPIES)
    operators = np.stack(D2)[rng.integers(1, 4, _COPIES)]
    poses[-_COPIES:] = poses[originals] @ operators
    angles = relion_angles(poses)
    assert np.allclose(relion_matrices(angles), poses, atol=1e-6)
    rot, tilt, psi = angles.T
    _with_columns(root / _SHINY, {"rlnAnglePsi": psi, "rlnAngleRot": rot, "rlnAngleTilt": tilt})
    if sym is not None:
        job = root / "Refine3D/job025/job.star"
        job.write_text(
            job.read_text().replace("_rlnJobOptionValue #2 \n", f"_rlnJobOptionValue #2 \nsym_name {sym} \n")
        )
    return root, poses, n


def _d2_pairs(poses: np.ndarray, n: int, group: list[np.ndarray]) -> int:
    """The planted pairs (each copy 12 Å from its particle) whose poses agree within 15° under ``group``, by hand."""
    originals = copied_rows(n - _COPIES, _COPIES)
    count = 0
    for k, original in enumerate(originals):
        relative = poses[original].T @ poses[n - _COPIES + k]
        angle = min(np.degrees(np.arccos(np.clip((np.trace(s.T @ relative) - 1) / 2, -1, 1))) for s in group)
        count += angle <= 15
    return count


def test_copies_in_polishs_set_turned_by_its_refinements_d2_operator_are_counted(tmp_path):
    # Before: 0 pairs in Polish "under C1": the point group not taken from the refinement whose poses it carries.
    assert COPY_OFFSET / MIC_PSIZE > 0
    root, poses, n = _turned_by_d2(tmp_path, "D2")
    assert _d2_pairs(poses, n, D2) == _COPIES and _d2_pairs(poses, n, D2[:1]) == 0
    status, audit = _audit(root)
    found = _set(audit, "Polish/job028")
    assert (found["duplicate_pairs"], found["straddling_pairs"], found["symmetry"]) == (_COPIES, _COPIES, "D2")
    assert status == 0  # (job029 refined Polish's set without them)
    polish = {j["job"]: j for j in audit["jobs"]}["Polish/job028"]
    assert polish["symmetry"] == ["D2", "Refine3D/job025/job.star sym_name"] and polish["verdict"] == "entered"
    assert "with poses within 15° under D2" in polish["line"]


def test_copies_in_polishs_set_under_a_c1_refinement_are_other_particles(tmp_path):
    # The flip: the refinement recorded no point group (C1): poses a half-turn apart are two particles.
    root, _, _ = _turned_by_d2(tmp_path, None)
    _, audit = _audit(root)
    found = _set(audit, "Polish/job028")
    assert (found["duplicate_pairs"], found["symmetry"]) == (0, "C1")
