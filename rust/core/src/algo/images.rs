//! The same particle image twice in one set: the rows a distance rule kept twice (issue 39).
//!
//! Images are known by their keys ([`crate::images`]); rows of one image at one centre of one
//! micrograph are symmetry-expanded copies, not this case.

use std::collections::HashSet;

use rayon::prelude::*;

use crate::algo::points::SAME_CENTRE;

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
