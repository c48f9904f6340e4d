//! Page-cache hints for files bigger than memory (docs/design.md section 5).
//!
//! The particle job reads its input twice: once to decide, once to copy the rows. When the
//! input is bigger than memory, the second pass would find none of it cached: each page it
//! reads, and each output page it writes, pushes out an input page it has not reached yet.
//! Dropping what a pass has finished with (input behind the cursor, outputs once on the
//! disk) leaves the cache to the input still ahead. On other systems than Linux the hints
//! do nothing.

use std::fs::File;
use std::io::{self, Write};
use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex};

/// Bytes written between two hand-overs of an output to the disk.
const CHUNK: u64 = 1 << 26;

/// Whether a file of `len` bytes is more than half of the machine's memory: then it cannot
/// stay cached from one pass to the next, and its passes drop what they leave behind.
pub fn bigger_than_cache(len: u64) -> bool {
    physical_memory().is_some_and(|memory| len > memory / 2)
}

/// How much of the start of a file its reading pass leaves in the cache: all of a file that
/// fits in half of memory, else half of memory (the writing pass starts there and finds it
/// without the disk). The rest is dropped behind the reading pass: the pages it frees are
/// the cache the pass needs next, so the kernel never has to look for pages to reclaim.
/// Cached pages are no commitment: the kernel takes them back before the job's arrays would
/// lack memory.
pub fn head_kept(len: u64) -> u64 {
    physical_memory().map_or(len, |memory| (memory / 2).min(len))
}

/// Whether writing `len` bytes would pass the kernel's limit of dirty pages
/// (`vm.dirty_ratio` percent of memory, 20 by default): beyond it the kernel stalls the
/// writer, and writing behind (each chunk handed to the disk as soon as written) is faster.
pub fn bigger_than_dirty_limit(len: u64) -> bool {
    let ratio = std::fs::read_to_string("/proc/sys/vm/dirty_ratio")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .filter(|&r| r > 0)
        .unwrap_or(20);
    physical_memory().is_some_and(|memory| len > memory / 100 * ratio)
}

#[cfg(target_os = "linux")]
fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let (pages, size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    (pages > 0 && size > 0).then(|| pages as u64 * size as u64)
}

#[cfg(not(target_os = "linux"))]
fn physical_memory() -> Option<u64> {
    None
}

/// Drops the cached pages of `range` of `file` (clean pages only; a hint).
#[cfg(target_os = "linux")]
pub fn drop_cached(file: &File, range: Range<u64>) {
    use std::os::fd::AsRawFd;
    if range.is_empty() {
        return; // (a length of 0 would mean "to the end of the file")
    }
    // SAFETY: an advice on a valid descriptor; it changes no memory of this process.
    unsafe {
        libc::posix_fadvise(
            file.as_raw_fd(),
            range.start as i64,
            (range.end - range.start) as i64,
            libc::POSIX_FADV_DONTNEED,
        );
    }
}

#[cfg(not(target_os = "linux"))]
pub fn drop_cached(_: &File, _: Range<u64>) {}

/// An output written from its current end onwards that, when `behind` is set, hands each
/// [`CHUNK`] to the disk as soon as it is written and drops the chunk before it from the
/// cache once it is on the disk: the writer then goes at the disk's pace, instead of
/// filling memory with dirty pages and stalling when the kernel's limit is reached.
pub struct WriteBehind {
    file: File,
    behind: bool,
    /// Offsets: written up to `end`; handed to the disk up to `handed`; dropped up to `dropped`.
    end: u64,
    handed: u64,
    dropped: u64,
}

impl WriteBehind {
    pub fn new(file: File, behind: bool) -> io::Result<Self> {
        let end = file.metadata()?.len();
        Ok(WriteBehind { file, behind, end, handed: end, dropped: end })
    }

    #[cfg(target_os = "linux")]
    fn hand_over(&mut self) {
        use std::os::fd::AsRawFd;
        let fd = self.file.as_raw_fd();
        let wait = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        // SAFETY: hints on a valid descriptor; errors only leave the pages to the kernel.
        unsafe {
            libc::sync_file_range(fd, self.handed as i64, (self.end - self.handed) as i64, libc::SYNC_FILE_RANGE_WRITE);
            if self.handed > self.dropped {
                let (start, len) = (self.dropped as i64, (self.handed - self.dropped) as i64);
                libc::sync_file_range(fd, start, len, wait);
            }
        }
        drop_cached(&self.file, self.dropped..self.handed);
        (self.dropped, self.handed) = (self.handed, self.end);
    }

    #[cfg(not(target_os = "linux"))]
    fn hand_over(&mut self) {}
}

impl Write for WriteBehind {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.end += n as u64;
        if self.behind && self.end - self.handed >= CHUNK {
            self.hand_over();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Reads a file into the page cache ahead of a pass, on a thread of its own, so that the
/// disk always has reads to do while the pass parses what is already read: a cold file
/// then streams at the disk's rate, not at the rate of a reader that waits for each page
/// it touches (measured here: 0.41 GB/s in the job's pass, 0.9 GB/s for one reading
/// thread alone).
pub struct Prefetcher {
    shared: Arc<Prefetch>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Prefetch {
    wanted: Mutex<Wanted>,
    wake: Condvar,
}

#[derive(Default)]
struct Wanted {
    /// The pass is at `from` and wants the file read up to `until`.
    from: u64,
    until: u64,
    /// Bytes to drop from the cache (behind the pass), dropped before reading more.
    drop: Range<u64>,
    /// Ends the thread.
    done: bool,
}

/// Bytes read into the cache per call of the prefetching thread.
const PREFETCH_CHUNK: u64 = 1 << 23;

impl Prefetcher {
    /// A prefetcher of `file` (its own handle is kept, so `file` may be closed).
    pub fn new(file: &File) -> io::Result<Prefetcher> {
        let file = file.try_clone()?;
        let shared = Arc::new(Prefetch { wanted: Mutex::new(Wanted::default()), wake: Condvar::new() });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("cryodedup-prefetch".into()).spawn(move || worker.run(&file))?;
        Ok(Prefetcher { shared, thread: Some(thread) })
    }

    /// A pass is at `from` and will read up to `until`: have that read into the cache.
    pub fn want(&self, from: u64, until: u64) {
        let mut wanted = self.shared.wanted.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (wanted.from, wanted.until) = (from, until);
        self.shared.wake.notify_one();
    }

    /// Has `range` dropped from the page cache ([`drop_cached`]) on the prefetching thread,
    /// so that the pass does not wait while the kernel frees the pages.
    pub fn drop_cached(&self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        let mut wanted = self.shared.wanted.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let pending = &mut wanted.drop;
        *pending = if pending.is_empty() { range } else { pending.start.min(range.start)..pending.end.max(range.end) };
        self.shared.wake.notify_one();
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.shared.wanted.lock().unwrap_or_else(std::sync::PoisonError::into_inner).done = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the prefetching thread does next.
enum Job {
    Drop(Range<u64>),
    Read(Range<u64>),
}

impl Prefetch {
    fn run(&self, file: &File) {
        let (mut cursor, mut pass_at) = (0u64, 0u64);
        loop {
            let job = {
                let mut wanted = self.wanted.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                loop {
                    if wanted.done {
                        // Pages asked to be dropped are dropped even so: the pass is over.
                        let rest = std::mem::take(&mut wanted.drop);
                        drop(wanted);
                        drop_cached(file, rest);
                        return;
                    }
                    if !wanted.drop.is_empty() {
                        break Job::Drop(std::mem::take(&mut wanted.drop));
                    }
                    let (from, until) = (wanted.from, wanted.until);
                    if from < pass_at {
                        cursor = from; // a new pass from the start of the file: follow it
                    }
                    pass_at = from;
                    cursor = cursor.max(from);
                    if cursor < until {
                        break Job::Read(cursor..until.min(cursor + PREFETCH_CHUNK));
                    }
                    wanted = self.wake.wait(wanted).unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            match job {
                Job::Drop(range) => drop_cached(file, range),
                Job::Read(range) => {
                    read_into_cache(file, range.clone());
                    cursor = range.end;
                }
            }
        }
    }
}

/// Reads `range` of `file` into the page cache, waiting until it is read.
#[cfg(target_os = "linux")]
fn read_into_cache(file: &File, range: Range<u64>) {
    use std::os::fd::AsRawFd;
    // SAFETY: readahead only fills the page cache from a valid descriptor.
    unsafe {
        libc::readahead(file.as_raw_fd(), range.start as i64, (range.end - range.start) as usize);
    }
}

#[cfg(not(target_os = "linux"))]
fn read_into_cache(_: &File, _: Range<u64>) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn written_behind_or_not_the_file_holds_every_byte() {
        for behind in [false, true] {
            let path = std::env::temp_dir().join(format!("cryodedup-write-behind-{}-{behind}", std::process::id()));
            std::fs::write(&path, b"head\n").unwrap();
            let file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
            let mut out = WriteBehind::new(file, behind).unwrap();
            let block: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
            for _ in 0..150 {
                out.write_all(&block).unwrap(); // 150 MB: more than two chunks
            }
            out.flush().unwrap();
            let mut back = Vec::new();
            File::open(&path).unwrap().read_to_end(&mut back).unwrap();
            std::fs::remove_file(&path).unwrap();
            assert_eq!(&back[..5], b"head\n");
            assert_eq!(back.len(), 5 + 150 * block.len());
            assert!(back[5..].chunks(block.len()).all(|c| c == block.as_slice()));
        }
    }

    #[test]
    fn a_prefetcher_follows_passes_and_ends_with_its_owner() {
        let path = std::env::temp_dir().join(format!("cryodedup-prefetch-{}", std::process::id()));
        std::fs::write(&path, vec![7u8; 3 << 20]).unwrap();
        let file = File::open(&path).unwrap();
        let prefetcher = Prefetcher::new(&file).unwrap();
        prefetcher.want(0, 2 << 20);
        prefetcher.want(1 << 20, 3 << 20);
        prefetcher.want(0, 1 << 20); // a second pass
        drop(prefetcher); // joins the thread
        std::fs::remove_file(&path).unwrap();
    }

    /// Which pages of `file` (of `len` bytes) are in the page cache.
    #[cfg(target_os = "linux")]
    fn resident(file: &File, len: usize) -> Vec<bool> {
        // SAFETY: the test's file is not changed while mapped.
        let map = unsafe { memmap2::Mmap::map(file) }.unwrap();
        let page = 4096;
        let mut flags = vec![0u8; len.div_ceil(page)];
        // SAFETY: the map is `len` bytes long and `flags` holds one byte per page of it.
        let rc = unsafe { libc::mincore(map.as_ptr() as *mut libc::c_void, len, flags.as_mut_ptr()) };
        assert_eq!(rc, 0);
        flags.iter().map(|f| f & 1 == 1).collect()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_prefetcher_drops_what_it_is_asked_to_and_nothing_else() {
        let path = std::env::temp_dir().join(format!("cryodedup-prefetch-drop-{}", std::process::id()));
        std::fs::write(&path, vec![7u8; 4096 << 12]).unwrap();
        let file = File::open(&path).unwrap();
        file.sync_all().unwrap(); // clean pages: the kernel drops only those
        let mut bytes = Vec::new();
        (&file).read_to_end(&mut bytes).unwrap();
        drop_cached(&file, 0..0); // nothing (not "to the end of the file")
        assert!(resident(&file, bytes.len()).iter().all(|&r| r));
        let prefetcher = Prefetcher::new(&file).unwrap();
        prefetcher.drop_cached(1024 << 12..2048 << 12);
        prefetcher.drop_cached(2048 << 12..3072 << 12); // joined to the pending range
        prefetcher.drop_cached(3500 << 12..3500 << 12); // empty: nothing (not "to the end of the file")
        drop(prefetcher); // drops what is pending, then joins
        let pages = resident(&file, bytes.len());
        // (Pages still in a CPU's batch of new pages are not dropped: a few at most.)
        let dropped = pages[1024..3072].iter().filter(|&&r| !r).count();
        assert!(dropped > 2000, "{dropped} of 2048 dropped");
        assert!(pages[..1024].iter().chain(&pages[3072..]).all(|&r| r));
        std::fs::remove_file(&path).unwrap();
    }
}
