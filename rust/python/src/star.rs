//! STAR files mapped into memory: indexed, their loops scanned and split into kept and
//! rejected rows one window at a time, the pages of big files released behind each pass.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use cryodedup_core::algo::picture_counts::{NearestPlan, PictureCounts};
use cryodedup_core::errors::FileError;
use cryodedup_core::io::decisions_csv::RecordSpec;
use cryodedup_core::io::page_batches::{PagePlan, PageRules};
use cryodedup_core::io::particle_rows::{CentrePlan, PixelSize};
use cryodedup_core::io::star;
use cryodedup_core::particle_split::{Splitting, Writing};
use cryodedup_core::star_file::{self, SplitTo};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::dedup::DedupRule;
use crate::errors::{self, CoreError};

/// A STAR file mapped into memory and indexed (the core's `star_file::StarFile`); loops are
/// scanned and written from the map, one window at a time, each window's pages released
/// once passed (resident memory stays within a window, whatever the file's size).
#[pyclass(module = "cryodedup._core", frozen)]
pub(crate) struct StarFile {
    path: PathBuf,
    inner: star_file::StarFile,
    /// A one-pass split's writer, maybe still writing its last rows, and its kept output.
    writing: Mutex<Option<(Writing, PathBuf)>>,
}

/// Where a particle scan takes each row's micrograph pixel size from.
#[pyclass(module = "cryodedup._core", frozen)]
pub(crate) struct PixelSizes {
    source: PixelSource,
}

/// A [`PixelSize`] whose optics group column is named by its label (the scan finds it).
#[derive(Clone)]
enum PixelSource {
    Angstrom,
    Constant(f64),
    ByOpticsGroup { label: String, table: Vec<(f64, f64)> },
    ByMicrograph(HashMap<Vec<u8>, f64>),
}

#[pymethods]
impl PixelSizes {
    /// Coordinates are in Å already: no pixel size is applied.
    #[staticmethod]
    fn angstrom() -> Self {
        PixelSizes { source: PixelSource::Angstrom }
    }

    /// One pixel size (Å) for every row (NaN: unknown).
    #[staticmethod]
    fn constant(psize: f64) -> Self {
        PixelSizes { source: PixelSource::Constant(psize) }
    }

    /// By the optics group number in the column `label`: (group, pixel size) pairs; a group
    /// not listed gives NaN.
    #[staticmethod]
    fn by_optics_group(label: String, table: Vec<(f64, f64)>) -> Self {
        PixelSizes { source: PixelSource::ByOpticsGroup { label, table } }
    }

    /// By the row's micrograph name; a name not listed gives NaN.
    #[staticmethod]
    fn by_micrograph(psizes: HashMap<String, f64>) -> Self {
        let psizes = psizes.into_iter().map(|(name, psize)| (name.into_bytes(), psize)).collect();
        PixelSizes { source: PixelSource::ByMicrograph(psizes) }
    }

    /// Where the pixel sizes come from: "angstrom", "constant", "optics group" or "micrograph".
    #[getter]
    fn source(&self) -> &'static str {
        match &self.source {
            PixelSource::Angstrom => "angstrom",
            PixelSource::Constant(_) => "constant",
            PixelSource::ByOpticsGroup { .. } => "optics group",
            PixelSource::ByMicrograph(_) => "micrograph",
        }
    }

    fn __repr__(&self) -> String {
        match &self.source {
            PixelSource::Angstrom => "PixelSizes.angstrom()".into(),
            PixelSource::Constant(psize) => format!("PixelSizes.constant({psize})"),
            PixelSource::ByOpticsGroup { label, table } => {
                format!("PixelSizes.by_optics_group({label:?}, {} groups)", table.len())
            }
            PixelSource::ByMicrograph(psizes) => format!("PixelSizes.by_micrograph({} micrographs)", psizes.len()),
        }
    }
}

/// The columns of a particle scan, by index in the loop.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct ParticleColumns {
    /// What is kept of each row besides its centre: the micrograph `key`, the `score` column
    /// and `extra` number columns kept whole (read in the same pass).
    key: usize,
    score: Option<usize>,
    extra: Vec<usize>,
    /// The centre: the `coords` column of each axis, its `origins` column (or None), and the
    /// (detector pixel size, magnification) columns of origins in particle pixels.
    coords: Vec<usize>,
    origins: Vec<Option<usize>>,
    origin_pixels: Option<(usize, usize)>,
    /// The image name column (`rlnImageName`), keyed as images (the same image twice).
    image: Option<usize>,
}

#[pymethods]
impl ParticleColumns {
    #[new]
    #[pyo3(signature = (*, key, coords, origins, origin_pixels=None, score=None, extra=Vec::new(), image=None))]
    fn new(
        key: usize,
        coords: Vec<usize>,
        origins: Vec<Option<usize>>,
        origin_pixels: Option<(usize, usize)>,
        score: Option<usize>,
        extra: Vec<usize>,
        image: Option<usize>,
    ) -> PyResult<Self> {
        if origins.len() != coords.len() || !(2..=3).contains(&coords.len()) {
            return Err(errors::value("coords and origins must name 2 or 3 axes alike".into()));
        }
        Ok(ParticleColumns { key, coords, origins, origin_pixels, score, extra, image })
    }
}

/// The centre plan of a particle scan, its columns checked against the loop's `labels`.
fn centre_plan(labels: &[String], columns: &ParticleColumns, psizes: &PixelSizes) -> PyResult<CentrePlan> {
    let ParticleColumns { key, coords, origins, origin_pixels, score, extra, image } = columns;
    let mut used: Vec<usize> = vec![*key];
    used.extend(coords);
    used.extend(origins.iter().flatten());
    used.extend(origin_pixels.iter().flat_map(|&(a, b)| [a, b]));
    used.extend(score);
    used.extend(extra);
    used.extend(image);
    let psize = match &psizes.source {
        PixelSource::Angstrom => PixelSize::Angstrom,
        PixelSource::Constant(psize) => PixelSize::Constant(*psize),
        PixelSource::ByOpticsGroup { label, table } => {
            let column = labels
                .iter()
                .position(|l| l == label)
                .ok_or_else(|| errors::value(format!("no column {label} in the loop")))?;
            PixelSize::ByOpticsGroup { column, table: table.clone() }
        }
        PixelSource::ByMicrograph(psizes) => PixelSize::ByMicrograph(psizes.clone()),
    };
    if let Some(&bad) = used.iter().find(|&&c| c >= labels.len()) {
        return Err(errors::value(format!("column {bad} is out of range")));
    }
    let (coords, origins, extra) = (coords.clone(), origins.clone(), extra.clone());
    let origin_pixels = *origin_pixels;
    Ok(CentrePlan { key: *key, coords, origins, origin_pixels, psize, score: *score, extra, image: *image })
}

/// A scan that decides each micrograph once its rows end and appends its rows to the
/// `kept` or `rejected` file (which hold their header already) as it goes.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct SplitRule {
    rule: Py<DedupRule>,
    kept: PathBuf,
    rejected: PathBuf,
    /// Whether each rejected row's partner is kept (`ParticleScan.suppressed_by`).
    partners: bool,
    /// The record of every rejection (`decisions.csv`): appended to this file (empty) by the
    /// core as the rows are written, `input` naming the input in its rows (bytes,
    /// `os.fsencode`'s: a file name that is not UTF-8 as the file system holds it).
    record: Option<PathBuf>,
    input: Vec<u8>,
    /// With `--plot`: the nearest-neighbour histogram counted batch by batch
    /// (`ParticleScan.pictures`), as `nearest_histogram` counts it.
    pictures: Option<Py<NearestHistogram>>,
    /// With `--plot`: the page's files of picks made batch by batch (`ScanPictures.page`).
    page: Option<Py<PageFilesPlan>>,
    /// The scratch folder the page's files are written into as they are made (None: held).
    page_folder: Option<PathBuf>,
    /// `--overrides`: the forced rows (rows of the loop from 0, increasing) and whether each is
    /// kept, decided with the others as the scan goes (`ParticleScan.overridden`).
    forced: Vec<(u64, bool)>,
}

/// The page's files of picks a one-pass scan makes (`SplitRule.page`): `chunk` micrographs a
/// file, each rejected row's rule an index into `rules` (the record of rejections' names).
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct PageFilesPlan {
    chunk: usize,
    rules: Vec<String>,
}

#[pymethods]
impl PageFilesPlan {
    #[new]
    fn new(chunk: usize, rules: Vec<String>) -> PyResult<Self> {
        if chunk == 0 {
            return Err(errors::value("chunk: at least one micrograph a file".to_string()));
        }
        PageFilesPlan::codes(&rules)?;
        Ok(PageFilesPlan { chunk, rules })
    }
}

impl PageFilesPlan {
    /// The index of each rule a one-pass scan's rejection can have.
    fn codes(rules: &[String]) -> PyResult<PageRules> {
        let code = |name: &str| {
            let index = rules.iter().position(|r| r == name);
            index.and_then(|i| i8::try_from(i).ok()).ok_or_else(|| errors::value(format!("rules: no {name:?}")))
        };
        Ok(PageRules {
            score: code("score")?,
            row_order: code("row order")?,
            random_order: code("random order")?,
            remove_entirely: code("remove entirely")?,
        })
    }

    fn plan(&self, folder: Option<PathBuf>) -> PagePlan {
        let rules = PageFilesPlan::codes(&self.rules).expect("checked when made");
        PagePlan { chunk: self.chunk, rules, folder }
    }
}

/// The page's files of picks made by a one-pass scan: `files` texts of `chunk` micrographs
/// each, kept until `write` writes them (and lets them go); or, where `folder` is given
/// (`SplitRule.page_folder`), written there as they were made (`picks_NNNNN.js`), none held.
#[pyclass(module = "cryodedup._core", frozen)]
pub(crate) struct PageTexts {
    #[pyo3(get)]
    files: usize,
    #[pyo3(get)]
    chunk: usize,
    #[pyo3(get)]
    rules: Vec<String>,
    #[pyo3(get)]
    folder: Option<PathBuf>,
    texts: Mutex<Option<Vec<Vec<u8>>>>,
}

#[pymethods]
impl PageTexts {
    /// Writes file k at `paths[k]` (as many paths as files), on every core, Python's lock let
    /// go; the texts are let go once written. Raises if they were written already.
    fn write(&self, py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<()> {
        use rayon::prelude::*;
        if paths.len() != self.files {
            return Err(errors::value(format!("{} paths for {} files", paths.len(), self.files)));
        }
        let texts = self.texts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let texts = texts.ok_or_else(|| errors::value("the page's files were written already".to_string()))?;
        let written = py.detach(|| {
            paths
                .par_iter()
                .zip(texts.par_iter())
                .try_for_each(|(path, text)| std::fs::write(path, text).map_err(|error| (path.clone(), error)))
        });
        written.map_err(|(path, error)| CoreError::writing(&path, error).into())
    }
}

/// The nearest-neighbour histogram a one-pass scan counts (`SplitRule.pictures`): distances
/// measured up to `reach` (Å), counted over `edges`, and those within `within` (inclusive).
#[pyclass(module = "cryodedup._core", frozen, get_all, eq)]
#[derive(PartialEq)]
pub(crate) struct NearestHistogram {
    reach: f64,
    edges: Vec<f64>,
    within: f64,
}

#[pymethods]
impl NearestHistogram {
    #[new]
    fn new(reach: f64, edges: Vec<f64>, within: f64) -> PyResult<Self> {
        if edges.len() < 2 || edges.windows(2).any(|w| w[0] >= w[1] || w[0].is_nan()) {
            return Err(errors::value("the edges must be two or more, increasing".to_string()));
        }
        Ok(NearestHistogram { reach, edges, within })
    }
}

#[pymethods]
impl SplitRule {
    #[new]
    #[pyo3(signature = (rule, *, kept, rejected, partners=false, pictures=None, page=None, page_folder=None, record=None, input=Vec::new(), forced=Vec::new()))]
    #[allow(clippy::too_many_arguments)] // (Python's keywords, each the SplitRule's own)
    fn new(
        rule: Py<DedupRule>,
        kept: PathBuf,
        rejected: PathBuf,
        partners: bool,
        pictures: Option<Py<NearestHistogram>>,
        page: Option<Py<PageFilesPlan>>,
        page_folder: Option<PathBuf>,
        record: Option<PathBuf>,
        input: Vec<u8>,
        forced: Vec<(u64, bool)>,
    ) -> PyResult<Self> {
        if forced.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
            return Err(pyo3::exceptions::PyValueError::new_err("forced rows must be increasing"));
        }
        if !forced.is_empty() && page.is_some() {
            return Err(pyo3::exceptions::PyValueError::new_err("forced rows are not taken with the page's files"));
        }
        Ok(SplitRule { rule, kept, rejected, partners, record, input, pictures, page, page_folder, forced })
    }
}

impl SplitRule {
    /// The core's plan of the pictures' counts, if asked.
    fn nearest_plan(&self) -> Option<NearestPlan> {
        self.pictures.as_ref().map(|asked| {
            let asked = asked.get();
            NearestPlan { reach: asked.reach, edges: asked.edges.clone(), within: asked.within }
        })
    }
}

/// What `--plot` counted of a one-pass scan's rows as it decided them (``SplitRule.pictures``).
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct ScanPictures {
    /// The nearest-neighbour histogram's counts (int64, len(edges) - 1), and how many lie
    /// within its distance; None where a batch could not be measured.
    nearest: Option<(Py<PyArray1<i64>>, i64)>,
    /// The histogram asked for (`SplitRule.pictures`).
    plan: Py<NearestHistogram>,
    /// The rows and the kept rows of each micrograph, by id (int64).
    picks: Py<PyArray1<i64>>,
    kept: Py<PyArray1<i64>>,
    /// The page's files of picks, where `SplitRule.page` asked for them and the scan made them.
    page: Option<Py<PageTexts>>,
    /// The lowest and the highest value of each coordinate over every row (Å), None without rows.
    extent: Option<(Vec<f64>, Vec<f64>)>,
}

impl ScanPictures {
    fn of(py: Python<'_>, counts: PictureCounts, plan: Py<NearestHistogram>) -> Self {
        let wide = |v: Vec<u64>| v.into_iter().map(|c| c as i64).collect::<Vec<i64>>().into_pyarray(py).unbind();
        let nearest = counts.nearest.map(|n| (wide(n.counts), n.within[0] as i64));
        let (picks, kept) = (wide(counts.picks), wide(counts.kept));
        let dim = counts.extent.len() / 2;
        let extent = (dim > 0).then(|| (counts.extent[..dim].to_vec(), counts.extent[dim..].to_vec()));
        ScanPictures { nearest, plan, picks, kept, page: None, extent }
    }
}

/// One column set row by row by `append_split`: row `i`'s field `column` becomes
/// `texts[choice[i] - 1]`, unchanged where `choice[i]` is 0 (uint8).
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct ColumnValues {
    column: usize,
    choice: Py<PyArray1<u8>>,
    texts: Vec<String>,
}

#[pymethods]
impl ColumnValues {
    #[new]
    fn new(column: usize, choice: Bound<'_, PyArray1<u8>>, texts: Vec<String>) -> Self {
        ColumnValues { column, choice: choice.unbind(), texts }
    }
}

impl StarFile {
    /// A core error of a pass over this file, raised as Python sees it.
    fn failed(&self, error: impl Into<FileError>) -> PyErr {
        CoreError::of_file(&self.path, error.into()).into()
    }
}

/// One `data_` block of a STAR file: where it is, and its labels if it holds a loop.
/// Blocks compare (and hash) by value: a file's blocks listed twice are equal.
#[derive(PartialEq, Eq, Hash)]
#[pyclass(module = "cryodedup._core", frozen, get_all, eq, hash)]
pub(crate) struct StarBlock {
    /// The block's place in the file (0 for the first), which the scans and row copies take.
    index: usize,
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
    /// The blocks of a file, numbered in file order.
    fn all_of(blocks: &[star::Block]) -> Vec<Self> {
        blocks.iter().enumerate().map(|(index, block)| StarBlock::from_core(index, block)).collect()
    }

    fn from_core(index: usize, block: &star::Block) -> Self {
        let (labels, rows, first_row_line) = match &block.table {
            Some(t) => (Some(t.labels.clone()), t.rows.clone(), t.first_row_line),
            None => (None, block.span.end..block.span.end, 0),
        };
        StarBlock {
            index,
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
pub(crate) struct StarScan {
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
pub(crate) struct ParticleScan {
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
    /// With `keep` and the split's `partners`: each rejected row's partner, the kept row that
    /// suppressed it (int64; -1 for a kept row).
    suppressed_by: Option<Py<PyArray1<i64>>>,
    /// Why a split asked for was given up (its outputs are then incomplete).
    split_note: Option<String>,
    /// With `keep` and the split's `forced`: the rows the overrides decided (forced, or
    /// rejected by a forced keep), increasing (uint64).
    overridden: Option<Py<PyArray1<u64>>>,
    /// With `keep` and the split's `pictures`: what `--plot` counted as the rows were decided.
    pictures: Option<Py<ScanPictures>>,
    /// Each `extra` column of the scan's columns (float64, one value per row), in their order.
    extra: Vec<Py<PyArray1<f64>>>,
    /// The image index in its stack (uint32) of each row of a run of the image column whose
    /// indices are not consecutive, or None without an image column.
    image_indices: Option<Py<PyArray1<u32>>>,
    /// The runs of the image column, (stack hash, first index, last index, increasing, rows)
    /// as uint64 (n_runs, 5): see cryodedup_core::images.
    image_runs: Option<Py<PyArray2<u64>>>,
    /// The runs' stack names (bytes, ends uint64, prefix lengths uint8), or None without an
    /// image column: see cryodedup_core::images::ImageRows.
    image_stacks: Option<crate::images::RunStacks>,
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
        let inner = py
            .detach(|| star_file::StarFile::open(&path, defer_rows_of.as_deref()))
            .map_err(|e| CoreError::of_file(&path, e))?;
        Ok(StarFile { path, inner, writing: Mutex::new(None) })
    }

    /// Whether the file was opened with `defer_rows_of` and its index is still partial.
    #[getter]
    fn deferred(&self) -> bool {
        self.inner.deferred()
    }

    /// The blocks known without indexing further: up to the deferred loop's first row while
    /// the file is deferred, else all of them.
    fn header_blocks(&self) -> Vec<StarBlock> {
        StarBlock::all_of(self.inner.header_blocks())
    }

    #[getter]
    fn size(&self) -> usize {
        self.inner.bytes().len()
    }

    /// The blocks of the file, in file order (the whole index).
    fn blocks(&self, py: Python<'_>) -> PyResult<Vec<StarBlock>> {
        let blocks = py.detach(|| self.inner.blocks()).map_err(|e| self.failed(e))?;
        Ok(StarBlock::all_of(blocks))
    }

    /// Bytes `start..end` of the file (for headers and small tables).
    fn read(&self, start: usize, end: usize) -> PyResult<std::borrow::Cow<'_, [u8]>> {
        self.inner
            .bytes()
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
        let scan = py.detach(|| self.inner.scan(block, &number_cols, key_col)).map_err(|e| self.failed(e))?;
        let comment_lines = self.inner.table(block).map_err(|e| self.failed(e))?.comment_lines;
        let key_names = scan.key_names.iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
        let rows = scan.spans.len();
        let numbers = scan.numbers.into_iter().map(|v| v.into_pyarray(py).unbind()).collect();
        Ok(StarScan { rows, numbers, keys: scan.keys.into_pyarray(py).unbind(), key_names, comment_lines })
    }

    /// Appends the scanned rows of `block` to two files: rows where `keep` holds to
    /// `kept_path`, the others to `rejected_path`, byte for byte. `rewrite`, if given, is
    /// (column, {old text: new text}) applied to every written row; `columns`, if given, the
    /// input column of each output column (fields moved unchanged); `values`, if given, one
    /// column set row by row.
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
        values: Option<&ColumnValues>,
    ) -> PyResult<()> {
        // (Indexing the rest of a deferred file, without the GIL.)
        let n_columns = py.detach(|| self.inner.table(block)).map_err(|e| self.failed(e))?.labels.len();
        if let Some(&bad) = columns.iter().flatten().find(|&&c| c >= n_columns) {
            return Err(errors::value(format!("column {bad} is out of range")));
        }
        let keep = keep.as_slice()?;
        let map: Option<HashMap<Vec<u8>, Vec<u8>>> = rewrite
            .as_ref()
            .map(|(_, m)| m.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect());
        let texts: Vec<Vec<u8>> = values.iter().flat_map(|v| v.texts.iter().map(|t| t.as_bytes().to_vec())).collect();
        let choice = values.map(|v| (v.column, v.choice.bind(py).readonly()));
        let choice = match &choice {
            Some((column, choice)) => {
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
        py.detach(|| self.inner.append_split(block, keep, &edit, &kept_path, &rejected_path))
            .map_err(|e| self.failed(e))
    }

    /// Scans the particle loop `block` for the job: per row the centre in Å (float64,
    /// `len(columns.coords)` values per row), the score and the micrograph id, one window at
    /// a time, each row's micrograph pixel size taken from `psizes`.
    ///
    /// With `split`, each micrograph is also decided once its rows end and its rows are
    /// appended to the kept or rejected file as the scan goes (docs/design.md section 5): the
    /// result's `keep` then holds the decision, or None and `split_note` says why the split
    /// was given up (the files are then incomplete). With `keep`, the last rows may still be
    /// being written: `finish_split` waits for them.
    #[pyo3(signature = (block, columns, psizes, split=None))]
    fn scan_particles(
        &self,
        py: Python<'_>,
        block: usize,
        columns: &ParticleColumns,
        psizes: &PixelSizes,
        split: Option<&SplitRule>,
    ) -> PyResult<ParticleScan> {
        let table = py.detach(|| self.inner.particle_table(block)).map_err(|e| self.failed(e))?;
        let plan = centre_plan(&table.labels, columns, psizes)?;
        let to = split.map(|s| SplitTo {
            params: s.rule.get().params(s.partners),
            kept: &s.kept,
            rejected: &s.rejected,
            record: s.record.as_deref().map(|path| (RecordSpec { input: s.input.clone(), image: plan.image }, path)),
            pictures: s.nearest_plan(),
            page: s.page.as_ref().map(|page| page.get().plan(s.page_folder.clone())),
            forced: s.forced.clone(),
        });
        let (mut rows, splitting) =
            py.detach(|| self.inner.scan_particles(block, &plan, to)).map_err(|e| self.failed(e))?;
        let (mut suppressed_by, mut pictures, mut overridden) = (None, None, None);
        let (keep, split_note) = match splitting {
            Some(Splitting::Done(decided, writing)) => {
                let kept = split.map_or_else(PathBuf::new, |s| s.kept.clone());
                *self.writing.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((writing, kept));
                if split.is_some_and(|s| s.partners) {
                    suppressed_by = Some(decided.suppressed_by.into_pyarray(py).unbind());
                }
                if split.is_some_and(|s| !s.forced.is_empty()) {
                    overridden = Some(decided.overridden.into_pyarray(py).unbind());
                }
                if let (Some(counts), Some(plan)) =
                    (decided.pictures, split.and_then(|s| s.pictures.as_ref().map(|p| p.clone_ref(py))))
                {
                    let mut counted = ScanPictures::of(py, counts, plan);
                    if let (Some(texts), Some(asked)) = (decided.page, split.and_then(|s| s.page.as_ref())) {
                        let asked = asked.get();
                        let (files, chunk, rules) = (texts.len(), asked.chunk, asked.rules.clone());
                        let folder = split.and_then(|s| s.page_folder.clone());
                        let texts = Mutex::new(folder.is_none().then_some(texts)); // (written: none held)
                        let made = PageTexts { files, chunk, rules, folder, texts };
                        counted.page = Some(Py::new(py, made)?);
                    }
                    pictures = Some(Py::new(py, counted)?);
                }
                (Some(decided.keep.into_pyarray(py).unbind()), None)
            }
            Some(Splitting::GivenUp(reason)) => (None, Some(reason)),
            Some(Splitting::Failed(e)) => {
                let kept = split.map_or_else(PathBuf::new, |s| s.kept.clone());
                return Err(CoreError::writing(&kept, e).into());
            }
            None => (None, None),
        };
        let comment_lines = self.inner.table(block).map_err(|e| self.failed(e))?.comment_lines;
        let key_names = rows.key_names.iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
        // The image runs and their stacks' names copied for Python, each freed once copied
        // (not both held to the end: issue 58 item 15, the peak at the scan's end).
        let image_runs = plan.image.map(|_| crate::images::runs_array(py, &std::mem::take(&mut rows.images.runs)));
        let image_stacks = plan.image.map(|_| crate::images::run_stacks(py, &mut rows.images));
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
            suppressed_by,
            split_note,
            overridden,
            pictures,
            extra: rows.extra.into_iter().map(|values| values.into_pyarray(py).unbind()).collect(),
            image_runs,
            image_stacks,
            image_indices: plan.image.map(|_| rows.images.indices.into_pyarray(py).unbind()),
        })
    }

    /// Waits until the one-pass split of `scan_particles` has written every row and flushed
    /// its outputs; raises its write error. Nothing to wait for is no error.
    fn finish_split(&self, py: Python<'_>) -> PyResult<()> {
        let pending = self.writing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let Some((writing, kept)) = pending else { return Ok(()) };
        py.detach(|| writing.finish()).map_err(|e| CoreError::writing(&kept, e).into())
    }

    fn __repr__(&self) -> String {
        let blocks = self.inner.header_blocks().len();
        match self.inner.deferred() {
            false => format!("StarFile({:?}, {blocks} blocks)", self.path),
            true => format!("StarFile({:?}, {blocks} blocks so far, deferred)", self.path),
        }
    }
}
