//! One group's work: what it reads, where it writes, its ranking, and the walk chosen for it.

use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use super::neighbourhood::Neighbourhood;
use super::walks::{reject_all_with_neighbours, select_best, suppress_greedily, suppress_greedily_with_masks};
use super::{DedupParams, DedupResult, RowFacts};
use crate::algo::best::{BestCounts, Selection};
use crate::algo::joined::joined_micrographs;
use crate::algo::points::{grouped, masks_of_points, point, GroupId};
use crate::algo::pose::PoseTest;
use crate::algo::priority::{Levels, PriorityCounts, Ranks, Tally};
use crate::algo::rank_keys::{random_key, score_key};
use crate::parallel::Scatter;

/// Everything one group's work needs, shared read-only between threads.
pub(super) struct Input<'a> {
    pub(super) coords: &'a [f64],
    pub(super) scores: Option<&'a [f64]>,
    /// Each particle's input, when masks are wanted.
    pub(super) inputs: Option<&'a [u32]>,
    /// Each particle's tube (0: none): equal non-zero tubes are never duplicates.
    pub(super) tubes: Option<&'a [u32]>,
    pub(super) params: &'a DedupParams,
    /// Duplicates only within this angle, when given.
    pub(super) pose: Option<&'a PoseTest<'a>>,
    /// The index of the first particle in the whole set (for the random ranks).
    pub(super) first_index: u64,
    /// Priority levels and images.
    pub(super) rows: RowFacts<'a>,
}

impl Input<'_> {
    /// The scores the ranking compares, for telling priority's decisions from the score's.
    pub(super) fn ranks(&self) -> Ranks<'_> {
        Ranks { scores: self.scores, higher_is_better: self.params.higher_is_better }
    }

    /// The levels whose decisions are counted: given, and a group has a kept row that the
    /// greedy walk chose (a best selection's sets have no one winner).
    pub(super) fn counted_levels(&self) -> Option<&Levels<'_>> {
        let walked = !self.params.remove_entirely && self.params.selection == Selection::Greedy;
        self.rows.priorities.as_ref().filter(|_| walked)
    }

    /// Notes in `tally` (the group of global row `kept`, made at its first suppression) that
    /// `kept` suppressed global row `row`, where levels are counted.
    #[inline]
    pub(super) fn note(&self, tally: &mut Option<Tally>, kept: u32, row: u32) {
        if let Some(levels) = self.counted_levels() {
            tally.get_or_insert_with(|| Tally::new(kept, levels)).note(row, levels, &self.ranks());
        }
    }

    /// Whether global particles `a` and `b` are segments of one tube (never duplicates).
    pub(super) fn same_tube(&self, a: u32, b: u32) -> bool {
        self.tubes.is_some_and(|t| t[a as usize] != 0 && t[a as usize] == t[b as usize])
    }
}

/// One group's slices of the outputs, aligned with its members (`masks` empty when not
/// wanted), and the thread's priority counts.
pub(super) struct GroupOut<'a> {
    pub(super) keep: &'a mut [bool],
    pub(super) sup: &'a mut [i64],
    pub(super) masks: &'a mut [u64],
    pub(super) counts: &'a mut PriorityCounts,
    pub(super) best: &'a mut BestCounts,
}

pub(super) fn run<const D: usize, G: GroupId>(groups: &[G], input: &Input) -> (DedupResult, Option<Vec<u64>>) {
    let n = groups.len();
    let (order, ranges) = grouped(groups);
    let want_sup = input.params.want_suppressed_by;
    let want_masks = input.inputs.is_some();

    // Each group is worked in a thread's own buffers, aligned with its members, and its
    // results written straight to their particles (no grouped copy scattered afterwards).
    let mut keep = vec![true; n];
    let mut suppressed_by = vec![-1i64; if want_sup { n } else { 0 }];
    let mut masks = vec![0u64; if want_masks { n } else { 0 }];
    let (keep_out, sup_out, masks_out) =
        (Scatter::new(&mut keep), Scatter::new(&mut suppressed_by), Scatter::new(&mut masks));
    let priority = Mutex::new(PriorityCounts::default());
    let best = Mutex::new(BestCounts::default());
    let decide = |buffers: &mut GroupBuffers, members: &[u32], parts: Option<&[u32]>| {
        let mut out = buffers.reset(members.len(), want_sup, want_masks);
        dedup_group::<D>(input, members, parts, &mut out);
        // SAFETY: `order` is a permutation of 0..n, the groups' ranges do not overlap and a
        // unit of joined groups holds their members, each group in one unit or alone, so
        // every particle index is written once, and each output holds n values (or none,
        // and then its buffer is empty too).
        unsafe {
            keep_out.put(members, out.keep);
            sup_out.put(members, out.sup);
            masks_out.put(members, out.masks);
        }
        if out.counts.groups > 0 {
            priority.lock().unwrap_or_else(PoisonError::into_inner).add(out.counts);
        }
        if out.best.components > 0 || out.best.kept > 0 {
            best.lock().unwrap_or_else(PoisonError::into_inner).add(out.best);
        }
    };
    // Micrographs that share an image are walked as one unit (images across micrographs).
    let joined = input.rows.images.map(|images| joined_micrographs(&order, &ranges, images)).unwrap_or_default();
    let alone = |g: usize| !joined.in_unit.get(g).copied().unwrap_or(false);
    ranges
        .par_iter()
        .enumerate()
        .with_min_len(8)
        .filter(|&(g, _)| alone(g))
        .for_each_init(GroupBuffers::default, |buffers, (_, &(lo, hi))| decide(buffers, &order[lo..hi], None));
    joined.units.par_iter().for_each_init(GroupBuffers::default, |buffers, unit| {
        decide(buffers, &unit.members, Some(&unit.parts));
    });
    let priority = input.counted_levels().map(|_| priority.into_inner().unwrap_or_else(PoisonError::into_inner));
    let best = (input.params.selection != Selection::Greedy && !input.params.remove_entirely)
        .then(|| best.into_inner().unwrap_or_else(PoisonError::into_inner));
    (DedupResult { keep, suppressed_by, priority, best }, want_masks.then_some(masks))
}

/// One thread's output buffers, reused from group to group.
#[derive(Default)]
pub(super) struct GroupBuffers {
    pub(super) keep: Vec<bool>,
    pub(super) sup: Vec<i64>,
    pub(super) masks: Vec<u64>,
    pub(super) counts: PriorityCounts,
    pub(super) best: BestCounts,
}

impl GroupBuffers {
    /// Fresh outputs for a group of `len` members (`sup`, `masks` empty when not wanted).
    pub(super) fn reset(&mut self, len: usize, want_sup: bool, want_masks: bool) -> GroupOut<'_> {
        fn refill<T: Copy>(buffer: &mut Vec<T>, len: usize, value: T) {
            buffer.clear();
            buffer.resize(len, value);
        }
        refill(&mut self.keep, len, true);
        refill(&mut self.sup, if want_sup { len } else { 0 }, -1);
        refill(&mut self.masks, if want_masks { len } else { 0 }, 0);
        self.counts.groups = 0;
        self.counts.against_score = 0;
        self.counts.by_priority.fill(0);
        self.best = BestCounts::default();
        let best = &mut self.best;
        GroupOut { keep: &mut self.keep, sup: &mut self.sup, masks: &mut self.masks, counts: &mut self.counts, best }
    }
}

/// The local positions `subset` (into `members`, increasing) from best to worst: by
/// priority level where given, then by score (or random key).
pub(super) fn ranking(input: &Input, members: &[u32], subset: impl Iterator<Item = u32>) -> Vec<u32> {
    let key = |k: u32| {
        let i = members[k as usize] as usize;
        match input.scores {
            Some(scores) => score_key(scores[i], input.params.higher_is_better),
            None => random_key(input.params.seed, input.first_index + i as u64),
        }
    };
    // Scores that are not finite share u64::MAX with no finite score, and the position breaks every tie.
    match input.rows.priorities {
        None => {
            // One u128 a row, the key above the position: a branch-free comparison.
            let mut keyed: Vec<u128> = subset.map(|k| (key(k) as u128) << 32 | k as u128).collect();
            keyed.sort_unstable();
            keyed.into_iter().map(|packed| packed as u32).collect()
        }
        Some(levels) => {
            let mut keyed: Vec<(u32, u64, u32)> =
                subset.map(|k| (levels.of(members[k as usize] as usize), key(k), k)).collect();
            keyed.sort_unstable();
            keyed.into_iter().map(|(_, _, k)| k).collect()
        }
    }
}

/// rows alone are within its distance). `members` are global indices in increasing order;
/// `out` holds this group's slices of the outputs, aligned with `members`.
pub(super) fn dedup_group<const D: usize>(input: &Input, members: &[u32], parts: Option<&[u32]>, out: &mut GroupOut) {
    let member_inputs: Vec<u32> =
        input.inputs.map_or_else(Vec::new, |inputs| members.iter().map(|&i| inputs[i as usize]).collect());
    for (mask, &own) in out.masks.iter_mut().zip(&member_inputs) {
        *mask = 1 << own;
    }
    let best = input.params.selection != Selection::Greedy && !input.params.remove_entirely;
    if members.len() < 2 {
        if best {
            out.best.kept = members.len() as u64;
            out.best.greedy_kept = out.best.kept;
            let score = members.iter().map(|&m| input.scores.map_or(0.0, |s| s[m as usize])).find(|s| s.is_finite());
            (out.best.score, out.best.greedy_score) = (score.unwrap_or(0.0), score.unwrap_or(0.0));
        }
        return;
    }
    let points: Vec<[f64; D]> = members.iter().map(|&i| point::<D>(input.coords, i)).collect();
    let near = Neighbourhood::new(input, members, parts, &points);
    // Masks from the greedy pass's own searches where a pair's test is the distance alone.
    let masks_in_greedy_pass = !out.masks.is_empty()
        && !input.params.remove_entirely
        && !best
        && near.grid().is_some()
        && input.tubes.is_none()
        && input.pose.is_none()
        && input.rows.shapes.is_none()
        && parts.is_none();
    if input.params.remove_entirely {
        reject_all_with_neighbours(&near, out.keep, out.sup);
    } else if best {
        select_best(&near, out);
    } else if masks_in_greedy_pass {
        suppress_greedily_with_masks(&near, out, &member_inputs);
        return;
    } else {
        suppress_greedily(&near, out);
    }
    if out.masks.is_empty() {
        return;
    }
    if input.tubes.is_some() || parts.is_some() || near.shapes.is_some() {
        // Confirmation follows the duplicate test, which leaves out the segments of one tube;
        // joined micrographs confirm within each micrograph only; ellipsoids confirm within them.
        let tubes = input.tubes.is_some();
        for (local, mask) in out.masks.iter_mut().enumerate() {
            let local = local as u32;
            near.for_each_position_near(local, |position, d2| {
                for &m in near.positions.members(position) {
                    let confirms = if tubes {
                        near.is_duplicate(local, m, d2)
                    } else {
                        m != local && near.same_part(local, m) && near.in_shapes(local, m)
                    };
                    if confirms {
                        *mask |= 1 << member_inputs[m as usize];
                    }
                }
            });
        }
    } else {
        // (a grid of these points for the same radius is not made twice)
        masks_of_points(&points, &member_inputs, input.params.radius(), near.grid(), out.masks);
    }
}
