use std::path::Path;

use super::sources::*;
use super::write::*;
use super::*;

fn request(layout: Layout, numbers: &[&str], key: Option<&str>, missing: Option<&str>) -> Request {
    Request {
        layout,
        numbers: numbers.iter().map(ToString::to_string).collect(),
        key: key.map(str::to_string),
        missing: missing.map(|m| m.as_bytes().to_vec()),
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let folder = std::env::temp_dir().join(format!("cryodedup-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let fifo = folder.join("m1.box");
    let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let req = request(Layout::Whitespace { names: vec!["x".into(), "y".into()] }, &["x"], None, None);
    let error = read_files(std::slice::from_ref(&fifo), &req).unwrap_err().to_string();
    std::fs::remove_dir_all(&folder).unwrap();
    assert!(error.contains("m1.box") && error.contains("is a named pipe (FIFO), expected a regular file"), "{error}");
}

#[test]
fn box_rows_end_in_lf_crlf_or_a_lone_cr() {
    let req = request(Layout::Whitespace { names: vec!["x".into(), "y".into()] }, &["x", "y"], None, None);
    for data in [&b"1 2\n3 4\n5 6\n"[..], b"1 2\r\n3 4\r\n5 6\r\n", b"1 2\r3 4\r5 6\r", b"1 2\r3 4\n5 6"] {
        let rows = read_bytes(Path::new("m.box"), data, &req).unwrap();
        assert_eq!(rows.numbers[0], vec![1.0, 3.0, 5.0], "{data:?}");
        assert_eq!(rows.numbers[1], vec![2.0, 4.0, 6.0], "{data:?}");
        let ends = rows.spans.iter().map(|s| s.1 as usize).collect::<Vec<_>>();
        assert_eq!(*ends.last().unwrap(), data.len());
    }
    // One field more is EMAN1's fifth column; two more is not a row of this format.
    assert!(read_bytes(Path::new("m.box"), b"1 2 -3\n", &req).is_ok());
    let error = read_bytes(Path::new("m.box"), b"1 2\n3 4 5 6\n", &req).unwrap_err().to_string();
    assert!(error.contains("line 2") && error.contains("found 4 fields"), "{error}");
}

#[test]
fn star_loop_with_missing_values() {
    let data = b"\ndata_global\n\n_version 1\n\ndata_cryolo\n\nloop_\n_CoordinateX #1\n_CoordinateY #2\n_Confidence #3\n10 20 0.5\n11 21 <NA>\n\n";
    let req = request(
        Layout::Star { label: "CoordinateX".into() },
        &["CoordinateY", "Width", "Confidence"],
        None,
        Some("<NA>"),
    );
    let rows = read_bytes(Path::new("a.cbox"), data, &req).unwrap();
    assert_eq!(rows.labels.unwrap(), vec!["CoordinateX", "CoordinateY", "Confidence"]);
    assert_eq!(rows.numbers[0], vec![20.0, 21.0]);
    assert!(rows.numbers[1].iter().all(|v| v.is_nan()));
    assert_eq!(rows.numbers[2][0], 0.5);
    assert!(rows.numbers[2][1].is_nan());
    let text = std::str::from_utf8(data).unwrap();
    let first = text.find("10 20").unwrap() as u64;
    assert_eq!(rows.spans, vec![(first, first + 10), (first + 10, first + 21)]);
    assert!(rows.header.ends_with(b"_Confidence #3\n"));
    assert_eq!(rows.footer, b"\n");
    let no_na = request(Layout::Star { label: "CoordinateX".into() }, &["Confidence"], None, None);
    let err = read_bytes(Path::new("a.cbox"), data, &no_na).unwrap_err();
    assert_eq!(err.to_string(), "a.cbox: line 13: column Confidence holds \"<NA>\", expected a number");
}

#[test]
fn star_loop_found_by_label_among_blocks_and_read_in_one_pass() {
    // A loop without the label first; comments among and after the rows; a block after
    // the loop (the footer); then the same loop with no rows, and a syntax error after it.
    let data =
        "data_optics\nloop_\n_rlnCoordinateX_not #1\n5\n\ndata_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n\
                1.5 2.5\n# among\n3 4\n# after\n\ndata_more\n_rlnX 1\n";
    let req = request(Layout::Star { label: "rlnCoordinateX".into() }, &["rlnCoordinateY"], None, None);
    let rows = read_bytes(Path::new("p.star"), data.as_bytes(), &req).unwrap();
    assert_eq!(rows.labels.unwrap(), vec!["rlnCoordinateX", "rlnCoordinateY"]);
    assert_eq!(rows.numbers, vec![vec![2.5, 4.0]]);
    let (first, second) = (data.find("1.5 2.5").unwrap() as u64, data.find("3 4").unwrap() as u64);
    assert_eq!(rows.spans, vec![(first, first + 8), (second, second + 4)]);
    assert_eq!(rows.header, &data.as_bytes()[..first as usize]);
    assert_eq!(rows.footer, b"# after\n\ndata_more\n_rlnX 1\n");

    let empty = "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n\ndata_x\n";
    let rows = read_bytes(Path::new("e.star"), empty.as_bytes(), &req).unwrap();
    assert_eq!(rows.labels.unwrap(), vec!["rlnCoordinateX", "rlnCoordinateY"]);
    assert!(rows.spans.is_empty() && rows.numbers == vec![Vec::<f64>::new()]);
    assert_eq!(rows.header, b"data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n");

    let broken = "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n1 2\n\nnot star\n";
    let err = read_bytes(Path::new("b.star"), broken.as_bytes(), &req).unwrap_err();
    assert_eq!(
        err.to_string(),
        "b.star: line 7: unexpected text \"not star\" (expected data_, loop_, a _label or a comment)"
    );
}

#[test]
fn star_without_the_label_is_not_found() {
    let req = request(Layout::Star { label: "rlnCoordinateX".into() }, &[], None, None);
    let rows = read_bytes(Path::new("x.star"), b"data_\nloop_\n_a\n1\n", &req).unwrap();
    assert!(rows.labels.is_none());
}

#[test]
fn tab_table_keys_and_errors() {
    let data = b"image_name\tx_coord\ty_coord\tscore\nm1\t1\t2\t-0.5\r\nm2\t3\t4\t1\n\nm1\t5\t6\t2\n";
    let req = request(Layout::Tab, &["x_coord", "y_coord", "score"], Some("image_name"), None);
    let rows = read_bytes(Path::new("t.txt"), data, &req).unwrap();
    assert_eq!(rows.numbers, vec![vec![1.0, 3.0, 5.0], vec![2.0, 4.0, 6.0], vec![-0.5, 1.0, 2.0]]);
    assert_eq!(rows.keys, vec![0, 1, 0]);
    assert_eq!(rows.header, b"image_name\tx_coord\ty_coord\tscore\n");
    let err = read_bytes(Path::new("t.txt"), b"a\tb\n1\t2\n3\n", &req).unwrap_err();
    assert_eq!(err.to_string(), "t.txt: line 3: 1 tab-separated field, expected 2");
    // A table without the score: NaN for each row (not zero), as for a STAR file.
    let rows = read_bytes(Path::new("t.txt"), b"image_name\tx_coord\ty_coord\nm1\t1\t2\n", &req).unwrap();
    assert_eq!(rows.numbers[..2], [vec![1.0], vec![2.0]]);
    assert!(rows.numbers[2].len() == 1 && rows.numbers[2][0].is_nan());
}

#[test]
fn whitespace_rows_skip_comments_and_count_fields() {
    let names: Vec<String> = ["x", "y", "w", "h"].iter().map(ToString::to_string).collect();
    let req = request(Layout::Whitespace { names: names.clone() }, &["x", "h"], None, None);
    let rows = read_bytes(Path::new("m.box"), b"# c\n1 2 3 4 -3\n\n5\t6\t7\t8", &req).unwrap();
    assert_eq!(rows.numbers, vec![vec![1.0, 5.0], vec![4.0, 8.0]]);
    assert_eq!(rows.spans, vec![(4, 15), (16, 23)]);
    let err = read_bytes(Path::new("m.box"), b"1 2\n", &req).unwrap_err();
    assert_eq!(err.to_string(), "m.box: line 1: expected x y w h (and at most one field more), found 2 fields");
}

#[test]
fn flat_rows_interleave_the_numbers_of_every_file() {
    // File a: rows (1, 2) and (3, 4); file b: one row (5, NaN: it lacks the second label).
    let req = request(Layout::Star { label: "x".into() }, &["x", "y"], None, None);
    let a = read_bytes(Path::new("a"), b"data_\nloop_\n_x\n_y\n1 2\n3 4\n", &req).unwrap();
    let b = read_bytes(Path::new("b"), b"data_\nloop_\n_x\n5\n", &req).unwrap();
    let mut flat = FlatRows::default();
    flat.append(&[a], 2);
    flat.append(&[b], 2);
    assert_eq!(flat.numbers[..5], [1.0, 2.0, 3.0, 4.0, 5.0]);
    assert!(flat.numbers[5].is_nan());
    // Spans by hand: "data_\nloop_\n_x\n_y\n" is 18 bytes, each row 4; b's header 15.
    assert_eq!(flat.starts, vec![18, 22, 15]);
    assert_eq!(flat.ends, vec![22, 26, 17]);
    assert!(flat.keys.is_empty());
}

#[test]
fn outputs_are_grouped_by_the_sources_they_share() {
    // Outputs 0 and 2 copy from sources 0 and 1, output 1 from source 2, output 3 nothing.
    let members = Members::of(4, &[0, 2, 1, 0, u32::MAX, 2]);
    assert_eq!(members.of_output(0), &[0, 3]);
    assert_eq!(members.of_output(2), &[1, 5]);
    let files = [0, 1, 2, 1, 2, 0];
    let spans = [RowSpans { first_file: 0, files: &files, starts: &[0; 6], ends: &[0; 6] }];
    assert_eq!(tasks_sharing_sources(&members, &SpanParts::new(&spans), 3), vec![vec![0, 2], vec![1], vec![3]]);
}

#[test]
fn one_output_from_more_sources_than_are_held_at_once() {
    let dir = std::env::temp_dir().join(format!("cryodedup-held-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let n = SOURCES_HELD + 5;
    let sources: Vec<PathBuf> = (0..n).map(|k| dir.join(format!("s{k}.txt"))).collect();
    for (k, path) in sources.iter().enumerate() {
        std::fs::write(path, format!("a{k}\nb{k}\n")).unwrap();
    }
    // Rows a0, a1, ..., then b0, b1, ...: every source is dropped and read again.
    let files: Vec<u32> = (0..2 * n).map(|i| (i % n) as u32).collect();
    let starts: Vec<u64> = (0..2 * n).map(|i| if i < n { 0 } else { 2 + (i % n).to_string().len() as u64 }).collect();
    let ends: Vec<u64> = (0..2 * n).map(|i| starts[i] + 2 + (i % n).to_string().len() as u64).collect();
    let out = dir.join("out.txt");
    let outputs = [Output { path: out.clone(), header: Vec::new(), footer: Vec::new() }];
    let parts = [RowSpans { first_file: 0, files: &files, starts: &starts, ends: &ends }];
    let rows = RowSource::Copy { sources: &sources, parts: &parts, reorder: &[] };
    write_outputs(&outputs, &vec![0; 2 * n], &rows).unwrap();
    let expected: String = (0..n).map(|k| format!("a{k}\n")).chain((0..n).map(|k| format!("b{k}\n"))).collect();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rows_of_a_source_in_another_column_order_are_reordered_field_by_field() {
    // Source b holds the columns of a in the order (x, z, y): its rows are written as x y z,
    // each field's text and the space before it unchanged; a's rows stay byte copies.
    let dir = std::env::temp_dir().join(format!("cryodedup-reorder-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.star"), dir.join("b.star"));
    std::fs::write(&a, "  1.000000   2.000000 3\n").unwrap();
    std::fs::write(&b, "  4.500000 6   5.250000 \n7 9 8").unwrap();
    let out = dir.join("out.star");
    let outputs = [Output { path: out.clone(), header: Vec::new(), footer: Vec::new() }];
    let sources = [a, b];
    let parts = [RowSpans { first_file: 0, files: &[0, 1, 1], starts: &[0, 0, 25], ends: &[24, 25, 30] }];
    let reorder = [None, Some(vec![0, 2, 1])];
    let rows = RowSource::Copy { sources: &sources, parts: &parts, reorder: &reorder };
    write_outputs(&outputs, &[0, 0, 0], &rows).unwrap();
    let expected = "  1.000000   2.000000 3\n  4.500000   5.250000 6\n7 8 9\n"; // (trailing space dropped)
    assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keys_are_shared_across_files_and_rows_written_back() {
    let dir = std::env::temp_dir().join(format!("cryodedup-picks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.txt"), dir.join("b.txt"));
    std::fs::write(&a, "image_name\tx\nm2\t1\nm1\t2\n").unwrap();
    std::fs::write(&b, "image_name\tx\nm1\t3\nm3\t4").unwrap();
    let req = request(Layout::Tab, &["x"], Some("image_name"), None);
    let tables = read_files(&[a.clone(), b.clone()], &req).unwrap();
    assert_eq!(tables.key_names, vec![b"m2".to_vec(), b"m1".to_vec(), b"m3".to_vec()]);
    assert_eq!(tables.rows.keys, vec![0, 1, 1, 2]);
    assert_eq!(tables.files.iter().map(|f| f.n_rows).collect::<Vec<_>>(), vec![2, 2]);
    let out = dir.join("out.txt");
    let outputs = [Output { path: out.clone(), header: b"H\n".to_vec(), footer: b"F\n".to_vec() }];
    let (starts, ends) = (&tables.rows.starts, &tables.rows.ends);
    let sources = [a, b];
    let parts = [RowSpans { first_file: 0, files: &[0, 0, 1, 1], starts, ends }];
    let rows = RowSource::Copy { sources: &sources, parts: &parts, reorder: &[] };
    write_outputs(&outputs, &[0, 9, 0, 0], &rows).unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "H\nm2\t1\nm1\t3\nm3\t4\nF\n");
    // The same rows given as two parts (two inputs' spans, not concatenated; the second
    // input's files numbered from 0 among its own).
    let parts = [
        RowSpans { first_file: 0, files: &[0, 0], starts: &starts[..2], ends: &ends[..2] },
        RowSpans { first_file: 1, files: &[0, 0], starts: &starts[2..], ends: &ends[2..] },
    ];
    let rows = RowSource::Copy { sources: &sources, parts: &parts, reorder: &[] };
    write_outputs(&outputs, &[0, 9, 0, 0], &rows).unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "H\nm2\t1\nm1\t3\nm3\t4\nF\n");
    let rows = RowSource::Numbers { values: &[1.5, f64::NAN, 2.0, 3.0], width: 2 };
    write_outputs(&outputs, &[0, 0], &rows).unwrap();
    let expected = "H\n    1.500000          nan\n    2.000000     3.000000\nF\n";
    assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
    for (v, text) in [
        (0.0, "    0.000000"),
        (-0.25, "   -0.250000"),
        (1234.5678914, " 1234.567891"),
        (-0.0000004, "   -0.000000"),
        (123456789.125, "123456789.125000"),
        (1e20, "100000000000000000000.000000"),
        (f64::NEG_INFINITY, "        -inf"),
    ] {
        let mut line = Vec::new();
        push_fixed6(&mut line, v);
        assert_eq!(String::from_utf8(line).unwrap(), text, "{v}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
