//! Filling large arrays from several threads.
//!
//! Millions of rows make arrays of tens of MB, and on a fresh allocation the first write to
//! each page costs a page fault in which the kernel clears the page: on this kind of machine
//! that costs more than the work the array is made for. Written by one thread, those faults
//! are serial; written in parallel, they are shared out. Everything here gives the same
//! result as its plain serial loop.

use rayon::prelude::*;

/// Rows given to one task: large enough that a task's overhead does not show, small enough
/// that two threads share a few million rows evenly.
pub const ROWS_PER_TASK: usize = 1 << 16;

/// An output that several threads fill in, each at its own indices.
pub struct Scatter<T> {
    start: *mut T,
    len: usize,
}

// SAFETY: a `Scatter` only writes through `put` and `set`, whose callers guarantee disjoint
// indices.
unsafe impl<T: Send> Sync for Scatter<T> {}

impl<T: Copy> Scatter<T> {
    pub fn new(values: &mut [T]) -> Self {
        Scatter { start: values.as_mut_ptr(), len: values.len() }
    }

    /// Writes `values[k]` at index `indices[k]` (nothing when `values` is empty).
    ///
    /// # Safety
    /// No other thread may write or read any of `indices` while this runs, and the
    /// underlying slice must outlive the `Scatter`.
    pub unsafe fn put(&self, indices: &[u32], values: &[T]) {
        for (&i, &v) in indices.iter().zip(values) {
            // SAFETY: passed on to the caller.
            unsafe { self.set(i as usize, v) };
        }
    }

    /// Writes `value` at `index`.
    ///
    /// # Safety
    /// As [`Scatter::put`].
    pub unsafe fn set(&self, index: usize, value: T) {
        assert!(index < self.len);
        // SAFETY: in bounds (asserted), and the caller guarantees exclusive access.
        unsafe { *self.start.add(index) = value };
    }
}

/// Appends runs of `sizes[k]` values, run `k` being `run(k)`, the runs written in parallel.
///
/// The new slots are written once, straight into the vector's spare capacity: no serial
/// zero-filling first (the fresh pages are touched by the threads that fill them).
pub fn extend_in_parallel<T: Send, I: Iterator<Item = T>>(
    values: &mut Vec<T>,
    sizes: &[usize],
    run: impl Fn(usize) -> I + Sync,
) {
    let total: usize = sizes.iter().sum();
    values.reserve(total);
    let mut spare = &mut values.spare_capacity_mut()[..total];
    let mut parts = Vec::with_capacity(sizes.len());
    for (k, &size) in sizes.iter().enumerate() {
        let (part, rest) = std::mem::take(&mut spare).split_at_mut(size);
        spare = rest;
        parts.push((k, part));
    }
    parts.into_par_iter().with_min_len(16).for_each(|(k, part)| {
        let mut written = 0;
        for (slot, value) in part.iter_mut().zip(run(k)) {
            slot.write(value);
            written += 1;
        }
        assert_eq!(written, part.len(), "a run shorter than its size");
    });
    let len = values.len() + total;
    // SAFETY: every one of the `total` slots after the old length was written above (a run
    // that fell short panicked before this point).
    unsafe { values.set_len(len) };
}

/// `values[k]` repeated `counts[k]` times, for each `k` in order, written in parallel.
pub fn repeat_in_parallel<T: Copy + Send + Sync>(values: &[T], counts: &[usize]) -> Vec<T> {
    assert_eq!(values.len(), counts.len());
    let mut out = Vec::new();
    extend_in_parallel(&mut out, counts, |k| std::iter::repeat_n(values[k], counts[k]));
    out
}

/// `f(i)` for `i` in `0..n`, computed and written in parallel.
pub fn collect_in_parallel<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let stretches: Vec<(usize, usize)> = tasks(n).collect();
    let sizes: Vec<usize> = stretches.iter().map(|&(_, rows)| rows).collect();
    let mut values = Vec::new();
    extend_in_parallel(&mut values, &sizes, |k| (stretches[k].0..stretches[k].0 + sizes[k]).map(&f));
    values
}

/// `0..n` cut into tasks of [`ROWS_PER_TASK`] rows (the last one shorter): (first row, rows).
pub fn tasks(n: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n).step_by(ROWS_PER_TASK).map(move |first| (first, ROWS_PER_TASK.min(n - first)))
}

/// The indices `0..n` ordered by `key(i)` (a stable counting sort), keys below `n_keys`;
/// indices whose key is `n_keys` or more are left out. Returns the order and, for each key
/// `k`, where its indices start in it (`offsets[k]..offsets[k + 1]`).
///
/// Parallel when there are few keys for the rows (the rows of each stretch are counted per
/// key, then each stretch places its rows after those of the stretches before it).
pub fn order_by_key(n: usize, n_keys: usize, key: impl Fn(usize) -> usize + Sync) -> (Vec<u32>, Vec<usize>) {
    assert!(n <= u32::MAX as usize, "more than 2^32 rows");
    // Per stretch, a count per key: at most as many counts in all as there are rows.
    let stretches = (n / (n_keys + 1).max(ROWS_PER_TASK)).clamp(1, 4 * rayon::current_num_threads());
    let bounds: Vec<usize> = (0..=stretches).map(|s| s * n / stretches).collect();
    let bucket = |i: usize| key(i).min(n_keys); // bucket n_keys: left out
    let counts: Vec<Vec<usize>> = (0..stretches)
        .into_par_iter()
        .map(|s| {
            let mut count = vec![0; n_keys + 1];
            (bounds[s]..bounds[s + 1]).for_each(|i| count[bucket(i)] += 1);
            count
        })
        .collect();
    // next[s][k]: where stretch s puts its next row of key k.
    let mut next = vec![vec![0usize; n_keys + 1]; stretches];
    let mut offsets = Vec::with_capacity(n_keys + 1);
    let mut at = 0;
    for k in 0..=n_keys {
        offsets.push(at);
        for s in 0..stretches {
            next[s][k] = at;
            at += counts[s][k];
        }
    }
    let kept = offsets[n_keys];
    let mut order = vec![0u32; kept];
    let scatter = Scatter::new(&mut order);
    next.par_iter_mut().enumerate().for_each(|(s, next)| {
        for i in bounds[s]..bounds[s + 1] {
            let b = bucket(i);
            if b < n_keys {
                // SAFETY: each (stretch, key) owns the slots from its `next` on, as many
                // as it has rows of that key, and no two own the same slot.
                unsafe { scatter.set(next[b], i as u32) };
                next[b] += 1;
            }
        }
    });
    (order, offsets)
}

/// The threads that read images and make their spectra: a pool apart from rayon's global
/// one, which compares pairs, so that the two can run at once (as many threads each).
pub fn reading_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|i| format!("cryodedup-read-{i}"))
            .build()
            .expect("threads for reading micrographs")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_by_key_is_a_stable_sort_that_leaves_out_large_keys() {
        let mut next = crate::test_random(7);
        for (n, n_keys) in [(0, 3), (10, 1), (1000, 7), (300_000, 5), (300_000, 40_000), (200_000, 400_000)] {
            let keys: Vec<usize> = (0..n).map(|_| next(n_keys as u64 + 2) as usize).collect();
            let (order, offsets) = order_by_key(n, n_keys, |i| keys[i]);
            let mut expected: Vec<u32> = (0..n as u32).filter(|&i| keys[i as usize] < n_keys).collect();
            expected.sort_by_key(|&i| keys[i as usize]); // stable
            assert_eq!(order, expected, "n {n}, keys {n_keys}");
            assert_eq!((offsets.len(), offsets[n_keys]), (n_keys + 1, order.len()));
            for k in 0..n_keys {
                assert!(order[offsets[k]..offsets[k + 1]].iter().all(|&i| keys[i as usize] == k));
            }
        }
    }

    #[test]
    fn repeat_in_parallel_is_the_serial_repeat() {
        let counts: Vec<usize> = (0..500).map(|k| (k * 37) % 11).collect();
        let values: Vec<i32> = (0..500).map(|k| k - 250).collect();
        let expected: Vec<i32> = values.iter().zip(&counts).flat_map(|(&v, &c)| std::iter::repeat_n(v, c)).collect();
        assert_eq!(repeat_in_parallel(&values, &counts), expected);
    }

    #[test]
    fn collect_in_parallel_is_the_serial_map() {
        for n in [0, 1, ROWS_PER_TASK, 3 * ROWS_PER_TASK + 5] {
            assert_eq!(collect_in_parallel(n, |i| i * 3), (0..n).map(|i| i * 3).collect::<Vec<_>>());
        }
    }
}
