"""The summary's typed sections: the registry's invariants, each section's document piece, and the report
reading them by type (issue 66, item 1)."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import cryodedup.report.sections.readers as readers_module
import cryodedup.report.summary as summary_module
from cryodedup import ParticleOptions
from cryodedup.algo.audit import PAIRS_COUNTED
from cryodedup.algo.consensus import Agreement, InputFates
from cryodedup.algo.density import Density, DensityCohort, DensityOutlier
from cryodedup.algo.filaments import RULES
from cryodedup.cli import main
from cryodedup.jobs.particles.job import run as run_job
from cryodedup.jobs.particles.plan import plan
from cryodedup.jobs.particles.read import Files
from cryodedup.jobs.particles.summary import ParticleSummary
from cryodedup.report import analysis_rows, sections
from cryodedup.report.sections import (
    SECTIONS,
    Consensus,
    CrossSpecies,
    DuplicateDensity,
    Filaments,
    HalfsetAudit,
    HalfsetsByMicrograph,
    InputCounts,
    Inputs,
    MovedInput,
    MovedInputs,
    NameCollisions,
    Outputs,
    ParticleTimings,
    Priority,
    SameImage,
    Score,
    Section,
    Sections,
    Shift,
    Species,
    SpeciesCounts,
    StraddlingMicrograph,
    SymmetryCopies,
    UpdateRound,
)
from cryodedup.report.sections.readers import CopickProject, ReadersFound
from cryodedup.report.sections.run import Overview
from cryodedup.report.summary import output_rows, particle_rows, particle_time, report_rows
from helpers import overview_of, write_star


def _registered() -> list[type[Section]]:
    """The registry's classes (:data:`SECTIONS` names them, each with its module)."""
    return [getattr(sections, name) for name, _ in SECTIONS]


#: The summary's sections a runner attaches (``jobs/particles/update.py``: the round's), typed as any section.
ATTACHED_BY_RUNNERS = {"update"}


def test_every_registered_section_is_a_frozen_dataclass_held_by_the_summary_field_of_its_key():
    keys = [kind.key for kind in _registered()]
    assert len(set(keys)) == len(keys)
    summary_fields = {f.name: f for f in dataclasses.fields(ParticleSummary)}
    for kind in _registered():
        assert issubclass(kind, Section) and dataclasses.is_dataclass(kind)
        assert kind.__dataclass_params__.frozen, kind  # type: ignore[attr-defined]
        assert kind.key in summary_fields, f"{kind.__name__}: no summary field {kind.key!r}"
        held = summary_fields[kind.key]
        # (a section a runner attaches, as an --update round its own, is typed as any section: issue 92)
        typed = kind.__name__ if kind.key not in ATTACHED_BY_RUNNERS else "Section | None"
        assert held.default is None and typed in str(held.type), f"{kind.key}: typed {held.type}"


def string_key_reads(module, leaving_out: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Each ``x["key"]`` and ``x.get("key")`` in ``module``'s source, as (where, key): by its AST, where the
    top-level function it stands in (``<module>`` outside one); the functions ``leaving_out`` names left out."""
    tree = ast.parse(Path(module.__file__ or "").read_text())
    reads = []
    for top in tree.body:
        where = top.name if isinstance(top, ast.FunctionDef | ast.ClassDef) else "<module>"
        if where in leaving_out:
            continue
        for node in ast.walk(top):
            key = None
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                key = node.slice.value
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
                key = next((a.value for a in node.args[:1] if isinstance(a, ast.Constant)), None)
            if isinstance(key, str):
                reads.append((where, key))
    return reads


def test_the_report_reads_no_string_key_of_a_section():
    """The rows of a converted analysis come from its section, never from the document by key."""
    section_keys = {kind.key for kind in _registered()}
    # Another document's keys of the same names: the micrograph job's files.
    for module in (summary_module, analysis_rows):
        read = {key for _, key in string_key_reads(module, frozenset({"micrograph_rows"}))}
        assert not read & section_keys, f"{module.__name__} reads {sorted(read & section_keys)}"


def test_the_particle_report_reads_no_string_key_at_all():
    """The run's counts, the pixel sizes, the readers' keys and the copick project are typed too: the particle
    job's rows read no key of a dict (baaea94 read 72 in summary.py's particle functions, 12 in analysis_rows.py;
    compare's are typed in report/comparison.py, tests/report/test_comparison.py)."""
    assert string_key_reads(summary_module) == []
    assert string_key_reads(analysis_rows) == []
    # The walk sees them: the readers' dict is read by key once, where it is typed.
    assert ("ReadersFound", "micrograph_matching") in string_key_reads(readers_module)


UPDATE = UpdateRound(
    round=2,
    running_file="out/particles_kept.star",
    store="out/.cryodedup",
    kept_before=10,
    kept_before_on_these_micrographs=4,
    running_kept=15,
    rejected_by_kept=3,
    would_have_won=1,
    message="round 2: ...",
)


def test_each_section_gives_the_document_piece_main_printed():
    # The pieces as the dicts of main (before the sections) printed them, written out by hand.
    tubes = Filaments("rlnHelicalTubeID", 3, "tube", RULES["tube"])
    assert json.dumps(tubes.to_json()) == json.dumps(
        {"column": "rlnHelicalTubeID", "tubes": 3, "mode": "tube", "rule": RULES["tube"]}
    )
    moved = MovedInputs((MovedInput("b.star", "shift:1,2", "nothing written"),))
    assert moved.to_json() == [{"input": "b.star", "transform": "shift:1,2", "written": "nothing written"}]
    assert list(UPDATE.to_json()) == [
        "round",
        "running_file",
        "store",
        "kept_before",
        "kept_before_on_these_micrographs",
        "running_kept",
        "rejected_by_kept",
        "would_have_won",
        "message",
    ]
    document = ParticleSummary(update=UPDATE, filaments=tubes, transforms=moved).to_json()
    assert document["update"]["running_kept"] == 15 and document["transforms"][0]["input"] == "b.star"
    with pytest.raises(dataclasses.FrozenInstanceError):
        UPDATE.round = 3  # type: ignore[misc]


def test_the_same_image_section_says_what_mains_dict_said():
    # Nothing kept twice, --same-image warn: four keys, no row.
    none = SameImage("rlnImageName", "warn")
    assert none.to_json() == {"column": "rlnImageName", "mode": "warn", "images_kept_twice": 0, "rows": 0}
    assert none.message is None and none.rows("micrograph") == []
    # Two images kept twice, one named: the message as main's algo.same_image worded it.
    twice = SameImage("rlnImageName", "warn", 2, 4, named=("1@a.mrcs",))
    message = (
        "2 images kept twice (4 rows of one rlnImageName at different centres, as joined selections refined apart "
        "leave them): 1@a.mrcs and 1 more; --same-image reject keeps the best of each"
    )
    assert json.dumps(twice.to_json()) == json.dumps(
        {
            "column": "rlnImageName",
            "mode": "warn",
            "images_kept_twice": 2,
            "rows": 4,
            "named": ["1@a.mrcs"],
            "message": message,
        }
    )
    assert twice.rows("micrograph") == [("Same image twice", message)]
    # A cause known (colliding particle names): said in the message, and as its own key before it.
    caused = SameImage("rlnImageName", "warn", 1, 2, named=("1@a.mrcs",), cause="names collide")
    assert list(caused.to_json())[-2:] == ["cause", "message"]
    assert caused.message == (
        "1 image kept twice (2 rows of one rlnImageName at different centres, names collide): 1@a.mrcs; "
        "--same-image reject keeps the best of each"
    )
    # --same-image reject: the rows it removed, after the rows.
    rejected = SameImage("rlnImageName", "reject", rows_rejected=1)
    assert list(rejected.to_json()) == ["column", "mode", "images_kept_twice", "rows", "rows_rejected"]
    assert rejected.rows("micrograph")[0][1].startswith("1 row rejected as the same rlnImageName as a kept row")


def test_the_half_sets_and_symmetry_copies_say_what_mains_dicts_said():
    halves = HalfsetsByMicrograph("rlnRandomSubset", (120, 118), 31, ("1", "2"))
    message = (
        "rlnRandomSubset of the kept particles reassigned per micrograph: 120 in half 1, 118 in half 2 "
        "(no micrograph split; the largest holds 31)"
    )
    assert json.dumps(halves.to_json()) == json.dumps(
        {
            "column": "rlnRandomSubset",
            "rule": "micrograph",
            "sizes": [120, 118],
            "largest_micrograph": 31,
            "message": message,
        }
    )
    assert halves.rows("micrograph") == [("Half-sets", message)]
    copies = SymmetryCopies("rlnImageName", 100, 400, ((1, 1_200), (4, 3)))  # (not a real run: the thousands said)
    assert json.dumps(copies.to_json()) == json.dumps(
        {"column": "rlnImageName", "sources": 100, "copies_in": 400, "sources_by_copies_kept": {"1": 1200, "4": 3}}
    )
    assert copies.to_json()["sources_by_copies_kept"] == {1: 1200, 4: 3}  # (int keys, as the API gave them)
    assert copies.rows("micrograph") == [
        ("Symmetry copies", "400 copies of 100 particles; 1,200 with 1 kept, 3 with 4 kept")
    ]


def test_the_name_collisions_say_what_mains_dict_said():
    found = NameCollisions("rlnTomoParticleName", 7, 14, ("TS_01/1", "TS_01/2"), ("a.star", "b.star"), False)
    message = (
        "7 rlnTomoParticleName values kept for different particles of different inputs (TS_01/1, TS_01/2 and 5 more; "
        "e.g. in a.star and b.star): RELION's extraction names each subtomogram's files by it and writes both "
        "particles to one file (RELION issue 1069); renumber one input's rlnTomoParticleName before extracting the "
        "joined set"
    )
    assert list(found.to_json()) == ["column", "names", "rows", "named", "example_inputs", "message", "extracted"]
    assert found.to_json()["rows"] == 14 and found.to_json()["message"] == message
    assert found.rows("tomogram") == [("Particle names", message)]
    assert dataclasses.replace(found, extracted=True).rows("tomogram") == []  # (the image kept twice says it)


def test_the_priority_says_what_mains_dict_and_row_said():
    inputs = ("x/a.star", "x/b.star", "x/c.star")
    decided = Priority(
        ("x/b.star", "the other inputs"), inputs, None, 5, 3, (("x/b.star", 2), ("the other inputs", 1)), 1
    )
    assert json.dumps(decided.to_json()) == json.dumps(
        {
            "order": ["x/b.star", "the other inputs"],
            "groups": 5,
            "by_priority": 3,
            "by_score": 2,
            "won_by": {"x/b.star": 2, "the other inputs": 1},
            "against_score": 1,
        }
    )
    # Each input by its label (a.star, b.star: the common folder dropped), a name no input is as it is.
    assert decided.rows("micrograph") == [
        (
            "Priority",
            "b.star > the other inputs\n5 groups of duplicates: 3 decided by priority (2 by b.star, 1 by the other "
            "inputs; 1 that the score would have given to another pick), 2 by score",
        )
    ]
    entirely = Priority(("x/b.star", "the other inputs"), inputs, (("x/b.star", 4), ("the other inputs", 1_500)))
    assert entirely.to_json() == {
        "order": ["x/b.star", "the other inputs"],
        "applied": False,
        "removed": {"x/b.star": 4, "the other inputs": 1500},
    }
    assert entirely.rows("micrograph")[0][1].endswith(
        "preferred or not (removed: 4 of b.star, 1,500 of the other inputs)"
    )


def test_the_score_says_what_mains_dict_and_row_said():
    plain = Score("rlnAutopickFigureOfMerit", "max")
    assert plain.to_json() == {"column": "rlnAutopickFigureOfMerit", "order": "max"}
    assert plain.rows("micrograph") == [("Score", "rlnAutopickFigureOfMerit (max first)")]
    tied = Score(None, "random (seed 0)", without_score=1_234, ties_by_input_order=1)
    assert list(tied.to_json()) == ["column", "order", "without_score", "ties"]
    assert tied.to_json()["ties"] == {
        "groups": 1,
        "decided_by": "input order",
        "message": "1 group tied on the score: decided by input order; --prefer chooses",
    }
    assert tied.rows("micrograph") == [
        (
            "Score",
            "random (seed 0)\n1,234 picks without a score: ranked last\n"
            "1 group tied on the score: decided by input order; --prefer chooses",
        )
    ]


def test_the_summary_hands_its_sections_to_the_report_found_by_type():
    summary = ParticleSummary(update=UPDATE, filaments=Filaments("tube", 1, "segment", "a rule"))
    held = summary.sections()
    assert held.of(UpdateRound) is UPDATE and held.of(MovedInputs) is None
    assert held.rows(Filaments) == [("Filaments", "1 tube (tube), mode segment: a rule")]
    assert held.rows(MovedInputs) == []


class _Toy(Section):
    """A toy section: what a new analysis adds (its key is no summary field: the registry is not touched)."""

    key = "toy"

    def rows(self, unit: str) -> list[tuple[str, str]]:
        return [("Toy", f"one {unit}")]


def test_a_new_section_is_found_by_its_type_and_says_its_unit():
    toy = _Toy()
    held = Sections((toy, UPDATE))
    assert held.of(_Toy) is toy and held.rows(_Toy, "tomogram") == [("Toy", "one tomogram")]
    assert held.of(Filaments) is None
    assert sections.__all__ == sorted(sections.__all__, key=lambda n: (not n.isupper(), n))


HELICAL = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnAutopickFigureOfMerit", "rlnHelicalTubeID"]


def test_a_filament_run_says_its_tubes_from_the_section_and_prints_the_same_document(tmp_path):
    # Two tubes on one micrograph, 3 segments each, 100 Å apart: both kept, the row counts 2 tubes.
    rows = [[100.0 + 20 * k, 100.0 + 100 * t, "m.mrc", 1.0, float(t + 1)] for t in range(2) for k in range(3)]
    path = write_star(tmp_path / "p.star", HELICAL, rows)
    args = ["particles", str(path), "--min-dist", "30", "--mic-psize", "1", "--filament-mode", "tube"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    assert "2 tubes (rlnHelicalTubeID), mode tube" in result.output  # (the terminal's table: the section's row)
    document = json.loads(result.output[result.output.index("\n{") :])
    assert document["filaments"] == {"column": "rlnHelicalTubeID", "tubes": 2, "mode": "tube", "rule": RULES["tube"]}
    # The document alone no longer carries the rows: they come from the section.
    assert "Filaments" not in dict(particle_rows(overview_of(document), Sections()))
    held = Sections((Filaments("rlnHelicalTubeID", 2, "tube", RULES["tube"]),))
    assert dict(particle_rows(overview_of(document), held))["Filaments"].startswith(
        "2 tubes (rlnHelicalTubeID), mode tube: "
    )


def test_the_half_set_audit_says_what_mains_dict_and_rows_said():
    # 3 pairs within 10 Å, 2 straddling, 4 of 16 particles in them; of 2 pairs of one image, 1 straddles.
    top = (StraddlingMicrograph("a/m1.mrc", 2, 9),)
    audit = HalfsetAudit("rlnRandomSubset", "within 10 Å", 3, 2, 4, 0.25, 1, top, (2, 1))
    message = (
        "2 duplicate pairs within 10 Å straddle the half-sets (25.0 % of particles): the FSC of a refinement on this "
        "input may be inflated; refine the kept set; 1 pair of rows of one particle image (at different centres) "
        "straddles the half-sets: the same image in both halves"
    )
    assert json.dumps(audit.to_json()) == json.dumps(
        {
            "column": "rlnRandomSubset",
            "duplicate_pairs": 3,
            "straddling_pairs": 2,
            "within_half_pairs": 1,
            "pairs_counted": PAIRS_COUNTED,  # (every two rows of a group: fscgroups, issue 97)
            "particles_straddling": 4,
            "fraction": 0.25,
            "micrographs_with_straddling": 1,
            "top_micrographs": [{"micrograph": "a/m1.mrc", "straddling_pairs": 2, "particles": 9}],
            "message": message,
            "same_image_pairs": 2,
            "same_image_straddling": 1,
        }
    )
    assert audit.rows("tomogram") == [
        ("Half-set audit", message),
        ("  Duplicate pairs", "3: 2 across the half-sets, 1 within one (rlnRandomSubset)"),
        ("  Same image twice", "2 pairs of rows of one image at different centres: 1 across the half-sets"),
        ("  Most straddling (1 tomogram)", "a/m1.mrc: 2 (of 9 particles)"),
    ]
    assert audit.straddles and audit.micrographs_listed() == ("a/m1.mrc",)
    one = HalfsetAudit("split", "at the same centre (within 0.5 Å)", 1, 1, 2, 1 / 3)
    assert one.message.startswith("1 duplicate pair at the same centre (within 0.5 Å) straddles the half-sets (33.3 %")
    assert one.to_json()["fraction"] == 0.333333 and "same_image_pairs" not in one.to_json()
    none = HalfsetAudit("split", "within 5 Å", 4)
    assert none.message == "no duplicate pairs within 5 Å straddle the half-sets" and not none.straddles
    assert [label for label, _ in none.rows("micrograph")] == ["Half-set audit", "  Duplicate pairs"]
    # --audit on particles without half-sets: the column null and the message, one row.
    absent = HalfsetAudit(None)
    assert list(absent.to_json()) == ["column", "message"] and absent.to_json()["column"] is None
    assert absent.rows("micrograph") == [("Half-set audit", absent.message)] and "nothing to audit" in absent.message


def test_the_report_names_a_sections_micrographs_for_reading_and_colours_the_audit():
    long = "MotionCorr/job002/Movies/GridSquare_1/Data/" + "x" * 90 + "_fractions.mrc"
    audit = HalfsetAudit("rlnRandomSubset", "within 10 Å", 1, 1, 2, 0.5, 1, (StraddlingMicrograph(long, 1, 2),))
    run = Overview(4, 3, 1, 1, mode="keep best of each group", min_dist_A=10.0, seconds=0.01)
    rows, highlight = report_rows(run, Sections((audit,)))
    shown = dict(rows)["  Most straddling (1 micrograph)"]
    assert shown == "…" + long[-79:] + ": 1 (of 2 particles)"
    assert highlight["Half-set audit"] == "bad"
    assert audit.top_micrographs[0].micrograph == long  # (the summary's own section stays whole)


def test_the_duplicate_density_says_what_mains_dict_and_row_said():
    # Two sets of inputs' micrographs (19 of one picker, 5 of both), one outlier above its set's threshold.
    found = Density(
        "a rule",
        0.05,
        0.0148,
        0.15,
        24,
        (DensityOutlier("m/mic_10.mrc", 50, 40, 0.8, 0.15),),
        (DensityCohort(19, 0.05, 0.0148, 0.15, ("t.star",)), DensityCohort(5, 0.3, 0.02, 0.4, ("l.star", "t.star"))),
    )
    density = DuplicateDensity(found)
    assert json.dumps(density.to_json()) == json.dumps(
        {
            "rule": "a rule",
            "median": 0.05,
            "robust_sd": 0.0148,
            "threshold": 0.15,
            "cohorts": [
                {"micrographs": 19, "median": 0.05, "robust_sd": 0.0148, "threshold": 0.15, "inputs": ["t.star"]},
                {"micrographs": 5, "median": 0.3, "robust_sd": 0.02, "threshold": 0.4, "inputs": ["l.star", "t.star"]},
            ],
            "micrographs_with_picks": 24,
            "outliers": [
                {"micrograph": "m/mic_10.mrc", "picks": 50, "duplicates": 40, "fraction": 0.8, "threshold": 0.15}
            ],
        }
    )
    ((label, text),) = density.rows("tomogram")
    assert label == "Duplicate outliers" and text.split("\n") == [
        "1 of 24 tomograms with a duplicate fraction far above that of the tomograms with the same inputs: a picker "
        "stacking picks there? look at them",
        "(median + max(3.5 robust SD, 0.1) of each set of inputs' tomograms; at least 5 duplicates)",
        "m/mic_10.mrc: 80% (40 of 50 picks; above 0.15)",
    ]
    one_set = DuplicateDensity(dataclasses.replace(found, cohorts=None, outliers=(DensityOutlier("a", 10, 9, 0.9),)))
    assert list(one_set.to_json()) == ["rule", "median", "robust_sd", "threshold", "micrographs_with_picks", "outliers"]
    assert one_set.to_json()["outliers"] == [{"micrograph": "a", "picks": 10, "duplicates": 9, "fraction": 0.9}]
    assert one_set.rows("micrograph")[0][1].split("\n")[1:] == [
        "(median 0.05 + max(3.5 robust SD 0.015, 0.1); at least 5 duplicates)",
        "a: 90% (9 of 10 picks)",
    ]
    assert density.with_micrographs_named({"m/mic_10.mrc": "mic_10.mrc"}).micrographs_listed() == ("mic_10.mrc",)


def _fates(file, micrographs, picks, fates, confirmed):
    return InputFates(file, micrographs, picks, *fates, confirmed)


def test_the_consensus_says_what_mains_dict_and_rows_said():
    # --min-support 2 of 2 inputs; b ran on 2 of 3 micrographs: 10 picks of a, 8 confirmed (8 kept),
    # 1 on the micrograph b did not run on (not confirmable, kept), 1 rejected unconfirmed.
    per_input = (
        _fates("x/a.star", 3, 10, (8, 0, 1, 0, 1, 0), 8),
        _fates("x/b.star", 2, 9, (8, 0, 0, 1, 0, 0), 9),
    )
    found = Agreement(
        2, 3, "keep", "auto", {"m3": ["x/b.star"]}, 1, per_input, [[None, 0.8], [0.8, None]], (),
        {"m1": [[None, 0.8], [0.8, None]]}, (("m1", 0.8),),
    )  # fmt: skip
    consensus = Consensus(found)
    assert consensus.asked and consensus.low_agreement is None
    document = consensus.to_json()
    assert list(document) == [
        "min_support",
        "micrographs",
        "uncovered",
        "coverage",
        "not_covered",
        "micrographs_not_confirmable",
        "per_input",
        "jaccard",
        "jaccard_per_micrograph",
        "least_agreement",
    ]
    assert document["per_input"][0] == {
        "file": "x/a.star",
        "micrographs": 3,
        "picks": 10,
        "kept_confirmed": 8,
        "kept_alone": 0,
        "kept_not_confirmable": 1,
        "rejected_duplicate": 0,
        "rejected_unconfirmed": 1,
        "rejected_not_confirmable": 0,
        "confirmed": 8,
    }
    assert document["least_agreement"] == [{"micrograph": "m1", "mean_jaccard": 0.8}]
    assert consensus.rows("tomogram") == [
        ("Consensus", "min support 2 of 2 inputs"),
        (
            "  a.star",
            "ran on 3 of 3 tomograms; 10 picks: kept 8 confirmed by 2 or more inputs, 1 not confirmable; rejected 0 "
            "as duplicates, 1 confirmed by fewer than 2 inputs",
        ),
        (
            "  b.star",
            "ran on 2 of 3 tomograms; 9 picks: kept 8 confirmed by 2 or more inputs; rejected 1 as duplicates, 0 "
            "confirmed by fewer than 2 inputs",
        ),
        (
            "  Not confirmable",
            "1 pick on 1 of 3 tomograms that fewer than 2 inputs ran on cannot be confirmed: kept (--uncovered reject "
            "rejects them)",
        ),
        ("  Neighbour agreement a.star / b.star", "0.800 (on the tomograms both ran on)"),
        ("  Least agreement", "m1 (0.80)"),
    ]
    # A plain merge that agrees: no rows; one that hardly agrees (copick's users): the warning.
    plain = dataclasses.replace(found, min_support=1, micrographs_not_confirmable=0)
    assert Consensus(plain).rows("micrograph") == []
    apart = dataclasses.replace(
        plain,
        per_input=(_fates("a", 3, 10, (0, 10, 0, 0, 0, 0), 0), _fates("b", 3, 10, (0, 10, 0, 0, 0, 0), 0)),
        jaccard=[[None, 0.0], [0.0, None]],
        no_species_in_common=((0, 1),),
    )
    warned = Consensus(apart, users=2)
    assert warned.low_agreement == (
        "at most 0% of an input's picks lie within the minimum distance of another input's: do their coordinates, "
        "pixel sizes and micrograph names match?"
    )
    assert warned.rows("micrograph")[0] == ("Consensus", "min support 1 of 2 users (2 pick sets; a user's sessions "
                                            "confirm as one)")  # fmt: skip
    assert list(warned.to_json())[-3:] == ["jaccard_per_micrograph", "least_agreement", "users"]
    assert warned.to_json()["no_species_in_common"] == [[0, 1]]


def test_the_species_say_what_mains_dict_and_rows_said():
    # Two species, --cross-species at 0.8: 3 ribosome picks displaced 1 apoferritin pick, none the other way.
    per = (
        SpeciesCounts("ribosome", 10, 9, 0, 60.0, 20.0, 130.0),
        SpeciesCounts("apoferritin", 5, 4, 1, 40.0, None, 65.0),
    )
    cross = CrossSpecies(0.8, "a rule", ((0, 3), (0, 0)))
    species = Species(("ribosome", "apoferritin"), per, z_given=True, cross=cross)
    assert json.dumps(species.to_json()) == json.dumps(
        {
            "names": ["ribosome", "apoferritin"],
            "per_species": [
                {"species": "ribosome", "particles": 10, "kept": 9, "rejected": 1, "displaced_by_other_species": 0,
                 "min_dist_A": 60.0, "min_dist_z_A": 20.0, "radius_A": 130.0},
                {"species": "apoferritin", "particles": 5, "kept": 4, "rejected": 1, "displaced_by_other_species": 1,
                 "min_dist_A": 40.0, "min_dist_z_A": None, "radius_A": 65.0},
            ],
            "cross_species": {
                "overlap": 0.8,
                "rule": "a rule",
                "won": [[0, 3], [0, 0]],
                "pairs": [{"a": "ribosome", "b": "apoferritin", "conflicts": 3, "a_won": 3, "b_won": 0}],
            },
        }
    )  # fmt: skip
    assert species.rows("tomogram") == [
        (
            "Species",
            "ribosome: 10 in, 9 kept (min dist 60 Å, 20 Å in z, radius 130 Å), 0 displaced by another species\n"
            "apoferritin: 5 in, 4 kept (min dist 40 Å, radius 65 Å), 1 displaced by another species",
        ),
        (
            "Cross-species",
            "kept \\ displaced (a rule):\n"
            "             ribosome  apoferritin\n"
            "ribosome            -            3\n"
            "apoferritin         0            -",
        ),
    ]
    plain = Species(("a",), (SpeciesCounts("a", 2, 2, 0, 20.0, None, None),))
    assert plain.to_json() == {
        "names": ["a"],
        "per_species": [
            {"species": "a", "particles": 2, "kept": 2, "rejected": 0, "displaced_by_other_species": 0,
             "min_dist_A": 20.0, "radius_A": None}
        ],
    }  # fmt: skip
    assert plain.rows("tomogram") == [("Species", "a: 2 in, 2 kept (min dist 20 Å)")]
    assert species.distances_differ_in_z and not plain.distances_differ_in_z


def test_the_timings_say_where_the_time_went_in_the_time_row():
    stages = (("read", 0.5), ("decide", 0.0041), ("write", 1.25), ("summarise", 0.02), ("report", 0.01))
    two_passes = ParticleTimings(1.8, stages, one_pass=False)
    assert json.dumps(two_passes.to_json()) == json.dumps(
        {
            "read": 0.5,
            "decide": 0.0041,
            "write": 1.25,
            "summarise": 0.02,
            "report": 0.01,
            "seconds": 1.8,
            "one_pass": False,
        }
    )
    assert two_passes.rows("micrograph") == []  # (the time row says it, with the run's seconds)
    assert particle_time(1.8, two_passes) == "1.80 s (reading 0.50 s, deciding 0.0041 s, writing 1.25 s)"
    assert particle_time(0.05, two_passes) == "0.05 s"
    assert particle_time(2.0, ParticleTimings(2.0, one_pass=True)) == "2.00 s (read, decided and written in one pass)"
    assert particle_time(2.0, None) == "2.00 s"


#: A copick project's entry as formats/copick.py writes it.
COPICK = {"config": "c.json", "runs": 10, "pick_sets": 2, "pick_files": 20}


def test_the_copick_row_says_the_project_where_the_picks_went_and_the_sets_left_out():
    # The row as baaea94's _copick_text printed it, written out by hand.
    entry = {**COPICK, "written_as": {"user": "cryodedup", "session": "0"}, "left_out": ["cryodedup/1"]}
    project = ReadersFound.of({"copick": {**entry, "star_centring": "centred"}}).copick
    assert project is not None and project.text() == (
        "c.json: 2 pick sets on 10 runs; kept picks written as user cryodedup, session 0\n"
        "left out, written by cryodedup earlier: cryodedup/1\n(to read them too: name their user in --copick-users)\n"
        "STAR files: centred"
    )
    # The reader names the option whole: the users read and theirs (tests/cli/test_advice.py runs it).
    named = CopickProject.of({**entry, "read_left_out": "--copick-users alice,cryodedup"}).text()
    assert "\n(to read them too: --copick-users alice,cryodedup)" in named
    assert CopickProject.of({**COPICK, "pick_sets": 1, "runs": 1}).text() == "c.json: 1 pick set on 1 run"


def test_the_outputs_give_the_files_by_subset_and_the_files_rows():
    written = Outputs.of({"kept": ["o/kept.star"], "rejected": ["o/rejected.star", "o/rejected.cs"]})
    assert json.dumps(written.to_json()) == json.dumps(
        {"kept": ["o/kept.star"], "rejected": ["o/rejected.star", "o/rejected.cs"]}
    )
    assert written.files("rejected") == ("o/rejected.star", "o/rejected.cs") and written.files("halves") == ()
    assert output_rows(None, written) == [
        ("Kept files", "o/kept.star"),
        ("Rejected files", "o/rejected.star\no/rejected.cs"),
    ]
    audit_only = Outputs.of({"kept": [], "rejected": []})
    assert output_rows(None, audit_only) == [
        ("Kept files", "none written (--audit)"),
        ("Rejected files", "none written (--audit)"),
    ]
    into_copick = ReadersFound.of(
        {"copick": {**COPICK, "written_as": {"user": "cryodedup", "session": "0"}}}
    ).written_into
    assert output_rows(into_copick, audit_only) == [
        ("Kept files", "written into the copick project as cryodedup/0"),
        ("Rejected files", "not written (-o writes them as STAR files)"),
    ]


def test_the_inputs_say_each_inputs_counts_when_there_are_several():
    inputs = Inputs((InputCounts("run1/job/a.star", 10, 7), InputCounts("run1/job/b.star", 5, 5)))
    assert json.dumps(inputs.to_json()) == json.dumps(
        [
            {"file": "run1/job/a.star", "particles": 10, "kept": 7, "rejected": 3},
            {"file": "run1/job/b.star", "particles": 5, "kept": 5, "rejected": 0},
        ]
    )
    # Each labelled by what tells it apart (the common folders dropped).
    assert inputs.rows("micrograph") == [
        ("  a.star", "10 in, 7 kept, 3 rejected"),
        ("  b.star", "5 in, 5 kept, 0 rejected"),
    ]
    alone = Inputs((InputCounts("a.star", 1_200, 1_000),))
    assert alone.rows("micrograph") == [] and not alone.several and inputs.several
    assert alone.to_json() == [{"file": "a.star", "particles": 1200, "kept": 1000, "rejected": 200}]


def test_the_shift_is_said_as_read_and_printed_as_a_string():
    shift = Shift("rlnOriginXAngst/YAngst (Å)")
    assert shift.rows("micrograph") == [("Shift", "rlnOriginXAngst/YAngst (Å)")]
    assert json.dumps(ParticleSummary(shift=shift).to_json()["shift"]) == json.dumps("rlnOriginXAngst/YAngst (Å)")
    assert ParticleSummary().to_json()["shift"] is None  # (every document holds it: null where unknown)


def test_the_readers_keys_say_what_mains_rows_said():
    # The readers' piece of a document, typed: the rows as main's functions (matching_rows, dataset_rows,
    # layout_rows, renumbered_rows, import_list_rows) printed them for it, written out by hand.
    found = ReadersFound.of(
        {
            "micrograph_matching": {
                "mode": "auto",
                "used": "exact path, and file name for micrographs under different paths",
                "matched_by_name": 3,
                "example": "a/m1.mrc = b/m1.mrc",
                "kept_apart": 2,
            },
            "datasets": {"labels": {"first": ["x/a.star"], "second": ["y/a.star", "y/b.star"]}, "names_kept_apart": 1},
            "layouts": [
                {"input": "a.star", "layout": "RELION 5 particles", "frame": "centred Å", "notes": ["angles as read"]},
                {"input": "b.star", "layout": "Picks annotation", "frame": "pixels from the corner", "notes": []},
            ],
            "optics_groups_renumbered": [{"input": "b.star", "groups": {"1": 2, "2": 1}}],
            "import_lists": {
                "kept": {"list": "o/kept.star", "lists": [], "files": 1, "left_out": ["TS_02"]},
                "rejected": {"list": "o/r.star", "lists": ["o/r1.star", "o/r2.star"], "files": 3, "left_out": []},
            },
            "reading_notes": ["a.txt: a note"],
            "copick": {**COPICK, "written_as": {"user": "cryodedup", "session": "0"}},
        }
    )
    assert found.matching is not None and found.matching.rows("tomogram") == [
        (
            "Tomogram matching",
            "--match-micrographs auto: 3 micrographs matched by file name, e.g. a/m1.mrc = b/m1.mrc; 2 micrographs "
            "sharing a file name within one input kept apart",
        )
    ]
    assert found.datasets is not None and found.datasets.rows("tomogram") == [
        (
            "Datasets",
            "first: x/a.star\nsecond: y/a.star, y/b.star\n1 tomogram name of one dataset also in another: kept apart",
        )
    ]
    assert found.layouts.rows("tomogram") == [
        (
            "Read as",
            "a.star: RELION 5 particles, centred Å; angles as read\nb.star: Picks annotation, pixels from the corner",
        )
    ]
    assert found.renumbered.rows("micrograph") == [
        (
            "Optics groups renumbered",
            "b.star: 1 -> 2, 2 -> 1\n(in the outputs: numbers an earlier input's different groups already had; their "
            "rows follow)",
        )
    ]
    assert found.import_lists is not None and found.import_lists.rows("tomogram") == [
        (
            "Import lists",
            "kept: o/kept.star (1 coordinate file); left out (no pick kept): TS_02\n"
            "rejected: o/r1.star, o/r2.star (3 coordinate files)",
        )
    ]
    assert found.notes == ("a.txt: a note",) and found.written_into == "cryodedup/0"
    # The matching that only restates the default has no row; one that says more, or another matcher's, has.
    plain = {"mode": "auto", "used": "exact path", "matched_by_name": 0}
    assert ReadersFound.of({"micrograph_matching": plain}).matching.rows("micrograph") == []  # type: ignore[union-attr]
    more = ReadersFound.of({"micrograph_matching": {**plain, "not_matched": 2}}).matching
    assert more is not None and more.text() == (
        "--match-micrographs auto: by exact path; 2 with a file name of another input's micrograph not compared"
    )
    by_uid = ReadersFound.of({"micrograph_matching": {"mode": "uid", "used": "CryoSPARC uid"}}).matching
    assert by_uid is not None and by_uid.rows("micrograph") == [("Micrograph matching", "CryoSPARC uid")]
    # One layout: not named; nothing read: no rows.
    alone = ReadersFound.of({"layouts": [{"input": "a.star", "layout": "L", "frame": "F", "notes": []}]})
    assert alone.layouts.rows("tomogram") == [("Read as", "L, F")]
    nothing = ReadersFound.of({})
    assert (nothing.matching, nothing.datasets, nothing.import_lists, nothing.copick) == (None, None, None, None)
    assert nothing.layouts.rows("tomogram") == nothing.renumbered.rows("tomogram") == []


def test_a_runs_table_reads_its_counts_from_the_overview(tmp_path):
    # Two inputs, 2 of 4 picks duplicates at 30 Å: the counts and the pixel sizes as main's table said them.
    a = write_star(tmp_path / "a.star", HELICAL[:4], [[100.0, 100.0, "m.mrc", 1.0], [500.0, 500.0, "m.mrc", 1.0]])
    b = write_star(tmp_path / "b.star", HELICAL[:4], [[110.0, 100.0, "m.mrc", 0.5], [510.0, 500.0, "m.mrc", 0.5]])
    typed = run_job(Files.of([a, b]), tmp_path / "out", plan(ParticleOptions(min_dist=30, mic_psize=1.0))).summary
    run = typed.overview()
    assert (run.particles, run.kept, run.rejected, run.micrographs, run.unit) == (4, 2, 2, 1, "micrograph")
    rows = dict(particle_rows(run, typed.sections()))
    assert rows["Particles in"] == "4" and rows["Rejected"] == "2 (50.0 %)" and rows["Micrographs"] == "1"
    assert rows["Minimum distance"] == "30 Å (keep best of each group)"
    assert rows["Micrograph pixel size"] == "1 Å from --mic-psize"
    # (one entry per input as the STAR reader gives them, in its key order; one value: no input named in the row)
    assert json.dumps(typed.to_json()["pixel_sizes"]) == json.dumps(
        [{"input": name, "optics_group": "all", "psize": 1.0, "source": "--mic-psize"} for name in ("a.star", "b.star")]
    )
