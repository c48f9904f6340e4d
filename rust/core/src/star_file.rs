//! A STAR file mapped into memory and indexed, and the passes a job makes over it: scans of a
//! loop, the particle job's scan (deciding and splitting as it goes where asked), and rows
//! split into kept and rejected outputs. Each pass meets the page cache as
//! [`MappedFile`] says; resident memory stays within a window,
//! whatever the file's size.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::algo::dedup::DedupParams;
use crate::algo::picture_counts::NearestPlan;
use crate::errors::{FileError, StarError};
use crate::io::decisions_csv::RecordSpec;
use crate::io::mapped::MappedFile;
use crate::io::page_batches::PagePlan;
use crate::io::particle_rows::{self, CentrePlan, Loop, ParticleRows};
use crate::io::star::{self, Block, RowEdit, RowScan, Table};
use crate::particle_split::{self, RowSource, Splitting};

/// A mapped, indexed STAR file.
pub struct StarFile {
    /// Shared with a one-pass split's writer, which may still be writing when the scan returns.
    mapped: Arc<MappedFile>,
    /// The index up to the first row of the loop of block `defer_rows_of` when opened so
    /// (the rest is indexed while that loop is scanned), else the whole index.
    header: Vec<Block>,
    /// The whole index, once known.
    index: OnceLock<Vec<Block>>,
}

/// The outputs of a particle scan that splits as it goes (they hold their header already).
pub struct SplitTo<'a> {
    /// The duplicate removal; `want_suppressed_by` is not used.
    pub params: DedupParams,
    pub kept: &'a Path,
    pub rejected: &'a Path,
    /// The record of every rejection, appended to this file (`decisions.csv`, empty), if asked.
    pub record: Option<(RecordSpec, &'a Path)>,
    /// With `--plot`: the pictures' counts made as the rows are decided.
    pub pictures: Option<NearestPlan>,
    /// With `--plot`: the page's files of picks made as the rows are decided.
    pub page: Option<PagePlan>,
    /// `--overrides`: the forced rows (from 0, increasing) and whether each is kept (`particle_split::Split::forced`).
    pub forced: Vec<(u64, bool)>,
}

impl StarFile {
    /// Maps and indexes `path`; with `defer_rows_of`, only up to the first row of the loop of
    /// the first block of that name (the rest is indexed while that loop is scanned).
    pub fn open(path: &Path, defer_rows_of: Option<&str>) -> Result<Self, FileError> {
        let mapped = MappedFile::open(path).map_err(|e| FileError::Read(e.into()))?;
        let data = mapped.bytes();
        let index = OnceLock::new();
        let header = match defer_rows_of {
            Some(name) => {
                let found = star::index_header(data, star::LoopOf::Block(name))?;
                if !found.deferred {
                    let _ = index.set(found.blocks.clone());
                }
                found.blocks
            }
            None => {
                let blocks = star::index_releasing(data, &|range| mapped.release(range))?;
                let _ = index.set(blocks.clone());
                blocks
            }
        };
        Ok(StarFile { mapped: Arc::new(mapped.prefetching()), header, index })
    }

    pub fn bytes(&self) -> &[u8] {
        self.mapped.bytes()
    }

    /// Whether the file was opened deferred and its index is still partial.
    pub fn deferred(&self) -> bool {
        self.index.get().is_none()
    }

    /// The blocks known without indexing further.
    pub fn header_blocks(&self) -> &[Block] {
        self.index.get().unwrap_or(&self.header)
    }

    /// The whole index: indexes the rest of a file opened deferred (one more pass over it).
    pub fn blocks(&self) -> Result<&[Block], StarError> {
        if let Some(blocks) = self.index.get() {
            return Ok(blocks);
        }
        let blocks = star::index_releasing(self.bytes(), &|range| self.mapped.release(range))?;
        Ok(self.index.get_or_init(|| blocks))
    }

    /// The loop of block `block`.
    pub fn table(&self, block: usize) -> Result<&Table, FileError> {
        self.blocks()?.get(block).and_then(|b| b.table.as_ref()).ok_or_else(|| no_loop(block))
    }

    /// The loop a particle scan of `block` reads: that of the index so far when the file is
    /// deferred and `block` is the last block known (its loop is scanned while the rest of
    /// the file is indexed: one read), else that of the whole index.
    pub fn particle_table(&self, block: usize) -> Result<&Table, FileError> {
        match self.fused(block) {
            true => self.header[block].table.as_ref().ok_or_else(|| no_loop(block)),
            false => self.table(block),
        }
    }

    fn fused(&self, block: usize) -> bool {
        self.deferred() && block + 1 == self.header.len()
    }

    /// Scans the rows of `block` in parallel: the numbers of `number_cols` and the key ids.
    pub fn scan(&self, block: usize, number_cols: &[usize], key_col: Option<usize>) -> Result<RowScan, FileError> {
        let table = self.table(block)?;
        if let Some(&bad) = number_cols.iter().chain(key_col.iter()).find(|&&c| c >= table.labels.len()) {
            return Err(out_of_range(bad));
        }
        Ok(star::scan_rows(self.bytes(), table, number_cols, key_col)?)
    }

    /// Scans the particle loop `block` as `plan` says, one window at a time. With `split`,
    /// each micrograph is also decided once its rows end and its rows are appended to the
    /// kept or rejected output as the scan goes (docs/design.md section 5).
    pub fn scan_particles(
        &self,
        block: usize,
        plan: &CentrePlan,
        split: Option<SplitTo>,
    ) -> Result<(ParticleRows, Option<Splitting>), FileError> {
        let source = match self.fused(block) {
            true => Loop::Deferred(self.header[block].name.as_str()),
            false => Loop::Indexed(self.table(block)?),
        };
        let (blocks, rows, splitting) = match split {
            Some(split) => {
                let (blocks, rows, splitting) = self.scan_and_split(source, plan, split)?;
                (blocks, rows, Some(splitting))
            }
            None => {
                let (blocks, rows) = self.scan_for_two_passes(source, plan)?;
                (blocks, rows, None)
            }
        };
        if let Some(blocks) = blocks {
            self.index.get_or_init(|| blocks);
        }
        Ok((rows, splitting))
    }

    /// The decision pass of a job that writes in a second pass: a file bigger than the cache
    /// is dropped behind the scan but for its start, which the write pass reads first.
    fn scan_for_two_passes(
        &self,
        source: Loop,
        plan: &CentrePlan,
    ) -> Result<(Option<Vec<Block>>, ParticleRows), StarError> {
        let head = self.mapped.head_kept();
        let release = |range: Range<usize>| self.mapped.release_deciding(range, head);
        let scanned = particle_rows::scan_loop(self.bytes(), source, plan, &release, |_, _, _| {})?;
        self.mapped.reread_head(head);
        Ok(scanned)
    }

    /// The job in one pass: rows decided and written as the scan goes. The scan only reads
    /// ahead; the rows' pages go once they are written. With [`Splitting::Done`] the last
    /// rows may still be being written.
    fn scan_and_split(
        &self,
        source: Loop,
        plan: &CentrePlan,
        split: SplitTo,
    ) -> Result<(Option<Vec<Block>>, ParticleRows, Splitting), FileError> {
        let open = |path: &Path| self.mapped.appending(path).map_err(|error| written(path, error));
        let (kept, rejected) = (open(split.kept)?, open(split.rejected)?);
        let read_ahead = |range: Range<usize>| self.mapped.read_ahead_from(range.end);
        let record = match split.record {
            Some((spec, path)) => Some((spec, open(path)?)),
            None => None,
        };
        let (pictures, page) = (split.pictures, split.page);
        let forced = split.forced;
        let outputs = particle_split::Split { params: split.params, kept, rejected, record, pictures, page, forced };
        let scanned = particle_split::scan_and_split(&self.mapped, source, plan, &read_ahead, outputs)?;
        if !matches!(scanned.2, Splitting::Done(..)) {
            self.mapped.reread_head(self.mapped.head_kept());
        }
        Ok(scanned)
    }

    /// Appends the rows of `block` to two files, byte for byte (edited as `edit` says): rows
    /// where `keep` holds to `kept_path`, the others to `rejected_path`.
    pub fn append_split(
        &self,
        block: usize,
        keep: &[bool],
        edit: &RowEdit,
        kept_path: &Path,
        rejected_path: &Path,
    ) -> Result<(), FileError> {
        let table = self.table(block)?;
        let open = |path: &Path| self.mapped.appending(path).map_err(|error| written(path, error));
        let (mut kept, mut rejected) = (open(kept_path)?, open(rejected_path)?);
        let release = |range: Range<usize>| self.mapped.release_written(range);
        let write = || {
            star::write_split(self.bytes(), table, keep, edit, &mut kept, &mut rejected, &release)?;
            kept.into_inner().map_err(std::io::IntoInnerError::into_error)?;
            rejected.into_inner().map_err(std::io::IntoInnerError::into_error).map(|_| ())
        };
        write().map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => FileError::Call(e.to_string()),
            _ => written(kept_path, e),
        })
    }
}

impl RowSource for MappedFile {
    fn bytes(&self) -> &[u8] {
        MappedFile::bytes(self)
    }
    fn written(&self, range: Range<usize>) {
        self.forget_written(range);
    }
}

fn written(path: &Path, error: std::io::Error) -> FileError {
    FileError::Write { path: PathBuf::from(path), error }
}

fn no_loop(block: usize) -> FileError {
    FileError::Call(format!("block {block} has no loop"))
}

fn out_of_range(column: usize) -> FileError {
    FileError::Call(format!("column {column} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::particle_rows::PixelSize;

    /// A file of `text` in a folder of its own, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str, text: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("cryodedup-star-file-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("in.star"), text).unwrap();
            Scratch(dir)
        }

        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const TEXT: &str = "data_optics\nloop_\n_rlnOpticsGroup\n1\n\ndata_particles\nloop_\n_rlnCoordinateX\n\
                        _rlnCoordinateY\n_rlnMicrographName\n_rlnAutopickFigureOfMerit\n0 0 a 1\n2 0 a 2\n100 0 a 0\n\n\
                        data_after\n_rlnA 1\n";

    fn plan() -> CentrePlan {
        let psize = PixelSize::Constant(2.0);
        CentrePlan {
            key: 2,
            coords: vec![0, 1],
            origins: vec![None, None],
            origin_pixels: None,
            psize,
            score: Some(3),
            extra: Vec::new(),
            image: None,
        }
    }

    #[test]
    fn a_deferred_file_is_indexed_while_its_particles_are_scanned_and_split() {
        let dir = Scratch::new("split", TEXT);
        let star = StarFile::open(&dir.path("in.star"), Some("particles")).unwrap();
        assert!(star.deferred() && star.header_blocks().len() == 2);
        let (kept, rejected) = (dir.path("kept"), dir.path("rejected"));
        std::fs::write(&kept, "").unwrap();
        std::fs::write(&rejected, "").unwrap();
        let params = DedupParams {
            min_dist: 10.0,
            higher_is_better: true,
            remove_entirely: false,
            seed: 0,
            want_suppressed_by: false,
            selection: Default::default(),
        };
        let to = SplitTo {
            params,
            kept: &kept,
            rejected: &rejected,
            record: None,
            pictures: None,
            page: None,
            forced: Vec::new(),
        };
        let (rows, splitting) = star.scan_particles(1, &plan(), Some(to)).unwrap();
        // By hand: centres times 2 Å; the first row is within 10 Å of the better second.
        assert_eq!(rows.centres, [0.0, 0.0, 4.0, 0.0, 200.0, 0.0]);
        let Some(Splitting::Done(decided, writing)) = splitting else { panic!("{splitting:?}") };
        assert_eq!((decided.keep, decided.suppressed_by), (vec![false, true, true], vec![]));
        writing.finish().unwrap(); // (the outputs are whole only then)
        assert!(!star.deferred() && star.blocks().unwrap().len() == 3);
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "2 0 a 2\n100 0 a 0\n");
        assert_eq!(std::fs::read_to_string(&rejected).unwrap(), "0 0 a 1\n");
    }

    #[test]
    fn rows_are_appended_to_the_kept_and_rejected_outputs_as_they_are() {
        let dir = Scratch::new("append", TEXT);
        let star = StarFile::open(&dir.path("in.star"), None).unwrap();
        let (kept, rejected) = (dir.path("kept"), dir.path("rejected"));
        std::fs::write(&kept, "head\n").unwrap();
        std::fs::write(&rejected, "").unwrap();
        let edit = RowEdit { rewrite: None, values: None, columns: None };
        star.append_split(1, &[true, false, true], &edit, &kept, &rejected).unwrap();
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "head\n0 0 a 1\n100 0 a 0\n");
        assert_eq!(std::fs::read_to_string(&rejected).unwrap(), "2 0 a 2\n");
        let missing = dir.path("no/such/folder");
        let err = star.append_split(1, &[true; 3], &edit, &missing, &rejected).unwrap_err();
        assert!(matches!(err, FileError::Write { path, .. } if path == missing));
        assert!(matches!(star.table(2), Err(FileError::Call(m)) if m == "block 2 has no loop"));
    }

    #[test]
    fn an_unreadable_file_and_a_broken_one_are_read_errors() {
        let dir = Scratch::new("errors", "data_x\nloop_\n_rlnA\n_rlnB\n1\n");
        assert!(matches!(StarFile::open(&dir.path("missing.star"), None), Err(FileError::Read(_))));
        let star = StarFile::open(&dir.path("in.star"), None).unwrap();
        let err = star.scan(0, &[0], None).unwrap_err();
        assert!(matches!(err, FileError::Read(crate::errors::Error::Star(StarError::FieldCount { line: 5, .. }))));
    }
}
