//! Scans of a loop's rows: the field count of every row checked, only the requested columns
//! parsed, keys mapped to ids; in parallel, whole or one window at a time.

use std::collections::HashMap;
use std::ops::Range;

use memchr::memchr;
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::masks::Pdep;
use super::masks::{BitSelect, BlockMasks, ClearLowest, Picks};
#[cfg(target_arch = "x86_64")]
use super::numbers::Ssse3;
use super::numbers::{parse_number_at, DigitReader, Swar};
use super::{
    ends_rows, excerpt, find_binary, for_each_field, is_comment, keep_all, trim, Lines, Release, Table, PIECE, WINDOW,
};
use crate::errors::{StarError, MAX_TEXT};
use crate::images::{unquoted, ImageRows};

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
    ///
    /// The pieces are scanned on the thread pool (from a thread of their own) while this
    /// thread hands each to `consume` as soon as it and the pieces before it are scanned:
    /// what `consume` does (the particle job turns rows into centres and decides
    /// micrographs there) overlaps the scan instead of leaving the pool idle after it. A
    /// range of one piece (a small file) is scanned on this thread.
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
        if pieces.len() <= 1 {
            // A small file (a picker's): no thread to spawn for one piece.
            let mut extent = Extent::default();
            for r in &pieces {
                let chunk = scan_chunk(rows, r.clone(), table, request, find_end);
                extent = extent.then(self.take(rows, table, chunk, consume)?);
            }
            return Ok(extent);
        }
        std::thread::scope(|scope| {
            let (sender, scanned) = std::sync::mpsc::channel::<(usize, ChunkScan)>();
            let pieces = &pieces;
            scope.spawn(move || {
                pieces.par_iter().enumerate().for_each_with(sender, |sender, (i, r)| {
                    // (Refused once the loop's end or an error is met: the rest is not needed.)
                    let _ = sender.send((i, scan_chunk(rows, r.clone(), table, request, find_end)));
                });
            });
            let mut waiting: Vec<Option<ChunkScan>> = (0..pieces.len()).map(|_| None).collect();
            let mut extent = Extent::default();
            // In file order: a piece after the loop's end (its rows, its errors) is not the loop's.
            for next in 0..pieces.len() {
                while waiting[next].is_none() {
                    let (i, chunk) = scanned.recv().expect("a piece's scan panicked");
                    waiting[i] = Some(chunk);
                }
                let chunk = waiting[next].take().expect("the piece was just scanned");
                extent = extent.then(self.take(rows, table, chunk, consume)?);
                if extent.stop.is_some() {
                    break;
                }
            }
            Ok(extent)
        })
    }

    /// Hands one scanned piece to `consume` (its key ids made global, its spans offsets in
    /// the file); returns its extent, in the file's offsets.
    fn take(
        &mut self,
        rows: &[u8],
        table: &Table,
        mut chunk: ChunkScan,
        consume: &mut impl FnMut(&RowScan, &[Vec<u8>]),
    ) -> Result<Extent, StarError> {
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
        Ok(chunk.extent.shifted(table.rows.start))
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
        | StarError::Unexpected { line: l, .. }
        | StarError::TooLong { line: l, .. } => *l = line,
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

/// In a column's slot of [`RowSink`]: it is the key column, the image column; the bits
/// below them hold the number it feeds (plus 1).
const KEY_COLUMN: usize = 1 << (usize::BITS - 1);
const IMAGE_COLUMN: usize = 1 << (usize::BITS - 2);
const NUMBER_SLOT: usize = IMAGE_COLUMN - 1;

/// Bytes of rows whose masks are made at once: the masks (three words per 64 bytes) stay in
/// the first-level cache while the block's rows are walked.
/// Small in tests, so that rows cross blocks.
const BLOCK: usize = if cfg!(test) { 1 << 8 } else { 1 << 15 };

/// Scans the rows of `rows[range]`. With `find_end`, stops at the first line that ends the
/// loop (a blank line, a new block, loop or label: the indexer's rule) and counts the lines
/// and comments before it.
pub(super) fn scan_chunk(
    rows: &[u8],
    range: Range<usize>,
    table: &Table,
    request: &ScanRequest,
    find_end: bool,
) -> ChunkScan {
    let mut sink = RowSink::new(rows, table, request);
    let scanned = match scan_lines_masked(&mut sink, range.clone(), find_end) {
        Walked::Done(scanned) => scanned,
        // Quotes are rare: the piece that holds one is scanned again, quote-aware.
        Walked::Quoted => {
            sink = RowSink::new(rows, table, request);
            scan_lines_tokenized(&mut sink, range, find_end)
        }
    };
    ChunkScan { scan: sink.scan, error: scanned.err(), extent: sink.extent }
}

/// How far the masks took the lines of a piece.
enum Walked {
    /// Every line (up to the loop's end or an error).
    Done(Result<(), (usize, StarError)>),
    /// To a block that holds a quote, before any of its lines: the rows taken so far are
    /// to be dropped, and the piece scanned by the quote-aware tokenizer.
    Quoted,
}

/// The lines of `range` walked on their bit masks, a block at a time, until a block holds a
/// quote.
fn scan_lines_masked(sink: &mut RowSink, range: Range<usize>, find_end: bool) -> Walked {
    #[cfg(target_arch = "x86_64")]
    {
        let bits = std::arch::is_x86_feature_detected!("popcnt") && std::arch::is_x86_feature_detected!("bmi1");
        if let Some(reader) = Ssse3::detect().filter(|_| bits) {
            if let Some(select) = Pdep::detect() {
                // SAFETY: the CPU has all four (checked just above; Pdep: BMI2).
                return unsafe { scan_lines_masked_bmi2(sink, range, find_end, reader, select) };
            }
            // SAFETY: the CPU has all three (checked just above).
            return unsafe { scan_lines_masked_bmi(sink, range, find_end, reader) };
        }
    }
    scan_lines_masked_with(sink, range, find_end, Swar, ClearLowest)
}

/// [`scan_lines_masked`] compiled with the popcount and trailing-zero count instructions
/// (x86_64's baseline has neither: a field count would take a dozen instructions a word),
/// numbers' digits read 16 at a time with SSSE3.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt,bmi1,ssse3")]
unsafe fn scan_lines_masked_bmi(sink: &mut RowSink, range: Range<usize>, find_end: bool, reader: Ssse3) -> Walked {
    scan_lines_masked_with(sink, range, find_end, reader, ClearLowest)
}

/// [`scan_lines_masked_bmi`] with BMI2 too: a wanted field's start found by one PDEP.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt,bmi1,bmi2,ssse3")]
unsafe fn scan_lines_masked_bmi2(
    sink: &mut RowSink,
    range: Range<usize>,
    find_end: bool,
    reader: Ssse3,
    select: Pdep,
) -> Walked {
    scan_lines_masked_with(sink, range, find_end, reader, select)
}

#[inline(always)]
fn scan_lines_masked_with(
    sink: &mut RowSink,
    range: Range<usize>,
    find_end: bool,
    reader: impl DigitReader,
    select: impl BitSelect,
) -> Walked {
    let rows = sink.rows;
    let mut masks = BlockMasks::default();
    let (mut pos, mut size) = (range.start, BLOCK);
    while pos < range.end {
        let base = pos;
        let block_end = (base + size).min(range.end);
        // (Every line is taken from a block filled, and so checked for quotes, before it.)
        if masks.fill(&rows[base..block_end]) {
            return Walked::Quoted;
        }
        while pos < block_end {
            let walk = masks.walk(pos - base, &mut sink.picks, select);
            let (end, next) = match walk.newline {
                Some(newline) => (base + newline, base + newline + 1),
                None if block_end == range.end => (block_end, block_end),
                None => break, // the line runs past the block: it starts the next one
            };
            let text = if walk.count == 0 { &[][..] } else { &rows[base + walk.first..end] };
            match sink.classify(pos, text, find_end) {
                LineKind::End => return Walked::Done(Ok(())),
                LineKind::Skip => {}
                LineKind::Row => {
                    if let Err(e) = sink.row(base, pos, next, walk.count, reader) {
                        return Walked::Done(Err((pos, e)));
                    }
                }
            }
            pos = next;
        }
        if base == range.start && pos < range.end {
            sink.reserve(range.len(), pos - range.start);
        }
        // A line longer than the block: a bigger block.
        size = if pos == base { size * 2 } else { BLOCK };
    }
    Walked::Done(Ok(()))
}

/// The lines of `range` split by the quote-aware tokenizer.
fn scan_lines_tokenized(sink: &mut RowSink, range: Range<usize>, find_end: bool) -> Result<(), (usize, StarError)> {
    let rows = sink.rows;
    for (start, end, next) in Lines::new(&rows[range.clone()], 0) {
        let (start, end, next) = (start + range.start, end + range.start, next + range.start);
        let line = &rows[start..end];
        match sink.classify(start, trim(line), find_end) {
            LineKind::End => break,
            LineKind::Skip => continue,
            LineKind::Row => {}
        }
        let (picks, index) = (&mut sink.picks, &sink.index);
        let count = for_each_field(line, |k, f| {
            if let Some(&i) = index.get(k).filter(|&&i| i != usize::MAX) {
                let at = start + (f.as_ptr() as usize - line.as_ptr() as usize);
                picks.set(i, (at, at + f.len()));
            }
        })
        .map_err(|()| (start, StarError::Unterminated { line: 0 }))?;
        sink.row(0, start, next, count, Swar).map_err(|e| (start, e))?;
    }
    Ok(())
}

/// What a line met among the rows is.
enum LineKind {
    /// It ends the loop (looked for only with `find_end`).
    End,
    /// A blank or comment line.
    Skip,
    Row,
}

/// What a scan keeps of the rows of a piece, and which of their fields it reads.
struct RowSink<'a, 'r> {
    rows: &'a [u8],
    table: &'r Table,
    missing: Option<&'r [u8]>,
    ncols: usize,
    /// Whether rows have a key (its field, if the column exists) and an image name.
    has_key: bool,
    has_image: bool,
    /// The fields read, and where they are in the current row.
    picks: Picks,
    /// Which of them (places in `picks`) are numbers (with the number each is), the key
    /// and the image name.
    number_fields: Vec<(usize, usize)>,
    key_field: Option<usize>,
    image_field: Option<usize>,
    /// For each field of a row, its place in `picks` (usize::MAX for none).
    index: Vec<usize>,
    scan: RowScan,
    extent: Extent,
    local_keys: HashMap<&'a [u8], u32>,
    last_key: Option<(&'a [u8], u32)>,
}

impl<'a, 'r> RowSink<'a, 'r> {
    fn new(rows: &'a [u8], table: &'r Table, request: &ScanRequest<'r>) -> Self {
        let ScanRequest { number_cols, key_col, missing, image_col } = *request;
        let ncols = table.labels.len();
        let mut slot = vec![0usize; ncols];
        for (j, &c) in number_cols.iter().enumerate() {
            slot[c] = j + 1;
        }
        for (col, role) in [(key_col, KEY_COLUMN), (image_col, IMAGE_COLUMN)] {
            if let Some(slot) = col.and_then(|c| slot.get_mut(c)) {
                *slot |= role;
            }
        }
        let picks = Picks::new((0..ncols).filter(|&c| slot[c] != 0));
        let wanted = picks.fields();
        let mut index = vec![usize::MAX; ncols];
        for (i, &c) in wanted.iter().enumerate() {
            index[c] = i;
        }
        RowSink {
            rows,
            table,
            missing,
            ncols,
            has_key: key_col.is_some(),
            has_image: image_col.is_some(),
            number_fields: wanted
                .iter()
                .enumerate()
                .filter_map(|(i, &c)| Some((i, (slot[c] & NUMBER_SLOT).checked_sub(1)?)))
                .collect(),
            key_field: wanted.iter().position(|&c| slot[c] & KEY_COLUMN != 0),
            image_field: wanted.iter().position(|&c| slot[c] & IMAGE_COLUMN != 0),
            picks,
            index,
            scan: RowScan { numbers: vec![Vec::new(); number_cols.len()], ..Default::default() },
            extent: Extent::default(),
            local_keys: HashMap::new(),
            last_key: None,
        }
    }

    /// Room for the rows of a piece of `len` bytes, `done` of which held the rows so far.
    fn reserve(&mut self, len: usize, done: usize) {
        let rows = self.scan.spans.len();
        // At most 4M rows ahead (the vectors grow as they fill): a first row of 18 bytes before
        // a line of a gigabyte made an estimate of 55M rows, 2 GB reserved beyond a job's memory.
        let more = ((rows * len / done.max(1)).saturating_sub(rows) + 16).min(1 << 22);
        self.scan.spans.reserve(more);
        self.scan.numbers.iter_mut().for_each(|column| column.reserve(more));
        if self.has_key {
            self.scan.keys.reserve(more);
        }
    }

    /// What the line at `start` is, from its text `t` from its first field on (empty for a
    /// blank line); counts it unless it ends the loop.
    #[inline(always)]
    fn classify(&mut self, start: usize, t: &[u8], find_end: bool) -> LineKind {
        // Nearly every line is a row: a first byte that starts neither a comment nor the
        // loop's end (`_`, `data_`, `loop_`, a blank line) settles it without the compares.
        if !matches!(t.first(), None | Some(b'_' | b'd' | b'l' | b'#' | b';')) {
            self.extent.lines += 1;
            return LineKind::Row;
        }
        if find_end && ends_rows(t) {
            self.extent.stop = Some(start);
            return LineKind::End;
        }
        self.extent.lines += 1;
        if t.is_empty() || is_comment(t) {
            self.extent.comments_after += usize::from(!t.is_empty());
            return LineKind::Skip;
        }
        LineKind::Row
    }

    /// Takes the row `start..next` of `count` fields, its wanted fields at `base` + `found`.
    #[inline(always)]
    fn row(
        &mut self,
        base: usize,
        start: usize,
        next: usize,
        count: usize,
        reader: impl DigitReader,
    ) -> Result<(), StarError> {
        if count != self.ncols {
            return Err(StarError::FieldCount { line: 0, expected: self.ncols, got: count });
        }
        let (rows, found, numbers) = (self.rows, self.picks.found(), &mut self.scan.numbers);
        for &(i, j) in &self.number_fields {
            let (s, e) = (base + found[i].0, base + found[i].1);
            let value = match parse_number_at(rows, s, e, reader) {
                Some(v) => v,
                None if Some(&rows[s..e]) == self.missing => f64::NAN,
                None => {
                    // The first bad field of the row: number fields are in column order.
                    let label = self.table.labels[self.picks.fields()[i]].clone();
                    return Err(StarError::NotANumber { line: 0, label, text: excerpt(&rows[s..e]) });
                }
            };
            numbers[j].push(value);
        }
        let field = |i: Option<usize>| i.map_or(&b""[..], |i| &rows[base + found[i].0..base + found[i].1]);
        let (key, image) = (field(self.key_field), field(self.image_field));
        if key.len().max(image.len()) > MAX_TEXT {
            return Err(self.too_long(
                if key.len() > MAX_TEXT { self.key_field } else { self.image_field },
                key,
                image,
            ));
        }
        if self.has_key {
            // The name RELION reads: a micrograph name quoted for its space is the text inside.
            let id = self.key_id(unquoted(key));
            self.scan.keys.push(id);
        }
        if self.has_image {
            self.scan.images.push_name(image);
        }
        self.scan.spans.push((start as u64, next as u64));
        self.extent.comments_among_rows += std::mem::take(&mut self.extent.comments_after);
        self.extent.last_row_end = Some(next);
        Ok(())
    }

    /// The error of a name field (`which`, the key's or the image's) longer than [`MAX_TEXT`].
    #[cold]
    fn too_long(&self, which: Option<usize>, key: &[u8], image: &[u8]) -> StarError {
        let label = which.map_or(String::new(), |i| self.table.labels[self.picks.fields()[i]].clone());
        let len = key.len().max(image.len());
        StarError::TooLong { line: 0, what: format!("column {label} holds a name"), len }
    }

    /// The piece's id of the micrograph name `key`.
    #[inline(always)]
    fn key_id(&mut self, key: &'a [u8]) -> u32 {
        // Rows of one micrograph usually follow each other: skip the hash most times.
        if let Some((last, id)) = self.last_key {
            if last == key {
                return id;
            }
        }
        self.new_key_id(key)
    }

    /// [`RowSink::key_id`] of a key that is not the last row's.
    #[inline(never)]
    fn new_key_id(&mut self, key: &'a [u8]) -> u32 {
        let fresh = self.local_keys.len() as u32;
        let id = *self.local_keys.entry(key).or_insert(fresh);
        if id == fresh {
            self.scan.key_names.push(key.to_vec());
        }
        self.last_key = Some((key, id));
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A piece scanned as before the quote check joined the masks (the oracle): the
    /// quote-aware tokenizer for any piece that holds a quote, the masks otherwise.
    fn scan_chunk_searched_first(rows: &[u8], range: Range<usize>, table: &Table, request: &ScanRequest) -> ChunkScan {
        let mut sink = RowSink::new(rows, table, request);
        let scanned = match memchr::memchr2(b'"', b'\'', &rows[range.clone()]) {
            Some(_) => scan_lines_tokenized(&mut sink, range, true),
            None => match scan_lines_masked(&mut sink, range, true) {
                Walked::Done(scanned) => scanned,
                Walked::Quoted => unreachable!("no quote in the piece"),
            },
        };
        ChunkScan { scan: sink.scan, error: scanned.err(), extent: sink.extent }
    }

    /// Everything a piece's scan gives, comparable.
    fn seen(chunk: &ChunkScan) -> String {
        let numbers: Vec<Vec<u64>> =
            chunk.scan.numbers.iter().map(|c| c.iter().map(|v| v.to_bits()).collect()).collect();
        let s = &chunk.scan;
        format!(
            "{:?} {numbers:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            s.spans, s.keys, s.key_names, s.images.indices, s.images.runs, chunk.error, chunk.extent
        )
    }

    #[test]
    fn quotes_met_in_the_masks_give_the_scan_of_quotes_searched_first() {
        // Random rows over many blocks: quoted names, quotes inside fields and comments,
        // unterminated quotes, short rows, comments, a loop's end; a quote before, within
        // or after the first block, or none. Both scans must agree on every row and error.
        let mut next = crate::test_random(0x2545_f491_4f6c_dd1d);
        let table = |len| Table {
            labels: ["x", "y", "m", "i"].map(String::from).to_vec(),
            rows: 0..len,
            first_row_line: 1,
            comment_lines: 0,
        };
        let request = ScanRequest { number_cols: &[1, 0], key_col: Some(2), missing: None, image_col: Some(3) };
        let (mut quoted_pieces, mut errors) = (0, 0);
        for case in 0..400 {
            let mut text = String::new();
            let rare = [0, 2, 30, 300][case % 4];
            for row in 0..next(60) + 1 {
                let roll = |next: &mut dyn FnMut(u64) -> u64| rare > 0 && next(rare) == 0;
                let name = if roll(&mut next) { format!("'mic {}.mrc'", row / 9) } else { format!("m{}.mrc", row / 9) };
                let x = if roll(&mut next) { "1'5".to_string() } else { format!("{}.5", next(4000)) };
                let image = format!("{:06}@Extract/s{}.mrcs", row % 9 + 1, row / 9);
                text += &format!("{x}  {} {name}\t{image}\n", next(3000));
                match next(if rare > 0 { 40 } else { 400 }) {
                    0 => text += "# a comment 'quoted\n",
                    1 => text += "1 2 \"unterminated\n",
                    2 => text += "1 2\n",
                    3 => text += "   \n",
                    _ => {}
                }
            }
            if next(5) == 0 {
                text += "\ndata_after\n_a 'b'\n";
            }
            let data = text.as_bytes();
            let table = table(data.len());
            let range = 0..data.len();
            let want = scan_chunk_searched_first(data, range.clone(), &table, &request);
            let got = scan_chunk(data, range.clone(), &table, &request, true);
            assert_eq!(seen(&got), seen(&want), "case {case}:\n{text}");
            quoted_pieces += usize::from(memchr::memchr2(b'"', b'\'', data).is_some());
            errors += usize::from(want.error.is_some());
        }
        assert!(quoted_pieces > 100 && errors > 50 && errors < 350, "{quoted_pieces} quoted, {errors} errors");
    }
}
