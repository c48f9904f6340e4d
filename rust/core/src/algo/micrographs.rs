//! Duplicate micrographs: each binned image becomes a whitened, band-limited spectrum once;
//! a candidate pair then costs one complex product and one inverse FFT (phase correlation).
//!
//! Shift convention: a pair's shift (dy, dx) means `b[y][x]` shows what `a[y + dy][x + dx]`
//! shows. Images are zero-padded to FFT-friendly sizes, not doubled, so a peak at s also
//! stands for s - size; the Pearson coefficient over the overlap decides between them.

use std::sync::Arc;

use rayon::prelude::*;
use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

/// Pixel types of MRC images (modes 2, 12, 1 and 6).
pub trait Pixel: Copy + Send + Sync {
    fn value(self) -> f32;

    /// Converts a row; types with a faster bulk conversion override it.
    fn to_f32_row(row: &[Self], out: &mut [f32]) {
        for (o, v) in out.iter_mut().zip(row) {
            *o = v.value();
        }
    }
}

impl Pixel for f32 {
    fn value(self) -> f32 {
        self
    }
}

impl Pixel for half::f16 {
    fn value(self) -> f32 {
        self.to_f32()
    }

    fn to_f32_row(row: &[Self], out: &mut [f32]) {
        // Vector instructions where the processor has them (F16C), checked at run time.
        half::slice::HalfFloatSliceExt::convert_to_f32_slice(row, out);
    }
}

impl Pixel for i16 {
    fn value(self) -> f32 {
        self as f32
    }
}

impl Pixel for u16 {
    fn value(self) -> f32 {
        self as f32
    }
}

/// Block-mean binning of a row-major `ny` x `nx` image; a remainder at the far edges is cut.
pub fn bin_mean<T: Pixel>(data: &[T], ny: usize, nx: usize, bin: usize) -> (Vec<f32>, usize, usize) {
    let (by, bx) = (ny / bin, nx / bin);
    let mut out = vec![0.0f32; by * bx];
    let mut row = vec![0.0f32; bx * bin];
    for y in 0..by * bin {
        T::to_f32_row(&data[y * nx..y * nx + bx * bin], &mut row);
        let dst = &mut out[(y / bin) * bx..(y / bin + 1) * bx];
        for (k, chunk) in row.chunks_exact(bin).enumerate() {
            dst[k] += chunk.iter().sum::<f32>();
        }
    }
    let scale = 1.0 / (bin * bin) as f32;
    out.iter_mut().for_each(|v| *v *= scale);
    (out, by, bx)
}

/// The exponents of 2, 3 and 5 in `n`, or None when `n` has another prime factor.
fn smooth_exponents(n: usize) -> Option<[u32; 3]> {
    let mut rest = n.max(1);
    let mut exponents = [0u32; 3];
    for (e, p) in exponents.iter_mut().zip([2, 3, 5]) {
        while rest % p == 0 {
            rest /= p;
            *e += 1;
        }
    }
    (rest == 1).then_some(exponents)
}

/// Modelled cost (ns) of one complex FFT of length `n` (2, 3, 5-smooth) in rustfft on x86-64
/// with AVX: n times a cost per pass of each radix. Fitted (least squares) to rustfft 6.4.1's
/// times for every such length from 100 to 1000, measured on the project's machine (thread CPU
/// time, batches of 160 transforms; benches/RESULTS.md); most lengths fall within 30 % of it,
/// and it ranks the lengths near one size as the measurements do (a radix-5 pass costs about
/// 8 radix-2 passes).
fn complex_fft_cost(n: usize) -> f64 {
    let [e2, e3, e5] = smooth_exponents(n).expect("a 2, 3, 5-smooth length");
    n as f64 * (0.07 * e2 as f64 + 0.25 * e3 as f64 + 0.61 * e5 as f64)
}

/// Modelled cost (ns) of one real inverse FFT of even length `n`: a complex FFT of n / 2 and
/// a pass that untangles the halves.
fn real_fft_cost(n: usize) -> f64 {
    complex_fft_cost(n / 2) + 0.5 * n as f64
}

/// The most of a binned image's side that may be cut to reach a faster FFT size: the edges
/// are tapered over 8 % of the side (docs/design.md section 4), and a crop takes equal parts
/// off both, so that 7 % only cuts into the outer half of each tapered edge.
const MAX_CROP: f64 = 0.07;
/// A crop must make the modelled pair cost at least this much smaller to be taken.
const CROP_GAIN: f64 = 0.9;

/// The part of each binned image compared, and the FFT size it is padded to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// First row and column of the compared window (a crop takes equal parts off both edges).
    pub y0: usize,
    pub x0: usize,
    /// Rows and columns of the compared window.
    pub height: usize,
    pub width: usize,
    /// The padded FFT size.
    pub py: usize,
    pub px: usize,
}

/// Columns of the half spectrum that hold any weight of `band` for a row FFT of length `px`.
fn band_columns(px: usize, band: Band) -> usize {
    // Weights vanish from 1.5 x lowpass on (`Band::weight`).
    ((band.lowpass * 1.5 * px as f64).ceil() as usize).clamp(1, px / 2 + 1)
}

/// Modelled cost (ns) of one pair at padded size `py` x `px`: the column FFTs over the
/// columns in the band, the row FFTs, and the per-element work (product, gather into rows).
pub fn pair_cost(py: usize, px: usize, band: Band) -> f64 {
    let columns = band_columns(px, band);
    columns as f64 * (complex_fft_cost(py) + 1.5 * py as f64) + py as f64 * real_fft_cost(px)
}

/// The compared window and FFT size of `ny` x `nx` binned images, chosen by modelled speed:
/// FFT lengths of factors 2, 3 and 5 (row lengths even) from the side less [`MAX_CROP`] up to
/// 1.5 times it; a crop only where it makes a pair at least 10 % cheaper than padding alone.
pub fn choose_geometry(ny: usize, nx: usize, band: Band) -> Geometry {
    let lengths = |n: usize, even: bool| -> Vec<usize> {
        let shortest = ((n as f64 * (1.0 - MAX_CROP)).ceil() as usize).max(1);
        (shortest..=(n * 3 / 2).max(n + 2))
            .filter(|&m| smooth_exponents(m).is_some() && (!even || m % 2 == 0))
            .collect()
    };
    let (columns, rows) = (lengths(ny, false), lengths(nx, true));
    let best = |cropping: bool| {
        let mut best: Option<(f64, usize, usize)> = None;
        for &py in &columns {
            for &px in &rows {
                if !cropping && (py < ny || px < nx) {
                    continue;
                }
                let cost = pair_cost(py, px, band);
                if best.is_none_or(|(c, _, _)| cost < c) {
                    best = Some((cost, py, px));
                }
            }
        }
        best.expect("a padded size always exists")
    };
    let padded = best(false);
    let any = best(true);
    let (_, py, px) = if any.0 <= CROP_GAIN * padded.0 { any } else { padded };
    let (height, width) = (ny.min(py), nx.min(px));
    Geometry { y0: (ny - height) / 2, x0: (nx - width) / 2, height, width, py, px }
}

/// Spatial frequencies kept, in cycles per binned pixel: weight 1 between `highpass` and
/// `lowpass`, falling to 0 along a cosine over a factor of 1.5 beyond each.
#[derive(Clone, Copy, Debug)]
pub struct Band {
    pub highpass: f64,
    pub lowpass: f64,
}

impl Band {
    fn weight(&self, f: f64) -> f32 {
        let ramp = |t: f64| 0.5 - 0.5 * (std::f64::consts::PI * t.clamp(0.0, 1.0)).cos();
        let low = if f >= self.highpass {
            1.0
        } else {
            ramp((f - self.highpass / 1.5) / (self.highpass - self.highpass / 1.5))
        };
        let high =
            if f <= self.lowpass { 1.0 } else { ramp((self.lowpass * 1.5 - f) / (self.lowpass * 1.5 - self.lowpass)) };
        (low * high) as f32
    }
}

/// One image, ready to be compared: its band-weighted phase spectrum, and the band-passed
/// image for the Pearson coefficient.
pub struct Spectrum {
    /// Column by column (`kx < Plan::columns_used`; the rest lies beyond the band and is
    /// zero), and in each column only the rows that hold weight: the first `head` and the
    /// last `tail` of its `py` (`Plan::band_rows`); the rows between are beyond the band, and
    /// storing them would add a third to what every pair reads.
    freq: Vec<Complex32>,
    image: Vec<f32>,
    /// Every coefficient with weight has magnitude `weight` (none was zero before whitening).
    whole: bool,
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
    ny: usize,
    nx: usize,
    geometry: Geometry,
    /// The compared window's size (`geometry.height`, `geometry.width`).
    wy: usize,
    wx: usize,
    py: usize,
    px: usize,
    r2c: Arc<dyn RealToComplex<f32>>,
    c2r: Arc<dyn ComplexToReal<f32>>,
    col_forward: Arc<dyn Fft<f32>>,
    col_inverse: Arc<dyn Fft<f32>>,
    /// The rows' inverse for the pairs' maps (the same transform as `c2r`, see [`RowInverse`]).
    row_inverse: RowInverse,
    weights: Vec<f32>,
    /// The band weights of the image the Pearson coefficient is taken on: `weights` without
    /// the frequencies under the Pearson band's highpass ([`Plan::with_pearson_band`]).
    pearson_weights: Vec<f32>,
    taper: (Vec<f32>, Vec<f32>),
    /// Columns of the half spectrum (kx) holding any weight: beyond them the band is zero.
    columns_used: usize,
    /// For each of those columns, (head, tail): its rows ky < head and ky >= py - tail hold
    /// all its weight (the band is a disc: the high |ky| of the outer columns are empty).
    band_rows: Vec<(usize, usize)>,
    /// Sum of |P|^2 over the full spectrum of any pair's product P when no coefficient in the
    /// band is zero: whitening leaves |a| = weight, so |P|^2 = weight^4 (see `Plan::compare`).
    band_power: f64,
}

thread_local! {
    /// Each thread's buffer for the cross-power spectrum of the pair it compares.
    static PRODUCT: std::cell::RefCell<Vec<Complex32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Smallest overlap (fraction of the image) at which a Pearson coefficient is trusted.
const MIN_OVERLAP: f64 = 0.05;

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
    fn cross_power(&self, a: &Spectrum, b: &Spectrum, product: &mut Vec<Complex32>) {
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
    fn full_spectrum_power(&self, half: &[Complex32]) -> f64 {
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
    fn inverse_columns_argmax(&self, columns: &mut [Complex32]) -> (usize, f32) {
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

    fn forward(&self, padded: &mut [f32]) -> Vec<Complex32> {
        let hx = self.px / 2 + 1;
        let mut freq = vec![Complex32::new(0.0, 0.0); self.py * hx];
        let mut scratch = self.r2c.make_scratch_vec();
        for (row, out) in padded.chunks_exact_mut(self.px).zip(freq.chunks_exact_mut(hx)) {
            self.r2c.process_with_scratch(row, out, &mut scratch).expect("row FFT sizes match the plan");
        }
        self.columns(&mut freq, &self.col_forward);
        freq
    }

    fn inverse(&self, freq: &mut [Complex32]) -> Vec<f32> {
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
    fn columns(&self, data: &mut [Complex32], fft: &Arc<dyn Fft<f32>>) {
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

/// The largest element (NaN ignored), found in independent lanes that the compiler vectorises.
fn max_value(values: &[f32]) -> f32 {
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
const ROWS: usize = 32;
static ZERO_ROWS: [Complex32; ROWS] = [Complex32::new(0.0, 0.0); ROWS];

/// The values of complex numbers, real and imaginary parts in turn.
fn complex_as_reals(values: &[Complex32]) -> &[f32] {
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
struct RowInverse {
    /// The complex inverse FFT of length px / 2 (the planner gives realfft's own plan).
    half: Arc<dyn Fft<f32>>,
    /// e^{+2 pi i k / px} for k = 1 .. (realfft's twiddles, computed as it computes them).
    twiddles: Vec<Complex32>,
    /// The half spectrum's length px / 2 + 1.
    hx: usize,
    /// Fold with AVX (the processor has it; the same values as without).
    avx: bool,
}

impl RowInverse {
    fn new(px: usize, planner: &mut FftPlanner<f32>) -> RowInverse {
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
    fn untangle<'a>(&self, column: impl Fn(usize) -> &'a [Complex32], rows: &mut [Complex32]) {
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
fn fold_pair(x: Complex32, y: Complex32, twiddle: Complex32) -> (Complex32, Complex32) {
    let (sum, diff) = (x + y, x - y);
    let twisted_re = sum.im * twiddle.re + diff.re * twiddle.im;
    let twisted_im = sum.im * twiddle.im - diff.re * twiddle.re;
    let at_k = Complex32::new(sum.re - twisted_re, diff.im - twisted_im);
    let at_m = Complex32::new(sum.re + twisted_re, -twisted_im - diff.im);
    (at_k, at_m)
}

/// Folds the pairs (k, px/2 - k), k = 1 ..= twiddles.len(), of the rows (`rows`: n rows of
/// px / 2; `column(kx)`: their n values of column kx).
fn fold_pairs<'a>(
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
unsafe fn fold_pairs_avx<'a>(
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

/// A window that is 1 inside and falls to 0 over the outer 8 % at each end (Tukey).
fn tukey(n: usize) -> Vec<f32> {
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
fn overlap_fraction(ny: usize, nx: usize, dy: i64, dx: i64) -> f64 {
    let rows = (ny as i64 - dy.abs()).max(0);
    let columns = (nx as i64 - dx.abs()).max(0);
    (rows * columns) as f64 / (ny * nx) as f64
}

/// Pearson coefficient of `b[y][x]` against `a[y + dy][x + dx]` over their overlap, and the
/// overlap's fraction of the image.
fn pearson_at(a: &[f32], b: &[f32], ny: usize, nx: usize, dy: i64, dx: i64) -> (f64, f64) {
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

/// One image's pixels, of one of the types MRC files hold (modes 2, 12, 1 and 6).
#[derive(Clone, Copy)]
pub enum Pixels<'a> {
    F32(&'a [f32]),
    F16(&'a [half::f16]),
    I16(&'a [i16]),
    U16(&'a [u16]),
}

impl Pixels<'_> {
    /// Block-mean binning of an `ny` x `nx` image: (binned, binned ny, binned nx).
    pub fn bin_mean(&self, ny: usize, nx: usize, bin: usize) -> (Vec<f32>, usize, usize) {
        match self {
            Pixels::F32(d) => bin_mean(d, ny, nx, bin),
            Pixels::F16(d) => bin_mean(d, ny, nx, bin),
            Pixels::I16(d) => bin_mean(d, ny, nx, bin),
            Pixels::U16(d) => bin_mean(d, ny, nx, bin),
        }
    }
}

/// Block-mean binning of several images (image `k` is `shapes[k]`, rows x columns), in
/// parallel on the [`reading_pool`](crate::parallel::reading_pool) as
/// [`SpectrumMaker::spectra`] reads: each binned as [`Pixels::bin_mean`] bins it alone.
/// Binning is mostly waiting for memory (a K3 frame is 94 MB): one thread leaves a core idle.
pub fn bin_all(images: &[Pixels], shapes: &[(usize, usize)], bin: usize) -> Vec<(Vec<f32>, usize, usize)> {
    assert_eq!(images.len(), shapes.len(), "one shape per image");
    crate::parallel::reading_pool()
        .install(|| images.par_iter().zip(shapes).map(|(p, &(ny, nx))| p.bin_mean(ny, nx, bin)).collect())
}

/// Makes the spectra of images of one shape, binned: immutable, so that a reading thread
/// can use it while a [`SpectrumStore`] is changed and compares.
#[derive(Clone)]
pub struct SpectrumMaker {
    pub ny: usize,
    pub nx: usize,
    pub bin: usize,
    pub plan: Arc<Plan>,
}

impl SpectrumMaker {
    /// For images of `ny` x `nx` pixels binned by `bin`, the band in cycles per binned pixel.
    pub fn new(ny: usize, nx: usize, bin: usize, band: Band) -> Result<Self, String> {
        SpectrumMaker::with_pearson_band(ny, nx, bin, band, band)
    }

    /// As [`SpectrumMaker::new`], the Pearson coefficient taken on the images band-passed
    /// by `pearson` ([`Plan::with_pearson_band`]).
    pub fn with_pearson_band(ny: usize, nx: usize, bin: usize, band: Band, pearson: Band) -> Result<Self, String> {
        if bin == 0 || ny / bin < 8 || nx / bin < 8 {
            return Err(format!("binning {ny} x {nx} by {bin} leaves less than 8 x 8 pixels"));
        }
        let plan = Plan::with_pearson_band(ny / bin, nx / bin, band, pearson);
        Ok(SpectrumMaker { ny, nx, bin, plan: Arc::new(plan) })
    }

    /// The spectra of `images` (each `ny` x `nx`), in parallel on the
    /// [`reading_pool`](crate::parallel::reading_pool): reading is mostly waiting for memory,
    /// comparing mostly arithmetic, and the two pools run together.
    pub fn spectra(&self, images: &[Pixels]) -> Vec<Spectrum> {
        let (ny, nx, bin, plan) = (self.ny, self.nx, self.bin, &self.plan);
        crate::parallel::reading_pool()
            .install(|| images.par_iter().map(|p| plan.spectrum(&p.bin_mean(ny, nx, bin).0)).collect())
    }
}

/// Spectra kept by image index, compared in pairs.
#[derive(Default)]
pub struct SpectrumStore {
    spectra: std::collections::HashMap<usize, Spectrum>,
}

impl SpectrumStore {
    pub fn store(&mut self, made: impl IntoIterator<Item = (usize, Spectrum)>) {
        self.spectra.extend(made);
    }

    /// Forgets the spectra of `indices` (to bound memory).
    pub fn discard(&mut self, indices: &[usize]) {
        for i in indices {
            self.spectra.remove(i);
        }
    }

    pub fn get(&self, index: usize) -> Option<&Spectrum> {
        self.spectra.get(&index)
    }

    /// Scores `pairs` of stored indices in parallel; the first index not stored is the error.
    pub fn compare(&self, plan: &Plan, pairs: &[(usize, usize)], min_z: f64) -> Result<Vec<PairScore>, usize> {
        let get = |i: usize| self.spectra.get(&i).ok_or(i);
        let refs = pairs.iter().map(|&(a, b)| Ok((get(a)?, get(b)?))).collect::<Result<Vec<_>, usize>>()?;
        Ok(refs.par_iter().map(|(a, b)| plan.compare(a, b, min_z)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn uniform(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform().max(1e-300), self.uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }

    /// A specimen field: many blurred particles of random strength on a slow ice gradient.
    fn field(rng: &mut Rng, ny: usize, nx: usize) -> Vec<f32> {
        let mut f = vec![0.0f32; ny * nx];
        for _ in 0..(ny * nx / 60) {
            let (cy, cx, a) = (rng.uniform() * ny as f64, rng.uniform() * nx as f64, rng.normal());
            for y in (cy as usize).saturating_sub(4)..((cy as usize) + 5).min(ny) {
                for x in (cx as usize).saturating_sub(4)..((cx as usize) + 5).min(nx) {
                    let r2 = (y as f64 - cy).powi(2) + (x as f64 - cx).powi(2);
                    f[y * nx + x] += (a * (-r2 / 4.0).exp()) as f32;
                }
            }
        }
        for y in 0..ny {
            for x in 0..nx {
                f[y * nx + x] += (0.002 * y as f64 + 0.001 * x as f64) as f32;
            }
        }
        f
    }

    #[allow(clippy::too_many_arguments)]
    fn window(f: &[f32], nx: usize, y0: usize, x0: usize, h: usize, w: usize, noise: f64, rng: &mut Rng) -> Vec<f32> {
        let mut out = Vec::with_capacity(h * w);
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                out.push(f[y * nx + x] + (noise * rng.normal()) as f32);
            }
        }
        out
    }

    const BAND: Band = Band { highpass: 0.01, lowpass: 0.25 };

    impl Plan {
        /// A spectrum's columns whole (`kx * py + ky`), zeros put back between its stored rows.
        fn full_columns(&self, s: &Spectrum) -> Vec<Complex32> {
            let mut full = vec![Complex32::new(0.0, 0.0); self.columns_used * self.py];
            let mut stored = s.freq.iter();
            for (kx, &(head, tail)) in self.band_rows.iter().enumerate() {
                for ky in (0..head).chain(self.py - tail..self.py) {
                    full[kx * self.py + ky] = *stored.next().unwrap();
                }
            }
            assert!(stored.next().is_none());
            full
        }
    }

    /// The rows' inverse against realfft's own (`ComplexToReal`), bit for bit, on random half
    /// spectra: row lengths divisible by 4 and not, an odd and an even half-spectrum length,
    /// columns beyond the band (zero) and none, blocks of rows shorter than [`ROWS`].
    #[test]
    fn row_inverse_is_realfft_to_the_bit() {
        let mut rng = Rng(17);
        for (px, used, n) in
            [(384usize, 144usize, 16usize), (384, 193, 16), (10, 6, 3), (90, 30, 7), (8, 2, 1), (250, 126, 16)]
        {
            let (hx, half) = (px / 2 + 1, px / 2);
            let columns: Vec<Complex32> =
                (0..used * n).map(|_| Complex32::new(rng.normal() as f32, rng.normal() as f32)).collect();
            let column = |kx: usize| -> &[Complex32] {
                if kx < used {
                    &columns[kx * n..(kx + 1) * n]
                } else {
                    &ZERO_ROWS[..n]
                }
            };
            let mut row_inverse = RowInverse::new(px, &mut FftPlanner::new());
            let mut rows = vec![Complex32::new(0.0, 0.0); n * half];
            row_inverse.untangle(column, &mut rows);
            // The fold without AVX gives the same bits as with it (where the processor has it).
            let mut plain = vec![Complex32::new(0.0, 0.0); n * half];
            row_inverse.avx = false;
            row_inverse.untangle(column, &mut plain);
            let complex_bits = |v: &[Complex32]| complex_as_reals(v).iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(complex_bits(&plain), complex_bits(&rows), "px {px}, {used} columns");
            let mut out = vec![Complex32::new(0.0, 0.0); n * half];
            let mut scratch = vec![Complex32::new(0.0, 0.0); row_inverse.half.get_outofplace_scratch_len()];
            row_inverse.half.process_outofplace_with_scratch(&mut rows, &mut out, &mut scratch);
            let c2r = RealFftPlanner::<f32>::new().plan_fft_inverse(px);
            for r in 0..n {
                let mut row: Vec<Complex32> = (0..hx).map(|kx| column(kx)[r]).collect();
                row[0].im = 0.0;
                row[hx - 1].im = 0.0;
                let mut expected = vec![0.0f32; px];
                c2r.process(&mut row, &mut expected).unwrap();
                let got = complex_as_reals(&out[r * half..(r + 1) * half]);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(got), bits(&expected), "px {px}, {used} columns, row {r}");
            }
        }
    }

    /// Two unrelated fields under one illumination (3 cycles across the frame, inside the
    /// band): at zero shift, their Pearson coefficient over the whole band is the
    /// illumination's; over the Pearson band (from 8 pixels) it is near 0. The phase
    /// correlation is the same.
    #[test]
    fn the_pearson_band_leaves_out_an_illumination_the_images_share() {
        let (h, w) = (96usize, 128usize);
        let band = Band { highpass: 1.0 / 25.0, lowpass: 0.25 };
        let whole = Plan::new(h, w, band);
        let cut = Plan::with_pearson_band(h, w, band, Band { highpass: 1.0 / 8.0, lowpass: 0.25 });
        let mut rng = Rng(31);
        let lit = |f: Vec<f32>| -> Vec<f32> {
            let light = |k: usize| 3.0 * (2.0 * std::f64::consts::PI * 3.0 * (k % w) as f64 / w as f64).sin();
            f.iter().enumerate().map(|(k, &v)| v + light(k) as f32).collect()
        };
        let (a, b) = (lit(field(&mut rng, h, w)), lit(field(&mut rng, h, w)));
        let at_zero = |plan: &Plan| {
            let (sa, sb) = (plan.spectrum(&a), plan.spectrum(&b));
            (pearson_at(&sa.image, &sb.image, plan.wy, plan.wx, 0, 0).0, plan.compare(&sa, &sb, 1e9))
        };
        let ((shared, x), (specimen, y)) = (at_zero(&whole), at_zero(&cut));
        assert!(shared > 0.5 && specimen.abs() < 0.15, "{shared} {specimen}");
        assert_eq!((x.z, x.dy, x.dx), (y.z, y.dy, y.dx));
        // The same band for both: the same image, bit for bit.
        let same = Plan::with_pearson_band(h, w, band, band);
        assert_eq!(same.spectrum(&a).image, whole.spectrum(&a).image);
    }

    #[test]
    fn pearson_is_skipped_below_the_z_floor() {
        let mut rng = Rng(9);
        let plan = Plan::new(64, 64, BAND);
        let a = plan.spectrum(&window(&field(&mut rng, 64, 64), 64, 0, 0, 64, 64, 0.5, &mut rng));
        let b = plan.spectrum(&window(&field(&mut rng, 64, 64), 64, 0, 0, 64, 64, 0.5, &mut rng));
        let full = plan.compare(&a, &b, 0.0);
        let floored = plan.compare(&a, &b, 1e9);
        assert_eq!((full.z, full.dy, full.dx), (floored.z, floored.dy, floored.dx));
        assert!(floored.pearson.is_nan() && floored.overlap.is_nan() && !full.pearson.is_nan());
    }

    /// The z, peak and shift of `compare` against the same map's statistics taken directly:
    /// the full half spectrum rebuilt row-major, inverted, mean, standard deviation and
    /// maximum computed over every pixel in f64.
    #[test]
    fn z_from_the_spectrum_equals_z_from_the_map() {
        let mut rng = Rng(21);
        for (h, w) in [(64usize, 64usize), (45, 70), (292, 411)] {
            let plan = Plan::new(h, w, Band { highpass: 0.04, lowpass: 0.25 });
            assert!(plan.columns_used < plan.px / 2 + 1, "the band leaves columns out");
            let f = field(&mut rng, h + 20, w + 20);
            let a = plan.spectrum(&window(&f, w + 20, 0, 0, h, w, 0.5, &mut rng));
            let b = plan.spectrum(&window(&f, w + 20, 5, 9, h, w, 3.0, &mut rng));
            let c = plan.spectrum(&window(&field(&mut rng, h, w), w, 0, 0, h, w, 0.5, &mut rng));
            for (x, y) in [(&a, &b), (&a, &c), (&b, &c)] {
                let hx = plan.px / 2 + 1;
                let mut product = vec![Complex32::new(0.0, 0.0); plan.py * hx];
                let (xs, ys) = (plan.full_columns(x), plan.full_columns(y));
                for kx in 0..plan.columns_used {
                    for ky in 0..plan.py {
                        let k = kx * plan.py + ky;
                        product[ky * hx + kx] = xs[k] * ys[k].conj();
                    }
                }
                let map = plan.inverse(&mut product);
                let n = map.len() as f64;
                let mean = map.iter().map(|&v| v as f64).sum::<f64>() / n;
                let sd = (map.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
                let (mut at, mut peak) = (0, f32::MIN);
                for (k, &v) in map.iter().enumerate() {
                    if v > peak {
                        (at, peak) = (k, v);
                    }
                }
                let s = plan.compare(x, y, 1e9);
                let z = (peak as f64 - mean) / sd;
                assert!((s.z - z).abs() < 1e-3 * z.abs().max(1.0), "{} against {z}", s.z);
                assert_eq!((s.dy, s.dx), ((at / plan.px) as i64, (at % plan.px) as i64));
            }
        }
    }

    /// The FFT size of K3 micrographs binned to 12 Å (292 x 411), worked by hand from the
    /// model: padding alone, 300 x 432 (lengths 300 = 2^2 3 5^2 and 432 = 2^4 3^3) costs
    /// 162 columns (those below 0.375 cycles per pixel) times (300 x (2 x 0.07 + 0.25 +
    /// 2 x 0.61) + 1.5 x 300), plus 300 rows times (216 x (3 x 0.07 + 3 x 0.25) + 216), that
    /// is 162 x 933 + 300 x 423.36 = 278,154 ns; cropping 4 rows, 288 (2^5 3^2) x 432 costs
    /// 162 x (288 x 0.85 + 432) + 288 x 423.36 = 231,569.28 ns; cropping 4 rows and 27
    /// columns (6.6 %), 288 x 384 (2^7 3) costs 144 columns x (288 x 0.85 + 432) + 288 rows x
    /// (192 x (6 x 0.07 + 0.25) + 192) = 97,459.2 + 92,344.32 = 189,803.52 ns, 32 % less than
    /// padding alone.
    #[test]
    fn k3_at_12_angstrom_is_cropped_to_288_x_384() {
        let band = Band { highpass: 0.04, lowpass: 0.25 };
        assert!((pair_cost(300, 432, band) - 278_154.0).abs() < 1.0, "{}", pair_cost(300, 432, band));
        assert!((pair_cost(288, 432, band) - 231_569.28).abs() < 1.0, "{}", pair_cost(288, 432, band));
        assert!((pair_cost(288, 384, band) - 189_803.52).abs() < 1.0, "{}", pair_cost(288, 384, band));
        let g = choose_geometry(292, 411, band);
        assert_eq!(g, Geometry { y0: 2, x0: 13, height: 288, width: 384, py: 288, px: 384 });
        assert_eq!(Plan::new(292, 411, band).columns_used, band_columns(384, band));
        assert_eq!(band_columns(384, band), 144);
    }

    /// K3 at 12 Å (288 x 384 after the crop): a spectrum keeps only the rows of each column
    /// inside the band's disc, whose weight ends at 1.5 x 0.25 = 0.375 cycles per pixel. By
    /// hand, in integers: (ky / 288)^2 + (kx / 384)^2 < 0.375^2 is 16 ky^2 + 9 kx^2 < 432^2
    /// (no point lies on the circle but on the axes: 432 = 2^4 3^3 is the hypotenuse of no
    /// other right triangle), so column kx keeps 2 m + 1 rows, m the largest with
    /// 16 m^2 < 432^2 - 9 kx^2; 144 columns, 24,510 coefficients, 59 % of 144 x 288.
    #[test]
    fn k3_spectra_keep_only_the_rows_inside_the_band() {
        let plan = Plan::new(292, 411, Band { highpass: 0.04, lowpass: 0.25 });
        let kept: usize = (0..144usize)
            .map(|kx| {
                let m = (0..=108usize).rev().find(|&m| 16 * m * m + 9 * kx * kx < 432 * 432).unwrap();
                2 * m + 1
            })
            .sum();
        let image = field(&mut Rng(3), 292, 411);
        assert_eq!(plan.spectrum(&image).freq.len(), kept);
        assert_eq!(kept, 24_510);
    }

    /// Every size from 8 to 600 against a brute-force search over the same rules: smooth
    /// lengths (rows even), at most 7 % cut, and a crop only where it pays 10 %.
    #[test]
    fn geometry_is_the_cheapest_allowed_size() {
        let band = Band { highpass: 0.04, lowpass: 0.25 };
        let smooth = |m: usize| {
            let mut r = m;
            for p in [2, 3, 5] {
                while r % p == 0 {
                    r /= p;
                }
            }
            r == 1
        };
        for n in 8..600 {
            for (ny, nx) in [(n, n + 1), (n + 3, n)] {
                let g = choose_geometry(ny, nx, band);
                assert!(smooth(g.py) && smooth(g.px) && g.px % 2 == 0, "{ny} x {nx}: {g:?}");
                assert!(g.height == ny.min(g.py) && g.width == nx.min(g.px));
                assert!(g.height as f64 >= 0.93 * ny as f64 && g.width as f64 >= 0.93 * nx as f64, "{g:?}");
                assert_eq!((g.y0, g.x0), ((ny - g.height) / 2, (nx - g.width) / 2));
                let mut padded = f64::MAX;
                let mut any = f64::MAX;
                for py in (ny * 93).div_ceil(100)..=ny * 3 / 2 + 2 {
                    for px in (nx * 93).div_ceil(100)..=nx * 3 / 2 + 2 {
                        if smooth(py) && smooth(px) && px % 2 == 0 {
                            let cost = pair_cost(py, px, band);
                            any = any.min(cost);
                            if py >= ny && px >= nx {
                                padded = padded.min(cost);
                            }
                        }
                    }
                }
                let cost = pair_cost(g.py, g.px, band);
                let expected = if any <= 0.9 * padded { any } else { padded };
                assert_eq!(cost, expected, "{ny} x {nx}: {g:?}");
            }
        }
    }

    #[test]
    fn bin_mean_averages_blocks() {
        let data: Vec<f32> = (0..4 * 5).map(|v| v as f32).collect();
        let (b, by, bx) = bin_mean(&data, 4, 5, 2);
        assert_eq!((by, bx), (2, 2));
        assert_eq!(b, vec![3.0, 5.0, 13.0, 15.0]);
        let halves: Vec<half::f16> = data.iter().map(|&v| half::f16::from_f32(v)).collect();
        assert_eq!(bin_mean(&halves, 4, 5, 2).0, b);
        let shorts: Vec<i16> = data.iter().map(|&v| v as i16 - 10).collect();
        assert_eq!(bin_mean(&shorts, 4, 5, 2).0, vec![-7.0, -5.0, 3.0, 5.0]);
    }

    #[test]
    fn bin_all_bins_each_image_as_alone() {
        let mut rng = Rng(11);
        let shapes: Vec<(usize, usize)> = (0..9).map(|k| (30 + 7 * k, 41 - 2 * k)).collect();
        let data: Vec<Vec<f32>> =
            shapes.iter().map(|&(ny, nx)| (0..ny * nx).map(|_| rng.normal() as f32).collect()).collect();
        let images: Vec<Pixels> = data.iter().map(|d| Pixels::F32(d)).collect();
        let binned = bin_all(&images, &shapes, 3);
        assert_eq!(binned.len(), 9);
        for ((d, &(ny, nx)), got) in data.iter().zip(&shapes).zip(&binned) {
            // The oracle: each 3 x 3 block's mean, summed here in f64.
            let (by, bx) = (ny / 3, nx / 3);
            assert_eq!((got.1, got.2), (by, bx));
            for y in 0..by {
                for x in 0..bx {
                    let sum: f64 = (0..9).map(|k| d[(3 * y + k / 3) * nx + 3 * x + k % 3] as f64).sum();
                    assert!((got.0[y * bx + x] as f64 - sum / 9.0).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn finds_known_shifts_and_rejects_unrelated_images() {
        let mut rng = Rng(5);
        let (h, w) = (200, 260);
        let f = field(&mut rng, 500, 600);
        let plan = Plan::new(h, w, BAND);
        // (dy, dx) from 35 % to 100 % overlap, including shifts past half the frame (aliases).
        for (dy, dx) in [(0i64, 0i64), (7, -13), (-40, 60), (90, -20), (-10, 150), (80, 110)] {
            let (ay, ax) = (150usize, 170usize);
            let a = plan.spectrum(&window(&f, 600, ay, ax, h, w, 0.5, &mut rng));
            let b = plan.spectrum(&window(
                &f,
                600,
                (ay as i64 + dy) as usize,
                (ax as i64 + dx) as usize,
                h,
                w,
                0.5,
                &mut rng,
            ));
            let s = plan.compare(&a, &b, 0.0);
            assert_eq!((s.dy, s.dx), (dy, dx), "{s:?}");
            assert!(s.z > 8.0 && s.pearson > 0.2, "{s:?}");
            // Of the whole images, though 200 x 260 is compared cropped to 192 x 256 (faster FFT lengths).
            assert_eq!((plan.geometry().height, plan.geometry().width), (192, 256));
            let expected = ((h as i64 - dy.abs()) * (w as i64 - dx.abs())) as f64 / (h * w) as f64;
            assert!((s.overlap - expected).abs() < 1e-9);
        }
        for _ in 0..20 {
            let a = plan.spectrum(&window(&field(&mut rng, h, w), w, 0, 0, h, w, 0.5, &mut rng));
            let b = plan.spectrum(&window(&field(&mut rng, h, w), w, 0, 0, h, w, 0.5, &mut rng));
            let s = plan.compare(&a, &b, 0.0);
            assert!(s.z < 6.0 && s.pearson.abs() < 0.15, "{s:?}");
        }
    }
}
