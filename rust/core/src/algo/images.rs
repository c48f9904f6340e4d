//! The same particle image twice in one set: the rows a distance rule kept twice (issue 39).
//!
//! Images are known by their keys ([`crate::images`]); rows of one image at one centre are
//! symmetry-expanded copies, not this case.

use rayon::prelude::*;

use crate::algo::points::SAME_CENTRE;

/// The kept rows whose image is kept more than once at different centres (apart by more
/// than [`SAME_CENTRE`]; rows of one image at one centre are symmetry-expanded copies), by
/// image then row: every kept row of each such image. `centres` is row-major, `dim` values
/// per row; `images` 0 is no image.
pub fn kept_twice(images: &[u64], centres: &[f64], dim: usize, keep: &[bool]) -> Vec<u32> {
    let mut kept: Vec<(u64, u32)> =
        (0..images.len()).filter(|&r| keep[r] && images[r] != 0).map(|r| (images[r], r as u32)).collect();
    kept.par_sort_unstable();
    let centre = |r: u32| &centres[r as usize * dim..(r as usize + 1) * dim];
    let apart = |a: u32, b: u32| {
        centre(a).iter().zip(centre(b)).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() > SAME_CENTRE * SAME_CENTRE
    };
    let mut out = Vec::new();
    for run in kept.chunk_by(|a, b| a.0 == b.0) {
        let first = run[0].1;
        if run.len() > 1 && run[1..].iter().any(|&(_, r)| apart(first, r)) {
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
