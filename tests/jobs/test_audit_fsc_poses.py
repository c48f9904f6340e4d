"""Issue 97 items 1 and 3: ``particles --audit --fsc`` compares CryoSPARC's poses, under the refinement's point group.

A CryoSPARC refinement's pairs across the half-sets (``alignments3D/split``) count whole where their poses
(``alignments3D/pose``: a rotation vector, radians; RELION's A = the transpose of its rotation, as pyem's csparc2star
converts it, tests/formats/cryosparc/test_cryosparc_poses.py; two poses one where min over the group's g of
|g A1^-1 A2| is small) lie within 15 degrees under the point group, else by what their two
central sections share at the crossing shell. The oracle here: scipy's rotations for the angle, and the share
computed pair by pair from the pair's own rotations (the ring of the crossing shell, each pixel landing at A^T p;
with A1 random, the share's spread does not depend on the side the turn acts on). The point group: the refinement's
own files (the FSC's folder, or the refinement a PostProcess read), the CryoSPARC job.json beside the particles,
else --sym, else C1; each said in the table and --json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fixtures.synthetic import write_cs
from helpers import located_records

CRYODEDUP = str(Path(sys.executable).parent / "cryodedup")
#: The FSC's box (pixels), pixel (Å) and crossing (Å): shell 16 of 32.
BOX, PSIZE, CROSSING_A = 64, 2.0, 8.0
PAIRS, SINGLES = 300, 300
#: The pairs' turns: a third within 15 degrees, a third 60 degrees about a random axis, a third a 2-fold of D2.
NEAR_DEG, FAR_DEG = 5.0, 60.0


def _axes(rng: np.random.Generator, n: int) -> np.ndarray:
    axes = rng.normal(size=(n, 3))
    return axes / np.linalg.norm(axes, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def refinement(tmp_path_factory):
    """A CryoSPARC refinement's particles: pairs of one image at one place across the halves, each at two poses."""
    folder = tmp_path_factory.mktemp("cs_poses")
    rng = np.random.default_rng(97)
    first = Rotation.random(PAIRS, random_state=rng)
    kind = np.arange(PAIRS) % 3
    twofolds = np.eye(3)[rng.integers(0, 3, PAIRS)] * np.pi
    turns = np.where(
        kind[:, None] == 0,
        _axes(rng, PAIRS) * np.radians(NEAR_DEG),
        np.where(kind[:, None] == 1, _axes(rng, PAIRS) * np.radians(FAR_DEG), twofolds),
    )
    second = first * Rotation.from_rotvec(turns)
    singles = Rotation.random(SINGLES, random_state=rng)
    n = 2 * PAIRS + SINGLES
    slot = np.concatenate([np.repeat(np.arange(PAIRS), 2), PAIRS + np.arange(SINGLES)])
    fields = [("alignments3D/split", "<u4"), ("alignments3D/pose", "<f4", (3,)), ("blob/path", "S32")]
    records = located_records(slot // 100, 200.0 + 300 * (slot % 10), 200.0 + 300 * (slot // 10 % 10), fields)
    poses = np.empty((n, 3))
    # first, second: RELION's A of each pose (the 2-folds act on A's right, as a symmetric reference's copies do).
    # The pose is the rotation vector of A's transpose (pyem's csparc2star: A = expmap(pose), expmap's k transposed);
    # written as A's own rotation vector until the fix, which under D2 put the 2-folds' mates on the wrong side.
    poses[0 : 2 * PAIRS : 2], poses[1 : 2 * PAIRS : 2] = first.inv().as_rotvec(), second.inv().as_rotvec()
    poses[2 * PAIRS :] = singles.inv().as_rotvec()
    records["alignments3D/pose"] = poses
    split = np.concatenate([np.tile([0, 1], PAIRS), np.arange(SINGLES) % 2])
    records["alignments3D/split"] = split
    records["blob/path"] = [f"J9/p{k}.mrc".encode() for k in range(n)]
    write_cs(folder / "particles.cs", records)
    return folder, first, second, split


def _model_star(folder: Path) -> Path:
    """A run_model.star whose gold-standard FSC (a logistic in frequency) crosses 0.143 at CROSSING_A."""
    folder.mkdir(parents=True, exist_ok=True)
    frequency = np.arange(BOX // 2 + 1) / (BOX * PSIZE)
    middle = 1 / CROSSING_A - 0.01 * np.log(1 / 0.143 - 1)
    fsc = 1 / (1 + np.exp((frequency - middle) / 0.01))
    rows = "".join(f"{k} {s:.6f} {1 / s if k else 999:.4f} {c:.6f}\n" for k, (s, c) in enumerate(zip(frequency, fsc)))
    path = folder / "run_model.star"
    path.write_text(
        f"data_model_general\n\n_rlnOriginalImageSize {BOX}\n_rlnPixelSize {PSIZE}\n\ndata_model_class_1\n\nloop_\n"
        "_rlnSpectralIndex #1\n_rlnResolution #2\n_rlnAngstromResolution #3\n_rlnGoldStandardFsc #4\n" + rows
    )
    return path


def _job_star(folder: Path, **options: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.star").write_text(
        "data_job\n\n_rlnJobType 2\n_rlnJobIsContinue 0\n\ndata_joboptions_values\n\nloop_\n"
        "_rlnJobOptionVariable #1\n_rlnJobOptionValue #2\n" + "".join(f"{k} {v}\n" for k, v in options.items())
    )


def _audited(particles: Path, fsc: Path, *extra: str) -> tuple[dict, str]:
    done = subprocess.run(
        [CRYODEDUP, "particles", str(particles), "--audit", "--min-dist", "30", "--fsc", str(fsc), "--json", *extra],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout), done.stderr


def _angles(first: Rotation, second: Rotation, sym: str) -> np.ndarray:
    group = Rotation.identity(1) if sym == "C1" else Rotation.create_group(sym)
    relative = first.inv() * second
    return np.degrees(np.array([(group * relative[k]).magnitude().min() for k in range(len(first))]))


def _section_share(first: Rotation, second: Rotation, shell: float) -> np.ndarray:
    phi = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    ring = shell * np.stack([np.cos(phi), np.sin(phi), np.zeros_like(phi)], axis=1)
    one, two = first.as_matrix(), second.as_matrix()
    landed = np.einsum("kji,pj->kpi", one, ring) - np.einsum("kji,pj->kpi", two, ring)  # (A^T p, each pair)
    return np.clip(1 - np.linalg.norm(landed, axis=2), 0, 1).mean(axis=1)


def _oracle_f(first: Rotation, second: Rotation, split: np.ndarray, sym: str) -> tuple[float, int]:
    angles = _angles(first, second, sym)
    far = angles > 15.0
    weights = np.where(far, _section_share(first, second, BOX * PSIZE / CROSSING_A), 1.0)
    n1, n2 = np.bincount(split, minlength=2)
    return float(weights.sum() / np.sqrt(n1 * n2)), int(far.sum())


def test_cryosparc_pairs_at_poses_apart_count_by_their_sections_under_c1(refinement, tmp_path):
    folder, first, second, split = refinement
    summary, table = _audited(folder / "particles.cs", _model_star(tmp_path / "fsc"))
    fsc = summary["halfset_audit"]["fsc"]
    f, far = _oracle_f(first, second, split, "C1")
    assert far == 2 * PAIRS // 3  # (the 60- and 180-degree turns)
    assert fsc["pairs"] == PAIRS and fsc["pairs_turned"] == far
    assert fsc["shared_fraction"] == pytest.approx(f, abs=0.004)  # (whole, as main counted them: 0.5 more)
    assert fsc["point_group"]["name"] == "C1" and "no file of the refinement says it" in fsc["point_group"]["from"]
    assert "point group C1 (no file of the refinement says it" in table


def test_cryosparc_job_json_names_the_point_group_the_poses_are_compared_under(refinement, tmp_path):
    folder, first, second, split = refinement
    particles = tmp_path / "J9" / "particles.cs"
    particles.parent.mkdir()
    particles.write_bytes((folder / "particles.cs").read_bytes())
    document = {
        "uid": "J9",
        "type": "homo_refine_new",
        "parents": [],
        "params_spec": {"refine_symmetry": {"value": "D2"}},
    }
    (particles.parent / "job.json").write_text(json.dumps(document))
    summary, _ = _audited(particles, _model_star(tmp_path / "fsc"))
    fsc = summary["halfset_audit"]["fsc"]
    f, far = _oracle_f(first, second, split, "D2")
    assert far == PAIRS // 3  # (the 2-folds are one pose under D2: only the 60-degree turns apart)
    assert fsc["pairs_turned"] == far and fsc["shared_fraction"] == pytest.approx(f, abs=0.004)
    assert fsc["point_group"] == {"name": "D2", "from": f"{particles.parent / 'job.json'} refine_symmetry"}


def test_the_fsc_refinements_job_star_gives_the_point_group_before_sym(refinement, tmp_path):
    folder, first, second, split = refinement
    refine = tmp_path / "Refine3D" / "job040"
    fsc_file = _model_star(refine)
    _job_star(refine, sym_name="D2")
    # (--max-angle 180: every pair a duplicate under --sym C1, compared for the FSC under the refinement's D2)
    summary, table = _audited(folder / "particles.cs", fsc_file, "--max-angle", "180", "--sym", "C1")
    fsc = summary["halfset_audit"]["fsc"]
    assert fsc["point_group"] == {"name": "D2", "from": f"{refine / 'job.star'} sym_name"}
    assert fsc["shared_fraction"] == pytest.approx(_oracle_f(first, second, split, "D2")[0], abs=0.004)
    assert f"point group D2 ({refine / 'job.star'} sym_name)" in table


def test_a_postprocess_takes_the_point_group_of_the_refinement_it_read(refinement, tmp_path):
    folder = refinement[0]
    refine, post = tmp_path / "Refine3D" / "job040", tmp_path / "PostProcess" / "job041"
    refine.mkdir(parents=True)
    (refine / "run_sampling.star").write_text("data_sampling_general\n\n_rlnHealpixOrder 4\n_rlnSymmetryGroup D2\n")
    _job_star(post, fn_in="Refine3D/job040/run_half1_class001_unfil.mrc")
    fsc_file = _model_star(post)
    summary, _ = _audited(folder / "particles.cs", fsc_file)
    fsc = summary["halfset_audit"]["fsc"]
    assert fsc["point_group"] == {"name": "D2", "from": f"{refine / 'run_sampling.star'} rlnSymmetryGroup"}
    assert fsc["pairs_turned"] == PAIRS // 3


def test_without_a_refinements_file_sym_is_the_point_group(refinement, tmp_path):
    folder, first, second, split = refinement
    summary, _ = _audited(folder / "particles.cs", _model_star(tmp_path / "fsc"), "--max-angle", "15", "--sym", "D2")
    fsc = summary["halfset_audit"]["fsc"]
    assert fsc["point_group"] == {"name": "D2", "from": "--sym"}
    assert fsc["shared_fraction"] == pytest.approx(_oracle_f(first, second, split, "D2")[0], abs=0.004)
