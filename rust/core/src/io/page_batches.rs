//! The page of every micrograph's files of picks (`--plot`), made by a one-pass scan as it
//! decides ([`crate::particle_split`]): once every micrograph of a file is decided, the file's
//! text is made on a thread of its own (the CPU the scan leaves idle while it reads), and kept
//! until the page is written, or written at once into a folder the plan names (nothing held). The same bytes as [`page_picks::write_picks_files`] makes from
//! the whole set after the scan: each file is made by the same code from its own rows.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use crate::io::page_picks::{self, Ids, PageError, PagePicks};

/// Files handed to the thread and not yet made, at most (the scan waits past that).
const QUEUED: usize = 8;

/// The page's files as the page reads them: `chunk` micrographs a file, and the rule of a
/// rejected row as the record of rejections names it (an index into the page's rules).
/// With `folder`, file `k` is written there as `picks_{k:05}.js` as soon as it is made, and
/// its text let go (a scratch folder: the caller moves the files to the page's paths).
#[derive(Clone, Debug, PartialEq)]
pub struct PagePlan {
    pub chunk: usize,
    pub rules: PageRules,
    pub folder: Option<PathBuf>,
}

/// File `k`'s name in [`PagePlan::folder`] (the page's own, `micrographs/picks_NNNNN.js`).
pub fn file_name(k: usize) -> String {
    format!("picks_{k:05}.js")
}

/// The rules a one-pass scan's rejections can have, each by its index into the page's rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PageRules {
    /// The partner scored better.
    pub score: i8,
    /// Scores tied (or both not finite): the partner came first.
    pub row_order: i8,
    /// No scores: the seeded random ranking put the partner first.
    pub random_order: i8,
    /// `--remove-entirely`: the row had a neighbour within the distance.
    pub remove_entirely: i8,
}

/// The rows of a run of micrographs `first..end` (ids), numbered from the run's first row.
#[derive(Default)]
struct Run {
    first: usize,
    end: usize,
    keys: Vec<u32>,
    centres: Vec<f64>,
    /// The rejected rows (ascending), each one's rule and partner (its row in the run).
    rejected: Vec<i64>,
    rule: Vec<i8>,
    partner: Vec<i64>,
}

/// The files of the rows decided so far: those of whole files handed to the thread, the
/// rest pending.
pub struct PageTally {
    plan: PagePlan,
    dim: usize,
    remove_entirely: bool,
    pending: Run,
    /// The pending rows and rejected entries already handed over (let go at the next batch:
    /// each row copied once, not moved down at each file).
    handed: (usize, usize),
    next_file: usize,
    /// A rejected row without a partner (no rule the page could name): the files are not made.
    failed: bool,
    to_maker: Option<SyncSender<(usize, Run)>>,
    maker: Option<JoinHandle<Result<Vec<Vec<u8>>, PageError>>>,
}

impl PageTally {
    /// The files of rows of `dim` coordinates; `remove_entirely`: the scan's rule's.
    pub fn new(plan: PagePlan, dim: usize, remove_entirely: bool) -> Self {
        let (to_maker, runs) = sync_channel::<(usize, Run)>(QUEUED);
        let folder = plan.folder.clone();
        let maker = std::thread::Builder::new()
            .name("cryodedup-page".into())
            .spawn(move || {
                let mut texts = Vec::new();
                for (k, run) in runs {
                    let text = file_text(&run, k, dim)?;
                    texts.push(match &folder {
                        Some(folder) => written(folder, k, text)?,
                        None => text,
                    });
                }
                Ok(texts)
            })
            .expect("the system gives a thread for the page's files"); // (as std::thread::spawn)
        let pending = Run::default();
        PageTally {
            plan,
            dim,
            remove_entirely,
            pending,
            handed: (0, 0),
            next_file: 0,
            failed: false,
            to_maker: Some(to_maker),
            maker: Some(maker),
        }
    }

    /// Adds a batch of whole micrographs: each row's micrograph id (ascending), centre, whether
    /// it is kept, its partner (the row of the batch it lost to, -1 for a kept row) and score.
    pub fn add(&mut self, keys: &[u32], centres: &[f64], keep: &[bool], partners: &[i64], scores: Option<&[f64]>) {
        if self.failed || partners.len() != keys.len() {
            self.failed = true;
            return;
        }
        self.let_go_of_handed();
        let base = self.pending.keys.len() as i64;
        for (i, (&kept, &partner)) in keep.iter().zip(partners).enumerate() {
            if kept {
                continue;
            }
            if partner < 0 {
                self.failed = true;
                return;
            }
            let rule = self.rule(scores, i, partner as usize);
            let pending = &mut self.pending;
            pending.rejected.push(base + i as i64);
            pending.rule.push(rule);
            pending.partner.push(base + partner);
        }
        self.pending.keys.extend_from_slice(keys);
        self.pending.centres.extend_from_slice(centres);
        let decided = keys.last().map_or(0, |&last| last as usize + 1); // (micrographs whole so far)
        while (self.next_file + 1) * self.plan.chunk <= decided {
            self.hand_over((self.next_file + 1) * self.plan.chunk);
        }
    }

    /// The rule of row `i` of a batch, lost to row `partner` of it, as the record names it.
    fn rule(&self, scores: Option<&[f64]>, i: usize, partner: usize) -> i8 {
        let rules = &self.plan.rules;
        if self.remove_entirely {
            return rules.remove_entirely;
        }
        let Some(scores) = scores else { return rules.random_order };
        let (ours, theirs) = (scores[i], scores[partner]);
        match ours == theirs || (!ours.is_finite() && !theirs.is_finite()) {
            true => rules.row_order,
            false => rules.score,
        }
    }

    /// Lets go of the pending rows handed over; the rest numbered from their own first row.
    fn let_go_of_handed(&mut self) {
        let ((rows, entries), pending) = (self.handed, &mut self.pending);
        pending.keys.drain(..rows);
        pending.centres.drain(..rows * self.dim);
        pending.rejected.drain(..entries);
        pending.rule.drain(..entries);
        pending.partner.drain(..entries);
        for row in pending.rejected.iter_mut().chain(pending.partner.iter_mut()) {
            *row -= rows as i64;
        }
        self.handed = (0, 0);
    }

    /// Hands the pending rows of micrographs below `end` to the thread as the next file.
    fn hand_over(&mut self, end: usize) {
        let ((from, from_entry), pending) = (self.handed, &self.pending);
        let n = from + pending.keys[from..].partition_point(|&key| (key as usize) < end);
        let m = from_entry + pending.rejected[from_entry..].partition_point(|&row| row < n as i64);
        let local = |rows: &[i64]| rows.iter().map(|&row| row - from as i64).collect();
        let run = Run {
            first: self.next_file * self.plan.chunk,
            end,
            keys: pending.keys[from..n].to_vec(),
            centres: pending.centres[from * self.dim..n * self.dim].to_vec(),
            rejected: local(&pending.rejected[from_entry..m]),
            rule: pending.rule[from_entry..m].to_vec(),
            partner: local(&pending.partner[from_entry..m]),
        };
        self.handed = (n, m);
        if let Some(to) = &self.to_maker {
            if to.send((self.next_file, run)).is_err() {
                self.to_maker = None; // (the thread stopped: its error is the outcome)
            }
        }
        self.next_file += 1;
    }

    /// The text of every file, for `micrographs` micrographs in all; waits for the thread.
    /// None where a row had no rule the page could name, or a file could not be made (or
    /// written). With the plan's folder each text is empty: the file is written there.
    pub fn finish(mut self, micrographs: usize) -> Option<Vec<Vec<u8>>> {
        if !self.failed {
            while self.next_file * self.plan.chunk < micrographs {
                self.hand_over(((self.next_file + 1) * self.plan.chunk).min(micrographs));
            }
        }
        self.to_maker = None; // the thread ends once it has made what it was sent
        let texts = self.maker.take().and_then(|thread| thread.join().ok()).and_then(Result::ok);
        texts.filter(|_| !self.failed)
    }
}

impl Drop for PageTally {
    /// Dropped unfinished (a split given up): the thread ends once its channel is closed.
    fn drop(&mut self) {
        self.to_maker = None;
    }
}

/// File `k` written into `folder` (its text let go: an empty one in its place).
fn written(folder: &Path, k: usize, text: Vec<u8>) -> Result<Vec<u8>, PageError> {
    let path = folder.join(file_name(k));
    std::fs::write(&path, text).map_err(|error| PageError::Write { path, error })?;
    Ok(Vec::new())
}

/// File `k`'s text: the run's micrographs, one input, no species, the rows in order.
fn file_text(run: &Run, k: usize, dim: usize) -> Result<Vec<u8>, PageError> {
    let starts: Vec<i64> =
        (run.first..=run.end).map(|mic| run.keys.partition_point(|&key| (key as usize) < mic) as i64).collect();
    let inputs = vec![0u8; run.keys.len()];
    let picks = PagePicks {
        groups: &run.keys,
        centres: &run.centres,
        dim,
        inputs: Ids::U8(&inputs),
        species: None,
        rejected: &run.rejected,
        rule: &run.rule,
        partner: &run.partner,
        order: None,
        starts: &starts,
    };
    page_picks::picks_file_text(&picks, k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::page_picks::write_picks_files;

    const RULES: PageRules = PageRules { score: 0, row_order: 3, random_order: 4, remove_entirely: 7 };

    #[test]
    fn files_made_batch_by_batch_are_those_of_the_whole_set() {
        // Oracle: write_picks_files over the whole set, its rules worked out here by hand.
        let mut next = crate::test_random(0x51_7cc1_b727_220a);
        for (remove_entirely, scored, chunk) in [(false, true, 3), (true, true, 50), (false, false, 7)] {
            let n = 3000;
            let mut keys = Vec::with_capacity(n);
            let mut mic = 0u32;
            while keys.len() < n {
                let rows = 1 + next(12) as usize;
                keys.extend(std::iter::repeat_n(mic, rows.min(n - keys.len())));
                mic += 1;
            }
            let micrographs = mic as usize;
            let centres: Vec<f64> = (0..2 * n).map(|_| next(40_000) as f64 / 10.0 - 100.0).collect();
            let scores: Vec<f64> = (0..n).map(|_| next(4) as f64).collect(); // (ties often)
                                                                             // Each rejected row lost to an earlier row of its micrograph (as the scan's partners).
            let first_of: Vec<usize> = (0..n).map(|i| keys.partition_point(|&k| k < keys[i])).collect();
            let partner: Vec<i64> =
                (0..n).map(|i| if i > first_of[i] && next(3) == 0 { first_of[i] as i64 } else { -1 }).collect();
            let keep: Vec<bool> = partner.iter().map(|&p| p < 0).collect();
            let scores = scored.then_some(&scores[..]);
            let mut tally = PageTally::new(PagePlan { chunk, rules: RULES, folder: None }, 2, remove_entirely);
            let mut from = 0;
            while from < n {
                let mut to = (from + 400).min(n);
                while to < n && keys[to] == keys[to - 1] {
                    to += 1;
                }
                let local: Vec<i64> =
                    partner[from..to].iter().map(|&p| if p < 0 { p } else { p - from as i64 }).collect();
                tally.add(
                    &keys[from..to],
                    &centres[2 * from..2 * to],
                    &keep[from..to],
                    &local,
                    scores.map(|s| &s[from..to]),
                );
                from = to;
            }
            let texts = tally.finish(micrographs).unwrap();
            let rejected: Vec<i64> = (0..n as i64).filter(|&i| !keep[i as usize]).collect();
            let rule: Vec<i8> = rejected
                .iter()
                .map(|&i| {
                    let (i, p) = (i as usize, partner[i as usize] as usize);
                    match (remove_entirely, scores) {
                        (true, _) => 7,
                        (false, None) => 4,
                        (false, Some(s)) if s[i] == s[p] => 3,
                        _ => 0,
                    }
                })
                .collect();
            let partners: Vec<i64> = rejected.iter().map(|&i| partner[i as usize]).collect();
            let starts: Vec<i64> =
                (0..=micrographs).map(|m| keys.partition_point(|&k| (k as usize) < m) as i64).collect();
            let inputs = vec![0u8; n];
            let whole = PagePicks {
                groups: &keys,
                centres: &centres,
                dim: 2,
                inputs: Ids::U8(&inputs),
                species: None,
                rejected: &rejected,
                rule: &rule,
                partner: &partners,
                order: None,
                starts: &starts,
            };
            let dir = std::env::temp_dir().join(format!("page_batches_{}_{chunk}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let paths: Vec<_> = (0..micrographs.div_ceil(chunk)).map(|k| dir.join(format!("p{k}.js"))).collect();
            write_picks_files(&whole, chunk, &paths).unwrap();
            assert_eq!(texts.len(), paths.len());
            for (text, path) in texts.iter().zip(&paths) {
                assert_eq!(text, &std::fs::read(path).unwrap(), "{path:?}");
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn files_written_into_the_plans_folder_are_the_texts_made_without_it() {
        // Oracle: the same rows' texts, kept (the folder's files must be those bytes, and no
        // text held); a folder that cannot be written: no files, as a file not made.
        let keys: Vec<u32> = (0..630).map(|i| i / 7).collect();
        let centres: Vec<f64> = (0..1260).map(|i| (i * 37 % 1000) as f64 / 3.0).collect();
        let partner: Vec<i64> = (0..630).map(|i| if i % 7 > 4 { (i - i % 7) as i64 } else { -1 }).collect();
        let keep: Vec<bool> = partner.iter().map(|&p| p < 0).collect();
        let micrographs = 90;
        let texts = |folder: Option<PathBuf>| {
            let mut tally = PageTally::new(PagePlan { chunk: 5, rules: RULES, folder }, 2, false);
            for from in (0..630).step_by(70) {
                let local: Vec<i64> =
                    partner[from..from + 70].iter().map(|&p| if p < 0 { p } else { p - from as i64 }).collect();
                let batch = from..from + 70;
                tally.add(&keys[batch.clone()], &centres[2 * from..2 * from + 140], &keep[batch], &local, None);
            }
            tally.finish(micrographs)
        };
        let held = texts(None).unwrap();
        let dir = std::env::temp_dir().join(format!("page_batches_folder_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let written = texts(Some(dir.clone())).unwrap();
        assert_eq!(written.len(), held.len());
        assert!(written.iter().all(Vec::is_empty));
        for (k, text) in held.iter().enumerate() {
            assert_eq!(&std::fs::read(dir.join(file_name(k))).unwrap(), text, "file {k}");
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), held.len());
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(texts(Some(dir.join("absent"))), None);
    }

    #[test]
    fn a_rejected_row_without_a_partner_makes_no_files() {
        let mut tally = PageTally::new(PagePlan { chunk: 2, rules: RULES, folder: None }, 2, false);
        tally.add(&[0, 0, 1], &[0.0; 6], &[true, false, true], &[-1, -1, -1], None);
        assert_eq!(tally.finish(2), None);
    }
}
