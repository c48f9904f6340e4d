use super::*;

const PATHS: [&str; 4] = ["data/stage/X", "data/stage/Y", "data/shift", "data/shift/_x"];

fn texts(xml: &str) -> Result<Vec<Option<(String, bool)>>, String> {
    let found = element_texts(xml.as_bytes(), "Image", &PATHS).map_err(|e| e.0)?;
    Ok(found.found.into_iter().map(|f| f.map(|e| (e.text, e.has_children))).collect())
}

fn some(text: &str, children: bool) -> Option<(String, bool)> {
    Some((text.to_string(), children))
}

#[test]
fn the_first_element_of_each_name_along_the_path_namespaces_left_out() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Image xmlns="urn:a" xmlns:b="urn:b"><other><data><stage><X>9</X></stage></data></other>
<b:data q='>"'><stage><X>1.5</X><X>2</X></stage><stage><Y>3</Y></stage>
<shift>lead<_x>0.1</_x>tail</shift><b:shift/></b:data><data><stage><Y>4</Y></stage></data></Image>
"#;
    // Y is in the second <stage>: the first stage is the one taken, and it has none.
    assert_eq!(texts(xml), Ok(vec![some("1.5", false), None, some("lead", true), some("0.1", false)]));
    assert_eq!(texts("<Image/>"), Ok(vec![None, None, None, None]));
    assert_eq!(element_texts(b"<q:Other xmlns:q='u'/>", "Image", &PATHS).unwrap().root, "Other");
}

#[test]
fn references_cdata_comments_and_instructions_make_the_text_as_a_tree_has_it() {
    let xml = "\u{FEFF}<?xml version='1.0' encoding='utf-8'?>\r\n<!DOCTYPE Image SYSTEM 'x.dtd' [<!-- c -->]>\
               <Image a='&lt;&#x9;\t'><data><stage><X>&#49;<!-- x -->.<?pi x?>5&amp;&#x4E2D;<![CDATA[<&]]></X>\
               <Y>a\r\nb\rc&#13;</Y></stage></data></Image>";
    assert_eq!(texts(xml), Ok(vec![some("1.5&\u{4E2D}<&", false), some("a\nb\nc\r", false), None, None]));
    let latin = b"<?xml version='1.0' encoding='ISO-8859-1'?><Image><data><stage><X>\xe9</X></stage></data></Image>";
    assert_eq!(element_texts(latin, "Image", &PATHS).unwrap().found[0].as_ref().unwrap().text, "\u{e9}");
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend("<Image><data><stage><X>\u{e9}</X></stage></data></Image>".encode_utf16().flat_map(u16::to_le_bytes));
    assert_eq!(element_texts(&utf16, "Image", &PATHS).unwrap().found[0].as_ref().unwrap().text, "\u{e9}");
}

#[test]
fn a_broken_document_is_refused_with_expats_words_line_and_column() {
    // (each message checked against Python's ElementTree 3.11, expat 2.5.0)
    for (xml, expected) in [
        ("", "no element found: line 1, column 0"),
        ("<a></b>", "mismatched tag: line 1, column 5"),
        ("<a>\n<b>\n</c>", "mismatched tag: line 3, column 2"),
        ("\u{FEFF}<a></b>", "mismatched tag: line 1, column 6"),
        ("<a/>x", "junk after document element: line 1, column 4"),
        ("<a b='1' b='2'/>", "duplicate attribute: line 1, column 9"),
        ("<p:a/>", "unbound prefix: line 1, column 0"),
        ("<a>&foo;</a>", "undefined entity: line 1, column 3"),
        ("<a b='&foo;'/>", "undefined entity: line 1, column 0"),
        ("<a>&#0;</a>", "reference to invalid character number: line 1, column 3"),
        ("<a>&#12a;</a>", "not well-formed (invalid token): line 1, column 7"),
        ("<a>]]></a>", "not well-formed (invalid token): line 1, column 5"),
        ("<a><!-- -- --></a>", "not well-formed (invalid token): line 1, column 10"),
        ("<a><![CDATA[x", "unclosed CDATA section: line 1, column 13"),
        ("<a b='1", "unclosed token: line 1, column 0"),
        (" <?xml version='1.0'?><a/>", "XML or text declaration not at start of entity: line 1, column 1"),
        ("<?xml encoding='utf-8'?><a/>", "XML declaration not well-formed: line 1, column 6"),
        (
            "<?xml version='1.0' encoding='utf-16'?><a/>",
            "encoding specified in XML declaration is incorrect: line 1, column 30",
        ),
        ("<a xmlns:p=''/>", "must not undeclare prefix: line 1, column 0"),
        ("<a>\r\n\u{1}</a>", "not well-formed (invalid token): line 2, column 0"),
        ("<a>\u{FFFE}</a>", "not well-formed (invalid token): line 1, column 3"),
    ] {
        assert_eq!(element_texts(xml.as_bytes(), "a", &[]), Err(XmlError(expected.into())), "{xml:?}");
    }
    assert_eq!(
        element_texts(b"<a>\xff</a>", "a", &[]),
        Err(XmlError("not well-formed (invalid token): line 1, column 3".into()))
    );
}

#[test]
fn what_is_refused_by_design_says_so() {
    for xml in [
        &b"<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>"[..],
        b"<!DOCTYPE a [<!ATTLIST a b CDATA 'c'>]><a/>",
        b"<\0a\0/\0>\0",
        b"<?xml version='1.0' encoding='iso-8859-2'?><a>\xe9</a>",
        b"<?xml version='1.0' encoding='utfm16'?><a/>",
    ] {
        let XmlError(message) = element_texts(xml, "a", &[]).unwrap_err();
        assert!(["this reader does not", "refused"].iter().any(|m| message.contains(m)), "{message}");
    }
}

#[test]
fn a_nul_before_a_document_is_no_utf16() {
    // Issue 99: "\0<a/>" was called UTF-16 without a byte-order mark; it is one NUL, then UTF-8.
    for xml in [&b"\0<a/>"[..], b"\0<\0"] {
        let XmlError(message) = element_texts(xml, "a", &[]).unwrap_err();
        assert!(!message.contains("UTF-16"), "{message}");
    }
    for xml in [&b"<\0a\0/\0>\0"[..], b"\0<\0a\0/\0>", b"<\0?\0x\0"] {
        assert!(element_texts(xml, "a", &[]).unwrap_err().0.starts_with("UTF-16 without a byte-order mark"));
    }
}

#[test]
fn files_read_on_every_core_and_those_that_are_no_regular_files_left() {
    let dir = std::env::temp_dir().join(format!("xml_texts_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.xml");
    std::fs::write(&good, "<Image><data><stage><X>1</X></stage></data></Image>").unwrap();
    let bad = dir.join("bad.xml");
    std::fs::write(&bad, "<Image>").unwrap();
    let files = [good, bad, dir.join("missing.xml"), dir.clone()];
    let found = element_texts_of_files(&files, "Image", &PATHS);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found[0].as_ref().unwrap().as_ref().unwrap().found[0].as_ref().unwrap().text, "1");
    assert_eq!(found[1], Some(Err(XmlError("no element found: line 1, column 7".into()))));
    assert!(found[2..].iter().all(Option::is_none));
}

/// One start tag of `count` attributes made by `attribute(k)`, then `tail` inside the tag.
fn crowded(count: usize, attribute: impl Fn(usize) -> String, tail: &str) -> String {
    let mut xml = String::from("<Image");
    for k in 0..count {
        xml.push(' ');
        xml.push_str(&attribute(k));
    }
    xml.push_str(tail);
    xml.push_str("><data><stage><X>7</X></stage></data></Image>");
    xml
}

#[test]
fn a_tag_of_100000_attributes_or_declarations_is_read_in_time_linear_in_it() {
    // Issue 99: each attribute was compared with every earlier one, each prefix looked up by a
    // scan; 100,000 attributes (a 1.5 MB file) never finished. Debug build: a generous bound.
    let started = std::time::Instant::now();
    let plain = crowded(100_000, |k| format!("attr{k}='{k}'"), "");
    assert!(plain.len() > 1_500_000);
    assert_eq!(texts(&plain), Ok(vec![some("7", false), None, None, None]));
    let declared = crowded(100_000, |k| format!("xmlns:p{k}='urn:{k}'"), "");
    assert_eq!(texts(&declared), Ok(vec![some("7", false), None, None, None]));
    let prefixed = crowded(
        101_000,
        |k| if k < 1000 { format!("xmlns:p{k}='urn:{k}'") } else { format!("p{}:a{k}='1'", k % 1000) },
        "",
    );
    assert_eq!(texts(&prefixed), Ok(vec![some("7", false), None, None, None]));
    assert!(started.elapsed().as_secs_f64() < 60.0, "{:?}", started.elapsed()); // (quadratic: hours)
}

#[test]
fn a_repeat_among_many_attributes_is_found_where_expat_finds_it() {
    // The column of the second a5 (hand-worked: "<Image" is 6, each " aK='K'" is 6 + 2 digits
    // of K for K < 10); a repeat by namespace (two prefixes bound to one URI) at the tag.
    let mut xml = crowded(40, |k| format!("a{k}='{k}'"), " a5='x'");
    let column = 6 + 10 * 7 + 30 * 9 + 1;
    assert_eq!(texts(&xml), Err(format!("duplicate attribute: line 1, column {column}")));
    xml = crowded(40, |k| format!("xmlns:p{k}='urn:same'"), " p3:x='1' p39:x='2'");
    assert_eq!(texts(&xml), Err("duplicate attribute: line 1, column 0".to_string()));
    xml = crowded(40, |k| format!("xmlns:p{k}='urn:{k}'"), " p3:x='1' p3:x='2'");
    let column = 6 + 10 * 17 + 30 * 19 + 10;
    assert_eq!(texts(&xml), Err(format!("duplicate attribute: line 1, column {column}")));
    // an unbound prefix after a namespace repeat: the repeat is the fault; before it, the prefix
    xml = crowded(40, |k| format!("xmlns:p{k}='urn:s'"), " p1:x='1' p2:x='2' q:y='3'");
    assert_eq!(texts(&xml), Err("duplicate attribute: line 1, column 0".to_string()));
    xml = crowded(40, |k| format!("xmlns:p{k}='urn:s'"), " q:y='3' p1:x='1' p2:x='2'");
    assert_eq!(texts(&xml), Err("unbound prefix: line 1, column 0".to_string()));
}
