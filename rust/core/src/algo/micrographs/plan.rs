//! A plan for images of one size: their spectra, and a pair's phase correlation and Pearson coefficient.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

use super::geometry::{choose_geometry, Band, Geometry};
use super::row_inverse::{complex_as_reals, max_value, RowInverse, ROWS, ZERO_ROWS};

/// One image, ready to be compared: its band-weighted phase spectrum, and the band-passed
/// image for the Pearson coefficient.
pub struct Spectrum {
    /// Column by column (`kx < Plan::columns_used`; the rest lies beyond the band and is
    /// zero), and in each column only the rows that hold weight: the first `head` and the
    /// last `tail` of its `py` (`Plan::band_rows`); the rows between are beyond the band, and
    /// storing them would add a third to what every pair reads.
    pub(super) freq: Vec<Complex32>,
    pub(super) image: Vec<f32>,
    /// Every coefficient with weight has magnitude `weight` (none was zero before whitening).
    pub(super) whole: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairScore {
    /// Height of the phase-correlation peak, in standard deviations of the map.
    pub z: f64,
    pub dy: i64,
    pub dx: i64,
    /// Pearson coefficient of the two images over their overlap at (dy, dx).
    pub pearson: f64,
    /// Overlap area over the image area.
    pub overlap: f64,
}

impl Spectrum {
    /// The binned image, tapered and band-passed by the Pearson band (arbitrary scale).
    pub fn image(&self) -> &[f32] {
        &self.image
    }
}

/// FFT plans and band weights for images of one size. Shared between threads.
pub struct Plan {
    /// The binned images' size.
    pub(super) ny: usize,
    pub(super) nx: usize,
    pub(super) geometry: Geometry,
    /// The compared window's size (`geometry.height`, `geometry.width`).
    pub(super) wy: usize,
    pub(super) wx: usize,
    pub(super) py: usize,
    pub(super) px: usize,
    pub(super) r2c: Arc<dyn RealToComplex<f32>>,
    pub(super) c2r: Arc<dyn ComplexToReal<f32>>,
    pub(super) col_forward: Arc<dyn Fft<f32>>,
    pub(super) col_inverse: Arc<dyn Fft<f32>>,
    /// The rows' inverse for the pairs' maps (the same transform as `c2r`, see [`RowInverse`]).
    pub(super) row_inverse: RowInverse,
    pub(super) weights: Vec<f32>,
    /// The band weights of the image the Pearson coefficient is taken on: `weights` without
    /// the frequencies under the Pearson band's highpass ([`Plan::with_pearson_band`]).
    pub(super) pearson_weights: Vec<f32>,
    pub(super) taper: (Vec<f32>, Vec<f32>),
    /// Columns of the half spectrum (kx) holding any weight: beyond them the band is zero.
    pub(super) columns_used: usize,
    /// For each of those columns, (head, tail): its rows ky < head and ky >= py - tail hold
    /// all its weight (the band is a disc: the high |ky| of the outer columns are empty).
    pub(super) band_rows: Vec<(usize, usize)>,
    /// Sum of |P|^2 over the full spectrum of any pair's product P when no coefficient in the
    /// band is zero: whitening leaves |a| = weight, so |P|^2 = weight^4 (see `Plan::compare`).
    pub(super) band_power: f64,
}

thread_local! {
    /// Each thread's buffer for the cross-power spectrum of the pair it compares.
    static PRODUCT: std::cell::RefCell<Vec<Complex32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Smallest overlap (fraction of the image) at which a Pearson coefficient is trusted.
pub(super) const MIN_OVERLAP: f64 = 0.05;

impl Plan {
    pub fn new(ny: usize, nx: usize, band: Band) -> Plan {
        Plan::with_pearson_band(ny, nx, band, band)
    }

    /// A plan whose Pearson coefficient is taken on the images band-passed by `pearson`
    /// (the phase correlation keeps `band`). At a coarse binning the band's coarsest
    /// frequencies hold a few cycles per image: the ice's thickness and the illumination,
    /// which unrelated images share where they lie and a re-exposure moves with the beam.
    /// Weighted by their power, they rule a Pearson coefficient over the whole band.
    pub fn with_pearson_band(ny: usize, nx: usize, band: Band, pearson: Band) -> Plan {
        let geometry = choose_geometry(ny, nx, band);
        let (py, px) = (geometry.py, geometry.px);
        let mut real = RealFftPlanner::<f32>::new();
        let mut complex = FftPlanner::<f32>::new();
        let hx = px / 2 + 1;
        let band_weights = |band: Band| {
            let mut weights = vec![0.0f32; py * hx];
            for ky in 0..py {
                let fy = if ky <= py / 2 { ky as f64 } else { ky as f64 - py as f64 } / py as f64;
                for kx in 0..hx {
                    let fx = kx as f64 / px as f64;
                    weights[ky * hx + kx] = band.weight((fy * fy + fx * fx).sqrt());
                }
            }
            weights
        };
        let weights = band_weights(band);
        let same = pearson.highpass == band.highpass && pearson.lowpass == band.lowpass;
        let pearson_weights = if same { weights.clone() } else { band_weights(pearson) };
        let columns_used = (0..hx).rev().find(|&kx| (0..py).any(|ky| weights[ky * hx + kx] > 0.0)).map_or(1, |k| k + 1);
        let band_rows = (0..columns_used)
            .map(|kx| {
                let has_weight = |ky: usize| weights[ky * hx + kx] > 0.0;
                let head = (0..=py / 2).rev().find(|&ky| has_weight(ky)).map_or(0, |ky| ky + 1);
                let tail = (py / 2 + 1..py).find(|&ky| has_weight(ky)).map_or(0, |ky| py - ky);
                (head, tail)
            })
            .collect();
        let band_power = (0..columns_used)
            .map(|kx| {
                let power: f64 = (0..py).map(|ky| (weights[ky * hx + kx] as f64).powi(4)).sum();
                power * if kx > 0 && 2 * kx != px { 2.0 } else { 1.0 }
            })
            .sum();
        Plan {
            columns_used,
            band_rows,
            band_power,
            ny,
            nx,
            geometry,
            wy: geometry.height,
            wx: geometry.width,
            py,
            px,
            r2c: real.plan_fft_forward(px),
            c2r: real.plan_fft_inverse(px),
            col_forward: complex.plan_fft_forward(py),
            col_inverse: complex.plan_fft_inverse(py),
            row_inverse: RowInverse::new(px, &mut complex),
            weights,
            pearson_weights,
            taper: (tukey(geometry.height), tukey(geometry.width)),
        }
    }

    /// The compared window of the binned images and the FFT size.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// The spectrum of a binned image (`ny` x `nx`, row-major), of its compared window.
    pub fn spectrum(&self, image: &[f32]) -> Spectrum {
        assert_eq!(image.len(), self.ny * self.nx, "image size differs from the plan's");
        let Geometry { y0, x0, .. } = self.geometry;
        let window = |y: usize| &image[(y0 + y) * self.nx + x0..(y0 + y) * self.nx + x0 + self.wx];
        let n = (self.wy * self.wx) as f64;
        let mean = (0..self.wy).flat_map(window).map(|&v| v as f64).sum::<f64>() / n;
        // Taper the edges to zero, so that the padding adds no edge to the spectrum.
        let mut padded = vec![0.0f32; self.py * self.px];
        for y in 0..self.wy {
            for (x, &v) in window(y).iter().enumerate() {
                padded[y * self.px + x] = (v as f64 - mean) as f32 * self.taper.0[y] * self.taper.1[x];
            }
        }
        let mut freq = self.forward(&mut padded);
        // The band-passed image, for the Pearson coefficient: without the low frequencies,
        // an ice gradient shared by two unrelated images does not correlate them.
        let mut filtered: Vec<Complex32> = freq.iter().zip(&self.pearson_weights).map(|(c, &w)| c * w).collect();
        let band_passed = self.inverse(&mut filtered);
        let image =
            (0..self.wy).flat_map(|y| band_passed[y * self.px..y * self.px + self.wx].iter().copied()).collect();
        let mut whole = true;
        for (c, &w) in freq.iter_mut().zip(&self.weights) {
            let norm = c.norm();
            whole &= norm > 0.0 || w == 0.0;
            *c = if norm > 0.0 { *c * (w / norm) } else { Complex32::new(0.0, 0.0) };
        }
        let hx = self.px / 2 + 1;
        let stored = self
            .band_rows
            .iter()
            .enumerate()
            .flat_map(|(kx, &(head, tail))| (0..head).chain(self.py - tail..self.py).map(move |ky| (ky, kx)));
        let freq = stored.map(|(ky, kx)| freq[ky * hx + kx]).collect();
        Spectrum { freq, image, whole }
    }

    /// The cross-power spectrum `a b*` of the band's columns, column-major, into `product`
    /// (zero beyond the band's rows of each column).
    pub(super) fn cross_power(&self, a: &Spectrum, b: &Spectrum, product: &mut Vec<Complex32>) {
        // Every element is written below: the buffer's old contents need no clearing.
        product.resize(self.columns_used * self.py, Complex32::new(0.0, 0.0));
        let mut at = 0;
        for (column, &(head, tail)) in product.chunks_exact_mut(self.py).zip(&self.band_rows) {
            let (top, rest) = column.split_at_mut(head);
            let (middle, bottom) = rest.split_at_mut(self.py - head - tail);
            let multiply = |out: &mut [Complex32], from: usize| {
                for ((o, x), y) in out.iter_mut().zip(&a.freq[from..]).zip(&b.freq[from..]) {
                    *o = x * y.conj();
                }
            };
            multiply(top, at);
            middle.fill(Complex32::new(0.0, 0.0));
            multiply(bottom, at + head);
            at += head + tail;
        }
    }

    /// Phase correlation of two spectra, the shift resolved among its aliases by the
    /// Pearson coefficient over the overlap. Below `min_z` the peak is noise: the Pearson
    /// coefficient and overlap are not computed (NaN), which saves most of the time when
    /// all pairs are compared.
    pub fn compare(&self, a: &Spectrum, b: &Spectrum, min_z: f64) -> PairScore {
        // The product's buffer is kept by each thread from pair to pair: a fresh one of this
        // size would be mapped, faulted in and unmapped by the allocator for every pair.
        let (mean, sd, peak_at, peak) = PRODUCT.with_borrow_mut(|product| {
            self.cross_power(a, b, product);
            // The map's mean and standard deviation from the spectrum (Parseval), not from a
            // pass over the map: for the unnormalised inverse FFT, mean = P(0, 0) and
            // variance = sum over the full spectrum of |P|^2, minus the mean squared. That sum
            // is the same for every pair of whitened spectra (|P| = weight^2), so it is summed
            // only when a coefficient was zero.
            let mean = product[0].re as f64;
            let power = if a.whole && b.whole { self.band_power } else { self.full_spectrum_power(product) };
            let sd = (power - mean * mean).max(0.0).sqrt();
            let (peak_at, peak) = self.inverse_columns_argmax(product);
            (mean, sd, peak_at, peak)
        });
        let z = if sd > 0.0 { (peak as f64 - mean) / sd } else { 0.0 };
        let (sy, sx) = ((peak_at / self.px) as i64, (peak_at % self.px) as i64);
        let mut best = PairScore { z, dy: sy, dx: sx, pearson: f64::NAN, overlap: f64::NAN };
        if z < min_z {
            return best;
        }
        for dy in [sy, sy - self.py as i64] {
            for dx in [sx, sx - self.px as i64] {
                let (r, compared) = pearson_at(&a.image, &b.image, self.wy, self.wx, dy, dx);
                if compared >= MIN_OVERLAP && (best.pearson.is_nan() || r > best.pearson) {
                    // The overlap reported is of the whole binned images, not of the
                    // compared window (a crop of the edges would understate it).
                    let overlap = overlap_fraction(self.ny, self.nx, dy, dx);
                    best = PairScore { z, dy, dx, pearson: r, overlap };
                }
            }
        }
        best
    }

    /// Sum of |P|^2 over the full spectrum whose half (columns kx < columns_used,
    /// column-major) is given: the columns 0 < kx < px/2 stand for their mirror images too.
    pub(super) fn full_spectrum_power(&self, half: &[Complex32]) -> f64 {
        half.chunks_exact(self.py)
            .enumerate()
            .map(|(kx, column)| {
                let power: f32 = column.iter().map(realfft::num_complex::Complex::norm_sqr).sum();
                let mirrored = kx > 0 && 2 * kx != self.px;
                power as f64 * if mirrored { 2.0 } else { 1.0 }
            })
            .sum()
    }

    /// Index (row-major, in the `py` x `px` map) and value of the largest element of the real
    /// map of a half spectrum given as the first `columns_used` columns, column-major (the
    /// first of equals). One batched FFT down the contiguous columns, then a real inverse FFT
    /// along each row, [`ROWS`] rows at a time; the map is never stored whole, and each row's
    /// maximum is taken as it comes.
    pub(super) fn inverse_columns_argmax(&self, columns: &mut [Complex32]) -> (usize, f32) {
        let half = self.px / 2;
        let scratch_len =
            self.col_inverse.get_inplace_scratch_len().max(self.row_inverse.half.get_outofplace_scratch_len());
        let mut scratch = vec![Complex32::new(0.0, 0.0); scratch_len];
        self.col_inverse.process_with_scratch(columns, &mut scratch);
        let mut rows = vec![Complex32::new(0.0, 0.0); ROWS * half];
        let mut out = vec![Complex32::new(0.0, 0.0); ROWS * half];
        let (mut best_at, mut best) = (0, f32::MIN);
        for y0 in (0..self.py).step_by(ROWS) {
            let n = ROWS.min(self.py - y0);
            let column = |kx: usize| -> &[Complex32] {
                // Beyond the band the spectrum is zero.
                if kx < self.columns_used {
                    &columns[kx * self.py + y0..kx * self.py + y0 + n]
                } else {
                    &ZERO_ROWS[..n]
                }
            };
            self.row_inverse.untangle(column, &mut rows[..n * half]);
            // One call for the block: rustfft runs the same transform on each row in turn.
            self.row_inverse.half.process_outofplace_with_scratch(
                &mut rows[..n * half],
                &mut out[..n * half],
                &mut scratch,
            );
            for (k, row) in out.chunks_exact(half).take(n).enumerate() {
                let row = complex_as_reals(row);
                // Most rows hold no new maximum: the place is looked for only in those that do.
                let peak = max_value(row);
                if peak > best {
                    let at = row.iter().position(|&v| v == peak).unwrap_or(0);
                    (best_at, best) = ((y0 + k) * self.px + at, peak);
                }
            }
        }
        (best_at, best)
    }

    pub(super) fn forward(&self, padded: &mut [f32]) -> Vec<Complex32> {
        let hx = self.px / 2 + 1;
        let mut freq = vec![Complex32::new(0.0, 0.0); self.py * hx];
        let mut scratch = self.r2c.make_scratch_vec();
        for (row, out) in padded.chunks_exact_mut(self.px).zip(freq.chunks_exact_mut(hx)) {
            self.r2c.process_with_scratch(row, out, &mut scratch).expect("row FFT sizes match the plan");
        }
        self.columns(&mut freq, &self.col_forward);
        freq
    }

    pub(super) fn inverse(&self, freq: &mut [Complex32]) -> Vec<f32> {
        let hx = self.px / 2 + 1;
        self.columns(freq, &self.col_inverse);
        let mut out = vec![0.0f32; self.py * self.px];
        let mut scratch = self.c2r.make_scratch_vec();
        for (row, dst) in freq.chunks_exact_mut(hx).zip(out.chunks_exact_mut(self.px)) {
            // The inverse real FFT needs exactly real DC and Nyquist terms.
            row[0].im = 0.0;
            if self.px % 2 == 0 {
                row[hx - 1].im = 0.0;
            }
            self.c2r.process_with_scratch(row, dst, &mut scratch).expect("row FFT sizes match the plan");
        }
        out
    }

    /// FFT along each column of a `py` x `hx` array.
    pub(super) fn columns(&self, data: &mut [Complex32], fft: &Arc<dyn Fft<f32>>) {
        let hx = self.px / 2 + 1;
        let mut column = vec![Complex32::new(0.0, 0.0); self.py];
        for kx in 0..hx {
            for ky in 0..self.py {
                column[ky] = data[ky * hx + kx];
            }
            fft.process(&mut column);
            for ky in 0..self.py {
                data[ky * hx + kx] = column[ky];
            }
        }
    }
}

/// A window that is 1 inside and falls to 0 over the outer 8 % at each end (Tukey).
pub(super) fn tukey(n: usize) -> Vec<f32> {
    let edge = ((n as f64) * 0.08).max(1.0);
    (0..n)
        .map(|i| {
            let d = (i as f64 + 0.5).min(n as f64 - i as f64 - 0.5);
            if d >= edge {
                1.0
            } else {
                (0.5 - 0.5 * (std::f64::consts::PI * d / edge).cos()) as f32
            }
        })
        .collect()
}

/// The fraction of an `ny` x `nx` image that another, shifted by (dy, dx), overlaps.
pub(super) fn overlap_fraction(ny: usize, nx: usize, dy: i64, dx: i64) -> f64 {
    let rows = (ny as i64 - dy.abs()).max(0);
    let columns = (nx as i64 - dx.abs()).max(0);
    (rows * columns) as f64 / (ny * nx) as f64
}

/// Pearson coefficient of `b[y][x]` against `a[y + dy][x + dx]` over their overlap, and the
/// overlap's fraction of the image.
pub(super) fn pearson_at(a: &[f32], b: &[f32], ny: usize, nx: usize, dy: i64, dx: i64) -> (f64, f64) {
    let (ny_i, nx_i) = (ny as i64, nx as i64);
    let (y0, y1) = ((-dy).max(0), (ny_i - dy).min(ny_i));
    let (x0, x1) = ((-dx).max(0), (nx_i - dx).min(nx_i));
    if y1 <= y0 || x1 <= x0 {
        return (f64::NAN, 0.0);
    }
    let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for y in y0..y1 {
        let rb = &b[(y * nx_i) as usize..((y + 1) * nx_i) as usize];
        let ra = &a[((y + dy) * nx_i) as usize..((y + dy + 1) * nx_i) as usize];
        for x in x0..x1 {
            let (p, q) = (ra[(x + dx) as usize] as f64, rb[x as usize] as f64);
            sa += p;
            sb += q;
            saa += p * p;
            sbb += q * q;
            sab += p * q;
        }
    }
    let m = ((y1 - y0) * (x1 - x0)) as f64;
    let cov = sab / m - (sa / m) * (sb / m);
    let va = saa / m - (sa / m).powi(2);
    let vb = sbb / m - (sb / m).powi(2);
    let r = if va > 0.0 && vb > 0.0 { cov / (va * vb).sqrt() } else { 0.0 };
    (r, m / (ny * nx) as f64)
}
