//! A CryoSPARC `.cs` table's location slot read in one pass over its records, where they lie
//! (a mapped file): each particle's centre in Å and its micrograph's pixel size, and what the
//! job checks of them. The numpy reading took seven strided passes over the records (each
//! field copied out and cast to f64, then the products), 0.15 G instructions for a million rows.
//!
//! Centres follow docs/design.md section 2 with the same floating-point operations, in the
//! same order, as the array code: `(center_x_frac * nx) * psize` and `(center_y_frac * ny) *
//! psize`, each value widened to f64 first (`micrograph_shape` is `[ny, nx]`).

use rayon::prelude::*;

use crate::parallel::ROWS_PER_TASK;

/// Byte offsets, within a record, of the fields read: little-endian f32 `center_x_frac`,
/// `center_y_frac` and `micrograph_psize_A`, and the two little-endian u32 of `micrograph_shape`.
#[derive(Clone, Copy, Debug)]
pub struct LocationFields {
    pub x: usize,
    pub y: usize,
    pub shape: usize,
    pub psize: usize,
}

/// What one pass finds.
#[derive(Debug, PartialEq)]
pub struct Located {
    /// Centres in Å, x and y of each row.
    pub centres: Vec<f64>,
    /// Each row's micrograph pixel size, widened to f64.
    pub psize: Vec<f64>,
    /// Whether every pixel size is > 0 (NaN is not).
    pub psize_positive: bool,
    /// The first row whose micrograph shape has a 0, if any.
    pub zero_shape: Option<usize>,
    /// The rows whose centre lies off its micrograph (a fraction below 0 or above 1; NaN is
    /// not counted: the job refuses it), and the first of them.
    pub off_micrograph: usize,
    pub first_off_micrograph: Option<usize>,
}

/// Reads the location of each of the `records.len() / itemsize` records.
///
/// # Panics
/// If `records` is not whole records, or a field runs past the end of a record.
pub fn read_locations(records: &[u8], itemsize: usize, fields: LocationFields) -> Located {
    let LocationFields { x, y, shape, psize } = fields;
    assert!(itemsize > 0 && records.len() % itemsize == 0, "{} bytes are not records of {itemsize}", records.len());
    assert!([x + 4, y + 4, shape + 8, psize + 4].iter().all(|&end| end <= itemsize), "a field past a record's end");
    let n = records.len() / itemsize;
    let f32_at = |row: &[u8], at: usize| f32::from_le_bytes(row[at..at + 4].try_into().expect("4 bytes")) as f64;
    let u32_at = |row: &[u8], at: usize| u32::from_le_bytes(row[at..at + 4].try_into().expect("4 bytes"));
    let zero_in = |row: &[u8]| u32_at(row, shape) == 0 || u32_at(row, shape + 4) == 0;
    // Every comparison with NaN is false: a NaN centre is not off (the job refuses it), where
    // `!(0.0..=1.0).contains(&f)` would call it off.
    #[allow(clippy::manual_range_contains)]
    let off = |fx: f64, fy: f64| (fx < 0.0) | (fx > 1.0) | (fy < 0.0) | (fy > 1.0);
    let off_in = |row: &[u8]| off(f32_at(row, x), f32_at(row, y));
    let (mut centres, mut sizes) = (vec![0.0; 2 * n], vec![0.0; n]);
    // Each task fills its rows' values and says what it found.
    let found = centres.par_chunks_mut(2 * ROWS_PER_TASK).zip(sizes.par_chunks_mut(ROWS_PER_TASK)).enumerate().map(
        |(task, (centres, sizes))| {
            let first = task * ROWS_PER_TASK;
            let rows = &records[first * itemsize..(first + sizes.len()) * itemsize];
            let (mut positive, mut any_zero, mut outside) = (true, false, 0usize);
            for ((row, centre), size) in rows.chunks_exact(itemsize).zip(centres.chunks_exact_mut(2)).zip(sizes) {
                let (ny, nx) = (u32_at(row, shape), u32_at(row, shape + 4));
                let psize = f32_at(row, psize);
                let (fx, fy) = (f32_at(row, x), f32_at(row, y));
                *size = psize;
                centre[0] = fx * nx as f64 * psize;
                centre[1] = fy * ny as f64 * psize;
                positive &= psize > 0.0;
                any_zero |= (ny == 0) | (nx == 0);
                outside += off(fx, fy) as usize;
            }
            // (named once found: a second look at this task's rows, only where one is)
            let zero_shape = any_zero.then(|| rows.chunks_exact(itemsize).position(zero_in)).flatten();
            let first_off = (outside > 0).then(|| rows.chunks_exact(itemsize).position(off_in)).flatten();
            Found {
                positive,
                zero_shape: zero_shape.map(|k| first + k),
                outside,
                first_off: first_off.map(|k| first + k),
            }
        },
    );
    let all = found.reduce(Found::none, Found::and);
    Located {
        centres,
        psize: sizes,
        psize_positive: all.positive,
        zero_shape: all.zero_shape,
        off_micrograph: all.outside,
        first_off_micrograph: all.first_off,
    }
}

/// What one task of [`read_locations`] finds in its rows.
struct Found {
    positive: bool,
    zero_shape: Option<usize>,
    outside: usize,
    first_off: Option<usize>,
}

impl Found {
    fn none() -> Self {
        Found { positive: true, zero_shape: None, outside: 0, first_off: None }
    }

    fn and(self, other: Self) -> Self {
        let first = |a: Option<usize>, b: Option<usize>| a.into_iter().chain(b).min();
        Found {
            positive: self.positive & other.positive,
            zero_shape: first(self.zero_shape, other.zero_shape),
            outside: self.outside + other.outside,
            first_off: first(self.first_off, other.first_off),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records of 20 bytes: x, y, psize (f32), then the shape (u32 ny, nx) at 12.
    fn records(rows: &[(f32, f32, f32, u32, u32)]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for &(x, y, psize, ny, nx) in rows {
            for v in [x.to_le_bytes(), y.to_le_bytes(), psize.to_le_bytes(), ny.to_le_bytes(), nx.to_le_bytes()] {
                bytes.extend_from_slice(&v);
            }
        }
        bytes
    }

    const FIELDS: LocationFields = LocationFields { x: 0, y: 4, psize: 8, shape: 12 };

    #[test]
    fn centres_are_fractions_of_the_shape_in_angstrom() {
        // By hand: 0.5 of 4000 px at 1.5 Å is 3000 Å; 0.25 of 2000 px at 1.5 Å 750 Å.
        let got = read_locations(&records(&[(0.5, 0.25, 1.5, 2000, 4000), (0.1, 0.3, 0.8, 7, 9)]), 20, FIELDS);
        let third = [0.1f32 as f64 * 9.0 * 0.8f32 as f64, 0.3f32 as f64 * 7.0 * 0.8f32 as f64];
        assert_eq!(got.centres, [3000.0, 750.0, third[0], third[1]]);
        assert_eq!(got.psize, [1.5, 0.8f32 as f64]);
        assert!(got.psize_positive);
        assert_eq!(got.zero_shape, None);
    }

    #[test]
    fn many_tasks_read_as_one_row_at_a_time() {
        // Rows over four tasks; zero shapes in the third and the last: the first is named.
        let n = 3 * ROWS_PER_TASK + 5;
        let zero = |i: usize| i == 2 * ROWS_PER_TASK + 1 || i == n - 1;
        let rows: Vec<(f32, f32, f32, u32, u32)> = (0..n)
            .map(|i| {
                ((i % 97) as f32 / 97.0, (i % 89) as f32 / 89.0, 0.5 + (i % 3) as f32, 3838, 3710 * !zero(i) as u32)
            })
            .collect();
        let got = read_locations(&records(&rows), 20, FIELDS);
        let want: Vec<f64> = rows
            .iter()
            .flat_map(|&(x, y, p, ny, nx)| [x as f64 * nx as f64 * p as f64, y as f64 * ny as f64 * p as f64])
            .collect();
        assert_eq!(got.centres, want);
        assert_eq!(got.zero_shape, Some(2 * ROWS_PER_TASK + 1));
        assert!(got.psize_positive);
    }

    #[test]
    fn centres_off_their_micrograph_are_counted_and_the_first_named() {
        // Fractions outside 0..=1 by hand, over three tasks: 0 and 1 are on the micrograph, NaN
        // is not counted (the job refuses it).
        let n = 2 * ROWS_PER_TASK + 9;
        let mut rows = vec![(0.5f32, 0.5f32, 1.0f32, 10u32, 10u32); n];
        rows[3] = (0.0, 1.0, 1.0, 10, 10);
        rows[4] = (f32::NAN, 0.5, 1.0, 10, 10);
        let off = [ROWS_PER_TASK + 2, ROWS_PER_TASK + 7, 2 * ROWS_PER_TASK + 1, n - 1];
        rows[off[0]] = (5.0, 0.5, 1.0, 10, 10);
        rows[off[1]] = (0.5, -0.01, 1.0, 10, 10);
        rows[off[2]] = (1.0001, 0.5, 1.0, 10, 10);
        rows[off[3]] = (0.5, 1.5, 1.0, 10, 10);
        let got = read_locations(&records(&rows), 20, FIELDS);
        assert_eq!((got.off_micrograph, got.first_off_micrograph), (4, Some(off[0])));
        let on = read_locations(&records(&rows[..ROWS_PER_TASK]), 20, FIELDS);
        assert_eq!((on.off_micrograph, on.first_off_micrograph), (0, None));
    }

    #[test]
    fn zero_shapes_and_pixel_sizes_that_are_not_positive_are_found() {
        let rows = [(0.5, 0.5, 1.0, 10, 10), (0.5, 0.5, f32::NAN, 10, 0), (0.5, 0.5, 1.0, 0, 10)];
        let got = read_locations(&records(&rows), 20, FIELDS);
        assert_eq!(got.zero_shape, Some(1));
        assert!(!got.psize_positive);
        let got = read_locations(&records(&[(0.5, 0.5, 0.0, 10, 10)]), 20, FIELDS);
        assert!(!got.psize_positive);
        let none = read_locations(&[], 20, FIELDS);
        assert!(none.centres.is_empty() && none.psize_positive && none.zero_shape.is_none());
    }
}
