"""A pattern common to the images: told from the pairs, removed and screened again, or refused naming it.

A gain reference missing or wrong leaves one picture in every sum. The real 52 micrographs with a
smoothed random field of 0.2 of each image's SD added: every pair peaked at zero shift, 51 of 52
micrographs were rejected, and the verdict said TRUSTED. Synthetic sessions with a planted
pattern of known amplitude (the oracle: the truth they were written with) need no shared data.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from test_micrograph_trusted import plan_at

from cryodedup.cli import main
from cryodedup.jobs.micrographs.decide import COMMON, NULL_PAIRS, decide
from cryodedup.jobs.micrographs.pattern import estimate_pattern
from cryodedup.jobs.micrographs.plan import ScoringPlan, micrograph_plan
from cryodedup.jobs.micrographs.score import ScoredPairs
from cryodedup.options import MicrographOptions
from fixtures.synthetic import band_noise, multihole_scene, write_mrc
from helpers import shared_file

RULES = micrograph_plan(MicrographOptions()).decision

#: The planted re-exposures' shift, binned px (b[y, x] shows a[y + 12, x - 20]), and which pairs they are.
SHIFT = (12, -20)
LATER = 10
TRUTH = {(k, k + LATER) for k in range(4)}


def write_session(folder, level: float, seed: int = 0, group: range = range(20)) -> np.ndarray:
    """Twenty 160 x 224 images at 10 Å, 0..3 imaged again as 10..13 at SHIFT, those of ``group`` with one pattern added.

    Each image: a scene (particles, filaments, uneven ice), noise of half its SD, and ``level`` x
    its SD of the pattern. Returns the pattern.
    """
    rng = np.random.default_rng(seed)
    ny, nx, (dy, dx) = 160, 224, SHIFT
    pattern = band_noise(np.random.default_rng(99), ny, nx, 10.0, 25.0, 200.0)
    scenes = {}
    for k in range(20):
        if LATER <= k < LATER + 4:
            scene = scenes[k - LATER][dy : dy + ny, 30 + dx : 30 + dx + nx]
        else:
            scenes[k] = multihole_scene(rng, ny + 40, nx + 60, 10.0, 0.3)
            scene = scenes[k][:ny, 30 : 30 + nx]
        image = scene + 0.5 * scene.std() * rng.normal(size=(ny, nx))
        added = level * image.std() * pattern if k in group else 0.0
        write_mrc(folder / f"m{k:02d}.mrc", image + added, 10.0)
    return pattern


def screen(folder, out, *extra: str) -> tuple[int, dict | str, list[dict]]:
    """The screen's exit code, its --json summary (or its output when it refused) and pairs.csv's rows."""
    import csv

    args = ["micrographs", str(folder / "*.mrc"), "-o", str(out), "--json", "-q", *extra]
    result = CliRunner().invoke(main, args)
    if result.exit_code != 0:
        return result.exit_code, result.output, []
    with open(out / "pairs.csv") as f:
        return 0, json.loads(result.stdout), list(csv.DictReader(f))


def found(pairs: list[dict]) -> set[tuple[int, int]]:
    return {(int(p["index_a"]), int(p["index_b"])) for p in pairs if p["duplicate"] == "1"}


def test_a_pattern_every_image_holds_is_removed_and_the_reexposures_found(tmp_path):
    # Without the pattern: the 4 planted re-exposures, TRUSTED, nothing said of a pattern.
    (tmp_path / "clean").mkdir()
    write_session(tmp_path / "clean", level=0.0)
    code, summary, pairs = screen(tmp_path / "clean", tmp_path / "out_clean")
    assert code == 0 and found(pairs) == TRUTH
    assert summary["verdict"]["line"].endswith("Verdict: TRUSTED")
    assert not any("pattern common" in w for w in summary["warnings"])
    # With 0.2 of each image's SD of one pattern: every pair peaks at zero shift, and the screen
    # said "No duplicate micrographs, TRUSTED"; the pattern removed, the same 4 at SHIFT.
    (tmp_path / "pattern").mkdir()
    write_session(tmp_path / "pattern", level=0.2)
    code, summary, pairs = screen(tmp_path / "pattern", tmp_path / "out")
    assert code == 0 and found(pairs) == TRUTH
    for p in pairs:
        if p["duplicate"] == "1":
            assert abs(int(p["shift_y_px"]) - SHIFT[0]) <= 1 and abs(int(p["shift_x_px"]) - SHIFT[1]) <= 1
    (warning,) = [w for w in summary["warnings"] if "pattern common" in w]
    assert "190 of the 190 pairs peak at one shift (x 0, y 0 binned px)" in warning and "removed" in warning
    assert "Verdict: TRUSTED. Check: a pattern common to the images" in summary["verdict"]["line"]


def test_a_pattern_that_cannot_be_removed_is_refused_naming_it(tmp_path):
    # An --update round scores only new pairs against its store: it cannot score them all again
    # without the pattern, so it refuses, naming the cause, and writes nothing.
    (tmp_path / "pattern").mkdir()
    write_session(tmp_path / "pattern", level=0.2)
    code, output, _ = screen(tmp_path / "pattern", tmp_path / "out", "--update")
    assert code == 1
    assert "the decision cannot be trusted, nothing written: 190 of the 190 pairs peak at one shift" in output
    assert "a pattern common to the images (a gain reference missing or wrong" in output
    assert "Check the gain reference" in output and "Traceback" not in output
    assert not (tmp_path / "out" / "pairs.csv").exists()


def test_the_pattern_removed_is_the_one_planted(tmp_path):
    # The oracle: each image written with and without the planted pattern, at an amplitude of
    # 0.1-0.4 of its SD. The pattern each image holds (its projection on the planted one in the
    # screen's band, less its scene's own) falls to under a tenth in most images once the estimate
    # is removed (a plain mean fitted over the whole image: a quarter, the real set at 0.2 SD).
    import cryodedup._core as _core

    rng = np.random.default_rng(3)
    pattern = band_noise(np.random.default_rng(99), 160, 224, 10.0, 25.0, 200.0)
    amplitudes, paths, scenes = rng.uniform(0.1, 0.4, 30), [], []
    for k, amplitude in enumerate(amplitudes):
        paths.append(tmp_path / f"m{k:02d}.mrc")
        scenes.append(multihole_scene(rng, 160, 224, 10.0, 0.3))
        write_mrc(paths[-1], scenes[-1] + amplitude * scenes[-1].std() * pattern, 10.0)
    plan = plan_at(2, 20.0)
    plan.paths, plan.positions, plan.shape = [str(p) for p in paths], np.arange(len(paths)), (160, 224)
    plan.band = (80.0, 500.0)
    estimate = estimate_pattern(plan)
    planted = in_band(_core.bin_image(pattern, 2), plan)

    def held(image: np.ndarray) -> float:
        return float(np.vdot(in_band(image, plan), planted))

    own = np.array([held(_core.bin_image(scene.astype(np.float32), 2)) for scene in scenes])
    before = np.array([held(_core.bin_image(read(p), 2)) for p in paths]) - own
    after = np.array([held(estimate.remove(_core.bin_image(read(p), 2))) for p in paths]) - own
    assert np.corrcoef(before, amplitudes * [s.std() for s in scenes])[0, 1] > 0.99  # (the measure sees it)
    # (the estimate holds the scenes' mean too: a thirtieth of each, with the filaments they share)
    assert np.abs(after).mean() < 0.1 * before.mean() and np.median(np.abs(after) / before) < 0.1
    assert (np.abs(after) < 0.4 * before.mean()).all()


def read(path) -> np.ndarray:
    import mrcfile

    return mrcfile.read(path).astype(np.float32)


def in_band(image: np.ndarray, plan: ScoringPlan) -> np.ndarray:
    """The binned image band-passed to the screen's band (numpy, as an independent measure)."""
    ny, nx = image.shape
    k = np.hypot(np.fft.fftfreq(ny)[:, None], np.fft.rfftfreq(nx)[None, :]) / plan.binned_psize
    band = (k >= 1 / plan.band[1]) & (k <= 1 / plan.band[0])
    return np.fft.irfft2(np.fft.rfft2(image - image.mean()) * band, s=(ny, nx))


# --- told from the pairs ------------------------------------------------------------------------


def pairs_at(shift: tuple[int, int], share: float, agreeing: float = 0.0, count: int = 40) -> ScoredPairs:
    """Every pair of ``count`` images: ``share`` of them peaking at ``shift`` (z 30, Pearson 0.05), the rest anywhere.

    ``agreeing``: the share of the others whose images agree at their peak (Pearson 0.4, z 6).
    """
    rng = np.random.default_rng(0)
    a, b = np.triu_indices(count, 1)
    n = len(a)
    at, agree = np.arange(n) < share * n, (np.arange(n) >= share * n) & (np.arange(n) < (share + agreeing) * n)
    dy = np.where(at, shift[0], rng.integers(20, 100, n)).astype(float)
    dx = np.where(at, shift[1], rng.integers(-150, -30, n)).astype(float)
    z = np.where(at, 30.0, np.where(agree, 6.0, rng.uniform(4.0, 5.0, n)))
    pearson = np.where(at, 0.05, np.where(agree, 0.4, np.nan))
    return ScoredPairs(np.c_[a, b], z, dy, dx, pearson, np.full(n, 0.9))


@pytest.mark.parametrize("shift", [(0, 0), (10, -7)])
def test_most_pairs_at_one_shift_are_a_pattern_not_reexposures(shift):
    d = decide(pairs_at(shift, COMMON + 0.05), RULES, None, plan_at(2, 21.92))
    assert d.pattern is not None and "pairs peak at one shift" in d.pattern
    assert f"(x {shift[1]}, y {shift[0]} binned px)" in d.pattern
    assert d.untrusted.endswith("not re-exposures") and "a pattern common to the images" in d.untrusted
    assert not d.summary().verdict.trusted


def test_a_minority_at_one_shift_is_no_pattern_of_every_image():
    d = decide(pairs_at((10, -7), COMMON - 0.05), RULES, None, plan_at(2, 21.92))
    # (but its images, all duplicates of each other at that shift, are a group sharing one:
    # test_micrograph_pattern_group.py)
    assert d.pattern.startswith("40 micrographs are all duplicates of each other at one shift")
    assert "pairs peak at one shift" not in d.pattern


def test_most_pairs_agreeing_at_shifts_of_their_own_are_no_pattern():
    # Windows of one area overlapping each other (test_micrograph_job.py's 16): most pairs agree, each
    # at its own shift. A pattern puts them at one.
    d = decide(pairs_at((10, -7), 0.0, agreeing=0.9), RULES, None, plan_at(2, 21.92))
    assert d.pattern is None


def test_a_small_run_is_not_told_a_pattern():
    # Under NULL_PAIRS pairs (7 images: 21) the run is too small to tell a pattern from a hole imaged again.
    scores = pairs_at((10, -7), 0.9, count=7)
    assert len(scores) < NULL_PAIRS
    assert decide(scores, RULES, None, plan_at(2, 21.92)).pattern is None


def test_a_pattern_that_stays_after_its_removal_is_refused_saying_so():
    plan = plan_at(2, 21.92)
    plan.pattern = object()  # (removed once: the scores are those without it)
    d = decide(pairs_at((0, 0), 0.9), RULES, None, plan)
    assert d.untrusted.endswith("it stays after the mean of the normalised binned images was removed")


# --- the real 52 micrographs, a smoothed field added to every one --------------------------------

REAL_TRUTH = {(0, 36), (1, 37), (2, 38), (3, 39)}


def write_real_with_pattern(folder, level: float) -> None:
    """Each real micrograph with ``level`` x its SD of one smoothed random field added; the same headers.

    The field: Gaussian noise smoothed by a Gaussian of SD 3 pixels (1.5 binned pixels at 20 Å).
    """
    import mrcfile
    from scipy.ndimage import gaussian_filter

    source = shared_file("micrographs")
    paths = sorted(source.glob("*.mrc"))
    field = gaussian_filter(np.random.default_rng(0).normal(size=mrcfile.read(paths[0]).shape), 3.0)
    field = (field - field.mean()) / field.std()
    for path in paths:
        copy = folder / path.name
        shutil.copyfile(path, copy)
        with mrcfile.open(copy, "r+") as mrc:
            mrc.data[...] = mrc.data + (level * float(mrc.data.std()) * field).astype(np.float32)


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("level, target", [(0.3, 20), (0.1, 40)])
def test_real_set_with_a_fixed_pattern_finds_the_four_reexposures(tmp_path, level, target):
    # On main: 51 of 52 rejected, every pair at (0, 0), TRUSTED (0.1 at 40 Å: 1,326 duplicate pairs, "check 1").
    folder = tmp_path / "pattern"
    folder.mkdir()
    write_real_with_pattern(folder, level)
    code, summary, pairs = screen(folder, tmp_path / "out", "--target-psize", str(target))
    assert code == 0 and found(pairs) == REAL_TRUTH
    binning = summary["bin"]
    for p in pairs:
        if p["duplicate"] == "1":  # (the re-exposures' own shift, not the pattern's zero)
            assert abs(int(p["shift_x_px"]) - 57) <= binning + 1 and abs(int(p["shift_y_px"]) + 18) <= binning + 1
    assert any("1,326 of the 1,326 pairs peak at one shift (x 0, y 0" in w for w in summary["warnings"])
    assert summary["rejected"] == 4
