"""The FSC estimate of issue 91 against hand-worked cases: box overlaps, the 0.143 crossing, the correction."""

from __future__ import annotations

import numpy as np
import pytest

from cryodedup.algo.fsc import box_overlap, crossing, estimate, shared_fraction, without_duplicates
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
    assert found.change_shells == pytest.approx(found.change_A / found.shell_A)
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
