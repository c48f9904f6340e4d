//! The `cryodedup._core` extension: arrays in and out of cryodedup-core, the GIL released
//! around the parallel work, core errors mapped to Python exceptions in `errors`.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Mutex;

use cryodedup_core::micrographs::{self, Band, Plan, Spectrum};
use cryodedup_core::{dedup as core_dedup, star};
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
        let loop_size = self.labels.as_ref().map_or(0, |l| l.len());
        format!("StarBlock(data_{}, line {}, {} labels)", self.name, self.line, loop_size)
    }
}

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

    /// The blocks of the file, in file order.
    fn blocks(&self) -> Vec<StarBlock> {
        self.blocks.iter().map(StarBlock::from_core).collect()
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
    /// (column, {old text: new text}) applied to every written row.
    #[pyo3(signature = (block, keep, kept_path, rejected_path, rewrite=None))]
    fn append_split(
        &self,
        py: Python<'_>,
        block: usize,
        keep: PyReadonlyArray1<'_, bool>,
        kept_path: PathBuf,
        rejected_path: PathBuf,
        rewrite: Option<(usize, HashMap<String, String>)>,
    ) -> PyResult<()> {
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
        let rw =
            rewrite.as_ref().zip(map.as_ref()).map(|((column, _), map)| star::ColumnRewrite { column: *column, map });
        let data = self.bytes();
        let write = |path: &PathBuf, want: bool| -> PyResult<()> {
            let file = OpenOptions::new().append(true).open(path).map_err(|e| errors::io(path, e))?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            star::write_rows(data, spans, |i| keep[i] == want, rw.as_ref(), &mut out)
                .and_then(|_| out.into_inner().map_err(|e| e.into_error()).map(|_| ()))
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
        let spectra: Vec<Spectrum> =
            py.detach(|| pixels.par_iter().map(|p| plan.spectrum(&p.bin_mean(ny, nx, bin).0)).collect());
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
    let array = PixelArray::extract(&image, "the image")?;
    let (ny, nx) = array.shape();
    let pixels = array.pixels()?;
    let (out, by, bx) = py.detach(|| pixels.bin_mean(ny, nx, bin));
    out.into_pyarray(py).reshape([by, bx])
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(dedup, m)?)?;
    m.add_function(wrap_pyfunction!(bin_image, m)?)?;
    m.add_class::<StarFile>()?;
    m.add_class::<StarBlock>()?;
    m.add_class::<SpectrumBank>()?;
    m.add("StarSyntaxError", m.py().get_type::<errors::StarSyntaxError>())?;
    Ok(())
}
