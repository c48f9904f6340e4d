"""cryodedup.remove_duplicates on data in memory agrees with the file-based job."""

from __future__ import annotations

import numpy as np
import pytest
import starfile
from cryosparc.dataset import Dataset

from cryodedup import remove_duplicates
from cryodedup.synthetic import cs_particles, write_benchmark_file, write_cs


@pytest.fixture
def cs_file(tmp_path):
    write_cs(tmp_path / "p.cs", cs_particles(np.random.default_rng(8), 4000))
    return tmp_path / "p.cs"


def test_structured_array_and_dataset_match_the_files(tmp_path, cs_file):
    kept_paths, _rejected_paths = remove_duplicates(cs_file, tmp_path / "out", min_dist=25.0)
    from_files = np.load(kept_paths[0])
    records = np.load(cs_file)
    kept, rejected = remove_duplicates(records, min_dist=25.0)
    assert np.array_equal(kept, from_files) and len(kept) + len(rejected) == len(records)
    dkept, drejected = remove_duplicates(Dataset(records), min_dist=25.0)
    assert isinstance(dkept, Dataset) and np.array_equal(dkept["uid"], from_files["uid"])
    assert len(drejected) == len(rejected)


def test_starfile_tables_match_the_files(tmp_path):
    path = tmp_path / "p.star"
    write_benchmark_file(path, 3000, per_mic=300, seed=9)
    kept_paths, _ = remove_duplicates([path], tmp_path / "out", score="rlnMaxValueProbDistribution")
    expected = starfile.read(kept_paths[0])["particles"]["rlnImageName"].tolist()
    tables = starfile.read(path)
    kept, rejected = remove_duplicates(tables, score="rlnMaxValueProbDistribution")
    assert kept["particles"]["rlnImageName"].tolist() == expected
    assert kept["optics"] is tables["optics"]
    assert len(kept["particles"]) + len(rejected["particles"]) == len(tables["particles"])
    # A bare particle table needs the micrograph pixel size.
    frame_kept, _ = remove_duplicates(tables["particles"], mic_psize=1.06, score="rlnMaxValueProbDistribution")
    assert frame_kept["rlnImageName"].tolist() == expected


def test_unknown_data_and_missing_outdir():
    with pytest.raises(TypeError, match="cannot remove duplicates from a int"):
        remove_duplicates(3)
    with pytest.raises(ValueError, match="outdir is needed"):
        remove_duplicates("p.star")
