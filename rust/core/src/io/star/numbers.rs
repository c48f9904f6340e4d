//! Fields read as numbers: a fast path for the plain decimals RELION and pickers write,
//! the general parser for the rest.

/// A field as a number, in the syntax Rust's `str::parse::<f64>` accepts (fast-float2 reads
/// the bytes directly: no UTF-8 check, about twice as fast).
pub(crate) fn parse_number(field: &[u8]) -> Option<f64> {
    parse_number_in(field, field.len())
}

/// [`parse_number`] of the field `bytes[..len]`. The bytes after the field (the rest of
/// the row, usually) may be loaded and are ignored: the fast path then reads the field 16
/// bytes at a time without copying it.
#[inline]
pub(super) fn parse_number_in(bytes: &[u8], len: usize) -> Option<f64> {
    plain_decimal_in(bytes, len).or_else(|| fast_float2::parse(&bytes[..len]).ok())
}

/// Exact powers of ten, 10^0 to 10^22 (every one representable in an f64).
pub(super) const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// `m / 10^decimals` (negated), the correctly rounded value of a plain decimal whose digits
/// make the integer `m`; None where that division would not be exact enough.
///
/// m at most 2^53 is exact as an f64 and 10^k (k <= 22) is exact: m / 10^k is then one
/// correctly rounded division, the same f64 as the general parser's correctly rounded
/// result (Clinger's fast path).
#[inline]
fn exact_quotient(negative: bool, mantissa: u64, decimals: usize) -> Option<f64> {
    if mantissa > 1 << 53 || decimals >= POWERS_OF_TEN.len() {
        return None;
    }
    let value = mantissa as f64 / POWERS_OF_TEN[decimals];
    Some(if negative { -value } else { value })
}

/// A field of the form `-?digits.digits` (how RELION and most pickers write coordinates and
/// scores, `%12.6f`) read without the general parser; None for any other form.
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
    if !any_digit {
        return None;
    }
    exact_quotient(negative, mantissa, decimals)
}

/// Bytes a fast read of a field loads from its first digit on (the field's end is masked).
const WIDE: usize = 24;

/// [`plain_decimal`] of `bytes[..len]`, 16 bytes at a time: the digits and the point found
/// by one SIMD compare, the digits on each side of the point read 8 at a time from one
/// 64-bit load (SWAR). Fields of more than 16 characters after the sign take the byte loop.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(super) fn plain_decimal_in(bytes: &[u8], len: usize) -> Option<f64> {
    let negative = len > 0 && bytes[0] == b'-';
    let from = usize::from(negative);
    let n = len - from;
    if n == 0 || n > 16 {
        return plain_decimal(&bytes[..len]);
    }
    let mut padded = [b' '; WIDE];
    let wide: &[u8; WIDE] = match bytes.get(from..from + WIDE) {
        Some(wide) => wide.try_into().unwrap(),
        None => {
            padded[..n].copy_from_slice(&bytes[from..len]);
            &padded
        }
    };
    let (digits, points) = digit_and_point_masks(wide);
    let field = (1u32 << n) - 1;
    let others = field & !digits;
    // Plain: digits and at most one point, at least one digit.
    if others & !points != 0 || others & others.wrapping_sub(1) != 0 || others == field {
        return None;
    }
    let point = if others == 0 { n } else { others.trailing_zeros() as usize };
    let decimals = n - point - usize::from(others != 0);
    let whole = digits_value(wide, 0, point);
    let fraction = digits_value(wide, n - decimals, decimals);
    // At most 16 digits in all: no overflow.
    let mantissa = whole * POWER_OF_TEN_U64[decimals] + fraction;
    exact_quotient(negative, mantissa, decimals)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(super) fn plain_decimal_in(bytes: &[u8], len: usize) -> Option<f64> {
    plain_decimal(&bytes[..len])
}

/// 10^k as an integer, k = 0 to 16 (the decimals of a field of 16 characters at most).
const POWER_OF_TEN_U64: [u64; 17] = {
    let mut p = [1u64; 17];
    let mut k = 1;
    while k < 17 {
        p[k] = p[k - 1] * 10;
        k += 1;
    }
    p
};

/// Bit i set where `wide[i]` (i < 16) is a decimal digit, and where it is a point.
#[cfg(target_arch = "x86_64")]
#[inline]
fn digit_and_point_masks(wide: &[u8; WIDE]) -> (u32, u32) {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline; the 16-byte load is unaligned and in bounds.
    unsafe {
        let v = _mm_loadu_si128(wide.as_ptr() as *const __m128i);
        let value = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
        let nine = _mm_set1_epi8(9);
        // A digit's value is at most 9 unsigned: max(value, 9) == 9.
        let digit = _mm_cmpeq_epi8(_mm_max_epu8(value, nine), nine);
        let point = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'.' as i8));
        (_mm_movemask_epi8(digit) as u32, _mm_movemask_epi8(point) as u32)
    }
}

/// The integer the `count` (at most 16) digits `wide[at..at + count]` make.
#[inline]
fn digits_value(wide: &[u8; WIDE], at: usize, count: usize) -> u64 {
    if count <= 8 {
        eight_digits(wide, at, count)
    } else {
        eight_digits(wide, at, count - 8) * 100_000_000 + eight_digits(wide, at + count - 8, 8)
    }
}

/// The integer of the `count` (at most 8) digits `wide[at..at + count]`, from one 64-bit
/// load: the digits moved to the top bytes (zeros before them), then combined pairwise,
/// 2, 4 and 8 digits at a time, by three multiplications.
#[inline]
fn eight_digits(wide: &[u8; WIDE], at: usize, count: usize) -> u64 {
    if count == 0 {
        return 0;
    }
    let word = u64::from_le_bytes(wide[at..at + 8].try_into().unwrap());
    // Bytes past the digits may borrow from the bytes above them, never from the digits
    // below (the first digit is the lowest byte); the shift drops them.
    let values = word.wrapping_sub(0x3030_3030_3030_3030) << (8 * (8 - count));
    let pairs = values.wrapping_mul(10).wrapping_add(values >> 8);
    let mask = 0x0000_00ff_0000_00ff;
    let fours = (pairs & mask).wrapping_mul(100 + (1_000_000 << 32));
    let eights = ((pairs >> 16) & mask).wrapping_mul(1 + (10_000 << 32));
    fours.wrapping_add(eights) >> 32
}
