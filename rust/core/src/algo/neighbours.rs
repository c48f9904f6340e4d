//! Each particle's distance to the nearest other particle of its micrograph, for the
//! pictures' histogram of nearest-neighbour distances: one k-d tree per micrograph and one
//! search per particle, so a million picks take a second, not the minute of all pairs. The
//! histogram's last bin holds every distance from its left edge on, so the searches look no
//! farther than the caller's `reach` (a search bounded by it prunes most of the tree).

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
    let tree = KdTree::new(&points);
    (0..points.len() as u32)
        .map(|own| {
            let nearest = tree.nearest_within(&points[own as usize], reach, |id, _| id != own);
            nearest.map_or(reach, |(_, d2)| d2.sqrt())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::kdtree::squared_distance;

    #[test]
    fn nearest_distances_match_all_pairs() {
        // Clusters (many at one centre included) and spread points on a few groups; one
        // group holds a single particle. Oracle: every pair measured.
        let mut next = crate::test_random(0x2545_f491_4f6c_dd1du64);
        for dim in [2, 3] {
            let n = 3000;
            let groups: Vec<i64> = (0..n).map(|i| if i == 0 { 99 } else { next(5) as i64 }).collect();
            let coords: Vec<f64> =
                (0..n * dim).map(|k| if k / dim % 7 == 0 { 100.0 } else { next(100_000) as f64 / 10.0 }).collect();
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
            let bounded = nearest_distances(&groups, &coords, dim, reach).unwrap();
            let capped: Vec<f64> = got.iter().map(|&d| if d.is_finite() && d > reach { reach } else { d }).collect();
            assert_eq!(bounded, capped, "dim {dim}, reach {reach}");
            assert!(got.iter().any(|&d| d.is_finite() && d > reach), "the test reaches past the bound");
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
}
