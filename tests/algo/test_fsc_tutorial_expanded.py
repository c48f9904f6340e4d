"""Issue 97 item 1 on the RELION 3.1 tutorial: Refine3D/job029 (beta-galactosidase, D2) symmetry-expanded by RELION.

``relion_particle_symmetry_expand --sym D2`` writes each of job029's 4,501 particles four times, at its four
symmetry-related poses; the half-set is drawn per row, per source image and per copy, as a local refinement of the
expanded set in C1 would have it, and the set audited with job029's FSC (PostProcess/job030). On main the audit
counted every copy across the halves whole (f 0.742, 2.83 -> 3.86 Å, "refine again"). One image at two poses an
operator apart shares its noise only where its two central sections meet: the oracle here computes that share
independently, pair by pair from the rows' own angles (scipy's rotations: RELION's A is the inverse of
``from_euler("ZYZ", [rot, tilt, psi])``, a pixel p of the image lands at A^T p), for every pair of copies of one
image in different halves, at the FSC's crossing shell. The tutorial has no particle images (no reconstruction):
RELION's own reconstructions of such a set are tests/algo/test_fsc_relion_expanded.py's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fixtures.tutorial_files import tutorial_project
from helpers import missing_program

POSTPROCESS = "PostProcess/job030/postprocess.star"
#: Refine3D/job029's box: 256 pixels of 1.244 Å.
BOX_A = 256 * 1.244
#: The FSC's crossing (Å) as RELION's PostProcess reports it (rlnFinalResolution 2.81 in the tutorial's).
CROSSING_A = 2.81


def _rows(star: Path) -> tuple[list[str], list[list[str]], list[str]]:
    lines = star.read_text().splitlines()
    start = max(k for k, line in enumerate(lines) if line.strip().startswith("_rln")) + 1
    head = lines[:start]
    particles = next(k for k, line in enumerate(head) if line.startswith("data_particles"))
    labels = [line.split()[0] for line in head[particles:] if line.strip().startswith("_rln")]
    return head, [line.split() for line in lines[start:] if line.strip()], labels


@pytest.fixture(scope="module")
def expanded(tmp_path_factory):
    """The expanded set with its halves drawn each way: (STAR by split, source image of each row, the rows' angles)."""
    root = tutorial_project()
    if shutil.which("relion_particle_symmetry_expand") is None:
        missing_program(
            "RELION is not installed (relion_particle_symmetry_expand)", required_by="CRYODEDUP_REQUIRE_RELION"
        )
    folder = tmp_path_factory.mktemp("tutorial_expanded")
    shutil.copy(root / "Refine3D/job029/run_data.star", folder / "job029.star")
    subprocess.run(
        ["relion_particle_symmetry_expand", "--i", "job029.star", "--o", "expanded.star", "--sym", "D2"],
        cwd=folder, check=True, capture_output=True,
    )  # fmt: skip
    head, rows, labels = _rows(folder / "expanded.star")
    subset, image = labels.index("_rlnRandomSubset"), labels.index("_rlnImageName")
    names = [words[image] for words in rows]
    source = np.unique(names, return_inverse=True)[1]
    copy = np.zeros(source.size, dtype=int)
    seen: dict[int, int] = {}
    for k, s in enumerate(source):
        copy[k] = seen[s] = seen.get(s, -1) + 1
    rng = np.random.default_rng(29)
    halves = {"row": rng.integers(0, 2, source.size), "source": rng.integers(0, 2, source.max() + 1)[source],
              "copy": copy % 2}  # fmt: skip
    stars = {}
    for split, half in halves.items():
        for words, h in zip(rows, half):
            words[subset] = str(h + 1)
        stars[split] = folder / f"{split}.star"
        stars[split].write_text("\n".join([*head, *(" ".join(words) for words in rows)]) + "\n")
    angles = np.array([[float(w[labels.index(f"_rlnAngle{a}")]) for a in ("Rot", "Tilt", "Psi")] for w in rows])
    return root, stars, source, halves, angles


def _audited(star: Path, fsc: Path, *options: str) -> dict:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cryodedup"), "particles", str(star), "--audit", "--fsc", str(fsc),
         "--json", "--quiet", *options],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def _c1_refinement(root: Path, folder: Path) -> Path:
    """job030's postprocess.star where a C1 refinement of the expanded set would have it (job.star: sym_name C1)."""
    refine = folder / "Refine3D/job100"
    refine.mkdir(parents=True, exist_ok=True)
    (refine / "job.star").write_text(
        "data_job\n\n_rlnJobType 2\n_rlnJobIsContinue 0\n\ndata_joboptions_values\n\nloop_\n"
        "_rlnJobOptionVariable #1\n_rlnJobOptionValue #2\nsym_name C1\n"
    )
    shutil.copy(root / POSTPROCESS, refine / "postprocess.star")
    return refine / "postprocess.star"


def _cross_pairs(source: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of rows (copies of one image) in different halves: each such pair shares that image's noise."""
    first, second = [], []
    for rows in np.split(np.argsort(source, kind="stable"), np.flatnonzero(np.diff(np.sort(source))) + 1):
        one, two = rows[half[rows] == 0], rows[half[rows] == 1]
        first += [a for a in one for _ in two]
        second += [b for _ in one for b in two]
    return np.array(first, dtype=int), np.array(second, dtype=int)


def _section_share(angles: np.ndarray, first: np.ndarray, second: np.ndarray, shell: float) -> np.ndarray:
    """Each pair's share of its image's noise at ``shell``: ring pixels landing within a voxel, 1 - distance."""
    q1 = Rotation.from_euler("ZYZ", angles[first], degrees=True)
    q2 = Rotation.from_euler("ZYZ", angles[second], degrees=True)
    phi = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    ring = shell * np.stack([np.cos(phi), np.sin(phi), np.zeros_like(phi)], axis=1)
    shares = np.empty(len(first))
    for k in range(len(first)):
        distance = np.linalg.norm(q1[k].apply(ring) - q2[k].apply(ring), axis=1)
        shares[k] = np.clip(1.0 - distance, 0.0, 1.0).mean()
    return shares


@pytest.mark.parametrize("split", ["row", "copy"])
def test_expanded_job029_refined_in_c1_shares_what_its_sections_share_and_needs_no_redo(expanded, split, tmp_path):
    root, stars, source, halves, angles = expanded
    summary = _audited(stars[split], _c1_refinement(root, tmp_path))
    estimate = summary["halfset_audit"]["fsc"]
    assert estimate["point_group"]["name"] == "C1" and estimate["point_group"]["from"].endswith(
        "job100/job.star sym_name"
    )
    n1, n2 = np.bincount(halves[split], minlength=2)
    assert estimate["halves"] == [n1, n2]
    first, second = _cross_pairs(source, halves[split])
    # (the copies are D2's 180-degree turns of one another: each pair one image, nowhere one pose)
    turns = (Rotation.from_euler("ZYZ", angles[first], degrees=True).inv()
             * Rotation.from_euler("ZYZ", angles[second], degrees=True)).magnitude()  # fmt: skip
    assert np.allclose(np.degrees(turns), 180.0, atol=0.01)
    shell = BOX_A / CROSSING_A
    oracle = float(_section_share(angles, first, second, shell).sum() / np.sqrt(n1 * n2))
    whole = len(first) / np.sqrt(n1 * n2)  # (what counting each copy whole says: main's 0.74 per row)
    assert whole > 0.5 and oracle < 0.005
    assert estimate["shared_fraction"] <= oracle + 1e-3  # (its copies within a half add a little noise besides)
    # (every pair of copies across the halves, issue 97; the pairs with the row kept alone before)
    assert estimate["pairs_turned"] == estimate["pairs"] == summary["halfset_audit"]["straddling_pairs"] == len(first)
    assert abs(estimate["change_shells"]) < 0.3
    assert summary["verdict"]["kind"] != "bad"  # (no "refine again without them")


def test_expanded_job029_with_its_copies_in_one_half_straddles_nothing(expanded, tmp_path):
    root, stars, _, _, _ = expanded
    summary = _audited(stars["source"], _c1_refinement(root, tmp_path))
    assert summary["halfset_audit"]["straddling_pairs"] == 0
    assert summary["halfset_audit"]["fsc"]["shared_fraction"] == 0
    assert summary["verdict"]["kind"] != "bad"


def test_expanded_job029_under_its_own_d2_counts_its_copies_whole_and_says_redo(expanded):
    # The same copies in a refinement imposing D2 (job029's FSC, as it ran): one view, their noise shared.
    root, stars, source, halves, _ = expanded
    # (no --sym: the point group is job029's own, read through the PostProcess that read its half-map)
    summary = _audited(stars["row"], root / POSTPROCESS)
    estimate = summary["halfset_audit"]["fsc"]
    assert estimate["point_group"] == {"name": "D2", "from": f"{root / 'Refine3D/job029/job.star'} sym_name"}
    # (each image's rows in the halves, a and b: every pair of its copies across the halves counts, a b, and copies in
    # one half add their noise coherently, f = sum a b / sqrt(sum a^2 sum b^2) (issue 97, trial 2: the audit paired
    # each copy with the one kept only, between min(a, b) and max(a, b) pairs an image, f k / sqrt(n1 n2), 0.75)
    a, b = (np.bincount(source[halves["row"] == h], minlength=source.max() + 1).astype(float) for h in (0, 1))
    assert estimate["pairs"] == int((a * b).sum()) and estimate["pairs_turned"] == 0
    f = float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))
    assert estimate["shared_fraction"] == pytest.approx(f, abs=1e-5)
    assert 0.55 < f < 0.65  # (RELION's D2 reconstruction of such copies: 0.61 of their noise shared)
    assert summary["verdict"]["kind"] == "bad"
