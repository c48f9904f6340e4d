"""``--plot``'s counts and files made by the one-pass scan batch by batch: the nearest-neighbour
histogram and each micrograph's picks and kept picks, checked against a numpy brute force (every
pair of a micrograph measured) on random sets over several of the scan's batches; the pictures
and the page's files of picks against those the two-pass route makes after deciding."""

from __future__ import annotations

import numpy as np
import pytest

from cryodedup.formats.star import particles as particles_star
from cryodedup.jobs.particles.job import run
from cryodedup.jobs.particles.pictures import picture_details as _picture_details
from cryodedup.jobs.particles.plan import plan
from cryodedup.jobs.particles.read import Files
from cryodedup.options import ParticleOptions
from cryodedup.outputs import output_batch
from cryodedup.report import particle_charts
from fixtures.synthetic import write_benchmark_file


def _nearest_by_brute_force(groups: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each row's distance to the nearest other row of its micrograph (inf: alone), every pair measured.

    The micrographs of each size measured together: (micrographs, size, size) distances at once.
    """
    order = np.argsort(groups, kind="stable")
    starts = np.flatnonzero(np.r_[True, groups[order][1:] != groups[order][:-1], True])
    sizes = np.diff(starts)
    nearest = np.full(len(groups), np.inf)
    for size in np.unique(sizes[sizes > 1]):
        firsts = starts[:-1][sizes == size]
        for chunk in np.array_split(firsts, max(1, len(firsts) * size * size // 2_000_000)):
            rows = order[chunk[:, None] + np.arange(size)[None, :]]  # (micrographs, size)
            c = centres[rows]
            d = np.sqrt(((c[:, :, None, :] - c[:, None, :, :]) ** 2).sum(axis=3))
            d[:, np.arange(size), np.arange(size)] = np.inf
            nearest[rows] = d.min(axis=2)
    return nearest


def _histogram_by_brute_force(nearest: np.ndarray, min_dist: float) -> tuple[np.ndarray, int]:
    """The picture's histogram: 100 bins to max(5 min_dist, 200) Å, farther ones in the last; those within min_dist."""
    top = max(5 * min_dist, 200.0)
    measured = nearest[np.isfinite(nearest)]
    counts, _ = np.histogram(np.minimum(measured, top), bins=np.linspace(0, top, 101))
    return counts, int((measured <= min_dist).sum())


def picture_details(particles, decision, options):
    """What the pictures are drawn from, the plan resolved for the rows as the job resolves it."""
    job = plan(options).for_rows(particles)
    return _picture_details(particles, decision, job.deciding, job.output.registration)


def _job(path, outdir, options):
    with output_batch():
        return run(Files.of([path]), outdir, plan(options))


@pytest.mark.parametrize(("per_mic", "min_dist", "seed"), [(300, 30.0, 1), (4, 60.0, 2), (40, 8.0, 3)])
def test_the_scans_counts_are_the_brute_forces(tmp_path, per_mic, min_dist, seed):
    path = tmp_path / "p.star"
    write_benchmark_file(path, 150_000, per_mic=per_mic, seed=seed)  # (over three of the scan's batches of 65,536)
    options = ParticleOptions(min_dist=min_dist, score="rlnMaxValueProbDistribution", plot=True)
    outcome = _job(path, tmp_path / "out", options)
    particles, keep = outcome.particles, outcome.decision.keep
    counted = particles.decided_counts
    assert counted is not None and counted.nearest is not None  # (counted by the scan, as it decided)
    nearest = _nearest_by_brute_force(particles.groups, particles.centres)
    counts, within = _histogram_by_brute_force(nearest, min_dist)
    assert within > 0 and np.isfinite(nearest).sum() > 100_000
    np.testing.assert_array_equal(counted.nearest[0], counts)
    assert counted.nearest[1] == within
    n_mics = len(particles.mic_names)
    np.testing.assert_array_equal(counted.picks, np.bincount(particles.groups, minlength=n_mics))
    np.testing.assert_array_equal(counted.kept, np.bincount(particles.groups[keep], minlength=n_mics))
    # What the pictures draw is those counts.
    details = picture_details(particles, outcome.decision, options)
    drawn = particle_charts._nearest_counts(details)
    np.testing.assert_array_equal(drawn.counts, counts[None, :])
    np.testing.assert_array_equal(drawn.within, [within])
    np.testing.assert_array_equal(details.picks_per_micrograph, np.bincount(particles.groups, minlength=n_mics))
    np.testing.assert_array_equal(
        details.rejected_per_micrograph, np.bincount(particles.groups[~keep], minlength=n_mics)
    )


@pytest.mark.parametrize(
    "asks", [{"score": "rlnMaxValueProbDistribution"}, {"score": "none"}, {"remove_entirely": True, "decisions": True}]
)
def test_the_pictures_and_page_are_those_of_the_two_passes(tmp_path, monkeypatch, asks):
    # The same PNG bytes and page files (the index and every file of picks: each rejected pick's
    # rule and partner) whether the scan made them as it decided (one pass) or the job after it (two).
    path = tmp_path / "p.star"
    write_benchmark_file(path, 80_000, per_mic=200, seed=5)  # (400 micrographs: 8 files of picks)
    options = ParticleOptions(min_dist=25.0, plot=True, **asks)
    one = _job(path, tmp_path / "one", options)
    with monkeypatch.context() as patch:
        patch.setattr(particles_star, "start_split", lambda *args: None)
        two = _job(path, tmp_path / "two", options)
    made = one.particles.decided_counts
    assert made is not None and made.page is not None and made.page.files == 8
    with pytest.raises(ValueError, match="written already"):  # (the page took the scan's files)
        made.page.write([tmp_path / f"again_{k}.js" for k in range(8)])
    assert two.particles.decided_counts is None
    names = ["nn_distances.png", "rejected_per_micrograph.png", "duplicate_fraction.png"]
    names += [f"micrographs/{p.name}" for p in sorted((tmp_path / "two" / "micrographs").glob("*.js"))]
    assert len(names) == 3 + 1 + 8 + 8  # (the index, the files of picks and of names)
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_a_scan_given_another_distance_is_not_drawn(tmp_path):
    # The counts are used only for the histogram they were asked for (its reach, bins and distance).
    path = tmp_path / "p.star"
    write_benchmark_file(path, 5_000, per_mic=100, seed=4)
    options = ParticleOptions(min_dist=30.0, score="rlnMaxValueProbDistribution", plot=True)
    outcome = _job(path, tmp_path / "out", options)
    details = picture_details(outcome.particles, outcome.decision, options)
    assert particle_charts._counted_by_the_scan(details) is not None
    other = picture_details(outcome.particles, outcome.decision, ParticleOptions(min_dist=50.0, plot=True))
    assert particle_charts._counted_by_the_scan(other) is None
    nearest = _nearest_by_brute_force(outcome.particles.groups, outcome.particles.centres)
    counts, within = _histogram_by_brute_force(nearest, 50.0)
    drawn = particle_charts._nearest_counts(other)
    np.testing.assert_array_equal(drawn.counts, counts[None, :])
    np.testing.assert_array_equal(drawn.within, [within])


def test_the_scans_extent_and_each_micrographs_rows_are_numpys(tmp_path):
    # The frame of a micrograph without an image (every centre's lowest and highest) and the rows
    # an example draws, from the scan's counts, against numpy's min, max and a comparison of every row.
    path = tmp_path / "p.star"
    write_benchmark_file(path, 150_000, per_mic=40, seed=6)  # (over three of the scan's batches)
    options = ParticleOptions(min_dist=20.0, score="rlnMaxValueProbDistribution", plot=True)
    outcome = _job(path, tmp_path / "out", options)
    particles = outcome.particles
    counted = particles.decided_counts
    assert counted is not None and counted.extent is not None
    np.testing.assert_array_equal(counted.extent[0], particles.centres.min(axis=0))
    np.testing.assert_array_equal(counted.extent[1], particles.centres.max(axis=0))
    details = picture_details(particles, outcome.decision, options)
    low, high = details.pick_extent
    np.testing.assert_array_equal(low, np.minimum(particles.centres.min(axis=0)[:2], 0.0))
    np.testing.assert_array_equal(high, particles.centres.max(axis=0)[:2])
    n_mics = len(particles.mic_names)
    for mic in (0, 1, n_mics // 2, n_mics - 1):
        np.testing.assert_array_equal(details.rows_of(mic), np.flatnonzero(particles.groups == mic))
