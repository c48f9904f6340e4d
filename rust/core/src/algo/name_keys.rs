//! Micrograph file-name keys (`--match-micrographs name`): a name's file name without the
//! extensions, CryoSPARC's uid and the suffixes the tools add, as Python's
//! `cryodedup.resolve.micrograph_names.name_key` gives it (the reference), for many names at once.
//!
//! The endings are compared without regard to ASCII case. Python lowers the whole name with
//! `str.lower()`; for endings of ASCII lower-case letters that is the same comparison, as long
//! as no other character lowers to a string ending in one of their letters (only the Kelvin
//! sign lowers to an ASCII letter, `k`; tests/resolve/test_match_micrographs.py checks this of the endings).

use std::collections::HashMap;

/// What is removed from a name's end: extensions first, then (after the uid) suffixes, each
/// list in the order the first matching ending is taken; ASCII lower case.
#[derive(Debug, Clone, Copy)]
pub struct Endings<'a> {
    pub extensions: &'a [&'a str],
    pub suffixes: &'a [&'a str],
}

/// Digits of the uid CryoSPARC puts before the file names it writes (then an underscore).
const UID_DIGITS: usize = 21;

/// The key of one name: the file name (after the last `/` or `\`) without the endings
/// (removed as long as one is at the end, never to nothing) and without a leading CryoSPARC
/// uid that something follows (Python's regex `.`: not a newline).
pub fn name_key<'a>(name: &'a str, endings: Endings<'_>) -> &'a str {
    let base = name.rfind(['/', '\\']).map_or(name, |slash| &name[slash + 1..]);
    let base = strip_endings(base, endings.extensions);
    let base = strip_uid(base);
    strip_endings(base, endings.suffixes)
}

/// `text` without the first listed ending at its end (ASCII case aside), as long as one is
/// and something is left before it.
fn strip_endings<'a>(mut text: &'a str, endings: &[&str]) -> &'a str {
    while let Some(ending) = endings.iter().find(|e| ends_with_ignoring_case(text, e) && text.len() > e.len()) {
        text = &text[..text.len() - ending.len()];
    }
    text
}

/// Whether `text` ends with the ASCII `ending`, ASCII case aside.
fn ends_with_ignoring_case(text: &str, ending: &str) -> bool {
    text.len() >= ending.len() && text.as_bytes()[text.len() - ending.len()..].eq_ignore_ascii_case(ending.as_bytes())
}

/// `text` without a leading uid: 21 ASCII digits and `_`, followed by a character other than a newline.
fn strip_uid(text: &str) -> &str {
    let bytes = text.as_bytes();
    let is_uid = bytes.len() > UID_DIGITS + 1
        && bytes[..UID_DIGITS].iter().all(u8::is_ascii_digit)
        && bytes[UID_DIGITS] == b'_'
        && bytes[UID_DIGITS + 1] != b'\n';
    if is_uid {
        &text[UID_DIGITS + 1..]
    } else {
        text
    }
}

/// Whether an ending is ASCII without upper case: compared as Python's `str.lower()` compares it.
pub fn is_lower_ascii(ending: &str) -> bool {
    ending.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase())
}

/// Each name's key as a number: names with equal keys get equal numbers, numbered in the
/// order their keys first appear.
///
/// # Panics
/// If an ending is not ASCII lower case (the comparison would not be Python's).
pub fn key_ids<S: AsRef<str>>(names: &[S], endings: Endings<'_>) -> Vec<u32> {
    for ending in endings.extensions.iter().chain(endings.suffixes) {
        assert!(is_lower_ascii(ending), "ending {ending:?} is not ASCII lower case");
    }
    let mut ids: HashMap<&str, u32> = HashMap::with_capacity(names.len());
    names
        .iter()
        .map(|name| {
            let next = u32::try_from(ids.len()).expect("fewer than 2^32 names");
            *ids.entry(name_key(name.as_ref(), endings)).or_insert(next)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXTENSIONS: &[&str] = &[".mrc", ".mrcs", ".tif", ".tiff", ".eer", ".bz2"];
    const SUFFIXES: &[&str] =
        &["_patch_aligned_doseweighted", "_patch_aligned", "_rigid_aligned", "_dw", "_nodw", "_fractions"];
    const ENDINGS: Endings<'static> = Endings { extensions: EXTENSIONS, suffixes: SUFFIXES };

    fn key(name: &str) -> &str {
        name_key(name, ENDINGS)
    }

    #[test]
    fn cryosparc_and_relion_names_of_one_micrograph_agree() {
        assert_eq!(key("J12/motioncorrected/003164745126225829418_mic_7_patch_aligned_doseweighted.mrc"), "mic_7");
        assert_eq!(key("MotionCorr/job002/Movies/mic_7.mrc"), "mic_7");
        assert_eq!(key(r"C:\data\Movies\FoilHole_1_Fractions.TIFF"), "FoilHole_1");
    }

    #[test]
    fn endings_are_removed_repeatedly_in_case_but_never_to_nothing() {
        assert_eq!(key("a.mrc.bz2"), "a");
        assert_eq!(key("x.MRC.Mrc"), "x");
        assert_eq!(key(".mrc"), ".mrc");
        assert_eq!(key("_DW.mrc"), "_DW");
        assert_eq!(key("x_noDW_DW.mrcs"), "x");
        assert_eq!(key("x.frames.mrc"), "x.frames"); // only the listed extensions
        assert_eq!(key(""), "");
        assert_eq!(key("dir/"), "");
    }

    #[test]
    fn the_uid_is_21_digits_an_underscore_and_something_not_a_newline() {
        assert_eq!(key("000000000000000000001_m.mrc"), "m");
        assert_eq!(key("00000000000000000001_m.mrc"), "00000000000000000001_m"); // 20 digits
        assert_eq!(key("000000000000000000001_.mrc"), "000000000000000000001_");
        assert_eq!(key("000000000000000000001_\n"), "000000000000000000001_\n");
        assert_eq!(key("000000000000000000001__DW.mrc"), "_DW"); // the suffix would leave nothing
        assert_eq!(key("٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠١_m"), "٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠١_m"); // Arabic digits are not [0-9]
    }

    #[test]
    fn non_ascii_letters_are_not_folded_into_an_ending() {
        assert_eq!(key("é.MRC"), "é");
        assert_eq!(key("xİ.tif"), "xİ");
        assert_eq!(key("x.tİf"), "x.tİf");
    }

    #[test]
    fn ids_are_equal_for_equal_keys_in_order_of_first_appearance() {
        let names = ["b/x.mrc", "a/y.mrc", "c/x_DW.mrc", "y", "z"];
        assert_eq!(key_ids(&names, ENDINGS), vec![0, 1, 0, 1, 2]);
        assert!(key_ids::<&str>(&[], ENDINGS).is_empty());
    }

    #[test]
    #[should_panic(expected = "not ASCII lower case")]
    fn upper_case_endings_are_refused() {
        key_ids(&["x"], Endings { extensions: &[".MRC"], suffixes: &[] });
    }
}
