//! Consensus between pickers: for each pick, how many distinct inputs picked within
//! `min_dist` of it on the same micrograph, its own input included.
//!
//! Memory is O(n) whatever the geometry: each pick searches a grid of its micrograph's picks
//! (spread picks) or asks a k-d tree of each other input whether it holds a pick within
//! `min_dist` (crowded picks), so no pair list is ever built. Distances below
//! [`crate::algo::points::SAME_CENTRE`] are not told apart: `min_dist` 0 means within it.

use rayon::prelude::*;

pub use crate::algo::points::MAX_MASK_INPUTS;
use crate::algo::points::{check_coordinates, check_min_dist, masks_of_points, point, search_radius, values_by_group};
use crate::errors::DedupError;

/// For every pick: WHICH inputs have a pick within `min_dist` on the same group, as a
/// bitmask (bit `k` for input `k`; its own input's bit always set). The popcount of each
/// mask is the pick's support: how many distinct inputs confirm it. Inputs must be below
/// [`MAX_MASK_INPUTS`].
pub fn support_masks(
    groups: &[i64],
    coords: &[f64],
    dim: usize,
    inputs: &[u32],
    min_dist: f64,
) -> Result<Vec<u64>, DedupError> {
    check(groups, coords, dim, inputs, min_dist)?;
    if let Some(index) = inputs.iter().position(|&i| i >= MAX_MASK_INPUTS) {
        return Err(DedupError::InputOutOfRange { index, limit: MAX_MASK_INPUTS });
    }
    let radius = search_radius(min_dist);
    Ok(match dim {
        2 => values_by_group(groups, |members| masks_in_group::<2>(coords, inputs, members, radius)),
        _ => values_by_group(groups, |members| masks_in_group::<3>(coords, inputs, members, radius)),
    })
}

fn check(groups: &[i64], coords: &[f64], dim: usize, inputs: &[u32], min_dist: f64) -> Result<(), DedupError> {
    let n = groups.len();
    if dim != 2 && dim != 3 {
        return Err(DedupError::Dimension(dim));
    }
    if coords.len() != n * dim {
        return Err(DedupError::Length { what: "coords", expected: n * dim, got: coords.len() / dim });
    }
    if inputs.len() != n {
        return Err(DedupError::Length { what: "inputs", expected: n, got: inputs.len() });
    }
    check_min_dist(min_dist)?;
    if n >= u32::MAX as usize {
        return Err(DedupError::TooMany(n));
    }
    check_coordinates(coords, dim)
}

/// One group: the bitmask of inputs met by each member, aligned with `members`.
fn masks_in_group<const D: usize>(coords: &[f64], inputs: &[u32], members: &[u32], radius: f64) -> Vec<u64> {
    let points: Vec<[f64; D]> = members.iter().map(|&i| point::<D>(coords, i)).collect();
    let member_inputs: Vec<u32> = members.iter().map(|&i| inputs[i as usize]).collect();
    let mut masks = vec![0u64; members.len()];
    masks_of_points(&points, &member_inputs, radius, None, &mut masks);
    masks
}

/// What the consensus report counts, from the support masks: per group, the picks of each
/// input and how many of them each input confirms; per input, its picks confirmed by another
/// input, and of its kept picks those alone and those confirmed.
#[derive(Debug, PartialEq)]
pub struct Agreement {
    /// `size[g * n_inputs + a]`: the picks of input `a` on group `g`.
    pub size: Vec<u64>,
    /// `matched[(g * n_inputs + a) * n_inputs + b]`: the picks of input `a` on group `g` that
    /// input `b` confirms (bit `b` of their mask set).
    pub matched: Vec<u64>,
    /// Per input: (picks confirmed by another input, kept alone, kept confirmed).
    pub per_input: Vec<[u64; 3]>,
}

impl Agreement {
    fn zeros(n_groups: usize, n_inputs: usize) -> Agreement {
        Agreement {
            size: vec![0; n_groups * n_inputs],
            matched: vec![0; n_groups * n_inputs * n_inputs],
            per_input: vec![[0; 3]; n_inputs],
        }
    }

    /// Counts the picks `picks` (see [`agreement`]).
    fn add(
        &mut self,
        picks: std::ops::Range<usize>,
        groups: &[u32],
        inputs: &[u32],
        masks: Option<&[u64]>,
        keep: Option<&[bool]>,
    ) {
        let n_inputs = self.per_input.len();
        for i in picks {
            let (g, a) = (groups[i] as usize, inputs[i] as usize);
            let cell = g * n_inputs + a;
            self.size[cell] += 1;
            // Without masks a pick is confirmed by its own input alone.
            let mask = masks.map_or(1 << a, |m| m[i]);
            let confirmed = mask.count_ones() >= 2;
            if masks.is_some() {
                let mut bits = mask;
                while bits != 0 {
                    self.matched[cell * n_inputs + bits.trailing_zeros() as usize] += 1;
                    bits &= bits - 1;
                }
                self.per_input[a][0] += u64::from(confirmed);
            }
            if keep.is_some_and(|k| k[i]) {
                self.per_input[a][1 + usize::from(confirmed)] += 1;
            }
        }
    }

    fn sum(mut self, other: Agreement) -> Agreement {
        let add = |mine: &mut [u64], theirs: &[u64]| mine.iter_mut().zip(theirs).for_each(|(m, t)| *m += t);
        add(&mut self.size, &other.size);
        add(&mut self.matched, &other.matched);
        for (mine, theirs) in self.per_input.iter_mut().zip(&other.per_input) {
            add(mine, theirs);
        }
        self
    }
}

/// The [`Agreement`] counts in one pass over the picks (`keep` None: nothing kept; `masks`
/// None: only `size`, each pick confirmed by its own input alone).
///
/// Groups must be below `n_groups` and inputs below `n_inputs` (at most [`MAX_MASK_INPUTS`]
/// with masks).
pub fn agreement(
    groups: &[u32],
    inputs: &[u32],
    masks: Option<&[u64]>,
    keep: Option<&[bool]>,
    n_groups: usize,
    n_inputs: usize,
) -> Result<Agreement, DedupError> {
    let n = groups.len();
    let lengths =
        [("inputs", inputs.len()), ("masks", masks.map_or(n, <[u64]>::len)), ("keep", keep.map_or(n, <[bool]>::len))];
    for (what, len) in lengths {
        if len != n {
            return Err(DedupError::Length { what, expected: n, got: len });
        }
    }
    if masks.is_some() && n_inputs > MAX_MASK_INPUTS as usize {
        return Err(DedupError::InputOutOfRange { index: 0, limit: MAX_MASK_INPUTS });
    }
    if let Some(index) = inputs.iter().position(|&i| i as usize >= n_inputs) {
        return Err(DedupError::InputOutOfRange { index, limit: n_inputs as u32 });
    }
    if let Some(index) = groups.iter().position(|&g| g as usize >= n_groups) {
        return Err(DedupError::GroupOutOfRange { index, limit: n_groups });
    }
    // Pieces of picks counted in parallel, each into counters of its own, then summed; in one
    // piece when the counters (per group and pair of inputs) are many for the picks.
    let counters = n_groups * n_inputs * (n_inputs + 1);
    let pieces = if counters.saturating_mul(16) > n { 1 } else { 4 * rayon::current_num_threads() };
    let piece = n.div_ceil(pieces).max(1);
    let counts = (0..n.div_ceil(piece))
        .into_par_iter()
        .map(|k| {
            let picks = k * piece..n.min((k + 1) * piece);
            let mut counts = Agreement::zeros(n_groups, n_inputs);
            counts.add(picks, groups, inputs, masks, keep);
            counts
        })
        .reduce(|| Agreement::zeros(n_groups, n_inputs), Agreement::sum);
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Support: the number of inputs in each pick's mask.
    fn support(
        groups: &[i64],
        coords: &[f64],
        dim: usize,
        inputs: &[u32],
        min_dist: f64,
    ) -> Result<Vec<u32>, DedupError> {
        Ok(support_masks(groups, coords, dim, inputs, min_dist)?.iter().map(|m| m.count_ones()).collect())
    }

    #[test]
    fn agreement_counts_hand_worked() {
        // Group 0: input 0 picks twice (one confirmed by input 1), input 1 once (confirmed by 0);
        // group 1: input 1 alone. Masks include each pick's own input.
        let groups = [0, 0, 0, 1];
        let inputs = [0, 0, 1, 1];
        let masks = [0b11, 0b01, 0b11, 0b10];
        let keep = [true, true, false, true];
        let counts = agreement(&groups, &inputs, Some(&masks), Some(&keep), 2, 2).unwrap();
        assert_eq!(counts.size, vec![2, 1, 0, 1]);
        // (g, a, b): g0 a0 -> b0 2, b1 1; g0 a1 -> b0 1, b1 1; g1 a0 -> 0, 0; g1 a1 -> b0 0, b1 1
        assert_eq!(counts.matched, vec![2, 1, 1, 1, 0, 0, 0, 1]);
        assert_eq!(counts.per_input, vec![[1, 1, 1], [1, 1, 0]]);
        assert_eq!(agreement(&groups, &inputs, None, None, 2, 2).unwrap().size, counts.size);
        assert!(agreement(&groups, &inputs, Some(&masks), None, 1, 2).is_err());
        assert!(agreement(&groups, &inputs, Some(&masks), None, 2, 1).is_err());
    }

    #[test]
    fn agreement_counts_in_pieces_match_one_by_one_counts() {
        // Enough picks for several pieces counted in parallel; the oracle counts pick by pick.
        let (n, n_groups, n_inputs) = (300_000, 7, 3);
        let mut next = crate::test_random(0x9E37_79B9_7F4A_7C15u64);
        let groups: Vec<u32> = (0..n).map(|_| next(n_groups as u64) as u32).collect();
        let inputs: Vec<u32> = (0..n).map(|_| next(n_inputs as u64) as u32).collect();
        let masks: Vec<u64> = inputs.iter().map(|&a| 1 << a | next(1 << n_inputs)).collect();
        let keep: Vec<bool> = (0..n).map(|_| next(2) == 1).collect();
        let counts = agreement(&groups, &inputs, Some(&masks), Some(&keep), n_groups, n_inputs).unwrap();
        let mut size = vec![0u64; n_groups * n_inputs];
        let mut matched = vec![0u64; n_groups * n_inputs * n_inputs];
        let mut per_input = vec![[0u64; 3]; n_inputs];
        for i in 0..n {
            let (g, a) = (groups[i] as usize, inputs[i] as usize);
            size[g * n_inputs + a] += 1;
            for b in (0..n_inputs).filter(|&b| masks[i] >> b & 1 == 1) {
                matched[(g * n_inputs + a) * n_inputs + b] += 1;
            }
            let confirmed = masks[i].count_ones() >= 2;
            per_input[a][0] += u64::from(confirmed);
            if keep[i] {
                per_input[a][1 + usize::from(confirmed)] += 1;
            }
        }
        assert_eq!((counts.size, counts.matched, counts.per_input), (size, matched, per_input));
    }

    #[test]
    fn hand_worked_support() {
        // Micrograph 0: input 0 at (0,0) and (100,0); input 1 at (3,4) (distance 5 from
        // (0,0)); input 2 at (0,10) (distance 10 from (0,0), sqrt(9+36)=6.7 from (3,4)).
        // With 6: (0,0) meets inputs 0 and 1 -> 2; (100,0) alone -> 1; (3,4) meets 0 and 1
        // -> 2; (0,10) meets none but itself -> 1. Micrograph 1 holds a copy of input 1's
        // pick at (0,0) that must not count for micrograph 0.
        let groups = [0, 0, 0, 0, 1];
        let coords = [0.0, 0.0, 100.0, 0.0, 3.0, 4.0, 0.0, 10.0, 0.0, 0.0];
        let inputs = [0, 0, 1, 2, 1];
        assert_eq!(support(&groups, &coords, 2, &inputs, 6.0).unwrap(), vec![2, 1, 2, 1, 1]);
        // With 7, (3,4) also meets (0,10) at 6.7: inputs 0, 1, 2.
        assert_eq!(support(&groups, &coords, 2, &inputs, 7.0).unwrap(), vec![2, 1, 3, 2, 1]);
        // Two picks of one input close together count that input once.
        assert_eq!(support(&[0, 0], &[0.0, 0.0, 1.0, 0.0], 2, &[0, 0], 5.0).unwrap(), vec![1, 1]);
    }

    #[test]
    fn zero_distance_means_the_same_centre_to_a_thousandth_of_an_angstrom() {
        // A re-centred copy 1e-12 Å off, -0.0 and 0.0: one centre; 0.01 Å off: another.
        let coords = [0.0, 0.0, 0.0, 1e-12, 0.0, -0.0, 0.01, 0.0];
        assert_eq!(support(&[0, 0, 0, 0], &coords, 2, &[0, 1, 2, 3], 0.0).unwrap(), vec![3, 3, 3, 1]);
    }

    #[test]
    fn bad_input_is_refused() {
        assert_eq!(
            support(&[0], &[0.0, 0.0], 2, &[0, 1], 1.0),
            Err(DedupError::Length { what: "inputs", expected: 1, got: 2 })
        );
        assert_eq!(support(&[0], &[0.0, 0.0], 2, &[0], -1.0), Err(DedupError::MinDist(-1.0)));
    }

    #[test]
    fn masks_name_the_inputs_and_count_as_support() {
        // The hand-worked case above with 6: (0,0) meets inputs 0 and 1 -> 0b011; (100,0)
        // only its own input 0 -> 0b001; (3,4) meets 0 and 1 -> 0b011; (0,10) only input 2
        // -> 0b100; micrograph 1's pick only its own input 1 -> 0b010.
        let groups = [0, 0, 0, 0, 1];
        let coords = [0.0, 0.0, 100.0, 0.0, 3.0, 4.0, 0.0, 10.0, 0.0, 0.0];
        let inputs = [0, 0, 1, 2, 1];
        let masks = support_masks(&groups, &coords, 2, &inputs, 6.0).unwrap();
        assert_eq!(masks, vec![0b011, 0b001, 0b011, 0b100, 0b010]);
        let counts: Vec<u32> = masks.iter().map(|m| m.count_ones()).collect();
        assert_eq!(counts, support(&groups, &coords, 2, &inputs, 6.0).unwrap());
        assert!(support_masks(&groups, &coords, 2, &[0, 0, 64, 0, 0], 6.0).is_err());
    }
}
