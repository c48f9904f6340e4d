//! Particle images named by stack and index: their keys and runs (issue 39, docs/design.md
//! section 2). Shared by the scan that reads the names (io) and the rules that use them (algo).
//!
//! Joined selections (RELION JoinStar, overlapping CryoSPARC exports) can hold one particle
//! image twice; refined apart, its rows carry different origins and a distance rule may keep
//! both. An image is named by its stack and its index in the stack (RELION's `index@stack`,
//! CryoSPARC's `blob/path` and `blob/idx`) and known here by a 64-bit key: the stack's
//! FNV-1a hash mixed with the index (0 means no image). Keys of one image agree across files.
//!
//! The check must cost next to nothing when every image is distinct, as it is in almost
//! every set: rows of one stack come in runs of increasing index (Extract writes them so),
//! and a scan records each run's stack and index range as it goes. The images are distinct
//! when every run increases and no two runs of one stack overlap: a sort of the runs (one
//! or a few per micrograph), not of the rows. Only when that fails are the kept rows sorted
//! (`algo::images::kept_twice`).

/// A run of consecutive rows of one stack: its hash and the range of their indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageRun {
    pub stack: u64,
    pub first: u64,
    pub last: u64,
    /// Whether the indices strictly increase along the run.
    pub increasing: bool,
}

/// The stack and the index of a RELION image name: `000012@Extract/job012/mic.mrcs` is
/// (12, `Extract/job012/mic.mrcs`); a name without a numeric `index@` is a one-image file
/// (index 0, the name as the stack).
pub fn split_image_name(field: &[u8]) -> (u64, &[u8]) {
    let Some(at) = memchr::memchr(b'@', field) else { return (0, field) };
    let digits = &field[..at];
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return (0, field);
    }
    let index = digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    (index, &field[at + 1..])
}

/// The 64-bit FNV-1a hash of a stack's name: the same in every run, file and platform.
pub fn stack_hash(stack: &[u8]) -> u64 {
    stack.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The key of image `index` of the stack hashed `stack` (splitmix64 of their sum; never 0).
pub fn image_key(stack: u64, index: u64) -> u64 {
    let mut z = stack.wrapping_add(index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)).max(1)
}

/// Image keys of rows met in order, and their runs. Consecutive rows of one stack (the
/// rule) hash the stack once.
#[derive(Debug, Default)]
pub struct ImageKeys {
    pub keys: Vec<u64>,
    pub runs: Vec<ImageRun>,
    /// The name of the last run's stack, when it was pushed by name.
    last_stack: Option<Vec<u8>>,
}

impl ImageKeys {
    /// Adds the row whose image is `index` of the stack hashed `stack` (rows of one stack
    /// that follow each other form a run).
    pub fn push_hashed(&mut self, stack: u64, index: u64) {
        match self.runs.last_mut() {
            Some(run) if run.stack == stack => {
                run.increasing &= index > run.last;
                run.first = run.first.min(index);
                run.last = run.last.max(index);
            }
            _ => self.runs.push(ImageRun { stack, first: index, last: index, increasing: true }),
        }
        self.keys.push(image_key(stack, index));
    }

    /// Adds the row whose image is `index` of `stack`.
    pub fn push(&mut self, index: u64, stack: &[u8]) {
        let hash = match (self.runs.last(), &self.last_stack) {
            (Some(run), Some(last)) if last.as_slice() == stack => run.stack,
            _ => {
                self.last_stack = Some(stack.to_vec());
                stack_hash(stack)
            }
        };
        self.push_hashed(hash, index);
    }

    /// Adds the row whose RELION image name is `field`.
    pub fn push_name(&mut self, field: &[u8]) {
        let (index, stack) = split_image_name(field);
        self.push(index, stack);
    }

    /// Appends `other`'s rows after these.
    pub fn extend(&mut self, other: &ImageKeys) {
        self.keys.extend_from_slice(&other.keys);
        self.runs.extend_from_slice(&other.runs);
        self.last_stack = None;
    }
}

/// Whether the runs prove every image distinct: each run increasing, and no two runs of one
/// stack overlapping (sorts `runs`).
pub fn runs_distinct(runs: &mut [ImageRun]) -> bool {
    if runs.iter().any(|r| !r.increasing) {
        return false;
    }
    runs.sort_unstable_by_key(|r| (r.stack, r.first));
    runs.windows(2).all(|w| w[0].stack != w[1].stack || w[0].last < w[1].first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_split_into_index_and_stack() {
        assert_eq!(split_image_name(b"000012@Extract/job012/a.mrcs"), (12, &b"Extract/job012/a.mrcs"[..]));
        assert_eq!(split_image_name(b"12@Extract/job012/a.mrcs"), (12, &b"Extract/job012/a.mrcs"[..]));
        assert_eq!(split_image_name(b"single.mrc"), (0, &b"single.mrc"[..]));
        assert_eq!(split_image_name(b"x1@a.mrcs"), (0, &b"x1@a.mrcs"[..]));
        assert_eq!(split_image_name(b"@a.mrcs"), (0, &b"@a.mrcs"[..]));
    }

    #[test]
    fn keys_agree_for_one_image_and_differ_otherwise() {
        let mut keys = ImageKeys::default();
        for name in ["1@a.mrcs", "2@a.mrcs", "000001@a.mrcs", "1@b.mrcs"] {
            keys.push_name(name.as_bytes());
        }
        let k = &keys.keys;
        assert_eq!(k[0], k[2]);
        assert!(k[0] != k[1] && k[0] != k[3] && k[1] != k[3] && k.iter().all(|&x| x != 0));
        // a, 1..2; a again from 1 (not increasing: the run of a holds 1, 2, 1); then b
        assert_eq!(keys.runs.len(), 2);
        assert!(!keys.runs[0].increasing);
        assert!(!runs_distinct(&mut keys.runs.clone()));
    }

    #[test]
    fn runs_prove_distinct_images_or_not() {
        let run = |stack, first, last| ImageRun { stack, first, last, increasing: true };
        assert!(runs_distinct(&mut [run(1, 1, 5), run(2, 1, 5), run(1, 6, 9)]));
        assert!(!runs_distinct(&mut [run(1, 1, 5), run(2, 1, 5), run(1, 5, 9)]));
        assert!(runs_distinct(&mut []));
    }
}
