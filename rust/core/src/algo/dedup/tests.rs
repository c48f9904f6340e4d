use super::*;
use crate::algo::rank_keys::mix;

fn params(min_dist: f64) -> DedupParams {
    DedupParams::keep_best(min_dist)
}

/// A reproducible stream of pseudo-random numbers.
fn seeded(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state = mix(state);
        state
    }
}

#[test]
fn chain_keeps_both_ends() {
    // Centres at 0, 15 and 30 Å with 20 Å: the middle one is suppressed by the best
    // ranked, and the far end survives because a suppressed particle suppresses nothing.
    let coords = [0.0, 0.0, 15.0, 0.0, 30.0, 0.0];
    let r = dedup(&[0i64, 0, 0], &coords, 2, Some(&[3.0, 2.0, 1.0]), &params(20.0)).unwrap();
    assert_eq!(r.keep, vec![true, false, true]);
    assert_eq!(r.suppressed_by, vec![-1, 0, -1]);
}

#[test]
fn u32_groups_and_no_suppressed_by_decide_alike() {
    // Two micrographs interleaved (so results are scattered back), chains at 0, 15, 30 Å.
    let groups_i64 = [5i64, 2, 5, 2, 5, 2];
    let groups_u32 = [5u32, 2, 5, 2, 5, 2];
    let coords = [0.0, 0.0, 0.0, 0.0, 15.0, 0.0, 15.0, 0.0, 30.0, 0.0, 30.0, 0.0];
    let scores = [3.0, 1.0, 2.0, 2.0, 1.0, 3.0];
    let full = dedup(&groups_i64, &coords, 2, Some(&scores), &params(20.0)).unwrap();
    // Group 5 ranks 0 (3.0) first: keeps 0, suppresses 2; 4 survives. Group 2 ranks 5 first:
    // keeps 5, suppresses 3; 1 survives.
    assert_eq!(full.keep, vec![true, true, false, false, true, true]);
    assert_eq!(full.suppressed_by, vec![-1, -1, 0, 5, -1, -1]);
    let lean = DedupParams { want_suppressed_by: false, ..params(20.0) };
    let r = dedup(&groups_u32, &coords, 2, Some(&scores), &lean).unwrap();
    assert_eq!(r.keep, full.keep);
    assert!(r.suppressed_by.is_empty());
}

#[test]
fn groups_never_interact() {
    let coords = [0.0, 0.0, 0.0, 0.0];
    let r = dedup(&[5i64, 9], &coords, 2, None, &params(20.0)).unwrap();
    assert_eq!(r.keep, vec![true, true]);
}

#[test]
fn lower_is_better_and_nan_last() {
    let coords = [0.0, 0.0, 1.0, 0.0, 2.0, 0.0];
    let p = DedupParams { higher_is_better: false, ..params(5.0) };
    let r = dedup(&[1i64, 1, 1], &coords, 2, Some(&[f64::NAN, 0.5, 0.2]), &p).unwrap();
    assert_eq!(r.keep, vec![false, false, true]);
    assert_eq!(r.suppressed_by, vec![2, 2, -1]);
}

#[test]
fn zero_distance_matches_centres_to_a_thousandth_of_an_angstrom() {
    // Particles 0, 1 and 5 are one centre (5 is 4e-13 Å off, as a re-centred copy is),
    // 2 is 0.01 Å off: another centre; -0.0 and 0.0 are one.
    let coords = [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.01, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0 + 4e-13, 2.0, 3.0];
    let groups = [0i64; 6];
    let r = dedup(&groups, &coords, 3, Some(&[1.0, 2.0, 0.0, 1.0, 1.0, 0.5]), &params(0.0)).unwrap();
    assert_eq!(r.keep, vec![false, true, true, true, false, false]);
    assert_eq!(r.suppressed_by, vec![1, -1, -1, -1, 3, 1]);
    let entirely = DedupParams { remove_entirely: true, ..params(0.0) };
    let r = dedup(&groups, &coords, 3, None, &entirely).unwrap();
    assert_eq!(r.keep, vec![false, false, true, false, false, false]);
    assert_eq!(r.suppressed_by, vec![1, 0, -1, 4, 3, 0]);
}

#[test]
fn identical_centres_straddling_grid_cell_edges() {
    // Spread picks get a grid whose cells start at the lowest point and are
    // sqrt(area / n) wide (1000 x 1000 Å, 52 points: 138.7 Å). Copies 1e-6 Å apart on
    // either side of a cell edge, in x and in y, are still one centre, for the
    // duplicate test and for the confirmation of a second input alike.
    let mut coords = vec![0.0, 0.0, 1000.0, 1000.0];
    let cell = (1000.0f64 * 1000.0 / 52.0).sqrt();
    for k in 1..=25 {
        let edge = (k % 7 + 1) as f64 * cell;
        let across = 37.0 * k as f64;
        let (a, b) = if k % 2 == 0 {
            ([edge - 5e-7, across], [edge + 5e-7, across])
        } else {
            ([across, edge - 5e-7], [across, edge + 5e-7])
        };
        coords.extend(a);
        coords.extend(b);
    }
    let n = coords.len() / 2;
    let groups = vec![0i64; n];
    let inputs: Vec<u32> = (0..n as u32).map(|i| i % 2).collect();
    let scores: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { 1.0 } else { 0.0 }).collect();
    let (r, masks) =
        dedup_full(&groups, &coords, 2, Some(&scores), Some(&inputs), None, None, RowFacts::default(), &params(0.0))
            .unwrap();
    let rejected: Vec<usize> = (0..n).filter(|&i| !r.keep[i]).collect();
    assert_eq!(rejected, (3..n).step_by(2).collect::<Vec<_>>(), "the second of each pair");
    assert!(rejected.iter().all(|&i| r.suppressed_by[i] == i as i64 - 1));
    let support: Vec<u32> = masks.unwrap().iter().map(|m| m.count_ones()).collect();
    assert_eq!(support[2..], vec![2; n - 2][..], "each copy confirms the other");
    assert_eq!(r, brute_force(&groups, &coords, &scores, &params(0.0)));
}

#[test]
fn remove_entirely_names_nearest() {
    let coords = [0.0, 0.0, 9.0, 0.0, 4.0, 0.0, 100.0, 0.0];
    let p = DedupParams { remove_entirely: true, ..params(10.0) };
    let r = dedup(&[0i64, 0, 0, 0], &coords, 2, None, &p).unwrap();
    assert_eq!(r.keep, vec![false, false, false, true]);
    assert_eq!(r.suppressed_by, vec![2, 2, 0, -1]);
}

#[test]
fn unsorted_sparse_groups() {
    let groups = [i64::MAX, -7, i64::MAX, -7];
    let coords = [0.0, 0.0, 0.0, 50.0, 3.0, 0.0, 0.0, 51.0];
    let r = dedup(&groups, &coords, 2, Some(&[1.0, 1.0, 2.0, 2.0]), &params(5.0)).unwrap();
    assert_eq!(r.keep, vec![false, false, true, true]);
    assert_eq!(r.suppressed_by, vec![2, 3, -1, -1]);
}

#[test]
fn random_ranking_is_seeded() {
    let n = 200;
    let coords: Vec<f64> = (0..n).flat_map(|i| [(i / 2) as f64 * 100.0, 0.0]).collect();
    let groups = vec![0i64; n];
    let a = dedup(&groups, &coords, 2, None, &params(1.0)).unwrap();
    let b = dedup(&groups, &coords, 2, None, &params(1.0)).unwrap();
    let c = dedup(&groups, &coords, 2, None, &DedupParams { seed: 1, ..params(1.0) }).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.keep.iter().filter(|&&k| k).count(), n / 2);
    // Both members of a pair win about equally often: the ranking is not input order.
    let first_wins = (0..n / 2).filter(|p| a.keep[2 * p]).count();
    assert!(first_wins > 25 && first_wins < 75, "{first_wins}");
}

#[test]
fn bad_input_is_refused() {
    assert_eq!(dedup(&[0i64], &[0.0], 1, None, &params(1.0)), Err(DedupError::Dimension(1)));
    assert_eq!(dedup(&[0i64], &[0.0, 0.0], 2, None, &params(-1.0)), Err(DedupError::MinDist(-1.0)));
    assert_eq!(
        dedup(&[0i64, 0], &[0.0, 0.0, f64::NAN, 0.0], 2, None, &params(1.0)),
        Err(DedupError::NonFinite { index: 1 })
    );
}

#[test]
fn masks_of_one_pass_agree_with_brute_force() {
    // Random picks of three inputs on four unsorted micrographs, rounded to a grid so
    // that equal centres (min_dist 0) occur: one pass gives the same keep and
    // suppressed_by as dedup alone, and the masks pair by pair.
    let mut next = seeded(7);
    let n = 600;
    let groups: Vec<i64> = (0..n).map(|_| (next() % 4) as i64 * 3).collect();
    let coords: Vec<f64> = (0..2 * n).map(|_| (next() % 60) as f64 * 0.5).collect();
    let inputs: Vec<u32> = (0..n).map(|_| (next() % 3) as u32).collect();
    let scores: Vec<f64> = (0..n).map(|_| (next() % 1000) as f64).collect();
    for min_dist in [0.0, 1.0, 2.5] {
        for remove_entirely in [false, true] {
            let p = DedupParams { remove_entirely, ..params(min_dist) };
            let (fused, masks) =
                dedup_full(&groups, &coords, 2, Some(&scores), Some(&inputs), None, None, RowFacts::default(), &p)
                    .unwrap();
            let alone = dedup(&groups, &coords, 2, Some(&scores), &p).unwrap();
            let expected = brute_force_masks(&groups, &coords, &inputs, min_dist);
            assert_eq!(fused, alone);
            assert_eq!(masks.unwrap(), expected, "min_dist {min_dist}");
        }
    }
    let too_many =
        dedup_full(&[0i64], &[0.0, 0.0], 2, None, Some(&[64]), None, None, RowFacts::default(), &params(1.0));
    assert_eq!(too_many.unwrap_err(), DedupError::InputOutOfRange { index: 0, limit: 64 });
}

/// Each pick's bit of its own input, and of every input with a pick of its group within
/// the radius searched for `min_dist`, pair by pair (O(n^2)): the masks' oracle.
fn brute_force_masks(groups: &[i64], coords: &[f64], inputs: &[u32], min_dist: f64) -> Vec<u64> {
    let r2 = search_radius(min_dist).powi(2);
    let d2 = |a: usize, b: usize| (0..2).map(|k| (coords[2 * a + k] - coords[2 * b + k]).powi(2)).sum::<f64>();
    (0..groups.len())
        .map(|i| {
            let near = (0..groups.len()).filter(|&j| j == i || (groups[j] == groups[i] && d2(i, j) <= r2));
            near.fold(0u64, |mask, j| mask | 1 << inputs[j])
        })
        .collect()
}

/// The rules of docs/design.md section 2 written out pair by pair, O(n^2): the oracle.
fn brute_force(groups: &[i64], coords: &[f64], scores: &[f64], p: &DedupParams) -> DedupResult {
    let n = groups.len();
    let d2 = |a: usize, b: usize| (0..2).map(|k| (coords[2 * a + k] - coords[2 * b + k]).powi(2)).sum::<f64>();
    let close = |a: usize, b: usize| a != b && groups[a] == groups[b] && d2(a, b) <= p.min_dist.max(1e-3).powi(2);
    let (mut keep, mut sup) = (vec![true; n], vec![-1i64; n]);
    if p.remove_entirely {
        for a in 0..n {
            let nearest = (0..n).filter(|&b| close(a, b)).min_by(|&x, &y| d2(a, x).total_cmp(&d2(a, y)));
            if let Some(b) = nearest {
                (keep[a], sup[a]) = (false, b as i64);
            }
        }
        return DedupResult { keep, suppressed_by: sup, priority: None, best: None };
    }
    let mut order: Vec<usize> = (0..n).collect();
    let key = |i: usize| if scores[i].is_nan() { f64::INFINITY } else { -scores[i] };
    order.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
    for &a in &order {
        if keep[a] {
            for b in 0..n {
                if keep[b] && close(a, b) {
                    (keep[b], sup[b]) = (false, a as i64);
                }
            }
        }
    }
    DedupResult { keep, suppressed_by: sup, priority: None, best: None }
}

#[test]
fn agrees_with_brute_force() {
    // Coarse grid coordinates (exact copies, distances exactly at min_dist), tied and NaN
    // scores, two groups; 3-4-5 steps make boundary cases in both axes.
    let mut next = seeded(11);
    for round in 0..40 {
        let n = [2, 7, 40, 300][round % 4];
        let groups: Vec<i64> = (0..n).map(|_| (next() % 2) as i64).collect();
        let coords: Vec<f64> =
            (0..2 * n).map(|_| (next() % 12) as f64 * if round % 3 == 0 { 1.0 } else { 4.0 }).collect();
        let scores: Vec<f64> = (0..n).map(|_| if next() % 7 == 0 { f64::NAN } else { (next() % 5) as f64 }).collect();
        for min_dist in [0.0, 3.0, 5.0, 20.0] {
            for remove_entirely in [false, true] {
                let p = DedupParams { remove_entirely, ..params(min_dist) };
                let got = dedup(&groups, &coords, 2, Some(&scores), &p).unwrap();
                assert_eq!(got, brute_force(&groups, &coords, &scores, &p), "n {n} d {min_dist} {remove_entirely}");
            }
        }
    }
}

/// The rules with priority levels and images, pair by pair, O(n^2): level first, then score
/// (not finite last), then index; rows of one image more than SAME_CENTRE apart are duplicates.
fn brute_force_rows(
    groups: &[i64],
    coords: &[f64],
    scores: &[f64],
    levels: &[u32],
    images: &[u64],
    p: &DedupParams,
) -> DedupResult {
    let n = groups.len();
    let d2 = |a: usize, b: usize| (0..2).map(|k| (coords[2 * a + k] - coords[2 * b + k]).powi(2)).sum::<f64>();
    // (one image on two micrographs is the same particle twice wherever its rows lie)
    let twins =
        |a: usize, b: usize| images[a] != 0 && images[a] == images[b] && (d2(a, b) > 1e-6 || groups[a] != groups[b]);
    let close = |a: usize, b: usize| {
        a != b && ((groups[a] == groups[b] && d2(a, b) <= p.min_dist.max(1e-3).powi(2)) || twins(a, b))
    };
    let (mut keep, mut sup) = (vec![true; n], vec![-1i64; n]);
    if p.remove_entirely {
        for a in 0..n {
            let within = |b: usize| a != b && groups[a] == groups[b] && d2(a, b) <= p.min_dist.max(1e-3).powi(2);
            let nearest = (0..n).filter(|&b| within(b)).min_by(|&x, &y| d2(a, x).total_cmp(&d2(a, y)));
            let other = nearest.or_else(|| (0..n).find(|&b| a != b && twins(a, b)));
            if let Some(b) = other {
                (keep[a], sup[a]) = (false, b as i64);
            }
        }
        return DedupResult { keep, suppressed_by: sup, priority: None, best: None };
    }
    let mut order: Vec<usize> = (0..n).collect();
    let key = |i: usize| (levels[i], if scores[i].is_finite() { -scores[i] } else { f64::INFINITY });
    order.sort_by(|&a, &b| key(a).0.cmp(&key(b).0).then(key(a).1.total_cmp(&key(b).1)).then(a.cmp(&b)));
    for &a in &order {
        if keep[a] {
            for b in 0..n {
                if keep[b] && close(a, b) {
                    (keep[b], sup[b]) = (false, a as i64);
                }
            }
        }
    }
    let ranks = Ranks { scores: Some(scores), higher_is_better: true };
    let priority = Some(PriorityCounts::from_pairs(&sup, &Levels::Rows(levels), &ranks));
    DedupResult { keep, suppressed_by: sup, priority, best: None }
}

#[test]
fn priorities_rank_before_scores_and_none_scores_last() {
    // By hand, one micrograph, all within 10 Å: score 5 at level 1, score 1 at level 0,
    // score 3 at level 0, -inf and NaN at level 0. Level 0 wins; within it the score 3.
    let coords = [0.0, 0.0, 1.0, 0.0, 2.0, 0.0, 3.0, 0.0, 4.0, 0.0];
    let scores = [5.0, 1.0, 3.0, f64::NEG_INFINITY, f64::NAN];
    let rows = RowFacts { priorities: Some(Levels::Rows(&[1, 0, 0, 0, 0])), images: None, shapes: None };
    let (r, _) = dedup_full(&[0i64; 5], &coords, 2, Some(&scores), None, None, None, rows, &params(10.0)).unwrap();
    assert_eq!(r.keep, [false, false, true, false, false]);
    // Lower is better: +inf is no score either, so 1.0 wins level 0.
    let scores = [5.0, 1.0, 3.0, f64::INFINITY, f64::NAN];
    let lower = DedupParams { higher_is_better: false, ..params(10.0) };
    let (r, _) = dedup_full(&[0i64; 5], &coords, 2, Some(&scores), None, None, None, rows, &lower).unwrap();
    assert_eq!(r.keep, [false, true, false, false, false]);
    // Infinite scores without levels: ranked below every real score, in either direction.
    let r = dedup(&[0i64; 2], &coords[..4], 2, Some(&[f64::INFINITY, -1.0]), &params(10.0)).unwrap();
    assert_eq!(r.keep, [false, true]);
    // Without scores the level still decides; the random key within a level.
    let rows = RowFacts { priorities: Some(Levels::Rows(&[3, 3, 3, 3, 2])), images: None, shapes: None };
    let (r, _) = dedup_full(&[0i64; 5], &coords, 2, None, None, None, None, rows, &params(10.0)).unwrap();
    assert_eq!(r.keep, [false, false, false, false, true]);
    let short = RowFacts { priorities: Some(Levels::Rows(&[0])), images: None, shapes: None };
    let err = dedup_full(&[0i64; 2], &coords[..4], 2, None, None, None, None, short, &params(1.0)).unwrap_err();
    assert_eq!(err, DedupError::Length { what: "priorities", expected: 2, got: 1 });
}

#[test]
fn rows_of_one_image_at_other_centres_are_duplicates() {
    // Image 7 at 0 and at 500 Å (refined apart), image 9 twice at 100 Å (symmetry copies
    // at one centre, different angles: kept apart by the pose rule below), image 0 (none)
    // at 0 and 800 Å. min_dist 10.
    let coords = [0.0, 0.0, 500.0, 0.0, 100.0, 0.0, 100.0, 0.0, 300.0, 0.0, 800.0, 0.0];
    let images = [7u64, 7, 9, 9, 0, 0];
    let scores = [1.0, 2.0, 1.0, 1.0, 1.0, 1.0];
    let rows = RowFacts { priorities: None, images: Some(&images), shapes: None };
    let (r, _) = dedup_full(&[0i64; 6], &coords, 2, Some(&scores), None, None, None, rows, &params(10.0)).unwrap();
    // Image 7: the better (index 1) kept, 0 rejected by it; the copies at 100 Å meet the distance rule.
    assert_eq!(r.keep, [false, true, true, false, true, true]);
    assert_eq!(r.suppressed_by, [1, -1, -1, 2, -1, -1]);
    // With a pose rule that keeps the copies at one centre apart, the image rule leaves them too.
    let poses = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 180.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let pose = PoseTest::new(
        &poses,
        crate::algo::pose::PoseKind::RelionEulerDegrees,
        crate::algo::pose::point_group("C1", crate::algo::pose::Convention::Relion).unwrap(),
        10.0,
    );
    let (r, _) =
        dedup_full(&[0i64; 6], &coords, 2, Some(&scores), None, None, Some(&pose), rows, &params(10.0)).unwrap();
    assert_eq!(r.keep, [false, true, true, true, true, true]);
    // Removing entirely: both rows of image 7 go, each naming the other.
    let entirely = DedupParams { remove_entirely: true, ..params(10.0) };
    let (r, _) = dedup_full(&[0i64; 6], &coords, 2, None, None, None, None, rows, &entirely).unwrap();
    assert_eq!(r.keep, [false, false, false, false, true, true]);
    assert_eq!(r.suppressed_by[..2], [1, 0]);
}

#[test]
fn rows_of_one_image_on_two_micrographs_are_duplicates_and_distance_stays_on_each() {
    // By hand, min_dist 10: image 7 at (0, 0) on micrograph 0 (score 1) and at (0, 0) on
    // micrograph 1 (score 2, as a JoinStar of two MotionCorr jobs' selections leaves it);
    // (500, 0) on 1 and (5, 0) on 0 have no image. The better row of image 7 is kept and
    // rejects the other; (5, 0) on micrograph 0 is 5 Å from both rows of image 7, but
    // distance joins rows of one micrograph only, and its neighbour there was rejected.
    let coords = [0.0, 0.0, 0.0, 0.0, 500.0, 0.0, 5.0, 0.0];
    let (groups, scores, images, inputs) = ([0i64, 1, 1, 0], [1.0, 2.0, 3.0, 0.0], [7u64, 7, 0, 0], [0u32, 1, 0, 1]);
    let rows = RowFacts { priorities: None, images: Some(&images), shapes: None };
    let (r, masks) =
        dedup_full(&groups, &coords, 2, Some(&scores), Some(&inputs), None, None, rows, &params(10.0)).unwrap();
    assert_eq!(r.keep, [false, true, true, true]);
    assert_eq!(r.suppressed_by, [1, -1, -1, -1]);
    // Consensus within each micrograph: rows 0 and 3 (inputs 0 and 1) confirm each other.
    assert_eq!(masks.unwrap(), [0b11, 0b10, 0b01, 0b11]);
    // Removing entirely: both rows of image 7 go, the first naming its nearest duplicate
    // (5 Å on its micrograph, which goes too), the second the first (its image).
    let entirely = DedupParams { remove_entirely: true, ..params(10.0) };
    let (r, _) = dedup_full(&groups, &coords, 2, None, None, None, None, rows, &entirely).unwrap();
    assert_eq!((r.keep, r.suppressed_by), (vec![false, false, true, false], vec![3, 0, -1, 0]));
}

#[test]
fn priorities_and_images_agree_with_brute_force() {
    let mut next = seeded(23);
    for round in 0..60 {
        let n = [3, 9, 40, 200][round % 4];
        let groups: Vec<i64> = (0..n).map(|_| (next() % 2) as i64).collect();
        let coords: Vec<f64> = (0..2 * n).map(|_| (next() % 12) as f64 * 4.0).collect();
        let scores: Vec<f64> = (0..n)
            .map(|_| match next() % 9 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                _ => (next() % 5) as f64,
            })
            .collect();
        // Levels of rows, or of inputs (three inputs at levels 2, 0, 1 and a fourth at 2).
        let input_of: Vec<u32> = (0..n).map(|_| (next() % 4) as u32).collect();
        let of_input = [2, 0, 1, 2];
        let levels: Vec<u32> = input_of.iter().map(|&i| of_input[i as usize]).collect();
        let images: Vec<u64> =
            (0..n).map(|_| if next() % 3 == 0 { 0 } else { next() % (n as u64 / 2 + 1) + 1 }).collect();
        for min_dist in [0.0, 5.0, 20.0] {
            for remove_entirely in [false, true] {
                let p = DedupParams { remove_entirely, ..params(min_dist) };
                let want = brute_force_rows(&groups, &coords, &scores, &levels, &images, &p);
                let by_input = Levels::Inputs { input_of: &input_of, of_input: &of_input };
                // By rows' levels; by inputs' in the pass that also finds the masks.
                for (levels, inputs) in [(Levels::Rows(&levels), None), (by_input, Some(&input_of[..]))] {
                    let rows = RowFacts { priorities: Some(levels), images: Some(&images), shapes: None };
                    let (got, masks) =
                        dedup_full(&groups, &coords, 2, Some(&scores), inputs, None, None, rows, &p).unwrap();
                    // (images join micrographs for the walk, never for the consensus masks)
                    if let Some(masks) = masks {
                        assert_eq!(masks, brute_force_masks(&groups, &coords, &input_of, min_dist), "n {n}");
                    }
                    if remove_entirely {
                        assert_eq!(got.keep, want.keep, "n {n} d {min_dist} entirely");
                    } else {
                        assert_eq!(got, want, "n {n} d {min_dist}");
                    }
                }
            }
        }
    }
}

#[test]
fn spread_picks_ranked_by_their_pairs_agree_with_brute_force() {
    // Picks spread over 4000 x 4000 Å (a grid of about one a cell: the walk ranks and
    // searches only those with a pair within min_dist), every fifth 0-30 Å from the one
    // before it or on it; tied and NaN scores; with and without priority levels.
    let mut next = seeded(31);
    for round in 0..12 {
        let n = [50, 300, 1000][round % 3];
        let groups: Vec<i64> = (0..n).map(|_| (next() % 2) as i64).collect();
        let mut coords: Vec<f64> = (0..2 * n).map(|_| (next() % 4000) as f64).collect();
        for i in (1..n).filter(|i| i % 5 == 1) {
            coords[2 * i] = coords[2 * i - 2] + (next() % 31) as f64;
            coords[2 * i + 1] = coords[2 * i - 1];
        }
        let scores: Vec<f64> = (0..n).map(|_| if next() % 9 == 0 { f64::NAN } else { (next() % 7) as f64 }).collect();
        let levels: Vec<u32> = (0..n).map(|_| (next() % 3) as u32).collect();
        for min_dist in [0.0, 10.0, 20.0, 150.0] {
            let p = params(min_dist);
            let got = dedup(&groups, &coords, 2, Some(&scores), &p).unwrap();
            assert_eq!(got, brute_force(&groups, &coords, &scores, &p), "n {n} d {min_dist}");
            let rows = RowFacts { priorities: Some(Levels::Rows(&levels)), images: None, shapes: None };
            let (got, _) = dedup_full(&groups, &coords, 2, Some(&scores), None, None, None, rows, &p).unwrap();
            let want = brute_force_rows(&groups, &coords, &scores, &levels, &vec![0; n], &p);
            assert_eq!(got, want, "n {n} d {min_dist} levels");
        }
    }
}

#[test]
fn a_group_of_too_many_pairs_is_walked_greedily_under_the_best_selection() {
    // 6,000 picks within one distance hold 18e6 pairs, past MAX_PAIRS: the group is walked as
    // greedy walks it (the best score kept, the rest naming it), and counted as walked.
    let n = 6_000;
    let coords: Vec<f64> = (0..2 * n).map(|k| (k % 7) as f64).collect();
    let scores: Vec<f64> = (0..n).map(|i| ((i * 7919) % n) as f64).collect();
    let groups = vec![0i64; n];
    let p = DedupParams { selection: Selection::BestScore, ..params(20.0) };
    let r = dedup(&groups, &coords, 2, Some(&scores), &p).unwrap();
    let best = r.best.unwrap();
    assert_eq!((best.walked, best.walked_picks, best.components), (1, n as u64, 0));
    let top = (0..n).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap();
    assert_eq!((0..n).filter(|&i| r.keep[i]).collect::<Vec<_>>(), vec![top]);
    assert!((0..n).all(|i| i == top || r.suppressed_by[i] == top as i64));
    assert_eq!((best.kept, best.score), (1, scores[top]));
}

#[test]
fn a_dense_cluster_needs_no_pair_list() {
    // 100 000 picks on one spot hold 5e9 pairs: a pair list needs 80 GB. The best one is
    // kept and suppresses the rest; with remove-entirely each names its nearest, the
    // lowest other index (1 for particle 0, 0 for the rest). A second spot 30 Å away
    // with 20 Å stays apart; a pick 19 Å off the spot goes with it.
    let n = 100_000;
    let mut coords = vec![0.0; 2 * n];
    for i in (n - 100)..n {
        coords[2 * i] = 30.0;
    }
    coords[2 * 5] = -19.0;
    let scores: Vec<f64> = (0..n).map(|i| (i % 1000) as f64).collect();
    let groups = vec![3i64; n];
    let r = dedup(&groups, &coords, 2, Some(&scores), &params(20.0)).unwrap();
    // Best score 999 first at index 999 (the spot), then 99_999 at 30 Å (index n - 1).
    let kept: Vec<usize> = (0..n).filter(|&i| r.keep[i]).collect();
    assert_eq!(kept, vec![999, n - 1]);
    assert!((0..n - 100).all(|i| i == 999 || r.suppressed_by[i] == 999));
    assert!((n - 100..n - 1).all(|i| r.suppressed_by[i] == (n - 1) as i64));
    let entirely = DedupParams { remove_entirely: true, ..params(20.0) };
    let r = dedup(&groups, &coords, 2, None, &entirely).unwrap();
    assert!(r.keep.iter().all(|&k| !k));
    assert_eq!(r.suppressed_by[0], 1);
    // Particle 5 at -19 Å: its nearest are the copies at 0 (lowest: 0); those at 30 are 49 Å off.
    assert_eq!(r.suppressed_by[5], 0);
    assert!((1..n - 100).all(|i| r.suppressed_by[i] == 0));
    assert!((n - 100..n).all(|i| r.suppressed_by[i] == if i == n - 100 { n as i64 - 99 } else { n as i64 - 100 }));
    let none = dedup(&groups, &coords, 2, None, &params(20.0)).unwrap();
    assert_eq!(none.keep.iter().filter(|&&k| k).count(), 2);
}
