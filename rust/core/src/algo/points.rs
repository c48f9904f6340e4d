//! What duplicate removal ([`crate::algo::dedup`]) and consensus ([`crate::algo::consensus`]) share:
//! centres and the radius searched, the errors of bad input, per-group maps run in
//! parallel, and the masks of inputs met within a radius. Both import from here; neither
//! imports the other.

use rayon::prelude::*;

use crate::algo::grid::Grid;
use crate::algo::kdtree::KdTree;
use crate::errors::{DedupError, MAX_COORDINATE};
use crate::parallel::{self, Scatter};

/// Centres closer than this (Å) are one centre: `min_dist` 0 ("identical centres") means
/// within it, and no smaller radius is ever searched. A re-extracted, re-centred particle
/// keeps a whole-pixel coordinate and the rest of its shift in the origin, so its centre
/// agrees with the original's only to floating-point error (about 1e-12 Å), and STAR files
/// round to 6 decimals (1e-6 pixels): both far below this. No pixel is near it (>= 0.3 Å),
/// so two distinct picks are never taken for one.
pub const SAME_CENTRE: f64 = 1e-3;

/// The radius searched for `min_dist`: the distance itself, never below [`SAME_CENTRE`].
pub fn search_radius(min_dist: f64) -> f64 {
    min_dist.max(SAME_CENTRE)
}

/// Refuses a `min_dist` whose square is not finite (a smaller one than [`SAME_CENTRE`] is
/// searched at that radius, whose square is a normal number).
pub(crate) fn check_min_dist(min_dist: f64) -> Result<(), DedupError> {
    if (0.0..=MAX_COORDINATE).contains(&min_dist) {
        Ok(())
    } else {
        Err(DedupError::MinDist(min_dist))
    }
}

/// Refuses coordinates that are NaN, infinite or beyond [`MAX_COORDINATE`].
pub(crate) fn check_coordinates(coords: &[f64], dim: usize) -> Result<(), DedupError> {
    let usable = |c: &f64| c.abs() <= MAX_COORDINATE; // false for NaN
                                                      // (a fold, not `all`: no early exit, so the loop vectorises)
    if coords.par_chunks(1 << 16).all(|chunk| chunk.iter().fold(true, |ok, c| ok & usable(c))) {
        return Ok(());
    }
    let index = coords.iter().position(|c| !usable(c)).unwrap();
    Err(if coords[index].is_finite() {
        DedupError::TooFar { index: index / dim }
    } else {
        DedupError::NonFinite { index: index / dim }
    })
}

/// A micrograph id: `i64` from Python's own arrays, `u32` from a scan (half the memory).
pub trait GroupId: Copy + Ord + Send + Sync {
    fn to_i64(self) -> i64;
}

impl GroupId for i64 {
    fn to_i64(self) -> i64 {
        self
    }
}

impl GroupId for u32 {
    fn to_i64(self) -> i64 {
        self as i64
    }
}

/// Particle indices sorted by (group, index), and the half-open ranges of that order that
/// share a group, in order of group.
pub(crate) fn grouped<G: GroupId>(groups: &[G]) -> (Vec<u32>, Vec<(usize, usize)>) {
    let n = groups.len();
    if groups.windows(2).all(|w| w[0] <= w[1]) {
        let order = (0..n as u32).collect();
        return (order, group_ranges(groups, |pos| pos));
    }
    let (min, max) = groups.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &g| (lo.min(g.to_i64()), hi.max(g.to_i64())));
    let span = (max as i128 - min as i128) as u128;
    if span <= 2 * n as u128 + 1024 {
        // Dense labels (the usual case: micrograph numbers): a stable counting sort.
        let (order, offsets) = parallel::order_by_key(n, span as usize + 1, |i| (groups[i].to_i64() - min) as usize);
        let ranges = offsets.windows(2).map(|w| (w[0], w[1])).filter(|(lo, hi)| hi > lo).collect();
        return (order, ranges);
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.par_sort_unstable_by_key(|&i| (groups[i as usize], i));
    let ranges = group_ranges(groups, |pos| order[pos] as usize);
    (order, ranges)
}

/// The half-open runs of rows of one group each, of `groups` in ascending order.
pub(crate) fn sorted_ranges<G: GroupId>(groups: &[G]) -> Vec<(usize, usize)> {
    group_ranges(groups, |pos| pos)
}

/// Half-open ranges of positions `0..groups.len()` that share a group, the particle at
/// position `pos` being `at(pos)` (positions in order of group).
fn group_ranges<G: GroupId>(groups: &[G], at: impl Fn(usize) -> usize) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut lo = 0;
    for pos in 1..=groups.len() {
        if pos == groups.len() || groups[at(pos)] != groups[at(lo)] {
            ranges.push((lo, pos));
            lo = pos;
        }
    }
    ranges
}

/// `each(members)` for every group in parallel (`members`: the group's particle indices,
/// increasing), its values (one per member) put back in particle order.
pub(crate) fn values_by_group<G: GroupId, T: Copy + Default + Send>(
    groups: &[G],
    each: impl Fn(&[u32]) -> Vec<T> + Sync,
) -> Vec<T> {
    let (order, ranges) = grouped(groups);
    let mut out = vec![T::default(); groups.len()];
    let scatter = Scatter::new(&mut out);
    ranges.par_iter().with_min_len(8).for_each(|&(lo, hi)| {
        let members = &order[lo..hi];
        let values = each(members);
        // SAFETY: `order` is a permutation and the ranges are disjoint (see `run`).
        unsafe { scatter.put(members, &values) };
    });
    out
}

/// The `index`-th point of row-major `coords` (`D` values per point).
pub(crate) fn point<const D: usize>(coords: &[f64], index: u32) -> [f64; D] {
    let mut p = [0.0; D];
    p.copy_from_slice(&coords[index as usize * D..index as usize * D + D]);
    p
}

/// The most inputs `consensus::support_masks` tells apart: one bit each in a `u64`.
pub const MAX_MASK_INPUTS: u32 = 64;

/// The masks of one group's points: bit `inputs[k]` of each point's own input, and the bit of
/// every other input with a point within `radius` (> 0). Where the points are spread, one grid
/// search per point (`grid`, a grid of `points` for `radius`, or one made here); where
/// they crowd, one tree per input and one "is there any?" search per point and other input,
/// which stops at the first point it meets: memory O(n) and near-linear time even when
/// thousands of picks sit on one spot.
pub(crate) fn masks_of_points<const D: usize>(
    points: &[[f64; D]],
    inputs: &[u32],
    radius: f64,
    grid: Option<&Grid<D>>,
    masks: &mut [u64],
) {
    let made = if grid.is_none() { Grid::new(points, radius) } else { None };
    if let Some(grid) = grid.or(made.as_ref()) {
        for ((point, mask), &own) in points.iter().zip(masks.iter_mut()).zip(inputs) {
            *mask = 1 << own;
            grid.for_each_within(point, radius, |other, _| *mask |= 1 << inputs[other as usize]);
        }
        return;
    }
    let present = inputs.iter().fold(0u64, |bits, &i| bits | 1 << i);
    let trees: Vec<(u32, KdTree<D>)> = (0..MAX_MASK_INPUTS)
        .filter(|&k| present & 1 << k != 0)
        .map(|k| {
            let own: Vec<[f64; D]> = points.iter().zip(inputs).filter(|(_, &i)| i == k).map(|(p, _)| *p).collect();
            (k, KdTree::new(&own))
        })
        .collect();
    for ((p, &own), mask) in points.iter().zip(inputs).zip(masks.iter_mut()) {
        *mask = 1 << own;
        for (k, tree) in &trees {
            if *k != own && tree.any_within(p, radius) {
                *mask |= 1 << k;
            }
        }
    }
}
