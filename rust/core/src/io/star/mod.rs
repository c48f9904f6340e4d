//! STAR files as RELION writes them, read without copying: an index of the blocks, a
//! parallel scan of one loop that parses only the columns a job needs, and a writer that
//! copies selected rows byte for byte.
//!
//! Syntax handled: `data_NAME` blocks holding either `_label value` pairs or one `loop_`
//! with `_label [#N]` lines and rows; comments start with `#` or `;`; a loop ends at a blank
//! line, a new block or the end of the file. Fields may be quoted with `"` or `'`.

use std::ops::Range;

use memchr::{memchr, memchr2};

use rayon::prelude::*;

mod fields;
mod index;
mod masks;
mod numbers;
mod scan;
#[cfg(test)]
mod tests;
mod write;

pub use fields::split_row;
pub(crate) use fields::{for_each_field, nth_field};
pub use index::{index, index_header, index_releasing, index_scanning, Indexed, LoopOf};
pub(crate) use numbers::parse_number;
pub use scan::{scan_rows, scan_rows_streaming, scan_rows_with_missing, Extent, RowScan, RowStream, ScanRequest};
pub use write::{write_row_reordered, write_rows, write_split, ColumnRewrite, RowEdit, RowFields, RowValues};

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

/// Splits `data` from `pos` into lines: yields (start, end_of_content, end_with_terminator).
///
/// STAR's lines end in LF (a CR before it is white space to the field splitter). With
/// `ANY_ENDS` (picker files), CRLF and a lone CR (classic Mac OS) end a line too, and `end`
/// stops before them: a `.box` written with CR-only line ends is one line to an LF reader,
/// its picks one row of many fields, all but the first lost.
pub(crate) struct Lines<'a, const ANY_ENDS: bool = false> {
    pub(crate) data: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Lines<'a> {
    /// STAR's lines of `data` from byte `pos`.
    pub(crate) fn new(data: &'a [u8], pos: usize) -> Self {
        Lines { data, pos }
    }
}

impl<'a> Lines<'a, true> {
    /// The lines of a picker file, whatever its line ends.
    pub(crate) fn any_ends(data: &'a [u8]) -> Self {
        Lines { data, pos: 0 }
    }
}

impl<const ANY_ENDS: bool> Iterator for Lines<'_, ANY_ENDS> {
    type Item = (usize, usize, usize);
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let start = self.pos;
        let rest = &self.data[start..];
        let found = if ANY_ENDS { memchr2(b'\n', b'\r', rest) } else { memchr(b'\n', rest) };
        let Some(k) = found else {
            self.pos = self.data.len();
            return Some((start, self.pos, self.pos));
        };
        let end = start + k;
        let crlf = ANY_ENDS && self.data[end] == b'\r' && self.data.get(end + 1) == Some(&b'\n');
        self.pos = end + if crlf { 2 } else { 1 };
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

/// Whether the trimmed line `t`, met among a loop's rows, ends them: a blank line, a new
/// block, loop or label (a comment does not).
fn ends_rows(t: &[u8]) -> bool {
    t.is_empty() || t.starts_with(b"data_") || t.starts_with(b"loop_") || t.starts_with(b"_")
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
