//! Particle images named by stack and index: their runs and keys (issue 39,
//! docs/developers/decisions/same-image.md). Shared by the scan that reads the names (io) and the rules that
//! use them (algo).
//!
//! Joined selections (RELION JoinStar, overlapping CryoSPARC exports) can hold one particle
//! image twice; refined apart, its rows carry different origins and a distance rule may keep
//! both. An image is named by its stack and its index in the stack (RELION's `index@stack`,
//! CryoSPARC's `blob/path` and `blob/idx`). A scan keeps the runs of consecutive rows of one
//! stack (the stack's FNV-1a hash, the run's index range and row count) and no per-row hash.
//! A run whose indices are consecutive (`first, first + 1, ... last`: RELION's Extract writes
//! `000001@stack.mrcs, 000002@stack.mrcs ...` in order) is its rows' indices: nothing is kept
//! a row. Only the rows of the other runs keep their index (4 bytes: a particle job holds it
//! for every such row, and 100M rows must fit in 40 bytes each), in [`ImageRows::indices`]
//! (issue 58 item 15: the check's memory with repeated names). An image's 64-bit key (the
//! stack's hash mixed with the index; 0 means no image) is made only when some image is there
//! twice ([`image_keys`]).
//!
//! The check must cost next to nothing when every image is distinct, as it is in almost
//! every set. [`distinct`] takes the runs by stack (a sort of the runs, one or a few per
//! micrograph, not of the rows): a stack whose runs each increase and do not overlap (Extract
//! writes one run a stack) is proved at once; a stack whose runs overlap (two files of one
//! extraction's particles, each holding every other row of each stack) is proved by marking
//! its rows' indices in a bitmap as long as the stack's index range (a sort of that stack's
//! indices where the range is far wider than its rows). Each row is read once, in order.

use rayon::prelude::*;

/// A run of consecutive rows of one stack: its hash, the range of their indices and their count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageRun {
    pub stack: u64,
    pub first: u64,
    pub last: u64,
    /// Whether the indices strictly increase along the run.
    pub increasing: bool,
    /// How many rows the run holds (runs follow each other: the first run's rows come first).
    pub rows: u64,
}

impl ImageRun {
    /// The run of one row, of image `index` of the stack hashed `stack`.
    fn of_one(stack: u64, index: u32) -> ImageRun {
        let first = u64::from(index);
        ImageRun { stack, first, last: first, increasing: true, rows: 1 }
    }

    /// Adds the next row of the run, of image `index`.
    #[inline]
    fn add(&mut self, index: u32) {
        let index = u64::from(index);
        self.increasing &= index > self.last;
        self.first = self.first.min(index);
        self.last = self.last.max(index);
        self.rows += 1;
    }

    /// Whether the run's indices are `first, first + 1, ... last`, one a row: then its rows
    /// keep no index of their own ([`ImageRows::indices`] holds those of the other runs).
    #[inline]
    pub fn consecutive(&self) -> bool {
        self.increasing && self.last - self.first + 1 == self.rows
    }

    /// The index of the run's row `k` (from 0), its rows' listed indices `listed` (empty for
    /// a consecutive run).
    #[inline]
    pub fn index(&self, listed: &[u32], k: usize) -> u32 {
        match self.consecutive() {
            true => (self.first + k as u64) as u32, // (a run's indices are u32)
            false => listed[k],
        }
    }

    /// Calls `each(k, index)` for each row `k` of the run, in order, its listed indices `listed`.
    #[inline]
    pub fn for_each_index(&self, listed: &[u32], mut each: impl FnMut(usize, u32)) {
        match self.consecutive() {
            true => (0..self.rows as usize).for_each(|k| each(k, (self.first + k as u64) as u32)),
            false => listed.iter().enumerate().for_each(|(k, &index)| each(k, index)),
        }
    }
}

/// The stack and the index of a RELION image name: `000012@Extract/job012/mic.mrcs` is
/// (12, `Extract/job012/mic.mrcs`); a name without a numeric `index@` is a one-image file
/// (index 0, the name as the stack), as is one whose index is beyond `u32::MAX` (no stack
/// holds 4 billion images; the whole name still tells its image from every other).
///
/// The name is read as RELION reads it, so that one image in two spellings is one image: a
/// field in quotes (`"12@my stack.mrcs"`, as a STAR file quotes a name holding a space) is
/// the name inside them, and the index is a decimal integer however many zeros pad it
/// (`0000000000000000000000012@s.mrcs` is `12@s.mrcs`). Always inlined: the scan calls it for
/// every row, and a second caller (the one-pass record) must not make it a call there.
#[inline(always)]
pub fn split_image_name(field: &[u8]) -> (u32, &[u8]) {
    let field = unquoted(field);
    if let Some(split) = split_short_index(field) {
        return split;
    }
    // One pass over the leading digits (no search for the `@`: it must follow them); leading
    // zeros add nothing, and more than 10 other digits are beyond u32.
    let (mut index, mut digits) = (0u64, 0usize);
    for (k, &b) in field.iter().enumerate() {
        match b {
            b'0' if digits == 0 => {}
            b'0'..=b'9' if digits < 10 => {
                index = index * 10 + u64::from(b - b'0'); // (at most 10 digits: no overflow)
                digits += 1;
            }
            b'@' if k > 0 => match u32::try_from(index) {
                Ok(index) => return (index, &field[k + 1..]),
                Err(_) => break,
            },
            _ => break,
        }
    }
    (0, field)
}

/// The length of the `index@` prefix of the image name `field` whose stack
/// [`split_image_name`] found to be `stack`: its digits and `@`, inside the quotes if the
/// field has them (`"000004@a b.mrcs"`: 7, as `000004@a b.mrcs`); 0 without one. Kept as a
/// byte, as the runs keep it (a longer prefix wraps).
#[inline(always)]
pub fn image_prefix(field: &[u8], stack: &[u8]) -> u8 {
    (stack.as_ptr() as usize - unquoted(field).as_ptr() as usize) as u8
}

/// A STAR field without the quotes around it (`"a b"` and `'a b'` are `a b`), else the field:
/// the text RELION reads (`nextTokenInSTAR`) from a field it or a script quoted.
#[inline]
pub fn unquoted(field: &[u8]) -> &[u8] {
    match field {
        [quote @ (b'"' | b'\''), inner @ .., last] if last == quote => inner,
        _ => field,
    }
}

/// [`split_image_name`] of a name whose index has 1 to 7 digits (RELION writes 6), all read
/// at once as the 8 bytes of a word; None for another name.
#[inline]
fn split_short_index(field: &[u8]) -> Option<(u32, &[u8])> {
    let word = u64::from_le_bytes(field.get(..8)?.try_into().ok()?);
    let values = word.wrapping_sub(0x3030_3030_3030_3030); // each byte's digit (a borrow only climbs)
    let not_digit = (values | values.wrapping_add(0x7676_7676_7676_7676)) & 0x8080_8080_8080_8080;
    let digits = (not_digit.trailing_zeros() / 8) as usize;
    if digits == 0 || digits == 8 || field[digits] != b'@' {
        return None;
    }
    // The digits moved to the word's top bytes (leading zeros below), then paired, in fours, in eights.
    let mut v = (values << (8 * (8 - digits))) & 0x0f0f_0f0f_0f0f_0f0f;
    v = (v.wrapping_mul(10 << 8 | 1) >> 8) & 0x00ff_00ff_00ff_00ff;
    v = (v.wrapping_mul(100 << 16 | 1) >> 16) & 0x0000_ffff_0000_ffff;
    v = v.wrapping_mul(10_000 << 32 | 1) >> 32;
    Some((v as u32, &field[digits + 1..])) // (at most 7 digits)
}

/// The 64-bit FNV-1a hash of a stack's name: the same in every run, file and platform.
pub fn stack_hash(stack: &[u8]) -> u64 {
    stack.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The key of image `index` of the stack hashed `stack` (splitmix64 of their sum; never 0).
pub fn image_key(stack: u64, index: u64) -> u64 {
    let mut z = stack.wrapping_add(index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)).max(1)
}

/// The images of rows met in order: the runs of rows of one stack, and the index of each row
/// of a run whose indices are not consecutive ([`ImageRun::consecutive`]). Consecutive rows
/// of one stack (the rule) hash the stack once.
///
/// Rows pushed by name ([`ImageRows::push_name`]) also keep each run's stack name and the
/// length of its names' `index@` prefix (0 for a name without one): a row's name and its
/// image exactly, `(stack, index)`, are told from its run and its index without reading the
/// file again (a warning's names, and the rows whose keys collide). The names take bytes per
/// run, not per row. Rows pushed hashed ([`ImageRows::push_hashed`]) keep no names; one
/// `ImageRows` is pushed one way only.
#[derive(Debug, Default)]
pub struct ImageRows {
    /// The index in its stack of each row of a run that is not consecutive, in row order
    /// (the rows of consecutive runs are told by their run).
    pub indices: Vec<u32>,
    /// The runs of the rows, in order.
    pub runs: Vec<ImageRun>,
    /// The runs' stack names, one after the other (rows pushed by name).
    pub stack_names: Vec<u8>,
    /// Where each run's stack name ends in `stack_names`.
    pub stack_ends: Vec<u64>,
    /// The length of each run's `index@` prefix (all of a run's names have one length).
    pub prefixes: Vec<u8>,
}

impl ImageRows {
    /// Adds the row whose image is `index` of the stack hashed `stack` (rows of one stack
    /// that follow each other form a run).
    pub fn push_hashed(&mut self, stack: u64, index: u32) {
        match self.runs.last() {
            Some(run) if run.stack == stack => self.add_to_last_run(index),
            _ => self.runs.push(ImageRun::of_one(stack, index)),
        }
    }

    /// Adds the row of image `index` to the last run: its index is listed once the run's
    /// indices stop being consecutive (with those of the run's rows before it). (Always
    /// inlined into [`ImageRows::push_name`], its only caller, as the scan's every row calls it.)
    #[inline(always)]
    fn add_to_last_run(&mut self, index: u32) {
        let Some(run) = self.runs.last_mut() else { return };
        if u64::from(index) == run.last + 1 && run.consecutive() {
            (run.last, run.rows) = (run.last + 1, run.rows + 1); // (the rule: Extract's next image)
            return;
        }
        let before = *run;
        run.add(index);
        if run.consecutive() {
            return;
        }
        if before.consecutive() {
            self.indices.extend((before.first..=before.last).map(|i| i as u32));
        }
        self.indices.push(index);
    }

    /// The last run's stack name and prefix, if pushed by name.
    #[inline]
    fn last_named(&self) -> Option<(&[u8], u8)> {
        let end = *self.stack_ends.last()? as usize;
        let start = self.stack_ends.len().checked_sub(2).map_or(0, |k| self.stack_ends[k] as usize);
        Some((&self.stack_names[start..end], *self.prefixes.last()?))
    }

    /// Adds the row whose RELION image name is `field`.
    #[inline]
    pub fn push_name(&mut self, field: &[u8]) {
        let (index, stack) = split_image_name(field);
        let prefix = image_prefix(field, stack); // (the digits and the @, inside any quotes)
                                                 // The run goes on (the rule): no hash, no look at the runs' stacks.
        if self.last_named() == Some((stack, prefix)) {
            self.add_to_last_run(index);
            return;
        }
        self.push_new_stack(index, prefix, stack);
    }

    /// [`ImageRows::push_name`] of a row whose stack (or prefix) is not the last row's: a new run.
    #[inline(never)]
    fn push_new_stack(&mut self, index: u32, prefix: u8, stack: &[u8]) {
        self.stack_names.extend_from_slice(stack);
        self.stack_ends.push(self.stack_names.len() as u64);
        self.prefixes.push(prefix);
        self.runs.push(ImageRun::of_one(stack_hash(stack), index));
    }

    /// Appends `other`'s rows after these.
    pub fn extend(&mut self, other: &ImageRows) {
        let offset = self.stack_names.len() as u64;
        self.indices.extend_from_slice(&other.indices);
        self.runs.extend_from_slice(&other.runs);
        self.stack_names.extend_from_slice(&other.stack_names);
        self.stack_ends.extend(other.stack_ends.iter().map(|end| end + offset));
        self.prefixes.extend_from_slice(&other.prefixes);
    }
}

/// Why runs and indices do not describe one set of rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsMismatch {
    /// The rows of the runs that are not consecutive (those whose indices are listed).
    pub rows_in_runs: u64,
    pub indices: usize,
}

impl std::fmt::Display for RunsMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the image runs list the indices of {} rows, the indices are {}", self.rows_in_runs, self.indices)
    }
}

impl std::error::Error for RunsMismatch {}

/// Where a run's rows start among all rows, and its listed indices among `indices`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunStart {
    pub row: usize,
    pub listed: usize,
}

/// Each run's start (and the rows in all), checked against the listed indices' count.
pub(crate) fn run_starts(runs: &[ImageRun], indices: &[u32]) -> Result<Vec<RunStart>, RunsMismatch> {
    let mut starts = Vec::with_capacity(runs.len());
    let (mut row, mut listed) = (0usize, 0u64);
    for run in runs {
        starts.push(RunStart { row, listed: listed as usize });
        row += run.rows as usize;
        listed += if run.consecutive() { 0 } else { run.rows };
    }
    if listed != indices.len() as u64 {
        return Err(RunsMismatch { rows_in_runs: listed, indices: indices.len() });
    }
    Ok(starts)
}

/// The listed indices of `run` (empty for a consecutive run), which starts at `start`.
#[inline]
pub(crate) fn listed<'a>(run: &ImageRun, start: RunStart, indices: &'a [u32]) -> &'a [u32] {
    match run.consecutive() {
        true => &[],
        false => &indices[start.listed..start.listed + run.rows as usize],
    }
}

/// How many rows the runs hold.
pub fn row_count(runs: &[ImageRun]) -> usize {
    runs.iter().map(|r| r.rows as usize).sum()
}

/// Each of `rows`' index in its stack (rows in any order, each below [`row_count`]).
pub fn indices_of(runs: &[ImageRun], indices: &[u32], rows: &[u32]) -> Result<Vec<u32>, RunsMismatch> {
    let starts = run_starts(runs, indices)?;
    Ok(rows
        .iter()
        .map(|&row| {
            let k = starts.partition_point(|s| s.row <= row as usize) - 1; // (row 0 starts run 0)
            runs[k].index(listed(&runs[k], starts[k], indices), row as usize - starts[k].row)
        })
        .collect())
}

/// Each row's image key ([`image_key`] of its run's stack and its index).
pub fn image_keys(runs: &[ImageRun], indices: &[u32]) -> Result<Vec<u64>, RunsMismatch> {
    let starts = run_starts(runs, indices)?;
    let mut keys = vec![0u64; row_count(runs)];
    let mut pieces: Vec<(&ImageRun, &[u32], &mut [u64])> = Vec::with_capacity(runs.len());
    let mut rest = keys.as_mut_slice();
    for (run, &start) in runs.iter().zip(&starts) {
        let (piece, tail) = rest.split_at_mut(run.rows as usize);
        pieces.push((run, listed(run, start, indices), piece));
        rest = tail;
    }
    pieces.into_par_iter().for_each(|(run, listed, keys)| {
        run.for_each_index(listed, |k, index| keys[k] = image_key(run.stack, u64::from(index)));
    });
    Ok(keys)
}

/// A stack's index range wider than this many times its rows is proved by a sort of its
/// indices, not a bitmap (a bitmap's bytes stay within 8 bytes a row, as a sort's do).
const BITMAP_BITS_PER_ROW: u64 = 64;

/// Whether every row's image differs from every other row's: exact for (stack, index), and
/// without a sort of the rows (see the module's comment). `runs` are the rows' runs in order,
/// `indices` the listed indices of those that are not consecutive.
pub fn distinct(runs: &[ImageRun], indices: &[u32]) -> Result<bool, RunsMismatch> {
    let starts = run_starts(runs, indices)?;
    let order = runs_by_stack(runs, &starts, u64::MAX);
    let stacks: Vec<&[(ImageRun, RunStart)]> = order.chunk_by(|a, b| a.0.stack == b.0.stack).collect();
    Ok(stacks.into_par_iter().map_init(Vec::new, |bits, runs| stack_distinct(runs, indices, bits)).all(|d| d))
}

/// The runs with their starts, their stacks' hashes cut to the bits of `mask`, by stack then
/// index range.
pub(crate) fn runs_by_stack(runs: &[ImageRun], starts: &[RunStart], mask: u64) -> Vec<(ImageRun, RunStart)> {
    let mut order: Vec<(ImageRun, RunStart)> =
        runs.iter().map(|r| ImageRun { stack: r.stack & mask, ..*r }).zip(starts.iter().copied()).collect();
    order.par_sort_unstable_by_key(|(r, _)| (r.stack, r.first, r.last));
    order
}

/// Whether the runs of one stack (sorted by first index) are apart and each increasing: then
/// their rows are distinct images, at once.
pub(crate) fn apart_and_increasing(runs: &[(ImageRun, RunStart)]) -> bool {
    runs.windows(2).all(|w| w[0].0.last < w[1].0.first) && runs.iter().all(|(r, _)| r.increasing)
}

/// Whether the rows of one stack's runs (sorted by first index) are distinct images; `bits`
/// is a bitmap to reuse.
fn stack_distinct(runs: &[(ImageRun, RunStart)], indices: &[u32], bits: &mut Vec<u64>) -> bool {
    if apart_and_increasing(runs) {
        return true;
    }
    let low = runs[0].0.first;
    let high = runs.iter().map(|(r, _)| r.last).max().unwrap_or(low);
    let rows: u64 = runs.iter().map(|(r, _)| r.rows).sum();
    let span = high - low; // (indices from low to high: span + 1 of them)
    if rows > span.saturating_add(1) {
        return false; // more rows than indices in the range
    }
    if span / BITMAP_BITS_PER_ROW >= rows {
        let mut all: Vec<u32> = Vec::with_capacity(rows as usize);
        for (run, start) in runs {
            run.for_each_index(listed(run, *start, indices), |_, index| all.push(index));
        }
        all.sort_unstable();
        return all.windows(2).all(|w| w[0] != w[1]);
    }
    bits.clear();
    bits.resize((span / 64 + 1) as usize, 0);
    let mut repeated = false;
    for (run, start) in runs {
        run.for_each_index(listed(run, *start, indices), |_, index| {
            let index = u64::from(index);
            let (word, bit) = (((index - low) / 64) as usize, 1u64 << ((index - low) % 64));
            repeated |= bits[word] & bit != 0;
            bits[word] |= bit;
        });
        if repeated {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbers below `n`, one a call (xorshift64 from `seed`).
    fn below(mut state: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        }
    }

    #[test]
    fn image_names_split_into_index_and_stack() {
        assert_eq!(split_image_name(b"000012@Extract/job012/a.mrcs"), (12, &b"Extract/job012/a.mrcs"[..]));
        assert_eq!(split_image_name(b"12@Extract/job012/a.mrcs"), (12, &b"Extract/job012/a.mrcs"[..]));
        assert_eq!(split_image_name(b"single.mrc"), (0, &b"single.mrc"[..]));
        assert_eq!(split_image_name(b"x1@a.mrcs"), (0, &b"x1@a.mrcs"[..]));
        assert_eq!(split_image_name(b"@a.mrcs"), (0, &b"@a.mrcs"[..]));
    }

    #[test]
    fn short_indices_read_at_once_agree_with_the_digits_one_by_one() {
        let one_by_one = |field: &[u8]| -> (u32, Vec<u8>) {
            let at = field.iter().position(|&b| b == b'@');
            let index = |k: usize| std::str::from_utf8(&field[..k]).unwrap().parse::<u128>().unwrap();
            match at {
                Some(k) if k > 0 && field[..k].iter().all(u8::is_ascii_digit) => {
                    match u32::try_from(index(k)) {
                        Ok(index) => (index, field[k + 1..].to_vec()),
                        Err(_) => (0, field.to_vec()), // beyond u32: the whole name
                    }
                }
                _ => (0, field.to_vec()),
            }
        };
        let mut next = below(0x9e37_79b9_7f4a_7c15u64);
        let alphabet = b"0123456789@/a.:9 ";
        for _ in 0..200_000 {
            let (len, at) = (next(28) as usize, next(22) as usize);
            let field: Vec<u8> = (0..len)
                .map(|k| match next(6) {
                    0 => alphabet[next(alphabet.len() as u64) as usize],
                    _ if k == at => b'@',
                    _ => b'0' + next(10) as u8,
                })
                .collect();
            let (index, stack) = split_image_name(&field);
            assert_eq!((index, stack.to_vec()), one_by_one(&field), "{:?}", String::from_utf8_lossy(&field));
        }
        assert_eq!(split_image_name(b"0000012@stack.mrcs"), (12, &b"stack.mrcs"[..]));
        assert_eq!(split_image_name(b"9999999@s"), (9_999_999, &b"s"[..]));
        assert_eq!(split_image_name(b"12345678@stack"), (12_345_678, &b"stack"[..]));
        assert_eq!(split_image_name(b"4294967295@stack"), (u32::MAX, &b"stack"[..]));
        assert_eq!(split_image_name(b"4294967296@stack"), (0, &b"4294967296@stack"[..]));
        assert_eq!(split_image_name(b"000000004294967296@s"), (0, &b"000000004294967296@s"[..]));
        assert_eq!(split_image_name(b"99999999999999999999@s"), (0, &b"99999999999999999999@s"[..]));
    }

    #[test]
    fn one_image_in_the_spellings_relion_reads_as_one() {
        // RELION reads the index before the `@` as an integer and a quoted field as the text inside.
        let twelve = (12, &b"s.mrcs"[..]);
        assert_eq!(split_image_name(b"0000000000000000000000012@s.mrcs"), twelve);
        assert_eq!(split_image_name(b"\"12@s.mrcs\""), twelve);
        assert_eq!(split_image_name(b"'000012@s.mrcs'"), twelve);
        assert_eq!(split_image_name(b"\"12@my s.mrcs\""), (12, &b"my s.mrcs"[..]));
        assert_eq!(split_image_name(b"'12@my s.mrcs'"), (12, &b"my s.mrcs"[..]));
        assert_eq!(split_image_name(b"\"single.mrc\""), (0, &b"single.mrc"[..]));
        assert_eq!(split_image_name(b"0000000000000000000000@s"), (0, &b"s"[..]));
        assert_eq!(split_image_name(b"\"12@s.mrcs'"), (0, &b"\"12@s.mrcs'"[..])); // (quotes that differ: no pair)
        assert_eq!(split_image_name(b"\""), (0, &b"\""[..]));
    }

    #[test]
    fn keys_agree_for_one_image_and_differ_otherwise() {
        let mut rows = ImageRows::default();
        for name in ["1@a.mrcs", "2@a.mrcs", "000001@a.mrcs", "1@b.mrcs"] {
            rows.push_name(name.as_bytes());
        }
        let k = image_keys(&rows.runs, &rows.indices).unwrap();
        assert_eq!(k[0], k[2]);
        assert!(k[0] != k[1] && k[0] != k[3] && k[1] != k[3] && k.iter().all(|&x| x != 0));
        // a, 1..2; a again from 1 written with 6 digits (a run of its own: one prefix a
        // run); then b
        assert_eq!(rows.runs.iter().map(|r| r.rows).collect::<Vec<_>>(), vec![2, 1, 1]);
        assert_eq!(rows.runs[0].stack, rows.runs[1].stack);
        assert_eq!(distinct(&rows.runs, &rows.indices), Ok(false));
    }

    /// The name of image `index` of a run of `stack` whose names' `index@` prefix is `prefix`
    /// bytes long (the index padded with zeros to the prefix's digits).
    fn image_name(stack: &[u8], prefix: u8, index: u32) -> Vec<u8> {
        let mut name = match prefix {
            0 => Vec::new(),
            p => format!("{index:0width$}@", width = usize::from(p) - 1).into_bytes(),
        };
        name.extend_from_slice(stack);
        name
    }

    #[test]
    fn names_are_told_again_from_the_runs() {
        let names: [&[u8]; 9] = [
            b"000012@Extract/a.mrcs",
            b"000013@Extract/a.mrcs",
            b"12@Extract/a.mrcs",
            b"0@b",
            b"single.mrc",
            b"4294967296@big",
            b"000000000000000007@s",
            b"x1@a.mrcs",
            b"",
        ];
        let (mut rows, mut pieces) = (ImageRows::default(), ImageRows::default());
        for (k, name) in names.iter().enumerate() {
            rows.push_name(name);
            if k < 4 {
                pieces.push_name(name);
            }
        }
        let mut rest = ImageRows::default();
        names[4..].iter().for_each(|name| rest.push_name(name));
        pieces.extend(&rest);
        for rows in [&rows, &pieces] {
            assert_eq!(rows.runs.len(), rows.stack_ends.len());
            let every: Vec<u32> = (0..row_count(&rows.runs) as u32).collect();
            let mut each = indices_of(&rows.runs, &rows.indices, &every).unwrap().into_iter();
            let mut told = Vec::new();
            for (k, run) in rows.runs.iter().enumerate() {
                let stack = &rows.stack_names
                    [if k == 0 { 0 } else { rows.stack_ends[k - 1] as usize }..rows.stack_ends[k] as usize];
                for _ in 0..run.rows {
                    told.push(image_name(stack, rows.prefixes[k], each.next().unwrap()));
                }
            }
            assert_eq!(told, names.iter().map(|n| n.to_vec()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn quoted_names_are_told_as_the_text_inside_their_quotes() {
        // A STAR file quotes a name holding a space; RELION's nextTokenInSTAR (and starfile)
        // read the text inside: the name told again is that text, its digits as written.
        let fields: [(&[u8], &[u8]); 5] = [
            (b"\"000004@a b.mrcs\"", b"000004@a b.mrcs"),
            (b"'000005@a b.mrcs'", b"000005@a b.mrcs"),
            (b"\"12@my s.mrcs\"", b"12@my s.mrcs"),
            (b"\"one image.mrc\"", b"one image.mrc"),
            (b"\"7@s.mrcs'", b"\"7@s.mrcs'"), // (quotes that differ: no pair, the field as it is)
        ];
        for (field, name) in fields {
            let mut rows = ImageRows::default();
            rows.push_name(field);
            let index = indices_of(&rows.runs, &rows.indices, &[0]).unwrap()[0];
            let told = image_name(&rows.stack_names, rows.prefixes[0], index);
            assert_eq!(String::from_utf8_lossy(&told), String::from_utf8_lossy(name));
        }
    }

    /// Rows pushed from (stack, index) pairs.
    fn rows_of(pairs: &[(u64, u32)]) -> ImageRows {
        let mut rows = ImageRows::default();
        for &(stack, index) in pairs {
            rows.push_hashed(stack, index);
        }
        rows
    }

    #[test]
    fn runs_prove_distinct_images_or_not() {
        let is_distinct = |pairs: &[(u64, u32)]| {
            let rows = rows_of(pairs);
            distinct(&rows.runs, &rows.indices).unwrap()
        };
        assert!(is_distinct(&[(1, 1), (1, 5), (2, 1), (2, 5), (1, 6), (1, 9)]));
        assert!(!is_distinct(&[(1, 1), (1, 5), (2, 1), (2, 5), (1, 5), (1, 9)]));
        assert!(is_distinct(&[]));
        // Two files of one stack, every other row each: runs overlap, indices do not.
        assert!(is_distinct(&[(1, 1), (1, 3), (1, 5), (2, 2), (1, 2), (1, 4), (1, 6)]));
        assert!(!is_distinct(&[(1, 1), (1, 3), (1, 5), (2, 2), (1, 2), (1, 3), (1, 6)]));
        // Runs that do not increase (a sorted or shuffled selection).
        assert!(is_distinct(&[(1, 9), (1, 2), (1, 5)]));
        assert!(!is_distinct(&[(1, 9), (1, 2), (1, 9)]));
        // Indices far apart (a stack's images numbered sparsely): sorted, not a bitmap.
        assert!(is_distinct(&[(1, 3 << 30), (1, 1 << 20), (1, 3), (1, u32::MAX)]));
        assert!(!is_distinct(&[(1, 3 << 30), (1, u32::MAX), (1, 3 << 30)]));
        // More rows than indices in the range.
        assert!(!is_distinct(&[(1, 1), (1, 2), (1, 1)]));
    }

    #[test]
    fn runs_and_indices_that_disagree_are_refused() {
        let rows = rows_of(&[(1, 1), (1, 3)]); // (not consecutive: both indices listed)
        assert_eq!(distinct(&rows.runs, &rows.indices[..1]), Err(RunsMismatch { rows_in_runs: 2, indices: 1 }));
        assert!(image_keys(&rows.runs, &[]).is_err());
    }

    #[test]
    fn distinct_agrees_with_a_set_of_stack_and_index() {
        // Random sets: a few stacks, runs of random length in stack order or interleaved,
        // indices increasing, shuffled or repeated; the answer against a set of (stack, index).
        let mut next = below(0x2545_f491_4f6c_dd1du64);
        let mut answers = [0; 2];
        for _ in 0..3000 {
            let (stacks, width) = (1 + next(4), 1 + next(200));
            let mut pairs = Vec::new();
            for _ in 0..next(12) {
                let (stack, start, step) = (next(stacks), next(width), 1 + next(3));
                for k in 0..next(20) {
                    let index = match next(10) {
                        0 => next(width),             // anywhere
                        1 => next(width) << next(24), // far apart (width < 2^8: within u32)
                        _ => start + k * step,        // a run of a file
                    };
                    pairs.push((stack, index as u32));
                }
            }
            let mut seen = std::collections::HashSet::new();
            let want = pairs.iter().all(|p| seen.insert(*p));
            let rows = rows_of(&pairs);
            assert_eq!(distinct(&rows.runs, &rows.indices), Ok(want), "{pairs:?}");
            answers[usize::from(want)] += 1;
        }
        assert!(answers.iter().all(|&n| n > 300), "both answers, often: {answers:?}");
    }

    /// A RELION image name's image as RELION reads it, worked out apart from the scan's code:
    /// the text inside matching quotes, then the decimal digits before the first `@` (any zeros)
    /// as the index and the rest as the stack; else (or an index beyond u32) index 0 of the name.
    fn image_of_name(field: &[u8]) -> (Vec<u8>, u32) {
        let text = match field {
            [q, inner @ .., l] if (*q == b'"' || *q == b'\'') && l == q => inner,
            _ => field,
        };
        if let Some(at) = text.iter().position(|&b| b == b'@') {
            let digits = &text[..at];
            if at > 0 && digits.iter().all(u8::is_ascii_digit) {
                let value = digits.iter().fold(0u128, |v, &d| (v * 10 + u128::from(d - b'0')).min(1 << 40));
                if let Ok(index) = u32::try_from(value) {
                    return (text[at + 1..].to_vec(), index);
                }
            }
        }
        (text.to_vec(), 0)
    }

    /// Random image names in runs: stacks in turn, indices that climb one by one (Extract),
    /// then break (a selection's gaps), go back, repeat (a join), zero-padded or quoted
    /// spellings of one image (issue 58 item 2), names without an index.
    fn random_names(next: &mut impl FnMut(u64) -> u64) -> Vec<Vec<u8>> {
        let mut names = Vec::new();
        let joined = next(2) == 0; // (else no image twice, unless a stack's indices pass u32)
        for s in 0..1 + next(8) {
            let stack = match joined {
                true => format!("Extract/job0{}/m{}.mrcs", next(2), next(3)),
                false => format!("Extract/job0{}/m{s}.mrcs", next(2)),
            };
            let mut index = 1 + next(40);
            for _ in 0..next(40) {
                index = match next(12) {
                    0 => index + 2 + next(5),                           // a gap
                    1 if joined => index.saturating_sub(next(6)),       // back: a repeat or an earlier image
                    2 if next(4) == 0 => u64::from(u32::MAX) - next(3), // at the top of u32
                    _ => index + 1,
                };
                let name = match next(14) {
                    0 => format!("{index:025}@{stack}"),
                    1 => format!("\"{index}@{stack}\""),
                    2 => format!("'{index:06}@{stack}'"),
                    3 if joined => stack.clone(),
                    4 if joined => format!("{}@{stack}", u64::from(u32::MAX) + 1 + next(9)),
                    _ => format!("{index:06}@{stack}"),
                };
                names.push(name.into_bytes());
            }
        }
        names
    }

    #[test]
    fn runs_of_consecutive_indices_tell_each_row_its_image_as_a_row_by_row_index_would() {
        // The runs keep no index for a row of a consecutive run: each row's index told from
        // them, its key, whether all are distinct and the kept rows that share an image must
        // be those of the images worked out name by name.
        let mut next = below(0x5851_f42d_4c95_7f2du64);
        let mut listed_share = (0usize, 0usize);
        let mut answers = [0; 2];
        for _ in 0..1500 {
            let names = random_names(&mut next);
            let (mut rows, mut pieces, mut piece) = (ImageRows::default(), ImageRows::default(), ImageRows::default());
            let cut = next(names.len() as u64 + 1) as usize;
            for (k, name) in names.iter().enumerate() {
                rows.push_name(name);
                piece.push_name(name);
                if k + 1 == cut {
                    pieces.extend(&std::mem::take(&mut piece)); // (a scan's pieces, joined)
                }
            }
            pieces.extend(&piece);
            let want: Vec<(Vec<u8>, u32)> = names.iter().map(|n| image_of_name(n)).collect();
            let keep: Vec<bool> = names.iter().map(|_| next(5) != 0).collect();
            let every: Vec<u32> = (0..names.len() as u32).collect();
            for rows in [&rows, &pieces] {
                assert_eq!(row_count(&rows.runs), names.len());
                let told = indices_of(&rows.runs, &rows.indices, &every).unwrap();
                assert_eq!(told, want.iter().map(|w| w.1).collect::<Vec<_>>(), "{names:?}");
                let keys = image_keys(&rows.runs, &rows.indices).unwrap();
                for a in 0..names.len() {
                    for b in 0..a {
                        assert_eq!(keys[a] == keys[b], want[a] == want[b], "{:?} {:?}", names[a], names[b]);
                    }
                }
                let mut seen = std::collections::HashSet::new();
                let all_distinct = want.iter().all(|w| seen.insert(w));
                assert_eq!(distinct(&rows.runs, &rows.indices), Ok(all_distinct));
                answers[usize::from(all_distinct)] += 1;
                let shared = crate::algo::images::rows_of_shared_images(&rows.runs, &rows.indices, &keep, 64).unwrap();
                let brute: Vec<u32> = (0..names.len())
                    .filter(|&a| keep[a] && (0..names.len()).any(|b| b != a && keep[b] && want[b] == want[a]))
                    .map(|a| a as u32)
                    .collect();
                assert_eq!(shared, brute, "{names:?} {keep:?}");
            }
            listed_share = (listed_share.0 + rows.indices.len(), listed_share.1 + names.len());
        }
        assert!(answers.iter().all(|&n| n > 200), "both answers, often: {answers:?}");
        // Most rows climb one by one: most are told by their runs, not listed.
        assert!(listed_share.0 * 2 < listed_share.1, "{listed_share:?}");
    }

    #[test]
    fn an_extract_run_lists_no_index_and_a_break_lists_the_run() {
        let mut rows = ImageRows::default();
        for index in 1..=500 {
            rows.push_name(format!("{index:06}@Extract/job007/m.mrcs").as_bytes());
        }
        assert!(rows.indices.is_empty() && rows.runs.len() == 1 && rows.runs[0].consecutive());
        rows.push_name(b"000502@Extract/job007/m.mrcs"); // (501 left out)
        assert_eq!(rows.indices, (1..=500).chain([502]).collect::<Vec<u32>>());
        rows.push_name(b"000001@other.mrcs");
        rows.push_name(b"000002@other.mrcs");
        assert_eq!(rows.indices.len(), 501);
        assert_eq!(indices_of(&rows.runs, &rows.indices, &[0, 499, 500, 502]), Ok(vec![1, 500, 502, 2]));
        assert!(indices_of(&rows.runs, &rows.indices[1..], &[0]).is_err());
    }
}
