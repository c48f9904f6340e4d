//! Counts for the `--plot` pictures, each in one pass over the rows: histograms of a million
//! scores or distances, split into kept and rejected, and the picks and rejections of each
//! micrograph. numpy needs about ten passes for one histogram (the finite values picked out,
//! clipped, the bins found, corrected against the edges and counted: issue 43).

use std::fmt;

use crate::algo::points::GroupId;

/// Why counts cannot be made.
#[derive(Debug, Clone, PartialEq)]
pub enum CountError {
    /// Bin edges that are not at least two finite values in ascending order.
    Edges,
    /// A per-row array whose length is not the values'.
    Length { what: &'static str, expected: usize, got: usize },
    /// A row's group that is negative or not below the number of groups.
    Group { index: usize, limit: usize },
}

impl fmt::Display for CountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CountError::Edges => write!(f, "histogram edges must be two or more finite values in ascending order"),
            CountError::Length { what, expected, got } => {
                write!(f, "{what} has {got} entries, expected {expected} (one per value)")
            }
            CountError::Group { index, limit } => {
                write!(f, "row {index}: its group is not in 0..{limit}")
            }
        }
    }
}

impl std::error::Error for CountError {}

/// A histogram of finite values, split by each row's side.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `counts[0]`: rows whose side is false (every row without sides); `counts[1]`: true.
    pub counts: [Vec<u64>; 2],
    /// Finite values outside the edges (counted in the end bins).
    pub beyond: u64,
}

/// The histogram of the finite `values`, each clipped into the edges' range (a value beyond
/// it counts in the end bin), binned exactly as `numpy.histogram(v, bins=len(edges) - 1,
/// range=(edges[0], edges[-1]))` bins them when `edges` are its `numpy.linspace` edges: the
/// bin from the scaled value, then moved by one where the edges say otherwise (their
/// rounding), the last bin closed. Values that are not finite are left out. `sides` splits
/// the rows (the kept and the rejected).
pub fn clipped_histogram(values: &[f64], edges: &[f64], sides: Option<&[bool]>) -> Result<Histogram, CountError> {
    let n = edges.len().wrapping_sub(1);
    if edges.len() < 2 || edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| w[0] >= w[1]) {
        return Err(CountError::Edges);
    }
    if let Some(sides) = sides.filter(|s| s.len() != values.len()) {
        return Err(CountError::Length { what: "sides", expected: values.len(), got: sides.len() });
    }
    let (first, last) = (edges[0], edges[n]);
    // numpy scales by ((v - first) / (last - first)) * bins; any guess within one bin of it
    // ends in the same bin once moved by the edges, so a product serves (no division a value).
    let bins = Bins { first, last, scale: n as f64 / (last - first), top: (n - 1) as f64, edges };
    // Both sides' counts in one array (side 1's from n on); one loop each with and without
    // sides: no per-row test of which.
    let mut counts = vec![0u64; if sides.is_some() { 2 * n } else { n }];
    let mut beyond = 0u64;
    match sides {
        Some(sides) => {
            for (&v, &side) in values.iter().zip(sides) {
                if v.is_finite() {
                    let (k, outside) = bins.locate(v);
                    beyond += u64::from(outside);
                    counts[usize::from(side) * n + k] += 1;
                }
            }
        }
        None => {
            for &v in values {
                if v.is_finite() {
                    let (k, outside) = bins.locate(v);
                    beyond += u64::from(outside);
                    counts[k] += 1;
                }
            }
        }
    }
    let second = counts.split_off(n);
    Ok(Histogram { counts: [counts, second], beyond })
}

/// The bins of [`clipped_histogram`]: the edges, their ends and the scale from a value to a bin.
struct Bins<'a> {
    first: f64,
    last: f64,
    /// Bins per unit of value.
    scale: f64,
    /// The last bin's index, as f64.
    top: f64,
    /// `n + 1` finite edges in ascending order.
    edges: &'a [f64],
}

impl Bins<'_> {
    /// The bin of the finite `v` clipped into `[first, last]`, and whether it was clipped:
    /// the guess from `(clipped - first) * scale`, moved by one where the edges say
    /// otherwise, the last bin closed.
    #[inline(always)]
    fn locate(&self, v: f64) -> (usize, bool) {
        let clipped = if v < self.first {
            self.first
        } else if v > self.last {
            self.last
        } else {
            v
        };
        // Clamped while a float, then truncated (a checked cast of an unclamped float is a
        // dozen instructions).
        let guess = (clipped - self.first) * self.scale;
        let guess = if guess > self.top { self.top } else { guess };
        // SAFETY: `guess` is finite and in [0, n - 1]: clipped >= first, scale > 0, clamped above.
        let k = unsafe { guess.to_int_unchecked::<i64>() } as usize;
        // SAFETY: k <= n - 1 and the edges are n + 1.
        let below = clipped < unsafe { *self.edges.get_unchecked(k) };
        // `clipped` is below `edges[k]` only for k > 0 (edges[0] is `first`).
        let k = k - usize::from(below);
        let last_bin = self.edges.len() - 2;
        // SAFETY: k <= n - 1, so k + 1 <= n, an edge.
        let k = k + usize::from(k < last_bin && clipped >= unsafe { *self.edges.get_unchecked(k + 1) });
        (k, clipped != v)
    }
}

/// The rows of each group (`n_groups` of them, numbered from 0) and, of those, the rows
/// whose `marked` is true (the rejected).
pub fn counts_per_group<G: GroupId>(
    groups: &[G],
    marked: &[bool],
    n_groups: usize,
) -> Result<(Vec<u64>, Vec<u64>), CountError> {
    if marked.len() != groups.len() {
        return Err(CountError::Length { what: "marked", expected: groups.len(), got: marked.len() });
    }
    let (mut rows, mut marks) = (vec![0u64; n_groups], vec![0u64; n_groups]);
    for (index, (&g, &m)) in groups.iter().zip(marked).enumerate() {
        let g = usize::try_from(g.to_i64()).ok().filter(|&g| g < n_groups);
        let g = g.ok_or(CountError::Group { index, limit: n_groups })?;
        rows[g] += 1;
        marks[g] += u64::from(m);
    }
    Ok((rows, marks))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy.linspace(first, last, n + 1): `first + k * step`, the last edge `last` itself.
    fn linspace(first: f64, last: f64, n: usize) -> Vec<f64> {
        let step = (last - first) / n as f64;
        (0..=n).map(|k| if k == n { last } else { first + k as f64 * step }).collect()
    }

    /// The oracle: each value's bin found by comparing it with every edge (the last bin
    /// closed), after clipping, with no scaling at all.
    fn by_comparison(values: &[f64], edges: &[f64], sides: Option<&[bool]>) -> ([Vec<u64>; 2], u64) {
        let n = edges.len() - 1;
        let mut counts = [vec![0u64; n], vec![0u64; if sides.is_some() { n } else { 0 }]];
        let mut beyond = 0;
        for (i, &v) in values.iter().enumerate().filter(|(_, v)| v.is_finite()) {
            if v < edges[0] || v > edges[n] {
                beyond += 1;
            }
            let c = v.max(edges[0]).min(edges[n]);
            let k = (0..n).find(|&k| c >= edges[k] && (c < edges[k + 1] || k == n - 1)).unwrap();
            counts[usize::from(sides.is_some_and(|s| s[i]))][k] += 1;
        }
        (counts, beyond)
    }

    #[test]
    fn histograms_match_a_comparison_with_every_edge() {
        let mut next = crate::test_random(0x9e37_79b9_7f4a_7c15);
        for (first, last, bins) in [(0.0, 200.0, 100), (-3.7, 11.3, 60), (0.1, 0.3, 7), (5.0, 6.0, 1)] {
            let edges = linspace(first, last, bins);
            // Values on every edge and just beside it (where the scaling rounds the wrong
            // way), spread ones, ones beyond both ends, and values that are not finite.
            let mut values: Vec<f64> = edges.iter().flat_map(|&e| [e, e.next_down(), e.next_up()]).collect();
            values.extend((0..5000).map(|_| first - 2.0 + (last - first + 4.0) * next(1_000_000) as f64 / 1e6));
            values.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
            let sides: Vec<bool> = (0..values.len()).map(|_| next(3) == 0).collect();
            for split in [None, Some(&sides[..])] {
                let got = clipped_histogram(&values, &edges, split).unwrap();
                let (counts, beyond) = by_comparison(&values, &edges, split);
                assert_eq!(got.counts, counts, "range {first}..{last}, {bins} bins");
                assert_eq!(got.beyond, beyond);
                assert!(got.beyond > 0 && got.counts[0].iter().sum::<u64>() > 0);
            }
        }
    }

    #[test]
    fn bad_edges_and_lengths_are_refused() {
        for edges in [&[1.0][..], &[], &[0.0, 0.0], &[1.0, 0.0], &[0.0, f64::NAN], &[0.0, f64::INFINITY]] {
            assert_eq!(clipped_histogram(&[0.5], edges, None), Err(CountError::Edges), "{edges:?}");
        }
        let err = clipped_histogram(&[0.5, 0.7], &[0.0, 1.0], Some(&[true])).unwrap_err();
        assert_eq!(err, CountError::Length { what: "sides", expected: 2, got: 1 });
    }

    #[test]
    fn counts_per_group_match_a_count_of_each_group() {
        let mut next = crate::test_random(0x2545_f491_4f6c_dd1d);
        let groups: Vec<u32> = (0..3000).map(|_| next(40) as u32).collect();
        let marked: Vec<bool> = (0..3000).map(|_| next(4) == 0).collect();
        let (rows, marks) = counts_per_group(&groups, &marked, 45).unwrap();
        for g in 0..45u32 {
            let mine: Vec<usize> = (0..3000).filter(|&i| groups[i] == g).collect();
            assert_eq!(rows[g as usize], mine.len() as u64, "group {g}");
            assert_eq!(marks[g as usize], mine.iter().filter(|&&i| marked[i]).count() as u64, "group {g}");
        }
        let wide: Vec<i64> = groups.iter().map(|&g| i64::from(g)).collect();
        assert_eq!(counts_per_group(&wide, &marked, 45).unwrap(), (rows, marks));
        assert_eq!(counts_per_group(&[0i64, -1], &[true, true], 3), Err(CountError::Group { index: 1, limit: 3 }));
        assert_eq!(counts_per_group(&[0u32, 3], &[true, true], 3), Err(CountError::Group { index: 1, limit: 3 }));
        assert!(counts_per_group(&[0u32], &[], 3).is_err());
    }
}
