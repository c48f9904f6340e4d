//! Scans of a loop's rows: the field count of every row checked, only the requested columns
//! parsed, keys mapped to ids; in parallel, whole or one window at a time.

use std::collections::HashMap;
use std::ops::Range;

use memchr::memchr;
use rayon::prelude::*;

use super::fields::for_each_field_within;
use super::numbers::parse_number;
use super::{
    ends_rows, excerpt, find_binary, for_each_field, is_comment, keep_all, trim, Lines, Release, Table, PIECE, WINDOW,
};
use crate::errors::StarError;
use crate::images::ImageRows;

/// What a loop scan returns: one entry per row.
#[derive(Debug, Default)]
pub struct RowScan {
    /// Byte range of each row's line, terminator included.
    pub spans: Vec<(u64, u64)>,
    /// One vector per requested number column.
    pub numbers: Vec<Vec<f64>>,
    /// Per row, the index into `key_names` of its key column (if one was requested).
    pub keys: Vec<u32>,
    /// Distinct key values in order of first appearance.
    pub key_names: Vec<Vec<u8>>,
    /// Each row's image index and the runs of its image column, if one was requested.
    pub images: ImageRows,
}

pub(super) struct ChunkScan {
    scan: RowScan,
    error: Option<(usize, StarError)>,
    extent: Extent,
}

/// Where a loop's rows end, as far as a scan that looks for the end has seen: what the
/// indexer would have found walking the same lines (offsets absolute once combined).
#[derive(Clone, Copy, Debug, Default)]
pub struct Extent {
    /// The start of the first line that ends the loop, if met.
    pub stop: Option<usize>,
    /// Lines walked before the stop.
    pub lines: usize,
    /// The end of the last row's line (terminator included), if a row was met.
    pub last_row_end: Option<usize>,
    /// Comment lines before the last row met (they count as the loop's).
    pub comments_among_rows: usize,
    /// Comment lines after it (the loop's only if a row follows).
    pub comments_after: usize,
}

impl Extent {
    /// This extent followed by `next`, the extent of the lines after it.
    pub(super) fn then(self, next: Extent) -> Extent {
        let (last_row_end, comments_among_rows, comments_after) = match next.last_row_end {
            Some(end) => (
                Some(end),
                self.comments_among_rows + self.comments_after + next.comments_among_rows,
                next.comments_after,
            ),
            None => (self.last_row_end, self.comments_among_rows, self.comments_after + next.comments_after),
        };
        Extent { stop: next.stop, lines: self.lines + next.lines, last_row_end, comments_among_rows, comments_after }
    }

    /// The extent with its offsets moved by `base`.
    fn shifted(self, base: usize) -> Extent {
        Extent { stop: self.stop.map(|s| s + base), last_row_end: self.last_row_end.map(|e| e + base), ..self }
    }
}

/// Scans the rows of `table`: checks every row's field count, parses the columns
/// `number_cols` as f64 and maps the column `key_col` to dense ids. Runs in parallel.
pub fn scan_rows(
    data: &[u8],
    table: &Table,
    number_cols: &[usize],
    key_col: Option<usize>,
) -> Result<RowScan, StarError> {
    scan_rows_with_missing(data, table, number_cols, key_col, None)
}

/// `scan_rows` where a number field equal to `missing` (crYOLO's `<NA>`) reads as NaN.
pub fn scan_rows_with_missing(
    data: &[u8],
    table: &Table,
    number_cols: &[usize],
    key_col: Option<usize>,
    missing: Option<&[u8]>,
) -> Result<RowScan, StarError> {
    let mut out = RowScan { numbers: vec![Vec::new(); number_cols.len()], ..Default::default() };
    let request = ScanRequest { number_cols, key_col, missing, image_col: None };
    out.key_names = scan_rows_streaming(data, table, &request, &keep_all, |rows, _| {
        out.spans.extend_from_slice(&rows.spans);
        out.keys.extend_from_slice(&rows.keys);
        for (dst, src) in out.numbers.iter_mut().zip(&rows.numbers) {
            dst.extend_from_slice(src);
        }
    })?;
    Ok(out)
}

/// The columns a streaming scan reads.
#[derive(Clone, Copy)]
pub struct ScanRequest<'a> {
    /// Columns parsed as f64.
    pub number_cols: &'a [usize],
    /// A text column mapped to dense ids (micrograph names).
    pub key_col: Option<usize>,
    /// A field text that reads as NaN in a number column (crYOLO's `<NA>`).
    pub missing: Option<&'a [u8]>,
    /// A column of RELION image names (`index@stack`) keyed as images (crate::images).
    pub image_col: Option<usize>,
}

/// Scans the rows of `table` one [`WINDOW`] at a time (rows of a window in parallel) and
/// hands each piece of rows to `consume` in file order, with the key texts by id so far,
/// then releases the window. Key ids are global (shared by all pieces); returns the
/// distinct key texts by id. Memory: the
/// pieces of one window, plus one entry per distinct key.
pub fn scan_rows_streaming(
    data: &[u8],
    table: &Table,
    request: &ScanRequest,
    release: Release,
    mut consume: impl FnMut(&RowScan, &[Vec<u8>]),
) -> Result<Vec<Vec<u8>>, StarError> {
    let mut stream = RowStream::new(request);
    for window in chunk_at_lines(&data[table.rows.clone()], WINDOW) {
        let window = table.rows.start + window.start..table.rows.start + window.end;
        stream.feed(data, table, window.clone(), false, &mut consume)?;
        release(window);
    }
    Ok(stream.key_names)
}

/// A scan of a loop's rows fed one byte range at a time, in file order: the ranges need not
/// be known in advance (a loop scanned while the file is being indexed).
pub struct RowStream<'a> {
    request: &'a ScanRequest<'a>,
    global: HashMap<Vec<u8>, u32>,
    /// Distinct key texts by id, in order of first appearance.
    pub key_names: Vec<Vec<u8>>,
}

impl<'a> RowStream<'a> {
    pub fn new(request: &'a ScanRequest<'a>) -> Self {
        RowStream { request, global: HashMap::new(), key_names: Vec::new() }
    }

    /// Scans the whole lines `range` (byte offsets in `data`, within `table.rows`) in
    /// parallel pieces, handing each piece to `consume` in order. With `find_end`, the scan
    /// also looks for the line that ends the loop (`table.rows` then runs to the end of the
    /// data) and stops there; the returned extent says where it is.
    pub fn feed(
        &mut self,
        data: &[u8],
        table: &Table,
        range: Range<usize>,
        find_end: bool,
        consume: &mut impl FnMut(&RowScan, &[Vec<u8>]),
    ) -> Result<Extent, StarError> {
        let rows = &data[table.rows.clone()];
        let local = range.start - table.rows.start..range.end - table.rows.start;
        let pieces: Vec<Range<usize>> = chunk_at_lines(&rows[local.clone()], PIECE)
            .into_iter()
            .map(|r| r.start + local.start..r.end + local.start)
            .collect();
        let request = self.request;
        let results: Vec<ChunkScan> =
            pieces.par_iter().map(|r| scan_chunk(rows, r.clone(), table, request, find_end)).collect();
        let mut extent = Extent::default();
        // In file order: a piece after the loop's end (its rows, its errors) is not the loop's.
        for mut chunk in results {
            if let Some((offset, err)) = chunk.error.take() {
                return Err(locate_error(rows, table, offset, err));
            }
            let remap: Vec<u32> = std::mem::take(&mut chunk.scan.key_names)
                .into_iter()
                .map(|name| {
                    let fresh = self.global.len() as u32;
                    let key_names = &mut self.key_names;
                    *self.global.entry(name).or_insert_with_key(|name| {
                        key_names.push(name.clone());
                        fresh
                    })
                })
                .collect();
            for k in chunk.scan.keys.iter_mut() {
                *k = remap[*k as usize];
            }
            let base = table.rows.start as u64;
            for span in chunk.scan.spans.iter_mut() {
                *span = (span.0 + base, span.1 + base);
            }
            consume(&chunk.scan, &self.key_names);
            extent = extent.then(chunk.extent.shifted(table.rows.start));
            if extent.stop.is_some() {
                break;
            }
        }
        Ok(extent)
    }
}

/// The error of a row at `offset` in `rows`, with its line number (counted from the
/// loop's start: only on the error path) or as binary content.
pub(super) fn locate_error(rows: &[u8], table: &Table, offset: usize, mut err: StarError) -> StarError {
    let line = table.first_row_line + memchr::memchr_iter(b'\n', &rows[..offset]).count();
    let end = memchr(b'\n', &rows[offset..]).map_or(rows.len(), |k| offset + k);
    if let Some(k) = find_binary(&rows[offset..end]) {
        return StarError::Binary { offset: table.rows.start + offset + k };
    }
    match &mut err {
        StarError::FieldCount { line: l, .. }
        | StarError::NotANumber { line: l, .. }
        | StarError::Unterminated { line: l }
        | StarError::Unexpected { line: l, .. } => *l = line,
        StarError::Binary { .. } => {}
    }
    err
}

/// Splits `data` into ranges of about `size` bytes that end at line ends.
pub(super) fn chunk_at_lines(data: &[u8], size: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < data.len() {
        let mut end = (start + size).min(data.len());
        if end < data.len() {
            end = memchr(b'\n', &data[end..]).map_or(data.len(), |k| end + k + 1);
        }
        out.push(start..end);
        start = end;
    }
    out
}

/// In a column's slot of [`scan_chunk`]: it is the key column, the image column; the bits
/// below them hold the number it feeds (plus 1).
const KEY_COLUMN: usize = 1 << (usize::BITS - 1);
const IMAGE_COLUMN: usize = 1 << (usize::BITS - 2);
const NUMBER_SLOT: usize = IMAGE_COLUMN - 1;

/// Scans the rows of `rows[range]`. With `find_end`, stops at the first line that ends the
/// loop (a blank line, a new block, loop or label: the indexer's rule) and counts the lines
/// and comments before it.
pub(super) fn scan_chunk<'a>(
    rows: &'a [u8],
    range: Range<usize>,
    table: &Table,
    request: &ScanRequest,
    find_end: bool,
) -> ChunkScan {
    let ScanRequest { number_cols, key_col, missing, image_col } = *request;
    let mut extent = Extent::default();
    let ncols = table.labels.len();
    // Room for every line of the range at once (SIMD count): no vector grows row by row.
    let lines = memchr::memchr_iter(b'\n', &rows[range.clone()]).count() + 1;
    let mut scan = RowScan {
        spans: Vec::with_capacity(lines),
        numbers: (0..number_cols.len()).map(|_| Vec::with_capacity(lines)).collect(),
        keys: Vec::with_capacity(if key_col.is_some() { lines } else { 0 }),
        ..Default::default()
    };
    if image_col.is_some() {
        scan.images.indices.reserve_exact(lines);
    }
    let mut local_keys: HashMap<&[u8], u32> = HashMap::new();
    // What each column feeds, one look a field: the requested number it is (j + 1; 0 for
    // none), and whether it is the key or the image column. Most columns feed nothing.
    let mut slot = vec![0usize; ncols];
    for (j, &c) in number_cols.iter().enumerate() {
        slot[c] = j + 1;
    }
    for (col, role) in [(key_col, KEY_COLUMN), (image_col, IMAGE_COLUMN)] {
        if let Some(slot) = col.and_then(|c| slot.get_mut(c)) {
            *slot |= role;
        }
    }
    let mut last_key: Option<(&[u8], u32)> = None;
    // Quotes are rare: one search of the piece spares a search of each line.
    let quoted = memchr::memchr2(b'"', b'\'', &rows[range.clone()]).is_some();
    for (start, end, next) in Lines::new(&rows[range.clone()], 0) {
        let (start, end, next) = (start + range.start, end + range.start, next + range.start);
        let line = &rows[start..end];
        let t = trim(line);
        if find_end && ends_rows(t) {
            extent.stop = Some(start);
            break;
        }
        extent.lines += 1;
        if t.is_empty() || is_comment(t) {
            extent.comments_after += usize::from(!t.is_empty());
            continue;
        }
        let mut bad: Option<StarError> = None;
        let mut key: &[u8] = b"";
        let mut image: &[u8] = b"";
        let mut each_field = |k: usize, f: &'a [u8]| {
            let feeds = slot.get(k).copied().unwrap_or(0);
            if feeds != 0 {
                if let Some(j) = (feeds & NUMBER_SLOT).checked_sub(1) {
                    match parse_number(f) {
                        Some(v) => scan.numbers[j].push(v),
                        None if Some(f) == missing => scan.numbers[j].push(f64::NAN),
                        None => {
                            if bad.is_none() {
                                bad = Some(StarError::NotANumber {
                                    line: 0,
                                    label: table.labels[k].clone(),
                                    text: excerpt(f),
                                });
                            }
                            scan.numbers[j].push(f64::NAN);
                        }
                    }
                }
                if feeds & KEY_COLUMN != 0 {
                    key = f;
                }
                if feeds & IMAGE_COLUMN != 0 {
                    image = f;
                }
            }
        };
        let counted = if quoted {
            for_each_field(line, each_field)
        } else {
            Ok(for_each_field_within(rows, start..end, &mut each_field))
        };
        let error = match counted {
            Err(()) => Some(StarError::Unterminated { line: 0 }),
            Ok(got) if got != ncols => Some(StarError::FieldCount { line: 0, expected: ncols, got }),
            Ok(_) => bad,
        };
        if let Some(e) = error {
            return ChunkScan { scan, error: Some((start, e)), extent };
        }
        if key_col.is_some() {
            // Rows of one micrograph usually follow each other: skip the hash most times.
            let id = match last_key {
                Some((k, id)) if k == key => id,
                _ => {
                    let fresh = local_keys.len() as u32;
                    let id = *local_keys.entry(key).or_insert(fresh);
                    if id == fresh {
                        scan.key_names.push(key.to_vec());
                    }
                    last_key = Some((key, id));
                    id
                }
            };
            scan.keys.push(id);
        }
        if image_col.is_some() {
            scan.images.push_name(image);
        }
        scan.spans.push((start as u64, next as u64));
        extent.comments_among_rows += std::mem::take(&mut extent.comments_after);
        extent.last_row_end = Some(next);
    }
    ChunkScan { scan, error: None, extent }
}
