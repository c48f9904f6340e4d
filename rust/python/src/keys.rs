//! Rows grouped by equal keys: a `.cs` file's micrograph uids or paths, each hashed once;
//! and a `.cs` file's location slot read in one pass over its records.

use cryodedup_core::algo::keys;
use cryodedup_core::algo::name_keys::{self as file_name_keys, Endings};
use cryodedup_core::io::cs_location::{read_locations, LocationFields};
use numpy::ndarray::Axis;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The keys of each row: unsigned 64-bit words (contiguous), or fixed-width byte strings as
/// rows of a uint8 array (a strided view of a table's field: each row's bytes contiguous).
#[derive(FromPyObject)]
pub(crate) enum Keys<'py> {
    Words(PyReadonlyArray1<'py, u64>),
    Bytes(PyReadonlyArray2<'py, u8>),
}

/// Rows grouped by equal keys, numbered as `numpy.unique`'s inverse numbers them: `ids`
/// holds each row's group (the rank of its key among the distinct keys); `first`, `last`
/// and `counts`, by group, the first and last row holding it and how many do.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct KeyGroups {
    ids: Py<PyArray1<i64>>,
    first: Py<PyArray1<i64>>,
    last: Py<PyArray1<i64>>,
    counts: Py<PyArray1<i64>>,
}

#[pymethods]
impl KeyGroups {
    /// The groups as numpy found them (a field of a type the core does not hash).
    #[new]
    #[pyo3(signature = (*, ids, first, last, counts))]
    fn new(
        ids: Py<PyArray1<i64>>,
        first: Py<PyArray1<i64>>,
        last: Py<PyArray1<i64>>,
        counts: Py<PyArray1<i64>>,
    ) -> Self {
        KeyGroups { ids, first, last, counts }
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.first.bind(py).len()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("KeyGroups({} rows, {} groups)", self.ids.bind(py).len(), self.first.bind(py).len())
    }
}

/// group_keys(keys) -> KeyGroups: the rows grouped by key, each key hashed once.
#[pyfunction]
pub(crate) fn group_keys<'py>(py: Python<'py>, keys: Keys<'py>) -> PyResult<KeyGroups> {
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
    let keys::KeyGroups { ids, first, last, counts } = found;
    Ok(KeyGroups {
        ids: ids.into_pyarray(py).unbind(),
        first: first.into_pyarray(py).unbind(),
        last: last.into_pyarray(py).unbind(),
        counts: counts.into_pyarray(py).unbind(),
    })
}

/// name_key_ids(names, extensions, suffixes) -> uint32 array: each micrograph name's
/// file-name key as a number, equal for equal keys, numbered in order of first appearance
/// (the key is Python's `micrograph_names.name_key`; the endings in ASCII lower case).
#[pyfunction]
pub(crate) fn name_key_ids<'py>(
    py: Python<'py>,
    names: Vec<String>,
    extensions: Vec<String>,
    suffixes: Vec<String>,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let (extensions, suffixes) = (lower_ascii(&extensions)?, lower_ascii(&suffixes)?);
    let endings = Endings { extensions: &extensions, suffixes: &suffixes };
    Ok(py.detach(|| file_name_keys::key_ids(&names, endings)).into_pyarray(py))
}

/// name_keys(names, extensions, suffixes) -> list of str: each name's file-name key, as
/// name_key_ids numbers them.
#[pyfunction]
pub(crate) fn name_keys(names: Vec<String>, extensions: Vec<String>, suffixes: Vec<String>) -> PyResult<Vec<String>> {
    let (extensions, suffixes) = (lower_ascii(&extensions)?, lower_ascii(&suffixes)?);
    let endings = Endings { extensions: &extensions, suffixes: &suffixes };
    Ok(names.iter().map(|name| file_name_keys::name_key(name, endings).to_owned()).collect())
}

/// The endings as the core compares them, refused unless ASCII lower case.
fn lower_ascii(endings: &[String]) -> PyResult<Vec<&str>> {
    if endings.iter().any(|e| !file_name_keys::is_lower_ascii(e)) {
        return Err(PyValueError::new_err("name keys: the endings must be ASCII lower case"));
    }
    Ok(endings.iter().map(String::as_str).collect())
}

/// repeated_uint64(keys) -> (key, count) or None: the smallest key held by more than one
/// row and the most rows holding one key. The keys may be strided (a field of a table of
/// records): read where they are, not copied.
#[pyfunction]
pub(crate) fn repeated_uint64(py: Python<'_>, keys: PyReadonlyArray1<'_, u64>) -> PyResult<Option<(u64, usize)>> {
    let words = keys.as_array();
    Ok(py.detach(|| keys::repeated_u64(words.iter().copied())))
}

/// A `.cs` table's locations read in one pass: the centres (n, 2) in Å, each row's pixel
/// size, whether all are > 0, the first row whose shape has a 0 (or None), and how many
/// centres lie off their micrograph (a fraction outside 0 to 1) and the first of them.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct CsLocations {
    centres: Py<PyArray2<f64>>,
    psize: Py<PyArray1<f64>>,
    psize_positive: bool,
    zero_shape: Option<usize>,
    off_micrograph: usize,
    first_off_micrograph: Option<usize>,
}

/// cs_locations(records, itemsize, x, y, shape, psize) -> CsLocations: a `.cs` table's
/// records as bytes (contiguous, `itemsize` each) and the byte offsets of
/// `location/center_x_frac`, `center_y_frac`, `micrograph_psize_A` (little-endian f32) and
/// `micrograph_shape` (two little-endian u32), read in one pass.
#[pyfunction]
pub(crate) fn cs_locations<'py>(
    py: Python<'py>,
    records: PyReadonlyArray1<'py, u8>,
    itemsize: usize,
    x: usize,
    y: usize,
    shape: usize,
    psize: usize,
) -> PyResult<CsLocations> {
    let bytes = records.as_slice()?;
    let fields = LocationFields { x, y, shape, psize };
    let fits = [x + 4, y + 4, shape + 8, psize + 4].iter().all(|&end| end <= itemsize);
    if itemsize == 0 || bytes.len() % itemsize != 0 || !fits {
        return Err(PyValueError::new_err("cs_locations: not whole records, or a field past a record's end"));
    }
    let found = py.detach(|| read_locations(bytes, itemsize, fields));
    let n = found.psize.len();
    Ok(CsLocations {
        centres: found.centres.into_pyarray(py).reshape([n, 2])?.unbind(),
        psize: found.psize.into_pyarray(py).unbind(),
        psize_positive: found.psize_positive,
        zero_shape: found.zero_shape,
        off_micrograph: found.off_micrograph,
        first_off_micrograph: found.first_off_micrograph,
    })
}
