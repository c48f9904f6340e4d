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
//!
//! The module's rooms: [`parse`] (a file's rows parsed), [`write`] (rows copied out again)
//! and [`sources`] (the files they are copied from, held a few at a time).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::errors::PicksError;
use crate::parallel::extend_in_parallel;

mod parse;
mod sources;
#[cfg(test)]
mod tests;
mod write;

use parse::{read_star, read_tab, read_whitespace};
use sources::{load_source, Source};
pub use write::{row_targets, write_outputs, Output, RowSource, RowSpans};

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

/// Reads one file's bytes (`path` names it in errors).
pub fn read_bytes(path: &Path, data: &[u8], request: &Request) -> Result<FileRows, PicksError> {
    match &request.layout {
        Layout::Star { label } => read_star(path, data, label, request),
        Layout::Tab => read_tab(path, data, request),
        Layout::Whitespace { names } => read_whitespace(path, data, names, request),
    }
}
