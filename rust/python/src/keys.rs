//! Rows grouped by equal keys: a `.cs` file's micrograph uids or paths, each hashed once.

use cryodedup_core::algo::keys::{self, KeyGroups};
use numpy::ndarray::Axis;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The keys of each row: unsigned 64-bit words (contiguous), or fixed-width byte strings as
/// rows of a uint8 array (a strided view of a table's field: each row's bytes contiguous).
#[derive(FromPyObject)]
pub(crate) enum Keys<'py> {
    Words(PyReadonlyArray1<'py, u64>),
    Bytes(PyReadonlyArray2<'py, u8>),
}

type Arrays<'py> =
    (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>);

/// group_keys(keys) -> (ids, first, last, counts): each row's id (the rank of its key among
/// the distinct keys, as numpy.unique's inverse), and by id the first and last row holding
/// it and how many do.
#[pyfunction]
pub(crate) fn group_keys<'py>(py: Python<'py>, keys: Keys<'py>) -> PyResult<Arrays<'py>> {
    let found = match &keys {
        Keys::Words(array) => {
            let words = array.as_slice()?; // contiguous: a strided field is copied by the caller
            py.detach(|| keys::group_u64(words))
        }
        Keys::Bytes(array) => {
            let rows = array.as_array();
            let row_bytes = |row: usize| rows.index_axis_move(Axis(0), row).to_slice();
            if (0..rows.nrows().min(1)).any(|row| row_bytes(row).is_none()) {
                return Err(PyValueError::new_err("group_keys: each row's bytes must be contiguous"));
            }
            py.detach(|| keys::group_by(rows.nrows(), |row| row_bytes(row).expect("rows strided alike")))
        }
    };
    let KeyGroups { ids, first, last, counts } = found;
    Ok((ids.into_pyarray(py), first.into_pyarray(py), last.into_pyarray(py), counts.into_pyarray(py)))
}

/// repeated_uint64(keys) -> (key, count) or None: the smallest key held by more than one
/// row and the most rows holding one key.
#[pyfunction]
pub(crate) fn repeated_uint64(py: Python<'_>, keys: PyReadonlyArray1<'_, u64>) -> PyResult<Option<(u64, usize)>> {
    let words = keys.as_slice()?.to_vec();
    Ok(py.detach(|| keys::repeated_u64(words)))
}
