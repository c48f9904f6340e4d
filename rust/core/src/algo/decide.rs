//! Which duplicate removal a request runs: plain or with orientations ([`dedup_full`]),
//! segments of one tube never neighbours ([`dedup_with_tubes`]), or tubes removed whole
//! ([`dedup_whole_tubes`]), the consensus masks found in the same pass where asked.

use crate::algo::dedup::{dedup_full, DedupParams, DedupResult, GroupId, RowFacts};
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
    /// Priority levels (every mode) and images (not with whole tubes, which ignore them).
    pub rows: RowFacts<'a>,
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
    let Request { coords, dim, scores, inputs, tubes, pose, rows, params } = *request;
    let (result, masks) = match tubes {
        None => dedup_full(groups, coords, dim, scores, inputs, None, pose, rows, params)?,
        Some(Tubes::Apart(tubes)) => dedup_full(groups, coords, dim, scores, inputs, Some(tubes), pose, rows, params)?,
        Some(Tubes::Whole(tubes)) => {
            // The masks (consensus) are those of the segment-wise pass: who picked near a segment.
            let masks = match inputs {
                Some(_) => dedup_full(groups, coords, dim, scores, inputs, Some(tubes), None, rows, params)?.1,
                None => None,
            };
            (dedup_whole_tubes(groups, coords, dim, scores, tubes, rows.priorities, params)?, masks)
        }
    };
    Ok(Decision { result, masks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(min_dist: f64) -> DedupParams {
        DedupParams::keep_best(min_dist)
    }

    // By hand, on one micrograph: (0, 0) scored 1 and (5, 0) scored 2 are within 10 Å;
    // (100, 0) is alone.
    const COORDS: [f64; 6] = [0.0, 0.0, 5.0, 0.0, 100.0, 0.0];
    const SCORES: [f64; 3] = [1.0, 2.0, 0.0];

    fn request<'a>(tubes: Option<Tubes<'a>>, inputs: Option<&'a [u32]>, params: &'a DedupParams) -> Request<'a> {
        Request {
            coords: &COORDS,
            dim: 2,
            scores: Some(&SCORES),
            inputs,
            tubes,
            pose: None,
            rows: RowFacts::default(),
            params,
        }
    }

    #[test]
    fn a_plain_request_keeps_the_better_of_two_neighbours() {
        let params = params(10.0);
        let decision = decide(&[0u32; 3], &request(None, Some(&[0, 1, 1]), &params)).unwrap();
        assert_eq!(decision.result.keep, [false, true, true]);
        assert_eq!(decision.result.suppressed_by, [1, -1, -1]);
        // Inputs 0 and 1 picked near the first two; only input 1 near the third.
        assert_eq!(decision.masks.unwrap(), [0b11, 0b11, 0b10]);
    }

    #[test]
    fn segments_of_one_tube_are_never_neighbours() {
        let params = params(10.0);
        let decision = decide(&[0u32; 3], &request(Some(Tubes::Apart(&[7, 7, 0])), None, &params)).unwrap();
        assert_eq!(decision.result.keep, [true, true, true]);
        assert!(decision.masks.is_none());
    }

    #[test]
    fn a_tube_that_duplicates_a_better_one_goes_whole() {
        // By hand: tube 1 (scores 1, 1) runs 1 Å beside tube 2 (scores 2, 2); both its
        // segments are within 10 Å of the better tube, so it goes whole. The masks are those
        // of the segment-wise pass: each segment has both inputs near it.
        let params = params(10.0);
        let coords = [0.0, 0.0, 0.0, 5.0, 1.0, 0.0, 1.0, 5.0];
        let request = Request {
            coords: &coords,
            dim: 2,
            scores: Some(&[1.0, 1.0, 2.0, 2.0]),
            inputs: Some(&[0, 0, 1, 1]),
            tubes: Some(Tubes::Whole(&[1, 1, 2, 2])),
            pose: None,
            rows: RowFacts::default(),
            params: &params,
        };
        let decision = decide(&[0u32; 4], &request).unwrap();
        assert_eq!(decision.result.keep, [false, false, true, true]);
        assert_eq!(decision.masks.unwrap(), [0b11; 4]);
    }
}
