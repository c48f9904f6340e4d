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
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// A row's group that is negative or not below the number of groups.
    Group {
        index: usize,
        limit: usize,
    },
    /// An order statistic asked of values that are NaN, or of fewer values than its rank.
    Rank {
        rank: usize,
        values: usize,
    },
    NotANumber {
        index: usize,
    },
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
            CountError::Rank { rank, values } => write!(f, "rank {rank} asked of {values} values"),
            CountError::NotANumber { index } => write!(f, "value {index} is NaN: values have no order"),
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
    if let Some(sides) = sides.filter(|s| s.len() != values.len()) {
        return Err(CountError::Length { what: "sides", expected: values.len(), got: sides.len() });
    }
    let bins = Bins::new(edges)?;
    // Both sides' counts in one array (side 1's from n on); one loop each with and without
    // sides: no per-row test of which.
    let mut counts = vec![0u64; if sides.is_some() { 2 * n } else { n }];
    let beyond = match sides {
        Some(sides) => bins.count(values, |i| usize::from(sides[i]) * n, &mut counts),
        None => bins.count(values, |_| 0, &mut counts),
    };
    let second = counts.split_off(n);
    Ok(Histogram { counts: [counts, second], beyond })
}

/// The bins of [`clipped_histogram`]: the edges, their ends and the scale from a value to a bin.
pub(crate) struct Bins<'a> {
    first: f64,
    last: f64,
    /// Bins per unit of value.
    scale: f64,
    /// The last bin's index, as f64.
    top: f64,
    /// `n + 1` finite edges in ascending order.
    edges: &'a [f64],
}

impl<'a> Bins<'a> {
    /// The bins between `edges`: two or more finite values in ascending order.
    pub(crate) fn new(edges: &'a [f64]) -> Result<Self, CountError> {
        let n = edges.len().wrapping_sub(1);
        if edges.len() < 2 || edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| w[0] >= w[1]) {
            return Err(CountError::Edges);
        }
        let (first, last) = (edges[0], edges[n]);
        // numpy scales by ((v - first) / (last - first)) * bins; any guess within one bin of it
        // ends in the same bin once moved by the edges, so a product serves (no division a value).
        Ok(Bins { first, last, scale: n as f64 / (last - first), top: (n - 1) as f64, edges })
    }

    /// Each finite value counted in `counts[offset(row) + bin]`; returns how many were clipped.
    pub(crate) fn count(&self, values: &[f64], offset: impl Fn(usize) -> usize, counts: &mut [u64]) -> u64 {
        let mut beyond = 0;
        #[allow(unused_mut)] // (assigned on x86-64 only)
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && self.edges.len() < i32::MAX as usize {
                // SAFETY: the CPU has AVX2; the bins are fewer than i32::MAX.
                done = unsafe { self.count_avx2(values, &offset, counts, &mut beyond) };
            }
        }
        for (i, &v) in values.iter().enumerate().skip(done) {
            if v.is_finite() {
                let (k, outside) = self.locate(v);
                beyond += u64::from(outside);
                counts[offset(i) + k] += 1;
            }
        }
        beyond
    }

    /// [`Bins::count`] of the values four at a time, as [`Bins::locate`] finds each bin (the
    /// same f64 operations; the edges gathered), up to the last whole four; returns how many
    /// values it counted. A quarter of the scalar loop's instructions.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn count_avx2(
        &self,
        values: &[f64],
        offset: &impl Fn(usize) -> usize,
        counts: &mut [u64],
        beyond: &mut u64,
    ) -> usize {
        use std::arch::x86_64::*;
        let (first, last) = (_mm256_set1_pd(self.first), _mm256_set1_pd(self.last));
        let (scale, top) = (_mm256_set1_pd(self.scale), _mm256_set1_pd(self.top));
        let last_bin = _mm_set1_epi32((self.edges.len() - 2) as i32);
        // The low 32 bits of each 64-bit lane: a comparison's mask as four i32 (0 or -1).
        let lows = _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0);
        let narrow =
            |mask: __m256d| _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_castpd_si256(mask), lows));
        let whole = values.len() / 4 * 4;
        let mut bins = [0i32; 4];
        for (at, four) in values[..whole].chunks_exact(4).enumerate() {
            // SAFETY: four values; an unaligned load.
            let v = unsafe { _mm256_loadu_pd(four.as_ptr()) };
            // Finite: v - v is 0 (NaN for NaN and the infinities).
            let finite = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_EQ_OQ>(_mm256_sub_pd(v, v), _mm256_setzero_pd()));
            if finite == 0 {
                continue;
            }
            // Clipped (a value that is not finite lands on an end: counted nowhere, below).
            let clipped = _mm256_min_pd(_mm256_max_pd(v, first), last);
            let outside = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_NEQ_UQ>(clipped, v)) & finite;
            *beyond += u64::from(outside.count_ones());
            let guess = _mm256_min_pd(_mm256_mul_pd(_mm256_sub_pd(clipped, first), scale), top);
            let k = _mm256_cvttpd_epi32(guess); // in 0..=n - 1
                                                // SAFETY: each k is an edge's index (0..=n - 1 of n + 1 edges).
            let below =
                _mm256_cmp_pd::<_CMP_LT_OQ>(clipped, unsafe { _mm256_i32gather_pd::<8>(self.edges.as_ptr(), k) });
            let k = _mm_add_epi32(k, narrow(below)); // below edges[k] only for k > 0: minus 1
                                                     // SAFETY: k + 1 <= n, an edge.
            let next = unsafe { _mm256_i32gather_pd::<8>(self.edges.as_ptr().add(1), k) };
            let above = _mm_and_si128(narrow(_mm256_cmp_pd::<_CMP_GE_OQ>(clipped, next)), _mm_cmplt_epi32(k, last_bin));
            let k = _mm_sub_epi32(k, above); // plus 1
                                             // SAFETY: four i32 stored into four.
            unsafe { _mm_storeu_si128(bins.as_mut_ptr().cast(), k) };
            for (j, &bin) in bins.iter().enumerate() {
                if finite >> j & 1 == 1 {
                    counts[offset(at * 4 + j) + bin as usize] += 1;
                }
            }
        }
        whole
    }

    /// The bin of the finite `v` clipped into `[first, last]`, and whether it was clipped:
    /// the guess from `(clipped - first) * scale`, moved by one where the edges say
    /// otherwise, the last bin closed.
    #[inline(always)]
    pub(crate) fn locate(&self, v: f64) -> (usize, bool) {
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

/// Buckets of [`order_statistics`]: enough that a bucket of a million spread values holds a
/// few hundred, few enough that their counts stay in the first-level cache.
const ORDER_BUCKETS: usize = 4096;

/// The `ranks`-th smallest of `values` (rank 0 the least), each as a full sort would place
/// it, for the pictures' score percentiles. numpy's partition of a million values moves them
/// all several times (12 ms); here one pass counts them into buckets of equal width between
/// the least and the greatest (a value's bucket never decreases as the value grows), and
/// only the bucket holding a rank is searched: about three passes over the values.
pub fn order_statistics(values: &[f64], ranks: &[usize]) -> Result<Vec<f64>, CountError> {
    let n = values.len();
    if let Some(&rank) = ranks.iter().find(|&&r| r >= n) {
        return Err(CountError::Rank { rank, values: n });
    }
    if let Some(index) = values.iter().position(|v| v.is_nan()) {
        return Err(CountError::NotANumber { index });
    }
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let width = hi - lo;
    if n < 4 * ORDER_BUCKETS || !(width.is_finite() && width > 0.0) {
        let mut all = values.to_vec();
        return Ok(ranks.iter().map(|&r| nth(&mut all, r)).collect());
    }
    let scale = ORDER_BUCKETS as f64 / width;
    let last = ORDER_BUCKETS - 1;
    // (v - lo) * scale grows with v and is finite and at least 0: its bucket never decreases.
    let bucket = |v: f64| (((v - lo) * scale) as usize).min(last);
    let mut counts = vec![0usize; ORDER_BUCKETS];
    for &v in values {
        counts[bucket(v)] += 1;
    }
    // Each rank's bucket, and its rank among that bucket's values.
    let mut before = Vec::with_capacity(ORDER_BUCKETS);
    let mut total = 0;
    for &c in &counts {
        before.push(total);
        total += c;
    }
    let place = |r: usize| {
        let b = before.partition_point(|&start| start <= r) - 1;
        (b, r - before[b])
    };
    let mut wanted: Vec<usize> = ranks.iter().map(|&r| place(r).0).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut members: Vec<Vec<f64>> = wanted.iter().map(|&b| Vec::with_capacity(counts[b])).collect();
    for &v in values {
        if let Ok(k) = wanted.binary_search(&bucket(v)) {
            members[k].push(v);
        }
    }
    Ok(ranks
        .iter()
        .map(|&r| {
            let (b, within) = place(r);
            nth(&mut members[wanted.binary_search(&b).expect("a rank's bucket is wanted")], within)
        })
        .collect())
}

/// The `r`-th smallest of `values` (no NaN), reordering them.
fn nth(values: &mut [f64], r: usize) -> f64 {
    *values.select_nth_unstable_by(r, |a, b| a.partial_cmp(b).expect("no NaN")).1
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
            // Some among the first fours too (the vector loop's), and a four of them alone.
            values.splice(4..4, [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1.0, f64::NAN]);
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

    #[test]
    fn order_statistics_are_a_full_sorts() {
        let mut next = crate::test_random(0x2545_f491_4f6c_dd1d);
        let spread = |next: &mut dyn FnMut(u64) -> u64, n: usize| -> Vec<f64> {
            (0..n).map(|_| next(2_000_001) as f64 / 1e3 - 1000.0).collect()
        };
        let mut cases: Vec<Vec<f64>> = vec![
            spread(&mut next, 50_000),
            (0..40_000).map(|_| (next(7) as f64) - 3.0).collect(), // ties: a few values only
            (0..30_000).map(|k| if k == 17 { 1e300 } else { next(1000) as f64 * 1e-9 }).collect(), // one far outlier
            [spread(&mut next, 20_000), vec![f64::INFINITY, f64::NEG_INFINITY]].concat(),
            vec![0.0, -0.0, 2.5],
            vec![7.0],
        ];
        cases.push(cases[0].iter().map(|v| v * 1e-300).collect()); // subnormal widths
        for values in &cases {
            let mut sorted = values.clone();
            sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let n = values.len();
            let ranks = [0, n / 100, n / 2, n - 1 - n / 100, n - 1, n / 3];
            let got = order_statistics(values, &ranks).unwrap();
            let want: Vec<f64> = ranks.iter().map(|&r| sorted[r]).collect();
            assert_eq!(got, want, "{n} values");
        }
        assert_eq!(order_statistics(&[1.0, 2.0], &[2]), Err(CountError::Rank { rank: 2, values: 2 }));
        assert_eq!(order_statistics(&[1.0, f64::NAN], &[0]), Err(CountError::NotANumber { index: 1 }));
    }
}
