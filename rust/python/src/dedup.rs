//! Duplicate removal and consensus: `dedup`, the consensus report's counts and the
//! nearest-neighbour distances of the pictures.

use cryodedup_core::algo::decide::{decide, Request, Tubes};
use cryodedup_core::algo::dedup::{Levels, RowFacts};
use cryodedup_core::algo::{consensus, dedup as core_dedup, ellipsoid, neighbours, pose, rank_keys, species};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::errors::{self, CoreError};

/// Each row's micrograph (group) id as Python hands it over: uint32 from a scan, int64 from
/// the caller's own arrays; the core takes either (algo::points::GroupId) without a copy.
#[derive(FromPyObject)]
pub(crate) enum Groups<'py> {
    Small(PyReadonlyArray1<'py, u32>),
    Wide(PyReadonlyArray1<'py, i64>),
}

/// `$body` with `$ids` bound to the group ids' slice, of whichever integer type they came in.
macro_rules! on_groups {
    ($groups:expr, |$ids:ident| $body:expr) => {
        match &$groups {
            Groups::Small(array) => {
                let $ids = array.as_slice()?;
                $body
            }
            Groups::Wide(array) => {
                let $ids = array.as_slice()?;
                $body
            }
        }
    };
}
pub(crate) use on_groups;

/// How duplicates are decided: within `min_dist` (Å), the better score kept (higher or
/// lower first; a random order from `seed` without scores), or both removed.
#[pyclass(module = "cryodedup._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
pub(crate) struct DedupRule {
    min_dist: f64,
    higher_is_better: bool,
    remove_entirely: bool,
    seed: u64,
    /// Which set a micrograph keeps: "greedy", "best-score" or "most-particles" (algo::best).
    selection: String,
}

#[pymethods]
impl DedupRule {
    #[new]
    #[pyo3(signature = (*, min_dist, higher_is_better, remove_entirely, seed, selection="greedy"))]
    fn new(min_dist: f64, higher_is_better: bool, remove_entirely: bool, seed: u64, selection: &str) -> PyResult<Self> {
        selection_named(selection)?;
        Ok(DedupRule { min_dist, higher_is_better, remove_entirely, seed, selection: selection.into() })
    }

    fn __repr__(&self) -> String {
        let DedupRule { min_dist, higher_is_better, remove_entirely, seed, selection } = self;
        let python = |b: &bool| if *b { "True" } else { "False" };
        let (higher, entirely) = (python(higher_is_better), python(remove_entirely));
        // (the default selection left out: the repr of a rule from before --select is unchanged)
        let chosen = if selection == "greedy" { String::new() } else { format!(", selection='{selection}'") };
        format!("DedupRule(min_dist={min_dist:?}, higher_is_better={higher}, remove_entirely={entirely}, seed={seed}{chosen})")
    }
}

/// The selection a name gives.
fn selection_named(name: &str) -> PyResult<core_dedup::Selection> {
    match name {
        "greedy" => Ok(core_dedup::Selection::Greedy),
        "best-score" => Ok(core_dedup::Selection::BestScore),
        "most-particles" => Ok(core_dedup::Selection::MostParticles),
        other => Err(errors::value(format!("selection is greedy, best-score or most-particles, got {other:?}"))),
    }
}

impl DedupRule {
    pub(crate) fn params(&self, want_suppressed_by: bool) -> core_dedup::DedupParams {
        let DedupRule { min_dist, higher_is_better, remove_entirely, seed, .. } = *self;
        let selection = selection_named(&self.selection).unwrap_or_default(); // (checked when made)
        core_dedup::DedupParams { min_dist, higher_is_better, remove_entirely, seed, want_suppressed_by, selection }
    }
}

/// Orientations that two particles within `min_dist` must also share to be duplicates:
/// `poses` (n, 3) are RELION's rot, tilt, psi in degrees (`kind` "relion") or rotation
/// vectors in radians ("rotvec"); within `max_angle` degrees under the point group `sym` as
/// `convention` ("relion" or "cryosparc": the package that wrote the poses) defines it.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct PoseRule {
    poses: Py<PyArray2<f64>>,
    kind: String,
    max_angle: f64,
    sym: String,
    convention: String,
}

#[pymethods]
impl PoseRule {
    #[new]
    #[pyo3(signature = (poses, kind="relion", max_angle=180.0, sym="C1", convention="relion"))]
    fn new(poses: Bound<'_, PyArray2<f64>>, kind: &str, max_angle: f64, sym: &str, convention: &str) -> PyResult<Self> {
        if poses.shape()[1] != 3 {
            return Err(errors::value(format!("poses must have 3 columns, got {}", poses.shape()[1])));
        }
        if !(0.0..=180.0).contains(&max_angle) {
            return Err(errors::value(format!("max_angle must be in [0, 180] degrees, got {max_angle}")));
        }
        pose_kind(kind)?;
        pose::point_group(sym, symmetry_convention(convention)?).map_err(CoreError::from)?;
        Ok(PoseRule {
            poses: poses.unbind(),
            kind: kind.into(),
            max_angle,
            sym: sym.into(),
            convention: convention.into(),
        })
    }
}

impl PoseRule {
    /// The operators of the rule's point group (checked when the rule was made).
    fn group(&self) -> PyResult<Vec<pose::Mat3>> {
        Ok(pose::point_group(&self.sym, symmetry_convention(&self.convention)?).map_err(CoreError::from)?)
    }
}

fn symmetry_convention(name: &str) -> PyResult<pose::Convention> {
    match name {
        "relion" => Ok(pose::Convention::Relion),
        "cryosparc" => Ok(pose::Convention::Cryosparc),
        other => Err(errors::value(format!("convention is relion or cryosparc, got {other:?}"))),
    }
}

/// symmetry_setting(sym, convention) -> str: the explicit setting (its canonical name: `Dx7`,
/// `Tz3`, `I2`, ...) that the point group `sym` means in `convention` ("relion", "cryosparc");
/// ValueError naming why for a name the package does not define or whose setting is not established.
#[pyfunction]
pub(crate) fn symmetry_setting(sym: &str, convention: &str) -> PyResult<String> {
    Ok(pose::setting(sym, symmetry_convention(convention)?).map_err(CoreError::from)?)
}

/// Exclusion in each particle's own frame: semi-axes `a`, `b`, `c` (Å, along the particle's x,
/// y, z; read back as `semi_axes`) of an ellipsoid turned by each row's pose (`poses` (n, 3), read as `kind` says, as for
/// `PoseRule`); two rows conflict when either centre lies inside the other's ellipsoid.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct EllipsoidRule {
    poses: Py<PyArray2<f64>>,
    kind: String,
    semi_axes: [f64; 3],
}

#[pymethods]
impl EllipsoidRule {
    #[new]
    #[pyo3(signature = (poses, a, b, c, kind="relion"))]
    fn new(poses: Bound<'_, PyArray2<f64>>, a: f64, b: f64, c: f64, kind: &str) -> PyResult<Self> {
        let semi_axes = [a, b, c];
        if poses.shape()[1] != 3 {
            return Err(errors::value(format!("poses must have 3 columns, got {}", poses.shape()[1])));
        }
        pose_kind(kind)?;
        ellipsoid::EllipsoidTest::new(&[], pose::PoseKind::RelionEulerDegrees, semi_axes).map_err(CoreError::from)?;
        Ok(EllipsoidRule { poses: poses.unbind(), kind: kind.into(), semi_axes })
    }
}

fn pose_kind(name: &str) -> PyResult<pose::PoseKind> {
    match name {
        "relion" => Ok(pose::PoseKind::RelionEulerDegrees),
        "rotvec" => Ok(pose::PoseKind::RotationVector),
        other => Err(errors::value(format!("pose_kind is relion or rotvec, got {other:?}"))),
    }
}

/// What `dedup` decides: each row kept or not; the kept row that suppressed each rejected
/// one (-1 for kept rows) where wanted; with inputs, the mask of inputs picked near each row;
/// with priorities (not removing entirely), the groups each level decided.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct DedupDecision {
    keep: Py<PyArray1<bool>>,
    suppressed_by: Option<Py<PyArray1<i64>>>,
    masks: Option<Py<PyArray1<u64>>>,
    priority: Option<Py<PriorityCounts>>,
    best: Option<Py<BestCounts>>,
}

/// What a best selection did (cryodedup_core::algo::best::BestCounts): its conflict
/// components and how each was solved (exactly, or by the bounded method), and the picks kept
/// and their scores' sum by the greedy walk and by the best selection; in the bounded
/// components, what was kept and at most what could be.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct BestCounts {
    components: u64,
    exact: u64,
    bounded: u64,
    largest: u64,
    exact_limit: u64,
    greedy_kept: u64,
    greedy_score: f64,
    kept: u64,
    score: f64,
    bounded_kept: u64,
    bounded_kept_bound: u64,
    bounded_score: f64,
    bounded_score_bound: f64,
    walked: u64,
    walked_picks: u64,
    open: Py<OpenComponents>,
}

/// The bounded components for a proven solver (cryodedup_core::algo::best::OpenComponent),
/// end to end: component k's picks are `members[member_starts[k]..member_starts[k + 1]]`
/// (global rows, with `weights`, `position` and `keep` aligned), its pairs
/// `pairs[2 * pair_starts[k]..2 * pair_starts[k + 1]]` (indices into its picks, in twos).
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct OpenComponents {
    members: Py<PyArray1<u32>>,
    member_starts: Py<PyArray1<u64>>,
    pairs: Py<PyArray1<u32>>,
    pair_starts: Py<PyArray1<u64>>,
    weights: Py<PyArray1<f64>>,
    position: Py<PyArray1<u32>>,
    keep: Py<PyArray1<bool>>,
    kept_bound: Py<PyArray1<u64>>,
    score_bound: Py<PyArray1<f64>>,
}

fn open_components(
    py: Python<'_>,
    open: Vec<cryodedup_core::algo::best::OpenComponent>,
) -> PyResult<Py<OpenComponents>> {
    let (mut member_starts, mut pair_starts) = (vec![0u64], vec![0u64]);
    for c in &open {
        member_starts.push(member_starts.last().unwrap() + c.members.len() as u64);
        pair_starts.push(pair_starts.last().unwrap() + c.pairs.len() as u64 / 2);
    }
    let flat = |part: fn(&cryodedup_core::algo::best::OpenComponent) -> &[u32]| -> Vec<u32> {
        open.iter().flat_map(|c| part(c).iter().copied()).collect()
    };
    let components = OpenComponents {
        members: flat(|c| &c.members).into_pyarray(py).unbind(),
        member_starts: member_starts.into_pyarray(py).unbind(),
        pairs: flat(|c| &c.pairs).into_pyarray(py).unbind(),
        pair_starts: pair_starts.into_pyarray(py).unbind(),
        weights: open.iter().flat_map(|c| c.weights.iter().copied()).collect::<Vec<f64>>().into_pyarray(py).unbind(),
        position: flat(|c| &c.position).into_pyarray(py).unbind(),
        keep: open.iter().flat_map(|c| c.keep.iter().copied()).collect::<Vec<bool>>().into_pyarray(py).unbind(),
        kept_bound: open.iter().map(|c| c.kept_bound).collect::<Vec<u64>>().into_pyarray(py).unbind(),
        score_bound: open.iter().map(|c| c.score_bound).collect::<Vec<f64>>().into_pyarray(py).unbind(),
    };
    Py::new(py, components)
}

impl BestCounts {
    fn new(py: Python<'_>, c: cryodedup_core::algo::best::BestCounts) -> PyResult<Self> {
        Ok(BestCounts {
            components: c.components,
            exact: c.exact,
            bounded: c.bounded,
            largest: c.largest,
            exact_limit: cryodedup_core::algo::best::EXACT_LIMIT as u64,
            greedy_kept: c.greedy_kept,
            greedy_score: c.greedy_score,
            kept: c.kept,
            score: c.score,
            bounded_kept: c.bounded_kept,
            bounded_kept_bound: c.bounded_kept_bound,
            bounded_score: c.bounded_score,
            bounded_score_bound: c.bounded_score_bound,
            walked: c.walked,
            walked_picks: c.walked_picks,
            open: open_components(py, c.open)?,
        })
    }
}

/// The groups of duplicates (kept rows that suppressed a row), those each level of the kept
/// row won by priority (a suppressed row of a higher level), and of those, the groups where
/// such a row had the better score (see cryodedup_core::algo::priority).
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct PriorityCounts {
    groups: u64,
    by_priority: Vec<u64>,
    against_score: u64,
}

#[pymethods]
impl DedupDecision {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!("DedupDecision({} rows)", self.keep.bind(py).len())
    }
}

/// dedup(groups, coords, scores, rule, inputs=None, want_suppressed_by=True, tubes=None,
/// whole_tubes=False, pose=None, priorities=None, images=None, input_priorities=None) ->
/// DedupDecision. With priorities (uint32, each row's level) or input_priorities (each
/// input's level, with inputs), a lower level ranks first whatever the scores; with
/// images (uint64, each row's image, 0 for none), rows of one image at different centres are
/// duplicates whatever their distance. With ellipsoid (an EllipsoidRule, 3-D centres), rows
/// within its largest semi-axis are duplicates only where either lies inside the other's
/// ellipsoid; rule.min_dist is then not used. Groups are int64 or uint32, coords (n, 2
/// or 3) in Å. With inputs (each row's input, below 64), masks are those of
/// consensus::support_masks, found in the same pass over each micrograph. With tubes (each
/// row's tube id, 0 for none), segments of one tube are never neighbours, and whole_tubes
/// removes tubes whole. Which algorithm runs is the core's choice (algo::decide). Arrays must
/// be C-contiguous (the Python wrapper sees to it); the GIL is released while it runs.
#[pyfunction]
#[pyo3(signature = (
    groups, coords, scores, rule, inputs=None, want_suppressed_by=true, tubes=None, whole_tubes=false, pose=None,
    priorities=None, images=None, input_priorities=None, ellipsoid=None
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn dedup<'py>(
    py: Python<'py>,
    groups: Groups<'py>,
    coords: PyReadonlyArray2<'py, f64>,
    scores: Option<PyReadonlyArray1<'py, f64>>,
    rule: &DedupRule,
    inputs: Option<PyReadonlyArray1<'py, u32>>,
    want_suppressed_by: bool,
    tubes: Option<PyReadonlyArray1<'py, u32>>,
    whole_tubes: bool,
    pose: Option<&PoseRule>,
    priorities: Option<PyReadonlyArray1<'py, u32>>,
    images: Option<PyReadonlyArray1<'py, u64>>,
    input_priorities: Option<PyReadonlyArray1<'py, u32>>,
    ellipsoid: Option<&EllipsoidRule>,
) -> PyResult<DedupDecision> {
    if ellipsoid.is_some() && whole_tubes {
        return Err(errors::value("whole_tubes compares tubes whole, not ellipsoids".to_string()));
    }
    let shape_poses = ellipsoid.map(|e| e.poses.bind(py).readonly());
    let shapes = match (ellipsoid, &shape_poses) {
        (Some(rule), Some(poses)) => Some(
            ellipsoid::EllipsoidTest::new(poses.as_slice()?, pose_kind(&rule.kind)?, rule.semi_axes)
                .map_err(CoreError::from)?,
        ),
        _ => None,
    };
    let poses = pose.map(|p| p.poses.bind(py).readonly());
    let pose_test = match (pose, &poses) {
        (Some(rule), Some(poses)) => {
            Some(pose::PoseTest::new(poses.as_slice()?, pose_kind(&rule.kind)?, rule.group()?, rule.max_angle))
        }
        _ => None,
    };
    let tubes = tubes.as_ref().map(|t| t.as_slice()).transpose()?;
    let params = rule.params(want_suppressed_by);
    let inputs = inputs.as_ref().map(|i| i.as_slice()).transpose()?;
    let request = Request {
        coords: coords.as_slice()?,
        dim: coords.shape()[1],
        scores: scores.as_ref().map(|s| s.as_slice()).transpose()?,
        inputs,
        tubes: tubes.map(|t| if whole_tubes { Tubes::Whole(t) } else { Tubes::Apart(t) }),
        pose: pose_test.as_ref(),
        rows: RowFacts {
            priorities: levels(priorities.as_ref(), input_priorities.as_ref(), inputs)?,
            images: images.as_ref().map(|i| i.as_slice()).transpose()?,
            shapes: shapes.as_ref(),
        },
        params: &params,
    };
    let decision = on_groups!(groups, |ids| py.detach(|| decide(ids, &request))).map_err(CoreError::from)?;
    Ok(DedupDecision {
        keep: decision.result.keep.into_pyarray(py).unbind(),
        suppressed_by: want_suppressed_by.then(|| decision.result.suppressed_by.into_pyarray(py).unbind()),
        masks: decision.masks.map(|m| m.into_pyarray(py).unbind()),
        priority: decision
            .result
            .priority
            .map(|c| {
                Py::new(
                    py,
                    PriorityCounts { groups: c.groups, by_priority: c.by_priority, against_score: c.against_score },
                )
            })
            .transpose()?,
        best: decision.result.best.map(|c| Py::new(py, BestCounts::new(py, c)?)).transpose()?,
    })
}

/// pose_angles(pose, a, b) -> angles: the angle in degrees between the orientations of rows
/// `a[k]` and `b[k]` of `pose`'s rows under its point group, as the duplicate test compares it
/// with the maximum angle (the record of each rejection names it). Rows beyond the poses are refused.
#[pyfunction]
pub(crate) fn pose_angles<'py>(
    py: Python<'py>,
    pose: &PoseRule,
    a: PyReadonlyArray1<'py, u32>,
    b: PyReadonlyArray1<'py, u32>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let poses = pose.poses.bind(py).readonly();
    let (a, b) = (a.as_slice()?, b.as_slice()?);
    check_pairs(a, b, poses.shape()[0])?;
    let test = pose::PoseTest::new(poses.as_slice()?, pose_kind(&pose.kind)?, pose.group()?, pose.max_angle);
    let angles: Vec<f64> = a.iter().zip(b).map(|(&i, &j)| test.angle(i, j)).collect();
    Ok(angles.into_pyarray(py))
}

/// Refuses pairs of rows `a[k]`, `b[k]` of unequal lengths or beyond the `n` poses.
fn check_pairs(a: &[u32], b: &[u32], n: usize) -> PyResult<()> {
    if a.len() != b.len() {
        return Err(errors::value(format!("a and b must have one length, got {} and {}", a.len(), b.len())));
    }
    match a.iter().chain(b).find(|&&row| row as usize >= n) {
        Some(&row) => Err(errors::value(format!("row {row} is beyond the {n} poses"))),
        None => Ok(()),
    }
}

/// ellipsoid_conflicts(ellipsoid, coords, a, b) -> bool array: whether rows `a[k]` and `b[k]`
/// (centres `coords`, (n, 3) Å) conflict by `ellipsoid`'s rule, either centre inside the other's
/// ellipsoid, as the duplicate test decides it (the record of each rejection asks it of a pair).
#[pyfunction]
pub(crate) fn ellipsoid_conflicts<'py>(
    py: Python<'py>,
    ellipsoid: &EllipsoidRule,
    coords: PyReadonlyArray2<'py, f64>,
    a: PyReadonlyArray1<'py, u32>,
    b: PyReadonlyArray1<'py, u32>,
) -> PyResult<Bound<'py, PyArray1<bool>>> {
    let poses = ellipsoid.poses.bind(py).readonly();
    let (a, b, n) = (a.as_slice()?, b.as_slice()?, poses.shape()[0]);
    check_pairs(a, b, n)?;
    if coords.shape() != [n, 3] {
        return Err(errors::value(format!("coords must have shape ({n}, 3), got {:?}", coords.shape())));
    }
    let test = ellipsoid::EllipsoidTest::new(poses.as_slice()?, pose_kind(&ellipsoid.kind)?, ellipsoid.semi_axes)
        .map_err(CoreError::from)?;
    let centres = coords.as_slice()?;
    let centre = |i: u32| [0, 1, 2].map(|k| centres[3 * i as usize + k]);
    let offset = |i: u32, j: u32| [0, 1, 2].map(|k| centre(j)[k] - centre(i)[k]);
    let found: Vec<bool> =
        a.iter().zip(b).map(|(&i, &j)| ellipsoid::conflict(&test.shape(i), &test.shape(j), offset(i, j))).collect();
    Ok(found.into_pyarray(py))
}

/// The priority levels given: each row's, or each input's with the rows' inputs.
fn levels<'a>(
    rows: Option<&'a PyReadonlyArray1<'_, u32>>,
    of_input: Option<&'a PyReadonlyArray1<'_, u32>>,
    inputs: Option<&'a [u32]>,
) -> PyResult<Option<Levels<'a>>> {
    match (rows, of_input, inputs) {
        (Some(_), Some(_), _) => Err(errors::value("give priorities or input_priorities, not both".to_string())),
        (None, Some(_), None) => Err(errors::value("input_priorities needs inputs".to_string())),
        (None, Some(of_input), Some(input_of)) => Ok(Some(Levels::Inputs { input_of, of_input: of_input.as_slice()? })),
        (rows, None, _) => Ok(rows.map(|r| r.as_slice()).transpose()?.map(Levels::Rows)),
    }
}

/// The consensus report's counts (see cryodedup_core::algo::consensus::agreement).
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct AgreementCounts {
    /// Picks of each input on each micrograph, (n_groups, n_inputs).
    size: Py<PyArray2<u64>>,
    /// Picks of input a confirmed by input b on each micrograph, (n_groups, n_inputs, n_inputs).
    matched: Py<PyArray3<u64>>,
    /// Per input: picks confirmed, kept alone, kept confirmed, (n_inputs, 3).
    per_input: Py<PyArray2<u64>>,
}

/// agreement_counts(groups, inputs, masks, keep, n_groups, n_inputs) -> AgreementCounts, in
/// one pass. `masks` and `keep` may be None.
#[pyfunction]
#[pyo3(signature = (groups, inputs, masks, keep, n_groups, n_inputs))]
pub(crate) fn agreement_counts<'py>(
    py: Python<'py>,
    groups: PyReadonlyArray1<'py, u32>,
    inputs: PyReadonlyArray1<'py, u32>,
    masks: Option<PyReadonlyArray1<'py, u64>>,
    keep: Option<PyReadonlyArray1<'py, bool>>,
    n_groups: usize,
    n_inputs: usize,
) -> PyResult<AgreementCounts> {
    let (groups, inputs) = (groups.as_slice()?, inputs.as_slice()?);
    let masks = masks.as_ref().map(|m| m.as_slice()).transpose()?;
    let keep = keep.as_ref().map(|k| k.as_slice()).transpose()?;
    let counts =
        py.detach(|| consensus::agreement(groups, inputs, masks, keep, n_groups, n_inputs)).map_err(CoreError::from)?;
    let per_input: Vec<u64> = counts.per_input.iter().flatten().copied().collect();
    Ok(AgreementCounts {
        size: counts.size.into_pyarray(py).reshape([n_groups, n_inputs])?.unbind(),
        matched: counts.matched.into_pyarray(py).reshape([n_groups, n_inputs, n_inputs])?.unbind(),
        per_input: per_input.into_pyarray(py).reshape([n_inputs, 3])?.unbind(),
    })
}

/// random_keys(seed, rows) -> uint64 array: the random rank key dedup gives each row index
/// under `seed` (no score), for a caller that decides some rows again as the whole set ranked them.
#[pyfunction]
pub(crate) fn random_keys<'py>(
    py: Python<'py>,
    seed: u64,
    rows: PyReadonlyArray1<'py, u64>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let keys: Vec<u64> = rows.as_array().iter().map(|&row| rank_keys::random_key(seed, row)).collect();
    Ok(keys.into_pyarray(py))
}

/// nearest_distances(groups, coords, reach=inf) -> distances: each particle's distance to
/// the nearest other particle of its group (inf when alone), or `reach` when that one is
/// farther. Groups are uint32 or int64, as for dedup.
#[pyfunction]
#[pyo3(signature = (groups, coords, reach = f64::INFINITY))]
pub(crate) fn nearest_distances<'py>(
    py: Python<'py>,
    groups: Groups<'py>,
    coords: PyReadonlyArray2<'py, f64>,
    reach: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let dim = coords.shape()[1];
    let coords = coords.as_slice()?;
    let distances = on_groups!(groups, |ids| py.detach(|| neighbours::nearest_distances(ids, coords, dim, reach)))
        .map_err(CoreError::from)?;
    Ok(distances.into_pyarray(py))
}

/// A nearest-distance histogram as Python gets it: the counts by label and bin, and those within.
type NearestCounted<'py> = (Bound<'py, PyArray2<i64>>, Bound<'py, PyArray1<i64>>);

/// nearest_histogram(groups, coords, reach, edges, labels, within) -> (counts, within_counts):
/// the histogram over `edges` of each particle's nearest distance (as nearest_distances gives
/// it), one row of counts (int64, len(edges) - 1) per label (labels uint32 below len(within),
/// or None: one row), and how many particles of each label lie within `within[label]`. No
/// distance per particle is made; the GIL is released.
#[pyfunction]
pub(crate) fn nearest_histogram<'py>(
    py: Python<'py>,
    groups: Groups<'py>,
    coords: PyReadonlyArray2<'py, f64>,
    reach: f64,
    edges: PyReadonlyArray1<'py, f64>,
    labels: Option<PyReadonlyArray1<'py, u32>>,
    within: Vec<f64>,
) -> PyResult<NearestCounted<'py>> {
    let dim = coords.shape()[1];
    let (coords, edges) = (coords.as_slice()?, edges.as_slice()?);
    let labels = labels.as_ref().map(|l| l.as_slice()).transpose()?;
    let counted = on_groups!(groups, |ids| {
        py.detach(|| neighbours::nearest_histogram(ids, coords, dim, reach, edges, labels, &within))
    })
    .map_err(CoreError::from)?;
    let bins = edges.len() - 1;
    let counts: Vec<i64> = counted.counts.iter().map(|&c| c as i64).collect();
    let counts = counts.into_pyarray(py).reshape([within.len(), bins])?;
    Ok((counts, counted.within.iter().map(|&c| c as i64).collect::<Vec<_>>().into_pyarray(py)))
}

/// suppress_overlaps(groups, coords, species, ranks, active, radii, overlap) -> suppressed_by:
/// for each row, the kept row of another species whose sphere overlaps it and ranks above it
/// (-1: none), as cryodedup_core::algo::species says. Groups are uint32 or int64, coords (n,
/// 2 or 3) in Å, species uint32 (indices into radii, Å), ranks float64 (higher first), active
/// bool. The GIL is released while it runs.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(crate) fn suppress_overlaps<'py>(
    py: Python<'py>,
    groups: Groups<'py>,
    coords: PyReadonlyArray2<'py, f64>,
    species: PyReadonlyArray1<'py, u32>,
    ranks: PyReadonlyArray1<'py, f64>,
    active: PyReadonlyArray1<'py, bool>,
    radii: PyReadonlyArray1<'py, f64>,
    overlap: f64,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let rows = species::Overlaps {
        coords: coords.as_slice()?,
        dim: coords.shape()[1],
        species: species.as_slice()?,
        ranks: ranks.as_slice()?,
        active: active.as_slice()?,
    };
    let rule = species::OverlapRule { radii: radii.as_slice()?, overlap };
    let suppressed_by = on_groups!(groups, |ids| py.detach(|| species::suppress_overlaps(ids, &rows, &rule)))
        .map_err(CoreError::from)?;
    Ok(suppressed_by.into_pyarray(py))
}

/// percentiles_within(scores, by, higher_is_better) -> percentiles: each score's percentile
/// within its group (species or input), as cryodedup_core::algo::species::percentiles_within.
#[pyfunction]
pub(crate) fn percentiles_within<'py>(
    py: Python<'py>,
    scores: PyReadonlyArray1<'py, f64>,
    by: PyReadonlyArray1<'py, u32>,
    higher_is_better: bool,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (scores, by) = (scores.as_slice()?, by.as_slice()?);
    let out = py.detach(|| species::percentiles_within(scores, by, higher_is_better)).map_err(CoreError::from)?;
    Ok(out.into_pyarray(py))
}
