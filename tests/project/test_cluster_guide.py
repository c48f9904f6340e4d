"""The cluster guide's SLURM scripts (docs/guides/clusters.md) run as printed, as each array task and the merge would.

The array script runs once per task with SLURM's variables set (``SLURM_ARRAY_TASK_ID``,
``SLURM_ARRAY_TASK_COUNT``), in a RELION-like project folder holding the files it names; then the
merge script. Their outputs are checked against a run of each job in one process.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from cryodedup.cli import EXAMPLES
from helpers import write_planted_micrographs

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guides" / "clusters.md"


def slurm_scripts() -> tuple[str, str]:
    """The guide's two batch scripts: the array's (``#SBATCH --array``) and the merge's."""
    blocks = re.findall(r"```bash\n(#!/bin/bash\n.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.S)
    array = [b for b in blocks if "#SBATCH --array" in b and "cryodedup particles " in b]
    merge = [b for b in blocks if "particles-merge" in b and "#SBATCH --array" not in b]
    assert len(array) == len(merge) == 1, blocks
    return array[0], merge[0]


def relion_project(folder: Path) -> None:
    """The files the scripts name: a micrographs STAR of four planted micrographs, two pickers' extractions."""
    (folder / "Extract/job007").mkdir(parents=True)
    (folder / "Extract/job012").mkdir(parents=True)
    shutil.copyfile(EXAMPLES / "particles_log.star", folder / "Extract/job007/particles.star")
    shutil.copyfile(EXAMPLES / "particles_template.star", folder / "Extract/job012/particles.star")
    movies = folder / "MotionCorr/job002/Movies"
    movies.mkdir(parents=True)
    written = write_planted_micrographs(movies, count=8, planted={6: 2})  # (mic_6 images mic_2's area again)
    names = "".join(f"MotionCorr/job002/Movies/{p.name} 1\n" for p in written)
    star = (
        "\ndata_optics\n\nloop_\n_rlnOpticsGroupName #1\n_rlnOpticsGroup #2\n_rlnMicrographPixelSize #3\n"
        "opticsGroup1 1 12.0\n\ndata_micrographs\n\nloop_\n_rlnMicrographName #1\n_rlnOpticsGroup #2\n" + names
    )
    (folder / "CtfFind/job003").mkdir(parents=True)
    (folder / "CtfFind/job003/micrographs_ctf.star").write_text(star)


def bash(script: str, folder: Path, **variables: str) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        ["bash", "-c", script], cwd=folder, env={**env, **variables}, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_slurm_array_and_its_merge_run_as_printed(tmp_path):
    array, merge = slurm_scripts()
    relion_project(tmp_path)
    tasks = re.search(r"#SBATCH --array=1-(\d+)", array)
    assert tasks is not None
    count = tasks.group(1)
    for task in range(1, int(count) + 1):
        bash(array, tmp_path, SLURM_ARRAY_TASK_ID=str(task), SLURM_ARRAY_TASK_COUNT=count)
    bash(merge, tmp_path)
    # The same two jobs in one process each, with the options the scripts give.
    particles = re.search(r"cryodedup particles (.*?) -o Dedup/shards", array.replace("\\\n", " "), flags=re.S)
    assert particles is not None
    bash(f"cryodedup particles {particles.group(1)} -o OneRun --quiet", tmp_path)
    bash("cryodedup micrographs CtfFind/job003/micrographs_ctf.star -o OneRunMics --quiet", tmp_path)
    for merged, one, names in [
        ("Dedup", "OneRun", ["particles_kept.star", "particles_rejected.star", "decisions.csv"]),
        ("DupMics", "OneRunMics", ["pairs.csv", "duplicates.csv"]),
    ]:
        for name in names:
            assert filecmp.cmp(tmp_path / merged / name, tmp_path / one / name, shallow=False), name
    duplicates = (tmp_path / "DupMics" / "duplicates.csv").read_text().splitlines()
    assert duplicates[1:] == ["MotionCorr/job002/Movies/mic_2.mrc,MotionCorr/job002/Movies/mic_6.mrc"]
