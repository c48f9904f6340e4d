//! Duplicate particles: per micrograph, score-ordered greedy suppression within a minimum
//! distance (or "remove entirely"), micrographs processed in parallel.
//!
//! Semantics (docs/design.md section 2): two particles of the same group are duplicates when
//! their squared distance is `<= r^2`, `r` being `min_dist` and never below [`SAME_CENTRE`]
//! (so `min_dist` 0 finds copies that agree to floating-point error). Particles are ranked by
//! priority level where given (lower first, whatever the scores), then by score (best first,
//! ties by input order; a score that is not finite means "none" and ranks last) or by a seeded
//! random key. Walking the ranking, a particle not yet suppressed is kept and suppresses every
//! particle within `min_dist` (and, where images are given, every other row of its image at
//! another centre); a suppressed particle suppresses nothing.
//!
//! The module's rooms: [`group`] (one group's input, outputs and ranking, and the parallel run
//! over groups), [`neighbourhood`] (a group's positions, their search and the duplicate test)
//! and [`walks`] (greedy suppression, the best selection, removing entirely).

mod group;
mod neighbourhood;
#[cfg(test)]
mod tests;
mod walks;

use crate::algo::best::BestCounts;
pub use crate::algo::best::Selection;
use crate::algo::ellipsoid::EllipsoidTest;
use crate::algo::points::{check_coordinates, check_min_dist, MAX_MASK_INPUTS};
pub use crate::algo::points::{search_radius, GroupId, SAME_CENTRE};
use crate::algo::pose::PoseTest;
pub use crate::algo::priority::{Levels, PriorityCounts, Ranks};
pub use crate::algo::rank_keys::{random_key, score_key};
use crate::errors::DedupError;
use group::{run, Input};

#[derive(Clone, Debug)]
pub struct DedupParams {
    /// Minimum separation, same unit as the coordinates (Å). 0 means identical centres
    /// (within [`SAME_CENTRE`]).
    pub min_dist: f64,
    /// Rank higher scores first (else lower first). Ignored without scores.
    pub higher_is_better: bool,
    /// Reject every particle that has any other particle within `min_dist`.
    pub remove_entirely: bool,
    /// Seed of the random ranking used when there are no scores.
    pub seed: u64,
    /// Fill `DedupResult::suppressed_by` (8 bytes per particle; only pictures need it).
    pub want_suppressed_by: bool,
    /// Which set a group keeps: the greedy walk's, or the best one ([`crate::algo::best`]).
    pub selection: Selection,
}

/// Per-row facts beyond centres and scores that the ranking and the duplicate test use.
#[derive(Clone, Copy, Debug, Default)]
pub struct RowFacts<'a> {
    /// Priority levels (each row's, or each input's): a lower level ranks before a higher
    /// one whatever the scores; the score decides within a level (`--prefer`,
    /// docs/design.md section 2). The groups each level decided are then counted.
    pub priorities: Option<Levels<'a>>,
    /// Each row's image (0: not known). Two rows of one image at different centres are
    /// duplicates whatever their distance (`--same-image reject`); rows of one image at one
    /// centre are symmetry-expanded copies, left to the distance rule.
    pub images: Option<&'a [u64]>,
    /// Each row's exclusion ellipsoid in its own frame (`--min-dist-ellipsoid`): two rows
    /// within the search radius are duplicates only where either centre lies inside the
    /// other's ellipsoid ([`crate::algo::ellipsoid`]); the radius searched is then the
    /// largest semi-axis, whatever `min_dist` says. 3-D centres only.
    pub shapes: Option<&'a EllipsoidTest<'a>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DedupResult {
    pub keep: Vec<bool>,
    /// For a rejected particle: a kept particle within `min_dist` that ranks above it (in
    /// remove-entirely mode: its nearest neighbour). -1 for kept particles.
    pub suppressed_by: Vec<i64>,
    /// With priority levels (and not removing entirely): how many groups each level decided.
    pub priority: Option<PriorityCounts>,
    /// With a best selection: its components, how each was solved, and how it differs from the greedy walk.
    pub best: Option<BestCounts>,
}

impl DedupParams {
    /// The default rule at `min_dist`: the greedy walk, higher scores first, seed 0, pairs wanted.
    pub fn keep_best(min_dist: f64) -> DedupParams {
        DedupParams {
            min_dist,
            higher_is_better: true,
            remove_entirely: false,
            seed: 0,
            want_suppressed_by: true,
            selection: Selection::Greedy,
        }
    }

    /// The radius within which two particles are duplicates ([`search_radius`]).
    pub fn radius(&self) -> f64 {
        search_radius(self.min_dist)
    }
}

/// Runs the duplicate removal. `coords` is row-major, `dim` (2 or 3) values per particle.
pub fn dedup<G: GroupId>(
    groups: &[G],
    coords: &[f64],
    dim: usize,
    scores: Option<&[f64]>,
    params: &DedupParams,
) -> Result<DedupResult, DedupError> {
    dedup_slice(0, groups, coords, dim, scores, params)
}

/// [`dedup_full`] for filament segments: two particles with the same non-zero `tubes`
/// id (one id per tube and micrograph) are never duplicates, so segments of one tube never
/// suppress or confirm each other; id 0 is a particle of no tube (docs/design.md section 8).
pub fn dedup_with_tubes<G: GroupId>(
    groups: &[G],
    coords: &[f64],
    dim: usize,
    scores: Option<&[f64]>,
    inputs: Option<&[u32]>,
    tubes: &[u32],
    params: &DedupParams,
) -> Result<(DedupResult, Option<Vec<u64>>), DedupError> {
    if tubes.len() != groups.len() {
        return Err(DedupError::Length { what: "tubes", expected: groups.len(), got: tubes.len() });
    }
    dedup_full(groups, coords, dim, scores, inputs, Some(tubes), None, RowFacts::default(), params)
}

/// Every variant at once: with `inputs` (each particle's input, below
/// [`MAX_MASK_INPUTS`]) the masks of `consensus::support_masks`
/// in the same pass over each micrograph, the filament rule with `tubes`, the
/// orientation rule with `pose` (two particles within `min_dist` are duplicates only if
/// their orientations are within its maximum angle, docs/design.md section 9; the angle is
/// computed for the close pairs only), priorities and images with `rows`.
#[allow(clippy::too_many_arguments)]
pub fn dedup_full<G: GroupId>(
    groups: &[G],
    coords: &[f64],
    dim: usize,
    scores: Option<&[f64]>,
    inputs: Option<&[u32]>,
    tubes: Option<&[u32]>,
    pose: Option<&PoseTest>,
    rows: RowFacts,
    params: &DedupParams,
) -> Result<(DedupResult, Option<Vec<u64>>), DedupError> {
    validate(groups, coords, dim, scores, inputs, pose, params)?;
    check_rows(groups.len(), &rows)?;
    if rows.shapes.is_some() && dim != 3 {
        return Err(DedupError::Dimension(dim)); // (an ellipsoid in a particle's frame needs its z)
    }
    // With ellipsoids the radius searched is their largest semi-axis.
    let widened = rows.shapes.map(|shapes| DedupParams { min_dist: shapes.reach(), ..params.clone() });
    let params = widened.as_ref().unwrap_or(params);
    let input = Input { coords, scores, inputs, tubes, params, pose, first_index: 0, rows };
    Ok(run_in(dim, groups, &input))
}

/// Checks the lengths of the per-row facts.
pub(crate) fn check_rows(n: usize, rows: &RowFacts) -> Result<(), DedupError> {
    if let Some(levels) = rows.priorities {
        levels.check(n)?;
    }
    if let Some(shapes) = rows.shapes {
        shapes.check(n)?;
    }
    match rows.images.filter(|i| i.len() != n) {
        Some(i) => Err(DedupError::Length { what: "images", expected: n, got: i.len() }),
        None => Ok(()),
    }
}

/// [`dedup`] of particles `first_index..first_index + groups.len()` of a larger set, whose
/// groups (micrographs) all lie within this slice: the same decisions as the whole set's,
/// random ranks included (they follow each particle's index in the whole set). For a file
/// decided micrograph by micrograph as it streams by.
pub fn dedup_slice<G: GroupId>(
    first_index: u64,
    groups: &[G],
    coords: &[f64],
    dim: usize,
    scores: Option<&[f64]>,
    params: &DedupParams,
) -> Result<DedupResult, DedupError> {
    validate(groups, coords, dim, scores, None, None, params)?;
    let rows = RowFacts::default();
    Ok(run_in(dim, groups, &Input { coords, scores, inputs: None, tubes: None, params, pose: None, first_index, rows })
        .0)
}

/// [`run`] for points of `dim` (2 or 3, validated) coordinates.
fn run_in<G: GroupId>(dim: usize, groups: &[G], input: &Input) -> (DedupResult, Option<Vec<u64>>) {
    match dim {
        2 => run::<2, G>(groups, input),
        _ => run::<3, G>(groups, input),
    }
}

/// Checks the arrays' lengths and values and the parameters.
pub(crate) fn validate<G: GroupId>(
    groups: &[G],
    coords: &[f64],
    dim: usize,
    scores: Option<&[f64]>,
    inputs: Option<&[u32]>,
    pose: Option<&PoseTest>,
    params: &DedupParams,
) -> Result<(), DedupError> {
    let n = groups.len();
    if let Some(pose) = pose {
        if pose.poses.len() != 3 * n {
            return Err(DedupError::Length { what: "poses", expected: n, got: pose.poses.len() / 3 });
        }
        if let Some(index) = pose.poses.iter().position(|c| !c.is_finite()) {
            return Err(DedupError::NonFinitePose { index: index / 3 });
        }
    }
    if let Some(inputs) = inputs {
        if inputs.len() != n {
            return Err(DedupError::Length { what: "inputs", expected: n, got: inputs.len() });
        }
        let limit = MAX_MASK_INPUTS;
        if let Some(index) = inputs.iter().position(|&i| i >= limit) {
            return Err(DedupError::InputOutOfRange { index, limit });
        }
    }
    if dim != 2 && dim != 3 {
        return Err(DedupError::Dimension(dim));
    }
    if coords.len() != n * dim {
        return Err(DedupError::Length { what: "coords", expected: n * dim, got: coords.len() / dim });
    }
    if let Some(s) = scores {
        if s.len() != n {
            return Err(DedupError::Length { what: "scores", expected: n, got: s.len() });
        }
    }
    check_min_dist(params.min_dist)?;
    if n >= u32::MAX as usize {
        return Err(DedupError::TooMany(n));
    }
    check_coordinates(coords, dim)
}
