//! The entry points of the fuzz targets in `fuzz/` (docs/fuzzing.md). They live in the crate
//! so that an ordinary `cargo test` replays the kept corpus through the same code
//! (`rust/core/tests/fuzz_corpus.rs`). Each takes arbitrary bytes, runs a reader on them and
//! checks what the reader returns: an error is a correct answer, a panic is a bug.

use std::path::Path;

use crate::io::picks::{self, Layout, Request};
use crate::io::star;

/// The STAR block indexer, then the column scanner on every loop it finds (every column as a
/// number, the first as the key, crYOLO's `<NA>` as missing), then the row splitter.
pub fn star(data: &[u8]) {
    let _ = star::find_binary(data);
    let Ok(blocks) = star::index(data) else { return };
    for block in &blocks {
        assert!(block.span.start <= block.span.end && block.span.end <= data.len());
        let Some(table) = &block.table else { continue };
        assert!(table.rows.start <= table.rows.end && table.rows.end <= data.len());
        let columns: Vec<usize> = (0..table.labels.len()).collect();
        let key = (!table.labels.is_empty()).then_some(0);
        let Ok(scan) = star::scan_rows_with_missing(data, table, &columns, key, Some(b"<NA>")) else { continue };
        assert_eq!(scan.keys.len(), scan.spans.len());
        assert!(scan.numbers.iter().all(|column| column.len() == scan.spans.len()));
        // Spans are offsets into the whole file, inside the loop's rows.
        for &(start, end) in &scan.spans {
            let (start, end) = (start as usize, end as usize);
            assert!(table.rows.start <= start && start <= end && end <= table.rows.end, "span {start}..{end}");
            let _ = star::split_row(&data[start..end]);
        }
    }
}

/// The picker file reader: the first byte picks the layout (STAR loop, tab-separated table
/// with a header, whitespace-separated columns), the rest is the file.
pub fn picks(data: &[u8]) {
    let Some((&selector, file)) = data.split_first() else { return };
    let layout = match selector % 3 {
        0 => Layout::Star { label: "rlnCoordinateX".into() },
        1 => Layout::Tab,
        _ => Layout::Whitespace { names: vec!["x".into(), "y".into()] },
    };
    let numbers = ["rlnCoordinateX", "rlnCoordinateY", "x", "y", "score"].map(String::from).to_vec();
    let key = Some(if selector % 3 == 0 { "rlnMicrographName" } else { "image_name" }.to_string());
    let request = Request { layout, numbers, key, missing: Some(b"<NA>".to_vec()) };
    let Ok(rows) = picks::read_bytes(Path::new("fuzz"), file, &request) else { return };
    let lengths: Vec<usize> = rows.numbers.iter().map(Vec::len).collect();
    // A column the file lacks is empty; the others hold one value per row.
    let n = rows.spans.len();
    assert!(lengths.iter().all(|&len| len == n || len == 0), "columns {lengths:?}, {n} rows");
    assert!(rows.spans.iter().all(|&(start, end)| start <= end && end as usize <= file.len()));
}

/// Values a fuzzer would rarely build from raw bits but that broke the core before: spans
/// wider than a usize counts cells at a given radius, squares that overflow or underflow,
/// and the limits themselves.
const EXTREMES: [f64; 16] = [
    0.0,
    -0.0,
    1.0,
    20.0,
    1e25,
    -1e22,
    1e150,
    -1e150,
    1.0000001e150,
    3e154,
    1e300,
    f64::MAX,
    1e-150,
    1e-300,
    f64::MIN_POSITIVE,
    f64::NAN,
];

/// Reads numbers from the bytes: a tag byte picks one of [`EXTREMES`] (tag < 128) or takes
/// the next 8 bytes as the bits of an f64 (a small number when they run out).
struct Numbers<'a>(&'a [u8]);

impl Numbers<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }

    fn number(&mut self) -> f64 {
        let tag = self.byte();
        if tag < 128 {
            return if tag < 16 { EXTREMES[tag as usize] } else { f64::from(tag) - 64.0 };
        }
        if self.0.len() < 8 {
            return f64::from(tag);
        }
        let (bits, rest) = self.0.split_at(8);
        self.0 = rest;
        f64::from_le_bytes(bits.try_into().unwrap())
    }
}

/// The dedup entry points on particles made from the bytes: the first byte picks the
/// dimension and the mode (keep best, remove entirely, with masks, tubes or a pose test,
/// whole tubes), then `min_dist`, then per particle a group byte and its coordinates (and a
/// score, an input and a tube). Every entry point must return a result or an error; a result
/// is checked against brute force (a kept particle has no kept duplicate, a rejected one names
/// a kept or, removing entirely, any particle within `min_dist` of it).
pub fn dedup(data: &[u8]) {
    use crate::algo::dedup::{dedup_full, DedupParams, Levels, PriorityCounts, Ranks, RowFacts, Selection};
    use crate::algo::pose::{point_group, Convention, PoseKind, PoseTest};

    let mut bytes = Numbers(data);
    let flags = bytes.byte();
    let dim = if flags & 1 == 0 { 2 } else { 3 };
    let min_dist = bytes.number();
    let (mut groups, mut coords, mut scores, mut inputs, mut tubes) = (vec![], vec![], vec![], vec![], vec![]);
    while !bytes.0.is_empty() && groups.len() < 64 {
        groups.push(i64::from(bytes.byte() % 4));
        coords.extend((0..dim).map(|_| bytes.number()));
        scores.push(bytes.number());
        inputs.push(u32::from(bytes.byte() % 66)); // 64 and 65: out of range
        tubes.push(u32::from(bytes.byte() % 3));
    }
    let params = DedupParams {
        min_dist,
        higher_is_better: flags & 2 == 0,
        remove_entirely: flags & 4 != 0,
        seed: u64::from(flags),
        want_suppressed_by: true,
        selection: match data.len() % 3 {
            1 => Selection::BestScore,
            2 => Selection::MostParticles,
            _ => Selection::Greedy,
        },
    };
    let scores = (flags & 8 != 0).then_some(&scores[..]);
    let inputs_used = (flags & 16 != 0).then_some(&inputs[..]);
    let tubes_used = (flags & 32 != 0).then_some(&tubes[..]);
    let poses: Vec<f64> = coords.iter().cycle().take(3 * groups.len()).copied().collect();
    let pose =
        PoseTest::new(&poses, PoseKind::RelionEulerDegrees, point_group("C2", Convention::Relion).unwrap(), 30.0);
    let pose = (flags & 64 != 0).then_some(&pose);
    let _ = crate::algo::neighbours::nearest_distances(&groups, &coords, dim, 5.0 * min_dist);
    let _ = crate::algo::consensus::support_masks(&groups, &coords, dim, &inputs, min_dist);
    if flags & 128 != 0 {
        let _ = crate::algo::filaments::dedup_whole_tubes(
            &groups,
            &coords,
            dim,
            scores,
            &tubes,
            Some(Levels::Rows(&tubes)),
            &params,
        );
        return;
    }
    // The tube bytes double as priority levels: the checks below hold whatever the ranking.
    let rows = RowFacts { priorities: Some(Levels::Rows(&tubes)), images: None, shapes: None };
    let Ok((result, _)) = dedup_full(&groups, &coords, dim, scores, inputs_used, tubes_used, pose, rows, &params)
    else {
        return;
    };
    let n = groups.len();
    assert_eq!((result.keep.len(), result.suppressed_by.len()), (n, n));
    // The groups each level decided, counted in the walk, are those of its pairs.
    let ranks = Ranks { scores, higher_is_better: params.higher_is_better };
    let counted = (!params.remove_entirely && params.selection == Selection::Greedy)
        .then(|| PriorityCounts::from_pairs(&result.suppressed_by, &Levels::Rows(&tubes), &ranks));
    assert_eq!(result.priority, counted);
    let within = |a: usize, b: usize| {
        let (p, q) = (&coords[a * dim..(a + 1) * dim], &coords[b * dim..(b + 1) * dim]);
        let d2: f64 = p.iter().zip(q).map(|(x, y)| (x - y).powi(2)).sum();
        assert!(d2.is_finite(), "particles {a} and {b}: squared distance {d2}");
        // Within min_dist, never less than SAME_CENTRE (min_dist 0: the same centre).
        groups[a] == groups[b] && d2 <= crate::algo::dedup::search_radius(min_dist).powi(2)
    };
    for i in 0..n {
        let by = result.suppressed_by[i];
        if result.keep[i] {
            assert_eq!(by, -1);
            continue;
        }
        assert!((0..n as i64).contains(&by) && by as usize != i, "particle {i} suppressed by {by}");
        assert!(within(i, by as usize), "particle {i} suppressed by {by}, not within {min_dist}");
        assert!(params.remove_entirely || result.keep[by as usize], "particle {i} suppressed by a rejected {by}");
    }
    if params.remove_entirely || tubes_used.is_some() || pose.is_some() {
        return;
    }
    for i in (0..n).filter(|&i| result.keep[i]) {
        for j in (i + 1..n).filter(|&j| result.keep[j]) {
            assert!(!within(i, j), "kept particles {i} and {j} are within {min_dist}");
        }
    }
}
