//! Picker files read and written many at a time, and pickers' picks joined into one set.

use std::path::PathBuf;

use cryodedup_core::io::pick_join::{self, Strided};
use cryodedup_core::io::picks;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{self, CoreError};

/// One file's table as Python sees it: (labels or None, header, footer, number of rows).
type PickFileTuple<'py> = (Option<Vec<String>>, Bound<'py, PyBytes>, Bound<'py, PyBytes>, usize);

/// read_pick_files(paths, layout, names, numbers, key=None, missing=None)
/// -> (files, numbers, starts, ends, keys, key_names).
///
/// Reads picker files in parallel (GIL released). `layout` is "star" (the first loop with the
/// label names[0]), "tab" (a tab-separated table with a header line) or "whitespace" (rows
/// whose first fields are `names`). `numbers` are the labels parsed as float64 (NaN where a
/// file lacks one, or where a field equals `missing`), returned as one row-major table of
/// shape (rows, len(numbers)); `key` a text column mapped to ids shared by all files. Arrays
/// run over the rows of all files in order; starts/ends are each row's byte span in its file.
#[pyfunction]
#[pyo3(signature = (paths, layout, names, numbers, key=None, missing=None))]
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub(crate) fn read_pick_files<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    layout: &str,
    names: Vec<String>,
    numbers: Vec<String>,
    key: Option<String>,
    missing: Option<String>,
) -> PyResult<(
    Vec<PickFileTuple<'py>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u32>>,
    Vec<String>,
)> {
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
        .map(|f| (f.labels, PyBytes::new(py, &f.header), PyBytes::new(py, &f.footer), f.n_rows))
        .collect();
    let key_names = tables.key_names.iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
    let n_rows = rows.starts.len();
    let numbers = rows.numbers.into_pyarray(py).reshape([n_rows, n_numbers])?;
    Ok((
        files,
        numbers,
        rows.starts.into_pyarray(py),
        rows.ends.into_pyarray(py),
        rows.keys.into_pyarray(py),
        key_names,
    ))
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

type PickInput<'py> = (
    PyReadonlyArray1<'py, i32>,
    PyReadonlyArray1<'py, u32>,
    numpy::PyReadonlyArrayDyn<'py, f64>,
    Option<numpy::PyReadonlyArrayDyn<'py, f64>>,
);

/// join_picks(inputs, psize) -> (groups, centres, scores, input_of): pickers' picks joined
/// in order, filled in parallel (GIL released). Each input is (micrograph int32: index into
/// ids, ids uint32: the joined micrograph id of each of its micrographs, centres float64
/// (n, d) in pixels, scores float64 (n,) or None); centres and scores may be strided
/// columns of one table. Centres come back times psize[id] (Å), scores None unless given.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub(crate) fn join_picks<'py>(
    py: Python<'py>,
    inputs: Vec<PickInput<'py>>,
    psize: PyReadonlyArray1<'py, f64>,
) -> PyResult<(
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray2<f64>>,
    Option<Bound<'py, PyArray1<f64>>>,
    Bound<'py, PyArray1<u32>>,
)> {
    let views: Vec<_> = inputs.iter().map(|(_, _, c, s)| (c.as_array(), s.as_ref().map(|s| s.as_array()))).collect();
    let mut parts = Vec::with_capacity(inputs.len());
    for ((micrograph, ids, _, _), (centres, scores)) in inputs.iter().zip(&views) {
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
    Ok((
        joined.groups.into_pyarray(py),
        joined.centres.into_pyarray(py).reshape([n, width])?,
        joined.scores.map(|s| s.into_pyarray(py)),
        joined.input_of.into_pyarray(py),
    ))
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

pub(crate) fn pick_outputs(outputs: Vec<(PathBuf, Vec<u8>, Vec<u8>)>) -> Vec<picks::Output> {
    outputs.into_iter().map(|(path, header, footer)| picks::Output { path, header, footer }).collect()
}

/// write_pick_rows(outputs, target, sources, files, starts, ends, first_files=None): writes
/// each output (path, header, footer) with the rows i where target[i] (uint32) is its index,
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
    outputs: Vec<(PathBuf, Vec<u8>, Vec<u8>)>,
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
    let outputs = pick_outputs(outputs);
    let rows = picks::RowSource::Copy { sources: &sources, parts: &parts, reorder: &reorder };
    Ok(py.detach(|| picks::write_outputs(&outputs, target, &rows)).map_err(CoreError::from)?)
}

/// write_pick_numbers(outputs, target, values): as write_pick_rows, each row written from
/// values[i] (float64, shape (n, k)), each number as "%12.6f", separated by spaces.
#[pyfunction]
pub(crate) fn write_pick_numbers(
    py: Python<'_>,
    outputs: Vec<(PathBuf, Vec<u8>, Vec<u8>)>,
    target: PyReadonlyArray1<'_, u32>,
    values: PyReadonlyArray2<'_, f64>,
) -> PyResult<()> {
    let width = values.shape()[1];
    let (target, values) = (target.as_slice()?, values.as_slice()?);
    if values.len() != target.len() * width {
        return Err(errors::value("values must have one row per entry of target".into()));
    }
    let outputs = pick_outputs(outputs);
    let rows = picks::RowSource::Numbers { values, width };
    Ok(py.detach(|| picks::write_outputs(&outputs, target, &rows)).map_err(CoreError::from)?)
}
