//! A uniform grid over the points of one micrograph, for radius searches of one fixed radius.
//!
//! Picks on a micrograph are spread out (about a thousand on 4000 x 4000 pixels): cells at
//! least as wide as the radius, about one point each, answer a search from the 3 x 3 cells
//! around the query, with no tree to build or descend. Where points crowd into few cells
//! (a dense cluster) the grid is refused and the caller uses the k-d tree, whose searches
//! stay near-linear there.

use crate::algo::kdtree::squared_distance;

/// A cell holding more points than this makes the grid refuse the micrograph.
const MAX_PER_CELL: u32 = 48;

pub struct Grid<const D: usize> {
    /// Lower corner of cell (0, 0), in the first two coordinates.
    origin: [f64; 2],
    cell: f64,
    /// `1 / cell`: a multiplication per coordinate instead of a division.
    per_unit: f64,
    /// The last column and row, as f64 (`nx - 1`, `ny - 1`).
    last: [f64; 2],
    nx: usize,
    ny: usize,
    /// Points of cell `c` are `points[start[c]..start[c + 1]]` (cells row by row).
    start: Vec<u32>,
    /// Points in cell order, and the caller's index of each.
    points: Vec<[f64; D]>,
    ids: Vec<u32>,
}

impl<const D: usize> Grid<D> {
    /// A grid for searches of `radius` (> 0) among `points` (finite), cells over the first two
    /// coordinates; None when the points crowd (more than [`MAX_PER_CELL`] in a cell).
    pub fn new(points: &[[f64; D]], radius: f64) -> Option<Self> {
        let n = points.len();
        if n == 0 || radius.is_nan() || radius <= 0.0 || D < 2 {
            return None;
        }
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in points {
            for k in 0..2 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        let (width, height) = (hi[0] - lo[0], hi[1] - lo[1]);
        let (nx, ny, cell) = Self::shape(width, height, radius, n)?;
        let mut grid = Grid {
            origin: lo,
            cell,
            per_unit: 1.0 / cell,
            last: [(nx - 1) as f64, (ny - 1) as f64],
            nx,
            ny,
            start: vec![0; nx * ny + 1],
            points: Vec::new(),
            ids: Vec::new(),
        };
        let cells: Vec<u32> = points.iter().map(|p| grid.cell_of(p) as u32).collect();
        for &c in &cells {
            grid.start[c as usize + 1] += 1;
        }
        if grid.start.iter().any(|&count| count > MAX_PER_CELL) {
            return None;
        }
        let mut total = 0;
        for count in grid.start.iter_mut() {
            total += *count;
            *count = total;
        }
        // Each point written once into its cell's next slot, in the caller's order within a
        // cell; the vectors are not zeroed first (valgrind counts memset's `rep stosb` a
        // byte at a time: a tenth of a picture run's grids).
        let mut next = grid.start.clone();
        let (mut placed, mut ids) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (slots, id_slots) = (placed.spare_capacity_mut(), ids.spare_capacity_mut());
        for (i, (&c, p)) in cells.iter().zip(points).enumerate() {
            let slot = next[c as usize] as usize;
            slots[slot].write(*p);
            id_slots[slot].write(i as u32);
            next[c as usize] += 1;
        }
        // SAFETY: the slots are a permutation of 0..n (each cell's run of `start` filled
        // once per point of that cell), so every one of the n was written above.
        unsafe {
            placed.set_len(n);
            ids.set_len(n);
        }
        (grid.points, grid.ids) = (placed, ids);
        Some(grid)
    }

    /// The columns, rows and cell width for `n` points spanning `width` x `height`: about one
    /// point per cell where they are spread, cells never narrower than `radius`, at most
    /// `2n + 16` cells (see [`grid_shape`]).
    fn shape(width: f64, height: f64, radius: f64, n: usize) -> Option<(usize, usize, f64)> {
        let spread = (width * height / n as f64).sqrt(); // (NaN for a span that is not finite: radius taken)
        grid_shape(width, height, radius.max(spread), 2.0 * n as f64 + 16.0)
    }

    /// The column or row of coordinate `v` along axis `k`, clamped into the grid. Any
    /// monotone map of coordinates to cells gives the same searches (the grid is built and
    /// searched with this one), so a product by `1 / cell` serves as well as a quotient.
    #[inline]
    fn index(&self, v: f64, k: usize) -> usize {
        cell_index(v, self.origin[k], self.per_unit, self.last[k])
    }

    fn cell_of(&self, p: &[f64; D]) -> usize {
        self.index(p[1], 1) * self.nx + self.index(p[0], 0)
    }

    /// Calls `visit(id, squared_distance)` for every point within `radius` (at most the radius
    /// the grid was made for) of `query`, inclusive, the query point itself included if it
    /// is one of the points.
    // Inlined into each search loop (with its `visit`): the hottest code of a dedup run,
    // which the compiler left out of line when the crate's code units were cut otherwise.
    #[inline]
    pub fn for_each_within(&self, query: &[f64; D], radius: f64, mut visit: impl FnMut(u32, f64)) {
        let r2 = radius * radius;
        // Cells widened so that rounding never drops a point the exact test accepts.
        let reach = radius + radius * 1e-9 + f64::MIN_POSITIVE;
        let (x0, x1) = (self.index(query[0] - reach, 0), self.index(query[0] + reach, 0));
        let (y0, y1) = (self.index(query[1] - reach, 1), self.index(query[1] + reach, 1));
        for row in y0..=y1 {
            let (first, last) = (self.start[row * self.nx + x0] as usize, self.start[row * self.nx + x1 + 1] as usize);
            for k in first..last {
                let d2 = squared_distance(&self.points[k], query);
                if d2 <= r2 {
                    visit(self.ids[k], d2);
                }
            }
        }
    }

    /// Whether the cells are wide enough for [`Grid::for_each_pair_within`] `radius`.
    pub fn lists_pairs_within(&self, radius: f64) -> bool {
        self.cell >= radius * (1.0 + PAIR_MARGIN)
    }

    /// Calls `visit(a, b, squared_distance)` once for every pair of points within `radius` of
    /// each other (inclusive), `a` and `b` the caller's indices. Needs cells wider than
    /// `radius` by [`PAIR_MARGIN`] (a grid made for `radius * (1 + PAIR_MARGIN)`), so that
    /// such a pair lies in one cell or two touching ones: each cell is met with itself, its
    /// right neighbour and the three below, half the work of a search around every point.
    pub fn for_each_pair_within(&self, radius: f64, mut visit: impl FnMut(u32, u32, f64)) {
        assert!(self.lists_pairs_within(radius), "cells of {} for pairs within {radius}", self.cell);
        let r2 = radius * radius;
        let (points, ids, nx) = (&self.points[..], &self.ids[..], self.nx);
        // Point `k` against the points of `others` (a run of cells, in cell order).
        let mut against = |k: usize, others: std::ops::Range<usize>| {
            let (p, own) = (&points[k], ids[k]);
            for (q, &other) in points[others.clone()].iter().zip(&ids[others]) {
                let d2 = squared_distance(p, q);
                if d2 <= r2 {
                    visit(own, other, d2);
                }
            }
        };
        for (row, starts) in self.start.windows(nx + 1).step_by(nx).enumerate() {
            // `starts`: this row's cells' starts and the next row's first (nx + 1 values).
            let below = (row + 1 < self.ny).then(|| &self.start[(row + 1) * nx..(row + 2) * nx + 1]);
            for col in 0..nx {
                let (first, end) = (starts[col] as usize, starts[col + 1] as usize);
                if first == end {
                    continue; // an empty cell meets nothing
                }
                // This cell and the next in its row are one run of points: every later point of the run.
                let right = starts[(col + 2).min(nx)] as usize;
                for k in first..end {
                    against(k, k + 1..right);
                }
                if let Some(below) = below {
                    let run = below[col.saturating_sub(1)] as usize..below[(col + 2).min(nx)] as usize;
                    for k in first..end {
                        against(k, run.clone());
                    }
                }
            }
        }
    }
}

/// The columns, rows and cell width of a grid over `width` x `height`: cells `cell` wide,
/// widened by half again until there are at most `limit` of them. Counted in f64, which never
/// overflows: a span of 1e25 at a cell of 1 Å is 1e25 cells, more than a usize holds (the
/// cast would saturate and the count wrap). None when no such grid exists (a span that is
/// not finite).
pub(crate) fn grid_shape(width: f64, height: f64, mut cell: f64, limit: f64) -> Option<(usize, usize, f64)> {
    if !(width.is_finite() && height.is_finite()) {
        return None;
    }
    let cells_of = |cell: f64| ((width / cell).floor() + 1.0, (height / cell).floor() + 1.0);
    let (mut nx, mut ny) = cells_of(cell);
    while nx * ny > limit {
        cell *= 1.5; // (at most about 1,700 steps from the narrowest cell to the widest span)
        (nx, ny) = cells_of(cell);
    }
    Some((nx as usize, ny as usize, cell))
}

/// The column (or row) of coordinate `v` in cells `1 / per_unit` wide from `origin`, clamped
/// to `0..=last` (`last` < 2^53, a whole number).
#[inline]
pub(crate) fn cell_index(v: f64, origin: f64, per_unit: f64, last: f64) -> usize {
    // Clamped while a float, then truncated as floor would (a checked cast to usize of an
    // unclamped float is a dozen instructions without SSE4.1); NaN, 0 and below give cell 0.
    let i = (v - origin) * per_unit;
    if i.is_nan() || i <= 0.0 {
        0
    } else if i < last {
        // SAFETY: `i` is finite and in (0, last), last < 2^53: it fits an i64.
        unsafe { i.to_int_unchecked::<i64>() as usize }
    } else {
        last as usize
    }
}

/// How much wider than a radius the cells of [`Grid::for_each_pair_within`] must be: a pair
/// at exactly the radius then lies in touching cells whatever the rounding of its cells' indices.
pub const PAIR_MARGIN: f64 = 1e-6;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::kdtree::tests::lcg;

    #[test]
    fn radius_search_matches_brute_force() {
        let mut s = 11u64;
        for n in [1usize, 2, 7, 100, 1000, 5000] {
            for spread in [4000.0, 300.0] {
                let pts: Vec<[f64; 2]> =
                    (0..n).map(|_| [lcg(&mut s) * spread - 50.0, lcg(&mut s) * spread * 0.7]).collect();
                let Some(grid) = Grid::new(&pts, 20.0) else { continue };
                for q in pts.iter().take(50).chain([[-1e4, 5.0], [spread * 2.0, spread]].iter()) {
                    let mut got = Vec::new();
                    grid.for_each_within(q, 20.0, |id, d2| got.push((id, d2)));
                    got.sort_by_key(|g| g.0);
                    let want: Vec<(u32, f64)> = (0..n as u32)
                        .map(|i| (i, squared_distance(&pts[i as usize], q)))
                        .filter(|&(_, d2)| d2 <= 400.0)
                        .collect();
                    assert_eq!(got, want, "n {n} spread {spread}");
                }
            }
        }
    }

    #[test]
    fn boundary_is_inclusive_and_3d_points_use_every_coordinate() {
        // A 3-4-5 triangle scaled to 20: squared distance exactly 400, found; 400.00003 not.
        let pts = [[0.0, 0.0, 0.0], [12.0, 16.0, 0.0], [12.0, 16.000001, 0.0], [0.0, 0.0, 25.0]];
        let grid = Grid::new(&pts, 20.0).unwrap();
        let mut got = Vec::new();
        grid.for_each_within(&pts[0], 20.0, |id, _| got.push(id));
        got.sort();
        assert_eq!(got, vec![0, 1]);
    }

    #[test]
    fn spans_of_more_cells_than_a_usize_holds_make_a_small_grid() {
        // A span of 1e25 at radius 1 (1e25 cells) used to wrap the cell count and panic.
        for (far, radius) in [(1e25, 1.0), (-1e22, 1.0), (1e300, 20.0), (5000.0, 1e-300)] {
            let pts = [[0.0, 0.0], [far, 0.0], [3.0, 0.0]];
            let grid = Grid::new(&pts, radius).unwrap();
            assert!(grid.nx * grid.ny <= 2 * pts.len() + 16);
            let mut got = Vec::new();
            grid.for_each_within(&pts[0], radius, |id, _| got.push(id));
            got.sort();
            let want: Vec<u32> = if radius >= 3.0 { vec![0, 2] } else { vec![0] };
            assert_eq!(got, want, "far {far} radius {radius}");
        }
        // A span that is not finite has no grid (the caller uses the tree).
        assert!(Grid::new(&[[-1e308, 0.0], [1e308, 0.0]], 1.0).is_none());
    }

    #[test]
    fn crowded_points_are_refused() {
        // 100 picks on one spot: one cell holds them all, the k-d tree is the better index.
        let pts = vec![[5.0, 5.0]; 100];
        assert!(Grid::new(&pts, 20.0).is_none());
        assert!(Grid::new(&pts[..10], 20.0).is_some());
        assert!(Grid::<2>::new(&[], 20.0).is_none());
        assert!(Grid::new(&pts[..10], 0.0).is_none());
    }

    #[test]
    fn pairs_within_a_radius_match_brute_force() {
        // Spread, clumped (copies at one centre) and in a line; 2D and 3D (cells over x and y).
        let (mut s, mut grids) = (5u64, 0);
        for n in [2usize, 3, 50, 700] {
            for spread in [4000.0, 300.0, 40.0] {
                let pts: Vec<[f64; 3]> = (0..n)
                    .map(|k| match k % 9 {
                        0 => [100.0, 100.0, 0.0],
                        1 => [lcg(&mut s) * spread, 7.0, 0.0],
                        _ => [lcg(&mut s) * spread, lcg(&mut s) * spread * 0.7, lcg(&mut s) * 30.0],
                    })
                    .collect();
                for radius in [20.0, 100.0] {
                    let Some(grid) = Grid::new(&pts, radius * (1.0 + PAIR_MARGIN)) else { continue };
                    grids += 1;
                    let mut got = Vec::new();
                    grid.for_each_pair_within(radius, |a, b, d2| got.push((a.min(b), a.max(b), d2)));
                    got.sort_by_key(|x| (x.0, x.1));
                    let mut want = Vec::new();
                    for a in 0..n {
                        for b in a + 1..n {
                            let d2 = squared_distance(&pts[a], &pts[b]);
                            if d2 <= radius * radius {
                                want.push((a as u32, b as u32, d2));
                            }
                        }
                    }
                    assert_eq!(got, want, "n {n} spread {spread} radius {radius}");
                }
            }
        }
        assert!(grids >= 15, "the grid was refused too often: {grids}");
    }
}
