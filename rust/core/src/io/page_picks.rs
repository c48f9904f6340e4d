//! The files of picks of the page of every micrograph (`micrographs/picks_NNNNN.js`, written
//! with `--plot`): each holds the picks of a run of micrographs, every column's integers in
//! the narrowest type that holds them, in base64, as the page's script reads them (the format
//! is python/cryodedup/report/micrograph_page.py's, byte for byte). Ten million picks make
//! 110 MB of them: made and written here, the files spread over the cores, without Python's
//! lock (in Python, a numpy call per column and file and two writer threads handing the lock
//! back and forth cost 0.6 s at 10M).

use std::fmt::Write as _;
use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rayon::prelude::*;

use crate::algo::points::GroupId;

/// A column of small non-negative integers (the inputs, the species) in the type it came in.
#[derive(Clone, Copy)]
pub enum Ids<'a> {
    U8(&'a [u8]),
    U32(&'a [u32]),
    I32(&'a [i32]),
}

impl Ids<'_> {
    fn len(&self) -> usize {
        match self {
            Ids::U8(v) => v.len(),
            Ids::U32(v) => v.len(),
            Ids::I32(v) => v.len(),
        }
    }

    /// The values of the rows at places `begin..end` (the type matched once, not a row).
    fn gathered<G: GroupId>(self, picks: &PagePicks<G>, begin: usize, end: usize) -> Vec<i32> {
        match self {
            Ids::U8(v) => gather(picks, begin, end, |row| i32::from(v[row])),
            Ids::U32(v) => gather(picks, begin, end, |row| v[row] as i32),
            Ids::I32(v) => gather(picks, begin, end, |row| v[row]),
        }
    }
}

/// Every pick's facts the files hold, rows as the set holds them.
pub struct PagePicks<'a, G: GroupId> {
    /// Each row's micrograph.
    pub groups: &'a [G],
    /// Each row's centre, Å (`dim` numbers a row: 2, or 3 in a tomogram).
    pub centres: &'a [f64],
    pub dim: usize,
    /// Each row's input, and species where there are several.
    pub inputs: Ids<'a>,
    pub species: Option<Ids<'a>>,
    /// The rejected rows (ascending), each one's rule (an index into the page's rules) and
    /// partner (the kept row it lost to, or -1).
    pub rejected: &'a [i64],
    pub rule: &'a [i8],
    pub partner: &'a [i64],
    /// The rows micrograph by micrograph, where they are not so already.
    pub order: Option<&'a [i64]>,
    /// Each micrograph's first place in micrograph order, and the end (micrographs + 1 entries).
    pub starts: &'a [i64],
}

/// A file that could not be written, or arguments the caller should have checked.
#[derive(Debug)]
pub enum PageError {
    Write { path: PathBuf, error: std::io::Error },
    Call(String),
}

/// The widest type of each column as the page names it (a file names each column's own).
const WIDEST: [(char, &str); 7] =
    [('x', "<i4"), ('y', "<i4"), ('z', "<i4"), ('i', "<i2"), ('s', "<i4"), ('r', "<i1"), ('p', "<i4")];

/// The types a column may be narrowed to, narrowest first, with their limits.
const NARROW: [(&str, i32, i32); 4] = [
    ("<i1", i8::MIN as i32, i8::MAX as i32),
    ("<i2", i16::MIN as i32, i16::MAX as i32),
    ("<u2", 0, u16::MAX as i32),
    ("<i4", i32::MIN, i32::MAX),
];

/// Writes `paths[k]`: the picks of micrographs `k * chunk` to `(k + 1) * chunk` (the last
/// file, to the end), one file for each run of `chunk` micrographs.
pub fn write_picks_files<G: GroupId>(picks: &PagePicks<G>, chunk: usize, paths: &[PathBuf]) -> Result<(), PageError> {
    let places = Places::of(picks)?;
    let micrographs = picks.starts.len() - 1;
    if chunk == 0 || paths.len() != micrographs.div_ceil(chunk) {
        return Err(PageError::Call(format!("{} paths for {micrographs} micrographs of {chunk}", paths.len())));
    }
    paths.par_iter().enumerate().try_for_each(|(k, path)| {
        let first = k * chunk;
        let text = picks_file(picks, &places, k, first, (first + chunk).min(micrographs));
        std::fs::write(path, text).map_err(|error| PageError::Write { path: path.clone(), error })
    })
}

/// The text of file `k` alone, holding every micrograph of `picks` (a run of the set's
/// micrographs, its rows numbered from the run's first): what [`write_picks_files`] writes
/// as file `k` of the whole set (a one-pass scan's files, made as their micrographs are decided).
pub fn picks_file_text<G: GroupId>(picks: &PagePicks<G>, k: usize) -> Result<Vec<u8>, PageError> {
    let places = Places::of(picks)?;
    Ok(picks_file(picks, &places, k, 0, picks.starts.len() - 1))
}

/// Where each row lies in micrograph order, and which rejected rows each run of places holds.
struct Places {
    /// Each row's place (None: the rows are in micrograph order already).
    of_row: Option<Vec<u32>>,
    /// The rejected entries in order of place (None: in that order already).
    by_place: Option<Vec<u32>>,
    /// The place of each entry of `by_place` (or of the rejected rows).
    place: Vec<u32>,
}

impl Places {
    fn of<G: GroupId>(picks: &PagePicks<G>) -> Result<Self, PageError> {
        let n = picks.groups.len();
        check(picks, n)?;
        let Some(order) = picks.order else {
            let place = picks.rejected.iter().map(|&row| row as u32).collect();
            return Ok(Places { of_row: None, by_place: None, place });
        };
        let mut of_row = vec![u32::MAX; n];
        for (place, &row) in order.iter().enumerate() {
            of_row[row as usize] = place as u32;
        }
        if of_row.contains(&u32::MAX) {
            return Err(PageError::Call("order is not a permutation of the rows".into()));
        }
        let mut by_place: Vec<u32> = (0..picks.rejected.len() as u32).collect();
        by_place.sort_unstable_by_key(|&e| of_row[picks.rejected[e as usize] as usize]);
        let place = by_place.iter().map(|&e| of_row[picks.rejected[e as usize] as usize]).collect();
        Ok(Places { of_row: Some(of_row), by_place: Some(by_place), place })
    }

    fn place_of(&self, row: usize) -> u32 {
        self.of_row.as_ref().map_or(row as u32, |of_row| of_row[row])
    }

    fn entry(&self, k: usize) -> usize {
        self.by_place.as_ref().map_or(k, |by_place| by_place[k] as usize)
    }
}

/// The arguments' lengths and ranges, which the caller builds.
fn check<G: GroupId>(picks: &PagePicks<G>, n: usize) -> Result<(), PageError> {
    let call = |what: &str| Err(PageError::Call(what.to_string()));
    if !(2..=3).contains(&picks.dim) || picks.centres.len() != n * picks.dim {
        return call("centres must have 2 or 3 numbers a row");
    }
    if picks.inputs.len() != n || picks.species.is_some_and(|s| s.len() != n) {
        return call("inputs and species must have a value a row");
    }
    if picks.rule.len() != picks.rejected.len() || picks.partner.len() != picks.rejected.len() {
        return call("rule and partner must have a value a rejected row");
    }
    if picks.rejected.windows(2).any(|w| w[0] >= w[1]) || picks.rejected.iter().any(|&r| r < 0 || r as usize >= n) {
        return call("rejected rows must be ascending rows of the set");
    }
    if picks.partner.iter().any(|&p| p >= n as i64) {
        return call("a partner is not a row of the set");
    }
    let starts = picks.starts;
    if starts.is_empty()
        || starts[0] != 0
        || starts.windows(2).any(|w| w[0] > w[1])
        || starts[starts.len() - 1] != n as i64
    {
        return call("starts must rise from 0 to the rows");
    }
    if picks.order.is_some_and(|order| order.len() != n || order.iter().any(|&r| r < 0 || r as usize >= n)) {
        return call("order must be a permutation of the rows");
    }
    if n >= u32::MAX as usize {
        return call("too many rows");
    }
    Ok(())
}

/// The text of file `k`: the picks of micrographs `first..last`.
fn picks_file<G: GroupId>(picks: &PagePicks<G>, places: &Places, k: usize, first: usize, last: usize) -> Vec<u8> {
    let (begin, end) = (picks.starts[first] as usize, picks.starts[last] as usize);
    let columns = columns(picks, places, begin, end);
    let mut head = format!("cryodedupPicks({k},{{\"o\":[");
    for (j, start) in picks.starts[first..=last].iter().enumerate() {
        let sep = if j == 0 { "" } else { "," };
        let _ = write!(head, "{sep}{}", start - begin as i64);
    }
    head.push_str("],\"t\":{");
    for (j, column) in columns.iter().enumerate() {
        let sep = if j == 0 { "" } else { "," };
        let _ = write!(head, "{sep}\"{}\":\"{}\"", column.name, column.type_);
    }
    head.push('}');
    let encoded: usize = columns.iter().map(|column| column.bytes().div_ceil(3) * 4 + 7).sum();
    let mut text = Vec::with_capacity(head.len() + encoded + 4);
    text.extend_from_slice(head.as_bytes());
    for column in &columns {
        text.extend_from_slice(format!(",\"{}\":\"", column.name).as_bytes());
        column.encode(&mut text);
        text.push(b'"');
    }
    text.extend_from_slice(b"});\n");
    text
}

/// The columns of places `begin..end` (whole micrographs): the centre rounded to the Å, the
/// input (the species), the rule (-1: kept) and the partner's place counted from `begin`
/// (-1: none, or on another micrograph).
fn columns<G: GroupId>(picks: &PagePicks<G>, places: &Places, begin: usize, end: usize) -> Vec<Column> {
    let mut columns = Vec::with_capacity(7);
    for (axis, name) in ['x', 'y', 'z'].into_iter().enumerate().take(picks.dim) {
        let centre = match picks.dim {
            // (a constant stride: the compiler's loop over ten thousand rows a file is tighter)
            2 => gather(picks, begin, end, |row| rint(picks.centres[row * 2 + axis])),
            _ => gather(picks, begin, end, |row| rint(picks.centres[row * 3 + axis])),
        };
        columns.push(Column::of(name, centre));
    }
    columns.push(Column::of('i', picks.inputs.gathered(picks, begin, end)));
    if let Some(species) = picks.species {
        columns.push(Column::of('s', species.gathered(picks, begin, end)));
    }
    let (mut rule, mut partner) = (vec![-1i32; end - begin], vec![-1i32; end - begin]);
    let lo = places.place.partition_point(|&p| (p as usize) < begin);
    let hi = places.place.partition_point(|&p| (p as usize) < end);
    for k in lo..hi {
        let (entry, at) = (places.entry(k), places.place[k] as usize - begin);
        rule[at] = i32::from(picks.rule[entry]);
        let (row, theirs) = (picks.rejected[entry] as usize, picks.partner[entry]);
        if theirs >= 0 && picks.groups[theirs as usize] == picks.groups[row] {
            partner[at] = places.place_of(theirs as usize) as i32 - begin as i32;
        }
    }
    columns.push(Column::of('r', rule));
    columns.push(Column::of('p', partner));
    columns
}

/// `value` of the row at each place `begin..end`.
fn gather<G: GroupId>(picks: &PagePicks<G>, begin: usize, end: usize, value: impl Fn(usize) -> i32) -> Vec<i32> {
    match picks.order {
        None => (begin..end).map(value).collect(),
        Some(order) => order[begin..end].iter().map(|&row| value(row as usize)).collect(),
    }
}

/// `x` rounded to an integer as numpy's `rint` (ties to even), then cast to int32, in two
/// additions (`round_ties_even` calls libm's `rint`: the baseline x86-64 has no rounding
/// instruction): adding and taking away 1.5 * 2^52 leaves the nearest integer, ties to even,
/// where |x| < 2^51; past that, a value a few units off, far beyond int32 on the same side,
/// which the cast saturates as it does `x` (NaN stays NaN: 0).
fn rint(x: f64) -> i32 {
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
    ((x + SHIFT) - SHIFT) as i32
}

/// A column of the file in the narrowest type that holds its numbers (an empty column keeps
/// its widest type), and that type's width in bytes.
struct Column {
    name: char,
    values: Vec<i32>,
    type_: &'static str,
    width: usize,
}

impl Column {
    fn of(name: char, values: Vec<i32>) -> Self {
        let (low, high) = values.iter().fold((i32::MAX, i32::MIN), |(low, high), &v| (low.min(v), high.max(v)));
        let type_ = match values.is_empty() {
            true => WIDEST.iter().find(|(n, _)| *n == name).map_or("<i4", |(_, t)| t),
            false => NARROW.iter().find(|(_, min, max)| *min <= low && high <= *max).expect("i4 holds every i32").0,
        };
        let width = if type_ == "<i1" {
            1
        } else if type_ == "<i4" {
            4
        } else {
            2
        };
        Column { name, values, type_, width }
    }

    /// The column's bytes.
    fn bytes(&self) -> usize {
        self.values.len() * self.width
    }

    /// Appends the column's little-endian bytes in its narrowest type, in base64: a block of
    /// values at a time (a multiple of 3 bytes, so the blocks' base64 is the whole column's).
    fn encode(&self, text: &mut Vec<u8>) {
        const BLOCK: usize = 3 * 1024; // values
        let width = self.width;
        let mut buffer = [0u8; 4 * BLOCK];
        for block in self.values.chunks(BLOCK) {
            let bytes = &mut buffer[..block.len() * width];
            // (a two's-complement cast: the bytes of <i2 and <u2 are the same)
            match width {
                1 => bytes.iter_mut().zip(block).for_each(|(b, &v)| *b = v as u8),
                2 => bytes
                    .chunks_exact_mut(2)
                    .zip(block)
                    .for_each(|(b, &v)| b.copy_from_slice(&(v as u16).to_le_bytes())),
                _ => bytes.chunks_exact_mut(4).zip(block).for_each(|(b, &v)| b.copy_from_slice(&v.to_le_bytes())),
            }
            let at = text.len();
            text.resize(at + bytes.len().div_ceil(3) * 4, 0);
            let written = STANDARD.encode_slice(bytes, &mut text[at..]).expect("sized for the bytes");
            text.truncate(at + written);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(picks: &PagePicks<u32>, chunk: usize) -> Vec<String> {
        let dir = std::env::temp_dir().join(format!("page_picks_{}_{chunk}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let n = (picks.starts.len() - 1).div_ceil(chunk);
        let paths: Vec<PathBuf> = (0..n).map(|k| dir.join(format!("picks_{k:05}.js"))).collect();
        write_picks_files(picks, chunk, &paths).unwrap();
        let texts = paths.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
        std::fs::remove_dir_all(&dir).unwrap();
        texts
    }

    /// Three micrographs, two a file: the second file's pick lost to one on another micrograph.
    #[test]
    fn files_hold_each_micrographs_picks_in_their_narrowest_types() {
        let groups = [0u32, 0, 1, 2, 2];
        let centres = [10.4, 20.6, 12.0, 21.0, 300.5, -5.0, 70000.0, 1.0, 71.0, 2.0];
        let picks = PagePicks {
            groups: &groups,
            centres: &centres,
            dim: 2,
            inputs: Ids::U8(&[0, 1, 0, 0, 0]),
            species: None,
            rejected: &[1, 4],
            rule: &[0, 2],
            partner: &[0, 2],
            order: None,
            starts: &[0, 2, 3, 5],
        };
        let texts = text(&picks, 2);
        // x 10, 12, 300 (300.5 to even); y 21, 21, -5; inputs 0, 1, 0; rules -1, 0, -1; partner 0.
        let b64 = |bytes: &[u8]| STANDARD.encode(bytes);
        let first = format!(
            "cryodedupPicks(0,{{\"o\":[0,2,3],\"t\":{{\"x\":\"<i2\",\"y\":\"<i1\",\"i\":\"<i1\",\"r\":\"<i1\",\"p\":\"<i1\"}},\
             \"x\":\"{}\",\"y\":\"{}\",\"i\":\"{}\",\"r\":\"{}\",\"p\":\"{}\"}});\n",
            b64(&[10, 0, 12, 0, 44, 1]),
            b64(&[21, 21, 251]),
            b64(&[0, 1, 0]),
            b64(&[255, 0, 255]),
            b64(&[255, 0, 255]),
        );
        assert_eq!(texts[0], first);
        // 70000 needs int32; the rejected pick's partner (row 2) lies on another micrograph.
        let second = format!(
            "cryodedupPicks(1,{{\"o\":[0,2],\"t\":{{\"x\":\"<i4\",\"y\":\"<i1\",\"i\":\"<i1\",\"r\":\"<i1\",\"p\":\"<i1\"}},\
             \"x\":\"{}\",\"y\":\"{}\",\"i\":\"{}\",\"r\":\"{}\",\"p\":\"{}\"}});\n",
            b64(&[112, 17, 1, 0, 71, 0, 0, 0]),
            b64(&[1, 2]),
            b64(&[0, 0]),
            b64(&[255, 2]),
            b64(&[255, 255]),
        );
        assert_eq!(texts[1], second);
    }

    /// Rows out of micrograph order give the files of the same rows gathered in order.
    #[test]
    fn rows_out_of_order_give_the_files_of_the_rows_in_order() {
        let groups = [1u32, 0, 1, 0, 2];
        let centres = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        let order = [1i64, 3, 0, 2, 4];
        let scattered = PagePicks {
            groups: &groups,
            centres: &centres,
            dim: 2,
            inputs: Ids::I32(&[0, 1, 2, 3, 4]),
            species: Some(Ids::U32(&[5, 6, 7, 8, 9])),
            rejected: &[2, 3],
            rule: &[1, 3],
            partner: &[0, 1],
            order: Some(&order),
            starts: &[0, 2, 4, 5],
        };
        let gathered_groups: Vec<u32> = order.iter().map(|&r| groups[r as usize]).collect();
        let gathered_centres: Vec<f64> = order.iter().flat_map(|&r| centres[2 * r as usize..][..2].to_vec()).collect();
        let gathered = PagePicks {
            groups: &gathered_groups,
            centres: &gathered_centres,
            inputs: Ids::I32(&[1, 3, 0, 2, 4]),
            species: Some(Ids::U32(&[6, 8, 5, 7, 9])),
            rejected: &[1, 3],
            rule: &[3, 1],
            partner: &[0, 2],
            order: None,
            ..scattered
        };
        for chunk in [1, 2, 3, 5] {
            assert_eq!(text(&scattered, chunk), text(&gathered, chunk));
        }
    }

    #[test]
    fn rint_rounds_as_round_ties_even_then_a_cast() {
        // Oracle: the standard library's rounding (libm's rint) and saturating cast.
        let mut values = vec![0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994, 1e9, -3e9, 4e18];
        values.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN_POSITIVE, 2f64.powi(51) + 0.5]);
        values.extend([2f64.powi(52) - 0.5, -(2f64.powi(51) - 0.5), i32::MAX as f64 + 0.5, i32::MIN as f64 - 0.5]);
        let mut next = crate::test_random(0x2545_f491_4f6c_dd1d);
        values.extend((0..10_000).map(|_| (next(2_000_000) as f64 - 1e6) / 4.0)); // (many ties)
        for x in values {
            assert_eq!(rint(x), x.round_ties_even() as i32, "{x}");
        }
    }

    #[test]
    fn arguments_that_do_not_fit_are_refused() {
        let picks = PagePicks {
            groups: &[0u32, 0],
            centres: &[0.0; 4],
            dim: 2,
            inputs: Ids::U8(&[0, 0]),
            species: None,
            rejected: &[1, 0],
            rule: &[0, 0],
            partner: &[-1, -1],
            order: None,
            starts: &[0, 2],
        };
        assert!(matches!(write_picks_files(&picks, 1, &[PathBuf::from("x")]), Err(PageError::Call(_))));
    }
}
