"""Issue 97: the user's next step after each FSC verdict of the audit, tried as printed, then audited again.

- "redo", from job030's FSC as written, from run_model.star after passing over a deleted postprocess.star, and
  from a curve that never crosses (the change a lower bound): the command under the table, run as printed, writes
  the set without its duplicates; a refinement is out of reach here, so the kept set is audited again (``particles
  --audit --fsc``) with the FSC it would have: the fixture's curve moved to the crossing solved here without the
  copies (:func:`_logistic_crossing`). Oracles: a plain numpy all-pairs search of the kept rows (no pair left within
  the distance, in either half), and that solve.
- "negligible" (a change under ``--negligible`` shells): the option the line names, given below the change solved
  here, makes the same copies a redo; above it, negligible still.
- no FSC found, judged by the share: ``--negligible`` as the line names it, below the share (%), a redo.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fixtures.relion_project import MIC_PSIZE, all_pairs
from fixtures.relion_tutorial import (
    COPY_OFFSET,
    FSC_BOX,
    FSC_PSIZE,
    POSTPROCESSED_A,
    plant,
    write_fsc_files,
    write_tutorial,
)
from jobs.test_audit_fsc import _logistic_crossing

BIN = Path(sys.executable).parent
_R29 = "Refine3D/job029"
COPIES = 20


def _audit(root: Path, *extra: str) -> tuple[int, dict, str]:
    done = subprocess.run(
        [str(BIN / "cryodedup"), "audit", str(root), "--json", *extra],
        capture_output=True, text=True, check=False, env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def _project(tmp_path: Path, fsc: bool = True) -> tuple[Path, float, tuple[int, int]]:
    """The tutorial with COPIES copies across job029's halves; the crossing solved without them (Å) and the halves."""
    root = tmp_path / "tutorial"
    root.mkdir()
    files = write_tutorial(root)
    if fsc:
        write_fsc_files(root)
    rows = plant(root, files, [f"{_R29}/run_data.star"], COPIES)[f"{_R29}/run_data.star"]
    halves = (int(np.count_nonzero(rows.subset == 1)), int(np.count_nonzero(rows.subset == 2)))
    f = COPIES * (1 - COPY_OFFSET / (FSC_BOX * FSC_PSIZE)) / np.sqrt(halves[0] * halves[1])
    return root, _logistic_crossing(POSTPROCESSED_A["PostProcess/job030"], f, halves, COPIES), halves


def _star_rows(path: Path) -> dict[str, list[str]]:
    """A particle STAR's last loop, column by label (plain parsing, not the package's reader)."""
    lines = path.read_text().splitlines()
    start = max(k for k, line in enumerate(lines) if line.strip().startswith("_rln"))
    first = start
    while first > 0 and lines[first - 1].strip().startswith("_rln"):
        first -= 1
    labels = [line.split()[0] for line in lines[first : start + 1]]
    rows = [line.split() for line in lines[start + 1 :] if line.strip() and not line.startswith("#")]
    return {label: [row[k] for row in rows] for k, label in enumerate(labels)}


def _postprocess_star(path: Path, crossing_A: float) -> Path:
    """A postprocess.star whose corrected curve is the fixture's logistic crossing 0.143 at ``crossing_A``."""
    frequency = np.arange(FSC_BOX // 2 + 1) / (FSC_BOX * FSC_PSIZE)
    middle = 1.0 / crossing_A - 0.02 * np.log(1 / 0.143 - 1)
    fsc = 1.0 / (1.0 + np.exp((frequency - middle) / 0.02))
    frequency[0] = 0.001001
    rows = "".join(f"{k} {s:.6f} {c:.6f} {c:.6f}\n" for k, (s, c) in enumerate(zip(frequency, fsc)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "data_fsc\n\nloop_\n_rlnSpectralIndex #1\n_rlnResolution #2\n_rlnFourierShellCorrelationCorrected #3\n"
        "_rlnFourierShellCorrelationUnmaskedMaps #4\n" + rows
    )
    return path


def _printed_command(stderr: str) -> list[str]:
    """The command under the table that writes job029's set without its duplicates, as a shell would split it."""
    lines = stderr.splitlines()
    said = next(k for k, line in enumerate(lines) if line.startswith(f"To refine {_R29} again"))
    words = shlex.split(lines[said + 1])
    assert words[:2] == ["cryodedup", "particles"]
    return [str(BIN / "cryodedup"), *words[1:]]


#: The states of job030's FSC the redo is tried from: read as written, deleted (run_model.star read: the audit says
#: it passed over it), held at 0.15 past its crossing (it never crosses; without the copies it does: the change a
#: lower bound), 0.9 at every shell (neither crosses: the change not known, the share judges); what the table says.
STATES = {
    "intact": "without its duplicates about",
    "fell back": "read after passing over PostProcess/job030/postprocess.star: not found",
    "lower bound": "at least: the curve as refined stays above 0.143",
    "not known": "stays above 0.143 to its last shell (2.49 Å): the change is not known",
}


def _set_state(root: Path, state: str) -> None:
    post = root / "PostProcess/job030/postprocess.star"
    if state == "fell back":
        post.unlink()
    else:
        lines = post.read_text().splitlines()
        start = next(k for k, line in enumerate(lines) if line.strip() == "data_fsc")
        labels = [line.split()[0] for line in lines[start:] if line.startswith("_rln")]
        column = labels.index("_rlnFourierShellCorrelationCorrected")
        for k in range(start, len(lines)):
            words = lines[k].split()
            if len(words) == len(labels) and not words[0].startswith("_"):
                words[column] = "0.9" if state == "not known" else f"{max(float(words[column]), 0.15):.6f}"
                lines[k] = " ".join(words)
        post.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("state", list(STATES))
def test_redo_run_as_printed_leaves_no_pair_and_its_fsc_audits_clean(tmp_path, state):
    root, predicted, halves = _project(tmp_path)
    _set_state(root, state)
    status, audit, stderr = _audit(root)
    job = {j["job"]: j for j in audit["jobs"]}[_R29]
    assert status == 1 and job["verdict"] == "redo"
    assert STATES[state] in " ".join(stderr.split())
    command = _printed_command(stderr)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    out = Path(command[command.index("-o") + 1])
    kept = _star_rows(out / "particles_kept.star")
    mics = np.unique(kept["_rlnMicrographName"], return_inverse=True)[1]
    x, y = (np.array(kept[f"_rlnCoordinate{a}"], float) * MIC_PSIZE for a in "XY")
    ox, oy = (np.array(kept[f"_rlnOrigin{a}Angst"], float) for a in "XY")
    subset = np.array(kept["_rlnRandomSubset"], int)
    assert all_pairs(mics, np.stack([x - ox, y - oy], axis=1), subset, 50.0) == (0, 0)
    assert len(subset) == sum(halves) - COPIES  # (the copies gone, every original kept)
    # The kept set refined would have the curve without the copies (solved here from the fixture's curve): audited
    # again with it, nothing is shared.
    fsc = _postprocess_star(tmp_path / "after" / "postprocess.star", predicted)
    again = subprocess.run(
        [str(BIN / "cryodedup"), "particles", str(out / "particles_kept.star"), "--audit", "--fsc", str(fsc),
         "--min-dist", "50", "--json", "--micrographs", str(root / "CtfFind/job003/micrographs_ctf.star")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    estimate = summary["halfset_audit"]["fsc"]
    assert summary["halfset_audit"]["straddling_pairs"] == 0 and estimate["shared_fraction"] == 0
    assert abs(1 / estimate["resolution_A"] - 1 / predicted) * FSC_BOX * FSC_PSIZE < 0.05
    assert summary["verdict"]["kind"] != "bad"


def test_negligible_as_the_line_names_it_below_the_change_makes_the_copies_a_redo(tmp_path):
    root, predicted, _ = _project(tmp_path)
    change = (1 / POSTPROCESSED_A["PostProcess/job030"] - 1 / predicted) * FSC_BOX * FSC_PSIZE  # (shells, solved here)
    status, audit, _ = _audit(root, "--negligible", f"{2 * change:.2f}")
    job = {j["job"]: j for j in audit["jobs"]}[_R29]
    assert status == 0 and job["verdict"] == "negligible" and "--negligible sets the change" in job["line"]
    status, audit, _ = _audit(root, "--negligible", f"{change / 2:.2f}")
    job = {j["job"]: j for j in audit["jobs"]}[_R29]
    assert status == 1 and job["verdict"] == "redo"
    assert job["fsc"]["change_shells"] == pytest.approx(change, abs=0.05)


def test_without_an_fsc_negligible_as_the_line_names_it_below_the_share_makes_the_copies_a_redo(tmp_path):
    root, _, halves = _project(tmp_path, fsc=False)
    share = 100 * 2 * COPIES / sum(halves)  # (each copy and its original straddle, % of the rows)
    status, audit, _ = _audit(root, "--negligible", f"{2 * share:.2f}")
    job = {j["job"]: j for j in audit["jobs"]}[_R29]
    assert status == 0 and job["verdict"] == "negligible" and "--negligible sets the share" in job["line"]
    status, audit, _ = _audit(root, "--negligible", f"{share / 2:.2f}")
    assert status == 1 and {j["job"]: j for j in audit["jobs"]}[_R29]["verdict"] == "redo"
