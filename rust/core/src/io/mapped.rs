//! A big input mapped into memory for streaming passes, and how each kind of pass meets the
//! page cache (docs/design.md section 5): pages behind a pass are released from the process,
//! the bytes ahead are read in advance (by a prefetching thread for a big file, and hinted to
//! the kernel), a file bigger than the cache is dropped from it behind the pass, and outputs
//! beyond the kernel's limit of dirty pages are written behind.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter};
use std::ops::Range;
use std::path::Path;

use memmap2::{Advice, Mmap, UncheckedAdvice};

use crate::io::page_cache::{self, Prefetcher, WriteBehind};
use crate::io::star::WINDOW;

/// Bytes read ahead of a streaming pass (by the file's prefetching thread, and hinted to
/// the kernel): a pass that waits for each page it touches leaves the disk idle while it
/// parses.
pub const READ_AHEAD: usize = 4 * WINDOW;

/// A file mapped read-only, with what each of its passes releases and reads ahead.
pub struct MappedFile {
    file: File,
    /// None for an empty file (an empty map is refused by the kernel).
    map: Option<Mmap>,
    /// Reads the file into the cache ahead of each pass, for a big file.
    prefetcher: Option<Prefetcher>,
}

impl MappedFile {
    /// Maps `path` and starts reading its start. No prefetching thread yet: the first pass
    /// (the index) reads the file at once; [`MappedFile::prefetching`] adds it after.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let map = match file.metadata()?.len() {
            0 => None,
            // SAFETY: the file is only read; cryodedup never writes to its inputs.
            _ => Some(unsafe { Mmap::map(&file) }?),
        };
        if let Some(map) = &map {
            let _ = map.advise(Advice::Sequential); // read ahead; a hint only
            hint_read_ahead(map, 0);
        }
        Ok(MappedFile { file, map, prefetcher: None })
    }

    /// The file with a prefetching thread, if it is big (a small one is read at once, and a
    /// thread each would be waste).
    pub fn prefetching(mut self) -> Self {
        if self.bytes().len() >= 4 * READ_AHEAD {
            self.prefetcher = Prefetcher::new(&self.file).ok();
        }
        self
    }

    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Behind a reading pass: the pages of `range` leave the process (the page cache keeps
    /// them), and the bytes after it are read ahead.
    pub fn release(&self, range: Range<usize>) {
        self.unmap(range.clone());
        self.read_ahead_from(range.end);
    }

    /// Behind the decision pass of a job that writes in a second pass: a file bigger than the
    /// cache is dropped from it behind the scan but for its first `head` bytes, which the
    /// write pass reads first.
    pub fn release_deciding(&self, range: Range<usize>, head: usize) {
        if range.end > head {
            self.drop_cached_behind(range.start.max(head)..range.end);
        }
        self.release(range);
    }

    /// The bytes of a big file that a two-pass job keeps in the cache for its second pass.
    pub fn head_kept(&self) -> usize {
        page_cache::head_kept(self.bytes().len() as u64) as usize
    }

    /// Behind a pass that writes this file's rows out: a file bigger than the cache is
    /// dropped from it, leaving the cache to the input still ahead.
    pub fn release_written(&self, range: Range<usize>) {
        self.drop_if_big(range.clone());
        self.release(range);
    }

    /// Behind the one-pass split, once rows are written: dropped as `release_written`, with
    /// no read ahead (the scan reads ahead on its own).
    pub fn forget_written(&self, range: Range<usize>) {
        self.drop_if_big(range.clone());
        self.unmap(range);
    }

    /// Has the prefetching thread read `..head` into the cache again, if the file is bigger:
    /// the write pass reads it first, while the job decides (no disk reads for seconds).
    pub fn reread_head(&self, head: usize) {
        if head < self.bytes().len() {
            if let Some(prefetcher) = &self.prefetcher {
                prefetcher.want(0, head as u64);
            }
        }
    }

    /// Asks for the [`READ_AHEAD`] bytes after `end` to be read into the cache.
    pub fn read_ahead_from(&self, end: usize) {
        if let Some(prefetcher) = &self.prefetcher {
            prefetcher.want(end as u64, (end + READ_AHEAD).min(self.bytes().len()) as u64);
        }
        if let Some(map) = &self.map {
            hint_read_ahead(map, end);
        }
    }

    /// `path` opened to append rows of this file to, buffered. Outputs beyond the kernel's
    /// limit of dirty pages are written behind (an input gives at most its size), the
    /// one-pass split's too: faster than direct writes, each of which waits for the disk
    /// (docs/design.md section 5).
    pub fn appending(&self, path: &Path) -> io::Result<BufWriter<WriteBehind>> {
        let behind = page_cache::bigger_than_dirty_limit(self.bytes().len() as u64);
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(BufWriter::with_capacity(1 << 20, WriteBehind::new(file, behind)?))
    }

    fn unmap(&self, range: Range<usize>) {
        if let Some(map) = &self.map {
            // SAFETY: the map is read-only and shared; dropped pages are read again on access.
            let _ = unsafe { map.unchecked_advise_range(UncheckedAdvice::DontNeed, range.start, range.len()) };
        }
    }

    fn drop_if_big(&self, range: Range<usize>) {
        if page_cache::bigger_than_cache(self.bytes().len() as u64) {
            page_cache::drop_cached(&self.file, range.start as u64..range.end as u64);
        }
    }

    /// Drops `range` of the file from the page cache, on the prefetching thread if the file
    /// has one: a pass that the CPU limits then does not wait while the kernel frees the
    /// pages. (Not for a pass that the disk limits: its reads ahead would wait behind the
    /// drops.)
    fn drop_cached_behind(&self, range: Range<usize>) {
        let range = range.start as u64..range.end as u64;
        match &self.prefetcher {
            Some(prefetcher) => prefetcher.drop_cached(range),
            None => page_cache::drop_cached(&self.file, range),
        }
    }
}

/// Starts reading `map` from `start` for [`READ_AHEAD`] bytes (a hint: it does not wait).
fn hint_read_ahead(map: &Mmap, start: usize) {
    let len = READ_AHEAD.min(map.len().saturating_sub(start));
    if len > 0 {
        let _ = map.advise_range(Advice::WillNeed, start, len);
    }
}
