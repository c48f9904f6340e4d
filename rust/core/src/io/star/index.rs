//! The index of a STAR file: its blocks, their pairs and loops, and where each loop's rows
//! are; a one-pass variant that indexes while a scan reads the rows of one loop.

use memchr::memchr;

use super::scan::{scan_rows_streaming, Extent, RowScan, RowStream, ScanRequest};
use super::{
    ends_rows, excerpt, find_binary, is_comment, is_space, keep_all, text, trim, Block, Lines, Release, Table, WINDOW,
};
use crate::errors::{StarError, MAX_TEXT};

/// The label of a `_label #N` or `_label value` line, and the rest of the line.
pub(super) fn split_label(t: &[u8]) -> (String, String) {
    let t = &t[1..];
    let k = t.iter().position(|&b| is_space(b)).unwrap_or(t.len());
    (text(&t[..k]), text(trim(&t[k..])))
}

#[derive(Default)]
pub(super) enum State {
    #[default]
    Outside,
    InBlock,
    Labels,
    Rows,
}

/// How much of a file's start and end is checked for binary content before indexing it.
pub(super) const EDGE: usize = 1 << 16;

/// Binary content in the first or last `EDGE` bytes (an MRC or gzip header, a file padded
/// with zeros after a crash), without reading the whole file.
pub(super) fn binary_at_edges(data: &[u8]) -> Option<usize> {
    let head = &data[..data.len().min(EDGE)];
    let tail_start = data.len().saturating_sub(EDGE).max(head.len());
    find_binary(head).or_else(|| find_binary(&data[tail_start..]).map(|k| tail_start + k))
}

/// Prefers "binary content" to a syntax error when the file holds binary bytes anywhere:
/// the error's line would be binary garbage. Only runs on the error path.
pub(super) fn binary_or(data: &[u8], err: StarError) -> StarError {
    find_binary(data).map_or(err, |offset| StarError::Binary { offset })
}

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
/// and the distinct key texts by id. Errors are those of [`index`] then [`scan_rows`](super::scan_rows).
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
pub(super) fn line_end_after(data: &[u8], at: usize) -> usize {
    if at >= data.len() {
        return data.len();
    }
    memchr(b'\n', &data[at..]).map_or(data.len(), |k| at + k + 1)
}

pub(super) fn index_text(data: &[u8], defer_at: Option<LoopOf>, release: Release) -> Result<Indexed, StarError> {
    let mut indexer = Indexer::default();
    let deferred = indexer.run(data, 0, defer_at, release)?;
    Ok(Indexed { blocks: indexer.blocks, deferred })
}

/// The indexer's state between lines: it can stop at a loop's first row and resume at any
/// line start after it (once a scan has found where the loop ends).
#[derive(Default)]
pub(super) struct Indexer {
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
        for (start, end, next) in Lines::new(data, from) {
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
        if t.len() > MAX_TEXT && !is_comment(t) {
            let what = "a header line (a block name, a label or a value)".to_string();
            return Err(StarError::TooLong { line: line_no, what, len: t.len() });
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
