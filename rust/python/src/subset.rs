//! A subset's rows matched to its original's (`cryodedup select`): by a key one original row
//! alone holds, and by position one to one within a distance.

use cryodedup_core::algo::subset;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray1, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::errors;

/// match_keys(keys, wanted, taken) -> partner: each wanted key's row of `keys` where one row
/// alone holds it and it is not `taken` (then marked taken, in place); -1 otherwise. Wanted keys
/// are matched in order: a later one finds the row an earlier one took.
#[pyfunction]
pub(crate) fn match_keys<'py>(
    py: Python<'py>,
    keys: PyReadonlyArray1<'py, u64>,
    wanted: PyReadonlyArray1<'py, u64>,
    mut taken: PyReadwriteArray1<'py, bool>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let (keys, wanted, taken) = (keys.as_slice()?, wanted.as_slice()?, taken.as_slice_mut()?);
    if keys.len() != taken.len() {
        return Err(errors::value(format!("{} keys and {} taken flags", keys.len(), taken.len())));
    }
    Ok(py.detach(|| subset::match_keys(keys, wanted, taken)).into_pyarray(py))
}

/// Each subset row's original row and whether it was matched ambiguously.
type PositionsFound<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<bool>>);

/// match_positions(subset, subset_groups, original, original_groups, taken, radius) -> (partner,
/// ambiguous): the subset rows (centres (n, 2) or (n, 3) in Å, micrograph ids; -1 on none)
/// matched one to one to the original's not `taken` on their micrograph within `radius` Å, as
/// many as can be; each subset row's original row (-1: none), and whether it had more than one
/// within the radius or shared one with another subset row.
#[pyfunction]
pub(crate) fn match_positions<'py>(
    py: Python<'py>,
    subset: PyReadonlyArray2<'py, f64>,
    subset_groups: PyReadonlyArray1<'py, i64>,
    original: PyReadonlyArray2<'py, f64>,
    original_groups: PyReadonlyArray1<'py, i64>,
    taken: PyReadonlyArray1<'py, bool>,
    radius: f64,
) -> PyResult<PositionsFound<'py>> {
    let (axes, other) = (subset.shape()[1], original.shape()[1]);
    if axes != other || !(axes == 2 || axes == 3) {
        return Err(errors::value(format!("centres of 2 or 3 axes alike, got {axes} and {other}")));
    }
    let (sg, og) = (subset_groups.as_slice()?, original_groups.as_slice()?);
    let (s, o) = (subset.as_slice()?, original.as_slice()?);
    let taken = taken.as_slice()?;
    if s.len() != sg.len() * axes || o.len() != og.len() * axes || taken.len() != og.len() {
        return Err(errors::value("a micrograph id per row of centres, a taken flag per original row".to_string()));
    }
    let found = py.detach(|| match axes {
        2 => subset::match_positions(points::<2>(s), sg, points::<2>(o), og, taken, radius),
        _ => subset::match_positions(points::<3>(s), sg, points::<3>(o), og, taken, radius),
    });
    Ok((found.partner.into_pyarray(py), found.ambiguous.into_pyarray(py)))
}

/// Row-major centres as points of `D` axes, in place (not copied: a million original centres).
fn points<const D: usize>(values: &[f64]) -> &[[f64; D]] {
    // SAFETY: `[f64; D]` is D f64 side by side, with f64's alignment; the slice covers whole
    // points of `values` (len / D of them), borrowed for as long as `values` is.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<[f64; D]>(), values.len() / D) }
}

/// release_freed() -> bool: the heap's freed memory handed back to the system (glibc's
/// `malloc_trim`; elsewhere nothing is done and False returned). A job that frees its large
/// arrays between stages holds them resident otherwise: glibc keeps the freed pages of a
/// fragmented heap, 40 MB of `select`'s matching carried into its write stage.
#[pyfunction]
pub(crate) fn release_freed(py: Python<'_>) -> bool {
    py.detach(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only returns free pages of the allocator's own heap; no pointer is touched.
        return unsafe { libc::malloc_trim(0) } != 0;
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        return false;
    })
}
