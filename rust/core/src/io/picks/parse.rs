//! A picker file's rows parsed: a STAR loop, a tab-separated table, or whitespace-separated rows.

use std::collections::HashMap;
use std::path::Path;

use memchr::memchr_iter;

use super::{count_of, FileRows, Request};
use crate::errors::PicksError;
use crate::io::star::{self, for_each_field, keep_all, parse_number, text, trim, Lines, LoopOf, RowScan, ScanRequest};

/// One pass over a small file: the index stops at the first row of the loop holding `label`,
/// the scan reads its rows and finds where they end, and the index resumes there (a
/// picker's files are many and small: walking each line once, not once to index and once
/// to scan, is a fifth of reading them).
pub(super) fn read_star(path: &Path, data: &[u8], label: &str, request: &Request) -> Result<FileRows, PicksError> {
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
pub(super) fn present(labels: &[String], requested: &[String]) -> (Vec<usize>, Vec<usize>) {
    requested.iter().enumerate().filter_map(|(j, r)| labels.iter().position(|l| l == r).map(|c| (j, c))).unzip()
}

/// Scanned columns put at their requested positions; absent ones NaN.
pub(super) fn spread(scanned: Vec<Vec<f64>>, wanted: &[usize], n_requested: usize, n_rows: usize) -> Vec<Vec<f64>> {
    let mut out: Vec<Option<Vec<f64>>> = vec![None; n_requested];
    for (&j, column) in wanted.iter().zip(scanned) {
        out[j] = Some(column);
    }
    out.into_iter().map(|c| c.unwrap_or_else(|| vec![f64::NAN; n_rows])).collect()
}

/// A table's columns to parse, and its key column, as the line parsers use them.
pub(super) struct Columns {
    /// For each table column, the requested number it feeds (usize::MAX: none).
    pub(super) slot: Vec<usize>,
    pub(super) key: Option<usize>,
    pub(super) labels: Vec<String>,
}

impl Columns {
    pub(super) fn new(labels: Vec<String>, request: &Request) -> Columns {
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
pub(super) struct Collector<'a> {
    pub(super) path: &'a Path,
    pub(super) columns: Columns,
    pub(super) missing: Option<&'a [u8]>,
    pub(super) rows: FileRows,
    pub(super) key_ids: HashMap<&'a [u8], u32>,
}

impl<'a> Collector<'a> {
    pub(super) fn new(path: &'a Path, columns: Columns, request: &'a Request) -> Collector<'a> {
        let rows = FileRows { numbers: vec![Vec::new(); request.numbers.len()], ..Default::default() };
        Collector { path, columns, missing: request.missing.as_deref(), rows, key_ids: HashMap::new() }
    }

    pub(super) fn error(&self, line: usize, message: String) -> PicksError {
        PicksError::Row { path: self.path.to_path_buf(), line, message }
    }

    /// One field `k` of a row on line `line`.
    pub(super) fn field(&mut self, line: usize, k: usize, f: &'a [u8]) -> Result<(), PicksError> {
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

    pub(super) fn finish(mut self, header: Vec<u8>) -> FileRows {
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

pub(super) fn read_tab<'a>(path: &'a Path, data: &'a [u8], request: &'a Request) -> Result<FileRows, PicksError> {
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

pub(super) fn read_whitespace<'a>(
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
