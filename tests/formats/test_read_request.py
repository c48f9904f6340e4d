"""The read request: built once from the job's options, each reader handed only the values it reads."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest

import cryodedup.formats
from cryodedup.formats.copick import read_copick, read_copick_pick_sets
from cryodedup.formats.cryosparc.particles import read_cs_files, read_dataset
from cryodedup.formats.dynamo import read_dynamo_tables
from cryodedup.formats.particles_with_picks import read_particles_with_picks
from cryodedup.formats.picks.particles import read_picker_outputs
from cryodedup.formats.read_request import CopickSelection, ReadRequest, RowRead, Scale, ScoreRead
from cryodedup.formats.star.import_particles import read_import_lists, read_lists_and_particles
from cryodedup.formats.star.particles import read_frame, read_star_files
from cryodedup.options import ParticleOptions
from cryodedup.particle_set import PsizeFrom
from cryodedup.resolve.given_psize import judge_typed_psize
from helpers import read_request

FORMATS = Path(cryodedup.formats.__file__).parent

#: Each reader, and the small values it takes (by their annotations): never the job's options.
READERS = {
    read_star_files: {"Scale", "ScoreRead", "RowRead"},
    read_frame: {"Scale", "ScoreRead", "RowRead"},
    read_cs_files: {"Scale", "ScoreRead", "RowRead"},
    read_dataset: {"Scale", "ScoreRead", "RowRead"},
    read_lists_and_particles: {"Scale", "ScoreRead", "RowRead"},
    read_particles_with_picks: {"Scale", "ScoreRead", "RowRead"},
    read_import_lists: {"Scale", "ScoreRead", "RowRead"},
    read_picker_outputs: {"Scale", "ScoreRead"},
    read_dynamo_tables: {"Scale", "ScoreRead", "RowRead"},
    read_copick: {"CopickSelection", "ScoreRead"},
    read_copick_pick_sets: {"CopickSelection", "ScoreRead"},
}


def test_the_request_takes_each_value_from_its_option():
    # Every option the readers read set apart from its default, and the request written out by hand.
    options = ParticleOptions(
        mic_psize=1.25,
        insist_psize=True,
        micrographs=Path("mics.star"),
        match_micrographs="name",
        project_dir=Path("project"),
        min_dist=0.0,
        shift_key="none",
        topaz_scale=4.0,
        import_scale=2.5,
        import_add=-3.0,
        import_centered=True,
        score="rlnLogLikeliContribution",
        score_order="min",
        score_normalize="rank",
        seed=17,
        prefer=["a.star"],
        max_angle=20.0,
        species_column="rlnClassNumber",
        same_image="ignore",
        copick_objects="ribosome",
        copick_users="alice",
        copick_sessions="1",
        copick_out_user="tool",
        copick_out_session="9",
        output_format="cryosparc",
    )
    expected = ReadRequest(
        Scale(
            1.25,
            True,
            Path("mics.star"),
            "name",
            Path("project"),
            False,
            4.0,
            2.5,
            -3.0,
            True,
            PsizeFrom.GIVEN,
            judge_typed_psize,
        ),
        ScoreRead("rlnLogLikeliContribution", "min", "rank", 17, True),
        RowRead("none", True, "rlnClassNumber", "ignore", True),
        CopickSelection("ribosome", "alice", "1", "tool", "9", frozenset(), 0.0),
        "cryosparc",
    )
    assert read_request(options) == expected


def test_the_request_of_the_defaults():
    request = read_request(ParticleOptions())
    assert request.scale.mic_psize is None and request.scale.micrographs is None
    assert request.scale.pixel_size_decides  # (a minimum distance above 0)
    assert not request.score_read.preferred_first
    assert not request.row_read.orientations and not request.row_read.symmetry_copies
    assert request.row_read.images  # (--same-image warns: the images are read)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.scale.mic_psize = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(("same_image", "read"), [("ignore", False), ("warn", True), ("reject", True)])
def test_images_are_read_unless_ignored(same_image, read):
    assert read_request(ParticleOptions(same_image=same_image)).row_read.images is read


def test_the_audit_asks_for_symmetry_copies_and_orientations_follow_max_angle():
    assert read_request(ParticleOptions(audit=True)).row_read.symmetry_copies
    assert read_request(ParticleOptions(min_dist=0.0)).row_read.symmetry_copies
    assert not read_request(ParticleOptions(min_dist=0.0)).row_read.orientations
    # At --min-dist 0 the pixel size still decides, unless the shifts are left out too.
    assert read_request(ParticleOptions(min_dist=0.0)).scale.pixel_size_decides


@pytest.mark.parametrize("reader", list(READERS), ids=lambda reader: f"{reader.__module__}.{reader.__name__}")
def test_each_reader_takes_only_the_values_it_reads(reader):
    annotations = {str(p.annotation) for p in inspect.signature(reader).parameters.values()}
    small = {"Scale", "ScoreRead", "RowRead", "CopickSelection"}
    assert annotations & small == READERS[reader]
    assert not any("Options" in a or "ReadRequest" in a for a in annotations)


def test_no_format_module_takes_the_options_bag():
    # Only the formats' entrance takes the whole request; no function of a format module takes
    # the job's options (or a shape of them), by annotation or by a parameter named options.
    taking = []
    for path in sorted(FORMATS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for arg in node.args.args + node.args.kwonlyargs:
                annotation = ast.unparse(arg.annotation) if arg.annotation else ""
                whole = "Options" in annotation or "ReadRequest" in annotation
                if whole and not (path.name == "particles.py" and path.parent == FORMATS):
                    taking.append(f"{path.relative_to(FORMATS)}:{node.name}({arg.arg}: {annotation})")
                elif arg.arg == "options" and annotation != "tuple[str, ...]":  # (a RELION job.star's option names)
                    taking.append(f"{path.relative_to(FORMATS)}:{node.name}({arg.arg})")
    assert taking == []
