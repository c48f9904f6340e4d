//! Files in and out: STAR files indexed, scanned and written without copying, picker files
//! read and written many at a time, and how big files meet the page cache.
//!
//! - [`star`]: the STAR syntax (index, fields, numbers, scans, writers).
//! - [`particle_rows`]: a particle loop scanned for the particle job (centres in Å, scores,
//!   micrograph ids), one window at a time.
//! - [`picks`]: picker coordinate files read and written many at a time.
//! - [`pick_join`]: several pickers' picks joined into one set (micrograph ids, centres in Å).
//! - [`page_picks`]: the files of picks of the page of every micrograph (`--plot`);
//!   [`page_batches`]: the same files made by a one-pass scan as it decides.
//! - [`decisions_csv`]: the record of every rejection of a STAR file split in one pass;
//!   [`decisions_table`]: the same record of a job decided in two passes (several inputs).
//! - [`pairs_csv`]: the rows of the micrograph job's pairs.csv, as Python's `csv` writes them.
//! - [`xml_texts`]: the texts of a few elements of a small XML document (EPU's per-image files).
//! - [`mapped`]: a big input mapped for streaming passes, and what each pass releases and reads ahead.
//! - [`page_cache`]: how big inputs and outputs meet the kernel's page cache.

pub mod cs_location;
pub mod decisions_csv;
pub mod decisions_table;
pub mod mapped;
pub mod page_batches;
pub mod page_cache;
pub mod page_index;
pub mod page_picks;
pub mod pairs_csv;
pub mod particle_rows;
pub mod pick_join;
pub mod picks;
pub mod star;
pub mod xml_texts;
