"""Issue 91 on the RELION tutorial's chain: each refinement's FSC read, its resolution said, and what copies did.

The tutorial's fixture carries no FSC of its own; :func:`write_fsc_files` adds each refinement's
``run_model.star`` and each PostProcess's ``postprocess.star`` in RELION 3.1's layout, with curves
of a known shape. The oracle: the curve's own crossing, solved from its formula, and the shared
fraction counted here by hand from the rows written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fixtures.relion_tutorial import (
    COPY_OFFSET,
    FSC_BOX,
    FSC_PSIZE,
    POSTPROCESS_OF,
    POSTPROCESSED_A,
    REFINED_A,
    last_shell_above,
    plant,
    write_fsc_files,
    write_tutorial,
)

CRYODEDUP = str(Path(sys.executable).parent / "cryodedup")
_R29 = "Refine3D/job029"
SHELL = 1.0 / (FSC_BOX * FSC_PSIZE)


def _audit(root: Path, *extra: str) -> tuple[int, dict]:
    done = subprocess.run(
        [CRYODEDUP, "audit", str(root), "--json", *extra], capture_output=True, text=True, check=False
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def _logistic_crossing(crossing_A: float, f: float, halves: tuple[int, int] | None = None, removed: int = 0) -> float:
    """Where the fixture's logistic without the copies crosses 0.143, solved (Å).

    First order: (FSC - f) / (1 - f). With ``halves`` (n1, n2 images): each frequency's signal-to-noise ratio s of
    one image found by bisection from FSC = (n1 n2 s + k) / sqrt((n1^2 s + n1)(n2^2 s + n2)) (k = f sqrt(n1 n2)),
    then the FSC of the halves less ``removed`` rows, half from each, on a fine grid.
    """
    width = 0.02
    middle = 1.0 / crossing_A - width * np.log(1 / 0.143 - 1)
    if halves is None:
        level = 0.143 * (1 - f) + f
        return 1.0 / (middle + width * np.log(1 / level - 1))
    n1, n2 = halves
    k = f * np.sqrt(n1 * n2)
    q = np.linspace(0.5 / crossing_A, 2.0 / crossing_A, 20001)
    curve = 1.0 / (1.0 + np.exp((q - middle) / width))

    def forward(s: np.ndarray, a: float, b: float, shared: float) -> np.ndarray:
        return (a * b * s + shared) / np.sqrt((a * a * s + a) * (b * b * s + b))

    low, high = np.zeros_like(q), np.full_like(q, 1e3)
    for _ in range(200):
        mid = (low + high) / 2
        above = forward(mid, n1, n2, k) > curve
        high, low = np.where(above, mid, high), np.where(above, low, mid)
    without = forward(low, n1 - removed / 2, n2 - removed / 2, 0.0)
    first = int(np.flatnonzero(without < 0.143)[0])
    return float(1.0 / np.interp(0.143, without[first : first - 2 : -1], q[first : first - 2 : -1]))


def test_the_audit_reads_each_refinements_postprocess_and_states_its_resolution(tmp_path):
    write_tutorial(tmp_path)
    write_fsc_files(tmp_path)
    (tmp_path / "PostProcess/job030/postprocess.star").unlink()  # (job029 then read from its run_model.star)
    status, audit = _audit(tmp_path)
    jobs = {j["job"]: j for j in audit["jobs"]}
    assert status == 0
    for post, refined in POSTPROCESS_OF.items():
        fsc = jobs[refined]["fsc"]
        if post == "PostProcess/job030":
            assert fsc["source"].startswith(f"{_R29}/run_model.star: rlnGoldStandardFsc")
            assert abs(1 / fsc["resolution_A"] - 1 / REFINED_A[_R29]) <= SHELL / 10
            continue
        assert fsc["source"].startswith(f"{post}/postprocess.star: rlnFourierShellCorrelationCorrected")
        # (RELION reports its last shell above 0.143: the audit's crossing lies within the shell after it)
        assert 0 <= 1 / fsc["resolution_A"] - 1 / last_shell_above(POSTPROCESSED_A[post]) <= SHELL
        assert fsc["shared_fraction"] == 0 and fsc["resolution_without_duplicates_A"] == fsc["resolution_A"]
        assert len(fsc["shells"]) == FSC_BOX // 2 + 1
    done = subprocess.run(
        [CRYODEDUP, "audit", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert f"Refine3D/job019: {jobs['Refine3D/job019']['fsc']['resolution_A']:.2f} Å at FSC 0.143" in done.stderr


def test_copies_across_the_final_refinements_halves_state_the_resolution_predicted_without_them(tmp_path):
    files = write_tutorial(tmp_path)
    write_fsc_files(tmp_path)
    planted = plant(tmp_path, files, [f"{_R29}/run_data.star"], 20)
    status, audit = _audit(tmp_path)
    job = {j["job"]: j for j in audit["jobs"]}[_R29]
    rows = planted[f"{_R29}/run_data.star"]
    n1, n2 = np.count_nonzero(rows.subset == 1), np.count_nonzero(rows.subset == 2)
    overlap = 1 - COPY_OFFSET / (FSC_BOX * FSC_PSIZE)  # (a copy 12 Å along x: two squares of the box)
    f = 20 * overlap / np.sqrt(n1 * n2)
    fsc = job["fsc"]
    assert fsc["shared_fraction"] == pytest.approx(f, rel=1e-4)
    predicted = _logistic_crossing(POSTPROCESSED_A["PostProcess/job030"], f, (n1, n2), 20)
    assert abs(1 / fsc["resolution_without_duplicates_A"] - 1 / predicted) <= SHELL / 10
    assert status == 1 and job["verdict"] == "redo"
    said = f"as refined {fsc['resolution_A']:.2f} Å, without its 20 duplicate pairs about {predicted:.2f} Å"
    assert said in job["line"]
    done = subprocess.run(
        [CRYODEDUP, "audit", str(tmp_path), "--plot", str(tmp_path.parent / "report")], capture_output=True, check=False
    )
    page = (tmp_path.parent / "report" / "report.html").read_text()
    assert done.returncode == 1 and page.count("<svg") == 4  # (the pipeline, and each refinement's FSC)
    assert f"without its duplicates: {predicted:.2f} Å" in page and "as refined: 3.10 Å" in page


def test_a_change_under_the_negligible_shells_is_negligible_and_said_in_angstroms(tmp_path):
    files = write_tutorial(tmp_path)
    write_fsc_files(tmp_path)
    plant(tmp_path, files, [f"{_R29}/run_data.star"], 20)
    status, audit = _audit(tmp_path, "--negligible", "5")  # (the 20 copies move it about 2 shells)
    job = {j["job"]: j for j in audit["jobs"]}[_R29]
    assert status == 0 and job["verdict"] == "negligible"
    assert "without its 20 duplicate pairs about" in job["line"] and "under 5 Fourier shell" in job["line"]


def test_without_an_fsc_the_share_decides_and_says_so(tmp_path):
    files = write_tutorial(tmp_path)
    plant(tmp_path, files, [f"{_R29}/run_data.star"], 2)
    status, audit = _audit(tmp_path)
    job = {j["job"]: j for j in audit["jobs"]}[_R29]
    assert status == 0 and job["verdict"] == "negligible"
    assert job["fsc"]["source"] is None and job["fsc"]["why"].startswith("no FSC found")  # (issue 97: an object)
    assert (
        "no FSC found (PostProcess/job030/postprocess.star, Refine3D/job029/run_model.star not found), judged by "
        "the share" in job["line"]
    )


def test_one_refinements_file_and_its_fsc_outside_a_project_give_the_audits_estimate(tmp_path):
    # `cryodedup particles FILE --audit --fsc FSC`: the same estimate the project's audit makes, for a user who has
    # only the refinement's particles and its postprocess.star (the oracle: the shared fraction by hand, as above).
    files = write_tutorial(tmp_path)
    write_fsc_files(tmp_path)
    planted = plant(tmp_path, files, [f"{_R29}/run_data.star"], 20)
    rows = planted[f"{_R29}/run_data.star"]
    n1, n2 = np.count_nonzero(rows.subset == 1), np.count_nonzero(rows.subset == 2)
    f = 20 * (1 - COPY_OFFSET / (FSC_BOX * FSC_PSIZE)) / np.sqrt(n1 * n2)
    done = subprocess.run(
        [CRYODEDUP, "particles", f"{_R29}/run_data.star", "--audit", "--min-dist", "50", "--json", "--fsc",
         "PostProcess/job030/postprocess.star", "--micrographs", "CtfFind/job003/micrographs_ctf.star"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    fsc = json.loads(done.stdout)["halfset_audit"]["fsc"]
    assert fsc["shared_fraction"] == pytest.approx(f, rel=1e-4)
    predicted = _logistic_crossing(POSTPROCESSED_A["PostProcess/job030"], f, (n1, n2), 20)
    assert abs(1 / fsc["resolution_without_duplicates_A"] - 1 / predicted) <= SHELL / 10
    assert "without its 20 straddling pairs about" in done.stderr  # (the summary's row; --json holds the numbers)


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ([], "--fsc estimates what the duplicates did to a refinement's FSC: add --audit"),
        (["--audit"], "the particles carry no half-set column"),
    ],
)
def test_fsc_without_audit_or_half_sets_is_refused_in_one_line(tmp_path, extra, said):
    write_tutorial(tmp_path)
    write_fsc_files(tmp_path)
    particles = "Extract/job018/particles.star" if extra else f"{_R29}/run_data.star"
    done = subprocess.run(
        [CRYODEDUP, "particles", particles, *extra, "--fsc", "PostProcess/job030/postprocess.star",
         "--micrographs", "CtfFind/job003/micrographs_ctf.star", "-o", "out"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0 and said in done.stderr and "Traceback" not in done.stderr


def test_an_fsc_file_that_is_not_one_is_refused_in_one_line(tmp_path):
    write_tutorial(tmp_path)
    done = subprocess.run(
        [CRYODEDUP, "particles", f"{_R29}/run_data.star", "--audit", "--fsc", f"{_R29}/run_data.star",
         "--micrographs", "CtfFind/job003/micrographs_ctf.star"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "no data_fsc (RELION's postprocess.star) and no data_model_class_1" in done.stderr


def _fsc_rows(path: Path) -> tuple[list[str], list[int]]:
    """The file's lines, and the indices of its data_fsc loop's rows."""
    lines, rows, inside = path.read_text().splitlines(), [], False
    for at, line in enumerate(lines):
        if line.startswith("data_"):
            inside = line.strip() == "data_fsc"
        elif inside and line.split() and not line.startswith(("_", "loop_")):
            rows.append(at)
    return lines, rows


def _set_corrected(path: Path, values: dict[int, str]) -> None:
    """Sets rlnFourierShellCorrelationCorrected (the loop's 4th column) of the shells named."""
    lines, rows = _fsc_rows(path)
    for shell, value in values.items():
        words = lines[rows[shell]].split()
        words[3] = value
        lines[rows[shell]] = " ".join(words)
    path.write_text("\n".join(lines) + "\n")


def _corrected(path: Path) -> list[float]:
    lines, rows = _fsc_rows(path)
    return [float(lines[at].split()[3]) for at in rows]


def test_a_curve_not_a_number_before_its_crossing_is_judged_by_the_share_not_called_negligible(tmp_path):
    # A user's trial: RELION's -nan in one shell near 0.143 made the predicted change nan, and nan >= 1 shell is
    # False: "negligible", exit 0, for 20 straddling pairs (7.1 % of job029's particles). The share decides then.
    files = write_tutorial(tmp_path)
    write_fsc_files(tmp_path)
    plant(tmp_path, files, [f"{_R29}/run_data.star"], 20)
    post = tmp_path / "PostProcess/job030/postprocess.star"
    curve = _corrected(post)
    last_above = next(k for k in range(1, len(curve)) if curve[k] < 0.143) - 1
    _set_corrected(post, {last_above: "-nan"})
    status, audit = _audit(tmp_path)
    job = {j["job"]: j for j in audit["jobs"]}[_R29]
    assert status == 1 and job["verdict"] == "redo", job["line"]
    # (issue 97: the next file read, run_model.star, and the one passed over said)
    assert job["fsc"]["source"].startswith(f"{_R29}/run_model.star") and "not a number" in job["fsc"]["fell_back"][0]
    env = {**os.environ, "COLUMNS": "250"}
    done = subprocess.run([CRYODEDUP, "audit", str(tmp_path)], capture_output=True, text=True, check=False, env=env)
    said = " ".join(done.stderr.replace("│", " ").split())  # (the table's cells, wrapped, read as one text)
    assert "passing over PostProcess/job030/postprocess.star gives no resolution" in said and "not a number" in said


def test_a_curve_that_never_falls_below_0143_states_no_crossing(tmp_path):
    # The same trial: a curve above 0.143 to its last shell was said to cross "at FSC 0.143" at Nyquist (2.49 Å).
    files = write_tutorial(tmp_path)
    write_fsc_files(tmp_path)
    plant(tmp_path, files, [f"{_R29}/run_data.star"], 20)
    post = tmp_path / "PostProcess/job030/postprocess.star"
    _set_corrected(post, dict.fromkeys(range(len(_corrected(post))), "0.9"))
    env = {**os.environ, "COLUMNS": "250"}
    done = subprocess.run([CRYODEDUP, "audit", str(tmp_path)], capture_output=True, text=True, check=False, env=env)
    said = " ".join(done.stderr.split())
    assert done.returncode == 1 and "stays above 0.143 to its last shell" in said
    assert "at FSC 0.143" not in said.split("Refine3D/job029:")[-1].split("Refine3D/job0")[0]


def test_a_postprocess_with_shells_out_of_order_is_named_and_the_rest_audited(tmp_path):
    # A barrage (issue 90): every shell at one frequency ended the project's audit in a ZeroDivisionError.
    write_tutorial(tmp_path)
    write_fsc_files(tmp_path)
    path = tmp_path / "PostProcess/job030/postprocess.star"
    lines = path.read_text().splitlines()
    rows = [k for k, line in enumerate(lines) if line.split() and line.split()[0].isdigit() and len(line.split()) > 5]
    for k in rows:
        fields = lines[k].split()
        lines[k] = " ".join([fields[0], "0.010000", *fields[2:]])
    path.write_text("\n".join(lines) + "\n")
    status, audit = _audit(tmp_path)
    job = {j["job"]: j for j in audit["jobs"]}
    fsc = job[_R29]["fsc"]
    assert status in (0, 1) and fsc["source"].startswith(f"{_R29}/run_model.star") and "in order" in fsc["fell_back"][0]
    assert job["Refine3D/job025"]["fsc"] is not None


def _damage(post: Path, damage: str) -> None:
    """The PostProcess's file damaged as a disk, a copy or a crash leaves it."""
    lines, rows = _fsc_rows(post)
    if damage == "deleted":
        post.unlink()
    elif damage == "empty":
        post.write_text("")
    elif damage == "nan":
        _set_corrected(post, dict.fromkeys(range(len(rows)), "nan"))
    elif damage == "cut mid-row":  # (a copy stopped in the middle of its curve)
        text = "\n".join(lines[: rows[len(rows) // 3]]) + "\n" + lines[rows[len(rows) // 3]][:30]
        post.write_text(text)
    else:  # (cut at a row's end, before the crossing: a curve that never falls below 0.143)
        post.write_text("\n".join(lines[: rows[len(rows) // 4] + 1]) + "\n")


@pytest.mark.parametrize("damage", ["deleted", "empty", "nan", "cut mid-row", "cut at a row"])
def test_a_damaged_postprocess_falls_back_to_run_model_star_and_says_so(tmp_path, damage):
    # Issue 97: a deleted postprocess.star fell back without a word; a truncated, empty or NaN one gave no estimate,
    # no fallback, "redo" by the share. Each is now passed over for run_model.star, named in --json and the table.
    files = write_tutorial(tmp_path)
    write_fsc_files(tmp_path)
    plant(tmp_path, files, [f"{_R29}/run_data.star"], 20)
    _damage(tmp_path / "PostProcess/job030/postprocess.star", damage)
    status, audit = _audit(tmp_path)
    fsc = {j["job"]: j for j in audit["jobs"]}[_R29]["fsc"]
    assert fsc["source"].startswith(f"{_R29}/run_model.star: rlnGoldStandardFsc"), fsc.get("fell_back")
    assert abs(1 / fsc["resolution_A"] - 1 / REFINED_A[_R29]) <= SHELL / 10  # (the run_model.star's curve, read)
    assert len(fsc["fell_back"]) == 1 and fsc["fell_back"][0].startswith("PostProcess/job030/postprocess.star")
    assert ("not found" in fsc["fell_back"][0]) is (damage == "deleted")
    assert ("truncated" in fsc["fell_back"][0]) is (damage == "cut at a row")
    assert status == 1  # (the 20 copies, by the run_model.star's curve: about 2 shells)


def test_a_postprocess_that_fell_back_to_the_unmasked_curve_is_read_as_unmasked(tmp_path):
    # Issue 97: for inflated half-maps relion_postprocess writes the unmasked curve as the corrected one (equal to
    # rlnFourierShellCorrelationUnmaskedMaps at every shell); the audit called it "(masked, corrected)".
    write_tutorial(tmp_path)
    write_fsc_files(tmp_path)
    post = tmp_path / "PostProcess/job030/postprocess.star"
    _, audit = _audit(tmp_path)
    assert "(masked, corrected)" in {j["job"]: j for j in audit["jobs"]}[_R29]["fsc"]["source"]
    lines, rows = _fsc_rows(post)
    for at in rows:
        words = lines[at].split()
        words[3] = words[5]  # (the unmasked maps' curve as the corrected one, as RELION writes it then)
        lines[at] = " ".join(words)
    post.write_text("\n".join(lines) + "\n")
    _, audit = _audit(tmp_path)
    source = {j["job"]: j for j in audit["jobs"]}[_R29]["fsc"]["source"]
    assert "unmasked: PostProcess fell back to it" in source and "masked, corrected" not in source


def _particles_fsc(root: Path, particles: str, fsc: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CRYODEDUP, "particles", particles, "--audit", "--min-dist", "50", "--fsc", fsc,
         "--micrographs", "CtfFind/job003/micrographs_ctf.star", *extra],
        capture_output=True, text=True, check=False, cwd=root,
    )  # fmt: skip


@pytest.mark.parametrize("fsc", ["PostProcess/job021/postprocess.star", "Refine3D/job019/run_model.star"])
def test_an_fsc_of_another_refinement_than_the_particles_folder_is_refused_naming_both(tmp_path, fsc):
    # Issue 97 (trial 2): job029's particles with job019's FSC (its PostProcess, or its own run_model.star) were
    # estimated on job019's curve, exit 0. The oracle: the fixture's PostProcess -> Refine3D map, and the exit status
    # of another input refusal (an FSC file that is none).
    files = write_tutorial(tmp_path)
    write_fsc_files(tmp_path)
    plant(tmp_path, files, [f"{_R29}/run_data.star"], 20)
    assert POSTPROCESS_OF["PostProcess/job021"] == "Refine3D/job019"
    done = _particles_fsc(tmp_path, f"{_R29}/run_data.star", fsc)
    other = _particles_fsc(tmp_path, f"{_R29}/run_data.star", f"{_R29}/run_data.star")
    assert done.returncode == other.returncode != 0 and "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert "Refine3D/job019" in line and "Refine3D/job029" in line and fsc in line
    as_json = _particles_fsc(tmp_path, f"{_R29}/run_data.star", fsc, "--json")
    document = json.loads(as_json.stdout)
    assert as_json.returncode == done.returncode and document["verdict"]["word"] == "refused"
    assert "Refine3D/job019" in document["error"] and "Refine3D/job029" in document["error"]


def test_an_fsc_of_the_particles_own_refinement_or_of_particles_elsewhere_is_estimated(tmp_path):
    # The legitimate cases untouched: job029's particles with its PostProcess (job030) or its run_model.star; a copy
    # of its particles outside any refinement's folder (a Select's) with job019's FSC is estimated, the row naming the
    # refinement the FSC is of (the pipeline cannot tie a copy to one).
    files = write_tutorial(tmp_path)
    write_fsc_files(tmp_path)
    plant(tmp_path, files, [f"{_R29}/run_data.star"], 20)
    for fsc in ("PostProcess/job030/postprocess.star", f"{_R29}/run_model.star"):
        done = _particles_fsc(tmp_path, f"{_R29}/run_data.star", fsc, "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["halfset_audit"]["fsc"]["refinement"] is None
    (tmp_path / "Select/job099").mkdir(parents=True)
    (tmp_path / "Select/job099/particles.star").write_bytes((tmp_path / _R29 / "run_data.star").read_bytes())
    done = _particles_fsc(tmp_path, "Select/job099/particles.star", "PostProcess/job021/postprocess.star", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["halfset_audit"]["fsc"]["refinement"] == "Refine3D/job019"
    table = _particles_fsc(tmp_path, "Select/job099/particles.star", "PostProcess/job021/postprocess.star")
    assert "the FSC of Refine3D/job019" in table.stderr
