//! The keys that rank the rows of a group of duplicates: a score's (best first, "none" last)
//! and a seeded random one. Kept apart from the walk (dedup/) because the priority counts
//! (priority.rs), the tubes (filaments.rs) and the species (species.rs) rank by them too.

/// A reproducible pseudo-random 64-bit key (splitmix64 finaliser).
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random rank key of particle `index` under `seed`; ties (never in practice) by index.
pub fn random_key(seed: u64, index: u64) -> u64 {
    mix(seed ^ mix(index))
}

/// A sort key that orders scores best first; a score that is not finite (NaN, ±inf) means
/// "none" and ranks last, below every real score (ties are broken by the caller).
pub fn score_key(score: f64, higher_is_better: bool) -> u64 {
    if !score.is_finite() {
        return u64::MAX;
    }
    let bits = (score + 0.0).to_bits(); // -0.0 ranks with 0.0
                                        // Map the float order onto the unsigned integer order.
    let ascending = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
    if higher_is_better {
        !ascending
    } else {
        ascending
    }
}
