//! Micrographs: binned images, their spectra kept by image index and compared in pairs.

use std::collections::HashMap;

use cryodedup_core::algo::micrographs::{self, Band, Plan, Spectrum};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use rayon::prelude::*;

use crate::errors;

/// Spectra of binned micrographs of one shape, kept by image index, and their comparison.
#[pyclass(module = "cryodedup._core")]
pub(crate) struct SpectrumBank {
    maker: SpectrumMaker,
    spectra: HashMap<usize, Spectrum>,
}

/// Makes the spectra of images of one shape, for a `SpectrumBank` to store (`SpectrumBank.maker`):
/// immutable, so that a reading thread can use it while the bank is changed and compares.
#[pyclass(module = "cryodedup._core", frozen, skip_from_py_object)]
#[derive(Clone)]
pub(crate) struct SpectrumMaker {
    ny: usize,
    nx: usize,
    bin: usize,
    plan: std::sync::Arc<Plan>,
}

/// A 2-D numpy array of one of the pixel types MRC files hold (modes 2, 12, 1 and 6),
/// borrowed read-only. The one place that knows the supported dtypes.
enum PixelArray<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F16(PyReadonlyArray2<'py, half::f16>),
    I16(PyReadonlyArray2<'py, i16>),
    U16(PyReadonlyArray2<'py, u16>),
}

/// One image's pixels as a slice, to be binned without the GIL.
enum Pixels<'a> {
    F32(&'a [f32]),
    F16(&'a [half::f16]),
    I16(&'a [i16]),
    U16(&'a [u16]),
}

const PIXEL_TYPES: &str = "a 2-D float32, float16, int16 or uint16 array (native byte order, C-contiguous)";

impl<'py> PixelArray<'py> {
    /// Borrows `array`; the error names what `what` (an image, say) should have been.
    fn extract(array: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        if let Ok(a) = array.extract() {
            Ok(PixelArray::F32(a))
        } else if let Ok(a) = array.extract() {
            Ok(PixelArray::F16(a))
        } else if let Ok(a) = array.extract() {
            Ok(PixelArray::I16(a))
        } else if let Ok(a) = array.extract() {
            Ok(PixelArray::U16(a))
        } else {
            Err(errors::value(format!("{what} is not {PIXEL_TYPES}")))
        }
    }

    /// (ny, nx)
    fn shape(&self) -> (usize, usize) {
        let shape = match self {
            PixelArray::F32(a) => a.shape(),
            PixelArray::F16(a) => a.shape(),
            PixelArray::I16(a) => a.shape(),
            PixelArray::U16(a) => a.shape(),
        };
        (shape[0], shape[1])
    }

    /// The pixels as a slice (errors if the array is not contiguous).
    fn pixels(&self) -> PyResult<Pixels<'_>> {
        Ok(match self {
            PixelArray::F32(a) => Pixels::F32(a.as_slice()?),
            PixelArray::F16(a) => Pixels::F16(a.as_slice()?),
            PixelArray::I16(a) => Pixels::I16(a.as_slice()?),
            PixelArray::U16(a) => Pixels::U16(a.as_slice()?),
        })
    }
}

impl Pixels<'_> {
    /// Block-mean binning of an `ny` x `nx` image: (binned, binned ny, binned nx).
    fn bin_mean(&self, ny: usize, nx: usize, bin: usize) -> (Vec<f32>, usize, usize) {
        match self {
            Pixels::F32(d) => micrographs::bin_mean(d, ny, nx, bin),
            Pixels::F16(d) => micrographs::bin_mean(d, ny, nx, bin),
            Pixels::I16(d) => micrographs::bin_mean(d, ny, nx, bin),
            Pixels::U16(d) => micrographs::bin_mean(d, ny, nx, bin),
        }
    }
}

/// Spectra made by `SpectrumBank.spectra`, waiting to be stored.
#[pyclass(module = "cryodedup._core", frozen)]
pub(crate) struct SpectraBatch {
    made: std::sync::Mutex<Option<Vec<(usize, Spectrum)>>>,
}

/// The threads that read images and make their spectra: a pool apart from rayon's global
/// one, which compares pairs, so that the two can run at once (as many threads each).
pub(crate) fn reading_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|i| format!("cryodedup-read-{i}"))
            .build()
            .expect("threads for reading micrographs")
    })
}

/// The window of each binned image that a `SpectrumBank` compares (a crop of at most 2 %
/// per side where it reaches a faster FFT size), and the FFT size it is padded to.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct Geometry {
    y0: usize,
    x0: usize,
    height: usize,
    width: usize,
    fft_height: usize,
    fft_width: usize,
}

#[pymethods]
impl Geometry {
    fn __repr__(&self) -> String {
        let Geometry { y0, x0, height, width, fft_height, fft_width } = self;
        format!("Geometry(window {height} x {width} at ({y0}, {x0}), FFT {fft_height} x {fft_width})")
    }
}

/// The scores of compared pairs, one entry per pair, as numpy arrays handed over uncopied.
#[pyclass(module = "cryodedup._core", frozen, get_all)]
pub(crate) struct PairScores {
    /// Height of the phase-correlation peak, in standard deviations of the correlation map.
    z: Py<PyArray1<f64>>,
    /// The shift in binned pixels: b[y][x] shows what a[y + dy][x + dx] shows.
    dy: Py<PyArray1<i64>>,
    dx: Py<PyArray1<i64>>,
    /// Pearson coefficient of the two images over their overlap at the shift (NaN below the z floor).
    pearson: Py<PyArray1<f64>>,
    /// The overlap's fraction of the image (NaN below the z floor).
    overlap: Py<PyArray1<f64>>,
}

#[pymethods]
impl PairScores {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!("PairScores({} pairs)", self.z.bind(py).len())
    }
}

#[pymethods]
impl SpectrumBank {
    /// Images of `ny` x `nx` pixels, binned by `bin`; the band in cycles per binned pixel.
    #[new]
    fn new(ny: usize, nx: usize, bin: usize, highpass: f64, lowpass: f64) -> PyResult<Self> {
        if bin == 0 || ny / bin < 8 || nx / bin < 8 {
            return Err(errors::value(format!("binning {ny} x {nx} by {bin} leaves less than 8 x 8 pixels")));
        }
        let plan = std::sync::Arc::new(Plan::new(ny / bin, nx / bin, Band { highpass, lowpass }));
        Ok(SpectrumBank { maker: SpectrumMaker { ny, nx, bin, plan }, spectra: HashMap::new() })
    }

    /// The window of each binned image that is compared, and the FFT size.
    #[getter]
    fn geometry(&self) -> Geometry {
        let g = self.maker.plan.geometry();
        Geometry { y0: g.y0, x0: g.x0, height: g.height, width: g.width, fft_height: g.py, fft_width: g.px }
    }

    /// Bins the images (2-D arrays of float32, float16, int16 or uint16, little-endian,
    /// C-contiguous) and stores their spectra under `indices`, in parallel.
    fn add(&mut self, py: Python<'_>, indices: Vec<usize>, images: Vec<Bound<'_, PyAny>>) -> PyResult<()> {
        let batch = self.maker.spectra(py, indices, images)?;
        self.store(&batch)
    }

    /// What makes this bank's spectra, to be used on another thread (`SpectrumMaker.spectra`).
    #[getter]
    fn maker(&self) -> SpectrumMaker {
        self.maker.clone()
    }

    /// Stores the spectra `SpectrumMaker.spectra` made, under their indices (once: the batch is emptied).
    fn store(&mut self, batch: &SpectraBatch) -> PyResult<()> {
        let made = batch.made.lock().map_err(|_| errors::value("a batch of spectra was poisoned".into()))?.take();
        let made = made.ok_or_else(|| errors::value("this batch of spectra is already stored".into()))?;
        self.spectra.extend(made);
        Ok(())
    }

    /// Forgets the spectra of `indices` (to bound memory).
    fn discard(&mut self, indices: Vec<usize>) {
        for i in indices {
            self.spectra.remove(&i);
        }
    }

    /// The compared window of the binned image stored under `index`, tapered and band-passed.
    fn image<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let s = self.spectra.get(&index).ok_or_else(|| errors::value(format!("no image {index}")))?;
        let g = self.maker.plan.geometry();
        s.image().to_vec().into_pyarray(py).reshape([g.height, g.width])
    }

    /// Scores the pairs (rows of an (n, 2) int64 array of stored indices) in parallel;
    /// pearson and overlap are NaN where z < `pearson_min_z`.
    #[pyo3(signature = (pairs, pearson_min_z=0.0))]
    fn compare(&self, py: Python<'_>, pairs: PyReadonlyArray2<'_, i64>, pearson_min_z: f64) -> PyResult<PairScores> {
        let pairs = pairs.as_array();
        let mut refs = Vec::with_capacity(pairs.nrows());
        for row in pairs.rows() {
            let get = |i: i64| {
                self.spectra.get(&(i as usize)).ok_or_else(|| errors::value(format!("no spectrum for image {i}")))
            };
            refs.push((get(row[0])?, get(row[1])?));
        }
        let plan = &self.maker.plan;
        let scores: Vec<micrographs::PairScore> =
            py.detach(|| refs.par_iter().map(|(a, b)| plan.compare(a, b, pearson_min_z)).collect());
        let floats = |f: fn(&micrographs::PairScore) -> f64| scores.iter().map(f).collect::<Vec<_>>().into_pyarray(py);
        let ints = |f: fn(&micrographs::PairScore) -> i64| scores.iter().map(f).collect::<Vec<_>>().into_pyarray(py);
        Ok(PairScores {
            z: floats(|s| s.z).unbind(),
            dy: ints(|s| s.dy).unbind(),
            dx: ints(|s| s.dx).unbind(),
            pearson: floats(|s| s.pearson).unbind(),
            overlap: floats(|s| s.overlap).unbind(),
        })
    }
}

#[pymethods]
impl SpectrumMaker {
    /// Bins the images (as for `SpectrumBank.add`) and makes their spectra, without storing
    /// them (`SpectrumBank.store` does), on threads of their own: one thread can make the next
    /// images' spectra while others compare pairs of the stored ones. Reading is mostly
    /// waiting for memory, comparing mostly arithmetic: together they fill the cores better
    /// than one after the other.
    fn spectra(&self, py: Python<'_>, indices: Vec<usize>, images: Vec<Bound<'_, PyAny>>) -> PyResult<SpectraBatch> {
        if indices.len() != images.len() {
            return Err(errors::value("one index per image is needed".into()));
        }
        let arrays = images
            .iter()
            .zip(&indices)
            .map(|(image, index)| {
                let array = PixelArray::extract(image, &format!("image {index}"))?;
                if array.shape() != (self.ny, self.nx) {
                    let (ny, nx) = array.shape();
                    return Err(errors::value(format!(
                        "image {index} is [{ny}, {nx}], expected [{}, {}]",
                        self.ny, self.nx
                    )));
                }
                Ok(array)
            })
            .collect::<PyResult<Vec<_>>>()?;
        let pixels = arrays.iter().map(PixelArray::pixels).collect::<PyResult<Vec<_>>>()?;
        let (ny, nx, bin, plan) = (self.ny, self.nx, self.bin, &self.plan);
        let spectra: Vec<Spectrum> = py.detach(|| {
            reading_pool().install(|| pixels.par_iter().map(|p| plan.spectrum(&p.bin_mean(ny, nx, bin).0)).collect())
        });
        Ok(SpectraBatch { made: std::sync::Mutex::new(Some(indices.into_iter().zip(spectra).collect())) })
    }
}

/// bin_image(image, bin) -> float32 array: block-mean binning of a 2-D float32, float16,
/// int16 or uint16 array (little-endian, C-contiguous), the GIL released.
#[pyfunction]
pub(crate) fn bin_image<'py>(
    py: Python<'py>,
    image: Bound<'py, PyAny>,
    bin: usize,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    if bin == 0 {
        return Err(errors::value("bin must be at least 1".into()));
    }
    let array = PixelArray::extract(&image, "the image")?;
    let (ny, nx) = array.shape();
    let pixels = array.pixels()?;
    let (out, by, bx) = py.detach(|| pixels.bin_mean(ny, nx, bin));
    out.into_pyarray(py).reshape([by, bx])
}
