//! Writers that copy chosen rows byte for byte, with a column rewritten, set or reordered
//! where asked.

use std::collections::HashMap;
use std::io::{self, Write};

use super::{for_each_field, is_comment, trim, Lines, Release, Table, WINDOW};

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
    for (a, end, b) in Lines::new(&data[rows.clone()], 0) {
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

pub(super) fn flush(data: &[u8], run: &mut Option<(usize, usize)>, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
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
pub(super) struct FieldSpan {
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
pub(super) fn write_edited(
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
