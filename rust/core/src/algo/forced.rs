//! Rows the user forced (`--overrides`) decided with the others, in the core: what the job's
//! `jobs/particles/overrides.py` and `decide._overridden` do on the whole set, done on the
//! rows of a one-pass scan's batch (`particle_split`), so that a run with forced rows stays
//! one pass (issue 100).
//!
//! A forced keep is kept and rejects every row within the distance rule of it (two forced
//! keeps never reject each other); a forced reject is rejected and rejects nothing; the
//! other rows are decided among themselves as they would be without the file. Which keep
//! rejects a row (its partner) is the one the Python's walks give: the keeps ranked above
//! every other row, walked again, with the rows left, while a keep was rejected by another.

use crate::algo::dedup::{
    dedup_full, dedup_slice, search_radius, DedupParams, DedupResult, Levels, RowFacts, Selection,
};
use crate::errors::DedupError;

/// The decision of rows `first_index..` of a larger set with the `forced` rows among them.
///
/// `forced`: local rows, increasing, and whether each is kept (else rejected). The rows of a
/// group lie together (a one-pass batch's micrographs do). `spare_group`: a group id above
/// every one of `groups`, from which the rows the file decides are each given a group of
/// their own, where they meet no row. Returns the decision (`params.want_suppressed_by`: the
/// partners, a forced keep for a row it rejected, -1 for a forced row) and, per row, whether
/// the file decided it (forced, or rejected by a forced keep).
#[allow(clippy::too_many_arguments)]
pub fn dedup_forced(
    first_index: u64,
    groups: &[u32],
    coords: &[f64],
    dim: usize,
    scores: Option<&[f64]>,
    forced: &[(usize, bool)],
    spare_group: u32,
    params: &DedupParams,
) -> Result<(DedupResult, Vec<bool>), DedupError> {
    let n = groups.len();
    let mut overridden = vec![false; n];
    let mut kept = vec![false; n];
    for &(row, keep) in forced {
        (overridden[row], kept[row]) = (true, keep);
    }
    let keeps: Vec<usize> = forced.iter().filter(|(_, keep)| *keep).map(|&(row, _)| row).collect();
    let free = near_rows(groups, coords, dim, &keeps, &overridden, search_radius(params.min_dist));
    let by = rejected_by_keeps(groups, coords, dim, scores, keeps, free, params)?;
    for (row, &partner) in by.iter().enumerate() {
        overridden[row] |= partner >= 0;
    }
    let mut apart = groups.to_vec();
    let mut next = spare_group;
    for (group, _) in apart.iter_mut().zip(&overridden).filter(|(_, &o)| o) {
        (*group, next) = (next, next.saturating_add(1));
    }
    let mut decided = dedup_slice(first_index, &apart, coords, dim, scores, params)?;
    for row in (0..n).filter(|&row| overridden[row]) {
        decided.keep[row] = kept[row];
        if let Some(partner) = decided.suppressed_by.get_mut(row) {
            *partner = by[row];
        }
    }
    Ok((decided, overridden))
}

/// The rows not forced in a box of the search radius around a forced keep, on its group
/// (increasing): only those can lie within the distance of a keep.
fn near_rows(groups: &[u32], coords: &[f64], dim: usize, keeps: &[usize], forced: &[bool], radius: f64) -> Vec<usize> {
    let side = radius * (1.0 + 1e-6);
    let centre = |row: usize| &coords[row * dim..(row + 1) * dim];
    let mut near = Vec::new();
    for &keep in keeps {
        let group = groups[keep];
        let lo = groups[..keep].iter().rposition(|&g| g != group).map_or(0, |k| k + 1);
        let hi = groups[keep..].iter().position(|&g| g != group).map_or(groups.len(), |k| keep + k);
        let at = centre(keep);
        near.extend(
            (lo..hi).filter(|&row| !forced[row] && centre(row).iter().zip(at).all(|(a, b)| (a - b).abs() <= side)),
        );
    }
    near.sort_unstable();
    near.dedup();
    near
}

/// Per row, the forced keep that rejects it (-1: none), found as `overrides.blocked_by_forced`
/// finds it: the keeps ranked above the `free` rows in a greedy walk; the keeps another keep
/// rejected walk again with the rows not yet rejected, until none is left.
fn rejected_by_keeps(
    groups: &[u32],
    coords: &[f64],
    dim: usize,
    scores: Option<&[f64]>,
    mut keeps: Vec<usize>,
    mut free: Vec<usize>,
    params: &DedupParams,
) -> Result<Vec<i64>, DedupError> {
    let mut by = vec![-1i64; groups.len()];
    // (the keeps walk first, greedily, whatever --select or --remove-entirely says of the rest)
    let greedy = DedupParams {
        selection: Selection::Greedy,
        remove_entirely: false,
        want_suppressed_by: true,
        ..params.clone()
    };
    while !keeps.is_empty() && !free.is_empty() {
        let both: Vec<usize> = keeps.iter().chain(&free).copied().collect();
        let levels: Vec<u32> = both.iter().enumerate().map(|(k, _)| u32::from(k >= keeps.len())).collect();
        let sub_groups: Vec<u32> = both.iter().map(|&row| groups[row]).collect();
        let sub_coords: Vec<f64> =
            both.iter().flat_map(|&row| coords[row * dim..(row + 1) * dim].iter().copied()).collect();
        let sub_scores: Option<Vec<f64>> = scores.map(|s| both.iter().map(|&row| s[row]).collect());
        let rows = RowFacts { priorities: Some(Levels::Rows(&levels)), ..RowFacts::default() };
        let (walked, _) =
            dedup_full(&sub_groups, &sub_coords, dim, sub_scores.as_deref(), None, None, None, rows, &greedy)?;
        let partner = &walked.suppressed_by;
        let k = keeps.len();
        let rejected: Vec<bool> =
            (0..free.len()).map(|j| partner[k + j] >= 0 && (partner[k + j] as usize) < k).collect();
        for (j, &row) in free.iter().enumerate().filter(|&(j, _)| rejected[j]) {
            by[row] = keeps[partner[k + j] as usize] as i64;
        }
        free = free.iter().zip(&rejected).filter(|(_, &r)| !r).map(|(&row, _)| row).collect();
        keeps = keeps.iter().zip(&partner[..k]).filter(|(_, &p)| p >= 0).map(|(&row, _)| row).collect();
    }
    Ok(by)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An independent greedy: the forced keeps kept, the rows within `d` of one rejected by
    /// the first keep (in row order) that reaches it, the forced rejects out; the rest walked by
    /// score, best first.
    /// (`entirely`: the rest by `--remove-entirely`, every row of it with a neighbour among the rest rejected.)
    fn oracle(
        groups: &[u32],
        xy: &[f64],
        scores: &[f64],
        forced: &[(usize, bool)],
        d: f64,
        entirely: bool,
    ) -> Vec<bool> {
        let n = groups.len();
        let state: Vec<Option<bool>> =
            (0..n).map(|row| forced.iter().find(|(r, _)| *r == row).map(|&(_, keep)| keep)).collect();
        let close = |a: usize, b: usize| {
            groups[a] == groups[b] && (xy[2 * a] - xy[2 * b]).powi(2) + (xy[2 * a + 1] - xy[2 * b + 1]).powi(2) <= d * d
        };
        let mut keep: Vec<bool> = state.iter().map(|s| s.unwrap_or(true)).collect();
        let mut out = vec![false; n];
        for row in 0..n {
            out[row] = state[row].is_some() || (0..n).any(|k| state[k] == Some(true) && close(row, k));
        }
        let rest: Vec<usize> = (0..n).filter(|&row| !out[row]).collect();
        if entirely {
            for &row in &rest {
                keep[row] = !rest.iter().any(|&k| k != row && close(row, k));
            }
        } else {
            let mut order = rest;
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            let mut taken: Vec<usize> = Vec::new();
            for row in order {
                keep[row] = !taken.iter().any(|&k| close(row, k));
                if keep[row] {
                    taken.push(row);
                }
            }
        }
        for row in (0..n).filter(|&row| out[row] && state[row].is_none()) {
            keep[row] = false;
        }
        keep
    }

    #[test]
    fn forced_rows_decide_as_the_oracle() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for round in 0..40 {
            let n = 60;
            let groups: Vec<u32> = (0..n).map(|row| (row * 3 / n) as u32).collect();
            let xy: Vec<f64> = (0..2 * n).map(|_| next() * 300.0).collect();
            let scores: Vec<f64> = (0..n).map(|_| next()).collect();
            let mut forced: Vec<(usize, bool)> = Vec::new();
            for row in 0..n {
                if next() < 0.15 {
                    forced.push((row, next() < 0.5 + 0.01 * round as f64));
                }
            }
            let params = DedupParams::keep_best(50.0);
            let (decided, overridden) = dedup_forced(0, &groups, &xy, 2, Some(&scores), &forced, 3, &params).unwrap();
            assert_eq!(decided.keep, oracle(&groups, &xy, &scores, &forced, 50.0, false), "round {round}");
            let entirely = DedupParams { remove_entirely: true, ..params.clone() };
            let (removed, _) = dedup_forced(0, &groups, &xy, 2, Some(&scores), &forced, 3, &entirely).unwrap();
            assert_eq!(removed.keep, oracle(&groups, &xy, &scores, &forced, 50.0, true), "round {round}");
            for &(row, _) in &forced {
                assert!(overridden[row]);
                assert_eq!(decided.suppressed_by[row], -1);
            }
            for row in (0..n).filter(|&row| overridden[row] && !forced.iter().any(|(r, _)| *r == row)) {
                let by = decided.suppressed_by[row] as usize;
                assert!(forced.contains(&(by, true)), "a row the file decided is rejected by a forced keep");
            }
        }
    }
}
