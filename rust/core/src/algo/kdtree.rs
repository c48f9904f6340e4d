//! A static k-d tree over the points of one micrograph, for radius searches.
//!
//! The tree is implicit: points are reordered so that the median of every range splits it
//! (the axis cycles with depth), so no node structs are allocated. Small ranges are leaves
//! that are searched by brute force.

/// Ranges at most this long are scanned linearly instead of split further.
const LEAF_SIZE: usize = 256;

pub struct KdTree<const D: usize> {
    /// Points in tree order.
    points: Vec<[f64; D]>,
    /// `ids[k]` is the caller's index of `points[k]`.
    ids: Vec<u32>,
}

/// Squared Euclidean distance. Every distance comparison in the crate uses this form, so the
/// duplicate relation `|a - b| <= min_dist` is evaluated as `sum((a - b)^2) <= min_dist^2`.
#[inline]
pub fn squared_distance<const D: usize>(a: &[f64; D], b: &[f64; D]) -> f64 {
    let mut sum = 0.0;
    for k in 0..D {
        let d = a[k] - b[k];
        sum += d * d;
    }
    sum
}

impl<const D: usize> KdTree<D> {
    /// Builds the tree; `points[i]` gets id `i`.
    pub fn new(points: &[[f64; D]]) -> Self {
        let mut order: Vec<(u32, [f64; D])> = points.iter().enumerate().map(|(i, p)| (i as u32, *p)).collect();
        split(&mut order, 0);
        KdTree { points: order.iter().map(|(_, p)| *p).collect(), ids: order.iter().map(|(i, _)| *i).collect() }
    }

    /// Calls `visit(id, squared_distance)` for every point within `radius` of `query`
    /// (inclusive), the query point itself included if it is in the tree.
    pub fn for_each_within(&self, query: &[f64; D], radius: f64, mut visit: impl FnMut(u32, f64)) {
        let r2 = radius * radius;
        // The x window of a leaf scan, widened so that rounding never drops a point that the
        // exact test `squared_distance <= r2` would accept.
        let slack = radius * 1e-9 + f64::MIN_POSITIVE;
        let window = (query[0] - radius - slack, query[0] + radius + slack);
        self.search(0, self.points.len(), 0, &Query { point: query, r2, window }, &mut visit);
    }

    /// The point nearest to `query` within `radius` (inclusive) among those that `accept(id,
    /// squared_distance)` takes, as `(id, squared_distance)`; ties go to the lowest id. The
    /// search shrinks its radius to the best distance found, so it visits few points even in
    /// a dense cluster, as long as the tree holds no large set of coincident points.
    pub fn nearest_within(
        &self,
        query: &[f64; D],
        radius: f64,
        mut accept: impl FnMut(u32, f64) -> bool,
    ) -> Option<(u32, f64)> {
        let mut best = (radius * radius, u32::MAX);
        let mut step = |id, d2| if accept(id, d2) { Step::Take } else { Step::Skip };
        self.nearest(0, self.points.len(), 0, query, &mut best, &mut step);
        (best.1 != u32::MAX).then_some((best.1, best.0))
    }

    /// Whether any point lies within `radius` of `query` (inclusive); stops at the first.
    pub fn any_within(&self, query: &[f64; D], radius: f64) -> bool {
        let mut best = (radius * radius, u32::MAX);
        self.nearest(0, self.points.len(), 0, query, &mut best, &mut |_, _| Step::Stop);
        best.1 != u32::MAX
    }

    /// Branch and bound for [`Self::nearest_within`] and [`Self::any_within`]: `best` is
    /// `(squared distance, id)`, starting at `(radius^2, u32::MAX)`; a candidate that compares
    /// lower is offered to `step`, which takes it, skips it, or takes it and ends the search.
    /// Returns true when the search was ended.
    fn nearest(
        &self,
        lo: usize,
        hi: usize,
        depth: usize,
        query: &[f64; D],
        best: &mut (f64, u32),
        step: &mut impl FnMut(u32, f64) -> Step,
    ) -> bool {
        let mut consider = |k: usize, best: &mut (f64, u32)| {
            let (d2, id) = (squared_distance(&self.points[k], query), self.ids[k]);
            if d2 > best.0 || (d2, id) >= *best {
                return false;
            }
            match step(id, d2) {
                Step::Skip => false,
                Step::Take => {
                    *best = (d2, id);
                    false
                }
                Step::Stop => {
                    *best = (d2, id);
                    true
                }
            }
        };
        if hi - lo <= LEAF_SIZE {
            // A leaf is sorted by x: scan outwards from the query's x and stop on each side
            // once dx^2 alone exceeds the best distance (exact: d2 = dx^2 + ... >= dx^2), so
            // in a dense leaf only the few points near the query are measured.
            let at = lo + self.points[lo..hi].partition_point(|p| p[0] < query[0]);
            for k in at..hi {
                let dx = self.points[k][0] - query[0];
                if dx * dx > best.0 {
                    break;
                }
                if consider(k, best) {
                    return true;
                }
            }
            for k in (lo..at).rev() {
                let dx = self.points[k][0] - query[0];
                if dx * dx > best.0 {
                    break;
                }
                if consider(k, best) {
                    return true;
                }
            }
            return false;
        }
        let mid = lo + (hi - lo) / 2;
        let axis = depth % D;
        if consider(mid, best) {
            return true;
        }
        let diff = query[axis] - self.points[mid][axis];
        let (near, far) = if diff <= 0.0 { ((lo, mid), (mid + 1, hi)) } else { ((mid + 1, hi), (lo, mid)) };
        if self.nearest(near.0, near.1, depth + 1, query, best, step) {
            return true;
        }
        // A point across the splitting plane is at least |diff| away; at exactly the best
        // distance it may still win on its id.
        diff * diff <= best.0 && self.nearest(far.0, far.1, depth + 1, query, best, step)
    }

    fn search(&self, lo: usize, hi: usize, depth: usize, q: &Query<D>, visit: &mut impl FnMut(u32, f64)) {
        let (query, r2, window) = (q.point, q.r2, q.window);
        if hi - lo <= LEAF_SIZE {
            let leaf = &self.points[lo..hi];
            let first = leaf.partition_point(|p| p[0] < window.0);
            for (k, p) in leaf.iter().enumerate().skip(first) {
                if p[0] > window.1 {
                    break;
                }
                let d2 = squared_distance(p, query);
                if d2 <= r2 {
                    visit(self.ids[lo + k], d2);
                }
            }
            return;
        }
        let mid = lo + (hi - lo) / 2;
        let axis = depth % D;
        let d2 = squared_distance(&self.points[mid], query);
        if d2 <= r2 {
            visit(self.ids[mid], d2);
        }
        let diff = query[axis] - self.points[mid][axis];
        let (near, far) = if diff <= 0.0 { ((lo, mid), (mid + 1, hi)) } else { ((mid + 1, hi), (lo, mid)) };
        self.search(near.0, near.1, depth + 1, q, visit);
        // A point across the splitting plane is at least |diff| away.
        if diff * diff <= r2 {
            self.search(far.0, far.1, depth + 1, q, visit);
        }
    }
}

/// What a nearest-point search does with a candidate closer than the best so far.
enum Step {
    Skip,
    Take,
    Stop,
}

/// A radius search: the point, the squared radius, and the x window of leaf scans.
struct Query<'a, const D: usize> {
    point: &'a [f64; D],
    r2: f64,
    window: (f64, f64),
}

fn split<const D: usize>(items: &mut [(u32, [f64; D])], depth: usize) {
    if items.len() <= LEAF_SIZE {
        items.sort_unstable_by(|a, b| a.1[0].total_cmp(&b.1[0]));
        return;
    }
    let axis = depth % D;
    let mid = items.len() / 2;
    items.select_nth_unstable_by(mid, |a, b| a.1[axis].total_cmp(&b.1[axis]));
    let (left, right) = items.split_at_mut(mid);
    split(left, depth + 1);
    split(&mut right[1..], depth + 1);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A reproducible uniform number in [0, 1) (tests only).
    pub(crate) fn lcg(state: &mut u64) -> f64 {
        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn radius_search_matches_brute_force() {
        let mut s = 7u64;
        for n in [0usize, 1, 5, 9, 40, 300, 3000] {
            let pts: Vec<[f64; 3]> =
                (0..n).map(|_| [lcg(&mut s) * 100.0, lcg(&mut s) * 100.0, lcg(&mut s) * 5.0]).collect();
            let tree = KdTree::new(&pts);
            for q in pts.iter().take(20) {
                for r in [0.0, 3.0, 17.5] {
                    let mut got = Vec::new();
                    tree.for_each_within(q, r, |id, _| got.push(id));
                    got.sort();
                    let want: Vec<u32> =
                        (0..n as u32).filter(|&i| squared_distance(&pts[i as usize], q) <= r * r).collect();
                    assert_eq!(got, want);
                }
            }
        }
    }

    #[test]
    fn boundary_is_inclusive() {
        // A 3-4-5 triangle scaled to 20: squared distance exactly 400.
        let pts = [[0.0, 0.0], [12.0, 16.0], [12.0, 16.000001]];
        let tree = KdTree::new(&pts);
        let mut got = Vec::new();
        tree.for_each_within(&pts[0], 20.0, |id, _| got.push(id));
        got.sort();
        assert_eq!(got, vec![0, 1]);
    }

    #[test]
    fn nearest_and_any_match_brute_force() {
        let mut s = 5u64;
        for n in [0usize, 1, 30, 257, 3000] {
            // Coarse coordinates: coincident points and equal distances, where ids decide.
            let pts: Vec<[f64; 2]> =
                (0..n).map(|_| [(lcg(&mut s) * 30.0).floor(), (lcg(&mut s) * 30.0).floor()]).collect();
            let tree = KdTree::new(&pts);
            for q in pts.iter().take(30).chain([[-50.0, 0.0]].iter()) {
                for r in [0.0, 1.0, 4.5] {
                    let skip_even = |id: u32| id % 2 == 1;
                    let got = tree.nearest_within(q, r, |id, _| skip_even(id));
                    let want = (0..n as u32)
                        .filter(|&i| skip_even(i) && squared_distance(&pts[i as usize], q) <= r * r)
                        .map(|i| (squared_distance(&pts[i as usize], q), i))
                        .min_by(|a, b| a.partial_cmp(b).unwrap())
                        .map(|(d2, i)| (i, d2));
                    assert_eq!(got, want, "n {n} r {r}");
                    let any = pts.iter().any(|p| squared_distance(p, q) <= r * r);
                    assert_eq!(tree.any_within(q, r), any);
                }
            }
        }
    }
}
