//! Which duplicate removal a request runs: plain or with orientations ([`dedup_full`]),
//! segments of one tube never neighbours ([`dedup_with_tubes`]), or tubes removed whole
//! ([`dedup_whole_tubes`]), the consensus masks found in the same pass where asked.

use crate::algo::dedup::{dedup_full, dedup_with_tubes, DedupParams, DedupResult, GroupId};
use crate::algo::filaments::dedup_whole_tubes;
use crate::algo::pose::PoseTest;
use crate::errors::DedupError;

/// How filament segments are treated.
#[derive(Clone, Copy, Debug)]
pub enum Tubes<'a> {
    /// Each row's tube id (0 for none): segments of one tube are never neighbours.
    Apart(&'a [u32]),
    /// As `Apart`, and a tube that duplicates a better one is removed whole.
    Whole(&'a [u32]),
}

/// One dedup call but the micrograph ids (which come as `u32` or `i64`).
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// Centres, `dim` values per row, row-major.
    pub coords: &'a [f64],
    pub dim: usize,
    pub scores: Option<&'a [f64]>,
    /// Each row's input (below 64): the consensus masks are then found too.
    pub inputs: Option<&'a [u32]>,
    pub tubes: Option<Tubes<'a>>,
    pub pose: Option<&'a PoseTest<'a>>,
    pub params: &'a DedupParams,
}

/// What a request decides: each row kept or not (and by whom it was suppressed, where
/// wanted), and with inputs the masks of the inputs picked near each row.
#[derive(Debug)]
pub struct Decision {
    pub result: DedupResult,
    pub masks: Option<Vec<u64>>,
}

/// Runs `request` on the rows of `groups`.
pub fn decide<G: GroupId>(groups: &[G], request: &Request) -> Result<Decision, DedupError> {
    let Request { coords, dim, scores, inputs, tubes, pose, params } = *request;
    let (result, masks) = match tubes {
        None => dedup_full(groups, coords, dim, scores, inputs, None, pose, params)?,
        Some(Tubes::Apart(tubes)) => dedup_full(groups, coords, dim, scores, inputs, Some(tubes), pose, params)?,
        Some(Tubes::Whole(tubes)) => {
            // The masks (consensus) are those of the segment-wise pass: who picked near a segment.
            let masks = match inputs {
                Some(_) => dedup_with_tubes(groups, coords, dim, scores, inputs, tubes, params)?.1,
                None => None,
            };
            (dedup_whole_tubes(groups, coords, dim, scores, tubes, params)?, masks)
        }
    };
    Ok(Decision { result, masks })
}
