//! The `cryodedup._core` extension: arrays in and out of cryodedup-core, the GIL released
//! around the parallel work, core errors mapped to Python exceptions in `errors`.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Mutex;

use cryodedup_core::micrographs::{self, Band, Pixel, Plan, Spectrum};
use cryodedup_core::{consensus, dedup as core_dedup, star};
use memmap2::Mmap;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use rayon::prelude::*;

mod errors {
    use pyo3::create_exception;
    use pyo3::exceptions::{PyOSError, PyValueError};
    use pyo3::PyErr;
    use std::path::Path;

    create_exception!(_core, StarSyntaxError, PyValueError, "A STAR file breaks the STAR syntax.");

    pub fn star(e: cryodedup_core::star::StarError) -> PyErr {
        StarSyntaxError::new_err(e.to_string())
    }

    pub fn dedup(e: cryodedup_core::dedup::DedupError) -> PyErr {
        PyValueError::new_err(e.to_string())
    }

    pub fn io(path: &Path, e: std::io::Error) -> PyErr {
        PyOSError::new_err((e.raw_os_error().unwrap_or(0), e.to_string(), path.display().to_string()))
    }

    pub fn value(message: String) -> PyErr {
        PyValueError::new_err(message)
    }
}

/// dedup(groups, coords, scores, min_dist, higher_is_better, remove_entirely, seed)
/// -> (keep, suppressed_by). Arrays must be C-contiguous (the Python wrapper sees to it).
#[pyfunction]
#[pyo3(signature = (groups, coords, scores, min_dist, higher_is_better, remove_entirely, seed))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn dedup<'py>(
    py: Python<'py>,
    groups: PyReadonlyArray1<'py, i64>,
    coords: PyReadonlyArray2<'py, f64>,
    scores: Option<PyReadonlyArray1<'py, f64>>,
    min_dist: f64,
    higher_is_better: bool,
    remove_entirely: bool,
    seed: u64,
) -> PyResult<(Bound<'py, PyArray1<bool>>, Bound<'py, PyArray1<i64>>)> {
    let dim = coords.shape()[1];
    let groups = groups.as_slice()?;
    let coords = coords.as_slice()?;
    let scores = match &scores {
        Some(s) => Some(s.as_slice()?),
        None => None,
    };
    let params = core_dedup::DedupParams { min_dist, higher_is_better, remove_entirely, seed };
    let result = py.detach(|| core_dedup::dedup(groups, coords, dim, scores, &params)).map_err(errors::dedup)?;
    Ok((result.keep.into_pyarray(py), result.suppressed_by.into_pyarray(py)))
}

/// support(groups, coords, inputs, min_dist) -> support: for each pick, the number of
/// distinct inputs with a pick within min_dist on the same micrograph, its own included.
#[pyfunction]
fn support<'py>(
    py: Python<'py>,
    groups: PyReadonlyArray1<'py, i64>,
    coords: PyReadonlyArray2<'py, f64>,
    inputs: PyReadonlyArray1<'py, u32>,
    min_dist: f64,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let dim = coords.shape()[1];
    let (groups, coords, inputs) = (groups.as_slice()?, coords.as_slice()?, inputs.as_slice()?);
    let counts = py.detach(|| consensus::support(groups, coords, dim, inputs, min_dist)).map_err(errors::dedup)?;
    Ok(counts.into_pyarray(py))
}

/// support_masks(groups, coords, inputs, min_dist) -> masks: for each pick, bit k set when
/// input k has a pick within min_dist on the same micrograph (inputs below 64).
#[pyfunction]
fn support_masks<'py>(
    py: Python<'py>,
    groups: PyReadonlyArray1<'py, i64>,
    coords: PyReadonlyArray2<'py, f64>,
    inputs: PyReadonlyArray1<'py, u32>,
    min_dist: f64,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let dim = coords.shape()[1];
    let (groups, coords, inputs) = (groups.as_slice()?, coords.as_slice()?, inputs.as_slice()?);
    let masks = py.detach(|| consensus::support_masks(groups, coords, dim, inputs, min_dist)).map_err(errors::dedup)?;
    Ok(masks.into_pyarray(py))
}

/// A STAR file mapped into memory and indexed; loops are scanned and written from the map.
#[pyclass(module = "cryodedup._core", frozen)]
struct StarFile {
    path: PathBuf,
    map: Option<Mmap>,
    blocks: Vec<star::Block>,
    /// Row spans of each scanned loop, by block index.
    spans: Mutex<HashMap<usize, Vec<(u64, u64)>>>,
}

impl StarFile {
    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    fn table(&self, block: usize) -> PyResult<&star::Table> {
        self.blocks
            .get(block)
            .and_then(|b| b.table.as_ref())
            .ok_or_else(|| errors::value(format!("block {block} has no loop")))
    }
}

type BlockTuple = (String, usize, usize, usize, Option<Vec<String>>, usize, usize, usize, Vec<(String, String)>);

#[pymethods]
impl StarFile {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let file = File::open(&path).map_err(|e| errors::io(&path, e))?;
        let len = file.metadata().map_err(|e| errors::io(&path, e))?.len();
        // SAFETY: the file is only read; cryodedup never writes to its inputs.
        let map = if len == 0 { None } else { Some(unsafe { Mmap::map(&file) }.map_err(|e| errors::io(&path, e))?) };
        let data: &[u8] = map.as_deref().unwrap_or(&[]);
        let blocks = py.detach(|| star::index(data)).map_err(errors::star)?;
        Ok(StarFile { path, map, blocks, spans: Mutex::new(HashMap::new()) })
    }

    #[getter]
    fn size(&self) -> usize {
        self.bytes().len()
    }

    /// Each block as (name, line, start, end, labels or None, rows_start, rows_end,
    /// first_row_line, pairs).
    fn blocks(&self) -> Vec<BlockTuple> {
        self.blocks
            .iter()
            .map(|b| {
                let (labels, rows, first) = match &b.table {
                    Some(t) => (Some(t.labels.clone()), t.rows.clone(), t.first_row_line),
                    None => (None, b.span.end..b.span.end, 0),
                };
                (b.name.clone(), b.line, b.span.start, b.span.end, labels, rows.start, rows.end, first, b.pairs.clone())
            })
            .collect()
    }

    /// Bytes `start..end` of the file (for headers and small tables).
    fn read(&self, start: usize, end: usize) -> PyResult<std::borrow::Cow<'_, [u8]>> {
        self.bytes()
            .get(start..end)
            .map(std::borrow::Cow::Borrowed)
            .ok_or_else(|| errors::value(format!("range {start}..{end} is outside the file")))
    }

    /// Scans the rows of block `block`: returns (numbers, keys, key_names), one float64 array
    /// per column of `number_cols`, the key ids (uint32) and the distinct key strings.
    #[pyo3(signature = (block, number_cols, key_col=None))]
    #[allow(clippy::type_complexity)]
    fn scan<'py>(
        &self,
        py: Python<'py>,
        block: usize,
        number_cols: Vec<usize>,
        key_col: Option<usize>,
    ) -> PyResult<(Vec<Bound<'py, PyArray1<f64>>>, Bound<'py, PyArray1<u32>>, Vec<String>)> {
        let table = self.table(block)?;
        if let Some(&bad) = number_cols.iter().chain(key_col.iter()).find(|&&c| c >= table.labels.len()) {
            return Err(errors::value(format!("column {bad} is out of range")));
        }
        let data = self.bytes();
        let scan = py.detach(|| star::scan_rows(data, table, &number_cols, key_col)).map_err(errors::star)?;
        let names = scan.key_names.iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
        self.spans.lock().unwrap().insert(block, scan.spans);
        let numbers = scan.numbers.into_iter().map(|v| v.into_pyarray(py)).collect();
        Ok((numbers, scan.keys.into_pyarray(py), names))
    }

    /// Appends the scanned rows of `block` to two files: rows where `keep` holds to
    /// `kept_path`, the others to `rejected_path`, byte for byte. `rewrite`, if given, is
    /// (column, {old text: new text}) applied to every written row; `columns`, if given, the
    /// input column of each output column (fields moved unchanged).
    #[pyo3(signature = (block, keep, kept_path, rejected_path, rewrite=None, columns=None))]
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
    ) -> PyResult<()> {
        let n_columns = self.table(block)?.labels.len();
        if let Some(&bad) = columns.iter().flatten().find(|&&c| c >= n_columns) {
            return Err(errors::value(format!("column {bad} is out of range")));
        }
        let spans_by_block = self.spans.lock().unwrap();
        let spans =
            spans_by_block.get(&block).ok_or_else(|| errors::value(format!("block {block} was not scanned")))?;
        let keep = keep.as_slice()?;
        if keep.len() != spans.len() {
            return Err(errors::value(format!("keep has {} entries, the loop {} rows", keep.len(), spans.len())));
        }
        let map: Option<HashMap<Vec<u8>, Vec<u8>>> = rewrite
            .as_ref()
            .map(|(_, m)| m.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect());
        let edit = star::RowEdit {
            rewrite: rewrite
                .as_ref()
                .zip(map.as_ref())
                .map(|((column, _), map)| star::ColumnRewrite { column: *column, map }),
            columns: columns.as_deref(),
        };
        let data = self.bytes();
        let write = |path: &PathBuf, want: bool| -> PyResult<()> {
            let file = OpenOptions::new().append(true).open(path).map_err(|e| errors::io(path, e))?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            star::write_rows(data, spans, |i| keep[i] == want, &edit, &mut out)
                .and_then(|_| out.into_inner().map_err(std::io::IntoInnerError::into_error).map(|_| ()))
                .map_err(|e| errors::io(path, e))
        };
        let (a, b) = py.detach(|| rayon::join(|| write(&kept_path, true), || write(&rejected_path, false)));
        a.and(b)
    }

    fn __repr__(&self) -> String {
        format!("StarFile({:?}, {} blocks)", self.path, self.blocks.len())
    }
}

/// Spectra of binned micrographs of one shape, kept by image index, and their comparison.
#[pyclass(module = "cryodedup._core")]
struct SpectrumBank {
    ny: usize,
    nx: usize,
    bin: usize,
    plan: Plan,
    spectra: HashMap<usize, Spectrum>,
}

/// One image's pixels, borrowed from a C-contiguous numpy array of a supported dtype.
enum Pixels<'a> {
    F32(&'a [f32]),
    F16(&'a [half::f16]),
    I16(&'a [i16]),
    U16(&'a [u16]),
}

fn binned<T: Pixel>(data: &[T], ny: usize, nx: usize, bin: usize) -> Vec<f32> {
    micrographs::bin_mean(data, ny, nx, bin).0
}

#[pymethods]
impl SpectrumBank {
    /// Images of `ny` x `nx` pixels, binned by `bin`; the band in cycles per binned pixel.
    #[new]
    fn new(ny: usize, nx: usize, bin: usize, highpass: f64, lowpass: f64) -> PyResult<Self> {
        if bin == 0 || ny / bin < 8 || nx / bin < 8 {
            return Err(errors::value(format!("binning {ny} x {nx} by {bin} leaves less than 8 x 8 pixels")));
        }
        let plan = Plan::new(ny / bin, nx / bin, Band { highpass, lowpass });
        Ok(SpectrumBank { ny, nx, bin, plan, spectra: HashMap::new() })
    }

    /// The binned image size (ny, nx).
    #[getter]
    fn binned_shape(&self) -> (usize, usize) {
        (self.ny / self.bin, self.nx / self.bin)
    }

    /// Bins the images (2-D arrays of float32, float16, int16 or uint16, little-endian,
    /// C-contiguous) and stores their spectra under `indices`, in parallel.
    fn add(&mut self, py: Python<'_>, indices: Vec<usize>, images: Vec<Bound<'_, PyAny>>) -> PyResult<()> {
        if indices.len() != images.len() {
            return Err(errors::value("one index per image is needed".into()));
        }
        let f32s: Vec<Option<PyReadonlyArray2<'_, f32>>> = images.iter().map(|a| a.extract().ok()).collect();
        let f16s: Vec<Option<PyReadonlyArray2<'_, half::f16>>> = images.iter().map(|a| a.extract().ok()).collect();
        let i16s: Vec<Option<PyReadonlyArray2<'_, i16>>> = images.iter().map(|a| a.extract().ok()).collect();
        let u16s: Vec<Option<PyReadonlyArray2<'_, u16>>> = images.iter().map(|a| a.extract().ok()).collect();
        let mut pixels = Vec::with_capacity(images.len());
        for k in 0..images.len() {
            let (shape, view) = if let Some(a) = &f32s[k] {
                (a.shape().to_vec(), Pixels::F32(a.as_slice()?))
            } else if let Some(a) = &f16s[k] {
                (a.shape().to_vec(), Pixels::F16(a.as_slice()?))
            } else if let Some(a) = &i16s[k] {
                (a.shape().to_vec(), Pixels::I16(a.as_slice()?))
            } else if let Some(a) = &u16s[k] {
                (a.shape().to_vec(), Pixels::U16(a.as_slice()?))
            } else {
                return Err(errors::value(format!(
                    "image {} is not a 2-D float32, float16, int16 or uint16 array",
                    indices[k]
                )));
            };
            if shape != [self.ny, self.nx] {
                return Err(errors::value(format!(
                    "image {} is {:?}, expected [{}, {}]",
                    indices[k], shape, self.ny, self.nx
                )));
            }
            pixels.push(view);
        }
        let (ny, nx, bin, plan) = (self.ny, self.nx, self.bin, &self.plan);
        let spectra: Vec<Spectrum> = py.detach(|| {
            pixels
                .par_iter()
                .map(|p| {
                    let image = match p {
                        Pixels::F32(d) => binned(d, ny, nx, bin),
                        Pixels::F16(d) => binned(d, ny, nx, bin),
                        Pixels::I16(d) => binned(d, ny, nx, bin),
                        Pixels::U16(d) => binned(d, ny, nx, bin),
                    };
                    plan.spectrum(&image)
                })
                .collect()
        });
        self.spectra.extend(indices.into_iter().zip(spectra));
        Ok(())
    }

    /// Forgets the spectra of `indices` (to bound memory).
    fn discard(&mut self, indices: Vec<usize>) {
        for i in indices {
            self.spectra.remove(&i);
        }
    }

    /// The binned, normalised image stored under `index`.
    fn image<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let s = self.spectra.get(&index).ok_or_else(|| errors::value(format!("no image {index}")))?;
        let (by, bx) = self.binned_shape();
        s.image().to_vec().into_pyarray(py).reshape([by, bx])
    }

    /// Scores the pairs (rows of an (n, 2) int64 array of stored indices) in parallel:
    /// returns z, dy, dx (binned pixels), pearson and overlap arrays; pearson and overlap
    /// are NaN where z < `pearson_min_z`.
    #[pyo3(signature = (pairs, pearson_min_z=0.0))]
    #[allow(clippy::type_complexity)]
    fn compare<'py>(
        &self,
        py: Python<'py>,
        pairs: PyReadonlyArray2<'py, i64>,
        pearson_min_z: f64,
    ) -> PyResult<(
        Bound<'py, PyArray1<f64>>,
        Bound<'py, PyArray1<i64>>,
        Bound<'py, PyArray1<i64>>,
        Bound<'py, PyArray1<f64>>,
        Bound<'py, PyArray1<f64>>,
    )> {
        let pairs = pairs.as_array();
        let mut refs = Vec::with_capacity(pairs.nrows());
        for row in pairs.rows() {
            let get = |i: i64| {
                self.spectra.get(&(i as usize)).ok_or_else(|| errors::value(format!("no spectrum for image {i}")))
            };
            refs.push((get(row[0])?, get(row[1])?));
        }
        let plan = &self.plan;
        let scores: Vec<micrographs::PairScore> =
            py.detach(|| refs.par_iter().map(|(a, b)| plan.compare(a, b, pearson_min_z)).collect());
        let column = |f: &dyn Fn(&micrographs::PairScore) -> f64| scores.iter().map(f).collect::<Vec<f64>>();
        Ok((
            column(&|s| s.z).into_pyarray(py),
            scores.iter().map(|s| s.dy).collect::<Vec<i64>>().into_pyarray(py),
            scores.iter().map(|s| s.dx).collect::<Vec<i64>>().into_pyarray(py),
            column(&|s| s.pearson).into_pyarray(py),
            column(&|s| s.overlap).into_pyarray(py),
        ))
    }
}

/// bin_image(image, bin) -> float32 array: block-mean binning of a 2-D float32, float16,
/// int16 or uint16 array (little-endian, C-contiguous), the GIL released.
#[pyfunction]
fn bin_image<'py>(py: Python<'py>, image: Bound<'py, PyAny>, bin: usize) -> PyResult<Bound<'py, PyArray2<f32>>> {
    if bin == 0 {
        return Err(errors::value("bin must be at least 1".into()));
    }
    macro_rules! try_type {
        ($t:ty) => {
            if let Ok(a) = image.extract::<PyReadonlyArray2<'py, $t>>() {
                let (ny, nx) = (a.shape()[0], a.shape()[1]);
                let data = a.as_slice()?;
                let (out, by, bx) = py.detach(|| micrographs::bin_mean(data, ny, nx, bin));
                return out.into_pyarray(py).reshape([by, bx]);
            }
        };
    }
    try_type!(f32);
    try_type!(half::f16);
    try_type!(i16);
    try_type!(u16);
    Err(errors::value("expected a 2-D float32, float16, int16 or uint16 array".into()))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(dedup, m)?)?;
    m.add_function(wrap_pyfunction!(support, m)?)?;
    m.add_function(wrap_pyfunction!(support_masks, m)?)?;
    m.add_function(wrap_pyfunction!(bin_image, m)?)?;
    m.add_class::<StarFile>()?;
    m.add_class::<SpectrumBank>()?;
    m.add("StarSyntaxError", m.py().get_type::<errors::StarSyntaxError>())?;
    Ok(())
}
