"""The registration's section (issue 66, item 1): its rows and its ``--json`` piece, worked by hand as main said."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cryodedup.jobs.particles.summary import ParticleSummary
from cryodedup.report.sections import Registration, Sections
from cryodedup.report.sections.readers import CopickProject, ReadersFound
from cryodedup.report.sections.registration import BestTransform, Fired, MovedBy, Offset, RegisteredPair
from cryodedup.report.sections.run import Overview
from cryodedup.report.summary import particle_rows
from helpers import a_comparison

MEANING = (
    "(agreement: the picks with a partner within the distance measured at, counted on the side with fewer, "
    "over the union of both sets)"
)

#: In two frames: moved by a shift found to ± 0.2 px, one species measured at its own 100 Å.
TWO = RegisteredPair(
    inputs=("a.star", "b.star"),
    radius_A=100.0,
    measured_at_A=100.0,
    micrographs_shared=12,
    micrographs_measured=10,
    picks_measured=(1500, 1200),
    jaccard_identity=0.05,
    jaccard_chance=0.02,
    frames="two",
    best_transform=BestTransform(
        kind="translation",
        transform="shift:-64,128",
        scale=1.0,
        shift_A=(-64.0, 128.0),
        shift_px=(-64.0, 128.0),
        jaccard=0.9,
        shift_error_A=(0.1, 0.2),
        shift_error_px=(0.1, 0.2),
        pairs=900,
    ),
    fired=Fired(11, 0.05, 0.91, "b.star and a.star are in two frames: ...", "--transform 'b.star=shift:-64,128'", "x"),
    species="ribo",
)

#: In one frame, with a small offset, measured at 25.5 Å where the picks are dense.
ONE = RegisteredPair(
    ("a.star", "c.star"), 100.0, 25.5, 3, 1, (40, 50), 0.8, 0.1, "one", offset=Offset((1.3, -2.0), None, 30, (0.4, 0.6))
)

#: Crowded: the registration cannot tell.
CROWDED = RegisteredPair(
    ("a.star", "d.star"), 100.0, 100.0, 2, 2, (17, 17), 0.1, 0.03, "cannot tell", cannot_tell="too dense"
)

REGISTRATION = Registration(
    (TWO, ONE, CROWDED), mode="warn", radius_A=100.0, transforms_applied=(MovedBy("e.star", "shift:1,2"),)
)


def test_the_registration_says_each_pairs_verdict_as_main_said_it():
    (row,) = REGISTRATION.rows("micrograph")
    assert row == (
        "Registration at 100 Å",
        "b.star / a.star (ribo at 100 Å): two frames, shift:-64,128, ± 0.2 px (agreement 0.050 -> 0.910 on 11 of "
        "12 micrographs; 1,500 + 1,200 picks on 10 micrographs)\n"
        "c.star / a.star: one frame (agreement 0.800, chance 0.100; offset +1.3, -2.0 Å ± 0.6; 40 + 50 picks on "
        "1 micrograph; measured at 25.5 Å, as picks this dense pair by chance at 100 Å)\n"
        "d.star / a.star: cannot tell: the picks crowd so that chance pairs many of them under some transform; "
        "check the frames by hand (--plot draws the displacements) (agreement 0.100, chance 0.030; 17 + 17 picks "
        "on 2 micrographs)\n"
        "e.star: moved by --transform shift:1,2\n" + MEANING,
    )
    # In tomography its micrographs are tomograms; the species at different radii: no radius in the heading.
    (label, text) = dataclasses.replace(REGISTRATION, radius_A=None).rows("tomogram")[0]
    assert label == "Registration" and "on 10 tomograms" in text and "micrograph" not in text
    unrelated = dataclasses.replace(ONE, frames="unrelated", offset=None, measured_at_A=100.0)
    assert unrelated.line() == (
        "c.star / a.star: unrelated: their picks agree no more than by chance (agreement 0.800, chance 0.100; "
        "40 + 50 picks on 1 micrograph)"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        TWO.frames = "one"  # type: ignore[misc]


def test_the_registration_gives_the_document_main_printed():
    # Key order as main's dicts had it: a fired transform's keys after the pair's, the species last;
    # a pixel length of centres read in Å null, an error left out where none was measured.
    in_angstrom = dataclasses.replace(
        TWO.best_transform, shift_px=None, shift_error_px=None, scale=1.5, scale_error=0.001
    )
    assert json.dumps(in_angstrom.to_json()) == json.dumps(
        {
            "kind": "translation",
            "transform": "shift:-64,128",
            "scale": 1.5,
            "shift_A": [-64.0, 128.0],
            "shift_px": None,
            "jaccard": 0.9,
            "shift_error_A": [0.1, 0.2],
            "scale_error": 0.001,
            "pairs": 900,
        }
    )
    pieces = REGISTRATION.to_json()
    assert list(pieces) == ["radius_A", "mode", "pairs", "transforms_applied"]
    assert pieces["transforms_applied"] == [{"input": "e.star", "transform": "shift:1,2"}]
    two, one, crowded = pieces["pairs"]
    head = ["inputs", "radius_A", "measured_at_A", "micrographs_shared", "micrographs_measured", "picks_measured"]
    head += ["jaccard_identity", "jaccard_chance", "frames"]
    fired = ["micrographs_held", "jaccard_before", "jaccard_after", "message", "fix", "fix_other"]
    assert list(two) == [*head, "best_transform", *fired, "species"]
    assert two["inputs"] == ["a.star", "b.star"] and two["picks_measured"] == [1500, 1200]
    assert list(one) == [*head, "offset"] and one["offset"] == {
        "shift_A": [1.3, -2.0],
        "shift_px": None,
        "pairs": 30,
        "error_A": [0.4, 0.6],
    }
    assert list(crowded) == [*head, "cannot_tell"]
    assert list(Registration((ONE,), mode="check").to_json()) == ["mode", "pairs"]
    # The summary prints it at its key; read back (a caller's document, compare's pair), the same records.
    assert ParticleSummary(registration=REGISTRATION).to_json()["registration"] == pieces
    assert Registration.from_json(json.loads(json.dumps(pieces))) == REGISTRATION


def test_the_summary_and_compare_say_the_registration_from_its_records():
    held = Overview(0, 0, 0, 0, mode="", seconds=1)
    rows = dict(particle_rows(held, Sections((REGISTRATION,))))
    assert rows["Registration at 100 Å"] == REGISTRATION.rows("micrograph")[0][1]
    # A copick project's tomograms are its runs, as its messages say.
    copick = {"config": "c.json", "pick_sets": 2, "runs": 10}
    rows = dict(
        particle_rows(
            Overview(0, 0, 0, 0, True, read=ReadersFound(copick=CopickProject.of(copick))), Sections((REGISTRATION,))
        )
    )
    assert "picks on 10 runs" in rows["Registration at 100 Å"] and "tomogram" not in rows["Registration at 100 Å"]
    # compare: its one pair as its document holds it, no --plot hint, and the fix of two frames.
    compared = a_comparison(registration=TWO)
    rows = dict(compared.rows())
    assert rows["Registration at 100 Å"].startswith("b.star / a.star (ribo at 100 Å): two frames, shift:-64,128")
    assert rows["Two frames"] == (
        "b.star and a.star are in two frames: ...; to compare them in one frame, add --transform 'b.star=shift:-64,128'"
    )
    crowded = dict(dataclasses.replace(compared, registration=CROWDED).rows())["Registration at 100 Å"]
    assert "check the frames by hand (agreement" in crowded and "--plot" not in crowded
