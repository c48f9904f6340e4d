//! The texts of a few elements of a small XML document, found in one pass without building
//! its tree: EPU writes an XML of 10-25 KB per image, of which the metadata screen takes a
//! dozen numbers; building ElementTree's tree cost Python twice as much as reading the file.
//!
//! This is cryodedup's one XML reader (issue 92). It reads what XML 1.0 with namespaces asks
//! a non-validating reader to take: an XML declaration and its encoding (UTF-8 with or
//! without a byte-order mark, UTF-16 with one, ISO-8859-1; any other encoding only when the
//! bytes are ASCII), CR and CRLF line ends, the five named entity references and character
//! references in text and attribute values, comments, CDATA sections, processing
//! instructions, and a DOCTYPE, skipped (its external subset is never read; a declaration in
//! its internal subset is refused: an entity would change the texts). A document that is not
//! well-formed is refused with expat's message, line and column (`mismatched tag: line 3,
//! column 5`), so that the error is the one ElementTree gave: tests/formats/test_xml_oracle.py
//! compares the two on real, synthetic, mutated and generated files.
//!
//! An element is found as Python's `_child` finds it (cryodedup/formats/microscope.py):
//! along its path of local names (the prefix or namespace left out), the first child of each
//! name; its text is ElementTree's `.text` (what comes before its first child, references
//! replaced, CDATA's content kept, comments and processing instructions left out).

mod decode;

use decode::{decode, first_not_a_character, located, Decoded};
use memchr::{memchr, memchr3, memmem};
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::path::Path;

/// A found element: its text before its first child (ElementTree's `.text`, `""` for none)
/// and whether it has children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementText {
    pub text: String,
    pub has_children: bool,
}

/// A document read: its root element's local name and the elements asked for (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub root: String,
    pub found: Vec<Option<ElementText>>,
}

/// Why a document is refused, in one line: expat's words, then where (`line L, column C`,
/// the line from 1, the column in characters from 0, as expat counts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const INVALID: &str = "not well-formed (invalid token)";
const SYNTAX: &str = "syntax error";
const UNCLOSED: &str = "unclosed token";
const NO_ELEMENT: &str = "no element found";
const JUNK: &str = "junk after document element";
const MISMATCHED: &str = "mismatched tag";
const DUPLICATE: &str = "duplicate attribute";
const UNBOUND: &str = "unbound prefix";
const UNDEFINED: &str = "undefined entity";
const BAD_CHARACTER: &str = "reference to invalid character number";
const MISPLACED_DECLARATION: &str = "XML or text declaration not at start of entity";
const BAD_DECLARATION: &str = "XML declaration not well-formed";
const WRONG_ENCODING: &str = "encoding specified in XML declaration is incorrect";
const UNCLOSED_CDATA: &str = "unclosed CDATA section";
const XML_NS: &[u8] = b"http://www.w3.org/XML/1998/namespace";
const XMLNS_NS: &[u8] = b"http://www.w3.org/2000/xmlns/";

/// A refusal at a byte offset of the decoded text; `eof`: the text ended before the token did.
#[derive(Debug)]
struct Fail {
    at: usize,
    what: Cow<'static, str>,
    eof: bool,
}

type Step<T> = Result<T, Fail>;

fn fail<T>(at: usize, what: &'static str) -> Step<T> {
    Err(Fail { at, what: Cow::Borrowed(what), eof: false })
}

fn ended<T>(at: usize, what: &'static str) -> Step<T> {
    Err(Fail { at, what: Cow::Borrowed(what), eof: true })
}

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

/// An open element: where its name is, the path node it is (None: not on a path asked for),
/// which of that node's children it has met (their first one is the one taken), the answer
/// whose text it still collects (until its first child), and how many prefixes it declared.
struct Open {
    name: (usize, usize),
    node: Option<usize>,
    met: Vec<bool>,
    collect: Option<usize>,
    declared: usize,
}

/// The prefixes in scope: each prefix's bindings, innermost last, and the prefixes in the order
/// they were declared (an element's end unbinds the ones it declared). A look-up is a hash, not a
/// scan of every declaration in scope: a tag of 100,000 declarations and as many prefixed
/// attributes was quadratic (issue 99).
#[derive(Default)]
struct Scope<'x> {
    bound: HashMap<&'x [u8], Vec<Cow<'x, str>>>,
    order: Vec<&'x [u8]>,
}

impl<'x> Scope<'x> {
    fn bind(&mut self, prefix: &'x [u8], uri: Cow<'x, str>) {
        self.bound.entry(prefix).or_default().push(uri);
        self.order.push(prefix);
    }

    /// Undoes the last `count` bindings.
    fn unbind(&mut self, count: usize) {
        for _ in 0..count {
            let prefix = self.order.pop().expect("an element unbinds only what it bound");
            let uris = self.bound.get_mut(prefix).expect("a bound prefix has its bindings");
            uris.pop();
            if uris.is_empty() {
                self.bound.remove(prefix);
            }
        }
    }

    fn uri(&self, prefix: &[u8]) -> Option<&str> {
        self.bound.get(prefix).and_then(|uris| uris.last()).map(Cow::as_ref)
    }
}

/// The first item equal to an earlier one: a scan for a few items (most tags have fewer than
/// ten attributes), a hash set past that, so that a tag's check is linear in its attributes.
fn first_repeat<T: Eq + Hash + Copy>(items: impl ExactSizeIterator<Item = T>) -> Option<usize> {
    const SCANNED: usize = 16;
    if items.len() <= SCANNED {
        let mut seen: Vec<T> = Vec::with_capacity(SCANNED);
        for (k, item) in items.enumerate() {
            if seen.contains(&item) {
                return Some(k);
            }
            seen.push(item);
        }
        return None;
    }
    let mut seen = HashSet::with_capacity(items.len());
    items.enumerate().find(|&(_, item)| !seen.insert(item)).map(|(k, _)| k)
}

/// An attribute of a start tag: its name (start, end, colon), its value, and the first fault
/// of its value's references (an undefined entity, a character XML does not allow), which
/// expat reports only once the tag is read whole.
struct Attribute<'x> {
    name: (usize, usize, Option<usize>),
    value: Cow<'x, str>,
    fault: Option<Fail>,
}

/// The elements at `paths` ("microscopeData/stage/Position/X": local names below the root
/// element, when its local name is `root`), each `None` when absent; an error when the
/// document is not well-formed or not taken (an encoding not decoded, a declaration in the DOCTYPE).
pub fn element_texts(xml: &[u8], root: &str, paths: &[&str]) -> Result<Document, XmlError> {
    let Decoded { text, mark, ascii } = decode(xml)?;
    let cut = first_not_a_character(&text, ascii);
    let tree = PathTree::new(root, paths);
    let mut reader =
        Reader { s: &text[..cut], pos: 0, tree, found: vec![None; paths.len()], root: None, external: false };
    let outcome = reader.document();
    let at = match outcome {
        Ok(()) if cut == text.len() => {
            let root = String::from_utf8_lossy(reader.root.unwrap_or_default()).into_owned();
            return Ok(Document { root, found: reader.found });
        }
        Ok(()) => cut,
        Err(f) if cut < text.len() && (f.eof || f.at >= cut) => cut,
        Err(f) => return Err(located(&text, mark, f.at, &f.what)),
    };
    Err(located(&text, mark, at, INVALID))
}

/// [`element_texts`] of each file, read on every core; `None` for a file that is not a
/// regular file (a FIFO would block the read) or cannot be read: the caller says why.
pub fn element_texts_of_files<P: AsRef<Path> + Sync>(
    files: &[P],
    root: &str,
    paths: &[&str],
) -> Vec<Option<Result<Document, XmlError>>> {
    files
        .par_iter()
        .map(|file| {
            let file = file.as_ref();
            if !std::fs::metadata(file).ok()?.is_file() {
                return None;
            }
            Some(element_texts(&std::fs::read(file).ok()?, root, paths))
        })
        .collect()
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t' || b == b'\n'
}

/// Whether `c` may start (or, `start` false, continue) a name without a colon. ASCII, the
/// middle dot, and the letters of Latin-1, Latin Extended, Greek, Cyrillic, kana, CJK and
/// Hangul that XML 1.0's first edition (expat's tables) names letters; any other character
/// in a name is refused (a name EPU never writes).
fn is_name_char(c: char, start: bool) -> bool {
    let letter = |c: char| {
        c.is_ascii_alphabetic()
            || c == '_'
            || matches!(c as u32,
                0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0x131 | 0x134..=0x13E | 0x141..=0x148 | 0x14A..=0x17E
                | 0x180..=0x1C3 | 0x1CD..=0x1F0 | 0x1F4..=0x1F5 | 0x1FA..=0x217 | 0x386 | 0x388..=0x38A | 0x38C
                | 0x38E..=0x3A1 | 0x3A3..=0x3CE | 0x401..=0x40C | 0x40E..=0x44F | 0x3041..=0x3094
                | 0x30A1..=0x30FA | 0x4E00..=0x9FA5 | 0xAC00..=0xD7A3)
    };
    letter(c) || !start && (c.is_ascii_digit() || c == '-' || c == '.' || c == '\u{B7}')
}

/// A letter or digit beyond the name tables above is refused as such (expat may take it);
/// any other character ends the name.
fn untabled(c: char, at: usize) -> Step<()> {
    if c.is_ascii() || !c.is_alphanumeric() {
        return Ok(());
    }
    let what = format!("a name holding {c} (U+{:04X}), a letter which this reader does not take", c as u32);
    Err(Fail { at, what: what.into(), eof: false })
}

struct Reader<'x, 'p> {
    s: &'x [u8],
    pos: usize,
    tree: PathTree<'p>,
    found: Vec<Option<ElementText>>,
    root: Option<&'x [u8]>,
    /// Whether the DOCTYPE names an external subset (never read): ElementTree's own message
    /// then names an undefined entity.
    external: bool,
}

impl<'x> Reader<'x, '_> {
    fn at(&self, k: usize) -> Option<u8> {
        self.s.get(k).copied()
    }

    fn starts(&self, k: usize, with: &[u8]) -> bool {
        self.s.get(k..).is_some_and(|rest| rest.starts_with(with))
    }

    fn char_at(&self, k: usize) -> Option<(char, usize)> {
        let b = self.at(k)?;
        if b < 0x80 {
            return Some((b as char, 1));
        }
        let len = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        };
        let c = std::str::from_utf8(self.s.get(k..k + len)?).ok()?.chars().next()?;
        Some((c, len))
    }

    fn skip_space(&mut self) -> usize {
        let from = self.pos;
        while self.at(self.pos).is_some_and(is_space) {
            self.pos += 1;
        }
        self.pos - from
    }

    /// The end of a name without a colon at `k`; an error at the first character that cannot start it.
    fn nc_name(&self, k: usize, token: usize) -> Step<usize> {
        match self.char_at(k) {
            None => ended(token, UNCLOSED),
            Some((c, n)) if is_name_char(c, true) => {
                let mut end = k + n;
                while let Some((c, n)) = self.char_at(end) {
                    if !is_name_char(c, false) {
                        return untabled(c, end).map(|()| end);
                    }
                    end += n;
                }
                Ok(end)
            }
            Some((c, _)) => untabled(c, k).and_then(|()| fail(k, INVALID)),
        }
    }

    /// A qualified name at `k` (`p:local` or `local`): its end and its colon; `token`: where the
    /// token began (an unfinished one is reported there).
    fn q_name(&self, k: usize, token: usize) -> Step<(usize, Option<usize>)> {
        let end = self.nc_name(k, token)?;
        if self.at(end) != Some(b':') {
            return Ok((end, None));
        }
        let local_end = self.nc_name(end + 1, token)?;
        if self.at(local_end) == Some(b':') {
            return fail(local_end, INVALID);
        }
        Ok((local_end, Some(end)))
    }

    /// The end of an end tag's name at `k`: expat reads it as a name with any colons, and
    /// compares it with the start tag's as it is written.
    fn end_tag_name(&self, k: usize, token: usize) -> Step<usize> {
        let mut end = self.nc_name(k, token)?;
        while self.at(end) == Some(b':') {
            end += 1;
            while let Some((_, n)) = self.char_at(end).filter(|(c, _)| is_name_char(*c, false) || *c == ':') {
                end += n;
            }
        }
        Ok(end)
    }

    fn document(&mut self) -> Step<()> {
        self.declaration()?;
        let mut doctype = false;
        loop {
            self.skip_space();
            let here = self.pos;
            match self.at(here) {
                None => return ended(here, NO_ELEMENT),
                Some(b'<') => {}
                Some(_) => return self.prolog_junk(here),
            }
            if self.at(here + 1) == Some(b'/') {
                return fail(here + 1, INVALID);
            }
            if self.starts(here, b"<!DOCTYPE") {
                if doctype {
                    return fail(here, SYNTAX);
                }
                doctype = true;
                self.doctype()?;
            } else if !self.misc()? {
                if self.at(here + 1) == Some(b'!') {
                    return fail(here + 2, INVALID);
                }
                break;
            }
        }
        self.element()?;
        loop {
            self.skip_space();
            match self.at(self.pos) {
                None => return Ok(()),
                Some(b'<')
                    if self.starts(self.pos, b"<?xml")
                        && self.at(self.pos + 5).is_none_or(|b| is_space(b) || b == b'?') =>
                {
                    return fail(self.pos, JUNK)
                }
                Some(b'<') if self.misc()? => {}
                Some(b'<') if self.at(self.pos + 1) == Some(b'/') => return fail(self.pos + 1, INVALID),
                Some(_) => return fail(self.pos, JUNK),
            }
        }
    }

    /// What expat says of text before the root element: a token of the DOCTYPE's syntax
    /// (a name, a bracket) is a syntax error, anything else an invalid token.
    fn prolog_junk(&self, here: usize) -> Step<()> {
        if let Ok(end) = self.nc_name(here, here) {
            return match self.at(end) {
                None => ended(here, NO_ELEMENT),
                Some(b) if is_space(b) || b"[>%".contains(&b) => fail(here, SYNTAX),
                Some(_) => fail(end, INVALID),
            };
        }
        match self.s[here] {
            b'>' | b'[' | b']' | b'(' | b')' | b'|' | b',' | b'"' | b'\'' | b'%' | b'*' | b'+' | b'?' => {
                fail(here, SYNTAX)
            }
            _ => fail(here, INVALID),
        }
    }

    /// A comment or processing instruction at `<`; false (nothing read) for anything else.
    fn misc(&mut self) -> Step<bool> {
        let here = self.pos;
        if self.starts(here, b"<!--") {
            self.comment()?;
        } else if self.at(here + 1) == Some(b'?') {
            self.processing_instruction()?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// `<?xml version="1.0" encoding="..." standalone="yes"?>` at the start, if there.
    fn declaration(&mut self) -> Step<()> {
        if !self.starts(0, b"<?xml") || !self.at(5).is_some_and(|b| is_space(b) || b == b'?') {
            return Ok(());
        }
        let Some(end) = memmem::find(self.s, b"?>") else { return ended(0, UNCLOSED) };
        self.pos = 5;
        let mut seen = 0;
        loop {
            let spaced = self.skip_space();
            if self.pos == end {
                break;
            }
            let key_end = self.pos + self.s[self.pos..end].iter().take_while(|b| b.is_ascii_alphabetic()).count();
            let order =
                ["version", "encoding", "standalone"].iter().position(|k| k.as_bytes() == &self.s[self.pos..key_end]);
            let Some(order) = order.filter(|&o| spaced > 0 && o >= seen && (o == 0) == (seen == 0)) else {
                return fail(self.pos, BAD_DECLARATION);
            };
            seen = order + 1;
            self.pos = key_end;
            self.skip_space();
            if self.at(self.pos) != Some(b'=') {
                return fail(self.pos, BAD_DECLARATION);
            }
            self.pos += 1;
            self.skip_space();
            let quote = self.at(self.pos).filter(|q| *q == b'"' || *q == b'\'');
            let Some(close) = quote.and_then(|q| memchr(q, &self.s[self.pos + 1..end])) else {
                return fail(self.pos, BAD_DECLARATION);
            };
            let value = &self.s[self.pos + 1..self.pos + 1 + close];
            let good = match order {
                0 => !value.is_empty() && value.iter().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(b)),
                1 => {
                    value.first().is_some_and(u8::is_ascii_alphabetic)
                        && value.iter().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(b))
                }
                _ => value == b"yes" || value == b"no",
            };
            if !good {
                return fail(self.pos + 1, BAD_DECLARATION);
            }
            self.pos += close + 2;
        }
        if seen == 0 {
            return fail(self.pos, BAD_DECLARATION);
        }
        self.pos = end + 2;
        Ok(())
    }

    fn comment(&mut self) -> Step<()> {
        let start = self.pos;
        let from = start + 4;
        let Some(dashes) = memmem::find(&self.s[from..], b"--") else { return ended(start, UNCLOSED) };
        let after = from + dashes + 2;
        match self.at(after) {
            Some(b'>') => {
                self.pos = after + 1;
                Ok(())
            }
            None => ended(start, UNCLOSED),
            Some(_) => fail(after, INVALID),
        }
    }

    fn processing_instruction(&mut self) -> Step<()> {
        let start = self.pos;
        let target_end = self.nc_name(start + 2, start)?;
        let target = &self.s[start + 2..target_end];
        if target == b"xml" {
            return fail(start, MISPLACED_DECLARATION);
        }
        if target.eq_ignore_ascii_case(b"xml") {
            return fail(target_end, INVALID);
        }
        if !self.starts(target_end, b"?>") {
            match self.at(target_end) {
                None => return ended(start, UNCLOSED),
                Some(b) if !is_space(b) => return fail(target_end, INVALID),
                _ => {}
            }
        }
        let Some(close) = memmem::find(&self.s[target_end..], b"?>") else { return ended(start, UNCLOSED) };
        self.pos = target_end + close + 2;
        Ok(())
    }

    /// `<!DOCTYPE name SYSTEM "..." [ ... ]>`, skipped; a declaration in its internal subset refused.
    fn doctype(&mut self) -> Step<()> {
        self.pos += 9;
        if self.skip_space() == 0 {
            return self.doctype_fail(self.pos);
        }
        self.pos = self.q_name(self.pos, self.pos).or_else(|f| self.doctype_fail(f.at))?.0;
        let spaced = self.skip_space();
        for (keyword, literals) in [(&b"SYSTEM"[..], 1), (b"PUBLIC", 2)] {
            if spaced > 0 && self.starts(self.pos, keyword) {
                self.external = true;
                self.pos += keyword.len();
                for _ in 0..literals {
                    if self.skip_space() == 0 {
                        return self.doctype_fail(self.pos);
                    }
                    let quote = self.at(self.pos).filter(|q| *q == b'"' || *q == b'\'');
                    let Some(q) = quote else { return self.doctype_fail(self.pos) };
                    let Some(close) = memchr(q, &self.s[self.pos + 1..]) else {
                        return ended(self.s.len(), NO_ELEMENT);
                    };
                    self.pos += close + 2;
                }
                self.skip_space();
            }
        }
        if self.at(self.pos) == Some(b'[') {
            self.pos += 1;
            self.internal_subset()?;
            self.skip_space();
        }
        match self.at(self.pos) {
            Some(b'>') => {
                self.pos += 1;
                Ok(())
            }
            _ => self.doctype_fail(self.pos),
        }
    }

    fn doctype_fail<T>(&self, at: usize) -> Step<T> {
        if at >= self.s.len() {
            return ended(self.s.len(), NO_ELEMENT);
        }
        fail(at, SYNTAX)
    }

    fn internal_subset(&mut self) -> Step<()> {
        loop {
            self.skip_space();
            let here = self.pos;
            match self.at(here) {
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'<') if self.starts(here, b"<!--") => self.comment()?,
                Some(b'<') if self.at(here + 1) == Some(b'?') => self.processing_instruction()?,
                Some(b'<') if self.starts(here, b"<!ENTITY") => {
                    return Err(Fail {
                        at: here,
                        what: "an entity declaration (<!ENTITY) in the DOCTYPE, refused (entities are not expanded)"
                            .into(),
                        eof: false,
                    })
                }
                Some(b'<' | b'%') => {
                    let end = here + self.s[here..].iter().take_while(|b| !is_space(**b) && **b != b'>').count();
                    let what = String::from_utf8_lossy(&self.s[here..end.min(here + 12)]).into_owned();
                    return Err(Fail {
                        at: here,
                        what: format!("a declaration ({what}) in the DOCTYPE, which this reader does not take").into(),
                        eof: false,
                    });
                }
                _ => return self.doctype_fail(here),
            }
        }
    }

    /// The root element and all it holds, read without recursion.
    fn element(&mut self) -> Step<()> {
        let mut open: Vec<Open> = Vec::new();
        let mut prefixes = Scope::default();
        loop {
            if let Some(top) = open.last() {
                self.content(top.collect)?;
            }
            let here = self.pos;
            if self.at(here + 1) == Some(b'/') {
                let end = self.end_tag_name(here + 2, here)?;
                self.pos = end;
                self.skip_space();
                match self.at(self.pos) {
                    Some(b'>') => {}
                    None => return ended(here, UNCLOSED),
                    Some(_) => return fail(self.pos, INVALID),
                }
                let closed = open.pop().expect("content stops at an end tag only inside an element");
                if self.s[here + 2..end] != self.s[closed.name.0..closed.name.1] {
                    return fail(here + 2, MISMATCHED);
                }
                prefixes.unbind(closed.declared);
                self.pos += 1;
                if open.is_empty() {
                    return Ok(());
                }
                continue;
            }
            if self.starts(here, b"<![CDATA[") {
                let from = here + 9;
                let Some(close) = memmem::find(&self.s[from..], b"]]>") else {
                    return ended(self.s.len(), UNCLOSED_CDATA);
                };
                if let Some(k) = open.last().and_then(|o| o.collect) {
                    self.push_text(k, from, from + close);
                }
                self.pos = from + close + 3;
                continue;
            }
            if self.misc()? {
                continue;
            }
            if self.at(here + 1) == Some(b'!') {
                let rest = &self.s[here..];
                if b"<!--".starts_with(rest) || b"<![CDATA[".starts_with(rest) {
                    return ended(here, UNCLOSED);
                }
                return fail(here + 2, INVALID);
            }
            let (element, empty) = self.start_tag(&mut prefixes, open.last_mut())?;
            if empty {
                prefixes.unbind(element.declared);
                if open.is_empty() {
                    return Ok(());
                }
            } else {
                open.push(element);
            }
        }
    }

    fn push_text(&mut self, k: usize, from: usize, to: usize) {
        if let Some(found) = self.found[k].as_mut() {
            found.text.push_str(std::str::from_utf8(&self.s[from..to]).expect("the text is UTF-8 up to its cut"));
        }
    }

    /// Character data up to the next `<` (the text of the answer `collect` gathered).
    fn content(&mut self, collect: Option<usize>) -> Step<()> {
        loop {
            let from = self.pos;
            let Some(stop) = memchr3(b'<', b'&', b']', &self.s[from..]).map(|n| from + n) else {
                return ended(self.s.len(), NO_ELEMENT);
            };
            if let Some(k) = collect {
                self.push_text(k, from, stop);
            }
            self.pos = stop;
            match self.s[stop] {
                b'<' => return Ok(()),
                b']' => {
                    if self.starts(stop, b"]]>") {
                        return fail(stop + 2, INVALID);
                    }
                    if let Some(k) = collect {
                        self.push_text(k, stop, stop + 1);
                    }
                    self.pos += 1;
                }
                _ => {
                    let c = self.reference(false, stop)?;
                    if let Some(found) = collect.and_then(|k| self.found[k].as_mut()) {
                        found.text.push(c);
                    }
                }
            }
        }
    }

    /// The character an entity or character reference at `&` stands for; `pos` set past its `;`.
    /// An undefined entity is reported at `undefined_at` (the `&` in text, the tag in a value).
    fn reference(&mut self, attribute: bool, tag: usize) -> Step<char> {
        let amp = self.pos;
        let token = if attribute { tag } else { amp };
        if self.at(amp + 1) == Some(b'#') {
            let hex = self.at(amp + 2) == Some(b'x');
            let digits_from = amp + 2 + hex as usize;
            let mut value: u32 = 0;
            let mut end = digits_from;
            while let Some(digit) = self.at(end).and_then(|b| (b as char).to_digit(if hex { 16 } else { 10 })) {
                value = value.saturating_mul(if hex { 16 } else { 10 }).saturating_add(digit);
                end += 1;
            }
            match self.at(end) {
                None => return ended(token, UNCLOSED),
                Some(b';') if end > digits_from => {}
                Some(_) => return fail(end, INVALID),
            }
            self.pos = end + 1;
            return match char::from_u32(value)
                .filter(|&c| matches!(c, '\t' | '\n' | '\r') || (' '..='\u{FFFD}').contains(&c) || c > '\u{FFFF}')
            {
                Some(c) => Ok(c),
                None => fail(amp, BAD_CHARACTER),
            };
        }
        let end = self.nc_name(amp + 1, token)?;
        match self.at(end) {
            None => return ended(token, UNCLOSED),
            Some(b';') => {}
            Some(_) => return fail(end, INVALID),
        }
        self.pos = end + 1;
        match &self.s[amp + 1..end] {
            b"lt" => Ok('<'),
            b"gt" => Ok('>'),
            b"amp" => Ok('&'),
            b"apos" => Ok('\''),
            b"quot" => Ok('"'),
            _ if attribute => fail(tag, UNDEFINED),
            _ if self.external => Err(Fail {
                at: amp,
                what: format!("undefined entity {}", String::from_utf8_lossy(&self.s[amp..=end])).into(),
                eof: false,
            }),
            _ => fail(amp, UNDEFINED),
        }
    }

    /// The start tag at `<`: the element it opens (its path node, what it declared) and whether
    /// it is empty (`<a/>`); the parent learns it has a child.
    fn start_tag(&mut self, prefixes: &mut Scope<'x>, parent: Option<&mut Open>) -> Step<(Open, bool)> {
        let lt = self.pos;
        let (name_end, colon) = self.q_name(lt + 1, lt)?;
        self.pos = name_end;
        let mut attributes: Vec<Attribute> = Vec::new();
        let empty = loop {
            let spaced = self.skip_space();
            match self.at(self.pos) {
                None => return ended(lt, UNCLOSED),
                Some(b'>') => break false,
                Some(b'/') => match self.at(self.pos + 1) {
                    Some(b'>') => {
                        self.pos += 1;
                        break true;
                    }
                    None => return ended(lt, UNCLOSED),
                    Some(_) => return fail(self.pos + 1, INVALID),
                },
                Some(_) if spaced == 0 => return fail(self.pos, INVALID),
                Some(_) => {}
            }
            attributes.push(self.attribute(lt)?);
        };
        self.pos += 1;
        // (as expat: once the tag is read whole, each attribute in turn: repeated, then its value's references)
        let repeated = first_repeat(attributes.iter().map(|a| &self.s[a.name.0..a.name.1])).unwrap_or(attributes.len());
        if let Some(fault) = attributes[..repeated].iter_mut().find_map(|a| a.fault.take()) {
            return Err(fault);
        }
        if repeated < attributes.len() {
            return fail(attributes[repeated].name.0, DUPLICATE);
        }
        let declared = self.declare(&attributes, prefixes, lt)?;
        // (each prefixed attribute's namespace and local name, up to the first unbound prefix;
        // as expat, a repeat before that prefix is the fault)
        let mut expanded: Vec<(&[u8], &[u8])> = Vec::new();
        let mut unbound = false;
        for a in &attributes {
            let (start, end, colon) = a.name;
            let Some(c) = colon else { continue };
            let prefix = &self.s[start..c];
            if prefix == b"xmlns" {
                continue;
            }
            let uri: &[u8] = match prefix {
                b"xml" => XML_NS,
                _ => match prefixes.uri(prefix) {
                    Some(uri) => uri.as_bytes(),
                    None => {
                        unbound = true;
                        break;
                    }
                },
            };
            expanded.push((uri, &self.s[c + 1..end]));
        }
        if first_repeat(expanded.iter().copied()).is_some() {
            return fail(lt, DUPLICATE);
        }
        if unbound {
            return fail(lt, UNBOUND);
        }
        let local = match colon {
            None => &self.s[lt + 1..name_end],
            Some(c) => {
                let prefix = &self.s[lt + 1..c];
                if prefix != b"xml" && prefixes.uri(prefix).is_none() {
                    return fail(lt, UNBOUND);
                }
                &self.s[c + 1..name_end]
            }
        };
        let node = match parent {
            None => {
                self.root = Some(local);
                (local == self.tree.name[0]).then_some(0)
            }
            Some(parent) => {
                if let Some(k) = parent.collect.take() {
                    if let Some(found) = self.found[k].as_mut() {
                        found.has_children = true;
                    }
                }
                let tree = &self.tree;
                parent.node.and_then(|n| {
                    let at = tree.children[n].iter().position(|&c| tree.name[c] == local)?;
                    (!std::mem::replace(&mut parent.met[at], true)).then_some(tree.children[n][at])
                })
            }
        };
        let answer = node.and_then(|n| self.tree.answer[n]);
        if let Some(k) = answer {
            self.found[k] = Some(ElementText { text: String::new(), has_children: false });
        }
        let met = vec![false; node.map_or(0, |n| self.tree.children[n].len())];
        Ok((Open { name: (lt + 1, name_end), node, met, collect: answer, declared }, empty))
    }

    /// One attribute `name="value"` at `pos`, its value's references replaced and its white space made spaces.
    fn attribute(&mut self, lt: usize) -> Step<Attribute<'x>> {
        let start = self.pos;
        let (end, colon) = self.q_name(start, lt)?;
        self.pos = end;
        self.skip_space();
        match self.at(self.pos) {
            Some(b'=') => self.pos += 1,
            None => return ended(lt, UNCLOSED),
            Some(_) => return fail(self.pos, INVALID),
        }
        self.skip_space();
        let quote = match self.at(self.pos) {
            Some(q @ (b'"' | b'\'')) => q,
            None => return ended(lt, UNCLOSED),
            Some(_) => return fail(self.pos, INVALID),
        };
        self.pos += 1;
        let from = self.pos;
        if let Some(stop) = memchr3(quote, b'<', b'&', &self.s[from..]).map(|n| from + n) {
            let raw = &self.s[from..stop];
            if self.s[stop] == quote && memchr::memchr2(b'\t', b'\n', raw).is_none() {
                self.pos = stop + 1;
                let value = std::str::from_utf8(raw).expect("the text is UTF-8 up to its cut");
                return Ok(Attribute { name: (start, end, colon), value: Cow::Borrowed(value), fault: None });
            }
        }
        let mut value = String::new();
        let mut fault = None;
        loop {
            let from = self.pos;
            let Some(stop) = memchr3(quote, b'<', b'&', &self.s[from..]).map(|n| from + n) else {
                return ended(lt, UNCLOSED);
            };
            let chunk = std::str::from_utf8(&self.s[from..stop]).expect("the text is UTF-8 up to its cut");
            value.extend(chunk.chars().map(|c| if c == '\t' || c == '\n' { ' ' } else { c }));
            self.pos = stop;
            match self.s[stop] {
                b'<' => return fail(stop, INVALID),
                b'&' => match self.reference(true, lt) {
                    Ok(c) => value.push(c),
                    Err(f) if f.eof || f.what != UNDEFINED && f.what != BAD_CHARACTER => return Err(f),
                    Err(f) => fault = fault.or(Some(f)),
                },
                _ => break,
            }
        }
        self.pos += 1;
        Ok(Attribute { name: (start, end, colon), value: Cow::Owned(value), fault })
    }

    /// Pushes the prefixes the tag declares (`xmlns:p="URI"`, `xmlns="URI"`) and returns how
    /// many; expat's refusals of a reserved prefix or URI, an undeclared prefix, a URI with `}`.
    fn declare(&self, attributes: &[Attribute<'x>], prefixes: &mut Scope<'x>, lt: usize) -> Step<usize> {
        let mut count = 0;
        for a in attributes {
            let (start, end, colon) = a.name;
            let prefix: &'x [u8] = match colon {
                Some(c) if &self.s[start..c] == b"xmlns" => &self.s[c + 1..end],
                None if &self.s[start..end] == b"xmlns" => b"",
                _ => continue,
            };
            let uri = a.value.as_bytes();
            if prefix == b"xml" {
                if uri != XML_NS {
                    return fail(lt, "reserved prefix (xml) must not be undeclared or bound to another namespace name");
                }
                continue;
            }
            if prefix == b"xmlns" {
                return fail(lt, "reserved prefix (xmlns) must not be declared or undeclared");
            }
            if uri == XML_NS || uri == XMLNS_NS {
                return fail(lt, "prefix must not be bound to one of the reserved namespace names");
            }
            if !prefix.is_empty() && uri.is_empty() {
                return fail(lt, "must not undeclare prefix");
            }
            if uri.contains(&b'}') {
                return fail(lt, SYNTAX);
            }
            prefixes.bind(prefix, a.value.clone());
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests;
