//! The algorithms on points and images, with no file in them.
//!
//! - [`points`]: what dedup and consensus share: checks, grouping by micrograph, radius searches.
//! - [`dedup`]: duplicate particles per micrograph (grid or k-d tree radius search,
//!   score-ordered greedy suppression), parallel over micrographs.
//! - [`best`]: the best selection: the heaviest set of picks with no two duplicates, per conflict component.
//! - [`consensus`]: how many distinct inputs picked near each pick (consensus picking).
//! - [`decide`]: which duplicate removal a request runs (plain, poses, tubes apart or whole).
//! - [`forced`]: rows the user forced kept or rejected (`--overrides`), decided with the others.
//! - [`filaments`]: filament tubes removed whole when they duplicate a better tube.
//! - [`images`]: the same particle image twice: the rows kept at two centres.
//! - [`joined`]: micrographs walked as one where they share a particle image.
//! - [`keys`]: rows grouped by equal keys (micrograph uids or paths), each hashed once.
//! - [`name_keys`]: micrograph file names without what the tools add (`--match-micrographs name`).
//! - [`grid`], [`kdtree`]: radius searches among dense and spread points.
//! - [`neighbours`]: each particle's distance to its nearest neighbour (for the pictures).
//! - [`histogram`]: the pictures' histograms and per-micrograph counts, one pass over the rows each.
//! - [`picture_counts`]: `--plot`'s counts made batch by batch in a one-pass scan.
//! - [`paint`]: the pictures' filled boxes and text masks painted as Pillow paints them.
//! - [`png_rows`]: the pictures halved and PNG-filtered in one pass, and their zlib stream.
//! - [`ellipsoid`]: exclusion in each particle's own frame: an ellipsoid turned by its pose.
//! - [`pose`]: orientations, point groups and the angle between two particles.
//! - [`priority`]: input priority levels (`--prefer`) and the groups each level decided.
//! - [`rank_keys`]: the keys rows are ranked by: a score's ("none" last) or a seeded random one.
//! - [`subset`]: a subset's rows matched to its original's, by key and by position one to one.
//! - [`species`]: picks of different species whose spheres overlap: the better kept.
//! - [`micrographs`]: binned micrographs' spectra and their phase correlation.

pub mod best;
pub mod consensus;
pub mod decide;
pub mod dedup;
pub mod ellipsoid;
pub mod filaments;
pub mod forced;
pub mod grid;
pub mod histogram;
pub mod images;
pub mod joined;
pub mod kdtree;
pub mod keys;
pub mod micrographs;
pub mod name_keys;
pub mod neighbours;
pub mod paint;
pub mod picture_counts;
pub mod png_rows;
pub mod points;
pub mod pose;
pub mod priority;
pub mod rank_keys;
pub mod species;
pub mod subset;
