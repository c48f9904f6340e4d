//! Input priority (`--prefer`, docs/design.md section 2): the levels that rank before the
//! score, and how many groups of duplicates a level decided, counted as the walk decides them.
//!
//! Levels come per row, or per input with each row's input (the table a job has anyway:
//! a million rows need no million-row array of levels). A group is a kept row and the rows
//! it suppressed; priority decided it when one of those rows has a higher (less preferred)
//! level than the kept one, and decided it against the score when such a row also has a
//! strictly better score (a real one). A tie on the score is not against it: the score had
//! no choice there, only the input order would have (issue 54, section 5).

use crate::algo::rank_keys::score_key;
use crate::errors::DedupError;

/// Priority levels: a lower level ranks before a higher one whatever the scores.
#[derive(Clone, Copy, Debug)]
pub enum Levels<'a> {
    /// Each row's level.
    Rows(&'a [u32]),
    /// Each input's level (`of_input`), and each row's input (`input_of`).
    Inputs { input_of: &'a [u32], of_input: &'a [u32] },
}

impl Levels<'_> {
    /// The level of row `row`.
    #[inline]
    pub fn of(&self, row: usize) -> u32 {
        match self {
            Levels::Rows(levels) => levels[row],
            Levels::Inputs { input_of, of_input } => of_input[input_of[row] as usize],
        }
    }

    /// Checks that there is a level for each of `n` rows.
    pub fn check(&self, n: usize) -> Result<(), DedupError> {
        let (what, got) = match self {
            Levels::Rows(levels) => ("priorities", levels.len()),
            Levels::Inputs { input_of, .. } => ("inputs", input_of.len()),
        };
        if got != n {
            return Err(DedupError::Length { what, expected: n, got });
        }
        if let Levels::Inputs { input_of, of_input } = self {
            let limit = u32::try_from(of_input.len()).unwrap_or(u32::MAX);
            // (whether any is out first: a pass that vectorises, where a search for the first would not)
            if input_of.iter().fold(false, |out, &i| out | (i >= limit)) {
                let index = input_of.iter().position(|&i| i >= limit).unwrap_or_default();
                return Err(DedupError::InputOutOfRange { index, limit });
            }
        }
        Ok(())
    }
}

/// How many groups of duplicates each priority level decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriorityCounts {
    /// Groups of duplicates: kept rows that suppressed at least one row.
    pub groups: u64,
    /// By the kept row's level: groups in which a suppressed row had a higher level.
    pub by_priority: Vec<u64>,
    /// Groups decided by priority in which a suppressed row of a higher level had a strictly
    /// better score: where priority overruled the score (0 without scores; ties are not counted).
    pub against_score: u64,
}

impl PriorityCounts {
    /// Adds the counts of `other`.
    pub fn add(&mut self, other: &PriorityCounts) {
        self.groups += other.groups;
        self.against_score += other.against_score;
        if self.by_priority.len() < other.by_priority.len() {
            self.by_priority.resize(other.by_priority.len(), 0);
        }
        for (mine, theirs) in self.by_priority.iter_mut().zip(&other.by_priority) {
            *mine += theirs;
        }
    }

    /// Counts one group as its [`Tally`] saw it.
    #[inline]
    pub(crate) fn count(&mut self, group: &Tally) {
        self.groups += 1;
        if group.by_priority {
            let level = group.level as usize;
            if self.by_priority.len() <= level {
                self.by_priority.resize(level + 1, 0);
            }
            self.by_priority[level] += 1;
            self.against_score += u64::from(group.against_score);
        }
    }

    /// The counts from the pairs (rejected row, the kept row that suppressed it) of a
    /// decision: `suppressed_by[i]` the suppressor of row `i`, -1 for none. For the modes
    /// that do not count as they walk (whole tubes).
    pub fn from_pairs(suppressed_by: &[i64], levels: &Levels, ranks: &Ranks) -> PriorityCounts {
        let mut tallies: Vec<Option<Tally>> = vec![None; suppressed_by.len()];
        for (row, &by) in suppressed_by.iter().enumerate().filter(|(_, &by)| by >= 0) {
            let tally = tallies[by as usize].get_or_insert_with(|| Tally::new(by as u32, levels));
            tally.note(row as u32, levels, ranks);
        }
        let mut counts = PriorityCounts::default();
        tallies.iter().flatten().for_each(|tally| counts.count(tally));
        counts
    }
}

/// The scores a decision ranked by, for telling whether a row outranked another by score.
#[derive(Clone, Copy, Debug)]
pub struct Ranks<'a> {
    pub scores: Option<&'a [f64]>,
    pub higher_is_better: bool,
}

impl Ranks<'_> {
    /// Whether row `a` has a strictly better real score than row `b` (a tie is no better).
    fn outranks(&self, a: u32, b: u32) -> bool {
        self.scores.is_some_and(|scores| {
            let key = |row: u32| score_key(scores[row as usize], self.higher_is_better);
            scores[a as usize].is_finite() && key(a) < key(b)
        })
    }
}

/// One kept row's group, made when the row suppresses its first row (a group of duplicates).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tally {
    kept: u32,
    level: u32,
    by_priority: bool,
    against_score: bool,
}

impl Tally {
    /// The group of kept row `kept` (a global row), before its first suppression is noted.
    #[inline]
    pub(crate) fn new(kept: u32, levels: &Levels) -> Tally {
        let level = levels.of(kept as usize);
        Tally { kept, level, by_priority: false, against_score: false }
    }

    /// Notes that the kept row suppressed row `row` (global).
    #[inline]
    pub(crate) fn note(&mut self, row: u32, levels: &Levels, ranks: &Ranks) {
        if levels.of(row as usize) > self.level {
            self.by_priority = true;
            self.against_score = self.against_score || ranks.outranks(row, self.kept);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_by_input_are_the_rows_levels() {
        let by_input = Levels::Inputs { input_of: &[1, 0, 2, 1], of_input: &[2, 0, 1] };
        assert_eq!((0..4).map(|r| by_input.of(r)).collect::<Vec<_>>(), [0, 2, 1, 0]);
        assert!(by_input.check(4).is_ok());
        assert_eq!(by_input.check(3), Err(DedupError::Length { what: "inputs", expected: 3, got: 4 }));
        let beyond = Levels::Inputs { input_of: &[0, 3], of_input: &[0, 1] };
        assert_eq!(beyond.check(2), Err(DedupError::InputOutOfRange { index: 1, limit: 2 }));
    }

    #[test]
    fn groups_by_priority_and_against_the_score_by_hand() {
        // Row 0 (level 0, score 0.2) kept over row 1 (level 1, 0.9): against the score.
        // Row 2 (level 0, 0.8) kept over row 3 (level 1, 0.5): priority agreed with the score.
        // Row 4 (level 0, none) kept over row 5 (level 1, 0.1): against it (none ranks last).
        // Row 6 (level 0, 0.3) kept over row 7 (level 1, 0.3): a tie: not against.
        // Row 8 (level 1, 0.1) kept over row 9 (level 1, 0.5): the score's group, not priority's.
        // Row 11 (level 0, 0.4) kept over row 10 (level 1, 0.4): a tie that the input order would
        // have given to row 10, but the score had no choice: not against (issue 54).
        let levels = [0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 0];
        let scores = [0.2, 0.9, 0.8, 0.5, f64::NAN, 0.1, 0.3, 0.3, 0.6, 0.5, 0.4, 0.4];
        let by = [-1, 0, -1, 2, -1, 4, -1, 6, -1, 8, 11, -1];
        let ranks = Ranks { scores: Some(&scores), higher_is_better: true };
        let got = PriorityCounts::from_pairs(&by, &Levels::Rows(&levels), &ranks);
        assert_eq!(got, PriorityCounts { groups: 6, by_priority: vec![5], against_score: 2 });
        // Lower scores better: rows 0 and 2 swap roles, row 4 is still against.
        let lower = Ranks { scores: Some(&scores), higher_is_better: false };
        assert_eq!(PriorityCounts::from_pairs(&by, &Levels::Rows(&levels), &lower).against_score, 2);
        let none = Ranks { scores: None, higher_is_better: true };
        assert_eq!(PriorityCounts::from_pairs(&by, &Levels::Rows(&levels), &none).against_score, 0);
    }
}
