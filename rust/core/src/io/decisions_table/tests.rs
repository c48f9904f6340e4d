use super::*;

fn run(stack: u64, first: u64, rows: u64) -> ImageRun {
    ImageRun { stack, first, last: first + rows - 1, increasing: true, rows }
}

/// Two inputs of three rows each: images `000001@a.mrcs`... in input 0, `7@b,c.mrcs`,
/// `3@b,c.mrcs`, `9@b,c.mrcs` (listed, not consecutive) in input 1.
fn table() -> Table {
    let mut runs = vec![run(1, 1, 3)];
    runs.push(ImageRun { stack: 2, first: 3, last: 9, increasing: false, rows: 3 });
    let indices = [7, 3, 9];
    let stacks = StackNames { bytes: b"a.mrcsb,c.mrcs".to_vec(), ends: vec![6, 14], prefixes: vec![7, 2] };
    let (rows, partners) = (vec![1, 3, 4, 5], vec![4, 0, NO_PARTNER, NO_PARTNER]);
    let names = Names::Images {
        rows: images_of(&runs, &indices, &rows).unwrap(),
        partners: images_of(&runs, &indices, &partners).unwrap(),
        stacks,
    };
    Table {
        inputs: vec![b"one.star".to_vec(), b"t,wo.star".to_vec()],
        bounds: vec![0, 3, 6],
        rows,
        partners,
        micrographs: vec![0, 1, 1, 0],
        micrograph_names: vec![b"m1.mrc".to_vec(), b"say \"m2\".mrc".to_vec()],
        distance: vec![1.5, 0.1, f64::NAN, 12.0],
        angle: Some(vec![3.0, f64::NAN, f64::NAN, f64::NAN]),
        rule: vec![0, 1, 2, 3],
        rule_names: vec!["score".into(), "input order".into(), "outside the mask".into(), "earlier round".into()],
        kept_by: vec![String::new(), String::new(), String::new(), "(kept by an earlier round)".into()],
        names: Some(names),
    }
}

#[test]
fn the_record_is_written_as_the_python_record_writes_it() {
    let table = table();
    table.check().unwrap();
    let mut out = Vec::new();
    write_table(&table, &mut out).unwrap();
    // By hand, as `record.table` and `write_decisions` make it.
    let want = "input,row,particle,micrograph,kept_input,kept_row,kept_particle,distance_A,angle_deg,rule\n\
                one.star,2,000002@a.mrcs,m1.mrc,\"t,wo.star\",2,\"3@b,c.mrcs\",1.5,3.0,score\n\
                \"t,wo.star\",1,\"7@b,c.mrcs\",\"say \"\"m2\"\".mrc\",one.star,1,000001@a.mrcs,0.1,,input order\n\
                \"t,wo.star\",2,\"3@b,c.mrcs\",\"say \"\"m2\"\".mrc\",,,,,,outside the mask\n\
                \"t,wo.star\",3,\"9@b,c.mrcs\",m1.mrc,(kept by an earlier round),,,12.0,,earlier round\n";
    assert_eq!(String::from_utf8(out).unwrap(), want);
}

#[test]
fn without_images_the_names_are_empty_and_without_angles_no_column() {
    let table = Table { names: None, angle: None, ..table() };
    let mut out = Vec::new();
    write_table(&table, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("input,row,particle,micrograph,kept_input,kept_row,kept_particle,distance_A,rule\n"));
    assert_eq!(text.lines().nth(1), Some("one.star,2,,m1.mrc,\"t,wo.star\",2,,1.5,score"));
}

#[test]
fn columns_that_do_not_fit_are_refused() {
    let short = Table { distance: vec![1.0], ..table() };
    assert!(short.check().unwrap_err().0.contains("4 rows"));
    let beyond = Table { partners: vec![6, 0, NO_PARTNER, NO_PARTNER], ..table() };
    assert!(beyond.check().unwrap_err().0.contains("beyond the 6 rows"));
    let rule = Table { rule: vec![0, 1, 2, 4], ..table() };
    assert!(rule.check().is_err());
}

#[test]
fn numbered_names_are_their_text_and_number() {
    let texts = vec![b"uid ".to_vec(), b"a,b.star: line ".to_vec()];
    let rows = vec![(0, u64::MAX), (1, 7), (0, 3), (1, 0)];
    let partners = vec![(1, 12), (0, 5), (NO_PARTNER, 0), (NO_PARTNER, 0)];
    let record = Table { names: Some(Names::Numbered { texts, rows, partners }), angle: None, ..table() };
    record.check().unwrap();
    let mut out = Vec::new();
    write_table(&record, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().skip(1).collect();
    // By hand: the text, then the number in decimal; quoted where the text holds a comma.
    assert_eq!(lines[0], "one.star,2,uid 18446744073709551615,m1.mrc,\"t,wo.star\",2,\"a,b.star: line 12\",1.5,score");
    assert!(lines[1].contains(",\"a,b.star: line 7\",") && lines[1].contains(",uid 5,"));
    assert!(lines[2].contains(",uid 3,") && lines[3].contains(",\"a,b.star: line 0\","));
    let numbered = Names::Numbered { texts: vec![], rows: vec![(0, 1); 4], partners: vec![(NO_PARTNER, 0); 4] };
    let beyond = Table { names: Some(numbered), ..table() };
    assert!(beyond.check().unwrap_err().0.contains("beyond the 0 texts"));
}

#[test]
fn names_that_are_not_utf8_are_written_escaped() {
    // A file name of the bytes `n\xff.star` (not UTF-8): decisions.csv is UTF-8, so each byte that
    // is not is written `\xHH` (Python's `backslashreplace`, as the Python writer does; outputs.md).
    let table = Table {
        inputs: vec![b"n\xff.star".to_vec(), b"t,wo\xfe.star".to_vec()],
        micrograph_names: vec![b"m\xff1.mrc".to_vec(), b"m2.mrc".to_vec()],
        names: None,
        angle: None,
        ..table()
    };
    let mut out = Vec::new();
    write_table(&table, &mut out).unwrap();
    let second = out.split(|&b| b == b'\n').nth(1).unwrap().to_vec();
    assert_eq!(second, br#"n\xff.star,2,,m\xff1.mrc,"t,wo\xfe.star",2,,1.5,score"#.to_vec());
}
