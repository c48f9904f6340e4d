//! Duplicate particles: per micrograph, score-ordered greedy suppression within a minimum
//! distance (or "remove entirely"), micrographs processed in parallel.
//!
//! Semantics (docs/design.md section 2): two particles of the same group are duplicates when
//! their squared distance is `<= r^2`, `r` being `min_dist` and never below [`SAME_CENTRE`]
//! (so `min_dist` 0 finds copies that agree to floating-point error). Particles are ranked by
//! priority level where given (lower first, whatever the scores), then by score (best first,
//! ties by input order; a score that is not finite means "none" and ranks last) or by a seeded
//! random key. Walking the ranking, a particle not yet suppressed is kept and suppresses every
//! particle within `min_dist` (and, where images are given, every other row of its image at
//! another centre); a suppressed particle suppresses nothing.

use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

pub use crate::algo::best::Selection;
use crate::algo::best::{self, BestCounts, Graph};
use crate::algo::ellipsoid::{conflict, EllipsoidTest, Shape};
use crate::algo::grid::{Grid, PAIR_MARGIN};
use crate::algo::joined::joined_micrographs;
use crate::algo::kdtree::KdTree;
use crate::algo::points::{check_coordinates, check_min_dist, grouped, masks_of_points, point, MAX_MASK_INPUTS};
pub use crate::algo::points::{search_radius, GroupId, SAME_CENTRE};
use crate::algo::pose::PoseTest;
use crate::algo::priority::Tally;
pub use crate::algo::priority::{Levels, PriorityCounts, Ranks};
pub use crate::algo::rank_keys::{random_key, score_key};
use crate::errors::DedupError;
use crate::parallel::Scatter;

#[derive(Clone, Debug)]
pub struct DedupParams {
    /// Minimum separation, same unit as the coordinates (Å). 0 means identical centres
    /// (within [`SAME_CENTRE`]).
    pub min_dist: f64,
    /// Rank higher scores first (else lower first). Ignored without scores.
    pub higher_is_better: bool,
    /// Reject every particle that has any other particle within `min_dist`.
    pub remove_entirely: bool,
    /// Seed of the random ranking used when there are no scores.
    pub seed: u64,
    /// Fill `DedupResult::suppressed_by` (8 bytes per particle; only pictures need it).
    pub want_suppressed_by: bool,
    /// Which set a group keeps: the greedy walk's, or the best one ([`crate::algo::best`]).
    pub selection: Selection,
}

/// Per-row facts beyond centres and scores that the ranking and the duplicate test use.
#[derive(Clone, Copy, Debug, Default)]
pub struct RowFacts<'a> {
    /// Priority levels (each row's, or each input's): a lower level ranks before a higher
    /// one whatever the scores; the score decides within a level (`--prefer`,
    /// docs/design.md section 2). The groups each level decided are then counted.
    pub priorities: Option<Levels<'a>>,
    /// Each row's image (0: not known). Two rows of one image at different centres are
    /// duplicates whatever their distance (`--same-image reject`); rows of one image at one
    /// centre are symmetry-expanded copies, left to the distance rule.
    pub images: Option<&'a [u64]>,
    /// Each row's exclusion ellipsoid in its own frame (`--min-dist-ellipsoid`): two rows
    /// within the search radius are duplicates only where either centre lies inside the
    /// other's ellipsoid ([`crate::algo::ellipsoid`]); the radius searched is then the
    /// largest semi-axis, whatever `min_dist` says. 3-D centres only.
    pub shapes: Option<&'a EllipsoidTest<'a>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DedupResult {
    pub keep: Vec<bool>,
    /// For a rejected particle: a kept particle within `min_dist` that ranks above it (in
    /// remove-entirely mode: its nearest neighbour). -1 for kept particles.
    pub suppressed_by: Vec<i64>,
    /// With priority levels (and not removing entirely): how many groups each level decided.
    pub priority: Option<PriorityCounts>,
    /// With a best selection: its components, how each was solved, and how it differs from the greedy walk.
    pub best: Option<BestCounts>,
}

impl DedupParams {
    /// The default rule at `min_dist`: the greedy walk, higher scores first, seed 0, pairs wanted.
    pub fn keep_best(min_dist: f64) -> DedupParams {
        DedupParams {
            min_dist,
            higher_is_better: true,
            remove_entirely: false,
            seed: 0,
            want_suppressed_by: true,
            selection: Selection::Greedy,
        }
    }

    /// The radius within which two particles are duplicates ([`search_radius`]).
    pub fn radius(&self) -> f64 {
        search_radius(self.min_dist)
    }
}

/// Runs the duplicate removal. `coords` is row-major, `dim` (2 or 3) values per particle.
pub fn dedup<G: GroupId>(
    groups: &[G],
    coords: &[f64],
    dim: usize,
    scores: Option<&[f64]>,
    params: &DedupParams,
) -> Result<DedupResult, DedupError> {
    dedup_slice(0, groups, coords, dim, scores, params)
}

/// [`dedup_full`] for filament segments: two particles with the same non-zero `tubes`
/// id (one id per tube and micrograph) are never duplicates, so segments of one tube never
/// suppress or confirm each other; id 0 is a particle of no tube (docs/design.md section 8).
pub fn dedup_with_tubes<G: GroupId>(
    groups: &[G],
    coords: &[f64],
    dim: usize,
    scores: Option<&[f64]>,
    inputs: Option<&[u32]>,
    tubes: &[u32],
    params: &DedupParams,
) -> Result<(DedupResult, Option<Vec<u64>>), DedupError> {
    if tubes.len() != groups.len() {
        return Err(DedupError::Length { what: "tubes", expected: groups.len(), got: tubes.len() });
    }
    dedup_full(groups, coords, dim, scores, inputs, Some(tubes), None, RowFacts::default(), params)
}

/// Every variant at once: with `inputs` (each particle's input, below
/// [`MAX_MASK_INPUTS`]) the masks of `consensus::support_masks`
/// in the same pass over each micrograph, the filament rule with `tubes`, the
/// orientation rule with `pose` (two particles within `min_dist` are duplicates only if
/// their orientations are within its maximum angle, docs/design.md section 9; the angle is
/// computed for the close pairs only), priorities and images with `rows`.
#[allow(clippy::too_many_arguments)]
pub fn dedup_full<G: GroupId>(
    groups: &[G],
    coords: &[f64],
    dim: usize,
    scores: Option<&[f64]>,
    inputs: Option<&[u32]>,
    tubes: Option<&[u32]>,
    pose: Option<&PoseTest>,
    rows: RowFacts,
    params: &DedupParams,
) -> Result<(DedupResult, Option<Vec<u64>>), DedupError> {
    validate(groups, coords, dim, scores, inputs, pose, params)?;
    check_rows(groups.len(), &rows)?;
    if rows.shapes.is_some() && dim != 3 {
        return Err(DedupError::Dimension(dim)); // (an ellipsoid in a particle's frame needs its z)
    }
    // With ellipsoids the radius searched is their largest semi-axis.
    let widened = rows.shapes.map(|shapes| DedupParams { min_dist: shapes.reach(), ..params.clone() });
    let params = widened.as_ref().unwrap_or(params);
    let input = Input { coords, scores, inputs, tubes, params, pose, first_index: 0, rows };
    Ok(run_in(dim, groups, &input))
}

/// Checks the lengths of the per-row facts.
pub(crate) fn check_rows(n: usize, rows: &RowFacts) -> Result<(), DedupError> {
    if let Some(levels) = rows.priorities {
        levels.check(n)?;
    }
    if let Some(shapes) = rows.shapes {
        shapes.check(n)?;
    }
    match rows.images.filter(|i| i.len() != n) {
        Some(i) => Err(DedupError::Length { what: "images", expected: n, got: i.len() }),
        None => Ok(()),
    }
}

/// [`dedup`] of particles `first_index..first_index + groups.len()` of a larger set, whose
/// groups (micrographs) all lie within this slice: the same decisions as the whole set's,
/// random ranks included (they follow each particle's index in the whole set). For a file
/// decided micrograph by micrograph as it streams by.
pub fn dedup_slice<G: GroupId>(
    first_index: u64,
    groups: &[G],
    coords: &[f64],
    dim: usize,
    scores: Option<&[f64]>,
    params: &DedupParams,
) -> Result<DedupResult, DedupError> {
    validate(groups, coords, dim, scores, None, None, params)?;
    let rows = RowFacts::default();
    Ok(run_in(dim, groups, &Input { coords, scores, inputs: None, tubes: None, params, pose: None, first_index, rows })
        .0)
}

/// [`run`] for points of `dim` (2 or 3, validated) coordinates.
fn run_in<G: GroupId>(dim: usize, groups: &[G], input: &Input) -> (DedupResult, Option<Vec<u64>>) {
    match dim {
        2 => run::<2, G>(groups, input),
        _ => run::<3, G>(groups, input),
    }
}

/// Checks the arrays' lengths and values and the parameters.
pub(crate) fn validate<G: GroupId>(
    groups: &[G],
    coords: &[f64],
    dim: usize,
    scores: Option<&[f64]>,
    inputs: Option<&[u32]>,
    pose: Option<&PoseTest>,
    params: &DedupParams,
) -> Result<(), DedupError> {
    let n = groups.len();
    if let Some(pose) = pose {
        if pose.poses.len() != 3 * n {
            return Err(DedupError::Length { what: "poses", expected: n, got: pose.poses.len() / 3 });
        }
        if let Some(index) = pose.poses.iter().position(|c| !c.is_finite()) {
            return Err(DedupError::NonFinitePose { index: index / 3 });
        }
    }
    if let Some(inputs) = inputs {
        if inputs.len() != n {
            return Err(DedupError::Length { what: "inputs", expected: n, got: inputs.len() });
        }
        let limit = MAX_MASK_INPUTS;
        if let Some(index) = inputs.iter().position(|&i| i >= limit) {
            return Err(DedupError::InputOutOfRange { index, limit });
        }
    }
    if dim != 2 && dim != 3 {
        return Err(DedupError::Dimension(dim));
    }
    if coords.len() != n * dim {
        return Err(DedupError::Length { what: "coords", expected: n * dim, got: coords.len() / dim });
    }
    if let Some(s) = scores {
        if s.len() != n {
            return Err(DedupError::Length { what: "scores", expected: n, got: s.len() });
        }
    }
    check_min_dist(params.min_dist)?;
    if n >= u32::MAX as usize {
        return Err(DedupError::TooMany(n));
    }
    check_coordinates(coords, dim)
}

/// Everything one group's work needs, shared read-only between threads.
struct Input<'a> {
    coords: &'a [f64],
    scores: Option<&'a [f64]>,
    /// Each particle's input, when masks are wanted.
    inputs: Option<&'a [u32]>,
    /// Each particle's tube (0: none): equal non-zero tubes are never duplicates.
    tubes: Option<&'a [u32]>,
    params: &'a DedupParams,
    /// Duplicates only within this angle, when given.
    pose: Option<&'a PoseTest<'a>>,
    /// The index of the first particle in the whole set (for the random ranks).
    first_index: u64,
    /// Priority levels and images.
    rows: RowFacts<'a>,
}

impl Input<'_> {
    /// The scores the ranking compares, for telling priority's decisions from the score's.
    fn ranks(&self) -> Ranks<'_> {
        Ranks { scores: self.scores, higher_is_better: self.params.higher_is_better }
    }

    /// The levels whose decisions are counted: given, and a group has a kept row that the
    /// greedy walk chose (a best selection's sets have no one winner).
    fn counted_levels(&self) -> Option<&Levels<'_>> {
        let walked = !self.params.remove_entirely && self.params.selection == Selection::Greedy;
        self.rows.priorities.as_ref().filter(|_| walked)
    }

    /// Notes in `tally` (the group of global row `kept`, made at its first suppression) that
    /// `kept` suppressed global row `row`, where levels are counted.
    #[inline]
    fn note(&self, tally: &mut Option<Tally>, kept: u32, row: u32) {
        if let Some(levels) = self.counted_levels() {
            tally.get_or_insert_with(|| Tally::new(kept, levels)).note(row, levels, &self.ranks());
        }
    }

    /// Whether global particles `a` and `b` are segments of one tube (never duplicates).
    fn same_tube(&self, a: u32, b: u32) -> bool {
        self.tubes.is_some_and(|t| t[a as usize] != 0 && t[a as usize] == t[b as usize])
    }
}

/// One group's slices of the outputs, aligned with its members (`masks` empty when not
/// wanted), and the thread's priority counts.
struct GroupOut<'a> {
    keep: &'a mut [bool],
    sup: &'a mut [i64],
    masks: &'a mut [u64],
    counts: &'a mut PriorityCounts,
    best: &'a mut BestCounts,
}

fn run<const D: usize, G: GroupId>(groups: &[G], input: &Input) -> (DedupResult, Option<Vec<u64>>) {
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
struct GroupBuffers {
    keep: Vec<bool>,
    sup: Vec<i64>,
    masks: Vec<u64>,
    counts: PriorityCounts,
    best: BestCounts,
}

impl GroupBuffers {
    /// Fresh outputs for a group of `len` members (`sup`, `masks` empty when not wanted).
    fn reset(&mut self, len: usize, want_sup: bool, want_masks: bool) -> GroupOut<'_> {
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
fn ranking(input: &Input, members: &[u32], subset: impl Iterator<Item = u32>) -> Vec<u32> {
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

/// Bit pattern of a point, with -0.0 folded onto 0.0, for exact matching.
fn exact_key<const D: usize>(p: &[f64; D]) -> [u64; D] {
    let mut key = [0u64; D];
    for k in 0..D {
        key[k] = (p[k] + 0.0).to_bits();
    }
    key
}

/// One group, or micrographs joined by their images (`parts`: each member's micrograph, whose
/// rows alone are within its distance). `members` are global indices in increasing order;
/// `out` holds this group's slices of the outputs, aligned with `members`.
fn dedup_group<const D: usize>(input: &Input, members: &[u32], parts: Option<&[u32]>, out: &mut GroupOut) {
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

/// The neighbours of a group's particles: its distinct positions and a search of them, a
/// uniform grid (radius searches among spread points) or else a k-d tree.
struct Neighbourhood<'a, const D: usize> {
    input: &'a Input<'a>,
    members: &'a [u32],
    points: &'a [[f64; D]],
    positions: Positions<D>,
    search: Search<D>,
    /// The members of each image, where images are given.
    images: Option<ImageRuns>,
    /// Each member's micrograph, where micrographs are joined by their images.
    parts: Option<&'a [u32]>,
    /// Each member's exclusion ellipsoid, where given.
    shapes: Option<Vec<Shape>>,
}

/// A group's members by image: the members of one image (not 0) form a run of `sorted`.
struct ImageRuns {
    /// Members with an image, by (image, member).
    sorted: Vec<u32>,
    /// `run[local]`: the range of `sorted` holding member `local`'s image (empty without one).
    run: Vec<(u32, u32)>,
}

impl ImageRuns {
    fn new(images: &[u64], members: &[u32]) -> Self {
        let image = |k: u32| images[members[k as usize] as usize];
        let mut sorted: Vec<u32> = (0..members.len() as u32).filter(|&k| image(k) != 0).collect();
        sorted.sort_unstable_by_key(|&k| (image(k), k));
        let mut run = vec![(0u32, 0u32); members.len()];
        let mut lo = 0;
        while lo < sorted.len() {
            let hi = lo + sorted[lo..].iter().take_while(|&&k| image(k) == image(sorted[lo])).count();
            for &k in &sorted[lo..hi] {
                run[k as usize] = (lo as u32, hi as u32);
            }
            lo = hi;
        }
        ImageRuns { sorted, run }
    }

    /// The members of member `local`'s image, itself included (none without an image).
    fn of(&self, local: u32) -> &[u32] {
        let (lo, hi) = self.run[local as usize];
        &self.sorted[lo as usize..hi as usize]
    }
}

/// How a group's positions are searched within the radius.
enum Search<const D: usize> {
    Grid(Grid<D>),
    Tree(KdTree<D>),
}

impl<'a, const D: usize> Neighbourhood<'a, D> {
    fn new(input: &'a Input<'a>, members: &'a [u32], parts: Option<&'a [u32]>, points: &'a [[f64; D]]) -> Self {
        // Exact copies are merged for nearest-neighbour searches and for identical centres
        // (symmetry expansion: dozens of copies per spot); the greedy radius searches meet
        // each point a bounded number of times anyway.
        let params = input.params;
        let merged = params.min_dist == 0.0 || params.remove_entirely;
        let positions = if merged { Positions::new(points) } else { Positions::each_apart(points) };
        // Nearest-neighbour searches (remove entirely) need the tree; a crowded group too.
        // (cells a little wider than the radius also list the pairs within it)
        let cell = params.radius() * (1.0 + PAIR_MARGIN);
        let grid = if merged { None } else { Grid::new(&positions.points, cell) };
        let search = grid.map_or_else(|| Search::Tree(KdTree::new(&positions.points)), Search::Grid);
        let images = input.rows.images.map(|images| ImageRuns::new(images, members));
        let shapes = input.rows.shapes.map(|test| members.iter().map(|&i| test.shape(i)).collect());
        Neighbourhood { input, members, points, positions, search, images, parts, shapes }
    }

    /// Whether members `a` and `b` lie on one micrograph (always, but in joined micrographs).
    #[inline]
    fn same_part(&self, a: u32, b: u32) -> bool {
        self.parts.is_none_or(|parts| parts[a as usize] == parts[b as usize])
    }

    /// Whether members `a` and `b` conflict by their ellipsoids (either centre inside the
    /// other's, [`crate::algo::ellipsoid`]); always without ellipsoids.
    #[inline]
    fn in_shapes(&self, a: u32, b: u32) -> bool {
        self.shapes.as_ref().is_none_or(|shapes| {
            let (p, q) = (&self.points[a as usize], &self.points[b as usize]);
            let mut d = [0.0; 3];
            for k in 0..D.min(3) {
                d[k] = q[k] - p[k];
            }
            conflict(&shapes[a as usize], &shapes[b as usize], d)
        })
    }

    /// The other members of member `local`'s image at another centre or on another
    /// micrograph: the same particle image twice, after refinements that moved it or in
    /// selections of two micrograph jobs (rows at one centre of one micrograph are symmetry copies).
    fn same_image_elsewhere(&self, local: u32) -> impl Iterator<Item = u32> + '_ {
        let run = self.images.as_ref().map_or(&[][..], |images| images.of(local));
        let here = &self.points[local as usize];
        run.iter().copied().filter(move |&m| {
            let d2: f64 = here.iter().zip(&self.points[m as usize]).map(|(a, b)| (a - b) * (a - b)).sum();
            m != local && (d2 > SAME_CENTRE * SAME_CENTRE || !self.same_part(local, m))
        })
    }

    /// Rejects the rows of kept member `r`'s image elsewhere that are still kept (noted in `tally`).
    fn reject_same_image(&self, r: u32, keep: &mut [bool], sup: &mut [i64], tally: &mut Option<Tally>) {
        for m in self.same_image_elsewhere(r) {
            if keep[m as usize] {
                reject(keep, sup, m, self.members[r as usize]);
                self.input.note(tally, self.members[r as usize], self.members[m as usize]);
            }
        }
    }

    /// The members that have a duplicate, in increasing order, where a duplicate is any
    /// other member within `min_dist` (no tubes, orientations, images or joined micrographs;
    /// with ellipsoids, within them) and the grid lists the pairs within it; else None. A member without a duplicate is
    /// kept whatever its rank and suppresses nothing, so the walk ranks and searches only
    /// these (a fifth of spread picks): one pass over the grid's pairs, half a search a member.
    fn members_with_duplicates(&self) -> Option<Vec<u32>> {
        let input = self.input;
        let by_distance_alone =
            input.tubes.is_none() && input.pose.is_none() && self.parts.is_none() && self.images.is_none();
        let radius = input.params.radius();
        let grid = self.grid().filter(|grid| by_distance_alone && grid.lists_pairs_within(radius))?;
        // (the grid's ids are positions, each a member of its own: a grid is never made of merged copies)
        let mut has_duplicate = vec![false; self.members.len()];
        grid.for_each_pair_within(radius, |a, b, _| {
            if self.in_shapes(a, b) {
                has_duplicate[a as usize] = true;
                has_duplicate[b as usize] = true;
            }
        });
        Some((0..self.members.len() as u32).filter(|&k| has_duplicate[k as usize]).collect())
    }

    fn grid(&self) -> Option<&Grid<D>> {
        match &self.search {
            Search::Grid(grid) => Some(grid),
            Search::Tree(_) => None,
        }
    }

    /// Whether members `a` and `b` (local positions), found within `min_dist` of each other
    /// at squared distance `d2`, are duplicates. Every mode asks this one test, so a further
    /// condition on a pair (e.g. on poses) goes here and nowhere else.
    #[inline]
    fn is_duplicate(&self, a: u32, b: u32, _d2: f64) -> bool {
        a != b && self.same_part(a, b) && self.in_shapes(a, b) && {
            let (ga, gb) = (self.members[a as usize], self.members[b as usize]);
            !self.input.same_tube(ga, gb) && self.input.pose.is_none_or(|pose| pose.close(ga, gb))
        }
    }

    /// Calls `visit(position, squared_distance)` for every position within `min_dist` of
    /// member `local`, its own included.
    fn for_each_position_near(&self, local: u32, visit: impl FnMut(u32, f64)) {
        let (point, radius) = (&self.points[local as usize], self.input.params.radius());
        match &self.search {
            Search::Grid(grid) => grid.for_each_within(point, radius, visit),
            Search::Tree(tree) => tree.for_each_within(point, radius, visit),
        }
    }

    /// The first member (by index) at `position` that is a duplicate of member `local`.
    fn first_duplicate_at(&self, position: u32, local: u32, d2: f64) -> Option<u32> {
        self.positions.members(position).iter().copied().find(|&m| self.is_duplicate(local, m, d2))
    }

    /// The duplicate of member `local` nearest to it, ties to the lowest index, as (squared
    /// distance, member). Copies at its own position are at distance 0; one nearest-neighbour
    /// search finds the closest other position.
    fn nearest_duplicate(&self, local: u32) -> Option<(f64, u32)> {
        let own = self.positions.of[local as usize];
        let at_own = self.first_duplicate_at(own, local, 0.0).map(|m| (0.0, m));
        let Search::Tree(tree) = &self.search else { return at_own };
        let point = &self.points[local as usize];
        let elsewhere = tree.nearest_within(point, self.input.params.radius(), |position, d2| {
            position != own && self.first_duplicate_at(position, local, d2).is_some()
        });
        let elsewhere = elsewhere.map(|(position, d2)| (d2, self.first_duplicate_at(position, local, d2).unwrap()));
        match (at_own, elsewhere) {
            (Some(a), Some(b)) => Some(if b < a { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

/// Keep-best mode: walk the particles from best to worst; one not yet suppressed is kept and
/// suppresses the particles within `min_dist` that are not yet suppressed (a suppressed one
/// suppresses nothing). No pair list: each kept particle searches the tree once. Kept
/// particles are pairwise more than `min_dist` apart, so a position is met by only a few
/// kept particles' searches (at most 5 in 2-D, 12 in 3-D) and the work is near-linear in any
/// geometry, a thousand picks on one spot included.
fn suppress_greedily<const D: usize>(near: &Neighbourhood<D>, out: &mut GroupOut) {
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
fn select_best<const D: usize>(near: &Neighbourhood<D>, out: &mut GroupOut) {
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
fn walk_best<const D: usize>(near: &Neighbourhood<D>, out: &mut GroupOut) {
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
fn suppress_greedily_with_masks<const D: usize>(near: &Neighbourhood<D>, out: &mut GroupOut, inputs: &[u32]) {
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
fn reject_all_with_neighbours<const D: usize>(near: &Neighbourhood<D>, keep: &mut [bool], sup: &mut [i64]) {
    for local in 0..near.members.len() as u32 {
        let nearest = near.nearest_duplicate(local).map(|(_, other)| other);
        if let Some(other) = nearest.or_else(|| near.same_image_elsewhere(local).next()) {
            reject(keep, sup, local, near.members[other as usize]);
        }
    }
}

/// The distinct positions of a group's points: exact copies (bit for bit, -0.0 as 0.0) share one.
struct Positions<const D: usize> {
    /// One point per position, numbered in order of their lowest member.
    points: Vec<[f64; D]>,
    /// `of[local]`: the position of member `local`.
    of: Vec<u32>,
    /// Members of position `p` in increasing order: `sorted[start[p]..start[p + 1]]`.
    sorted: Vec<u32>,
    start: Vec<u32>,
}

impl<const D: usize> Positions<D> {
    fn new(points: &[[f64; D]]) -> Self {
        // Runs of equal keys, then the runs in order of their lowest member, so that a tie in
        // distance between two positions goes to the lower-indexed particle.
        let mut by_key: Vec<u32> = (0..points.len() as u32).collect();
        by_key.sort_unstable_by_key(|&k| (exact_key(&points[k as usize]), k));
        let same = |a: u32, b: u32| exact_key(&points[a as usize]) == exact_key(&points[b as usize]);
        let mut runs: Vec<&[u32]> = by_key.chunk_by(|&a, &b| same(a, b)).collect();
        runs.sort_unstable_by_key(|run| run[0]);
        let mut of = vec![0u32; points.len()];
        let (mut sorted, mut start) = (Vec::with_capacity(points.len()), Vec::with_capacity(runs.len() + 1));
        for (position, run) in runs.iter().enumerate() {
            start.push(sorted.len() as u32);
            sorted.extend_from_slice(run);
            for &k in *run {
                of[k as usize] = position as u32;
            }
        }
        start.push(sorted.len() as u32);
        let unique = runs.iter().map(|run| points[run[0] as usize]).collect();
        Positions { points: unique, of, sorted, start }
    }

    /// Every point a position of its own (no sort: for radius searches only).
    fn each_apart(points: &[[f64; D]]) -> Self {
        let n = points.len() as u32;
        Positions { points: points.to_vec(), of: (0..n).collect(), sorted: (0..n).collect(), start: (0..=n).collect() }
    }

    fn members(&self, position: u32) -> &[u32] {
        &self.sorted[self.start[position as usize] as usize..self.start[position as usize + 1] as usize]
    }
}

fn reject(keep: &mut [bool], sup: &mut [i64], local: u32, by_global: u32) {
    keep[local as usize] = false;
    if let Some(s) = sup.get_mut(local as usize) {
        *s = by_global as i64; // sup is empty when not wanted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::rank_keys::mix;

    fn params(min_dist: f64) -> DedupParams {
        DedupParams::keep_best(min_dist)
    }

    /// A reproducible stream of pseudo-random numbers.
    fn seeded(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state = mix(state);
            state
        }
    }

    #[test]
    fn chain_keeps_both_ends() {
        // Centres at 0, 15 and 30 Å with 20 Å: the middle one is suppressed by the best
        // ranked, and the far end survives because a suppressed particle suppresses nothing.
        let coords = [0.0, 0.0, 15.0, 0.0, 30.0, 0.0];
        let r = dedup(&[0i64, 0, 0], &coords, 2, Some(&[3.0, 2.0, 1.0]), &params(20.0)).unwrap();
        assert_eq!(r.keep, vec![true, false, true]);
        assert_eq!(r.suppressed_by, vec![-1, 0, -1]);
    }

    #[test]
    fn u32_groups_and_no_suppressed_by_decide_alike() {
        // Two micrographs interleaved (so results are scattered back), chains at 0, 15, 30 Å.
        let groups_i64 = [5i64, 2, 5, 2, 5, 2];
        let groups_u32 = [5u32, 2, 5, 2, 5, 2];
        let coords = [0.0, 0.0, 0.0, 0.0, 15.0, 0.0, 15.0, 0.0, 30.0, 0.0, 30.0, 0.0];
        let scores = [3.0, 1.0, 2.0, 2.0, 1.0, 3.0];
        let full = dedup(&groups_i64, &coords, 2, Some(&scores), &params(20.0)).unwrap();
        // Group 5 ranks 0 (3.0) first: keeps 0, suppresses 2; 4 survives. Group 2 ranks 5 first:
        // keeps 5, suppresses 3; 1 survives.
        assert_eq!(full.keep, vec![true, true, false, false, true, true]);
        assert_eq!(full.suppressed_by, vec![-1, -1, 0, 5, -1, -1]);
        let lean = DedupParams { want_suppressed_by: false, ..params(20.0) };
        let r = dedup(&groups_u32, &coords, 2, Some(&scores), &lean).unwrap();
        assert_eq!(r.keep, full.keep);
        assert!(r.suppressed_by.is_empty());
    }

    #[test]
    fn groups_never_interact() {
        let coords = [0.0, 0.0, 0.0, 0.0];
        let r = dedup(&[5i64, 9], &coords, 2, None, &params(20.0)).unwrap();
        assert_eq!(r.keep, vec![true, true]);
    }

    #[test]
    fn lower_is_better_and_nan_last() {
        let coords = [0.0, 0.0, 1.0, 0.0, 2.0, 0.0];
        let p = DedupParams { higher_is_better: false, ..params(5.0) };
        let r = dedup(&[1i64, 1, 1], &coords, 2, Some(&[f64::NAN, 0.5, 0.2]), &p).unwrap();
        assert_eq!(r.keep, vec![false, false, true]);
        assert_eq!(r.suppressed_by, vec![2, 2, -1]);
    }

    #[test]
    fn zero_distance_matches_centres_to_a_thousandth_of_an_angstrom() {
        // Particles 0, 1 and 5 are one centre (5 is 4e-13 Å off, as a re-centred copy is),
        // 2 is 0.01 Å off: another centre; -0.0 and 0.0 are one.
        let coords =
            [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.01, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0 + 4e-13, 2.0, 3.0];
        let groups = [0i64; 6];
        let r = dedup(&groups, &coords, 3, Some(&[1.0, 2.0, 0.0, 1.0, 1.0, 0.5]), &params(0.0)).unwrap();
        assert_eq!(r.keep, vec![false, true, true, true, false, false]);
        assert_eq!(r.suppressed_by, vec![1, -1, -1, -1, 3, 1]);
        let entirely = DedupParams { remove_entirely: true, ..params(0.0) };
        let r = dedup(&groups, &coords, 3, None, &entirely).unwrap();
        assert_eq!(r.keep, vec![false, false, true, false, false, false]);
        assert_eq!(r.suppressed_by, vec![1, 0, -1, 4, 3, 0]);
    }

    #[test]
    fn identical_centres_straddling_grid_cell_edges() {
        // Spread picks get a grid whose cells start at the lowest point and are
        // sqrt(area / n) wide (1000 x 1000 Å, 52 points: 138.7 Å). Copies 1e-6 Å apart on
        // either side of a cell edge, in x and in y, are still one centre, for the
        // duplicate test and for the confirmation of a second input alike.
        let mut coords = vec![0.0, 0.0, 1000.0, 1000.0];
        let cell = (1000.0f64 * 1000.0 / 52.0).sqrt();
        for k in 1..=25 {
            let edge = (k % 7 + 1) as f64 * cell;
            let across = 37.0 * k as f64;
            let (a, b) = if k % 2 == 0 {
                ([edge - 5e-7, across], [edge + 5e-7, across])
            } else {
                ([across, edge - 5e-7], [across, edge + 5e-7])
            };
            coords.extend(a);
            coords.extend(b);
        }
        let n = coords.len() / 2;
        let groups = vec![0i64; n];
        let inputs: Vec<u32> = (0..n as u32).map(|i| i % 2).collect();
        let scores: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { 1.0 } else { 0.0 }).collect();
        let (r, masks) = dedup_full(
            &groups,
            &coords,
            2,
            Some(&scores),
            Some(&inputs),
            None,
            None,
            RowFacts::default(),
            &params(0.0),
        )
        .unwrap();
        let rejected: Vec<usize> = (0..n).filter(|&i| !r.keep[i]).collect();
        assert_eq!(rejected, (3..n).step_by(2).collect::<Vec<_>>(), "the second of each pair");
        assert!(rejected.iter().all(|&i| r.suppressed_by[i] == i as i64 - 1));
        let support: Vec<u32> = masks.unwrap().iter().map(|m| m.count_ones()).collect();
        assert_eq!(support[2..], vec![2; n - 2][..], "each copy confirms the other");
        assert_eq!(r, brute_force(&groups, &coords, &scores, &params(0.0)));
    }

    #[test]
    fn remove_entirely_names_nearest() {
        let coords = [0.0, 0.0, 9.0, 0.0, 4.0, 0.0, 100.0, 0.0];
        let p = DedupParams { remove_entirely: true, ..params(10.0) };
        let r = dedup(&[0i64, 0, 0, 0], &coords, 2, None, &p).unwrap();
        assert_eq!(r.keep, vec![false, false, false, true]);
        assert_eq!(r.suppressed_by, vec![2, 2, 0, -1]);
    }

    #[test]
    fn unsorted_sparse_groups() {
        let groups = [i64::MAX, -7, i64::MAX, -7];
        let coords = [0.0, 0.0, 0.0, 50.0, 3.0, 0.0, 0.0, 51.0];
        let r = dedup(&groups, &coords, 2, Some(&[1.0, 1.0, 2.0, 2.0]), &params(5.0)).unwrap();
        assert_eq!(r.keep, vec![false, false, true, true]);
        assert_eq!(r.suppressed_by, vec![2, 3, -1, -1]);
    }

    #[test]
    fn random_ranking_is_seeded() {
        let n = 200;
        let coords: Vec<f64> = (0..n).flat_map(|i| [(i / 2) as f64 * 100.0, 0.0]).collect();
        let groups = vec![0i64; n];
        let a = dedup(&groups, &coords, 2, None, &params(1.0)).unwrap();
        let b = dedup(&groups, &coords, 2, None, &params(1.0)).unwrap();
        let c = dedup(&groups, &coords, 2, None, &DedupParams { seed: 1, ..params(1.0) }).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.keep.iter().filter(|&&k| k).count(), n / 2);
        // Both members of a pair win about equally often: the ranking is not input order.
        let first_wins = (0..n / 2).filter(|p| a.keep[2 * p]).count();
        assert!(first_wins > 25 && first_wins < 75, "{first_wins}");
    }

    #[test]
    fn bad_input_is_refused() {
        assert_eq!(dedup(&[0i64], &[0.0], 1, None, &params(1.0)), Err(DedupError::Dimension(1)));
        assert_eq!(dedup(&[0i64], &[0.0, 0.0], 2, None, &params(-1.0)), Err(DedupError::MinDist(-1.0)));
        assert_eq!(
            dedup(&[0i64, 0], &[0.0, 0.0, f64::NAN, 0.0], 2, None, &params(1.0)),
            Err(DedupError::NonFinite { index: 1 })
        );
    }

    #[test]
    fn masks_of_one_pass_agree_with_brute_force() {
        // Random picks of three inputs on four unsorted micrographs, rounded to a grid so
        // that equal centres (min_dist 0) occur: one pass gives the same keep and
        // suppressed_by as dedup alone, and the masks pair by pair.
        let mut next = seeded(7);
        let n = 600;
        let groups: Vec<i64> = (0..n).map(|_| (next() % 4) as i64 * 3).collect();
        let coords: Vec<f64> = (0..2 * n).map(|_| (next() % 60) as f64 * 0.5).collect();
        let inputs: Vec<u32> = (0..n).map(|_| (next() % 3) as u32).collect();
        let scores: Vec<f64> = (0..n).map(|_| (next() % 1000) as f64).collect();
        for min_dist in [0.0, 1.0, 2.5] {
            for remove_entirely in [false, true] {
                let p = DedupParams { remove_entirely, ..params(min_dist) };
                let (fused, masks) =
                    dedup_full(&groups, &coords, 2, Some(&scores), Some(&inputs), None, None, RowFacts::default(), &p)
                        .unwrap();
                let alone = dedup(&groups, &coords, 2, Some(&scores), &p).unwrap();
                let expected = brute_force_masks(&groups, &coords, &inputs, min_dist);
                assert_eq!(fused, alone);
                assert_eq!(masks.unwrap(), expected, "min_dist {min_dist}");
            }
        }
        let too_many =
            dedup_full(&[0i64], &[0.0, 0.0], 2, None, Some(&[64]), None, None, RowFacts::default(), &params(1.0));
        assert_eq!(too_many.unwrap_err(), DedupError::InputOutOfRange { index: 0, limit: 64 });
    }

    /// Each pick's bit of its own input, and of every input with a pick of its group within
    /// the radius searched for `min_dist`, pair by pair (O(n^2)): the masks' oracle.
    fn brute_force_masks(groups: &[i64], coords: &[f64], inputs: &[u32], min_dist: f64) -> Vec<u64> {
        let r2 = search_radius(min_dist).powi(2);
        let d2 = |a: usize, b: usize| (0..2).map(|k| (coords[2 * a + k] - coords[2 * b + k]).powi(2)).sum::<f64>();
        (0..groups.len())
            .map(|i| {
                let near = (0..groups.len()).filter(|&j| j == i || (groups[j] == groups[i] && d2(i, j) <= r2));
                near.fold(0u64, |mask, j| mask | 1 << inputs[j])
            })
            .collect()
    }

    /// The rules of docs/design.md section 2 written out pair by pair, O(n^2): the oracle.
    fn brute_force(groups: &[i64], coords: &[f64], scores: &[f64], p: &DedupParams) -> DedupResult {
        let n = groups.len();
        let d2 = |a: usize, b: usize| (0..2).map(|k| (coords[2 * a + k] - coords[2 * b + k]).powi(2)).sum::<f64>();
        let close = |a: usize, b: usize| a != b && groups[a] == groups[b] && d2(a, b) <= p.min_dist.max(1e-3).powi(2);
        let (mut keep, mut sup) = (vec![true; n], vec![-1i64; n]);
        if p.remove_entirely {
            for a in 0..n {
                let nearest = (0..n).filter(|&b| close(a, b)).min_by(|&x, &y| d2(a, x).total_cmp(&d2(a, y)));
                if let Some(b) = nearest {
                    (keep[a], sup[a]) = (false, b as i64);
                }
            }
            return DedupResult { keep, suppressed_by: sup, priority: None, best: None };
        }
        let mut order: Vec<usize> = (0..n).collect();
        let key = |i: usize| if scores[i].is_nan() { f64::INFINITY } else { -scores[i] };
        order.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
        for &a in &order {
            if keep[a] {
                for b in 0..n {
                    if keep[b] && close(a, b) {
                        (keep[b], sup[b]) = (false, a as i64);
                    }
                }
            }
        }
        DedupResult { keep, suppressed_by: sup, priority: None, best: None }
    }

    #[test]
    fn agrees_with_brute_force() {
        // Coarse grid coordinates (exact copies, distances exactly at min_dist), tied and NaN
        // scores, two groups; 3-4-5 steps make boundary cases in both axes.
        let mut next = seeded(11);
        for round in 0..40 {
            let n = [2, 7, 40, 300][round % 4];
            let groups: Vec<i64> = (0..n).map(|_| (next() % 2) as i64).collect();
            let coords: Vec<f64> =
                (0..2 * n).map(|_| (next() % 12) as f64 * if round % 3 == 0 { 1.0 } else { 4.0 }).collect();
            let scores: Vec<f64> =
                (0..n).map(|_| if next() % 7 == 0 { f64::NAN } else { (next() % 5) as f64 }).collect();
            for min_dist in [0.0, 3.0, 5.0, 20.0] {
                for remove_entirely in [false, true] {
                    let p = DedupParams { remove_entirely, ..params(min_dist) };
                    let got = dedup(&groups, &coords, 2, Some(&scores), &p).unwrap();
                    assert_eq!(got, brute_force(&groups, &coords, &scores, &p), "n {n} d {min_dist} {remove_entirely}");
                }
            }
        }
    }

    /// The rules with priority levels and images, pair by pair, O(n^2): level first, then score
    /// (not finite last), then index; rows of one image more than SAME_CENTRE apart are duplicates.
    fn brute_force_rows(
        groups: &[i64],
        coords: &[f64],
        scores: &[f64],
        levels: &[u32],
        images: &[u64],
        p: &DedupParams,
    ) -> DedupResult {
        let n = groups.len();
        let d2 = |a: usize, b: usize| (0..2).map(|k| (coords[2 * a + k] - coords[2 * b + k]).powi(2)).sum::<f64>();
        // (one image on two micrographs is the same particle twice wherever its rows lie)
        let twins = |a: usize, b: usize| {
            images[a] != 0 && images[a] == images[b] && (d2(a, b) > 1e-6 || groups[a] != groups[b])
        };
        let close = |a: usize, b: usize| {
            a != b && ((groups[a] == groups[b] && d2(a, b) <= p.min_dist.max(1e-3).powi(2)) || twins(a, b))
        };
        let (mut keep, mut sup) = (vec![true; n], vec![-1i64; n]);
        if p.remove_entirely {
            for a in 0..n {
                let within = |b: usize| a != b && groups[a] == groups[b] && d2(a, b) <= p.min_dist.max(1e-3).powi(2);
                let nearest = (0..n).filter(|&b| within(b)).min_by(|&x, &y| d2(a, x).total_cmp(&d2(a, y)));
                let other = nearest.or_else(|| (0..n).find(|&b| a != b && twins(a, b)));
                if let Some(b) = other {
                    (keep[a], sup[a]) = (false, b as i64);
                }
            }
            return DedupResult { keep, suppressed_by: sup, priority: None, best: None };
        }
        let mut order: Vec<usize> = (0..n).collect();
        let key = |i: usize| (levels[i], if scores[i].is_finite() { -scores[i] } else { f64::INFINITY });
        order.sort_by(|&a, &b| key(a).0.cmp(&key(b).0).then(key(a).1.total_cmp(&key(b).1)).then(a.cmp(&b)));
        for &a in &order {
            if keep[a] {
                for b in 0..n {
                    if keep[b] && close(a, b) {
                        (keep[b], sup[b]) = (false, a as i64);
                    }
                }
            }
        }
        let ranks = Ranks { scores: Some(scores), higher_is_better: true };
        let priority = Some(PriorityCounts::from_pairs(&sup, &Levels::Rows(levels), &ranks));
        DedupResult { keep, suppressed_by: sup, priority, best: None }
    }

    #[test]
    fn priorities_rank_before_scores_and_none_scores_last() {
        // By hand, one micrograph, all within 10 Å: score 5 at level 1, score 1 at level 0,
        // score 3 at level 0, -inf and NaN at level 0. Level 0 wins; within it the score 3.
        let coords = [0.0, 0.0, 1.0, 0.0, 2.0, 0.0, 3.0, 0.0, 4.0, 0.0];
        let scores = [5.0, 1.0, 3.0, f64::NEG_INFINITY, f64::NAN];
        let rows = RowFacts { priorities: Some(Levels::Rows(&[1, 0, 0, 0, 0])), images: None, shapes: None };
        let (r, _) = dedup_full(&[0i64; 5], &coords, 2, Some(&scores), None, None, None, rows, &params(10.0)).unwrap();
        assert_eq!(r.keep, [false, false, true, false, false]);
        // Lower is better: +inf is no score either, so 1.0 wins level 0.
        let scores = [5.0, 1.0, 3.0, f64::INFINITY, f64::NAN];
        let lower = DedupParams { higher_is_better: false, ..params(10.0) };
        let (r, _) = dedup_full(&[0i64; 5], &coords, 2, Some(&scores), None, None, None, rows, &lower).unwrap();
        assert_eq!(r.keep, [false, true, false, false, false]);
        // Infinite scores without levels: ranked below every real score, in either direction.
        let r = dedup(&[0i64; 2], &coords[..4], 2, Some(&[f64::INFINITY, -1.0]), &params(10.0)).unwrap();
        assert_eq!(r.keep, [false, true]);
        // Without scores the level still decides; the random key within a level.
        let rows = RowFacts { priorities: Some(Levels::Rows(&[3, 3, 3, 3, 2])), images: None, shapes: None };
        let (r, _) = dedup_full(&[0i64; 5], &coords, 2, None, None, None, None, rows, &params(10.0)).unwrap();
        assert_eq!(r.keep, [false, false, false, false, true]);
        let short = RowFacts { priorities: Some(Levels::Rows(&[0])), images: None, shapes: None };
        let err = dedup_full(&[0i64; 2], &coords[..4], 2, None, None, None, None, short, &params(1.0)).unwrap_err();
        assert_eq!(err, DedupError::Length { what: "priorities", expected: 2, got: 1 });
    }

    #[test]
    fn rows_of_one_image_at_other_centres_are_duplicates() {
        // Image 7 at 0 and at 500 Å (refined apart), image 9 twice at 100 Å (symmetry copies
        // at one centre, different angles: kept apart by the pose rule below), image 0 (none)
        // at 0 and 800 Å. min_dist 10.
        let coords = [0.0, 0.0, 500.0, 0.0, 100.0, 0.0, 100.0, 0.0, 300.0, 0.0, 800.0, 0.0];
        let images = [7u64, 7, 9, 9, 0, 0];
        let scores = [1.0, 2.0, 1.0, 1.0, 1.0, 1.0];
        let rows = RowFacts { priorities: None, images: Some(&images), shapes: None };
        let (r, _) = dedup_full(&[0i64; 6], &coords, 2, Some(&scores), None, None, None, rows, &params(10.0)).unwrap();
        // Image 7: the better (index 1) kept, 0 rejected by it; the copies at 100 Å meet the distance rule.
        assert_eq!(r.keep, [false, true, true, false, true, true]);
        assert_eq!(r.suppressed_by, [1, -1, -1, 2, -1, -1]);
        // With a pose rule that keeps the copies at one centre apart, the image rule leaves them too.
        let poses = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 180.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let pose = PoseTest::new(
            &poses,
            crate::algo::pose::PoseKind::RelionEulerDegrees,
            crate::algo::pose::point_group("C1").unwrap(),
            10.0,
        );
        let (r, _) =
            dedup_full(&[0i64; 6], &coords, 2, Some(&scores), None, None, Some(&pose), rows, &params(10.0)).unwrap();
        assert_eq!(r.keep, [false, true, true, true, true, true]);
        // Removing entirely: both rows of image 7 go, each naming the other.
        let entirely = DedupParams { remove_entirely: true, ..params(10.0) };
        let (r, _) = dedup_full(&[0i64; 6], &coords, 2, None, None, None, None, rows, &entirely).unwrap();
        assert_eq!(r.keep, [false, false, false, false, true, true]);
        assert_eq!(r.suppressed_by[..2], [1, 0]);
    }

    #[test]
    fn rows_of_one_image_on_two_micrographs_are_duplicates_and_distance_stays_on_each() {
        // By hand, min_dist 10: image 7 at (0, 0) on micrograph 0 (score 1) and at (0, 0) on
        // micrograph 1 (score 2, as a JoinStar of two MotionCorr jobs' selections leaves it);
        // (500, 0) on 1 and (5, 0) on 0 have no image. The better row of image 7 is kept and
        // rejects the other; (5, 0) on micrograph 0 is 5 Å from both rows of image 7, but
        // distance joins rows of one micrograph only, and its neighbour there was rejected.
        let coords = [0.0, 0.0, 0.0, 0.0, 500.0, 0.0, 5.0, 0.0];
        let (groups, scores, images, inputs) =
            ([0i64, 1, 1, 0], [1.0, 2.0, 3.0, 0.0], [7u64, 7, 0, 0], [0u32, 1, 0, 1]);
        let rows = RowFacts { priorities: None, images: Some(&images), shapes: None };
        let (r, masks) =
            dedup_full(&groups, &coords, 2, Some(&scores), Some(&inputs), None, None, rows, &params(10.0)).unwrap();
        assert_eq!(r.keep, [false, true, true, true]);
        assert_eq!(r.suppressed_by, [1, -1, -1, -1]);
        // Consensus within each micrograph: rows 0 and 3 (inputs 0 and 1) confirm each other.
        assert_eq!(masks.unwrap(), [0b11, 0b10, 0b01, 0b11]);
        // Removing entirely: both rows of image 7 go, the first naming its nearest duplicate
        // (5 Å on its micrograph, which goes too), the second the first (its image).
        let entirely = DedupParams { remove_entirely: true, ..params(10.0) };
        let (r, _) = dedup_full(&groups, &coords, 2, None, None, None, None, rows, &entirely).unwrap();
        assert_eq!((r.keep, r.suppressed_by), (vec![false, false, true, false], vec![3, 0, -1, 0]));
    }

    #[test]
    fn priorities_and_images_agree_with_brute_force() {
        let mut next = seeded(23);
        for round in 0..60 {
            let n = [3, 9, 40, 200][round % 4];
            let groups: Vec<i64> = (0..n).map(|_| (next() % 2) as i64).collect();
            let coords: Vec<f64> = (0..2 * n).map(|_| (next() % 12) as f64 * 4.0).collect();
            let scores: Vec<f64> = (0..n)
                .map(|_| match next() % 9 {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => f64::NEG_INFINITY,
                    _ => (next() % 5) as f64,
                })
                .collect();
            // Levels of rows, or of inputs (three inputs at levels 2, 0, 1 and a fourth at 2).
            let input_of: Vec<u32> = (0..n).map(|_| (next() % 4) as u32).collect();
            let of_input = [2, 0, 1, 2];
            let levels: Vec<u32> = input_of.iter().map(|&i| of_input[i as usize]).collect();
            let images: Vec<u64> =
                (0..n).map(|_| if next() % 3 == 0 { 0 } else { next() % (n as u64 / 2 + 1) + 1 }).collect();
            for min_dist in [0.0, 5.0, 20.0] {
                for remove_entirely in [false, true] {
                    let p = DedupParams { remove_entirely, ..params(min_dist) };
                    let want = brute_force_rows(&groups, &coords, &scores, &levels, &images, &p);
                    let by_input = Levels::Inputs { input_of: &input_of, of_input: &of_input };
                    // By rows' levels; by inputs' in the pass that also finds the masks.
                    for (levels, inputs) in [(Levels::Rows(&levels), None), (by_input, Some(&input_of[..]))] {
                        let rows = RowFacts { priorities: Some(levels), images: Some(&images), shapes: None };
                        let (got, masks) =
                            dedup_full(&groups, &coords, 2, Some(&scores), inputs, None, None, rows, &p).unwrap();
                        // (images join micrographs for the walk, never for the consensus masks)
                        if let Some(masks) = masks {
                            assert_eq!(masks, brute_force_masks(&groups, &coords, &input_of, min_dist), "n {n}");
                        }
                        if remove_entirely {
                            assert_eq!(got.keep, want.keep, "n {n} d {min_dist} entirely");
                        } else {
                            assert_eq!(got, want, "n {n} d {min_dist}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn spread_picks_ranked_by_their_pairs_agree_with_brute_force() {
        // Picks spread over 4000 x 4000 Å (a grid of about one a cell: the walk ranks and
        // searches only those with a pair within min_dist), every fifth 0-30 Å from the one
        // before it or on it; tied and NaN scores; with and without priority levels.
        let mut next = seeded(31);
        for round in 0..12 {
            let n = [50, 300, 1000][round % 3];
            let groups: Vec<i64> = (0..n).map(|_| (next() % 2) as i64).collect();
            let mut coords: Vec<f64> = (0..2 * n).map(|_| (next() % 4000) as f64).collect();
            for i in (1..n).filter(|i| i % 5 == 1) {
                coords[2 * i] = coords[2 * i - 2] + (next() % 31) as f64;
                coords[2 * i + 1] = coords[2 * i - 1];
            }
            let scores: Vec<f64> =
                (0..n).map(|_| if next() % 9 == 0 { f64::NAN } else { (next() % 7) as f64 }).collect();
            let levels: Vec<u32> = (0..n).map(|_| (next() % 3) as u32).collect();
            for min_dist in [0.0, 10.0, 20.0, 150.0] {
                let p = params(min_dist);
                let got = dedup(&groups, &coords, 2, Some(&scores), &p).unwrap();
                assert_eq!(got, brute_force(&groups, &coords, &scores, &p), "n {n} d {min_dist}");
                let rows = RowFacts { priorities: Some(Levels::Rows(&levels)), images: None, shapes: None };
                let (got, _) = dedup_full(&groups, &coords, 2, Some(&scores), None, None, None, rows, &p).unwrap();
                let want = brute_force_rows(&groups, &coords, &scores, &levels, &vec![0; n], &p);
                assert_eq!(got, want, "n {n} d {min_dist} levels");
            }
        }
    }

    #[test]
    fn a_group_of_too_many_pairs_is_walked_greedily_under_the_best_selection() {
        // 6,000 picks within one distance hold 18e6 pairs, past MAX_PAIRS: the group is walked as
        // greedy walks it (the best score kept, the rest naming it), and counted as walked.
        let n = 6_000;
        let coords: Vec<f64> = (0..2 * n).map(|k| (k % 7) as f64).collect();
        let scores: Vec<f64> = (0..n).map(|i| ((i * 7919) % n) as f64).collect();
        let groups = vec![0i64; n];
        let p = DedupParams { selection: Selection::BestScore, ..params(20.0) };
        let r = dedup(&groups, &coords, 2, Some(&scores), &p).unwrap();
        let best = r.best.unwrap();
        assert_eq!((best.walked, best.walked_picks, best.components), (1, n as u64, 0));
        let top = (0..n).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap();
        assert_eq!((0..n).filter(|&i| r.keep[i]).collect::<Vec<_>>(), vec![top]);
        assert!((0..n).all(|i| i == top || r.suppressed_by[i] == top as i64));
        assert_eq!((best.kept, best.score), (1, scores[top]));
    }

    #[test]
    fn a_dense_cluster_needs_no_pair_list() {
        // 100 000 picks on one spot hold 5e9 pairs: a pair list needs 80 GB. The best one is
        // kept and suppresses the rest; with remove-entirely each names its nearest, the
        // lowest other index (1 for particle 0, 0 for the rest). A second spot 30 Å away
        // with 20 Å stays apart; a pick 19 Å off the spot goes with it.
        let n = 100_000;
        let mut coords = vec![0.0; 2 * n];
        for i in (n - 100)..n {
            coords[2 * i] = 30.0;
        }
        coords[2 * 5] = -19.0;
        let scores: Vec<f64> = (0..n).map(|i| (i % 1000) as f64).collect();
        let groups = vec![3i64; n];
        let r = dedup(&groups, &coords, 2, Some(&scores), &params(20.0)).unwrap();
        // Best score 999 first at index 999 (the spot), then 99_999 at 30 Å (index n - 1).
        let kept: Vec<usize> = (0..n).filter(|&i| r.keep[i]).collect();
        assert_eq!(kept, vec![999, n - 1]);
        assert!((0..n - 100).all(|i| i == 999 || r.suppressed_by[i] == 999));
        assert!((n - 100..n - 1).all(|i| r.suppressed_by[i] == (n - 1) as i64));
        let entirely = DedupParams { remove_entirely: true, ..params(20.0) };
        let r = dedup(&groups, &coords, 2, None, &entirely).unwrap();
        assert!(r.keep.iter().all(|&k| !k));
        assert_eq!(r.suppressed_by[0], 1);
        // Particle 5 at -19 Å: its nearest are the copies at 0 (lowest: 0); those at 30 are 49 Å off.
        assert_eq!(r.suppressed_by[5], 0);
        assert!((1..n - 100).all(|i| r.suppressed_by[i] == 0));
        assert!((n - 100..n).all(|i| r.suppressed_by[i] == if i == n - 100 { n as i64 - 99 } else { n as i64 - 100 }));
        let none = dedup(&groups, &coords, 2, None, &params(20.0)).unwrap();
        assert_eq!(none.keep.iter().filter(|&&k| k).count(), 2);
    }
}
