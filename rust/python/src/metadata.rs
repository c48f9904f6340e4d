//! The microscope's metadata files: the texts of the few elements of an EPU XML the reader takes.

use cryodedup_core::io::plain_xml;
use pyo3::prelude::*;
use std::path::PathBuf;

/// Each element's text and whether it has children (`None`: absent); `None` for a file not taken.
type Found = Option<Vec<Option<(String, bool)>>>;

/// The elements at `paths` (local names below the root, `/`-separated): each its text before
/// its first child and whether it has children, `None` when absent; `None` for the whole
/// when the document is not plain, not well-formed (then the caller parses it with
/// ElementTree, which says what is wrong) or its root is not named `root`.
#[pyfunction]
pub(crate) fn element_texts(xml: &[u8], root: &str, paths: Vec<String>) -> Found {
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let found = plain_xml::element_texts(xml, root, &paths)?;
    Some(found.into_iter().map(|f| f.map(|e| (e.text, e.has_children))).collect())
}

/// [`element_texts`] of each file (paths), read and scanned on every core, the GIL released;
/// `None` for a file that is not a regular file, cannot be read or is not plain.
#[pyfunction]
pub(crate) fn element_texts_of_files(
    py: Python<'_>,
    files: Vec<PathBuf>,
    root: &str,
    paths: Vec<String>,
) -> Vec<Found> {
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let found = py.detach(|| plain_xml::element_texts_of_files(&files, root, &paths));
    found
        .into_iter()
        .map(|file| Some(file?.into_iter().map(|f| f.map(|e| (e.text, e.has_children))).collect()))
        .collect()
}
