"""--plot with several species (cryo-ET template matching, one table per species): each species'
distance named, one nearest-neighbour histogram per species, the species told apart on the
example tomograms, and picks displaced by another species (--cross-species) drawn as such.
Checked against brute force over the coordinates written and the options given."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("PIL")

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.report.canvas import KEPT_COLOUR, rgb
from fixtures.pictures import capture_pictures

DISTANCES = {"ribosome": 120.0, "proteasome": 60.0}
#: The default --min-dist, which the run did not use.
DEFAULT_DISTANCE = re.compile(r"(?<![\d.])20 Å")


def pytom_table(path, rows):
    """A pytom-match-pick candidates file: centre in voxels (1 Å here), angles, LCCmax, tomogram."""
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
    labels += ["rlnLCCmax", "rlnMicrographName"]
    lines = ["data_particles", "", "loop_", *(f"_{label}" for label in labels)]
    lines += [f"{x:.3f} {y:.3f} {z:.3f} 0 0 0 {lcc:.4f} {tomo}" for x, y, z, lcc, tomo in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def crowded_tables(tmp_path, seed=4):
    """Two species' candidates on two tomograms, each true particle picked once or twice nearby.

    Returns the two tables and each table's rows (x, y, z, score, tomogram).
    """
    rng = np.random.default_rng(seed)
    tables, rows_of = [], {}
    for name, jitter in (("ribosome", 50.0), ("proteasome", 25.0)):
        rows = []
        for tomo in ("TS_01.mrc", "TS_02.mrc"):
            for centre in rng.uniform([0, 0, 0], [3000, 3000, 800], (25, 3)):
                for _ in range(rng.integers(1, 3)):
                    x, y, z = centre + rng.normal(0, jitter, 3)
                    rows.append((x, y, z, rng.uniform(0.1, 0.5), tomo))
        rows_of[name] = rows
        tables.append(pytom_table(tmp_path / f"{name}_particles.star", rows))
    return tables, rows_of


def species_run(tmp_path, monkeypatch, tables, species=tuple(DISTANCES), **extra):
    drawn = capture_pictures(monkeypatch)
    options = ParticleOptions(
        mic_psize=1.0,
        score="rlnLCCmax",
        species=list(species),
        species_min_dist=dict(DISTANCES),
        plot=True,
        plot_mics=2,
        **extra,
    )
    summary = remove_duplicate_particles(tables, tmp_path / "out", options)
    return summary, {name: picture for name, _, picture in drawn}


def brute_nearest(rows, z_scale=1.0):
    """Each row's distance to the nearest other row of its tomogram (inf when alone), z scaled by ``z_scale``."""
    xyz = np.array([r[:3] for r in rows], dtype=float) * [1, 1, z_scale]
    tomo = np.array([r[4] for r in rows])
    d = np.linalg.norm(xyz[:, None] - xyz[None], axis=2)
    d[tomo[:, None] != tomo[None]] = np.inf
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


@pytest.mark.parametrize("min_dist_z", [None, 100.0])
def test_each_species_has_its_own_nearest_neighbour_histogram_and_distance(tmp_path, monkeypatch, min_dist_z):
    # --min-dist-z: each species' ellipsoid, its distance in x and y, min_dist_z in z: z scaled by d / min_dist_z.
    tables, rows_of = crowded_tables(tmp_path)
    _, pictures = species_run(tmp_path, monkeypatch, tables, min_dist_z=min_dist_z)
    (panel,) = pictures["nn_distances.png"].panels
    top = 5 * max(DISTANCES.values())  # the axis reaches 5 x the largest distance
    for name, distance in DISTANCES.items():
        # Within the species: what the rule decides.
        nearest = brute_nearest(rows_of[name], 1.0 if min_dist_z is None else distance / min_dist_z)
        expected, _ = np.histogram(np.clip(nearest[np.isfinite(nearest)], 0, top), bins=100, range=(0, top))
        counts, edges = panel.marks[f"distances:{name}"]
        assert counts.tolist() == expected.tolist()
        assert np.allclose(edges, np.linspace(0, top, 101))
        assert panel.marks[f"min_dist:{name}"] == distance
        within = int(np.count_nonzero(nearest <= distance))
        assert (
            f"{name}: minimum distance {distance:g} Å, {within:,} of {len(nearest):,} within it" in panel.legend.labels
        )
    assert not [label for label in panel.legend.labels if DEFAULT_DISTANCE.search(label)]


def test_the_example_tomograms_name_each_species_distance_and_colour_the_species(tmp_path, monkeypatch):
    tables, _ = crowded_tables(tmp_path)
    _, pictures = species_run(tmp_path, monkeypatch, tables)
    example = pictures["example_tomogram_1.png"]
    assert "minimum distance in 3D: 120 Å for ribosome, 60 Å for proteasome" in example.title
    assert not DEFAULT_DISTANCE.search(example.title)
    patches = {label: colour for kind, colour, label in example.legend.entries if kind == "patch"}
    assert set(patches) == set(DISTANCES) and len(set(patches.values())) == 2
    # Drawn in the picture: both species' colours in the kept panel, where one species was all green.
    ax_kept = example.panels[0]
    x0, y0, x1, y1 = (round(v) for v in ax_kept.box)
    pixels = example.pixels()[y0:y1, x0:x1].astype(int)
    for colour in [*patches.values(), KEPT_COLOUR]:
        near = np.abs(pixels - np.array(rgb(colour))).sum(axis=2) < 30
        assert near.any() == (colour != KEPT_COLOUR), colour


def test_picks_displaced_by_another_species_are_their_own_category(tmp_path, monkeypatch):
    # By hand, on TS_01: ribosome r1 (LCC 0.9) at 1000 Å; r3 (0.5) 5 Å from it, a duplicate within
    # 120 Å; proteasome p1 (0.3) 50 Å from r1, under the sum of radii (130 + 60): r1 is the better of
    # its species, p1 the worse of its two, so p1 is displaced by r1. r2 and p2 far away, kept.
    ribosome = [(1000, 1000, 400, 0.9, "TS_01.mrc"), (3000, 200, 400, 0.1, "TS_01.mrc")]
    ribosome.append((1005, 1000, 400, 0.5, "TS_01.mrc"))
    proteasome = [(1050, 1000, 400, 0.3, "TS_01.mrc"), (200, 3000, 400, 0.8, "TS_01.mrc")]
    tables = [pytom_table(tmp_path / "r.star", ribosome), pytom_table(tmp_path / "p.star", proteasome)]
    radius = {"ribosome": 130.0, "proteasome": 60.0}
    summary, pictures = species_run(tmp_path, monkeypatch, tables, cross_species=True, radius=radius)
    assert summary.kept == 3
    picture = pictures["example_tomogram_1.png"]
    ax_rejected = picture.panels[1]
    assert ax_rejected.marks["rejected"].tolist() == [[1005, 1000]]
    assert ax_rejected.marks["displaced"].tolist() == [[1050, 1000]]
    assert ax_rejected.marks["displaced_by"].tolist() == [[[1050, 1000], [1000, 1000]]]
    assert len(ax_rejected.marks["unconfirmed"]) == 0
    assert ax_rejected.title == "rejected: 2 (duplicates: 1, overlapping another species: 1)"
    labels = picture.legend.labels
    assert "rejected: overlaps a kept pick of another species (--cross-species)" in labels
    assert not [label for label in labels if "--min-support" in label]


def test_the_consensus_picture_counts_displaced_picks_apart(tmp_path, monkeypatch):
    # A picker's ribosomes, hand-picked ribosomes and the proteasomes on TS_01. By hand: the hand pick
    # 10 Å from r1 is its duplicate (and confirms it); p1, 50 Å from r1, is displaced by it (r1 the best
    # ribosome, p1 the worse proteasome); r2 and p2 stand alone.
    picker = [(1000, 1000, 400, 0.9, "TS_01.mrc"), (3000, 200, 400, 0.1, "TS_01.mrc")]
    hand = [(1010, 1000, 400, 0.5, "TS_01.mrc")]
    proteasome = [(1050, 1000, 400, 0.3, "TS_01.mrc"), (200, 3000, 400, 0.8, "TS_01.mrc")]
    tables = [pytom_table(tmp_path / f"{name}.star", rows) for name, rows in (("a", picker), ("b", hand))]
    tables.append(pytom_table(tmp_path / "p.star", proteasome))
    radius = {"ribosome": 130.0, "proteasome": 60.0}
    species = ["ribosome", "ribosome", "proteasome"]
    _, pictures = species_run(tmp_path, monkeypatch, tables, species, cross_species=True, radius=radius)
    (panel,) = pictures["consensus.png"].panels
    assert panel.marks["kept_confirmed"].tolist() == [1, 0, 0]
    assert panel.marks["kept_alone"].tolist() == [1, 0, 1]
    assert panel.marks["rejected_duplicate"].tolist() == [0, 1, 0]
    assert panel.marks["rejected_displaced"].tolist() == [0, 0, 1]
    assert "rejected: overlaps a kept pick of another species (--cross-species)" in panel.legend.labels


def test_one_species_at_its_own_distance_is_titled_with_it(tmp_path, monkeypatch):
    # --species ribosome --min-dist ribosome=120: the run's one distance is 120 Å, not the default.
    tables, _ = crowded_tables(tmp_path)
    drawn = capture_pictures(monkeypatch)
    options = ParticleOptions(
        mic_psize=1.0, species=["ribosome"], species_min_dist={"ribosome": 120.0}, plot=True, plot_mics=1
    )
    remove_duplicate_particles(tables[:1], tmp_path / "out", options)
    pictures = {name: picture for name, _, picture in drawn}
    assert "(minimum distance 120 Å in 3D)" in pictures["example_tomogram_1.png"].title
    (panel,) = pictures["nn_distances.png"].panels
    assert panel.marks["min_dist"] == 120.0


def test_more_species_than_colours_draw_those_with_the_most_picks(tmp_path, monkeypatch):
    # Eight species of 1 to 8 picks each on one tomogram (class numbers): the six with the most drawn apart.
    rng = np.random.default_rng(1)
    rows = [(*rng.uniform(0, 3000, 3), 0.5, "TS_01.mrc", s) for s in range(1, 9) for _ in range(s)]
    lines = ["data_particles", "", "loop_"]
    lines += [f"_{label}" for label in ("rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ", "rlnLCCmax")]
    lines += ["_rlnMicrographName", "_rlnClassNumber"]
    lines += [f"{x:.2f} {y:.2f} {z:.2f} {lcc} {tomo} {s}" for x, y, z, lcc, tomo, s in rows]
    (tmp_path / "classes.star").write_text("\n".join(lines) + "\n")
    drawn = capture_pictures(monkeypatch)
    options = ParticleOptions(mic_psize=1.0, species_column="rlnClassNumber", plot=True, plot_mics=1)
    remove_duplicate_particles([tmp_path / "classes.star"], tmp_path / "out", options)
    pictures = {name: picture for name, _, picture in drawn}
    (panel,) = pictures["nn_distances.png"].panels
    assert sorted(k.split(":")[1] for k in panel.marks if k.startswith("distances:")) == ["3", "4", "5", "6", "7", "8"]
    assert "the 6 species with the most picks of 8" in panel.title
    patches = [label for kind, _, label in pictures["example_tomogram_1.png"].legend.entries if kind == "patch"]
    assert patches == ["3", "4", "5", "6", "7", "8", "2 other species"]
