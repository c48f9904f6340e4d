//! cryodedup-core: the algorithms of cryodedup, with no Python in them.
//!
//! - [`dedup`]: duplicate particles per micrograph (grid or k-d tree radius search, score-ordered
//!   greedy suppression), parallel over micrographs.
//! - [`grid`]: a uniform grid for radius searches among spread points.
//! - [`filaments`]: filament tubes removed whole when they duplicate a better tube.
//! - [`consensus`]: how many distinct inputs picked near each pick (consensus picking).
//! - [`neighbours`]: each particle's distance to its nearest neighbour (for the pictures).
//! - [`parallel`]: large arrays filled and counting-sorted by several threads.
//! - [`pick_join`]: several pickers' picks joined into one set (micrograph ids, centres in Å).
//! - [`picks`]: picker coordinate files read and written many at a time.
//! - [`pose`]: orientations, point groups and the angle between two particles.
//! - [`particle_split`]: a big particle STAR decided and split in one pass, micrograph by micrograph.
//! - [`star`]: reading and writing the big loops of STAR files without copying them.

pub mod consensus;
pub mod dedup;
pub mod filaments;
pub mod fuzzing;
pub mod grid;
pub mod kdtree;
pub mod micrographs;
pub mod neighbours;
pub mod page_cache;
pub mod parallel;
pub mod particle_rows;
pub mod particle_split;
pub mod pick_join;
pub mod picks;
pub mod points;
pub mod pose;
pub mod star;

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
