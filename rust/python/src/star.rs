//! STAR files mapped into memory: indexed, their loops scanned and split into kept and
//! rejected rows one window at a time, the pages of big files released behind each pass.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::OnceLock;

use cryodedup_core::io::particle_rows::{self, CentrePlan, PixelSize};
use cryodedup_core::io::{page_cache, star};
use cryodedup_core::particle_split;
use memmap2::{Advice, Mmap, UncheckedAdvice};
use numpy::{IntoPyArray, PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::dedup::DedupRule;
use crate::errors::{self, CoreError};

/// A STAR file mapped into memory and indexed; loops are scanned and written from the map,
/// one window at a time, each window's pages released once passed (resident memory stays
/// within a window, whatever the file's size).
#[pyclass(module = "cryodedup._core", frozen)]
pub(crate) struct StarFile {
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
pub(crate) fn release_pages(map: &Option<Mmap>, range: Range<usize>) {
    if let Some(map) = map {
        unmap_pages(map, range.clone());
        read_ahead(map, range.end);
    }
}

/// Drops the pages of `range` of `map` from the process (the page cache keeps them).
pub(crate) fn unmap_pages(map: &Mmap, range: Range<usize>) {
    // SAFETY: the map is read-only and shared; dropped pages are read again on access.
    let _ = unsafe { map.unchecked_advise_range(UncheckedAdvice::DontNeed, range.start, range.len()) };
}

/// Starts reading `map` from `start` for [`READ_AHEAD`] bytes (a hint: it does not wait).
pub(crate) fn read_ahead(map: &Mmap, start: usize) {
    let len = READ_AHEAD.min(map.len().saturating_sub(start));
    if len > 0 {
        let _ = map.advise_range(Advice::WillNeed, start, len);
    }
}

/// What a particle scan returns: the whole index (of a deferred file), the rows, and the
/// split's outcome when the rows were split as they were scanned.
type Scanned = (Option<Vec<star::Block>>, particle_rows::ParticleRows, Option<particle_split::Splitting>);

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

/// The columns of a particle scan: the micrograph `key`, the centre's `coords` and each
/// axis' `origins` column (or None), `origin_pixels` the (detector pixel size,
/// magnification) columns of origins in particle pixels, and the `score` column.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct ParticleColumns {
    key: usize,
    coords: Vec<usize>,
    origins: Vec<Option<usize>>,
    origin_pixels: Option<(usize, usize)>,
    score: Option<usize>,
}

#[pymethods]
impl ParticleColumns {
    #[new]
    #[pyo3(signature = (*, key, coords, origins, origin_pixels=None, score=None))]
    fn new(
        key: usize,
        coords: Vec<usize>,
        origins: Vec<Option<usize>>,
        origin_pixels: Option<(usize, usize)>,
        score: Option<usize>,
    ) -> PyResult<Self> {
        if origins.len() != coords.len() || !(2..=3).contains(&coords.len()) {
            return Err(errors::value("coords and origins must name 2 or 3 axes alike".into()));
        }
        Ok(ParticleColumns { key, coords, origins, origin_pixels, score })
    }
}

/// The centre plan of a particle scan, its columns checked against the loop's `labels`.
fn centre_plan(labels: &[String], columns: &ParticleColumns, psizes: &PixelSizes) -> PyResult<CentrePlan> {
    let ParticleColumns { key, coords, origins, origin_pixels, score } = columns;
    let mut used: Vec<usize> = vec![*key];
    used.extend(coords);
    used.extend(origins.iter().flatten());
    used.extend(origin_pixels.iter().flat_map(|&(a, b)| [a, b]));
    used.extend(score);
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
    let (coords, origins) = (coords.clone(), origins.clone());
    Ok(CentrePlan { key: *key, coords, origins, origin_pixels: *origin_pixels, psize, score: *score })
}

/// A scan that decides each micrograph once its rows end and appends its rows to the
/// `kept` or `rejected` file (which hold their header already) as it goes.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct SplitRule {
    rule: Py<DedupRule>,
    kept: PathBuf,
    rejected: PathBuf,
}

#[pymethods]
impl SplitRule {
    #[new]
    #[pyo3(signature = (rule, *, kept, rejected))]
    fn new(rule: Py<DedupRule>, kept: PathBuf, rejected: PathBuf) -> Self {
        SplitRule { rule, kept, rejected }
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

/// `path` opened to append rows to, buffered. Outputs beyond the kernel's limit of dirty
/// pages are written behind (an input of `input_len` bytes gives at most as much).
pub(crate) fn appending(path: &PathBuf, input_len: usize) -> PyResult<BufWriter<page_cache::WriteBehind>> {
    let behind = page_cache::bigger_than_dirty_limit(input_len as u64);
    let file = OpenOptions::new().append(true).open(path).map_err(|e| CoreError::writing(path, e))?;
    let out = page_cache::WriteBehind::new(file, behind).map_err(|e| CoreError::writing(path, e))?;
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
        let scanned = py
            .detach(|| particle_rows::scan_loop(data, source, plan, &release, |_, _, _| {}))
            .map_err(|e| CoreError::reading(&self.path, e))?;
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
        split: &SplitRule,
    ) -> PyResult<Scanned> {
        let params = split.rule.get().params(false);
        let data = self.bytes();
        let big = page_cache::bigger_than_cache(data.len() as u64);
        // Outputs that the kernel would stall on (beyond its limit of dirty pages) are
        // written directly: no copy into the page cache, no dirty pages to write back and
        // drop. Smaller ones go to the cache, and the job ends before they reach the disk.
        let direct = page_cache::bigger_than_dirty_limit(data.len() as u64);
        let open = |path: &PathBuf| -> PyResult<Box<dyn std::io::Write + Send>> {
            Ok(match direct {
                true => Box::new(page_cache::DirectWriter::append(path).map_err(|e| CoreError::writing(path, e))?),
                false => Box::new(appending(path, data.len())?),
            })
        };
        let (kept, rejected) = (open(&split.kept)?, open(&split.rejected)?);
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
            .map_err(|e| CoreError::reading(&self.path, e))?;
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
        let blocks =
            py.detach(|| star::index_releasing(data, &release)).map_err(|e| CoreError::reading(&self.path, e))?;
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
pub(crate) struct StarBlock {
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
        let file = File::open(&path).map_err(|e| CoreError::reading(&path, e))?;
        let len = file.metadata().map_err(|e| CoreError::reading(&path, e))?.len();
        let map = match len {
            0 => None,
            // SAFETY: the file is only read; cryodedup never writes to its inputs.
            _ => Some(unsafe { Mmap::map(&file) }.map_err(|e| CoreError::reading(&path, e))?),
        };
        if let Some(map) = &map {
            let _ = map.advise(Advice::Sequential); // read ahead; a hint only
            read_ahead(map, 0);
        }
        let data: &[u8] = map.as_deref().unwrap_or(&[]);
        let release = |range: Range<usize>| release_pages(&map, range);
        let index = OnceLock::new();
        let header = match defer_rows_of {
            Some(name) => {
                let found = py
                    .detach(|| star::index_header(data, star::LoopOf::Block(&name)))
                    .map_err(|e| CoreError::reading(&path, e))?;
                if !found.deferred {
                    let _ = index.set(found.blocks.clone());
                }
                found.blocks
            }
            None => {
                let blocks =
                    py.detach(|| star::index_releasing(data, &release)).map_err(|e| CoreError::reading(&path, e))?;
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
        let scan = py
            .detach(|| star::scan_rows(data, table, &number_cols, key_col))
            .map_err(|e| CoreError::reading(&self.path, e))?;
        let key_names = scan.key_names.iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
        let rows = scan.spans.len();
        let comment_lines = table.comment_lines;
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
        let table = self.table(py, block)?;
        let n_columns = table.labels.len();
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
            _ => CoreError::writing(&kept_path, e).into(),
        })
    }

    /// Scans the particle loop `block` for the job: per row the centre in Å (float64,
    /// `len(columns.coords)` values per row), the score and the micrograph id, one window at
    /// a time, each row's micrograph pixel size taken from `psizes`.
    ///
    /// With `split`, each micrograph is also decided once its rows end and its rows are
    /// appended to the kept or rejected file as the scan goes (docs/design.md section 5): the
    /// result's `keep` then holds the decision, or None and `split_note` says why the split
    /// was given up (the files are then incomplete).
    #[pyo3(signature = (block, columns, psizes, split=None))]
    fn scan_particles(
        &self,
        py: Python<'_>,
        block: usize,
        columns: &ParticleColumns,
        psizes: &PixelSizes,
        split: Option<&SplitRule>,
    ) -> PyResult<ParticleScan> {
        // A deferred file's loop is scanned while the rest of the file is indexed (one read).
        let fused = self.index.get().is_none() && block + 1 == self.header.len();
        let table = if fused {
            self.header[block].table.as_ref().ok_or_else(|| errors::value(format!("block {block} has no loop")))?
        } else {
            self.table(py, block)?
        };
        let plan = centre_plan(&table.labels, columns, psizes)?;
        let source = match fused {
            true => particle_rows::Loop::Deferred(self.header[block].name.as_str()),
            false => particle_rows::Loop::Indexed(table),
        };
        let (blocks, rows, splitting) = match split {
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
            Some(particle_split::Splitting::Failed(e)) => {
                return Err(CoreError::writing(&split.map_or_else(PathBuf::new, |s| s.kept.clone()), e).into())
            }
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
