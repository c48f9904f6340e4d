//! The `--plot` pictures' counts: histograms split into kept and rejected, and each
//! micrograph's picks and rejections, each in one pass over the rows (GIL released); and
//! the pictures halved and PNG-filtered, and their rows' zlib checksum.

use cryodedup_core::algo::histogram as counting;
use cryodedup_core::algo::png_rows;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::dedup::{on_groups, Groups};
use crate::errors::CoreError;

/// histogram(values, edges, sides=None) -> (counts, beyond): counts (2, bins) int64 of the
/// finite values clipped into the edges' range, row 0 the rows whose side is false (all rows
/// without sides), row 1 the rest, binned as numpy.histogram bins them with its linspace
/// edges; beyond: how many finite values lay outside the range.
#[pyfunction]
#[pyo3(signature = (values, edges, sides = None))]
pub(crate) fn histogram<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
    edges: PyReadonlyArray1<'py, f64>,
    sides: Option<PyReadonlyArray1<'py, bool>>,
) -> PyResult<(Bound<'py, PyArray2<i64>>, u64)> {
    let (values, edges) = (values.as_slice()?, edges.as_slice()?);
    let sides = sides.as_ref().map(|s| s.as_slice()).transpose()?;
    let found = py.detach(|| counting::clipped_histogram(values, edges, sides)).map_err(CoreError::from)?;
    let bins = found.counts[0].len();
    let mut counts: Vec<i64> = found.counts[0].iter().map(|&c| c as i64).collect();
    counts.extend(found.counts[1].iter().map(|&c| c as i64));
    counts.resize(2 * bins, 0);
    Ok((counts.into_pyarray(py).reshape([2, bins])?, found.beyond))
}

/// order_statistics(values, ranks) -> list of float: the ranks-th smallest of the float64
/// ``values`` (rank 0 the least; none NaN), as a full sort places them (GIL released).
#[pyfunction]
pub(crate) fn order_statistics(
    py: Python<'_>,
    values: PyReadonlyArray1<'_, f64>,
    ranks: Vec<usize>,
) -> PyResult<Vec<f64>> {
    let values = values.as_slice()?;
    Ok(py.detach(|| counting::order_statistics(values, &ranks)).map_err(CoreError::from)?)
}

/// One count per group, as Python gets it.
type Counts<'py> = Bound<'py, PyArray1<i64>>;

/// counts_per_group(groups, marked, n_groups) -> (rows, marked_rows): the rows of each group
/// (uint32 or int64 ids in 0..n_groups) and how many of them are marked, int64.
#[pyfunction]
pub(crate) fn counts_per_group<'py>(
    py: Python<'py>,
    groups: Groups<'py>,
    marked: PyReadonlyArray1<'py, bool>,
    n_groups: usize,
) -> PyResult<(Counts<'py>, Counts<'py>)> {
    let marked = marked.as_slice()?;
    let (rows, marks) = on_groups!(groups, |ids| py.detach(|| counting::counts_per_group(ids, marked, n_groups)))
        .map_err(CoreError::from)?;
    let wide = |v: Vec<u64>| v.into_iter().map(|c| c as i64).collect::<Vec<i64>>().into_pyarray(py);
    Ok((wide(rows), wide(marks)))
}

/// halved_png_rows(drawn) -> rows: ``drawn`` uint8 (height, width, 4), RGBX as Pillow stores
/// RGB, both sizes even; rows uint8 (height / 2, 1 + width / 2 * 3): each row the "Up" filter
/// byte and the RGB pixels of the 2 x 2 means (rounded half up), filtered by "Up".
#[pyfunction]
pub(crate) fn halved_png_rows<'py>(
    py: Python<'py>,
    drawn: PyReadonlyArray3<'py, u8>,
) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let shape = drawn.shape();
    let (height, width) = (shape[0], shape[1]);
    if shape[2] != 4 {
        return Err(crate::errors::value(format!("drawn pixels: 4 bytes a pixel, not {}", shape[2])));
    }
    let pixels = drawn.as_slice()?;
    let rows = py
        .detach(|| png_rows::halved_up_rows(pixels, width, height))
        .map_err(|e| crate::errors::value(e.to_string()))?;
    rows.into_pyarray(py).reshape([height / 2, 1 + width / 2 * 3])
}

/// zlib_stream(rows) -> bytes: the zlib stream of ``rows`` (uint8, contiguous), as a PNG's
/// image data holds it: zlib's header, the rows deflated at the fastest level, their
/// Adler-32 (GIL released).
#[pyfunction]
pub(crate) fn zlib_stream<'py>(py: Python<'py>, rows: PyReadonlyArray2<'py, u8>) -> PyResult<Bound<'py, PyBytes>> {
    let data = rows.as_slice()?;
    let stream = py.detach(|| png_rows::zlib_stream(data));
    Ok(PyBytes::new(py, &stream))
}
