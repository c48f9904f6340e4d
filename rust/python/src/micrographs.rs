//! Micrographs: binned images, their spectra kept by image index and compared in pairs.

use std::path::PathBuf;

use cryodedup_core::algo::micrographs::{self, bin_all, Band, Pixels, Spectrum, SpectrumStore};
use cryodedup_core::io::pairs_csv::{write_pair_rows, PairColumns};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::errors::{self, CoreError};

/// Spectra of binned micrographs of one shape, kept by image index, and their comparison.
#[pyclass(module = "cryodedup._core")]
pub(crate) struct SpectrumBank {
    maker: SpectrumMaker,
    spectra: SpectrumStore,
}

/// Makes the spectra of images of one shape, for a `SpectrumBank` to store (`SpectrumBank.maker`):
/// immutable, so that a reading thread can use it while the bank is changed and compares.
#[pyclass(module = "cryodedup._core", frozen, skip_from_py_object)]
#[derive(Clone)]
pub(crate) struct SpectrumMaker(micrographs::SpectrumMaker);

/// A 2-D numpy array of one of the pixel types MRC files hold (modes 2, 12, 1 and 6),
/// borrowed read-only. The one place that knows the supported dtypes.
enum PixelArray<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F16(PyReadonlyArray2<'py, half::f16>),
    I16(PyReadonlyArray2<'py, i16>),
    U16(PyReadonlyArray2<'py, u16>),
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

/// Spectra made by `SpectrumBank.spectra`, waiting to be stored.
#[pyclass(module = "cryodedup._core", frozen)]
pub(crate) struct SpectraBatch {
    made: std::sync::Mutex<Option<Vec<(usize, Spectrum)>>>,
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
    /// The Pearson coefficient is taken on the images band-passed from `pearson_highpass`
    /// (default: `highpass`) to `lowpass`.
    #[new]
    #[pyo3(signature = (ny, nx, bin, highpass, lowpass, pearson_highpass=None))]
    fn new(
        ny: usize,
        nx: usize,
        bin: usize,
        highpass: f64,
        lowpass: f64,
        pearson_highpass: Option<f64>,
    ) -> PyResult<Self> {
        let band = Band { highpass, lowpass };
        let pearson = Band { highpass: pearson_highpass.unwrap_or(highpass), lowpass };
        let maker = micrographs::SpectrumMaker::with_pearson_band(ny, nx, bin, band, pearson).map_err(errors::value)?;
        Ok(SpectrumBank { maker: SpectrumMaker(maker), spectra: SpectrumStore::default() })
    }

    /// The window of each binned image that is compared, and the FFT size.
    #[getter]
    fn geometry(&self) -> Geometry {
        let g = self.maker.0.plan.geometry();
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
        self.spectra.store(made);
        Ok(())
    }

    /// Forgets the spectra of `indices` (to bound memory).
    fn discard(&mut self, indices: Vec<usize>) {
        self.spectra.discard(&indices);
    }

    /// The compared window of the binned image stored under `index`, tapered and band-passed.
    fn image<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let s = self.spectra.get(index).ok_or_else(|| errors::value(format!("no image {index}")))?;
        let g = self.maker.0.plan.geometry();
        s.image().to_vec().into_pyarray(py).reshape([g.height, g.width])
    }

    /// Scores the pairs (rows of an (n, 2) int64 array of stored indices) in parallel;
    /// pearson and overlap are NaN where z < `pearson_min_z`.
    #[pyo3(signature = (pairs, pearson_min_z=0.0))]
    fn compare(&self, py: Python<'_>, pairs: PyReadonlyArray2<'_, i64>, pearson_min_z: f64) -> PyResult<PairScores> {
        let pairs: Vec<(usize, usize)> =
            pairs.as_array().rows().into_iter().map(|r| (r[0] as usize, r[1] as usize)).collect();
        let (store, plan) = (&self.spectra, &self.maker.0.plan);
        let scores = py
            .detach(|| store.compare(plan, &pairs, pearson_min_z))
            .map_err(|i| errors::value(format!("no spectrum for image {i}")))?;
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
                let (ny, nx) = (self.0.ny, self.0.nx);
                if array.shape() != (ny, nx) {
                    let (got_y, got_x) = array.shape();
                    return Err(errors::value(format!("image {index} is [{got_y}, {got_x}], expected [{ny}, {nx}]")));
                }
                Ok(array)
            })
            .collect::<PyResult<Vec<_>>>()?;
        let pixels = arrays.iter().map(PixelArray::pixels).collect::<PyResult<Vec<_>>>()?;
        let spectra: Vec<Spectrum> = py.detach(|| self.0.spectra(&pixels));
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

/// bin_images(images, bin) -> list of float32 arrays: each image binned as `bin_image` bins it,
/// the images in parallel on the core's reading threads, the GIL released.
#[pyfunction]
pub(crate) fn bin_images<'py>(
    py: Python<'py>,
    images: Vec<Bound<'py, PyAny>>,
    bin: usize,
) -> PyResult<Vec<Bound<'py, PyArray2<f32>>>> {
    if bin == 0 {
        return Err(errors::value("bin must be at least 1".into()));
    }
    let arrays = images
        .iter()
        .enumerate()
        .map(|(k, image)| PixelArray::extract(image, &format!("image {k}")))
        .collect::<PyResult<Vec<_>>>()?;
    let shapes: Vec<(usize, usize)> = arrays.iter().map(PixelArray::shape).collect();
    let pixels = arrays.iter().map(PixelArray::pixels).collect::<PyResult<Vec<_>>>()?;
    let binned = py.detach(|| bin_all(&pixels, &shapes, bin));
    binned.into_iter().map(|(out, by, bx)| out.into_pyarray(py).reshape([by, bx])).collect()
}

/// append_pair_rows(path, names, a, b, z, pearson, overlap, dy, dx, duplicate, uncertain, joint,
/// distance, binning, psize): appends the rows of `pairs.csv` to `path` (its header already
/// written), as Python's csv module and `.Nf` formats write them (cryodedup_core::io::pairs_csv).
/// `names`: each micrograph's field, quoted and encoded; float64 columns, bool flags; the GIL released.
#[pyfunction]
#[pyo3(signature = (path, names, a, b, z, pearson, overlap, dy, dx, duplicate, uncertain, joint, distance, binning, psize))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn append_pair_rows(
    py: Python<'_>,
    path: PathBuf,
    names: Vec<Vec<u8>>,
    a: PyReadonlyArray1<'_, i64>,
    b: PyReadonlyArray1<'_, i64>,
    z: PyReadonlyArray1<'_, f64>,
    pearson: PyReadonlyArray1<'_, f64>,
    overlap: PyReadonlyArray1<'_, f64>,
    dy: PyReadonlyArray1<'_, f64>,
    dx: PyReadonlyArray1<'_, f64>,
    duplicate: PyReadonlyArray1<'_, bool>,
    uncertain: PyReadonlyArray1<'_, bool>,
    joint: PyReadonlyArray1<'_, f64>,
    distance: Option<PyReadonlyArray1<'_, f64>>,
    binning: i64,
    psize: f64,
) -> PyResult<()> {
    let columns = PairColumns {
        a: a.as_slice()?,
        b: b.as_slice()?,
        z: z.as_slice()?,
        pearson: pearson.as_slice()?,
        overlap: overlap.as_slice()?,
        dy: dy.as_slice()?,
        dx: dx.as_slice()?,
        duplicate: duplicate.as_slice()?,
        uncertain: uncertain.as_slice()?,
        joint: joint.as_slice()?,
        distance: distance.as_ref().map(|d| d.as_slice()).transpose()?,
    };
    columns.rows().map_err(errors::value)?;
    let names: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
    let written = py.detach(|| -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new().append(true).open(&path)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        write_pair_rows(&mut out, &names, &columns, binning, psize)?;
        std::io::Write::flush(&mut out)
    });
    written.map_err(|error| match error.kind() {
        std::io::ErrorKind::InvalidInput => errors::value(error.to_string()),
        _ => CoreError::Output { path: path.clone(), error }.into(),
    })
}
