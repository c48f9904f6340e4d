//! The long columns of the page of every micrograph's index (`micrographs/index.js`) as
//! text: the micrographs' names, their cards' names and columns of whole numbers, written as
//! Python's `json.dumps(value, separators=(",", ":"))` writes them (ASCII only: every other
//! character escaped). At ten million particles the index holds 50,000 micrographs; json's
//! encoder and the card names in Python took a tenth of a second of the page, in Python's
//! lock while the pictures waited.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::hash::BuildHasherDefault;

use crate::algo::keys::WordHasher;

/// `texts` as a JSON list of strings.
pub fn strings<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (k, text) in texts.into_iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        push_string(&mut out, text);
    }
    out.push(']');
    out
}

/// `text` as a JSON string, as `json.dumps` writes it: printable ASCII but the quote and the
/// backslash as it is, the five short escapes, every other character as `\uXXXX` (lowercase
/// hex; past U+FFFF a surrogate pair).
pub fn push_string(out: &mut String, text: &str) {
    out.push('"');
    let bytes = text.as_bytes();
    let (mut plain, mut at) = (0, 0); // (the run of bytes written as they are starts at `plain`)
    while at < bytes.len() {
        let b = bytes[at];
        if (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\' {
            at += 1;
            continue;
        }
        out.push_str(&text[plain..at]);
        let c = text[at..].chars().next().expect("at a character's first byte");
        at += c.len_utf8();
        plain = at;
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push_str(&text[plain..]);
    out.push('"');
}

/// `values` as JSON: a list of `rows` lists of as many numbers each, or one flat list
/// (`rows` None).
pub fn whole_numbers(values: &[i64], rows: Option<usize>) -> String {
    let mut out = String::with_capacity(values.len() * 6 + 2);
    match rows {
        None => push_numbers(&mut out, values),
        Some(rows) => {
            let width = values.len().checked_div(rows).unwrap_or(0);
            out.push('[');
            for k in 0..rows {
                if k > 0 {
                    out.push(',');
                }
                push_numbers(&mut out, &values[k * width..(k + 1) * width]);
            }
            out.push(']');
        }
    }
    out
}

fn push_numbers(out: &mut String, values: &[i64]) {
    out.push('[');
    for (k, &v) in values.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        push_int(out, v);
    }
    out.push(']');
}

/// `v` in decimal, as `write!` writes it, without the formatting machinery.
fn push_int(out: &mut String, v: i64) {
    let mut digits = [0u8; 20]; // (every i64's, and its sign)
    let (mut n, mut at) = (v.unsigned_abs(), digits.len());
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        at -= 1;
        digits[at] = b'-';
    }
    out.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
}

/// Each micrograph's name as its card shows it: its file name (after the last `/`) without
/// the ending every file name shares, cut back to its first `_`, `.` or `-` so that no number
/// is split (CryoSPARC's names all end `..._patch_aligned_doseweighted.mrc`, which every card
/// showed). None (the cards show the whole names) where there are fewer than two names, or
/// the file names, or the names so cut, do not tell the micrographs apart or leave one empty.
pub fn card_names<'a>(names: &[&'a str]) -> Option<Vec<&'a str>> {
    let files: Vec<&str> = names.iter().map(|name| name.rsplit('/').next().unwrap_or(name)).collect();
    if files.len() < 2 || !all_distinct(&files) {
        return None;
    }
    let ending = shared_ending(&files);
    let cut = ending.find(['_', '.', '-']).unwrap_or(ending.len()); // (from the first separator on)
    let dropped = ending.len() - cut;
    let cards: Vec<&str> = files.iter().map(|file| &file[..file.len() - dropped]).collect();
    (cards.iter().all(|card| !card.is_empty()) && all_distinct(&cards)).then_some(cards)
}

/// The longest ending that every one of `texts` (one or more) has, whole characters.
fn shared_ending<'a>(texts: &[&'a str]) -> &'a str {
    let mut ending = texts[0];
    for text in &texts[1..] {
        if text.ends_with(ending) {
            continue;
        }
        let shared = ending.chars().rev().zip(text.chars().rev()).take_while(|(a, b)| a == b);
        let bytes: usize = shared.map(|(c, _)| c.len_utf8()).sum();
        ending = &ending[ending.len() - bytes..];
    }
    ending
}

fn all_distinct(texts: &[&str]) -> bool {
    let mut seen: HashSet<&str, BuildHasherDefault<WordHasher>> = HashSet::default();
    seen.reserve(texts.len());
    texts.iter().all(|text| seen.insert(*text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_as_json_dumps_does() {
        // Hand-worked: Python's json.dumps(["a\"b", "\\", "\n\t\u{7f}", "é", "😀", ""]).
        let text = strings(["a\"b", "\\", "\n\t\u{7f}\u{1}", "é", "😀", ""]);
        assert_eq!(text, r#"["a\"b","\\","\n\t\u007f\u0001","\u00e9","\ud83d\ude00",""]"#);
        assert_eq!(strings([]), "[]");
    }

    #[test]
    fn whole_numbers_as_flat_lists_and_rows() {
        assert_eq!(
            whole_numbers(&[0, -1, i64::MIN, i64::MAX, 10], None),
            format!("[0,-1,{},{},10]", i64::MIN, i64::MAX)
        );
        assert_eq!(whole_numbers(&[1, 2, 3, 4], Some(2)), "[[1,2],[3,4]]");
        assert_eq!(whole_numbers(&[], Some(0)), "[]");
        assert_eq!(whole_numbers(&[], Some(2)), "[[],[]]");
        assert_eq!(whole_numbers(&[], None), "[]");
    }

    #[test]
    fn cards_drop_the_shared_ending_from_its_first_separator() {
        let cryosparc = ["J1/imported/012_sq3_patch_aligned.mrc", "J1/imported/345_sq4_patch_aligned.mrc"];
        assert_eq!(card_names(&cryosparc), Some(vec!["012_sq3", "345_sq4"]));
        let relion = ["Movies/FoilHole_1_Data_000000.mrc", "Movies/FoilHole_1_Data_000100.mrc"];
        assert_eq!(card_names(&relion), Some(vec!["FoilHole_1_Data_000000", "FoilHole_1_Data_000100"]));
        assert_eq!(card_names(&["a/m.mrc", "b/m.mrc"]), None);
        assert_eq!(card_names(&["m1.mrc"]), None);
        assert_eq!(card_names(&["é1ü.mrc", "é2ü.mrc"]), Some(vec!["é1ü", "é2ü"]));
    }
}
