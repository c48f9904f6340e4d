//! STAR files as RELION writes them, read without copying: an index of the blocks, a
//! parallel scan of one loop that parses only the columns a job needs, and a writer that
//! copies selected rows byte for byte.
//!
//! Syntax handled: `data_NAME` blocks holding either `_label value` pairs or one `loop_`
//! with `_label [#N]` lines and rows; comments start with `#` or `;`; a loop ends at a blank
//! line, a new block or the end of the file. Fields may be quoted with `"` or `'`.

use std::collections::HashMap;
use std::io::{self, Write};
use std::ops::Range;

use memchr::memchr;

use crate::errors::StarError;
use rayon::prelude::*;

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// The name after `data_` (may be empty).
    pub name: String,
    /// 1-based line of the `data_` line.
    pub line: usize,
    /// Byte range from the `data_` line to the start of the next block (or the end).
    pub span: Range<usize>,
    pub table: Option<Table>,
    /// Key-value pairs of a block without a loop (labels without the leading `_`).
    pub pairs: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Column labels without the leading `_` or the `#N` suffix.
    pub labels: Vec<String>,
    /// Bytes from the first row's start to the end of the last row's line terminator.
    pub rows: Range<usize>,
    /// 1-based line of the first row (or of where it would be, for an empty loop).
    pub first_row_line: usize,
    /// Comment lines between the rows (not copied to outputs: a row is kept or rejected, a
    /// comment belongs to neither).
    pub comment_lines: usize,
}

/// Splits `data` into lines: yields (start, end_of_content, end_with_terminator).
pub(crate) struct Lines<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) pos: usize,
}

impl Iterator for Lines<'_> {
    type Item = (usize, usize, usize);
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let start = self.pos;
        let end = memchr(b'\n', &self.data[start..]).map_or(self.data.len(), |k| start + k);
        self.pos = if end < self.data.len() { end + 1 } else { end };
        Some((start, end, self.pos))
    }
}

/// White space separates fields: space, tab, carriage return and the other control bytes.
fn is_space(b: u8) -> bool {
    b <= b' '
}

pub(crate) fn trim(line: &[u8]) -> &[u8] {
    let a = line.iter().position(|&b| !is_space(b)).unwrap_or(line.len());
    let b = line.iter().rposition(|&b| !is_space(b)).map_or(a, |k| k + 1);
    &line[a..b]
}

fn is_comment(t: &[u8]) -> bool {
    matches!(t.first(), Some(b'#') | Some(b';'))
}

pub(crate) fn text(t: &[u8]) -> String {
    String::from_utf8_lossy(t).into_owned()
}

/// The start of `t` as text for an error message: a long line is cut, not printed whole.
fn excerpt(t: &[u8]) -> String {
    const MAX: usize = 60;
    if t.len() <= MAX {
        return text(t);
    }
    let cut = String::from_utf8_lossy(&t[..MAX]);
    format!("{}...", cut.trim_end_matches('\u{FFFD}'))
}

/// A control byte that text never holds: NUL to backspace, 0x0E to 0x1F, DEL (tab, line
/// feed, vertical tab, form feed and carriage return are white space).
#[inline]
fn is_binary(b: u8) -> bool {
    (b < 0x09) | (b.wrapping_sub(0x0e) < 0x12) | (b == 0x7f)
}

/// The offset of the first binary byte of `data`, if any. Branch-free per chunk, so it
/// vectorises; chunks run in parallel.
pub fn find_binary(data: &[u8]) -> Option<usize> {
    const CHUNK: usize = 1 << 20;
    data.par_chunks(CHUNK)
        .enumerate()
        .find_first(|(_, chunk)| chunk.iter().fold(false, |any, &b| any | is_binary(b)))
        .and_then(|(k, chunk)| chunk.iter().position(|&b| is_binary(b)).map(|i| k * CHUNK + i))
}

/// The label of a `_label #N` or `_label value` line, and the rest of the line.
fn split_label(t: &[u8]) -> (String, String) {
    let t = &t[1..];
    let k = t.iter().position(|&b| is_space(b)).unwrap_or(t.len());
    (text(&t[..k]), text(trim(&t[k..])))
}

#[derive(Default)]
enum State {
    #[default]
    Outside,
    InBlock,
    Labels,
    Rows,
}

/// How much of a file's start and end is checked for binary content before indexing it.
const EDGE: usize = 1 << 16;

/// Binary content in the first or last `EDGE` bytes (an MRC or gzip header, a file padded
/// with zeros after a crash), without reading the whole file.
fn binary_at_edges(data: &[u8]) -> Option<usize> {
    let head = &data[..data.len().min(EDGE)];
    let tail_start = data.len().saturating_sub(EDGE).max(head.len());
    find_binary(head).or_else(|| find_binary(&data[tail_start..]).map(|k| tail_start + k))
}

/// Prefers "binary content" to a syntax error when the file holds binary bytes anywhere:
/// the error's line would be binary garbage. Only runs on the error path.
fn binary_or(data: &[u8], err: StarError) -> StarError {
    find_binary(data).map_or(err, |offset| StarError::Binary { offset })
}

/// Bytes of a big file handled between two calls of a [`Release`]: the fixed buffer of a
/// streaming pass, whatever the file's size. Small in tests, so that they cross windows.
pub const WINDOW: usize = if cfg!(test) { 1 << 16 } else { 1 << 26 };

/// Bytes of rows scanned by one task of a parallel scan. Small in tests, so that a window
/// holds many pieces.
const PIECE: usize = if cfg!(test) { 1 << 12 } else { 1 << 22 };

/// Called with byte ranges of the input that a pass has finished with, in increasing order,
/// so that a memory-mapped file's pages can be released behind the cursor (resident memory
/// then stays within a window, not the file).
pub type Release<'a> = &'a (dyn Fn(Range<usize>) + Sync);

/// A [`Release`] that keeps everything (data already in memory).
pub fn keep_all(_: Range<usize>) {}

/// Indexes every block of a STAR file. A binary file (an MRC, a gzip) is refused as such,
/// so that no error message quotes its bytes.
pub fn index(data: &[u8]) -> Result<Vec<Block>, StarError> {
    index_releasing(data, &keep_all)
}

/// [`index`], releasing each [`WINDOW`] of `data` once it is indexed.
pub fn index_releasing(data: &[u8], release: Release) -> Result<Vec<Block>, StarError> {
    if let Some(offset) = binary_at_edges(data) {
        return Err(StarError::Binary { offset });
    }
    index_text(data, None, release).map(|indexed| indexed.blocks).map_err(|e| binary_or(data, e))
}

/// The loop a one-pass read scans while it indexes the file.
#[derive(Clone, Copy, Debug)]
pub enum LoopOf<'a> {
    /// The loop of the first block with this name (`particles` for a particle STAR).
    Block(&'a str),
    /// The first loop with a column of this label (a picker's coordinates, whatever its
    /// block is named).
    Label(&'a str),
}

impl LoopOf<'_> {
    fn holds(&self, block: &Block) -> bool {
        match *self {
            LoopOf::Block(name) => block.name == name,
            LoopOf::Label(label) => block.table.as_ref().is_some_and(|t| t.labels.iter().any(|l| l == label)),
        }
    }

    /// The loop's table in a whole index, if the file has one.
    pub fn find<'b>(&self, blocks: &'b [Block]) -> Option<&'b Table> {
        blocks.iter().find(|b| self.holds(b)).and_then(|b| b.table.as_ref())
    }
}

/// The blocks of a file up to the first row of the loop `wanted`. That loop's table then
/// holds its first row only (enough for its labels and the type of each column), and
/// `deferred` is set: the rest is indexed by [`index_scanning`] while a scan reads the rows
/// (one read of a big file instead of two). Without such a loop, the whole index.
pub fn index_header(data: &[u8], wanted: LoopOf) -> Result<Indexed, StarError> {
    if let Some(offset) = binary_at_edges(data) {
        return Err(StarError::Binary { offset });
    }
    index_text(data, Some(wanted), &keep_all).map_err(|e| binary_or(data, e))
}

/// What [`index_header`] found.
pub struct Indexed {
    pub blocks: Vec<Block>,
    /// Whether indexing stopped at the first row of the last block's loop.
    pub deferred: bool,
}

/// The whole index of `data`, and a scan of the rows of the loop `wanted` (see
/// [`scan_rows_streaming`]) made while indexing: a big file is read once, not twice. The indexer stops at the loop's first row; from there the scan walks the rows one
/// [`WINDOW`] at a time, in parallel, and finds where the loop ends as the indexer would
/// (so each line is walked once); the indexer resumes after the loop. Returns the blocks
/// and the distinct key texts by id. Errors are those of [`index`] then [`scan_rows`].
pub fn index_scanning(
    data: &[u8],
    wanted: LoopOf,
    request: &ScanRequest,
    release: Release,
    mut consume: impl FnMut(&RowScan, &[Vec<u8>]),
) -> Result<(Vec<Block>, Vec<Vec<u8>>), StarError> {
    if let Some(offset) = binary_at_edges(data) {
        return Err(StarError::Binary { offset });
    }
    let syntax = |e: StarError| binary_or(data, e);
    let mut indexer = Indexer::default();
    if !indexer.run(data, 0, Some(wanted), release).map_err(syntax)? {
        // No rows to scan while indexing: the index is whole; scan the loop, if any.
        let blocks = indexer.blocks;
        let key_names = match wanted.find(&blocks) {
            Some(table) => scan_rows_streaming(data, table, request, release, consume)?,
            None => Vec::new(),
        };
        return Ok((blocks, key_names));
    }
    let first = indexer.table().clone();
    // The loop's rows as far as the scan knows: to the end of the data until it finds more.
    let loop_table = Table { rows: first.rows.start..data.len(), ..first.clone() };
    let mut stream = RowStream::new(request);
    let mut extent = Extent::default();
    let mut pos = first.rows.start;
    while pos < data.len() && extent.stop.is_none() {
        let end = line_end_after(data, (pos + WINDOW).min(data.len()));
        extent = extent.then(stream.feed(data, &loop_table, pos..end, true, &mut consume)?);
        release(pos..end);
        pos = end;
    }
    let table = indexer.table();
    // The first row is a row: the scan met at least that one.
    table.rows.end = extent.last_row_end.unwrap_or(first.rows.end);
    table.comment_lines = extent.comments_among_rows;
    if let Some(stop) = extent.stop {
        // Resume at the line that ends the loop, still in the rows' state (that line leaves it).
        indexer.line_no = first.first_row_line - 1 + extent.lines;
        indexer.comments_pending = 0;
        indexer.released = stop;
        indexer.run(data, stop, None, release).map_err(syntax)?;
    }
    Ok((indexer.blocks, stream.key_names))
}

/// The end of the line holding byte `at` (after its terminator), or `data.len()`.
fn line_end_after(data: &[u8], at: usize) -> usize {
    if at >= data.len() {
        return data.len();
    }
    memchr(b'\n', &data[at..]).map_or(data.len(), |k| at + k + 1)
}

fn index_text(data: &[u8], defer_at: Option<LoopOf>, release: Release) -> Result<Indexed, StarError> {
    let mut indexer = Indexer::default();
    let deferred = indexer.run(data, 0, defer_at, release)?;
    Ok(Indexed { blocks: indexer.blocks, deferred })
}

/// The indexer's state between lines: it can stop at a loop's first row and resume at any
/// line start after it (once a scan has found where the loop ends).
#[derive(Default)]
struct Indexer {
    blocks: Vec<Block>,
    state: State,
    /// Lines before the next one read.
    line_no: usize,
    /// Where the pages were last released up to.
    released: usize,
    /// Comment lines met after the last row of the current loop.
    comments_pending: usize,
}

impl Indexer {
    /// Indexes `data` from the line starting at `from`; returns whether it stopped at the
    /// first row of the loop `defer_at`.
    fn run(&mut self, data: &[u8], from: usize, defer_at: Option<LoopOf>, release: Release) -> Result<bool, StarError> {
        for (start, end, next) in (Lines { data, pos: from }) {
            self.line_no += 1;
            if next - self.released >= WINDOW {
                release(self.released..next);
                self.released = next;
            }
            // A UTF-8 byte-order mark (Windows editors write one) starts the first line: skip it.
            let line = if start == 0 {
                data[start..end].strip_prefix(b"\xef\xbb\xbf").unwrap_or(&data[..end])
            } else {
                &data[start..end]
            };
            if self.line(trim(line), start, next, data.len())?
                && defer_at.is_some_and(|wanted| wanted.holds(self.last()))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn last(&mut self) -> &mut Block {
        self.blocks.last_mut().expect("a block is open")
    }

    fn table(&mut self) -> &mut Table {
        self.last().table.as_mut().expect("the block has a loop")
    }

    /// Takes the trimmed line `t` (from byte `start`, the next line at `next`); returns
    /// whether it is the first row of a loop.
    fn line(&mut self, t: &[u8], start: usize, next: usize, len: usize) -> Result<bool, StarError> {
        let line_no = self.line_no;
        let unexpected = || Err(StarError::Unexpected { line: line_no, text: excerpt(t) });
        if let State::Rows = self.state {
            // The hot path of the indexer alone: most lines of a big file are rows.
            if !ends_rows(t) {
                if is_comment(t) {
                    self.comments_pending += 1; // between rows once a row follows
                } else {
                    let pending = std::mem::take(&mut self.comments_pending);
                    let table = self.table();
                    table.rows.end = next;
                    table.comment_lines += pending;
                }
                return Ok(false);
            }
            self.state = State::InBlock;
            self.comments_pending = 0; // comments after the last row belong to no loop
        }
        if t.starts_with(b"data_") {
            if let Some(b) = self.blocks.last_mut() {
                b.span.end = start;
            }
            self.blocks.push(Block {
                name: text(&t[5..]),
                line: line_no,
                span: start..len,
                table: None,
                pairs: Vec::new(),
            });
            self.state = State::InBlock;
            return Ok(false);
        }
        if t.is_empty() || is_comment(t) {
            return Ok(false);
        }
        match self.state {
            State::Outside => return unexpected(),
            State::InBlock | State::Rows => {
                let block = self.last();
                if t.starts_with(b"loop_") && block.table.is_none() && block.pairs.is_empty() {
                    block.table = Some(Table {
                        labels: Vec::new(),
                        rows: next..next,
                        first_row_line: line_no + 1,
                        comment_lines: 0,
                    });
                    self.state = State::Labels;
                } else if t.starts_with(b"_") && block.table.is_none() {
                    block.pairs.push(split_label(t));
                } else {
                    return unexpected();
                }
            }
            State::Labels => {
                if t.starts_with(b"_") {
                    let table = self.table();
                    table.labels.push(split_label(t).0);
                    table.rows = next..next;
                    table.first_row_line = line_no + 1;
                } else if t.starts_with(b"loop_") {
                    return unexpected();
                } else {
                    let table = self.table();
                    table.rows = start..next;
                    table.first_row_line = line_no;
                    self.state = State::Rows;
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// Whether the trimmed line `t`, met among a loop's rows, ends them: a blank line, a new
/// block, loop or label (a comment does not).
fn ends_rows(t: &[u8]) -> bool {
    t.is_empty() || t.starts_with(b"data_") || t.starts_with(b"loop_") || t.starts_with(b"_")
}

/// Calls `field(k, bytes)` for each field of a row line; returns the number of fields.
/// Quotes are kept in the field bytes; `Err(())` for an unterminated quote.
#[inline]
pub(crate) fn for_each_field<'a>(line: &'a [u8], mut field: impl FnMut(usize, &'a [u8])) -> Result<usize, ()> {
    match for_each_unquoted_field(line, &mut field) {
        Some(n) => Ok(n),
        None => for_each_field_quoted(line, field),
    }
}

/// Bit i is set where `chunk[i]` is not white space (> b' ').
#[cfg(target_arch = "x86_64")]
#[inline]
fn text_mask(chunk: &[u8; 64]) -> u64 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline; loads are unaligned and in bounds.
    unsafe {
        let above_space = _mm_set1_epi8(0x21);
        let mut mask = 0u64;
        for j in 0..4 {
            let v = _mm_loadu_si128(chunk.as_ptr().add(16 * j) as *const __m128i);
            // Unsigned b >= 0x21, as max(b, 0x21) == b.
            let text = _mm_cmpeq_epi8(_mm_max_epu8(v, above_space), v);
            mask |= (_mm_movemask_epi8(text) as u32 as u64) << (16 * j);
        }
        mask
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn text_mask(chunk: &[u8; 64]) -> u64 {
    chunk.iter().enumerate().fold(0u64, |m, (i, &b)| m | (((b > b' ') as u64) << i))
}

/// The fast path of `for_each_field`: 64 bytes at a time, field boundaries from bit masks.
/// Returns None, before reporting any field, if the line holds a quote.
#[inline]
fn for_each_unquoted_field<'a>(line: &'a [u8], field: &mut impl FnMut(usize, &'a [u8])) -> Option<usize> {
    if memchr::memchr2(b'"', b'\'', line).is_some() {
        return None;
    }
    Some(for_each_field_within(line, 0..line.len(), field))
}

/// The fields of the line `buf[line]`, which holds no quote, 64 bytes at a time (field
/// boundaries from bit masks). Bytes of `buf` after the line are loaded and ignored where
/// there are 64 of them: a short line costs no copy.
#[inline]
fn for_each_field_within<'a>(buf: &'a [u8], line: Range<usize>, field: &mut impl FnMut(usize, &'a [u8])) -> usize {
    let mut k = 0;
    let mut start = 0usize;
    let mut inside = false;
    for base in (line.start..line.end).step_by(64) {
        let left = line.end - base;
        let text = match buf.get(base..base + 64) {
            Some(full) => text_mask(full.try_into().unwrap()),
            None => {
                let mut tail = [b' '; 64];
                tail[..left].copy_from_slice(&buf[base..line.end]);
                text_mask(&tail)
            }
        };
        // Bytes past the line's end count as white space.
        let text = if left < 64 { text & ((1u64 << left) - 1) } else { text };
        let before = (text << 1) | inside as u64;
        let mut events = (text & !before) | (!text & before); // field starts and ends
        while events != 0 {
            let bit = events.trailing_zeros() as usize;
            events &= events - 1;
            if !inside {
                start = base + bit;
            } else {
                field(k, &buf[start..base + bit]);
                k += 1;
            }
            inside = !inside;
        }
        inside = text >> 63 == 1; // the chunk ends inside a field
    }
    if inside {
        field(k, &buf[start..line.end]);
        k += 1;
    }
    k
}

/// The quote-aware tokenizer: a quoted field closes at a quote followed by white space.
fn for_each_field_quoted<'a>(line: &'a [u8], mut field: impl FnMut(usize, &'a [u8])) -> Result<usize, ()> {
    let mut k = 0;
    let mut i = 0;
    let n = line.len();
    while i < n {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i == n {
            break;
        }
        let start = i;
        let quote = line[i];
        if quote == b'"' || quote == b'\'' {
            // A quote closes only when followed by white space or the end of the line.
            i += 1;
            loop {
                match memchr(quote, &line[i..]) {
                    None => return Err(()),
                    Some(q) => {
                        i += q + 1;
                        if i == n || is_space(line[i]) {
                            break;
                        }
                    }
                }
            }
        } else {
            while i < n && !is_space(line[i]) {
                i += 1;
            }
        }
        field(k, &line[start..i]);
        k += 1;
    }
    Ok(k)
}

/// Fields of one row line as strings, quotes removed. For small tables.
pub fn split_row(line: &[u8]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for_each_field(line, |_, f| {
        let f = if f.len() >= 2 && (f[0] == b'"' || f[0] == b'\'') { &f[1..f.len() - 1] } else { f };
        out.push(text(f));
    })
    .ok()?;
    Some(out)
}

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
}

struct ChunkScan {
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
    fn then(self, next: Extent) -> Extent {
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

/// A field as a number, in the syntax Rust's `str::parse::<f64>` accepts (fast-float2 reads
/// the bytes directly: no UTF-8 check, about twice as fast).
pub(crate) fn parse_number(field: &[u8]) -> Option<f64> {
    plain_decimal(field).or_else(|| fast_float2::parse(field).ok())
}

/// Exact powers of ten, 10^0 to 10^22 (every one representable in an f64).
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// A field of the form `-?digits.digits` (how RELION and most pickers write coordinates and
/// scores, `%12.6f`) read without the general parser; None for any other form.
///
/// The digits make an integer m (at most 2^53, so exact) and the decimals k (at most 22, so
/// 10^k is exact): m / 10^k is then one correctly rounded division, the same f64 as the
/// general parser's correctly rounded result (Clinger's fast path).
#[inline]
fn plain_decimal(field: &[u8]) -> Option<f64> {
    let (negative, digits) = match field.first() {
        Some(b'-') => (true, &field[1..]),
        _ => (false, field),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None; // 19 characters hold at most 18 digits and a point: m stays below 10^18
    }
    let (mut mantissa, mut decimals, mut point, mut any_digit) = (0u64, 0usize, false, false);
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                decimals += usize::from(point);
                any_digit = true;
            }
            b'.' if !point => point = true,
            _ => return None,
        }
    }
    if !any_digit || mantissa > 1 << 53 || decimals >= POWERS_OF_TEN.len() {
        return None;
    }
    let value = mantissa as f64 / POWERS_OF_TEN[decimals];
    Some(if negative { -value } else { value })
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
    let request = ScanRequest { number_cols, key_col, missing };
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
fn locate_error(rows: &[u8], table: &Table, offset: usize, mut err: StarError) -> StarError {
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
fn chunk_at_lines(data: &[u8], size: usize) -> Vec<Range<usize>> {
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

/// Scans the rows of `rows[range]`. With `find_end`, stops at the first line that ends the
/// loop (a blank line, a new block, loop or label: the indexer's rule) and counts the lines
/// and comments before it.
fn scan_chunk<'a>(
    rows: &'a [u8],
    range: Range<usize>,
    table: &Table,
    request: &ScanRequest,
    find_end: bool,
) -> ChunkScan {
    let ScanRequest { number_cols, key_col, missing } = *request;
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
    let mut local_keys: HashMap<&[u8], u32> = HashMap::new();
    // Which requested number (if any) each column feeds.
    let mut slot = vec![usize::MAX; ncols];
    for (j, &c) in number_cols.iter().enumerate() {
        slot[c] = j;
    }
    let mut last_key: Option<(&[u8], u32)> = None;
    // Quotes are rare: one search of the piece spares a search of each line.
    let quoted = memchr::memchr2(b'"', b'\'', &rows[range.clone()]).is_some();
    for (start, end, next) in (Lines { data: &rows[range.clone()], pos: 0 }) {
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
        let mut each_field = |k: usize, f: &'a [u8]| {
            if k < ncols {
                let j = slot[k];
                if j != usize::MAX {
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
                if Some(k) == key_col {
                    key = f;
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
        scan.spans.push((start as u64, next as u64));
        extent.comments_among_rows += std::mem::take(&mut extent.comments_after);
        extent.last_row_end = Some(next);
    }
    ChunkScan { scan, error: None, extent }
}

/// Rewrites one column of chosen rows: the field `column` is replaced where its text is a
/// key of `map`. Only that field's bytes change; spacing is kept.
pub struct ColumnRewrite<'a> {
    pub column: usize,
    pub map: &'a HashMap<Vec<u8>, Vec<u8>>,
}

/// Sets one column row by row: row `i`'s field `column` becomes `texts[choice[i] - 1]`, and
/// is left as it is where `choice[i]` is 0 (half-sets reassigned per micrograph). Only that
/// field's bytes change; spacing is kept.
pub struct RowValues<'a> {
    pub column: usize,
    pub choice: &'a [u8],
    pub texts: &'a [Vec<u8>],
}

/// How rows are changed on their way out. The default copies them byte for byte.
#[derive(Default)]
pub struct RowEdit<'a> {
    /// One field replaced by a new text (optics groups renumbered by a merge).
    pub rewrite: Option<ColumnRewrite<'a>>,
    /// One field set per row (indexed like the rows of the loop).
    pub values: Option<RowValues<'a>>,
    /// The output's columns: `columns[j]` is the input column written as column `j` (another
    /// file's column order, or a subset of the columns). Each field's text is moved unchanged,
    /// with the white space before it in the input (one space where there was none).
    pub columns: Option<&'a [usize]>,
}

impl RowEdit<'_> {
    /// Whether row `row` goes out byte for byte.
    fn is_copy(&self, row: usize) -> bool {
        self.rewrite.is_none() && self.columns.is_none() && self.values.as_ref().is_none_or(|v| v.choice[row] == 0)
    }

    /// The new text of field `column` of row `row`, if this edit sets one.
    fn value(&self, row: usize, column: usize) -> Option<&[u8]> {
        let v = self.values.as_ref().filter(|v| v.column == column && v.choice[row] != 0)?;
        Some(&v.texts[v.choice[row] as usize - 1])
    }
}

/// Writes the rows `spans[i]` for which `select(i)` holds, in order. Unedited rows are byte
/// copies, adjacent rows written in one call. A last row without a line terminator gets `\n`.
pub fn write_rows(
    data: &[u8],
    spans: &[(u64, u64)],
    select: impl Fn(usize) -> bool,
    edit: &RowEdit,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut run: Option<(usize, usize)> = None;
    let mut fields = Vec::new();
    for (i, &(a, b)) in spans.iter().enumerate() {
        if !select(i) {
            continue;
        }
        let (a, b) = (a as usize, b as usize);
        if !edit.is_copy(i) {
            flush(data, &mut run, out)?;
            write_edited(&data[a..b], i, edit, &mut fields, out)?;
            continue;
        }
        run = match run {
            Some((s, e)) if e == a => Some((s, b)),
            _ => {
                flush(data, &mut run, out)?;
                Some((a, b))
            }
        };
    }
    flush(data, &mut run, out)
}

/// Writes the rows of `table` in order, row `i` to `kept` where `keep[i]` holds and to
/// `rejected` otherwise, re-reading the rows instead of keeping their offsets (the rows a
/// scan counted: comments and blank lines are skipped as the scan skips them). Unedited
/// rows are byte copies, adjacent rows written in one call; a last row without a line
/// terminator gets `\n`. Each [`WINDOW`] is released once written.
pub fn write_split(
    data: &[u8],
    table: &Table,
    keep: &[bool],
    edit: &RowEdit,
    kept: &mut impl Write,
    rejected: &mut impl Write,
    release: Release,
) -> io::Result<()> {
    let mut runs: [Option<(usize, usize)>; 2] = [None, None];
    let mut fields = Vec::new();
    let mut row = 0usize;
    let mut released = table.rows.start;
    let rows = table.rows.clone();
    for (a, end, b) in (Lines { data: &data[rows.clone()], pos: 0 }) {
        let (a, b) = (a + rows.start, b + rows.start);
        let t = trim(&data[a..end + rows.start]);
        if t.is_empty() || is_comment(t) {
            continue;
        }
        let Some(&wanted) = keep.get(row) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("keep has {} entries, the loop more rows", keep.len()),
            ));
        };
        let i = row;
        row += 1;
        let (out, run): (&mut dyn Write, _) = if wanted { (kept, &mut runs[0]) } else { (rejected, &mut runs[1]) };
        if !edit.is_copy(i) {
            flush(data, run, out)?;
            write_edited(&data[a..b], i, edit, &mut fields, out)?;
        } else {
            *run = match *run {
                Some((s, e)) if e == a => Some((s, b)),
                _ => {
                    flush(data, run, out)?;
                    Some((a, b))
                }
            };
            if run.is_some_and(|(s, e)| e - s >= WINDOW) {
                flush(data, run, out)?; // a run of a window at most, so that windows can be released
            }
        }
        if b - released >= WINDOW {
            // Everything before the open runs is written: release up to the first of them.
            let open = runs.iter().flatten().map(|&(s, _)| s).min().unwrap_or(b);
            if open > released {
                release(released..open);
                released = open;
            }
        }
    }
    if row != keep.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("keep has {} entries, the loop {row} rows", keep.len()),
        ));
    }
    flush(data, &mut runs[0], kept)?;
    flush(data, &mut runs[1], rejected)?;
    release(released..rows.end.max(released));
    Ok(())
}

fn flush(data: &[u8], run: &mut Option<(usize, usize)>, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    if let Some((s, e)) = run.take() {
        out.write_all(&data[s..e])?;
        if data[e - 1] != b'\n' {
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// One field of a row: where the white space before it starts, and the field's own bytes.
#[derive(Clone, Copy)]
struct FieldSpan {
    gap: usize,
    start: usize,
    end: usize,
}

/// Scratch space of [`write_row_reordered`] (the fields of the row being written), kept
/// between rows so that no row allocates.
#[derive(Default)]
pub struct RowFields(Vec<FieldSpan>);

/// Writes one row line with its fields in the order `columns` (`columns[j]`: the field
/// written `j`-th), each field's text moved unchanged with the white space before it, as
/// [`RowEdit::columns`] does for a loop's rows; a row without a terminator gets `\n`.
pub fn write_row_reordered(
    line: &[u8],
    columns: &[usize],
    scratch: &mut RowFields,
    out: &mut (impl Write + ?Sized),
) -> io::Result<()> {
    let edit = RowEdit { columns: Some(columns), ..Default::default() };
    write_edited(line, 0, &edit, &mut scratch.0, out)
}

/// Writes one row line (terminator included) with `edit` applied. `fields` is scratch space.
fn write_edited(
    line: &[u8],
    row: usize,
    edit: &RowEdit,
    fields: &mut Vec<FieldSpan>,
    out: &mut (impl Write + ?Sized),
) -> io::Result<()> {
    let body = line.strip_suffix(b"\n").map_or(line, |l| l.strip_suffix(b"\r").unwrap_or(l));
    fields.clear();
    let base = line.as_ptr() as usize;
    let mut gap = 0;
    let counted = for_each_field(body, |_, f| {
        let start = f.as_ptr() as usize - base;
        fields.push(FieldSpan { gap, start, end: start + f.len() });
        gap = start + f.len();
    });
    if counted.is_err() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "a row has an unterminated quote"));
    }
    // Input column k's text, rewritten if it is the rewritten column.
    let field = |k: usize| -> &[u8] {
        let text = &line[fields[k].start..fields[k].end];
        if let Some(value) = edit.value(row, k) {
            return value;
        }
        match &edit.rewrite {
            Some(rw) if rw.column == k => rw.map.get(text).map_or(text, |new| new.as_slice()),
            _ => text,
        }
    };
    match edit.columns {
        None => {
            for (k, f) in fields.iter().enumerate() {
                out.write_all(&line[f.gap..f.start])?;
                out.write_all(field(k))?;
            }
            out.write_all(&line[gap..])?; // trailing white space and the terminator
        }
        Some(columns) => {
            if let Some(&bad) = columns.iter().find(|&&c| c >= fields.len()) {
                let message = format!("a row has {} fields, column {bad} was asked for", fields.len());
                return Err(io::Error::new(io::ErrorKind::InvalidData, message));
            }
            for (j, &c) in columns.iter().enumerate() {
                let space = &line[fields[c].gap..fields[c].start];
                out.write_all(if space.is_empty() && j > 0 { b" " } else { space })?;
                out.write_all(field(c))?;
            }
            out.write_all(&line[body.len()..])?;
        }
    }
    if line.last() != Some(&b'\n') {
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimals_read_as_the_general_parser_reads_them() {
        // Oracle: Rust's own correctly rounded str::parse::<f64>.
        let mut next = crate::test_random(0x2545_f491_4f6c_dd1du64);
        let mut fields: Vec<String> = [
            "0",
            "-0",
            "0.0",
            "-0.000000",
            "5.",
            ".5",
            "-.5",
            "123456.789012",
            "9007199254740993",
            "9007199254740992.5",
            "0.1",
            "0.30000000000000004",
            "1234567890123456789",
            "12345678901234567.8",
            "00000000000000000001",
            "-",
            ".",
            "1.2.3",
            "+1.5",
            "1e5",
            "nan",
            "inf",
            "1,5",
            "",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        for _ in 0..200_000 {
            let (int_digits, frac_digits) = (next(12) as usize, next(12) as usize);
            let mut f = String::new();
            if next(2) == 0 {
                f.push('-');
            }
            (0..int_digits).for_each(|_| f.push((b'0' + next(10) as u8) as char));
            if next(4) != 0 {
                f.push('.');
                (0..frac_digits).for_each(|_| f.push((b'0' + next(10) as u8) as char));
            }
            fields.push(f);
        }
        for f in &fields {
            let want = f.parse::<f64>().ok();
            let got = parse_number(f.as_bytes());
            assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{f:?}");
        }
    }

    const RELION31: &str = "\n# version 30001\n\ndata_optics\n\nloop_\n_rlnOpticsGroup #1\n_rlnMicrographPixelSize #2\n  1  1.0\n\n# version 30001\n\ndata_particles\n\nloop_ \n_rlnCoordinateX #1 \n_rlnCoordinateY #2\n_rlnMicrographName #3\n 10.0 20.0 mic1.mrc\n 11.0 21.0 \"mic 2.mrc\"\n# a comment\n 12.0 22.0 mic1.mrc\n \n";

    #[test]
    fn index_finds_blocks_labels_and_rows() {
        let data = RELION31.as_bytes();
        let blocks = index(data).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].name, "optics");
        let p = blocks[1].table.as_ref().unwrap();
        assert_eq!(p.labels, vec!["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName"]);
        assert_eq!(p.first_row_line, 19);
        let rows = std::str::from_utf8(&data[p.rows.clone()]).unwrap();
        assert_eq!(rows, " 10.0 20.0 mic1.mrc\n 11.0 21.0 \"mic 2.mrc\"\n# a comment\n 12.0 22.0 mic1.mrc\n");
        assert_eq!(blocks[0].span.end, blocks[1].span.start);
    }

    #[test]
    fn a_byte_order_mark_before_the_first_block_is_skipped() {
        // Issue 11 item 13: files saved by Windows editors start with EF BB BF.
        let data = [b"\xef\xbb\xbfdata_particles\nloop_\n_rlnCoordinateX #1\n1.0\n".as_slice()].concat();
        let blocks = index(&data).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].name, "particles");
        let bom_later = b"data_a\n\xef\xbb\xbf_x 1\n";
        assert!(index(bom_later).is_err(), "only the file's first bytes may be a byte-order mark");
    }

    #[test]
    fn scan_parses_numbers_and_keys() {
        let data = RELION31.as_bytes();
        let blocks = index(data).unwrap();
        let t = blocks[1].table.as_ref().unwrap();
        let scan = scan_rows(data, t, &[1, 0], Some(2)).unwrap();
        assert_eq!(scan.numbers, vec![vec![20.0, 21.0, 22.0], vec![10.0, 11.0, 12.0]]);
        assert_eq!(scan.keys, vec![0, 1, 0]);
        assert_eq!(scan.key_names, vec![b"mic1.mrc".to_vec(), b"\"mic 2.mrc\"".to_vec()]);
        let mut out = Vec::new();
        write_rows(data, &scan.spans, |i| i != 1, &RowEdit::default(), &mut out).unwrap();
        assert_eq!(out, b" 10.0 20.0 mic1.mrc\n 12.0 22.0 mic1.mrc\n");
    }

    #[test]
    fn errors_carry_line_numbers() {
        let data = b"data_\nloop_\n_a\n_b\n1 2\n3\n";
        let blocks = index(data).unwrap();
        let err = scan_rows(data, blocks[0].table.as_ref().unwrap(), &[0], None).unwrap_err();
        assert_eq!(err, StarError::FieldCount { line: 6, expected: 2, got: 1 });
        let data = b"data_\nloop_\n_a\n_b\n1 2\r\nx 4\r\n";
        let blocks = index(data).unwrap();
        let err = scan_rows(data, blocks[0].table.as_ref().unwrap(), &[0], None).unwrap_err();
        assert_eq!(err, StarError::NotANumber { line: 6, label: "a".into(), text: "x".into() });
        assert!(matches!(index(b"hello\n"), Err(StarError::Unexpected { line: 1, .. })));
    }

    #[test]
    fn many_chunks_merge_in_order() {
        let mut s = String::from("data_p\nloop_\n_x\n_m\n");
        for i in 0..300_000 {
            s.push_str(&format!("{i} m{}\n", i % 7));
        }
        let data = s.as_bytes();
        let blocks = index(data).unwrap();
        let scan = scan_rows(data, blocks[0].table.as_ref().unwrap(), &[0], Some(1)).unwrap();
        assert_eq!(scan.spans.len(), 300_000);
        assert!(scan.numbers[0].iter().enumerate().all(|(i, &v)| v == i as f64));
        assert!(scan
            .keys
            .iter()
            .enumerate()
            .all(|(i, &k)| scan.key_names[k as usize] == format!("m{}", i % 7).as_bytes()));
    }

    #[test]
    fn fast_and_quote_aware_tokenizers_agree() {
        let alphabet = b" \t\ra1.-x";
        let mut state = 99u64;
        for len in (0..300).chain([64, 128, 129, 511, 512, 513]) {
            for _ in 0..20 {
                let line: Vec<u8> = (0..len)
                    .map(|_| {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        alphabet[(state >> 33) as usize % alphabet.len()]
                    })
                    .collect();
                let (mut fast, mut slow) = (Vec::new(), Vec::new());
                let n_fast = for_each_unquoted_field(&line, &mut |k, f| fast.push((k, f.to_vec()))).unwrap();
                let n_slow = for_each_field_quoted(&line, |k, f| slow.push((k, f.to_vec()))).unwrap();
                assert_eq!((n_fast, &fast), (n_slow, &slow), "{:?}", String::from_utf8_lossy(&line));
                // The same line inside a buffer whose next bytes are text: they are not fields.
                let buf = [&b"x1 "[..], &line, b"y2z3", &[b'w'; 70]].concat();
                let mut within = Vec::new();
                let n_within = for_each_field_within(&buf, 3..3 + line.len(), &mut |k, f| within.push((k, f.to_vec())));
                assert_eq!((n_within, &within), (n_slow, &slow), "{:?}", String::from_utf8_lossy(&line));
            }
        }
        assert_eq!(for_each_unquoted_field(b"a \"b c\"", &mut |_, _| panic!()), None);
    }

    /// The rows of the only loop of `data`, scanned for no column.
    fn scan_all(data: &[u8]) -> RowScan {
        let blocks = index(data).unwrap();
        scan_rows(data, blocks[0].table.as_ref().unwrap(), &[], None).unwrap()
    }

    #[test]
    fn rewrite_changes_one_field_only() {
        let data = b"data_\nloop_\n_a\n_g\n_n\n1.5   1  x\n2.5\t2 y";
        let scan = scan_all(data);
        let map: HashMap<Vec<u8>, Vec<u8>> = [(b"1".to_vec(), b"17".to_vec())].into_iter().collect();
        let mut out = Vec::new();
        let edit =
            RowEdit { rewrite: Some(ColumnRewrite { column: 1, map: &map }), columns: None, ..Default::default() };
        write_rows(data, &scan.spans, |_| true, &edit, &mut out).unwrap();
        assert_eq!(out, b"1.5   17  x\n2.5\t2 y\n");
    }

    #[test]
    fn values_set_one_field_of_chosen_rows() {
        // Rows 0 and 1 take texts 2 and 1, row 2 keeps its text (choice 0); spacing, the
        // other fields and the CRLF stay as they were.
        let data = b"data_\nloop_\n_a\n_h\n_n\n1.5   1  x\r\n2.5\t2 y\n3.5 2.000000 z";
        let scan = scan_all(data);
        let texts = [b"1".to_vec(), b"2".to_vec()];
        let choice = [2u8, 1, 0];
        let edit =
            RowEdit { values: Some(RowValues { column: 1, choice: &choice, texts: &texts }), ..Default::default() };
        let mut out = Vec::new();
        write_rows(data, &scan.spans, |_| true, &edit, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "1.5   2  x\r\n2.5\t1 y\n3.5 2.000000 z\n");
        let mut only_last = Vec::new();
        write_rows(data, &scan.spans, |i| i != 1, &edit, &mut only_last).unwrap();
        assert_eq!(String::from_utf8(only_last).unwrap(), "1.5   2  x\r\n3.5 2.000000 z\n");
    }

    #[test]
    fn columns_are_reordered_with_each_field_unchanged() {
        // Fields of different widths and spacing, a quoted name, CRLF, and a last row
        // without a terminator; output in the order (c, a, b).
        let data = b"data_\nloop_\n_a\n_b\n_c\n   1.500000     12 \"my mic.mrc\"\r\n2.5e-07\t3 m2.mrc  \n-0 4 m3";
        let scan = scan_all(data);
        let columns = [2, 0, 1];
        let edit = RowEdit { columns: Some(&columns), ..Default::default() };
        let mut out = Vec::new();
        write_rows(data, &scan.spans, |_| true, &edit, &mut out).unwrap();
        // "2.5e-07" had no white space before it: it gets one space.
        let expected = " \"my mic.mrc\"   1.500000     12\r\n m2.mrc 2.5e-07\t3\n m3 -0 4\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn a_subset_of_columns_with_a_rewrite() {
        let data = b"data_\nloop_\n_a\n_g\n_n\n1.5   1  x\n2.5\t2 y\n";
        let scan = scan_all(data);
        let map: HashMap<Vec<u8>, Vec<u8>> = [(b"1".to_vec(), b"17".to_vec())].into_iter().collect();
        let columns = [2, 1];
        let edit = RowEdit {
            rewrite: Some(ColumnRewrite { column: 1, map: &map }),
            columns: Some(&columns),
            ..Default::default()
        };
        let mut out = Vec::new();
        write_rows(data, &scan.spans, |i| i < 2, &edit, &mut out).unwrap();
        assert_eq!(out, b"  x   17\n y\t2\n"); // each field keeps the white space before it
    }

    #[test]
    fn split_rereads_rows_and_releases_every_byte_once() {
        // Rows of many windows, a comment among them, a last row without a terminator.
        let mut s = String::from("data_p\nloop_\n_x\n_m\n");
        let n = 3 * WINDOW / 10;
        for i in 0..n {
            s.push_str(&format!("{i:>3} m\n"));
            if i == 7 {
                s.push_str("# comment\n");
            }
        }
        s.push_str("last m");
        let data = s.as_bytes();
        let table = index(data).unwrap()[0].table.clone().unwrap();
        let keep: Vec<bool> = (0..=n).map(|i| i % 3 != 1).collect();
        let released = std::sync::Mutex::new(Vec::new());
        let record = |r: Range<usize>| released.lock().unwrap().push(r);
        let (mut kept, mut rejected) = (Vec::new(), Vec::new());
        write_split(data, &table, &keep, &RowEdit::default(), &mut kept, &mut rejected, &record).unwrap();
        // The oracle: the rows' lines, comment left out, each to the file its flag names.
        let lines: Vec<&str> = s.lines().skip(4).filter(|l| !l.starts_with('#')).collect();
        let expect = |want: bool| -> Vec<u8> {
            lines
                .iter()
                .zip(&keep)
                .filter(|(_, &k)| k == want)
                .flat_map(|(l, _)| format!("{l}\n").into_bytes())
                .collect()
        };
        assert!(kept == expect(true) && rejected == expect(false));
        // Released in order, without gaps, up to the end, in more than one window.
        let released = released.into_inner().unwrap();
        assert!(released.len() > 2);
        assert_eq!(released[0].start, table.rows.start);
        assert!(released.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(released.last().unwrap().end, data.len());
        // A mask of another length is refused.
        let err = write_split(data, &table, &keep[1..], &RowEdit::default(), &mut kept, &mut rejected, &keep_all);
        assert!(err.is_err());
    }

    #[test]
    fn binary_files_are_refused_by_offset() {
        assert_eq!(index(b"\x1f\x8b\x08\x00 gzip"), Err(StarError::Binary { offset: 0 }));
        let mut mrc = vec![0u8; 1024];
        mrc[0..4].copy_from_slice(&4096u32.to_le_bytes());
        assert_eq!(index(&mrc), Err(StarError::Binary { offset: 0 })); // 4096 little-endian: 00 10 00 00
                                                                       // Text first, then binary far into the file (beyond the first parallel chunk).
        let mut text = b"data_\nloop_\n_a\n".to_vec();
        text.extend(std::iter::repeat_n(b"1.0\n".as_slice(), 400_000).flatten());
        let at = text.len();
        text.extend_from_slice(b"\x00\x01");
        assert_eq!(index(&text), Err(StarError::Binary { offset: at }));
        // Binary in the middle: found when it breaks the syntax (index or scan).
        let mut middle = b"data_\nloop_\n_a\n_b\n".to_vec();
        middle.extend(std::iter::repeat_n(b"1.0 2\n".as_slice(), 20_000).flatten());
        let at = middle.len();
        middle.extend_from_slice(b"\x001.0 2\n1 \x02\n");
        middle.extend(std::iter::repeat_n(b"1.0 2\n".as_slice(), 20_000).flatten());
        let blocks = index(&middle).unwrap();
        let err = scan_rows(&middle, blocks[0].table.as_ref().unwrap(), &[0], None).unwrap_err();
        assert_eq!(err, StarError::Binary { offset: at + 9 }); // the \x02 of the short row
                                                               // A line of zeros ends the loop (control bytes are white space); the next row does not fit.
        middle[at..at + 7].copy_from_slice(b"\x00\x00\x00\x00\x00\x00\n");
        assert_eq!(index(&middle), Err(StarError::Binary { offset: at }));
        // Tab, vertical tab, form feed, CR and UTF-8 are text.
        assert!(index("data_\x0b\x0c\t\r\n# Å\n".as_bytes()).is_ok());
        assert_eq!(StarError::Binary { offset: 7 }.to_string(), "not a text STAR file: binary content at byte 7");
    }

    #[test]
    fn long_lines_are_cut_in_messages() {
        let line = "x".repeat(5000);
        let Err(StarError::Unexpected { text, .. }) = index(line.as_bytes()) else { panic!() };
        assert_eq!(text, format!("{}...", "x".repeat(60)));
    }
}
