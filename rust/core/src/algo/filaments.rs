//! Filaments: duplicate tubes removed whole (docs/design.md section 8).
//!
//! Segments of one tube lie closer than any sensible minimum distance by design, so they
//! are never duplicates of each other; two tubes that trace the same filament are. Per
//! micrograph, tubes are ranked best first by the best priority level of their segments
//! where levels are given, then by the mean score of their segments (scores that are not
//! finite left out; a tube with no score ranks last; without scores by a seeded random key of
//! its first segment), ties by their first segment. Walking the ranking, a tube is rejected
//! whole when more than half of its segments lie within `min_dist` of a segment of a tube
//! already kept; otherwise it is kept whole. Segment-wise removal between tubes is
//! [`crate::algo::dedup::dedup_with_tubes`].

use std::collections::HashMap;

use rayon::prelude::*;

use crate::algo::dedup::{check_rows, validate, DedupParams, DedupResult, Levels, PriorityCounts, Ranks, RowFacts};
use crate::algo::kdtree::KdTree;
use crate::algo::points::{grouped, point, GroupId};
use crate::algo::rank_keys::{random_key, score_key};
use crate::errors::DedupError;

/// Whole-tube removal. `tubes` holds each particle's tube id (the same id for the segments
/// of one tube on one micrograph; 0 for a particle of no tube, a tube of its own).
/// `params.remove_entirely` is not used: a tube is either covered by better ones or kept.
pub fn dedup_whole_tubes<G: GroupId>(
    groups: &[G],
    coords: &[f64],
    dim: usize,
    scores: Option<&[f64]>,
    tubes: &[u32],
    priorities: Option<Levels>,
    params: &DedupParams,
) -> Result<DedupResult, DedupError> {
    validate(groups, coords, dim, scores, None, None, params)?;
    check_rows(groups.len(), &RowFacts { priorities, images: None, shapes: None })?;
    if tubes.len() != groups.len() {
        return Err(DedupError::Length { what: "tubes", expected: groups.len(), got: tubes.len() });
    }
    let (order, ranges) = grouped(groups);
    let input = Segments { coords, scores, tubes, priorities, params };
    let decided: Vec<Vec<(bool, i64)>> = ranges
        .par_iter()
        .map(|&(lo, hi)| match dim {
            2 => decide_group::<2>(&input, &order[lo..hi]),
            _ => decide_group::<3>(&input, &order[lo..hi]),
        })
        .collect();
    let n = groups.len();
    let mut result = DedupResult { keep: vec![true; n], suppressed_by: vec![-1; n], priority: None, best: None };
    for (&(lo, hi), group) in ranges.iter().zip(decided) {
        for (&i, (keep, by)) in order[lo..hi].iter().zip(group) {
            result.keep[i as usize] = keep;
            result.suppressed_by[i as usize] = by;
        }
    }
    // (a tube's segments are suppressed by the kept tubes' segments near them: counted from those pairs)
    let ranks = Ranks { scores, higher_is_better: params.higher_is_better };
    result.priority = priorities.map(|levels| PriorityCounts::from_pairs(&result.suppressed_by, &levels, &ranks));
    Ok(result)
}

struct Segments<'a> {
    coords: &'a [f64],
    scores: Option<&'a [f64]>,
    tubes: &'a [u32],
    /// The segments' priority levels (lower first), where given.
    priorities: Option<Levels<'a>>,
    params: &'a DedupParams,
}

/// One micrograph: (keep, suppressed_by) of each member, aligned with `members`. No pair
/// list: each segment of a tube asks the tree once, when its tube's turn comes.
fn decide_group<const D: usize>(input: &Segments, members: &[u32]) -> Vec<(bool, i64)> {
    let tube_of = local_tubes(input.tubes, members);
    let n_tubes = tube_of.iter().max().map_or(0, |&t| t + 1);
    let mut segments: Vec<Vec<usize>> = vec![Vec::new(); n_tubes];
    for (k, &t) in tube_of.iter().enumerate() {
        segments[t].push(k);
    }
    let points: Vec<[f64; D]> = members.iter().map(|&i| point::<D>(input.coords, i)).collect();
    let tree = KdTree::new(&points);
    let mut decision = vec![(true, -1i64); members.len()];
    let mut kept_tube = vec![false; n_tubes];
    for t in rank_tubes(input, members, &segments) {
        // The nearest segment of a kept tube (ties: lowest index), for each segment that has one.
        let covered: Vec<(usize, usize)> = segments[t]
            .iter()
            .filter_map(|&k| {
                let mut best: Option<(f64, usize)> = None;
                tree.for_each_within(&points[k], input.params.radius(), |o, d2| {
                    let o = o as usize;
                    if kept_tube[tube_of[o]] && best.is_none_or(|b| (d2, o) < b) {
                        best = Some((d2, o));
                    }
                });
                best.map(|(_, o)| (k, o))
            })
            .collect();
        if 2 * covered.len() <= segments[t].len() {
            kept_tube[t] = true;
            continue;
        }
        let first_by = covered[0].1;
        for &k in &segments[t] {
            decision[k] = (false, members[first_by] as i64);
        }
        for &(k, o) in &covered {
            decision[k] = (false, members[o] as i64);
        }
    }
    decision
}

/// Each member's tube as a local number 0.., in order of first appearance; id 0 is a tube of its own.
fn local_tubes(tubes: &[u32], members: &[u32]) -> Vec<usize> {
    let mut index: HashMap<u32, usize> = HashMap::new();
    let mut next = 0;
    members
        .iter()
        .map(|&i| {
            let id = tubes[i as usize];
            let fresh = next;
            let t = if id == 0 { fresh } else { *index.entry(id).or_insert(fresh) };
            if t == fresh {
                next += 1;
            }
            t
        })
        .collect()
}

/// Local tube numbers, best first: by the best priority level of their segments, then by
/// mean segment score (scores that are not finite left out, no score last), else by a seeded
/// random key of the first segment; ties by first segment.
fn rank_tubes(input: &Segments, members: &[u32], segments: &[Vec<usize>]) -> Vec<usize> {
    let mut keyed: Vec<(u32, u64, usize, usize)> = segments
        .iter()
        .enumerate()
        .map(|(t, segs)| {
            let first = segs[0];
            let key = match input.scores {
                Some(scores) => {
                    let values: Vec<f64> =
                        segs.iter().map(|&k| scores[members[k] as usize]).filter(|s| s.is_finite()).collect();
                    let mean =
                        if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / values.len() as f64 };
                    score_key(mean, input.params.higher_is_better)
                }
                None => random_key(input.params.seed, members[first] as u64),
            };
            let level =
                input.priorities.map_or(0, |p| segs.iter().map(|&k| p.of(members[k] as usize)).min().unwrap_or(0));
            (level, key, first, t)
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, _, _, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(min_dist: f64) -> DedupParams {
        DedupParams::keep_best(min_dist)
    }

    /// Tube 1 (score 0.9) and tube 2 (score 0.5) trace one filament along x, 2 Å apart;
    /// tube 3 runs 100 Å away. Segments 10 Å apart along each tube.
    fn filament() -> (Vec<i64>, Vec<f64>, Vec<f64>, Vec<u32>) {
        let mut coords = Vec::new();
        let (mut scores, mut tubes) = (Vec::new(), Vec::new());
        for (tube, y, score) in [(1u32, 0.0, 0.9), (2, 2.0, 0.5), (3, 100.0, 0.1)] {
            for k in 0..6 {
                coords.extend([k as f64 * 10.0, y]);
                scores.push(score);
                tubes.push(tube);
            }
        }
        (vec![0; 18], coords, scores, tubes)
    }

    #[test]
    fn the_worse_of_two_tubes_on_one_filament_goes_whole() {
        let (groups, coords, scores, tubes) = filament();
        let r = dedup_whole_tubes(&groups, &coords, 2, Some(&scores), &tubes, None, &params(5.0)).unwrap();
        let kept: Vec<u32> = (0..18).filter(|&i| r.keep[i]).map(|i| tubes[i]).collect();
        assert_eq!(kept, [1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3]);
        // Each segment of tube 2 names the tube-1 segment beside it.
        assert_eq!(&r.suppressed_by[6..12], &[0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_tube_half_covered_is_kept() {
        // Tube 2 shares 3 of its 6 segments with tube 1: not more than half, kept whole.
        let (groups, mut coords, scores, tubes) = filament();
        for k in 9..12 {
            coords[2 * k + 1] = 50.0;
        }
        let r = dedup_whole_tubes(&groups, &coords, 2, Some(&scores), &tubes, None, &params(5.0)).unwrap();
        assert!(r.keep.iter().all(|&k| k));
    }

    #[test]
    fn segments_of_one_tube_never_reject_each_other() {
        let (groups, coords, scores, tubes) = filament();
        let r = dedup_whole_tubes(&groups, &coords, 2, Some(&scores), &tubes, None, &params(50.0)).unwrap();
        assert_eq!(r.keep.iter().filter(|&&k| k).count(), 12);
        let no_tubes = vec![0u32; 18];
        let r = dedup_whole_tubes(&groups, &coords, 2, Some(&scores), &no_tubes, None, &params(50.0)).unwrap();
        assert!(r.keep.iter().filter(|&&k| k).count() < 12);
    }

    #[test]
    fn segment_mode_removes_the_covered_segments_only() {
        use crate::algo::dedup::dedup_with_tubes;
        let (groups, coords, scores, tubes) = filament();
        let (r, _) = dedup_with_tubes(&groups, &coords, 2, Some(&scores), None, &tubes, &params(50.0)).unwrap();
        let kept: Vec<u32> = (0..18).filter(|&i| r.keep[i]).map(|i| tubes[i]).collect();
        assert_eq!(kept, [1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3]);
        // At distance 0 too, equal centres of one tube are not duplicates; of two tubes they are.
        let coords = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let (r, masks) = dedup_with_tubes(
            &[0i64, 0, 0],
            &coords,
            2,
            Some(&[3.0, 2.0, 1.0]),
            Some(&[0, 0, 1]),
            &[7, 7, 8],
            &params(0.0),
        )
        .unwrap();
        assert_eq!(r.keep.iter().filter(|&&k| k).count(), 2);
        assert_eq!(masks.unwrap(), [0b11, 0b11, 0b11]);
    }

    #[test]
    fn tubes_of_other_micrographs_never_interact() {
        let (mut groups, coords, scores, tubes) = filament();
        for g in groups.iter_mut().skip(6) {
            *g = 1;
        }
        let r = dedup_whole_tubes(&groups, &coords, 2, Some(&scores), &tubes, None, &params(5.0)).unwrap();
        assert!(r.keep.iter().all(|&k| k));
    }
}
