//! A subset's rows matched to its original's (`cryodedup select`): by a key one original row
//! alone holds (a uid, an image), and by position, one to one.
//!
//! The position matching is a maximum bipartite matching of the pairs on one micrograph within
//! the distance: the pairs whose two rows have no other pair are matched at once (nearly all of
//! a subset's), Hopcroft and Karp's algorithm matches the rest, visiting rows and pairs in the
//! same order as the Python code it replaces (`algo/matching.py`), so the same matching comes out.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::algo::grid::Grid;
use crate::algo::kdtree::KdTree;
use crate::algo::keys::WordHasher;

/// A key's row among the original's: none, or several (usable by none).
const NONE: i64 = -1;
const SEVERAL: i64 = -2;

/// Each of `wanted`'s keys (in order) matched to the one row of `keys` holding it, where that
/// row is not yet `taken` (then taken); -1 where none: a key no row or two rows hold, or whose
/// row an earlier wanted key took.
///
/// The table is of the wanted keys (a subset's, the fewer), the original's keys streamed past it:
/// a table of a million original keys took 36 MB and missed the cache on most of its lookups.
pub fn match_keys(keys: &[u64], wanted: &[u64], taken: &mut [bool]) -> Vec<i64> {
    assert_eq!(keys.len(), taken.len(), "a taken flag per original row");
    // Each wanted key's first place (a later place of that key finds its row taken, or none).
    let mut first: HashMap<u64, usize, BuildHasherDefault<WordHasher>> = HashMap::default();
    first.reserve(wanted.len());
    for (at, &key) in wanted.iter().enumerate() {
        first.entry(key).or_insert(at);
    }
    let mut row_of = vec![NONE; wanted.len()];
    for (row, key) in keys.iter().enumerate() {
        if let Some(&at) = first.get(key) {
            row_of[at] = if row_of[at] == NONE { row as i64 } else { SEVERAL };
        }
    }
    row_of
        .into_iter()
        .map(|row| match row {
            row if row >= 0 && !taken[row as usize] => {
                taken[row as usize] = true;
                row
            }
            _ => NONE,
        })
        .collect()
}

/// What [`match_positions`] found, per subset row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionMatch {
    /// The original row matched (-1: none).
    pub partner: Vec<i64>,
    /// Whether the row has more than one original row within the distance, or an original row
    /// within the distance of another subset row.
    pub ambiguous: Vec<bool>,
}

/// The subset rows (`subset`, on micrographs `subset_groups`; a group below 0 is on none)
/// matched one to one to the original rows not `taken` (`original`, `original_groups`) on their
/// micrograph within `radius` (inclusive, squared distances compared), as many as can be.
pub fn match_positions<const D: usize>(
    subset: &[[f64; D]],
    subset_groups: &[i64],
    original: &[[f64; D]],
    original_groups: &[i64],
    taken: &[bool],
    radius: f64,
) -> PositionMatch {
    assert_eq!(subset.len(), subset_groups.len(), "a group per subset row");
    assert_eq!(original.len(), original_groups.len(), "a group per original row");
    assert_eq!(original.len(), taken.len(), "a taken flag per original row");
    let adjacency = pairs_near(subset, subset_groups, original, original_groups, taken, radius);
    let mut per_original = vec![0u32; original.len()];
    for &j in &adjacency.to {
        per_original[j as usize] += 1;
    }
    let ambiguous = (0..subset.len())
        .map(|i| {
            let near = adjacency.of(i);
            near.len() > 1 || near.iter().any(|&j| per_original[j as usize] > 1)
        })
        .collect();
    let partner = maximum_matching(&adjacency, &per_original);
    PositionMatch { partner, ambiguous }
}

/// Each subset row's original rows within the radius, ascending (rows in order, compressed).
struct Adjacency {
    start: Vec<usize>,
    to: Vec<u32>,
}

impl Adjacency {
    fn of(&self, i: usize) -> &[u32] {
        &self.to[self.start[i]..self.start[i + 1]]
    }
}

/// Rows `0..n` of the groups `0..groups` they are in, group by group (a counting sort): the rows
/// of group g are `rows[start[g]..start[g + 1]]`, in order. Rows `kept` refuses are left out.
fn by_group(groups: usize, group_of: &[i64], kept: impl Fn(usize) -> bool) -> (Vec<usize>, Vec<u32>) {
    let mut start = vec![0usize; groups + 1];
    let counted = |r: usize| group_of[r] >= 0 && (group_of[r] as usize) < groups && kept(r);
    for r in (0..group_of.len()).filter(|&r| counted(r)) {
        start[group_of[r] as usize + 1] += 1;
    }
    for g in 0..groups {
        start[g + 1] += start[g];
    }
    let mut rows = vec![0u32; start[groups]];
    let mut next = start.clone();
    for r in (0..group_of.len()).filter(|&r| counted(r)) {
        let g = group_of[r] as usize;
        rows[next[g]] = r as u32;
        next[g] += 1;
    }
    (start, rows)
}

/// The original rows of one micrograph, searchable within the radius.
enum Search<const D: usize> {
    Grid(Grid<D>),
    Tree(KdTree<D>),
}

/// Every (subset row, original row not taken) on one micrograph within `radius`, micrograph by
/// micrograph: a grid of its original rows (a k-d tree where they crowd), searched from each of
/// its subset rows, then dropped (one micrograph's grid held at a time).
fn pairs_near<const D: usize>(
    subset: &[[f64; D]],
    subset_groups: &[i64],
    original: &[[f64; D]],
    original_groups: &[i64],
    taken: &[bool],
    radius: f64,
) -> Adjacency {
    let groups = original_groups.iter().copied().max().map_or(0, |g| (g + 1).max(0) as usize);
    // (a centre not finite is within no distance of any: left out, as the comparison would leave it)
    let finite = |p: &[f64; D]| p.iter().all(|v| v.is_finite());
    let (o_start, o_rows) = by_group(groups, original_groups, |j| !taken[j] && finite(&original[j]));
    let (s_start, s_rows) = by_group(groups, subset_groups, |i| finite(&subset[i]));
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    for g in (0..groups).filter(|&g| radius > 0.0 && s_start[g] < s_start[g + 1] && o_start[g] < o_start[g + 1]) {
        let members = &o_rows[o_start[g]..o_start[g + 1]];
        let points: Vec<[f64; D]> = members.iter().map(|&j| original[j as usize]).collect();
        let search = Grid::new(&points, radius).map_or_else(|| Search::Tree(KdTree::new(&points)), Search::Grid);
        for &i in &s_rows[s_start[g]..s_start[g + 1]] {
            let mut visit = |id: u32, _: f64| pairs.push((i, members[id as usize]));
            match &search {
                Search::Grid(grid) => grid.for_each_within(&subset[i as usize], radius, &mut visit),
                Search::Tree(tree) => tree.for_each_within(&subset[i as usize], radius, &mut visit),
            }
        }
    }
    pairs.sort_unstable();
    let mut start = vec![0usize; subset.len() + 1];
    for &(i, _) in &pairs {
        start[i as usize + 1] += 1;
    }
    for i in 0..subset.len() {
        start[i + 1] += start[i];
    }
    Adjacency { start, to: pairs.into_iter().map(|(_, j)| j).collect() }
}

/// A maximum matching of `adjacency`'s pairs: each subset row's original row, -1 if none.
/// `per_original`: how many pairs each original row is in.
fn maximum_matching(adjacency: &Adjacency, per_original: &[u32]) -> Vec<i64> {
    let n = adjacency.start.len() - 1;
    let mut partner = vec![-1i64; n];
    let mut rest: Vec<usize> = Vec::new();
    for (i, found) in partner.iter_mut().enumerate() {
        match adjacency.of(i) {
            [] => {}
            [j] if per_original[*j as usize] == 1 => *found = i64::from(*j),
            _ => rest.push(i),
        }
    }
    if !rest.is_empty() {
        HopcroftKarp::new(adjacency, rest, per_original.len()).run(&mut partner);
    }
    partner
}

/// No layer: a row the breadth-first search did not reach, or a dead end of the depth-first one.
const UNSET: i64 = i64::MIN;
const DEAD: i64 = -1;

/// Hopcroft and Karp's matching of the rows `left` (ascending), in the order of the Python
/// code it replaces: free rows in ascending order, each row's pairs in ascending order.
struct HopcroftKarp<'a> {
    adjacency: &'a Adjacency,
    left: Vec<usize>,
    match_a: HashMap<usize, u32, BuildHasherDefault<WordHasher>>,
    match_b: Vec<i64>,
    layer: Vec<i64>,
}

impl<'a> HopcroftKarp<'a> {
    fn new(adjacency: &'a Adjacency, left: Vec<usize>, n_original: usize) -> Self {
        let n = adjacency.start.len() - 1;
        let match_a = HashMap::default();
        HopcroftKarp { adjacency, left, match_a, match_b: vec![-1; n_original], layer: vec![UNSET; n] }
    }

    fn run(mut self, partner: &mut [i64]) {
        loop {
            let found = self.layers();
            if found == i64::MAX {
                break;
            }
            let roots: Vec<usize> = self.left.iter().copied().filter(|u| !self.match_a.contains_key(u)).collect();
            for root in roots {
                self.augment(root, found);
            }
        }
        for (&u, &v) in &self.match_a {
            partner[u] = i64::from(v);
        }
    }

    /// Breadth first from every free row: the layers of shortest alternating paths; the length
    /// of the shortest augmenting path (i64::MAX: none).
    fn layers(&mut self) -> i64 {
        for &u in &self.left {
            self.layer[u] = UNSET;
        }
        let mut queue = std::collections::VecDeque::new();
        for &u in &self.left {
            if !self.match_a.contains_key(&u) {
                self.layer[u] = 0;
                queue.push_back(u);
            }
        }
        let mut found = i64::MAX;
        while let Some(u) = queue.pop_front() {
            if self.layer[u] >= found {
                continue;
            }
            for &v in self.adjacency.of(u) {
                match self.match_b[v as usize] {
                    -1 => found = found.min(self.layer[u] + 1),
                    w if self.layer[w as usize] == UNSET => {
                        self.layer[w as usize] = self.layer[u] + 1;
                        queue.push_back(w as usize);
                    }
                    _ => {}
                }
            }
        }
        found
    }

    /// Depth first along the layers from `root`: one augmenting path, flipped into the matching.
    fn augment(&mut self, root: usize, found: i64) -> bool {
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        let mut path: Vec<(usize, u32)> = Vec::new();
        while let Some(&mut (u, ref mut next)) = stack.last_mut() {
            let edges = self.adjacency.of(u);
            let mut advanced = None;
            while *next < edges.len() {
                let v = edges[*next];
                *next += 1;
                let w = self.match_b[v as usize];
                if w == -1 && self.layer[u] + 1 == found {
                    path.push((u, v));
                    for &(pu, pv) in &path {
                        self.match_a.insert(pu, pv);
                        self.match_b[pv as usize] = pu as i64;
                    }
                    return true;
                }
                if w != -1 && self.layer[w as usize] != UNSET && self.layer[w as usize] == self.layer[u] + 1 {
                    path.push((u, v));
                    advanced = Some(w as usize);
                    break;
                }
            }
            match advanced {
                Some(w) => stack.push((w, 0)),
                None => {
                    self.layer[u] = DEAD;
                    stack.pop();
                    path.pop();
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small generator of numbers in [0, 1) (xorshift64*), seeded.
    struct Numbers(u64);

    impl Numbers {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// The size of a maximum matching by plain augmenting paths (Kuhn's algorithm), from every pair.
    fn kuhn(near: &[Vec<usize>], n_original: usize) -> usize {
        fn augment(i: usize, near: &[Vec<usize>], seen: &mut [bool], owner: &mut [Option<usize>]) -> bool {
            for &j in &near[i] {
                if !seen[j] {
                    seen[j] = true;
                    if owner[j].is_none_or(|k| augment(k, near, seen, owner)) {
                        owner[j] = Some(i);
                        return true;
                    }
                }
            }
            false
        }
        let mut owner = vec![None; n_original];
        (0..near.len()).filter(|&i| augment(i, near, &mut vec![false; n_original], &mut owner)).count()
    }

    #[test]
    fn keys_held_once_are_matched_once_in_the_wanted_order() {
        let mut taken = vec![false, false, false, true];
        let found = match_keys(&[7, 8, 8, 9], &[8, 7, 7, 9, 5], &mut taken);
        // 8: two rows hold it; 7: the first wanted takes row 0, the second finds it taken; 9's row was taken.
        assert_eq!(found, vec![-1, 0, -1, -1, -1]);
        assert_eq!(taken, vec![true, false, false, true]);
    }

    #[test]
    fn positions_match_as_many_as_brute_force_within_the_radius() {
        let mut numbers = Numbers(0x9E37_79B9_7F4A_7C15);
        for round in 0..40 {
            let (n_sub, n_orig, radius) = (5 + round % 30, 5 + (round * 7) % 40, 3.0 + (round % 5) as f64);
            let mut point = |side: f64| [numbers.next() * side, numbers.next() * side];
            let side = 10.0 + (round % 4) as f64 * 10.0;
            let original: Vec<[f64; 2]> = (0..n_orig).map(|_| point(side)).collect();
            let subset: Vec<[f64; 2]> = (0..n_sub).map(|_| point(side)).collect();
            let (og, sg): (Vec<i64>, Vec<i64>) =
                ((0..n_orig).map(|j| (j % 3) as i64).collect(), (0..n_sub).map(|i| (i % 4) as i64 - 1).collect());
            let near: Vec<Vec<usize>> = (0..n_sub)
                .map(|i| {
                    (0..n_orig)
                        .filter(|&j| sg[i] >= 0 && sg[i] == og[j])
                        .filter(|&j| {
                            (subset[i][0] - original[j][0]).powi(2) + (subset[i][1] - original[j][1]).powi(2)
                                <= radius * radius
                        })
                        .collect()
                })
                .collect();
            let found = match_positions(&subset, &sg, &original, &og, &vec![false; n_orig], radius);
            let matched: Vec<(usize, usize)> =
                found.partner.iter().enumerate().filter(|(_, &j)| j >= 0).map(|(i, &j)| (i, j as usize)).collect();
            assert_eq!(matched.len(), kuhn(&near, n_orig), "round {round}");
            assert!(matched.iter().all(|&(i, j)| near[i].contains(&j)), "round {round}: a pair beyond the radius");
            let mut partners: Vec<usize> = matched.iter().map(|&(_, j)| j).collect();
            partners.sort_unstable();
            partners.dedup();
            assert_eq!(partners.len(), matched.len(), "round {round}: an original row matched twice");
            for i in 0..n_sub {
                let crowded = near[i].iter().any(|&j| near.iter().filter(|n| n.contains(&j)).count() > 1);
                assert_eq!(found.ambiguous[i], near[i].len() > 1 || crowded, "round {round}, row {i}");
            }
        }
    }
}
