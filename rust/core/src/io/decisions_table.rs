//! The record of every rejection (`decisions.csv`) of a job decided in two passes (several
//! inputs, or one the scan could not split as it read): each rejected row, the kept row it
//! lost to, their distance (and angle) and the rule, in the bytes the Python record writes
//! (`jobs/particles/record.py`'s `table` and `write_decisions`). The job hands over 4-byte
//! rows and partners, a rule code, a micrograph and the distances of the rejected rows only;
//! the particles' names are told from the image runs the scan already holds (as the Python
//! record tells them: `formats/star/particles._named_images`), never gathered into texts.
//! Written on a thread of its own while the kept and rejected rows are.

use std::io::{self, Write};

use crate::images::{listed, run_starts, ImageRun, RunsMismatch};
use crate::io::decisions_csv::{csv_field, decimal, escaped_name, Scratch, WRITE_AT};

/// No partner (a rule that names none: a consensus, a region, an earlier round).
pub const NO_PARTNER: u32 = u32::MAX;

/// The runs' stack names, as a scan keeps them: the names one after the other, where each
/// run's name ends, and the length of each run's `index@` prefix (0: none).
#[derive(Clone, Debug, Default)]
pub struct StackNames {
    pub bytes: Vec<u8>,
    pub ends: Vec<u64>,
    pub prefixes: Vec<u8>,
}

/// Each named row's image: its run and its index in its stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Image {
    pub run: u32,
    pub index: u32,
}

/// The images of `rows` (each below the runs' rows; [`NO_PARTNER`]: none), told from the
/// runs and the listed indices of the runs that are not consecutive.
pub fn images_of(runs: &[ImageRun], indices: &[u32], rows: &[u32]) -> Result<Vec<Option<Image>>, RunsMismatch> {
    let starts = run_starts(runs, indices)?;
    Ok(rows
        .iter()
        .map(|&row| {
            (row != NO_PARTNER).then(|| {
                let k = starts.partition_point(|s| s.row <= row as usize) - 1; // (row 0 starts run 0)
                let index = runs[k].index(listed(&runs[k], starts[k], indices), row as usize - starts[k].row);
                Image { run: k as u32, index }
            })
        })
        .collect())
}

/// The particle names of the record, of each rejected row and of its partner.
#[derive(Clone, Debug)]
pub enum Names {
    /// Each row's image, and the runs' stack names.
    Images { rows: Vec<Option<Image>>, partners: Vec<Option<Image>>, stacks: StackNames },
    /// Each row's name as a text and a number after it (`uid 12`, `Movies/a.star: line 7`):
    /// an index into `texts` ([`NO_PARTNER`]: none) and the number.
    Numbered { texts: Vec<Vec<u8>>, rows: Vec<(u32, u64)>, partners: Vec<(u32, u64)> },
}

/// The record's columns, as the job decided them (one entry a rejected row, in row order).
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// Each input's name, and the first row of each input, then the rows in all (the rows
    /// of one input follow each other). Names are bytes: a file name that is not UTF-8 is
    /// written as the file system holds it (as Python's `surrogateescape` writes it).
    pub inputs: Vec<Vec<u8>>,
    pub bounds: Vec<u64>,
    pub rows: Vec<u32>,
    /// The kept row each lost to ([`NO_PARTNER`]: none).
    pub partners: Vec<u32>,
    /// Each row's micrograph (an index into `micrograph_names`).
    pub micrographs: Vec<u32>,
    pub micrograph_names: Vec<Vec<u8>>,
    /// Å between the two centres (NaN: none written).
    pub distance: Vec<f64>,
    /// Degrees between the two orientations, where `--max-angle` is asked (NaN: none written).
    pub angle: Option<Vec<f64>>,
    /// Each row's rule: an index into `rule_names`; `kept_by` is what the kept input column
    /// says under a rule without a partner.
    pub rule: Vec<u8>,
    pub rule_names: Vec<String>,
    pub kept_by: Vec<String>,
    pub names: Option<Names>,
}

/// What is wrong with a table handed over (its columns' lengths, an index out of range).
#[derive(Debug, PartialEq, Eq)]
pub struct BadTable(pub String);

impl std::fmt::Display for BadTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the record's columns: {}", self.0)
    }
}

impl std::error::Error for BadTable {}

impl Table {
    /// Refuses columns of other lengths than the rows', and indices beyond what they index.
    pub fn check(&self) -> Result<(), BadTable> {
        let n = self.rows.len();
        let lengths = [self.partners.len(), self.micrographs.len(), self.distance.len(), self.rule.len()];
        let angles = self.angle.as_ref().map_or(n, Vec::len);
        if lengths.iter().chain([&angles]).any(|&len| len != n) {
            return Err(BadTable(format!("{n} rows, other columns of lengths {lengths:?} and {angles}")));
        }
        let total = self.bounds.last().copied().unwrap_or(0);
        if self.bounds.len() != self.inputs.len() + 1 || self.bounds.windows(2).any(|w| w[0] > w[1]) {
            return Err(BadTable(format!("{} inputs, bounds {:?}", self.inputs.len(), self.bounds)));
        }
        if self.rows.iter().chain(self.partners.iter().filter(|&&p| p != NO_PARTNER)).any(|&r| u64::from(r) >= total) {
            return Err(BadTable(format!("a row beyond the {total} rows")));
        }
        if self.micrographs.iter().any(|&m| m as usize >= self.micrograph_names.len()) {
            return Err(BadTable(format!("a micrograph beyond the {} named", self.micrograph_names.len())));
        }
        if self.rule_names.len() != self.kept_by.len() || self.rule.iter().any(|&r| r as usize >= self.rule_names.len())
        {
            return Err(BadTable(format!("a rule beyond the {} named", self.rule_names.len())));
        }
        match &self.names {
            Some(Names::Images { rows, partners, stacks }) => {
                let runs = stacks.ends.len();
                if rows.len() != n || partners.len() != n || stacks.prefixes.len() != runs {
                    return Err(BadTable("the names' columns differ in length".into()));
                }
                let beyond = rows.iter().chain(partners).flatten().any(|i| i.run as usize >= runs);
                if beyond || stacks.ends.iter().any(|&e| e as usize > stacks.bytes.len()) {
                    return Err(BadTable("a stack name beyond the names given".into()));
                }
            }
            Some(Names::Numbered { texts, rows, partners }) => {
                if rows.len() != n || partners.len() != n {
                    return Err(BadTable("the names' columns differ in length".into()));
                }
                let mut named = rows.iter().chain(partners).filter(|(t, _)| *t != NO_PARTNER);
                if named.any(|&(t, _)| t as usize >= texts.len()) {
                    return Err(BadTable(format!("a name beyond the {} texts given", texts.len())));
                }
            }
            None => {}
        }
        Ok(())
    }
}

/// The record's header (`record.table`'s columns: `angle_deg` only with angles).
fn header(angles: bool) -> &'static [u8] {
    match angles {
        true => b"input,row,particle,micrograph,kept_input,kept_row,kept_particle,distance_A,angle_deg,rule\n",
        false => b"input,row,particle,micrograph,kept_input,kept_row,kept_particle,distance_A,rule\n",
    }
}

/// Writes `table` (checked: [`Table::check`]) to `out`, as `record.write_decisions` writes it.
pub fn write_table<W: Write>(table: &Table, mut out: W) -> io::Result<()> {
    out.write_all(header(table.angle.is_some()))?;
    let field = |text: &[u8]| {
        let mut f = Vec::new();
        csv_field(&mut f, &escaped_name(text));
        f
    };
    let inputs: Vec<Vec<u8>> = table.inputs.iter().map(|t| field(t)).collect();
    let micrographs: Vec<Vec<u8>> = table.micrograph_names.iter().map(|t| field(t)).collect();
    let rules: Vec<Vec<u8>> = table.rule_names.iter().map(|t| field(t.as_bytes())).collect();
    let kept_by: Vec<Vec<u8>> = table.kept_by.iter().map(|t| field(t.as_bytes())).collect();
    let named = Named::of(table.names.as_ref());
    let mut scratch = Scratch::default();
    let mut line = Vec::with_capacity(WRITE_AT + (1 << 12));
    for (k, &row) in table.rows.iter().enumerate() {
        let partner = table.partners[k];
        let input = table.bounds.partition_point(|&b| b <= u64::from(row)) - 1;
        line.extend_from_slice(&inputs[input]);
        line.push(b',');
        decimal(&mut line, u64::from(row) - table.bounds[input] + 1);
        line.push(b',');
        named.row(&mut line, table.names.as_ref(), k, false, &mut scratch);
        line.push(b',');
        line.extend_from_slice(&micrographs[table.micrographs[k] as usize]);
        line.push(b',');
        if partner != NO_PARTNER {
            let input = table.bounds.partition_point(|&b| b <= u64::from(partner)) - 1;
            line.extend_from_slice(&inputs[input]);
            line.push(b',');
            decimal(&mut line, u64::from(partner) - table.bounds[input] + 1);
            line.push(b',');
            named.row(&mut line, table.names.as_ref(), k, true, &mut scratch);
        } else {
            line.extend_from_slice(&kept_by[table.rule[k] as usize]);
            line.extend_from_slice(b",,");
        }
        line.push(b',');
        number(&mut line, table.distance[k], &mut scratch);
        if let Some(angle) = &table.angle {
            line.push(b',');
            number(&mut line, angle[k], &mut scratch);
        }
        line.push(b',');
        line.extend_from_slice(&rules[table.rule[k] as usize]);
        line.push(b'\n');
        if line.len() >= WRITE_AT {
            out.write_all(&line)?;
            line.clear();
        }
    }
    out.write_all(&line)?;
    out.flush()
}

/// A float column's field: Python's `repr`, empty for NaN (no partner).
fn number(line: &mut Vec<u8>, x: f64, scratch: &mut Scratch) {
    match x {
        x if x.is_nan() => {}
        x if x.is_infinite() => line.extend_from_slice(if x > 0.0 { b"inf" } else { b"-inf" }),
        x => scratch.repr(line, x),
    }
}

/// The names' texts made once: each run's stack (decoded) and prefix, or each numbered
/// name's text.
enum Named {
    Stacks(Vec<(Vec<u8>, u8, bool)>),
    Texts(Vec<Vec<u8>>),
    None,
}

impl Named {
    fn of(names: Option<&Names>) -> Named {
        match names {
            Some(Names::Images { stacks, .. }) => Named::Stacks(stack_texts(stacks)),
            Some(Names::Numbered { texts, .. }) => Named::Texts(texts.clone()),
            None => Named::None,
        }
    }

    /// The name of rejected row `k` (or of its partner) as a field; nothing without names.
    fn row(&self, line: &mut Vec<u8>, names: Option<&Names>, k: usize, partner: bool, scratch: &mut Scratch) {
        match (self, names) {
            (Named::Stacks(stacks), Some(Names::Images { rows, partners, .. })) => {
                particle_name(line, if partner { partners[k] } else { rows[k] }, stacks, scratch);
            }
            (Named::Texts(texts), Some(Names::Numbered { rows, partners, .. })) => {
                let (text, number) = if partner { partners[k] } else { rows[k] };
                if text != NO_PARTNER {
                    let name = &mut scratch.name;
                    name.clear();
                    name.extend_from_slice(&texts[text as usize]);
                    decimal(name, number);
                    csv_field(line, &escaped_name(name)); // (a file's name not UTF-8: as the Python record writes it)
                }
            }
            _ => {}
        }
    }
}

/// Each run's stack name as the Python record decodes it (UTF-8, an invalid byte replaced),
/// its prefix's length, and whether the CSV writes it as it is (no quotes).
fn stack_texts(stacks: &StackNames) -> Vec<(Vec<u8>, u8, bool)> {
    let mut start = 0usize;
    let mut texts = Vec::with_capacity(stacks.ends.len());
    for (&end, &prefix) in stacks.ends.iter().zip(&stacks.prefixes) {
        let bytes = &stacks.bytes[start..end as usize];
        let text = String::from_utf8_lossy(bytes).into_owned().into_bytes();
        let mut field = Vec::with_capacity(text.len());
        csv_field(&mut field, &text);
        let plain = field == text;
        texts.push((text, prefix, plain));
        start = end as usize;
    }
    texts
}

/// A particle's name as `_named_images` tells it: its index padded with zeros to its run's
/// `index@` prefix (less the `@`), `@`, and the stack; the stack alone without a prefix.
fn particle_name(line: &mut Vec<u8>, image: Option<Image>, stacks: &[(Vec<u8>, u8, bool)], scratch: &mut Scratch) {
    let Some(image) = image else { return };
    let (stack, prefix, plain) = &stacks[image.run as usize];
    // A stack the CSV does not quote: nor the name (its index and `@` never are), made in the
    // line itself; else in the scratch, then quoted.
    let name = if *plain { &mut *line } else { &mut scratch.name };
    if !*plain {
        name.clear();
    }
    let at = name.len();
    if *prefix > 0 {
        decimal(name, u64::from(image.index));
        let width = usize::from(prefix - 1);
        let digits = name.len() - at;
        if digits < width {
            name.splice(at..at, std::iter::repeat_n(b'0', width - digits));
        }
        name.push(b'@');
    }
    name.extend_from_slice(stack);
    if !*plain {
        csv_field(line, &scratch.name);
    }
}

#[cfg(test)]
mod tests;
