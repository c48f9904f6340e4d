//! The same particle image twice in one set: the rows a distance rule kept twice (issue 39).
//!
//! Images are known by their keys ([`crate::images`]); rows of one image at one centre of one
//! micrograph are symmetry-expanded copies, not this case.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;

use rayon::prelude::*;

use crate::algo::keys::WordHasher;
use crate::algo::points::SAME_CENTRE;
use crate::images::{
    apart_and_increasing, image_key, listed, run_starts, runs_by_stack, ImageRun, RunStart, RunsMismatch,
};

/// The parts of the key space whose kept rows' keys are sorted one after the other.
const KEY_PARTS: u64 = 4;
/// The bits of a key [`rows_of_repeated_keys`] compares: its part's and its low 32.
const COMPARED: u64 = 0b11 << 62 | 0xffff_ffff;

/// The kept rows whose image key, cut to its low `bits` bits (64: the whole key; fewer only
/// to test what follows a collision), another kept row shares, in row order: every kept row
/// of an image kept twice, and rows of distinct images whose keys collide, which the caller
/// tells apart by their names. The keys are made from the runs and indices as they are
/// needed, never kept for every row, and compared a quarter at a time by their top bits and
/// their low 32 (a few more rows than the keys' repeats: the names decide): 1 byte a kept
/// row while the function runs.
pub fn rows_of_repeated_keys(
    runs: &[ImageRun],
    indices: &[u32],
    keep: &[bool],
    bits: u32,
) -> Result<Vec<u32>, RunsMismatch> {
    let starts = run_starts(runs, indices)?;
    let mask = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    // Each kept row's key, run by run (the run's stack hash once), handed to `take`.
    let each_kept = |take: &mut dyn FnMut(usize, u64)| {
        for (run, &start) in runs.iter().zip(&starts) {
            run.for_each_index(listed(run, start, indices), |k, index| {
                if keep[start.row + k] {
                    take(start.row + k, image_key(run.stack, u64::from(index)) & mask);
                }
            });
        }
    };
    // The keys a quarter of the key space at a time (by their top bits), each as its low 32
    // bits: 1 byte a kept row. Two keys of one quarter that share their low bits repeat here
    // (about n² / 2³⁵ such rows of n: the names then tell them apart, as any collision).
    let mut keys: Vec<u32> = Vec::new();
    let mut repeated: HashSet<u64, BuildHasherDefault<WordHasher>> = HashSet::default();
    for part in 0..KEY_PARTS {
        keys.clear();
        each_kept(&mut |_, key| {
            if key >> 62 == part {
                keys.push(key as u32);
            }
        });
        keys.par_sort_unstable();
        repeated.extend(keys.windows(2).filter(|w| w[0] == w[1]).map(|w| part << 62 | u64::from(w[0])));
    }
    drop(keys);
    let mut rows = Vec::new();
    if !repeated.is_empty() {
        each_kept(&mut |r, key| {
            if repeated.contains(&(key & COMPARED)) {
                rows.push(r as u32);
            }
        });
    }
    Ok(rows)
}

/// A stack's index range wider than this many times its rows is searched for repeats by a
/// sort of its kept indices, not two bitmaps (their bytes stay within 4 a row, as the sort's).
const BITMAPS_BITS_PER_ROW: u64 = 16;

/// The kept rows whose image another kept row shares, in row order: every kept row of an image
/// kept twice, and rows of distinct stacks whose hashes, cut to their low `bits` bits (64: the
/// whole hash; fewer only to test what follows a collision), are equal, which the caller tells
/// apart by their names. Found from the runs by stack ([`crate::images::distinct`]'s way): a
/// stack whose runs are apart and increasing holds no image twice; in the others each kept
/// row's index is marked in two bitmaps as long as the stack's index range (seen, seen twice),
/// or, where the range is far wider than the rows, the stack's kept indices are sorted. No key
/// is made, and nothing is kept a row beyond the rows found (the warning's check, issue 58
/// item 15: it held a byte a kept row while the keys were sorted, and made each key 5 times).
pub fn rows_of_shared_images(
    runs: &[ImageRun],
    indices: &[u32],
    keep: &[bool],
    bits: u32,
) -> Result<Vec<u32>, RunsMismatch> {
    let starts = run_starts(runs, indices)?;
    let mask = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let order = runs_by_stack(runs, &starts, mask);
    let stacks: Vec<&[(ImageRun, RunStart)]> =
        order.chunk_by(|a, b| a.0.stack == b.0.stack).filter(|runs| !apart_and_increasing(runs)).collect();
    let mut rows: Vec<u32> = stacks
        .into_par_iter()
        .map_init(Vec::new, |bits, runs| stack_shared_rows(runs, indices, keep, bits))
        .flatten()
        .collect();
    rows.par_sort_unstable();
    Ok(rows)
}

/// The kept rows of one stack's runs (sorted by first index) whose index another kept row of
/// them shares; `bits` are bitmaps to reuse.
fn stack_shared_rows(runs: &[(ImageRun, RunStart)], indices: &[u32], keep: &[bool], bits: &mut Vec<u64>) -> Vec<u32> {
    let low = runs[0].0.first;
    let span = runs.iter().map(|(r, _)| r.last).max().unwrap_or(low) - low;
    let rows: u64 = runs.iter().map(|(r, _)| r.rows).sum();
    let mut found = Vec::new();
    if span / BITMAPS_BITS_PER_ROW >= rows {
        let mut kept: Vec<u32> = Vec::new();
        for_each_kept(runs, indices, keep, |_, index| kept.push(index));
        kept.sort_unstable();
        let twice: Vec<u32> = kept.chunk_by(|a, b| a == b).filter(|c| c.len() > 1).map(|c| c[0]).collect();
        if !twice.is_empty() {
            for_each_kept(runs, indices, keep, |row, index| {
                if twice.binary_search(&index).is_ok() {
                    found.push(row);
                }
            });
        }
        return found;
    }
    let words = (span / 64 + 1) as usize;
    bits.clear();
    bits.resize(2 * words, 0);
    let (seen, twice) = bits.split_at_mut(words);
    let mut any = false;
    let at = |index: u32| (((u64::from(index) - low) / 64) as usize, 1u64 << ((u64::from(index) - low) % 64));
    for_each_kept(runs, indices, keep, |_, index| {
        let (word, bit) = at(index);
        let again = seen[word] & bit;
        twice[word] |= again;
        any |= again != 0;
        seen[word] |= bit;
    });
    if any {
        for_each_kept(runs, indices, keep, |row, index| {
            let (word, bit) = at(index);
            if twice[word] & bit != 0 {
                found.push(row);
            }
        });
    }
    found
}

/// Calls `take(row, index)` for each kept row of `runs` (one stack's, with their starts), in
/// run order.
#[inline]
fn for_each_kept(runs: &[(ImageRun, RunStart)], indices: &[u32], keep: &[bool], mut take: impl FnMut(u32, u32)) {
    for (run, start) in runs {
        let keep = &keep[start.row..start.row + run.rows as usize];
        run.for_each_index(listed(run, *start, indices), |k, index| {
            if keep[k] {
                take((start.row + k) as u32, index);
            }
        });
    }
}

/// The kept rows whose image is kept more than once at different centres (on different
/// micrographs, `groups`, or apart by more than [`SAME_CENTRE`]; rows of one image at one
/// centre of one micrograph are symmetry-expanded copies, which RELION and CryoSPARC make on
/// the particle's own micrograph), by image then row: every kept row of each such image.
/// `centres` is row-major, `dim` values per row; `images` 0 is no image.
pub fn kept_twice<G: Copy + PartialEq>(
    images: &[u64],
    groups: &[G],
    centres: &[f64],
    dim: usize,
    keep: &[bool],
) -> Vec<u32> {
    // The keys alone first (8 bytes a row): almost always no key repeats, and the rows are
    // never paired with their keys.
    let mut keys: Vec<u64> = (0..images.len()).filter(|&r| keep[r] && images[r] != 0).map(|r| images[r]).collect();
    keys.par_sort_unstable();
    let repeated: HashSet<u64> = keys.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
    if repeated.is_empty() {
        return Vec::new();
    }
    let mut kept: Vec<(u64, u32)> = (0..images.len())
        .filter(|&r| keep[r] && repeated.contains(&images[r]))
        .map(|r| (images[r], r as u32))
        .collect();
    kept.sort_unstable();
    let centre = |r: u32| &centres[r as usize * dim..(r as usize + 1) * dim];
    let apart = |a: u32, b: u32| {
        groups[a as usize] != groups[b as usize]
            || centre(a).iter().zip(centre(b)).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() > SAME_CENTRE * SAME_CENTRE
    };
    let mut out = Vec::new();
    for run in kept.chunk_by(|a, b| a.0 == b.0) {
        let first = run[0].1;
        if run[1..].iter().any(|&(_, r)| apart(first, r)) {
            out.extend(run.iter().map(|&(_, r)| r));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_twice_names_images_kept_at_two_centres_only() {
        // image 7: kept at two centres; image 8: two kept at one centre (symmetry copies);
        // image 9: kept once (its other row rejected); 0: no image.
        let images = [7, 7, 8, 8, 9, 9, 0, 0];
        let centres = [0.0, 0.0, 50.0, 0.0, 10.0, 10.0, 10.0, 10.0, 1.0, 1.0, 90.0, 1.0, 5.0, 5.0, 5.0, 5.0];
        let keep = [true, true, true, true, true, false, true, true];
        let groups = [0u32; 8];
        assert_eq!(kept_twice(&images, &groups, &centres, 2, &keep), vec![0, 1]);
    }

    #[test]
    fn rows_of_repeated_keys_are_the_kept_rows_of_a_repeated_image_and_the_collisions() {
        use crate::images::ImageRows;
        let mut rows = ImageRows::default();
        for name in ["1@a", "2@a", "000001@a", "3@b", "1@b", "3@b", "2@a"] {
            rows.push_name(name.as_bytes());
        }
        let (runs, indices) = (&rows.runs, &rows.indices);
        let keep = [true, true, true, true, true, false, true];
        // 1@a kept twice (rows 0, 2), 2@a (1, 6); 3@b's second row is rejected.
        assert_eq!(rows_of_repeated_keys(runs, indices, &keep, 64), Ok(vec![0, 1, 2, 6]));
        // Keys of no bits: every kept row shares its key with every other.
        assert_eq!(rows_of_repeated_keys(runs, indices, &keep, 0), Ok(vec![0, 1, 2, 3, 4, 6]));
        assert_eq!(rows_of_repeated_keys(runs, indices, &[true; 7][..], 64), Ok(vec![0, 1, 2, 3, 5, 6]));
        assert!(rows_of_repeated_keys(runs, &indices[1..], &keep[1..], 64).is_err());
    }

    #[test]
    fn rows_of_one_image_on_two_micrographs_are_kept_twice_at_any_centre() {
        // image 8's two rows at one centre: copies on micrograph 0, the image twice when
        // they lie on micrographs 0 and 1 (a join of two motion-correction jobs' selections).
        let images = [8, 8];
        let centres = [10.0, 10.0, 10.0, 10.0];
        let keep = [true, true];
        assert_eq!(kept_twice(&images, &[0i64, 0], &centres, 2, &keep), Vec::<u32>::new());
        assert_eq!(kept_twice(&images, &[0i64, 1], &centres, 2, &keep), vec![0, 1]);
    }
}
