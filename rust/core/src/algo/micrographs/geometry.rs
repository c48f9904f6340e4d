//! The compared window's geometry (FFT-friendly sizes, the crop that pays) and the band's weights.

/// The exponents of 2, 3 and 5 in `n`, or None when `n` has another prime factor.
pub(super) fn smooth_exponents(n: usize) -> Option<[u32; 3]> {
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
pub(super) fn complex_fft_cost(n: usize) -> f64 {
    let [e2, e3, e5] = smooth_exponents(n).expect("a 2, 3, 5-smooth length");
    n as f64 * (0.07 * e2 as f64 + 0.25 * e3 as f64 + 0.61 * e5 as f64)
}

/// Modelled cost (ns) of one real inverse FFT of even length `n`: a complex FFT of n / 2 and
/// a pass that untangles the halves.
pub(super) fn real_fft_cost(n: usize) -> f64 {
    complex_fft_cost(n / 2) + 0.5 * n as f64
}

/// The most of a binned image's side that may be cut to reach a faster FFT size: the edges
/// are tapered over 8 % of the side (docs/design.md section 4), and a crop takes equal parts
/// off both, so that 7 % only cuts into the outer half of each tapered edge.
pub(super) const MAX_CROP: f64 = 0.07;
/// A crop must make the modelled pair cost at least this much smaller to be taken.
pub(super) const CROP_GAIN: f64 = 0.9;

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
pub(super) fn band_columns(px: usize, band: Band) -> usize {
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
    pub(super) fn weight(&self, f: f64) -> f32 {
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
