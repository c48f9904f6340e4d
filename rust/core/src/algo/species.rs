//! Picks of different species that claim one place (cryo-ET: a ribosome and a proteasome
//! template both matching one density): the overlap rule between species.
//!
//! Each species has a radius. Two picks of different species on one tomogram overlap when
//! their centres are closer than `(r_a + r_b) * overlap`; they cannot both be right. The
//! picks are ranked (higher first, NaN last, ties by index: the caller puts its priority
//! and each species' rank normalisation into one number) and walked best first: a pick not
//! yet suppressed is kept and suppresses every overlapping pick of another species; a
//! suppressed pick suppresses nothing (docs/design.md section 13). Picks of one species are
//! never compared here: their duplicates are the dedup's.

use crate::algo::kdtree::{squared_distance, KdTree};
use crate::algo::points::{check_coordinates, point, values_by_group, GroupId};
use crate::algo::rank_keys::score_key;
use crate::errors::{DedupError, MAX_COORDINATE};
use crate::parallel::{order_by_key, Scatter};
use rayon::prelude::*;

/// The overlap rule: each species' radius (Å, by species id) and the factor on the sum of two radii.
#[derive(Clone, Copy, Debug)]
pub struct OverlapRule<'a> {
    pub radii: &'a [f64],
    /// Two spheres overlap when their centres are closer than `(r_a + r_b) * overlap`.
    pub overlap: f64,
}

/// The rows to compare and how they rank.
#[derive(Clone, Copy, Debug)]
pub struct Overlaps<'a> {
    /// Centres, `dim` values per row, row-major.
    pub coords: &'a [f64],
    pub dim: usize,
    /// Each row's species (an index into the rule's radii).
    pub species: &'a [u32],
    /// Each row's rank value, higher first (NaN last, ties by row index).
    pub ranks: &'a [f64],
    /// Rows taking part (the others, rejected before, neither suppress nor are suppressed).
    pub active: &'a [bool],
}

/// For each row, the kept row of another species that suppressed it, or -1 (kept, inactive,
/// or overlapping nothing better), groups (tomograms) worked in parallel.
pub fn suppress_overlaps<G: GroupId>(
    groups: &[G],
    rows: &Overlaps,
    rule: &OverlapRule,
) -> Result<Vec<i64>, DedupError> {
    validate(groups.len(), rows, rule)?;
    Ok(match rows.dim {
        2 => values_by_group(groups, |members| suppress_in_group::<2>(rows, rule, members)),
        _ => values_by_group(groups, |members| suppress_in_group::<3>(rows, rule, members)),
    })
}

fn validate(n: usize, rows: &Overlaps, rule: &OverlapRule) -> Result<(), DedupError> {
    if rows.dim != 2 && rows.dim != 3 {
        return Err(DedupError::Dimension(rows.dim));
    }
    if rows.coords.len() != n * rows.dim {
        return Err(DedupError::Length { what: "coords", expected: n * rows.dim, got: rows.coords.len() / rows.dim });
    }
    for (what, len) in [("species", rows.species.len()), ("ranks", rows.ranks.len()), ("active", rows.active.len())] {
        if len != n {
            return Err(DedupError::Length { what, expected: n, got: len });
        }
    }
    if n >= u32::MAX as usize {
        return Err(DedupError::TooMany(n));
    }
    if let Some(&radius) = rule.radii.iter().find(|r| !(0.0..=MAX_COORDINATE).contains(*r)) {
        return Err(DedupError::Radius(radius));
    }
    if !(0.0..=MAX_COORDINATE).contains(&rule.overlap) {
        return Err(DedupError::Radius(rule.overlap));
    }
    let limit = rule.radii.len();
    if let Some(index) = rows.species.iter().position(|&s| s as usize >= limit) {
        return Err(DedupError::SpeciesOutOfRange { index, limit });
    }
    check_coordinates(rows.coords, rows.dim)
}

/// No pick (of `by`): not displaced.
const NONE: u32 = u32::MAX;

/// One group: the walk from best to worst, as the module says.
fn suppress_in_group<const D: usize>(rows: &Overlaps, rule: &OverlapRule, members: &[u32]) -> Vec<i64> {
    let mut out = vec![-1i64; members.len()];
    // Local positions (into `members`) of the rows taking part, in index order.
    let taking_part: Vec<u32> =
        (0..members.len() as u32).filter(|&k| rows.active[members[k as usize] as usize]).collect();
    let kinds: Vec<u32> = taking_part.iter().map(|&k| rows.species[members[k as usize] as usize]).collect();
    let largest = kinds.iter().map(|&s| rule.radii[s as usize]).fold(0.0, f64::max);
    let reach = 2.0 * largest * rule.overlap;
    if taking_part.len() < 2 || kinds.iter().all(|&s| s == kinds[0]) || reach.is_nan() || reach <= 0.0 {
        return out;
    }
    let points: Vec<[f64; D]> = taking_part.iter().map(|&k| point::<D>(rows.coords, members[k as usize])).collect();
    let mut order: Vec<(u64, u32)> = (0..points.len() as u32)
        .map(|j| (score_key(rows.ranks[members[taking_part[j as usize] as usize] as usize], true), j))
        .collect();
    order.sort_unstable();
    let order: Vec<u32> = order.into_iter().map(|(_, j)| j).collect();
    let walk = Walk { points: &points, kinds: &kinds, rule, largest };
    // Cells of half the largest reach in every dimension (a tomogram's depth too); a crowd of
    // picks in a few cells goes to the k-d tree, whose searches stay near-linear there.
    let by = match Cells::new(&points, &kinds, rule.radii, reach / 2.0) {
        Some(cells) => walk.with_cells(cells, &order),
        None => walk.with_tree(&order),
    };
    for (j, &r) in by.iter().enumerate() {
        if r != NONE {
            out[taking_part[j] as usize] = members[taking_part[r as usize] as usize] as i64;
        }
    }
    out
}

/// A group's picks taking part (local numbers), and the rule.
struct Walk<'a, const D: usize> {
    points: &'a [[f64; D]],
    kinds: &'a [u32],
    rule: &'a OverlapRule<'a>,
    /// The largest radius among the group's species.
    largest: f64,
}

impl<const D: usize> Walk<'_, D> {
    /// The farthest another species' pick can be from pick `r` and still overlap it.
    fn reach(&self, r: u32) -> f64 {
        (self.rule.radii[self.kinds[r as usize] as usize] + self.largest) * self.rule.overlap
    }

    /// The walk (`order`: best first) on the cells: for each pick, the pick that displaced it, or NONE.
    fn with_cells(&self, mut cells: Cells<D>, order: &[u32]) -> Vec<u32> {
        let mut by = vec![NONE; self.points.len()];
        let mut hits = vec![0u32; self.points.len() + 1];
        for &r in order {
            if by[r as usize] != NONE {
                continue;
            }
            let own = self.kinds[r as usize];
            let pick = Pick { centre: &self.points[r as usize], species: own, radius: self.rule.radii[own as usize] };
            let found = cells.overlapping(&pick, self.rule.overlap, self.reach(r), &mut hits);
            for &slot in &hits[..found] {
                by[cells.ids[slot as usize] as usize] = r;
                cells.remove(slot as usize);
            }
            // Neither this kept pick nor those it displaced can be displaced later (a later pick
            // of another species overlapping a kept one was displaced by it): later searches
            // need not meet them.
            cells.remove(cells.slot_of[r as usize] as usize);
            cells.compact_if_sparse();
        }
        by
    }

    /// The walk on a k-d tree (picks crowded in a few cells), as [`Walk::with_cells`].
    fn with_tree(&self, order: &[u32]) -> Vec<u32> {
        let tree = KdTree::new(self.points);
        let mut by = vec![NONE; self.points.len()];
        for &r in order {
            if by[r as usize] != NONE {
                continue;
            }
            let own = self.kinds[r as usize];
            tree.for_each_within(&self.points[r as usize], self.reach(r), |j, d2| {
                let other = self.kinds[j as usize];
                if other == own || by[j as usize] != NONE {
                    return;
                }
                let touch = (self.rule.radii[own as usize] + self.rule.radii[other as usize]) * self.rule.overlap;
                if d2 < touch * touch {
                    by[j as usize] = r;
                }
            });
        }
        by
    }
}

/// A kept pick looking for the picks it displaces.
struct Pick<'a, const D: usize> {
    centre: &'a [f64; D],
    species: u32,
    radius: f64,
}

/// Each score's percentile among the scores of its own group (`by`: a species, an input), in
/// (0, 1], 1 the best: (number of worse scores + half the number of equal ones, its own
/// included) / the group's count, so that ties share a value. A score that is not finite
/// (NaN, ±inf: "none", as in the dedup) is counted in no group and its percentile is NaN
/// (ranked last).
/// Groups are ids below `scores.len() + 1024` (species and inputs are numbered from 0); each
/// is sorted on its own, groups in parallel.
pub fn percentiles_within(scores: &[f64], by: &[u32], higher_is_better: bool) -> Result<Vec<f64>, DedupError> {
    let n = scores.len();
    if by.len() != n {
        return Err(DedupError::Length { what: "groups", expected: n, got: by.len() });
    }
    if n >= u32::MAX as usize {
        return Err(DedupError::TooMany(n));
    }
    let n_groups = by.iter().max().map_or(0, |&m| m as usize + 1);
    if n_groups > n + 1024 {
        let index = by.iter().position(|&g| g as usize >= n + 1024).unwrap_or(0);
        return Err(DedupError::SpeciesOutOfRange { index, limit: n + 1024 });
    }
    let (order, offsets) = order_by_key(n, n_groups, |i| by[i] as usize);
    let mut out = vec![f64::NAN; n];
    let scatter = Scatter::new(&mut out);
    (0..n_groups).into_par_iter().for_each(|g| {
        // Best first, as integers (a float's order mapped onto u64: sorted faster than floats
        // compared); -0.0 and 0.0 are equal, as numpy has them. A score that is not finite
        // means "none" (as in the dedup): it stays out, NaN.
        let mut keyed: Vec<(u64, u32)> = order[offsets[g]..offsets[g + 1]]
            .iter()
            .filter(|&&i| scores[i as usize].is_finite())
            .map(|&i| (score_key(scores[i as usize], higher_is_better), i))
            .collect();
        keyed.sort_unstable();
        let count = keyed.len();
        let mut start = 0;
        while start < count {
            let end = start + keyed[start..].iter().take_while(|k| k.0 == keyed[start].0).count();
            // (the worse scores follow the run of equal ones)
            let value = ((count - end) as f64 + (end - start) as f64 / 2.0) / count as f64;
            for &(_, i) in &keyed[start..end] {
                // SAFETY: each row is in exactly one group, and once in it.
                unsafe { scatter.set(i as usize, value) };
            }
            start = end;
        }
    });
    Ok(out)
}

/// A uniform grid of cubic cells over all `D` coordinates (the 2-D grid of `algo::grid` leaves
/// a tomogram's depth in each cell: at the overlap rule's reach, several times the
/// dedup's, a search would meet the whole depth's picks). Each slot holds a pick's centre,
/// radius and species side by side, so that a search reads its cells' rows in one sweep; a
/// pick left out of later searches gets an infinite centre, and the cells are packed again
/// when half of their slots are such.
struct Cells<const D: usize> {
    origin: [f64; D],
    cell: f64,
    dims: [usize; D],
    /// Slots of cell `c` are `start[c]..start[c + 1]` (x fastest).
    start: Vec<u32>,
    points: Vec<[f64; D]>,
    radii: Vec<f64>,
    kinds: Vec<u32>,
    ids: Vec<u32>,
    /// Each pick's slot, by id.
    slot_of: Vec<u32>,
    /// Slots left out since the cells were last packed.
    removed: usize,
}

/// A cell holding more points than this refuses the grid (the caller takes the k-d tree).
const MAX_PER_CELL: u32 = 48;

impl<const D: usize> Cells<D> {
    /// Cells at least `cell` wide (wider until there are at most `2n + 16`) of `points`, of
    /// species `kinds` (radii by species: `radii`); None when the points crowd or their span
    /// is not finite.
    fn new(points: &[[f64; D]], kinds: &[u32], radii: &[f64], cell: f64) -> Option<Self> {
        let n = points.len();
        if n == 0 || cell.is_nan() || cell <= 0.0 {
            return None;
        }
        let (origin, cell, dims) = Self::geometry(points, cell)?;
        let mut cells = Cells {
            origin,
            cell,
            dims,
            start: Vec::new(),
            points: vec![[0.0; D]; n],
            radii: vec![0.0; n],
            kinds: vec![0; n],
            ids: vec![0; n],
            slot_of: vec![0; n],
            removed: 0,
        };
        let total: usize = dims.iter().product();
        let of: Vec<usize> = points.iter().map(|p| cells.cell_of(p)).collect();
        let mut start = vec![0u32; total + 1];
        for &c in &of {
            start[c + 1] += 1;
        }
        if start.iter().any(|&count| count > MAX_PER_CELL) {
            return None;
        }
        for c in 0..total {
            start[c + 1] += start[c];
        }
        let mut next = start.clone();
        for (i, &c) in of.iter().enumerate() {
            let slot = next[c] as usize;
            (cells.points[slot], cells.kinds[slot], cells.ids[slot]) = (points[i], kinds[i], i as u32);
            cells.radii[slot] = radii[kinds[i] as usize];
            cells.slot_of[i] = slot as u32;
            next[c] += 1;
        }
        cells.start = start;
        Some(cells)
    }

    /// The grid's origin, cell width and cells per axis; None when the span is not finite.
    fn geometry(points: &[[f64; D]], mut cell: f64) -> Option<([f64; D], f64, [usize; D])> {
        let (mut lo, mut hi) = ([f64::INFINITY; D], [f64::NEG_INFINITY; D]);
        for p in points {
            for k in 0..D {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        let mut dims = [1usize; D];
        loop {
            let counts: Vec<f64> = (0..D).map(|k| ((hi[k] - lo[k]) / cell).floor() + 1.0).collect();
            if !counts.iter().all(|c| c.is_finite()) {
                return None;
            }
            if counts.iter().product::<f64>() <= 2.0 * points.len() as f64 + 16.0 {
                for k in 0..D {
                    dims[k] = counts[k] as usize;
                }
                return Some((lo, cell, dims));
            }
            cell *= 1.5;
        }
    }

    /// The cell index of coordinate `value` along axis `k`, clamped to the grid (a cast, not
    /// `floor`: that is a call into libm on the baseline x86-64 target).
    fn index(&self, value: f64, k: usize) -> usize {
        let i = (value - self.origin[k]) / self.cell;
        if i >= 1.0 {
            (i as usize).min(self.dims[k] - 1)
        } else {
            0
        }
    }

    fn cell_of(&self, p: &[f64; D]) -> usize {
        (0..D).rev().fold(0, |c, k| c * self.dims[k] + self.index(p[k], k))
    }

    /// Writes into `hits` the slots of the picks still searched, of another species than
    /// `pick`'s, that overlap it (centres closer than the sum of the radii times `overlap`),
    /// and returns their number; `reach` bounds that distance (`hits` holds a slot per pick).
    fn overlapping(&self, pick: &Pick<D>, overlap: f64, reach: f64, hits: &mut [u32]) -> usize {
        let query = pick.centre;
        let reach = reach + reach * 1e-9 + f64::MIN_POSITIVE; // (rounding never drops a point)
        let (mut low, mut high) = ([0usize; D], [0usize; D]);
        for k in 0..D {
            low[k] = self.index(query[k] - reach, k);
            high[k] = self.index(query[k] + reach, k);
        }
        // Rows of cells along x, one per (y, z): each row's points are contiguous, and tested
        // without a branch (about half of a row's picks lie within reach: a branch on each
        // would be mispredicted half the time).
        let rows_y = high[1] - low[1] + 1;
        let rows_z = if D == 3 { high[D - 1] - low[D - 1] + 1 } else { 1 };
        let mut found = 0;
        for row in 0..rows_y * rows_z {
            let (y, z) = (low[1] + row % rows_y, if D == 3 { low[D - 1] + row / rows_y } else { 0 });
            let base = (z * self.dims[1] + y) * self.dims[0];
            let (first, last) = (self.start[base + low[0]] as usize, self.start[base + high[0] + 1] as usize);
            for k in first..last {
                let touch = (pick.radius + self.radii[k]) * overlap;
                let close = squared_distance(&self.points[k], query) < touch * touch;
                hits[found] = k as u32;
                found += (close & (self.kinds[k] != pick.species)) as usize;
            }
        }
        found
    }

    /// Leaves the pick in `slot` out of later searches (an infinite centre is never close).
    fn remove(&mut self, slot: usize) {
        if self.points[slot][0].is_finite() {
            self.points[slot] = [f64::INFINITY; D];
            self.removed += 1;
        }
    }

    /// Packs the cells' slots when half of them are left out, so that searches read fewer.
    fn compact_if_sparse(&mut self) {
        if self.removed * 2 <= self.points.len() {
            return;
        }
        let mut kept = 0;
        for c in 0..self.start.len() - 1 {
            let (first, last) = (self.start[c] as usize, self.start[c + 1] as usize);
            self.start[c] = kept as u32;
            for k in first..last {
                if self.points[k][0].is_finite() {
                    (self.points[kept], self.radii[kept], self.kinds[kept]) =
                        (self.points[k], self.radii[k], self.kinds[k]);
                    self.ids[kept] = self.ids[k];
                    self.slot_of[self.ids[k] as usize] = kept as u32;
                    kept += 1;
                }
            }
        }
        *self.start.last_mut().expect("a cell at least") = kept as u32;
        self.points.truncate(kept);
        self.radii.truncate(kept);
        self.kinds.truncate(kept);
        self.ids.truncate(kept);
        self.removed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(coords: &[f64], species: &[u32], ranks: &[f64], radii: &[f64], overlap: f64) -> Vec<i64> {
        let n = species.len();
        let rows = Overlaps { coords, dim: 3, species, ranks, active: &vec![true; n] };
        suppress_overlaps(&vec![0u32; n], &rows, &OverlapRule { radii, overlap }).unwrap()
    }

    #[test]
    fn the_better_of_two_overlapping_species_is_kept() {
        // By hand: radii 60 and 150 touch below 210 Å; picks 200 Å apart overlap, 210 Å apart do not.
        let coords = [0.0, 0.0, 0.0, 200.0, 0.0, 0.0, 1000.0, 0.0, 0.0, 1210.0, 0.0, 0.0];
        let out = run(&coords, &[0, 1, 0, 1], &[0.2, 0.9, 0.9, 0.2], &[60.0, 150.0], 1.0);
        assert_eq!(out, [1, -1, -1, -1]);
        // At overlap 0.5 they touch below 105 Å: nothing overlaps.
        let out = run(&coords, &[0, 1, 0, 1], &[0.2, 0.9, 0.9, 0.2], &[60.0, 150.0], 0.5);
        assert_eq!(out, [-1; 4]);
    }

    #[test]
    fn a_suppressed_pick_suppresses_nothing_and_one_species_never_competes() {
        // Three species in a row, 100 Å apart, radii 60: A overlaps B, B overlaps C, A and C
        // do not. Ranked A > B > C: A suppresses B, and C stays (B suppresses nothing).
        let coords = [0.0, 0.0, 0.0, 100.0, 0.0, 0.0, 200.0, 0.0, 0.0, 10.0, 0.0, 0.0];
        let out = run(&coords, &[0, 1, 2, 0], &[0.9, 0.5, 0.1, 0.95], &[60.0; 3], 1.0);
        // Row 3 (species 0, best) suppresses B first; row 0 (species 0 too) is never compared with it.
        assert_eq!(out, [-1, 3, -1, -1]);
    }

    #[test]
    fn ties_go_to_the_lower_index_and_inactive_rows_take_no_part() {
        let coords = [0.0, 0.0, 0.0, 50.0, 0.0, 0.0];
        assert_eq!(run(&coords, &[0, 1], &[0.5, 0.5], &[60.0, 60.0], 1.0), [-1, 0]);
        let rows = Overlaps { coords: &coords, dim: 3, species: &[0, 1], ranks: &[0.9, 0.5], active: &[false, true] };
        let out = suppress_overlaps(&[0u32, 0], &rows, &OverlapRule { radii: &[60.0, 60.0], overlap: 1.0 });
        assert_eq!(out.unwrap(), [-1, -1]);
    }

    #[test]
    fn the_cells_find_what_a_scan_of_every_point_finds() {
        let mut state = 7u64;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let radii = [20.0, 45.0, 100.0];
        for (n, span) in [(1usize, 10.0), (50, 100.0), (2000, 4000.0), (300, 50.0)] {
            let points: Vec<[f64; 3]> = (0..n).map(|_| [next() * span, next() * span, next() * span * 0.4]).collect();
            let kinds: Vec<u32> = (0..n).map(|_| (next() * 3.0) as u32).collect();
            let Some(mut cells) = Cells::new(&points, &kinds, &radii, 100.0) else { continue };
            // Half of the picks left out (the cells packed then): the others are still found.
            let mut left_out = vec![false; n];
            for i in (0..n).step_by(2) {
                cells.remove(cells.slot_of[i] as usize);
                left_out[i] = true;
            }
            cells.compact_if_sparse();
            let mut hits = vec![0u32; n + 1];
            for (q, query) in points.iter().enumerate().take(50) {
                let pick = Pick { centre: query, species: kinds[q], radius: radii[kinds[q] as usize] };
                let found = cells.overlapping(&pick, 0.9, (pick.radius + 100.0) * 0.9, &mut hits);
                let mut found: Vec<u32> = hits[..found].iter().map(|&slot| cells.ids[slot as usize]).collect();
                found.sort_unstable();
                let want: Vec<u32> = (0..n as u32)
                    .filter(|&i| !left_out[i as usize] && kinds[i as usize] != kinds[q])
                    .filter(|&i| {
                        let touch = (pick.radius + radii[kinds[i as usize] as usize]) * 0.9;
                        squared_distance(&points[i as usize], query) < touch * touch
                    })
                    .collect();
                assert_eq!(found, want);
            }
        }
    }

    #[test]
    fn percentiles_by_hand() {
        // Group 0: 3, 1, 1, NaN; group 1: 7, 2. 1 and 1 tie: (0 + 2/2) / 3 each; 3: (2 + 1/2) / 3.
        let got = percentiles_within(&[3.0, 1.0, 1.0, f64::NAN, 7.0, 2.0], &[0, 0, 0, 0, 1, 1], true).unwrap();
        assert_eq!(&got[..3], &[2.5 / 3.0, 1.0 / 3.0, 1.0 / 3.0]);
        assert!(got[3].is_nan());
        assert_eq!(&got[4..], &[0.75, 0.25]);
        // ±inf is no score: NaN, and counted in no group.
        let got = percentiles_within(&[f64::INFINITY, 2.0, f64::NEG_INFINITY, 1.0], &[0; 4], true).unwrap();
        assert!(got[0].is_nan() && got[2].is_nan());
        assert_eq!((got[1], got[3]), (0.75, 0.25));
        let lower = percentiles_within(&[-0.0, 0.0, 1.0], &[0, 0, 0], false).unwrap();
        assert_eq!(lower, [2.0 / 3.0, 2.0 / 3.0, 1.0 / 6.0]);
    }

    #[test]
    fn a_species_without_a_radius_is_refused() {
        let rows = Overlaps { coords: &[0.0; 6], dim: 3, species: &[0, 2], ranks: &[1.0, 1.0], active: &[true; 2] };
        let err = suppress_overlaps(&[0i64, 0], &rows, &OverlapRule { radii: &[1.0, 1.0], overlap: 1.0 });
        assert!(matches!(err, Err(DedupError::SpeciesOutOfRange { index: 1, limit: 2 })));
    }
}
