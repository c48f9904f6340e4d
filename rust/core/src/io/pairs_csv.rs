//! The rows of the micrograph job's `pairs.csv`, formatted as Python's `csv` module and
//! `format(x, ".Nf")` format them, byte for byte (the job wrote them so before; an update
//! round rewrites half a million rows, which took seconds in Python).
//!
//! Rust's fixed-precision formatting is exact, rounding ties to even, as Python's is; only
//! NaN is spelt differently ("NaN", Python "nan"). The names come already quoted and encoded
//! by the caller (Python's `csv` decides the quoting), so nothing here needs to know it.

use rayon::prelude::*;
use std::io::{self, Write};

/// Rows formatted per parallel task: small enough to spread, big enough to be cheap to join.
const ROWS_PER_TASK: usize = 32_768;

/// The scores of the pairs, one entry per row; `dx`/`dy` NaN where nothing was scored (no images).
pub struct PairColumns<'a> {
    pub a: &'a [i64],
    pub b: &'a [i64],
    pub z: &'a [f64],
    pub pearson: &'a [f64],
    pub overlap: &'a [f64],
    pub dy: &'a [f64],
    pub dx: &'a [f64],
    pub duplicate: &'a [bool],
    pub uncertain: &'a [bool],
    pub joint: &'a [f64],
    /// The positions' distance in µm (`--metadata`): a last column, empty where NaN.
    pub distance: Option<&'a [f64]>,
}

impl PairColumns<'_> {
    /// The number of rows, or an error naming the first column of another length.
    pub fn rows(&self) -> Result<usize, String> {
        let n = self.a.len();
        let lengths = [
            ("b", self.b.len()),
            ("z", self.z.len()),
            ("pearson", self.pearson.len()),
            ("overlap", self.overlap.len()),
            ("dy", self.dy.len()),
            ("dx", self.dx.len()),
            ("duplicate", self.duplicate.len()),
            ("uncertain", self.uncertain.len()),
            ("joint", self.joint.len()),
            ("distance", self.distance.map_or(n, <[f64]>::len)),
        ];
        match lengths.iter().find(|(_, len)| *len != n) {
            Some((name, len)) => Err(format!("column {name} has {len} entries, a has {n}")),
            None => Ok(n),
        }
    }
}

/// Writes the rows (after a header the caller wrote) to `out`, each ending in "\r\n".
///
/// `names[i]` is micrograph i's field as the `csv` module writes it (quoted where needed, in
/// the file's encoding); `binning` scales the binned shifts to pixels, `psize` (Å per
/// unbinned pixel) to Å. Rows are formatted in parallel and written in order.
pub fn write_pair_rows<W: Write>(
    out: &mut W,
    names: &[&[u8]],
    columns: &PairColumns<'_>,
    binning: i64,
    psize: f64,
) -> io::Result<()> {
    let n = columns.rows().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let bad = |i: i64| i < 0 || i as usize >= names.len();
    if let Some(&i) = columns.a.iter().chain(columns.b).find(|&&i| bad(i)) {
        let message = format!("micrograph index {i} is out of range ({} names)", names.len());
        return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
    }
    let starts: Vec<usize> = (0..n).step_by(ROWS_PER_TASK).collect();
    let chunks: Vec<Vec<u8>> = starts
        .par_iter()
        .map(|&start| {
            let mut buf = Vec::with_capacity(ROWS_PER_TASK * 96);
            for k in start..(start + ROWS_PER_TASK).min(n) {
                row(&mut buf, names, columns, k, binning, psize);
            }
            buf
        })
        .collect();
    for chunk in &chunks {
        out.write_all(chunk)?;
    }
    Ok(())
}

fn row(buf: &mut Vec<u8>, names: &[&[u8]], c: &PairColumns<'_>, k: usize, binning: i64, psize: f64) {
    let (a, b) = (c.a[k], c.b[k]);
    // Writing to a Vec cannot fail.
    let _ = write!(buf, "{a},{b},");
    buf.extend_from_slice(names[a as usize]);
    buf.push(b',');
    buf.extend_from_slice(names[b as usize]);
    if c.dx[k].is_finite() {
        // Python's int() of the shift: toward zero.
        let (dx, dy) = ((c.dx[k] as i64) * binning, (c.dy[k] as i64) * binning);
        buf.push(b',');
        fixed(buf, c.z[k], 2);
        buf.push(b',');
        fixed(buf, c.pearson[k], 4);
        buf.push(b',');
        fixed(buf, c.overlap[k], 3);
        let _ = write!(buf, ",{dx},{dy},");
        fixed(buf, dx as f64 * psize, 1);
        buf.push(b',');
        fixed(buf, dy as f64 * psize, 1);
    } else {
        buf.extend_from_slice(b",,,,,,,");
    }
    let _ = write!(buf, ",{},{},", u8::from(c.duplicate[k]), u8::from(c.uncertain[k]));
    fixed(buf, c.joint[k], 3);
    if let Some(distance) = c.distance {
        buf.push(b',');
        if distance[k].is_finite() {
            fixed(buf, distance[k], 4);
        }
    }
    buf.extend_from_slice(b"\r\n");
}

/// Powers of ten for the decimals written (at most 4 in pairs.csv).
const TENS: [u64; 5] = [1, 10, 100, 1000, 10_000];

/// `x` with `digits` decimals, as Python's `format(x, ".{digits}f")`.
///
/// Most values are rounded here in integers: |x| 10^digits is computed within 2^-21 of the
/// exact product when below 2^32, so unless its fraction lies within 10^-5 of one half the
/// nearest integer is the exact value's. The rest (near a tie, large, not finite) go to
/// Rust's exact formatting, which rounds ties to even as Python does.
fn fixed(buf: &mut Vec<u8>, x: f64, digits: usize) {
    if x.is_nan() {
        buf.extend_from_slice(b"nan");
        return;
    }
    if digits < TENS.len() {
        let scaled = x.abs() * TENS[digits] as f64;
        if scaled < 4_294_967_296.0 {
            let whole = scaled.floor();
            let fraction = scaled - whole;
            if (fraction - 0.5).abs() > 1e-5 {
                let n = whole as u64 + u64::from(fraction > 0.5);
                if x.is_sign_negative() {
                    buf.push(b'-'); // Python keeps the sign of a negative number that rounds to zero
                }
                let (units, decimals) = (n / TENS[digits], n % TENS[digits]);
                let _ = write!(buf, "{units}");
                if digits > 0 {
                    let _ = write!(buf, ".{decimals:0digits$}");
                }
                return;
            }
        }
    }
    let _ = write!(buf, "{x:.digits$}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(x: f64, digits: usize) -> String {
        let mut buf = Vec::new();
        fixed(&mut buf, x, digits);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn numbers_as_python_formats_them() {
        // Python: format(0.125, ".2f") == "0.12" (ties to even on the exact value), "-0.00" for
        // a negative number that rounds to zero, "nan", "inf", "-inf".
        assert_eq!(text(0.125, 2), "0.12");
        assert_eq!(text(0.375, 2), "0.38");
        assert_eq!(text(1.005, 2), "1.00"); // 1.00499999999999989...
        assert_eq!(text(-0.0001, 3), "-0.000");
        assert_eq!(text(f64::NAN, 2), "nan");
        assert_eq!(text(-f64::NAN, 2), "nan");
        assert_eq!(text(f64::NEG_INFINITY, 3), "-inf");
        assert_eq!(text(f64::INFINITY, 4), "inf");
    }

    #[test]
    fn integer_rounding_agrees_with_exact_formatting() {
        // The oracle: Rust's exact formatting, on values spread over many magnitudes, their
        // ties and their neighbours.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for k in 0..400_000 {
            let mantissa = (next() >> 11) as f64 / (1u64 << 53) as f64;
            let scale = 10f64.powi(k % 14 - 6);
            let mut x = (mantissa - 0.5) * scale;
            if k % 5 == 0 {
                // A tie at some number of decimals, or the double just beside one.
                let digits = (next() % 5) as i32;
                x = ((next() % 200_000) as f64 + 0.5) / 10f64.powi(digits) - 10.0;
                x = match k % 3 {
                    0 => x,
                    1 => f64::from_bits(x.to_bits() + 1),
                    _ => f64::from_bits(x.to_bits() - 1),
                };
            }
            for digits in 0..5 {
                let mut buf = Vec::new();
                fixed(&mut buf, x, digits);
                assert_eq!(String::from_utf8(buf).unwrap(), format!("{x:.digits$}"), "{x:e} at {digits}");
            }
        }
    }

    #[test]
    fn rows_with_and_without_scores() {
        let names: Vec<&[u8]> = vec![b"m0.mrc", b"\"a,b\".mrc"];
        let columns = PairColumns {
            a: &[0, 1],
            b: &[1, 0],
            z: &[12.345, f64::NAN],
            pearson: &[0.5, f64::NAN],
            overlap: &[0.8875, f64::NAN],
            dy: &[-3.0, f64::NAN],
            dx: &[2.0, f64::NAN],
            duplicate: &[true, false],
            uncertain: &[false, true],
            joint: &[1.5, f64::NEG_INFINITY],
            distance: Some(&[0.25, f64::NAN]),
        };
        let mut out = Vec::new();
        write_pair_rows(&mut out, &names, &columns, 8, 1.5).unwrap();
        let expected = "0,1,m0.mrc,\"a,b\".mrc,12.35,0.5000,0.887,16,-24,24.0,-36.0,1,0,1.500,0.2500\r\n\
                        1,0,\"a,b\".mrc,m0.mrc,,,,,,,,0,1,-inf,\r\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn refuses_columns_of_other_lengths_and_unknown_micrographs() {
        let names: Vec<&[u8]> = vec![b"m0"];
        let one = [0.0];
        let mut columns = PairColumns {
            a: &[0],
            b: &[1],
            z: &one,
            pearson: &one,
            overlap: &one,
            dy: &one,
            dx: &one,
            duplicate: &[false],
            uncertain: &[false],
            joint: &one,
            distance: None,
        };
        assert!(write_pair_rows(&mut Vec::new(), &names, &columns, 1, 1.0).is_err());
        columns.b = &[0];
        columns.joint = &[];
        assert!(write_pair_rows(&mut Vec::new(), &names, &columns, 1, 1.0).is_err());
    }
}
