//! Fields read as numbers: a fast path for the plain decimals RELION and pickers write,
//! the general parser for the rest.

/// A field as a number, in the syntax Rust's `str::parse::<f64>` accepts (fast-float2 reads
/// the bytes directly: no UTF-8 check, about twice as fast).
pub(crate) fn parse_number(field: &[u8]) -> Option<f64> {
    plain_decimal(field).or_else(|| fast_float2::parse(field).ok())
}

/// Exact powers of ten, 10^0 to 10^22 (every one representable in an f64).
pub(super) const POWERS_OF_TEN: [f64; 23] = [
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
pub(super) fn plain_decimal(field: &[u8]) -> Option<f64> {
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
