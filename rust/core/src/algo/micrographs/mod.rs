//! Duplicate micrographs: each binned image becomes a whitened, band-limited spectrum once;
//! a candidate pair then costs one complex product and one inverse FFT (phase correlation).
//!
//! Shift convention: a pair's shift (dy, dx) means `b[y][x]` shows what `a[y + dy][x + dx]`
//! shows. Images are zero-padded to FFT-friendly sizes, not doubled, so a peak at s also
//! stands for s - size; the Pearson coefficient over the overlap decides between them.
//!
//! The module's rooms: [`geometry`] (the compared window and the band), [`plan`] (spectra and
//! a pair's comparison) and [`row_inverse`] (the correlation map's inverse along its rows).

use std::sync::Arc;

use rayon::prelude::*;

mod geometry;
mod plan;
mod row_inverse;
#[cfg(test)]
mod tests;

pub use geometry::{choose_geometry, pair_cost, Band, Geometry};
pub use plan::{PairScore, Plan, Spectrum};

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
