//! Particle images: the keys of `index@stack` image names and their runs, whether runs
//! prove every image distinct, and the rows of one image kept twice (`--same-image`).

use cryodedup_core::algo::images::kept_twice;
use cryodedup_core::images::{self, ImageKeys, ImageRun};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::errors;

/// Image runs as a uint64 (n, 4) array: stack hash, first and last index, increasing (0 or 1).
pub(crate) fn image_runs(py: Python<'_>, runs: &[ImageRun]) -> Py<PyArray2<u64>> {
    let flat: Vec<u64> = runs.iter().flat_map(|r| [r.stack, r.first, r.last, u64::from(r.increasing)]).collect();
    let array = flat.into_pyarray(py).reshape([runs.len(), 4]).expect("n * 4 values");
    array.unbind()
}

/// Image keys (uint64, one a row) and their runs ((n_runs, 4) uint64).
type KeysAndRuns<'py> = (Bound<'py, PyArray1<u64>>, Py<PyArray2<u64>>);

/// image_keys(stacks, indices) -> (keys, runs): the image key (uint64, never 0) of each row
/// whose image is `indices[i]` of the stack hashed `stacks[i]` (see `stack_hashes`), and the
/// runs of the rows, (n_runs, 4) uint64 as `StarFile.scan_particles` gives them.
#[pyfunction]
pub(crate) fn image_keys<'py>(
    py: Python<'py>,
    stacks: PyReadonlyArray1<'py, u64>,
    indices: PyReadonlyArray1<'py, u64>,
) -> PyResult<KeysAndRuns<'py>> {
    let (stacks, indices) = (stacks.as_slice()?, indices.as_slice()?);
    if stacks.len() != indices.len() {
        return Err(errors::value(format!("{} stacks, {} indices", stacks.len(), indices.len())));
    }
    let keys = py.detach(|| {
        let mut keys = ImageKeys::default();
        for (&stack, &index) in stacks.iter().zip(indices) {
            keys.push_hashed(stack, index);
        }
        keys
    });
    Ok((keys.keys.into_pyarray(py), image_runs(py, &keys.runs)))
}

/// stack_hashes(names) -> uint64 array: the hash of each stack's name, as the image keys of
/// a STAR file's `index@stack` use it.
#[pyfunction]
pub(crate) fn stack_hashes<'py>(py: Python<'py>, names: Vec<Vec<u8>>) -> Bound<'py, PyArray1<u64>> {
    names.iter().map(|n| images::stack_hash(n)).collect::<Vec<u64>>().into_pyarray(py)
}

/// images_distinct(runs) -> bool: whether image runs ((n, 4) uint64, of one or several
/// scans) prove every image distinct.
#[pyfunction]
pub(crate) fn images_distinct(runs: PyReadonlyArray2<'_, u64>) -> PyResult<bool> {
    if runs.shape()[1] != 4 {
        return Err(errors::value(format!("runs must have 4 columns, got {}", runs.shape()[1])));
    }
    let flat = runs.as_slice()?;
    let mut runs: Vec<ImageRun> = flat
        .chunks_exact(4)
        .map(|r| ImageRun { stack: r[0], first: r[1], last: r[2], increasing: r[3] != 0 })
        .collect();
    Ok(images::runs_distinct(&mut runs))
}

/// images_kept_twice(images, centres, keep) -> uint32 array: the kept rows whose image is
/// kept more than once at different centres, by image then row.
#[pyfunction]
pub(crate) fn images_kept_twice<'py>(
    py: Python<'py>,
    images: PyReadonlyArray1<'py, u64>,
    centres: PyReadonlyArray2<'py, f64>,
    keep: PyReadonlyArray1<'py, bool>,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let (n, dim) = (centres.shape()[0], centres.shape()[1]);
    let (images, centres, keep) = (images.as_slice()?, centres.as_slice()?, keep.as_slice()?);
    if images.len() != n || keep.len() != n {
        return Err(errors::value(format!("{} images, {} centres, {} keep", images.len(), n, keep.len())));
    }
    let rows = py.detach(|| kept_twice(images, centres, dim, keep));
    Ok(rows.into_pyarray(py))
}
