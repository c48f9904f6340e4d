//! Bit masks of a block of row lines (64 bytes a word): where text is, where lines end and
//! where fields start, made in one SIMD pass. A row is then walked a word at a time: its
//! fields counted with popcount, only the requested ones located (the k-th set bit).

/// The masks of one block of lines; bit i of word w stands for byte 64 w + i of the block.
/// One word more than the block needs, all zero: a field that ends with the block ends
/// there.
#[derive(Default)]
pub(super) struct BlockMasks {
    /// Bytes above white space (> b' ').
    text: Vec<u64>,
    /// Line feeds.
    newline: Vec<u64>,
    /// The first byte of each field: text after white space (or at the block's start).
    starts: Vec<u64>,
}

/// One line of a block as [`BlockMasks::walk`] found it.
pub(super) struct LineWalk {
    /// The line feed's offset in the block; None if the block ends first.
    pub newline: Option<usize>,
    /// Fields on the line.
    pub count: usize,
    /// The offset of its first field (meaningless when `count` is 0).
    pub first: usize,
}

impl BlockMasks {
    /// Makes the masks of `block`, which starts at a line's start; whether it holds a quote
    /// (`"` or `'`: its lines are then for the quote-aware tokenizer, not for the masks).
    pub(super) fn fill(&mut self, block: &[u8]) -> bool {
        let words = block.len().div_ceil(64);
        for mask in [&mut self.text, &mut self.newline, &mut self.starts] {
            // Every word is written below: no need to clear the old ones.
            mask.resize(words + 1, 0);
            mask[words] = 0;
        }
        let full = block.len() / 64;
        let mut quoted = fill_chunks(&block[..full * 64], &mut self.text[..full], &mut self.newline[..full]);
        if full < words {
            // The last bytes, padded with spaces: no text, no line end, no quote.
            let mut tail = [b' '; 64];
            tail[..block.len() - full * 64].copy_from_slice(&block[full * 64..]);
            quoted |= fill_chunks(&tail, &mut self.text[full..words], &mut self.newline[full..words]);
        }
        let mut carry = 0; // the byte before the block ends a line: white space
        for (start, &text) in self.starts.iter_mut().zip(&self.text) {
            *start = text & !((text << 1) | carry);
            carry = text >> 63;
        }
        quoted
    }

    /// Walks the line starting at offset `from`: counts its fields and puts the offsets
    /// (start and end) of the fields `picks` wants in its `found`, in the same order.
    /// Fields past the line's count are not found (`found` keeps what it held).
    /// `select` finds the k-th start of a word.
    #[inline(always)]
    pub(super) fn walk(&self, from: usize, picks: &mut Picks, select: impl BitSelect) -> LineWalk {
        let (newline, starts) = (self.newline.as_slice(), self.starts.as_slice());
        let last = newline.len() - 1; // the last word pads
        let mut word = from / 64;
        let mut after = !0u64 << (from % 64);
        let (mut count, mut next) = (0usize, 0usize);
        let mut want = picks.wanted[0];
        while word < last {
            // SAFETY: word < last < newline.len() == starts.len() (fill sizes the masks alike).
            let (newline_bits, start_bits) = unsafe { (*newline.get_unchecked(word), *starts.get_unchecked(word)) };
            let newline_bits = newline_bits & after;
            // The bits up to the line feed, if this word holds it (all of them if not).
            let to_line_feed = newline_bits ^ newline_bits.wrapping_sub(1);
            let row_starts = start_bits & after & to_line_feed;
            let here = row_starts.count_ones() as usize;
            while want < count + here {
                let start = word * 64 + select.nth_bit(row_starts, want - count);
                let end = self.field_end(start);
                debug_assert!(next + 1 < picks.wanted.len() && picks.found.len() == picks.wanted.len());
                // SAFETY: `want` is below the sentinel usize::MAX that ends `wanted` (Picks::new),
                // so `next` is not its last place: next + 1 < wanted.len() == found.len().
                unsafe {
                    *picks.found.get_unchecked_mut(next) = (start, end);
                    next += 1;
                    want = *picks.wanted.get_unchecked(next);
                }
            }
            count += here;
            if newline_bits != 0 {
                let newline = Some(word * 64 + newline_bits.trailing_zeros() as usize);
                return LineWalk { newline, count, first: self.first_field(from) };
            }
            after = !0;
            word += 1;
        }
        LineWalk { newline: None, count, first: self.first_field(from) }
    }

    /// The offset of the first field at or after `from` (the block's end if none).
    #[inline(always)]
    fn first_field(&self, from: usize) -> usize {
        let mut word = from / 64;
        let mut starts = self.starts[word] & (!0u64 << (from % 64));
        while starts == 0 && word + 1 < self.starts.len() {
            word += 1;
            starts = self.starts[word];
        }
        word * 64 + starts.trailing_zeros() as usize
    }

    /// The end of the field starting at offset `start`: the next byte that is not text.
    #[inline(always)]
    fn field_end(&self, start: usize) -> usize {
        let text = self.text.as_slice();
        let mut word = start / 64 + 1;
        debug_assert!(word < text.len() && text[text.len() - 1] == 0);
        // SAFETY: a field starts at a text byte of the block: word <= text.len() - 1 (the
        // last word pads). That word is all white space: the loop below stops there at the
        // latest, never past it.
        // The 64 bytes from the start, across two words: a field shorter ends in them.
        let pair = unsafe { u128::from(*text.get_unchecked(word - 1)) | u128::from(*text.get_unchecked(word)) << 64 };
        let space = !((pair >> (start % 64)) as u64);
        if space != 0 {
            return start + space.trailing_zeros() as usize;
        }
        // A longer field (a name): on from the byte start + 64, in `word`.
        // SAFETY: word <= text.len() - 1 (above).
        let mut space = unsafe { !*text.get_unchecked(word) } & (!0u64 << (start % 64));
        while space == 0 {
            word += 1;
            // SAFETY: as above (the word before was not the last).
            space = unsafe { !*text.get_unchecked(word) };
        }
        word * 64 + space.trailing_zeros() as usize
    }
}

/// The fields a walk locates and where it found them: the fields' numbers, ascending, then
/// usize::MAX (the walk's sentinel: no line has that many fields), and as many spans.
pub(super) struct Picks {
    wanted: Vec<usize>,
    found: Vec<(usize, usize)>,
}

impl Picks {
    /// Picks of the fields `fields` (ascending).
    pub(super) fn new(fields: impl IntoIterator<Item = usize>) -> Self {
        let wanted: Vec<usize> = fields.into_iter().chain([usize::MAX]).collect();
        assert!(wanted.windows(2).all(|w| w[0] < w[1]), "fields picked in ascending order");
        Picks { found: vec![(0, 0); wanted.len()], wanted }
    }

    /// The fields' numbers, ascending.
    pub(super) fn fields(&self) -> &[usize] {
        &self.wanted[..self.wanted.len() - 1]
    }

    /// Where each field was found (start and end) in the last line walked.
    pub(super) fn found(&self) -> &[(usize, usize)] {
        &self.found[..self.found.len() - 1]
    }

    /// Records that the `i`-th field picked spans `span`.
    pub(super) fn set(&mut self, i: usize, span: (usize, usize)) {
        self.found[i] = span;
    }
}

/// How a walk finds the `k`-th (from 0) set bit of a word that has more than `k`.
pub(super) trait BitSelect: Copy {
    fn nth_bit(self, bits: u64, k: usize) -> usize;
}

/// The lowest set bit cleared `k` times: any CPU.
#[derive(Clone, Copy)]
pub(super) struct ClearLowest;

impl BitSelect for ClearLowest {
    #[inline(always)]
    fn nth_bit(self, mut bits: u64, mut k: usize) -> usize {
        while k > 0 {
            bits &= bits - 1;
            k -= 1;
        }
        bits.trailing_zeros() as usize
    }
}

/// BMI2's parallel bit deposit: the bit `1 << k` moved to the k-th set bit, one instruction
/// (the loop of [`ClearLowest`] took about 12 a field). Only made where the CPU has BMI2 and
/// runs it in hardware ([`Pdep::detect`]).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(super) struct Pdep(());

#[cfg(target_arch = "x86_64")]
impl Pdep {
    pub(super) fn detect() -> Option<Pdep> {
        static FAST: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let fast = *FAST.get_or_init(|| std::arch::is_x86_feature_detected!("bmi2") && !pdep_is_microcoded());
        fast.then_some(Pdep(()))
    }
}

#[cfg(target_arch = "x86_64")]
impl BitSelect for Pdep {
    #[inline(always)]
    fn nth_bit(self, bits: u64, k: usize) -> usize {
        // SAFETY: a Pdep exists only where the CPU has BMI2.
        unsafe { deposit(1 << k, bits) }.trailing_zeros() as usize
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
#[inline]
unsafe fn deposit(bits: u64, mask: u64) -> u64 {
    std::arch::x86_64::_pdep_u64(bits, mask)
}

/// Whether the CPU runs PDEP in microcode, tens to hundreds of cycles (AMD before Zen 3,
/// and Hygon's Zen): slower there than clearing bits one at a time.
#[cfg(target_arch = "x86_64")]
fn pdep_is_microcoded() -> bool {
    use std::arch::x86_64::__cpuid;
    // SAFETY: every x86_64 CPU has CPUID with leaves 0 and 1. (An unsafe function before
    // Rust 1.87, the crate's minimum being 1.85.)
    #[allow(unused_unsafe)]
    let (vendor, signature) = unsafe { (__cpuid(0), __cpuid(1)) };
    let name: Vec<u8> = [vendor.ebx, vendor.edx, vendor.ecx].iter().flat_map(|r| r.to_le_bytes()).collect();
    let base = (signature.eax >> 8) & 0xf;
    let family = if base == 0xf { base + ((signature.eax >> 20) & 0xff) } else { base };
    (name == b"AuthenticAMD" || name == b"HygonGenuine") && family < 0x19
}

fn is_quote(b: u8) -> bool {
    b == b'"' || b == b'\''
}

/// The text and line-feed masks of `bytes`, 64 bytes a word (its length a multiple of 64),
/// and whether they hold a quote: found in the same pass, a piece without quotes (nearly
/// every one) is read once, not once more to look for them.
fn fill_chunks(bytes: &[u8], text: &mut [u64], newline: &mut [u64]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        #[cfg(cryodedup_avx512)]
        if std::arch::is_x86_feature_detected!("avx512bw") {
            // SAFETY: the CPU has AVX-512BW (checked just above).
            return unsafe { fill_chunks_avx512(bytes, text, newline) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { fill_chunks_avx2(bytes, text, newline) };
        }
    }
    fill_chunks_sse2(bytes, text, newline)
}

/// [`fill_chunks`] 16 bytes at a time (x86_64's baseline; elsewhere a byte at a time).
fn fill_chunks_sse2(bytes: &[u8], text: &mut [u64], newline: &mut [u64]) -> bool {
    for ((chunk, text), newline) in bytes.chunks_exact(64).zip(text).zip(newline) {
        (*text, *newline) = chunk_masks(chunk.try_into().unwrap());
    }
    bytes.iter().any(|&b| is_quote(b))
}

/// [`fill_chunks`] with 64-byte compares, each giving a word of a mask at once: a third of
/// the instructions of the 32-byte compares, which are merged into words (measured on the
/// 1M STAR's scan alone: 0.164 s -> 0.150 s of CPU). Built by Rust 1.89 or later only
/// (build.rs): the crate's minimum, 1.85, builds the AVX2 path alone.
#[cfg(all(target_arch = "x86_64", cryodedup_avx512))]
#[allow(clippy::incompatible_msrv)] // (compiled only where the compiler has them: see above)
#[target_feature(enable = "avx512bw")]
unsafe fn fill_chunks_avx512(bytes: &[u8], text: &mut [u64], newline: &mut [u64]) -> bool {
    use std::arch::x86_64::*;
    let space = _mm512_set1_epi8(b' ' as i8);
    let line_feed = _mm512_set1_epi8(b'\n' as i8);
    let (double, single) = (_mm512_set1_epi8(b'"' as i8), _mm512_set1_epi8(b'\'' as i8));
    let mut quotes = 0u64;
    let words = text.len().min(newline.len()).min(bytes.len() / 64);
    for w in 0..words {
        // SAFETY: an unaligned 64-byte load of the w-th 64-byte chunk (w < words).
        let v = unsafe { _mm512_loadu_si512(bytes.as_ptr().add(64 * w) as *const _) };
        text[w] = _mm512_cmpgt_epu8_mask(v, space);
        newline[w] = _mm512_cmpeq_epi8_mask(v, line_feed);
        quotes |= _mm512_cmpeq_epi8_mask(v, double) | _mm512_cmpeq_epi8_mask(v, single);
    }
    quotes != 0
}

/// [`fill_chunks`] with 32-byte compares.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill_chunks_avx2(bytes: &[u8], text: &mut [u64], newline: &mut [u64]) -> bool {
    use std::arch::x86_64::*;
    let above_space = _mm256_set1_epi8(0x21);
    let line_feed = _mm256_set1_epi8(b'\n' as i8);
    let (double, single) = (_mm256_set1_epi8(b'"' as i8), _mm256_set1_epi8(b'\'' as i8));
    let mut quotes = _mm256_setzero_si256();
    let words = text.len().min(newline.len()).min(bytes.len() / 64);
    for w in 0..words {
        // SAFETY: two unaligned 32-byte loads inside the w-th 64-byte chunk (w < words).
        let (low, high) = unsafe {
            let p = bytes.as_ptr().add(64 * w) as *const __m256i;
            (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)))
        };
        // Unsigned b >= 0x21, as max(b, 0x21) == b.
        let is_text = |v| _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_max_epu8(v, above_space), v)) as u32 as u64;
        let is_line_feed = |v| _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, line_feed)) as u32 as u64;
        text[w] = is_text(low) | is_text(high) << 32;
        newline[w] = is_line_feed(low) | is_line_feed(high) << 32;
        let is_quote = |v| _mm256_or_si256(_mm256_cmpeq_epi8(v, double), _mm256_cmpeq_epi8(v, single));
        quotes = _mm256_or_si256(quotes, _mm256_or_si256(is_quote(low), is_quote(high)));
    }
    _mm256_movemask_epi8(quotes) != 0
}

/// The text and line-feed masks of one 64-byte chunk, 16 bytes at a time.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(super) fn chunk_masks(chunk: &[u8; 64]) -> (u64, u64) {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline; loads are unaligned and in bounds.
    unsafe {
        let above_space = _mm_set1_epi8(0x21);
        let line_feed = _mm_set1_epi8(b'\n' as i8);
        let (mut text, mut newline) = (0u64, 0u64);
        for j in 0..4 {
            let v = _mm_loadu_si128(chunk.as_ptr().add(16 * j) as *const __m128i);
            let is_text = _mm_cmpeq_epi8(_mm_max_epu8(v, above_space), v);
            text |= (_mm_movemask_epi8(is_text) as u32 as u64) << (16 * j);
            newline |= (_mm_movemask_epi8(_mm_cmpeq_epi8(v, line_feed)) as u32 as u64) << (16 * j);
        }
        (text, newline)
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(super) fn chunk_masks(chunk: &[u8; 64]) -> (u64, u64) {
    chunk
        .iter()
        .enumerate()
        .fold((0u64, 0u64), |(t, n), (i, &b)| (t | (u64::from(b > b' ') << i), n | (u64::from(b == b'\n') << i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way of filling masks this CPU has, by name.
    type Fill = fn(&[u8], &mut [u64], &mut [u64]) -> bool;
    fn fills() -> Vec<(&'static str, Fill)> {
        let mut fills: Vec<(&str, Fill)> = vec![("sse2", fill_chunks_sse2)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                fills.push(("avx2", |b, t, n| unsafe { fill_chunks_avx2(b, t, n) }));
            }
            #[cfg(cryodedup_avx512)]
            if std::arch::is_x86_feature_detected!("avx512bw") {
                // SAFETY: the CPU has AVX-512BW.
                fills.push(("avx512", |b, t, n| unsafe { fill_chunks_avx512(b, t, n) }));
            }
        }
        fills
    }

    #[test]
    fn every_fill_gives_the_masks_of_the_bytes_one_by_one() {
        // Oracle: each byte compared on its own. Bytes of every kind, quotes rare or none.
        let mut next = crate::test_random(0xbb67_ae85_84ca_a73b);
        for round in 0..300 {
            let words = 1 + next(9) as usize;
            let bytes: Vec<u8> = (0..64 * words)
                .map(|_| match next(8) {
                    0 => next(256) as u8,
                    1 if round % 3 == 0 => b"\"'"[next(2) as usize],
                    1 => b'x',
                    2 => b" \t\r\n"[next(4) as usize],
                    _ => [0x20, 0x21, 0x0a, 0x09, 0x7f, 0x80, 0xff, b'1'][next(8) as usize],
                })
                .collect();
            let bit = |i: usize, b: bool| u64::from(b) << (i % 64);
            let mut want = (vec![0u64; words], vec![0u64; words]);
            for (i, &b) in bytes.iter().enumerate() {
                want.0[i / 64] |= bit(i, b > b' ');
                want.1[i / 64] |= bit(i, b == b'\n');
            }
            let quoted = bytes.iter().any(|&b| b == b'"' || b == b'\'');
            for (name, fill) in fills() {
                let (mut text, mut newline) = (vec![0u64; words], vec![0u64; words]);
                assert_eq!(fill(&bytes, &mut text, &mut newline), quoted, "{name}, round {round}");
                assert_eq!((text, newline), want, "{name}, round {round}");
            }
        }
    }
}
