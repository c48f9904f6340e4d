//! Each particle's distance to the nearest other particle of its micrograph, for the
//! pictures' histogram of nearest-neighbour distances: one search per particle in an index of
//! its micrograph, so a million picks take a tenth of a second, not the minute of all pairs.
//! The histogram's last bin holds every distance from its left edge on, so the searches look
//! no farther than the caller's `reach`. Within that bound the index is the dedup walk's grid
//! (cells at least `reach` wide, about one pick each), every close pair measured once for
//! both its picks (a quarter of the k-d tree's work on spread picks, issue 43); crowded or
//! unbounded, the k-d tree.

use crate::algo::grid::{Grid, PAIR_MARGIN};
use crate::algo::kdtree::KdTree;
use crate::algo::points::{check_coordinates, point, values_by_group, GroupId};
use crate::errors::DedupError;

/// For every particle, the distance to the nearest other particle of its group (0 for a
/// copy at the same centre; infinity for a particle alone in its group), or `reach` when
/// that particle is farther than `reach` (infinity: no bound).
pub fn nearest_distances<G: GroupId>(
    groups: &[G],
    coords: &[f64],
    dim: usize,
    reach: f64,
) -> Result<Vec<f64>, DedupError> {
    let n = groups.len();
    if dim != 2 && dim != 3 {
        return Err(DedupError::Dimension(dim));
    }
    if coords.len() != n * dim {
        return Err(DedupError::Length { what: "coords", expected: n * dim, got: coords.len() / dim });
    }
    if n >= u32::MAX as usize {
        return Err(DedupError::TooMany(n));
    }
    check_coordinates(coords, dim)?;
    let reach = if reach >= 0.0 { reach } else { f64::INFINITY }; // NaN or negative: no bound
    Ok(match dim {
        2 => values_by_group(groups, |members| nearest_in_group::<2>(coords, members, reach)),
        _ => values_by_group(groups, |members| nearest_in_group::<3>(coords, members, reach)),
    })
}

/// The distances of one group's members (aligned with `members`).
fn nearest_in_group<const D: usize>(coords: &[f64], members: &[u32], reach: f64) -> Vec<f64> {
    if members.len() < 2 {
        return vec![f64::INFINITY; members.len()];
    }
    let points: Vec<[f64; D]> = members.iter().map(|&i| point::<D>(coords, i)).collect();
    if let Some(grid) = reach.is_finite().then(|| Grid::new(&points, reach * (1.0 + PAIR_MARGIN))).flatten() {
        return nearest_in_grid(&grid, points.len(), reach);
    }
    let tree = KdTree::new(&points);
    (0..points.len() as u32)
        .map(|own| {
            let nearest = tree.nearest_within(&points[own as usize], reach, |id, _| id != own);
            nearest.map_or(reach, |(_, d2)| d2.sqrt())
        })
        .collect()
}

/// The distances of a grid's `n` points (made for `reach` widened by [`PAIR_MARGIN`]): each
/// close pair measured once, for both of its points.
fn nearest_in_grid<const D: usize>(grid: &Grid<D>, n: usize, reach: f64) -> Vec<f64> {
    let mut best = vec![f64::INFINITY; n];
    grid.for_each_pair_within(reach, |a, b, d2| {
        for k in [a as usize, b as usize] {
            best[k] = best[k].min(d2);
        }
    });
    best.into_iter().map(|d2| if d2.is_finite() { d2.sqrt() } else { reach }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::kdtree::squared_distance;

    #[test]
    fn nearest_distances_match_all_pairs() {
        // Clusters (many at one centre: the k-d tree; a few: the grid) and spread points on a
        // few groups; one group holds a single particle. Oracle: every pair measured.
        let mut next = crate::test_random(0x2545_f491_4f6c_dd1du64);
        for (dim, clump) in [(2, 7), (3, 7), (2, 97), (3, 97)] {
            let n = 3000;
            let groups: Vec<i64> = (0..n).map(|i| if i == 0 { 99 } else { next(5) as i64 }).collect();
            let coords: Vec<f64> =
                (0..n * dim).map(|k| if k / dim % clump == 0 { 100.0 } else { next(100_000) as f64 / 10.0 }).collect();
            let got = nearest_distances(&groups, &coords, dim, f64::INFINITY).unwrap();
            let narrow: Vec<u32> = groups.iter().map(|&g| g as u32).collect();
            assert_eq!(
                nearest_distances(&narrow, &coords, dim, f64::INFINITY).unwrap(),
                got,
                "uint32 ids as int64 ids"
            );
            // Bounded: the distances up to the reach as they are, the farther ones the reach
            // itself (alone in the group: still infinity).
            let reach = 150.0;
            assert_eq!(grid_taken(&groups, &coords, dim, reach), clump == 97, "dim {dim}, clump {clump}");
            let bounded = nearest_distances(&groups, &coords, dim, reach).unwrap();
            let capped: Vec<f64> = got.iter().map(|&d| if d.is_finite() && d > reach { reach } else { d }).collect();
            assert_eq!(bounded, capped, "dim {dim}, clump {clump}, reach {reach}");
            assert!(got.iter().any(|&d| d.is_finite() && d > reach), "the test reaches past the bound");
            assert!(got.iter().any(|&d| d > 0.0 && d < reach), "and finds neighbours within it");
            for i in 0..n {
                let p = |j: usize| {
                    let mut q = [0.0; 3];
                    q[..dim].copy_from_slice(&coords[j * dim..j * dim + dim]);
                    q
                };
                let want = (0..n)
                    .filter(|&j| j != i && groups[j] == groups[i])
                    .map(|j| squared_distance(&p(i), &p(j)).sqrt())
                    .fold(f64::INFINITY, f64::min);
                assert_eq!(got[i], want, "particle {i}, dim {dim}");
            }
        }
        assert!(nearest_distances(&[0i64], &[f64::NAN, 0.0], 2, 1.0).is_err());
        assert!(nearest_distances(&[0u32], &[0.0; 4], 4, 1.0).is_err());
    }

    /// Whether every group of two or more gets a grid for `reach` (else the k-d tree searches it).
    fn grid_taken(groups: &[i64], coords: &[f64], dim: usize, reach: f64) -> bool {
        let mut by_group = std::collections::BTreeMap::<i64, Vec<[f64; 3]>>::new();
        for (i, &g) in groups.iter().enumerate() {
            let mut q = [0.0; 3];
            q[..dim].copy_from_slice(&coords[i * dim..i * dim + dim]);
            by_group.entry(g).or_default().push(q);
        }
        by_group.values().filter(|pts| pts.len() > 1).all(|pts| Grid::new(pts, reach).is_some())
    }
}
