//! The walks that decide a group: greedy suppression (with or without the consensus masks),
//! the best selection, and removing entirely.

use super::group::{ranking, GroupOut};
use super::neighbourhood::Neighbourhood;
use crate::algo::best::{self, Graph};

/// suppresses the particles within `min_dist` that are not yet suppressed (a suppressed one
/// suppresses nothing). No pair list: each kept particle searches the tree once. Kept
/// particles are pairwise more than `min_dist` apart, so a position is met by only a few
/// kept particles' searches (at most 5 in 2-D, 12 in 3-D) and the work is near-linear in any
/// geometry, a thousand picks on one spot included.
pub(super) fn suppress_greedily<const D: usize>(near: &Neighbourhood<D>, out: &mut GroupOut) {
    let (members, keep, sup) = (near.members, &mut *out.keep, &mut *out.sup);
    let ranked = match near.members_with_duplicates() {
        Some(walked) => ranking(near.input, members, walked.into_iter()),
        None => ranking(near.input, members, 0..members.len() as u32),
    };
    for r in ranked {
        if !keep[r as usize] {
            continue;
        }
        let mut tally = None;
        near.for_each_position_near(r, |position, d2| {
            for &other in near.positions.members(position) {
                if keep[other as usize] && near.is_duplicate(r, other, d2) {
                    reject(keep, sup, other, members[r as usize]);
                    near.input.note(&mut tally, members[r as usize], members[other as usize]);
                }
            }
        });
        if near.images.is_some() {
            near.reject_same_image(r, keep, sup, &mut tally);
        }
        if let Some(tally) = &tally {
            out.counts.count(tally);
        }
    }
}

/// Best-selection mode ([`crate::algo::best`]): the conflict graph of the group's duplicates
/// (the pairs [`Neighbourhood::is_duplicate`] accepts, and rows of one image elsewhere), its
/// heaviest independent set kept; each rejected row names its best-ranked kept duplicate.
/// Priority levels only order the ranking (the weights ignore them: the job refuses `--prefer`).
/// A group of more than [`best::MAX_PAIRS`] pairs is walked greedily instead (memory bounded).
pub(super) fn select_best<const D: usize>(near: &Neighbourhood<D>, out: &mut GroupOut) {
    let (members, input) = (near.members, near.input);
    let mut pairs = Vec::new();
    for local in 0..members.len() as u32 {
        if pairs.len() > best::MAX_PAIRS {
            drop(pairs);
            return walk_best(near, out);
        }
        near.for_each_position_near(local, |position, d2| {
            for &other in near.positions.members(position) {
                if other > local && near.is_duplicate(local, other, d2) {
                    pairs.push((local, other));
                }
            }
        });
        pairs.extend(near.same_image_elsewhere(local).map(|other| (local, other)));
    }
    let graph = Graph::from_pairs(members.len(), pairs);
    let ranked = ranking(input, members, 0..members.len() as u32);
    let mut position = vec![0u32; members.len()];
    for (p, &v) in ranked.iter().enumerate() {
        position[v as usize] = p as u32;
    }
    let scores: Option<Vec<f64>> = input.scores.map(|s| members.iter().map(|&m| s[m as usize]).collect());
    let (params, scores) = (input.params, scores.as_deref());
    let weights = best::weights(params.selection, scores, params.higher_is_better, &position);
    let mut selected = best::select(&graph, &weights, &ranked, scores);
    for (local, &partner) in selected.partner.iter().enumerate() {
        if partner != u32::MAX {
            reject(out.keep, out.sup, local as u32, members[partner as usize]);
        }
    }
    for open in &mut selected.counts.open {
        open.members.iter_mut().for_each(|m| *m = members[*m as usize]);
    }
    *out.best = selected.counts;
}

/// A group too large for the best selection's graph: the greedy walk's set, counted as walked.
pub(super) fn walk_best<const D: usize>(near: &Neighbourhood<D>, out: &mut GroupOut) {
    suppress_greedily(near, out);
    let kept: Vec<u32> = (0..near.members.len()).filter(|&k| out.keep[k]).map(|k| near.members[k]).collect();
    let score: f64 =
        near.input.scores.map_or(0.0, |s| kept.iter().map(|&m| s[m as usize]).filter(|s| s.is_finite()).sum());
    let c = &mut *out.best;
    (c.walked, c.walked_picks) = (1, near.members.len() as u64);
    (c.kept, c.greedy_kept, c.score, c.greedy_score) = (kept.len() as u64, kept.len() as u64, score, score);
}

/// [`suppress_greedily`] that also sets the consensus masks (bit `inputs[m]` in the mask of
/// every particle within `min_dist` of particle `m`) from the same searches, for a group
/// whose duplicates are all pairs within `min_dist` (no tubes, no orientations) and whose
/// positions are its particles. Each kept particle's search meets every pair it is in; the
/// pairs of two suppressed particles come from one more search per suppressed particle.
/// So a group is searched once per particle, not once per kept particle and then once per
/// particle for the masks (a tenth of the decision at 10M picks of two pickers).
pub(super) fn suppress_greedily_with_masks<const D: usize>(
    near: &Neighbourhood<D>,
    out: &mut GroupOut,
    inputs: &[u32],
) {
    let (members, keep, sup, masks) = (near.members, &mut *out.keep, &mut *out.sup, &mut *out.masks);
    let mut searched = vec![false; members.len()];
    for r in ranking(near.input, members, 0..members.len() as u32) {
        if !keep[r as usize] {
            continue;
        }
        searched[r as usize] = true;
        let mut tally = None;
        near.for_each_position_near(r, |position, d2| {
            for &other in near.positions.members(position) {
                if other != r {
                    masks[r as usize] |= 1 << inputs[other as usize];
                    masks[other as usize] |= 1 << inputs[r as usize];
                }
                if keep[other as usize] && near.is_duplicate(r, other, d2) {
                    reject(keep, sup, other, members[r as usize]);
                    near.input.note(&mut tally, members[r as usize], members[other as usize]);
                }
            }
        });
        if near.images.is_some() {
            near.reject_same_image(r, keep, sup, &mut tally);
        }
        if let Some(tally) = &tally {
            out.counts.count(tally);
        }
    }
    for s in (0..members.len() as u32).filter(|&s| !searched[s as usize]) {
        near.for_each_position_near(s, |position, _| {
            for &other in near.positions.members(position) {
                if !searched[other as usize] {
                    masks[s as usize] |= 1 << inputs[other as usize];
                }
            }
        });
    }
}

/// Remove-entirely mode: every particle with a duplicate goes, naming its nearest duplicate
/// (ties: the lowest index), else the first other row of its image elsewhere. One
/// nearest-neighbour search each, in the tree of distinct positions: coincident particles
/// (all picks at (0, 0) after a bad conversion) share one tree point, so no search wades
/// through them.
pub(super) fn reject_all_with_neighbours<const D: usize>(near: &Neighbourhood<D>, keep: &mut [bool], sup: &mut [i64]) {
    for local in 0..near.members.len() as u32 {
        let nearest = near.nearest_duplicate(local).map(|(_, other)| other);
        if let Some(other) = nearest.or_else(|| near.same_image_elsewhere(local).next()) {
            reject(keep, sup, local, near.members[other as usize]);
        }
    }
}

pub(super) fn reject(keep: &mut [bool], sup: &mut [i64], local: u32, by_global: u32) {
    keep[local as usize] = false;
    if let Some(s) = sup.get_mut(local as usize) {
        *s = by_global as i64; // sup is empty when not wanted
    }
}
