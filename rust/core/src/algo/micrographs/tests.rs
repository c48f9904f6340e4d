use realfft::num_complex::Complex32;
use realfft::RealFftPlanner;
use rustfft::FftPlanner;

use super::geometry::*;
use super::plan::*;
use super::row_inverse::*;
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
        let b =
            plan.spectrum(&window(&f, 600, (ay as i64 + dy) as usize, (ax as i64 + dx) as usize, h, w, 0.5, &mut rng));
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
