//! Picker files read and written many at a time, and pickers' picks joined into one set.

use std::path::PathBuf;

use cryodedup_core::io::pick_join::{self, Strided};
use cryodedup_core::io::picks;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayDyn, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{self, CoreError};

/// One picker file, besides its rows.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct PickFile {
    /// The table's labels; None for a layout without them.
    labels: Option<Vec<String>>,
    /// Bytes before the first row and after the last.
    header: Py<PyBytes>,
    footer: Py<PyBytes>,
    /// The number of rows.
    rows: usize,
}

/// The rows of many picker files, in file order; arrays handed over uncopied.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct PickTables {
    files: Vec<Py<PickFile>>,
    /// The requested number columns, (rows, len(numbers)) float64, NaN where missing.
    numbers: Py<PyArray2<f64>>,
    /// Each row's byte span in its file (uint64).
    starts: Py<PyArray1<u64>>,
    ends: Py<PyArray1<u64>>,
    /// Each row's key id (uint32), an index into `key_names`; empty without a key.
    keys: Py<PyArray1<u32>>,
    key_names: Vec<String>,
}

#[pymethods]
impl PickTables {
    fn __repr__(&self) -> String {
        format!("PickTables({} files, {} key names)", self.files.len(), self.key_names.len())
    }
}

/// read_pick_files(paths, layout, names, numbers, key=None, missing=None) -> PickTables.
///
/// Reads picker files in parallel (GIL released). `layout` is "star" (the first loop with the
/// label names[0]), "tab" (a tab-separated table with a header line) or "whitespace" (rows
/// whose first fields are `names`). `numbers` are the labels parsed as float64 (NaN where a
/// file lacks one, or where a field equals `missing`); `key` a text column mapped to ids
/// shared by all files.
#[pyfunction]
#[pyo3(signature = (paths, layout, names, numbers, key=None, missing=None))]
pub(crate) fn read_pick_files(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    layout: &str,
    names: Vec<String>,
    numbers: Vec<String>,
    key: Option<String>,
    missing: Option<String>,
) -> PyResult<PickTables> {
    let layout = match layout {
        "star" => picks::Layout::Star {
            label: names.first().cloned().ok_or_else(|| errors::value("star layout needs a label".into()))?,
        },
        "tab" => picks::Layout::Tab,
        "whitespace" => picks::Layout::Whitespace { names },
        other => return Err(errors::value(format!("unknown layout {other:?}"))),
    };
    let n_numbers = numbers.len();
    let request = picks::Request { layout, numbers, key, missing: missing.map(String::into_bytes) };
    let tables = py.detach(|| picks::read_files(&paths, &request)).map_err(CoreError::from)?;
    let rows = tables.rows;
    let files = tables
        .files
        .into_iter()
        .map(|f| {
            let (header, footer) = (PyBytes::new(py, &f.header).unbind(), PyBytes::new(py, &f.footer).unbind());
            Py::new(py, PickFile { labels: f.labels, header, footer, rows: f.n_rows })
        })
        .collect::<PyResult<_>>()?;
    let key_names = tables.key_names.iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
    let n_rows = rows.starts.len();
    Ok(PickTables {
        files,
        numbers: rows.numbers.into_pyarray(py).reshape([n_rows, n_numbers])?.unbind(),
        starts: rows.starts.into_pyarray(py).unbind(),
        ends: rows.ends.into_pyarray(py).unbind(),
        keys: rows.keys.into_pyarray(py).unbind(),
        key_names,
    })
}

/// The rows of a float64 array (2-D, or 1-D as rows of one) that step through memory one
/// whole row at a time, each row's values side by side (as the columns of a reader's
/// row-major table are): a view of its memory, no copy. Other layouts are refused.
pub(crate) fn strided_rows<'a>(values: &'a numpy::ndarray::ArrayViewD<'a, f64>, what: &str) -> PyResult<Strided<'a>> {
    let (rows, width) = match values.shape() {
        [rows] => (*rows, 1),
        [rows, width] => (*rows, *width),
        _ => return Err(errors::value(format!("{what} must be 1-D or 2-D"))),
    };
    if rows == 0 {
        // No picks (an empty picker file): numpy gives an empty view any strides.
        return Ok(Strided { values: &[], stride: width.max(1), width });
    }
    let step = |k: usize| values.strides().get(k).copied().unwrap_or(1);
    let (stride, along) = (step(0), if values.ndim() == 2 { step(1) } else { 1 });
    if along != 1 || stride < width as isize {
        return Err(errors::value(format!("{what} must have rows of adjacent values, one row after the other")));
    }
    let len = (rows - 1) * stride as usize + width;
    // SAFETY: the view's rows lie in one numpy buffer, from its first element to its last
    // (`len` values on from `as_ptr`), and the readonly borrow keeps it alive and unchanged.
    let slice = unsafe { std::slice::from_raw_parts(values.as_ptr(), len) };
    Ok(Strided { values: slice, stride: stride as usize, width })
}

/// One picker's picks for `join_picks`: `micrograph` (int32) indexes `ids` (uint32, the joined
/// micrograph id of each of its micrographs); `centres` float64 (n, d) in pixels, `scores`
/// float64 (n,) or None. Centres and scores may be strided columns of one table.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct PickInput {
    micrograph: Py<PyArray1<i32>>,
    ids: Py<PyArray1<u32>>,
    centres: Py<PyArrayDyn<f64>>,
    scores: Option<Py<PyArrayDyn<f64>>>,
}

#[pymethods]
impl PickInput {
    #[new]
    #[pyo3(signature = (micrograph, ids, centres, scores=None))]
    fn new(
        micrograph: Bound<'_, PyArray1<i32>>,
        ids: Bound<'_, PyArray1<u32>>,
        centres: Bound<'_, PyArrayDyn<f64>>,
        scores: Option<Bound<'_, PyArrayDyn<f64>>>,
    ) -> Self {
        PickInput {
            micrograph: micrograph.unbind(),
            ids: ids.unbind(),
            centres: centres.unbind(),
            scores: scores.map(Bound::unbind),
        }
    }
}

/// Pickers' picks joined into one set.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct JoinedPicks {
    /// Each pick's joined micrograph id (uint32).
    groups: Py<PyArray1<u32>>,
    /// Centres in Å, float64 (n, d).
    centres: Py<PyArray2<f64>>,
    /// Scores (float64), None unless given.
    scores: Option<Py<PyArray1<f64>>>,
    /// Each pick's input (uint32).
    input_of: Py<PyArray1<u32>>,
}

/// join_picks(inputs, psize) -> JoinedPicks: pickers' picks joined in order, filled in
/// parallel (GIL released); centres times psize[id] (Å).
#[pyfunction]
pub(crate) fn join_picks<'py>(
    py: Python<'py>,
    inputs: Vec<PyRef<'py, PickInput>>,
    psize: PyReadonlyArray1<'py, f64>,
) -> PyResult<JoinedPicks> {
    let borrowed = inputs
        .iter()
        .map(|i| {
            let scores = i.scores.as_ref().map(|s| s.bind(py).readonly());
            Ok((i.micrograph.bind(py).readonly(), i.ids.bind(py).readonly(), i.centres.bind(py).readonly(), scores))
        })
        .collect::<PyResult<Vec<_>>>()?;
    let views: Vec<_> = borrowed.iter().map(|(_, _, c, s)| (c.as_array(), s.as_ref().map(|s| s.as_array()))).collect();
    let mut parts = Vec::with_capacity(inputs.len());
    for ((micrograph, ids, _, _), (centres, scores)) in borrowed.iter().zip(&views) {
        parts.push(pick_join::Input {
            micrograph: micrograph.as_slice()?,
            ids: ids.as_slice()?,
            centres: strided_rows(centres, "centres")?,
            scores: scores.as_ref().map(|s| strided_rows(s, "scores")).transpose()?,
        });
    }
    let psize = psize.as_slice()?;
    let joined = py.detach(|| pick_join::join(&parts, psize)).map_err(CoreError::from)?;
    let width = parts.first().map_or(2, |p| p.centres.width);
    let n = joined.groups.len();
    Ok(JoinedPicks {
        groups: joined.groups.into_pyarray(py).unbind(),
        centres: joined.centres.into_pyarray(py).reshape([n, width])?.unbind(),
        scores: joined.scores.map(|s| s.into_pyarray(py).unbind()),
        input_of: joined.input_of.into_pyarray(py).unbind(),
    })
}

/// repeat_int32(values, counts) -> int32: values[k] repeated counts[k] times, in order (as
/// numpy.repeat), written in parallel.
#[pyfunction]
pub(crate) fn repeat_int32<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, i32>,
    counts: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyArray1<i32>>> {
    let values = values.as_slice()?;
    let counts: Vec<usize> = counts
        .as_slice()?
        .iter()
        .map(|&c| usize::try_from(c))
        .collect::<Result<_, _>>()
        .map_err(|_| errors::value("counts must not be negative".into()))?;
    if counts.len() != values.len() {
        return Err(errors::value("values and counts must have as many entries".into()));
    }
    Ok(py.detach(|| cryodedup_core::parallel::repeat_in_parallel(values, &counts)).into_pyarray(py))
}

/// row_targets(keep, index, n) -> uint32: each row's output for write_pick_rows, index[i]
/// where keep[i], else n + index[i] (kept outputs first, rejected after), filled in parallel.
#[pyfunction]
pub(crate) fn row_targets<'py>(
    py: Python<'py>,
    keep: PyReadonlyArray1<'py, bool>,
    index: PyReadonlyArray1<'py, u32>,
    n: u32,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let (keep, index) = (keep.as_slice()?, index.as_slice()?);
    if keep.len() != index.len() {
        return Err(errors::value("keep and index must have one entry per row".into()));
    }
    Ok(py.detach(|| picks::row_targets(keep, index, n)).into_pyarray(py))
}

/// One output file of `write_pick_rows` or `write_pick_numbers`: its path, and the bytes
/// written before and after its rows.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct PickOutput {
    path: PathBuf,
    header: Vec<u8>,
    footer: Vec<u8>,
}

#[pymethods]
impl PickOutput {
    #[new]
    fn new(path: PathBuf, header: Vec<u8>, footer: Vec<u8>) -> Self {
        PickOutput { path, header, footer }
    }
}

fn pick_outputs(outputs: &[PyRef<'_, PickOutput>]) -> Vec<picks::Output> {
    let output =
        |o: &PickOutput| picks::Output { path: o.path.clone(), header: o.header.clone(), footer: o.footer.clone() };
    outputs.iter().map(|o| output(o)).collect()
}

/// write_pick_rows(outputs, target, sources, files, starts, ends, first_files=None): writes
/// each output (a PickOutput) with the rows i where target[i] (uint32) is its index,
/// in order (a target past the last output: the row is written nowhere): bytes
/// starts[i]..ends[i] of sources[files[i]], copied. `files`, `starts` and `ends` are lists of
/// arrays (one per input, say) taken end to end, so that no concatenated copy is needed;
/// first_files[k] (default 0) is added to the file indices of part k; reorder[f], where
/// given and not None, puts the fields of source f's rows in that order (field j of the
/// written row is field reorder[f][j] of the input row, its text unchanged). Outputs
/// written in parallel, GIL released.
#[pyfunction]
#[pyo3(signature = (outputs, target, sources, files, starts, ends, first_files=None, reorder=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_pick_rows(
    py: Python<'_>,
    outputs: Vec<PyRef<'_, PickOutput>>,
    target: PyReadonlyArray1<'_, u32>,
    sources: Vec<PathBuf>,
    files: Vec<PyReadonlyArray1<'_, u32>>,
    starts: Vec<PyReadonlyArray1<'_, u64>>,
    ends: Vec<PyReadonlyArray1<'_, u64>>,
    first_files: Option<Vec<u32>>,
    reorder: Option<Vec<Option<Vec<usize>>>>,
) -> PyResult<()> {
    let target = target.as_slice()?;
    let reorder = reorder.unwrap_or_default();
    if reorder.len() > sources.len() {
        return Err(errors::value("reorder has more entries than there are sources".into()));
    }
    let first_files = first_files.unwrap_or_else(|| vec![0; files.len()]);
    if files.len() != starts.len() || files.len() != ends.len() || files.len() != first_files.len() {
        return Err(errors::value("files, starts, ends and first_files must be lists of as many arrays".into()));
    }
    let mut parts = Vec::with_capacity(files.len());
    for (((f, s), e), &first_file) in files.iter().zip(&starts).zip(&ends).zip(&first_files) {
        let (files, starts, ends) = (f.as_slice()?, s.as_slice()?, e.as_slice()?);
        if starts.len() != files.len() || ends.len() != files.len() {
            return Err(errors::value("files, starts and ends must have one entry per row".into()));
        }
        if let Some(&bad) = files.iter().find(|&&f| first_file as usize + f as usize >= sources.len()) {
            return Err(errors::value(format!("file index {first_file} + {bad} is out of range")));
        }
        parts.push(picks::RowSpans { first_file, files, starts, ends });
    }
    if parts.iter().map(|p| p.files.len()).sum::<usize>() != target.len() {
        return Err(errors::value("target, files, starts and ends must have one entry per row".into()));
    }
    let outputs = pick_outputs(&outputs);
    let rows = picks::RowSource::Copy { sources: &sources, parts: &parts, reorder: &reorder };
    Ok(py.detach(|| picks::write_outputs(&outputs, target, &rows)).map_err(CoreError::from)?)
}

/// write_pick_numbers(outputs, target, values): as write_pick_rows, each row written from
/// values[i] (float64, shape (n, k)), each number as "%12.6f", separated by spaces.
#[pyfunction]
pub(crate) fn write_pick_numbers(
    py: Python<'_>,
    outputs: Vec<PyRef<'_, PickOutput>>,
    target: PyReadonlyArray1<'_, u32>,
    values: PyReadonlyArray2<'_, f64>,
) -> PyResult<()> {
    let width = values.shape()[1];
    let (target, values) = (target.as_slice()?, values.as_slice()?);
    if values.len() != target.len() * width {
        return Err(errors::value("values must have one row per entry of target".into()));
    }
    let outputs = pick_outputs(&outputs);
    let rows = picks::RowSource::Numbers { values, width };
    Ok(py.detach(|| picks::write_outputs(&outputs, target, &rows)).map_err(CoreError::from)?)
}
