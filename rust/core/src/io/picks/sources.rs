//! The source files a group of outputs copies rows from: read or mapped, a few held at a time.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use memmap2::Mmap;

use crate::errors::PicksError;

/// Files from this size on are memory-mapped, smaller ones read.
pub(super) const MAP_FROM_BYTES: u64 = 1 << 20;

/// Source files held while one group of outputs is written, at most [`SOURCES_HELD`] at a
/// time (least recently used dropped first). Small files are read into reused buffers;
/// large ones mapped.
#[derive(Default)]
pub(super) struct SourceCache {
    pub(super) held: Vec<(u32, Source)>,
    pub(super) spare: Vec<Vec<u8>>,
}

pub(super) enum Source {
    Read(Vec<u8>),
    Mapped(Mmap),
}

impl Source {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Source::Read(data) => data,
            Source::Mapped(map) => map,
        }
    }
}

/// Source files held at once by one writing thread.
pub(super) const SOURCES_HELD: usize = 16;

impl SourceCache {
    pub(super) fn clear(&mut self) {
        while let Some((_, source)) = self.held.pop() {
            self.recycle(source);
        }
    }

    pub(super) fn recycle(&mut self, source: Source) {
        if let Source::Read(data) = source {
            self.spare.push(data);
        }
    }

    /// The bytes of source `f` (`path`), read or mapped on first use.
    pub(super) fn get(&mut self, f: u32, path: &Path) -> Result<&[u8], PicksError> {
        if self.held.last().is_some_and(|(held, _)| *held == f) {
            // The row's file is the previous row's: the usual case, rows come file by file.
        } else if let Some(k) = self.held.iter().position(|(held, _)| *held == f) {
            let entry = self.held.remove(k);
            self.held.push(entry); // most recently used last
        } else {
            if self.held.len() == SOURCES_HELD {
                let (_, old) = self.held.remove(0);
                self.recycle(old);
            }
            let buffer = self.spare.pop().unwrap_or_default();
            let source =
                load_source(path, buffer).map_err(|error| PicksError::Io { path: path.to_path_buf(), error })?;
            self.held.push((f, source));
        }
        Ok(self.held.last().map(|(_, s)| s.bytes()).unwrap_or(&[]))
    }
}

/// `path` opened for reading if it is a regular file; a FIFO, a device or a socket is refused.
///
/// Opening a FIFO for reading waits for a writer, and reading one or a device may never end:
/// the file is opened without waiting (`O_NONBLOCK`, which regular files ignore) and its kind
/// checked on the open file, so that nothing can swap it in between. Returns its length too,
/// from the same `statx` (a second one per file was 2 system calls more per picker file than
/// before the restructure, counted with strace).
pub(super) fn open_regular(path: &Path) -> io::Result<(File, u64)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let metadata = file.metadata()?;
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok((file, metadata.len()));
    }
    Err(io::Error::new(io::ErrorKind::InvalidInput, format!("is {}, expected a regular file", kind_name(kind))))
}

/// What a file that is not a regular file is, for messages.
pub(super) fn kind_name(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// A source file's bytes: read into `buffer` (one `read` for a file that does not change),
/// or mapped from [`MAP_FROM_BYTES`] on.
pub(super) fn load_source(path: &Path, mut buffer: Vec<u8>) -> io::Result<Source> {
    let (mut file, len) = open_regular(path)?;
    if len >= MAP_FROM_BYTES {
        // SAFETY: inputs are only read; cryodedup never writes to them.
        return Ok(Source::Mapped(unsafe { Mmap::map(&file) }?));
    }
    buffer.clear();
    buffer.resize(len as usize, 0);
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break, // shortened since: the row spans below say so
            n => filled += n,
        }
    }
    buffer.truncate(filled);
    Ok(Source::Read(buffer))
}
