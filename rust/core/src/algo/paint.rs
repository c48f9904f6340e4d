//! The `--plot` pictures' two commonest drawing steps, done where the pixels lie (a picture
//! drawn at twice its size, 4 bytes a pixel as Pillow stores RGB): filled boxes (the white
//! canvas, the grey panels, the white strips around them) and text (a glyph mask blended in
//! the ink). Pillow fills a box a pixel at a time and blends every byte of a text's box,
//! with or without ink, testing the picture's mode for each (0.13 G of a 1M-particle
//! `--plot` run's 0.87 G of drawing, issue 43). Both give Pillow's pixels exactly: the
//! same clipping, the same rounding.

/// The drawn pixels, `width` x `height`, each a `u32` (Pillow's 4 bytes read in memory order).
pub struct Pixels<'a> {
    pub pixels: &'a mut [u32],
    pub width: usize,
    pub height: usize,
}

/// Why pixels cannot be painted.
#[derive(Debug, Clone, PartialEq)]
pub struct PaintError(pub String);

impl std::fmt::Display for PaintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PaintError {}

impl<'a> Pixels<'a> {
    /// `pixels` as `height` rows of `width`; an error when the lengths disagree.
    pub fn new(pixels: &'a mut [u32], width: usize, height: usize) -> Result<Self, PaintError> {
        if width.checked_mul(height) != Some(pixels.len()) {
            return Err(PaintError(format!("pixels: {} values for {width} x {height}", pixels.len())));
        }
        Ok(Pixels { pixels, width, height })
    }

    /// The box from column `x0` to `x1` and row `y0` to `y1`, both ends included, in `ink`;
    /// what lies outside the picture is left out. Pillow's `draw.rectangle(fill=...)` after
    /// its coordinates are truncated to integers (`x0 <= x1`, `y0 <= y1`).
    pub fn fill_box(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, ink: u32) {
        let Some((left, right)) = clipped(x0, x1, self.width) else { return };
        let Some((top, bottom)) = clipped(y0, y1, self.height) else { return };
        if left == 0 && right + 1 == self.width {
            // Whole rows (a white canvas): one run.
            fill_words(&mut self.pixels[top * self.width..(bottom + 1) * self.width], ink);
            return;
        }
        for row in self.pixels.chunks_exact_mut(self.width).take(bottom + 1).skip(top) {
            fill_words(&mut row[left..=right], ink);
        }
    }

    /// `mask` (`mask_width` bytes a row, each the ink's weight 0-255) blended in `ink` with
    /// its top left corner at column `x`, row `y`; the mask's part outside the picture is
    /// left out. Each of a pixel's 4 bytes becomes `(p * (255 - m) + i * m) / 255` rounded
    /// as Pillow's `DIV255` rounds it; where the mask is 0 that is the pixel itself, so those
    /// pixels are not touched. Pillow's `ImageDraw.draw_bitmap` (text) on a 4-byte picture.
    pub fn blend_mask(&mut self, mask: &[u8], mask_width: usize, x: i64, y: i64, ink: u32) {
        if mask_width == 0 {
            return;
        }
        let mask_height = mask.len() / mask_width;
        let (Some(cols), Some(rows)) = (overlap(x, mask_width, self.width), overlap(y, mask_height, self.height))
        else {
            return;
        };
        let ink = ink.to_le_bytes();
        // The mask's first column and row that land in the picture.
        let (skip_x, skip_y) = ((cols.start as i64 - x) as usize, (rows.start as i64 - y) as usize);
        let picture_rows = self.pixels.chunks_exact_mut(self.width).skip(rows.start);
        for (out, mask_row) in picture_rows.zip(mask.chunks_exact(mask_width).skip(skip_y)).take(rows.len()) {
            for (pixel, &m) in out[cols.clone()].iter_mut().zip(&mask_row[skip_x..]) {
                if m != 0 {
                    *pixel = blended(*pixel, &ink, m);
                }
            }
        }
    }

    /// `mask` (`mask_width` bytes a row; non-zero: the mark's pixel) set in `ink` with its
    /// top left corner at each `(x, y)` of `corners`; what lies outside the picture is left
    /// out. The marks Pillow draws by the thousand (a micrograph's picks, a dot per
    /// micrograph) are the same shape wherever they lie, its pixels set in an opaque ink:
    /// drawn once by Pillow, then set here at every place (issue 43).
    pub fn stamp(&mut self, mask: &[u8], mask_width: usize, corners: &[(i64, i64)], ink: u32) {
        if mask_width == 0 {
            return;
        }
        // Each row of the mark as runs of set pixels: most of a ring's box is empty.
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        for (row, bits) in mask.chunks_exact(mask_width).enumerate() {
            let mut col = 0;
            while col < mask_width {
                if bits[col] == 0 {
                    col += 1;
                    continue;
                }
                let start = col;
                while col < mask_width && bits[col] != 0 {
                    col += 1;
                }
                runs.push((row, start, col));
            }
        }
        let (width, height) = (self.width as i64, self.height as i64);
        for &(x, y) in corners {
            for &(row, start, end) in &runs {
                let py = y + row as i64;
                if py < 0 || py >= height {
                    continue;
                }
                let (from, to) = ((x + start as i64).max(0), (x + end as i64).min(width));
                if from < to {
                    let line = py as usize * self.width;
                    fill_words(&mut self.pixels[line + from as usize..line + to as usize], ink);
                }
            }
        }
    }
}

/// `words` set to `ink` (the compiler's 16-byte stores; memset's `rep stosb` is no faster
/// on the pictures' rows, and valgrind counts it a byte at a time).
fn fill_words(words: &mut [u32], ink: u32) {
    words.fill(ink);
}

/// The columns (or rows) `first..=last` cut to `0..size`; None when nothing is left.
fn clipped(first: i64, last: i64, size: usize) -> Option<(usize, usize)> {
    if size == 0 || last < 0 || first >= size as i64 || first > last {
        return None;
    }
    Some((first.max(0) as usize, (last.min(size as i64 - 1)) as usize))
}

/// The picture's columns (or rows) a mask of `length` placed at `at` covers.
fn overlap(at: i64, length: usize, size: usize) -> Option<std::ops::Range<usize>> {
    let start = at.max(0);
    let end = (at + length as i64).min(size as i64);
    (start < end).then_some(start as usize..end as usize)
}

/// `pixel`'s bytes moved towards `ink`'s by the weight `m` (Pillow's `BLEND`).
#[inline(always)]
fn blended(pixel: u32, ink: &[u8; 4], m: u8) -> u32 {
    let mut bytes = pixel.to_le_bytes();
    let (m, keep) = (u32::from(m), 255 - u32::from(m));
    for (b, &i) in bytes.iter_mut().zip(ink) {
        let v = u32::from(*b) * keep + u32::from(i) * m + 128;
        *b = (((v >> 8) + v) >> 8) as u8;
    }
    u32::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random integer in `low..=high`.
    fn within(next: &mut impl FnMut(u64) -> u64, low: i64, high: i64) -> i64 {
        low + next((high - low + 1) as u64) as i64
    }

    #[test]
    fn a_box_fills_exactly_the_pixels_inside_it_and_the_picture() {
        let mut rng = crate::test_random(0x2545_f491_4f6c_dd1d);
        let (width, height) = (13usize, 9usize);
        for _ in 0..2000 {
            let (x0, y0) = (within(&mut rng, -20, 20), within(&mut rng, -20, 20));
            let (x1, y1) = (x0 + within(&mut rng, 0, 25), y0 + within(&mut rng, 0, 25));
            let mut data = vec![1u32; width * height];
            let ink = [9u32, 0xf2f2_f2f2, u32::MAX][within(&mut rng, 0, 2) as usize];
            Pixels::new(&mut data, width, height).unwrap().fill_box(x0, y0, x1, y1, ink);
            for (k, &v) in data.iter().enumerate() {
                let (x, y) = ((k % width) as i64, (k / width) as i64);
                let inside = (x0..=x1).contains(&x) && (y0..=y1).contains(&y);
                assert_eq!(v, if inside { ink } else { 1 }, "box {x0},{y0}-{x1},{y1} at {x},{y}");
            }
        }
    }

    /// Pillow's BLEND with its DIV255, as written there (the oracle for one byte).
    fn pillow_blend(p: u32, i: u32, m: u32) -> u32 {
        let t = p * (255 - m) + i * m + 128;
        ((t >> 8) + t) >> 8
    }

    #[test]
    fn a_blend_is_pillows_byte_by_byte_and_a_zero_weight_keeps_the_byte() {
        for m in 0..=255u32 {
            for p in (0..=255u32).step_by(3) {
                for i in [0u32, 34, 128, 255] {
                    let got = blended(p * 0x0101_0101, &[i as u8; 4], m as u8).to_le_bytes()[0];
                    assert_eq!(u32::from(got), pillow_blend(p, i, m), "pixel {p} ink {i} weight {m}");
                }
                assert_eq!(pillow_blend(p, 77, 0), p);
            }
        }
    }

    #[test]
    fn a_mask_lands_where_placed_and_is_cut_at_the_edges() {
        let mut rng = crate::test_random(0x9e37_79b9_7f4a_7c15);
        let (width, height) = (11usize, 8usize);
        for _ in 0..1000 {
            let (mw, mh) = (within(&mut rng, 1, 14) as usize, within(&mut rng, 1, 10) as usize);
            let mask: Vec<u8> = (0..mw * mh)
                .map(|_| [0, 0, 255, within(&mut rng, 0, 255) as u8][within(&mut rng, 0, 3) as usize])
                .collect();
            let (x, y) = (within(&mut rng, -15, 15), within(&mut rng, -12, 12));
            let before: Vec<u32> = (0..width * height).map(|_| rng(1 << 32) as u32).collect();
            let mut data = before.clone();
            let ink = 0xff22_2222u32;
            Pixels::new(&mut data, width, height).unwrap().blend_mask(&mask, mw, x, y, ink);
            for (k, (&got, &old)) in data.iter().zip(&before).enumerate() {
                let (px, py) = ((k % width) as i64, (k / width) as i64);
                let (mx, my) = (px - x, py - y);
                let m = if (0..mw as i64).contains(&mx) && (0..mh as i64).contains(&my) {
                    u32::from(mask[my as usize * mw + mx as usize])
                } else {
                    0
                };
                let expected: Vec<u8> = old
                    .to_le_bytes()
                    .iter()
                    .zip(ink.to_le_bytes())
                    .map(|(&p, i)| pillow_blend(u32::from(p), u32::from(i), m) as u8)
                    .collect();
                assert_eq!(got.to_le_bytes().to_vec(), expected, "mask at {x},{y}, pixel {px},{py}");
            }
        }
    }

    #[test]
    fn lengths_that_disagree_are_refused() {
        let mut data = vec![0u32; 10];
        assert!(Pixels::new(&mut data, 3, 3).is_err());
    }

    #[test]
    fn a_stamp_sets_its_marks_pixels_at_every_corner_cut_at_the_edges() {
        // Oracle: each mark's pixels set one by one where they fall inside the picture.
        let mut next = crate::test_random(0x5851_f42d_4c95_7f2d);
        let (width, height) = (37usize, 23usize);
        for _ in 0..200 {
            let (mw, mh) = (1 + next(9) as usize, 1 + next(9) as usize);
            let mask: Vec<u8> = (0..mw * mh).map(|_| if next(3) == 0 { 0 } else { 255 }).collect();
            let corners: Vec<(i64, i64)> =
                (0..next(6)).map(|_| (within(&mut next, -12, 45), within(&mut next, -12, 30))).collect();
            let start: Vec<u32> = (0..width * height).map(|_| next(1 << 32) as u32).collect();
            let (mut got, mut want) = (start.clone(), start);
            Pixels::new(&mut got, width, height).unwrap().stamp(&mask, mw, &corners, 0xAB);
            for &(x, y) in &corners {
                for (k, &m) in mask.iter().enumerate() {
                    let (px, py) = (x + (k % mw) as i64, y + (k / mw) as i64);
                    if m != 0 && (0..width as i64).contains(&px) && (0..height as i64).contains(&py) {
                        want[py as usize * width + px as usize] = 0xAB;
                    }
                }
            }
            assert_eq!(got, want, "mask {mw} x {mh} at {corners:?}");
        }
    }
}
