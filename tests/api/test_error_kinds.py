"""Issue 66 item 4: errors by kind. A caller of the Python API catches each kind of mistake by its
class, without reading the message; each kind is a ``CryodedupError`` (and so a ``ValueError``),
and the command line says the same one line with status 1 as before.

Each case is a real call on a bad input made here, its kind named by hand (the oracle): a STAR
file that breaks the syntax (found by the Rust core), a CryoSPARC file that is no dataset (found
by Python), a typed pixel size the micrographs STAR contradicts, two pickers' picks in two frames,
an output in the way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import cryodedup
from cryodedup import (
    CryodedupError,
    DamagedStoreError,
    FramesError,
    InputFileError,
    OutputError,
    ParticleOptions,
    PixelSizeError,
    remove_duplicate_particles,
)
from cryodedup.cli import main
from fixtures.synthetic import write_mrc
from helpers import write_star

EXAMPLES = Path(cryodedup.__file__).parent / "examples"
PARTICLES = EXAMPLES / "particles_log.star"
MICROGRAPHS = EXAMPLES / "micrographs_ctf.star"
KINDS = [InputFileError, PixelSizeError, FramesError, OutputError, DamagedStoreError]


def _broken_star(tmp: Path) -> Path:
    """A particle STAR whose third row has one field too few: the core's parser refuses it."""
    lines = PARTICLES.read_text().splitlines()
    last_label = max(k for k, line in enumerate(lines) if line.startswith("_rln"))
    rows = [k for k in range(last_label + 1, len(lines)) if lines[k].strip()]
    lines[rows[2]] = " ".join(lines[rows[2]].split()[:-1])
    path = tmp / "broken.star"
    path.write_text("\n".join(lines) + "\n")
    return path


def _topaz_pair(tmp: Path) -> list[Path]:
    """Two pickers' picks of the same particles, b's moved by (64, -128) pixels: two frames."""
    rng = np.random.default_rng(4)
    xy, mics = np.round(rng.uniform(300, 3000, (400, 2)), 3), rng.integers(0, 5, 400)
    paths = [tmp / "a" / "picks.txt", tmp / "b" / "picks.txt"]
    for path, centres in zip(paths, (xy, xy + np.array([64.0, -128.0]))):
        path.parent.mkdir(parents=True)
        rows = [f"mic{m}\t{x:.3f}\t{y:.3f}" for m, (x, y) in zip(mics, centres)]
        path.write_text("\n".join(["image_name\tx_coord\ty_coord", *rows]) + "\n")
    return paths


def test_each_kind_is_a_cryodedup_error_and_a_value_error():
    # Callers that catch CryodedupError (or ValueError) catch every kind, as before.
    for kind in KINDS:
        assert issubclass(kind, CryodedupError) and issubclass(kind, ValueError)
        assert kind.__module__ == "cryodedup.errors"
    assert len(set(KINDS)) == 5 and not any(issubclass(a, b) for a in KINDS for b in KINDS if a is not b)


def test_a_star_file_that_breaks_the_syntax_is_an_input_file_error(tmp_path):
    broken = _broken_star(tmp_path)
    with pytest.raises(InputFileError, match=r"broken\.star: .*line"):
        remove_duplicate_particles([broken], tmp_path / "out", ParticleOptions(min_dist=50, mic_psize=1.06))


def test_a_cryosparc_file_that_is_no_dataset_is_an_input_file_error(tmp_path):
    bad = tmp_path / "particles.cs"
    bad.write_bytes(b"not a dataset at all\n")
    with pytest.raises(InputFileError, match=r"particles\.cs: not a CryoSPARC \.cs file"):
        remove_duplicate_particles([bad], tmp_path / "out", ParticleOptions(min_dist=50))


def test_the_micrograph_jobs_missing_or_unreadable_files_are_input_file_errors(tmp_path):
    with pytest.raises(InputFileError, match="micrograph file not found"):
        cryodedup.find_duplicate_micrographs([tmp_path / "absent.mrc"], tmp_path / "out")
    with pytest.raises(InputFileError, match="no file matches"):
        cryodedup.find_duplicate_micrographs([str(tmp_path / "none_*.mrc")], tmp_path / "out")
    for name in ("a.mrc", "b.mrc"):
        (tmp_path / name).write_bytes(b"no MRC header here")
    with pytest.raises(InputFileError, match="cannot read the MRC file"):
        cryodedup.find_duplicate_micrographs([tmp_path / "a.mrc", tmp_path / "b.mrc"], tmp_path / "out")


def test_a_pixel_size_the_micrographs_contradict_is_a_pixel_size_error(tmp_path):
    options = ParticleOptions(min_dist=50, mic_psize=5.0, micrographs=str(MICROGRAPHS))
    with pytest.raises(PixelSizeError, match="contradicts rlnMicrographPixelSize 1.06"):
        remove_duplicate_particles([PARTICLES], tmp_path / "out", options)
    # Insisted on, it is used: the kind is the contradiction's alone.
    options = ParticleOptions(min_dist=50, mic_psize=5.0, micrographs=str(MICROGRAPHS), insist_psize=True)
    assert remove_duplicate_particles([PARTICLES], tmp_path / "insisted", options).kept > 0


def test_the_micrograph_jobs_psize_the_headers_contradict_is_a_pixel_size_error(tmp_path):
    rng = np.random.default_rng(0)
    paths = [tmp_path / f"m{k}.mrc" for k in range(2)]
    for path in paths:
        write_mrc(path, rng.normal(size=(256, 256)), 1.5)  # 1.5 Å pixels in the headers (1 Å would say none)
    with pytest.raises(PixelSizeError, match="--psize 0.5"):
        cryodedup.find_duplicate_micrographs(paths, tmp_path / "out", cryodedup.MicrographOptions(psize=0.5))


def test_pickers_in_two_frames_are_a_frames_error(tmp_path):
    options = ParticleOptions(min_dist=30, mic_psize=1.0, topaz_scale=1.0)
    with pytest.raises(FramesError, match="two frames"):
        remove_duplicate_particles(_topaz_pair(tmp_path), tmp_path / "out", options)


def test_tomography_inputs_in_two_coordinate_frames_are_a_frames_error(tmp_path):
    # RELION 5's centred Å and a Picks job's corner pixels, without the tomogram sizes that join them.
    centred = ["rlnTomoName", *[f"rlnCenteredCoordinate{a}Angst" for a in "XYZ"]]
    pixels = ["rlnTomoName", *[f"rlnCoordinate{a}" for a in "XYZ"]]
    inputs = [
        write_star(tmp_path / "particles.star", centred, [["t1", 2.0, -98.0, 2.0], ["t2", 502.0, 2.0, -198.0]]),
        write_star(tmp_path / "t_particles.star", pixels, [["t1", 100.0, 70.0, 40.0]], block=""),
    ]
    with pytest.raises(FramesError, match="tomograms.star with --micrographs"):
        remove_duplicate_particles(inputs, tmp_path / "out", ParticleOptions(min_dist=5.0, mic_psize=10.0))


def test_an_output_in_the_way_is_an_output_error(tmp_path):
    options = ParticleOptions(min_dist=50, mic_psize=1.06)
    remove_duplicate_particles([PARTICLES], tmp_path / "out", options)
    with pytest.raises(OutputError, match="already exists; use force=True"):
        remove_duplicate_particles([PARTICLES], tmp_path / "out", options)
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="cannot create the output folder"):
        remove_duplicate_particles([PARTICLES], tmp_path / "file" / "out", options)


def test_the_api_on_data_in_memory_keeps_the_kind():
    # remove_duplicates renames the options in its messages (mic_psize=): the error is raised again, its kind kept.
    starfile = pytest.importorskip("starfile")
    data = starfile.read(PARTICLES, always_dict=True)
    with pytest.raises(PixelSizeError, match="mic_psize"):
        cryodedup.remove_duplicates(data, min_dist=50, mic_psize=5.0, micrographs=str(MICROGRAPHS))


def test_a_damaged_update_store_is_a_damaged_store_error(tmp_path):
    options = ParticleOptions(min_dist=50, mic_psize=1.06, update=True)
    remove_duplicate_particles([PARTICLES], tmp_path / "out", options)
    stores = [p for p in (tmp_path / "out").rglob("*") if p.is_file() and "store" in p.as_posix()]
    assert stores, "an --update round leaves its store"
    for path in stores:
        path.write_bytes(b"\0" * max(path.stat().st_size, 64))
    with pytest.raises(DamagedStoreError, match="store is damaged"):
        remove_duplicate_particles([PARTICLES], tmp_path / "out", options)


def test_the_command_line_says_each_kind_as_before_in_one_line_with_status_1(tmp_path):
    # The message the API raises is the line the command prints, whatever its kind.
    broken, pair = _broken_star(tmp_path), _topaz_pair(tmp_path)
    cases = [
        (InputFileError, [broken], ParticleOptions(min_dist=50, mic_psize=1.06), ["--mic-psize", "1.06"]),
        (
            PixelSizeError,
            [PARTICLES],
            ParticleOptions(min_dist=50, mic_psize=5.0, micrographs=str(MICROGRAPHS)),
            ["--mic-psize", "5", "--micrographs", str(MICROGRAPHS)],
        ),
        (
            FramesError,
            pair,
            ParticleOptions(min_dist=30, mic_psize=1.0, topaz_scale=1.0),
            ["--mic-psize", "1", "--topaz-scale", "1"],
        ),
    ]
    for k, (kind, inputs, options, flags) in enumerate(cases):
        with pytest.raises(kind) as raised:
            remove_duplicate_particles(inputs, tmp_path / f"api{k}", options)
        args = [
            "particles",
            *map(str, inputs),
            "--min-dist",
            f"{options.min_dist:g}",
            *flags,
            "-o",
            str(tmp_path / f"cli{k}"),
        ]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert " ".join(str(raised.value).split()) in " ".join(result.output.split()), result.output
