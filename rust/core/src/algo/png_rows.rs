//! The `--plot` pictures' PNG data: a picture drawn at twice its size halved (each pixel the
//! rounded mean of a 2 x 2 block, as Pillow's `Image.reduce(2)` gives it) and its rows
//! PNG-filtered, in one pass over the drawn pixels ([`halved_up_rows`]); then compressed
//! ([`zlib_stream`]). Pillow's reduce, the copy out of Pillow and numpy's filter were 0.26 G
//! instructions of a 1M-particle `--plot` run (issue 43).

use std::fmt;

/// PNG's filter type "Up": each byte minus the byte above it (modulo 256).
pub const UP: u8 = 2;
/// Bytes of a drawn pixel (Pillow's storage of RGB: red, green, blue and a padding byte).
const DRAWN_BYTES: usize = 4;
/// Bytes of an output pixel (RGB).
const PNG_BYTES: usize = 3;

/// Why drawn pixels cannot be halved.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeError {
    /// Width and height in drawn pixels, and the bytes given.
    pub width: usize,
    pub height: usize,
    pub bytes: usize,
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "drawn pixels: {} x {} must both be even and non-zero, with 4 bytes a pixel ({} bytes given)",
            self.width, self.height, self.bytes
        )
    }
}

impl std::error::Error for ShapeError {}

/// The PNG rows (filter byte, then RGB bytes) of `drawn` halved: `drawn` is `height` rows of
/// `width` pixels of 4 bytes (RGBX; the fourth is ignored), both sizes even. Each output
/// pixel is `(a + b + c + d + 2) >> 2` of its 2 x 2 block, channel by channel; each output
/// row is filtered by "Up" (the row above the first is zeros).
pub fn halved_up_rows(drawn: &[u8], width: usize, height: usize) -> Result<Vec<u8>, ShapeError> {
    let wrong = width == 0 || height == 0 || width % 2 == 1 || height % 2 == 1;
    if wrong || drawn.len() != width * height * DRAWN_BYTES {
        return Err(ShapeError { width, height, bytes: drawn.len() });
    }
    let row_bytes = 1 + width / 2 * PNG_BYTES;
    let mut out = vec![0u8; row_bytes * height / 2];
    // (The vector kernel stores 4 bytes past its last pixel: room for them.)
    let mut above = vec![0u8; row_bytes - 1 + SPARE];
    let mut here = vec![0u8; row_bytes - 1 + SPARE];
    let simd = vector_kernel();
    for (pair, row) in drawn.chunks_exact(2 * width * DRAWN_BYTES).zip(out.chunks_exact_mut(row_bytes)) {
        let (top, bottom) = pair.split_at(width * DRAWN_BYTES);
        halve_row(top, bottom, &mut here, simd);
        row[0] = UP;
        for ((o, &h), &a) in row[1..].iter_mut().zip(&here).zip(&above) {
            *o = h.wrapping_sub(a);
        }
        std::mem::swap(&mut above, &mut here);
    }
    Ok(out)
}

/// The deflate level of [`zlib_stream`]: the fastest. The pictures' filtered rows are 96 %
/// zeros: miniz_oxide's level 1 compresses the 13 MB of a 1M-particle `--plot` run 2.2x
/// faster than zlib's level 1 (7.8 against 17.4 ms), to 10 % more bytes (382 against 346 KB).
const LEVEL: u8 = 1;
/// A zlib stream's first two bytes: deflate with a 32 KB window, "fastest".
const ZLIB_HEADER: [u8; 2] = [0x78, 0x01];

/// The zlib stream (RFC 1950) of `rows`, as a PNG's image data holds it: zlib's header, the
/// rows deflated at [`LEVEL`], and their Adler-32 (most significant byte first; `adler2`'s,
/// the crate miniz_oxide brings: an AVX2 one of our own saved about 1 ms of a `--plot` run,
/// benches/RESULTS.md).
pub fn zlib_stream(rows: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(rows, LEVEL);
    let mut stream = Vec::with_capacity(ZLIB_HEADER.len() + deflated.len() + 4);
    stream.extend_from_slice(&ZLIB_HEADER);
    stream.extend_from_slice(&deflated);
    stream.extend_from_slice(&adler2::adler32_slice(rows).to_be_bytes());
    stream
}

/// Bytes past a row's last pixel that [`halve_row`] may overwrite.
const SPARE: usize = 4;

/// Whether this CPU runs the AVX2 kernel.
fn vector_kernel() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One output row (RGB) from two drawn rows (RGBX) into `out`, which has [`SPARE`] bytes
/// beyond the row; `simd`: the CPU has AVX2.
fn halve_row(top: &[u8], bottom: &[u8], out: &mut [u8], simd: bool) {
    let mut done = 0; // output pixels
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: the CPU has AVX2 (the caller checked); the kernel stays inside the slices.
        done = unsafe { halve_row_avx2(top, bottom, out) };
    }
    let drawn_done = 2 * done * DRAWN_BYTES;
    halve_row_scalar(&top[drawn_done..], &bottom[drawn_done..], &mut out[done * PNG_BYTES..]);
}

/// [`halve_row`] 8 output pixels at a time (16 drawn pixels of each row); returns how many
/// output pixels it made. Each 2 x 2 block's sum is exact in 16 bits, as in the scalar code.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn halve_row_avx2(top: &[u8], bottom: &[u8], out: &mut [u8]) -> usize {
    use std::arch::x86_64::*;
    // Each 4 drawn pixels (16 bytes) reordered so that a channel's two neighbours are
    // adjacent: R0 R1 G0 G1 B0 B1 X0 X1 R2 R3 ...; maddubs by ones then adds each pair.
    let neighbours = _mm256_setr_epi8(
        0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15, 0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15,
    );
    // RGBX RGBX RGBX RGBX -> RGB RGB RGB RGB and 4 bytes not used.
    let drop_x = _mm256_setr_epi8(
        0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1, 0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1,
    );
    let ones = _mm256_set1_epi8(1);
    let half = _mm256_set1_epi16(2);
    let blocks = (top.len().min(bottom.len()) / 64).min(out.len().saturating_sub(SPARE) / 24);
    for k in 0..blocks {
        // The 16-bit means of 8 drawn pixels' 4 blocks (RGBX each), from byte `at` of both rows.
        let means = |at: usize| {
            // SAFETY: at + 32 <= 64 * blocks <= both rows' lengths.
            let (t, b) = unsafe {
                (
                    _mm256_loadu_si256(top.as_ptr().add(at) as *const __m256i),
                    _mm256_loadu_si256(bottom.as_ptr().add(at) as *const __m256i),
                )
            };
            let t = _mm256_maddubs_epi16(_mm256_shuffle_epi8(t, neighbours), ones);
            let b = _mm256_maddubs_epi16(_mm256_shuffle_epi8(b, neighbours), ones);
            _mm256_srli_epi16(_mm256_add_epi16(_mm256_add_epi16(t, b), half), 2)
        };
        let (first, second) = (means(64 * k), means(64 * k + 32));
        // packus interleaves the halves by 128-bit lane: put the 8 pixels back in order.
        let pixels = _mm256_permute4x64_epi64(_mm256_packus_epi16(first, second), 0b11_01_10_00);
        let rgb = _mm256_shuffle_epi8(pixels, drop_x);
        // SAFETY: two 16-byte stores at 24 k and 24 k + 12, the last ending at 24 k + 28 <= out.len().
        unsafe {
            let at = out.as_mut_ptr().add(24 * k);
            _mm_storeu_si128(at as *mut __m128i, _mm256_castsi256_si128(rgb));
            _mm_storeu_si128(at.add(12) as *mut __m128i, _mm256_extracti128_si256(rgb, 1));
        }
    }
    8 * blocks
}

/// [`halve_row`] a pixel at a time.
fn halve_row_scalar(top: &[u8], bottom: &[u8], out: &mut [u8]) {
    let blocks = top.chunks_exact(2 * DRAWN_BYTES).zip(bottom.chunks_exact(2 * DRAWN_BYTES));
    for ((t, b), o) in blocks.zip(out.chunks_exact_mut(PNG_BYTES)) {
        for c in 0..PNG_BYTES {
            let sum = t[c] as u16 + t[c + DRAWN_BYTES] as u16 + b[c] as u16 + b[c + DRAWN_BYTES] as u16;
            o[c] = ((sum + 2) >> 2) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oracle: each output pixel computed on its own from the four drawn ones, as
    /// floating-point means rounded half up, then filtered against the row above.
    fn brute(drawn: &[u8], width: usize, height: usize) -> Vec<u8> {
        let at = |x: usize, y: usize, c: usize| drawn[(y * width + x) * 4 + c] as f64;
        let (w, h) = (width / 2, height / 2);
        let mut halved = vec![vec![0u8; w * 3]; h];
        for (y, row) in halved.iter_mut().enumerate() {
            for x in 0..w {
                for c in 0..3 {
                    let mean = (at(2 * x, 2 * y, c)
                        + at(2 * x + 1, 2 * y, c)
                        + at(2 * x, 2 * y + 1, c)
                        + at(2 * x + 1, 2 * y + 1, c))
                        / 4.0;
                    row[x * 3 + c] = (mean + 0.5).floor() as u8;
                }
            }
        }
        let mut out = Vec::new();
        let zeros = vec![0u8; w * 3];
        for (y, row) in halved.iter().enumerate() {
            out.push(UP);
            let above = if y == 0 { &zeros } else { &halved[y - 1] };
            out.extend(row.iter().zip(above).map(|(&v, &a)| v.wrapping_sub(a)));
        }
        out
    }

    #[test]
    fn the_stream_inflates_to_the_rows_with_their_checksum() {
        // Oracle: miniz_oxide's own zlib inflater checks the header and the Adler-32.
        let mut rows = vec![0u8; 40_000];
        for (k, b) in rows.iter_mut().enumerate().filter(|(k, _)| k % 97 < 5) {
            *b = (k * 31 % 251) as u8;
        }
        for data in [&rows[..], &rows[..1], &[][..]] {
            let stream = zlib_stream(data);
            assert_eq!(stream[..2], ZLIB_HEADER);
            assert_eq!((u16::from(stream[0]) << 8 | u16::from(stream[1])) % 31, 0, "zlib's header check");
            let back = miniz_oxide::inflate::decompress_to_vec_zlib(&stream).expect("a valid zlib stream");
            assert_eq!(back, data);
        }
    }

    #[test]
    fn matches_the_brute_force_means_on_random_pixels() {
        let mut random = crate::test_random(7);
        // Widths below, at and past the vector kernel's 16 drawn pixels, with and without a tail.
        for (width, height) in [(2, 2), (6, 4), (18, 10), (4, 30), (16, 2), (32, 4), (50, 6), (130, 8)] {
            let drawn: Vec<u8> = (0..width * height * 4).map(|_| random(256) as u8).collect();
            assert_eq!(halved_up_rows(&drawn, width, height).unwrap(), brute(&drawn, width, height));
        }
    }

    #[test]
    fn the_scalar_and_vector_rows_agree() {
        let mut random = crate::test_random(11);
        let width = 82; // 5 vector blocks and a tail of 1 output pixel
        let top: Vec<u8> = (0..width * 4).map(|_| random(256) as u8).collect();
        let bottom: Vec<u8> = (0..width * 4).map(|_| random(256) as u8).collect();
        let (mut scalar, mut vector) = (vec![0u8; width / 2 * 3 + SPARE], vec![0u8; width / 2 * 3 + SPARE]);
        halve_row(&top, &bottom, &mut scalar, false);
        halve_row(&top, &bottom, &mut vector, vector_kernel());
        assert_eq!(scalar[..width / 2 * 3], vector[..width / 2 * 3]);
    }

    #[test]
    fn rounds_half_up_and_ignores_the_padding_byte() {
        // Block sums 2 (mean 0.5 -> 1), 1 (0.25 -> 0), 1022 (255.5 -> 255 stays in range).
        let pixel = |r: u8, g: u8, b: u8| [r, g, b, 99];
        let top = [pixel(1, 1, 255), pixel(1, 0, 255)].concat();
        let bottom = [pixel(0, 0, 255), pixel(0, 0, 254)].concat();
        let drawn = [top, bottom].concat();
        assert_eq!(halved_up_rows(&drawn, 2, 2).unwrap(), vec![UP, 1, 0, 255]);
    }

    #[test]
    fn refuses_odd_empty_or_mismatched_shapes() {
        assert!(halved_up_rows(&[0; 4 * 3 * 2], 3, 2).is_err());
        assert!(halved_up_rows(&[], 0, 0).is_err());
        assert!(halved_up_rows(&[0; 15], 2, 2).is_err());
    }
}
