//! The entry points of the fuzz targets in `fuzz/` (docs/fuzzing.md). They live in the crate
//! so that an ordinary `cargo test` replays the kept corpus through the same code
//! (`rust/core/tests/fuzz_corpus.rs`). Each takes arbitrary bytes, runs a reader on them and
//! checks what the reader returns: an error is a correct answer, a panic is a bug.

use std::path::Path;

use crate::picks::{self, Layout, Request};
use crate::star;

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
