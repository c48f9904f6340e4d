"""Species said right (issue 64, item 6): each species' distance named where a run names one, the
advice given spelled as it works, and the objects of a copick project said as they are.

Files are shaped as RELION 5 (a tomography particles STAR with a class column and half-sets) and
copick (a project made with copick's own API) write them; each expected value is worked by hand.
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cryodedup import ParticleOptions, remove_duplicate_particles, remove_duplicates
from cryodedup.cli import main

LABELS = ["rlnTomoName", "rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst"]
LABELS += ["rlnCenteredCoordinateZAngst", "rlnLCCmax", "rlnClassNumber", "rlnRandomSubset"]


def write_tomo_star(path, rows):
    """A RELION 5 tomography particles STAR (centred Å), a class and a half-set per row."""
    lines = ["", "# version 50001", "", "data_particles", "", "loop_"]
    lines += [f"_{label} #{k + 1}" for k, label in enumerate(LABELS)]
    lines += [" ".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n\n")
    return path


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# Class 1: two picks 40 Å apart in x, in different half-sets; class 2: two picks 25 Å apart in z only,
# in different half-sets; a lone class-1 pick far away.
HALVES = [
    ("TS_01", 0, 0, 0, 0.9, 1, 1),
    ("TS_01", 40, 0, 0, 0.8, 1, 2),
    ("TS_01", 1000, 0, 0, 0.7, 2, 1),
    ("TS_01", 1000, 0, 25, 0.6, 2, 2),
    ("TS_01", 3000, 0, 0, 0.5, 1, 1),
]


def test_the_half_set_audit_names_each_species_distance(tmp_path):
    # At 1=50 and 2=30 both pairs are duplicates (40 <= 50; 25 <= 30) and both straddle: 2 pairs, 4 of
    # the 5 particles. The unused default (20 Å) would have found neither.
    star = write_tomo_star(tmp_path / "particles.star", HALVES)
    flags = ["--species-column", "rlnClassNumber", "--min-dist", "1=50,2=30", "--score", "rlnLCCmax"]
    run = cli("particles", star, "-o", tmp_path / "out", *flags, "--json", "--plot")
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output[run.output.index("{") :])
    audit = summary["halfset_audit"]
    assert audit["straddling_pairs"] == 2 and audit["particles_straddling"] == 4
    said = "2 duplicate pairs within each species' distance (1: 50 Å; 2: 30 Å) straddle the half-sets"
    assert audit["message"].startswith(said)
    assert "20 Å" not in audit["message"]
    assert "min_dist_A" not in summary  # (no one distance was used: each species' is in per_species)
    assert [p["min_dist_A"] for p in summary["species"]["per_species"]] == [50.0, 30.0]
    table = " ".join(cli("particles", star, "-o", tmp_path / "t", *flags).output.split())
    assert said in table and "within 20 Å" not in table
    report = (tmp_path / "out" / "report.html").read_text()
    assert "each species&#x27; distance (1: 50 Å; 2: 30 Å)" in report or "each species' distance (1: 50 Å" in report


def test_min_dist_z_per_species(tmp_path):
    # Class 2's pair is 25 Å apart along z: a duplicate at its 30 Å sphere, not within 10 Å in z; class
    # 1's pair (40 Å apart in x) stays a duplicate at 50 Å whatever z. By hand: kept 0, 1000, 1000+25z, 3000.
    star = write_tomo_star(tmp_path / "particles.star", HALVES)
    flags = ["--species-column", "rlnClassNumber", "--min-dist", "1=50,2=30", "--score", "rlnLCCmax"]
    run = cli("particles", star, "-o", tmp_path / "out", *flags, "--min-dist-z", "2=10", "--json")
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output[run.output.index("{") :])
    kept = [line.split() for line in (tmp_path / "out" / "particles_kept.star").read_text().splitlines()]
    assert [(r[1], r[3]) for r in kept if r[:1] == ["TS_01"]] == [
        ("0", "0"),
        ("1000", "0"),
        ("1000", "25"),
        ("3000", "0"),
    ]
    per = summary["species"]["per_species"]
    assert [(p["min_dist_A"], p["min_dist_z_A"]) for p in per] == [(50.0, None), (30.0, 10.0)]
    assert "2: 30 Å, 10 Å in z" in summary["halfset_audit"]["message"]
    # The same through the API, and a bare z for the species not named: class 1 at 50 Å in x and y, 30 in z.
    same = remove_duplicate_particles(
        [star],
        tmp_path / "api",
        ParticleOptions(species_column="rlnClassNumber", min_dist="1=50,2=30", min_dist_z="2=10", score="rlnLCCmax"),
    )
    assert same.kept == 4
    # Without species, a NAME=Å along z is refused in one line.
    plain = cli("particles", star, "-o", tmp_path / "plain", "--min-dist-z", "2=10")
    assert plain.exit_code != 0 and "--min-dist-z NAME=Å: these particles have no species" in plain.output


def test_a_species_the_data_lacks_is_warned_of_not_refused():
    # One configuration for every tomogram: this table holds classes 1 and 2, the distances name 3 too.
    table = pd.DataFrame(
        {
            "rlnCoordinateX": [0.0, 10.0, 20.0],
            "rlnCoordinateY": [0.0, 0.0, 0.0],
            "rlnMicrographName": ["m"] * 3,
            "rlnClassNumber": [1, 2, 1],
            "rlnAutopickFigureOfMerit": [3.0, 2.0, 1.0],
        }
    )
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        kept, _ = remove_duplicates(
            table, species_column="rlnClassNumber", species_min_dist={"1": 25.0, "3": 40.0}, mic_psize=1.0
        )
    assert kept.index.tolist() == [0, 1]  # (class 1's picks 20 Å apart: one kept at 25 Å)
    messages = [str(w.message) for w in said]
    assert any("no species 3 in these particles" in m and "not used" in m for m in messages), messages


# --- copick ---------------------------------------------------------------------------------


@pytest.fixture
def copick_models():
    from cryodedup.formats.copick import root_logger_kept

    with root_logger_kept():
        module = pytest.importorskip("copick")
        from copick.models import CopickLocation, CopickPoint, PickableObject
    return module, CopickLocation, CopickPoint, PickableObject


def make_project(tmp_path, models, picks, tomogram=False):
    """A copick project: apoferritin (60 Å), ribosome (150 Å) and thyroglobulin (no radius) on run TS_001.

    ``picks``: (user, session, object, [x...]), each point at y = z = 100 Å with score 0.5, or
    (user, session, object, [x...], [score...]). ``tomogram``: the run has one (40 x 40 x 20 voxels of 10 Å).
    """
    from cryodedup.formats.copick import root_logger_kept

    copick_module, location, point, pickable = models
    with root_logger_kept():
        config = tmp_path / "copick_config.json"
        objects = [
            pickable(name="apoferritin", is_particle=True, radius=60.0, label=1),
            pickable(name="ribosome", is_particle=True, radius=150.0, label=2),
            pickable(name="thyroglobulin", is_particle=True, label=3),
        ]
        root = copick_module.new_config(str(config), str(tmp_path / "overlay"), pickable_objects=objects)
        run = root.new_run("TS_001")
        if tomogram:
            run.new_voxel_spacing(10.0).new_tomogram("wbp").from_numpy(np.zeros((20, 40, 40), np.float32), levels=1)
        for user, session, name, xs, *scores in picks:
            made = run.new_picks(object_name=name, session_id=session, user_id=user)
            given = scores[0] if scores else [0.5] * len(xs)
            made.points = [point(location=location(x=x, y=100.0, z=100.0), score=s) for x, s in zip(xs, given)]
            made.store()
    return config


def json_of(run):
    assert run.exit_code == 0, run.output
    return json.loads(run.output[run.output.index("{") :])


def advice_in(warning, flag):
    """The option ``warning`` prints to paste (``--min-dist NAME=Å``), as the command line's words, or fails."""
    found = re.search(rf"as with ({flag}) (\S+?);", warning)
    assert found, warning
    return list(found.groups())


def test_an_object_without_a_radius_is_said_only_when_read_and_its_advice_works(tmp_path, copick_models):
    # Thyroglobulin has no radius. A project without thyroglobulin picks says nothing of it.
    apo = [("alice", "1", "apoferritin", [100.0, 400.0])]
    quiet = make_project(tmp_path / "a", copick_models, apo)
    summary = json_of(cli("particles", quiet, "--json", "-q"))
    assert not [w for w in summary["warnings"] if "radius" in w], summary["warnings"]
    # With thyroglobulin picks 50 Å apart: at 20 Å both are kept, and the warning's advice is what works.
    thyro = [*apo, ("alice", "1", "thyroglobulin", [1000.0, 1050.0])]
    config = make_project(tmp_path / "b", copick_models, thyro)
    summary = json_of(cli("particles", config, "--json", "-q"))
    said = [w for w in summary["warnings"] if "radius" in w]
    assert len(said) == 1 and "thyroglobulin has no radius" in said[0], summary["warnings"]
    assert "compared at 20 Å" in said[0]
    kept = {p["species"]: p["kept"] for p in summary["species"]["per_species"]}
    assert kept == {"apoferritin": 2, "thyroglobulin": 2}
    # The option printed, run as printed: the same 20 Å (both kept), and the warning not said again.
    advice = advice_in(said[0], "--min-dist")
    assert advice == ["--min-dist", "thyroglobulin=20"]
    pasted = json_of(cli("particles", config, *advice, "--json", "-q", "--force"))
    assert {p["species"]: p["kept"] for p in pasted["species"]["per_species"]} == kept
    assert not [w for w in pasted["warnings"] if "radius" in w], pasted["warnings"]
    # Its radius in place of 20 (80 Å: the pair 50 Å apart is one), there or in the config, as the advice says.
    sized = [advice[0], advice[1].replace("=20", "=80")]
    advised = json_of(cli("particles", config, *sized, "--json", "-q", "--force"))
    by_hand = {"apoferritin": 2, "thyroglobulin": 1}
    assert {p["species"]: p["kept"] for p in advised["species"]["per_species"]} == by_hand
    project = json.loads(config.read_text())
    for obj in project["pickable_objects"]:
        obj["radius"] = 80.0 if obj["name"] == "thyroglobulin" else obj.get("radius")
    config.write_text(json.dumps(project))
    configured = json_of(cli("particles", config, "--json", "-q", "--force"))
    assert {p["species"]: p["kept"] for p in configured["species"]["per_species"]} == by_hand
    assert not [w for w in configured["warnings"] if "radius" in w], configured["warnings"]
    for obj in project["pickable_objects"]:
        obj["radius"] = None if obj["name"] == "thyroglobulin" else obj["radius"]
    config.write_text(json.dumps(project))
    # A bare --min-dist is the distance said, and printed: 50 Å (the pair 50 Å apart is one at 50).
    wide = json_of(cli("particles", config, "--min-dist", "50", "--json", "-q", "--force"))
    said_wide = [w for w in wide["warnings"] if "radius" in w]
    assert len(said_wide) == 1 and "compared at 50 Å" in said_wide[0], wide["warnings"]
    assert advice_in(said_wide[0], "--min-dist") == ["--min-dist", "thyroglobulin=50"]
    assert {p["species"]: p["kept"] for p in wide["species"]["per_species"]} == by_hand
    # The Python API says it as a keyword, and takes it as printed.
    with warnings.catch_warnings(record=True) as said_api:
        warnings.simplefilter("always")
        remove_duplicates(config, force=True)
    advice_api = [str(w.message) for w in said_api if "no radius" in str(w.message)]
    assert len(advice_api) == 1, advice_api
    keyword = re.search(r'as with (\w+)="([^"]*)";', advice_api[0])
    assert keyword and keyword.groups() == ("min_dist", "thyroglobulin=20"), advice_api
    with warnings.catch_warnings(record=True) as said_pasted:
        warnings.simplefilter("always")
        kept_api, _ = remove_duplicates(config, **{keyword.group(1): keyword.group(2)}, force=True)
    assert sorted(kept_api["object"].tolist()) == ["apoferritin", "apoferritin", "thyroglobulin", "thyroglobulin"]
    assert not [w for w in said_pasted if "no radius" in str(w.message)]
    kept_api, _ = remove_duplicates(config, min_dist="thyroglobulin=80", force=True)
    assert sorted(kept_api["object"].tolist()) == ["apoferritin", "apoferritin", "thyroglobulin"]


def test_radius_is_filled_for_copick_objects_that_have_one(tmp_path, copick_models):
    config = make_project(
        tmp_path, copick_models, [("alice", "1", "apoferritin", [100.0]), ("alice", "1", "ribosome", [900.0])]
    )
    summary = json_of(cli("particles", config, "--json", "-q"))
    per = {p["species"]: (p["min_dist_A"], p["radius_A"]) for p in summary["species"]["per_species"]}
    assert per == {"apoferritin": (60.0, 60.0), "ribosome": (150.0, 150.0)}


def comparepicks(*args):
    from cryodedup.copick_command import comparepicks as command

    return CliRunner().invoke(command, [str(a) for a in args])


def test_comparepicks_radius_per_object(tmp_path, copick_models):
    # Apoferritin 50 Å apart (matched at its 60 Å radius, not at 40), ribosome 100 Å apart (matched at its
    # 150 Å radius, not at 80), thyroglobulin 30 Å apart (not at 20 Å, matched at 35).
    config = make_project(
        tmp_path,
        copick_models,
        [
            ("alice", "1", "apoferritin", [100.0]),
            ("bob", "1", "apoferritin", [150.0]),
            ("alice", "1", "ribosome", [1000.0]),
            ("bob", "1", "ribosome", [1100.0]),
            ("alice", "1", "thyroglobulin", [2000.0]),
            ("bob", "1", "thyroglobulin", [2030.0]),
        ],
    )
    base = ["-c", config, "--reference", "alice/1", "--candidate", "bob/1", "--json", "-q"]

    def matched(*radius):
        summary = json_of(comparepicks(*base, *radius))
        return {o["object"]: (o["radius_A"], o["matched"]) for o in summary["objects"]}, summary["warnings"]

    default, said = matched()
    assert default == {"apoferritin": (60.0, 1), "ribosome": (150.0, 1), "thyroglobulin": (20.0, 0)}
    unsized = [w for w in said if "thyroglobulin has no radius" in w]
    assert len(unsized) == 1 and "matched within 20 Å" in unsized[0], said
    # The option printed, run as printed: matched within the same 20 Å (not matched), and not said again.
    assert advice_in(unsized[0], "--radius") == ["--radius", "thyroglobulin=20"]
    pasted, said_pasted = matched(*advice_in(unsized[0], "--radius"))
    assert pasted == default and not [w for w in said_pasted if "no radius" in w], said_pasted
    named, _ = matched("--radius", "apoferritin=40,thyroglobulin=35")
    assert named == {"apoferritin": (40.0, 0), "ribosome": (150.0, 1), "thyroglobulin": (35.0, 1)}
    both, _ = matched("--radius", "ribosome=80,45")
    assert both == {"apoferritin": (45.0, 0), "ribosome": (80.0, 0), "thyroglobulin": (45.0, 1)}
    huge = comparepicks(*base, "--radius", "1e308")
    assert huge.exit_code != 0 and "--radius must be a distance in Å above 0, to 1e150, got 1e+308" in huge.stderr
    assert "Traceback" not in huge.output and len(huge.stderr) < 300  # (stdout: --json's document of the refusal)


def test_copick_consensus_counts_users_not_sessions(tmp_path, copick_models):
    # P: alice/1 and alice/2, 10 Å apart (one annotator twice); Q: alice/1 and bob/1, 10 Å apart; R: bob/1 alone.
    # At --min-support 2 counted in users, P and R are unconfirmed and Q is kept once (alice/1's, the better score).
    config = make_project(
        tmp_path,
        copick_models,
        [
            ("alice", "1", "apoferritin", [100.0, 500.0], [0.9, 0.8]),
            ("alice", "2", "apoferritin", [110.0], [0.7]),
            ("bob", "1", "apoferritin", [510.0, 900.0], [0.6, 0.5]),
        ],
    )
    summary = json_of(cli("particles", config, "--min-support", 2, "--json", "-q"))
    kept, _ = remove_duplicates(config, min_support=2, force=True)
    assert summary["kept"] == 1 and sorted(kept["x"].tolist()) == [500.0]
    assert summary["consensus"]["users"] == 2
    table = " ".join(cli("particles", config, "--min-support", 2, "--force").output.split())
    assert "min support 2 of 2 users (3 pick sets; a user's sessions confirm as one)" in table
    # One user's two sessions cannot confirm anything alone: said in one line.
    alone = make_project(
        tmp_path / "alone",
        copick_models,
        [("alice", "1", "apoferritin", [100.0]), ("alice", "2", "apoferritin", [110.0])],
    )
    refused = cli("particles", alone, "--min-support", 2)
    assert refused.exit_code != 0 and "--min-support 2: there is only 1 user (alice/1, alice/2)" in refused.output


def test_copick_star_export_keeps_score_user_and_session(tmp_path, copick_models):
    import starfile

    config = make_project(
        tmp_path,
        copick_models,
        [("alice", "1", "apoferritin", [100.0, 130.0], [0.9, 0.4]), ("bob", "7", "apoferritin", [300.0], [0.6])],
        tomogram=True,
    )
    run = cli("particles", config, "-o", tmp_path / "out", "-q")
    assert run.exit_code == 0, run.output
    kept = starfile.read(tmp_path / "out" / "particles_kept.star")
    rejected = starfile.read(tmp_path / "out" / "particles_rejected.star")
    rows = lambda t: sorted(zip(t.rlnAutopickFigureOfMerit, t.copickUserId.astype(str), t.copickSessionId.astype(str)))  # noqa: E731
    assert rows(kept) == [(0.6, "bob", "7"), (0.9, "alice", "1")]
    assert rows(rejected) == [(0.4, "alice", "1")]


def test_species_named_for_copick_objects_are_refused_and_dropped_as_advised(tmp_path, copick_models):
    # A copick project's objects are its species: --species is refused naming "drop --species"; dropped as advised
    # the run reads them, by hand apoferritin's picks 300 Å apart (beyond its 60 Å radius): both kept.
    config = make_project(tmp_path, copick_models, [("alice", "1", "apoferritin", [100.0, 400.0])])
    args = ["particles", config, "--json", "-q"]
    refused = cli(*args, "--species", "apoferritin")
    said = " ".join(refused.stderr.split())  # (stdout: --json's document of the refusal)
    assert refused.exit_code != 0 and re.search(r"(drop --species)$", said), said
    dropped = json_of(cli(*args))  # (the line without --species and its value, as "drop" asks)
    assert dropped["kept"] == 2 and dropped["species"]["per_species"][0]["species"] == "apoferritin"
