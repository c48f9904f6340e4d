"""``--sym`` as the package that wrote the poses defines its point groups (issue 89).

The oracle is RELION's own ``relion_particle_symmetry_expand`` (Debian's RELION 3.1.3; the tests
that run it skip without it, and fail where CI requires it), and, apart from the core, the groups
generated here from the rotation axes RELION's ``src/symmetries.cpp`` lists for each setting
(``fill_symmetry_class``), closed under products with numpy. RELION's T has its three-fold on z;
its I is I2; scipy's ``create_group`` T (two-folds on x, y, z) and I (RELION's I1) are other settings.
CryoSPARC's Dn has its two-fold on y (its forum; Scipion's cryoSPARC plugin, ``CS_SYM_NAME``).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from fixtures.relion_symmetry import relion_group
from fixtures.synthetic import write_cs
from helpers import located_records, missing_program, write_star

LABELS = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]


def relion_matrices(angles: np.ndarray) -> np.ndarray:
    """RELION's ``A`` of each row's rot, tilt, psi (degrees): the inverse of scipy's intrinsic ZYZ."""
    return Rotation.from_euler("ZYZ", angles, degrees=True).inv().as_matrix()


def relion_angles(a: np.ndarray) -> np.ndarray:
    """RELION's rot, tilt, psi (degrees) of matrices ``A``."""
    return Rotation.from_matrix(a).inv().as_euler("ZYZ", degrees=True)


def least_angle(a: np.ndarray, b: np.ndarray, group: np.ndarray) -> float:
    """The angle (degrees) between orientations ``a`` and ``b`` under ``group``: min over S of angle(S^T a^T b)."""
    relative = a.T @ b
    cosines = (np.einsum("kij,ij->k", group, relative) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(cosines.max(), -1, 1))))


def test_the_groups_written_here_have_their_orders():
    orders = {"T": 12, "O": 24, "I1": 60, "I2": 60, "I3": 60, "I4": 60, "D2": 4, "C7": 7}
    assert {name: len(relion_group(name)) for name in orders} == orders


# --- RELION's program, the oracle ------------------------------------------------------------


@pytest.fixture
def relion_expand():
    """``relion_particle_symmetry_expand`` (skipped without it; CI that installs RELION fails instead)."""
    program = shutil.which("relion_particle_symmetry_expand")
    if program is None:
        missing_program(
            "RELION is not installed (relion_particle_symmetry_expand): apt-get install relion",
            required_by="CRYODEDUP_REQUIRE_RELION",
        )

    def expand(star, out, sym: str) -> list[list[str]]:
        done = subprocess.run(
            [program, "--i", str(star), "--o", str(out), "--sym", sym, "--ignore_optics"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0 and out.exists(), done.stdout + done.stderr
        return [line.split() for line in out.read_text().splitlines() if line.strip() and "@" in line]

    return expand


def _identity_expanded(tmp_path, expand, sym: str) -> np.ndarray:
    """The orientations (k, 3, 3) RELION's expansion gives one particle at rot = tilt = psi = 0: its operators."""
    star = write_star(tmp_path / "one.star", [*LABELS, "rlnImageName"], [[100, 100, "a.mrc", 0, 0, 0, "1@a.mrcs"]])
    rows = expand(star, tmp_path / f"one_{sym}.star", sym)
    return relion_matrices(np.array([[float(v) for v in row[3:6]] for row in rows]))


@pytest.mark.filterwarnings("ignore:Gimbal lock")  # (the identity's angles: tilt 0)
@pytest.mark.parametrize("sym", ["T", "I", "I1", "I2", "I3", "I4", "O", "D2", "C7"])
def test_the_operators_are_relions_expansion(tmp_path, relion_expand, sym):
    # RELION's copies of a particle at the identity pose are its operators: the groups written here are
    # those, and the core's group holds each (the angle to it under --sym is 0) and none under C1.
    from cryodedup import _core

    copies = _identity_expanded(tmp_path, relion_expand, sym)
    group = relion_group(sym)
    assert len(copies) == len(group)
    assert max(least_angle(np.eye(3), c, group) for c in copies) < 1e-3
    poses = np.vstack([[0.0, 0.0, 0.0], relion_angles(copies)])
    to_identity = np.zeros(len(copies), np.uint32), np.arange(1, len(copies) + 1, dtype=np.uint32)
    under_sym = _core.pose_angles(_core.PoseRule(poses, "relion", 5.0, sym), *to_identity)
    under_c1 = _core.pose_angles(_core.PoseRule(poses, "relion", 5.0, "C1"), *to_identity)
    assert under_sym.max() < 1e-3
    assert np.sort(under_c1)[1] > 30  # (the identity's own copy is the one at 0)


def _random_originals(n: int, rng: np.random.Generator) -> list[list]:
    """``n`` particles, ten a micrograph on a grid 100 Å apart, of random orientations, each its own image."""
    angles = relion_angles(Rotation.random(n, random_state=rng).as_matrix())
    return [[200 + 100 * (k % 10), 200, f"mic{k // 10:03d}.mrc", *angles[k], f"{k + 1}@stack.mrcs"] for k in range(n)]


def _moved(rows: list[list[str]], rng: np.random.Generator, most: float) -> list[list]:
    """RELION's expanded rows, each copy moved by up to ``most`` Å (1 Å pixels) in a random direction."""
    turn = rng.uniform(0, 2 * np.pi, len(rows))
    step = rng.uniform(0, most, len(rows))
    return [
        [float(r[0]) + s * np.cos(t), float(r[1]) + s * np.sin(t), r[2], *map(float, r[3:6]), r[6]]
        for r, s, t in zip(rows, step, turn)
    ]


def kept_per_original(tmp_path, star, sym: str) -> np.ndarray:
    """How many rows of each original (its image) ``particles --min-dist 10 --max-angle 5 --sym`` keeps."""
    options = ParticleOptions(mic_psize=1.0, min_dist=10, max_angle=5, sym=sym, score="none")
    out = tmp_path / f"out_{sym}"
    remove_duplicate_particles([star], out, options, force=True)
    (kept,) = [p for p in out.glob("*.star") if "kept" in p.name or p.stem == star.stem]
    images = [line.split()[-1] for line in kept.read_text().splitlines() if "@stack.mrcs" in line]
    return np.unique(images, return_counts=True)[1]


@pytest.mark.parametrize("sym", ["T", "I", "I1", "I2", "I3", "I4", "O", "D2", "C7"])
def test_relions_expansion_keeps_one_particle_per_original(tmp_path, relion_expand, sym):
    # 200 particles expanded by RELION in the group they were refined in, each copy moved up to 3 Å:
    # one kept per original (before issue 89: T kept all 12 copies, I 5 of 60, I1-I4 were refused).
    rng = np.random.default_rng(89)
    star = write_star(tmp_path / "refined.star", [*LABELS, "rlnImageName"], _random_originals(200, rng))
    rows = relion_expand(star, tmp_path / "expanded.star", sym)
    assert len(rows) == 200 * len(relion_group(sym))
    moved = write_star(tmp_path / "moved.star", [*LABELS, "rlnImageName"], _moved(rows, rng, 3.0))
    counts = kept_per_original(tmp_path, moved, sym)
    assert len(counts) == 200 and counts.tolist() == [1] * 200


# --- another setting's copies are other orientations -----------------------------------------


def _pairs_under(operators: np.ndarray, n: int, rng: np.random.Generator) -> list[list]:
    """``n`` pairs 3 Å apart, the second turned from the first by one of ``operators`` (each its own micrograph)."""
    first = Rotation.random(n, random_state=rng).as_matrix()
    second = first @ operators[rng.integers(0, len(operators), n)]
    rows = []
    for k in range(n):
        for a, dx in ((first[k], 0.0), (second[k], 3.0)):
            rows.append([300 + dx, 300, f"mic{k:03d}.mrc", *relion_angles(a[None])[0]])
    return rows


def _kept(tmp_path, rows: list[list], sym: str) -> int:
    star = write_star(tmp_path / "pairs.star", LABELS, rows)
    options = ParticleOptions(mic_psize=1.0, min_dist=10, max_angle=5, sym=sym, score="none")
    return remove_duplicate_particles([star], tmp_path / f"o_{sym}", options, force=True).kept


@pytest.mark.parametrize("sym, other, explicit", [("T", "T", "T222"), ("I", "I", "I1")])
def test_pairs_related_only_by_scipys_setting_merge_nothing(tmp_path, sym, other, explicit):
    # scipy's T and I (T222; RELION's I1) turn a particle to orientations RELION's T and I (I2) do not
    # hold: 20 such pairs are 40 particles under RELION's, 20 under the setting named explicitly.
    scipy_ops = Rotation.create_group(other).as_matrix()
    relion = relion_group(sym)
    foreign = np.array([s for s in scipy_ops if least_angle(np.eye(3), s, relion) > 10])
    assert len(foreign) == len(scipy_ops) - (1 if sym == "T" else 12)  # (shared: the identity; I1 and I2: T)
    rows = _pairs_under(foreign, 20, np.random.default_rng(7))
    assert _kept(tmp_path, rows, sym) == 40
    assert _kept(tmp_path, rows, explicit) == 20


def test_the_summary_names_the_setting_used(tmp_path):
    rows = _pairs_under(relion_group("T"), 3, np.random.default_rng(3))
    star = write_star(tmp_path / "p.star", LABELS, rows)
    options = ParticleOptions(mic_psize=1.0, min_dist=10, max_angle=5, sym="T", score="none")
    summary = remove_duplicate_particles([star], tmp_path / "o", options, force=True).to_json()
    assert "symmetry T (RELION's Tz3, three-fold on z)" in summary["orientations"]
    options = ParticleOptions(mic_psize=1.0, min_dist=10, max_angle=5, sym="I", score="none")
    summary = remove_duplicate_particles([star], tmp_path / "o", options, force=True).to_json()
    assert "symmetry I (RELION's I2)" in summary["orientations"]


def test_relions_i5_is_refused_naming_why(tmp_path):
    star = write_star(tmp_path / "p.star", LABELS, _pairs_under(relion_group("T"), 1, np.random.default_rng(1)))
    with pytest.raises(CryodedupError, match="--sym is C1"):
        remove_duplicate_particles([star], tmp_path / "o", ParticleOptions(mic_psize=1.0, max_angle=5, sym="I5"))


# --- CryoSPARC ---------------------------------------------------------------------------------


def _cs_pair(tmp_path, operator: np.ndarray) -> None:
    """Two CryoSPARC particles 3 Å apart, the second turned from the first by ``operator``."""
    r = located_records(7, [100.0, 103.0], [100.0, 100.0], [("alignments3D/pose", "<f4", (3,))])
    first = Rotation.random(random_state=np.random.default_rng(5)).as_matrix()
    # RELION's A of a pose is its rotation's transpose (pyem's csparc2star; tests/formats/cryosparc/
    # test_cryosparc_poses.py): the pose is the rotation vector of A^T. (Written as A's own until that fix.)
    r["alignments3D/pose"] = Rotation.from_matrix(np.stack([first, first @ operator])).inv().as_rotvec()
    write_cs(tmp_path / "p.cs", r)


def _cs_kept(tmp_path, sym: str) -> int:
    options = ParticleOptions(min_dist=10, max_angle=5, sym=sym, score="none")
    return remove_duplicate_particles([tmp_path / "p.cs"], tmp_path / f"o_{sym}", options, force=True).kept


def test_cryosparcs_dihedral_groups_have_their_two_fold_on_y(tmp_path):
    # A half-turn about y is an operator of CryoSPARC's D3, not of RELION's (two-fold on x; n odd).
    _cs_pair(tmp_path, np.diag([-1.0, 1.0, -1.0]))
    assert _cs_kept(tmp_path, "D3") == 1
    assert _cs_kept(tmp_path, "Dx3") == 2
    rows = _pairs_under(np.diag([-1.0, 1.0, -1.0])[None], 5, np.random.default_rng(2))
    assert _kept(tmp_path, rows, "D3") == 10 and _kept(tmp_path, rows, "Dy3") == 5


def test_cryosparcs_t_and_i_are_refused_without_a_setting(tmp_path):
    # CryoSPARC's documents do not establish its T's and I's settings: a name of the setting is asked for.
    _cs_pair(tmp_path, relion_group("T")[4])
    for sym in ("T", "I"):
        with pytest.raises(CryodedupError, match="CryoSPARC's setting of it is not established"):
            _cs_kept(tmp_path, sym)
    assert _cs_kept(tmp_path, "Tz3") == 1 and _cs_kept(tmp_path, "T222") == 2


@pytest.mark.parametrize(
    ("sym", "shown"),
    [
        ("C99999999999", "C99999999999"),
        ("D0", "D0"),
        ("C1000", "C1000"),
        ("Dx" + "9" * 5000, "Dx999999...(5,000 digits)"),
    ],
)
def test_an_order_out_of_range_is_refused_saying_so(tmp_path, sym, shown):
    # A user's trial: --sym C99999999999 was told the groups' names, not that n is too large.
    star = write_star(tmp_path / "p.star", LABELS, [[100, 100, "a.mrc", 0, 0, 0]])
    expected = rf"^--sym {re.escape(shown)}: the order n of Cn and Dn is a whole number from 1 to 999 \(RELION"
    with pytest.raises(CryodedupError, match=expected):
        remove_duplicate_particles([star], tmp_path / "o", ParticleOptions(mic_psize=1.0, max_angle=5, sym=sym))


def test_the_largest_order_relion_takes_is_the_one_named(tmp_path, relion_expand):
    # The message names RELION 3.1.3's own limit: its program expands C99 into 99 copies, and refuses C100.
    star = write_star(tmp_path / "one.star", [*LABELS, "rlnImageName"], [[100, 100, "a.mrc", 0, 0, 0, "1@a.mrcs"]])
    assert len(relion_expand(star, tmp_path / "c99.star", "C99")) == 99
    with pytest.raises(AssertionError, match="do not recognize symmetry group"):
        relion_expand(star, tmp_path / "c100.star", "C100")
    summary = remove_duplicate_particles(
        [star], tmp_path / "o", ParticleOptions(mic_psize=1.0, min_dist=10, max_angle=5, sym="C999", score="none")
    )
    assert summary.kept == 1
