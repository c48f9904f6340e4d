//! Rows copied out again, byte for byte, many output files at a time.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use rayon::prelude::*;

use super::sources::SourceCache;
use crate::errors::PicksError;
use crate::io::star::{write_row_reordered, RowFields};
use crate::parallel;

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
pub(super) struct SpanParts<'a> {
    pub(super) parts: &'a [RowSpans<'a>],
    /// `firsts[p]`: the index of part `p`'s first row; one more entry for the end.
    pub(super) firsts: Vec<usize>,
}

impl<'a> SpanParts<'a> {
    pub(super) fn new(parts: &'a [RowSpans<'a>]) -> Self {
        let mut firsts = vec![0];
        for part in parts {
            firsts.push(firsts.last().unwrap() + part.files.len());
        }
        SpanParts { parts, firsts }
    }

    /// (source, start, end) of row `i`.
    #[inline]
    pub(super) fn get(&self, i: usize) -> (u32, u64, u64) {
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
pub(super) struct Members {
    pub(super) offsets: Vec<usize>,
    pub(super) rows: Vec<u32>,
}

impl Members {
    pub(super) fn of(n_outputs: usize, target: &[u32]) -> Members {
        let (rows, offsets) = parallel::order_by_key(target.len(), n_outputs, |i| target[i] as usize);
        Members { offsets, rows }
    }

    pub(super) fn of_output(&self, o: usize) -> &[u32] {
        &self.rows[self.offsets[o]..self.offsets[o + 1]]
    }
}

/// Outputs grouped so that no source file is needed by two groups: the connected parts of
/// the graph linking outputs to their sources (union-find over sources). Outputs without
/// rows are groups of their own.
pub(super) fn tasks_sharing_sources(members: &Members, spans: &SpanParts, n_sources: usize) -> Vec<Vec<usize>> {
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

pub(super) fn append_rows(
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
pub(super) fn push_fixed6(line: &mut Vec<u8>, v: f64) {
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
