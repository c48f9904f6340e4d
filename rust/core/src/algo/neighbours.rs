//! Each particle's distance to the nearest other particle of its micrograph, for the
//! pictures' histogram of nearest-neighbour distances: one search per particle in an index of
//! its micrograph, so a million picks take a tenth of a second, not the minute of all pairs.
//! The histogram's last bin holds every distance from its left edge on, so the searches look
//! no farther than the caller's `reach`. Within that bound the picks are sorted into a grid
//! of cells `reach` wide, and every pair of picks in one cell or two touching ones is
//! measured once for both (spread picks meet about one other each, issue 43); crowded or
//! unbounded, one k-d tree search per pick.

use std::cell::RefCell;

use rayon::prelude::*;

use crate::algo::grid::{cell_index, grid_shape, PAIR_MARGIN};
use crate::algo::histogram::{Bins, CountError};
use crate::algo::kdtree::{squared_distance, KdTree};
use crate::algo::points::{check_coordinates, grouped, point, sorted_ranges, GroupId};
use crate::errors::DedupError;
use crate::parallel::Scatter;

/// The grid is left for the k-d tree where a pick's cell holds more picks than this on
/// average over the picks (each then meets about four times as many in pairs).
const MAX_CROWDING: usize = 12;

/// For every particle, the distance to the nearest other particle of its group (0 for a
/// copy at the same centre; infinity for a particle alone in its group), or `reach` when
/// that particle is farther than `reach` (infinity: no bound).
pub fn nearest_distances<G: GroupId>(
    groups: &[G],
    coords: &[f64],
    dim: usize,
    reach: f64,
) -> Result<Vec<f64>, DedupError> {
    let mut out = vec![f64::INFINITY; groups.len()]; // (a particle alone in its group keeps it)
    let scatter = Scatter::new(&mut out);
    // SAFETY: the groups' members are disjoint, each group visited by one thread.
    fold_nearest(groups, coords, dim, reach, || (), |_, particle, d| unsafe { scatter.set(particle as usize, d) })?;
    Ok(out)
}

/// How many particles' nearest distances ([`nearest_distances`]) fall in each bin, by label:
/// the histogram the pictures draw, without a distance per particle (80 MB at ten million).
#[derive(Debug, Clone, PartialEq)]
pub struct NearestCounts {
    /// `counts[label * bins + k]`: the particles of `label` in bin `k` (`bins` = edges - 1),
    /// binned as [`crate::algo::histogram::clipped_histogram`] bins (particles alone left out).
    pub counts: Vec<u64>,
    /// The particles of each label within its distance (`within[label]`, inclusive).
    pub within: Vec<u64>,
}

/// The histogram of the nearest distances ([`nearest_distances`] with `reach`) over `edges`,
/// each particle counted under its label (`labels`, below `within.len()`; none: label 0), and
/// how many of each label lie within `within[label]`.
pub fn nearest_histogram<G: GroupId>(
    groups: &[G],
    coords: &[f64],
    dim: usize,
    reach: f64,
    edges: &[f64],
    labels: Option<&[u32]>,
    within: &[f64],
) -> Result<NearestCounts, NearestError> {
    let bins = Bins::new(edges)?;
    let n_labels = within.len();
    if let Some(labels) = labels {
        if labels.len() != groups.len() {
            return Err(CountError::Length { what: "labels", expected: groups.len(), got: labels.len() }.into());
        }
        if let Some(index) = labels.iter().position(|&l| l as usize >= n_labels) {
            return Err(CountError::Group { index, limit: n_labels }.into());
        }
    }
    let width = edges.len() - 1;
    if labels.is_none() && n_labels == 1 {
        // (one label, the pictures' usual: the distances binned a few thousand at a time)
        let init =
            || Unlabelled { bins: &bins, within: within[0], counts: vec![0; width], inside: 0, pending: Vec::new() };
        let mut counted = fold_nearest(groups, coords, dim, reach, init, |acc, _, d| acc.push(d))?;
        counted.flush();
        return Ok(NearestCounts { counts: counted.counts, within: vec![counted.inside] });
    }
    let label = |particle: u32| labels.map_or(0, |l| l[particle as usize] as usize);
    let empty = || NearestCounts { counts: vec![0; n_labels * width], within: vec![0; n_labels] };
    let counted = fold_nearest(groups, coords, dim, reach, empty, |acc, particle, d| {
        if !d.is_finite() {
            return; // (as clipped_histogram: only with no reach, never met)
        }
        let l = label(particle);
        acc.counts[l * width + bins.locate(d).0] += 1;
        acc.within[l] += u64::from(d <= within[l]);
    })?;
    Ok(counted)
}

/// Distances a thread gathers before it bins them.
const PENDING: usize = 4096;

/// One thread's histogram of the distances of one label: binned [`PENDING`] at a time by
/// [`Bins::count`]'s vector loop (a quarter of the instructions), not located one by one as
/// each is found (a third of the histogram's time at ten million picks).
struct Unlabelled<'a> {
    bins: &'a Bins<'a>,
    within: f64,
    counts: Vec<u64>,
    /// The distances within `within` (inclusive), of those binned.
    inside: u64,
    pending: Vec<f64>,
}

impl Unlabelled<'_> {
    fn push(&mut self, d: f64) {
        self.pending.push(d);
        if self.pending.len() == PENDING {
            self.flush();
        }
    }

    /// Bins the pending distances (as the labelled fold: those not finite left out, never met).
    fn flush(&mut self) {
        self.bins.count(&self.pending, |_| 0, &mut self.counts);
        self.inside += self.pending.iter().map(|&d| u64::from(d <= self.within)).sum::<u64>();
        self.pending.clear();
    }
}

impl Merge for Unlabelled<'_> {
    fn merge(mut self, mut other: Self) -> Self {
        self.flush();
        other.flush();
        self.counts.iter_mut().zip(&other.counts).for_each(|(a, b)| *a += b);
        self.inside += other.inside;
        self
    }
}

/// Why a histogram of nearest distances cannot be made.
#[derive(Debug)]
pub enum NearestError {
    Points(DedupError),
    Counts(CountError),
}

impl From<DedupError> for NearestError {
    fn from(e: DedupError) -> Self {
        NearestError::Points(e)
    }
}

impl From<CountError> for NearestError {
    fn from(e: CountError) -> Self {
        NearestError::Counts(e)
    }
}

/// `visit(acc, particle, distance)` for every particle of a group of two or more, its
/// distance as [`nearest_distances`] gives it; each thread folds the groups it takes into an
/// accumulator of its own (`init`), the accumulators then summed (`Merge`).
fn fold_nearest<G: GroupId, A: Merge + Send>(
    groups: &[G],
    coords: &[f64],
    dim: usize,
    reach: f64,
    init: impl Fn() -> A + Sync + Send,
    visit: impl Fn(&mut A, u32, f64) + Sync + Send,
) -> Result<A, DedupError> {
    let n = groups.len();
    if dim != 2 && dim != 3 {
        return Err(DedupError::Dimension(dim));
    }
    if coords.len() != n * dim {
        return Err(DedupError::Length { what: "coords", expected: n * dim, got: coords.len() / dim });
    }
    if n >= u32::MAX as usize {
        return Err(DedupError::TooMany(n));
    }
    check_coordinates(coords, dim)?;
    let reach = if reach >= 0.0 { reach } else { f64::INFINITY }; // NaN or negative: no bound
                                                                  // Rows already group by group (as RELION writes them): each group's members are a run of
                                                                  // rows, made as it is taken; no order of every row (40 MB at ten million).
    let sorted = groups.windows(2).all(|w| w[0] <= w[1]);
    let (order, ranges) = if sorted { (Vec::new(), sorted_ranges(groups)) } else { grouped(groups) };
    let folded =
        ranges.par_iter().with_min_len(8).fold(&init, |mut acc, &(lo, hi)| {
            MEMBERS.with(|run| {
                let mut run = run.borrow_mut();
                let members = if sorted {
                    run.clear();
                    run.extend(lo as u32..hi as u32);
                    &run[..]
                } else {
                    &order[lo..hi]
                };
                let mut emit = |particle: u32, d: f64| visit(&mut acc, particle, d);
                match dim {
                    2 => CELLS_2D
                        .with(|cells| nearest_in_group(&mut cells.borrow_mut(), coords, members, reach, &mut emit)),
                    _ => CELLS_3D
                        .with(|cells| nearest_in_group(&mut cells.borrow_mut(), coords, members, reach, &mut emit)),
                }
            });
            acc
        });
    Ok(folded.reduce(&init, Merge::merge))
}

/// What [`fold_nearest`]'s threads each gather, summed at the end.
trait Merge {
    fn merge(self, other: Self) -> Self;
}

impl Merge for () {
    fn merge(self, _: Self) -> Self {}
}

impl Merge for NearestCounts {
    fn merge(mut self, other: Self) -> Self {
        self.counts.iter_mut().zip(other.counts).for_each(|(a, b)| *a += b);
        self.within.iter_mut().zip(other.within).for_each(|(a, b)| *a += b);
        self
    }
}

/// Hands each of one group's members (particle indices) and its distance to `emit`.
fn nearest_in_group<const D: usize>(
    cells: &mut Cells<D>,
    coords: &[f64],
    members: &[u32],
    reach: f64,
    emit: &mut impl FnMut(u32, f64),
) {
    if members.len() < 2 || reach.is_finite() && cells.nearest(coords, members, reach, emit) {
        return;
    }
    let points: Vec<[f64; D]> = members.iter().map(|&i| point::<D>(coords, i)).collect();
    let tree = KdTree::new(&points);
    for (own, &particle) in members.iter().enumerate() {
        let nearest = tree.nearest_within(&points[own], reach, |id, _| id != own as u32);
        emit(particle, nearest.map_or(reach, |(_, d2)| d2.sqrt()));
    }
}

thread_local! {
    /// Each worker thread's run of a group's rows, when the rows are in group order.
    static MEMBERS: RefCell<Vec<u32>> = RefCell::default();
    /// Each worker thread's grids, their vectors reused from micrograph to micrograph.
    static CELLS_2D: RefCell<Cells<2>> = RefCell::default();
    static CELLS_3D: RefCell<Cells<3>> = RefCell::default();
}

/// One micrograph's picks sorted into a grid of cells (over x and y) at least `reach` wide,
/// so that two picks within `reach` lie in one cell or two touching ones. An empty column
/// on either side and an empty row below spare the searches any test at the edges.
#[derive(Default)]
struct Cells<const D: usize> {
    /// Points of cell `c` are at `start[c]..start[c + 1]` (cells row by row, `width` a row).
    start: Vec<u32>,
    width: usize,
    /// Each member's point and cell, in the order of `members`.
    gathered: Vec<[f64; D]>,
    cell_of: Vec<u32>,
    /// The points in cell order, the cell of each, and the member (index into `members`).
    points: Vec<[f64; D]>,
    at: Vec<u32>,
    ids: Vec<u32>,
    /// The least squared distance met so far by each position of the cell order.
    best: Vec<f64>,
}

impl<const D: usize> Cells<D> {
    /// Hands the distances of `members` (two or more) to `emit`; false, handing none,
    /// where the picks crowd (more than [`MAX_CROWDING`] per cell: the k-d tree's work).
    fn nearest(&mut self, coords: &[f64], members: &[u32], reach: f64, emit: &mut impl FnMut(u32, f64)) -> bool {
        if !self.sort(coords, members, reach) {
            return false;
        }
        let m = members.len();
        self.best.clear();
        self.best.resize(m, f64::INFINITY);
        // Each pick meets the later picks of its cell and those of the cell to its right (one
        // run of the cell order), then those of the three cells below (another run): every
        // pair of touching cells met once, each pair of picks measured once for both.
        let (start, width, points) = (&self.start[..], self.width, &self.points[..m]);
        for (k, (p, &c)) in points.iter().zip(&self.at).enumerate() {
            let c = c as usize;
            let (right, under) = (start[c + 2] as usize, start[c + width - 1] as usize..start[c + width + 2] as usize);
            // Every position met lies after k: `later[j]` is position k + 1 + j.
            let (mine, later) = self.best[k..].split_first_mut().expect("k < m");
            let nearest = meet(p, &points[k + 1..right], &mut later[..right - k - 1], *mine);
            *mine = meet(p, &points[under.clone()], &mut later[under.start - k - 1..under.end - k - 1], nearest);
        }
        // Every pair within `reach` was met, so a least distance beyond it has no nearer pick.
        let r2 = reach * reach;
        for (&d2, &id) in self.best.iter().zip(&self.ids) {
            emit(members[id as usize], if d2 <= r2 { d2.sqrt() } else { reach });
        }
        true
    }

    /// Sorts `members` into cells at least `reach` (finite) wide; false where the picks crowd
    /// or no such grid exists.
    fn sort(&mut self, coords: &[f64], members: &[u32], reach: f64) -> bool {
        if reach <= 0.0 {
            return false; // (cells of no width: the k-d tree finds the copies at one spot)
        }
        let m = members.len();
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        self.gathered.clear();
        for &i in members {
            let p = point::<D>(coords, i);
            self.gathered.push(p);
            for k in 0..2 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        // Cells wider than `reach` by PAIR_MARGIN: a pair at exactly `reach` lies in touching
        // cells whatever the rounding of their indices. At most 4m + 64 cells: an empty one
        // costs two additions, a pick in a crowded one many distances.
        let limit = 4.0 * m as f64 + 64.0;
        let Some((nx, ny, cell)) = grid_shape(hi[0] - lo[0], hi[1] - lo[1], reach * (1.0 + PAIR_MARGIN), limit) else {
            return false;
        };
        let (per_unit, last) = (1.0 / cell, [(nx - 1) as f64, (ny - 1) as f64]);
        self.width = nx + 2;
        self.start.clear();
        self.start.resize(self.width * (ny + 1) + 1, 0);
        self.cell_of.clear();
        for p in &self.gathered {
            let (col, row) = (cell_index(p[0], lo[0], per_unit, last[0]), cell_index(p[1], lo[1], per_unit, last[1]));
            let c = row * self.width + col + 1;
            self.cell_of.push(c as u32);
            self.start[c] += 1;
        }
        // The sum over picks of their cell's count: about the pairs to measure.
        let crowding: usize = self.cell_of.iter().map(|&c| self.start[c as usize] as usize).sum();
        if crowding > MAX_CROWDING * m {
            return false;
        }
        // start[c] becomes the end of cell c; each pick is then placed counting down, from the
        // last, so start[c] ends at the cell's first slot and a cell keeps the members' order.
        let mut total = 0;
        for count in self.start.iter_mut() {
            total += *count;
            *count = total;
        }
        grow(&mut self.points, m, [0.0; D]);
        grow(&mut self.ids, m, 0);
        grow(&mut self.at, m, 0);
        for (id, (&p, &c)) in self.gathered.iter().zip(&self.cell_of).enumerate().rev() {
            let slot = &mut self.start[c as usize];
            *slot -= 1;
            let slot = *slot as usize;
            (self.points[slot], self.ids[slot], self.at[slot]) = (p, id as u32, c);
        }
        true
    }
}

/// Makes `buffer` at least `len` long; what it holds is left (every slot is written before it is read).
fn grow<T: Copy>(buffer: &mut Vec<T>, len: usize, fill: T) {
    if buffer.len() < len {
        buffer.resize(len, fill);
    }
}

/// Meets `p` with each of `others`: the squared distance of each pair lowers both the
/// other's `best` and the returned `nearest` (`p`'s so far).
#[inline(always)]
fn meet<const D: usize>(p: &[f64; D], others: &[[f64; D]], best: &mut [f64], mut nearest: f64) -> f64 {
    for (q, best) in others.iter().zip(best) {
        let d2 = squared_distance(p, q);
        // Selects, not branches: whether a pair is the nearer is a coin toss for the predictor.
        nearest = if d2 < nearest { d2 } else { nearest };
        *best = if d2 < *best { d2 } else { *best };
    }
    nearest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::kdtree::squared_distance;

    #[test]
    fn nearest_histogram_counts_the_distances_as_clipped_histogram_bins_them() {
        let mut state = 7u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for (dim, reach, sorted) in [(2, 60.0, false), (3, 45.0, false), (2, f64::INFINITY, false), (2, 60.0, true)] {
            let n = 3 * PENDING;
            // Rows out of group order, or group by group (each group's run made as it is taken).
            let groups: Vec<u32> = (0..n).map(|i| if sorted { i * 40 / n } else { i * 7 % 40 } as u32).collect();
            let coords: Vec<f64> = (0..n * dim).map(|_| 1000.0 * next()).collect();
            let labels: Vec<u32> = (0..n).map(|i| (i % 3) as u32).collect();
            let top = if reach.is_finite() { reach } else { 400.0 };
            let edges: Vec<f64> = (0..=50).map(|k| top * k as f64 / 50.0).collect();
            let within = [20.0, 30.0, 35.5];
            let got = nearest_histogram(&groups, &coords, dim, reach, &edges, Some(&labels), &within).unwrap();
            let d = nearest_distances(&groups, &coords, dim, reach).unwrap();
            for (label, &reach_of_label) in within.iter().enumerate() {
                let mine: Vec<f64> =
                    d.iter().zip(&labels).filter(|(_, &l)| l == label as u32).map(|(&d, _)| d).collect();
                let expected = crate::algo::histogram::clipped_histogram(&mine, &edges, None).unwrap();
                assert_eq!(got.counts[label * 50..][..50], expected.counts[0][..]);
                assert_eq!(got.within[label], mine.iter().filter(|&&d| d <= reach_of_label).count() as u64);
            }
            // One label: the distances binned a few thousand at a time, over more than one batch.
            let alone = nearest_histogram(&groups, &coords, dim, reach, &edges, None, &[30.0]).unwrap();
            let expected = crate::algo::histogram::clipped_histogram(&d, &edges, None).unwrap();
            assert_eq!(alone.counts, expected.counts[0]);
            assert_eq!(alone.within, vec![d.iter().filter(|&&d| d <= 30.0).count() as u64]);
        }
    }

    #[test]
    fn nearest_distances_match_all_pairs() {
        // Clusters (many at one centre: the k-d tree; a few: the grid) and spread points on a
        // few groups; one group holds a single particle. Oracle: every pair measured.
        let mut next = crate::test_random(0x2545_f491_4f6c_dd1du64);
        for (dim, clump) in [(2, 7), (3, 7), (2, 97), (3, 97)] {
            let n = 3000;
            let groups: Vec<i64> = (0..n).map(|i| if i == 0 { 99 } else { next(5) as i64 }).collect();
            let coords: Vec<f64> =
                (0..n * dim).map(|k| if k / dim % clump == 0 { 100.0 } else { next(100_000) as f64 / 10.0 }).collect();
            let got = nearest_distances(&groups, &coords, dim, f64::INFINITY).unwrap();
            let narrow: Vec<u32> = groups.iter().map(|&g| g as u32).collect();
            assert_eq!(
                nearest_distances(&narrow, &coords, dim, f64::INFINITY).unwrap(),
                got,
                "uint32 ids as int64 ids"
            );
            // Bounded: the distances up to the reach as they are, the farther ones the reach
            // itself (alone in the group: still infinity).
            let reach = 150.0;
            assert_eq!(grid_taken(&groups, &coords, dim, reach), clump == 97, "dim {dim}, clump {clump}");
            let bounded = nearest_distances(&groups, &coords, dim, reach).unwrap();
            let capped: Vec<f64> = got.iter().map(|&d| if d.is_finite() && d > reach { reach } else { d }).collect();
            assert_eq!(bounded, capped, "dim {dim}, clump {clump}, reach {reach}");
            assert!(got.iter().any(|&d| d.is_finite() && d > reach), "the test reaches past the bound");
            assert!(got.iter().any(|&d| d > 0.0 && d < reach), "and finds neighbours within it");
            for i in 0..n {
                let p = |j: usize| {
                    let mut q = [0.0; 3];
                    q[..dim].copy_from_slice(&coords[j * dim..j * dim + dim]);
                    q
                };
                let want = (0..n)
                    .filter(|&j| j != i && groups[j] == groups[i])
                    .map(|j| squared_distance(&p(i), &p(j)).sqrt())
                    .fold(f64::INFINITY, f64::min);
                assert_eq!(got[i], want, "particle {i}, dim {dim}");
            }
        }
        assert!(nearest_distances(&[0i64], &[f64::NAN, 0.0], 2, 1.0).is_err());
        assert!(nearest_distances(&[0u32], &[0.0; 4], 4, 1.0).is_err());
    }

    /// The next f64 below `x` (finite, not zero).
    fn below(x: f64) -> f64 {
        f64::from_bits(if x > 0.0 { x.to_bits() - 1 } else { x.to_bits() + 1 })
    }

    /// Each particle's distance by measuring every pair of its group: the test's oracle.
    fn all_pairs(groups: &[i64], coords: &[f64], dim: usize, reach: f64) -> Vec<f64> {
        let p = |j: usize| {
            let mut q = [0.0; 3];
            q[..dim].copy_from_slice(&coords[j * dim..j * dim + dim]);
            q
        };
        (0..groups.len())
            .map(|i| {
                let others = (0..groups.len()).filter(|&j| j != i && groups[j] == groups[i]);
                let d2 = others.map(|j| squared_distance(&p(i), &p(j))).fold(f64::INFINITY, f64::min);
                if d2 <= reach * reach {
                    d2.sqrt()
                } else if d2.is_finite() {
                    reach
                } else {
                    f64::INFINITY
                }
            })
            .collect()
    }

    #[test]
    fn picks_on_cell_borders_and_at_exactly_the_reach_match_all_pairs() {
        // Lattices of spacing `reach` (pairs at exactly the reach, picks on the cells' borders,
        // ties between several nearest), at negative and positive coordinates, a copy at one
        // spot, a pair just beyond the reach, lone picks and groups in no order; 2D and 3D.
        let mut next = crate::test_random(0x9e37_79b9_7f4a_7c15);
        let mut gridded = 0;
        for dim in [2, 3] {
            for (reach, origin) in [(200.0, -1000.0), (0.1, 3.3), (7.0, -0.0), (150.0, 12345.678)] {
                let (mut groups, mut coords) = (Vec::new(), Vec::new());
                let mut add = |g: i64, p: [f64; 3]| {
                    groups.push(g);
                    coords.extend_from_slice(&p[..dim]);
                };
                for (g, spacing) in [(5, reach), (2, reach * 1.5), (9, reach * 0.5)] {
                    for i in 0..12 {
                        for j in 0..9 {
                            let z = if dim == 3 { (i % 2) as f64 * spacing } else { 0.0 };
                            add(g, [origin + i as f64 * spacing, origin - j as f64 * spacing, z]);
                        }
                    }
                }
                add(5, [origin, origin, 0.0]); // a copy of a lattice pick: distance 0
                add(7, [origin, origin, 0.0]); // alone: infinity
                add(8, [origin, origin, 0.0]); // a pair just beyond the reach
                add(8, [origin + reach * (1.0 + 1e-12), origin, 0.0]);
                for k in 1..40 {
                    // Pairs at about the reach straddling a border by an ulp or a few: rounded
                    // into cells two apart unless the cells are wider than the reach.
                    let border = origin + k as f64 * reach;
                    let x = (0..k % 4).fold(border, |x, _| below(x)) + (k / 4) as f64 * 1e-3 * reach;
                    add(100 + k as i64, [x, origin, 0.0]);
                    add(100 + k as i64, [x + reach, origin, 0.0]);
                    add(100 + k as i64, [origin, origin, 0.0]); // the grid's origin
                }
                for _ in 0..300 {
                    // and random picks over the lattices, in random groups
                    let r = |next: &mut dyn FnMut(u64) -> u64| {
                        origin + (next(1 << 20) as f64 / (1 << 20) as f64) * 12.0 * reach
                    };
                    add(next(3) as i64 * 2 + 5, [r(&mut next), r(&mut next) - 10.0 * reach, r(&mut next)]);
                }
                gridded += usize::from(grid_taken(&groups, &coords, dim, reach));
                let got = nearest_distances(&groups, &coords, dim, reach).unwrap();
                let want = all_pairs(&groups, &coords, dim, reach);
                for i in 0..groups.len() {
                    assert_eq!(got[i].to_bits(), want[i].to_bits(), "dim {dim} reach {reach} particle {i}");
                }
            }
        }
        assert!(gridded >= 4, "the cells searched too few cases: {gridded}");
    }

    #[test]
    fn one_pick_per_micrograph_and_crowded_micrographs_match_all_pairs() {
        // Lone picks (infinity), then a micrograph crowded onto a few spots (the k-d tree) and
        // one spread next to it (the cells), both searched in one call.
        let lone = nearest_distances(&[3i64, 1, 2], &[0.0, 0.0, 1.0, 1.0, 2.0, 2.0], 2, 50.0).unwrap();
        assert_eq!(lone, vec![f64::INFINITY; 3]);
        let mut next = crate::test_random(17);
        let (mut groups, mut coords) = (Vec::new(), Vec::new());
        for i in 0..2000 {
            let crowded = i % 2 == 0;
            groups.push(i64::from(crowded));
            let (x, y) = if crowded { (next(4) as f64 * 30.0, 0.0) } else { (next(4000) as f64, next(4000) as f64) };
            coords.extend_from_slice(&[x + next(100) as f64 / 50.0, -y - next(100) as f64 / 50.0]);
        }
        let crowded: Vec<usize> = (0..2000).step_by(2).collect();
        let only = |set: &[usize]| {
            let g: Vec<i64> = set.iter().map(|&i| groups[i]).collect();
            let c: Vec<f64> = set.iter().flat_map(|&i| [coords[2 * i], coords[2 * i + 1]]).collect();
            (g, c)
        };
        let (g, c) = only(&crowded);
        assert!(!grid_taken(&g, &c, 2, 20.0), "the crowded micrograph goes to the k-d tree");
        let (g, c) = only(&(1..2000).step_by(2).collect::<Vec<_>>());
        assert!(grid_taken(&g, &c, 2, 20.0), "the spread one to the cells");
        let got = nearest_distances(&groups, &coords, 2, 20.0).unwrap();
        assert_eq!(got, all_pairs(&groups, &coords, 2, 20.0));
    }

    /// Whether every group of two or more gets a grid for `reach` (else the k-d tree searches it).
    fn grid_taken(groups: &[i64], coords: &[f64], dim: usize, reach: f64) -> bool {
        let (order, ranges) = grouped(groups);
        let (mut flat, mut solid) = (Cells::<2>::default(), Cells::<3>::default());
        ranges.iter().map(|&(lo, hi)| &order[lo..hi]).filter(|members| members.len() > 1).all(|members| match dim {
            2 => flat.sort(coords, members, reach),
            _ => solid.sort(coords, members, reach),
        })
    }
}
