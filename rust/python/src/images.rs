//! The same particle image twice (issue 39): image runs and keys, the proof that every image
//! is distinct, the rows kept twice. See `cryodedup_core::images`.

use cryodedup_core::algo::images::{kept_twice, rows_of_repeated_keys, rows_of_shared_images};
use cryodedup_core::images::{self, ImageRows, ImageRun};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::dedup::{on_groups, Groups};
use crate::errors::{self, CoreError};

/// The columns of an image runs array: stack hash, first and last index, increasing (0 or
/// 1), rows.
const RUN_COLUMNS: usize = 5;

/// Image runs as a uint64 (n, 5) array: stack hash, first and last index, increasing (0 or
/// 1), how many rows.
pub(crate) fn runs_array(py: Python<'_>, runs: &[ImageRun]) -> Py<PyArray2<u64>> {
    let flat: Vec<u64> =
        runs.iter().flat_map(|r| [r.stack, r.first, r.last, u64::from(r.increasing), r.rows]).collect();
    let array = flat.into_pyarray(py).reshape([runs.len(), RUN_COLUMNS]).expect("n * 5 values");
    array.unbind()
}

/// The runs of a (n, 5) uint64 array (`runs_array`'s).
pub(crate) fn runs_of(runs: &PyReadonlyArray2<'_, u64>) -> PyResult<Vec<ImageRun>> {
    if runs.shape()[1] != RUN_COLUMNS {
        return Err(errors::value(format!("runs must have {RUN_COLUMNS} columns, got {}", runs.shape()[1])));
    }
    Ok(runs
        .as_slice()?
        .chunks_exact(RUN_COLUMNS)
        .map(|r| ImageRun { stack: r[0], first: r[1], last: r[2], increasing: r[3] != 0, rows: r[4] })
        .collect())
}

/// Image runs ((n_runs, 5) uint64) and the listed indices of the rows of the runs that are
/// not consecutive (uint32), as `StarFile.scan_particles` gives them.
pub(crate) type RunsAndIndices = (Py<PyArray2<u64>>, Py<PyArray1<u32>>);

/// image_runs(stacks, indices) -> (runs, listed indices): the runs ((n_runs, 5) uint64) of
/// rows whose image is `indices[i]` of the stack hashed `stacks[i]` (see `stack_hashes`), and
/// the indices of the rows of runs that are not consecutive (uint32), as a scan keeps them.
#[pyfunction]
pub(crate) fn image_runs<'py>(
    py: Python<'py>,
    stacks: PyReadonlyArray1<'py, u64>,
    indices: PyReadonlyArray1<'py, u32>,
) -> PyResult<RunsAndIndices> {
    let (stacks, indices) = (stacks.as_slice()?, indices.as_slice()?);
    if stacks.len() != indices.len() {
        return Err(errors::value(format!("{} stacks, {} indices", stacks.len(), indices.len())));
    }
    let rows = py.detach(|| {
        let mut rows = ImageRows::default();
        for (&stack, &index) in stacks.iter().zip(indices) {
            rows.push_hashed(stack, index);
        }
        rows
    });
    Ok((runs_array(py, &rows.runs), rows.indices.into_pyarray(py).unbind()))
}

/// image_indices(runs, indices, rows) -> uint32 array: the index in its stack of each of
/// `rows` (uint32 row numbers), told from the runs and the listed indices.
#[pyfunction]
pub(crate) fn image_indices<'py>(
    py: Python<'py>,
    runs: PyReadonlyArray2<'py, u64>,
    indices: PyReadonlyArray1<'py, u32>,
    rows: PyReadonlyArray1<'py, u32>,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let (runs, indices, rows) = (runs_of(&runs)?, indices.as_slice()?, rows.as_slice()?);
    let count = images::row_count(&runs);
    if let Some(&row) = rows.iter().find(|&&r| r as usize >= count) {
        return Err(errors::value(format!("row {row} of {count} rows")));
    }
    let found = py.detach(|| images::indices_of(&runs, indices, rows)).map_err(CoreError::from)?;
    Ok(found.into_pyarray(py))
}

/// image_row_count(runs) -> int: how many rows the runs hold.
#[pyfunction]
pub(crate) fn image_row_count(runs: PyReadonlyArray2<'_, u64>) -> PyResult<usize> {
    Ok(images::row_count(&runs_of(&runs)?))
}

/// image_keys(runs, indices) -> uint64 array: each row's image key (never 0; equal for rows of
/// one image, in any input), from its run's stack and its index.
#[pyfunction]
pub(crate) fn image_keys<'py>(
    py: Python<'py>,
    runs: PyReadonlyArray2<'py, u64>,
    indices: PyReadonlyArray1<'py, u32>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let (runs, indices) = (runs_of(&runs)?, indices.as_slice()?);
    let keys = py.detach(|| images::image_keys(&runs, indices)).map_err(CoreError::from)?;
    Ok(keys.into_pyarray(py))
}

/// The runs' stack names of rows pushed by name: (the names one after the other, as bytes;
/// where each run's name ends, uint64; each run's `index@` prefix length, uint8).
pub(crate) type RunStacks = (Py<PyBytes>, Py<PyArray1<u64>>, Py<PyArray1<u8>>);

/// The runs' stack names of `rows` for Python (see `RunStacks`).
pub(crate) fn run_stacks(py: Python<'_>, rows: &mut ImageRows) -> RunStacks {
    (
        PyBytes::new(py, &std::mem::take(&mut rows.stack_names)).unbind(), // (freed once copied)
        std::mem::take(&mut rows.stack_ends).into_pyarray(py).unbind(),
        std::mem::take(&mut rows.prefixes).into_pyarray(py).unbind(),
    )
}

/// Rows of particle images as a STAR file's scan gives them: the listed indices (uint32) of
/// the rows of runs that are not consecutive, the runs (n_runs, 5) uint64, and the runs'
/// stack names as `StarFile.scan_particles` gives them.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct NamedImageRows {
    indices: Py<PyArray1<u32>>,
    runs: Py<PyArray2<u64>>,
    stacks: RunStacks,
}

/// image_rows(names) -> NamedImageRows: RELION image names (`000012@stack.mrcs`) split and
/// run as a STAR file's scan does, for names read elsewhere (a table in memory).
#[pyfunction]
pub(crate) fn image_rows(py: Python<'_>, names: Vec<Vec<u8>>) -> NamedImageRows {
    let mut rows = ImageRows::default();
    names.iter().for_each(|name| rows.push_name(name));
    let stacks = run_stacks(py, &mut rows);
    let runs = runs_array(py, &rows.runs);
    NamedImageRows { indices: rows.indices.into_pyarray(py).unbind(), runs, stacks }
}

/// stack_hashes(names) -> uint64 array: the hash of each stack's name, as the runs of a STAR
/// file's `index@stack` carry it.
#[pyfunction]
pub(crate) fn stack_hashes<'py>(py: Python<'py>, names: Vec<Vec<u8>>) -> Bound<'py, PyArray1<u64>> {
    names.iter().map(|n| images::stack_hash(n)).collect::<Vec<u64>>().into_pyarray(py)
}

/// images_distinct(runs, indices) -> bool: whether every row's image (its run's stack, its
/// index) differs from every other row's; runs of one or several scans, in row order.
#[pyfunction]
pub(crate) fn images_distinct(
    py: Python<'_>,
    runs: PyReadonlyArray2<'_, u64>,
    indices: PyReadonlyArray1<'_, u32>,
) -> PyResult<bool> {
    let (runs, indices) = (runs_of(&runs)?, indices.as_slice()?);
    Ok(py.detach(|| images::distinct(&runs, indices)).map_err(CoreError::from)?)
}

/// images_kept_twice(images, groups, centres, keep) -> uint32 array: the kept rows whose
/// image is kept more than once at different centres (or on different micrographs, `groups`),
/// by image then row.
#[pyfunction]
pub(crate) fn images_kept_twice<'py>(
    py: Python<'py>,
    images: PyReadonlyArray1<'py, u64>,
    groups: Groups<'py>,
    centres: PyReadonlyArray2<'py, f64>,
    keep: PyReadonlyArray1<'py, bool>,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let (n, dim) = (centres.shape()[0], centres.shape()[1]);
    let (images, centres, keep) = (images.as_slice()?, centres.as_slice()?, keep.as_slice()?);
    let rows = on_groups!(groups, |ids| {
        if images.len() != n || keep.len() != n || ids.len() != n {
            return Err(errors::value(format!(
                "{} images, {} groups, {} centres, {} keep",
                images.len(),
                ids.len(),
                n,
                keep.len()
            )));
        }
        py.detach(|| kept_twice(images, ids, centres, dim, keep))
    });
    Ok(rows.into_pyarray(py))
}

/// images_repeated(runs, indices, keep, bits=64) -> uint32 array: the kept rows whose image
/// key another kept row shares, in row order (keys made as needed, not kept for every row);
/// `bits` < 64 cuts the keys to force collisions in tests.
#[pyfunction]
#[pyo3(signature = (runs, indices, keep, bits=64))]
pub(crate) fn images_repeated<'py>(
    py: Python<'py>,
    runs: PyReadonlyArray2<'py, u64>,
    indices: PyReadonlyArray1<'py, u32>,
    keep: PyReadonlyArray1<'py, bool>,
    bits: u32,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let (runs, indices, keep) = (runs_of(&runs)?, indices.as_slice()?, keep.as_slice()?);
    keep_fits(&runs, keep)?;
    let rows = py.detach(|| rows_of_repeated_keys(&runs, indices, keep, bits)).map_err(CoreError::from)?;
    Ok(rows.into_pyarray(py))
}

/// An error unless `keep` has a value for each row of the runs.
fn keep_fits(runs: &[ImageRun], keep: &[bool]) -> PyResult<()> {
    let rows = images::row_count(runs);
    match keep.len() == rows {
        true => Ok(()),
        false => Err(errors::value(format!("{rows} rows in the runs, {} keep", keep.len()))),
    }
}

/// images_shared(runs, indices, keep, bits=64) -> uint32 array: the kept rows whose image
/// (stack hash, index) another kept row shares, in row order, found from the runs by stack (no
/// key made); `bits` < 64 cuts the stacks' hashes to force collisions in tests.
#[pyfunction]
#[pyo3(signature = (runs, indices, keep, bits=64))]
pub(crate) fn images_shared<'py>(
    py: Python<'py>,
    runs: PyReadonlyArray2<'py, u64>,
    indices: PyReadonlyArray1<'py, u32>,
    keep: PyReadonlyArray1<'py, bool>,
    bits: u32,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let (runs, indices, keep) = (runs_of(&runs)?, indices.as_slice()?, keep.as_slice()?);
    keep_fits(&runs, keep)?;
    let rows = py.detach(|| rows_of_shared_images(&runs, indices, keep, bits)).map_err(CoreError::from)?;
    Ok(rows.into_pyarray(py))
}
