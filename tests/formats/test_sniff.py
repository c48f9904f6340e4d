"""formats/sniff.py, the one format detector: which picker wrote a file, by its name and first bytes."""

from __future__ import annotations

import pytest

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.errors import CryodedupError
from cryodedup.formats.sniff import is_picker_output, picker_files
from helpers import write_star


def test_the_format_detector_tells_each_pickers_files(tmp_path):
    (tmp_path / "a.cbox").write_text("data_cryolo\nloop_\n_CoordinateX\n_CoordinateY\n1 2\n")
    (tmp_path / "b.box").write_text("1\t2\t64\t64\n")
    (tmp_path / "t.txt").write_text("image_name\tx_coord\ty_coord\tscore\nm\t1\t2\t0.5\n")
    (tmp_path / "m_autopick.star").write_text("data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 2\n")
    (tmp_path / "p.star").write_text("data_\nloop_\n_rlnMicrographName\n_rlnCoordinateX\nm.mrc 1\n")
    assert picker_files(tmp_path / "a.cbox")[1] == "cryolo-cbox"
    assert picker_files(tmp_path / "b.box")[1] == "eman-box"
    assert picker_files(tmp_path / "t.txt")[1] == "topaz"
    assert picker_files(tmp_path / "m_autopick.star")[1] == "relion"
    with pytest.raises(CryodedupError, match="a particle STAR"):
        picker_files(tmp_path / "p.star")


def test_a_copick_config_is_told_by_its_content(tmp_path):
    from cryodedup.formats.sniff import is_copick_config

    config = tmp_path / "copick_config.json"
    config.write_text('{"config_type": "filesystem", "pickable_objects": [], "overlay_root": "local:///x"}')
    info = tmp_path / "mic_info.json"
    info.write_text('{"boxes": [[10, 20, "manual"]]}')
    assert is_copick_config(config) and not is_picker_output(config)
    assert not is_copick_config(info) and is_picker_output(info)


def test_a_job_folder_of_particles_names_its_particle_star(tmp_path):
    # A RELION Extract job given as a folder: its particles.star is the input the user meant, and
    # its bookkeeping STAR files (job.star, job_pipeline.star) are no coordinate files.
    job = tmp_path / "Extract" / "job007"
    (job / "Movies").mkdir(parents=True)
    (job / "Movies" / "mic_1.mrcs").write_bytes(b"")
    (job / "job.star").write_text("\ndata_job\n\n_rlnJobTypeLabel relion.extract\n")
    (job / "job_pipeline.star").write_text("\ndata_pipeline_general\n\n_rlnPipeLineJobCounter 2\n")
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnImageName"]
    write_star(job / "particles.star", labels, [[10, 10, "mic_1.mrc", "1@Movies/mic_1.mrcs"]])
    message = f"{job}: a folder is read as one picker's per-micrograph coordinate files, and this one holds "
    message += f"particle STAR files: give {job / 'particles.star'} (its STAR files: particles.star)"
    with pytest.raises(CryodedupError) as refused:
        remove_duplicate_particles([job], tmp_path / "out", ParticleOptions(mic_psize=1.0))
    assert str(refused.value) == message
    # Without a particle STAR either: the folder's STAR files are named.
    (job / "particles.star").unlink()
    with pytest.raises(CryodedupError, match=r"no picker output found .*; its STAR files: job\.star, job_pipeline"):
        remove_duplicate_particles([job], tmp_path / "out", ParticleOptions(mic_psize=1.0))
