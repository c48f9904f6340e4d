//! Micrographs decided together because they share a particle image (`--same-image reject`
//! across micrographs, docs/developers/decisions/same-image.md).
//!
//! A JoinStar of selections whose micrograph names differ (one from another MotionCorr job)
//! puts one particle image on two micrographs. The walk is per micrograph, so such
//! micrographs are walked as one unit: one ranking over their rows, each row's distance
//! searched among its own micrograph's rows only, and the rows of one image made duplicates
//! across the unit. Coordinates are never moved. Finding the units costs one hash lookup a
//! row with an image, and happens only where some image is there twice.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::algo::keys::WordHasher;

/// The micrographs that share an image with another, grouped into units.
#[derive(Debug, Default)]
pub(crate) struct Joined {
    /// Each unit of several micrographs.
    pub units: Vec<Unit>,
    /// Whether each micrograph (a range of the grouped order) is in a unit.
    pub in_unit: Vec<bool>,
}

/// Micrographs walked as one: their rows (global indices, increasing) and the micrograph of
/// each (numbered 0, 1, ... within the unit).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unit {
    pub members: Vec<u32>,
    pub parts: Vec<u32>,
}

/// The units of the micrographs `ranges` (of `order`, as `points::grouped` makes them) that
/// share an image (`images[row]`, 0 for none).
pub(crate) fn joined_micrographs(order: &[u32], ranges: &[(usize, usize)], images: &[u64]) -> Joined {
    let mut micrograph_of = vec![0u32; images.len()];
    for (g, &(lo, hi)) in ranges.iter().enumerate() {
        for &row in &order[lo..hi] {
            micrograph_of[row as usize] = g as u32;
        }
    }
    let mut parent: Vec<u32> = (0..ranges.len() as u32).collect();
    let mut first: HashMap<u64, u32, BuildHasherDefault<WordHasher>> = HashMap::default();
    for (row, &image) in images.iter().enumerate().filter(|(_, &image)| image != 0) {
        let g = micrograph_of[row];
        match first.entry(image) {
            Entry::Vacant(slot) => {
                slot.insert(g);
            }
            Entry::Occupied(slot) => join(&mut parent, *slot.get(), g),
        }
    }
    let mut by_root: Vec<Vec<u32>> = vec![Vec::new(); ranges.len()];
    for g in 0..ranges.len() as u32 {
        let top = root(&mut parent, g);
        by_root[top as usize].push(g);
    }
    let mut joined = Joined { units: Vec::new(), in_unit: vec![false; ranges.len()] };
    for micrographs in by_root.into_iter().filter(|m| m.len() > 1) {
        let mut rows: Vec<(u32, u32)> = Vec::new();
        for (part, &g) in micrographs.iter().enumerate() {
            let (lo, hi) = ranges[g as usize];
            rows.extend(order[lo..hi].iter().map(|&row| (row, part as u32)));
            joined.in_unit[g as usize] = true;
        }
        rows.sort_unstable();
        joined
            .units
            .push(Unit { members: rows.iter().map(|r| r.0).collect(), parts: rows.iter().map(|r| r.1).collect() });
    }
    joined
}

/// The root of `g` in the forest `parent` (paths halved on the way).
fn root(parent: &mut [u32], mut g: u32) -> u32 {
    while parent[g as usize] != g {
        parent[g as usize] = parent[parent[g as usize] as usize];
        g = parent[g as usize];
    }
    g
}

/// Joins the trees of `a` and `b` (the lower root stays).
fn join(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (root(parent, a), root(parent, b));
    parent[ra.max(rb) as usize] = ra.min(rb);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micrographs_sharing_an_image_are_one_unit() {
        // Rows by micrograph (grouped order): m0 = rows 0, 3; m1 = row 1; m2 = rows 2, 4; m3 = row 5.
        // Image 7 on m0 (row 0) and m2 (row 2), image 9 once (row 4), image 0 (none) elsewhere.
        let order = [0, 3, 1, 2, 4, 5];
        let ranges = [(0, 2), (2, 3), (3, 5), (5, 6)];
        let images = [7, 0, 7, 0, 9, 0];
        let joined = joined_micrographs(&order, &ranges, &images);
        assert_eq!(joined.in_unit, [true, false, true, false]);
        assert_eq!(joined.units, [Unit { members: vec![0, 2, 3, 4], parts: vec![0, 1, 0, 1] }]);
        // Images 1 (m0, m1) and 2 (m2, m3): two units; image 2 on m0 too chains all four into one.
        let two = joined_micrographs(&order, &ranges, &[1, 1, 2, 0, 0, 2]);
        assert_eq!(
            two.units,
            [
                Unit { members: vec![0, 1, 3], parts: vec![0, 1, 0] },
                Unit { members: vec![2, 4, 5], parts: vec![0, 0, 1] }
            ]
        );
        let one = joined_micrographs(&order, &ranges, &[1, 1, 2, 2, 0, 2]);
        assert_eq!(one.in_unit, [true; 4]);
        assert_eq!(one.units, [Unit { members: vec![0, 1, 2, 3, 4, 5], parts: vec![0, 1, 2, 0, 2, 3] }]);
    }
}
