"""Several species in one run: within each species as for one, between species the overlap rule,
checked against the brute force of tests/oracle.py (oracle_species)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions
from cryodedup.particle_set import ParticleSet
from helpers import decided
from oracle import oracle_percentiles, oracle_species

NAMES = ["ribosome", "apoferritin", "proteasome"]


def particle_set(groups, coords, species, scores, names=NAMES, input_of=None) -> ParticleSet:
    n = len(groups)
    return ParticleSet(
        inputs=["picks.star"] if input_of is None else ["picker.star", "hand.star"],
        input_of=np.zeros(n, np.uint8) if input_of is None else np.asarray(input_of, dtype=np.uint8),
        mic_names=["TS_01", "TS_02"],
        groups=np.asarray(groups, dtype=np.int64),
        centres=np.asarray(coords, dtype=np.float64).reshape(n, 3),
        psize=np.ones(n),
        pixel_sizes=[],
        scores=np.asarray(scores, dtype=np.float64),
        score_label="rlnLCCmax",
        higher_is_better=True,
        species=np.asarray(species, dtype=np.uint32),
        species_names=list(names),
    )


@st.composite
def cases(draw):
    # A crowd (over 48 picks of a tomogram in one cell) overfills the cells: the walk takes the k-d tree.
    crowd = draw(st.integers(0, 9)) == 0
    n = draw(st.integers(100, 160) if crowd else st.integers(0, 36))
    grid = draw(st.booleans())  # whole numbers make exact ties and distances exactly at the sum of radii
    coord = st.integers(0, 30).map(float) if grid else st.floats(0, 60, allow_nan=False)
    coord = st.sampled_from([0.0, 0.5]) if crowd else coord
    coords = [[draw(coord) for _ in range(3)] for _ in range(n)]
    groups = [draw(st.sampled_from([0, 1])) for _ in range(n)]
    species = [draw(st.sampled_from([0, 1, 2])) for _ in range(n)]
    # (±inf, as NaN, is no score: ranked last)
    sure = st.sampled_from([0.0, 1.0, 2.0, float("nan"), float("inf"), -float("inf")])
    score = st.one_of(sure, st.floats(-5, 5, allow_nan=False))
    scores = [draw(score) for _ in range(n)]
    min_dists = [draw(st.sampled_from([0.0, 1.0, 5.0, 10.0])) for _ in NAMES]
    radii = [draw(st.sampled_from([0.0, 2.0, 5.0, 7.5, 12.0])) for _ in NAMES]
    overlap = draw(st.sampled_from([0.5, 1.0, 1.5]))
    return groups, coords, species, scores, min_dists, radii, overlap


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(cases())
def test_cross_species_decisions_match_the_brute_force(case):
    groups, coords, species, scores, min_dists, radii, overlap = case
    options = ParticleOptions(
        cross_species=True,
        overlap=overlap,
        species_min_dist=dict(zip(NAMES, min_dists)),
        radius=dict(zip(NAMES, radii)),
    )
    decision = decided(particle_set(groups, coords, species, scores), options)
    keep, displaced = oracle_species(groups, coords, species, scores, min_dists, radii, overlap)
    assert decision.keep.tolist() == keep
    assert decision.displaced_by.tolist() == displaced


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(cases(), st.data())
def test_a_preferred_input_goes_first_within_and_between_species(case, data):
    # Two inputs, the second preferred (--prefer 2, as hand picks over a template match's).
    groups, coords, species, scores, min_dists, radii, overlap = case
    input_of = [data.draw(st.sampled_from([0, 1])) for _ in groups]
    options = ParticleOptions(
        cross_species=True,
        overlap=overlap,
        species_min_dist=dict(zip(NAMES, min_dists)),
        radius=dict(zip(NAMES, radii)),
        prefer=["2"],
    )
    decision = decided(particle_set(groups, coords, species, scores, input_of=input_of), options)
    levels = [0 if k == 1 else 1 for k in input_of]
    keep, displaced = oracle_species(groups, coords, species, scores, min_dists, radii, overlap, levels)
    assert decision.keep.tolist() == keep
    assert decision.displaced_by.tolist() == displaced


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(cases())
def test_without_cross_species_each_species_is_deduplicated_on_its_own(case):
    groups, coords, species, scores, min_dists, _, _ = case
    options = ParticleOptions(species_min_dist=dict(zip(NAMES, min_dists)))
    decision = decided(particle_set(groups, coords, species, scores), options)
    keep, _ = oracle_species(groups, coords, species, scores, min_dists, [0.0] * 3, 1.0)
    assert decision.keep.tolist() == keep
    assert decision.displaced_by is None


def test_three_species_meeting_by_hand():
    # A (radius 60) at 0, B (radius 60) at 100 Å, C (radius 60) at 200 Å on one tomogram: A and B
    # overlap (100 < 120), B and C overlap, A and C do not (200 >= 120). Scores are ranked within
    # each species; each species has one more pick far away, worse or better, to set the percentiles.
    coords = [[0, 0, 0], [100, 0, 0], [200, 0, 0], [5000, 0, 0], [6000, 0, 0], [7000, 0, 0]]
    species = [0, 1, 2, 0, 1, 2]

    def run(scores):
        options = ParticleOptions(cross_species=True, radius=dict.fromkeys(NAMES, 60.0))
        return decided(particle_set([0] * 6, coords, species, scores), options)

    # A best in its species (percentile 0.75), B worst (0.25), C best (0.75): A displaces B; C stays,
    # since B, displaced, displaces nothing. A and C tie at 0.75: the lower row goes first.
    d = run([9.0, 1.0, 3.0, 2.0, 5.0, 0.5])
    assert d.keep.tolist() == [True, False, True, True, True, True]
    assert d.displaced_by.tolist() == [-1, 0, -1, -1, -1, -1]
    # B best in its species: it displaces both A and C.
    d = run([1.0, 9.0, 0.1, 2.0, 5.0, 0.5])
    assert d.keep.tolist() == [False, True, False, True, True, True]
    assert d.displaced_by.tolist() == [1, -1, 1, -1, -1, -1]
    # Raw scores are never compared across species: A's 1000 is the worse of A's (0.25), B's 9 the
    # better of B's (0.75): B wins.
    d = run([1000.0, 9.0, 0.1, 2000.0, 5.0, 0.5])
    assert d.keep.tolist() == [False, True, False, True, True, True]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0, 1, 5]), st.sampled_from([0.0, 1.0, 2.5, -1.0, float("nan"), float("inf")])),
        max_size=40,
    ),
    st.booleans(),
)
def test_percentiles_within_groups_match_counting(rows, higher):
    from cryodedup.algo.species import percentiles_within

    by = np.array([b for b, _ in rows], dtype=np.int64)
    scores = np.array([s for _, s in rows], dtype=np.float64)
    got = percentiles_within(scores, by, higher)
    want = oracle_percentiles(scores if higher else -scores, by)
    assert np.array_equal(got, want, equal_nan=True)


def test_percentiles_within_species_match_counting():
    from cryodedup.algo.species import percentiles_within

    scores = np.array([3.0, 1.0, 1.0, np.nan, 7.0, 2.0])
    by = np.array([0, 0, 0, 0, 1, 1])
    got = percentiles_within(scores, by, True)
    want = oracle_percentiles(scores, by)
    assert np.allclose(got, want, equal_nan=True)
    assert got[:3].tolist() == [5 / 6, 1 / 3, 1 / 3] and math.isnan(got[3])


def test_missing_radii_are_refused():
    # (a species named that the data lacks is warned of: tests/jobs/test_species_said.py)
    particles = particle_set([0, 0], [[0, 0, 0], [1, 0, 0]], [0, 1], [1.0, 2.0])
    with pytest.raises(CryodedupError, match="apoferritin has none: give --radius apoferritin=20 "):
        decided(particles, ParticleOptions(cross_species=True, radius={"ribosome": 100.0, "proteasome": 80.0}))
    with pytest.raises(
        CryodedupError, match="and ribosome and proteasome have none: give --radius ribosome=20,proteasome=20 "
    ):
        decided(particles, ParticleOptions(cross_species=True, radius={"apoferritin": 60.0}))


def write_tomo_star(path, rows):
    lines = ["# version 50001", "", "data_particles", "", "loop_"]
    labels = ["rlnTomoName", "rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst"]
    labels += ["rlnCenteredCoordinateZAngst", "rlnLCCmax", "rlnClassNumber"]
    lines += [f"_{label} #{k + 1}" for k, label in enumerate(labels)]
    lines += [" ".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def test_one_file_per_template_and_a_class_column_give_the_same_answer(tmp_path, capsys):
    # pytom-match-pick writes one file per template; a merged file has a class column. Ribosome
    # (class 1, radius 150) at 0 Å and a proteasome (class 2, radius 60) 180 Å away overlap
    # (180 < 210): the proteasome ranks better within its species and wins.
    ribo = [("TS_01", 0, 0, 0, 0.30, 1), ("TS_01", 1000, 0, 0, 0.40, 1), ("TS_01", 1010, 0, 0, 0.20, 1)]
    prot = [("TS_01", 180, 0, 0, 0.25, 2), ("TS_01", 3000, 0, 0, 0.10, 2)]
    write_tomo_star(tmp_path / "ribo.star", ribo)
    write_tomo_star(tmp_path / "prot.star", prot)
    write_tomo_star(tmp_path / "both.star", ribo + prot)
    per_template = remove_duplicate_particles(
        [tmp_path / "ribo.star", tmp_path / "prot.star"],
        tmp_path / "a",
        ParticleOptions(
            score="rlnLCCmax",
            species=["ribosome", "proteasome"],
            species_min_dist={"ribosome": 50.0, "proteasome": 20.0},
            cross_species=True,
            radius={"ribosome": 150.0, "proteasome": 60.0},
        ),
    )
    one_file = remove_duplicate_particles(
        [tmp_path / "both.star"],
        tmp_path / "b",
        ParticleOptions(
            score="rlnLCCmax",
            species_column="rlnClassNumber",
            species_min_dist={"1": 50.0, "2": 20.0},
            cross_species=True,
            radius={"1": 150.0, "2": 60.0},
        ),
    )
    # By hand: ribosome row 3 is a duplicate of row 2 (10 Å < 50); ribosome row 1 (percentile 0.5 among
    # the three ribosomes) loses to the proteasome 180 Å away (0.75 among the two proteasomes).
    kept = (tmp_path / "a" / "particles_kept.star").read_text().splitlines()
    assert [line.split()[1] for line in kept if line.startswith("TS_01")] == ["1000", "180", "3000"]
    kept_b = (tmp_path / "b" / "particles_kept.star").read_text().splitlines()
    assert [line.split()[1] for line in kept_b if line.startswith("TS_01")] == ["1000", "180", "3000"]
    a, b = per_template.to_json()["species"]["cross_species"], one_file.to_json()["species"]["cross_species"]
    assert a["won"] == [[0, 0], [1, 0]] == b["won"]
    assert a["pairs"] == [{"a": "ribosome", "b": "proteasome", "conflicts": 1, "a_won": 0, "b_won": 1}]
    per = per_template.to_json()["species"]["per_species"]
    assert [(p["particles"], p["kept"], p["displaced_by_other_species"]) for p in per] == [(3, 1, 1), (2, 2, 0)]
    json.dumps(per_template.to_json(), allow_nan=False)  # strict JSON


REAL_TOMOGRAMS = [
    "tomo/cets-relion__Select_job077_particles_removed.star",  # RELION 5 refined, subtomogram angles
    "tomo/cets-relion__Picks_job019_particles.star",  # RELION 5 Picks job, centred Å
    "tomo/cryoCAT__relion_4.0.star",  # RELION 4, tilt-series pixels
]


@pytest.mark.real_data
@pytest.mark.parametrize("name", REAL_TOMOGRAMS)
@pytest.mark.parametrize("min_dist", [60.0, 300.0])
def test_real_tomograms_as_one_species_answer_as_before(tmp_path, name, min_dist):
    # The same file without species, as one named species (its own distance given as a pair), and as
    # one species with --cross-species (nothing to overlap with): the same rows kept, byte for byte.
    from helpers import shared_file

    path = shared_file(name)
    plain = remove_duplicate_particles([path], tmp_path / "plain", ParticleOptions(min_dist=min_dist))
    named = ParticleOptions(species=["ribosome"], species_min_dist={"ribosome": min_dist})
    crossed = ParticleOptions(min_dist=min_dist, species=["ribosome"], cross_species=True, radius={"ribosome": 150.0})
    for out, options in (("named", named), ("crossed", crossed)):
        summary = remove_duplicate_particles([path], tmp_path / out, options)
        assert summary.kept == plain.kept and summary.to_json()["species"]["per_species"][0]["kept"] == plain.kept
        for kind in ("kept", "rejected"):
            ours = (tmp_path / out / f"particles_{kind}.star").read_bytes()
            assert ours == (tmp_path / "plain" / f"particles_{kind}.star").read_bytes()
    assert plain.rejected > 0 or min_dist == 60.0  # at 300 Å every file has duplicates to remove


def test_species_options_without_species_are_refused(tmp_path):
    write_tomo_star(tmp_path / "a.star", [("TS_01", 0, 0, 0, 0.3, 1)])
    for options in (ParticleOptions(cross_species=True), ParticleOptions(species_min_dist={"1": 5.0})):
        with pytest.raises(CryodedupError, match="these particles have no species"):
            remove_duplicate_particles([tmp_path / "a.star"], tmp_path / "out", options)
    with pytest.raises(CryodedupError, match="--species given 2 time"):
        remove_duplicate_particles([tmp_path / "a.star"], tmp_path / "out", ParticleOptions(species=["a", "b"]))
    with pytest.raises(CryodedupError, match="--species-column rlnNope: no such column"):
        remove_duplicate_particles([tmp_path / "a.star"], tmp_path / "out", ParticleOptions(species_column="rlnNope"))


def test_a_continuous_species_column_is_refused(tmp_path):
    # rlnLCCmax given as the species column by mistake: 6 picks, 6 distinct fractional values.
    rows = [("TS_01", 100 * k, 0, 0, 0.11 + 0.1 * k, 1) for k in range(6)]
    write_tomo_star(tmp_path / "a.star", rows)
    options = ParticleOptions(species_column="rlnLCCmax", score="rlnLCCmax")
    with pytest.raises(CryodedupError, match=r"rlnLCCmax: 6 distinct values, values like 0\.11 are not whole"):
        remove_duplicate_particles([tmp_path / "a.star"], tmp_path / "out", options)
    # Whole numbers, but more of them than any classification makes: refused too.
    many = [("TS_01", 100 * k, 0, 0, 0.5, k + 1) for k in range(1001)]
    write_tomo_star(tmp_path / "b.star", many)
    with pytest.raises(CryodedupError, match="1,001 distinct values, that is too many species"):
        remove_duplicate_particles(
            [tmp_path / "b.star"], tmp_path / "out", ParticleOptions(species_column="rlnClassNumber")
        )


def test_the_summary_lists_at_most_twenty_species():
    from cryodedup.report.sections import Species, SpeciesCounts

    per = tuple(SpeciesCounts(str(k), 1, 1, 0, 20.0, None, None) for k in range(25))
    rows = Species(tuple(p.species for p in per), per).rows("tomogram")
    lines = rows[0][1].splitlines()
    assert (
        len(lines) == 21
        and lines[0].startswith("0: 1 in")
        and lines[-1] == "... and 5 more species (--json lists each)"
    )


def test_consensus_within_species_says_why_a_species_cannot_be_confirmed(tmp_path):
    # Two ribosome inputs and one proteasome input, all on TS_01. By hand, at --min-support 2: A's 0 Å pick
    # and B's 10 Å pick confirm each other (B's kept, 0.6 > 0.5); A's 1000 Å and B's 3000 Å picks stand
    # alone (rejected); the proteasomes, one input's, cannot be confirmed (kept). Agreement of A and B:
    # m(A,B) = m(B,A) = 1, J = 1 / (2 + 2 - 1); the proteasome input shares no species with them (None).
    write_tomo_star(tmp_path / "a.star", [("TS_01", 0, 0, 0, 0.5, 1), ("TS_01", 1000, 0, 0, 0.4, 1)])
    write_tomo_star(tmp_path / "b.star", [("TS_01", 10, 0, 0, 0.6, 1), ("TS_01", 3000, 0, 0, 0.3, 1)])
    write_tomo_star(tmp_path / "c.star", [("TS_01", 500, 0, 0, 0.7, 1), ("TS_01", 2000, 0, 0, 0.2, 1)])
    options = ParticleOptions(
        score="rlnLCCmax",
        species=["ribosome", "ribosome", "proteasome"],
        species_min_dist={"ribosome": 120.0, "proteasome": 60.0},
        min_support=2,
    )
    paths = [tmp_path / name for name in ("a.star", "b.star", "c.star")]
    summary = remove_duplicate_particles(paths, tmp_path / "out", options)
    kept = (tmp_path / "out" / "particles_kept.star").read_text().splitlines()
    assert sorted(int(line.split()[1]) for line in kept if line.startswith("TS_01")) == [10, 500, 2000]
    assert summary.warnings == [
        "2 proteasome picks on 1 micrograph (e.g. TS_01): 1 input holds proteasome; --min-support 2 is asked "
        "within each species, so it cannot be asked of these 2 picks: kept (--uncovered reject rejects them)"
    ]
    consensus = summary.to_json()["consensus"]
    assert consensus["jaccard"] == [[1.0, 0.3333, None], [0.3333, 1.0, None], [None, None, 1.0]]
    assert consensus["least_agreement"] == [{"micrograph": "TS_01", "mean_jaccard": 0.3333}]
    assert consensus["no_species_in_common"] == [[0, 2], [1, 2]]


def test_a_priority_level_goes_before_any_percentile():
    # (--prefer's levels, lower first): the worst pick of a preferred species outranks the best of another.
    from cryodedup.algo.species import cross_species_ranks

    scores = np.array([0.1, 0.9, 5.0, 1.0])
    species = np.array([0, 0, 1, 1], dtype=np.uint32)
    plain = cross_species_ranks(scores, species, True, 0)
    assert plain.tolist() == [0.25, 0.75, 0.75, 0.25]
    ranked = cross_species_ranks(scores, species, True, 0, priority=np.array([0, 0, 1, 1], dtype=np.uint32))
    assert np.argsort(-ranked, kind="stable").tolist() == [1, 0, 2, 3]


def pytom_job(path, rows):
    """A pytom-match-pick candidates file: tomogram, centre in voxels, angles, LCCmax (1 Å voxels)."""
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
    labels += ["rlnLCCmax", "rlnMicrographName"]
    lines = ["data_particles", "", "loop_", *(f"_{label}" for label in labels)]
    lines += [f"{x} {y} {z} 0 0 0 {lcc} {tomo}" for x, y, z, lcc, tomo in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_several_species_are_written_one_kept_and_one_rejected_file_each(tmp_path):
    """Two templates' candidates, --species ribosome --species proteasome: which template a kept pick
    belongs to survives in the files (issue 58, item 5), the combined files as they were."""
    from click.testing import CliRunner

    from cryodedup.cli import main

    ribosome = [(100, 100, 50, 0.9, "TS_01.mrc"), (105, 100, 50, 0.5, "TS_01.mrc"), (300, 300, 50, 0.4, "TS_02.mrc")]
    proteasome = [(102, 100, 50, 0.7, "TS_01.mrc"), (400, 100, 50, 0.3, "TS_01.mrc"), (403, 100, 50, 0.2, "TS_01.mrc")]
    first = pytom_job(tmp_path / "ribosome_particles.star", ribosome)
    second = pytom_job(tmp_path / "proteasome_particles.star", proteasome)
    out = tmp_path / "out"
    args = ["particles", first, second, "-o", out, "--mic-psize", "1", "--min-dist", "10", "--score", "rlnLCCmax"]
    result = CliRunner().invoke(main, [str(a) for a in [*args, "--species", "ribosome", "--species", "proteasome"]])
    assert result.exit_code == 0, result.output

    def rows(name):
        return [line.split() for line in (out / name).read_text().splitlines() if line[:1].isdigit()]

    # By hand: within each species, the better of two picks 5 Å (3 Å) apart; the species apart at 2 Å.
    assert [r[6] for r in rows("particles_kept_ribosome.star")] == ["0.9", "0.4"]
    assert [r[6] for r in rows("particles_rejected_ribosome.star")] == ["0.5"]
    assert [r[6] for r in rows("particles_kept_proteasome.star")] == ["0.7", "0.3"]
    assert [r[6] for r in rows("particles_rejected_proteasome.star")] == ["0.2"]
    assert [r[6] for r in rows("particles_kept.star")] == ["0.9", "0.4", "0.7", "0.3"]  # (as before)
    assert [r[6] for r in rows("particles_rejected.star")] == ["0.5", "0.2"]

    def header(name):
        return [line for line in (out / name).read_text().splitlines() if not line[:1].isdigit()]

    assert header("particles_kept_ribosome.star") == header("particles_kept.star")  # (one header for all)
    clash = CliRunner().invoke(main, [str(a) for a in [*args, "--force", "--species", "a/b", "--species", "a b"]])
    assert clash.exit_code != 0 and "species a/b, a b would share the output files *_a-b.star" in clash.output
