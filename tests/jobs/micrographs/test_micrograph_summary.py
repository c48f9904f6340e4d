"""The micrograph job's summary, typed (issue 66, item 1): read by name, its document the one main printed."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import typing

import pytest

import cryodedup.cli as cli
import cryodedup.jobs.micrographs.job as job
import cryodedup.jobs.micrographs.pictures as pictures
import cryodedup.jobs.micrographs.write as write
import cryodedup.report.summary as summary_rows
from cryodedup import MicrographOptions, find_duplicate_micrographs
from cryodedup.jobs.micrographs import summary as micrograph_summary
from cryodedup.jobs.micrographs.job import run_plain
from cryodedup.jobs.micrographs.plan import micrograph_plan
from cryodedup.jobs.micrographs.shard_record import ShardSummary
from cryodedup.jobs.micrographs.summary import MicrographSummary
from cryodedup.report.micrograph_sections import (
    Band,
    Margin,
    Metadata,
    MicrographVerdict,
    NullRule,
    ParticleSplit,
    Reading,
    Thresholds,
    WorkerReading,
)
from cryodedup.report.sections import Section
from cryodedup.report.sections.run import Outputs, RunTimings
from helpers import write_planted_micrographs

#: The document's keys of a run without --metadata, --particles or --plot: the keys every job's document
#: opens with (jobs/shape.py, issue 92), then those main (9d4bcae, a dict built key by key) printed, in its order.
MAINS_KEYS = [
    "verdict",
    "outputs",
    "timings",
    "inputs",
    "micrographs",
    "unreadable",
    "order",
    "root",
    "pixel_size_A",
    "bin",
    "binned_pixel_size_A",
    "band_A",
    "candidates",
    "reach",
    "pairs_scored",
    "duplicate_pairs",
    "kept",
    "rejected",
    "shards",
    "workers",
    "warnings",
    "images_read",
    "confirmed_by_images",
    "thresholds",
    "uncertain_pairs",
    "margin",
    "reconsidered",
]

#: Keys whose values are times or a host: not compared between two runs.
VOLATILE = {"timings", "workers"}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    # mic_6 re-exposes mic_4, mic_9 mic_3 (helpers.PLANTED_MICROGRAPHS, below 12).
    return write_planted_micrographs(tmp_path_factory.mktemp("planted"), count=12)


def test_the_job_returns_a_frozen_summary_read_by_name(planted, tmp_path):
    summary = run_plain(planted, tmp_path / "typed", micrograph_plan(MicrographOptions(bin=1)))
    assert isinstance(summary, MicrographSummary)
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.kept = 0  # type: ignore[misc]
    # The planted re-exposures (the oracle: the set as written), and the counts adding up.
    assert (summary.micrographs, summary.rejected, summary.kept) == (12, 2, 10)
    assert summary.timings is not None and summary.timings.seconds >= 0
    assert summary.judged.trusted and summary.judged.line.startswith(
        "2 duplicate micrographs (2 pairs) among 12; kept 10 -> "
    )


def test_the_document_is_the_one_main_printed(planted, tmp_path):
    summary = run_plain(planted, tmp_path / "typed", micrograph_plan(MicrographOptions(bin=1)))
    document = summary.to_json()
    assert list(document) == MAINS_KEYS
    # The Python API returns the summary typed; its document is the same run's (a dict, its lists lists).
    typed = find_duplicate_micrographs(planted, tmp_path / "api", MicrographOptions(bin=1))
    assert isinstance(typed, MicrographSummary) and typed.rejected == summary.rejected == 2
    api = typed.to_json()
    assert isinstance(api, dict) and list(api) == MAINS_KEYS
    mine = {k: v for k, v in document.items() if k not in VOLATILE | {"outputs", "verdict"}}
    theirs = {k: v for k, v in api.items() if k not in VOLATILE | {"outputs", "verdict"}}
    assert mine == theirs
    assert isinstance(api["inputs"], list) and isinstance(api["outputs"], dict)
    # The files by subset (the oracle: the names the job writes, by hand); the timings by stage, then the job's.
    out = tmp_path / "api"
    assert api["outputs"] == {
        "pairs": [str(out / "pairs.csv")],
        "duplicates": [str(out / "duplicates.csv")],
        "kept": [str(out / "micrographs_kept.txt")],
        "rejected": [str(out / "micrographs_rejected.txt")],
    }
    assert list(api["timings"]) == [
        "read",
        "decide",
        "write",
        "summarise",
        "report",
        "seconds",
        "scoring_seconds",
        "images_per_second",
    ]
    assert api["timings"]["images_per_second"] > 0 and api["timings"]["scoring_seconds"] <= api["timings"]["decide"]
    assert list(api["verdict"]) == ["word", "kind", "line", "why", "trusted", "check"]
    assert (api["verdict"]["word"], api["verdict"]["kind"], api["verdict"]["trusted"]) == ("TRUSTED", "good", True)


def test_optional_parts_are_left_out_when_the_run_has_none():
    # A hand-made summary: no --metadata, --particles, --plot, no time yet (the report while the job runs).
    document = MicrographSummary(micrographs=3, kept=3).to_json()
    for left_out in ("pixel_size_insisted", "reconsidered", "metadata", "particles", "plots", "seconds", "timing"):
        assert left_out not in document
    assert document["root"] is None  # (every document has it, null or not)
    assert document["timings"] is None and document["outputs"] == {}
    assert list(document)[:6] == ["verdict", "outputs", "timings", "inputs", "micrographs", "unreadable"]


def test_the_decisions_sections_give_the_pieces_main_printed():
    # Hand-made, against the dicts main built (group.Decision.summary, write.write_results).
    by_distance = NullRule("distance", radius_um=0.325)
    assert Thresholds(by_distance, distance_um=0.325).to_json() == {
        "distance_um": 0.325,
        "z_from": {"rule": "distance", "radius_um": 0.325},
    }
    null = NullRule("null median + 8 robust SD", median=4.51, robust_sd=0.211)
    lifted = Thresholds(null, 6.2, 0.15, 9.3).to_json()
    assert list(lifted) == ["z", "pearson", "z_from", "z_far"] and list(lifted["z_from"]) == [
        "rule",
        "median",
        "robust_sd",
    ]
    assert Thresholds(null, 6.2, 0.15).rule == (
        "z >= 6.2, Pearson >= 0.15; z threshold: null median + 8 robust SD; null median 4.51, robust SD 0.211"
    )
    # The margin's document holds its three numbers and whether its strongest other pair is left to
    # check (the others and the radius are for its words).
    assert Margin(2.5, None, None, others=3, radius_um=None).to_json() == {
        "weakest_duplicate": 2.5,
        "strongest_other": None,
        "ratio": None,
        "strongest_other_uncertain": False,
    }
    assert MicrographVerdict.judged(False, "why").to_json() == {
        "word": "NOT TRUSTED",
        "kind": "bad",
        "line": "",  # (the line once made)
        "why": "why",
        "trusted": False,
        "check": 0,
    }
    assert MicrographVerdict.judged(False, "why").rows("micrograph") == [("Verdict", "NOT TRUSTED: why")]
    # Pairs left to check: not TRUSTED in the document (a user read "trusted": true beside "check 3 pairs").
    check = MicrographVerdict.judged(True, check=3)
    assert (check.word, check.kind, check.to_json()["trusted"], check.trusted) == ("check 3 pairs", "warn", False, True)
    # A trusted verdict whose line names warnings to check is a warning's kind; a bad one stays bad.
    assert MicrographVerdict.judged(True).with_line("l", checks=True).kind == "warn"
    assert MicrographVerdict.judged(True).with_line("l", checks=False).kind == "good"
    assert MicrographVerdict.judged(False, "w").with_line("l", checks=True).kind == "bad"


def test_the_band_the_reading_and_the_particles_give_the_pieces_main_printed():
    assert Band(48.0, 300.0).to_json() == {"lowpass": 48.0, "highpass": 300.0}
    assert Band(48.0, 300.0).rows("micrograph") == [("Band", "300 Å to 48 Å")]
    one = WorkerReading("vm:1", (1,), 14, 3.1, 0.05, 62.0)
    assert Reading((one,)).to_json() == [
        {
            "worker": "vm:1",
            "shards": [1],
            "images_read": 14,
            "megabytes_read": 3.1,
            "read_seconds": 0.05,
            "read_MB_per_s": 62.0,
        }
    ]
    # A run in one process is not named; shards run by two workers are.
    assert Reading((one,)).rows("micrograph") == [("Read", "14 images, 3.1 MB, 62.0 MB/s read and binned")]
    two = Reading((one, WorkerReading("vm:2", (2, 3), 7, 1.6, 0.0, None)))
    assert two.rows("micrograph")[0][1] == (
        "vm:1 (shard 1): 14 images, 3.1 MB, 62.0 MB/s read and binned\nvm:2 (shards 2, 3): 7 images, 1.6 MB"
    )
    split = ParticleSplit(10, 4, 0, {"mode": "auto", "used": "CryoSPARC uid"})
    assert list(split.to_json()) == [
        "on_kept_micrographs",
        "on_rejected_micrographs",
        "on_micrographs_not_in_input",
        "micrograph_matching",
    ]
    assert split.rows("micrograph") == [
        ("Particles", "10 on kept, 4 on rejected micrographs"),
        ("Micrograph matching", "CryoSPARC uid"),
    ]


def test_the_metadata_gives_the_piece_main_printed():
    revisits = {"revisited_holes": [], "exposed_again": []}
    crowded = Metadata(2, 9, 8, 0, 1, 0.0123, "given", 0.65, "given (--beam-diameter)", 1, revisits, 3, 8)
    # main: the counts, then the revisits' keys, then the crowding when any micrograph was crowded.
    assert list(crowded.to_json()) == [
        "files",
        "acquisitions",
        "micrographs_matched",
        "micrographs_unmatched",
        "acquisitions_unmatched",
        "shift_calibration_um_per_unit",
        "shift_calibration",
        "beam_diameter_um",
        "beam_diameter",
        "grid_squares",
        "revisited_holes",
        "exposed_again",
        "crowded_micrographs",
        "most_neighbours",
    ]
    assert "crowded_micrographs" not in dataclasses.replace(crowded, crowded_micrographs=0).to_json()
    assert crowded.rows("micrograph")[0] == (
        "Metadata",
        "9 acquisitions in 2 files; 8 micrographs matched, 0 unmatched; 1 acquisitions without a micrograph; "
        "1 grid square(s)",
    )


def test_each_section_is_frozen_and_held_by_the_summary_field_of_its_key():
    hints = typing.get_type_hints(MicrographSummary)  # (each class's own module: JobSummary's fields too)
    held = {name: hint for name, hint in hints.items() if any(_sections_in(hint))}
    sections = {"band_A", "workers", "thresholds", "margin", "verdict", "metadata", "particles"}
    assert set(held) == sections | {"outputs", "timings"}
    for name, hint in held.items():
        (kind,) = _sections_in(hint)
        assert kind.key == name and kind.__dataclass_params__.frozen  # type: ignore[attr-defined]


def _sections_in(hint: object) -> list[type[Section]]:
    """The Section classes a type hint names (``Metadata | None``: Metadata)."""
    kinds = typing.get_args(hint) or (hint,)
    return [k for k in kinds if isinstance(k, type) and issubclass(k, Section)]


#: Where the micrograph summary is read: the rows, the verdict line, the pictures, the command line.
READERS = [
    micrograph_summary.micrograph_rows,
    summary_rows.micrograph_time,
    micrograph_summary.margin_rows,
    write.verdict_line,
    write.write_results,
    job.MicrographStages.summarise,
    job.MicrographStages.report,
    pictures.plot,
    pictures._pair_cells,
    pictures.uncertain_table,
    cli.micrographs,
    cli.micrographs_merge,
]


def test_the_summary_is_read_by_name_not_by_string_key():
    # On main every reader took a dict: 139 string-key reads in these functions and their helpers.
    for reader in READERS:
        source = inspect.getsource(inspect.unwrap(getattr(reader, "callback", reader)))
        read = []
        for node in ast.walk(ast.parse(source.lstrip())):
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                base = ast.unparse(node.value)
                read.append(f"{base}[{node.slice.value!r}]")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
                read += [f"get({a.value!r})" for a in node.args[:1] if isinstance(a, ast.Constant)]
        assert not read, f"{getattr(reader, 'name', None) or reader.__name__} reads the summary by key: {read}"


def test_a_shards_summary_gives_the_document_and_the_table_main_printed():
    shard = ShardSummary(
        shard=2, shards=3, folder="out/shard-2-of-3", already_complete=False, micrographs=40, pairs_scored=104,
        worker="vm:7", images_read=21, megabytes_read=4.7, read_MB_per_s=50.0, timings=RunTimings(0.31),
        outputs=Outputs.of({"pairs": ["out/shard-2-of-3/pairs.npz"], "marker": ["out/shard-2-of-3/shard.json"]}),
    )  # fmt: skip
    assert list(shard.to_json()) == [
        "verdict",
        "outputs",
        "timings",
        "shard",
        "shards",
        "folder",
        "already_complete",
        "micrographs",
        "pairs_scored",
        "worker",
        "images_read",
        "megabytes_read",
        "read_MB_per_s",
    ]
    assert shard.to_json()["verdict"] is None and shard.to_json()["timings"] == {"seconds": 0.31}
    assert shard.rows() == [
        ("Shard", "2 of 3 (scored)"),
        ("Folder", "out/shard-2-of-3"),
        ("Micrographs", "40"),
        ("Pairs scored", "104"),
        ("Read", "21 images, 4.7 MB, 50.0 MB/s read and binned"),
        ("Time", "0.31 s"),
    ]
