"""The FSC estimate of issue 91 against hand-worked cases: box overlaps, the 0.143 crossing, the correction."""

from __future__ import annotations

import numpy as np
import pytest

from cryodedup.algo.fsc import (
    FscEstimate,
    box_overlap,
    crossing,
    estimate,
    halves_without,
    section_share,
    shared_fraction,
    without_duplicates,
)
from cryodedup.errors import InputFileError
from cryodedup.formats.star.fsc import read_fsc


def test_two_squares_offset_share_the_product_of_their_overlaps_along_each_axis():
    # A 100 Å box: 10 Å along x leaves 90 % of it; (30, 40) leaves 0.7 x 0.6; a box away or more shares nothing.
    got = box_overlap(np.array([[10.0, 0.0], [-30.0, 40.0], [100.0, 0.0], [0.0, -250.0]]), 100.0)
    assert got == pytest.approx([0.9, 0.42, 0.0, 0.0])
    assert box_overlap(np.array([[10.0, 20.0, 50.0]]), 100.0) == pytest.approx([0.9 * 0.8 * 0.5])  # (cubes)


def test_the_shared_fraction_is_k_over_the_geometric_mean_of_the_halves():
    assert shared_fraction(100, 2000, 2100) == pytest.approx(100 / np.sqrt(2000 * 2100))
    assert shared_fraction(5, 0, 10) == 0.0


def test_the_crossing_is_interpolated_between_the_shells_around_0143():
    frequency = np.arange(6) / 60.0  # (a 60 Å box: shell k at k / 60 per Å)
    fsc = np.array([1.0, 0.9, 0.5, 0.2, 0.1, 0.05])
    resolution, last = crossing(frequency, fsc)
    # (0.2 - 0.143) / (0.2 - 0.1) = 0.57 of the way from shell 3 to 4: 60 / 3.57 Å
    assert last == 3 and resolution == pytest.approx(60 / 3.57)
    assert crossing(frequency, np.array([1.0, 0.1, 0.0, 0, 0, 0])) is None
    assert crossing(frequency, np.full(6, 0.9)) == (pytest.approx(12.0), 5)  # (never below: its last shell)


def test_the_correction_takes_f_off_where_the_signal_is_weak_and_nothing_where_it_is_whole():
    assert without_duplicates(np.array([1.0, 0.1, 0.5]), 0.1) == pytest.approx([1.0, 0.0, 0.4 / 0.9])


def test_the_estimate_counts_the_change_in_shells_at_the_crossing():
    frequency = np.arange(11) / 100.0
    fsc = np.array([1, 1, 0.99, 0.95, 0.8, 0.5, 0.3, 0.2, 0.15, 0.14, 0.13])
    found = estimate("hand", frequency, fsc, 0.05, 7)
    # as refined: between shells 8 (0.15) and 9 (0.14): 0.7 of the way; without: (0.2 - 0.05)/0.95 = 0.158 at
    # shell 7 and (0.15 - 0.05)/0.95 = 0.105 at shell 8.
    assert found.resolution_A == pytest.approx(100 / 8.7)
    assert found.resolution_without_A == pytest.approx(100 / (7 + (0.15 / 0.95 - 0.143) / ((0.15 - 0.10) / 0.95)))
    assert found.shell_A == pytest.approx(100 / 8 - 100 / 9)
    assert found.change_shells == pytest.approx(100 / found.resolution_A - 100 / found.resolution_without_A)
    entry = found.to_json()
    assert set(entry) >= {"source", "shared_fraction", "resolution_A", "resolution_without_duplicates_A", "shells"}
    assert entry["shells"][5] == {"resolution_A": 20.0, "fsc": 0.5, "fsc_without_duplicates": pytest.approx(0.473684)}


def test_an_fsc_file_of_another_kind_is_refused_in_one_line(tmp_path):
    path = tmp_path / "particles.star"
    path.write_text("data_particles\nloop_\n_rlnCoordinateX\n1\n")
    with pytest.raises(InputFileError, match="no data_fsc .* and no data_model_class_1"):
        read_fsc(path)
    path.write_text("data_fsc\nloop_\n_rlnResolution\n_rlnFourierShellCorrelationCorrected\n0 1\n0.1 x\n")
    with pytest.raises(InputFileError, match="not a number"):
        read_fsc(path)


def _postprocess(path, frequency) -> None:
    """A postprocess.star's data_fsc with these shells' frequencies and a falling curve."""
    rows = "".join(f"{f!r} {1 - k / len(frequency):.4f}\n" for k, f in enumerate(frequency))
    path.write_text("data_fsc\nloop_\n_rlnResolution\n_rlnFourierShellCorrelationCorrected\n" + rows)


@pytest.mark.parametrize(
    ("frequency", "said"),
    [
        ([0.0] * 6, r"shell 1 is 0.0 after 0.0: expected the shells in order"),  # (ZeroDivisionError in the estimate)
        ([0.0, 0.01, 0.01, 0.02, 0.03], r"shell 2 is 0.01 after 0.01"),
        ([0.0, 0.02, 0.01, 0.03, 0.04], r"shell 2 is 0.01 after 0.02"),  # (shuffled: another crossing, exit 0)
        ([0.04, 0.03, 0.02, 0.01, 0.0], r"shell 1 is 0.03 after 0.04"),  # (reversed: no resolution, exit 0)
        ([-0.0, -0.01, -0.02, -0.03], r"shell 1 is -0.01, expected a finite frequency \(1/Å\) of at least 0"),
        ([0.0, 0.01, float("inf"), 0.03], r"shell 2 is inf, expected a finite frequency"),
        ([0.0, float("nan"), 0.02, 0.03], r"shell 1 is nan, expected a finite frequency"),
    ],
)
def test_shells_out_of_order_or_not_frequencies_are_refused_in_one_line(tmp_path, frequency, said):
    # A barrage (issue 90): each gave a traceback, negative resolutions or another crossing without a word.
    path = tmp_path / "postprocess.star"
    _postprocess(path, frequency)
    with pytest.raises(InputFileError, match=rf"postprocess.star: data_fsc: rlnResolution of {said}") as refused:
        read_fsc(path)
    assert "\n" not in str(refused.value)
    _postprocess(path, [0.001, 0.01, 0.02, 0.03])  # (RELION's own shell 0 of a postprocess.star)
    assert read_fsc(path).frequency.tolist() == [0.001, 0.01, 0.02, 0.03]


def test_the_change_is_the_number_of_shells_between_the_two_crossings_in_frequency():
    # Issue 97: 3.91 -> 8.03 Å in a 318.6 Å box lie 318.6 / 3.91 - 318.6 / 8.03 = 41.8 shells apart; the change in Å
    # over one shell's width at 3.91 Å said 86.
    frequency = tuple(k / 318.6 for k in range(120))
    found = FscEstimate("hand", 0.1, frequency, (1.0,) * 120, 3.91, 8.03, 3.91 - 318.6 / 82.5, 10)
    assert found.change_shells == pytest.approx(318.6 / 3.91 - 318.6 / 8.03)
    assert round(found.change_shells) == 42


def _forward(s: np.ndarray, n1: float, n2: float, k: float) -> np.ndarray:
    """The FSC of half-maps of n1 and n2 equal images sharing k images' noise, at one image's SNR s (by hand)."""
    return (n1 * n2 * s + k) / np.sqrt((n1 * n1 * s + n1) * (n2 * n2 * s + n2))


def test_the_halves_model_gives_the_fsc_of_the_halves_without_the_copies():
    # 2,000 images against 2,400 of which 400 copy the first half's: solved back for the SNR, then the FSC of
    # 1,800 and 2,200 images (one of each pair removed, half from each half-set) from the forward formula.
    snr = np.array([1e-1, 1e-2, 1e-3, 3e-4, 1e-4, 1e-5, 0.0])
    with_copies = _forward(snr, 2000, 2400, 400)
    got = halves_without(with_copies, (2000, 2400), 400.0, 400)
    assert got == pytest.approx(_forward(snr, 1800, 2200, 0), abs=1e-6)
    # to first order in k: (FSC - f) / (1 - f) where the signal is gone
    assert got[-1] == pytest.approx(0.0, abs=1e-9) and with_copies[-1] == pytest.approx(400 / np.sqrt(2000 * 2400))


def test_a_curve_lifted_above_0143_gets_the_crossing_of_the_curve_without_them_as_a_lower_bound():
    # Copies holding a quarter of the noise: the curve as refined never falls below 0.143 (f 0.27); the curve
    # without them does: its crossing is given, the change a lower bound (the crossing as refined lies beyond).
    frequency = np.arange(40) / 120.0
    snr = 10.0 ** (-np.arange(40) / 5.0)
    with_copies = _forward(snr, 2000, 2600, 600)
    assert (with_copies[1:] > 0.143).all()
    found = estimate("hand", frequency, with_copies, 600 / np.sqrt(2000 * 2600), 600, halves=((2000, 2600), 600))
    truth = crossing(frequency, _forward(snr, 1700, 2300, 0))
    assert not found.crosses and found.lower_bound and not found.first_order
    assert truth is not None and found.resolution_without_A == pytest.approx(truth[0], rel=1e-6)
    assert found.resolution_A == pytest.approx(120 / 39)  # (its last shell)
    entry = found.to_json()
    assert entry["crosses"] is False and entry["first_order"] is False and entry["change_is_lower_bound"] is True


def test_two_poses_share_an_images_noise_only_near_no_turn():
    # At no turn the whole ring; at 180 degrees the two central sections meet on a line: nothing past a few shells.
    shares = section_share(np.array([0.0, 5.0, 15.0, 180.0]), 12.0)
    assert shares[0] == 1.0 and shares[1] > shares[2] > shares[3]
    assert shares[2] < 0.05 and shares[3] < 0.002
