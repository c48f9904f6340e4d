//! Picker coordinate files, many at a time: each file memory-mapped, files read in parallel,
//! only the number columns a job needs parsed, and each row's byte span kept so that
//! writers copy rows byte for byte; rows are copied out again in parallel.
//!
//! Layouts, as pickers write them:
//! - [`Layout::Star`]: a STAR loop (RELION coordinate files, crYOLO `.cbox`), indexed and
//!   scanned by [`crate::io::star`]; the loop is the first one holding the layout's label.
//! - [`Layout::Tab`]: a header line of tab-separated names, then tab-separated rows (topaz).
//! - [`Layout::Whitespace`]: rows of whitespace-separated fields, no header; blank lines and
//!   `#` comments skipped; the first fields are named by the layout (EMAN `.box`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use memchr::memchr_iter;
use memmap2::Mmap;
use rayon::prelude::*;

use crate::errors::PicksError;
use crate::io::star::{
    self, for_each_field, keep_all, parse_number, text, trim, write_row_reordered, Lines, LoopOf, RowFields, RowScan,
    ScanRequest,
};
use crate::parallel::{self, extend_in_parallel};

#[derive(Clone, Debug)]
pub enum Layout {
    /// The first STAR loop whose labels include `label`.
    Star { label: String },
    /// A tab-separated table with a header line.
    Tab,
    /// Whitespace-separated rows; `names` name the first fields, which every row must have, and
    /// one more field at most (EMAN1's fifth `.box` column). Lines end in LF, CRLF or CR.
    Whitespace { names: Vec<String> },
}

/// What to read of each file.
#[derive(Clone, Debug)]
pub struct Request {
    pub layout: Layout,
    /// Columns parsed as f64, by label (NaN for a file without the label).
    pub numbers: Vec<String>,
    /// A text column mapped to dense ids shared by all files (topaz `image_name`).
    pub key: Option<String>,
    /// A field that reads as NaN in a number column (crYOLO's `<NA>`).
    pub missing: Option<Vec<u8>>,
}

/// One file's table.
#[derive(Debug, Default)]
pub struct FileRows {
    /// The table's labels; None for a STAR file without a loop holding the layout's label.
    pub labels: Option<Vec<String>>,
    /// Bytes before the first row and after the last row.
    pub header: Vec<u8>,
    pub footer: Vec<u8>,
    /// Byte range of each row's line, terminator included.
    pub spans: Vec<(u64, u64)>,
    /// One vector per requested number column.
    pub numbers: Vec<Vec<f64>>,
    /// Per row, the id of its key (ids shared across files after [`read_files`]).
    pub keys: Vec<u32>,
    key_names: Vec<Vec<u8>>,
}

/// What a file is, besides its rows.
#[derive(Debug, Default)]
pub struct FileHead {
    /// The table's labels; None for a STAR file without a loop holding the layout's label.
    pub labels: Option<Vec<String>>,
    pub header: Vec<u8>,
    pub footer: Vec<u8>,
    pub n_rows: usize,
}

/// All files read: each file's head, the rows of all in flat arrays, keys joined into one
/// list of names.
#[derive(Debug, Default)]
pub struct Tables {
    pub files: Vec<FileHead>,
    pub rows: FlatRows,
    pub key_names: Vec<Vec<u8>>,
}

/// Files parsed at once before their rows join the flat arrays: a picker writes one small
/// file per micrograph, and holding every file's own vectors until the end would double the
/// memory touched (fresh pages are the dearest part of reading tens of thousands of files).
const FILES_PER_BATCH: usize = 256;

/// Reads `paths` in parallel, a batch at a time. The first error in the order of `paths` is
/// returned.
pub fn read_files(paths: &[PathBuf], request: &Request) -> Result<Tables, PicksError> {
    let mut tables = Tables::default();
    // Key ids are per file until joined: made global, in order of first appearance.
    let mut global: HashMap<Vec<u8>, u32> = HashMap::new();
    for batch in paths.chunks(FILES_PER_BATCH) {
        let mut files: Vec<FileRows> = batch
            .par_iter()
            .map_init(Vec::new, |buffer, p| read_file_with(p, request, buffer))
            .collect::<Vec<_>>()
            .into_iter()
            .collect::<Result<_, _>>()?;
        for file in &mut files {
            let remap: Vec<u32> = std::mem::take(&mut file.key_names)
                .into_iter()
                .map(|name| {
                    let fresh = global.len() as u32;
                    *global.entry(name.clone()).or_insert_with(|| {
                        tables.key_names.push(name);
                        fresh
                    })
                })
                .collect();
            file.keys.iter_mut().for_each(|k| *k = remap[*k as usize]);
        }
        tables.rows.append(&files, request.numbers.len());
        tables.files.extend(files.into_iter().map(|f| FileHead {
            n_rows: f.spans.len(),
            labels: f.labels,
            header: f.header,
            footer: f.footer,
        }));
    }
    Ok(tables)
}

/// The rows of many files in flat arrays, in file order: the numbers as one row-major table
/// (rows x requested numbers), each row's byte span, and the key ids (rows of files with a key).
#[derive(Debug, Default)]
pub struct FlatRows {
    pub numbers: Vec<f64>,
    pub starts: Vec<u64>,
    pub ends: Vec<u64>,
    pub keys: Vec<u32>,
}

impl FlatRows {
    /// Appends `files`' rows, each file's part filled in parallel.
    pub fn append(&mut self, files: &[FileRows], n_numbers: usize) {
        let rows: Vec<usize> = files.iter().map(|f| f.spans.len()).collect();
        let cells: Vec<usize> = rows.iter().map(|n| n * n_numbers).collect();
        let keys: Vec<usize> = files.iter().map(|f| f.keys.len()).collect();
        // Row-major: row after row, each with every requested number.
        extend_in_parallel(&mut self.numbers, &cells, |k| {
            let f = &files[k];
            (0..rows[k]).flat_map(move |row| f.numbers.iter().map(move |column| column[row]))
        });
        extend_in_parallel(&mut self.starts, &rows, |k| files[k].spans.iter().map(|s| s.0));
        extend_in_parallel(&mut self.ends, &rows, |k| files[k].spans.iter().map(|s| s.1));
        extend_in_parallel(&mut self.keys, &keys, |k| files[k].keys.iter().copied());
    }
}

/// "1 field", "2 fields".
fn count_of(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Reads one file.
pub fn read_file(path: &Path, request: &Request) -> Result<FileRows, PicksError> {
    read_file_with(path, request, &mut Vec::new())
}

/// Reads one file; a small one through `buffer`, reused from file to file.
///
/// A picker's per-micrograph file is a few kB: reading it costs less than mapping it (page
/// faults, and an unmap that every thread's TLB must see); large files are mapped.
fn read_file_with(path: &Path, request: &Request, buffer: &mut Vec<u8>) -> Result<FileRows, PicksError> {
    let source = load_source(path, std::mem::take(buffer))
        .map_err(|error| PicksError::Io { path: path.to_path_buf(), error })?;
    let rows = read_bytes(path, source.bytes(), request);
    if let Source::Read(data) = source {
        *buffer = data;
    }
    rows
}

/// Files from this size on are memory-mapped, smaller ones read.
const MAP_FROM_BYTES: u64 = 1 << 20;

/// Reads one file's bytes (`path` names it in errors).
pub fn read_bytes(path: &Path, data: &[u8], request: &Request) -> Result<FileRows, PicksError> {
    match &request.layout {
        Layout::Star { label } => read_star(path, data, label, request),
        Layout::Tab => read_tab(path, data, request),
        Layout::Whitespace { names } => read_whitespace(path, data, names, request),
    }
}

/// One pass over a small file: the index stops at the first row of the loop holding `label`,
/// the scan reads its rows and finds where they end, and the index resumes there (a
/// picker's files are many and small: walking each line once, not once to index and once
/// to scan, is a fifth of reading them).
fn read_star(path: &Path, data: &[u8], label: &str, request: &Request) -> Result<FileRows, PicksError> {
    let star_error = |error| PicksError::Star { path: path.to_path_buf(), error };
    // Which columns to parse is known from the loop's labels only: the first (header-only)
    // index finds them, and the scan that follows parses them.
    let wanted_loop = LoopOf::Label(label);
    let header = star::index_header(data, wanted_loop).map_err(star_error)?;
    // The loop scanned: where the header's index stopped (at the first row of a loop holding
    // `label`), else the first loop holding it. An earlier loop with the label but no rows
    // is passed over by the indexer, so the first such loop need not be the one scanned.
    let holds = |b: &star::Block| b.table.as_ref().is_some_and(|t| t.labels.iter().any(|l| l == label));
    let at = if header.deferred { header.blocks.len().checked_sub(1) } else { header.blocks.iter().position(holds) };
    let Some(first) = at.and_then(|at| header.blocks[at].table.as_ref()) else {
        return Ok(FileRows::default());
    };
    let (wanted, columns) = present(&first.labels, &request.numbers);
    let key_col = request.key.as_ref().and_then(|k| first.labels.iter().position(|l| l == k));
    let scan_request =
        ScanRequest { number_cols: &columns, key_col, missing: request.missing.as_deref(), image_col: None };
    let mut scan = RowScan { numbers: vec![Vec::new(); columns.len()], ..Default::default() };
    let consume = |rows: &RowScan, _: &[Vec<u8>]| {
        scan.spans.extend_from_slice(&rows.spans);
        scan.keys.extend_from_slice(&rows.keys);
        for (all, piece) in scan.numbers.iter_mut().zip(&rows.numbers) {
            all.extend_from_slice(piece);
        }
    };
    let (blocks, key_names) = if header.deferred {
        star::index_scanning(data, wanted_loop, &scan_request, &keep_all, consume)
    } else {
        // The loop has no rows: the header's index is the whole index.
        star::scan_rows_streaming(data, first, &scan_request, &keep_all, consume).map(|names| (header.blocks, names))
    }
    .map_err(star_error)?;
    // (The header's blocks are the first blocks of the whole index.)
    let table = blocks[at.unwrap()].table.as_ref().expect("the loop found by the header is in the whole index");
    let n = scan.spans.len();
    Ok(FileRows {
        labels: Some(table.labels.clone()),
        header: data[..table.rows.start].to_vec(),
        footer: data[table.rows.end..].to_vec(),
        numbers: spread(scan.numbers, &wanted, request.numbers.len(), n),
        keys: scan.keys,
        key_names,
        spans: scan.spans,
    })
}

/// Which requested labels `labels` has: (position in the request, column) of each.
fn present(labels: &[String], requested: &[String]) -> (Vec<usize>, Vec<usize>) {
    requested.iter().enumerate().filter_map(|(j, r)| labels.iter().position(|l| l == r).map(|c| (j, c))).unzip()
}

/// Scanned columns put at their requested positions; absent ones NaN.
fn spread(scanned: Vec<Vec<f64>>, wanted: &[usize], n_requested: usize, n_rows: usize) -> Vec<Vec<f64>> {
    let mut out: Vec<Option<Vec<f64>>> = vec![None; n_requested];
    for (&j, column) in wanted.iter().zip(scanned) {
        out[j] = Some(column);
    }
    out.into_iter().map(|c| c.unwrap_or_else(|| vec![f64::NAN; n_rows])).collect()
}

/// A table's columns to parse, and its key column, as the line parsers use them.
struct Columns {
    /// For each table column, the requested number it feeds (usize::MAX: none).
    slot: Vec<usize>,
    key: Option<usize>,
    labels: Vec<String>,
}

impl Columns {
    fn new(labels: Vec<String>, request: &Request) -> Columns {
        let (wanted, columns) = present(&labels, &request.numbers);
        let mut slot = vec![usize::MAX; labels.len()];
        for (&j, &c) in wanted.iter().zip(&columns) {
            slot[c] = j;
        }
        let key = request.key.as_ref().and_then(|k| labels.iter().position(|l| l == k));
        Columns { slot, key, labels }
    }
}

/// Collects rows of a header-less or tab table into a [`FileRows`].
struct Collector<'a> {
    path: &'a Path,
    columns: Columns,
    missing: Option<&'a [u8]>,
    rows: FileRows,
    key_ids: HashMap<&'a [u8], u32>,
}

impl<'a> Collector<'a> {
    fn new(path: &'a Path, columns: Columns, request: &'a Request) -> Collector<'a> {
        let rows = FileRows { numbers: vec![Vec::new(); request.numbers.len()], ..Default::default() };
        Collector { path, columns, missing: request.missing.as_deref(), rows, key_ids: HashMap::new() }
    }

    fn error(&self, line: usize, message: String) -> PicksError {
        PicksError::Row { path: self.path.to_path_buf(), line, message }
    }

    /// One field `k` of a row on line `line`.
    fn field(&mut self, line: usize, k: usize, f: &'a [u8]) -> Result<(), PicksError> {
        let Some(&j) = self.columns.slot.get(k) else { return Ok(()) };
        if j != usize::MAX {
            let f = trim(f);
            let value = match parse_number(f) {
                Some(v) => v,
                None if Some(f) == self.missing => f64::NAN,
                None => {
                    let label = &self.columns.labels[k];
                    return Err(self.error(line, format!("column {label} holds {:?}, expected a number", text(f))));
                }
            };
            self.rows.numbers[j].push(value);
        }
        if Some(k) == self.columns.key {
            let fresh = self.key_ids.len() as u32;
            let id = *self.key_ids.entry(f).or_insert(fresh);
            if id == fresh {
                self.rows.key_names.push(f.to_vec());
            }
            self.rows.keys.push(id);
        }
        Ok(())
    }

    fn finish(mut self, header: Vec<u8>) -> FileRows {
        // A requested number the table does not hold reads as NaN, as in a STAR file.
        let n_rows = self.rows.spans.len();
        for (j, column) in self.rows.numbers.iter_mut().enumerate() {
            if !self.columns.slot.contains(&j) {
                *column = vec![f64::NAN; n_rows];
            }
        }
        self.rows.labels = Some(self.columns.labels);
        self.rows.header = header;
        self.rows
    }
}

fn read_tab<'a>(path: &'a Path, data: &'a [u8], request: &'a Request) -> Result<FileRows, PicksError> {
    let mut lines = Lines::any_ends(data);
    let Some((_, end, body)) = lines.next() else {
        return Ok(FileRows { labels: Some(Vec::new()), ..Default::default() });
    };
    let labels: Vec<String> = data[..end].split(|&b| b == b'\t').map(|f| text(trim(f))).collect();
    let ncols = labels.len();
    let mut rows = Collector::new(path, Columns::new(labels, request), request);
    let mut line_no = 1;
    for (start, end, next) in lines {
        line_no += 1;
        let line = &data[start..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if trim(line).is_empty() {
            continue;
        }
        let got = memchr_iter(b'\t', line).count() + 1;
        if got != ncols {
            return Err(rows.error(line_no, format!("{}, expected {ncols}", count_of(got, "tab-separated field"))));
        }
        for (k, f) in line.split(|&b| b == b'\t').enumerate() {
            rows.field(line_no, k, f)?;
        }
        rows.rows.spans.push((start as u64, next as u64));
    }
    Ok(rows.finish(data[..body].to_vec()))
}

fn read_whitespace<'a>(
    path: &'a Path,
    data: &'a [u8],
    names: &[String],
    request: &'a Request,
) -> Result<FileRows, PicksError> {
    let mut rows = Collector::new(path, Columns::new(names.to_vec(), request), request);
    for (line_no, (start, end, next)) in Lines::any_ends(data).enumerate() {
        let line = &data[start..end];
        let t = trim(line);
        if t.is_empty() || t.starts_with(b"#") {
            continue;
        }
        let mut fields: Vec<&[u8]> = Vec::with_capacity(8);
        let _ = for_each_field(line, |_, f| fields.push(f));
        if fields.len() < names.len() || fields.len() > names.len() + 1 {
            let expected = names.join(" ");
            let message =
                format!("expected {expected} (and at most one field more), found {}", count_of(fields.len(), "field"));
            return Err(rows.error(line_no + 1, message));
        }
        for (k, f) in fields.into_iter().enumerate() {
            rows.field(line_no + 1, k, f)?;
        }
        rows.rows.spans.push((start as u64, next as u64));
    }
    Ok(rows.finish(Vec::new()))
}

/// One output file: its path, and the bytes before and after its rows.
pub struct Output {
    pub path: PathBuf,
    pub header: Vec<u8>,
    pub footer: Vec<u8>,
}

/// Where rows lie in their source files: row `i` is bytes `starts[i]..ends[i]` of source
/// `first_file + files[i]`.
pub struct RowSpans<'a> {
    /// Added to every entry of `files`: an input's files numbered from 0 among its own, their
    /// sources placed after the previous inputs' (no shifted copy of millions of indices).
    pub first_file: u32,
    pub files: &'a [u32],
    pub starts: &'a [u64],
    pub ends: &'a [u64],
}

/// The spans of several inputs' rows taken as one list, in order (no concatenated copy).
struct SpanParts<'a> {
    parts: &'a [RowSpans<'a>],
    /// `firsts[p]`: the index of part `p`'s first row; one more entry for the end.
    firsts: Vec<usize>,
}

impl<'a> SpanParts<'a> {
    fn new(parts: &'a [RowSpans<'a>]) -> Self {
        let mut firsts = vec![0];
        for part in parts {
            firsts.push(firsts.last().unwrap() + part.files.len());
        }
        SpanParts { parts, firsts }
    }

    /// (source, start, end) of row `i`.
    #[inline]
    fn get(&self, i: usize) -> (u32, u64, u64) {
        let mut p = 0;
        while i >= self.firsts[p + 1] {
            p += 1;
        }
        let (part, k) = (&self.parts[p], i - self.firsts[p]);
        (part.first_file + part.files[k], part.starts[k], part.ends[k])
    }
}

/// Each row's output for [`write_outputs`] when the kept rows go to outputs `index[i]` and
/// the others to `n + index[i]` (rejected outputs after the kept), filled in parallel.
pub fn row_targets(keep: &[bool], index: &[u32], n: u32) -> Vec<u32> {
    assert_eq!(keep.len(), index.len());
    parallel::collect_in_parallel(keep.len(), |i| if keep[i] { index[i] } else { n.saturating_add(index[i]) })
}

/// What one written row is made of.
pub enum RowSource<'a> {
    /// Row `i` is the `i`-th span of `parts` taken in order, copied from `sources`; a row of
    /// source `f` has its fields put in the order `reorder[f]` where that is given (another
    /// file's column order; each field's text unchanged), `reorder` empty or shorter for none.
    Copy { sources: &'a [PathBuf], parts: &'a [RowSpans<'a>], reorder: &'a [Option<Vec<usize>>] },
    /// Row `i` is `values[i * width..(i + 1) * width]`, each as `{:12.6}`, space-separated.
    Numbers { values: &'a [f64], width: usize },
}

/// Writes each output: its header, the rows `i` with `target[i] == output index`, in order
/// (a row without a line terminator gets one), its footer; a row whose target is past the
/// last output is written nowhere. Outputs are written in parallel,
/// each with one `write` of its whole content.
///
/// Source files are read again here, a few at a time: the outputs that copy rows from the
/// same sources (a micrograph's kept and rejected files) are written together, holding only
/// their sources, so that any number of files can be written without hitting the process's
/// limits on open files and memory maps (Linux: 65530 maps).
pub fn write_outputs(outputs: &[Output], target: &[u32], rows: &RowSource) -> Result<(), PicksError> {
    let members = Members::of(outputs.len(), target);
    let tasks = match rows {
        RowSource::Copy { sources, parts, .. } => {
            tasks_sharing_sources(&members, &SpanParts::new(parts), sources.len())
        }
        RowSource::Numbers { .. } => (0..outputs.len()).map(|o| vec![o]).collect(),
    };
    tasks.par_iter().try_for_each_init(
        || (Vec::new(), SourceCache::default()),
        |(buffer, cache), task| {
            cache.clear();
            for &o in task {
                let output = &outputs[o];
                let io_error = |error| PicksError::Write { path: output.path.clone(), error };
                buffer.clear();
                buffer.extend_from_slice(&output.header);
                append_rows(buffer, members.of_output(o), rows, cache)?;
                buffer.extend_from_slice(&output.footer);
                File::create(&output.path).and_then(|mut f| f.write_all(buffer)).map_err(io_error)?;
            }
            Ok(())
        },
    )
}

/// The rows of each output, in order: one flat list cut by offsets (no vector per output).
struct Members {
    offsets: Vec<usize>,
    rows: Vec<u32>,
}

impl Members {
    fn of(n_outputs: usize, target: &[u32]) -> Members {
        let (rows, offsets) = parallel::order_by_key(target.len(), n_outputs, |i| target[i] as usize);
        Members { offsets, rows }
    }

    fn of_output(&self, o: usize) -> &[u32] {
        &self.rows[self.offsets[o]..self.offsets[o + 1]]
    }
}

/// Outputs grouped so that no source file is needed by two groups: the connected parts of
/// the graph linking outputs to their sources (union-find over sources). Outputs without
/// rows are groups of their own.
fn tasks_sharing_sources(members: &Members, spans: &SpanParts, n_sources: usize) -> Vec<Vec<usize>> {
    let mut parent: Vec<u32> = (0..n_sources as u32).collect();
    fn root(parent: &mut [u32], mut s: u32) -> u32 {
        while parent[s as usize] != s {
            parent[s as usize] = parent[parent[s as usize] as usize];
            s = parent[s as usize];
        }
        s
    }
    let n_outputs = members.offsets.len() - 1;
    // Each output's sources, found in parallel (millions of rows; a row's source is mostly
    // the previous row's), then joined one after another.
    let sources_of: Vec<Vec<u32>> = (0..n_outputs)
        .into_par_iter()
        .map(|o| {
            let mut sources: Vec<u32> = Vec::new();
            for &i in members.of_output(o) {
                let f = spans.get(i as usize).0;
                if sources.last() != Some(&f) {
                    sources.push(f);
                }
            }
            sources
        })
        .collect();
    for sources in &sources_of {
        for pair in sources.windows(2) {
            let (a, b) = (root(&mut parent, pair[0]), root(&mut parent, pair[1]));
            parent[a as usize] = b;
        }
    }
    let mut task_of_root: HashMap<u32, usize> = HashMap::new();
    let mut tasks: Vec<Vec<usize>> = Vec::new();
    for (o, sources) in sources_of.iter().enumerate() {
        match sources.first() {
            None => tasks.push(vec![o]),
            Some(&f) => {
                let r = root(&mut parent, f);
                let t = *task_of_root.entry(r).or_insert_with(|| {
                    tasks.push(Vec::new());
                    tasks.len() - 1
                });
                tasks[t].push(o);
            }
        }
    }
    tasks
}

/// Source files held while one group of outputs is written, at most [`SOURCES_HELD`] at a
/// time (least recently used dropped first). Small files are read into reused buffers;
/// large ones mapped.
#[derive(Default)]
struct SourceCache {
    held: Vec<(u32, Source)>,
    spare: Vec<Vec<u8>>,
}

enum Source {
    Read(Vec<u8>),
    Mapped(Mmap),
}

impl Source {
    fn bytes(&self) -> &[u8] {
        match self {
            Source::Read(data) => data,
            Source::Mapped(map) => map,
        }
    }
}

/// Source files held at once by one writing thread.
const SOURCES_HELD: usize = 16;

impl SourceCache {
    fn clear(&mut self) {
        while let Some((_, source)) = self.held.pop() {
            self.recycle(source);
        }
    }

    fn recycle(&mut self, source: Source) {
        if let Source::Read(data) = source {
            self.spare.push(data);
        }
    }

    /// The bytes of source `f` (`path`), read or mapped on first use.
    fn get(&mut self, f: u32, path: &Path) -> Result<&[u8], PicksError> {
        if self.held.last().is_some_and(|(held, _)| *held == f) {
            // The row's file is the previous row's: the usual case, rows come file by file.
        } else if let Some(k) = self.held.iter().position(|(held, _)| *held == f) {
            let entry = self.held.remove(k);
            self.held.push(entry); // most recently used last
        } else {
            if self.held.len() == SOURCES_HELD {
                let (_, old) = self.held.remove(0);
                self.recycle(old);
            }
            let buffer = self.spare.pop().unwrap_or_default();
            let source =
                load_source(path, buffer).map_err(|error| PicksError::Io { path: path.to_path_buf(), error })?;
            self.held.push((f, source));
        }
        Ok(self.held.last().map(|(_, s)| s.bytes()).unwrap_or(&[]))
    }
}

/// `path` opened for reading if it is a regular file; a FIFO, a device or a socket is refused.
///
/// Opening a FIFO for reading waits for a writer, and reading one or a device may never end:
/// the file is opened without waiting (`O_NONBLOCK`, which regular files ignore) and its kind
/// checked on the open file, so that nothing can swap it in between. Returns its length too,
/// from the same `statx` (a second one per file was 2 system calls more per picker file than
/// before the restructure, counted with strace).
fn open_regular(path: &Path) -> io::Result<(File, u64)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let metadata = file.metadata()?;
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok((file, metadata.len()));
    }
    Err(io::Error::new(io::ErrorKind::InvalidInput, format!("is {}, expected a regular file", kind_name(kind))))
}

/// What a file that is not a regular file is, for messages.
fn kind_name(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// A source file's bytes: read into `buffer` (one `read` for a file that does not change),
/// or mapped from [`MAP_FROM_BYTES`] on.
fn load_source(path: &Path, mut buffer: Vec<u8>) -> io::Result<Source> {
    let (mut file, len) = open_regular(path)?;
    if len >= MAP_FROM_BYTES {
        // SAFETY: inputs are only read; cryodedup never writes to them.
        return Ok(Source::Mapped(unsafe { Mmap::map(&file) }?));
    }
    buffer.clear();
    buffer.resize(len as usize, 0);
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break, // shortened since: the row spans below say so
            n => filled += n,
        }
    }
    buffer.truncate(filled);
    Ok(Source::Read(buffer))
}

fn append_rows(
    out: &mut Vec<u8>,
    members: &[u32],
    rows: &RowSource,
    cache: &mut SourceCache,
) -> Result<(), PicksError> {
    match rows {
        RowSource::Copy { sources, parts, reorder } => {
            let spans = SpanParts::new(parts);
            let mut fields = RowFields::default();
            for &i in members {
                let (file, start, end) = spans.get(i as usize);
                let path = &sources[file as usize];
                let data = cache.get(file, path)?;
                let row = data.get(start as usize..end as usize).ok_or_else(|| PicksError::Io {
                    path: path.clone(),
                    error: io::Error::new(io::ErrorKind::InvalidInput, "a row span lies outside its source file"),
                })?;
                if let Some(Some(columns)) = reorder.get(file as usize) {
                    write_row_reordered(row, columns, &mut fields, out).map_err(|error| PicksError::Io {
                        path: path.clone(),
                        error: io::Error::new(error.kind(), format!("{error} (reordering its columns)")),
                    })?;
                    continue;
                }
                out.extend_from_slice(row);
                if row.last() != Some(&b'\n') {
                    out.push(b'\n');
                }
            }
        }
        RowSource::Numbers { values, width } => {
            for &i in members {
                let i = i as usize;
                for (k, &v) in values[i * width..(i + 1) * width].iter().enumerate() {
                    if k > 0 {
                        out.push(b' ');
                    }
                    push_fixed6(out, v);
                }
                out.push(b'\n');
            }
        }
    }
    Ok(())
}

/// Appends `v` as `%12.6f` does (right-aligned in 12 characters, 6 decimals). Numbers
/// below 1e12 are written from `round(|v| * 1e6)` as an integer, several times faster than
/// `format!` (the last digit may differ from exact decimal rounding when `|v| * 1e6` lies
/// within one rounding error of a half); others, NaN and infinities go through `format!`.
fn push_fixed6(line: &mut Vec<u8>, v: f64) {
    let scaled = (v.abs() * 1e6).round();
    if scaled.is_nan() || scaled >= 1e18 {
        let text = if v.is_nan() {
            "nan".to_string()
        } else if v.is_infinite() {
            format!("{}inf", if v < 0.0 { "-" } else { "" })
        } else {
            format!("{v:.6}")
        };
        line.extend_from_slice(format!("{text:>12}").as_bytes());
        return;
    }
    let micro = scaled as u64;
    let mut digits = [0u8; 24];
    let mut n = 0;
    let mut rest = micro;
    while n < 8 || rest > 0 {
        digits[n] = b'0' + (rest % 10) as u8;
        rest /= 10;
        n += 1;
        if n == 6 {
            digits[n] = b'.';
            n += 1;
        }
    }
    if v.is_sign_negative() {
        digits[n] = b'-';
        n += 1;
    }
    line.extend(std::iter::repeat_n(b' ', 12usize.saturating_sub(n)));
    line.extend(digits[..n].iter().rev());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(layout: Layout, numbers: &[&str], key: Option<&str>, missing: Option<&str>) -> Request {
        Request {
            layout,
            numbers: numbers.iter().map(ToString::to_string).collect(),
            key: key.map(str::to_string),
            missing: missing.map(|m| m.as_bytes().to_vec()),
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let folder = std::env::temp_dir().join(format!("cryodedup-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let fifo = folder.join("m1.box");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let req = request(Layout::Whitespace { names: vec!["x".into(), "y".into()] }, &["x"], None, None);
        let error = read_files(std::slice::from_ref(&fifo), &req).unwrap_err().to_string();
        std::fs::remove_dir_all(&folder).unwrap();
        assert!(
            error.contains("m1.box") && error.contains("is a named pipe (FIFO), expected a regular file"),
            "{error}"
        );
    }

    #[test]
    fn box_rows_end_in_lf_crlf_or_a_lone_cr() {
        let req = request(Layout::Whitespace { names: vec!["x".into(), "y".into()] }, &["x", "y"], None, None);
        for data in [&b"1 2\n3 4\n5 6\n"[..], b"1 2\r\n3 4\r\n5 6\r\n", b"1 2\r3 4\r5 6\r", b"1 2\r3 4\n5 6"] {
            let rows = read_bytes(Path::new("m.box"), data, &req).unwrap();
            assert_eq!(rows.numbers[0], vec![1.0, 3.0, 5.0], "{data:?}");
            assert_eq!(rows.numbers[1], vec![2.0, 4.0, 6.0], "{data:?}");
            let ends = rows.spans.iter().map(|s| s.1 as usize).collect::<Vec<_>>();
            assert_eq!(*ends.last().unwrap(), data.len());
        }
        // One field more is EMAN1's fifth column; two more is not a row of this format.
        assert!(read_bytes(Path::new("m.box"), b"1 2 -3\n", &req).is_ok());
        let error = read_bytes(Path::new("m.box"), b"1 2\n3 4 5 6\n", &req).unwrap_err().to_string();
        assert!(error.contains("line 2") && error.contains("found 4 fields"), "{error}");
    }

    #[test]
    fn star_loop_with_missing_values() {
        let data = b"\ndata_global\n\n_version 1\n\ndata_cryolo\n\nloop_\n_CoordinateX #1\n_CoordinateY #2\n_Confidence #3\n10 20 0.5\n11 21 <NA>\n\n";
        let req = request(
            Layout::Star { label: "CoordinateX".into() },
            &["CoordinateY", "Width", "Confidence"],
            None,
            Some("<NA>"),
        );
        let rows = read_bytes(Path::new("a.cbox"), data, &req).unwrap();
        assert_eq!(rows.labels.unwrap(), vec!["CoordinateX", "CoordinateY", "Confidence"]);
        assert_eq!(rows.numbers[0], vec![20.0, 21.0]);
        assert!(rows.numbers[1].iter().all(|v| v.is_nan()));
        assert_eq!(rows.numbers[2][0], 0.5);
        assert!(rows.numbers[2][1].is_nan());
        let text = std::str::from_utf8(data).unwrap();
        let first = text.find("10 20").unwrap() as u64;
        assert_eq!(rows.spans, vec![(first, first + 10), (first + 10, first + 21)]);
        assert!(rows.header.ends_with(b"_Confidence #3\n"));
        assert_eq!(rows.footer, b"\n");
        let no_na = request(Layout::Star { label: "CoordinateX".into() }, &["Confidence"], None, None);
        let err = read_bytes(Path::new("a.cbox"), data, &no_na).unwrap_err();
        assert_eq!(err.to_string(), "a.cbox: line 13: column Confidence holds \"<NA>\", expected a number");
    }

    #[test]
    fn star_loop_found_by_label_among_blocks_and_read_in_one_pass() {
        // A loop without the label first; comments among and after the rows; a block after
        // the loop (the footer); then the same loop with no rows, and a syntax error after it.
        let data =
            "data_optics\nloop_\n_rlnCoordinateX_not #1\n5\n\ndata_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n\
                    1.5 2.5\n# among\n3 4\n# after\n\ndata_more\n_rlnX 1\n";
        let req = request(Layout::Star { label: "rlnCoordinateX".into() }, &["rlnCoordinateY"], None, None);
        let rows = read_bytes(Path::new("p.star"), data.as_bytes(), &req).unwrap();
        assert_eq!(rows.labels.unwrap(), vec!["rlnCoordinateX", "rlnCoordinateY"]);
        assert_eq!(rows.numbers, vec![vec![2.5, 4.0]]);
        let (first, second) = (data.find("1.5 2.5").unwrap() as u64, data.find("3 4").unwrap() as u64);
        assert_eq!(rows.spans, vec![(first, first + 8), (second, second + 4)]);
        assert_eq!(rows.header, &data.as_bytes()[..first as usize]);
        assert_eq!(rows.footer, b"# after\n\ndata_more\n_rlnX 1\n");

        let empty = "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n\ndata_x\n";
        let rows = read_bytes(Path::new("e.star"), empty.as_bytes(), &req).unwrap();
        assert_eq!(rows.labels.unwrap(), vec!["rlnCoordinateX", "rlnCoordinateY"]);
        assert!(rows.spans.is_empty() && rows.numbers == vec![Vec::<f64>::new()]);
        assert_eq!(rows.header, b"data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n");

        let broken = "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n1 2\n\nnot star\n";
        let err = read_bytes(Path::new("b.star"), broken.as_bytes(), &req).unwrap_err();
        assert_eq!(
            err.to_string(),
            "b.star: line 7: unexpected text \"not star\" (expected data_, loop_, a _label or a comment)"
        );
    }

    #[test]
    fn star_without_the_label_is_not_found() {
        let req = request(Layout::Star { label: "rlnCoordinateX".into() }, &[], None, None);
        let rows = read_bytes(Path::new("x.star"), b"data_\nloop_\n_a\n1\n", &req).unwrap();
        assert!(rows.labels.is_none());
    }

    #[test]
    fn tab_table_keys_and_errors() {
        let data = b"image_name\tx_coord\ty_coord\tscore\nm1\t1\t2\t-0.5\r\nm2\t3\t4\t1\n\nm1\t5\t6\t2\n";
        let req = request(Layout::Tab, &["x_coord", "y_coord", "score"], Some("image_name"), None);
        let rows = read_bytes(Path::new("t.txt"), data, &req).unwrap();
        assert_eq!(rows.numbers, vec![vec![1.0, 3.0, 5.0], vec![2.0, 4.0, 6.0], vec![-0.5, 1.0, 2.0]]);
        assert_eq!(rows.keys, vec![0, 1, 0]);
        assert_eq!(rows.header, b"image_name\tx_coord\ty_coord\tscore\n");
        let err = read_bytes(Path::new("t.txt"), b"a\tb\n1\t2\n3\n", &req).unwrap_err();
        assert_eq!(err.to_string(), "t.txt: line 3: 1 tab-separated field, expected 2");
        // A table without the score: NaN for each row (not zero), as for a STAR file.
        let rows = read_bytes(Path::new("t.txt"), b"image_name\tx_coord\ty_coord\nm1\t1\t2\n", &req).unwrap();
        assert_eq!(rows.numbers[..2], [vec![1.0], vec![2.0]]);
        assert!(rows.numbers[2].len() == 1 && rows.numbers[2][0].is_nan());
    }

    #[test]
    fn whitespace_rows_skip_comments_and_count_fields() {
        let names: Vec<String> = ["x", "y", "w", "h"].iter().map(ToString::to_string).collect();
        let req = request(Layout::Whitespace { names: names.clone() }, &["x", "h"], None, None);
        let rows = read_bytes(Path::new("m.box"), b"# c\n1 2 3 4 -3\n\n5\t6\t7\t8", &req).unwrap();
        assert_eq!(rows.numbers, vec![vec![1.0, 5.0], vec![4.0, 8.0]]);
        assert_eq!(rows.spans, vec![(4, 15), (16, 23)]);
        let err = read_bytes(Path::new("m.box"), b"1 2\n", &req).unwrap_err();
        assert_eq!(err.to_string(), "m.box: line 1: expected x y w h (and at most one field more), found 2 fields");
    }

    #[test]
    fn flat_rows_interleave_the_numbers_of_every_file() {
        // File a: rows (1, 2) and (3, 4); file b: one row (5, NaN: it lacks the second label).
        let req = request(Layout::Star { label: "x".into() }, &["x", "y"], None, None);
        let a = read_bytes(Path::new("a"), b"data_\nloop_\n_x\n_y\n1 2\n3 4\n", &req).unwrap();
        let b = read_bytes(Path::new("b"), b"data_\nloop_\n_x\n5\n", &req).unwrap();
        let mut flat = FlatRows::default();
        flat.append(&[a], 2);
        flat.append(&[b], 2);
        assert_eq!(flat.numbers[..5], [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(flat.numbers[5].is_nan());
        // Spans by hand: "data_\nloop_\n_x\n_y\n" is 18 bytes, each row 4; b's header 15.
        assert_eq!(flat.starts, vec![18, 22, 15]);
        assert_eq!(flat.ends, vec![22, 26, 17]);
        assert!(flat.keys.is_empty());
    }

    #[test]
    fn outputs_are_grouped_by_the_sources_they_share() {
        // Outputs 0 and 2 copy from sources 0 and 1, output 1 from source 2, output 3 nothing.
        let members = Members::of(4, &[0, 2, 1, 0, u32::MAX, 2]);
        assert_eq!(members.of_output(0), &[0, 3]);
        assert_eq!(members.of_output(2), &[1, 5]);
        let files = [0, 1, 2, 1, 2, 0];
        let spans = [RowSpans { first_file: 0, files: &files, starts: &[0; 6], ends: &[0; 6] }];
        assert_eq!(tasks_sharing_sources(&members, &SpanParts::new(&spans), 3), vec![vec![0, 2], vec![1], vec![3]]);
    }

    #[test]
    fn one_output_from_more_sources_than_are_held_at_once() {
        let dir = std::env::temp_dir().join(format!("cryodedup-held-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let n = SOURCES_HELD + 5;
        let sources: Vec<PathBuf> = (0..n).map(|k| dir.join(format!("s{k}.txt"))).collect();
        for (k, path) in sources.iter().enumerate() {
            std::fs::write(path, format!("a{k}\nb{k}\n")).unwrap();
        }
        // Rows a0, a1, ..., then b0, b1, ...: every source is dropped and read again.
        let files: Vec<u32> = (0..2 * n).map(|i| (i % n) as u32).collect();
        let starts: Vec<u64> =
            (0..2 * n).map(|i| if i < n { 0 } else { 2 + (i % n).to_string().len() as u64 }).collect();
        let ends: Vec<u64> = (0..2 * n).map(|i| starts[i] + 2 + (i % n).to_string().len() as u64).collect();
        let out = dir.join("out.txt");
        let outputs = [Output { path: out.clone(), header: Vec::new(), footer: Vec::new() }];
        let parts = [RowSpans { first_file: 0, files: &files, starts: &starts, ends: &ends }];
        let rows = RowSource::Copy { sources: &sources, parts: &parts, reorder: &[] };
        write_outputs(&outputs, &vec![0; 2 * n], &rows).unwrap();
        let expected: String = (0..n).map(|k| format!("a{k}\n")).chain((0..n).map(|k| format!("b{k}\n"))).collect();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rows_of_a_source_in_another_column_order_are_reordered_field_by_field() {
        // Source b holds the columns of a in the order (x, z, y): its rows are written as x y z,
        // each field's text and the space before it unchanged; a's rows stay byte copies.
        let dir = std::env::temp_dir().join(format!("cryodedup-reorder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.star"), dir.join("b.star"));
        std::fs::write(&a, "  1.000000   2.000000 3\n").unwrap();
        std::fs::write(&b, "  4.500000 6   5.250000 \n7 9 8").unwrap();
        let out = dir.join("out.star");
        let outputs = [Output { path: out.clone(), header: Vec::new(), footer: Vec::new() }];
        let sources = [a, b];
        let parts = [RowSpans { first_file: 0, files: &[0, 1, 1], starts: &[0, 0, 25], ends: &[24, 25, 30] }];
        let reorder = [None, Some(vec![0, 2, 1])];
        let rows = RowSource::Copy { sources: &sources, parts: &parts, reorder: &reorder };
        write_outputs(&outputs, &[0, 0, 0], &rows).unwrap();
        let expected = "  1.000000   2.000000 3\n  4.500000   5.250000 6\n7 8 9\n"; // (trailing space dropped)
        assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keys_are_shared_across_files_and_rows_written_back() {
        let dir = std::env::temp_dir().join(format!("cryodedup-picks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.txt"), dir.join("b.txt"));
        std::fs::write(&a, "image_name\tx\nm2\t1\nm1\t2\n").unwrap();
        std::fs::write(&b, "image_name\tx\nm1\t3\nm3\t4").unwrap();
        let req = request(Layout::Tab, &["x"], Some("image_name"), None);
        let tables = read_files(&[a.clone(), b.clone()], &req).unwrap();
        assert_eq!(tables.key_names, vec![b"m2".to_vec(), b"m1".to_vec(), b"m3".to_vec()]);
        assert_eq!(tables.rows.keys, vec![0, 1, 1, 2]);
        assert_eq!(tables.files.iter().map(|f| f.n_rows).collect::<Vec<_>>(), vec![2, 2]);
        let out = dir.join("out.txt");
        let outputs = [Output { path: out.clone(), header: b"H\n".to_vec(), footer: b"F\n".to_vec() }];
        let (starts, ends) = (&tables.rows.starts, &tables.rows.ends);
        let sources = [a, b];
        let parts = [RowSpans { first_file: 0, files: &[0, 0, 1, 1], starts, ends }];
        let rows = RowSource::Copy { sources: &sources, parts: &parts, reorder: &[] };
        write_outputs(&outputs, &[0, 9, 0, 0], &rows).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "H\nm2\t1\nm1\t3\nm3\t4\nF\n");
        // The same rows given as two parts (two inputs' spans, not concatenated; the second
        // input's files numbered from 0 among its own).
        let parts = [
            RowSpans { first_file: 0, files: &[0, 0], starts: &starts[..2], ends: &ends[..2] },
            RowSpans { first_file: 1, files: &[0, 0], starts: &starts[2..], ends: &ends[2..] },
        ];
        let rows = RowSource::Copy { sources: &sources, parts: &parts, reorder: &[] };
        write_outputs(&outputs, &[0, 9, 0, 0], &rows).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "H\nm2\t1\nm1\t3\nm3\t4\nF\n");
        let rows = RowSource::Numbers { values: &[1.5, f64::NAN, 2.0, 3.0], width: 2 };
        write_outputs(&outputs, &[0, 0], &rows).unwrap();
        let expected = "H\n    1.500000          nan\n    2.000000     3.000000\nF\n";
        assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
        for (v, text) in [
            (0.0, "    0.000000"),
            (-0.25, "   -0.250000"),
            (1234.5678914, " 1234.567891"),
            (-0.0000004, "   -0.000000"),
            (123456789.125, "123456789.125000"),
            (1e20, "100000000000000000000.000000"),
            (f64::NEG_INFINITY, "        -inf"),
        ] {
            let mut line = Vec::new();
            push_fixed6(&mut line, v);
            assert_eq!(String::from_utf8(line).unwrap(), text, "{v}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
