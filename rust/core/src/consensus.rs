//! Consensus between pickers: for each pick, how many distinct inputs picked within
//! `min_dist` of it on the same micrograph, its own input included.
//!
//! Memory is O(n) whatever the geometry: each pick queries the micrograph's k-d tree and
//! marks the inputs it meets in a per-input stamp array, so no pair list is ever built.

use rayon::prelude::*;

use crate::dedup::{group_ranges, order_by_group, DedupError};
use crate::kdtree::KdTree;

/// For every pick: the number of distinct inputs with a pick within `min_dist`
/// (inclusive, `sum((a - b)^2) <= min_dist^2`) on the same group, its own input included,
/// counting every pick. `coords` is row-major with `dim` (2 or 3) values per pick;
/// `inputs[i]` is the input (picker) of pick `i`, in `0..n_inputs`.
pub fn support(
    groups: &[i64],
    coords: &[f64],
    dim: usize,
    inputs: &[u32],
    min_dist: f64,
) -> Result<Vec<u32>, DedupError> {
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
    if !(min_dist >= 0.0 && min_dist.is_finite()) {
        return Err(DedupError::MinDist(min_dist));
    }
    if n >= u32::MAX as usize {
        return Err(DedupError::TooMany(n));
    }
    if let Some(index) = coords.iter().position(|c| !c.is_finite()) {
        return Err(DedupError::NonFinite { index: index / dim });
    }
    Ok(match dim {
        2 => run::<2>(groups, coords, inputs, min_dist),
        _ => run::<3>(groups, coords, inputs, min_dist),
    })
}

fn run<const D: usize>(groups: &[i64], coords: &[f64], inputs: &[u32], min_dist: f64) -> Vec<u32> {
    let n_inputs = inputs.iter().map(|&i| i as usize + 1).max().unwrap_or(0);
    let order = order_by_group(groups);
    let ranges = group_ranges(groups, &order);
    let per_group: Vec<Vec<u32>> = ranges
        .par_iter()
        .with_min_len(8)
        .map(|&(lo, hi)| support_in_group::<D>(coords, inputs, &order[lo..hi], n_inputs, min_dist))
        .collect();
    let mut support = vec![0u32; groups.len()];
    for (&(lo, hi), counts) in ranges.iter().zip(&per_group) {
        for (&i, &c) in order[lo..hi].iter().zip(counts) {
            support[i as usize] = c;
        }
    }
    support
}

/// One group: `members` are global indices; returns their support, aligned with `members`.
fn support_in_group<const D: usize>(
    coords: &[f64],
    inputs: &[u32],
    members: &[u32],
    n_inputs: usize,
    min_dist: f64,
) -> Vec<u32> {
    let points: Vec<[f64; D]> = members
        .iter()
        .map(|&i| {
            let mut p = [0.0; D];
            p.copy_from_slice(&coords[i as usize * D..i as usize * D + D]);
            p
        })
        .collect();
    let tree = KdTree::new(&points);
    // seen[input] == query number + 1 when that input was already counted for this query.
    let mut seen = vec![0u32; n_inputs];
    points
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let stamp = k as u32 + 1;
            let mut count = 0u32;
            tree.for_each_within(p, min_dist, |other, _| {
                let input = inputs[members[other as usize] as usize] as usize;
                if seen[input] != stamp {
                    seen[input] = stamp;
                    count += 1;
                }
            });
            count
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn bad_input_is_refused() {
        assert_eq!(
            support(&[0], &[0.0, 0.0], 2, &[0, 1], 1.0),
            Err(DedupError::Length { what: "inputs", expected: 1, got: 2 })
        );
        assert_eq!(support(&[0], &[0.0, 0.0], 2, &[0], -1.0), Err(DedupError::MinDist(-1.0)));
    }
}
