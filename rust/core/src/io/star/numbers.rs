//! Fields read as numbers: a fast path for the plain decimals RELION and pickers write,
//! the general parser for the rest.

/// A field as a number, in the syntax Rust's `str::parse::<f64>` accepts (fast-float2 reads
/// the bytes directly: no UTF-8 check, about twice as fast).
pub(crate) fn parse_number(field: &[u8]) -> Option<f64> {
    parse_number_in(field, field.len(), Swar)
}

/// [`parse_number`] of the field `bytes[..len]`. The bytes after the field (the rest of
/// the row, usually) may be loaded and are ignored: the fast path then reads the field 16
/// bytes at a time without copying it.
#[inline(always)]
pub(super) fn parse_number_in(bytes: &[u8], len: usize, reader: impl DigitReader) -> Option<f64> {
    match plain_decimal_in(bytes, len, reader) {
        Some(value) => Some(value),
        None => general_number(&bytes[..len]),
    }
}

/// [`parse_number`] of the field `bytes[start..end]`, the bytes after it loaded as by
/// [`parse_number_in`].
#[inline(always)]
pub(super) fn parse_number_at(bytes: &[u8], start: usize, end: usize, reader: impl DigitReader) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if let Some(wide) = bytes.get(start..).and_then(|rest| rest.first_chunk::<WIDE>()) {
        // (A field longer than WIDE is no plain decimal: the general parser reads it.)
        return match wide_plain_decimal(wide, end - start, reader) {
            Some(value) => Some(value),
            None => general_number(&bytes[start..end]),
        };
    }
    parse_number_in(&bytes[start..], end - start, reader)
}

/// The general parser, out of the fast path's line.
#[inline(never)]
fn general_number(field: &[u8]) -> Option<f64> {
    fast_float2::parse(field).ok()
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

/// Bytes a fast read of a field looks at: a sign, 16 characters, and the 8 bytes a load at
/// the last of them reads.
const WIDE: usize = 25;

/// [`plain_decimal`] of `bytes[..len]`, 16 bytes at a time: the digits and the point found
/// by one SIMD compare, the digits on each side of the point read 8 at a time from one
/// 64-bit load (SWAR). Fields of more than 16 characters after the sign take the byte loop.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn plain_decimal_in(bytes: &[u8], len: usize, reader: impl DigitReader) -> Option<f64> {
    match bytes.get(..WIDE) {
        Some(wide) if len <= bytes.len() => wide_plain_decimal(wide.try_into().unwrap(), len, reader),
        _ => padded_plain_decimal(&bytes[..len]),
    }
}

/// [`plain_decimal_in`] of a field at the end of the data: copied, padded with spaces.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
fn padded_plain_decimal(field: &[u8]) -> Option<f64> {
    let mut wide = [b' '; WIDE];
    let head = wide.get_mut(..field.len())?; // longer: not a plain decimal of 19 characters
    head.copy_from_slice(field);
    wide_plain_decimal(&wide, field.len(), Swar)
}

/// [`plain_decimal`] of `wide[..len]`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn wide_plain_decimal(wide: &[u8; WIDE], len: usize, reader: impl DigitReader) -> Option<f64> {
    let negative = wide[0] == b'-';
    let from = usize::from(negative);
    let n = len.wrapping_sub(from);
    if n.wrapping_sub(1) >= 16 {
        // Empty, or 17 characters and more: the byte loop (which takes up to 19 digits).
        return wide.get(..len).and_then(plain_decimal);
    }
    let (digits, points) = digit_and_point_masks(wide, from);
    let field = (1u32 << n) - 1;
    let others = field & !digits;
    // Plain: digits and at most one point (one test for both), at least one digit.
    if (others & !points) | (others & others.wrapping_sub(1)) != 0 || digits & field == 0 {
        return None;
    }
    // The point's place, n if none (the bit above the field); the digits after it.
    let point = (others | 1 << n).trailing_zeros() as usize;
    let decimals = (n - point).saturating_sub(1);
    let mantissa = reader.mantissa(wide, from, point, decimals);
    exact_quotient(negative, mantissa, decimals)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(super) fn plain_decimal_in(bytes: &[u8], len: usize, _: impl DigitReader) -> Option<f64> {
    plain_decimal(&bytes[..len])
}

/// How the digits of a plain decimal become an integer.
pub(super) trait DigitReader: Copy {
    /// The integer of the digits of the field at `wide[from..]`: `point` digits, a point
    /// (unless `decimals` is 0 and no point follows), `decimals` digits; 16 digits at most.
    fn mantissa(self, wide: &[u8; WIDE], from: usize, point: usize, decimals: usize) -> u64;
}

/// Digits read 8 at a time in general registers (SWAR): any CPU.
#[derive(Clone, Copy)]
pub(super) struct Swar;

impl DigitReader for Swar {
    #[inline(always)]
    fn mantissa(self, wide: &[u8; WIDE], from: usize, point: usize, decimals: usize) -> u64 {
        let whole = digits_value(wide, from, point);
        let fraction = digits_value(wide, from + point + 1, decimals);
        // At most 16 digits in all: no overflow.
        whole * POWER_OF_TEN_U64[decimals] + fraction
    }
}

/// Digits read 16 at a time with SSSE3's byte shuffle and multiply-adds. Only made where
/// the CPU has SSSE3 ([`Ssse3::detect`]).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(super) struct Ssse3(());

#[cfg(target_arch = "x86_64")]
impl Ssse3 {
    pub(super) fn detect() -> Option<Ssse3> {
        std::arch::is_x86_feature_detected!("ssse3").then_some(Ssse3(()))
    }
}

#[cfg(target_arch = "x86_64")]
impl DigitReader for Ssse3 {
    #[inline(always)]
    fn mantissa(self, wide: &[u8; WIDE], from: usize, point: usize, decimals: usize) -> u64 {
        // SAFETY: an Ssse3 exists only where the CPU has SSSE3.
        unsafe { mantissa_ssse3(wide, from, point, point + decimals) }
    }
}

/// For a field of `count` digits whose point is its byte `point` (or none: `point` >=
/// `count`), the byte shuffle that moves the digits to the last `count` of 16 bytes, in
/// order, with zeros (index 0x80) before them: the field as a 16-digit integer.
#[cfg(target_arch = "x86_64")]
static DIGIT_SHUFFLES: [[[u8; 16]; 17]; 17] = {
    let mut table = [[[0x80u8; 16]; 17]; 17];
    let mut point = 0;
    while point < 17 {
        let mut count = 1;
        while count < 17 {
            let mut lane = 16 - count;
            while lane < 16 {
                let digit = lane - (16 - count);
                let source = if digit < point { digit } else { digit + 1 };
                if source < 16 {
                    table[point][count][lane] = source as u8;
                }
                lane += 1;
            }
            count += 1;
        }
        point += 1;
    }
    table
};

/// [`DigitReader::mantissa`] of `count` (1 to 16) digits with SSSE3: shuffled into a
/// 16-digit integer, then combined 2, 4 and 8 digits at a time by multiply-adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "ssse3")]
#[inline]
unsafe fn mantissa_ssse3(wide: &[u8; WIDE], from: usize, point: usize, count: usize) -> u64 {
    use std::arch::x86_64::*;
    let shuffle = &DIGIT_SHUFFLES[point.min(16)][count.min(16)];
    assert!(from + 16 <= WIDE);
    // SAFETY: 16 bytes from `from` are inside `wide` (asserted); SSSE3 is enabled here.
    unsafe {
        let field = _mm_loadu_si128(wide.as_ptr().add(from) as *const __m128i);
        let values = _mm_sub_epi8(field, _mm_set1_epi8(b'0' as i8));
        let digits = _mm_shuffle_epi8(values, _mm_loadu_si128(shuffle.as_ptr() as *const __m128i));
        // Weights (10, 1) per byte pair, (100, 1) per word pair, (10000, 1) per pair of
        // four-digit numbers (packed to 16 bits: at most 9999).
        let pairs = _mm_maddubs_epi16(digits, _mm_set1_epi16(0x010a));
        let fours = _mm_madd_epi16(pairs, _mm_set1_epi32(0x0001_0064));
        let eights = _mm_madd_epi16(_mm_packs_epi32(fours, fours), _mm_set1_epi32(0x0001_2710));
        let high = _mm_cvtsi128_si32(eights) as u32 as u64;
        let low = _mm_cvtsi128_si32(_mm_srli_si128::<4>(eights)) as u32 as u64;
        high * 100_000_000 + low
    }
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

/// Bit i set where `wide[at + i]` (i < 16) is a decimal digit, and where it is a point.
#[cfg(target_arch = "x86_64")]
#[inline]
fn digit_and_point_masks(wide: &[u8; WIDE], at: usize) -> (u32, u32) {
    use std::arch::x86_64::*;
    assert!(at + 16 <= WIDE);
    // SAFETY: SSE2 is part of the x86_64 baseline; the 16-byte load is unaligned, in bounds
    // (asserted).
    unsafe {
        let v = _mm_loadu_si128(wide.as_ptr().add(at) as *const __m128i);
        let value = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
        let nine = _mm_set1_epi8(9);
        // A digit's value is at most 9 unsigned: max(value, 9) == 9.
        let digit = _mm_cmpeq_epi8(_mm_max_epu8(value, nine), nine);
        let point = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'.' as i8));
        (_mm_movemask_epi8(digit) as u32, _mm_movemask_epi8(point) as u32)
    }
}

/// The integer the `count` (at most 16) digits `wide[at..at + count]` make.
#[inline(always)]
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
#[inline(always)]
fn eight_digits(wide: &[u8; WIDE], at: usize, count: usize) -> u64 {
    debug_assert!(count <= 8 && (count == 0 || at + 8 <= WIDE));
    // SAFETY: 8 bytes from `at` (clamped to WIDE - 8) are inside `wide`. The digits of a
    // field of at most 16 characters after a sign start by byte 17 = WIDE - 8: no clamping.
    let word = unsafe { std::ptr::read_unaligned(wide.as_ptr().add(at.min(WIDE - 8)) as *const u64) };
    let word = u64::from_le(word);
    // Bytes past the digits may borrow from the bytes above them, never from the digits
    // below (the first digit is the lowest byte); the shifts drop them (two shifts: a
    // shift by 64, for no digit, is no shift at all on x86).
    let drop = 4 * (8 - count as u32);
    let values = (word.wrapping_sub(0x3030_3030_3030_3030) << drop) << drop;
    let pairs = values.wrapping_mul(10).wrapping_add(values >> 8);
    let mask = 0x0000_00ff_0000_00ff;
    let fours = (pairs & mask).wrapping_mul(100 + (1_000_000 << 32));
    let eights = ((pairs >> 16) & mask).wrapping_mul(1 + (10_000 << 32));
    fours.wrapping_add(eights) >> 32
}
