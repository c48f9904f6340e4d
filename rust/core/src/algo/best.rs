//! The best selection (`--select best-score` or `most-particles`, issue 69): of a group's
//! picks, the set of largest total weight with no two duplicates, a maximum-weight
//! independent set of the conflict graph (an edge joins two duplicates), solved on each
//! connected component of it.
//!
//! - A component of at most [`EXACT_LIMIT`] picks is solved exactly by branch and bound
//!   (bitsets; the bound a greedy clique cover: an independent set holds at most one pick of a
//!   clique), starting from the greedy walk's set, within [`BRANCH_BUDGET`] branches.
//! - A larger component, or one whose search runs out of branches, is solved by the bounded
//!   method: the greedy walk's set, improved by local swaps (one pick in for its kept
//!   neighbours; two picks in for their one kept neighbour) while they gain; its weight is then
//!   at least the greedy's, and at most the clique cover's bound below the best (reported).
//!
//! The set is then made maximal (a pick of weight 0 with no kept neighbour joins), so every
//! rejected pick has a kept neighbour: its partner, the best-ranked one.

/// A component's picks as one set of bits, in the exact search.
type Set = u128;
/// The set of the first pick alone, and the empty set.
const ONE: Set = 1;
const NONE: Set = 0;
/// The largest component solved exactly: a component's picks are one [`Set`]. Measured on
/// connected random discs (benches/RESULTS.md): 0.2-0.4 ms a component of 64 picks, 0.7-15 ms
/// of 128, none of them near the branch budget.
pub const EXACT_LIMIT: usize = Set::BITS as usize;
/// Branches an exact search may take before its component goes to the bounded method: a guard
/// on the time (tens of ms). Measured (benches/RESULTS.md): 189 of 200 spread components of 128
/// picks end within it (200,000 branches: all 200, at twice the time on crowded micrographs).
pub const BRANCH_BUDGET: u64 = 50_000;
/// The most pairs of duplicates a group's conflict graph may hold: 16 bytes a pair while it is
/// built (the pairs' list, then the adjacency lists), so 256 MiB a group at most (one group a
/// worker thread at once). A group with more is walked greedily, as the default does, with no
/// pair held ([`BestCounts::walked`]): 100,000 picks within one distance hold 5e9 pairs.
pub const MAX_PAIRS: usize = 1 << 24;
/// The most pairs a bounded component may hold to be handed on to a proven solver
/// ([`OpenComponent`]; the caller's MILP holds a row a pair): larger ones stay bounded.
/// HiGHS's presolve (which merges the pairs into cliques) runs past its time limit on more:
/// measured on picks spread at random, 20 Å apart at most, about 19 duplicates each, on the
/// loaded 2-core machine: 151,285 pairs presolved in 17 s, a set 4 % heavier than the swaps'
/// within the 30 s a component; 248,612 pairs 35 s of presolve, no set in 50 s; 383,968
/// pairs (20,000 picks in one 800 A square) 37 s, not reduced, no set in 55-67 s (125 s
/// elsewhere). So the cap: the swaps' set stands at once where HiGHS would find none.
pub const OPEN_MAX_PAIRS: usize = 200_000;
/// Passes of local swaps over a bounded component at most (each pass that gains nothing ends it).
const MAX_PASSES: usize = 100;

/// Which set of picks a group keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Selection {
    /// The walk from the best-ranked pick (docs/design.md section 2).
    #[default]
    Greedy,
    /// The largest sum of scores (higher better; a score that is not finite weighs 0).
    BestScore,
    /// The most picks; of sets as large, the better-ranked picks.
    MostParticles,
}

/// What the best selection did, summed over groups: its components and how each was solved,
/// and the picks kept and their scores' sum, the greedy walk's and its own.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BestCounts {
    /// Components of two picks or more.
    pub components: u64,
    /// Components solved exactly.
    pub exact: u64,
    /// Components solved by the bounded method.
    pub bounded: u64,
    /// Picks of the largest component.
    pub largest: u64,
    /// Picks kept and their scores' sum (finite scores) by the greedy walk, and by the best selection.
    pub greedy_kept: u64,
    pub greedy_score: f64,
    pub kept: u64,
    pub score: f64,
    /// In the bounded components: picks kept and at most how many could be (the clique cover);
    /// the scores' sum kept and at most how much could be.
    pub bounded_kept: u64,
    pub bounded_kept_bound: u64,
    pub bounded_score: f64,
    pub bounded_score_bound: f64,
    /// Groups of more than [`MAX_PAIRS`] pairs, walked greedily, and their picks.
    pub walked: u64,
    pub walked_picks: u64,
    /// The bounded components (of at most [`OPEN_MAX_PAIRS`] pairs), for a proven solver to
    /// improve on (members as global rows once the group is placed).
    pub open: Vec<OpenComponent>,
}

/// A bounded component as the bounded method left it: its picks (increasing), its pairs of
/// duplicates (indices into `members`, each pair once, the lower first), each pick's weight
/// and rank in its group (0 the best), whether the bounded set keeps it, and the clique
/// cover's bounds (picks, finite scores' sum).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpenComponent {
    pub members: Vec<u32>,
    pub pairs: Vec<u32>,
    pub weights: Vec<f64>,
    pub position: Vec<u32>,
    pub keep: Vec<bool>,
    pub kept_bound: u64,
    pub score_bound: f64,
}

impl BestCounts {
    /// Adds the counts of `other`.
    pub fn add(&mut self, other: &BestCounts) {
        self.components += other.components;
        self.exact += other.exact;
        self.bounded += other.bounded;
        self.largest = self.largest.max(other.largest);
        self.greedy_kept += other.greedy_kept;
        self.greedy_score += other.greedy_score;
        self.kept += other.kept;
        self.score += other.score;
        self.bounded_kept += other.bounded_kept;
        self.bounded_kept_bound += other.bounded_kept_bound;
        self.bounded_score += other.bounded_score;
        self.bounded_score_bound += other.bounded_score_bound;
        self.walked += other.walked;
        self.walked_picks += other.walked_picks;
        self.open.extend(other.open.iter().cloned());
    }
}

/// A conflict graph on a group's picks 0..n: `neighbours(v)`, symmetric, no loops.
pub struct Graph {
    start: Vec<u32>,
    adjacent: Vec<u32>,
}

impl Graph {
    /// The graph of the pairs `edges` (each once or twice, either way round) on `n` picks, held
    /// as adjacency lists (8 bytes a pair, the pairs' list let go): a counting sort, each
    /// pick's list then sorted and its repeats dropped, in place.
    pub fn from_pairs(n: usize, edges: Vec<(u32, u32)>) -> Graph {
        let mut start = vec![0u32; n + 1];
        for &(a, b) in edges.iter().filter(|&&(a, b)| a != b) {
            start[a as usize + 1] += 1;
            start[b as usize + 1] += 1;
        }
        for v in 0..n {
            start[v + 1] += start[v];
        }
        let mut adjacent = vec![0u32; start[n] as usize];
        let mut next: Vec<u32> = start[..n].to_vec();
        for (a, b) in edges.into_iter().filter(|&(a, b)| a != b) {
            adjacent[next[a as usize] as usize] = b;
            next[a as usize] += 1;
            adjacent[next[b as usize] as usize] = a;
            next[b as usize] += 1;
        }
        // Each list sorted, its repeats dropped, and the lists moved down over the gaps.
        let mut written = 0usize;
        for v in 0..n {
            let (lo, hi) = (start[v] as usize, start[v + 1] as usize);
            adjacent[lo..hi].sort_unstable();
            start[v] = written as u32;
            let mut previous = None;
            for k in lo..hi {
                let u = adjacent[k];
                if previous != Some(u) {
                    adjacent[written] = u;
                    written += 1;
                    previous = Some(u);
                }
            }
        }
        start[n] = written as u32;
        adjacent.truncate(written);
        adjacent.shrink_to_fit();
        Graph { start, adjacent }
    }

    /// Pairs held (each once).
    pub fn pairs(&self) -> usize {
        self.adjacent.len() / 2
    }

    fn len(&self) -> usize {
        self.start.len() - 1
    }

    /// The neighbours of pick `v`, in increasing order.
    pub fn neighbours(&self, v: u32) -> &[u32] {
        &self.adjacent[self.start[v as usize] as usize..self.start[v as usize + 1] as usize]
    }
}

/// What [`select`] decided for a group: each pick kept or not, and each rejected pick's
/// partner (its best-ranked kept neighbour; `u32::MAX` for kept picks).
pub struct Selected {
    pub keep: Vec<bool>,
    pub partner: Vec<u32>,
    pub counts: BestCounts,
}

/// The weights `selection` gives picks of `scores` (as ranked: `higher_is_better` or not)
/// ranked at `position` (0 the best) in a group of `n`: best score, the score (one below 0
/// or not finite weighs 0; lower-is-better scores negated); most picks, `n + 1` a pick (so
/// one more pick outweighs any ranks) plus a rank bonus in (0, 1] (better ranks first).
pub fn weights(selection: Selection, scores: Option<&[f64]>, higher_is_better: bool, position: &[u32]) -> Vec<f64> {
    let n = position.len();
    match (selection, scores) {
        (Selection::BestScore, Some(scores)) => scores
            .iter()
            .map(|&s| {
                let s = if higher_is_better { s } else { -s };
                if s.is_finite() {
                    s.max(0.0)
                } else {
                    0.0
                }
            })
            .collect(),
        _ => position.iter().map(|&p| (n + 1) as f64 + 1.0 - p as f64 / n as f64).collect(),
    }
}

/// The best selection on `graph`: `weights` (>= 0) and `ranked` (the picks best first, the
/// greedy walk's order); `scores` (finite ones summed) for the counts.
pub fn select(graph: &Graph, weights: &[f64], ranked: &[u32], scores: Option<&[f64]>) -> Selected {
    let n = graph.len();
    let mut position = vec![0u32; n];
    for (p, &v) in ranked.iter().enumerate() {
        position[v as usize] = p as u32;
    }
    let greedy = greedy(graph, ranked);
    let mut keep = greedy.clone();
    let mut counts = BestCounts::default();
    let mut seen = vec![false; n];
    for v in 0..n as u32 {
        if seen[v as usize] || graph.neighbours(v).is_empty() {
            continue;
        }
        let component = component_of(graph, v, &mut seen);
        counts.components += 1;
        counts.largest = counts.largest.max(component.len() as u64);
        let exact = match component.len() {
            2 => Some(heavier_of_two(&component, weights, &greedy)),
            size if size <= SMALL => Some(every_subset(graph, &component, weights, &greedy)),
            size if size <= EXACT_LIMIT => exact(graph, &component, weights, &greedy),
            _ => None,
        };
        match exact {
            Some(set) => {
                counts.exact += 1;
                for (k, &m) in component.iter().enumerate() {
                    keep[m as usize] = set >> k & 1 == 1;
                }
            }
            None => {
                counts.bounded += 1;
                improve(graph, &component, weights, &mut keep);
                let (kept_bound, weight_bound) = clique_cover_bound(graph, &component, weights, scores);
                counts.bounded_kept += component.iter().filter(|&&m| keep[m as usize]).count() as u64;
                counts.bounded_kept_bound += kept_bound;
                counts.bounded_score +=
                    component.iter().filter(|&&m| keep[m as usize]).map(|&m| finite(scores, m)).sum::<f64>();
                counts.bounded_score_bound += weight_bound;
                if component.iter().map(|&m| graph.neighbours(m).len()).sum::<usize>() <= 2 * OPEN_MAX_PAIRS {
                    counts.open.push(open_component(graph, &component, weights, &position, (kept_bound, weight_bound)));
                }
            }
        }
    }
    make_maximal(graph, ranked, &mut keep);
    for open in &mut counts.open {
        open.keep = open.members.iter().map(|&m| keep[m as usize]).collect();
    }
    let partner = partners(graph, &keep, &position);
    for (set, kept, score) in
        [(&greedy, &mut counts.greedy_kept, &mut counts.greedy_score), (&keep, &mut counts.kept, &mut counts.score)]
    {
        *kept = set.iter().filter(|&&k| k).count() as u64;
        *score = (0..n as u32).filter(|&v| set[v as usize]).map(|v| finite(scores, v)).sum();
    }
    Selected { keep, partner, counts }
}

/// A bounded component as [`OpenComponent`] holds it (`keep` the bounded set, before the set
/// is made maximal: a pick the solver leaves out may still join), members group-local.
fn open_component(
    graph: &Graph,
    component: &[u32],
    weights: &[f64],
    position: &[u32],
    bounds: (u64, f64),
) -> OpenComponent {
    let local = |m: u32| component.binary_search(&m).expect("a neighbour is in the component") as u32;
    let mut pairs = Vec::new();
    for (k, &m) in component.iter().enumerate() {
        for &u in graph.neighbours(m).iter().filter(|&&u| u > m) {
            pairs.extend([k as u32, local(u)]);
        }
    }
    OpenComponent {
        members: component.to_vec(),
        pairs,
        weights: component.iter().map(|&m| weights[m as usize]).collect(),
        position: component.iter().map(|&m| position[m as usize]).collect(),
        keep: Vec::new(),
        kept_bound: bounds.0,
        score_bound: bounds.1,
    }
}

/// Pick `v`'s score where finite, else 0.
fn finite(scores: Option<&[f64]>, v: u32) -> f64 {
    scores.map(|s| s[v as usize]).filter(|s| s.is_finite()).unwrap_or(0.0)
}

/// The greedy walk on the graph: a pick not yet suppressed is kept and suppresses its neighbours.
pub fn greedy(graph: &Graph, ranked: &[u32]) -> Vec<bool> {
    let mut keep = vec![true; graph.len()];
    for &v in ranked {
        if keep[v as usize] {
            for &u in graph.neighbours(v) {
                keep[u as usize] = false;
            }
        }
    }
    keep
}

/// The best set of a component of two picks (a pair): the heavier, or greedy's of two as heavy.
/// (Most components at normal density are pairs: no search for them.)
fn heavier_of_two(component: &[u32], weights: &[f64], greedy: &[bool]) -> Set {
    let (a, b) = (component[0] as usize, component[1] as usize);
    match weights[a].total_cmp(&weights[b]) {
        std::cmp::Ordering::Greater => ONE,
        std::cmp::Ordering::Less => ONE << 1,
        std::cmp::Ordering::Equal if greedy[a] => ONE,
        std::cmp::Ordering::Equal => ONE << 1,
    }
}

/// The largest component solved by trying every independent subset, in arrays on the stack
/// (a connected component of 10 picks has at most a few hundred: a path of 10, 144).
const SMALL: usize = 10;

/// The best set of a component of at most [`SMALL`] picks, every independent subset tried: the
/// heaviest, or greedy's where none is heavier (as the branch and bound, which starts from it, keeps).
fn every_subset(graph: &Graph, component: &[u32], weights: &[f64], greedy: &[bool]) -> Set {
    let k = component.len();
    let (mut adjacent, mut w) = ([0u32; SMALL], [0.0f64; SMALL]);
    for (i, &m) in component.iter().enumerate() {
        w[i] = weights[m as usize];
        for &u in graph.neighbours(m) {
            adjacent[i] |= 1 << component.iter().position(|&c| c == u).expect("a neighbour is in the component");
        }
    }
    let start = (0..k).filter(|&i| greedy[component[i] as usize]).fold(0u32, |s, i| s | 1 << i);
    let start_weight: f64 = (0..k).filter(|&i| start >> i & 1 == 1).map(|i| w[i]).sum();
    let (weight, set) = heaviest((1u32 << k) - 1, &adjacent, &w);
    (if weight > start_weight { set } else { start }) as Set
}

/// The heaviest independent subset of `candidates` and its weight: its lowest pick in, or out.
fn heaviest(candidates: u32, adjacent: &[u32; SMALL], w: &[f64; SMALL]) -> (f64, u32) {
    if candidates == 0 {
        return (0.0, 0);
    }
    let v = candidates.trailing_zeros() as usize;
    let rest = candidates & !(1 << v);
    let (out_weight, out_set) = heaviest(rest, adjacent, w);
    let (in_weight, in_set) = heaviest(rest & !adjacent[v], adjacent, w);
    if in_weight + w[v] > out_weight {
        (in_weight + w[v], in_set | 1 << v)
    } else {
        (out_weight, out_set)
    }
}

/// The component of pick `v`, in increasing order, each pick marked `seen`.
fn component_of(graph: &Graph, v: u32, seen: &mut [bool]) -> Vec<u32> {
    let mut component = vec![v];
    seen[v as usize] = true;
    let mut next = 0;
    while next < component.len() {
        for &u in graph.neighbours(component[next]) {
            if !seen[u as usize] {
                seen[u as usize] = true;
                component.push(u);
            }
        }
        next += 1;
    }
    component.sort_unstable();
    component
}

/// The exact best set of a component of at most EXACT_LIMIT picks (bit k: `component[k]`), or None
/// when the search takes more than [`BRANCH_BUDGET`] branches.
fn exact(graph: &Graph, component: &[u32], weights: &[f64], greedy: &[bool]) -> Option<Set> {
    let local = |m: u32| component.binary_search(&m).unwrap_or_default();
    let adjacent: Vec<Set> =
        component.iter().map(|&m| graph.neighbours(m).iter().fold(NONE, |set, &u| set | ONE << local(u))).collect();
    let w: Vec<f64> = component.iter().map(|&m| weights[m as usize]).collect();
    let mut by_weight: Vec<usize> = (0..component.len()).collect();
    by_weight.sort_by(|&a, &b| w[b].total_cmp(&w[a]).then(a.cmp(&b)));
    let start = (0..component.len()).filter(|&k| greedy[component[k] as usize]).fold(NONE, |s, k| s | ONE << k);
    let mut search = Search {
        adjacent: &adjacent,
        w: &w,
        by_weight: &by_weight,
        best: start,
        best_weight: weight_of(&w, start),
        branches: 0,
        cliques: Vec::with_capacity(component.len()),
    };
    let all = if component.len() == Set::BITS as usize { Set::MAX } else { (ONE << component.len()) - 1 };
    search.branch(all, 0, 0.0).then_some(search.best)
}

fn weight_of(w: &[f64], set: Set) -> f64 {
    (0..w.len()).filter(|&k| set >> k & 1 == 1).map(|k| w[k]).sum()
}

/// A branch-and-bound search for the heaviest independent set of a component as bitsets.
struct Search<'a> {
    adjacent: &'a [Set],
    w: &'a [f64],
    /// The picks by weight, heaviest first (the clique cover's order).
    by_weight: &'a [usize],
    best: Set,
    best_weight: f64,
    branches: u64,
    /// The bound's cliques (each clique's common neighbours), kept from call to call.
    cliques: Vec<Set>,
}

impl Search<'_> {
    /// Searches the sets that add picks of `candidates` to `chosen` (of weight `weight`);
    /// false when out of branches.
    fn branch(&mut self, mut candidates: Set, mut chosen: Set, mut weight: f64) -> bool {
        self.branches += 1;
        if self.branches > BRANCH_BUDGET {
            return false;
        }
        // A candidate with no candidate neighbour is in some best set: take it.
        let free = bits(candidates).filter(|&k| self.adjacent[k] & candidates == 0).fold(NONE, |s, k| s | ONE << k);
        chosen |= free;
        weight += weight_of(self.w, free);
        candidates &= !free;
        if candidates == 0 {
            if weight > self.best_weight {
                (self.best, self.best_weight) = (chosen, weight);
            }
            return true;
        }
        if weight + self.bound(candidates) <= self.best_weight {
            return true;
        }
        // Branch on the candidate with most candidate neighbours: in, then out.
        let v =
            bits(candidates).max_by_key(|&k| ((self.adjacent[k] & candidates).count_ones(), usize::MAX - k)).unwrap();
        let bit = ONE << v;
        let with = candidates & !self.adjacent[v] & !bit;
        self.branch(with, chosen | bit, weight + self.w[v]) && self.branch(candidates & !bit, chosen, weight)
    }

    /// At most the weight an independent set of `candidates` can have: a greedy clique cover's
    /// heaviest picks (each clique's first, the picks taken heaviest first).
    fn bound(&mut self, candidates: Set) -> f64 {
        let cliques = &mut self.cliques;
        cliques.clear();
        let mut bound = 0.0;
        for &k in self.by_weight.iter().filter(|&&k| candidates >> k & 1 == 1) {
            match cliques.iter_mut().find(|common| **common >> k & 1 == 1) {
                Some(common) => *common &= self.adjacent[k],
                None => {
                    cliques.push(self.adjacent[k]);
                    bound += self.w[k];
                }
            }
        }
        bound
    }
}

/// The set bits of `set`, lowest first.
fn bits(set: Set) -> impl Iterator<Item = usize> {
    let mut rest = set;
    std::iter::from_fn(move || {
        (rest != 0).then(|| {
            let k = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            k
        })
    })
}

/// Local swaps on a component's set in `keep` while they gain: a rejected pick in for its kept
/// neighbours when it outweighs them; two non-adjacent rejected picks whose one kept neighbour
/// is the same pick in for it when they outweigh it. Free picks join after each swap.
fn improve(graph: &Graph, component: &[u32], weights: &[f64], keep: &mut [bool]) {
    let w = |v: u32| weights[v as usize];
    let kept_neighbours = |keep: &[bool], v: u32| graph.neighbours(v).iter().filter(|&&u| keep[u as usize]).count();
    // (a gain must beat rounding: weights are summed in different orders)
    let tolerance = 1e-12 * component.iter().map(|&v| w(v)).sum::<f64>().max(1.0);
    for _ in 0..MAX_PASSES {
        let mut gained = false;
        for &v in component {
            if keep[v as usize] {
                continue;
            }
            let lost: f64 = graph.neighbours(v).iter().filter(|&&u| keep[u as usize]).map(|&u| w(u)).sum();
            if w(v) > lost + tolerance {
                for &u in graph.neighbours(v) {
                    keep[u as usize] = false;
                }
                keep[v as usize] = true;
                gained = true;
            }
        }
        for &u in component {
            if !keep[u as usize] {
                continue;
            }
            let tight: Vec<u32> =
                graph.neighbours(u).iter().copied().filter(|&a| kept_neighbours(keep, a) == 1).collect();
            if let Some((a, b)) = best_pair(graph, &tight, w).filter(|&(a, b)| w(a) + w(b) > w(u) + tolerance) {
                keep[u as usize] = false;
                keep[a as usize] = true;
                keep[b as usize] = true;
                gained = true;
            }
        }
        for &v in component {
            if !keep[v as usize] && kept_neighbours(keep, v) == 0 && w(v) > 0.0 {
                keep[v as usize] = true;
                gained = true;
            }
        }
        if !gained {
            break;
        }
    }
}

/// The heaviest pair of non-adjacent picks of `tight`.
fn best_pair(graph: &Graph, tight: &[u32], w: impl Fn(u32) -> f64) -> Option<(u32, u32)> {
    let mut best: Option<(f64, u32, u32)> = None;
    for (i, &a) in tight.iter().enumerate() {
        for &b in &tight[i + 1..] {
            let pair = w(a) + w(b);
            if graph.neighbours(a).binary_search(&b).is_err() && best.is_none_or(|(most, _, _)| pair > most) {
                best = Some((pair, a, b));
            }
        }
    }
    best.map(|(_, a, b)| (a, b))
}

/// At most how many picks of a component an independent set holds, and at most what sum of
/// (finite) scores: a greedy clique cover (picks by weight, heaviest first; a pick joins the
/// first clique all of whose picks it neighbours) has that many cliques and, each clique's best
/// score summed, that sum.
fn clique_cover_bound(graph: &Graph, component: &[u32], weights: &[f64], scores: Option<&[f64]>) -> (u64, f64) {
    let mut order = component.to_vec();
    order.sort_by(|&a, &b| weights[b as usize].total_cmp(&weights[a as usize]).then(a.cmp(&b)));
    let mut clique_of = std::collections::HashMap::<u32, u32>::new();
    let mut sizes: Vec<u32> = Vec::new();
    let mut best_score: Vec<f64> = Vec::new();
    for &v in &order {
        let mut met = std::collections::HashMap::<u32, u32>::new();
        for u in graph.neighbours(v) {
            if let Some(&c) = clique_of.get(u) {
                *met.entry(c).or_default() += 1;
            }
        }
        let joined = met.iter().filter(|&(&c, &n)| n == sizes[c as usize]).map(|(&c, _)| c).min();
        let c = joined.unwrap_or_else(|| {
            sizes.push(0);
            best_score.push(f64::NEG_INFINITY);
            sizes.len() as u32 - 1
        });
        clique_of.insert(v, c);
        sizes[c as usize] += 1;
        best_score[c as usize] = best_score[c as usize].max(finite(scores, v));
    }
    (sizes.len() as u64, best_score.iter().map(|s| s.max(0.0)).sum())
}

/// Adds, best-ranked first, every pick with no kept neighbour (one of weight 0 may be left out
/// of a best set): then every rejected pick has a kept neighbour.
fn make_maximal(graph: &Graph, ranked: &[u32], keep: &mut [bool]) {
    for &v in ranked {
        if !keep[v as usize] && graph.neighbours(v).iter().all(|&u| !keep[u as usize]) {
            keep[v as usize] = true;
        }
    }
}

/// Each rejected pick's best-ranked kept neighbour (`u32::MAX` for kept picks).
fn partners(graph: &Graph, keep: &[bool], position: &[u32]) -> Vec<u32> {
    (0..keep.len() as u32)
        .map(|v| match keep[v as usize] {
            true => u32::MAX,
            false => graph
                .neighbours(v)
                .iter()
                .copied()
                .filter(|&u| keep[u as usize])
                .min_by_key(|&u| position[u as usize])
                .expect("a maximal set: every rejected pick has a kept neighbour"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded(mut state: u64) -> impl FnMut() -> f64 {
        move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Random discs: `n` points in a square of side `side`, an edge within distance 1.
    fn random_graph(n: usize, side: f64, random: &mut impl FnMut() -> f64) -> Graph {
        let points: Vec<(f64, f64)> = (0..n).map(|_| (random() * side, random() * side)).collect();
        let mut pairs = Vec::new();
        for a in 0..n {
            for b in a + 1..n {
                let (dx, dy) = (points[a].0 - points[b].0, points[a].1 - points[b].1);
                if dx * dx + dy * dy <= 1.0 {
                    pairs.push((a as u32, b as u32));
                }
            }
        }
        Graph::from_pairs(n, pairs)
    }

    /// The heaviest independent set's weight, every subset tried (an independent oracle).
    fn brute_force(graph: &Graph, weights: &[f64]) -> f64 {
        let n = graph.len();
        let mut best = 0.0f64;
        for set in 0u32..1 << n {
            let independent = (0..n as u32)
                .filter(|&v| set >> v & 1 == 1)
                .all(|v| graph.neighbours(v).iter().all(|&u| set >> u & 1 == 0));
            if independent {
                best = best.max((0..n).filter(|&v| set >> v & 1 == 1).map(|v| weights[v]).sum());
            }
        }
        best
    }

    fn check_valid(graph: &Graph, selected: &Selected) {
        for v in 0..graph.len() as u32 {
            let kept_neighbours = graph.neighbours(v).iter().filter(|&&u| selected.keep[u as usize]).count();
            if selected.keep[v as usize] {
                assert_eq!(kept_neighbours, 0, "kept pick {v} has a kept neighbour");
                assert_eq!(selected.partner[v as usize], u32::MAX);
            } else {
                let partner = selected.partner[v as usize];
                assert!(selected.keep[partner as usize] && graph.neighbours(v).contains(&partner));
            }
        }
    }

    #[test]
    fn equals_an_exhaustive_search_on_random_small_components() {
        let mut random = seeded(69);
        for trial in 0..300 {
            let n = 2 + trial % 15;
            let graph = random_graph(n, 1.0 + random() * 2.5, &mut random);
            let scores: Vec<f64> = (0..n).map(|_| (random() * 10.0).round() / 2.0).collect();
            let mut ranked: Vec<u32> = (0..n as u32).collect();
            ranked.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]).then(a.cmp(&b)));
            let mut position = vec![0u32; n];
            for (p, &v) in ranked.iter().enumerate() {
                position[v as usize] = p as u32;
            }
            for selection in [Selection::BestScore, Selection::MostParticles] {
                let w = weights(selection, Some(&scores), true, &position);
                let selected = select(&graph, &w, &ranked, Some(&scores));
                check_valid(&graph, &selected);
                let got: f64 = (0..n).filter(|&v| selected.keep[v]).map(|v| w[v]).sum();
                let best = brute_force(&graph, &w);
                assert!((got - best).abs() <= 1e-9 * best.max(1.0), "trial {trial} {selection:?}: {got} != {best}");
                assert_eq!(selected.counts.bounded, 0);
                // Never worse than the greedy walk.
                let greedy = greedy(&graph, &ranked);
                let greedy_weight: f64 = (0..n).filter(|&v| greedy[v]).map(|v| w[v]).sum();
                assert!(got >= greedy_weight - 1e-9);
            }
        }
    }

    #[test]
    fn adjacency_lists_hold_each_pair_once_whatever_the_order() {
        // Pairs given once, twice, either way round, and loops: each pick's neighbours as a set would hold them.
        let mut random = seeded(77);
        for trial in 0..50 {
            let n = 1 + trial % 20;
            let pairs: Vec<(u32, u32)> =
                (0..3 * n).map(|_| ((random() * n as f64) as u32, (random() * n as f64) as u32)).collect();
            let mut oracle = vec![std::collections::BTreeSet::new(); n];
            for &(a, b) in pairs.iter().filter(|&&(a, b)| a != b) {
                oracle[a as usize].insert(b);
                oracle[b as usize].insert(a);
            }
            let graph = Graph::from_pairs(n, pairs);
            for (v, want) in oracle.iter().enumerate() {
                assert_eq!(graph.neighbours(v as u32), want.iter().copied().collect::<Vec<u32>>(), "trial {trial}");
            }
            assert_eq!(graph.pairs(), oracle.iter().map(std::collections::BTreeSet::len).sum::<usize>() / 2);
        }
    }

    #[test]
    fn most_particles_by_hand() {
        // A path a - b - c, b the best: greedy keeps b; the most particles are a and c.
        let graph = Graph::from_pairs(3, vec![(0, 1), (1, 2)]);
        let scores = [1.0, 3.0, 1.0];
        let ranked = [1, 0, 2];
        let w = weights(Selection::MostParticles, Some(&scores), true, &[1, 0, 2]);
        let selected = select(&graph, &w, &ranked, Some(&scores));
        assert_eq!(selected.keep, [true, false, true]);
        assert_eq!(selected.partner[1], 0);
        assert_eq!((selected.counts.greedy_kept, selected.counts.kept), (1, 2));
        assert_eq!((selected.counts.greedy_score, selected.counts.score), (3.0, 2.0));
        // The best score: b alone (3) beats a and c (2).
        let w = weights(Selection::BestScore, Some(&scores), true, &[1, 0, 2]);
        assert_eq!(select(&graph, &w, &ranked, Some(&scores)).keep, [false, true, false]);
    }

    #[test]
    fn zero_weights_still_leave_every_rejected_pick_a_kept_neighbour() {
        let graph = Graph::from_pairs(3, vec![(0, 1), (1, 2)]);
        let scores = [f64::NAN, 0.0, -1.0];
        let w = weights(Selection::BestScore, Some(&scores), true, &[0, 1, 2]);
        assert_eq!(w, [0.0, 0.0, 0.0]);
        let selected = select(&graph, &w, &[0, 1, 2], Some(&scores));
        check_valid(&graph, &selected);
    }

    #[test]
    fn large_components_are_bounded_between_the_greedy_and_the_cover() {
        let mut random = seeded(7);
        for _ in 0..5 {
            let n = 400;
            let graph = random_graph(n, 12.0, &mut random);
            let scores: Vec<f64> = (0..n).map(|_| random()).collect();
            let mut ranked: Vec<u32> = (0..n as u32).collect();
            ranked.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]));
            let mut position = vec![0u32; n];
            for (p, &v) in ranked.iter().enumerate() {
                position[v as usize] = p as u32;
            }
            let w = weights(Selection::BestScore, Some(&scores), true, &position);
            let selected = select(&graph, &w, &ranked, Some(&scores));
            check_valid(&graph, &selected);
            let c = &selected.counts;
            assert!(c.bounded > 0 && c.largest > EXACT_LIMIT as u64);
            assert!(c.score >= c.greedy_score - 1e-9, "{} < {}", c.score, c.greedy_score);
            assert!(c.bounded_score <= c.bounded_score_bound + 1e-9);
            assert!(c.bounded_kept <= c.bounded_kept_bound);
        }
    }
}
