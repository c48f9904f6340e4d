//! Adler-32, the checksum that ends a zlib stream, 32 bytes a step with AVX2. The `--plot`
//! pictures' PNG data is compressed as raw deflate and framed with it ([`crate::algo::png_rows::zlib_stream`]):
//! a byte-at-a-time checksum was 0.05 G instructions of a 1M-particle `--plot` run's 13 MB
//! of rows (issue 43).

/// The Adler-32 modulus.
const BASE: u32 = 65521;
/// The most bytes summed before `s2` (u32) must be reduced: zlib's NMAX, rounded down to a
/// multiple of the vector step.
const BLOCK: usize = 5536;

/// The Adler-32 of `data` (1 for no bytes), as `zlib.adler32` gives it.
pub fn adler32(data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { adler32_avx2(data) };
        }
    }
    adler32_scalar(data)
}

/// One byte at a time, reduced every [`BLOCK`] bytes.
fn adler32_scalar(data: &[u8]) -> u32 {
    let (mut s1, mut s2) = (1u32, 0u32);
    for block in data.chunks(BLOCK) {
        for &b in block {
            s1 += u32::from(b);
            s2 += s1;
        }
        (s1, s2) = (s1 % BASE, s2 % BASE);
    }
    (s2 << 16) | s1
}

/// 32 bytes a step: `s1` gains their sum, `s2` gains 32 times the `s1` before them plus
/// their sum weighted 32, 31, ..., 1 (each byte is added to `s2` once for itself and once
/// for every byte after it in the step).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn adler32_avx2(data: &[u8]) -> u32 {
    use std::arch::x86_64::*;
    let (mut s1, mut s2) = (1u32, 0u32);
    let weights = _mm256_setr_epi8(
        32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
        3, 2, 1,
    );
    let ones = _mm256_set1_epi16(1);
    let zero = _mm256_setzero_si256();
    let whole = data.len() / 32 * 32;
    for block in data[..whole].chunks(BLOCK) {
        // Per 32-bit lane: the bytes' sums, the s1 before each step (times 32 at the end),
        // and the weighted sums.
        let (mut sums, mut before, mut weighted) = (zero, zero, zero);
        for step in block.chunks_exact(32) {
            // SAFETY: `step` is 32 bytes; an unaligned load.
            let v = unsafe { _mm256_loadu_si256(step.as_ptr().cast()) };
            before = _mm256_add_epi32(before, sums);
            sums = _mm256_add_epi32(sums, _mm256_sad_epu8(v, zero));
            weighted = _mm256_add_epi32(weighted, _mm256_madd_epi16(_mm256_maddubs_epi16(v, weights), ones));
        }
        let steps = (block.len() / 32) as u64;
        // SAFETY: the CPU has AVX2 (this function's own feature).
        let (sum, before, weighted) = unsafe { (lanes_sum(sums), lanes_sum(before), lanes_sum(weighted)) };
        // s2 gains 32 * s1 for each step, with s1 grown by the steps before it: `before`
        // holds, summed over the steps, the sums of the steps before each.
        let base = u64::from(BASE);
        s2 = ((u64::from(s2) + steps * 32 * u64::from(s1) + 32 * before + weighted) % base) as u32;
        s1 = ((u64::from(s1) + sum) % base) as u32;
    }
    let (mut s1, mut s2) = (s1, s2);
    for &b in &data[whole..] {
        s1 += u32::from(b);
        s2 += s1;
    }
    ((s2 % BASE) << 16) | (s1 % BASE)
}

/// The sum of a vector's eight 32-bit lanes (as u64: a block's lanes stay below 2^32 each).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn lanes_sum(v: std::arch::x86_64::__m256i) -> u64 {
    let mut lanes = [0u32; 8];
    // SAFETY: 32 bytes stored into 32 bytes.
    unsafe { std::arch::x86_64::_mm256_storeu_si256(lanes.as_mut_ptr().cast(), v) };
    lanes.iter().map(|&l| u64::from(l)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, reduced at every byte (the oracle).
    fn by_definition(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u64, 0u64);
        for &x in data {
            a = (a + u64::from(x)) % u64::from(BASE);
            b = (b + a) % u64::from(BASE);
        }
        ((b << 16) | a) as u32
    }

    #[test]
    fn checksums_are_the_definitions_for_every_length_and_all_byte_values() {
        let mut next = crate::test_random(0x9e37_79b9_7f4a_7c15);
        let mut lengths: Vec<usize> = (0..100).collect();
        lengths.extend([BLOCK - 1, BLOCK, BLOCK + 1, BLOCK + 33, 3 * BLOCK + 7, 100_000]);
        for n in lengths {
            let random: Vec<u8> = (0..n).map(|_| next(256) as u8).collect();
            for data in [random, vec![255u8; n], vec![0u8; n]] {
                assert_eq!(adler32(&data), by_definition(&data), "{n} bytes");
                assert_eq!(adler32_scalar(&data), by_definition(&data), "{n} bytes, scalar");
            }
        }
        // Known values: zlib's for "Wikipedia" and for nothing.
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(b""), 1);
    }
}
