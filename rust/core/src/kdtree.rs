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

    /// Calls `visit(a, b, squared_distance)` once for every pair of points within `radius`
    /// of each other (inclusive), with `a < b`.
    pub fn for_each_pair_within(&self, radius: f64, mut visit: impl FnMut(u32, u32, f64)) {
        let r2 = radius * radius;
        if self.points.len() <= LEAF_SIZE {
            // One leaf, sorted by x: a forward sweep sees each pair once.
            let reach = radius + radius * 1e-9 + f64::MIN_POSITIVE;
            for (a, pa) in self.points.iter().enumerate() {
                for (b, pb) in self.points.iter().enumerate().skip(a + 1) {
                    if pb[0] - pa[0] > reach {
                        break;
                    }
                    let d2 = squared_distance(pa, pb);
                    if d2 <= r2 {
                        let (i, j) = (self.ids[a], self.ids[b]);
                        visit(i.min(j), i.max(j), d2);
                    }
                }
            }
            return;
        }
        for (a, pa) in self.points.iter().enumerate() {
            let me = self.ids[a];
            self.for_each_within(pa, radius, |other, d2| {
                if other > me {
                    visit(me, other, d2);
                }
            });
        }
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
mod tests {
    use super::*;

    fn lcg(state: &mut u64) -> f64 {
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
    fn pairs_match_brute_force() {
        let mut s = 3u64;
        for n in [0usize, 2, 50, 256, 257, 2000] {
            // Coarse integer coordinates: many exact ties and boundary distances.
            let pts: Vec<[f64; 2]> =
                (0..n).map(|_| [(lcg(&mut s) * 60.0).floor(), (lcg(&mut s) * 60.0).floor()]).collect();
            for r in [0.0, 1.0, 5.0] {
                let mut got = Vec::new();
                KdTree::new(&pts).for_each_pair_within(r, |a, b, _| got.push((a, b)));
                got.sort();
                let mut want = Vec::new();
                for a in 0..n {
                    for b in a + 1..n {
                        if squared_distance(&pts[a], &pts[b]) <= r * r {
                            want.push((a as u32, b as u32));
                        }
                    }
                }
                assert_eq!(got, want, "n {n} r {r}");
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
}
