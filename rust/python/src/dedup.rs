//! Duplicate removal and consensus: `dedup`, the consensus report's counts and the
//! nearest-neighbour distances of the pictures.

use cryodedup_core::algo::{consensus, dedup as core_dedup, filaments, neighbours, pose};
use cryodedup_core::errors::DedupError;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::errors::{self, CoreError};

/// dedup(groups, coords, scores, min_dist, higher_is_better, remove_entirely, seed,
/// inputs=None, want_suppressed_by=True, tubes=None, whole_tubes=False, poses=None,
/// pose_kind="relion", max_angle=180.0, sym="C1") -> (keep, suppressed_by, masks). Groups
/// are int64 or uint32. With inputs (each row's input, below 64), masks are those of
/// consensus::support_masks, found in the same pass over each micrograph; else None. suppressed_by is
/// None unless wanted. With tubes (each row's tube id, 0 for none), segments of one tube are
/// never neighbours, and whole_tubes removes tubes whole (filaments.rs). With poses (n, 3:
/// RELION rot, tilt, psi in degrees for pose_kind "relion", a rotation vector in radians for
/// "rotvec"), particles within min_dist are duplicates only within max_angle degrees under the
/// point group sym. Arrays must be C-contiguous (the Python wrapper sees to it).
#[pyfunction]
#[pyo3(signature = (
    groups, coords, scores, min_dist, higher_is_better, remove_entirely, seed, inputs=None, want_suppressed_by=true,
    tubes=None, whole_tubes=false, poses=None, pose_kind="relion", max_angle=180.0, sym="C1"
))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub(crate) fn dedup<'py>(
    py: Python<'py>,
    groups: &Bound<'py, PyAny>,
    coords: PyReadonlyArray2<'py, f64>,
    scores: Option<PyReadonlyArray1<'py, f64>>,
    min_dist: f64,
    higher_is_better: bool,
    remove_entirely: bool,
    seed: u64,
    inputs: Option<PyReadonlyArray1<'py, u32>>,
    want_suppressed_by: bool,
    tubes: Option<PyReadonlyArray1<'py, u32>>,
    whole_tubes: bool,
    poses: Option<PyReadonlyArray2<'py, f64>>,
    pose_kind: &str,
    max_angle: f64,
    sym: &str,
) -> PyResult<(Bound<'py, PyArray1<bool>>, Option<Bound<'py, PyArray1<i64>>>, Option<Bound<'py, PyArray1<u64>>>)> {
    let dim = coords.shape()[1];
    let kind = match pose_kind {
        "relion" => pose::PoseKind::RelionEulerDegrees,
        "rotvec" => pose::PoseKind::RotationVector,
        other => return Err(errors::value(format!("pose_kind is relion or rotvec, got {other:?}"))),
    };
    let group = pose::point_group(sym).map_err(CoreError::from)?;
    if !(0.0..=180.0).contains(&max_angle) {
        return Err(errors::value(format!("max_angle must be in [0, 180] degrees, got {max_angle}")));
    }
    let pose_test = match &poses {
        Some(p) if p.shape()[1] == 3 => Some(pose::PoseTest::new(p.as_slice()?, kind, group, max_angle)),
        Some(p) => return Err(errors::value(format!("poses must have 3 columns, got {}", p.shape()[1]))),
        None => None,
    };
    let coords = coords.as_slice()?;
    let scores = match &scores {
        Some(s) => Some(s.as_slice()?),
        None => None,
    };
    let inputs = match &inputs {
        Some(i) => Some(i.as_slice()?),
        None => None,
    };
    let tubes = match &tubes {
        Some(t) => Some(t.as_slice()?),
        None => None,
    };
    let params = core_dedup::DedupParams { min_dist, higher_is_better, remove_entirely, seed, want_suppressed_by };
    let run = Dedup { coords, dim, scores, inputs, tubes, whole_tubes, pose: pose_test.as_ref(), params: &params };
    let (result, masks) = if let Ok(small) = groups.extract::<PyReadonlyArray1<'py, u32>>() {
        let groups = small.as_slice()?;
        py.detach(|| run.on(groups))
    } else {
        let wide = groups.extract::<PyReadonlyArray1<'py, i64>>()?;
        let groups = wide.as_slice()?;
        py.detach(|| run.on(groups))
    }
    .map_err(CoreError::from)?;
    let masks = masks.map(|m| m.into_pyarray(py));
    let suppressed_by = want_suppressed_by.then(|| result.suppressed_by.into_pyarray(py));
    Ok((result.keep.into_pyarray(py), suppressed_by, masks))
}

/// One dedup call's arguments but the micrograph ids, which come as `u32` or `i64`.
pub(crate) struct Dedup<'a> {
    coords: &'a [f64],
    dim: usize,
    scores: Option<&'a [f64]>,
    inputs: Option<&'a [u32]>,
    tubes: Option<&'a [u32]>,
    whole_tubes: bool,
    pose: Option<&'a pose::PoseTest<'a>>,
    params: &'a core_dedup::DedupParams,
}

impl Dedup<'_> {
    fn on<G: core_dedup::GroupId>(
        &self,
        groups: &[G],
    ) -> Result<(core_dedup::DedupResult, Option<Vec<u64>>), DedupError> {
        let Dedup { coords, dim, scores, inputs, tubes, whole_tubes, pose, params } = *self;
        match tubes {
            None => core_dedup::dedup_full(groups, coords, dim, scores, inputs, None, pose, params),
            Some(tubes) if whole_tubes => {
                // The masks (consensus) are those of the segment-wise pass: who picked near a segment.
                let masks = match inputs {
                    Some(_) => core_dedup::dedup_with_tubes(groups, coords, dim, scores, inputs, tubes, params)?.1,
                    None => None,
                };
                Ok((filaments::dedup_whole_tubes(groups, coords, dim, scores, tubes, params)?, masks))
            }
            Some(tubes) => core_dedup::dedup_full(groups, coords, dim, scores, inputs, Some(tubes), pose, params),
        }
    }
}

/// agreement_counts(groups, inputs, masks, keep, n_groups, n_inputs) -> (size, matched, per_input):
/// the consensus report's counts in one pass (see cryodedup_core::algo::consensus::agreement):
/// size (n_groups, n_inputs), matched (n_groups, n_inputs, n_inputs) flattened, per_input
/// (n_inputs, 3): confirmed, kept alone, kept confirmed. `masks` and `keep` may be None.
#[pyfunction]
#[pyo3(signature = (groups, inputs, masks, keep, n_groups, n_inputs))]
#[allow(clippy::type_complexity)]
pub(crate) fn agreement_counts<'py>(
    py: Python<'py>,
    groups: PyReadonlyArray1<'py, u32>,
    inputs: PyReadonlyArray1<'py, u32>,
    masks: Option<PyReadonlyArray1<'py, u64>>,
    keep: Option<PyReadonlyArray1<'py, bool>>,
    n_groups: usize,
    n_inputs: usize,
) -> PyResult<(Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<u64>>)> {
    let (groups, inputs) = (groups.as_slice()?, inputs.as_slice()?);
    let masks = masks.as_ref().map(|m| m.as_slice()).transpose()?;
    let keep = keep.as_ref().map(|k| k.as_slice()).transpose()?;
    let counts =
        py.detach(|| consensus::agreement(groups, inputs, masks, keep, n_groups, n_inputs)).map_err(CoreError::from)?;
    let per_input: Vec<u64> = counts.per_input.iter().flatten().copied().collect();
    Ok((counts.size.into_pyarray(py), counts.matched.into_pyarray(py), per_input.into_pyarray(py)))
}

/// nearest_distances(groups, coords) -> distances: each particle's distance to the nearest
/// other particle of its group (inf when alone).
#[pyfunction]
pub(crate) fn nearest_distances<'py>(
    py: Python<'py>,
    groups: PyReadonlyArray1<'py, i64>,
    coords: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let dim = coords.shape()[1];
    let (groups, coords) = (groups.as_slice()?, coords.as_slice()?);
    let distances = py.detach(|| neighbours::nearest_distances(groups, coords, dim)).map_err(CoreError::from)?;
    Ok(distances.into_pyarray(py))
}
