//! The record of every rejection (`decisions.csv`) of a STAR file split in one pass, made
//! batch by batch as the rows are decided and written after each batch's kept and rejected
//! rows (`particle_split`): each rejected row, the kept row it lost to, their distance and
//! the rule, in the bytes the Python record writes (`jobs/particles/record.py`: its columns,
//! its numbers as Python's `repr` and `str`, its fields quoted as the `csv` module quotes
//! them). The names are read from the mapped input (the image column's field of each row),
//! never gathered: the decider makes, batch by batch, 4-byte rows and partners, a rule code
//! and a distance per rejected row only.

use memchr::{memchr, memchr3};

use crate::images::{image_prefix, split_image_name};
use crate::io::star::nth_field;

/// The record's header line (`record.table`'s columns without `angle_deg`: a one-pass run has no `--max-angle`).
const HEADER: &[u8] = b"input,row,particle,micrograph,kept_input,kept_row,kept_particle,distance_A,rule\n";

/// The record's lines made before they are written: as many as the buffer of the file they
/// go to holds (`BufWriter` of 1 MB: `mapped::appending`, the two-pass record's), which then
/// writes them to the file itself instead of copying them into its buffer first.
pub(crate) const WRITE_AT: usize = 1 << 20;

/// The rules a one-pass run rejects by, as the record names them (`record.RULES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Rule {
    /// The partner had the better score.
    Score,
    /// Scores tied within one input: the partner comes first in it.
    RowOrder,
    /// No scores: the seeded random ranking put the partner first.
    RandomOrder,
    /// The row had a neighbour within the distance (its partner: the nearest).
    RemoveEntirely,
    /// `--overrides`: forced rejected (no partner), or within the distance of a forced keep (the partner).
    Override,
}

impl Rule {
    fn name(self) -> &'static [u8] {
        match self {
            Rule::Score => b"score",
            Rule::RowOrder => b"row order",
            Rule::RandomOrder => b"random order",
            Rule::RemoveEntirely => b"remove entirely",
            Rule::Override => b"override",
        }
    }
}

/// What the record says of the whole file: its input's name and where each row's name is.
#[derive(Clone, Debug)]
pub struct RecordSpec {
    /// The input's name, as the job names it (`ParticleSet.inputs`), in bytes: a file name
    /// that is not UTF-8 is written as the file system holds it.
    pub input: Vec<u8>,
    /// The image name column (`rlnImageName`): each row's particle name; None: the names are empty.
    pub image: Option<usize>,
}

/// One rejected row of a batch: its row and partner in the whole file (`u32::MAX`: no
/// partner), the rule, the distance between them (Å), and the rows' byte spans in the input
/// (for their names).
#[derive(Clone, Copy, Debug)]
pub struct Rejected {
    pub row: u32,
    pub partner: u32,
    pub rule: Rule,
    pub micrograph: u32,
    pub distance: f64,
    pub span: (u64, u64),
    pub partner_span: (u64, u64),
}

/// A decided batch's rejected rows, in input order, and the micrograph names met since the last batch.
#[derive(Debug, Default)]
pub struct RecordBatch {
    pub rejected: Vec<Rejected>,
    pub new_micrographs: Vec<Vec<u8>>,
}

/// The rule by which a row lost to its partner (`record._duplicate_rules` of one input, greedy).
#[inline]
pub fn rule_of(remove_entirely: bool, scores: Option<(f64, f64)>) -> Rule {
    match scores {
        _ if remove_entirely => Rule::RemoveEntirely,
        None => Rule::RandomOrder,
        // (no score ranks last: two rows without one are tied)
        Some((ours, theirs)) if ours == theirs || (!ours.is_finite() && !theirs.is_finite()) => Rule::RowOrder,
        Some(_) => Rule::Score,
    }
}

/// The distance between two centres of `dim` coordinates, summed as numpy sums a row's squares.
#[inline]
pub fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).fold(0.0, |sum, d2| sum + d2).sqrt()
}

/// The record's lines, made by the split's writer as it writes the rows (`particle_split`):
/// the names are read from rows the copy just read into the caches. (Made on a thread of
/// their own, a batch behind, the names were read from memory, and the thread took the two
/// cores from the scan and the writer.)
pub struct RecordLines {
    spec: RecordSpec,
    /// The input's name as a CSV field.
    input: Vec<u8>,
    /// Each micrograph's name (by id) as a CSV field.
    micrographs: Vec<Vec<u8>>,
    scratch: Scratch,
}

impl RecordLines {
    /// The record's header line, written first.
    pub const HEADER: &'static [u8] = HEADER;

    pub fn new(spec: RecordSpec) -> Self {
        let mut input = Vec::new();
        csv_field(&mut input, &escaped_name(&spec.input));
        RecordLines { spec, input, micrographs: Vec::new(), scratch: Scratch::default() }
    }

    /// Takes the names of the micrographs met next (ids in order of first appearance).
    pub fn name_micrographs(&mut self, names: &[Vec<u8>]) {
        self.micrographs.extend(names.iter().map(|name| {
            let mut field = Vec::new();
            csv_field(&mut field, String::from_utf8_lossy(name).as_bytes());
            field
        }));
    }

    /// Appends to `line` the lines of `rejected` rows, their names read from `data`.
    pub fn lines(&mut self, line: &mut Vec<u8>, data: &[u8], rejected: &[Rejected]) {
        let (input, scratch, image) = (&self.input[..], &mut self.scratch, self.spec.image);
        for (k, r) in rejected.iter().enumerate() {
            if let (Some(ahead), Some(_)) = (rejected.get(k + AHEAD), image) {
                prefetch(data, ahead.span, scratch.reach);
                prefetch(data, ahead.partner_span, scratch.reach);
            }
            let has = r.partner != u32::MAX;
            line.extend_from_slice(input);
            line.push(b',');
            decimal(line, u64::from(r.row) + 1);
            line.push(b',');
            particle_name(line, data, r.span, image, scratch);
            line.push(b',');
            line.extend_from_slice(&self.micrographs[r.micrograph as usize]);
            line.push(b',');
            if has {
                line.extend_from_slice(input);
                line.push(b',');
                decimal(line, u64::from(r.partner) + 1);
                line.push(b',');
                particle_name(line, data, r.partner_span, image, scratch);
                line.push(b',');
                if r.distance.is_finite() {
                    scratch.repr(line, r.distance);
                }
            } else {
                line.extend_from_slice(b",,,");
            }
            line.push(b',');
            line.extend_from_slice(r.rule.name());
            line.push(b'\n');
        }
    }
}

/// Rejected rows ahead of the one being written whose names' bytes are asked of the memory
/// ([`prefetch`]): a batch's first rows were scanned a batch (25 MB at RELION's 390 bytes a
/// row) before, out of the caches; read on a thread a batch behind, their first bytes were 6 %
/// of a 10M job's CPU samples, stalled.
const AHEAD: usize = 8;

/// Asks the caches for the bytes of the row at `span` that the search for its name reads
/// (its first `reach`: up to the end of the last row's name).
#[inline]
fn prefetch(data: &[u8], span: (u64, u64), reach: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = span.0 as usize;
        let end = (span.1 as usize).min(start.saturating_add(reach)).min(data.len());
        for at in (start & !63..end).step_by(64) {
            // SAFETY: `at` is within `data` (below its length); a prefetch reads nothing into
            // the program and faults on nothing.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(data.as_ptr().add(at).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, span, reach);
}

/// Buffers reused from row to row (no allocation a row).
pub(crate) struct Scratch {
    pub(crate) name: Vec<u8>,
    digits: ryu::Buffer,
    /// The bytes from its row's start to the end of the last name found (what the next
    /// rows' searches are likely to read: [`prefetch`]).
    reach: usize,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch { name: Vec::new(), digits: ryu::Buffer::new(), reach: 256 }
    }
}

impl Scratch {
    /// [`python_repr`], its shortest digits made by Ryu in the reused buffer (a tenth of the
    /// instructions of `{:e}` through `std::fmt`: at 10M particles a million distances).
    pub(crate) fn repr(&mut self, line: &mut Vec<u8>, x: f64) {
        let text = self.digits.format_finite(x.abs()).as_bytes();
        if x.is_sign_negative() {
            line.push(b'-');
        }
        // Ryu writes fixed notation for 1e-5 <= |x| < 1e16, Python from 1e-4: the same bytes
        // there (`0.001234`, `12.34`, `1234.0`); elsewhere its digits laid out as Python lays them.
        if !text.contains(&b'e') && !text.starts_with(b"0.0000") {
            line.extend_from_slice(text);
            return;
        }
        let mut digits = [0u8; 24];
        let (n, point) = ryu_digits(text, &mut digits);
        repr_of_digits(line, &digits[..n], point);
    }
}

/// The significant digits of Ryu's `text` (a finite, non-negative number: `1.234e-7`,
/// `1e30`, `0.00001234`) into `digits`: how many, and the digits before the decimal point
/// (`1.234e-7`: 4 and -6).
fn ryu_digits(text: &[u8], digits: &mut [u8; 24]) -> (usize, i32) {
    let (mantissa, exponent) = match text.iter().position(|&b| b == b'e') {
        Some(e) => {
            let exponent = std::str::from_utf8(&text[e + 1..]).ok().and_then(|t| t.parse::<i32>().ok());
            (&text[..e], exponent.expect("Ryu's exponent is a number"))
        }
        None => (text, 0),
    };
    let (mut n, mut point, mut seen) = (0usize, None, false);
    for (k, &b) in mantissa.iter().enumerate() {
        match b {
            b'.' => point = Some(k as i32),
            b'0' if !seen => {}
            _ => {
                seen = true;
                digits[n] = b;
                n += 1;
            }
        }
    }
    let point = point.unwrap_or(mantissa.len() as i32) + exponent;
    let leading = mantissa.iter().take_while(|&&b| b == b'0' || b == b'.').filter(|&&b| b == b'0').count() as i32;
    while n > 1 && digits[n - 1] == b'0' {
        n -= 1; // (trailing zeros of `1234.0`: not significant)
    }
    if n == 0 {
        digits[0] = b'0';
        return (1, 1); // (zero: `0.0`)
    }
    (n, point - leading)
}

/// `n` in decimal, two digits at a time.
pub(crate) fn decimal(line: &mut Vec<u8>, mut n: u64) {
    const PAIRS: [u8; 200] = {
        let mut pairs = [0u8; 200];
        let mut k = 0;
        while k < 100 {
            pairs[2 * k] = b'0' + (k / 10) as u8;
            pairs[2 * k + 1] = b'0' + (k % 10) as u8;
            k += 1;
        }
        pairs
    };
    let mut digits = [0u8; 20];
    let mut k = digits.len();
    while n >= 100 {
        let pair = 2 * (n % 100) as usize;
        n /= 100;
        k -= 2;
        digits[k..k + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        k -= 2;
        digits[k..k + 2].copy_from_slice(&PAIRS[2 * n as usize..2 * n as usize + 2]);
    } else {
        k -= 1;
        digits[k] = b'0' + n as u8;
    }
    line.extend_from_slice(&digits[k..]);
}

/// The particle name of the row at `span` as the Python record tells it from the image runs
/// (`formats/star/particles._named_images`): the index padded with zeros to the digits of its
/// `index@` prefix, `@`, and the stack; empty without an image column.
fn particle_name(line: &mut Vec<u8>, data: &[u8], span: (u64, u64), image: Option<usize>, scratch: &mut Scratch) {
    let Some(column) = image else { return };
    let row = &data[span.0 as usize..span.1 as usize];
    let found = nth_field(row, column);
    if let Some(field) = found {
        scratch.reach = field.as_ptr() as usize + field.len() - row.as_ptr() as usize;
    }
    let found = found.unwrap_or_default();
    // A field not in quotes is its own name: its index padded back to the digits of its
    // prefix is those digits again (`000012@`, `12@`, none); only its UTF-8 is mended. (Below
    // 256 bytes: the prefix's length is a byte.)
    if found.len() < 256 && !matches!(found.first(), Some(b'"' | b'\'')) {
        if plain(found) {
            line.extend_from_slice(found); // (as csv_field writes it, and no UTF-8 to mend)
            return;
        }
        match std::str::from_utf8(found) {
            Ok(_) => csv_field(line, found),
            Err(_) => csv_field(line, String::from_utf8_lossy(found).as_bytes()),
        }
        return;
    }
    let (index, stack) = split_image_name(found);
    let prefix = image_prefix(found, stack); // (as the scan's runs hold it: `ImageRows::push_name`)
    let name = &mut scratch.name;
    name.clear();
    if prefix > 0 {
        let at = name.len();
        decimal(name, u64::from(index));
        let width = usize::from(prefix - 1);
        let digits = name.len() - at;
        if digits < width {
            name.splice(at..at, std::iter::repeat_n(b'0', width - digits));
        }
        name.push(b'@');
    }
    match std::str::from_utf8(stack) {
        Ok(text) => name.extend_from_slice(text.as_bytes()),
        Err(_) => name.extend_from_slice(String::from_utf8_lossy(stack).as_bytes()),
    }
    csv_field(line, name);
}

/// Whether `text` is ASCII without a byte the CSV quotes (a comma, a quote, a line break): a
/// field written as it is, told in one pass 16 bytes at a time (not three searches and a
/// UTF-8 check: each particle name of the record is looked at).
#[cfg(target_arch = "x86_64")]
#[inline]
fn plain(text: &[u8]) -> bool {
    use std::arch::x86_64::*;
    let mut chunks = text.chunks_exact(16);
    // SAFETY: SSE2 is part of the x86_64 baseline; each load is of 16 bytes of a 16-byte chunk.
    let special = unsafe {
        let (comma, quote, lf, cr) = (
            _mm_set1_epi8(b',' as i8),
            _mm_set1_epi8(b'"' as i8),
            _mm_set1_epi8(b'\n' as i8),
            _mm_set1_epi8(b'\r' as i8),
        );
        let mut any = _mm_setzero_si128();
        for chunk in chunks.by_ref() {
            let v = _mm_loadu_si128(chunk.as_ptr() as *const __m128i);
            let found = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, quote)),
                _mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr)),
            );
            any = _mm_or_si128(any, _mm_or_si128(found, v)); // (v: its top bit, a byte beyond ASCII)
        }
        _mm_movemask_epi8(any) != 0
    };
    !special && chunks.remainder().iter().all(|&b| b.is_ascii() && !matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn plain(text: &[u8]) -> bool {
    text.iter().all(|&b| b.is_ascii() && !matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

/// A name as the record writes it, UTF-8 whatever the file system holds: each byte that is not
/// part of valid UTF-8 as `\xHH` (two lowercase hex digits), the rest as it is; as Python's
/// `bytes.decode("utf-8", "backslashreplace")` tells it (`record.write_decisions`).
pub(crate) fn escaped_name(name: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if std::str::from_utf8(name).is_ok() {
        return std::borrow::Cow::Borrowed(name);
    }
    let mut text = Vec::with_capacity(name.len() + 8);
    for chunk in name.utf8_chunks() {
        text.extend_from_slice(chunk.valid().as_bytes());
        for &b in chunk.invalid() {
            text.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        }
    }
    std::borrow::Cow::Owned(text)
}

/// A CSV field as Python's record writes a text: quoted (its quotes doubled) where it holds a
/// comma, a quote or a line break.
pub(crate) fn csv_field(line: &mut Vec<u8>, text: &[u8]) {
    if plain(text) || memchr3(b',', b'"', b'\n', text).is_none() && memchr(b'\r', text).is_none() {
        line.extend_from_slice(text);
        return;
    }
    line.push(b'"');
    for &b in text {
        if b == b'"' {
            line.push(b'"');
        }
        line.push(b);
    }
    line.push(b'"');
}

/// A finite float as Python's `repr` writes it: the shortest digits that read back to it, in
/// fixed notation where the decimal point falls within 16 digits before or 4 after, else
/// `d.ddde±XX`.
pub fn python_repr(line: &mut Vec<u8>, x: f64) {
    Scratch::default().repr(line, x);
}

/// [`python_repr`]'s layout of the shortest `digits` (no leading or trailing zeros but a lone
/// `0`), `point` of them before the decimal point (negative: zeros after it first).
fn repr_of_digits(line: &mut Vec<u8>, digits: &[u8], point: i32) {
    let n = digits.len() as i32;
    if point <= -4 || point > 16 {
        let exponent = point - 1;
        line.push(digits[0]);
        if n > 1 {
            line.push(b'.');
            line.extend_from_slice(&digits[1..]);
        }
        line.extend_from_slice(if exponent < 0 { b"e-" } else { b"e+" });
        if exponent.abs() < 10 {
            line.push(b'0');
        }
        decimal(line, u64::from(exponent.unsigned_abs()));
    } else if point <= 0 {
        line.extend_from_slice(b"0.");
        line.extend(std::iter::repeat_n(b'0', (-point) as usize));
        line.extend_from_slice(digits);
    } else if point >= n {
        line.extend_from_slice(digits);
        line.extend(std::iter::repeat_n(b'0', (point - n) as usize));
        line.extend_from_slice(b".0");
    } else {
        line.extend_from_slice(&digits[..point as usize]);
        line.push(b'.');
        line.extend_from_slice(&digits[point as usize..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(x: f64) -> String {
        let mut line = Vec::new();
        python_repr(&mut line, x);
        String::from_utf8(line).unwrap()
    }

    #[test]
    fn floats_as_python_reprs_them() {
        // Each written by CPython 3's repr (a hand-checked table: the oracle).
        let table = [
            (0.0, "0.0"),
            (20.0, "20.0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-05, "1.5e-05"),
            (123456789012345.6, "123456789012345.6"),
            (1e16, "1e+16"),
            (1.2345e16, "1.2345e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e22, "1e+22"),
            (14.142135623730951, "14.142135623730951"),
            (2.220446049250313e-16, "2.220446049250313e-16"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (-3.25, "-3.25"),
            (995853563101410.2, "995853563101410.2"), // (995853563101410.25 exactly: the even digit)
        ];
        for (x, want) in table {
            assert_eq!(repr(x), want, "{x:e}");
        }
    }

    /// Python's `repr` of `x` from the digits of Rust's own `{:e}` (Grisu, Dragon where it
    /// fails: the shortest digits, as Python's `repr` takes them), laid out as Python does.
    fn repr_by_std(x: f64) -> String {
        let text = format!("{:e}", x.abs());
        let (mantissa, exponent) = text.split_once('e').unwrap();
        let digits: Vec<u8> = mantissa.bytes().filter(|&b| b != b'.').collect();
        let mut line = Vec::new();
        if x.is_sign_negative() {
            line.push(b'-');
        }
        repr_of_digits(&mut line, &digits, exponent.parse::<i32>().unwrap() + 1);
        String::from_utf8(line).unwrap()
    }

    #[test]
    fn floats_as_rusts_own_shortest_digits_tell_them() {
        // Random bit patterns (every exponent), distances of random centres (the record's
        // numbers), and the powers of ten and their neighbours (where the layouts change).
        let mut random = crate::test_random(5);
        let mut word = || (random(1 << 32) << 32) | random(1 << 32);
        let mut cases: Vec<f64> = (0..200_000).map(|_| f64::from_bits(word())).filter(|x| x.is_finite()).collect();
        cases.extend((0..200_000).map(|k| {
            let (dx, dy) = ((word() % 40_000) as f64 / 997.0, (word() % 40_000) as f64 / 13.0);
            (dx * dx + dy * dy).sqrt() / if k % 2 == 0 { 1.0 } else { 1e6 }
        }));
        for e in -325..310 {
            let p = format!("1e{e}").parse::<f64>().unwrap();
            cases.extend([p, f64::from_bits(p.to_bits() + 1), f64::from_bits(p.to_bits().saturating_sub(1)), 1.5 * p]);
        }
        cases.extend([0.0, -0.0, 5e-324, f64::MAX, f64::MIN_POSITIVE, 0.1 + 0.2, 1.0 / 3.0]);
        for x in cases.into_iter().filter(|x| x.is_finite()) {
            let (ours, std) = (repr(x), repr_by_std(x));
            if ours != std {
                // A tie (two shortest digits equally near x, as 995853563101410.25): std rounds
                // it up, Python (and Ryu) to the even digit. Both read back to x.
                let parsed = |t: &str| t.parse::<f64>().unwrap();
                assert!(parsed(&ours) == x && parsed(&std) == x && ours.len() == std.len(), "{x:e}: {ours} {std}");
                let last = |t: &str| t.bytes().rfind(u8::is_ascii_digit).unwrap();
                assert!(last(&ours) % 2 == 0 && last(&std) % 2 == 1, "{x:e}: {ours} {std}");
            }
        }
    }

    #[test]
    fn plain_fields_are_ascii_without_what_csv_quotes() {
        // Each byte of interest at every place of texts of 0 to 40 bytes (across the 16-byte
        // chunks and the tail): plain where csv_field writes the text unquoted and it is ASCII.
        for len in 0..41 {
            let base = vec![b'a'; len];
            assert!(plain(&base));
            for at in 0..len {
                for b in [b',', b'"', b'\n', b'\r', 0x80, 0xff, b'\'', b' ', b'@', 0x7f, 0] {
                    let mut text = base.clone();
                    text[at] = b;
                    let mut field = Vec::new();
                    csv_field(&mut field, &text);
                    assert_eq!(plain(&text), field == text && text.is_ascii(), "{len} {at} {b}");
                }
            }
        }
    }

    #[test]
    fn names_not_utf8_are_written_as_python_backslashreplace_tells_them() {
        // The oracle: Python's b"...".decode("utf-8", "backslashreplace"), worked by hand.
        let cases: [(&[u8], &str); 5] = [
            (b"plain.star", "plain.star"),
            (b"a\xffb.star", "a\\xffb.star"),
            (b"\xe2\x82x", "\\xe2\\x82x"),
            (b"\xed\xa0\x80", "\\xed\\xa0\\x80"),
            ("é\u{2028}".as_bytes(), "é\u{2028}"),
        ];
        for (name, told) in cases {
            assert_eq!(&*escaped_name(name), told.as_bytes(), "{name:?}");
        }
    }

    #[test]
    fn fields_are_quoted_where_csv_quotes_them() {
        let field = |t: &[u8]| {
            let mut line = Vec::new();
            csv_field(&mut line, t);
            String::from_utf8(line).unwrap()
        };
        assert_eq!(field(b"m1.mrc"), "m1.mrc");
        assert_eq!(field(b"a,b"), "\"a,b\"");
        assert_eq!(field(b"say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(field(b"two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn particle_names_are_told_as_the_runs_tell_them() {
        let name = |row: &[u8]| {
            let mut line = Vec::new();
            particle_name(&mut line, row, (0, row.len() as u64), Some(1), &mut Scratch::default());
            String::from_utf8(line).unwrap()
        };
        assert_eq!(name(b"1.0 000012@Extract/s.mrcs 3\n"), "000012@Extract/s.mrcs");
        assert_eq!(name(b"1.0 12@s.mrcs\n"), "12@s.mrcs");
        // Quoted: the name inside the quotes, as RELION and starfile read it (its digits as written).
        assert_eq!(name(b"1.0 \"12@my s.mrcs\"\n"), "12@my s.mrcs");
        assert_eq!(name(b"1.0 \"000004@a b.mrcs\"\n"), "000004@a b.mrcs");
        assert_eq!(name(b"1.0 '000004@a b.mrcs'\n"), "000004@a b.mrcs");
        assert_eq!(name(b"1.0 \"one image.mrc\"\n"), "one image.mrc");
        assert_eq!(name(b"1.0 plain.mrcs\n"), "plain.mrcs");
        // Indices however padded, beyond u32, without digits or stack: the field as it is.
        assert_eq!(name(b"1.0 0000000000000000000000012@s.mrcs\n"), "0000000000000000000000012@s.mrcs");
        assert_eq!(name(b"1.0 0@s.mrcs 00@t.mrcs\n"), "0@s.mrcs");
        assert_eq!(name(b"1.0 99999999999@s.mrcs\n"), "99999999999@s.mrcs");
        assert_eq!(name(b"1.0 @s.mrcs\n"), "@s.mrcs");
        assert_eq!(name(b"1.0 12@\n"), "12@");
        assert_eq!(name(b"1.0\n"), "");
        // An invalid byte replaced, as Python decodes the stack.
        assert_eq!(name(b"1.0 7@s\xffx.mrcs\n"), "7@s\u{fffd}x.mrcs");
        // Past 255 bytes of zeros and digits the prefix's length wraps as the runs keep it (a byte).
        let long = format!("1.0 {}12@s.mrcs\n", "0".repeat(300));
        assert_eq!(name(long.as_bytes()), format!("{}12@s.mrcs", "0".repeat(300 - 256)));
        let stack = "d/".repeat(200);
        assert_eq!(name(format!("1.0 12@{stack}\n").as_bytes()), format!("12@{stack}"));
        // The field found past quoted fields as the STAR reader finds it; a quote inside a field is text.
        assert_eq!(name(b"'a b' 7@s.mrcs\n"), "7@s.mrcs");
        assert_eq!(name(b"x'y 0007@s,t.mrcs \"z\"\n"), "\"0007@s,t.mrcs\"");
    }

    #[test]
    fn the_nth_field_is_the_one_the_star_reader_reads() {
        // Random lines of short and long fields (across the masks' 64-byte chunks), spaces and
        // tabs between them, some with quotes; each field against `for_each_field`'s.
        let mut random = crate::test_random(11);
        for _ in 0..2000 {
            let mut line = Vec::new();
            for _ in 0..random(12) {
                line.extend(std::iter::repeat_n(b" \t"[random(2) as usize], 1 + random(70) as usize));
                let quoted = random(20) == 0;
                line.extend(quoted.then_some(b'"'));
                line.extend((0..1 + random(90)).map(|k| b'a' + (k % 26) as u8));
                line.extend(quoted.then_some(b'"'));
            }
            line.extend(std::iter::repeat_n(b' ', random(3) as usize));
            let mut fields = Vec::new();
            let _ = crate::io::star::for_each_field(&line, |_, f| fields.push(f));
            for (k, want) in fields.iter().enumerate() {
                assert_eq!(nth_field(&line, k), Some(*want), "{}", String::from_utf8_lossy(&line));
            }
            assert_eq!(nth_field(&line, fields.len()), None);
        }
    }

    #[test]
    fn rules_as_the_record_names_them() {
        assert_eq!(rule_of(true, Some((1.0, 2.0))), Rule::RemoveEntirely);
        assert_eq!(rule_of(false, None), Rule::RandomOrder);
        assert_eq!(rule_of(false, Some((1.0, 2.0))), Rule::Score);
        assert_eq!(rule_of(false, Some((2.0, 2.0))), Rule::RowOrder);
        assert_eq!(rule_of(false, Some((f64::NAN, f64::NEG_INFINITY))), Rule::RowOrder);
        assert_eq!(rule_of(false, Some((f64::NAN, 1.0))), Rule::Score);
    }
}
