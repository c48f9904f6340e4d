"""Index files (formats/indices.py): integers read from a pickle by a loader that runs nothing, .npy and text."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from cryodedup.errors import InputFileError
from cryodedup.formats.indices import checked_indices, read_indices
from helpers import CommandPickle


def test_a_pickle_that_runs_a_command_is_refused_and_the_command_never_runs(tmp_path):
    touched = tmp_path / "touched"
    path = tmp_path / "ind.pkl"
    path.write_bytes(pickle.dumps(CommandPickle(f"touch {touched}")))
    with pytest.raises(InputFileError) as refused:
        read_indices(path)
    message = str(refused.value)
    assert "\n" not in message and str(path) in message and "system" in message
    assert not touched.exists()


def test_a_pickle_calling_eval_through_builtins_is_refused(tmp_path):
    path = tmp_path / "ind.pkl"
    path.write_bytes(b"cbuiltins\neval\n(V__import__('os').getcwd()\ntR.")  # (protocol 0 by hand)
    with pytest.raises(InputFileError, match="builtins.eval"):
        read_indices(path)


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint16])
def test_a_numpy_integer_array_pickled_as_cryodrgn_saves_it_is_read(tmp_path, protocol, dtype):
    # (cryodrgn.utils.save_pkl: pickle.dump of a numpy array, the highest protocol of the day)
    path = tmp_path / "ind.pkl"
    wanted = np.array([7, 0, 3, 12], dtype=dtype)
    path.write_bytes(pickle.dumps(wanted, protocol=protocol))
    assert read_indices(path).tolist() == [7, 0, 3, 12]


def test_numpy_s_own_dump_is_read(tmp_path):
    # (ndarray.dump pickles by protocol 2: the array's bytes come back through _codecs.encode, which runs nothing)
    path = tmp_path / "ind.pkl"
    np.array([5, 1], dtype=np.int64).dump(path)
    assert read_indices(path).tolist() == [5, 1]


@pytest.mark.parametrize(
    ("data", "said"), [(b"\x80\x04\x95", "pickle data was truncated"), (b"nonsense", "invalid load key")]
)
def test_a_damaged_pickle_is_named_damaged_not_refused_as_a_program(tmp_path, data, said):
    path = tmp_path / "ind.pkl"
    path.write_bytes(data)
    with pytest.raises(InputFileError, match=f"ind.pkl: not a readable pickle of integers \\({said}") as refused:
        read_indices(path)
    assert "calls" not in str(refused.value)


def test_a_list_and_numpy_scalars_in_it_are_read(tmp_path):
    path = tmp_path / "ind.pkl"
    path.write_bytes(pickle.dumps([3, np.int64(1), 2]))
    assert read_indices(path).tolist() == [3, 1, 2]


def test_npy_and_text(tmp_path):
    np.save(tmp_path / "ind.npy", np.array([4, 2]))
    (tmp_path / "ind.txt").write_text("# kept\n4\n\n2\n")
    assert read_indices(tmp_path / "ind.npy").tolist() == [4, 2]
    assert read_indices(tmp_path / "ind.txt").tolist() == [4, 2]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ([1, 2.5], "item 1 is 2.5, not an integer"),
        (np.array([1.0, np.nan]), "item 1 is nan"),
        (np.array([[1, 2]]), "shape (1, 2)"),
        (["a"], "item 0 is 'a'"),
    ],
)
def test_values_that_are_no_row_indices_are_refused_in_one_line(tmp_path, value, said):
    path = tmp_path / "ind.pkl"
    path.write_bytes(pickle.dumps(value))
    with pytest.raises(InputFileError) as refused:
        read_indices(path)
    assert said in str(refused.value) and "\n" not in str(refused.value)


def test_a_text_line_that_is_no_integer_is_named(tmp_path):
    (tmp_path / "ind.txt").write_text("1\nx2\n")
    with pytest.raises(InputFileError, match=r"line 2: 'x2' is not an integer"):
        read_indices(tmp_path / "ind.txt")


@pytest.mark.parametrize(
    ("indices", "said"),
    [([0, -1], "item 1 is -1, negative"), ([0, 10], "item 1 is 10, out of range: f.star has 10 rows"),
     ([3, 1, 3], "row 3 is given 2 times")],
)  # fmt: skip
def test_out_of_range_negative_and_repeated_indices_are_refused(tmp_path, indices, said):
    with pytest.raises(InputFileError, match=said):
        checked_indices(tmp_path / "ind.pkl", np.array(indices), 10, "f.star")
