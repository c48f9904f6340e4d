//! The `--plot` pictures' boxes and text painted in place (the canvas's numpy pixels, 4 bytes
//! a pixel as Pillow stores RGB): Pillow's pixels, without its byte-at-a-time loops.

use cryodedup_core::algo::paint::Pixels;
use numpy::{PyReadonlyArray2, PyReadwriteArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// The picture's pixels as the core paints them.
fn pixels<'a>(words: &'a mut PyReadwriteArray2<'_, u32>) -> PyResult<Pixels<'a>> {
    let (height, width) = (words.shape()[0], words.shape()[1]);
    let slice = words.as_slice_mut()?;
    Pixels::new(slice, width, height).map_err(|e| crate::errors::value(e.to_string()))
}

/// fill_box(pixels, x0, y0, x1, y1, ink): ``pixels`` uint32 (height, width), contiguous;
/// columns x0..=x1 of rows y0..=y1 (cut to the picture) set to ``ink`` (Pillow's ink of the
/// colour, ``draw.draw_ink``): Pillow's ``rectangle(fill=...)`` with integer corners. Lets go
/// of Python's lock: a new canvas's white (15 MB, its pages faulted in) is painted while
/// another thread draws.
#[pyfunction]
pub(crate) fn fill_box(
    py: Python<'_>,
    mut words: PyReadwriteArray2<'_, u32>,
    x0: i64,
    y0: i64,
    x1: i64,
    y1: i64,
    ink: i64,
) -> PyResult<()> {
    let mut painted = pixels(&mut words)?;
    py.detach(|| painted.fill_box(x0, y0, x1, y1, ink as u32));
    Ok(())
}

/// blend_mask(pixels, mask, x, y, ink): ``mask`` uint8 (rows, columns), contiguous, blended
/// in ``ink`` with its top left corner at column x, row y (cut to the picture): Pillow's
/// ``draw_bitmap`` of a text's mask.
#[pyfunction]
pub(crate) fn blend_mask(
    mut words: PyReadwriteArray2<'_, u32>,
    mask: PyReadonlyArray2<'_, u8>,
    x: i64,
    y: i64,
    ink: i64,
) -> PyResult<()> {
    let mask_width = mask.shape()[1];
    let mask = mask.as_slice()?;
    pixels(&mut words)?.blend_mask(mask, mask_width, x, y, ink as u32);
    Ok(())
}

/// stamp(pixels, mask, corners, ink): ``mask`` uint8 (rows, columns), contiguous, its
/// non-zero pixels set to ``ink`` with its top left corner at each row (x, y) of ``corners``
/// (int64, (n, 2)), cut to the picture: one mark that Pillow drew, set at every place (GIL
/// released).
#[pyfunction]
pub(crate) fn stamp(
    py: Python<'_>,
    mut words: PyReadwriteArray2<'_, u32>,
    mask: PyReadonlyArray2<'_, u8>,
    corners: PyReadonlyArray2<'_, i64>,
    ink: i64,
) -> PyResult<()> {
    let mask_width = mask.shape()[1];
    let mask = mask.as_slice()?;
    if corners.shape()[1] != 2 {
        return Err(crate::errors::value(format!("corners: 2 columns (x, y), not {}", corners.shape()[1])));
    }
    let corners: Vec<(i64, i64)> = corners.as_slice()?.chunks_exact(2).map(|c| (c[0], c[1])).collect();
    let mut painted = pixels(&mut words)?;
    py.detach(|| painted.stamp(mask, mask_width, &corners, ink as u32));
    Ok(())
}
