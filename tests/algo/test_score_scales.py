"""The score-scale warning: said when the inputs' scores are on different scales, not for copies of one picker.

Which inputs share a scale is known from how each case is built (one picker's particles split
in two, or two pickers), not from the code; the distance itself is checked against scipy.
"""

from __future__ import annotations

import numpy as np
import pytest
import starfile
from scipy.stats import ks_2samp

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.algo.dedup import SCALE_DISTANCE, score_distance
from cryodedup.cli import EXAMPLES
from helpers import shared_file

AUTOPICK = "picks/3dem__20170629_00049_frameImage_autopick.star"


@pytest.mark.parametrize(("n_a", "n_b"), [(1, 1), (7, 30), (500, 800), (1999, 2000)])
def test_score_distance_is_the_kolmogorov_smirnov_statistic(n_a, n_b):
    rng = np.random.default_rng(n_a)
    a = rng.normal(0, 1, n_a).round(1)  # ties, as figures of merit written with few decimals have
    b = rng.normal(0.3, 2, n_b).round(1)
    assert score_distance(a, b) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)
    with_nan = np.concatenate([a, [np.nan, np.nan]])
    assert score_distance(with_nan, b) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)


def test_score_distance_of_big_inputs_is_close_to_the_exact_one():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 300_000), rng.normal(0.05, 1, 250_000)
    assert score_distance(a, b) == pytest.approx(ks_2samp(a, b).statistic, abs=0.01)


def split_by_micrograph(star, folder):
    """One picker's particle STAR as two Extract jobs, alternate micrographs in each."""
    blocks = starfile.read(star, always_dict=True)
    particles = blocks["particles"]
    mics = sorted(particles["rlnMicrographName"].unique())
    halves = []
    for k in range(2):
        path = folder / f"job{k}/particles.star"
        path.parent.mkdir(parents=True)
        rows = particles[particles["rlnMicrographName"].isin(mics[k::2])]
        starfile.write({"optics": blocks["optics"], "particles": rows}, path)
        halves.append(path)
    return halves


def scale_warnings(summary):
    """The warnings about score scales (old wording "rarely on one scale", new "different scales")."""
    return [w for w in summary.warnings if "scale" in w]


def test_particle_files_of_one_picker_are_not_warned_about_but_two_pickers_are(tmp_path):
    # The packaged template picker's particles in two files: one picker, one scale.
    template = EXAMPLES / "particles_template.star"
    halves = split_by_micrograph(template, tmp_path)
    options = ParticleOptions(min_dist=100.0, plot=True, plot_mics=0)
    summary = remove_duplicate_particles(halves, tmp_path / "one", options)
    assert summary.to_json()["score"]["column"] == "rlnAutopickFigureOfMerit"
    assert not scale_warnings(summary) and "scale" not in summary.to_json()["score"]
    assert "different scales" not in (tmp_path / "one/report.html").read_text()
    # The LoG picker's particles with the template's: LoG figures of merit near 0.4, template near 3.
    log = EXAMPLES / "particles_log.star"
    summary = remove_duplicate_particles([log, halves[0]], tmp_path / "two", options)
    (said,) = scale_warnings(summary)
    medians = [f"{starfile.read(f)['particles']['rlnAutopickFigureOfMerit'].median():.3g}" for f in (log, halves[0])]
    assert f"(particles_log.star: median {medians[0]}; particles.star: median {medians[1]};" in said, said
    assert "on different scales" in summary.to_json()["score"]["scale"]
    assert "on different scales" in (tmp_path / "two/report.html").read_text()


def relion31_coordinates(source, path, rows, scale=1.0):
    """A RELION 3.1 coordinate file with ``rows`` of the real one, its figures of merit times ``scale``."""
    lines = source.read_text().splitlines()
    header = [line for line in lines if line[:1] != " " or not line.split()]
    data = [line.split() for line in lines if line[:1] == " " and line.split()]
    body = [f"{x} {y} {float(fom) * scale:.6f} {cls} {psi}" for x, y, fom, cls, psi in (data[k] for k in rows)]
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(header[: header.index("_rlnAnglePsi #5 ") + 1] + body) + "\n")


@pytest.mark.real_data
def test_picker_runs_of_one_picker_are_not_warned_about_but_other_scales_are(tmp_path):
    # The real autopick file (195 LoG picks on one micrograph, sorted by figure of merit):
    # alternate rows as two runs of the same picker; then one run's scores 20 times larger,
    # as a template picker's (0-3) next to LoG's (0-0.2).
    source = shared_file(AUTOPICK)
    for k in range(2):
        relion31_coordinates(source, tmp_path / f"same{k}/mic_autopick.star", range(k, 195, 2))
    options = ParticleOptions(min_dist=50.0, mic_psize=0.885)
    runs = [tmp_path / f"same{k}/mic_autopick.star" for k in range(2)]
    summary = remove_duplicate_particles(runs, tmp_path / "same", options)
    assert summary.particles == 195 and not scale_warnings(summary)
    relion31_coordinates(source, tmp_path / "other/mic_autopick.star", range(1, 195, 2), scale=20.0)
    summary = remove_duplicate_particles([runs[0], tmp_path / "other/mic_autopick.star"], tmp_path / "other", options)
    (said,) = scale_warnings(summary)
    assert "different scales" in said and "rlnAutopickFigureOfMerit" in said and "--score-normalize rank" in said
    fom = np.array(
        [float(line.split()[2]) for line in source.read_text().splitlines() if line[:1] == " " and line.split()]
    )
    assert len(fom) == 195
    assert ks_2samp(fom[0::2], fom[1::2]).statistic < SCALE_DISTANCE < ks_2samp(fom[0::2], 20 * fom[1::2]).statistic


def test_inputs_prefer_ranks_apart_are_not_warned_about_their_scales(tmp_path):
    # Issue 63 item 3: with --prefer the warning "the input with the larger numbers wins nearly
    # every group" sat beside "182 groups decided by priority, 0 by score". Between inputs at
    # different --prefer levels the priority decides; the score only within an input.
    log, template = (EXAMPLES / f"particles_{picker}.star" for picker in ("log", "template"))
    options = ParticleOptions(min_dist=100.0, prefer=[str(log)])
    summary = remove_duplicate_particles([log, template], tmp_path / "star", options)
    assert summary.to_json()["priority"]["by_priority"] == 182 and summary.to_json()["priority"]["by_score"] == 0
    assert not scale_warnings(summary) and "scale" not in summary.to_json()["score"]
    # A third input at the level of the others (not named): its scale against theirs is still said.
    third = tmp_path / "third/particles.star"
    third.parent.mkdir()
    third.write_bytes(template.read_bytes())
    summary = remove_duplicate_particles([log, template, third], tmp_path / "three", options)
    assert not scale_warnings(summary)  # (template and its copy: one scale)
    summary = remove_duplicate_particles(
        [template, log, third], tmp_path / "four", ParticleOptions(min_dist=100.0, prefer=[str(third)])
    )
    assert len(scale_warnings(summary)) == 1  # (log and template share the last level)


@pytest.mark.real_data
def test_picker_runs_prefer_ranks_apart_are_not_warned_about_their_scales(tmp_path):
    source = shared_file(AUTOPICK)
    relion31_coordinates(source, tmp_path / "same/mic_autopick.star", range(0, 195, 2))
    relion31_coordinates(source, tmp_path / "other/mic_autopick.star", range(1, 195, 2), scale=20.0)
    runs = [tmp_path / "same/mic_autopick.star", tmp_path / "other/mic_autopick.star"]
    options = ParticleOptions(min_dist=50.0, mic_psize=0.885)
    assert len(scale_warnings(remove_duplicate_particles(runs, tmp_path / "no", options))) == 1
    options = ParticleOptions(min_dist=50.0, mic_psize=0.885, prefer=[str(runs[1])])
    assert not scale_warnings(remove_duplicate_particles(runs, tmp_path / "yes", options))
