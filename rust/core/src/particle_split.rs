//! The particle job in one pass over a STAR file whose rows come micrograph by
//! micrograph, as RELION writes them: each micrograph is decided as soon as its rows end,
//! and its rows are copied to the kept or rejected output while the rest of the file is
//! still being read (docs/design.md section 5). The input is then read from the disk once,
//! instead of once to decide and once more to copy the rows.
//!
//! The decisions are those of the whole file's [`dedup`](crate::algo::dedup::dedup): micrographs
//! never interact, and [`dedup_slice`] ranks a slice of them as the whole set would. If a
//! micrograph's rows turn out not to be together (its name comes back after other
//! micrographs), or a batch cannot be decided (a centre that is not finite), the split is
//! given up: the scan goes on, and the caller decides and writes in a second pass as usual.

use std::io::{self, Write};
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::algo::dedup::{dedup_slice, DedupParams};
use crate::algo::forced::dedup_forced;
use crate::algo::picture_counts::{NearestPlan, PictureCounts, PictureTally};
use crate::errors::StarError;
use crate::io::decisions_csv::{self, RecordBatch, RecordLines, RecordSpec, Rejected, Rule, WRITE_AT};
use crate::io::page_batches::{PagePlan, PageTally};
use crate::io::particle_rows::{scan_loop, CentrePlan, Loop, ParticleRows};
use crate::io::star::{Block, Release, RowScan};

/// Rows decided together: enough that the micrographs of a batch keep both cores busy.
const BATCH: usize = if cfg!(test) { 64 } else { 1 << 16 };

/// Batches decided but not yet written, at most (the writer's lead over the scan).
const QUEUED: usize = 4;

/// Batches queued at most where the writer also makes the record: it falls behind the scan
/// more often, and each batch queued holds its 25 MB of input mapped (the peak memory).
const QUEUED_RECORDED: usize = 2;

/// The input a split copies its rows from, shared with its writing thread, which may
/// outlive the scan (see [`Writing`]).
pub trait RowSource: Send + Sync + 'static {
    fn bytes(&self) -> &[u8];
    /// Called with each range of the input once its rows are written.
    fn written(&self, range: Range<usize>);
}

/// The outputs of a scan that splits the rows as it goes.
pub struct Split<W> {
    /// The duplicate removal; with `want_suppressed_by`, each rejected row's partner is kept
    /// ([`Decided::suppressed_by`], 8 bytes a row: the page and the record of rejections).
    pub params: DedupParams,
    pub kept: W,
    pub rejected: W,
    /// The record of every rejection (`decisions.csv`): each rejected row's line made and
    /// written by the writer as it writes the row ([`decisions_csv`]); the partners are then
    /// kept for the record's batches alone.
    pub record: Option<(RecordSpec, W)>,
    /// With `--plot`: the pictures' counts made batch by batch ([`Decided::pictures`]).
    pub pictures: Option<NearestPlan>,
    /// With `--plot`: the page's files of picks made batch by batch ([`Decided::page`]; each
    /// batch's partners found for it, kept a row only where `params` asks).
    pub page: Option<PagePlan>,
    /// `--overrides`: the rows the user forced (rows of the file from 0, increasing) and
    /// whether each is kept, decided with the others in their batch ([`dedup_forced`]): a
    /// run with forced rows stays one pass. Not taken with `page`.
    pub forced: Vec<(u64, bool)>,
}

/// Every row's decision, as the whole file's [`dedup`](crate::algo::dedup::dedup) gives it.
#[derive(Debug, Default, PartialEq)]
pub struct Decided {
    /// Whether each row is kept.
    pub keep: Vec<bool>,
    /// For a rejected row, the kept row (of the whole file) that suppressed it, -1 for a
    /// kept row; empty unless the split's `want_suppressed_by` asked for it.
    pub suppressed_by: Vec<i64>,
    /// The pictures' counts, where the split's `pictures` asked for them.
    pub pictures: Option<PictureCounts>,
    /// The text of each of the page's files of picks, where the split's `page` asked for them
    /// and every rejected row had a partner.
    pub page: Option<Vec<Vec<u8>>>,
    /// The rows the split's `forced` decided (forced, or rejected by a forced keep), increasing.
    pub overridden: Vec<u64>,
}

/// What became of the split.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // (one a scan, moved once: a box would buy nothing)
pub enum Splitting {
    /// Every row was decided and handed to the writer. The writer may still be writing the
    /// last rows: [`Writing::finish`] waits for it.
    Done(Decided, Writing),
    /// Given up for this reason: the outputs are incomplete.
    GivenUp(String),
    /// Writing an output failed.
    Failed(io::Error),
}

/// The split's writing thread, still copying the last decided rows when the scan returns:
/// the caller does its own work on the rows meanwhile (on two cores the writer's last
/// batches otherwise leave one idle), and waits for the outputs before it uses them.
/// Dropped unfinished, the thread ends on its own once its rows are written.
pub struct Writing(Option<JoinHandle<io::Result<()>>>);

impl Writing {
    /// Waits until every row handed over is written and the outputs flushed.
    pub fn finish(mut self) -> io::Result<()> {
        match self.0.take() {
            Some(thread) => thread.join().unwrap_or_else(|_| Err(io::Error::other("the writing thread panicked"))),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for Writing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writing")
    }
}

/// A run of adjacent rows that go to one output: byte range, and whether they are kept.
type Run = (usize, usize, bool);

/// A decided batch as the writer takes it: its runs, and its rows of the record if asked.
type Batch = (Vec<Run>, Option<RecordBatch>);

/// [`scan_loop`] over `source` that also decides each micrograph once its rows end and
/// writes its rows to `split`'s outputs, on a thread of its own, in the order of the input.
/// `release` is called as a scan calls it (the rows' pages are still to be written then: it
/// should only read ahead); [`RowSource::written`] once rows are written. With
/// [`Splitting::Done`] the writing may still go on.
pub fn scan_and_split<S: RowSource, W: Write + Send + 'static>(
    source: &Arc<S>,
    rows_of: Loop,
    plan: &CentrePlan,
    release: Release,
    split: Split<W>,
) -> Result<(Option<Vec<Block>>, ParticleRows, Splitting), StarError> {
    let Split { params, kept, rejected, record, pictures, page, forced } = split;
    let (to_writer, batches) = sync_channel::<Batch>(if record.is_some() { QUEUED_RECORDED } else { QUEUED });
    let recorded = record.is_some();
    let record = record.map(|(spec, out)| (RecordLines::new(spec), out));
    let writer_source = Arc::clone(source);
    let writer = std::thread::Builder::new()
        .name("cryodedup-split-writer".into())
        .spawn(move || {
            let release = |range: Range<usize>| writer_source.written(range);
            write_runs(&*writer_source, batches, kept, rejected, record, release)
        })
        .expect("the system gives a thread for the split's writer"); // (as std::thread::spawn)
    let writing = Writing(Some(writer));
    let mut splitter = Splitter::new(params, plan.coords.len(), plan.score.is_some(), to_writer);
    splitter.recorded = recorded;
    splitter.forced = forced;
    splitter.tally = pictures.map(|counted| PictureTally::new(counted, plan.coords.len()));
    let remove_entirely = splitter.params.remove_entirely;
    splitter.page = page.map(|files| PageTally::new(files, plan.coords.len(), remove_entirely));
    let scanned = scan_loop(source.bytes(), rows_of, plan, release, |rows, names, scanned_so_far| {
        splitter.take(rows, names, scanned_so_far);
    });
    let decided = match &scanned {
        Ok((_, rows)) => splitter.finish(rows),
        Err(_) => {
            drop(splitter); // (its channel: the writer ends)
            Err("the file could not be read".into())
        }
    };
    let outcome = match decided {
        Ok(keep) => Splitting::Done(keep, writing),
        // The writer's error, if it stopped, is why the split was given up.
        Err(reason) => match writing.finish() {
            Err(e) => Splitting::Failed(e),
            Ok(()) => Splitting::GivenUp(reason),
        },
    };
    let (blocks, rows) = scanned?;
    Ok((blocks, rows, outcome))
}

/// Follows the rows as they are scanned: which micrograph's rows are still coming, which
/// rows are decided, and the byte spans of the rows not yet decided.
struct Splitter {
    params: DedupParams,
    dim: usize,
    scored: bool,
    /// The decision of each row decided so far (rows `0..decided.keep.len()`), its partner if asked.
    decided: Decided,
    /// The byte span of each row from `keep.len()` on.
    pending: Vec<(u64, u64)>,
    /// The micrograph whose rows came last, and its first row.
    current: Option<u32>,
    current_from: usize,
    /// Micrograph ids met so far (ids are given in order of first appearance).
    micrographs: usize,
    rows: usize,
    to_writer: Option<SyncSender<Batch>>,
    /// Whether the record is asked: each batch's rejected rows then go with its runs.
    recorded: bool,
    /// Micrograph names handed to the record so far.
    named: usize,
    given_up: Option<String>,
    /// The pictures' counts of the rows decided so far, if asked.
    tally: Option<PictureTally>,
    /// The page's files of the rows decided so far, if asked.
    page: Option<PageTally>,
    /// The forced rows (`Split::forced`), and the first not yet decided.
    forced: Vec<(u64, bool)>,
    next_forced: usize,
}

impl Splitter {
    fn new(params: DedupParams, dim: usize, scored: bool, to_writer: SyncSender<Batch>) -> Self {
        Splitter {
            params,
            dim,
            scored,
            decided: Decided::default(),
            pending: Vec::new(),
            current: None,
            current_from: 0,
            micrographs: 0,
            rows: 0,
            to_writer: Some(to_writer),
            recorded: false,
            named: 0,
            given_up: None,
            tally: None,
            page: None,
            forced: Vec::new(),
            next_forced: 0,
        }
    }

    /// Takes the next piece of rows; decides and hands over the micrographs that ended.
    fn take(&mut self, piece: &RowScan, names: &[Vec<u8>], scanned: &ParticleRows) {
        if self.given_up.is_some() {
            return;
        }
        self.pending.extend_from_slice(&piece.spans);
        for (i, &key) in piece.keys.iter().enumerate() {
            if Some(key) == self.current {
                continue;
            }
            if (key as usize) < self.micrographs {
                let name = String::from_utf8_lossy(&names[key as usize]);
                let row = self.rows + i + 1;
                return self.give_up(format!("the rows of micrograph {name} are not together (row {row} is one)"));
            }
            (self.current, self.current_from, self.micrographs) = (Some(key), self.rows + i, key as usize + 1);
        }
        self.rows += piece.keys.len();
        if self.current_from - self.decided.keep.len() >= BATCH {
            self.decide_until(self.current_from, scanned, names);
        }
    }

    /// Decides and hands over the rows left: whether each row is kept, or why the split was
    /// given up.
    fn finish(mut self, scanned: &ParticleRows) -> Result<Decided, String> {
        if self.given_up.is_none() {
            self.decide_until(self.rows, scanned, &scanned.key_names);
        }
        self.to_writer = None; // the writer ends once it has written what it was sent
        let micrographs = self.micrographs;
        self.decided.pictures = self.tally.take().map(|tally| tally.finish(micrographs));
        self.decided.page = self.page.take().and_then(|page| page.finish(micrographs));
        match self.given_up {
            Some(reason) => Err(reason),
            None => Ok(self.decided),
        }
    }

    /// Decides rows `keep.len()..end` (whole micrographs) and sends them to the writer.
    fn decide_until(&mut self, end: usize, scanned: &ParticleRows, names: &[Vec<u8>]) {
        let (start, dim) = (self.decided.keep.len(), self.dim);
        if end == start {
            return;
        }
        let scores = self.scored.then(|| &scanned.scores[start..end]);
        let keys = &scanned.keys[start..end];
        let centres = &scanned.centres[start * dim..end * dim];
        // (the record and the page take the partners too; then the batch's alone, not kept for every row)
        let partners = self.params.want_suppressed_by;
        let batch_partners = partners || self.recorded || self.page.is_some();
        let params = DedupParams { want_suppressed_by: batch_partners, ..self.params.clone() };
        let forced = self.forced_until(start, end);
        let decided = match forced.is_empty() {
            true => dedup_slice(start as u64, keys, centres, dim, scores, &params).map(|decided| (decided, Vec::new())),
            false => {
                let spare = self.micrographs as u32; // (above every id met: the rows the file decided, each alone)
                dedup_forced(start as u64, keys, centres, dim, scores, &forced, spare, &params)
            }
        };
        let (decided, overridden) = match decided {
            Ok(decided) => decided,
            Err(e) => return self.give_up(format!("rows {} to {end} cannot be decided ({e})", start + 1)),
        };
        let overridden_rows = overridden.iter().enumerate().filter(|(_, &o)| o).map(|(k, _)| (start + k) as u64);
        self.decided.overridden.extend(overridden_rows);
        let runs = runs_of(&self.pending[..end - start], &decided.keep);
        let record = self.recorded.then(|| self.record_batch(start, &decided, &overridden, scanned, names));
        self.pending.drain(..end - start);
        self.decided.keep.extend_from_slice(&decided.keep);
        // (the pictures' and the page's threads share one copy of the batch's rows)
        if self.tally.is_some() || self.page.is_some() {
            let (keys, centres) = (Arc::<[u32]>::from(keys), Arc::<[f64]>::from(centres));
            if let Some(tally) = &mut self.tally {
                tally.add(&keys, &centres, &decided.keep);
            }
            if let Some(page) = &mut self.page {
                page.add(&keys, &centres, &decided.keep, &decided.suppressed_by, scores);
            }
        }
        // (the slice's rows numbered from its first: as rows of the whole file)
        let whole = |partner: i64| if partner >= 0 { partner + start as i64 } else { partner };
        if partners {
            self.decided.suppressed_by.extend(decided.suppressed_by.iter().map(|&partner| whole(partner)));
        }
        let sent = self.to_writer.as_ref().is_some_and(|w| w.send((runs, record)).is_ok());
        if !sent {
            self.give_up("writing stopped".into()); // the writer's error is the outcome
        }
    }

    /// The forced rows among rows `start..end`, as rows of the batch (increasing).
    fn forced_until(&mut self, start: usize, end: usize) -> Vec<(usize, bool)> {
        let from = self.next_forced;
        let taken = self.forced[from..].iter().take_while(|&&(row, _)| row < end as u64).count();
        self.next_forced += taken;
        self.forced[from..from + taken].iter().map(|&(row, keep)| (row as usize - start, keep)).collect()
    }

    /// The record's batch of rows `start..`: each rejected row with its partner (both in the
    /// batch: micrographs never interact; none for a forced reject), the rule and their
    /// distance; and the micrograph names met since the last batch. `overridden`: the rows the
    /// overrides decided (empty: none), whose rule is theirs.
    fn record_batch(
        &mut self,
        start: usize,
        decided: &crate::algo::dedup::DedupResult,
        overridden: &[bool],
        scanned: &ParticleRows,
        names: &[Vec<u8>],
    ) -> RecordBatch {
        let dim = self.dim;
        let centre = |row: usize| &scanned.centres[row * dim..(row + 1) * dim];
        let remove_entirely = self.params.remove_entirely;
        let mut rejected = Vec::new();
        for (k, &partner) in decided.suppressed_by.iter().enumerate() {
            let by_file = overridden.get(k).copied().unwrap_or(false);
            let rejected_by_file = by_file && !decided.keep[k];
            if partner < 0 && !rejected_by_file {
                continue;
            }
            let row = start + k;
            let (rule, partner) = match (by_file, partner) {
                (true, -1) => (Rule::Override, None),
                (true, _) => (Rule::Override, Some(start + partner as usize)),
                (false, _) => {
                    let partner = start + partner as usize;
                    let scores = self.scored.then(|| (scanned.scores[row], scanned.scores[partner]));
                    (decisions_csv::rule_of(remove_entirely, scores), Some(partner))
                }
            };
            rejected.push(Rejected {
                row: row as u32,
                partner: partner.map_or(u32::MAX, |p| p as u32),
                rule,
                micrograph: scanned.keys[row],
                distance: partner.map_or(f64::NAN, |p| decisions_csv::distance(centre(row), centre(p))),
                span: self.pending[k],
                partner_span: partner.map_or((0, 0), |p| self.pending[p - start]),
            });
        }
        let new_micrographs = names[self.named..].to_vec();
        self.named = names.len();
        RecordBatch { rejected, new_micrographs }
    }

    fn give_up(&mut self, reason: String) {
        self.given_up = Some(reason);
        self.to_writer = None;
        self.pending = Vec::new();
    }
}

/// The rows `spans` as runs of adjacent rows going to the same output.
fn runs_of(spans: &[(u64, u64)], keep: &[bool]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for (&(a, b), &kept) in spans.iter().zip(keep) {
        let (a, b) = (a as usize, b as usize);
        match runs.last_mut() {
            Some((_, end, k)) if *end == a && *k == kept => *end = b,
            _ => runs.push((a, b, kept)),
        }
    }
    runs
}

/// Writes each batch's runs of `source` to their output, then tells `release` the input
/// range they cover. A last row without a line terminator gets `\n`. With a record, each
/// rejected row's line is made once its run is written ([`Recording`]).
fn write_runs<W: Write>(
    source: &impl RowSource,
    batches: Receiver<Batch>,
    mut kept: W,
    mut rejected: W,
    record: Option<(RecordLines, W)>,
    mut release: impl FnMut(Range<usize>),
) -> io::Result<()> {
    let data = source.bytes();
    let mut released: Option<usize> = None;
    let mut record = record.map(Recording::new).transpose()?;
    for (runs, batch) in batches {
        match (&mut record, &batch) {
            (Some(record), Some(batch)) => {
                let (record, mut rows) = record.batch(batch);
                for &run in &runs {
                    write_run(data, run, &mut kept, &mut rejected)?;
                    record.written(data, &mut rows, run.1)?;
                }
            }
            // (the loop without a record as it was before there was one: no test a run)
            _ => {
                for &run in &runs {
                    write_run(data, run, &mut kept, &mut rejected)?;
                }
            }
        }
        if let (Some(first), Some(last)) = (runs.first(), runs.last()) {
            let from = released.unwrap_or(first.0);
            release(from..last.1);
            released = Some(last.1);
        }
    }
    kept.flush()?;
    rejected.flush()?;
    record.map_or(Ok(()), Recording::finish)
}

/// Writes one run of `data` to its output; a last row without a line terminator gets `\n`.
#[inline(always)]
fn write_run<W: Write>(data: &[u8], (a, b, keep): Run, kept: &mut W, rejected: &mut W) -> io::Result<()> {
    let out = if keep { kept } else { rejected };
    out.write_all(&data[a..b])?;
    if data[b - 1] != b'\n' {
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The record as the writer makes it: each rejected row's line made once its run is written,
/// its name (and its partner's, on its micrograph) read from the bytes the copy just read into
/// the caches, not from memory; the lines written a [`WRITE_AT`] at a time.
struct Recording<W> {
    lines: RecordLines,
    out: W,
    line: Vec<u8>,
}

impl<W: Write> Recording<W> {
    fn new((lines, mut out): (RecordLines, W)) -> io::Result<Self> {
        out.write_all(RecordLines::HEADER).map_err(of_record)?;
        Ok(Recording { lines, out, line: Vec::with_capacity(WRITE_AT + (1 << 12)) })
    }

    /// Takes a batch's micrograph names; its rejected rows, to be made as they are written.
    fn batch<'b>(&mut self, batch: &'b RecordBatch) -> (&mut Self, &'b [Rejected]) {
        self.lines.name_micrographs(&batch.new_micrographs);
        (self, &batch.rejected)
    }

    /// Makes the lines of `rows` that end by `end` (written), and leaves the others in `rows`.
    fn written(&mut self, data: &[u8], rows: &mut &[Rejected], end: usize) -> io::Result<()> {
        // (counted from the front, not searched: a run ends before the next rejected row, or is it)
        let done = rows.iter().take_while(|r| r.span.1 as usize <= end).count();
        if done == 0 {
            return Ok(());
        }
        self.lines.lines(&mut self.line, data, &rows[..done]);
        *rows = &rows[done..];
        if self.line.len() >= WRITE_AT {
            self.out.write_all(&self.line).map_err(of_record)?;
            self.line.clear();
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.out.write_all(&self.line).and_then(|()| self.out.flush()).map_err(of_record)
    }
}

/// An error writing the record, as raised (naming the kept file: this says it was the record's).
fn of_record(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("the record of rejections (decisions.csv): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::dedup::dedup;
    use crate::io::particle_rows::PixelSize;
    use crate::io::star::{index, keep_all, write_split, RowEdit};
    use std::sync::Mutex;

    fn plan(score: Option<usize>) -> CentrePlan {
        CentrePlan {
            key: 3,
            coords: vec![0, 1],
            origins: vec![None, None],
            origin_pixels: None,
            psize: PixelSize::Constant(2.0),
            score,
            extra: Vec::new(),
            image: None,
        }
    }

    fn params(remove_entirely: bool) -> DedupParams {
        DedupParams {
            min_dist: 30.0,
            higher_is_better: true,
            remove_entirely,
            seed: 7,
            want_suppressed_by: false,
            selection: Default::default(),
        }
    }

    /// A particle file of `n` rows on micrographs of `per_mic` rows each (`mic(i)` names row
    /// `i`'s), close pairs among them, comments now and then, and a block after the loop.
    fn file(n: usize, mic: impl Fn(usize) -> usize, last_newline: bool) -> Vec<u8> {
        let mut text = String::from("data_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnScore\n");
        text += "_rlnMicrographName\n";
        for i in 0..n {
            if i % 61 == 7 {
                text += "# a comment among the rows\n";
            }
            let (x, y) = ((i / 2 * 37) % 400 + i % 2 * 3, (i / 2 * 11) % 300); // pairs 6 Å apart
            text += &format!("{x} {y}  {} m{:03}.mrc\n", (i * 13) % 29, mic(i));
        }
        if !last_newline {
            text.pop();
        } else {
            text += "\ndata_other\nloop_\n_rlnA\n1\n";
        }
        text.into_bytes()
    }

    /// An input in memory that notes the ranges written.
    struct Bytes {
        data: Vec<u8>,
        written: Mutex<Vec<Range<usize>>>,
    }

    impl RowSource for Bytes {
        fn bytes(&self) -> &[u8] {
            &self.data
        }
        fn written(&self, range: Range<usize>) {
            self.written.lock().unwrap().push(range);
        }
    }

    fn source(data: &[u8]) -> Arc<Bytes> {
        Arc::new(Bytes { data: data.to_vec(), written: Mutex::new(Vec::new()) })
    }

    /// An output whose bytes the test reads once the writer is done.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn take(&self) -> Vec<u8> {
            std::mem::take(&mut self.0.lock().unwrap())
        }
    }

    /// The file split in one pass (its writing finished), and the oracle: the whole file
    /// decided, then written by [`write_split`].
    fn both_ways(
        data: &[u8],
        plan: &CentrePlan,
        params: &DedupParams,
    ) -> (Splitting, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
        forced_both_ways(data, plan, params, &[])
    }

    /// [`both_ways`] with forced rows: the oracle the whole file decided by [`dedup_forced`].
    fn forced_both_ways(
        data: &[u8],
        plan: &CentrePlan,
        params: &DedupParams,
        forced: &[(u64, bool)],
    ) -> (Splitting, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
        let (kept, rejected) = (Shared::default(), Shared::default());
        let input = source(data);
        let split = Split {
            params: params.clone(),
            kept: kept.clone(),
            rejected: rejected.clone(),
            record: None,
            pictures: None,
            page: None,
            forced: forced.to_vec(),
        };
        let (_, rows, outcome) = scan_and_split(&input, Loop::Deferred("particles"), plan, &keep_all, split).unwrap();
        let outcome = match outcome {
            Splitting::Done(keep, writing) => match writing.finish() {
                Ok(()) => Splitting::Done(keep, Writing(None)),
                Err(e) => Splitting::Failed(e),
            },
            other => other,
        };
        let blocks = index(data).unwrap();
        let table = blocks[0].table.as_ref().unwrap();
        let scores = plan.score.map(|_| &rows.scores[..]);
        let (mut kept2, mut rejected2) = (Vec::new(), Vec::new());
        if let Splitting::Done(decided, _) = &outcome {
            let local: Vec<(usize, bool)> = forced.iter().map(|&(row, keep)| (row as usize, keep)).collect();
            let spare = rows.key_names.len() as u32;
            let (whole, overridden) = match forced.is_empty() {
                true => (dedup(&rows.keys, &rows.centres, 2, scores, params).unwrap(), Vec::new()),
                false => dedup_forced(0, &rows.keys, &rows.centres, 2, scores, &local, spare, params).unwrap(),
            };
            write_split(data, table, &whole.keep, &RowEdit::default(), &mut kept2, &mut rejected2, &keep_all).unwrap();
            let overridden = overridden.iter().enumerate().filter(|(_, &o)| o).map(|(row, _)| row as u64).collect();
            let (keep, suppressed_by) = (whole.keep, whole.suppressed_by);
            assert_eq!(decided, &Decided { keep, suppressed_by, pictures: None, page: None, overridden });
            // The ranges written run in order, one after the other, over every row.
            let ranges = std::mem::take(&mut *input.written.lock().unwrap());
            assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
            assert_eq!(ranges.first().unwrap().start, table.rows.start);
            assert_eq!(ranges.last().unwrap().end, table.rows.end);
        }
        (outcome, kept.take(), rejected.take(), kept2, rejected2)
    }

    #[test]
    fn forced_rows_are_split_as_the_whole_file_decides_them() {
        let data = file(5000, |i| i / 40, true);
        // (forced rows in most batches, some on one micrograph, kept and rejected)
        let forced: Vec<(u64, bool)> =
            (0..5000u64).filter(|row| row % 37 == 3 || row % 53 == 0).map(|row| (row, row % 3 != 0)).collect();
        for score in [Some(2), None] {
            let params = DedupParams { want_suppressed_by: true, ..params(false) };
            let (outcome, kept, rejected, kept2, rejected2) = forced_both_ways(&data, &plan(score), &params, &forced);
            let Splitting::Done(decided, _) = outcome else { panic!("the split was given up") };
            assert!(forced.iter().all(|&(row, keep)| decided.keep[row as usize] == keep));
            assert!(decided.overridden.len() > forced.len(), "forced keeps reject their neighbours");
            assert_eq!((kept, rejected), (kept2, rejected2));
        }
    }

    #[test]
    fn rows_grouped_by_micrograph_are_split_as_two_passes_split_them() {
        for (score, remove_entirely, last_newline) in
            [(Some(2), false, true), (None, false, true), (Some(2), true, false), (None, true, false)]
        {
            // Micrographs of 1 to 40 rows, over many batches and windows.
            let data = file(5000, |i| (i / 40) * 3 + (i % 40 >= 7) as usize + (i % 40 >= 9) as usize, last_newline);
            let (outcome, kept, rejected, kept2, rejected2) = both_ways(&data, &plan(score), &params(remove_entirely));
            assert!(matches!(outcome, Splitting::Done(..)), "{outcome:?}");
            assert!(!kept.is_empty() && !rejected.is_empty());
            assert_eq!(kept, kept2);
            assert_eq!(rejected, rejected2);
        }
    }

    #[test]
    fn each_rejected_rows_partner_is_kept_on_its_micrograph_within_the_distance() {
        // Checked by brute force, and against the whole file decided at once (in `both_ways`).
        for remove_entirely in [false, true] {
            let data = file(5000, |i| (i / 40) * 3 + (i % 40 >= 7) as usize, true);
            let params = DedupParams { want_suppressed_by: true, ..params(remove_entirely) };
            let (outcome, ..) = both_ways(&data, &plan(Some(2)), &params);
            let Splitting::Done(decided, _) = outcome else { panic!("{outcome:?}") };
            let rows =
                scan_loop(&data, Loop::Deferred("particles"), &plan(Some(2)), &keep_all, |_, _, _| {}).unwrap().1;
            let rejected: Vec<usize> = (0..5000).filter(|&i| !decided.keep[i]).collect();
            assert!(rejected.len() > 500 && rejected.iter().any(|&i| decided.suppressed_by[i] >= 64), "{rejected:?}");
            for i in 0..5000 {
                let partner = decided.suppressed_by[i];
                if decided.keep[i] {
                    assert_eq!(partner, -1);
                    continue;
                }
                let j = partner as usize;
                let (dx, dy) =
                    (rows.centres[2 * i] - rows.centres[2 * j], rows.centres[2 * i + 1] - rows.centres[2 * j + 1]);
                assert!(rows.keys[i] == rows.keys[j] && dx.hypot(dy) <= 30.0, "row {i}'s partner {j}");
                assert!(remove_entirely || (decided.keep[j] && rows.scores[j] >= rows.scores[i]), "row {i}: {j}");
            }
        }
    }

    #[test]
    fn the_record_names_each_rejected_row_and_its_partner_as_the_whole_file_decides() {
        // The record made by the writer as it writes the rows, against the whole file decided: a line
        // per rejected row, in order, naming the partner `dedup` gives, the distance and the rule.
        let data = file(5000, |i| (i / 40) * 3 + (i % 40 >= 7) as usize, true);
        for (score, remove_entirely) in [(Some(2), false), (None, false), (Some(2), true)] {
            let (kept, rejected, record) = (Shared::default(), Shared::default(), Shared::default());
            let spec = RecordSpec { input: b"in,put.star".to_vec(), image: None };
            let to_record = Some((spec, record.clone()));
            let split = Split {
                params: params(remove_entirely),
                kept,
                rejected,
                record: to_record,
                pictures: None,
                page: None,
                forced: Vec::new(),
            };
            let (_, rows, outcome) =
                scan_and_split(&source(&data), Loop::Deferred("particles"), &plan(score), &keep_all, split).unwrap();
            let Splitting::Done(decided, writing) = outcome else { panic!("{outcome:?}") };
            writing.finish().unwrap();
            assert!(decided.suppressed_by.is_empty()); // (not asked: the record's batches held them alone)
            let scores = score.map(|_| &rows.scores[..]);
            let asked = DedupParams { want_suppressed_by: true, ..params(remove_entirely) };
            let whole = dedup(&rows.keys, &rows.centres, 2, scores, &asked).unwrap();
            let text = String::from_utf8(record.take()).unwrap();
            let mut lines = text.lines();
            assert!(lines.next().unwrap().starts_with("input,row,particle,micrograph,"));
            let rejected: Vec<usize> = (0..5000).filter(|&i| !whole.keep[i]).collect();
            let lines: Vec<&str> = lines.collect();
            assert_eq!(lines.len(), rejected.len());
            for (line, &i) in lines.iter().zip(&rejected) {
                let j = whole.suppressed_by[i] as usize;
                let (dx, dy) =
                    (rows.centres[2 * i] - rows.centres[2 * j], rows.centres[2 * i + 1] - rows.centres[2 * j + 1]);
                let rule = match (remove_entirely, score) {
                    (true, _) => "remove entirely",
                    (false, None) => "random order",
                    (false, Some(_)) if rows.scores[i] == rows.scores[j] => "row order",
                    _ => "score",
                };
                let mut distance = Vec::new();
                crate::io::decisions_csv::python_repr(&mut distance, (dx * dx + dy * dy).sqrt());
                let distance = String::from_utf8(distance).unwrap();
                let head = format!("\"in,put.star\",{},,", i + 1);
                let tail = format!(",\"in,put.star\",{},,{distance},{rule}", j + 1);
                assert!(line.starts_with(&head) && line.contains(&tail), "{line} for {head} {tail}");
            }
        }
    }

    #[test]
    fn the_page_and_the_record_find_each_batchs_partners_without_keeping_them_a_row() {
        // --plot --decisions in one pass: the page's files are those made where every row's
        // partner is kept (as the two-pass page's, checked by page_batches' own oracle), and
        // no partner is kept a row unless asked; the record is written beside them.
        use crate::io::page_batches::PageRules;
        let data = file(5000, |i| (i / 40) * 3 + (i % 40 >= 7) as usize, true);
        let rules = PageRules { score: 0, row_order: 3, random_order: 4, remove_entirely: 7 };
        let page = Some(PagePlan { chunk: 4, rules, folder: None });
        let run = |partners: bool, recorded: bool| {
            let record = Shared::default();
            let spec = RecordSpec { input: b"p.star".to_vec(), image: None };
            let split = Split {
                params: DedupParams { want_suppressed_by: partners, ..params(false) },
                kept: Shared::default(),
                rejected: Shared::default(),
                record: recorded.then(|| (spec, record.clone())),
                pictures: None,
                page: page.clone(),
                forced: Vec::new(),
            };
            let (_, _, outcome) =
                scan_and_split(&source(&data), Loop::Deferred("particles"), &plan(Some(2)), &keep_all, split).unwrap();
            let Splitting::Done(decided, writing) = outcome else { panic!("{outcome:?}") };
            writing.finish().unwrap();
            (decided, record.take())
        };
        let (kept_a_row, _) = run(true, false);
        let (batch_alone, record) = run(false, true);
        let files = kept_a_row.page.expect("the page's files made");
        assert!(files.len() > 10 && !kept_a_row.suppressed_by.is_empty());
        assert_eq!(batch_alone.page.as_ref(), Some(&files));
        assert!(batch_alone.suppressed_by.is_empty());
        let (page_alone, _) = run(false, false);
        assert_eq!((page_alone.page, page_alone.suppressed_by.len()), (Some(files), 0));
        let rejected = kept_a_row.keep.iter().filter(|&&k| !k).count();
        assert_eq!(record.iter().filter(|&&b| b == b'\n').count(), 1 + rejected);
    }

    #[test]
    fn the_pictures_counts_made_batch_by_batch_are_the_whole_files() {
        // Oracle: the whole file's nearest distances (one search over every row) binned.
        use crate::algo::histogram::clipped_histogram;
        use crate::algo::neighbours::nearest_distances;
        let data = file(5000, |i| (i / 40) * 3 + (i % 40 >= 7) as usize + (i % 40 >= 9) as usize, true);
        let edges: Vec<f64> = (0..=100).map(|k| 150.0 * k as f64 / 100.0).collect();
        let pictures = Some(NearestPlan { reach: 150.0, edges: edges.clone(), within: 30.0 });
        let (kept, rejected) = (Shared::default(), Shared::default());
        let split =
            Split { params: params(false), kept, rejected, record: None, pictures, page: None, forced: Vec::new() };
        let (_, rows, outcome) =
            scan_and_split(&source(&data), Loop::Deferred("particles"), &plan(Some(2)), &keep_all, split).unwrap();
        let Splitting::Done(decided, _) = outcome else { panic!("{outcome:?}") };
        let counts = decided.pictures.unwrap();
        let d = nearest_distances(&rows.keys, &rows.centres, 2, 150.0).unwrap();
        let finite: Vec<f64> = d.iter().copied().filter(|d| d.is_finite()).collect();
        let nearest = counts.nearest.unwrap();
        assert_eq!(nearest.counts, clipped_histogram(&finite, &edges, None).unwrap().counts[0]);
        assert_eq!(nearest.within, vec![finite.iter().filter(|&&d| d <= 30.0).count() as u64]);
        assert!(nearest.within[0] > 500, "{nearest:?}");
        let n_mics = rows.key_names.len();
        let mut picks = vec![0u64; n_mics];
        let mut kept = vec![0u64; n_mics];
        for (i, &key) in rows.keys.iter().enumerate() {
            picks[key as usize] += 1;
            kept[key as usize] += u64::from(decided.keep[i]);
        }
        assert_eq!((counts.picks, counts.kept), (picks, kept));
    }

    #[test]
    fn a_micrograph_that_comes_back_gives_up() {
        // Micrograph 0's rows come back at row 4000, far beyond the first batches.
        let data = file(5000, |i| if i == 4000 { 0 } else { i / 25 }, true);
        let (outcome, ..) = both_ways(&data, &plan(Some(2)), &params(false));
        match outcome {
            Splitting::GivenUp(reason) => assert!(reason.contains("micrograph m000.mrc"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_centre_that_is_not_finite_gives_up() {
        let mut data = file(3000, |i| i / 25, true);
        let at = data.windows(4).position(|w| w == b"\n77 ").unwrap(); // row 5's x
        data.splice(at + 1..at + 3, b"nan".iter().copied());
        let (outcome, ..) = both_ways(&data, &plan(Some(2)), &params(false));
        assert!(matches!(outcome, Splitting::GivenUp(ref r) if r.contains("cannot be decided")), "{outcome:?}");
    }

    #[test]
    fn a_row_that_breaks_the_file_is_its_error() {
        let mut data = file(3000, |i| i / 25, true);
        let at = data.windows(4).position(|w| w == b"\n77 ").unwrap();
        data.splice(at + 1..at + 4, b"".iter().copied()); // row 5 loses a field
        let split = Split {
            params: params(false),
            kept: Shared::default(),
            rejected: Shared::default(),
            record: None,
            pictures: None,
            page: None,
            forced: Vec::new(),
        };
        let err =
            scan_and_split(&source(&data), Loop::Deferred("particles"), &plan(Some(2)), &keep_all, split).unwrap_err();
        assert!(matches!(err, StarError::FieldCount { expected: 4, got: 3, .. }), "{err:?}");
    }

    /// An output that refuses its writes ("disk full"), or, writing, only its flush.
    struct Refuses {
        writes: bool,
    }
    impl Write for Refuses {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            match self.writes {
                true => Err(io::Error::other("disk full")),
                false => Ok(buf.len()),
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::other("flush refused"))
        }
    }

    #[test]
    fn a_write_that_fails_after_the_scan_is_told_by_finish() {
        // Every write succeeds and the flush fails: the error comes after the scan has
        // handed over its last rows, so the scan returns Done and `finish` says it.
        let data = file(3000, |i| i / 25, true);
        let split = Split {
            params: params(false),
            kept: Refuses { writes: false },
            rejected: Refuses { writes: false },
            record: None,
            pictures: None,
            page: None,
            forced: Vec::new(),
        };
        let (_, _, outcome) =
            scan_and_split(&source(&data), Loop::Deferred("particles"), &plan(Some(2)), &keep_all, split).unwrap();
        let Splitting::Done(decided, writing) = outcome else { panic!("{outcome:?}") };
        assert_eq!(decided.keep.len(), 3000);
        assert_eq!(writing.finish().unwrap_err().to_string(), "flush refused");
    }

    #[test]
    fn a_failed_record_is_the_outcome_and_says_so() {
        let data = file(3000, |i| i / 25, true);
        let spec = RecordSpec { input: b"in.star".to_vec(), image: None };
        let (kept, rejected) = (Box::new(Shared::default()) as Box<dyn Write + Send>, Box::new(Shared::default()));
        let record: Box<dyn Write + Send> = Box::new(Refuses { writes: true });
        let record = Some((spec, record));
        let split =
            Split { params: params(false), kept, rejected, record, pictures: None, page: None, forced: Vec::new() };
        let (_, _, outcome) =
            scan_and_split(&source(&data), Loop::Deferred("particles"), &plan(Some(2)), &keep_all, split).unwrap();
        let Splitting::Failed(e) = outcome else { panic!("{outcome:?}") };
        assert_eq!(e.to_string(), "the record of rejections (decisions.csv): disk full");
    }

    #[test]
    fn a_failed_write_is_the_outcome() {
        let data = file(3000, |i| i / 25, true);
        let split = Split {
            params: params(false),
            kept: Refuses { writes: true },
            rejected: Refuses { writes: true },
            record: None,
            pictures: None,
            page: None,
            forced: Vec::new(),
        };
        let (_, rows, outcome) =
            scan_and_split(&source(&data), Loop::Deferred("particles"), &plan(Some(2)), &keep_all, split).unwrap();
        assert_eq!(rows.keys.len(), 3000); // the scan went on
        assert!(matches!(outcome, Splitting::Failed(ref e) if e.to_string() == "disk full"), "{outcome:?}");
    }
}
