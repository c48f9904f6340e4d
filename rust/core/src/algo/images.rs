//! The same particle image twice in one set: the rows a distance rule kept twice (issue 39).
//!
//! Images are known by their keys ([`crate::images`]); rows of one image at one centre are
//! symmetry-expanded copies, not this case.

use std::collections::HashSet;

use rayon::prelude::*;

use crate::algo::points::SAME_CENTRE;

/// The kept rows whose image is kept more than once at different centres (apart by more
/// than [`SAME_CENTRE`]; rows of one image at one centre are symmetry-expanded copies), by
/// image then row: every kept row of each such image. `centres` is row-major, `dim` values
/// per row; `images` 0 is no image.
pub fn kept_twice(images: &[u64], centres: &[f64], dim: usize, keep: &[bool]) -> Vec<u32> {
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
        centre(a).iter().zip(centre(b)).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() > SAME_CENTRE * SAME_CENTRE
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
        assert_eq!(kept_twice(&images, &centres, 2, &keep), vec![0, 1]);
    }
}
