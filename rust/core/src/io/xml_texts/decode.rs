//! A document's bytes as the reader reads them: decoded to UTF-8, line ends made `\n`, cut
//! where the text stops being XML characters; and where (line, column) an offset is.

use super::{XmlError, WRONG_ENCODING};
use memchr::{memchr, memmem};
use std::borrow::Cow;

/// `what: line L, column C` of the byte offset `at` of `text` (`mark`: a byte-order mark
/// preceded it, which expat counts as the first line's first column).
pub(super) fn located(text: &[u8], mark: bool, at: usize, what: &str) -> XmlError {
    let before = &text[..at.min(text.len())];
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |n| n + 1);
    let line = 1 + memchr::memchr_iter(b'\n', before).count();
    let column = before[line_start..].iter().filter(|&&b| (b as i8) >= -0x40).count() + (mark && line == 1) as usize;
    XmlError(format!("{what}: line {line}, column {column}"))
}

/// A document as the parser reads it.
pub(super) struct Decoded<'x> {
    /// UTF-8 (up to its first fault), `\n` line ends.
    pub(super) text: Cow<'x, [u8]>,
    /// Whether a byte-order mark came first.
    pub(super) mark: bool,
    /// Whether only ASCII is taken (US-ASCII declared: expat refuses another byte where it is).
    pub(super) ascii: bool,
}

/// The document as UTF-8 with `\n` line ends, as the parser reads it: a UTF-8 byte-order mark
/// dropped, UTF-16 (with its mark) and ISO-8859-1 decoded, `\r\n` and `\r` made `\n`; an
/// encoding that is not decoded refused unless the bytes are ASCII.
pub(super) fn decode(xml: &[u8]) -> Result<Decoded<'_>, XmlError> {
    let mark = xml.starts_with(b"\xEF\xBB\xBF") || xml.starts_with(b"\xFF\xFE") || xml.starts_with(b"\xFE\xFF");
    let (mut text, utf16): (Cow<[u8]>, bool) = match xml {
        [0xEF, 0xBB, 0xBF, rest @ ..] => (Cow::Borrowed(rest), false),
        [0xFF, 0xFE, rest @ ..] => (Cow::Owned(utf16(rest, u16::from_le_bytes)), true),
        [0xFE, 0xFF, rest @ ..] => (Cow::Owned(utf16(rest, u16::from_be_bytes)), true),
        // ("<" then a byte of 0, twice: a NUL before a UTF-8 document is no UTF-16, and is refused as a NUL, issue 99)
        [b'<', 0, b, 0, ..] | [0, b'<', 0, b, ..] if *b != 0 => {
            return Err(XmlError(
                "UTF-16 without a byte-order mark, which this reader does not take (expected UTF-8, or UTF-16 \
                 with its byte-order mark)"
                    .into(),
            ))
        }
        _ => (Cow::Borrowed(xml), false),
    };
    if memchr(b'\r', &text).is_some() {
        let mut out = Vec::with_capacity(text.len());
        let mut bytes = text.iter().peekable();
        while let Some(&b) = bytes.next() {
            if b == b'\r' {
                bytes.next_if_eq(&&b'\n');
                out.push(b'\n');
            } else {
                out.push(b);
            }
        }
        text = Cow::Owned(out);
    }
    let Some((name, at)) = declared_encoding(&text) else { return Ok(Decoded { text, mark, ascii: false }) };
    let lower = name.to_ascii_lowercase();
    if utf16 != lower.starts_with("utf-16") {
        return Err(located(&text, mark, at, WRONG_ENCODING));
    }
    if utf16 || lower == "utf-8" || text.is_ascii() && ASCII_ENCODINGS.contains(&lower.as_str()) {
        return Ok(Decoded { text, mark, ascii: false });
    }
    if ["us-ascii", "ascii", "utf8"].contains(&lower.as_str()) {
        return Ok(Decoded { text, mark, ascii: true });
    }
    if ["iso-8859-1", "latin-1", "latin1", "iso8859-1", "l1"].contains(&lower.as_str()) {
        let mut out = String::with_capacity(text.len() + text.len() / 8);
        out.extend(text.iter().map(|&b| b as char));
        return Ok(Decoded { text: Cow::Owned(out.into_bytes()), mark, ascii: false });
    }
    let what = if ASCII_ENCODINGS.contains(&lower.as_str()) { ", with bytes beyond ASCII," } else { "" };
    Err(XmlError(format!(
        "encoding {name:?} declared{what} which this reader does not decode: expected UTF-8, UTF-16 with its \
         byte-order mark, ISO-8859-1, or only ASCII bytes under another encoding Python knows"
    )))
}

/// Encodings taken when the bytes are ASCII: those whose first 128 bytes are ASCII and
/// which expat or Python's codecs know (another name, Python refuses: `unknown encoding`).
const ASCII_ENCODINGS: [&str; 44] = [
    "us-ascii",
    "ascii",
    "utf8",
    "iso-8859-1",
    "iso-8859-2",
    "iso-8859-3",
    "iso-8859-4",
    "iso-8859-5",
    "iso-8859-6",
    "iso-8859-7",
    "iso-8859-8",
    "iso-8859-9",
    "iso-8859-10",
    "iso-8859-13",
    "iso-8859-14",
    "iso-8859-15",
    "iso-8859-16",
    "latin-1",
    "latin1",
    "l1",
    "iso8859-1",
    "latin-2",
    "latin2",
    "latin-9",
    "latin9",
    "iso8859-15",
    "windows-1250",
    "windows-1251",
    "windows-1252",
    "windows-1253",
    "windows-1254",
    "windows-1255",
    "windows-1256",
    "windows-1257",
    "windows-1258",
    "cp1250",
    "cp1251",
    "cp1252",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "koi8-r",
];

/// UTF-16 code units as UTF-8; at the first unpaired surrogate (or an odd last byte), a
/// control character, which the parser then refuses there as expat does.
fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Vec<u8> {
    let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    let mut out = String::with_capacity(bytes.len() / 2);
    for c in char::decode_utf16(units) {
        match c {
            Ok(c) => out.push(c),
            Err(_) => {
                out.push('\u{1}');
                return out.into_bytes();
            }
        }
    }
    if bytes.len() % 2 == 1 {
        out.push('\u{1}');
    }
    out.into_bytes()
}

/// The encoding an XML declaration names and where its value starts, read leniently (the
/// parser checks the declaration's form).
fn declared_encoding(text: &[u8]) -> Option<(String, usize)> {
    if !text.starts_with(b"<?xml") || !text.get(5).is_some_and(|b| b" \t\n".contains(b)) {
        return None;
    }
    let end = memmem::find(text, b"?>")?;
    let at = memmem::find(&text[..end], b"encoding")?;
    let rest = &text[at + 8..end];
    let value = rest.trim_ascii_start().strip_prefix(b"=")?.trim_ascii_start();
    let quote = *value.first().filter(|q| **q == b'"' || **q == b'\'')?;
    let close = memchr(quote, &value[1..])?;
    let start = at + 8 + (rest.len() - value.len()) + 1;
    Some((String::from_utf8_lossy(&value[1..1 + close]).into_owned(), start))
}

/// Where the text stops being XML characters: the first byte that is not UTF-8, or a
/// character XML does not allow (controls but tab and line feed, U+FFFE, U+FFFF); the
/// text's length when none. The parser reads up to it, and expat's error is there.
pub(super) fn first_not_a_character(text: &[u8], ascii: bool) -> usize {
    let utf8 = match std::str::from_utf8(text) {
        Ok(_) if ascii => text.iter().position(|&b| b >= 0x80).unwrap_or(text.len()),
        Ok(_) => text.len(),
        Err(e) => e.valid_up_to(),
    };
    let control = text[..utf8].iter().position(|&b| b < 0x20 && b != b'\t' && b != b'\n').unwrap_or(utf8);
    let mut cut = control;
    for bad in [&b"\xEF\xBF\xBE"[..], b"\xEF\xBF\xBF"] {
        if let Some(at) = memmem::find(&text[..cut], bad) {
            cut = at;
        }
    }
    cut
}
