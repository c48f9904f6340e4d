//! The hand-written parts against the crates that do the same, in one run (benches/bench_crates.py):
//! the Adler-32 of the `--plot` pictures against `adler2`, and the neighbour search (the
//! grid and k-d tree of `algo::grid`, `algo::kdtree`) against `kiddo`'s k-d tree, on work the
//! size of a 1M-particle job. Prints one line per measurement: seconds, best of the rounds.

use std::hint::black_box;
use std::time::Instant;

use cryodedup_core::algo::adler32::adler32;
use cryodedup_core::algo::grid::Grid;
use cryodedup_core::algo::kdtree::KdTree;
use kiddo::SquaredEuclidean;

/// The best of `rounds` runs of `work`, in seconds, and its last result.
fn best<T>(rounds: usize, mut work: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..rounds {
        let start = Instant::now();
        let out = black_box(work());
        best = best.min(start.elapsed().as_secs_f64());
        last = Some(out);
    }
    (best, last.expect("one round at least"))
}

/// A deterministic stream of numbers in [0, 1) (no rand dependency).
fn lcg(state: &mut u64) -> f64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

/// 13 MB of PNG rows like a 1M-particle `--plot` run's: mostly zero, a filter byte a row, some ink.
fn png_like_rows(state: &mut u64) -> Vec<u8> {
    let mut rows = vec![0u8; 13 << 20];
    for (k, b) in rows.iter_mut().enumerate() {
        if k % 1601 == 0 {
            *b = 1;
        } else if lcg(state) < 0.04 {
            *b = (lcg(state) * 256.0) as u8;
        }
    }
    rows
}

/// 1M picks on 5,000 micrographs of 4,096 Å, a tenth of them picked again within 5 Å.
fn micrographs(state: &mut u64) -> Vec<Vec<[f64; 2]>> {
    (0..5000)
        .map(|_| {
            let mut points: Vec<[f64; 2]> = (0..182).map(|_| [lcg(state) * 4096.0, lcg(state) * 4096.0]).collect();
            for k in 0..18 {
                let p = points[k * 10];
                points.push([p[0] + lcg(state) * 5.0, p[1] + lcg(state) * 5.0]);
            }
            points
        })
        .collect()
}

/// Pairs within `radius` over every micrograph: the grid (the k-d tree where it declines), as the dedup walk searches.
fn ours(groups: &[Vec<[f64; 2]>], radius: f64) -> usize {
    let mut found = 0;
    for points in groups {
        match Grid::new(points, radius) {
            Some(grid) => points.iter().for_each(|q| grid.for_each_within(q, radius, |_, _| found += 1)),
            None => {
                let tree = KdTree::new(points);
                points.iter().for_each(|q| tree.for_each_within(q, radius, |_, _| found += 1));
            }
        }
    }
    found
}

/// The same with our k-d tree alone.
fn ours_tree(groups: &[Vec<[f64; 2]>], radius: f64) -> usize {
    let mut found = 0;
    for points in groups {
        let tree = KdTree::new(points);
        points.iter().for_each(|q| tree.for_each_within(q, radius, |_, _| found += 1));
    }
    found
}

/// The same with kiddo's k-d tree (`within_unsorted`, squared Euclidean, inclusive like ours).
fn kiddo_tree(groups: &[Vec<[f64; 2]>], radius: f64) -> usize {
    let mut found = 0;
    for points in groups {
        let mut tree: kiddo::KdTree<f64, 2> = kiddo::KdTree::with_capacity(points.len());
        for (k, p) in points.iter().enumerate() {
            tree.add(p, k as u64);
        }
        for q in points {
            found += tree.within_unsorted::<SquaredEuclidean>(q, radius * radius).len();
        }
    }
    found
}

/// The same with kiddo's immutable k-d tree (built once from a slice, the faster for queries).
fn kiddo_immutable(groups: &[Vec<[f64; 2]>], radius: f64) -> usize {
    let mut found = 0;
    for points in groups {
        let tree: kiddo::ImmutableKdTree<f64, 2> = kiddo::ImmutableKdTree::new_from_slice(points);
        for q in points {
            found += tree.within_unsorted::<SquaredEuclidean>(q, radius * radius).len();
        }
    }
    found
}

fn main() {
    let rounds = std::env::args().nth(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    let mut state = 7u64;
    let rows = png_like_rows(&mut state);
    let (t_ours, a) = best(rounds, || adler32(&rows));
    let (t_crate, b) = best(rounds, || adler2::adler32_slice(&rows));
    assert_eq!(a, b, "the two Adler-32s differ");
    println!("adler32 13 MB: ours (AVX2) {t_ours:.6} s, adler2 {t_crate:.6} s, adler2/ours {:.2}x", t_crate / t_ours);

    let groups = micrographs(&mut state);
    let radius = 20.0;
    let (t_grid, n_grid) = best(rounds, || ours(&groups, radius));
    let (t_tree, n_tree) = best(rounds, || ours_tree(&groups, radius));
    let (t_kiddo, n_kiddo) = best(rounds, || kiddo_tree(&groups, radius));
    let (t_immutable, n_immutable) = best(rounds, || kiddo_immutable(&groups, radius));
    assert!(
        n_grid == n_tree && n_tree == n_kiddo && n_kiddo == n_immutable,
        "{n_grid} {n_tree} {n_kiddo} {n_immutable}"
    );
    println!(
        "neighbours 1M picks, 5,000 micrographs, {radius} A ({n_grid} hits, one thread): ours (grid) {t_grid:.4} s, \
         ours (k-d tree) {t_tree:.4} s, kiddo KdTree {t_kiddo:.4} s, kiddo ImmutableKdTree {t_immutable:.4} s"
    );
}
