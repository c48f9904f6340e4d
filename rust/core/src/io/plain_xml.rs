//! The texts of a few elements of a small XML document, found in one pass without building
//! its tree: EPU writes an XML of 10-25 KB per image, of which the metadata screen takes a
//! dozen numbers; building the whole tree cost Python twice as much as reading the file.
//!
//! Only *plain* documents are taken, and checked well-formed here: UTF-8 (declared or not),
//! ASCII names, and no DOCTYPE, comment, CDATA section, processing instruction (beside the
//! XML declaration), entity or character reference, control character or carriage return.
//! Those are what make an element's text differ from the bytes between its tags, and what
//! the rules below would have to know more of; EPU writes none of them. For any other
//! document, and for one that breaks a rule (not well-formed, an unbound prefix, a repeated
//! attribute), the answer is `None`: the caller then parses it with a full XML parser, which
//! takes it or says what is wrong with it. A document this module takes is one expat takes
//! too (tests/formats/test_microscope_plain.py compares the two on mutated files).
//!
//! An element is found as Python's `_child` finds it (cryodedup/formats/microscope.py):
//! along its path of local names (the prefix or namespace left out), the first child of each
//! name.

use memchr::{memchr, memchr2, memmem};
use rayon::prelude::*;
use std::path::Path;

/// A found element: its text before its first child (ElementTree's `.text`, `""` for none)
/// and whether it has children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementText {
    pub text: String,
    pub has_children: bool,
}

/// Namespace URIs no prefix may be bound to but their own (`xml`, `xmlns`).
const RESERVED_URIS: [&[u8]; 2] = [b"http://www.w3.org/XML/1998/namespace", b"http://www.w3.org/2000/xmlns/"];

/// The paths asked for, as a tree of local names: node 0 is the document's root element.
struct PathTree<'p> {
    name: Vec<&'p [u8]>,
    children: Vec<Vec<usize>>,
    answer: Vec<Option<usize>>,
}

impl<'p> PathTree<'p> {
    fn new(root: &'p str, paths: &[&'p str]) -> Self {
        let mut tree = PathTree { name: vec![root.as_bytes()], children: vec![vec![]], answer: vec![None] };
        for (k, path) in paths.iter().enumerate() {
            let mut node = 0;
            for step in path.split('/') {
                node = match tree.children[node].iter().find(|&&c| tree.name[c] == step.as_bytes()) {
                    Some(&c) => c,
                    None => {
                        tree.name.push(step.as_bytes());
                        tree.children.push(vec![]);
                        tree.answer.push(None);
                        let c = tree.name.len() - 1;
                        tree.children[node].push(c);
                        c
                    }
                };
            }
            tree.answer[node] = Some(k);
        }
        tree
    }
}

/// An open element: its name, the path node it is (None: not on a path asked for), which
/// of that node's children it has met (their first one is the one taken), whether it has a
/// child, and how many namespace prefixes it declared.
struct Open<'x> {
    name: &'x [u8],
    node: Option<usize>,
    met: Vec<bool>,
    has_child: bool,
    declared: usize,
}

/// A start tag: its name, its attributes (name, value) and whether it is empty (`<a/>`).
struct StartTag<'x> {
    name: &'x [u8],
    attributes: Vec<(&'x [u8], &'x [u8])>,
    empty: bool,
}

/// The elements at `paths` ("microscopeData/stage/Position/X": local names below the root),
/// each `None` when absent; `None` for the whole when the document is not plain, not
/// well-formed, or its root element's local name is not `root`.
pub fn element_texts(xml: &[u8], root: &str, paths: &[&str]) -> Option<Vec<Option<ElementText>>> {
    let start = plain(xml)?;
    let tree = PathTree::new(root, paths);
    let mut found: Vec<Option<(usize, usize, bool)>> = vec![None; paths.len()]; // text span, children
    let mut open: Vec<Open> = Vec::new();
    let mut prefixes: Vec<(&[u8], &[u8])> = Vec::new(); // (prefix, URI) in scope, innermost last
    let mut had_root = false;
    let mut pos = start;
    while let Some(lt) = memchr(b'<', &xml[pos..]) {
        let text = &xml[pos..pos + lt];
        match open.last() {
            None if !text.iter().all(|b| b" \t\n".contains(b)) => return None,
            Some(Open { node: Some(node), has_child: false, .. }) => {
                if let Some(k) = tree.answer[*node] {
                    found[k].as_mut()?.1 = pos + lt;
                }
            }
            _ => {}
        }
        pos += lt + 1;
        if xml.get(pos) == Some(&b'/') {
            let end = pos + 1 + memchr(b'>', &xml[pos + 1..])?;
            let closed = open.pop()?;
            if xml[pos + 1..end].trim_ascii_end() != closed.name {
                return None;
            }
            prefixes.truncate(prefixes.len() - closed.declared);
            pos = end + 1;
            continue;
        }
        if had_root && open.is_empty() {
            return None; // a second root element
        }
        let (tag, end) = start_tag(xml, pos)?;
        let declared = declare(&tag, &mut prefixes)?;
        let local = bound_local(tag.name, &prefixes, false)?;
        let mut namespaced = Vec::new(); // local parts of the prefixed attributes: none twice
        for (name, _) in &tag.attributes {
            let local = bound_local(name, &prefixes, true)?;
            if name.len() > local.len() && !name.starts_with(b"xmlns:") {
                if namespaced.contains(&local) {
                    return None;
                }
                namespaced.push(local);
            }
        }
        let node = match open.last_mut() {
            None => {
                had_root = true;
                (local == tree.name[0]).then_some(0)
            }
            Some(parent) => {
                parent.has_child = true;
                if let Some(k) = parent.node.and_then(|n| tree.answer[n]) {
                    found[k].as_mut()?.2 = true;
                }
                parent.node.and_then(|n| {
                    let at = tree.children[n].iter().position(|&c| tree.name[c] == local)?;
                    (!std::mem::replace(&mut parent.met[at], true)).then_some(tree.children[n][at])
                })
            }
        };
        if open.is_empty() && node.is_none() {
            return None; // another root: the caller's parser names it
        }
        if let Some(k) = node.and_then(|n| tree.answer[n]) {
            found[k] = Some((end + 1, end + 1, false));
        }
        if tag.empty {
            prefixes.truncate(prefixes.len() - declared);
        } else {
            let met = vec![false; node.map_or(0, |n| tree.children[n].len())];
            open.push(Open { name: tag.name, node, met, has_child: false, declared });
        }
        pos = end + 1;
    }
    if !had_root || !open.is_empty() || !xml[pos..].iter().all(|b| b" \t\n".contains(b)) {
        return None;
    }
    found
        .into_iter()
        .map(|f| match f {
            None => Some(None),
            Some((from, to, has_children)) => {
                Some(Some(ElementText { text: std::str::from_utf8(&xml[from..to]).ok()?.to_string(), has_children }))
            }
        })
        .collect()
}

/// [`element_texts`] of each file, read on every core; `None` for a file that is not a
/// regular file (a FIFO would block the read), cannot be read, or is not plain: the caller
/// reads that one itself and says what is wrong.
pub fn element_texts_of_files<P: AsRef<Path> + Sync>(
    files: &[P],
    root: &str,
    paths: &[&str],
) -> Vec<Option<Vec<Option<ElementText>>>> {
    files
        .par_iter()
        .map(|file| {
            let file = file.as_ref();
            if !std::fs::metadata(file).ok()?.is_file() {
                return None;
            }
            element_texts(&std::fs::read(file).ok()?, root, paths)
        })
        .collect()
}

/// Where the content starts (after the XML declaration, if any), when the document is plain:
/// UTF-8, no byte below 0x20 but tab and line feed, no U+FFFE or U+FFFF, no `&`, `<!`, `]]>`
/// and no `<?` beside the declaration.
fn plain(xml: &[u8]) -> Option<usize> {
    std::str::from_utf8(xml).ok()?;
    if xml.iter().any(|&b| b < 0x20 && b != b'\t' && b != b'\n')
        || memchr(b'&', xml).is_some()
        || [&b"<!"[..], b"]]>", b"\xEF\xBF\xBE", b"\xEF\xBF\xBF"].iter().any(|s| memmem::find(xml, s).is_some())
    {
        return None;
    }
    let start = declaration_end(xml)?;
    memmem::find(&xml[start..], b"<?").is_none().then_some(start)
}

/// The end of an XML declaration `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`
/// (each part but the version optional, the encoding UTF-8 alone), 0 without one; None for
/// any other declaration.
fn declaration_end(xml: &[u8]) -> Option<usize> {
    if !xml.starts_with(b"<?xml") {
        return Some(0);
    }
    let end = memmem::find(xml, b"?>")?;
    let mut rest = &xml[5..end];
    for (key, allowed) in [("version", &["1.0"][..]), ("encoding", &["utf-8"]), ("standalone", &["yes", "no"])] {
        let after_space = rest.trim_ascii_start();
        if after_space.len() == rest.len() || !after_space.starts_with(key.as_bytes()) {
            if key == "version" {
                return None;
            }
            continue;
        }
        let after_key = after_space[key.len()..].trim_ascii_start().strip_prefix(b"=")?.trim_ascii_start();
        let quote = *after_key.first().filter(|q| **q == b'"' || **q == b'\'')?;
        let close = memchr(quote, &after_key[1..])? + 1;
        if !allowed.iter().any(|a| after_key[1..close].eq_ignore_ascii_case(a.as_bytes())) {
            return None;
        }
        rest = &after_key[close + 1..];
    }
    rest.iter().all(|b| b" \t\n".contains(b)).then_some(end + 2)
}

/// The start tag whose name begins at `from` (after its `<`), and the position of its `>`.
fn start_tag(xml: &[u8], from: usize) -> Option<(StartTag<'_>, usize)> {
    let name_end = from + xml[from..].iter().position(|b| b" \t\n/>".contains(b))?;
    let name = &xml[from..name_end];
    qualified(name)?;
    let mut tag = StartTag { name, attributes: Vec::new(), empty: false };
    let mut at = name_end;
    loop {
        let spaced = xml[at..].iter().take_while(|b| b" \t\n".contains(b)).count();
        at += spaced;
        match xml.get(at)? {
            b'>' => return Some((tag, at)),
            b'/' if xml.get(at + 1) == Some(&b'>') => {
                tag.empty = true;
                return Some((tag, at + 1));
            }
            _ if spaced == 0 => return None, // attributes are separated by white space
            _ => {}
        }
        let eq = at + memchr(b'=', &xml[at..])?;
        let attribute = xml[at..eq].trim_ascii_end();
        qualified(attribute)?;
        let value_at = eq + 1 + xml[eq + 1..].iter().take_while(|b| b" \t\n".contains(b)).count();
        let quote = *xml.get(value_at).filter(|q| **q == b'"' || **q == b'\'')?;
        let close = value_at + 1 + memchr2(quote, b'<', &xml[value_at + 1..])?;
        if xml[close] != quote || tag.attributes.iter().any(|(a, _)| *a == attribute) {
            return None;
        }
        tag.attributes.push((attribute, &xml[value_at + 1..close]));
        at = close + 1;
    }
}

/// The prefix (if any) and local part of an ASCII qualified name (`a:b` or `b`).
fn qualified(name: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    let nc_name = |part: &[u8]| {
        part.first().is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
            && part.iter().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(b))
    };
    match memchr(b':', name) {
        None => nc_name(name).then_some((None, name)),
        Some(c) => (nc_name(&name[..c]) && nc_name(&name[c + 1..])).then_some((Some(&name[..c]), &name[c + 1..])),
    }
}

/// Pushes the prefixes the tag declares (`xmlns:p="URI"`) and returns how many; None for a
/// declaration expat refuses or this module does not take (a reserved prefix or URI, an
/// empty URI for a prefix, a URI holding `}`: ElementTree's expat separates the URI from the
/// local name with it, and refuses the document).
fn declare<'x>(tag: &StartTag<'x>, prefixes: &mut Vec<(&'x [u8], &'x [u8])>) -> Option<usize> {
    let mut count = 0;
    for &(name, value) in &tag.attributes {
        let (prefix, local) = qualified(name)?;
        let declared = match prefix {
            Some(b"xmlns") => local,
            None if local == b"xmlns" => b"",
            _ => continue,
        };
        if RESERVED_URIS.contains(&value)
            || declared.len() >= 3 && declared[..3].eq_ignore_ascii_case(b"xml")
            || (!declared.is_empty() && value.is_empty())
            || value.contains(&b'}')
        {
            return None;
        }
        prefixes.push((declared, value));
        count += 1;
    }
    Some(count)
}

/// The local part of an element's or attribute's name whose prefix is bound (attributes:
/// `xmlns`, `xmlns:p` and `xml:` are always); None for an unbound prefix.
fn bound_local<'x>(name: &'x [u8], prefixes: &[(&[u8], &[u8])], attribute: bool) -> Option<&'x [u8]> {
    let (prefix, local) = qualified(name)?;
    match prefix {
        None => Some(local),
        Some(b"xmlns") if attribute => Some(local),
        Some(b"xml") if attribute => Some(local),
        Some(b"xml" | b"xmlns") => None,
        Some(p) => prefixes.iter().rev().find(|(q, _)| *q == p).map(|_| local),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATHS: [&str; 4] = ["data/stage/X", "data/stage/Y", "data/shift", "data/shift/_x"];

    fn texts(xml: &str) -> Option<Vec<Option<(String, bool)>>> {
        let found = element_texts(xml.as_bytes(), "Image", &PATHS)?;
        Some(found.into_iter().map(|f| f.map(|e| (e.text, e.has_children))).collect())
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
        assert_eq!(texts(xml), Some(vec![some("1.5", false), None, some("lead", true), some("0.1", false)]));
    }

    #[test]
    fn empty_elements_and_missing_ones() {
        assert_eq!(
            texts("<Image><data><stage><X/></stage><shift></shift></data></Image>"),
            Some(vec![some("", false), None, some("", false), None])
        );
        assert_eq!(texts("<Image/>"), Some(vec![None, None, None, None]));
    }

    #[test]
    fn documents_that_are_not_plain_or_not_well_formed_are_left_to_the_parser() {
        for xml in [
            "<Image><data><stage><X>1&#48;</X></stage></data></Image>",
            "<Image><!-- c --></Image>",
            "<!DOCTYPE Image><Image/>",
            "<Image><![CDATA[x]]></Image>",
            "<Image>]]></Image>",
            "<Image><?pi x?></Image>",
            "<Image>\r\n</Image>",
            "<Image>\u{1}</Image>",
            "<Image>\u{FFFE}</Image>",
            "<?xml version='1.0' encoding='latin-1'?><Image/>",
            "<?xml encoding='utf-8'?><Image/>",
            "<?xml version='1.0' standalone='maybe'?><Image/>",
            "<?xml version='1.0'?> <?xml version='1.0'?><Image/>",
            " <?xml version='1.0'?><Image/>",
            "\u{FEFF}<Image/>",
            "<Other/>",
            "<Image/><Image/>",
            "<Image/>x",
            "x<Image/>",
            "<Image><data>",
            "<Image></Imagex>",
            "<Image><a></b></Image>",
            "<Image a='1></Image>",
            "<Image a='<'/>",
            "<Image a='1'b='2'/>",
            "<Image a='1' a='2'/>",
            "<Image a=1/>",
            "<Image 1a='1'/>",
            "<Image a:b:c='1'/>",
            "<q:Image/>",
            "<Image><q:data/></Image>",
            "<Image xmlns:p='urn:p' p:a='1' xmlns:q='urn:p' q:a='2'/>",
            "<Image xmlns:p=''/>",
            "<Image xmlns:p='urn:}'/>",
            "<Image xmlns='a}b'/>",
            "<Image xmlns:xml='urn:x'/>",
            "<Image xmlns='http://www.w3.org/2000/xmlns/'/>",
            "<xmlns:Image/>",
            "<Image \u{e9}='1'/>",
            "<Image\u{e9}/>",
            "<Image>\0</Image>",
            "",
        ] {
            assert_eq!(texts(xml), None, "{xml:?}");
        }
    }

    #[test]
    fn files_read_on_every_core_and_those_that_are_no_plain_files_left() {
        let dir = std::env::temp_dir().join(format!("plain_xml_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = dir.join("plain.xml");
        std::fs::write(&plain, "<Image><data><stage><X>1</X></stage></data></Image>").unwrap();
        let comment = dir.join("comment.xml");
        std::fs::write(&comment, "<Image><!-- --></Image>").unwrap();
        let files = [plain, comment, dir.join("missing.xml"), dir.clone()];
        let found = element_texts_of_files(&files, "Image", &PATHS);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 4);
        assert_eq!(found[0].as_ref().unwrap()[0], Some(ElementText { text: "1".into(), has_children: false }));
        assert!(found[1..].iter().all(Option::is_none));
    }

    #[test]
    fn plain_documents_that_are_taken() {
        for xml in [
            "<?xml version=\"1.0\"?>\n<Image/>",
            "<?xml version='1.0' encoding='utf-8' ?><Image/>",
            "<?xml version='1.0' encoding='UTF-8' standalone='no'?><Image/>",
            "\n\t <Image a = '1' b=\"'>\" xml:lang='en' xmlns:p='urn:p' p:c='x'\n/>\n",
            "<Image xmlns=''><p:data xmlns:p='urn:p'/><data></data ></Image>",
            "<Image>\u{e9}\u{4e2d}></Image>",
        ] {
            assert_eq!(texts(xml), Some(vec![None, None, None, None]), "{xml:?}");
        }
    }
}
