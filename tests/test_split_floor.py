"""benches/split_floor.c, the floor the STAR rows of benches/run_all.py are measured against
(issue 43): it must write what the job writes, or it would time other work."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cryodedup import ParticleOptions, remove_duplicate_particles
from fixtures.synthetic import write_benchmark_file

SOURCE = Path(__file__).resolve().parents[1] / "benches" / "split_floor.c"


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Path:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None or not SOURCE.exists():
        pytest.skip("no C compiler (or no benches/ in this tree)")
    built = tmp_path_factory.mktemp("floor") / "split_floor"
    subprocess.run([compiler, "-O2", "-pthread", "-o", str(built), str(SOURCE)], check=True)
    return built


@pytest.mark.parametrize("way", [[], ["--writev"], ["--copy-range"], ["--mmap"]])
def test_the_split_floor_writes_the_bytes_the_job_writes(tmp_path, program, way):
    star = tmp_path / "p.star"
    write_benchmark_file(star, 3000)
    decided: list = []
    options = ParticleOptions(min_dist=20, score="rlnMaxValueProbDistribution")
    remove_duplicate_particles([star], tmp_path / "job", options, decided=decided)
    keep = np.asarray(decided[0][1].keep, dtype=bool)
    assert 0 < keep.sum() < keep.size
    np.save(tmp_path / "keep.npy", keep)
    kept, rejected = tmp_path / "k.star", tmp_path / "r.star"
    subprocess.run([program, *way, star, tmp_path / "keep.npy", kept, rejected], check=True)
    for floor, job in [(kept, "particles_kept.star"), (rejected, "particles_rejected.star")]:
        # The job ends its outputs with one more line feed after the rows (the loop's end).
        assert (tmp_path / "job" / job).read_bytes() == floor.read_bytes() + b"\n"


def test_a_mask_of_another_length_is_refused(tmp_path, program):
    star = tmp_path / "p.star"
    write_benchmark_file(star, 100)
    np.save(tmp_path / "keep.npy", np.ones(99, dtype=bool))
    command = [program, star, tmp_path / "keep.npy", tmp_path / "k", tmp_path / "r"]
    run = subprocess.run(command, check=False, capture_output=True)
    assert run.returncode == 1
    assert b"holds 100 rows" in run.stderr and b"99 values" in run.stderr
