use std::collections::HashMap;

use super::*;
use super::{fields::*, index::*, masks::*, numbers::*, scan::*, write::*};
use crate::errors::StarError;

#[test]
fn plain_decimals_read_as_the_general_parser_reads_them() {
    // Oracle: Rust's own correctly rounded str::parse::<f64>.
    let mut next = crate::test_random(0x2545_f491_4f6c_dd1du64);
    let mut fields: Vec<String> = [
        "0",
        "-0",
        "0.0",
        "-0.000000",
        "5.",
        ".5",
        "-.5",
        "123456.789012",
        "9007199254740993",
        "9007199254740992.5",
        "0.1",
        "0.30000000000000004",
        "1234567890123456789",
        "12345678901234567.8",
        "00000000000000000001",
        "-",
        ".",
        "1.2.3",
        "+1.5",
        "1e5",
        "nan",
        "inf",
        "1,5",
        "",
        "1234567890123456",
        "123456789.123456",
        "-123456789.123456",
        "12345678.1234567",
        "1234567.12345678",
        ".123456789012345",
        "9007199254740993.",
        "99999999.99999999",
        "1.",
        "-.",
        "--1",
        "1-",
        "0.000000",
        "-0.0e0",
        "<NA>",
        "1e",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    for _ in 0..200_000 {
        let (int_digits, frac_digits) = (next(12) as usize, next(12) as usize);
        let mut f = String::new();
        if next(2) == 0 {
            f.push('-');
        }
        (0..int_digits).for_each(|_| f.push((b'0' + next(10) as u8) as char));
        if next(4) != 0 {
            f.push('.');
            (0..frac_digits).for_each(|_| f.push((b'0' + next(10) as u8) as char));
        }
        fields.push(f);
    }
    // Whatever follows a field in the row (digits, points, an exponent) is not read as its.
    let tails: [&[u8]; 5] = [b"", b"7", b"5.25", b"e5 1.5 mic.mrc", b"123456789012345678901234567890"];
    for (i, f) in fields.iter().enumerate() {
        let want = f.parse::<f64>().ok();
        let got = parse_number(f.as_bytes());
        assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{f:?}");
        let row = [f.as_bytes(), tails[i % tails.len()]].concat();
        let tail = tails[i % tails.len()];
        let got = parse_number_in(&row, f.len(), Swar);
        assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{f:?} followed by {tail:?}");
        // The field inside a row, at an offset: read wide when 25 bytes follow its start.
        let inside = [b"1.5 ", f.as_bytes(), tail].concat();
        let got = parse_number_at(&inside, 4, 4 + f.len(), Swar);
        assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{f:?} after 4 bytes, then {tail:?}");
        #[cfg(target_arch = "x86_64")]
        if let Some(reader) = Ssse3::detect() {
            let got = parse_number_in(&row, f.len(), reader);
            assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{f:?} followed by {tail:?}, SSSE3");
            let got = parse_number_at(&inside, 4, 4 + f.len(), reader);
            assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{f:?} inside a row, SSSE3");
        }
    }
}

/// A walk with each way of finding a word's k-th start this CPU has, by name.
type Walk = fn(&BlockMasks, usize, &mut Picks) -> LineWalk;
fn walks() -> Vec<(&'static str, Walk)> {
    let mut walks: Vec<(&str, Walk)> = vec![("clear lowest", |m, from, p| m.walk(from, p, ClearLowest))];
    #[cfg(target_arch = "x86_64")]
    if Pdep::detect().is_some() {
        walks.push(("pdep", |m, from, p| m.walk(from, p, Pdep::detect().unwrap())));
    }
    walks
}

#[test]
fn masked_walk_finds_the_fields_the_tokenizer_finds() {
    // Oracle: the quote-aware tokenizer, line by line (no quote here: both must agree).
    let mut next = crate::test_random(0x9e37_79b9_7f4a_7c15);
    let alphabet = b"   \t\r\x0ba1.-x\xc3\n";
    for len in [0usize, 1, 2, 63, 64, 65, 127, 128, 129, 300, 1000, 5000] {
        for round in 0..60 {
            // Every other block of long fields (names of tens to hundreds of bytes) too.
            let rare = if round % 2 == 0 { 1 } else { 2 + next(150) };
            let block: Vec<u8> = (0..len)
                .map(|_| match next(rare) {
                    0 => alphabet[next(alphabet.len() as u64) as usize],
                    _ => b"a1.-x"[next(5) as usize],
                })
                .collect();
            let mut masks = BlockMasks::default();
            assert!(!masks.fill(&block), "no quote");
            let mut from = 0;
            while from < block.len() {
                let newline = block[from..].iter().position(|&b| b == b'\n').map(|k| from + k);
                let line = &block[from..newline.unwrap_or(block.len())];
                let mut fields = Vec::new();
                for_each_field_quoted(line, |_, f| {
                    let at = from + (f.as_ptr() as usize - line.as_ptr() as usize);
                    fields.push((at, at + f.len()));
                })
                .unwrap();
                let wanted: Vec<usize> = (0..fields.len() + 2).filter(|_| next(3) == 0).collect();
                for (name, walk_with) in walks() {
                    let mut picks = Picks::new(wanted.iter().copied());
                    let walk = walk_with(&masks, from, &mut picks);
                    let context = format!("{:?}, {name}", String::from_utf8_lossy(line));
                    assert_eq!((walk.newline, walk.count), (newline, fields.len()), "{context}");
                    if let Some(&(first, _)) = fields.first() {
                        assert_eq!(walk.first, first, "{context}");
                    }
                    for (&k, &got) in picks.fields().iter().zip(picks.found()) {
                        // (A field past the line's count is not found: its span stays (0, 0).)
                        let want = fields.get(k).copied().unwrap_or((0, 0));
                        assert_eq!(got, want, "field {k} of {context}");
                    }
                }
                from = newline.map_or(block.len(), |k| k + 1);
            }
        }
    }
}

#[test]
fn masks_find_a_quote_wherever_it_is_in_a_block() {
    // Oracle: a byte search. Blocks of every length around the 64-byte words, one quote
    // (or none) at every place, the rest random bytes without quotes.
    let mut next = crate::test_random(0x6a09_e667_f3bc_c908);
    let mut masks = BlockMasks::default();
    for len in [1usize, 31, 32, 63, 64, 65, 96, 127, 128, 129, 200] {
        let block: Vec<u8> = (0..len).map(|_| b" \n\tab1.@\xff\x00"[next(10) as usize]).collect();
        assert!(!masks.fill(&block));
        for at in 0..len {
            for quote in [b'"', b'\''] {
                let mut with = block.clone();
                with[at] = quote;
                assert!(masks.fill(&with), "{quote} at {at} of {len}");
            }
        }
    }
}

#[test]
fn chunk_masks_of_every_kind_of_byte() {
    // Oracle: the bytes one by one, against SSE2's masks of one chunk (the fallback where
    // the CPU has no AVX2; the walk's test covers the AVX2 masks of whole blocks).
    let mut next = crate::test_random(0x5851_f42d_4c95_7f2d);
    for _ in 0..2000 {
        let chunk: [u8; 64] = std::array::from_fn(|_| match next(4) {
            0 => next(256) as u8,
            1 => b" \t\r\n"[next(4) as usize],
            _ => [0x20, 0x21, 0x0a, 0x09, 0x7f, 0x80, 0xff, b'1'][next(8) as usize],
        });
        let text = chunk.iter().enumerate().fold(0u64, |m, (i, &b)| m | (u64::from(b > b' ') << i));
        let newline = chunk.iter().enumerate().fold(0u64, |m, (i, &b)| m | (u64::from(b == b'\n') << i));
        assert_eq!(chunk_masks(&chunk), (text, newline), "{chunk:?}");
    }
}

/// A random field that reads as a number: plain decimals of every width, exponents,
/// NaN and infinity as RELION and Python write them.
fn random_number_field(next: &mut impl FnMut(u64) -> u64) -> String {
    let sign = if next(3) == 0 { "-" } else { "" };
    let (n1, n2) = (next(20), next(13));
    let mut digits = |n: u64| -> String { (0..n).map(|_| char::from(b'0' + next(10) as u8)).collect() };
    match n1 % 8 {
        0 => format!("{sign}{}e{}{}", digits(1 + n2 % 3), ["", "-", "+"][(n2 % 3) as usize], n1 + n2),
        1 => ["nan", "inf", "-inf", "NaN", "Infinity"][(n2 % 5) as usize].to_string(),
        2 => format!("{sign}{}", digits(1 + n2 + n1 % 7)),
        _ => format!("{sign}{}.{}", digits(n1 % 12), digits(1 + n2 % 12)),
    }
}

/// White space between fields: spaces, tabs, and now and then a long run.
fn random_gap(next: &mut impl FnMut(u64) -> u64) -> String {
    match next(12) {
        0 => " ".repeat(1 + next(700) as usize),
        1 => "\t".into(),
        2 => " \t ".into(),
        _ => " ".repeat(1 + next(3) as usize),
    }
}

#[test]
fn scanned_rows_are_the_rows_written() {
    // Oracle: the rows as generated (fields, values by str::parse), against scans of the
    // same text through both paths (masks; quote-aware in pieces holding a quote) and both
    // entry points (an indexed loop; a loop scanned while indexing, which finds its end).
    let mut next = crate::test_random(0x0123_4567_89ab_cdef);
    for quoted in [false, true] {
        let mut text = String::from("data_optics\nloop_\n_g\n1\n\ndata_p\nloop_\n_a\n_b\n_m\n_c\n");
        let (mut values, mut keys) = (Vec::new(), Vec::new());
        for row in 0..6000 {
            if next(50) == 0 {
                let quote = if quoted { "'" } else { "" }; // a quote anywhere sends its piece to the tokenizer
                text.push_str(&format!("{}# comment {row} {quote}\n", random_gap(&mut next)));
            }
            let a = random_number_field(&mut next);
            let b = random_number_field(&mut next);
            let c = random_number_field(&mut next);
            // (the key's name: a quoted field's text inside its quotes, as RELION reads it)
            let (key, name) = match (quoted, next(40)) {
                (true, 0) => (format!("'mic {}.mrc'", row % 7), format!("mic {}.mrc", row % 7)),
                _ => {
                    let key = format!("MotionCorr/job002/Movies/FoilHole_{}_Data.mrc", row / 50);
                    (key.clone(), key)
                }
            };
            let gaps: Vec<String> = (0..5).map(|_| random_gap(&mut next)).collect();
            let end = if next(10) == 0 { "\r\n" } else { "\n" };
            text.push_str(&format!("{}{a}{}{b}{}{key}{}{c}{}{end}", gaps[0], gaps[1], gaps[2], gaps[3], gaps[4]));
            values.push([&a, &b, &c].map(|f| f.parse::<f64>().unwrap().to_bits()));
            keys.push(name);
        }
        text.push_str("\ndata_after\n_x 1\n");
        let data = text.as_bytes();
        let blocks = index(data).unwrap();
        let table = blocks[1].table.as_ref().unwrap();
        let scan = scan_rows(data, table, &[3, 0, 1], Some(2)).unwrap();
        let check = |spans: &[(u64, u64)], numbers: &[Vec<f64>], ids: &[u32], names: &[Vec<u8>]| {
            assert_eq!(spans.len(), values.len());
            for (i, want) in values.iter().enumerate() {
                let got = [numbers[1][i], numbers[2][i], numbers[0][i]].map(f64::to_bits);
                assert_eq!(&got, want, "row {i}");
                assert_eq!(names[ids[i] as usize], keys[i].as_bytes(), "row {i}");
                let line = &data[spans[i].0 as usize..spans[i].1 as usize];
                assert!(line.ends_with(b"\n") && split_row(line).unwrap().len() == 4, "row {i}");
            }
        };
        check(&scan.spans, &scan.numbers, &scan.keys, &scan.key_names);
        let request = ScanRequest { number_cols: &[3, 0, 1], key_col: Some(2), missing: None, image_col: None };
        let mut all = RowScan { numbers: vec![Vec::new(); 3], ..Default::default() };
        let (whole, names) = index_scanning(data, LoopOf::Block("p"), &request, &keep_all, |rows, _| {
            all.spans.extend_from_slice(&rows.spans);
            all.keys.extend_from_slice(&rows.keys);
            all.numbers.iter_mut().zip(&rows.numbers).for_each(|(to, from)| to.extend_from_slice(from));
        })
        .unwrap();
        assert_eq!(whole, blocks);
        check(&all.spans, &all.numbers, &all.keys, &names);
    }
}

const RELION31: &str = "\n# version 30001\n\ndata_optics\n\nloop_\n_rlnOpticsGroup #1\n_rlnMicrographPixelSize #2\n  1  1.0\n\n# version 30001\n\ndata_particles\n\nloop_ \n_rlnCoordinateX #1 \n_rlnCoordinateY #2\n_rlnMicrographName #3\n 10.0 20.0 mic1.mrc\n 11.0 21.0 \"mic 2.mrc\"\n# a comment\n 12.0 22.0 mic1.mrc\n \n";

#[test]
fn index_finds_blocks_labels_and_rows() {
    let data = RELION31.as_bytes();
    let blocks = index(data).unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].name, "optics");
    let p = blocks[1].table.as_ref().unwrap();
    assert_eq!(p.labels, vec!["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName"]);
    assert_eq!(p.first_row_line, 19);
    let rows = std::str::from_utf8(&data[p.rows.clone()]).unwrap();
    assert_eq!(rows, " 10.0 20.0 mic1.mrc\n 11.0 21.0 \"mic 2.mrc\"\n# a comment\n 12.0 22.0 mic1.mrc\n");
    assert_eq!(blocks[0].span.end, blocks[1].span.start);
}

#[test]
fn a_byte_order_mark_before_the_first_block_is_skipped() {
    // Issue 11 item 13: files saved by Windows editors start with EF BB BF.
    let data = [b"\xef\xbb\xbfdata_particles\nloop_\n_rlnCoordinateX #1\n1.0\n".as_slice()].concat();
    let blocks = index(&data).unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].name, "particles");
    let bom_later = b"data_a\n\xef\xbb\xbf_x 1\n";
    assert!(index(bom_later).is_err(), "only the file's first bytes may be a byte-order mark");
}

#[test]
fn scan_parses_numbers_and_keys() {
    let data = RELION31.as_bytes();
    let blocks = index(data).unwrap();
    let t = blocks[1].table.as_ref().unwrap();
    let scan = scan_rows(data, t, &[1, 0], Some(2)).unwrap();
    assert_eq!(scan.numbers, vec![vec![20.0, 21.0, 22.0], vec![10.0, 11.0, 12.0]]);
    assert_eq!(scan.keys, vec![0, 1, 0]);
    assert_eq!(scan.key_names, vec![b"mic1.mrc".to_vec(), b"mic 2.mrc".to_vec()]); // (quoted: the text inside)
    let mut out = Vec::new();
    write_rows(data, &scan.spans, |i| i != 1, &RowEdit::default(), &mut out).unwrap();
    assert_eq!(out, b" 10.0 20.0 mic1.mrc\n 12.0 22.0 mic1.mrc\n");
}

#[test]
fn errors_carry_line_numbers() {
    let data = b"data_\nloop_\n_a\n_b\n1 2\n3\n";
    let blocks = index(data).unwrap();
    let err = scan_rows(data, blocks[0].table.as_ref().unwrap(), &[0], None).unwrap_err();
    assert_eq!(err, StarError::FieldCount { line: 6, expected: 2, got: 1 });
    let data = b"data_\nloop_\n_a\n_b\n1 2\r\nx 4\r\n";
    let blocks = index(data).unwrap();
    let err = scan_rows(data, blocks[0].table.as_ref().unwrap(), &[0], None).unwrap_err();
    assert_eq!(err, StarError::NotANumber { line: 6, label: "a".into(), text: "x".into() });
    assert!(matches!(index(b"hello\n"), Err(StarError::Unexpected { line: 1, .. })));
}

#[test]
fn many_chunks_merge_in_order() {
    let mut s = String::from("data_p\nloop_\n_x\n_m\n");
    for i in 0..300_000 {
        s.push_str(&format!("{i} m{}\n", i % 7));
    }
    let data = s.as_bytes();
    let blocks = index(data).unwrap();
    let scan = scan_rows(data, blocks[0].table.as_ref().unwrap(), &[0], Some(1)).unwrap();
    assert_eq!(scan.spans.len(), 300_000);
    assert!(scan.numbers[0].iter().enumerate().all(|(i, &v)| v == i as f64));
    assert!(scan.keys.iter().enumerate().all(|(i, &k)| scan.key_names[k as usize] == format!("m{}", i % 7).as_bytes()));
}

#[test]
fn fast_and_quote_aware_tokenizers_agree() {
    let alphabet = b" \t\ra1.-x";
    let mut state = 99u64;
    for len in (0..300).chain([64, 128, 129, 511, 512, 513]) {
        for _ in 0..20 {
            let line: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    alphabet[(state >> 33) as usize % alphabet.len()]
                })
                .collect();
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            let n_fast = for_each_unquoted_field(&line, &mut |k, f| fast.push((k, f.to_vec()))).unwrap();
            let n_slow = for_each_field_quoted(&line, |k, f| slow.push((k, f.to_vec()))).unwrap();
            assert_eq!((n_fast, &fast), (n_slow, &slow), "{:?}", String::from_utf8_lossy(&line));
            // The same line inside a buffer whose next bytes are text: they are not fields.
            let buf = [&b"x1 "[..], &line, b"y2z3", &[b'w'; 70]].concat();
            let mut within = Vec::new();
            let n_within = for_each_field_within(&buf, 3..3 + line.len(), &mut |k, f| within.push((k, f.to_vec())));
            assert_eq!((n_within, &within), (n_slow, &slow), "{:?}", String::from_utf8_lossy(&line));
        }
    }
    assert_eq!(for_each_unquoted_field(b"a \"b c\"", &mut |_, _| panic!()), None);
}

/// The rows of the only loop of `data`, scanned for no column.
fn scan_all(data: &[u8]) -> RowScan {
    let blocks = index(data).unwrap();
    scan_rows(data, blocks[0].table.as_ref().unwrap(), &[], None).unwrap()
}

#[test]
fn rewrite_changes_one_field_only() {
    let data = b"data_\nloop_\n_a\n_g\n_n\n1.5   1  x\n2.5\t2 y";
    let scan = scan_all(data);
    let map: HashMap<Vec<u8>, Vec<u8>> = [(b"1".to_vec(), b"17".to_vec())].into_iter().collect();
    let mut out = Vec::new();
    let edit = RowEdit { rewrite: Some(ColumnRewrite { column: 1, map: &map }), columns: None, ..Default::default() };
    write_rows(data, &scan.spans, |_| true, &edit, &mut out).unwrap();
    assert_eq!(out, b"1.5   17  x\n2.5\t2 y\n");
}

#[test]
fn values_set_one_field_of_chosen_rows() {
    // Rows 0 and 1 take texts 2 and 1, row 2 keeps its text (choice 0); spacing, the
    // other fields and the CRLF stay as they were.
    let data = b"data_\nloop_\n_a\n_h\n_n\n1.5   1  x\r\n2.5\t2 y\n3.5 2.000000 z";
    let scan = scan_all(data);
    let texts = [b"1".to_vec(), b"2".to_vec()];
    let choice = [2u8, 1, 0];
    let edit = RowEdit { values: Some(RowValues { column: 1, choice: &choice, texts: &texts }), ..Default::default() };
    let mut out = Vec::new();
    write_rows(data, &scan.spans, |_| true, &edit, &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "1.5   2  x\r\n2.5\t1 y\n3.5 2.000000 z\n");
    let mut only_last = Vec::new();
    write_rows(data, &scan.spans, |i| i != 1, &edit, &mut only_last).unwrap();
    assert_eq!(String::from_utf8(only_last).unwrap(), "1.5   2  x\r\n3.5 2.000000 z\n");
}

#[test]
fn columns_are_reordered_with_each_field_unchanged() {
    // Fields of different widths and spacing, a quoted name, CRLF, and a last row
    // without a terminator; output in the order (c, a, b).
    let data = b"data_\nloop_\n_a\n_b\n_c\n   1.500000     12 \"my mic.mrc\"\r\n2.5e-07\t3 m2.mrc  \n-0 4 m3";
    let scan = scan_all(data);
    let columns = [2, 0, 1];
    let edit = RowEdit { columns: Some(&columns), ..Default::default() };
    let mut out = Vec::new();
    write_rows(data, &scan.spans, |_| true, &edit, &mut out).unwrap();
    // "2.5e-07" had no white space before it: it gets one space.
    let expected = " \"my mic.mrc\"   1.500000     12\r\n m2.mrc 2.5e-07\t3\n m3 -0 4\n";
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn a_subset_of_columns_with_a_rewrite() {
    let data = b"data_\nloop_\n_a\n_g\n_n\n1.5   1  x\n2.5\t2 y\n";
    let scan = scan_all(data);
    let map: HashMap<Vec<u8>, Vec<u8>> = [(b"1".to_vec(), b"17".to_vec())].into_iter().collect();
    let columns = [2, 1];
    let edit = RowEdit {
        rewrite: Some(ColumnRewrite { column: 1, map: &map }),
        columns: Some(&columns),
        ..Default::default()
    };
    let mut out = Vec::new();
    write_rows(data, &scan.spans, |i| i < 2, &edit, &mut out).unwrap();
    assert_eq!(out, b"  x   17\n y\t2\n"); // each field keeps the white space before it
}

#[test]
fn split_rereads_rows_and_releases_every_byte_once() {
    // Rows of many windows, a comment among them, a last row without a terminator.
    let mut s = String::from("data_p\nloop_\n_x\n_m\n");
    let n = 3 * WINDOW / 10;
    for i in 0..n {
        s.push_str(&format!("{i:>3} m\n"));
        if i == 7 {
            s.push_str("# comment\n");
        }
    }
    s.push_str("last m");
    let data = s.as_bytes();
    let table = index(data).unwrap()[0].table.clone().unwrap();
    let keep: Vec<bool> = (0..=n).map(|i| i % 3 != 1).collect();
    let released = std::sync::Mutex::new(Vec::new());
    let record = |r: Range<usize>| released.lock().unwrap().push(r);
    let (mut kept, mut rejected) = (Vec::new(), Vec::new());
    write_split(data, &table, &keep, &RowEdit::default(), &mut kept, &mut rejected, &record).unwrap();
    // The oracle: the rows' lines, comment left out, each to the file its flag names.
    let lines: Vec<&str> = s.lines().skip(4).filter(|l| !l.starts_with('#')).collect();
    let expect = |want: bool| -> Vec<u8> {
        lines.iter().zip(&keep).filter(|(_, &k)| k == want).flat_map(|(l, _)| format!("{l}\n").into_bytes()).collect()
    };
    assert!(kept == expect(true) && rejected == expect(false));
    // Released in order, without gaps, up to the end, in more than one window.
    let released = released.into_inner().unwrap();
    assert!(released.len() > 2);
    assert_eq!(released[0].start, table.rows.start);
    assert!(released.windows(2).all(|w| w[0].end == w[1].start));
    assert_eq!(released.last().unwrap().end, data.len());
    // A mask of another length is refused.
    let err = write_split(data, &table, &keep[1..], &RowEdit::default(), &mut kept, &mut rejected, &keep_all);
    assert!(err.is_err());
}

#[test]
fn binary_files_are_refused_by_offset() {
    assert_eq!(index(b"\x1f\x8b\x08\x00 gzip"), Err(StarError::Binary { offset: 0 }));
    let mut mrc = vec![0u8; 1024];
    mrc[0..4].copy_from_slice(&4096u32.to_le_bytes());
    assert_eq!(index(&mrc), Err(StarError::Binary { offset: 0 })); // 4096 little-endian: 00 10 00 00
                                                                   // Text first, then binary far into the file (beyond the first parallel chunk).
    let mut text = b"data_\nloop_\n_a\n".to_vec();
    text.extend(std::iter::repeat_n(b"1.0\n".as_slice(), 400_000).flatten());
    let at = text.len();
    text.extend_from_slice(b"\x00\x01");
    assert_eq!(index(&text), Err(StarError::Binary { offset: at }));
    // Binary in the middle: found when it breaks the syntax (index or scan).
    let mut middle = b"data_\nloop_\n_a\n_b\n".to_vec();
    middle.extend(std::iter::repeat_n(b"1.0 2\n".as_slice(), 20_000).flatten());
    let at = middle.len();
    middle.extend_from_slice(b"\x001.0 2\n1 \x02\n");
    middle.extend(std::iter::repeat_n(b"1.0 2\n".as_slice(), 20_000).flatten());
    let blocks = index(&middle).unwrap();
    let err = scan_rows(&middle, blocks[0].table.as_ref().unwrap(), &[0], None).unwrap_err();
    assert_eq!(err, StarError::Binary { offset: at + 9 }); // the \x02 of the short row
                                                           // A line of zeros ends the loop (control bytes are white space); the next row does not fit.
    middle[at..at + 7].copy_from_slice(b"\x00\x00\x00\x00\x00\x00\n");
    assert_eq!(index(&middle), Err(StarError::Binary { offset: at }));
    // Tab, vertical tab, form feed, CR and UTF-8 are text.
    assert!(index("data_\x0b\x0c\t\r\n# Å\n".as_bytes()).is_ok());
    assert_eq!(StarError::Binary { offset: 7 }.to_string(), "not a text STAR file: binary content at byte 7");
}

#[test]
fn long_lines_are_cut_in_messages() {
    let line = "x".repeat(5000);
    let Err(StarError::Unexpected { text, .. }) = index(line.as_bytes()) else { panic!() };
    assert_eq!(text, format!("{}...", "x".repeat(60)));
}

#[test]
fn a_name_or_header_line_beyond_max_text_is_refused_with_its_line_and_one_at_the_bound_is_read() {
    use crate::errors::MAX_TEXT;
    let row = |name_len: usize| format!("data_\nloop_\n_x\n_m\n1 a\n2 {}\n", "n".repeat(name_len));
    let at_bound = row(MAX_TEXT);
    let blocks = index(at_bound.as_bytes()).unwrap();
    let scan = scan_rows(at_bound.as_bytes(), blocks[0].table.as_ref().unwrap(), &[0], Some(1)).unwrap();
    assert_eq!(scan.key_names.len(), 2);
    let beyond = row(MAX_TEXT + 1);
    let blocks = index(beyond.as_bytes()).unwrap();
    let err = scan_rows(beyond.as_bytes(), blocks[0].table.as_ref().unwrap(), &[0], Some(1)).unwrap_err();
    let expected = StarError::TooLong { line: 6, what: "column m holds a name".into(), len: MAX_TEXT + 1 };
    assert_eq!(err, expected);
    let label = format!("data_\nloop_\n_x\n_{}\n1 a\n", "m".repeat(MAX_TEXT));
    assert!(matches!(index(label.as_bytes()), Err(StarError::TooLong { line: 4, .. })));
    let comment = format!("# {}\ndata_\nloop_\n_x\n1\n", "c".repeat(MAX_TEXT));
    assert!(index(comment.as_bytes()).is_ok(), "a long comment is skipped, not kept");
}
