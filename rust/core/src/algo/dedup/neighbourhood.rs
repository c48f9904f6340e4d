//! A group's neighbours: its distinct positions, a grid or k-d tree over them, and the one
//! duplicate test every walk asks.

use super::group::Input;
use super::walks::reject;
use crate::algo::ellipsoid::{conflict, Shape};
use crate::algo::grid::{Grid, PAIR_MARGIN};
use crate::algo::kdtree::KdTree;
use crate::algo::points::SAME_CENTRE;
use crate::algo::priority::Tally;

/// The neighbours of a group's particles: its distinct positions and a search of them, a
/// uniform grid (radius searches among spread points) or else a k-d tree.
pub(super) struct Neighbourhood<'a, const D: usize> {
    pub(super) input: &'a Input<'a>,
    pub(super) members: &'a [u32],
    pub(super) points: &'a [[f64; D]],
    pub(super) positions: Positions<D>,
    pub(super) search: Search<D>,
    /// The members of each image, where images are given.
    pub(super) images: Option<ImageRuns>,
    /// Each member's micrograph, where micrographs are joined by their images.
    pub(super) parts: Option<&'a [u32]>,
    /// Each member's exclusion ellipsoid, where given.
    pub(super) shapes: Option<Vec<Shape>>,
}

/// A group's members by image: the members of one image (not 0) form a run of `sorted`.
pub(super) struct ImageRuns {
    /// Members with an image, by (image, member).
    pub(super) sorted: Vec<u32>,
    /// `run[local]`: the range of `sorted` holding member `local`'s image (empty without one).
    pub(super) run: Vec<(u32, u32)>,
}

impl ImageRuns {
    pub(super) fn new(images: &[u64], members: &[u32]) -> Self {
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
    pub(super) fn of(&self, local: u32) -> &[u32] {
        let (lo, hi) = self.run[local as usize];
        &self.sorted[lo as usize..hi as usize]
    }
}

/// How a group's positions are searched within the radius.
pub(super) enum Search<const D: usize> {
    Grid(Grid<D>),
    Tree(KdTree<D>),
}

impl<'a, const D: usize> Neighbourhood<'a, D> {
    pub(super) fn new(
        input: &'a Input<'a>,
        members: &'a [u32],
        parts: Option<&'a [u32]>,
        points: &'a [[f64; D]],
    ) -> Self {
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
    pub(super) fn same_part(&self, a: u32, b: u32) -> bool {
        self.parts.is_none_or(|parts| parts[a as usize] == parts[b as usize])
    }

    /// Whether members `a` and `b` conflict by their ellipsoids (either centre inside the
    /// other's, [`crate::algo::ellipsoid`]); always without ellipsoids.
    #[inline]
    pub(super) fn in_shapes(&self, a: u32, b: u32) -> bool {
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
    pub(super) fn same_image_elsewhere(&self, local: u32) -> impl Iterator<Item = u32> + '_ {
        let run = self.images.as_ref().map_or(&[][..], |images| images.of(local));
        let here = &self.points[local as usize];
        run.iter().copied().filter(move |&m| {
            let d2: f64 = here.iter().zip(&self.points[m as usize]).map(|(a, b)| (a - b) * (a - b)).sum();
            m != local && (d2 > SAME_CENTRE * SAME_CENTRE || !self.same_part(local, m))
        })
    }

    /// Rejects the rows of kept member `r`'s image elsewhere that are still kept (noted in `tally`).
    pub(super) fn reject_same_image(&self, r: u32, keep: &mut [bool], sup: &mut [i64], tally: &mut Option<Tally>) {
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
    pub(super) fn members_with_duplicates(&self) -> Option<Vec<u32>> {
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

    pub(super) fn grid(&self) -> Option<&Grid<D>> {
        match &self.search {
            Search::Grid(grid) => Some(grid),
            Search::Tree(_) => None,
        }
    }

    /// Whether members `a` and `b` (local positions), found within `min_dist` of each other
    /// at squared distance `d2`, are duplicates. Every mode asks this one test, so a further
    /// condition on a pair (e.g. on poses) goes here and nowhere else.
    #[inline]
    pub(super) fn is_duplicate(&self, a: u32, b: u32, _d2: f64) -> bool {
        a != b && self.same_part(a, b) && self.in_shapes(a, b) && {
            let (ga, gb) = (self.members[a as usize], self.members[b as usize]);
            !self.input.same_tube(ga, gb) && self.input.pose.is_none_or(|pose| pose.close(ga, gb))
        }
    }

    /// Calls `visit(position, squared_distance)` for every position within `min_dist` of
    /// member `local`, its own included.
    pub(super) fn for_each_position_near(&self, local: u32, visit: impl FnMut(u32, f64)) {
        let (point, radius) = (&self.points[local as usize], self.input.params.radius());
        match &self.search {
            Search::Grid(grid) => grid.for_each_within(point, radius, visit),
            Search::Tree(tree) => tree.for_each_within(point, radius, visit),
        }
    }

    /// The first member (by index) at `position` that is a duplicate of member `local`.
    pub(super) fn first_duplicate_at(&self, position: u32, local: u32, d2: f64) -> Option<u32> {
        self.positions.members(position).iter().copied().find(|&m| self.is_duplicate(local, m, d2))
    }

    /// The duplicate of member `local` nearest to it, ties to the lowest index, as (squared
    /// distance, member). Copies at its own position are at distance 0; one nearest-neighbour
    /// search finds the closest other position.
    pub(super) fn nearest_duplicate(&self, local: u32) -> Option<(f64, u32)> {
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

/// Bit pattern of a point, with -0.0 folded onto 0.0, for exact matching.
pub(super) fn exact_key<const D: usize>(p: &[f64; D]) -> [u64; D] {
    let mut key = [0u64; D];
    for k in 0..D {
        key[k] = (p[k] + 0.0).to_bits();
    }
    key
}

/// The distinct positions of a group's points: exact copies (bit for bit, -0.0 as 0.0) share one.
pub(super) struct Positions<const D: usize> {
    /// One point per position, numbered in order of their lowest member.
    pub(super) points: Vec<[f64; D]>,
    /// `of[local]`: the position of member `local`.
    pub(super) of: Vec<u32>,
    /// Members of position `p` in increasing order: `sorted[start[p]..start[p + 1]]`.
    pub(super) sorted: Vec<u32>,
    pub(super) start: Vec<u32>,
}

impl<const D: usize> Positions<D> {
    pub(super) fn new(points: &[[f64; D]]) -> Self {
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
    pub(super) fn each_apart(points: &[[f64; D]]) -> Self {
        let n = points.len() as u32;
        Positions { points: points.to_vec(), of: (0..n).collect(), sorted: (0..n).collect(), start: (0..=n).collect() }
    }

    pub(super) fn members(&self, position: u32) -> &[u32] {
        &self.sorted[self.start[position as usize] as usize..self.start[position as usize + 1] as usize]
    }
}
