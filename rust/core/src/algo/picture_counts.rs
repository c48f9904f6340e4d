//! What `--plot`'s pictures and page count of the rows, counted batch by batch as a one-pass
//! scan decides them ([`crate::particle_split`]), not in a pass of their own after it: the
//! nearest-neighbour histogram ([`neighbours::nearest_histogram`]) on a thread of its own,
//! which takes the CPU the scan leaves idle while it reads, and each micrograph's picks and
//! kept picks. A batch holds whole micrographs and no micrograph interacts with another, so
//! the batches' counts added up are the whole file's.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::algo::neighbours::{nearest_histogram, NearestCounts, NearestError};

/// Batches handed to the histogram's thread and not yet counted, at most: past that the
/// scan waits (each holds its rows' micrograph ids and centres, 20 bytes a 2D row).
const QUEUED: usize = 8;

/// The nearest-neighbour histogram the pictures draw (`nn_histogram`): distances measured
/// up to `reach`, counted over `edges`, and how many lie within `within` (inclusive).
#[derive(Clone, Debug, PartialEq)]
pub struct NearestPlan {
    pub reach: f64,
    pub edges: Vec<f64>,
    pub within: f64,
}

/// The counts of a whole scan.
#[derive(Debug, Default, PartialEq)]
pub struct PictureCounts {
    /// The histogram of each row's nearest distance in its micrograph (one label), None where a
    /// batch could not be measured (the caller then measures the whole set itself).
    pub nearest: Option<NearestCounts>,
    /// The rows of each micrograph, by id.
    pub picks: Vec<u64>,
    /// The kept rows of each micrograph, by id.
    pub kept: Vec<u64>,
    /// The lowest value of each coordinate over every row, then the highest (`2 * dim`
    /// values; empty without rows): the pictures' frame of a micrograph without an image. The
    /// rows are in cache here; a pass of their own over ten million centres after the scan took 80 ms.
    pub extent: Vec<f64>,
}

/// A batch's micrograph ids and centres, shared with the histogram's thread (and the page's).
type Batch = (Arc<[u32]>, Arc<[f64]>);

/// The counts of the batches added so far; the histogram's batches counted on a thread.
pub struct PictureTally {
    dim: usize,
    picks: Vec<u64>,
    kept: Vec<u64>,
    extent: Option<(Vec<f64>, Vec<f64>)>,
    to_counter: Option<SyncSender<Batch>>,
    counter: Option<JoinHandle<Result<NearestCounts, NearestError>>>,
}

impl PictureTally {
    /// A tally of rows of `dim` coordinates; the histogram counted as `plan` says.
    pub fn new(plan: NearestPlan, dim: usize) -> Self {
        let (to_counter, batches) = sync_channel::<Batch>(QUEUED);
        let counter = std::thread::Builder::new()
            .name("cryodedup-nearest".into())
            .spawn(move || {
                let bins = plan.edges.len().saturating_sub(1);
                let mut total = NearestCounts { counts: vec![0; bins], within: vec![0] };
                for (keys, centres) in batches {
                    let counted =
                        nearest_histogram(&keys, &centres, dim, plan.reach, &plan.edges, None, &[plan.within])?;
                    add(&mut total.counts, &counted.counts);
                    add(&mut total.within, &counted.within);
                }
                Ok(total)
            })
            .expect("the system gives a thread for the pictures' counts"); // (as std::thread::spawn)
        let (picks, kept, extent) = (Vec::new(), Vec::new(), None);
        PictureTally { dim, picks, kept, extent, to_counter: Some(to_counter), counter: Some(counter) }
    }

    /// Adds a batch of whole micrographs: each row's micrograph id (ascending), its centre
    /// (`dim` values) and whether it is kept.
    pub fn add(&mut self, keys: &Arc<[u32]>, centres: &Arc<[f64]>, keep: &[bool]) {
        if let Some(&last) = keys.last() {
            let n = (last as usize + 1).max(self.picks.len());
            self.picks.resize(n, 0);
            self.kept.resize(n, 0);
        }
        for (&key, &kept) in keys.iter().zip(keep) {
            self.picks[key as usize] += 1;
            self.kept[key as usize] += u64::from(kept);
        }
        debug_assert_eq!(centres.len(), keys.len() * self.dim);
        self.widen(centres);
        if let Some(to) = &self.to_counter {
            if to.send((Arc::clone(keys), Arc::clone(centres))).is_err() {
                self.to_counter = None; // (the thread stopped at a batch it could not measure)
            }
        }
    }

    /// The extent widened to hold `centres` (finite: a batch with a centre that is not is never decided).
    fn widen(&mut self, centres: &[f64]) {
        let dim = self.dim;
        if centres.len() < dim {
            return;
        }
        let (low, high) = self.extent.get_or_insert_with(|| (centres[..dim].to_vec(), centres[..dim].to_vec()));
        match dim {
            2 => widen_by::<2, 8>(low, high, centres),
            _ => widen_by::<3, 12>(low, high, centres),
        }
    }

    /// The counts of every batch added, for `micrographs` micrographs; waits for the histogram.
    pub fn finish(mut self, micrographs: usize) -> PictureCounts {
        self.to_counter = None; // the thread ends once it has counted what it was sent
        let nearest = self.counter.take().and_then(|thread| thread.join().ok()).and_then(Result::ok);
        self.picks.resize(micrographs, 0);
        self.kept.resize(micrographs, 0);
        let (picks, kept) = (std::mem::take(&mut self.picks), std::mem::take(&mut self.kept));
        let extent = self.extent.take().map_or_else(Vec::new, |(low, high)| [low, high].concat());
        PictureCounts { nearest, picks, kept, extent }
    }
}

impl Drop for PictureTally {
    /// Dropped unfinished (a split given up): the thread ends once its channel is closed.
    fn drop(&mut self) {
        self.to_counter = None;
    }
}

/// `low` and `high` (`D` values) widened to hold every row of `centres` (`D` values a row,
/// finite): `L` values (`L / D` rows) at a time in lanes of their own, which compile to
/// vector minima and maxima, the lanes then folded by coordinate.
fn widen_by<const D: usize, const L: usize>(low: &mut [f64], high: &mut [f64], centres: &[f64]) {
    let (mut lo, mut hi) = ([f64::INFINITY; L], [f64::NEG_INFINITY; L]);
    let mut blocks = centres.chunks_exact(L);
    for block in &mut blocks {
        for k in 0..L {
            // (selects: the values are finite, so these are min and max)
            lo[k] = if block[k] < lo[k] { block[k] } else { lo[k] };
            hi[k] = if block[k] > hi[k] { block[k] } else { hi[k] };
        }
    }
    for (k, &v) in blocks.remainder().iter().enumerate() {
        lo[k] = if v < lo[k] { v } else { lo[k] };
        hi[k] = if v > hi[k] { v } else { hi[k] };
    }
    for k in 0..L {
        let c = k % D;
        low[c] = if lo[k] < low[c] { lo[k] } else { low[c] };
        high[c] = if hi[k] > high[c] { hi[k] } else { high[c] };
    }
}

fn add(total: &mut [u64], part: &[u64]) {
    for (t, p) in total.iter_mut().zip(part) {
        *t += p;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::histogram::{clipped_histogram, counts_per_group};
    use crate::algo::neighbours::nearest_distances;

    #[test]
    fn batches_of_whole_micrographs_add_up_to_the_whole_sets_counts() {
        let mut next = crate::test_random(0x9e37_79b9_7f4a_7c15);
        let n = 4000;
        // Micrographs of 1 to 30 rows, ids ascending; a few rows at one centre, a few alone.
        let mut keys = Vec::with_capacity(n);
        let mut mic = 0u32;
        while keys.len() < n {
            let rows = 1 + next(30) as usize;
            keys.extend(std::iter::repeat_n(mic, rows.min(n - keys.len())));
            mic += 1;
        }
        let centres: Vec<f64> = (0..2 * n).map(|k| if k % 97 < 4 { 50.0 } else { next(4000) as f64 / 10.0 }).collect();
        let keep: Vec<bool> = (0..n).map(|_| next(3) > 0).collect();
        let edges: Vec<f64> = (0..=100).map(|k| 200.0 * k as f64 / 100.0).collect();
        let plan = NearestPlan { reach: 200.0, edges: edges.clone(), within: 40.0 };
        let mut tally = PictureTally::new(plan, 2);
        let mut from = 0;
        while from < n {
            // Cut after the micrograph that reaches past 500 rows on (whole micrographs).
            let mut to = (from + 500).min(n);
            while to < n && keys[to] == keys[to - 1] {
                to += 1;
            }
            tally.add(&Arc::from(&keys[from..to]), &Arc::from(&centres[2 * from..2 * to]), &keep[from..to]);
            from = to;
        }
        let got = tally.finish(mic as usize + 2); // (two more micrographs known, with no rows)
        let d = nearest_distances(&keys, &centres, 2, 200.0).unwrap();
        let expected =
            clipped_histogram(&d.iter().copied().filter(|d| d.is_finite()).collect::<Vec<_>>(), &edges, None).unwrap();
        let nearest = got.nearest.unwrap();
        assert_eq!(nearest.counts, expected.counts[0]);
        assert_eq!(nearest.within, vec![d.iter().filter(|&&d| d <= 40.0).count() as u64]);
        let rejected: Vec<bool> = keep.iter().map(|k| !k).collect();
        let (picks, rejects) = counts_per_group(&keys, &rejected, mic as usize + 2).unwrap();
        assert_eq!(got.picks, picks);
        assert_eq!(got.kept.iter().zip(&rejects).map(|(k, r)| k + r).collect::<Vec<_>>(), picks);
        // The extent: each coordinate's lowest and highest over every row, folded here.
        let column = |c: usize| centres.iter().skip(c).step_by(2).copied();
        let low: Vec<f64> = (0..2).map(|c| column(c).fold(f64::INFINITY, f64::min)).collect();
        let high: Vec<f64> = (0..2).map(|c| column(c).fold(f64::NEG_INFINITY, f64::max)).collect();
        assert_eq!(got.extent, [low, high].concat());
    }

    #[test]
    fn the_extent_of_3d_rows_is_each_coordinates_lowest_and_highest() {
        // Batches of 1 to 9 rows (fewer than a block of lanes, and a remainder), the extremes
        // placed in a remainder, in a block's last lane and in the first row.
        let mut next = crate::test_random(0x2545_f491_4f6c_dd1d);
        let n = 500;
        let mut centres: Vec<f64> = (0..3 * n).map(|_| next(20_000) as f64 / 7.0 - 1000.0).collect();
        (centres[3 * 497], centres[3 * 11 + 1], centres[2]) = (-5000.0, 9000.0, -7000.0);
        let mut tally = PictureTally::new(NearestPlan { reach: 50.0, edges: vec![0.0, 25.0, 50.0], within: 5.0 }, 3);
        let (mut from, mut key) = (0, 0u32);
        while from < n {
            let to = (from + 1 + next(9) as usize).min(n);
            tally.add(&Arc::from(vec![key; to - from]), &Arc::from(&centres[3 * from..3 * to]), &vec![true; to - from]);
            (from, key) = (to, key + 1);
        }
        let column = |c: usize| centres.iter().skip(c).step_by(3).copied();
        let low: Vec<f64> = (0..3).map(|c| column(c).fold(f64::INFINITY, f64::min)).collect();
        let high: Vec<f64> = (0..3).map(|c| column(c).fold(f64::NEG_INFINITY, f64::max)).collect();
        assert_eq!((low[0], high[1], low[2]), (-5000.0, 9000.0, -7000.0));
        assert_eq!(tally.finish(key as usize).extent, [low, high].concat());
        let empty = PictureTally::new(NearestPlan { reach: 50.0, edges: vec![0.0, 50.0], within: 5.0 }, 2);
        assert!(empty.finish(0).extent.is_empty());
    }

    #[test]
    fn a_batch_that_cannot_be_measured_leaves_no_histogram() {
        let mut tally =
            PictureTally::new(NearestPlan { reach: 200.0, edges: vec![0.0, 100.0, 200.0], within: 20.0 }, 2);
        tally.add(&Arc::from([0, 0]), &Arc::from([1.0, f64::NAN, 3.0, 4.0]), &[true, false]);
        tally.add(&Arc::from([1, 1]), &Arc::from([1.0, 2.0, 3.0, 4.0]), &[true, true]);
        let got = tally.finish(2);
        assert_eq!(got.nearest, None);
        assert_eq!((got.picks, got.kept), (vec![2, 2], vec![1, 2]));
    }
}
