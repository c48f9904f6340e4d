//! cryodedup-core: the algorithms of cryodedup, with no Python in them.
//!
//! Two layers and what they share, no arrow between the layers:
//!
//! - [`io`]: files in and out (STAR, picker files, the page cache).
//! - [`algo`]: the algorithms on points and images (dedup, consensus, filaments, poses,
//!   spectra), with no file in them.
//! - [`errors`], [`parallel`] and [`images`] (particle images' indices, runs and keys): shared by both.
//! - [`particle_split`]: the one place where they meet: a big particle STAR decided and split
//!   in one pass, micrograph by micrograph.
//! - [`star_file`]: a STAR file mapped and indexed, and the passes a job makes over it.
//! - [`fuzzing`]: the entry points of the fuzz targets.

pub mod algo;
pub mod errors;
pub mod fuzzing;
pub mod images;
pub mod io;
pub mod parallel;
pub mod particle_split;
pub mod star_file;

/// A reproducible pseudo-random sequence for tests (xorshift64): each call `next(m)` gives a
/// number below `m`.
#[cfg(test)]
pub(crate) fn test_random(mut state: u64) -> impl FnMut(u64) -> u64 {
    move |m| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % m
    }
}
