//! Rows grouped by an equal key (a micrograph's uid or path, a filament's uid), each key
//! hashed once.
//!
//! The ids are numbered in the keys' sorted order, as `numpy.unique(..., return_inverse=True)`
//! numbers them, so a caller that grouped with numpy gets the same ids, first and last rows.
//! numpy sorts every row's key (a million byte-string paths sorted several times cost 0.4 s);
//! here each row's key is compared with the row before it (the rows of a micrograph are
//! usually together) and looked up in a hash table otherwise, and only the distinct keys are
//! sorted.

use rayon::iter::{IntoParallelRefIterator, ParallelIterator};
use rayon::slice::ParallelSliceMut;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// Rows grouped by key: `ids[row]` is the rank of the row's key among the distinct keys,
/// `first[id]`, `last[id]` and `counts[id]` the first and last row holding it and how many do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGroups {
    pub ids: Vec<i64>,
    pub first: Vec<i64>,
    pub last: Vec<i64>,
    pub counts: Vec<i64>,
}

/// Rows grouped by their unsigned 64-bit keys (ids in numeric order).
pub fn group_u64(keys: &[u64]) -> KeyGroups {
    group_by(keys.len(), |row| keys[row])
}

/// Rows grouped by fixed-width byte strings: row `r` is `data[r * width..(r + 1) * width]`
/// (ids in byte order, which is numpy's order of its `S` strings padded with zero bytes).
///
/// # Panics
/// If `data.len()` is not a multiple of `width` (a width of 0 holds no row).
pub fn group_bytes(data: &[u8], width: usize) -> KeyGroups {
    if width == 0 {
        return group_by(0, |_| &data[..0]);
    }
    assert!(data.len() % width == 0, "{} bytes are not rows of {width}", data.len());
    group_by(data.len() / width, |row| &data[row * width..(row + 1) * width])
}

/// The smallest key held by more than one row, and the most rows that hold one key (None
/// when every key is distinct): what `numpy.unique(keys, return_counts=True)` tells of repeats.
///
/// The keys are read twice at most, where they are (a caller's may be strided, a field of a
/// table of records).
/// A `.cs` file's million uids are read once and each is looked up among those met before, in
/// buckets that fit in cache, on every core (sorting a copy of them took 0.2 G instructions);
/// only a file that repeats one is sorted whole, to name the smallest repeated key.
pub fn repeated_u64(keys: impl ExactSizeIterator<Item = u64> + Clone) -> Option<(u64, usize)> {
    if !any_repeated(keys.clone()) {
        return None;
    }
    let mut sorted: Vec<u64> = keys.collect();
    sorted.par_sort_unstable();
    let start = sorted.windows(2).position(|w| w[0] == w[1])?;
    let most = sorted.chunk_by(|a, b| a == b).map(<[u64]>::len).max().unwrap_or(0);
    Some((sorted[start], most))
}

/// Keys per bucket of [`any_repeated`]: a bucket's table (4,096 slots of 8 bytes) stays in a
/// core's L1/L2 cache.
const KEYS_PER_BUCKET: usize = 2048;

/// Whether two of the keys are equal: the keys are dealt into buckets by the top bits of
/// their hash (one pass over the caller's rows), equal keys into the same bucket, and each
/// bucket's keys are looked up in a table of its own, the buckets on every core.
fn any_repeated(keys: impl ExactSizeIterator<Item = u64>) -> bool {
    let count = keys.len().div_ceil(KEYS_PER_BUCKET).max(1);
    let mut buckets: Vec<Vec<u64>> = (0..count).map(|_| Vec::with_capacity(KEYS_PER_BUCKET * 5 / 4)).collect();
    for k in keys {
        let bucket = ((u128::from(mixed(k)) * count as u128) >> 64) as usize;
        buckets[bucket].push(k);
    }
    buckets.par_iter().map_init(Vec::new, |table, bucket| repeats_within(table, bucket)).any(|found| found)
}

/// Whether `bucket` holds a key twice: each key looked up in `table`, open addressing with at
/// least 1.5 times as many slots as keys, from the slot its hash's low bits name. Slot value 0
/// means empty: the key 0 has a flag of its own.
fn repeats_within(table: &mut Vec<u64>, bucket: &[u64]) -> bool {
    let slots = (bucket.len() * 3 / 2).next_power_of_two();
    table.clear();
    table.resize(slots, 0);
    let mut zero_seen = false;
    for &k in bucket {
        if k == 0 {
            if zero_seen {
                return true;
            }
            zero_seen = true;
            continue;
        }
        let mut slot = mixed(k) as usize & (slots - 1);
        loop {
            match table[slot] {
                0 => {
                    table[slot] = k;
                    break;
                }
                held if held == k => return true,
                _ => slot = (slot + 1) & (slots - 1),
            }
        }
    }
    false
}

/// A 64-bit key's hash (the finaliser of SplitMix64: every bit of the key moves about half of
/// its bits), so that keys alike in their high or low bits (sequential uids, multiples of a
/// power of two) spread over the buckets and the slots alike.
fn mixed(key: u64) -> u64 {
    let z = (key ^ (key >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Rows `0..n` grouped by `key(row)`: the general form of [`group_u64`] and [`group_bytes`]
/// (a caller's rows may be strided, a field of a table of records).
pub fn group_by<K: Copy + Eq + Hash + Ord>(n: usize, key: impl Fn(usize) -> K) -> KeyGroups {
    let mut table: HashMap<K, usize, BuildHasherDefault<WordHasher>> = HashMap::default();
    let mut distinct: Vec<K> = Vec::new();
    let mut found = KeyGroups { ids: Vec::with_capacity(n), first: Vec::new(), last: Vec::new(), counts: Vec::new() };
    let mut previous: Option<(K, usize)> = None;
    for row in 0..n {
        let k = key(row);
        let id = match previous {
            Some((p, id)) if p == k => id,
            _ => *table.entry(k).or_insert_with(|| {
                distinct.push(k);
                found.first.push(row as i64);
                found.last.push(row as i64);
                found.counts.push(0);
                distinct.len() - 1
            }),
        };
        previous = Some((k, id));
        found.ids.push(id as i64);
        found.last[id] = row as i64;
        found.counts[id] += 1;
    }
    numbered_in_key_order(found, &distinct)
}

/// `found` with its ids (numbered in order of first appearance) renumbered in key order.
fn numbered_in_key_order<K: Ord>(found: KeyGroups, distinct: &[K]) -> KeyGroups {
    let mut order: Vec<usize> = (0..distinct.len()).collect();
    order.sort_unstable_by(|&a, &b| distinct[a].cmp(&distinct[b]));
    if order.iter().enumerate().all(|(rank, &id)| rank == id) {
        return found; // already in key order (keys met sorted)
    }
    let mut rank = vec![0i64; order.len()];
    for (r, &id) in order.iter().enumerate() {
        rank[id] = r as i64;
    }
    let by_rank = |values: &[i64]| order.iter().map(|&id| values[id]).collect::<Vec<_>>();
    KeyGroups {
        ids: found.ids.iter().map(|&id| rank[id as usize]).collect(),
        first: by_rank(&found.first),
        last: by_rank(&found.last),
        counts: by_rank(&found.counts),
    }
}

/// A fast hash of a few machine words at a time (FxHash's multiply and rotate): the keys
/// come from one file, not from an adversary, so a keyed hash buys nothing here.
#[derive(Default)]
pub(crate) struct WordHasher(u64);

const SEED: u64 = 0x517c_c1b7_2722_0a95;

impl WordHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.add(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        tail[..words.remainder().len()].copy_from_slice(words.remainder());
        self.add(u64::from_le_bytes(tail));
    }

    fn write_u64(&mut self, word: u64) {
        self.add(word);
    }

    fn write_usize(&mut self, word: usize) {
        self.add(word as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oracle: numpy.unique's numbering, by sorting every row's key.
    fn by_sorting<K: Ord + Copy>(keys: &[K]) -> KeyGroups {
        let mut distinct = keys.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let ids: Vec<i64> = keys.iter().map(|k| distinct.binary_search(k).unwrap() as i64).collect();
        let ids_of = &ids;
        let rows_of = |id: usize| (0..keys.len()).filter(move |&r| ids_of[r] == id as i64);
        KeyGroups {
            first: (0..distinct.len()).map(|g| rows_of(g).next().unwrap() as i64).collect(),
            last: (0..distinct.len()).map(|g| rows_of(g).next_back().unwrap() as i64).collect(),
            counts: (0..distinct.len()).map(|g| rows_of(g).count() as i64).collect(),
            ids: ids.clone(),
        }
    }

    #[test]
    fn u64_keys_are_numbered_as_numpy_unique_numbers_them() {
        let keys = [7u64, 7, 3, 9, 3, 3, u64::MAX, 0, 7];
        assert_eq!(group_u64(&keys), by_sorting(&keys));
        let sorted = [1u64, 1, 2, 5, 5, 5];
        assert_eq!(group_u64(&sorted), by_sorting(&sorted));
    }

    #[test]
    fn byte_strings_are_numbered_in_byte_order() {
        // "b", "ab", "a", "ab\x01", "b": padded to 3 bytes as numpy pads its S3 strings.
        let rows: [&[u8; 3]; 5] = [b"b\0\0", b"ab\0", b"a\0\0", b"ab\x01", b"b\0\0"];
        let data: Vec<u8> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        let found = group_bytes(&data, 3);
        assert_eq!(found, by_sorting(&rows));
        assert_eq!(found.ids, vec![3, 1, 0, 2, 3]);
    }

    #[test]
    fn many_keys_in_any_order() {
        let keys: Vec<u64> = (0..5000u64).map(|i| (i * 2_654_435_761) % 97).collect();
        assert_eq!(group_u64(&keys), by_sorting(&keys));
        let bytes: Vec<u8> = keys.iter().flat_map(|k| (k % 13).to_be_bytes()).collect();
        let rows: Vec<[u8; 8]> = keys.iter().map(|k| (k % 13).to_be_bytes()).collect();
        assert_eq!(group_bytes(&bytes, 8), by_sorting(&rows));
    }

    #[test]
    fn no_rows_no_groups() {
        assert_eq!(group_u64(&[]).first, Vec::<i64>::new());
        assert!(group_bytes(&[], 0).ids.is_empty());
        assert!(group_bytes(&[], 4).counts.is_empty());
    }

    #[test]
    fn the_smallest_repeated_key_and_the_most_repeats() {
        let repeated = |keys: &[u64]| repeated_u64(keys.iter().copied());
        assert_eq!(repeated(&[5, 1, 9, 5, 1, 5]), Some((1, 3)));
        assert_eq!(repeated(&[5, 1, 9]), None);
        assert_eq!(repeated(&[]), None);
        assert_eq!(repeated(&[0, 7, 0]), Some((0, 2)));
        assert_eq!(repeated(&[0, 7, u64::MAX]), None);
        assert_eq!(repeated(&[u64::MAX, 3, u64::MAX]), Some((u64::MAX, 2)));
    }

    /// The oracle: sorting every key, as numpy.unique does.
    fn repeats_by_sorting(keys: &[u64]) -> Option<(u64, usize)> {
        let mut sorted = keys.to_vec();
        sorted.sort_unstable();
        let runs: Vec<&[u64]> = sorted.chunk_by(|a, b| a == b).collect();
        let smallest = runs.iter().find(|r| r.len() > 1)?[0];
        Some((smallest, runs.iter().map(|r| r.len()).max().unwrap()))
    }

    #[test]
    fn repeats_found_wherever_they_are_among_many_keys() {
        // Sequential keys, strides of a power of two (both alike in their low or high bits),
        // random-looking keys; each without a repeat, then with one planted at the start,
        // the middle and the end, and far apart.
        let families: Vec<Vec<u64>> = vec![
            (1..=20_000).collect(),
            (0..20_000u64).map(|i| i << 20).collect(),
            (0..20_000u64).map(|i| i.wrapping_mul(0xD6E8_FEB8_6659_FD93).rotate_left(17)).collect(),
        ];
        for keys in families {
            assert_eq!(repeated_u64(keys.iter().copied()), None);
            for (from, to) in [(0, 1), (9_999, 10_000), (19_998, 19_999), (0, 19_999), (12_345, 77)] {
                let mut planted = keys.clone();
                planted[to] = planted[from];
                let found = repeated_u64(planted.iter().copied());
                assert_eq!(found, repeats_by_sorting(&planted));
                assert!(found.is_some());
            }
        }
    }
}
