//! Several pickers' picks joined into one set: each pick's micrograph id, centre in Å,
//! score and input, in input order.
//!
//! The pickers' arrays come as read (centres and scores are columns of each reader's
//! row-major table) and the joined arrays are filled in parallel: for millions of picks
//! this is memory written for the first time, whose page faults one thread pays serially.

use crate::errors::JoinError;
use crate::parallel::{extend_in_parallel, tasks};

/// Rows of `width` numbers, row `r` being `values[r * stride..r * stride + width]`.
#[derive(Clone, Copy, Debug)]
pub struct Strided<'a> {
    pub values: &'a [f64],
    pub stride: usize,
    pub width: usize,
}

impl Strided<'_> {
    #[inline]
    fn row(&self, r: usize) -> &[f64] {
        &self.values[r * self.stride..r * self.stride + self.width]
    }

    /// Whether `rows` rows lie within `values`.
    fn holds(&self, rows: usize) -> bool {
        rows == 0
            || (rows - 1)
                .checked_mul(self.stride)
                .and_then(|s| s.checked_add(self.width))
                .is_some_and(|end| end <= self.values.len())
    }
}

/// One picker's picks.
pub struct Input<'a> {
    /// Each pick's micrograph, an index into `ids`.
    pub micrograph: &'a [i32],
    /// The set's micrograph id of each of this picker's micrographs.
    pub ids: &'a [u32],
    /// Centres in micrograph pixels.
    pub centres: Strided<'a>,
    /// Scores (width 1), if the set is ranked by them.
    pub scores: Option<Strided<'a>>,
}

/// The joined set.
pub struct Joined {
    /// Micrograph id of each pick.
    pub groups: Vec<u32>,
    /// Centres in Å, row-major (picks x width).
    pub centres: Vec<f64>,
    pub scores: Option<Vec<f64>>,
    /// Index of each pick's input.
    pub input_of: Vec<u32>,
}

fn check(inputs: &[Input], psize: &[f64]) -> Result<(), JoinError> {
    let error = |k: usize, what: &str| Err(JoinError(format!("input {k}: {what}")));
    let width = inputs.first().map_or(2, |i| i.centres.width);
    let scored = inputs.first().is_some_and(|i| i.scores.is_some());
    for (k, input) in inputs.iter().enumerate() {
        let n = input.micrograph.len();
        if input.centres.width != width || input.scores.is_some() != scored {
            return error(k, "every input must have centres of one width, and scores or none");
        }
        if !input.centres.holds(n) || input.scores.is_some_and(|s| s.width != 1 || !s.holds(n)) {
            return error(k, "centres and scores must have one row per pick");
        }
        if input.micrograph.iter().any(|&m| m < 0 || m as usize >= input.ids.len()) {
            return error(k, "a micrograph index is out of range");
        }
        if input.ids.iter().any(|&g| g as usize >= psize.len()) {
            return error(k, "a micrograph id has no pixel size");
        }
    }
    Ok(())
}

/// Joins `inputs` in order; centres are multiplied by their micrograph's pixel size
/// (`psize[id]`).
pub fn join(inputs: &[Input], psize: &[f64]) -> Result<Joined, JoinError> {
    check(inputs, psize)?;
    let width = inputs.first().map_or(2, |i| i.centres.width);
    // Tasks: (input, first row, rows), each input cut into stretches of ROWS_PER_TASK.
    let stretches: Vec<(usize, usize, usize)> = inputs
        .iter()
        .enumerate()
        .flat_map(|(k, input)| tasks(input.micrograph.len()).map(move |(lo, n)| (k, lo, n)))
        .collect();
    let sizes: Vec<usize> = stretches.iter().map(|t| t.2).collect();
    let rows_of = |t: usize| {
        let (k, lo, n) = stretches[t];
        (&inputs[k], lo..lo + n)
    };
    let id = |input: &Input, r: usize| input.ids[input.micrograph[r] as usize];

    let mut joined = Joined { groups: Vec::new(), centres: Vec::new(), scores: None, input_of: Vec::new() };
    extend_in_parallel(&mut joined.groups, &sizes, |t| {
        let (input, rows) = rows_of(t);
        rows.map(move |r| id(input, r))
    });
    let cells: Vec<usize> = sizes.iter().map(|n| n * width).collect();
    extend_in_parallel(&mut joined.centres, &cells, |t| {
        let (input, rows) = rows_of(t);
        rows.flat_map(move |r| {
            let p = psize[id(input, r) as usize];
            input.centres.row(r).iter().map(move |v| v * p)
        })
    });
    if inputs.first().is_some_and(|i| i.scores.is_some()) {
        let mut scores = Vec::new();
        extend_in_parallel(&mut scores, &sizes, |t| {
            let (input, rows) = rows_of(t);
            let column = input.scores.expect("checked: every input has scores");
            rows.map(move |r| column.row(r)[0])
        });
        joined.scores = Some(scores);
    }
    extend_in_parallel(&mut joined.input_of, &sizes, |t| std::iter::repeat_n(stretches[t].0 as u32, stretches[t].2));
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::ROWS_PER_TASK;

    #[test]
    fn picks_join_in_input_order_scaled_by_their_micrographs_pixel_size() {
        // Input 0: rows (x, y, score) of a row-major table; input 1: contiguous centres.
        let table0 = [1.0, 2.0, 0.5, 3.0, 4.0, 0.7, 5.0, 6.0, 0.1];
        let centres1 = [10.0, 20.0];
        let scores1 = [0.9];
        let inputs = [
            Input {
                micrograph: &[0, 1, 0],
                ids: &[1, 0],
                centres: Strided { values: &table0, stride: 3, width: 2 },
                scores: Some(Strided { values: &table0[2..], stride: 3, width: 1 }),
            },
            Input {
                micrograph: &[0],
                ids: &[2],
                centres: Strided { values: &centres1, stride: 2, width: 2 },
                scores: Some(Strided { values: &scores1, stride: 1, width: 1 }),
            },
        ];
        let joined = join(&inputs, &[1.0, 2.0, 0.5]).unwrap();
        assert_eq!(joined.groups, [1, 0, 1, 2]);
        assert_eq!(joined.centres, [2.0, 4.0, 3.0, 4.0, 10.0, 12.0, 5.0, 10.0]);
        assert_eq!(joined.scores.unwrap(), [0.5, 0.7, 0.1, 0.9]);
        assert_eq!(joined.input_of, [0, 0, 0, 1]);
    }

    #[test]
    fn many_rows_fill_every_task() {
        let n = 3 * ROWS_PER_TASK + 11;
        let centres: Vec<f64> = (0..2 * n).map(|v| v as f64).collect();
        let micrograph: Vec<i32> = (0..n).map(|r| (r % 3) as i32).collect();
        let input = Input {
            micrograph: &micrograph,
            ids: &[0, 1, 2],
            centres: Strided { values: &centres, stride: 2, width: 2 },
            scores: None,
        };
        let joined = join(&[input], &[1.0, 1.0, 2.0]).unwrap();
        let expected: Vec<f64> = (0..2 * n).map(|v| v as f64 * if (v / 2) % 3 == 2 { 2.0 } else { 1.0 }).collect();
        assert_eq!(joined.centres, expected);
        assert!(joined.scores.is_none());
        assert_eq!(joined.groups.len(), n);
    }

    #[test]
    fn bad_inputs_are_refused() {
        let centres = [1.0, 2.0];
        let input = |micrograph: &'static [i32], ids: &'static [u32]| Input {
            micrograph,
            ids,
            centres: Strided { values: &centres, stride: 2, width: 2 },
            scores: None,
        };
        assert!(join(&[input(&[1], &[0])], &[1.0]).is_err()); // micrograph index
        assert!(join(&[input(&[0], &[3])], &[1.0]).is_err()); // no pixel size
        assert!(join(&[input(&[0, 0], &[0])], &[1.0]).is_err()); // too few centres
        assert!(join(&[input(&[0], &[0])], &[1.0]).is_ok());
    }
}
