//! The fields of a row line: 64 bytes at a time where the line holds no quote, a
//! quote-aware tokenizer where it does.

use std::ops::Range;

use memchr::memchr;

use super::{is_space, text};

/// Calls `field(k, bytes)` for each field of a row line; returns the number of fields.
/// Quotes are kept in the field bytes; `Err(())` for an unterminated quote.
#[inline]
pub(crate) fn for_each_field<'a>(line: &'a [u8], mut field: impl FnMut(usize, &'a [u8])) -> Result<usize, ()> {
    match for_each_unquoted_field(line, &mut field) {
        Some(n) => Ok(n),
        None => for_each_field_quoted(line, field),
    }
}

/// The `column`-th field of a row line (quotes kept) as [`for_each_field`] finds it, None
/// past its last field. Where the line holds no quote, 64 bytes at a time: the fields before
/// it counted from bit masks, not walked (a record names a particle by a late column).
pub(crate) fn nth_field(line: &[u8], column: usize) -> Option<&[u8]> {
    let found = nth_unquoted_field(line, column);
    // A quote only changes the fields from its own on: none up to the field's end, and the
    // field is the one the quote-aware tokenizer finds (the rest of the line not searched).
    let end = found.map_or(line.len(), |field| field.as_ptr() as usize - line.as_ptr() as usize + field.len());
    if memchr::memchr2(b'"', b'\'', &line[..end]).is_none() {
        return found;
    }
    let mut found = None;
    let _ = for_each_field_quoted(line, |k, field| {
        if k == column {
            found = Some(field);
        }
    });
    found
}

/// [`nth_field`] of a line read as if it held no quote.
#[inline]
fn nth_unquoted_field(line: &[u8], column: usize) -> Option<&[u8]> {
    let (mut left, mut inside, mut start) = (column, false, None);
    for base in (0..line.len()).step_by(64) {
        let rest = line.len() - base;
        let text = match line.get(base..base + 64) {
            Some(full) => text_mask(full.try_into().unwrap()),
            None => {
                let mut tail = [b' '; 64];
                tail[..rest].copy_from_slice(&line[base..]);
                text_mask(&tail) & ((1u64 << rest) - 1)
            }
        };
        if start.is_none() {
            let starts = text & !((text << 1) | inside as u64);
            let count = starts.count_ones() as usize;
            if count <= left {
                left -= count;
                inside = text >> 63 == 1;
                continue;
            }
            let mut wanted = starts;
            for _ in 0..left {
                wanted &= wanted - 1; // (the starts before it dropped)
            }
            start = Some(base + wanted.trailing_zeros() as usize);
        }
        let from = start.map_or(0, |s| s.saturating_sub(base)); // (its first byte in this chunk, else 0)
        let ends = !text & (u64::MAX << from);
        if ends != 0 {
            return start.map(|s| &line[s..base + ends.trailing_zeros() as usize]);
        }
    }
    start.map(|s| &line[s..])
}

/// Bit i is set where `chunk[i]` is not white space (> b' ').
#[cfg(target_arch = "x86_64")]
#[inline]
pub(super) fn text_mask(chunk: &[u8; 64]) -> u64 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline; loads are unaligned and in bounds.
    unsafe {
        let above_space = _mm_set1_epi8(0x21);
        let mut mask = 0u64;
        for j in 0..4 {
            let v = _mm_loadu_si128(chunk.as_ptr().add(16 * j) as *const __m128i);
            // Unsigned b >= 0x21, as max(b, 0x21) == b.
            let text = _mm_cmpeq_epi8(_mm_max_epu8(v, above_space), v);
            mask |= (_mm_movemask_epi8(text) as u32 as u64) << (16 * j);
        }
        mask
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(super) fn text_mask(chunk: &[u8; 64]) -> u64 {
    chunk.iter().enumerate().fold(0u64, |m, (i, &b)| m | (((b > b' ') as u64) << i))
}

/// The fast path of `for_each_field`: 64 bytes at a time, field boundaries from bit masks.
/// Returns None, before reporting any field, if the line holds a quote.
#[inline]
pub(super) fn for_each_unquoted_field<'a>(line: &'a [u8], field: &mut impl FnMut(usize, &'a [u8])) -> Option<usize> {
    if memchr::memchr2(b'"', b'\'', line).is_some() {
        return None;
    }
    Some(for_each_field_within(line, 0..line.len(), field))
}

/// The fields of the line `buf[line]`, which holds no quote, 64 bytes at a time (field
/// boundaries from bit masks). Bytes of `buf` after the line are loaded and ignored where
/// there are 64 of them: a short line costs no copy.
#[inline]
pub(super) fn for_each_field_within<'a>(
    buf: &'a [u8],
    line: Range<usize>,
    field: &mut impl FnMut(usize, &'a [u8]),
) -> usize {
    let mut k = 0;
    let mut start = 0usize;
    let mut inside = false;
    for base in (line.start..line.end).step_by(64) {
        let left = line.end - base;
        let text = match buf.get(base..base + 64) {
            Some(full) => text_mask(full.try_into().unwrap()),
            None => {
                let mut tail = [b' '; 64];
                tail[..left].copy_from_slice(&buf[base..line.end]);
                text_mask(&tail)
            }
        };
        // Bytes past the line's end count as white space.
        let text = if left < 64 { text & ((1u64 << left) - 1) } else { text };
        let before = (text << 1) | inside as u64;
        let mut events = (text & !before) | (!text & before); // field starts and ends
        while events != 0 {
            let bit = events.trailing_zeros() as usize;
            events &= events - 1;
            if !inside {
                start = base + bit;
            } else {
                field(k, &buf[start..base + bit]);
                k += 1;
            }
            inside = !inside;
        }
        inside = text >> 63 == 1; // the chunk ends inside a field
    }
    if inside {
        field(k, &buf[start..line.end]);
        k += 1;
    }
    k
}

/// The quote-aware tokenizer: a quoted field closes at a quote followed by white space.
pub(super) fn for_each_field_quoted<'a>(line: &'a [u8], mut field: impl FnMut(usize, &'a [u8])) -> Result<usize, ()> {
    let mut k = 0;
    let mut i = 0;
    let n = line.len();
    while i < n {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i == n {
            break;
        }
        let start = i;
        let quote = line[i];
        if quote == b'"' || quote == b'\'' {
            // A quote closes only when followed by white space or the end of the line.
            i += 1;
            loop {
                match memchr(quote, &line[i..]) {
                    None => return Err(()),
                    Some(q) => {
                        i += q + 1;
                        if i == n || is_space(line[i]) {
                            break;
                        }
                    }
                }
            }
        } else {
            while i < n && !is_space(line[i]) {
                i += 1;
            }
        }
        field(k, &line[start..i]);
        k += 1;
    }
    Ok(k)
}

/// Fields of one row line as strings, quotes removed. For small tables.
pub fn split_row(line: &[u8]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for_each_field(line, |_, f| {
        let f = if f.len() >= 2 && (f[0] == b'"' || f[0] == b'\'') { &f[1..f.len() - 1] } else { f };
        out.push(text(f));
    })
    .ok()?;
    Some(out)
}
