//! The correlation map's inverse FFT along its rows, read straight from the columns.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

/// The largest element (NaN ignored), found in independent lanes that the compiler vectorises.
pub(super) fn max_value(values: &[f32]) -> f32 {
    let mut lanes = [f32::MIN; 16];
    let chunks = values.chunks_exact(16);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = if v > *lane { v } else { *lane };
        }
    }
    lanes.iter().chain(tail).fold(f32::MIN, |m, &v| if v > m { v } else { m })
}

/// Rows of the correlation map made together: their spectra are read from the columns in
/// runs of this many (whole cache lines) and transformed in one batch.
pub(super) const ROWS: usize = 32;
pub(super) static ZERO_ROWS: [Complex32; ROWS] = [Complex32::new(0.0, 0.0); ROWS];

/// The values of complex numbers, real and imaginary parts in turn.
pub(super) fn complex_as_reals(values: &[Complex32]) -> &[f32] {
    // SAFETY: `Complex<f32>` is `#[repr(C)]` with fields `re`, `im` (num-complex documents the
    // layout), so n of them are 2 n contiguous, aligned f32 values borrowed for as long.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<f32>(), 2 * values.len()) }
}

/// The inverse real FFT of even length `px` that realfft 3.5 makes (`ComplexToRealEven`),
/// taken apart: realfft's pass that folds each row's half spectrum into a complex FFT of
/// length px / 2 reads a row's two ends at once; here it reads the same values from the
/// columns, a run of rows at a time, so that the rows need neither gathering nor zeroing
/// beyond the band first. Every operation, and its order, is realfft's, so the map is the
/// same to the bit (`row_inverse_is_realfft_to_the_bit`).
pub(super) struct RowInverse {
    /// The complex inverse FFT of length px / 2 (the planner gives realfft's own plan).
    pub(super) half: Arc<dyn Fft<f32>>,
    /// e^{+2 pi i k / px} for k = 1 .. (realfft's twiddles, computed as it computes them).
    pub(super) twiddles: Vec<Complex32>,
    /// The half spectrum's length px / 2 + 1.
    pub(super) hx: usize,
    /// Fold with AVX (the processor has it; the same values as without).
    pub(super) avx: bool,
}

impl RowInverse {
    pub(super) fn new(px: usize, planner: &mut FftPlanner<f32>) -> RowInverse {
        assert!(px % 2 == 0 && px >= 4, "an even row length");
        let count = if px % 4 == 0 { px / 4 } else { px / 4 + 1 };
        let twiddles = (1..count)
            .map(|k| {
                let angle = -2f64 * std::f64::consts::PI / px as f64 * k as f64;
                Complex32::new(angle.cos() as f32, angle.sin() as f32).conj()
            })
            .collect();
        #[cfg(target_arch = "x86_64")]
        let avx = std::arch::is_x86_feature_detected!("avx");
        #[cfg(not(target_arch = "x86_64"))]
        let avx = false;
        RowInverse { half: planner.plan_fft_inverse(px / 2), twiddles, hx: px / 2 + 1, avx }
    }

    /// Folds `n` rows of half spectra into the inputs of the complex FFT of length px / 2,
    /// row after row in `rows`; `column(kx)` gives the n rows' values of column kx. The DC
    /// and Nyquist terms are taken as real (their imaginary parts as zero), as for a real map.
    pub(super) fn untangle<'a>(&self, column: impl Fn(usize) -> &'a [Complex32], rows: &mut [Complex32]) {
        let (hx, half) = (self.hx, self.hx - 1);
        let real = |c: Complex32| Complex32::new(c.re, 0.0);
        for ((out, &first), &last) in rows.chunks_exact_mut(half).zip(column(0)).zip(column(hx - 1)) {
            let (sum, diff) = (real(first) + real(last), real(first) - real(last));
            out[0] = Complex32::new(sum.re - sum.im, diff.re - diff.im);
        }
        let pairs = self.twiddles.len().min(hx / 2 - 1).min(hx - hx / 2 - 1);
        let twiddles = &self.twiddles[..pairs];
        #[cfg(target_arch = "x86_64")]
        if self.avx {
            // SAFETY: `avx` is set only where the processor has AVX (`RowInverse::new`).
            unsafe { fold_pairs_avx(twiddles, hx, &column, rows) };
        } else {
            fold_pairs(twiddles, hx, &column, rows);
        }
        #[cfg(not(target_arch = "x86_64"))]
        fold_pairs(twiddles, hx, &column, rows);
        if hx % 2 == 1 {
            for (out, &centre) in rows.chunks_exact_mut(half).zip(column(hx / 2)) {
                out[hx / 2] = (centre + centre).conj();
            }
        }
    }
}

/// realfft's fold of the values at k and px/2 - k of one row's half spectrum (x, y), with the
/// twiddle e^{+2 pi i k / px}: the FFT inputs at k and px/2 - k.
#[inline(always)]
pub(super) fn fold_pair(x: Complex32, y: Complex32, twiddle: Complex32) -> (Complex32, Complex32) {
    let (sum, diff) = (x + y, x - y);
    let twisted_re = sum.im * twiddle.re + diff.re * twiddle.im;
    let twisted_im = sum.im * twiddle.im - diff.re * twiddle.re;
    let at_k = Complex32::new(sum.re - twisted_re, diff.im - twisted_im);
    let at_m = Complex32::new(sum.re + twisted_re, -twisted_im - diff.im);
    (at_k, at_m)
}

/// Folds the pairs (k, px/2 - k), k = 1 ..= twiddles.len(), of the rows (`rows`: n rows of
/// px / 2; `column(kx)`: their n values of column kx).
pub(super) fn fold_pairs<'a>(
    twiddles: &[Complex32],
    hx: usize,
    column: &impl Fn(usize) -> &'a [Complex32],
    rows: &mut [Complex32],
) {
    let half = hx - 1;
    for (k, &twiddle) in (1..).zip(twiddles) {
        let m = hx - 1 - k;
        for ((out, &x), &y) in rows.chunks_exact_mut(half).zip(column(k)).zip(column(m)) {
            (out[k], out[m]) = fold_pair(x, y, twiddle);
        }
    }
}

/// [`fold_pairs`] four rows at a time with AVX: the same operations lane by lane, so the same
/// values to the bit (`row_inverse_is_realfft_to_the_bit` holds both against realfft). Where
/// `fold_pair` adds a product this subtracts the product with the negated twiddle, and it
/// negates a sum where `fold_pair` subtracts from a negation: IEEE rounding is symmetric in
/// sign, so each is the same value.
///
/// # Safety
/// The processor must have AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
pub(super) unsafe fn fold_pairs_avx<'a>(
    twiddles: &[Complex32],
    hx: usize,
    column: &impl Fn(usize) -> &'a [Complex32],
    rows: &mut [Complex32],
) {
    use std::arch::x86_64::*;
    let half = hx - 1;
    let n = rows.len() / half;
    let odd_sign = _mm256_setr_ps(0.0, -0.0, 0.0, -0.0, 0.0, -0.0, 0.0, -0.0);
    for (k, &tw) in (1..).zip(twiddles) {
        let m = hx - 1 - k;
        let (xs, ys) = (&column(k)[..n], &column(m)[..n]);
        // Lanes alternate real and imaginary parts of four rows' values.
        let twiddle = _mm256_setr_ps(tw.re, tw.im, tw.re, tw.im, tw.re, tw.im, tw.re, tw.im);
        let negated_swapped = _mm256_setr_ps(-tw.im, -tw.re, -tw.im, -tw.re, -tw.im, -tw.re, -tw.im, -tw.re);
        for r in (0..n / 4).map(|q| 4 * q) {
            // SAFETY: r + 4 <= n, the length of both slices (unaligned loads).
            let (x, y) =
                unsafe { (_mm256_loadu_ps(xs[r..].as_ptr().cast()), _mm256_loadu_ps(ys[r..].as_ptr().cast())) };
            let (sum, diff) = (_mm256_add_ps(x, y), _mm256_sub_ps(x, y));
            // [sum.im tw.re, sum.im tw.im] and [-(diff.re tw.im), -(diff.re tw.re)]
            let a = _mm256_mul_ps(_mm256_movehdup_ps(sum), twiddle);
            let b = _mm256_mul_ps(_mm256_moveldup_ps(diff), negated_swapped);
            // [a - b, a + b] lane pair by lane pair: [twisted_re, twisted_im]
            let twisted = _mm256_addsub_ps(a, b);
            let sum_re_diff_im = _mm256_blend_ps(sum, diff, 0b1010_1010);
            let at_k = _mm256_sub_ps(sum_re_diff_im, twisted);
            let at_m = _mm256_xor_ps(_mm256_add_ps(sum_re_diff_im, twisted), odd_sign);
            let (k_lo, k_hi) = (_mm256_castps256_ps128(at_k), _mm256_extractf128_ps(at_k, 1));
            let (m_lo, m_hi) = (_mm256_castps256_ps128(at_m), _mm256_extractf128_ps(at_m, 1));
            for (row, (two_at_k, two_at_m)) in [(r, (k_lo, m_lo)), (r + 2, (k_hi, m_hi))] {
                let (first, second) = rows[row * half..(row + 2) * half].split_at_mut(half);
                // SAFETY: k, m < half: each store writes one complex value inside its row.
                unsafe {
                    _mm_storel_pd(first[k..].as_mut_ptr().cast(), _mm_castps_pd(two_at_k));
                    _mm_storeh_pd(second[k..].as_mut_ptr().cast(), _mm_castps_pd(two_at_k));
                    _mm_storel_pd(first[m..].as_mut_ptr().cast(), _mm_castps_pd(two_at_m));
                    _mm_storeh_pd(second[m..].as_mut_ptr().cast(), _mm_castps_pd(two_at_m));
                }
            }
        }
        for r in n / 4 * 4..n {
            (rows[r * half + k], rows[r * half + m]) = fold_pair(xs[r], ys[r], tw);
        }
    }
}
