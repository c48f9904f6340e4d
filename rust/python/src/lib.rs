//! The `cryodedup._core` extension: arrays in and out of cryodedup-core, the GIL released
//! around the parallel work, core errors mapped to Python exceptions in `errors`.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::OnceLock;

use cryodedup_core::algo::micrographs::{self, Band, Plan, Spectrum};
use cryodedup_core::algo::{consensus, dedup as core_dedup, filaments, neighbours, pose};
use cryodedup_core::errors::DedupError;
use cryodedup_core::io::particle_rows::{self, CentrePlan, PixelSize};
use cryodedup_core::io::pick_join::{self, Strided};
use cryodedup_core::io::{page_cache, picks, star};
use cryodedup_core::particle_split;
use memmap2::{Advice, Mmap, UncheckedAdvice};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rayon::prelude::*;

mod errors {
    use pyo3::create_exception;
    use pyo3::exceptions::{PyOSError, PyValueError};
    use pyo3::PyErr;
    use std::path::Path;

    create_exception!(_core, StarSyntaxError, PyValueError, "A STAR file breaks the STAR syntax.");
    create_exception!(_core, PickFileError, PyValueError, "A picker file cannot be read or written.");

    pub fn picks(e: cryodedup_core::errors::PicksError) -> PyErr {
        PickFileError::new_err(e.to_string())
    }

    pub fn join(e: cryodedup_core::errors::JoinError) -> PyErr {
        PyValueError::new_err(e.to_string())
    }

    pub fn star(e: cryodedup_core::errors::StarError) -> PyErr {
        StarSyntaxError::new_err(e.to_string())
    }

    pub fn dedup(e: cryodedup_core::errors::DedupError) -> PyErr {
        PyValueError::new_err(e.to_string())
    }

    pub fn io(path: &Path, e: std::io::Error) -> PyErr {
        PyOSError::new_err((e.raw_os_error().unwrap_or(0), e.to_string(), path.display().to_string()))
    }

    pub fn value(message: String) -> PyErr {
        PyValueError::new_err(message)
    }
}

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
fn dedup<'py>(
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
    let group = pose::point_group(sym).map_err(|e| errors::value(e.to_string()))?;
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
    .map_err(errors::dedup)?;
    let masks = masks.map(|m| m.into_pyarray(py));
    let suppressed_by = want_suppressed_by.then(|| result.suppressed_by.into_pyarray(py));
    Ok((result.keep.into_pyarray(py), suppressed_by, masks))
}

/// One dedup call's arguments but the micrograph ids, which come as `u32` or `i64`.
struct Dedup<'a> {
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
fn read_pick_files<'py>(
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
    let tables = py.detach(|| picks::read_files(&paths, &request)).map_err(errors::picks)?;
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
fn strided_rows<'a>(values: &'a numpy::ndarray::ArrayViewD<'a, f64>, what: &str) -> PyResult<Strided<'a>> {
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
fn join_picks<'py>(
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
    let joined = py.detach(|| pick_join::join(&parts, psize)).map_err(errors::join)?;
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
fn repeat_int32<'py>(
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
fn row_targets<'py>(
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

fn pick_outputs(outputs: Vec<(PathBuf, Vec<u8>, Vec<u8>)>) -> Vec<picks::Output> {
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
fn write_pick_rows(
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
    py.detach(|| picks::write_outputs(&outputs, target, &rows)).map_err(errors::picks)
}

/// write_pick_numbers(outputs, target, values): as write_pick_rows, each row written from
/// values[i] (float64, shape (n, k)), each number as "%12.6f", separated by spaces.
#[pyfunction]
fn write_pick_numbers(
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
    py.detach(|| picks::write_outputs(&outputs, target, &rows)).map_err(errors::picks)
}

/// agreement_counts(groups, inputs, masks, keep, n_groups, n_inputs) -> (size, matched, per_input):
/// the consensus report's counts in one pass (see cryodedup_core::algo::consensus::agreement):
/// size (n_groups, n_inputs), matched (n_groups, n_inputs, n_inputs) flattened, per_input
/// (n_inputs, 3): confirmed, kept alone, kept confirmed. `masks` and `keep` may be None.
#[pyfunction]
#[pyo3(signature = (groups, inputs, masks, keep, n_groups, n_inputs))]
#[allow(clippy::type_complexity)]
fn agreement_counts<'py>(
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
        py.detach(|| consensus::agreement(groups, inputs, masks, keep, n_groups, n_inputs)).map_err(errors::dedup)?;
    let per_input: Vec<u64> = counts.per_input.iter().flatten().copied().collect();
    Ok((counts.size.into_pyarray(py), counts.matched.into_pyarray(py), per_input.into_pyarray(py)))
}

/// nearest_distances(groups, coords) -> distances: each particle's distance to the nearest
/// other particle of its group (inf when alone).
#[pyfunction]
fn nearest_distances<'py>(
    py: Python<'py>,
    groups: PyReadonlyArray1<'py, i64>,
    coords: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let dim = coords.shape()[1];
    let (groups, coords) = (groups.as_slice()?, coords.as_slice()?);
    let distances = py.detach(|| neighbours::nearest_distances(groups, coords, dim)).map_err(errors::dedup)?;
    Ok(distances.into_pyarray(py))
}

/// A STAR file mapped into memory and indexed; loops are scanned and written from the map,
/// one window at a time, each window's pages released once passed (resident memory stays
/// within a window, whatever the file's size).
#[pyclass(module = "cryodedup._core", frozen)]
struct StarFile {
    path: PathBuf,
    file: File,
    map: Option<Mmap>,
    /// Reads the file into the cache ahead of each pass (docs/design.md section 5).
    prefetcher: Option<page_cache::Prefetcher>,
    /// The index up to the first row of the loop of block `defer_rows_of` when opened so
    /// (the rest is indexed while that loop is scanned), else the whole index.
    header: Vec<star::Block>,
    /// The whole index, once known.
    index: OnceLock<Vec<star::Block>>,
}

/// Bytes read ahead of a streaming pass (by the file's prefetching thread, and hinted to
/// the kernel): a pass that waits for each page it touches leaves the disk idle while it
/// parses (docs/design.md section 5).
const READ_AHEAD: usize = 4 * star::WINDOW;

/// Drops the pages of `range` of `map` from the process (the page cache keeps them), and
/// asks the kernel to start reading the [`READ_AHEAD`] bytes after it.
fn release_pages(map: &Option<Mmap>, range: Range<usize>) {
    if let Some(map) = map {
        unmap_pages(map, range.clone());
        read_ahead(map, range.end);
    }
}

/// Drops the pages of `range` of `map` from the process (the page cache keeps them).
fn unmap_pages(map: &Mmap, range: Range<usize>) {
    // SAFETY: the map is read-only and shared; dropped pages are read again on access.
    let _ = unsafe { map.unchecked_advise_range(UncheckedAdvice::DontNeed, range.start, range.len()) };
}

/// Starts reading `map` from `start` for [`READ_AHEAD`] bytes (a hint: it does not wait).
fn read_ahead(map: &Mmap, start: usize) {
    let len = READ_AHEAD.min(map.len().saturating_sub(start));
    if len > 0 {
        let _ = map.advise_range(Advice::WillNeed, start, len);
    }
}

/// What a particle scan returns: the whole index (of a deferred file), the rows, and the
/// split's outcome when the rows were split as they were scanned.
type Scanned = (Option<Vec<star::Block>>, particle_rows::ParticleRows, Option<particle_split::Splitting>);

/// The centre plan of a particle scan, its columns checked against the loop's `n_columns`.
#[allow(clippy::too_many_arguments)]
fn centre_plan(
    n_columns: usize,
    key: usize,
    coords: Vec<usize>,
    origins: Vec<Option<usize>>,
    origin_pixels: Option<(usize, usize)>,
    psize: &Bound<'_, PyAny>,
    score: Option<usize>,
) -> PyResult<CentrePlan> {
    let mut used: Vec<usize> = vec![key];
    used.extend(&coords);
    used.extend(origins.iter().flatten());
    used.extend(origin_pixels.iter().flat_map(|&(a, b)| [a, b]));
    used.extend(score);
    let kind: String = psize.get_item(0)?.extract()?;
    let psize = match kind.as_str() {
        "angstrom" => PixelSize::Angstrom,
        "constant" => PixelSize::Constant(psize.get_item(1)?.extract()?),
        "optics" => {
            let column: usize = psize.get_item(1)?.extract()?;
            used.push(column);
            PixelSize::ByOpticsGroup { column, table: psize.get_item(2)?.extract()? }
        }
        "micrographs" => {
            let by_name: HashMap<String, f64> = psize.get_item(1)?.extract()?;
            PixelSize::ByMicrograph(by_name.into_iter().map(|(k, v)| (k.into_bytes(), v)).collect())
        }
        other => return Err(errors::value(format!("unknown pixel size source {other:?}"))),
    };
    if let Some(&bad) = used.iter().find(|&&c| c >= n_columns) {
        return Err(errors::value(format!("column {bad} is out of range")));
    }
    if origins.len() != coords.len() || !(2..=3).contains(&coords.len()) {
        return Err(errors::value("coords and origins must name 2 or 3 axes alike".into()));
    }
    Ok(CentrePlan { key, coords, origins, origin_pixels, psize, score })
}

/// `path` opened to append rows to, buffered. Outputs beyond the kernel's limit of dirty
/// pages are written behind (an input of `input_len` bytes gives at most as much).
fn appending(path: &PathBuf, input_len: usize) -> PyResult<BufWriter<page_cache::WriteBehind>> {
    let behind = page_cache::bigger_than_dirty_limit(input_len as u64);
    let file = OpenOptions::new().append(true).open(path).map_err(|e| errors::io(path, e))?;
    let out = page_cache::WriteBehind::new(file, behind).map_err(|e| errors::io(path, e))?;
    Ok(BufWriter::with_capacity(1 << 20, out))
}

impl StarFile {
    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    fn release(&self, range: Range<usize>) {
        if let Some(map) = &self.map {
            unmap_pages(map, range.clone());
        }
        self.read_ahead_from(range.end);
    }

    /// Drops `range` of the file from the page cache, on the prefetching thread if the
    /// file has one: a pass that the CPU limits then does not wait while the kernel frees
    /// the pages. (Not for a pass that the disk limits: its reads ahead would wait behind
    /// the drops.)
    fn drop_cached_behind(&self, range: Range<usize>) {
        let range = range.start as u64..range.end as u64;
        match &self.prefetcher {
            Some(prefetcher) => prefetcher.drop_cached(range),
            None => page_cache::drop_cached(&self.file, range),
        }
    }

    /// The decision pass of a job that writes in a second pass: a file bigger than the
    /// cache is dropped behind the scan but for its start, which the write pass reads first
    /// (docs/design.md section 5).
    fn scan_for_two_passes(
        &self,
        py: Python<'_>,
        source: particle_rows::Loop,
        plan: &CentrePlan,
    ) -> PyResult<(Option<Vec<star::Block>>, particle_rows::ParticleRows)> {
        let data = self.bytes();
        let head = page_cache::head_kept(data.len() as u64) as usize;
        let release = |range: Range<usize>| {
            if range.end > head {
                self.drop_cached_behind(range.start.max(head)..range.end);
            }
            self.release(range);
        };
        let scanned =
            py.detach(|| particle_rows::scan_loop(data, source, plan, &release, |_, _, _| {})).map_err(errors::star)?;
        self.reread_head(head);
        Ok(scanned)
    }

    /// The job in one pass: rows decided and written as the scan goes. The scan only reads
    /// ahead; the rows' pages go once they are written.
    fn scan_and_split(
        &self,
        py: Python<'_>,
        source: particle_rows::Loop,
        plan: &CentrePlan,
        split: &(f64, bool, bool, u64, PathBuf, PathBuf),
    ) -> PyResult<Scanned> {
        let (min_dist, higher_is_better, remove_entirely, seed, kept_path, rejected_path) = split;
        let params = core_dedup::DedupParams {
            min_dist: *min_dist,
            higher_is_better: *higher_is_better,
            remove_entirely: *remove_entirely,
            seed: *seed,
            want_suppressed_by: false,
        };
        let data = self.bytes();
        let big = page_cache::bigger_than_cache(data.len() as u64);
        // Outputs that the kernel would stall on (beyond its limit of dirty pages) are
        // written directly: no copy into the page cache, no dirty pages to write back and
        // drop. Smaller ones go to the cache, and the job ends before they reach the disk.
        let direct = page_cache::bigger_than_dirty_limit(data.len() as u64);
        let open = |path: &PathBuf| -> PyResult<Box<dyn std::io::Write + Send>> {
            Ok(match direct {
                true => Box::new(page_cache::DirectWriter::append(path).map_err(|e| errors::io(path, e))?),
                false => Box::new(appending(path, data.len())?),
            })
        };
        let (kept, rejected) = (open(kept_path)?, open(rejected_path)?);
        let read_ahead = |range: Range<usize>| self.read_ahead_from(range.end);
        let written = |range: Range<usize>| {
            if big {
                page_cache::drop_cached(&self.file, range.start as u64..range.end as u64);
            }
            if let Some(map) = &self.map {
                unmap_pages(map, range);
            }
        };
        let split = particle_split::Split { params, kept, rejected, written: &written };
        let (blocks, rows, splitting) = py
            .detach(|| particle_split::scan_and_split(data, source, plan, &read_ahead, split))
            .map_err(errors::star)?;
        if !matches!(splitting, particle_split::Splitting::Done(_)) {
            self.reread_head(page_cache::head_kept(data.len() as u64) as usize);
        }
        Ok((blocks, rows, Some(splitting)))
    }

    /// Has the prefetching thread read `..head` into the cache again, if the file is bigger:
    /// the write pass reads it first, while the job decides (no disk reads for seconds).
    fn reread_head(&self, head: usize) {
        if head < self.bytes().len() {
            if let Some(prefetcher) = &self.prefetcher {
                prefetcher.want(0, head as u64);
            }
        }
    }

    /// Asks for the [`READ_AHEAD`] bytes after `end` to be read into the cache.
    fn read_ahead_from(&self, end: usize) {
        if let Some(prefetcher) = &self.prefetcher {
            prefetcher.want(end as u64, (end + READ_AHEAD).min(self.bytes().len()) as u64);
        }
        if let Some(map) = &self.map {
            read_ahead(map, end);
        }
    }

    /// The whole index: indexes the rest of a file opened deferred (one more pass over it).
    fn blocks_indexed(&self, py: Python<'_>) -> PyResult<&[star::Block]> {
        if let Some(blocks) = self.index.get() {
            return Ok(blocks);
        }
        let data = self.bytes();
        let release = |range: Range<usize>| self.release(range);
        let blocks = py.detach(|| star::index_releasing(data, &release)).map_err(errors::star)?;
        Ok(self.index.get_or_init(|| blocks))
    }

    fn table(&self, py: Python<'_>, block: usize) -> PyResult<&star::Table> {
        self.blocks_indexed(py)?
            .get(block)
            .and_then(|b| b.table.as_ref())
            .ok_or_else(|| errors::value(format!("block {block} has no loop")))
    }
}

/// One `data_` block of a STAR file: where it is, and its labels if it holds a loop.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
struct StarBlock {
    /// The name after `data_`.
    name: String,
    /// The 1-based line of the `data_` line.
    line: usize,
    /// Byte offsets from the `data_` line to the next block (or the end of the file).
    start: usize,
    end: usize,
    /// The loop's labels (without the leading `_` or the `#N` suffix), or None without a loop.
    labels: Option<Vec<String>>,
    /// Byte offsets of the loop's rows (an empty span at the end without a loop).
    rows_start: usize,
    rows_end: usize,
    /// The 1-based line of the first row, or of where it would be in an empty loop (0 without a loop).
    first_row_line: usize,
    /// The key-value pairs, in file order.
    pairs: Vec<(String, String)>,
}

impl StarBlock {
    fn from_core(block: &star::Block) -> Self {
        let (labels, rows, first_row_line) = match &block.table {
            Some(t) => (Some(t.labels.clone()), t.rows.clone(), t.first_row_line),
            None => (None, block.span.end..block.span.end, 0),
        };
        StarBlock {
            name: block.name.clone(),
            line: block.line,
            start: block.span.start,
            end: block.span.end,
            labels,
            rows_start: rows.start,
            rows_end: rows.end,
            first_row_line,
            pairs: block.pairs.clone(),
        }
    }
}

#[pymethods]
impl StarBlock {
    fn __repr__(&self) -> String {
        let loop_size = self.labels.as_ref().map_or(0, Vec::len);
        format!("StarBlock(data_{}, line {}, {} labels)", self.name, self.line, loop_size)
    }
}

/// The rows of one loop, scanned: the numbers of the requested columns and each row's key.
/// The arrays are handed to numpy as they are, not copied.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
struct StarScan {
    /// The number of rows in the loop.
    rows: usize,
    /// One float64 array per requested column, in the order asked for.
    numbers: Vec<Py<PyArray1<f64>>>,
    /// Each row's key id (uint32), an index into `key_names`; empty without a key column.
    keys: Py<PyArray1<u32>>,
    /// The number of comment lines among the rows (they are not copied to the outputs).
    comment_lines: usize,
    /// The distinct texts of the key column, by id (in order of first appearance).
    key_names: Vec<String>,
}

/// What the particle job keeps of each row of a particle loop (see StarFile.scan_particles).
/// The arrays are handed to numpy as they are, not copied.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
struct ParticleScan {
    /// The number of rows in the loop.
    rows: usize,
    /// Centres in Å, float64, one value per axis per row (flat, row-major).
    centres: Py<PyArray1<f64>>,
    /// The score of each row (float64), or None without a score column.
    scores: Option<Py<PyArray1<f64>>>,
    /// Each row's micrograph id (uint32), an index into `key_names`.
    keys: Py<PyArray1<u32>>,
    /// The distinct micrograph names, by id (in order of first appearance).
    key_names: Vec<String>,
    /// The pixel size used for each micrograph (of its first row), by id; NaN where unknown.
    key_psizes: Py<PyArray1<f64>>,
    /// The distinct optics group numbers met, with pixel sizes by optics group.
    optics_groups: Vec<f64>,
    /// Comment lines between the rows (not copied to the outputs).
    comment_lines: usize,
    /// Whether each row was kept, when the rows were split as they were scanned (bool).
    keep: Option<Py<PyArray1<bool>>>,
    /// Why a split asked for was given up (its outputs are then incomplete).
    split_note: Option<String>,
}

#[pymethods]
impl ParticleScan {
    fn __repr__(&self) -> String {
        format!("ParticleScan({} rows, {} micrographs)", self.rows, self.key_names.len())
    }
}

#[pymethods]
impl StarScan {
    fn __repr__(&self) -> String {
        format!("StarScan({} rows, {} number columns, {} keys)", self.rows, self.numbers.len(), self.key_names.len())
    }
}

#[pymethods]
impl StarFile {
    #[new]
    #[pyo3(signature = (path, defer_rows_of=None))]
    fn new(py: Python<'_>, path: PathBuf, defer_rows_of: Option<String>) -> PyResult<Self> {
        let file = File::open(&path).map_err(|e| errors::io(&path, e))?;
        let len = file.metadata().map_err(|e| errors::io(&path, e))?.len();
        // SAFETY: the file is only read; cryodedup never writes to its inputs.
        let map = if len == 0 { None } else { Some(unsafe { Mmap::map(&file) }.map_err(|e| errors::io(&path, e))?) };
        if let Some(map) = &map {
            let _ = map.advise(Advice::Sequential); // read ahead; a hint only
            read_ahead(map, 0);
        }
        let data: &[u8] = map.as_deref().unwrap_or(&[]);
        let release = |range: Range<usize>| release_pages(&map, range);
        let index = OnceLock::new();
        let header = match defer_rows_of {
            Some(name) => {
                let found = py.detach(|| star::index_header(data, star::LoopOf::Block(&name))).map_err(errors::star)?;
                if !found.deferred {
                    let _ = index.set(found.blocks.clone());
                }
                found.blocks
            }
            None => {
                let blocks = py.detach(|| star::index_releasing(data, &release)).map_err(errors::star)?;
                let _ = index.set(blocks.clone());
                blocks
            }
        };
        // Big files only: a small one is read at once, and a thread each would be waste.
        let prefetcher = if data.len() >= 4 * READ_AHEAD { page_cache::Prefetcher::new(&file).ok() } else { None };
        Ok(StarFile { path, file, map, prefetcher, header, index })
    }

    /// Whether the file was opened with `defer_rows_of` and its index is still partial.
    #[getter]
    fn deferred(&self) -> bool {
        self.index.get().is_none()
    }

    /// The blocks known without indexing further: up to the deferred loop's first row while
    /// the file is deferred, else all of them.
    fn header_blocks(&self) -> Vec<StarBlock> {
        self.index.get().unwrap_or(&self.header).iter().map(StarBlock::from_core).collect()
    }

    #[getter]
    fn size(&self) -> usize {
        self.bytes().len()
    }

    /// The blocks of the file, in file order (the whole index).
    fn blocks(&self, py: Python<'_>) -> PyResult<Vec<StarBlock>> {
        Ok(self.blocks_indexed(py)?.iter().map(StarBlock::from_core).collect())
    }

    /// Bytes `start..end` of the file (for headers and small tables).
    fn read(&self, start: usize, end: usize) -> PyResult<std::borrow::Cow<'_, [u8]>> {
        self.bytes()
            .get(start..end)
            .map(std::borrow::Cow::Borrowed)
            .ok_or_else(|| errors::value(format!("range {start}..{end} is outside the file")))
    }

    /// Scans the rows of block `block` in parallel: a float64 array per column of
    /// `number_cols`, and the key id (uint32) of each row's `key_col` text with the distinct texts.
    #[pyo3(signature = (block, number_cols, key_col=None))]
    fn scan(
        &self,
        py: Python<'_>,
        block: usize,
        number_cols: Vec<usize>,
        key_col: Option<usize>,
    ) -> PyResult<StarScan> {
        let table = self.table(py, block)?;
        if let Some(&bad) = number_cols.iter().chain(key_col.iter()).find(|&&c| c >= table.labels.len()) {
            return Err(errors::value(format!("column {bad} is out of range")));
        }
        let data = self.bytes();
        let scan = py.detach(|| star::scan_rows(data, table, &number_cols, key_col)).map_err(errors::star)?;
        let key_names = scan.key_names.iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
        let rows = scan.spans.len();
        let comment_lines = table.comment_lines;
        let numbers = scan.numbers.into_iter().map(|v| v.into_pyarray(py).unbind()).collect();
        Ok(StarScan { rows, numbers, keys: scan.keys.into_pyarray(py).unbind(), key_names, comment_lines })
    }

    /// Appends the scanned rows of `block` to two files: rows where `keep` holds to
    /// `kept_path`, the others to `rejected_path`, byte for byte. `rewrite`, if given, is
    /// (column, {old text: new text}) applied to every written row; `columns`, if given, the
    /// input column of each output column (fields moved unchanged); `values`, if given, is
    /// (column, choice, texts): row `i`'s field becomes `texts[choice[i] - 1]`, unchanged where
    /// `choice[i]` is 0.
    #[pyo3(signature = (block, keep, kept_path, rejected_path, rewrite=None, columns=None, values=None))]
    #[allow(clippy::too_many_arguments)]
    fn append_split(
        &self,
        py: Python<'_>,
        block: usize,
        keep: PyReadonlyArray1<'_, bool>,
        kept_path: PathBuf,
        rejected_path: PathBuf,
        rewrite: Option<(usize, HashMap<String, String>)>,
        columns: Option<Vec<usize>>,
        values: Option<(usize, PyReadonlyArray1<'_, u8>, Vec<String>)>,
    ) -> PyResult<()> {
        let table = self.table(py, block)?;
        let n_columns = table.labels.len();
        if let Some(&bad) = columns.iter().flatten().find(|&&c| c >= n_columns) {
            return Err(errors::value(format!("column {bad} is out of range")));
        }
        let keep = keep.as_slice()?;
        let map: Option<HashMap<Vec<u8>, Vec<u8>>> = rewrite
            .as_ref()
            .map(|(_, m)| m.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect());
        let texts: Vec<Vec<u8>> = values.iter().flat_map(|(_, _, t)| t.iter().map(|v| v.as_bytes().to_vec())).collect();
        let choice = match &values {
            Some((column, choice, _)) => {
                let choice = choice.as_slice()?;
                if *column >= n_columns || choice.len() != keep.len() {
                    return Err(errors::value(format!("values: column {column}, {} choices", choice.len())));
                }
                if let Some(&bad) = choice.iter().find(|&&c| c as usize > texts.len()) {
                    return Err(errors::value(format!("values: choice {bad} of {} texts", texts.len())));
                }
                Some((*column, choice))
            }
            None => None,
        };
        let edit = star::RowEdit {
            rewrite: rewrite
                .as_ref()
                .zip(map.as_ref())
                .map(|((column, _), map)| star::ColumnRewrite { column: *column, map }),
            values: choice.map(|(column, choice)| star::RowValues { column, choice, texts: &texts }),
            columns: columns.as_deref(),
        };
        let data = self.bytes();
        // Outputs beyond the kernel's limit of dirty pages are written behind; an input
        // bigger than the page cache is dropped from it behind the pass, leaving the cache
        // to the input still ahead (docs/design.md section 5).
        let big = page_cache::bigger_than_cache(data.len() as u64);
        let (mut kept, mut rejected) = (appending(&kept_path, data.len())?, appending(&rejected_path, data.len())?);
        let release = |range: Range<usize>| {
            if big {
                page_cache::drop_cached(&self.file, range.start as u64..range.end as u64);
            }
            self.release(range);
        };
        py.detach(|| {
            star::write_split(data, table, keep, &edit, &mut kept, &mut rejected, &release)?;
            kept.into_inner().map_err(std::io::IntoInnerError::into_error)?;
            rejected.into_inner().map_err(std::io::IntoInnerError::into_error).map(|_| ())
        })
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => errors::value(e.to_string()),
            _ => errors::io(&kept_path, e),
        })
    }

    /// Scans the particle loop `block` for the job: per row the centre in Å (float64,
    /// `len(coords)` values per row), the score and the micrograph id, one window at a time.
    /// `origins` gives each axis' origin column or None; `origin_pixels` the (detector pixel
    /// size, magnification) columns of origins in particle pixels; `psize` is ("angstrom",),
    /// ("constant", value), ("optics", column, [(group, psize)]) or ("micrographs", {name: psize}).
    ///
    /// With `split` (min_dist, higher_is_better, remove_entirely, seed, kept path, rejected
    /// path), each micrograph is also decided once its rows end and its rows are appended to
    /// the kept or rejected file as the scan goes (docs/design.md section 5): the result's
    /// `keep` then holds the decision, or None and `split_note` says why the split was given
    /// up (the files are then incomplete).
    #[pyo3(signature = (block, key, coords, origins, origin_pixels, psize, score=None, split=None))]
    #[allow(clippy::too_many_arguments)]
    fn scan_particles(
        &self,
        py: Python<'_>,
        block: usize,
        key: usize,
        coords: Vec<usize>,
        origins: Vec<Option<usize>>,
        origin_pixels: Option<(usize, usize)>,
        psize: &Bound<'_, PyAny>,
        score: Option<usize>,
        split: Option<(f64, bool, bool, u64, PathBuf, PathBuf)>,
    ) -> PyResult<ParticleScan> {
        // A deferred file's loop is scanned while the rest of the file is indexed (one read).
        let fused = self.index.get().is_none() && block + 1 == self.header.len();
        let table = if fused {
            self.header[block].table.as_ref().ok_or_else(|| errors::value(format!("block {block} has no loop")))?
        } else {
            self.table(py, block)?
        };
        let plan = centre_plan(table.labels.len(), key, coords, origins, origin_pixels, psize, score)?;
        let source = match fused {
            true => particle_rows::Loop::Deferred(self.header[block].name.as_str()),
            false => particle_rows::Loop::Indexed(table),
        };
        let (blocks, rows, splitting) = match &split {
            Some(split) => self.scan_and_split(py, source, &plan, split)?,
            None => {
                let (blocks, rows) = self.scan_for_two_passes(py, source, &plan)?;
                (blocks, rows, None)
            }
        };
        if let Some(blocks) = blocks {
            self.index.get_or_init(|| blocks);
        }
        let (keep, split_note) = match splitting {
            Some(particle_split::Splitting::Done(keep)) => (Some(keep.into_pyarray(py).unbind()), None),
            Some(particle_split::Splitting::GivenUp(reason)) => (None, Some(reason)),
            Some(particle_split::Splitting::Failed(e)) => return Err(errors::io(&split.unwrap().4, e)),
            None => (None, None),
        };
        let comment_lines = self.table(py, block)?.comment_lines;
        let key_names = rows.key_names.iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
        Ok(ParticleScan {
            rows: rows.keys.len(),
            centres: rows.centres.into_pyarray(py).unbind(),
            scores: plan.score.map(|_| rows.scores.into_pyarray(py).unbind()),
            keys: rows.keys.into_pyarray(py).unbind(),
            key_names,
            key_psizes: rows.key_psizes.into_pyarray(py).unbind(),
            optics_groups: rows.optics_groups,
            comment_lines,
            keep,
            split_note,
        })
    }

    fn __repr__(&self) -> String {
        match self.index.get() {
            Some(blocks) => format!("StarFile({:?}, {} blocks)", self.path, blocks.len()),
            None => format!("StarFile({:?}, {} blocks so far, deferred)", self.path, self.header.len()),
        }
    }
}

/// Spectra of binned micrographs of one shape, kept by image index, and their comparison.
#[pyclass(module = "cryodedup._core")]
struct SpectrumBank {
    maker: SpectrumMaker,
    spectra: HashMap<usize, Spectrum>,
}

/// Makes the spectra of images of one shape, for a `SpectrumBank` to store (`SpectrumBank.maker`):
/// immutable, so that a reading thread can use it while the bank is changed and compares.
#[pyclass(module = "cryodedup._core", frozen, skip_from_py_object)]
#[derive(Clone)]
struct SpectrumMaker {
    ny: usize,
    nx: usize,
    bin: usize,
    plan: std::sync::Arc<Plan>,
}

/// A 2-D numpy array of one of the pixel types MRC files hold (modes 2, 12, 1 and 6),
/// borrowed read-only. The one place that knows the supported dtypes.
enum PixelArray<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F16(PyReadonlyArray2<'py, half::f16>),
    I16(PyReadonlyArray2<'py, i16>),
    U16(PyReadonlyArray2<'py, u16>),
}

/// One image's pixels as a slice, to be binned without the GIL.
enum Pixels<'a> {
    F32(&'a [f32]),
    F16(&'a [half::f16]),
    I16(&'a [i16]),
    U16(&'a [u16]),
}

const PIXEL_TYPES: &str = "a 2-D float32, float16, int16 or uint16 array (native byte order, C-contiguous)";

impl<'py> PixelArray<'py> {
    /// Borrows `array`; the error names what `what` (an image, say) should have been.
    fn extract(array: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        if let Ok(a) = array.extract() {
            Ok(PixelArray::F32(a))
        } else if let Ok(a) = array.extract() {
            Ok(PixelArray::F16(a))
        } else if let Ok(a) = array.extract() {
            Ok(PixelArray::I16(a))
        } else if let Ok(a) = array.extract() {
            Ok(PixelArray::U16(a))
        } else {
            Err(errors::value(format!("{what} is not {PIXEL_TYPES}")))
        }
    }

    /// (ny, nx)
    fn shape(&self) -> (usize, usize) {
        let shape = match self {
            PixelArray::F32(a) => a.shape(),
            PixelArray::F16(a) => a.shape(),
            PixelArray::I16(a) => a.shape(),
            PixelArray::U16(a) => a.shape(),
        };
        (shape[0], shape[1])
    }

    /// The pixels as a slice (errors if the array is not contiguous).
    fn pixels(&self) -> PyResult<Pixels<'_>> {
        Ok(match self {
            PixelArray::F32(a) => Pixels::F32(a.as_slice()?),
            PixelArray::F16(a) => Pixels::F16(a.as_slice()?),
            PixelArray::I16(a) => Pixels::I16(a.as_slice()?),
            PixelArray::U16(a) => Pixels::U16(a.as_slice()?),
        })
    }
}

impl Pixels<'_> {
    /// Block-mean binning of an `ny` x `nx` image: (binned, binned ny, binned nx).
    fn bin_mean(&self, ny: usize, nx: usize, bin: usize) -> (Vec<f32>, usize, usize) {
        match self {
            Pixels::F32(d) => micrographs::bin_mean(d, ny, nx, bin),
            Pixels::F16(d) => micrographs::bin_mean(d, ny, nx, bin),
            Pixels::I16(d) => micrographs::bin_mean(d, ny, nx, bin),
            Pixels::U16(d) => micrographs::bin_mean(d, ny, nx, bin),
        }
    }
}

/// Spectra made by `SpectrumBank.spectra`, waiting to be stored.
#[pyclass(module = "cryodedup._core", frozen)]
struct SpectraBatch {
    made: std::sync::Mutex<Option<Vec<(usize, Spectrum)>>>,
}

/// The threads that read images and make their spectra: a pool apart from rayon's global
/// one, which compares pairs, so that the two can run at once (as many threads each).
fn reading_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|i| format!("cryodedup-read-{i}"))
            .build()
            .expect("threads for reading micrographs")
    })
}

/// The scores of compared pairs, one entry per pair, as numpy arrays handed over uncopied.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
struct PairScores {
    /// Height of the phase-correlation peak, in standard deviations of the correlation map.
    z: Py<PyArray1<f64>>,
    /// The shift in binned pixels: b[y][x] shows what a[y + dy][x + dx] shows.
    dy: Py<PyArray1<i64>>,
    dx: Py<PyArray1<i64>>,
    /// Pearson coefficient of the two images over their overlap at the shift (NaN below the z floor).
    pearson: Py<PyArray1<f64>>,
    /// The overlap's fraction of the image (NaN below the z floor).
    overlap: Py<PyArray1<f64>>,
}

#[pymethods]
impl PairScores {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!("PairScores({} pairs)", self.z.bind(py).len())
    }
}

#[pymethods]
impl SpectrumBank {
    /// Images of `ny` x `nx` pixels, binned by `bin`; the band in cycles per binned pixel.
    #[new]
    fn new(ny: usize, nx: usize, bin: usize, highpass: f64, lowpass: f64) -> PyResult<Self> {
        if bin == 0 || ny / bin < 8 || nx / bin < 8 {
            return Err(errors::value(format!("binning {ny} x {nx} by {bin} leaves less than 8 x 8 pixels")));
        }
        let plan = std::sync::Arc::new(Plan::new(ny / bin, nx / bin, Band { highpass, lowpass }));
        Ok(SpectrumBank { maker: SpectrumMaker { ny, nx, bin, plan }, spectra: HashMap::new() })
    }

    /// The window of each binned image that is compared, (y0, x0, height, width) (a crop of
    /// at most 2 % per side where it reaches a faster FFT size), and the FFT size (py, px).
    #[getter]
    fn geometry(&self) -> ((usize, usize, usize, usize), (usize, usize)) {
        let g = self.maker.plan.geometry();
        ((g.y0, g.x0, g.height, g.width), (g.py, g.px))
    }

    /// Bins the images (2-D arrays of float32, float16, int16 or uint16, little-endian,
    /// C-contiguous) and stores their spectra under `indices`, in parallel.
    fn add(&mut self, py: Python<'_>, indices: Vec<usize>, images: Vec<Bound<'_, PyAny>>) -> PyResult<()> {
        let batch = self.maker.spectra(py, indices, images)?;
        self.store(&batch)
    }

    /// What makes this bank's spectra, to be used on another thread (`SpectrumMaker.spectra`).
    #[getter]
    fn maker(&self) -> SpectrumMaker {
        self.maker.clone()
    }

    /// Stores the spectra `SpectrumMaker.spectra` made, under their indices (once: the batch is emptied).
    fn store(&mut self, batch: &SpectraBatch) -> PyResult<()> {
        let made = batch.made.lock().map_err(|_| errors::value("a batch of spectra was poisoned".into()))?.take();
        let made = made.ok_or_else(|| errors::value("this batch of spectra is already stored".into()))?;
        self.spectra.extend(made);
        Ok(())
    }

    /// Forgets the spectra of `indices` (to bound memory).
    fn discard(&mut self, indices: Vec<usize>) {
        for i in indices {
            self.spectra.remove(&i);
        }
    }

    /// The compared window of the binned image stored under `index`, tapered and band-passed.
    fn image<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let s = self.spectra.get(&index).ok_or_else(|| errors::value(format!("no image {index}")))?;
        let g = self.maker.plan.geometry();
        s.image().to_vec().into_pyarray(py).reshape([g.height, g.width])
    }

    /// Scores the pairs (rows of an (n, 2) int64 array of stored indices) in parallel;
    /// pearson and overlap are NaN where z < `pearson_min_z`.
    #[pyo3(signature = (pairs, pearson_min_z=0.0))]
    fn compare(&self, py: Python<'_>, pairs: PyReadonlyArray2<'_, i64>, pearson_min_z: f64) -> PyResult<PairScores> {
        let pairs = pairs.as_array();
        let mut refs = Vec::with_capacity(pairs.nrows());
        for row in pairs.rows() {
            let get = |i: i64| {
                self.spectra.get(&(i as usize)).ok_or_else(|| errors::value(format!("no spectrum for image {i}")))
            };
            refs.push((get(row[0])?, get(row[1])?));
        }
        let plan = &self.maker.plan;
        let scores: Vec<micrographs::PairScore> =
            py.detach(|| refs.par_iter().map(|(a, b)| plan.compare(a, b, pearson_min_z)).collect());
        let floats = |f: fn(&micrographs::PairScore) -> f64| scores.iter().map(f).collect::<Vec<_>>().into_pyarray(py);
        let ints = |f: fn(&micrographs::PairScore) -> i64| scores.iter().map(f).collect::<Vec<_>>().into_pyarray(py);
        Ok(PairScores {
            z: floats(|s| s.z).unbind(),
            dy: ints(|s| s.dy).unbind(),
            dx: ints(|s| s.dx).unbind(),
            pearson: floats(|s| s.pearson).unbind(),
            overlap: floats(|s| s.overlap).unbind(),
        })
    }
}

#[pymethods]
impl SpectrumMaker {
    /// Bins the images (as for `SpectrumBank.add`) and makes their spectra, without storing
    /// them (`SpectrumBank.store` does), on threads of their own: one thread can make the next
    /// images' spectra while others compare pairs of the stored ones. Reading is mostly
    /// waiting for memory, comparing mostly arithmetic: together they fill the cores better
    /// than one after the other.
    fn spectra(&self, py: Python<'_>, indices: Vec<usize>, images: Vec<Bound<'_, PyAny>>) -> PyResult<SpectraBatch> {
        if indices.len() != images.len() {
            return Err(errors::value("one index per image is needed".into()));
        }
        let arrays = images
            .iter()
            .zip(&indices)
            .map(|(image, index)| {
                let array = PixelArray::extract(image, &format!("image {index}"))?;
                if array.shape() != (self.ny, self.nx) {
                    let (ny, nx) = array.shape();
                    return Err(errors::value(format!(
                        "image {index} is [{ny}, {nx}], expected [{}, {}]",
                        self.ny, self.nx
                    )));
                }
                Ok(array)
            })
            .collect::<PyResult<Vec<_>>>()?;
        let pixels = arrays.iter().map(PixelArray::pixels).collect::<PyResult<Vec<_>>>()?;
        let (ny, nx, bin, plan) = (self.ny, self.nx, self.bin, &self.plan);
        let spectra: Vec<Spectrum> = py.detach(|| {
            reading_pool().install(|| pixels.par_iter().map(|p| plan.spectrum(&p.bin_mean(ny, nx, bin).0)).collect())
        });
        Ok(SpectraBatch { made: std::sync::Mutex::new(Some(indices.into_iter().zip(spectra).collect())) })
    }
}

/// bin_image(image, bin) -> float32 array: block-mean binning of a 2-D float32, float16,
/// int16 or uint16 array (little-endian, C-contiguous), the GIL released.
#[pyfunction]
fn bin_image<'py>(py: Python<'py>, image: Bound<'py, PyAny>, bin: usize) -> PyResult<Bound<'py, PyArray2<f32>>> {
    if bin == 0 {
        return Err(errors::value("bin must be at least 1".into()));
    }
    let array = PixelArray::extract(&image, "the image")?;
    let (ny, nx) = array.shape();
    let pixels = array.pixels()?;
    let (out, by, bx) = py.detach(|| pixels.bin_mean(ny, nx, bin));
    out.into_pyarray(py).reshape([by, bx])
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // rust-numpy imports NumPy's C API on first use, running Python code; were that first use
    // in a job, a signal handled meanwhile (Ctrl-C) would fail the import and panic. Import it
    // now, before the CLI handles any signal.
    drop(Vec::<f64>::new().into_pyarray(m.py()));
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SAME_CENTRE_A", core_dedup::SAME_CENTRE)?;
    m.add_function(wrap_pyfunction!(dedup, m)?)?;
    m.add_function(wrap_pyfunction!(nearest_distances, m)?)?;
    m.add_function(wrap_pyfunction!(agreement_counts, m)?)?;
    m.add_function(wrap_pyfunction!(bin_image, m)?)?;
    m.add_function(wrap_pyfunction!(read_pick_files, m)?)?;
    m.add_function(wrap_pyfunction!(write_pick_rows, m)?)?;
    m.add_function(wrap_pyfunction!(join_picks, m)?)?;
    m.add_function(wrap_pyfunction!(row_targets, m)?)?;
    m.add_function(wrap_pyfunction!(repeat_int32, m)?)?;
    m.add_function(wrap_pyfunction!(write_pick_numbers, m)?)?;
    m.add_class::<StarFile>()?;
    m.add_class::<StarBlock>()?;
    m.add_class::<StarScan>()?;
    m.add_class::<ParticleScan>()?;
    m.add_class::<PairScores>()?;
    m.add_class::<SpectrumBank>()?;
    m.add_class::<SpectraBatch>()?;
    m.add_class::<SpectrumMaker>()?;
    m.add("StarSyntaxError", m.py().get_type::<errors::StarSyntaxError>())?;
    m.add("PickFileError", m.py().get_type::<errors::PickFileError>())?;
    Ok(())
}
