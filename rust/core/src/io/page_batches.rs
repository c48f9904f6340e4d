//! The page of every micrograph's files of picks (`--plot`), made by a one-pass scan as it
//! decides ([`crate::particle_split`]): each decided batch goes to a thread of its own (the CPU
//! the scan leaves idle while it reads), which makes the text of every file whose micrographs
//! are all decided, and keeps it until the page is written, or writes it at once into a folder
//! the plan names (nothing held). The same bytes as [`page_picks::write_picks_files`] makes from
//! the whole set after the scan: each file is made by the same code from its own rows.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::io::page_picks::{self, Ids, PageError, PagePicks};

/// Batches handed to the thread and not yet made into files, at most (the scan waits past that).
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

/// What the scan sends the thread: a decided batch, then the number of micrographs in all.
enum Message {
    Batch(Batch),
    End(usize),
}

/// A decided batch of whole micrographs: its rows' micrograph ids and centres (shared with the
/// pictures' thread, not copied again), and its rejected rows (ascending, numbered in the batch),
/// each one's rule and partner.
struct Batch {
    keys: Arc<[u32]>,
    centres: Arc<[f64]>,
    rejected: Vec<i64>,
    rule: Vec<i8>,
    partner: Vec<i64>,
}

/// The files of the rows decided so far, made on a thread of their own.
pub struct PageTally {
    plan: PagePlan,
    remove_entirely: bool,
    /// A rejected row without a partner (no rule the page could name): the files are not made.
    failed: bool,
    to_maker: Option<SyncSender<Message>>,
    maker: Option<JoinHandle<Result<Vec<Vec<u8>>, PageError>>>,
}

impl PageTally {
    /// The files of rows of `dim` coordinates; `remove_entirely`: the scan's rule's.
    pub fn new(plan: PagePlan, dim: usize, remove_entirely: bool) -> Self {
        let (to_maker, messages) = sync_channel::<Message>(QUEUED);
        let mut files = Files { chunk: plan.chunk, dim, folder: plan.folder.clone(), ..Files::default() };
        let maker = std::thread::Builder::new()
            .name("cryodedup-page".into())
            .spawn(move || {
                for message in messages {
                    match message {
                        Message::Batch(batch) => files.add(&batch)?,
                        Message::End(micrographs) => files.finish(micrographs)?,
                    }
                }
                Ok(files.texts)
            })
            .expect("the system gives a thread for the page's files"); // (as std::thread::spawn)
        PageTally { plan, remove_entirely, failed: false, to_maker: Some(to_maker), maker: Some(maker) }
    }

    /// Adds a batch of whole micrographs: each row's micrograph id (ascending), centre, whether
    /// it is kept, its partner (the row of the batch it lost to, -1 for a kept row) and score.
    pub fn add(
        &mut self,
        keys: &Arc<[u32]>,
        centres: &Arc<[f64]>,
        keep: &[bool],
        partners: &[i64],
        scores: Option<&[f64]>,
    ) {
        if self.failed || partners.len() != keys.len() {
            self.failed = true;
            return;
        }
        let (mut rejected, mut rule, mut partner) = (Vec::new(), Vec::new(), Vec::new());
        for (i, (&kept, &theirs)) in keep.iter().zip(partners).enumerate() {
            if kept {
                continue;
            }
            if theirs < 0 {
                self.failed = true;
                return;
            }
            rejected.push(i as i64);
            rule.push(self.rule(scores, i, theirs as usize));
            partner.push(theirs);
        }
        let batch = Batch { keys: Arc::clone(keys), centres: Arc::clone(centres), rejected, rule, partner };
        self.send(Message::Batch(batch));
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

    fn send(&mut self, message: Message) {
        if let Some(to) = &self.to_maker {
            if to.send(message).is_err() {
                self.to_maker = None; // (the thread stopped: its error is the outcome)
            }
        }
    }

    /// The text of every file, for `micrographs` micrographs in all; waits for the thread.
    /// None where a row had no rule the page could name, or a file could not be made (or
    /// written). With the plan's folder each text is empty: the file is written there.
    pub fn finish(mut self, micrographs: usize) -> Option<Vec<Vec<u8>>> {
        if !self.failed {
            self.send(Message::End(micrographs));
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

/// The page thread's files: those made, and the rows of the next file decided so far.
#[derive(Default)]
struct Files {
    chunk: usize,
    dim: usize,
    folder: Option<PathBuf>,
    texts: Vec<Vec<u8>>,
    /// The rows of the next file that came in earlier batches (copied: most files lie in one
    /// batch, and are made from its rows where they lie).
    carried: Carried,
}

impl Files {
    /// Makes each file whose micrographs the batch completes; carries its last rows over.
    fn add(&mut self, batch: &Batch) -> Result<(), PageError> {
        let decided = batch.keys.last().map_or(0, |&last| last as usize + 1); // (micrographs whole so far)
        let mut rest = Rows::of(batch);
        while self.file_end() <= decided {
            let (file, after) = rest.split(self.file_end(), self.dim);
            let text = if self.carried.keys.is_empty() {
                self.text(file, self.file_end())
            } else {
                self.carried.extend(file);
                let text = self.text(self.carried.rows(), self.file_end());
                self.carried = Carried::default();
                text
            };
            self.keep(text?)?;
            rest = after;
        }
        self.carried.extend(rest);
        Ok(())
    }

    /// Makes the files left, for `micrographs` micrographs in all.
    fn finish(&mut self, micrographs: usize) -> Result<(), PageError> {
        let carried = std::mem::take(&mut self.carried);
        let mut rest = carried.rows();
        while self.texts.len() * self.chunk < micrographs {
            let end = self.file_end().min(micrographs);
            let (file, after) = rest.split(end, self.dim);
            let text = self.text(file, end)?;
            self.keep(text)?;
            rest = after;
        }
        Ok(())
    }

    /// The end (a micrograph id) of the next file's micrographs.
    fn file_end(&self) -> usize {
        (self.texts.len() + 1) * self.chunk
    }

    /// The next file's text: `rows`, its micrographs' up to `end`, one input, no species.
    fn text(&self, rows: Rows, end: usize) -> Result<Vec<u8>, PageError> {
        let k = self.texts.len();
        let starts: Vec<i64> =
            (k * self.chunk..=end).map(|mic| rows.keys.partition_point(|&key| (key as usize) < mic) as i64).collect();
        let inputs = vec![0u8; rows.keys.len()];
        let local = |of: &[i64]| of.iter().map(|&row| row - rows.base).collect::<Vec<i64>>();
        let picks = PagePicks {
            groups: rows.keys,
            centres: rows.centres,
            dim: self.dim,
            inputs: Ids::U8(&inputs),
            species: None,
            rejected: &local(rows.rejected),
            rule: rows.rule,
            partner: &local(rows.partner),
            order: None,
            starts: &starts,
        };
        page_picks::picks_file_text(&picks, k)
    }

    /// Keeps the next file's text, or writes it into the folder (and keeps an empty one).
    fn keep(&mut self, text: Vec<u8>) -> Result<(), PageError> {
        let text = match &self.folder {
            Some(folder) => written(folder, self.texts.len(), text)?,
            None => text,
        };
        self.texts.push(text);
        Ok(())
    }
}

/// Rows of a batch (or the carried rows) and their rejected entries, numbered from `base`
/// (the first row's number).
#[derive(Clone, Copy)]
struct Rows<'a> {
    keys: &'a [u32],
    centres: &'a [f64],
    base: i64,
    rejected: &'a [i64],
    rule: &'a [i8],
    partner: &'a [i64],
}

impl<'a> Rows<'a> {
    fn of(batch: &'a Batch) -> Self {
        let (keys, centres) = (&batch.keys[..], &batch.centres[..]);
        Rows { keys, centres, base: 0, rejected: &batch.rejected, rule: &batch.rule, partner: &batch.partner }
    }

    /// The rows of the micrographs below `end` (ids), and the rest (a partner is always a row
    /// of the same micrograph).
    fn split(self, end: usize, dim: usize) -> (Self, Self) {
        let n = self.keys.partition_point(|&key| (key as usize) < end);
        let m = self.rejected.partition_point(|&row| row < self.base + n as i64);
        let below = Rows {
            keys: &self.keys[..n],
            centres: &self.centres[..n * dim],
            rejected: &self.rejected[..m],
            rule: &self.rule[..m],
            partner: &self.partner[..m],
            ..self
        };
        let rest = Rows {
            keys: &self.keys[n..],
            centres: &self.centres[n * dim..],
            base: self.base + n as i64,
            rejected: &self.rejected[m..],
            rule: &self.rule[m..],
            partner: &self.partner[m..],
        };
        (below, rest)
    }
}

/// Rows carried over from batch to batch, numbered from their first.
#[derive(Default)]
struct Carried {
    keys: Vec<u32>,
    centres: Vec<f64>,
    rejected: Vec<i64>,
    rule: Vec<i8>,
    partner: Vec<i64>,
}

impl Carried {
    fn extend(&mut self, rows: Rows) {
        let shift = self.keys.len() as i64 - rows.base;
        self.keys.extend_from_slice(rows.keys);
        self.centres.extend_from_slice(rows.centres);
        self.rejected.extend(rows.rejected.iter().map(|&row| row + shift));
        self.rule.extend_from_slice(rows.rule);
        self.partner.extend(rows.partner.iter().map(|&row| row + shift));
    }

    fn rows(&self) -> Rows<'_> {
        let (keys, centres) = (&self.keys[..], &self.centres[..]);
        Rows { keys, centres, base: 0, rejected: &self.rejected, rule: &self.rule, partner: &self.partner }
    }
}

/// File `k` written into `folder` (its text let go: an empty one in its place).
fn written(folder: &Path, k: usize, text: Vec<u8>) -> Result<Vec<u8>, PageError> {
    let path = folder.join(file_name(k));
    std::fs::write(&path, text).map_err(|error| PageError::Write { path, error })?;
    Ok(Vec::new())
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
        for (remove_entirely, scored, chunk) in
            [(false, true, 3), (true, true, 50), (false, false, 7), (false, true, 200)]
        {
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
                    &Arc::from(&keys[from..to]),
                    &Arc::from(&centres[2 * from..2 * to]),
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
                let (batch_keys, batch_centres) =
                    (Arc::from(&keys[batch.clone()]), Arc::from(&centres[2 * from..2 * from + 140]));
                tally.add(&batch_keys, &batch_centres, &keep[batch], &local, None);
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
        tally.add(&Arc::from([0, 0, 1]), &Arc::from([0.0; 6]), &[true, false, true], &[-1, -1, -1], None);
        assert_eq!(tally.finish(2), None);
    }
}
